#!/usr/bin/env bash
# The main job on a fresh machine: four clusters (eu, us_east, us_west, asia), each a
# `cfgeo run --once` over its own manifests, share one emulated Cloudflare account (the embedded
# emulator's state file) and end in one proximity load balancer listing all four pools.
# The eu cluster also runs the record synchronizer over its plain Ingress, Service and
# DNSEndpoint, and `cfgeo plan` then shows that nothing is left to change (exit code 0).
# It ends with `cfgeo status`: the table of the four pools, and the map of which region serves
# which part of the world, written to docs/status-map.svg (CFGEO_STATUS_MAP to write elsewhere).
# No cluster and no Cloudflare account are needed.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --bin cfgeo
bin="${CARGO_TARGET_DIR:-target}/debug/cfgeo"
state="${CARGO_TARGET_DIR:-target}/demo/emulator-state.json"
mkdir -p "$(dirname "$state")"
rm -f "$state"
records=(--source ingress --source service --source crd --txt-owner-id demo-eu)
for region in eu us_east us_west asia; do
  echo "=== cluster in $region (GEO_LOCATION=$region) ==="
  extra=()
  [ "$region" = eu ] && extra=("${records[@]}")
  [ "$region" = asia ] && extra=(--print-state)
  GEO_LOCATION="$region" CF_LB_HOSTNAME=app.example.com RUST_LOG="${RUST_LOG:-warn}" \
    "$bin" run --once --embedded-emulator --emulator-state "$state" \
      --manifests "examples/clusters/$region" --geo-removal-delay-secs 0 "${extra[@]}"
  echo
done
echo "=== cfgeo plan for eu: both engines, nothing left to change ==="
GEO_LOCATION=eu CF_LB_HOSTNAME=app.example.com RUST_LOG="${RUST_LOG:-warn}" \
  "$bin" plan --embedded-emulator --emulator-state "$state" \
    --manifests examples/clusters/eu --geo-removal-delay-secs 0 "${records[@]}"
echo "plan exit code: 0 (no changes)"
echo
echo "=== cfgeo status: which region serves which part of the world (read only) ==="
map="${CFGEO_STATUS_MAP:-docs/status-map.svg}"
RUST_LOG="${RUST_LOG:-warn}" "$bin" status --embedded-emulator --emulator-state "$state"
RUST_LOG="${RUST_LOG:-warn}" "$bin" status --embedded-emulator --emulator-state "$state" \
  --output svg "$map"
