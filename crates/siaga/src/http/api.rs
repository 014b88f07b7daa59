//! The reseller API (`/v1`, SPEC 5): orders, balance, products, statement. Inputs are
//! parsed into domain types at the edge; a bad input is a 4xx that changes nothing.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use siaga_domain::{Msisdn, MsisdnError, OrderStatus};
use siaga_store::{Intake, NewOrder, OrderQuery, Reseller};

use super::body::{self, required, Ref, Text, Whole};
use super::error::ApiError;
use crate::app::App;
use crate::clock::{parse_time, rfc3339};
use crate::config::{DestinationRule, Product};
use crate::engine;
use crate::keys;
use crate::wire;

/// The authenticated reseller of a request (`Authorization: Bearer <api_key>`).
pub struct Authed(pub Reseller);

impl FromRequestParts<Arc<App>> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> Result<Self, Self::Rejection> {
        // Already authenticated by the access check of `/v1`.
        if let Some(c) = parts.extensions.get::<super::access::Checked>() {
            return Ok(Authed(c.0.clone()));
        }
        let key = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|k| !k.is_empty() && k.len() <= 256)
            .ok_or_else(ApiError::unauthorized)?;
        let hash = keys::hash_key(key);
        if let Some(r) = app.keys.get(&hash) {
            return Ok(Authed(r));
        }
        let r = app
            .store
            .reseller_by_key_hash(&hash)
            .await?
            .ok_or_else(ApiError::unauthorized)?;
        if !keys::constant_time_eq(&r.key_hash, &hash) {
            return Err(ApiError::unauthorized());
        }
        app.keys.put(&hash, &r);
        Ok(Authed(r))
    }
}

fn unprocessable(code: &'static str, id: &str, en: &str) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, id, en)
}

/// Checks a destination against the product's rule; returns the normalised form.
pub fn check_destination(p: &Product, raw: &str) -> Result<String, ApiError> {
    match &p.rule {
        DestinationRule::Mobile(op) => {
            let m = Msisdn::parse(raw).map_err(|e| {
                let why = match e {
                    MsisdnError::NotDigits => "hanya boleh berisi angka",
                    MsisdnError::Length => "harus 10 sampai 13 digit",
                    MsisdnError::NotMobile => "bukan nomor seluler Indonesia",
                    MsisdnError::UnknownPrefix => "awalan nomor tidak dikenal",
                };
                unprocessable(
                    "invalid_destination",
                    &format!("nomor tujuan tidak valid: {why}"),
                    &format!("destination is invalid: it {e}"),
                )
            })?;
            if m.operator() != *op {
                return Err(unprocessable(
                    "operator_mismatch",
                    &format!(
                        "nomor tujuan milik {}, bukan {}",
                        m.operator().name(),
                        op.name()
                    ),
                    &format!(
                        "destination belongs to {}, not {}",
                        m.operator().name(),
                        op.name()
                    ),
                ));
            }
            Ok(m.as_str().to_owned())
        }
        DestinationRule::Digits { min, max, .. } => {
            let d: String = raw.trim().to_owned();
            let n = d.len() as u32;
            if d.is_empty() || !d.chars().all(|c| c.is_ascii_digit()) || n < *min || n > *max {
                return Err(unprocessable(
                    "invalid_destination",
                    &format!("nomor tujuan harus {min}-{max} digit angka"),
                    &format!("destination must be {min}-{max} digits"),
                ));
            }
            Ok(d)
        }
    }
}

fn json_status(status: StatusCode, v: Value) -> Response {
    (status, Json(v)).into_response()
}

/// `POST /v1/orders`: `{"ref_id", "product", "destination", "max_wait_s"?}`.
#[derive(Deserialize)]
struct OrderBody {
    #[serde(default)]
    ref_id: Option<Ref>,
    #[serde(default)]
    product: Option<Text>,
    #[serde(default)]
    destination: Option<Text>,
    #[serde(default)]
    max_wait_s: Option<Whole>,
}

pub async fn create_order(
    State(app): State<Arc<App>>,
    Authed(r): Authed,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let b: OrderBody = body::read(body, app.settings.get().body_limit_bytes)?;
    let Ref(ref_id) = required(b.ref_id, "ref_id")?;
    let Text(product_code) = required(b.product, "product")?;
    let Text(destination) = required(b.destination, "destination")?;
    let max_wait_s = match b.max_wait_s {
        Some(Whole(v)) if !(0..=7 * 86_400).contains(&v) => {
            return Err(ApiError::invalid("max_wait_s", "must be 0 to 604800"))
        }
        Some(Whole(v)) => v,
        None => app.settings.get().orders.default_max_wait_s as i64,
    };
    let settings = app.settings.get();
    let product = settings.product(&product_code).ok_or_else(|| {
        unprocessable(
            "unknown_product",
            &format!("produk {product_code:?} tidak dikenal"),
            &format!("unknown product {product_code:?}"),
        )
    })?;
    let destination = check_destination(product, &destination)?;
    let new = NewOrder {
        order_id: keys::new_id("ord"),
        reseller_id: r.id.clone(),
        ref_id: ref_id.as_str().to_owned(),
        product: product.code.as_str().to_owned(),
        destination,
        price: product.price.get(),
        max_wait_s,
        now: app.now(),
    };
    // Taken in a task of its own: a client that hangs up or the request deadline cannot
    // cut between the commit and the hand-off to the dispatcher.
    let intake = tokio::spawn(engine::take(app.engine.clone(), new))
        .await
        .map_err(|e| ApiError::internal(format!("order intake task: {e}")))??;
    match intake {
        Intake::Created(o) => Ok(json_status(StatusCode::CREATED, wire::order_json(&o))),
        Intake::Replay(o) => Ok(json_status(StatusCode::OK, wire::order_json(&o))),
        Intake::Conflict(_) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "ref_id_conflict",
            "ref_id sudah dipakai untuk produk atau nomor tujuan lain",
            "ref_id is already used by an order with another product or destination",
        )),
        Intake::InsufficientBalance => Err(ApiError::new(
            StatusCode::PAYMENT_REQUIRED,
            "insufficient_balance",
            "saldo tidak cukup",
            "insufficient balance",
        )),
        Intake::UnknownReseller => Err(ApiError::unauthorized()),
    }
}

pub async fn get_order(
    State(app): State<Arc<App>>,
    Authed(r): Authed,
    Path(ref_id): Path<String>,
) -> Result<Response, ApiError> {
    let o = app
        .store
        .order_by_ref(&r.id, &ref_id)
        .await?
        .ok_or_else(|| ApiError::not_found("order"))?;
    Ok(json_status(StatusCode::OK, wire::order_json(&o)))
}

pub async fn list_orders(
    State(app): State<Arc<App>>,
    Authed(r): Authed,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    // An empty `status=` is not a status: 400 like any other (the document's enum).
    let status = match q.get("status") {
        Some(s) => Some(
            OrderStatus::parse(s)
                .ok_or_else(|| ApiError::invalid("status", "must be pending, success or failed"))?,
        ),
        None => None,
    };
    let since = time_param(&q, "since")?;
    let limit = limit_param(&q)?;
    let before_id = q.get("cursor").filter(|s| !s.is_empty()).cloned();
    let orders = app
        .store
        .list_orders(OrderQuery {
            reseller_id: r.id.clone(),
            status,
            since,
            before_id,
            limit,
        })
        .await?;
    let next_cursor = (orders.len() == limit as usize)
        .then(|| orders.last().map(|o| o.id.clone()))
        .flatten();
    Ok(json_status(
        StatusCode::OK,
        json!({"orders": orders.iter().map(wire::order_json).collect::<Vec<_>>(), "next_cursor": next_cursor}),
    ))
}

pub async fn balance(State(app): State<Arc<App>>, Authed(r): Authed) -> Result<Response, ApiError> {
    let b = app.store.balance(&r.id).await?;
    Ok(json_status(
        StatusCode::OK,
        json!({"available": b.available, "held": b.held}),
    ))
}

/// `POST /v1/vouchers/redeem`: `{"code"}`.
#[derive(Deserialize)]
struct RedeemBody {
    #[serde(default)]
    code: Option<Text>,
}

/// `POST /v1/vouchers/redeem` `{"code"}`: credits a compensation voucher to its owner, once.
pub async fn redeem_voucher(
    State(app): State<Arc<App>>,
    Authed(r): Authed,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let b: RedeemBody = body::read(body, app.settings.get().body_limit_bytes)?;
    let Text(typed) = required(b.code, "code")?;
    let Some(code) = crate::vouchers::normalise(&typed) else {
        return Err(unprocessable(
            "invalid_voucher",
            "kode voucher tidak valid (periksa penulisannya)",
            "not a valid voucher code (check how it is written)",
        ));
    };
    match app.store.redeem_voucher(&r.id, &code, app.now()).await? {
        siaga_store::Redeem::Credited { voucher, balance } => Ok(json_status(
            StatusCode::OK,
            json!({
                "code": voucher.code, "amount": voucher.amount,
                "available": balance.available, "held": balance.held,
            }),
        )),
        siaga_store::Redeem::NotFound => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "voucher_not_found",
            "voucher tidak ditemukan untuk akun ini",
            "no such voucher for this account",
        )),
        siaga_store::Redeem::AlreadyRedeemed(_) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "voucher_redeemed",
            "voucher ini sudah ditukarkan",
            "this voucher has already been redeemed",
        )),
        siaga_store::Redeem::Expired(v) => Err(ApiError::new(
            StatusCode::GONE,
            "voucher_expired",
            format!("voucher ini kedaluwarsa pada {}", rfc3339(v.expires_at)),
            format!("this voucher expired at {}", rfc3339(v.expires_at)),
        )),
    }
}

pub async fn products(
    State(app): State<Arc<App>>,
    Authed(_): Authed,
) -> Result<Response, ApiError> {
    let snapshot = app.status.snapshot();
    let list: Vec<Value> = app
        .settings
        .get()
        .products
        .iter()
        .map(|p| {
            // Live: a route that takes orders now (circuit, maintenance, cost, balance).
            let available = p
                .routes
                .iter()
                .any(|r| app.health.check(r, p.price.get()).is_ok());
            let status = snapshot
                .components
                .iter()
                .find(|c| c.name == p.group)
                .map(|c| c.status.as_str())
                .unwrap_or(if available {
                    "operational"
                } else {
                    "major_outage"
                });
            json!({
                "code": p.code.as_str(),
                "name": p.name,
                "operator": p.operator_name(),
                "group": p.group,
                "price": p.price.get(),
                "available": available,
                "status": status,
            })
        })
        .collect();
    Ok(json_status(StatusCode::OK, Value::Array(list)))
}

/// `GET /v1/statement`: the lines of `[from, to)` oldest first, paged like `/v1/orders`
/// (`limit` 1 to 200, default 50; `cursor` is the previous page's `next_cursor`).
pub async fn statement(
    State(app): State<Arc<App>>,
    Authed(r): Authed,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let now = app.now();
    let to = match time_param(&q, "to")? {
        Some(t) => t,
        None => now + 1,
    };
    let from = match time_param(&q, "from")? {
        Some(t) => t,
        None => to.saturating_sub(30 * 86_400_000),
    };
    // `from` after `to` is an empty range, so an empty statement: a schema cannot say that
    // one parameter must not pass another, and nothing is wrong with either.
    let to = to.max(from);
    let limit = limit_param(&q)?;
    let after = match q.get("cursor").filter(|s| !s.is_empty()) {
        Some(c) => Some(
            c.parse::<i64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| ApiError::invalid("cursor", "must be a next_cursor from a page"))?,
        ),
        None => None,
    };
    let lines = app
        .store
        .statement(siaga_store::StatementQuery {
            reseller_id: r.id.clone(),
            from,
            to,
            after,
            limit,
        })
        .await?;
    let next_cursor = (lines.len() == limit as usize)
        .then(|| lines.last().map(|l| l.line_id.to_string()))
        .flatten();
    let lines: Vec<Value> = lines
        .iter()
        .map(|l| {
            json!({
                "at": rfc3339(l.at),
                "kind": l.kind,
                "amount": l.amount,
                "balance_after": l.balance_after,
                "order_id": l.order_id,
                "ref_id": l.ref_id,
                "note": l.note,
            })
        })
        .collect();
    Ok(json_status(
        StatusCode::OK,
        json!({"from": rfc3339(from), "to": rfc3339(to), "lines": lines, "next_cursor": next_cursor}),
    ))
}

/// A time query parameter (RFC 3339 or unix seconds, 1970 to the end of 9998), or none when absent
/// or empty.
fn time_param(q: &HashMap<String, String>, name: &str) -> Result<Option<i64>, ApiError> {
    match q.get(name).filter(|s| !s.is_empty()) {
        Some(s) => parse_time(s).map(Some).ok_or_else(|| {
            ApiError::invalid(
                name,
                "must be RFC 3339 or unix seconds, from 1970 to the end of 9998",
            )
        }),
        None => Ok(None),
    }
}

/// `limit`: 1 to 200, 50 when absent.
fn limit_param(q: &HashMap<String, String>) -> Result<u32, ApiError> {
    match q.get("limit") {
        Some(s) => s
            .parse::<u32>()
            .ok()
            .filter(|l| (1..=200).contains(l))
            .ok_or_else(|| ApiError::invalid("limit", "must be 1 to 200")),
        None => Ok(50),
    }
}
