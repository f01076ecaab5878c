//! Geo engine benchmarks over real HTTP (fake API server + emulator): Cloudflare calls per
//! watch event, and latency from an Ingress status change to the pool write, with N selected
//! Ingresses in one pool.
//!
//! Run: `cargo bench --bench geo` (N = 1,000; writes docs/benchmarks/geo.md).
//! Environment: `CFGEO_BENCH_N` (selected Ingresses), `CFGEO_BENCH_SAMPLES` (latency samples),
//! `CFGEO_BENCH_DEBOUNCE` (`test`: 50/200 ms as in the tests, or `production`: 200/800 ms),
//! `CFGEO_EVIDENCE_DIR` (default `target/evidence`: one JSON file per run, read by
//! scripts/performance.py). docs/benchmarks/geo.md is written only with the defaults.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use cfgeo::emulator::EmulatorHandle;
use cfgeo::events::Reporter;
use cfgeo::geo::engine::{GeoEngine, Timing};
use cfgeo::sources::kube_watch;
use cfgeo::testkit::fake_kube::{FakeKube, FakeKubeHandle};
use common::*;
use k8s_openapi::api::networking::v1::Ingress;
use kube::runtime::watcher;
use serde_json::json;
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

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n = env_usize("CFGEO_BENCH_N", DEFAULT_N);
    let samples = env_usize("CFGEO_BENCH_SAMPLES", if n <= 10_000 { 100 } else { 20 });
    let production = std::env::var("CFGEO_BENCH_DEBOUNCE").as_deref() == Ok("production");
    let debounce_name = if production { "production" } else { "test" };
    let profile = if cfg!(debug_assertions) {
        "dev"
    } else {
        "bench (release)"
    };
    let evidence_dir = std::env::var("CFGEO_EVIDENCE_DIR").unwrap_or("target/evidence".into());
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
    let changed_calls = emu.call_log().len();
    let changed_writes = writes(&emu);
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
        "change_events": change_events,
        "latency_samples": lat.len(),
        "latency_ms": {"p50": p50, "p99": p99, "max": max},
        "wall_time_s": bench_started.elapsed().as_secs_f64(),
    });
    std::fs::create_dir_all(&evidence_dir).unwrap();
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
| Cloudflare calls for one address change (reads + writes + verification reads) | small | {changed_calls} ({changed_writes} write) |\n\
| Kubernetes Events written for that one change | - | {change_events} |\n\
| latency, Ingress status change -> pool write at the emulator, p50 | - | {p50:.0} ms |\n\
| latency, p99 ({} samples) | < 1 s | {p99:.0} ms |\n\n\
Method: latency is measured from just before the status update on the fake API server to the first write in the emulator's call log, polled every 1 ms (so up to 1 ms of polling error). The debounce window is part of the latency by design. Each sample starts once the emulator and the Events have been quiet for 500 ms. The resync period is the production one (300 s), so no periodic resync lands in a measurement.\n\n\
Note: a reconcile costs 3 reads (pools, monitors, load balancers), then the write, then 3 \
verification reads, which makes 7 calls for one address change.\n",
        lat.len(),
    );
    std::fs::create_dir_all("docs/benchmarks").unwrap();
    std::fs::write("docs/benchmarks/geo.md", &report).unwrap();
    println!("{report}");
}
