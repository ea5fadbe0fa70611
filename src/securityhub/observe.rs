//! Every AWS call is told to an observer (metrics, logs); this is the one place a call is
//! timed and its outcome labelled.

use std::time::{Duration, Instant};

use super::error::AwsError;

/// Told about every AWS call.
pub trait CallObserver: Send + Sync + 'static {
    /// Records one finished call: its operation, its outcome ("ok" or the error code), how
    /// many accounts it named and how long it took.
    fn record(&self, operation: &'static str, outcome: &str, accounts: usize, elapsed: Duration);
}

/// Runs `call` and records it; `describe` names the outcome and the accounts from the result.
pub async fn observe_with<T, E>(
    observer: &dyn CallObserver,
    operation: &'static str,
    call: impl Future<Output = Result<T, E>>,
    describe: impl FnOnce(&Result<T, E>) -> (String, usize),
) -> Result<T, E> {
    let started = Instant::now();
    let result = call.await;
    let (outcome, accounts) = describe(&result);
    observer.record(operation, &outcome, accounts, started.elapsed());
    result
}

/// Runs `call`, which names `accounts` accounts, and records it as "ok" or its error code.
pub async fn observe<T>(
    observer: &dyn CallObserver,
    operation: &'static str,
    accounts: usize,
    call: impl Future<Output = Result<T, AwsError>>,
) -> Result<T, AwsError> {
    observe_with(observer, operation, call, |r| (outcome(r), accounts)).await
}

/// "ok", or the error's code.
pub fn outcome<T>(result: &Result<T, AwsError>) -> String {
    match result {
        Ok(_) => "ok".to_string(),
        Err(e) => e.code.clone(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::plan::ErrorClass;

    #[derive(Default)]
    struct Seen(Mutex<Vec<(String, String, usize)>>);

    impl CallObserver for Seen {
        fn record(&self, operation: &'static str, outcome: &str, accounts: usize, _: Duration) {
            let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
            seen.push((operation.to_string(), outcome.to_string(), accounts));
        }
    }

    #[tokio::test]
    async fn each_call_is_recorded_once_with_its_outcome() {
        let seen = Seen::default();
        let ok: Result<u8, AwsError> = observe(&seen, "GetMembers", 3, async { Ok(1) }).await;
        assert_eq!(ok.ok(), Some(1));
        let failed = observe(&seen, "CreateMembers", 2, async {
            Err::<(), _>(AwsError::new(
                ErrorClass::Throttled,
                "TooManyRequestsException",
                "slow down",
            ))
        })
        .await;
        assert!(failed.is_err());
        let listed = observe_with(
            &seen,
            "ListMembers",
            async { Ok::<_, AwsError>(vec![1, 2, 3, 4]) },
            |r| (outcome(r), r.as_ref().map_or(0, Vec::len)),
        )
        .await;
        assert_eq!(listed.map(|v| v.len()).ok(), Some(4));
        let seen = seen.0.into_inner().unwrap_or_default();
        assert_eq!(
            seen,
            vec![
                ("GetMembers".into(), "ok".into(), 3),
                ("CreateMembers".into(), "TooManyRequestsException".into(), 2),
                ("ListMembers".into(), "ok".into(), 4),
            ]
        );
    }
}
