//! The words: verdicts for AWS failures (the reason names the cause, the message the next
//! step), hints for the ProcessingResults AWS is known to return, and how those texts read.

use super::decision::{Verdict, Wait};
use super::facts::{ActionKind, ErrorClass, Failure, RegionFacts, Spec};
use crate::api::Reason;

/// Why a region the operator's default dropped is still managed, and what removes it.
pub const KEPT_NOTE: &str = " (kept: the operator's --regions no longer lists this region; a change of default never removes a member. List the regions in spec.regions: without this one to remove it, with it to keep it)";

/// The verdict for a failed read or action: the reason names the cause, the message the next step.
pub fn failure_verdict(spec: &Spec, f: &RegionFacts, failure: &Failure) -> Verdict {
    let acct = &spec.account_id;
    let region = &f.region;
    match failure {
        Failure::Unprocessed { kind, result } => Verdict {
            ready: false,
            reason: Reason::Unprocessed,
            message: format!(
                "AWS did not process {} for account {acct} in {region}: {result}{}",
                kind.operation(),
                unprocessed_hint(result)
            ),
            wait: Wait::Retry,
        },
        Failure::Aws {
            kind,
            class,
            code,
            message,
        } => {
            let (reason, hint) = match (class, kind) {
                (ErrorClass::Throttled, _) => (Reason::Throttled, "AWS throttled the request; retrying with backoff".to_string()),
                (ErrorClass::Transient, _) => (Reason::AwsError, "a transient AWS or network error; retrying with backoff".to_string()),
                (ErrorClass::AccessDenied, ActionKind::Accept) => (
                    Reason::AccessDenied,
                    format!("the operator could not act in the member account: check that {} trusts the operator's role (and the externalId)", spec.accept.as_ref().map_or("the acceptInvitation role", |a| a.role_arn.as_str())),
                ),
                (ErrorClass::AccessDenied, _) => (Reason::AccessDenied, format!("the operator's AWS identity may not call securityhub:{}; grant it (see deploy/iam-policy.json)", kind.operation())),
                (ErrorClass::NotSubscribed, ActionKind::Accept) => (
                    Reason::SecurityHubNotEnabled,
                    "Security Hub is not enabled in the member account; enable it there or set spec.acceptInvitation.enableSecurityHub: true".to_string(),
                ),
                (ErrorClass::NotSubscribed, _) => (Reason::SecurityHubNotEnabled, format!("Security Hub is not enabled in the administrator account in {region}; enable it (EnableSecurityHub) and the operator recovers on its own")),
                (ErrorClass::InvalidInput, _) => (Reason::InvalidConfiguration, "AWS refused the request as invalid; check spec.accountId, spec.email and the operator's --regions".to_string()),
                (ErrorClass::Unsupported, _) => (Reason::Unsupported, format!("this AWS endpoint does not implement {}; the member cannot progress here", kind.operation())),
                (ErrorClass::Credentials, _) => (Reason::CredentialsError, "no usable AWS credentials: check the pod's IRSA / Pod Identity setup or the AWS_* environment".to_string()),
                (ErrorClass::Other, _) => (Reason::AwsError, "an unexpected AWS answer; retrying with backoff".to_string()),
            };
            Verdict {
                ready: false,
                reason,
                message: format!("{} failed in {region}: {code}: {message}. {hint}", kind.operation()),
                // Terminal errors are retried too, on the same backoff, so fixing IAM or enabling
                // Security Hub heals without a restart.
                wait: Wait::Retry,
            }
        }
    }
}

/// A next step for the ProcessingResults AWS is known to return.
fn unprocessed_hint(result: &str) -> &'static str {
    let lower = result.to_ascii_lowercase();
    if lower.contains("master") || lower.contains("another administrator") || lower.contains("other administrator") {
        ". The account belongs to another administrator: it must leave that administrator first"
    } else if lower.contains("itself") {
        ". An account cannot be a member of itself: this is the administrator's own account"
    } else if lower.contains("maximum number of allowed members") || lower.contains("cannot create anymore members") {
        ". The administrator reached its member limit in this region"
    } else {
        ". Retrying with backoff"
    }
}

/// True for the ProcessingResult AWS returns when CreateMembers names an existing member.
pub fn is_already_member(result: &str) -> bool {
    result.to_ascii_lowercase().contains("already a member")
}

/// True for a ProcessingResult that refuses an invitation or a deletion because the account
/// belongs to the administrator's organization (such members are added and removed, never
/// invited or deleted).
pub fn is_organization_refusal(result: &str) -> bool {
    result.to_ascii_lowercase().contains("organization")
}
