//! Overload protection at the HTTP edge (SPEC 15): GCRA rate limits per API key, per client
//! IP and for the public status page (limiters of its own, so a flood on `/v1` leaves the
//! page up and the other way round), a bound on orders being taken at once, and a deadline
//! on every request. Rejections are the JSON envelope with `Retry-After`, counted in
//! `siaga_http_rejected_total{reason}`.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use super::error::ApiError;
use crate::app::App;
use crate::config::LimitsCfg;

/// Why a request was turned away: the `reason` label of `siaga_http_rejected_total`.
pub const REASONS: [&str; 6] = [
    "rate_limited_key",
    "rate_limited_ip",
    "rate_limited_status",
    "overloaded",
    "timeout",
    "too_large",
];

/// The limiters and the order bound of one running switch.
pub struct Limits {
    per_key: Option<DefaultKeyedRateLimiter<[u8; 32]>>,
    per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    status_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    status_total: Option<DefaultDirectRateLimiter>,
    subscribe_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    orders: Arc<Semaphore>,
    request_timeout: Duration,
}

/// A GCRA quota of `per_s` a second with bursts of `burst`; `None` (no limit) when `per_s` is 0.
fn quota(per_s: u32, burst: u32) -> Option<Quota> {
    let rate = NonZeroU32::new(per_s)?;
    let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
    Some(Quota::per_second(rate).allow_burst(burst))
}

impl Limits {
    pub fn new(cfg: &LimitsCfg) -> Limits {
        Limits {
            per_key: quota(cfg.per_key_per_s, cfg.per_key_burst)
                .map(DefaultKeyedRateLimiter::keyed),
            per_ip: quota(cfg.per_ip_per_s, cfg.per_ip_burst).map(DefaultKeyedRateLimiter::keyed),
            status_ip: quota(cfg.status_per_ip_per_s, cfg.status_per_ip_burst)
                .map(DefaultKeyedRateLimiter::keyed),
            status_total: quota(cfg.status_total_per_s, cfg.status_total_burst)
                .map(DefaultDirectRateLimiter::direct),
            subscribe_ip: NonZeroU32::new(cfg.subscribe_per_ip_per_min)
                .map(|n| DefaultKeyedRateLimiter::keyed(Quota::per_minute(n))),
            orders: Arc::new(Semaphore::new(cfg.max_inflight_orders.max(1) as usize)),
            request_timeout: Duration::from_millis(cfg.request_timeout_ms.max(1)),
        }
    }

    /// Forgets keys whose bucket is full again (indistinguishable from a new key), so a
    /// flood of distinct keys or addresses leaves no memory behind. Called from a timer.
    pub fn upkeep(&self) {
        if let Some(l) = &self.per_key {
            l.retain_recent();
            l.shrink_to_fit();
        }
        for l in [&self.per_ip, &self.status_ip, &self.subscribe_ip]
            .into_iter()
            .flatten()
        {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }

    /// Keys held by the keyed limiters (for tests and the upkeep log).
    pub fn tracked_keys(&self) -> usize {
        self.per_key.as_ref().map_or(0, |l| l.len())
            + [&self.per_ip, &self.status_ip]
                .into_iter()
                .flatten()
                .map(|l| l.len())
                .sum::<usize>()
    }
}

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
    use super::*;

    #[test]
    fn zero_rate_turns_a_limit_off() {
        assert!(quota(0, 10).is_none());
        assert!(quota(5, 0).is_some());
    }

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

    #[test]
    fn upkeep_forgets_idle_keys() {
        let limits = Limits::new(&LimitsCfg {
            per_ip_per_s: 1_000_000,
            per_ip_burst: 1,
            ..LimitsCfg::default()
        });
        let l = limits.per_ip.as_ref().unwrap();
        for i in 0..1000u32 {
            let _ = l.check_key(&IpAddr::from(i.to_be_bytes()));
        }
        assert_eq!(limits.tracked_keys(), 1000);
        std::thread::sleep(Duration::from_millis(5));
        limits.upkeep();
        assert_eq!(limits.tracked_keys(), 0);
    }
}
