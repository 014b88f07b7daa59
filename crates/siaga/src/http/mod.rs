//! The HTTP edge: the router that ties the reseller API, admin API, supplier callbacks,
//! the public status page and subscriptions, health endpoints and the OpenAPI description
//! together.

pub mod access;
pub mod admin;
pub mod api;
pub mod assets;
pub mod body;
pub mod cluster;
pub mod dashboard;
pub mod desk;
pub mod digiflazz;
pub mod error;
pub mod headers;
pub mod limit;
pub mod openapi;
pub mod pause;
pub mod protocol;
pub mod reload;
pub mod reports;
pub mod serve;
pub mod sla;
pub mod status_page;
pub mod subscribe;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::app::App;
use error::ApiError;

pub fn router(app: Arc<App>) -> Router {
    let limit = app.settings.get().body_limit_bytes;
    // Suppliers' callbacks (signed; their volume follows our own orders) and monitoring
    // are not rate limited; they still get the body cap and the deadline.
    Router::new()
        .route(
            "/hooks/suppliers/{supplier_id}",
            get(reports::supplier_report).post(reports::supplier_report),
        )
        .route(
            "/hooks/suppliers/{supplier_id}/{secret}",
            get(reports::supplier_report_by_secret).post(reports::supplier_report_by_secret),
        )
        .route("/metrics", get(public_metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(reseller_routes(&app))
        .merge(dropin_routes(&app))
        .merge(admin_routes(&app))
        .merge(status_routes(&app))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(limit))
        .layer(from_fn_with_state(app.clone(), limit::deadline))
        .layer(from_fn_with_state(app.clone(), error::envelope))
        .layer(axum::middleware::from_fn(error::language))
        .layer(axum::middleware::from_fn(headers::harden))
        .with_state(app)
}

/// The reseller API (`/v1`): key checks and per-key limits.
fn reseller_routes(app: &Arc<App>) -> Router<Arc<App>> {
    Router::new()
        .route(
            "/v1/orders",
            post(api::create_order)
                .layer(from_fn_with_state(app.clone(), limit::order_slot))
                .get(api::list_orders),
        )
        .route("/v1/orders/{ref_id}", get(api::get_order))
        .route("/v1/balance", get(api::balance))
        .route("/v1/products", get(api::products))
        .route("/v1/statement", get(api::statement))
        .route("/v1/vouchers/redeem", post(api::redeem_voucher))
        // Runs after the rate limits (layers added later run first).
        .route_layer(from_fn_with_state(app.clone(), access::check))
        .route_layer(from_fn_with_state(app.clone(), limit::api))
}

/// The Digiflazz drop-in (SPEC 5.1): limited per client address here, per reseller and by
/// the order bound inside (refusals in Digiflazz's words).
fn dropin_routes(app: &Arc<App>) -> Router<Arc<App>> {
    Router::new()
        .route("/digiflazz/v1/transaction", post(digiflazz::transaction))
        .route("/digiflazz/v1/cek-saldo", post(digiflazz::cek_saldo))
        .route("/digiflazz/v1/price-list", post(digiflazz::price_list))
        .route_layer(from_fn_with_state(app.clone(), limit::ip))
}

/// The admin API and the OpenAPI description: limited per client address.
fn admin_routes(app: &Arc<App>) -> Router<Arc<App>> {
    Router::new()
        .route("/openapi.json", get(openapi::openapi))
        .route(
            "/admin/api/resellers",
            post(admin::add_reseller).get(admin::list_resellers),
        )
        .route("/admin/api/resellers/{id}/deposits", post(admin::deposit))
        .route(
            "/admin/api/resellers/{id}/access",
            axum::routing::put(admin::set_access),
        )
        .route(
            "/admin/api/resellers/rotate-keys",
            post(admin::rotate_all_keys),
        )
        .route(
            "/admin/api/resellers/{id}/rotate-keys",
            post(admin::rotate_keys),
        )
        .route("/admin/api/orders/{order_id}", get(admin::get_order))
        .route("/admin/api/vouchers", post(admin::issue_vouchers))
        .route(
            "/admin/api/orders/{order_id}/resolve",
            post(admin::resolve_order),
        )
        .route("/admin/api/desk", get(desk::list))
        .route("/admin/api/desk/{order_id}/take", post(desk::take))
        .route("/admin/api/audit", get(desk::audit))
        .route("/admin/api/verify", get(admin::verify))
        .route("/admin/api/cluster", get(cluster::cluster))
        .route("/admin/api/suppliers/{id}/pause", post(pause::pause))
        .route("/admin/api/suppliers/{id}/resume", post(pause::resume))
        .route("/admin/api/reload", post(reload::reload))
        .route("/admin/api/notifications", get(admin::notifications))
        .route("/admin/api/suppliers", get(admin::suppliers))
        .route("/admin/api/reports/sla", get(sla::sla))
        .route("/admin/api/reports/scorecard", get(sla::scorecard))
        .route("/admin/api/reports/outages/{id}", get(sla::outage))
        .route(
            "/admin/api/suppliers/{id}/sync-prices",
            post(admin::sync_prices),
        )
        .route("/admin/api/maintenance", post(admin::add_maintenance))
        .route("/admin/api/incidents", post(admin::open_incident))
        .route(
            "/admin/api/incidents/{id}/updates",
            post(admin::incident_update),
        )
        .route(
            "/admin/api/incidents/{id}/postmortem",
            post(admin::incident_postmortem),
        )
        .merge(dashboard::routes())
        .route_layer(from_fn_with_state(app.clone(), limit::ip))
}

/// The public status page and subscriptions: their own limiters, so a flood on /v1 leaves
/// them up and the other way round.
fn status_routes(app: &Arc<App>) -> Router<Arc<App>> {
    Router::new()
        .route("/", get(status_page::index))
        .route("/history", get(status_page::history))
        .route("/history.atom", get(status_page::atom))
        .route("/favicon.svg", get(assets::favicon))
        .route("/incidents/{id}", get(status_page::incident_page))
        .route("/api/v2/summary.json", get(status_page::summary))
        .route("/api/v2/status.json", get(status_page::status_json))
        .route("/api/v2/components.json", get(status_page::components_json))
        .route("/api/v2/incidents.json", get(status_page::incidents_json))
        .route(
            "/api/v2/incidents/unresolved.json",
            get(status_page::unresolved_json),
        )
        .route(
            "/api/v2/scheduled-maintenances.json",
            get(status_page::maintenances_json),
        )
        .route(
            "/api/v2/scheduled-maintenances/upcoming.json",
            get(status_page::upcoming_json),
        )
        .route(
            "/api/v2/scheduled-maintenances/active.json",
            get(status_page::active_json),
        )
        // ETags from the bytes (before compression: one tag for every encoding, weak).
        .layer(axum::middleware::from_fn(status_page::etag))
        // gzip or brotli as the client asks: the page is ~30x smaller on 3G. Only here:
        // public words, nothing secret for a compression side channel to find.
        .layer(tower_http::compression::CompressionLayer::new())
        // Any site may read the public status (Statuspage's own widget runs on the
        // reseller's site): `Access-Control-Allow-Origin: *`, preflights answered.
        .layer(
            tower_http::cors::CorsLayer::new()
                .allow_origin(tower_http::cors::Any)
                .allow_methods([axum::http::Method::GET, axum::http::Method::HEAD])
                .allow_headers(tower_http::cors::Any)
                .max_age(std::time::Duration::from_secs(86_400)),
        )
        .route(
            "/subscribe",
            post(subscribe::subscribe).layer(from_fn_with_state(app.clone(), limit::subscribe)),
        )
        .route("/subscribe/confirm/{token}", get(subscribe::confirm))
        .route(
            "/unsubscribe/{token}",
            get(subscribe::unsubscribe).post(subscribe::unsubscribe),
        )
        .route_layer(from_fn_with_state(app.clone(), limit::status))
}

async fn healthz() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

/// How long `/readyz` waits for the store's answer.
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// `/readyz`: one real round trip to the store, bounded by [`READY_TIMEOUT`], which also
/// checks the migrations are applied. 503 (with `Retry-After`) when the database cannot be
/// reached, so a load balancer takes this node out until it can.
async fn readyz(State(app): State<Arc<App>>) -> Response {
    let why = match tokio::time::timeout(READY_TIMEOUT, app.store.ping()).await {
        Ok(Ok(())) => return Json(json!({"status": "ready"})).into_response(),
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within {} s", READY_TIMEOUT.as_secs()),
    };
    tracing::warn!(error = %why, "not ready: the store cannot be reached");
    let mut resp = (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"status": "store unavailable"})),
    )
        .into_response();
    resp.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from(siaga_store::UNAVAILABLE_RETRY_AFTER.as_secs().max(1)),
    );
    resp
}

/// `/metrics` alone, for its own listener (`server.metrics_listen`): no token, as a
/// Prometheus scrape target on a private address.
pub fn metrics_router(app: Arc<App>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .layer(from_fn_with_state(app.clone(), error::envelope))
        .layer(axum::middleware::from_fn(headers::harden))
        .with_state(app)
}

/// `/metrics` on the public listener: only with the bearer token of
/// `server.metrics_token_env` (the scrape names suppliers and their balances, which public
/// pages never show); 401 otherwise, and always when no token is configured.
async fn public_metrics(State(app): State<Arc<App>>, headers: axum::http::HeaderMap) -> Response {
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let open = match (&app.settings.get().metrics.token, given) {
        (Some(want), Some(given)) => crate::keys::constant_time_eq(
            &crate::keys::hash_key(given),
            &crate::keys::hash_key(want),
        ),
        _ => false,
    };
    if !open {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "metrik hanya untuk operator: gunakan server.metrics_listen atau token metrik",
            "metrics are for operators: use server.metrics_listen or the metrics token",
        )
        .into_response();
    }
    metrics(State(app)).await
}

/// Prometheus scrape (SPEC 13). Operators only: it names suppliers.
async fn metrics(State(app): State<Arc<App>>) -> Response {
    if let Ok(counts) = app.store.pending_by_stage().await {
        for stage in siaga_domain::Stage::ALL {
            let n = counts
                .iter()
                .find(|(s, _)| s == stage.as_str())
                .map(|(_, n)| *n)
                .unwrap_or(0);
            app.metrics.set_orders_pending(stage.as_str(), n);
        }
    }
    if let Ok(n) = crate::ops::desk::count(app.store.as_ref(), &app.settings.get()).await {
        app.metrics.set_desk_orders(n as i64);
    }
    let mut text = app.metrics.render();
    if let Some(t) = app.store.write_times() {
        text.push_str(&crate::metrics::store_histograms(&t));
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            crate::metrics::CONTENT_TYPE,
        )],
        text,
    )
        .into_response()
}

async fn not_found() -> ApiError {
    ApiError::not_found("halaman")
}
