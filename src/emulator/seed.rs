//! Seeding pre-existing members (`POST /_emulator/members`), so adoption and
//! import tests start from a world the operator did not build.

use chrono::Utc;
use serde::Deserialize;

use super::identity::DEFAULT_REGION;
use super::shared::Shared;
use super::state::{Hub, InvitationRecord, Member, MemberStatus, Scope, World, is_account_id};

/// One member to create as if it had existed before.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SeedMember {
    pub account_id: String,
    pub region: Option<String>,
    pub status: String,
    pub email: Option<String>,
    /// Defaults to the configured administrator account.
    pub administrator: Option<String>,
    /// Defaults to whether the account is a configured organization account.
    pub organization: Option<bool>,
}

/// `{"members": [...]}` or a bare list.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum SeedRequest {
    Wrapped { members: Vec<SeedMember> },
    List(Vec<SeedMember>),
}

impl SeedRequest {
    pub fn into_list(self) -> Vec<SeedMember> {
        match self {
            SeedRequest::Wrapped { members } | SeedRequest::List(members) => members,
        }
    }
}

/// Validates every entry first, then inserts them all (replacing existing records).
pub fn seed_members(world: &mut World, shared: &Shared, seeds: Vec<SeedMember>) -> Result<usize, String> {
    let mut ready = Vec::with_capacity(seeds.len());
    for seed in seeds {
        ready.push(prepare(world, shared, seed)?);
    }
    let count = ready.len();
    for (admin, member) in ready {
        if member.status == MemberStatus::Enabled {
            world.enable_hub(&Scope::new(&member.account_id, &admin.region), Hub::new());
        }
        world.regions.insert(admin.region.clone());
        world.table_mut(&admin).insert(member.account_id.clone(), member);
    }
    Ok(count)
}

fn prepare(world: &World, shared: &Shared, seed: SeedMember) -> Result<(Scope, Member), String> {
    let admin = seed.administrator.unwrap_or_else(|| shared.admin_account());
    if !is_account_id(&seed.account_id) || !is_account_id(&admin) {
        return Err(format!("{} / {admin}: account ids must be 12 digits", seed.account_id));
    }
    if seed.account_id == admin {
        return Err(format!("{admin} cannot be a member of itself"));
    }
    let status = MemberStatus::parse(&seed.status).ok_or_else(|| format!("unknown status {}", seed.status))?;
    let organization = seed
        .organization
        .unwrap_or_else(|| world.is_organization_account(&seed.account_id));
    let mut member = Member::new(&seed.account_id, seed.email, organization);
    member.status = status;
    let invited = matches!(
        status,
        MemberStatus::Invited | MemberStatus::Enabled | MemberStatus::Resigned
    );
    if invited && !organization {
        member.invitation = Some(InvitationRecord {
            invitation_id: shared.new_invitation_id(),
            invited_at: Utc::now(),
            declined: status == MemberStatus::Resigned,
            deleted: false,
        });
    }
    let region = seed.region.unwrap_or_else(|| DEFAULT_REGION.to_string());
    Ok((Scope::new(&admin, &region), member))
}
