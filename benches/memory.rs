//! Peak resident memory of the real `cfgeo run` process, measured from the process itself.
//!
//! Starts the fake API server and the Cloudflare emulator in this process, loads N Ingresses and
//! N Services shaped as real clusters have them (Helm labels and annotations, a
//! `kubectl.kubernetes.io/last-applied-configuration` annotation and managedFields), writes a
//! kubeconfig for the fake server and spawns the built binary as a child:
//! `cfgeo run --source ingress --source service` with the geo engine on (every 10th Ingress
//! carries the geo label). It reads VmHWM (peak resident set) and VmRSS from
//! `/proc/<pid>/status` of the child three times:
//! 1. cold: once `/readyz` answers 200, every record and the pool are in the empty zone, and the
//!    Events have stopped;
//! 2. restart: a second process against the converged zone, after its first full pass;
//! 3. after 1,000 Ingress status changes in that second process.
//!
//! Above 10,000 objects (or with `CFGEO_BENCH_SEED=1`) the records are written straight into the
//! emulator's state before the cold start, which then writes only the geo objects: converging
//! 380,000 records through the emulator's API is quadratic in the emulator.
//!
//! Run: `cargo build --release --bin cfgeo && cargo bench --bench memory`.
//! Environment: `CFGEO_BENCH_KUBE=real` (a real kube-apiserver and etcd from scripts/peers.sh
//! instead of the fake API server; objects are POSTed with their managedFields and
//! last-applied, then their status), `CFGEO_BENCH_N` (Ingresses, and as many Services; default 10,000), `CFGEO_BIN`
//! (default `target/release/cfgeo`), `CFGEO_BENCH_LABEL` (suffix of the evidence file, e.g.
//! `before`), `CFGEO_EVIDENCE_DIR` (default `target/evidence`; writes `memory-N[-label].json`
//! for scripts/performance.py, and the child's logs under `memory-N[-label].work/`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cfgeo::emulator::{Emulator, EmulatorConfig, EmulatorHandle, Plan, ZoneSpec};
use cfgeo::records::registry::Labels;
use fake_kube::{FakeKube, FakeKubeHandle};
use serde_json::{Value, json};

#[path = "support/objects.rs"]
mod objects;
#[path = "support/procfs.rs"]
#[allow(dead_code)]
mod procfs;
use objects::{LAST_APPLIED, ingress, ip, real_create, service};
use procfs::memory_kib;

#[path = "../tests/common/control_plane.rs"]
#[allow(dead_code)]
mod control_plane;

/// Where the objects live: the fake API server, or a real kube-apiserver and etcd
/// (`CFGEO_BENCH_KUBE=real`, peers from scripts/peers.sh) with server-side validation and the
/// managedFields the server keeps itself.
enum Backend {
    Fake(FakeKubeHandle),
    Real {
        cp: Box<control_plane::ControlPlane>,
        client: kube::Client,
        /// Events in the cluster, counted by a background poll.
        events: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    },
}

impl Backend {
    async fn start(real: bool) -> Self {
        if !real {
            return Self::Fake(FakeKube::start().await.unwrap());
        }
        let cp = control_plane::ControlPlane::start().await;
        let client = cp.admin().await;
        let events = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (c, e) = (client.clone(), events.clone());
        tokio::spawn(async move {
            let api: kube::Api<k8s_openapi::api::events::v1::Event> = kube::Api::all(c);
            loop {
                if let Ok(l) = api.list(&Default::default()).await {
                    e.store(l.items.len(), std::sync::atomic::Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
        Self::Real {
            cp: Box::new(cp),
            client,
            events,
        }
    }

    /// Creates every object (namespaces first), then writes each one's status.
    async fn load(&self, objs: Vec<Value>) {
        match self {
            Self::Fake(k) => objs.into_iter().for_each(|o| {
                k.apply(o);
            }),
            Self::Real { client, .. } => {
                use futures::StreamExt;
                let namespaces: std::collections::BTreeSet<String> = objs
                    .iter()
                    .filter_map(|o| o["metadata"]["namespace"].as_str().map(str::to_string))
                    .collect();
                for ns in namespaces {
                    let api: kube::Api<k8s_openapi::api::core::v1::Namespace> =
                        kube::Api::all(client.clone());
                    let body: k8s_openapi::api::core::v1::Namespace =
                        serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap();
                    let _ = api.create(&Default::default(), &body).await;
                }
                futures::stream::iter(objs)
                    .for_each_concurrent(16, |o| async move { real_create(client, o).await })
                    .await;
            }
        }
    }

    fn set_status(&self, api_version: &str, kind: &str, ns: &str, name: &str, status: Value) {
        match self {
            Self::Fake(k) => {
                k.set_status(api_version, kind, Some(ns), name, status);
            }
            Self::Real { client, .. } => {
                let (client, ns, name) = (client.clone(), ns.to_string(), name.to_string());
                let body = json!({"status": status});
                tokio::spawn(async move {
                    let api: kube::Api<k8s_openapi::api::networking::v1::Ingress> =
                        kube::Api::namespaced(client, &ns);
                    api.patch_status(&name, &Default::default(), &kube::api::Patch::Merge(&body))
                        .await
                        .unwrap();
                });
            }
        }
    }

    fn events(&self) -> usize {
        match self {
            Self::Fake(k) => {
                k.request_count("create", "events") + k.request_count("patch", "events")
            }
            Self::Real { events, .. } => events.load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    fn kubeconfig(&self, work: &std::path::Path) -> PathBuf {
        match self {
            Self::Fake(k) => {
                let p = work.join("kubeconfig");
                std::fs::write(&p, kubeconfig(k)).unwrap();
                p
            }
            Self::Real { cp, .. } => cp.admin_kubeconfig(),
        }
    }
}

const DEFAULT_N: usize = 10_000;
const GOAL_MIB: f64 = 64.0;
/// Every GEO_EVERY-th Ingress is selected by the geo engine (and is not a record source).
const GEO_EVERY: usize = 10;
const CHURN: usize = 1000;
fn is_geo(i: usize) -> bool {
    i.is_multiple_of(GEO_EVERY)
}

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// Bytes of an object as JSON, and the bytes of managedFields and last-applied within it.
fn sizes(obj: &Value) -> (usize, usize) {
    let total = serde_json::to_string(obj).unwrap().len();
    let mut stripped = obj.clone();
    if let Some(meta) = stripped.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
        if let Some(a) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            a.remove(LAST_APPLIED);
        }
    }
    let rest = serde_json::to_string(&stripped).unwrap().len();
    (total, total - rest)
}

fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).ok()?;
    let head = std::str::from_utf8(&buf[..n]).ok()?;
    head.split_whitespace().nth(1)?.parse().ok()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn kubeconfig(kube: &FakeKubeHandle) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\n\
contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n    namespace: default\n\
current-context: fake\nusers:\n- name: fake\n  user: {{}}\n",
        kube.url()
    )
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

struct Converged {
    records: usize,
    origins: usize,
}

/// Records in the zone and origins of the largest pool, counted in place (no copies).
fn converged(emu: &EmulatorHandle, zone_id: &str) -> Converged {
    emu.with_state(|s| Converged {
        records: s.records.values().filter(|r| r.zone_id == zone_id).count(),
        origins: s.pools.values().map(|p| p.origins.len()).max().unwrap_or(0),
    })
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

/// Writes the converged zone straight into the emulator's state: every hostname's A record and
/// its ownership TXT, exactly as cfgeo writes them.
fn seed_zone(emu: &EmulatorHandle, zone_id: &str, n: usize) {
    let now = "2026-03-02T09:15:00.000000Z".to_string();
    let record = |s: &mut cfgeo::emulator::State, name: String, t: &str, content: String| {
        let id = s.new_id();
        let r = cfgeo::emulator::DnsRecord {
            id: id.clone(),
            zone_id: zone_id.to_string(),
            name,
            record_type: t.to_string(),
            content,
            proxied: false,
            ttl: 1,
            comment: None,
            tags: vec![],
            priority: None,
            data: None,
            settings: Default::default(),
            created_on: now.clone(),
            modified_on: now.clone(),
            comment_modified_on: None,
            tags_modified_on: None,
        };
        s.records.insert(id, r);
    };
    emu.with_state(|s| {
        for i in 0..n {
            let ns = format!("team-{}", i % 50);
            let mut hosts = vec![(
                format!("s{i}.example.com"),
                ip(11, i, 0),
                format!("service/{ns}/svc-{i}"),
            )];
            if !is_geo(i) {
                hosts.push((
                    format!("h{i}.example.com"),
                    ip(10, i, 0),
                    format!("ingress/{ns}/web-{i}"),
                ));
            }
            for (name, addr, resource) in hosts {
                let txt = Labels::new("bench", &resource).serialize();
                record(s, format!("a-{name}"), "TXT", txt);
                record(s, name, "A", addr);
            }
        }
    });
}

/// A running `cfgeo run` child.
struct Proc {
    child: Child,
    pid: u32,
    admin: SocketAddr,
    log: PathBuf,
    started: Instant,
    /// The largest VmRSS seen while polling.
    peak_sampled: u64,
}

impl Proc {
    fn check_alive(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(30).collect();
            panic!(
                "cfgeo exited early ({status}); last log lines:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
    }

    /// Polls every 100 ms until `done`, checking that the process is alive.
    async fn wait_for(&mut self, timeout: Duration, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            self.check_alive();
            if let Some((_, rss)) = memory_kib(self.pid) {
                self.peak_sampled = self.peak_sampled.max(rss);
            }
            if done() {
                return;
            }
            assert!(Instant::now() < deadline, "timed out waiting for cfgeo");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for `/readyz` to answer 200; returns the time since the start.
    async fn wait_ready(&mut self, timeout: Duration) -> Duration {
        let admin = self.admin;
        self.wait_for(timeout, || http_status(admin, "/readyz") == Some(200))
            .await;
        self.started.elapsed()
    }

    /// Waits until `count` (the Events written) has not moved for 2 s.
    async fn settle(&mut self, count: impl Fn() -> usize) {
        loop {
            let before = count();
            tokio::time::sleep(Duration::from_secs(2)).await;
            self.check_alive();
            if count() == before {
                return;
            }
        }
    }

    /// `(VmHWM, VmRSS)` in KiB.
    fn memory(&mut self) -> (u64, u64) {
        self.check_alive();
        if let Some((anon, file)) = procfs::rss_split_kib(self.pid) {
            eprintln!("  resident: {anon} KiB anonymous (heap, stacks), {file} KiB file-backed");
        }
        memory_kib(self.pid).expect("the process status")
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n = env_usize("CFGEO_BENCH_N", DEFAULT_N);
    let label = std::env::var("CFGEO_BENCH_LABEL").unwrap_or_default();
    let bin = PathBuf::from(std::env::var("CFGEO_BIN").unwrap_or("target/release/cfgeo".into()));
    let evidence_dir =
        PathBuf::from(std::env::var("CFGEO_EVIDENCE_DIR").unwrap_or("target/evidence".into()));
    assert!(
        bin.exists(),
        "{} not found: build it first (cargo build --release --bin cfgeo) or set CFGEO_BIN",
        bin.display()
    );
    let real_kube = std::env::var("CFGEO_BENCH_KUBE").is_ok_and(|v| v == "real");
    let label = if real_kube && label.is_empty() {
        "real-kube".to_string()
    } else {
        label
    };
    let stem = if label.is_empty() {
        format!("memory-{n}")
    } else {
        format!("memory-{n}-{label}")
    };
    let work = evidence_dir.join(format!("{stem}.work"));
    std::fs::create_dir_all(&work).unwrap();
    let bench_started = Instant::now();

    let emu = Emulator::start(EmulatorConfig {
        zones: vec![ZoneSpec::new("example.com", Plan::Pro)],
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let zone_id = emu.zone_id("example.com").unwrap();
    let real = std::env::var("CFGEO_BENCH_KUBE").is_ok_and(|v| v == "real");
    let kube = Backend::start(real).await;
    let (mut ing_bytes, mut ing_meta, mut svc_bytes, mut svc_meta) = (0, 0, 0, 0);
    let mut objs = Vec::with_capacity(2 * n);
    for i in 0..n {
        let (ing, svc) = (
            ingress(i, is_geo(i)),
            service(i, Some("external-dns.alpha.kubernetes.io/hostname")),
        );
        if i == 1 {
            (ing_bytes, ing_meta) = sizes(&ing);
            (svc_bytes, svc_meta) = sizes(&svc);
        }
        objs.push(ing);
        objs.push(svc);
    }
    kube.load(objs).await;
    let geo = (0..n).filter(|i| is_geo(*i)).count();
    let hostnames = (n - geo) + n;
    let load_time = bench_started.elapsed();
    eprintln!(
        "loaded {n} Ingresses ({ing_bytes} B each, {ing_meta} B managedFields + last-applied) and \
         {n} Services ({svc_bytes} B, {svc_meta} B) in {:.1} s",
        load_time.as_secs_f64()
    );

    let kubeconfig_path = kube.kubeconfig(&work);
    let spawn = |name: &str| -> Proc {
        let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let log = work.join(format!("cfgeo-{name}.log"));
        let log_file = std::fs::File::create(&log).unwrap();
        let child = Command::new(&bin)
            .args(["run", "--source", "ingress", "--source", "service"])
            .arg("--admin-addr")
            .arg(admin.to_string())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            // Allocator settings under comparison (docs/performance.md §3) reach the child.
            .envs(std::env::vars().filter(|(k, _)| {
                k.starts_with("MALLOC_") || k.starts_with("MIMALLOC_") || k == "_RJEM_MALLOC_CONF"
            }))
            .env("KUBECONFIG", &kubeconfig_path)
            .env("RUST_LOG", "warn")
            .env("CF_API_BASE_URL", emu.base_url())
            .env("CF_API_TOKEN", "cfgeo-bench-token")
            .env("CF_ACCOUNT_ID", emu.account_id())
            .env("CF_ZONE_ID", &zone_id)
            .env("GEO_LOCATION", "eu")
            .env("CF_LB_HOSTNAME", "app.example.com")
            .env("CFGEO_OWNER_ID", "bench")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {}: {e}", bin.display()));
        Proc {
            pid: child.id(),
            child,
            admin,
            log,
            started: Instant::now(),
            peak_sampled: 0,
        }
    };
    let timeout = Duration::from_secs(600 + (n / 100) as u64);

    // 1. Cold start: an empty zone; every record and the pool are written. Above 10,000
    // objects the emulator's per-record conflict scan makes writing the zone through its API
    // quadratic (hours at 100,000), so the records are seeded directly instead: this first
    // process then writes only the geo pool, monitor and load balancer, and the restart below
    // is measured exactly as at the other sizes.
    let events = |k: &Backend| k.events();
    let seed = std::env::var("CFGEO_BENCH_SEED").map_or(n > 10_000, |v| v == "1");
    if seed {
        seed_zone(&emu, &zone_id, n);
    }
    let cold = {
        let events_start = events(&kube);
        let mut cold = spawn("cold");
        let ready = cold.wait_ready(timeout).await;
        cold.wait_for(timeout, || {
            let c = converged(&emu, &zone_id);
            c.records == 2 * hostnames && c.origins == geo
        })
        .await;
        let converged_s = cold.started.elapsed();
        let converge_cpu = procfs::cpu_secs(cold.pid);
        // Let the verification reads, any settle pass and the Events finish.
        quiet(&emu, Duration::from_secs(3)).await;
        cold.settle(|| events(&kube)).await;
        let (hwm, rss) = cold.memory();
        let peak_sampled = cold.peak_sampled;
        let events_written = events(&kube) - events_start;
        cold.stop();
        json!({
            "records_seeded": seed,
            "ready_s": ready.as_secs_f64(),
            "converged_s": converged_s.as_secs_f64(),
            "cpu_s": converge_cpu,
            "vmhwm_mib": mib(hwm),
            "vmrss_mib": mib(rss),
            "vmrss_max_sampled_mib": mib(peak_sampled),
            "kube_events_written": events_written,
        })
    };

    // 2. Restart against the converged zone, as after an upgrade: list, plan, write nothing.
    let warm_calls_start = emu.call_log().len();
    let listed = emu
        .call_log()
        .iter()
        .filter(|c| c.route.ends_with("/dns_records"))
        .count();
    let events_start = events(&kube);
    let mut warm = spawn("warm");
    let warm_ready = warm.wait_ready(timeout).await;
    // The first full pass lists the zone; wait until it has happened and all is quiet.
    warm.wait_for(timeout, || {
        emu.call_log()
            .iter()
            .filter(|c| c.route.ends_with("/dns_records"))
            .count()
            > listed
    })
    .await;
    quiet(&emu, Duration::from_secs(3)).await;
    warm.settle(|| events(&kube)).await;
    let warm_written = emu
        .call_log()
        .iter()
        .skip(warm_calls_start)
        .filter(|c| c.method != "GET")
        .count();
    let warm_events = events(&kube) - events_start;
    let (warm_hwm, warm_rss) = warm.memory();

    // 3. A burst of status changes (record Ingresses), as a rollout causes.
    let before = emu.call_log().len();
    let churn_cpu_start = procfs::cpu_secs(warm.pid);
    let churn_started = Instant::now();
    for k in 0..CHURN {
        let i = (k * 97) % n;
        let i = if is_geo(i) { i + 1 } else { i };
        if i >= n {
            continue;
        }
        kube.set_status(
            "networking.k8s.io/v1",
            "Ingress",
            &format!("team-{}", i % 50),
            &format!("web-{i}"),
            json!({"loadBalancer": {"ingress": [{"ip": ip(10, i, 1)}]}}),
        );
    }
    eprintln!(
        "{CHURN} status changes made in {:.1} s",
        (Instant::now() - churn_started).as_secs_f64()
    );
    warm.wait_for(timeout, || {
        emu.call_log()
            .iter()
            .skip(before)
            .any(|c| c.method == "POST" && c.path.ends_with("/batch"))
    })
    .await;
    eprintln!(
        "first batch {:.1} s after the first change",
        (Instant::now() - churn_started).as_secs_f64()
    );
    quiet(&emu, Duration::from_secs(3)).await;
    warm.settle(|| events(&kube)).await;
    let (churn_hwm, churn_rss) = warm.memory();
    let churn_cpu = procfs::cpu_secs(warm.pid)
        .zip(churn_cpu_start)
        .map(|(end, start)| end - start);
    warm.stop();

    let evidence = json!({
        "bench": "memory",
        "label": label,
        "kube": if real_kube { "real kube-apiserver v1.36.3 + etcd" } else { "fake API server" },
        "binary": bin.display().to_string(),
        "n_ingresses": n,
        "n_services": n,
        "geo_ingresses": geo,
        "hostnames": hostnames,
        "records": 2 * hostnames,
        "ingress_bytes": ing_bytes,
        "ingress_meta_bytes": ing_meta,
        "service_bytes": svc_bytes,
        "service_meta_bytes": svc_meta,
        "cold": cold,
        "seeded_zone": seed,
        "restart": {
            "ready_s": warm_ready.as_secs_f64(),
            "writes": warm_written,
            "kube_events_written": warm_events,
            "vmhwm_mib": mib(warm_hwm),
            "vmrss_mib": mib(warm_rss),
        },
        "churn": {
            "changes": CHURN,
            "cpu_s": churn_cpu,
            "vmhwm_mib": mib(churn_hwm),
            "vmrss_mib": mib(churn_rss),
        },
        "goal_mib": GOAL_MIB,
        "wall_time_s": bench_started.elapsed().as_secs_f64(),
    });
    let path = evidence_dir.join(format!("{stem}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&evidence).unwrap()).unwrap();
    println!("{}", serde_json::to_string_pretty(&evidence).unwrap());
    eprintln!("wrote {}", path.display());
}
