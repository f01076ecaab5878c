//! A stateful, in-memory Cloudflare API v4 emulator (zones, DNS records with batch, pools,
//! monitors, load balancers), with Cloudflare's rate limit, injectable faults and a call log.
//!
//! # Use
//! - `cfgeo emulator` ([`serve`]) runs it standalone; [`Emulator::start`] embeds it in tests and
//!   returns an [`EmulatorHandle`] with in-process access to state, call log and faults.
//! - Cloudflare surface under `/client/v4`; test surface under `/__emulator` (`calls`,
//!   `counters`, `faults`, `state`, `zones`, `ratelimit`).
//!
//! # Fidelity choices
//! - Answers follow the OpenAPI subset in `shared/cloudflare` and the official SDK's models:
//!   fields the schema types as non-nullable are omitted when unset, never `null`.
//! - Error codes are in [`codes`]. Where Cloudflare's code is not documented the emulator uses the
//!   family Cloudflare uses for that API (1002 validation for load balancing, 1004 for DNS).
//! - A dotted DNS record name outside the zone is refused (Cloudflare would append the zone);
//!   a single label is expanded relative to the zone as Cloudflare does.
//! - The rate limit is a sliding window per credential; refused (429) requests are not counted,
//!   so `Retry-After` is exact. Injected faults do not count against it.
//! - `check_regions` is ignored on pool POST (Cloudflare takes it only on PUT/PATCH).

mod common;
mod dns;
mod faults;
mod http;
mod journal;
mod lb;
mod objects;
mod ratelimit;
mod state;
pub use common::merge_patch;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use common::{ApiError, ApiMessage, ResultInfo, codes};
pub use dns::BatchResult;
pub use faults::{FaultAction, FaultSpec};
pub use journal::{CallRecord, CounterEntry};
pub use objects::{DnsRecord, LoadBalancer, Monitor, Origin, Pool};
pub use state::{Account, DEFAULT_ACCOUNT_ID, Plan, State, Zone, ZoneSpec};

use http::{App, Shared, lock};
use journal::Journal;
use ratelimit::RateLimiter;

/// Settings of an emulator instance.
#[derive(Clone)]
pub struct EmulatorConfig {
    /// Where to listen; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Zones created at start (kept if a state file already has them).
    pub zones: Vec<ZoneSpec>,
    /// Id of the one account (`--account-id`); calls for any other are refused with 403.
    pub account_id: String,
    /// The account's name in zone answers; no flag sets it.
    pub account_name: String,
    /// Accepted bearer tokens; empty accepts any.
    pub tokens: Vec<String>,
    /// Requests per window and token.
    pub rate_limit: u32,
    /// The sliding window `rate_limit` counts over (Cloudflare's is 300 s).
    pub rate_window: Duration,
    /// State file, loaded at start and rewritten after every change.
    pub state_file: Option<PathBuf>,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            zones: vec![ZoneSpec::new("example.com", Plan::Free)],
            account_id: DEFAULT_ACCOUNT_ID.to_owned(),
            account_name: Account::default().name,
            tokens: Vec::new(),
            rate_limit: 1200,
            rate_window: Duration::from_secs(300),
            state_file: None,
        }
    }
}

impl std::fmt::Debug for EmulatorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorConfig")
            .field("listen", &self.listen)
            .field("zones", &self.zones)
            .field("account_id", &self.account_id)
            .field("tokens", &format_args!("[{} redacted]", self.tokens.len()))
            .field("rate_limit", &self.rate_limit)
            .field("rate_window", &self.rate_window)
            .field("state_file", &self.state_file)
            .finish()
    }
}

/// Errors of the emulator.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// The listener could not be bound or served.
    #[error("emulator I/O: {0}")]
    Io(std::io::Error),
    /// The state file could not be read.
    #[error("emulator state file {path}: {error}")]
    StateFile {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// A zone of the configuration is invalid.
    #[error("emulator zone {name}: {reason}")]
    Zone {
        /// Zone name as given.
        name: String,
        /// Why.
        reason: String,
    },
}

// Not `#[from]`: the message already carries the cause, and a source too would print it twice.
impl From<std::io::Error> for EmulatorError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

/// Entry point for embedding: see [`Emulator::start`].
#[derive(Debug)]
pub struct Emulator;

impl Emulator {
    /// Loads or creates the state, binds `config.listen` and serves in a background task.
    pub async fn start(config: EmulatorConfig) -> Result<EmulatorHandle, EmulatorError> {
        let account = Account {
            id: config.account_id.clone(),
            name: config.account_name.clone(),
        };
        let mut state = match &config.state_file {
            Some(path) => State::load(path).map_err(|error| EmulatorError::StateFile {
                path: path.clone(),
                error,
            })?,
            None => None,
        }
        .unwrap_or_else(|| State::new(account.clone(), &[]));
        state.account = account;
        for spec in &config.zones {
            if state.zone_by_name(&spec.name).is_none() {
                state.add_zone(spec).map_err(|e| EmulatorError::Zone {
                    name: spec.name.clone(),
                    reason: e.to_string(),
                })?;
            }
        }

        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            state_file: config.state_file.clone(),
            tokens: config.tokens.clone(),
            limiter: Mutex::new(RateLimiter::new(config.rate_limit, config.rate_window)),
            journal: Mutex::new(Journal::default()),
            faults: Mutex::new(Default::default()),
            started: Instant::now(),
        });
        shared.read(|s| shared.persist(s));

        let cancel = CancellationToken::new();
        let router = http::router(shared.clone());
        let stop = cancel.clone();
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
        });
        Ok(EmulatorHandle {
            addr,
            shared,
            cancel,
            task: Some(task),
        })
    }
}

impl Emulator {
    /// The emulator of `--embedded-emulator`: the default account and `example.com` zone on a
    /// free local port, with the state kept in `state_file` when given.
    pub async fn start_embedded(
        state_file: Option<PathBuf>,
    ) -> Result<EmulatorHandle, EmulatorError> {
        Self::start(EmulatorConfig {
            state_file,
            ..EmulatorConfig::default()
        })
        .await
    }
}

/// A running emulator. Dropping it stops the server; [`EmulatorHandle::shutdown`] also waits.
pub struct EmulatorHandle {
    addr: SocketAddr,
    shared: App,
    cancel: CancellationToken,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl EmulatorHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL of the Cloudflare API, `http://127.0.0.1:PORT/client/v4`.
    pub fn base_url(&self) -> String {
        format!("http://{}{}", self.addr, http::API)
    }

    /// Base URL of the admin API, `http://127.0.0.1:PORT/__emulator`.
    pub fn admin_url(&self) -> String {
        format!("http://{}{}", self.addr, http::ADMIN)
    }

    /// The account ID.
    pub fn account_id(&self) -> String {
        self.shared.read(|s| s.account.id.clone())
    }

    /// The ID of the zone with this apex name.
    pub fn zone_id(&self, name: &str) -> Option<String> {
        self.shared
            .read(|s| s.zone_by_name(name).map(|z| z.id.clone()))
    }

    /// Adds a zone and returns its ID.
    pub fn add_zone(&self, name: &str, plan: Plan) -> Result<String, ApiError> {
        self.shared
            .write(|s| s.add_zone(&ZoneSpec::new(name, plan)).map(|z| z.id))
    }

    /// A snapshot of everything stored.
    pub fn state(&self) -> State {
        self.shared.read(State::clone)
    }

    /// The snapshot as JSON (the `GET /__emulator/state` body).
    pub fn state_json(&self) -> serde_json::Value {
        self.shared
            .read(|s| serde_json::to_value(s).unwrap_or(serde_json::Value::Null))
    }

    /// Replaces the whole state (persisted if a state file is configured).
    pub fn replace_state(&self, state: State) {
        self.with_state(|s| *s = state);
    }

    /// Changes the state in place, e.g. to seed records without going through the API.
    pub fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut state = lock(&self.shared.state);
        let out = f(&mut state);
        self.shared.persist(&state);
        out
    }

    /// DNS records of a zone (by zone ID), sorted by name then type.
    pub fn records(&self, zone_id: &str) -> Vec<DnsRecord> {
        let mut records: Vec<DnsRecord> = self.shared.read(|s| {
            s.records
                .values()
                .filter(|r| r.zone_id == zone_id)
                .cloned()
                .collect()
        });
        records.sort_by(|a, b| (&a.name, &a.record_type).cmp(&(&b.name, &b.record_type)));
        records
    }

    /// All pools.
    pub fn pools(&self) -> Vec<Pool> {
        self.shared.read(|s| s.pools.values().cloned().collect())
    }

    /// All monitors.
    pub fn monitors(&self) -> Vec<Monitor> {
        self.shared.read(|s| s.monitors.values().cloned().collect())
    }

    /// All load balancers.
    pub fn load_balancers(&self) -> Vec<LoadBalancer> {
        self.shared
            .read(|s| s.load_balancers.values().cloned().collect())
    }

    /// The call log, by arrival.
    pub fn call_log(&self) -> Vec<CallRecord> {
        lock(&self.shared.journal).calls()
    }

    /// Calls counted by method, route template and status.
    pub fn counters(&self) -> Vec<CounterEntry> {
        lock(&self.shared.journal).counters()
    }

    /// Forgets the call log and counters.
    pub fn reset_calls(&self) {
        lock(&self.shared.journal).reset();
    }

    /// Adds a fault rule; `Err` explains a rule that could never apply.
    pub fn inject_fault(&self, spec: FaultSpec) -> Result<(), String> {
        spec.validate()?;
        lock(&self.shared.faults).add(spec);
        Ok(())
    }

    /// Removes all fault rules.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// Forgets every rate-limit count.
    pub fn reset_rate_limit(&self) {
        lock(&self.shared.limiter).reset();
    }

    /// Stops serving and waits for the server task.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        if let Some(task) = self.task.take() {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "emulator server ended with an error"),
                Err(e) => tracing::warn!(error = %e, "emulator server task failed"),
            }
        }
    }
}

impl std::fmt::Debug for EmulatorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorHandle")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// `cfgeo emulator`: serves until `shutdown` is cancelled.
pub async fn serve(
    config: EmulatorConfig,
    shutdown: CancellationToken,
) -> Result<(), EmulatorError> {
    let handle = Emulator::start(config).await?;
    let zones: Vec<String> = handle.shared.read(|s| {
        s.zones
            .values()
            .map(|z| format!("{} ({}, {})", z.name, z.id, z.plan))
            .collect()
    });
    tracing::info!(
        url = %handle.base_url(),
        admin = %handle.admin_url(),
        account_id = %handle.account_id(),
        zones = %zones.join(", "),
        "Cloudflare API emulator listening on {}",
        handle.base_url()
    );
    shutdown.cancelled().await;
    handle.shutdown().await;
    Ok(())
}
