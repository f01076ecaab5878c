//! The geo engine end to end: a real kube-apiserver (tests/common/control_plane.rs) and the
//! Cloudflare emulator, both over real HTTP, with cfgeo's real kube client, watcher and
//! Cloudflare client in between. Two tests keep the fake API server for what a real one cannot
//! do on demand: expiring history while the watch is down, and Ingress addresses the real
//! validation refuses (which `--manifests` can still carry).

mod common;

use std::time::Duration;

use cfgeo::cloudflare::types::{LoadBalancerInput, Origin, PoolInput, SteeringPolicy};
use cfgeo::emulator::{FaultAction, FaultSpec};
use cfgeo::events::Reporter;
use cfgeo::geo::engine::GeoEngine;
use common::*;
use serde_json::json;

const T: Duration = Duration::from_secs(15);
const POOL: &str = "k8s-pool-fra1-eu";

#[tokio::test]
async fn creates_pool_monitor_and_lb_then_replaces_then_removes_in_order() {
    let emu = emulator().await;
    let mut s = settings(&emu, "eu", "owner-eu");
    s.monitor = cfgeo::geo::MonitorPolicy::Managed(cfgeo::cloudflare::types::MonitorInput {
        monitor_type: Some("https".into()),
        path: Some("/healthz".into()),
        expected_codes: Some("2xx".into()),
        interval: Some(60),
        ..Default::default()
    });
    let c = start_real_cluster(&emu, s, fast_timing()).await;
    c.kube
        .apply(ingress("web", "fra1", &["203.0.113.10", "2001:db8::10"]))
        .await;

    eventually("pool and LB", T, || {
        lb_pool_names(&emu, "app.example.com") == Some(vec![POOL.into()])
    })
    .await;
    let p = pools(&emu);
    assert_eq!(
        p[POOL],
        vec![
            ("2001:db8::10".to_string(), true),
            ("203.0.113.10".to_string(), true)
        ]
    );
    let state = emu.state_json();
    let pool = state_items(&state, "pools")
        .into_iter()
        .find(|p| p["name"] == POOL)
        .unwrap();
    assert_eq!(
        (pool["latitude"].as_f64(), pool["longitude"].as_f64()),
        (Some(50.1109), Some(8.6821))
    );
    assert_eq!(pool["origins"][0]["weight"].as_f64(), Some(0.33));
    let monitor = pool["monitor"].as_str().expect("a monitor is attached");
    assert!(
        state_items(&state, "monitors")
            .iter()
            .any(|m| m["id"] == monitor)
    );
    let lb = state_items(&state, "load_balancers")
        .into_iter()
        .next()
        .unwrap();
    assert_eq!(lb["steering_policy"], "proximity");
    assert_eq!(lb["proxied"], true);
    // The Ingress is told what was written.
    assert!(
        c.kube
            .wait_events(T, |ev| ev.iter().any(|e| e.to_string().contains("Written")))
            .await,
        "an Event reports the write"
    );

    // An address change replaces the origin.
    c.kube
        .set_status(
            "networking.k8s.io/v1",
            "Ingress",
            Some("shop"),
            "web",
            status(&["203.0.113.77"]),
        )
        .await;
    eventually("origin replaced", T, || {
        pools(&emu).get(POOL) == Some(&vec![("203.0.113.77".to_string(), true)])
    })
    .await;

    // The monitor asks for the LB's hostname, so an Ingress controller reached by IP routes it.
    let m = state_items(&emu.state_json(), "monitors")[0].clone();
    assert_eq!(m["header"]["Host"], json!(["app.example.com"]));

    // The last cluster leaving keeps its pool in the LB, drained, and never deletes the LB.
    let first_lb = lb_id(&emu);
    emu.reset_calls();
    assert!(
        c.kube
            .delete("networking.k8s.io/v1", "Ingress", Some("shop"), "web")
            .await
    );
    eventually("drained placeholder", T, || {
        pools(&emu).get(POOL) == Some(&vec![("203.0.113.77".to_string(), false)])
    })
    .await;
    assert_eq!(
        lb_pool_names(&emu, "app.example.com"),
        Some(vec![POOL.to_string()])
    );

    // Another cluster joins: our next pass takes the placeholder out, then deletes the pool.
    let us = start_real_cluster(&emu, settings(&emu, "us_east", "owner-us"), fast_timing()).await;
    us.kube
        .apply(ingress("web", "nyc1", &["198.51.100.5"]))
        .await;
    eventually("placeholder out and deleted", T, || {
        !pools(&emu).contains_key(POOL)
            && lb_pool_names(&emu, "app.example.com") == Some(vec!["k8s-pool-nyc1-us_east".into()])
    })
    .await;
    assert_eq!(
        lb_id(&emu),
        Some(first_lb.unwrap()),
        "the LB was never re-created"
    );
    let writes: Vec<String> = emu
        .call_log()
        .iter()
        .filter(|c| c.method != "GET")
        .map(|c| format!("{} {}", c.method, c.route))
        .collect();
    assert!(
        !writes
            .iter()
            .any(|w| w.starts_with("DELETE") && w.contains("/zones/")),
        "no LB deletion: {writes:?}"
    );
    let patch_pool = writes
        .iter()
        .position(|w| w.starts_with("PATCH") && w.contains("/pools/"))
        .expect("pool patched first");
    let delete_pool = writes
        .iter()
        .position(|w| w.starts_with("DELETE") && w.contains("/pools/"))
        .expect("pool deleted");
    let lb_write_before_delete = writes[..delete_pool]
        .iter()
        .rposition(|w| w.contains("/zones/"))
        .expect("our pool left the LB before its deletion");
    assert!(
        patch_pool < lb_write_before_delete && lb_write_before_delete < delete_pool,
        "order: {writes:?}"
    );
    eventually("monitor deleted", T, || {
        state_items(&emu.state_json(), "monitors").is_empty()
    })
    .await;
    c.shutdown.cancel();
    us.shutdown.cancel();
}

fn lb_id(emu: &cfgeo::emulator::EmulatorHandle) -> Option<String> {
    state_items(&emu.state_json(), "load_balancers")
        .iter()
        .find(|l| l["name"] == "app.example.com")
        .and_then(|l| l["id"].as_str().map(str::to_string))
}

#[tokio::test]
async fn deletion_while_the_watch_is_down_is_still_applied() {
    let emu = emulator().await;
    let c = start_cluster(&emu, settings(&emu, "eu", "owner-eu"), fast_timing()).await;
    c.kube.apply(ingress("web", "fra1", &["203.0.113.10"]));
    eventually("pool", T, || pools(&emu).contains_key(POOL)).await;
    // History expires and the stream drops, so the watcher must re-list (410 Gone) to notice.
    c.kube.fail_next_watches(2);
    c.kube.expire_history();
    c.kube.drop_watches();
    assert!(
        c.kube
            .delete("networking.k8s.io/v1", "Ingress", Some("shop"), "web")
    );
    c.kube.expire_history();
    eventually("deletion applied after re-list", T, || {
        pools(&emu).get(POOL) == Some(&vec![("203.0.113.10".to_string(), false)])
    })
    .await;
    c.shutdown.cancel();
}

#[tokio::test]
async fn failed_lb_read_shrinks_nothing_and_foreign_pool_is_untouched() {
    let emu = emulator().await;
    let cf = client(&emu);
    let acct = emu.account_id();
    let zone = emu.zone_id("example.com").unwrap();
    let foreign = cf
        .create_pool(
            &acct,
            &PoolInput {
                name: "hand-made".into(),
                description: Some("made by a person".into()),
                enabled: true,
                origins: vec![Origin {
                    name: "o".into(),
                    address: "192.0.2.200".into(),
                    enabled: true,
                    weight: 1.0,
                    header: None,
                }],
                latitude: Some(1.0),
                longitude: Some(2.0),
                monitor: None,
                minimum_origins: None,
            },
        )
        .await
        .unwrap();
    cf.create_load_balancer(
        &zone,
        &LoadBalancerInput {
            name: "app.example.com".into(),
            default_pools: vec![foreign.id.clone()],
            fallback_pool: foreign.id.clone(),
            steering_policy: SteeringPolicy::Proximity,
            proxied: true,
            ttl: None,
            description: None,
        },
    )
    .await
    .unwrap();
    let foreign_before = state_items(&emu.state_json(), "pools")
        .into_iter()
        .find(|p| p["name"] == "hand-made")
        .unwrap();

    let c = start_real_cluster(&emu, settings(&emu, "eu", "owner-eu"), fast_timing()).await;
    c.kube
        .apply(ingress("web", "fra1", &["203.0.113.10"]))
        .await;
    eventually("both pools in LB", T, || {
        lb_pool_names(&emu, "app.example.com") == Some(vec!["hand-made".into(), POOL.into()])
    })
    .await;

    // Every LB read fails for a while; an address change must not shrink the LB.
    emu.inject_fault(FaultSpec::new(
        "GET",
        "/client/v4/zones/*/load_balancers",
        40,
        FaultAction::status(503),
    ))
    .unwrap();
    c.kube
        .set_status(
            "networking.k8s.io/v1",
            "Ingress",
            Some("shop"),
            "web",
            status(&["203.0.113.11"]),
        )
        .await;
    for _ in 0..20 {
        assert_eq!(
            lb_pool_names(&emu, "app.example.com"),
            Some(vec!["hand-made".into(), POOL.into()])
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    emu.clear_faults();
    eventually("converged after faults", T, || {
        pools(&emu).get(POOL) == Some(&vec![("203.0.113.11".to_string(), true)])
    })
    .await;
    assert_eq!(
        lb_pool_names(&emu, "app.example.com"),
        Some(vec!["hand-made".into(), POOL.into()])
    );
    let foreign_after = state_items(&emu.state_json(), "pools")
        .into_iter()
        .find(|p| p["name"] == "hand-made")
        .unwrap();
    assert_eq!(foreign_before, foreign_after, "foreign pool never written");
    c.shutdown.cancel();
}

#[tokio::test]
async fn second_pass_makes_only_reads() {
    let emu = emulator().await;
    // A pass on objects in hand: no API server is involved.
    let ing: Vec<std::sync::Arc<k8s_openapi::api::networking::v1::Ingress>> =
        vec![std::sync::Arc::new(
            serde_json::from_value(ingress("web", "fra1", &["203.0.113.10"])).unwrap(),
        )];
    let mut engine = GeoEngine::new(
        client(&emu),
        settings(&emu, "eu", "owner-eu"),
        Reporter::Log,
        fast_timing(),
    );
    let first = engine.pass(&ing).await.unwrap();
    assert!(!first.written.is_empty());
    emu.reset_calls();
    let second = engine.pass(&ing).await.unwrap();
    assert!(second.written.is_empty(), "{:?}", second.written);
    let calls = emu.call_log();
    assert!(calls.iter().all(|c| c.method == "GET"), "{calls:?}");
    assert_eq!(calls.len(), 3, "one read each of pools, monitors and LBs");
}

#[tokio::test]
async fn bad_ingresses_get_events_and_the_others_go_on() {
    let emu = emulator().await;
    let c = start_cluster(&emu, settings(&emu, "eu", "owner-eu"), fast_timing()).await;
    let mut no_label = ingress("nolabel", "x", &["203.0.113.1"]);
    no_label["metadata"]["labels"]
        .as_object_mut()
        .unwrap()
        .remove("cluster-name");
    c.kube.apply(no_label);
    c.kube
        .apply(ingress("dots", "bad.name.with.dots", &["203.0.113.2"]));
    c.kube
        .apply(ingress("long", &"x".repeat(63), &["203.0.113.3"]));
    let mut outside = ingress("outside", "fra1", &["203.0.113.4"]);
    outside["metadata"]["annotations"] = json!({"cfgeo.io/lb-hostname": "app.other.org"});
    c.kube.apply(outside);
    c.kube.apply(ingress("nostatus", "fra1", &[]));
    c.kube.apply(ingress("badaddr", "fra1", &["not a host!"]));
    c.kube.apply(ingress(
        "good",
        "fra1",
        &["203.0.113.9", "lb.elb.example.net"],
    ));
    let reasons = [
        "MissingClusterLabel",
        "HostnameOutsideZone",
        "NoAddressYet",
        "InvalidAddress",
    ];
    assert!(
        c.kube
            .wait_until(T, |k| {
                let ev = serde_json::to_string(&k.events()).unwrap();
                reasons.iter().all(|r| ev.contains(r))
            })
            .await,
        "every bad object gets an Event: {:?}",
        c.kube.events()
    );
    let ev = serde_json::to_string(&c.kube.events()).unwrap();
    assert!(
        ev.contains("cluster-name") && ev.contains("status.loadBalancer.ingress[0].hostname"),
        "{ev}"
    );
    // Dots are mapped into a valid pool name; the good Ingress still reaches Cloudflare.
    eventually("good pools", T, || {
        let p = pools(&emu);
        p.contains_key("k8s-pool-bad-name-with-dots-eu")
            && p.get(POOL)
                .is_some_and(|o| o.iter().any(|(a, _)| a == "lb.elb.example.net"))
    })
    .await;
    assert!(!pools(&emu).keys().any(|k| k.contains("other")));
    c.shutdown.cancel();
}

#[tokio::test]
async fn a_refused_write_does_not_stop_the_rest_and_is_retried() {
    let emu = emulator().await;
    // The first pool creation is refused; the pool of the other hostname goes on.
    emu.inject_fault(FaultSpec::new(
        "POST",
        "/client/v4/accounts/*/load_balancers/pools",
        1,
        FaultAction::status(400),
    ))
    .unwrap();
    let c = start_real_cluster(&emu, settings(&emu, "eu", "owner-eu"), fast_timing()).await;
    let mut shop = ingress("shop", "fra1", &["203.0.113.30"]);
    shop["metadata"]["annotations"] = json!({"cfgeo.io/lb-hostname": "shop.example.com"});
    c.kube
        .apply(ingress("web", "fra1", &["203.0.113.10"]))
        .await;
    c.kube.apply(shop).await;
    const SHOP_POOL: &str = "k8s-pool-fra1-eu-shop-example-com";
    eventually(
        "both pools and LBs, the refused one after a retry",
        T,
        || {
            lb_pool_names(&emu, "shop.example.com") == Some(vec![SHOP_POOL.into()])
                && lb_pool_names(&emu, "app.example.com") == Some(vec![POOL.into()])
        },
    )
    .await;
    let log = emu.call_log();
    let refused = log
        .iter()
        .position(|c| c.method == "POST" && c.route.ends_with("/pools") && c.status == Some(400))
        .expect("the first pool creation was refused");
    let shop_lb = log
        .iter()
        .position(|c| c.method == "POST" && c.route.contains("/zones/") && c.status == Some(200))
        .expect("an LB was created");
    let second_pool_ok = log
        .iter()
        .enumerate()
        .filter(|(_, c)| c.method == "POST" && c.route.ends_with("/pools") && c.status == Some(200))
        .map(|(i, _)| i)
        .collect::<Vec<_>>();
    assert!(
        refused < shop_lb,
        "the rest of the pass went on after the refusal"
    );
    assert_eq!(
        second_pool_ok.len(),
        2,
        "both pools were created in the end"
    );
    assert!(
        c.kube
            .wait_events(Duration::from_secs(5), |ev| {
                ev.iter().any(|e| {
                    e.to_string().contains("CloudflareRefused") && e.to_string().contains("\"web\"")
                })
            })
            .await,
        "a Warning Event on the Ingress whose pool was refused"
    );
    c.shutdown.cancel();
}

#[tokio::test]
async fn an_lb_create_answered_1003_adopts_the_existing_lb() {
    let emu = emulator().await;
    // eu's LB creation is held at Cloudflare while us_east creates the LB first.
    emu.inject_fault(FaultSpec::new(
        "POST",
        "/client/v4/zones/*/load_balancers",
        1,
        FaultAction::latency(2500),
    ))
    .unwrap();
    // Both control planes are up before eu's create is sent, so us_east's lands inside the hold.
    let eu = start_real_cluster(&emu, settings(&emu, "eu", "owner-eu"), fast_timing()).await;
    let us = start_real_cluster(&emu, settings(&emu, "us_east", "owner-us"), fast_timing()).await;
    eu.kube
        .apply(ingress("web", "fra1", &["203.0.113.10"]))
        .await;
    eventually("eu's LB creation is in flight", T, || {
        pools(&emu).contains_key(POOL)
    })
    .await;
    us.kube
        .apply(ingress("web", "nyc1", &["198.51.100.5"]))
        .await;
    eventually("one LB with both pools", T, || {
        let mut l = lb_pool_names(&emu, "app.example.com").unwrap_or_default();
        l.sort();
        l == vec![POOL.to_string(), "k8s-pool-nyc1-us_east".into()]
    })
    .await;
    // us_east's create listed both pools; eu's held create then meets 1003 and adopts.
    eventually("eu's create answered", T, || {
        emu.call_log()
            .iter()
            .any(|c| c.method == "POST" && c.route.contains("/zones/") && c.status == Some(400))
    })
    .await;
    eventually("eu's pass finished", T, || {
        emu.call_log()
            .iter()
            .rev()
            .take_while(|c| !(c.method == "POST" && c.route.contains("/zones/")))
            .filter(|c| c.method == "GET" && c.route.ends_with("/load_balancers"))
            .count()
            >= 1
    })
    .await;
    let mut l = lb_pool_names(&emu, "app.example.com").unwrap_or_default();
    l.sort();
    assert_eq!(l, vec![POOL.to_string(), "k8s-pool-nyc1-us_east".into()]);
    let log = emu.call_log();
    let creates: Vec<Option<u16>> = log
        .iter()
        .filter(|c| c.method == "POST" && c.route.contains("/zones/"))
        .map(|c| c.status)
        .collect();
    assert!(
        creates.contains(&Some(200)) && creates.contains(&Some(400)),
        "one create won and the other met 1003: {creates:?}\n{}",
        log.iter()
            .map(|c| format!("{} {} {} {:?}", c.at_ms, c.method, c.route, c.status))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(
        state_items(&emu.state_json(), "load_balancers").len(),
        1,
        "one LB"
    );
    let events = serde_json::to_string(&eu.kube.events().await).unwrap();
    assert!(
        !events.contains("CloudflareRefused") && !events.contains("CloudflareError"),
        "1003 is adopted, not reported as an error: {events}"
    );
    eu.shutdown.cancel();
    us.shutdown.cancel();
}
