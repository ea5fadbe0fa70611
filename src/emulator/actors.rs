//! Simulated member accounts: accepting or declining invitations on their own
//! (`--auto-accept-after`, `--decline-account`) or when the control API says so.

use std::sync::Arc;

use super::member;
use super::shared::{Reaction, Shared, lock};
use super::state::{Hub, MemberStatus, Scope, World};

/// Called after InviteMembers sent `invitation_id` to `account`.
pub fn on_invited(shared: &Arc<Shared>, admin: &Scope, account: &str, invitation_id: &str) {
    let Some(reaction) = shared.behaviour.reaction(account) else {
        return;
    };
    let (delay, accept) = match reaction {
        Reaction::Accept(d) => (d, true),
        Reaction::Decline(d) => (d, false),
    };
    let job = Job {
        admin: admin.clone(),
        account: account.to_string(),
        invitation_id: invitation_id.to_string(),
        accept,
    };
    if delay.is_zero() {
        job.run(shared);
    } else {
        let shared = Arc::clone(shared);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            job.run(&shared);
        });
    }
}

/// One scheduled answer to one invitation; stale once the invitation changed.
struct Job {
    admin: Scope,
    account: String,
    invitation_id: String,
    accept: bool,
}

impl Job {
    fn run(&self, shared: &Shared) {
        let mut world = lock(&shared.world);
        let scope = Scope::new(&self.account, &self.admin.region);
        let result = if self.accept {
            accept_as_member(&mut world, &scope, &self.admin.account, &self.invitation_id)
        } else {
            member::decline(&mut world, &scope, Some(vec![self.admin.account.clone()])).map(|_| ())
        };
        match result {
            Ok(()) => {
                tracing::info!(account = %self.account, admin = %self.admin.account, accept = self.accept, "simulated member answered")
            }
            Err(e) => {
                tracing::debug!(account = %self.account, error = %e.message, "simulated answer skipped")
            }
        }
    }
}

/// The member turns Security Hub on (if needed) and accepts, as a person would.
pub fn accept_as_member(
    world: &mut World,
    member_scope: &Scope,
    admin: &str,
    invitation_id: &str,
) -> Result<(), super::error::ApiError> {
    world.enable_hub(member_scope, Hub::new());
    member::accept(
        world,
        member_scope,
        Some(admin.to_string()),
        Some(invitation_id.to_string()),
    )
    .map(|_| ())
}

/// The newest pending invitation of `account` in `region`: (administrator, id).
pub fn pending_invitation(world: &World, account: &str, region: &str) -> Option<(String, String)> {
    world
        .memberships_of(account, region)
        .filter(|(_, m)| m.status == MemberStatus::Invited)
        .filter_map(|(admin, m)| m.visible_invitation().map(|i| (admin, i)))
        .max_by_key(|(_, i)| i.invited_at)
        .map(|(admin, i)| (admin.clone(), i.invitation_id.clone()))
}
