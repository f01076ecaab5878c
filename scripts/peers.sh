#!/usr/bin/env bash
# Installs the real peers of the Kubernetes tests into target/peers/ (ignored by git), built from
# Go modules through the module proxy, every version pinned below:
#
#   target/peers/bin/kube-apiserver           k8s.io/kubernetes, via the wrapper tests/peers/kube/
#   target/peers/bin/etcd                     go.etcd.io/etcd/server/v3, via tests/peers/etcd/
#   target/peers/bin/external-dns             sigs.k8s.io/external-dns, via tests/peers/external-dns/
#   target/peers/gateway-api/{standard,experimental}/*.yaml   CRDs from sigs.k8s.io/gateway-api
#   target/peers/stamps/<peer>                what was installed, and from which inputs
#
# Go's caches live in target/go/ (GOMODCACHE, GOCACHE, GOPATH; -modcacherw, so `rm -rf target`
# works), GOTOOLCHAIN=local (needs Go >= 1.26.6 on PATH), CGO_ENABLED=0.
#
# Why wrappers: the go.mod files of k8s.io/kubernetes and of go.etcd.io/etcd/server/v3 replace
# their sibling modules with local paths, so `go install mod@version` refuses them. A wrapper
# module requires the module and, for Kubernetes, replaces each k8s.io/<staging> module with its
# published v0.X.Y. That replace list is generated here from the pinned kubernetes go.mod (its
# `=> ./staging/src/k8s.io/...` lines), never by hand; tests/peers/kube/go.mod and go.sum are the
# generated result, kept in git so that a rerun is fast, and regenerated whenever they no longer
# match the pin. Bump a pin: edit it below and rerun; the wrappers follow.
#
# external-dns has no replace directives and would `go install` as it is, but two of the modules
# that v0.22.0 requires are refused by the module proxy reachable here ("403 Forbidden: This module
# version is not available"): github.com/exoscale/egoscale/v3 v3.1.44 and github.com/openshift/api
# v0.0.0-20260819011109-af5c920502e2. They serve only the Exoscale provider and the OpenShift Route
# source, which the tests do not use, so its wrapper replaces them with the nearest versions that
# are served (XDNS_REPLACES below). Everything else is exactly what v0.22.0 pins.
#
# Idempotent: a peer whose stamp matches its inputs (pin, wrapper go.mod/go.sum, Go version,
# flags) is skipped, so a warm run takes seconds. A cold run downloads ~1 GiB of modules and
# compiles for a long time (kube-apiserver dominates; see the README). Every compile runs under
# `nice -n 19` so that other builds on the machine keep priority.
#
# Usage: scripts/peers.sh           install (or check) every peer; prints one line per peer
#        scripts/peers.sh --check   exit 1 unless every peer is installed and matches its pin
#                                   (no network, no build)
set -euo pipefail

KUBERNETES_VERSION="v1.36.3"    # newest v1.36 patch on the module proxy when pinned
ETCD_VERSION="v3.7.3"           # go.etcd.io/etcd/server/v3, newest v3.7 patch when pinned
GATEWAY_API_VERSION="v1.6.3"    # sigs.k8s.io/gateway-api, newest v1.6 patch when pinned
EXTERNAL_DNS_VERSION="v0.22.0"  # sigs.k8s.io/external-dns
# Substitutes for modules that external-dns pins but the module proxy refuses (see above).
XDNS_REPLACES="github.com/exoscale/egoscale/v3 => github.com/exoscale/egoscale/v3 v3.1.40
github.com/openshift/api => github.com/openshift/api v0.0.0-20251015095338-264e80a2b6e7"
GO_MIN="1.26.6"                 # the highest `go` line among the pinned modules (external-dns)

mode="install"
case "${1:-}" in
    "") ;;
    --check) mode="check" ;;
    *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

start_s=$SECONDS
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
peers="${CFGEO_PEERS:-$repo_root/target/peers}"
bin="$peers/bin"
stamps="$peers/stamps"
wrappers="$repo_root/tests/peers"

export GOMODCACHE="$repo_root/target/go/mod"
export GOCACHE="$repo_root/target/go/cache"
export GOPATH="$repo_root/target/go/path"
export GOFLAGS="-modcacherw -buildvcs=false"
export GOTOOLCHAIN=local
export CGO_ENABLED=0
export GOWORK=off
export GOBIN="$bin"
unset GOOS GOARCH GOEXPERIMENT

mkdir -p "$bin" "$stamps" "$GOMODCACHE" "$GOCACHE" "$GOPATH"

# One run at a time: a second one waits for the first and then finds everything installed.
exec 9>"$peers/.lock"
flock 9

log() { printf '%s\n' "$*"; }
die() { printf 'peers.sh: %s\n' "$*" >&2; exit 1; }

command -v go >/dev/null || die "go not found on PATH (needs Go >= $GO_MIN)"
go_version="$(go env GOVERSION)"
version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }
version_ge "${go_version#go}" "$GO_MIN" || die "$go_version is too old: the pinned modules need Go >= $GO_MIN"

# A field of `go mod download -json MOD@VER` (run outside any module). Fields: GoMod, Dir, Sum...
mod_field() {
    local field="$2"
    (cd "$peers" && go mod download -json "$1") |
        sed -n "s/^[[:space:]]*\"$field\": \"\\(.*\\)\",\\{0,1\\}\$/\\1/p" | head -n1
}

sha() { sha256sum "$@" | sha256sum | cut -c1-16; }

# stamp_ok NAME KEY: the stamp of NAME says KEY
stamp_ok() { [ -f "$stamps/$1" ] && [ "$(cat "$stamps/$1")" = "$2" ]; }

# ---------------------------------------------------------------- wrapper modules

# The replace lines a go.mod has, normalized to "OLD => NEW VERSION", sorted.
replaces_of() {
    grep -E '=>' "$1" | sed -E 's#//.*$##; s/^[[:space:]]*replace[[:space:]]+//; s/[[:space:]]+/ /g; s/^ //; s/ $//' |
        LC_ALL=C sort
}

# The published version of the staging modules of a Kubernetes release: v1.36.3 -> v0.36.3.
staging_version="v0.${KUBERNETES_VERSION#v1.}"

kube_expected_replaces() {
    local kmod="$1" m
    # k8s.io/api => ./staging/src/k8s.io/api   (inside `replace ( ... )` or on one line)
    sed -nE 's#^[[:space:]]*(replace[[:space:]]+)?(k8s\.io/[^[:space:]]+)[[:space:]]+=>[[:space:]]+\./staging/src/k8s\.io/.*#\2#p' "$kmod" |
        LC_ALL=C sort -u | while read -r m; do
            printf '%s => %s %s\n' "$m" "$m" "$staging_version"
        done
}

# wrapper_ok DIR MODULE VERSION TOOL EXPECTED_REPLACES: go.mod and go.sum are the generated ones.
wrapper_ok() {
    local dir="$1" mod="$2" ver="$3" tool="$4" expected="$5"
    [ -f "$dir/go.mod" ] && [ -f "$dir/go.sum" ] || return 1
    grep -qE "^[[:space:]]*(require[[:space:]]+)?${mod//./\\.}[[:space:]]+${ver//./\\.}([[:space:]]|\$)" "$dir/go.mod" || return 1
    grep -qE "^[[:space:]]*(tool[[:space:]]+)?${tool//./\\.}[[:space:]]*\$" "$dir/go.mod" || return 1
    [ "$(replaces_of "$dir/go.mod")" = "$expected" ] || return 1
}

# gen_wrapper DIR MODPATH MODULE VERSION TOOL GOLINE GODEBUGS EXPECTED_REPLACES
gen_wrapper() {
    local dir="$1" modpath="$2" mod="$3" ver="$4" tool="$5" goline="$6" godebugs="$7" expected="$8"
    local args=() line old rest d
    log "  generating $dir/go.mod for $mod $ver"
    mkdir -p "$dir"
    rm -f "$dir/go.mod" "$dir/go.sum"
    (cd "$dir" && go mod init "$modpath" 2>/dev/null)
    args+=("-go=$goline" "-require=$mod@$ver" "-tool=$tool")
    for d in $godebugs; do args+=("-godebug=$d"); done
    while IFS= read -r line; do
        [ -n "$line" ] || continue
        old="${line%% => *}"; rest="${line#* => }"
        args+=("-replace=$old=${rest% *}@${rest##* }")
    done <<< "$expected"
    (cd "$dir" && go mod edit "${args[@]}" && go mod tidy)
    { printf '// Generated by scripts/peers.sh for %s %s: do not edit. To change it, change the\n' "$mod" "$ver"
      printf '// pin in scripts/peers.sh and rerun it.\n'
      cat "$dir/go.mod"; } > "$dir/go.mod.tmp"
    mv "$dir/go.mod.tmp" "$dir/go.mod"
    (cd "$dir" && go mod edit -fmt)
    wrapper_ok "$dir" "$mod" "$ver" "$tool" "$expected" || die "generated $dir/go.mod does not match the pin"
}

# The `go` line and `godebug` settings of a module's go.mod, to carry into its wrapper.
go_line_of() { sed -nE 's/^go[[:space:]]+([0-9.]+)[[:space:]]*$/\1/p' "$1" | head -n1; }
godebugs_of() {
    sed -nE 's/^[[:space:]]*(godebug[[:space:]]+)?([a-z0-9]+=[^[:space:]()]+)[[:space:]]*$/\2/p' "$1"
}

kube_dir="$wrappers/kube"
etcd_dir="$wrappers/etcd"
xdns_dir="$wrappers/external-dns"
xdns_tool="sigs.k8s.io/external-dns"
kube_tool="k8s.io/kubernetes/cmd/kube-apiserver"
etcd_tool="go.etcd.io/etcd/server/v3"
kube_ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION"
kube_ldflags+=" -X k8s.io/component-base/version.gitMajor=$(v="${KUBERNETES_VERSION#v}"; echo "${v%%.*}")"
kube_ldflags+=" -X k8s.io/component-base/version.gitMinor=$(v="${KUBERNETES_VERSION#v*.}"; echo "${v%%.*}")"
kube_ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
etcd_ldflags="-s -w"
xdns_ldflags="-s -w -X sigs.k8s.io/external-dns/pkg/apis/externaldns.Version=$EXTERNAL_DNS_VERSION"

kube_key() { echo "kube-apiserver $KUBERNETES_VERSION $go_version $(sha "$kube_dir/go.mod" "$kube_dir/go.sum") $kube_ldflags"; }
etcd_key() { echo "etcd $ETCD_VERSION $go_version $(sha "$etcd_dir/go.mod" "$etcd_dir/go.sum") $etcd_ldflags"; }
xdns_key() { echo "external-dns $EXTERNAL_DNS_VERSION $go_version $(sha "$xdns_dir/go.mod" "$xdns_dir/go.sum") $xdns_ldflags"; }
gwapi_key() { echo "gateway-api $GATEWAY_API_VERSION"; }

if [ "$mode" = "check" ]; then
    ok=0
    for p in kube-apiserver etcd external-dns; do [ -x "$bin/$p" ] || { echo "missing: $bin/$p"; ok=1; }; done
    [ -f "$kube_dir/go.sum" ] && stamp_ok kube-apiserver "$(kube_key)" || { echo "stale: kube-apiserver"; ok=1; }
    [ -f "$etcd_dir/go.sum" ] && stamp_ok etcd "$(etcd_key)" || { echo "stale: etcd"; ok=1; }
    [ -f "$xdns_dir/go.sum" ] && stamp_ok external-dns "$(xdns_key)" || { echo "stale: external-dns"; ok=1; }
    stamp_ok gateway-api "$(gwapi_key)" || { echo "stale: gateway-api"; ok=1; }
    exit "$ok"
fi

# ---------------------------------------------------------------- 1. downloads

# kube-apiserver wrapper: its replace list comes from the pinned kubernetes go.mod.
kube_gomod="$(mod_field "k8s.io/kubernetes@$KUBERNETES_VERSION" GoMod)"
[ -f "$kube_gomod" ] || die "could not download the go.mod of k8s.io/kubernetes@$KUBERNETES_VERSION"
kube_replaces="$(kube_expected_replaces "$kube_gomod")"
[ -n "$kube_replaces" ] || die "no ./staging replace lines in the go.mod of k8s.io/kubernetes@$KUBERNETES_VERSION"
if ! wrapper_ok "$kube_dir" k8s.io/kubernetes "$KUBERNETES_VERSION" "$kube_tool" "$kube_replaces"; then
    gen_wrapper "$kube_dir" cfgeo.test/peers/kube k8s.io/kubernetes "$KUBERNETES_VERSION" "$kube_tool" \
        "$(go_line_of "$kube_gomod")" "$(godebugs_of "$kube_gomod")" "$kube_replaces"
fi

# etcd wrapper: inside a dependency, etcd's own `replace ../api` lines are ignored, and its
# requires name the published sibling modules at the same version.
etcd_gomod="$(mod_field "go.etcd.io/etcd/server/v3@$ETCD_VERSION" GoMod)"
[ -f "$etcd_gomod" ] || die "could not download the go.mod of go.etcd.io/etcd/server/v3@$ETCD_VERSION"
if ! wrapper_ok "$etcd_dir" go.etcd.io/etcd/server/v3 "$ETCD_VERSION" "$etcd_tool" ""; then
    gen_wrapper "$etcd_dir" cfgeo.test/peers/etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION" "$etcd_tool" \
        "$(go_line_of "$etcd_gomod")" "$(godebugs_of "$etcd_gomod")" ""
fi

xdns_gomod="$(mod_field "sigs.k8s.io/external-dns@$EXTERNAL_DNS_VERSION" GoMod)"
[ -f "$xdns_gomod" ] || die "could not download the go.mod of sigs.k8s.io/external-dns@$EXTERNAL_DNS_VERSION"
xdns_replaces="$(printf '%s\n' "$XDNS_REPLACES" | LC_ALL=C sort)"
if ! wrapper_ok "$xdns_dir" sigs.k8s.io/external-dns "$EXTERNAL_DNS_VERSION" "$xdns_tool" "$xdns_replaces"; then
    gen_wrapper "$xdns_dir" cfgeo.test/peers/external-dns sigs.k8s.io/external-dns "$EXTERNAL_DNS_VERSION" "$xdns_tool" \
        "$(go_line_of "$xdns_gomod")" "$(godebugs_of "$xdns_gomod")" "$xdns_replaces"
fi

stamp_ok kube-apiserver "$(kube_key)" && [ -x "$bin/kube-apiserver" ] || (cd "$kube_dir" && go mod download)
stamp_ok etcd "$(etcd_key)" && [ -x "$bin/etcd" ] || (cd "$etcd_dir" && go mod download)
stamp_ok external-dns "$(xdns_key)" && [ -x "$bin/external-dns" ] || (cd "$xdns_dir" && go mod download)

# Gateway API CRDs: straight from the module zip.
if stamp_ok gateway-api "$(gwapi_key)" && [ -d "$peers/gateway-api/standard" ] && [ -d "$peers/gateway-api/experimental" ]; then
    gw_state="cached"
else
    gw_dir="$(mod_field "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION" Dir)"
    [ -d "$gw_dir/config/crd/standard" ] && [ -d "$gw_dir/config/crd/experimental" ] ||
        die "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION has no config/crd/{standard,experimental}"
    rm -rf "$peers/gateway-api.tmp"
    mkdir -p "$peers/gateway-api.tmp"
    cp -R "$gw_dir/config/crd/standard" "$gw_dir/config/crd/experimental" "$peers/gateway-api.tmp/"
    chmod -R u+w "$peers/gateway-api.tmp"
    rm -rf "$peers/gateway-api"
    mv "$peers/gateway-api.tmp" "$peers/gateway-api"
    gwapi_key > "$stamps/gateway-api"
    gw_state="installed"
fi
gw_count() { find "$peers/gateway-api/$1" -name '*.yaml' | wc -l; }
log "gateway-api    $GATEWAY_API_VERSION  $gw_state: $peers/gateway-api/{standard,experimental} ($(gw_count standard) + $(gw_count experimental) files)"

# ---------------------------------------------------------------- 2. builds

# build NAME KEY_FN VERSION_CHECK -- COMMAND...: runs COMMAND (niced) unless the stamp matches.
build() {
    local name="$1" key="$2" want="$3" t0=$SECONDS state got
    shift 4
    if stamp_ok "$name" "$key" && [ -x "$bin/$name" ]; then
        state="cached"
    else
        rm -f "$stamps/$name"
        nice -n 19 "$@"
        state="built in $((SECONDS - t0)) s"
    fi
    got="$("$bin/$name" --version 2>&1 || true)"
    got="${got%%$'\n'*}"
    case "$got" in
        *"$want"*) ;;
        *) die "$bin/$name --version says '$got', expected '$want'" ;;
    esac
    echo "$key" > "$stamps/$name"
    printf '%-14s %-8s %s: %s (%s)\n' "$name" "${want#Kubernetes }" "$state" "$bin/$name" "$got"
}

# Each builds to NAME.tmp and renames, so an interrupted build leaves no half binary behind.
build etcd "$(etcd_key)" "etcd Version: ${ETCD_VERSION#v}" -- \
    bash -c 'cd "$1" && go build -trimpath -ldflags "$2" -o "$3.tmp" "$4" && mv "$3.tmp" "$3"' _ \
    "$etcd_dir" "$etcd_ldflags" "$bin/etcd" "$etcd_tool"

build external-dns "$(xdns_key)" "$EXTERNAL_DNS_VERSION" -- \
    bash -c 'cd "$1" && go build -trimpath -ldflags "$2" -o "$3.tmp" "$4" && mv "$3.tmp" "$3"' _ \
    "$xdns_dir" "$xdns_ldflags" "$bin/external-dns" "$xdns_tool"

build kube-apiserver "$(kube_key)" "Kubernetes $KUBERNETES_VERSION" -- \
    bash -c 'cd "$1" && go build -trimpath -ldflags "$2" -o "$3.tmp" "$4" && mv "$3.tmp" "$3"' _ \
    "$kube_dir" "$kube_ldflags" "$bin/kube-apiserver" "$kube_tool"

log "peers: all installed in $((SECONDS - start_s)) s"
