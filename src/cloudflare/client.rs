//! The HTTP client: one budget, retries with jittered backoff, envelope checks, call counts.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::CloudflareError;
use super::budget::Budget;
use super::ratelimit::{server_quota, wait_hint};
use super::token::TokenSource;
use super::types::*;

/// Cloudflare's documented default: 1,200 requests per 5 minutes per token.
pub const DEFAULT_RATE_LIMIT: u32 = 1200;
/// The window of [`DEFAULT_RATE_LIMIT`].
pub const DEFAULT_RATE_WINDOW: Duration = Duration::from_secs(300);
/// Public API base.
pub const DEFAULT_BASE_URL: &str = "https://api.cloudflare.com/client/v4";

/// How the client behaves.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// Base URL ending in `/client/v4`.
    pub base_url: String,
    /// Requests allowed per window.
    pub rate_limit: u32,
    /// The sliding window `rate_limit` counts over (default 300 s); a token returns one window
    /// after its request finished.
    pub rate_window: Duration,
    /// Longest one HTTP attempt may take, connect to last byte (default 30 s); a timed-out
    /// call is retried unless it is a POST, whose create may have landed.
    pub timeout: Duration,
    /// Retries for transport errors and 5xx.
    pub max_retries: usize,
    /// Retries of a read after a 429 (each waits for the budget to resume). A write answered
    /// 429 is never resent: its body was planned before the pause.
    pub max_rate_limited_retries: usize,
    /// Delay before the first retry of a transport error or 5xx (default 200 ms); later ones
    /// grow exponentially, with jitter.
    pub backoff_min: Duration,
    /// Cap of that exponential delay (default 10 s).
    pub backoff_max: Duration,
    /// Pause after a 429 that carries no hint (Cloudflare blocks for the whole window).
    pub default_429_pause: Duration,
    /// DNS records per page when listing.
    pub dns_per_page: u32,
    /// A write that waited longer than this for the rate budget is not sent
    /// ([`CloudflareError::Deferred`]): its body was planned from what may have changed since.
    pub stale_write_after: Duration,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.into(),
            rate_limit: DEFAULT_RATE_LIMIT,
            rate_window: DEFAULT_RATE_WINDOW,
            timeout: Duration::from_secs(30),
            max_retries: 4,
            max_rate_limited_retries: 8,
            backoff_min: Duration::from_millis(200),
            backoff_max: Duration::from_secs(10),
            default_429_pause: DEFAULT_RATE_WINDOW,
            dns_per_page: 5000,
            stale_write_after: Duration::from_secs(5),
        }
    }
}

/// Calls made, by endpoint and outcome (`200`, `429`, `transport`...).
#[derive(Debug, Default)]
pub struct CallStats {
    counts: Mutex<BTreeMap<(&'static str, String), u64>>,
}

impl CallStats {
    fn record(&self, endpoint: &'static str, outcome: String) {
        let mut m = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        *m.entry((endpoint, outcome)).or_default() += 1;
    }

    /// A copy of the counters.
    pub fn snapshot(&self) -> BTreeMap<(&'static str, String), u64> {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// All attempts so far.
    pub fn total(&self) -> u64 {
        self.snapshot().values().sum()
    }
}

/// A Cloudflare API client. Cheap to clone; clones share the budget and counters.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    settings: Arc<ClientSettings>,
    token: Arc<TokenSource>,
    budget: Arc<Budget>,
    stats: Arc<CallStats>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.settings.base_url)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// Whether a call may be repeated when its outcome is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Idempotency {
    Safe,
    Unsafe,
}

struct Call<'a, B: Serialize> {
    method: Method,
    endpoint: &'static str,
    path: String,
    query: Vec<(&'a str, String)>,
    body: Option<&'a B>,
}

impl Client {
    /// Builds a client. Installs rustls's ring provider if no provider is installed yet.
    pub fn new(settings: ClientSettings, token: TokenSource) -> Result<Self, CloudflareError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .user_agent(concat!("cfgeo/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(CloudflareError::Transport)?;
        let budget = Arc::new(Budget::new(settings.rate_limit, settings.rate_window));
        Ok(Self {
            http,
            settings: Arc::new(settings),
            token: Arc::new(token),
            budget,
            stats: Arc::new(CallStats::default()),
        })
    }

    /// The shared budget (for metrics).
    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    /// Call counters (for metrics and tests).
    pub fn stats(&self) -> &CallStats {
        &self.stats
    }

    /// The configured settings.
    pub fn settings(&self) -> &ClientSettings {
        &self.settings
    }

    async fn send<T: DeserializeOwned, B: Serialize>(
        &self,
        call: Call<'_, B>,
    ) -> Result<(T, Option<ResultInfo>), CloudflareError> {
        let idem = if call.method == Method::POST {
            Idempotency::Unsafe
        } else {
            Idempotency::Safe
        };
        let is_read = call.method == Method::GET;
        // Time this write spent waiting for the budget, over all its attempts.
        let mut waited = Duration::ZERO;
        let mut delays = ExponentialBuilder::default()
            .with_min_delay(self.settings.backoff_min)
            .with_max_delay(self.settings.backoff_max)
            .with_jitter()
            .with_max_times(self.settings.max_retries)
            .build();
        let mut limited = 0usize;
        let url = format!(
            "{}{}",
            self.settings.base_url.trim_end_matches('/'),
            call.path
        );
        loop {
            let token = self.token.current()?;
            let spent = if is_read {
                self.budget.acquire().await
            } else {
                let before = tokio::time::Instant::now();
                let max_wait = self.settings.stale_write_after.saturating_sub(waited);
                match self.budget.acquire_write(max_wait).await {
                    Ok(spent) => {
                        waited += spent - before;
                        spent
                    }
                    Err(w) => {
                        waited += w;
                        tracing::info!(endpoint = call.endpoint, waited = ?waited, "write held back by the rate budget; not sent");
                        return Err(CloudflareError::Deferred {
                            endpoint: call.endpoint,
                            waited,
                        });
                    }
                }
            };
            let mut req = self
                .http
                .request(call.method.clone(), &url)
                .bearer_auth(token.expose());
            if !call.query.is_empty() {
                req = req.query(&call.query);
            }
            if let Some(b) = call.body {
                req = req.json(b);
            }
            let sent = req.send().await;
            self.budget.finished(spent);
            let resp = match sent {
                Ok(r) => r,
                Err(e) => {
                    let outcome = if e.is_timeout() {
                        "timeout"
                    } else {
                        "transport"
                    };
                    self.stats.record(call.endpoint, outcome.into());
                    // A failed connect never reached Cloudflare, so any call may be repeated.
                    let retryable = e.is_connect() || idem == Idempotency::Safe;
                    if retryable && let Some(d) = delays.next() {
                        tracing::debug!(endpoint = call.endpoint, error = %e, delay = ?d, "retrying");
                        tokio::time::sleep(d).await;
                        continue;
                    }
                    return Err(if e.is_timeout() {
                        CloudflareError::Timeout {
                            endpoint: call.endpoint,
                        }
                    } else {
                        CloudflareError::Transport(e.without_url())
                    });
                }
            };
            let status = resp.status();
            self.stats
                .record(call.endpoint, status.as_u16().to_string());
            if let Some(q) = server_quota(resp.headers()) {
                self.budget.observe_server(
                    q.remaining,
                    q.reset,
                    q.quota.unwrap_or(self.settings.rate_limit),
                    q.window.unwrap_or(self.settings.rate_window),
                );
            }
            let hint = wait_hint(resp.headers(), status == StatusCode::TOO_MANY_REQUESTS);
            if status == StatusCode::TOO_MANY_REQUESTS {
                let pause = hint.unwrap_or(self.settings.default_429_pause);
                tracing::warn!(endpoint = call.endpoint, pause = ?pause, "rate limited by Cloudflare; pausing all calls");
                self.budget.pause_for(pause);
                // A 429 was not processed, so a read may be repeated; a write may not, since
                // its body was planned before the pause: the caller re-reads and re-plans.
                if is_read && limited < self.settings.max_rate_limited_retries {
                    limited += 1;
                    continue;
                }
                return Err(CloudflareError::RateLimited {
                    endpoint: call.endpoint,
                    retry_after: pause,
                });
            }
            if let Some(d) = hint {
                // Budget exhausted on Cloudflare's side even though this call passed.
                self.budget.pause_for(d);
            }
            let body = match resp.bytes().await {
                Ok(b) => b,
                Err(e) => {
                    if idem == Idempotency::Safe
                        && let Some(d) = delays.next()
                    {
                        tokio::time::sleep(d).await;
                        continue;
                    }
                    return Err(CloudflareError::Transport(e.without_url()));
                }
            };
            if status.is_server_error() {
                if idem == Idempotency::Safe
                    && let Some(d) = delays.next()
                {
                    tracing::debug!(endpoint = call.endpoint, %status, delay = ?d, "retrying");
                    tokio::time::sleep(d).await;
                    continue;
                }
                return Err(api_error(call.endpoint, status, &body));
            }
            return decode(call.endpoint, status, &body);
        }
    }

    async fn get<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        path: String,
        query: Vec<(&str, String)>,
    ) -> Result<(T, Option<ResultInfo>), CloudflareError> {
        self.send::<T, ()>(Call {
            method: Method::GET,
            endpoint,
            path,
            query,
            body: None,
        })
        .await
    }

    async fn write<T: DeserializeOwned, B: Serialize>(
        &self,
        method: Method,
        endpoint: &'static str,
        path: String,
        body: &B,
    ) -> Result<T, CloudflareError> {
        self.send(Call {
            method,
            endpoint,
            path,
            query: Vec::new(),
            body: Some(body),
        })
        .await
        .map(|(t, _)| t)
    }

    async fn delete(&self, endpoint: &'static str, path: String) -> Result<(), CloudflareError> {
        let r = self
            .send::<Deleted, ()>(Call {
                method: Method::DELETE,
                endpoint,
                path,
                query: Vec::new(),
                body: None,
            })
            .await;
        match r {
            Ok(_) => Ok(()),
            // Already gone (possibly by our own earlier attempt whose answer was lost).
            Err(e) if e.status() == Some(404) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Reads every page of a collection. Stops at the last page from `result_info`, or at a
    /// short or empty page when Cloudflare does not say.
    async fn all_pages<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        path: String,
        query: Vec<(&str, String)>,
        per_page: u32,
    ) -> Result<Vec<T>, CloudflareError> {
        let mut out = Vec::new();
        let mut page = 1u64;
        loop {
            let mut q = query.clone();
            q.push(("page", page.to_string()));
            q.push(("per_page", per_page.to_string()));
            let (items, info): (Vec<T>, _) = self.get(endpoint, path.clone(), q).await?;
            let n = items.len();
            out.extend(items);
            let last = match info.as_ref().and_then(|i| i.total_pages) {
                Some(total) => page >= total,
                None => n < per_page as usize,
            };
            if n == 0 || last {
                return Ok(out);
            }
            page += 1;
        }
    }

    // === tokens ===

    /// `GET /user/tokens/verify`.
    pub async fn verify_token(&self) -> Result<TokenStatus, CloudflareError> {
        Ok(self
            .get("tokens.verify", "/user/tokens/verify".into(), vec![])
            .await?
            .0)
    }

    /// `GET /accounts/{id}/tokens/verify` (account-owned tokens).
    pub async fn verify_account_token(
        &self,
        account: &str,
    ) -> Result<TokenStatus, CloudflareError> {
        let path = format!("/accounts/{account}/tokens/verify");
        Ok(self.get("account_tokens.verify", path, vec![]).await?.0)
    }

    // === zones ===

    /// Lists zones, all pages; `name` filters by exact apex.
    pub async fn list_zones(&self, name: Option<&str>) -> Result<Vec<Zone>, CloudflareError> {
        let q = name
            .map(|n| vec![("name", n.to_string())])
            .unwrap_or_default();
        self.all_pages("zones.list", "/zones".into(), q, 50).await
    }

    /// Gets one zone.
    pub async fn get_zone(&self, zone: &str) -> Result<Zone, CloudflareError> {
        Ok(self
            .get("zones.get", format!("/zones/{zone}"), vec![])
            .await?
            .0)
    }

    // === DNS records ===

    /// Lists a zone's records, all pages, optionally filtered by exact name and type.
    pub async fn list_dns_records(
        &self,
        zone: &str,
        name: Option<&str>,
        record_type: Option<&RecordType>,
    ) -> Result<Vec<DnsRecord>, CloudflareError> {
        let mut q = Vec::new();
        if let Some(n) = name {
            q.push(("name", n.to_string()));
        }
        if let Some(t) = record_type {
            q.push(("type", t.to_string()));
        }
        let per_page = self.settings.dns_per_page;
        self.all_pages(
            "dns_records.list",
            format!("/zones/{zone}/dns_records"),
            q,
            per_page,
        )
        .await
    }

    /// Creates a record.
    pub async fn create_dns_record(
        &self,
        zone: &str,
        rec: &DnsRecordInput,
    ) -> Result<DnsRecord, CloudflareError> {
        let path = format!("/zones/{zone}/dns_records");
        self.write(Method::POST, "dns_records.create", path, rec)
            .await
    }

    /// Overwrites a record (PUT).
    pub async fn update_dns_record(
        &self,
        zone: &str,
        id: &str,
        rec: &DnsRecordInput,
    ) -> Result<DnsRecord, CloudflareError> {
        let path = format!("/zones/{zone}/dns_records/{id}");
        self.write(Method::PUT, "dns_records.update", path, rec)
            .await
    }

    /// Changes some fields of a record (PATCH); `fields` is a JSON object.
    pub async fn patch_dns_record(
        &self,
        zone: &str,
        id: &str,
        fields: &serde_json::Value,
    ) -> Result<DnsRecord, CloudflareError> {
        let path = format!("/zones/{zone}/dns_records/{id}");
        self.write(Method::PATCH, "dns_records.patch", path, fields)
            .await
    }

    /// Deletes a record; an already deleted record is not an error.
    pub async fn delete_dns_record(&self, zone: &str, id: &str) -> Result<(), CloudflareError> {
        self.delete(
            "dns_records.delete",
            format!("/zones/{zone}/dns_records/{id}"),
        )
        .await
    }

    /// Runs a batch in one transaction. Not retried on an unknown outcome: the caller re-reads.
    pub async fn batch_dns_records(
        &self,
        zone: &str,
        batch: &BatchRequest,
    ) -> Result<BatchResult, CloudflareError> {
        let path = format!("/zones/{zone}/dns_records/batch");
        self.write(Method::POST, "dns_records.batch", path, batch)
            .await
    }

    // === pools ===

    /// Lists the account's pools (one unpaginated page, as Cloudflare answers).
    pub async fn list_pools(&self, account: &str) -> Result<Vec<Pool>, CloudflareError> {
        let path = format!("/accounts/{account}/load_balancers/pools");
        Ok(self.get("pools.list", path, vec![]).await?.0)
    }

    /// Gets a pool.
    pub async fn get_pool(&self, account: &str, id: &str) -> Result<Pool, CloudflareError> {
        let path = format!("/accounts/{account}/load_balancers/pools/{id}");
        Ok(self.get("pools.get", path, vec![]).await?.0)
    }

    /// Creates a pool.
    pub async fn create_pool(
        &self,
        account: &str,
        pool: &PoolInput,
    ) -> Result<Pool, CloudflareError> {
        let path = format!("/accounts/{account}/load_balancers/pools");
        self.write(Method::POST, "pools.create", path, pool).await
    }

    /// Overwrites a pool (PUT).
    pub async fn update_pool(
        &self,
        account: &str,
        id: &str,
        pool: &PoolInput,
    ) -> Result<Pool, CloudflareError> {
        let path = format!("/accounts/{account}/load_balancers/pools/{id}");
        self.write(Method::PUT, "pools.update", path, pool).await
    }

    /// Changes only the given fields of a pool (PATCH).
    pub async fn patch_pool(
        &self,
        account: &str,
        id: &str,
        patch: &PoolPatch,
    ) -> Result<Pool, CloudflareError> {
        let path = format!("/accounts/{account}/load_balancers/pools/{id}");
        self.write(Method::PATCH, "pools.patch", path, patch).await
    }

    /// Deletes a pool; 412 with code 1005 means it is still referenced.
    pub async fn delete_pool(&self, account: &str, id: &str) -> Result<(), CloudflareError> {
        self.delete(
            "pools.delete",
            format!("/accounts/{account}/load_balancers/pools/{id}"),
        )
        .await
    }

    /// `GET …/pools/{id}/health`: the pool's health by PoP (read only; cfgeo never writes from
    /// it, so every field of the answer is optional).
    pub async fn pool_health(
        &self,
        account: &str,
        id: &str,
    ) -> Result<PoolHealth, CloudflareError> {
        let path = format!("/accounts/{account}/load_balancers/pools/{id}/health");
        Ok(self.get("pools.health", path, vec![]).await?.0)
    }

    /// What references a pool (LBs) and what it references (its monitor).
    pub async fn pool_references(
        &self,
        account: &str,
        id: &str,
    ) -> Result<Vec<Reference>, CloudflareError> {
        let path = format!("/accounts/{account}/load_balancers/pools/{id}/references");
        Ok(self.get("pools.references", path, vec![]).await?.0)
    }

    // === monitors ===

    /// Lists monitors.
    pub async fn list_monitors(&self, account: &str) -> Result<Vec<Monitor>, CloudflareError> {
        let path = format!("/accounts/{account}/load_balancers/monitors");
        Ok(self.get("monitors.list", path, vec![]).await?.0)
    }

    /// Gets a monitor.
    pub async fn get_monitor(&self, account: &str, id: &str) -> Result<Monitor, CloudflareError> {
        let path = format!("/accounts/{account}/load_balancers/monitors/{id}");
        Ok(self.get("monitors.get", path, vec![]).await?.0)
    }

    /// Creates a monitor.
    pub async fn create_monitor(
        &self,
        account: &str,
        m: &MonitorInput,
    ) -> Result<Monitor, CloudflareError> {
        let path = format!("/accounts/{account}/load_balancers/monitors");
        self.write(Method::POST, "monitors.create", path, m).await
    }

    /// Overwrites a monitor (PUT).
    pub async fn update_monitor(
        &self,
        account: &str,
        id: &str,
        m: &MonitorInput,
    ) -> Result<Monitor, CloudflareError> {
        let path = format!("/accounts/{account}/load_balancers/monitors/{id}");
        self.write(Method::PUT, "monitors.update", path, m).await
    }

    /// Changes some fields of a monitor (PATCH).
    pub async fn patch_monitor(
        &self,
        account: &str,
        id: &str,
        m: &MonitorInput,
    ) -> Result<Monitor, CloudflareError> {
        let path = format!("/accounts/{account}/load_balancers/monitors/{id}");
        self.write(Method::PATCH, "monitors.patch", path, m).await
    }

    /// Deletes a monitor.
    pub async fn delete_monitor(&self, account: &str, id: &str) -> Result<(), CloudflareError> {
        self.delete(
            "monitors.delete",
            format!("/accounts/{account}/load_balancers/monitors/{id}"),
        )
        .await
    }

    // === load balancers ===

    /// Lists a zone's load balancers.
    pub async fn list_load_balancers(
        &self,
        zone: &str,
    ) -> Result<Vec<LoadBalancer>, CloudflareError> {
        let path = format!("/zones/{zone}/load_balancers");
        Ok(self.get("load_balancers.list", path, vec![]).await?.0)
    }

    /// Gets a load balancer.
    pub async fn get_load_balancer(
        &self,
        zone: &str,
        id: &str,
    ) -> Result<LoadBalancer, CloudflareError> {
        let path = format!("/zones/{zone}/load_balancers/{id}");
        Ok(self.get("load_balancers.get", path, vec![]).await?.0)
    }

    /// Creates a load balancer.
    pub async fn create_load_balancer(
        &self,
        zone: &str,
        lb: &LoadBalancerInput,
    ) -> Result<LoadBalancer, CloudflareError> {
        let path = format!("/zones/{zone}/load_balancers");
        self.write(Method::POST, "load_balancers.create", path, lb)
            .await
    }

    /// Overwrites a load balancer (PUT). cfgeo itself PATCHes; this is for completeness.
    pub async fn update_load_balancer(
        &self,
        zone: &str,
        id: &str,
        lb: &LoadBalancerInput,
    ) -> Result<LoadBalancer, CloudflareError> {
        let path = format!("/zones/{zone}/load_balancers/{id}");
        self.write(Method::PUT, "load_balancers.update", path, lb)
            .await
    }

    /// Changes only managed fields of a load balancer (PATCH).
    pub async fn patch_load_balancer(
        &self,
        zone: &str,
        id: &str,
        patch: &LoadBalancerPatch,
    ) -> Result<LoadBalancer, CloudflareError> {
        let path = format!("/zones/{zone}/load_balancers/{id}");
        self.write(Method::PATCH, "load_balancers.patch", path, patch)
            .await
    }

    /// Deletes a load balancer.
    pub async fn delete_load_balancer(&self, zone: &str, id: &str) -> Result<(), CloudflareError> {
        self.delete(
            "load_balancers.delete",
            format!("/zones/{zone}/load_balancers/{id}"),
        )
        .await
    }
}

fn snippet(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(body);
    s.chars().take(200).collect()
}

fn api_error(endpoint: &'static str, status: StatusCode, body: &[u8]) -> CloudflareError {
    match serde_json::from_slice::<Envelope<serde_json::Value>>(body) {
        Ok(env) if !env.errors.is_empty() => CloudflareError::Api {
            endpoint,
            status: status.as_u16(),
            errors: env.errors,
        },
        _ => CloudflareError::Http {
            endpoint,
            status: status.as_u16(),
            body: snippet(body),
        },
    }
}

fn decode<T: DeserializeOwned>(
    endpoint: &'static str,
    status: StatusCode,
    body: &[u8],
) -> Result<(T, Option<ResultInfo>), CloudflareError> {
    // The payload stays raw text until its type is known: a listing of 5,000 records as a
    // `Value` tree first would cost several MiB for nothing.
    let env: Envelope<Box<serde_json::value::RawValue>> = match serde_json::from_slice(body) {
        Ok(e) => e,
        Err(source) if status.is_success() => {
            return Err(CloudflareError::Decode {
                endpoint,
                message: source.to_string(),
                body: snippet(body),
            });
        }
        Err(_) => return Err(api_error(endpoint, status, body)),
    };
    if !status.is_success() || !env.success {
        return Err(CloudflareError::Api {
            endpoint,
            status: status.as_u16(),
            errors: if env.errors.is_empty() {
                vec![ApiMessage {
                    code: 0,
                    message: format!("success=false with HTTP {status} and no error entries"),
                }]
            } else {
                env.errors
            },
        });
    }
    let raw = env
        .result
        .as_deref()
        .map_or("null", serde_json::value::RawValue::get);
    // With the path, so a wrong type names its field (`[0].origins[1].enabled: invalid type`).
    let mut de = serde_json::Deserializer::from_str(raw);
    let t = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        CloudflareError::Decode {
            endpoint,
            message: if path == "." {
                inner.to_string()
            } else {
                format!("{path}: {inner}")
            },
            body: snippet(body),
        }
    })?;
    Ok((t, env.result_info))
}
