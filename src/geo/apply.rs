//! The effectful edge of the geo engine: reads Cloudflare, applies planned writes phase by
//! phase, folds each answer back into the observed state, and verifies every write to a
//! shared load balancer by a fresh read of the pool listing and the LBs.

use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

use super::desired::DesiredGeo;
use super::plan::{
    Action, DecommissionError, Expect, Observed, Phase, Plan, Problem, next_phase, plan,
    plan_decommission,
};
use super::settings::GeoSettings;
use crate::cloudflare::{Client, CloudflareError};

/// Errors of one reconcile.
#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    /// A read failed: nothing more was written in this pass.
    #[error("reading Cloudflare state failed, nothing more written: {0}")]
    Read(CloudflareError),
    /// A write failed (decommission, which stops at the first failure).
    #[error("{action} failed: {error}{}", hint.map(|h| format!(" ({h})")).unwrap_or_default())]
    Write {
        /// What was being done.
        action: String,
        /// Cloudflare's answer.
        error: CloudflareError,
        /// What the user can do.
        hint: Option<&'static str>,
    },
    /// `cfgeo decommission` refused.
    #[error(transparent)]
    Decommission(#[from] DecommissionError),
    /// The planner kept finding work: a concurrent writer or a refused write.
    #[error("no fixed point after {0} rounds; will retry from a fresh read")]
    NoFixedPoint(usize),
}

impl GeoError {
    /// Low-cardinality label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Read(_) => "read",
            Self::Write { .. } => "write",
            Self::Decommission(_) => "decommission",
            Self::NoFixedPoint(_) => "no_fixed_point",
        }
    }
}

/// A write Cloudflare refused; the rest of the pass went on.
#[derive(Debug, Clone)]
pub struct Refused {
    /// The write.
    pub action: Action,
    /// Cloudflare's answer, with a hint where one applies.
    pub error: String,
}

/// What one reconcile did.
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// Writes made.
    pub written: Vec<Action>,
    /// Writes skipped, with why.
    pub skipped: Vec<String>,
    /// Writes refused; they are retried with backoff.
    pub refused: Vec<Refused>,
    /// What the planner could not do, for Events.
    pub problems: Vec<Problem>,
    /// Seconds until a retiring pool may be deleted.
    pub requeue_after: Option<u64>,
    /// Re-plans forced by a 429 or a long wait for the rate budget.
    pub replans: usize,
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

async fn read_lbs(
    client: &Client,
    s: &GeoSettings,
) -> Result<Vec<crate::cloudflare::types::LoadBalancer>, GeoError> {
    client
        .list_load_balancers(&s.zone_id)
        .await
        .map_err(GeoError::Read)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

const MAX_ROUNDS: usize = 16;

/// The complete plan a pass would apply now, from a fresh read, without writing
/// (`cfgeo plan`, `--dry-run`).
pub async fn preview(
    client: &Client,
    s: &GeoSettings,
    desired: &DesiredGeo,
) -> Result<(Plan, Observed), GeoError> {
    let obs = read_observed(client, s).await?;
    Ok((plan(desired, &obs, s, now()), obs))
}

/// Where a pass starts from.
#[derive(Debug, Clone)]
pub enum Start {
    /// A full read of pools, monitors and LBs (resync, retry, first pass).
    Fresh,
    /// The state the previous pass ended with. Own pools are written from it; load-balancer
    /// writes still wait for a fresh read of the LBs.
    Cached(Observed),
}

/// Brings Cloudflare to the desired state. Every LB write is followed by a fresh read of the
/// pool listing and the LBs, and the pass ends only when a plan from that read is empty.
pub async fn reconcile(
    client: &Client,
    s: &GeoSettings,
    desired: &DesiredGeo,
    start: Start,
) -> Result<Report, GeoError> {
    let (mut obs, mut lbs_fresh) = match start {
        Start::Fresh => (read_observed(client, s).await?, true),
        Start::Cached(o) => (o, false),
    };
    let mut report = Report::default();
    let mut skip: BTreeSet<String> = BTreeSet::new();
    // An LB write not yet followed by a fresh read.
    let mut unverified = false;
    for _ in 0..MAX_ROUNDS {
        let p = next_phase(desired, &obs, s, now(), &skip);
        report.problems = p.problems.clone();
        report.requeue_after = p.requeue_after;
        if p.is_empty() {
            if unverified {
                // Another cluster may have written the LB from an older view; our fresh read
                // after our own write is what lets the last writer heal it.
                let (pools, lbs) = tokio::try_join!(
                    client.list_pools(&s.account_id),
                    client.list_load_balancers(&s.zone_id),
                )
                .map_err(GeoError::Read)?;
                obs.pools = pools;
                obs.lbs = lbs;
                unverified = false;
                lbs_fresh = true;
                continue;
            }
            if !lbs_fresh && !report.written.is_empty() {
                // Our pool changed: check that every LB it serves still lists it.
                obs.lbs = read_lbs(client, s).await?;
                lbs_fresh = true;
                continue;
            }
            report.observed = obs;
            return Ok(report);
        }
        if p.phase() == Some(Phase::Lbs) && !lbs_fresh {
            obs.lbs = read_lbs(client, s).await?;
            lbs_fresh = true;
            continue;
        }
        for step in p.steps {
            if !expectation_holds(&obs, &step.expects) {
                // Planned from a state that has since changed: plan again.
                break;
            }
            let a = step.action;
            match apply_one(client, s, &mut obs, &a).await {
                Ok(None) => {
                    unverified |= a.touches_lb();
                    report.written.push(a);
                }
                Ok(Some(why)) => {
                    skip.insert(a.describe());
                    report.skipped.push(format!("{}: {why}", a.describe()));
                }
                Err(e) if e.needs_replan() => {
                    // Never resend a body planned before a pause: read again, plan again.
                    tracing::info!(action = %a.describe(), error = %e, "re-planning from a fresh read");
                    report.replans += 1;
                    obs = read_observed(client, s).await?;
                    lbs_fresh = true;
                    unverified = false;
                    break;
                }
                Err(e) if e.status() == Some(404) && !matches!(a, Action::CreateLb { .. }) => {
                    // The object is gone: our view was stale.
                    obs = read_observed(client, s).await?;
                    lbs_fresh = true;
                    unverified = false;
                    break;
                }
                Err(e) if matches!(a, Action::CreateLb { .. }) && e.has_code(1003) => {
                    // Another cluster created it first: adopt it at once.
                    tracing::info!(action = %a.describe(), "load balancer already exists; adopting it");
                    obs.lbs = read_lbs(client, s).await?;
                    lbs_fresh = true;
                    break;
                }
                Err(e) => {
                    let err = write_err(&a, e);
                    tracing::warn!(error = %err, "write refused; the rest of the pass goes on");
                    skip.insert(a.describe());
                    report.refused.push(Refused {
                        action: a,
                        error: err.to_string(),
                    });
                }
            }
        }
    }
    if unverified {
        // Out of rounds: the engine retries from a full read, which verifies the write.
        tracing::warn!("geo pass ended with an unverified LB write; retrying from a fresh read");
    }
    Err(GeoError::NoFixedPoint(MAX_ROUNDS))
}

fn expectation_holds(obs: &Observed, e: &Expect) -> bool {
    match e {
        Expect::LbPools {
            id,
            default_pools,
            fallback_pool,
        } => obs.lbs.iter().find(|l| &l.id == id).is_some_and(|l| {
            &l.default_pools == default_pools && &l.fallback_pool == fallback_pool
        }),
        _ => true,
    }
}

fn write_err(a: &Action, e: CloudflareError) -> GeoError {
    let text = e.to_string().to_ascii_lowercase();
    let hint = if a.touches_lb() && text.contains("steering") {
        Some(
            "this steering policy needs Cloudflare's Traffic Steering add-on or Enterprise; use --lb-steering-policy off or random otherwise",
        )
    } else if e.status() == Some(403) {
        Some(
            "the token needs Load Balancing: Monitors and Pools Edit (account) and Load Balancers Edit (zone)",
        )
    } else {
        None
    };
    GeoError::Write {
        action: a.describe(),
        error: e,
        hint,
    }
}

/// Applies one action; `Ok(Some(reason))` when it was deliberately skipped.
async fn apply_one(
    client: &Client,
    s: &GeoSettings,
    obs: &mut Observed,
    a: &Action,
) -> Result<Option<String>, CloudflareError> {
    let acct = &s.account_id;
    let zone = &s.zone_id;
    match a {
        Action::CreateMonitor { input, .. } => {
            let m = client.create_monitor(acct, input).await?;
            obs.monitors.push(m);
        }
        Action::PatchMonitor { id, input, .. } => {
            let m = client.patch_monitor(acct, id, input).await?;
            replace(&mut obs.monitors, m, |x| &x.id);
        }
        Action::CreatePool { input } => {
            let p = client.create_pool(acct, input).await?;
            obs.pools.push(p);
        }
        Action::PatchPool { id, patch, .. } => {
            let p = client.patch_pool(acct, id, patch).await?;
            replace(&mut obs.pools, p, |x| &x.id);
        }
        Action::CreateLb { input } => {
            let lb = client.create_load_balancer(zone, input).await?;
            obs.lbs.push(lb);
        }
        Action::PatchLb { id, patch, .. } => {
            let lb = client.patch_load_balancer(zone, id, patch).await?;
            replace(&mut obs.lbs, lb, |x| &x.id);
        }
        Action::DeleteLb { id, .. } => {
            client.delete_load_balancer(zone, id).await?;
            obs.lbs.retain(|l| &l.id != id);
        }
        Action::DeletePool { id, .. } => {
            let refs = client.pool_references(acct, id).await?;
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
                Err(e) => return Err(e),
            }
        }
        Action::DeleteMonitor { id, .. } => match client.delete_monitor(acct, id).await {
            Ok(()) => obs.monitors.retain(|m| &m.id != id),
            Err(e) if e.has_code(1005) => {
                return Ok(Some("still referenced (1005); retried later".into()));
            }
            Err(e) => return Err(e),
        },
    }
    Ok(None)
}

/// `cfgeo decommission`: deletes the load balancer of `host`, then this deployment's pools and
/// monitors for it. Stops at the first failure.
pub async fn decommission(
    client: &Client,
    s: &GeoSettings,
    host: &str,
    force: bool,
    dry_run: bool,
) -> Result<Vec<Action>, GeoError> {
    let mut obs = read_observed(client, s).await?;
    let actions = plan_decommission(&obs, s, host, force)?;
    if dry_run {
        return Ok(actions);
    }
    let mut done = Vec::new();
    for a in actions {
        match apply_one(client, s, &mut obs, &a).await {
            Ok(None) => done.push(a),
            Ok(Some(why)) => tracing::warn!(action = %a.describe(), "skipped: {why}"),
            Err(e) => return Err(write_err(&a, e)),
        }
    }
    Ok(done)
}

fn replace<T>(v: &mut Vec<T>, item: T, id: impl Fn(&T) -> &String) {
    match v.iter().position(|x| id(x) == id(&item)) {
        Some(i) => v[i] = item,
        None => v.push(item),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloudflare::ApiMessage;
    use crate::cloudflare::types::LoadBalancerPatch;

    fn api(status: u16, code: i64, message: &str) -> CloudflareError {
        CloudflareError::Api {
            endpoint: "load_balancers.patch",
            status,
            errors: vec![ApiMessage {
                code,
                message: message.into(),
            }],
        }
    }

    fn hint(a: &Action, e: CloudflareError) -> Option<&'static str> {
        match write_err(a, e) {
            GeoError::Write { hint, .. } => hint,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hints_appear_only_where_they_apply() {
        let lb = Action::PatchLb {
            id: "l".into(),
            name: "app.example.com".into(),
            patch: LoadBalancerPatch::default(),
        };
        let pool = Action::DeletePool {
            id: "p".into(),
            name: "k8s-pool-x-eu".into(),
        };
        let steering = hint(
            &lb,
            api(
                400,
                1002,
                "steering_policy proximity is not available on this plan",
            ),
        );
        assert!(steering.is_some_and(|h| h.contains("Traffic Steering")));
        // A coordinates error on an LB is not about the add-on.
        assert_eq!(
            hint(
                &lb,
                api(
                    400,
                    1002,
                    "Proximity Load Balancer has pools missing Latitude/Longitude"
                )
            ),
            None
        );
        // The steering hint never lands on a pool write, whatever the text.
        assert_eq!(hint(&pool, api(400, 1002, "steering")), None);
        let perm = hint(&pool, api(403, 10000, "Authentication error"));
        assert!(perm.is_some_and(|h| h.contains("Monitors and Pools Edit")));
        assert_eq!(hint(&pool, api(412, 1005, "referenced")), None);
    }
}
