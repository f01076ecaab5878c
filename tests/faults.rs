//! The fault suite (issue "Evidence"): Cloudflare faults through the emulator, Kubernetes faults
//! through the fake API server, two replicas under leader election, malformed input, and secret
//! hygiene. Every case asserts its invariants and, when `CFGEO_EVIDENCE_OUT` names a file,
//! appends one JSON line of results to it; `scripts/evidence.sh` turns those lines into
//! `docs/reliability.md`.
//!
//! Profile: `CFGEO_EVIDENCE=quick` (default, CI) or `full` (more trials and seeds).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cfgeo::cloudflare::types::{DnsRecordInput, RecordType};
use cfgeo::cloudflare::{ApiToken, Client, ClientSettings, TokenSource};
use cfgeo::config::SourceKind;
use cfgeo::emulator::{
    CallRecord, Emulator, EmulatorConfig, EmulatorHandle, FaultAction, FaultSpec,
};
use cfgeo::events::Reporter;
use cfgeo::geo::GeoSettings;
use cfgeo::geo::engine::{GeoEngine, Timing};
use cfgeo::records::engine::{RecordEngine, RecordSettings, resolve_zones};
use cfgeo::records::filter::DomainFilter;
use cfgeo::records::inputs::watch_inputs;
use cfgeo::records::registry::TxtNaming;
use cfgeo::records::sources::SourceSettings;
use cfgeo::records::{PlanSettings, Policy};
use cfgeo::sources::kube_watch;
use cfgeo::testkit::fake_kube::{FakeKube, FakeKubeHandle};
use common::{eventually, fast_timing, ingress, lb_pool_names, pools, settings, status};
use k8s_openapi::api::networking::v1::Ingress;
use kube::runtime::watcher;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

// ---------------------------------------------------------------------------------------------
// Profile and evidence
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Profile {
    Quick,
    Full,
}

fn profile() -> Profile {
    match std::env::var("CFGEO_EVIDENCE").as_deref() {
        Ok("full") => Profile::Full,
        _ => Profile::Quick,
    }
}

/// `quick` in the CI profile, `full` otherwise.
fn by_profile<T>(quick: T, full: T) -> T {
    match profile() {
        Profile::Quick => quick,
        Profile::Full => full,
    }
}

/// One case's results: what was injected, how many trials, which assertions held, figures.
struct Evidence {
    case: &'static str,
    title: &'static str,
    injected: Vec<String>,
    trials: usize,
    held: Vec<String>,
    figures: serde_json::Map<String, Value>,
    started: std::time::Instant,
}

impl Evidence {
    fn new(case: &'static str, title: &'static str) -> Self {
        Self {
            case,
            title,
            injected: Vec::new(),
            trials: 0,
            held: Vec::new(),
            figures: serde_json::Map::new(),
            started: std::time::Instant::now(),
        }
    }

    fn injected(&mut self, what: impl Into<String>) {
        let w = what.into();
        if !self.injected.contains(&w) {
            self.injected.push(w);
        }
    }

    /// Asserts `ok` and records `what` as held.
    fn check(&mut self, ok: bool, what: impl Into<String>, detail: impl std::fmt::Display) {
        let what = what.into();
        assert!(ok, "{}: {what} did not hold: {detail}", self.case);
        if !self.held.contains(&what) {
            self.held.push(what);
        }
    }

    fn figure(&mut self, key: &str, v: impl Into<Value>) {
        self.figures.insert(key.to_string(), v.into());
    }

    /// Appends the JSON line to `CFGEO_EVIDENCE_OUT`, if set. Called only once every assertion
    /// has passed, so a line in the file means the case held.
    fn write(self) {
        let line = json!({
            "case": self.case,
            "title": self.title,
            "suite": "faults",
            "profile": format!("{:?}", profile()).to_lowercase(),
            "injected": self.injected,
            "trials": self.trials,
            "held": self.held,
            "figures": self.figures,
            "duration_s": (self.started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
            "command": format!(
                "CFGEO_EVIDENCE={} cargo test --test faults {} -- --exact",
                format!("{:?}", profile()).to_lowercase(),
                self.case
            ),
        });
        println!("evidence: {line}");
        if let Ok(path) = std::env::var("CFGEO_EVIDENCE_OUT") {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .unwrap_or_else(|e| panic!("CFGEO_EVIDENCE_OUT {path}: {e}"));
            // One write per line: O_APPEND keeps concurrent cases' lines whole.
            f.write_all(format!("{line}\n").as_bytes())
                .expect("evidence line written");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Shared rig pieces
// ---------------------------------------------------------------------------------------------

/// The small budget every fault case gives cfgeo's client, so the sliding-window check bites.
const LIMIT: u32 = 20;
const WINDOW: Duration = Duration::from_secs(3);
const T: Duration = Duration::from_secs(30);
const OWNER: &str = "faults";

async fn emulator_with(rate_limit: u32, window: Duration, tokens: Vec<String>) -> EmulatorHandle {
    Emulator::start(EmulatorConfig {
        rate_limit,
        rate_window: window,
        tokens,
        ..EmulatorConfig::default()
    })
    .await
    .expect("emulator starts")
}

/// A client with the small budget and fast backoff, using `token`.
fn budget_client(emu: &EmulatorHandle, token: &str) -> Client {
    Client::new(
        ClientSettings {
            base_url: emu.base_url(),
            rate_limit: LIMIT,
            rate_window: WINDOW,
            timeout: Duration::from_secs(10),
            backoff_min: Duration::from_millis(10),
            backoff_max: Duration::from_millis(50),
            ..ClientSettings::default()
        },
        TokenSource::Static(ApiToken::new(token)),
    )
    .expect("client builds")
}

/// The emulator's fingerprint of `client`'s token, learned from one call with it.
async fn fingerprint_of(emu: &EmulatorHandle, client: &Client) -> String {
    let before = emu.call_log().last().map_or(0, |c| c.seq);
    client.verify_token().await.expect("token verifies");
    emu.call_log()
        .into_iter()
        .find(|c| c.seq > before && c.path.ends_with("/tokens/verify"))
        .and_then(|c| c.token_fingerprint)
        .expect("the call is logged with a fingerprint")
}

fn calls_of(emu: &EmulatorHandle, fp: &str) -> Vec<CallRecord> {
    emu.call_log()
        .into_iter()
        .filter(|c| c.token_fingerprint.as_deref() == Some(fp))
        .collect()
}

/// The largest number of arrivals in any window of `window_ms`.
fn max_in_window(calls: &[CallRecord], window_ms: u64) -> usize {
    let mut t: Vec<u64> = calls.iter().map(|c| c.at_ms).collect();
    t.sort_unstable();
    let mut max = 0;
    let mut j = 0;
    for i in 0..t.len() {
        while j < t.len() && t[j] < t[i] + window_ms {
            j += 1;
        }
        max = max.max(j - i);
    }
    max
}

fn is_write(c: &CallRecord) -> bool {
    c.method != "GET"
}

fn record_settings(owner: &str) -> RecordSettings {
    RecordSettings {
        plan: PlanSettings {
            owner_id: owner.into(),
            policy: Policy::Sync,
            txt: TxtNaming::default(),
            managed_types: vec![RecordType::A, RecordType::Aaaa, RecordType::Cname],
            domains: DomainFilter::default(),
            default_proxied: false,
            default_comment: None,
            allow_deletes: true,
        },
        batch_size: None,
        dry_run: false,
    }
}

fn source_settings() -> SourceSettings {
    SourceSettings::default()
}

fn txt(owner: &str, resource: &str) -> String {
    format!("\"heritage=external-dns,external-dns/owner={owner},external-dns/resource={resource}\"")
}

fn plain_ingress(name: &str, hosts: &[&str], addrs: &[&str]) -> Value {
    let rules: Vec<Value> = hosts.iter().map(|h| json!({"host": h})).collect();
    json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"rules": rules},
        "status": status(addrs),
    })
}

fn lb_service(name: &str, host: &str, addrs: &[&str]) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "shop",
            "annotations": {"external-dns.alpha.kubernetes.io/hostname": host}},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
        "status": status(addrs),
    })
}

/// Records as (type, name, content).
fn record_set(emu: &EmulatorHandle, zone: &str) -> BTreeSet<(String, String, String)> {
    emu.records(zone)
        .into_iter()
        .map(|r| (r.record_type, r.name, r.content))
        .collect()
}

/// What the record synchronizer must hold for `hosts` (host → (address, resource)).
fn desired_records(
    owner: &str,
    hosts: &BTreeMap<String, (String, String)>,
) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    for (h, (addr, res)) in hosts {
        out.insert(("A".into(), h.clone(), addr.clone()));
        out.insert(("TXT".into(), format!("a-{h}"), txt(owner, res)));
    }
    out
}

/// A running engine task and what stops it.
struct Running {
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl Running {
    /// Asserts the task is still running, stops it and checks it ended without a panic.
    async fn stop(self, ev: &mut Evidence) {
        ev.check(
            !self.task.is_finished(),
            "the engine task never exited while faults were injected",
            "the task had already finished",
        );
        self.shutdown.cancel();
        let ended = tokio::time::timeout(T, self.task).await;
        let ok = matches!(ended, Ok(Ok(())));
        ev.check(
            ok,
            "the engine task never panicked and stopped cleanly on shutdown",
            format!("{ended:?}"),
        );
    }
}

fn spawn_geo(kube_client: kube::Client, client: Client, s: GeoSettings, timing: Timing) -> Running {
    let shutdown = CancellationToken::new();
    let rx = kube_watch::watch_objects(
        kube::Api::<Ingress>::all(kube_client.clone()),
        watcher::Config::default().labels(common::SELECTOR),
        shutdown.clone(),
    );
    let engine = GeoEngine::new(
        client,
        s,
        Reporter::kube(kube_client, "cfgeo", None),
        timing,
    );
    let (leader_tx, leader) = tokio::sync::watch::channel(true);
    let sd = shutdown.clone();
    let task = tokio::spawn(async move {
        let _leader = leader_tx;
        engine.run(rx, leader, sd).await
    });
    Running { shutdown, task }
}

async fn spawn_records(
    kube_client: kube::Client,
    client: Client,
    zone: &str,
    s: RecordSettings,
    kinds: &[SourceKind],
) -> Running {
    let shutdown = CancellationToken::new();
    let inputs = watch_inputs(
        kube_client.clone(),
        kinds,
        source_settings(),
        None,
        None,
        shutdown.clone(),
    );
    let zones = resolve_zones(&client, &[zone.to_string()], &s.plan.domains)
        .await
        .expect("zone resolves");
    let engine = RecordEngine::new(
        client,
        s,
        zones,
        Reporter::kube(kube_client.clone(), "cfgeo", None),
        fast_timing(),
    )
    .with_status_writer(kube_client);
    let (tx, rx) = tokio::sync::watch::channel(true);
    let sd = shutdown.clone();
    let task = tokio::spawn(async move {
        let _keep = tx;
        engine.run(inputs, rx, sd).await;
    });
    Running { shutdown, task }
}

/// Waits for `f` with a deadline; false on timeout (the caller asserts).
async fn wait_for(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return f();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// (a) Cloudflare faults, both engines
// ---------------------------------------------------------------------------------------------

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
}

/// Checks the invariants common to both engines on cfgeo's calls and returns the figures.
fn cf_invariants(
    ev: &mut Evidence,
    kind: CfFault,
    calls: &[CallRecord],
    converge_ms: u128,
) -> CfFigures {
    let max = max_in_window(calls, WINDOW.as_millis() as u64);
    ev.check(
        max <= LIMIT as usize,
        format!(
            "cfgeo never exceeded its budget: no {} s window of the emulator's call log holds more than {LIMIT} requests with cfgeo's token",
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
    }
}

async fn geo_cf_trial(kind: CfFault, seed: u64, ev: &mut Evidence) -> CfFigures {
    let mut rng = StdRng::seed_from_u64(seed);
    let emu = emulator_with(LIMIT, WINDOW, vec![]).await;
    let kube = FakeKube::start().await.expect("fake kube");
    let client = budget_client(&emu, &format!("cfgeo-faults-geo-{seed}"));
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
    cf_invariants(ev, kind, &calls_of(&emu, &fp), converge_ms)
}

async fn records_cf_trial(kind: CfFault, seed: u64, ev: &mut Evidence) -> CfFigures {
    let mut rng = StdRng::seed_from_u64(seed);
    let emu = emulator_with(LIMIT, WINDOW, vec![]).await;
    let zone = emu.zone_id("example.com").unwrap();
    let kube = FakeKube::start().await.expect("fake kube");
    let client = budget_client(&emu, &format!("cfgeo-faults-records-{seed}"));
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
    cf_invariants(ev, kind, &calls_of(&emu, &fp), converge_ms)
}

fn cf_evidence_figures(ev: &mut Evidence, per_kind: &BTreeMap<&'static str, Vec<CfFigures>>) {
    let mut max_window = 0;
    for (kind, figs) in per_kind {
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
        format!("{LIMIT} requests per {} s window", WINDOW.as_secs()),
    );
    ev.figure("max_requests_in_any_window_overall", max_window);
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
    cf_evidence_figures(&mut ev, &per_kind);
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
    cf_evidence_figures(&mut ev, &per_kind);
    ev.write();
}
