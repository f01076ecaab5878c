#!/usr/bin/env bash
# Installs the tools of the Cloudflare API contract tests into target/contract-tools/ (ignored by
# git, like the rest of target/):
#
#   target/contract-tools/venv/   Python venv with the official Cloudflare SDK (PyPI `cloudflare`)
#   target/contract-tools/node/   node_modules with Stoplight Prism (npm `@stoplight/prism-cli`)
#
# Idempotent: when the pinned versions are already there it only checks and prints where they are.
# Needs python3 (with the venv module) and node/npm >= 18, and network access to PyPI and npm.
#
# Usage: scripts/contract-tools.sh            install (or check) both
#        scripts/contract-tools.sh --print    print the paths only (exit 1 if not installed)
set -euo pipefail

CLOUDFLARE_SDK_VERSION="5.9.0"   # newest 5.x on PyPI when pinned
PRISM_VERSION="5.16.0"           # @stoplight/prism-cli

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="${CFGEO_CONTRACT_TOOLS:-$repo_root/target/contract-tools}"
venv="$tools/venv"
node_dir="$tools/node"
py="$venv/bin/python"
prism="$node_dir/node_modules/.bin/prism"

sdk_ok() {
    [ -x "$py" ] && [ "$("$py" -c 'import importlib.metadata as m; print(m.version("cloudflare"))' 2>/dev/null)" = "$CLOUDFLARE_SDK_VERSION" ]
}

prism_ok() {
    local pkg="$node_dir/node_modules/@stoplight/prism-cli/package.json"
    [ -x "$prism" ] && [ -f "$pkg" ] &&
        [ "$(node -e 'process.stdout.write(require(process.argv[1]).version)' "$pkg" 2>/dev/null)" = "$PRISM_VERSION" ]
}

if [ "${1:-}" = "--print" ]; then
    sdk_ok && prism_ok || { echo "contract tools not installed: run scripts/contract-tools.sh" >&2; exit 1; }
    echo "python=$py"
    echo "prism=$prism"
    exit 0
fi

mkdir -p "$tools"

if sdk_ok; then
    echo "cloudflare SDK $CLOUDFLARE_SDK_VERSION already installed"
else
    command -v python3 >/dev/null || { echo "python3 is needed" >&2; exit 1; }
    if [ ! -x "$py" ]; then
        echo "creating venv $venv"
        python3 -m venv "$venv" || {
            echo "python3 -m venv failed (on Debian/Ubuntu: apt-get install python3-venv)" >&2
            rm -rf "$venv"
            exit 1
        }
    fi
    echo "installing cloudflare==$CLOUDFLARE_SDK_VERSION into $venv"
    "$py" -m pip install --quiet --disable-pip-version-check "cloudflare==$CLOUDFLARE_SDK_VERSION"
    sdk_ok || { echo "cloudflare $CLOUDFLARE_SDK_VERSION did not install" >&2; exit 1; }
fi

if prism_ok; then
    echo "@stoplight/prism-cli $PRISM_VERSION already installed"
else
    command -v npm >/dev/null || { echo "node and npm (>= 18) are needed" >&2; exit 1; }
    mkdir -p "$node_dir"
    # A package.json of its own keeps npm from walking up to some other project.
    [ -f "$node_dir/package.json" ] ||
        printf '{\n  "name": "cfgeo-contract-tools",\n  "private": true\n}\n' >"$node_dir/package.json"
    echo "installing @stoplight/prism-cli@$PRISM_VERSION into $node_dir"
    npm install --prefix "$node_dir" --no-audit --no-fund --loglevel=error \
        --save-exact "@stoplight/prism-cli@$PRISM_VERSION"
    prism_ok || { echo "@stoplight/prism-cli $PRISM_VERSION did not install" >&2; exit 1; }
fi

echo "python=$py  (cloudflare $CLOUDFLARE_SDK_VERSION)"
echo "prism=$prism  (@stoplight/prism-cli $PRISM_VERSION)"
