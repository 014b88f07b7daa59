//! `POST /admin/api/reload` (SPEC 6.1.3): re-reads the config file and puts its
//! suppliers, products, routes and routing in force without a restart. An invalid file is
//! refused (422, with the file:line error) and the running config stays.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::admin::Admin;
use super::error::ApiError;
use crate::app::{App, ReloadError};

pub async fn reload(State(app): State<Arc<App>>, _: Admin) -> Result<Response, ApiError> {
    match app.reload().await {
        Ok(changes) => Ok(Json(json!({"reloaded": true, "changes": changes})).into_response()),
        Err(ReloadError::Invalid(why)) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_config",
            format!("konfigurasi ditolak, yang berjalan tetap dipakai: {why}"),
            format!("the config was refused; the running one stays: {why}"),
        )),
        Err(e @ ReloadError::NoFile) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "no_config_file",
            "server ini tidak dijalankan dari berkas konfigurasi",
            e.to_string(),
        )),
    }
}
