//! The public status page's handlers (SPEC 8): the HTML pages, the Atom feed and the
//! Statuspage-compatible JSON, all served from the status worker's in-memory snapshot
//! with short cache headers. The rendering itself is in `status::{html, atom, json}`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::app::App;
use crate::status::view::{Lang, StatusSnapshot};
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

/// JSON from the snapshot `s`, with `Last-Modified` = when what it says last changed.
fn reply(s: &StatusSnapshot, v: Value) -> Response {
    let mut r = (
        [
            (header::CACHE_CONTROL, CACHE),
            (header::CONTENT_TYPE, "application/json"),
        ],
        v.to_string(),
    )
        .into_response();
    if let Ok(t) = jiff::Timestamp::from_millisecond(s.changed_at) {
        let date = t.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string();
        if let Ok(v) = HeaderValue::from_str(&date) {
            r.headers_mut().insert(header::LAST_MODIFIED, v);
        }
    }
    r
}

/// An answer whose words follow `Accept-Language`: caches keep one copy per language.
fn by_language(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Accept-Language"));
    r
}

/// A JSON answer in the asker's language.
fn json_in(app: &App, q: &HashMap<String, String>, h: &HeaderMap, f: JsonOf) -> Response {
    let s = app.status.snapshot();
    by_language(reply(&s, f(&s, lang(q, h))))
}

type JsonOf = fn(&StatusSnapshot, Lang) -> Value;

pub async fn summary(State(app): State<Arc<App>>, Query(q): Q, h: HeaderMap) -> Response {
    json_in(&app, &q, &h, json::summary)
}

pub async fn status_json(State(app): State<Arc<App>>, Query(q): Q, h: HeaderMap) -> Response {
    json_in(&app, &q, &h, json::status_only)
}

/// `/api/v2/incidents/unresolved.json`
pub async fn unresolved_json(State(app): State<Arc<App>>, Query(q): Q, h: HeaderMap) -> Response {
    json_in(&app, &q, &h, json::unresolved)
}

/// `/api/v2/scheduled-maintenances/upcoming.json`
pub async fn upcoming_json(State(app): State<Arc<App>>, Query(q): Q, h: HeaderMap) -> Response {
    json_in(&app, &q, &h, |s, l| json::maintenances_where(s, l, false))
}

/// `/api/v2/scheduled-maintenances/active.json`
pub async fn active_json(State(app): State<Arc<App>>, Query(q): Q, h: HeaderMap) -> Response {
    json_in(&app, &q, &h, |s, l| json::maintenances_where(s, l, true))
}

pub async fn components_json(State(app): State<Arc<App>>) -> Response {
    let s = app.status.snapshot();
    reply(&s, json::components_only(&s))
}

pub async fn incidents_json(State(app): State<Arc<App>>, Query(q): Q, h: HeaderMap) -> Response {
    json_in(&app, &q, &h, json::incidents)
}

pub async fn maintenances_json(State(app): State<Arc<App>>, Query(q): Q, h: HeaderMap) -> Response {
    json_in(&app, &q, &h, json::maintenances_only)
}

/// Middleware on the public status routes: a whole answer (200) gets an `ETag` from its
/// bytes, and a request that already has them (`If-None-Match`) gets `304 Not Modified`
/// with no body. Answers are small (a page is tens of KB) and built in memory anyway.
pub async fn etag(req: Request, next: Next) -> Response {
    let if_none_match = req.headers().get(header::IF_NONE_MATCH).cloned();
    let resp = next.run(req).await;
    if resp.status() != StatusCode::OK {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, ETAG_MAX_BYTES).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "answer too large").into_response();
    };
    let digest = Sha256::digest(&bytes);
    let tag = format!("W/\"{}\"", hex::encode(&digest[..12]));
    let Ok(value) = HeaderValue::from_str(&tag) else {
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    };
    let matches = if_none_match
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',').any(|t| {
                let t = t.trim();
                t == "*" || t.trim_start_matches("W/") == tag.trim_start_matches("W/")
            })
        });
    parts.headers.insert(header::ETAG, value);
    if matches {
        parts.status = StatusCode::NOT_MODIFIED;
        parts.headers.remove(header::CONTENT_LENGTH);
        parts.headers.remove(header::CONTENT_TYPE);
        return Response::from_parts(parts, axum::body::Body::empty());
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// The largest answer [`etag`] reads whole (far above any page).
const ETAG_MAX_BYTES: usize = 8 * 1024 * 1024;

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
    let refresh = q.get("refresh").is_some_and(|v| v == "1");
    by_language(page(html::render_index(
        &app.status.snapshot(),
        lang(&q, &h),
        refresh,
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
