//! `POST /admin/api/suppliers/{id}/pause` (optional `{"reason", "operator"}`) and
//! `POST /admin/api/suppliers/{id}/resume` (optional `{"operator"}`): an operator takes a
//! supplier out of routing and puts it back (SPEC 13; the same code as `siaga supplier
//! pause|resume`, see `ops::pause`). 200 with the supplier's pause, 404 for an unknown
//! supplier.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::admin::Admin;
use super::body::{self, Text};
use super::desk::DEFAULT_OPERATOR;
use super::error::ApiError;
use crate::app::App;
use crate::ops;

#[derive(Deserialize, Default)]
struct PauseBody {
    #[serde(default)]
    reason: Option<Text>,
    #[serde(default)]
    operator: Option<Text>,
}

fn read(body: Result<Bytes, BytesRejection>, limit: usize) -> Result<PauseBody, ApiError> {
    if let Ok(b) = &body {
        if b.iter().all(u8::is_ascii_whitespace) {
            return Ok(PauseBody::default());
        }
    }
    body::read(body, limit)
}

pub async fn pause(
    State(app): State<Arc<App>>,
    _: Admin,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let b = read(body, app.settings.get().body_limit_bytes)?;
    let by = b.operator.map_or_else(|| DEFAULT_OPERATOR.into(), |t| t.0);
    let reason = b.reason.map(|t| t.0).unwrap_or_default();
    let settings = app.settings.get();
    let v = ops::pause::pause(app.store.as_ref(), &settings, &id, &by, &reason, app.now()).await?;
    crate::engine::upkeep::reload_windows(&app.engine).await;
    Ok(Json(v).into_response())
}

pub async fn resume(
    State(app): State<Arc<App>>,
    _: Admin,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let b = read(body, app.settings.get().body_limit_bytes)?;
    let by = b.operator.map_or_else(|| DEFAULT_OPERATOR.into(), |t| t.0);
    let settings = app.settings.get();
    let v = ops::pause::resume(app.store.as_ref(), &settings, &id, &by, app.now()).await?;
    crate::engine::upkeep::reload_windows(&app.engine).await;
    Ok(Json(v).into_response())
}
