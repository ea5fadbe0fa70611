//! How one batch is collected: it stays open while requests keep coming (each one holds it
//! open another window), never longer than [`MAX_WINDOWS`] windows after the first, or
//! [`MAX_PROMISED_WINDOWS`] while promised requests are still on their way; then it waits
//! for its rate-limit token, and requests that arrive meanwhile still join it.
//!
//! Reconciles reach the same step a few at a time, paced by their Kubernetes writes, not
//! all at once: without the window each would leave in a call of its own.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;

/// Windows a batch may stay open after its first request.
pub const MAX_WINDOWS: u32 = 5;
/// Windows a batch may stay open while promised requests are on their way.
pub const MAX_PROMISED_WINDOWS: u32 = 15;

/// The requests of one batch, starting with `first`: at most `limit`, collected from `rx`
/// as described above; `token` resolves when the rate limiter lets the call go.
pub async fn collect<T>(
    first: T,
    rx: &mut mpsc::UnboundedReceiver<T>,
    limit: usize,
    window: Duration,
    promised: &AtomicUsize,
    token: impl Future<Output = ()>,
) -> Vec<T> {
    let mut batch = vec![first];
    let opened = tokio::time::Instant::now();
    let cap = opened + window * MAX_WINDOWS;
    let promised_cap = opened + window * MAX_PROMISED_WINDOWS;
    let mut deadline = (opened + window).min(cap);
    while batch.len() < limit {
        tokio::select! {
            // Requests already queued join before the window's end is looked at.
            biased;
            next = rx.recv() => match next {
                Some(r) => {
                    batch.push(r);
                    deadline = (tokio::time::Instant::now() + window).min(cap);
                }
                None => break,
            },
            _ = tokio::time::sleep_until(deadline) => {
                let now = tokio::time::Instant::now();
                if promised.load(Ordering::SeqCst) == 0 || now >= promised_cap {
                    break;
                }
                deadline = (now + window).min(promised_cap);
            }
        }
    }
    // The batch takes its token before it closes: while the rate limit holds it back,
    // requests that arrive still join it instead of queueing up as more partial calls.
    tokio::pin!(token);
    loop {
        tokio::select! {
            biased;
            () = &mut token => break,
            next = rx.recv(), if batch.len() < limit => match next {
                Some(r) => batch.push(r),
                None => {
                    (&mut token).await;
                    break;
                }
            },
        }
    }
    batch
}
