//! The emulator's in-memory model: account, zones and the entity maps, plus the shared pieces every
//! handler needs (IDs, timestamps, Cloudflare error values, paging, JSON merge, persistence).
//! Nothing here knows about HTTP.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::dns::DnsRecord;
use super::lb::{LoadBalancer, Monitor, Pool};

/// Cloudflare's own example account ID, used when no `--account-id` is given.
pub const DEFAULT_ACCOUNT_ID: &str = "023e105f4ecef8ad9ca31a8372d0c353";

/// Error codes the emulator answers with. Cloudflare publishes no complete table; these are the
/// codes seen in Cloudflare answers (see the module docs of `emulator` for sources and choices).
pub mod codes {
    /// `404` object (pool, monitor, load balancer) not found.
    pub const LB_NOT_FOUND: u32 = 1001;
    /// `400` load-balancing validation failure ("...: validation failed").
    pub const LB_VALIDATION: u32 = 1002;
    /// `400` a load balancer with that hostname already exists.
    pub const LB_NOT_UNIQUE: u32 = 1003;
    /// `412` a monitor reference that is not an ID (`monitor: ""`).
    pub const LB_BAD_MONITOR_REF: u32 = 1004;
    /// `412` the object is still referenced.
    pub const LB_REFERENCED: u32 = 1005;
    /// `400` DNS validation error (missing fields, names, priority, batch size, ...).
    pub const DNS_VALIDATION: u32 = 1004;
    /// `400` zone already exists (admin API only).
    pub const ZONE_EXISTS: u32 = 1061;
    /// `400` request headers invalid (malformed `Authorization`).
    pub const INVALID_HEADERS: u32 = 6003;
    /// Chained under 6003: the `Authorization` header is not `Bearer <token>`.
    pub const INVALID_AUTH_FORMAT: u32 = 6111;
    /// `400` the body is not JSON.
    pub const MALFORMED_JSON: u32 = 6007;
    /// `405` method not allowed for this route.
    pub const METHOD_NOT_ALLOWED: u32 = 7001;
    /// `404` no route, or an object identifier that does not resolve.
    pub const NO_ROUTE: u32 = 7003;
    /// `400` this record type cannot be proxied.
    pub const NOT_PROXIABLE: u32 = 9004;
    /// `400` A content is not an IPv4 address.
    pub const BAD_IPV4: u32 = 9005;
    /// `400` AAAA content is not an IPv6 address.
    pub const BAD_IPV6: u32 = 9006;
    /// `400` hostname content (CNAME, MX, NS, PTR) is invalid.
    pub const BAD_HOSTNAME_CONTENT: u32 = 9007;
    /// `400` TTL out of range.
    pub const BAD_TTL: u32 = 9021;
    /// `400` no credentials at all: missing `X-Auth-Email`.
    pub const MISSING_AUTH_EMAIL: u32 = 9106;
    /// `400` no credentials at all: missing `X-Auth-Key`.
    pub const MISSING_AUTH_KEY: u32 = 9107;
    /// `403` unknown token, or an account that is not ours.
    pub const INVALID_TOKEN: u32 = 9109;
    /// `403` legacy key authentication refused because tokens are restricted.
    pub const AUTH_ERROR: u32 = 10000;
    /// Injected 5xx faults.
    pub const INJECTED_FAULT: u32 = 10001;
    /// `429` rate limited.
    pub const RATE_LIMITED: u32 = 971;
    /// `404` DNS record not found.
    pub const RECORD_NOT_FOUND: u32 = 81044;
    /// `400` a record of the name exists and the new one is a CNAME.
    pub const HOST_EXISTS: u32 = 81053;
    /// `400` a CNAME of the name exists.
    pub const CNAME_EXISTS: u32 = 81054;
    /// `400` identical record (type, name, content) exists.
    pub const IDENTICAL_RECORD: u32 = 81058;
}

/// One entry of Cloudflare's `errors` or `messages` arrays.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiMessage {
    /// Cloudflare error code (>= 1000 per schema, except the rate limit's 971).
    pub code: u32,
    /// Human text.
    pub message: String,
    /// Nested causes, as Cloudflare sends for header errors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub error_chain: Vec<ApiMessage>,
}

/// A Cloudflare error answer: HTTP status plus the envelope's `errors`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("HTTP {status}: {}", .errors.iter().map(|e| format!("{} {}", e.code, e.message)).collect::<Vec<_>>().join("; "))]
pub struct ApiError {
    /// HTTP status code.
    pub status: u16,
    /// At least one error.
    pub errors: Vec<ApiMessage>,
}

impl ApiError {
    /// An error with one message.
    pub fn new(status: u16, code: u32, message: impl Into<String>) -> Self {
        Self {
            status,
            errors: vec![ApiMessage {
                code,
                message: message.into(),
                error_chain: Vec::new(),
            }],
        }
    }

    /// `400` with `code`.
    pub fn bad_request(code: u32, message: impl Into<String>) -> Self {
        Self::new(400, code, message)
    }

    /// `400 1002 "<message>: validation failed"`, the load-balancing API's validation shape.
    pub fn lb_invalid(message: impl fmt::Display) -> Self {
        Self::bad_request(
            codes::LB_VALIDATION,
            format!("{message}: validation failed"),
        )
    }

    /// `400 1004` DNS validation error.
    pub fn dns_invalid(message: impl Into<String>) -> Self {
        Self::bad_request(codes::DNS_VALIDATION, message)
    }

    /// `404` for an object identifier that does not resolve.
    pub fn no_route(path: &str) -> Self {
        Self::new(
            404,
            codes::NO_ROUTE,
            format!("Could not route to {path}, perhaps your object identifier is invalid?"),
        )
    }

    /// The first error code (tests and batch prefixes use it).
    pub fn code(&self) -> u32 {
        self.errors.first().map_or(0, |e| e.code)
    }

    /// Prefixes every message, e.g. with the failing batch operation.
    pub fn prefixed(mut self, prefix: &str) -> Self {
        for e in &mut self.errors {
            e.message = format!("{prefix}: {}", e.message);
        }
        self
    }
}

/// A zone's plan; it sets the batch size limit and the comment length limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    /// Free.
    #[default]
    Free,
    /// Pro.
    Pro,
    /// Business.
    Business,
    /// Enterprise.
    Enterprise,
}

impl Plan {
    /// Operations allowed in one `dns_records/batch` call.
    pub fn batch_limit(self) -> usize {
        match self {
            Plan::Free => 200,
            _ => 3500,
        }
    }

    /// Characters allowed in a DNS record comment.
    pub fn comment_limit(self) -> usize {
        match self {
            Plan::Free => 100,
            _ => 500,
        }
    }

    fn legacy_id(self) -> &'static str {
        match self {
            Plan::Free => "free",
            Plan::Pro => "pro",
            Plan::Business => "business",
            Plan::Enterprise => "enterprise",
        }
    }

    /// The `plan` object of a zone.
    pub fn to_api(self) -> Value {
        let (id, name, price) = match self {
            Plan::Free => ("0feeeeeeeeeeeeeeeeeeeeeeeeeeeeee", "Free Website", 0),
            Plan::Pro => ("94f3b7b768b0458b56d2cac4fe5ec0f9", "Pro Website", 20),
            Plan::Business => ("6ded1d7b6fd0e5ab6b1b6b5b4a4e5d40", "Business Website", 200),
            Plan::Enterprise => ("3d1e1b5a0b7f4c2b8e2f4a9d7c6b5a41", "Enterprise Website", 0),
        };
        json!({
            "id": id,
            "name": name,
            "price": price,
            "currency": "USD",
            "frequency": if self == Plan::Free { "" } else { "monthly" },
            "is_subscribed": self != Plan::Free,
            "can_subscribe": false,
            "legacy_id": self.legacy_id(),
            "legacy_discount": false,
            "externally_managed": false,
        })
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.legacy_id())
    }
}

impl FromStr for Plan {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "free" => Ok(Plan::Free),
            "pro" => Ok(Plan::Pro),
            "business" => Ok(Plan::Business),
            "enterprise" => Ok(Plan::Enterprise),
            other => Err(format!(
                "unknown plan {other:?}; valid: free, pro, business, enterprise"
            )),
        }
    }
}

/// A zone to create: `NAME[:plan]` on the command line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneSpec {
    /// Zone apex, e.g. `example.com`.
    pub name: String,
    /// Plan, default free.
    #[serde(default)]
    pub plan: Plan,
}

impl ZoneSpec {
    /// A zone on the given plan.
    pub fn new(name: impl Into<String>, plan: Plan) -> Self {
        Self {
            name: name.into(),
            plan,
        }
    }
}

impl FromStr for ZoneSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, plan) = match s.split_once(':') {
            Some((name, plan)) => (name, plan.parse()?),
            None => (s, Plan::Free),
        };
        let name = normalize_zone_name(name)?;
        Ok(Self { name, plan })
    }
}

/// Lowercases, strips a trailing dot and checks the zone name's shape.
pub fn normalize_zone_name(raw: &str) -> Result<String, String> {
    let name = raw.trim().trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = name.split('.').collect();
    let valid_label = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
    };
    if labels.len() < 2 || !labels.iter().all(valid_label) || name.len() > 253 {
        return Err(format!("invalid zone name {raw:?}"));
    }
    Ok(name)
}

/// The single account every zone, pool and monitor belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// 32 lowercase hex.
    pub id: String,
    /// Display name.
    pub name: String,
}

impl Default for Account {
    fn default() -> Self {
        Self {
            id: DEFAULT_ACCOUNT_ID.to_owned(),
            name: "cfgeo emulator account".to_owned(),
        }
    }
}

/// A zone (always `active`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Zone {
    /// 32 lowercase hex.
    pub id: String,
    /// Apex name, lowercase.
    pub name: String,
    /// Plan.
    #[serde(default)]
    pub plan: Plan,
    /// RFC 3339.
    pub created_on: String,
    /// RFC 3339.
    pub modified_on: String,
}

impl Zone {
    /// The zone object in the shape of the schema's `zones_zone`.
    pub fn to_api(&self, account: &Account) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "status": "active",
            "paused": false,
            "type": "full",
            "development_mode": 0,
            "name_servers": ["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"],
            "original_name_servers": null,
            "original_registrar": null,
            "original_dnshost": null,
            "vanity_name_servers": [],
            "created_on": self.created_on,
            "modified_on": self.modified_on,
            "activated_on": self.created_on,
            "meta": {
                "step": 2,
                "custom_certificate_quota": 0,
                "page_rule_quota": 3,
                "phishing_detected": false,
                "cdn_only": false,
                "dns_only": false,
                "foundation_dns": false,
            },
            "owner": {"id": account.id, "type": "organization", "name": account.name},
            "account": {"id": account.id, "name": account.name},
            "permissions": ["#dns_records:edit", "#dns_records:read", "#zone:read"],
            "plan": self.plan.to_api(),
        })
    }

    /// Whether `fqdn` (lowercase, no trailing dot) is the apex or below it.
    pub fn contains(&self, fqdn: &str) -> bool {
        fqdn == self.name
            || fqdn
                .strip_suffix(self.name.as_str())
                .is_some_and(|rest| rest.ends_with('.'))
    }
}

/// Everything the emulator stores. Serialized as the `--state` file and `GET /__emulator/state`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// The account.
    #[serde(default)]
    pub account: Account,
    /// Zones by ID.
    #[serde(default, with = "as_list")]
    pub zones: BTreeMap<String, Zone>,
    /// DNS records of all zones, by ID.
    #[serde(default, with = "as_list")]
    pub records: BTreeMap<String, DnsRecord>,
    /// Pools by ID.
    #[serde(default, with = "as_list")]
    pub pools: BTreeMap<String, Pool>,
    /// Monitors by ID.
    #[serde(default, with = "as_list")]
    pub monitors: BTreeMap<String, Monitor>,
    /// Load balancers of all zones, by ID.
    #[serde(default, with = "as_list")]
    pub load_balancers: BTreeMap<String, LoadBalancer>,
    /// Counter behind generated IDs.
    #[serde(default)]
    pub next_id: u64,
}

/// Something stored in a map keyed by its ID.
pub trait Keyed {
    /// The ID.
    fn key(&self) -> &str;
}

impl Keyed for Zone {
    fn key(&self) -> &str {
        &self.id
    }
}

/// Serializes `BTreeMap<id, T>` as a JSON list, so state files are easy to write by hand.
mod as_list {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::Keyed;

    pub fn serialize<S: Serializer, T: Serialize>(
        map: &BTreeMap<String, T>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.values())
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de> + Keyed>(
        d: D,
    ) -> Result<BTreeMap<String, T>, D::Error> {
        let items = Vec::<T>::deserialize(d)?;
        Ok(items
            .into_iter()
            .map(|item| (item.key().to_owned(), item))
            .collect())
    }
}

impl State {
    /// A fresh state with the given zones.
    pub fn new(account: Account, zones: &[ZoneSpec]) -> Self {
        let mut state = Self {
            account,
            ..Self::default()
        };
        for spec in zones {
            // Duplicate names in the configuration collapse into one zone.
            let _ = state.add_zone(spec);
        }
        state
    }

    /// A new ID: 32 lowercase hex, counter first so IDs sort by creation, deterministic per run.
    pub fn new_id(&mut self) -> String {
        loop {
            self.next_id += 1;
            let n = self.next_id;
            let id = format!(
                "{:08x}{:016x}{:08x}",
                n & 0xffff_ffff,
                splitmix64(n),
                splitmix64(n ^ 0x5bd1_e995) & 0xffff_ffff
            );
            if !self.id_in_use(&id) {
                return id;
            }
        }
    }

    fn id_in_use(&self, id: &str) -> bool {
        self.zones.contains_key(id)
            || self.records.contains_key(id)
            || self.pools.contains_key(id)
            || self.monitors.contains_key(id)
            || self.load_balancers.contains_key(id)
    }

    /// Adds a zone; `400 1061` if one of that name exists.
    pub fn add_zone(&mut self, spec: &ZoneSpec) -> Result<Zone, ApiError> {
        let name = normalize_zone_name(&spec.name)
            .map_err(|e| ApiError::bad_request(codes::DNS_VALIDATION, e))?;
        if self.zone_by_name(&name).is_some() {
            return Err(ApiError::bad_request(
                codes::ZONE_EXISTS,
                format!("{name} already exists"),
            ));
        }
        let now = now();
        let zone = Zone {
            id: self.new_id(),
            name,
            plan: spec.plan,
            created_on: now.clone(),
            modified_on: now,
        };
        self.zones.insert(zone.id.clone(), zone.clone());
        Ok(zone)
    }

    /// The zone of that apex name.
    pub fn zone_by_name(&self, name: &str) -> Option<&Zone> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        self.zones.values().find(|z| z.name == name)
    }

    /// The zone, or Cloudflare's `404 7003`.
    pub fn zone(&self, zone_id: &str) -> Result<&Zone, ApiError> {
        self.zones
            .get(zone_id)
            .ok_or_else(|| ApiError::no_route(&format!("/zones/{zone_id}")))
    }

    /// `403 9109` unless `account_id` is ours.
    pub fn check_account(&self, account_id: &str) -> Result<(), ApiError> {
        if account_id == self.account.id {
            Ok(())
        } else {
            Err(ApiError::new(
                403,
                codes::INVALID_TOKEN,
                "Unauthorized to access requested resource",
            ))
        }
    }

    /// Zones filtered as `GET /zones` does, sorted by name.
    pub fn list_zones(&self, query: &[(String, String)]) -> Vec<Value> {
        let mut zones: Vec<&Zone> = self
            .zones
            .values()
            .filter(|z| {
                query.iter().all(|(k, v)| match k.as_str() {
                    "name" => text_filter(&z.name, v),
                    "status" => v == "active",
                    "account.id" => *v == self.account.id,
                    "account.name" => text_filter(&self.account.name, v),
                    _ => true,
                })
            })
            .collect();
        zones.sort_by(|a, b| a.name.cmp(&b.name));
        if query
            .iter()
            .any(|(k, v)| k == "direction" && v.eq_ignore_ascii_case("desc"))
        {
            zones.reverse();
        }
        zones.iter().map(|z| z.to_api(&self.account)).collect()
    }

    /// Writes the state atomically: a temporary file next to `path`, then a rename.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let body = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = std::path::PathBuf::from(tmp);
        std::fs::write(&tmp, body)?;
        std::fs::rename(&tmp, path)
    }

    /// Reads a state file; `Ok(None)` if it does not exist.
    pub fn load(path: &Path) -> std::io::Result<Option<Self>> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(std::io::Error::other),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Zone name filters: exact, or Cloudflare's `contains:`, `starts_with:`, `ends_with:` forms.
fn text_filter(value: &str, filter: &str) -> bool {
    let value = value.to_ascii_lowercase();
    let filter = filter.to_ascii_lowercase();
    if let Some(f) = filter.strip_prefix("contains:") {
        value.contains(f)
    } else if let Some(f) = filter.strip_prefix("starts_with:") {
        value.starts_with(f)
    } else if let Some(f) = filter.strip_prefix("ends_with:") {
        value.ends_with(f)
    } else {
        value == filter
    }
}

fn splitmix64(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A stable, non-reversible 64-bit fingerprint (FNV-1a) used for tokens in logs and token IDs.
pub fn fingerprint(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Now, RFC 3339 with microseconds (what Cloudflare sends and Python's datetime parses).
pub fn now() -> String {
    format!("{:.6}", jiff::Timestamp::now())
}

/// RFC 7396 JSON merge patch: objects merge recursively, `null` removes a key, everything else
/// (arrays included) replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(target) = target {
        for (key, value) in patch {
            if value.is_null() {
                target.remove(key);
            } else {
                merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

/// `page` / `per_page` of a list call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRequest {
    /// 1-based page.
    pub page: usize,
    /// Items per page.
    pub per_page: usize,
}

impl PageRequest {
    /// Reads `page` and `per_page`, clamping `per_page` into `min..=max` as Cloudflare does.
    pub fn from_query(
        query: &[(String, String)],
        default_per_page: usize,
        min: usize,
        max: usize,
    ) -> Self {
        let number = |key: &str| {
            query
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .and_then(|(_, v)| v.parse::<f64>().ok())
                .filter(|v| v.is_finite() && *v >= 1.0)
                .map(|v| v as usize)
        };
        Self {
            page: number("page").unwrap_or(1),
            per_page: number("per_page")
                .unwrap_or(default_per_page)
                .clamp(min, max),
        }
    }
}

/// The `result_info` of a list answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultInfo {
    /// Page served.
    pub page: usize,
    /// Page size.
    pub per_page: usize,
    /// Items on this page.
    pub count: usize,
    /// Items on all pages.
    pub total_count: usize,
    /// Number of pages.
    pub total_pages: usize,
}

/// Cuts one page out of `items`; past the last page the page is empty (the SDK stops there).
pub fn paginate<T>(items: Vec<T>, req: PageRequest) -> (Vec<T>, ResultInfo) {
    let total = items.len();
    let page: Vec<T> = items
        .into_iter()
        .skip((req.page - 1).saturating_mul(req.per_page))
        .take(req.per_page)
        .collect();
    let info = ResultInfo {
        page: req.page,
        per_page: req.per_page,
        count: page.len(),
        total_count: total,
        total_pages: total.div_ceil(req.per_page),
    };
    (page, info)
}

/// Parses a request body as a JSON object (`400 6007` otherwise).
pub fn parse_object(body: &[u8]) -> Result<Value, ApiError> {
    let malformed = |detail: String| {
        ApiError::bad_request(
            codes::MALFORMED_JSON,
            format!("Malformed JSON in request body: {detail}"),
        )
    };
    let value: Value = serde_json::from_slice(body).map_err(|e| malformed(e.to_string()))?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(malformed("expected a JSON object".to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patch_follows_rfc7396() {
        let mut target = json!({"a": 1, "o": {"x": 1, "y": 2}, "arr": [1, 2], "gone": true});
        merge_patch(
            &mut target,
            &json!({"o": {"y": 3, "z": 4}, "arr": [9], "gone": null, "new": "n"}),
        );
        assert_eq!(
            target,
            json!({"a": 1, "o": {"x": 1, "y": 3, "z": 4}, "arr": [9], "new": "n"})
        );
    }

    #[test]
    fn paging_past_the_end_is_empty() {
        let req = PageRequest {
            page: 3,
            per_page: 2,
        };
        let (page, info) = paginate(vec![1, 2, 3, 4], req);
        assert!(page.is_empty());
        assert_eq!(info.total_pages, 2);
        assert_eq!(info.total_count, 4);
        let (page, info) = paginate(
            vec![1, 2, 3],
            PageRequest {
                page: 2,
                per_page: 2,
            },
        );
        assert_eq!(page, vec![3]);
        assert_eq!(info.count, 1);
    }

    #[test]
    fn ids_are_32_hex_and_unique() {
        let mut s = State::default();
        let a = s.new_id();
        let b = s.new_id();
        assert_ne!(a, b);
        for id in [a, b] {
            assert_eq!(id.len(), 32);
            assert!(
                id.bytes()
                    .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
            );
        }
    }

    #[test]
    fn zone_spec_parses_plan() {
        assert_eq!(
            "Example.COM.:pro".parse::<ZoneSpec>(),
            Ok(ZoneSpec::new("example.com", Plan::Pro))
        );
        assert!("example.com:gold".parse::<ZoneSpec>().is_err());
        assert!("localhost".parse::<ZoneSpec>().is_err());
    }

    #[test]
    fn timestamps_have_microseconds() {
        let ts = now();
        assert!(ts.ends_with('Z'));
        let frac = ts.rsplit('.').next().unwrap_or_default();
        assert_eq!(frac.len(), 7, "{ts}");
    }
}
