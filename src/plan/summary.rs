//! From per-region decisions to the resource's conditions, summary and requeue.

use std::collections::BTreeMap;
use std::time::Duration;

use super::Plan;
use super::decision::{Action, RegionDecision, Wait};
use super::facts::{Failure, Policy};
use crate::api::{CONDITION_READY, CONDITION_SYNCED, ConditionStatus, DesiredCondition, Reason};

/// When the controller should reconcile the resource again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requeue {
    /// After this long.
    After(Duration),
    /// With the per-object exponential backoff (an error happened), at most `cap` apart.
    Backoff { cap: Duration },
}

/// Backoff cap while AWS only throttles or hiccups: those pass on their own, so a member
/// must not sit out minutes after a throttling storm ends.
pub const TRANSIENT_BACKOFF_CAP: Duration = Duration::from_secs(30);
/// Backoff cap while something needs fixing (IAM, Security Hub off, a refused account).
pub const TERMINAL_BACKOFF_CAP: Duration = Duration::from_secs(300);

/// Which reason speaks for the resource when regions disagree: what needs a human first.
const PRIORITY: &[Reason] = &[
    Reason::Conflict,
    Reason::AlreadyExists,
    Reason::CredentialsError,
    Reason::AccessDenied,
    Reason::SecurityHubNotEnabled,
    Reason::InvalidConfiguration,
    Reason::Unprocessed,
    Reason::Unsupported,
    Reason::AccountSuspended,
    Reason::Deleted,
    Reason::Resigned,
    Reason::Removed,
    Reason::UnknownMemberStatus,
    Reason::AwsError,
    Reason::Throttled,
    Reason::DryRun,
    Reason::Deleting,
    Reason::Creating,
    Reason::Inviting,
    Reason::AwaitingAcceptance,
    Reason::Enabled,
];

fn rank(reason: Reason) -> usize {
    PRIORITY.iter().position(|r| *r == reason).unwrap_or(PRIORITY.len())
}

/// Folds region decisions into one plan.
pub fn assemble(mut decisions: Vec<RegionDecision>, policy: &Policy, deleting: bool) -> Plan {
    if policy.dry_run {
        mark_dry_run(&mut decisions);
    }
    // Dry-run still reads (reads change nothing) but never writes.
    let actions: Vec<Action> = decisions
        .iter()
        .filter_map(|d| d.action.clone())
        .filter(|a| !policy.dry_run || a.kind == super::facts::ActionKind::Get)
        .collect();
    let claims = decisions.iter().filter(|d| d.claim).map(|d| d.region.clone()).collect();
    let withdrawals = decisions
        .iter()
        .filter(|d| d.withdraw)
        .map(|d| d.region.clone())
        .collect();
    let regions: Vec<_> = decisions.iter().filter_map(|d| d.status.clone()).collect();
    let member_status = member_status_summary(regions.iter().filter_map(|r| r.member_status.as_deref()));
    let ready = decisions.iter().all(|d| d.verdict.ready && d.action.is_none());
    let conditions = vec![
        ready_condition(&decisions, ready, deleting),
        synced_condition(&decisions),
    ];
    Plan {
        actions,
        claims,
        withdrawals,
        regions,
        conditions,
        member_status,
        requeue: requeue(&decisions, policy),
        ready,
    }
}

/// In dry-run mode every region with an action reports what it would do.
fn mark_dry_run(decisions: &mut [RegionDecision]) {
    for d in decisions.iter_mut() {
        if let Some(a) = &d.action {
            if a.kind == super::facts::ActionKind::Get {
                continue;
            }
            d.verdict.ready = false;
            d.verdict.reason = Reason::DryRun;
            d.verdict.message = format!(
                "dry run: would call {} for account {} in {}",
                a.kind.operation(),
                a.account_id,
                a.region
            );
            d.verdict.wait = Wait::Pending(Duration::from_secs(300));
            d.claim = false;
        }
    }
}

fn ready_condition(decisions: &[RegionDecision], ready: bool, deleting: bool) -> DesiredCondition {
    if deleting {
        let pending: Vec<_> = decisions.iter().filter(|d| !d.verdict.ready).collect();
        let worst = pending.iter().min_by_key(|d| rank(d.verdict.reason));
        let (reason, message) = match worst {
            Some(d) if d.verdict.reason != Reason::Deleting => (d.verdict.reason, joined(&pending)),
            _ if pending.is_empty() => (
                Reason::Deleting,
                "clean-up finished; removing the finalizer".to_string(),
            ),
            _ => (Reason::Deleting, joined(&pending)),
        };
        return DesiredCondition {
            type_: CONDITION_READY,
            status: ConditionStatus::False,
            reason,
            message,
        };
    }
    if ready {
        let message = if decisions.is_empty() {
            "no regions to manage".to_string()
        } else {
            joined(&decisions.iter().collect::<Vec<_>>())
        };
        return DesiredCondition {
            type_: CONDITION_READY,
            status: ConditionStatus::True,
            reason: Reason::Enabled,
            message,
        };
    }
    let pending: Vec<_> = decisions
        .iter()
        .filter(|d| !d.verdict.ready || d.action.is_some())
        .collect();
    let reason = pending
        .iter()
        .map(|d| d.verdict.reason)
        .min_by_key(|r| rank(*r))
        .unwrap_or(Reason::Creating);
    DesiredCondition {
        type_: CONDITION_READY,
        status: ConditionStatus::False,
        reason,
        message: joined(&pending),
    }
}

fn synced_condition(decisions: &[RegionDecision]) -> DesiredCondition {
    let errors: Vec<(&str, &Failure)> = decisions
        .iter()
        .filter_map(|d| d.aws_error.as_ref().map(|e| (d.region.as_str(), e)))
        .filter(|(_, e)| matches!(e, Failure::Aws { .. }))
        .collect();
    match errors.first() {
        None => DesiredCondition {
            type_: CONDITION_SYNCED,
            status: ConditionStatus::True,
            reason: Reason::ReconcileSuccess,
            message: "the last reconcile reached AWS without error".into(),
        },
        Some(_) => {
            let message = errors
                .iter()
                .map(|(region, e)| match e {
                    Failure::Aws {
                        kind, code, message, ..
                    } => format!("{region}: {} failed: {code}: {message}", kind.operation()),
                    Failure::Unprocessed { kind, result, .. } => {
                        format!("{region}: {} unprocessed: {result}", kind.operation())
                    }
                })
                .collect::<Vec<_>>()
                .join("; ");
            let reason = decisions
                .iter()
                .filter(|d| d.aws_error.is_some())
                .map(|d| d.verdict.reason)
                .min_by_key(|r| rank(*r))
                .unwrap_or(Reason::ReconcileError);
            DesiredCondition {
                type_: CONDITION_SYNCED,
                status: ConditionStatus::False,
                reason,
                message,
            }
        }
    }
}

/// Region messages joined in region order, so the text is stable between reconciles.
fn joined(decisions: &[&RegionDecision]) -> String {
    let mut sorted: Vec<_> = decisions.to_vec();
    sorted.sort_by(|a, b| a.region.cmp(&b.region));
    if sorted.len() == 1 {
        return sorted[0].verdict.message.clone();
    }
    sorted
        .iter()
        .map(|d| format!("{}: {}", d.region, d.verdict.message))
        .collect::<Vec<_>>()
        .join("; ")
}

fn requeue(decisions: &[RegionDecision], policy: &Policy) -> Requeue {
    let retrying: Vec<bool> = decisions
        .iter()
        .filter_map(|d| match d.verdict.wait {
            Wait::Retry { transient } => Some(transient),
            _ => None,
        })
        .collect();
    if !retrying.is_empty() {
        let cap = if retrying.iter().all(|transient| *transient) {
            TRANSIENT_BACKOFF_CAP
        } else {
            TERMINAL_BACKOFF_CAP
        };
        return Requeue::Backoff { cap };
    }
    let pending = decisions.iter().filter_map(|d| match d.verdict.wait {
        Wait::Pending(after) => Some(after),
        _ => None,
    });
    Requeue::After(pending.min().unwrap_or(policy.resync_period_enabled))
}

/// "Enabled" when every region agrees, else counts per status ("Enabled 1/2, Invited 1/2").
pub fn member_status_summary<'a>(statuses: impl Iterator<Item = &'a str>) -> Option<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut total = 0;
    for s in statuses {
        *counts.entry(s).or_default() += 1;
        total += 1;
    }
    match counts.len() {
        0 => None,
        1 => counts.keys().next().map(|s| s.to_string()),
        _ => Some(
            counts
                .iter()
                .map(|(s, n)| format!("{s} {n}/{total}"))
                .collect::<Vec<_>>()
                .join(", "),
        ),
    }
}
