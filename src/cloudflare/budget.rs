//! The request budget shared by every Cloudflare call: at most `limit` requests in any window,
//! a global pause when Cloudflare says 429, and pacing by the quota the server says is left.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// The floor of the server-side reserve; see [`reserve`].
const MIN_RESERVE: u32 = 8;

/// Requests of the shared quota this process leaves untouched before waiting for the reset.
///
/// Each process sharing the token may have a request in flight, and its view of the remaining
/// quota misses whatever the others sent since its last answer, so the true remaining can be
/// about one request per other process below what this process saw. The reserve must cover
/// that: at least [`MIN_RESERVE`] (several processes on small quotas), 1/40 of the quota on
/// large ones (30 of Cloudflare's 1,200), and never more than a quarter of it.
/// Requests per window a process leaves unused for the other processes on its token.
pub fn reserve(quota: u32) -> u32 {
    (quota / 40).max(MIN_RESERVE).min(quota / 4)
}

/// A token bucket in which each spent token comes back exactly one window after its request
/// *finished*. Unlike a constant-rate refill, this bounds every window of `window` length to
/// `limit` requests as Cloudflare counts them (at arrival, which lies between our send and our
/// answer), while still allowing full bursts.
///
/// Other processes may share the token, so the local window alone cannot keep the token under
/// Cloudflare's limit. Every answer reports what is left of the shared quota
/// ([`Budget::observe_server`]); below half of it, sends are spaced by
/// `window / (remaining - reserve)`, and at the reserve they wait for the reported reset.
/// With N processes each sending at `(r - reserve) / window`, the window holds
/// `q - r = N (r - reserve)` requests in steady state, so the shared remaining settles at
/// `r = reserve + (q - reserve) / (N + 1)`: it shrinks as processes join but never reaches 0.
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
    last_send: Option<Instant>,
    server: Option<ServerView>,
}

/// The shared quota as of the latest answer.
#[derive(Debug, Clone, Copy)]
struct ServerView {
    remaining: u32,
    reset_at: Instant,
    quota: u32,
    window: Duration,
    seen_at: Instant,
    /// Our own sends since the answer, which its `remaining` does not count yet.
    sent_since: u32,
}

impl ServerView {
    /// After a whole window every request it counted has left, so it no longer says anything.
    fn fresh(&self, now: Instant) -> bool {
        now < self.seen_at + self.window
    }

    fn left(&self) -> u32 {
        self.remaining.saturating_sub(self.sent_since)
    }
}

/// Whether a send is spaced by the server's remaining quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pace {
    Spaced,
    /// Writes skip the spacing (never the reset wait): they are few, and a write held back
    /// behind the read that planned it would wait as long again and go stale every time.
    Unspaced,
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
            let now = Instant::now();
            match self.try_take(now, Pace::Spaced) {
                Ok(()) => return now,
                Err(until) => tokio::time::sleep_until(until).await,
            }
        }
    }

    /// Like [`Budget::acquire`] for a write, which is not spaced by the server's remaining
    /// quota, and which gives up after `max_wait` without spending a token: `Err` holds the time
    /// waited.
    pub async fn acquire_write(&self, max_wait: Duration) -> Result<Instant, Duration> {
        let start = Instant::now();
        let deadline = start + max_wait;
        loop {
            let now = Instant::now();
            match self.try_take(now, Pace::Unspaced) {
                Ok(()) => return Ok(now),
                Err(_) if now >= deadline => return Err(now - start),
                Err(until) => tokio::time::sleep_until(until.min(deadline)).await,
            }
        }
    }

    /// Spends a token at `now`, or says until when to wait.
    fn try_take(&self, now: Instant, pace: Pace) -> Result<(), Instant> {
        let mut st = self.lock();
        match st.paused_until {
            Some(until) if until > now => return Err(until),
            _ => st.paused_until = None,
        }
        while st.sent.front().is_some_and(|t| *t + self.window <= now) {
            st.sent.pop_front();
        }
        if st.sent.len() >= self.limit {
            return Err(st.sent.front().map_or(now, |t| *t + self.window));
        }
        if st.server.is_some_and(|v| !v.fresh(now)) {
            st.server = None;
        }
        let last_send = st.last_send;
        if let Some(v) = st.server.as_mut() {
            let left = v.left();
            let reserve = reserve(v.quota);
            if left <= reserve {
                if v.reset_at > now {
                    return Err(v.reset_at);
                }
                // The oldest counted request has left the window; this send's answer tells how
                // many more did. Until it comes, probe at most once per average slot interval.
                v.reset_at = now + v.window / v.quota;
            } else if pace == Pace::Spaced && left < v.quota / 2 {
                let next = last_send.map(|t| t + v.window / (left - reserve));
                if let Some(next) = next.filter(|t| *t > now) {
                    return Err(next);
                }
            }
            v.sent_since += 1;
        }
        st.sent.push_back(now);
        st.last_send = Some(now);
        Ok(())
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

    /// Records the shared quota an answer reported: `remaining` requests are left, the oldest
    /// counted one leaves the window in `reset`, and the server allows `quota` per `window`.
    pub fn observe_server(&self, remaining: u32, reset: Duration, quota: u32, window: Duration) {
        let now = Instant::now();
        self.lock().server = Some(ServerView {
            remaining,
            reset_at: now + reset,
            quota: quota.max(1),
            window: window.max(Duration::from_millis(1)),
            seen_at: now,
            sent_since: 0,
        });
    }

    /// What the server last said is left of the shared quota, less our sends since; `None`
    /// when no answer within the last window said.
    pub fn server_remaining(&self) -> Option<u32> {
        let st = self.lock();
        let now = Instant::now();
        st.server.filter(|v| v.fresh(now)).map(|v| v.left())
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
    use std::sync::Arc;

    const S: Duration = Duration::from_secs(1);

    #[tokio::test(start_paused = true)]
    async fn never_more_than_limit_in_any_window() {
        let b = Arc::new(Budget::new(5, Duration::from_secs(10)));
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

    #[test]
    fn reserve_covers_several_processes_and_scales_with_the_quota() {
        assert_eq!(reserve(1200), 30);
        assert_eq!(reserve(60), 8);
        assert_eq!(reserve(12), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn no_pacing_at_or_above_half_the_quota() {
        let b = Budget::new(100, 10 * S);
        let start = Instant::now();
        b.observe_server(60, 9 * S, 100, 10 * S);
        for _ in 0..11 {
            b.acquire().await;
        }
        assert_eq!(Instant::now(), start, "a burst down to q/2 is not slowed");
        assert_eq!(b.server_remaining(), Some(49));
        // Our own sends count: the next one is below q/2 and waits 10 s / (49 - 8).
        b.acquire().await;
        let waited = Instant::now() - start;
        // The timer rounds up to whole milliseconds.
        assert!(
            waited >= 10 * S / 41 && waited <= 10 * S / 41 + Duration::from_millis(1),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn pacing_spaces_sends_below_half_the_quota() {
        // q = 100, reserve 8: at r = 28 each send waits 10 s / (28 - 8) = 500 ms.
        let b = Budget::new(100, 10 * S);
        let start = Instant::now();
        let mut at = Vec::new();
        for _ in 0..4 {
            b.acquire().await;
            at.push(Instant::now() - start);
            b.observe_server(28, 9 * S, 100, 10 * S);
        }
        let ms = Duration::from_millis;
        assert_eq!(at, [ms(0), ms(500), ms(1000), ms(1500)]);
        // Less left, wider spacing: r = 10 gives 10 s / 2.
        b.observe_server(10, 9 * S, 100, 10 * S);
        let before = Instant::now();
        b.acquire().await;
        assert_eq!(Instant::now() - before, 5 * S);
        // Concurrent callers share the pace rather than each keeping it.
        b.observe_server(28, 9 * S, 100, 10 * S);
        let before = Instant::now();
        futures::future::join_all((0..3).map(|_| b.acquire())).await;
        // 500 ms, then 10 s / 19 and 10 s / 18 as our own sends lower what is left.
        let took = Instant::now() - before;
        assert!(took >= ms(1500) && took < ms(1700), "{took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn at_the_reserve_sends_wait_for_the_reset_then_probe_one_at_a_time() {
        let b = Budget::new(100, 10 * S);
        let start = Instant::now();
        b.observe_server(8, 3 * S, 100, 10 * S);
        b.acquire().await;
        assert_eq!(Instant::now() - start, 3 * S, "r <= reserve waits for t");
        // No answer yet: the next probe waits one average slot interval (10 s / 100).
        b.acquire().await;
        assert_eq!(Instant::now() - start, 3 * S + Duration::from_millis(100));
        // r = 0 on an answer: wait for its reset too.
        b.observe_server(0, 4 * S, 100, 10 * S);
        let before = Instant::now();
        b.acquire().await;
        assert_eq!(Instant::now() - before, 4 * S);
        // Plenty left again: no waiting.
        b.observe_server(90, 4 * S, 100, 10 * S);
        let before = Instant::now();
        b.acquire().await;
        assert_eq!(Instant::now(), before);
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_older_than_a_window_is_forgotten() {
        let b = Budget::new(100, 10 * S);
        b.observe_server(0, 10 * S, 100, 10 * S);
        assert_eq!(b.server_remaining(), Some(0));
        tokio::time::advance(10 * S).await;
        assert_eq!(b.server_remaining(), None);
        let before = Instant::now();
        b.acquire().await;
        assert_eq!(Instant::now(), before);
    }

    #[tokio::test(start_paused = true)]
    async fn writes_skip_the_spacing_but_not_the_reset_and_give_up_without_spending() {
        let b = Budget::new(100, 10 * S);
        let start = Instant::now();
        b.observe_server(20, 8 * S, 100, 10 * S);
        b.acquire().await;
        // A read now would wait 10 s / 11; a write goes at once.
        assert_eq!(b.acquire_write(5 * S).await, Ok(start));
        // At the reserve a write waits for the reset, or gives up after max_wait.
        b.observe_server(8, 8 * S, 100, 10 * S);
        let available = b.available();
        assert_eq!(b.acquire_write(5 * S).await, Err(5 * S));
        assert_eq!(
            b.available(),
            available,
            "a write that gave up spent nothing"
        );
        assert_eq!(b.acquire_write(5 * S).await, Ok(start + 8 * S));
        // A 429 pause holds writes as well.
        b.pause_for(60 * S);
        assert_eq!(b.acquire_write(5 * S).await, Err(5 * S));
    }

    /// A server-side sliding window shared by several budgets, as Cloudflare keeps per token.
    #[derive(Default)]
    struct SharedWindow {
        hits: VecDeque<Instant>,
        refused: usize,
        lowest: Option<u32>,
    }

    impl SharedWindow {
        /// Counts a request at arrival: `Ok((remaining, reset))` or `Err(retry_after)`.
        fn check(&mut self, q: u32, w: Duration) -> Result<(u32, Duration), Duration> {
            let now = Instant::now();
            while self.hits.front().is_some_and(|t| *t + w <= now) {
                self.hits.pop_front();
            }
            // Whole seconds, rounded up, as the header carries them.
            let until_free = |hits: &VecDeque<Instant>| {
                hits.front().map_or(Duration::ZERO, |t| {
                    let d = (*t + w) - now;
                    Duration::from_secs(d.as_secs() + u64::from(d.subsec_nanos() > 0))
                })
            };
            if self.hits.len() >= q as usize {
                self.refused += 1;
                return Err(until_free(&self.hits));
            }
            self.hits.push_back(now);
            let r = q - self.hits.len() as u32;
            self.lowest = Some(self.lowest.map_or(r, |l| l.min(r)));
            Ok((r, until_free(&self.hits)))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn processes_sharing_a_token_each_believing_they_own_it_never_get_429() {
        let (q, w, n, calls) = (1200u32, 300 * S, 5usize, 700usize);
        let server = Arc::new(Mutex::new(SharedWindow::default()));
        let tasks: Vec<_> = (0..n)
            .map(|i| {
                let server = server.clone();
                tokio::spawn(async move {
                    let b = Budget::new(q, w);
                    for _ in 0..calls {
                        let spent = b.acquire().await;
                        let verdict = server.lock().unwrap().check(q, w);
                        // Answers take a while, and a different while in each process.
                        tokio::time::sleep(Duration::from_millis(20 + 7 * i as u64)).await;
                        match verdict {
                            Ok((r, t)) => b.observe_server(r, t, q, w),
                            Err(t) => {
                                b.observe_server(0, t, q, w);
                                b.pause_for(t);
                            }
                        }
                        b.finished(spent);
                    }
                })
            })
            .collect();
        let start = Instant::now();
        for t in tasks {
            t.await.unwrap();
        }
        let server = server.lock().unwrap();
        assert_eq!(server.refused, 0, "no 429 for {n} processes on one token");
        let lowest = server.lowest.unwrap();
        assert!(lowest > 0, "the shared remaining never reached 0: {lowest}");
        // 3,500 calls at 1,200 per 300 s: at least two more windows after the first burst.
        let took = Instant::now() - start;
        assert!(took > 2 * w && took < 6 * w, "{took:?}");
    }
}
