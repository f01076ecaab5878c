//! Regions, pool names, weights and hostname checks.

use std::fmt;

/// Why a name or value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// A value outside its allowed set.
    #[error("{field}: {message}")]
    Invalid {
        /// The field or variable at fault.
        field: String,
        /// What is wrong and what is allowed.
        message: String,
    },
}

fn invalid(field: &str, message: impl Into<String>) -> NameError {
    NameError::Invalid {
        field: field.to_string(),
        message: message.into(),
    }
}

/// A region with the coordinates its pool advertises for proximity steering.
#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    /// Name used in pool names, e.g. `eu`.
    pub name: String,
    /// Latitude, -90..90.
    pub latitude: f64,
    /// Longitude, -180..180.
    pub longitude: f64,
}

/// The seed tool's regions and coordinates, kept exact.
pub const BUILTIN_REGIONS: [(&str, f64, f64); 4] = [
    ("eu", 50.1109, 8.6821),
    ("us_east", 40.7128, -74.0060),
    ("us_west", 34.0522, -118.2437),
    ("asia", 35.6762, 139.6503),
];

impl Region {
    /// Resolves `GEO_LOCATION`, with `GEO_LATITUDE`/`GEO_LONGITUDE` overriding or defining it.
    pub fn resolve(name: &str, lat: Option<f64>, lon: Option<f64>) -> Result<Self, NameError> {
        let name = name.trim();
        let valid_list = BUILTIN_REGIONS.map(|r| r.0).join(", ");
        if name.is_empty() {
            return Err(invalid(
                "GEO_LOCATION",
                format!("is required; valid values: {valid_list}"),
            ));
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(invalid(
                "GEO_LOCATION",
                format!("{name:?} may only contain letters, digits, '_' and '-'"),
            ));
        }
        let builtin = BUILTIN_REGIONS.iter().find(|r| r.0 == name);
        let (latitude, longitude) = match (lat, lon, builtin) {
            (Some(a), Some(o), _) => (a, o),
            (None, None, Some(r)) => (r.1, r.2),
            (Some(_), None, _) | (None, Some(_), _) => {
                return Err(invalid(
                    "GEO_LATITUDE/GEO_LONGITUDE",
                    "must be set together",
                ));
            }
            (None, None, None) => {
                return Err(invalid(
                    "GEO_LOCATION",
                    format!(
                        "unknown region {name:?}; valid values: {valid_list} (or set GEO_LATITUDE and GEO_LONGITUDE for a custom region)"
                    ),
                ));
            }
        };
        if !(-90.0..=90.0).contains(&latitude) {
            return Err(invalid(
                "GEO_LATITUDE",
                format!("{latitude} is outside -90..90"),
            ));
        }
        if !(-180.0..=180.0).contains(&longitude) {
            return Err(invalid(
                "GEO_LONGITUDE",
                format!("{longitude} is outside -180..180"),
            ));
        }
        Ok(Self {
            name: name.to_string(),
            latitude,
            longitude,
        })
    }
}

/// An origin weight, kept as a whole percent so comparisons are exact; sent as percent/100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Weight(u8);

impl Weight {
    /// Parses `CF_ORIGIN_WEIGHT`: a percent 1..100, as the seed tool documents.
    pub fn parse_percent(field: &str, raw: &str) -> Result<Self, NameError> {
        let v: f64 = raw.trim().parse().map_err(|_| {
            invalid(
                field,
                format!("{raw:?} is not a number; give a percent from 1 to 100"),
            )
        })?;
        if !(1.0..=100.0).contains(&v) || v.fract() != 0.0 {
            return Err(invalid(
                field,
                format!(
                    "{raw:?} is out of range; give a whole percent from 1 to 100 (sent to Cloudflare as 0.01..1)"
                ),
            ));
        }
        Ok(Self(v as u8))
    }

    /// From a percent already checked.
    pub fn from_percent(p: u8) -> Self {
        Self(p.clamp(1, 100))
    }

    /// Cloudflare's 0..1 value.
    pub fn as_fraction(self) -> f64 {
        f64::from(self.0) / 100.0
    }

    /// Reads Cloudflare's value back, rounded to a percent.
    pub fn from_fraction(f: f64) -> u8 {
        (f * 100.0).round().clamp(0.0, 100.0) as u8
    }

    /// The percent.
    pub fn percent(self) -> u8 {
        self.0
    }
}

impl fmt::Display for Weight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0)
    }
}

/// Lower-cases and strips a trailing dot.
pub fn normalize_hostname(h: &str) -> String {
    h.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// Checks a DNS hostname (LDH labels, optional leading `*.`), after normalisation.
pub fn validate_hostname(field: &str, h: &str) -> Result<String, NameError> {
    let mut n = normalize_hostname(h);
    if !n.is_ascii() {
        // Internationalized names are stored by Cloudflare in their punycode form.
        let (wild, body) = match n.strip_prefix("*.") {
            Some(b) => ("*.", b),
            None => ("", n.as_str()),
        };
        let ascii = idna::domain_to_ascii(body).map_err(|_| {
            invalid(
                field,
                format!("{h:?} is not a valid internationalized hostname"),
            )
        })?;
        n = format!("{wild}{ascii}");
    }
    if n.is_empty() {
        return Err(invalid(field, "hostname is empty"));
    }
    if n.len() > 253 {
        return Err(invalid(
            field,
            format!("hostname {h:?} is longer than 253 characters"),
        ));
    }
    let body = n.strip_prefix("*.").unwrap_or(&n);
    for label in body.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(invalid(
                field,
                format!("{h:?} is not a valid hostname (label {label:?})"),
            ));
        }
    }
    Ok(n)
}

/// Longest name part of a pool name (Cloudflare documents no limit; this keeps names readable
/// and below every limit seen in practice).
const MAX_POOL_NAME: usize = 100;

/// Prefix of every pool the geo engine manages (the seed tool's naming).
pub const POOL_PREFIX: &str = "k8s-pool-";

/// `k8s-pool-{cluster}-{geo}`, plus `-{host}` for an LB hostname other than the default.
/// Characters outside `[A-Za-z0-9_-]` are mapped to `-`; what cannot fit is refused.
pub fn pool_name(cluster: &str, geo: &str, extra_host: Option<&str>) -> Result<String, NameError> {
    let field = "label cluster-name";
    let c = map_pool_chars(cluster);
    if c.trim_matches('-').is_empty() {
        return Err(invalid(
            field,
            format!("{cluster:?} has no letter or digit to build a pool name from"),
        ));
    }
    if cluster.chars().count() > 63 {
        return Err(invalid(
            field,
            format!(
                "{}... is {} characters; at most 63 are allowed",
                cluster.chars().take(20).collect::<String>(),
                cluster.chars().count()
            ),
        ));
    }
    let mut name = format!("{POOL_PREFIX}{c}-{}", map_pool_chars(geo));
    if let Some(h) = extra_host {
        name.push('-');
        name.push_str(&map_pool_chars(h));
    }
    if name.len() > MAX_POOL_NAME {
        return Err(invalid(
            field,
            format!("pool name {name:?} would be longer than {MAX_POOL_NAME} characters"),
        ));
    }
    Ok(name)
}

fn map_pool_chars(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internationalized_names_become_punycode() {
        assert_eq!(
            validate_hostname("host", "Bücher.Example.com.").unwrap(),
            "xn--bcher-kva.example.com"
        );
        assert_eq!(
            validate_hostname("host", "*.bücher.example.com").unwrap(),
            "*.xn--bcher-kva.example.com"
        );
        assert!(validate_hostname("host", "bad name.example.com").is_err());
    }

    #[test]
    fn builtin_regions_keep_seed_coordinates() {
        let r = Region::resolve("us_west", None, None).unwrap();
        assert_eq!((r.latitude, r.longitude), (34.0522, -118.2437));
        let err = Region::resolve("mars", None, None).unwrap_err().to_string();
        assert!(
            err.contains("GEO_LOCATION") && err.contains("us_east"),
            "{err}"
        );
        assert!(Region::resolve("mars", Some(1.0), Some(2.0)).is_ok());
        assert!(Region::resolve("mars", Some(1.0), None).is_err());
        assert!(Region::resolve("eu", Some(91.0), Some(0.0)).is_err());
    }

    #[test]
    fn weight_is_a_percent() {
        assert_eq!(
            Weight::parse_percent("CF_ORIGIN_WEIGHT", "33")
                .unwrap()
                .as_fraction(),
            0.33
        );
        for bad in ["0", "101", "abc", "", "33.5", "-1"] {
            let e = Weight::parse_percent("CF_ORIGIN_WEIGHT", bad)
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("CF_ORIGIN_WEIGHT"), "{e}");
        }
    }

    #[test]
    fn pool_names_are_mapped_or_refused() {
        assert_eq!(
            pool_name("prod.eu-1", "eu", None).unwrap(),
            "k8s-pool-prod-eu-1-eu"
        );
        assert_eq!(
            pool_name("c", "eu", Some("api.example.com")).unwrap(),
            "k8s-pool-c-eu-api-example-com"
        );
        assert!(
            pool_name(&"x".repeat(200), "eu", None)
                .unwrap_err()
                .to_string()
                .contains("63")
        );
        assert!(pool_name("...", "eu", None).is_err());
    }

    #[test]
    fn hostnames() {
        assert_eq!(
            validate_hostname("f", "App.Example.com.").unwrap(),
            "app.example.com"
        );
        assert!(validate_hostname("f", "bad host").is_err());
        assert!(validate_hostname("f", "-a.example.com").is_err());
        assert!(validate_hostname("f", "*.example.com").is_ok());
    }
}
