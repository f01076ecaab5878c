//! Load balancing: account pools (with origins) and monitors, zone load balancers. Cloudflare's
//! validation, full-overwrite PUT against merging PATCH, references, the 412 for deleting an
//! object still in use, and synthesized pool health. Pure functions on [`State`]; the stored
//! types ([`Pool`], [`Monitor`], [`LoadBalancer`]) are in `objects`.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::common::{ApiError, codes, merge_patch, now};
use super::objects::{LoadBalancer, Monitor, Origin, Pool};
use super::state::State;

const STEERING_POLICIES: &[&str] = &[
    "off",
    "geo",
    "random",
    "dynamic_latency",
    "proximity",
    "least_outstanding_requests",
    "least_connections",
    "",
];
const SESSION_AFFINITIES: &[&str] = &["none", "cookie", "ip_cookie", "header", ""];
const MONITOR_TYPES: &[&str] = &["http", "https", "tcp", "udp_icmp", "icmp_ping", "smtp"];
const CHECK_REGIONS: &[&str] = &[
    "WNAM",
    "ENAM",
    "WEU",
    "EEU",
    "NSAM",
    "SSAM",
    "OC",
    "ME",
    "NAF",
    "SAF",
    "SAS",
    "SEAS",
    "NEAS",
    "ALL_REGIONS",
];
/// Server-side fields a body may echo back; they are never taken from a request.
const READ_ONLY: &[&str] = &[
    "id",
    "created_on",
    "modified_on",
    "disabled_at",
    "zone_id",
    "zone_name",
];

/// How a write treats the stored object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Write {
    /// POST: a new object from defaults and the body.
    Create,
    /// PUT: defaults and the body replace the whole object.
    Replace,
    /// PATCH: the body merges into the stored object.
    Merge,
}

#[derive(Debug, Deserialize)]
struct OriginInput {
    name: Option<String>,
    address: Option<String>,
    enabled: Option<bool>,
    weight: Option<f64>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
struct PoolInput {
    name: Option<String>,
    description: Option<String>,
    enabled: Option<bool>,
    minimum_origins: Option<i64>,
    monitor: Option<Value>,
    latitude: Option<f64>,
    longitude: Option<f64>,
    check_regions: Option<Vec<String>>,
    notification_email: Option<String>,
    origins: Option<Vec<Value>>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
struct LbInput {
    name: Option<String>,
    description: Option<String>,
    enabled: Option<bool>,
    proxied: Option<bool>,
    ttl: Option<i64>,
    steering_policy: Option<String>,
    default_pools: Option<Vec<String>>,
    fallback_pool: Option<String>,
    region_pools: Option<BTreeMap<String, Vec<String>>>,
    country_pools: Option<BTreeMap<String, Vec<String>>>,
    pop_pools: Option<BTreeMap<String, Vec<String>>>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

fn pool_defaults() -> Value {
    json!({"description": "", "enabled": true, "minimum_origins": 1, "notification_email": ""})
}

fn monitor_defaults() -> Value {
    json!({
        "type": "http", "description": "", "method": "GET", "path": "/", "header": {}, "port": 0,
        "timeout": 5, "retries": 2, "interval": 60, "expected_body": "", "follow_redirects": false,
        "allow_insecure": false, "consecutive_up": 0, "consecutive_down": 0, "probe_zone": "",
    })
}

fn lb_defaults() -> Value {
    json!({
        "description": "", "enabled": true, "proxied": false, "ttl": 30, "steering_policy": "",
        "region_pools": {}, "country_pools": {}, "pop_pools": {},
        "random_steering": {"default_weight": 1},
        "adaptive_routing": {"failover_across_pools": false},
        "location_strategy": {"mode": "pop", "prefer_ecs": "proximity"},
        "session_affinity": "none",
        "session_affinity_attributes": {"samesite": "Auto", "secure": "Auto", "drain_duration": 0, "zero_downtime_failover": "none"},
        "rules": [],
    })
}

/// Schema types of the monitor fields not checked elsewhere; a wrong one is a 400 naming the field.
fn check_monitor_fields(settings: &Map<String, Value>) -> Result<(), ApiError> {
    for key in [
        "method",
        "path",
        "expected_codes",
        "expected_body",
        "probe_zone",
    ] {
        if let Some(v) = settings.get(key).filter(|v| !v.is_string()) {
            return Err(ApiError::lb_invalid(format!("{key} {v} must be a string")));
        }
    }
    for key in ["allow_insecure", "follow_redirects"] {
        if let Some(v) = settings.get(key).filter(|v| !v.is_boolean()) {
            return Err(ApiError::lb_invalid(format!("{key} {v} must be a boolean")));
        }
    }
    // Cloudflare's header is a map of name to a list of values: `{"Host": ["example.com"]}`.
    if let Some(header) = settings.get("header") {
        let Some(map) = header.as_object() else {
            return Err(ApiError::lb_invalid(format!(
                "header {header} must be an object of header names to lists of strings"
            )));
        };
        for (name, values) in map {
            let strings = values
                .as_array()
                .is_some_and(|vs| vs.iter().all(Value::is_string));
            if name.trim().is_empty() || !strings {
                return Err(ApiError::lb_invalid(format!(
                    "header {name:?}: {values} must be a list of strings"
                )));
            }
        }
    }
    Ok(())
}

/// The object a write validates: defaults plus body (POST, PUT) or stored plus body (PATCH),
/// without server-side fields.
fn merged_input(mode: Write, defaults: Value, stored: Option<Value>, body: &Value) -> Value {
    let mut base = match (mode, stored) {
        (Write::Merge, Some(stored)) => stored,
        _ => defaults,
    };
    merge_patch(&mut base, body);
    if let Value::Object(obj) = &mut base {
        for key in READ_ONLY {
            obj.remove(*key);
        }
    }
    base
}

fn require_in_body(mode: Write, body: &Value, fields: &[&str]) -> Result<(), ApiError> {
    if mode == Write::Merge {
        return Ok(());
    }
    match fields
        .iter()
        .find(|f| body.get(**f).is_none_or(Value::is_null))
    {
        Some(missing) => Err(ApiError::lb_invalid(format!("{missing} is required"))),
        None => Ok(()),
    }
}

fn parse<T: for<'de> Deserialize<'de>>(value: Value) -> Result<T, ApiError> {
    serde_json::from_value(value).map_err(|e| ApiError::lb_invalid(format!("invalid request: {e}")))
}

fn lb_not_found(what: &str) -> ApiError {
    ApiError::new(404, codes::LB_NOT_FOUND, format!("{what} not found"))
}

fn referenced() -> ApiError {
    ApiError::new(
        412,
        codes::LB_REFERENCED,
        "This object is referenced by other objects, delete them first.",
    )
}

fn proximity_missing() -> ApiError {
    ApiError::bad_request(
        codes::LB_VALIDATION,
        "Proximity Load Balancer has pools missing Latitude/Longitude",
    )
}

/// `disabled_at` survives while disabled, is stamped when something becomes disabled.
fn disabled_stamp(enabled: bool, before: Option<&Option<String>>) -> Option<String> {
    if enabled {
        None
    } else {
        before.cloned().flatten().or_else(|| Some(now()))
    }
}

fn valid_weight(w: f64) -> bool {
    (0.0..=1.0).contains(&w) && ((w * 100.0).round() - w * 100.0).abs() < 1e-6
}

fn build_origins(items: Vec<Value>, before: Option<&Pool>) -> Result<Vec<Origin>, ApiError> {
    if items.is_empty() {
        return Err(ApiError::lb_invalid(
            "the origin list length must be in range [1, 20]",
        ));
    }
    let mut origins = Vec::with_capacity(items.len());
    for mut item in items {
        if let Value::Object(obj) = &mut item {
            obj.remove("disabled_at");
        }
        let input: OriginInput = parse(item)?;
        let name = input
            .name
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| ApiError::lb_invalid("origin name is required"))?;
        let address = input
            .address
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty())
            .ok_or_else(|| ApiError::lb_invalid(format!("origin {name}: address is required")))?;
        let weight = input.weight.unwrap_or(1.0);
        if !valid_weight(weight) {
            return Err(ApiError::lb_invalid(format!(
                "origin {name}: weight {weight} must be between 0 and 1 in steps of 0.01"
            )));
        }
        if let Some(hosts) = input.extra.get("header").and_then(|h| h.get("Host"))
            && hosts.as_array().is_none_or(|h| h.len() > 1)
        {
            return Err(ApiError::lb_invalid(format!(
                "origin {name}: header.Host must be a list with at most one value"
            )));
        }
        let enabled = input.enabled.unwrap_or(true);
        let before_origin = before
            .and_then(|p| p.origins.iter().find(|o| o.name == name))
            .map(|o| &o.disabled_at);
        origins.push(Origin {
            disabled_at: disabled_stamp(enabled, before_origin),
            name,
            address,
            enabled,
            weight,
            extra: input.extra,
        });
    }
    origins.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(w) = origins.windows(2).find(|w| w[0].name == w[1].name) {
        return Err(ApiError::lb_invalid(format!(
            "origin names must be unique within a pool; {} is repeated",
            w[0].name
        )));
    }
    let mut addresses = BTreeSet::new();
    for o in &origins {
        if !addresses.insert(o.address.to_ascii_lowercase()) {
            return Err(ApiError::lb_invalid(format!(
                "origin addresses must be unique within a pool; {} is repeated",
                o.address
            )));
        }
    }
    Ok(origins)
}

impl State {
    /// Pools, optionally only those using `monitor`.
    pub fn list_pools(&self, monitor: Option<&str>) -> Vec<Value> {
        self.pools
            .values()
            .filter(|p| monitor.is_none_or(|m| p.monitor.as_deref() == Some(m)))
            .map(Pool::to_api)
            .collect()
    }

    /// One pool or `404 1001`.
    pub fn pool(&self, pool_id: &str) -> Result<&Pool, ApiError> {
        self.pools.get(pool_id).ok_or_else(|| lb_not_found("pool"))
    }

    /// POST, PUT or PATCH of a pool.
    pub fn write_pool(
        &mut self,
        pool_id: Option<&str>,
        body: &Value,
        mode: Write,
    ) -> Result<Pool, ApiError> {
        let existing = pool_id.map(|id| self.pool(id).cloned()).transpose()?;
        require_in_body(mode, body, &["name", "origins"])?;
        let mut body = body.clone();
        if mode == Write::Create {
            // Not part of the create call: Cloudflare takes it only on PUT or PATCH.
            if let Value::Object(obj) = &mut body {
                obj.remove("check_regions");
            }
        }
        let stored = existing.as_ref().map(Pool::to_api);
        let input: PoolInput = parse(merged_input(mode, pool_defaults(), stored, &body))?;

        let name = input
            .name
            .ok_or_else(|| ApiError::lb_invalid("name is required"))?;
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(ApiError::lb_invalid(format!(
                "pool name {name:?} may contain only alphanumeric characters, hyphens and underscores"
            )));
        }
        let origins = build_origins(
            input
                .origins
                .ok_or_else(|| ApiError::lb_invalid("origins is required"))?,
            existing.as_ref(),
        )?;
        let (latitude, longitude) = match (input.latitude, input.longitude) {
            (Some(lat), Some(lon)) => {
                if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
                    return Err(ApiError::lb_invalid(
                        "latitude must be in [-90, 90] and longitude in [-180, 180]",
                    ));
                }
                (Some(lat), Some(lon))
            }
            (None, None) => (None, None),
            _ => {
                return Err(ApiError::lb_invalid(
                    "latitude and longitude must be set together",
                ));
            }
        };
        let monitor = match input.monitor {
            None => None,
            Some(Value::String(m)) if m.is_empty() => {
                return Err(ApiError::new(
                    412,
                    codes::LB_BAD_MONITOR_REF,
                    "monitor is not a valid monitor ID; send null to remove the monitor",
                ));
            }
            Some(Value::String(m)) => {
                if !self.monitors.contains_key(&m) {
                    return Err(ApiError::lb_invalid(format!("monitor {m} does not exist")));
                }
                Some(m)
            }
            Some(other) => {
                return Err(ApiError::lb_invalid(format!(
                    "monitor must be a monitor ID, not {other}"
                )));
            }
        };
        let minimum_origins = match input.minimum_origins {
            None => 1,
            Some(n) => u32::try_from(n)
                .map_err(|_| ApiError::lb_invalid("minimum_origins must be 0 or more"))?,
        };
        if let Some(bad) = input
            .check_regions
            .iter()
            .flatten()
            .find(|r| !CHECK_REGIONS.contains(&r.as_str()))
        {
            return Err(ApiError::lb_invalid(format!(
                "unknown check region {bad:?}"
            )));
        }
        let enabled = input.enabled.unwrap_or(true);
        let now = now();
        let (id, created_on) = match &existing {
            Some(p) => (p.id.clone(), p.created_on.clone()),
            None => (String::new(), now.clone()),
        };
        let mut pool = Pool {
            id,
            created_on,
            modified_on: now,
            name,
            description: input.description.unwrap_or_default(),
            enabled,
            minimum_origins,
            monitor,
            latitude,
            longitude,
            check_regions: input.check_regions,
            notification_email: input.notification_email.unwrap_or_default(),
            origins,
            disabled_at: disabled_stamp(enabled, existing.as_ref().map(|p| &p.disabled_at)),
            extra: input.extra,
        };
        if !pool.has_coordinates() {
            let used_by_proximity = self
                .load_balancers
                .values()
                .any(|lb| lb.steering_policy == "proximity" && lb.pool_refs().contains(&pool.id));
            if existing.is_some() && used_by_proximity {
                return Err(proximity_missing());
            }
        }
        if pool.id.is_empty() {
            pool.id = self.new_id();
        }
        self.pools.insert(pool.id.clone(), pool.clone());
        Ok(pool)
    }

    /// DELETE of a pool; `412 1005` while any load balancer references it.
    pub fn delete_pool(&mut self, pool_id: &str) -> Result<(), ApiError> {
        self.pool(pool_id)?;
        if self
            .load_balancers
            .values()
            .any(|lb| lb.pool_refs().contains(pool_id))
        {
            return Err(referenced());
        }
        self.pools.remove(pool_id);
        Ok(())
    }

    /// `GET .../pools/{id}/references`: load balancers as referrers, the monitor as referral.
    pub fn pool_references(&self, pool_id: &str) -> Result<Vec<Value>, ApiError> {
        let pool = self.pool(pool_id)?;
        let mut refs: Vec<Value> = self
            .load_balancers
            .values()
            .filter(|lb| lb.pool_refs().contains(pool_id))
            .map(|lb| {
                json!({"reference_type": "referrer", "resource_id": lb.id, "resource_name": lb.name, "resource_type": "load_balancer"})
            })
            .collect();
        if let Some(m) = pool.monitor.as_ref().and_then(|m| self.monitors.get(m)) {
            refs.push(json!({"reference_type": "referral", "resource_id": m.id, "resource_name": m.description, "resource_type": "monitor"}));
        }
        Ok(refs)
    }

    /// `GET .../pools/{id}/health`: every enabled origin healthy as seen from one PoP.
    pub fn pool_health(&self, pool_id: &str) -> Result<Value, ApiError> {
        let pool = self.pool(pool_id)?;
        let origins: Vec<Value> = pool
            .origins
            .iter()
            .filter(|o| o.enabled)
            .map(|o| {
                let mut entry = Map::new();
                entry.insert(
                    o.address.clone(),
                    json!({"healthy": true, "rtt": "12.1ms", "failure_reason": "No failures", "response_code": 200}),
                );
                Value::Object(entry)
            })
            .collect();
        let healthy = pool.enabled && origins.len() >= pool.minimum_origins as usize;
        Ok(json!({
            "pool_id": pool.id,
            "pop_health": {"Amsterdam, NL": {"healthy": healthy, "origins": origins}},
        }))
    }

    /// All monitors.
    pub fn list_monitors(&self) -> Vec<Value> {
        self.monitors.values().map(Monitor::to_api).collect()
    }

    /// One monitor or `404 1001`.
    pub fn monitor(&self, monitor_id: &str) -> Result<&Monitor, ApiError> {
        self.monitors
            .get(monitor_id)
            .ok_or_else(|| lb_not_found("monitor"))
    }

    /// POST, PUT or PATCH of a monitor: schema types checked, absent fields at their defaults.
    pub fn write_monitor(
        &mut self,
        monitor_id: Option<&str>,
        body: &Value,
        mode: Write,
    ) -> Result<Monitor, ApiError> {
        let existing = monitor_id.map(|id| self.monitor(id).cloned()).transpose()?;
        let stored = existing.as_ref().map(Monitor::to_api);
        let merged = merged_input(mode, monitor_defaults(), stored, body);
        let Value::Object(mut settings) = merged else {
            return Err(ApiError::lb_invalid("monitor must be an object"));
        };
        // Cloudflare overwrites the supplied properties: a header map replaces, it does not merge.
        if let Some(header) = body.get("header").filter(|h| !h.is_null()) {
            settings.insert("header".into(), header.clone());
        }
        // A PATCH `null` removes a field; the answer still carries it, at its default.
        if let Value::Object(defaults) = monitor_defaults() {
            for (key, value) in defaults.into_iter().filter(|(k, _)| k != "method") {
                settings.entry(key).or_insert(value);
            }
        }
        check_monitor_fields(&settings)?;
        let monitor_type = match settings.remove("type") {
            Some(Value::String(t)) if MONITOR_TYPES.contains(&t.as_str()) => t,
            other => {
                return Err(ApiError::lb_invalid(format!(
                    "monitor type {} must be one of {}",
                    other.unwrap_or(Value::Null),
                    MONITOR_TYPES.join(", ")
                )));
            }
        };
        let description = match settings.remove("description") {
            None => String::new(),
            Some(Value::String(d)) => d,
            Some(_) => return Err(ApiError::lb_invalid("description must be a string")),
        };
        let http = matches!(monitor_type.as_str(), "http" | "https");
        if http && mode != Write::Merge && body.get("expected_codes").is_none_or(Value::is_null) {
            return Err(ApiError::lb_invalid(
                "expected_codes is required for HTTP and HTTPS monitors",
            ));
        }
        if monitor_type == "tcp" && body.get("method").is_none() && mode != Write::Merge {
            settings.insert("method".into(), json!("connection_established"));
        }
        if !settings.contains_key("method") {
            let method = if monitor_type == "tcp" {
                "connection_established"
            } else {
                "GET"
            };
            settings.insert("method".into(), json!(method));
        }
        let int = |key: &str, lo: i64, hi: i64| -> Result<(), ApiError> {
            match settings.get(key) {
                None => Ok(()),
                Some(v) if v.as_i64().is_some_and(|n| (lo..=hi).contains(&n)) => Ok(()),
                Some(v) => Err(ApiError::lb_invalid(format!(
                    "{key} {v} must be an integer in [{lo}, {hi}]"
                ))),
            }
        };
        int("interval", 10, 3600)?;
        int("timeout", 1, 60)?;
        int("retries", 0, 5)?;
        int("port", 0, 65535)?;
        int("consecutive_up", 0, 1000)?;
        int("consecutive_down", 0, 1000)?;
        if http {
            match settings.get("method").and_then(Value::as_str) {
                Some("GET" | "HEAD") => {}
                other => {
                    return Err(ApiError::lb_invalid(format!(
                        "method {other:?} must be GET or HEAD for HTTP monitors"
                    )));
                }
            }
        }
        let now = now();
        let (id, created_on) = match &existing {
            Some(m) => (m.id.clone(), m.created_on.clone()),
            None => (self.new_id(), now.clone()),
        };
        let monitor = Monitor {
            id,
            created_on,
            modified_on: now,
            monitor_type,
            description,
            settings,
        };
        self.monitors.insert(monitor.id.clone(), monitor.clone());
        Ok(monitor)
    }

    /// DELETE of a monitor; `412 1005` while a pool uses it.
    pub fn delete_monitor(&mut self, monitor_id: &str) -> Result<(), ApiError> {
        self.monitor(monitor_id)?;
        if self
            .pools
            .values()
            .any(|p| p.monitor.as_deref() == Some(monitor_id))
        {
            return Err(referenced());
        }
        self.monitors.remove(monitor_id);
        Ok(())
    }

    /// `GET .../monitors/{id}/references`: pools using it.
    pub fn monitor_references(&self, monitor_id: &str) -> Result<Vec<Value>, ApiError> {
        self.monitor(monitor_id)?;
        Ok(self
            .pools
            .values()
            .filter(|p| p.monitor.as_deref() == Some(monitor_id))
            .map(|p| json!({"reference_type": "referrer", "resource_id": p.id, "resource_name": p.name, "resource_type": "pool"}))
            .collect())
    }

    /// Load balancers of a zone.
    pub fn list_load_balancers(&self, zone_id: &str) -> Result<Vec<Value>, ApiError> {
        let zone = self.zone(zone_id)?;
        Ok(self
            .load_balancers
            .values()
            .filter(|lb| lb.zone_id == zone_id)
            .map(|lb| lb.to_api(&zone.name))
            .collect())
    }

    /// One load balancer of a zone or `404 1001`.
    pub fn load_balancer(&self, zone_id: &str, lb_id: &str) -> Result<&LoadBalancer, ApiError> {
        self.zone(zone_id)?;
        self.load_balancers
            .get(lb_id)
            .filter(|lb| lb.zone_id == zone_id)
            .ok_or_else(|| lb_not_found("load balancer"))
    }

    /// POST, PUT or PATCH of a load balancer.
    pub fn write_load_balancer(
        &mut self,
        zone_id: &str,
        lb_id: Option<&str>,
        body: &Value,
        mode: Write,
    ) -> Result<Value, ApiError> {
        let zone = self.zone(zone_id)?.clone();
        let existing = lb_id
            .map(|id| self.load_balancer(zone_id, id).cloned())
            .transpose()?;
        require_in_body(mode, body, &["name", "default_pools", "fallback_pool"])?;
        let stored = existing.as_ref().map(|lb| lb.to_api(&zone.name));
        let input: LbInput = parse(merged_input(mode, lb_defaults(), stored, body))?;

        let raw_name = input
            .name
            .ok_or_else(|| ApiError::lb_invalid("name is required"))?;
        let name = raw_name.trim().trim_end_matches('.').to_ascii_lowercase();
        if !zone.contains(&name) || name.split('.').any(str::is_empty) {
            return Err(ApiError::lb_invalid(format!(
                "invalid hostname: {raw_name}"
            )));
        }
        if self
            .load_balancers
            .values()
            .any(|lb| lb.zone_id == zone_id && lb.name == name && Some(lb.id.as_str()) != lb_id)
        {
            return Err(ApiError::bad_request(
                codes::LB_NOT_UNIQUE,
                format!("a load balancer named {name} already exists: value not unique"),
            ));
        }
        let default_pools = input.default_pools.unwrap_or_default();
        if default_pools.is_empty() {
            return Err(ApiError::lb_invalid("default_pools must not be empty"));
        }
        let fallback_pool = input
            .fallback_pool
            .filter(|f| !f.is_empty())
            .ok_or_else(|| ApiError::lb_invalid("fallback_pool is required"))?;
        let steering_policy = input.steering_policy.unwrap_or_default();
        if !STEERING_POLICIES.contains(&steering_policy.as_str()) {
            return Err(ApiError::lb_invalid(format!(
                "steering_policy {steering_policy:?} is not one of off, geo, random, dynamic_latency, proximity, least_outstanding_requests, least_connections"
            )));
        }
        if let Some(sa) = input.extra.get("session_affinity")
            && !sa.as_str().is_some_and(|s| SESSION_AFFINITIES.contains(&s))
        {
            return Err(ApiError::lb_invalid(format!(
                "session_affinity {sa} is not one of none, cookie, ip_cookie, header"
            )));
        }
        let ttl = match input.ttl {
            None => 30,
            Some(t) => {
                u32::try_from(t).map_err(|_| ApiError::lb_invalid("ttl must be 0 or more"))?
            }
        };
        let now = now();
        let (id, created_on) = match &existing {
            Some(lb) => (lb.id.clone(), lb.created_on.clone()),
            None => (String::new(), now.clone()),
        };
        let mut lb = LoadBalancer {
            id,
            created_on,
            modified_on: now,
            zone_id: zone_id.to_owned(),
            name,
            description: input.description.unwrap_or_default(),
            enabled: input.enabled.unwrap_or(true),
            proxied: input.proxied.unwrap_or(false),
            ttl,
            steering_policy,
            default_pools,
            fallback_pool,
            region_pools: input.region_pools.unwrap_or_default(),
            country_pools: input.country_pools.unwrap_or_default(),
            pop_pools: input.pop_pools.unwrap_or_default(),
            extra: input.extra,
        };
        let refs = lb.pool_refs();
        if let Some(missing) = refs.iter().find(|id| !self.pools.contains_key(*id)) {
            return Err(ApiError::lb_invalid(format!(
                "pool {missing} does not exist"
            )));
        }
        if lb.steering_policy == "proximity"
            && refs
                .iter()
                .any(|id| self.pools.get(id).is_some_and(|p| !p.has_coordinates()))
        {
            return Err(proximity_missing());
        }
        if lb.id.is_empty() {
            lb.id = self.new_id();
        }
        let answer = lb.to_api(&zone.name);
        self.load_balancers.insert(lb.id.clone(), lb);
        Ok(answer)
    }

    /// DELETE of a load balancer.
    pub fn delete_load_balancer(&mut self, zone_id: &str, lb_id: &str) -> Result<(), ApiError> {
        self.load_balancer(zone_id, lb_id)?;
        self.load_balancers.remove(lb_id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::state::{Account, Plan, ZoneSpec};

    fn state() -> (State, String) {
        let s = State::new(
            Account::default(),
            &[ZoneSpec::new("example.com", Plan::Free)],
        );
        let zid = s
            .zone_by_name("example.com")
            .map(|z| z.id.clone())
            .unwrap_or_default();
        (s, zid)
    }

    fn pool_body(name: &str) -> Value {
        json!({"name": name, "origins": [{"name": "b", "address": "192.0.2.2"}, {"name": "a", "address": "192.0.2.1"}]})
    }

    #[test]
    fn weights_step_by_hundredths() {
        assert!(valid_weight(0.0));
        assert!(valid_weight(0.33));
        assert!(valid_weight(1.0));
        assert!(!valid_weight(0.333));
        assert!(!valid_weight(1.01));
        assert!(!valid_weight(-0.01));
    }

    #[test]
    fn put_resets_and_patch_keeps() {
        let (mut s, _) = state();
        let mut body = pool_body("p");
        body["latitude"] = json!(50.1);
        body["longitude"] = json!(8.6);
        body["description"] = json!("keep me");
        let p = s.write_pool(None, &body, Write::Create).expect("create");
        assert_eq!(p.origins[0].name, "a");
        let patched = s
            .write_pool(Some(&p.id), &json!({"enabled": false}), Write::Merge)
            .expect("patch");
        assert_eq!(patched.description, "keep me");
        assert!(patched.disabled_at.is_some());
        let put = s
            .write_pool(Some(&p.id), &pool_body("p"), Write::Replace)
            .expect("put");
        assert_eq!(put.description, "");
        assert_eq!(put.latitude, None);
        assert!(put.enabled);
    }

    #[test]
    fn referenced_pool_cannot_go() {
        let (mut s, zid) = state();
        let p = s
            .write_pool(None, &pool_body("p"), Write::Create)
            .expect("pool");
        s.write_load_balancer(
            &zid,
            None,
            &json!({"name": "lb.example.com", "default_pools": [p.id], "fallback_pool": p.id}),
            Write::Create,
        )
        .expect("lb");
        let err = s.delete_pool(&p.id).expect_err("in use");
        assert_eq!((err.status, err.code()), (412, codes::LB_REFERENCED));
    }
}
