//! What the emulator stores: the account, plans and zones, and the `State` that holds them with
//! the maps of stored objects; ID generation, the zone operations and persistence (the `--state`
//! file). Imports only `common` and `objects`; the record and load-balancing operations on
//! `State` are in `dns` and `lb`. Nothing here knows about HTTP.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::common::{ApiError, Keyed, codes, now};
use super::objects::{DnsRecord, LoadBalancer, Monitor, Pool};

/// Cloudflare's own example account ID, used when no `--account-id` is given.
pub const DEFAULT_ACCOUNT_ID: &str = "023e105f4ecef8ad9ca31a8372d0c353";

/// A zone's plan; it sets the batch size limit and the comment length limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    /// Batches of at most 200 operations, record comments of at most 100 characters.
    #[default]
    Free,
    /// Batches of at most 3,500 operations, comments of at most 500 characters.
    Pro,
    /// The same limits as Pro.
    Business,
    /// The same limits as Pro.
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
    /// The plan that sets the zone's batch and comment limits; free when not given.
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
    /// The name in the `account` and `owner` objects of zone answers.
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
    /// Sets the batch size and comment length limits of the zone's records.
    #[serde(default)]
    pub plan: Plan,
    /// RFC 3339; also sent as `activated_on`.
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
    /// The one account; calls naming any other account id are refused with `403 9109`.
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
