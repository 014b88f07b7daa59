//! Supplier reports (a supplier's own callback about a top-up): `POST
//! /hooks/suppliers/{supplier_id}`, verified with that supplier's secret (401 and no change
//! otherwise), then applied exactly as an inquiry reply would be.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use siaga_domain::Outcome;
use siaga_domain::Stage;
use siaga_store::{Attempt, AttemptState, SupplierEvent, Transition};
use siaga_suppliers::{Reply, ReportError};

use super::error::ApiError;
use crate::app::App;
use crate::engine::decide;

pub async fn supplier_report(
    State(app): State<Arc<App>>,
    Path(supplier_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let adapter = app
        .adapters
        .get(&supplier_id)
        .ok_or_else(|| ApiError::not_found("supplier"))?;
    let report = adapter.parse_report(&headers, &body).map_err(|e| match e {
        ReportError::BadSignature | ReportError::NoSecret => {
            tracing::warn!(supplier = %supplier_id, error = %e, "supplier callback refused");
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "tanda tangan callback tidak valid",
                "callback signature is not valid",
            )
        }
        ReportError::Malformed(m) => ApiError::bad_json(&m),
    })?;
    for _ in 0..8 {
        let Some(attempt) = app
            .store
            .attempt_by_supplier_ref(&supplier_id, &report.supplier_ref)
            .await?
        else {
            return Ok(
                Json(json!({"ok": true, "applied": false, "why": "unknown ref_id"}))
                    .into_response(),
            );
        };
        if !attempt.state.is_open() {
            already_settled(&app, &supplier_id, &attempt, &report.reply).await?;
            return Ok(
                Json(json!({"ok": true, "applied": false, "why": "already settled"}))
                    .into_response(),
            );
        }
        let Some(order) = app.store.order(&attempt.order_id).await? else {
            return Err(ApiError::internal("attempt without order"));
        };
        let attempts = app.store.attempts(&order.id).await?;
        // An answer about another top-up is recorded for the owner and settles nothing.
        crate::engine::heard(
            &app.engine,
            &order,
            &attempt,
            &report.reply,
            decide::Source::Callback,
        )
        .await;
        let settle = decide::settle(
            &app.settings,
            &order,
            &attempts,
            &attempt,
            &report.reply,
            false,
            app.now(),
        );
        match app.store.settle_attempt(settle).await? {
            Transition::Done(o) => {
                if o.status.is_final() {
                    app.order_final(&o);
                } else if o.stage == Some(Stage::Dispatching) {
                    app.kick(&o.id);
                }
                return Ok(Json(json!({"ok": true, "applied": true})).into_response());
            }
            Transition::Stale => continue,
        }
    }
    Ok((
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"ok": false, "why": "busy, retry"})),
    )
        .into_response())
}

/// A report about an attempt already settled changes nothing. When it contradicts what we
/// recorded (a late Sukses for an attempt we failed, or the reverse), or is about another
/// top-up than the attempt was, money and reality may differ: the evidence goes where the
/// owner sees it (`/admin/api/suppliers` events, and an alert).
async fn already_settled(
    app: &App,
    supplier_id: &str,
    attempt: &Attempt,
    reply: &Reply,
) -> Result<(), ApiError> {
    let late = reply.outcome.label();
    let fields = match app.store.order(&attempt.order_id).await? {
        Some(o) => decide::contradiction(reply, &o.destination, attempt)
            .map(|c| c.fields)
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let contradicts = !fields.is_empty()
        || matches!(
            (attempt.state, &reply.outcome),
            (AttemptState::Failed, Outcome::Success { .. })
                | (AttemptState::Success, Outcome::Failed(_))
        );
    if !contradicts {
        return Ok(());
    }
    tracing::error!(supplier = %supplier_id, attempt = %attempt.id, recorded = attempt.state.as_str(), late, ?fields, "supplier callback contradicts a settled attempt");
    let detail = json!({"source": decide::Source::Callback.as_str(), "settled": true,
                        "fields": fields, "order_id": attempt.order_id,
                        "attempt_id": attempt.id, "supplier_ref": attempt.supplier_ref,
                        "rc": reply.rc, "message": reply.message});
    app.store
        .add_supplier_event(SupplierEvent {
            supplier_id: supplier_id.to_owned(),
            kind: "contradicting_callback".into(),
            from_state: Some(attempt.state.as_str().into()),
            to_state: Some(late.into()),
            detail: detail.to_string(),
            at: app.now(),
        })
        .await?;
    Ok(())
}
