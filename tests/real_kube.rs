//! Both engines against a real kube-apiserver (and etcd), built from the upstream Go modules by
//! scripts/peers.sh: objects are created through the real API, so validation, status
//! subresources, Events, watches and restarts are Kubernetes' own, not our fake's.

mod common;

use std::time::Duration;

use cfgeo::events::Reporter;
use cfgeo::geo::engine::GeoEngine;
use cfgeo::records::Policy;
use cfgeo::records::engine::RecordSettings;
use cfgeo::records::sources::SourceKind;
use cfgeo::sources::kube_watch;
use common::control_plane::ControlPlane;
use common::real::*;
use common::*;
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::runtime::watcher;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const T: Duration = Duration::from_secs(30);
const POOL: &str = "k8s-pool-fra1-eu";

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

/// A record synchronizer (owner `cfgeo-test`) over `kinds`, watching `client`.
async fn start_records(
    emu: &cfgeo::emulator::EmulatorHandle,
    c: &kube::Client,
    kinds: &[SourceKind],
) -> CancellationToken {
    start_record_engine(
        emu,
        c,
        kinds,
        RecordSettings::new("cfgeo-test", Policy::Sync),
        None,
    )
    .await
}

/// A control plane with the shop namespace and the geo Ingress at 203.0.113.10, and a geo
/// engine on it whose pool holds that address.
async fn geo_cluster_with_pool() -> (
    ControlPlane,
    cfgeo::emulator::EmulatorHandle,
    CancellationToken,
) {
    let cp = ControlPlane::start().await;
    let c = cp.admin().await;
    namespace(&c, "shop").await;
    apply(&c, geo_ingress("203.0.113.10")).await;
    let emu = emulator().await;
    let stop = start_geo(&emu, c, "eu");
    eventually("pool", T, || {
        pools(&emu).get(POOL) == Some(&vec![("203.0.113.10".to_string(), true)])
    })
    .await;
    (cp, emu, stop)
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
    // And `kubectl describe` (built from the same Kubernetes release) shows them.
    let out = std::process::Command::new(control_plane::peer_bin("kubectl"))
        .args(["describe", "ingress", "web", "-n", "shop", "--kubeconfig"])
        .arg(cp.admin_kubeconfig())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let events = text.split("Events:").nth(1).unwrap_or("");
    assert!(
        out.status.success() && events.contains("Written") && events.contains("cfgeo"),
        "kubectl describe shows cfgeo's Events: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apiserver_restart_misses_no_deletion() {
    let (mut cp, emu, stop) = geo_cluster_with_pool().await;
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

fn helm() -> std::path::PathBuf {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/deploy-tools/helm4/helm");
    assert!(
        p.exists(),
        "{} is missing: scripts/validate-deploy.sh installs it (scripts/test.sh runs it first)",
        p.display()
    );
    p
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A token for a ServiceAccount, through the TokenRequest API.
async fn sa_token(c: &kube::Client, ns: &str, name: &str) -> String {
    let api: Api<k8s_openapi::api::core::v1::ServiceAccount> = Api::namespaced(c.clone(), ns);
    let req = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "spec": {"audiences": [], "expirationSeconds": 3600}});
    let tr: k8s_openapi::api::authentication::v1::TokenRequest = api
        .create_subresource("token", name, &Default::default(), &req)
        .await
        .unwrap();
    tr.status.and_then(|s| s.token).expect("a token")
}

async fn readyz(port: u16) -> (u16, String) {
    match reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/readyz"))
        .send()
        .await
    {
        Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
        Err(e) => (0, e.to_string()),
    }
}

async fn wait_readyz(port: u16, want: u16, what: &str, log: &std::path::Path) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (code, body) = readyz(port).await;
        if code == want {
            return body;
        }
        if std::time::Instant::now() > deadline {
            panic!(
                "{what}: /readyz answered {code} {body}\ncfgeo log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The chart's RBAC, applied to a real API server, is all both engines need; removing one
/// rule gives a Forbidden that names the resource and verb, holds /readyz, and heals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_charts_rbac_is_enough_for_both_engines_and_a_missing_rule_is_reported() {
    let cp = ControlPlane::start().await;
    let c = cp.admin().await;
    install_crds(&c, &gateway_crds("experimental")).await;
    let sources = "ingress,service,gateway-httproute,gateway-grpcroute,gateway-tlsroute,gateway-tcproute,gateway-udproute,crd";
    let out = std::process::Command::new(helm())
        .args([
            "template",
            "cfgeo",
            "deploy/helm/cfgeo",
            "--namespace",
            "cfgeo",
            "--set",
            "replicas=2",
            "--set",
            "geo.location=eu",
            "--set",
            "geo.lbHostname=app.example.com",
            "--set",
            &format!("records.sources={{{sources}}}"),
            "--set",
            "cloudflare.accountId=0123456789abcdef0123456789abcdef",
            "--set",
            "cloudflare.zoneId=fedcba9876543210fedcba9876543210",
            "--set",
            "cloudflare.apiToken.create=true",
            "--set",
            "cloudflare.apiToken.value=unused",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs: Vec<Value> = serde_saphyr::from_multiple(&String::from_utf8_lossy(&out.stdout))
        .unwrap()
        .into_iter()
        .filter(|d: &Value| d.is_object())
        .collect();
    namespace(&c, "cfgeo").await;
    let mut sa = String::new();
    let mut config: serde_json::Map<String, Value> = Default::default();
    let mut env_fixed: Vec<(String, String)> = Vec::new();
    let mut cluster_role = Value::Null;
    for d in &docs {
        match d["kind"].as_str().unwrap_or("") {
            "CustomResourceDefinition" => {
                let api: Api<CustomResourceDefinition> = Api::all(c.clone());
                api.patch(
                    d["metadata"]["name"].as_str().unwrap(),
                    &pp(),
                    &Patch::Apply(d),
                )
                .await
                .unwrap();
            }
            "ServiceAccount" | "ClusterRole" | "ClusterRoleBinding" | "Role" | "RoleBinding" => {
                if d["kind"] == "ServiceAccount" {
                    sa = d["metadata"]["name"].as_str().unwrap().to_string();
                }
                if d["kind"] == "ClusterRole" {
                    cluster_role = d.clone();
                }
                apply(&c, d.clone()).await;
            }
            "ConfigMap" => config = d["data"].as_object().cloned().unwrap_or_default(),
            "Deployment" => {
                for e in d["spec"]["template"]["spec"]["containers"][0]["env"]
                    .as_array()
                    .unwrap()
                {
                    if let Some(v) = e["value"].as_str() {
                        env_fixed.push((e["name"].as_str().unwrap().into(), v.into()));
                    }
                }
            }
            _ => {}
        }
    }
    assert!(
        !sa.is_empty() && cluster_role.is_object(),
        "the chart renders RBAC"
    );
    kube::runtime::wait::await_condition(
        Api::<CustomResourceDefinition>::all(c.clone()),
        "dnsendpoints.externaldns.k8s.io",
        kube::runtime::conditions::is_crd_established(),
    )
    .await
    .unwrap();
    let token = sa_token(&c, "cfgeo", &sa).await;
    let kubeconfig = cp.kubeconfig("cfgeo-sa", &token);

    // Objects for both engines, created as the admin.
    namespace(&c, "shop").await;
    apply(&c, geo_ingress("203.0.113.10")).await;
    apply(
        &c,
        json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "api", "namespace": "shop",
                "annotations": {"external-dns.alpha.kubernetes.io/hostname": "api.example.com"}},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.2"}]}}}),
    )
    .await;

    let emu = emulator().await;
    let zone = emu.zone_id("example.com").unwrap();
    let admin_port = free_port();
    let log_path = std::env::temp_dir().join(format!("cfgeo-rbac-{admin_port}.log"));
    let log = std::fs::File::create(&log_path).unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_cfgeo"));
    cmd.arg("run")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap());
    for (k, v) in &config {
        cmd.env(k, v.as_str().unwrap_or_default());
    }
    for (k, v) in &env_fixed {
        cmd.env(k, v);
    }
    cmd.env_remove("CF_API_TOKEN_FILE")
        .env("CF_API_TOKEN", TOKEN)
        .env("CF_API_BASE_URL", emu.base_url())
        .env("CF_ACCOUNT_ID", emu.account_id())
        .env("CF_ZONE_ID", &zone)
        .env("CFGEO_ZONE_ID_FILTER", &zone)
        .env("CFGEO_ADMIN_ADDR", format!("127.0.0.1:{admin_port}"))
        .env("POD_NAME", "cfgeo-0")
        .env("POD_NAMESPACE", "cfgeo")
        .env("KUBECONFIG", &kubeconfig)
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    let mut child = cmd.spawn().unwrap();
    struct Kill<'a>(&'a mut std::process::Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let child = Kill(&mut child);

    wait_readyz(
        admin_port,
        200,
        "ready with exactly the chart's RBAC",
        &log_path,
    )
    .await;
    eventually("the geo engine wrote the pool and LB", T, || {
        lb_pool_names(&emu, "app.example.com") == Some(vec![POOL.into()])
    })
    .await;
    eventually(
        "the record synchronizer wrote the Service's record",
        T,
        || {
            emu.records(&zone)
                .iter()
                .any(|r| r.name == "api.example.com" && r.content == "192.0.2.2")
        },
    )
    .await;

    // Take `services` out of the ClusterRole: a clear Forbidden, not ready, still running.
    let mut reduced = cluster_role.clone();
    let rules: Vec<Value> = reduced["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| {
            let mut r = r.clone();
            let res: Vec<Value> = r["resources"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|x| *x != "services")
                .cloned()
                .collect();
            if res.is_empty() {
                return None;
            }
            r["resources"] = json!(res);
            Some(r)
        })
        .collect();
    reduced["rules"] = json!(rules);
    let crs: Api<k8s_openapi::api::rbac::v1::ClusterRole> = Api::all(c.clone());
    let cr_name = cluster_role["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    crs.patch(&cr_name, &pp(), &Patch::Apply(&reduced))
        .await
        .unwrap();
    // Force the watches to start again, as a restarted server would.
    let mut cp = cp;
    cp.restart_apiserver().await;
    let body = wait_readyz(
        admin_port,
        503,
        "not ready without the services rule",
        &log_path,
    )
    .await;
    assert!(
        body.contains("services") && (body.contains("list") || body.contains("watch")),
        "the readiness body names the resource and the verb: {body}"
    );
    let text = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        text.contains("Forbidden") && text.contains("services"),
        "the log names the refused resource"
    );
    println!("readiness while refused: {body}");
    assert!(child.0.try_wait().unwrap().is_none(), "cfgeo keeps running");
    // Put the rule back: ready again.
    crs.patch(&cr_name, &pp(), &Patch::Apply(&cluster_role))
        .await
        .unwrap();
    wait_readyz(
        admin_port,
        200,
        "ready again once the rule is back",
        &log_path,
    )
    .await;
    drop(child);
    let _ = std::fs::remove_file(&log_path);
}

/// Gateway API v1.6's standard channel serves TLSRoute, TCPRoute and UDPRoute at v1 only
/// (v1alpha2 is not served): the sources find and watch the version the server serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standard_channel_routes_are_watched_at_the_version_served() {
    let cp = ControlPlane::start().await;
    let c = cp.admin().await;
    install_crds(&c, &gateway_crds("standard")).await;
    for ns in ["shop", "infra"] {
        namespace(&c, ns).await;
    }
    let v1 = "gateway.networking.k8s.io/v1";
    apply(
        &c,
        json!({"apiVersion": v1, "kind": "Gateway",
            "metadata": {"name": "gw", "namespace": "infra"},
            "spec": {"gatewayClassName": "eg", "listeners": [
                {"name": "tls", "protocol": "TLS", "port": 443, "hostname": "tls.example.com",
                 "tls": {"mode": "Passthrough"}, "allowedRoutes": {"namespaces": {"from": "All"}}},
                {"name": "tcp", "protocol": "TCP", "port": 5432,
                 "allowedRoutes": {"namespaces": {"from": "All"}}},
                {"name": "udp", "protocol": "UDP", "port": 53,
                 "allowedRoutes": {"namespaces": {"from": "All"}}}]},
            "status": {"addresses": [{"type": "IPAddress", "value": "192.0.2.30"}]}}),
    )
    .await;
    for (kind, name, section, host) in [
        ("TLSRoute", "tls", "tls", None),
        ("TCPRoute", "tcp", "tcp", Some("db.example.com")),
        ("UDPRoute", "udp", "udp", Some("dns.example.com")),
    ] {
        let mut obj = json!({"apiVersion": v1, "kind": kind,
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {"parentRefs": [{"name": "gw", "namespace": "infra", "sectionName": section}],
                "rules": [{"backendRefs": [{"name": "backend", "port": 443}]}]},
            "status": {"parents": [{
                "parentRef": {"name": "gw", "namespace": "infra", "sectionName": section},
                "controllerName": "example.com/gw",
                "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted",
                    "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}]}});
        if kind == "TLSRoute" {
            obj["spec"]["hostnames"] = json!(["tls.example.com"]);
        }
        if let Some(h) = host {
            obj["metadata"]["annotations"] =
                json!({"external-dns.alpha.kubernetes.io/hostname": h});
        }
        apply(&c, obj).await;
    }
    let emu = emulator().await;
    let zone = emu.zone_id("example.com").unwrap();
    let kinds = [
        SourceKind::GatewayTlsroute,
        SourceKind::GatewayTcproute,
        SourceKind::GatewayUdproute,
    ];
    let shutdown = start_records(&emu, &c, &kinds).await;
    eventually("records from v1 TLS, TCP and UDP routes", T, || {
        let recs = emu.records(&zone);
        ["tls.example.com", "db.example.com", "dns.example.com"]
            .iter()
            .all(|n| {
                recs.iter()
                    .any(|r| r.record_type == "A" && r.name == *n && r.content == "192.0.2.30")
            })
    })
    .await;
    shutdown.cancel();
}

/// Two replicas on a real Lease: one leader at a time; after the leader is killed (its elector
/// stops without releasing), the other takes over once the Lease expires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_election_on_a_real_lease() {
    use cfgeo::leader::{self, LeaderConfig};
    let cp = ControlPlane::start().await;
    let c = cp.admin().await;
    let cfg = |id: &str| LeaderConfig {
        lease_duration: Duration::from_millis(1500),
        renew_deadline: Duration::from_millis(1000),
        retry_period: Duration::from_millis(200),
        ..LeaderConfig::new("default", "cfgeo-real", id)
    };
    let (sa, sb) = (CancellationToken::new(), CancellationToken::new());
    let a = leader::spawn(c.clone(), cfg("a"), sa.clone());
    let b = leader::spawn(c.clone(), cfg("b"), sb.clone());
    // Sample both continuously: never two leaders at once.
    let both = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let stop = CancellationToken::new();
    {
        let (ra, rb, both, stop) = (a.subscribe(), b.subscribe(), both.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.is_cancelled() {
                if *ra.borrow() && *rb.borrow() {
                    both.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
    }
    let deadline = std::time::Instant::now() + T;
    while !a.is_leader() && !b.is_leader() {
        assert!(std::time::Instant::now() < deadline, "nobody leads");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (leader, other) = if a.is_leader() { (&a, &b) } else { (&b, &a) };
    let lease: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(c.clone(), "default");
    let holder = lease
        .get("cfgeo-real")
        .await
        .unwrap()
        .spec
        .unwrap()
        .holder_identity;
    assert!(holder.is_some(), "the real Lease names its holder");
    let killed_at = std::time::Instant::now();
    leader.abort();
    let mut rx = other.subscribe();
    tokio::time::timeout(T, rx.wait_for(|l| *l))
        .await
        .unwrap()
        .unwrap();
    let took = killed_at.elapsed();
    stop.cancel();
    assert_eq!(
        both.load(std::sync::atomic::Ordering::Relaxed),
        0,
        "two leaders at once"
    );
    assert!(
        took >= Duration::from_millis(500),
        "the other waited for the Lease to expire ({took:?})"
    );
    println!("takeover after a kill on a real Lease: {took:?}");
    sa.cancel();
    sb.cancel();
}

/// etcd compacted past cfgeo's last seen revision while its watch was down: the watch gets
/// 410 Gone, re-lists, and ends with exactly what exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compacted_history_is_relisted_and_nothing_is_lost() {
    let (mut cp, emu, stop) = geo_cluster_with_pool().await;
    cp.restart_apiserver().await;
    let c2 = cp.admin().await;
    // While cfgeo's watch reconnects: the Ingress goes, another comes, and history is
    // compacted past the revision cfgeo last saw.
    let ing: Api<Ingress> = Api::namespaced(c2.clone(), "shop");
    ing.delete("web", &DeleteParams::default()).await.unwrap();
    let mut other = geo_ingress("203.0.113.20");
    other["metadata"]["name"] = json!("web2");
    apply(&c2, other).await;
    for i in 0..20 {
        apply(
            &c2,
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": format!("churn-{i}"), "namespace": "shop"}}),
        )
        .await;
    }
    cp.compact_etcd().await;
    eventually("re-listed: only web2's address", T, || {
        pools(&emu).get(POOL) == Some(&vec![("203.0.113.20".to_string(), true)])
    })
    .await;
    stop.cancel();
}

/// Drain and label removal through the real API: the annotation drains, removing the label
/// is a deletion for the geo engine (the label selector is the server's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_and_label_removal_through_the_real_api() {
    let (cp, emu, stop) = geo_cluster_with_pool().await;
    let c = cp.admin().await;
    let ing: Api<Ingress> = Api::namespaced(c.clone(), "shop");
    let merge = |v: Value| Patch::Merge(v);
    ing.patch(
        "web",
        &PatchParams::default(),
        &merge(json!({"metadata": {"annotations": {"cfgeo.io/drain": "true"}}})),
    )
    .await
    .unwrap();
    eventually("drained", T, || {
        pools(&emu).get(POOL) == Some(&vec![("203.0.113.10".to_string(), false)])
    })
    .await;
    assert_eq!(
        lb_pool_names(&emu, "app.example.com"),
        Some(vec![POOL.to_string()])
    );
    ing.patch(
        "web",
        &PatchParams::default(),
        &merge(json!({"metadata": {"annotations": {"cfgeo.io/drain": null}}})),
    )
    .await
    .unwrap();
    eventually("undrained", T, || {
        pools(&emu).get(POOL) == Some(&vec![("203.0.113.10".to_string(), true)])
    })
    .await;
    ing.patch(
        "web",
        &PatchParams::default(),
        &merge(json!({"metadata": {"labels": {"dns.external/geo-route": null}}})),
    )
    .await
    .unwrap();
    // The only cluster: its pool stays in the LB as a drained placeholder.
    eventually("label removed: drained placeholder", T, || {
        pools(&emu).get(POOL) == Some(&vec![("203.0.113.10".to_string(), false)])
            && lb_pool_names(&emu, "app.example.com") == Some(vec![POOL.to_string()])
    })
    .await;
    stop.cancel();
}
