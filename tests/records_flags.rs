//! Every record-synchronizer flag and annotation through the real binary: `cfgeo run --once`
//! over manifests, against an emulator over real HTTP. One case per flag or annotation, each
//! asserting what must and must not be in the zone afterwards.

use std::process::Command;

use cfgeo::emulator::{Emulator, EmulatorConfig, EmulatorHandle, Plan, ZoneSpec};

const TOKEN: &str = "cfgeo-flags-token";

struct Case {
    name: &'static str,
    flags: &'static [&'static str],
    /// (type, name, content) that must exist afterwards.
    present: &'static [(&'static str, &'static str, &'static str)],
    /// (type, name) that must not exist afterwards.
    absent: &'static [(&'static str, &'static str)],
}

const OBJECTS: &str = r#"
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  namespace: shop
  labels: {team: web}
  annotations:
    external-dns.alpha.kubernetes.io/hostname: extra.example.com
    external-dns.kubernetes.io/ttl: "600"
spec:
  ingressClassName: nginx
  rules: [{host: web.example.com}]
  tls: [{hosts: [secure.example.com]}]
status: {loadBalancer: {ingress: [{ip: 192.0.2.1}]}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: legacy-class
  namespace: shop
  annotations:
    kubernetes.io/ingress.class: traefik
    external-dns.kubernetes.io/cloudflare-proxied: "true"
    external-dns.kubernetes.io/cloudflare-record-comment: "owned by shop"
    external-dns.kubernetes.io/cloudflare-tags: "team:shop, env:prod"
spec:
  rules: [{host: legacy.example.com}]
status: {loadBalancer: {ingress: [{ip: 192.0.2.2}]}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: other-controller
  namespace: shop
  annotations:
    external-dns.alpha.kubernetes.io/controller: someone-else
spec:
  rules: [{host: skipped.example.com}]
status: {loadBalancer: {ingress: [{ip: 192.0.2.3}]}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: geo
  namespace: shop
  labels: {dns.external/geo-route: "true", cluster-name: fra1}
spec:
  rules: [{host: app.example.com}]
status: {loadBalancer: {ingress: [{ip: 192.0.2.4}]}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: wild
  namespace: ops
  annotations:
    external-dns.kubernetes.io/target: lb.example.net
spec:
  rules: [{host: "*.apps.example.com"}]
---
apiVersion: v1
kind: Service
metadata:
  name: api
  namespace: ops
  annotations:
    external-dns.kubernetes.io/hostname: api.example.com,api.dev.example.com
    external-dns.alpha.kubernetes.io/internal-hostname: api.internal.example.com
spec:
  type: LoadBalancer
  clusterIP: 10.0.0.10
status: {loadBalancer: {ingress: [{ip: 192.0.2.5}, {ip: "2001:db8::5"}]}}
---
apiVersion: v1
kind: Service
metadata:
  name: ext
  namespace: ops
  annotations:
    external-dns.kubernetes.io/hostname: ext.example.org
spec:
  type: ExternalName
  externalName: upstream.example.net
"#;

const ALL_SOURCES: &[&str] = &["--source", "ingress", "--source", "service"];

const CASES: &[Case] = &[
    Case {
        name: "defaults: every source, both annotation prefixes, controller and geo exclusions",
        flags: &[],
        present: &[
            ("A", "web.example.com", "192.0.2.1"),
            ("A", "secure.example.com", "192.0.2.1"),
            ("A", "extra.example.com", "192.0.2.1"),
            ("A", "legacy.example.com", "192.0.2.2"),
            ("CNAME", "*.apps.example.com", "lb.example.net"),
            ("A", "api.example.com", "192.0.2.5"),
            ("AAAA", "api.example.com", "2001:db8::5"),
            ("A", "api.internal.example.com", "10.0.0.10"),
            ("CNAME", "ext.example.org", "upstream.example.net"),
            ("TXT", "a-web.example.com", ""),
            // Cloudflare refuses `cname-*.apps...`: cfgeo defaults the replacement.
            ("TXT", "cname-wildcard.apps.example.com", ""),
        ],
        absent: &[("A", "skipped.example.com"), ("A", "app.example.com")],
    },
    Case {
        name: "--domain-filter selects the parent zone, --exclude-domains",
        flags: &[
            "--domain-filter",
            "dev.example.com,example.org",
            "--exclude-domains",
            "ext.example.org",
        ],
        present: &[("A", "api.dev.example.com", "192.0.2.5")],
        absent: &[
            ("A", "web.example.com"),
            ("A", "api.example.com"),
            ("CNAME", "ext.example.org"),
        ],
    },
    Case {
        name: "--regex-domain-filter and --regex-domain-exclusion",
        flags: &[
            "--zone-id-filter",
            "ZONE_COM",
            "--regex-domain-filter",
            r"^(web|api)\.",
            "--regex-domain-exclusion",
            r"^api\.internal\.",
        ],
        present: &[
            ("A", "web.example.com", "192.0.2.1"),
            ("A", "api.example.com", "192.0.2.5"),
        ],
        absent: &[
            ("A", "legacy.example.com"),
            ("A", "api.internal.example.com"),
        ],
    },
    Case {
        name: "--zone-id-filter limits the zones",
        flags: &["--zone-id-filter", "ZONE_ORG"],
        present: &[("CNAME", "ext.example.org", "upstream.example.net")],
        absent: &[("A", "web.example.com")],
    },
    Case {
        name: "--ingress-class (spec, then the legacy annotation)",
        flags: &["--ingress-class", "traefik"],
        present: &[("A", "legacy.example.com", "192.0.2.2")],
        absent: &[("A", "web.example.com")],
    },
    Case {
        name: "--label-filter, --namespace, --annotation-filter",
        flags: &["--label-filter", "team=web"],
        present: &[("A", "web.example.com", "192.0.2.1")],
        absent: &[("A", "legacy.example.com"), ("A", "api.example.com")],
    },
    Case {
        name: "--namespace",
        flags: &["--namespace", "ops"],
        present: &[("A", "api.example.com", "192.0.2.5")],
        absent: &[("A", "web.example.com")],
    },
    Case {
        name: "--annotation-filter",
        flags: &["--annotation-filter", "kubernetes.io/ingress.class=traefik"],
        present: &[("A", "legacy.example.com", "192.0.2.2")],
        absent: &[("A", "web.example.com"), ("A", "api.example.com")],
    },
    Case {
        name: "--managed-record-types",
        flags: &["--managed-record-types", "CNAME"],
        present: &[("CNAME", "*.apps.example.com", "lb.example.net")],
        absent: &[("A", "web.example.com"), ("AAAA", "api.example.com")],
    },
    Case {
        name: "--txt-prefix with %{record_type}, --txt-wildcard-replacement",
        flags: &[
            "--txt-prefix",
            "k8s-%{record_type}.",
            "--txt-wildcard-replacement",
            "wild",
        ],
        present: &[
            ("TXT", "k8s-a.web.example.com", ""),
            ("TXT", "k8s-cname.wild.apps.example.com", ""),
        ],
        absent: &[("TXT", "a-web.example.com")],
    },
    Case {
        name: "--txt-suffix",
        flags: &["--txt-suffix", "-owner"],
        present: &[("TXT", "a-web-owner.example.com", "")],
        absent: &[("TXT", "a-web.example.com")],
    },
    Case {
        name: "--dry-run writes nothing",
        flags: &["--dry-run"],
        present: &[],
        absent: &[("A", "web.example.com"), ("TXT", "a-web.example.com")],
    },
    Case {
        name: "--batch-change-size 3 still converges",
        flags: &["--batch-change-size", "3"],
        present: &[
            ("A", "web.example.com", "192.0.2.1"),
            ("A", "api.example.com", "192.0.2.5"),
        ],
        absent: &[],
    },
];

async fn emulator() -> EmulatorHandle {
    Emulator::start(EmulatorConfig {
        zones: vec![
            ZoneSpec::new("example.com", Plan::Free),
            ZoneSpec::new("example.org", Plan::Pro),
        ],
        ..EmulatorConfig::default()
    })
    .await
    .unwrap()
}

fn run_once(emu: &EmulatorHandle, dir: &std::path::Path, flags: &[String]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cfgeo"))
        .args(["run", "--once", "--manifests"])
        .arg(dir)
        .args(ALL_SOURCES)
        .args(["--txt-owner-id", "flags-test"])
        .args(flags)
        .env("CF_API_TOKEN", TOKEN)
        .env("CF_API_BASE_URL", emu.base_url())
        .env("CF_ACCOUNT_ID", emu.account_id())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_flag_and_annotation() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("objects.yaml"), OBJECTS).unwrap();
    for case in CASES {
        let emu = emulator().await;
        let com = emu.zone_id("example.com").unwrap();
        let org = emu.zone_id("example.org").unwrap();
        let mut flags: Vec<String> = case
            .flags
            .iter()
            .map(|f| f.replace("ZONE_COM", &com).replace("ZONE_ORG", &org))
            .collect();
        if !case.flags.contains(&"--zone-id-filter") && !case.flags.contains(&"--domain-filter") {
            flags.extend(["--zone-id-filter".into(), format!("{com},{org}")]);
        }
        // LABEL_SELECTOR's Ingress is excluded even though the geo engine is off here.
        let (ok, out) = tokio::task::block_in_place(|| run_once(&emu, dir.path(), &flags));
        assert!(ok, "case {}: cfgeo failed:\n{out}", case.name);
        let mut records = emu.records(&com);
        records.extend(emu.records(&org));
        for (t, name, content) in case.present {
            assert!(
                records.iter().any(|r| r.record_type == *t
                    && r.name == *name
                    && (content.is_empty() || r.content == *content)),
                "case {}: missing {t} {name} {content}\n{out}\nzone: {:#?}",
                case.name,
                records
                    .iter()
                    .map(|r| (&r.record_type, &r.name, &r.content))
                    .collect::<Vec<_>>()
            );
        }
        for (t, name) in case.absent {
            assert!(
                !records
                    .iter()
                    .any(|r| r.record_type == *t && r.name == *name),
                "case {}: unexpected {t} {name}\n{out}",
                case.name
            );
        }
        if case.flags.is_empty() {
            // Annotation-driven Cloudflare properties and TTL.
            let legacy = records
                .iter()
                .find(|r| r.name == "legacy.example.com" && r.record_type == "A")
                .unwrap();
            assert!(legacy.proxied);
            assert_eq!(legacy.ttl, 1, "proxied records use automatic TTL");
            assert_eq!(legacy.comment.as_deref(), Some("owned by shop"));
            assert_eq!(legacy.tags, ["env:prod", "team:shop"]);
            let web = records
                .iter()
                .find(|r| r.name == "web.example.com" && r.record_type == "A")
                .unwrap();
            assert_eq!(web.ttl, 600, "ttl annotation under the new prefix");
            assert!(!web.proxied);
            // A second run plans nothing.
            let calls = emu.call_log().len();
            let (ok, out) = tokio::task::block_in_place(|| run_once(&emu, dir.path(), &flags));
            assert!(ok, "{out}");
            let writes = emu.call_log()[calls..]
                .iter()
                .filter(|c| c.method != "GET")
                .count();
            assert_eq!(writes, 0, "second run wrote: {out}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator().await;
    let com = emu.zone_id("example.com").unwrap();
    let run = |yaml: &str, policy: &str| {
        std::fs::write(dir.path().join("objects.yaml"), yaml).unwrap();
        tokio::task::block_in_place(|| {
            run_once(
                &emu,
                dir.path(),
                &[
                    "--policy".into(),
                    policy.into(),
                    "--zone-id-filter".into(),
                    com.clone(),
                ],
            )
        })
    };
    let ing = |host: &str, ip: &str| {
        format!(
            "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {{name: {host}, namespace: p}}\nspec: {{rules: [{{host: {host}.example.com}}]}}\nstatus: {{loadBalancer: {{ingress: [{{ip: {ip}}}]}}}}\n---\n"
        )
    };
    let content = |name: &str| {
        emu.records(&com)
            .into_iter()
            .find(|r| r.name == name && r.record_type == "A")
            .map(|r| r.content)
    };
    let (ok, out) = run(
        &format!("{}{}", ing("a", "192.0.2.1"), ing("b", "192.0.2.2")),
        "sync",
    );
    assert!(ok, "{out}");
    // create-only: a new name is created, an address change is not applied.
    let (ok, out) = run(
        &format!(
            "{}{}{}",
            ing("a", "192.0.2.9"),
            ing("b", "192.0.2.2"),
            ing("c", "192.0.2.3")
        ),
        "create-only",
    );
    assert!(ok, "{out}");
    assert_eq!(content("a.example.com").as_deref(), Some("192.0.2.1"));
    assert_eq!(content("c.example.com").as_deref(), Some("192.0.2.3"));
    // upsert-only: the change is applied, the removed object's record stays.
    let (ok, out) = run(
        &format!("{}{}", ing("a", "192.0.2.9"), ing("c", "192.0.2.3")),
        "upsert-only",
    );
    assert!(ok, "{out}");
    assert_eq!(content("a.example.com").as_deref(), Some("192.0.2.9"));
    assert_eq!(content("b.example.com").as_deref(), Some("192.0.2.2"));
    // sync: the removed object's record and its TXT go.
    let (ok, out) = run(
        &format!("{}{}", ing("a", "192.0.2.9"), ing("c", "192.0.2.3")),
        "sync",
    );
    assert!(ok, "{out}");
    assert_eq!(content("b.example.com"), None);
    assert!(
        !emu.records(&com)
            .iter()
            .any(|r| r.name == "a-b.example.com")
    );
}
