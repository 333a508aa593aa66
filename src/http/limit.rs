//! Budgets of requests per key (a member, a client address), kept in this
//! process's memory: a replica limits what reaches it. Features keep one
//! [`RateLimit`] per kind of request as a part of the `App`.
//!
//! governor's GCRA does the counting: a burst is allowed at once, then one
//! request per period, and a refusal says when the next one will pass.

use std::fmt::Display;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::{AppError, AppResult};

pub struct RateLimit {
    limiter: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
    checks: AtomicU64,
}

/// Every this many checks, keys whose budget is whole again are forgotten,
/// so memory stays bounded whatever the number of addresses.
const FORGET_EVERY: u64 = 4096;

impl RateLimit {
    /// `burst` requests at once, then one more every `period`.
    pub fn new(burst: u32, period: Duration) -> Self {
        let burst = NonZeroU32::new(burst).expect("a burst of at least one");
        let quota = Quota::with_period(period)
            .expect("a period longer than zero")
            .allow_burst(burst);
        Self {
            limiter: RateLimiter::keyed(quota),
            clock: DefaultClock::default(),
            checks: AtomicU64::new(0),
        }
    }

    /// Takes one request from `key`'s budget, or says how long to wait.
    pub fn check(&self, key: impl Display) -> AppResult<()> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % FORGET_EVERY == FORGET_EVERY - 1 {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        self.limiter.check_key(&key.to_string()).map_err(|refused| {
            let wait = refused.wait_time_from(self.clock.now());
            AppError::RateLimited {
                retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_a_burst_then_refuses_with_a_wait() {
        let limit = RateLimit::new(3, Duration::from_secs(10));
        for _ in 0..3 {
            limit.check("a").unwrap();
        }
        match limit.check("a") {
            Err(AppError::RateLimited { retry_after_secs }) => {
                assert!((1..=10).contains(&retry_after_secs), "{retry_after_secs}")
            }
            other => panic!("{other:?}"),
        }
        // Another key has its own budget.
        limit.check("b").unwrap();
    }
}
