#!/usr/bin/env bash
# There is no Docker engine here, so this checks what the Dockerfile's build stage needs: it
# copies exactly the paths the Dockerfile COPYs (minus .dockerignore) into an empty directory
# and runs the stage's cargo build there (--locked, host target instead of musl, debug profile
# to reuse this checkout's dependency builds). A missing file or a stale Cargo.lock fails it.
set -euo pipefail
cd "$(dirname "$0")/.."
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
grep -E '^COPY [^-]' Dockerfile | while read -r _ args; do
  # shellcheck disable=SC2206
  parts=($args)
  dest=${parts[-1]}
  for src in "${parts[@]:0:${#parts[@]}-1}"; do
    if [[ $dest == */ || $dest == ./ ]]; then
      cp -r "$src" "$ctx/"
    else
      mkdir -p "$ctx/$(dirname "$dest")"
      cp -r "$src" "$ctx/$dest"
    fi
  done
done
grep -q -- '--locked' Dockerfile || { echo "Dockerfile: cargo build must use --locked" >&2; exit 1; }
grep -q '^USER 65532' Dockerfile || { echo "Dockerfile: must run as the non-root user" >&2; exit 1; }
grep -q 'distroless/static' Dockerfile || { echo "Dockerfile: runtime image must be distroless/static" >&2; exit 1; }
(cd "$ctx" && CARGO_TARGET_DIR="$OLDPWD/target" cargo build --quiet --locked --bin cfgeo)
echo "Dockerfile build context: ok ($(ls "$ctx" | tr '\n' ' '))"
