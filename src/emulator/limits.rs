//! Service limits: accounts per call, members per administrator, and the
//! per-(account, region) token bucket that answers 429 LimitExceededException.

use std::collections::HashMap;
use std::time::Instant;

use super::state::Scope;

/// Entries one CreateMembers call processes; the rest come back as overflow.
pub const MAX_ACCOUNTS_PER_CALL: usize = 50;
/// Members by invitation per administrator per region.
pub const MAX_INVITED_MEMBERS: usize = 1_000;
/// Organization members per administrator per region.
pub const MAX_ORGANIZATION_MEMBERS: usize = 10_000;

/// Refill rate and capacity; a rate of 0 disables throttling.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RateLimit {
    pub rate: f64,
    pub burst: u32,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    refilled_at: Instant,
}

/// One token bucket per (caller account, region), like AWS's per-account quota.
#[derive(Debug)]
pub struct RateLimiter {
    limit: RateLimit,
    buckets: HashMap<Scope, Bucket>,
}

impl RateLimiter {
    pub fn new(limit: RateLimit) -> Self {
        RateLimiter {
            limit,
            buckets: HashMap::new(),
        }
    }

    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// Changes the limit and refills every bucket.
    pub fn set_limit(&mut self, limit: RateLimit) {
        self.limit = limit;
        self.buckets.clear();
    }

    /// Takes one token for `scope`; false means the call must be throttled.
    pub fn try_acquire(&mut self, scope: &Scope, now: Instant) -> bool {
        if self.limit.rate <= 0.0 {
            return true;
        }
        let capacity = f64::from(self.limit.burst.max(1));
        let bucket = self.buckets.entry(scope.clone()).or_insert(Bucket {
            tokens: capacity,
            refilled_at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.refilled_at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.limit.rate).min(capacity);
        bucket.refilled_at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_throttle_then_refill() {
        let mut limiter = RateLimiter::new(RateLimit { rate: 2.0, burst: 3 });
        let scope = Scope::new("111111111111", "us-east-1");
        let start = Instant::now();
        assert!((0..3).all(|_| limiter.try_acquire(&scope, start)));
        assert!(!limiter.try_acquire(&scope, start));
        assert!(limiter.try_acquire(&scope, start + Duration::from_millis(600)));
        let other = Scope::new("222222222222", "us-east-1");
        assert!(limiter.try_acquire(&other, start));
    }

    #[test]
    fn zero_rate_is_unlimited() {
        let mut limiter = RateLimiter::new(RateLimit { rate: 0.0, burst: 0 });
        let scope = Scope::new("111111111111", "us-east-1");
        assert!((0..1000).all(|_| limiter.try_acquire(&scope, Instant::now())));
    }
}
