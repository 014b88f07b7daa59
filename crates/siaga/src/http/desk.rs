//! The manual desk on the admin API (SPEC 6.1.2; bearer admin token): `GET /admin/api/desk`,
//! `POST /admin/api/desk/{order_id}/take`, and the audit log, `GET /admin/api/audit`.
//! Resolving a desk order is `POST /admin/api/orders/{id}/resolve` (`admin.rs`). The same
//! operations as `siaga desk` (see `ops::desk`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use siaga_store::AuditFilter;

use super::admin::Admin;
use super::body::{self, Text};
use super::error::ApiError;
use crate::app::App;
use crate::clock::rfc3339;
use crate::ops;

/// Who acts when the admin API is not told (`"operator"` absent).
pub const DEFAULT_OPERATOR: &str = "admin";

/// `GET /admin/api/desk`: the orders on the desk, oldest first.
pub async fn list(State(app): State<Arc<App>>, _: Admin) -> Result<Response, ApiError> {
    let v = ops::desk::list(app.store.as_ref(), &app.settings.get(), app.now()).await?;
    Ok(Json(json!({"orders": v})).into_response())
}

/// The optional body of a take: `{"operator": "name"}`.
#[derive(Deserialize)]
struct TakeBody {
    #[serde(default)]
    operator: Option<Text>,
}

/// The operator a body names; an empty body is the default operator.
pub fn operator_of(body: Result<Bytes, BytesRejection>, limit: usize) -> Result<String, ApiError> {
    if let Ok(b) = &body {
        if b.iter().all(u8::is_ascii_whitespace) {
            return Ok(DEFAULT_OPERATOR.into());
        }
    }
    let b: TakeBody = body::read(body, limit)?;
    Ok(b.operator.map_or_else(|| DEFAULT_OPERATOR.into(), |t| t.0))
}

/// `POST /admin/api/desk/{order_id}/take` with an optional `{"operator"}` (default
/// `admin`): 200 when it is now the operator's (again: `already_yours`), 404 for an unknown
/// order, 409 when another operator has it or it is not on the desk.
pub async fn take(
    State(app): State<Arc<App>>,
    _: Admin,
    Path(order_id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let operator = operator_of(body, app.settings.get().body_limit_bytes)?;
    let v = ops::desk::take(
        app.store.as_ref(),
        &app.settings.get(),
        &order_id,
        &operator,
        app.now(),
    )
    .await?;
    Ok(Json(v).into_response())
}

/// `GET /admin/api/audit?target=&actor=&action=&limit=`: the newest audit lines first
/// (default 100, at most 1,000).
pub async fn audit(
    State(app): State<Arc<App>>,
    _: Admin,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let limit = match q.get("limit") {
        None => 100,
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=1_000).contains(n))
            .ok_or_else(|| ApiError::invalid("limit", "must be 1 to 1000"))?,
    };
    let text = |k: &str| q.get(k).filter(|v| !v.is_empty()).cloned();
    let lines = app
        .store
        .audit(AuditFilter {
            actor: text("actor"),
            action: text("action"),
            target: text("target"),
            after_id: 0,
            limit,
            newest_first: true,
        })
        .await?;
    let v: Vec<Value> = lines
        .iter()
        .map(|e| {
            let detail: Value = serde_json::from_str(&e.detail).unwrap_or(Value::Null);
            json!({"id": e.id, "at": rfc3339(e.at), "actor": e.actor, "action": e.action, "target": e.target, "detail": detail})
        })
        .collect();
    Ok(Json(json!({"audit": v})).into_response())
}
