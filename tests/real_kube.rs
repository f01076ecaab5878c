//! Both engines against a real kube-apiserver (and etcd), built from the upstream Go modules by
//! scripts/peers.sh: objects are created through the real API, so validation, status
//! subresources, Events, watches and restarts are Kubernetes' own, not our fake's.

mod common;

use std::time::Duration;

use cfgeo::config::SourceKind;
use cfgeo::events::Reporter;
use cfgeo::geo::engine::GeoEngine;
use cfgeo::records::Policy;
use cfgeo::records::engine::{RecordEngine, RecordSettings, resolve_zones};
use cfgeo::records::inputs::watch_inputs;
use cfgeo::records::sources::SourceSettings;
use cfgeo::sources::kube_watch;
use common::control_plane::ControlPlane;
use common::*;
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::runtime::watcher;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const T: Duration = Duration::from_secs(30);
const POOL: &str = "k8s-pool-fra1-eu";

fn pp() -> PatchParams {
    PatchParams::apply("cfgeo-test").force()
}

/// Server-side applies any object; `status`, when the object has one, goes through the status
/// subresource as a controller would write it.
async fn apply(client: &kube::Client, obj: Value) -> DynamicObject {
    let (group, version) = match obj["apiVersion"].as_str().unwrap().split_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (
            String::new(),
            obj["apiVersion"].as_str().unwrap().to_string(),
        ),
    };
    let gvk = GroupVersionKind::gvk(&group, &version, obj["kind"].as_str().unwrap());
    let (ar, caps) = kube::discovery::pinned_kind(client, &gvk)
        .await
        .unwrap_or_else(|e| panic!("discovery of {gvk:?}: {e}"));
    let name = obj["metadata"]["name"].as_str().unwrap().to_string();
    let api: Api<DynamicObject> = match obj["metadata"]["namespace"].as_str() {
        Some(ns) if caps.scope == kube::discovery::Scope::Namespaced => {
            Api::namespaced_with(client.clone(), ns, &ar)
        }
        _ => Api::all_with(client.clone(), &ar),
    };
    let mut body = obj.clone();
    let status = body.as_object_mut().unwrap().remove("status");
    let out = api
        .patch(&name, &pp(), &Patch::Apply(&body))
        .await
        .unwrap_or_else(|e| panic!("applying {}/{name}: {e}", gvk.kind));
    match status {
        Some(st) => api
            .patch_status(
                &name,
                &pp(),
                &Patch::Apply(&json!({
                    "apiVersion": obj["apiVersion"], "kind": obj["kind"],
                    "metadata": {"name": name, "namespace": obj["metadata"]["namespace"]},
                    "status": st,
                })),
            )
            .await
            .unwrap_or_else(|e| panic!("status of {}/{name}: {e}", gvk.kind)),
        None => out,
    }
}

async fn namespace(client: &kube::Client, name: &str) {
    apply(
        client,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
    )
    .await;
}

/// Applies every CustomResourceDefinition in `files` and waits until each is Established.
async fn install_crds(client: &kube::Client, files: &[std::path::PathBuf]) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut names = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let docs: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
        for d in docs {
            if d["kind"] != "CustomResourceDefinition" {
                continue;
            }
            let name = d["metadata"]["name"].as_str().unwrap().to_string();
            api.patch(&name, &pp(), &Patch::Apply(&d)).await.unwrap();
            names.push(name);
        }
    }
    for name in names {
        let cond = kube::runtime::conditions::is_crd_established();
        kube::runtime::wait::await_condition(api.clone(), &name, cond)
            .await
            .unwrap();
    }
}

fn gateway_crds(channel: &str) -> Vec<std::path::PathBuf> {
    let dir = control_plane::peer_bin("etcd")
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("gateway-api")
        .join(channel);
    [
        "gatewayclasses",
        "gateways",
        "httproutes",
        "grpcroutes",
        "tlsroutes",
        "tcproutes",
        "udproutes",
    ]
    .iter()
    .map(|k| dir.join(format!("gateway.networking.k8s.io_{k}.yaml")))
    .collect()
}

fn geo_ingress(addr: &str) -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "web", "namespace": "shop",
            "labels": {"dns.external/geo-route": "true", "cluster-name": "fra1"}},
        "spec": {"ingressClassName": "nginx",
            "rules": [{"host": "app.example.com", "http": {"paths": [{"path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]},
        "status": {"loadBalancer": {"ingress": [{"ip": addr}]}},
    })
}

/// The geo engine of one cluster, watching `client`.
fn start_geo(
    emu: &cfgeo::emulator::EmulatorHandle,
    client: kube::Client,
    region: &str,
) -> CancellationToken {
    let shutdown = CancellationToken::new();
    let rx = kube_watch::watch_objects(
        Api::<Ingress>::all(client.clone()),
        watcher::Config::default().labels(SELECTOR),
        shutdown.clone(),
    );
    let engine = GeoEngine::new(
        common::client(emu),
        settings(emu, region, &format!("owner-{region}")),
        Reporter::kube(client, "cfgeo", None),
        fast_timing(),
    );
    let (tx, leader) = tokio::sync::watch::channel(true);
    let sd = shutdown.clone();
    tokio::spawn(async move {
        let _keep = tx;
        engine.run(rx, leader, sd).await
    });
    shutdown
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn geo_engine_on_real_ingresses_with_events_the_server_accepts() {
    let cp = ControlPlane::start().await;
    let c = cp.admin().await;
    namespace(&c, "shop").await;
    apply(
        &c,
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
            "metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/ingress-nginx"}}),
    )
    .await;
    apply(&c, geo_ingress("203.0.113.10")).await;
    let emu = emulator().await;
    let stop = start_geo(&emu, c.clone(), "eu");
    eventually("pool from the real Ingress", T, || {
        pools(&emu).get(POOL) == Some(&vec![("203.0.113.10".to_string(), true)])
            && lb_pool_names(&emu, "app.example.com") == Some(vec![POOL.into()])
    })
    .await;
    // A status change through the status subresource.
    apply(&c, geo_ingress("203.0.113.11")).await;
    eventually("origin replaced", T, || {
        pools(&emu).get(POOL) == Some(&vec![("203.0.113.11".to_string(), true)])
    })
    .await;
    // The Events cfgeo wrote passed the real server's validation and name the Ingress.
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(c.clone(), "shop");
    let mut found = false;
    for _ in 0..100 {
        let list = events.list(&Default::default()).await.unwrap();
        found = list.items.iter().any(|e| {
            e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("web")
                && e.reason.as_deref() == Some("Written")
        });
        if found {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(found, "a Written Event on Ingress shop/web");
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_record_source_on_real_objects() {
    let cp = ControlPlane::start().await;
    let c = cp.admin().await;
    let chart_crd = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/manifests/crd-dnsendpoint.yaml");
    let mut crds = gateway_crds("experimental");
    crds.push(chart_crd);
    install_crds(&c, &crds).await;
    for ns in ["shop", "infra"] {
        namespace(&c, ns).await;
    }
    apply(
        &c,
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"rules": [{"host": "web.example.com"}],
                "defaultBackend": {"service": {"name": "web", "port": {"number": 80}}}},
            "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}}),
    )
    .await;
    apply(
        &c,
        json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "api", "namespace": "shop",
                "annotations": {"external-dns.alpha.kubernetes.io/hostname": "api.example.com"}},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.2"}]}}}),
    )
    .await;
    apply(
        &c,
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"name": "gw", "namespace": "infra"},
            "spec": {"gatewayClassName": "eg", "listeners": [
                {"name": "http", "protocol": "HTTP", "port": 80, "hostname": "*.example.com",
                 "allowedRoutes": {"namespaces": {"from": "All"}}},
                {"name": "tls", "protocol": "TLS", "port": 443, "hostname": "tls.example.com",
                 "tls": {"mode": "Passthrough"},
                 "allowedRoutes": {"namespaces": {"from": "All"}}},
                {"name": "tcp", "protocol": "TCP", "port": 5432,
                 "allowedRoutes": {"namespaces": {"from": "All"}}},
                {"name": "udp", "protocol": "UDP", "port": 53,
                 "allowedRoutes": {"namespaces": {"from": "All"}}}]},
            "status": {"addresses": [{"type": "IPAddress", "value": "192.0.2.3"}]}}),
    )
    .await;
    let accepted = |section: &str| {
        json!({"parents": [{
            "parentRef": {"name": "gw", "namespace": "infra", "sectionName": section},
            "controllerName": "example.com/gw",
            "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted",
                "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}]})
    };
    let route = |api: &str, kind: &str, name: &str, section: &str, hosts: Option<&[&str]>| {
        let mut spec =
            json!({"parentRefs": [{"name": "gw", "namespace": "infra", "sectionName": section}]});
        if matches!(kind, "TLSRoute" | "TCPRoute" | "UDPRoute") {
            spec["rules"] = json!([{"backendRefs": [{"name": "backend", "port": 443}]}]);
        }
        if let Some(h) = hosts {
            spec["hostnames"] = json!(h);
        }
        json!({"apiVersion": api, "kind": kind, "metadata": {"name": name, "namespace": "shop"},
            "spec": spec, "status": accepted(section)})
    };
    let v1 = "gateway.networking.k8s.io/v1";
    let alpha = "gateway.networking.k8s.io/v1alpha2";
    apply(
        &c,
        route(v1, "HTTPRoute", "http", "http", Some(&["shop.example.com"])),
    )
    .await;
    apply(
        &c,
        route(v1, "GRPCRoute", "grpc", "http", Some(&["grpc.example.com"])),
    )
    .await;
    apply(
        &c,
        route(alpha, "TLSRoute", "tls", "tls", Some(&["tls.example.com"])),
    )
    .await;
    apply(&c, route(alpha, "TCPRoute", "tcp", "tcp", None)).await;
    apply(&c, route(alpha, "UDPRoute", "udp", "udp", None)).await;
    apply(
        &c,
        json!({"apiVersion": "externaldns.k8s.io/v1alpha1", "kind": "DNSEndpoint",
            "metadata": {"name": "extra", "namespace": "shop"},
            "spec": {"endpoints": [{"dnsName": "extra.example.com", "recordType": "A",
                "targets": ["192.0.2.4"], "recordTTL": 300}]}}),
    )
    .await;

    let emu = emulator().await;
    let cf = client(&emu);
    let zone = emu.zone_id("example.com").unwrap();
    let shutdown = CancellationToken::new();
    let s = RecordSettings::new("cfgeo-test", Policy::Sync);
    let zones = resolve_zones(&cf, std::slice::from_ref(&zone), &s.plan.domains)
        .await
        .unwrap();
    let kinds = [
        SourceKind::Ingress,
        SourceKind::Service,
        SourceKind::GatewayHttproute,
        SourceKind::GatewayGrpcroute,
        SourceKind::GatewayTlsroute,
        SourceKind::GatewayTcproute,
        SourceKind::GatewayUdproute,
        SourceKind::Crd,
    ];
    let inputs = watch_inputs(
        c.clone(),
        &kinds,
        SourceSettings {
            annotation_prefixes: vec![
                "external-dns.alpha.kubernetes.io/".into(),
                "external-dns.kubernetes.io/".into(),
            ],
            ..SourceSettings::default()
        },
        None,
        None,
        shutdown.clone(),
    );
    let engine = RecordEngine::new(
        cf,
        s,
        zones,
        Reporter::kube(c.clone(), "cfgeo", None),
        fast_timing(),
    )
    .with_status_writer(c.clone());
    let (tx, leader) = tokio::sync::watch::channel(true);
    let sd = shutdown.clone();
    tokio::spawn(async move {
        let _keep = tx;
        engine.run(inputs, leader, sd).await
    });
    let wanted = [
        ("web.example.com", "192.0.2.1"),
        ("api.example.com", "192.0.2.2"),
        ("shop.example.com", "192.0.2.3"),
        ("grpc.example.com", "192.0.2.3"),
        ("tls.example.com", "192.0.2.3"),
        ("extra.example.com", "192.0.2.4"),
    ];
    eventually("a record per source", T, || {
        let recs = emu.records(&zone);
        wanted.iter().all(|(name, ip)| {
            recs.iter()
                .any(|r| r.record_type == "A" && r.name == *name && r.content == *ip)
        })
    })
    .await;
    // DNSEndpoint status went through the real status subresource.
    let ar = kube::discovery::pinned_kind(
        &c,
        &GroupVersionKind::gvk("externaldns.k8s.io", "v1alpha1", "DNSEndpoint"),
    )
    .await
    .unwrap()
    .0;
    let de: Api<DynamicObject> = Api::namespaced_with(c.clone(), "shop", &ar);
    let mut observed = None;
    for _ in 0..100 {
        let d = de.get("extra").await.unwrap();
        observed = d.data["status"]["observedGeneration"].as_i64();
        if observed.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        observed,
        Some(1),
        "observedGeneration written through /status"
    );
    // A deletion through the real API removes the record.
    let ing: Api<Ingress> = Api::namespaced(c.clone(), "shop");
    ing.delete("web", &DeleteParams::default()).await.unwrap();
    eventually("record of the deleted Ingress gone", T, || {
        !emu.records(&zone)
            .iter()
            .any(|r| r.name == "web.example.com")
    })
    .await;
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apiserver_restart_misses_no_deletion() {
    let mut cp = ControlPlane::start().await;
    let c = cp.admin().await;
    namespace(&c, "shop").await;
    apply(&c, geo_ingress("203.0.113.10")).await;
    let emu = emulator().await;
    let stop = start_geo(&emu, c.clone(), "eu");
    eventually("pool", T, || pools(&emu).contains_key(POOL)).await;
    // The Ingress is deleted while kube-apiserver is down for cfgeo: deleted, then the server
    // restarts before cfgeo's watch could see the event stream again.
    cp.restart_apiserver().await;
    let c2 = cp.admin().await;
    let ing: Api<Ingress> = Api::namespaced(c2.clone(), "shop");
    ing.delete("web", &DeleteParams::default()).await.unwrap();
    eventually("deletion seen after the restart: pool drained", T, || {
        pools(&emu).get(POOL) == Some(&vec![("203.0.113.10".to_string(), false)])
    })
    .await;
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_control_planes_merge_into_one_load_balancer() {
    let (a, b) = tokio::join!(ControlPlane::start(), ControlPlane::start());
    let ca = a.admin().await;
    let cb = b.admin().await;
    namespace(&ca, "shop").await;
    namespace(&cb, "shop").await;
    apply(&ca, geo_ingress("203.0.113.10")).await;
    let mut us = geo_ingress("198.51.100.5");
    us["metadata"]["labels"]["cluster-name"] = json!("nyc1");
    apply(&cb, us).await;
    let emu = emulator().await;
    let s1 = start_geo(&emu, ca, "eu");
    let s2 = start_geo(&emu, cb, "us_east");
    eventually("one LB with both clusters' pools", T, || {
        let mut l = lb_pool_names(&emu, "app.example.com").unwrap_or_default();
        l.sort();
        l == vec![POOL.to_string(), "k8s-pool-nyc1-us_east".into()]
    })
    .await;
    s1.cancel();
    s2.cancel();
}
