//! A client-side token bucket per region, in front of the SDK's own retry, so the operator
//! stays under Security Hub's 10 requests/s (burst 30) and rarely sees a 429 at all.

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// Token buckets keyed by region; the administrator account is the same for every call.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl RateLimiter {
    /// `rate` requests per second with bursts of `burst`; a rate of 0 disables limiting.
    pub fn new(rate: f64, burst: u32) -> Self {
        Self {
            rate,
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Waits until a request in `region` may go out.
    pub async fn acquire(&self, region: &str) {
        if self.rate <= 0.0 {
            return;
        }
        loop {
            let wait = self.try_take(region).await;
            match wait {
                None => return,
                Some(d) => tokio::time::sleep(d).await,
            }
        }
    }

    /// AWS throttled a call in `region` although this bucket allowed it: empty the
    /// bucket and owe one second, so the next call waits for AWS's bucket to refill.
    pub async fn back_off(&self, region: &str) {
        if self.rate <= 0.0 {
            return;
        }
        let mut buckets = self.buckets.lock().await;
        let bucket = self.refilled(&mut buckets, region);
        bucket.tokens = bucket.tokens.min(0.0) - self.rate;
    }

    /// Takes a token, or says how long until one is there.
    async fn try_take(&self, region: &str) -> Option<Duration> {
        let mut buckets = self.buckets.lock().await;
        let bucket = self.refilled(&mut buckets, region);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            None
        } else {
            Some(Duration::from_secs_f64((1.0 - bucket.tokens) / self.rate))
        }
    }

    /// `region`'s bucket (full when new) with the tokens earned since it was last used.
    fn refilled<'a>(&self, buckets: &'a mut HashMap<String, Bucket>, region: &str) -> &'a mut Bucket {
        let now = Instant::now();
        let bucket = buckets.entry(region.to_string()).or_insert(Bucket {
            tokens: self.burst,
            last: now,
        });
        let elapsed = now.duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.last = now;
        bucket
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn burst_then_rate() {
        let limiter = RateLimiter::new(10.0, 30);
        let start = Instant::now();
        for _ in 0..30 {
            limiter.acquire("us-east-1").await;
        }
        assert!(start.elapsed() < Duration::from_millis(1), "the burst goes out at once");
        for _ in 0..10 {
            limiter.acquire("us-east-1").await;
        }
        let elapsed = start.elapsed();
        assert!(
            elapsed >= Duration::from_millis(990) && elapsed <= Duration::from_millis(1100),
            "{elapsed:?}"
        );
        // Another region has its own bucket.
        let before = Instant::now();
        limiter.acquire("eu-west-1").await;
        assert!(before.elapsed() < Duration::from_millis(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttle_from_aws_costs_the_bucket_a_second() {
        let limiter = RateLimiter::new(10.0, 30);
        limiter.acquire("us-east-1").await;
        limiter.back_off("us-east-1").await;
        let start = Instant::now();
        limiter.acquire("us-east-1").await;
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(1090) && waited <= Duration::from_millis(1110),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn zero_rate_is_unlimited() {
        let limiter = RateLimiter::new(0.0, 1);
        let start = Instant::now();
        for _ in 0..1000 {
            limiter.acquire("us-east-1").await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
    }
}
