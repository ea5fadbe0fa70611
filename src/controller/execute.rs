//! Runs a plan's actions concurrently (each through the batcher, or the member side for
//! accepts) and folds every outcome back into the facts.

use chrono::Utc;
use futures::future::join_all;

use super::context::Context;
use crate::plan::{Action, ActionKind, ErrorClass, Failure, Outcome, RegionFacts, fold};
use crate::securityhub::{AcceptOutcome, Promise, observe_with, outcome};

/// Announces the batched calls among `actions` to the batcher (before the Kubernetes
/// write that must precede them), one promise per action.
pub fn promise(ctx: &Context, actions: &[Action]) -> Vec<Option<Promise>> {
    actions
        .iter()
        .map(|a| (a.kind != ActionKind::Accept).then(|| ctx.batcher.promise(&a.region, a.kind)))
        .collect()
}

/// Executes `actions` and records their outcomes in `facts` (matched by region).
/// `promises`, when given, match `actions` one to one and are withdrawn as each is submitted.
pub async fn execute(ctx: &Context, actions: Vec<Action>, promises: Vec<Option<Promise>>, facts: &mut [RegionFacts]) {
    let mut promises = promises.into_iter();
    let outcomes = join_all(actions.into_iter().map(|a| {
        let promise = promises.next().flatten();
        async move {
            // A create's result depends on the organization role: ask (once per region) first.
            let role = match a.kind {
                ActionKind::Create => Some(ctx.roles.role(&a.region).await),
                _ => None,
            };
            let outcome = run(ctx, &a, promise).await;
            (a, role, outcome)
        }
    }))
    .await;
    let now = Utc::now();
    for (action, role, outcome) in outcomes {
        log_outcome(&action, &outcome);
        if let Some(f) = facts.iter_mut().find(|f| f.region == action.region) {
            if let Some(role) = role {
                f.organization = role;
            }
            fold(f, action.kind, outcome, now);
        }
    }
}

async fn run(ctx: &Context, a: &Action, promise: Option<Promise>) -> Outcome {
    if a.kind != ActionKind::Accept {
        let reply: std::pin::Pin<Box<dyn Future<Output = Outcome> + Send>> = if a.kind == ActionKind::Get && !a.fresh {
            Box::pin(ctx.batcher.read_unclaimed(&a.region, &a.account_id))
        } else {
            Box::pin(ctx.batcher.submit(&a.region, a.kind, &a.account_id, a.email.clone()))
        };
        drop(promise);
        return reply.await;
    }
    let (Some(accept), Some(admin)) = (&a.accept, &a.administrator_id) else {
        return Outcome::Failed(Failure::Aws {
            kind: ActionKind::Accept,
            class: ErrorClass::Other,
            code: "NoAdministratorId".into(),
            message: "AWS did not report the administrator of this invitation".into(),
        });
    };
    let accepting = ctx.member_side.accept(&a.region, accept, admin);
    let result = observe_with(&*ctx.metrics, "AcceptAdministratorInvitation", accepting, |r| {
        let label = match r {
            Ok(AcceptOutcome::NoInvitation) => "no_invitation".to_string(),
            _ => outcome(r),
        };
        (label, 1)
    })
    .await;
    match result {
        Ok(_) => Outcome::Done,
        Err(e) => Outcome::Failed(e.into_failure(ActionKind::Accept)),
    }
}

fn log_outcome(a: &Action, outcome: &Outcome) {
    match outcome {
        Outcome::Failed(f) => {
            tracing::info!(account = %a.account_id, region = %a.region, operation = a.kind.operation(), failure = ?f, "aws action failed")
        }
        _ if a.kind != ActionKind::Get => {
            tracing::info!(account = %a.account_id, region = %a.region, operation = a.kind.operation(), "aws action done")
        }
        _ => {}
    }
}
