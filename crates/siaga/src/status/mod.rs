//! The public status page (SPEC 8): component statuses from live health, automatic
//! incidents, and their rendering as the HTML page, the Atom feed and the
//! Statuspage-compatible JSON. The HTTP handlers are in `http::status_page`.

pub mod atom;
pub mod html;
pub mod json;
pub mod text;
pub mod view;
pub mod worker;
