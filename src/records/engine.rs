//! The record synchronizer: one pass over the desired state (endpoints by zone, then per
//! zone the current records, the plan, its apply batch by batch, and last the report), the
//! per-zone record cache kept current from our own writes, the groups Cloudflare refused, and
//! the engine side of `runtime::run`, which drives it (debounce, a full resync on
//! `--interval`, retries with backoff, leader gating). Zone assignment, refused-group
//! filtering, batch cutting and the capped Events are pure functions (tested in
//! `engine/tests.rs`).

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::Endpoint;
use super::apply::{Applied, ApplyError, Rejected, fold, write};
use super::inputs::{DesiredRecords, Inputs};
use super::plan::{ChangeGroup, Plan, PlanSettings, Planner, plan};
use super::zone::{DomainFilter, ZoneRef};
use crate::admin::{Condition, Engine, Metrics, ReconcileResult};
use crate::cloudflare::types::DnsRecord;
use crate::cloudflare::{Client, CloudflareError};
use crate::events::{Published, Reporter};
use crate::model::{Notice, Severity};
use crate::runtime::{self, MAX_WRITE_EVENTS, Outcome, Timing, Trigger};

/// Errors of a pass.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// A zone could not be read.
    #[error("zone {zone}: reading records: {error}")]
    Read {
        /// Zone name.
        zone: String,
        /// Cause.
        error: CloudflareError,
    },
    /// A write failed in a way that may succeed later.
    #[error(transparent)]
    Write(#[from] ApplyError),
    /// Zones could not be resolved at start.
    #[error("zones: {0}")]
    Zones(String),
}

impl RecordError {
    /// Low-cardinality kind for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Read { error, .. } | Self::Write(ApplyError::Cloudflare { error, .. }) => {
                error.kind()
            }
            Self::Zones(_) => "zones",
        }
    }
}

/// Settings of the synchronizer beyond the planner's.
#[derive(Debug, Clone)]
pub struct RecordSettings {
    /// Planner settings (`allow_deletes` is set per pass).
    pub plan: PlanSettings,
    /// `--batch-change-size`; capped at the zone plan's limit.
    pub batch_size: Option<usize>,
    /// `--dry-run`.
    pub dry_run: bool,
}

impl RecordSettings {
    /// Settings as external-dns's defaults have them: A, AAAA and CNAME managed, no domain
    /// filter, external-dns's TXT naming, not proxied, no comment, writing. Deletions are allowed
    /// here; the engine still withholds them until every source has listed.
    pub fn new(owner_id: impl Into<String>, policy: super::Policy) -> Self {
        Self {
            plan: PlanSettings {
                owner_id: owner_id.into(),
                policy,
                txt: super::registry::TxtNaming::default(),
                managed_types: vec![
                    crate::cloudflare::types::RecordType::A,
                    crate::cloudflare::types::RecordType::Aaaa,
                    crate::cloudflare::types::RecordType::Cname,
                ],
                domains: DomainFilter::default(),
                default_proxied: false,
                default_comment: None,
                allow_deletes: true,
            },
            batch_size: None,
            dry_run: false,
        }
    }
}

/// A zone in scope and its cached records.
#[derive(Debug, Clone)]
pub struct ZoneState {
    /// Zone.
    pub zone: ZoneRef,
    /// Batch limit of its plan.
    pub limit: usize,
    /// Records as last read and since updated from our own writes; `None` = read again.
    pub records: Option<Vec<DnsRecord>>,
}

/// The zones the synchronizer works in: `ids` if given (no listing needed), else every zone
/// the token sees that the domain filter selects (parent match: `dev.example.com` selects
/// `example.com`).
pub async fn resolve_zones(
    client: &Client,
    ids: &[String],
    domains: &DomainFilter,
) -> Result<Vec<ZoneState>, RecordError> {
    let zones = if ids.is_empty() {
        client
            .list_zones(None)
            .await
            .map_err(|e| RecordError::Zones(format!("listing zones: {e}")))?
            .into_iter()
            .filter(|z| domains.selects_zone(&z.name))
            .collect()
    } else {
        let mut out = Vec::new();
        for id in ids {
            out.push(
                client
                    .get_zone(id)
                    .await
                    .map_err(|e| RecordError::Zones(format!("zone id {id}: {e}")))?,
            );
        }
        out
    };
    if zones.is_empty() {
        return Err(RecordError::Zones(
            "no zone selected: check --domain-filter, --zone-id-filter and the token's Zone Read permission".into(),
        ));
    }
    Ok(zones
        .into_iter()
        .map(|z| ZoneState {
            limit: z.batch_limit(),
            zone: ZoneRef {
                id: z.id,
                name: z.name.to_ascii_lowercase(),
            },
            records: None,
        })
        .collect())
}

/// What one pass planned in one zone (after dropping groups refused before, until the next
/// resync).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZonePass {
    /// Zone.
    pub zone: ZoneRef,
    /// Change groups planned.
    pub groups: usize,
    /// Record operations planned.
    pub ops: usize,
    /// Record sets owned once the plan is applied.
    pub owned: usize,
}

impl ZonePass {
    fn of(zone: &ZoneRef, groups: &[ChangeGroup], owned: usize) -> Self {
        Self {
            zone: zone.clone(),
            groups: groups.len(),
            ops: groups.iter().map(|g| g.ops.len()).sum(),
            owned,
        }
    }
}

/// What one pass planned and did.
#[derive(Debug, Default)]
pub struct PassReport {
    /// What was planned per zone.
    pub zones: Vec<ZonePass>,
    /// Each zone's whole plan, in dry-run only (a writing pass plans and writes batch by batch
    /// and keeps no plan).
    pub plans: Vec<(ZoneRef, Plan)>,
    /// What was written per zone (empty in dry-run).
    pub applied: Vec<(ZoneRef, Applied)>,
    /// True when nothing was written because of --dry-run.
    pub dry_run: bool,
}

impl PassReport {
    /// True when any zone had changes to make.
    pub fn has_changes(&self) -> bool {
        self.zones.iter().any(|z| z.groups > 0)
    }
}

/// The synchronizer.
pub struct RecordEngine {
    client: Client,
    settings: RecordSettings,
    reporter: Reporter,
    timing: Timing,
    zones: Vec<ZoneState>,
    emitted: Published,
    /// Groups Cloudflare refused: not retried until they change or the next full resync.
    refused: Refused,
    metrics: Option<Metrics>,
    kube: Option<kube::Client>,
    observed: HashMap<String, i64>,
    ready: Option<Condition>,
}

impl RecordEngine {
    /// A new engine over resolved zones.
    pub fn new(
        client: Client,
        settings: RecordSettings,
        zones: Vec<ZoneState>,
        reporter: Reporter,
        timing: Timing,
    ) -> Self {
        Self {
            client,
            settings,
            reporter,
            timing,
            zones,
            emitted: Published::default(),
            refused: Refused::default(),
            metrics: None,
            kube: None,
            observed: HashMap::new(),
            ready: None,
        }
    }

    /// Replaces the loop's timing (`--interval` is `resync`).
    pub fn with_timing(mut self, t: Timing) -> Self {
        self.timing = t;
        self
    }

    /// Sets `c` once every source has listed (readiness).
    pub fn with_ready(mut self, c: Condition) -> Self {
        self.ready = Some(c);
        self
    }

    /// Records metrics.
    pub fn with_metrics(mut self, m: Metrics) -> Self {
        self.metrics = Some(m);
        self
    }

    /// Writes DNSEndpoint `status.observedGeneration` through this client.
    pub fn with_status_writer(mut self, k: kube::Client) -> Self {
        self.kube = Some(k);
        self
    }

    /// The zones in scope.
    pub fn zones(&self) -> &[ZoneState] {
        &self.zones
    }

    /// One pass, in the order of external-dns's `RunOnce`: the desired endpoints by zone, then
    /// per zone its current records (read unless cached), the plan, and its apply (batch by
    /// batch as it is planned), and last the report: notices, metrics, DNSEndpoint status.
    /// `full` re-reads every zone and forgets refused groups.
    pub async fn pass(
        &mut self,
        desired: &DesiredRecords,
        full: bool,
    ) -> Result<PassReport, RecordError> {
        let started = std::time::Instant::now();
        if full {
            self.forget_zones();
        }
        // Desired endpoints, by zone.
        let zone_refs: Vec<ZoneRef> = self.zones.iter().map(|z| z.zone.clone()).collect();
        let (by_zone, no_zone) =
            assign_zones(&desired.endpoints, &zone_refs, &self.settings.plan.domains);
        let mut notices = desired.notices.clone();
        notices.extend(no_zone);
        let mut settings = self.settings.plan.clone();
        settings.allow_deletes = desired.synced;
        let mut report = PassReport {
            dry_run: self.settings.dry_run,
            ..PassReport::default()
        };
        let mut first_err: Option<RecordError> = None;
        let mut owned = 0;
        for (state, endpoints) in self.zones.iter_mut().zip(by_zone) {
            // Current records.
            if let Err(e) = read_records(&self.client, state).await {
                first_err.get_or_insert(e);
                continue;
            }
            // Plan, and apply.
            let run = if self.settings.dry_run {
                preview_zone(state, &endpoints, &settings, &self.refused)
            } else {
                let limit = self
                    .settings
                    .batch_size
                    .map_or(state.limit, |b| b.clamp(1, state.limit));
                let writer = Writer {
                    client: &self.client,
                    reporter: &self.reporter,
                    refused: &mut self.refused,
                    limit,
                };
                sync_zone(writer, state, &endpoints, &settings).await
            };
            notices.extend(run.notices);
            owned += run.pass.owned;
            report.zones.push(run.pass);
            report
                .plans
                .extend(run.plan.map(|p| (state.zone.clone(), p)));
            report
                .applied
                .extend(run.applied.map(|a| (state.zone.clone(), a)));
            if let Some(e) = run.failed {
                first_err.get_or_insert(e.into());
            }
        }
        // Report.
        self.publish_new(notices).await;
        if let Some(m) = &self.metrics
            && first_err.is_none()
        {
            m.set_managed_records(owned);
        }
        let result = match first_err {
            None => {
                if !self.settings.dry_run {
                    self.write_status(desired).await;
                }
                Ok(report)
            }
            Some(e) => Err(e),
        };
        if let Some(m) = &self.metrics {
            let outcome = match &result {
                Ok(r) if r.has_changes() => ReconcileResult::Ok,
                Ok(_) => ReconcileResult::Noop,
                Err(e) => {
                    m.error(Engine::Records, e.kind());
                    ReconcileResult::Error
                }
            };
            m.reconciled(Engine::Records, outcome, started.elapsed());
        }
        result
    }

    async fn publish_new(&mut self, notices: Vec<Notice>) {
        self.emitted.update(&self.reporter, notices).await;
    }

    /// Marks DNSEndpoints as observed once their records were applied.
    async fn write_status(&mut self, desired: &DesiredRecords) {
        let Some(k) = &self.kube else { return };
        for (obj, generation) in &desired.crd_generations {
            let key = obj.uid.clone().unwrap_or_else(|| obj.to_string());
            if self.observed.get(&key) == Some(generation) {
                continue;
            }
            let api: kube::Api<super::kinds::DNSEndpoint> =
                kube::Api::namespaced(k.clone(), &obj.namespace);
            let patch = serde_json::json!({"status": {"observedGeneration": generation}});
            match api
                .patch_status(
                    &obj.name,
                    &kube::api::PatchParams::default(),
                    &kube::api::Patch::Merge(&patch),
                )
                .await
            {
                Ok(_) => {
                    self.observed.insert(key, *generation);
                }
                Err(e) => {
                    tracing::warn!(object = %obj, error = %e, "writing status.observedGeneration failed")
                }
            }
        }
    }

    /// Runs until `shutdown`: a pass after each (debounced) change, a full resync every
    /// `timing.resync` (the first pass is one), retries with backoff (`runtime::run`).
    /// `leader` gates writing: a replica that does not lead only watches, and turns ready once
    /// every source has listed.
    pub async fn run(
        mut self,
        inputs: Inputs,
        leader: tokio::sync::watch::Receiver<bool>,
        shutdown: CancellationToken,
    ) {
        let source = Watched {
            ready: self.ready.take(),
            inputs,
        };
        let timing = self.timing.clone();
        runtime::run(self, timing, source, leader, shutdown).await;
    }

    /// Drops every zone's records and the refused groups: the next pass reads every zone.
    fn forget_zones(&mut self) {
        for z in &mut self.zones {
            z.records = None;
        }
        self.refused.clear();
    }
}

/// The record sources as the loop sees them; readiness is set as soon as every source has
/// listed, leading or not.
struct Watched {
    inputs: Inputs,
    ready: Option<Condition>,
}

impl runtime::Source for Watched {
    type Value = DesiredRecords;

    fn current(&mut self) -> Option<DesiredRecords> {
        let current = self.inputs.current();
        if let (Some(c), Some(d)) = (&self.ready, &current)
            && d.synced
        {
            c.set(true);
        }
        current
    }

    async fn changed(&mut self) -> bool {
        self.inputs.changed().await
    }
}

/// The loop's view of the engine: it compares a fingerprint of the desired state, not a copy
/// (the desired state is held once, and only during a pass).
impl runtime::Engine for RecordEngine {
    type Input = DesiredRecords;
    type Desired = u64;
    type Work = DesiredRecords;

    fn desired(&mut self, desired: DesiredRecords) -> (u64, DesiredRecords) {
        (fingerprint_of(&desired), desired)
    }

    async fn unchanged(&mut self, _: DesiredRecords) {}

    async fn pass(&mut self, trigger: Trigger, _: &u64, desired: DesiredRecords) -> Outcome {
        // A retry reads again only the zones the failure left unread; a resync reads all.
        match RecordEngine::pass(self, &desired, trigger == Trigger::Resync).await {
            Ok(_) => Outcome::Done {
                requeue_after: None,
            },
            Err(e) => {
                tracing::warn!(error = %e, "record pass failed; retrying");
                Outcome::Failed
            }
        }
    }

    fn forget(&mut self) {
        self.forget_zones();
    }
}

/// Where a desired endpoint goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placement {
    /// Into the zone at this index of the pass's zones.
    Zone(usize),
    /// Nowhere, with a warning: the domain filter selects the name, no zone in scope holds it.
    NoZone,
    /// Nowhere, silently: the domain filter does not select the name.
    Filtered,
}

/// The zone `name` belongs to among `zones` (the longest apex it is within).
fn place(name: &str, zones: &[ZoneRef], domains: &DomainFilter) -> Placement {
    match domains.zone_for(name, zones) {
        Some(z) => Placement::Zone(zones.iter().position(|r| r == z).unwrap_or(0)),
        None if domains.matches(name) => Placement::NoZone,
        None => Placement::Filtered,
    }
}

/// The desired endpoints of each zone (references, not copies: the desired state is held
/// once), and a `NoZone` warning for each endpoint the filter selects but no zone holds.
fn assign_zones<'e>(
    endpoints: &'e [Arc<Endpoint>],
    zones: &[ZoneRef],
    domains: &DomainFilter,
) -> (Vec<Vec<&'e Endpoint>>, Vec<Notice>) {
    let mut by_zone: Vec<Vec<&Endpoint>> = vec![Vec::new(); zones.len()];
    let mut notices = Vec::new();
    for ep in endpoints {
        match place(&ep.name, zones, domains) {
            Placement::Zone(i) => by_zone[i].push(ep),
            Placement::NoZone => notices.push(Notice {
                object: ep.object(),
                severity: Severity::Warning,
                reason: "NoZone".into(),
                message: no_zone_message(&ep.name, zones),
            }),
            Placement::Filtered => {}
        }
    }
    (by_zone, notices)
}

fn no_zone_message(name: &str, zones: &[ZoneRef]) -> String {
    format!(
        "hostname {name} is in none of the zones in scope ({})",
        zones
            .iter()
            .map(|z| z.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Change groups Cloudflare refused, by name with a fingerprint of their operations: a group
/// refused once is not sent again until it changes or the next full resync.
#[derive(Debug, Default)]
struct Refused(HashMap<String, u64>);

impl Refused {
    /// Whether `g` was refused as it is now.
    fn holds(&self, g: &ChangeGroup) -> bool {
        self.0.get(&g.name) == Some(&fingerprint(g))
    }

    /// Remembers the groups of `batch` that Cloudflare `rejected`.
    fn remember(&mut self, batch: &[ChangeGroup], rejected: &[Rejected]) {
        for r in rejected {
            if let Some(g) = batch.iter().find(|g| g.name == r.name) {
                self.0.insert(g.name.clone(), fingerprint(g));
            }
        }
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}

/// The batch being filled while the plan is read, cut where `apply::chunk` would cut the whole
/// plan.
#[derive(Debug, Default)]
struct Batch {
    groups: Vec<ChangeGroup>,
    ops: usize,
}

impl Batch {
    /// Whether the batch must be sent before `next` joins it: `next` would take it over
    /// `limit` operations, or nothing comes next. An empty batch never is.
    fn full_before(&self, next: Option<&ChangeGroup>, limit: usize) -> bool {
        !self.groups.is_empty() && next.is_none_or(|g| self.ops + g.ops.len() > limit)
    }

    fn push(&mut self, g: ChangeGroup) {
        self.ops += g.ops.len();
        self.groups.push(g);
    }

    fn clear(&mut self) {
        self.groups.clear();
        self.ops = 0;
    }
}

/// "RecordsWritten" notices for the groups of `batch` that Cloudflare applied (those with an
/// object and not `rejected`). A cold start writes every hostname at once: Events for all
/// would flood the API server and kube's Recorder cache, so a zone's pass tells the first
/// [`MAX_WRITE_EVENTS`]; `told` counts them across the pass's batches. True when this batch
/// reached the cap with groups left (once per pass: `told` then stays past the cap).
fn written_notices(
    batch: &[ChangeGroup],
    rejected: &[Rejected],
    told: &mut usize,
) -> (Vec<Notice>, bool) {
    let mut notices = Vec::new();
    let mut capped = false;
    let written = batch
        .iter()
        .filter(|g| !rejected.iter().any(|r| r.name == g.name));
    for (g, obj) in written.filter_map(|g| g.object.as_ref().map(|o| (g, o))) {
        if *told == MAX_WRITE_EVENTS {
            capped = true;
            *told += 1;
        }
        if *told > MAX_WRITE_EVENTS {
            break;
        }
        *told += 1;
        notices.push(Notice {
            object: obj.clone(),
            severity: Severity::Normal,
            reason: "RecordsWritten".into(),
            message: describe_group(g),
        });
    }
    (notices, capped)
}

/// A `RecordRejected` warning for each refused group that has an object.
fn rejected_notices(rejected: &[Rejected]) -> Vec<Notice> {
    rejected
        .iter()
        .filter_map(|r| {
            r.object.as_ref().map(|obj| Notice {
                object: obj.clone(),
                severity: Severity::Warning,
                reason: "RecordRejected".into(),
                message: format!("{}: {}", r.name, r.message),
            })
        })
        .collect()
}

/// Reads the zone's records unless they are cached.
async fn read_records(client: &Client, state: &mut ZoneState) -> Result<(), RecordError> {
    if state.records.is_some() {
        return Ok(());
    }
    match client.list_dns_records(&state.zone.id, None, None).await {
        Ok(mut r) => {
            r.shrink_to_fit();
            state.records = Some(r);
            Ok(())
        }
        Err(error) => Err(RecordError::Read {
            zone: state.zone.name.clone(),
            error,
        }),
    }
}

/// What one zone's plan and apply came to.
struct ZoneRun {
    pass: ZonePass,
    /// The planner's notices, then the refusals'.
    notices: Vec<Notice>,
    /// The whole plan (dry run only).
    plan: Option<Plan>,
    /// What was written, when anything was (not in dry run).
    applied: Option<Applied>,
    /// The write that failed; the zone is read again next pass.
    failed: Option<ApplyError>,
}

/// The whole plan of a zone, logged and not written (`--dry-run`), without the groups refused
/// earlier.
fn preview_zone(
    state: &ZoneState,
    endpoints: &[&Endpoint],
    settings: &PlanSettings,
    refused: &Refused,
) -> ZoneRun {
    let records = state.records.as_deref().unwrap_or_default();
    let mut p = plan(endpoints, records, &state.zone, settings);
    let notices = std::mem::take(&mut p.notices);
    p.groups.retain(|g| !refused.holds(g));
    for g in &p.groups {
        for op in &g.ops {
            tracing::info!(zone = %state.zone.name, "dry run, not written: {}", describe_op(op));
        }
    }
    ZoneRun {
        pass: ZonePass::of(&state.zone, &p.groups, p.owned),
        notices,
        plan: Some(p),
        applied: None,
        failed: None,
    }
}

/// What writing a zone needs besides the zone.
struct Writer<'a> {
    client: &'a Client,
    reporter: &'a Reporter,
    refused: &'a mut Refused,
    /// Operations per batch at most.
    limit: usize,
}

/// Plans the zone and writes it batch by batch as the plan is read: a cold start never holds
/// the plan of the whole zone, and the batches are the ones `apply` would cut from the whole
/// plan. Groups refused earlier are skipped; groups refused now are remembered. The cache is
/// updated from Cloudflare's answers, or dropped when a write failed (it may or may not have
/// run).
async fn sync_zone(
    w: Writer<'_>,
    state: &mut ZoneState,
    endpoints: &[&Endpoint],
    settings: &PlanSettings,
) -> ZoneRun {
    let cache = state.records.get_or_insert_with(Vec::new);
    let mut planner = Planner::new(endpoints, cache, &state.zone, settings);
    let mut pass = ZonePass::of(&state.zone, &[], 0);
    let mut done = Applied::default();
    let mut answers = Vec::new();
    let mut batch = Batch::default();
    let mut rejected = Vec::new();
    let mut told = 0;
    let mut failed = None;
    loop {
        let next = planner.by_ref().find(|g| !w.refused.holds(g));
        if batch.full_before(next.as_ref(), w.limit) {
            let sent = match write(
                w.client,
                &state.zone.id,
                &batch.groups,
                w.limit,
                &mut answers,
            )
            .await
            {
                Ok(b) => b,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            };
            for r in &sent.rejected {
                tracing::warn!(zone = %state.zone.name, name = %r.name, "refused by Cloudflare: {}", r.message);
            }
            w.refused.remember(&batch.groups, &sent.rejected);
            rejected.extend(rejected_notices(&sent.rejected));
            let (written, capped) = written_notices(&batch.groups, &sent.rejected, &mut told);
            for n in &written {
                w.reporter.publish(n).await;
            }
            if capped {
                tracing::info!(zone = %state.zone.name, "more record groups written; Events only for the first {MAX_WRITE_EVENTS} of this pass");
            }
            done.add(sent);
            batch.clear();
        }
        let Some(g) = next else { break };
        pass.groups += 1;
        pass.ops += g.ops.len();
        batch.push(g);
    }
    let (mut notices, owned) = planner.finish();
    notices.append(&mut rejected);
    pass.owned = owned;
    let mut applied = None;
    match &failed {
        None => {
            fold(cache, answers);
            if done.batches > 0 {
                tracing::info!(zone = %state.zone.name, groups = done.groups, ops = done.ops, batches = done.batches, rejected = done.rejected.len(), "records applied");
                applied = Some(done);
            }
        }
        // The batch may or may not have run: read the zone again next time.
        Some(_) => state.records = None,
    }
    ZoneRun {
        pass,
        notices,
        plan: None,
        applied,
        failed,
    }
}

fn fingerprint_of(d: &DesiredRecords) -> u64 {
    let mut h = DefaultHasher::new();
    d.hash(&mut h);
    h.finish()
}

fn fingerprint(g: &ChangeGroup) -> u64 {
    let mut h = DefaultHasher::new();
    format!("{:?}", g.ops).hash(&mut h);
    h.finish()
}

/// One line per operation: `+ A app.example.com 192.0.2.1`.
pub fn describe_group(g: &ChangeGroup) -> String {
    g.ops.iter().map(describe_op).collect::<Vec<_>>().join("; ")
}

/// One operation, diff style.
pub fn describe_op(op: &super::Op) -> String {
    use super::Op;
    match op {
        Op::Create(r) => format!(
            "+ {} {} {} ttl={} proxied={}",
            r.record_type, r.name, r.content, r.ttl, r.proxied
        ),
        Op::Update { old, new } => format!(
            "~ {} {} {} ttl={} proxied={} -> {} ttl={} proxied={}",
            new.record_type,
            new.name,
            old.content,
            old.ttl,
            old.proxied,
            new.content,
            new.ttl,
            new.proxied
        ),
        Op::Delete(r) => format!("- {} {} {}", r.record_type, r.name, r.content),
    }
}

#[cfg(test)]
mod tests;
