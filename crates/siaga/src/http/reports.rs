//! Supplier reports (a supplier's own callback about a top-up): `GET` or `POST
//! /hooks/suppliers/{supplier_id}`, verified with that supplier's secret (Digiflazz's
//! `X-Hub-Signature`, a template's `[callback] sign`; 401 and no change otherwise), then
//! applied exactly as an inquiry reply would be. Suppliers that sign nothing (OtomaX)
//! report by `GET` or `POST` to `/hooks/suppliers/{supplier_id}/{secret}`; there a report
//! about an unknown reference is `404` and changes nothing. A supplier with
//! `callback_allow_ips` is heard only from those addresses (403 first otherwise).

use std::net::IpAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use axum::Json;
use serde_json::json;
use siaga_domain::Outcome;
use siaga_domain::Stage;
use siaga_store::{Attempt, AttemptState, SupplierEvent, Transition};
use siaga_suppliers::{IncomingReport, Reply, ReportError, SupplierReport};

use super::error::ApiError;
use crate::app::App;
use crate::engine::decide;
use crate::net::ClientAddr;

pub async fn supplier_report(
    State(app): State<Arc<App>>,
    Path(supplier_id): Path<String>,
    RawQuery(query): RawQuery,
    from: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let adapter = app
        .adapters
        .get()
        .get(&supplier_id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("supplier"))?;
    allowed_from(&app, &supplier_id, from.map(|e| e.0 .0))?;
    let incoming = IncomingReport {
        query: query.as_deref().unwrap_or(""),
        headers: &headers,
        body: &body,
        url_secret: None,
    };
    let report = adapter
        .parse_incoming(&incoming)
        .map_err(|e| refused(&supplier_id, e))?;
    // A templated supplier's report about a reference we do not know is 404 (SPEC 6.1.1);
    // Digiflazz's keeps its 200 `applied: false`.
    let templated = app
        .settings
        .get()
        .supplier(&supplier_id)
        .is_some_and(|s| s.template.is_some());
    apply(&app, &supplier_id, report, templated).await
}

/// A report on `/hooks/suppliers/{id}/{secret}` (GET or POST): the secret is compared in
/// constant time by the supplier's adapter.
pub async fn supplier_report_by_secret(
    State(app): State<Arc<App>>,
    Path((supplier_id, secret)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    from: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let adapter = app
        .adapters
        .get()
        .get(&supplier_id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("supplier"))?;
    allowed_from(&app, &supplier_id, from.map(|e| e.0 .0))?;
    let incoming = IncomingReport {
        query: query.as_deref().unwrap_or(""),
        headers: &headers,
        body: &body,
        url_secret: Some(&secret),
    };
    let report = adapter
        .parse_incoming(&incoming)
        .map_err(|e| refused(&supplier_id, e))?;
    apply(&app, &supplier_id, report, true).await
}

/// `callback_allow_ips`: a report from any other client address (as the server loop
/// saw it, trusted proxies applied) is 403 before anything of it is read.
fn allowed_from(app: &App, supplier_id: &str, from: Option<IpAddr>) -> Result<(), ApiError> {
    let settings = app.settings.get();
    let Some(s) = settings.supplier(supplier_id) else {
        return Ok(());
    };
    if s.callback_allow_ips.is_empty() {
        return Ok(());
    }
    let from = from.map(|ip| ip.to_canonical());
    if from.is_some_and(|ip| s.callback_allow_ips.iter().any(|n| n.contains(&ip))) {
        return Ok(());
    }
    let at = from.map_or_else(|| "?".to_owned(), |ip| ip.to_string());
    tracing::warn!(supplier = %supplier_id, from = %at, "supplier report from an address not in callback_allow_ips");
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!("alamat {at} tidak diizinkan mengirim laporan pemasok ini"),
        format!("reports of this supplier are not accepted from {at}"),
    ))
}

fn refused(supplier_id: &str, e: ReportError) -> ApiError {
    match e {
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
    }
}

/// Applies a verified report to its attempt. `unknown_is_404`: a templated supplier's
/// report about a reference we do not know is 404 (SPEC 6.1.1).
async fn apply(
    app: &Arc<App>,
    supplier_id: &str,
    report: SupplierReport,
    unknown_is_404: bool,
) -> Result<Response, ApiError> {
    let supplier_id = supplier_id.to_owned();
    for _ in 0..8 {
        let Some(attempt) = app
            .store
            .attempt_by_supplier_ref(&supplier_id, &report.supplier_ref)
            .await?
        else {
            if unknown_is_404 {
                return Err(ApiError::not_found("ref_id"));
            }
            return Ok(
                Json(json!({"ok": true, "applied": false, "why": "unknown ref_id"}))
                    .into_response(),
            );
        };
        if !attempt.state.is_open() {
            already_settled(app, &supplier_id, &attempt, &report.reply).await?;
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
            &app.settings.get(),
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
