//! Waiting in tests: every "until this holds, or fail after a timeout" goes through here, so
//! a timeout always names what was awaited and what was seen last.

use std::future::Future;
use std::time::{Duration, Instant};

use super::Error;

/// How often [`poll`] and [`poll_for`] look again.
const INTERVAL: Duration = Duration::from_millis(100);

/// Polls `check` until it holds; fails after `timeout`, naming `what`.
pub async fn poll<F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<(), Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool, Error>>,
{
    poll_for(what, timeout, || {
        let next = check();
        async move {
            Ok(if next.await? {
                Found::Yes(())
            } else {
                Found::No(String::new())
            })
        }
    })
    .await
}

/// What one look found: the value awaited, or a description of what was there instead.
pub enum Found<T> {
    Yes(T),
    No(String),
}

/// Polls `check` until it finds a value; fails after `timeout` with `what` and the last
/// description `check` gave of what it saw.
pub async fn poll_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Found<T>, Error>>,
{
    let started = Instant::now();
    loop {
        let seen = match check().await? {
            Found::Yes(value) => return Ok(value),
            Found::No(seen) => seen,
        };
        if started.elapsed() > timeout {
            let seen = if seen.is_empty() {
                String::new()
            } else {
                format!("; last seen: {seen}")
            };
            return Err(format!("timed out after {timeout:?} waiting for {what}{seen}").into());
        }
        tokio::time::sleep(INTERVAL).await;
    }
}

/// Polls a plain (blocking) `check`, for the tests that run no async runtime.
pub fn poll_blocking(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Result<bool, Error>,
) -> Result<(), Error> {
    let started = Instant::now();
    while !check()? {
        if started.elapsed() > timeout {
            return Err(format!("timed out after {timeout:?} waiting for {what}").into());
        }
        std::thread::sleep(INTERVAL);
    }
    Ok(())
}
