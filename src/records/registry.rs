//! The TXT ownership registry in external-dns's wire format: TXT names, label values, and which
//! (name, type) record sets of a zone belong to which owner. Pure.
//!
//! Encrypted registries (`--txt-encrypt-enabled`) are not supported: an encrypted value does not
//! parse, so its records are simply not ours.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::cloudflare::types::{DnsRecord, RecordType};

use super::filter::within;

const HERITAGE: &str = "external-dns";
const KEY_PREFIX: &str = "external-dns/";
const TYPE_TEMPLATE: &str = "%{record_type}";
/// external-dns never serializes the encryption nonce.
const NONCE_KEY: &str = "txt-encryption-nonce";
/// First label standing in for the zone apex in TXT names (see [`TxtNaming::txt_name`]).
const APEX_LABEL: &str = "_apex";
/// Types external-dns marks with `<type>-` (`supportedRecords`), longest first so that an affix
/// template without separator (`%{record_type}`) cannot read `aaaa…` as `a…`.
const MARKED_TYPES: [&str; 10] = [
    "CNAME", "NAPTR", "DNAME", "AAAA", "SRV", "PTR", "TXT", "NS", "MX", "A",
];

/// Ownership TXT naming.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TxtNaming {
    /// `--txt-prefix`.
    pub prefix: String,
    /// `--txt-suffix`.
    pub suffix: String,
    /// `--txt-wildcard-replacement`.
    pub wildcard_replacement: String,
}

impl TxtNaming {
    /// Naming from the three flags.
    pub fn new(
        prefix: impl Into<String>,
        suffix: impl Into<String>,
        wildcard_replacement: impl Into<String>,
    ) -> Self {
        Self {
            prefix: prefix.into(),
            suffix: suffix.into(),
            wildcard_replacement: wildcard_replacement.into(),
        }
    }

    fn type_in_affix(&self) -> bool {
        self.prefix.contains(TYPE_TEMPLATE) || self.suffix.contains(TYPE_TEMPLATE)
    }

    /// The new-format ownership TXT name of the `record_type` set at `name` in `zone`.
    ///
    /// This is external-dns's `AffixNameMapper.ToTXTName` (lower-cased), except at the apex:
    /// there external-dns yields a name outside the zone (`a-example.com` for zone
    /// `example.com`, external-dns #4720), which Cloudflare cannot hold, so the apex is never
    /// owned. When that happens cfgeo names the apex as if its first label were `_apex`
    /// (`a-_apex.example.com`, `k8s.a-_apex.example.com` with prefix `k8s.`). A name that is
    /// already inside the zone (prefix `k8s-%{record_type}.` gives `k8s-a.example.com`) is used
    /// unchanged, so zones written by external-dns with that workaround are read as they are.
    pub fn txt_name(&self, name: &str, record_type: &RecordType, zone: &str) -> String {
        let name = name.trim_end_matches('.');
        let zone = zone.trim_end_matches('.');
        let out = self.external_dns_name(name, record_type);
        if zone.is_empty() || within(&out, zone) || !name.eq_ignore_ascii_case(zone) {
            return out;
        }
        self.external_dns_name(&format!("{APEX_LABEL}.{zone}"), record_type)
    }

    fn external_dns_name(&self, name: &str, record_type: &RecordType) -> String {
        let t = record_type.as_str().to_ascii_lowercase();
        let (first, rest) = match name.split_once('.') {
            Some((f, r)) => (f, Some(r)),
            None => (name, None),
        };
        let first = if !self.wildcard_replacement.is_empty() && first == "*" {
            self.wildcard_replacement.as_str()
        } else {
            first
        };
        let marker = if self.type_in_affix() {
            String::new()
        } else {
            format!("{t}-")
        };
        let prefix = self.prefix.replace(TYPE_TEMPLATE, &t);
        let suffix = self.suffix.replace(TYPE_TEMPLATE, &t);
        let out = match rest {
            Some(r) => format!("{prefix}{marker}{first}{suffix}.{r}"),
            None => format!("{prefix}{marker}{first}{suffix}"),
        };
        out.to_ascii_lowercase()
    }

    /// The inverse of [`txt_name`](Self::txt_name): the endpoint name and record type a TXT
    /// name stands for, with affixes stripped case-insensitively. An old-format name (no type
    /// marker, external-dns ≤ v0.11) gives `None` as type. The `_apex` form gives the zone
    /// apex. A wildcard replacement cannot be undone: `a-wild.example.com` gives
    /// `wild.example.com`, and lookups apply the replacement to record names instead (as
    /// external-dns does). `None` when the name does not carry the affixes.
    pub fn endpoint_name(
        &self,
        txt_name: &str,
        zone: &str,
    ) -> Option<(String, Option<RecordType>)> {
        let lower = txt_name.trim_end_matches('.').to_ascii_lowercase();
        let prefix = self.prefix.to_ascii_lowercase();
        let suffix = self.suffix.to_ascii_lowercase();
        let (name, t) = if self.type_in_affix() {
            let typed = MARKED_TYPES.iter().find_map(|t| {
                let l = t.to_ascii_lowercase();
                let p = prefix.replace(TYPE_TEMPLATE, &l);
                let s = suffix.replace(TYPE_TEMPLATE, &l);
                strip_affixes(&lower, &p, &s).map(|(first, rest)| (join(first, rest), Some(*t)))
            });
            match typed {
                Some(found) => found,
                // external-dns reads names written with the template dropped as old format.
                None => {
                    let p = prefix.replace(TYPE_TEMPLATE, "");
                    let s = suffix.replace(TYPE_TEMPLATE, "");
                    let (first, rest) = strip_affixes(&lower, &p, &s)?;
                    let (t, first) = split_marker(first);
                    (join(first, rest), t)
                }
            }
        } else {
            let (first, rest) = strip_affixes(&lower, &prefix, &suffix)?;
            let (t, first) = split_marker(first);
            (join(first, rest), t)
        };
        if name.is_empty() || name.starts_with('.') {
            return None;
        }
        let zone = zone.trim_end_matches('.');
        let name = match name
            .strip_prefix(APEX_LABEL)
            .and_then(|r| r.strip_prefix('.'))
        {
            Some(r) if !zone.is_empty() && r.eq_ignore_ascii_case(zone) => {
                zone.to_ascii_lowercase()
            }
            _ => name,
        };
        Some((name, t.map(RecordType::from)))
    }

    /// The key ownership is looked up under: lower-case, trailing dot dropped, a leading `*`
    /// label replaced by the wildcard replacement (external-dns's `TXTRegistry.Records`).
    fn lookup_key<'n>(&self, name: &'n str) -> Cow<'n, str> {
        let name = name.trim_end_matches('.');
        let name: Cow<'n, str> = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(name.to_ascii_lowercase())
        } else {
            Cow::Borrowed(name)
        };
        if self.wildcard_replacement.is_empty() {
            return name;
        }
        match name.strip_prefix("*.") {
            Some(rest) => Cow::Owned(format!(
                "{}.{rest}",
                self.wildcard_replacement.to_ascii_lowercase()
            )),
            None if name == "*" => Cow::Owned(self.wildcard_replacement.to_ascii_lowercase()),
            None => name,
        }
    }
}

/// `prefix + first + suffix [+ "." + rest]` → (`first`, `rest`); the suffix sits at the end of
/// the first `1 + dots(suffix)` labels, as external-dns splits it.
fn strip_affixes<'n>(
    name: &'n str,
    prefix: &str,
    suffix: &str,
) -> Option<(&'n str, Option<&'n str>)> {
    let inner = name.strip_prefix(prefix)?;
    if suffix.is_empty() {
        return Some(match inner.split_once('.') {
            Some((f, r)) => (f, Some(r)),
            None => (inner, None),
        });
    }
    let dots = suffix.matches('.').count();
    let cut = inner.match_indices('.').nth(dots).map(|(i, _)| i)?;
    let head = inner[..cut].strip_suffix(suffix)?;
    Some((head, Some(&inner[cut + 1..])))
}

/// `<type>-first` → (type, first); no known marker → (None, first).
fn split_marker(first: &str) -> (Option<&'static str>, &str) {
    for t in MARKED_TYPES {
        let n = t.len();
        if first.len() > n + 1
            && first.as_bytes()[n] == b'-'
            && first.as_bytes()[..n].eq_ignore_ascii_case(t.as_bytes())
        {
            return (Some(t), &first[n + 1..]);
        }
    }
    (None, first)
}

fn join(first: &str, rest: Option<&str>) -> String {
    match rest {
        Some(r) => format!("{first}.{r}"),
        None => first.to_string(),
    }
}

/// The `external-dns/` labels of an ownership TXT, keys without the prefix, sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Labels {
    entries: Vec<(String, String)>,
}

impl Labels {
    /// Labels with an owner and a resource.
    pub fn new(owner: &str, resource: &str) -> Self {
        let mut l = Self::default();
        l.set("owner", owner);
        l.set("resource", resource);
        l
    }

    /// A label's value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .map(|i| self.entries[i].1.as_str())
    }

    /// Sets a label, keeping the keys sorted.
    pub fn set(&mut self, key: &str, value: &str) {
        match self.entries.binary_search_by(|(k, _)| k.as_str().cmp(key)) {
            Ok(i) => self.entries[i].1 = value.to_string(),
            Err(i) => self.entries.insert(i, (key.to_string(), value.to_string())),
        }
    }

    /// The `owner` label, empty when absent.
    pub fn owner(&self) -> &str {
        self.get("owner").unwrap_or("")
    }

    /// The `resource` label, empty when absent.
    pub fn resource(&self) -> &str {
        self.get("resource").unwrap_or("")
    }

    /// Labels in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The TXT content, quotes included: `"heritage=external-dns,external-dns/k=v,..."`.
    pub fn serialize(&self) -> String {
        let mut out = String::with_capacity(96);
        out.push('"');
        out.push_str("heritage=");
        out.push_str(HERITAGE);
        for (k, v) in &self.entries {
            if k == NONCE_KEY {
                continue;
            }
            out.push(',');
            out.push_str(KEY_PREFIX);
            out.push_str(k);
            out.push('=');
            out.push_str(v);
        }
        out.push('"');
        out
    }
}

/// The TXT content for `owner` and `resource`, with any other labels of `extra` kept:
/// `"heritage=external-dns,external-dns/owner=<o>,external-dns/resource=<r>"` (external-dns's
/// `Labels.SerializePlain(true)`: quotes included, keys sorted, heritage first).
pub fn serialize(owner: &str, resource: &str, extra: &Labels) -> String {
    let mut l = extra.clone();
    l.set("owner", owner);
    l.set("resource", resource);
    l.serialize()
}

/// Parses TXT content written by external-dns (`NewLabelsFromStringPlain`): surrounding quotes
/// optional (Cloudflare returns either form), tokens split on `,` and on their first `=`,
/// `heritage=external-dns` required, `external-dns/` keys kept. `None` for anything else,
/// which is then an ordinary TXT record.
pub fn parse(content: &str) -> Option<Labels> {
    let trimmed = content.trim();
    // Content over 255 bytes comes back as several quoted strings.
    let joined;
    let text = if trimmed.contains("\" \"") {
        joined = trimmed.replace("\" \"", "");
        joined.trim_matches('"')
    } else {
        trimmed.trim_matches('"')
    };
    let mut labels = Labels::default();
    let mut heritage = false;
    for token in text.split(',') {
        let Some((k, v)) = token.split_once('=') else {
            continue;
        };
        if k == "heritage" {
            if v != HERITAGE {
                return None;
            }
            heritage = true;
        } else if let Some(key) = k.strip_prefix(KEY_PREFIX) {
            labels.set(key, v);
        }
    }
    heritage.then_some(labels)
}

/// Whether `r` is an external-dns ownership TXT (of any owner).
pub fn is_ownership_txt(r: &DnsRecord) -> bool {
    r.record_type == RecordType::Txt && parse(&r.content).is_some()
}

/// One ownership TXT of the zone.
#[derive(Debug, Clone)]
pub struct OwnershipTxt<'a> {
    /// The TXT record.
    pub record: &'a DnsRecord,
    /// Its labels.
    pub labels: Labels,
    /// The record type it claims; `None` for the old format (every type but AAAA).
    pub claims: Option<RecordType>,
}

/// Who a record set belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner<'o> {
    /// No ownership TXT names it.
    Unowned,
    /// Ours, and nobody else claims it.
    Ours,
    /// Another owner claims it (also when our owner and another both do).
    Other(&'o str),
}

/// Who owns what in one zone, read from every ownership TXT as external-dns reads them: the
/// new-format TXT for (name, type) first, else (for every type but AAAA) the old-format TXT of
/// the name.
#[derive(Debug, Clone)]
pub struct Ownership<'a> {
    txts: Vec<OwnershipTxt<'a>>,
    /// Lookup key (see `TxtNaming::lookup_key`) → indices into `txts`, sorted by record id.
    by_name: HashMap<String, Vec<usize>>,
    naming: TxtNaming,
}

impl<'a> Ownership<'a> {
    /// Reads the ownership TXTs among `records` (every record of `zone`).
    pub fn new(records: &'a [DnsRecord], naming: &TxtNaming, zone: &str) -> Self {
        let mut txts = Vec::new();
        let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
        for r in records {
            if r.record_type != RecordType::Txt {
                continue;
            }
            let Some(labels) = parse(&r.content) else {
                continue;
            };
            let Some((name, claims)) = naming.endpoint_name(&r.name, zone) else {
                continue;
            };
            by_name.entry(name).or_default().push(txts.len());
            txts.push(OwnershipTxt {
                record: r,
                labels,
                claims,
            });
        }
        for list in by_name.values_mut().filter(|l| l.len() > 1) {
            list.sort_by(|a, b| txts[*a].record.id.cmp(&txts[*b].record.id));
        }
        Self {
            txts,
            by_name,
            naming: naming.clone(),
        }
    }

    /// Number of ownership TXTs read.
    pub fn txt_count(&self) -> usize {
        self.txts.len()
    }

    fn at(&self, name: &str) -> impl Iterator<Item = &OwnershipTxt<'a>> {
        let key = self.naming.lookup_key(name);
        self.by_name
            .get(key.as_ref())
            .into_iter()
            .flatten()
            .map(|i| &self.txts[*i])
    }

    /// New-format TXTs claiming the `t` set at `name`.
    pub fn typed_txts(
        &self,
        name: &str,
        t: &RecordType,
    ) -> impl Iterator<Item = &OwnershipTxt<'a>> {
        self.at(name).filter(move |x| x.claims.as_ref() == Some(t))
    }

    /// Old-format TXTs of `name`.
    pub fn old_txts(&self, name: &str) -> impl Iterator<Item = &OwnershipTxt<'a>> {
        self.at(name).filter(|x| x.claims.is_none())
    }

    /// The TXTs that decide ownership of the `t` set at `name`: the new-format ones when there
    /// are any, else the old-format ones unless `t` is AAAA.
    fn deciding(&self, name: &str, t: &RecordType) -> impl Iterator<Item = &OwnershipTxt<'a>> {
        let typed = self.typed_txts(name, t).next().is_some();
        let old_ok = !typed && *t != RecordType::Aaaa;
        self.at(name).filter(move |x| match &x.claims {
            Some(c) => typed && c == t,
            None => old_ok,
        })
    }

    /// The labels of the `t` set at `name` (the first deciding TXT by record id).
    pub fn of(&self, name: &str, t: &RecordType) -> Option<&Labels> {
        self.deciding(name, t).next().map(|x| &x.labels)
    }

    /// Who owns the `t` set at `name`, for `owner_id`. Two deciding TXTs that disagree make it
    /// someone else's: a contested set is never touched.
    pub fn owner(&self, name: &str, t: &RecordType, owner_id: &str) -> Owner<'_> {
        let mut any = false;
        for x in self.deciding(name, t) {
            if x.labels.owner() != owner_id {
                return Owner::Other(x.labels.owner());
            }
            any = true;
        }
        if any { Owner::Ours } else { Owner::Unowned }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txt(name: &str, content: &str) -> DnsRecord {
        DnsRecord {
            id: format!("id-{name}-{}", content.len()),
            name: name.to_string(),
            record_type: RecordType::Txt,
            content: content.to_string(),
            proxied: false,
            proxiable: Some(false),
            ttl: 1,
            comment: None,
            tags: vec![],
            priority: None,
        }
    }

    #[test]
    fn txt_names_follow_external_dns() {
        let z = "example.com";
        // (prefix, suffix, wildcard, name, type, expected)
        let cases: &[(&str, &str, &str, &str, RecordType, &str)] = &[
            (
                "",
                "",
                "",
                "app.example.com",
                RecordType::A,
                "a-app.example.com",
            ),
            (
                "",
                "",
                "",
                "app.example.com",
                RecordType::Aaaa,
                "aaaa-app.example.com",
            ),
            (
                "",
                "",
                "",
                "app.example.com",
                RecordType::Cname,
                "cname-app.example.com",
            ),
            (
                "",
                "",
                "",
                "_sip._udp.example.com",
                RecordType::Srv,
                "srv-_sip._udp.example.com",
            ),
            (
                "k8s.",
                "",
                "",
                "app.example.com",
                RecordType::A,
                "k8s.a-app.example.com",
            ),
            (
                "K8S.",
                "",
                "",
                "App.Example.com",
                RecordType::A,
                "k8s.a-app.example.com",
            ),
            (
                "k8s-%{record_type}.",
                "",
                "",
                "app.example.com",
                RecordType::A,
                "k8s-a.app.example.com",
            ),
            (
                "txt-%{record_type}.",
                "",
                "",
                "foo.test-zone.example.com",
                RecordType::A,
                "txt-a.foo.test-zone.example.com",
            ),
            (
                "prefix%{record_type}.",
                "",
                "",
                "new.example.com",
                RecordType::Cname,
                "prefixcname.new.example.com",
            ),
            (
                "",
                "-k8s",
                "",
                "app.example.com",
                RecordType::A,
                "a-app-k8s.example.com",
            ),
            (
                "",
                "-%{record_type}",
                "",
                "app.example.com",
                RecordType::A,
                "app-a.example.com",
            ),
            (
                "",
                ".k8s",
                "",
                "app.example.com",
                RecordType::A,
                "a-app.k8s.example.com",
            ),
            (
                "k8s.",
                "",
                "",
                "*.example.com",
                RecordType::A,
                "k8s.a-*.example.com",
            ),
            (
                "k8s.",
                "",
                "wild",
                "*.example.com",
                RecordType::A,
                "k8s.a-wild.example.com",
            ),
            (
                "txt-",
                "",
                "wild",
                "*.example.com",
                RecordType::A,
                "txt-a-wild.example.com",
            ),
            // Apex: external-dns's name is outside the zone, so `_apex` stands in.
            (
                "",
                "",
                "",
                "example.com",
                RecordType::A,
                "a-_apex.example.com",
            ),
            (
                "k8s.",
                "",
                "",
                "example.com",
                RecordType::A,
                "k8s.a-_apex.example.com",
            ),
            (
                "",
                "-k8s",
                "",
                "example.com",
                RecordType::Aaaa,
                "aaaa-_apex-k8s.example.com",
            ),
            // Apex with a prefix that already lands inside the zone: unchanged.
            (
                "k8s-%{record_type}.",
                "",
                "",
                "example.com",
                RecordType::A,
                "k8s-a.example.com",
            ),
            (
                "",
                "",
                "",
                "example.com.",
                RecordType::Cname,
                "cname-_apex.example.com",
            ),
        ];
        for (p, s, w, name, t, want) in cases {
            let n = TxtNaming::new(*p, *s, *w);
            assert_eq!(
                n.txt_name(name, t, z),
                *want,
                "{p:?} {s:?} {w:?} {name} {t}"
            );
        }
    }

    #[test]
    fn endpoint_names_invert_txt_names() {
        let z = "example.com";
        let namings = [
            TxtNaming::new("", "", ""),
            TxtNaming::new("k8s.", "", ""),
            TxtNaming::new("k8s-", "", ""),
            TxtNaming::new("k8s-%{record_type}.", "", ""),
            TxtNaming::new("%{record_type}", "", ""),
            TxtNaming::new("", "-k8s", ""),
            TxtNaming::new("", ".k8s", ""),
            TxtNaming::new("", "-%{record_type}", ""),
        ];
        let names = [
            "app.example.com",
            "a.b.example.com",
            "example.com",
            "_x._tcp.example.com",
        ];
        let types = [
            RecordType::A,
            RecordType::Aaaa,
            RecordType::Cname,
            RecordType::Mx,
            RecordType::Txt,
        ];
        for n in &namings {
            for name in names {
                for t in &types {
                    let txt = n.txt_name(name, t, z);
                    assert_eq!(
                        n.endpoint_name(&txt.to_ascii_uppercase(), z),
                        Some((name.to_string(), Some(t.clone()))),
                        "{n:?} {name} {t} via {txt}"
                    );
                }
            }
        }
    }

    #[test]
    fn endpoint_names_of_other_forms() {
        let z = "example.com";
        let none = TxtNaming::default();
        let k8s = TxtNaming::new("k8s.", "", "");
        let tpl = TxtNaming::new("k8s-%{record_type}.", "", "");
        let suf = TxtNaming::new("", "-k8s", "");
        let wild = TxtNaming::new("", "", "wild");
        type Want<'x> = Option<(&'x str, Option<RecordType>)>;
        let cases: &[(&TxtNaming, &str, Want)] = &[
            // Old format: the TXT at the record's own name (affixes applied), no type.
            (&none, "app.example.com", Some(("app.example.com", None))),
            (&none, "example.com", Some(("example.com", None))),
            (&k8s, "k8s.app.example.com", Some(("app.example.com", None))),
            (&suf, "app-k8s.example.com", Some(("app.example.com", None))),
            (
                &tpl,
                "k8s-.app.example.com",
                Some(("app.example.com", None)),
            ),
            (
                &none,
                "my-app.example.com",
                Some(("my-app.example.com", None)),
            ),
            // Affix missing.
            (&k8s, "app.example.com", None),
            (&suf, "app.example.com", None),
            // The wildcard replacement is not undone.
            (
                &wild,
                "a-wild.example.com",
                Some(("wild.example.com", Some(RecordType::A))),
            ),
            // Other marked types.
            (
                &none,
                "ptr-x.example.com",
                Some(("x.example.com", Some(RecordType::Other("PTR".into())))),
            ),
        ];
        for (n, txt, want) in cases {
            let want = want.clone().map(|(a, b)| (a.to_string(), b));
            assert_eq!(n.endpoint_name(txt, z), want, "{n:?} {txt}");
        }
    }

    #[test]
    fn labels_wire_format_round_trips() {
        let l = Labels::new("default", "ingress/default/app");
        let s = l.serialize();
        assert_eq!(
            s,
            "\"heritage=external-dns,external-dns/owner=default,external-dns/resource=ingress/default/app\""
        );
        assert_eq!(parse(&s), Some(l.clone()));
        // Cloudflare may return the content without quotes.
        assert_eq!(parse(s.trim_matches('"')), Some(l.clone()));
        // Keys sorted, heritage first, nonce dropped, extra labels kept.
        let mut extra = Labels::default();
        extra.set("zzz", "1");
        extra.set("aaa", "2");
        extra.set(NONCE_KEY, "abc");
        extra.set("owner", "old");
        assert_eq!(
            serialize("me", "crd/ns/x", &extra),
            "\"heritage=external-dns,external-dns/aaa=2,external-dns/owner=me,external-dns/resource=crd/ns/x,external-dns/zzz=1\""
        );
    }

    #[test]
    fn labels_parsing_rules() {
        let cases: &[(&str, Option<(&str, &str)>)] = &[
            (
                "\"heritage=external-dns,external-dns/owner=o,external-dns/resource=r\"",
                Some(("o", "r")),
            ),
            (
                "heritage=external-dns,external-dns/owner=o",
                Some(("o", "")),
            ),
            (
                "\"heritage=external-dns,external-dns/owner=o,external-dns/reso\" \"urce=r\"",
                Some(("o", "r")),
            ),
            (
                "\"external-dns/owner=o,heritage=external-dns,junk,x=y\"",
                Some(("o", "")),
            ),
            ("\"heritage=other,external-dns/owner=o\"", None),
            ("\"external-dns/owner=o\"", None),
            ("v=spf1 include:_spf.google.com ~all", None),
            // An encrypted value (base64 of AES-GCM) is not ours.
            ("\"c2VjcmV0IG5vbmNlIGFuZCBjaXBoZXJ0ZXh0Cg==\"", None),
            ("", None),
        ];
        for (content, want) in cases {
            let got = parse(content);
            assert_eq!(
                got.as_ref().map(|l| (l.owner(), l.resource())),
                *want,
                "{content}"
            );
        }
    }

    #[test]
    fn ownership_reads_new_then_old_format() {
        let z = "example.com";
        let mine =
            "\"heritage=external-dns,external-dns/owner=me,external-dns/resource=ingress/a/b\"";
        let theirs =
            "\"heritage=external-dns,external-dns/owner=them,external-dns/resource=ingress/c/d\"";
        let records = vec![
            txt("a-app.example.com", mine),
            txt("app.example.com", theirs), // old format, overridden by the new one for A
            txt("old.example.com", mine),   // old format only
            txt("cname-x.example.com", theirs),
            txt("a-_apex.example.com", mine),
            txt("a-both.example.com", mine),
            txt("a-both.example.com", theirs),
            txt("a-plain.example.com", "\"some verification\""),
            txt("a-wild.example.com", mine),
        ];
        let naming = TxtNaming::new("", "", "wild");
        let own = Ownership::new(&records, &naming, z);
        assert_eq!(own.txt_count(), 8);
        let cases: &[(&str, RecordType, Owner)] = &[
            ("app.example.com", RecordType::A, Owner::Ours),
            ("App.Example.com.", RecordType::A, Owner::Ours),
            ("app.example.com", RecordType::Cname, Owner::Other("them")),
            ("app.example.com", RecordType::Aaaa, Owner::Unowned),
            ("old.example.com", RecordType::A, Owner::Ours),
            ("old.example.com", RecordType::Mx, Owner::Ours),
            ("old.example.com", RecordType::Aaaa, Owner::Unowned),
            ("x.example.com", RecordType::Cname, Owner::Other("them")),
            ("example.com", RecordType::A, Owner::Ours),
            ("both.example.com", RecordType::A, Owner::Other("them")),
            ("plain.example.com", RecordType::A, Owner::Unowned),
            ("*.example.com", RecordType::A, Owner::Ours),
            ("nothing.example.com", RecordType::A, Owner::Unowned),
        ];
        for (name, t, want) in cases {
            assert_eq!(own.owner(name, t, "me"), *want, "{name} {t}");
        }
        assert_eq!(
            own.of("app.example.com", &RecordType::A)
                .unwrap()
                .resource(),
            "ingress/a/b"
        );
        assert_eq!(own.typed_txts("app.example.com", &RecordType::A).count(), 1);
        assert_eq!(own.old_txts("app.example.com").count(), 1);
        assert!(is_ownership_txt(&records[0]));
        assert!(!is_ownership_txt(&records[7]));
    }
}
