//! The dashboard's forms (SPEC 13): each checks the session's CSRF token (403 without it),
//! runs the same `ops` code as the admin API and the CLI, writes an audit line, and
//! answers with a redirect back to the page it changed (303), or the reason it refused.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use maud::html;
use serde::Deserialize;
use siaga_store::NewAudit;

use super::layout::{page, with_lang, Frame};
use super::Signed;
use crate::app::App;
use crate::ops::{self, OpError};

/// The page that says why an action was refused (with the status the admin API gives).
pub(super) fn refused(who: &Signed, e: &OpError) -> Response {
    let l = who.lang;
    let status = match e {
        OpError::Invalid(_) => StatusCode::BAD_REQUEST,
        OpError::NotFound(_) | OpError::UnknownReseller(_) => StatusCode::NOT_FOUND,
        OpError::Conflict(_) => StatusCode::CONFLICT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let f = Frame {
        lang: l,
        path: &who.path,
        title: l.pick("Tidak dilakukan", "Not done"),
        user: &who.session.user,
        role: who.session.role,
        csrf: &who.csrf,
        banners: Vec::new(),
    };
    let body = html! {
        p.error role="alert" { (e.to_string()) }
        p { a href=(with_lang("/admin", l)) { (l.pick("Kembali ke ringkasan", "Back to the overview")) } }
    };
    (status, Html(page(&f, body))).into_response()
}

pub(super) async fn audit(app: &App, who: &Signed, action: &str, target: &str, detail: String) {
    let line = NewAudit {
        at: app.now(),
        actor: who.session.user.clone(),
        action: action.into(),
        target: target.into(),
        detail,
    };
    if let Err(e) = app.store.add_audit(line).await {
        tracing::error!(error = %e, "cannot write an audit line");
    }
}

#[derive(Deserialize)]
pub struct DepositForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    note: String,
}

pub async fn deposit(
    State(app): State<Arc<App>>,
    who: Signed,
    Path(id): Path<String>,
    Form(f): Form<DepositForm>,
) -> Response {
    if let Some(r) = who.refuse_csrf(&f.csrf) {
        return r;
    }
    let Ok(amount) = f.amount.trim().parse::<i64>() else {
        return refused(
            &who,
            &OpError::Invalid("amount: must be a whole number of rupiah".into()),
        );
    };
    match ops::deposit(app.store.as_ref(), &id, amount, f.note.trim(), app.now()).await {
        Ok(_) => {
            let detail = serde_json::json!({"amount": amount, "note": f.note.trim()}).to_string();
            audit(&app, &who, "reseller.deposit", &id, detail).await;
            Redirect::to(&with_lang(&format!("/admin/resellers/{id}"), who.lang)).into_response()
        }
        Err(e) => refused(&who, &e),
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn take(
    State(app): State<Arc<App>>,
    who: Signed,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Some(r) = who.refuse_csrf(&f.csrf) {
        return r;
    }
    let settings = app.settings.get();
    match ops::desk::take(
        app.store.as_ref(),
        &settings,
        &id,
        &who.session.user,
        app.now(),
    )
    .await
    {
        Ok(_) => Redirect::to(&with_lang("/admin/desk", who.lang)).into_response(),
        Err(e) => refused(&who, &e),
    }
}

#[derive(Deserialize)]
pub struct ResolveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    serial_number: String,
}

pub async fn resolve(
    State(app): State<Arc<App>>,
    who: Signed,
    Path(id): Path<String>,
    Form(f): Form<ResolveForm>,
) -> Response {
    if let Some(r) = who.refuse_csrf(&f.csrf) {
        return r;
    }
    let how = match f.status.as_str() {
        "success" => ops::Resolution::Success {
            sn: f.serial_number.clone(),
        },
        "failed" => ops::Resolution::Failed,
        _ => {
            return refused(
                &who,
                &OpError::Invalid("status: must be success or failed".into()),
            )
        }
    };
    let settings = app.settings.get();
    let done = ops::resolve(
        app.store.as_ref(),
        &settings,
        &id,
        how,
        &who.session.user,
        app.now(),
    )
    .await;
    match done {
        Ok(_) => {
            app.engine.outbox_kick.notify_one();
            Redirect::to(&with_lang(&format!("/admin/orders/{id}"), who.lang)).into_response()
        }
        Err(e) => refused(&who, &e),
    }
}
