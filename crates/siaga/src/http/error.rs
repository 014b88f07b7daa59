//! The one error envelope of the HTTP edge: `{"error":{"code","message"}}`, Indonesian by
//! default and English with `Accept-Language: en`. A 500's body is generic; the detail is
//! logged once here.

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub id: String,
    pub en: String,
    pub retry_after: Option<u64>,
}

/// Carried on error responses so the language middleware can switch the message.
#[derive(Clone)]
struct English {
    code: &'static str,
    message: String,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: &'static str,
        id: impl Into<String>,
        en: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            code,
            id: id.into(),
            en: en.into(),
            retry_after: None,
        }
    }

    pub fn missing(field: &str) -> ApiError {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("kolom `{field}` wajib diisi"),
            format!("field `{field}` is required"),
        )
    }

    pub fn invalid(field: &str, why_en: &str) -> ApiError {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("kolom `{field}` tidak valid: {why_en}"),
            format!("field `{field}` is invalid: {why_en}"),
        )
    }

    pub fn bad_json(why: &str) -> ApiError {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("isi permintaan bukan JSON yang valid: {why}"),
            format!("request body is not valid JSON: {why}"),
        )
    }

    pub fn unauthorized() -> ApiError {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "kunci API tidak valid atau tidak ada",
            "missing or invalid API key",
        )
    }

    pub fn not_found(what: &str) -> ApiError {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} tidak ditemukan"),
            format!("{what} not found"),
        )
    }

    pub fn too_large(limit: usize) -> ApiError {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("isi permintaan melebihi {limit} byte"),
            format!("request body exceeds {limit} bytes"),
        )
    }

    pub fn internal(detail: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "terjadi kesalahan di server; silakan coba lagi",
            "internal error; please try again",
        )
    }
}

impl ApiError {
    /// `503 store_unavailable` with `Retry-After`: the database cannot be reached now.
    pub fn store_unavailable(detail: impl std::fmt::Display) -> ApiError {
        tracing::warn!(error = %detail, "database unavailable; answered 503");
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "basis data sedang tidak dapat dijangkau; coba lagi sebentar lagi",
            "the database cannot be reached right now; try again shortly",
        );
        e.retry_after = Some(siaga_store::UNAVAILABLE_RETRY_AFTER.as_secs().max(1));
        e
    }
}

impl From<siaga_store::StoreError> for ApiError {
    /// Database trouble (unreachable, restarting, failing over: see
    /// [`siaga_store::StoreError::is_unavailable`]) is `503 store_unavailable` with
    /// `Retry-After`: the request may be sent again as it is (an order by its `ref_id`).
    /// Anything else from the store is a 500.
    fn from(e: siaga_store::StoreError) -> ApiError {
        if e.is_unavailable() {
            ApiError::store_unavailable(e)
        } else {
            ApiError::internal(e)
        }
    }
}

fn body(code: &str, message: &str) -> String {
    json!({"error": {"code": code, "message": message}}).to_string()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            body(self.code, &self.id),
        )
            .into_response();
        if let Some(s) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        resp.extensions_mut().insert(English {
            code: self.code,
            message: self.en,
        });
        resp
    }
}

/// The envelope for an error that axum or hyper answered without one (a path that does not
/// parse, a wrong method, a body over the cap read by a plain extractor...).
fn for_status(status: StatusCode) -> ApiError {
    let (code, id, en) = match status.as_u16() {
        400 => ("bad_request", "permintaan tidak valid", "malformed request"),
        401 => ("unauthorized", "tidak berwenang", "unauthorized"),
        404 => ("not_found", "halaman tidak ditemukan", "not found"),
        405 => (
            "method_not_allowed",
            "metode tidak diizinkan untuk alamat ini",
            "method not allowed for this path",
        ),
        408 => ("timeout", "permintaan terlalu lama", "request timed out"),
        413 => (
            "payload_too_large",
            "isi permintaan terlalu besar",
            "request body is too large",
        ),
        415 => (
            "unsupported_media_type",
            "jenis isi permintaan tidak didukung",
            "unsupported media type",
        ),
        422 => (
            "unprocessable",
            "isi permintaan tidak dapat diproses",
            "unprocessable request",
        ),
        429 => (
            "rate_limited",
            "terlalu banyak permintaan",
            "too many requests",
        ),
        503 => (
            "overloaded",
            "server sedang penuh; coba lagi",
            "the server is at capacity; try again",
        ),
        s if s >= 500 => (
            "internal",
            "terjadi kesalahan di server; silakan coba lagi",
            "internal error; please try again",
        ),
        _ => ("bad_request", "permintaan tidak valid", "invalid request"),
    };
    ApiError::new(status, code, id, en)
}

/// Middleware: every 4xx/5xx answer is the JSON envelope. Answers already in it, and the
/// status page's own HTML, pass untouched; plain-text or empty error bodies are replaced.
/// Bodies over the cap are counted in `siaga_http_rejected_total{reason="too_large"}`.
pub async fn envelope(
    axum::extract::State(app): axum::extract::State<std::sync::Arc<crate::app::App>>,
    req: Request,
    next: Next,
) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        app.metrics.rejected("too_large");
    }
    if !(status.is_client_error() || status.is_server_error())
        || resp.extensions().get::<English>().is_some()
    {
        return resp;
    }
    let plain = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|t| t.starts_with("text/plain"));
    if !plain {
        return resp;
    }
    let retry_after = resp.headers().get(header::RETRY_AFTER).cloned();
    let mut out = for_status(status).into_response();
    if let Some(v) = retry_after {
        out.headers_mut().insert(header::RETRY_AFTER, v);
    }
    out
}

/// True when the caller prefers English.
pub fn wants_english(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|first| first.trim().to_ascii_lowercase().starts_with("en"))
        .unwrap_or(false)
}

/// Middleware: swaps error messages to English when asked.
pub async fn language(req: Request, next: Next) -> Response {
    let en = wants_english(req.headers());
    let mut resp = next.run(req).await;
    if en {
        if let Some(e) = resp.extensions_mut().remove::<English>() {
            let (mut parts, _) = resp.into_parts();
            parts.headers.remove(header::CONTENT_LENGTH);
            resp = Response::from_parts(parts, axum::body::Body::from(body(e.code, &e.message)));
        }
    }
    resp
}
