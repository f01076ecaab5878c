//! The primitives every emulator module shares and none owns: Cloudflare error values and
//! codes, the `Keyed` trait of stored objects, timestamps, fingerprints, JSON merge patch, paging
//! and body parsing. Imports nothing else from the emulator.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Error codes the emulator answers with. Cloudflare publishes no complete table; these are the
/// codes seen in Cloudflare answers (see the module docs of `emulator` for sources and choices).
pub mod codes {
    /// `404` object (pool, monitor, load balancer) not found.
    pub const LB_NOT_FOUND: u32 = 1001;
    /// `400` load-balancing validation failure ("...: validation failed").
    pub const LB_VALIDATION: u32 = 1002;
    /// `400` a load balancer with that hostname already exists.
    pub const LB_NOT_UNIQUE: u32 = 1003;
    /// `412` a monitor reference that is not an ID (`monitor: ""`).
    pub const LB_BAD_MONITOR_REF: u32 = 1004;
    /// `412` the object is still referenced.
    pub const LB_REFERENCED: u32 = 1005;
    /// `400` DNS validation error (missing fields, names, priority, batch size, ...).
    pub const DNS_VALIDATION: u32 = 1004;
    /// `400` zone already exists (admin API only).
    pub const ZONE_EXISTS: u32 = 1061;
    /// `400` request headers invalid (malformed `Authorization`).
    pub const INVALID_HEADERS: u32 = 6003;
    /// Chained under 6003: the `Authorization` header is not `Bearer <token>`.
    pub const INVALID_AUTH_FORMAT: u32 = 6111;
    /// `400` the body is not JSON.
    pub const MALFORMED_JSON: u32 = 6007;
    /// `405` method not allowed for this route.
    pub const METHOD_NOT_ALLOWED: u32 = 7001;
    /// `404` no route, or an object identifier that does not resolve.
    pub const NO_ROUTE: u32 = 7003;
    /// `400` this record type cannot be proxied.
    pub const NOT_PROXIABLE: u32 = 9004;
    /// `400` A content is not an IPv4 address.
    pub const BAD_IPV4: u32 = 9005;
    /// `400` AAAA content is not an IPv6 address.
    pub const BAD_IPV6: u32 = 9006;
    /// `400` hostname content (CNAME, MX, NS, PTR) is invalid.
    pub const BAD_HOSTNAME_CONTENT: u32 = 9007;
    /// `400` TTL out of range.
    pub const BAD_TTL: u32 = 9021;
    /// `400` no credentials at all: missing `X-Auth-Email`.
    pub const MISSING_AUTH_EMAIL: u32 = 9106;
    /// `400` no credentials at all: missing `X-Auth-Key`.
    pub const MISSING_AUTH_KEY: u32 = 9107;
    /// `403` unknown token, or an account that is not ours.
    pub const INVALID_TOKEN: u32 = 9109;
    /// `403` legacy key authentication refused because tokens are restricted.
    pub const AUTH_ERROR: u32 = 10000;
    /// Injected 5xx faults.
    pub const INJECTED_FAULT: u32 = 10001;
    /// `429` rate limited.
    pub const RATE_LIMITED: u32 = 971;
    /// `404` DNS record not found.
    pub const RECORD_NOT_FOUND: u32 = 81044;
    /// `400` a record of the name exists and the new one is a CNAME.
    pub const HOST_EXISTS: u32 = 81053;
    /// `400` a CNAME of the name exists.
    pub const CNAME_EXISTS: u32 = 81054;
    /// `400` identical record (type, name, content) exists.
    pub const IDENTICAL_RECORD: u32 = 81058;
}

/// One entry of Cloudflare's `errors` or `messages` arrays.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiMessage {
    /// Cloudflare error code (>= 1000 per schema, except the rate limit's 971).
    pub code: u32,
    /// The human-readable text Cloudflare sends with the code, e.g. `Record does not exist.`.
    pub message: String,
    /// Nested causes, as Cloudflare sends for header errors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub error_chain: Vec<ApiMessage>,
}

/// A Cloudflare error answer: HTTP status plus the envelope's `errors`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("HTTP {status}: {}", .errors.iter().map(|e| format!("{} {}", e.code, e.message)).collect::<Vec<_>>().join("; "))]
pub struct ApiError {
    /// HTTP status of the answer (400, 403, 404, 405, 412, 429, 5xx).
    pub status: u16,
    /// At least one error.
    pub errors: Vec<ApiMessage>,
}

impl ApiError {
    /// An error with one message.
    pub fn new(status: u16, code: u32, message: impl Into<String>) -> Self {
        Self {
            status,
            errors: vec![ApiMessage {
                code,
                message: message.into(),
                error_chain: Vec::new(),
            }],
        }
    }

    /// `400` with `code`.
    pub fn bad_request(code: u32, message: impl Into<String>) -> Self {
        Self::new(400, code, message)
    }

    /// `400 1002 "<message>: validation failed"`, the load-balancing API's validation shape.
    pub fn lb_invalid(message: impl fmt::Display) -> Self {
        Self::bad_request(
            codes::LB_VALIDATION,
            format!("{message}: validation failed"),
        )
    }

    /// `400 1004` DNS validation error.
    pub fn dns_invalid(message: impl Into<String>) -> Self {
        Self::bad_request(codes::DNS_VALIDATION, message)
    }

    /// `404` for an object identifier that does not resolve.
    pub fn no_route(path: &str) -> Self {
        Self::new(
            404,
            codes::NO_ROUTE,
            format!("Could not route to {path}, perhaps your object identifier is invalid?"),
        )
    }

    /// The first error code (tests and batch prefixes use it).
    pub fn code(&self) -> u32 {
        self.errors.first().map_or(0, |e| e.code)
    }

    /// Prefixes every message, e.g. with the failing batch operation.
    pub fn prefixed(mut self, prefix: &str) -> Self {
        for e in &mut self.errors {
            e.message = format!("{prefix}: {}", e.message);
        }
        self
    }
}

/// Something stored in a map keyed by its ID.
pub trait Keyed {
    /// The ID.
    fn key(&self) -> &str;
}

/// A stable, non-reversible 64-bit fingerprint (FNV-1a) used for tokens in logs and token IDs.
pub fn fingerprint(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Now, RFC 3339 with microseconds (what Cloudflare sends and Python's datetime parses).
pub fn now() -> String {
    format!("{:.6}", jiff::Timestamp::now())
}

/// RFC 7396 JSON merge patch: objects merge recursively, `null` removes a key, everything else
/// (arrays included) replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(target) = target {
        for (key, value) in patch {
            if value.is_null() {
                target.remove(key);
            } else {
                merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

/// `page` / `per_page` of a list call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRequest {
    /// 1-based page.
    pub page: usize,
    /// Items per page.
    pub per_page: usize,
}

impl PageRequest {
    /// Reads `page` and `per_page`, clamping `per_page` into `min..=max` as Cloudflare does.
    pub fn from_query(
        query: &[(String, String)],
        default_per_page: usize,
        min: usize,
        max: usize,
    ) -> Self {
        let number = |key: &str| {
            query
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .and_then(|(_, v)| v.parse::<f64>().ok())
                .filter(|v| v.is_finite() && *v >= 1.0)
                .map(|v| v as usize)
        };
        Self {
            page: number("page").unwrap_or(1),
            per_page: number("per_page")
                .unwrap_or(default_per_page)
                .clamp(min, max),
        }
    }
}

/// The `result_info` of a list answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultInfo {
    /// Page served.
    pub page: usize,
    /// Page size.
    pub per_page: usize,
    /// Items on this page.
    pub count: usize,
    /// Items on all pages.
    pub total_count: usize,
    /// Number of pages.
    pub total_pages: usize,
}

/// Cuts one page out of `items`; past the last page the page is empty (the SDK stops there).
pub fn paginate<T>(items: Vec<T>, req: PageRequest) -> (Vec<T>, ResultInfo) {
    let total = items.len();
    let page: Vec<T> = items
        .into_iter()
        .skip((req.page - 1).saturating_mul(req.per_page))
        .take(req.per_page)
        .collect();
    let info = ResultInfo {
        page: req.page,
        per_page: req.per_page,
        count: page.len(),
        total_count: total,
        total_pages: total.div_ceil(req.per_page),
    };
    (page, info)
}

/// Parses a request body as a JSON object (`400 6007` otherwise).
pub fn parse_object(body: &[u8]) -> Result<Value, ApiError> {
    let malformed = |detail: String| {
        ApiError::bad_request(
            codes::MALFORMED_JSON,
            format!("Malformed JSON in request body: {detail}"),
        )
    };
    let value: Value = serde_json::from_slice(body).map_err(|e| malformed(e.to_string()))?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(malformed("expected a JSON object".to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn merge_patch_follows_rfc7396() {
        let mut target = json!({"a": 1, "o": {"x": 1, "y": 2}, "arr": [1, 2], "gone": true});
        merge_patch(
            &mut target,
            &json!({"o": {"y": 3, "z": 4}, "arr": [9], "gone": null, "new": "n"}),
        );
        assert_eq!(
            target,
            json!({"a": 1, "o": {"x": 1, "y": 3, "z": 4}, "arr": [9], "new": "n"})
        );
    }

    #[test]
    fn paging_past_the_end_is_empty() {
        let req = PageRequest {
            page: 3,
            per_page: 2,
        };
        let (page, info) = paginate(vec![1, 2, 3, 4], req);
        assert!(page.is_empty());
        assert_eq!(info.total_pages, 2);
        assert_eq!(info.total_count, 4);
        let (page, info) = paginate(
            vec![1, 2, 3],
            PageRequest {
                page: 2,
                per_page: 2,
            },
        );
        assert_eq!(page, vec![3]);
        assert_eq!(info.count, 1);
    }

    #[test]
    fn timestamps_have_microseconds() {
        let ts = now();
        assert!(ts.ends_with('Z'));
        let frac = ts.rsplit('.').next().unwrap_or_default();
        assert_eq!(frac.len(), 7, "{ts}");
    }
}
