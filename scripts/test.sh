#!/usr/bin/env bash
# The project's test command (README; CI's .ci/run calls exactly this):
#   1. formatting and lints (cargo fmt --check, cargo clippy -D warnings), then cargo deny
#      (scripts/deny.sh, policy in deny.toml: licences, bans, crates.io as the only source; the
#      advisories check is not run, blocked: github.com unreachable, where the RustSec
#      database is fetched from)
#   2. the real peers (scripts/peers.sh) and the deploy tools (scripts/validate-deploy.sh), then
#      every Rust test (unit, emulator, fake API server, client, geo end-to-end, concurrency,
#      churn, the tests against a real kube-apiserver and etcd, and the status page in headless
#      Chromium, installed by scripts/browser.sh), then the quick benchmarks
#      and the side-by-side benchmark with the real external-dns at 1,000 objects
#   3. the Cloudflare contract tests: the official Python SDK under strict validation against
#      the emulator, and cfgeo's client through Prism with Cloudflare's OpenAPI subset.
#   4. docs/configuration.md against --help, and the Helm chart and plain manifests rendered and
#      validated against the Kubernetes schemas (scripts/validate-deploy.sh).
# Tools for steps 1, 3 and 4 are installed into target/ by scripts/deny.sh,
# scripts/contract-tools.sh and scripts/validate-deploy.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== fmt and clippy"
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== cargo deny: licences, bans, sources (advisories not run, blocked: github.com unreachable)"
scripts/deny.sh
echo "== real peers (kube-apiserver, etcd, external-dns, Gateway API CRDs; built from Go modules once)"
scripts/peers.sh
echo "== deploy tools and validation: chart and manifests rendered and validated against the Kubernetes schemas"
scripts/validate-deploy.sh
echo "== headless Chromium for the status-page test (Debian's chromium; scripts/browser.sh installs it once)"
scripts/browser.sh
echo "== cargo test (the real-kube tests use the peers and the chart rendered by helm; tests/status_page.rs drives /status in headless Chromium)"
CFGEO_REQUIRE_BROWSER=1 cargo test --workspace --quiet
echo "== benchmarks, quick profile (1,000 objects; the full report is scripts/evidence.sh)"
CFGEO_BENCH_N=1000 cargo bench --quiet --profile dev --bench records --bench plan > target/bench-quick.log
echo "== side by side with the real external-dns, quick profile (1,000 objects; release cfgeo)"
cargo build --quiet --release --bin cfgeo
CFGEO_BENCH_N=1000 CFGEO_BENCH_PROFILE=quick CFGEO_EVIDENCE_DIR=target/evidence/ci \
  cargo bench --quiet --profile dev --bench side_by_side > target/side-by-side-quick.log 2>&1 \
  || { tail -n 60 target/side-by-side-quick.log; exit 1; }
python3 scripts/side_by_side.py target/evidence/ci | sed -n '/^| figure/,/^$/p'
echo "== contract tools"
scripts/contract-tools.sh
cargo build --quiet --bin cfgeo
echo "== docs/configuration.md matches --help"
scripts/config-docs.sh --check
echo "== Dockerfile build context (no Docker engine here)"
scripts/check-dockerfile.sh
echo "== SDK contract (strict validation)"
CFGEO_NO_BUILD=1 tests/contract/run_sdk.sh
echo "== Prism contract (cfgeo's client through Cloudflare's schema)"
CFGEO_NO_BUILD=1 tests/contract/prism.sh cargo test --quiet --test contract_client -- --ignored
echo "== all tests passed"
