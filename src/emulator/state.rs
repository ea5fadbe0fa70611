//! The emulated world: which accounts have Security Hub on in which region, which
//! administrator holds which members, and the invitations between them. Every
//! table is keyed by (account, region) because that is how AWS scopes membership.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Serialize;

/// An (account, region) pair: the unit AWS keeps membership state in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Scope {
    pub account: String,
    pub region: String,
}

impl Scope {
    pub fn new(account: &str, region: &str) -> Self {
        Scope {
            account: account.to_string(),
            region: region.to_string(),
        }
    }
}

/// The relationship status AWS reports, in AWS's title case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum MemberStatus {
    Created,
    Invited,
    Enabled,
    Removed,
    Resigned,
    Deleted,
    AccountSuspended,
}

impl MemberStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberStatus::Created => "Created",
            MemberStatus::Invited => "Invited",
            MemberStatus::Enabled => "Enabled",
            MemberStatus::Removed => "Removed",
            MemberStatus::Resigned => "Resigned",
            MemberStatus::Deleted => "Deleted",
            MemberStatus::AccountSuspended => "AccountSuspended",
        }
    }

    /// Parses a status case-insensitively (AWS is title case, moto upper case);
    /// `Associated` is the pre-2020 name of `Enabled`.
    pub fn parse(text: &str) -> Option<Self> {
        let all = [
            MemberStatus::Created,
            MemberStatus::Invited,
            MemberStatus::Enabled,
            MemberStatus::Removed,
            MemberStatus::Resigned,
            MemberStatus::Deleted,
            MemberStatus::AccountSuspended,
        ];
        if text.eq_ignore_ascii_case("associated") {
            return Some(MemberStatus::Enabled);
        }
        all.into_iter().find(|s| s.as_str().eq_ignore_ascii_case(text))
    }
}

/// An invitation the administrator sent; it lives on the member record so the
/// administrator and member views can never disagree.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InvitationRecord {
    pub invitation_id: String,
    pub invited_at: DateTime<Utc>,
    /// The member declined it (DeclineInvitations): no longer listed.
    pub declined: bool,
    /// The member deleted it (DeleteInvitations): no longer listed.
    pub deleted: bool,
}

/// One member account as its administrator sees it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    pub account_id: String,
    pub email: Option<String>,
    pub status: MemberStatus,
    /// Organization accounts skip invitations and cannot be deleted.
    pub organization: bool,
    pub invitation: Option<InvitationRecord>,
    pub updated_at: DateTime<Utc>,
}

impl Member {
    pub fn new(account_id: &str, email: Option<String>, organization: bool) -> Self {
        Member {
            account_id: account_id.to_string(),
            email,
            status: MemberStatus::Created,
            organization,
            invitation: None,
            updated_at: Utc::now(),
        }
    }

    pub fn set_status(&mut self, status: MemberStatus) {
        self.status = status;
        self.updated_at = Utc::now();
    }

    /// The invitation the member still sees (not declined, not deleted).
    pub fn visible_invitation(&self) -> Option<&InvitationRecord> {
        self.invitation.as_ref().filter(|i| !i.declined && !i.deleted)
    }
}

/// Security Hub's own settings in one (account, region).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Hub {
    pub subscribed_at: DateTime<Utc>,
    pub control_finding_generator: String,
    pub auto_enable_controls: bool,
}

impl Hub {
    pub fn new() -> Self {
        Hub {
            subscribed_at: Utc::now(),
            control_finding_generator: "SECURITY_CONTROL".to_string(),
            auto_enable_controls: true,
        }
    }
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

/// Organization configuration one delegated administrator keeps per region.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrgConfig {
    pub auto_enable: bool,
    pub auto_enable_standards: String,
    pub configuration_type: String,
}

impl Default for OrgConfig {
    fn default() -> Self {
        OrgConfig {
            auto_enable: false,
            auto_enable_standards: "DEFAULT".to_string(),
            configuration_type: "LOCAL".to_string(),
        }
    }
}

/// Fixed facts about the accounts, from flags and the config file.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Directory {
    pub admin_account: String,
    pub admin_hub_enabled: bool,
    pub organization_accounts: BTreeSet<String>,
    pub management_account: Option<String>,
    pub suspended_accounts: BTreeSet<String>,
}

/// Everything that changes while the emulator runs.
#[derive(Debug, Clone, Default)]
pub struct World {
    pub directory: Directory,
    /// Explicit hub state; a missing entry means "the default" (see [`World::hub`]).
    pub hubs: BTreeMap<Scope, Option<Hub>>,
    /// Administrator scope -> member account -> member.
    pub members: BTreeMap<Scope, BTreeMap<String, Member>>,
    pub org_configs: BTreeMap<Scope, OrgConfig>,
    /// Management-account scope -> delegated administrators.
    pub org_admins: BTreeMap<Scope, BTreeSet<String>>,
    /// Regions any request or seed touched, for "all regions" control actions.
    pub regions: BTreeSet<String>,
    pub started_at: DateTime<Utc>,
}

impl World {
    pub fn new(directory: Directory) -> Self {
        World {
            directory,
            started_at: Utc::now(),
            ..World::default()
        }
    }

    /// The hub of a scope. The administrator account has Security Hub on in every
    /// region from the start (unless configured off); everybody else starts without.
    pub fn hub(&self, scope: &Scope) -> Option<Hub> {
        match self.hubs.get(scope) {
            Some(explicit) => explicit.clone(),
            None if self.is_default_admin(&scope.account) => Some(Hub {
                subscribed_at: self.started_at,
                ..Hub::new()
            }),
            None => None,
        }
    }

    fn is_default_admin(&self, account: &str) -> bool {
        self.directory.admin_hub_enabled && account == self.directory.admin_account
    }

    pub fn hub_enabled(&self, scope: &Scope) -> bool {
        self.hub(scope).is_some()
    }

    /// Turns Security Hub on; returns false when it already was.
    pub fn enable_hub(&mut self, scope: &Scope, hub: Hub) -> bool {
        if self.hub_enabled(scope) {
            return false;
        }
        self.hubs.insert(scope.clone(), Some(hub));
        true
    }

    pub fn disable_hub(&mut self, scope: &Scope) {
        self.hubs.insert(scope.clone(), None);
    }

    pub fn is_organization_account(&self, account: &str) -> bool {
        self.directory.organization_accounts.contains(account)
    }

    /// Whether `caller` administers the organization's accounts in its region: the
    /// designated delegated administrator, or (none designated) any administrator while
    /// the emulated organization has accounts at all.
    pub fn is_organization_administrator(&self, caller: &Scope) -> bool {
        let designated: Vec<&String> = self
            .org_admins
            .iter()
            .filter(|(scope, _)| scope.region == caller.region)
            .flat_map(|(_, admins)| admins.iter())
            .collect();
        if designated.is_empty() {
            !self.directory.organization_accounts.is_empty()
        } else {
            designated.contains(&&caller.account)
        }
    }

    /// The administrator scope that holds `account` as an Enabled member in `region`.
    pub fn enabled_administrator(&self, account: &str, region: &str) -> Option<String> {
        self.members
            .iter()
            .filter(|(scope, _)| scope.region == region && scope.account != account)
            .find(|(_, table)| table.get(account).is_some_and(|m| m.status == MemberStatus::Enabled))
            .map(|(scope, _)| scope.account.clone())
    }

    /// Whether `account` administers any member (other than Deleted) in `region`.
    pub fn has_members(&self, account: &str, region: &str) -> bool {
        self.members
            .get(&Scope::new(account, region))
            .is_some_and(|t| t.values().any(|m| m.status != MemberStatus::Deleted))
    }

    /// All (administrator, member) records naming `account` as the member in `region`.
    pub fn memberships_of<'a>(
        &'a self,
        account: &'a str,
        region: &'a str,
    ) -> impl Iterator<Item = (&'a String, &'a Member)> + 'a {
        self.members
            .iter()
            .filter(move |(scope, _)| scope.region == region)
            .filter_map(move |(scope, table)| table.get(account).map(|m| (&scope.account, m)))
    }

    pub fn member_mut(&mut self, admin: &str, region: &str, account: &str) -> Option<&mut Member> {
        self.members
            .get_mut(&Scope::new(admin, region))
            .and_then(|t| t.get_mut(account))
    }

    pub fn table_mut(&mut self, admin: &Scope) -> &mut BTreeMap<String, Member> {
        self.members.entry(admin.clone()).or_default()
    }

    /// Regions where `account` has any state (hub, members or memberships).
    pub fn regions_of(&self, account: &str) -> BTreeSet<String> {
        let hubs = self.hubs.keys().filter(|s| s.account == account);
        let admin = self.members.keys().filter(|s| s.account == account);
        let member = self
            .members
            .iter()
            .filter(|(_, t)| t.contains_key(account))
            .map(|(s, _)| s);
        hubs.chain(admin).chain(member).map(|s| s.region.clone()).collect()
    }

    /// Forgets every change and restores the directory the emulator started with.
    pub fn reset(&mut self, directory: Directory) {
        *self = World::new(directory);
    }
}

/// Whether a string is a 12-digit AWS account id.
pub fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}
