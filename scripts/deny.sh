#!/usr/bin/env bash
# cargo deny on the dependency tree, with the policy in deny.toml: licences (only those the tree
# uses today), bans (no wildcard versions; duplicate versions are a warning) and sources
# (crates.io only).
#
# Not run: `cargo deny check advisories`. It needs the RustSec advisory database, which
# cargo-deny fetches from github.com, and this machine reaches crates.io but not github.com
# (blocked: github.com unreachable). Run it where GitHub is reachable.
#
# cargo-deny is installed once, pinned, into <target dir>/tools/bin (the cargo target dir:
# $CARGO_TARGET_DIR if set, otherwise target/), built from crates.io with
# `cargo install --locked` in a temporary target dir of its own; a present binary of the pinned
# version is reused. CFGEO_TOOLS moves the tools dir. The first build takes several minutes.
#
# Usage: scripts/deny.sh
set -euo pipefail

CARGO_DENY_VERSION="0.20.2"   # newest on crates.io when pinned; needs Rust >= 1.88

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
target_dir="${CARGO_TARGET_DIR:-$repo_root/target}"
tools="${CFGEO_TOOLS:-$target_dir/tools}"
deny="$tools/bin/cargo-deny"

if [ ! -x "$deny" ] || [ "$("$deny" --version 2>/dev/null)" != "cargo-deny $CARGO_DENY_VERSION" ]; then
    echo "installing cargo-deny $CARGO_DENY_VERSION into $tools (once)"
    # Without CARGO_TARGET_DIR, cargo install builds in a temporary dir and removes it, so the
    # shared target dir is neither locked nor filled by this build.
    env -u CARGO_TARGET_DIR nice -n 19 \
        cargo install --locked --quiet cargo-deny --version "$CARGO_DENY_VERSION" --root "$tools"
fi

"$deny" --version
# Duplicate versions are reported without the tree of who pulls them in; run
# `cargo-deny check bans` for that.
"$deny" check --hide-inclusion-graph licenses bans sources
