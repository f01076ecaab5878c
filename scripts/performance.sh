#!/usr/bin/env bash
# Performance evidence: runs the benchmarks and regenerates docs/performance.md.
#
#   scripts/performance.sh          full profile: 1,000 / 10,000 / 100,000 objects, latency with
#                                   the test and the production debounce (about 30-40 minutes on
#                                   2 cores, most of it the 100,000-object runs)
#   scripts/performance.sh --quick  CI profile: 1,000 and 10,000 objects, test debounce only
#                                   (a few minutes after the build)
#
# Every benchmark is built with cargo's `bench` profile (release optimisations): latency and
# planning time are meaningless in a debug build, and the memory benchmark measures the release
# binary `cfgeo run` as it is shipped. Each benchmark writes one JSON file to
# target/evidence/<profile>/ (logs beside them); scripts/performance.py turns them into
# docs/performance.md. The benchmarks at their default sizes also rewrite
# docs/benchmarks/{records,geo,geo-calls,records-plan}.md; the side-by-side plot goes to
# docs/benchmarks/side-by-side-N.svg.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=full
case "${1:-}" in
  --quick) profile=quick ;;
  "") ;;
  *) echo "usage: $0 [--quick]" >&2; exit 2 ;;
esac

target="${CARGO_TARGET_DIR:-target}"
ev="$target/evidence/$profile"
rm -rf "$ev"
mkdir -p "$ev"
export CFGEO_EVIDENCE_DIR="$ev"
export CFGEO_BIN="$target/release/cfgeo"
started=$(date +%s)

# step NAME COMMAND...: runs it with its output in $ev/NAME.log and records its duration.
step() {
  local name="$1"; shift
  local log
  log="$ev/$(echo "$name" | tr ' =/' '_-_').log"
  local t0; t0=$(date +%s)
  printf '== %-45s ' "$name"
  if ! "$@" >"$log" 2>&1; then
    echo "FAILED (log: $log)"
    tail -n 40 "$log" >&2
    exit 1
  fi
  local t1; t1=$(date +%s)
  echo "$((t1 - t0)) s"
  printf '{"name": "%s", "seconds": %d}\n' "$name" "$((t1 - t0))" >>"$ev/steps.jsonl"
}

# bench NAME N [VAR=VALUE...]
bench() {
  local b="$1" n="$2"; shift 2
  step "$b N=$n${*:+ $*}" env CFGEO_BENCH_N="$n" "$@" cargo bench --quiet --bench "$b"
}

step "build" sh -c 'cargo build --release --bin cfgeo &&
  cargo bench --no-run --bench records --bench geo --bench plan --bench memory --bench side_by_side'

# 4. Planning time (cheap at every size).
for n in 1000 10000 100000; do bench plan "$n"; done

# 1 and 2. Calls and latency. N = 10,000 (records) and 1,000 (geo) rewrite docs/benchmarks/.
bench records 1000
bench records 10000
bench geo 1000
if [ "$profile" = full ]; then
  # 40,000 is the largest size converged through the emulator's API in reasonable time; at
  # 100,000 the benchmark seeds the zone (see docs/performance.md).
  bench records 40000
  bench records 100000
  bench records 1000 CFGEO_BENCH_DEBOUNCE=production
  # Every pool write publishes one Kubernetes Event per Ingress of the pool: 10,000 per change
  # here, so fewer samples; 100,000 in one pool (100,000 Events per change) is not run.
  # The calls-per-event set (production timing already) runs once, in `bench geo 1000` above.
  bench geo 10000 CFGEO_BENCH_SAMPLES=20 CFGEO_BENCH_SCENARIOS=latency
  bench geo 1000 CFGEO_BENCH_DEBOUNCE=production CFGEO_BENCH_SCENARIOS=latency
fi

# The real peers (kube-apiserver, etcd, external-dns) for the real-server runs below.
step "peers" scripts/peers.sh

# 3. Memory of the real process, on the fake API server and (10,000) on a real kube-apiserver.
bench memory 1000
bench memory 10000
bench memory 10000 CFGEO_BENCH_KUBE=real CFGEO_BENCH_LABEL=real-kube
if [ "$profile" = full ]; then
  bench memory 100000
fi

# 0. Side by side with the real external-dns on a real kube-apiserver: 1,000 with the quick
# settings (the latency figure at 1,000 Ingresses), and in the full profile 10,000 with the
# full settings (300 s rest window, 40 samples).
bench side_by_side 1000 CFGEO_BENCH_PROFILE=quick
if [ "$profile" = full ]; then
  bench side_by_side 10000 CFGEO_BENCH_PROFILE=full
fi

finished=$(date +%s)
python3 - "$ev" "$profile" "$started" "$finished" <<'EOF'
import json, os, subprocess, sys, time
ev, profile, started, finished = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def git(*args):
    try:
        return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout.strip()
    except Exception:
        return ""
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
mem_kib = next((int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0)
steps = [json.loads(l) for l in open(os.path.join(ev, "steps.jsonl"))]
json.dump({
    "profile": profile,
    "commit": git("rev-parse", "--short", "HEAD") or "?",
    "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
    "date": time.strftime("%Y-%m-%d", time.gmtime(finished)),
    "cpu": cpu,
    "cores": os.cpu_count(),
    "mem_gib": round(mem_kib / 1024 / 1024),
    "total_s": finished - started,
    "steps": steps,
}, open(os.path.join(ev, "run.json"), "w"), indent=2)
EOF
python3 scripts/performance.py "$ev" docs/performance.md
echo "== docs/performance.md written ($profile profile, $(( (finished - started) / 60 )) min)"
