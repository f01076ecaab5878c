//! Logging setup (plain or JSON, `RUST_LOG` honoured) and process signals.

use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

/// Log output format.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Plain,
    /// One JSON object per line.
    Json,
}

/// How to log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogSettings {
    /// Plain lines for people or one JSON object per line for collectors (`--log-format`).
    pub format: LogFormat,
    /// Filter in `RUST_LOG` syntax, used when `RUST_LOG` is unset.
    pub level: String,
}

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The filter does not parse.
    #[error("--log-level {level:?}: {message}")]
    LogLevel {
        /// The filter as given.
        level: String,
        /// The parser's message.
        message: String,
    },
}

/// Installs the global subscriber; a second call (tests) is a no-op.
pub fn init(settings: &LogSettings) -> Result<(), TelemetryError> {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.level))
        .map_err(|e| TelemetryError::LogLevel {
            level: settings.level.clone(),
            message: e.to_string(),
        })?;
    // Colour only for a person at a terminal: a log file or collector gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = match settings.format {
        LogFormat::Plain => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    Ok(())
}

/// A token cancelled on the first SIGTERM or SIGINT; a second signal exits at once.
pub fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let child = token.clone();
    tokio::spawn(async move {
        wait_signal().await;
        tracing::info!("shutdown requested; a second signal exits immediately");
        child.cancel();
        wait_signal().await;
        tracing::warn!("second signal: exiting now");
        std::process::exit(130);
    });
    token
}

async fn wait_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
