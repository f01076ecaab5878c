//! Zones and domain filters: the zone a plan is for ([`ZoneRef`]), which names the synchronizer
//! may see and touch and which zones they select ([`DomainFilter`]), and the label-boundary
//! suffix test both use ([`within`]). Pure, and imports nothing else from `records`: the
//! planner and the registry import it.
//!
//! Semantics follow external-dns's `endpoint.DomainFilter` with two deliberate, stricter changes:
//! - each regular expression replaces only its own list (`--regex-domain-filter` replaces
//!   `--domain-filter`, `--regex-domain-exclusion` replaces `--exclude-domains`); external-dns
//!   drops both lists as soon as either regex is set;
//! - with both regexes set a name must match the filter and not the exclusion; external-dns then
//!   ignores the filter regex (its code disagrees with its own comment).
//!
//! Both changes only ever manage fewer names than external-dns would.

use regex::Regex;

/// The zone a plan is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneRef {
    /// Zone id.
    pub id: String,
    /// Apex name, lower-case.
    pub name: String,
}

/// A domain filter that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    /// A regular expression does not compile.
    #[error("{flag}: invalid regular expression {pattern:?}: {error}")]
    InvalidRegex {
        /// The flag that carried it, e.g. `--regex-domain-filter`.
        flag: &'static str,
        /// The expression as given.
        pattern: String,
        /// The compiler's message.
        error: regex::Error,
    },
    /// A domain that has no punycode form.
    #[error("{flag}: {value:?} is not a valid domain")]
    InvalidDomain {
        /// The flag that carried it, e.g. `--domain-filter`.
        flag: &'static str,
        /// The entry as given.
        value: String,
    },
}

/// `--domain-filter`, `--exclude-domains`, `--regex-domain-filter`, `--regex-domain-exclusion`.
///
/// The default filter matches every name and selects every zone.
#[derive(Debug, Clone, Default)]
pub struct DomainFilter {
    /// Suffixes to include (empty = everything): lower-case, no trailing dot. A leading dot
    /// means "strict subdomains only".
    include: Vec<String>,
    /// Suffixes to exclude, same form.
    exclude: Vec<String>,
    /// Replaces `include` when set.
    include_regex: Option<Regex>,
    /// Replaces `exclude` when set.
    exclude_regex: Option<Regex>,
}

impl DomainFilter {
    /// Builds a filter from the four flags. Entries are trimmed, lower-cased, stripped of a
    /// trailing dot and converted to punycode (names are compared in that form, as Cloudflare
    /// stores them); empty entries and empty expressions are ignored.
    pub fn new(
        include: &[String],
        exclude: &[String],
        regex: Option<&str>,
        regex_exclusion: Option<&str>,
    ) -> Result<Self, FilterError> {
        Ok(Self {
            include: normalize_list("--domain-filter", include)?,
            exclude: normalize_list("--exclude-domains", exclude)?,
            include_regex: compile("--regex-domain-filter", regex)?,
            exclude_regex: compile("--regex-domain-exclusion", regex_exclusion)?,
        })
    }

    /// Whether `name` may be managed (case-insensitive, trailing dot ignored).
    pub fn matches(&self, name: &str) -> bool {
        if self.include.is_empty()
            && self.exclude.is_empty()
            && self.include_regex.is_none()
            && self.exclude_regex.is_none()
        {
            return true;
        }
        let name = name.trim_end_matches('.');
        let lowered;
        let name = if self.include_regex.is_some() || self.exclude_regex.is_some() {
            // Regexes see the lower-cased name, as in external-dns.
            lowered = name.to_ascii_lowercase();
            lowered.as_str()
        } else {
            name
        };
        let included = match &self.include_regex {
            Some(re) => re.is_match(name),
            None => self.include.is_empty() || self.include.iter().any(|f| suffix_match(f, name)),
        };
        if !included {
            return false;
        }
        match &self.exclude_regex {
            Some(re) => !re.is_match(name),
            None => !self.exclude.iter().any(|f| suffix_match(f, name)),
        }
    }

    /// Whether the zone with apex `zone` may hold names this filter matches: the zone is inside
    /// a filter entry, or is a parent of one (`--domain-filter=dev.example.com` selects zone
    /// `example.com`, which external-dns does not: #4796). A regex filter cannot be inverted, so
    /// it selects every zone; names are still filtered one by one.
    pub fn selects_zone(&self, zone: &str) -> bool {
        let zone = zone.trim_end_matches('.');
        // An excluded zone apex means every name below is excluded too (suffix semantics).
        if self.exclude_regex.is_none() && self.exclude.iter().any(|f| suffix_match(f, zone)) {
            return false;
        }
        if self.include_regex.is_some() || self.include.is_empty() {
            return true;
        }
        self.include.iter().any(|f| {
            let bare = f.strip_prefix('.').unwrap_or(f);
            within(zone, bare) || (bare.len() > zone.len() && within(bare, zone))
        })
    }

    /// The zone `name` belongs to: the longest zone apex that equals `name` or is a suffix of it
    /// on a label boundary. `None` when no zone fits or the filter does not match `name`.
    pub fn zone_for<'z>(&self, name: &str, zones: &'z [ZoneRef]) -> Option<&'z ZoneRef> {
        if !self.matches(name) {
            return None;
        }
        let name = name.trim_end_matches('.');
        zones
            .iter()
            .filter(|z| within(name, z.name.trim_end_matches('.')))
            .max_by_key(|z| z.name.trim_end_matches('.').len())
    }
}

fn normalize_list(flag: &'static str, entries: &[String]) -> Result<Vec<String>, FilterError> {
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        let n = e.trim().trim_end_matches('.').to_ascii_lowercase();
        if n.is_empty() || n == "." {
            continue;
        }
        if n.is_ascii() {
            out.push(n);
            continue;
        }
        let (dot, body) = match n.strip_prefix('.') {
            Some(b) => (".", b),
            None => ("", n.as_str()),
        };
        let ascii = idna::domain_to_ascii(body).map_err(|_| FilterError::InvalidDomain {
            flag,
            value: e.clone(),
        })?;
        out.push(format!("{dot}{ascii}"));
    }
    Ok(out)
}

fn compile(flag: &'static str, pattern: Option<&str>) -> Result<Option<Regex>, FilterError> {
    match pattern {
        None | Some("") => Ok(None),
        Some(p) => Regex::new(p)
            .map(Some)
            .map_err(|error| FilterError::InvalidRegex {
                flag,
                pattern: p.to_string(),
                error,
            }),
    }
}

/// external-dns's `matchFilter` for one entry: `.example.com` matches strict subdomains,
/// `example.com` matches itself and its subdomains.
fn suffix_match(filter: &str, name: &str) -> bool {
    if filter.starts_with('.') {
        ends_with_ci(name, filter)
    } else {
        within(name, filter)
    }
}

/// `name` equals `apex` or is below it, case-insensitively.
pub(crate) fn within(name: &str, apex: &str) -> bool {
    let (n, a) = (name.as_bytes(), apex.as_bytes());
    if n.len() == a.len() {
        return n.eq_ignore_ascii_case(a);
    }
    n.len() > a.len() && n[n.len() - a.len() - 1] == b'.' && ends_with_ci(name, apex)
}

fn ends_with_ci(name: &str, suffix: &str) -> bool {
    let (n, s) = (name.as_bytes(), suffix.as_bytes());
    n.len() >= s.len() && n[n.len() - s.len()..].eq_ignore_ascii_case(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(inc: &[&str], exc: &[&str]) -> DomainFilter {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        DomainFilter::new(&v(inc), &v(exc), None, None).unwrap()
    }

    #[test]
    fn list_matching() {
        // (include, exclude, name, expected)
        let cases: &[(&[&str], &[&str], &str, bool)] = &[
            (&[], &[], "anything.org", true),
            (&["example.com"], &[], "example.com", true),
            (&["example.com"], &[], "a.b.example.com.", true),
            (&["example.com"], &[], "APP.Example.COM", true),
            (&["example.com"], &[], "badexample.com", false),
            (&["example.com"], &[], "example.org", false),
            (&[".example.com"], &[], "example.com", false),
            (&[".example.com"], &[], "a.example.com", true),
            (&["Example.com."], &[], "x.example.com", true),
            (
                &["example.com"],
                &["internal.example.com"],
                "x.internal.example.com",
                false,
            ),
            (
                &["example.com"],
                &["internal.example.com"],
                "internal.example.com",
                false,
            ),
            (
                &["example.com"],
                &["internal.example.com"],
                "xinternal.example.com",
                true,
            ),
            (&[], &["example.com"], "a.example.com", false),
            (&[], &["example.com"], "a.example.org", true),
            (&["a.com", "b.com"], &[], "x.b.com", true),
        ];
        for (inc, exc, name, want) in cases {
            assert_eq!(f(inc, exc).matches(name), *want, "{inc:?} {exc:?} {name}");
        }
    }

    #[test]
    fn regex_matching_replaces_its_own_list() {
        let re = |inc: Option<&str>, exc: Option<&str>, list: &[&str]| {
            let l: Vec<String> = list.iter().map(|s| s.to_string()).collect();
            DomainFilter::new(&l, &[], inc, exc).unwrap()
        };
        let d = re(Some(r"^[a-z]+\.example\.com$"), None, &["other.org"]);
        assert!(d.matches("App.example.com."));
        assert!(!d.matches("a.b.example.com"));
        assert!(!d.matches("x.other.org"));
        let d = re(None, Some(r"^internal\."), &["example.com"]);
        assert!(d.matches("app.example.com"));
        assert!(!d.matches("internal.example.com"));
        assert!(!d.matches("app.example.org"), "list still applies");
        let d = re(Some(r"example\.com$"), Some(r"^internal\."), &[]);
        assert!(!d.matches("app.example.org"), "filter regex still applies");
        assert!(!d.matches("internal.example.com"));
        assert!(d.matches("app.example.com"));
    }

    #[test]
    fn internationalized_entries_become_punycode() {
        let d = f(&["Bücher.example"], &[".ünter.example"]);
        assert!(d.matches("shop.xn--bcher-kva.example"));
        assert!(!d.matches("a.xn--nter-1ra.example"));
        let e = DomainFilter::new(&["ü.xn--a".to_string()], &[], None, None).unwrap_err();
        assert!(e.to_string().starts_with("--domain-filter:"), "{e}");
    }

    #[test]
    fn invalid_regex_names_the_flag() {
        let e = DomainFilter::new(&[], &[], Some("("), None).unwrap_err();
        assert!(e.to_string().starts_with("--regex-domain-filter:"), "{e}");
        let e = DomainFilter::new(&[], &[], None, Some("[")).unwrap_err();
        assert!(
            e.to_string().starts_with("--regex-domain-exclusion:"),
            "{e}"
        );
        assert!(DomainFilter::new(&[], &[], Some(""), None).is_ok());
    }

    #[test]
    fn zone_selection_uses_parent_match() {
        let cases: &[(&[&str], &[&str], &str, bool)] = &[
            (&[], &[], "example.com", true),
            (&["dev.example.com"], &[], "example.com", true),
            (&["dev.example.com"], &[], "dev.example.com", true),
            (&["dev.example.com"], &[], "x.dev.example.com", true),
            (&["dev.example.com"], &[], "example.org", false),
            (&["dev.example.com"], &[], "other.example.com", false),
            (&["dev.example.com"], &[], "ample.com", false),
            (&[".example.com"], &[], "example.com", true),
            (&["example.com"], &["example.com"], "example.com", false),
            (&["example.com"], &[".example.com"], "example.com", true),
            (
                &["example.com"],
                &["sub.example.com"],
                "sub.example.com",
                false,
            ),
        ];
        for (inc, exc, zone, want) in cases {
            assert_eq!(
                f(inc, exc).selects_zone(zone),
                *want,
                "{inc:?} {exc:?} {zone}"
            );
        }
        let d = DomainFilter::new(&[], &[], Some(r"^app\."), None).unwrap();
        assert!(d.selects_zone("example.com"));
    }

    #[test]
    fn zone_for_takes_the_longest_suffix() {
        let z = |n: &str| ZoneRef {
            id: n.to_string(),
            name: n.to_string(),
        };
        let zones = [z("example.com"), z("sub.example.com"), z("ample.com")];
        let all = DomainFilter::default();
        let pick = |name: &str| all.zone_for(name, &zones).map(|z| z.id.as_str());
        assert_eq!(pick("a.sub.example.com"), Some("sub.example.com"));
        assert_eq!(pick("SUB.example.com."), Some("sub.example.com"));
        assert_eq!(pick("xsub.example.com"), Some("example.com"));
        assert_eq!(pick("example.com"), Some("example.com"));
        assert_eq!(pick("example.org"), None);
        let only = f(&["other.org"], &[]);
        assert_eq!(only.zone_for("a.example.com", &zones), None);
    }
}
