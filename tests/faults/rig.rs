//! The fault suites' shared rig (tests/faults and tests/secrets.rs): budgets, an emulator with
//! a token list, engines spawned against a fake API server, and small object builders.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use crate::common::evidence::Evidence;
use crate::common::{fast_timing, status};
use cfgeo::cloudflare::{ApiToken, Client, ClientSettings, TokenSource};
use cfgeo::emulator::{CallRecord, Emulator, EmulatorConfig, EmulatorHandle};
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
use fake_kube::FakeKubeHandle;
use k8s_openapi::api::networking::v1::Ingress;
use kube::runtime::watcher;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The small budgets the fault cases give cfgeo's client (requests per [`WINDOW`]), small
/// enough that the engines' demand under faults reaches them, so the sliding-window check bites.
/// The record synchronizer makes fewer calls (it caches the zone), hence its smaller budget.
pub const GEO_LIMIT: u32 = 20;
pub const RECORDS_LIMIT: u32 = 10;
pub const WINDOW: Duration = Duration::from_secs(3);
pub const T: Duration = Duration::from_secs(30);
pub const OWNER: &str = "faults";

pub async fn emulator_with(
    rate_limit: u32,
    window: Duration,
    tokens: Vec<String>,
) -> EmulatorHandle {
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
pub fn budget_client(emu: &EmulatorHandle, token: &str, limit: u32) -> Client {
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
pub async fn fingerprint_of(emu: &EmulatorHandle, client: &Client) -> String {
    let before = emu.call_log().last().map_or(0, |c| c.seq);
    client.verify_token().await.expect("token verifies");
    emu.call_log()
        .into_iter()
        .find(|c| c.seq > before && c.path.ends_with("/tokens/verify"))
        .and_then(|c| c.token_fingerprint)
        .expect("the call is logged with a fingerprint")
}

pub fn calls_of(emu: &EmulatorHandle, fp: &str) -> Vec<CallRecord> {
    emu.call_log()
        .into_iter()
        .filter(|c| c.token_fingerprint.as_deref() == Some(fp))
        .collect()
}

/// The largest number of arrivals in any window of `window_ms`.
pub fn max_in_window(calls: &[CallRecord], window_ms: u64) -> usize {
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

pub fn is_write(c: &CallRecord) -> bool {
    c.method != "GET"
}

pub fn record_settings(owner: &str) -> RecordSettings {
    RecordSettings::new(owner, Policy::Sync)
}

pub fn source_settings() -> SourceSettings {
    SourceSettings::default()
}

pub fn txt(owner: &str, resource: &str) -> String {
    format!("\"heritage=external-dns,external-dns/owner={owner},external-dns/resource={resource}\"")
}

pub fn plain_ingress(name: &str, hosts: &[&str], addrs: &[&str]) -> Value {
    let rules: Vec<Value> = hosts.iter().map(|h| json!({"host": h})).collect();
    json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"rules": rules},
        "status": status(addrs),
    })
}

pub fn lb_service(name: &str, host: &str, addrs: &[&str]) -> Value {
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
pub fn record_set(emu: &EmulatorHandle, zone: &str) -> BTreeSet<(String, String, String)> {
    emu.records(zone)
        .into_iter()
        .map(|r| (r.record_type, r.name, r.content))
        .collect()
}

/// What the record synchronizer must hold for `hosts` (host → (address, resource)).
pub fn desired_records(
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
pub struct Running {
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl Running {
    /// Asserts the task is still running, stops it and checks it ended without a panic.
    pub async fn stop(self, ev: &mut Evidence) {
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

pub fn spawn_geo(
    kube_client: kube::Client,
    client: Client,
    s: GeoSettings,
    timing: Timing,
) -> Running {
    let shutdown = CancellationToken::new();
    let rx = kube_watch::watch_objects(
        kube::Api::<Ingress>::all(kube_client.clone()),
        watcher::Config::default().labels(crate::common::SELECTOR),
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

pub async fn spawn_records(
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
pub async fn wait_for(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
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

/// Samples a condition every few ms in the background and counts the samples where it failed.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    bad: Arc<AtomicUsize>,
    taken: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Sampler {
    pub fn start(mut ok: impl FnMut() -> bool + Send + 'static) -> Self {
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
    pub async fn finish(self) -> (usize, usize) {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.expect("sampler");
        (
            self.taken.load(Ordering::Relaxed),
            self.bad.load(Ordering::Relaxed),
        )
    }
}

pub fn ann_ingress(name: &str, host: &str, addr: &str, ann: Value) -> Value {
    let mut v = plain_ingress(name, &[host], &[addr]);
    v["metadata"]["annotations"] = ann;
    v
}

/// Where an object's Warning Events say something: the notes of Events regarding `name`.
pub fn notes_for(kube: &FakeKubeHandle, name: &str) -> Vec<String> {
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
