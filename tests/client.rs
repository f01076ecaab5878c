//! The Cloudflare client against the emulator over real HTTP: paging, the shared budget under a
//! 429 storm, several processes pacing on one token, writes never resent after a 429, retries
//! and their limits, `success:false`, and the token kept out of every log.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cfgeo::cloudflare::types::{DnsRecordInput, Origin, PoolInput, PoolPatch, RecordType};
use cfgeo::cloudflare::{ApiToken, Client, ClientSettings, TokenSource};
use cfgeo::emulator::{Emulator, EmulatorConfig, FaultAction, FaultSpec};
use common::*;

fn rec(i: usize) -> DnsRecordInput {
    DnsRecordInput {
        name: format!("r{i}.example.com"),
        record_type: RecordType::A,
        content: format!("192.0.2.{}", i % 250 + 1),
        ttl: 1,
        proxied: false,
        comment: None,
        tags: vec![],
        priority: None,
    }
}

#[tokio::test]
async fn lists_every_page() {
    let emu = emulator().await;
    let zone = emu.zone_id("example.com").unwrap();
    let c = client(&emu);
    for i in 0..230 {
        c.create_dns_record(&zone, &rec(i)).await.unwrap();
    }
    let settings = ClientSettings {
        base_url: emu.base_url(),
        dns_per_page: 50,
        ..ClientSettings::default()
    };
    let paged = Client::new(settings, TokenSource::Static(ApiToken::new(TOKEN))).unwrap();
    emu.reset_calls();
    let all = paged.list_dns_records(&zone, None, None).await.unwrap();
    assert_eq!(all.iter().filter(|r| r.name.starts_with('r')).count(), 230);
    assert_eq!(
        emu.call_log().len(),
        all.len().div_ceil(50),
        "one call per page, none past the end"
    );
}

#[tokio::test]
async fn a_429_storm_pauses_the_budget_and_no_window_exceeds_the_limit() {
    let limit = 15u32;
    let window = Duration::from_secs(2);
    let emu = Emulator::start(EmulatorConfig {
        rate_limit: limit,
        rate_window: window,
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    // Extra 429s with Retry-After on top of the real limit.
    emu.inject_fault(FaultSpec::new(
        "GET",
        "/client/v4/zones",
        4,
        FaultAction::rate_limited(1),
    ))
    .unwrap();
    let settings = ClientSettings {
        base_url: emu.base_url(),
        rate_limit: limit,
        rate_window: window,
        backoff_min: Duration::from_millis(10),
        ..ClientSettings::default()
    };
    let c = Client::new(settings, TokenSource::Static(ApiToken::new(TOKEN))).unwrap();
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.list_zones(None).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().expect("every call succeeds in the end");
    }
    assert!(
        c.budget().paused_total() >= Duration::from_secs(1),
        "the 429s paused the budget"
    );
    let times: Vec<u64> = emu.call_log().iter().map(|c| c.at_ms).collect();
    for (i, t) in times.iter().enumerate() {
        let n = times[i..]
            .iter()
            .filter(|u| **u < t + window.as_millis() as u64)
            .count();
        assert!(
            n <= limit as usize,
            "{n} calls in the window starting at {t} ms"
        );
    }
    let real_429 = emu
        .call_log()
        .iter()
        .filter(|c| c.status == Some(429) && c.fault.is_none())
        .count();
    assert_eq!(
        real_429, 0,
        "the budget kept us under the emulator's own limit"
    );
}

#[tokio::test]
async fn five_processes_on_one_token_pace_by_the_servers_remaining_and_get_no_429() {
    let limit = 60u32;
    let window = Duration::from_secs(4);
    let emu = Emulator::start(EmulatorConfig {
        rate_limit: limit,
        rate_window: window,
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    // Five independent clients (as five processes would have), each believing it owns the
    // whole quota; 120 calls need at least a second window.
    let clients: Vec<Client> = (0..5)
        .map(|_| {
            let settings = ClientSettings {
                base_url: emu.base_url(),
                rate_limit: limit,
                rate_window: window,
                backoff_min: Duration::from_millis(10),
                ..ClientSettings::default()
            };
            Client::new(settings, TokenSource::Static(ApiToken::new(TOKEN))).unwrap()
        })
        .collect();
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for c in &clients {
        // Two workers per process, each calling back to back.
        for _ in 0..2 {
            let c = c.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..12 {
                    c.list_zones(None).await?;
                }
                Ok::<_, cfgeo::cloudflare::CloudflareError>(())
            }));
        }
    }
    for t in tasks {
        t.await.unwrap().expect("every call succeeds");
    }
    let took = started.elapsed();
    let log = emu.call_log();
    let limited = log.iter().filter(|c| c.status == Some(429)).count();
    assert_eq!(limited, 0, "no 429 for processes sharing a token");
    assert_eq!(log.iter().filter(|c| c.status == Some(200)).count(), 120);
    for c in &clients {
        assert!(
            c.stats()
                .snapshot()
                .keys()
                .all(|(_, outcome)| outcome == "200"),
            "{:?}",
            c.stats().snapshot()
        );
        assert_eq!(c.budget().paused_total(), Duration::ZERO, "nobody paused");
    }
    clients[0].list_zones(None).await.unwrap();
    let left = clients[0].budget().server_remaining();
    assert!(left.is_some_and(|r| r < limit), "{left:?}");
    assert!(took >= window, "paced into a second window: {took:?}");
}

fn pool_input(name: &str) -> PoolInput {
    PoolInput {
        name: name.into(),
        description: None,
        enabled: true,
        origins: vec![Origin {
            name: "o1".into(),
            address: "192.0.2.10".into(),
            enabled: true,
            weight: 1.0,
            header: None,
        }],
        latitude: None,
        longitude: None,
        monitor: None,
        minimum_origins: None,
    }
}

#[tokio::test]
async fn a_write_answered_429_is_sent_once_and_asks_for_a_replan() {
    let emu = emulator().await;
    let acct = emu.account_id();
    let zone = emu.zone_id("example.com").unwrap();
    let c = client(&emu);
    let pool = c.create_pool(&acct, &pool_input("p1")).await.unwrap();
    emu.reset_calls();
    emu.inject_fault(FaultSpec::new(
        "PATCH",
        "/client/v4/accounts/*/load_balancers/pools/*",
        1,
        FaultAction::rate_limited(1),
    ))
    .unwrap();
    let patch = PoolPatch {
        enabled: Some(false),
        ..PoolPatch::default()
    };
    let e = c.patch_pool(&acct, &pool.id, &patch).await.unwrap_err();
    assert!(e.needs_replan(), "{e}");
    assert_eq!(e.status(), Some(429));
    let patches = |emu: &cfgeo::emulator::EmulatorHandle| {
        emu.call_log()
            .iter()
            .filter(|c| c.method == "PATCH")
            .count()
    };
    assert_eq!(patches(&emu), 1, "the PATCH was not resent after the pause");
    assert!(c.get_pool(&acct, &pool.id).await.unwrap().enabled);
    assert!(c.budget().paused_total() >= Duration::from_secs(1));

    // The same for a create: the record is not made behind the caller's back.
    emu.inject_fault(FaultSpec::new(
        "POST",
        "/client/v4/zones/*/dns_records",
        1,
        FaultAction::rate_limited(1),
    ))
    .unwrap();
    let e = c.create_dns_record(&zone, &rec(7)).await.unwrap_err();
    assert!(e.needs_replan() && e.is_transient(), "{e}");
    let posts = emu.call_log().iter().filter(|c| c.method == "POST").count();
    assert_eq!(posts, 1);
    assert!(
        emu.records(&zone)
            .iter()
            .all(|r| r.name != "r7.example.com")
    );

    // Reads still ride out a 429.
    emu.inject_fault(FaultSpec::new(
        "GET",
        "/client/v4/zones",
        1,
        FaultAction::rate_limited(1),
    ))
    .unwrap();
    c.list_zones(None)
        .await
        .expect("a read is retried after the pause");
    // And a refusal is not a replan.
    let e = c
        .patch_pool(&acct, "no-such-pool", &patch)
        .await
        .unwrap_err();
    assert!(!e.needs_replan(), "{e}");
}

#[tokio::test]
async fn a_write_that_waited_too_long_for_the_budget_is_not_sent() {
    let emu = emulator().await;
    let acct = emu.account_id();
    let settings = ClientSettings {
        base_url: emu.base_url(),
        stale_write_after: Duration::from_millis(300),
        ..ClientSettings::default()
    };
    let c = Client::new(settings, TokenSource::Static(ApiToken::new(TOKEN))).unwrap();
    let pool = c.create_pool(&acct, &pool_input("p1")).await.unwrap();
    emu.inject_fault(FaultSpec::new(
        "GET",
        "/client/v4/zones",
        1,
        FaultAction::rate_limited(2),
    ))
    .unwrap();
    // The read's 429 pauses the budget for 2 s and the read waits it out...
    let read = tokio::spawn({
        let c = c.clone();
        async move { c.list_zones(None).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    emu.reset_calls();
    // ...but a write planned now would go out 2 s later with a stale body: it is held back.
    let patch = PoolPatch {
        enabled: Some(false),
        ..PoolPatch::default()
    };
    let started = std::time::Instant::now();
    let e = c.patch_pool(&acct, &pool.id, &patch).await.unwrap_err();
    let waited = started.elapsed();
    match &e {
        cfgeo::cloudflare::CloudflareError::Deferred { endpoint, waited } => {
            assert_eq!(*endpoint, "pools.patch");
            assert!(*waited >= Duration::from_millis(300), "{waited:?}");
        }
        other => panic!("expected Deferred, got {other}"),
    }
    assert!(e.needs_replan() && e.to_string().contains("stale"), "{e}");
    assert!(waited < Duration::from_millis(1500), "{waited:?}");
    assert!(
        emu.call_log().iter().all(|c| c.method != "PATCH"),
        "the held-back write never reached Cloudflare"
    );
    read.await
        .unwrap()
        .expect("the read succeeds after the pause");
    // Once the pause is over, the re-planned write goes through.
    let p = c.patch_pool(&acct, &pool.id, &patch).await.unwrap();
    assert!(!p.enabled);
}

#[tokio::test]
async fn server_errors_are_retried_then_surfaced_and_posts_are_not_repeated() {
    let emu = emulator().await;
    let zone = emu.zone_id("example.com").unwrap();
    let c = client(&emu);
    emu.inject_fault(FaultSpec::new(
        "GET",
        "/client/v4/zones",
        2,
        FaultAction::status(502),
    ))
    .unwrap();
    c.list_zones(None).await.expect("two 502s are retried away");

    emu.inject_fault(FaultSpec::new(
        "GET",
        "/client/v4/zones",
        100,
        FaultAction::status(503),
    ))
    .unwrap();
    let e = c.list_zones(None).await.unwrap_err();
    assert_eq!(e.status(), Some(503), "{e}");
    emu.clear_faults();

    emu.reset_calls();
    emu.inject_fault(FaultSpec::new(
        "POST",
        "/client/v4/zones/*/dns_records",
        1,
        FaultAction::status(500),
    ))
    .unwrap();
    assert_eq!(
        c.create_dns_record(&zone, &rec(1))
            .await
            .unwrap_err()
            .status(),
        Some(500)
    );
    assert_eq!(
        emu.call_log().len(),
        1,
        "a create with an unknown outcome is not repeated"
    );

    emu.inject_fault(FaultSpec::new(
        "GET",
        "/client/v4/zones",
        1,
        FaultAction::drop_connection(),
    ))
    .unwrap();
    c.list_zones(None)
        .await
        .expect("a dropped connection on a read is retried");
}

#[tokio::test]
async fn success_false_on_200_and_non_json_are_errors_with_cloudflare_text() {
    use axum::{Router, routing::get};
    let app = Router::new()
        .route(
            "/client/v4/zones",
            get(|| async { axum::Json(serde_json::json!({"success": false, "errors": [{"code": 1234, "message": "nope"}], "messages": [], "result": null})) }),
        )
        .route("/client/v4/user/tokens/verify", get(|| async { "<html>not json</html>" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let settings = ClientSettings {
        base_url: format!("http://{addr}/client/v4"),
        ..ClientSettings::default()
    };
    let c = Client::new(settings, TokenSource::Static(ApiToken::new(TOKEN))).unwrap();
    let e = c.list_zones(None).await.unwrap_err();
    assert!(e.has_code(1234) && e.to_string().contains("nope"), "{e}");
    let e = c.verify_token().await.unwrap_err().to_string();
    assert!(e.contains("decoded") && e.contains("not json"), "{e}");
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_token_never_appears_in_logs_errors_or_debug_output() {
    let cap = Capture::default();
    let writer = cap.clone();
    let sub = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _g = tracing::subscriber::set_default(sub);
    let emu = Emulator::start(EmulatorConfig {
        tokens: vec!["some-other-token".into()],
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let c = client(&emu);
    let e = c.list_zones(None).await.unwrap_err();
    assert_eq!(e.status(), Some(403));
    let mut all = String::from_utf8(cap.0.lock().unwrap().clone()).unwrap();
    all.push_str(&format!("{e} {e:?} {c:?}"));
    all.push_str(&serde_json::to_string(&emu.call_log()).unwrap());
    assert!(!all.is_empty());
    assert!(!all.contains(TOKEN), "token leaked: {all}");
}
