#!/usr/bin/env bash
# Installs the real peers of the Kubernetes tests into target/peers/ (ignored by git), built from
# Go modules through the module proxy, every version pinned below:
#
#   target/peers/bin/kube-apiserver   k8s.io/kubernetes/cmd/kube-apiserver, via tests/peers/kube/
#   target/peers/bin/kubectl          k8s.io/kubernetes/cmd/kubectl, same wrapper and version
#   target/peers/bin/etcd             go.etcd.io/etcd/server/v3, via tests/peers/etcd/
#   target/peers/bin/external-dns     sigs.k8s.io/external-dns, via tests/peers/external-dns/
#   target/peers/gateway-api/{standard,experimental}/*.yaml   CRDs of sigs.k8s.io/gateway-api
#   target/peers/stamps/<peer>        what was installed, and from which inputs
#
# Go's caches live in target/go/ (GOMODCACHE, GOCACHE, GOPATH; -modcacherw, so `rm -rf target`
# works; about 7 GiB after a cold run), with GOTOOLCHAIN=local (needs Go >= 1.26.6 on PATH) and
# CGO_ENABLED=0. CFGEO_GO_DIR moves those caches and CFGEO_PEERS moves target/peers, for example
# to keep them across fresh clones.
#
# Why wrappers: the go.mod files of k8s.io/kubernetes and of go.etcd.io/etcd/server/v3 replace
# their sibling modules with local paths, so `go install mod@version` refuses them. A wrapper is a
# main module that requires the pinned module (whose own replace lines then no longer apply) and
# names the command as a `tool`. For Kubernetes it also replaces each k8s.io/<staging> module with
# its published v0.X.Y. That replace list is generated here from the pinned kubernetes go.mod (its
# `=> ./staging/src/k8s.io/...` lines), never by hand. The generated go.mod and go.sum are kept in
# git so that a rerun is fast; they are checked on every run and regenerated when they no longer
# match the pins. To bump a pin: edit it below and rerun.
#
# external-dns has no replace lines and would `go install` as it is, but two of the modules that
# v0.22.0 requires are refused by the module proxy reachable here ("403 Forbidden: This module
# version is not available"): github.com/exoscale/egoscale/v3 v3.1.44 and github.com/openshift/api
# v0.0.0-20260819011109-af5c920502e2. They serve only the Exoscale provider and the OpenShift Route
# source, which the tests do not use, so its wrapper replaces them with older versions that are
# served (XDNS_REPLACES: egoscale/v3 v3.1.40, and the openshift/api that external-dns v0.21.0
# pins); both still compile with v0.22.0. Every other module is the one v0.22.0 pins.
#
# Idempotent: a peer whose stamp matches its inputs (pin, wrapper go.mod and go.sum, Go version,
# flags) is not rebuilt, so a warm run takes seconds. Downloads come first, builds after. Every
# compile runs under `nice -n 19` so that other builds on the machine keep priority. A cold run
# (empty target/go) took 14 minutes on 2 cores shared with other builds: 1 minute of downloads,
# then etcd 1.3, external-dns 5.4, kube-apiserver 6 and kubectl 0.7 minutes of compiling.
#
# Usage: scripts/peers.sh           install (or check) every peer; one line per peer
#        scripts/peers.sh --check   exit 1 unless every peer is installed and matches its pin
#                                   (no network, no build)
set -euo pipefail

KUBERNETES_VERSION="v1.36.3"    # newest v1.36 patch on the module proxy when pinned
ETCD_VERSION="v3.7.3"           # go.etcd.io/etcd/server/v3, newest v3.7 patch when pinned
GATEWAY_API_VERSION="v1.6.3"    # sigs.k8s.io/gateway-api, newest v1.6 patch when pinned
EXTERNAL_DNS_VERSION="v0.22.0"  # sigs.k8s.io/external-dns (v0.23.0 needs Go 1.27)
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

go_dir="${CFGEO_GO_DIR:-$repo_root/target/go}"
export GOMODCACHE="$go_dir/mod"
export GOCACHE="$go_dir/cache"
export GOPATH="$go_dir/path"
export GOFLAGS="-modcacherw -buildvcs=false"
export GOTOOLCHAIN=local
export CGO_ENABLED=0
export GOWORK=off
export GOBIN="$bin"
unset GOOS GOARCH GOEXPERIMENT

mkdir -p "$bin" "$stamps" "$GOMODCACHE" "$GOCACHE" "$GOPATH"

# One run at a time: a second one waits for the first, then finds everything installed.
exec 9>"$peers/.lock"
flock 9

log() { printf '%s\n' "$*"; }
die() { printf 'peers.sh: %s\n' "$*" >&2; exit 1; }

command -v go >/dev/null || die "go not found on PATH (needs Go >= $GO_MIN)"
go_version="$(go env GOVERSION)"
version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }
version_ge "${go_version#go}" "$GO_MIN" || die "$go_version is too old: the pinned modules need Go >= $GO_MIN"

# A field of `go mod download -json MOD@VER` (run outside any module): GoMod, Dir, ...
mod_field() {
    local field="$2"
    (cd "$peers" && go mod download -json "$1") |
        sed -n "s/^[[:space:]]*\"$field\": \"\\(.*\\)\",\\{0,1\\}\$/\\1/p" | head -n1
}

sha() { cat "$@" | sha256sum | cut -c1-16; }

# stamp_ok NAME KEY: the stamp of NAME says KEY, and the binary is there.
stamp_ok() { [ -f "$stamps/$1" ] && [ "$(cat "$stamps/$1")" = "$2" ]; }

# ---------------------------------------------------------------- wrapper modules

# The replace lines of a go.mod, normalized to "OLD => NEW VERSION", sorted.
replaces_of() {
    { grep -E '=>' "$1" || true; } |
        sed -E 's#//.*$##; s/^[[:space:]]*replace[[:space:]]+//; s/[[:space:]]+/ /g; s/^ //; s/ $//' |
        LC_ALL=C sort
}

# The replace lines for the staging modules of the pinned Kubernetes, from its go.mod:
#   k8s.io/api => ./staging/src/k8s.io/api   becomes   k8s.io/api => k8s.io/api v0.36.3
staging_version="v0.${KUBERNETES_VERSION#v1.}"
kube_expected_replaces() {
    local m
    sed -nE 's#^[[:space:]]*(replace[[:space:]]+)?(k8s\.io/[^[:space:]]+)[[:space:]]+=>[[:space:]]+\./staging/src/k8s\.io/.*#\2#p' "$1" |
        LC_ALL=C sort -u | while read -r m; do
            printf '%s => %s %s\n' "$m" "$m" "$staging_version"
        done
}

# wrapper_ok DIR MODULE VERSION "TOOL..." EXPECTED_REPLACES: go.mod and go.sum are the generated
# ones for these pins (`go build` itself then refuses a go.sum that does not fit, -mod=readonly).
wrapper_ok() {
    local dir="$1" mod="$2" ver="$3" tools="$4" expected="$5" t
    [ -f "$dir/go.mod" ] && [ -f "$dir/go.sum" ] || return 1
    grep -qE "^[[:space:]]*(require[[:space:]]+)?${mod//./\\.}[[:space:]]+${ver//./\\.}([[:space:]]|\$)" "$dir/go.mod" || return 1
    for t in $tools; do
        grep -qE "^[[:space:]]*(tool[[:space:]]+)?${t//./\\.}[[:space:]]*\$" "$dir/go.mod" || return 1
    done
    [ "$(grep -cE '^[[:space:]]*(tool[[:space:]]+)?[a-z0-9.-]+\.[a-z]+/[^[:space:]]*[[:space:]]*$' "$dir/go.mod")" = "$(wc -w <<< "$tools")" ] || return 1
    [ "$(replaces_of "$dir/go.mod")" = "$expected" ] || return 1
}

# gen_wrapper DIR MODPATH MODULE VERSION "TOOL..." GOLINE GODEBUGS EXPECTED_REPLACES
gen_wrapper() {
    local dir="$1" modpath="$2" mod="$3" ver="$4" tools="$5" goline="$6" godebugs="$7" expected="$8"
    local args=() line old rest d t
    log "  generating ${dir#"$repo_root/"}/go.mod for $mod $ver"
    mkdir -p "$dir"
    rm -f "$dir/go.mod" "$dir/go.sum"
    (cd "$dir" && go mod init "$modpath" 2>/dev/null)
    args+=("-go=$goline" "-require=$mod@$ver")
    for t in $tools; do args+=("-tool=$t"); done
    for d in $godebugs; do args+=("-godebug=$d"); done
    while IFS= read -r line; do
        [ -n "$line" ] || continue
        old="${line%% => *}"; rest="${line#* => }"
        args+=("-replace=$old=${rest% *}@${rest##* }")
    done <<< "$expected"
    (cd "$dir" && go mod edit "${args[@]}" && go mod tidy)
    { printf '// Generated by scripts/peers.sh for %s %s. Do not edit: change the pin in\n' "$mod" "$ver"
      printf '// scripts/peers.sh and rerun it.\n'
      cat "$dir/go.mod"; } > "$dir/go.mod.tmp"
    mv "$dir/go.mod.tmp" "$dir/go.mod"
    (cd "$dir" && go mod edit -fmt)
    wrapper_ok "$dir" "$mod" "$ver" "$tools" "$expected" || die "generated ${dir}/go.mod does not match the pins"
}

# The `go` line and `godebug` settings of a module's go.mod, carried into its wrapper.
go_line_of() { sed -nE 's/^go[[:space:]]+([0-9.]+)[[:space:]]*$/\1/p' "$1" | head -n1; }
godebugs_of() {
    sed -nE 's/^[[:space:]]*(godebug[[:space:]]+)?([a-z0-9]+=[^[:space:]()]+)[[:space:]]*$/\2/p' "$1"
}

# Downloads the modules that building a wrapper's tools needs, and only those. (Not a bare
# `go mod download`: that also wants the .info of every module, which the proxy refuses for some.)
download() { (cd "$1" && go list -deps $2 > /dev/null); }

kube_dir="$wrappers/kube"
etcd_dir="$wrappers/etcd"
xdns_dir="$wrappers/external-dns"
kube_tools="k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl"
etcd_tools="go.etcd.io/etcd/server/v3"
xdns_tools="sigs.k8s.io/external-dns"

# What `make` in kubernetes stamps (hack/lib/version.sh), less the build date and commit.
kube_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    v="${KUBERNETES_VERSION#v}"
    kube_ldflags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=${v%%.*}"
    v="${v#*.}"
    kube_ldflags+=" -X $pkg.gitMinor=${v%%.*} -X $pkg.gitTreeState=clean"
done
etcd_ldflags="-s -w"
xdns_ldflags="-s -w -X sigs.k8s.io/external-dns/pkg/apis/externaldns.Version=$EXTERNAL_DNS_VERSION"

wrapper_sha() { if [ -f "$1/go.sum" ]; then sha "$1/go.mod" "$1/go.sum"; else echo none; fi; }
key_of() {
    case "$1" in
        kube-apiserver|kubectl) echo "$1 $KUBERNETES_VERSION $go_version $(wrapper_sha "$kube_dir") $kube_ldflags" ;;
        etcd) echo "etcd $ETCD_VERSION $go_version $(wrapper_sha "$etcd_dir") $etcd_ldflags" ;;
        external-dns) echo "external-dns $EXTERNAL_DNS_VERSION $go_version $(wrapper_sha "$xdns_dir") $xdns_ldflags" ;;
        gateway-api) echo "gateway-api $GATEWAY_API_VERSION objects-only" ;;
    esac
}
fresh() { stamp_ok "$1" "$(key_of "$1")" && [ -x "$bin/$1" ]; }

if [ "$mode" = "check" ]; then
    ok=0
    for p in etcd kube-apiserver kubectl external-dns; do fresh "$p" || { echo "missing or stale: $bin/$p"; ok=1; }; done
    stamp_ok gateway-api "$(key_of gateway-api)" || { echo "missing or stale: $peers/gateway-api"; ok=1; }
    exit "$ok"
fi

# ---------------------------------------------------------------- 1. wrappers and downloads

# Kubernetes: the replace list comes from the pinned kubernetes go.mod.
kube_gomod="$(mod_field "k8s.io/kubernetes@$KUBERNETES_VERSION" GoMod)"
[ -f "$kube_gomod" ] || die "could not download the go.mod of k8s.io/kubernetes@$KUBERNETES_VERSION"
kube_replaces="$(kube_expected_replaces "$kube_gomod")"
[ -n "$kube_replaces" ] || die "no ./staging replace lines in the go.mod of k8s.io/kubernetes@$KUBERNETES_VERSION"
wrapper_ok "$kube_dir" k8s.io/kubernetes "$KUBERNETES_VERSION" "$kube_tools" "$kube_replaces" ||
    gen_wrapper "$kube_dir" cfgeo.test/peers/kube k8s.io/kubernetes "$KUBERNETES_VERSION" "$kube_tools" \
        "$(go_line_of "$kube_gomod")" "$(godebugs_of "$kube_gomod")" "$kube_replaces"

# etcd: inside a dependency its `replace ../api` lines do not apply, and its requires name the
# published sibling modules at the same version, so no replace is needed.
etcd_gomod="$(mod_field "go.etcd.io/etcd/server/v3@$ETCD_VERSION" GoMod)"
[ -f "$etcd_gomod" ] || die "could not download the go.mod of go.etcd.io/etcd/server/v3@$ETCD_VERSION"
wrapper_ok "$etcd_dir" go.etcd.io/etcd/server/v3 "$ETCD_VERSION" "$etcd_tools" "" ||
    gen_wrapper "$etcd_dir" cfgeo.test/peers/etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION" "$etcd_tools" \
        "$(go_line_of "$etcd_gomod")" "$(godebugs_of "$etcd_gomod")" ""

# external-dns: only the substitutes above.
xdns_gomod="$(mod_field "sigs.k8s.io/external-dns@$EXTERNAL_DNS_VERSION" GoMod)"
[ -f "$xdns_gomod" ] || die "could not download the go.mod of sigs.k8s.io/external-dns@$EXTERNAL_DNS_VERSION"
xdns_replaces="$(printf '%s\n' "$XDNS_REPLACES" | LC_ALL=C sort)"
wrapper_ok "$xdns_dir" sigs.k8s.io/external-dns "$EXTERNAL_DNS_VERSION" "$xdns_tools" "$xdns_replaces" ||
    gen_wrapper "$xdns_dir" cfgeo.test/peers/external-dns sigs.k8s.io/external-dns "$EXTERNAL_DNS_VERSION" "$xdns_tools" \
        "$(go_line_of "$xdns_gomod")" "$(godebugs_of "$xdns_gomod")" "$xdns_replaces"

{ fresh kube-apiserver && fresh kubectl; } || download "$kube_dir" "$kube_tools"
fresh etcd || download "$etcd_dir" "$etcd_tools"
fresh external-dns || download "$xdns_dir" "$xdns_tools"

# Gateway API CRDs (and the ValidatingAdmissionPolicy of the upstream install) straight from the
# module zip, less kustomization.yaml, which is no Kubernetes object: `kubectl apply -f DIR` works.
if stamp_ok gateway-api "$(key_of gateway-api)" && [ -d "$peers/gateway-api/standard" ] && [ -d "$peers/gateway-api/experimental" ]; then
    gw_state="cached"
else
    gw_dir="$(mod_field "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION" Dir)"
    [ -d "$gw_dir/config/crd/standard" ] && [ -d "$gw_dir/config/crd/experimental" ] ||
        die "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION has no config/crd/{standard,experimental}"
    rm -rf "$peers/gateway-api.tmp"
    for ch in standard experimental; do
        mkdir -p "$peers/gateway-api.tmp/$ch"
        find "$gw_dir/config/crd/$ch" -maxdepth 1 -name '*.yaml' ! -name kustomization.yaml \
            -exec cp {} "$peers/gateway-api.tmp/$ch/" \;
    done
    chmod -R u+w "$peers/gateway-api.tmp"
    rm -rf "$peers/gateway-api"
    mv "$peers/gateway-api.tmp" "$peers/gateway-api"
    key_of gateway-api > "$stamps/gateway-api"
    gw_state="installed"
fi
gw_count() { find "$peers/gateway-api/$1" -name '*.yaml' | wc -l; }
printf '%-14s %-8s %s: %s\n' gateway-api "$GATEWAY_API_VERSION" "$gw_state" \
    "$peers/gateway-api/{standard,experimental} ($(gw_count standard) + $(gw_count experimental) files)"

# ---------------------------------------------------------------- 2. builds

# build NAME PIN WRAPPER PACKAGE LDFLAGS WANT VERSION_ARGS...: builds PACKAGE of WRAPPER into
# bin/NAME (niced; through NAME.tmp, so an interrupted build leaves no half binary) unless its
# stamp is fresh, then checks that `NAME VERSION_ARGS` prints WANT.
build() {
    local name="$1" pin="$2" dir="$3" pkg="$4" ldflags="$5" want="$6" t0=$SECONDS state got
    shift 6
    if fresh "$name"; then
        state="cached"
    else
        rm -f "$stamps/$name"
        (cd "$dir" && nice -n 19 go build -trimpath -ldflags "$ldflags" -o "$bin/$name.tmp" "$pkg")
        mv "$bin/$name.tmp" "$bin/$name"
        state="built in $((SECONDS - t0)) s"
    fi
    got="$("$bin/$name" "$@" 2>&1 || true)"
    got="${got%%$'\n'*}"
    case "$got" in
        *"$want"*) ;;
        *) die "$bin/$name $* says '$got', expected '$want'" ;;
    esac
    key_of "$name" > "$stamps/$name"
    printf '%-14s %-8s %s: %s (%s)\n' "$name" "$pin" "$state" "$bin/$name" "$got"
}

build etcd "$ETCD_VERSION" "$etcd_dir" go.etcd.io/etcd/server/v3 "$etcd_ldflags" \
    "etcd Version: ${ETCD_VERSION#v}" --version
build external-dns "$EXTERNAL_DNS_VERSION" "$xdns_dir" sigs.k8s.io/external-dns "$xdns_ldflags" \
    "$EXTERNAL_DNS_VERSION" --version
build kube-apiserver "$KUBERNETES_VERSION" "$kube_dir" k8s.io/kubernetes/cmd/kube-apiserver "$kube_ldflags" \
    "Kubernetes $KUBERNETES_VERSION" --version
build kubectl "$KUBERNETES_VERSION" "$kube_dir" k8s.io/kubernetes/cmd/kubectl "$kube_ldflags" \
    "Client Version: $KUBERNETES_VERSION" version --client

log "peers: all installed in $((SECONDS - start_s)) s"
