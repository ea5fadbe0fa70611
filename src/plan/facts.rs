//! The inputs of the planner: what the resource asks for, what AWS reported, who owns
//! the account, and what already happened during this reconcile.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::api::{AcceptInvitation, DeletionPolicy, RegionStatus, ReinvitePolicy};

/// The parts of the spec the planner reads, with defaults resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Spec {
    pub account_id: String,
    pub email: Option<String>,
    pub invite: bool,
    pub reinvite: ReinvitePolicy,
    pub adopt: bool,
    pub deletion_policy: DeletionPolicy,
    pub accept: Option<AcceptInvitation>,
}

/// Operator-wide settings that change decisions.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    /// Decide and report, but change nothing in AWS.
    pub dry_run: bool,
    /// Resync period once every region is in its end state.
    pub resync_period_enabled: Duration,
    /// Resync period while waiting on someone else (an invitation, a conflict).
    pub resync_period_pending: Duration,
    /// First wait before inviting a Resigned member again (reinvite: Always); doubles per try.
    pub reinvite_backoff: Duration,
    /// Longest wait between re-invitations.
    pub reinvite_backoff_cap: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            dry_run: false,
            resync_period_enabled: Duration::from_secs(3600),
            resync_period_pending: Duration::from_secs(300),
            reinvite_backoff: Duration::from_secs(900),
            reinvite_backoff_cap: Duration::from_secs(24 * 3600),
        }
    }
}

/// Whether this resource may act on the account in one region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ownership {
    /// This resource is the oldest claiming the account here.
    Owner,
    /// Another resource (`namespace/name`) owns it: never call AWS.
    Conflict { owner: String },
}

/// Whether the administrator manages organization accounts in a region (see
/// `securityhub::organization`): it tells what a successful CreateMembers left behind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OrganizationRole {
    /// The organization's administrator: a created member may be an `Enabled` organization account.
    Administrator,
    /// AWS said this account is not the organization's administrator: every created member is `Created`.
    NotAdministrator,
    /// Not asked yet, or the question failed.
    #[default]
    Unknown,
}

/// The member as AWS reported it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObservedMember {
    /// MemberStatus verbatim (AWS spells it in title case; moto in capitals).
    pub status: String,
    pub administrator_id: Option<String>,
    pub invited_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// What the last read said about the account in one region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observed {
    /// Not read (conflicting resources never call AWS; removed regions are not read).
    NotRead,
    /// AWS knows no such member.
    Absent,
    Member(ObservedMember),
    /// The read failed.
    Failed(Failure),
}

/// Which AWS operation an action or a failure belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ActionKind {
    Get,
    Create,
    Invite,
    Accept,
    Disassociate,
    Delete,
}

impl ActionKind {
    /// The AWS operation name, for messages and metrics.
    pub fn operation(self) -> &'static str {
        match self {
            Self::Get => "GetMembers",
            Self::Create => "CreateMembers",
            Self::Invite => "InviteMembers",
            Self::Accept => "AcceptAdministratorInvitation",
            Self::Disassociate => "DisassociateMembers",
            Self::Delete => "DeleteMembers",
        }
    }
}

/// How an AWS error should be treated: retried as is, or reported until something changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// 429 LimitExceededException: retry later.
    Throttled,
    /// 5xx, timeouts, connection failures: retry later.
    Transient,
    /// AccessDeniedException or a refused AssumeRole: fix IAM.
    AccessDenied,
    /// InvalidAccessException "not subscribed": enable Security Hub.
    NotSubscribed,
    /// InvalidInputException and friends: the request itself is wrong.
    InvalidInput,
    /// The endpoint does not implement the operation (e.g. moto without InviteMembers).
    Unsupported,
    /// No credentials, expired or unusable credentials.
    Credentials,
    /// Anything else, including unparseable answers.
    Other,
}

impl ErrorClass {
    /// A stable lower-case label for metrics.
    pub fn label(self) -> &'static str {
        match self {
            Self::Throttled => "throttled",
            Self::Transient => "transient",
            Self::AccessDenied => "access_denied",
            Self::NotSubscribed => "not_subscribed",
            Self::InvalidInput => "invalid_input",
            Self::Unsupported => "unsupported",
            Self::Credentials => "credentials",
            Self::Other => "other",
        }
    }

    /// Whether retrying without a change anywhere may help (throttling, a 5xx, an answer
    /// not understood): the one place a failure is judged transient or terminal.
    pub fn passes_on_its_own(self) -> bool {
        matches!(self, Self::Throttled | Self::Transient | Self::Other)
    }
}

/// What an UnprocessedAccounts entry refuses, as far as a decision depends on it; the shell
/// reads it from AWS's ProcessingResult (`securityhub::refusal`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// CreateMembers named an account that is already a member.
    AlreadyMember,
    /// An account past the 50th of one call: sent again in a later batch.
    Overflow,
    /// This administrator already invited the account (or already administers it).
    AlreadyInvited,
    /// The account belongs to another administrator.
    OtherAdministrator,
    /// The account is the administrator's own.
    OwnAccount,
    /// The administrator reached its member limit in the region.
    MemberLimit,
    /// The account is in the administrator's organization: added and removed, never
    /// invited or deleted.
    OrganizationAccount,
    /// Anything else: reported verbatim, retried with backoff.
    Other,
}

/// Why an action (or a read) did not succeed for this account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// AWS answered 200 but listed the account in UnprocessedAccounts: `result` is its
    /// ProcessingResult verbatim, `refusal` what it means.
    Unprocessed {
        kind: ActionKind,
        result: String,
        refusal: Refusal,
    },
    /// The call failed as a whole.
    Aws {
        kind: ActionKind,
        class: ErrorClass,
        code: String,
        message: String,
    },
}

impl Failure {
    pub fn kind(&self) -> ActionKind {
        match self {
            Self::Unprocessed { kind, .. } | Self::Aws { kind, .. } => *kind,
        }
    }

    /// Whether AWS certainly did not carry the call out: it refused the account, or the call
    /// as a whole before acting (throttled, denied, invalid). A 5xx, a timeout or an
    /// unreadable answer may come after AWS acted: the outcome is unknown.
    pub fn certainly_not_applied(&self) -> bool {
        match self {
            Self::Unprocessed { .. } => true,
            Self::Aws { class, .. } => !matches!(class, ErrorClass::Transient | ErrorClass::Other),
        }
    }
}

/// Everything known about the account in one region at one planning step.
#[derive(Clone, Debug, PartialEq)]
pub struct RegionFacts {
    pub region: String,
    /// The spec (or the operator default) lists this region.
    pub desired: bool,
    pub ownership: Ownership,
    /// What the resource's status said before this reconcile.
    pub previous: Option<RegionStatus>,
    pub observed: Observed,
    /// Actions already taken for this region in this reconcile (never repeated in one).
    pub attempted: Vec<ActionKind>,
    /// The failure of the last action taken in this reconcile, if it failed.
    pub failure: Option<Failure>,
    /// The administrator's organization role in this region, when the shell asked.
    pub organization: OrganizationRole,
    /// This reconcile recorded the claim (`previous.managed`) just now, before its create.
    pub claimed_now: bool,
    /// This reconcile withdrew a claim (`previous.managed` went back to false) that may still
    /// be durable in status or the journal: the shell must withdraw it there before going on.
    pub withdrawn: bool,
    /// Owner only: another resource naming the account records the member here as created or
    /// adopted by it (it was the owner before this one). This owner takes the member over,
    /// so exactly one resource keeps the duty to clean it up.
    pub inherits: bool,
    /// Conflict only: the owner's status records the member here, so this resource may let
    /// go of its own record of it.
    pub owner_holds: bool,
    /// Desired only because this resource manages the member here and takes the operator's
    /// default regions, which no longer list this one: kept, and reported, until the
    /// resource's own `spec.regions` decides.
    pub kept: bool,
}

impl RegionFacts {
    /// A region as first seen by a reconcile, before any action.
    pub fn new(region: &str, desired: bool, ownership: Ownership, previous: Option<RegionStatus>) -> Self {
        Self {
            region: region.to_string(),
            desired,
            ownership,
            previous,
            observed: Observed::NotRead,
            attempted: Vec::new(),
            failure: None,
            organization: OrganizationRole::Unknown,
            claimed_now: false,
            withdrawn: false,
            inherits: false,
            owner_holds: false,
            kept: false,
        }
    }

    /// Whether this resource created or adopted the member here.
    pub fn managed(&self) -> bool {
        self.previous.as_ref().is_some_and(|p| p.managed)
    }

    pub fn reinvites(&self) -> u32 {
        self.previous.as_ref().map_or(0, |p| p.reinvites)
    }
}

/// The member statuses AWS documents, compared case-insensitively.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberState {
    Created,
    Invited,
    Enabled,
    Removed,
    Resigned,
    Deleted,
    AccountSuspended,
    Unknown,
}

impl MemberState {
    /// Parses AWS's free-text MemberStatus; `Associated` is the pre-2020 name of Enabled.
    pub fn parse(status: &str) -> Self {
        match status.to_ascii_lowercase().as_str() {
            "created" => Self::Created,
            "invited" => Self::Invited,
            "enabled" | "associated" => Self::Enabled,
            "removed" => Self::Removed,
            "resigned" => Self::Resigned,
            "deleted" => Self::Deleted,
            "accountsuspended" | "account_suspended" => Self::AccountSuspended,
            _ => Self::Unknown,
        }
    }
}
