//! HTTP side of the simulator: listeners (SO_REUSEADDR, closable for `down`), a manual
//! accept loop that can drop every open connection, the supplier API and the control API.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use md5::{Digest, Md5};
use serde::Serialize;
use serde_json::{json, Map, Value};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};

use super::catalog::{self, ProductPatch, SimProduct};
use super::engine::{rc_message, Action, TxReply, TxRequest};
use super::{Inner, ModeError, ModeRequest, SimMode};

/// Largest request body accepted on either port.
const BODY_LIMIT: usize = 64 * 1024;
/// How long `in_doubt` / `black_hole` keep a request open before giving up on it.
const HANG: Duration = Duration::from_secs(600);

/// A running supplier-API server.
pub(super) struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Running {
    /// Close the listener, drop every open connection and wait until that is done.
    pub(super) async fn stop(self) {
        let _ = self.stop.send(());
        if let Err(e) = self.task.await {
            tracing::warn!(error = %e, "sim: supplier API task failed");
        }
    }
}

/// Bind a listener with SO_REUSEADDR, so `down` → `ok` can reopen the same address at once.
pub(super) fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

async fn wait_shutdown(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// Serve the supplier API on `listener` until stopped (or the simulator shuts down).
pub(super) fn spawn_api(inner: &Arc<Inner>, listener: TcpListener) -> Running {
    let (stop, stopped) = oneshot::channel::<()>();
    let shutdown = inner.shutdown.subscribe();
    let router = api_router(Arc::clone(inner));
    let task = tokio::spawn(serve(listener, router, async move {
        tokio::select! {
            _ = stopped => {}
            () = wait_shutdown(shutdown) => {}
        }
    }));
    Running { stop, task }
}

/// Serve the control API until the simulator shuts down.
pub(super) fn spawn_control(inner: &Arc<Inner>, listener: TcpListener) -> JoinHandle<()> {
    let shutdown = inner.shutdown.subscribe();
    let router = control_router(Arc::clone(inner));
    tokio::spawn(serve(listener, router, wait_shutdown(shutdown)))
}

/// Accept loop: HTTP/1.1 with keep-alive; when `stop` resolves, the listener is closed and
/// every open connection (including requests in flight) is dropped.
async fn serve(listener: TcpListener, router: Router, stop: impl Future<Output = ()>) {
    tokio::pin!(stop);
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    if let Err(e) = stream.set_nodelay(true) {
                        tracing::debug!(error = %e, "sim: set_nodelay failed");
                    }
                    let service = TowerToHyperService::new(router.clone());
                    conns.spawn(async move {
                        let mut builder = hyper::server::conn::http1::Builder::new();
                        builder.timer(TokioTimer::new()).keep_alive(true);
                        if let Err(e) = builder.serve_connection(TokioIo::new(stream), service).await {
                            tracing::debug!(error = %e, "sim: connection ended with an error");
                        }
                    });
                }
                Err(e) => {
                    // E.g. out of file descriptors: back off a little instead of spinning.
                    tracing::warn!(error = %e, "sim: accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    conns.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// Supplier API
// ---------------------------------------------------------------------------------------

fn api_router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route("/v1/transaction", post(transaction))
        .route("/v1/cek-saldo", post(cek_saldo))
        .route("/v1/price-list", post(price_list))
        .route("/trx", get(super::otomax::trx))
        .route("/balance", get(super::otomax::balance))
        .with_state(inner)
}

fn md5_hex(s: &str) -> String {
    hex::encode(Md5::digest(s.as_bytes()))
}

fn data<T: Serialize>(status: StatusCode, body: T) -> Response {
    (status, Json(json!({ "data": body }))).into_response()
}

fn data_error(status: StatusCode, rc: &str, message: &str) -> Response {
    data(status, json!({ "rc": rc, "message": message }))
}

pub(super) fn server_error() -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response()
}

async fn read_body(body: Body) -> Result<bytes::Bytes, String> {
    axum::body::to_bytes(body, BODY_LIMIT)
        .await
        .map_err(|_| format!("body: unreadable or larger than {BODY_LIMIT} bytes"))
}

/// `error` and `slow` apply to every supplier endpoint. Returns a reply to send instead.
pub(super) async fn mode_gate(inner: &Inner) -> Option<Response> {
    let settings = inner.state().settings.clone();
    match settings.mode {
        SimMode::Error | SimMode::Down => Some(server_error()),
        SimMode::Slow => {
            tokio::time::sleep(Duration::from_millis(settings.latency_ms)).await;
            None
        }
        _ => None,
    }
}

/// An HTML error page with HTTP 200, as some hosting front ends send.
pub(super) fn garbled() -> Response {
    (
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, "text/html")],
        "<!DOCTYPE html><html><head><title>Sukses</title></head><body><h1>Gateway error</h1><p>Transaksi gagal diteruskan</p></body></html>",
    )
        .into_response()
}

pub(super) async fn hang() -> Response {
    tokio::time::sleep(HANG).await;
    (StatusCode::GATEWAY_TIMEOUT, "no reply").into_response()
}

async fn transaction(State(inner): State<Arc<Inner>>, body: Body) -> Response {
    inner.state().count_request();
    let bytes = read_body(body).await;
    if let Some(resp) = mode_gate(&inner).await {
        return resp;
    }
    let bytes = match bytes {
        Ok(b) => b,
        Err(message) => {
            let reply = TxReply::rejected("", "", "", "40", message);
            return data(StatusCode::BAD_REQUEST, reply);
        }
    };
    let req = match TxRequest::parse(&bytes) {
        Ok(r) => r,
        Err(bad) => {
            let reply = TxReply::rejected(
                &bad.ref_id,
                &bad.customer_no,
                &bad.buyer_sku_code,
                "40",
                bad.message,
            );
            return data(StatusCode::BAD_REQUEST, reply);
        }
    };
    let expected = md5_hex(&format!("{}{}{}", inner.username, inner.key, req.ref_id));
    if req.username != inner.username || !req.sign.eq_ignore_ascii_case(&expected) {
        let reply = TxReply::rejected(
            &req.ref_id,
            &req.customer_no,
            &req.buyer_sku_code,
            "41",
            rc_message("41").to_string(),
        );
        return data(StatusCode::OK, reply);
    }
    let wib_minute = catalog::wib_minute_now();
    let action = inner.state().transact(&req, wib_minute);
    match action {
        Action::Reply(reply) => data(StatusCode::OK, reply),
        Action::Schedule(reply, job) => {
            inner.spawn_completion(job);
            data(StatusCode::OK, reply)
        }
        Action::Hang => hang().await,
        Action::ServerError => server_error(),
        Action::Garbled => garbled(),
    }
}

/// Parse a JSON object body with string fields `cmd`, `username`, `sign`.
fn parse_signed_cmd(bytes: &[u8]) -> Result<(Map<String, Value>, String, String, String), String> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| format!("body: invalid JSON: {e}"))?;
    let Value::Object(obj) = value else {
        return Err("body: expected a JSON object".to_string());
    };
    let field = |name: &str| match obj.get(name) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        Some(Value::String(_)) => Err(format!("{name}: must not be empty")),
        None | Some(Value::Null) => Err(format!("{name}: required")),
        Some(_) => Err(format!("{name}: expected a string")),
    };
    let cmd = field("cmd")?;
    let username = field("username")?;
    let sign = field("sign")?;
    Ok((obj, cmd, username, sign))
}

async fn cek_saldo(State(inner): State<Arc<Inner>>, body: Body) -> Response {
    let bytes = read_body(body).await;
    if let Some(resp) = mode_gate(&inner).await {
        return resp;
    }
    let parsed = bytes.and_then(|b| parse_signed_cmd(&b));
    let (_, cmd, username, sign) = match parsed {
        Ok(p) => p,
        Err(message) => return data_error(StatusCode::BAD_REQUEST, "40", &message),
    };
    if cmd != "deposit" {
        return data_error(StatusCode::BAD_REQUEST, "40", "cmd: expected \"deposit\"");
    }
    let expected = md5_hex(&format!("{}{}depo", inner.username, inner.key));
    if username != inner.username || !sign.eq_ignore_ascii_case(&expected) {
        return data_error(StatusCode::OK, "41", rc_message("41"));
    }
    let deposit = inner.state().deposit;
    data(StatusCode::OK, json!({ "deposit": deposit }))
}

/// A Digiflazz price-list entry.
#[derive(Serialize)]
struct PriceItem<'a> {
    product_name: &'a str,
    category: &'a str,
    brand: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    seller_name: &'a str,
    price: i64,
    buyer_sku_code: &'a str,
    buyer_product_status: bool,
    seller_product_status: bool,
    unlimited_stock: bool,
    stock: i64,
    multi: bool,
    start_cut_off: &'a str,
    end_cut_off: &'a str,
    desc: &'a str,
}

impl<'a> PriceItem<'a> {
    fn from_product(p: &'a SimProduct) -> Self {
        PriceItem {
            product_name: &p.name,
            category: &p.category,
            brand: &p.brand,
            kind: "Umum",
            seller_name: "SIM",
            price: p.price,
            buyer_sku_code: &p.sku,
            buyer_product_status: p.buyer_product_status,
            seller_product_status: p.seller_product_status,
            unlimited_stock: true,
            stock: 0,
            multi: p.multi,
            start_cut_off: &p.start_cut_off,
            end_cut_off: &p.end_cut_off,
            desc: "-",
        }
    }
}

async fn price_list(State(inner): State<Arc<Inner>>, body: Body) -> Response {
    let bytes = read_body(body).await;
    if let Some(resp) = mode_gate(&inner).await {
        return resp;
    }
    let parsed = bytes.and_then(|b| parse_signed_cmd(&b));
    let (obj, cmd, username, sign) = match parsed {
        Ok(p) => p,
        Err(message) => return data_error(StatusCode::BAD_REQUEST, "40", &message),
    };
    let expected = md5_hex(&format!("{}{}pricelist", inner.username, inner.key));
    if username != inner.username || !sign.eq_ignore_ascii_case(&expected) {
        return data_error(StatusCode::OK, "41", rc_message("41"));
    }
    match cmd.as_str() {
        "prepaid" => {}
        "pasca" => return data(StatusCode::OK, Vec::<Value>::new()),
        _ => {
            return data_error(
                StatusCode::BAD_REQUEST,
                "40",
                "cmd: expected \"prepaid\" or \"pasca\"",
            )
        }
    }
    let filter = |name: &str| match obj.get(name) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => None,
    };
    let (code, category, brand, kind) = (
        filter("code"),
        filter("category"),
        filter("brand"),
        filter("type"),
    );
    let matches = |want: &Option<String>, have: &str| {
        want.as_ref().is_none_or(|w| w.eq_ignore_ascii_case(have))
    };
    let st = inner.state();
    let items: Vec<PriceItem<'_>> = st
        .products
        .iter()
        .filter(|p| {
            matches(&code, &p.sku)
                && matches(&category, &p.category)
                && matches(&brand, &p.brand)
                && matches(&kind, "Umum")
        })
        .map(PriceItem::from_product)
        .collect();
    data(StatusCode::OK, items)
}

// ---------------------------------------------------------------------------------------
// Control API
// ---------------------------------------------------------------------------------------

fn control_router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route("/_sim/mode", get(get_mode).post(post_mode))
        .route("/_sim/fulfilled", get(get_fulfilled))
        .route("/_sim/stats", get(get_stats))
        .route("/_sim/deposit", get(get_deposit).post(post_deposit))
        .route("/_sim/products", get(get_products).post(post_products))
        .with_state(inner)
}

fn control_error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

async fn parse_control<T: serde::de::DeserializeOwned>(body: Body) -> Result<T, Response> {
    let bytes = read_body(body)
        .await
        .map_err(|m| control_error(StatusCode::BAD_REQUEST, m))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| control_error(StatusCode::BAD_REQUEST, format!("body: {e}")))
}

async fn get_mode(State(inner): State<Arc<Inner>>) -> Response {
    let settings = inner.state().settings.clone();
    Json(settings).into_response()
}

async fn post_mode(State(inner): State<Arc<Inner>>, body: Body) -> Response {
    let req: ModeRequest = match parse_control(body).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    match inner.set_mode(req).await {
        Ok(settings) => Json(settings).into_response(),
        Err(e @ ModeError::Invalid(_)) => control_error(StatusCode::BAD_REQUEST, e.to_string()),
        Err(e @ ModeError::ShutDown) => {
            control_error(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        }
        Err(e @ ModeError::Rebind { .. }) => {
            control_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        }
    }
}

async fn get_fulfilled(State(inner): State<Arc<Inner>>) -> Response {
    let list = inner.state().fulfilled().to_vec();
    Json(list).into_response()
}

async fn get_stats(State(inner): State<Arc<Inner>>) -> Response {
    let stats = inner.state().stats();
    Json(stats).into_response()
}

#[derive(serde::Deserialize)]
struct DepositRequest {
    amount: i64,
}

async fn get_deposit(State(inner): State<Arc<Inner>>) -> Response {
    let deposit = inner.state().deposit;
    Json(json!({ "deposit": deposit })).into_response()
}

async fn post_deposit(State(inner): State<Arc<Inner>>, body: Body) -> Response {
    let req: DepositRequest = match parse_control(body).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    inner.state().deposit = req.amount;
    Json(json!({ "deposit": req.amount })).into_response()
}

async fn get_products(State(inner): State<Arc<Inner>>) -> Response {
    let products = inner.state().products.clone();
    Json(products).into_response()
}

async fn post_products(State(inner): State<Arc<Inner>>, body: Body) -> Response {
    let patch: ProductPatch = match parse_control(body).await {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let result = inner.state().upsert_product(patch);
    match result {
        Ok(product) => Json(product).into_response(),
        Err(message) => control_error(StatusCode::BAD_REQUEST, message),
    }
}
