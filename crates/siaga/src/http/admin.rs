//! The admin API (`/admin/api`, bearer admin token): the owner's actions over HTTP, the
//! same operations as the CLI (see `ops`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::api::{int_field, json_object, opt_str_field, str_field};
use super::error::ApiError;
use crate::app::App;
use crate::keys;
use crate::ops::{self, OpError};
use crate::wire;

/// Proof that the request carries the admin token.
pub struct Admin;

impl FromRequestParts<Arc<App>> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> Result<Self, Self::Rejection> {
        let Some(expected) = app.settings.admin_token.as_deref() else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "API admin nonaktif: token admin belum diatur",
                "admin API disabled: no admin token is configured",
            ));
        };
        let given = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if keys::constant_time_eq(&keys::hash_key(given), &keys::hash_key(expected)) {
            Ok(Admin)
        } else {
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "token admin salah",
                "wrong admin token",
            ))
        }
    }
}

impl From<OpError> for ApiError {
    fn from(e: OpError) -> ApiError {
        match e {
            OpError::Invalid(m) => {
                ApiError::new(StatusCode::BAD_REQUEST, "bad_request", m.clone(), m)
            }
            OpError::UnknownReseller(_) => ApiError::not_found("reseller"),
            OpError::NotFound(what) => ApiError::not_found(&what),
            OpError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m.clone(), m),
            OpError::Store(s) => ApiError::internal(s),
        }
    }
}

pub async fn add_reseller(
    State(app): State<Arc<App>>,
    _: Admin,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let m = json_object(body, app.settings.body_limit_bytes)?;
    let name = str_field(&m, "name")?;
    let email = opt_str_field(&m, "email")?;
    let callback_url = opt_str_field(&m, "callback_url")?;
    let creds = ops::add_reseller(app.store.as_ref(), name, email, callback_url, app.now()).await?;
    Ok((StatusCode::CREATED, Json(creds.json())).into_response())
}

pub async fn list_resellers(State(app): State<Arc<App>>, _: Admin) -> Result<Response, ApiError> {
    let mut out = Vec::new();
    for r in app.store.list_resellers().await? {
        let b = app.store.balance(&r.id).await?;
        out.push(json!({
            "id": r.id, "name": r.name, "email": r.email, "callback_url": r.callback_url,
            "available": b.available, "held": b.held,
            "ip_allowlist": r.ip_allowlist, "require_signature": r.require_signature,
        }));
    }
    Ok(Json(Value::Array(out)).into_response())
}

/// `PUT /admin/api/resellers/{id}/access`: `{"ip_allowlist": [...], "require_signature": bool}`
/// (both required; an empty list allows any address).
pub async fn set_access(
    State(app): State<Arc<App>>,
    _: Admin,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let m = json_object(body, app.settings.body_limit_bytes)?;
    let list: Vec<String> = m
        .get("ip_allowlist")
        .ok_or_else(|| ApiError::missing("ip_allowlist"))
        .and_then(|v| {
            serde_json::from_value(v.clone())
                .map_err(|_| ApiError::invalid("ip_allowlist", "must be a list of strings"))
        })?;
    let require = m
        .get("require_signature")
        .ok_or_else(|| ApiError::missing("require_signature"))?
        .as_bool()
        .ok_or_else(|| ApiError::invalid("require_signature", "must be true or false"))?;
    let v = ops::set_access(app.store.as_ref(), &id, &list, require, app.now()).await?;
    Ok(Json(v).into_response())
}

/// `POST /admin/api/vouchers` `{"incident", "amount", "expires_in_days"?, "affected_after_s"?}`:
/// the same as `siaga voucher issue`.
pub async fn issue_vouchers(
    State(app): State<Arc<App>>,
    _: Admin,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let m = json_object(body, app.settings.body_limit_bytes)?;
    let incident = int_field(&m, "incident")?.ok_or_else(|| ApiError::missing("incident"))?;
    let amount = int_field(&m, "amount")?.ok_or_else(|| ApiError::missing("amount"))?;
    let days = int_field(&m, "expires_in_days")?.unwrap_or(30);
    let after = int_field(&m, "affected_after_s")?.unwrap_or(60);
    let days = u32::try_from(days)
        .map_err(|_| ApiError::invalid("expires_in_days", "must be 1 to 3650"))?;
    let after = u64::try_from(after)
        .map_err(|_| ApiError::invalid("affected_after_s", "must be 0 or more"))?;
    let v = crate::vouchers::issue(
        &app.settings,
        app.store.as_ref(),
        app.now(),
        incident,
        amount,
        days,
        after,
    )
    .await?;
    app.notify_kick.notify_one();
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

pub async fn deposit(
    State(app): State<Arc<App>>,
    _: Admin,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let m = json_object(body, app.settings.body_limit_bytes)?;
    let amount = int_field(&m, "amount")?.ok_or_else(|| ApiError::missing("amount"))?;
    let note = opt_str_field(&m, "note")?.unwrap_or("");
    let v = ops::deposit(app.store.as_ref(), &id, amount, note, app.now()).await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

pub async fn rotate_keys(
    State(app): State<Arc<App>>,
    _: Admin,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let creds = ops::rotate_keys(app.store.as_ref(), &id, app.now()).await?;
    Ok(Json(creds.json()).into_response())
}

/// `POST /admin/api/resellers/rotate-keys`: every reseller at once (after a security
/// incident); answers the new credentials of each, shown once.
pub async fn rotate_all_keys(State(app): State<Arc<App>>, _: Admin) -> Result<Response, ApiError> {
    let (rotated, failed) = ops::rotate_all(app.store.as_ref(), app.now()).await?;
    Ok(Json(json!({"rotated": rotated, "failed": failed})).into_response())
}

/// `GET /admin/api/notifications`: subscribers by status and the notice outbox by channel
/// and status (delivered, pending, sending, dead).
pub async fn notifications(State(app): State<Arc<App>>, _: Admin) -> Result<Response, ApiError> {
    let subs = app.store.subscriber_counts().await?;
    let notices = app.store.notice_counts().await?;
    Ok(Json(json!({
        "subscribers": subs.into_iter().map(|(s, n)| (s, json!(n))).collect::<serde_json::Map<_, _>>(),
        "notices": notices.into_iter().map(|(c, s, n)| json!({"channel": c, "status": s, "count": n})).collect::<Vec<_>>(),
    }))
    .into_response())
}

pub async fn get_order(
    State(app): State<Arc<App>>,
    _: Admin,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let o = app
        .store
        .order(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("order"))?;
    let attempts = app.store.attempts(&id).await?;
    let mut v = wire::order_json(&o);
    v["reseller_id"] = json!(o.reseller_id);
    v["attempts"] = Value::Array(attempts.iter().map(wire::attempt_json).collect());
    Ok(Json(v).into_response())
}

pub async fn verify(State(app): State<Arc<App>>, _: Admin) -> Result<Response, ApiError> {
    let r = app.store.verify().await?;
    Ok(Json(json!({"ok": r.ok(), "orders": r.orders, "transfers": r.transfers, "accounts": r.accounts, "problems": r.problems}))
        .into_response())
}

/// `POST /admin/api/orders/{order_id}/resolve` with `{"status":"success","serial_number":"..."}`
/// or `{"status":"failed"}`.
pub async fn resolve_order(
    State(app): State<Arc<App>>,
    _: Admin,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let m = json_object(body, app.settings.body_limit_bytes)?;
    let how = match str_field(&m, "status")? {
        "success" => ops::Resolution::Success {
            sn: str_field(&m, "serial_number")?.to_owned(),
        },
        "failed" => ops::Resolution::Failed,
        _ => return Err(ApiError::invalid("status", "must be success or failed")),
    };
    let v = ops::resolve(app.store.as_ref(), &id, how, app.now()).await?;
    app.engine.outbox_kick.notify_one();
    Ok(Json(v).into_response())
}

/// `GET /admin/api/suppliers`: health, breaker, limits, balance, maintenance, transitions.
pub async fn suppliers(State(app): State<Arc<App>>, _: Admin) -> Result<Response, ApiError> {
    Ok(Json(app.health.suppliers_json().await).into_response())
}

/// `POST /admin/api/maintenance` with `{"supplier","starts_at","ends_at","note"}`.
pub async fn add_maintenance(
    State(app): State<Arc<App>>,
    _: Admin,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let m = json_object(body, app.settings.body_limit_bytes)?;
    let v = ops::add_maintenance(
        app.store.as_ref(),
        &app.settings,
        str_field(&m, "supplier")?,
        str_field(&m, "starts_at")?,
        str_field(&m, "ends_at")?,
        opt_str_field(&m, "note")?,
        "api",
        app.now(),
    )
    .await?;
    crate::engine::upkeep::reload_windows(&app.engine).await;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

/// `POST /admin/api/suppliers/{id}/sync-prices`: fetch the supplier's price list now.
pub async fn sync_prices(
    State(app): State<Arc<App>>,
    _: Admin,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    use crate::engine::upkeep::{sync_prices, SyncError};
    match sync_prices(&app.engine, &id).await {
        Ok(v) => Ok(Json(v).into_response()),
        Err(SyncError::UnknownSupplier(_)) => Err(ApiError::not_found("supplier")),
        Err(e @ SyncError::TooSoon(..)) => {
            let m = e.to_string();
            let mut err =
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", m.clone(), m);
            err.retry_after = Some(300);
            Err(err)
        }
        Err(SyncError::Supplier(m)) => Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "supplier_error",
            m.clone(),
            m,
        )),
        Err(SyncError::Store(e)) => Err(ApiError::internal(e)),
    }
}

fn string_list(m: &serde_json::Map<String, Value>, field: &str) -> Result<Vec<String>, ApiError> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| ApiError::invalid(field, "must be a list of strings"))
            })
            .collect(),
        Some(_) => Err(ApiError::invalid(field, "must be a list of strings")),
    }
}

/// `POST /admin/api/incidents` with `{"title","body","title_en"?,"body_en"?,"components"?,"impact"?,"status"?,"security"?}`.
pub async fn open_incident(
    State(app): State<Arc<App>>,
    _: Admin,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let m = json_object(body, app.settings.body_limit_bytes)?;
    let security = match m.get("security") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ApiError::invalid("security", "must be true or false")),
    };
    let draft = ops::IncidentDraft {
        title: str_field(&m, "title")?,
        body: str_field(&m, "body")?,
        title_en: opt_str_field(&m, "title_en")?,
        body_en: opt_str_field(&m, "body_en")?,
        components: string_list(&m, "components")?,
        impact: opt_str_field(&m, "impact")?,
        status: opt_str_field(&m, "status")?,
        security,
    };
    let v = ops::open_incident(app.store.as_ref(), &app.settings, draft, app.now()).await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

/// `POST /admin/api/incidents/{id}/updates` with `{"status","body","body_en"?}`.
pub async fn incident_update(
    State(app): State<Arc<App>>,
    _: Admin,
    Path(id): Path<i64>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let m = json_object(body, app.settings.body_limit_bytes)?;
    let v = ops::incident_update(
        app.store.as_ref(),
        id,
        str_field(&m, "status")?,
        str_field(&m, "body")?,
        opt_str_field(&m, "body_en")?,
        app.now(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

/// `POST /admin/api/incidents/{id}/postmortem` with `{"body","body_en"?}`.
pub async fn incident_postmortem(
    State(app): State<Arc<App>>,
    _: Admin,
    Path(id): Path<i64>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let m = json_object(body, app.settings.body_limit_bytes)?;
    let v = ops::incident_postmortem(
        app.store.as_ref(),
        id,
        str_field(&m, "body")?,
        opt_str_field(&m, "body_en")?,
        app.now(),
    )
    .await?;
    Ok(Json(v).into_response())
}
