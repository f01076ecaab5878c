//! The HTTP face: axum routes for Cloudflare's `/client/v4` surface behind one gate (call log,
//! injected faults, authentication, rate limit) and the `/__emulator` admin API.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Extension, MatchedPath, Path, Query, Request, State as Ctx};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::common::{
    ApiError, ApiMessage, PageRequest, ResultInfo, codes, fingerprint, paginate, parse_object,
};
use super::dns::WriteMode;
use super::faults::{FaultAction, FaultBook, FaultSpec};
use super::journal::{CallRecord, Journal};
use super::lb::Write;
use super::ratelimit::{RateLimiter, Verdict};
use super::state::{State, ZoneSpec};

/// API prefix.
pub const API: &str = "/client/v4";
/// Admin prefix.
pub const ADMIN: &str = "/__emulator";

/// Everything the handlers share. No `Debug`: it holds the accepted tokens.
pub(crate) struct Shared {
    pub state: Mutex<State>,
    pub state_file: Option<PathBuf>,
    pub tokens: Vec<String>,
    pub limiter: Mutex<RateLimiter>,
    pub journal: Mutex<Journal>,
    pub faults: Mutex<FaultBook>,
    pub started: Instant,
}

pub(crate) type App = Arc<Shared>;

/// Locks, ignoring poisoning: every critical section leaves its data consistent.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&lock(&self.state))
    }

    /// Runs a mutation; on success persists the state (under the same lock, so files follow the
    /// order of mutations).
    pub fn write<R>(
        &self,
        f: impl FnOnce(&mut State) -> Result<R, ApiError>,
    ) -> Result<R, ApiError> {
        let mut state = lock(&self.state);
        let out = f(&mut state)?;
        self.persist(&state);
        Ok(out)
    }

    pub fn persist(&self, state: &State) {
        if let Some(path) = &self.state_file
            && let Err(e) = state.save(path)
        {
            tracing::error!(path = %path.display(), error = %e, "emulator: could not write state file");
        }
    }
}

/// The authenticated caller, for token verification.
#[derive(Clone, Debug)]
struct Caller {
    token_id: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        let body = json!({"success": false, "errors": self.errors, "messages": [], "result": null});
        (status, Json(body)).into_response()
    }
}

type ApiResult = Result<Response, ApiError>;

fn ok(result: Value) -> Response {
    Json(json!({"success": true, "errors": [], "messages": [], "result": result})).into_response()
}

fn ok_page(result: Vec<Value>, info: ResultInfo) -> Response {
    Json(json!({"success": true, "errors": [], "messages": [], "result": result, "result_info": info}))
        .into_response()
}

/// Lists Cloudflare does not page (pools, monitors, load balancers): page 1 holds everything,
/// later pages are empty so that a generic pager stops.
fn ok_unpaged(result: Vec<Value>, query: &[(String, String)]) -> Response {
    let per_page = result.len().max(1);
    let req = PageRequest::from_query(query, per_page, 1, usize::MAX);
    let req = PageRequest { per_page, ..req };
    let (page, info) = paginate(result, req);
    ok_page(page, info)
}

fn ok_id(id: &str) -> Response {
    ok(json!({"id": id}))
}

fn query(uri: &Uri) -> Vec<(String, String)> {
    Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map(|q| q.0)
        .unwrap_or_default()
}

/// Builds the whole router.
pub(crate) fn router(app: App) -> Router {
    let a = |p: &str| format!("{API}{p}");
    let api = Router::new()
        .route(&a("/zones"), get(list_zones))
        .route(&a("/zones/{zone_id}"), get(get_zone))
        .route(
            &a("/zones/{zone_id}/dns_records"),
            get(list_records).post(create_record),
        )
        .route(
            &a("/zones/{zone_id}/dns_records/export"),
            get(export_records),
        )
        .route(
            &a("/zones/{zone_id}/dns_records/batch"),
            post(batch_records),
        )
        .route(
            &a("/zones/{zone_id}/dns_records/{record_id}"),
            get(get_record)
                .put(put_record)
                .patch(patch_record)
                .delete(delete_record),
        )
        .route(
            &a("/zones/{zone_id}/load_balancers"),
            get(list_lbs).post(create_lb),
        )
        .route(
            &a("/zones/{zone_id}/load_balancers/{lb_id}"),
            get(get_lb).put(put_lb).patch(patch_lb).delete(delete_lb),
        )
        .route(
            &a("/accounts/{account_id}/load_balancers/pools"),
            get(list_pools).post(create_pool),
        )
        .route(
            &a("/accounts/{account_id}/load_balancers/pools/{pool_id}"),
            get(get_pool)
                .put(put_pool)
                .patch(patch_pool)
                .delete(delete_pool),
        )
        .route(
            &a("/accounts/{account_id}/load_balancers/pools/{pool_id}/health"),
            get(pool_health),
        )
        .route(
            &a("/accounts/{account_id}/load_balancers/pools/{pool_id}/references"),
            get(pool_references),
        )
        .route(
            &a("/accounts/{account_id}/load_balancers/monitors"),
            get(list_monitors).post(create_monitor),
        )
        .route(
            &a("/accounts/{account_id}/load_balancers/monitors/{monitor_id}"),
            get(get_monitor)
                .put(put_monitor)
                .patch(patch_monitor)
                .delete(delete_monitor),
        )
        .route(
            &a("/accounts/{account_id}/load_balancers/monitors/{monitor_id}/references"),
            get(monitor_references),
        )
        .route(&a("/user/tokens/verify"), get(verify_token))
        .route(
            &a("/accounts/{account_id}/tokens/verify"),
            get(verify_account_token),
        )
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(no_route)
        .layer(middleware::from_fn_with_state(app.clone(), gate));

    let m = |p: &str| format!("{ADMIN}{p}");
    let admin = Router::new()
        .route(&m("/calls"), get(admin_calls).delete(admin_reset_calls))
        .route(&m("/counters"), get(admin_counters))
        .route(
            &m("/faults"),
            get(admin_faults)
                .post(admin_add_fault)
                .delete(admin_clear_faults),
        )
        .route(&m("/state"), get(admin_state).put(admin_replace_state))
        .route(&m("/zones"), post(admin_add_zone))
        .route(
            &m("/ratelimit"),
            axum::routing::delete(admin_reset_ratelimit),
        )
        .method_not_allowed_fallback(method_not_allowed);

    api.merge(admin)
        // Seeding a large state or a 3,500-operation batch exceeds axum's 2 MB default.
        .layer(DefaultBodyLimit::max(64 * 1024 * 1024))
        .with_state(app)
}

async fn no_route() -> ApiError {
    ApiError::new(404, codes::NO_ROUTE, "No route for the URI")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        405,
        codes::METHOD_NOT_ALLOWED,
        "Method not allowed for this route",
    )
}

/// Who is calling: a bearer token or a legacy key.
enum Credential {
    Token(String),
    Key(String),
}

impl Credential {
    fn secret(&self) -> &str {
        match self {
            Credential::Token(s) | Credential::Key(s) => s,
        }
    }
}

fn credential(headers: &HeaderMap) -> Result<Credential, ApiError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|token| !token.is_empty());
        return match token {
            Some(t) => Ok(Credential::Token(t.to_owned())),
            None => Err(ApiError {
                status: 400,
                errors: vec![ApiMessage {
                    code: codes::INVALID_HEADERS,
                    message: "Invalid request headers".to_owned(),
                    error_chain: vec![ApiMessage {
                        code: codes::INVALID_AUTH_FORMAT,
                        message: "Invalid format for Authorization header".to_owned(),
                        error_chain: Vec::new(),
                    }],
                }],
            }),
        };
    }
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    match (text("x-auth-email"), text("x-auth-key")) {
        (Some(_), Some(key)) => Ok(Credential::Key(key.to_owned())),
        _ => Err(ApiError {
            status: 400,
            errors: vec![
                ApiMessage {
                    code: codes::MISSING_AUTH_EMAIL,
                    message: "Missing X-Auth-Email header".to_owned(),
                    error_chain: Vec::new(),
                },
                ApiMessage {
                    code: codes::MISSING_AUTH_KEY,
                    message: "Missing X-Auth-Key header".to_owned(),
                    error_chain: Vec::new(),
                },
            ],
        }),
    }
}

fn authorize(app: &Shared, cred: &Credential) -> Result<(), ApiError> {
    if app.tokens.is_empty() {
        return Ok(());
    }
    match cred {
        Credential::Token(t) if app.tokens.iter().any(|k| k == t) => Ok(()),
        Credential::Token(_) => Err(ApiError::new(
            403,
            codes::INVALID_TOKEN,
            "Invalid access token",
        )),
        Credential::Key(_) => Err(ApiError::new(
            403,
            codes::AUTH_ERROR,
            "Authentication error",
        )),
    }
}

fn short_fingerprint(secret: &str) -> String {
    format!("{:016x}", fingerprint(secret))[..8].to_owned()
}

fn set_header(headers: &mut HeaderMap, name: &'static str, value: String) {
    if let Ok(v) = HeaderValue::from_str(&value) {
        headers.insert(HeaderName::from_static(name), v);
    }
}

fn rate_limited(limit: u32, window_secs: u64, retry_after: Option<u64>, code: u32) -> Response {
    let mut response = ApiError::new(
        429,
        code,
        format!("More than {limit} requests per {window_secs} seconds reached. Please wait and consider throttling your request speed"),
    )
    .into_response();
    if let Some(secs) = retry_after {
        set_header(response.headers_mut(), "retry-after", secs.to_string());
    }
    response
}

/// A response whose body fails before its first byte: hyper then closes the connection without
/// having written the buffered head, so the client sees the socket close with no HTTP answer.
fn dropped_connection() -> Response {
    let failing = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "emulator fault: drop connection",
        ))
    });
    Response::new(Body::from_stream(failing))
}

/// Everything in front of the Cloudflare handlers: faults, authentication, rate limit; and the
/// call log around all of it.
async fn gate(Ctx(app): Ctx<App>, mut req: Request, next: Next) -> Response {
    let arrived = Instant::now();
    let at_ms = u64::try_from(arrived.duration_since(app.started).as_millis()).unwrap_or(u64::MAX);
    let seq = lock(&app.journal).next_seq();
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "<unmatched>".to_owned(), |m| m.as_str().to_owned());
    let cred = credential(req.headers());
    let token_fingerprint = cred.as_ref().ok().map(|c| short_fingerprint(c.secret()));
    let fault = lock(&app.faults).take(&method, &path);

    let mut dropped = false;
    let response = 'answer: {
        if let Some(f) = &fault {
            if let Some(ms) = f.latency_ms {
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            if f.drop {
                dropped = true;
                break 'answer dropped_connection();
            }
            if let Some(status) = f.status {
                break 'answer injected(&app, status, f);
            }
        }
        let cred = match cred {
            Ok(c) => c,
            Err(e) => break 'answer e.into_response(),
        };
        if let Err(e) = authorize(&app, &cred) {
            break 'answer e.into_response();
        }
        let (limit, window) = {
            let limiter = lock(&app.limiter);
            (limiter.limit(), limiter.window_secs())
        };
        let verdict = lock(&app.limiter).check(&short_fingerprint(cred.secret()), Instant::now());
        match verdict {
            Verdict::Limited { retry_after_secs } => {
                let mut r =
                    rate_limited(limit, window, Some(retry_after_secs), codes::RATE_LIMITED);
                set_header(
                    r.headers_mut(),
                    "ratelimit",
                    format!("\"default\";r=0;t={retry_after_secs}"),
                );
                set_header(
                    r.headers_mut(),
                    "ratelimit-policy",
                    format!("\"default\";q={limit};w={window}"),
                );
                r
            }
            Verdict::Allowed {
                remaining,
                reset_secs,
            } => {
                let token_id = format!(
                    "{:016x}{:016x}",
                    fingerprint(cred.secret()),
                    fingerprint(&format!("token-id:{}", cred.secret()))
                );
                req.extensions_mut().insert(Caller { token_id });
                let mut r = next.run(req).await;
                set_header(
                    r.headers_mut(),
                    "ratelimit",
                    format!("\"default\";r={remaining};t={reset_secs}"),
                );
                set_header(
                    r.headers_mut(),
                    "ratelimit-policy",
                    format!("\"default\";q={limit};w={window}"),
                );
                r
            }
        }
    };

    let status = (!dropped).then(|| response.status().as_u16());
    lock(&app.journal).record(CallRecord {
        seq,
        at_ms,
        method,
        path,
        query,
        route,
        status,
        token_fingerprint,
        fault: fault.map(|f| f.label()),
    });
    response
}

fn injected(app: &Shared, status: u16, fault: &FaultAction) -> Response {
    if status == 429 {
        let limiter = lock(&app.limiter);
        return rate_limited(
            limiter.limit(),
            limiter.window_secs(),
            fault.retry_after,
            codes::RATE_LIMITED,
        );
    }
    let mut response = ApiError::new(
        status,
        codes::INJECTED_FAULT,
        format!("Injected fault: HTTP {status}"),
    )
    .into_response();
    if let Some(secs) = fault.retry_after {
        set_header(response.headers_mut(), "retry-after", secs.to_string());
    }
    response
}

// ---- zones

async fn list_zones(Ctx(app): Ctx<App>, uri: Uri) -> Response {
    let q = query(&uri);
    let zones = app.read(|s| s.list_zones(&q));
    let (page, info) = paginate(zones, PageRequest::from_query(&q, 20, 5, 50));
    ok_page(page, info)
}

async fn get_zone(Ctx(app): Ctx<App>, Path(zone_id): Path<String>) -> ApiResult {
    app.read(|s| s.zone(&zone_id).map(|z| z.to_api(&s.account)))
        .map(ok)
}

// ---- DNS records

async fn list_records(Ctx(app): Ctx<App>, Path(zone_id): Path<String>, uri: Uri) -> ApiResult {
    let (items, info) = app.read(|s| s.list_records(&zone_id, &query(&uri)))?;
    Ok(ok_page(items, info))
}

async fn create_record(Ctx(app): Ctx<App>, Path(zone_id): Path<String>, body: Bytes) -> ApiResult {
    let body = parse_object(&body)?;
    let rec = app.write(|s| s.create_record(&zone_id, &body))?;
    Ok(ok(rec.to_api()))
}

async fn get_record(Ctx(app): Ctx<App>, Path((zone_id, id)): Path<(String, String)>) -> ApiResult {
    app.read(|s| s.record(&zone_id, &id).map(|r| r.to_api()))
        .map(ok)
}

async fn put_record(
    Ctx(app): Ctx<App>,
    Path((zone_id, id)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let body = parse_object(&body)?;
    let rec = app.write(|s| s.update_record(&zone_id, &id, &body, WriteMode::Replace))?;
    Ok(ok(rec.to_api()))
}

async fn patch_record(
    Ctx(app): Ctx<App>,
    Path((zone_id, id)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let body = parse_object(&body)?;
    let rec = app.write(|s| s.update_record(&zone_id, &id, &body, WriteMode::Merge))?;
    Ok(ok(rec.to_api()))
}

async fn delete_record(
    Ctx(app): Ctx<App>,
    Path((zone_id, id)): Path<(String, String)>,
) -> ApiResult {
    app.write(|s| s.delete_record(&zone_id, &id))?;
    Ok(ok_id(&id))
}

async fn export_records(Ctx(app): Ctx<App>, Path(zone_id): Path<String>) -> ApiResult {
    let text = app.read(|s| s.export_records(&zone_id))?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

async fn batch_records(Ctx(app): Ctx<App>, Path(zone_id): Path<String>, body: Bytes) -> ApiResult {
    let body = parse_object(&body)?;
    let result = app.write(|s| s.batch_records(&zone_id, &body))?;
    Ok(ok(serde_json::to_value(result).unwrap_or(Value::Null)))
}

// ---- load balancers

async fn list_lbs(Ctx(app): Ctx<App>, Path(zone_id): Path<String>, uri: Uri) -> ApiResult {
    let items = app.read(|s| s.list_load_balancers(&zone_id))?;
    Ok(ok_unpaged(items, &query(&uri)))
}

async fn create_lb(Ctx(app): Ctx<App>, Path(zone_id): Path<String>, body: Bytes) -> ApiResult {
    let body = parse_object(&body)?;
    app.write(|s| s.write_load_balancer(&zone_id, None, &body, Write::Create))
        .map(ok)
}

async fn get_lb(Ctx(app): Ctx<App>, Path((zone_id, id)): Path<(String, String)>) -> ApiResult {
    app.read(|s| {
        let zone = s.zone(&zone_id)?;
        s.load_balancer(&zone_id, &id)
            .map(|lb| lb.to_api(&zone.name))
    })
    .map(ok)
}

async fn put_lb(
    Ctx(app): Ctx<App>,
    Path((zone_id, id)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let body = parse_object(&body)?;
    app.write(|s| s.write_load_balancer(&zone_id, Some(&id), &body, Write::Replace))
        .map(ok)
}

async fn patch_lb(
    Ctx(app): Ctx<App>,
    Path((zone_id, id)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let body = parse_object(&body)?;
    app.write(|s| s.write_load_balancer(&zone_id, Some(&id), &body, Write::Merge))
        .map(ok)
}

async fn delete_lb(Ctx(app): Ctx<App>, Path((zone_id, id)): Path<(String, String)>) -> ApiResult {
    app.write(|s| s.delete_load_balancer(&zone_id, &id))?;
    Ok(ok_id(&id))
}

// ---- pools

async fn list_pools(Ctx(app): Ctx<App>, Path(account_id): Path<String>, uri: Uri) -> ApiResult {
    let q = query(&uri);
    let monitor = q
        .iter()
        .find(|(k, _)| k == "monitor")
        .map(|(_, v)| v.as_str());
    let items = app.read(|s| {
        s.check_account(&account_id)?;
        Ok::<_, ApiError>(s.list_pools(monitor))
    })?;
    Ok(ok_unpaged(items, &q))
}

async fn create_pool(Ctx(app): Ctx<App>, Path(account_id): Path<String>, body: Bytes) -> ApiResult {
    let body = parse_object(&body)?;
    let pool = app.write(|s| {
        s.check_account(&account_id)?;
        s.write_pool(None, &body, Write::Create)
    })?;
    Ok(ok(pool.to_api()))
}

async fn get_pool(Ctx(app): Ctx<App>, Path((account_id, id)): Path<(String, String)>) -> ApiResult {
    app.read(|s| {
        s.check_account(&account_id)?;
        s.pool(&id).map(|p| p.to_api())
    })
    .map(ok)
}

async fn put_pool(
    Ctx(app): Ctx<App>,
    Path((account_id, id)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    write_pool(&app, &account_id, &id, body, Write::Replace)
}

async fn patch_pool(
    Ctx(app): Ctx<App>,
    Path((account_id, id)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    write_pool(&app, &account_id, &id, body, Write::Merge)
}

fn write_pool(app: &Shared, account_id: &str, id: &str, body: Bytes, mode: Write) -> ApiResult {
    let body = parse_object(&body)?;
    let pool = app.write(|s| {
        s.check_account(account_id)?;
        s.write_pool(Some(id), &body, mode)
    })?;
    Ok(ok(pool.to_api()))
}

async fn delete_pool(
    Ctx(app): Ctx<App>,
    Path((account_id, id)): Path<(String, String)>,
) -> ApiResult {
    app.write(|s| {
        s.check_account(&account_id)?;
        s.delete_pool(&id)
    })?;
    Ok(ok_id(&id))
}

async fn pool_health(
    Ctx(app): Ctx<App>,
    Path((account_id, id)): Path<(String, String)>,
) -> ApiResult {
    app.read(|s| {
        s.check_account(&account_id)?;
        s.pool_health(&id)
    })
    .map(ok)
}

async fn pool_references(
    Ctx(app): Ctx<App>,
    Path((account_id, id)): Path<(String, String)>,
) -> ApiResult {
    app.read(|s| {
        s.check_account(&account_id)?;
        s.pool_references(&id)
    })
    .map(|refs| ok(Value::Array(refs)))
}

// ---- monitors

async fn list_monitors(Ctx(app): Ctx<App>, Path(account_id): Path<String>, uri: Uri) -> ApiResult {
    let items = app.read(|s| {
        s.check_account(&account_id)?;
        Ok::<_, ApiError>(s.list_monitors())
    })?;
    Ok(ok_unpaged(items, &query(&uri)))
}

async fn create_monitor(
    Ctx(app): Ctx<App>,
    Path(account_id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let body = parse_object(&body)?;
    let m = app.write(|s| {
        s.check_account(&account_id)?;
        s.write_monitor(None, &body, Write::Create)
    })?;
    Ok(ok(m.to_api()))
}

async fn get_monitor(
    Ctx(app): Ctx<App>,
    Path((account_id, id)): Path<(String, String)>,
) -> ApiResult {
    app.read(|s| {
        s.check_account(&account_id)?;
        s.monitor(&id).map(|m| m.to_api())
    })
    .map(ok)
}

async fn put_monitor(
    Ctx(app): Ctx<App>,
    Path((account_id, id)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    write_monitor(&app, &account_id, &id, body, Write::Replace)
}

async fn patch_monitor(
    Ctx(app): Ctx<App>,
    Path((account_id, id)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    write_monitor(&app, &account_id, &id, body, Write::Merge)
}

fn write_monitor(app: &Shared, account_id: &str, id: &str, body: Bytes, mode: Write) -> ApiResult {
    let body = parse_object(&body)?;
    let m = app.write(|s| {
        s.check_account(account_id)?;
        s.write_monitor(Some(id), &body, mode)
    })?;
    Ok(ok(m.to_api()))
}

async fn delete_monitor(
    Ctx(app): Ctx<App>,
    Path((account_id, id)): Path<(String, String)>,
) -> ApiResult {
    app.write(|s| {
        s.check_account(&account_id)?;
        s.delete_monitor(&id)
    })?;
    Ok(ok_id(&id))
}

async fn monitor_references(
    Ctx(app): Ctx<App>,
    Path((account_id, id)): Path<(String, String)>,
) -> ApiResult {
    app.read(|s| {
        s.check_account(&account_id)?;
        s.monitor_references(&id)
    })
    .map(|refs| ok(Value::Array(refs)))
}

// ---- tokens

async fn verify_token(Extension(caller): Extension<Caller>) -> Response {
    ok(json!({"id": caller.token_id, "status": "active"}))
}

async fn verify_account_token(
    Ctx(app): Ctx<App>,
    Path(account_id): Path<String>,
    Extension(caller): Extension<Caller>,
) -> ApiResult {
    app.read(|s| s.check_account(&account_id))?;
    Ok(ok(json!({"id": caller.token_id, "status": "active"})))
}

// ---- admin API (plain JSON, no envelope)

fn admin_error(message: impl std::fmt::Display) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": message.to_string()})),
    )
        .into_response()
}

async fn admin_calls(Ctx(app): Ctx<App>) -> Response {
    Json(lock(&app.journal).calls()).into_response()
}

async fn admin_reset_calls(Ctx(app): Ctx<App>) -> Response {
    let cleared = lock(&app.journal).reset();
    Json(json!({"cleared": cleared})).into_response()
}

async fn admin_counters(Ctx(app): Ctx<App>) -> Response {
    Json(lock(&app.journal).counters()).into_response()
}

async fn admin_faults(Ctx(app): Ctx<App>) -> Response {
    Json(lock(&app.faults).list()).into_response()
}

async fn admin_add_fault(Ctx(app): Ctx<App>, body: Bytes) -> Response {
    let spec: FaultSpec = match serde_json::from_slice(&body) {
        Ok(spec) => spec,
        Err(e) => return admin_error(e),
    };
    if let Err(e) = spec.validate() {
        return admin_error(e);
    }
    lock(&app.faults).add(spec.clone());
    (StatusCode::CREATED, Json(spec)).into_response()
}

async fn admin_clear_faults(Ctx(app): Ctx<App>) -> Response {
    lock(&app.faults).clear();
    Json(json!({"cleared": true})).into_response()
}

async fn admin_state(Ctx(app): Ctx<App>) -> Response {
    Json(app.read(State::clone)).into_response()
}

async fn admin_replace_state(Ctx(app): Ctx<App>, body: Bytes) -> Response {
    match serde_json::from_slice::<State>(&body) {
        Ok(new) => {
            let mut state = lock(&app.state);
            *state = new;
            app.persist(&state);
            Json(&*state).into_response()
        }
        Err(e) => admin_error(e),
    }
}

async fn admin_add_zone(Ctx(app): Ctx<App>, body: Bytes) -> Response {
    let spec: ZoneSpec = match serde_json::from_slice(&body) {
        Ok(spec) => spec,
        Err(e) => return admin_error(e),
    };
    match app.write(|s| s.add_zone(&spec).map(|z| z.to_api(&s.account))) {
        Ok(zone) => (StatusCode::CREATED, Json(zone)).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn admin_reset_ratelimit(Ctx(app): Ctx<App>) -> Response {
    lock(&app.limiter).reset();
    Json(json!({"cleared": true})).into_response()
}
