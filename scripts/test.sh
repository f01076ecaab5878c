#!/usr/bin/env bash
# The project's test command (README; CI's .ci/run calls exactly this):
#   1. formatting and lints (cargo fmt --check, cargo clippy -D warnings)
#   2. every Rust test (unit, emulator, fake API server, client, geo end-to-end, concurrency)
#   3. the Cloudflare contract tests: the official Python SDK under strict validation against
#      the emulator, and cfgeo's client through Prism with Cloudflare's OpenAPI subset.
# Tools for step 3 are installed into target/contract-tools by scripts/contract-tools.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== fmt and clippy"
cargo fmt --check
cargo clippy --all-targets --quiet -- -D warnings
echo "== cargo test"
cargo test --quiet
echo "== contract tools"
scripts/contract-tools.sh
cargo build --quiet --bin cfgeo
echo "== SDK contract (strict validation)"
CFGEO_NO_BUILD=1 tests/contract/run_sdk.sh
echo "== Prism contract (cfgeo's client through Cloudflare's schema)"
CFGEO_NO_BUILD=1 tests/contract/prism.sh cargo test --quiet --test contract_client -- --ignored
echo "== all tests passed"
