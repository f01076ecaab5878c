//! Secret hygiene (issue "Evidence"): the API token never appears in logs at trace level,
//! error messages, panics, Debug output, metrics or Events, in process or from the real binary.
//! Its own test binary, so that the in-process slice's log subscriber can be the global one.

mod common;
#[path = "faults/rig.rs"]
mod rig;

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cfgeo::cloudflare::{ApiToken, Client, ClientSettings, TokenSource};
use cfgeo::emulator::{FaultAction, FaultSpec};
use cfgeo::records::sources::SourceKind;
use common::evidence::*;
use common::{fast_timing, ingress, lb_pool_names, pools, settings, status};
use fake_kube::{FakeKube, FakeKubeHandle};
use rig::*;
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const SECRET: &str = "cfgeo-secret-token-ZQ8xv4Lr9TqW2mNs7Hd3pK6y";
/// The distinctive tail alone, in case something prints a truncated or re-quoted token.
const SECRET_TAIL: &str = "ZQ8xv4Lr9TqW2mNs7Hd3pK6y";

fn hits(text: &str) -> usize {
    text.matches(SECRET).count() + text.matches(SECRET_TAIL).count()
}

/// A `MakeWriter` appending to a shared buffer.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Buffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

fn kubeconfig(kube: &FakeKubeHandle, dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n    namespace: default\ncurrent-context: fake\nusers:\n- name: fake\n  user: {{}}\n",
            kube.url()
        ),
    )
    .unwrap();
    path
}

/// A child process whose stdout and stderr are collected as they come.
struct Child {
    child: std::process::Child,
    out: Buffer,
    err: Buffer,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Child {
    fn spawn(mut cmd: std::process::Command) -> Self {
        use std::process::Stdio;
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cfgeo starts");
        let (out, err) = (Buffer::default(), Buffer::default());
        let mut readers = Vec::new();
        let pipes: [(Box<dyn std::io::Read + Send>, Buffer); 2] = [
            (Box::new(child.stdout.take().unwrap()), out.clone()),
            (Box::new(child.stderr.take().unwrap()), err.clone()),
        ];
        for (mut pipe, mut buf) in pipes {
            readers.push(std::thread::spawn(move || {
                let _ = std::io::copy(&mut pipe, &mut buf);
            }));
        }
        Self {
            child,
            out,
            err,
            readers,
        }
    }

    fn signal(&self, sig: &str) {
        let ok = std::process::Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs")
            .success();
        assert!(ok, "kill -{sig} {}", self.child.id());
    }

    /// Waits for exit (bounded) and returns (exit code, stdout, stderr).
    async fn finish(mut self) -> (Option<i32>, String, String) {
        let deadline = Instant::now() + T;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                break self.child.wait().expect("wait after kill");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        for r in self.readers {
            let _ = r.join();
        }
        (status.code(), self.out.text(), self.err.text())
    }
}

fn cfgeo_cmd() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_cfgeo"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "debug");
    cmd
}

async fn http_get(url: &str) -> String {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
        .get(url)
        .send()
        .await
        .expect("GET answers")
        .text()
        .await
        .expect("body")
}

/// The in-process slice: engines, errors and a panic with the secret token, every log line
/// captured at trace level.
async fn secrets_in_process(ev: &mut Evidence) -> BTreeMap<&'static str, (usize, usize)> {
    let logs = Buffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    // Global, and this binary's only test: every thread logs through it, and no callsite's
    // interest can be cached as "never" by another test before it exists (a scoped default
    // raced with the other fault cases when they shared a binary).
    tracing::subscriber::set_global_default(subscriber).expect("the first and only subscriber");
    let mut seen: BTreeMap<&'static str, (usize, usize)> = BTreeMap::new();
    let mut note = |what: &'static str, text: &str| {
        let e = seen.entry(what).or_default();
        e.0 += text.len();
        e.1 += hits(text);
    };

    let emu = emulator_with(1200, Duration::from_secs(300), vec![SECRET.into()]).await;
    let zone = emu.zone_id("example.com").unwrap();
    let kube = FakeKube::start().await.unwrap();
    kube.apply(plain_ingress("web", &["web.example.com"], &["192.0.2.1"]));
    kube.apply(ann_ingress(
        "bad",
        "bad.example.com",
        "192.0.2.2",
        json!({"external-dns.alpha.kubernetes.io/ttl": "abc"}),
    ));
    kube.apply(ingress("geo", "fra1", &["203.0.113.1"]));
    let client = budget_client(&emu, SECRET, 1200);
    let metrics = cfgeo::admin::Metrics::new();
    metrics.track_cloudflare(&client);
    let health = cfgeo::admin::Health::new();
    let admin_stop = CancellationToken::new();
    let admin = cfgeo::admin::bind(
        "127.0.0.1:0".parse().unwrap(),
        health,
        metrics.clone(),
        admin_stop.clone(),
    )
    .await
    .unwrap();
    let admin_url = format!("http://{}/metrics", admin.local_addr());
    tokio::spawn(admin.run());
    let kc = kube.client().await.unwrap();
    let records = spawn_records(
        kc.clone(),
        client.clone(),
        &zone,
        record_settings(OWNER),
        &[SourceKind::Ingress],
    )
    .await;
    let geo = spawn_geo(
        kc,
        client.clone(),
        settings(&emu, "eu", OWNER),
        fast_timing(),
    );
    let first = wait_for(T, || {
        record_set(&emu, &zone).contains(&(
            "A".into(),
            "web.example.com".into(),
            "192.0.2.1".into(),
        )) && pools(&emu).contains_key("k8s-pool-fra1-eu")
    })
    .await;
    assert!(first, "first convergence");
    // Faults, then changes that must go through them.
    for s in [
        FaultSpec::new("*", "/client/v4/**", 2, FaultAction::rate_limited(1)),
        FaultSpec::new("*", "/client/v4/**", 3, FaultAction::status(500)),
        FaultSpec::new("*", "/client/v4/**", 2, FaultAction::drop_connection()),
    ] {
        emu.inject_fault(s).unwrap();
    }
    kube.apply(plain_ingress("web2", &["web2.example.com"], &["192.0.2.3"]));
    kube.set_status(
        "networking.k8s.io/v1",
        "Ingress",
        Some("shop"),
        "geo",
        status(&["203.0.113.2"]),
    );
    let converged = wait_for(T, || {
        record_set(&emu, &zone).contains(&(
            "A".into(),
            "web2.example.com".into(),
            "192.0.2.3".into(),
        )) && pools(&emu).get("k8s-pool-fra1-eu") == Some(&vec![("203.0.113.2".to_string(), true)])
            && emu.call_log().iter().filter(|c| c.fault.is_some()).count() == 7
    })
    .await;
    ev.check(
        converged,
        "the slice ran for real: both engines converged through 429, 500 and dropped connections",
        "no convergence",
    );
    note(
        "metrics (/metrics of the admin server)",
        &http_get(&admin_url).await,
    );
    note(
        "Kubernetes Events",
        &serde_json::to_string(&kube.events()).unwrap(),
    );
    note(
        "emulator call log and state",
        &format!(
            "{}{}",
            serde_json::to_string(&emu.call_log()).unwrap(),
            emu.state_json()
        ),
    );
    records.stop(ev).await;
    geo.stop(ev).await;
    admin_stop.cancel();

    // Errors with the secret as a token that Cloudflare refuses, and a panic on one.
    let strict = emulator_with(1200, Duration::from_secs(300), vec!["another-token".into()]).await;
    let refused = budget_client(&strict, SECRET, 1200);
    let mut errors = String::new();
    let e = refused
        .get_zone(&strict.zone_id("example.com").unwrap())
        .await
        .expect_err("403");
    errors.push_str(&format!("{e}\n{e:?}\n"));
    let e = refused
        .list_pools(&strict.account_id())
        .await
        .expect_err("403");
    errors.push_str(&format!("{e}\n{e:?}\n"));
    let unreachable = Client::new(
        ClientSettings {
            base_url: "http://127.0.0.1:9/client/v4".into(),
            max_retries: 0,
            ..ClientSettings::default()
        },
        TokenSource::Static(ApiToken::new(SECRET)),
    )
    .unwrap();
    let e = unreachable.verify_token().await.expect_err("no server");
    errors.push_str(&format!("{e}\n{e:?}\n"));
    let mut debug = format!("{client:?}\n{:?}\n", client.settings());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, format!("{SECRET}\n")).unwrap();
    let from_file = TokenSource::from_settings(None, Some(&file)).unwrap();
    debug.push_str(&format!("{from_file:?}\n"));
    debug.push_str(&format!(
        "{:?}\n",
        TokenSource::from_settings(Some(SECRET), None).unwrap()
    ));
    debug.push_str(&format!(
        "{:?}\n{}\n",
        ApiToken::new(SECRET),
        ApiToken::new(SECRET)
    ));
    use clap::Parser;
    let cli = cfgeo::cli::Cli::try_parse_from([
        "cfgeo",
        "run",
        "--cf-api-token",
        SECRET,
        "--geo-location",
        "eu",
    ])
    .unwrap();
    debug.push_str(&format!("{cli:?}\n"));
    let cli_err = cfgeo::cli::Cli::try_parse_from([
        "cfgeo",
        "run",
        "--cf-api-token",
        SECRET,
        "--cf-rate-limit",
        "abc",
    ])
    .expect_err("bad rate limit");
    errors.push_str(&format!("{cli_err}\n{cli_err:?}\n"));
    note("error messages (Display and Debug)", &errors);
    note(
        "Debug of the client, its settings, token sources and the parsed command line",
        &debug,
    );
    let zone2 = strict.zone_id("example.com").unwrap();
    let joined = tokio::spawn(async move {
        refused.get_zone(&zone2).await.unwrap();
    })
    .await
    .expect_err("the task panics");
    let payload = joined.into_panic();
    let panic_text = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    ev.check(
        panic_text.contains("403") || panic_text.contains("Invalid access token"),
        "control: the panic message was captured (it carries the refused call's error)",
        &panic_text,
    );
    note("a panic message (unwrap of a refused call)", &panic_text);

    let text = logs.text();
    ev.check(
        text.contains("rate limited by Cloudflare") && text.contains("records applied"),
        "control: the in-process log capture saw the engines (rate-limit warning, records applied)",
        format!("{} bytes captured", text.len()),
    );
    note("log lines, in-process at trace level", &text);
    seen
}

/// The real binary, at RUST_LOG=debug, against an emulator and a fake API server.
async fn secrets_binary(ev: &mut Evidence) -> BTreeMap<&'static str, (usize, usize)> {
    let mut seen: BTreeMap<&'static str, (usize, usize)> = BTreeMap::new();
    let mut note = |what: &'static str, text: &str| {
        let e = seen.entry(what).or_default();
        e.0 += text.len();
        e.1 += hits(text);
    };
    let emu = emulator_with(1200, Duration::from_secs(300), vec![SECRET.into()]).await;
    let zone = emu.zone_id("example.com").unwrap();
    let kube = FakeKube::start().await.unwrap();
    kube.apply(plain_ingress("web", &["web.example.com"], &["192.0.2.1"]));
    kube.apply(ann_ingress(
        "bad",
        "bad.example.com",
        "192.0.2.2",
        json!({"external-dns.alpha.kubernetes.io/cloudflare-proxied": "maybe"}),
    ));
    kube.apply(ingress("geo", "fra1", &["203.0.113.1"]));
    let dir = tempfile::tempdir().unwrap();
    let kcfg = kubeconfig(&kube, dir.path());
    let mut cmd = cfgeo_cmd();
    cmd.args([
        "run",
        "--admin-addr",
        "127.0.0.1:0",
        "--source",
        "ingress",
        "--txt-owner-id",
        "sec",
        "--geo-resync-secs",
        "2",
    ])
    .env("KUBECONFIG", &kcfg)
    .env("GEO_LOCATION", "eu")
    .env("CF_LB_HOSTNAME", "app.example.com")
    .env("CF_API_BASE_URL", emu.base_url())
    .env("CF_ACCOUNT_ID", emu.account_id())
    .env("CF_ZONE_ID", &zone)
    .env("CFGEO_OWNER_ID", "sec")
    .env("CFGEO_MONITOR", "none")
    .env("POD_NAME", "cfgeo-0")
    .env("CF_API_TOKEN", SECRET);
    let child = Child::spawn(cmd);
    let first = wait_for(T, || {
        record_set(&emu, &zone).contains(&(
            "A".into(),
            "web.example.com".into(),
            "192.0.2.1".into(),
        )) && lb_pool_names(&emu, "app.example.com") == Some(vec!["k8s-pool-fra1-eu".into()])
    })
    .await;
    assert!(first, "first convergence: {}", child.err.text());
    for s in [
        FaultSpec::new("*", "/client/v4/**", 2, FaultAction::rate_limited(1)),
        FaultSpec::new("*", "/client/v4/**", 3, FaultAction::status(502)),
        FaultSpec::new("*", "/client/v4/**", 2, FaultAction::drop_connection()),
    ] {
        emu.inject_fault(s).unwrap();
    }
    kube.apply(plain_ingress("web2", &["web2.example.com"], &["192.0.2.3"]));
    kube.set_status(
        "networking.k8s.io/v1",
        "Ingress",
        Some("shop"),
        "geo",
        status(&["203.0.113.2"]),
    );
    let converged = wait_for(T, || {
        record_set(&emu, &zone).contains(&(
            "A".into(),
            "web2.example.com".into(),
            "192.0.2.3".into(),
        )) && pools(&emu).get("k8s-pool-fra1-eu") == Some(&vec![("203.0.113.2".to_string(), true)])
            && emu.call_log().iter().filter(|c| c.fault.is_some()).count() == 7
    })
    .await;
    ev.check(
        converged,
        "the binary converged through the injected faults (so its error paths ran)",
        child.err.text(),
    );
    let addr = {
        let found = wait_for(T, || child.err.text().contains("admin server listening")).await;
        assert!(found, "admin address logged");
        let text = child.err.text();
        let at = text.find("admin server listening").unwrap();
        let line = text[at..].lines().next().unwrap().to_string();
        line.split("addr=")
            .nth(1)
            .expect("addr field")
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    };
    let m = http_get(&format!("http://{addr}/metrics")).await;
    ev.check(
        m.contains("cfgeo"),
        "control: /metrics of the binary's admin server was scraped",
        &m,
    );
    note("metrics (/metrics of the admin server)", &m);
    let noted = kube
        .wait_until(T, |k| !notes_for(k, "bad").is_empty())
        .await;
    assert!(noted, "the bad Ingress got its Event");
    note(
        "Kubernetes Events",
        &serde_json::to_string(&kube.events()).unwrap(),
    );
    child.signal("TERM");
    let (code, out, err) = child.finish().await;
    ev.check(
        code == Some(0),
        "the binary stopped cleanly on SIGTERM",
        format!("{code:?}"),
    );
    ev.check(
        err.contains("rate limited by Cloudflare") && err.contains("DEBUG"),
        "control: the binary's stderr was captured at debug level, rate-limit path included",
        format!("{} bytes", err.len()),
    );
    note(
        "log lines, binary at RUST_LOG=debug (stdout and stderr)",
        &format!("{out}{err}"),
    );

    // A refused token from a file, and a command line with a bad flag beside the token.
    let strict = emulator_with(1200, Duration::from_secs(300), vec!["another-token".into()]).await;
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, SECRET).unwrap();
    let mdir = dir.path().join("manifests");
    std::fs::create_dir(&mdir).unwrap();
    std::fs::write(
        mdir.join("a.json"),
        plain_ingress("web", &["web.example.com"], &["192.0.2.1"]).to_string(),
    )
    .unwrap();
    let mut cmd = cfgeo_cmd();
    cmd.args(["run", "--once", "--source", "ingress", "--manifests"])
        .arg(&mdir)
        .env("CF_API_BASE_URL", strict.base_url())
        .env("CF_ZONE_ID", strict.zone_id("example.com").unwrap())
        .env("CF_API_TOKEN_FILE", &token_file);
    let (code, out, err) = Child::spawn(cmd).finish().await;
    ev.check(
        code == Some(1) && err.contains("403"),
        "control: a refused token makes the binary fail with Cloudflare's error",
        &err,
    );
    note(
        "error messages of the binary (refused token, bad flag)",
        &format!("{out}{err}"),
    );
    let mut cmd = cfgeo_cmd();
    cmd.args(["run", "--cf-api-token", SECRET, "--cf-rate-limit", "abc"]);
    let (_, out, err) = Child::spawn(cmd).finish().await;
    note(
        "error messages of the binary (refused token, bad flag)",
        &format!("{out}{err}"),
    );
    seen
}

#[tokio::test]
async fn secrets_never_leak() {
    let mut ev = Evidence::new(
        "secrets_never_leak",
        "The API token never appears in logs, metrics, Events, error messages or panics",
    );
    ev.injected(format!(
        "a distinctive token ({}…) used by both engines in-process (every log line captured at trace level) and by the real binary at RUST_LOG=debug; 429, 5xx and dropped connections injected; a bad object; a Cloudflare that refuses the token; a bad flag beside the token",
        &SECRET[..22]
    ));
    let mut all = secrets_in_process(&mut ev).await;
    for (k, v) in secrets_binary(&mut ev).await {
        let e = all.entry(k).or_default();
        e.0 += v.0;
        e.1 += v.1;
    }
    let mut table = Vec::new();
    for (what, (bytes, n)) in &all {
        ev.check(
            *n == 0,
            format!("zero hits of the token in: {what}"),
            format!("{n} hits in {bytes} bytes"),
        );
        table.push(json!({"source": what, "bytes_scanned": bytes, "hits": n}));
    }
    ev.trials = 1;
    ev.figure(
        "total_bytes_scanned",
        all.values().map(|v| v.0).sum::<usize>(),
    );
    ev.figure("total_hits", all.values().map(|v| v.1).sum::<usize>());
    ev.figure("sources", Value::Array(table));
    ev.write();
}
