//! `cfgeo status` end to end: the admin server's `/status` page in headless Chromium against the
//! emulator (four clusters' pools and one load balancer written by four geo engines), the
//! status routes over plain HTTP (one shared read, GETs only, a 503 when Cloudflare cannot be
//! read), and the `cfgeo status` binary against an embedded emulator's state file.
//!
//! The browser is Debian's `chromium` (`scripts/browser.sh` installs it), driven over the
//! DevTools protocol on a pipe (`--remote-debugging-pipe`, fds 3 and 4, wired through two
//! FIFOs by the shell), so console errors, uncaught exceptions and failed loads are seen as
//! events, and the page is inspected where it is rendered. Without chromium the browser test
//! is skipped with a message, unless `CFGEO_REQUIRE_BROWSER` is set (scripts/test.sh sets it).

mod common;

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use cfgeo::admin::{self, Health, Metrics};
use cfgeo::emulator::{Emulator, EmulatorConfig, EmulatorHandle};
use cfgeo::events::Reporter;
use cfgeo::geo::engine::GeoEngine;
use cfgeo::runtime::Timing;
use k8s_openapi::api::networking::v1::Ingress;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// The four clusters of the demo: region, cluster name, origin address.
const CLUSTERS: [(&str, &str, &str); 4] = [
    ("eu", "fra1", "203.0.113.20"),
    ("us_east", "nyc1", "203.0.113.30"),
    ("us_west", "lax1", "203.0.113.40"),
    ("asia", "tyo1", "203.0.113.50"),
];

const CDP_TIMEOUT: Duration = Duration::from_secs(60);

/// One pass of `region`'s geo engine (drained when `drain`): its pool, and the shared LB.
async fn geo_pass(emu: &EmulatorHandle, region: &str, cluster: &str, addr: &str, drain: bool) {
    let mut s = common::settings(emu, region, &format!("owner-{cluster}"));
    s.drain_all = drain;
    let mut engine = GeoEngine::new(common::client(emu), s, Reporter::Log, Timing::default());
    let ing: Ingress = serde_json::from_value(common::ingress("web", cluster, &[addr])).unwrap();
    let r = engine.pass(&[Arc::new(ing)]).await.expect("geo pass");
    assert!(r.refused.is_empty(), "{:?}", r.refused);
}

async fn four_clusters(emu: &EmulatorHandle) {
    for (region, cluster, addr) in CLUSTERS {
        geo_pass(emu, region, cluster, addr, false).await;
    }
    assert_eq!(
        common::lb_pool_names(emu, "app.example.com").map(|p| p.len()),
        Some(4)
    );
}

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("CFGEO_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if path.exists() {
        return Some(path);
    }
    if std::env::var_os("CFGEO_REQUIRE_BROWSER").is_some() {
        panic!(
            "CFGEO_REQUIRE_BROWSER is set but {} is missing (scripts/browser.sh installs it)",
            path.display()
        );
    }
    eprintln!(
        "SKIPPED status_page browser test: {} not found. Run scripts/browser.sh to install \
         Debian's chromium, or set CFGEO_REQUIRE_BROWSER=1 to make this a failure.",
        path.display()
    );
    None
}

/// Flags every Chromium started here gets.
const CHROMIUM_FLAGS: [&str; 5] = [
    "--headless",
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--no-first-run",
];

/// A headless Chromium driven over the DevTools protocol on a pipe.
struct Browser {
    child: Child,
    commands: File,
    messages: mpsc::Receiver<Value>,
    next_id: u64,
    /// Events received so far, in order.
    events: Vec<Value>,
    stderr: PathBuf,
    _dir: tempfile::TempDir,
}

/// One open page (a target with its flat session).
struct Page {
    session: String,
}

impl Browser {
    fn launch(chromium: &Path) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (to_browser, from_browser) = (dir.path().join("in"), dir.path().join("out"));
        for f in [&to_browser, &from_browser] {
            let ok = Command::new("mkfifo").arg(f).status().unwrap().success();
            assert!(ok, "mkfifo {}", f.display());
        }
        let stderr = dir.path().join("stderr.log");
        // The shell gives Chromium the FIFOs as fds 3 (commands in) and 4 (messages out), then
        // becomes it (exec), so the child is the browser itself.
        let child = Command::new("bash")
            .arg("-c")
            .arg(r#"exec "$0" "$@" --remote-debugging-pipe 3<"$CFGEO_CDP_IN" 4>"$CFGEO_CDP_OUT""#)
            .arg(chromium)
            .args(CHROMIUM_FLAGS)
            .arg(format!(
                "--user-data-dir={}",
                dir.path().join("profile").display()
            ))
            .arg("about:blank")
            .env("CFGEO_CDP_IN", &to_browser)
            .env("CFGEO_CDP_OUT", &from_browser)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&stderr).unwrap())
            .spawn()
            .expect("start chromium");
        // Opening a FIFO blocks until the other end opens: do it aside, with a deadline.
        let (tx, rx) = mpsc::channel();
        let (a, b) = (to_browser.clone(), from_browser.clone());
        std::thread::spawn(move || {
            let w = std::fs::OpenOptions::new().write(true).open(a);
            let r = w.and_then(|w| File::open(b).map(|r| (w, r)));
            let _ = tx.send(r);
        });
        let (commands, out) = match rx.recv_timeout(CDP_TIMEOUT) {
            Ok(Ok(pair)) => pair,
            other => panic!(
                "chromium did not open its DevTools pipe ({other:?}): {}",
                std::fs::read_to_string(&stderr).unwrap_or_default()
            ),
        };
        let (msg_tx, messages) = mpsc::channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(out);
            let mut buf = Vec::new();
            let mut byte = [0u8; 1];
            // Messages are JSON texts, each ended by a NUL byte.
            while let Ok(1) = r.read(&mut byte) {
                if byte[0] != 0 {
                    buf.push(byte[0]);
                    continue;
                }
                if let Ok(v) = serde_json::from_slice::<Value>(&buf)
                    && msg_tx.send(v).is_err()
                {
                    return;
                }
                buf.clear();
            }
        });
        Self {
            child,
            commands,
            messages,
            next_id: 1,
            events: Vec::new(),
            stderr,
            _dir: dir,
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn recv(&mut self, deadline: Instant) -> Value {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.messages.recv_timeout(left) {
            Ok(v) => v,
            Err(e) => panic!("no DevTools message in time ({e}): {}", self.stderr()),
        }
    }

    /// Sends a command and returns its result; events read meanwhile are kept.
    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&msg).unwrap();
        bytes.push(0);
        self.commands.write_all(&bytes).unwrap();
        self.commands.flush().unwrap();
        let deadline = Instant::now() + CDP_TIMEOUT;
        loop {
            let m = self.recv(deadline);
            if m["id"] == json!(id) {
                assert!(m.get("error").is_none(), "{method}: {m}");
                return m["result"].clone();
            }
            self.events.push(m);
        }
    }

    /// Waits for an event of `method` on `session` that was not seen before `from`.
    fn wait_event(&mut self, session: &str, method: &str, from: usize) {
        let deadline = Instant::now() + CDP_TIMEOUT;
        let seen = |e: &Value| e["method"] == method && e["sessionId"] == session;
        while !self.events[from..].iter().any(seen) {
            let m = self.recv(deadline);
            self.events.push(m);
        }
    }

    /// A new page, 1200x900, with console, exceptions and the log reported.
    fn page(&mut self) -> Page {
        let t = self.call(None, "Target.createTarget", json!({"url": "about:blank"}));
        let a = self.call(
            None,
            "Target.attachToTarget",
            json!({"targetId": t["targetId"], "flatten": true}),
        );
        let session = a["sessionId"].as_str().expect("session id").to_string();
        for m in ["Page.enable", "Runtime.enable", "Log.enable"] {
            self.call(Some(&session), m, json!({}));
        }
        self.call(
            Some(&session),
            "Emulation.setDeviceMetricsOverride",
            json!({"width": 1200, "height": 900, "deviceScaleFactor": 1, "mobile": false}),
        );
        Page { session }
    }

    /// Loads `url` in `page` and waits for its load event.
    fn goto(&mut self, page: &Page, url: &str) {
        let from = self.events.len();
        let r = self.call(Some(&page.session), "Page.navigate", json!({"url": url}));
        assert!(r.get("errorText").is_none(), "{url}: {r}");
        self.wait_event(&page.session, "Page.loadEventFired", from);
    }

    /// Evaluates `expr` in the page and returns its value.
    fn eval(&mut self, page: &Page, expr: &str) -> Value {
        let r = self.call(
            Some(&page.session),
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true}),
        );
        assert!(r.get("exceptionDetails").is_none(), "{expr}: {r}");
        r["result"]["value"].clone()
    }

    /// Console errors, uncaught exceptions and error log entries (failed loads) of `page`
    /// since event `from`.
    fn errors(&self, page: &Page, from: usize) -> Vec<String> {
        self.events[from..]
            .iter()
            .filter(|e| e["sessionId"] == page.session.as_str())
            .filter_map(|e| {
                let p = &e["params"];
                match e["method"].as_str()? {
                    "Runtime.consoleAPICalled"
                        if matches!(p["type"].as_str(), Some("error" | "assert")) =>
                    {
                        Some(format!("console.{}: {}", p["type"], p["args"]))
                    }
                    "Runtime.exceptionThrown" => Some(format!(
                        "uncaught: {}",
                        p["exceptionDetails"]["exception"]["description"]
                    )),
                    "Log.entryAdded" if p["entry"]["level"] == "error" => {
                        Some(format!("log: {} {}", p["entry"]["text"], p["entry"]["url"]))
                    }
                    _ => None,
                }
            })
            .collect()
    }

    fn close(mut self) {
        let id = self.next_id;
        self.next_id += 1;
        // Browser.close may exit before it answers: send it without waiting for the answer.
        let mut bytes = serde_json::to_vec(&json!({"id": id, "method": "Browser.close"})).unwrap();
        bytes.push(0);
        let _ = self.commands.write_all(&bytes);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Browser {
    /// A failed assertion must not leave a browser running.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// What the test reads off the rendered page: the rows, the markers' rendered boxes, the
/// painted area of each pool's shading, the element under a few places of the map, and every
/// resource the page loaded.
const INSPECT: &str = r#"(() => {
  const svg = document.querySelector('svg.status-map');
  const area = {};
  for (const r of document.querySelectorAll('g.shading rect')) {
    const b = r.getBBox();
    area[r.dataset.pool] = (area[r.dataset.pool] || 0) + b.width * b.height;
  }
  // What is painted at a place: a shading cell's pool, or the tag of what is there instead.
  const at = (lat, lon) => {
    const r = svg.getBoundingClientRect();
    const k = svg.clientWidth / svg.viewBox.baseVal.width;
    const el = document.elementFromPoint(r.left + svg.clientLeft + (lon + 180) * 3 * k,
                                         r.top + svg.clientTop + (48 + (90 - lat) * 3) * k);
    return el && el.dataset && el.dataset.pool && el.closest('g.shading') ? el.dataset.pool : (el ? el.tagName : null);
  };
  return {
    title: document.title,
    refresh: (document.querySelector('meta[http-equiv=refresh]') || {}).content || null,
    isSvg: svg instanceof SVGSVGElement,
    svgWidth: svg ? svg.getBoundingClientRect().width : 0,
    rows: [...document.querySelectorAll('tr.pool')].map(t => ({
      pool: t.dataset.pool, region: t.dataset.region, state: t.dataset.state,
      health: t.dataset.health, share: Number(t.dataset.landShare)})),
    markers: [...document.querySelectorAll('g.marker')].map(g => {
      const b = g.getBBox();
      return {pool: g.dataset.pool, w: b.width, h: b.height};
    }),
    legend: document.querySelectorAll('g.legend-pool').length,
    area,
    places: {sahara: at(23, 10), paris: at(48.9, 2.3), chicago: at(41.9, -87.6),
             delhi: at(28.6, 77.2), atlantic: at(25, -40)},
    readAt: (document.querySelector('time.read-at') || {}).textContent || null,
    resources: performance.getEntriesByType('resource').map(e => e.name),
  };
})()"#;

const CONTROL_PAGE: &str = r#"<!doctype html><html><head><link rel="icon" href="data:,"></head>
<body><img src="/missing.png"><script>console.error("cfgeo-control-error");
throw new Error("cfgeo-control-uncaught");</script></body></html>"#;

async fn serve_control() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().route("/control", get(|| async { Html(CONTROL_PAGE) }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn pool_of(region: &str) -> String {
    let (_, cluster, _) = CLUSTERS.iter().find(|c| c.0 == region).unwrap();
    format!("k8s-pool-{cluster}-{region}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_page_in_headless_chromium_follows_a_drain() {
    let Some(chromium) = chromium() else { return };
    let emu = common::emulator().await;
    four_clusters(&emu).await;

    // The admin server as `cfgeo run` builds it, with a status source that always reads anew.
    let shutdown = CancellationToken::new();
    let source = cfgeo::status::cached_source(
        common::client(&emu),
        emu.account_id(),
        emu.zone_id("example.com").unwrap(),
        Duration::ZERO,
    );
    let server = admin::bind(
        "127.0.0.1:0".parse().unwrap(),
        Health::new(),
        Metrics::new(),
        shutdown.clone(),
    )
    .await
    .unwrap()
    .with_status(Some(source));
    let base = format!("http://{}", server.local_addr());
    tokio::spawn(server.run());
    let control = format!("http://{}/control", serve_control().await);

    let status_url = format!("{base}/status");
    let chromium2 = chromium.clone();
    let (before, browser, page) = tokio::task::spawn_blocking(move || {
        let mut b = Browser::launch(&chromium2);
        let page = b.page();
        // The error detection itself works: a page with a console error, an uncaught exception
        // and a missing image reports all three.
        let from = b.events.len();
        b.goto(&page, &control);
        std::thread::sleep(Duration::from_millis(300));
        let _ = b.eval(&page, "1");
        let errs = b.errors(&page, from);
        for want in ["cfgeo-control-error", "cfgeo-control-uncaught", "404"] {
            assert!(
                errs.iter().any(|e| e.contains(want)),
                "{want} not detected: {errs:?}"
            );
        }
        let from = b.events.len();
        b.goto(&page, &status_url);
        let v = b.eval(&page, INSPECT);
        let errs = b.errors(&page, from);
        assert!(errs.is_empty(), "console errors on /status: {errs:?}");
        (v, b, page)
    })
    .await
    .unwrap();

    eprintln!("/status before the drain: {before}");
    let regions: Vec<&str> = before["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["region"].as_str().unwrap())
        .collect();
    assert_eq!(regions.len(), 4, "{before:#}");
    for (region, _, _) in CLUSTERS {
        assert!(regions.contains(&region), "{region} missing: {before:#}");
    }
    assert!(
        before["rows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["state"] == "serving")
    );
    assert_eq!(before["isSvg"], true, "{before:#}");
    assert!(before["svgWidth"].as_f64().unwrap() > 800.0, "{before:#}");
    assert_eq!(before["refresh"], "30");
    assert_eq!(before["legend"], 4);
    let markers = before["markers"].as_array().unwrap();
    assert_eq!(markers.len(), 4);
    assert!(
        markers.iter().all(|m| m["w"].as_f64().unwrap() > 10.0),
        "{markers:?}"
    );
    assert!(before["readAt"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert_eq!(
        before["resources"],
        json!([]),
        "the page loads nothing else"
    );
    let eu = pool_of("eu");
    let us_east = pool_of("us_east");
    assert_eq!(before["places"]["sahara"], eu.as_str(), "{before:#}");
    assert_eq!(before["places"]["paris"], eu.as_str());
    assert_eq!(before["places"]["chicago"], us_east.as_str());
    assert_eq!(before["places"]["delhi"], pool_of("asia").as_str());
    assert_eq!(
        before["places"]["atlantic"], "rect",
        "the sea is not shaded"
    );
    assert!(before["area"][&eu].as_f64().unwrap() > 0.0);

    // Drain eu: its pool stays in the LB with its origins disabled; its area goes elsewhere.
    geo_pass(&emu, "eu", "fra1", "203.0.113.20", true).await;
    let status_url = format!("{base}/status");
    let after = tokio::task::spawn_blocking(move || {
        let mut b = browser;
        let from = b.events.len();
        b.goto(&page, &status_url);
        let v = b.eval(&page, INSPECT);
        let errs = b.errors(&page, from);
        assert!(errs.is_empty(), "console errors on /status: {errs:?}");
        b.close();
        v
    })
    .await
    .unwrap();
    eprintln!("/status after the drain: {after}");
    let row = |v: &Value, pool: &str| -> Value {
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["pool"] == pool)
            .cloned()
            .unwrap()
    };
    assert_eq!(row(&after, &eu)["state"], "drained", "{after:#}");
    assert_eq!(row(&after, &eu)["share"], 0.0);
    assert!(
        after["area"].get(&eu).is_none(),
        "no cell is eu's: {after:#}"
    );
    assert_ne!(before["area"], after["area"], "the shading changed");
    assert_eq!(after["places"]["sahara"], us_east.as_str(), "{after:#}");
    assert_eq!(after["places"]["paris"], us_east.as_str());
    assert_eq!(after["places"]["delhi"], pool_of("asia").as_str());
    let gained =
        after["area"][&us_east].as_f64().unwrap() - before["area"][&us_east].as_f64().unwrap();
    assert!(gained > 0.0, "us_east took over some of eu's area");
    let drained_marker = after["markers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["pool"] == eu.as_str())
        .cloned();
    assert!(drained_marker.is_some(), "a drained pool keeps its marker");
    // A screenshot of the page as a person sees it during the failover (docs/status-page.png
    // is made this way: CFGEO_STATUS_SCREENSHOT=docs/status-page.png).
    let shot = std::env::var_os("CFGEO_STATUS_SCREENSHOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("status-page.png"));
    let (chromium3, url) = (chromium.clone(), format!("{base}/status"));
    let shot2 = shot.clone();
    tokio::task::spawn_blocking(move || screenshot(&chromium3, &url, &shot2))
        .await
        .unwrap();
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "{} bytes",
        png.len()
    );

    shutdown.cancel();
}

fn screenshot(chromium: &Path, url: &str, out: &Path) {
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(chromium)
        .args(CHROMIUM_FLAGS)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", out.display()))
        .arg("--window-size=1200,900")
        .arg("--hide-scrollbars")
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let deadline = Instant::now() + CDP_TIMEOUT;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            assert!(st.success(), "chromium --screenshot: {st}");
            return;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium --screenshot did not finish in time");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `cfgeo status` on the state file four `cfgeo run --once --embedded-emulator` would leave:
/// no Kubernetes, no GEO_LOCATION, and the state is left as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_command_reads_the_emulator_state_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let emu = Emulator::start(EmulatorConfig {
        state_file: Some(state.clone()),
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    four_clusters(&emu).await;
    geo_pass(&emu, "asia", "tyo1", "203.0.113.50", true).await;
    emu.shutdown().await;
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();

    let status = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_cfgeo"))
            .arg("status")
            .args(["--embedded-emulator", "--emulator-state"])
            .arg(&state)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    let (code, table, err) = status(&[]);
    assert_eq!(code, Some(0), "{table}{err}");
    assert!(
        table.starts_with("app.example.com (zone example.com, read "),
        "{table}"
    );
    assert!(
        table.contains("steering proximity, proxied, fallback k8s-pool-"),
        "{table}"
    );
    for (region, cluster, addr) in CLUSTERS {
        let line = table
            .lines()
            .find(|l| l.starts_with(&format!("  k8s-pool-{cluster}-{region} ")))
            .unwrap_or_else(|| panic!("no row for {region}: {table}"));
        assert!(line.contains(&format!("owner-{cluster}")), "{line}");
        assert!(line.contains(addr), "{line}");
        let state = if region == "asia" {
            "drained"
        } else {
            "serving"
        };
        assert!(line.contains(state), "{line}");
    }

    let (code, out, err) = status(&["--output", "json"]);
    assert_eq!(code, Some(0), "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let pools = v["load_balancers"][0]["pools"].as_array().unwrap();
    assert_eq!(pools.len(), 4);
    let asia = pools.iter().find(|p| p["region"] == "asia").unwrap();
    assert_eq!(
        (&asia["state"], &asia["health"], &asia["land_share"]),
        (&json!("drained"), &json!("unhealthy"), &json!(0.0))
    );
    assert_eq!(asia["disabled_origins"], json!(["203.0.113.50"]));

    let map = dir.path().join("maps/status-map.svg");
    let (code, out, err) = status(&["--output", "svg"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with("<?xml"));
    let (code, _, err) = status(&["--output", "svg", map.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("wrote"), "{err}");
    let svg = std::fs::read_to_string(&map).unwrap();
    assert_eq!(svg.matches("class=\"marker\"").count(), 4);
    assert!(
        !svg.contains("data-pool=\"k8s-pool-tyo1-asia\"/>"),
        "drained asia wins no cell"
    );

    let (code, _, err) = status(&["--cf-lb-hostname", "nothing.example.com"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("nothing.example.com"), "{err}");

    let now: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(
        common::state_items(&now, "pools"),
        common::state_items(&saved, "pools")
    );
    assert_eq!(
        common::state_items(&now, "load_balancers"),
        common::state_items(&saved, "load_balancers")
    );
}

async fn serve_router(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

async fn http_get(url: &str) -> (u16, String, String) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let r = reqwest::get(url).await.unwrap();
    let ct = r
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (r.status().as_u16(), ct, r.text().await.unwrap())
}

/// The admin routes without a browser: one Cloudflare read serves every viewer within the
/// cache age, only GETs are sent, a failed read is a 503 page that says why, and without a
/// status source there is no /status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_routes_share_one_read_write_nothing_and_report_failures() {
    let emu = common::emulator().await;
    four_clusters(&emu).await;
    emu.reset_calls();
    let client = common::client(&emu);
    let source = cfgeo::status::cached_source(
        client.clone(),
        emu.account_id(),
        emu.zone_id("example.com").unwrap(),
        Duration::from_secs(60),
    );
    let base = serve_router(admin::router_with_status(
        Health::new(),
        Metrics::new(),
        Some(source),
    ))
    .await;
    let (code, ct, body) = http_get(&format!("{base}/status.json")).await;
    assert_eq!((code, ct.as_str()), (200, "application/json"), "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["load_balancers"][0]["pools"].as_array().unwrap().len(), 4);
    let calls = client.stats().total();
    // The zone, the pools, the load balancers, and the health of each of the four pools.
    assert_eq!(calls, 7, "{:?}", client.stats().snapshot());
    let (code, ct, body) = http_get(&format!("{base}/status")).await;
    assert_eq!((code, ct.as_str()), (200, "text/html; charset=utf-8"));
    assert!(body.contains("k8s-pool-tyo1-asia"));
    let (code, ct, body) = http_get(&format!("{base}/status.svg")).await;
    assert_eq!((code, ct.as_str()), (200, "image/svg+xml"));
    assert!(body.starts_with("<?xml"));
    assert_eq!(
        client.stats().total(),
        calls,
        "later viewers reuse the read"
    );
    let methods: Vec<String> = emu.call_log().iter().map(|c| c.method.clone()).collect();
    assert!(methods.iter().all(|m| m == "GET"), "{methods:?}");

    // Cloudflare unreachable: a 503 page naming what failed, never the token.
    let dead = cfgeo::cloudflare::Client::new(
        cfgeo::cloudflare::ClientSettings {
            base_url: "http://127.0.0.1:9/client/v4".into(),
            max_retries: 0,
            ..Default::default()
        },
        cfgeo::cloudflare::TokenSource::Static(cfgeo::cloudflare::ApiToken::new(common::TOKEN)),
    )
    .unwrap();
    let failing = cfgeo::status::cached_source(dead, "acc".into(), "zone".into(), Duration::ZERO);
    let base = serve_router(admin::router_with_status(
        Health::new(),
        Metrics::new(),
        Some(failing),
    ))
    .await;
    let (code, ct, body) = http_get(&format!("{base}/status")).await;
    assert_eq!(
        (code, ct.as_str()),
        (503, "text/html; charset=utf-8"),
        "{body}"
    );
    assert!(
        body.contains("could not be read") && body.contains("reading"),
        "{body}"
    );
    assert!(
        body.contains("http-equiv=\"refresh\""),
        "it retries by itself"
    );
    assert!(!body.contains(common::TOKEN));
    let (code, _, _) = http_get(&format!("{base}/status.json")).await;
    assert_eq!(code, 503);

    let base = serve_router(admin::router_with_status(
        Health::new(),
        Metrics::new(),
        None,
    ))
    .await;
    assert_eq!(http_get(&format!("{base}/status")).await.0, 404);
    assert_eq!(http_get(&format!("{base}/livez")).await.0, 200);
}
