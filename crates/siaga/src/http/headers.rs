//! Hardening headers on every answer: `nosniff` everywhere; on HTML a Content-Security-Policy
//! that allows no script, no frames around the page and only siaga's own inline style
//! sheets (by hash); `Cache-Control: no-store` on the reseller and admin APIs, whose answers
//! carry balances, keys and secrets.

use std::sync::LazyLock;

use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// The policy for HTML pages: nothing from elsewhere, no script at all, style only from the
/// sheets siaga writes inline, forms post back to siaga, no framing.
static CSP: LazyLock<HeaderValue> = LazyLock::new(|| {
    let hashes: Vec<String> = [
        crate::status::html::CSS,
        crate::notify::subscribe::CSS,
        super::dashboard::layout::CSS,
    ]
    .iter()
    .map(|css| {
        let digest = Sha256::digest(css.as_bytes());
        format!(
            "'sha256-{}'",
            base64::engine::general_purpose::STANDARD.encode(digest)
        )
    })
    .collect();
    let policy = format!(
        "default-src 'self'; script-src 'none'; style-src {}; img-src 'self' data:; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        hashes.join(" ")
    );
    HeaderValue::from_str(&policy).unwrap_or(HeaderValue::from_static("default-src 'none'"))
});

/// True for the paths whose answers must never be stored by a cache.
fn private(path: &str) -> bool {
    path == "/v1" || path.starts_with("/v1/") || path.starts_with("/admin")
}

/// Middleware: sets the headers on the way out.
pub async fn harden(req: Request, next: Next) -> Response {
    let private = private(req.uri().path());
    let mut resp = next.run(req).await;
    set(resp.headers_mut(), private);
    resp
}

fn set(h: &mut HeaderMap, private: bool) {
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    let html = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/html"));
    if html {
        h.insert(header::CONTENT_SECURITY_POLICY, CSP.clone());
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        );
    }
    if private {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_gets_a_policy_and_the_apis_are_not_cached() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        set(&mut h, false);
        let csp = h[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap_or_default();
        assert!(
            csp.starts_with("default-src 'self'; script-src 'none'; style-src 'sha256-"),
            "{csp}"
        );
        assert!(csp.ends_with("frame-ancestors 'none'"), "{csp}");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert!(
            h.get(header::CACHE_CONTROL).is_none(),
            "the status page may be cached"
        );

        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        set(&mut h, true);
        assert!(h.get(header::CONTENT_SECURITY_POLICY).is_none());
        assert_eq!(h[header::CACHE_CONTROL], "no-store");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        for (path, want) in [
            ("/v1/orders", true),
            ("/v1", true),
            ("/admin/api/resellers", true),
            ("/admin", true),
            ("/v10", false),
            ("/api/v2/summary.json", false),
            ("/", false),
        ] {
            assert_eq!(private(path), want, "{path}");
        }
    }
}
