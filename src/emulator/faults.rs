//! Injected faults: a rule matches method and path and applies to the next N matching calls,
//! answering with an error status, adding latency, or dropping the connection.

use serde::{Deserialize, Serialize};

/// What a matching call suffers. Latency is applied first; then `drop` wins over `status`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultAction {
    /// Answer with this status (429 gets Cloudflare's rate-limit body, others a 10001 error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// `Retry-After` seconds sent with `status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// Delay before the call is handled (or failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// Close the connection without any HTTP answer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub drop: bool,
}

impl FaultAction {
    /// Answer with `status`.
    pub fn status(status: u16) -> Self {
        Self {
            status: Some(status),
            ..Self::default()
        }
    }

    /// Answer 429 with `Retry-After: retry_after`.
    pub fn rate_limited(retry_after: u64) -> Self {
        Self {
            status: Some(429),
            retry_after: Some(retry_after),
            ..Self::default()
        }
    }

    /// Delay the call by `ms`, then handle it normally.
    pub fn latency(ms: u64) -> Self {
        Self {
            latency_ms: Some(ms),
            ..Self::default()
        }
    }

    /// Close the connection without an answer.
    pub fn drop_connection() -> Self {
        Self {
            drop: true,
            ..Self::default()
        }
    }

    /// Short label for the call log.
    pub fn label(&self) -> String {
        let mut parts = Vec::new();
        if let Some(ms) = self.latency_ms {
            parts.push(format!("latency {ms}ms"));
        }
        if self.drop {
            parts.push("drop".to_owned());
        } else if let Some(s) = self.status {
            parts.push(match self.retry_after {
                Some(r) => format!("status {s} retry_after {r}"),
                None => format!("status {s}"),
            });
        }
        parts.join(", ")
    }
}

fn one() -> u32 {
    1
}

/// A fault rule: `POST /__emulator/faults` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultSpec {
    /// HTTP method, or `*` / absent for any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Whole-path pattern; `*` matches one segment, a final `**` any rest. A pattern not starting
    /// with `/client/v4` is taken relative to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Plain prefix of the request path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_prefix: Option<String>,
    /// How many matching calls it still applies to.
    #[serde(default = "one")]
    pub count: u32,
    /// The effect.
    pub action: FaultAction,
}

impl FaultSpec {
    /// A rule for the next `count` calls of `method` (`*` for any) to `path` (pattern).
    pub fn new(method: &str, path: &str, count: u32, action: FaultAction) -> Self {
        Self {
            method: Some(method.to_owned()),
            path: Some(path.to_owned()),
            path_prefix: None,
            count,
            action,
        }
    }

    /// Rejects rules that could never do anything.
    pub fn validate(&self) -> Result<(), String> {
        let a = &self.action;
        if a.status.is_none() && a.latency_ms.is_none() && !a.drop {
            return Err("action needs status, latency_ms or drop".to_owned());
        }
        if a.status.is_some_and(|s| !(400..=599).contains(&s)) {
            return Err("action.status must be 400..=599".to_owned());
        }
        if self.count == 0 {
            return Err("count must be at least 1".to_owned());
        }
        Ok(())
    }

    /// Whether a call matches.
    pub fn matches(&self, method: &str, path: &str) -> bool {
        let method_ok = self
            .method
            .as_deref()
            .is_none_or(|m| m == "*" || m.eq_ignore_ascii_case(method));
        let prefix_ok = self
            .path_prefix
            .as_deref()
            .is_none_or(|p| path.starts_with(p));
        let pattern_ok = self
            .path
            .as_deref()
            .is_none_or(|p| pattern_matches(p, path));
        method_ok && prefix_ok && pattern_ok
    }
}

fn pattern_matches(pattern: &str, path: &str) -> bool {
    let pattern = if pattern.starts_with("/client/v4") || pattern.starts_with("/__emulator") {
        pattern.to_owned()
    } else {
        format!("/client/v4/{}", pattern.trim_start_matches('/'))
    };
    let pat: Vec<&str> = pattern.trim_end_matches('/').split('/').collect();
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    for (i, p) in pat.iter().enumerate() {
        if *p == "**" && i == pat.len() - 1 {
            return true;
        }
        match segs.get(i) {
            Some(s) if *p == "*" || p == s => {}
            _ => return false,
        }
    }
    pat.len() == segs.len()
}

/// The active rules, first match wins.
#[derive(Debug, Default)]
pub struct FaultBook {
    rules: Vec<FaultSpec>,
}

impl FaultBook {
    /// Adds a rule after the others.
    pub fn add(&mut self, spec: FaultSpec) {
        self.rules.push(spec);
    }

    /// Removes every rule.
    pub fn clear(&mut self) {
        self.rules.clear();
    }

    /// Rules with their remaining counts.
    pub fn list(&self) -> Vec<FaultSpec> {
        self.rules.clone()
    }

    /// The action for this call, using up one application of the first matching rule.
    pub fn take(&mut self, method: &str, path: &str) -> Option<FaultAction> {
        let i = self.rules.iter().position(|r| r.matches(method, path))?;
        let rule = &mut self.rules[i];
        let action = rule.action.clone();
        rule.count -= 1;
        if rule.count == 0 {
            self.rules.remove(i);
        }
        Some(action)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_matches_one_segment_and_count_runs_out() {
        let mut book = FaultBook::default();
        book.add(FaultSpec::new(
            "GET",
            "/client/v4/zones/*/load_balancers",
            2,
            FaultAction::status(503),
        ));
        assert!(
            book.take("POST", "/client/v4/zones/z1/load_balancers")
                .is_none()
        );
        assert!(
            book.take("GET", "/client/v4/zones/z1/load_balancers/x")
                .is_none()
        );
        assert!(
            book.take("GET", "/client/v4/zones/z1/load_balancers")
                .is_some()
        );
        assert!(
            book.take("get", "/client/v4/zones/z2/load_balancers")
                .is_some()
        );
        assert!(
            book.take("GET", "/client/v4/zones/z1/load_balancers")
                .is_none()
        );
    }

    #[test]
    fn relative_patterns_and_double_star() {
        let spec = FaultSpec::new("*", "zones/**", 1, FaultAction::drop_connection());
        assert!(spec.matches("DELETE", "/client/v4/zones/a/dns_records/b"));
        assert!(!spec.matches("GET", "/client/v4/accounts/a"));
    }
}
