//! The subscribers and vouchers pages (SPEC 9, 10, 13): who follows the status page (by
//! status, and the confirmed ones), and the compensation vouchers of the incidents of the
//! last 90 days, with the form that issues them through the admin API's code
//! (`vouchers::issue`), writing an audit line.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use maud::html;
use serde::Deserialize;

use super::actions::{audit, refused};
use super::layout::{page, rupiah, state, when, with_lang};
use super::pages::{failed, frame};
use super::Signed;
use crate::app::App;
use crate::ops::OpError;

const DAY_MS: i64 = 86_400_000;
/// Confirmed subscribers listed on the page.
const SHOWN: u32 = 200;
/// Incidents whose vouchers are listed.
const INCIDENTS: usize = 30;

pub async fn subscribers(State(app): State<Arc<App>>, who: Signed) -> Response {
    let l = who.lang;
    let now = app.now();
    let counts = app.store.subscriber_counts().await.unwrap_or_default();
    let list = match app.store.confirmed_subscribers("", SHOWN).await {
        Ok(v) => v,
        Err(e) => return failed(e),
    };
    let body = html! {
        div.cards {
            @for (status, n) in &counts { div.card { (status) b { (n) } } }
        }
        @if list.is_empty() {
            p.empty { (l.pick("Belum ada pelanggan terkonfirmasi. Pelanggan mendaftar sendiri di status page (/subscribe) dan mengonfirmasi lewat email.",
                              "No confirmed subscriber yet. People subscribe themselves on the status page (/subscribe) and confirm by email.")) }
        } @else {
            div.table { table {
                thead { tr { th { "Email" } th { (l.pick("Komponen", "Components")) } th { (l.pick("Terkonfirmasi", "Confirmed")) } } }
                tbody { @for s in &list {
                    tr {
                        td { (s.email) }
                        td { @if s.components.is_empty() { (l.pick("semua", "all")) } @else { (s.components.join(", ")) } }
                        td { @if let Some(t) = s.confirmed_at { (when(t, now, l)) } }
                    }
                } }
            } }
            @if list.len() == SHOWN as usize { p.muted { (l.pick("Hanya 200 pertama yang ditampilkan.", "Only the first 200 are shown.")) } }
        }
    };
    Html(page(
        &frame(&who, l.pick("Pelanggan status", "Subscribers"), Vec::new()),
        body,
    ))
    .into_response()
}

pub async fn vouchers(State(app): State<Arc<App>>, who: Signed) -> Response {
    let l = who.lang;
    let now = app.now();
    let incidents = match app.store.incidents(now - 90 * DAY_MS).await {
        Ok(v) => v,
        Err(e) => return failed(e),
    };
    let mut rows = Vec::new();
    for i in incidents.iter().take(INCIDENTS) {
        let vs = app.store.incident_vouchers(i.id).await.unwrap_or_default();
        rows.extend(vs.into_iter().map(|v| (i.id, v)));
    }
    let body = html! {
        h2 { (l.pick("Terbitkan voucher", "Issue vouchers")) }
        p.muted { (l.pick("Satu voucher untuk setiap reseller yang terdampak insiden; menerbitkan lagi untuk insiden yang sama tidak menerbitkan yang baru.",
                          "One voucher to every reseller the incident affected; issuing again for the same incident issues nothing new.")) }
        form.inline method="post" action=(with_lang("/admin/vouchers", l)) {
            input type="hidden" name="csrf" value=(who.csrf);
            label { (l.pick("Insiden", "Incident"))
                select name="incident" required { @for i in &incidents { option value=(i.id) { "#" (i.id) " " (l.pick(&i.title_id, &i.title_en)) } } }
            }
            label { (l.pick("Jumlah (rupiah)", "Amount (rupiah)")) input type="number" name="amount" min="1" step="1" required; }
            label { (l.pick("Berlaku (hari)", "Valid for (days)")) input type="number" name="expires_in_days" min="1" max="3650" value="30"; }
            button type="submit" { (l.pick("Terbitkan", "Issue")) }
        }
        @if rows.is_empty() {
            p.empty { (l.pick("Belum ada voucher. Terbitkan setelah insiden untuk mengganti kerugian reseller.",
                              "No voucher yet. Issue some after an incident to make it up to the resellers.")) }
        } @else {
            div.table { table {
                thead { tr { th { (l.pick("Kode", "Code")) } th { (l.pick("Insiden", "Incident")) } th { "Reseller" } th.num { (l.pick("Jumlah", "Amount")) } th { "Status" } th { (l.pick("Berlaku sampai", "Expires")) } } }
                tbody { @for (inc, v) in &rows {
                    tr {
                        td { code { (v.code) } } td { "#" (inc) } td { (v.reseller_id) } td.num { (rupiah(v.amount)) }
                        td { @if v.redeemed_at.is_some() { (state("ok", l.pick("dipakai", "redeemed"))) }
                             @else if v.expires_at <= now { (state("bad", l.pick("kedaluwarsa", "expired"))) }
                             @else { (state("mid", l.pick("belum dipakai", "not redeemed"))) } }
                        td { (when(v.expires_at, now, l)) }
                    }
                } }
            } }
        }
    };
    Html(page(
        &frame(&who, l.pick("Voucher", "Vouchers"), Vec::new()),
        body,
    ))
    .into_response()
}

#[derive(Deserialize)]
pub struct IssueForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    incident: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    expires_in_days: String,
}

pub async fn issue(State(app): State<Arc<App>>, who: Signed, Form(f): Form<IssueForm>) -> Response {
    if let Some(r) = who.refuse_csrf(&f.csrf) {
        return r;
    }
    let whole = |name: &str, v: &str| {
        v.trim()
            .parse::<i64>()
            .map_err(|_| OpError::Invalid(format!("{name}: must be a whole number")))
    };
    let days = if f.expires_in_days.trim().is_empty() {
        Ok(30)
    } else {
        whole("expires_in_days", &f.expires_in_days)
    };
    let parsed = whole("incident", &f.incident).and_then(|i| {
        let amount = whole("amount", &f.amount)?;
        let days = u32::try_from(days?)
            .map_err(|_| OpError::Invalid("expires_in_days: must be 1 to 3650".into()))?;
        Ok((i, amount, days))
    });
    let (incident, amount, days) = match parsed {
        Ok(p) => p,
        Err(e) => return refused(&who, &e),
    };
    let settings = app.settings.get();
    let store = app.store.as_ref();
    match crate::vouchers::issue(&settings, store, app.now(), incident, amount, days, 60).await {
        Ok(v) => {
            app.notify_kick.notify_one();
            audit(
                &app,
                &who,
                "voucher.issue",
                &incident.to_string(),
                v.to_string(),
            )
            .await;
            Redirect::to(&with_lang("/admin/vouchers", who.lang)).into_response()
        }
        Err(e) => refused(&who, &e),
    }
}
