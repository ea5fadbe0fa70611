//! The `securityhub.operator.dev/v1alpha1` API: the `SecurityHubMember` resource, its
//! status and the condition vocabulary. Pure data: no I/O lives here.

mod conditions;
mod member;

pub use conditions::{
    CONDITION_READY, CONDITION_SYNCED, ConditionStatus, DesiredCondition, Reason, merge_conditions,
};
pub use member::{
    AcceptInvitation, DeletionPolicy, RegionStatus, ReinvitePolicy, SecurityHubMember,
    SecurityHubMemberSpec, SecurityHubMemberStatus,
};

/// API group of every resource the operator serves.
pub const GROUP: &str = "securityhub.operator.dev";
/// Finalizer that keeps a resource until its AWS membership is cleaned up.
pub const FINALIZER: &str = "securityhub.operator.dev/member";
/// The one field manager the operator uses for every status write.
pub const FIELD_MANAGER: &str = "securityhub-operator";
