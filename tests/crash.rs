//! Crash safety (issue "Evidence"): the real `cfgeo` binary is killed with SIGKILL at random
//! points of an apply, N times, and restarted with a changed desired state each time; once for
//! the geo engine and once for the record synchronizer. The emulator runs in this process,
//! with latency on every write so that kills land mid-apply, and holds foreign pools, monitors,
//! a load balancer and records that cfgeo must never touch. After a final clean run: no orphan,
//! nothing foreign modified, the state equal to the desired one.
//!
//! Profile: `CFGEO_EVIDENCE=quick` (default, CI: 10 kills each) or `full` (50 kills each).
//! With `CFGEO_EVIDENCE_OUT` set, each case appends one JSON line of results to that file.

mod common;

use common::evidence::{Evidence, Profile, profile};

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use cfgeo::cloudflare::types::{
    DnsRecordInput, LoadBalancerInput, MonitorInput, Origin, PoolInput, RecordType, SteeringPolicy,
};
use cfgeo::emulator::{EmulatorHandle, FaultAction, FaultSpec};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};
use tokio::time::Instant;

const TOKEN: &str = "cfgeo-crash-token";
/// Latency on every write, so that a kill finds a write in flight.
const WRITE_LATENCY_MS: u64 = 60;
/// Count of each latency rule (large: they never run out).
const RULE_COUNT: u32 = 1_000_000;
const WRITE_METHODS: [&str; 4] = ["POST", "PUT", "PATCH", "DELETE"];
const T: Duration = Duration::from_secs(60);

fn full() -> bool {
    profile() == Profile::Full
}

fn kills() -> usize {
    if full() { 50 } else { 10 }
}

// ---------------------------------------------------------------------------------------------
// The process under test
// ---------------------------------------------------------------------------------------------

/// The binary, its output discarded (a killed process's pipes are of no use; the assertions
/// say what is wrong with the state).
fn cfgeo(emu: &EmulatorHandle, dir: &Path, args: &[&str], envs: &[(&str, String)]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cfgeo"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "warn")
        .env("CF_API_BASE_URL", emu.base_url())
        .env("CF_API_TOKEN", TOKEN)
        .env("CF_ZONE_ID", emu.zone_id("example.com").unwrap())
        .args(["run", "--admin-addr", "127.0.0.1:0", "--manifests"])
        .arg(dir)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.spawn().expect("cfgeo starts")
}

/// A child that is killed if the test panics while it runs.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn sigterm(child: &Child) {
    let ok = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .expect("kill runs")
        .success();
    assert!(ok, "kill -TERM");
}

async fn reap(child: &mut Child) -> Option<i32> {
    let deadline = Instant::now() + T;
    loop {
        if let Some(s) = child.try_wait().expect("wait") {
            return s.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return child.wait().ok().and_then(|s| s.code());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn inject_write_latency(emu: &EmulatorHandle) {
    for m in WRITE_METHODS {
        emu.inject_fault(FaultSpec::new(
            m,
            "/client/v4/**",
            RULE_COUNT,
            FaultAction::latency(WRITE_LATENCY_MS),
        ))
        .unwrap();
    }
}

/// Writes that have arrived at the emulator so far: the latency rules count down at arrival.
async fn writes_arrived(emu: &EmulatorHandle, http: &reqwest::Client) -> u64 {
    let rules: Vec<FaultSpec> = http
        .get(format!("{}/faults", emu.admin_url()))
        .send()
        .await
        .expect("faults listed")
        .json()
        .await
        .expect("faults JSON");
    let left: u64 = rules
        .iter()
        .filter(|r| {
            r.method
                .as_deref()
                .is_some_and(|m| WRITE_METHODS.contains(&m))
        })
        .map(|r| u64::from(r.count))
        .sum();
    u64::from(RULE_COUNT) * WRITE_METHODS.len() as u64 - left
}

/// Writes the emulator has finished handling (the call log records a call when it is done).
fn writes_done(emu: &EmulatorHandle) -> u64 {
    emu.call_log()
        .iter()
        .filter(|c| c.method != "GET" && c.fault.is_some())
        .count() as u64
}

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// Figures of the kill loop.
#[derive(Default)]
struct KillFigures {
    kills: usize,
    kills_with_write_in_flight: usize,
    kills_after_a_handled_write: usize,
    kills_at_rest: usize,
    in_flight_completed_after_kill: u64,
    in_flight_never_handled: u64,
    writes_total: u64,
    violations_at_kill_points: usize,
}

/// Starts cfgeo on the current manifests and kills it with SIGKILL at a random point: after
/// the k-th write arrived (the kill lands inside that write's latency, before the emulator
/// handles it) or after the k-th write was handled (the write is applied, the process dies
/// before or while it goes on), plus a random 0..latency ms; or once converged when the apply
/// needed fewer writes. Then waits until every write that arrived was handled or can no longer
/// be (the emulator, like hyper, drops a request whose client is gone), as a restart would.
async fn kill_once(
    emu: &EmulatorHandle,
    http: &reqwest::Client,
    rng: &mut StdRng,
    spawn: impl FnOnce() -> Child,
    differs: impl Fn() -> Option<String>,
    figs: &mut KillFigures,
) {
    let k = rng.random_range(1..=8u64);
    let after_handled = rng.random_bool(0.5);
    let delay = rng.random_range(0..WRITE_LATENCY_MS);
    let start = writes_arrived(emu, http).await;
    let start_done = writes_done(emu);
    let mut child = Proc(spawn());
    let deadline = Instant::now() + T;
    let at_rest = loop {
        let reached = if after_handled {
            writes_done(emu) - start_done
        } else {
            writes_arrived(emu, http).await - start
        };
        if reached >= k {
            break false;
        }
        let diff = differs();
        // Converged, with no write of this run still in flight (earlier runs' in-flight
        // writes may have been dropped with their connection, so count from this start).
        let idle = writes_done(emu) - start_done == writes_arrived(emu, http).await - start;
        if diff.is_none() && idle {
            break true;
        }
        assert!(
            Instant::now() < deadline,
            "cfgeo neither wrote {k} writes nor converged: {diff:?}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    // A random point inside the latency of the write just sent.
    tokio::time::sleep(Duration::from_millis(delay)).await;
    child.0.kill().expect("SIGKILL");
    let _ = child.0.wait();
    // Counted from this run's start: writes dropped at earlier kills are never logged.
    let arrived = writes_arrived(emu, http).await - start;
    let done_at_kill = writes_done(emu) - start_done;
    let in_flight = arrived - done_at_kill;
    // Drain: in-flight writes finish (or were dropped with the connection) before a restart;
    // a dropped one is known to be gone once its latency has passed.
    let drain_deadline = Instant::now() + Duration::from_millis(WRITE_LATENCY_MS + 400);
    while writes_done(emu) - start_done < arrived && Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let completed = writes_done(emu) - start_done - done_at_kill;
    figs.kills += 1;
    if after_handled {
        figs.kills_after_a_handled_write += 1;
    }
    if at_rest {
        figs.kills_at_rest += 1;
    }
    if in_flight > 0 {
        figs.kills_with_write_in_flight += 1;
    }
    figs.in_flight_completed_after_kill += completed;
    figs.in_flight_never_handled += in_flight - completed;
}

fn write_manifests(dir: &Path, objects: &[Value]) {
    for e in std::fs::read_dir(dir).unwrap() {
        std::fs::remove_file(e.unwrap().path()).unwrap();
    }
    let list = json!({"apiVersion": "v1", "kind": "List", "items": objects});
    std::fs::write(dir.join("objects.json"), list.to_string()).unwrap();
}

fn status(addrs: &[String]) -> Value {
    let refs: Vec<&str> = addrs.iter().map(String::as_str).collect();
    common::status(&refs)
}

// ---------------------------------------------------------------------------------------------
// Geo engine
// ---------------------------------------------------------------------------------------------

const GEO_OWNER: &str = "crash-geo";
const HOSTS: [&str; 2] = ["app.example.com", "shop.example.com"];

/// One desired geo state: Ingresses as (name, cluster, lb host, addresses).
type GeoDesired = Vec<(String, String, &'static str, Vec<String>)>;

fn geo_desired(rng: &mut StdRng, last: bool) -> GeoDesired {
    let clusters = ["fra1", "fra2", "ams1"];
    let mut out = Vec::new();
    for (i, c) in clusters.iter().enumerate() {
        if !last && rng.random_bool(0.3) {
            continue;
        }
        let host = if !last && rng.random_bool(0.3) {
            HOSTS[1]
        } else {
            HOSTS[0]
        };
        let n = rng.random_range(1..=2);
        let addrs = (0..n)
            .map(|_| format!("203.0.113.{}", rng.random_range(1..40)))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        out.push((format!("web{i}"), c.to_string(), host, addrs));
    }
    if out.is_empty() {
        out.push((
            "web0".into(),
            "fra1".into(),
            HOSTS[0],
            vec!["203.0.113.1".into()],
        ));
    }
    out
}

fn geo_objects(d: &GeoDesired) -> Vec<Value> {
    d.iter()
        .map(|(name, cluster, host, addrs)| {
            let mut v = common::ingress(name, cluster, &[]);
            v["status"] = status(addrs);
            if *host != HOSTS[0] {
                v["metadata"]["annotations"] = json!({"cfgeo.io/lb-hostname": host});
            }
            v
        })
        .collect()
}

/// Pool name → (lb host, addresses) that the desired state asks for.
fn geo_pools(d: &GeoDesired) -> BTreeMap<String, (&'static str, BTreeSet<String>)> {
    let mut out: BTreeMap<String, (&'static str, BTreeSet<String>)> = BTreeMap::new();
    for (_, cluster, host, addrs) in d {
        let name = if *host == HOSTS[0] {
            format!("k8s-pool-{cluster}-eu")
        } else {
            format!("k8s-pool-{cluster}-eu-{}", host.replace('.', "-"))
        };
        out.entry(name)
            .or_insert((host, BTreeSet::new()))
            .1
            .extend(addrs.iter().cloned());
    }
    out
}

fn owner_of(description: &str) -> Option<String> {
    description
        .strip_prefix("managed-by=cfgeo")?
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("owner=").map(str::to_string))
}

/// The foreign objects, as JSON by id.
fn foreign_geo(emu: &EmulatorHandle, ids: &BTreeSet<String>) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for p in emu.pools() {
        if ids.contains(&p.id) {
            out.insert(p.id.clone(), serde_json::to_value(&p).unwrap());
        }
    }
    for m in emu.monitors() {
        if ids.contains(&m.id) {
            out.insert(m.id.clone(), serde_json::to_value(&m).unwrap());
        }
    }
    for l in emu.load_balancers() {
        if ids.contains(&l.id) {
            out.insert(l.id.clone(), serde_json::to_value(&l).unwrap());
        }
    }
    out
}

/// Problems with the geo state against `d` (empty = the state is exactly the desired one).
fn geo_problems(emu: &EmulatorHandle, d: &GeoDesired, foreign_member: &str) -> Vec<String> {
    let want = geo_pools(d);
    let mut problems = Vec::new();
    let pools = emu.pools();
    let monitors = emu.monitors();
    // The last pool of a hostname no longer wanted stays in its LB, drained and leaving, as
    // the placeholder that keeps the LB (cfgeo never deletes an LB on its own).
    let lbs = emu.load_balancers();
    let placeholder = |p: &&cfgeo::emulator::Pool| {
        p.description.contains("state=leaving")
            && p.origins.iter().all(|o| !o.enabled)
            && lbs.iter().any(|l| {
                l.default_pools == vec![p.id.clone()] && !want.values().any(|(h, _)| *h == l.name)
            })
    };
    let placeholders: Vec<&str> = pools
        .iter()
        .filter(|p| owner_of(&p.description).as_deref() == Some(GEO_OWNER))
        .filter(placeholder)
        .map(|p| p.id.as_str())
        .collect();
    let ours: Vec<_> = pools
        .iter()
        .filter(|p| owner_of(&p.description).as_deref() == Some(GEO_OWNER))
        .filter(|p| !placeholders.contains(&p.id.as_str()))
        .collect();
    let names: Vec<&str> = ours.iter().map(|p| p.name.as_str()).collect();
    let want_names: Vec<&str> = want.keys().map(String::as_str).collect();
    if names.iter().copied().collect::<BTreeSet<_>>() != want_names.iter().copied().collect()
        || names.len() != want_names.len()
    {
        problems.push(format!("owned pools {names:?}, want {want_names:?}"));
    }
    for p in &ours {
        let Some((host, addrs)) = want.get(&p.name) else {
            continue;
        };
        let have: BTreeSet<String> = p.origins.iter().map(|o| o.address.clone()).collect();
        if &have != addrs || p.origins.iter().any(|o| !o.enabled) {
            problems.push(format!("pool {} origins {:?}", p.name, p.origins));
        }
        if !p.description.contains(&format!("lb={host}")) || p.description.contains("leaving") {
            problems.push(format!("pool {} marker {:?}", p.name, p.description));
        }
        let mon: Vec<_> = monitors
            .iter()
            .filter(|m| {
                owner_of(&m.description).as_deref() == Some(GEO_OWNER)
                    && m.description
                        .split_whitespace()
                        .any(|kv| kv == format!("pool={}", p.name))
            })
            .collect();
        if mon.len() != 1 || p.monitor.as_deref() != Some(mon[0].id.as_str()) {
            problems.push(format!(
                "pool {} monitor {:?}, own monitors for it {}",
                p.name,
                p.monitor,
                mon.len()
            ));
        }
    }
    let placeholder_monitors: Vec<&str> = pools
        .iter()
        .filter(|p| placeholders.contains(&p.id.as_str()))
        .filter_map(|p| p.monitor.as_deref())
        .collect();
    let own_monitors = monitors
        .iter()
        .filter(|m| owner_of(&m.description).as_deref() == Some(GEO_OWNER))
        .filter(|m| !placeholder_monitors.contains(&m.id.as_str()))
        .count();
    if own_monitors != want.len() {
        problems.push(format!(
            "{own_monitors} owned monitors for {} pools (orphans)",
            want.len()
        ));
    }
    let id_name: BTreeMap<&str, &str> = pools
        .iter()
        .map(|p| (p.id.as_str(), p.name.as_str()))
        .collect();
    for host in HOSTS {
        let mut members: Vec<&str> = want
            .iter()
            .filter(|(_, (h, _))| *h == host)
            .map(|(n, _)| n.as_str())
            .collect();
        if host == HOSTS[0] {
            members.push(foreign_member);
        }
        members.sort();
        let lb = emu.load_balancers().into_iter().find(|l| l.name == host);
        let ours_here = want.values().any(|(h, _)| *h == host);
        match lb {
            Some(lb) => {
                let list: Vec<&str> = lb
                    .default_pools
                    .iter()
                    .map(|id| id_name.get(id.as_str()).copied().unwrap_or("<dangling>"))
                    .collect();
                if host == HOSTS[0] || ours_here {
                    if list != members {
                        problems.push(format!("LB {host} pools {list:?}, want {members:?}"));
                    }
                } else if !(lb.default_pools.len() == 1
                    && placeholders.contains(&lb.default_pools[0].as_str()))
                {
                    problems.push(format!("LB {host} left behind with {list:?}"));
                }
            }
            None if ours_here => problems.push(format!("LB {host} missing")),
            None => {}
        }
    }
    problems
}

async fn seed_foreign_geo(emu: &EmulatorHandle) -> (BTreeSet<String>, String) {
    let cf = common::client(emu);
    let acct = emu.account_id();
    let zone = emu.zone_id("example.com").unwrap();
    let origin = |a: &str| Origin {
        name: "o".into(),
        address: a.into(),
        enabled: true,
        weight: 1.0,
        header: None,
    };
    let mut ids = BTreeSet::new();
    let hand_monitor = cf
        .create_monitor(
            &acct,
            &MonitorInput {
                description: Some("made by a person".into()),
                monitor_type: Some("http".into()),
                path: Some("/ping".into()),
                expected_codes: Some("200".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    ids.insert(hand_monitor.id.clone());
    let hand = cf
        .create_pool(
            &acct,
            &PoolInput {
                name: "hand-made".into(),
                description: Some("made by a person".into()),
                enabled: true,
                origins: vec![origin("192.0.2.200")],
                latitude: Some(1.0),
                longitude: Some(2.0),
                monitor: Some(hand_monitor.id.clone()),
                minimum_origins: None,
            },
        )
        .await
        .unwrap();
    ids.insert(hand.id.clone());
    let other_monitor = cf
        .create_monitor(
            &acct,
            &MonitorInput {
                description: Some("managed-by=cfgeo owner=other pool=k8s-pool-nyc1-us_east".into()),
                monitor_type: Some("https".into()),
                path: Some("/healthz".into()),
                expected_codes: Some("2xx".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    ids.insert(other_monitor.id.clone());
    let other = cf
        .create_pool(
            &acct,
            &PoolInput {
                name: "k8s-pool-nyc1-us_east".into(),
                description: Some(
                    "managed-by=cfgeo cluster=nyc1 geo=us_east lb=app.example.com owner=other"
                        .into(),
                ),
                enabled: true,
                origins: vec![origin("198.51.100.50")],
                latitude: Some(40.7128),
                longitude: Some(-74.006),
                monitor: Some(other_monitor.id.clone()),
                minimum_origins: None,
            },
        )
        .await
        .unwrap();
    ids.insert(other.id.clone());
    let lb = cf
        .create_load_balancer(
            &zone,
            &LoadBalancerInput {
                name: "other.example.com".into(),
                default_pools: vec![hand.id.clone()],
                fallback_pool: hand.id.clone(),
                steering_policy: SteeringPolicy::Random,
                proxied: false,
                ttl: None,
                description: Some("made by a person".into()),
            },
        )
        .await
        .unwrap();
    ids.insert(lb.id.clone());
    (ids, other.name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_geo_engine() {
    let mut ev = Evidence::new(
        "crash_geo_engine",
        "kill -9 of `cfgeo run` (geo engine) at random points of an apply",
    );
    let emu = common::emulator().await;
    let http = http();
    let (foreign_ids, foreign_member) = seed_foreign_geo(&emu).await;
    let foreign_before = foreign_geo(&emu, &foreign_ids);
    inject_write_latency(&emu);
    let dir = tempfile::tempdir().unwrap();
    let envs = vec![
        ("GEO_LOCATION", "eu".to_string()),
        ("CF_LB_HOSTNAME", HOSTS[0].to_string()),
        ("CF_ACCOUNT_ID", emu.account_id()),
        ("CFGEO_OWNER_ID", GEO_OWNER.to_string()),
    ];
    let args = ["--geo-removal-delay-secs", "0", "--geo-resync-secs", "1"];
    let mut rng = StdRng::seed_from_u64(0x6e0);
    let mut figs = KillFigures::default();
    let mut foreign_changed_at = Vec::new();
    for i in 0..kills() {
        let d = geo_desired(&mut rng, false);
        write_manifests(dir.path(), &geo_objects(&d));
        kill_once(
            &emu,
            &http,
            &mut rng,
            || cfgeo(&emu, dir.path(), &args, &envs),
            || {
                let p = geo_problems(&emu, &d, &foreign_member);
                (!p.is_empty()).then(|| format!("{p:?}"))
            },
            &mut figs,
        )
        .await;
        if foreign_geo(&emu, &foreign_ids) != foreign_before {
            foreign_changed_at.push(i);
        }
    }
    figs.violations_at_kill_points = foreign_changed_at.len();
    ev.check(
        foreign_changed_at.is_empty(),
        "no foreign pool, monitor or load balancer was modified at any kill point",
        format!("changed after kills {foreign_changed_at:?}"),
    );

    // The final clean run: converge, then stop it politely.
    let d = geo_desired(&mut rng, true);
    write_manifests(dir.path(), &geo_objects(&d));
    let mut child = Proc(cfgeo(&emu, dir.path(), &args, &envs));
    let deadline = Instant::now() + T;
    while !geo_problems(&emu, &d, &foreign_member).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sigterm(&child.0);
    let code = reap(&mut child.0).await;
    let problems = geo_problems(&emu, &d, &foreign_member);
    ev.check(
        problems.is_empty(),
        "after a final clean run the state equals the desired one: every owned pool is desired (none left leaving or duplicated), each has exactly one owned monitor attached, every owned monitor serves a desired pool, the LBs list exactly the desired pools (plus the other owner's), and an LB of a hostname no longer wanted holds only its drained placeholder",
        format!("{problems:?}"),
    );
    ev.check(
        code == Some(0),
        "the final run stopped cleanly on SIGTERM",
        format!("{code:?}"),
    );
    let foreign_after = foreign_geo(&emu, &foreign_ids);
    ev.check(
        foreign_after == foreign_before && foreign_after.len() == foreign_ids.len(),
        "zero foreign pools, monitors or load balancers modified (byte-identical to their snapshot)",
        "a foreign object changed",
    );
    // The drained placeholder of a hostname no longer wanted is by design, not an orphan.
    let lbs = emu.load_balancers();
    let orphans = emu
        .pools()
        .iter()
        .filter(|p| owner_of(&p.description).as_deref() == Some(GEO_OWNER))
        .filter(|p| !geo_pools(&d).contains_key(&p.name))
        .filter(|p| !lbs.iter().any(|l| l.default_pools == vec![p.id.clone()]))
        .count();
    figs.writes_total = writes_done(&emu);
    geo_figures(&mut ev, &figs, orphans);
    ev.write();
}

fn geo_figures(ev: &mut Evidence, f: &KillFigures, orphans: usize) {
    ev.injected = vec![
        format!(
            "{WRITE_LATENCY_MS} ms latency on every Cloudflare write; SIGKILL at a random point: after the k-th write arrived (k random 1..8; the kill lands inside its latency, so it is never applied) or after the k-th write was applied, plus a random 0..{WRITE_LATENCY_MS} ms; or once converged when fewer writes were needed"
        ),
        "the desired state changes before every restart (seeded RNG): clusters appear and disappear, addresses change, pools move between two LB hostnames".into(),
        "foreign objects seeded: a hand-made pool and monitor (no marker), another owner's k8s-pool with its monitor (a member of the shared LB), a hand-made LB".into(),
    ];
    ev.trials = f.kills;
    ev.figure("kills", f.kills);
    ev.figure("kills_with_a_write_in_flight", f.kills_with_write_in_flight);
    ev.figure(
        "kills_timed_after_a_handled_write",
        f.kills_after_a_handled_write,
    );
    ev.figure("kills_after_convergence", f.kills_at_rest);
    ev.figure(
        "in_flight_writes_completed_after_the_kill",
        f.in_flight_completed_after_kill,
    );
    ev.figure(
        "in_flight_writes_dropped_with_the_connection",
        f.in_flight_never_handled,
    );
    ev.figure("writes_total", f.writes_total);
    ev.figure(
        "kill_points_with_a_foreign_object_changed",
        f.violations_at_kill_points,
    );
    ev.figure("orphans_after_final_run", orphans);
}

// ---------------------------------------------------------------------------------------------
// Record synchronizer
// ---------------------------------------------------------------------------------------------

const REC_OWNER: &str = "crash-rec";

/// One desired record state: objects as (kind, name, host, targets).
type RecDesired = Vec<(&'static str, String, String, Vec<String>)>;

fn rec_desired(rng: &mut StdRng) -> RecDesired {
    let mut out = Vec::new();
    for i in 0..8 {
        if rng.random_bool(0.3) {
            continue;
        }
        let targets = if rng.random_bool(0.25) {
            vec![format!("lb-{}.elb.example.net", rng.random_range(1..4))]
        } else {
            let n = rng.random_range(1..=2);
            (0..n)
                .map(|_| format!("192.0.2.{}", rng.random_range(1..30)))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect()
        };
        out.push((
            "Ingress",
            format!("r{i}"),
            format!("h{i}.example.com"),
            targets,
        ));
    }
    if rng.random_bool(0.7) {
        let t = vec![format!("2001:db8::{:x}", rng.random_range(1..200))];
        out.push(("Service", "s0".into(), "svc.example.com".into(), t));
    }
    if rng.random_bool(0.5) {
        // A name a foreign record holds: cfgeo must leave it alone.
        out.push((
            "Ingress",
            "squatter".into(),
            "taken.example.com".into(),
            vec!["192.0.2.99".into()],
        ));
    }
    out
}

fn rec_objects(d: &RecDesired) -> Vec<Value> {
    d.iter()
        .map(|(kind, name, host, targets)| {
            let mut v = if *kind == "Ingress" {
                json!({
                    "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                    "metadata": {"name": name, "namespace": "shop"},
                    "spec": {"rules": [{"host": host}]},
                })
            } else {
                json!({
                    "apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": name, "namespace": "shop",
                        "annotations": {"external-dns.kubernetes.io/hostname": host}},
                    "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
                })
            };
            v["status"] = status(targets);
            v
        })
        .collect()
}

fn rec_txt(resource: &str) -> String {
    format!(
        "\"heritage=external-dns,external-dns/owner={REC_OWNER},external-dns/resource={resource}\""
    )
}

/// The records cfgeo must hold for `d`, as (type, name, content).
fn rec_expected(d: &RecDesired) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    for (kind, name, host, targets) in d {
        if host == "taken.example.com" {
            continue;
        }
        let t = if targets[0].parse::<std::net::Ipv4Addr>().is_ok() {
            "A"
        } else if targets[0].parse::<std::net::Ipv6Addr>().is_ok() {
            "AAAA"
        } else {
            "CNAME"
        };
        for target in targets {
            out.insert((t.to_string(), host.clone(), target.clone()));
        }
        let res = format!("{}/shop/{name}", kind.to_lowercase());
        out.insert((
            "TXT".into(),
            format!("{}-{host}", t.to_lowercase()),
            rec_txt(&res),
        ));
    }
    out
}

async fn seed_foreign_records(emu: &EmulatorHandle) {
    let cf = common::client(emu);
    let zone = emu.zone_id("example.com").unwrap();
    let seed = [
        (RecordType::A, "taken.example.com", "198.51.100.1".to_string()),
        (RecordType::A, "foreign.example.com", "198.51.100.2".to_string()),
        (RecordType::A, "h9.example.com", "198.51.100.3".to_string()),
        (
            RecordType::Txt,
            "a-h9.example.com",
            "\"heritage=external-dns,external-dns/owner=someone-else,external-dns/resource=ingress/x/y\"".to_string(),
        ),
        (RecordType::Txt, "_verify.example.com", "\"v=spf1 -all\"".to_string()),
        (RecordType::Cname, "www.example.com", "example.net".to_string()),
    ];
    for (t, name, content) in seed {
        cf.create_dns_record(
            &zone,
            &DnsRecordInput {
                name: name.into(),
                record_type: t,
                content,
                ttl: 1,
                proxied: false,
                comment: Some("made by a person".into()),
                tags: vec![],
                priority: None,
            },
        )
        .await
        .unwrap();
    }
}

/// Owned records without their ownership TXT, or TXTs of ours without their record.
fn unpaired(emu: &EmulatorHandle, zone: &str, foreign: &BTreeSet<String>) -> Vec<String> {
    let recs: Vec<_> = emu
        .records(zone)
        .into_iter()
        .filter(|r| !foreign.contains(&r.id))
        .collect();
    let mut out = Vec::new();
    for r in &recs {
        match r.record_type.as_str() {
            "A" | "AAAA" | "CNAME" => {
                let txt = format!("{}-{}", r.record_type.to_lowercase(), r.name);
                if !recs.iter().any(|x| {
                    x.record_type == "TXT"
                        && x.name == txt
                        && x.content.contains(&format!("owner={REC_OWNER},"))
                }) {
                    out.push(format!("{} {} has no ownership TXT", r.record_type, r.name));
                }
            }
            "TXT" if r.content.contains(&format!("owner={REC_OWNER},")) => {
                let (t, name) = r.name.split_once('-').unwrap_or(("", ""));
                if !recs
                    .iter()
                    .any(|x| x.record_type.to_lowercase() == t && x.name == name)
                {
                    out.push(format!("TXT {} has no record", r.name));
                }
            }
            _ => out.push(format!("unexpected {} {}", r.record_type, r.name)),
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_record_sync() {
    let mut ev = Evidence::new(
        "crash_record_sync",
        "kill -9 of `cfgeo run` (record synchronizer) at random points of an apply",
    );
    let emu = common::emulator().await;
    let zone = emu.zone_id("example.com").unwrap();
    let http = http();
    seed_foreign_records(&emu).await;
    let foreign_before = emu.records(&zone);
    let foreign_ids: BTreeSet<String> = foreign_before.iter().map(|r| r.id.clone()).collect();
    inject_write_latency(&emu);
    let dir = tempfile::tempdir().unwrap();
    // One record group per batch transaction: many writes per apply, so kills land between.
    let args = [
        "--source",
        "ingress",
        "--source",
        "service",
        "--txt-owner-id",
        REC_OWNER,
        "--batch-change-size",
        "2",
    ];
    let mut rng = StdRng::seed_from_u64(0x5ec);
    let mut figs = KillFigures::default();
    let mut bad_points = Vec::new();
    let foreign_intact = |emu: &EmulatorHandle| {
        let now = emu.records(&zone);
        foreign_before.iter().all(|r| now.contains(r))
    };
    for i in 0..kills() {
        let d = rec_desired(&mut rng);
        write_manifests(dir.path(), &rec_objects(&d));
        let want = rec_expected(&d);
        kill_once(
            &emu,
            &http,
            &mut rng,
            || cfgeo(&emu, dir.path(), &args, &[]),
            || {
                let have: BTreeSet<_> = emu
                    .records(&zone)
                    .into_iter()
                    .filter(|r| !foreign_ids.contains(&r.id))
                    .map(|r| (r.record_type, r.name, r.content))
                    .collect();
                (have != want).then(|| {
                    format!(
                        "extra {:?} missing {:?}",
                        have.difference(&want).collect::<Vec<_>>(),
                        want.difference(&have).collect::<Vec<_>>()
                    )
                })
            },
            &mut figs,
        )
        .await;
        let problems = unpaired(&emu, &zone, &foreign_ids);
        if !problems.is_empty() || !foreign_intact(&emu) {
            bad_points.push((i, problems));
        }
    }
    figs.violations_at_kill_points = bad_points.len();
    ev.check(
        bad_points.is_empty(),
        "at every kill point, every owned A/AAAA/CNAME had its ownership TXT and every TXT of ours its record (a record and its TXT always land in one batch), and no foreign record was modified",
        format!("{bad_points:?}"),
    );

    let d = rec_desired(&mut rng);
    write_manifests(dir.path(), &rec_objects(&d));
    let want = rec_expected(&d);
    let ours = |emu: &EmulatorHandle| -> BTreeSet<(String, String, String)> {
        emu.records(&zone)
            .into_iter()
            .filter(|r| !foreign_ids.contains(&r.id))
            .map(|r| (r.record_type, r.name, r.content))
            .collect()
    };
    let mut child = Proc(cfgeo(&emu, dir.path(), &args, &[]));
    let deadline = Instant::now() + T;
    while ours(&emu) != want && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sigterm(&child.0);
    let code = reap(&mut child.0).await;
    let have = ours(&emu);
    ev.check(
        have == want,
        "after a final clean run the records equal the desired ones: no orphaned record or TXT (everything not foreign is desired), nothing missing",
        format!(
            "extra {:?}, missing {:?}",
            have.difference(&want).collect::<Vec<_>>(),
            want.difference(&have).collect::<Vec<_>>()
        ),
    );
    let problems = unpaired(&emu, &zone, &foreign_ids);
    ev.check(
        problems.is_empty(),
        "every owned A/AAAA/CNAME has its TXT and every TXT of ours its record",
        format!("{problems:?}"),
    );
    let foreign_now: Vec<_> = emu
        .records(&zone)
        .into_iter()
        .filter(|r| foreign_ids.contains(&r.id))
        .collect();
    ev.check(
        foreign_now == foreign_before,
        "zero foreign records modified or deleted (byte-identical to their snapshot, the one at a desired name included)",
        format!("{foreign_now:?}"),
    );
    ev.check(
        code == Some(0),
        "the final run stopped cleanly on SIGTERM",
        format!("{code:?}"),
    );
    figs.writes_total = writes_done(&emu);
    ev.injected = vec![
        format!(
            "{WRITE_LATENCY_MS} ms latency on every Cloudflare write, --batch-change-size 2 (one record group per batch); SIGKILL at a random point: after the k-th write arrived (k random 1..8; the kill lands inside its latency) or after the k-th write was applied, plus a random 0..{WRITE_LATENCY_MS} ms; or once converged when fewer writes were needed"
        ),
        "the desired state changes before every restart (seeded RNG): objects appear and disappear, addresses change, A records become CNAMEs and back, an AAAA Service comes and goes, an object claims a name a foreign record holds".into(),
        "foreign records seeded: plain A and CNAME records, an A owned by another owner's TXT, an ordinary TXT, an A at a name the desired state asks for".into(),
    ];
    ev.trials = figs.kills;
    ev.figure("kills", figs.kills);
    ev.figure(
        "kills_with_a_write_in_flight",
        figs.kills_with_write_in_flight,
    );
    ev.figure(
        "kills_timed_after_a_handled_write",
        figs.kills_after_a_handled_write,
    );
    ev.figure("kills_after_convergence", figs.kills_at_rest);
    ev.figure(
        "in_flight_writes_completed_after_the_kill",
        figs.in_flight_completed_after_kill,
    );
    ev.figure(
        "in_flight_writes_dropped_with_the_connection",
        figs.in_flight_never_handled,
    );
    ev.figure("writes_total", figs.writes_total);
    ev.figure(
        "kill_points_with_an_unpaired_or_foreign_change",
        figs.violations_at_kill_points,
    );
    ev.figure("orphans_after_final_run", have.difference(&want).count());
    ev.write();
}
