//! The admin server over real HTTP: readiness, liveness and the OpenMetrics exposition.

use std::net::SocketAddr;
use std::time::Duration;

use cfgeo::admin::{self, Engine, Health, Metrics, OPENMETRICS_CONTENT_TYPE, ReconcileResult};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(10);

struct Running {
    base: String,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), admin::AdminError>>,
    http: reqwest::Client,
}

impl Running {
    async fn start(health: Health, metrics: Metrics) -> Self {
        let shutdown = CancellationToken::new();
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let server = admin::bind(addr, health, metrics, shutdown.clone())
            .await
            .expect("admin server binds");
        let bound = server.local_addr();
        assert_ne!(bound.port(), 0, "the real port is reported");
        Self {
            base: format!("http://{bound}"),
            shutdown,
            task: tokio::spawn(server.run()),
            http: http_client(),
        }
    }

    async fn get(&self, path: &str) -> (u16, String, String) {
        let resp = tokio::time::timeout(WAIT, self.http.get(format!("{}{path}", self.base)).send())
            .await
            .expect("answer in time")
            .expect("request succeeds");
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (status, content_type, resp.text().await.expect("body"))
    }

    async fn stop(self) {
        drop(self.http);
        self.shutdown.cancel();
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("server stops on shutdown")
            .expect("server task")
            .expect("server ends cleanly");
    }
}

/// The crate builds reqwest without a default TLS provider; building a client needs one even
/// for plain http.
fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

#[tokio::test]
async fn readyz_waits_for_every_condition() {
    let health = Health::new();
    let ingress = health.condition("watch/ingress");
    let token = health.token_verified();
    let server = Running::start(health.clone(), Metrics::new()).await;

    let (status, _, body) = server.get("/readyz").await;
    assert_eq!(status, 503);
    assert!(body.contains("watch/ingress"), "{body}");
    assert!(body.contains(admin::TOKEN_VERIFIED), "{body}");

    ingress.set(true);
    let (status, _, body) = server.get("/readyz").await;
    assert_eq!(status, 503);
    assert!(!body.contains("watch/ingress"), "{body}");
    assert!(body.contains(admin::TOKEN_VERIFIED), "{body}");

    token.set(true);
    let (status, _, body) = server.get("/readyz").await;
    assert_eq!((status, body.trim()), (200, "ok"));

    // A condition registered later, or one that goes back, makes it unready again.
    let late = health.condition("watch/service");
    let (status, _, body) = server.get("/readyz").await;
    assert_eq!(status, 503);
    assert!(body.contains("watch/service"), "{body}");
    late.set(true);
    // The same name returns the same condition.
    health.condition("watch/ingress").set(false);
    assert!(!ingress.get());
    assert_eq!(health.not_ready(), vec!["watch/ingress".to_owned()]);
    assert_eq!(server.get("/readyz").await.0, 503);
    ingress.set(true);
    assert_eq!(server.get("/readyz").await.0, 200);

    server.stop().await;
}

#[tokio::test]
async fn livez_always_answers() {
    let health = Health::new();
    let _never = health.condition("never");
    let server = Running::start(health, Metrics::new()).await;
    let (status, _, body) = server.get("/livez").await;
    assert_eq!((status, body.trim()), (200, "ok"));
    assert_eq!(server.get("/readyz").await.0, 503);
    assert_eq!(server.get("/nope").await.0, 404);
    server.stop().await;
}

#[tokio::test]
async fn metrics_expose_every_family() {
    let metrics = Metrics::new();
    let server = Running::start(Health::new(), metrics.clone()).await;

    metrics.reconciled(Engine::Geo, ReconcileResult::Ok, Duration::from_millis(20));
    metrics.reconciled(Engine::Geo, ReconcileResult::Ok, Duration::from_millis(30));
    metrics.reconciled(
        Engine::Records,
        ReconcileResult::Error,
        Duration::from_secs(2),
    );
    metrics.cloudflare_call("dns_records.batch", "200");
    metrics.cloudflare_call("dns_records.batch", "429");
    metrics.cloudflare_call("pools.list", "error");
    metrics.set_budget(1187);
    metrics.add_rate_limited(2.5);
    metrics.add_rate_limited(-1.0);
    metrics.add_rate_limited(f64::NAN);
    metrics.set_managed_records(42);
    metrics.set_managed_pools(3);
    metrics.error(Engine::Records, "rate_limited");
    metrics.set_leader(true);

    let (status, content_type, body) = server.get("/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(content_type, OPENMETRICS_CONTENT_TYPE);
    assert!(body.ends_with("# EOF\n"), "{body}");

    for family in [
        "cfgeo_reconcile_total",
        "cfgeo_reconcile_duration_seconds",
        "cfgeo_cloudflare_requests_total",
        "cfgeo_cloudflare_budget_available",
        "cfgeo_cloudflare_rate_limited_seconds_total",
        "cfgeo_managed_records",
        "cfgeo_managed_pools",
        "cfgeo_last_success_timestamp_seconds",
        "cfgeo_errors_total",
        "cfgeo_leader",
    ] {
        assert!(
            body.lines().any(|l| l.starts_with(family)),
            "{family} missing:\n{body}"
        );
    }
    for sample in [
        r#"cfgeo_reconcile_total{engine="geo",result="ok"} 2"#,
        r#"cfgeo_reconcile_total{engine="records",result="error"} 1"#,
        r#"cfgeo_reconcile_duration_seconds_count{engine="geo"} 2"#,
        r#"cfgeo_reconcile_duration_seconds_sum{engine="records"} 2.0"#,
        r#"cfgeo_cloudflare_requests_total{endpoint="dns_records.batch",status="429"} 1"#,
        r#"cfgeo_cloudflare_requests_total{endpoint="pools.list",status="error"} 1"#,
        "cfgeo_cloudflare_budget_available 1187",
        "cfgeo_cloudflare_rate_limited_seconds_total 2.5",
        "cfgeo_managed_records 42",
        "cfgeo_managed_pools 3",
        r#"cfgeo_errors_total{engine="records",kind="rate_limited"} 1"#,
        "cfgeo_leader 1",
    ] {
        assert!(
            body.lines().any(|l| l == sample),
            "{sample:?} missing:\n{body}"
        );
    }
    // Only a reconcile that did not fail stamps the last success.
    let stamp = body
        .lines()
        .find_map(|l| l.strip_prefix(r#"cfgeo_last_success_timestamp_seconds{engine="geo"} "#))
        .expect("geo success stamped");
    let stamp: f64 = stamp.parse().expect("a number");
    let now = jiff::Timestamp::now().as_second() as f64;
    assert!((now - stamp).abs() < 60.0, "{stamp} vs {now}");
    assert!(
        !body.contains(r#"cfgeo_last_success_timestamp_seconds{engine="records"}"#),
        "{body}"
    );

    metrics.set_leader(false);
    let (_, _, body) = server.get("/metrics").await;
    assert!(body.lines().any(|l| l == "cfgeo_leader 0"), "{body}");
    assert_eq!(body, metrics.encode(), "the endpoint serves encode()");

    server.stop().await;
}

#[tokio::test]
async fn tracked_cloudflare_client_is_copied_at_scrape() {
    use cfgeo::cloudflare::{ApiToken, Client, ClientSettings, TokenSource};
    let client = Client::new(
        ClientSettings {
            rate_limit: 100,
            ..ClientSettings::default()
        },
        TokenSource::Static(ApiToken::new("cfgeo-admin-test-token")),
    )
    .expect("client");
    let metrics = Metrics::new();
    metrics.track_cloudflare(&client);
    client.budget().pause_for(Duration::from_secs(3));
    let body = metrics.encode();
    assert!(
        body.lines()
            .any(|l| l == "cfgeo_cloudflare_budget_available 0"),
        "{body}"
    );
    let paused = |body: &str| {
        body.lines()
            .find_map(|l| l.strip_prefix("cfgeo_cloudflare_rate_limited_seconds_total "))
            .and_then(|v| v.parse::<f64>().ok())
            .expect("rate limited seconds")
    };
    let first = paused(&body);
    assert!((2.9..=3.1).contains(&first), "{first}");
    // A second scrape adds only what is new: nothing.
    assert_eq!(paused(&metrics.encode()), first);
}

#[tokio::test]
async fn bind_reports_a_busy_port() {
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = taken.local_addr().unwrap();
    let err = admin::bind(
        addr,
        Health::new(),
        Metrics::new(),
        CancellationToken::new(),
    )
    .await
    .expect_err("port in use");
    assert!(matches!(err, admin::AdminError::Bind { .. }), "{err}");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

#[tokio::test]
async fn serve_stops_on_shutdown() {
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(admin::serve(
        "127.0.0.1:0".parse().unwrap(),
        Health::new(),
        Metrics::new(),
        shutdown.clone(),
    ));
    shutdown.cancel();
    tokio::time::timeout(WAIT, task)
        .await
        .expect("stops")
        .expect("task")
        .expect("clean stop");
}
