//! Record planner benchmark: 100,000 desired endpoints against 100,000 current records and
//! their 100,000 ownership TXTs, with about 1% of the names changed. Times `plan()` on one
//! thread, measures the heap it holds at its peak beyond its inputs (what a pass adds to the
//! resident set; a counting allocator, on only for that one extra run), and writes
//! docs/benchmarks/records-plan.md. Run: `cargo bench --bench plan`.
//!
//! `CFGEO_BENCH_N` changes the size (the report is written only at the default, 100,000);
//! every run also writes `plan-N.json` under `CFGEO_EVIDENCE_DIR` (default `target/evidence`)
//! for scripts/performance.py.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use cfgeo::cloudflare::types::{DnsRecord, RecordType};
use cfgeo::records::plan::{PlanSettings, Policy, plan};
use cfgeo::records::registry::{Labels, TxtNaming};
use cfgeo::records::zone::{DomainFilter, ZoneRef};
use cfgeo::records::{CfProps, Endpoint};

const DEFAULT_N: usize = 100_000;
const RUNS: usize = 11;
const GOAL_MS: f64 = 250.0;

/// The system allocator, counting live bytes and their peak while `COUNTING` is set.
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Relaxed) + by;
    PEAK.fetch_max(now, Relaxed);
}

// SAFETY: every call is forwarded unchanged to `System`; only counters are added.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if COUNTING.load(Relaxed) {
            grew(l.size());
        }
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        if COUNTING.load(Relaxed) {
            LIVE.fetch_sub(l.size(), Relaxed);
        }
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        if COUNTING.load(Relaxed) {
            if new >= l.size() {
                grew(new - l.size());
            } else {
                LIVE.fetch_sub(l.size() - new, Relaxed);
            }
        }
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Peak bytes allocated while `f` runs and its result is alive, beyond what was live before.
/// Frees of memory allocated earlier are not counted against it, so this is an upper bound.
fn peak_heap<T>(f: impl FnOnce() -> T) -> usize {
    LIVE.store(0, Relaxed);
    PEAK.store(0, Relaxed);
    COUNTING.store(true, Relaxed);
    let out = f();
    COUNTING.store(false, Relaxed);
    drop(out);
    PEAK.load(Relaxed)
}

fn ip(i: usize, round: usize) -> String {
    format!(
        "10.{}.{}.{}",
        (i >> 16) + round * 8,
        (i >> 8) & 255,
        i & 255
    )
}

fn record(id: String, name: String, t: RecordType, content: String) -> DnsRecord {
    DnsRecord {
        id,
        name,
        proxiable: Some(t.proxiable()),
        record_type: t,
        content,
        proxied: false,
        ttl: 1,
        comment: None,
        tags: Box::default(),
        priority: None,
    }
}

/// Desired and current state: every name has a desired endpoint and a current A record with
/// its ownership TXT, except that every 100th name carries one of four changes in turn.
fn world(n: usize) -> (Vec<Endpoint>, Vec<DnsRecord>) {
    let mut desired = Vec::with_capacity(n);
    let mut current = Vec::with_capacity(2 * n);
    for i in 0..n {
        let name = format!("host-{i}.apps.example.com");
        let resource = format!("ingress/shop/web-{i}");
        let change = if i % 100 == 0 { (i / 100) % 4 } else { 4 };
        current.push(record(
            format!("r{i:08}"),
            name.clone(),
            RecordType::A,
            ip(i, 0),
        ));
        current.push(record(
            format!("t{i:08}"),
            format!("a-{name}"),
            RecordType::Txt,
            Labels::new("cluster-a", &resource).serialize(),
        ));
        let mut ep = Endpoint {
            name,
            record_type: RecordType::A,
            targets: vec![ip(i, 0)],
            ttl: None,
            props: CfProps::default(),
            resource: resource.into(),
            kind: "Ingress",
            uid: None,
        };
        match change {
            // The address changed: delete + create.
            0 => ep.targets = vec![ip(i, 1)],
            // The object moved to a new host name: create there, delete here.
            1 => ep.name = format!("moved-{i}.apps.example.com"),
            // A TTL was configured: one PUT.
            2 => ep.ttl = Some(300),
            // Orange-clouded: one PUT.
            3 => ep.props.proxied = Some(true),
            _ => {}
        }
        desired.push(ep);
    }
    (desired, current)
}

fn main() {
    let n = std::env::var("CFGEO_BENCH_N")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(DEFAULT_N);
    let (desired, current) = world(n);
    let zone = ZoneRef {
        id: "zone".into(),
        name: "example.com".into(),
    };
    let settings = PlanSettings {
        owner_id: "cluster-a".into(),
        policy: Policy::Sync,
        txt: TxtNaming::default(),
        managed_types: vec![RecordType::A, RecordType::Aaaa, RecordType::Cname],
        domains: DomainFilter::new(&["example.com".to_string()], &[], None, None).expect("filter"),
        default_proxied: false,
        default_comment: None,
        allow_deletes: true,
    };

    // Warm-up, and the plan's shape for the report.
    let p = plan(&desired, &current, &zone, &settings);
    let (groups, ops, owned) = (p.groups.len(), p.op_count(), p.owned);
    drop(p);

    // What one pass holds beyond its inputs (the planner's index and the plan).
    let heap = peak_heap(|| plan(&desired, &current, &zone, &settings));
    let heap_mib = heap as f64 / (1024.0 * 1024.0);
    let heap_per_name = heap as f64 / n as f64;

    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let t0 = Instant::now();
            let p = plan(black_box(&desired), black_box(&current), &zone, &settings);
            let dt = t0.elapsed();
            black_box(p);
            dt
        })
        .collect();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let (median, min, max) = (ms(times[RUNS / 2]), ms(times[0]), ms(times[RUNS - 1]));

    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    // Other work on the machine inflates wall-clock figures; say how busy it was.
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".into());
    let evidence_dir = std::env::var("CFGEO_EVIDENCE_DIR").unwrap_or("target/evidence".into());
    let evidence = serde_json::json!({
        "bench": "plan",
        "profile": if cfg!(debug_assertions) { "dev" } else { "bench (release)" },
        "n": n,
        "current_records": current.len(),
        "runs": RUNS,
        "median_ms": median,
        "min_ms": min,
        "max_ms": max,
        "groups": groups,
        "ops": ops,
        "owned": owned,
        "peak_heap_mib": heap_mib,
        "peak_heap_bytes_per_endpoint": heap_per_name,
        "cpu": cpu,
        "cores": cores,
    });
    std::fs::create_dir_all(&evidence_dir).expect("evidence dir");
    std::fs::write(
        format!("{evidence_dir}/plan-{n}.json"),
        serde_json::to_string_pretty(&evidence).expect("json"),
    )
    .expect("write evidence");
    println!("{evidence}");
    if n != DEFAULT_N {
        return;
    }
    let verdict = if median < GOAL_MS { "met" } else { "NOT met" };
    let report = format!(
        "# Record planner benchmark\n\n\
Generated by `cargo bench --bench plan` (release profile). `plan()` runs on the calling thread \
only: it has no parallelism of its own.\n\n\
Input: {n} desired A endpoints against {} current records ({n} A records and their {n} \
ownership TXTs as external-dns writes them), domain filter `example.com`. Every 100th \
endpoint carries one change, in turn: address changed, host name moved (create + delete), \
TTL configured, proxied.\n\n\
| figure | goal | result |\n|---|---|---|\n\
| `plan()` median of {RUNS} runs | < {GOAL_MS:.0} ms | {median:.1} ms ({verdict}) |\n\
| fastest / slowest run | - | {min:.1} ms / {max:.1} ms |\n\
| change groups / record operations | - | {groups} / {ops} |\n\
| record sets owned after the plan | - | {owned} |\n\
| heap held by `plan()` at its peak, beyond its inputs | - | {heap_mib:.1} MiB ({heap_per_name:.0} B per endpoint) |\n\n\
Machine: {cpu}, {cores} logical CPUs visible, {} {}, 1-minute load average {load} at the \
end of the runs (other builds share the machine). Wall-clock time measured with \
`std::time::Instant` around each call, after one warm-up run.\n",
        current.len(),
        std::env::consts::OS,
        std::env::consts::ARCH,
    );
    std::fs::create_dir_all("docs/benchmarks").expect("docs/benchmarks");
    std::fs::write("docs/benchmarks/records-plan.md", &report).expect("write report");
    println!("{report}");
}
