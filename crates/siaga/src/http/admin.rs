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
use serde::Deserialize;
use serde_json::{json, Value};

use super::body::{self, present, required, Flag, Text, Texts, Whole};
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
        let settings = app.settings.get();
        let Some(expected) = settings.admin_token.as_deref() else {
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
            OpError::Store(s) => ApiError::from(s),
        }
    }
}

/// The text of an optional string field.
fn opt(field: Option<&Text>) -> Option<&str> {
    field.map(|t| t.0.as_str())
}

/// `POST /admin/api/resellers`: `{"name", "email"?, "callback_url"?, "callback_format"?}`.
#[derive(Deserialize)]
struct ResellerBody {
    #[serde(default)]
    name: Option<Text>,
    #[serde(default)]
    email: Option<Text>,
    #[serde(default)]
    callback_url: Option<Text>,
    /// `standard` (default) or `digiflazz` (SPEC 5.1).
    #[serde(default)]
    callback_format: Option<Text>,
}

pub async fn add_reseller(
    State(app): State<Arc<App>>,
    _: Admin,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let b: ResellerBody = body::read(body, app.settings.get().body_limit_bytes)?;
    let Text(name) = required(b.name, "name")?;
    let (email, callback_url) = (opt(b.email.as_ref()), opt(b.callback_url.as_ref()));
    let format = ops::callback_format(opt(b.callback_format.as_ref()))?;
    let creds = ops::add_reseller(
        app.store.as_ref(),
        &name,
        email,
        callback_url,
        format,
        app.now(),
    )
    .await?;
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
            "callback_format": r.callback_format.as_str(),
        }));
    }
    Ok(Json(Value::Array(out)).into_response())
}

/// `PUT /admin/api/resellers/{id}/access`: `{"ip_allowlist": [...], "require_signature": bool}`
/// (both required, `null` is a wrong value here; an empty list allows any address).
#[derive(Deserialize)]
struct AccessBody {
    #[serde(default, deserialize_with = "present")]
    ip_allowlist: Option<Texts>,
    #[serde(default, deserialize_with = "present")]
    require_signature: Option<Flag>,
}

pub async fn set_access(
    State(app): State<Arc<App>>,
    _: Admin,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let b: AccessBody = body::read(body, app.settings.get().body_limit_bytes)?;
    let Texts(list) = required(b.ip_allowlist, "ip_allowlist")?;
    let Flag(require) = required(b.require_signature, "require_signature")?;
    let v = ops::set_access(app.store.as_ref(), &id, &list, require, app.now()).await?;
    app.keys_changed();
    Ok(Json(v).into_response())
}

/// `POST /admin/api/vouchers` `{"incident", "amount", "expires_in_days"?, "affected_after_s"?}`:
/// the same as `siaga voucher issue`.
#[derive(Deserialize)]
struct VouchersBody {
    #[serde(default)]
    incident: Option<Whole>,
    #[serde(default)]
    amount: Option<Whole>,
    #[serde(default)]
    expires_in_days: Option<Whole>,
    #[serde(default)]
    affected_after_s: Option<Whole>,
}

pub async fn issue_vouchers(
    State(app): State<Arc<App>>,
    _: Admin,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let b: VouchersBody = body::read(body, app.settings.get().body_limit_bytes)?;
    let Whole(incident) = required(b.incident, "incident")?;
    let Whole(amount) = required(b.amount, "amount")?;
    let days = b.expires_in_days.map_or(30, |w| w.0);
    let after = b.affected_after_s.map_or(60, |w| w.0);
    let days = u32::try_from(days)
        .map_err(|_| ApiError::invalid("expires_in_days", "must be 1 to 3650"))?;
    let after = u64::try_from(after)
        .map_err(|_| ApiError::invalid("affected_after_s", "must be 0 or more"))?;
    let v = crate::vouchers::issue(
        &app.settings.get(),
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

/// `POST /admin/api/resellers/{id}/deposits`: `{"amount", "note"?}`.
#[derive(Deserialize)]
struct DepositBody {
    #[serde(default)]
    amount: Option<Whole>,
    #[serde(default)]
    note: Option<Text>,
}

pub async fn deposit(
    State(app): State<Arc<App>>,
    _: Admin,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let b: DepositBody = body::read(body, app.settings.get().body_limit_bytes)?;
    let Whole(amount) = required(b.amount, "amount")?;
    let note = opt(b.note.as_ref()).unwrap_or("");
    let v = ops::deposit(app.store.as_ref(), &id, amount, note, app.now()).await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

pub async fn rotate_keys(
    State(app): State<Arc<App>>,
    _: Admin,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let creds = ops::rotate_keys(app.store.as_ref(), &id, app.now()).await?;
    app.keys_changed();
    Ok(Json(creds.json()).into_response())
}

/// `POST /admin/api/resellers/rotate-keys`: every reseller at once (after a security
/// incident); answers the new credentials of each, shown once.
pub async fn rotate_all_keys(State(app): State<Arc<App>>, _: Admin) -> Result<Response, ApiError> {
    let (rotated, failed) = ops::rotate_all(app.store.as_ref(), app.now()).await?;
    app.keys_changed();
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
/// or `{"status":"failed"}`, and an optional `"operator"` (default `admin`): an order in
/// manual review or on the desk (a desk order another operator took: 409).
#[derive(Deserialize)]
struct ResolveBody {
    #[serde(default)]
    status: Option<Text>,
    #[serde(default)]
    serial_number: Option<Text>,
    #[serde(default)]
    operator: Option<Text>,
}

pub async fn resolve_order(
    State(app): State<Arc<App>>,
    _: Admin,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let b: ResolveBody = body::read(body, app.settings.get().body_limit_bytes)?;
    let how = match required(b.status, "status")?.0.as_str() {
        "success" => ops::Resolution::Success {
            sn: required(b.serial_number, "serial_number")?.0,
        },
        "failed" => ops::Resolution::Failed,
        _ => return Err(ApiError::invalid("status", "must be success or failed")),
    };
    let operator = b
        .operator
        .map_or_else(|| super::desk::DEFAULT_OPERATOR.to_owned(), |t| t.0);
    let v = ops::resolve(
        app.store.as_ref(),
        &app.settings.get(),
        &id,
        how,
        &operator,
        app.now(),
    )
    .await?;
    app.engine.outbox_kick.notify_one();
    Ok(Json(v).into_response())
}

/// `GET /admin/api/suppliers`: health, breaker, limits, balance, maintenance, transitions.
pub async fn suppliers(State(app): State<Arc<App>>, _: Admin) -> Result<Response, ApiError> {
    Ok(Json(app.health.suppliers_json().await).into_response())
}

/// `POST /admin/api/maintenance` with `{"supplier","starts_at","ends_at","note"?}`.
#[derive(Deserialize)]
struct MaintenanceBody {
    #[serde(default)]
    supplier: Option<Text>,
    #[serde(default)]
    starts_at: Option<Text>,
    #[serde(default)]
    ends_at: Option<Text>,
    #[serde(default)]
    note: Option<Text>,
}

pub async fn add_maintenance(
    State(app): State<Arc<App>>,
    _: Admin,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let b: MaintenanceBody = body::read(body, app.settings.get().body_limit_bytes)?;
    let Text(supplier) = required(b.supplier, "supplier")?;
    let Text(starts_at) = required(b.starts_at, "starts_at")?;
    let Text(ends_at) = required(b.ends_at, "ends_at")?;
    let v = ops::add_maintenance(
        app.store.as_ref(),
        &app.settings.get(),
        &supplier,
        &starts_at,
        &ends_at,
        opt(b.note.as_ref()),
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
        Err(e @ SyncError::NotApplicable(_)) => {
            let m = e.to_string();
            Err(ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                m.clone(),
                m,
            ))
        }
        Err(SyncError::Supplier(m)) => Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "supplier_error",
            m.clone(),
            m,
        )),
        Err(SyncError::Store(e)) => Err(ApiError::from(e)),
    }
}

/// `POST /admin/api/incidents` with `{"title","body","title_en"?,"body_en"?,"components"?,"impact"?,"status"?,"security"?}`.
#[derive(Deserialize)]
struct IncidentBody {
    #[serde(default)]
    title: Option<Text>,
    #[serde(default)]
    body: Option<Text>,
    #[serde(default)]
    title_en: Option<Text>,
    #[serde(default)]
    body_en: Option<Text>,
    #[serde(default)]
    components: Option<Texts>,
    #[serde(default)]
    impact: Option<Text>,
    #[serde(default)]
    status: Option<Text>,
    #[serde(default)]
    security: Option<Flag>,
}

pub async fn open_incident(
    State(app): State<Arc<App>>,
    _: Admin,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let b: IncidentBody = body::read(body, app.settings.get().body_limit_bytes)?;
    let Text(title) = required(b.title, "title")?;
    let Text(text) = required(b.body, "body")?;
    let draft = ops::IncidentDraft {
        title: &title,
        body: &text,
        title_en: opt(b.title_en.as_ref()),
        body_en: opt(b.body_en.as_ref()),
        components: b.components.map(|c| c.0).unwrap_or_default(),
        impact: opt(b.impact.as_ref()),
        status: opt(b.status.as_ref()),
        security: b.security.is_some_and(|f| f.0),
    };
    let v = ops::open_incident(app.store.as_ref(), &app.settings.get(), draft, app.now()).await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

/// `POST /admin/api/incidents/{id}/updates` with `{"status","body","body_en"?}`.
#[derive(Deserialize)]
struct UpdateBody {
    #[serde(default)]
    status: Option<Text>,
    #[serde(default)]
    body: Option<Text>,
    #[serde(default)]
    body_en: Option<Text>,
}

pub async fn incident_update(
    State(app): State<Arc<App>>,
    _: Admin,
    Path(id): Path<i64>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let b: UpdateBody = body::read(body, app.settings.get().body_limit_bytes)?;
    let Text(status) = required(b.status, "status")?;
    let Text(text) = required(b.body, "body")?;
    let v = ops::incident_update(
        app.store.as_ref(),
        id,
        &status,
        &text,
        opt(b.body_en.as_ref()),
        app.now(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

/// `POST /admin/api/incidents/{id}/postmortem`: `{"body","body_en"?}`.
#[derive(Deserialize)]
struct PostmortemBody {
    #[serde(default)]
    body: Option<Text>,
    #[serde(default)]
    body_en: Option<Text>,
}

/// `POST /admin/api/incidents/{id}/postmortem` with `{"body","body_en"?}`.
pub async fn incident_postmortem(
    State(app): State<Arc<App>>,
    _: Admin,
    Path(id): Path<i64>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let b: PostmortemBody = body::read(body, app.settings.get().body_limit_bytes)?;
    let Text(text) = required(b.body, "body")?;
    let v = ops::incident_postmortem(
        app.store.as_ref(),
        id,
        &text,
        opt(b.body_en.as_ref()),
        app.now(),
    )
    .await?;
    Ok(Json(v).into_response())
}
