//! Cloudflare faults through the emulator (429, 5xx, dropped connections, timeouts), both engines.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CfFault {
    RateLimitStorm,
    ServerErrors,
    Latency,
    DroppedConnections,
}

const RETRY_AFTER_SECS: u64 = 1;
/// Address changes made while the faults are active (the last one is the desired state).
const FLIPS: usize = 8;

impl CfFault {
    const ALL: [CfFault; 4] = [
        CfFault::RateLimitStorm,
        CfFault::ServerErrors,
        CfFault::Latency,
        CfFault::DroppedConnections,
    ];

    fn describe(self) -> &'static str {
        match self {
            CfFault::RateLimitStorm => {
                "429 storm: the next 5 calls (any method) answer 429 with Retry-After: 1"
            }
            CfFault::ServerErrors => {
                "5xx bursts: the next 4 calls answer 500, then 4 answer 502, then 4 answer 503"
            }
            CfFault::Latency => "latency: the next 4 calls are held 2 s before being handled",
            CfFault::DroppedConnections => {
                "dropped connections: the next 8 calls are closed without an HTTP answer"
            }
        }
    }

    fn specs(self) -> Vec<FaultSpec> {
        let any = |n, a| FaultSpec::new("*", "/client/v4/**", n, a);
        match self {
            CfFault::RateLimitStorm => vec![any(5, FaultAction::rate_limited(RETRY_AFTER_SECS))],
            CfFault::ServerErrors => vec![
                any(4, FaultAction::status(500)),
                any(4, FaultAction::status(502)),
                any(4, FaultAction::status(503)),
            ],
            CfFault::Latency => vec![any(4, FaultAction::latency(2000))],
            CfFault::DroppedConnections => vec![any(8, FaultAction::drop_connection())],
        }
    }

    fn count(self) -> usize {
        self.specs().iter().map(|s| s.count as usize).sum()
    }
}

/// Per-trial figures shared by both engines.
#[derive(Default, Debug)]
struct CfFigures {
    calls: usize,
    faulted: usize,
    max_in_window: usize,
    genuine_429: usize,
    retry_after_violations: usize,
    converge_ms: u128,
    limit: usize,
}

/// Checks the invariants common to both engines on cfgeo's calls and returns the figures.
fn cf_invariants(
    ev: &mut Evidence,
    kind: CfFault,
    calls: &[CallRecord],
    converge_ms: u128,
    limit: u32,
) -> CfFigures {
    let max = max_in_window(calls, WINDOW.as_millis() as u64);
    ev.check(
        max <= limit as usize,
        format!(
            "cfgeo never exceeded its budget: no {} s window of the emulator's call log holds more than the budget ({limit}) of requests with cfgeo's token",
            WINDOW.as_secs()
        ),
        format!("a window held {max}"),
    );
    let genuine_429 = calls
        .iter()
        .filter(|c| c.status == Some(429) && c.fault.is_none())
        .count();
    ev.check(
        genuine_429 == 0,
        "the emulator's own rate limit (same limit and window) never refused cfgeo",
        format!("{genuine_429} genuine 429s"),
    );
    let faulted = calls.iter().filter(|c| c.fault.is_some()).count();
    ev.check(
        faulted == kind.count(),
        "every injected fault reached cfgeo (it kept calling through the faults)",
        format!("{faulted} of {}", kind.count()),
    );
    let mut violations = 0;
    if kind == CfFault::RateLimitStorm {
        // After a 429 with Retry-After: 1, the whole client pauses: no call may arrive between
        // shortly after the 429 (requests already in flight) and the end of the pause.
        let quiet_from = 300;
        let quiet_to = RETRY_AFTER_SECS * 1000 - 100;
        for c in calls.iter().filter(|c| c.status == Some(429)) {
            violations += calls
                .iter()
                .filter(|d| d.at_ms >= c.at_ms + quiet_from && d.at_ms < c.at_ms + quiet_to)
                .count();
        }
        ev.check(
            violations == 0,
            "Retry-After was honoured: no call arrived from 0.3 s to 0.9 s after any 429 with Retry-After: 1",
            format!("{violations} calls inside a pause"),
        );
    }
    CfFigures {
        calls: calls.len(),
        faulted,
        max_in_window: max,
        genuine_429,
        retry_after_violations: violations,
        converge_ms,
        limit: limit as usize,
    }
}

async fn geo_cf_trial(kind: CfFault, seed: u64, ev: &mut Evidence) -> CfFigures {
    let mut rng = StdRng::seed_from_u64(seed);
    let emu = emulator_with(GEO_LIMIT, WINDOW, vec![]).await;
    let kube = FakeKube::start().await.expect("fake kube");
    let client = budget_client(&emu, &format!("cfgeo-faults-geo-{seed}"), GEO_LIMIT);
    let fp = fingerprint_of(&emu, &client).await;
    let run = spawn_geo(
        kube.client().await.unwrap(),
        client,
        settings(&emu, "eu", OWNER),
        fast_timing(),
    );
    let a1 = format!("203.0.113.{}", rng.random_range(1..100));
    kube.apply(ingress("web", "fra1", &[&a1]));
    eventually("first pool and LB", T, || {
        lb_pool_names(&emu, "app.example.com") == Some(vec!["k8s-pool-fra1-eu".into()])
    })
    .await;

    for s in kind.specs() {
        emu.inject_fault(s).unwrap();
    }
    // Changes made while the faults are active: an address change and a new cluster pool.
    // Address flips keep demand above the budget, so the sliding-window check is exercised.
    let b1 = format!("198.51.100.{}", rng.random_range(1..200));
    kube.apply(ingress("web2", "ams1", &[&b1]));
    let mut a2 = String::new();
    for _ in 0..FLIPS {
        a2 = format!("203.0.113.{}", rng.random_range(100..200));
        kube.set_status(
            "networking.k8s.io/v1",
            "Ingress",
            Some("shop"),
            "web",
            status(&[&a2]),
        );
        tokio::time::sleep(Duration::from_millis(rng.random_range(20..120))).await;
    }
    let consumed = wait_for(Duration::from_secs(60), || {
        calls_of(&emu, &fp)
            .iter()
            .filter(|c| c.fault.is_some())
            .count()
            >= kind.count()
    })
    .await;
    ev.check(
        consumed,
        "cfgeo kept calling until every injected fault was used up",
        "faults left unused after 60 s",
    );
    let faults_over = Instant::now();
    let want: BTreeMap<String, Vec<(String, bool)>> = [
        ("k8s-pool-fra1-eu".to_string(), vec![(a2.clone(), true)]),
        ("k8s-pool-ams1-eu".to_string(), vec![(b1.clone(), true)]),
    ]
    .into();
    let converged = wait_for(T, || {
        pools(&emu) == want
            && lb_pool_names(&emu, "app.example.com")
                == Some(vec!["k8s-pool-ams1-eu".into(), "k8s-pool-fra1-eu".into()])
    })
    .await;
    let converge_ms = faults_over.elapsed().as_millis();
    ev.check(
        converged,
        "converged to the desired pools and LB once the faults stopped",
        format!(
            "pools {:?}, LB {:?}",
            pools(&emu),
            lb_pool_names(&emu, "app.example.com")
        ),
    );
    run.stop(ev).await;
    cf_invariants(ev, kind, &calls_of(&emu, &fp), converge_ms, GEO_LIMIT)
}

async fn records_cf_trial(kind: CfFault, seed: u64, ev: &mut Evidence) -> CfFigures {
    let mut rng = StdRng::seed_from_u64(seed);
    let emu = emulator_with(RECORDS_LIMIT, WINDOW, vec![]).await;
    let zone = emu.zone_id("example.com").unwrap();
    let kube = FakeKube::start().await.expect("fake kube");
    let client = budget_client(&emu, &format!("cfgeo-faults-records-{seed}"), RECORDS_LIMIT);
    let fp = fingerprint_of(&emu, &client).await;
    let mut hosts: BTreeMap<String, (String, String)> = BTreeMap::new();
    for i in 0..4 {
        let h = format!("h{i}.example.com");
        let a = format!("192.0.2.{}", rng.random_range(1..250));
        kube.apply(plain_ingress(&format!("web{i}"), &[&h], &[&a]));
        hosts.insert(h, (a, format!("ingress/shop/web{i}")));
    }
    let run = spawn_records(
        kube.client().await.unwrap(),
        client,
        &zone,
        record_settings(OWNER),
        &[SourceKind::Ingress],
    )
    .await;
    eventually("first records", T, || {
        record_set(&emu, &zone) == desired_records(OWNER, &hosts)
    })
    .await;

    for s in kind.specs() {
        emu.inject_fault(s).unwrap();
    }
    // Changes during the faults: an update, a deletion and a creation.
    for _ in 0..FLIPS {
        let a0 = format!("198.51.100.{}", rng.random_range(1..250));
        kube.set_status(
            "networking.k8s.io/v1",
            "Ingress",
            Some("shop"),
            "web0",
            status(&[&a0]),
        );
        hosts.get_mut("h0.example.com").unwrap().0 = a0;
        tokio::time::sleep(Duration::from_millis(rng.random_range(20..120))).await;
    }
    kube.delete("networking.k8s.io/v1", "Ingress", Some("shop"), "web1");
    hosts.remove("h1.example.com");
    let a4 = format!("198.51.100.{}", rng.random_range(1..250));
    kube.apply(plain_ingress("web4", &["h4.example.com"], &[&a4]));
    hosts.insert("h4.example.com".into(), (a4, "ingress/shop/web4".into()));

    let consumed = wait_for(Duration::from_secs(60), || {
        calls_of(&emu, &fp)
            .iter()
            .filter(|c| c.fault.is_some())
            .count()
            >= kind.count()
    })
    .await;
    ev.check(
        consumed,
        "cfgeo kept calling until every injected fault was used up",
        "faults left unused after 60 s",
    );
    let faults_over = Instant::now();
    let want = desired_records(OWNER, &hosts);
    let converged = wait_for(T, || record_set(&emu, &zone) == want).await;
    let converge_ms = faults_over.elapsed().as_millis();
    ev.check(
        converged,
        "converged to the desired records (A and ownership TXT) once the faults stopped",
        format!("have {:?}, want {want:?}", record_set(&emu, &zone)),
    );
    run.stop(ev).await;
    cf_invariants(ev, kind, &calls_of(&emu, &fp), converge_ms, RECORDS_LIMIT)
}

fn cf_evidence_figures(
    ev: &mut Evidence,
    per_kind: &BTreeMap<&'static str, Vec<CfFigures>>,
    limit: u32,
) {
    let mut max_window = 0;
    let mut saturated = 0;
    for (kind, figs) in per_kind {
        // The client leaves a reserve for other processes on the token (cloudflare::reserve).
        saturated += figs
            .iter()
            .filter(|f| {
                f.max_in_window + cfgeo::cloudflare::reserve(f.limit as u32) as usize >= f.limit
            })
            .count();
        max_window = max_window.max(figs.iter().map(|f| f.max_in_window).max().unwrap_or(0));
        ev.figure(
            kind,
            json!({
                "trials": figs.len(),
                "calls": figs.iter().map(|f| f.calls).sum::<usize>(),
                "faults_served": figs.iter().map(|f| f.faulted).sum::<usize>(),
                "max_requests_in_any_window": figs.iter().map(|f| f.max_in_window).max(),
                "genuine_429": figs.iter().map(|f| f.genuine_429).sum::<usize>(),
                "calls_inside_retry_after_pause": figs.iter().map(|f| f.retry_after_violations).sum::<usize>(),
                "max_ms_to_converge_after_faults": figs.iter().map(|f| f.converge_ms).max(),
            }),
        );
    }
    ev.figure(
        "budget",
        format!("{limit} requests per {} s window", WINDOW.as_secs()),
    );
    ev.figure("max_requests_in_any_window_overall", max_window);
    ev.figure("trials_that_used_the_whole_budget", saturated);
    ev.check(
        saturated > 0,
        "the budget (less the reserve left for other processes) was reached in at least one trial, so the window check was exercised",
        format!("largest window held {max_window} of {limit}"),
    );
}

fn kind_key(k: CfFault) -> &'static str {
    match k {
        CfFault::RateLimitStorm => "429_storm",
        CfFault::ServerErrors => "5xx_bursts",
        CfFault::Latency => "latency_2s",
        CfFault::DroppedConnections => "dropped_connections",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudflare_faults_geo() {
    let mut ev = Evidence::new(
        "cloudflare_faults_geo",
        "Cloudflare faults, geo engine (GeoEngine over the fake API server and the emulator)",
    );
    let trials = by_profile(1, 3);
    let mut per_kind: BTreeMap<&'static str, Vec<CfFigures>> = BTreeMap::new();
    for kind in CfFault::ALL {
        ev.injected(kind.describe());
        for t in 0..trials {
            let f = geo_cf_trial(kind, 100 + t as u64, &mut ev).await;
            per_kind.entry(kind_key(kind)).or_default().push(f);
            ev.trials += 1;
        }
    }
    cf_evidence_figures(&mut ev, &per_kind, GEO_LIMIT);
    ev.write();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudflare_faults_records() {
    let mut ev = Evidence::new(
        "cloudflare_faults_records",
        "Cloudflare faults, record synchronizer (RecordEngine over the fake API server and the emulator)",
    );
    let trials = by_profile(1, 3);
    let mut per_kind: BTreeMap<&'static str, Vec<CfFigures>> = BTreeMap::new();
    for kind in CfFault::ALL {
        ev.injected(kind.describe());
        for t in 0..trials {
            let f = records_cf_trial(kind, 200 + t as u64, &mut ev).await;
            per_kind.entry(kind_key(kind)).or_default().push(f);
            ev.trials += 1;
        }
    }
    cf_evidence_figures(&mut ev, &per_kind, RECORDS_LIMIT);
    ev.write();
}
