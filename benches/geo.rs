//! Geo engine benchmarks over real HTTP (fake API server + emulator), in two scenario sets:
//!
//! - `latency`: Cloudflare calls for watch events that change nothing and for one address
//!   change, and latency from an Ingress status change to the pool write, with N selected
//!   Ingresses in one pool (writes docs/benchmarks/geo.md).
//! - `calls`: Cloudflare calls per geo event, counted in the emulator's call log, with the
//!   production debounce and two clusters (two engines with their own fake API servers, owner
//!   ids, regions and tokens, one emulator): an address change, a cluster joining and leaving,
//!   an event that changes nothing, and resyncs at rest; once with `--monitor managed` (the
//!   production default) and once with `--monitor none` (writes docs/benchmarks/geo-calls.md).
//!
//! Run: `cargo bench --bench geo` (both sets, N = 1,000).
//! Environment: `CFGEO_BENCH_SCENARIOS` (`all`, the default, `latency` or `calls`),
//! `CFGEO_BENCH_N` (selected Ingresses; in the `calls` set, those of the first cluster),
//! `CFGEO_BENCH_SAMPLES` (latency samples), `CFGEO_BENCH_DEBOUNCE` (`latency` set only: `test`,
//! 50/200 ms as in the tests, or `production`, 200/800 ms; the `calls` set always uses the
//! production timing), `CFGEO_EVIDENCE_DIR` (default `target/evidence`: one JSON file per run
//! and set, read by scripts/performance.py). docs/benchmarks/geo.md is written only with the
//! defaults, docs/benchmarks/geo-calls.md whenever N is the default.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cfgeo::cloudflare::{ApiToken, Client, ClientSettings, TokenSource};
use cfgeo::emulator::{CallRecord, EmulatorHandle};
use cfgeo::events::Reporter;
use cfgeo::geo::engine::GeoEngine;
use cfgeo::geo::{GeoSettings, MonitorPolicy};
use cfgeo::runtime::Timing;
use cfgeo::sources::{Snapshot, kube_watch};
use clap::Parser;
use common::*;
use fake_kube::{FakeKube, FakeKubeHandle};
use k8s_openapi::api::networking::v1::Ingress;
use kube::runtime::watcher;
use serde_json::json;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

const DEFAULT_N: usize = 1000;
const IDLE_EVENTS: usize = 50;

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// A distinct address per (object, round): round 0 is the initial state, later rounds never
/// reuse it.
fn addr(i: usize, round: usize) -> String {
    let base = if round == 0 { 0 } else { 4 + (round % 60) * 4 };
    format!(
        "10.{}.{}.{}",
        base + i / 62_500,
        (i / 250) % 250,
        i % 250 + 1
    )
}

/// Event creations and updates the engine sent to the fake API server so far.
fn event_writes(kube: &FakeKubeHandle) -> usize {
    kube.request_count("create", "events") + kube.request_count("patch", "events")
}

/// Waits until the engine has stopped publishing Events (none for 500 ms).
async fn events_settled(kube: &FakeKubeHandle) -> usize {
    loop {
        let n = event_writes(kube);
        tokio::time::sleep(Duration::from_millis(500)).await;
        if event_writes(kube) == n {
            return n;
        }
    }
}

fn writes(emu: &EmulatorHandle) -> usize {
    emu.call_log().iter().filter(|c| c.method != "GET").count()
}

/// Waits until the emulator has seen no call for `quiet`.
async fn quiet(emu: &EmulatorHandle, quiet: Duration) {
    loop {
        let n = emu.call_log().len();
        tokio::time::sleep(quiet).await;
        if emu.call_log().len() == n {
            return;
        }
    }
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).saturating_sub(1);
    sorted[i].as_secs_f64() * 1000.0
}

/// A call as `METHOD object`, e.g. `PATCH pool`, `GET load_balancers`; a status other than 2xx
/// is appended.
fn endpoint(c: &CallRecord) -> String {
    let route = c.route.strip_prefix("/client/v4").unwrap_or(&c.route);
    let object = match route {
        "/accounts/{account_id}/load_balancers/pools" => "pools",
        "/accounts/{account_id}/load_balancers/pools/{pool_id}" => "pool",
        "/accounts/{account_id}/load_balancers/pools/{pool_id}/references" => "pool references",
        "/accounts/{account_id}/load_balancers/monitors" => "monitors",
        "/accounts/{account_id}/load_balancers/monitors/{monitor_id}" => "monitor",
        "/zones/{zone_id}/load_balancers" => "load_balancers",
        "/zones/{zone_id}/load_balancers/{lb_id}" => "load_balancer",
        other => other,
    };
    match c.status {
        Some(s) if (200..300).contains(&s) => format!("{} {object}", c.method),
        Some(s) => format!("{} {object} ({s})", c.method),
        None => format!("{} {object} (dropped)", c.method),
    }
}

/// Reads issued together (`try_join!`) arrive in any order: a run of consecutive GETs is
/// listed in this fixed order, so that the sequence is the same from run to run.
fn read_rank(e: &str) -> usize {
    [
        "GET pools",
        "GET monitors",
        "GET load_balancers",
        "GET pool references",
    ]
    .iter()
    .position(|x| *x == e)
    .unwrap_or(usize::MAX)
}

/// The endpoints of `calls` in arrival order, per cluster when `who` names the clusters by
/// token fingerprint (`A: PATCH pool, GET load_balancers; B: ...`); `none` without calls.
fn endpoints(calls: &[CallRecord], who: &[(Option<String>, &str)]) -> String {
    if calls.is_empty() {
        return "none".into();
    }
    let mut groups: Vec<(&str, Vec<String>)> = Vec::new();
    for c in calls {
        let name = who
            .iter()
            .find(|(fp, _)| *fp == c.token_fingerprint)
            .map_or("?", |(_, n)| *n);
        match groups.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) => v.push(endpoint(c)),
            None => groups.push((name, vec![endpoint(c)])),
        }
    }
    groups.sort_by_key(|(n, _)| *n);
    groups
        .into_iter()
        .map(|(name, mut v)| {
            let mut i = 0;
            while i < v.len() {
                let mut j = i;
                while j < v.len() && v[j].starts_with("GET ") {
                    j += 1;
                }
                if j > i {
                    v[i..j].sort_by_key(|e| read_rank(e));
                    i = j;
                } else {
                    i += 1;
                }
            }
            let list = v.join(", ");
            if who.is_empty() {
                list
            } else {
                format!("{name}: {list}")
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n = env_usize("CFGEO_BENCH_N", DEFAULT_N);
    let set = std::env::var("CFGEO_BENCH_SCENARIOS").unwrap_or_else(|_| "all".into());
    let (latency, calls) = match set.as_str() {
        "all" => (true, true),
        "latency" => (true, false),
        "calls" => (false, true),
        other => panic!("CFGEO_BENCH_SCENARIOS={other:?}: use all, latency or calls"),
    };
    let profile = if cfg!(debug_assertions) {
        "dev"
    } else {
        "bench (release)"
    };
    let evidence_dir = std::env::var("CFGEO_EVIDENCE_DIR").unwrap_or("target/evidence".into());
    if latency {
        latency_bench(n, profile, &evidence_dir).await;
    }
    if calls {
        calls_bench(n, profile, &evidence_dir).await;
    }
}

/// The `latency` set: calls for unchanged events and one address change, then latency samples.
async fn latency_bench(n: usize, profile: &str, evidence_dir: &str) {
    let samples = env_usize("CFGEO_BENCH_SAMPLES", if n <= 10_000 { 100 } else { 20 });
    let production = std::env::var("CFGEO_BENCH_DEBOUNCE").as_deref() == Ok("production");
    let debounce_name = if production { "production" } else { "test" };
    let bench_started = Instant::now();
    // The production resync period (300 s), so that no periodic resync lands in a measurement.
    let timing = if production {
        Timing::default()
    } else {
        Timing {
            resync: Timing::default().resync,
            ..fast_timing()
        }
    };

    let emu = emulator().await;
    let kube = FakeKube::start().await.expect("fake kube starts");
    for i in 0..n {
        kube.apply(ingress(&format!("web-{i}"), "fra1", &[&addr(i, 0)]));
    }
    let started = Instant::now();
    let kc = kube.client().await.unwrap();
    let shutdown = CancellationToken::new();
    let rx = kube_watch::watch_objects(
        kube::Api::<Ingress>::all(kc.clone()),
        watcher::Config::default().labels(SELECTOR),
        shutdown.clone(),
    );
    let engine = GeoEngine::new(
        client(&emu),
        settings(&emu, "eu", "bench"),
        Reporter::kube(kc, "cfgeo", None),
        timing.clone(),
    );
    let (leader_tx, leader) = tokio::sync::watch::channel(true);
    let sd = shutdown.clone();
    tokio::spawn(async move {
        let _leader = leader_tx;
        engine.run(rx, leader, sd).await
    });
    eventually(&format!("{n} origins"), Duration::from_secs(600), || {
        pools(&emu)
            .get("k8s-pool-fra1-eu")
            .is_some_and(|o| o.len() == n)
    })
    .await;
    let converge_time = started.elapsed();
    // Let the settle pass and its verification finish before counting.
    quiet(&emu, Duration::from_millis(500)).await;
    let converge_calls = emu.call_log().len();
    events_settled(&kube).await;

    // Unchanged world: watch events that do not change the desired state.
    emu.reset_calls();
    for i in 0..IDLE_EVENTS {
        kube.merge_patch(
            "networking.k8s.io/v1",
            "Ingress",
            Some("shop"),
            &format!("web-{i}"),
            &json!({"metadata": {"annotations": {"unrelated": format!("{i}")}}}),
        );
    }
    quiet(&emu, Duration::from_millis(1000)).await;
    let unchanged_calls = emu.call_log().len();

    // One address change: reads, one pool PATCH, verification reads.
    let events_before = events_settled(&kube).await;
    emu.reset_calls();
    kube.set_status(
        "networking.k8s.io/v1",
        "Ingress",
        Some("shop"),
        "web-0",
        status(&[&addr(0, 1)]),
    );
    eventually("patched", Duration::from_secs(60), || writes(&emu) == 1).await;
    quiet(&emu, Duration::from_millis(500)).await;
    let changed_log = emu.call_log();
    let changed_calls = changed_log.len();
    let changed_writes = writes(&emu);
    let changed_endpoints = endpoints(&changed_log, &[]);
    let change_events = events_settled(&kube).await - events_before;

    // Latency: status change on the fake API server -> pool PATCH seen by the emulator.
    let mut lat = Vec::new();
    for s in 0..samples {
        emu.reset_calls();
        let i = (s * 37) % n;
        let t0 = Instant::now();
        kube.set_status(
            "networking.k8s.io/v1",
            "Ingress",
            Some("shop"),
            &format!("web-{i}"),
            status(&[&addr(i, s + 2)]),
        );
        let deadline = t0 + Duration::from_secs(60);
        while writes(&emu) == 0 {
            assert!(Instant::now() < deadline, "no pool write within 60 s");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        lat.push(t0.elapsed());
        quiet(&emu, Duration::from_millis(500)).await;
        events_settled(&kube).await;
    }
    lat.sort();
    let (p50, p99, max) = (pct(&lat, 0.50), pct(&lat, 0.99), pct(&lat, 1.0));
    shutdown.cancel();
    let (deb, deb_max) = (timing.debounce.as_millis(), timing.debounce_max.as_millis());

    let evidence = json!({
        "bench": "geo",
        "profile": profile,
        "n": n,
        "debounce": debounce_name,
        "debounce_ms": [deb, deb_max],
        "converge_calls": converge_calls,
        "converge_time_s": converge_time.as_secs_f64(),
        "watch_events": IDLE_EVENTS,
        "unchanged_calls": unchanged_calls,
        "change_calls": changed_calls,
        "change_writes": changed_writes,
        "change_endpoints": changed_endpoints,
        "change_events": change_events,
        "latency_samples": lat.len(),
        "latency_ms": {"p50": p50, "p99": p99, "max": max},
        "wall_time_s": bench_started.elapsed().as_secs_f64(),
    });
    std::fs::create_dir_all(evidence_dir).unwrap();
    let path = format!("{evidence_dir}/geo-{n}-{debounce_name}.json");
    std::fs::write(&path, serde_json::to_string_pretty(&evidence).unwrap()).unwrap();
    println!("{}", serde_json::to_string_pretty(&evidence).unwrap());
    eprintln!("wrote {path}");
    if n != DEFAULT_N || production {
        return;
    }

    let report = format!(
        "# Geo engine benchmarks\n\n\
Generated by `cargo bench --bench geo` ({profile} profile; fake API server + emulator over real HTTP, {n} selected Ingresses, one pool of {n} origins, debounce {deb} ms / max {deb_max} ms as in the tests; production default is 200 ms / max 800 ms). Other sizes and the production debounce: `CFGEO_BENCH_N`, `CFGEO_BENCH_DEBOUNCE=production`; every run is in [../performance.md](../performance.md).\n\n\
| figure | goal | result |\n|---|---|---|\n\
| Cloudflare calls for {IDLE_EVENTS} watch events that change nothing | 0 | {unchanged_calls} |\n\
| Cloudflare calls for one address change | small | {changed_calls} ({changed_writes} write) |\n\
| Kubernetes Events written for that one change | - | {change_events} |\n\
| latency, Ingress status change -> pool write at the emulator, p50 | - | {p50:.0} ms |\n\
| latency, p99 ({} samples) | < 1 s | {p99:.0} ms |\n\n\
Method: latency is measured from just before the status update on the fake API server to the first write in the emulator's call log, polled every 1 ms (so up to 1 ms of polling error). The debounce window is part of the latency by design. Each sample starts once the emulator and the Events have been quiet for 500 ms. The resync period is the production one (300 s), so no periodic resync lands in a measurement.\n\n\
The calls for that one address change, in arrival order: {changed_endpoints}. A watch event starts from the previous pass's cached state: the pool is written from it, then the load balancers are read fresh to check they still list the pool. Calls per event in more scenarios (a cluster joining and leaving, a resync, the production debounce and monitor): [geo-calls.md](geo-calls.md).\n",
        lat.len(),
    );
    std::fs::create_dir_all("docs/benchmarks").unwrap();
    std::fs::write("docs/benchmarks/geo.md", &report).unwrap();
    println!("{report}");
}

// ------------------------------------------------------------------ calls per geo event

/// Resyncs counted per cluster in scenario 5.
const RESYNCS: usize = 5;
/// The resync period of scenario 5 (the other scenarios run with the production 300 s).
const BENCH_RESYNC: Duration = Duration::from_secs(2);
/// Removal delay: long enough that the leaving pass has been quiet for a second before the
/// deletion pass starts, short enough to wait for.
const REMOVAL_DELAY_SECS: u64 = 5;
/// A window ends once the emulator has seen no call for this long.
const QUIET: Duration = Duration::from_secs(1);
/// A new pass of one cluster starts after a gap this long in its calls (scenario 5).
const PASS_GAP_MS: u64 = 500;
const TOKEN_B: &str = "cfgeo-bench-token-b-5d2e8b40";
const LB_HOST: &str = "app.example.com";
const WAIT: Duration = Duration::from_secs(120);

#[derive(Parser)]
struct ProductionFlags {
    #[command(flatten)]
    geo: cfgeo::config::GeoArgs,
}

/// The monitor policy `cfgeo run --monitor <policy>` builds, all other flags at their defaults.
fn production_monitor(policy: &str) -> MonitorPolicy {
    let flags =
        ProductionFlags::try_parse_from(["cfgeo", "--geo-location", "eu", "--monitor", policy])
            .expect("production flags parse");
    let resolved = cfgeo::config::Resolved {
        account_id: "0".repeat(32),
        zone_id: "0".repeat(32),
        zone_name: "example.com".into(),
        owner_id: "bench".into(),
    };
    flags
        .geo
        .settings(&resolved)
        .expect("production settings")
        .monitor
}

/// The client `cfgeo run` builds (production retries and backoff), with its own token so the
/// emulator's call log tells the clusters apart.
fn client_with_token(emu: &EmulatorHandle, token: &str) -> Client {
    let settings = ClientSettings {
        base_url: emu.base_url(),
        ..ClientSettings::default()
    };
    Client::new(settings, TokenSource::Static(ApiToken::new(token))).unwrap()
}

/// One cluster: a fake API server, its watch, and a geo engine that can be restarted with
/// other timing over the same watch.
struct Member {
    kube: FakeKubeHandle,
    kc: kube::Client,
    rx: watch::Receiver<Option<Snapshot<Ingress>>>,
    client: Client,
    settings: GeoSettings,
    watch_stop: CancellationToken,
    engine_stop: Option<CancellationToken>,
}

impl Member {
    async fn new(
        emu: &EmulatorHandle,
        token: &str,
        region: &str,
        owner: &str,
        monitor: MonitorPolicy,
    ) -> Self {
        let kube = FakeKube::start().await.expect("fake kube starts");
        let kc = kube.client().await.unwrap();
        let watch_stop = CancellationToken::new();
        let rx = kube_watch::watch_objects(
            kube::Api::<Ingress>::all(kc.clone()),
            watcher::Config::default().labels(SELECTOR),
            watch_stop.clone(),
        );
        let mut settings = settings(emu, region, owner);
        settings.monitor = monitor;
        settings.removal_delay_secs = REMOVAL_DELAY_SECS;
        Self {
            kube,
            kc,
            rx,
            client: client_with_token(emu, token),
            settings,
            watch_stop,
            engine_stop: None,
        }
    }

    /// (Re)starts the engine: its first pass reads everything fresh.
    fn start_engine(&mut self, timing: Timing) {
        self.stop_engine();
        let mut rx = self.rx.clone();
        rx.borrow_and_update();
        let engine = GeoEngine::new(
            self.client.clone(),
            self.settings.clone(),
            Reporter::kube(self.kc.clone(), "cfgeo", None),
            timing,
        );
        let stop = CancellationToken::new();
        let (leader_tx, leader) = watch::channel(true);
        let sd = stop.clone();
        tokio::spawn(async move {
            let _leader = leader_tx;
            engine.run(rx, leader, sd).await
        });
        self.engine_stop = Some(stop);
    }

    fn stop_engine(&mut self) {
        if let Some(t) = self.engine_stop.take() {
            t.cancel();
        }
    }

    /// Whether the watch has delivered an Ingress `name` for which `f` holds.
    fn watched(&self, name: &str, f: impl Fn(&Ingress) -> bool) -> bool {
        self.rx.borrow().as_ref().is_some_and(|s| {
            s.iter()
                .any(|i| i.metadata.name.as_deref() == Some(name) && f(i))
        })
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.stop_engine();
        self.watch_stop.cancel();
    }
}

/// One measured scenario.
#[derive(Debug, Clone)]
struct Row {
    scenario: String,
    /// Calls (per resync for scenario 5).
    calls: f64,
    /// How `calls` is shown.
    shown: String,
    /// At most this many; `None`: reported only.
    target: Option<f64>,
    endpoints: String,
}

impl Row {
    fn met(&self) -> Option<bool> {
        self.target.map(|t| self.calls <= t)
    }
}

fn lb_pool_count(emu: &EmulatorHandle) -> usize {
    emu.load_balancers()
        .iter()
        .find(|l| l.name == LB_HOST)
        .map_or(0, |l| l.default_pools.len())
}

fn has_origin(emu: &EmulatorHandle, address: &str) -> bool {
    emu.pools()
        .iter()
        .any(|p| p.origins.iter().any(|o| o.address == address))
}

/// Calls carrying this token fingerprint.
fn of(calls: &[CallRecord], fp: &Option<String>) -> Vec<CallRecord> {
    calls
        .iter()
        .filter(|c| &c.token_fingerprint == fp)
        .cloned()
        .collect()
}

/// Full reads (the only calls that list monitors) made with this token fingerprint.
fn full_reads(emu: &EmulatorHandle, fp: &Option<String>) -> usize {
    of(&emu.call_log(), fp)
        .iter()
        .filter(|c| endpoint(c) == "GET monitors")
        .count()
}

/// Splits one cluster's calls into passes at gaps of more than [`PASS_GAP_MS`].
fn passes(calls: &[CallRecord]) -> Vec<Vec<CallRecord>> {
    let mut out: Vec<Vec<CallRecord>> = Vec::new();
    for c in calls {
        match out.last_mut() {
            Some(p) if c.at_ms <= p.last().unwrap().at_ms + PASS_GAP_MS => p.push(c.clone()),
            _ => out.push(vec![c.clone()]),
        }
    }
    out
}

/// Resets the call log, runs `trigger`, waits until `done` holds on the emulator, then until
/// the emulator has been quiet for [`QUIET`]; returns every call of that window.
async fn window(
    emu: &EmulatorHandle,
    what: &str,
    trigger: impl FnOnce(),
    done: impl FnMut() -> bool,
) -> Vec<CallRecord> {
    emu.reset_calls();
    trigger();
    eventually(what, WAIT, done).await;
    quiet(emu, QUIET).await;
    emu.call_log()
}

fn row(
    scenario: &str,
    calls: &[CallRecord],
    target: Option<usize>,
    who: &[(Option<String>, &str)],
) -> Row {
    Row {
        scenario: scenario.into(),
        calls: calls.len() as f64,
        shown: calls.len().to_string(),
        target: target.map(|t| t as f64),
        endpoints: endpoints(calls, who),
    }
}

/// The five scenarios with one monitor policy, on a fresh emulator.
async fn calls_scenarios(n: usize, monitor: MonitorPolicy) -> Vec<Row> {
    let managed = matches!(monitor, MonitorPolicy::Managed(_));
    let per_pool_monitors = usize::from(managed);
    let production = Timing::default();
    let resyncing = Timing {
        resync: BENCH_RESYNC,
        ..Timing::default()
    };
    let emu = emulator().await;

    // Cluster A (region eu, N Ingresses) converges alone.
    let mut a = Member::new(&emu, TOKEN, "eu", "bench-a", monitor.clone()).await;
    for i in 0..n {
        a.kube
            .apply(ingress(&format!("web-{i}"), "fra1", &[&addr(i, 0)]));
    }
    a.start_engine(production.clone());
    eventually(
        &format!("cluster A: {n} origins in the LB"),
        WAIT * 5,
        || {
            lb_pool_count(&emu) == 1
                && emu.pools().first().is_some_and(|p| p.origins.len() == n)
                && emu.monitors().len() == per_pool_monitors
        },
    )
    .await;
    quiet(&emu, QUIET).await;
    let fp_a = emu.call_log().first().unwrap().token_fingerprint.clone();

    // Cluster B (region us_east, no Ingress yet) starts: one full read, nothing to do.
    let mut b = Member::new(&emu, TOKEN_B, "us_east", "bench-b", monitor).await;
    emu.reset_calls();
    b.start_engine(production.clone());
    let log = loop {
        let log = emu.call_log();
        if log.iter().any(|c| endpoint(c) == "GET monitors") {
            break log;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let fp_b = log.first().unwrap().token_fingerprint.clone();
    assert_ne!(
        fp_a, fp_b,
        "the clusters' tokens have distinct fingerprints"
    );
    quiet(&emu, QUIET).await;
    let who = [(fp_a.clone(), "A"), (fp_b.clone(), "B")];
    let mut rows = Vec::new();

    // 1. An address change of one of A's Ingresses.
    let new_addr = addr(0, 1);
    let calls = window(
        &emu,
        "address change in A's pool",
        || {
            a.kube.set_status(
                "networking.k8s.io/v1",
                "Ingress",
                Some("shop"),
                "web-0",
                status(&[&new_addr]),
            );
        },
        || has_origin(&emu, &new_addr),
    )
    .await;
    rows.push(row(
        "1. address change of one Ingress (cluster A)",
        &calls,
        Some(2),
        &who,
    ));

    // 4. A label change that leaves the desired state as it is.
    let calls = window(
        &emu,
        "label change delivered to A's engine",
        || {
            a.kube.merge_patch(
                "networking.k8s.io/v1",
                "Ingress",
                Some("shop"),
                "web-1",
                &json!({"metadata": {"labels": {"team": "payments"}}}),
            );
        },
        || {
            a.watched("web-1", |i| {
                i.metadata
                    .labels
                    .as_ref()
                    .is_some_and(|l| l.contains_key("team"))
            })
        },
    )
    .await;
    let unchanged = row(
        "4. unchanged event: a label change that leaves the desired state as it is (cluster A)",
        &calls,
        Some(0),
        &who,
    );

    // 2. B's first labelled Ingress: B's pool (and monitor) joins the shared LB.
    let calls = window(
        &emu,
        "B's pool in the LB",
        || {
            b.kube.apply(ingress("web-b", "nyc1", &["10.200.0.1"]));
        },
        || {
            lb_pool_count(&emu) == 2
                && emu.pools().len() == 2
                && emu.monitors().len() == 2 * per_pool_monitors
        },
    )
    .await;
    rows.push(row(
        "2. cluster joining: B's first labelled Ingress, until its pool is in the LB",
        &calls,
        Some(6),
        &who,
    ));

    // 3. B's Ingress deleted: until B's pool has left the LB, then its deletion.
    let calls = window(
        &emu,
        "B's pool out of the LB",
        || {
            assert!(
                b.kube
                    .delete("networking.k8s.io/v1", "Ingress", Some("shop"), "web-b")
            );
        },
        || lb_pool_count(&emu) == 1,
    )
    .await;
    assert_eq!(
        emu.pools().len(),
        2,
        "B's pool was deleted inside the leaving window: raise REMOVAL_DELAY_SECS"
    );
    rows.push(row(
        "3. cluster leaving: B's Ingress deleted, until its pool has left the LB",
        &calls,
        Some(6),
        &who,
    ));
    let calls = window(
        &emu,
        "B's pool and monitor deleted",
        || {},
        || emu.pools().len() == 1 && emu.monitors().len() == per_pool_monitors,
    )
    .await;
    rows.push(row(
        &format!(
            "3b. then, after the removal delay ({REMOVAL_DELAY_SECS} s): deletion of B's pool{}",
            if managed { " and monitor" } else { "" }
        ),
        &calls,
        None,
        &who,
    ));
    rows.push(unchanged);

    // 5. Resyncs at rest, both clusters live: B rejoins (not counted), then both engines are
    // restarted with a 2 s resync period and RESYNCS resyncs of each are counted.
    window(
        &emu,
        "B's pool back in the LB",
        || {
            b.kube.apply(ingress("web-b", "nyc1", &["10.200.0.1"]));
        },
        || {
            lb_pool_count(&emu) == 2
                && emu.pools().len() == 2
                && emu.monitors().len() == 2 * per_pool_monitors
        },
    )
    .await;
    a.stop_engine();
    b.stop_engine();
    quiet(&emu, QUIET).await;
    emu.reset_calls();
    a.start_engine(resyncing.clone());
    b.start_engine(resyncing.clone());
    // The first pass of each engine, then RESYNCS resyncs, then the start of one more (so the
    // last counted one is complete).
    eventually(
        &format!("{} resyncs of each cluster", RESYNCS + 1),
        WAIT,
        || full_reads(&emu, &fp_a) >= RESYNCS + 2 && full_reads(&emu, &fp_b) >= RESYNCS + 2,
    )
    .await;
    let log = emu.call_log();
    a.stop_engine();
    b.stop_engine();
    for (fp, name, pool) in [
        (&fp_a, "A", format!("pool of {n} origins")),
        (&fp_b, "B", "pool of 1 origin".to_string()),
    ] {
        let ps = passes(&of(&log, fp));
        let counted = &ps[1..=RESYNCS];
        for p in counted {
            let reads = p.iter().filter(|c| endpoint(c) == "GET monitors").count();
            assert_eq!(reads, 1, "cluster {name}: one full read per resync pass");
        }
        let total: usize = counted.iter().map(Vec::len).sum();
        let per = total as f64 / RESYNCS as f64;
        let mut kinds: Vec<String> = counted.iter().map(|p| endpoints(p, &who)).collect();
        kinds.dedup();
        rows.push(Row {
            scenario: format!(
                "5. resync at rest, cluster {name} ({pool}{}), per resync",
                if managed { ", monitor" } else { "" }
            ),
            calls: per,
            shown: format!(
                "{} ({total} calls in {RESYNCS} resyncs)",
                if per.fract() == 0.0 {
                    format!("{per:.0}")
                } else {
                    format!("{per:.1}")
                }
            ),
            target: Some(3.0),
            endpoints: kinds.join(" / "),
        });
    }
    drop(a);
    drop(b);
    rows
}

fn calls_table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| scenario | measured calls | target | met? | endpoints, in arrival order |\n|---|---|---|---|---|\n",
    );
    for r in rows {
        let target = match r.target {
            None => "-".to_string(),
            Some(0.0) => "0".to_string(),
            Some(t) => format!("≤ {t:.0}"),
        };
        let met = match r.met() {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "-",
        };
        out.push_str(&format!(
            "| {} | {} | {target} | {met} | {} |\n",
            r.scenario, r.shown, r.endpoints
        ));
    }
    out
}

/// The `calls` set: every scenario with `--monitor managed`, then with `--monitor none`.
async fn calls_bench(n: usize, profile: &str, evidence_dir: &str) {
    let started = Instant::now();
    let mut modes: Vec<(&str, Vec<Row>)> = Vec::new();
    for policy in ["managed", "none"] {
        let rows = calls_scenarios(n, production_monitor(policy)).await;
        println!("\n--monitor {policy}\n{}", calls_table(&rows));
        modes.push((policy, rows));
    }
    let production = Timing::default();
    let (deb, deb_max) = (
        production.debounce.as_millis(),
        production.debounce_max.as_millis(),
    );

    let evidence = json!({
        "bench": "geo-calls",
        "profile": profile,
        "n": n,
        "debounce_ms": [deb, deb_max],
        "resync_s": BENCH_RESYNC.as_secs(),
        "resyncs": RESYNCS,
        "removal_delay_s": REMOVAL_DELAY_SECS,
        "modes": modes.iter().map(|(policy, rows)| {
            let rows: Vec<_> = rows.iter().map(|r| json!({
                "scenario": r.scenario,
                "calls": r.calls,
                "target": r.target,
                "met": r.met(),
                "endpoints": r.endpoints,
            })).collect();
            (policy.to_string(), json!(rows))
        }).collect::<BTreeMap<_, _>>(),
        "wall_time_s": started.elapsed().as_secs_f64(),
    });
    std::fs::create_dir_all(evidence_dir).unwrap();
    let path = format!("{evidence_dir}/geo-calls-{n}.json");
    std::fs::write(&path, serde_json::to_string_pretty(&evidence).unwrap()).unwrap();
    eprintln!("wrote {path}");
    if n != DEFAULT_N {
        return;
    }

    let missed: Vec<String> = modes
        .iter()
        .flat_map(|(policy, rows)| {
            rows.iter()
                .filter(|r| r.met() == Some(false))
                .map(move |r| format!("`--monitor {policy}`: {}", r.scenario))
        })
        .collect();
    let verdict = if missed.is_empty() {
        "Every target is met.".to_string()
    } else {
        format!("**Targets not met:** {}.", missed.join("; "))
    };
    let mut report = format!(
        "# Geo engine: Cloudflare calls per event\n\n\
Generated by `cargo bench --bench geo` (`CFGEO_BENCH_SCENARIOS=calls` runs only this set; {profile} profile). Two clusters, each a geo engine in its own run loop with its own fake API server, owner id, region and API token, share one emulator over real HTTP: A (region eu, {n} selected Ingresses in one pool) and B (region us_east, one Ingress when it has joined), both serving the load balancer {LB_HOST}. Production timing: debounce {deb} ms / max {deb_max} ms, resync 300 s (2 s in scenario 5 only), retries from 2 s; removal delay {REMOVAL_DELAY_SECS} s (production default 30 s). {verdict}\n\n\
Method: each window starts with an empty emulator call log, then the change is made on the fake API server; it ends once the expected state holds in the emulator (polled every 20 ms) and the emulator has then seen no call for {} s. Every HTTP call the emulator received in the window is counted, from both clusters. Scenario 4 has no state to wait for: its window ends when the watch has delivered the change and the emulator has been quiet for {} s, longer than the debounce. Scenario 5 restarts both engines with a {} s resync period and counts, per cluster (by token), the calls of its {RESYNCS} resyncs after the first pass, a pass being a burst of calls separated from the next by more than {PASS_GAP_MS} ms; it runs with both clusters joined. Endpoints are listed per cluster in arrival order, except that reads issued together arrive in any order and are listed as pools, monitors, load_balancers.\n",
        QUIET.as_secs(),
        QUIET.as_secs(),
        BENCH_RESYNC.as_secs(),
    );
    for (policy, rows) in &modes {
        let title = if *policy == "managed" {
            "`--monitor managed` (the default: one monitor per pool)".to_string()
        } else {
            format!("`--monitor {policy}`")
        };
        report.push_str(&format!("\n## {title}\n\n{}", calls_table(rows)));
    }
    std::fs::create_dir_all("docs/benchmarks").unwrap();
    std::fs::write("docs/benchmarks/geo-calls.md", &report).unwrap();
    println!("{report}");
}
