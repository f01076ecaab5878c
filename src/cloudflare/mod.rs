//! The only module that speaks Cloudflare's wire format: typed calls, one shared rate budget,
//! retries, and the token.

mod budget;
mod client;
mod ratelimit;
pub mod token;
pub mod types;

use std::time::Duration;

pub use budget::{Budget, reserve};
pub use client::{
    CallStats, Client, ClientSettings, DEFAULT_BASE_URL, DEFAULT_RATE_LIMIT, DEFAULT_RATE_WINDOW,
};
pub use token::{ApiToken, TokenError, TokenSource};
pub use types::ApiMessage;

/// Errors of Cloudflare calls. Messages carry Cloudflare's own code and text, never the token.
#[derive(Debug, thiserror::Error)]
pub enum CloudflareError {
    /// Cloudflare answered with `success: false` or an error status.
    #[error("Cloudflare {endpoint} failed with HTTP {status}: {}", join(.errors))]
    Api {
        /// Endpoint label, e.g. `pools.delete`.
        endpoint: &'static str,
        /// HTTP status.
        status: u16,
        /// Cloudflare's errors.
        errors: Vec<ApiMessage>,
    },
    /// An error status whose body is not Cloudflare's envelope.
    #[error("Cloudflare {endpoint} failed with HTTP {status}: {body}")]
    Http {
        /// Endpoint label.
        endpoint: &'static str,
        /// HTTP status.
        status: u16,
        /// Start of the body.
        body: String,
    },
    /// Answered 429: a write at once (it is never resent), a read after the allowed retries.
    #[error("Cloudflare {endpoint} rate limited; retry after {retry_after:?}")]
    RateLimited {
        /// Endpoint label.
        endpoint: &'static str,
        /// Cloudflare's requested pause.
        retry_after: Duration,
    },
    /// A write held back so long by the rate budget that it was not sent.
    #[error(
        "Cloudflare {endpoint}: the write waited {waited:?} for the rate budget; its body may be stale, so it was not sent"
    )]
    Deferred {
        /// Endpoint label.
        endpoint: &'static str,
        /// Time spent waiting for the budget.
        waited: Duration,
    },
    /// The call took longer than the timeout.
    #[error("Cloudflare {endpoint} timed out")]
    Timeout {
        /// Endpoint label.
        endpoint: &'static str,
    },
    /// Connection-level failure (URL stripped).
    #[error("Cloudflare transport error: {}", with_causes(.0))]
    Transport(reqwest::Error),
    /// A success answer that does not match the expected shape.
    #[error("Cloudflare {endpoint} answer could not be decoded: {message}; body starts {body:?}")]
    Decode {
        /// Endpoint label.
        endpoint: &'static str,
        /// Decoder message.
        message: String,
        /// Start of the body.
        body: String,
    },
    /// The token could not be read.
    #[error(transparent)]
    Token(#[from] TokenError),
}

/// `e` and each cause reqwest's own message leaves out (the refused connection, the DNS
/// failure), so the one message says it all and nothing repeats.
fn with_causes(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut next = std::error::Error::source(e);
    while let Some(c) = next {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = c.source();
    }
    out
}

fn join(errors: &[ApiMessage]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl CloudflareError {
    /// HTTP status, when there was an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } | Self::Http { status, .. } => Some(*status),
            Self::RateLimited { .. } => Some(429),
            _ => None,
        }
    }

    /// True if Cloudflare returned this error code.
    pub fn has_code(&self, code: i64) -> bool {
        matches!(self, Self::Api { errors, .. } if errors.iter().any(|e| e.code == code))
    }

    /// A low-cardinality label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Api { status, .. } if *status >= 500 => "server",
            Self::Api { .. } | Self::Http { .. } => "api",
            Self::RateLimited { .. } => "rate_limited",
            Self::Deferred { .. } => "deferred",
            Self::Timeout { .. } => "timeout",
            Self::Transport(_) => "transport",
            Self::Decode { .. } => "decode",
            Self::Token(_) => "token",
        }
    }

    /// Whether trying again later could succeed (the world, not the request, was wrong).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Api { status, .. } | Self::Http { status, .. } => {
                *status >= 500 || *status == 429
            }
            Self::RateLimited { .. }
            | Self::Deferred { .. }
            | Self::Timeout { .. }
            | Self::Transport(_) => true,
            Self::Decode { .. } | Self::Token(_) => false,
        }
    }

    /// True when the call was not carried out because of the rate limit: the caller should
    /// re-read and plan again (its body was computed from what may now be stale), and must not
    /// take it as Cloudflare refusing the change.
    pub fn needs_replan(&self) -> bool {
        matches!(self, Self::RateLimited { .. } | Self::Deferred { .. })
    }
}
