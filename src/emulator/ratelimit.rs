//! Cloudflare's per-token request limit (1200 per 300 s by default) as a sliding window.
//!
//! Only admitted requests are counted: a client that is refused with 429 and waits the
//! `Retry-After` it was given is admitted when it returns, which is what that header promises.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// The limiter's answer for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Admitted; `remaining` more fit in the window, which frees its oldest slot in `reset_secs`.
    Allowed {
        /// Requests still allowed now.
        remaining: u32,
        /// Seconds until the oldest counted request leaves the window.
        reset_secs: u64,
    },
    /// Refused; retry after this many seconds.
    Limited {
        /// Seconds until a slot frees.
        retry_after_secs: u64,
    },
}

/// Sliding-window counter per key (a token fingerprint).
#[derive(Debug)]
pub struct RateLimiter {
    limit: u32,
    window: Duration,
    hits: HashMap<String, VecDeque<Instant>>,
}

impl RateLimiter {
    /// `limit` requests per `window` and key.
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
            hits: HashMap::new(),
        }
    }

    /// Requests per window.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Window length in whole seconds (at least 1).
    pub fn window_secs(&self) -> u64 {
        ceil_secs(self.window).max(1)
    }

    /// Counts a request of `key` at `now` if it fits.
    pub fn check(&mut self, key: &str, now: Instant) -> Verdict {
        let window = self.window;
        let hits = self.hits.entry(key.to_owned()).or_default();
        while hits
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= window)
        {
            hits.pop_front();
        }
        let until_free = |oldest: Option<&Instant>| {
            oldest.map_or(0, |t| {
                ceil_secs((*t + window).saturating_duration_since(now))
            })
        };
        if hits.len() >= self.limit as usize {
            return Verdict::Limited {
                retry_after_secs: until_free(hits.front()).max(1),
            };
        }
        hits.push_back(now);
        Verdict::Allowed {
            remaining: self.limit.saturating_sub(hits.len() as u32),
            reset_secs: until_free(hits.front()),
        }
    }

    /// Forgets all counts.
    pub fn reset(&mut self) {
        self.hits.clear();
    }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_past_the_limit_and_admits_after_the_window() {
        let mut rl = RateLimiter::new(2, Duration::from_secs(10));
        let t0 = Instant::now();
        assert!(matches!(
            rl.check("k", t0),
            Verdict::Allowed { remaining: 1, .. }
        ));
        assert!(matches!(
            rl.check("k", t0 + Duration::from_secs(3)),
            Verdict::Allowed { remaining: 0, .. }
        ));
        assert_eq!(
            rl.check("k", t0 + Duration::from_secs(4)),
            Verdict::Limited {
                retry_after_secs: 6
            }
        );
        // Another token has its own budget.
        assert!(matches!(rl.check("other", t0), Verdict::Allowed { .. }));
        // Refusals are not counted: once the first request leaves the window one slot is free.
        assert!(matches!(
            rl.check("k", t0 + Duration::from_secs(10)),
            Verdict::Allowed { remaining: 0, .. }
        ));
        assert!(matches!(
            rl.check("k", t0 + Duration::from_secs(11)),
            Verdict::Limited { .. }
        ));
    }
}
