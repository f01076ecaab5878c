//! What both engines' loops share and neither owns: the one run loop (`run`: debounce,
//! jittered resync, retry with backoff, requeue, leader gating, shutdown), the `Engine` and
//! `Source` traits an engine and its input implement for it, the loop [`Timing`], the resync
//! [`jitter`], and the cap on "written" Events per pass ([`MAX_WRITE_EVENTS`]).
//! `geo::engine` and `records::engine` import it; it imports neither.

use std::time::Duration;

use rand::RngExt;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

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

/// Why a pass runs. Ordered: while no pass can run, wake-ups add up to the strongest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Trigger {
    /// The input changed (debounced). The only trigger an equal desired state skips.
    Change,
    /// The last pass asked to run again after a delay (a retiring pool's removal delay).
    Requeue,
    /// The last pass failed, or had writes refused.
    Retry,
    /// A pass from a full read: the first one, the periodic resync, a change of leadership.
    Resync,
}

/// How a pass ended, as far as the loop cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Everything planned was applied.
    Done {
        /// Run again after this long, changed or not.
        requeue_after: Option<Duration>,
    },
    /// The rest was applied, but writes were refused: retried with backoff.
    Refused {
        /// Run again after this long, changed or not.
        requeue_after: Option<Duration>,
    },
    /// The pass failed (the engine has told why): retried with backoff.
    Failed,
}

/// Where an engine's input comes from: the latest value, and a wait for the next.
pub(crate) trait Source {
    /// What the desired state is computed from.
    type Value;
    /// The latest value; `None` until it is complete (nothing is planned before).
    fn current(&mut self) -> Option<Self::Value>;
    /// Waits for the value to change; false once it never will (the loop then returns).
    async fn changed(&mut self) -> bool;
}

/// One snapshot channel, `None` inside until its first full list.
impl<T: Clone> Source for watch::Receiver<Option<T>> {
    type Value = T;

    fn current(&mut self) -> Option<T> {
        self.borrow().clone()
    }

    async fn changed(&mut self) -> bool {
        watch::Receiver::changed(self).await.is_ok()
    }
}

/// What an engine gives the loop: its desired state, and a pass that works towards it.
pub(crate) trait Engine {
    /// The source's value.
    type Input;
    /// What the loop compares: a [`Trigger::Change`] to an equal one runs no pass.
    type Desired: PartialEq;
    /// What a pass needs besides [`Engine::Desired`] (moved into the pass, dropped with it).
    type Work;

    /// The desired state of an input. Pure but for the engine's own bookkeeping.
    fn desired(&mut self, input: Self::Input) -> (Self::Desired, Self::Work);

    /// A change left the desired state as it was; no pass runs.
    async fn unchanged(&mut self, work: Self::Work);

    /// One pass. [`Trigger::Resync`] starts from a full read; the others may start from what
    /// the last pass ended with.
    async fn pass(
        &mut self,
        trigger: Trigger,
        desired: &Self::Desired,
        work: Self::Work,
    ) -> Outcome;

    /// Drops what the engine keeps between passes (a pass was abandoned, or leadership
    /// changed): the next pass starts from a full read.
    fn forget(&mut self);
}

/// Runs `engine` until `shutdown`, or until `source` or `leader` closes: a pass after each
/// debounced change, a full resync on a jittered period, retries of a failed or refused pass
/// with backoff doubling from `retry_min` to `retry_max`, and the requeue a pass asks for.
/// Nothing runs before the source has a value, or while this replica does not lead; losing
/// the lease abandons the pass in flight. After every pass that ran, the allocator gets its
/// free pages back.
pub(crate) async fn run<E, S>(
    mut engine: E,
    timing: Timing,
    mut source: S,
    mut leader: watch::Receiver<bool>,
    shutdown: CancellationToken,
) where
    E: Engine,
    S: Source<Value = E::Input>,
{
    let mut next_resync = Instant::now() + jitter(timing.resync);
    let mut retry_at: Option<Instant> = None;
    let mut retry_delay = timing.retry_min;
    let mut requeue_at: Option<Instant> = None;
    // What the last pass that applied everything worked from: an equal change is no work.
    let mut last: Option<E::Desired> = None;
    // The first pass reads everything, and the resync period counts from its end.
    let mut trigger = Trigger::Resync;
    loop {
        let input = source.current();
        match input {
            Some(input) if *leader.borrow() => {
                let (desired, work) = engine.desired(input);
                if trigger == Trigger::Change && last.as_ref() == Some(&desired) {
                    // Notices can change without the desired state (a new bad object).
                    engine.unchanged(work).await;
                } else {
                    last = None;
                    // Losing the lease abandons the pass at once; the next leader re-reads.
                    let outcome = tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = leader.wait_for(|l| !*l) => {
                            engine.forget();
                            trigger = Trigger::Resync;
                            continue;
                        }
                        o = engine.pass(trigger, &desired, work) => o,
                    };
                    let backoff = |delay: &mut Duration| {
                        let at = Instant::now() + jitter(*delay);
                        *delay = (*delay * 2).min(timing.retry_max);
                        Some(at)
                    };
                    let requeue = |after: Option<Duration>| after.map(|d| Instant::now() + d);
                    match outcome {
                        Outcome::Done { requeue_after } => {
                            retry_at = None;
                            retry_delay = timing.retry_min;
                            requeue_at = requeue(requeue_after);
                            last = Some(desired);
                        }
                        Outcome::Refused { requeue_after } => {
                            // Refused writes come back with backoff; the rest was applied.
                            requeue_at = requeue(requeue_after);
                            retry_at = backoff(&mut retry_delay);
                            drop(desired);
                        }
                        Outcome::Failed => {
                            retry_at = backoff(&mut retry_delay);
                            drop(desired);
                        }
                    }
                    // The pass's working set is gone (its desired state too, unless kept as
                    // `last`): give its pages back (glibc keeps them).
                    crate::memory::release_freed();
                    if trigger == Trigger::Resync {
                        next_resync = Instant::now() + jitter(timing.resync);
                    }
                }
                trigger = Trigger::Change;
            }
            _ => {
                // No pass can run (not leading, or nothing listed yet). A due resync stays
                // in `trigger` for the next pass; its clock restarts so the loop waits.
                if next_resync <= Instant::now() {
                    next_resync = Instant::now() + jitter(timing.resync);
                }
            }
        }
        let wake = [Some(next_resync), retry_at, requeue_at]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(next_resync);
        let woken = tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = leader.changed() => {
                if changed.is_err() { return; }
                // A new leader starts from a fresh read; so does one that stops leading.
                last = None;
                engine.forget();
                Trigger::Resync
            }
            alive = source.changed() => {
                if !alive { return; }
                debounce(&mut source, &timing).await;
                Trigger::Change
            }
            _ = tokio::time::sleep_until(wake) => {
                let now = Instant::now();
                if retry_at.is_some_and(|t| t <= now) {
                    retry_at = None;
                    Trigger::Retry
                } else if requeue_at.is_some_and(|t| t <= now) {
                    requeue_at = None;
                    Trigger::Requeue
                } else {
                    Trigger::Resync
                }
            }
        };
        trigger = trigger.max(woken);
    }
}

/// Waits until `source` has been quiet for `debounce` (at most `debounce_max` in all).
async fn debounce<S: Source>(source: &mut S, t: &Timing) {
    let deadline = Instant::now() + t.debounce_max;
    loop {
        let quiet = (Instant::now() + t.debounce).min(deadline);
        match tokio::time::timeout_at(quiet, source.changed()).await {
            Ok(true) if Instant::now() < deadline => continue,
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests;
