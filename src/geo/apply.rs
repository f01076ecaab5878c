//! The effectful edge of the geo engine: reads Cloudflare completely, applies planned writes,
//! folds each answer back into the observed state, and verifies the shared LB after writing.

use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

use super::desired::DesiredGeo;
use super::plan::{Action, Observed, plan};
use super::settings::GeoSettings;
use crate::cloudflare::{Client, CloudflareError};

/// Errors of one reconcile.
#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    /// The preview's private copy of the state could not be built.
    #[error("preview: {0}")]
    Preview(String),
    /// A read failed: nothing was written in this pass.
    #[error("reading Cloudflare state failed, nothing written: {0}")]
    Read(#[source] CloudflareError),
    /// A write failed.
    #[error("{action} failed: {source}{}", hint.map(|h| format!(" ({h})")).unwrap_or_default())]
    Write {
        /// What was being done.
        action: String,
        /// Cloudflare's answer.
        source: CloudflareError,
        /// What the user can do.
        hint: Option<&'static str>,
    },
    /// The planner kept finding work: a concurrent writer or a refused write.
    #[error("no fixed point after {0} rounds; will retry at the next trigger")]
    NoFixedPoint(usize),
}

impl GeoError {
    /// Low-cardinality label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Read(_) => "read",
            Self::Write { .. } => "write",
            Self::NoFixedPoint(_) => "no_fixed_point",
            Self::Preview(_) => "preview",
        }
    }
}

/// What one reconcile did.
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// Writes made, described.
    pub written: Vec<Action>,
    /// Writes skipped, with why.
    pub skipped: Vec<String>,
    /// Planner warnings.
    pub warnings: Vec<String>,
    /// Seconds until a retiring pool may be deleted.
    pub requeue_after: Option<u64>,
    /// State after the pass.
    pub observed: Observed,
}

/// Reads pools, monitors and load balancers. Any failure fails the whole read.
pub async fn read_observed(client: &Client, s: &GeoSettings) -> Result<Observed, GeoError> {
    let (pools, monitors, lbs) = tokio::try_join!(
        client.list_pools(&s.account_id),
        client.list_monitors(&s.account_id),
        client.list_load_balancers(&s.zone_id),
    )
    .map_err(GeoError::Read)?;
    Ok(Observed {
        pools,
        monitors,
        lbs,
    })
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

const MAX_ROUNDS: usize = 12;
const MAX_VERIFY: usize = 3;

/// Every write a reconcile would make now, without writing (`cfgeo plan`): the real state is
/// read, copied into a private in-process emulator, and the real reconcile runs against the copy.
/// That follows every phase (monitors, pools, LBs, retirements), not only the first.
pub async fn preview(
    client: &Client,
    s: &GeoSettings,
    desired: &DesiredGeo,
) -> Result<Vec<Action>, GeoError> {
    use crate::emulator::{Emulator, EmulatorConfig, Plan as ZonePlan, ZoneSpec};
    let obs = read_observed(client, s).await?;
    let scratch_err = |m: String| GeoError::Preview(m);
    let emu = Emulator::start(EmulatorConfig {
        zones: vec![ZoneSpec::new(s.zone_name.clone(), ZonePlan::Enterprise)],
        account_id: s.account_id.clone(),
        ..EmulatorConfig::default()
    })
    .await
    .map_err(|e| scratch_err(e.to_string()))?;
    let zone_id = emu
        .zone_id(&s.zone_name)
        .ok_or_else(|| scratch_err("scratch zone missing".into()))?;
    let stamp = |v: &mut serde_json::Value| {
        for k in ["created_on", "modified_on"] {
            if v.get(k).is_none_or(serde_json::Value::is_null) {
                v[k] = serde_json::json!("2026-01-01T00:00:00Z");
            }
        }
    };
    let copy = (|| -> Result<(), serde_json::Error> {
        let mut pools = Vec::new();
        for p in &obs.pools {
            let mut v = serde_json::to_value(p)?;
            stamp(&mut v);
            pools.push(serde_json::from_value::<crate::emulator::Pool>(v)?);
        }
        let mut monitors = Vec::new();
        for m in &obs.monitors {
            let mut v = serde_json::to_value(m)?;
            stamp(&mut v);
            monitors.push(serde_json::from_value::<crate::emulator::Monitor>(v)?);
        }
        let mut lbs = Vec::new();
        for l in &obs.lbs {
            let mut v = serde_json::to_value(l)?;
            stamp(&mut v);
            v["zone_id"] = serde_json::json!(zone_id);
            lbs.push(serde_json::from_value::<crate::emulator::LoadBalancer>(v)?);
        }
        emu.with_state(|st| {
            st.pools
                .extend(pools.into_iter().map(|p| (p.id.clone(), p)));
            st.monitors
                .extend(monitors.into_iter().map(|m| (m.id.clone(), m)));
            st.load_balancers
                .extend(lbs.into_iter().map(|l| (l.id.clone(), l)));
        });
        Ok(())
    })();
    copy.map_err(|e| scratch_err(format!("copying the state: {e}")))?;
    let scratch = Client::new(
        crate::cloudflare::ClientSettings {
            base_url: emu.base_url(),
            ..crate::cloudflare::ClientSettings::default()
        },
        crate::cloudflare::TokenSource::Static(crate::cloudflare::ApiToken::new("preview")),
    )
    .map_err(|e| scratch_err(e.to_string()))?;
    let mut s2 = s.clone();
    s2.zone_id = zone_id;
    // Retiring pools would wait; a preview shows their deletion.
    s2.removal_delay_secs = 0;
    let report = reconcile(&scratch, &s2, desired).await;
    emu.shutdown().await;
    Ok(report?.written)
}

/// Brings Cloudflare to the desired state and verifies the shared LBs afterwards.
pub async fn reconcile(
    client: &Client,
    s: &GeoSettings,
    desired: &DesiredGeo,
) -> Result<Report, GeoError> {
    let mut obs = read_observed(client, s).await?;
    let mut report = Report::default();
    let mut skipped: BTreeSet<String> = BTreeSet::new();
    let mut verifies = 0;
    for _ in 0..MAX_ROUNDS {
        let p = plan(desired, &obs, s, now());
        for w in p.warnings {
            if !report.warnings.contains(&w) {
                report.warnings.push(w);
            }
        }
        report.requeue_after = p.requeue_after;
        let todo: Vec<Action> = p
            .actions
            .into_iter()
            .filter(|a| !skipped.contains(&a.describe()))
            .collect();
        if todo.is_empty() {
            let wrote = !report.written.is_empty();
            if wrote && verifies < MAX_VERIFY {
                // Another cluster may have written the LB from an older listing; our own
                // re-read after our write is what guarantees the last writer heals it.
                verifies += 1;
                obs = read_observed(client, s).await?;
                if plan(desired, &obs, s, now())
                    .actions
                    .iter()
                    .all(|a| skipped.contains(&a.describe()))
                {
                    report.observed = obs;
                    return Ok(report);
                }
                continue;
            }
            report.observed = obs;
            return Ok(report);
        }
        for a in todo {
            match apply_one(client, s, &mut obs, &a).await? {
                None => report.written.push(a),
                Some(why) => {
                    skipped.insert(a.describe());
                    report.skipped.push(format!("{}: {why}", a.describe()));
                }
            }
        }
    }
    Err(GeoError::NoFixedPoint(MAX_ROUNDS))
}

fn write_err(a: &Action, e: CloudflareError) -> GeoError {
    let hint = match a {
        Action::CreateLb { .. } | Action::PatchLb { .. }
            if e.status() == Some(400) || e.status() == Some(403) =>
        {
            Some(
                "proximity steering needs Cloudflare's Traffic Steering add-on or Enterprise, and coordinates on every pool; use --lb-steering-policy off or random otherwise",
            )
        }
        _ if e.status() == Some(403) => Some(
            "the token needs Load Balancing: Monitors and Pools Edit (account) and Load Balancers Edit (zone)",
        ),
        _ => None,
    };
    GeoError::Write {
        action: a.describe(),
        source: e,
        hint,
    }
}

/// Applies one action; `Ok(Some(reason))` when it was deliberately skipped.
async fn apply_one(
    client: &Client,
    s: &GeoSettings,
    obs: &mut Observed,
    a: &Action,
) -> Result<Option<String>, GeoError> {
    let acct = &s.account_id;
    let zone = &s.zone_id;
    let err = |e| write_err(a, e);
    match a {
        Action::CreateMonitor { input, .. } => {
            let m = client.create_monitor(acct, input).await.map_err(err)?;
            obs.monitors.push(m);
        }
        Action::PatchMonitor { id, input, .. } => {
            let m = client.patch_monitor(acct, id, input).await.map_err(err)?;
            replace(&mut obs.monitors, m, |x| &x.id);
        }
        Action::CreatePool { input } => {
            let p = client.create_pool(acct, input).await.map_err(err)?;
            obs.pools.push(p);
        }
        Action::PatchPool { id, patch, .. } => {
            let p = client.patch_pool(acct, id, patch).await.map_err(err)?;
            replace(&mut obs.pools, p, |x| &x.id);
        }
        Action::CreateLb { input } => {
            let lb = client
                .create_load_balancer(zone, input)
                .await
                .map_err(err)?;
            obs.lbs.push(lb);
        }
        Action::PatchLb { id, patch, .. } => {
            let lb = client
                .patch_load_balancer(zone, id, patch)
                .await
                .map_err(err)?;
            replace(&mut obs.lbs, lb, |x| &x.id);
        }
        Action::DeleteLb { id, .. } => {
            client.delete_load_balancer(zone, id).await.map_err(err)?;
            obs.lbs.retain(|l| &l.id != id);
        }
        Action::DeletePool { id, .. } => {
            let refs = client.pool_references(acct, id).await.map_err(err)?;
            let lb_refs: Vec<_> = refs
                .iter()
                .filter(|r| r.reference_type.as_deref() != Some("referral"))
                .filter_map(|r| r.resource_name.clone().or(r.resource_id.clone()))
                .collect();
            if !lb_refs.is_empty() {
                return Ok(Some(format!("still referenced by {}", lb_refs.join(", "))));
            }
            match client.delete_pool(acct, id).await {
                Ok(()) => obs.pools.retain(|p| &p.id != id),
                Err(e) if e.has_code(1005) => {
                    return Ok(Some("still referenced (1005); retried later".into()));
                }
                Err(e) => return Err(err(e)),
            }
        }
        Action::DeleteMonitor { id, .. } => match client.delete_monitor(acct, id).await {
            Ok(()) => obs.monitors.retain(|m| &m.id != id),
            Err(e) if e.has_code(1005) => {
                return Ok(Some("still referenced (1005); retried later".into()));
            }
            Err(e) => return Err(err(e)),
        },
    }
    Ok(None)
}

fn replace<T>(v: &mut Vec<T>, item: T, id: impl Fn(&T) -> &String) {
    match v.iter().position(|x| id(x) == id(&item)) {
        Some(i) => v[i] = item,
        None => v.push(item),
    }
}
