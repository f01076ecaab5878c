//! Concurrency: two replicas under leader election, and four clusters sharing one load balancer.

use super::*;

const LEASE: Duration = Duration::from_millis(1000);
const RENEW: Duration = Duration::from_millis(600);
const RETRY: Duration = Duration::from_millis(150);

/// Leadership transitions of every replica as (when, replica, leading).
type Transitions = Arc<Mutex<Vec<(std::time::Instant, usize, bool)>>>;

/// One replica: an elector, a record engine and a geo engine gated by it, its own token.
struct Replica {
    leader: cfgeo::leader::LeaderHandle,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    fp: String,
}

async fn start_replica(
    i: usize,
    emu: &EmulatorHandle,
    kube: &FakeKubeHandle,
    log: &Transitions,
) -> Replica {
    let kc = kube.client().await.unwrap();
    let shutdown = CancellationToken::new();
    let cfg = cfgeo::leader::LeaderConfig {
        lease_duration: LEASE,
        renew_deadline: RENEW,
        retry_period: RETRY,
        ..cfgeo::leader::LeaderConfig::new("default", "cfgeo", format!("replica-{i}"))
    };
    let leader = cfgeo::leader::spawn(kc.clone(), cfg, shutdown.clone());
    {
        let mut rx = leader.subscribe();
        let log = log.clone();
        tokio::spawn(async move {
            loop {
                let v = *rx.borrow_and_update();
                log.lock().unwrap().push((std::time::Instant::now(), i, v));
                if rx.changed().await.is_err() {
                    break;
                }
            }
        });
    }
    let client = Client::new(
        ClientSettings {
            base_url: emu.base_url(),
            backoff_min: Duration::from_millis(10),
            backoff_max: Duration::from_millis(50),
            ..ClientSettings::default()
        },
        TokenSource::Static(ApiToken::new(&format!("cfgeo-replica-{i}-token"))),
    )
    .unwrap();
    let fp = fingerprint_of(emu, &client).await;
    let zone = emu.zone_id("example.com").unwrap();
    let mut rs = record_settings(OWNER);
    // One record group per batch: many writes, so the kill lands mid-apply.
    rs.batch_size = Some(2);
    let inputs = watch_inputs(
        kc.clone(),
        &[SourceKind::Ingress],
        SourceSettings {
            geo_selector: Some(
                cfgeo::sources::selector::LabelSelector::parse(common::SELECTOR).unwrap(),
            ),
            ..source_settings()
        },
        None,
        None,
        shutdown.clone(),
    );
    let zones = resolve_zones(&client, &[zone], &rs.plan.domains)
        .await
        .unwrap();
    let records = RecordEngine::new(client.clone(), rs, zones, Reporter::Log, fast_timing());
    let geo_rx = kube_watch::watch_objects(
        kube::Api::<Ingress>::all(kc.clone()),
        watcher::Config::default().labels(common::SELECTOR),
        shutdown.clone(),
    );
    let geo = GeoEngine::new(
        client,
        settings(emu, "eu", OWNER),
        Reporter::Log,
        fast_timing(),
    );
    let tasks = vec![
        tokio::spawn(records.run(inputs, leader.subscribe(), shutdown.clone())),
        tokio::spawn(geo.run(geo_rx, leader.subscribe(), shutdown.clone())),
    ];
    Replica {
        leader,
        shutdown,
        tasks,
        fp,
    }
}

/// Leadership intervals per replica, from the transition log (open ones end at `end`).
fn intervals(
    log: &[(std::time::Instant, usize, bool)],
    end: std::time::Instant,
) -> Vec<(usize, std::time::Instant, std::time::Instant)> {
    let mut out = Vec::new();
    let mut open: BTreeMap<usize, std::time::Instant> = BTreeMap::new();
    for (at, who, v) in log {
        match (v, open.contains_key(who)) {
            (true, false) => {
                open.insert(*who, *at);
            }
            (false, true) => {
                let from = open.remove(who).unwrap();
                out.push((*who, from, *at));
            }
            _ => {}
        }
    }
    out.extend(open.into_iter().map(|(w, f)| (w, f, end)));
    out
}

#[derive(Default, Debug)]
struct TakeoverFigures {
    writes_by_killed: usize,
    writes_by_successor: usize,
    overlapping_writes: usize,
    interleaved_writes: usize,
    writes_outside_own_leadership: usize,
    takeover_ms: u128,
}

async fn takeover_trial(seed: u64, ev: &mut Evidence) -> TakeoverFigures {
    let mut rng = StdRng::seed_from_u64(seed);
    let emu = emulator_with(1200, Duration::from_secs(300), vec![]).await;
    let zone = emu.zone_id("example.com").unwrap();
    let kube = FakeKube::start().await.expect("fake kube");
    for m in ["POST", "PUT", "PATCH", "DELETE"] {
        emu.inject_fault(FaultSpec::new(
            m,
            "/client/v4/**",
            100_000,
            FaultAction::latency(40),
        ))
        .unwrap();
    }
    let mut hosts: BTreeMap<String, (String, String)> = BTreeMap::new();
    for i in 0..16 {
        let (h, a) = (
            format!("r{i}.example.com"),
            format!("192.0.2.{}", rng.random_range(1..250)),
        );
        kube.apply(plain_ingress(&format!("r{i}"), &[&h], &[&a]));
        hosts.insert(h, (a, format!("ingress/shop/r{i}")));
    }
    kube.apply(ingress("web", "fra1", &["203.0.113.10"]));

    // Calibrate the emulator's clock (ms since it started) against ours.
    let probe = common::client(&emu);
    let t0 = std::time::Instant::now();
    probe.verify_token().await.unwrap();
    let t1 = std::time::Instant::now();
    let p = emu.call_log().last().unwrap().at_ms;
    let emu_lo = t0 - Duration::from_millis(p);
    let emu_hi = t1 - Duration::from_millis(p) + Duration::from_millis(1);

    let log: Transitions = Arc::default();
    let replicas = vec![
        start_replica(0, &emu, &kube, &log).await,
        start_replica(1, &emu, &kube, &log).await,
    ];
    let leader = tokio::time::timeout(T, async {
        loop {
            if let Some(i) = replicas.iter().position(|r| r.leader.is_leader()) {
                return i;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("a replica leads");
    let other = 1 - leader;
    // Kill the leader after its k-th write, mid-apply.
    let k = rng.random_range(1..=8);
    let fp_leader = replicas[leader].fp.clone();
    let reached = wait_for(T, || {
        calls_of(&emu, &fp_leader)
            .iter()
            .filter(|c| is_write(c))
            .count()
            >= k
    })
    .await;
    assert!(reached, "the leader made {k} writes");
    replicas[leader].leader.abort();
    replicas[leader].shutdown.cancel();
    let killed_at = std::time::Instant::now();

    // The desired state changes while nobody leads.
    for i in 0..3 {
        kube.delete(
            "networking.k8s.io/v1",
            "Ingress",
            Some("shop"),
            &format!("r{i}"),
        );
        hosts.remove(&format!("r{i}.example.com"));
    }
    for i in 16..22 {
        let (h, a) = (
            format!("r{i}.example.com"),
            format!("198.51.100.{}", rng.random_range(1..250)),
        );
        kube.apply(plain_ingress(&format!("r{i}"), &[&h], &[&a]));
        hosts.insert(h, (a, format!("ingress/shop/r{i}")));
    }
    let geo_addr = format!("203.0.113.{}", rng.random_range(100..250));
    kube.set_status(
        "networking.k8s.io/v1",
        "Ingress",
        Some("shop"),
        "web",
        status(&[&geo_addr]),
    );
    let want = desired_records(OWNER, &hosts);
    let converged = wait_for(T, || {
        record_set(&emu, &zone) == want
            && pools(&emu).get("k8s-pool-fra1-eu") == Some(&vec![(geo_addr.clone(), true)])
            && lb_pool_names(&emu, "app.example.com") == Some(vec!["k8s-pool-fra1-eu".into()])
    })
    .await;
    ev.check(
        converged,
        "the surviving replica took over and the state converged (records and pool/LB equal the desired state)",
        format!("records {:?}", record_set(&emu, &zone)),
    );
    let taken_over = log
        .lock()
        .unwrap()
        .iter()
        .find(|(at, who, v)| *who == other && *v && *at > killed_at)
        .map(|(at, _, _)| *at);
    ev.check(
        taken_over.is_some(),
        "the other replica became leader after the kill",
        "it never led",
    );

    let end = std::time::Instant::now();
    let spans = intervals(&log.lock().unwrap(), end);
    let all = emu.call_log();
    let writes: Vec<(usize, &CallRecord)> = all
        .iter()
        .filter(|c| is_write(c))
        .filter_map(|c| {
            let who = replicas
                .iter()
                .position(|r| c.token_fingerprint.as_deref() == Some(&r.fp))?;
            Some((who, c))
        })
        .collect();
    let mut f = TakeoverFigures {
        takeover_ms: taken_over.map_or(0, |t| (t - killed_at).as_millis()),
        ..Default::default()
    };
    for (who, c) in &writes {
        // The arrival, as an interval on our clock (calibration uncertainty included).
        let lo = emu_lo + Duration::from_millis(c.at_ms);
        let hi = emu_hi + Duration::from_millis(c.at_ms + 1);
        if *who == leader {
            f.writes_by_killed += 1;
        } else {
            f.writes_by_successor += 1;
        }
        // Counted as an overlap when it may have arrived while the other replica led.
        if spans
            .iter()
            .any(|(w, from, to)| w != who && lo <= *to && hi >= *from)
        {
            f.overlapping_writes += 1;
        }
        // Our observer timestamps a transition when it gets to run, which may be a little
        // after the engine saw it: 50 ms of slack on both ends.
        let slack = Duration::from_millis(50);
        if !spans
            .iter()
            .any(|(w, from, to)| w == who && hi + slack >= *from && lo <= *to + slack)
        {
            f.writes_outside_own_leadership += 1;
        }
    }
    let first_successor = writes.iter().find(|(w, _)| *w == other).map(|(_, c)| c.seq);
    f.interleaved_writes = writes
        .iter()
        .filter(|(w, c)| *w == leader && first_successor.is_some_and(|s| c.seq > s))
        .count();
    ev.check(
        f.overlapping_writes == 0,
        "two writers never overlapped: no write by one replica arrived while the other held leadership (per the recorded transitions)",
        format!("{f:?}"),
    );
    ev.check(
        f.interleaved_writes == 0,
        "write windows never interleaved: the killed leader wrote nothing after the successor's first write",
        format!("{f:?}"),
    );
    ev.check(
        f.writes_outside_own_leadership == 0,
        "each replica wrote only while its own elector said it led (50 ms of observer slack)",
        format!("{f:?}"),
    );
    ev.check(
        f.writes_by_killed >= k && f.writes_by_successor > 0,
        "both replicas wrote (the kill landed mid-apply and the successor finished the work)",
        format!("{f:?}"),
    );
    for r in replicas {
        r.shutdown.cancel();
        for t in r.tasks {
            let _ = tokio::time::timeout(T, t).await;
        }
    }
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_leader_takeover() {
    let mut ev = Evidence::new(
        "concurrency_leader_takeover",
        "Two replicas of one cluster under leader election; the leader is killed mid-apply",
    );
    ev.injected(
        "two replicas (own Cloudflare token each) run the record synchronizer and the geo engine, gated by leader election on one fake API server (lease 1 s, renew deadline 0.6 s); 40 ms latency on every Cloudflare write, one record group per batch",
    );
    ev.injected(
        "the leader is killed (elector aborted without releasing the Lease, engines cancelled) after a random 1..8 writes; the desired state then changes (3 deletions, 6 creations, a new geo address)",
    );
    let trials = by_profile(2, 8);
    let mut figs = Vec::new();
    for t in 0..trials {
        figs.push(takeover_trial(500 + t as u64, &mut ev).await);
        ev.trials += 1;
    }
    let sum = |f: fn(&TakeoverFigures) -> usize| figs.iter().map(f).sum::<usize>();
    ev.figure("overlapping_writes", sum(|f| f.overlapping_writes));
    ev.figure("interleaved_writes", sum(|f| f.interleaved_writes));
    ev.figure(
        "writes_outside_own_leadership",
        sum(|f| f.writes_outside_own_leadership),
    );
    ev.figure("writes_by_killed_leaders", sum(|f| f.writes_by_killed));
    ev.figure("writes_by_successors", sum(|f| f.writes_by_successor));
    ev.figure(
        "max_ms_kill_to_takeover",
        figs.iter().map(|f| f.takeover_ms).max().unwrap_or(0) as u64,
    );
    ev.write();
}

/// Four geo engines with their own API
/// servers share one emulated account, flip addresses at random, and the LB is sampled every
/// 2 ms after it settles. Returns (samples, samples with a pool lost).
async fn four_clusters(seed: u64, flips: usize) -> (usize, usize) {
    const REGIONS: [(&str, &str); 4] = [
        ("eu", "fra1"),
        ("us_east", "nyc1"),
        ("us_west", "lax1"),
        ("asia", "tyo1"),
    ];
    let emu = Arc::new(common::emulator().await);
    emu.inject_fault(FaultSpec::new(
        "*",
        "/client/v4/**",
        100_000,
        FaultAction::latency(5),
    ))
    .unwrap();
    let mut clusters = Vec::new();
    for (region, cluster) in REGIONS {
        let c = common::start_cluster(
            &emu,
            settings(&emu, region, &format!("owner-{region}")),
            fast_timing(),
        )
        .await;
        c.kube.apply(ingress("web", cluster, &["198.51.100.1"]));
        clusters.push((region, cluster, c));
    }
    let mut all: Vec<String> = REGIONS
        .iter()
        .map(|(r, c)| format!("k8s-pool-{c}-{r}"))
        .collect();
    all.sort();
    let settled = move |emu: &EmulatorHandle| {
        lb_pool_names(emu, "app.example.com").is_some_and(|mut l| {
            l.sort();
            l == all
        })
    };
    eventually("first settle", T, || settled(&emu)).await;
    // From here on, a sample of the LB with fewer than four pools is a lost pool.
    let sampler = {
        let emu = emu.clone();
        Sampler::start(move || lb_pool_names(&emu, "app.example.com").map_or(0, |l| l.len()) == 4)
    };
    let mut rng = StdRng::seed_from_u64(seed);
    let mut live: BTreeMap<String, String> = BTreeMap::new();
    for _ in 0..flips {
        let i = rng.random_range(0..clusters.len());
        let addr = format!("198.51.100.{}", rng.random_range(2..250));
        let (region, cluster, c) = &clusters[i];
        c.kube.set_status(
            "networking.k8s.io/v1",
            "Ingress",
            Some("shop"),
            "web",
            status(&[&addr]),
        );
        live.insert(format!("k8s-pool-{cluster}-{region}"), addr);
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..20))).await;
    }
    eventually("live addresses everywhere", T, || {
        let p = pools(&emu);
        live.iter()
            .all(|(pool, addr)| p.get(pool) == Some(&vec![(addr.clone(), true)]))
            && settled(&emu)
    })
    .await;
    let (samples, lost) = sampler.finish().await;
    for (_, _, c) in &clusters {
        c.shutdown.cancel();
    }
    (samples, lost)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_four_clusters() {
    let mut ev = Evidence::new(
        "concurrency_four_clusters",
        "Four clusters (eu, us_east, us_west, asia) share one load balancer",
    );
    ev.injected(
        "four geo engines, each with its own fake API server and owner id, share one emulated account with 5 ms latency on every call; 50 random address flips per seed",
    );
    let seeds: Vec<u64> = by_profile((1..=3).collect(), (1..=12).collect());
    let (mut samples, mut lost, mut runs_losing) = (0, 0, 0);
    for seed in &seeds {
        let (s, l) = four_clusters(*seed, 50).await;
        samples += s;
        lost += l;
        runs_losing += usize::from(l > 0);
        ev.trials += 1;
    }
    ev.check(
        lost == 0,
        "pools lost: 0 (no sample of the LB after it settled lacked one of the four pools)",
        format!("{lost} samples lacked a pool in {runs_losing} runs"),
    );
    ev.figure("seeds", seeds.len());
    ev.figure("lb_samples_after_settling", samples);
    ev.figure("samples_with_a_pool_lost", lost);
    ev.figure("runs_losing_a_pool", runs_losing);
    ev.write();
}
