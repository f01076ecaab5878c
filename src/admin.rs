//! The admin HTTP server on its own port: `/livez`, `/readyz` and `/metrics` (OpenMetrics), and
//! with a status source the read-only `/status` page ([`crate::status::serve`]).
//!
//! [`Health`] collects named readiness conditions; [`Metrics`] owns the Prometheus registry and
//! offers one typed method per thing worth counting, so label values stay low-cardinality.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::cloudflare;

/// Content type of `/metrics`.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Name of the readiness condition behind [`Health::token_verified`].
pub const TOKEN_VERIFIED: &str = "cloudflare/token";

/// Errors of the admin server.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The listen address could not be bound.
    #[error("admin server: cannot listen on {addr}: {error}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why binding failed.
        error: std::io::Error,
    },
    /// Serving failed after binding.
    #[error("admin server: {0}")]
    Serve(std::io::Error),
}

// ---------------------------------------------------------------------------------------
// Health

/// Readiness conditions by name. Cheap to clone; clones share the conditions.
#[derive(Debug, Clone, Default)]
pub struct Health {
    conditions: Arc<Mutex<BTreeMap<String, Arc<AtomicBool>>>>,
}

/// One registered readiness condition; starts not ready.
#[derive(Debug, Clone)]
pub struct Condition {
    name: Arc<str>,
    ready: Arc<AtomicBool>,
}

impl Condition {
    /// Marks the condition ready or not.
    pub fn set(&self, ready: bool) {
        let was = self.ready.swap(ready, Ordering::SeqCst);
        if was != ready {
            tracing::debug!(condition = %self.name, ready, "readiness changed");
        }
    }

    /// Turns ready, in a task, once `snapshots` holds its first complete list: a watch's
    /// readiness.
    pub fn set_when_listed<K: Send + Sync + 'static>(
        self,
        mut snapshots: tokio::sync::watch::Receiver<Option<crate::sources::Snapshot<K>>>,
    ) {
        tokio::spawn(async move {
            if snapshots.wait_for(Option::is_some).await.is_ok() {
                self.set(true);
            }
        });
    }

    /// Whether the condition is ready now.
    pub fn get(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// The registered name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Health {
    /// No conditions: ready until the first one is registered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a condition (not ready) or returns the one already registered under `name`.
    pub fn condition(&self, name: impl Into<String>) -> Condition {
        let name = name.into();
        let ready = Arc::clone(self.lock().entry(name.clone()).or_default());
        Condition {
            name: name.into(),
            ready,
        }
    }

    /// The condition that the Cloudflare token has been verified ([`TOKEN_VERIFIED`]).
    pub fn token_verified(&self) -> Condition {
        self.condition(TOKEN_VERIFIED)
    }

    /// Names of the conditions that are not ready, sorted, then every watch the API server
    /// refuses now (`watch/<Kind>: Forbidden: <the server's message>`).
    pub fn not_ready(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .lock()
            .iter()
            .filter(|(_, ready)| !ready.load(Ordering::SeqCst))
            .map(|(name, _)| name.clone())
            .collect();
        if !self.lock().is_empty() {
            for (kind, msg) in crate::sources::kube_watch::refused_watches() {
                out.push(format!("watch/{kind}: Forbidden: {msg}"));
            }
        }
        out
    }

    /// True when every registered condition is ready.
    pub fn is_ready(&self) -> bool {
        self.not_ready().is_empty()
    }

    /// Every condition with its state, sorted by name.
    pub fn conditions(&self) -> Vec<(String, bool)> {
        self.lock()
            .iter()
            .map(|(name, ready)| (name.clone(), ready.load(Ordering::SeqCst)))
            .collect()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Arc<AtomicBool>>> {
        // A panic elsewhere must not take readiness down with it.
        self.conditions.lock().unwrap_or_else(|e| e.into_inner())
    }
}

// ---------------------------------------------------------------------------------------
// Metrics

/// Which engine a metric is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Engine {
    /// The geo load-balancing engine.
    Geo,
    /// The DNS record synchronizer.
    Records,
}

impl Engine {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Geo => "geo",
            Self::Records => "records",
        }
    }
}

impl EncodeLabelValue for Engine {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

/// How one reconcile ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReconcileResult {
    /// Writes were made and succeeded.
    Ok,
    /// The reconcile failed.
    Error,
    /// Nothing needed changing.
    Noop,
}

impl ReconcileResult {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Error => "error",
            Self::Noop => "noop",
        }
    }
}

impl EncodeLabelValue for ReconcileResult {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct EngineLabels {
    engine: Engine,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReconcileLabels {
    engine: Engine,
    result: ReconcileResult,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CallLabels {
    endpoint: String,
    status: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RefusedLabels {
    engine: Engine,
    object: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ProblemLabels {
    reason: String,
    object: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ErrorLabels {
    engine: Engine,
    kind: String,
}

type HistogramFamily<S> = Family<S, Histogram, fn() -> Histogram>;

fn duration_histogram() -> Histogram {
    // 5 ms .. ~41 s: a reconcile is a handful of API calls, or many behind a rate limit.
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

/// A Cloudflare client whose counters are copied into the metrics at each scrape.
#[derive(Debug)]
struct Tracked {
    client: cloudflare::Client,
    /// Call counts already added, so each scrape adds only what is new.
    calls_seen: BTreeMap<(&'static str, String), u64>,
    paused_seen: Duration,
}

struct MetricsInner {
    registry: Registry,
    reconcile_total: Family<ReconcileLabels, Counter>,
    reconcile_duration: HistogramFamily<EngineLabels>,
    cloudflare_requests: Family<CallLabels, Counter>,
    budget_available: Gauge,
    quota_remaining: Gauge,
    rate_limited_seconds: Counter<f64, AtomicU64>,
    managed_records: Gauge,
    managed_pools: Gauge,
    last_success: Family<EngineLabels, Gauge<f64, AtomicU64>>,
    errors_total: Family<ErrorLabels, Counter>,
    refused_total: Family<RefusedLabels, Counter>,
    geo_problems: Family<ProblemLabels, Gauge>,
    tracked_problems: Mutex<Vec<(String, String)>>,
    leader: Gauge,
    tracked: Mutex<Option<Tracked>>,
}

/// The process's metrics. Cheap to clone; clones share the registry.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<MetricsInner>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every cfgeo family registered (counters get `_total` when encoded).
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let reconcile_total = Family::<ReconcileLabels, Counter>::default();
        registry.register(
            "cfgeo_reconcile",
            "Reconciles by engine and result (ok, error, noop)",
            reconcile_total.clone(),
        );
        let reconcile_duration: HistogramFamily<EngineLabels> =
            Family::new_with_constructor(duration_histogram);
        registry.register_with_unit(
            "cfgeo_reconcile_duration",
            "Time taken by one reconcile",
            Unit::Seconds,
            reconcile_duration.clone(),
        );
        let cloudflare_requests = Family::<CallLabels, Counter>::default();
        registry.register(
            "cfgeo_cloudflare_requests",
            "Cloudflare API requests by endpoint and HTTP status (or error)",
            cloudflare_requests.clone(),
        );
        let quota_remaining = Gauge::default();
        registry.register(
            "cfgeo_cloudflare_quota_remaining",
            "Requests left on the token's Cloudflare quota, shared with every process using the token (Ratelimit header; -1 when unknown)",
            quota_remaining.clone(),
        );
        let budget_available = Gauge::default();
        registry.register(
            "cfgeo_cloudflare_budget_available",
            "Cloudflare requests that could be sent right now within the rate budget",
            budget_available.clone(),
        );
        let rate_limited_seconds = Counter::<f64, AtomicU64>::default();
        registry.register_with_unit(
            "cfgeo_cloudflare_rate_limited",
            "Time every Cloudflare call was paused by 429 answers",
            Unit::Seconds,
            rate_limited_seconds.clone(),
        );
        let managed_records = Gauge::default();
        registry.register(
            "cfgeo_managed_records",
            "DNS records owned by this cfgeo instance",
            managed_records.clone(),
        );
        let managed_pools = Gauge::default();
        registry.register(
            "cfgeo_managed_pools",
            "Load balancer pools owned by this cfgeo instance",
            managed_pools.clone(),
        );
        let last_success = Family::<EngineLabels, Gauge<f64, AtomicU64>>::default();
        registry.register_with_unit(
            "cfgeo_last_success_timestamp",
            "Unix time of the last reconcile that did not fail",
            Unit::Seconds,
            last_success.clone(),
        );
        let errors_total = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "cfgeo_errors",
            "Errors by engine and kind",
            errors_total.clone(),
        );
        let refused_total = Family::<RefusedLabels, Counter>::default();
        registry.register(
            "cfgeo_refused_writes",
            "Writes Cloudflare refused, by engine and object (pool/<name>, lb/<host>); retried with backoff",
            refused_total.clone(),
        );
        let geo_problems = Family::<ProblemLabels, Gauge>::default();
        registry.register(
            "cfgeo_geo_problems",
            "1 while the geo engine cannot do something for an object (reason PoolOwnedElsewhere, PoolWithoutCoordinates...)",
            geo_problems.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "cfgeo_leader",
            "1 when this replica holds the leader lease",
            leader.clone(),
        );
        Self {
            inner: Arc::new(MetricsInner {
                registry,
                reconcile_total,
                reconcile_duration,
                cloudflare_requests,
                budget_available,
                quota_remaining,
                rate_limited_seconds,
                managed_records,
                managed_pools,
                last_success,
                errors_total,
                refused_total,
                geo_problems,
                tracked_problems: Mutex::new(Vec::new()),
                leader,
                tracked: Mutex::new(None),
            }),
        }
    }

    /// Records one reconcile; a result other than `Error` also stamps the last success time.
    pub fn reconciled(&self, engine: Engine, result: ReconcileResult, duration: Duration) {
        let m = &self.inner;
        m.reconcile_total
            .get_or_create(&ReconcileLabels { engine, result })
            .inc();
        m.reconcile_duration
            .get_or_create(&EngineLabels { engine })
            .observe(duration.as_secs_f64());
        if result != ReconcileResult::Error {
            let now = jiff::Timestamp::now().as_millisecond() as f64 / 1000.0;
            m.last_success
                .get_or_create(&EngineLabels { engine })
                .set(now);
        }
    }

    /// Counts one Cloudflare request: `endpoint` a route label (`dns_records.batch`), `status`
    /// the HTTP code or `error`.
    pub fn cloudflare_call(&self, endpoint: &str, status: &str) {
        self.inner
            .cloudflare_requests
            .get_or_create(&CallLabels {
                endpoint: endpoint.to_owned(),
                status: status.to_owned(),
            })
            .inc();
    }

    /// Sets the requests available in the Cloudflare rate budget.
    pub fn set_budget(&self, available: usize) {
        self.inner.budget_available.set(clamp_i64(available));
    }

    /// Adds time paused by 429 answers; negative or non-finite values are ignored.
    pub fn add_rate_limited(&self, secs: f64) {
        if secs.is_finite() && secs > 0.0 {
            self.inner.rate_limited_seconds.inc_by(secs);
        }
    }

    /// Sets the number of DNS records owned.
    pub fn set_managed_records(&self, n: usize) {
        self.inner.managed_records.set(clamp_i64(n));
    }

    /// Sets the number of load balancer pools owned.
    pub fn set_managed_pools(&self, n: usize) {
        self.inner.managed_pools.set(clamp_i64(n));
    }

    /// Counts one error of a short `kind` (`rate_limited`, `api`, `transport`, `timeout`,
    /// `kube`...); pass a fixed label such as `CloudflareError::kind`, never a message.
    pub fn error(&self, engine: Engine, kind: &str) {
        self.inner
            .errors_total
            .get_or_create(&ErrorLabels {
                engine,
                kind: kind.to_owned(),
            })
            .inc();
    }

    /// Counts one refused write of `object` (`pool/<name>`, `lb/<host>`, `record/<name>`).
    pub fn refused(&self, engine: Engine, object: &str) {
        self.inner
            .refused_total
            .get_or_create(&RefusedLabels {
                engine,
                object: object.to_owned(),
            })
            .inc();
    }

    /// Replaces the set of current geo problems: each `(reason, object)` reads 1, the ones that
    /// went away read 0.
    pub fn set_geo_problems(&self, current: &[(String, String)]) {
        let fam = &self.inner.geo_problems;
        // Families cannot list their keys, so remember what was set.
        let mut seen = self
            .inner
            .tracked_problems
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for (reason, object) in seen.iter() {
            if !current.iter().any(|(r, o)| r == reason && o == object) {
                fam.get_or_create(&ProblemLabels {
                    reason: reason.clone(),
                    object: object.clone(),
                })
                .set(0);
            }
        }
        for (reason, object) in current {
            fam.get_or_create(&ProblemLabels {
                reason: reason.clone(),
                object: object.clone(),
            })
            .set(1);
        }
        *seen = current.to_vec();
    }

    /// Sets whether this replica leads.
    pub fn set_leader(&self, leading: bool) {
        self.inner.leader.set(i64::from(leading));
    }

    /// Copies `client`'s call counters, budget and 429 pauses into the metrics at every
    /// [`Metrics::encode`]. Replaces a previously tracked client. Callers then must not also
    /// report that client's calls through [`Metrics::cloudflare_call`],
    /// [`Metrics::set_budget`] or [`Metrics::add_rate_limited`], or they count twice.
    pub fn track_cloudflare(&self, client: &cloudflare::Client) {
        let mut tracked = self.tracked();
        *tracked = Some(Tracked {
            client: client.clone(),
            calls_seen: BTreeMap::new(),
            paused_seen: Duration::ZERO,
        });
        drop(tracked);
        self.sync_tracked();
    }

    /// The OpenMetrics text exposition, `# EOF` included.
    pub fn encode(&self) -> String {
        self.sync_tracked();
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.inner.registry) {
            tracing::warn!(error = %e, "encoding metrics failed");
        }
        out
    }

    fn tracked(&self) -> MutexGuard<'_, Option<Tracked>> {
        self.inner.tracked.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds what the tracked client counted since the last sync.
    fn sync_tracked(&self) {
        // Held across the whole sync so two concurrent scrapes cannot add the same delta.
        let mut guard = self.tracked();
        let Some(tracked) = guard.as_mut() else {
            return;
        };
        let budget = tracked.client.budget();
        self.set_budget(budget.available());
        self.inner
            .quota_remaining
            .set(budget.server_remaining().map_or(-1, i64::from));
        let paused = budget.paused_total();
        self.add_rate_limited(paused.saturating_sub(tracked.paused_seen).as_secs_f64());
        tracked.paused_seen = paused;
        for ((endpoint, status), count) in tracked.client.stats().snapshot() {
            let seen = tracked
                .calls_seen
                .entry((endpoint, status.clone()))
                .or_default();
            if count > *seen {
                self.inner
                    .cloudflare_requests
                    .get_or_create(&CallLabels {
                        endpoint: endpoint.to_owned(),
                        status,
                    })
                    .inc_by(count - *seen);
                *seen = count;
            }
        }
    }
}

fn clamp_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

// ---------------------------------------------------------------------------------------
// Server

#[derive(Clone)]
struct AppState {
    health: Health,
    metrics: Metrics,
}

/// The admin routes, for embedding or testing without a socket.
pub fn router(health: Health, metrics: Metrics) -> Router {
    Router::new()
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_handler))
        .with_state(AppState { health, metrics })
}

async fn livez() -> Response {
    plain(StatusCode::OK, "ok\n".to_owned())
}

async fn readyz(State(state): State<AppState>) -> Response {
    let not_ready = state.health.not_ready();
    if not_ready.is_empty() {
        return plain(StatusCode::OK, "ok\n".to_owned());
    }
    let mut body = String::from("not ready:\n");
    for name in not_ready {
        let _ = writeln!(body, "- {name}");
    }
    plain(StatusCode::SERVICE_UNAVAILABLE, body)
}

async fn metrics_handler(State(state): State<AppState>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE)],
        state.metrics.encode(),
    )
        .into_response()
}

fn plain(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

/// The admin routes and, given a status source, `/status`, `/status.svg` and `/status.json`.
pub fn router_with_status(
    health: Health,
    metrics: Metrics,
    status: Option<crate::status::StatusSource>,
) -> Router {
    let r = router(health, metrics);
    match status {
        Some(s) => r.merge(crate::status::serve::routes(s)),
        None => r,
    }
}

/// A bound admin server, not yet serving.
#[derive(Debug)]
pub struct AdminServer {
    listener: TcpListener,
    addr: SocketAddr,
    router: Router,
    shutdown: CancellationToken,
}

impl AdminServer {
    /// The bound address (the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Adds the read-only status routes (`/status`, `/status.svg`, `/status.json`) when a
    /// source is given.
    pub fn with_status(mut self, status: Option<crate::status::StatusSource>) -> Self {
        if let Some(s) = status {
            tracing::info!(addr = %self.addr, "admin server: status page at /status");
            self.router = self.router.merge(crate::status::serve::routes(s));
        }
        self
    }

    /// Serves until `shutdown` is cancelled, then finishes open requests.
    pub async fn run(self) -> Result<(), AdminError> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(self.shutdown.cancelled_owned())
            .await
            .map_err(AdminError::Serve)?;
        tracing::info!(addr = %self.addr, "admin server stopped");
        Ok(())
    }
}

/// Binds `addr` and logs the bound address; serve with [`AdminServer::run`].
pub async fn bind(
    addr: SocketAddr,
    health: Health,
    metrics: Metrics,
    shutdown: CancellationToken,
) -> Result<AdminServer, AdminError> {
    let bind_err = |error| AdminError::Bind { addr, error };
    let listener = TcpListener::bind(addr).await.map_err(bind_err)?;
    let bound = listener.local_addr().map_err(bind_err)?;
    tracing::info!(addr = %bound, "admin server listening (/livez, /readyz, /metrics)");
    Ok(AdminServer {
        listener,
        addr: bound,
        router: router(health, metrics),
        shutdown,
    })
}

/// Binds `addr`, adds the status routes when `status` is given ([`AdminServer::with_status`])
/// and serves in its own task until `shutdown` is cancelled; a failure while serving is logged.
pub async fn spawn(
    addr: SocketAddr,
    health: Health,
    metrics: Metrics,
    status: Option<crate::status::StatusSource>,
    shutdown: CancellationToken,
) -> Result<(), AdminError> {
    let server = bind(addr, health, metrics, shutdown)
        .await?
        .with_status(status);
    tokio::spawn(async move {
        if let Err(e) = server.run().await {
            // The target this line had in `app`, where log filters and queries found it.
            tracing::error!(target: "cfgeo::app", error = %e, "admin server failed");
        }
    });
    Ok(())
}

/// Binds `addr` and serves until `shutdown` is cancelled.
pub async fn serve(
    addr: SocketAddr,
    health: Health,
    metrics: Metrics,
    shutdown: CancellationToken,
) -> Result<(), AdminError> {
    bind(addr, health, metrics, shutdown).await?.run().await
}
