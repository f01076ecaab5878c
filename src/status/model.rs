//! Pure: the status model. Pools, load balancers and pool health as read from Cloudflare in;
//! for each load-balancer hostname that has cfgeo pools, its settings and one row per pool out.
//!
//! Ownership, drained and leaving come from the same definitions the geo planner uses: a pool
//! is cfgeo's when its name has the `k8s-pool-` prefix and its description a `managed-by=cfgeo`
//! marker ([`crate::model::is_cfgeo_pool`]); it is leaving when the marker says
//! `state=leaving`; drained when it cannot serve (pool disabled or every origin disabled,
//! [`Pool::serving`]). Any other pool is foreign.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::cloudflare::types::{LoadBalancer, Pool, PoolHealth};
use crate::model::{Marker, MarkerState, is_cfgeo_pool, normalize_hostname};

fn is_cfgeo(p: &Pool) -> bool {
    is_cfgeo_pool(&p.name, p.description.as_deref())
}

/// What a pool is doing in its load balancer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PoolState {
    /// A cfgeo pool that can take traffic.
    Serving,
    /// A cfgeo pool kept in place with its origins (or itself) disabled: it takes no traffic.
    Drained,
    /// A cfgeo pool on its way out (marker `state=leaving`): disabled, then removed, then
    /// deleted.
    Leaving,
    /// A pool cfgeo does not manage (made by hand or another tool); never written by cfgeo.
    Foreign,
}

impl PoolState {
    /// The word used in every rendering.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Serving => "serving",
            Self::Drained => "drained",
            Self::Leaving => "leaving",
            Self::Foreign => "foreign",
        }
    }
}

/// A pool's health, summarised over the PoPs that report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// Healthy from every PoP that reports.
    Healthy,
    /// Healthy from some PoPs, not from others.
    Degraded,
    /// Unhealthy from every PoP that reports.
    Unhealthy,
    /// Nothing reported (no monitor, or not probed yet), or the health could not be read.
    Unknown,
}

impl Health {
    /// The word used in every rendering.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Degraded => "degraded",
            Self::Unhealthy => "unhealthy",
            Self::Unknown => "unknown",
        }
    }
}

/// A part of some land and the pool that gets it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Share {
    /// Name of the pool that would get the land; empty when no pool could (label `nowhere`).
    pub pool: String,
    /// The pool's short label (its region, see [`PoolStatus::label`]).
    pub label: String,
    /// Fraction (0..1) of the land the pool of the row serves now, not of the whole world.
    pub share: f64,
}

/// One pool of a load balancer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PoolStatus {
    /// Cloudflare's id of the pool (32 hex), what the load balancer's lists refer to.
    pub id: String,
    /// The pool's name in Cloudflare; a cfgeo pool's is `k8s-pool-{cluster}-{region}`, plus
    /// `-{hostname}` for a hostname other than the default (`model::pool_name`).
    pub name: String,
    /// Short label: the region; `region/cluster` when two pools of the load balancer share a
    /// region; the pool name for a foreign pool.
    pub label: String,
    /// Region from the marker (`GEO_LOCATION` of the deployment that owns it).
    pub region: Option<String>,
    /// Cluster name from the marker.
    pub cluster: Option<String>,
    /// Owner id from the marker.
    pub owner: Option<String>,
    /// Latitude the pool advertises to proximity steering.
    pub latitude: Option<f64>,
    /// Longitude the pool advertises; proximity steering needs both, `None` when unset.
    pub longitude: Option<f64>,
    /// The pool's own enabled flag.
    pub enabled: bool,
    /// Addresses of enabled origins.
    pub enabled_origins: Vec<String>,
    /// Addresses of disabled origins.
    pub disabled_origins: Vec<String>,
    /// What it is doing.
    pub state: PoolState,
    /// Unix time the pool started leaving, when it is leaving.
    pub leaving_since: Option<u64>,
    /// Health from Cloudflare's pool health endpoint.
    pub health: Health,
    /// The health in words (PoPs, or why it is unknown).
    pub health_detail: String,
    /// Listed in the load balancer's `default_pools`.
    pub listed: bool,
    /// The load balancer's fallback pool.
    pub fallback: bool,
    /// Share of the world's land (Antarctica left out) proximity steering sends here now.
    pub land_share: f64,
    /// Where that land would go if this pool stopped serving, largest share first.
    pub if_down: Vec<Share>,
}

impl PoolStatus {
    /// Coordinates, when the pool has both.
    pub fn coordinates(&self) -> Option<(f64, f64)> {
        Some((self.latitude?, self.longitude?))
    }
}

/// One load-balancer hostname with cfgeo pools.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LbStatus {
    /// The load balancer's DNS name (`CF_LB_HOSTNAME`, or a per-Ingress hostname).
    pub hostname: String,
    /// Load balancer id; `None` when cfgeo pools name this hostname but no load balancer exists.
    pub id: Option<String>,
    /// Steering policy as read (`proximity`...).
    pub steering_policy: Option<String>,
    /// Whether Cloudflare proxies the hostname (orange cloud); `None` when no load balancer
    /// exists.
    pub proxied: Option<bool>,
    /// Name of the fallback pool (its id when the pool is not in the listing).
    pub fallback_pool: Option<String>,
    /// True when no pool can take traffic: every user goes to the fallback pool.
    pub fallback_only: bool,
    /// Pools in failover order (`default_pools`), then the fallback when it is not listed,
    /// then cfgeo pools of this hostname that are not listed (joining or leaving), by name.
    pub pools: Vec<PoolStatus>,
}

/// The status of a zone's cfgeo load balancers at one time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    /// The zone's apex name (e.g. `example.com`), as Cloudflare returned it.
    pub zone: String,
    /// When the data was read (RFC 3339, UTC, whole seconds).
    pub read_at: String,
    /// Load balancers by hostname.
    pub load_balancers: Vec<LbStatus>,
}

/// What one read of Cloudflare returned.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    /// The zone's apex name; copied into [`Status::zone`].
    pub zone: &'a str,
    /// Every pool of the account.
    pub pools: &'a [Pool],
    /// Every load balancer of the zone.
    pub lbs: &'a [LoadBalancer],
    /// Health by pool id, or why it could not be read.
    pub health: &'a BTreeMap<String, Result<PoolHealth, String>>,
    /// Only this hostname, when set.
    pub only_host: Option<&'a str>,
    /// When it was read.
    pub read_at: jiff::Timestamp,
}

/// One hostname and the pools of its rows, before health is known.
struct Layout<'a> {
    host: String,
    lb: Option<&'a LoadBalancer>,
    rows: Vec<&'a Pool>,
}

fn marker_host(p: &Pool) -> Option<String> {
    if !is_cfgeo(p) {
        return None;
    }
    let m = Marker::parse(p.description.as_deref())?;
    Some(normalize_hostname(m.lb()?))
}

fn layouts<'a>(
    pools: &'a [Pool],
    lbs: &'a [LoadBalancer],
    only_host: Option<&str>,
) -> Vec<Layout<'a>> {
    let by_id: BTreeMap<&str, &Pool> = pools.iter().map(|p| (p.id.as_str(), p)).collect();
    let mut by_host: BTreeMap<String, Vec<&Pool>> = BTreeMap::new();
    for p in pools {
        if let Some(h) = marker_host(p) {
            by_host.entry(h).or_default().push(p);
        }
    }
    let only = only_host.map(normalize_hostname);
    let mut hosts: BTreeSet<String> = by_host.keys().cloned().collect();
    let mut lb_of: BTreeMap<String, &LoadBalancer> = BTreeMap::new();
    for lb in lbs {
        let host = normalize_hostname(&lb.name);
        let refs_cfgeo = lb
            .default_pools
            .iter()
            .chain(std::iter::once(&lb.fallback_pool))
            .filter_map(|id| by_id.get(id.as_str()))
            .any(|p| is_cfgeo(p));
        if refs_cfgeo || hosts.contains(&host) {
            hosts.insert(host.clone());
            lb_of.insert(host, lb);
        }
    }
    hosts
        .into_iter()
        .filter(|h| only.as_ref().is_none_or(|o| o == h))
        .map(|host| {
            let lb = lb_of.get(&host).copied();
            let mut rows: Vec<&Pool> = Vec::new();
            let mut seen: BTreeSet<&str> = BTreeSet::new();
            let mut push = |p: &'a Pool, rows: &mut Vec<&'a Pool>| {
                if seen.insert(p.id.as_str()) {
                    rows.push(p);
                }
            };
            if let Some(lb) = lb {
                for id in lb
                    .default_pools
                    .iter()
                    .chain(std::iter::once(&lb.fallback_pool))
                {
                    if let Some(p) = by_id.get(id.as_str()) {
                        push(p, &mut rows);
                    }
                }
            }
            let mut rest = by_host.get(&host).cloned().unwrap_or_default();
            rest.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
            for p in rest {
                push(p, &mut rows);
            }
            Layout { host, lb, rows }
        })
        .collect()
}

/// The pool ids whose health the status needs: every row of every load balancer shown.
pub fn health_needed(
    pools: &[Pool],
    lbs: &[LoadBalancer],
    only_host: Option<&str>,
) -> BTreeSet<String> {
    layouts(pools, lbs, only_host)
        .iter()
        .flat_map(|l| l.rows.iter().map(|p| p.id.clone()))
        .collect()
}

/// Summarises the health endpoint's answer (or why it could not be read).
pub fn health_of(read: Option<&Result<PoolHealth, String>>) -> (Health, String) {
    let h = match read {
        None => return (Health::Unknown, "not read".into()),
        Some(Err(e)) => return (Health::Unknown, format!("not read: {e}")),
        Some(Ok(h)) => h,
    };
    let total = h.pop_health.len();
    let up = h
        .pop_health
        .values()
        .filter(|p| p.healthy == Some(true))
        .count();
    let down = h
        .pop_health
        .values()
        .filter(|p| p.healthy == Some(false))
        .count();
    let pops = |n: usize| if n == 1 { "PoP" } else { "PoPs" };
    match (up, down) {
        (0, 0) => (
            Health::Unknown,
            "no PoP reports it (no monitor, or not probed yet)".into(),
        ),
        (u, 0) => (Health::Healthy, format!("healthy from {u} {}", pops(u))),
        (0, d) => {
            // The first failure reason an origin gives, so the operator sees why.
            let why = h
                .pop_health
                .values()
                .flat_map(|p| p.origins.iter().flat_map(|o| o.values()))
                .find_map(|o| {
                    o.failure_reason
                        .as_deref()
                        .filter(|r| o.healthy == Some(false) && !r.is_empty())
                });
            let mut s = format!("unhealthy from {d} {}", pops(d));
            if let Some(w) = why {
                s.push_str(": ");
                s.push_str(w);
            }
            (Health::Unhealthy, s)
        }
        (u, _) => (
            Health::Degraded,
            format!("healthy from {u} of {total} PoPs"),
        ),
    }
}

fn pool_status(p: &Pool, lb: Option<&LoadBalancer>, obs: &Observed<'_>) -> PoolStatus {
    let marker = is_cfgeo(p)
        .then(|| Marker::parse(p.description.as_deref()))
        .flatten();
    let (state, leaving_since) = match &marker {
        None => (PoolState::Foreign, None),
        Some(m) => match m.state() {
            MarkerState::Leaving(t) => (PoolState::Leaving, Some(t)),
            MarkerState::Active if !p.serving() => (PoolState::Drained, None),
            MarkerState::Active => (PoolState::Serving, None),
        },
    };
    let field = |k: &str| marker.as_ref().and_then(|m| m.get(k)).map(String::from);
    let (health, health_detail) = health_of(obs.health.get(&p.id));
    PoolStatus {
        id: p.id.clone(),
        name: p.name.clone(),
        label: String::new(),
        region: field("geo"),
        cluster: field("cluster"),
        owner: field("owner"),
        latitude: p.latitude,
        longitude: p.longitude,
        enabled: p.enabled,
        enabled_origins: p
            .origins
            .iter()
            .filter(|o| o.enabled)
            .map(|o| o.address.clone())
            .collect(),
        disabled_origins: p
            .origins
            .iter()
            .filter(|o| !o.enabled)
            .map(|o| o.address.clone())
            .collect(),
        state,
        leaving_since,
        health,
        health_detail,
        listed: lb.is_some_and(|l| l.default_pools.contains(&p.id)),
        fallback: lb.is_some_and(|l| l.fallback_pool == p.id),
        land_share: 0.0,
        if_down: Vec::new(),
    }
}

/// Short labels: the region, unless two rows share it.
fn label_rows(rows: &mut [PoolStatus]) {
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for r in rows.iter() {
        if let Some(g) = &r.region {
            *count.entry(g.clone()).or_default() += 1;
        }
    }
    for r in rows.iter_mut() {
        r.label = match (&r.region, &r.cluster) {
            (Some(g), Some(c)) if count[g] > 1 => format!("{g}/{c}"),
            (Some(g), _) => g.clone(),
            (None, _) => r.name.clone(),
        };
    }
}

/// The status of every load-balancer hostname with cfgeo pools, with the steering shares
/// filled in ([`crate::status::shade::annotate`]).
pub fn build(obs: &Observed<'_>) -> Status {
    let names: BTreeMap<&str, &str> = obs
        .pools
        .iter()
        .map(|p| (p.id.as_str(), p.name.as_str()))
        .collect();
    let load_balancers = layouts(obs.pools, obs.lbs, obs.only_host)
        .into_iter()
        .map(|l| {
            let mut pools: Vec<PoolStatus> =
                l.rows.iter().map(|p| pool_status(p, l.lb, obs)).collect();
            label_rows(&mut pools);
            let mut lb = LbStatus {
                hostname: l.host,
                id: l.lb.map(|x| x.id.clone()),
                steering_policy: l
                    .lb
                    .and_then(|x| x.steering_policy.as_ref())
                    .map(|s| s.to_string()),
                proxied: l.lb.map(|x| x.proxied),
                fallback_pool: l.lb.map(|x| {
                    names
                        .get(x.fallback_pool.as_str())
                        .map(|n| n.to_string())
                        .unwrap_or_else(|| x.fallback_pool.clone())
                }),
                fallback_only: false,
                pools,
            };
            super::shade::annotate(&mut lb);
            lb
        })
        .collect();
    Status {
        zone: obs.zone.to_string(),
        read_at: format_time(obs.read_at),
        load_balancers,
    }
}

/// RFC 3339 in UTC, whole seconds: `2026-01-02T03:04:05Z`.
pub fn format_time(t: jiff::Timestamp) -> String {
    jiff::Timestamp::from_second(t.as_second())
        .unwrap_or(t)
        .to_string()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::cloudflare::types::{Origin, PopHealth, SteeringPolicy};
    use crate::model::{Identity, Region};

    /// A cfgeo pool for `region` (built-in coordinates) of cluster `c1-<region>`.
    pub(crate) fn pool(region: &str, origins: &[(&str, bool)]) -> Pool {
        let r = Region::resolve(region, None, None).expect("a built-in region");
        custom_pool(region, r.latitude, r.longitude, origins)
    }

    pub(crate) fn custom_pool(region: &str, lat: f64, lon: f64, origins: &[(&str, bool)]) -> Pool {
        let id = Identity {
            owner: format!("owner-{region}"),
            geo: region.into(),
            deploy: "app.example.com".into(),
        };
        let cluster = format!("c1-{region}");
        Pool {
            id: format!("id-{region}"),
            name: format!("k8s-pool-{cluster}-{region}"),
            description: Some(Marker::pool(&id, &cluster, "app.example.com").render()),
            enabled: true,
            origins: origins
                .iter()
                .map(|(a, e)| Origin {
                    name: format!("o-{a}"),
                    address: a.to_string(),
                    enabled: *e,
                    weight: 0.33,
                    header: None,
                })
                .collect(),
            latitude: Some(lat),
            longitude: Some(lon),
            monitor: None,
            minimum_origins: None,
            modified_on: None,
        }
    }

    pub(crate) fn lb(pools: &[&Pool], fallback: &Pool) -> LoadBalancer {
        LoadBalancer {
            id: "lb1".into(),
            name: "app.example.com".into(),
            default_pools: pools.iter().map(|p| p.id.clone()).collect(),
            fallback_pool: fallback.id.clone(),
            steering_policy: Some(SteeringPolicy::Proximity),
            proxied: true,
            ttl: None,
            enabled: Some(true),
            description: None,
            region_pools: None,
            country_pools: None,
            pop_pools: None,
        }
    }

    pub(crate) fn healthy(up: bool) -> Result<PoolHealth, String> {
        Ok(PoolHealth {
            pool_id: None,
            pop_health: BTreeMap::from([(
                "Amsterdam, NL".to_string(),
                PopHealth {
                    healthy: Some(up),
                    origins: Vec::new(),
                },
            )]),
        })
    }

    pub(crate) fn at() -> jiff::Timestamp {
        "2026-01-02T03:04:05.678Z".parse().unwrap()
    }

    /// The status of `pools` in one load balancer with fallback `fallback`, every pool with
    /// the given health (by id).
    pub(crate) fn status_of(
        pools: &[Pool],
        fallback: usize,
        health: &[(&str, Result<PoolHealth, String>)],
    ) -> Status {
        let refs: Vec<&Pool> = pools.iter().collect();
        let lbs = vec![lb(&refs, &pools[fallback])];
        let health: BTreeMap<String, Result<PoolHealth, String>> = health
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        build(&Observed {
            zone: "example.com",
            pools,
            lbs: &lbs,
            health: &health,
            only_host: None,
            read_at: at(),
        })
    }

    #[test]
    fn states_come_from_marker_origins_and_prefix() {
        let eu = pool("eu", &[("192.0.2.1", true), ("192.0.2.2", false)]);
        let drained = pool("us_east", &[("192.0.2.3", false)]);
        let mut leaving = pool("us_west", &[("192.0.2.4", false)]);
        let m = Marker::parse(leaving.description.as_deref()).unwrap();
        leaving.description = Some(m.with_state(MarkerState::Leaving(1_700_000_000)).render());
        let mut foreign = pool("asia", &[("192.0.2.5", true)]);
        foreign.description = Some("made by hand".into());
        // A marker on a pool without the prefix is not cfgeo's either.
        let mut unprefixed = custom_pool("sa", -23.5, -46.6, &[("192.0.2.6", true)]);
        unprefixed.name = "legacy-sa".into();
        let pools = vec![eu, drained, leaving, foreign, unprefixed];
        let s = status_of(&pools, 0, &[("id-eu", healthy(true))]);
        assert_eq!(s.read_at, "2026-01-02T03:04:05Z");
        let lb = &s.load_balancers[0];
        let states: Vec<_> = lb.pools.iter().map(|p| p.state).collect();
        use PoolState::*;
        assert_eq!(states, [Serving, Drained, Leaving, Foreign, Foreign]);
        let eu = &lb.pools[0];
        assert_eq!(
            (
                eu.region.as_deref(),
                eu.cluster.as_deref(),
                eu.owner.as_deref()
            ),
            (Some("eu"), Some("c1-eu"), Some("owner-eu"))
        );
        assert_eq!(eu.enabled_origins, ["192.0.2.1"]);
        assert_eq!(eu.disabled_origins, ["192.0.2.2"]);
        assert_eq!(
            (eu.health, eu.fallback, eu.listed),
            (Health::Healthy, true, true)
        );
        assert_eq!(lb.pools[2].leaving_since, Some(1_700_000_000));
        assert_eq!(lb.pools[3].region, None);
        assert_eq!(lb.pools[3].label, lb.pools[3].name);
        assert_eq!(lb.pools[1].health, Health::Unknown);
        assert_eq!(lb.fallback_pool.as_deref(), Some("k8s-pool-c1-eu-eu"));
    }

    #[test]
    fn hostnames_without_cfgeo_pools_are_left_out_and_unlisted_cfgeo_pools_shown() {
        let eu = pool("eu", &[("192.0.2.1", true)]);
        let mut foreign = pool("asia", &[("192.0.2.5", true)]);
        foreign.description = None;
        let joining = pool("us_east", &[("192.0.2.3", true)]);
        let mut other = lb(&[&foreign], &foreign);
        other.name = "hand.example.com".into();
        other.id = "lb2".into();
        let lbs = vec![lb(&[&eu], &eu), other];
        let pools = vec![eu, foreign, joining];
        let health = BTreeMap::new();
        let obs = Observed {
            zone: "example.com",
            pools: &pools,
            lbs: &lbs,
            health: &health,
            only_host: None,
            read_at: at(),
        };
        let s = build(&obs);
        let hosts: Vec<_> = s.load_balancers.iter().map(|l| &l.hostname).collect();
        assert_eq!(hosts, ["app.example.com"]);
        let rows: Vec<_> = s.load_balancers[0]
            .pools
            .iter()
            .map(|p| (p.label.as_str(), p.listed))
            .collect();
        assert_eq!(rows, [("eu", true), ("us_east", false)]);
        assert_eq!(
            health_needed(&pools, &lbs, None),
            BTreeSet::from(["id-eu".to_string(), "id-us_east".to_string()])
        );
        let only = Observed {
            only_host: Some("other.example.com"),
            ..obs
        };
        assert!(build(&only).load_balancers.is_empty());
    }

    #[test]
    fn two_pools_in_one_region_get_cluster_labels() {
        let a = pool("eu", &[("192.0.2.1", true)]);
        let mut b = pool("eu", &[("192.0.2.2", true)]);
        b.id = "id-eu-2".into();
        b.name = "k8s-pool-c2-eu".into();
        b.description = Some(
            Marker::pool(
                &Identity {
                    owner: "o2".into(),
                    geo: "eu".into(),
                    deploy: "app.example.com".into(),
                },
                "c2",
                "app.example.com",
            )
            .render(),
        );
        let s = status_of(&[a, b], 0, &[]);
        let labels: Vec<_> = s.load_balancers[0].pools.iter().map(|p| &p.label).collect();
        assert_eq!(labels, ["eu/c1-eu", "eu/c2"]);
    }

    #[test]
    fn health_summary() {
        let mixed = PoolHealth {
            pool_id: None,
            pop_health: BTreeMap::from([
                (
                    "A".to_string(),
                    PopHealth {
                        healthy: Some(true),
                        origins: vec![],
                    },
                ),
                (
                    "B".to_string(),
                    PopHealth {
                        healthy: Some(false),
                        origins: vec![],
                    },
                ),
            ]),
        };
        assert_eq!(health_of(Some(&Ok(mixed))).0, Health::Degraded);
        assert_eq!(health_of(Some(&healthy(true))).0, Health::Healthy);
        assert_eq!(health_of(Some(&healthy(false))).0, Health::Unhealthy);
        assert_eq!(
            health_of(Some(&Ok(PoolHealth::default()))).0,
            Health::Unknown
        );
        let (h, why) = health_of(Some(&Err("HTTP 403".into())));
        assert_eq!(h, Health::Unknown);
        assert!(why.contains("403"), "{why}");
    }
}
