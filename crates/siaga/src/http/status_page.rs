//! The public status page's handlers (SPEC 8): the HTML pages, the Atom feed and the
//! Statuspage-compatible JSON, all served from the status worker's in-memory snapshot
//! with short cache headers. The rendering itself is in `status::{html, atom, json}`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::app::App;
use crate::status::view::Lang;
use crate::status::{atom, html, json};

pub const CACHE: &str = "public, max-age=5, stale-while-revalidate=30";

type Q = Query<HashMap<String, String>>;

/// `?lang=en|id`, else `Accept-Language`, else Indonesian.
pub fn lang(q: &HashMap<String, String>, headers: &HeaderMap) -> Lang {
    match q.get("lang").map(String::as_str) {
        Some("en") => Lang::En,
        Some("id") => Lang::Id,
        _ if super::error::wants_english(headers) => Lang::En,
        _ => Lang::Id,
    }
}

fn reply(v: Value) -> Response {
    (
        [
            (header::CACHE_CONTROL, CACHE),
            (header::CONTENT_TYPE, "application/json"),
        ],
        v.to_string(),
    )
        .into_response()
}

/// An answer whose words follow `Accept-Language`: caches keep one copy per language.
fn by_language(mut r: Response) -> Response {
    r.headers_mut().insert(
        header::VARY,
        axum::http::HeaderValue::from_static("Accept-Language"),
    );
    r
}

pub async fn summary(State(app): State<Arc<App>>, Query(q): Q, h: HeaderMap) -> Response {
    by_language(reply(json::summary(&app.status.snapshot(), lang(&q, &h))))
}

/// `/api/v2/incidents/unresolved.json`
pub async fn unresolved_json(State(app): State<Arc<App>>, Query(q): Q, h: HeaderMap) -> Response {
    by_language(reply(json::unresolved(
        &app.status.snapshot(),
        lang(&q, &h),
    )))
}

/// `/api/v2/scheduled-maintenances/upcoming.json`
pub async fn upcoming_json(State(app): State<Arc<App>>, Query(q): Q, h: HeaderMap) -> Response {
    by_language(reply(json::maintenances_where(
        &app.status.snapshot(),
        lang(&q, &h),
        false,
    )))
}

/// `/api/v2/scheduled-maintenances/active.json`
pub async fn active_json(State(app): State<Arc<App>>, Query(q): Q, h: HeaderMap) -> Response {
    by_language(reply(json::maintenances_where(
        &app.status.snapshot(),
        lang(&q, &h),
        true,
    )))
}

pub async fn status_json(State(app): State<Arc<App>>) -> Response {
    reply(json::status_only(&app.status.snapshot()))
}

pub async fn components_json(State(app): State<Arc<App>>) -> Response {
    reply(json::components_only(&app.status.snapshot()))
}

pub async fn incidents_json(State(app): State<Arc<App>>, Query(q): Q, h: HeaderMap) -> Response {
    by_language(reply(json::incidents(&app.status.snapshot(), lang(&q, &h))))
}

pub async fn maintenances_json(State(app): State<Arc<App>>, Query(q): Q, h: HeaderMap) -> Response {
    by_language(reply(json::maintenances_only(
        &app.status.snapshot(),
        lang(&q, &h),
    )))
}

fn page(body: String) -> Response {
    (
        [
            (header::CACHE_CONTROL, CACHE),
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        ],
        body,
    )
        .into_response()
}

pub async fn index(State(app): State<Arc<App>>, Query(q): Q, h: HeaderMap) -> Response {
    by_language(page(html::render_index(
        &app.status.snapshot(),
        lang(&q, &h),
    )))
}

pub async fn history(State(app): State<Arc<App>>, Query(q): Q, h: HeaderMap) -> Response {
    by_language(page(html::render_history(
        &app.status.snapshot(),
        lang(&q, &h),
    )))
}

pub async fn incident_page(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Query(q): Q,
    h: HeaderMap,
) -> Response {
    let s = app.status.snapshot();
    let lang = lang(&q, &h);
    match id
        .parse::<i64>()
        .ok()
        .and_then(|id| html::render_incident(&s, id, lang))
    {
        Some(body) => by_language(page(body)),
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            html::render_not_found(),
        )
            .into_response(),
    }
}

pub async fn atom(State(app): State<Arc<App>>) -> Response {
    (
        [
            (header::CACHE_CONTROL, CACHE),
            (header::CONTENT_TYPE, "application/atom+xml; charset=utf-8"),
        ],
        atom::render(&app.status.snapshot()),
    )
        .into_response()
}
