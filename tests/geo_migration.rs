//! Clusters that ran the seed's Python geo tool switch to cfgeo. The emulator is first filled
//! the way the tool leaves an account (its own request bodies, over HTTP): one pool per
//! `k8s-pool-{cluster-name}-{geo}` with no description, the tool's coordinates and origins named
//! `origin-{geo}` weighing `CF_ORIGIN_WEIGHT`/100, and one proximity load balancer
//! `app.example.com` listing them. Then real geo engines (fake API server, real watcher, real
//! client) take over, while a background task samples the emulator to prove that no address
//! that served before ever stops being served and that the load balancer is never re-created.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cfgeo::admin::Metrics;
use cfgeo::cloudflare::types::MonitorInput;
use cfgeo::emulator::{EmulatorHandle, Pool, State};
use cfgeo::events::Reporter;
use cfgeo::geo::engine::GeoEngine;
use cfgeo::geo::{GeoSettings, MonitorPolicy};
use cfgeo::sources::kube_watch;
use common::*;
use fake_kube::FakeKube;
use k8s_openapi::api::networking::v1::Ingress;
use kube::runtime::watcher;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const T: Duration = Duration::from_secs(15);
const HOST: &str = "app.example.com";
/// Longer than one resync of `fast_timing()` (2 s, jittered down).
const RESYNC: Duration = Duration::from_millis(2_600);

/// The seed tool's `GEO_LOCATIONS` table.
fn seed_coordinates(geo: &str) -> (f64, f64) {
    match geo {
        "eu" => (50.1109, 8.6821),
        "us_east" => (40.7128, -74.0060),
        "us_west" => (34.0522, -118.2437),
        "asia" => (35.6762, 139.6503),
        other => panic!("the seed tool knows no region {other}"),
    }
}

/// Writes what the seed tool writes, with its request bodies, straight to the emulator's API
/// (and, later, what an operator does by hand in the dashboard).
struct SeedTool {
    http: reqwest::Client,
    base: String,
    account: String,
    zone: String,
}

impl SeedTool {
    fn new(emu: &EmulatorHandle) -> Self {
        // The crate builds reqwest without a default TLS provider; a client needs one even for
        // plain http.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Self {
            http: reqwest::Client::new(),
            base: emu.base_url(),
            account: emu.account_id(),
            zone: emu.zone_id("example.com").unwrap(),
        }
    }

    /// One call; the status and the parsed body.
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("emulator answers");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn ok(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self.call(method, path, body).await;
        assert!(
            (200..300).contains(&status) && v["success"] == true,
            "{status} {v}"
        );
        v["result"].clone()
    }

    fn pools_path(&self) -> String {
        format!("/accounts/{}/load_balancers/pools", self.account)
    }

    fn lbs_path(&self) -> String {
        format!("/zones/{}/load_balancers", self.zone)
    }

    /// The pool the tool leaves for `cluster` in `geo` holding `addrs`: the body of its POST
    /// (name, origins, coordinates; no description, so Cloudflare stores ""). The tool names
    /// every origin `origin-{geo}`; Cloudflare wants origin names unique within a pool, so a
    /// second address of one pool carries a suffix.
    async fn pool(&self, cluster: &str, geo: &str, addrs: &[&str]) -> String {
        let (lat, lon) = seed_coordinates(geo);
        let origins: Vec<Value> = addrs
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let name = if i == 0 {
                    format!("origin-{geo}")
                } else {
                    format!("origin-{geo}-{}", i + 1)
                };
                json!({"name": name, "address": a, "enabled": true, "weight": 0.33})
            })
            .collect();
        let body = json!({
            "name": format!("k8s-pool-{cluster}-{geo}"),
            "origins": origins,
            "latitude": lat,
            "longitude": lon,
        });
        let r = self
            .ok(reqwest::Method::POST, &self.pools_path(), Some(body))
            .await;
        r["id"].as_str().unwrap().to_string()
    }

    /// The tool's load balancer: proximity, proxied, TTL 30, every pool, the first as fallback.
    async fn lb(&self, pools: &[String]) -> String {
        let body = json!({
            "name": HOST,
            "fallback_pool": pools[0],
            "default_pools": pools,
            "proxied": true,
            "ttl": 30,
            "steering_policy": "proximity",
        });
        let r = self
            .ok(reqwest::Method::POST, &self.lbs_path(), Some(body))
            .await;
        r["id"].as_str().unwrap().to_string()
    }

    /// PATCHes a pool's origins by hand; the status and body.
    async fn set_origins(&self, pool_id: &str, origins: Value) -> (u16, Value) {
        self.call(
            reqwest::Method::PATCH,
            &format!("{}/{pool_id}", self.pools_path()),
            Some(json!({"origins": origins})),
        )
        .await
    }
}

fn managed_monitor() -> MonitorPolicy {
    MonitorPolicy::Managed(MonitorInput {
        monitor_type: Some("http".into()),
        path: Some("/healthz".into()),
        expected_codes: Some("2xx".into()),
        interval: Some(60),
        ..Default::default()
    })
}

/// The production default: a managed monitor per pool.
fn cfgeo_settings(emu: &EmulatorHandle, region: &str, owner: &str) -> GeoSettings {
    let mut s = settings(emu, region, owner);
    s.monitor = managed_monitor();
    s
}

/// `start_cluster`, with metrics recorded.
async fn start_with_metrics(emu: &EmulatorHandle, s: GeoSettings) -> (Cluster, Metrics) {
    let kube = FakeKube::start().await.expect("fake kube starts");
    let kc = kube.client().await.unwrap();
    let shutdown = CancellationToken::new();
    let rx = kube_watch::watch_objects(
        kube::Api::<Ingress>::all(kc.clone()),
        watcher::Config::default().labels(SELECTOR),
        shutdown.clone(),
    );
    let client = client(emu);
    let metrics = Metrics::new();
    let engine = GeoEngine::new(
        client.clone(),
        s,
        Reporter::kube(kc, "cfgeo", None),
        fast_timing(),
    )
    .with_metrics(metrics.clone());
    let (leader_tx, leader) = tokio::sync::watch::channel(true);
    let sd = shutdown.clone();
    tokio::spawn(async move {
        let _leader = leader_tx;
        engine.run(rx, leader, sd).await
    });
    (
        Cluster {
            kube,
            shutdown,
            client,
        },
        metrics,
    )
}

/// `cfgeo_geo_problems{reason, object}` as last set, if ever.
fn problem_gauge(m: &Metrics, reason: &str, object: &str) -> Option<i64> {
    m.encode()
        .lines()
        .filter(|l| l.starts_with("cfgeo_geo_problems{"))
        .find(|l| {
            l.contains(&format!("reason=\"{reason}\""))
                && l.contains(&format!("object=\"{object}\""))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Notes of the Warning Events with `reason` the cluster's API server holds.
fn warnings(c: &Cluster, reason: &str) -> Vec<String> {
    c.kube
        .events()
        .iter()
        .filter(|e| e["type"] == "Warning" && e["reason"] == reason)
        .map(|e| {
            e["note"]
                .as_str()
                .or(e["message"].as_str())
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

fn pool_named(emu: &EmulatorHandle, name: &str) -> Option<Pool> {
    emu.pools().into_iter().find(|p| p.name == name)
}

fn lb_of(emu: &EmulatorHandle) -> cfgeo::emulator::LoadBalancer {
    emu.load_balancers()
        .into_iter()
        .find(|l| l.name == HOST)
        .expect("the load balancer exists")
}

/// (name, address, enabled, weight) of every origin.
fn origins_of(p: &Pool) -> Vec<(String, String, bool, f64)> {
    p.origins
        .iter()
        .map(|o| (o.name.clone(), o.address.clone(), o.enabled, o.weight))
        .collect()
}

/// The marker fields of a description cfgeo wrote.
fn marker(p: &Pool) -> Option<BTreeMap<String, String>> {
    let rest = p.description.strip_prefix("managed-by=cfgeo")?;
    Some(
        rest.split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

fn marked_by(p: &Pool, owner: &str, geo: &str, cluster: &str) -> bool {
    marker(p).is_some_and(|m| {
        m.get("owner").map(String::as_str) == Some(owner)
            && m.get("geo").map(String::as_str) == Some(geo)
            && m.get("cluster").map(String::as_str) == Some(cluster)
            && m.get("deploy").map(String::as_str) == Some(HOST)
            && m.get("lb").map(String::as_str) == Some(HOST)
    })
}

fn writes(emu: &EmulatorHandle) -> Vec<String> {
    emu.call_log()
        .iter()
        .filter(|c| c.method != "GET")
        .map(|c| format!("{} {}", c.method, c.path))
        .collect()
}

/// Waits until no write has reached the emulator for a full resync.
async fn quiet(emu: &EmulatorHandle) {
    let deadline = tokio::time::Instant::now() + T;
    let mut last = writes(emu).len();
    loop {
        tokio::time::sleep(RESYNC).await;
        let now = writes(emu).len();
        if now == last {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "never quiet");
        last = now;
    }
}

/// What one sample of the emulator shows.
#[derive(Debug, Default)]
struct Samples {
    taken: usize,
    /// Samples where an address that served before was in no enabled origin of an enabled pool
    /// of the LB (the first few, described).
    missing: Vec<String>,
    missing_count: usize,
    /// LB ids seen (an absent LB is recorded as "none").
    lb_ids: BTreeSet<String>,
}

/// The addresses the LB serves: enabled origins of the enabled pools in its `default_pools`
/// (the fallback pool is not counted: it serves only when every listed pool is down).
fn served(state: &State) -> (Option<String>, BTreeSet<String>) {
    let Some(lb) = state.load_balancers.values().find(|l| l.name == HOST) else {
        return (None, BTreeSet::new());
    };
    let addrs = lb
        .default_pools
        .iter()
        .filter_map(|id| state.pools.get(id))
        .filter(|p| p.enabled)
        .flat_map(|p| p.origins.iter().filter(|o| o.enabled))
        .map(|o| o.address.clone())
        .collect();
    (Some(lb.id.clone()), addrs)
}

/// Samples the emulator every 2 ms until stopped.
struct Sampler {
    stop: Arc<AtomicBool>,
    task: JoinHandle<Samples>,
}

impl Sampler {
    fn start(emu: &Arc<EmulatorHandle>, must_serve: &[&str]) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let must: Vec<String> = must_serve.iter().map(|s| s.to_string()).collect();
        let (emu, flag) = (emu.clone(), stop.clone());
        let task = tokio::spawn(async move {
            let mut s = Samples::default();
            while !flag.load(Ordering::Relaxed) {
                // One consistent snapshot of the whole account.
                let (lb, addrs) = served(&emu.state());
                s.taken += 1;
                s.lb_ids.insert(lb.unwrap_or_else(|| "none".into()));
                let gone: Vec<&String> = must.iter().filter(|a| !addrs.contains(*a)).collect();
                if !gone.is_empty() {
                    s.missing_count += 1;
                    if s.missing.len() < 5 {
                        s.missing
                            .push(format!("{gone:?} not served; LB serves {addrs:?}"));
                    }
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            s
        });
        Self { stop, task }
    }

    async fn finish(self) -> Samples {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap()
    }
}

const REGIONS: [(&str, &str, &str); 4] = [
    ("eu", "fra1", "203.0.113.10"),
    ("us_east", "nyc1", "198.51.100.20"),
    ("us_west", "lax1", "192.0.2.30"),
    ("asia", "tyo1", "2001:db8::40"),
];

/// Case A: four regions, one cluster each, every address as the seed wrote it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_pools_of_four_regions_are_adopted_in_place() {
    let emu = Arc::new(emulator().await);
    let seed = SeedTool::new(&emu);
    let mut ids = Vec::new();
    for (geo, cluster, addr) in REGIONS {
        ids.push(seed.pool(cluster, geo, &[addr]).await);
    }
    let lb_id = seed.lb(&ids).await;
    let before: BTreeMap<String, Pool> = emu
        .pools()
        .into_iter()
        .map(|p| (p.name.clone(), p))
        .collect();
    assert!(before.values().all(|p| p.description.is_empty()));
    let lb_before = lb_of(&emu);

    let addrs: Vec<&str> = REGIONS.iter().map(|r| r.2).collect();
    let sampler = Sampler::start(&emu, &addrs);
    let mut clusters = Vec::new();
    for (geo, cluster, addr) in REGIONS {
        let c = start_cluster(
            &emu,
            cfgeo_settings(&emu, geo, &format!("owner-{geo}")),
            fast_timing(),
        )
        .await;
        c.kube.apply(ingress("web", cluster, &[addr]));
        clusters.push(c);
    }

    eventually("every seed pool adopted", T, || {
        let pools = emu.pools();
        pools.len() == 4
            && REGIONS.iter().all(|(geo, cluster, _)| {
                pools.iter().any(|p| {
                    p.name == format!("k8s-pool-{cluster}-{geo}")
                        && marked_by(p, &format!("owner-{geo}"), geo, cluster)
                        && p.monitor.is_some()
                })
            })
    })
    .await;
    quiet(&emu).await;

    // Adopted in place: same ids, origins exactly as the tool wrote them, same coordinates.
    let after = emu.pools();
    assert_eq!(after.len(), 4, "no pool created: {after:?}");
    for p in &after {
        let b = &before[&p.name];
        assert_eq!(p.id, b.id, "{}", p.name);
        assert_eq!(
            origins_of(p),
            origins_of(b),
            "origins of {} unchanged",
            p.name
        );
        assert_eq!((p.latitude, p.longitude), (b.latitude, b.longitude));
        assert!(p.enabled);
        let m = p.monitor.as_deref().unwrap();
        assert!(
            emu.monitors()
                .iter()
                .any(|mon| mon.id == m && mon.description.starts_with("managed-by=cfgeo")),
            "{} has its own monitor",
            p.name
        );
    }
    // The LB keeps its id, its pools and its settings.
    let lb = lb_of(&emu);
    assert_eq!(lb.id, lb_id);
    assert_eq!(
        lb.default_pools.iter().collect::<BTreeSet<_>>(),
        lb_before.default_pools.iter().collect::<BTreeSet<_>>()
    );
    assert!(ids.contains(&lb.fallback_pool));
    assert_eq!(
        (lb.steering_policy.as_str(), lb.proxied),
        ("proximity", true)
    );

    // A second pass writes nothing: a fresh engine per cluster, then the clusters' own resyncs.
    emu.reset_calls();
    for (i, (geo, ..)) in REGIONS.iter().enumerate() {
        let ing: Vec<Arc<Ingress>> = clusters[i]
            .kube
            .list_resources::<Ingress>()
            .into_iter()
            .map(Arc::new)
            .collect();
        let mut engine = GeoEngine::new(
            client(&emu),
            cfgeo_settings(&emu, geo, &format!("owner-{geo}")),
            Reporter::Log,
            fast_timing(),
        );
        let r = engine.pass(&ing).await.unwrap();
        assert!(r.written.is_empty(), "{geo}: {:?}", r.written);
        assert!(r.problems.is_empty(), "{geo}: {:?}", r.problems);
    }
    tokio::time::sleep(RESYNC).await;
    assert!(!emu.call_log().is_empty(), "the resyncs read");
    assert_eq!(
        writes(&emu),
        Vec::<String>::new(),
        "second passes only read"
    );

    let s = sampler.finish().await;
    assert!(s.taken > 100, "{s:?}");
    assert_eq!(s.missing_count, 0, "{:?}", s.missing);
    assert_eq!(s.lb_ids, BTreeSet::from([lb_id]));
    for c in clusters {
        c.shutdown.cancel();
    }
}

/// Case B: two clusters of region eu share cluster-name `prod`, so the tool merged both into
/// `k8s-pool-prod-eu`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merged_seed_pool_is_reported_then_split_by_relabelling() {
    const A: &str = "203.0.113.10";
    const B: &str = "203.0.113.20";
    const SEED_POOL: &str = "k8s-pool-prod-eu";
    let emu = Arc::new(emulator().await);
    let seed = SeedTool::new(&emu);
    let seed_id = seed.pool("prod", "eu", &[A, B]).await;
    let lb_id = seed.lb(std::slice::from_ref(&seed_id)).await;
    let seed_before = pool_named(&emu, SEED_POOL).unwrap();

    let sampler = Sampler::start(&emu, &[A, B]);
    let (a, ma) = start_with_metrics(&emu, cfgeo_settings(&emu, "eu", "owner-prod-a")).await;
    let (b, mb) = start_with_metrics(&emu, cfgeo_settings(&emu, "eu", "owner-prod-b")).await;
    a.kube.apply(ingress("web", "prod", &[A]));
    b.kube.apply(ingress("web", "prod", &[B]));

    // Each cluster is told, on its Ingress, which pool and which other address.
    for (c, other) in [(&a, B), (&b, A)] {
        assert!(
            c.kube
                .wait_until(T, |_| !warnings(c, "SeedPoolHasOtherOrigins").is_empty())
                .await,
            "a Warning Event: {:?}",
            c.kube.events()
        );
        let w = warnings(c, "SeedPoolHasOtherOrigins");
        assert!(
            w.iter().any(|m| m.contains(SEED_POOL) && m.contains(other)),
            "{w:?}"
        );
    }
    let object = format!("pool/{SEED_POOL}");
    for m in [&ma, &mb] {
        eventually("problem metric", T, || {
            problem_gauge(m, "SeedPoolHasOtherOrigins", &object) == Some(1)
        })
        .await;
    }
    // Nothing is adopted, created or lost, across resyncs.
    tokio::time::sleep(RESYNC).await;
    assert_eq!(pool_named(&emu, SEED_POOL).unwrap(), seed_before);
    assert_eq!(emu.pools().len(), 1);
    assert_eq!(lb_pool_names(&emu, HOST), Some(vec![SEED_POOL.to_string()]));

    // The way out: each cluster's Ingresses get their own cluster-name.
    let relabel = |c: &Cluster, name: &str| {
        c.kube.merge_patch(
            "networking.k8s.io/v1",
            "Ingress",
            Some("shop"),
            "web",
            &json!({"metadata": {"labels": {"cluster-name": name}}}),
        );
    };
    relabel(&a, "prod-a");
    eventually("prod-a joins", T, || {
        pools(&emu).get("k8s-pool-prod-a-eu") == Some(&vec![(A.to_string(), true)])
            && lb_pool_names(&emu, HOST)
                == Some(vec![SEED_POOL.into(), "k8s-pool-prod-a-eu".into()])
    })
    .await;
    eventually("a's problem cleared", T, || {
        problem_gauge(&ma, "SeedPoolHasOtherOrigins", &object) == Some(0)
    })
    .await;
    relabel(&b, "prod-b");
    eventually("prod-b joins", T, || {
        pools(&emu).get("k8s-pool-prod-b-eu") == Some(&vec![(B.to_string(), true)])
            && lb_pool_names(&emu, HOST)
                == Some(vec![
                    SEED_POOL.into(),
                    "k8s-pool-prod-a-eu".into(),
                    "k8s-pool-prod-b-eu".into(),
                ])
    })
    .await;
    eventually("b's problem cleared", T, || {
        problem_gauge(&mb, "SeedPoolHasOtherOrigins", &object) == Some(0)
    })
    .await;
    quiet(&emu).await;
    let a_pool = pool_named(&emu, "k8s-pool-prod-a-eu").unwrap();
    let b_pool = pool_named(&emu, "k8s-pool-prod-b-eu").unwrap();
    assert!(marked_by(&a_pool, "owner-prod-a", "eu", "prod-a"));
    assert!(marked_by(&b_pool, "owner-prod-b", "eu", "prod-b"));
    // The seed pool keeps its place (and stays the fallback), untouched, until removed by hand.
    assert_eq!(pool_named(&emu, SEED_POOL).unwrap(), seed_before);
    let lb = lb_of(&emu);
    assert_eq!(lb.fallback_pool, seed_id);
    // The monitors cfgeo made while the name was `prod` are gone; one per own pool is left.
    let monitors = emu.monitors();
    assert_eq!(monitors.len(), 2, "{monitors:?}");
    assert!(
        [&a_pool, &b_pool]
            .iter()
            .all(|p| monitors.iter().any(|m| Some(&m.id) == p.monitor.as_ref()))
    );

    // By hand: the seed pool leaves the LB, then is deleted. cfgeo adds nothing back.
    emu.reset_calls();
    seed.ok(
        reqwest::Method::PATCH,
        &format!("{}/{lb_id}", seed.lbs_path()),
        Some(json!({"default_pools": [a_pool.id, b_pool.id], "fallback_pool": a_pool.id})),
    )
    .await;
    seed.ok(
        reqwest::Method::DELETE,
        &format!("{}/{seed_id}", seed.pools_path()),
        None,
    )
    .await;
    let by_hand = writes(&emu).len();
    tokio::time::sleep(RESYNC).await;
    assert_eq!(writes(&emu).len(), by_hand, "{:?}", writes(&emu));
    assert_eq!(
        lb_pool_names(&emu, HOST),
        Some(vec![
            "k8s-pool-prod-a-eu".into(),
            "k8s-pool-prod-b-eu".into()
        ])
    );
    assert!(pool_named(&emu, SEED_POOL).is_none());

    let s = sampler.finish().await;
    assert!(s.taken > 100, "{s:?}");
    assert_eq!(s.missing_count, 0, "{:?}", s.missing);
    assert_eq!(
        s.lb_ids,
        BTreeSet::from([lb_id]),
        "the LB is never re-created"
    );
    a.shutdown.cancel();
    b.shutdown.cancel();
}

/// Case C: the address changed while neither the tool nor cfgeo ran, so the seed pool holds
/// only the old one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_seed_origin_is_reported_and_adopted_once_removed() {
    const STALE: &str = "203.0.113.10";
    const LIVE: &str = "203.0.113.99";
    const POOL: &str = "k8s-pool-fra1-eu";
    let emu = Arc::new(emulator().await);
    let seed = SeedTool::new(&emu);
    let pool_id = seed.pool("fra1", "eu", &[STALE]).await;
    let lb_id = seed.lb(std::slice::from_ref(&pool_id)).await;
    let before = pool_named(&emu, POOL).unwrap();

    let sampler = Sampler::start(&emu, &[STALE]);
    let (c, m) = start_with_metrics(&emu, cfgeo_settings(&emu, "eu", "owner-eu")).await;
    c.kube.apply(ingress("web", "fra1", &[LIVE]));
    assert!(
        c.kube
            .wait_until(T, |_| !warnings(&c, "SeedPoolHasOtherOrigins").is_empty())
            .await,
        "{:?}",
        c.kube.events()
    );
    let w = warnings(&c, "SeedPoolHasOtherOrigins");
    assert!(
        w.iter().any(|m| m.contains(POOL) && m.contains(STALE)),
        "{w:?}"
    );
    let object = format!("pool/{POOL}");
    eventually("problem metric", T, || {
        problem_gauge(&m, "SeedPoolHasOtherOrigins", &object) == Some(1)
    })
    .await;
    // Nothing deleted or replaced, across resyncs.
    tokio::time::sleep(RESYNC).await;
    assert_eq!(pool_named(&emu, POOL).unwrap(), before);
    assert_eq!(emu.pools().len(), 1);
    assert_eq!(lb_pool_names(&emu, HOST), Some(vec![POOL.to_string()]));
    let s = sampler.finish().await;
    assert_eq!(s.missing_count, 0, "{:?}", s.missing);

    // Cloudflare refuses a pool without origins, so the stale origin cannot just be deleted
    // while it is the only one: the current address goes in first.
    let (status, body) = seed.set_origins(&pool_id, json!([])).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = seed
        .set_origins(
            &pool_id,
            json!([
                {"name": "origin-eu", "address": STALE, "enabled": true, "weight": 0.33},
                {"name": "origin-eu-2", "address": LIVE, "enabled": true, "weight": 0.33},
            ]),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // The stale origin is still there: still not adopted.
    tokio::time::sleep(RESYNC).await;
    let mid = pool_named(&emu, POOL).unwrap();
    assert!(marker(&mid).is_none(), "{mid:?}");
    assert_eq!(mid.origins.len(), 2);
    assert_eq!(
        problem_gauge(&m, "SeedPoolHasOtherOrigins", &object),
        Some(1)
    );

    // The stale origin removed: cfgeo adopts the pool.
    let (status, body) = seed
        .set_origins(
            &pool_id,
            json!([{"name": "origin-eu-2", "address": LIVE, "enabled": true, "weight": 0.33}]),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    eventually("adopted", T, || {
        pool_named(&emu, POOL)
            .is_some_and(|p| marked_by(&p, "owner-eu", "eu", "fra1") && p.monitor.is_some())
    })
    .await;
    eventually("problem cleared", T, || {
        problem_gauge(&m, "SeedPoolHasOtherOrigins", &object) == Some(0)
    })
    .await;
    let p = pool_named(&emu, POOL).unwrap();
    assert_eq!(p.id, pool_id);
    assert_eq!(
        origins_of(&p),
        vec![("origin-eu-2".into(), LIVE.into(), true, 0.33)]
    );
    assert_eq!(lb_of(&emu).id, lb_id);
    assert_eq!(lb_pool_names(&emu, HOST), Some(vec![POOL.to_string()]));
    c.shutdown.cancel();
}

/// Case B, the wrong way out: deleting one cluster's address from the merged pool hands the pool
/// to the other cluster, and leaves the first one unserved until it is relabelled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editing_a_merged_seed_pool_hands_it_to_one_cluster() {
    const A: &str = "203.0.113.10";
    const B: &str = "203.0.113.20";
    const SEED_POOL: &str = "k8s-pool-prod-eu";
    let emu = Arc::new(emulator().await);
    let seed = SeedTool::new(&emu);
    let seed_id = seed.pool("prod", "eu", &[A, B]).await;
    let lb_id = seed.lb(std::slice::from_ref(&seed_id)).await;
    let (a, _) = start_with_metrics(&emu, cfgeo_settings(&emu, "eu", "owner-prod-a")).await;
    let (b, mb) = start_with_metrics(&emu, cfgeo_settings(&emu, "eu", "owner-prod-b")).await;
    a.kube.apply(ingress("web", "prod", &[A]));
    b.kube.apply(ingress("web", "prod", &[B]));
    for c in [&a, &b] {
        assert!(
            c.kube
                .wait_until(T, |_| !warnings(c, "SeedPoolHasOtherOrigins").is_empty())
                .await
        );
    }

    // By hand: B's origin is deleted from the merged pool.
    let (status, body) = seed
        .set_origins(
            &seed_id,
            json!([{"name": "origin-eu", "address": A, "enabled": true, "weight": 0.33}]),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    eventually("a adopts the pool", T, || {
        pool_named(&emu, SEED_POOL).is_some_and(|p| marked_by(&p, "owner-prod-a", "eu", "prod"))
    })
    .await;
    assert!(
        b.kube
            .wait_until(T, |_| warnings(&b, "PoolOwnedElsewhere").iter().any(|m| m
                .contains(SEED_POOL)
                && m.contains("owner-prod-a/eu/app.example.com")))
            .await,
        "{:?}",
        b.kube.events()
    );
    let object = format!("pool/{SEED_POOL}");
    eventually("b's problem", T, || {
        problem_gauge(&mb, "PoolOwnedElsewhere", &object) == Some(1)
    })
    .await;
    tokio::time::sleep(RESYNC).await;
    let (lb, served_now) = served(&emu.state());
    assert_eq!(lb.as_deref(), Some(lb_id.as_str()));
    assert_eq!(
        served_now,
        BTreeSet::from([A.to_string()]),
        "B is not served"
    );
    assert_eq!(emu.pools().len(), 1);

    // Relabelling b is still the way out.
    b.kube.merge_patch(
        "networking.k8s.io/v1",
        "Ingress",
        Some("shop"),
        "web",
        &json!({"metadata": {"labels": {"cluster-name": "prod-b"}}}),
    );
    eventually("b served again", T, || {
        served(&emu.state()).1 == BTreeSet::from([A.to_string(), B.to_string()])
    })
    .await;
    // Both are cfgeo pools now, so they are kept in name order.
    assert_eq!(
        lb_pool_names(&emu, HOST),
        Some(vec!["k8s-pool-prod-b-eu".into(), SEED_POOL.into()])
    );
    assert_eq!(lb_of(&emu).id, lb_id);
    a.shutdown.cancel();
    b.shutdown.cancel();
}
