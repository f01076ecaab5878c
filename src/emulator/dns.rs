//! DNS records: Cloudflare's validation (names, content per type, TTL, proxying, CNAME
//! conflicts, duplicates), list filters and order, the all-or-nothing batch, and BIND export.
//! Pure functions on [`State`]; the stored [`DnsRecord`] itself is in `objects`.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::common::{ApiError, PageRequest, ResultInfo, codes, merge_patch, now, paginate};
use super::objects::{DnsRecord, proxiable};
use super::state::{State, Zone};

/// Record types the schema knows, plus OPENPGPKEY (newer API).
const TYPES: &[&str] = &[
    "A",
    "AAAA",
    "CAA",
    "CERT",
    "CNAME",
    "DNSKEY",
    "DS",
    "HTTPS",
    "LOC",
    "MX",
    "NAPTR",
    "NS",
    "OPENPGPKEY",
    "PTR",
    "SMIMEA",
    "SRV",
    "SSHFP",
    "SVCB",
    "TLSA",
    "TXT",
    "URI",
];

/// Types whose answer is built from `data` rather than `content`.
const DATA_TYPES: &[&str] = &[
    "CAA", "CERT", "DNSKEY", "DS", "HTTPS", "LOC", "NAPTR", "SMIMEA", "SRV", "SSHFP", "SVCB",
    "TLSA", "URI",
];

/// Fields a client may write; everything else in a body is ignored.
const WRITABLE: &[&str] = &[
    "type", "name", "content", "proxied", "ttl", "comment", "tags", "priority", "data", "settings",
];

const TXT_MAX: usize = 2048;

/// A request body, typed loosely so range errors get Cloudflare's codes rather than serde's.
#[derive(Debug, Default, Deserialize)]
struct RecordInput {
    #[serde(rename = "type")]
    record_type: Option<String>,
    name: Option<String>,
    content: Option<String>,
    proxied: Option<bool>,
    ttl: Option<f64>,
    comment: Option<String>,
    tags: Option<Vec<String>>,
    priority: Option<f64>,
    data: Option<Value>,
    settings: Option<Map<String, Value>>,
}

/// Whether a write creates or replaces (PUT/POST) or merges (PATCH).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteMode {
    /// Full object (POST, PUT): unsent fields take defaults.
    Replace,
    /// Merge into the stored record.
    Merge,
}

/// The four lists of a batch answer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchResult {
    /// Deleted records, as they were.
    pub deletes: Vec<Value>,
    /// Patched records.
    pub patches: Vec<Value>,
    /// Overwritten records.
    pub puts: Vec<Value>,
    /// Created records.
    pub posts: Vec<Value>,
}

impl State {
    /// `POST /zones/{z}/dns_records`.
    pub fn create_record(&mut self, zone_id: &str, body: &Value) -> Result<DnsRecord, ApiError> {
        let zone = self.zone(zone_id)?.clone();
        let mut record = build_record(&zone, None, body)?;
        self.check_conflicts(&record, None)?;
        record.id = self.new_id();
        self.records.insert(record.id.clone(), record.clone());
        Ok(record)
    }

    /// `PUT` (replace) or `PATCH` (merge) of one record.
    pub fn update_record(
        &mut self,
        zone_id: &str,
        record_id: &str,
        body: &Value,
        mode: WriteMode,
    ) -> Result<DnsRecord, ApiError> {
        let zone = self.zone(zone_id)?.clone();
        let existing = self.record(zone_id, record_id)?.clone();
        let input = match mode {
            WriteMode::Replace => body.clone(),
            WriteMode::Merge => {
                let mut base = existing.writable();
                merge_patch(&mut base, &only_writable(body));
                base
            }
        };
        let record = build_record(&zone, Some(&existing), &input)?;
        self.check_conflicts(&record, Some(record_id))?;
        self.records.insert(record.id.clone(), record.clone());
        Ok(record)
    }

    /// `DELETE`; returns the deleted record.
    pub fn delete_record(&mut self, zone_id: &str, record_id: &str) -> Result<DnsRecord, ApiError> {
        self.record(zone_id, record_id)?;
        self.records.remove(record_id).ok_or_else(record_not_found)
    }

    /// One record of a zone, or `404 81044`.
    pub fn record(&self, zone_id: &str, record_id: &str) -> Result<&DnsRecord, ApiError> {
        self.zone(zone_id)?;
        self.records
            .get(record_id)
            .filter(|r| r.zone_id == zone_id)
            .ok_or_else(record_not_found)
    }

    /// `GET /zones/{z}/dns_records` with Cloudflare's filters, order and paging.
    pub fn list_records(
        &self,
        zone_id: &str,
        query: &[(String, String)],
    ) -> Result<(Vec<Value>, ResultInfo), ApiError> {
        self.zone(zone_id)?;
        let filter = RecordFilter::from_query(query);
        let mut found: Vec<&DnsRecord> = self
            .records
            .values()
            .filter(|r| r.zone_id == zone_id && filter.matches(r))
            .collect();
        let key = |r: &DnsRecord| -> (String, String, String) {
            let primary = match filter.order.as_str() {
                "name" => r.name.clone(),
                "content" => r.content.clone(),
                "ttl" => format!("{:010}", r.ttl),
                "proxied" => r.proxied.to_string(),
                _ => r.record_type.clone(),
            };
            (primary, r.name.clone(), r.id.clone())
        };
        found.sort_by_key(|r| key(r));
        if filter.descending {
            found.reverse();
        }
        let req = PageRequest::from_query(query, 100, 1, 5_000_000);
        let (page, info) = paginate(found, req);
        Ok((page.into_iter().map(DnsRecord::to_api).collect(), info))
    }

    /// `POST /zones/{z}/dns_records/batch`: deletes, patches, puts, posts, in that order, on a copy
    /// of the state that replaces the real one only if every operation succeeded.
    pub fn batch_records(&mut self, zone_id: &str, body: &Value) -> Result<BatchResult, ApiError> {
        let zone = self.zone(zone_id)?.clone();
        let ops = |key: &str| -> Result<Vec<Value>, ApiError> {
            match body.get(key) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Array(items)) => Ok(items.clone()),
                Some(_) => Err(ApiError::dns_invalid(format!("{key} must be an array"))),
            }
        };
        let (deletes, patches, puts, posts) = (
            ops("deletes")?,
            ops("patches")?,
            ops("puts")?,
            ops("posts")?,
        );
        let total = deletes.len() + patches.len() + puts.len() + posts.len();
        let limit = zone.plan.batch_limit();
        if total > limit {
            return Err(ApiError::dns_invalid(format!(
                "Batch contains {total} operations, more than the {limit} allowed for a zone on the {} plan",
                zone.plan
            )));
        }
        let id_of = |op: &Value, at: &str| -> Result<String, ApiError> {
            op.get("id")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| ApiError::dns_invalid(format!("{at}: id is required")))
        };

        let mut scratch = self.clone();
        let mut result = BatchResult::default();
        for (i, op) in deletes.iter().enumerate() {
            let at = format!("deletes[{i}]");
            let id = id_of(op, &at)?;
            let gone = scratch
                .delete_record(zone_id, &id)
                .map_err(|e| e.prefixed(&at))?;
            result.deletes.push(gone.to_api());
        }
        for (i, op) in patches.iter().enumerate() {
            let at = format!("patches[{i}]");
            let id = id_of(op, &at)?;
            let rec = scratch
                .update_record(zone_id, &id, op, WriteMode::Merge)
                .map_err(|e| e.prefixed(&at))?;
            result.patches.push(rec.to_api());
        }
        for (i, op) in puts.iter().enumerate() {
            let at = format!("puts[{i}]");
            let id = id_of(op, &at)?;
            let rec = scratch
                .update_record(zone_id, &id, op, WriteMode::Replace)
                .map_err(|e| e.prefixed(&at))?;
            result.puts.push(rec.to_api());
        }
        for (i, op) in posts.iter().enumerate() {
            let at = format!("posts[{i}]");
            let rec = scratch
                .create_record(zone_id, op)
                .map_err(|e| e.prefixed(&at))?;
            result.posts.push(rec.to_api());
        }
        *self = scratch;
        Ok(result)
    }

    /// `GET /zones/{z}/dns_records/export`: a BIND zone file.
    pub fn export_records(&self, zone_id: &str) -> Result<String, ApiError> {
        let zone = self.zone(zone_id)?;
        let mut records: Vec<&DnsRecord> = self
            .records
            .values()
            .filter(|r| r.zone_id == zone_id)
            .collect();
        records.sort_by(|a, b| (&a.name, &a.record_type).cmp(&(&b.name, &b.record_type)));
        let mut out = format!(
            ";;\n;; Domain:     {0}.\n;; Exported:   {1}\n;;\n$ORIGIN {0}.\n@\t3600\tIN\tSOA\tada.ns.cloudflare.com. dns.cloudflare.com. 2000000000 10000 2400 604800 3600\n\n",
            zone.name,
            now()
        );
        for r in records {
            let content = match r.record_type.as_str() {
                "CNAME" | "NS" | "PTR" => format!("{}.", r.content),
                "MX" => format!("{} {}.", r.priority.unwrap_or(0), r.content),
                "TXT" if !r.content.starts_with('"') => {
                    format!("\"{}\"", r.content.replace('"', "\\\""))
                }
                _ => r.content.clone(),
            };
            let mut line = format!("{}.\t{}\tIN\t{}\t{}", r.name, r.ttl, r.record_type, content);
            let mut notes = Vec::new();
            if r.proxied {
                notes.push("cf_proxied:true".to_owned());
            }
            if !r.tags.is_empty() {
                notes.push(format!("cf_tags={}", r.tags.join(",")));
            }
            if let Some(c) = &r.comment {
                notes.push(c.clone());
            }
            if !notes.is_empty() {
                line.push_str(" ; ");
                line.push_str(&notes.join(" "));
            }
            out.push_str(&line);
            out.push('\n');
        }
        Ok(out)
    }

    /// Cloudflare's uniqueness rules, checked against the zone without `exclude` (the record being
    /// replaced).
    fn check_conflicts(&self, rec: &DnsRecord, exclude: Option<&str>) -> Result<(), ApiError> {
        let same_name = self.records.values().filter(|r| {
            r.zone_id == rec.zone_id && r.name == rec.name && Some(r.id.as_str()) != exclude
        });
        for other in same_name {
            if rec.record_type == "CNAME" {
                return Err(ApiError::bad_request(
                    codes::HOST_EXISTS,
                    "An A, AAAA, or CNAME record with that host already exists.",
                ));
            }
            if other.record_type == "CNAME" {
                return Err(ApiError::bad_request(
                    codes::CNAME_EXISTS,
                    "A CNAME record with that host already exists.",
                ));
            }
            if other.record_type == rec.record_type
                && other.content.eq_ignore_ascii_case(&rec.content)
                && other.data == rec.data
            {
                return Err(ApiError::bad_request(
                    codes::IDENTICAL_RECORD,
                    "An identical record already exists.",
                ));
            }
        }
        Ok(())
    }
}

fn record_not_found() -> ApiError {
    ApiError::new(404, codes::RECORD_NOT_FOUND, "Record does not exist.")
}

fn only_writable(body: &Value) -> Value {
    let mut out = Map::new();
    if let Value::Object(obj) = body {
        for key in WRITABLE {
            if let Some(v) = obj.get(*key) {
                out.insert((*key).to_owned(), v.clone());
            }
        }
    }
    Value::Object(out)
}

/// Validates a full record body against `zone` and builds the stored record. `existing` keeps ID
/// and timestamps on updates.
fn build_record(
    zone: &Zone,
    existing: Option<&DnsRecord>,
    body: &Value,
) -> Result<DnsRecord, ApiError> {
    let input: RecordInput = serde_json::from_value(only_writable(body))
        .map_err(|e| ApiError::dns_invalid(format!("DNS Validation Error: {e}")))?;

    let record_type = input
        .record_type
        .as_deref()
        .map(str::to_ascii_uppercase)
        .ok_or_else(|| ApiError::dns_invalid("DNS Validation Error: type is required"))?;
    if !TYPES.contains(&record_type.as_str()) {
        return Err(ApiError::dns_invalid(format!(
            "DNS Validation Error: unsupported record type {record_type:?}"
        )));
    }
    let raw_name = input
        .name
        .as_deref()
        .ok_or_else(|| ApiError::dns_invalid("DNS Validation Error: name is required"))?;
    let name = normalize_record_name(raw_name, zone)?;

    let is_data_type = DATA_TYPES.contains(&record_type.as_str());
    let content = match (input.content.as_deref(), &input.data) {
        (Some(c), _) => validate_content(&record_type, c)?,
        (None, Some(data)) if is_data_type => data_content(data),
        (None, _) => {
            return Err(ApiError::dns_invalid(
                "DNS Validation Error: content is required",
            ));
        }
    };

    let proxied = input.proxied.unwrap_or(false);
    if proxied && !proxiable(&record_type) {
        return Err(ApiError::bad_request(
            codes::NOT_PROXIABLE,
            "This record type cannot be proxied.",
        ));
    }

    let ttl = match input.ttl {
        None => 1,
        Some(t) if t == 1.0 || (t.fract() == 0.0 && (30.0..=86400.0).contains(&t)) => t as u32,
        Some(_) => {
            return Err(ApiError::bad_request(
                codes::BAD_TTL,
                "Invalid TTL. Must be between 30 and 86400 seconds, or 1 for Automatic.",
            ));
        }
    };
    // Proxied records are always answered with automatic TTL.
    let ttl = if proxied { 1 } else { ttl };

    let priority = match input.priority {
        Some(p) if p.fract() == 0.0 && (0.0..=65535.0).contains(&p) => Some(p as u16),
        Some(_) => {
            return Err(ApiError::dns_invalid(
                "DNS Validation Error: priority must be an integer in 0..=65535",
            ));
        }
        None if matches!(record_type.as_str(), "MX" | "URI") => {
            return Err(ApiError::dns_invalid(format!(
                "DNS Validation Error: priority is required for {record_type} records"
            )));
        }
        None => None,
    };

    let comment = input.comment.filter(|c| !c.is_empty());
    if let Some(c) = &comment {
        let limit = zone.plan.comment_limit();
        if c.chars().count() > limit {
            return Err(ApiError::dns_invalid(format!(
                "DNS Validation Error: comment is longer than {limit} characters"
            )));
        }
    }
    let tags = input.tags.unwrap_or_default();
    if let Some(bad) = tags.iter().find(|t| t.is_empty() || t.starts_with(':')) {
        return Err(ApiError::dns_invalid(format!(
            "DNS Validation Error: invalid tag {bad:?}; tags are name:value"
        )));
    }

    let now = now();
    let (id, created_on, old_comment, old_tags, comment_on, tags_on) = match existing {
        Some(e) => (
            e.id.clone(),
            e.created_on.clone(),
            e.comment.clone(),
            e.tags.clone(),
            e.comment_modified_on.clone(),
            e.tags_modified_on.clone(),
        ),
        None => (String::new(), now.clone(), None, Vec::new(), None, None),
    };
    let comment_modified_on = match &comment {
        None => None,
        Some(c) if Some(c) == old_comment.as_ref() => comment_on,
        Some(_) => Some(now.clone()),
    };
    let tags_modified_on = if tags.is_empty() {
        None
    } else if tags == old_tags {
        tags_on
    } else {
        Some(now.clone())
    };

    Ok(DnsRecord {
        id,
        zone_id: zone.id.clone(),
        name,
        record_type,
        content,
        proxied,
        ttl,
        comment,
        tags,
        priority,
        data: input.data.filter(|_| is_data_type),
        settings: input.settings.unwrap_or_default(),
        created_on,
        modified_on: now,
        comment_modified_on,
        tags_modified_on,
    })
}

/// Cloudflare's name rules: `@` is the apex, a single label is relative to the zone, anything
/// dotted must be the apex or below it (the emulator refuses rather than silently appending the
/// zone, so a client that picked the wrong zone fails loudly).
pub fn normalize_record_name(raw: &str, zone: &Zone) -> Result<String, ApiError> {
    let trimmed = raw.trim();
    let absolute = trimmed.ends_with('.');
    let name = trimmed.trim_end_matches('.').to_ascii_lowercase();
    if name.is_empty() {
        return Err(ApiError::dns_invalid("DNS Validation Error: name is empty"));
    }
    let fqdn = if name == "@" {
        zone.name.clone()
    } else if zone.contains(&name) {
        name
    } else if !absolute && !name.contains('.') {
        format!("{name}.{}", zone.name)
    } else {
        return Err(ApiError::dns_invalid(format!(
            "DNS Validation Error: record name {name} is not within zone {}",
            zone.name
        )));
    };
    let labels: Vec<&str> = fqdn.split('.').collect();
    let valid = fqdn.len() <= 253
        && labels.iter().enumerate().all(|(i, l)| {
            (i == 0 && *l == "*")
                || (!l.is_empty()
                    && l.len() <= 63
                    && l.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        });
    if !valid {
        return Err(ApiError::dns_invalid(format!(
            "DNS Validation Error: invalid record name {fqdn:?}"
        )));
    }
    Ok(fqdn)
}

fn is_hostname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn validate_content(record_type: &str, content: &str) -> Result<String, ApiError> {
    let content = content.trim();
    match record_type {
        "A" => content
            .parse::<Ipv4Addr>()
            .map(|ip| ip.to_string())
            .map_err(|_| {
                ApiError::bad_request(
                    codes::BAD_IPV4,
                    "Content for A record must be a valid IPv4 address.",
                )
            }),
        "AAAA" => content
            .parse::<Ipv6Addr>()
            .map(|ip| ip.to_string())
            .map_err(|_| {
                ApiError::bad_request(
                    codes::BAD_IPV6,
                    "Content for AAAA record must be a valid IPv6 address.",
                )
            }),
        "CNAME" | "MX" | "NS" | "PTR" => {
            let host = content.trim_end_matches('.');
            if is_hostname(host) {
                Ok(host.to_owned())
            } else {
                Err(ApiError::bad_request(
                    codes::BAD_HOSTNAME_CONTENT,
                    format!("Content for {record_type} record must be a valid hostname."),
                ))
            }
        }
        "TXT" if content.is_empty() || content.chars().count() > TXT_MAX => {
            Err(ApiError::dns_invalid(format!(
                "DNS Validation Error: TXT content must be 1 to {TXT_MAX} characters"
            )))
        }
        _ if content.is_empty() => Err(ApiError::dns_invalid(
            "DNS Validation Error: content is required",
        )),
        _ => Ok(content.to_owned()),
    }
}

/// Content shown for a record created from `data` only: the values in field order.
fn data_content(data: &Value) -> String {
    match data {
        Value::Object(fields) => fields
            .values()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    }
}

/// Text match of a filter value: exact, contains, starts with, ends with.
#[derive(Clone, Debug, PartialEq, Eq)]
enum TextMatch {
    Exact(String),
    Contains(String),
    StartsWith(String),
    EndsWith(String),
}

impl TextMatch {
    fn matches(&self, value: &str) -> bool {
        let value = value.to_ascii_lowercase();
        match self {
            TextMatch::Exact(f) => value == *f,
            TextMatch::Contains(f) => value.contains(f.as_str()),
            TextMatch::StartsWith(f) => value.starts_with(f.as_str()),
            TextMatch::EndsWith(f) => value.ends_with(f.as_str()),
        }
    }
}

/// The list filters Cloudflare documents for DNS records.
#[derive(Debug, Default)]
struct RecordFilter {
    types: Vec<String>,
    texts: Vec<(&'static str, TextMatch)>,
    proxied: Option<bool>,
    tag_checks: Vec<TagCheck>,
    comment_present: Option<bool>,
    any: bool,
    order: String,
    descending: bool,
}

#[derive(Debug)]
enum TagCheck {
    Exact(String),
    Present(String),
    Absent(String),
}

impl RecordFilter {
    fn from_query(query: &[(String, String)]) -> Self {
        let mut f = RecordFilter {
            order: "type".to_owned(),
            ..Self::default()
        };
        for (key, value) in query {
            let lower = value.trim_end_matches('.').to_ascii_lowercase();
            let (field, op) = key.split_once('.').unwrap_or((key.as_str(), "exact"));
            let text = |op: &str| match op {
                "contains" => Some(TextMatch::Contains(lower.clone())),
                "startswith" => Some(TextMatch::StartsWith(lower.clone())),
                "endswith" => Some(TextMatch::EndsWith(lower.clone())),
                "exact" => Some(TextMatch::Exact(lower.clone())),
                _ => None,
            };
            match (field, op) {
                ("type", _) => f.types.push(value.to_ascii_uppercase()),
                ("name", op) => f.texts.extend(text(op).map(|m| ("name", m))),
                ("content", op) => f.texts.extend(text(op).map(|m| ("content", m))),
                ("comment", "present") => f.comment_present = Some(true),
                ("comment", "absent") => f.comment_present = Some(false),
                ("comment", op) => f.texts.extend(text(op).map(|m| ("comment", m))),
                ("proxied", _) => f.proxied = value.parse().ok(),
                ("tag", "present") => f.tag_checks.push(TagCheck::Present(value.clone())),
                ("tag", "absent") => f.tag_checks.push(TagCheck::Absent(value.clone())),
                ("tag", _) => f.tag_checks.push(TagCheck::Exact(value.clone())),
                ("match", _) => f.any = value == "any",
                ("order", _) => f.order = value.clone(),
                ("direction", _) => f.descending = value.eq_ignore_ascii_case("desc"),
                _ => {}
            }
        }
        f
    }

    fn matches(&self, r: &DnsRecord) -> bool {
        let mut checks: Vec<bool> = Vec::new();
        if !self.types.is_empty() {
            checks.push(self.types.contains(&r.record_type));
        }
        for (field, m) in &self.texts {
            let value = match *field {
                "name" => r.name.as_str(),
                "content" => r.content.as_str(),
                _ => r.comment.as_deref().unwrap_or_default(),
            };
            checks.push(m.matches(value));
        }
        if let Some(p) = self.proxied {
            checks.push(r.proxied == p);
        }
        if let Some(present) = self.comment_present {
            checks.push(r.comment.is_some() == present);
        }
        let tag_names: BTreeSet<&str> = r
            .tags
            .iter()
            .map(|t| t.split_once(':').map_or(t.as_str(), |(n, _)| n))
            .collect();
        for check in &self.tag_checks {
            checks.push(match check {
                TagCheck::Exact(t) if t.contains(':') => r.tags.contains(t),
                TagCheck::Exact(t) | TagCheck::Present(t) => tag_names.contains(t.as_str()),
                TagCheck::Absent(t) => !tag_names.contains(t.as_str()),
            });
        }
        if checks.is_empty() {
            true
        } else if self.any {
            checks.iter().any(|c| *c)
        } else {
            checks.iter().all(|c| *c)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

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

    #[test]
    fn relative_names_expand_and_foreign_names_fail() {
        let (s, zid) = state();
        let zone = s.zone(&zid).cloned().expect("zone");
        assert_eq!(
            normalize_record_name("www", &zone).ok(),
            Some("www.example.com".into())
        );
        assert_eq!(
            normalize_record_name("@", &zone).ok(),
            Some("example.com".into())
        );
        assert_eq!(
            normalize_record_name("A.Example.com.", &zone).ok(),
            Some("a.example.com".into())
        );
        assert!(normalize_record_name("www.example.org", &zone).is_err());
        assert!(normalize_record_name("notexample.com", &zone).is_err());
    }

    #[test]
    fn type_switch_in_one_batch_succeeds_and_failure_rolls_back() {
        let (mut s, zid) = state();
        let a = s
            .create_record(
                &zid,
                &json!({"type": "A", "name": "x", "content": "192.0.2.1"}),
            )
            .expect("create");
        let before = s.clone();
        let bad = json!({"deletes": [{"id": a.id}], "posts": [{"type": "A", "name": "y", "content": "nope"}]});
        let err = s.batch_records(&zid, &bad).expect_err("must fail");
        assert_eq!(err.code(), codes::BAD_IPV4);
        assert!(err.errors[0].message.starts_with("posts[0]"));
        assert_eq!(s, before);
        let switch = json!({"deletes": [{"id": a.id}], "posts": [{"type": "CNAME", "name": "x", "content": "t.example.net"}]});
        let out = s.batch_records(&zid, &switch).expect("switch");
        assert_eq!(out.deletes.len(), 1);
        assert_eq!(out.posts[0]["type"], "CNAME");
    }
}
