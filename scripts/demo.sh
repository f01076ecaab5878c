#!/usr/bin/env bash
# The main job on a fresh machine: four clusters (eu, us_east, us_west, asia), each a
# `cfgeo run --once` over its own manifests, share one emulated Cloudflare account (the embedded
# emulator's state file) and end in one proximity load balancer listing all four pools.
# No cluster and no Cloudflare account are needed.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --bin cfgeo
bin="${CARGO_TARGET_DIR:-target}/debug/cfgeo"
state="${CARGO_TARGET_DIR:-target}/demo/emulator-state.json"
mkdir -p "$(dirname "$state")"
rm -f "$state"
for region in eu us_east us_west asia; do
  echo "=== cluster in $region (GEO_LOCATION=$region) ==="
  GEO_LOCATION="$region" CF_LB_HOSTNAME=app.example.com RUST_LOG="${RUST_LOG:-warn}" \
    "$bin" run --once --embedded-emulator --emulator-state "$state" \
      --manifests "examples/clusters/$region" --geo-removal-delay-secs 0 \
      $( [ "$region" = asia ] && echo --print-state )
  echo
done
