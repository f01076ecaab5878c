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
use cfgeo::emulator::{
    CallRecord, Emulator, EmulatorConfig, EmulatorHandle, FaultAction, FaultSpec,
};
use cfgeo::events::Reporter;
use cfgeo::geo::GeoSettings;
use cfgeo::geo::engine::GeoEngine;
use cfgeo::records::Policy;
use cfgeo::records::engine::{RecordEngine, RecordSettings, resolve_zones};
use cfgeo::records::inputs::watch_inputs;
use cfgeo::records::sources::SourceKind;
use cfgeo::records::sources::SourceSettings;
use cfgeo::runtime::Timing;
use cfgeo::sources::kube_watch;
use common::{eventually, fast_timing, ingress, lb_pool_names, pools, settings, status};
use fake_kube::{FakeKube, FakeKubeHandle};
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

/// The small budgets the fault cases give cfgeo's client (requests per [`WINDOW`]), small
/// enough that the engines' demand under faults reaches them, so the sliding-window check bites.
/// The record synchronizer makes fewer calls (it caches the zone), hence its smaller budget.
const GEO_LIMIT: u32 = 20;
const RECORDS_LIMIT: u32 = 10;
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

/// A client with a small budget (`limit` per [`WINDOW`]) and fast backoff, using `token`.
fn budget_client(emu: &EmulatorHandle, token: &str, limit: u32) -> Client {
    Client::new(
        ClientSettings {
            base_url: emu.base_url(),
            rate_limit: limit,
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
    RecordSettings::new(owner, Policy::Sync)
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

// ---------------------------------------------------------------------------------------------
// (b) Kubernetes faults through the fake API server
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KubeFault {
    DropWatches,
    Gone410,
    RestartNewHistory,
    PausedDeleteResume,
    PausedDeleteDrop,
}

impl KubeFault {
    const ALL: [KubeFault; 5] = [
        KubeFault::DropWatches,
        KubeFault::Gone410,
        KubeFault::RestartNewHistory,
        KubeFault::PausedDeleteResume,
        KubeFault::PausedDeleteDrop,
    ];

    fn key(self) -> &'static str {
        match self {
            KubeFault::DropWatches => "watch_streams_dropped",
            KubeFault::Gone410 => "410_gone",
            KubeFault::RestartNewHistory => "restart_new_history",
            KubeFault::PausedDeleteResume => "deleted_while_paused_then_resumed",
            KubeFault::PausedDeleteDrop => "deleted_while_paused_then_dropped",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            KubeFault::DropWatches => {
                "every watch stream dropped mid-stream; then one object deleted and one created"
            }
            KubeFault::Gone410 => {
                "history expired and streams dropped, the next 2 watches answer 410 Gone; an object deleted and one created meanwhile, history expired again"
            }
            KubeFault::RestartNewHistory => {
                "watches paused, an object deleted and one created, then the API server restarted with a new resourceVersion history (watches dropped, old versions Gone), then resumed"
            }
            KubeFault::PausedDeleteResume => {
                "watches paused (no event delivered), an object deleted and one created, watches resumed"
            }
            KubeFault::PausedDeleteDrop => {
                "watches paused, an object deleted and one created, streams dropped while paused, then resumed"
            }
        }
    }

    /// Applies the fault around `change` (which deletes the victim and creates the newcomer).
    fn inject(self, kube: &FakeKubeHandle, change: impl FnOnce()) {
        match self {
            KubeFault::DropWatches => {
                kube.drop_watches();
                change();
            }
            KubeFault::Gone410 => {
                kube.fail_next_watches(2);
                kube.expire_history();
                kube.drop_watches();
                change();
                kube.expire_history();
            }
            KubeFault::RestartNewHistory => {
                kube.pause_watches();
                change();
                kube.restart_with_new_history();
                kube.resume_watches();
            }
            KubeFault::PausedDeleteResume => {
                kube.pause_watches();
                change();
                kube.resume_watches();
            }
            KubeFault::PausedDeleteDrop => {
                kube.pause_watches();
                change();
                kube.drop_watches();
                kube.resume_watches();
            }
        }
    }
}

/// Samples a condition every few ms in the background and counts the samples where it failed.
struct Sampler {
    stop: Arc<AtomicBool>,
    bad: Arc<AtomicUsize>,
    taken: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Sampler {
    fn start(mut ok: impl FnMut() -> bool + Send + 'static) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let bad = Arc::new(AtomicUsize::new(0));
        let taken = Arc::new(AtomicUsize::new(0));
        let task = {
            let (stop, bad, taken) = (stop.clone(), bad.clone(), taken.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    if !ok() {
                        bad.fetch_add(1, Ordering::Relaxed);
                    }
                    taken.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(3)).await;
                }
            })
        };
        Self {
            stop,
            bad,
            taken,
            task,
        }
    }

    /// (samples taken, samples that failed).
    async fn finish(self) -> (usize, usize) {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.expect("sampler");
        (
            self.taken.load(Ordering::Relaxed),
            self.bad.load(Ordering::Relaxed),
        )
    }
}

#[derive(Default)]
struct KubeFigures {
    samples: usize,
    bad_samples: usize,
    live_ids_changed: usize,
    ms_to_apply: u128,
}

async fn records_kube_trial(fault: KubeFault, seed: u64, ev: &mut Evidence) -> KubeFigures {
    let mut rng = StdRng::seed_from_u64(seed);
    let emu = Arc::new(emulator_with(1200, Duration::from_secs(300), vec![]).await);
    let zone = emu.zone_id("example.com").unwrap();
    let kube = FakeKube::start().await.expect("fake kube");
    let mut hosts: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut addr = || format!("192.0.2.{}", rng.random_range(1..250));
    for i in 0..3 {
        let (h, a) = (format!("live{i}.example.com"), addr());
        kube.apply(plain_ingress(&format!("live{i}"), &[&h], &[&a]));
        hosts.insert(h, (a, format!("ingress/shop/live{i}")));
    }
    let a = addr();
    kube.apply(lb_service("svc", "svc.example.com", &[&a]));
    hosts.insert("svc.example.com".into(), (a, "service/shop/svc".into()));
    let victim_addr = addr();
    kube.apply(plain_ingress(
        "victim",
        &["victim.example.com"],
        &[&victim_addr],
    ));
    let client = common::client(&emu);
    let run = spawn_records(
        kube.client().await.unwrap(),
        client,
        &zone,
        record_settings(OWNER),
        &[SourceKind::Ingress, SourceKind::Service],
    )
    .await;
    let mut with_victim = hosts.clone();
    with_victim.insert(
        "victim.example.com".into(),
        (victim_addr, "ingress/shop/victim".into()),
    );
    eventually("records before the fault", T, || {
        record_set(&emu, &zone) == desired_records(OWNER, &with_victim)
    })
    .await;
    // The ids of the live objects' records: any deletion (or delete-and-recreate) changes them.
    let z = zone.clone();
    let live_ids = move |emu: &EmulatorHandle, hosts: &BTreeMap<String, (String, String)>| {
        emu.records(&z)
            .into_iter()
            .filter(|r| {
                hosts.contains_key(&r.name)
                    || r.name
                        .strip_prefix("a-")
                        .is_some_and(|n| hosts.contains_key(n))
            })
            .map(|r| r.id)
            .collect::<BTreeSet<String>>()
    };
    let before = live_ids(&emu, &hosts);
    assert_eq!(
        before.len(),
        hosts.len() * 2,
        "an A and a TXT per live host"
    );
    let sampler = {
        let (emu, hosts, before) = (emu.clone(), hosts.clone(), before.clone());
        let live_ids = live_ids.clone();
        Sampler::start(move || live_ids(&emu, &hosts) == before)
    };

    let new_addr = addr();
    let started = Instant::now();
    fault.inject(&kube, || {
        assert!(kube.delete("networking.k8s.io/v1", "Ingress", Some("shop"), "victim"));
        kube.apply(plain_ingress(
            "newcomer",
            &["new.example.com"],
            &[&new_addr],
        ));
    });
    let mut after = hosts.clone();
    after.insert(
        "new.example.com".into(),
        (new_addr, "ingress/shop/newcomer".into()),
    );
    let want = desired_records(OWNER, &after);
    let applied = wait_for(T, || record_set(&emu, &zone) == want).await;
    let ms_to_apply = started.elapsed().as_millis();
    ev.check(
        applied,
        "no deletion missed: the deleted object's A and ownership TXT are gone, and the object created meanwhile got its records",
        format!("have {:?}", record_set(&emu, &zone)),
    );
    // The next full resync (a fresh read of the zone) must not delete anything either.
    let seen = emu.call_log().last().map_or(0, |c| c.seq);
    let resynced = wait_for(T, || {
        emu.call_log()
            .iter()
            .any(|c| c.seq > seen && c.method == "GET" && c.path.ends_with("/dns_records"))
    })
    .await;
    ev.check(
        resynced && record_set(&emu, &zone) == want,
        "the next full resync after the fault changed nothing",
        format!("resync seen: {resynced}"),
    );
    let (samples, bad) = sampler.finish().await;
    ev.check(
        bad == 0,
        "no record deleted wrongly: sampled every 3 ms, the live objects' records were always present",
        format!("{bad} of {samples} samples missed a live record"),
    );
    let changed = before.symmetric_difference(&live_ids(&emu, &hosts)).count();
    ev.check(
        changed == 0,
        "the live objects' records kept their ids (never deleted and recreated)",
        format!("{changed} ids changed"),
    );
    run.stop(ev).await;
    KubeFigures {
        samples,
        bad_samples: bad,
        live_ids_changed: changed,
        ms_to_apply,
    }
}

async fn geo_kube_trial(fault: KubeFault, seed: u64, ev: &mut Evidence) -> KubeFigures {
    let mut rng = StdRng::seed_from_u64(seed);
    let emu = Arc::new(emulator_with(1200, Duration::from_secs(300), vec![]).await);
    let kube = FakeKube::start().await.expect("fake kube");
    let live_addr = format!("203.0.113.{}", rng.random_range(1..250));
    kube.apply(ingress("live", "fra1", &[&live_addr]));
    kube.apply(ingress("victim", "ams1", &["198.51.100.7"]));
    let run = spawn_geo(
        kube.client().await.unwrap(),
        common::client(&emu),
        settings(&emu, "eu", OWNER),
        fast_timing(),
    );
    let both = vec![
        "k8s-pool-ams1-eu".to_string(),
        "k8s-pool-fra1-eu".to_string(),
    ];
    eventually("both pools in the LB", T, || {
        lb_pool_names(&emu, "app.example.com") == Some(both.clone())
    })
    .await;
    let live_id = emu
        .pools()
        .into_iter()
        .find(|p| p.name == "k8s-pool-fra1-eu")
        .map(|p| p.id)
        .expect("live pool");
    let sampler = {
        let (emu, live_id, live_addr) = (emu.clone(), live_id.clone(), live_addr.clone());
        Sampler::start(move || {
            let in_lb = emu
                .load_balancers()
                .iter()
                .any(|l| l.name == "app.example.com" && l.default_pools.contains(&live_id));
            let serving = emu.pools().iter().any(|p| {
                p.id == live_id
                    && p.origins
                        .iter()
                        .any(|o| o.address == live_addr && o.enabled)
            });
            in_lb && serving
        })
    };
    let started = Instant::now();
    fault.inject(&kube, || {
        assert!(kube.delete("networking.k8s.io/v1", "Ingress", Some("shop"), "victim"));
        kube.apply(ingress("newcomer", "lon1", &["198.51.100.9"]));
    });
    let want = vec![
        "k8s-pool-fra1-eu".to_string(),
        "k8s-pool-lon1-eu".to_string(),
    ];
    let settled = || {
        let p = pools(&emu);
        lb_pool_names(&emu, "app.example.com") == Some(want.clone())
            && p.len() == 2
            && p.contains_key("k8s-pool-lon1-eu")
    };
    let applied = wait_for(T, settled).await;
    let ms_to_apply = started.elapsed().as_millis();
    ev.check(
        applied,
        "no deletion missed: the deleted Ingress's pool left the LB and was deleted; the new Ingress's pool joined",
        format!(
            "pools {:?}, LB {:?}",
            pools(&emu),
            lb_pool_names(&emu, "app.example.com")
        ),
    );
    let seen = emu.call_log().last().map_or(0, |c| c.seq);
    let resynced = wait_for(T, || {
        emu.call_log()
            .iter()
            .any(|c| c.seq > seen && c.method == "GET" && c.path.ends_with("/pools"))
    })
    .await;
    ev.check(
        resynced && settled(),
        "the next full resync after the fault changed nothing",
        format!("resync seen: {resynced}"),
    );
    let (samples, bad) = sampler.finish().await;
    ev.check(
        bad == 0,
        "no pool removed wrongly: sampled every 3 ms, the live Ingress's pool stayed in the LB with its origin enabled",
        format!("{bad} of {samples} samples"),
    );
    let still = emu.pools().iter().any(|p| p.id == live_id);
    ev.check(
        still,
        "the live pool kept its id (never deleted and recreated)",
        "the live pool id is gone",
    );
    run.stop(ev).await;
    KubeFigures {
        samples,
        bad_samples: bad,
        live_ids_changed: usize::from(!still),
        ms_to_apply,
    }
}

fn kube_figures(ev: &mut Evidence, per: &BTreeMap<&'static str, Vec<KubeFigures>>) {
    for (k, figs) in per {
        ev.figure(
            k,
            json!({
                "trials": figs.len(),
                "samples": figs.iter().map(|f| f.samples).sum::<usize>(),
                "samples_missing_a_live_object": figs.iter().map(|f| f.bad_samples).sum::<usize>(),
                "live_ids_changed": figs.iter().map(|f| f.live_ids_changed).sum::<usize>(),
                "max_ms_until_applied": figs.iter().map(|f| f.ms_to_apply).max(),
            }),
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_faults_records() {
    let mut ev = Evidence::new(
        "kubernetes_faults_records",
        "Kubernetes faults, record synchronizer (watchers over the fake API server)",
    );
    let trials = by_profile(1, 4);
    let mut per: BTreeMap<&'static str, Vec<KubeFigures>> = BTreeMap::new();
    for fault in KubeFault::ALL {
        ev.injected(format!("{}: {}", fault.key(), fault.describe()));
        for t in 0..trials {
            let f = records_kube_trial(fault, 300 + t as u64, &mut ev).await;
            per.entry(fault.key()).or_default().push(f);
            ev.trials += 1;
        }
    }
    kube_figures(&mut ev, &per);
    ev.write();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_faults_geo() {
    let mut ev = Evidence::new(
        "kubernetes_faults_geo",
        "Kubernetes faults, geo engine (Ingress watcher over the fake API server)",
    );
    let trials = by_profile(1, 3);
    let mut per: BTreeMap<&'static str, Vec<KubeFigures>> = BTreeMap::new();
    for fault in KubeFault::ALL {
        ev.injected(format!("{}: {}", fault.key(), fault.describe()));
        for t in 0..trials {
            let f = geo_kube_trial(fault, 400 + t as u64, &mut ev).await;
            per.entry(fault.key()).or_default().push(f);
            ev.trials += 1;
        }
    }
    kube_figures(&mut ev, &per);
    ev.write();
}

// ---------------------------------------------------------------------------------------------
// (c) Concurrency: two replicas under leader election; four clusters sharing one LB
// ---------------------------------------------------------------------------------------------

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

/// The four-cluster logic of `tests/geo_concurrency.rs`: four geo engines with their own API
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
        "Four clusters (eu, us_east, us_west, asia) share one load balancer (tests/geo_concurrency.rs logic)",
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

// ---------------------------------------------------------------------------------------------
// (d) Bad input
// ---------------------------------------------------------------------------------------------

/// A configuration case: `cfgeo run` flags (added to a working base) and the variable or flag
/// the error must name.
struct ConfigCase {
    id: &'static str,
    args: &'static [&'static str],
    /// Replaces the base flags entirely (for cases about the base itself).
    bare: bool,
    field: &'static [&'static str],
}

const fn cfg(
    id: &'static str,
    args: &'static [&'static str],
    field: &'static [&'static str],
) -> ConfigCase {
    ConfigCase {
        id,
        args,
        bare: false,
        field,
    }
}

const CONFIG_CASES: &[ConfigCase] = &[
    cfg(
        "unknown GEO_LOCATION",
        &["--geo-location", "mars"],
        &["GEO_LOCATION"],
    ),
    cfg(
        "GEO_LOCATION with a space",
        &["--geo-location", "eu west"],
        &["GEO_LOCATION"],
    ),
    cfg(
        "custom region without coordinates",
        &["--geo-location", "moon-base"],
        &["GEO_LOCATION", "GEO_LATITUDE"],
    ),
    cfg(
        "GEO_LATITUDE without GEO_LONGITUDE",
        &["--geo-location", "eu", "--geo-latitude", "10"],
        &["GEO_LATITUDE/GEO_LONGITUDE"],
    ),
    cfg(
        "GEO_LATITUDE out of range",
        &[
            "--geo-location",
            "x1",
            "--geo-latitude",
            "91",
            "--geo-longitude",
            "0",
        ],
        &["GEO_LATITUDE"],
    ),
    cfg(
        "GEO_LATITUDE not a number",
        &["--geo-location", "eu", "--geo-latitude", "north"],
        &["--geo-latitude"],
    ),
    cfg(
        "weight 0",
        &["--cf-origin-weight", "0"],
        &["CF_ORIGIN_WEIGHT"],
    ),
    cfg(
        "weight 101",
        &["--cf-origin-weight", "101"],
        &["CF_ORIGIN_WEIGHT"],
    ),
    cfg(
        "weight abc",
        &["--cf-origin-weight", "abc"],
        &["CF_ORIGIN_WEIGHT"],
    ),
    cfg(
        "LB hostname with a space",
        &["--cf-lb-hostname", "bad host"],
        &["CF_LB_HOSTNAME"],
    ),
    cfg(
        "LB hostname with an empty label",
        &["--cf-lb-hostname", "app..example.com"],
        &["CF_LB_HOSTNAME"],
    ),
    cfg(
        "LB hostname outside the zone",
        &["--cf-lb-hostname", "app.other.org"],
        &["CF_LB_HOSTNAME"],
    ),
    cfg(
        "unknown steering policy",
        &["--lb-steering-policy", "nearest"],
        &["CFGEO_LB_STEERING_POLICY"],
    ),
    cfg(
        "empty LABEL_SELECTOR",
        &["--label-selector", " "],
        &["LABEL_SELECTOR"],
    ),
    cfg(
        "malformed LABEL_SELECTOR",
        &["--label-selector", "app in (web"],
        &["LABEL_SELECTOR"],
    ),
    cfg(
        "malformed --label-filter",
        &["--label-filter", "tier in (web"],
        &["--label-filter"],
    ),
    cfg(
        "malformed --annotation-filter",
        &["--annotation-filter", "team in (a"],
        &["--annotation-filter"],
    ),
    cfg(
        "malformed --gateway-label-filter",
        &["--gateway-label-filter", "x notin y"],
        &["--gateway-label-filter"],
    ),
    cfg(
        "invalid --regex-domain-filter",
        &["--regex-domain-filter", "(example"],
        &["--regex-domain-filter"],
    ),
    cfg(
        "invalid --regex-domain-exclusion",
        &["--regex-domain-exclusion", "[a-"],
        &["--regex-domain-exclusion"],
    ),
    cfg("--interval 10x", &["--interval", "10x"], &["--interval"]),
    cfg("--interval 0", &["--interval", "0"], &["--interval"]),
    cfg("--interval -5m", &["--interval=-5m"], &["--interval"]),
    cfg(
        "monitor id not hex",
        &["--monitor", "abc"],
        &["CFGEO_MONITOR"],
    ),
    cfg(
        "monitor id of 32 non-hex characters",
        &["--monitor", "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"],
        &["CFGEO_MONITOR"],
    ),
    cfg(
        "--monitor-interval not a number",
        &["--monitor-interval", "often"],
        &["--monitor-interval"],
    ),
    cfg(
        "CF_RATE_LIMIT 0",
        &["--cf-rate-limit", "0"],
        &["CF_RATE_LIMIT"],
    ),
    cfg(
        "CF_RATE_LIMIT negative",
        &["--cf-rate-limit=-5"],
        &["--cf-rate-limit"],
    ),
    cfg(
        "--cf-timeout-secs not a number",
        &["--cf-timeout-secs", "soon"],
        &["--cf-timeout-secs"],
    ),
    cfg("unknown --source", &["--source", "pods"], &["--source"]),
    cfg("unknown --policy", &["--policy", "mirror"], &["--policy"]),
    cfg(
        "empty CF_API_TOKEN",
        &["--cf-api-token", ""],
        &["CF_API_TOKEN"],
    ),
    cfg(
        "missing CF_API_TOKEN_FILE",
        &["--cf-api-token-file", "/nonexistent/cfgeo-token"],
        &["/nonexistent/cfgeo-token", "token file"],
    ),
    cfg(
        "bad --admin-addr",
        &["--admin-addr", "localhost"],
        &["--admin-addr"],
    ),
    cfg(
        "--txt-prefix with --txt-suffix",
        &["--txt-prefix", "p-", "--txt-suffix", "-s"],
        &["--txt-prefix", "--txt-suffix"],
    ),
    cfg(
        "--lb-proxied maybe",
        &["--lb-proxied", "maybe"],
        &["--lb-proxied"],
    ),
    cfg(
        "--batch-change-size not a number",
        &["--batch-change-size", "lots"],
        &["--batch-change-size"],
    ),
    cfg(
        "--geo-removal-delay-secs negative",
        &["--geo-removal-delay-secs=-1"],
        &["--geo-removal-delay-secs"],
    ),
    cfg(
        "--emulator-state without --embedded-emulator",
        &["--emulator-state", "/tmp/x.json"],
        &["--embedded-emulator"],
    ),
    cfg(
        "CF_ZONE_ID of no zone",
        &["--cf-zone-id", "0123456789abcdef0123456789abcdef"],
        &["CF_ZONE_ID"],
    ),
    ConfigCase {
        id: "neither engine enabled",
        args: &["--cf-api-token", "t", "--manifests", "."],
        bare: true,
        field: &["GEO_LOCATION", "--source"],
    },
];

fn run_args(emu: &EmulatorHandle, dir: &std::path::Path) -> Vec<String> {
    [
        "--cf-api-base-url",
        &emu.base_url(),
        "--cf-api-token",
        common::TOKEN,
        "--cf-account-id",
        &emu.account_id(),
        "--cf-zone-id",
        &emu.zone_id("example.com").unwrap(),
        "--manifests",
        dir.to_str().unwrap(),
        "--geo-location",
        "eu",
        "--monitor",
        "none",
        "--source",
        "ingress",
        "--txt-owner-id",
        "cfg",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// `base` (flag, value pairs) without the flags that `case` sets itself.
fn without_flags(base: &[String], case: &[&str]) -> Vec<String> {
    let set: Vec<&str> = case
        .iter()
        .filter(|a| a.starts_with("--"))
        .map(|a| a.split('=').next().unwrap())
        .collect();
    base.chunks(2)
        .filter(|pair| !set.contains(&pair[0].as_str()))
        .flatten()
        .cloned()
        .collect()
}

/// Parses and runs `cfgeo run --once` in-process; the error text on failure.
async fn run_once(args: Vec<String>) -> Result<(), String> {
    use clap::Parser;
    let mut argv = vec!["cfgeo".to_string(), "run".to_string(), "--once".to_string()];
    argv.extend(args);
    let cli = cfgeo::cli::Cli::try_parse_from(&argv).map_err(|e| e.to_string())?;
    let cfgeo::cli::Command::Run(args) = cli.command else {
        unreachable!()
    };
    match cfgeo::app::run(*args, cfgeo::app::Mode::Once, CancellationToken::new()).await {
        Ok(_) => Ok(()),
        Err(e) => Err(format!("{e:#}")),
    }
}

/// Where an object's Warning Events say something: the notes of Events regarding `name`.
fn notes_for(kube: &FakeKubeHandle, name: &str) -> Vec<String> {
    kube.events()
        .iter()
        .filter(|e| e["regarding"]["name"] == name || e["involvedObject"]["name"] == name)
        .map(|e| {
            format!(
                "{} {} {}",
                e["reason"].as_str().unwrap_or(""),
                e["note"].as_str().unwrap_or(""),
                e["message"].as_str().unwrap_or("")
            )
        })
        .collect()
}

/// An object case: a malformed object, the field its Event must name, and what must still
/// happen for it (a record that is still created, if the bad value is only ignored).
struct ObjectCase {
    id: &'static str,
    name: &'static str,
    object: Value,
    field: &'static str,
    /// (type, name, content) that must exist in the end despite the bad value.
    still: Option<(&'static str, &'static str, &'static str)>,
    /// A record name that must NOT exist (the bad value was not used).
    never: Option<&'static str>,
}

fn ann_ingress(name: &str, host: &str, addr: &str, ann: Value) -> Value {
    let mut v = plain_ingress(name, &[host], &[addr]);
    v["metadata"]["annotations"] = ann;
    v
}

fn dnsep(name: &str, endpoints: Value) -> Value {
    json!({
        "apiVersion": "externaldns.k8s.io/v1alpha1",
        "kind": "DNSEndpoint",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"endpoints": endpoints},
    })
}

fn record_object_cases() -> Vec<ObjectCase> {
    let a = "external-dns.alpha.kubernetes.io/";
    let mut v = vec![
        ObjectCase {
            id: "annotation ttl \"abc\"",
            name: "bad-ttl",
            object: ann_ingress(
                "bad-ttl",
                "ttl.example.com",
                "192.0.2.31",
                json!({format!("{a}ttl"): "abc"}),
            ),
            field: "external-dns.alpha.kubernetes.io/ttl",
            still: Some(("A", "ttl.example.com", "192.0.2.31")),
            never: None,
        },
        ObjectCase {
            id: "annotation ttl \"-5\"",
            name: "neg-ttl",
            object: ann_ingress(
                "neg-ttl",
                "negttl.example.com",
                "192.0.2.32",
                json!({format!("{a}ttl"): "-5"}),
            ),
            field: "external-dns.alpha.kubernetes.io/ttl",
            still: Some(("A", "negttl.example.com", "192.0.2.32")),
            never: None,
        },
        ObjectCase {
            id: "annotation cloudflare-proxied \"maybe\"",
            name: "bad-proxied",
            object: ann_ingress(
                "bad-proxied",
                "proxied.example.com",
                "192.0.2.33",
                json!({format!("{a}cloudflare-proxied"): "maybe"}),
            ),
            field: "cloudflare-proxied",
            still: Some(("A", "proxied.example.com", "192.0.2.33")),
            never: None,
        },
        ObjectCase {
            id: "annotation hostname \"bad host!\"",
            name: "bad-hostname-svc",
            object: {
                let mut s = lb_service("bad-hostname-svc", "bad host!", &["192.0.2.34"]);
                s["metadata"]["annotations"] =
                    json!({format!("{a}hostname"): "bad host!,ok-svc.example.com"});
                s
            },
            field: "external-dns.alpha.kubernetes.io/hostname",
            still: Some(("A", "ok-svc.example.com", "192.0.2.34")),
            never: None,
        },
        ObjectCase {
            id: "annotation hostname that is an IP address",
            name: "ip-hostname",
            object: {
                let mut s = lb_service("ip-hostname", "x", &["192.0.2.35"]);
                s["metadata"]["annotations"] = json!({format!("{a}hostname"): "192.0.2.9"});
                s
            },
            field: "external-dns.alpha.kubernetes.io/hostname",
            still: None,
            never: Some("192.0.2.9"),
        },
        ObjectCase {
            id: "annotation target \"not a target!\"",
            name: "bad-target",
            object: ann_ingress(
                "bad-target",
                "target.example.com",
                "192.0.2.36",
                json!({format!("{a}target"): "not a target!"}),
            ),
            field: "external-dns.alpha.kubernetes.io/target",
            still: Some(("A", "target.example.com", "192.0.2.36")),
            never: None,
        },
        ObjectCase {
            id: "annotation ingress-hostname-source \"sometimes\"",
            name: "bad-source",
            object: ann_ingress(
                "bad-source",
                "source.example.com",
                "192.0.2.37",
                json!({format!("{a}ingress-hostname-source"): "sometimes"}),
            ),
            field: "ingress-hostname-source",
            still: Some(("A", "source.example.com", "192.0.2.37")),
            never: None,
        },
        ObjectCase {
            id: "annotations disagreeing across the two prefixes",
            name: "conflict",
            object: ann_ingress(
                "conflict",
                "conflict.example.com",
                "192.0.2.38",
                json!({format!("{a}ttl"): "300", "external-dns.kubernetes.io/ttl": "600"}),
            ),
            field: "external-dns.kubernetes.io/ttl",
            still: Some(("A", "conflict.example.com", "192.0.2.38")),
            never: None,
        },
        ObjectCase {
            id: "spec.rules[].host with an empty label",
            name: "bad-rule-host",
            object: plain_ingress(
                "bad-rule-host",
                &["bad..example.com", "goodrule.example.com"],
                &["192.0.2.39"],
            ),
            field: "spec.rules[0].host",
            still: Some(("A", "goodrule.example.com", "192.0.2.39")),
            never: Some("bad..example.com"),
        },
        ObjectCase {
            id: "spec.tls[].hosts[] starting with a hyphen",
            name: "bad-tls-host",
            object: {
                let mut v = plain_ingress("bad-tls-host", &["tlsok.example.com"], &["192.0.2.40"]);
                v["spec"]["tls"] = json!([{"hosts": ["-bad-.example.com"]}]);
                v
            },
            field: "spec.tls[0].hosts[0]",
            still: Some(("A", "tlsok.example.com", "192.0.2.40")),
            never: Some("-bad-.example.com"),
        },
        ObjectCase {
            id: "status hostname \"not a host!\"",
            name: "bad-status-host",
            object: plain_ingress(
                "bad-status-host",
                &["statushost.example.com"],
                &["not a host!", "192.0.2.42"],
            ),
            field: "status.loadBalancer.ingress[0].hostname",
            still: Some(("A", "statushost.example.com", "192.0.2.42")),
            never: None,
        },
        ObjectCase {
            id: "Service spec.externalIPs[] \"bad ip!\"",
            name: "bad-external-ip",
            object: {
                let mut s = lb_service("bad-external-ip", "extip.example.com", &[]);
                s["spec"]["externalIPs"] = json!(["bad ip!", "192.0.2.43"]);
                s
            },
            field: "spec.externalIPs[0]",
            still: Some(("A", "extip.example.com", "192.0.2.43")),
            never: None,
        },
        ObjectCase {
            id: "hostname outside every zone",
            name: "outside-zone",
            object: plain_ingress("outside-zone", &["app.other.org"], &["192.0.2.44"]),
            field: "app.other.org",
            still: None,
            never: Some("app.other.org"),
        },
        ObjectCase {
            id: "DNSEndpoint without dnsName",
            name: "no-dnsname",
            object: dnsep(
                "no-dnsname",
                json!([{"recordType": "A", "targets": ["192.0.2.45"]},
                       {"dnsName": "sibling.example.com", "recordType": "A", "targets": ["192.0.2.46"]}]),
            ),
            field: "spec.endpoints[0].dnsName",
            still: Some(("A", "sibling.example.com", "192.0.2.46")),
            never: None,
        },
        ObjectCase {
            id: "DNSEndpoint dnsName \"bad host\"",
            name: "bad-dnsname",
            object: dnsep(
                "bad-dnsname",
                json!([{"dnsName": "bad host", "recordType": "A", "targets": ["192.0.2.47"]}]),
            ),
            field: "spec.endpoints[0].dnsName",
            still: None,
            never: Some("bad host"),
        },
        ObjectCase {
            id: "DNSEndpoint A target that is not IPv4",
            name: "a-not-v4",
            object: dnsep(
                "a-not-v4",
                json!([{"dnsName": "av4.example.com", "recordType": "A", "targets": ["2001:db8::1"]}]),
            ),
            field: "spec.endpoints[0].targets[0]",
            still: None,
            never: Some("av4.example.com"),
        },
        ObjectCase {
            id: "DNSEndpoint AAAA target that is not IPv6",
            name: "aaaa-not-v6",
            object: dnsep(
                "aaaa-not-v6",
                json!([{"dnsName": "av6.example.com", "recordType": "AAAA", "targets": ["192.0.2.48"]}]),
            ),
            field: "spec.endpoints[0].targets[0]",
            still: None,
            never: Some("av6.example.com"),
        },
        ObjectCase {
            id: "DNSEndpoint CNAME target that is an IP",
            name: "cname-ip",
            object: dnsep(
                "cname-ip",
                json!([{"dnsName": "cn.example.com", "recordType": "CNAME", "targets": ["192.0.2.49"]}]),
            ),
            field: "spec.endpoints[0].targets[0]",
            still: None,
            never: Some("cn.example.com"),
        },
        ObjectCase {
            id: "DNSEndpoint negative recordTTL",
            name: "neg-record-ttl",
            object: dnsep(
                "neg-record-ttl",
                json!([{"dnsName": "negrttl.example.com", "recordType": "A", "targets": ["192.0.2.50"], "recordTTL": -30}]),
            ),
            field: "spec.endpoints[0].recordTTL",
            still: None,
            never: Some("negrttl.example.com"),
        },
        ObjectCase {
            id: "DNSEndpoint without targets",
            name: "no-targets",
            object: dnsep(
                "no-targets",
                json!([{"dnsName": "notargets.example.com", "recordType": "A", "targets": []}]),
            ),
            field: "spec.endpoints[0].targets",
            still: None,
            never: Some("notargets.example.com"),
        },
        ObjectCase {
            id: "DNSEndpoint providerSpecific cloudflare-proxied \"maybe\"",
            name: "ps-proxied",
            object: dnsep(
                "ps-proxied",
                json!([{"dnsName": "ps.example.com", "recordType": "A", "targets": ["192.0.2.51"],
                        "providerSpecific": [{"name": "external-dns.alpha.kubernetes.io/cloudflare-proxied", "value": "maybe"}]}]),
            ),
            field: "spec.endpoints[0].providerSpecific[0]",
            still: Some(("A", "ps.example.com", "192.0.2.51")),
            never: None,
        },
        ObjectCase {
            id: "DNSEndpoint with cloudflare-* in metadata.annotations",
            name: "misplaced",
            object: {
                let mut d = dnsep(
                    "misplaced",
                    json!([{"dnsName": "misplaced.example.com", "recordType": "A", "targets": ["192.0.2.52"]}]),
                );
                d["metadata"]["annotations"] = json!({format!("{a}cloudflare-proxied"): "true"});
                d
            },
            field: "providerSpecific",
            still: Some(("A", "misplaced.example.com", "192.0.2.52")),
            never: None,
        },
    ];
    v.push(ObjectCase {
        id: "status ip \"not-an-ip!\"",
        name: "bad-status-ip",
        object: {
            let mut v = plain_ingress("bad-status-ip", &["statusip.example.com"], &[]);
            v["status"] =
                json!({"loadBalancer": {"ingress": [{"ip": "not-an-ip!"}, {"ip": "192.0.2.41"}]}});
            v
        },
        field: "status.loadBalancer.ingress[0].ip",
        still: Some(("A", "statusip.example.com", "192.0.2.41")),
        never: None,
    });
    v
}

struct GeoCase {
    id: &'static str,
    name: &'static str,
    object: Value,
    field: &'static str,
}

fn geo_object_cases() -> Vec<GeoCase> {
    let mut no_label = ingress("geo-no-label", "x", &["203.0.113.61"]);
    no_label["metadata"]["labels"]
        .as_object_mut()
        .unwrap()
        .remove("cluster-name");
    let mut outside = ingress("geo-outside", "fra1", &["203.0.113.62"]);
    outside["metadata"]["annotations"] = json!({"cfgeo.io/lb-hostname": "app.other.org"});
    let mut bad_lb = ingress("geo-bad-lb", "fra1", &["203.0.113.63"]);
    bad_lb["metadata"]["annotations"] = json!({"cfgeo.io/lb-hostname": "bad host!"});
    vec![
        GeoCase {
            id: "Ingress without the cluster-name label",
            name: "geo-no-label",
            object: no_label,
            field: "cluster-name",
        },
        GeoCase {
            id: "cluster-name longer than 63 characters",
            name: "geo-long",
            object: ingress("geo-long", &"c".repeat(70), &["203.0.113.64"]),
            field: "label cluster-name",
        },
        GeoCase {
            id: "cluster-name with no letter or digit",
            name: "geo-dashes",
            object: ingress("geo-dashes", "...", &["203.0.113.65"]),
            field: "label cluster-name",
        },
        GeoCase {
            id: "cfgeo.io/lb-hostname outside the zone",
            name: "geo-outside",
            object: outside,
            field: "metadata.annotations[cfgeo.io/lb-hostname]",
        },
        GeoCase {
            id: "cfgeo.io/lb-hostname \"bad host!\"",
            name: "geo-bad-lb",
            object: bad_lb,
            field: "metadata.annotations[cfgeo.io/lb-hostname]",
        },
        GeoCase {
            id: "status.loadBalancer.ingress[].ip 300.1.1.1",
            name: "geo-bad-ip",
            object: {
                let mut v = ingress("geo-bad-ip", "ams1", &[]);
                v["status"] = json!({"loadBalancer": {"ingress": [{"ip": "300.1.1.1"}, {"ip": "203.0.113.66"}]}});
                v
            },
            field: "status.loadBalancer.ingress[0].ip",
        },
        GeoCase {
            id: "status hostname \"not a host!\"",
            name: "geo-bad-host",
            object: ingress("geo-bad-host", "lon1", &["not a host!", "203.0.113.67"]),
            field: "status.loadBalancer.ingress[0].hostname",
        },
        GeoCase {
            id: "status hostname that is the LB's own hostname",
            name: "geo-loop",
            object: ingress("geo-loop", "par1", &["app.example.com", "203.0.113.68"]),
            field: "status.loadBalancer.ingress[0].hostname",
        },
        GeoCase {
            id: "status hostname that is a wildcard",
            name: "geo-wild",
            object: ingress("geo-wild", "mad1", &["*.elb.example.net", "203.0.113.69"]),
            field: "status.loadBalancer.ingress[0].hostname",
        },
    ]
}

/// A tiny HTTP server in front of the emulator that forwards every call and, for matching
/// calls, replaces the answer with a crafted one (a Cloudflare that answers oddly). It logs
/// every request body so tests can see what cfgeo sent.
struct Proxy {
    base: String,
    rules: Arc<Mutex<Vec<Rewrite>>>,
    sent: Arc<Mutex<Vec<(String, String, String)>>>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

type Craft = Box<dyn Fn(u16, &[u8]) -> (u16, String) + Send + Sync>;

struct Rewrite {
    method: &'static str,
    path_suffix: String,
    remaining: usize,
    craft: Craft,
}

impl Proxy {
    async fn start(emu: &EmulatorHandle) -> Self {
        let upstream = format!("http://{}", emu.addr());
        let rules: Arc<Mutex<Vec<Rewrite>>> = Arc::default();
        let sent: Arc<Mutex<Vec<(String, String, String)>>> = Arc::default();
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::new();
        let (r, s) = (rules.clone(), sent.clone());
        let app = axum::Router::new().fallback(
            move |method: axum::http::Method,
                  uri: axum::http::Uri,
                  headers: axum::http::HeaderMap,
                  body: axum::body::Bytes| {
                let (rules, sent, http, upstream) =
                    (r.clone(), s.clone(), http.clone(), upstream.clone());
                async move {
                    let path = uri.path().to_string();
                    sent.lock().unwrap().push((
                        method.to_string(),
                        path.clone(),
                        String::from_utf8_lossy(&body).into_owned(),
                    ));
                    let url = format!(
                        "{upstream}{}",
                        uri.path_and_query().map_or("", |p| p.as_str())
                    );
                    let mut req = http
                        .request(method.clone(), url)
                        .header("content-type", "application/json")
                        .body(body.to_vec());
                    if let Some(a) = headers.get("authorization") {
                        req = req.header("authorization", a.clone());
                    }
                    let resp = req.send().await.expect("upstream answers");
                    let status = resp.status().as_u16();
                    let bytes = resp.bytes().await.unwrap_or_default();
                    let crafted = {
                        let mut rules = rules.lock().unwrap();
                        rules
                            .iter_mut()
                            .find(|x| {
                                x.remaining > 0
                                    && x.method == method.as_str()
                                    && path.ends_with(&x.path_suffix)
                            })
                            .map(|x| {
                                x.remaining -= 1;
                                (x.craft)(status, &bytes)
                            })
                    };
                    let (status, body) =
                        crafted.unwrap_or((status, String::from_utf8_lossy(&bytes).into_owned()));
                    axum::response::Response::builder()
                        .status(status)
                        .header("content-type", "application/json")
                        .body(axum::body::Body::from(body))
                        .unwrap()
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Self {
            base: format!("http://{addr}/client/v4"),
            rules,
            sent,
            _stop: tx,
        }
    }

    fn rewrite(&self, method: &'static str, path_suffix: &str, times: usize, craft: Craft) {
        self.rules.lock().unwrap().push(Rewrite {
            method,
            path_suffix: path_suffix.to_string(),
            remaining: times,
            craft,
        });
    }

    fn client(&self) -> Client {
        Client::new(
            ClientSettings {
                base_url: self.base.clone(),
                backoff_min: Duration::from_millis(5),
                backoff_max: Duration::from_millis(20),
                ..ClientSettings::default()
            },
            TokenSource::Static(ApiToken::new(common::TOKEN)),
        )
        .unwrap()
    }

    fn writes(&self) -> Vec<(String, String, String)> {
        self.sent
            .lock()
            .unwrap()
            .iter()
            .filter(|(m, _, _)| m != "GET")
            .cloned()
            .collect()
    }
}

/// The upstream JSON answer with `f` applied to its `result`.
fn edit_result(f: impl Fn(&mut Value) + Send + Sync + 'static) -> Craft {
    Box::new(move |status, body| {
        let mut v: Value = serde_json::from_slice(body).expect("upstream JSON");
        f(&mut v["result"]);
        (status, v.to_string())
    })
}

fn fixed(status: u16, body: &'static str) -> Craft {
    Box::new(move |_, _| (status, body.to_string()))
}

/// Runs the record engine once over `hosts` (Ingresses) on a client through the proxy.
async fn records_pass_via(
    proxy: &Proxy,
    zones: &[String],
    ingresses: &[(&str, &str, &str)],
) -> Result<(), String> {
    let kube = FakeKube::start().await.unwrap();
    for (name, host, addr) in ingresses {
        kube.apply(plain_ingress(name, &[host], &[addr]));
    }
    let client = proxy.client();
    let s = record_settings(OWNER);
    let zs = resolve_zones(&client, zones, &s.plan.domains)
        .await
        .map_err(|e| e.to_string())?;
    let mut engine = RecordEngine::new(client, s, zs, Reporter::Log, fast_timing());
    let shutdown = CancellationToken::new();
    let mut inputs = watch_inputs(
        kube.client().await.unwrap(),
        &[SourceKind::Ingress],
        source_settings(),
        None,
        None,
        shutdown.clone(),
    );
    let desired = tokio::time::timeout(T, async {
        loop {
            if let Some(d) = inputs.current()
                && d.synced
                && d.endpoints.len() == ingresses.len()
            {
                return d;
            }
            inputs.changed().await;
        }
    })
    .await
    .expect("sources synced");
    let r = engine.pass(&desired, true).await;
    shutdown.cancel();
    r.map(|_| ()).map_err(|e| e.to_string())
}

async fn geo_pass_via(proxy: &Proxy, emu: &EmulatorHandle) -> Result<usize, String> {
    let kube = FakeKube::start().await.unwrap();
    kube.apply(ingress("web", "fra1", &["203.0.113.80"]));
    let ing: Vec<Arc<Ingress>> = kube
        .list_resources::<Ingress>()
        .into_iter()
        .map(Arc::new)
        .collect();
    let mut engine = GeoEngine::new(
        proxy.client(),
        settings(emu, "eu", OWNER),
        Reporter::Log,
        fast_timing(),
    );
    engine
        .pass(&ing)
        .await
        .map(|r| r.written.len())
        .map_err(|e| e.to_string())
}

/// One table row of evidence: what was fed in, and what cfgeo said.
fn row(rows: &mut Vec<Value>, category: &str, id: &str, field: &str, said: &str) {
    let mut said = said.replace('\n', " ");
    if said.len() > 220 {
        let mut cut = 220;
        while !said.is_char_boundary(cut) {
            cut -= 1;
        }
        said.truncate(cut);
        said.push('…');
    }
    rows.push(json!({"category": category, "input": id, "field": field, "said": said}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_configuration() {
    let mut ev = Evidence::new(
        "bad_input_configuration",
        "Malformed configuration: flags and environment of `cfgeo run`",
    );
    let emu = common::emulator().await;
    let zone = emu.zone_id("example.com").unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("objects.json"),
        serde_json::to_string(&json!({"apiVersion": "v1", "kind": "List", "items": [
            ingress("geo", "fra1", &["203.0.113.90"]),
            plain_ingress("plain", &["plain.example.com"], &["192.0.2.90"]),
        ]}))
        .unwrap(),
    )
    .unwrap();
    // A record someone else owns: it must survive every failed start untouched.
    common::client(&emu)
        .create_dns_record(
            &zone,
            &DnsRecordInput {
                name: "keep.example.com".into(),
                record_type: RecordType::A,
                content: "198.51.100.99".into(),
                ttl: 1,
                proxied: false,
                comment: None,
                tags: vec![],
                priority: None,
            },
        )
        .await
        .unwrap();
    let before = emu.state_json();
    let base = run_args(&emu, dir.path());
    let mut rows = Vec::new();
    for case in CONFIG_CASES {
        emu.reset_calls();
        let mut args = if case.bare {
            Vec::new()
        } else {
            without_flags(&base, case.args)
        };
        args.extend(case.args.iter().map(|s| s.to_string()));
        let err = run_once(args).await.expect_err(case.id);
        let named = case.field.iter().all(|f| err.contains(f));
        ev.check(
            named,
            "each configuration error names the variable or flag at fault",
            format!("{}: {err}", case.id),
        );
        let writes = emu.call_log().iter().filter(|c| is_write(c)).count();
        ev.check(
            writes == 0 && emu.state_json() == before,
            "a refused configuration wrote nothing to Cloudflare (records and pools unchanged)",
            format!("{}: {writes} writes", case.id),
        );
        row(
            &mut rows,
            "configuration",
            case.id,
            &case.field.join(", "),
            &err,
        );
    }
    // Control: the same base configuration without a bad value does write, so the checks
    // above could have failed.
    run_once(base).await.expect("the base configuration works");
    ev.check(
        emu.records(&zone)
            .iter()
            .any(|r| r.name == "plain.example.com")
            && emu.pools().len() == 1,
        "control: the base configuration alone runs and writes (so \"wrote nothing\" is meaningful)",
        "the control run wrote nothing",
    );
    // The log level is checked before anything else starts.
    use clap::Parser;
    let cli = cfgeo::cli::Cli::try_parse_from(["cfgeo", "--log-level", "cfgeo=[", "emulator"])
        .expect("parses");
    let e = cfgeo::telemetry::init(&cli.log)
        .expect_err("bad log level")
        .to_string();
    ev.check(
        e.contains("--log-level"),
        "each configuration error names the variable or flag at fault",
        &e,
    );
    row(
        &mut rows,
        "configuration",
        "--log-level \"cfgeo=[\"",
        "--log-level",
        &e,
    );
    ev.trials = rows.len();
    ev.injected(format!(
        "{} distinct malformed configurations of `cfgeo run --once` (in-process, against an emulator holding a foreign record)",
        rows.len()
    ));
    ev.figure("cases", rows.len());
    ev.figure("rows", Value::Array(rows));
    ev.write();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_objects() {
    let mut ev = Evidence::new(
        "bad_input_objects",
        "Malformed Kubernetes objects: labels, annotations, hostnames, addresses, DNSEndpoint specs",
    );
    let emu = common::emulator().await;
    let zone = emu.zone_id("example.com").unwrap();
    let kube = FakeKube::start().await.unwrap();
    let cases = record_object_cases();
    let geo_cases = geo_object_cases();
    // Good neighbours: their records and pool must appear as if nothing were wrong.
    kube.apply(plain_ingress(
        "good",
        &["good.example.com"],
        &["192.0.2.10"],
    ));
    kube.apply(lb_service(
        "good-svc",
        "goodsvc.example.com",
        &["192.0.2.11"],
    ));
    kube.apply(dnsep(
        "good-dnsep",
        json!([{"dnsName": "gooddnsep.example.com", "recordType": "A", "targets": ["192.0.2.12"]}]),
    ));
    kube.apply(ingress("geo-good", "good1", &["203.0.113.60"]));
    for c in &cases {
        kube.apply(c.object.clone());
    }
    for c in &geo_cases {
        kube.apply(c.object.clone());
    }
    let kc = kube.client().await.unwrap();
    let records = spawn_records(
        kc.clone(),
        common::client(&emu),
        &zone,
        record_settings(OWNER),
        &[SourceKind::Ingress, SourceKind::Service, SourceKind::Crd],
    )
    .await;
    let geo = spawn_geo(
        kc,
        common::client(&emu),
        settings(&emu, "eu", OWNER),
        fast_timing(),
    );
    let mut rows = Vec::new();
    let all_noted = kube
        .wait_until(T, |k| {
            cases
                .iter()
                .map(|c| (c.name, c.field))
                .chain(geo_cases.iter().map(|c| (c.name, c.field)))
                .all(|(name, field)| notes_for(k, name).iter().any(|n| n.contains(field)))
        })
        .await;
    for (id, name, field) in cases
        .iter()
        .map(|c| (c.id, c.name, c.field))
        .chain(geo_cases.iter().map(|c| (c.id, c.name, c.field)))
    {
        let notes = notes_for(&kube, name);
        let hit = notes.iter().find(|n| n.contains(field));
        ev.check(
            hit.is_some(),
            "each malformed object gets a Warning Event on that object whose message names the field",
            format!("{id}: events {notes:?} (all noted: {all_noted})"),
        );
        let category = if geo_cases.iter().any(|g| g.name == name) {
            "object (geo)"
        } else {
            "object (records)"
        };
        row(&mut rows, category, id, field, hit.unwrap());
    }
    // Nothing else affected: neighbours written, ignored bad values fell back to defaults.
    let mut want: Vec<(String, String, String)> = vec![
        ("A".into(), "good.example.com".into(), "192.0.2.10".into()),
        (
            "A".into(),
            "goodsvc.example.com".into(),
            "192.0.2.11".into(),
        ),
        (
            "A".into(),
            "gooddnsep.example.com".into(),
            "192.0.2.12".into(),
        ),
    ];
    want.extend(
        cases
            .iter()
            .filter_map(|c| c.still)
            .map(|(t, n, a)| (t.to_string(), n.to_string(), a.to_string())),
    );
    let written = wait_for(T, || {
        let have = record_set(&emu, &zone);
        want.iter().all(|w| have.contains(w))
    })
    .await;
    ev.check(
        written,
        "nothing else affected: the good objects' records, and the valid parts of partly bad objects, were all written",
        format!("missing {:?}", {
            let have = record_set(&emu, &zone);
            want.iter().filter(|w| !have.contains(w)).cloned().collect::<Vec<_>>()
        }),
    );
    let names: BTreeSet<String> = emu.records(&zone).into_iter().map(|r| r.name).collect();
    let leaked: Vec<&str> = cases
        .iter()
        .filter_map(|c| c.never)
        .filter(|n| names.iter().any(|x| x.contains(n)))
        .collect();
    ev.check(
        leaked.is_empty(),
        "no bad value became a record",
        format!("{leaked:?}"),
    );
    let good_pools = wait_for(T, || {
        let p = pools(&emu);
        p.get("k8s-pool-good1-eu") == Some(&vec![("203.0.113.60".to_string(), true)])
            && p.get("k8s-pool-ams1-eu") == Some(&vec![("203.0.113.66".to_string(), true)])
            && p.get("k8s-pool-lon1-eu") == Some(&vec![("203.0.113.67".to_string(), true)])
    })
    .await;
    ev.check(
        good_pools,
        "nothing else affected (geo): the good Ingress's pool exists, and partly bad Ingresses keep their valid addresses only",
        format!("{:?}", pools(&emu)),
    );
    let unexpected: Vec<String> = pools(&emu)
        .into_keys()
        .filter(|p| p.contains("other") || p.contains("cccc") || p.contains("k8s-pool---"))
        .collect();
    ev.check(
        unexpected.is_empty(),
        "no pool was built from a refused Ingress",
        format!("{unexpected:?}"),
    );
    records.stop(&mut ev).await;
    geo.stop(&mut ev).await;
    ev.trials = rows.len();
    ev.injected(format!(
        "{} malformed objects applied at once to one fake API server beside good ones, both engines running",
        rows.len()
    ));
    ev.figure("cases", rows.len());
    ev.figure("rows", Value::Array(rows));
    ev.write();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_cloudflare_answers() {
    let mut ev = Evidence::new(
        "bad_input_cloudflare_answers",
        "Malformed Cloudflare answers (a proxy in front of the emulator crafts them)",
    );
    let mut rows = Vec::new();

    // 1. An unknown record type in the listing: tolerated, never touched.
    {
        let emu = common::emulator().await;
        let zone = emu.zone_id("example.com").unwrap();
        let proxy = Proxy::start(&emu).await;
        proxy.rewrite(
            "GET",
            "/dns_records",
            usize::MAX,
            edit_result(|r| {
                r.as_array_mut().unwrap().push(json!({
                    "id": "0badc0de0badc0de0badc0de0badc0de", "type": "QUANTUM",
                    "name": "weird.example.com", "content": "entangled", "ttl": 1,
                    "proxied": false, "comment": null, "tags": []}));
            }),
        );
        let r = records_pass_via(
            &proxy,
            std::slice::from_ref(&zone),
            &[("good", "good.example.com", "192.0.2.5")],
        )
        .await;
        let touched = proxy
            .writes()
            .iter()
            .any(|(_, _, b)| b.contains("0badc0de0badc0de0badc0de0badc0de"));
        ev.check(
            r.is_ok() && !touched && record_set(&emu, &zone).contains(&("A".into(), "good.example.com".into(), "192.0.2.5".into())),
            "an unexpected enum value (record type QUANTUM) is tolerated: the pass succeeds, that record is never written, the others are",
            format!("{r:?}, touched {touched}"),
        );
        row(
            &mut rows,
            "cloudflare answer",
            "unknown DNS record type in the listing",
            "type",
            "tolerated: pass succeeded, record never written",
        );
    }

    // 2. An unknown steering policy on the LB: reset, nothing else changed.
    {
        let emu = common::emulator().await;
        let proxy = Proxy::start(&emu).await;
        geo_pass_via(&proxy, &emu).await.expect("first pass");
        let lb_before = emu.load_balancers();
        proxy.rewrite(
            "GET",
            "/load_balancers",
            1,
            edit_result(|r| r[0]["steering_policy"] = json!("quantum_tunnel")),
        );
        let n = proxy.writes().len();
        let r = geo_pass_via(&proxy, &emu).await;
        let writes = proxy.writes()[n..].to_vec();
        let ok = r.is_ok()
            && writes.len() == 1
            && writes[0].0 == "PATCH"
            && writes[0].2.contains("proximity")
            && !writes[0].2.contains("default_pools");
        ev.check(
            ok && emu.load_balancers()[0].default_pools == lb_before[0].default_pools,
            "an unexpected enum value (steering_policy quantum_tunnel) is corrected by a PATCH of that field alone",
            format!("{r:?} {writes:?}"),
        );
        row(
            &mut rows,
            "cloudflare answer",
            "unknown LB steering_policy",
            "steering_policy",
            &format!("PATCH {}", writes.first().map_or("", |w| w.2.as_str())),
        );
    }

    // 3..6: refused answers must name the endpoint and the field, and write nothing.
    type Setup = fn(&Proxy);
    let geo_cases: Vec<(&str, &str, Setup, &[&str])> = vec![
        (
            "a pool without its name",
            "name",
            |p| {
                p.rewrite(
                    "GET",
                    "/pools",
                    1,
                    edit_result(|r| {
                        r[0].as_object_mut().unwrap().remove("name");
                    }),
                )
            },
            &["pools.list", "name"],
        ),
        (
            "a pool origin whose enabled is \"yes\"",
            "enabled",
            |p| {
                p.rewrite(
                    "GET",
                    "/pools",
                    1,
                    edit_result(|r| r[0]["origins"][0]["enabled"] = json!("yes")),
                )
            },
            &["pools.list", "origins[0].enabled"],
        ),
        (
            "pools listing that is not JSON (HTTP 200)",
            "body",
            |p| {
                p.rewrite(
                    "GET",
                    "/pools",
                    1,
                    fixed(200, "<html>upstream hiccup</html>"),
                )
            },
            &["pools.list", "expected value"],
        ),
        (
            "success:false on HTTP 200 without errors",
            "success",
            |p| {
                p.rewrite(
                    "GET",
                    "/monitors",
                    1,
                    fixed(
                        200,
                        r#"{"success":false,"errors":[],"messages":[],"result":null}"#,
                    ),
                )
            },
            &["monitors.list", "success=false"],
        ),
        (
            "load balancer listing whose result is an object",
            "result",
            |p| {
                p.rewrite(
                    "GET",
                    "/load_balancers",
                    1,
                    fixed(
                        200,
                        r#"{"success":true,"errors":[],"messages":[],"result":{"id":"x"}}"#,
                    ),
                )
            },
            &["load_balancers.list", "sequence"],
        ),
    ];
    for (id, field, setup, must) in geo_cases {
        let emu = common::emulator().await;
        let proxy = Proxy::start(&emu).await;
        geo_pass_via(&proxy, &emu).await.expect("first pass");
        let before = emu.state_json();
        setup(&proxy);
        let n = proxy.writes().len();
        let e = geo_pass_via(&proxy, &emu).await.expect_err(id);
        // The decoder's own words, without the quoted start of the body (which would name
        // every field anyway).
        let message = e.split("; body starts").next().unwrap_or(&e);
        ev.check(
            must.iter().all(|m| message.contains(m)),
            "a malformed answer fails the read with an error naming the endpoint and the field",
            format!("{id}: {e}"),
        );
        ev.check(
            proxy.writes().len() == n && emu.state_json() == before,
            "a malformed answer writes nothing (a failed read never shrinks or changes shared state)",
            id,
        );
        let next = geo_pass_via(&proxy, &emu).await;
        ev.check(
            next.is_ok(),
            "the next pass, with sane answers, succeeds (nothing left broken)",
            format!("{id}: {next:?}"),
        );
        row(&mut rows, "cloudflare answer", id, field, &e);
    }

    // 7. One zone's listing is garbage: the other zone is still synced.
    {
        let emu = common::emulator().await;
        let z1 = emu.zone_id("example.com").unwrap();
        let z2 = emu
            .add_zone("example.org", cfgeo::emulator::Plan::Free)
            .unwrap();
        let proxy = Proxy::start(&emu).await;
        proxy.rewrite(
            "GET",
            &format!("/zones/{z1}/dns_records"),
            usize::MAX,
            fixed(200, "<html>oops</html>"),
        );
        let e = records_pass_via(
            &proxy,
            &[z1.clone(), z2.clone()],
            &[
                ("a", "a.example.com", "192.0.2.1"),
                ("b", "b.example.org", "192.0.2.2"),
            ],
        )
        .await
        .expect_err("zone example.com cannot be read");
        ev.check(
            e.contains("example.com") && e.contains("dns_records.list") && e.contains("<html>"),
            "a malformed answer fails the read with an error naming the endpoint and the field",
            &e,
        );
        ev.check(
            record_set(&emu, &z2).contains(&(
                "A".into(),
                "b.example.org".into(),
                "192.0.2.2".into(),
            )) && emu.records(&z1).is_empty(),
            "nothing else affected: the other zone was synced, the unreadable zone was not written",
            format!("{:?}", record_set(&emu, &z2)),
        );
        row(
            &mut rows,
            "cloudflare answer",
            "one zone's record listing is not JSON",
            "body",
            &e,
        );
    }

    // 8. A zone answer without its name.
    {
        let emu = common::emulator().await;
        let z1 = emu.zone_id("example.com").unwrap();
        let proxy = Proxy::start(&emu).await;
        proxy.rewrite(
            "GET",
            &format!("/zones/{z1}"),
            1,
            edit_result(|r| {
                r.as_object_mut().unwrap().remove("name");
            }),
        );
        let e = records_pass_via(
            &proxy,
            std::slice::from_ref(&z1),
            &[("a", "a.example.com", "192.0.2.1")],
        )
        .await
        .expect_err("zone without name");
        let message = e.split("; body starts").next().unwrap_or(&e);
        ev.check(
            message.contains(&z1) && message.contains("name"),
            "a malformed answer fails the read with an error naming the endpoint and the field",
            &e,
        );
        ev.check(
            proxy.writes().is_empty(),
            "a malformed answer writes nothing (a failed read never shrinks or changes shared state)",
            "writes",
        );
        row(
            &mut rows,
            "cloudflare answer",
            "zone answer without name",
            "name",
            &e,
        );
    }

    // 9. A batch answer that is not JSON: the zone is re-read, the next pass converges.
    {
        let emu = common::emulator().await;
        let z1 = emu.zone_id("example.com").unwrap();
        let proxy = Proxy::start(&emu).await;
        proxy.rewrite("POST", "/dns_records/batch", 1, fixed(200, "OK"));
        let hosts = [("a", "a.example.com", "192.0.2.1")];
        let e = records_pass_via(&proxy, std::slice::from_ref(&z1), &hosts)
            .await
            .expect_err("batch answer not JSON");
        ev.check(
            e.contains("dns_records.batch"),
            "a malformed answer fails the read with an error naming the endpoint and the field",
            &e,
        );
        let again = records_pass_via(&proxy, std::slice::from_ref(&z1), &hosts).await;
        let recs = record_set(&emu, &z1);
        ev.check(
            again.is_ok()
                && recs.contains(&("A".into(), "a.example.com".into(), "192.0.2.1".into()))
                && recs.len() == 2,
            "after an unreadable batch answer the zone is re-read and the next pass converges without duplicates",
            format!("{again:?} {recs:?}"),
        );
        row(
            &mut rows,
            "cloudflare answer",
            "batch answer that is not JSON",
            "body",
            &e,
        );
    }

    ev.trials = rows.len();
    ev.injected(format!(
        "{} crafted Cloudflare answers: unexpected enum values, a missing field, a wrong type, non-JSON bodies, success:false",
        rows.len()
    ));
    ev.figure("cases", rows.len());
    ev.figure("rows", Value::Array(rows));
    ev.write();
}

// ---------------------------------------------------------------------------------------------
// (e) Secrets
// ---------------------------------------------------------------------------------------------

const SECRET: &str = "cfgeo-secret-token-ZQ8xv4Lr9TqW2mNs7Hd3pK6y";
/// The distinctive tail alone, in case something prints a truncated or re-quoted token.
const SECRET_TAIL: &str = "ZQ8xv4Lr9TqW2mNs7Hd3pK6y";

fn hits(text: &str) -> usize {
    text.matches(SECRET).count() + text.matches(SECRET_TAIL).count()
}

/// A `MakeWriter` appending to a shared buffer.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Buffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

fn kubeconfig(kube: &FakeKubeHandle, dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n    namespace: default\ncurrent-context: fake\nusers:\n- name: fake\n  user: {{}}\n",
            kube.url()
        ),
    )
    .unwrap();
    path
}

/// A child process whose stdout and stderr are collected as they come.
struct Child {
    child: std::process::Child,
    out: Buffer,
    err: Buffer,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Child {
    fn spawn(mut cmd: std::process::Command) -> Self {
        use std::process::Stdio;
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cfgeo starts");
        let (out, err) = (Buffer::default(), Buffer::default());
        let mut readers = Vec::new();
        let pipes: [(Box<dyn std::io::Read + Send>, Buffer); 2] = [
            (Box::new(child.stdout.take().unwrap()), out.clone()),
            (Box::new(child.stderr.take().unwrap()), err.clone()),
        ];
        for (mut pipe, mut buf) in pipes {
            readers.push(std::thread::spawn(move || {
                let _ = std::io::copy(&mut pipe, &mut buf);
            }));
        }
        Self {
            child,
            out,
            err,
            readers,
        }
    }

    fn signal(&self, sig: &str) {
        let ok = std::process::Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs")
            .success();
        assert!(ok, "kill -{sig} {}", self.child.id());
    }

    /// Waits for exit (bounded) and returns (exit code, stdout, stderr).
    async fn finish(mut self) -> (Option<i32>, String, String) {
        let deadline = Instant::now() + T;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                break self.child.wait().expect("wait after kill");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        for r in self.readers {
            let _ = r.join();
        }
        (status.code(), self.out.text(), self.err.text())
    }
}

fn cfgeo_cmd() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_cfgeo"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "debug");
    cmd
}

async fn http_get(url: &str) -> String {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
        .get(url)
        .send()
        .await
        .expect("GET answers")
        .text()
        .await
        .expect("body")
}

/// The in-process slice: engines, errors and a panic with the secret token, every log line
/// captured at trace level.
async fn secrets_in_process(ev: &mut Evidence) -> BTreeMap<&'static str, (usize, usize)> {
    let logs = Buffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    // Current-thread runtime: every task of this test logs through this subscriber.
    let _guard = tracing::subscriber::set_default(subscriber);
    // Other tests of this binary may have registered a callsite (with no subscriber of their
    // own) before this scoped one existed; recompute so none stays cached as "never".
    tracing::callsite::rebuild_interest_cache();
    let mut seen: BTreeMap<&'static str, (usize, usize)> = BTreeMap::new();
    let mut note = |what: &'static str, text: &str| {
        let e = seen.entry(what).or_default();
        e.0 += text.len();
        e.1 += hits(text);
    };

    let emu = emulator_with(1200, Duration::from_secs(300), vec![SECRET.into()]).await;
    let zone = emu.zone_id("example.com").unwrap();
    let kube = FakeKube::start().await.unwrap();
    kube.apply(plain_ingress("web", &["web.example.com"], &["192.0.2.1"]));
    kube.apply(ann_ingress(
        "bad",
        "bad.example.com",
        "192.0.2.2",
        json!({"external-dns.alpha.kubernetes.io/ttl": "abc"}),
    ));
    kube.apply(ingress("geo", "fra1", &["203.0.113.1"]));
    let client = budget_client(&emu, SECRET, 1200);
    let metrics = cfgeo::admin::Metrics::new();
    metrics.track_cloudflare(&client);
    let health = cfgeo::admin::Health::new();
    let admin_stop = CancellationToken::new();
    let admin = cfgeo::admin::bind(
        "127.0.0.1:0".parse().unwrap(),
        health,
        metrics.clone(),
        admin_stop.clone(),
    )
    .await
    .unwrap();
    let admin_url = format!("http://{}/metrics", admin.local_addr());
    tokio::spawn(admin.run());
    let kc = kube.client().await.unwrap();
    let records = spawn_records(
        kc.clone(),
        client.clone(),
        &zone,
        record_settings(OWNER),
        &[SourceKind::Ingress],
    )
    .await;
    let geo = spawn_geo(
        kc,
        client.clone(),
        settings(&emu, "eu", OWNER),
        fast_timing(),
    );
    let first = wait_for(T, || {
        record_set(&emu, &zone).contains(&(
            "A".into(),
            "web.example.com".into(),
            "192.0.2.1".into(),
        )) && pools(&emu).contains_key("k8s-pool-fra1-eu")
    })
    .await;
    assert!(first, "first convergence");
    // Faults, then changes that must go through them.
    for s in [
        FaultSpec::new("*", "/client/v4/**", 2, FaultAction::rate_limited(1)),
        FaultSpec::new("*", "/client/v4/**", 3, FaultAction::status(500)),
        FaultSpec::new("*", "/client/v4/**", 2, FaultAction::drop_connection()),
    ] {
        emu.inject_fault(s).unwrap();
    }
    kube.apply(plain_ingress("web2", &["web2.example.com"], &["192.0.2.3"]));
    kube.set_status(
        "networking.k8s.io/v1",
        "Ingress",
        Some("shop"),
        "geo",
        status(&["203.0.113.2"]),
    );
    let converged = wait_for(T, || {
        record_set(&emu, &zone).contains(&(
            "A".into(),
            "web2.example.com".into(),
            "192.0.2.3".into(),
        )) && pools(&emu).get("k8s-pool-fra1-eu") == Some(&vec![("203.0.113.2".to_string(), true)])
            && emu.call_log().iter().filter(|c| c.fault.is_some()).count() == 7
    })
    .await;
    ev.check(
        converged,
        "the slice ran for real: both engines converged through 429, 500 and dropped connections",
        "no convergence",
    );
    note(
        "metrics (/metrics of the admin server)",
        &http_get(&admin_url).await,
    );
    note(
        "Kubernetes Events",
        &serde_json::to_string(&kube.events()).unwrap(),
    );
    note(
        "emulator call log and state",
        &format!(
            "{}{}",
            serde_json::to_string(&emu.call_log()).unwrap(),
            emu.state_json()
        ),
    );
    records.stop(ev).await;
    geo.stop(ev).await;
    admin_stop.cancel();

    // Errors with the secret as a token that Cloudflare refuses, and a panic on one.
    let strict = emulator_with(1200, Duration::from_secs(300), vec!["another-token".into()]).await;
    let refused = budget_client(&strict, SECRET, 1200);
    let mut errors = String::new();
    let e = refused
        .get_zone(&strict.zone_id("example.com").unwrap())
        .await
        .expect_err("403");
    errors.push_str(&format!("{e}\n{e:?}\n"));
    let e = refused
        .list_pools(&strict.account_id())
        .await
        .expect_err("403");
    errors.push_str(&format!("{e}\n{e:?}\n"));
    let unreachable = Client::new(
        ClientSettings {
            base_url: "http://127.0.0.1:9/client/v4".into(),
            max_retries: 0,
            ..ClientSettings::default()
        },
        TokenSource::Static(ApiToken::new(SECRET)),
    )
    .unwrap();
    let e = unreachable.verify_token().await.expect_err("no server");
    errors.push_str(&format!("{e}\n{e:?}\n"));
    let mut debug = format!("{client:?}\n{:?}\n", client.settings());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, format!("{SECRET}\n")).unwrap();
    let from_file = TokenSource::from_settings(None, Some(&file)).unwrap();
    debug.push_str(&format!("{from_file:?}\n"));
    debug.push_str(&format!(
        "{:?}\n",
        TokenSource::from_settings(Some(SECRET), None).unwrap()
    ));
    debug.push_str(&format!(
        "{:?}\n{}\n",
        ApiToken::new(SECRET),
        ApiToken::new(SECRET)
    ));
    use clap::Parser;
    let cli = cfgeo::cli::Cli::try_parse_from([
        "cfgeo",
        "run",
        "--cf-api-token",
        SECRET,
        "--geo-location",
        "eu",
    ])
    .unwrap();
    debug.push_str(&format!("{cli:?}\n"));
    let cli_err = cfgeo::cli::Cli::try_parse_from([
        "cfgeo",
        "run",
        "--cf-api-token",
        SECRET,
        "--cf-rate-limit",
        "abc",
    ])
    .expect_err("bad rate limit");
    errors.push_str(&format!("{cli_err}\n{cli_err:?}\n"));
    note("error messages (Display and Debug)", &errors);
    note(
        "Debug of the client, its settings, token sources and the parsed command line",
        &debug,
    );
    let zone2 = strict.zone_id("example.com").unwrap();
    let joined = tokio::spawn(async move {
        refused.get_zone(&zone2).await.unwrap();
    })
    .await
    .expect_err("the task panics");
    let payload = joined.into_panic();
    let panic_text = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    ev.check(
        panic_text.contains("403") || panic_text.contains("Invalid access token"),
        "control: the panic message was captured (it carries the refused call's error)",
        &panic_text,
    );
    note("a panic message (unwrap of a refused call)", &panic_text);

    let text = logs.text();
    ev.check(
        text.contains("rate limited by Cloudflare") && text.contains("records applied"),
        "control: the in-process log capture saw the engines (rate-limit warning, records applied)",
        format!("{} bytes captured", text.len()),
    );
    note("log lines, in-process at trace level", &text);
    seen
}

/// The real binary, at RUST_LOG=debug, against an emulator and a fake API server.
async fn secrets_binary(ev: &mut Evidence) -> BTreeMap<&'static str, (usize, usize)> {
    let mut seen: BTreeMap<&'static str, (usize, usize)> = BTreeMap::new();
    let mut note = |what: &'static str, text: &str| {
        let e = seen.entry(what).or_default();
        e.0 += text.len();
        e.1 += hits(text);
    };
    let emu = emulator_with(1200, Duration::from_secs(300), vec![SECRET.into()]).await;
    let zone = emu.zone_id("example.com").unwrap();
    let kube = FakeKube::start().await.unwrap();
    kube.apply(plain_ingress("web", &["web.example.com"], &["192.0.2.1"]));
    kube.apply(ann_ingress(
        "bad",
        "bad.example.com",
        "192.0.2.2",
        json!({"external-dns.alpha.kubernetes.io/cloudflare-proxied": "maybe"}),
    ));
    kube.apply(ingress("geo", "fra1", &["203.0.113.1"]));
    let dir = tempfile::tempdir().unwrap();
    let kcfg = kubeconfig(&kube, dir.path());
    let mut cmd = cfgeo_cmd();
    cmd.args([
        "run",
        "--admin-addr",
        "127.0.0.1:0",
        "--source",
        "ingress",
        "--txt-owner-id",
        "sec",
        "--geo-resync-secs",
        "2",
    ])
    .env("KUBECONFIG", &kcfg)
    .env("GEO_LOCATION", "eu")
    .env("CF_LB_HOSTNAME", "app.example.com")
    .env("CF_API_BASE_URL", emu.base_url())
    .env("CF_ACCOUNT_ID", emu.account_id())
    .env("CF_ZONE_ID", &zone)
    .env("CFGEO_OWNER_ID", "sec")
    .env("CFGEO_MONITOR", "none")
    .env("POD_NAME", "cfgeo-0")
    .env("CF_API_TOKEN", SECRET);
    let child = Child::spawn(cmd);
    let first = wait_for(T, || {
        record_set(&emu, &zone).contains(&(
            "A".into(),
            "web.example.com".into(),
            "192.0.2.1".into(),
        )) && lb_pool_names(&emu, "app.example.com") == Some(vec!["k8s-pool-fra1-eu".into()])
    })
    .await;
    assert!(first, "first convergence: {}", child.err.text());
    for s in [
        FaultSpec::new("*", "/client/v4/**", 2, FaultAction::rate_limited(1)),
        FaultSpec::new("*", "/client/v4/**", 3, FaultAction::status(502)),
        FaultSpec::new("*", "/client/v4/**", 2, FaultAction::drop_connection()),
    ] {
        emu.inject_fault(s).unwrap();
    }
    kube.apply(plain_ingress("web2", &["web2.example.com"], &["192.0.2.3"]));
    kube.set_status(
        "networking.k8s.io/v1",
        "Ingress",
        Some("shop"),
        "geo",
        status(&["203.0.113.2"]),
    );
    let converged = wait_for(T, || {
        record_set(&emu, &zone).contains(&(
            "A".into(),
            "web2.example.com".into(),
            "192.0.2.3".into(),
        )) && pools(&emu).get("k8s-pool-fra1-eu") == Some(&vec![("203.0.113.2".to_string(), true)])
            && emu.call_log().iter().filter(|c| c.fault.is_some()).count() == 7
    })
    .await;
    ev.check(
        converged,
        "the binary converged through the injected faults (so its error paths ran)",
        child.err.text(),
    );
    let addr = {
        let found = wait_for(T, || child.err.text().contains("admin server listening")).await;
        assert!(found, "admin address logged");
        let text = child.err.text();
        let at = text.find("admin server listening").unwrap();
        let line = text[at..].lines().next().unwrap().to_string();
        line.split("addr=")
            .nth(1)
            .expect("addr field")
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    };
    let m = http_get(&format!("http://{addr}/metrics")).await;
    ev.check(
        m.contains("cfgeo"),
        "control: /metrics of the binary's admin server was scraped",
        &m,
    );
    note("metrics (/metrics of the admin server)", &m);
    let noted = kube
        .wait_until(T, |k| !notes_for(k, "bad").is_empty())
        .await;
    assert!(noted, "the bad Ingress got its Event");
    note(
        "Kubernetes Events",
        &serde_json::to_string(&kube.events()).unwrap(),
    );
    child.signal("TERM");
    let (code, out, err) = child.finish().await;
    ev.check(
        code == Some(0),
        "the binary stopped cleanly on SIGTERM",
        format!("{code:?}"),
    );
    ev.check(
        err.contains("rate limited by Cloudflare") && err.contains("DEBUG"),
        "control: the binary's stderr was captured at debug level, rate-limit path included",
        format!("{} bytes", err.len()),
    );
    note(
        "log lines, binary at RUST_LOG=debug (stdout and stderr)",
        &format!("{out}{err}"),
    );

    // A refused token from a file, and a command line with a bad flag beside the token.
    let strict = emulator_with(1200, Duration::from_secs(300), vec!["another-token".into()]).await;
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, SECRET).unwrap();
    let mdir = dir.path().join("manifests");
    std::fs::create_dir(&mdir).unwrap();
    std::fs::write(
        mdir.join("a.json"),
        plain_ingress("web", &["web.example.com"], &["192.0.2.1"]).to_string(),
    )
    .unwrap();
    let mut cmd = cfgeo_cmd();
    cmd.args(["run", "--once", "--source", "ingress", "--manifests"])
        .arg(&mdir)
        .env("CF_API_BASE_URL", strict.base_url())
        .env("CF_ZONE_ID", strict.zone_id("example.com").unwrap())
        .env("CF_API_TOKEN_FILE", &token_file);
    let (code, out, err) = Child::spawn(cmd).finish().await;
    ev.check(
        code == Some(1) && err.contains("403"),
        "control: a refused token makes the binary fail with Cloudflare's error",
        &err,
    );
    note(
        "error messages of the binary (refused token, bad flag)",
        &format!("{out}{err}"),
    );
    let mut cmd = cfgeo_cmd();
    cmd.args(["run", "--cf-api-token", SECRET, "--cf-rate-limit", "abc"]);
    let (_, out, err) = Child::spawn(cmd).finish().await;
    note(
        "error messages of the binary (refused token, bad flag)",
        &format!("{out}{err}"),
    );
    seen
}

#[tokio::test]
async fn secrets_never_leak() {
    let mut ev = Evidence::new(
        "secrets_never_leak",
        "The API token never appears in logs, metrics, Events, error messages or panics",
    );
    ev.injected(format!(
        "a distinctive token ({}…) used by both engines in-process (every log line captured at trace level) and by the real binary at RUST_LOG=debug; 429, 5xx and dropped connections injected; a bad object; a Cloudflare that refuses the token; a bad flag beside the token",
        &SECRET[..22]
    ));
    let mut all = secrets_in_process(&mut ev).await;
    for (k, v) in secrets_binary(&mut ev).await {
        let e = all.entry(k).or_default();
        e.0 += v.0;
        e.1 += v.1;
    }
    let mut table = Vec::new();
    for (what, (bytes, n)) in &all {
        ev.check(
            *n == 0,
            format!("zero hits of the token in: {what}"),
            format!("{n} hits in {bytes} bytes"),
        );
        table.push(json!({"source": what, "bytes_scanned": bytes, "hits": n}));
    }
    ev.trials = 1;
    ev.figure(
        "total_bytes_scanned",
        all.values().map(|v| v.0).sum::<usize>(),
    );
    ev.figure("total_hits", all.values().map(|v| v.1).sum::<usize>());
    ev.figure("sources", Value::Array(table));
    ev.write();
}
