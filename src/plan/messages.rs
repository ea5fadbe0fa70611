//! The operator's words: verdicts for AWS failures (the reason names the cause, the message
//! the next step) and the hint for each kind of refusal. What AWS's own texts mean is read
//! in `securityhub::words`, never here.

use super::decision::{Verdict, Wait};
use super::facts::{ActionKind, ErrorClass, Failure, Refusal, RegionFacts, Spec};
use crate::api::Reason;

/// Why a region the operator's default dropped is still managed, and what removes it.
pub const KEPT_NOTE: &str = " (kept: the operator's --regions no longer lists this region; a change of default never removes a member. List the regions in spec.regions: without this one to remove it, with it to keep it)";

/// The verdict for a failed read or action: the reason names the cause, the message the next step.
pub fn failure_verdict(spec: &Spec, f: &RegionFacts, failure: &Failure) -> Verdict {
    let acct = &spec.account_id;
    let region = &f.region;
    match failure {
        Failure::Unprocessed { kind, result, refusal } => Verdict {
            ready: false,
            reason: Reason::Unprocessed,
            message: format!(
                "AWS did not process {} for account {acct} in {region}: {result}{}",
                kind.operation(),
                unprocessed_hint(*refusal)
            ),
            wait: Wait::Retry { transient: false },
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
                wait: Wait::Retry {
                    transient: class.passes_on_its_own(),
                },
            }
        }
    }
}

/// The next step for what a ProcessingResult refused.
fn unprocessed_hint(refusal: Refusal) -> &'static str {
    match refusal {
        Refusal::OtherAdministrator => {
            ". The account belongs to another administrator: it must leave that administrator first"
        }
        Refusal::OwnAccount => ". An account cannot be a member of itself: this is the administrator's own account",
        Refusal::MemberLimit => ". The administrator reached its member limit in this region",
        Refusal::AlreadyInvited => {
            ". This administrator invited the account already; its owner must accept the invitation"
        }
        Refusal::AlreadyMember | Refusal::Overflow | Refusal::OrganizationAccount | Refusal::Other => {
            ". Retrying with backoff"
        }
    }
}
