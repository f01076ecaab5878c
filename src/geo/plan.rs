//! Pure: the geo planner. Desired pools and what Cloudflare holds in, the ordered writes out,
//! each with the state it expects. No I/O.
//!
//! Rules (docs/geo.md): only this deployment's own pools and monitors are written; a load
//! balancer's pool list is the list it has, plus every live cfgeo pool of its hostname, minus
//! this deployment's own leaving pools; so a stale view can add but never remove another
//! cluster's pool. Foreign pools keep their places and are never added. Removal is disable,
//! then out of the LB (unless it is the last pool: then it stays, drained, as a placeholder),
//! then delete. No pass ever deletes a load balancer; only `cfgeo decommission` does.

use std::collections::{BTreeMap, BTreeSet};

use super::desired::{DesiredGeo, DesiredPool, in_zone};
use super::settings::{GeoSettings, MonitorPolicy};
use crate::cloudflare::types::{
    LoadBalancer, LoadBalancerInput, LoadBalancerPatch, Monitor, MonitorInput, Origin, Pool,
    PoolInput, PoolPatch, SteeringPolicy,
};
use crate::model::{Identity, Marker, MarkerState, Weight, normalize_hostname};

pub use crate::model::POOL_PREFIX;

/// Id prefix the full plan gives to objects a step creates.
pub const NEW_ID: &str = "(new)";

/// What Cloudflare holds, read completely (a partial read never reaches the planner).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    /// Every pool of the account.
    pub pools: Vec<Pool>,
    /// Every monitor of the account.
    pub monitors: Vec<Monitor>,
    /// Every LB of the zone.
    pub lbs: Vec<LoadBalancer>,
}

/// One write.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Create the monitor of a pool.
    CreateMonitor {
        /// Name of the pool it is for (monitors have no name; the marker in the description
        /// names the pool).
        pool: String,
        /// The monitor as it is created: the configured settings, the pool's overrides and
        /// its `Host` header.
        input: MonitorInput,
    },
    /// Bring a monitor back to its settings.
    PatchMonitor {
        /// Cloudflare's id of the monitor to write.
        id: String,
        /// Name of the pool it is for.
        pool: String,
        /// The settings it should have, sent whole.
        input: MonitorInput,
    },
    /// Create this cluster's pool.
    CreatePool {
        /// The pool as it is created: name, origins, coordinates, monitor and marker.
        input: PoolInput,
    },
    /// Change managed fields of an own pool.
    PatchPool {
        /// Pool id.
        id: String,
        /// Pool name.
        name: String,
        /// Fields to change.
        patch: PoolPatch,
        /// Human summary.
        summary: String,
    },
    /// Create a load balancer.
    CreateLb {
        /// The load balancer as it is created: every live cfgeo pool of the hostname, in name
        /// order, the first serving one as fallback, and the configured steering, proxying, TTL.
        input: LoadBalancerInput,
    },
    /// Change managed fields of a load balancer.
    PatchLb {
        /// LB id.
        id: String,
        /// Hostname.
        name: String,
        /// Fields to change.
        patch: LoadBalancerPatch,
    },
    /// Delete a load balancer: only `cfgeo decommission` plans this.
    DeleteLb {
        /// LB id.
        id: String,
        /// Hostname.
        name: String,
    },
    /// Delete a retired own pool (the executor checks references first).
    DeletePool {
        /// Pool id.
        id: String,
        /// Pool name.
        name: String,
    },
    /// Delete an own monitor no pool uses.
    DeleteMonitor {
        /// Monitor id.
        id: String,
        /// Pool it served.
        pool: String,
    },
}

impl Action {
    /// A one-line description for logs, Events and `cfgeo plan`.
    pub fn describe(&self) -> String {
        match self {
            Self::CreateMonitor { pool, input } => format!(
                "create monitor for pool {pool} ({} {}{})",
                input.monitor_type.as_deref().unwrap_or("http"),
                input.path.as_deref().unwrap_or("/"),
                host_header(input)
                    .map(|h| format!(", Host {h}"))
                    .unwrap_or_default()
            ),
            Self::PatchMonitor { pool, .. } => format!("update monitor of pool {pool}"),
            Self::CreatePool { input } => format!(
                "create pool {} with origins [{}]",
                input.name,
                origins_text(&input.origins)
            ),
            Self::PatchPool { name, summary, .. } => format!("update pool {name}: {summary}"),
            Self::CreateLb { input } => format!(
                "create load balancer {} ({}, proxied={}) with {} pool(s)",
                input.name,
                input.steering_policy,
                input.proxied,
                input.default_pools.len()
            ),
            Self::PatchLb { name, patch, .. } => {
                let mut parts = Vec::new();
                if let Some(p) = &patch.default_pools {
                    parts.push(format!("default_pools={}", p.len()));
                }
                if patch.fallback_pool.is_some() {
                    parts.push("fallback_pool".into());
                }
                if let Some(s) = &patch.steering_policy {
                    parts.push(format!("steering_policy={s}"));
                }
                if let Some(p) = patch.proxied {
                    parts.push(format!("proxied={p}"));
                }
                format!("update load balancer {name}: {}", parts.join(", "))
            }
            Self::DeleteLb { name, .. } => format!("delete load balancer {name} (decommission)"),
            Self::DeletePool { name, .. } => format!("delete retired pool {name}"),
            Self::DeleteMonitor { pool, .. } => format!("delete monitor of retired pool {pool}"),
        }
    }

    /// True for writes to a shared load balancer.
    pub fn touches_lb(&self) -> bool {
        matches!(
            self,
            Self::CreateLb { .. } | Self::PatchLb { .. } | Self::DeleteLb { .. }
        )
    }

    /// The pool this action is about, if any.
    pub fn pool_name(&self) -> Option<&str> {
        match self {
            Self::CreatePool { input } => Some(&input.name),
            Self::PatchPool { name, .. } | Self::DeletePool { name, .. } => Some(name),
            Self::CreateMonitor { pool, .. }
            | Self::PatchMonitor { pool, .. }
            | Self::DeleteMonitor { pool, .. } => Some(pool),
            _ => None,
        }
    }

    /// The LB hostname this action is about, if any.
    pub fn lb_host(&self) -> Option<&str> {
        match self {
            Self::CreateLb { input } => Some(&input.name),
            Self::PatchLb { name, .. } | Self::DeleteLb { name, .. } => Some(name),
            _ => None,
        }
    }

    /// A short label for metrics: `pool/<name>`, `lb/<host>`.
    pub fn object_label(&self) -> String {
        match (self.pool_name(), self.lb_host()) {
            (Some(p), _) => format!("pool/{p}"),
            (_, Some(h)) => format!("lb/{h}"),
            _ => "other".into(),
        }
    }
}

fn host_header(m: &MonitorInput) -> Option<&str> {
    m.header
        .as_ref()
        .and_then(|h| h.get("Host"))
        .and_then(|v| v.first())
        .map(String::as_str)
}

fn origins_text(origins: &[Origin]) -> String {
    origins
        .iter()
        .map(|o| {
            if o.enabled {
                o.address.clone()
            } else {
                format!("{} (disabled)", o.address)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The state a step expects to find; the executor re-plans instead of writing when it differs.
#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    /// Nothing of that name exists yet.
    Absent,
    /// The object exists with this id.
    Present {
        /// Its id.
        id: String,
    },
    /// The LB holds exactly this list and fallback.
    LbPools {
        /// LB id.
        id: String,
        /// `default_pools` as read.
        default_pools: Vec<String>,
        /// `fallback_pool` as read.
        fallback_pool: String,
    },
    /// No load balancer references the pool.
    Unreferenced {
        /// Pool id.
        id: String,
    },
}

impl Expect {
    /// The expectation as `cfgeo plan` prints it after the step (`expects: ...`), pool ids
    /// replaced by their names from `names` where known.
    pub fn describe(&self, names: &BTreeMap<String, String>) -> String {
        let name = |id: &str| names.get(id).cloned().unwrap_or_else(|| id.to_string());
        match self {
            Self::Absent => "expects: does not exist yet".into(),
            Self::Present { id } => format!("expects: {} as read", name(id)),
            Self::LbPools {
                default_pools,
                fallback_pool,
                ..
            } => format!(
                "expects: pools [{}], fallback {}",
                default_pools
                    .iter()
                    .map(|p| name(p))
                    .collect::<Vec<_>>()
                    .join(", "),
                name(fallback_pool)
            ),
            Self::Unreferenced { .. } => "expects: no load balancer references it".into(),
        }
    }
}

/// The phases of a pass, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Create or fix this deployment's monitors, so new pools can name them.
    Monitors,
    /// Create or fix this deployment's pools (origins, coordinates, monitor), before any load
    /// balancer lists them.
    Pools,
    /// Create load balancers and add or drain pools in their lists; each write is verified by
    /// a fresh read.
    Lbs,
    /// Retired own pools and monitors.
    Deletions,
}

/// One write and the state it expects.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The phase it runs in; the executor re-plans between phases.
    pub phase: Phase,
    /// The write to send.
    pub action: Action,
    /// What the executor must find before sending it; otherwise the step is skipped.
    pub expects: Expect,
}

/// Something the planner refused or could not do; the engine turns it into Events on the
/// Ingresses of the pool, or of every pool of the hostname.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    /// The pool it is about.
    pub pool: Option<String>,
    /// The LB hostname it is about.
    pub host: Option<String>,
    /// The Event reason, PascalCase (e.g. `PoolOwnedElsewhere`, `HostnameOutsideZone`).
    pub reason: &'static str,
    /// What is wrong and what to do.
    pub message: String,
}

/// A plan: the ordered steps, what blocks, and when to come back.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// The writes in the order they must run: monitors, pools, load balancers, deletions.
    pub steps: Vec<Step>,
    /// Seconds until a retiring pool may be deleted, when one waits.
    pub requeue_after: Option<u64>,
    /// Refusals, for logs and Events.
    pub problems: Vec<Problem>,
}

impl Plan {
    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The actions, in order.
    pub fn actions(&self) -> Vec<Action> {
        self.steps.iter().map(|s| s.action.clone()).collect()
    }

    /// The phase of the first step.
    pub fn phase(&self) -> Option<Phase> {
        self.steps.first().map(|s| s.phase)
    }
}

/// The next phase that has work, skipping actions whose description is in `skip` (refused
/// earlier in the pass). Problems of every phase computed are returned.
pub fn next_phase(
    desired: &DesiredGeo,
    obs: &Observed,
    s: &GeoSettings,
    now: u64,
    skip: &BTreeSet<String>,
) -> Plan {
    let v = View::new(obs, s);
    let mut problems = Vec::new();
    let mut requeue_after = None;
    for phase in [Phase::Monitors, Phase::Pools, Phase::Lbs, Phase::Deletions] {
        let steps = match phase {
            Phase::Monitors => plan_monitors(desired, &v, s),
            Phase::Pools => plan_pools(desired, &v, s, now, &mut problems),
            Phase::Lbs => plan_lbs(desired, &v, s, &mut problems),
            Phase::Deletions => plan_deletions(desired, &v, s, now, &mut requeue_after),
        };
        let steps: Vec<Step> = steps
            .into_iter()
            .filter(|st| !skip.contains(&st.action.describe()))
            .collect();
        if !steps.is_empty() {
            problems.sort();
            problems.dedup();
            return Plan {
                steps,
                requeue_after,
                problems,
            };
        }
    }
    problems.sort();
    problems.dedup();
    Plan {
        steps: Vec::new(),
        requeue_after,
        problems,
    }
}

/// The complete plan of a pass: every phase, each planned against the state the earlier steps
/// leave (objects they create get `(new)` ids). This is what `cfgeo plan` and `--dry-run` show.
pub fn plan(desired: &DesiredGeo, obs: &Observed, s: &GeoSettings, now: u64) -> Plan {
    let mut sim = obs.clone();
    let mut out = Plan::default();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    // Each phase only moves state forward, so a handful of rounds always suffices.
    for _ in 0..8 {
        let p = next_phase(desired, &sim, s, now, &seen);
        out.requeue_after = p.requeue_after;
        for pr in p.problems {
            if !out.problems.contains(&pr) {
                out.problems.push(pr);
            }
        }
        if p.steps.is_empty() {
            break;
        }
        for st in p.steps {
            seen.insert(st.action.describe());
            simulate(&mut sim, &st.action);
            out.steps.push(st);
        }
    }
    out
}

/// Folds an action into the observed state the way Cloudflare answers it. Created objects get
/// `(new) <name>` ids.
pub fn simulate(obs: &mut Observed, a: &Action) {
    match a {
        Action::CreateMonitor { input, pool } => {
            let id = format!("{NEW_ID} monitor {pool}");
            obs.monitors.retain(|m| m.id != id);
            obs.monitors.push(monitor_from(id, input));
        }
        Action::PatchMonitor { id, input, .. } => {
            obs.monitors.retain(|m| &m.id != id);
            obs.monitors.push(monitor_from(id.clone(), input));
        }
        Action::CreatePool { input } => obs.pools.push(Pool {
            id: format!("{NEW_ID} pool {}", input.name),
            name: input.name.clone(),
            description: input.description.clone(),
            enabled: input.enabled,
            origins: input.origins.clone(),
            latitude: input.latitude,
            longitude: input.longitude,
            monitor: input.monitor.clone(),
            minimum_origins: input.minimum_origins,
            modified_on: None,
        }),
        Action::PatchPool { id, patch, .. } => {
            if let Some(p) = obs.pools.iter_mut().find(|p| &p.id == id) {
                if let Some(o) = &patch.origins {
                    p.origins = o.clone();
                }
                if let Some(d) = &patch.description {
                    p.description = Some(d.clone());
                }
                if let Some(e) = patch.enabled {
                    p.enabled = e;
                }
                if let Some(l) = patch.latitude {
                    p.latitude = Some(l);
                }
                if let Some(l) = patch.longitude {
                    p.longitude = Some(l);
                }
                if let Some(m) = &patch.monitor {
                    p.monitor = m.clone();
                }
            }
        }
        Action::CreateLb { input } => obs.lbs.push(LoadBalancer {
            id: format!("{NEW_ID} lb {}", input.name),
            name: input.name.clone(),
            default_pools: input.default_pools.clone(),
            fallback_pool: input.fallback_pool.clone(),
            steering_policy: Some(input.steering_policy.clone()),
            proxied: input.proxied,
            ttl: input.ttl,
            enabled: Some(true),
            description: input.description.clone(),
            region_pools: None,
            country_pools: None,
            pop_pools: None,
        }),
        Action::PatchLb { id, patch, .. } => {
            if let Some(lb) = obs.lbs.iter_mut().find(|l| &l.id == id) {
                if let Some(d) = &patch.default_pools {
                    lb.default_pools = d.clone();
                }
                if let Some(f) = &patch.fallback_pool {
                    lb.fallback_pool = f.clone();
                }
                if let Some(s) = &patch.steering_policy {
                    lb.steering_policy = Some(s.clone());
                }
                if let Some(p) = patch.proxied {
                    lb.proxied = p;
                }
            }
        }
        Action::DeleteLb { id, .. } => obs.lbs.retain(|l| &l.id != id),
        Action::DeletePool { id, .. } => obs.pools.retain(|p| &p.id != id),
        Action::DeleteMonitor { id, .. } => obs.monitors.retain(|m| &m.id != id),
    }
}

fn monitor_from(id: String, input: &MonitorInput) -> Monitor {
    Monitor {
        id,
        description: input.description.clone(),
        monitor_type: input.monitor_type.clone(),
        path: input.path.clone(),
        expected_codes: input.expected_codes.clone(),
        interval: input.interval,
        timeout: input.timeout,
        retries: input.retries,
        port: input.port,
        header: input.header.clone(),
        allow_insecure: input.allow_insecure,
        follow_redirects: input.follow_redirects,
        method: input.method.clone(),
    }
}

/// Indexes over the observed state.
struct View<'a> {
    obs: &'a Observed,
    me: Identity,
    /// Canonical (lowest id) pool per name.
    canonical: BTreeMap<&'a str, &'a Pool>,
}

impl<'a> View<'a> {
    fn new(obs: &'a Observed, s: &GeoSettings) -> Self {
        let mut canonical: BTreeMap<&str, &Pool> = BTreeMap::new();
        for p in &obs.pools {
            canonical
                .entry(p.name.as_str())
                .and_modify(|c| {
                    if p.id < c.id {
                        *c = p;
                    }
                })
                .or_insert(p);
        }
        Self {
            obs,
            me: s.identity(),
            canonical,
        }
    }

    fn is_canonical(&self, p: &Pool) -> bool {
        self.canonical
            .get(p.name.as_str())
            .is_some_and(|c| c.id == p.id)
    }

    fn owns_pool(&self, p: &Pool) -> bool {
        Marker::parse(p.description.as_deref()).is_some_and(|m| self.me.owns(&m))
    }

    fn owns_monitor(&self, m: &Monitor) -> bool {
        Marker::parse(m.description.as_deref()).is_some_and(|mk| self.me.owns(&mk))
    }

    fn own_monitor(&self, pool: &str) -> Option<&'a Monitor> {
        self.obs
            .monitors
            .iter()
            .filter(|m| {
                self.owns_monitor(m)
                    && Marker::parse(m.description.as_deref())
                        .is_some_and(|mk| mk.get("pool") == Some(pool))
            })
            .min_by(|a, b| a.id.cmp(&b.id))
    }

    fn pool(&self, id: &str) -> Option<&'a Pool> {
        self.obs.pools.iter().find(|p| p.id == id)
    }
}

/// A pool marked by cfgeo (any owner) for `host`: `Some(leaving)`.
fn cfgeo_member(p: &Pool, host: &str) -> Option<bool> {
    if !p.name.starts_with(POOL_PREFIX) {
        return None;
    }
    let m = Marker::parse(p.description.as_deref())?;
    let h = normalize_hostname(m.lb()?);
    (h == host).then(|| matches!(m.state(), MarkerState::Leaving(_)))
}

fn is_cfgeo(p: &Pool) -> bool {
    crate::model::is_cfgeo_pool(&p.name, p.description.as_deref())
}

fn serving(p: &Pool) -> bool {
    p.serving()
}

fn monitor_input(spec: &MonitorInput, s: &GeoSettings, d: &DesiredPool) -> MonitorInput {
    let mut header = spec.header.clone().unwrap_or_default();
    // An Ingress controller reached by IP routes on Host; without it the probe hits the
    // default backend (404) and every pool looks down.
    header
        .entry("Host".into())
        .or_insert_with(|| vec![d.lb_host.clone()]);
    MonitorInput {
        description: Some(Marker::monitor(&s.identity(), &d.name).render()),
        path: d.monitor.path.clone().or_else(|| spec.path.clone()),
        expected_codes: d
            .monitor
            .expected_codes
            .clone()
            .or_else(|| spec.expected_codes.clone()),
        allow_insecure: d.monitor.allow_insecure.or(spec.allow_insecure),
        header: Some(header),
        ..spec.clone()
    }
}

fn monitor_matches(m: &Monitor, want: &MonitorInput) -> bool {
    fn same<T: PartialEq>(want: &Option<T>, have: &Option<T>) -> bool {
        want.is_none() || want == have
    }
    same(&want.description, &m.description)
        && same(&want.monitor_type, &m.monitor_type)
        && same(&want.path, &m.path)
        && same(&want.expected_codes, &m.expected_codes)
        && same(&want.interval, &m.interval)
        && same(&want.timeout, &m.timeout)
        && same(&want.retries, &m.retries)
        && same(&want.port, &m.port)
        && same(&want.header, &m.header)
        && same(&want.allow_insecure, &m.allow_insecure)
        && same(&want.follow_redirects, &m.follow_redirects)
        && same(&want.method, &m.method)
}

fn plan_monitors(desired: &DesiredGeo, v: &View<'_>, s: &GeoSettings) -> Vec<Step> {
    let MonitorPolicy::Managed(spec) = &s.monitor else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for d in desired.pools.values().filter(|p| !p.hold) {
        // A pool claimed by someone else, or a seed pool that is not adopted, gets no monitor.
        if v.canonical
            .get(d.name.as_str())
            .is_some_and(|p| claimed_elsewhere(p, v) || !unserved_origins(p, d).is_empty())
        {
            continue;
        }
        let want = monitor_input(spec, s, d);
        match v.own_monitor(&d.name) {
            None => out.push(Step {
                phase: Phase::Monitors,
                action: Action::CreateMonitor {
                    pool: d.name.clone(),
                    input: want,
                },
                expects: Expect::Absent,
            }),
            Some(m) if !monitor_matches(m, &want) => out.push(Step {
                phase: Phase::Monitors,
                action: Action::PatchMonitor {
                    id: m.id.clone(),
                    pool: d.name.clone(),
                    input: want,
                },
                expects: Expect::Present { id: m.id.clone() },
            }),
            Some(_) => {}
        }
    }
    out
}

/// Origins of an unmarked (seed) pool that `d` does not serve: adopting it would drop them.
fn unserved_origins<'p>(p: &'p Pool, d: &DesiredPool) -> Vec<&'p str> {
    if Marker::parse(p.description.as_deref()).is_some() {
        return Vec::new();
    }
    p.origins
        .iter()
        .filter(|o| !d.origins.contains_key(&o.address))
        .map(|o| o.address.as_str())
        .collect()
}

/// True when the pool carries a description that is not ours: another owner's marker, or text
/// cfgeo did not write.
fn claimed_elsewhere(p: &Pool, v: &View<'_>) -> bool {
    match Marker::parse(p.description.as_deref()) {
        Some(m) => !v.me.owns(&m),
        None => !p.description.as_deref().unwrap_or("").trim().is_empty(),
    }
}

/// Origin name for a new address; existing origins keep their names.
fn origin_name(address: &str, taken: &BTreeSet<String>) -> String {
    let base: String = address
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let base = format!("origin-{base}");
    let mut name = base.clone();
    let mut n = 2;
    while taken.contains(&name) {
        name = format!("{base}-{n}");
        n += 1;
    }
    name
}

fn wanted_origins(
    want: &BTreeMap<String, bool>,
    existing: &[Origin],
    weight: Weight,
) -> Vec<Origin> {
    let by_addr: BTreeMap<&str, &Origin> =
        existing.iter().map(|o| (o.address.as_str(), o)).collect();
    let mut taken: BTreeSet<String> = want
        .keys()
        .filter_map(|a| by_addr.get(a.as_str()).map(|o| o.name.clone()))
        .collect();
    let mut out: Vec<Origin> = want
        .iter()
        .map(|(addr, enabled)| {
            let name = match by_addr.get(addr.as_str()) {
                Some(o) => o.name.clone(),
                None => {
                    let n = origin_name(addr, &taken);
                    taken.insert(n.clone());
                    n
                }
            };
            Origin {
                name,
                address: addr.clone(),
                enabled: *enabled,
                weight: weight.as_fraction(),
                header: by_addr.get(addr.as_str()).and_then(|o| o.header.clone()),
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn origin_key(o: &[Origin]) -> BTreeMap<String, (bool, u8)> {
    o.iter()
        .map(|o| {
            (
                o.address.to_ascii_lowercase(),
                (o.enabled, Weight::from_fraction(o.weight)),
            )
        })
        .collect()
}

fn coords_differ(a: Option<f64>, b: f64) -> bool {
    a.is_none_or(|a| (a - b).abs() > 1e-9)
}

fn plan_pools(
    desired: &DesiredGeo,
    v: &View<'_>,
    s: &GeoSettings,
    now: u64,
    problems: &mut Vec<Problem>,
) -> Vec<Step> {
    let mut out = Vec::new();
    let me = &v.me;
    for d in desired.pools.values() {
        let existing = v.canonical.get(d.name.as_str()).copied();
        if let Some(p) = existing
            && claimed_elsewhere(p, v)
        {
            let message = match Marker::parse(p.description.as_deref()) {
                Some(m) => format!(
                    "pool {} is owned by {} (owner/region/deployment), not by this deployment ({}); it is left alone. If that deployment is gone for good, clear the pool's description in Cloudflare and cfgeo adopts it; if two deployments serve one cluster, give one of them other Ingresses (cluster-name label or cfgeo.io/lb-hostname)",
                    d.name,
                    m.label(),
                    me.label()
                ),
                None => format!(
                    "pool {} exists with a description cfgeo did not write; it is left alone (clear the description to let cfgeo adopt it)",
                    d.name
                ),
            };
            problems.push(Problem {
                pool: Some(d.name.clone()),
                host: None,
                reason: "PoolOwnedElsewhere",
                message,
            });
            continue;
        }
        if d.hold {
            continue;
        }
        if let Some(p) = existing
            && Marker::parse(p.description.as_deref()).is_none()
        {
            // Adopting a seed pool replaces its origins; one that also holds addresses this
            // cluster does not serve (the seed merged two clusters of one cluster-name) would
            // lose them, so it is left as it is until the operator decides.
            let others = unserved_origins(p, d);
            if !others.is_empty() {
                problems.push(Problem {
                    pool: Some(d.name.clone()),
                    host: None,
                    reason: "SeedPoolHasOtherOrigins",
                    message: format!(
                        "pool {} (left by the seed tool) also holds origins {} that this cluster does not serve; it is not adopted, so nothing is lost. If they belong to another cluster with the same cluster-name, give each cluster its own cluster-name label; if they are stale, replace them in Cloudflare with this cluster's current addresses (a pool cannot be left without origins)",
                        d.name,
                        others.join(", ")
                    ),
                });
                continue;
            }
        }
        let own_monitor = v.own_monitor(&d.name);
        let monitor: Option<Option<String>> = match &s.monitor {
            // Detach only a monitor cfgeo attached; someone else's choice stays.
            MonitorPolicy::None => match existing.and_then(|p| p.monitor.as_deref()) {
                Some(id)
                    if v.obs
                        .monitors
                        .iter()
                        .any(|m| m.id == id && v.owns_monitor(m)) =>
                {
                    Some(None)
                }
                _ => None,
            },
            MonitorPolicy::Existing(id) => Some(Some(id.clone())),
            MonitorPolicy::Managed(_) => match own_monitor {
                Some(m) => Some(Some(m.id.clone())),
                // Created in the monitor phase first; nothing to attach yet.
                None => continue,
            },
        };
        let description = Marker::pool(me, &d.cluster, &d.lb_host).render();
        match existing {
            None => out.push(Step {
                phase: Phase::Pools,
                action: Action::CreatePool {
                    input: PoolInput {
                        name: d.name.clone(),
                        description: Some(description),
                        enabled: true,
                        origins: wanted_origins(&d.origins, &[], s.weight),
                        latitude: Some(s.region.latitude),
                        longitude: Some(s.region.longitude),
                        monitor: monitor.flatten(),
                        minimum_origins: None,
                    },
                },
                expects: Expect::Absent,
            }),
            Some(p) => {
                let mut patch = PoolPatch::default();
                let mut summary = Vec::new();
                let origins = wanted_origins(&d.origins, &p.origins, s.weight);
                if origin_key(&origins) != origin_key(&p.origins) {
                    summary.push(format!("origins [{}]", origins_text(&origins)));
                    patch.origins = Some(origins);
                }
                if coords_differ(p.latitude, s.region.latitude)
                    || coords_differ(p.longitude, s.region.longitude)
                {
                    summary.push(format!(
                        "coordinates {}, {}",
                        s.region.latitude, s.region.longitude
                    ));
                    patch.latitude = Some(s.region.latitude);
                    patch.longitude = Some(s.region.longitude);
                }
                if let Some(m) = monitor
                    && p.monitor != m
                {
                    summary.push(if m.is_some() {
                        "monitor".into()
                    } else {
                        "monitor detached".into()
                    });
                    patch.monitor = Some(m);
                }
                if !p.enabled {
                    summary.push("enabled".into());
                    patch.enabled = Some(true);
                }
                if p.description.as_deref() != Some(description.as_str()) {
                    summary.push("ownership marker".into());
                    patch.description = Some(description);
                }
                if !patch.is_empty() {
                    out.push(Step {
                        phase: Phase::Pools,
                        action: Action::PatchPool {
                            id: p.id.clone(),
                            name: p.name.clone(),
                            patch,
                            summary: summary.join(", "),
                        },
                        expects: Expect::Present { id: p.id.clone() },
                    });
                }
            }
        }
    }
    // Retire own pools that are no longer wanted, and duplicates of wanted ones.
    for p in &v.obs.pools {
        if !v.owns_pool(p) {
            continue;
        }
        let wanted = desired.pools.contains_key(p.name.as_str()) && v.is_canonical(p);
        if wanted {
            continue;
        }
        let m = Marker::parse(p.description.as_deref()).unwrap_or_default();
        if m.state() != MarkerState::Active {
            continue;
        }
        let origins: Vec<Origin> = p
            .origins
            .iter()
            .map(|o| Origin {
                enabled: false,
                ..o.clone()
            })
            .collect();
        out.push(Step {
            phase: Phase::Pools,
            action: Action::PatchPool {
                id: p.id.clone(),
                name: p.name.clone(),
                patch: PoolPatch {
                    origins: Some(origins),
                    description: Some(m.with_state(MarkerState::Leaving(now)).render()),
                    ..Default::default()
                },
                summary: "retiring: origins disabled, leaving every load balancer".into(),
            },
            expects: Expect::Present { id: p.id.clone() },
        });
    }
    out
}

fn references(lb: &LoadBalancer, id: &str) -> bool {
    let in_map = |m: &Option<serde_json::Value>| {
        m.as_ref()
            .is_some_and(|v| v.to_string().contains(&format!("\"{id}\"")))
    };
    lb.default_pools.iter().any(|p| p == id)
        || lb.fallback_pool == id
        || in_map(&lb.region_pools)
        || in_map(&lb.country_pools)
        || in_map(&lb.pop_pools)
}

/// The new list: entries that are not cfgeo pools keep their slots; cfgeo slots are refilled
/// with `members` in name order; extra members are appended.
fn merged_pools(existing: &[String], cfgeo_ids: &BTreeSet<&str>, members: &[&Pool]) -> Vec<String> {
    let mut next = members.iter().map(|p| p.id.clone());
    let mut out: Vec<String> = Vec::new();
    for id in existing {
        if cfgeo_ids.contains(id.as_str()) {
            if let Some(m) = next.next() {
                out.push(m);
            }
        } else if !out.contains(id) {
            out.push(id.clone());
        }
    }
    out.extend(next);
    out
}

fn plan_lbs(
    desired: &DesiredGeo,
    v: &View<'_>,
    s: &GeoSettings,
    problems: &mut Vec<Problem>,
) -> Vec<Step> {
    let desired_hosts = desired.hosts();
    let mut hosts: BTreeSet<String> = desired_hosts.clone();
    for p in &v.obs.pools {
        if v.owns_pool(p)
            && let Some(h) =
                Marker::parse(p.description.as_deref()).and_then(|m| m.lb().map(normalize_hostname))
        {
            hosts.insert(h);
        }
    }
    let cfgeo_ids: BTreeSet<&str> = v
        .obs
        .pools
        .iter()
        .filter(|p| is_cfgeo(p))
        .map(|p| p.id.as_str())
        .collect();
    let mut out = Vec::new();
    for host in hosts {
        if !in_zone(&host, &s.zone_name) {
            problems.push(Problem {
                pool: None,
                host: Some(host.clone()),
                reason: "HostnameOutsideZone",
                message: format!(
                    "load balancer {host} is outside zone {}; not managed",
                    s.zone_name
                ),
            });
            continue;
        }
        let lb = v
            .obs
            .lbs
            .iter()
            .find(|l| normalize_hostname(&l.name) == host);
        let existing: &[String] = lb.map(|l| l.default_pools.as_slice()).unwrap_or(&[]);
        // Own leaving pools go, unless nothing else would be left: then they stay, drained,
        // as the placeholder that keeps the hostname and the LB's settings alive. A later pass
        // (the next resync) takes them out once another pool is present.
        let own_leaving: BTreeSet<&str> = v
            .obs
            .pools
            .iter()
            .filter(|p| v.owns_pool(p) && cfgeo_member(p, &host) == Some(true))
            .map(|p| p.id.as_str())
            .collect();
        let drop_own = existing.iter().any(|id| !own_leaving.contains(id.as_str()))
            || v.canonical.values().any(|p| {
                cfgeo_member(p, &host) == Some(false) && !own_leaving.contains(p.id.as_str())
            });
        // Members: every live cfgeo pool of this host (ours and other clusters': a stale view
        // of the LB is healed, never shrunk), plus cfgeo pools already listed that stay.
        let mut members: Vec<&Pool> = v
            .canonical
            .values()
            .copied()
            .filter(|p| cfgeo_member(p, &host) == Some(false))
            .collect();
        for id in existing {
            if let Some(p) = v.pool(id)
                && cfgeo_ids.contains(p.id.as_str())
                && !members.iter().any(|m| m.id == p.id)
                && !(drop_own && own_leaving.contains(p.id.as_str()))
            {
                members.push(p);
            }
        }
        members.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
        let list = merged_pools(existing, &cfgeo_ids, &members);
        if list.is_empty() {
            continue;
        }
        if s.lb.steering == SteeringPolicy::Proximity {
            let missing: Vec<&str> = list
                .iter()
                .filter_map(|id| v.pool(id))
                .filter(|p| p.latitude.is_none() || p.longitude.is_none())
                .map(|p| p.name.as_str())
                .collect();
            if !missing.is_empty() {
                problems.push(Problem {
                    pool: None,
                    host: Some(host.clone()),
                    reason: "PoolWithoutCoordinates",
                    message: format!(
                        "load balancer {host}: pool(s) {} have no latitude/longitude, and Cloudflare refuses proximity steering with them; the load balancer is not changed until they get coordinates or leave it (the rest of the pass still applies)",
                        missing.join(", ")
                    ),
                });
                continue;
            }
        }
        let first_serving = members
            .iter()
            .filter(|p| list.contains(&p.id))
            .find(|p| serving(p));
        match lb {
            None => {
                // Only a cluster with something to serve creates the LB.
                if !desired_hosts.contains(&host) || !members.iter().any(|p| v.owns_pool(p)) {
                    continue;
                }
                let fallback = first_serving
                    .map(|p| p.id.clone())
                    .unwrap_or(list[0].clone());
                out.push(Step {
                    phase: Phase::Lbs,
                    action: Action::CreateLb {
                        input: LoadBalancerInput {
                            name: host.clone(),
                            default_pools: list,
                            fallback_pool: fallback,
                            steering_policy: s.lb.steering.clone(),
                            proxied: s.lb.proxied,
                            ttl: Some(s.lb.ttl),
                            description: Some("managed-by=cfgeo".into()),
                        },
                    },
                    expects: Expect::Absent,
                });
            }
            Some(lb) => {
                let fallback_foreign =
                    !lb.fallback_pool.is_empty() && !cfgeo_ids.contains(lb.fallback_pool.as_str());
                let fallback = if fallback_foreign {
                    lb.fallback_pool.clone()
                } else if let Some(p) = first_serving {
                    p.id.clone()
                } else if list.contains(&lb.fallback_pool) {
                    lb.fallback_pool.clone()
                } else {
                    list[0].clone()
                };
                let mut patch = LoadBalancerPatch::default();
                if list != lb.default_pools {
                    patch.default_pools = Some(list);
                }
                if fallback != lb.fallback_pool {
                    patch.fallback_pool = Some(fallback);
                }
                if lb.steering_policy.as_ref() != Some(&s.lb.steering) {
                    patch.steering_policy = Some(s.lb.steering.clone());
                }
                if lb.proxied != s.lb.proxied {
                    patch.proxied = Some(s.lb.proxied);
                }
                if !patch.is_empty() {
                    out.push(Step {
                        phase: Phase::Lbs,
                        action: Action::PatchLb {
                            id: lb.id.clone(),
                            name: lb.name.clone(),
                            patch,
                        },
                        expects: Expect::LbPools {
                            id: lb.id.clone(),
                            default_pools: lb.default_pools.clone(),
                            fallback_pool: lb.fallback_pool.clone(),
                        },
                    });
                }
            }
        }
    }
    out
}

fn plan_deletions(
    desired: &DesiredGeo,
    v: &View<'_>,
    s: &GeoSettings,
    now: u64,
    requeue: &mut Option<u64>,
) -> Vec<Step> {
    let mut out = Vec::new();
    let mut deleting: BTreeSet<&str> = BTreeSet::new();
    let mut wait = |w: u64| *requeue = Some(requeue.map_or(w, |r| r.min(w)));
    for p in &v.obs.pools {
        if !v.owns_pool(p) {
            continue;
        }
        let Some(m) = Marker::parse(p.description.as_deref()) else {
            continue;
        };
        let MarkerState::Leaving(since) = m.state() else {
            continue;
        };
        let due = since.saturating_add(s.removal_delay_secs);
        if now < due {
            wait(due - now);
            continue;
        }
        if v.obs.lbs.iter().any(|lb| references(lb, &p.id)) {
            continue;
        }
        deleting.insert(p.id.as_str());
        out.push(Step {
            phase: Phase::Deletions,
            action: Action::DeletePool {
                id: p.id.clone(),
                name: p.name.clone(),
            },
            expects: Expect::Unreferenced { id: p.id.clone() },
        });
    }
    for m in &v.obs.monitors {
        if !v.owns_monitor(m) {
            continue;
        }
        let pool = Marker::parse(m.description.as_deref())
            .and_then(|mk| mk.get("pool").map(str::to_string))
            .unwrap_or_default();
        let wanted = matches!(s.monitor, MonitorPolicy::Managed(_))
            && desired
                .pools
                .get(&pool)
                .is_some_and(|d| !d.hold || v.canonical.contains_key(pool.as_str()));
        let used = v.obs.pools.iter().any(|p| {
            p.monitor.as_deref() == Some(m.id.as_str()) && !deleting.contains(p.id.as_str())
        });
        if !wanted && !used {
            out.push(Step {
                phase: Phase::Deletions,
                action: Action::DeleteMonitor {
                    id: m.id.clone(),
                    pool,
                },
                expects: Expect::Present { id: m.id.clone() },
            });
        }
    }
    out
}

/// Why `cfgeo decommission` refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecommissionError {
    /// The hostname has no load balancer.
    #[error("no load balancer named {0} in the zone")]
    NoLb(String),
    /// Other clusters still serve it.
    #[error(
        "load balancer {host} still lists pools of other deployments that serve traffic: {pools}; drain or remove them first, or pass --force"
    )]
    OthersServing {
        /// Hostname.
        host: String,
        /// Their names.
        pools: String,
    },
}

/// The writes of an explicit decommission of `host`: the LB, then this deployment's pools and
/// monitors for it. Refuses while other deployments' pools in it still serve, unless `force`.
pub fn plan_decommission(
    obs: &Observed,
    s: &GeoSettings,
    host: &str,
    force: bool,
) -> Result<Vec<Action>, DecommissionError> {
    let v = View::new(obs, s);
    let host = normalize_hostname(host);
    let lb = obs
        .lbs
        .iter()
        .find(|l| normalize_hostname(&l.name) == host)
        .ok_or_else(|| DecommissionError::NoLb(host.clone()))?;
    let serving_others: Vec<&str> = lb
        .default_pools
        .iter()
        .filter_map(|id| v.pool(id))
        .filter(|p| !v.owns_pool(p) && serving(p))
        .map(|p| p.name.as_str())
        .collect();
    if !force && !serving_others.is_empty() {
        return Err(DecommissionError::OthersServing {
            host,
            pools: serving_others.join(", "),
        });
    }
    let mut out = vec![Action::DeleteLb {
        id: lb.id.clone(),
        name: lb.name.clone(),
    }];
    let mut own_pools = BTreeSet::new();
    for p in &obs.pools {
        if v.owns_pool(p) && cfgeo_member(p, &host).is_some() {
            own_pools.insert(p.id.clone());
            out.push(Action::DeletePool {
                id: p.id.clone(),
                name: p.name.clone(),
            });
        }
    }
    for m in &obs.monitors {
        let used_elsewhere = obs
            .pools
            .iter()
            .any(|p| p.monitor.as_deref() == Some(&m.id) && !own_pools.contains(&p.id));
        let serves_ours = obs
            .pools
            .iter()
            .any(|p| p.monitor.as_deref() == Some(&m.id) && own_pools.contains(&p.id));
        if v.owns_monitor(m) && serves_ours && !used_elsewhere {
            out.push(Action::DeleteMonitor {
                id: m.id.clone(),
                pool: Marker::parse(m.description.as_deref())
                    .and_then(|mk| mk.get("pool").map(str::to_string))
                    .unwrap_or_default(),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
