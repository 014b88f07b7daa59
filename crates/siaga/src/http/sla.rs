//! The owner's reports on the admin API (SPEC 11): `GET /admin/api/reports/sla`
//! (`?month=YYYY-MM` or `?from=&to=`, `&format=json|md|csv`), `GET
//! /admin/api/reports/scorecard` (same window; json or md) and `GET
//! /admin/api/reports/outages/{id}` (an outage's evidence pack). A bad parameter is a 400
//! naming it.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::admin::Admin;
use super::error::ApiError;
use crate::app::App;
use crate::report::{self, render, Span};

/// The query of a report: its window and format.
struct Ask {
    window: Span,
    format: String,
}

fn ask(app: &App, query: Option<&str>, formats: &[&str]) -> Result<Ask, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or(""))
        .map_err(|_| ApiError::invalid("query", "is not a valid query string"))?;
    let (mut month, mut from, mut to, mut format) = (None, None, None, None);
    for (k, v) in pairs {
        let slot = match k.as_str() {
            "month" => &mut month,
            "from" => &mut from,
            "to" => &mut to,
            "format" => &mut format,
            _ => {
                return Err(ApiError::invalid(
                    &k,
                    "unknown parameter (month, from, to, format)",
                ))
            }
        };
        if slot.replace(v).is_some() {
            return Err(ApiError::invalid(&k, "given twice"));
        }
    }
    let settings = app.settings.get();
    let window = report::window(
        month.as_deref(),
        from.as_deref(),
        to.as_deref(),
        &settings.reports.time_zone,
    )
    .map_err(|m| {
        let field = if month.is_some() && from.is_none() && to.is_none() {
            "month"
        } else if month.is_none() && from.is_some() && to.is_some() {
            if m.starts_with("to") {
                "to"
            } else {
                "from"
            }
        } else {
            "month"
        };
        ApiError::invalid(field, &m)
    })?;
    let format = format.unwrap_or_else(|| "json".into());
    if !formats.contains(&format.as_str()) {
        return Err(ApiError::invalid(
            "format",
            &format!("must be one of {}", formats.join(", ")),
        ));
    }
    Ok(Ask { window, format })
}

fn text(content_type: &'static str, body: String) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

pub async fn sla(
    State(app): State<Arc<App>>,
    _: Admin,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let a = ask(&app, q.as_deref(), &["json", "md", "csv"])?;
    let settings = app.settings.get();
    let r =
        report::sla_from_store(app.store.as_ref(), &settings, a.window, app.clock.now_ms()).await?;
    Ok(match a.format.as_str() {
        "md" => text("text/markdown; charset=utf-8", render::sla_markdown(&r)),
        "csv" => text(
            "text/csv; charset=utf-8",
            render::sla_csv(&r).map_err(ApiError::internal)?,
        ),
        _ => Json(render::sla_json(&r)).into_response(),
    })
}

pub async fn scorecard(
    State(app): State<Arc<App>>,
    _: Admin,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let a = ask(&app, q.as_deref(), &["json", "md"])?;
    let settings = app.settings.get();
    let now = app.clock.now_ms();
    let c = report::scorecard_from_store(app.store.as_ref(), &settings, a.window, now).await?;
    Ok(match a.format.as_str() {
        "md" => text(
            "text/markdown; charset=utf-8",
            render::scorecard_markdown(&c),
        ),
        _ => Json(render::scorecard_json(&c)).into_response(),
    })
}

pub async fn outage(
    State(app): State<Arc<App>>,
    _: Admin,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::invalid("id", "must be an outage id (a number)"))?;
    let md = match q.as_deref() {
        None | Some("") | Some("format=json") => false,
        Some("format=md") => true,
        Some(_) => return Err(ApiError::invalid("format", "must be json or md")),
    };
    let (_, plan) = report::terms_of(&app.settings.get());
    let e = report::outage::load(app.store.as_ref(), &plan, id, app.clock.now_ms())
        .await?
        .ok_or_else(|| ApiError::not_found("outage"))?;
    Ok(if md {
        text(
            "text/markdown; charset=utf-8",
            render::evidence_markdown(&e),
        )
    } else {
        Json(render::evidence_json(&e)).into_response()
    })
}
