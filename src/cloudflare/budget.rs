//! The request budget shared by every Cloudflare call: at most `limit` requests in any window,
//! and a global pause when Cloudflare says 429.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// A token bucket in which each spent token comes back exactly one window after its request
/// *finished*. Unlike a constant-rate refill, this bounds every window of `window` length to
/// `limit` requests as Cloudflare counts them (at arrival, which lies between our send and our
/// answer), while still allowing full bursts.
#[derive(Debug)]
pub struct Budget {
    limit: usize,
    window: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    sent: VecDeque<Instant>,
    paused_until: Option<Instant>,
    paused_total: Duration,
}

impl Budget {
    /// A budget of `limit` requests per `window`.
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit: limit.max(1) as usize,
            window,
            state: Mutex::new(State::default()),
        }
    }

    /// Waits until a request may be sent, and spends one token. Pass the returned instant to
    /// [`Budget::finished`] when the answer (or error) arrives.
    pub async fn acquire(&self) -> Instant {
        loop {
            let wait_until: Option<Instant> = {
                let mut st = self.lock();
                let now = Instant::now();
                match st.paused_until {
                    Some(until) if until > now => Some(until),
                    _ => {
                        st.paused_until = None;
                        while st.sent.front().is_some_and(|t| *t + self.window <= now) {
                            st.sent.pop_front();
                        }
                        if st.sent.len() < self.limit {
                            st.sent.push_back(now);
                            return now;
                        } else {
                            st.sent.front().map(|t| *t + self.window)
                        }
                    }
                }
            };
            if let Some(t) = wait_until {
                tokio::time::sleep_until(t).await;
            }
        }
    }

    /// Restarts the token's window at the moment its request finished.
    pub fn finished(&self, spent: Instant) {
        let mut st = self.lock();
        if let Some(i) = st.sent.iter().position(|t| *t == spent) {
            st.sent.remove(i);
            // Every stored instant lies in the past, so the deque stays sorted.
            st.sent.push_back(Instant::now());
        }
    }

    /// Pauses every caller for `d` (a 429's Retry-After).
    pub fn pause_for(&self, d: Duration) {
        let mut st = self.lock();
        let now = Instant::now();
        let until = now + d;
        let current = st.paused_until.filter(|u| *u > now);
        if current.is_none_or(|c| until > c) {
            let added = until - current.unwrap_or(now);
            st.paused_total += added;
            st.paused_until = Some(until);
        }
    }

    /// Tokens that could be spent right now.
    pub fn available(&self) -> usize {
        let st = self.lock();
        let now = Instant::now();
        if st.paused_until.is_some_and(|u| u > now) {
            return 0;
        }
        let live = st.sent.iter().filter(|t| **t + self.window > now).count();
        self.limit.saturating_sub(live)
    }

    /// Total time the budget has been paused by rate-limit answers.
    pub fn paused_total(&self) -> Duration {
        self.lock().paused_total
    }

    /// The configured limit per window.
    pub fn limit(&self) -> usize {
        self.limit
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn never_more_than_limit_in_any_window() {
        let b = std::sync::Arc::new(Budget::new(5, Duration::from_secs(10)));
        let start = Instant::now();
        let mut times = Vec::new();
        for _ in 0..17 {
            b.acquire().await;
            times.push(Instant::now() - start);
        }
        for (i, t) in times.iter().enumerate() {
            let in_window = times[i..]
                .iter()
                .filter(|u| **u < *t + Duration::from_secs(10))
                .count();
            assert!(in_window <= 5, "window starting at {t:?} held {in_window}");
        }
        // Bursts are allowed: the first five went at once.
        assert_eq!(times[4], Duration::ZERO);
        assert_eq!(times[5], Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn pause_blocks_everyone() {
        let b = Budget::new(100, Duration::from_secs(300));
        b.pause_for(Duration::from_secs(7));
        assert_eq!(b.available(), 0);
        let start = Instant::now();
        b.acquire().await;
        assert_eq!(Instant::now() - start, Duration::from_secs(7));
        assert_eq!(b.paused_total(), Duration::from_secs(7));
    }
}
