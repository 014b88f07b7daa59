//! Per-reseller API access rules (SPEC 5), checked on every `/v1` request after the rate
//! limits: the API key, then the reseller's IP allowlist (`403 forbidden` naming the
//! address the request came from), then, when the reseller requires it, the request
//! signature: `X-Siaga-Timestamp` (unix seconds, at most 300 s off) and
//! `X-Siaga-Signature: v1=<hex HMAC-SHA256(webhook_secret, timestamp + "." + raw body)>`,
//! keyed with the webhook secret exactly as it was handed out (`whsec_…`).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use siaga_store::Reseller;

use super::api::Authed;
use super::error::ApiError;
use crate::app::App;
use crate::net::{self as conns, ClientAddr};

/// How far a signed request's timestamp may be from our clock, either way.
pub const MAX_SKEW_S: i64 = 300;

/// The reseller that passed [`check`], for the handler's `Authed` (no second lookup).
#[derive(Clone)]
pub struct Checked(pub Reseller);

/// Middleware for `/v1`: authenticates, then applies the reseller's access rules.
pub async fn check(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let r = match Authed::from_request_parts(&mut parts, &app).await {
        Ok(Authed(r)) => r,
        Err(e) => return e.into_response(),
    };
    if !r.ip_allowlist.is_empty() {
        let from = parts
            .extensions
            .get::<ClientAddr>()
            .map(|c| c.0)
            .or_else(|| {
                parts
                    .extensions
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|c| c.0.ip())
            });
        if !from.is_some_and(|ip| allowed(&r.ip_allowlist, ip)) {
            return forbidden(from).into_response();
        }
    }
    let body = if r.require_signature {
        let limit = app.settings.get().body_limit_bytes;
        let bytes = match axum::body::to_bytes(body, limit).await {
            Ok(b) => b,
            Err(_) => return ApiError::too_large(limit).into_response(),
        };
        if let Err(e) = verify(&parts.headers, &r.webhook_secret, &bytes, app.now() / 1000) {
            return e.into_response();
        }
        Body::from(bytes)
    } else {
        body
    };
    parts.extensions.insert(Checked(r));
    next.run(Request::from_parts(parts, body)).await
}

/// Whether `ip` is on `list` (addresses or ranges). Lists are checked when they are set; a
/// list that still cannot be read matches nothing (closed, not open).
pub fn allowed(list: &[String], ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    conns::parse_nets(list)
        .map(|nets| nets.iter().any(|n| n.contains(&ip)))
        .unwrap_or(false)
}

fn forbidden(from: Option<IpAddr>) -> ApiError {
    let at = from
        .map(|ip| ip.to_canonical().to_string())
        .unwrap_or_else(|| "?".into());
    ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!("alamat {at} tidak ada di daftar IP yang diizinkan untuk akun ini"),
        format!("address {at} is not on this account's IP allowlist"),
    )
}

fn bad_signature(id: &str, en: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", id, en)
}

/// Checks a signed request; `now_s` is our clock in unix seconds.
pub fn verify(headers: &HeaderMap, secret: &str, body: &[u8], now_s: i64) -> Result<(), ApiError> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let (Some(ts), Some(sig)) = (header("x-siaga-timestamp"), header("x-siaga-signature")) else {
        return Err(bad_signature(
            "akun ini wajib menandatangani permintaan: X-Siaga-Timestamp dan X-Siaga-Signature",
            "this account must sign its requests: X-Siaga-Timestamp and X-Siaga-Signature",
        ));
    };
    let Ok(at) = ts.parse::<i64>() else {
        return Err(bad_signature(
            "X-Siaga-Timestamp harus detik unix",
            "X-Siaga-Timestamp must be unix seconds",
        ));
    };
    let off = now_s.saturating_sub(at).saturating_abs();
    if off > MAX_SKEW_S {
        return Err(bad_signature(
            &format!("X-Siaga-Timestamp selisih {off} detik dari jam server (maks {MAX_SKEW_S})"),
            &format!("X-Siaga-Timestamp is {off} s off the server's clock (at most {MAX_SKEW_S})"),
        ));
    }
    let given = sig
        .strip_prefix("v1=")
        .and_then(|h| hex::decode(h).ok())
        .unwrap_or_default();
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()) else {
        return Err(ApiError::unauthorized());
    };
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&given).map_err(|_| {
        bad_signature(
            "X-Siaga-Signature tidak cocok (v1=<hex hmac-sha256(webhook_secret, timestamp + \".\" + body)>)",
            "X-Siaga-Signature does not match (v1=<hex hmac-sha256(webhook_secret, timestamp + \".\" + body)>)",
        )
    })
}

/// The signature header value for `body` at `ts` (for clients, tests and docs).
pub fn sign(secret: &str, ts: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(ts.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(ts: &str, sig: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let (Ok(t), Ok(s)) = (ts.parse(), sig.parse()) {
            h.insert("x-siaga-timestamp", t);
            h.insert("x-siaga-signature", s);
        }
        h
    }

    #[test]
    fn a_signature_is_checked_against_body_secret_and_clock() {
        let (secret, body) = ("whsec_abc", br#"{"ref_id":"A"}"#.as_slice());
        let sig = sign(secret, 1_000_000, body);
        assert!(verify(&headers("1000000", &sig), secret, body, 1_000_000).is_ok());
        assert!(verify(&headers("1000000", &sig), secret, body, 1_000_300).is_ok());
        assert!(verify(&headers("1000000", &sig), secret, body, 1_000_301).is_err());
        assert!(verify(&headers("1000000", &sig), secret, b"{}", 1_000_000).is_err());
        assert!(verify(&headers("1000000", &sig), "whsec_other", body, 1_000_000).is_err());
        assert!(verify(&headers("1000001", &sig), secret, body, 1_000_000).is_err());
        assert!(verify(&headers("soon", &sig), secret, body, 1_000_000).is_err());
        assert!(verify(&HeaderMap::new(), secret, body, 1_000_000).is_err());
        let bare = sig.trim_start_matches("v1=");
        assert!(verify(&headers("1000000", bare), secret, body, 1_000_000).is_err());
    }

    #[test]
    fn the_allowlist_takes_addresses_and_ranges() {
        let list = vec!["203.0.113.7".to_owned(), "10.0.0.0/8".to_owned()];
        let ip = |s: &str| s.parse::<IpAddr>().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        assert!(allowed(&list, ip("203.0.113.7")));
        assert!(allowed(&list, ip("10.200.1.2")));
        assert!(allowed(&list, ip("::ffff:10.0.0.1")));
        assert!(!allowed(&list, ip("203.0.113.8")));
        assert!(!allowed(&list, ip("2001:db8::1")));
    }
}
