//! The real binary as a process: readiness, metrics, graceful shutdown on SIGTERM, and token
//! rotation through a mounted file, all over real HTTP.

mod common;

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cfgeo::cloudflare::{Client, ClientSettings, TokenSource};
use cfgeo::emulator::{Emulator, EmulatorConfig};

const TOKEN: &str = "cfgeo-process-token-Q7v2KxL9";
const ROTATED: &str = "cfgeo-process-token-rotated-W3m8";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    let status = body.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body))
}

fn spawn(port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_cfgeo"))
        .args([
            "run",
            "--embedded-emulator",
            "--manifests",
            "examples/clusters/eu",
            "--source",
            "ingress",
            "--source",
            "service",
            "--source",
            "crd",
            "--admin-addr",
            &format!("127.0.0.1:{port}"),
            "--log-format",
            "json",
        ])
        .env("CF_API_TOKEN", TOKEN)
        .env("GEO_LOCATION", "eu")
        .env("CF_LB_HOSTNAME", "app.example.com")
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cfgeo starts")
}

/// Waits for `f` on a process we do not control, polling (there is no event to wait on).
fn poll_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn ready_after_sync_metrics_then_sigterm_exits_cleanly() {
    let port = free_port();
    let mut child = spawn(port);
    poll_until("readyz 200", Duration::from_secs(60), || {
        http_get(port, "/readyz").is_some_and(|(s, _)| s == 200)
    });
    assert_eq!(http_get(port, "/livez").map(|r| r.0), Some(200));
    // Both engines have completed a pass once the records gauge is set.
    let mut metrics = String::new();
    poll_until("both engines' first pass", Duration::from_secs(30), || {
        metrics = http_get(port, "/metrics").map(|r| r.1).unwrap_or_default();
        metrics.contains("cfgeo_managed_records 5")
            && metrics.contains("cfgeo_managed_pools 1")
            && metrics.contains("cfgeo_last_success_timestamp_seconds{engine=\"geo\"}")
    });
    for family in [
        "cfgeo_leader 1",
        "cfgeo_reconcile_total{engine=\"records\"",
        "cfgeo_reconcile_total{engine=\"geo\"",
        "cfgeo_cloudflare_requests_total{endpoint=\"dns_records.batch\",status=\"200\"}",
        "cfgeo_last_success_timestamp_seconds{engine=\"geo\"}",
        "cfgeo_cloudflare_budget_available",
        "cfgeo_managed_pools 1",
    ] {
        assert!(metrics.contains(family), "missing {family} in\n{metrics}");
    }
    // The admin server's status page, read with the run's own client.
    let (code, page) = http_get(port, "/status").expect("/status answers");
    assert_eq!(code, 200, "{page}");
    assert!(
        page.contains("k8s-pool-fra1-eu") && page.contains("<svg"),
        "{page}"
    );
    assert!(
        !page.contains(TOKEN),
        "the token leaked into the status page"
    );

    let started = Instant::now();
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit status after SIGTERM: {status:?}");
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(
        out.contains("\"stopped\"") || out.contains("stopped"),
        "{out}"
    );
    assert!(!out.contains(TOKEN), "the token leaked into the logs");
    assert!(!metrics.contains(TOKEN));
    // Every line is JSON with --log-format json.
    for line in out.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "not JSON: {line}"
        );
    }
}

#[tokio::test]
async fn a_rotated_token_file_is_used_without_a_restart() {
    let emu = Emulator::start(EmulatorConfig {
        tokens: vec![TOKEN.into(), ROTATED.into()],
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("api-token");
    std::fs::write(&file, format!("{TOKEN}\n")).unwrap();
    let client = Client::new(
        ClientSettings {
            base_url: emu.base_url(),
            ..ClientSettings::default()
        },
        TokenSource::from_settings(None, Some(&file)).unwrap(),
    )
    .unwrap();
    let zone = emu.zone_id("example.com").unwrap();
    client.get_zone(&zone).await.unwrap();
    // The Secret is updated in place (kubelet swaps the file).
    let tmp = dir.path().join("api-token.new");
    std::fs::write(&tmp, ROTATED).unwrap();
    std::fs::rename(&tmp, &file).unwrap();
    client.get_zone(&zone).await.unwrap();
    let prints: Vec<String> = emu
        .call_log()
        .iter()
        .map(|c| c.token_fingerprint.clone().unwrap_or_default())
        .collect();
    assert_eq!(prints.len(), 2);
    assert_ne!(prints[0], prints[1], "the second call used the new token");
    assert!(
        prints.iter().all(|p| !p.is_empty()),
        "both calls authenticated"
    );
    let _ = common::TOKEN;
}

#[test]
fn plan_exits_2_with_changes_and_prints_a_diff() {
    let out = Command::new(env!("CARGO_BIN_EXE_cfgeo"))
        .args([
            "plan",
            "--embedded-emulator",
            "--manifests",
            "examples/clusters/eu",
            "--source",
            "ingress",
            "--source",
            "crd",
        ])
        .env("GEO_LOCATION", "eu")
        .env("CF_LB_HOSTNAME", "app.example.com")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    // One complete plan: every phase, numbered, each step with what it expects.
    for step in [
        "geo: 1. [Monitors] create monitor for pool k8s-pool-fra1-eu",
        "geo: 2. [Pools] create pool k8s-pool-fra1-eu",
        "geo: 3. [Lbs] create load balancer app.example.com",
    ] {
        assert!(stdout.contains(step), "{step}: {stdout}");
    }
    assert!(stdout.contains("(expects: does not exist yet)"), "{stdout}");
    assert!(
        stdout.contains("+ A docs.example.com 203.0.113.21 ttl=300"),
        "{stdout}"
    );
    assert!(
        stdout.contains("+ CNAME status.example.com statuspage.example.net"),
        "{stdout}"
    );
    assert!(!stdout.contains("\u{1b}["), "no colour when not a terminal");
    // Nothing to do: exit 0.
    let out = Command::new(env!("CARGO_BIN_EXE_cfgeo"))
        .args([
            "plan",
            "--embedded-emulator",
            "--manifests",
            "examples/clusters/eu",
            "--source",
            "service",
        ])
        .env("RUST_LOG", "warn")
        .arg("--annotation-filter")
        .arg("nothing=matches")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
