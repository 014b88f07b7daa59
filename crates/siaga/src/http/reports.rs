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
use siaga_store::{AttemptState, SupplierEvent, Transition};
use siaga_suppliers::ReportError;

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
            // A definitive answer that contradicts what we recorded (a late Sukses for an
            // attempt we failed, or the reverse) means money and reality may differ: keep
            // the evidence where the owner sees it (`/admin/api/suppliers` events).
            let late = report.reply.outcome.label();
            let contradicts = matches!(
                (attempt.state, &report.reply.outcome),
                (AttemptState::Failed, Outcome::Success { .. })
                    | (AttemptState::Success, Outcome::Failed(_))
            );
            if contradicts {
                tracing::error!(supplier = %supplier_id, attempt = %attempt.id, recorded = attempt.state.as_str(), late, "supplier callback contradicts a settled attempt");
                app.store
                    .add_supplier_event(SupplierEvent {
                        supplier_id: supplier_id.clone(),
                        kind: "contradicting_callback".into(),
                        from_state: Some(attempt.state.as_str().into()),
                        to_state: Some(late.into()),
                        detail: json!({"order_id": attempt.order_id, "supplier_ref": attempt.supplier_ref,
                                       "rc": report.reply.rc, "message": report.reply.message}).to_string(),
                        at: app.now(),
                    })
                    .await?;
            }
            return Ok(
                Json(json!({"ok": true, "applied": false, "why": "already settled"}))
                    .into_response(),
            );
        }
        let Some(order) = app.store.order(&attempt.order_id).await? else {
            return Err(ApiError::internal("attempt without order"));
        };
        let attempts = app.store.attempts(&order.id).await?;
        crate::engine::learn_charged(&app.engine, &order, &attempt, &report.reply).await;
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
