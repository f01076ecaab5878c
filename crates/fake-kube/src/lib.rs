//! A fake Kubernetes API server over real HTTP: generic JSON storage with one global
//! resourceVersion counter, list (selectors, paging, resourceVersion semantics), watch
//! (bookmarks, streaming lists, 410 Gone), discovery, and fault injection for tests.
//!
//! Start it with [`FakeKube::start`] and point a real `kube::Client` at it with
//! [`FakeKubeHandle::client`]. Kinds live in a registry ([`ResourceKind`],
//! [`FakeKubeConfig::kinds`], [`FakeKubeHandle::register_kind`]) so tests can add more.
//!
//! Control over HTTP mirrors the handle: `POST /__fake/drop-watches`, `/__fake/expire-history`,
//! `/__fake/restart`, `/__fake/pause`, `/__fake/resume`, `/__fake/fail-watches?n=N`,
//! `/__fake/fail-requests?plural=P&n=N`, and `GET /__fake/counts`.
//!
//! Kubernetes behaviour is proven against the real kube-apiserver (`tests/real_kube.rs`,
//! `tests/geo_e2e.rs`, `tests/records_e2e.rs`, `tests/external_dns.rs`: both engines on real
//! objects, every record source, RBAC, Events, Leases, restarts, compaction, two clusters,
//! memory). This crate is a dev-dependency only; neither cfgeo's library nor its binary
//! contains it. It stays for what a real server cannot do on demand:
//! - faults: dropping a watch stream mid-chunk, failing the next N requests or watches,
//!   expiring history at a chosen moment, pausing watch delivery, answering slowly or wrongly
//!   (`tests/faults/`, `tests/secrets.rs`, `tests/crash.rs`, `tests/geo_e2e.rs`'s deletion while the watch is
//!   down, `tests/leader.rs`'s step-down when every Lease request fails);
//! - a server whose latency the test controls: `tests/leader.rs` asserts the elector's timing
//!   (takeover no earlier than the lease allows, handover within half a lease) to about 150 ms,
//!   which a real kube-apiserver on a loaded two-core CI runner does not guarantee; the same
//!   behaviours on a real Lease are in `tests/real_kube.rs`;
//! - objects a real server refuses but `--manifests` can carry (`tests/geo_e2e.rs`'s bad
//!   Ingresses: an address the real validation rejects in `status.loadBalancer.ingress`);
//! - many API servers or tens of thousands of objects started in milliseconds, where the
//!   Kubernetes side is incidental and Cloudflare's is under test (`tests/geo_churn.rs`'s four
//!   clusters joining and leaving, `tests/faults/concurrency.rs`, `tests/geo_migration.rs`, the
//!   benchmarks; each has a real-server counterpart: `tests/real_kube.rs`'s two control planes,
//!   and the real-server memory profile of `benches/memory.rs`).

mod selector;

pub use selector::{FieldSelector, LabelSelector, SelectorError};

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Annotation on the bookmark that ends the initial events of a streaming list.
const INITIAL_EVENTS_END: &str = "k8s.io/initial-events-end";
/// Watch length when the client gives no `timeoutSeconds` (the apiserver picks 30-60 min).
const DEFAULT_WATCH_TIMEOUT: Duration = Duration::from_secs(1800);

/// Errors of the fake API server, also used internally as API `Status` failures.
#[derive(Debug, thiserror::Error)]
pub enum FakeKubeError {
    /// The listener could not be bound or served.
    #[error("fake kube I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The kube client could not be built.
    #[error("kube client: {0}")]
    Client(#[from] kube::Error),
    /// A JSON value could not be converted.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// An API failure, answered over HTTP as a `Status` object with this code and reason.
    #[error("{code} {reason}: {message}")]
    Api {
        /// HTTP status code.
        code: u16,
        /// Machine-readable reason (`NotFound`, `AlreadyExists`, `Conflict`, `Expired`, ...).
        reason: &'static str,
        /// Human-readable message, phrased as the apiserver does.
        message: String,
    },
}

impl FakeKubeError {
    fn api(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self::Api {
            code,
            reason,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::api(400, "BadRequest", message)
    }

    /// The `Status` object the apiserver would answer with.
    fn status(&self) -> Value {
        let (code, reason, message) = match self {
            Self::Api {
                code,
                reason,
                message,
            } => (*code, *reason, message.clone()),
            Self::Json(e) => (400, "BadRequest", e.to_string()),
            other => (500, "InternalError", other.to_string()),
        };
        status_object(code, reason, &message)
    }

    fn code(&self) -> u16 {
        match self {
            Self::Api { code, .. } => *code,
            Self::Json(_) => 400,
            _ => 500,
        }
    }
}

impl From<SelectorError> for FakeKubeError {
    fn from(e: SelectorError) -> Self {
        Self::bad_request(e.to_string())
    }
}

impl From<json_patch::PatchError> for FakeKubeError {
    fn from(e: json_patch::PatchError) -> Self {
        Self::api(422, "Invalid", e.to_string())
    }
}

fn status_object(code: u16, reason: &str, message: &str) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    })
}

/// One kind of resource the server stores, as discovery would describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceKind {
    /// API group; empty for the core group.
    pub group: String,
    /// API version within the group (`v1`, `v1alpha2`).
    pub version: String,
    /// Kind, e.g. `Ingress`.
    pub kind: String,
    /// Plural resource name used in URLs, e.g. `ingresses`.
    pub plural: String,
    /// Namespaced (true) or cluster-scoped (false).
    pub namespaced: bool,
    /// Whether `status` is a subresource: the main resource then ignores status changes and
    /// `/status` changes only status.
    pub status_subresource: bool,
}

impl ResourceKind {
    /// A namespaced kind without a status subresource.
    pub fn namespaced(group: &str, version: &str, kind: &str, plural: &str) -> Self {
        Self {
            group: group.to_owned(),
            version: version.to_owned(),
            kind: kind.to_owned(),
            plural: plural.to_owned(),
            namespaced: true,
            status_subresource: false,
        }
    }

    /// A cluster-scoped kind without a status subresource.
    pub fn cluster(group: &str, version: &str, kind: &str, plural: &str) -> Self {
        Self {
            namespaced: false,
            ..Self::namespaced(group, version, kind, plural)
        }
    }

    /// The kind of a k8s-openapi type (scope taken from the type), without a status
    /// subresource.
    pub fn of<K>() -> Self
    where
        K: k8s_openapi::Resource,
        K::Scope: 'static,
    {
        use std::any::TypeId;
        let namespaced =
            TypeId::of::<K::Scope>() == TypeId::of::<k8s_openapi::NamespaceResourceScope>();
        Self {
            namespaced,
            ..Self::namespaced(K::GROUP, K::VERSION, K::KIND, K::URL_PATH_SEGMENT)
        }
    }

    /// Marks `status` as a subresource.
    #[must_use]
    pub fn with_status(mut self) -> Self {
        self.status_subresource = true;
        self
    }

    /// `group/version`, or just `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `plural.group` as the apiserver names the resource in messages.
    fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// Storage key of the kind: `group/version/plural`.
    fn key(&self) -> String {
        format!("{}/{}/{}", self.group, self.version, self.plural)
    }
}

/// The kinds registered by default: what cfgeo reads and writes.
pub fn default_kinds() -> Vec<ResourceKind> {
    let ns = ResourceKind::namespaced;
    let gw = "gateway.networking.k8s.io";
    vec![
        ns("", "v1", "Service", "services").with_status(),
        ns("", "v1", "Event", "events"),
        ResourceKind::cluster("", "v1", "Namespace", "namespaces").with_status(),
        ns("networking.k8s.io", "v1", "Ingress", "ingresses").with_status(),
        ResourceKind::cluster("networking.k8s.io", "v1", "IngressClass", "ingressclasses"),
        ns("events.k8s.io", "v1", "Event", "events"),
        ns("coordination.k8s.io", "v1", "Lease", "leases"),
        ResourceKind::cluster(gw, "v1", "GatewayClass", "gatewayclasses").with_status(),
        ns(gw, "v1", "Gateway", "gateways").with_status(),
        ns(gw, "v1", "HTTPRoute", "httproutes").with_status(),
        ns(gw, "v1", "GRPCRoute", "grpcroutes").with_status(),
        ns(gw, "v1alpha2", "TLSRoute", "tlsroutes").with_status(),
        ns(gw, "v1alpha2", "TCPRoute", "tcproutes").with_status(),
        ns(gw, "v1alpha2", "UDPRoute", "udproutes").with_status(),
        ns(
            "externaldns.k8s.io",
            "v1alpha1",
            "DNSEndpoint",
            "dnsendpoints",
        )
        .with_status(),
    ]
}

/// Settings of a fake API server.
#[derive(Debug, Clone)]
pub struct FakeKubeConfig {
    /// Kinds served from the start.
    pub kinds: Vec<ResourceKind>,
    /// How many change events are kept for watches; older resourceVersions are Gone (410).
    pub history_capacity: usize,
    /// Interval between bookmarks on watches that asked for them.
    pub bookmark_interval: Duration,
    /// How far resourceVersions jump on [`FakeKubeHandle::restart_with_new_history`].
    pub restart_rv_jump: u64,
}

impl Default for FakeKubeConfig {
    fn default() -> Self {
        Self {
            kinds: default_kinds(),
            history_capacity: 10_000,
            bookmark_interval: Duration::from_secs(1),
            restart_rv_jump: 1_000,
        }
    }
}

/// One write in the history, as watches replay it.
#[derive(Debug, Clone)]
struct Change {
    rv: u64,
    kind_key: String,
    old: Option<Value>,
    new: Option<Value>,
}

/// Objects of one kind keyed by (namespace, name); namespace is empty for cluster scope.
type KindObjects = BTreeMap<(String, String), Value>;

#[derive(Debug)]
struct Store {
    kinds: Vec<ResourceKind>,
    objects: HashMap<String, KindObjects>,
    rv: u64,
    /// Watches and lists from a resourceVersion below this are Gone.
    compacted_rv: u64,
    history: VecDeque<Change>,
    history_capacity: usize,
    restart_rv_jump: u64,
    drop_epoch: u64,
    shutting_down: bool,
    paused: bool,
    fail_watches: usize,
    fail_requests: HashMap<String, usize>,
    counts: BTreeMap<(String, String), usize>,
    open_watches: usize,
    uid_seed: u64,
    seq: u64,
}

impl Store {
    fn new(config: &FakeKubeConfig) -> Self {
        let uid_seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x5eed);
        Self {
            kinds: config.kinds.clone(),
            objects: HashMap::new(),
            rv: 1,
            compacted_rv: 0,
            history: VecDeque::new(),
            history_capacity: config.history_capacity.max(1),
            restart_rv_jump: config.restart_rv_jump.max(1),
            drop_epoch: 0,
            shutting_down: false,
            paused: false,
            fail_watches: 0,
            fail_requests: HashMap::new(),
            counts: BTreeMap::new(),
            open_watches: 0,
            uid_seed,
            seq: 0,
        }
    }

    fn kind_by_path(&self, group: &str, version: &str, plural: &str) -> Option<ResourceKind> {
        self.kinds
            .iter()
            .find(|k| k.group == group && k.version == version && k.plural == plural)
            .cloned()
    }

    fn kind_by_type(&self, api_version: &str, kind: &str) -> Option<ResourceKind> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        self.kinds
            .iter()
            .find(|k| k.group == group && k.version == version && k.kind == kind)
            .cloned()
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        // splitmix64: distinct, random-looking values for uids and generated names.
        let mut z = self
            .uid_seed
            .wrapping_add(self.seq.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn new_uid(&mut self) -> String {
        let a = self.next_seq();
        let b = self.next_seq();
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            b >> 52,
            b & 0xffff_ffff_ffff
        )
    }

    fn generated_suffix(&mut self) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        let mut n = self.next_seq();
        (0..5)
            .map(|_| {
                let c = ALPHABET[(n % ALPHABET.len() as u64) as usize] as char;
                n /= ALPHABET.len() as u64;
                c
            })
            .collect()
    }

    fn get(&self, kind: &ResourceKind, ns: &str, name: &str) -> Option<&Value> {
        self.objects
            .get(&kind.key())?
            .get(&(ns.to_owned(), name.to_owned()))
    }

    /// Stores (or removes) one object under a fresh resourceVersion and records the change.
    /// Returns the stored object, or for a delete the last state stamped with the delete's RV.
    fn commit(&mut self, kind: &ResourceKind, ns: &str, name: &str, new: Option<Value>) -> Value {
        self.rv += 1;
        let rv = self.rv;
        let key = (ns.to_owned(), name.to_owned());
        let objects = self.objects.entry(kind.key()).or_default();
        let (old, stored, result) = match new {
            Some(mut obj) => {
                set_meta(&mut obj, "resourceVersion", Value::String(rv.to_string()));
                let old = objects.insert(key, obj.clone());
                (old, Some(obj.clone()), obj)
            }
            None => {
                let old = objects.remove(&key);
                let mut gone = old.clone().unwrap_or(Value::Null);
                set_meta(&mut gone, "resourceVersion", Value::String(rv.to_string()));
                (old, None, gone)
            }
        };
        self.history.push_back(Change {
            rv,
            kind_key: kind.key(),
            old,
            new: stored,
        });
        while self.history.len() > self.history_capacity {
            if let Some(evicted) = self.history.pop_front() {
                self.compacted_rv = evicted.rv;
            }
        }
        result
    }

    /// Objects of a kind as they were at `rv`, in key order, after `after` (exclusive): the
    /// current objects with the changes since `rv` rolled back through the history. Lazy, so a
    /// page of a large list costs the page, not a copy of the whole kind.
    fn objects_at<'a>(
        &'a self,
        kind: &ResourceKind,
        rv: u64,
        after: Option<&'a (String, String)>,
    ) -> Result<impl Iterator<Item = &'a Value> + 'a, FakeKubeError> {
        use std::ops::Bound::{Excluded, Unbounded};
        if rv < self.compacted_rv {
            return Err(gone(rv, self.compacted_rv));
        }
        let key = kind.key();
        // The state at `rv` of each object changed since: the oldest change's `old` wins.
        let mut rolled: BTreeMap<(String, String), Option<&'a Value>> = BTreeMap::new();
        for change in self.history.iter().rev().take_while(|c| c.rv > rv) {
            if change.kind_key != key {
                continue;
            }
            let Some(any) = change.old.as_ref().or(change.new.as_ref()) else {
                continue;
            };
            rolled.insert(object_id(any), change.old.as_ref());
        }
        let lower = || after.map_or(Unbounded, |a| Excluded(a.clone()));
        let current = self
            .objects
            .get(&key)
            .map(|objs| objs.range((lower(), Unbounded)))
            .into_iter()
            .flatten();
        let mut current = current.peekable();
        let mut rolled = rolled.into_iter().filter(move |(k, _)| match after {
            Some(a) => k > a,
            None => true,
        });
        let mut next_rolled = rolled.next();
        Ok(std::iter::from_fn(move || {
            loop {
                let take_current = match (current.peek(), &next_rolled) {
                    (None, None) => return None,
                    (Some(_), None) => true,
                    (None, Some(_)) => false,
                    (Some((ck, _)), Some((rk, _))) => {
                        if *ck == rk {
                            // Rolled back: the current version is not the one at `rv`.
                            current.next();
                            false
                        } else {
                            *ck < rk
                        }
                    }
                };
                if take_current {
                    return current.next().map(|(_, v)| v);
                }
                let (_, old) = next_rolled.take()?;
                next_rolled = rolled.next();
                if let Some(v) = old {
                    return Some(v);
                }
            }
        }))
    }

    /// Validates and finishes an object for storage, then commits it unless nothing changed.
    /// `trusted` writes (the in-process handle) keep a given creationTimestamp.
    fn write(
        &mut self,
        kind: &ResourceKind,
        ns: &str,
        name: &str,
        mut obj: Value,
        trusted: bool,
        dry_run: bool,
    ) -> Result<Value, FakeKubeError> {
        let existing = self.get(kind, ns, name).cloned();
        let map = obj
            .as_object_mut()
            .ok_or_else(|| FakeKubeError::bad_request("the object must be a JSON object"))?;
        map.insert("apiVersion".into(), Value::String(kind.api_version()));
        map.insert("kind".into(), Value::String(kind.kind.clone()));
        let meta = map
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
            .ok_or_else(|| FakeKubeError::bad_request("metadata must be an object"))?;
        meta.insert("name".into(), Value::String(name.to_owned()));
        if kind.namespaced {
            meta.insert("namespace".into(), Value::String(ns.to_owned()));
        } else {
            meta.remove("namespace");
        }
        meta.remove("resourceVersion");
        match &existing {
            Some(prev) => {
                for field in ["uid", "creationTimestamp"] {
                    match prev.pointer(&format!("/metadata/{field}")) {
                        Some(v) => meta.insert(field.into(), v.clone()),
                        None => meta.remove(field),
                    };
                }
                let generation = prev
                    .pointer("/metadata/generation")
                    .and_then(Value::as_i64)
                    .unwrap_or(1);
                let bump = i64::from(spec_part(prev) != spec_part(&obj));
                set_meta(&mut obj, "generation", json!(generation + bump));
                if strip_rv(prev) == obj {
                    // No-op writes keep the resourceVersion and emit nothing, as the apiserver.
                    return Ok(prev.clone());
                }
            }
            None => {
                let uid = self.new_uid();
                set_meta(&mut obj, "uid", Value::String(uid));
                set_meta(&mut obj, "generation", json!(1));
                if !(trusted && obj.pointer("/metadata/creationTimestamp").is_some()) {
                    set_meta(&mut obj, "creationTimestamp", Value::String(now_rfc3339()));
                }
            }
        }
        if dry_run {
            if let Some(rv) = existing.as_ref().and_then(resource_version) {
                set_meta(&mut obj, "resourceVersion", Value::String(rv));
            }
            return Ok(obj);
        }
        Ok(self.commit(kind, ns, name, Some(obj)))
    }

    fn count(&mut self, verb: &str, resource: &str) {
        *self
            .counts
            .entry((verb.to_owned(), resource.to_owned()))
            .or_default() += 1;
    }

    fn drop_watches(&mut self) {
        self.drop_epoch += 1;
    }

    fn expire_history(&mut self) {
        self.history.clear();
        self.compacted_rv = self.rv;
    }

    fn restart(&mut self) {
        self.rv += self.restart_rv_jump;
        self.expire_history();
        self.drop_watches();
    }
}

fn gone(rv: u64, compacted: u64) -> FakeKubeError {
    FakeKubeError::api(
        410,
        "Expired",
        format!("too old resource version: {rv} ({compacted})"),
    )
}

fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn set_meta(obj: &mut Value, field: &str, value: Value) {
    if let Some(map) = obj.as_object_mut() {
        let meta = map
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(meta) = meta.as_object_mut() {
            meta.insert(field.to_owned(), value);
        }
    }
}

fn resource_version(obj: &Value) -> Option<String> {
    obj.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn strip_rv(obj: &Value) -> Value {
    let mut copy = obj.clone();
    if let Some(meta) = copy.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("resourceVersion");
    }
    copy
}

/// Everything but metadata and status: a change here bumps metadata.generation.
fn spec_part(obj: &Value) -> Value {
    let mut copy = obj.clone();
    if let Some(map) = copy.as_object_mut() {
        for field in ["metadata", "status", "apiVersion", "kind"] {
            map.remove(field);
        }
    }
    copy
}

fn object_id(obj: &Value) -> (String, String) {
    let field = |f: &str| {
        obj.pointer(&format!("/metadata/{f}"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    (field("namespace"), field("name"))
}

/// State shared by the HTTP handlers, the watch streams and the handle.
#[derive(Debug)]
struct Shared {
    store: Mutex<Store>,
    /// Bumped on every observable change so watches and waiters re-check the store.
    tick: watch::Sender<u64>,
    bookmark_interval: Duration,
    addr: SocketAddr,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Store> {
        // A panicking test thread must not wedge the server for the other tests.
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn notify(&self) {
        self.tick.send_modify(|t| *t = t.wrapping_add(1));
    }

    /// Runs `f` on the store, then wakes watches and waiters.
    fn mutate<T>(&self, f: impl FnOnce(&mut Store) -> T) -> T {
        let out = f(&mut self.lock());
        self.notify();
        out
    }
}

/// Starts fake API servers.
#[derive(Debug)]
pub struct FakeKube;

impl FakeKube {
    /// Starts a server with the default kinds on `127.0.0.1:0`.
    pub async fn start() -> Result<FakeKubeHandle, FakeKubeError> {
        Self::start_with(FakeKubeConfig::default()).await
    }

    /// Starts a server with the given settings on `127.0.0.1:0`.
    pub async fn start_with(config: FakeKubeConfig) -> Result<FakeKubeHandle, FakeKubeError> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            store: Mutex::new(Store::new(&config)),
            tick: watch::Sender::new(0),
            bookmark_interval: config.bookmark_interval,
            addr,
        });
        let cancel = CancellationToken::new();
        let router = Router::new()
            .fallback(dispatch)
            .with_state(Arc::clone(&shared));
        let stop = cancel.clone();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await;
            if let Err(e) = served {
                tracing::warn!(error = %e, "fake kube server stopped");
            }
        });
        Ok(FakeKubeHandle {
            inner: Arc::new(HandleInner {
                shared,
                cancel,
                task: Mutex::new(Some(task)),
            }),
        })
    }
}

#[derive(Debug)]
struct HandleInner {
    shared: Arc<Shared>,
    cancel: CancellationToken,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl HandleInner {
    fn begin_shutdown(&self) {
        self.shared.mutate(|s| {
            s.shutting_down = true;
            s.drop_watches();
        });
        self.cancel.cancel();
    }
}

impl Drop for HandleInner {
    fn drop(&mut self) {
        self.begin_shutdown();
    }
}

/// Controls a running fake API server; clones share it and the last one dropped stops it.
#[derive(Debug, Clone)]
pub struct FakeKubeHandle {
    inner: Arc<HandleInner>,
}

impl FakeKubeHandle {
    fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    fn kind(&self, api_version: &str, kind: &str) -> Result<ResourceKind, FakeKubeError> {
        self.shared()
            .lock()
            .kind_by_type(api_version, kind)
            .ok_or_else(|| {
                FakeKubeError::api(
                    404,
                    "NotFound",
                    format!("no kind {kind:?} is registered for version {api_version:?}"),
                )
            })
    }

    /// Where an object of `kind` lives: namespaced kinds default to `default`.
    fn scope<'a>(kind: &ResourceKind, ns: Option<&'a str>) -> &'a str {
        if kind.namespaced {
            ns.unwrap_or("default")
        } else {
            ""
        }
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.shared().addr
    }

    /// Base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// A kube config for this server, default namespace `default`.
    pub fn client_config(&self) -> kube::Config {
        let uri = format!("{}/", self.url())
            .parse::<Uri>()
            .unwrap_or_else(|_| Uri::from_static("http://127.0.0.1/"));
        kube::Config::new(uri)
    }

    /// A ready-to-use kube client for this server.
    pub async fn client(&self) -> Result<kube::Client, FakeKubeError> {
        Ok(kube::Client::try_from(self.client_config())?)
    }

    /// Adds a kind, replacing one with the same group/version/plural.
    pub fn register_kind(&self, kind: ResourceKind) {
        self.shared().mutate(|s| {
            s.kinds.retain(|k| {
                (&k.group, &k.version, &k.plural) != (&kind.group, &kind.version, &kind.plural)
            });
            s.kinds.push(kind);
        });
    }

    /// The kinds served, in registration order.
    pub fn kinds(&self) -> Vec<ResourceKind> {
        self.shared().lock().kinds.clone()
    }

    /// Creates or replaces an object by apiVersion/kind/namespace/name, status included,
    /// without resourceVersion checks. A namespaced object without namespace goes to
    /// `default`. Returns the stored object.
    pub fn try_apply(&self, obj: Value) -> Result<Value, FakeKubeError> {
        let text = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or_default();
        let kind = self.kind(text("/apiVersion"), text("/kind"))?;
        let name = text("/metadata/name").to_owned();
        if name.is_empty() {
            return Err(FakeKubeError::bad_request("metadata.name is required"));
        }
        let ns = Self::scope(
            &kind,
            Some(text("/metadata/namespace")).filter(|n| !n.is_empty()),
        )
        .to_owned();
        self.shared()
            .mutate(|s| s.write(&kind, &ns, &name, obj, true, false))
    }

    /// [`Self::try_apply`] for tests.
    ///
    /// # Panics
    /// When the kind is not registered or the object has no name.
    pub fn apply(&self, obj: Value) -> Value {
        match self.try_apply(obj) {
            Ok(stored) => stored,
            Err(e) => panic!("fake kube apply failed: {e}"),
        }
    }

    /// [`Self::try_apply`] for a typed object.
    pub fn apply_resource<K>(&self, obj: &K) -> Result<K, FakeKubeError>
    where
        K: k8s_openapi::Resource + Serialize + DeserializeOwned,
    {
        let mut value = serde_json::to_value(obj)?;
        if let Some(map) = value.as_object_mut() {
            map.insert(
                "apiVersion".into(),
                Value::String(K::API_VERSION.to_owned()),
            );
            map.insert("kind".into(), Value::String(K::KIND.to_owned()));
        }
        Ok(serde_json::from_value(self.try_apply(value)?)?)
    }

    /// The stored object, if any (`ns` defaults to `default`; ignored when cluster-scoped).
    pub fn get(
        &self,
        api_version: &str,
        kind: &str,
        ns: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let kind = self.kind(api_version, kind).ok()?;
        let ns = Self::scope(&kind, ns);
        self.shared().lock().get(&kind, ns, name).cloned()
    }

    /// [`Self::get`] for a typed object.
    pub fn get_resource<K>(&self, ns: Option<&str>, name: &str) -> Option<K>
    where
        K: k8s_openapi::Resource + DeserializeOwned,
    {
        let value = self.get(K::API_VERSION, K::KIND, ns, name)?;
        serde_json::from_value(value).ok()
    }

    /// All stored objects of a kind, ordered by namespace and name.
    pub fn list(&self, api_version: &str, kind: &str) -> Vec<Value> {
        let Ok(kind) = self.kind(api_version, kind) else {
            return Vec::new();
        };
        self.shared()
            .lock()
            .objects
            .get(&kind.key())
            .map(|objs| objs.values().cloned().collect())
            .unwrap_or_default()
    }

    /// [`Self::list`] for a typed kind; objects that do not deserialize are skipped.
    pub fn list_resources<K>(&self) -> Vec<K>
    where
        K: k8s_openapi::Resource + DeserializeOwned,
    {
        self.list(K::API_VERSION, K::KIND)
            .into_iter()
            .filter_map(|v| serde_json::from_value(v).ok())
            .collect()
    }

    /// Deletes an object; false when it did not exist.
    pub fn delete(&self, api_version: &str, kind: &str, ns: Option<&str>, name: &str) -> bool {
        let Ok(kind) = self.kind(api_version, kind) else {
            return false;
        };
        let ns = Self::scope(&kind, ns);
        self.shared().mutate(|s| {
            let exists = s.get(&kind, ns, name).is_some();
            if exists {
                s.commit(&kind, ns, name, None);
            }
            exists
        })
    }

    /// Applies a JSON merge patch to an object, status included. None when it does not exist.
    pub fn merge_patch(
        &self,
        api_version: &str,
        kind: &str,
        ns: Option<&str>,
        name: &str,
        patch: &Value,
    ) -> Option<Value> {
        let kind = self.kind(api_version, kind).ok()?;
        let ns = Self::scope(&kind, ns);
        self.shared().mutate(|s| {
            let mut obj = s.get(&kind, ns, name)?.clone();
            json_patch::merge(&mut obj, patch);
            s.write(&kind, ns, name, obj, true, false).ok()
        })
    }

    /// Replaces an object's status (as a controller's status update would), in one write.
    pub fn set_status(
        &self,
        api_version: &str,
        kind: &str,
        ns: Option<&str>,
        name: &str,
        status: Value,
    ) -> Option<Value> {
        let kind = self.kind(api_version, kind).ok()?;
        let ns = Self::scope(&kind, ns);
        self.shared().mutate(|s| {
            let mut obj = s.get(&kind, ns, name)?.clone();
            obj.as_object_mut()?.insert("status".into(), status);
            s.write(&kind, ns, name, obj, true, false).ok()
        })
    }

    /// Events stored through either API (core/v1 and events.k8s.io/v1), oldest write first.
    pub fn events(&self) -> Vec<Value> {
        let mut events = self.list("v1", "Event");
        events.extend(self.list("events.k8s.io/v1", "Event"));
        events.sort_by_key(|e| {
            resource_version(e)
                .and_then(|rv| rv.parse::<u64>().ok())
                .unwrap_or_default()
        });
        events
    }

    /// The current global resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.shared().lock().rv
    }

    /// Closes every open watch connection mid-stream (no terminating chunk).
    pub fn drop_watches(&self) {
        self.shared().mutate(Store::drop_watches);
    }

    /// Forgets the change history: watches (and Exact or continued lists) from any earlier
    /// resourceVersion now get 410 Gone. Open, caught-up watches carry on.
    pub fn expire_history(&self) {
        self.shared().mutate(Store::expire_history);
    }

    /// The next `n` watch requests answer with a 410 Expired ERROR event and close.
    pub fn fail_next_watches(&self, n: usize) {
        self.shared().mutate(|s| s.fail_watches = n);
    }

    /// The next `n` requests on `plural` (any verb, subresources included) answer 500.
    pub fn fail_next_requests(&self, plural: &str, n: usize) {
        self.shared()
            .mutate(|s| s.fail_requests.insert(plural.to_owned(), n));
    }

    /// Simulates an apiserver restart: objects are kept, resourceVersions jump ahead, the
    /// history is cleared (older resourceVersions are Gone) and every watch is dropped.
    pub fn restart_with_new_history(&self) {
        self.shared().mutate(Store::restart);
    }

    /// Holds back everything open watches would send (events, bookmarks, errors) until
    /// [`Self::resume_watches`]. Dropping watches still works while paused.
    pub fn pause_watches(&self) {
        self.shared().mutate(|s| s.paused = true);
    }

    /// Lets held-back watch traffic flow again.
    pub fn resume_watches(&self) {
        self.shared().mutate(|s| s.paused = false);
    }

    /// Requests served for a verb (`get`, `list`, `watch`, `create`, `update`, `patch`,
    /// `delete`, `deletecollection`) and resource (`ingresses`, `ingresses/status`).
    pub fn request_count(&self, verb: &str, plural: &str) -> usize {
        self.shared()
            .lock()
            .counts
            .get(&(verb.to_owned(), plural.to_owned()))
            .copied()
            .unwrap_or_default()
    }

    /// All request counts by (verb, resource).
    pub fn request_counts(&self) -> BTreeMap<(String, String), usize> {
        self.shared().lock().counts.clone()
    }

    /// Watch connections open right now.
    pub fn open_watches(&self) -> usize {
        self.shared().lock().open_watches
    }

    /// Waits until `condition` holds, re-checking on every change to the server's state
    /// (writes, requests, watches opening or closing). False on timeout.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        mut condition: impl FnMut(&Self) -> bool,
    ) -> bool {
        let mut rx = self.shared().tick.subscribe();
        let deadline = Instant::now() + timeout;
        loop {
            rx.borrow_and_update();
            if condition(self) {
                return true;
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return condition(self),
            }
        }
    }

    /// Stops the server: closes watches, stops accepting, and waits for it to finish.
    pub async fn shutdown(self) {
        self.inner.begin_shutdown();
        let task = self
            .inner
            .task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(mut task) = task
            && tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}

// ---------------------------------------------------------------------------------------
// HTTP

type Params = HashMap<String, String>;

fn json_response(code: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn error_response(err: &FakeKubeError) -> Response {
    json_response(err.code(), &err.status())
}

fn not_found_path() -> FakeKubeError {
    FakeKubeError::api(
        404,
        "NotFound",
        "the server could not find the requested resource",
    )
}

/// What a request path addresses.
enum Route {
    Version,
    CoreVersions,
    GroupList,
    Group(String),
    ResourceList(String, String),
    Resource(Target),
}

/// A resource request: the collection when `name` is None.
struct Target {
    kind: ResourceKind,
    ns: Option<String>,
    name: Option<String>,
    status: bool,
}

fn route(store: &Store, path: &str) -> Result<Route, FakeKubeError> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (group, version, rest) = match segs.as_slice() {
        ["version"] => return Ok(Route::Version),
        ["api"] => return Ok(Route::CoreVersions),
        ["apis"] => return Ok(Route::GroupList),
        ["apis", group] => return Ok(Route::Group((*group).to_owned())),
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return Err(not_found_path()),
    };
    let kind = |plural: &str| {
        store
            .kind_by_path(group, version, plural)
            .ok_or_else(not_found_path)
    };
    let target = |kind: ResourceKind, ns: Option<&str>, name: Option<&str>, sub: Option<&str>| {
        let status = match sub {
            None => false,
            Some("status") if kind.status_subresource => true,
            Some(_) => return Err(not_found_path()),
        };
        // Namespaced objects need a namespace; only their collections may span all of them.
        if kind.namespaced && ns.is_none() && name.is_some() {
            return Err(not_found_path());
        }
        Ok(Route::Resource(Target {
            kind,
            ns: ns.map(str::to_owned),
            name: name.map(str::to_owned),
            status,
        }))
    };
    // `namespaces/x/...` is a namespaced path only when followed by a namespaced plural;
    // otherwise it addresses the Namespace object `x`.
    let namespaced = |plural: &str| {
        store
            .kind_by_path(group, version, plural)
            .is_some_and(|k| k.namespaced)
    };
    match rest {
        [] => Ok(Route::ResourceList(group.to_owned(), version.to_owned())),
        ["namespaces", ns, plural, tail @ ..] if namespaced(plural) => match tail {
            [] => target(kind(plural)?, Some(ns), None, None),
            [name] => target(kind(plural)?, Some(ns), Some(name), None),
            [name, sub] => target(kind(plural)?, Some(ns), Some(name), Some(sub)),
            _ => Err(not_found_path()),
        },
        [plural] => target(kind(plural)?, None, None, None),
        [plural, name] => target(kind(plural)?, None, Some(name), None),
        [plural, name, sub] => target(kind(plural)?, None, Some(name), Some(sub)),
        _ => Err(not_found_path()),
    }
}

async fn dispatch(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params: Params = Query::try_from_uri(&uri).map(|q| q.0).unwrap_or_default();
    let path = uri.path();
    tracing::debug!(%method, %uri, "fake kube request");
    if let Some(action) = path.strip_prefix("/__fake/") {
        return control(&shared, &method, action, &params);
    }
    let routed = route(&shared.lock(), path);
    let result = match routed {
        Ok(Route::Version) => Ok(json_response(200, &version_info())),
        Ok(Route::CoreVersions) => Ok(json_response(200, &core_versions(shared.addr))),
        Ok(Route::GroupList) => Ok(json_response(200, &group_list(&shared.lock().kinds))),
        Ok(Route::Group(group)) => api_group(&shared.lock().kinds, &group)
            .map(|g| json_response(200, &g))
            .ok_or_else(not_found_path),
        Ok(Route::ResourceList(group, version)) => {
            resource_list(&shared.lock().kinds, &group, &version)
                .map(|l| json_response(200, &l))
                .ok_or_else(not_found_path)
        }
        Ok(Route::Resource(target)) => {
            resource_request(&shared, &method, target, &params, &headers, &body)
        }
        Err(e) => Err(e),
    };
    result.unwrap_or_else(|e| error_response(&e))
}

fn control(shared: &Shared, method: &Method, action: &str, params: &Params) -> Response {
    let n = params
        .get("n")
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(1);
    let ok = json!({"ok": true});
    match (method.as_str(), action) {
        ("GET", "counts") => {
            let counts: Vec<Value> = shared
                .lock()
                .counts
                .iter()
                .map(|((verb, resource), count)| {
                    json!({"verb": verb, "resource": resource, "count": count})
                })
                .collect();
            json_response(200, &Value::Array(counts))
        }
        ("POST", "drop-watches") => {
            shared.mutate(Store::drop_watches);
            json_response(200, &ok)
        }
        ("POST", "expire-history") => {
            shared.mutate(Store::expire_history);
            json_response(200, &ok)
        }
        ("POST", "restart") => {
            shared.mutate(Store::restart);
            json_response(200, &ok)
        }
        ("POST", "pause") => {
            shared.mutate(|s| s.paused = true);
            json_response(200, &ok)
        }
        ("POST", "resume") => {
            shared.mutate(|s| s.paused = false);
            json_response(200, &ok)
        }
        ("POST", "fail-watches") => {
            shared.mutate(|s| s.fail_watches = n);
            json_response(200, &ok)
        }
        ("POST", "fail-requests") => match params.get("plural") {
            Some(plural) => {
                shared.mutate(|s| s.fail_requests.insert(plural.clone(), n));
                json_response(200, &ok)
            }
            None => error_response(&FakeKubeError::bad_request("plural is required")),
        },
        _ => error_response(&not_found_path()),
    }
}

fn flag(params: &Params, name: &str) -> bool {
    params.get(name).is_some_and(|v| v == "true" || v == "1")
}

fn resource_request(
    shared: &Arc<Shared>,
    method: &Method,
    target: Target,
    params: &Params,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Response, FakeKubeError> {
    let verb = match (method.as_str(), target.name.is_some(), target.status) {
        ("GET", false, false) if flag(params, "watch") => "watch",
        ("GET", false, false) => "list",
        ("POST", false, false) => "create",
        ("DELETE", false, false) => "deletecollection",
        ("GET", true, _) => "get",
        ("PUT", true, _) => "update",
        ("PATCH", true, _) => "patch",
        ("DELETE", true, false) => "delete",
        _ => {
            return Err(FakeKubeError::api(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
            ));
        }
    };
    let resource = if target.status {
        format!("{}/status", target.kind.plural)
    } else {
        target.kind.plural.clone()
    };
    let injected = shared.mutate(|s| {
        s.count(verb, &resource);
        match s.fail_requests.get_mut(&target.kind.plural) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        }
    });
    if injected {
        return Err(FakeKubeError::api(
            500,
            "InternalError",
            "Internal error occurred: injected fault",
        ));
    }
    let dry_run = params.contains_key("dryRun");
    let kind = &target.kind;
    let ns = target.ns.clone().unwrap_or_default();
    let parse_body = || -> Result<Value, FakeKubeError> {
        if body.is_empty() {
            return Ok(Value::Null);
        }
        Ok(serde_json::from_slice(body)?)
    };
    match (verb, target.name.as_deref()) {
        ("watch", _) => start_watch(shared, &target, params),
        ("list", _) => {
            let list = list(&shared.lock(), kind, target.ns.as_deref(), params)?;
            Ok(json_response(200, &list))
        }
        ("create", _) if kind.namespaced && target.ns.is_none() => Err(FakeKubeError::api(
            405,
            "MethodNotAllowed",
            "create needs a namespace in the URL",
        )),
        ("create", _) => {
            let obj = parse_body()?;
            let created = shared.mutate(|s| create(s, kind, &ns, obj, dry_run))?;
            Ok(json_response(201, &created))
        }
        ("deletecollection", _) => {
            let deleted = shared
                .mutate(|s| delete_collection(s, kind, target.ns.as_deref(), params, dry_run))?;
            Ok(json_response(200, &deleted))
        }
        ("get", Some(name)) => {
            let obj = shared
                .lock()
                .get(kind, &ns, name)
                .cloned()
                .ok_or_else(|| not_found(kind, name))?;
            Ok(json_response(200, &obj))
        }
        ("update", Some(name)) => {
            let obj = parse_body()?;
            let updated =
                shared.mutate(|s| update(s, kind, &ns, name, obj, target.status, dry_run))?;
            Ok(json_response(200, &updated))
        }
        ("patch", Some(name)) => {
            let patch = parse_body()?;
            let content_type = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let request = PatchRequest {
                kind,
                ns: &ns,
                name,
                content_type,
                patch: &patch,
                status: target.status,
                dry_run,
            };
            let (code, patched) = shared.mutate(|s| patch_object(s, &request))?;
            Ok(json_response(code, &patched))
        }
        ("delete", Some(name)) => {
            let options = parse_body()?;
            let deleted = shared.mutate(|s| delete(s, kind, &ns, name, &options, dry_run))?;
            Ok(json_response(200, &deleted))
        }
        _ => Err(not_found_path()),
    }
}

fn not_found(kind: &ResourceKind, name: &str) -> FakeKubeError {
    FakeKubeError::api(
        404,
        "NotFound",
        format!("{} \"{name}\" not found", kind.qualified()),
    )
}

fn conflict(kind: &ResourceKind, name: &str) -> FakeKubeError {
    FakeKubeError::api(
        409,
        "Conflict",
        format!(
            "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
             please apply your changes to the latest version and try again",
            kind.qualified()
        ),
    )
}

/// Checks apiVersion/kind/namespace of a request body against the URL.
fn check_body(kind: &ResourceKind, ns: &str, obj: &Value) -> Result<(), FakeKubeError> {
    if !obj.is_object() {
        return Err(FakeKubeError::bad_request(
            "the request body must be a JSON object",
        ));
    }
    let text = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or_default();
    let api_version = text("/apiVersion");
    if !api_version.is_empty() && api_version != kind.api_version() {
        return Err(FakeKubeError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API \
             version ({})",
            kind.api_version()
        )));
    }
    let body_kind = text("/kind");
    if !body_kind.is_empty() && body_kind != kind.kind {
        return Err(FakeKubeError::bad_request(format!(
            "the kind in the data ({body_kind}) does not match the expected kind ({})",
            kind.kind
        )));
    }
    let body_ns = text("/metadata/namespace");
    if kind.namespaced && !body_ns.is_empty() && body_ns != ns {
        return Err(FakeKubeError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the \
             request",
        ));
    }
    Ok(())
}

fn create(
    s: &mut Store,
    kind: &ResourceKind,
    ns: &str,
    mut obj: Value,
    dry_run: bool,
) -> Result<Value, FakeKubeError> {
    check_body(kind, ns, &obj)?;
    let text = |p: &str| {
        obj.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let mut name = text("/metadata/name");
    if name.is_empty() {
        let prefix = text("/metadata/generateName");
        if prefix.is_empty() {
            return Err(FakeKubeError::api(
                422,
                "Invalid",
                format!(
                    "{} is invalid: metadata.name: Required value: name or generateName is \
                     required",
                    kind.kind
                ),
            ));
        }
        name = format!("{prefix}{}", s.generated_suffix());
        set_meta(&mut obj, "name", Value::String(name.clone()));
    }
    if s.get(kind, ns, &name).is_some() {
        return Err(FakeKubeError::api(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", kind.qualified()),
        ));
    }
    s.write(kind, ns, &name, obj, false, dry_run)
}

fn update(
    s: &mut Store,
    kind: &ResourceKind,
    ns: &str,
    name: &str,
    obj: Value,
    status: bool,
    dry_run: bool,
) -> Result<Value, FakeKubeError> {
    check_body(kind, ns, &obj)?;
    let body_name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or(name);
    if body_name != name {
        return Err(FakeKubeError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    let existing = s
        .get(kind, ns, name)
        .cloned()
        .ok_or_else(|| not_found(kind, name))?;
    // A resourceVersion in the body is an optimistic-concurrency precondition.
    if let Some(rv) = resource_version(&obj)
        && Some(rv) != resource_version(&existing)
    {
        return Err(conflict(kind, name));
    }
    let merged = split_status(kind, &existing, obj, status);
    s.write(kind, ns, name, merged, false, dry_run)
}

/// With a status subresource, the main resource keeps the stored status and `/status`
/// keeps everything but status.
fn split_status(kind: &ResourceKind, existing: &Value, mut incoming: Value, status: bool) -> Value {
    if status {
        let mut out = existing.clone();
        if let Some(map) = out.as_object_mut() {
            match incoming.get("status") {
                Some(st) => map.insert("status".into(), st.clone()),
                None => map.remove("status"),
            };
        }
        out
    } else if kind.status_subresource {
        if let Some(map) = incoming.as_object_mut() {
            match existing.get("status") {
                Some(st) => map.insert("status".into(), st.clone()),
                None => map.remove("status"),
            };
        }
        incoming
    } else {
        incoming
    }
}

/// The parts of a PATCH request.
struct PatchRequest<'a> {
    kind: &'a ResourceKind,
    ns: &'a str,
    name: &'a str,
    content_type: &'a str,
    patch: &'a Value,
    status: bool,
    dry_run: bool,
}

fn patch_object(s: &mut Store, req: &PatchRequest<'_>) -> Result<(u16, Value), FakeKubeError> {
    let PatchRequest {
        kind,
        ns,
        name,
        patch,
        status,
        dry_run,
        ..
    } = *req;
    let media = req
        .content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim();
    let apply = media == "application/apply-patch+yaml";
    let Some(existing) = s.get(kind, ns, name).cloned() else {
        if apply && !status {
            // Server-side apply creates missing objects.
            let mut obj = patch.clone();
            set_meta(&mut obj, "name", Value::String(name.to_owned()));
            return Ok((201, create(s, kind, ns, obj, dry_run)?));
        }
        return Err(not_found(kind, name));
    };
    let mut patched = existing.clone();
    match media {
        // Strategic merge and server-side apply are approximated by a merge patch.
        "application/merge-patch+json"
        | "application/strategic-merge-patch+json"
        | "application/apply-patch+yaml" => {
            check_body(kind, ns, patch)?;
            json_patch::merge(&mut patched, patch);
        }
        "application/json-patch+json" => {
            let ops: json_patch::Patch = serde_json::from_value(patch.clone()).map_err(|e| {
                FakeKubeError::api(422, "Invalid", format!("invalid JSON patch: {e}"))
            })?;
            json_patch::patch(&mut patched, &ops)?;
        }
        other => {
            return Err(FakeKubeError::api(
                415,
                "UnsupportedMediaType",
                format!(
                    "the body of the request was in an unknown format - accepted media types \
                     include: application/json-patch+json, application/merge-patch+json, \
                     application/apply-patch+yaml; got {other:?}"
                ),
            ));
        }
    }
    // A patch that names a resourceVersion is an optimistic-concurrency precondition.
    if let Some(rv) = resource_version(&patched)
        && Some(rv) != resource_version(&existing)
    {
        return Err(conflict(kind, name));
    }
    if patched.pointer("/metadata/name").and_then(Value::as_str) != Some(name) {
        return Err(FakeKubeError::bad_request(
            "metadata.name cannot be changed by a patch",
        ));
    }
    let merged = split_status(kind, &existing, patched, status);
    Ok((200, s.write(kind, ns, name, merged, false, dry_run)?))
}

fn delete(
    s: &mut Store,
    kind: &ResourceKind,
    ns: &str,
    name: &str,
    options: &Value,
    dry_run: bool,
) -> Result<Value, FakeKubeError> {
    let existing = s
        .get(kind, ns, name)
        .cloned()
        .ok_or_else(|| not_found(kind, name))?;
    let precondition = |field: &str| {
        options
            .pointer(&format!("/preconditions/{field}"))
            .and_then(Value::as_str)
    };
    if let Some(rv) = precondition("resourceVersion")
        && resource_version(&existing).as_deref() != Some(rv)
    {
        return Err(conflict(kind, name));
    }
    if let Some(uid) = precondition("uid")
        && existing.pointer("/metadata/uid").and_then(Value::as_str) != Some(uid)
    {
        return Err(conflict(kind, name));
    }
    if dry_run {
        return Ok(existing);
    }
    Ok(s.commit(kind, ns, name, None))
}

fn delete_collection(
    s: &mut Store,
    kind: &ResourceKind,
    ns: Option<&str>,
    params: &Params,
    dry_run: bool,
) -> Result<Value, FakeKubeError> {
    let filter = Filter::from_params(ns, params)?;
    let victims: Vec<Value> = s
        .objects
        .get(&kind.key())
        .map(|objs| {
            objs.values()
                .filter(|o| filter.matches(o))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let mut items = Vec::new();
    for obj in victims {
        let (ns, name) = object_id(&obj);
        items.push(if dry_run {
            obj
        } else {
            s.commit(kind, &ns, &name, None)
        });
    }
    Ok(json!({
        "kind": format!("{}List", kind.kind),
        "apiVersion": kind.api_version(),
        "metadata": {"resourceVersion": s.rv.to_string()},
        "items": items,
    }))
}

/// Which objects a list or watch selects.
#[derive(Debug, Clone)]
struct Filter {
    ns: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Filter {
    fn from_params(ns: Option<&str>, params: &Params) -> Result<Self, FakeKubeError> {
        let get = |k: &str| params.get(k).map(String::as_str).unwrap_or_default();
        Ok(Self {
            ns: ns.map(str::to_owned),
            labels: LabelSelector::parse(get("labelSelector"))?,
            fields: FieldSelector::parse(get("fieldSelector"))?,
        })
    }

    fn matches(&self, obj: &Value) -> bool {
        let in_scope = self.ns.as_deref().is_none_or(|ns| {
            obj.pointer("/metadata/namespace").and_then(Value::as_str) == Some(ns)
        });
        in_scope && self.labels.matches_object(obj) && self.fields.matches_object(obj)
    }
}

fn encode_continue(rv: u64, ns: &str, name: &str) -> String {
    format!("{rv}/{ns}/{name}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode_continue(token: &str) -> Option<(u64, String, String)> {
    let bytes = (0..token.len())
        .step_by(2)
        .map(|i| {
            token
                .get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()?;
    let text = String::from_utf8(bytes).ok()?;
    let mut parts = text.splitn(3, '/');
    let rv = parts.next()?.parse().ok()?;
    Some((rv, parts.next()?.to_owned(), parts.next()?.to_owned()))
}

fn parse_rv(text: &str) -> Result<u64, FakeKubeError> {
    text.parse::<u64>()
        .map_err(|_| FakeKubeError::bad_request(format!("invalid resource version {text:?}")))
}

fn list(
    s: &Store,
    kind: &ResourceKind,
    ns: Option<&str>,
    params: &Params,
) -> Result<Value, FakeKubeError> {
    let filter = Filter::from_params(ns, params)?;
    let limit = params
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0);
    let token = params.get("continue").filter(|t| !t.is_empty());
    let rv_param = params
        .get("resourceVersion")
        .map(String::as_str)
        .unwrap_or("");
    let (at_rv, after) = if let Some(token) = token {
        let (rv, ns, name) = decode_continue(token)
            .ok_or_else(|| FakeKubeError::bad_request("invalid continue token"))?;
        if rv < s.compacted_rv {
            return Err(FakeKubeError::api(
                410,
                "Expired",
                "The provided continue parameter is too old to display a consistent list \
                 result. You can start a new list without the continue parameter.",
            ));
        }
        (rv, Some((ns, name)))
    } else {
        let exact = params.get("resourceVersionMatch").map(String::as_str) == Some("Exact");
        match rv_param {
            "" | "0" if !exact => (s.rv, None),
            text => {
                let rv = parse_rv(text)?;
                if rv > s.rv {
                    return Err(FakeKubeError::api(
                        504,
                        "Timeout",
                        format!("Too large resource version: {rv}, current: {}", s.rv),
                    ));
                }
                // NotOlderThan (or a legacy bare resourceVersion) is served from the newest.
                (if exact { rv } else { s.rv }, None)
            }
        }
    };
    let mut selected = s
        .objects_at(kind, at_rv, after.as_ref())?
        .filter(|obj| filter.matches(obj));
    let mut items = Vec::new();
    let mut more = false;
    for obj in selected.by_ref() {
        if limit.is_some_and(|l| items.len() >= l) {
            more = true;
            break;
        }
        items.push(obj.clone());
    }
    let mut metadata = json!({"resourceVersion": at_rv.to_string()});
    if more {
        // The item that ended the page is still to come, plus whatever follows it.
        let remaining = 1 + selected.count();
        if let Some(last) = items.last() {
            let (ns, name) = object_id(last);
            metadata["continue"] = json!(encode_continue(at_rv, &ns, &name));
            metadata["remainingItemCount"] = json!(remaining);
        }
    }
    Ok(json!({
        "kind": format!("{}List", kind.kind),
        "apiVersion": kind.api_version(),
        "metadata": metadata,
        "items": items,
    }))
}

// ---------------------------------------------------------------------------------------
// Watch

fn watch_line(kind: &str, object: &Value) -> Value {
    json!({"type": kind, "object": object})
}

fn bookmark(kind: &ResourceKind, rv: u64, initial_end: bool) -> Value {
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        metadata["annotations"] = json!({ INITIAL_EVENTS_END: "true" });
    }
    watch_line(
        "BOOKMARK",
        &json!({"kind": kind.kind, "apiVersion": kind.api_version(), "metadata": metadata}),
    )
}

/// Decrements the open watch count when a watch stream ends, however it ends.
struct WatchGuard(Arc<Shared>);

impl Drop for WatchGuard {
    fn drop(&mut self) {
        self.0
            .mutate(|s| s.open_watches = s.open_watches.saturating_sub(1));
    }
}

/// One open watch: replays the history after `cursor` through its filter.
struct WatchStream {
    shared: Arc<Shared>,
    kind: ResourceKind,
    filter: Filter,
    /// Changes up to this resourceVersion have been considered.
    cursor: u64,
    epoch: u64,
    pending: VecDeque<Value>,
    finish_after_pending: bool,
    finished: bool,
    next_bookmark: Option<Instant>,
    deadline: Instant,
    rx: watch::Receiver<u64>,
    _guard: WatchGuard,
}

fn start_watch(
    shared: &Arc<Shared>,
    target: &Target,
    params: &Params,
) -> Result<Response, FakeKubeError> {
    let filter = Filter::from_params(target.ns.as_deref(), params)?;
    let start_rv = match params.get("resourceVersion").map(String::as_str) {
        None | Some("" | "0") => None,
        Some(text) => Some(parse_rv(text)?),
    };
    // Without a resourceVersion the apiserver starts with synthetic ADDED events.
    let initial = match params.get("sendInitialEvents").map(String::as_str) {
        Some(v) => v == "true" || v == "1",
        None => start_rv.is_none(),
    };
    let end_bookmark = flag(params, "sendInitialEvents");
    let bookmarks = flag(params, "allowWatchBookmarks");
    let timeout = params
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map_or(DEFAULT_WATCH_TIMEOUT, Duration::from_secs);
    let now = Instant::now();
    let rx = shared.tick.subscribe();
    let stream = {
        let mut s = shared.lock();
        s.open_watches += 1;
        let mut stream = WatchStream {
            shared: Arc::clone(shared),
            kind: target.kind.clone(),
            filter,
            cursor: start_rv.unwrap_or(s.rv),
            epoch: s.drop_epoch,
            pending: VecDeque::new(),
            finish_after_pending: false,
            finished: false,
            next_bookmark: bookmarks.then(|| now + shared.bookmark_interval),
            deadline: now + timeout,
            rx,
            _guard: WatchGuard(Arc::clone(shared)),
        };
        if s.fail_watches > 0 {
            s.fail_watches -= 1;
            let cursor = stream.cursor;
            stream.fail_with(&gone(cursor, s.rv));
        } else if initial {
            if let Some(objects) = s.objects.get(&target.kind.key()) {
                let added: Vec<Value> = objects
                    .values()
                    .filter(|o| stream.filter.matches(o))
                    .map(|o| watch_line("ADDED", o))
                    .collect();
                stream.pending.extend(added);
            }
            stream.cursor = stream.cursor.max(s.rv);
            if end_bookmark {
                let end = bookmark(&target.kind, stream.cursor, true);
                stream.pending.push_back(end);
            }
        }
        stream
    };
    shared.notify();
    let body = Body::from_stream(futures::stream::unfold(stream, |mut stream| async move {
        stream.next_chunk().await.map(|chunk| (chunk, stream))
    }));
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .unwrap_or_else(|_| error_response(&not_found_path())))
}

impl WatchStream {
    fn fail_with(&mut self, err: &FakeKubeError) {
        self.pending.push_back(watch_line("ERROR", &err.status()));
        self.finish_after_pending = true;
    }

    /// The event a change means for this watch, if any. An object that stops matching the
    /// selector is DELETED for this watch and one that starts matching is ADDED.
    fn event_for(&self, change: &Change) -> Option<Value> {
        let matches = |o: &&Value| self.filter.matches(o);
        match (
            change.old.as_ref().filter(matches),
            change.new.as_ref().filter(matches),
        ) {
            (None, Some(new)) => Some(watch_line("ADDED", new)),
            (Some(_), Some(new)) => Some(watch_line("MODIFIED", new)),
            (Some(old), None) => {
                let mut last = change.new.clone().unwrap_or_else(|| old.clone());
                set_meta(
                    &mut last,
                    "resourceVersion",
                    Value::String(change.rv.to_string()),
                );
                Some(watch_line("DELETED", &last))
            }
            (None, None) => None,
        }
    }

    fn collect(&mut self, s: &Store) {
        if self.cursor < s.compacted_rv {
            let cursor = self.cursor;
            self.fail_with(&gone(cursor, s.compacted_rv));
            return;
        }
        let key = self.kind.key();
        let start = s.history.partition_point(|c| c.rv <= self.cursor);
        let events: Vec<Value> = s
            .history
            .range(start..)
            .filter(|c| c.kind_key == key)
            .filter_map(|c| self.event_for(c))
            .collect();
        self.pending.extend(events);
        self.cursor = self.cursor.max(s.rv);
    }

    fn encode(&mut self) -> Bytes {
        let mut buf = Vec::new();
        for event in self.pending.drain(..) {
            buf.extend_from_slice(event.to_string().as_bytes());
            buf.push(b'\n');
        }
        Bytes::from(buf)
    }

    async fn next_chunk(&mut self) -> Option<Result<Bytes, std::io::Error>> {
        loop {
            if self.finished {
                return None;
            }
            // Mark the tick seen before reading the store so no change slips between the two.
            self.rx.borrow_and_update();
            let now = Instant::now();
            if now >= self.deadline {
                return None;
            }
            let paused = {
                let shared = Arc::clone(&self.shared);
                let s = shared.lock();
                if s.drop_epoch != self.epoch || s.shutting_down {
                    // An error (not a clean end) makes hyper cut the connection mid-chunk.
                    self.finished = true;
                    return Some(Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionAborted,
                        "watch dropped by the fake apiserver",
                    )));
                }
                if !s.paused {
                    if !self.finish_after_pending {
                        self.collect(&s);
                    }
                    if !self.pending.is_empty() {
                        self.finished = self.finish_after_pending;
                        return Some(Ok(self.encode()));
                    }
                    if let Some(at) = self.next_bookmark.filter(|at| *at <= now) {
                        self.next_bookmark = Some(at.max(now) + self.shared.bookmark_interval);
                        let mark = bookmark(&self.kind, self.cursor, false);
                        self.pending.push_back(mark);
                        return Some(Ok(self.encode()));
                    }
                }
                s.paused
            };
            // While paused no bookmark is due, so only the deadline or a change wakes us.
            let wake = match self.next_bookmark {
                Some(at) if !paused => at.min(self.deadline),
                _ => self.deadline,
            };
            tokio::select! {
                changed = self.rx.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                }
                () = tokio::time::sleep_until(wake) => {}
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Discovery

fn version_info() -> Value {
    json!({
        "major": "1",
        "minor": "34",
        "gitVersion": "v1.34.0-cfgeo-fake",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

fn core_versions(addr: SocketAddr) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": addr.to_string()}
        ],
    })
}

fn api_group(kinds: &[ResourceKind], group: &str) -> Option<Value> {
    let mut versions: Vec<&str> = Vec::new();
    for k in kinds.iter().filter(|k| k.group == group) {
        if !versions.contains(&k.version.as_str()) {
            versions.push(&k.version);
        }
    }
    let gv = |v: &str| json!({"groupVersion": format!("{group}/{v}"), "version": v});
    // The first registered version is preferred (the defaults list v1 first).
    let preferred = gv(versions.first()?);
    Some(json!({
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": versions.iter().map(|v| gv(v)).collect::<Vec<_>>(),
        "preferredVersion": preferred,
    }))
}

fn group_list(kinds: &[ResourceKind]) -> Value {
    let mut groups: Vec<&str> = Vec::new();
    for k in kinds.iter().filter(|k| !k.group.is_empty()) {
        if !groups.contains(&k.group.as_str()) {
            groups.push(&k.group);
        }
    }
    json!({
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": groups.iter().filter_map(|g| api_group(kinds, g)).collect::<Vec<_>>(),
    })
}

fn resource_list(kinds: &[ResourceKind], group: &str, version: &str) -> Option<Value> {
    let verbs = [
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    ];
    let mut resources = Vec::new();
    for k in kinds
        .iter()
        .filter(|k| k.group == group && k.version == version)
    {
        resources.push(json!({
            "name": k.plural,
            "singularName": k.kind.to_lowercase(),
            "namespaced": k.namespaced,
            "kind": k.kind,
            "verbs": verbs,
        }));
        if k.status_subresource {
            resources.push(json!({
                "name": format!("{}/status", k.plural),
                "singularName": "",
                "namespaced": k.namespaced,
                "kind": k.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
    }
    if resources.is_empty() {
        return None;
    }
    let group_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }))
}
