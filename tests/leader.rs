//! Leader election's timing against the fake API server, whose latency the test controls: one
//! leader at a time, takeover no earlier than the lease allows, handover within half a lease,
//! and stepping down when every Lease request fails. A real Lease on a real kube-apiserver is
//! in `tests/real_kube.rs` (one writer at a time, takeover after the leader is killed).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cfgeo::leader::{self, LeaderConfig, LeaderHandle};
use fake_kube::{FakeKube, FakeKubeHandle};
use k8s_openapi::api::coordination::v1::Lease;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const LEASE: Duration = Duration::from_millis(1000);
const RENEW: Duration = Duration::from_millis(600);
const RETRY: Duration = Duration::from_millis(150);
/// The retry period with its maximum jitter (+20%).
const RETRY_MAX: Duration = Duration::from_millis(180);
/// Allowance for timers, scheduling and a few local HTTP round trips.
const SLACK: Duration = Duration::from_millis(150);
/// Upper bound for waits that have no deadline of their own.
const WAIT: Duration = Duration::from_secs(10);
const NS: &str = "default";
const NAME: &str = "cfgeo-leader";

fn config(identity: &str) -> LeaderConfig {
    LeaderConfig {
        lease_duration: LEASE,
        renew_deadline: RENEW,
        retry_period: RETRY,
        ..LeaderConfig::new(NS, NAME, identity)
    }
}

/// One replica: its elector, its own shutdown token, and a log of its transitions.
struct Replica {
    id: &'static str,
    handle: LeaderHandle,
    shutdown: CancellationToken,
}

impl Replica {
    async fn start(fake: &FakeKubeHandle, id: &'static str, log: &Log) -> Self {
        let client = fake.client().await.expect("kube client");
        let shutdown = CancellationToken::new();
        let handle = leader::spawn(client, config(id), shutdown.clone());
        log.follow(id, handle.subscribe());
        Self {
            id,
            handle,
            shutdown,
        }
    }

    fn rx(&self) -> watch::Receiver<bool> {
        self.handle.subscribe()
    }
}

/// Waits until `rx` says `want`, failing after `within`; returns the time waited.
async fn wait_for(
    rx: &mut watch::Receiver<bool>,
    want: bool,
    within: Duration,
    what: &str,
) -> Duration {
    let start = Instant::now();
    tokio::time::timeout(within, rx.wait_for(|v| *v == want))
        .await
        .unwrap_or_else(|_| panic!("{what}: not {want} within {within:?}"))
        .expect("elector channel open");
    start.elapsed()
}

/// Waits until one of the replicas leads and returns its index.
async fn first_leader(replicas: &[&Replica]) -> usize {
    let waits = replicas.iter().enumerate().map(|(i, r)| {
        let mut rx = r.rx();
        Box::pin(async move {
            let _ = rx.wait_for(|v| *v).await;
            i
        })
    });
    tokio::time::timeout(WAIT, futures::future::select_all(waits))
        .await
        .expect("someone leads")
        .0
}

fn lease(fake: &FakeKubeHandle) -> Lease {
    fake.get_resource(Some(NS), NAME).expect("lease exists")
}

fn holder(fake: &FakeKubeHandle) -> Option<String> {
    lease(fake).spec.and_then(|s| s.holder_identity)
}

fn transitions(fake: &FakeKubeHandle) -> i32 {
    lease(fake)
        .spec
        .and_then(|s| s.lease_transitions)
        .unwrap_or_default()
}

/// When a replica's channel changed, which replica, and to what.
type Transition = (Instant, &'static str, bool);

/// Every leadership transition of every replica, timestamped as it was received.
#[derive(Clone, Default)]
struct Log {
    events: Arc<Mutex<Vec<Transition>>>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Log {
    fn follow(&self, id: &'static str, mut rx: watch::Receiver<bool>) {
        let events = Arc::clone(&self.events);
        let task = tokio::spawn(async move {
            loop {
                let v = *rx.borrow_and_update();
                events.lock().unwrap().push((Instant::now(), id, v));
                if rx.changed().await.is_err() {
                    break;
                }
            }
        });
        self.tasks.lock().unwrap().push(task);
    }

    fn acquisitions(&self, id: &str) -> usize {
        let events = self.events.lock().unwrap();
        let mut last = false;
        let mut n = 0;
        for (_, who, v) in events.iter().filter(|(_, who, _)| *who == id) {
            debug_assert_eq!(*who, id);
            if *v && !last {
                n += 1;
            }
            last = *v;
        }
        n
    }

    /// Pairs of leadership intervals of different replicas that intersect.
    fn overlaps(&self) -> usize {
        let events = self.events.lock().unwrap().clone();
        let end = Instant::now();
        let mut intervals: Vec<(&str, Instant, Instant)> = Vec::new();
        let mut open: Vec<(&str, Instant)> = Vec::new();
        for (at, id, v) in events {
            let pos = open.iter().position(|(who, _)| *who == id);
            match (v, pos) {
                (true, None) => open.push((id, at)),
                (false, Some(i)) => {
                    let (who, from) = open.remove(i);
                    intervals.push((who, from, at));
                }
                _ => {}
            }
        }
        intervals.extend(open.into_iter().map(|(who, from)| (who, from, end)));
        let mut n = 0;
        for (i, a) in intervals.iter().enumerate() {
            for b in &intervals[i + 1..] {
                if a.0 != b.0 && a.1 < b.2 && b.1 < a.2 {
                    n += 1;
                }
            }
        }
        n
    }

    fn stop(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

/// What sampling the replicas' channels saw.
#[derive(Debug, Default)]
struct Samples {
    taken: usize,
    /// Samples with more than one leader.
    overlaps: usize,
    /// Samples with at least one leader.
    led: usize,
}

/// Samples the replicas' channels every few ms until `until`.
async fn sample(replicas: &[watch::Receiver<bool>], until: Instant) -> Samples {
    let mut tick = tokio::time::interval(Duration::from_millis(3));
    let mut seen = Samples::default();
    while Instant::now() < until {
        tick.tick().await;
        let leading = replicas.iter().filter(|rx| *rx.borrow()).count();
        seen.taken += 1;
        seen.overlaps += usize::from(leading > 1);
        seen.led += usize::from(leading > 0);
    }
    seen
}

async fn stop(replicas: Vec<Replica>) {
    for r in replicas {
        r.shutdown.cancel();
        tokio::time::timeout(WAIT, r.handle.join())
            .await
            .expect("elector stops");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_never_lead_together() {
    let fake = FakeKube::start().await.unwrap();
    let log = Log::default();
    let a = Replica::start(&fake, "replica-a", &log).await;
    let b = Replica::start(&fake, "replica-b", &log).await;

    let seen = sample(&[a.rx(), b.rx()], Instant::now() + Duration::from_secs(3)).await;
    let (samples, sampled_overlaps) = (seen.taken, seen.overlaps);
    let leaders: Vec<&str> = [&a, &b]
        .iter()
        .filter(|r| r.handle.is_leader())
        .map(|r| r.id)
        .collect();
    let overlaps = log.overlaps();
    println!(
        "two replicas: {samples} samples, {sampled_overlaps} sampled overlaps, \
         {overlaps} transition overlaps, acquisitions a={} b={}",
        log.acquisitions("replica-a"),
        log.acquisitions("replica-b"),
    );
    assert_eq!(sampled_overlaps, 0);
    assert_eq!(overlaps, 0);
    assert_eq!(leaders.len(), 1, "exactly one leader: {leaders:?}");
    assert_eq!(
        log.acquisitions("replica-a") + log.acquisitions("replica-b"),
        1,
        "leadership never moved without a fault"
    );
    assert_eq!(holder(&fake).as_deref(), Some(leaders[0]));
    assert_eq!(transitions(&fake), 0, "created by its first holder");
    assert_eq!(
        lease(&fake).spec.and_then(|s| s.lease_duration_seconds),
        Some(1)
    );

    log.stop();
    stop(vec![a, b]).await;
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn crashed_leader_is_replaced_after_the_lease_expires() {
    let fake = FakeKube::start().await.unwrap();
    let log = Log::default();
    let a = Replica::start(&fake, "replica-a", &log).await;
    let b = Replica::start(&fake, "replica-b", &log).await;
    let (leader, other) = if first_leader(&[&a, &b]).await == 0 {
        (a, b)
    } else {
        (b, a)
    };
    // Let a few renews go by so the follower has observed a live holder.
    let settle = sample(&[leader.rx(), other.rx()], Instant::now() + RENEW).await;
    assert_eq!(settle.overlaps, 0);

    let crashed_at = Instant::now();
    leader.handle.abort();
    let mut crashed_rx = leader.rx();
    wait_for(&mut crashed_rx, false, SLACK, "aborted elector").await;
    assert_eq!(holder(&fake).as_deref(), Some(leader.id), "not released");

    let mut rx = other.rx();
    wait_for(&mut rx, true, LEASE + RETRY_MAX + SLACK, "takeover").await;
    let took = crashed_at.elapsed();
    println!(
        "crash: takeover after {took:?} (lease {LEASE:?}, retry {RETRY:?}), {} overlaps",
        log.overlaps()
    );
    // The follower waited out the lease measured from its last sight of a renew.
    assert!(
        took >= LEASE - RETRY_MAX - Duration::from_millis(20),
        "took over too early: {took:?}"
    );
    assert_eq!(log.overlaps(), 0);
    assert_eq!(holder(&fake).as_deref(), Some(other.id));
    assert_eq!(transitions(&fake), 1, "takeover counted");

    log.stop();
    stop(vec![other]).await;
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn graceful_shutdown_hands_over_quickly() {
    let fake = FakeKube::start().await.unwrap();
    let log = Log::default();
    let a = Replica::start(&fake, "replica-a", &log).await;
    let b = Replica::start(&fake, "replica-b", &log).await;
    let (leader, other) = if first_leader(&[&a, &b]).await == 0 {
        (a, b)
    } else {
        (b, a)
    };
    let settle = sample(&[leader.rx(), other.rx()], Instant::now() + RENEW).await;
    assert_eq!(settle.overlaps, 0);

    let started = Instant::now();
    leader.shutdown.cancel();
    let mut rx = other.rx();
    // Released: the follower needs one retry, not the lease duration.
    let took = wait_for(&mut rx, true, LEASE / 2, "handover").await;
    tokio::time::timeout(WAIT, leader.handle.join())
        .await
        .expect("old leader stops");
    println!(
        "graceful: handover after {:?} (lease {LEASE:?}), {} overlaps",
        started.elapsed(),
        log.overlaps()
    );
    assert!(took < LEASE / 2);
    assert_eq!(log.overlaps(), 0);
    assert_eq!(holder(&fake).as_deref(), Some(other.id));
    assert_eq!(transitions(&fake), 1);

    log.stop();
    stop(vec![other]).await;
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leader_steps_down_when_the_api_server_fails() {
    let fake = FakeKube::start().await.unwrap();
    let log = Log::default();
    let a = Replica::start(&fake, "replica-a", &log).await;
    let b = Replica::start(&fake, "replica-b", &log).await;
    let (leader, other) = if first_leader(&[&a, &b]).await == 0 {
        (a, b)
    } else {
        (b, a)
    };

    fake.fail_next_requests("leases", 1_000_000);
    let failing_since = Instant::now();
    let mut rx = leader.rx();
    // The last success started before the faults, so the deadline ends within RENEW of now.
    let took = wait_for(&mut rx, false, RENEW + SLACK, "step down").await;
    println!("api failure: stepped down after {took:?} (renew deadline {RENEW:?})");
    assert!(!other.handle.is_leader(), "nobody can renew or acquire");

    // Still nobody leads while the API server refuses everything.
    let seen = sample(
        &[leader.rx(), other.rx()],
        failing_since + LEASE + RETRY_MAX * 2,
    )
    .await;
    assert!(!leader.handle.is_leader() && !other.handle.is_leader());
    assert_eq!(seen.led, 0, "{seen:?}");

    fake.fail_next_requests("leases", 0);
    let back = first_leader(&[&leader, &other]).await;
    println!(
        "api recovered: {} leads, {} overlaps",
        [&leader, &other][back].id,
        log.overlaps()
    );
    assert_eq!(log.overlaps(), 0);

    log.stop();
    stop(vec![leader, other]).await;
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leader_steps_down_when_another_writer_takes_the_lease() {
    let fake = FakeKube::start().await.unwrap();
    let log = Log::default();
    let a = Replica::start(&fake, "replica-a", &log).await;
    let mut rx = a.rx();
    wait_for(&mut rx, true, WAIT, "leads alone").await;
    let updates = fake.request_count("update", "leases");

    // Someone else writes the Lease: the renew from the cached copy gets 409, the re-read
    // shows a live foreign holder, and the replica steps down without waiting for its deadline.
    fake.merge_patch(
        "coordination.k8s.io/v1",
        "Lease",
        Some(NS),
        NAME,
        &serde_json::json!({"spec": {"holderIdentity": "intruder"}}),
    )
    .expect("lease patched");
    let took = wait_for(&mut rx, false, RETRY_MAX * 2 + SLACK, "step down").await;
    println!("intruder: stepped down after {took:?}");
    assert!(fake.request_count("update", "leases") > updates);
    assert_eq!(holder(&fake).as_deref(), Some("intruder"));

    // The intruder never renews, so its claim runs out and the replica takes the Lease back.
    wait_for(&mut rx, true, LEASE + RETRY_MAX * 2 + SLACK, "retake").await;
    assert_eq!(holder(&fake).as_deref(), Some("replica-a"));
    assert_eq!(transitions(&fake), 1);

    log.stop();
    stop(vec![a]).await;
    fake.shutdown().await;
}

#[tokio::test]
async fn defaults_and_validation() {
    let cfg = LeaderConfig::new(NS, NAME, "me");
    assert_eq!(cfg.lease_duration, Duration::from_secs(15));
    assert_eq!(cfg.renew_deadline, Duration::from_secs(10));
    assert_eq!(cfg.retry_period, Duration::from_secs(2));
    cfg.validate().expect("defaults are valid");
    config("me").validate().expect("test settings are valid");
    let bad = LeaderConfig {
        renew_deadline: Duration::from_secs(15),
        ..cfg.clone()
    };
    assert!(bad.validate().is_err());
    let bad = LeaderConfig {
        identity: String::new(),
        ..cfg
    };
    assert!(bad.validate().is_err());
}
