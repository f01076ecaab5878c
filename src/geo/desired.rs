//! Pure: selected Ingresses in, this cluster's desired pools out, plus per-object notices.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use k8s_openapi::api::networking::v1::Ingress;

use super::settings::GeoSettings;
use crate::model::{Notice, ObjectRef, Severity, pool_name, validate_hostname};

/// One origin wanted in this cluster's pool.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct WantedOrigin {
    /// IP address (canonical form) or hostname.
    pub address: String,
    /// False when the pool is drained.
    pub enabled: bool,
}

/// This cluster's pool for one LB hostname.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredPool {
    /// The Cloudflare pool name, from cluster, region and hostname (`model::pool_name`); the key
    /// the planner matches existing pools by.
    pub name: String,
    /// Cluster name from the label.
    pub cluster: String,
    /// LB hostname it serves.
    pub lb_host: String,
    /// The Ingresses' load-balancer addresses mapped to whether the origin is enabled (false
    /// for every origin when the pool is drained).
    pub origins: BTreeMap<String, bool>,
    /// True when selected Ingresses exist but none has an address yet: keep what is there.
    pub hold: bool,
    /// Ingresses that feed this pool.
    pub sources: BTreeSet<ObjectRef>,
    /// Monitor fields the Ingresses override for this pool.
    pub monitor: MonitorOverride,
}

/// Per-pool monitor settings from Ingress annotations (`cfgeo.io/monitor-*`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonitorOverride {
    /// HTTP path the monitor probes (`cfgeo.io/monitor-path`); `None` keeps the configured one.
    pub path: Option<String>,
    /// Expected codes, e.g. `200` or `2xx`.
    pub expected_codes: Option<String>,
    /// https: skip certificate verification.
    pub allow_insecure: Option<bool>,
}

/// The desired geo state of this cluster: pools by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DesiredGeo {
    /// One pool per load-balancer hostname the selected Ingresses name, keyed by
    /// [`DesiredPool::name`].
    pub pools: BTreeMap<String, DesiredPool>,
}

impl DesiredGeo {
    /// LB hostnames this cluster contributes to.
    pub fn hosts(&self) -> BTreeSet<String> {
        self.pools.values().map(|p| p.lb_host.clone()).collect()
    }
}

fn truthy(v: Option<&String>) -> bool {
    v.is_some_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "true" | "yes" | "1" | "on"
        )
    })
}

/// Builds the desired state from the selected Ingresses. Bad objects produce notices and are
/// left out; the others go on.
pub fn desired_state(ingresses: &[&Ingress], s: &GeoSettings) -> (DesiredGeo, Vec<Notice>) {
    let mut out = DesiredGeo::default();
    let mut notices = Vec::new();
    let mut drained: BTreeSet<String> = BTreeSet::new();
    let mut sorted: Vec<&Ingress> = ingresses.to_vec();
    sorted.sort_by_key(|i| (i.metadata.namespace.clone(), i.metadata.name.clone()));
    for ing in sorted {
        let obj = ObjectRef::ingress(ing);
        let warn = |reason: &str, message: String| Notice {
            object: obj.clone(),
            severity: Severity::Warning,
            reason: reason.into(),
            message,
        };
        let labels = ing.metadata.labels.clone().unwrap_or_default();
        let annotations = ing.metadata.annotations.clone().unwrap_or_default();
        let Some(cluster) = s
            .cluster_labels
            .iter()
            .find_map(|l| labels.get(l).filter(|v| !v.trim().is_empty()))
        else {
            notices.push(warn(
                "MissingClusterLabel",
                format!(
                    "{obj}: metadata.labels needs {} to name this cluster's pool; the Ingress is skipped",
                    s.cluster_labels.join(" or ")
                ),
            ));
            continue;
        };
        let lb_host = match annotations.get(&s.lb_hostname_annotation) {
            Some(raw) => {
                let field = format!("metadata.annotations[{}]", s.lb_hostname_annotation);
                match validate_hostname(&field, raw) {
                    Ok(h) if in_zone(&h, &s.zone_name) => h,
                    Ok(h) => {
                        notices.push(warn(
                            "HostnameOutsideZone",
                            format!("{obj}: {field} {h:?} is not inside zone {}; the Ingress is skipped", s.zone_name),
                        ));
                        continue;
                    }
                    Err(e) => {
                        notices.push(warn(
                            "InvalidHostname",
                            format!("{obj}: {e}; the Ingress is skipped"),
                        ));
                        continue;
                    }
                }
            }
            None => s.default_lb_host.clone(),
        };
        let extra = (lb_host != s.default_lb_host).then_some(lb_host.as_str());
        let name = match pool_name(cluster, &s.region.name, extra) {
            Ok(n) => n,
            Err(e) => {
                notices.push(warn(
                    "InvalidClusterName",
                    format!("{obj}: metadata.{e}; the Ingress is skipped"),
                ));
                continue;
            }
        };
        let mut addresses = Vec::new();
        let lb_status = ing
            .status
            .as_ref()
            .and_then(|st| st.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref());
        for (i, entry) in lb_status.into_iter().flatten().enumerate() {
            if let Some(ip) = entry.ip.as_deref().filter(|v| !v.is_empty()) {
                match ip.trim().parse::<IpAddr>() {
                    Ok(addr) => addresses.push(addr.to_string()),
                    Err(_) => notices.push(warn(
                        "InvalidAddress",
                        format!("{obj}: status.loadBalancer.ingress[{i}].ip {ip:?} is not an IP address; it is skipped"),
                    )),
                }
            }
            if let Some(h) = entry.hostname.as_deref().filter(|v| !v.is_empty()) {
                let field = format!("status.loadBalancer.ingress[{i}].hostname");
                match validate_hostname(&field, h) {
                    Ok(h) if h == lb_host => notices.push(warn(
                        "InvalidAddress",
                        format!("{obj}: {field} {h:?} is the load balancer's own hostname; it would loop and is skipped"),
                    )),
                    Ok(h) if h.starts_with("*.") => notices.push(warn(
                        "InvalidAddress",
                        format!("{obj}: {field} {h:?} is a wildcard, not an origin; it is skipped"),
                    )),
                    Ok(h) => addresses.push(h),
                    Err(e) => notices.push(warn("InvalidAddress", format!("{obj}: {e}; it is skipped"))),
                }
            }
        }
        if addresses.is_empty() {
            notices.push(Notice {
                object: obj.clone(),
                severity: Severity::Normal,
                reason: "NoAddressYet".into(),
                message: format!(
                    "{obj}: status.loadBalancer.ingress has no address yet; pool {name} waits for one"
                ),
            });
        }
        if s.drain_all || truthy(annotations.get(&s.drain_annotation)) {
            drained.insert(name.clone());
        }
        let pool = out
            .pools
            .entry(name.clone())
            .or_insert_with(|| DesiredPool {
                name: name.clone(),
                cluster: cluster.clone(),
                lb_host: lb_host.clone(),
                origins: BTreeMap::new(),
                hold: false,
                sources: BTreeSet::new(),
                monitor: MonitorOverride::default(),
            });
        pool.sources.insert(obj.clone());
        for n in monitor_overrides(&obj, &annotations, &mut pool.monitor) {
            notices.push(n);
        }
        for a in addresses {
            pool.origins.insert(a, true);
        }
    }
    for pool in out.pools.values_mut() {
        pool.hold = pool.origins.is_empty();
        if drained.contains(&pool.name) {
            pool.origins.values_mut().for_each(|e| *e = false);
        }
    }
    (out, notices)
}

/// Reads `cfgeo.io/monitor-*` into `into`. The first Ingress (by namespace/name) that sets a
/// field wins; a bad value or a disagreeing later Ingress gets a Warning and changes nothing.
fn monitor_overrides(
    obj: &ObjectRef,
    annotations: &BTreeMap<String, String>,
    into: &mut MonitorOverride,
) -> Vec<Notice> {
    use super::settings::keys;
    let mut out = Vec::new();
    let warn = |message: String| Notice {
        object: obj.clone(),
        severity: Severity::Warning,
        reason: "InvalidMonitorAnnotation".into(),
        message,
    };
    let set = |slot: &mut Option<String>, key: &str, value: String, out: &mut Vec<Notice>| {
        match slot {
            Some(v) if *v != value => out.push(warn(format!(
                "{obj}: metadata.annotations[{key}] {value:?} disagrees with {v:?} set by another Ingress of the pool; {v:?} is kept"
            ))),
            Some(_) => {}
            None => *slot = Some(value),
        }
    };
    if let Some(p) = annotations.get(keys::MONITOR_PATH) {
        let p = p.trim();
        if p.starts_with('/') && !p.chars().any(char::is_whitespace) {
            set(&mut into.path, keys::MONITOR_PATH, p.to_string(), &mut out);
        } else {
            out.push(warn(format!(
                "{obj}: metadata.annotations[{}] {p:?} must be a path starting with '/'; the default is used",
                keys::MONITOR_PATH
            )));
        }
    }
    if let Some(c) = annotations.get(keys::MONITOR_EXPECTED_CODES) {
        let c = c.trim();
        let ok = c.len() == 3
            && c.chars().next().is_some_and(|d| ('1'..='5').contains(&d))
            && c[1..]
                .chars()
                .all(|d| d.is_ascii_digit() || d == 'x' || d == 'X');
        if ok {
            set(
                &mut into.expected_codes,
                keys::MONITOR_EXPECTED_CODES,
                c.to_ascii_lowercase(),
                &mut out,
            );
        } else {
            out.push(warn(format!(
                "{obj}: metadata.annotations[{}] {c:?} must be a status code or class such as 200 or 2xx; the default is used",
                keys::MONITOR_EXPECTED_CODES
            )));
        }
    }
    if let Some(v) = annotations.get(keys::MONITOR_ALLOW_INSECURE) {
        let parsed = match v.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" | "on" => Some(true),
            "false" | "no" | "0" | "off" => Some(false),
            _ => None,
        };
        match (parsed, into.allow_insecure) {
            (None, _) => out.push(warn(format!(
                "{obj}: metadata.annotations[{}] {v:?} must be true or false; the default is used",
                keys::MONITOR_ALLOW_INSECURE
            ))),
            (Some(b), Some(have)) if b != have => out.push(warn(format!(
                "{obj}: metadata.annotations[{}] {b} disagrees with {have} set by another Ingress of the pool; {have} is kept",
                keys::MONITOR_ALLOW_INSECURE
            ))),
            (Some(b), _) => into.allow_insecure = Some(b),
        }
    }
    out
}

/// True when `host` is the zone apex or inside it.
pub fn in_zone(host: &str, zone: &str) -> bool {
    host == zone || host.ends_with(&format!(".{zone}"))
}
