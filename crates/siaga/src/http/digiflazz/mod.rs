//! The Digiflazz drop-in (SPEC 5.1): `POST /digiflazz/v1/transaction`, `/cek-saldo` and
//! `/price-list`, answered exactly in the Digiflazz buyer dialect, so software a reseller
//! runs against Digiflazz works by changing its base URL and credentials. Only a different
//! face: an order goes through the same intake as `POST /v1/orders` (`engine::take`), and
//! its state comes back in Digiflazz's words (`wire::digiflazz_data`). `username` is the
//! reseller's id, the key its `digiflazz_key`, `sign` md5 as Digiflazz defines it; every
//! refusal is `{"data":{"rc",...}}` (the table of rc codes is in README).

mod testing;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use siaga_store::{Intake, NewOrder, Order, Reseller};
use siaga_suppliers::sign::md5_hex;

use super::api::check_destination;
use super::body::{self, Flag, Ref, Text, Whole};
use super::error::ApiError;
use crate::app::App;
use crate::config::Product;
use crate::{engine, keys, wire};

/// A refusal or answer in Digiflazz's shape: `{"data":{...}}` with an HTTP status.
pub(crate) struct Answer {
    status: StatusCode,
    data: Value,
    retry_after: Option<u64>,
}

impl Answer {
    fn ok(data: Value) -> Answer {
        Answer {
            status: StatusCode::OK,
            data,
            retry_after: None,
        }
    }

    /// `Gagal` with `rc` before any transaction was made (Digiflazz answers these with
    /// a 4xx; the body says why).
    fn refused(status: StatusCode, rc: &'static str, message: impl Into<String>) -> Answer {
        Answer {
            status,
            data: json!({"status": "Gagal", "rc": rc, "message": message.into(), "sn": "",
                         "price": 0, "buyer_last_saldo": 0}),
            retry_after: None,
        }
    }

    /// Echoes the request's transaction fields, as Digiflazz does on every reply.
    fn about(mut self, b: &TrxBody) -> Answer {
        if let Value::Object(m) = &mut self.data {
            for (k, v) in [
                ("ref_id", b.ref_id.as_ref().map(|r| r.0.as_str().to_owned())),
                ("customer_no", b.customer_no.as_ref().map(|t| t.0.clone())),
                (
                    "buyer_sku_code",
                    b.buyer_sku_code.as_ref().map(|t| t.0.clone()),
                ),
            ] {
                m.entry(k)
                    .or_insert_with(|| Value::String(v.unwrap_or_default()));
            }
        }
        self
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let mut r = (self.status, Json(json!({ "data": self.data }))).into_response();
        if let Some(s) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        r
    }
}

fn bad_request(e: ApiError) -> Answer {
    Answer::refused(StatusCode::BAD_REQUEST, "40", e.id)
}

fn wrong_sign() -> Answer {
    Answer::refused(StatusCode::BAD_REQUEST, "41", "Signature Anda salah")
}

fn internal(e: impl std::fmt::Display) -> Answer {
    tracing::error!(error = %e, "digiflazz drop-in: internal error");
    // Whether an order was taken is not known: Digiflazz's "router issue" pending, so a
    // client checks again by sending the same ref_id (which is safe here).
    internal_body(StatusCode::INTERNAL_SERVER_ERROR)
}

fn internal_body(status: StatusCode) -> Answer {
    Answer {
        status,
        data: json!({"status": "Pending", "rc": "99", "sn": "", "price": 0, "buyer_last_saldo": 0,
                     "message": "Terjadi gangguan di server; cek status dengan ref_id yang sama"}),
        retry_after: None,
    }
}

/// A store error in this dialect: while the database cannot be reached
/// ([`siaga_store::StoreError::is_unavailable`]), `503` with `Retry-After` and the same
/// "router issue" pending body (check again with the same `ref_id`); anything else is
/// [`internal`].
fn store_trouble(e: siaga_store::StoreError) -> Answer {
    if !e.is_unavailable() {
        return internal(e);
    }
    tracing::warn!(error = %e, "digiflazz drop-in: database unavailable; answered 503");
    let mut a = internal_body(StatusCode::SERVICE_UNAVAILABLE);
    a.retry_after = Some(siaga_store::UNAVAILABLE_RETRY_AFTER.as_secs().max(1));
    a
}

/// `POST /digiflazz/v1/transaction` (also the status check: the same `ref_id` again).
#[derive(Deserialize)]
struct TrxBody {
    #[serde(default)]
    username: Option<Text>,
    #[serde(default)]
    buyer_sku_code: Option<Text>,
    #[serde(default)]
    customer_no: Option<Text>,
    #[serde(default)]
    ref_id: Option<Ref>,
    #[serde(default)]
    sign: Option<Text>,
    #[serde(default)]
    testing: Option<Flag>,
    #[serde(default)]
    max_price: Option<Whole>,
}

/// `POST /digiflazz/v1/cek-saldo` and `/price-list`.
#[derive(Deserialize)]
struct CmdBody {
    #[serde(default)]
    cmd: Option<Text>,
    #[serde(default)]
    username: Option<Text>,
    #[serde(default)]
    sign: Option<Text>,
    #[serde(default)]
    code: Option<Text>,
    #[serde(default)]
    category: Option<Text>,
    #[serde(default)]
    brand: Option<Text>,
    #[serde(default)]
    r#type: Option<Text>,
}

/// The request's body and the address it came from.
async fn read<T: serde::de::DeserializeOwned>(
    app: &App,
    req: Request,
) -> Result<(T, Option<IpAddr>), Answer> {
    let from = client_ip(&req);
    let limit = app.settings.get().body_limit_bytes;
    let bytes: Result<Bytes, _> = axum::body::to_bytes(req.into_body(), limit)
        .await
        .map_err(|_| ());
    let bytes = bytes.map_err(|()| bad_request(ApiError::too_large(limit)))?;
    let b = body::read(Ok(bytes), limit).map_err(bad_request)?;
    Ok((b, from))
}

fn client_ip(req: &Request) -> Option<IpAddr> {
    let ext = req.extensions();
    match ext.get::<crate::net::ClientAddr>() {
        Some(c) => Some(c.0),
        None => ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()),
    }
}

/// The reseller named by `username` whose drop-in key signs `what` as `sign`, within its
/// address allowlist and rate limit. An unknown username is a wrong sign (rc 41): which
/// ids exist is nobody's business.
async fn signed_by(
    app: &App,
    username: Option<&Text>,
    sign: Option<&Text>,
    what: &str,
    from: Option<IpAddr>,
) -> Result<Reseller, Answer> {
    let (Some(Text(user)), Some(Text(sign))) = (username, sign) else {
        return Err(Answer::refused(
            StatusCode::BAD_REQUEST,
            "40",
            "username dan sign wajib diisi",
        ));
    };
    if user.is_empty() || user.len() > 64 {
        return Err(wrong_sign());
    }
    let r = app
        .store
        .reseller(user)
        .await
        .map_err(store_trouble)?
        .ok_or_else(wrong_sign)?;
    let key = r.digiflazz_key.as_deref().ok_or_else(wrong_sign)?;
    let want = md5_hex(&[user, key, what]);
    if !keys::constant_time_eq(&want, &sign.trim().to_ascii_lowercase()) {
        return Err(wrong_sign());
    }
    if !r.ip_allowlist.is_empty()
        && !from.is_some_and(|ip| super::access::allowed(&r.ip_allowlist, ip))
    {
        let shown = from.map(|ip| ip.to_string()).unwrap_or_default();
        return Err(Answer::refused(
            StatusCode::FORBIDDEN,
            "45",
            format!("IP {shown} tidak terdaftar di whitelist"),
        ));
    }
    if let Some(l) = &app.limits.per_key {
        let d: [u8; 32] = Sha256::digest(format!("digiflazz:{}", r.id).as_bytes()).into();
        if l.check_key(&d).is_err() {
            app.metrics.rejected("rate_limited_key");
            let mut a = Answer::refused(
                StatusCode::TOO_MANY_REQUESTS,
                "85",
                "Terlalu banyak permintaan; coba lagi sebentar lagi",
            );
            a.retry_after = Some(1);
            return Err(a);
        }
    }
    Ok(r)
}

/// The configured product a `buyer_sku_code` names (exactly, else ignoring case).
fn product<'a>(settings: &'a crate::config::Settings, sku: &str) -> Option<&'a Product> {
    settings.product(sku).or_else(|| {
        settings
            .products
            .iter()
            .find(|p| p.code.as_str().eq_ignore_ascii_case(sku))
    })
}

/// An order's state as Digiflazz answers it, with the reseller's balance now.
async fn order_answer(app: &App, o: &Order) -> Answer {
    match app.store.balance(&o.reseller_id).await {
        Ok(b) => Answer::ok(wire::digiflazz_data(o, b.available)),
        Err(e) => store_trouble(e),
    }
}

pub async fn transaction(State(app): State<Arc<App>>, req: Request) -> Response {
    let (b, from) = match read::<TrxBody>(&app, req).await {
        Ok(x) => x,
        Err(a) => return a.into_response(),
    };
    match take(&app, &b, from).await {
        Ok(a) | Err(a) => a.about(&b).into_response(),
    }
}

async fn take(app: &Arc<App>, b: &TrxBody, from: Option<IpAddr>) -> Result<Answer, Answer> {
    let missing = |f: &str| bad_request(ApiError::missing(f));
    let Ref(ref_id) = b.ref_id.clone().ok_or_else(|| missing("ref_id"))?;
    let r = signed_by(
        app,
        b.username.as_ref(),
        b.sign.as_ref(),
        ref_id.as_str(),
        from,
    )
    .await?;
    let Text(sku) = b
        .buyer_sku_code
        .clone()
        .ok_or_else(|| missing("buyer_sku_code"))?;
    let Text(customer_no) = b
        .customer_no
        .clone()
        .ok_or_else(|| missing("customer_no"))?;
    if b.testing.is_some_and(|Flag(t)| t) {
        return Ok(testing::answer(app, &r, ref_id.as_str(), &sku, &customer_no).await);
    }
    let settings = app.settings.get();
    let product = product(&settings, &sku);
    // The same ref_id again is the status check: never a second order.
    if let Some(o) = app
        .store
        .order_by_ref(&r.id, ref_id.as_str())
        .await
        .map_err(store_trouble)?
    {
        let dest = product
            .and_then(|p| check_destination(p, &customer_no).ok())
            .unwrap_or(customer_no);
        if !o.product.eq_ignore_ascii_case(&sku) || o.destination != dest {
            return Err(ref_id_taken());
        }
        return Ok(order_answer(app, &o).await);
    }
    let product = product.ok_or_else(|| {
        Answer::refused(
            StatusCode::BAD_REQUEST,
            "43",
            format!("Produk {sku} tidak ditemukan atau tidak aktif"),
        )
    })?;
    if let Some(Whole(max)) = b.max_price {
        if product.price.get() > max {
            return Err(Answer::refused(
                StatusCode::BAD_REQUEST,
                "69",
                format!("Harga {} melebihi max_price {max}", product.price.get()),
            ));
        }
    }
    let destination = check_destination(product, &customer_no).map_err(|e| {
        let rc = if e.code == "operator_mismatch" {
            "52"
        } else {
            "54"
        };
        Answer::refused(StatusCode::BAD_REQUEST, rc, e.id)
    })?;
    let new = NewOrder {
        order_id: keys::new_id("ord"),
        reseller_id: r.id.clone(),
        ref_id: ref_id.as_str().to_owned(),
        product: product.code.as_str().to_owned(),
        destination,
        price: product.price.get(),
        max_wait_s: settings.orders.default_max_wait_s as i64,
        now: app.now(),
    };
    intake(app, new).await
}

fn ref_id_taken() -> Answer {
    Answer::refused(
        StatusCode::BAD_REQUEST,
        "49",
        "ref_id sudah dipakai untuk produk atau nomor tujuan lain",
    )
}

/// The same intake as `POST /v1/orders`, under the same bound on orders taken at once.
async fn intake(app: &Arc<App>, new: NewOrder) -> Result<Answer, Answer> {
    let Ok(_slot) = app.limits.orders.clone().try_acquire_owned() else {
        app.metrics.rejected("overloaded");
        let mut a = Answer::refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "85",
            "Server sedang penuh; coba lagi sebentar lagi",
        );
        a.retry_after = Some(1);
        return Err(a);
    };
    // A task of its own, as in `api::create_order`: a client that hangs up cannot cut
    // between the commit and the hand-off to the dispatcher.
    let taken = tokio::spawn(engine::take(app.engine.clone(), new))
        .await
        .map_err(internal)?
        .map_err(store_trouble)?;
    match taken {
        Intake::Created(o) | Intake::Replay(o) => Ok(order_answer(app, &o).await),
        Intake::Conflict(_) => Err(ref_id_taken()),
        Intake::InsufficientBalance => Err(Answer::refused(
            StatusCode::BAD_REQUEST,
            "44",
            "Saldo tidak cukup",
        )),
        Intake::UnknownReseller => Err(wrong_sign()),
    }
}

/// `POST /digiflazz/v1/cek-saldo`: `{"cmd":"deposit","username","sign"}` →
/// `{"data":{"deposit":N}}`, the available balance.
pub async fn cek_saldo(State(app): State<Arc<App>>, req: Request) -> Response {
    let answer = async {
        let (b, from) = read::<CmdBody>(&app, req).await?;
        if b.cmd.as_ref().is_some_and(|Text(c)| c != "deposit") {
            return Err(Answer::refused(
                StatusCode::BAD_REQUEST,
                "40",
                "cmd harus deposit",
            ));
        }
        let r = signed_by(&app, b.username.as_ref(), b.sign.as_ref(), "depo", from).await?;
        let bal = app.store.balance(&r.id).await.map_err(store_trouble)?;
        Ok(Answer::ok(json!({"deposit": bal.available})))
    };
    match answer.await {
        Ok(a) | Err(a) => a.into_response(),
    }
}

/// `POST /digiflazz/v1/price-list`: `{"cmd":"prepaid","username","sign"}` plus optional
/// `code`, `category`, `brand`, `type` filters → `{"data":[items]}` with live availability
/// (`cmd: "pasca"`: an empty list, siaga sells no postpaid products).
pub async fn price_list(State(app): State<Arc<App>>, req: Request) -> Response {
    let answer = async {
        let (b, from) = read::<CmdBody>(&app, req).await?;
        let cmd = b
            .cmd
            .as_ref()
            .map(|Text(c)| c.as_str())
            .unwrap_or("prepaid");
        if cmd != "prepaid" && cmd != "pasca" {
            return Err(Answer::refused(
                StatusCode::BAD_REQUEST,
                "40",
                "cmd harus prepaid atau pasca",
            ));
        }
        signed_by(
            &app,
            b.username.as_ref(),
            b.sign.as_ref(),
            "pricelist",
            from,
        )
        .await?;
        if cmd == "pasca" {
            return Ok(Answer::ok(Value::Array(Vec::new())));
        }
        Ok(Answer::ok(Value::Array(price_items(&app, &b))))
    };
    match answer.await {
        Ok(a) | Err(a) => a.into_response(),
    }
}

fn price_items(app: &App, b: &CmdBody) -> Vec<Value> {
    let matches = |want: &Option<Text>, have: &str| {
        want.as_ref()
            .is_none_or(|Text(w)| w.is_empty() || w.eq_ignore_ascii_case(have))
    };
    app.settings
        .get()
        .products
        .iter()
        .filter(|p| {
            matches(&b.code, p.code.as_str())
                && matches(&b.category, &p.group)
                && matches(&b.brand, p.operator_name())
                && matches(&b.r#type, "Umum")
        })
        .map(|p| {
            // Live, as `/v1/products`: a route that takes orders now.
            let available = p
                .routes
                .iter()
                .any(|r| app.health.check(r, p.price.get()).is_ok());
            json!({
                "product_name": p.name, "category": p.group, "brand": p.operator_name(),
                "type": "Umum", "seller_name": "siaga", "price": p.price.get(),
                "buyer_sku_code": p.code.as_str(), "buyer_product_status": available,
                "seller_product_status": available, "unlimited_stock": true, "stock": 0,
                "multi": true, "start_cut_off": "00:00", "end_cut_off": "00:00", "desc": "",
            })
        })
        .collect()
}
