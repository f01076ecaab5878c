//! The admin server's status routes (axum), all read only: `/status` (the HTML page),
//! `/status.svg` (the map) and `/status.json` (the model), each read through the status source.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::read::StatusSource;
use super::{html, svg, table};

/// The routes, to merge into the admin router.
pub fn routes(source: StatusSource) -> Router {
    Router::new()
        .route("/status", get(page))
        .route("/status.svg", get(map))
        .route("/status.json", get(json))
        .with_state(source)
}

fn answer(content_type: &'static str, body: String) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

fn unavailable(content_type: &'static str, body: String) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

async fn page(State(source): State<StatusSource>) -> Response {
    match source().await {
        Ok(s) => answer("text/html; charset=utf-8", html::page(&s)),
        Err(e) => unavailable("text/html; charset=utf-8", html::error_page(&e.to_string())),
    }
}

async fn map(State(source): State<StatusSource>) -> Response {
    match source().await {
        Ok(s) => answer("image/svg+xml", svg::render(&s)),
        Err(e) => unavailable("text/plain; charset=utf-8", format!("{e}\n")),
    }
}

async fn json(State(source): State<StatusSource>) -> Response {
    match source().await {
        Ok(s) => answer("application/json", table::json(&s)),
        Err(e) => unavailable(
            "application/json",
            format!("{}\n", serde_json::json!({"error": e.to_string()})),
        ),
    }
}
