//! A real Kubernetes control plane on loopback for tests: etcd and kube-apiserver built from
//! upstream Go modules by `scripts/peers.sh` into `target/peers/bin`, with certificates, a
//! service-account signing key and an admin token generated here. No root, no network beyond
//! 127.0.0.1. Every process is stopped when the test process ends, even on a panic: each runs
//! under a shell that kills it when our end of its stdin pipe closes.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};

/// Control planes starting at once in this process: a kube-apiserver's start is CPU-heavy, and a
/// dozen at once on two cores starve each other past any timeout.
static STARTING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// The admin bearer token (group system:masters) of every control plane.
pub const ADMIN_TOKEN: &str = "cfgeo-test-admin-2b7e151628aed2a6";

/// Where scripts/peers.sh puts the binaries.
pub fn peer_bin(name: &str) -> PathBuf {
    let root = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let p = root.join("peers/bin").join(name);
    assert!(
        p.exists(),
        "{} is missing: run scripts/peers.sh (scripts/test.sh does) to build the real peers",
        p.display()
    );
    p
}

/// A port free on loopback now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process that dies with the test process.
struct Supervised {
    child: Child,
}

impl Supervised {
    fn spawn(bin: &Path, args: &[String], log: &Path) -> Self {
        let log = std::fs::File::create(log).unwrap();
        // `read` returns when our end of the pipe closes (this process exited or dropped it),
        // and the peer is then killed: no orphan survives a failed test.
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#""$0" "$@" & pid=$!; read _ ; kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null"#)
            .arg(bin)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        // Keep the pipe open until `stop`.
        let _ = child.stdin.as_mut().map(|s| s.flush());
        Self { child }
    }

    fn stop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A running etcd + kube-apiserver pair.
pub struct ControlPlane {
    // Dropped in this order: kube-apiserver before etcd (it hangs retrying a vanished etcd),
    // the directory last.
    apiserver: Option<Supervised>,
    etcd: Supervised,
    dir: tempfile::TempDir,
    etcd_port: u16,
    api_port: u16,
    ca_pem: String,
    /// `https://127.0.0.1:<port>`.
    pub url: String,
}

impl ControlPlane {
    /// Starts etcd and kube-apiserver and waits for `/readyz`.
    pub async fn start() -> Self {
        let _permit = STARTING.acquire().await.unwrap();
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // Serving certificate from a CA of our own, and a service-account signing key.
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "cfgeo test CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let srv_key = KeyPair::generate().unwrap();
        let mut srv = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        srv.subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        let srv_cert = srv.signed_by(&srv_key, &issuer).unwrap();
        let sa_key = KeyPair::generate().unwrap();
        std::fs::write(d.join("ca.crt"), ca_cert.pem()).unwrap();
        std::fs::write(d.join("serving.crt"), srv_cert.pem()).unwrap();
        std::fs::write(d.join("serving.key"), srv_key.serialize_pem()).unwrap();
        std::fs::write(d.join("sa.key"), sa_key.serialize_pem()).unwrap();
        std::fs::write(d.join("sa.pub"), sa_key.public_key_pem()).unwrap();
        std::fs::write(
            d.join("tokens.csv"),
            format!("{ADMIN_TOKEN},cfgeo-test-admin,admin-uid,\"system:masters\"\n"),
        )
        .unwrap();
        let etcd_port = free_port();
        let etcd = start_etcd(d, etcd_port);
        let api_port = free_port();
        let mut cp = Self {
            url: format!("https://127.0.0.1:{api_port}"),
            ca_pem: ca_cert.pem(),
            dir,
            etcd,
            apiserver: None,
            etcd_port,
            api_port,
        };
        cp.wait_etcd().await;
        cp.start_apiserver(true).await;
        cp
    }

    async fn wait_etcd(&self) {
        let url = format!("http://127.0.0.1:{}/health", self.etcd_port);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = reqwest::Client::new().get(&url).send().await
                && r.status().is_success()
            {
                return;
            }
            if Instant::now() > deadline {
                panic!("etcd did not become healthy: {}", self.log("etcd.log"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Starts kube-apiserver; `fresh` (nothing handed out yet) lets a retry take a new port.
    async fn start_apiserver(&mut self, fresh: bool) {
        // A port taken between our probe and its bind, or a start starved of CPU: try again.
        for attempt in 1..=3 {
            if self.try_start_apiserver().await {
                return;
            }
            eprintln!(
                "kube-apiserver not ready (attempt {attempt}):\n{}",
                self.log("apiserver.log")
            );
            if fresh {
                self.api_port = free_port();
                self.url = format!("https://127.0.0.1:{}", self.api_port);
            }
        }
        panic!("kube-apiserver did not become ready in 3 attempts");
    }

    async fn try_start_apiserver(&mut self) -> bool {
        let d = self.dir.path().to_path_buf();
        let p = |f: &str| d.join(f).display().to_string();
        let args: Vec<String> = [
            format!("--etcd-servers=http://127.0.0.1:{}", self.etcd_port),
            "--bind-address=127.0.0.1".into(),
            "--advertise-address=127.0.0.1".into(),
            format!("--secure-port={}", self.api_port),
            format!("--tls-cert-file={}", p("serving.crt")),
            format!("--tls-private-key-file={}", p("serving.key")),
            format!("--cert-dir={}", p("certs")),
            format!("--token-auth-file={}", p("tokens.csv")),
            "--authorization-mode=RBAC,Node".into(),
            format!(
                "--service-account-issuer=https://127.0.0.1:{}",
                self.api_port
            ),
            format!("--service-account-key-file={}", p("sa.pub")),
            format!("--service-account-signing-key-file={}", p("sa.key")),
            "--service-cluster-ip-range=10.96.0.0/16".into(),
            "--disable-admission-plugins=ServiceAccount".into(),
            "--endpoint-reconciler-type=none".into(),
            "--profiling=false".into(),
            "--v=0".into(),
        ]
        .into();
        self.apiserver = Some(Supervised::spawn(
            &peer_bin("kube-apiserver"),
            &args,
            &d.join("apiserver.log"),
        ));
        if self.wait_ready().await {
            return true;
        }
        if let Some(mut a) = self.apiserver.take() {
            a.stop();
        }
        false
    }

    /// Stops kube-apiserver and starts it again on the same port; etcd keeps its data.
    pub async fn restart_apiserver(&mut self) {
        let _permit = STARTING.acquire().await.unwrap();
        if let Some(mut a) = self.apiserver.take() {
            a.stop();
        }
        self.start_apiserver(false).await;
    }

    /// True once `/readyz` answers 200; false after 60 s.
    async fn wait_ready(&self) -> bool {
        let http = self.http();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ok = http
                .get(format!("{}/readyz", self.url))
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// An HTTP client that trusts the control plane's CA.
    pub fn http(&self) -> reqwest::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).unwrap())
            .build()
            .unwrap()
    }

    /// The tail of a peer's log, for failure messages.
    pub fn log(&self, name: &str) -> String {
        let s = std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        let tail: Vec<&str> = s.lines().rev().take(40).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    /// Writes a kubeconfig for `token` and returns its path.
    pub fn kubeconfig(&self, name: &str, token: &str) -> PathBuf {
        let ca = self.dir.path().join("ca.crt").display().to_string();
        let path = self.dir.path().join(format!("{name}.kubeconfig"));
        std::fs::write(
            &path,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {}\n    certificate-authority: {ca}\nusers:\n- name: {name}\n  user:\n    token: {token}\ncontexts:\n- name: test\n  context:\n    cluster: test\n    user: {name}\n    namespace: default\ncurrent-context: test\n",
                self.url
            ),
        )
        .unwrap();
        path
    }

    /// The admin kubeconfig.
    pub fn admin_kubeconfig(&self) -> PathBuf {
        self.kubeconfig("admin", ADMIN_TOKEN)
    }

    /// A kube client with the given kubeconfig.
    pub async fn client_from(&self, kubeconfig: &Path) -> kube::Client {
        let kc = kube::config::Kubeconfig::read_from(kubeconfig).unwrap();
        let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .unwrap();
        kube::Client::try_from(cfg).unwrap()
    }

    /// An admin kube client.
    pub async fn admin(&self) -> kube::Client {
        self.client_from(&self.admin_kubeconfig()).await
    }

    /// Compacts etcd's history up to its current revision, through etcd's JSON gateway.
    pub async fn compact_etcd(&self) {
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{}", self.etcd_port);
        let status: serde_json::Value = http
            .post(format!("{base}/v3/kv/range"))
            .json(&serde_json::json!({"key": "AA==", "limit": 1}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let rev = status["header"]["revision"]
            .as_str()
            .and_then(|r| r.parse::<i64>().ok())
            .expect("etcd revision");
        let r = http
            .post(format!("{base}/v3/kv/compaction"))
            .json(&serde_json::json!({"revision": rev.to_string(), "physical": true}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "compaction: {}", r.status());
    }
}

fn start_etcd(d: &Path, port: u16) -> Supervised {
    let peer = free_port();
    let args: Vec<String> = vec![
        format!("--data-dir={}", d.join("etcd").display()),
        format!("--listen-client-urls=http://127.0.0.1:{port}"),
        format!("--advertise-client-urls=http://127.0.0.1:{port}"),
        format!("--listen-peer-urls=http://127.0.0.1:{peer}"),
        format!("--initial-advertise-peer-urls=http://127.0.0.1:{peer}"),
        format!("--initial-cluster=default=http://127.0.0.1:{peer}"),
        "--unsafe-no-fsync".into(),
        "--log-level=warn".into(),
    ];
    Supervised::spawn(&peer_bin("etcd"), &args, &d.join("etcd.log"))
}
