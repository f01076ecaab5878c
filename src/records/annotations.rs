//! The annotations the record sources read, under both external-dns prefixes.
//!
//! external-dns v0.22 moved from `external-dns.alpha.kubernetes.io/` to
//! `external-dns.kubernetes.io/`; reading both at once lets users migrate without an outage.
//! Bad values become Warning notices naming the object and the key, and count as unset.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::model::validate_hostname;
use crate::model::{Notice, ObjectRef, Severity};

use super::endpoint::CfProps;

/// The prefix external-dns used up to v0.21.
pub const ALPHA_PREFIX: &str = "external-dns.alpha.kubernetes.io/";
/// The prefix external-dns uses since v0.22.
pub const PREFIX: &str = "external-dns.kubernetes.io/";
/// The only `controller` annotation value external-dns (and cfgeo) acts on.
pub const CONTROLLER_VALUE: &str = "dns-controller";
/// Legacy Ingress class annotation, read when `spec.ingressClassName` is empty.
pub const INGRESS_CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";

/// Both prefixes; the later one wins a conflict, so the current prefix beats the alpha one.
pub fn default_prefixes() -> Vec<String> {
    vec![ALPHA_PREFIX.to_string(), PREFIX.to_string()]
}

/// An annotation key without its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Key {
    /// `hostname`.
    Hostname,
    /// `internal-hostname`.
    InternalHostname,
    /// `target`.
    Target,
    /// `ttl`.
    Ttl,
    /// `cloudflare-proxied`.
    CloudflareProxied,
    /// `cloudflare-record-comment`.
    CloudflareRecordComment,
    /// `cloudflare-tags`.
    CloudflareTags,
    /// `controller`.
    Controller,
    /// `ingress-hostname-source`.
    IngressHostnameSource,
    /// `gateway-hostname-source`.
    GatewayHostnameSource,
}

impl Key {
    /// Every key.
    pub const ALL: [Key; 10] = [
        Key::Hostname,
        Key::InternalHostname,
        Key::Target,
        Key::Ttl,
        Key::CloudflareProxied,
        Key::CloudflareRecordComment,
        Key::CloudflareTags,
        Key::Controller,
        Key::IngressHostnameSource,
        Key::GatewayHostnameSource,
    ];

    /// The key after the prefix.
    pub fn suffix(self) -> &'static str {
        match self {
            Key::Hostname => "hostname",
            Key::InternalHostname => "internal-hostname",
            Key::Target => "target",
            Key::Ttl => "ttl",
            Key::CloudflareProxied => "cloudflare-proxied",
            Key::CloudflareRecordComment => "cloudflare-record-comment",
            Key::CloudflareTags => "cloudflare-tags",
            Key::Controller => "controller",
            Key::IngressHostnameSource => "ingress-hostname-source",
            Key::GatewayHostnameSource => "gateway-hostname-source",
        }
    }

    /// The key for a suffix.
    pub fn from_suffix(s: &str) -> Option<Key> {
        Key::ALL.into_iter().find(|k| k.suffix() == s)
    }

    /// The Cloudflare properties (what DNSEndpoints carry in `providerSpecific`).
    pub fn is_cloudflare(self) -> bool {
        matches!(
            self,
            Key::CloudflareProxied | Key::CloudflareRecordComment | Key::CloudflareTags
        )
    }
}

/// Which hostnames an Ingress or route publishes (`*-hostname-source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostnameSource {
    /// Spec hostnames and the `hostname` annotation (no annotation set).
    #[default]
    All,
    /// `defined-hosts-only`: spec hostnames only.
    DefinedHostsOnly,
    /// `annotation-only`: the `hostname` annotation only.
    AnnotationOnly,
}

/// An object's parsed annotations. Values that failed to parse are absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Annotations {
    /// `hostname`: valid names, lower-case, no trailing dot, in order, deduplicated.
    pub hostnames: Vec<String>,
    /// `internal-hostname`: as `hostnames`.
    pub internal_hostnames: Vec<String>,
    /// `target`: valid IPs (canonical) and hostnames; empty = derive from the object.
    pub targets: Vec<String>,
    /// `ttl` in seconds.
    pub ttl: Option<u32>,
    /// `cloudflare-*` properties.
    pub props: CfProps,
    /// `controller`, verbatim.
    pub controller: Option<String>,
    /// `ingress-hostname-source`.
    pub ingress_hostname_source: HostnameSource,
    /// `gateway-hostname-source`.
    pub gateway_hostname_source: HostnameSource,
}

fn warn(obj: &ObjectRef, reason: &str, message: String) -> Notice {
    Notice {
        object: obj.clone(),
        severity: Severity::Warning,
        reason: reason.into(),
        message,
    }
}

/// One value found for a key: where it came from (for messages) and the text.
struct Found<'a> {
    field: String,
    value: &'a str,
}

/// Picks the value among candidates in priority order (last wins); a disagreement is a notice.
fn resolve<'a>(
    cands: Vec<(String, &'a str)>,
    obj: &ObjectRef,
    notices: &mut Vec<Notice>,
) -> Option<Found<'a>> {
    let (field, value) = cands.last()?.clone();
    if cands.iter().any(|(_, v)| v.trim() != value.trim()) {
        let all: Vec<String> = cands.iter().map(|(f, v)| format!("{f}={v:?}")).collect();
        notices.push(warn(
            obj,
            "ConflictingAnnotations",
            format!(
                "{obj}: {} disagree; using {value:?} from {field}",
                all.join(" and ")
            ),
        ));
    }
    Some(Found { field, value })
}

/// The value of `key` under `prefixes` (later prefixes win, with a notice on disagreement).
/// Returns the full annotation key and the value.
pub fn lookup<'a>(
    annotations: &'a BTreeMap<String, String>,
    prefixes: &[String],
    key: Key,
    obj: &ObjectRef,
    notices: &mut Vec<Notice>,
) -> Option<(String, &'a str)> {
    let mut seen: Vec<&str> = Vec::new();
    let mut cands = Vec::new();
    for p in prefixes {
        // A prefix listed twice is one source, not a conflict.
        if seen.contains(&p.as_str()) {
            continue;
        }
        seen.push(p);
        let full = format!("{p}{}", key.suffix());
        if let Some(v) = annotations.get(&full) {
            cands.push((full, v.as_str()));
        }
    }
    resolve(cands, obj, notices).map(|f| (f.field, f.value))
}

/// Comma-separated list with every space removed and trailing dots stripped, as external-dns's
/// `SplitHostnameAnnotation`; empty items dropped.
pub fn split_list(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(|s| s.chars().filter(|c| !c.is_whitespace()).collect::<String>())
        .map(|s| s.trim_end_matches('.').to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// A Go `time.ParseDuration` string in nanoseconds (`10m`, `1h30m`, `1.5h`, `-90s`).
pub fn parse_go_duration(s: &str) -> Option<i128> {
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let int_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (int_part, after) = rest.split_at(int_end);
        rest = after;
        let mut frac_part = "";
        if let Some(after_dot) = rest.strip_prefix('.') {
            let end = after_dot
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(after_dot.len());
            frac_part = &after_dot[..end];
            rest = &after_dot[end..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return None;
        }
        let unit_end = rest
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (unit, after) = rest.split_at(unit_end);
        rest = after;
        let mult: i128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        // Go rejects values beyond int64 nanoseconds; 20 digits is already past that.
        if int_part.len() > 20 {
            return None;
        }
        let int: i128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().ok()?
        };
        let mut v = int.checked_mul(mult)?;
        let frac = &frac_part[..frac_part.len().min(18)];
        if !frac.is_empty() {
            let digits: i128 = frac.parse().ok()?;
            v += digits * mult / 10_i128.pow(frac.len() as u32);
        }
        total = total.checked_add(v)?;
        if total > i64::MAX as i128 {
            return None;
        }
    }
    Some(if neg { -total } else { total })
}

/// A TTL as external-dns reads it: Go duration first, then integer seconds; 1..=2^31-1.
pub fn parse_ttl(raw: &str) -> Result<u32, String> {
    let s = raw.trim();
    let secs: i128 = match parse_go_duration(s) {
        // Go truncates `Duration.Seconds()` toward zero.
        Some(ns) => ns / 1_000_000_000,
        None => s
            .parse::<i64>()
            .map(i128::from)
            .map_err(|_| format!("{raw:?} is not a number of seconds or a duration"))?,
    };
    if (1..=i32::MAX as i128).contains(&secs) {
        Ok(secs as u32)
    } else {
        Err(format!("{raw:?} is outside 1..={} seconds", i32::MAX))
    }
}

/// Go's `strconv.ParseBool`, which external-dns's Cloudflare provider uses for `proxied`.
pub fn parse_bool(raw: &str) -> Option<bool> {
    match raw.trim() {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Comma-separated tags, trimmed, sorted, deduplicated, empties dropped.
pub fn parse_tags(raw: &str) -> Vec<String> {
    let mut v: Vec<String> = raw
        .split(',')
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect();
    v.sort();
    v.dedup();
    v
}

/// A target value: canonical IP, or a valid hostname (lower-case, no trailing dot).
pub fn parse_target(field: &str, raw: &str) -> Result<String, String> {
    let t = raw.trim();
    if let Ok(ip) = t.parse::<IpAddr>() {
        return Ok(ip.to_string());
    }
    validate_hostname(field, t)
        .map_err(|e| format!("{e}; it is neither an IP address nor a hostname"))
}

/// A record name: valid hostname (optional leading `*.`), lower-case, no trailing dot, not an
/// IP address. The error names `field`.
pub fn parse_hostname(field: &str, raw: &str) -> Result<String, String> {
    if raw.trim().trim_end_matches('.').parse::<IpAddr>().is_ok() {
        return Err(format!("{field}: {raw:?} is an IP address, not a hostname"));
    }
    validate_hostname(field, raw).map_err(|e| e.to_string())
}

fn hostname_source(raw: &str) -> Option<HostnameSource> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "defined-hosts-only" => Some(HostnameSource::DefinedHostsOnly),
        "annotation-only" => Some(HostnameSource::AnnotationOnly),
        _ => None,
    }
}

impl Annotations {
    /// Reads every key. `None` when a `controller` annotation names another controller: the
    /// object is not ours and its other annotations are not read (nor complained about).
    pub fn read(
        annotations: &BTreeMap<String, String>,
        prefixes: &[String],
        obj: &ObjectRef,
        notices: &mut Vec<Notice>,
    ) -> Option<Self> {
        let a = Self::parse_keys(annotations, prefixes, &[Key::Controller], obj, notices);
        if let Some(c) = a.controller.as_deref()
            && c != CONTROLLER_VALUE
        {
            tracing::debug!(object = %obj, controller = c, "controller annotation names another controller; skipped");
            return None;
        }
        let rest: Vec<Key> = Key::ALL
            .into_iter()
            .filter(|k| *k != Key::Controller)
            .collect();
        let mut full = Self::parse_keys(annotations, prefixes, &rest, obj, notices);
        full.controller = a.controller;
        Some(full)
    }

    /// Reads only `keys` (a Gateway only lends its `target`).
    pub fn parse_keys(
        annotations: &BTreeMap<String, String>,
        prefixes: &[String],
        keys: &[Key],
        obj: &ObjectRef,
        notices: &mut Vec<Notice>,
    ) -> Self {
        let mut out = Self::default();
        for &key in keys {
            if let Some((full, value)) = lookup(annotations, prefixes, key, obj, notices) {
                out.apply(key, &format!("annotation {full}"), value, obj, notices);
            }
        }
        out
    }

    /// Cloudflare properties from a DNSEndpoint entry's `providerSpecific` list, whose names
    /// are `<prefix>cloudflare-…` under any of `prefixes` (plus both known prefixes) or the
    /// bare `cloudflare-…`. `field` names the list, e.g. `spec.endpoints[0].providerSpecific`.
    pub fn from_provider_specific(
        entries: &[(String, String)],
        field: &str,
        prefixes: &[String],
        obj: &ObjectRef,
        notices: &mut Vec<Notice>,
    ) -> CfProps {
        let mut all: Vec<&str> = prefixes.iter().map(String::as_str).collect();
        all.extend([ALPHA_PREFIX, PREFIX, ""]);
        let mut by_key: BTreeMap<Key, Vec<(String, &str)>> = BTreeMap::new();
        for (i, (name, value)) in entries.iter().enumerate() {
            let key = all
                .iter()
                .filter_map(|p| name.trim().strip_prefix(p))
                .find_map(Key::from_suffix)
                .filter(|k| k.is_cloudflare());
            if let Some(k) = key {
                by_key
                    .entry(k)
                    .or_default()
                    .push((format!("{field}[{i}] ({})", name.trim()), value.as_str()));
            }
        }
        let mut out = Self::default();
        for (key, cands) in by_key {
            if let Some(f) = resolve(cands, obj, notices) {
                out.apply(key, &f.field, f.value, obj, notices);
            }
        }
        out.props
    }

    /// Parses one value into `self`; `field` names where it came from in notices.
    fn apply(
        &mut self,
        key: Key,
        field: &str,
        value: &str,
        obj: &ObjectRef,
        notices: &mut Vec<Notice>,
    ) {
        let mut bad = |msg: String| {
            notices.push(warn(
                obj,
                "InvalidAnnotation",
                format!("{obj}: {field}: {msg}; it is ignored"),
            ))
        };
        match key {
            Key::Hostname | Key::InternalHostname => {
                let mut names = Vec::new();
                for h in split_list(value) {
                    match parse_hostname(field, &h) {
                        Ok(n) if !names.contains(&n) => names.push(n),
                        Ok(_) => {}
                        Err(e) => notices.push(warn(
                            obj,
                            "InvalidHostname",
                            format!("{obj}: {e}; this name is skipped"),
                        )),
                    }
                }
                if key == Key::Hostname {
                    self.hostnames = names;
                } else {
                    self.internal_hostnames = names;
                }
            }
            Key::Target => {
                let mut targets = Vec::new();
                for t in split_list(value) {
                    match parse_target(field, &t) {
                        Ok(t) if !targets.contains(&t) => targets.push(t),
                        Ok(_) => {}
                        Err(e) => notices.push(warn(
                            obj,
                            "InvalidTarget",
                            format!("{obj}: {e}; this target is skipped"),
                        )),
                    }
                }
                self.targets = targets;
            }
            Key::Ttl => match parse_ttl(value) {
                Ok(t) => self.ttl = Some(t),
                Err(m) => bad(m),
            },
            Key::CloudflareProxied => match parse_bool(value) {
                Some(b) => self.props.proxied = Some(b),
                None => bad(format!("{value:?} is not true or false")),
            },
            Key::CloudflareRecordComment => self.props.comment = Some(value.to_string()),
            Key::CloudflareTags => self.props.tags = parse_tags(value),
            Key::Controller => self.controller = Some(value.trim().to_string()),
            Key::IngressHostnameSource | Key::GatewayHostnameSource => {
                match hostname_source(value) {
                    Some(src) if key == Key::IngressHostnameSource => {
                        self.ingress_hostname_source = src
                    }
                    Some(src) => self.gateway_hostname_source = src,
                    None => bad(format!(
                        "{value:?} is not defined-hosts-only or annotation-only"
                    )),
                }
            }
        }
    }
}

/// Full keys of `cloudflare-*` metadata annotations under any of `prefixes` (or the known
/// prefixes): on a DNSEndpoint they do nothing, a classic external-dns pitfall (#2954).
pub fn cloudflare_metadata_keys(
    annotations: &BTreeMap<String, String>,
    prefixes: &[String],
) -> Vec<String> {
    let mut all: Vec<&str> = prefixes.iter().map(String::as_str).collect();
    all.extend([ALPHA_PREFIX, PREFIX]);
    annotations
        .keys()
        .filter(|k| {
            all.iter().any(|p| {
                k.strip_prefix(p)
                    .is_some_and(|s| s.starts_with("cloudflare-"))
            })
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj() -> ObjectRef {
        ObjectRef {
            kind: "Ingress".into(),
            namespace: "ns".into(),
            name: "web".into(),
            uid: None,
        }
    }

    fn map(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn read(kv: &[(&str, &str)]) -> (Option<Annotations>, Vec<String>) {
        let mut n = Vec::new();
        let a = Annotations::read(&map(kv), &default_prefixes(), &obj(), &mut n);
        (a, n.into_iter().map(|n| n.message).collect())
    }

    #[test]
    fn ttl_values() {
        for (raw, want) in [
            ("300", Ok(300)),
            ("+300", Ok(300)),
            ("10m", Ok(600)),
            ("1h30m", Ok(5400)),
            ("90s", Ok(90)),
            ("1.5h", Ok(5400)),
            ("1500ms", Ok(1)),
            ("2147483647", Ok(2_147_483_647)),
            (" 60 ", Ok(60)),
            ("0", Err(())),
            ("500ms", Err(())),
            ("-5", Err(())),
            ("-1m", Err(())),
            ("2147483648", Err(())),
            ("abc", Err(())),
            ("10", Ok(10)),
            ("10x", Err(())),
            ("", Err(())),
            (".s", Err(())),
        ] {
            assert_eq!(parse_ttl(raw).map_err(|_| ()), want, "{raw:?}");
        }
        assert_eq!(
            parse_ttl("abc"),
            Err("\"abc\" is not a number of seconds or a duration".into())
        );
    }

    #[test]
    fn lists_bools_and_tags() {
        assert_eq!(
            split_list(" a.example.com. , b .example.com,,"),
            ["a.example.com", "b.example.com"]
        );
        assert_eq!(parse_bool("True"), Some(true));
        assert_eq!(parse_bool("0"), Some(false));
        assert_eq!(parse_bool("yes"), None);
        assert_eq!(parse_tags(" b:2, a:1 ,b:2,,"), ["a:1", "b:2"]);
        assert_eq!(parse_go_duration("1h2m3s"), Some(3_723_000_000_000));
        assert_eq!(parse_go_duration("3"), None);
    }

    #[test]
    fn both_prefixes_are_read_at_once() {
        let (a, notices) = read(&[
            (
                "external-dns.alpha.kubernetes.io/hostname",
                "A.example.com.",
            ),
            ("external-dns.kubernetes.io/ttl", "60"),
            ("external-dns.kubernetes.io/cloudflare-proxied", "true"),
            (
                "external-dns.alpha.kubernetes.io/cloudflare-tags",
                "z:1,a:2",
            ),
            (
                "external-dns.alpha.kubernetes.io/cloudflare-record-comment",
                "hi",
            ),
            (
                "external-dns.kubernetes.io/target",
                "192.0.2.1, lb.example.com.",
            ),
        ]);
        assert_eq!(notices, Vec::<String>::new());
        assert_eq!(
            a,
            Some(Annotations {
                hostnames: vec!["a.example.com".into()],
                targets: vec!["192.0.2.1".into(), "lb.example.com".into()],
                ttl: Some(60),
                props: CfProps {
                    proxied: Some(true),
                    comment: Some("hi".into()),
                    tags: vec!["a:2".into(), "z:1".into()],
                },
                ..Default::default()
            })
        );
    }

    #[test]
    fn conflicting_prefixes_later_wins_with_a_warning() {
        let (a, notices) = read(&[
            ("external-dns.alpha.kubernetes.io/ttl", "60"),
            ("external-dns.kubernetes.io/ttl", "120"),
            ("external-dns.alpha.kubernetes.io/hostname", "a.example.com"),
            ("external-dns.kubernetes.io/hostname", "a.example.com"),
        ]);
        let a = a.expect("ours");
        assert_eq!(a.ttl, Some(120));
        assert_eq!(a.hostnames, ["a.example.com"]);
        assert_eq!(
            notices,
            [
                "Ingress ns/web: external-dns.alpha.kubernetes.io/ttl=\"60\" and \
                 external-dns.kubernetes.io/ttl=\"120\" disagree; using \"120\" from \
                 external-dns.kubernetes.io/ttl"
            ]
        );
        // Reversing the prefix order reverses the winner.
        let mut n = Vec::new();
        let prefixes = vec![PREFIX.to_string(), ALPHA_PREFIX.to_string()];
        let a = Annotations::read(
            &map(&[
                ("external-dns.alpha.kubernetes.io/ttl", "60"),
                ("external-dns.kubernetes.io/ttl", "120"),
            ]),
            &prefixes,
            &obj(),
            &mut n,
        );
        assert_eq!(a.and_then(|a| a.ttl), Some(60));
        assert_eq!(n.len(), 1);
    }

    #[test]
    fn bad_values_warn_and_count_as_unset() {
        let (a, notices) = read(&[
            ("external-dns.alpha.kubernetes.io/ttl", "abc"),
            ("external-dns.kubernetes.io/cloudflare-proxied", "maybe"),
            (
                "external-dns.kubernetes.io/hostname",
                "ok.example.com,bad_-.exa mple..com,1.2.3.4",
            ),
            (
                "external-dns.kubernetes.io/ingress-hostname-source",
                "everything",
            ),
        ]);
        let a = a.expect("ours");
        assert_eq!(a.ttl, None);
        assert_eq!(a.props.proxied, None);
        assert_eq!(a.hostnames, ["ok.example.com"]);
        assert_eq!(a.ingress_hostname_source, HostnameSource::All);
        assert_eq!(notices.len(), 5, "{notices:#?}");
        assert!(notices.contains(
            &"Ingress ns/web: annotation external-dns.alpha.kubernetes.io/ttl: \"abc\" is not a \
              number of seconds or a duration; it is ignored"
                .to_string()
        ));
        assert!(notices.iter().any(|m| m.contains(
            "annotation external-dns.kubernetes.io/cloudflare-proxied: \"maybe\" is not true or false"
        )));
        assert!(notices.iter().any(|m| m.contains(
            "annotation external-dns.kubernetes.io/hostname: \"1.2.3.4\" is an IP address"
        )));
        assert!(
            notices
                .iter()
                .any(|m| m.contains("external-dns.kubernetes.io/ingress-hostname-source"))
        );
    }

    #[test]
    fn controller_annotation() {
        for (value, ours) in [("dns-controller", true), ("other", false)] {
            let (a, notices) = read(&[
                ("external-dns.alpha.kubernetes.io/controller", value),
                ("external-dns.alpha.kubernetes.io/ttl", "bad"),
            ]);
            assert_eq!(a.is_some(), ours, "{value}");
            // A skipped object's other annotations are not complained about.
            assert_eq!(notices.len(), usize::from(ours), "{value}");
        }
    }

    #[test]
    fn provider_specific_names() {
        let entries: Vec<(String, String)> = [
            (
                "external-dns.alpha.kubernetes.io/cloudflare-proxied",
                "true",
            ),
            ("cloudflare-tags", "b,a"),
            ("external-dns.kubernetes.io/cloudflare-record-comment", "c"),
            ("aws/weight", "10"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let mut n = Vec::new();
        let p = Annotations::from_provider_specific(
            &entries,
            "spec.endpoints[0].providerSpecific",
            &default_prefixes(),
            &obj(),
            &mut n,
        );
        assert_eq!(
            p,
            CfProps {
                proxied: Some(true),
                comment: Some("c".into()),
                tags: vec!["a".into(), "b".into()],
            }
        );
        assert!(n.is_empty());
        let bad = vec![("cloudflare-proxied".to_string(), "nope".to_string())];
        let p = Annotations::from_provider_specific(
            &bad,
            "spec.endpoints[3].providerSpecific",
            &[],
            &obj(),
            &mut n,
        );
        assert_eq!(p.proxied, None);
        assert_eq!(
            n[0].message,
            "Ingress ns/web: spec.endpoints[3].providerSpecific[0] (cloudflare-proxied): \"nope\" \
             is not true or false; it is ignored"
        );
    }
}
