//! Shared harness for end-to-end tests: an emulator, real or fake API servers, and geo engines
//! wired to them over real HTTP.
#![allow(dead_code)]

pub mod control_plane;
pub mod evidence;
pub mod real;

use std::time::Duration;

use cfgeo::cloudflare::{Client, ClientSettings, TokenSource};
use cfgeo::emulator::{Emulator, EmulatorConfig, EmulatorHandle};
use cfgeo::events::Reporter;
use cfgeo::geo::engine::GeoEngine;
use cfgeo::geo::settings::keys;
use cfgeo::geo::{GeoSettings, LbPolicy, MonitorPolicy};
use cfgeo::model::{Region, Weight};
use cfgeo::runtime::Timing;
use cfgeo::sources::kube_watch;
use fake_kube::{FakeKube, FakeKubeHandle};
use k8s_openapi::api::networking::v1::Ingress;
use kube::runtime::watcher;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

pub const TOKEN: &str = "cfgeo-test-token-7f3a9c1e";
pub const SELECTOR: &str = "dns.external/geo-route=true";

pub async fn emulator() -> EmulatorHandle {
    Emulator::start(EmulatorConfig::default())
        .await
        .expect("emulator starts")
}

pub fn client(emu: &EmulatorHandle) -> Client {
    let settings = ClientSettings {
        base_url: emu.base_url(),
        backoff_min: Duration::from_millis(10),
        backoff_max: Duration::from_millis(50),
        ..ClientSettings::default()
    };
    Client::new(
        settings,
        TokenSource::Static(cfgeo::cloudflare::ApiToken::new(TOKEN)),
    )
    .unwrap()
}

pub fn settings(emu: &EmulatorHandle, region: &str, owner: &str) -> GeoSettings {
    GeoSettings {
        account_id: emu.account_id(),
        zone_id: emu.zone_id("example.com").unwrap(),
        zone_name: "example.com".into(),
        region: Region::resolve(region, None, None).unwrap(),
        default_lb_host: "app.example.com".into(),
        weight: Weight::from_percent(33),
        owner_id: owner.into(),
        deployment_id: "app.example.com".into(),
        cluster_labels: vec!["cluster-name".into(), "cluster_name".into()],
        lb_hostname_annotation: keys::LB_HOSTNAME.into(),
        drain_annotation: keys::DRAIN.into(),
        drain_all: false,
        monitor: MonitorPolicy::None,
        lb: LbPolicy {
            steering: cfgeo::cloudflare::types::SteeringPolicy::Proximity,
            proxied: true,
            ttl: 30,
        },
        removal_delay_secs: 0,
    }
}

pub fn ingress(name: &str, cluster: &str, addrs: &[&str]) -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": name,
            "namespace": "shop",
            "labels": {"dns.external/geo-route": "true", "cluster-name": cluster},
        },
        "spec": {"rules": [{"host": "app.example.com"}]},
        "status": status(addrs),
    })
}

pub fn status(addrs: &[&str]) -> Value {
    let entries: Vec<Value> = addrs
        .iter()
        .map(|a| {
            if a.parse::<std::net::IpAddr>().is_ok() {
                json!({"ip": a})
            } else {
                json!({"hostname": a})
            }
        })
        .collect();
    json!({"loadBalancer": {"ingress": entries}})
}

/// A running geo engine watching a fake API server.
pub struct Cluster {
    pub kube: FakeKubeHandle,
    pub shutdown: CancellationToken,
    pub client: Client,
}

pub fn fast_timing() -> Timing {
    Timing {
        debounce: Duration::from_millis(50),
        debounce_max: Duration::from_millis(200),
        resync: Duration::from_secs(2),
        retry_min: Duration::from_millis(100),
        retry_max: Duration::from_millis(500),
    }
}

pub async fn start_cluster(emu: &EmulatorHandle, s: GeoSettings, timing: Timing) -> Cluster {
    let kube = FakeKube::start().await.expect("fake kube starts");
    let (shutdown, client) = spawn_geo_engine(kube.client().await.unwrap(), emu, s, timing);
    Cluster {
        kube,
        shutdown,
        client,
    }
}

/// A geo engine watching `kc`'s selected Ingresses, always leading; its stop token and client.
fn spawn_geo_engine(
    kc: kube::Client,
    emu: &EmulatorHandle,
    s: GeoSettings,
    timing: Timing,
) -> (CancellationToken, Client) {
    let shutdown = CancellationToken::new();
    let rx = kube_watch::watch_objects(
        kube::Api::<Ingress>::all(kc.clone()),
        watcher::Config::default().labels(SELECTOR),
        shutdown.clone(),
    );
    let client = client(emu);
    let engine = GeoEngine::new(client.clone(), s, Reporter::kube(kc, "cfgeo", None), timing);
    let (leader_tx, leader) = tokio::sync::watch::channel(true);
    let sd = shutdown.clone();
    tokio::spawn(async move {
        let _leader = leader_tx;
        engine.run(rx, leader, sd).await
    });
    (shutdown, client)
}

/// A running geo engine watching a real kube-apiserver.
pub struct RealCluster {
    pub kube: real::RealKube,
    pub shutdown: CancellationToken,
    pub client: Client,
}

/// A geo engine on a fresh real control plane (tests/common/control_plane.rs).
pub async fn start_real_cluster(
    emu: &EmulatorHandle,
    s: GeoSettings,
    timing: Timing,
) -> RealCluster {
    let kube = real::RealKube::start(false).await;
    let (shutdown, client) = spawn_geo_engine(kube.client().await, emu, s, timing);
    RealCluster {
        kube,
        shutdown,
        client,
    }
}

/// Waits until `f` holds on the emulator's state, checking after every short interval.
pub async fn eventually(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if f() {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Pools by name with their (address, enabled) origins.
pub fn pools(emu: &EmulatorHandle) -> std::collections::BTreeMap<String, Vec<(String, bool)>> {
    let state = emu.state_json();
    let mut out = std::collections::BTreeMap::new();
    for p in state_items(&state, "pools") {
        let origins = p["origins"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|o| {
                (
                    o["address"].as_str().unwrap_or("").to_string(),
                    o["enabled"].as_bool().unwrap_or(true),
                )
            })
            .collect();
        out.insert(p["name"].as_str().unwrap_or("").to_string(), origins);
    }
    out
}

/// LB default pools, as pool names.
pub fn lb_pool_names(emu: &EmulatorHandle, host: &str) -> Option<Vec<String>> {
    let state = emu.state_json();
    let names: std::collections::BTreeMap<String, String> = state_items(&state, "pools")
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap_or("").to_string(),
                p["name"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    state_items(&state, "load_balancers")
        .iter()
        .find(|l| l["name"] == host)
        .map(|l| {
            l["default_pools"]
                .as_array()
                .unwrap()
                .iter()
                .map(|id| {
                    names
                        .get(id.as_str().unwrap())
                        .cloned()
                        .unwrap_or_else(|| id.to_string())
                })
                .collect()
        })
}

/// Items of a collection in the emulator's state dump, whether stored as a map or a list.
pub fn state_items(state: &Value, key: &str) -> Vec<Value> {
    fn find<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
        match v {
            Value::Object(m) => m.get(key).or_else(|| m.values().find_map(|x| find(x, key))),
            _ => None,
        }
    }
    match find(state, key) {
        Some(Value::Array(a)) => a.clone(),
        Some(Value::Object(m)) => m.values().cloned().collect(),
        _ => Vec::new(),
    }
}
