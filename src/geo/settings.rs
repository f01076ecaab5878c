//! The geo engine's validated settings (built from the command line in `config`).

use crate::cloudflare::types::{MonitorInput, SteeringPolicy};
use crate::model::{Identity, Region, Weight};

/// How pools get their health monitor.
#[derive(Debug, Clone, PartialEq)]
pub enum MonitorPolicy {
    /// No monitor is attached (proximity then never fails over).
    None,
    /// Attach this existing monitor id.
    Existing(String),
    /// cfgeo creates and keeps one monitor per pool with these settings; each monitor also
    /// sends `Host: <the pool's LB hostname>`, and Ingress annotations can override some fields.
    Managed(MonitorInput),
}

/// What cfgeo writes into each load balancer it manages.
#[derive(Debug, Clone, PartialEq)]
pub struct LbPolicy {
    /// Steering policy (the seed's `proximity`).
    pub steering: SteeringPolicy,
    /// Orange-clouded (the seed's `true`).
    pub proxied: bool,
    /// TTL, used by Cloudflare only when not proxied.
    pub ttl: u32,
}

/// Everything the geo planner needs to know, already validated.
#[derive(Debug, Clone)]
pub struct GeoSettings {
    /// Account that owns the pools.
    pub account_id: String,
    /// Zone of the load balancers.
    pub zone_id: String,
    /// Zone apex, e.g. `example.com`.
    pub zone_name: String,
    /// Where this cluster's pools say they are (`GEO_LOCATION`, or custom coordinates): the
    /// region name goes into pool names and markers, the coordinates into proximity steering.
    pub region: Region,
    /// The load-balancer hostname of Ingresses without the per-Ingress annotation
    /// (`CF_LB_HOSTNAME`); pools for it carry no hostname suffix in their name.
    pub default_lb_host: String,
    /// Weight written on every origin of this cluster's pools (`CF_ORIGIN_WEIGHT`, 1..100 %).
    pub weight: Weight,
    /// Identity written into the marker of every pool this deployment owns.
    pub owner_id: String,
    /// This deployment within the cluster (default: its `CF_LB_HOSTNAME`).
    pub deployment_id: String,
    /// Labels naming the cluster, first match wins.
    pub cluster_labels: Vec<String>,
    /// Annotation with a per-Ingress LB hostname.
    pub lb_hostname_annotation: String,
    /// Annotation that drains an Ingress's pool.
    pub drain_annotation: String,
    /// Drain every pool of this cluster.
    pub drain_all: bool,
    /// Whether pools get no monitor, an existing one, or one cfgeo creates per pool.
    pub monitor: MonitorPolicy,
    /// Steering, proxying and TTL that cfgeo writes into every load balancer it manages.
    pub lb: LbPolicy,
    /// Seconds a retiring pool waits, out of every LB, before it is deleted.
    pub removal_delay_secs: u64,
}

/// Annotation keys cfgeo defines for the geo engine.
pub mod keys {
    /// On an Ingress: the load-balancer hostname its pool joins instead of `CF_LB_HOSTNAME`.
    pub const LB_HOSTNAME: &str = "cfgeo.io/lb-hostname";
    /// Drain this cluster's pool.
    pub const DRAIN: &str = "cfgeo.io/drain";
    /// On an Ingress: the HTTP path the managed monitor of its pool probes.
    pub const MONITOR_PATH: &str = "cfgeo.io/monitor-path";
    /// Per-pool monitor expected codes.
    pub const MONITOR_EXPECTED_CODES: &str = "cfgeo.io/monitor-expected-codes";
    /// Per-pool monitor: skip https certificate checks.
    pub const MONITOR_ALLOW_INSECURE: &str = "cfgeo.io/monitor-allow-insecure";
    /// Every annotation above is under this prefix.
    pub const PREFIX: &str = "cfgeo.io/";
    /// Labels naming the cluster, first match wins (the seed tool's and the Kubernetes style).
    pub const CLUSTER_LABELS: [&str; 2] = ["cluster-name", "cluster_name"];
}

/// What the geo watch keeps of each selected Ingress: the labels the selector and the cluster
/// name read, and the `cfgeo.io/` annotations (see [`crate::sources::projection`]).
pub fn watch_keep(
    selector: &crate::sources::selector::LabelSelector,
) -> crate::sources::projection::Keep {
    crate::sources::projection::Keep::nothing()
        .labels(selector.keys())
        .labels(keys::CLUSTER_LABELS)
        .annotation_prefix(keys::PREFIX)
}

impl GeoSettings {
    /// Who this deployment is, as written into and matched against ownership markers.
    pub fn identity(&self) -> Identity {
        Identity {
            owner: self.owner_id.clone(),
            geo: self.region.name.clone(),
            deploy: self.deployment_id.clone(),
        }
    }
}

#[cfg(test)]
impl GeoSettings {
    /// Settings for tests: region eu, zone example.com.
    pub fn for_tests() -> Self {
        Self {
            account_id: "acc".into(),
            zone_id: "zone".into(),
            zone_name: "example.com".into(),
            region: Region::resolve("eu", None, None).unwrap(),
            default_lb_host: "app.example.com".into(),
            weight: Weight::from_percent(33),
            owner_id: "owner-eu".into(),
            deployment_id: "app.example.com".into(),
            cluster_labels: vec!["cluster-name".into(), "cluster_name".into()],
            lb_hostname_annotation: keys::LB_HOSTNAME.into(),
            drain_annotation: keys::DRAIN.into(),
            drain_all: false,
            monitor: MonitorPolicy::None,
            lb: LbPolicy {
                steering: SteeringPolicy::Proximity,
                proxied: true,
                ttl: 30,
            },
            removal_delay_secs: 0,
        }
    }
}
