//! The suppliers page (SPEC 13): each supplier's breaker, success, latency, balance and
//! maintenance windows, its breaker transitions with their evidence, and its actions:
//! pause/resume, announce maintenance and sync prices, through the admin API's code paths (`ops`,
//! `engine::upkeep`), each writing an audit line.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value;

use super::actions::{audit, refused};
use super::layout::{page, state, with_lang, Lang};
use super::pages::{banners, frame, supplier_table};
use super::Signed;
use crate::app::App;
use crate::ops::{self, OpError};

pub async fn suppliers(State(app): State<Arc<App>>, who: Signed) -> Response {
    let l = who.lang;
    let suppliers = app.health.suppliers_json().await;
    let banners = banners(&app, l, &suppliers).await;
    let body = html! {
        (supplier_table(l, &suppliers))
        @for s in suppliers.as_array().into_iter().flatten() {
            (one_supplier(&who, s))
        }
    };
    Html(page(
        &frame(&who, l.pick("Supplier", "Suppliers"), banners),
        body,
    ))
    .into_response()
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "–".into(),
        other => other.to_string(),
    }
}

fn one_supplier(who: &Signed, s: &Value) -> Markup {
    let l = who.lang;
    let id = s["id"].as_str().unwrap_or("");
    let windows = s["maintenance"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let transitions = s["transitions"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    html! {
        section.supplier aria-labelledby=(format!("sup-{id}")) {
            h2 id=(format!("sup-{id}")) { (id) " · " (s["dialect"].as_str().unwrap_or("")) }
            h3 { (l.pick("Jendela pemeliharaan", "Maintenance windows")) }
            @if windows.is_empty() {
                p.empty { (l.pick("Tidak ada. Umumkan satu di bawah bila supplier memberi tahu jadwalnya.", "None. Announce one below when the supplier tells you its schedule.")) }
            } @else {
                ul { @for w in windows {
                    li { (text(&w["starts_at"])) " → " (text(&w["ends_at"])) " · " (text(&w["source"]))
                        @if w["active"] == true { " " (state("mid", l.pick("berlangsung", "in progress"))) }
                        @if let Some(n) = w["note"].as_str() { " · " (n) } }
                } }
            }
            h3 { (l.pick("Perubahan keadaan dan buktinya", "State changes and their evidence")) }
            @if transitions.is_empty() {
                p.empty { (l.pick("Belum pernah berubah keadaan.", "No state change yet.")) }
            } @else {
                ul { @for t in transitions.iter().take(5) {
                    li { (text(&t["at"])) " · " (text(&t["from"])) " → " strong { (text(&t["to"])) }
                        br; code.muted { (t["evidence"].to_string()) } }
                } }
            }
            @if s["retired"] != true {
                (pause_form(who, id, &s["paused"]))
                form.inline method="post" action=(with_lang(&format!("/admin/suppliers/{id}/maintenance"), l)) {
                    input type="hidden" name="csrf" value=(who.csrf);
                    label { (l.pick("Mulai (WIB)", "Starts (WIB)")) input type="datetime-local" name="starts_at" required; }
                    label { (l.pick("Selesai (WIB)", "Ends (WIB)")) input type="datetime-local" name="ends_at" required; }
                    label { (l.pick("Catatan", "Note")) input type="text" name="note" maxlength="500"; }
                    button type="submit" { (l.pick("Umumkan pemeliharaan", "Announce maintenance")) }
                }
                form.inline method="post" action=(with_lang(&format!("/admin/suppliers/{id}/sync-prices"), l)) {
                    input type="hidden" name="csrf" value=(who.csrf);
                    button type="submit" { (l.pick("Sinkronkan harga sekarang", "Sync prices now")) }
                }
            }
        }
    }
}

/// Whether the supplier is paused (who, when, why) and the button that changes it.
fn pause_form(who: &Signed, id: &str, paused: &Value) -> Markup {
    let l = who.lang;
    html! {
        @if paused.is_object() {
            p { (state("bad", l.pick("dijeda", "paused"))) " "
                (l.pick("oleh", "by")) " " (text(&paused["by"])) " · " (text(&paused["at"]))
                @if let Some(r) = paused["reason"].as_str().filter(|r| !r.is_empty()) { " · " (r) }
                " — " (l.pick("pesanan baru ke rute berikutnya.", "new orders go to the next route.")) }
            form.inline method="post" action=(with_lang(&format!("/admin/suppliers/{id}/resume"), l)) {
                input type="hidden" name="csrf" value=(who.csrf);
                button type="submit" { (l.pick("Lanjutkan supplier", "Resume supplier")) }
            }
        } @else {
            form.inline method="post" action=(with_lang(&format!("/admin/suppliers/{id}/pause"), l)) {
                input type="hidden" name="csrf" value=(who.csrf);
                label { (l.pick("Alasan", "Reason")) input type="text" name="reason" maxlength="500"; }
                button type="submit" { (l.pick("Jeda supplier", "Pause supplier")) }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct PauseForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

/// Pauses a supplier (`ops::pause`, which writes the audit line as this operator).
pub async fn pause(
    State(app): State<Arc<App>>,
    who: Signed,
    Path(id): Path<String>,
    Form(f): Form<PauseForm>,
) -> Response {
    if let Some(r) = who.refuse_csrf(&f.csrf) {
        return r;
    }
    let settings = app.settings.get();
    let by = who.session.user.clone();
    match ops::pause::pause(
        app.store.as_ref(),
        &settings,
        &id,
        &by,
        &f.reason,
        app.now(),
    )
    .await
    {
        Ok(_) => {
            crate::engine::upkeep::reload_windows(&app.engine).await;
            back(who.lang)
        }
        Err(e) => refused(&who, &e),
    }
}

/// Puts a paused supplier back into routing.
pub async fn resume(
    State(app): State<Arc<App>>,
    who: Signed,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Some(r) = who.refuse_csrf(&f.csrf) {
        return r;
    }
    let settings = app.settings.get();
    let by = who.session.user.clone();
    match ops::pause::resume(app.store.as_ref(), &settings, &id, &by, app.now()).await {
        Ok(_) => {
            crate::engine::upkeep::reload_windows(&app.engine).await;
            back(who.lang)
        }
        Err(e) => refused(&who, &e),
    }
}

/// A time from a `datetime-local` field (read as WIB) or an RFC 3339 time as given.
fn time_field(v: &str) -> String {
    let v = v.trim();
    let bare = v.len() == 16 && v.as_bytes().get(10) == Some(&b'T');
    if bare {
        format!("{v}:00+07:00")
    } else {
        v.to_owned()
    }
}

#[derive(Deserialize)]
pub struct MaintenanceForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    starts_at: String,
    #[serde(default)]
    ends_at: String,
    #[serde(default)]
    note: String,
}

pub async fn maintenance(
    State(app): State<Arc<App>>,
    who: Signed,
    Path(id): Path<String>,
    Form(f): Form<MaintenanceForm>,
) -> Response {
    if let Some(r) = who.refuse_csrf(&f.csrf) {
        return r;
    }
    let done = ops::add_maintenance(
        app.store.as_ref(),
        &app.settings.get(),
        &id,
        &time_field(&f.starts_at),
        &time_field(&f.ends_at),
        Some(f.note.as_str()),
        "dashboard",
        app.now(),
    )
    .await;
    match done {
        Ok(v) => {
            crate::engine::upkeep::reload_windows(&app.engine).await;
            audit(&app, &who, "supplier.maintenance", &id, v.to_string()).await;
            back(who.lang)
        }
        Err(e) => refused(&who, &e),
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn sync_prices(
    State(app): State<Arc<App>>,
    who: Signed,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    use crate::engine::upkeep::{sync_prices, SyncError};
    if let Some(r) = who.refuse_csrf(&f.csrf) {
        return r;
    }
    let e = match sync_prices(&app.engine, &id).await {
        Ok(v) => {
            audit(&app, &who, "supplier.sync_prices", &id, v.to_string()).await;
            return back(who.lang);
        }
        Err(SyncError::UnknownSupplier(_)) => OpError::NotFound("supplier".into()),
        Err(e @ (SyncError::TooSoon(..) | SyncError::NotApplicable(_))) => {
            OpError::Conflict(e.to_string())
        }
        Err(SyncError::Supplier(m)) => OpError::Conflict(format!("the supplier answered: {m}")),
        Err(SyncError::Store(e)) => OpError::Store(e),
    };
    refused(&who, &e)
}

fn back(l: Lang) -> Response {
    Redirect::to(&with_lang("/admin/suppliers", l)).into_response()
}

#[cfg(test)]
mod tests {
    use super::time_field;

    #[test]
    fn a_browser_time_is_read_as_wib() {
        assert_eq!(time_field("2026-11-23T01:00"), "2026-11-23T01:00:00+07:00");
        assert_eq!(time_field("2026-11-23T01:00:00Z"), "2026-11-23T01:00:00Z");
    }
}
