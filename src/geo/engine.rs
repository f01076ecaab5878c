//! The geo engine: one reconcile pass over a snapshot of the selected Ingresses (desired state,
//! reconcile, metrics, Events on the Ingresses), and the engine side of `runtime::run`, which
//! drives it (debounce, jittered resync, retries with backoff, requeue, leader gating).

use std::time::Duration;

use k8s_openapi::api::networking::v1::Ingress;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::apply::{GeoError, Report, Start, reconcile};
use super::desired::{DesiredGeo, desired_state};
use super::plan::{Action, Observed, Problem};
use super::settings::GeoSettings;
use crate::admin::{Engine as MetricEngine, Metrics, ReconcileResult};
use crate::cloudflare::Client;
use crate::events::{Published, Reporter};
use crate::model::{Notice, Severity};
use crate::runtime::{self, MAX_WRITE_EVENTS, Outcome, Timing, Trigger};
use crate::sources::Snapshot;

/// The geo engine's loop: it turns each snapshot of the selected Ingresses into one reconcile
/// pass against Cloudflare, keeps what the last pass read, and publishes Events on the
/// Ingresses. Built with [`GeoEngine::new`], driven by [`GeoEngine::run`].
pub struct GeoEngine {
    client: Client,
    settings: GeoSettings,
    reporter: Reporter,
    timing: Timing,
    emitted: Published,
    /// Planner problems already told, so each becomes one Event while it holds.
    problems: Published,
    /// What the last successful pass ended with; a change starts from it, a resync does not.
    cache: Option<Observed>,
    metrics: Option<Metrics>,
    dry_run: bool,
}

impl GeoEngine {
    /// An engine that has read nothing yet: its first pass reads the account and zone in full.
    /// Writes for real and records no metrics unless told otherwise.
    pub fn new(client: Client, settings: GeoSettings, reporter: Reporter, timing: Timing) -> Self {
        Self {
            client,
            settings,
            reporter,
            timing,
            emitted: Published::default(),
            problems: Published::default(),
            cache: None,
            metrics: None,
            dry_run: false,
        }
    }

    /// Plans and logs every write without making it (`--dry-run`).
    pub fn with_dry_run(mut self, on: bool) -> Self {
        self.dry_run = on;
        self
    }

    /// Reports each pass into the admin server's registry: its outcome, refused writes,
    /// planner problems and the number of pools this deployment owns.
    pub fn with_metrics(mut self, m: Metrics) -> Self {
        self.metrics = Some(m);
        self
    }

    /// The settings the engine was built with (region, hostname, owner, policies).
    pub fn settings(&self) -> &GeoSettings {
        &self.settings
    }

    /// One pass over a complete snapshot: desired state, notices, reconcile, Events.
    pub async fn pass(
        &mut self,
        ingresses: &[std::sync::Arc<Ingress>],
    ) -> Result<Report, GeoError> {
        let refs: Vec<&Ingress> = ingresses.iter().map(|i| i.as_ref()).collect();
        let (desired, notices) = desired_state(&refs, &self.settings);
        self.cache = None;
        self.pass_desired(&desired, notices).await
    }

    /// One pass over an already computed desired state.
    async fn pass_desired(
        &mut self,
        desired: &DesiredGeo,
        notices: Vec<Notice>,
    ) -> Result<Report, GeoError> {
        self.publish_new(notices).await;
        let started = std::time::Instant::now();
        if self.dry_run {
            let (plan, _) = super::apply::preview(&self.client, &self.settings, desired).await?;
            for st in &plan.steps {
                tracing::info!("dry run, not written: geo: {}", st.action.describe());
            }
            return Ok(Report::default());
        }
        let start = match self.cache.take() {
            Some(c) => Start::Cached(c),
            None => Start::Fresh,
        };
        let result = reconcile(&self.client, &self.settings, desired, start).await;
        if let Some(m) = &self.metrics {
            let outcome = match &result {
                Ok(r) => {
                    let me = self.settings.identity();
                    let ours = r
                        .observed
                        .pools
                        .iter()
                        .filter(|p| {
                            crate::model::Marker::parse(p.description.as_deref())
                                .is_some_and(|mk| me.owns(&mk))
                        })
                        .count();
                    m.set_managed_pools(ours);
                    for f in &r.refused {
                        m.refused(MetricEngine::Geo, &f.action.object_label());
                    }
                    let problems: Vec<(String, String)> = r
                        .problems
                        .iter()
                        .map(|p| {
                            let obj = match (&p.pool, &p.host) {
                                (Some(pool), _) => format!("pool/{pool}"),
                                (_, Some(h)) => format!("lb/{h}"),
                                _ => "other".into(),
                            };
                            (p.reason.to_string(), obj)
                        })
                        .collect();
                    m.set_geo_problems(&problems);
                    if !r.refused.is_empty() {
                        m.error(MetricEngine::Geo, "refused");
                        ReconcileResult::Error
                    } else if r.written.is_empty() {
                        ReconcileResult::Noop
                    } else {
                        ReconcileResult::Ok
                    }
                }
                Err(e) => {
                    m.error(MetricEngine::Geo, e.kind());
                    ReconcileResult::Error
                }
            };
            m.reconciled(MetricEngine::Geo, outcome, started.elapsed());
        }
        match &result {
            Ok(report) => {
                for p in &report.problems {
                    tracing::warn!(reason = p.reason, "{}", p.message);
                }
                let mut problem_notices = Vec::new();
                for p in &report.problems {
                    problem_notices.extend(problem_notices_for(desired, p));
                }
                self.problems.update(&self.reporter, problem_notices).await;
                for a in &report.written {
                    tracing::info!(action = %a.describe(), "written");
                    // A pool can hold thousands of Ingresses: tell a few, not all of them.
                    let notices = action_notices(
                        desired,
                        a,
                        Severity::Normal,
                        "Written",
                        &a.describe(),
                        MAX_WRITE_EVENTS,
                    );
                    for n in &notices {
                        self.reporter.publish(n).await;
                    }
                }
                for f in &report.refused {
                    let notices = action_notices(
                        desired,
                        &f.action,
                        Severity::Warning,
                        "CloudflareRefused",
                        &format!("{}; retried with backoff", f.error),
                        usize::MAX,
                    );
                    for n in &notices {
                        self.reporter.publish(n).await;
                    }
                }
                for s in &report.skipped {
                    tracing::info!("skipped: {s}");
                }
                self.cache = Some(report.observed.clone());
            }
            Err(e) => {
                tracing::warn!(error = %e, "geo reconcile failed");
                self.cache = None;
                for p in desired.pools.values() {
                    for obj in &p.sources {
                        let n = Notice {
                            object: obj.clone(),
                            severity: Severity::Warning,
                            reason: "CloudflareError".into(),
                            message: format!("pool {}: {e}", p.name),
                        };
                        self.reporter.publish(&n).await;
                    }
                }
            }
        }
        result
    }

    async fn publish_new(&mut self, notices: Vec<Notice>) {
        self.emitted.update(&self.reporter, notices).await;
    }

    /// Runs until `shutdown`: reacts to snapshot changes (debounced), resyncs on a jittered
    /// period, retries failures and refused writes with backoff, runs again when a retiring
    /// pool's removal delay has passed (`runtime::run`). Nothing is planned before the first
    /// snapshot. `leader` gates writing: a replica that does not lead only watches.
    pub async fn run(
        self,
        rx: watch::Receiver<Option<Snapshot<Ingress>>>,
        leader: watch::Receiver<bool>,
        shutdown: CancellationToken,
    ) {
        let timing = self.timing.clone();
        runtime::run(self, timing, rx, leader, shutdown).await;
    }
}

/// The loop's view of the engine: the desired state is compared whole, the cache is what the
/// last pass ended with.
impl runtime::Engine for GeoEngine {
    type Input = Snapshot<Ingress>;
    type Desired = DesiredGeo;
    type Work = Vec<Notice>;

    fn desired(&mut self, snap: Snapshot<Ingress>) -> (DesiredGeo, Vec<Notice>) {
        let refs: Vec<&Ingress> = snap.iter().map(|i| i.as_ref()).collect();
        desired_state(&refs, &self.settings)
    }

    async fn unchanged(&mut self, notices: Vec<Notice>) {
        // Notices can change without the desired state (a new bad object).
        self.publish_new(notices).await;
    }

    async fn pass(
        &mut self,
        trigger: Trigger,
        desired: &DesiredGeo,
        notices: Vec<Notice>,
    ) -> Outcome {
        if matches!(trigger, Trigger::Resync | Trigger::Retry) {
            // Resyncs and retries start from a full read, never from the cache; a scheduled
            // deletion starts from the cache (its reference check reads).
            self.cache = None;
        }
        match self.pass_desired(desired, notices).await {
            Ok(report) => {
                let requeue_after = report.requeue_after.map(|s| Duration::from_secs(s.max(1)));
                if report.refused.is_empty() {
                    Outcome::Done { requeue_after }
                } else {
                    Outcome::Refused { requeue_after }
                }
            }
            Err(_) => Outcome::Failed,
        }
    }

    fn forget(&mut self) {
        self.cache = None;
    }
}

/// Warning Events for a planner problem: the Ingresses of the pool, or of every pool of the
/// hostname.
fn problem_notices_for(desired: &DesiredGeo, p: &Problem) -> Vec<Notice> {
    desired
        .pools
        .values()
        .filter(|d| {
            p.pool.as_deref() == Some(d.name.as_str())
                || (p.pool.is_none() && p.host.as_deref() == Some(d.lb_host.as_str()))
        })
        .flat_map(|d| d.sources.iter())
        .map(|o| Notice {
            object: o.clone(),
            severity: Severity::Warning,
            reason: p.reason.into(),
            message: p.message.clone(),
        })
        .collect()
}

/// Events for the first `limit` Ingresses behind a pool that an action wrote (only those are
/// built: a pool write's message lists every origin, and a pool can hold thousands).
fn action_notices(
    desired: &DesiredGeo,
    a: &Action,
    severity: Severity,
    reason: &str,
    message: &str,
    limit: usize,
) -> Vec<Notice> {
    let pool_name = a.pool_name();
    let lb_host = a.lb_host();
    desired
        .pools
        .values()
        .filter(|p| pool_name == Some(p.name.as_str()) || lb_host == Some(p.lb_host.as_str()))
        .flat_map(|p| p.sources.iter())
        .take(limit)
        .map(|o| Notice {
            object: o.clone(),
            severity,
            reason: reason.into(),
            message: message.into(),
        })
        .collect()
}
