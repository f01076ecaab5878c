//! The real external-dns (v0.22.0) beside cfgeo on a real kube-apiserver and the emulator, over
//! a rich object set: Ingress, LoadBalancer Service, DNSEndpoint and HTTPRoute; proxied and
//! non-proxied records, a TTL, a multi-target record, the apex, a wildcard and an AAAA record.
//! Issue 12, compatibility cases 1, 2 and 4. Both run with the same owner id and matching
//! flags; see `EXTERNAL_DNS_FLAGS` and `cfgeo_settings`.

mod common;

use std::time::Duration;

use cfgeo::records::Policy;
use cfgeo::records::engine::RecordSettings;
use cfgeo::records::registry::TxtNaming;
use cfgeo::records::sources::SourceKind;
use cfgeo::records::zone::DomainFilter;
use common::control_plane::ControlPlane;
use common::real::*;
use common::*;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const T: Duration = Duration::from_secs(30);
const OWNER: &str = "peer";

/// external-dns's flags, all of them, for every run in this file (plus `--kubeconfig`).
const EXTERNAL_DNS_FLAGS: &[&str] = &[
    "--provider=cloudflare",
    "--source=ingress",
    "--source=service",
    "--source=crd",
    "--source=gateway-httproute",
    "--registry=txt",
    "--txt-owner-id=peer",
    "--txt-prefix=%{record_type}-",
    "--txt-wildcard-replacement=wildcard",
    "--policy=sync",
    "--domain-filter=example.com",
    "--once",
    "--metrics-address=127.0.0.1:0",
    "--log-level=debug",
];

/// cfgeo's settings matching `EXTERNAL_DNS_FLAGS`: same owner, policy, domain filter and TXT
/// prefix and wildcard replacement. external-dns needs `--txt-wildcard-replacement`: without it
/// it names the wildcard's TXT `a-*.example.com`, which Cloudflare refuses, and `--once` exits 1.
fn cfgeo_settings() -> RecordSettings {
    let mut s = RecordSettings::new(OWNER, Policy::Sync);
    s.plan.txt = TxtNaming::new("%{record_type}-", "", "wildcard");
    s.plan.domains = DomainFilter::new(&["example.com".to_string()], &[], None, None).unwrap();
    s
}

const KINDS: &[SourceKind] = &[
    SourceKind::Ingress,
    SourceKind::Service,
    SourceKind::Crd,
    SourceKind::GatewayHttproute,
];

/// The Ingress: `web.example.com` (TTL 120, not proxied) and the apex `example.com`, at an
/// IPv4 and an IPv6 address (A and AAAA).
fn web_ingress(v4: &str) -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": "web", "namespace": "shop",
            "annotations": {"external-dns.kubernetes.io/ttl": "120"}},
        "spec": {"rules": [{"host": "web.example.com"}, {"host": "example.com"}],
            "defaultBackend": {"service": {"name": "web", "port": {"number": 80}}}},
        "status": {"loadBalancer": {"ingress": [{"ip": v4}, {"ip": "2001:db8::1"}]}}})
}

/// A control plane holding the whole object set.
async fn cluster() -> (ControlPlane, kube::Client) {
    let cp = ControlPlane::start().await;
    let c = cp.admin().await;
    let mut crds = gateway_crds("experimental");
    crds.push(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("deploy/manifests/crd-dnsendpoint.yaml"),
    );
    install_crds(&c, &crds).await;
    for ns in ["shop", "infra"] {
        apply(
            &c,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        )
        .await;
    }
    apply(&c, web_ingress("192.0.2.1")).await;
    // Multi-target, proxied.
    apply(
        &c,
        json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "api", "namespace": "shop",
                "annotations": {"external-dns.kubernetes.io/hostname": "api.example.com",
                    "external-dns.kubernetes.io/cloudflare-proxied": "true"}},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.2"}, {"ip": "192.0.2.3"}]}}}),
    )
    .await;
    // Wildcard, TTL 300.
    apply(
        &c,
        json!({"apiVersion": "externaldns.k8s.io/v1alpha1", "kind": "DNSEndpoint",
            "metadata": {"name": "wild", "namespace": "shop"},
            "spec": {"endpoints": [{"dnsName": "*.example.com", "recordType": "A",
                "targets": ["192.0.2.4"], "recordTTL": 300}]}}),
    )
    .await;
    // HTTPRoute through a Gateway, proxied.
    apply(
        &c,
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"name": "gw", "namespace": "infra"},
            "spec": {"gatewayClassName": "eg", "listeners": [
                {"name": "http", "protocol": "HTTP", "port": 80, "hostname": "*.example.com",
                 "allowedRoutes": {"namespaces": {"from": "All"}}}]},
            "status": {"addresses": [{"type": "IPAddress", "value": "192.0.2.5"}]}}),
    )
    .await;
    apply(
        &c,
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": "shop", "namespace": "shop",
                "annotations": {"external-dns.kubernetes.io/cloudflare-proxied": "true"}},
            "spec": {"parentRefs": [{"name": "gw", "namespace": "infra", "sectionName": "http"}],
                "hostnames": ["shop.example.com"]},
            "status": {"parents": [{
                "parentRef": {"name": "gw", "namespace": "infra", "sectionName": "http"},
                "controllerName": "example.com/gw",
                "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted",
                    "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}]}}),
    )
    .await;
    (cp, c)
}

/// The records of the object set that are not TXT, as `record_row` prints them.
const WANTED: &[&str] = &[
    "A example.com 192.0.2.1 proxied=false ttl=120",
    "A *.example.com 192.0.2.4 proxied=false ttl=300",
    "A api.example.com 192.0.2.2 proxied=true ttl=1",
    "A api.example.com 192.0.2.3 proxied=true ttl=1",
    "A shop.example.com 192.0.2.5 proxied=true ttl=1",
    "A web.example.com 192.0.2.1 proxied=false ttl=120",
    "AAAA example.com 2001:db8::1 proxied=false ttl=120",
    "AAAA web.example.com 2001:db8::1 proxied=false ttl=120",
];

fn record_row(r: &cfgeo::emulator::DnsRecord) -> String {
    format!(
        "{} {} {} proxied={} ttl={}",
        r.record_type, r.name, r.content, r.proxied, r.ttl
    )
}

/// The zone, every record as a row, sorted.
fn zone_rows(emu: &cfgeo::emulator::EmulatorHandle) -> Vec<String> {
    let zone = emu.zone_id("example.com").unwrap();
    let mut rows: Vec<String> = emu.records(&zone).iter().map(record_row).collect();
    rows.sort();
    rows
}

fn non_txt(rows: &[String]) -> Vec<String> {
    rows.iter()
        .filter(|r| !r.starts_with("TXT "))
        .cloned()
        .collect()
}

fn sorted(rows: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = rows.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

fn writes(emu: &cfgeo::emulator::EmulatorHandle) -> Vec<String> {
    emu.call_log()
        .iter()
        .filter(|c| c.method != "GET")
        .map(|c| format!("{} {}", c.method, c.route))
        .collect()
}

/// Runs the real external-dns `--once` against the emulator; returns its log.
fn run_external_dns(cp: &ControlPlane, emu: &cfgeo::emulator::EmulatorHandle) -> String {
    let out = std::process::Command::new(control_plane::peer_bin("external-dns"))
        .args(EXTERNAL_DNS_FLAGS)
        .arg(format!("--kubeconfig={}", cp.admin_kubeconfig().display()))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        .env("CF_API_TOKEN", TOKEN)
        .env("CLOUDFLARE_BASE_URL", emu.base_url())
        .output()
        .unwrap();
    let log =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        !emu.call_log().is_empty(),
        "external-dns did not reach the emulator: {log}"
    );
    assert!(out.status.success(), "external-dns failed: {log}");
    log
}

/// cfgeo's record engine over `KINDS` with `cfgeo_settings`.
async fn start_cfgeo(emu: &cfgeo::emulator::EmulatorHandle, c: &kube::Client) -> CancellationToken {
    start_record_engine(emu, c, KINDS, cfgeo_settings(), None).await
}

/// A Service annotated only under the v0.21 prefix (`external-dns.alpha.kubernetes.io/`).
fn legacy_service() -> Value {
    json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "legacy", "namespace": "shop",
            "annotations": {"external-dns.alpha.kubernetes.io/hostname": "legacy.example.com"}},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.6"}]}}})
}

/// cfgeo converged on the object set: every wanted record is there and the engine is idle.
async fn cfgeo_converged(emu: &cfgeo::emulator::EmulatorHandle) {
    let want = sorted(WANTED);
    let deadline = std::time::Instant::now() + T;
    loop {
        let have = non_txt(&zone_rows(emu));
        if want.iter().all(|w| have.contains(w)) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "cfgeo did not write every record: want {want:#?}\nhave {:#?}",
            zone_rows(emu)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    quiet(emu).await;
}

/// Case 1: external-dns creates the zone and stops; cfgeo with the same owner and matching
/// settings adopts it with zero writes; a new Ingress address then flows through cfgeo.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rich_zone_from_external_dns_is_adopted_by_cfgeo_with_zero_writes_then_changes_flow() {
    let (cp, c) = cluster().await;
    let emu = emulator().await;
    let log = run_external_dns(&cp, &emu);
    let before = zone_rows(&emu);
    println!("external-dns wrote: {before:#?}");
    assert_eq!(non_txt(&before), sorted(WANTED), "{log}");
    emu.reset_calls();
    let shutdown = start_cfgeo(&emu, &c).await;
    eventually("cfgeo's first pass listed the zone", T, || {
        emu.call_log()
            .iter()
            .any(|c| c.route.ends_with("/dns_records"))
    })
    .await;
    quiet(&emu).await;
    assert_eq!(
        writes(&emu),
        Vec::<String>::new(),
        "cfgeo adopted external-dns's zone with writes"
    );
    assert_eq!(zone_rows(&emu), before);
    // A change flows through cfgeo: the Ingress moves to a new IPv4 address.
    apply(&c, web_ingress("192.0.2.9")).await;
    eventually("cfgeo moved the Ingress's A record", T, || {
        zone_rows(&emu).contains(&"A web.example.com 192.0.2.9 proxied=false ttl=120".to_string())
    })
    .await;
    quiet(&emu).await;
    // Only web.example.com's A record moved; the ownership TXTs are as external-dns left them.
    // The apex A record stays at the old address: external-dns could not own it (its TXT name
    // `a-example.com` is outside the zone, so it skipped it), and cfgeo leaves an unowned
    // record alone.
    let after = zone_rows(&emu);
    let expect: Vec<String> = {
        let mut v: Vec<String> = before
            .iter()
            .map(|r| {
                r.replace(
                    "A web.example.com 192.0.2.1 ",
                    "A web.example.com 192.0.2.9 ",
                )
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(after, expect);
    assert!(after.contains(&"A example.com 192.0.2.1 proxied=false ttl=120".to_string()));
    shutdown.cancel();
}

/// Case 2: cfgeo creates the zone; external-dns `--once` with the same owner writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rich_zone_from_cfgeo_gives_external_dns_zero_changes() {
    let (cp, c) = cluster().await;
    let emu = emulator().await;
    let shutdown = start_cfgeo(&emu, &c).await;
    cfgeo_converged(&emu).await;
    shutdown.cancel();
    let before = zone_rows(&emu);
    println!("cfgeo wrote: {before:#?}");
    emu.reset_calls();
    let log = run_external_dns(&cp, &emu);
    assert_eq!(
        writes(&emu),
        Vec::<String>::new(),
        "external-dns would change cfgeo's records\n{log}"
    );
    assert_eq!(zone_rows(&emu), before);
}

/// Case 4: the exact records each writes for the same objects, each on its own emulator. They
/// agree on every record but the ownership TXTs, and those differ only where docs/migration.md
/// says so (the apex TXT) or in the TXT's TTL. An object annotated only under the v0.21 prefix
/// (`external-dns.alpha.kubernetes.io/`) is published by cfgeo (which reads both prefixes) and
/// not by external-dns v0.22 (which reads only `external-dns.kubernetes.io/` by default).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_records_each_writes_for_the_same_objects() {
    let (cp, c) = cluster().await;
    apply(&c, legacy_service()).await;
    let peer = emulator().await;
    run_external_dns(&cp, &peer);
    let theirs = zone_rows(&peer);
    let ours_emu = emulator().await;
    let shutdown = start_cfgeo(&ours_emu, &c).await;
    cfgeo_converged(&ours_emu).await;
    let legacy = "A legacy.example.com 192.0.2.6 proxied=false ttl=1";
    eventually("cfgeo published the alpha-annotated Service", T, || {
        zone_rows(&ours_emu).contains(&legacy.to_string())
    })
    .await;
    quiet(&ours_emu).await;
    shutdown.cancel();
    let ours = zone_rows(&ours_emu);
    println!("external-dns: {theirs:#?}\ncfgeo: {ours:#?}");
    let txt = |owner: &str, res: &str, name: &str, ttl: u32| {
        format!(
            "TXT {name} \"heritage=external-dns,external-dns/owner={owner},external-dns/resource={res}\" proxied=false ttl={ttl}"
        )
    };
    let mut want_theirs: Vec<String> = sorted(WANTED);
    want_theirs.extend([
        txt(OWNER, "service/shop/api", "a-api.example.com", 1),
        txt(OWNER, "httproute/shop/shop", "a-shop.example.com", 1),
        txt(OWNER, "ingress/shop/web", "a-web.example.com", 1),
        txt(OWNER, "crd/shop/wild", "a-wildcard.example.com", 1),
        txt(OWNER, "ingress/shop/web", "aaaa-web.example.com", 1),
    ]);
    want_theirs.sort();
    let mut want_ours: Vec<String> = sorted(WANTED);
    want_ours.extend([
        legacy.to_string(),
        txt(OWNER, "ingress/shop/web", "a-_apex.example.com", 120),
        txt(OWNER, "service/shop/api", "a-api.example.com", 1),
        txt(OWNER, "service/shop/legacy", "a-legacy.example.com", 1),
        txt(OWNER, "httproute/shop/shop", "a-shop.example.com", 1),
        txt(OWNER, "ingress/shop/web", "a-web.example.com", 120),
        txt(OWNER, "crd/shop/wild", "a-wildcard.example.com", 300),
        txt(OWNER, "ingress/shop/web", "aaaa-_apex.example.com", 120),
        txt(OWNER, "ingress/shop/web", "aaaa-web.example.com", 120),
    ]);
    want_ours.sort();
    assert_eq!(theirs, want_theirs, "external-dns's records");
    assert_eq!(ours, want_ours, "cfgeo's records");
    // The same: every A/AAAA record of the v0.22-annotated objects, byte for byte (name,
    // content, proxied, TTL), and the wildcard's TXT under the same replacement.
    let legacy_rows = [legacy.to_string()];
    let ours_plain: Vec<String> = non_txt(&ours)
        .into_iter()
        .filter(|r| !legacy_rows.contains(r))
        .collect();
    assert_eq!(non_txt(&theirs), ours_plain);
    // Different on purpose (docs/migration.md): the apex TXT. external-dns names it
    // `a-example.com`, outside the zone, and skips it; cfgeo writes `a-_apex.example.com`.
    let txt_names = |rows: &[String]| -> Vec<String> {
        rows.iter()
            .filter(|r| r.starts_with("TXT "))
            .map(|r| r.split(' ').nth(1).unwrap().to_string())
            .collect()
    };
    let (tn, on) = (txt_names(&theirs), txt_names(&ours));
    let only_ours: Vec<&String> = on.iter().filter(|n| !tn.contains(n)).collect();
    assert_eq!(
        only_ours,
        [
            "a-_apex.example.com",
            "a-legacy.example.com",
            "aaaa-_apex.example.com"
        ]
    );
    assert!(tn.iter().all(|n| on.contains(n)));
}

/// The annotation prefixes, after a switch back: a Service annotated only under the v0.21
/// prefix is published by cfgeo, and external-dns v0.22 (default `--annotation-prefix`,
/// `external-dns.kubernetes.io/`) does not see its hostname, so `--policy=sync` deletes the
/// record and its ownership TXT. Everything else stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_dns_after_cfgeo_deletes_records_of_alpha_only_annotations() {
    let (cp, c) = cluster().await;
    apply(&c, legacy_service()).await;
    let emu = emulator().await;
    let shutdown = start_cfgeo(&emu, &c).await;
    cfgeo_converged(&emu).await;
    let legacy = [
        "A legacy.example.com 192.0.2.6 proxied=false ttl=1".to_string(),
        "TXT a-legacy.example.com \"heritage=external-dns,external-dns/owner=peer,external-dns/resource=service/shop/legacy\" proxied=false ttl=1".to_string(),
    ];
    eventually("cfgeo published the alpha-annotated Service", T, || {
        let rows = zone_rows(&emu);
        legacy.iter().all(|l| rows.contains(l))
    })
    .await;
    quiet(&emu).await;
    shutdown.cancel();
    let before = zone_rows(&emu);
    emu.reset_calls();
    run_external_dns(&cp, &emu);
    assert_eq!(
        writes(&emu),
        ["POST /client/v4/zones/{zone_id}/dns_records/batch"]
    );
    let expect: Vec<String> = before
        .iter()
        .filter(|r| !legacy.contains(r))
        .cloned()
        .collect();
    assert_eq!(zone_rows(&emu), expect);
}

/// The wildcard replacement: without `--txt-wildcard-replacement`, external-dns names the
/// wildcard's ownership TXT `a-*.example.com`, Cloudflare refuses it (code 1004), and `--once`
/// exits non-zero after writing every other record. This is why both sides are given
/// `wildcard` here (cfgeo's default; docs/migration.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_dns_without_a_wildcard_replacement_fails_on_the_wildcard_txt() {
    let (cp, _c) = cluster().await;
    let emu = emulator().await;
    let out = std::process::Command::new(control_plane::peer_bin("external-dns"))
        .args(
            EXTERNAL_DNS_FLAGS
                .iter()
                .filter(|f| !f.starts_with("--txt-wildcard-replacement")),
        )
        .arg(format!("--kubeconfig={}", cp.admin_kubeconfig().display()))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        .env("CF_API_TOKEN", TOKEN)
        .env("CLOUDFLARE_BASE_URL", emu.base_url())
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "{log}");
    assert!(
        log.contains("invalid record name") && log.contains("a-*.example.com"),
        "{log}"
    );
    let rows = zone_rows(&emu);
    assert_eq!(non_txt(&rows), sorted(WANTED));
    assert!(
        !rows
            .iter()
            .any(|r| r.contains("wildcard") || r.contains("a-*"))
    );
}

/// Case 3: both run together, cfgeo (owner `cfgeo-a`, namespace team-a) and external-dns
/// (owner `xdns-b`, namespace team-b, `--interval=2s`), over disjoint hostnames, while both
/// teams change addresses. A sampler checks every 10 ms that no record of one owner ever has
/// the other's content or ownership TXT; a hostname both claim stays with its first owner.
/// `CFGEO_SIDE_BY_SIDE_SECS` sets the length (CI default 30 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn side_by_side_neither_touches_the_others_records() {
    let secs: u64 = std::env::var("CFGEO_SIDE_BY_SIDE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let cp = ControlPlane::start().await;
    let c = cp.admin().await;
    for ns in ["team-a", "team-b"] {
        namespace(&c, ns).await;
    }
    let ing = |ns: &str, name: &str, hosts: &[&str], ip: &str| {
        let rules: Vec<Value> = hosts.iter().map(|h| json!({"host": h})).collect();
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"rules": rules,
                "defaultBackend": {"service": {"name": "web", "port": {"number": 80}}}},
            "status": {"loadBalancer": {"ingress": [{"ip": ip}]}}})
    };
    // team-a claims both.example.com first.
    apply(
        &c,
        ing(
            "team-a",
            "a",
            &["a.example.com", "both.example.com"],
            "192.0.2.10",
        ),
    )
    .await;
    let emu = emulator().await;
    let zone = emu.zone_id("example.com").unwrap();
    let mut s = RecordSettings::new("cfgeo-a", Policy::Sync);
    s.plan.domains = DomainFilter::new(&["example.com".to_string()], &[], None, None).unwrap();
    let shutdown = start_record_engine(&emu, &c, &[SourceKind::Ingress], s, Some("team-a")).await;
    let content = |name: &str| -> Vec<String> {
        emu.records(&zone)
            .iter()
            .filter(|r| r.record_type == "A" && r.name == name)
            .map(|r| r.content.clone())
            .collect()
    };
    eventually("cfgeo owns both.example.com first", T, || {
        content("both.example.com") == vec!["192.0.2.10".to_string()]
    })
    .await;
    apply(
        &c,
        ing(
            "team-b",
            "b",
            &["b.example.com", "both.example.com"],
            "198.51.100.20",
        ),
    )
    .await;
    let xdns = std::process::Command::new(control_plane::peer_bin("external-dns"))
        .args([
            "--provider=cloudflare",
            "--source=ingress",
            "--namespace=team-b",
            "--registry=txt",
            "--txt-owner-id=xdns-b",
            "--policy=sync",
            "--domain-filter=example.com",
            "--interval=2s",
            "--events",
            "--metrics-address=127.0.0.1:0",
        ])
        .arg(format!("--kubeconfig={}", cp.admin_kubeconfig().display()))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        .env("CF_API_TOKEN", "xdns-side-by-side-token")
        .env("CLOUDFLARE_BASE_URL", emu.base_url())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _xdns = Kill(xdns);
    eventually("external-dns wrote b.example.com", T, || {
        content("b.example.com") == vec!["198.51.100.20".to_string()]
    })
    .await;
    // Churn both teams' addresses; sample the zone.
    let owner_of = |name: &str| -> Option<String> {
        emu.records(&zone)
            .iter()
            .find(|r| r.record_type == "TXT" && r.name == format!("a-{name}"))
            .and_then(|r| {
                r.content
                    .split(',')
                    .find_map(|kv| kv.strip_prefix("external-dns/owner=").map(str::to_string))
            })
    };
    let a_ips: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(vec!["192.0.2.10".into()]);
    let b_ips: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(vec!["198.51.100.20".into()]);
    let mut violations = Vec::new();
    let start = std::time::Instant::now();
    let mut round = 0u32;
    let mut next_change = start;
    while start.elapsed() < Duration::from_secs(secs) {
        if std::time::Instant::now() >= next_change {
            round += 1;
            let (ns, name, hosts, ip, list) = if round.is_multiple_of(2) {
                (
                    "team-a",
                    "a",
                    ["a.example.com", "both.example.com"],
                    format!("192.0.2.{}", 10 + round % 200),
                    &a_ips,
                )
            } else {
                (
                    "team-b",
                    "b",
                    ["b.example.com", "both.example.com"],
                    format!("198.51.100.{}", 20 + round % 200),
                    &b_ips,
                )
            };
            list.lock().unwrap().push(ip.clone());
            apply(&c, ing(ns, name, &hosts, &ip)).await;
            next_change = std::time::Instant::now() + Duration::from_millis(1500);
        }
        let a = a_ips.lock().unwrap().clone();
        let b = b_ips.lock().unwrap().clone();
        for (name, own, other, owner) in [
            ("a.example.com", &a, &b, "cfgeo-a"),
            ("both.example.com", &a, &b, "cfgeo-a"),
            ("b.example.com", &b, &a, "xdns-b"),
        ] {
            for ip in content(name) {
                if other.contains(&ip) || !own.contains(&ip) {
                    violations.push(format!("{name} holds {ip}"));
                }
            }
            if let Some(o) = owner_of(name)
                && o != owner
            {
                violations.push(format!("{name} owned by {o}"));
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let last_a = a_ips.lock().unwrap().last().cloned().unwrap();
    let last_b = b_ips.lock().unwrap().last().cloned().unwrap();
    eventually("each converged on its own last address", T, || {
        content("a.example.com") == vec![last_a.clone()]
            && content("both.example.com") == vec![last_a.clone()]
            && content("b.example.com") == vec![last_b.clone()]
    })
    .await;
    assert!(
        violations.is_empty(),
        "a record crossed owners: {:?}",
        &violations[..violations.len().min(10)]
    );
    assert_eq!(owner_of("both.example.com").as_deref(), Some("cfgeo-a"));
    assert_eq!(owner_of("b.example.com").as_deref(), Some("xdns-b"));
    println!("side by side for {secs} s: {round} address changes, 0 crossings");
    shutdown.cancel();
}
