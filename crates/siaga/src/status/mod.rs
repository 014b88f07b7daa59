//! The public status page (SPEC 8): component statuses from live health, automatic
//! incidents, the Statuspage-compatible JSON and the HTML page.

pub mod api;
pub mod atom;
pub mod html;
pub mod text;
pub mod view;
pub mod worker;
