//! Leader election on a `coordination.k8s.io/v1` Lease, after client-go's `leaderelection`.
//!
//! [`spawn`] starts a task that competes for the Lease and publishes whether this replica leads
//! on a `watch` channel ([`LeaderHandle`]).
//!
//! # Algorithm
//! - Read the Lease (create it, holding it, when missing).
//! - Take it when it has no holder, when its holder is us, or when the holder has not renewed
//!   for `leaseDurationSeconds`. Expiry is measured on the local monotonic clock from the moment
//!   this replica first saw the current record; the timestamps in the Lease come from other
//!   machines and are never compared with our clock.
//! - Every write is a replace carrying the resourceVersion that was read, so of two concurrent
//!   writers one gets 409 Conflict and loses. Taking over from another holder increments
//!   `leaseTransitions`.
//! - The leader renews every `retry_period` (jittered up to +20%). Leadership lasts until
//!   `renew_deadline` after the start of the last successful attempt; when that passes without a
//!   new success the channel says `false` at once, even while a request is still in flight,
//!   and only then is the Lease tried again.
//! - API errors never panic or end the task; they only mean "not leader" until a success.
//! - On shutdown the channel says `false` first, then the Lease is released (holder cleared) so
//!   another replica takes over at its next retry instead of waiting for expiry.
//!
//! # Why two leaders never overlap
//! A successful renew that started at `t` was committed after `t`, so any other replica saw
//! that record no earlier than `t` and will not take the Lease before `t + lease_duration`.
//! This replica stops leading at `t + renew_deadline`, and `renew_deadline < lease_duration`
//! (enforced by [`spawn`]), so its `false` is sent `lease_duration - renew_deadline` before
//! anyone else could acquire. That margin must cover timer and scheduling delays; keep it at a
//! few seconds in production (defaults 15 s and 10 s).
//!
//! The guarantee covers the channel, not work already under way: a consumer must stop writing
//! when it sees `false`, and should keep its own writes shorter than that margin.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, PostParams};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Default time a holder's claim lasts without renewal.
pub const DEFAULT_LEASE_DURATION: Duration = Duration::from_secs(15);
/// Default time the leader keeps leading without a successful renew.
pub const DEFAULT_RENEW_DEADLINE: Duration = Duration::from_secs(10);
/// Default interval between attempts.
pub const DEFAULT_RETRY_PERIOD: Duration = Duration::from_secs(2);

/// Retry periods are stretched by a random factor in `[1, 1 + JITTER)`.
const JITTER: f64 = 0.2;

/// Errors of leader election.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// The settings cannot give the overlap guarantee.
    #[error("invalid leader election settings: {0}")]
    Config(String),
    /// The Kubernetes API refused or failed a request.
    #[error("lease request failed: {0}")]
    Kube(kube::Error),
    /// A request did not finish in time.
    #[error("lease request timed out")]
    Timeout,
}

// Not `#[from]`: the message already carries the cause, and a source too would print it twice.
impl From<kube::Error> for LeaderError {
    fn from(e: kube::Error) -> Self {
        Self::Kube(e)
    }
}

impl LeaderError {
    /// True for 409: another writer changed the Lease first (a lost race, not a fault).
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Kube(kube::Error::Api(s)) if s.code == 409)
    }
}

/// Settings of one elector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderConfig {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease.
    pub lease_name: String,
    /// This replica's identity, unique among replicas (the pod name).
    pub identity: String,
    /// How long a claim lasts without renewal (written as whole seconds, rounded up).
    pub lease_duration: Duration,
    /// How long the leader keeps leading without a successful renew; below `lease_duration`.
    pub renew_deadline: Duration,
    /// Interval between attempts; below `renew_deadline`.
    pub retry_period: Duration,
}

impl LeaderConfig {
    /// Settings with the default durations (15 s, 10 s, 2 s).
    pub fn new(
        namespace: impl Into<String>,
        lease_name: impl Into<String>,
        identity: impl Into<String>,
    ) -> Self {
        Self {
            namespace: namespace.into(),
            lease_name: lease_name.into(),
            identity: identity.into(),
            lease_duration: DEFAULT_LEASE_DURATION,
            renew_deadline: DEFAULT_RENEW_DEADLINE,
            retry_period: DEFAULT_RETRY_PERIOD,
        }
    }

    /// Checks `retry_period < renew_deadline < lease_duration` and non-empty names.
    pub fn validate(&self) -> Result<(), LeaderError> {
        let fail = |m: &str| Err(LeaderError::Config(m.to_owned()));
        if self.namespace.is_empty() || self.lease_name.is_empty() {
            return fail("lease namespace and name must not be empty");
        }
        if self.identity.is_empty() {
            return fail("identity must not be empty");
        }
        if self.retry_period.is_zero() {
            return fail("retry period must be positive");
        }
        if self.renew_deadline >= self.lease_duration {
            return fail("renew deadline must be shorter than the lease duration");
        }
        if self.retry_period >= self.renew_deadline {
            return fail("retry period must be shorter than the renew deadline");
        }
        Ok(())
    }

    /// Valid settings close to these: invalid durations are shrunk so the overlap guarantee
    /// holds, and an empty identity gets a random one.
    fn sanitized(mut self) -> Self {
        if let Err(e) = self.validate() {
            tracing::error!(error = %e, "adjusting leader election settings");
        }
        if self.identity.is_empty() {
            self.identity = format!("cfgeo-{:016x}", rand::random::<u64>());
        }
        self.lease_duration = self.lease_duration.max(Duration::from_millis(30));
        if self.renew_deadline >= self.lease_duration {
            self.renew_deadline = self.lease_duration * 2 / 3;
        }
        if self.retry_period.is_zero() || self.retry_period >= self.renew_deadline {
            self.retry_period = self.renew_deadline / 5;
        }
        self
    }

    /// The duration written to the Lease: whole seconds, rounded up, so never shorter.
    fn lease_seconds(&self) -> i32 {
        let secs = self.lease_duration.as_secs_f64().ceil();
        (secs as i32).max(1)
    }
}

/// Whether this replica leads, and control over its elector task.
#[derive(Debug)]
pub struct LeaderHandle {
    rx: watch::Receiver<bool>,
    task: JoinHandle<()>,
}

impl LeaderHandle {
    /// True while this replica leads.
    pub fn is_leader(&self) -> bool {
        *self.rx.borrow()
    }

    /// Waits for the next change and returns the new state; `None` once the elector has
    /// stopped (the state is then `false`).
    pub async fn changed(&mut self) -> Option<bool> {
        self.rx.changed().await.ok()?;
        Some(*self.rx.borrow_and_update())
    }

    /// Another receiver of the leadership state, e.g. for `wait_for`.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.rx.clone()
    }

    /// Stops the elector without releasing the Lease, as a crash would (for tests). The
    /// channel still turns `false`; other replicas wait for the Lease to expire.
    pub fn abort(&self) {
        self.task.abort();
    }

    /// Waits until the elector has stopped (after shutdown, once the Lease is released).
    pub async fn join(self) {
        let _ = self.task.await;
    }
}

/// Starts competing for the Lease; stops and releases it when `shutdown` is cancelled.
/// Invalid settings are adjusted (with an error log); see [`LeaderConfig::validate`].
pub fn spawn(client: kube::Client, cfg: LeaderConfig, shutdown: CancellationToken) -> LeaderHandle {
    let cfg = cfg.sanitized();
    let (tx, rx) = watch::channel(false);
    let elector = Elector {
        api: Api::namespaced(client, &cfg.namespace),
        cfg,
        tx,
        observed: None,
        last_written: None,
        lead_until: None,
        failing: false,
    };
    let task = tokio::spawn(elector.run(shutdown));
    LeaderHandle { rx, task }
}

/// Whether this replica may write, for the engines: with `election`, the Lease's state
/// ([`spawn`]), logged and passed to `report` at every change and `false` to it once the
/// elector stops; without, a constant `true` (passed to `report` once).
pub fn watch(
    election: Option<(kube::Client, LeaderConfig)>,
    report: impl Fn(bool) + Send + 'static,
    shutdown: CancellationToken,
) -> watch::Receiver<bool> {
    let Some((client, cfg)) = election else {
        let (tx, rx) = watch::channel(true);
        report(true);
        // Keep the sender alive for the life of the process: a closed channel stops engines.
        std::mem::forget(tx);
        return rx;
    };
    let handle = spawn(client, cfg, shutdown);
    let rx = handle.subscribe();
    let mut watch_rx = rx.clone();
    tokio::spawn(async move {
        loop {
            let leading = *watch_rx.borrow_and_update();
            report(leading);
            // The target this line had in `app`, where log filters and queries found it.
            tracing::info!(target: "cfgeo::app", leading, "leadership");
            if watch_rx.changed().await.is_err() {
                report(false);
                break;
            }
        }
        handle.join().await;
    });
    rx
}

/// What one attempt found.
#[derive(Debug)]
enum Attempt {
    /// We hold the Lease, freshly written.
    Holding,
    /// Another replica holds it until at least `expires` (local clock).
    HeldBy { holder: String, expires: Instant },
}

struct Elector {
    api: Api<Lease>,
    cfg: LeaderConfig,
    tx: watch::Sender<bool>,
    /// The Lease spec as last seen, and when we first saw it so (local monotonic clock).
    observed: Option<(LeaseSpec, Instant)>,
    /// Our last successful write; the next renew replaces it directly instead of reading.
    last_written: Option<Lease>,
    /// While leading: when leadership ends unless renewed before.
    lead_until: Option<Instant>,
    /// Whether the last attempt failed, so an outage logs one warning, not one per retry.
    failing: bool,
}

impl Drop for Elector {
    fn drop(&mut self) {
        // Also on abort or panic: a stopped elector never claims to lead.
        self.tx.send_if_modified(|v| std::mem::replace(v, false));
    }
}

fn jittered(period: Duration) -> Duration {
    period.mul_f64(1.0 + rand::random_range(0.0..JITTER))
}

fn now_micro() -> MicroTime {
    MicroTime(jiff::Timestamp::now())
}

impl Elector {
    fn leading(&self) -> bool {
        *self.tx.borrow()
    }

    fn lead(&mut self, until: Instant) {
        self.lead_until = Some(until);
        if !self.leading() {
            tracing::info!(
                identity = %self.cfg.identity,
                lease = %self.cfg.lease_name,
                "became leader"
            );
            self.tx.send_replace(true);
        }
    }

    fn step_down(&mut self, why: &str) {
        self.lead_until = None;
        self.last_written = None;
        if self.leading() {
            self.tx.send_replace(false);
            tracing::warn!(identity = %self.cfg.identity, lease = %self.cfg.lease_name, why, "stopped leading");
        }
    }

    async fn run(mut self, shutdown: CancellationToken) {
        let mut next = Instant::now();
        loop {
            let wake = self.lead_until.map_or(next, |until| until.min(next));
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep_until(wake) => {}
            }
            if self.lead_until.is_some_and(|until| until <= Instant::now()) {
                self.step_down("renew deadline passed");
                continue;
            }
            if Instant::now() < next {
                continue;
            }
            let started = Instant::now();
            // A leader's attempt may run only until its leadership ends; a follower's is
            // bounded so a hung request cannot stall the loop.
            let limit = self.lead_until.unwrap_or(started + self.cfg.renew_deadline);
            let outcome = tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep_until(limit) => Err(LeaderError::Timeout),
                r = self.try_acquire_or_renew() => r,
            };
            next = Instant::now() + jittered(self.cfg.retry_period);
            match outcome {
                Ok(Attempt::Holding) => {
                    self.recovered();
                    self.lead(started + self.cfg.renew_deadline);
                }
                Ok(Attempt::HeldBy { holder, expires }) => {
                    self.recovered();
                    if self.leading() {
                        self.step_down(&format!("lease taken by {holder}"));
                    }
                    // Try right when the claim runs out rather than up to a period later.
                    next = next.min(expires.max(Instant::now()));
                }
                Err(e) => {
                    // The Lease may have changed under us: read it afresh next time.
                    self.last_written = None;
                    self.failed(&e);
                    if self.lead_until.is_some_and(|until| until <= Instant::now()) {
                        // Not even one timer tick later.
                        self.step_down("renew deadline passed");
                    }
                }
            }
        }
        self.step_down("shutting down");
        self.release().await;
    }

    fn recovered(&mut self) {
        if std::mem::take(&mut self.failing) {
            tracing::info!(lease = %self.cfg.lease_name, "lease requests succeed again");
        }
    }

    fn failed(&mut self, e: &LeaderError) {
        if e.is_conflict() {
            tracing::debug!(lease = %self.cfg.lease_name, "lost a race for the lease");
        } else if std::mem::replace(&mut self.failing, true) {
            tracing::debug!(lease = %self.cfg.lease_name, error = %e, "lease request failed again");
        } else {
            tracing::warn!(lease = %self.cfg.lease_name, error = %e, "lease request failed; retrying");
        }
    }

    /// Remembers `spec` as seen now unless it is what we saw before.
    fn observe(&mut self, spec: &LeaseSpec) -> Instant {
        match &self.observed {
            Some((seen, at)) if seen == spec => *at,
            _ => {
                let at = Instant::now();
                self.observed = Some((spec.clone(), at));
                at
            }
        }
    }

    fn fresh_spec(&self) -> LeaseSpec {
        let now = now_micro();
        LeaseSpec {
            holder_identity: Some(self.cfg.identity.clone()),
            lease_duration_seconds: Some(self.cfg.lease_seconds()),
            acquire_time: Some(now.clone()),
            renew_time: Some(now),
            lease_transitions: Some(0),
            ..LeaseSpec::default()
        }
    }

    async fn try_acquire_or_renew(&mut self) -> Result<Attempt, LeaderError> {
        let cached = self.last_written.take().filter(|_| self.leading());
        let current = match cached {
            Some(lease) => lease,
            None => match self.api.get_opt(&self.cfg.lease_name).await? {
                Some(lease) => lease,
                None => return self.create().await,
            },
        };
        let spec = current.spec.clone().unwrap_or_default();
        let seen_at = self.observe(&spec);
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let ours = holder.as_deref() == Some(self.cfg.identity.as_str());
        if let Some(holder) = holder.as_ref().filter(|_| !ours) {
            // The holder's own promise counts, not ours.
            let duration = spec
                .lease_duration_seconds
                .filter(|s| *s > 0)
                .map_or(self.cfg.lease_duration, |s| {
                    Duration::from_secs(u64::from(s.unsigned_abs()))
                });
            let expires = seen_at + duration;
            if Instant::now() < expires {
                return Ok(Attempt::HeldBy {
                    holder: holder.clone(),
                    expires,
                });
            }
        }

        let mut next = current;
        let new_spec = next.spec.get_or_insert_with(LeaseSpec::default);
        let now = now_micro();
        if !ours {
            new_spec.acquire_time = Some(now.clone());
            new_spec.lease_transitions = Some(new_spec.lease_transitions.unwrap_or(0) + 1);
        }
        new_spec.holder_identity = Some(self.cfg.identity.clone());
        new_spec.lease_duration_seconds = Some(self.cfg.lease_seconds());
        new_spec.renew_time = Some(now);
        // `next` keeps the resourceVersion read: a concurrent writer makes this a 409.
        let written = self
            .api
            .replace(&self.cfg.lease_name, &PostParams::default(), &next)
            .await?;
        if !ours {
            tracing::info!(
                identity = %self.cfg.identity,
                previous = holder.as_deref().unwrap_or(""),
                transitions = written.spec.as_ref().and_then(|s| s.lease_transitions).unwrap_or(0),
                "acquired lease"
            );
        }
        self.wrote(written);
        Ok(Attempt::Holding)
    }

    async fn create(&mut self) -> Result<Attempt, LeaderError> {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(self.cfg.lease_name.clone()),
                namespace: Some(self.cfg.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(self.fresh_spec()),
        };
        // Two creators: the second gets 409 AlreadyExists and loses.
        let written = self.api.create(&PostParams::default(), &lease).await?;
        tracing::info!(identity = %self.cfg.identity, lease = %self.cfg.lease_name, "created lease");
        self.wrote(written);
        Ok(Attempt::Holding)
    }

    fn wrote(&mut self, written: Lease) {
        self.observe(&written.spec.clone().unwrap_or_default());
        self.last_written = Some(written);
    }

    /// Clears the holder if it is still us, so the next replica need not wait for expiry.
    async fn release(&mut self) {
        let attempt = async {
            let Some(mut lease) = self.api.get_opt(&self.cfg.lease_name).await? else {
                return Ok::<bool, LeaderError>(false);
            };
            let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
            if spec.holder_identity.as_deref() != Some(self.cfg.identity.as_str()) {
                return Ok(false);
            }
            let now = now_micro();
            spec.holder_identity = None;
            spec.lease_duration_seconds = Some(1);
            spec.acquire_time = Some(now.clone());
            spec.renew_time = Some(now);
            self.api
                .replace(&self.cfg.lease_name, &PostParams::default(), &lease)
                .await?;
            Ok(true)
        };
        match tokio::time::timeout(self.cfg.renew_deadline, attempt).await {
            Ok(Ok(true)) => {
                tracing::info!(identity = %self.cfg.identity, lease = %self.cfg.lease_name, "released lease")
            }
            Ok(Ok(false)) => {}
            Ok(Err(e)) => {
                tracing::warn!(lease = %self.cfg.lease_name, error = %e, "could not release lease; it will expire")
            }
            Err(_) => {
                tracing::warn!(lease = %self.cfg.lease_name, "releasing lease timed out; it will expire")
            }
        }
    }
}
