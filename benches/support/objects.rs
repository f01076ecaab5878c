//! Objects shaped as real clusters hold them, for the benchmarks: Helm labels and annotations,
//! a `kubectl.kubernetes.io/last-applied-configuration` annotation, three managedFields
//! entries, and their creation on a real kube-apiserver.

use serde_json::{Value, json};

pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The `i`-th address of `base`.0.0.0/8, shifted by `round` for later changes.
pub fn ip(base: usize, i: usize, round: usize) -> String {
    format!(
        "{base}.{}.{}.{}",
        i / 62_500 + round * 2,
        (i / 250) % 250,
        i % 250 + 1
    )
}

/// `kubectl apply`'s record of the object: the object without status and server fields.
fn last_applied(obj: &Value) -> String {
    let mut o = obj.clone();
    if let Some(m) = o.as_object_mut() {
        m.remove("status");
    }
    if let Some(meta) = o.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
        meta.remove("generation");
        meta.remove("creationTimestamp");
    }
    format!("{}\n", serde_json::to_string(&o).unwrap())
}

fn fields_of(map: &Value, prefix: &str) -> Value {
    let mut out = serde_json::Map::new();
    out.insert(".".into(), json!({}));
    if let Some(m) = map.as_object() {
        for k in m.keys() {
            out.insert(format!("{prefix}{k}"), json!({}));
        }
    }
    Value::Object(out)
}

fn managed_entry(manager: &str, time: &str, api_version: &str, fields: Value) -> Value {
    json!({
        "manager": manager,
        "operation": "Update",
        "apiVersion": api_version,
        "time": time,
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
    })
}

/// Ingress `web-i` for `h{i}.example.com` (or, with `geo`, the geo-labelled
/// `app.example.com` of cluster fra1), as Helm, an Ingress controller and cert-manager leave it.
pub fn ingress(i: usize, geo: bool) -> Value {
    let name = format!("web-{i}");
    let ns = format!("team-{}", i % 50);
    let host = if geo {
        "app.example.com".to_string()
    } else {
        format!("h{i}.example.com")
    };
    let mut labels = json!({
        "app.kubernetes.io/name": "web",
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/managed-by": "Helm",
        "app.kubernetes.io/version": "2.14.1",
        "helm.sh/chart": "web-1.4.2",
    });
    if geo {
        labels["dns.external/geo-route"] = json!("true");
        labels["cluster-name"] = json!("fra1");
    }
    let backend =
        |svc: &str, port: u16| json!({"service": {"name": svc, "port": {"number": port}}});
    let mut obj = json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": name,
            "namespace": ns,
            "generation": 3,
            "creationTimestamp": "2026-03-02T09:14:11Z",
            "labels": labels,
            "annotations": {
                "meta.helm.sh/release-name": name,
                "meta.helm.sh/release-namespace": ns,
                "cert-manager.io/cluster-issuer": "letsencrypt-prod",
                "nginx.ingress.kubernetes.io/proxy-body-size": "16m",
                "nginx.ingress.kubernetes.io/ssl-redirect": "true",
            },
        },
        "spec": {
            "ingressClassName": "nginx",
            "tls": [{"hosts": [host], "secretName": format!("{name}-tls")}],
            "rules": [{
                "host": host,
                "http": {"paths": [
                    {"path": "/", "pathType": "Prefix", "backend": backend(&name, 80)},
                    {"path": "/api", "pathType": "Prefix", "backend": backend(&format!("{name}-api"), 8080)},
                ]},
            }],
        },
        "status": {"loadBalancer": {"ingress": [{"ip": ip(10, i, 0)}]}},
    });
    let applied = last_applied(&obj);
    let meta = &obj["metadata"];
    let kubectl = json!({
        "f:metadata": {
            "f:annotations": fields_of(&meta["annotations"], "f:"),
            "f:labels": fields_of(&meta["labels"], "f:"),
        },
        "f:spec": {
            "f:ingressClassName": {},
            "f:rules": {},
            "f:tls": {},
        },
    });
    let mut kubectl = kubectl;
    kubectl["f:metadata"]["f:annotations"][format!("f:{LAST_APPLIED}")] = json!({});
    let managed = json!([
        managed_entry("helm", "2026-03-02T09:14:11Z", "networking.k8s.io/v1", kubectl),
        {
            "manager": "nginx-ingress-controller",
            "operation": "Update",
            "apiVersion": "networking.k8s.io/v1",
            "time": "2026-03-02T09:14:40Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:status": {"f:loadBalancer": {"f:ingress": {}}}},
            "subresource": "status",
        },
        managed_entry("cert-manager-ingress-shim", "2026-03-02T09:14:12Z", "networking.k8s.io/v1",
            json!({"f:spec": {"f:tls": {}}})),
    ]);
    obj["metadata"]["annotations"][LAST_APPLIED] = json!(applied);
    obj["metadata"]["managedFields"] = managed;
    obj
}

/// LoadBalancer Service `svc-i`, published as `s{i}.example.com` under the annotation
/// `hostname_key` when one is given, as Helm and a cloud load-balancer controller leave it.
pub fn service(i: usize, hostname_key: Option<&str>) -> Value {
    let name = format!("svc-{i}");
    let ns = format!("team-{}", i % 50);
    let port = |n: &str, p: u16, t: u16, node: usize| json!({"name": n, "port": p, "targetPort": t, "protocol": "TCP", "nodePort": node});
    let mut obj = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": ns,
            "creationTimestamp": "2026-03-02T09:14:11Z",
            "labels": {
                "app.kubernetes.io/name": "api",
                "app.kubernetes.io/instance": name,
                "app.kubernetes.io/managed-by": "Helm",
                "app.kubernetes.io/version": "2.14.1",
                "helm.sh/chart": "api-3.0.7",
            },
            "annotations": {
                "meta.helm.sh/release-name": name,
                "meta.helm.sh/release-namespace": ns,
                "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
                "service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing",
            },
            "finalizers": ["service.kubernetes.io/load-balancer-cleanup"],
        },
        "spec": {
            "type": "LoadBalancer",
            "selector": {"app.kubernetes.io/name": "api", "app.kubernetes.io/instance": name},
            "ports": [port("http", 80, 8080, 30000 + i % 2000), port("https", 443, 8443, 32000 + i % 700)],
            "clusterIP": format!("172.20.{}.{}", (i / 250) % 250, i % 250 + 1),
            "sessionAffinity": "None",
            "externalTrafficPolicy": "Cluster",
            "internalTrafficPolicy": "Cluster",
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "allocateLoadBalancerNodePorts": true,
        },
        "status": {"loadBalancer": {"ingress": [{"ip": ip(11, i, 0)}]}},
    });
    if let Some(key) = hostname_key {
        obj["metadata"]["annotations"][key] = json!(format!("s{i}.example.com"));
    }
    let cip = obj["spec"]["clusterIP"].clone();
    obj["spec"]["clusterIPs"] = json!([cip]);
    let applied = last_applied(&obj);
    let meta = &obj["metadata"];
    let mut ports = serde_json::Map::new();
    ports.insert(".".into(), json!({}));
    for p in [80, 443] {
        ports.insert(
            format!("k:{{\"port\":{p},\"protocol\":\"TCP\"}}"),
            json!({".": {}, "f:name": {}, "f:port": {}, "f:protocol": {}, "f:targetPort": {}}),
        );
    }
    let mut helm = json!({
        "f:metadata": {
            "f:annotations": fields_of(&meta["annotations"], "f:"),
            "f:labels": fields_of(&meta["labels"], "f:"),
        },
        "f:spec": {
            "f:allocateLoadBalancerNodePorts": {},
            "f:externalTrafficPolicy": {},
            "f:internalTrafficPolicy": {},
            "f:ports": Value::Object(ports),
            "f:selector": {},
            "f:sessionAffinity": {},
            "f:type": {},
        },
    });
    helm["f:metadata"]["f:annotations"][format!("f:{LAST_APPLIED}")] = json!({});
    let managed = json!([
        managed_entry("helm", "2026-03-02T09:14:11Z", "v1", helm),
        managed_entry("kube-controller-manager", "2026-03-02T09:14:13Z", "v1",
            json!({"f:metadata": {"f:finalizers": {".": {}, "v:\"service.kubernetes.io/load-balancer-cleanup\"": {}}}})),
        {
            "manager": "aws-load-balancer-controller",
            "operation": "Update",
            "apiVersion": "v1",
            "time": "2026-03-02T09:15:02Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:status": {"f:loadBalancer": {"f:ingress": {}}}},
            "subresource": "status",
        },
    ]);
    obj["metadata"]["annotations"][LAST_APPLIED] = json!(applied);
    obj["metadata"]["managedFields"] = managed;
    obj
}

/// POSTs an object as a client would (its managedFields and last-applied included), then its
/// status through the status subresource.
pub async fn real_create(client: &kube::Client, obj: Value) {
    use kube::api::{DynamicObject, PostParams};
    let kind = obj["kind"].as_str().unwrap().to_string();
    let ns = obj["metadata"]["namespace"].as_str().unwrap().to_string();
    let name = obj["metadata"]["name"].as_str().unwrap().to_string();
    let ar = if kind == "Ingress" {
        kube::discovery::ApiResource::erase::<k8s_openapi::api::networking::v1::Ingress>(&())
    } else {
        kube::discovery::ApiResource::erase::<k8s_openapi::api::core::v1::Service>(&())
    };
    let api: kube::Api<DynamicObject> = kube::Api::namespaced_with(client.clone(), &ns, &ar);
    let mut body = obj.clone();
    let status = body.as_object_mut().unwrap().remove("status");
    // The server allocates cluster IPs from its own range; 10,000 LoadBalancer Services cannot
    // each hold node ports (30000-32767), so they are created without, as many clusters do.
    if let Some(spec) = body["spec"].as_object_mut() {
        spec.remove("clusterIP");
        spec.remove("clusterIPs");
        if kind == "Service" {
            spec.insert("allocateLoadBalancerNodePorts".into(), json!(false));
            if let Some(ports) = spec.get_mut("ports").and_then(|p| p.as_array_mut()) {
                for p in ports {
                    if let Some(p) = p.as_object_mut() {
                        p.remove("nodePort");
                    }
                }
            }
        }
    }
    let dynobj: DynamicObject = serde_json::from_value(body).unwrap();
    api.create(&PostParams::default(), &dynobj)
        .await
        .unwrap_or_else(|e| panic!("creating {kind} {ns}/{name}: {e}"));
    if let Some(st) = status {
        api.patch_status(
            &name,
            &Default::default(),
            &kube::api::Patch::Merge(&json!({ "status": st })),
        )
        .await
        .unwrap_or_else(|e| panic!("status of {kind} {ns}/{name}: {e}"));
    }
}
