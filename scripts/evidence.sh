#!/usr/bin/env bash
# The evidence run (issue "Evidence"): the fault suite (tests/faults/, tests/crash.rs, tests/secrets.rs),
# the churn test on one shared token at full length (tests/geo_churn.rs, 2 x 300 s),
# then scripts/performance.sh when it exists, then docs/reliability.md regenerated from the
# suite's results by scripts/reliability_report.py.
#
#   scripts/evidence.sh            full profile: more trials, seeds and kills (a few minutes)
#   scripts/evidence.sh --quick    the CI profile (what `cargo test` runs anyway)
#
# Options: --out FILE writes the report there instead of docs/reliability.md;
#          --no-performance skips scripts/performance.sh (it has its own report).
# Results (one JSON line per case) are kept in target/evidence/faults/<profile>.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=full
report=docs/reliability.md
run_performance=yes
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) profile=quick ;;
    --out) report="$2"; shift ;;
    --no-performance) run_performance=no ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "evidence.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

dir="${CARGO_TARGET_DIR:-target}/evidence/faults"
mkdir -p "$dir"
results="$(cd "$dir" && pwd)/$profile.jsonl"
rm -f "$results"

echo "== build"
cargo test --quiet --no-run --test faults --test crash --test secrets

echo "== fault suite ($profile profile)"
start=$(date +%s)
CFGEO_EVIDENCE="$profile" CFGEO_EVIDENCE_OUT="$results" \
  cargo test --quiet --test faults --test crash --test secrets
runtime=$(( $(date +%s) - start ))
echo "fault suite: $runtime s, $(wc -l < "$results") cases"

echo "== churn on one shared token (tests/geo_churn.rs, full length)"
churn_secs=300
[ "$profile" = quick ] && churn_secs=45
churn_dir="$(cd "$dir/.." && pwd)/churn"
rm -rf "$churn_dir"; mkdir -p "$churn_dir"
CFGEO_CHURN_SECS="$churn_secs" CFGEO_EVIDENCE_DIR="$churn_dir" \
  cargo test --quiet --test geo_churn -- --nocapture

performance=""
if [ "$run_performance" = no ]; then
  performance="scripts/performance.sh was not part of this run (--no-performance); see its own report, docs/performance.md."
elif [ -f scripts/performance.sh ]; then
  echo "== scripts/performance.sh"
  args=()
  [ "$profile" = quick ] && args=(--quick)
  bash scripts/performance.sh "${args[@]}"
  performance="scripts/performance.sh ($profile profile) ran in the same evidence run; its results are in docs/performance.md."
fi

echo "== $report"
python3 scripts/reliability_report.py --input "$results" --output "$report" \
  --profile "$profile" --runtime "$runtime" --performance "$performance" --churn "$churn_dir"
