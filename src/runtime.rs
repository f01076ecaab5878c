//! What both engines' loops share and neither owns: the loop [`Timing`] (debounce, resync,
//! retry backoff), the resync [`jitter`], and the cap on "written" Events per pass
//! ([`MAX_WRITE_EVENTS`]). `geo::engine` and `records::engine` import it; it imports neither.

use std::time::Duration;

use rand::RngExt;

/// Normal "written" Events per pass at most (warnings are never capped).
pub const MAX_WRITE_EVENTS: usize = 20;

/// Timing of an engine's loop.
#[derive(Debug, Clone)]
pub struct Timing {
    /// Quiet time that ends a burst of watch events.
    pub debounce: Duration,
    /// Longest a burst can delay a reconcile.
    pub debounce_max: Duration,
    /// Full resync period (jittered by up to 10%).
    pub resync: Duration,
    /// First retry delay after a failure.
    pub retry_min: Duration,
    /// Cap of the retry delay, which doubles from `retry_min` with each consecutive failure.
    pub retry_max: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            debounce: Duration::from_millis(200),
            debounce_max: Duration::from_millis(800),
            resync: Duration::from_secs(300),
            retry_min: Duration::from_secs(2),
            retry_max: Duration::from_secs(60),
        }
    }
}

/// `d` shortened by up to 10%, so replicas and clusters do not resync in lockstep.
pub fn jitter(d: Duration) -> Duration {
    let f: f64 = rand::rng().random_range(0.9..=1.0);
    d.mul_f64(f)
}
