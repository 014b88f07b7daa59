//! Overload protection at the HTTP edge (SPEC 15): the middleware that applies the
//! switch's [`Limits`] (rate limits per API key, per client IP and for the public status
//! page, the bound on orders being taken at once, the deadline on every request).
//! Rejections are the JSON envelope with `Retry-After`, counted in
//! `siaga_http_rejected_total{reason}`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use sha2::{Digest, Sha256};

use super::error::ApiError;
use crate::app::App;
pub use crate::limits::{Limits, REASONS};

/// Seconds until a limited caller may try again (at least 1), for `Retry-After`.
fn retry_after(not_until: &governor::NotUntil<<DefaultClock as Clock>::Instant>) -> u64 {
    let wait = not_until.wait_time_from(DefaultClock::default().now());
    (wait.as_secs_f64().ceil() as u64).max(1)
}

fn rate_limited(app: &App, reason: &'static str, secs: u64) -> Response {
    app.metrics.rejected(reason);
    let mut e = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("terlalu banyak permintaan; coba lagi dalam {secs} detik"),
        format!("too many requests; try again in {secs} s"),
    );
    e.retry_after = Some(secs);
    e.into_response()
}

/// The client's address (behind a trusted proxy, the one it forwarded), one /64 for IPv6
/// (one host usually holds the whole prefix).
fn client_ip(req: &Request) -> Option<IpAddr> {
    let ext = req.extensions();
    let ip = match ext.get::<crate::net::ClientAddr>() {
        Some(c) => c.0,
        None => ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())?,
    };
    Some(crate::net::key(ip))
}

/// The bearer token's SHA-256, so the limiter holds no secret. An unknown key is limited
/// like any other; random keys are held back by the per-IP limit and forgotten by upkeep.
fn bearer_digest(req: &Request) -> Option<[u8; 32]> {
    let key = req
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?
        .trim();
    (!key.is_empty()).then(|| Sha256::digest(key.as_bytes()).into())
}

/// Middleware for `/v1`: per client IP, then per API key.
pub async fn api(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    if let Some(r) = check_ip(&app, &req) {
        return r;
    }
    if let (Some(l), Some(d)) = (&app.limits.per_key, bearer_digest(&req)) {
        if let Err(n) = l.check_key(&d) {
            return rate_limited(&app, "rate_limited_key", retry_after(&n));
        }
    }
    next.run(req).await
}

/// Middleware for `/openapi.json` and the admin API: per client IP.
pub async fn ip(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    match check_ip(&app, &req) {
        Some(r) => r,
        None => next.run(req).await,
    }
}

fn check_ip(app: &App, req: &Request) -> Option<Response> {
    let (l, ip) = (app.limits.per_ip.as_ref()?, client_ip(req)?);
    l.check_key(&ip)
        .err()
        .map(|n| rate_limited(app, "rate_limited_ip", retry_after(&n)))
}

/// Middleware for the public status page: its own per-IP and total limiters.
pub async fn status(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    if let (Some(l), Some(ip)) = (&app.limits.status_ip, client_ip(&req)) {
        if let Err(n) = l.check_key(&ip) {
            return rate_limited(&app, "rate_limited_status", retry_after(&n));
        }
    }
    if let Some(l) = &app.limits.status_total {
        if let Err(n) = l.check() {
            return rate_limited(&app, "rate_limited_status", retry_after(&n));
        }
    }
    next.run(req).await
}

/// Middleware for `POST /subscribe`: a few per client IP per minute, on top of the status
/// page's limits, so nobody can make siaga mail-bomb a list of addresses.
pub async fn subscribe(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    if let (Some(l), Some(ip)) = (&app.limits.subscribe_ip, client_ip(&req)) {
        if let Err(n) = l.check_key(&ip) {
            return rate_limited(&app, "rate_limited_status", retry_after(&n));
        }
    }
    next.run(req).await
}

/// The `503 overloaded` every bounded queue answers with.
pub fn overloaded(app: &App, reason: &'static str, id: &str, en: &str) -> Response {
    app.metrics.rejected(reason);
    let mut e = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", id, en);
    e.retry_after = Some(1);
    e.into_response()
}

/// Middleware for `POST /v1/orders`: at most `max_inflight_orders` taken at once; the rest
/// are shed at once rather than queued behind them.
pub async fn order_slot(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let Ok(_slot) = app.limits.orders.clone().try_acquire_owned() else {
        return overloaded(
            &app,
            "overloaded",
            "server sedang penuh; coba lagi sebentar lagi",
            "the server is at capacity; try again shortly",
        );
    };
    next.run(req).await
}

/// Middleware for every route: a request (body included) answered within
/// `request_timeout_ms`, or `504 timeout` with `Retry-After`. Unlike `503 overloaded`
/// (turned away before any work), a request cut off here may have done its work: an
/// order may have been taken, and a replay with the same `ref_id` says so (`200` with
/// the order) or takes it now (`201`). The message says as much.
pub async fn deadline(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let limit = app.limits.request_timeout;
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(r) => r,
        Err(_) => {
            app.metrics.rejected("timeout");
            let secs = limit.as_secs_f64();
            let mut e = ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "timeout",
                format!(
                    "permintaan tidak selesai dalam {secs} detik; hasilnya tidak diketahui. \
                     Kirim ulang dengan ref_id yang sama untuk mengetahui apakah pesanan diterima"
                ),
                format!(
                    "the request did not finish within {secs} s; its outcome is unknown. \
                     Send it again with the same ref_id to learn whether the order was taken"
                ),
            );
            e.retry_after = Some(1);
            e.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use governor::DefaultKeyedRateLimiter;

    use super::*;
    use crate::limits::quota;

    #[test]
    fn a_key_over_its_burst_is_refused_with_a_wait_and_others_are_not() {
        let l = DefaultKeyedRateLimiter::keyed(quota(1, 3).unwrap());
        for _ in 0..3 {
            assert!(l.check_key(&1u8).is_ok());
        }
        let n = l.check_key(&1u8).unwrap_err();
        assert!((1..=2).contains(&retry_after(&n)));
        assert!(l.check_key(&2u8).is_ok());
    }
}
