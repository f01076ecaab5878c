#!/usr/bin/env python3
"""Checks of the rendered chart and the plain manifests, run by scripts/validate-deploy.sh with
the venv that has kubernetes-validate (and so PyYAML and jsonschema).

  * every object against the Kubernetes JSON schemas, strict (unknown fields are errors), for the
    oldest and newest Kubernetes the chart supports (1.25 and 1.37);
  * DNSEndpoints (the examples in docs/annotations.md) against the chart's own CRD schema, and
    that CRD against external-dns's field list; kinds with no schema here (ServiceMonitor,
    Gateway API routes) are named on a `skip` line, and the ServiceMonitor's wiring is checked;
  * the ClusterRole grants exactly what the enabled sources and the geo engine need: each enabled
    source its rule, each disabled one none, no wildcard;
  * the Deployment's wiring: token file from the Secret, downward API, admin port and probes,
    security context, leader election and its Role, ConfigMap settings, Service, PDB.

Exit status 1 when anything fails; every failure is printed with the file and object.
"""

import argparse
import copy
import glob
import os
import re
import sys

import jsonschema
import kubernetes_validate
import yaml

KUBE_VERSIONS = ["1.25.0", "1.37.0"]
ALL_SOURCES = [
    "ingress",
    "service",
    "gateway-httproute",
    "gateway-grpcroute",
    "gateway-tlsroute",
    "gateway-tcproute",
    "gateway-udproute",
    "crd",
]
RO = ("get", "list", "watch")

failures = []


def fail(where, msg):
    failures.append(f"{where}: {msg}")
    print(f"FAIL {where}: {msg}")


def ok(msg):
    print(f"ok   {msg}")


def deep_merge(base, over):
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def load_docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def ref(obj):
    return f"{obj.get('kind')} {obj.get('metadata', {}).get('name')}"


# ---------------------------------------------------------------------------------------------
# What the values ask for, computed here independently of the templates.


class Expect:
    def __init__(self, values, release="cfgeo", namespace="cfgeo"):
        v = self.v = values
        self.namespace = namespace
        name = v.get("nameOverride") or "cfgeo"
        if v.get("fullnameOverride"):
            self.fullname = v["fullnameOverride"]
        else:
            self.fullname = release if name in release else f"{release}-{name}"
        self.sources = list(v["records"]["sources"] or [])
        self.geo = bool(v["geo"]["location"])
        self.rbac_sources = list(ALL_SOURCES) if v["rbac"]["grantAllSources"] else self.sources
        le = v["leaderElection"]["enabled"]
        self.leader_election = le if isinstance(le, bool) else v["replicas"] > 1
        self.lease = v["leaderElection"]["leaseName"] or self.fullname
        pdb = v["podDisruptionBudget"]["enabled"]
        self.pdb = pdb if isinstance(pdb, bool) else v["replicas"] > 1
        crd = v["crds"]["install"]
        self.crd = crd if isinstance(crd, bool) else "crd" in self.sources
        tok = v["cloudflare"]["apiToken"]
        self.secret_created = bool(tok["create"])
        self.secret = (tok["secretName"] or f"{self.fullname}-cloudflare") if tok["create"] else tok["existingSecret"]
        self.secret_key = tok["key"]
        self.sa = v["serviceAccount"]["name"] or self.fullname
        self.port = v["admin"]["port"]
        self.service_monitor = bool(v["serviceMonitor"]["enabled"])


def perms(group, resources, verbs, names=()):
    return {(group, r, verb, tuple(sorted(names))) for r in resources for verb in verbs}


def source_perms(source):
    if source == "ingress":
        return perms("networking.k8s.io", ["ingresses"], RO)
    if source == "service":
        return perms("", ["services"], RO)
    if source.startswith("gateway-"):
        return perms("gateway.networking.k8s.io", ["gateways", source[len("gateway-"):] + "s"], RO)
    if source == "crd":
        return perms("externaldns.k8s.io", ["dnsendpoints"], RO) | perms(
            "externaldns.k8s.io", ["dnsendpoints/status"], ("update", "patch")
        )
    raise ValueError(source)


ALWAYS = (
    perms("", ["events"], ("create", "patch"))
    | perms("events.k8s.io", ["events"], ("create", "patch"))
    | perms("", ["namespaces"], ("get",), ("kube-system",))
)
GEO = perms("networking.k8s.io", ["ingresses"], RO)


def granted(rules):
    out = set()
    for r in rules or []:
        for g in r.get("apiGroups", []):
            for res in r.get("resources", []):
                for verb in r.get("verbs", []):
                    out.add((g, res, verb, tuple(sorted(r.get("resourceNames", [])))))
    return out


def fmt(p):
    g, r, v, n = p
    return f"{v} {g or 'core'}/{r}" + (f" {list(n)}" if n else "")


# ---------------------------------------------------------------------------------------------
# Schemas


def strict_openapi(schema):
    """The CRD's openAPIV3Schema as JSON Schema, refusing unknown fields as the API server's
    strict field validation does (it prunes them otherwise)."""
    s = copy.deepcopy(schema)

    def walk(n):
        if not isinstance(n, dict):
            return
        if n.get("type") == "object" and "properties" in n and "additionalProperties" not in n:
            n["additionalProperties"] = False
        for v in n.get("properties", {}).values():
            walk(v)
        walk(n.get("items"))
        if isinstance(n.get("additionalProperties"), dict):
            walk(n["additionalProperties"])

    walk(s)
    return s


def structural_problems(n, path="openAPIV3Schema"):
    """Kubernetes requires a structural schema: a type on every node."""
    out = []
    if not isinstance(n, dict):
        return out
    if "type" not in n and not n.get("x-kubernetes-int-or-string") and not n.get("x-kubernetes-preserve-unknown-fields"):
        out.append(f"{path} has no type")
    for k, v in n.get("properties", {}).items():
        out += structural_problems(v, f"{path}.{k}")
    if "items" in n:
        out += structural_problems(n["items"], f"{path}[]")
    if isinstance(n.get("additionalProperties"), dict):
        out += structural_problems(n["additionalProperties"], f"{path}{{}}")
    return out


# external-dns's DNSEndpoint fields (config/crd/standard/dnsendpoint.yaml), as (path, type, format).
DNSENDPOINT_FIELDS = [
    ("spec.endpoints", "array", None),
    ("spec.endpoints[].dnsName", "string", None),
    ("spec.endpoints[].targets", "array", None),
    ("spec.endpoints[].targets[]", "string", None),
    ("spec.endpoints[].recordType", "string", None),
    ("spec.endpoints[].setIdentifier", "string", None),
    ("spec.endpoints[].recordTTL", "integer", "int64"),
    ("spec.endpoints[].labels", "object", None),
    ("spec.endpoints[].labels{}", "string", None),
    ("spec.endpoints[].providerSpecific", "array", None),
    ("spec.endpoints[].providerSpecific[].name", "string", None),
    ("spec.endpoints[].providerSpecific[].value", "string", None),
    ("status.observedGeneration", "integer", "int64"),
]


def schema_at(schema, path):
    n = schema
    for part in re.findall(r"[^.\[\]{}]+|\[\]|\{\}", path):
        if part == "[]":
            n = n.get("items", {})
        elif part == "{}":
            n = n.get("additionalProperties", {})
        else:
            n = n.get("properties", {}).get(part)
            if n is None:
                return None
    return n


def check_crd(where, crd):
    name = ref(crd)
    spec = crd["spec"]
    if crd["metadata"]["name"] != "dnsendpoints.externaldns.k8s.io" or spec["group"] != "externaldns.k8s.io":
        fail(where, f"{name}: not dnsendpoints.externaldns.k8s.io")
    if spec["names"]["kind"] != "DNSEndpoint" or spec["scope"] != "Namespaced":
        fail(where, f"{name}: kind DNSEndpoint, Namespaced expected")
    if "api-approved.kubernetes.io" not in crd["metadata"].get("annotations", {}):
        fail(where, f"{name}: *.k8s.io groups need the api-approved.kubernetes.io annotation")
    versions = {v["name"]: v for v in spec["versions"]}
    v1 = versions.get("v1alpha1")
    if not v1 or not v1.get("served") or not v1.get("storage"):
        fail(where, f"{name}: v1alpha1 must be served and stored")
        return None
    if "status" not in (v1.get("subresources") or {}):
        fail(where, f"{name}: v1alpha1 needs the status subresource (cfgeo writes status.observedGeneration)")
    schema = v1["schema"]["openAPIV3Schema"]
    for p in structural_problems(schema):
        fail(where, f"{name}: not a structural schema: {p}")
    for path, typ, form in DNSENDPOINT_FIELDS:
        n = schema_at(schema, path)
        if n is None:
            fail(where, f"{name}: {path} missing (external-dns has it)")
        elif n.get("type") != typ or (form and n.get("format") != form):
            fail(where, f"{name}: {path} is {n.get('type')}/{n.get('format')}, external-dns has {typ}/{form}")
    return schema


class Validator:
    def __init__(self, crd_schema):
        self.crd_schema = strict_openapi(crd_schema) if crd_schema else None

    def validate(self, where, docs, extra_checks=None):
        """Validates docs; prints one line per file, a skip line per kind without a schema."""
        checked, skipped = 0, []
        for d in docs:
            if not isinstance(d, dict) or "apiVersion" not in d or "kind" not in d:
                fail(where, f"not a Kubernetes object: {str(d)[:80]}")
                continue
            if d["kind"] == "DNSEndpoint" and d["apiVersion"] == "externaldns.k8s.io/v1alpha1":
                if not self.crd_schema:
                    fail(where, f"{ref(d)}: no DNSEndpoint CRD to validate against")
                    continue
                body = {k: v for k, v in d.items() if k != "metadata"}
                body["metadata"] = {}
                for e in jsonschema.Draft7Validator(self.crd_schema).iter_errors(body):
                    fail(where, f"{ref(d)}: {'.'.join(str(p) for p in e.absolute_path)}: {e.message} (DNSEndpoint CRD schema)")
                if not d.get("metadata", {}).get("name"):
                    fail(where, f"{ref(d)}: metadata.name missing")
                checked += 1
                continue
            try:
                for ver in KUBE_VERSIONS:
                    kubernetes_validate.validate(d, ver, strict=True)
                checked += 1
            except kubernetes_validate.utils.SchemaNotFoundError:
                skipped.append(f"{ref(d)} ({d['apiVersion']})")
            except kubernetes_validate.utils.ValidationError as e:
                path = ".".join(str(p) for p in e.absolute_path)
                fail(where, f"{ref(d)}: {path}: {e.message} (Kubernetes {e.version}, strict)")
        vers = " and ".join(v.rsplit(".", 1)[0] for v in KUBE_VERSIONS)
        n_dns = sum(1 for d in docs if isinstance(d, dict) and d.get("kind") == "DNSEndpoint")
        ok(f"{where}: {checked} object(s) valid against the Kubernetes {vers} schemas (strict)"
           + (f", {n_dns} DNSEndpoint(s) against the CRD's schema" if n_dns else ""))
        for s in skipped:
            print(f"skip {where}: {s}: no schema for this kind here; not schema-validated"
                  + (" (its wiring is checked below)" if s.startswith("ServiceMonitor") else ""))


# ---------------------------------------------------------------------------------------------
# Wiring


def by_kind(docs):
    out = {}
    for d in docs:
        out.setdefault(d["kind"], []).append(d)
    return out


def one(where, kinds, kind, present=True):
    objs = kinds.get(kind, [])
    if not present:
        if objs:
            fail(where, f"{kind} rendered but not expected: {[ref(o) for o in objs]}")
        return None
    if len(objs) != 1:
        fail(where, f"expected one {kind}, found {len(objs)}")
        return None
    return objs[0]


def env_map(container):
    return {e["name"]: e for e in container.get("env", [])}


def check_rbac(where, kinds, ex):
    roles = kinds.get("ClusterRole", [])
    if len(roles) != 1:
        fail(where, f"expected one ClusterRole, found {len(roles)}")
        return
    role = roles[0]
    actual = granted(role.get("rules"))
    for p in actual:
        if "*" in p[:3]:
            fail(where, f"ClusterRole grants a wildcard: {fmt(p)}")
    enabled = set(ex.rbac_sources)
    needed = set(ALWAYS) | (GEO if ex.geo else set())
    for s in enabled:
        needed |= source_perms(s)
    lines = []
    for s in ALL_SOURCES:
        sp = source_perms(s)
        if s in enabled:
            missing = sp - actual
            if missing:
                fail(where, f"source {s} is enabled but the ClusterRole lacks {sorted(fmt(p) for p in missing)}")
            else:
                lines.append(f"{s}+")
        else:
            others = needed  # a disabled source's permission may still be needed by another one
            leaked = (sp - others) & actual
            if leaked:
                fail(where, f"source {s} is disabled but the ClusterRole grants {sorted(fmt(p) for p in leaked)}")
            else:
                lines.append(f"{s}-")
    if ex.geo and not GEO <= actual:
        fail(where, "the geo engine is on but the ClusterRole cannot read Ingresses")
    for p in sorted(needed - actual):
        fail(where, f"ClusterRole lacks {fmt(p)}")
    for p in sorted(actual - needed):
        fail(where, f"ClusterRole grants {fmt(p)}, which nothing enabled needs")
    ok(f"{where}: ClusterRole grants exactly the enabled sources [{' '.join(lines)}]"
       f"{' + geo engine' if ex.geo else ''} + events, kube-system namespace")
    crb = one(where, kinds, "ClusterRoleBinding")
    if crb:
        if crb["roleRef"] != {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role["metadata"]["name"]}:
            fail(where, f"ClusterRoleBinding roleRef {crb['roleRef']} is not the ClusterRole")
        if {"kind": "ServiceAccount", "name": ex.sa, "namespace": ex.namespace} not in crb.get("subjects", []):
            fail(where, f"ClusterRoleBinding does not bind ServiceAccount {ex.namespace}/{ex.sa}")


def check_leader_election(where, kinds, ex, container):
    role = one(where, kinds, "Role", ex.leader_election)
    binding = one(where, kinds, "RoleBinding", ex.leader_election)
    env = env_map(container)
    want = "true" if ex.leader_election else "false"
    if env.get("CFGEO_LEADER_ELECT", {}).get("value") != want:
        fail(where, f"CFGEO_LEADER_ELECT should be {want}")
    if not ex.leader_election:
        if "CFGEO_LEADER_ELECTION_LEASE_NAME" in env:
            fail(where, "lease name set without leader election")
        return
    if role:
        want_perms = perms("coordination.k8s.io", ["leases"], ("create",)) | perms(
            "coordination.k8s.io", ["leases"], ("get", "update"), (ex.lease,)
        )
        got = granted(role.get("rules"))
        if got != want_perms:
            fail(where, f"leader-election Role grants {sorted(fmt(p) for p in got)}, expected {sorted(fmt(p) for p in want_perms)}")
        if role["metadata"].get("namespace") != ex.namespace:
            fail(where, "leader-election Role is not in the release namespace")
    if binding and role:
        if binding["roleRef"].get("name") != role["metadata"]["name"] or binding["roleRef"].get("kind") != "Role":
            fail(where, "leader-election RoleBinding does not reference the Role")
        if {"kind": "ServiceAccount", "name": ex.sa, "namespace": ex.namespace} not in binding.get("subjects", []):
            fail(where, "leader-election RoleBinding does not bind the ServiceAccount")
    if env.get("CFGEO_LEADER_ELECTION_LEASE_NAME", {}).get("value") != ex.lease:
        fail(where, f"CFGEO_LEADER_ELECTION_LEASE_NAME should be {ex.lease} (the Role's resourceNames)")
    ok(f"{where}: leader election on: Role for Lease {ex.lease} (create; get, update by name), bound to the ServiceAccount")


def selects(selector, labels):
    return all(labels.get(k) == v for k, v in (selector or {}).items())


def check_deployment(where, kinds, ex):
    dep = one(where, kinds, "Deployment")
    if not dep:
        return None
    v = ex.v
    spec = dep["spec"]
    pod = spec["template"]["spec"]
    pod_labels = spec["template"]["metadata"]["labels"]
    if not selects(spec["selector"]["matchLabels"], pod_labels):
        fail(where, "Deployment selector does not match its pod labels")
    if spec["replicas"] != v["replicas"]:
        fail(where, f"replicas {spec['replicas']}, values say {v['replicas']}")
    want_strategy = "RollingUpdate" if ex.leader_election else "Recreate"
    if not v["strategy"] and spec.get("strategy", {}).get("type") != want_strategy:
        fail(where, f"strategy should be {want_strategy} (leader election {'on' if ex.leader_election else 'off'})")
    if pod.get("serviceAccountName") != ex.sa:
        fail(where, f"serviceAccountName {pod.get('serviceAccountName')}, expected {ex.sa}")
    psc = pod.get("securityContext", {})
    if psc.get("runAsNonRoot") is not True:
        fail(where, "pod securityContext.runAsNonRoot must be true")
    if psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        fail(where, "pod seccompProfile must be RuntimeDefault")
    (c,) = pod["containers"]
    sc = c.get("securityContext", {})
    if sc.get("readOnlyRootFilesystem") is not True:
        fail(where, "readOnlyRootFilesystem must be true")
    if sc.get("allowPrivilegeEscalation") is not False:
        fail(where, "allowPrivilegeEscalation must be false")
    if "ALL" not in sc.get("capabilities", {}).get("drop", []):
        fail(where, "capabilities must drop ALL")
    if not c.get("args") or c["args"][0] != "run":
        fail(where, f"container args {c.get('args')} must start with run")
    env = env_map(c)
    for var, field in (("POD_NAME", "metadata.name"), ("POD_NAMESPACE", "metadata.namespace")):
        if env.get(var, {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") != field:
            fail(where, f"{var} must come from the downward API ({field})")
    # Admin port and probes.
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    if ports.get("http-admin") != ex.port:
        fail(where, f"container port http-admin should be {ex.port}")
    if env.get("CFGEO_ADMIN_ADDR", {}).get("value") != f"0.0.0.0:{ex.port}":
        fail(where, f"CFGEO_ADMIN_ADDR should be 0.0.0.0:{ex.port}")
    for probe, path in (("livenessProbe", "/livez"), ("readinessProbe", "/readyz")):
        get = c.get(probe, {}).get("httpGet", {})
        if get.get("path") != path or get.get("port") not in ("http-admin", ex.port):
            fail(where, f"{probe} should GET {path} on the admin port, got {get}")
    # Token: Secret -> volume -> file -> CF_API_TOKEN_FILE.
    token_file = env.get("CF_API_TOKEN_FILE", {}).get("value")
    mounts = {m["name"]: m for m in c.get("volumeMounts", [])}
    vols = {vol["name"]: vol for vol in pod.get("volumes", [])}
    found = False
    for name, m in mounts.items():
        sec = vols.get(name, {}).get("secret")
        if not sec or not token_file or not token_file.startswith(m["mountPath"].rstrip("/") + "/"):
            continue
        found = True
        if m.get("subPath"):
            fail(where, "the token is mounted with subPath: the kubelet would never update it")
        if sec.get("secretName") != ex.secret:
            fail(where, f"token volume uses Secret {sec.get('secretName')}, expected {ex.secret}")
        rel = token_file[len(m["mountPath"].rstrip("/")) + 1:]
        items = {i["path"]: i["key"] for i in sec.get("items", [])}
        key = items.get(rel, rel if not items else None)
        if key != ex.secret_key:
            fail(where, f"CF_API_TOKEN_FILE {token_file} reads key {key}, expected {ex.secret_key}")
    if not found:
        fail(where, f"CF_API_TOKEN_FILE ({token_file}) is not a file of a mounted Secret volume")
    if "CF_API_TOKEN" in env:
        fail(where, "CF_API_TOKEN set as well as CF_API_TOKEN_FILE")
    secret = one(where, kinds, "Secret", ex.secret_created)
    if secret:
        if secret["metadata"]["name"] != ex.secret or ex.secret_key not in (secret.get("data") or {}):
            fail(where, f"created Secret should be {ex.secret} with key {ex.secret_key}")
    ok(f"{where}: Deployment: token file from Secret {ex.secret} key {ex.secret_key}, POD_NAME/POD_NAMESPACE, "
       f"probes /livez /readyz on :{ex.port}, non-root, read-only root, no capabilities, seccomp RuntimeDefault")
    return dep, c, pod_labels


def check_settings(where, kinds, ex, container):
    cms = {cm["metadata"]["name"]: cm for cm in kinds.get("ConfigMap", [])}
    refs = [e["configMapRef"]["name"] for e in container.get("envFrom", []) if "configMapRef" in e]
    if not refs or refs[0] not in cms:
        fail(where, f"envFrom ConfigMap {refs} is not rendered")
        return
    data = cms[refs[0]].get("data") or {}
    v = ex.v

    def want(var, value):
        if value in (None, "", []):
            if var in data:
                fail(where, f"ConfigMap sets {var}={data[var]!r} but the values leave it unset")
        else:
            s = ",".join(value) if isinstance(value, list) else str(value).lower() if isinstance(value, bool) else str(value)
            if data.get(var) != s:
                fail(where, f"ConfigMap {var}={data.get(var)!r}, values say {s!r}")

    want("GEO_LOCATION", v["geo"]["location"])
    want("CFGEO_SOURCES", ex.sources)
    want("CF_ACCOUNT_ID", v["cloudflare"]["accountId"])
    want("CF_ZONE_ID", v["cloudflare"]["zoneId"])
    if ex.geo:
        want("CF_LB_HOSTNAME", v["geo"]["lbHostname"])
        want("LABEL_SELECTOR", v["geo"]["labelSelector"])
    if ex.sources:
        want("CFGEO_DOMAIN_FILTER", v["records"]["domainFilters"])
        want("CFGEO_POLICY", v["records"]["policy"])
        want("CFGEO_TXT_OWNER_ID", v["records"]["txtOwnerId"])
        want("CFGEO_CLOUDFLARE_PROXIED", v["records"]["cloudflareProxied"])
    for k, val in data.items():
        if not isinstance(val, str) or val == "":
            fail(where, f"ConfigMap {k} is {val!r}: empty settings must be left out")
    ok(f"{where}: ConfigMap {refs[0]}: {len(data)} settings"
       f" (GEO_LOCATION={data.get('GEO_LOCATION', '-')}, CFGEO_SOURCES={data.get('CFGEO_SOURCES', '-')})")


def check_service(where, kinds, ex, container, pod_labels):
    svc = one(where, kinds, "Service", ex.v["service"]["enabled"])
    if svc:
        if not selects(svc["spec"]["selector"], pod_labels):
            fail(where, "Service selector does not select the pods")
        names = {p["name"] for p in container.get("ports", [])}
        for p in svc["spec"]["ports"]:
            if p.get("targetPort") not in names and p.get("targetPort") != ex.port:
                fail(where, f"Service targetPort {p.get('targetPort')} is not a container port")
    sm = one(where, kinds, "ServiceMonitor", ex.service_monitor)
    if sm and svc:
        if not selects(sm["spec"]["selector"]["matchLabels"], svc["metadata"]["labels"]):
            fail(where, "ServiceMonitor selector does not select the Service")
        svc_ports = {p["name"] for p in svc["spec"]["ports"]}
        for e in sm["spec"]["endpoints"]:
            if e.get("port") not in svc_ports:
                fail(where, f"ServiceMonitor endpoint port {e.get('port')} is not a Service port name")
            if e.get("path") != "/metrics":
                fail(where, "ServiceMonitor endpoint path should be /metrics")
        if sm["metadata"]["namespace"] != ex.namespace and ex.namespace not in sm["spec"].get("namespaceSelector", {}).get("matchNames", []):
            fail(where, "ServiceMonitor in another namespace must select the release namespace")
        ok(f"{where}: ServiceMonitor selects Service {svc['metadata']['name']} port {sm['spec']['endpoints'][0]['port']} /metrics")
    pdb = one(where, kinds, "PodDisruptionBudget", ex.pdb)
    if pdb and not selects(pdb["spec"]["selector"]["matchLabels"], pod_labels):
        fail(where, "PodDisruptionBudget does not select the pods")
    one(where, kinds, "CustomResourceDefinition", ex.crd)
    one(where, kinds, "ServiceAccount", ex.v["serviceAccount"]["create"])
    ok(f"{where}: Service {'yes' if svc else 'no'}, ServiceMonitor {'yes' if sm else 'no'}, "
       f"PodDisruptionBudget {'yes' if pdb else 'no'}, DNSEndpoint CRD {'yes' if ex.crd else 'no'}, "
       f"Secret {'created' if ex.secret_created else 'existing ' + ex.secret}")


SRC_STRINGS = set()


def load_src_strings(src):
    """Every string literal of the Rust sources: the environment variables cfgeo reads."""
    for path in glob.glob(os.path.join(src, "**", "*.rs"), recursive=True):
        SRC_STRINGS.update(re.findall(r'"([A-Z][A-Z0-9_]*)"', open(path).read()))


def check_env_names(where, kinds):
    """Each variable the chart sets must be one cfgeo reads (a rename in src/ breaks this)."""
    names = set()
    for cm in kinds.get("ConfigMap", []):
        names |= set((cm.get("data") or {}).keys())
    for dep in kinds.get("Deployment", []):
        for c in dep["spec"]["template"]["spec"]["containers"]:
            names |= {e["name"] for e in c.get("env", [])}
    unknown = sorted(n for n in names if n not in SRC_STRINGS)
    if unknown:
        fail(where, f"sets variables that no source file of cfgeo reads: {unknown}")
    else:
        ok(f"{where}: all {len(names)} environment variables are read by cfgeo (src/)")


def check_all(where, docs, ex):
    kinds = by_kind(docs)
    if SRC_STRINGS:
        check_env_names(where, kinds)
    for d in docs:
        md = d.get("metadata", {})
        if d["kind"] not in ("ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "Namespace"):
            if d["kind"] == "ServiceMonitor":
                continue
            if md.get("namespace") != ex.namespace:
                fail(where, f"{ref(d)} is in namespace {md.get('namespace')}, expected {ex.namespace}")
    check_rbac(where, kinds, ex)
    r = check_deployment(where, kinds, ex)
    if r:
        _, c, pod_labels = r
        check_leader_election(where, kinds, ex, c)
        check_settings(where, kinds, ex, c)
        check_service(where, kinds, ex, c, pod_labels)


# ---------------------------------------------------------------------------------------------


def doc_examples(path):
    text = open(path).read()
    docs = []
    for block in re.findall(r"^```yaml\n(.*?)^```", text, flags=re.M | re.S):
        docs += [d for d in yaml.safe_load_all(block) if d]
    return [d for d in docs if isinstance(d, dict) and "apiVersion" in d and "kind" in d]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--chart", required=True)
    ap.add_argument("--ci", required=True)
    ap.add_argument("--rendered", required=True)
    ap.add_argument("--manifests", required=True)
    ap.add_argument("--manifests-values", default="deploy/helm/manifests-values.yaml")
    ap.add_argument("--kustomized", required=True)
    ap.add_argument("--docs", default="docs/annotations.md")
    ap.add_argument("--src", default="src")
    a = ap.parse_args()
    load_src_strings(a.src)
    if not SRC_STRINGS:
        fail(a.src, "no Rust sources found to check the environment variables against")

    defaults = yaml.safe_load(open(os.path.join(a.chart, "values.yaml")))

    # The CRD, once: from the plain manifests (the chart renders the same template).
    crd_path = os.path.join(a.manifests, "crd-dnsendpoint.yaml")
    crd_docs = load_docs(crd_path)
    crd_schema = check_crd(crd_path, crd_docs[0]) if crd_docs else None
    if crd_schema:
        ok(f"{crd_path}: DNSEndpoint CRD is structural, has the status subresource and external-dns's fields")
    val = Validator(crd_schema)

    sets = sorted(glob.glob(os.path.join(a.ci, "*.yaml")))
    for s in sets:
        name = os.path.basename(s)
        where = f"ci/{name}"
        docs = load_docs(os.path.join(a.rendered, name))
        values = deep_merge(defaults, yaml.safe_load(open(s)))
        val.validate(where, docs)
        check_all(where, docs, Expect(values))
        rendered_crds = [d for d in docs if d["kind"] == "CustomResourceDefinition"]
        for c in rendered_crds:
            check_crd(where, c)

    # Plain manifests: each file, then the whole as kustomize builds it.
    files = sorted(f for f in glob.glob(os.path.join(a.manifests, "*.yaml")) if not f.endswith("kustomization.yaml"))
    all_docs = []
    for f in files:
        docs = load_docs(f)
        val.validate(f, docs)
        all_docs += docs
    kust = yaml.safe_load(open(os.path.join(a.manifests, "kustomization.yaml")))
    listed = sorted(os.path.join(a.manifests, r) for r in kust.get("resources", []))
    if listed != files:
        fail("kustomization.yaml", f"resources {listed} differ from the files {files}")
    built = load_docs(a.kustomized)
    key = lambda d: (d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"])
    if sorted(map(key, built)) != sorted(map(key, all_docs)):
        fail("kustomization.yaml", "kubectl kustomize builds other objects than the files hold")
    else:
        ok(f"{a.kustomized}: kustomize builds the {len(built)} objects of deploy/manifests")
    for d in all_docs:
        labels = d.get("metadata", {}).get("labels", {}) or {}
        if "helm.sh/chart" in labels or labels.get("app.kubernetes.io/managed-by") == "Helm":
            fail(a.manifests, f"{ref(d)} carries Helm labels")
    mvalues = deep_merge(defaults, yaml.safe_load(open(a.manifests_values)))
    if not any(d["kind"] == "Namespace" and d["metadata"]["name"] == "cfgeo" for d in all_docs):
        fail(a.manifests, "no Namespace cfgeo")
    check_all(a.manifests, all_docs, Expect(mvalues))

    # The examples of docs/annotations.md.
    if os.path.exists(a.docs):
        ex = doc_examples(a.docs)
        if not ex:
            fail(a.docs, "no YAML examples found")
        val.validate(a.docs, ex)

    if failures:
        print(f"\n{len(failures)} problem(s):")
        for f in failures:
            print(f"  - {f}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
