//! Static assets of the status page: the favicon, an inline SVG (no file to ship, no
//! request elsewhere), cached for a long time.

use axum::http::header;
use axum::response::{IntoResponse, Response};

/// A green pulse line on a dark blue rounded square: readable at 16 px, and on light and
/// dark browser tabs alike.
pub const FAVICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#0b4f9c"/><path d="M4 17h6l3-7 5 13 3-6h7" fill="none" stroke="#7ee2a8" stroke-width="3" stroke-linecap="round" stroke-linejoin="round"/></svg>
"##;

/// `GET /favicon.svg`: a month in every cache; changing the icon means a new name in the
/// pages' `<link rel="icon">`.
pub async fn favicon() -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=2592000"),
        ],
        FAVICON,
    )
        .into_response()
}
