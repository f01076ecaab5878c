//! Reads how long Cloudflare wants us to wait from `Retry-After`, `Ratelimit` and
//! `x-ratelimit-*` headers, and how much of the token's shared quota is left.

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;

/// The token's quota as the server counts it, across every process sharing the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerQuota {
    /// Requests still allowed in the current window (`r`).
    pub remaining: u32,
    /// Until the oldest counted request leaves the window (`t`).
    pub reset: Duration,
    /// Requests per window (`q` of `Ratelimit-Policy`), when sent.
    pub quota: Option<u32>,
    /// The window (`w` of `Ratelimit-Policy`), when sent.
    pub window: Option<Duration>,
}

/// Reads `Ratelimit: "default";r=<remaining>;t=<secs>` and
/// `Ratelimit-Policy: "default";q=<limit>;w=<secs>`. `None` without a usable `Ratelimit`.
pub fn server_quota(headers: &HeaderMap) -> Option<ServerQuota> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let items = parse_items(get("ratelimit")?);
    // Several policies may be listed; the one with the least left is the one that binds.
    let (name, r, t) = items
        .iter()
        .filter_map(|i| Some((i.name.as_str(), i.param("r")?, i.param("t").unwrap_or(0))))
        .min_by_key(|(_, r, _)| *r)?;
    let policies = get("ratelimit-policy").map(parse_items).unwrap_or_default();
    let policy = policies
        .iter()
        .find(|p| p.name == name)
        .or_else(|| policies.first());
    Some(ServerQuota {
        remaining: u32::try_from(r).unwrap_or(u32::MAX),
        reset: Duration::from_secs(t),
        quota: policy
            .and_then(|p| p.param("q"))
            .map(|q| u32::try_from(q).unwrap_or(u32::MAX)),
        window: policy
            .and_then(|p| p.param("w"))
            .filter(|w| *w > 0)
            .map(Duration::from_secs),
    })
}

/// How long to pause after a 429, or after a success that reports an exhausted budget.
/// `None` means the headers say nothing.
pub fn wait_hint(headers: &HeaderMap, is_429: bool) -> Option<Duration> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(v) = get("retry-after-ms").and_then(|v| v.trim().parse::<u64>().ok()) {
        return Some(Duration::from_millis(v));
    }
    if let Some(v) = get("retry-after").and_then(parse_seconds_or_date) {
        return Some(v);
    }
    // IETF draft: `Ratelimit: "default";r=0;t=30` (remaining r, reset in t seconds).
    if let Some(v) = get("ratelimit") {
        for item in parse_items(v) {
            if let Some(t) = item.param("t")
                && (is_429 || item.param("r") == Some(0))
            {
                return Some(Duration::from_secs(t));
            }
        }
    }
    let remaining = get("x-ratelimit-remaining").and_then(|v| v.trim().parse::<u64>().ok());
    if (is_429 || remaining == Some(0))
        && let Some(v) = get("x-ratelimit-reset").and_then(parse_seconds_or_date)
    {
        return Some(v);
    }
    None
}

fn parse_seconds_or_date(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// One member of a structured-field list: `"name";key=value;key=value`.
#[derive(Debug, Default)]
struct Item {
    name: String,
    params: Vec<(String, String)>,
}

impl Item {
    /// A non-negative integer parameter.
    fn param(&self, key: &str) -> Option<u64> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .and_then(|(_, v)| v.parse().ok())
    }
}

fn parse_items(v: &str) -> Vec<Item> {
    v.split(',')
        .map(|member| {
            let mut parts = member.split(';').map(str::trim);
            let name = parts.next().unwrap_or("").trim_matches('"').to_owned();
            let params = parts
                .filter_map(|p| p.split_once('='))
                .map(|(k, v)| (k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
                .collect();
            Item { name, params }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderName, HeaderValue};

    fn h(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        m
    }

    #[test]
    fn reads_each_header_form() {
        assert_eq!(
            wait_hint(&h(&[("retry-after", "7")]), true),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            wait_hint(&h(&[("ratelimit", "\"default\";r=0;t=30")]), false),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            wait_hint(&h(&[("ratelimit", "\"default\";r=5;t=30")]), false),
            None
        );
        // A 429 without `t` falls back to the caller's default pause.
        assert_eq!(
            wait_hint(&h(&[("ratelimit", "\"default\";r=0")]), true),
            None
        );
        let future = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(60));
        let got = wait_hint(
            &h(&[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", &future),
            ]),
            false,
        )
        .unwrap();
        assert!(
            got > Duration::from_secs(55) && got <= Duration::from_secs(60),
            "{got:?}"
        );
        assert_eq!(wait_hint(&h(&[]), true), None);
    }

    #[test]
    fn reads_ratelimit_and_its_policy() {
        let q = server_quota(&h(&[
            ("ratelimit", "\"default\";r=1187;t=293"),
            ("ratelimit-policy", "\"default\";q=1200;w=300"),
        ]))
        .unwrap();
        assert_eq!(
            q,
            ServerQuota {
                remaining: 1187,
                reset: Duration::from_secs(293),
                quota: Some(1200),
                window: Some(Duration::from_secs(300)),
            }
        );
        // Unquoted names, odd spacing and parameter order; no policy header.
        let q = server_quota(&h(&[("ratelimit", "default; t=4 ;r=0")])).unwrap();
        assert_eq!((q.remaining, q.reset), (0, Duration::from_secs(4)));
        assert_eq!((q.quota, q.window), (None, None));
        // `t` may be left out; the reset is then unknown, taken as now.
        let q = server_quota(&h(&[("ratelimit", "\"default\";r=9")])).unwrap();
        assert_eq!((q.remaining, q.reset), (9, Duration::ZERO));
    }

    #[test]
    fn the_tightest_policy_binds_and_junk_is_ignored() {
        let q = server_quota(&h(&[
            ("ratelimit", "\"burst\";r=40;t=1, \"day\";r=3;t=600"),
            (
                "ratelimit-policy",
                "\"burst\";q=50;w=10, \"day\";q=5000;w=86400",
            ),
        ]))
        .unwrap();
        assert_eq!(q.remaining, 3);
        assert_eq!(q.reset, Duration::from_secs(600));
        assert_eq!(q.quota, Some(5000));
        assert_eq!(q.window, Some(Duration::from_secs(86400)));
        // A policy named differently from the limit still gives q and w; w=0 is no window.
        let q = server_quota(&h(&[
            ("ratelimit", "\"a\";r=2;t=1"),
            ("ratelimit-policy", "\"b\";q=10;w=0"),
        ]))
        .unwrap();
        assert_eq!((q.quota, q.window), (Some(10), None));
        for junk in [
            "",
            "\"default\"",
            "\"default\";r=-1;t=3",
            "r",
            "limit=100, remaining=5",
        ] {
            assert_eq!(server_quota(&h(&[("ratelimit", junk)])), None, "{junk:?}");
        }
        assert_eq!(
            server_quota(&h(&[("ratelimit-policy", "\"d\";q=1;w=1")])),
            None
        );
    }
}
