//! The API token: a redacted secret, read from a value or a file that may be rotated in place.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

/// Errors reading the token.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Neither a value nor a file was given.
    #[error(
        "no Cloudflare API token: set CF_API_TOKEN, or CF_API_TOKEN_FILE, or CF_API_TOKEN=file:/path"
    )]
    Missing,
    /// The value or file is empty.
    #[error("the Cloudflare API token from {0} is empty")]
    Empty(String),
    /// The file could not be read.
    #[error("cannot read the Cloudflare API token file {path}: {error}")]
    Read {
        /// File path.
        path: PathBuf,
        /// Cause.
        error: std::io::Error,
    },
}

/// A secret bearer token. `Debug` and `Display` never print it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken(String);

impl ApiToken {
    /// Wraps a token; surrounding whitespace (a trailing newline in a Secret file) is dropped.
    pub fn new(raw: &str) -> Self {
        Self(raw.trim().to_string())
    }

    /// The secret itself, only for the Authorization header.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A short, non-reversible tag to tell tokens apart in logs.
    pub fn fingerprint(&self) -> String {
        // FNV-1a: enough to tell two tokens apart, useless to recover one.
        let mut h: u64 = 0xcbf29ce484222325;
        for b in self.0.as_bytes() {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x100000001b3);
        }
        format!("{:08x}", h >> 32)
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiToken(<redacted>)")
    }
}

impl fmt::Display for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where the token comes from. A file is re-read when it changes, so a rotated Secret is
/// picked up without a restart.
pub enum TokenSource {
    /// A fixed value.
    Static(ApiToken),
    /// A file, cached by modification time and length.
    File {
        /// Path of the file.
        path: PathBuf,
        /// Last read: (mtime, len, token).
        cache: Mutex<Option<(SystemTime, u64, ApiToken)>>,
    },
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Static(_) => f.write_str("TokenSource::Static(<redacted>)"),
            Self::File { path, .. } => write!(f, "TokenSource::File({})", path.display()),
        }
    }
}

impl TokenSource {
    /// Builds the source from `CF_API_TOKEN` (a value or external-dns's `file:/path`) and
    /// `CF_API_TOKEN_FILE`; the file wins when both are set.
    pub fn from_settings(token: Option<&str>, file: Option<&Path>) -> Result<Self, TokenError> {
        let source = match (token, file) {
            (_, Some(path)) => Self::file(path),
            (Some(t), None) => match t.strip_prefix("file:") {
                Some(path) => Self::file(Path::new(path)),
                None => {
                    let tok = ApiToken::new(t);
                    if tok.0.is_empty() {
                        return Err(TokenError::Empty("CF_API_TOKEN".into()));
                    }
                    Self::Static(tok)
                }
            },
            (None, None) => return Err(TokenError::Missing),
        };
        // Fail at startup, not on the first call.
        source.current()?;
        Ok(source)
    }

    fn file(path: &Path) -> Self {
        Self::File {
            path: path.to_path_buf(),
            cache: Mutex::new(None),
        }
    }

    /// The token to use now.
    pub fn current(&self) -> Result<ApiToken, TokenError> {
        match self {
            Self::Static(t) => Ok(t.clone()),
            Self::File { path, cache } => {
                let read_err = |error| TokenError::Read {
                    path: path.clone(),
                    error,
                };
                let meta = std::fs::metadata(path).map_err(read_err)?;
                let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                let mut guard = cache.lock().unwrap_or_else(|e| e.into_inner());
                if let Some((m, len, tok)) = guard.as_ref()
                    && *m == mtime
                    && *len == meta.len()
                {
                    return Ok(tok.clone());
                }
                let raw = std::fs::read_to_string(path).map_err(read_err)?;
                let tok = ApiToken::new(&raw);
                if tok.0.is_empty() {
                    return Err(TokenError::Empty(path.display().to_string()));
                }
                *guard = Some((mtime, meta.len(), tok.clone()));
                Ok(tok)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let t = ApiToken::new("s3cr3t-value");
        assert!(!format!("{t:?} {t}").contains("s3cr3t"));
        let s = TokenSource::from_settings(Some("s3cr3t-value"), None).unwrap();
        assert!(!format!("{s:?}").contains("s3cr3t"));
    }

    #[test]
    fn empty_and_missing_are_errors() {
        assert!(matches!(
            TokenSource::from_settings(Some("  "), None),
            Err(TokenError::Empty(_))
        ));
        assert!(matches!(
            TokenSource::from_settings(None, None),
            Err(TokenError::Missing)
        ));
    }

    #[test]
    fn file_form_is_read_and_rotation_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "first\n").unwrap();
        let spec = format!("file:{}", path.display());
        let s = TokenSource::from_settings(Some(&spec), None).unwrap();
        assert_eq!(s.current().unwrap().expose(), "first");
        // Length differs, so the change is seen even within one mtime tick.
        std::fs::write(&path, "second-token\n").unwrap();
        assert_eq!(s.current().unwrap().expose(), "second-token");
    }
}
