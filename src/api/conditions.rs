//! Condition types, the stable reason vocabulary, and the merge rule that moves
//! `lastTransitionTime` only when a condition's status really changes.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// Every region reached its desired end state.
pub const CONDITION_READY: &str = "Ready";
/// The last reconcile reached AWS without error.
pub const CONDITION_SYNCED: &str = "Synced";

/// True, False or Unknown, as metav1.Condition spells them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

impl ConditionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::True => "True",
            Self::False => "False",
            Self::Unknown => "Unknown",
        }
    }
}

macro_rules! reasons {
    ($($(#[$doc:meta])* $name:ident),+ $(,)?) => {
        /// Stable CamelCase condition reasons. Documented one by one in docs/troubleshooting.md.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Reason { $($(#[$doc])* $name),+ }
        impl Reason {
            /// Every reason, for documentation checks.
            pub const ALL: &'static [Reason] = &[$(Reason::$name),+];
            /// The reason as written into conditions and Events.
            pub fn as_str(self) -> &'static str {
                match self { $(Reason::$name => stringify!($name)),+ }
            }
        }
    };
}

reasons! {
    /// The membership is being created.
    Creating,
    /// The invitation is being sent.
    Inviting,
    /// Invited; waiting for the member account to accept.
    AwaitingAcceptance,
    /// Every region reached its desired end state.
    Enabled,
    /// The administrator side removed the member and reinvite forbids inviting again.
    Removed,
    /// The member declined or left.
    Resigned,
    /// The member account is suspended.
    AccountSuspended,
    /// The member was deleted in AWS.
    Deleted,
    /// A member that this resource did not create already exists; set adopt: true.
    AlreadyExists,
    /// Another resource owns this account in this region.
    Conflict,
    /// AWS refused this account (UnprocessedAccounts).
    Unprocessed,
    /// The credentials lack permission.
    AccessDenied,
    /// AWS throttled the request.
    Throttled,
    /// Security Hub is not enabled in the administrator (or member) account.
    SecurityHubNotEnabled,
    /// The spec or the operator configuration cannot work as given.
    InvalidConfiguration,
    /// The resource is being deleted.
    Deleting,
    /// An AWS operation is not available at this endpoint.
    Unsupported,
    /// AWS answered with an error the operator does not classify.
    AwsError,
    /// No usable AWS credentials.
    CredentialsError,
    /// The member status is one the operator does not know.
    UnknownMemberStatus,
    /// --dry-run: the operator decided and changed nothing in AWS.
    DryRun,
    /// The last reconcile reached AWS without error.
    ReconcileSuccess,
    /// The reconcile failed before reaching AWS or AWS failed for a reason named in the message.
    ReconcileError,
}

/// A condition the planner wants; time and generation are filled when merging.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredCondition {
    pub type_: &'static str,
    pub status: ConditionStatus,
    pub reason: Reason,
    pub message: String,
}

/// Merges `desired` into `current`: conditions keep their `lastTransitionTime` unless the
/// status flips, so repeated reconciles produce identical status and no writes.
pub fn merge_conditions(
    current: &[Condition],
    desired: &[DesiredCondition],
    generation: Option<i64>,
    now: Time,
) -> Vec<Condition> {
    let mut merged: Vec<Condition> = current
        .iter()
        .filter(|c| !desired.iter().any(|d| d.type_ == c.type_))
        .cloned()
        .collect();
    for d in desired {
        let previous = current.iter().find(|c| c.type_ == d.type_);
        let last_transition_time = match previous {
            Some(p) if p.status == d.status.as_str() => p.last_transition_time.clone(),
            _ => now.clone(),
        };
        merged.push(Condition {
            type_: d.type_.to_string(),
            status: d.status.as_str().to_string(),
            reason: d.reason.as_str().to_string(),
            message: d.message.clone(),
            observed_generation: generation,
            last_transition_time,
        });
    }
    merged.sort_by(|a, b| a.type_.cmp(&b.type_));
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    fn at(secs: i64) -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(secs).expect("valid time"))
    }

    fn ready(status: ConditionStatus, reason: Reason) -> DesiredCondition {
        DesiredCondition {
            type_: CONDITION_READY,
            status,
            reason,
            message: format!("{reason:?}"),
        }
    }

    #[test]
    fn transition_time_moves_only_when_status_flips() {
        let first = merge_conditions(
            &[],
            &[ready(ConditionStatus::False, Reason::Creating)],
            Some(1),
            at(10),
        );
        assert_eq!(first[0].last_transition_time, at(10));
        // Same status, other reason: time stays.
        let second = merge_conditions(
            &first,
            &[ready(ConditionStatus::False, Reason::AwaitingAcceptance)],
            Some(1),
            at(20),
        );
        assert_eq!(second[0].last_transition_time, at(10));
        assert_eq!(second[0].reason, "AwaitingAcceptance");
        // Status flips: time moves.
        let third = merge_conditions(
            &second,
            &[ready(ConditionStatus::True, Reason::Enabled)],
            Some(2),
            at(30),
        );
        assert_eq!(third[0].last_transition_time, at(30));
        assert_eq!(third[0].observed_generation, Some(2));
    }

    #[test]
    fn unrelated_conditions_are_kept_and_order_is_stable() {
        let other = Condition {
            type_: "Custom".into(),
            status: "True".into(),
            reason: "X".into(),
            message: String::new(),
            observed_generation: None,
            last_transition_time: at(1),
        };
        let merged = merge_conditions(
            std::slice::from_ref(&other),
            &[ready(ConditionStatus::True, Reason::Enabled)],
            None,
            at(5),
        );
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0], other);
        assert_eq!(merged[1].type_, "Ready");
    }

    #[test]
    fn every_reason_has_a_distinct_name() {
        let mut names: Vec<_> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Reason::ALL.len());
    }
}
