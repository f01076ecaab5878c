//! The TXT ownership registry in external-dns's wire format: TXT names, label values, and which
//! (name, type) record sets of a zone belong to which owner. Pure.
//!
//! Encrypted registries (`--txt-encrypt-enabled`) are not supported: an encrypted value does not
//! parse, so its records are simply not ours.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::cloudflare::types::{DnsRecord, RecordType};

use super::zone::within;

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
/// End of an index chain.
const NONE: u32 = u32::MAX;

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
        Affixes::new(self)
            .endpoint_key(txt_name, zone)
            .map(|(n, t)| (n.into_owned(), t.map(RecordType::from)))
    }
}

/// The affixes of a [`TxtNaming`], lower-cased and expanded once per type, for reading many
/// TXT names.
struct Affixes {
    prefix: String,
    suffix: String,
    /// With `%{record_type}`: (type, prefix, suffix) per marked type, then the affixes with
    /// the template dropped (external-dns reads those as old format).
    typed: Vec<(&'static str, String, String)>,
    wildcard: String,
}

impl Affixes {
    fn new(n: &TxtNaming) -> Self {
        let prefix = n.prefix.to_ascii_lowercase();
        let suffix = n.suffix.to_ascii_lowercase();
        let typed = if n.type_in_affix() {
            MARKED_TYPES
                .iter()
                .map(|t| {
                    let l = t.to_ascii_lowercase();
                    (
                        *t,
                        prefix.replace(TYPE_TEMPLATE, &l),
                        suffix.replace(TYPE_TEMPLATE, &l),
                    )
                })
                .collect()
        } else {
            Vec::new()
        };
        let (prefix, suffix) = if typed.is_empty() {
            (prefix, suffix)
        } else {
            (
                prefix.replace(TYPE_TEMPLATE, ""),
                suffix.replace(TYPE_TEMPLATE, ""),
            )
        };
        Self {
            prefix,
            suffix,
            typed,
            wildcard: n.wildcard_replacement.to_ascii_lowercase(),
        }
    }

    /// [`TxtNaming::endpoint_name`], borrowing from `txt_name` where it can.
    fn endpoint_key<'n>(
        &self,
        txt_name: &'n str,
        zone: &str,
    ) -> Option<(Cow<'n, str>, Option<&'static str>)> {
        let name = txt_name.trim_end_matches('.');
        if name.bytes().any(|b| b.is_ascii_uppercase()) {
            let lower = name.to_ascii_lowercase();
            return self
                .endpoint_key_lower(&lower, zone)
                .map(|(n, t)| (Cow::Owned(n.into_owned()), t));
        }
        self.endpoint_key_lower(name, zone)
    }

    fn endpoint_key_lower<'n>(
        &self,
        lower: &'n str,
        zone: &str,
    ) -> Option<(Cow<'n, str>, Option<&'static str>)> {
        let typed = self.typed.iter().find_map(|(t, p, s)| {
            strip_affixes(lower, p, s).map(|(first, rest)| (first, rest, Some(*t)))
        });
        let (first, rest, t) = match typed {
            Some(found) => found,
            None => {
                let (first, rest) = strip_affixes(lower, &self.prefix, &self.suffix)?;
                let (t, first) = split_marker(first);
                (first, rest, t)
            }
        };
        if first.is_empty() {
            return None;
        }
        let zone = zone.trim_end_matches('.');
        if rest.is_some_and(|r| {
            !zone.is_empty() && first == APEX_LABEL && r.eq_ignore_ascii_case(zone)
        }) {
            return Some((Cow::Owned(zone.to_ascii_lowercase()), t));
        }
        let len = first.len() + rest.map_or(0, |r| r.len() + 1);
        // Usually the name is the tail of the TXT name (no suffix): borrow it when it equals
        // `first.rest` byte for byte.
        let tail = lower
            .len()
            .checked_sub(len)
            .and_then(|at| lower.get(at..))
            .filter(|tail| {
                tail.starts_with(first)
                    && rest
                        .is_none_or(|r| tail.as_bytes()[first.len()] == b'.' && tail.ends_with(r))
            });
        let name = match tail {
            Some(tail) => Cow::Borrowed(tail),
            None => Cow::Owned(join(first, rest)),
        };
        Some((name, t))
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
        if self.wildcard.is_empty() {
            return name;
        }
        match name.strip_prefix("*.") {
            Some(rest) => Cow::Owned(format!("{}.{rest}", self.wildcard)),
            None if name == "*" => Cow::Owned(self.wildcard.clone()),
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

/// The label text of TXT content: surrounding quotes dropped, several quoted strings (content
/// over 255 bytes) joined.
fn label_text(content: &str) -> Cow<'_, str> {
    let trimmed = content.trim();
    if trimmed.contains("\" \"") {
        Cow::Owned(trimmed.replace("\" \"", "").trim_matches('"').to_string())
    } else {
        Cow::Borrowed(trimmed.trim_matches('"'))
    }
}

/// Calls `f(key, value)` for each `external-dns/` label; `false` when the heritage is missing
/// or not external-dns.
fn scan_labels<'t>(text: &'t str, mut f: impl FnMut(&'t str, &'t str)) -> bool {
    let mut heritage = false;
    for token in text.split(',') {
        let Some((k, v)) = token.split_once('=') else {
            continue;
        };
        if k == "heritage" {
            if v != HERITAGE {
                return false;
            }
            heritage = true;
        } else if let Some(key) = k.strip_prefix(KEY_PREFIX) {
            f(key, v);
        }
    }
    heritage
}

/// Parses TXT content written by external-dns (`NewLabelsFromStringPlain`): surrounding quotes
/// optional (Cloudflare returns either form), tokens split on `,` and on their first `=`,
/// `heritage=external-dns` required, `external-dns/` keys kept. `None` for anything else,
/// which is then an ordinary TXT record.
pub fn parse(content: &str) -> Option<Labels> {
    let text = label_text(content);
    let mut labels = Labels::default();
    scan_labels(&text, |k, v| labels.set(k, v)).then_some(labels)
}

/// Owner and resource of an ownership TXT, without copying in the usual case.
fn parse_claim(content: &str) -> Option<(Cow<'_, str>, Cow<'_, str>)> {
    match label_text(content) {
        Cow::Borrowed(text) => {
            let (mut owner, mut resource) = ("", "");
            let ok = scan_labels(text, |k, v| match k {
                "owner" => owner = v,
                "resource" => resource = v,
                _ => {}
            });
            ok.then_some((Cow::Borrowed(owner), Cow::Borrowed(resource)))
        }
        Cow::Owned(_) => {
            let l = parse(content)?;
            Some((
                Cow::Owned(l.owner().to_string()),
                Cow::Owned(l.resource().to_string()),
            ))
        }
    }
}

/// Whether `r` is an external-dns ownership TXT (of any owner).
pub fn is_ownership_txt(r: &DnsRecord) -> bool {
    r.record_type == RecordType::Txt && scan_labels(&label_text(&r.content), |_, _| {})
}

/// One ownership TXT of the zone.
#[derive(Debug, Clone)]
pub struct OwnershipTxt<'a> {
    /// The TXT record.
    pub record: &'a DnsRecord,
    /// Its `owner` label (empty when absent).
    pub owner: Cow<'a, str>,
    /// Its `resource` label (empty when absent).
    pub resource: Cow<'a, str>,
    /// The record type it claims; `None` for the old format (every type but AAAA).
    pub claims: Option<RecordType>,
    /// Next TXT of the same endpoint name, by record id.
    next: u32,
}

impl OwnershipTxt<'_> {
    /// All its labels.
    pub fn labels(&self) -> Labels {
        parse(&self.record.content).unwrap_or_default()
    }
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
#[derive(Debug)]
pub struct Ownership<'a> {
    txts: Vec<OwnershipTxt<'a>>,
    /// Endpoint name → first of its TXTs in `txts` (chained through `next`).
    by_name: FastMap<Cow<'a, str>, u32>,
    affixes: Affixes,
}

impl std::fmt::Debug for Affixes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Affixes")
            .field("prefix", &self.prefix)
            .field("suffix", &self.suffix)
            .finish_non_exhaustive()
    }
}

impl<'a> Ownership<'a> {
    /// Reads the ownership TXTs among `records` (every record of `zone`).
    pub fn new(records: &'a [DnsRecord], naming: &TxtNaming, zone: &str) -> Self {
        let affixes = Affixes::new(naming);
        let n = records
            .iter()
            .filter(|r| r.record_type == RecordType::Txt)
            .count();
        let mut txts: Vec<OwnershipTxt<'a>> = Vec::with_capacity(n);
        let mut by_name: FastMap<Cow<'a, str>, u32> =
            FastMap::with_capacity_and_hasher(n, Default::default());
        for r in records {
            if r.record_type != RecordType::Txt {
                continue;
            }
            let Some((owner, resource)) = parse_claim(&r.content) else {
                continue;
            };
            let Some((name, claims)) = affixes.endpoint_key(&r.name, zone) else {
                continue;
            };
            let k = txts.len() as u32;
            txts.push(OwnershipTxt {
                record: r,
                owner,
                resource,
                claims: claims.map(RecordType::from),
                next: NONE,
            });
            let head = by_name.entry(name).or_insert(NONE);
            // Keep each chain sorted by record id, so "first" does not depend on input order.
            if *head == NONE || r.id < txts[*head as usize].record.id {
                txts[k as usize].next = *head;
                *head = k;
            } else {
                let mut at = *head as usize;
                while txts[at].next != NONE && txts[txts[at].next as usize].record.id <= r.id {
                    at = txts[at].next as usize;
                }
                txts[k as usize].next = txts[at].next;
                txts[at].next = k;
            }
        }
        Self {
            txts,
            by_name,
            affixes,
        }
    }

    /// Number of ownership TXTs read.
    pub fn txt_count(&self) -> usize {
        self.txts.len()
    }

    /// The ownership TXTs of one endpoint name (one lookup; use it for several questions).
    pub fn at(&self, name: &str) -> NameTxts<'_, 'a> {
        let key = self.affixes.lookup_key(name);
        NameTxts {
            txts: &self.txts,
            first: self.by_name.get(key.as_ref()).copied().unwrap_or(NONE),
        }
    }

    /// New-format TXTs claiming the `t` set at `name`.
    pub fn typed_txts<'o>(
        &'o self,
        name: &str,
        t: &'o RecordType,
    ) -> impl Iterator<Item = &'o OwnershipTxt<'a>> {
        self.at(name).typed(t)
    }

    /// Old-format TXTs of `name`.
    pub fn old_txts(&self, name: &str) -> impl Iterator<Item = &OwnershipTxt<'a>> {
        self.at(name).old()
    }

    /// The TXT that decides ownership of the `t` set at `name` (see [`NameTxts::of`]).
    pub fn of(&self, name: &str, t: &RecordType) -> Option<&OwnershipTxt<'a>> {
        self.at(name).of(t)
    }

    /// Who owns the `t` set at `name` (see [`NameTxts::owner`]).
    pub fn owner(&self, name: &str, t: &RecordType, owner_id: &str) -> Owner<'_> {
        self.at(name).owner(t, owner_id)
    }
}

/// The ownership TXTs of one endpoint name.
#[derive(Debug, Clone, Copy)]
pub struct NameTxts<'o, 'a> {
    txts: &'o [OwnershipTxt<'a>],
    first: u32,
}

impl<'o, 'a> NameTxts<'o, 'a> {
    /// All of them, by record id.
    pub fn iter(self) -> impl Iterator<Item = &'o OwnershipTxt<'a>> {
        let txts = self.txts;
        std::iter::successors((self.first != NONE).then_some(self.first), move |i| {
            let n = txts[*i as usize].next;
            (n != NONE).then_some(n)
        })
        .map(move |i| &txts[i as usize])
    }

    /// New-format TXTs claiming the `t` set.
    pub fn typed(self, t: &'o RecordType) -> impl Iterator<Item = &'o OwnershipTxt<'a>> {
        self.iter().filter(move |x| x.claims.as_ref() == Some(t))
    }

    /// Old-format TXTs.
    pub fn old(self) -> impl Iterator<Item = &'o OwnershipTxt<'a>> {
        self.iter().filter(|x| x.claims.is_none())
    }

    /// The TXT whose labels stand for the `t` set (the first deciding one by record id).
    pub fn of(self, t: &RecordType) -> Option<&'o OwnershipTxt<'a>> {
        let typed = self.iter().find(|x| x.claims.as_ref() == Some(t));
        if typed.is_some() || *t == RecordType::Aaaa {
            return typed;
        }
        self.old().next()
    }

    /// Who owns the `t` set, for `owner_id`: decided by the new-format TXTs of `t` when there
    /// are any, else by the old-format ones unless `t` is AAAA. Two deciding TXTs that
    /// disagree make it someone else's: a contested set is never touched.
    pub fn owner(self, t: &RecordType, owner_id: &str) -> Owner<'o> {
        let typed = self.iter().any(|x| x.claims.as_ref() == Some(t));
        if !typed && *t == RecordType::Aaaa {
            return Owner::Unowned;
        }
        let mut any = false;
        for x in self.iter() {
            let deciding = match &x.claims {
                Some(c) => typed && c == t,
                None => !typed,
            };
            if !deciding {
                continue;
            }
            if x.owner != owner_id {
                return Owner::Other(x.owner.as_ref());
            }
            any = true;
        }
        if any { Owner::Ours } else { Owner::Unowned }
    }
}

/// A small multiplicative hasher (the rustc-hash scheme): record names come from the zone's
/// own records, so flooding is not a concern, and SipHash dominated planning time.
#[derive(Default, Clone, Copy)]
pub(crate) struct FastHasher {
    hash: u64,
}

const SEED: u64 = 0xf135_7aea_2e62_a9c5;

impl FastHasher {
    fn add(&mut self, word: u64) {
        self.hash = self.hash.wrapping_add(word).wrapping_mul(SEED);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        // The multiply leaves the low bits weak; hashbrown indexes with them.
        self.hash.rotate_left(26)
    }
}

/// A `HashMap` with [`FastHasher`].
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

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
            tags: Box::default(),
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
        let of = own.of("app.example.com", &RecordType::A).unwrap();
        assert_eq!(
            (of.owner.as_ref(), of.resource.as_ref()),
            ("me", "ingress/a/b")
        );
        assert_eq!(of.labels(), Labels::new("me", "ingress/a/b"));
        assert_eq!(own.typed_txts("app.example.com", &RecordType::A).count(), 1);
        assert_eq!(own.old_txts("app.example.com").count(), 1);
        assert!(is_ownership_txt(&records[0]));
        assert!(!is_ownership_txt(&records[7]));
    }
}
