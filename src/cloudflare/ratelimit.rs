//! Reads how long Cloudflare wants us to wait from `Retry-After`, `Ratelimit` and
//! `x-ratelimit-*` headers.

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;

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
        let (r, t) = parse_structured(v);
        if let Some(t) = t
            && (is_429 || r == Some(0))
        {
            return Some(Duration::from_secs(t));
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

fn parse_structured(v: &str) -> (Option<u64>, Option<u64>) {
    let (mut r, mut t) = (None, None);
    for part in v.split([';', ',']) {
        let part = part.trim();
        if let Some(x) = part.strip_prefix("r=") {
            r = x.trim().parse().ok();
        } else if let Some(x) = part.strip_prefix("t=") {
            t = x.trim().parse().ok();
        }
    }
    (r, t)
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
}
