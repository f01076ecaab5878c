//! The objects the emulator stores besides the account and its zones: DNS records, pools with
//! their origins, monitors and load balancers. Their stored fields, serde defaults and API
//! shapes; validation and the operations on them are in `dns` and `lb`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::common::Keyed;

/// One stored DNS record. The API shape comes from [`DnsRecord::to_api`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DnsRecord {
    /// 32 lowercase hex.
    pub id: String,
    /// Id of the zone the record is in; stored, but not sent in API answers.
    pub zone_id: String,
    /// FQDN, lowercase, no trailing dot.
    pub name: String,
    /// Record type, uppercase.
    #[serde(rename = "type")]
    pub record_type: String,
    /// Content (IPv6 canonical; hostnames without trailing dot).
    pub content: String,
    /// Whether Cloudflare proxies the name (orange cloud); only A, AAAA and CNAME can be.
    #[serde(default)]
    pub proxied: bool,
    /// 1 (automatic) or 30..=86400.
    #[serde(default = "auto_ttl")]
    pub ttl: u32,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// `name:value` tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// MX / URI priority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u16>,
    /// Structured content of SRV, CAA, ... records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    /// Record settings (`ipv4_only`, `flatten_cname`, ...).
    #[serde(default)]
    pub settings: Map<String, Value>,
    /// RFC 3339.
    pub created_on: String,
    /// RFC 3339.
    pub modified_on: String,
    /// When the comment last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment_modified_on: Option<String>,
    /// When the tags last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags_modified_on: Option<String>,
}

fn auto_ttl() -> u32 {
    1
}

impl Keyed for DnsRecord {
    fn key(&self) -> &str {
        &self.id
    }
}

impl DnsRecord {
    /// Whether Cloudflare can proxy this type.
    pub fn proxiable(&self) -> bool {
        proxiable(&self.record_type)
    }

    /// The record as the API returns it (`dns-records_dns-record`). `zone_id`/`zone_name` are not
    /// sent: Cloudflare removed them from record answers in 2024.
    pub fn to_api(&self) -> Value {
        let mut v = json!({
            "id": self.id,
            "name": self.name,
            "type": self.record_type,
            "content": self.content,
            "proxiable": self.proxiable(),
            "proxied": self.proxied,
            "ttl": self.ttl,
            "settings": self.settings,
            "meta": {},
            "tags": self.tags,
            "created_on": self.created_on,
            "modified_on": self.modified_on,
        });
        let obj = v.as_object_mut().expect("json! object");
        // The schema types these as non-nullable strings or numbers, so absent means omitted.
        if let Some(c) = &self.comment {
            obj.insert("comment".into(), json!(c));
        }
        if let Some(p) = self.priority {
            obj.insert("priority".into(), json!(p));
        }
        if let Some(d) = &self.data {
            obj.insert("data".into(), d.clone());
        }
        if let Some(t) = &self.comment_modified_on {
            obj.insert("comment_modified_on".into(), json!(t));
        }
        if let Some(t) = &self.tags_modified_on {
            obj.insert("tags_modified_on".into(), json!(t));
        }
        v
    }

    /// The writable fields, the base a PATCH merges into.
    pub(super) fn writable(&self) -> Value {
        let mut v = json!({
            "type": self.record_type,
            "name": self.name,
            "content": self.content,
            "proxied": self.proxied,
            "ttl": self.ttl,
            "tags": self.tags,
            "settings": self.settings,
        });
        let obj = v.as_object_mut().expect("json! object");
        if let Some(c) = &self.comment {
            obj.insert("comment".into(), json!(c));
        }
        if let Some(p) = self.priority {
            obj.insert("priority".into(), json!(p));
        }
        if let Some(d) = &self.data {
            obj.insert("data".into(), d.clone());
        }
        v
    }
}

/// Whether Cloudflare can proxy (orange-cloud) records of this type: A, AAAA and CNAME only.
pub(super) fn proxiable(record_type: &str) -> bool {
    matches!(record_type, "A" | "AAAA" | "CNAME")
}

fn yes() -> bool {
    true
}

fn full_weight() -> f64 {
    1.0
}

fn one() -> u32 {
    1
}

fn lb_ttl() -> u32 {
    30
}

/// One origin (endpoint) of a pool.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Origin {
    /// Unique within the pool.
    pub name: String,
    /// IP or hostname; unique within the pool.
    pub address: String,
    /// Whether the pool sends traffic to this origin (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// 0..=1 in steps of 0.01, default 1.
    #[serde(default = "full_weight")]
    pub weight: f64,
    /// Set when the origin was disabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<String>,
    /// `header`, `virtual_network_id`, `port` and anything newer, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An account-level pool. Serializes to the API shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pool {
    /// 32 lowercase hex.
    pub id: String,
    /// RFC 3339.
    pub created_on: String,
    /// RFC 3339.
    pub modified_on: String,
    /// `[A-Za-z0-9_-]+`.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Whether load balancers may send traffic to the pool (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Healthy origins the pool needs to count as healthy (default 1).
    #[serde(default = "one")]
    pub minimum_origins: u32,
    /// Id of the monitor that checks the origins; `None`: no health checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor: Option<String>,
    /// Set together with longitude.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latitude: Option<f64>,
    /// Set together with latitude.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub longitude: Option<f64>,
    /// Health-check regions; null means all.
    #[serde(default)]
    pub check_regions: Option<Vec<String>>,
    /// Deprecated; kept for the schema.
    #[serde(default)]
    pub notification_email: String,
    /// Sorted by name, as Cloudflare returns them.
    #[serde(default)]
    pub origins: Vec<Origin>,
    /// Set when the pool was disabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_at: Option<String>,
    /// `load_shedding`, `origin_steering`, `notification_filter`, ... kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Keyed for Pool {
    fn key(&self) -> &str {
        &self.id
    }
}

impl Pool {
    /// The pool as the API returns it.
    pub fn to_api(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    pub(super) fn has_coordinates(&self) -> bool {
        self.latitude.is_some() && self.longitude.is_some()
    }
}

/// An account-level health monitor. Monitors have no name; `description` identifies them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Monitor {
    /// 32 lowercase hex.
    pub id: String,
    /// RFC 3339.
    pub created_on: String,
    /// RFC 3339.
    pub modified_on: String,
    /// http, https, tcp, udp_icmp, icmp_ping, smtp.
    #[serde(rename = "type")]
    pub monitor_type: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// method, path, expected_codes, interval, timeout, retries, port, header, ...
    #[serde(flatten)]
    pub settings: Map<String, Value>,
}

impl Keyed for Monitor {
    fn key(&self) -> &str {
        &self.id
    }
}

impl Monitor {
    /// The monitor as the API returns it.
    pub fn to_api(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// A zone load balancer. Serializes with its `zone_id`; [`LoadBalancer::to_api`] gives the API shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadBalancer {
    /// 32 lowercase hex.
    pub id: String,
    /// RFC 3339.
    pub created_on: String,
    /// RFC 3339.
    pub modified_on: String,
    /// Owning zone (not part of the API answer).
    pub zone_id: String,
    /// Hostname within the zone.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Whether the load balancer answers for its hostname (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Whether Cloudflare proxies the hostname (orange cloud); default false.
    #[serde(default)]
    pub proxied: bool,
    /// Default 30; only meaningful when not proxied.
    #[serde(default = "lb_ttl")]
    pub ttl: u32,
    /// One of the documented policies, or "".
    #[serde(default)]
    pub steering_policy: String,
    /// Pool IDs in failover order.
    pub default_pools: Vec<String>,
    /// Pool of last resort.
    pub fallback_pool: String,
    /// Region code to pool IDs.
    #[serde(default)]
    pub region_pools: BTreeMap<String, Vec<String>>,
    /// Country code to pool IDs.
    #[serde(default)]
    pub country_pools: BTreeMap<String, Vec<String>>,
    /// PoP code to pool IDs.
    #[serde(default)]
    pub pop_pools: BTreeMap<String, Vec<String>>,
    /// `random_steering`, `rules`, `session_affinity*`, `adaptive_routing`, `location_strategy`, ...
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Keyed for LoadBalancer {
    fn key(&self) -> &str {
        &self.id
    }
}

impl LoadBalancer {
    /// The load balancer as the API returns it.
    pub fn to_api(&self, zone_name: &str) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Value::Object(obj) = &mut v {
            obj.remove("zone_id");
            obj.insert("zone_name".into(), json!(zone_name));
        }
        v
    }

    /// Every pool ID this load balancer points at, wherever it is referenced.
    pub fn pool_refs(&self) -> BTreeSet<String> {
        let mut refs: BTreeSet<String> = self.default_pools.iter().cloned().collect();
        refs.insert(self.fallback_pool.clone());
        for map in [&self.region_pools, &self.country_pools, &self.pop_pools] {
            refs.extend(map.values().flatten().cloned());
        }
        collect_value_refs(&Value::Object(self.extra.clone()), &mut refs);
        refs
    }
}

/// Pool IDs inside `random_steering.pool_weights` and `rules[].overrides`.
fn collect_value_refs(extra: &Value, refs: &mut BTreeSet<String>) {
    if let Some(weights) = extra
        .pointer("/random_steering/pool_weights")
        .and_then(Value::as_object)
    {
        refs.extend(weights.keys().cloned());
    }
    for rule in extra
        .get("rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(ov) = rule.get("overrides") else {
            continue;
        };
        let strings = |v: Option<&Value>| -> Vec<String> {
            v.and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        };
        refs.extend(strings(ov.get("default_pools")));
        if let Some(f) = ov.get("fallback_pool").and_then(Value::as_str) {
            refs.insert(f.to_owned());
        }
        for key in ["region_pools", "country_pools", "pop_pools"] {
            for pools in ov
                .get(key)
                .and_then(Value::as_object)
                .into_iter()
                .flat_map(|m| m.values())
            {
                refs.extend(strings(Some(pools)));
            }
        }
        collect_value_refs(ov, refs);
    }
}
