//! cfgeo and the real external-dns (v0.22.0, from scripts/peers.sh) measured side by side in one
//! run: one real kube-apiserver holding the same N Ingresses (one hostname each) and N
//! LoadBalancer Services, shaped as real clusters have them, and a fresh Cloudflare emulator
//! per program and phase. Both are spawned as processes with matching flags (owner id, TXT
//! prefix, policy, domain and zone filter, resync interval) and external-dns gets its best
//! documented settings (5,000 records per page, batches of the zone's limit, `--events`).
//!
//! Per program: calls and seconds to converge the N hostnames on a paid (Pro) and a free zone;
//! calls over a fixed window at rest; the latency from an Ingress status change to the record
//! written (p50, p99); peak (VmHWM) and steady (VmRSS) memory and CPU seconds; and calls,
//! exits and convergence through a 429 storm and a 5xx burst. Every figure is counted in the
//! emulator's call log or read from /proc, never computed.
//!
//! Environment: `CFGEO_BENCH_N` (default 1,000), `CFGEO_BENCH_PROFILE` (`quick`: 30 s resync,
//! 60 s rest window, 10 latency samples; `full`: 60 s, 300 s, 40), `CFGEO_BIN` (default
//! `target/release/cfgeo`), `CFGEO_EVIDENCE_DIR` (default `target/evidence`; writes
//! `side-by-side-N.json`). scripts/performance.sh runs it and renders docs/performance.md
//! and docs/benchmarks/side-by-side.svg from that file.

#[path = "support/objects.rs"]
mod objects;
#[path = "support/procfs.rs"]
mod procfs;
use procfs::{cpu_secs, memory_kib};

#[path = "../tests/common/control_plane.rs"]
#[allow(dead_code)]
mod control_plane;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cfgeo::emulator::{
    Emulator, EmulatorConfig, EmulatorHandle, FaultAction, FaultSpec, Plan, ZoneSpec,
};
use futures::StreamExt;
use serde_json::{Value, json};

const TOKEN: &str = "cfgeo-side-by-side-token";
const OWNER: &str = "bench";
/// Ingresses changed during each fault.
const FAULT_CHANGES: usize = 10;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Program {
    Cfgeo,
    ExternalDns,
}

impl Program {
    fn name(self) -> &'static str {
        match self {
            Self::Cfgeo => "cfgeo",
            Self::ExternalDns => "external-dns",
        }
    }
}

struct Profile {
    name: String,
    interval: Duration,
    rest: Duration,
    samples: usize,
    storm: Duration,
}

impl Profile {
    fn from_env() -> Self {
        let name = std::env::var("CFGEO_BENCH_PROFILE").unwrap_or_else(|_| "quick".into());
        let full = name == "full";
        Self {
            interval: Duration::from_secs(if full { 60 } else { 30 }),
            rest: Duration::from_secs(if full { 300 } else { 60 }),
            samples: if full { 40 } else { 10 },
            storm: Duration::from_secs(if full { 60 } else { 30 }),
            name,
        }
    }
}

/// A program under measurement.
struct Proc {
    program: Program,
    child: Child,
    log: PathBuf,
    restarts: usize,
    peak_kib: u64,
    /// CPU seconds of processes that exited and were restarted.
    cpu_before: f64,
    /// CPU seconds of the running process at its last sample.
    last_cpu: f64,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it exited since the last look; a Deployment would restart it, so this does too.
    fn restart_if_exited(&mut self, env: &Env, emu: &EmulatorHandle, plan: Plan) -> bool {
        match self.child.try_wait() {
            Ok(Some(_)) => {
                self.cpu_before += self.last_cpu;
                let fresh = spawn(self.program, env, emu, plan, self.restarts + 1);
                self.child = fresh.0;
                self.log = fresh.1;
                self.restarts += 1;
                true
            }
            _ => {
                self.sample();
                false
            }
        }
    }

    /// Reads VmHWM and the CPU time while the process is alive.
    fn sample(&mut self) {
        if let Some((hwm, _)) = memory_kib(self.pid()) {
            self.peak_kib = self.peak_kib.max(hwm);
        }
        if let Some(c) = cpu_secs(self.pid()) {
            self.last_cpu = c;
        }
    }

    fn cpu(&mut self) -> f64 {
        self.sample();
        self.cpu_before + self.last_cpu
    }
}

/// What every spawn needs.
struct Env {
    cp: control_plane::ControlPlane,
    profile: Profile,
    cfgeo_bin: PathBuf,
    work: PathBuf,
}

/// Starts `program` against `emu`'s example.com zone with matching flags.
fn spawn(
    program: Program,
    env: &Env,
    emu: &EmulatorHandle,
    plan: Plan,
    run: usize,
) -> (Child, PathBuf) {
    let zone = emu.zone_id("example.com").unwrap();
    let interval = env.profile.interval.as_secs();
    static SPAWNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let k = SPAWNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let log = env
        .work
        .join(format!("{k:02}-{}-{plan:?}-run{run}.log", program.name()));
    let file = std::fs::File::create(&log).unwrap();
    let kubeconfig = env.cp.admin_kubeconfig();
    let mut cmd = match program {
        Program::Cfgeo => {
            let mut c = Command::new(&env.cfgeo_bin);
            c.args(["run", "--source", "ingress", "--source", "service"])
                .args(["--txt-owner-id", OWNER, "--txt-prefix", "%{record_type}-"])
                .args(["--policy", "sync", "--domain-filter", "example.com"])
                .args(["--zone-id-filter", &zone])
                .args(["--interval", &interval.to_string()])
                .args([
                    "--admin-addr",
                    &format!("127.0.0.1:{}", control_plane::free_port()),
                ])
                .env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .env("KUBECONFIG", &kubeconfig)
                .env("RUST_LOG", "warn")
                .env("CF_API_BASE_URL", emu.base_url())
                .env("CF_API_TOKEN", TOKEN)
                .env("CF_ACCOUNT_ID", emu.account_id())
                .env("CF_ZONE_ID", &zone);
            c
        }
        Program::ExternalDns => {
            let batch = if plan == Plan::Free { 200 } else { 3500 };
            let mut c = Command::new(control_plane::peer_bin("external-dns"));
            c.args([
                "--provider=cloudflare",
                "--source=ingress",
                "--source=service",
                "--registry=txt",
                "--txt-prefix=%{record_type}-",
                "--policy=sync",
                "--domain-filter=example.com",
                "--cloudflare-dns-records-per-page=5000",
                "--events",
                "--log-level=info",
            ])
            .arg(format!("--txt-owner-id={OWNER}"))
            .arg(format!("--zone-id-filter={zone}"))
            .arg(format!("--batch-change-size={batch}"))
            .arg(format!("--interval={interval}s"))
            .arg(format!(
                "--metrics-address=127.0.0.1:{}",
                control_plane::free_port()
            ))
            .arg(format!("--kubeconfig={}", kubeconfig.display()))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("CF_API_TOKEN", TOKEN)
            .env("CLOUDFLARE_BASE_URL", emu.base_url());
            c
        }
    };
    let child = cmd
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {}: {e}", program.name()));
    (child, log)
}

fn start(program: Program, env: &Env, emu: &EmulatorHandle, plan: Plan) -> Proc {
    let (child, log) = spawn(program, env, emu, plan, 0);
    Proc {
        program,
        child,
        log,
        restarts: 0,
        peak_kib: 0,
        cpu_before: 0.0,
        last_cpu: 0.0,
    }
}

async fn emulator(plan: Plan) -> EmulatorHandle {
    Emulator::start(EmulatorConfig {
        zones: vec![ZoneSpec::new("example.com", plan)],
        ..EmulatorConfig::default()
    })
    .await
    .expect("emulator starts")
}

fn host(i: usize) -> String {
    format!("h{i}.example.com")
}

/// Whether every Ingress hostname has its A record at `addr(i)` and its ownership TXT.
fn converged(emu: &EmulatorHandle, n: usize, addr: &dyn Fn(usize) -> String) -> bool {
    let zone = emu.zone_id("example.com").unwrap();
    let recs = emu.records(&zone);
    let mut a = std::collections::HashMap::new();
    let mut txt = std::collections::HashSet::new();
    for r in &recs {
        match r.record_type.as_str() {
            "A" => {
                a.insert(r.name.clone(), r.content.clone());
            }
            "TXT" => {
                txt.insert(r.name.clone());
            }
            _ => {}
        }
    }
    (0..n).all(|i| {
        let h = host(i);
        a.get(&h) == Some(&addr(i)) && txt.contains(&format!("a-{h}"))
    })
}

/// Waits until `f` holds, checking every 20 ms while sampling the process; the time waited.
async fn until(
    what: &str,
    timeout: Duration,
    proc: &mut Proc,
    mut f: impl FnMut() -> bool,
) -> Option<Duration> {
    let t0 = Instant::now();
    while t0.elapsed() < timeout {
        if f() {
            return Some(t0.elapsed());
        }
        proc.sample();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "{}: gave up waiting for {what} after {timeout:?}",
        proc.program.name()
    );
    None
}

/// Waits until the emulator has received no call for `quiet`.
async fn quiet(emu: &EmulatorHandle, proc: &mut Proc, quiet: Duration) {
    let mut last = (emu.call_log().len(), Instant::now());
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        proc.sample();
        let n = emu.call_log().len();
        if n != last.0 {
            last = (n, Instant::now());
        } else if last.1.elapsed() >= quiet {
            return;
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

async fn set_ingress_ip(client: &kube::Client, i: usize, addr: &str) {
    let api: kube::Api<k8s_openapi::api::networking::v1::Ingress> =
        kube::Api::namespaced(client.clone(), &format!("team-{}", i % 50));
    api.patch_status(
        &format!("web-{i}"),
        &Default::default(),
        &kube::api::Patch::Merge(&json!({"status": {"loadBalancer": {"ingress": [{"ip": addr}]}}})),
    )
    .await
    .unwrap();
}

/// The address of Ingress `i` after `round` changes (round 0 is its creation).
fn addr(i: usize, round: usize) -> String {
    objects::ip(10, i, round)
}

/// Converges the N hostnames on a fresh zone of `plan`; the calls, seconds and the process.
async fn converge(
    program: Program,
    env: &Env,
    n: usize,
    plan: Plan,
) -> (Value, Proc, EmulatorHandle) {
    let emu = emulator(plan).await;
    let mut proc = start(program, env, &emu, plan);
    let timeout = Duration::from_secs(300 + (n / 20) as u64);
    let took = until("convergence", timeout, &mut proc, || {
        converged(&emu, n, &|i| addr(i, 0))
    })
    .await;
    let calls_at_convergence = emu.call_log().len();
    quiet(&emu, &mut proc, Duration::from_secs(3)).await;
    let log = emu.call_log();
    let writes = log.iter().filter(|c| c.method != "GET").count();
    let limited = log.iter().filter(|c| c.status == Some(429)).count();
    let out = json!({
        "converged": took.is_some(),
        "seconds": took.map(|d| d.as_secs_f64()),
        "calls": log.len(),
        "calls_at_convergence": calls_at_convergence,
        "writes": writes,
        "rate_limited": limited,
    });
    println!("{} converge {plan:?}: {out}", program.name());
    (out, proc, emu)
}

/// Calls over the rest window, from a quiet converged state.
async fn at_rest(env: &Env, emu: &EmulatorHandle, proc: &mut Proc) -> Value {
    emu.reset_calls();
    let t0 = Instant::now();
    // A measurement window, not a wait for a condition: the calls in it are the figure.
    while t0.elapsed() < env.profile.rest {
        proc.sample();
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let calls = emu.call_log().len();
    let secs = t0.elapsed().as_secs_f64();
    let (_, rss) = memory_kib(proc.pid()).unwrap_or_default();
    json!({
        "window_s": secs,
        "calls": calls,
        "calls_per_hour": calls as f64 * 3600.0 / secs,
        "steady_rss_kib": rss,
    })
}

/// Time from an Ingress status change to its record written, sample after sample.
async fn latency(env: &Env, client: &kube::Client, emu: &EmulatorHandle, proc: &mut Proc) -> Value {
    let zone = emu.zone_id("example.com").unwrap();
    let mut ms = Vec::new();
    for s in 0..env.profile.samples {
        let i = s * 7 + 1;
        let want = addr(i, 1 + s % 2);
        set_ingress_ip(client, i, &want).await;
        let h = host(i);
        let took = until("the changed record", Duration::from_secs(180), proc, || {
            emu.records(&zone)
                .iter()
                .any(|r| r.record_type == "A" && r.name == h && r.content == want)
        })
        .await;
        if let Some(t) = took {
            ms.push(t.as_secs_f64() * 1000.0);
        }
        quiet(emu, proc, Duration::from_secs(1)).await;
    }
    let mut sorted = ms.clone();
    sorted.sort_by(f64::total_cmp);
    json!({
        "samples": ms.len(),
        "wanted": env.profile.samples,
        "p50_ms": percentile(&sorted, 50.0),
        "p99_ms": percentile(&sorted, 99.0),
        "max_ms": sorted.last().copied(),
    })
}

/// A fault on every zone call while FAULT_CHANGES Ingresses change: calls during it, whether
/// the process exited (and was restarted, as a Deployment would), and convergence after it.
/// A fault on every zone call: what the emulator answers, for how long, and the address round
/// the changed Ingresses move to.
struct Fault {
    action: FaultAction,
    window: Duration,
    round: usize,
}

async fn fault(
    env: &Env,
    client: &kube::Client,
    emu: &EmulatorHandle,
    proc: &mut Proc,
    plan: Plan,
    f: Fault,
) -> Value {
    let Fault {
        action,
        window,
        round,
    } = f;
    let n_changes: Vec<usize> = (0..FAULT_CHANGES).map(|k| 100 + k * 3).collect();
    emu.reset_calls();
    emu.inject_fault(FaultSpec::new("*", "/client/v4/zones/**", u32::MAX, action))
        .unwrap();
    let restarts_before = proc.restarts;
    for &i in &n_changes {
        set_ingress_ip(client, i, &addr(i, round)).await;
    }
    let t0 = Instant::now();
    let mut exited = 0;
    while t0.elapsed() < window {
        if proc.restart_if_exited(env, emu, plan) {
            exited += 1;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let during = emu.call_log().len();
    let faulted = emu.call_log().iter().filter(|c| c.fault.is_some()).count();
    emu.clear_faults();
    let t1 = Instant::now();
    let zone = emu.zone_id("example.com").unwrap();
    let mut restarted_after = 0;
    let timeout = env.profile.interval * 3 + Duration::from_secs(60);
    let mut ok = false;
    while t1.elapsed() < timeout {
        if proc.restart_if_exited(env, emu, plan) {
            restarted_after += 1;
        }
        let recs = emu.records(&zone);
        if n_changes.iter().all(|&i| {
            let (h, a) = (host(i), addr(i, round));
            recs.iter()
                .any(|r| r.record_type == "A" && r.name == h && r.content == a)
        }) {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let after = t1.elapsed();
    quiet(emu, proc, Duration::from_secs(2)).await;
    json!({
        "window_s": window.as_secs_f64(),
        "calls_during": during,
        "faulted_calls": faulted,
        "calls_total": emu.call_log().len(),
        "exits_during": exited,
        "exits_after": restarted_after,
        "restarts": proc.restarts - restarts_before,
        "converged": ok,
        "seconds_after_fault": ok.then_some(after.as_secs_f64()),
    })
}

/// Every measurement of one program, on the same cluster.
async fn measure(program: Program, env: &Env, client: &kube::Client, n: usize) -> Value {
    let (free, proc_free, _emu_free) = converge(program, env, n, Plan::Free).await;
    drop(proc_free);
    let (paid, mut proc, emu) = converge(program, env, n, Plan::Pro).await;
    let rest = at_rest(env, &emu, &mut proc).await;
    let lat = latency(env, client, &emu, &mut proc).await;
    let storm = fault(
        env,
        client,
        &emu,
        &mut proc,
        Plan::Pro,
        Fault {
            action: FaultAction::rate_limited(env.profile.storm.as_secs() / 3),
            window: env.profile.storm,
            round: 3,
        },
    )
    .await;
    let burst = fault(
        env,
        client,
        &emu,
        &mut proc,
        Plan::Pro,
        Fault {
            action: FaultAction::status(503),
            window: env.profile.storm / 3,
            round: 4,
        },
    )
    .await;
    let cpu = proc.cpu();
    proc.sample();
    let (_, rss_end) = memory_kib(proc.pid()).unwrap_or_default();
    // Put the objects back where they started, for the next program.
    for i in (0..env.profile.samples)
        .map(|s| s * 7 + 1)
        .chain((0..FAULT_CHANGES).map(|k| 100 + k * 3))
    {
        set_ingress_ip(client, i, &addr(i, 0)).await;
    }
    let out = json!({
        "program": program.name(),
        "converge_paid": paid,
        "converge_free": free,
        "rest": rest,
        "latency": lat,
        "storm_429": storm,
        "burst_5xx": burst,
        "peak_rss_kib": proc.peak_kib,
        "rss_end_kib": rss_end,
        "cpu_s": cpu,
        "restarts": proc.restarts,
        "log": proc.log.display().to_string(),
    });
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
    out
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::var("CFGEO_BENCH_N")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(1000);
    let profile = Profile::from_env();
    let evidence = PathBuf::from(
        std::env::var("CFGEO_EVIDENCE_DIR").unwrap_or_else(|_| "target/evidence".into()),
    );
    let cfgeo_bin =
        PathBuf::from(std::env::var("CFGEO_BIN").unwrap_or_else(|_| "target/release/cfgeo".into()));
    assert!(
        cfgeo_bin.exists(),
        "{} is missing: cargo build --release --bin cfgeo",
        cfgeo_bin.display()
    );
    let work = evidence.join(format!("side-by-side-{n}.work"));
    std::fs::create_dir_all(&work).unwrap();

    let cp = control_plane::ControlPlane::start().await;
    let client = cp.admin().await;
    for t in 0..50 {
        let api: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(client.clone());
        let ns: k8s_openapi::api::core::v1::Namespace =
            serde_json::from_value(json!({"metadata": {"name": format!("team-{t}")}})).unwrap();
        let _ = api.create(&Default::default(), &ns).await;
    }
    let t0 = Instant::now();
    let objs: Vec<Value> = (0..n)
        .flat_map(|i| [objects::ingress(i, false), objects::service(i, None)])
        .collect();
    futures::stream::iter(objs)
        .for_each_concurrent(16, |o| {
            let c = client.clone();
            async move { objects::real_create(&c, o).await }
        })
        .await;
    let load_s = t0.elapsed().as_secs_f64();
    println!("{n} Ingresses and {n} Services created in {load_s:.1} s");

    let env = Env {
        cp,
        profile,
        cfgeo_bin,
        work,
    };
    let mut results = Vec::new();
    for program in [Program::Cfgeo, Program::ExternalDns] {
        results.push(measure(program, &env, &client, n).await);
    }
    let version = Command::new(control_plane::peer_bin("external-dns"))
        .arg("--version")
        .output()
        .map(|o| {
            let text = String::from_utf8_lossy(&o.stdout).to_string()
                + &String::from_utf8_lossy(&o.stderr);
            text.split_whitespace()
                .find(|w| w.starts_with('v') && w[1..].starts_with(|c: char| c.is_ascii_digit()))
                .unwrap_or("")
                .to_string()
        })
        .unwrap_or_default();
    // cfgeo must converge everywhere; external-dns's outcomes are findings, reported as measured.
    let c = &results[0];
    for key in ["converge_paid", "converge_free", "storm_429", "burst_5xx"] {
        assert_eq!(
            c[key]["converged"], true,
            "cfgeo did not converge in {key}: {c}"
        );
    }
    let out = json!({
        "n": n,
        "profile": env.profile.name,
        "interval_s": env.profile.interval.as_secs(),
        "rest_window_s": env.profile.rest.as_secs(),
        "latency_samples": env.profile.samples,
        "fault_window_s": env.profile.storm.as_secs(),
        "fault_changes": FAULT_CHANGES,
        "load_s": load_s,
        "external_dns_version": version,
        "results": results,
    });
    let path = evidence.join(format!("side-by-side-{n}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&out).unwrap()).unwrap();
    println!("wrote {}", path.display());
}
