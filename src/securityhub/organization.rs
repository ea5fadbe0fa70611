//! Whether the administrator manages organization accounts in a region, learned once per
//! region (DescribeOrganizationConfiguration) and remembered for a while.
//!
//! It decides one thing: after a successful CreateMembers, can the member have come back
//! `Enabled` as an organization account, or is it surely `Created`? Only in the second case
//! may the reconcile invite it at once, without reading it back first.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use super::api::MembershipApi;
use super::error::AwsError;
use super::observe::{CallObserver, observe};
use super::ratelimit::RateLimiter;
use super::words;
use crate::plan::OrganizationRole;

/// How long a definite answer is trusted (delegations change rarely; a wrong guess only
/// costs a read, see `plan::outcome`).
const KNOWN_TTL: Duration = Duration::from_secs(3600);
/// How long an unknown answer (an error) is kept before asking again.
const UNKNOWN_TTL: Duration = Duration::from_secs(300);

/// The per-region answers; one lookup at a time, so concurrent reconciles share it.
pub struct OrganizationRoles {
    api: Arc<dyn MembershipApi>,
    limiter: Arc<RateLimiter>,
    observer: Arc<dyn CallObserver>,
    known: Mutex<HashMap<String, (OrganizationRole, Instant)>>,
}

impl OrganizationRoles {
    pub fn new(api: Arc<dyn MembershipApi>, limiter: Arc<RateLimiter>, observer: Arc<dyn CallObserver>) -> Self {
        Self {
            api,
            limiter,
            observer,
            known: Mutex::new(HashMap::new()),
        }
    }

    /// The role in `region`, asking AWS when nothing fresh is remembered.
    pub async fn role(&self, region: &str) -> OrganizationRole {
        let mut known = self.known.lock().await;
        if let Some((role, at)) = known.get(region)
            && at.elapsed() < ttl(*role)
        {
            return *role;
        }
        self.limiter.acquire(region).await;
        let answer = observe(
            &*self.observer,
            "DescribeOrganizationConfiguration",
            0,
            self.api.organization_role(region),
        )
        .await;
        let role = role_from(answer);
        tracing::info!(region, role = ?role, "organization role of the administrator");
        known.insert(region.to_string(), (role, Instant::now()));
        role
    }
}

fn ttl(role: OrganizationRole) -> Duration {
    match role {
        OrganizationRole::Unknown => UNKNOWN_TTL,
        _ => KNOWN_TTL,
    }
}

/// AWS answers a caller that is not the organization's administrator with
/// InvalidAccessException "Account ... is not an administrator for this organization";
/// any other error (IAM without the permission, throttling) leaves the role unknown.
pub fn role_from(answer: Result<OrganizationRole, AwsError>) -> OrganizationRole {
    match answer {
        Ok(role) => role,
        Err(e) if words::is_not_organization_administrator(&e.code, &e.message) => OrganizationRole::NotAdministrator,
        Err(e) => {
            tracing::debug!(code = %e.code, message = %e.message, "organization role unknown");
            OrganizationRole::Unknown
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ErrorClass;

    fn err(code: &str, message: &str) -> Result<OrganizationRole, AwsError> {
        Err(AwsError::new(ErrorClass::AccessDenied, code, message))
    }

    #[test]
    fn only_the_documented_refusal_means_not_an_administrator() {
        let cases = [
            (Ok(OrganizationRole::Administrator), OrganizationRole::Administrator),
            (
                err(
                    "InvalidAccessException",
                    "Account 111111111111 is not an administrator for this organization",
                ),
                OrganizationRole::NotAdministrator,
            ),
            (
                err(
                    "InvalidAccessException",
                    "Account 111111111111 is not subscribed to AWS Security Hub",
                ),
                OrganizationRole::Unknown,
            ),
            (
                err(
                    "AccessDeniedException",
                    "not authorized to perform securityhub:Describe",
                ),
                OrganizationRole::Unknown,
            ),
            (
                err("LimitExceededException", "rate exceeded"),
                OrganizationRole::Unknown,
            ),
        ];
        for (answer, want) in cases {
            assert_eq!(role_from(answer), want);
        }
    }
}
