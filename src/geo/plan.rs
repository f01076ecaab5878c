//! Pure: the geo planner. Desired pools and what Cloudflare holds in, the smallest ordered set
//! of writes out. No I/O.
//!
//! Rules (shared/design.md): only this deployment's own pools and monitors are written; a load
//! balancer's pool list is a deterministic function of the pool listing, so clusters writing at
//! the same time write the same value; only managed fields are PATCHed; foreign pools keep
//! their place; removal is disable, then out of every LB, then delete; the last pool leaving
//! deletes its LB.

use std::collections::{BTreeMap, BTreeSet};

use super::desired::{DesiredGeo, in_zone};
use super::settings::{GeoSettings, MonitorPolicy};
use crate::cloudflare::types::{
    LoadBalancer, LoadBalancerInput, LoadBalancerPatch, Monitor, MonitorInput, Origin, Pool,
    PoolInput, PoolPatch,
};
use crate::model::{Marker, MarkerState, Weight, normalize_hostname};

/// Prefix of every pool the geo engine manages (the seed tool's naming).
pub const POOL_PREFIX: &str = "k8s-pool-";

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
        /// Pool it serves.
        pool: String,
        /// Body.
        input: MonitorInput,
    },
    /// Bring a monitor back to its settings.
    PatchMonitor {
        /// Monitor id.
        id: String,
        /// Pool it serves.
        pool: String,
        /// Body.
        input: MonitorInput,
    },
    /// Create this cluster's pool.
    CreatePool {
        /// Body.
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
        /// Body.
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
    /// Delete a load balancer left with no pool.
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
                "create monitor for pool {pool} ({} {})",
                input.monitor_type.as_deref().unwrap_or("http"),
                input.path.as_deref().unwrap_or("/")
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
            Self::DeleteLb { name, .. } => format!("delete load balancer {name} (no pool left)"),
            Self::DeletePool { name, .. } => format!("delete retired pool {name}"),
            Self::DeleteMonitor { pool, .. } => format!("delete monitor of retired pool {pool}"),
        }
    }

    /// True for writes to the shared load balancer.
    pub fn touches_lb(&self) -> bool {
        matches!(
            self,
            Self::CreateLb { .. } | Self::PatchLb { .. } | Self::DeleteLb { .. }
        )
    }
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

/// The writes of one phase; the caller applies them, folds the answers into [`Observed`] and
/// plans again until nothing is left.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// Writes, in order.
    pub actions: Vec<Action>,
    /// Seconds until a retiring pool may be deleted, when one waits.
    pub requeue_after: Option<u64>,
    /// Things the planner refused to do, for logs and Events.
    pub warnings: Vec<String>,
}

impl Plan {
    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }
}

/// Plans the next phase: monitors, then own pools, then load balancers, then deletions.
/// Later phases wait for earlier ones because they depend on ids and on the pool listing.
pub fn plan(desired: &DesiredGeo, obs: &Observed, s: &GeoSettings, now: u64) -> Plan {
    let mut warnings = Vec::new();
    let v = View::new(obs);
    for phase in [plan_monitors, plan_pools, plan_lbs] {
        let actions = phase(desired, &v, s, now, &mut warnings);
        if !actions.is_empty() {
            return Plan {
                actions,
                requeue_after: None,
                warnings,
            };
        }
    }
    let (actions, requeue_after) = plan_deletions(desired, &v, s, now);
    Plan {
        actions,
        requeue_after,
        warnings,
    }
}

/// Indexes over the observed state.
struct View<'a> {
    obs: &'a Observed,
    /// Canonical (lowest id) pool per name.
    canonical: BTreeMap<&'a str, &'a Pool>,
}

impl<'a> View<'a> {
    fn new(obs: &'a Observed) -> Self {
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
        Self { obs, canonical }
    }

    fn is_canonical(&self, p: &Pool) -> bool {
        self.canonical
            .get(p.name.as_str())
            .is_some_and(|c| c.id == p.id)
    }

    fn own_monitor(&self, s: &GeoSettings, pool: &str) -> Option<&'a Monitor> {
        self.obs
            .monitors
            .iter()
            .filter(|m| {
                Marker::parse(m.description.as_deref()).is_some_and(|mk| {
                    mk.owner() == Some(&s.owner_id) && mk.get("pool") == Some(pool)
                })
            })
            .min_by(|a, b| a.id.cmp(&b.id))
    }
}

/// Pools that belong in an LB's list: named `k8s-pool-*`, and either marked by cfgeo (any
/// owner) or left unmarked by the seed tool.
fn lb_member_host(p: &Pool, s: &GeoSettings) -> Option<(String, bool)> {
    if !p.name.starts_with(POOL_PREFIX) {
        return None;
    }
    match Marker::parse(p.description.as_deref()) {
        Some(m) => Some((
            normalize_hostname(m.lb().unwrap_or(&s.default_lb_host)),
            matches!(m.state(), MarkerState::Leaving(_)),
        )),
        None if p.description.as_deref().unwrap_or("").trim().is_empty() => {
            Some((s.default_lb_host.clone(), false))
        }
        None => None,
    }
}

fn owned_by_us(p: &Pool, s: &GeoSettings) -> bool {
    Marker::parse(p.description.as_deref()).is_some_and(|m| m.owner() == Some(&s.owner_id))
}

fn monitor_input(spec: &MonitorInput, s: &GeoSettings, pool: &str) -> MonitorInput {
    MonitorInput {
        description: Some(Marker::monitor(&s.owner_id, pool).render()),
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
}

fn plan_monitors(
    desired: &DesiredGeo,
    v: &View<'_>,
    s: &GeoSettings,
    _now: u64,
    _w: &mut Vec<String>,
) -> Vec<Action> {
    let MonitorPolicy::Managed(spec) = &s.monitor else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for p in desired.pools.values().filter(|p| !p.hold) {
        let want = monitor_input(spec, s, &p.name);
        match v.own_monitor(s, &p.name) {
            None => out.push(Action::CreateMonitor {
                pool: p.name.clone(),
                input: want,
            }),
            Some(m) if !monitor_matches(m, &want) => out.push(Action::PatchMonitor {
                id: m.id.clone(),
                pool: p.name.clone(),
                input: want,
            }),
            Some(_) => {}
        }
    }
    out
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
    warnings: &mut Vec<String>,
) -> Vec<Action> {
    let mut out = Vec::new();
    for d in desired.pools.values() {
        let existing = v.canonical.get(d.name.as_str()).copied();
        if let Some(p) = existing {
            let marker = Marker::parse(p.description.as_deref());
            if let Some(m) = &marker
                && m.owner() != Some(&s.owner_id)
            {
                warnings.push(format!(
                    "pool {} belongs to owner {:?}, not {:?}; it is left alone (two deployments share a cluster-name and region?)",
                    d.name,
                    m.owner().unwrap_or(""),
                    s.owner_id
                ));
                continue;
            }
            if marker.is_none() && !p.description.as_deref().unwrap_or("").trim().is_empty() {
                warnings.push(format!(
                    "pool {} exists with a description cfgeo did not write; it is left alone",
                    d.name
                ));
                continue;
            }
        }
        if d.hold {
            continue;
        }
        let monitor = match &s.monitor {
            MonitorPolicy::None => None,
            MonitorPolicy::Existing(id) => Some(id.clone()),
            MonitorPolicy::Managed(_) => match v.own_monitor(s, &d.name) {
                Some(m) => Some(m.id.clone()),
                // Created in the monitor phase first; nothing to attach yet.
                None => continue,
            },
        };
        let description =
            Marker::pool(&s.owner_id, &d.cluster, &s.region.name, &d.lb_host).render();
        match existing {
            None => out.push(Action::CreatePool {
                input: PoolInput {
                    name: d.name.clone(),
                    description: Some(description),
                    enabled: true,
                    origins: wanted_origins(&d.origins, &[], s.weight),
                    latitude: Some(s.region.latitude),
                    longitude: Some(s.region.longitude),
                    monitor,
                    minimum_origins: None,
                },
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
                if monitor.is_some() && p.monitor != monitor {
                    summary.push("monitor".into());
                    patch.monitor = Some(monitor);
                }
                if p.description.as_deref() != Some(description.as_str()) {
                    summary.push("ownership marker".into());
                    patch.description = Some(description);
                }
                if !patch.is_empty() {
                    out.push(Action::PatchPool {
                        id: p.id.clone(),
                        name: p.name.clone(),
                        patch,
                        summary: summary.join(", "),
                    });
                }
            }
        }
    }
    // Retire own pools that are no longer wanted, and duplicates of wanted ones.
    for p in &v.obs.pools {
        if !owned_by_us(p, s) {
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
        out.push(Action::PatchPool {
            id: p.id.clone(),
            name: p.name.clone(),
            patch: PoolPatch {
                origins: Some(origins),
                description: Some(m.with_state(MarkerState::Leaving(now)).render()),
                ..Default::default()
            },
            summary: "retiring: origins disabled, leaving every load balancer".into(),
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

/// The LB list for `host`: foreign entries keep their slots, managed slots are refilled with
/// the managed pools in name order, extra managed pools are appended.
fn merged_pools(
    existing: &[String],
    managed_universe: &BTreeSet<&str>,
    members: &[&Pool],
) -> Vec<String> {
    let mut next = members.iter().map(|p| p.id.clone());
    let mut out = Vec::new();
    for id in existing {
        if managed_universe.contains(id.as_str()) {
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
    _now: u64,
    warnings: &mut Vec<String>,
) -> Vec<Action> {
    let desired_hosts = desired.hosts();
    let mut hosts: BTreeSet<String> = desired_hosts.clone();
    for p in &v.obs.pools {
        if owned_by_us(p, s)
            && let Some((h, _)) = lb_member_host(p, s)
        {
            hosts.insert(h);
        }
    }
    let managed_universe: BTreeSet<&str> = v
        .obs
        .pools
        .iter()
        .filter(|p| lb_member_host(p, s).is_some())
        .map(|p| p.id.as_str())
        .collect();
    let mut out = Vec::new();
    for host in hosts {
        if !in_zone(&host, &s.zone_name) {
            warnings.push(format!(
                "load balancer {host} is outside zone {}; not managed",
                s.zone_name
            ));
            continue;
        }
        let mut members: Vec<&Pool> = v
            .canonical
            .values()
            .copied()
            .filter(|p| lb_member_host(p, s).is_some_and(|(h, leaving)| h == host && !leaving))
            .collect();
        members.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
        let serving = |p: &&&Pool| p.enabled && p.origins.iter().any(|o| o.enabled);
        let lb = v
            .obs
            .lbs
            .iter()
            .find(|l| normalize_hostname(&l.name) == host);
        match lb {
            None => {
                if members.is_empty() || !desired_hosts.contains(&host) {
                    continue;
                }
                let fallback = members.iter().find(serving).unwrap_or(&members[0]);
                out.push(Action::CreateLb {
                    input: LoadBalancerInput {
                        name: host.clone(),
                        default_pools: members.iter().map(|p| p.id.clone()).collect(),
                        fallback_pool: fallback.id.clone(),
                        steering_policy: s.lb.steering.clone(),
                        proxied: s.lb.proxied,
                        ttl: Some(s.lb.ttl),
                        description: Some("managed-by=cfgeo".into()),
                    },
                });
            }
            Some(lb) => {
                let defaults = merged_pools(&lb.default_pools, &managed_universe, &members);
                if defaults.is_empty() {
                    out.push(Action::DeleteLb {
                        id: lb.id.clone(),
                        name: lb.name.clone(),
                    });
                    continue;
                }
                let fallback_is_foreign = !lb.fallback_pool.is_empty()
                    && !managed_universe.contains(lb.fallback_pool.as_str());
                let fallback = if fallback_is_foreign {
                    lb.fallback_pool.clone()
                } else if let Some(p) = members.iter().find(serving).or(members.first()) {
                    p.id.clone()
                } else {
                    defaults[0].clone()
                };
                let mut patch = LoadBalancerPatch::default();
                if defaults != lb.default_pools {
                    patch.default_pools = Some(defaults);
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
                    out.push(Action::PatchLb {
                        id: lb.id.clone(),
                        name: lb.name.clone(),
                        patch,
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
) -> (Vec<Action>, Option<u64>) {
    let mut out = Vec::new();
    let mut requeue: Option<u64> = None;
    let mut deleting: BTreeSet<&str> = BTreeSet::new();
    for p in &v.obs.pools {
        if !owned_by_us(p, s) {
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
            let wait = due - now;
            requeue = Some(requeue.map_or(wait, |r| r.min(wait)));
            continue;
        }
        if v.obs.lbs.iter().any(|lb| references(lb, &p.id)) {
            continue;
        }
        deleting.insert(p.id.as_str());
        out.push(Action::DeletePool {
            id: p.id.clone(),
            name: p.name.clone(),
        });
    }
    for m in &v.obs.monitors {
        let Some(mk) = Marker::parse(m.description.as_deref()) else {
            continue;
        };
        if mk.owner() != Some(&s.owner_id) {
            continue;
        }
        let pool = mk.get("pool").unwrap_or("");
        let wanted = matches!(s.monitor, MonitorPolicy::Managed(_))
            && desired
                .pools
                .get(pool)
                .is_some_and(|d| !d.hold || v.canonical.contains_key(pool));
        let used = v.obs.pools.iter().any(|p| {
            p.monitor.as_deref() == Some(m.id.as_str()) && !deleting.contains(p.id.as_str())
        });
        if !wanted && !used {
            out.push(Action::DeleteMonitor {
                id: m.id.clone(),
                pool: pool.to_string(),
            });
        }
    }
    (out, requeue)
}

#[cfg(test)]
mod tests;
