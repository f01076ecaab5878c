//! cfgeo's own client driven through Prism (`proxy --errors`, Cloudflare's OpenAPI subset) in
//! front of the emulator, over every operation the subset covers. A request or response that
//! breaks the schema comes back as 422 or 500 and fails the call. Run by
//! `tests/contract/prism.sh cargo test --test contract_client -- --ignored`.

use cfgeo::cloudflare::types::*;
use cfgeo::cloudflare::{ApiToken, Client, ClientSettings, TokenSource};

#[tokio::test]
#[ignore = "needs Prism: run through tests/contract/prism.sh"]
async fn every_subset_operation_passes_prism() {
    let url = std::env::var("CFGEO_PRISM_URL")
        .expect("CFGEO_PRISM_URL (run through tests/contract/prism.sh)");
    let c = Client::new(
        ClientSettings {
            base_url: url,
            max_retries: 0,
            ..ClientSettings::default()
        },
        TokenSource::Static(ApiToken::new("prism-contract-token")),
    )
    .unwrap();
    let ok = |what: &str, r: Result<(), cfgeo::cloudflare::CloudflareError>| {
        if let Err(e) = r {
            panic!("{what}: {e}");
        }
    };
    c.verify_token().await.expect("tokens.verify");
    let zones = c.list_zones(None).await.expect("zones.list");
    let zone = c.get_zone(&zones[0].id).await.expect("zones.get");
    let acct = zone
        .account
        .clone()
        .and_then(|a| a.id)
        .expect("zone has an account id");

    let rec = DnsRecordInput {
        name: "contract.example.com".into(),
        record_type: RecordType::A,
        content: "192.0.2.1".into(),
        ttl: 1,
        proxied: false,
        comment: Some("contract".into()),
        tags: vec![],
        priority: None,
    };
    let r = c
        .create_dns_record(&zone.id, &rec)
        .await
        .expect("dns_records.create");
    c.list_dns_records(&zone.id, Some("contract.example.com"), Some(&RecordType::A))
        .await
        .expect("dns_records.list");
    let put = DnsRecordInput {
        content: "192.0.2.2".into(),
        ..rec.clone()
    };
    c.update_dns_record(&zone.id, &r.id, &put)
        .await
        .expect("dns_records.update");
    c.patch_dns_record(&zone.id, &r.id, &serde_json::json!({"type": "A", "name": "contract.example.com", "content": "192.0.2.3", "ttl": 300}))
        .await
        .expect("dns_records.patch");
    ok(
        "dns_records.delete",
        c.delete_dns_record(&zone.id, &r.id).await,
    );

    // What cfgeo's managed monitor sends: the LB hostname as Host, for an Ingress reached by IP.
    let host = |h: &str| {
        Some(std::collections::BTreeMap::from([(
            "Host".into(),
            vec![h.into()],
        )]))
    };
    let mon_in = MonitorInput {
        description: Some("contract".into()),
        monitor_type: Some("https".into()),
        path: Some("/healthz".into()),
        expected_codes: Some("2xx".into()),
        interval: Some(60),
        header: host("contract-lb.example.com"),
        allow_insecure: Some(true),
        follow_redirects: Some(false),
        method: Some("GET".into()),
        ..Default::default()
    };
    let m = c
        .create_monitor(&acct, &mon_in)
        .await
        .expect("monitors.create");
    assert_eq!(
        (
            &m.header,
            m.allow_insecure,
            m.follow_redirects,
            m.method.as_deref()
        ),
        (&mon_in.header, Some(true), Some(false), Some("GET")),
        "monitors.create answer"
    );
    let listed = c.list_monitors(&acct).await.expect("monitors.list");
    assert!(
        listed
            .iter()
            .any(|l| l.id == m.id && l.header == mon_in.header)
    );
    let got = c.get_monitor(&acct, &m.id).await.expect("monitors.get");
    assert_eq!(
        (&got.header, got.allow_insecure),
        (&mon_in.header, Some(true))
    );
    let patched = c
        .patch_monitor(
            &acct,
            &m.id,
            &MonitorInput {
                interval: Some(120),
                expected_codes: Some("2xx".into()),
                header: host("other.example.com"),
                allow_insecure: Some(false),
                ..Default::default()
            },
        )
        .await
        .expect("monitors.patch");
    assert_eq!(
        (&patched.header, patched.allow_insecure, patched.interval),
        (&host("other.example.com"), Some(false), Some(120)),
        "monitors.patch answer"
    );
    let put = c
        .update_monitor(&acct, &m.id, &mon_in)
        .await
        .expect("monitors.update");
    assert_eq!(
        (&put.header, put.allow_insecure),
        (&mon_in.header, Some(true))
    );

    let pool_in = PoolInput {
        name: "contract-pool".into(),
        description: Some("contract".into()),
        enabled: true,
        origins: vec![Origin {
            name: "o1".into(),
            address: "192.0.2.10".into(),
            enabled: true,
            weight: 0.5,
            header: None,
        }],
        latitude: Some(50.1109),
        longitude: Some(8.6821),
        monitor: Some(m.id.clone()),
        minimum_origins: None,
    };
    let p = c.create_pool(&acct, &pool_in).await.expect("pools.create");
    c.list_pools(&acct).await.expect("pools.list");
    c.get_pool(&acct, &p.id).await.expect("pools.get");
    c.patch_pool(
        &acct,
        &p.id,
        &PoolPatch {
            enabled: Some(true),
            ..Default::default()
        },
    )
    .await
    .expect("pools.patch");
    c.update_pool(&acct, &p.id, &pool_in)
        .await
        .expect("pools.update");
    c.pool_health(&acct, &p.id).await.expect("pools.health");
    c.pool_references(&acct, &p.id)
        .await
        .expect("pools.references");

    let lb_in = LoadBalancerInput {
        name: "contract-lb.example.com".into(),
        default_pools: vec![p.id.clone()],
        fallback_pool: p.id.clone(),
        steering_policy: SteeringPolicy::Proximity,
        proxied: true,
        ttl: Some(30),
        description: Some("contract".into()),
    };
    let lb = c
        .create_load_balancer(&zone.id, &lb_in)
        .await
        .expect("load_balancers.create");
    c.list_load_balancers(&zone.id)
        .await
        .expect("load_balancers.list");
    c.get_load_balancer(&zone.id, &lb.id)
        .await
        .expect("load_balancers.get");
    c.patch_load_balancer(
        &zone.id,
        &lb.id,
        &LoadBalancerPatch {
            proxied: Some(true),
            ..Default::default()
        },
    )
    .await
    .expect("load_balancers.patch");
    c.update_load_balancer(&zone.id, &lb.id, &lb_in)
        .await
        .expect("load_balancers.update");
    ok(
        "load_balancers.delete",
        c.delete_load_balancer(&zone.id, &lb.id).await,
    );
    ok("pools.delete", c.delete_pool(&acct, &p.id).await);
    ok("monitors.delete", c.delete_monitor(&acct, &m.id).await);
}
