//! What planning decides for one region: the call to make, the status entry to write and
//! the verdict, with the small helpers every decision uses.

use std::time::Duration;

use super::facts::{ActionKind, Failure, Observed, Policy, RegionFacts, Spec};
use crate::api::{AcceptInvitation, Reason, RegionStatus};

/// How many reads one reconcile may make for one region (the first read plus re-reads
/// after a create or an accept).
const MAX_READS: usize = 3;

/// One AWS call for one account in one region.
#[derive(Clone, Debug, PartialEq)]
pub struct Action {
    pub region: String,
    pub account_id: String,
    pub kind: ActionKind,
    /// CreateMembers: the email to send.
    pub email: Option<String>,
    /// Accept: the role to assume in the member account and our administrator id.
    pub accept: Option<AcceptInvitation>,
    pub administrator_id: Option<String>,
    /// A read that must reach AWS: never answered "absent" from an earlier ListMembers sweep.
    /// Only reads before this resource's first create may be; a read of a member this
    /// resource owns decides a clean-up or a re-create and must be fresh.
    pub fresh: bool,
}

/// What a region needs before the next look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// In its end state: the slow drift resync.
    Settled,
    /// Waiting on someone else; look again after at most this long.
    Pending(Duration),
    /// Failed: retry with backoff. `transient` failures (throttling, 5xx) pass on their
    /// own and back off briefly; the others need a fix somewhere (IAM, Security Hub, the
    /// account) and back off longer, but are retried too, so a fix heals without a restart.
    Retry { transient: bool },
}

/// The region's contribution to the Ready condition.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub ready: bool,
    pub reason: Reason,
    pub message: String,
    pub wait: Wait,
}

/// Everything decided for one region.
#[derive(Clone, Debug, PartialEq)]
pub struct RegionDecision {
    pub region: String,
    pub action: Option<Action>,
    /// Record `managed: true` before acting (first create, or an adoption).
    pub claim: bool,
    /// A claim was withdrawn in this reconcile; make that durable before going on.
    pub withdraw: bool,
    /// The status entry to write; `None` drops the region from status.
    pub status: Option<RegionStatus>,
    pub verdict: Verdict,
    /// An AWS error (not a per-account refusal) happened in this reconcile.
    pub aws_error: Option<Failure>,
}

/// How soon to look again while AWS has yet to report a change this reconcile made (a
/// create, an accept): sooner than the pending resync, as the answer is usually seconds off.
const REREAD: Duration = Duration::from_secs(30);

impl RegionDecision {
    /// The decision for `f`; `status` `None` drops the region from status. A region in its
    /// end state shows no refusal from an earlier try.
    fn new(f: &RegionFacts, action: Option<Action>, status: Option<RegionStatus>, verdict: Verdict) -> Self {
        let aws_error = f.failure.clone().or_else(|| match &f.observed {
            Observed::Failed(failure) => Some(failure.clone()),
            _ => None,
        });
        let status = status.map(|mut s| {
            if verdict.ready {
                s.processing_result = None;
            }
            s
        });
        RegionDecision {
            region: f.region.clone(),
            action,
            claim: false,
            withdraw: f.withdrawn,
            status,
            verdict,
            aws_error,
        }
    }

    /// Nothing to call now; `status` is written.
    pub(super) fn wait(f: &RegionFacts, status: RegionStatus, verdict: Verdict) -> Self {
        Self::new(f, None, Some(status), verdict)
    }

    /// `action` is called now; `status` is written.
    pub(super) fn act(f: &RegionFacts, action: Action, status: RegionStatus, verdict: Verdict) -> Self {
        Self::new(f, Some(action), Some(status), verdict)
    }

    /// A member's next step, a call or none; `status` is written.
    pub(super) fn step(f: &RegionFacts, action: Option<Action>, status: RegionStatus, verdict: Verdict) -> Self {
        Self::new(f, action, Some(status), verdict)
    }

    /// The region is finished with and leaves status (a clean-up done, or nothing to clean).
    pub(super) fn release(f: &RegionFacts, verdict: Verdict) -> Self {
        Self::new(f, None, None, verdict)
    }

    /// Records `managed: true` before the call when `claim` (a first create, an adoption).
    pub(super) fn claiming(mut self, claim: bool) -> Self {
        self.claim = claim;
        self
    }
}

pub(super) fn waiting(reason: Reason, message: String, after: Duration) -> Verdict {
    Verdict {
        ready: false,
        reason,
        message,
        wait: Wait::Pending(after),
    }
}

/// Waiting on someone else (AWS, the account's owner): looked at again after the pending
/// resync period.
pub(super) fn pending(reason: Reason, message: String, policy: &Policy) -> Verdict {
    waiting(reason, message, policy.resync_period_pending)
}

pub(super) fn settled(message: String) -> Verdict {
    Verdict {
        ready: true,
        reason: Reason::Enabled,
        message,
        wait: Wait::Settled,
    }
}

pub(super) fn action(spec: &Spec, f: &RegionFacts, kind: ActionKind) -> Action {
    Action {
        region: f.region.clone(),
        account_id: spec.account_id.clone(),
        kind,
        email: None,
        accept: None,
        administrator_id: None,
        fresh: true,
    }
}

/// See [`REREAD`].
pub(super) fn reread(policy: &Policy) -> Duration {
    policy.resync_period_pending.min(REREAD)
}

/// Whether this reconcile made as many reads of the region as it may.
pub(super) fn reads_exhausted(f: &RegionFacts) -> bool {
    f.attempted.iter().filter(|k| **k == ActionKind::Get).count() >= MAX_READS
}
