//! The run loop against a fake engine, on tokio's paused clock: every wait below advances the
//! clock to the next timer, with every task run in between, so the times are exact (up to the
//! resync and retry jitter, which the assertions allow for).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::*;

const DEBOUNCE: Duration = Duration::from_millis(200);
const DEBOUNCE_MAX: Duration = Duration::from_millis(800);
const RESYNC: Duration = Duration::from_secs(100);
const RETRY_MIN: Duration = Duration::from_secs(2);
const RETRY_MAX: Duration = Duration::from_secs(16);

fn timing() -> Timing {
    Timing {
        debounce: DEBOUNCE,
        debounce_max: DEBOUNCE_MAX,
        resync: RESYNC,
        retry_min: RETRY_MIN,
        retry_max: RETRY_MAX,
    }
}

/// A pass the fake engine saw: when it started (since the rig started), why, from what, and
/// whether it ran to its end.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    at: Duration,
    trigger: Trigger,
    desired: u32,
    finished: bool,
}

#[derive(Debug, Default)]
struct Log {
    passes: Vec<Seen>,
    unchanged: usize,
    forgotten: usize,
}

/// Records every call; each pass takes `pass_time` and ends with the next scripted outcome
/// (then `Done` without requeue).
struct Fake {
    log: Arc<Mutex<Log>>,
    outcomes: VecDeque<Outcome>,
    pass_time: Duration,
    t0: Instant,
}

impl Engine for Fake {
    type Input = u32;
    type Desired = u32;
    type Work = ();

    fn desired(&mut self, input: u32) -> (u32, ()) {
        (input, ())
    }

    async fn unchanged(&mut self, _: ()) {
        self.log.lock().unwrap().unchanged += 1;
    }

    async fn pass(&mut self, trigger: Trigger, desired: &u32, _: ()) -> Outcome {
        let i = {
            let mut log = self.log.lock().unwrap();
            log.passes.push(Seen {
                at: self.t0.elapsed(),
                trigger,
                desired: *desired,
                finished: false,
            });
            log.passes.len() - 1
        };
        tokio::time::sleep(self.pass_time).await;
        self.log.lock().unwrap().passes[i].finished = true;
        self.outcomes.pop_front().unwrap_or(Outcome::Done {
            requeue_after: None,
        })
    }

    fn forget(&mut self) {
        self.log.lock().unwrap().forgotten += 1;
    }
}

/// A snapshot channel that counts how often the loop looked at it (a loop that spins would
/// look thousands of times).
struct Counted {
    rx: watch::Receiver<Option<u32>>,
    looks: Arc<AtomicUsize>,
}

impl Source for Counted {
    type Value = u32;

    fn current(&mut self) -> Option<u32> {
        let looks = self.looks.fetch_add(1, Ordering::Relaxed);
        // A spinning loop never lets the paused clock move: fail instead of hanging.
        assert!(looks < 1000, "the loop spins");
        self.rx.current()
    }

    async fn changed(&mut self) -> bool {
        Source::changed(&mut self.rx).await
    }
}

struct Rig {
    input: watch::Sender<Option<u32>>,
    leader: watch::Sender<bool>,
    shutdown: CancellationToken,
    log: Arc<Mutex<Log>>,
    looks: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
    t0: Instant,
}

impl Rig {
    fn start(input: Option<u32>, leading: bool, outcomes: &[Outcome], pass_time: Duration) -> Rig {
        let (input_tx, rx) = watch::channel(input);
        let (leader_tx, leader) = watch::channel(leading);
        let shutdown = CancellationToken::new();
        let log = Arc::new(Mutex::new(Log::default()));
        let looks = Arc::new(AtomicUsize::new(0));
        let t0 = Instant::now();
        let engine = Fake {
            log: log.clone(),
            outcomes: outcomes.iter().copied().collect(),
            pass_time,
            t0,
        };
        let source = Counted {
            rx,
            looks: looks.clone(),
        };
        let task = tokio::spawn(run(engine, timing(), source, leader, shutdown.clone()));
        Rig {
            input: input_tx,
            leader: leader_tx,
            shutdown,
            log,
            looks,
            task,
            t0,
        }
    }

    fn passes(&self) -> Vec<Seen> {
        self.log.lock().unwrap().passes.clone()
    }

    fn triggers(&self) -> Vec<Trigger> {
        self.passes().iter().map(|p| p.trigger).collect()
    }

    /// Advances the paused clock to `t` after the rig started.
    async fn until(&self, t: Duration) {
        tokio::time::sleep_until(self.t0 + t).await;
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.expect("the loop returns on shutdown");
    }
}

fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn done() -> Outcome {
    Outcome::Done {
        requeue_after: None,
    }
}

/// `at` lies within `d` minus the 10% jitter, after `from`.
fn jittered(from: Duration, at: Duration, d: Duration) -> bool {
    at >= from + d.mul_f64(0.9) && at <= from + d
}

#[tokio::test(start_paused = true)]
async fn nothing_runs_before_the_input_and_the_first_pass_is_a_resync() {
    let rig = Rig::start(None, true, &[], Duration::ZERO);
    rig.until(secs(10)).await;
    assert!(rig.passes().is_empty());
    rig.input.send_replace(Some(1));
    rig.until(secs(11)).await;
    let p = rig.passes();
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!((p[0].trigger, p[0].desired), (Trigger::Resync, 1));
    assert_eq!(p[0].at, secs(10) + DEBOUNCE, "after the debounce");
    rig.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_burst_of_changes_is_one_pass_after_the_debounce() {
    let rig = Rig::start(Some(0), true, &[], Duration::ZERO);
    rig.until(secs(1)).await;
    assert_eq!(rig.triggers(), [Trigger::Resync]);
    for (i, t) in [1000, 1050, 1100, 1150].into_iter().enumerate() {
        rig.until(ms(t)).await;
        rig.input.send_replace(Some(i as u32 + 1));
    }
    rig.until(secs(3)).await;
    let p = rig.passes();
    assert_eq!(p.len(), 2, "{p:?}");
    assert_eq!((p[1].trigger, p[1].desired), (Trigger::Change, 4));
    assert_eq!(
        p[1].at,
        ms(1150) + DEBOUNCE,
        "quiet for the debounce after the last"
    );
    rig.stop().await;
}

#[tokio::test(start_paused = true)]
async fn changes_that_never_pause_wait_at_most_the_debounce_max() {
    let rig = Rig::start(Some(0), true, &[], Duration::ZERO);
    rig.until(secs(1)).await;
    // A change every 150 ms from 1 s to 3.85 s: never the debounce's 200 ms of quiet.
    for i in 0..20 {
        rig.until(ms(1000 + 150 * i)).await;
        rig.input.send_replace(Some(i as u32));
    }
    rig.until(secs(5)).await;
    let p = rig.passes();
    let at: Vec<Duration> = p[1..].iter().map(|s| s.at).collect();
    assert_eq!(
        at,
        [ms(1800), ms(2700), ms(3600), ms(4050)],
        "each burst cut at the max after its first change; the last after its quiet: {p:?}"
    );
    assert_eq!(p.last().map(|s| s.desired), Some(19));
    rig.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_change_to_an_equal_desired_state_runs_no_pass() {
    let rig = Rig::start(Some(7), true, &[], Duration::ZERO);
    rig.until(secs(1)).await;
    rig.input.send_replace(Some(7));
    rig.until(secs(2)).await;
    assert_eq!(rig.triggers(), [Trigger::Resync]);
    assert_eq!(rig.log.lock().unwrap().unchanged, 1);
    rig.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_resync_runs_after_the_jittered_period_from_the_end_of_the_last() {
    let pass = Duration::from_secs(3);
    let rig = Rig::start(Some(1), true, &[], pass);
    rig.until(secs(250)).await;
    let p = rig.passes();
    assert_eq!(
        rig.triggers(),
        [Trigger::Resync, Trigger::Resync, Trigger::Resync],
        "{p:?}"
    );
    for w in p.windows(2) {
        assert!(jittered(w[0].at + pass, w[1].at, RESYNC), "{p:?}");
    }
    rig.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_failing_pass_retries_with_backoff_doubling_to_the_cap() {
    let outcomes = [Outcome::Failed; 6];
    let rig = Rig::start(Some(1), true, &outcomes, Duration::ZERO);
    rig.until(secs(80)).await;
    let p = rig.passes();
    assert_eq!(p.len(), 7, "six failures, then a pass that succeeds: {p:?}");
    assert_eq!(p[0].trigger, Trigger::Resync);
    assert!(p[1..].iter().all(|s| s.trigger == Trigger::Retry), "{p:?}");
    let delays = [2, 4, 8, 16, 16, 16].map(Duration::from_secs);
    for (w, d) in p.windows(2).zip(delays) {
        assert!(jittered(w[0].at, w[1].at, d), "{d:?}: {p:?}");
    }
    rig.stop().await;
}

#[tokio::test(start_paused = true)]
async fn the_backoff_starts_again_after_a_pass_that_succeeds() {
    let outcomes = [Outcome::Failed, Outcome::Failed, done(), Outcome::Failed];
    let rig = Rig::start(Some(1), true, &outcomes, Duration::ZERO);
    rig.until(secs(20)).await;
    rig.input.send_replace(Some(2));
    rig.until(secs(40)).await;
    let p = rig.passes();
    assert_eq!(
        rig.triggers(),
        [
            Trigger::Resync,
            Trigger::Retry,
            Trigger::Retry,
            Trigger::Change,
            Trigger::Retry
        ],
        "{p:?}"
    );
    assert!(jittered(p[3].at, p[4].at, RETRY_MIN), "{p:?}");
    rig.stop().await;
}

#[tokio::test(start_paused = true)]
async fn refused_writes_are_retried_and_an_equal_change_still_runs() {
    let refused = Outcome::Refused {
        requeue_after: None,
    };
    let rig = Rig::start(Some(1), true, &[refused, refused], Duration::ZERO);
    rig.until(secs(1)).await;
    // The desired state is what the refused pass had: it is not "unchanged".
    rig.input.send_replace(Some(1));
    rig.until(secs(30)).await;
    let p = rig.passes();
    assert_eq!(
        rig.triggers(),
        [Trigger::Resync, Trigger::Change, Trigger::Retry],
        "{p:?}"
    );
    assert!(jittered(p[1].at, p[2].at, RETRY_MIN * 2), "doubled: {p:?}");
    assert_eq!(rig.log.lock().unwrap().unchanged, 0);
    rig.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_requeue_runs_a_pass_after_the_delay_it_asked_for() {
    let requeue = |s| Outcome::Done {
        requeue_after: Some(Duration::from_secs(s)),
    };
    let refused = Outcome::Refused {
        requeue_after: Some(Duration::from_secs(1)),
    };
    let rig = Rig::start(Some(1), true, &[requeue(5), refused], Duration::ZERO);
    rig.until(secs(60)).await;
    let p = rig.passes();
    // The refused pass's requeue comes first; its success ends the retry too.
    assert_eq!(
        rig.triggers(),
        [Trigger::Resync, Trigger::Requeue, Trigger::Requeue],
        "{p:?}"
    );
    assert_eq!((p[1].at, p[2].at), (secs(5), secs(6)));
    rig.stop().await;
}

#[tokio::test(start_paused = true)]
async fn losing_the_lease_abandons_the_pass_and_nothing_runs_until_it_is_back() {
    let rig = Rig::start(Some(1), true, &[], Duration::from_secs(10));
    rig.until(secs(1)).await;
    rig.leader.send_replace(false);
    rig.until(secs(2)).await;
    let p = rig.passes();
    assert_eq!(p.len(), 1);
    assert!(!p[0].finished, "abandoned: {p:?}");
    assert_eq!(rig.log.lock().unwrap().forgotten, 1);
    // Changes and resync periods go by: nothing runs, and the loop does not spin.
    let looked = rig.looks.load(Ordering::Relaxed);
    for i in 2..5 {
        rig.input.send_replace(Some(i));
        rig.until(RESYNC * i).await;
    }
    assert_eq!(rig.passes().len(), 1);
    let looks = rig.looks.load(Ordering::Relaxed) - looked;
    assert!(looks <= 10, "the standby loop woke {looks} times");
    rig.leader.send_replace(true);
    let back = RESYNC * 4 + secs(1);
    rig.until(back).await;
    let p = rig.passes();
    assert_eq!(p.len(), 2, "{p:?}");
    assert_eq!((p[1].trigger, p[1].desired), (Trigger::Resync, 4));
    assert_eq!(p[1].at, RESYNC * 4, "at once, from a full read");
    rig.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_change_of_leadership_while_idle_forgets_and_resyncs() {
    let rig = Rig::start(Some(1), false, &[], Duration::ZERO);
    rig.until(secs(1)).await;
    assert!(
        rig.passes().is_empty(),
        "a replica that does not lead only watches"
    );
    rig.leader.send_replace(true);
    rig.until(secs(2)).await;
    rig.leader.send_replace(false);
    rig.until(secs(3)).await;
    rig.leader.send_replace(true);
    rig.until(secs(4)).await;
    let p = rig.passes();
    assert_eq!(rig.triggers(), [Trigger::Resync, Trigger::Resync], "{p:?}");
    assert_eq!((p[0].at, p[1].at), (secs(1), secs(3)));
    assert_eq!(rig.log.lock().unwrap().forgotten, 3);
    rig.stop().await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_returns_from_a_pass_in_flight_and_from_waiting() {
    let rig = Rig::start(Some(1), true, &[], Duration::from_secs(10));
    rig.until(secs(1)).await;
    let t = Instant::now();
    rig.shutdown.cancel();
    let log = rig.log.clone();
    rig.task.await.expect("the loop returns");
    assert_eq!(Instant::now(), t, "at once");
    assert!(!log.lock().unwrap().passes[0].finished);

    let rig = Rig::start(Some(1), true, &[], Duration::ZERO);
    rig.until(secs(1)).await;
    rig.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_closed_input_or_leader_channel_ends_the_loop() {
    let rig = Rig::start(Some(1), true, &[], Duration::ZERO);
    rig.until(secs(1)).await;
    drop(rig.input);
    rig.task.await.expect("the loop returns");

    let rig = Rig::start(Some(1), true, &[], Duration::ZERO);
    rig.until(secs(1)).await;
    drop(rig.leader);
    rig.task.await.expect("the loop returns");
}
