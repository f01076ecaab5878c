//! The record synchronizer end to end: a real kube-apiserver (tests/common/control_plane.rs)
//! and the Cloudflare emulator over real HTTP, with cfgeo's real watchers, planner and batch
//! writer in between.

mod common;

use std::time::Duration;

use cfgeo::cloudflare::Client;
use cfgeo::cloudflare::types::{DnsRecordInput, RecordType};
use cfgeo::emulator::EmulatorHandle;
use cfgeo::events::Reporter;
use cfgeo::records::Policy;
use cfgeo::records::engine::{RecordEngine, RecordSettings, resolve_zones};
use cfgeo::records::inputs::{Inputs, watch_inputs};
use cfgeo::records::sources::SourceKind;
use cfgeo::records::sources::SourceSettings;
use common::real::RealKube;
use common::*;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const T: Duration = Duration::from_secs(15);
const ALL: &[SourceKind] = &[
    SourceKind::Ingress,
    SourceKind::Service,
    SourceKind::GatewayHttproute,
    SourceKind::GatewayGrpcroute,
    SourceKind::GatewayTlsroute,
    SourceKind::GatewayTcproute,
    SourceKind::GatewayUdproute,
    SourceKind::Crd,
];

fn record_settings(owner: &str, policy: Policy) -> RecordSettings {
    RecordSettings::new(owner, policy)
}

fn source_settings() -> SourceSettings {
    SourceSettings {
        annotation_prefixes: vec![
            "external-dns.alpha.kubernetes.io/".into(),
            "external-dns.kubernetes.io/".into(),
        ],
        ..SourceSettings::default()
    }
}

struct Rig {
    emu: EmulatorHandle,
    kube: RealKube,
    client: Client,
    zone: String,
    shutdown: CancellationToken,
}

impl Rig {
    async fn new() -> Self {
        Self::start(false).await
    }

    /// With the Gateway API and DNSEndpoint CRDs installed.
    async fn with_crds() -> Self {
        Self::start(true).await
    }

    async fn start(crds: bool) -> Self {
        let emu = emulator().await;
        let kube = RealKube::start(crds).await;
        let client = client(&emu);
        let zone = emu.zone_id("example.com").unwrap();
        Self {
            emu,
            kube,
            client,
            zone,
            shutdown: CancellationToken::new(),
        }
    }

    async fn inputs(&self, kinds: &[SourceKind]) -> Inputs {
        let kc = self.kube.client().await;
        watch_inputs(
            kc,
            kinds,
            source_settings(),
            None,
            None,
            self.shutdown.clone(),
        )
    }

    async fn engine(&self, s: RecordSettings) -> RecordEngine {
        let zones = resolve_zones(
            &self.client,
            std::slice::from_ref(&self.zone),
            &s.plan.domains,
        )
        .await
        .unwrap();
        let kc = self.kube.client().await;
        RecordEngine::new(
            self.client.clone(),
            s,
            zones,
            Reporter::kube(kc.clone(), "cfgeo", None),
            fast_timing(),
        )
        .with_status_writer(kc)
    }

    /// Starts the engine's loop, always leading.
    async fn run(&self, kinds: &[SourceKind], s: RecordSettings) {
        let inputs = self.inputs(kinds).await;
        let engine = self.engine(s).await;
        let (tx, rx) = tokio::sync::watch::channel(true);
        let sd = self.shutdown.clone();
        tokio::spawn(async move {
            let _keep = tx;
            engine.run(inputs, rx, sd).await;
        });
    }

    fn records(&self) -> Vec<(String, String, String)> {
        self.emu
            .records(&self.zone)
            .into_iter()
            .map(|r| (r.record_type, r.name, r.content))
            .collect()
    }

    fn has(&self, t: &str, name: &str, content: &str) -> bool {
        self.records()
            .iter()
            .any(|(a, b, c)| a == t && b == name && c == content)
    }

    fn names(&self, t: &str, name: &str) -> Vec<String> {
        self.records()
            .into_iter()
            .filter(|(a, b, _)| a == t && b == name)
            .map(|(_, _, c)| c)
            .collect()
    }

    fn writes(&self) -> usize {
        self.emu
            .call_log()
            .iter()
            .filter(|c| c.method != "GET" && c.path.contains("dns_records"))
            .count()
    }

    async fn seed(&self, t: RecordType, name: &str, content: &str) {
        self.client
            .create_dns_record(
                &self.zone,
                &DnsRecordInput {
                    name: name.into(),
                    record_type: t,
                    content: content.into(),
                    ttl: 1,
                    proxied: false,
                    comment: None,
                    tags: vec![],
                    priority: None,
                },
            )
            .await
            .unwrap();
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Waits until the inputs hold a synced desired state with `n` endpoints.
async fn synced(inputs: &mut Inputs, n: usize) -> cfgeo::records::inputs::DesiredRecords {
    let fut = async {
        loop {
            if let Some(d) = inputs.current()
                && d.synced
                && d.endpoints.len() == n
            {
                return d;
            }
            inputs.changed().await;
        }
    };
    tokio::time::timeout(T, fut)
        .await
        .expect("sources synced in time")
}

fn txt(owner: &str, resource: &str) -> String {
    format!("\"heritage=external-dns,external-dns/owner={owner},external-dns/resource={resource}\"")
}

fn ing(ns: &str, name: &str, hosts: &[&str], addrs: &[&str]) -> Value {
    let rules: Vec<Value> = hosts.iter().map(|h| json!({"host": h})).collect();
    json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"rules": rules},
        "status": status(addrs),
    })
}

fn lb_service(ns: &str, name: &str, host: &str, addrs: &[&str]) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns,
            "annotations": {"external-dns.alpha.kubernetes.io/hostname": host}},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
        "status": status(addrs),
    })
}

#[tokio::test]
async fn adopts_an_external_dns_zone_with_zero_writes() {
    let rig = Rig::new().await;
    // A zone exactly as external-dns (owner "default") leaves it: new-format TXTs with quotes,
    // and one old-format TXT from before v0.12.
    rig.seed(RecordType::A, "app.example.com", "192.0.2.10")
        .await;
    rig.seed(
        RecordType::Txt,
        "a-app.example.com",
        &txt("default", "ingress/shop/web"),
    )
    .await;
    rig.seed(RecordType::Cname, "www.example.com", "lb.example.net")
        .await;
    rig.seed(
        RecordType::Txt,
        "cname-www.example.com",
        &txt("default", "ingress/shop/www"),
    )
    .await;
    rig.seed(RecordType::A, "legacy.example.com", "192.0.2.20")
        .await;
    rig.seed(
        RecordType::Txt,
        "legacy.example.com",
        &txt("default", "service/shop/legacy"),
    )
    .await;
    rig.kube
        .apply(ing("shop", "web", &["app.example.com"], &["192.0.2.10"]))
        .await;
    rig.kube
        .apply(ing(
            "shop",
            "www",
            &["www.example.com"],
            &["lb.example.net"],
        ))
        .await;
    rig.kube
        .apply(lb_service(
            "shop",
            "legacy",
            "legacy.example.com",
            &["192.0.2.20"],
        ))
        .await;
    rig.emu.reset_calls();

    let mut inputs = rig
        .inputs(&[SourceKind::Ingress, SourceKind::Service])
        .await;
    let desired = synced(&mut inputs, 3).await;
    let mut engine = rig.engine(record_settings("default", Policy::Sync)).await;
    let report = engine.pass(&desired, true).await.unwrap();
    assert!(
        !report.has_changes(),
        "adoption planned changes: {:?}",
        report.zones
    );
    let report = engine.pass(&desired, true).await.unwrap();
    assert!(!report.has_changes());
    assert_eq!(rig.writes(), 0, "adoption wrote to Cloudflare");
    assert_eq!(report.zones[0].owned, 3, "all three record sets adopted");
}

#[tokio::test]
async fn each_source_creates_updates_and_deletes() {
    let rig = Rig::with_crds().await;
    rig.run(ALL, record_settings("cfgeo-test", Policy::Sync))
        .await;
    rig.kube
        .apply(ing("shop", "web", &["web.example.com"], &["192.0.2.1"]))
        .await;
    rig.kube
        .apply(lb_service("shop", "api", "api.example.com", &["192.0.2.2"]))
        .await;
    rig.kube
        .apply(json!({
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": {"name": "gw", "namespace": "infra"},
            "spec": {"gatewayClassName": "eg", "listeners": [
                {"name": "http", "protocol": "HTTP", "port": 80, "hostname": "*.example.com",
                 "allowedRoutes": {"namespaces": {"from": "All"}}},
                {"name": "tls", "protocol": "TLS", "port": 443, "hostname": "tls.example.com",
                 "tls": {"mode": "Passthrough"},
                 "allowedRoutes": {"namespaces": {"from": "All"}}},
                // TCP and UDP listeners take no hostname: those routes name theirs by annotation.
                {"name": "tcp", "protocol": "TCP", "port": 5432,
                 "allowedRoutes": {"namespaces": {"from": "All"}}},
                {"name": "udp", "protocol": "UDP", "port": 53,
                 "allowedRoutes": {"namespaces": {"from": "All"}}},
            ]},
            "status": {"addresses": [{"type": "IPAddress", "value": "192.0.2.3"}]},
        }))
        .await;
    let accepted = |section: &str| {
        json!({"parents": [{
            "parentRef": {"name": "gw", "namespace": "infra", "sectionName": section},
            "controllerName": "example.com/gw",
            "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted",
                "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}],
        }]})
    };
    let route = |api: &str, kind: &str, name: &str, section: &str, hosts: Option<&[&str]>| {
        let mut spec =
            json!({"parentRefs": [{"name": "gw", "namespace": "infra", "sectionName": section}]});
        let mut meta = json!({"name": name, "namespace": "shop"});
        if matches!(kind, "TLSRoute" | "TCPRoute" | "UDPRoute") {
            spec["rules"] = json!([{"backendRefs": [{"name": "backend", "port": 443}]}]);
        }
        match (kind, hosts) {
            ("TCPRoute" | "UDPRoute", Some(h)) => {
                meta["annotations"] = json!({"external-dns.alpha.kubernetes.io/hostname": h[0]});
            }
            (_, Some(h)) => spec["hostnames"] = json!(h),
            (_, None) => {}
        }
        json!({"apiVersion": api, "kind": kind, "metadata": meta,
            "spec": spec, "status": accepted(section)})
    };
    let gw1 = "gateway.networking.k8s.io/v1";
    let gw2 = "gateway.networking.k8s.io/v1alpha2";
    rig.kube
        .apply(route(
            gw1,
            "HTTPRoute",
            "http",
            "http",
            Some(&["shop.example.com"]),
        ))
        .await;
    rig.kube
        .apply(route(
            gw1,
            "GRPCRoute",
            "grpc",
            "http",
            Some(&["grpc.example.com"]),
        ))
        .await;
    rig.kube
        .apply(route(
            gw2,
            "TLSRoute",
            "tls",
            "tls",
            Some(&["tls.example.com"]),
        ))
        .await;
    rig.kube
        .apply(route(
            gw2,
            "TCPRoute",
            "tcp",
            "tcp",
            Some(&["db.example.com"]),
        ))
        .await;
    rig.kube
        .apply(route(
            gw2,
            "UDPRoute",
            "udp",
            "udp",
            Some(&["dns.example.com"]),
        ))
        .await;
    rig.kube
        .apply(json!({
            "apiVersion": "externaldns.k8s.io/v1alpha1",
            "kind": "DNSEndpoint",
            "metadata": {"name": "extra", "namespace": "shop"},
            "spec": {"endpoints": [{"dnsName": "extra.example.com", "recordType": "A",
                "targets": ["192.0.2.4"], "recordTTL": 300}]},
        }))
        .await;

    let wanted = [
        ("web.example.com", "192.0.2.1", "ingress/shop/web"),
        ("api.example.com", "192.0.2.2", "service/shop/api"),
        ("shop.example.com", "192.0.2.3", "httproute/shop/http"),
        ("grpc.example.com", "192.0.2.3", "grpcroute/shop/grpc"),
        ("tls.example.com", "192.0.2.3", "tlsroute/shop/tls"),
        ("db.example.com", "192.0.2.3", "tcproute/shop/tcp"),
        ("dns.example.com", "192.0.2.3", "udproute/shop/udp"),
        ("extra.example.com", "192.0.2.4", "crd/shop/extra"),
    ];
    eventually("a record and its TXT per source", T, || {
        wanted.iter().all(|(name, ip, res)| {
            rig.has("A", name, ip) && rig.has("TXT", &format!("a-{name}"), &txt("cfgeo-test", res))
        })
    })
    .await;
    let extra = rig
        .emu
        .records(&rig.zone)
        .into_iter()
        .find(|r| r.name == "extra.example.com" && r.record_type == "A")
        .unwrap();
    assert_eq!(extra.ttl, 300, "DNSEndpoint recordTTL is used");
    let mut observed = None;
    for _ in 0..150 {
        let d = rig
            .kube
            .get(
                "externaldns.k8s.io/v1alpha1",
                "DNSEndpoint",
                Some("shop"),
                "extra",
            )
            .await
            .unwrap();
        observed = d["status"]["observedGeneration"].as_i64();
        if observed.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        observed,
        Some(1),
        "DNSEndpoint status.observedGeneration is written through /status"
    );

    // Updates: new addresses replace old targets.
    rig.kube
        .set_status(
            "networking.k8s.io/v1",
            "Ingress",
            Some("shop"),
            "web",
            status(&["192.0.2.11"]),
        )
        .await;
    rig.kube
        .set_status(
            "v1",
            "Service",
            Some("shop"),
            "api",
            status(&["192.0.2.12"]),
        )
        .await;
    rig.kube
        .set_status(
            gw1,
            "Gateway",
            Some("infra"),
            "gw",
            json!({"addresses": [{"type": "IPAddress", "value": "192.0.2.13"}]}),
        )
        .await;
    eventually("updated targets", T, || {
        rig.names("A", "web.example.com") == ["192.0.2.11"]
            && rig.names("A", "api.example.com") == ["192.0.2.12"]
            && rig.names("A", "shop.example.com") == ["192.0.2.13"]
            && rig.names("A", "db.example.com") == ["192.0.2.13"]
    })
    .await;

    // Deletions remove the record and its ownership TXT.
    rig.kube
        .delete("networking.k8s.io/v1", "Ingress", Some("shop"), "web")
        .await;
    rig.kube.delete("v1", "Service", Some("shop"), "api").await;
    rig.kube
        .delete(gw1, "HTTPRoute", Some("shop"), "http")
        .await;
    rig.kube.delete(gw2, "UDPRoute", Some("shop"), "udp").await;
    rig.kube
        .delete(
            "externaldns.k8s.io/v1alpha1",
            "DNSEndpoint",
            Some("shop"),
            "extra",
        )
        .await;
    eventually("deleted records and TXTs", T, || {
        [
            "web.example.com",
            "api.example.com",
            "shop.example.com",
            "dns.example.com",
            "extra.example.com",
        ]
        .iter()
        .all(|n| rig.names("A", n).is_empty() && rig.names("TXT", &format!("a-{n}")).is_empty())
    })
    .await;
    assert!(rig.has("A", "grpc.example.com", "192.0.2.13"));
    assert!(rig.has("A", "db.example.com", "192.0.2.13"));
}

#[tokio::test]
async fn a_foreign_record_at_the_same_name_is_never_touched() {
    let rig = Rig::new().await;
    rig.seed(RecordType::A, "taken.example.com", "198.51.100.1")
        .await;
    rig.seed(RecordType::A, "other.example.com", "198.51.100.2")
        .await;
    rig.seed(
        RecordType::Txt,
        "a-other.example.com",
        &txt("someone-else", "ingress/x/y"),
    )
    .await;
    let before = rig.emu.records(&rig.zone);
    rig.kube
        .apply(ing(
            "shop",
            "web",
            &["taken.example.com", "other.example.com", "free.example.com"],
            &["192.0.2.5"],
        ))
        .await;
    rig.run(&[SourceKind::Ingress], record_settings("me", Policy::Sync))
        .await;
    eventually("the free name is created", T, || {
        rig.has("A", "free.example.com", "192.0.2.5")
    })
    .await;
    assert!(
        rig.kube
            .wait_events(T, |ev| ev.iter().any(|e| {
                let s = e.to_string();
                s.contains("taken.example.com") && s.contains("Warning")
            }))
            .await,
        "the Ingress is told the name is taken"
    );
    let after = rig.emu.records(&rig.zone);
    for r in &before {
        assert!(after.contains(r), "foreign record changed: {r:?}");
    }
    assert!(rig.names("TXT", "a-taken.example.com").is_empty());
}

#[tokio::test]
async fn a_to_cname_is_one_batch() {
    let rig = Rig::new().await;
    rig.kube
        .apply(ing("shop", "web", &["switch.example.com"], &["192.0.2.7"]))
        .await;
    let mut inputs = rig.inputs(&[SourceKind::Ingress]).await;
    let mut engine = rig.engine(record_settings("me", Policy::Sync)).await;
    let d = synced(&mut inputs, 1).await;
    engine.pass(&d, true).await.unwrap();
    assert!(rig.has("A", "switch.example.com", "192.0.2.7"));

    rig.kube
        .set_status(
            "networking.k8s.io/v1",
            "Ingress",
            Some("shop"),
            "web",
            status(&["lb.example.net"]),
        )
        .await;
    let d = tokio::time::timeout(T, async {
        loop {
            if let Some(d) = inputs.current()
                && d.endpoints
                    .first()
                    .is_some_and(|e| e.record_type == RecordType::Cname)
            {
                return d;
            }
            inputs.changed().await;
        }
    })
    .await
    .unwrap();
    rig.emu.reset_calls();
    let report = engine.pass(&d, false).await.unwrap();
    assert_eq!(report.applied[0].1.batches, 1);
    let writes: Vec<_> = rig
        .emu
        .call_log()
        .into_iter()
        .filter(|c| c.method != "GET")
        .collect();
    assert_eq!(writes.len(), 1, "one batch: {writes:?}");
    assert!(writes[0].path.ends_with("/dns_records/batch"));
    assert_eq!(rig.names("CNAME", "switch.example.com"), ["lb.example.net"]);
    assert!(rig.names("A", "switch.example.com").is_empty());
    assert!(rig.names("TXT", "a-switch.example.com").is_empty());
    assert_eq!(rig.names("TXT", "cname-switch.example.com").len(), 1);
}

#[tokio::test]
async fn upsert_only_never_deletes() {
    let rig = Rig::new().await;
    rig.kube
        .apply(ing("shop", "web", &["keep.example.com"], &["192.0.2.8"]))
        .await;
    let mut inputs = rig.inputs(&[SourceKind::Ingress]).await;
    let mut engine = rig.engine(record_settings("me", Policy::UpsertOnly)).await;
    let d = synced(&mut inputs, 1).await;
    engine.pass(&d, true).await.unwrap();
    assert!(rig.has("A", "keep.example.com", "192.0.2.8"));
    rig.kube
        .delete("networking.k8s.io/v1", "Ingress", Some("shop"), "web")
        .await;
    let d = synced(&mut inputs, 0).await;
    let report = engine.pass(&d, true).await.unwrap();
    assert!(!report.has_changes());
    assert!(rig.has("A", "keep.example.com", "192.0.2.8"));
    assert_eq!(rig.names("TXT", "a-keep.example.com").len(), 1);
}

#[tokio::test]
async fn after_a_successful_pass_the_next_plans_nothing() {
    let rig = Rig::new().await;
    for i in 0..20 {
        rig.kube
            .apply(ing(
                "shop",
                &format!("web{i}"),
                &[&format!("h{i}.example.com")],
                &[&format!("192.0.2.{}", i + 1), "2001:db8::1"],
            ))
            .await;
    }
    let mut inputs = rig.inputs(&[SourceKind::Ingress]).await;
    let mut engine = rig.engine(record_settings("me", Policy::Sync)).await;
    let d = synced(&mut inputs, 40).await;
    let first = engine.pass(&d, true).await.unwrap();
    assert!(first.has_changes());
    // From the cache, then from a fresh read of the zone.
    assert!(!engine.pass(&d, false).await.unwrap().has_changes());
    rig.emu.reset_calls();
    assert!(!engine.pass(&d, true).await.unwrap().has_changes());
    assert_eq!(rig.writes(), 0);
}

#[tokio::test]
async fn a_refused_record_does_not_block_the_others() {
    let rig = Rig::with_crds().await;
    // Cloudflare refuses a TTL below 30 seconds (other than 1, automatic).
    rig.kube
        .apply(json!({
            "apiVersion": "externaldns.k8s.io/v1alpha1",
            "kind": "DNSEndpoint",
            "metadata": {"name": "blocked", "namespace": "shop"},
            "spec": {"endpoints": [{"dnsName": "blocked.example.com", "recordType": "A",
                "targets": ["192.0.2.99"], "recordTTL": 10}]},
        }))
        .await;
    for i in 0..5 {
        rig.kube
            .apply(ing(
                "shop",
                &format!("ok{i}"),
                &[&format!("ok{i}.example.com")],
                &[&format!("192.0.2.{}", 50 + i)],
            ))
            .await;
    }
    let mut inputs = rig.inputs(&[SourceKind::Ingress, SourceKind::Crd]).await;
    let mut engine = rig.engine(record_settings("me", Policy::Sync)).await;
    let d = synced(&mut inputs, 6).await;
    let report = engine.pass(&d, true).await.unwrap();
    let applied = &report.applied[0].1;
    assert_eq!(applied.rejected.len(), 1, "{applied:?}");
    assert_eq!(applied.rejected[0].name, "blocked.example.com");
    for i in 0..5 {
        assert!(rig.has(
            "A",
            &format!("ok{i}.example.com"),
            &format!("192.0.2.{}", 50 + i)
        ));
    }
    assert!(rig.names("A", "blocked.example.com").is_empty());
    assert!(
        rig.names("TXT", "a-blocked.example.com").is_empty(),
        "no orphan ownership TXT"
    );
    assert!(
        rig.kube
            .wait_events(T, |ev| ev.iter().any(|e| {
                let s = e.to_string();
                s.contains("RecordRejected") && s.contains("blocked")
            }))
            .await,
        "an Event names the refused record"
    );
    // The refused group is not retried until something changes or a resync.
    rig.emu.reset_calls();
    assert!(!engine.pass(&d, false).await.unwrap().has_changes());
    assert_eq!(rig.writes(), 0);
}

/// The Ingress watch keeps each Ingress's endpoints, not the Ingress: an update that changes
/// none of them (a label nothing reads) leaves the kept value as it was, while one that moves an
/// address replaces it.
#[tokio::test]
async fn a_change_that_moves_no_record_keeps_what_the_watch_holds() {
    let rig = Rig::new().await;
    let v1 = "networking.k8s.io/v1";
    rig.kube
        .apply(ing("shop", "a", &["a.example.com"], &["192.0.2.1"]))
        .await;
    rig.kube
        .apply(ing("shop", "b", &["b.example.com"], &["192.0.2.2"]))
        .await;
    let mut inputs = rig.inputs(&[SourceKind::Ingress]).await;
    let before = synced(&mut inputs, 2).await;

    // In this order on one watch stream: once b's new address is seen, a's patch was read too.
    let label = json!({"metadata": {"labels": {"team": "payments"}}});
    rig.kube
        .merge_patch(v1, "Ingress", Some("shop"), "a", &label)
        .await;
    rig.kube
        .set_status(v1, "Ingress", Some("shop"), "b", status(&["192.0.2.9"]))
        .await;
    let moved = async {
        loop {
            if let Some(d) = inputs.current()
                && d.endpoints.iter().any(|e| e.targets == ["192.0.2.9"])
            {
                return d;
            }
            inputs.changed().await;
        }
    };
    let after = tokio::time::timeout(T, moved)
        .await
        .expect("b's new address seen");
    let find = |d: &cfgeo::records::inputs::DesiredRecords, name: &str| {
        d.endpoints
            .iter()
            .find(|e| e.name == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} in the desired state"))
    };
    assert!(
        std::sync::Arc::ptr_eq(
            &find(&before, "a.example.com"),
            &find(&after, "a.example.com")
        ),
        "a's endpoints were kept as they were, not derived and stored again"
    );
    assert!(!std::sync::Arc::ptr_eq(
        &find(&before, "b.example.com"),
        &find(&after, "b.example.com")
    ));
    assert_eq!(find(&after, "b.example.com").targets, ["192.0.2.9"]);
}

/// A writing pass plans and writes batch by batch, and its batches are exactly those the
/// whole plan would be cut into: the same calls, without holding the plan of the zone.
#[tokio::test]
async fn a_cold_pass_writes_the_batches_the_whole_plan_would_make() {
    use cfgeo::records::apply::chunk;
    use cfgeo::records::plan::plan;
    let rig = Rig::new().await;
    // Hostnames of one, two and three targets: groups of 2, 3 and 4 operations.
    for i in 0..9 {
        let addrs: Vec<String> = (0..=i % 3).map(|k| format!("192.0.2.{}", 10 + k)).collect();
        let addrs: Vec<&str> = addrs.iter().map(String::as_str).collect();
        let host = format!("w{i}.example.com");
        rig.kube
            .apply(ing("shop", &format!("w{i}"), &[&host], &addrs))
            .await;
    }
    let mut inputs = rig.inputs(&[SourceKind::Ingress]).await;
    let desired = synced(&mut inputs, 9).await;
    let mut s = record_settings("cfgeo-test", Policy::Sync);
    s.batch_size = Some(7);
    let mut engine = rig.engine(s.clone()).await;
    let zone = engine.zones()[0].zone.clone();
    let current = rig
        .client
        .list_dns_records(&rig.zone, None, None)
        .await
        .unwrap();
    let whole = plan(&desired.endpoints, &current, &zone, &s.plan);
    let cut = chunk(&whole.groups, 7);
    assert!(cut.len() > 2, "the plan spans several batches: {cut:?}");

    let report = engine.pass(&desired, true).await.unwrap();
    assert_eq!(report.zones[0].groups, whole.groups.len());
    assert_eq!(report.zones[0].ops, whole.op_count());
    assert_eq!(report.applied[0].1.batches, cut.len());
    assert_eq!(
        rig.writes(),
        cut.len(),
        "one batch call per chunk of the whole plan"
    );
    for i in 0..9 {
        let host = format!("w{i}.example.com");
        assert_eq!(rig.names("A", &host).len(), 1 + i % 3, "{host}");
        assert!(rig.has(
            "TXT",
            &format!("a-{host}"),
            &txt("cfgeo-test", &format!("ingress/shop/w{i}"))
        ));
    }
    let again = engine.pass(&desired, false).await.unwrap();
    assert!(!again.has_changes(), "the cache holds what was written");
}
