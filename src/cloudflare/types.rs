//! Cloudflare v4 wire types: the envelope and the objects cfgeo reads and writes.
//!
//! Fields cfgeo does not manage are kept optional and unknown enum values are preserved, so a
//! newer Cloudflare answer never fails to decode. Fields cfgeo computes writes from (an LB's
//! pools and proxied, a pool's origins and enabled, an origin's enabled and weight) have no
//! default: an answer without them is a decode error naming the field, never an empty value.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One `{code, message}` entry of `errors` or `messages`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiMessage {
    /// Cloudflare's numeric code (for example 1005 or 81053).
    #[serde(default)]
    pub code: i64,
    /// Cloudflare's message.
    #[serde(default)]
    pub message: String,
}

impl fmt::Display for ApiMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

/// Paging information of collection answers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultInfo {
    /// Current page, 1-based.
    #[serde(default)]
    pub page: u64,
    /// Page size.
    #[serde(default)]
    pub per_page: u64,
    /// Items on this page.
    #[serde(default)]
    pub count: u64,
    /// Items in all pages.
    #[serde(default)]
    pub total_count: u64,
    /// Number of pages, when Cloudflare sends it.
    #[serde(default)]
    pub total_pages: Option<u64>,
}

/// The v4 envelope around every answer.
#[derive(Debug, Clone, Deserialize)]
pub struct Envelope<T> {
    /// False means failure, even on HTTP 200.
    pub success: bool,
    /// Errors, at least one on failure.
    #[serde(default)]
    pub errors: Vec<ApiMessage>,
    /// Informational messages.
    #[serde(default)]
    pub messages: Vec<Value>,
    /// The payload, absent or null on failure.
    pub result: Option<T>,
    /// Paging information on collections.
    #[serde(default)]
    pub result_info: Option<ResultInfo>,
}

/// A string-backed enum that keeps values this build does not know.
macro_rules! open_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vm])* $var,)+
            /// A value this build does not know yet, kept verbatim.
            Other(String),
        }
        impl $name {
            /// The wire string.
            pub fn as_str(&self) -> &str {
                match self { $(Self::$var => $s,)+ Self::Other(s) => s }
            }
        }
        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                match s { $($s => Self::$var,)+ other => Self::Other(other.to_string()) }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }
        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> { s.serialize_str(self.as_str()) }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Ok(Self::from(s.as_str()))
            }
        }
    };
}

open_enum!(
    /// Load balancer steering policy.
    SteeringPolicy {
        /// Failover order only.
        Off = "off",
        /// Region and country maps.
        Geo = "geo",
        /// Weighted random.
        Random = "random",
        /// Lowest measured latency.
        DynamicLatency = "dynamic_latency",
        /// Closest pool by coordinates.
        Proximity = "proximity",
        /// Least outstanding requests.
        LeastOutstandingRequests = "least_outstanding_requests",
        /// Least connections.
        LeastConnections = "least_connections",
        /// Cloudflare's "decide for me" empty value.
        Unset = "",
    }
);

open_enum!(
    /// DNS record type.
    RecordType {
        /// IPv4 address.
        A = "A",
        /// IPv6 address.
        Aaaa = "AAAA",
        /// Canonical name.
        Cname = "CNAME",
        /// Text.
        Txt = "TXT",
        /// Mail exchanger.
        Mx = "MX",
        /// Name server.
        Ns = "NS",
        /// Service locator.
        Srv = "SRV",
        /// Certification authority authorisation.
        Caa = "CAA",
    }
);

impl RecordType {
    /// Whether Cloudflare can proxy this type.
    pub fn proxiable(&self) -> bool {
        matches!(self, Self::A | Self::Aaaa | Self::Cname)
    }
}

/// A zone.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Zone {
    /// Zone id.
    pub id: String,
    /// Apex name.
    pub name: String,
    /// Status, e.g. `active`.
    #[serde(default)]
    pub status: Option<String>,
    /// Owning account.
    #[serde(default)]
    pub account: Option<ZoneAccount>,
    /// Plan, which decides batch limits.
    #[serde(default)]
    pub plan: Option<ZonePlan>,
}

/// The account a zone belongs to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ZoneAccount {
    /// Account id.
    #[serde(default)]
    pub id: Option<String>,
    /// Account name.
    #[serde(default)]
    pub name: Option<String>,
}

/// A zone's plan.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ZonePlan {
    /// Plan id.
    #[serde(default)]
    pub id: Option<String>,
    /// Plan name, e.g. "Free Website".
    #[serde(default)]
    pub name: Option<String>,
    /// Legacy id such as `free`, `pro`, `business`, `enterprise`.
    #[serde(default)]
    pub legacy_id: Option<String>,
}

impl Zone {
    /// Batch operations allowed per transaction: 200 on Free, 3,500 on paid plans.
    pub fn batch_limit(&self) -> usize {
        let free = self.plan.as_ref().is_none_or(|p| {
            let legacy = p.legacy_id.as_deref().unwrap_or("");
            let name = p.name.as_deref().unwrap_or("").to_ascii_lowercase();
            legacy == "free" || (legacy.is_empty() && (name.is_empty() || name.contains("free")))
        });
        if free { 200 } else { 3500 }
    }
}

/// A DNS record as Cloudflare returns it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DnsRecord {
    /// Record id.
    pub id: String,
    /// Fully qualified name.
    pub name: String,
    /// Record type.
    #[serde(rename = "type")]
    pub record_type: RecordType,
    /// Content (address, target, text).
    #[serde(default)]
    pub content: String,
    /// Orange-clouded.
    #[serde(default)]
    pub proxied: bool,
    /// Whether the record can be proxied.
    #[serde(default)]
    pub proxiable: Option<bool>,
    /// TTL; 1 means automatic.
    #[serde(default = "auto_ttl")]
    pub ttl: u32,
    /// Free-text comment. Boxed, like `tags`: a zone's whole record list is kept in memory,
    /// and a box is 8 bytes smaller than a growable string or list.
    #[serde(default)]
    pub comment: Option<Box<str>>,
    /// `name:value` tags.
    #[serde(default)]
    pub tags: Box<[String]>,
    /// MX/SRV priority.
    #[serde(default)]
    pub priority: Option<u16>,
}

fn auto_ttl() -> u32 {
    1
}

/// The writable part of a DNS record (create, PUT, batch posts and puts).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DnsRecordInput {
    /// Fully qualified name.
    pub name: String,
    /// Record type.
    #[serde(rename = "type")]
    pub record_type: RecordType,
    /// Content.
    pub content: String,
    /// TTL; 1 means automatic.
    pub ttl: u32,
    /// Orange-clouded.
    pub proxied: bool,
    /// Comment; sent as given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Tags; sent as given.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub tags: Vec<String>,
    /// MX/SRV priority.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<u16>,
}

/// A batch item that names an existing record.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RecordId {
    /// Record id.
    pub id: String,
}

/// A PUT or PATCH inside a batch.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BatchUpdate {
    /// Record id.
    pub id: String,
    /// New values.
    #[serde(flatten)]
    pub record: DnsRecordInput,
}

/// `POST /zones/{id}/dns_records/batch` body. Cloudflare runs deletes, patches, puts, posts.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct BatchRequest {
    /// Records to delete.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub deletes: Vec<RecordId>,
    /// Partial updates.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub patches: Vec<BatchUpdate>,
    /// Full overwrites.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub puts: Vec<BatchUpdate>,
    /// Creations.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub posts: Vec<DnsRecordInput>,
}

impl BatchRequest {
    /// Number of operations, which Cloudflare limits per plan.
    pub fn len(&self) -> usize {
        self.deletes.len() + self.patches.len() + self.puts.len() + self.posts.len()
    }

    /// True when the batch has no operation.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Batch answer: the records touched by each kind of operation.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct BatchResult {
    /// Deleted records.
    #[serde(default)]
    pub deletes: Vec<DnsRecord>,
    /// Patched records.
    #[serde(default)]
    pub patches: Vec<DnsRecord>,
    /// Overwritten records.
    #[serde(default)]
    pub puts: Vec<DnsRecord>,
    /// Created records.
    #[serde(default)]
    pub posts: Vec<DnsRecord>,
}

/// An origin of a pool.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Origin {
    /// Unique within the pool.
    pub name: String,
    /// IP address or hostname.
    pub address: String,
    /// Disabled origins get no traffic. Required on read: cfgeo rewrites origins from it.
    pub enabled: bool,
    /// 0..1 in steps of 0.01. Required on read, like `enabled`.
    pub weight: f64,
    /// Optional Host header override, kept as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<Value>,
}

/// A load-balancer pool (account level).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Pool {
    /// Pool id.
    pub id: String,
    /// `[A-Za-z0-9_-]` name.
    pub name: String,
    /// Free text; cfgeo writes its ownership marker here.
    #[serde(default)]
    pub description: Option<String>,
    /// Disabling a pool fails its traffic over. Required on read, never guessed.
    pub enabled: bool,
    /// Origins, sorted by name by Cloudflare. Required: a missing list is not an empty pool.
    pub origins: Vec<Origin>,
    /// Latitude, set together with longitude.
    #[serde(default)]
    pub latitude: Option<f64>,
    /// Longitude.
    #[serde(default)]
    pub longitude: Option<f64>,
    /// Monitor id.
    #[serde(default)]
    pub monitor: Option<String>,
    /// Healthy origins required.
    #[serde(default)]
    pub minimum_origins: Option<u32>,
    /// Last change.
    #[serde(default)]
    pub modified_on: Option<String>,
}

/// Pool fields for create and PUT.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PoolInput {
    /// Name.
    pub name: String,
    /// Description (ownership marker).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Enabled.
    pub enabled: bool,
    /// Origins.
    pub origins: Vec<Origin>,
    /// Latitude.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latitude: Option<f64>,
    /// Longitude.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub longitude: Option<f64>,
    /// Monitor id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monitor: Option<String>,
    /// Healthy origins required.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum_origins: Option<u32>,
}

/// PATCH body for a pool: only the fields that are set are sent.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct PoolPatch {
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Enabled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Origins, sent whole.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origins: Option<Vec<Origin>>,
    /// Latitude.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latitude: Option<f64>,
    /// Longitude.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub longitude: Option<f64>,
    /// Monitor: `Some(None)` sends an explicit null to detach (an empty string is refused).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monitor: Option<Option<String>>,
}

impl Pool {
    /// Whether the pool can take traffic: enabled, with at least one enabled origin.
    pub fn serving(&self) -> bool {
        self.enabled && self.origins.iter().any(|o| o.enabled)
    }
}

impl PoolPatch {
    /// True when nothing would be sent.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// A health monitor (account level). Monitors have no name; cfgeo marks its own in `description`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Monitor {
    /// Monitor id.
    pub id: String,
    /// Description (ownership marker).
    #[serde(default)]
    pub description: Option<String>,
    /// Probe type: http, https, tcp...
    #[serde(rename = "type", default)]
    pub monitor_type: Option<String>,
    /// HTTP path.
    #[serde(default)]
    pub path: Option<String>,
    /// Expected codes, e.g. `2xx`.
    #[serde(default)]
    pub expected_codes: Option<String>,
    /// Seconds between probes.
    #[serde(default)]
    pub interval: Option<u32>,
    /// Probe timeout.
    #[serde(default)]
    pub timeout: Option<u32>,
    /// Retries.
    #[serde(default)]
    pub retries: Option<u32>,
    /// Port, 0 for the default.
    #[serde(default)]
    pub port: Option<u16>,
    /// Request headers, e.g. `Host` for an Ingress reached by IP.
    #[serde(default)]
    pub header: Option<BTreeMap<String, Vec<String>>>,
    /// https: skip certificate verification.
    #[serde(default)]
    pub allow_insecure: Option<bool>,
    /// Follow redirects instead of judging the 3xx.
    #[serde(default)]
    pub follow_redirects: Option<bool>,
    /// `GET`/`HEAD` for http(s), `connection_established` for tcp.
    #[serde(default)]
    pub method: Option<String>,
}

/// Monitor fields for create, PUT and PATCH.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct MonitorInput {
    /// Description (ownership marker).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Probe type.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub monitor_type: Option<String>,
    /// HTTP path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Expected codes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_codes: Option<String>,
    /// Interval seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<u32>,
    /// Timeout seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u32>,
    /// Retries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    /// Port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Request headers, header name to values (`{"Host": ["app.example.com"]}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<BTreeMap<String, Vec<String>>>,
    /// https: skip certificate verification.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_insecure: Option<bool>,
    /// Follow redirects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub follow_redirects: Option<bool>,
    /// HTTP method.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
}

/// A zone load balancer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LoadBalancer {
    /// LB id.
    pub id: String,
    /// The DNS hostname it answers.
    pub name: String,
    /// Pool ids in failover order. Required: a missing list must not read as empty, or the
    /// planner would write a shrunken one.
    pub default_pools: Vec<String>,
    /// Pool of last resort. Required, like `default_pools`.
    pub fallback_pool: String,
    /// Steering policy.
    #[serde(default)]
    pub steering_policy: Option<SteeringPolicy>,
    /// Orange-clouded. Required, like `default_pools`.
    pub proxied: bool,
    /// TTL when not proxied.
    #[serde(default)]
    pub ttl: Option<u32>,
    /// Enabled.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Region map, kept to know which pools it references.
    #[serde(default)]
    pub region_pools: Option<Value>,
    /// Country map.
    #[serde(default)]
    pub country_pools: Option<Value>,
    /// PoP map.
    #[serde(default)]
    pub pop_pools: Option<Value>,
}

/// LB fields for create and PUT.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LoadBalancerInput {
    /// Hostname.
    pub name: String,
    /// Pool ids.
    pub default_pools: Vec<String>,
    /// Fallback pool id.
    pub fallback_pool: String,
    /// Steering.
    pub steering_policy: SteeringPolicy,
    /// Proxied.
    pub proxied: bool,
    /// TTL (ignored by Cloudflare when proxied).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u32>,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// PATCH body for an LB: only managed fields, only when set.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct LoadBalancerPatch {
    /// Pool ids.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_pools: Option<Vec<String>>,
    /// Fallback pool id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_pool: Option<String>,
    /// Steering.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steering_policy: Option<SteeringPolicy>,
    /// Proxied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxied: Option<bool>,
}

impl LoadBalancerPatch {
    /// True when nothing would be sent.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// One entry of `GET …/pools/{id}/references`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Reference {
    /// `referrer`, `referral` or `*`.
    #[serde(default)]
    pub reference_type: Option<String>,
    /// Referencing object's id.
    #[serde(default)]
    pub resource_id: Option<String>,
    /// Its name.
    #[serde(default)]
    pub resource_name: Option<String>,
    /// `load_balancer`, `monitor`, ...
    #[serde(default)]
    pub resource_type: Option<String>,
}

/// `GET …/pools/{id}/health`: the pool's health as each Cloudflare PoP sees it. Every field is
/// optional: cfgeo only reports health, it never writes from it, and the shape has varied
/// between API versions.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PoolHealth {
    /// The pool's id.
    #[serde(default)]
    pub pool_id: Option<String>,
    /// Health by PoP name (`"Amsterdam, NL"`); empty when no monitor has reported yet.
    #[serde(default)]
    pub pop_health: BTreeMap<String, PopHealth>,
}

/// One PoP's view of a pool.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PopHealth {
    /// Whether the pool is healthy from this PoP.
    #[serde(default)]
    pub healthy: Option<bool>,
    /// One single-key map per origin: address to its health.
    #[serde(default)]
    pub origins: Vec<BTreeMap<String, OriginHealth>>,
}

/// One origin's health as a PoP sees it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct OriginHealth {
    /// Whether the origin passes its monitor.
    #[serde(default)]
    pub healthy: Option<bool>,
    /// Round-trip time, e.g. `12.1ms`.
    #[serde(default)]
    pub rtt: Option<String>,
    /// Why it failed, or `No failures`.
    #[serde(default)]
    pub failure_reason: Option<String>,
    /// HTTP status of the last probe.
    #[serde(default)]
    pub response_code: Option<u16>,
}

/// Token verification answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TokenStatus {
    /// Token id.
    #[serde(default)]
    pub id: Option<String>,
    /// `active`, `disabled`, `expired`.
    #[serde(default)]
    pub status: Option<String>,
}

/// `{id}` answers of deletes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Deleted {
    /// The deleted object's id.
    #[serde(default)]
    pub id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_steering_policy_is_kept() {
        let p: SteeringPolicy = serde_json::from_str("\"quantum\"").unwrap();
        assert_eq!(p, SteeringPolicy::Other("quantum".into()));
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"quantum\"");
        let p: SteeringPolicy = serde_json::from_str("\"proximity\"").unwrap();
        assert_eq!(p, SteeringPolicy::Proximity);
    }

    #[test]
    fn pool_patch_sends_only_set_fields_and_null_monitor() {
        let p = PoolPatch {
            monitor: Some(None),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            serde_json::json!({"monitor": null})
        );
        assert!(PoolPatch::default().is_empty());
    }

    /// Decodes like the client's `decode`: serde_path_to_error, the path before the message.
    fn decode_path<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, String> {
        serde_path_to_error::deserialize(v).map_err(|e| format!("{}: {}", e.path(), e.inner()))
    }

    fn lb_answer() -> Value {
        serde_json::json!({
            "id": "l", "name": "app.example.com", "default_pools": ["p1", "p2"],
            "fallback_pool": "p1", "proxied": true,
        })
    }

    fn pool_answer() -> Value {
        serde_json::json!({
            "id": "p", "name": "p", "enabled": true,
            "origins": [{"name": "o", "address": "192.0.2.1", "enabled": true, "weight": 0.5}],
        })
    }

    #[test]
    fn lb_answer_without_default_pools_is_an_error_naming_it() {
        assert!(decode_path::<LoadBalancer>(lb_answer()).is_ok());
        for field in ["default_pools", "fallback_pool", "proxied"] {
            let mut v = lb_answer();
            v.as_object_mut().unwrap().remove(field);
            let err = decode_path::<LoadBalancer>(v).expect_err(field);
            assert!(err.contains(field), "{field}: {err}");
        }
        let list = serde_json::json!([lb_answer(), {"id": "m", "name": "b.example.com", "fallback_pool": "p1", "proxied": false}]);
        let err = decode_path::<Vec<LoadBalancer>>(list).expect_err("second LB");
        assert!(err.contains("default_pools"), "{err}");
    }

    #[test]
    fn pool_and_origin_answers_need_the_fields_cfgeo_writes_from() {
        let p: Pool = decode_path(pool_answer()).unwrap();
        assert_eq!(p.origins[0].weight, 0.5);
        for field in ["origins", "enabled"] {
            let mut v = pool_answer();
            v.as_object_mut().unwrap().remove(field);
            let err = decode_path::<Pool>(v).expect_err(field);
            assert!(err.contains(field), "{field}: {err}");
        }
        for field in ["enabled", "weight"] {
            let mut v = pool_answer();
            v["origins"][0].as_object_mut().unwrap().remove(field);
            let err = decode_path::<Pool>(v).expect_err(field);
            assert!(
                err.contains("origins[0]") && err.contains(field),
                "{field}: {err}"
            );
        }
    }

    #[test]
    fn monitor_header_and_flags_round_trip() {
        let input = MonitorInput {
            monitor_type: Some("https".into()),
            expected_codes: Some("2xx".into()),
            header: Some(BTreeMap::from([(
                "Host".to_owned(),
                vec!["app.example.com".to_owned()],
            )])),
            allow_insecure: Some(true),
            follow_redirects: Some(false),
            method: Some("GET".into()),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&input).unwrap(),
            serde_json::json!({
                "type": "https", "expected_codes": "2xx", "header": {"Host": ["app.example.com"]},
                "allow_insecure": true, "follow_redirects": false, "method": "GET",
            })
        );
        assert_eq!(
            serde_json::to_value(MonitorInput::default()).unwrap(),
            serde_json::json!({})
        );
        let m: Monitor = decode_path(serde_json::json!({
            "id": "m", "type": "https", "header": {"Host": ["app.example.com"]},
            "allow_insecure": true, "follow_redirects": true, "method": "HEAD",
        }))
        .unwrap();
        assert_eq!(m.header, input.header);
        assert_eq!(
            (m.allow_insecure, m.follow_redirects, m.method.as_deref()),
            (Some(true), Some(true), Some("HEAD"))
        );
        let bare: Monitor = decode_path(serde_json::json!({"id": "m"})).unwrap();
        assert_eq!((bare.header, bare.allow_insecure), (None, None));
        let err = decode_path::<Monitor>(serde_json::json!({"id": "m", "header": {"Host": "a"}}))
            .expect_err("header values are lists");
        assert!(err.contains("header.Host"), "{err}");
    }

    #[test]
    fn pool_health_decodes_the_documented_example() {
        // The example of `load-balancing_health_details` in Cloudflare's OpenAPI document.
        let h: PoolHealth = decode_path(serde_json::json!({
            "pool_id": "17b5962d775c646f3f9725cbc7a53df4",
            "pop_health": {"Amsterdam, NL": {"healthy": true, "origins": [
                {"2001:DB8::5": {"failure_reason": "No failures", "healthy": true,
                                 "response_code": 401, "rtt": "12.1ms"}}
            ]}}
        }))
        .unwrap();
        let pop = &h.pop_health["Amsterdam, NL"];
        assert_eq!(pop.healthy, Some(true));
        assert_eq!(pop.origins[0]["2001:DB8::5"].response_code, Some(401));
        let empty: PoolHealth = decode_path(serde_json::json!({})).unwrap();
        assert!(empty.pop_health.is_empty());
    }

    #[test]
    fn batch_limit_follows_plan() {
        let mut z: Zone = serde_json::from_value(serde_json::json!({
            "id": "z", "name": "example.com", "plan": {"legacy_id": "free", "name": "Free Website"}
        }))
        .unwrap();
        assert_eq!(z.batch_limit(), 200);
        z.plan = Some(ZonePlan {
            id: None,
            name: Some("Pro Website".into()),
            legacy_id: Some("pro".into()),
        });
        assert_eq!(z.batch_limit(), 3500);
    }
}
