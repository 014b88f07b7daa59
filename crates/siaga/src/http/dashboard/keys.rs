//! The owner's reseller forms (SPEC 13): add a reseller, rotate its keys, set its access
//! rules; owner only (an operator gets the 403 page). New credentials are shown once, on
//! the answer to the form itself (never stored in the clear, never on a later page). Each
//! goes through the admin API's `ops` code and writes an audit line.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;

use super::actions::{audit, refused};
use super::layout::{page, with_lang, Lang};
use super::pages::{failed, frame};
use super::Signed;
use crate::app::App;
use crate::ops::{self, Credentials, OpError};

/// The add-a-reseller form (on the resellers page, for the owner).
pub fn add_form(who: &Signed) -> Markup {
    let l = who.lang;
    html! {
        h2 { (l.pick("Tambah reseller", "Add a reseller")) }
        form.inline method="post" action=(with_lang("/admin/resellers", l)) {
            input type="hidden" name="csrf" value=(who.csrf);
            label { (l.pick("Nama", "Name")) input type="text" name="name" required maxlength="200"; }
            label { "Email" input type="email" name="email" maxlength="200"; }
            label { (l.pick("URL callback", "Callback URL")) input type="url" name="callback_url" maxlength="500"; }
            label { (l.pick("Format callback", "Callback format"))
                select name="callback_format" { option value="standard" { "standard" } option value="digiflazz" { "digiflazz" } }
            }
            button type="submit" { (l.pick("Tambah", "Add")) }
        }
    }
}

/// New credentials, shown once, with a page that is not cached.
fn shown_once(who: &Signed, title: &str, c: &Credentials) -> Response {
    let l = who.lang;
    let body = html! {
        p role="status" { (l.pick("Simpan sekarang: kunci ini hanya ditampilkan sekali dan tidak bisa dilihat lagi.",
                                  "Save these now: they are shown once and cannot be seen again.")) }
        dl.creds {
            dt { "ID" } dd { code { (c.id) } }
            dt { "API key" } dd { code #api-key { (c.api_key) } }
            dt { "Webhook secret" } dd { code { (c.webhook_secret) } }
            dt { "Digiflazz key" } dd { code { (c.digiflazz_key) } }
        }
        p { a href=(with_lang(&format!("/admin/resellers/{}", c.id), l)) { (l.pick("Ke halaman reseller", "To the reseller's page")) } }
    };
    let mut r = Html(page(&frame(who, title, Vec::new()), body)).into_response();
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    r
}

#[derive(Deserialize)]
pub struct AddForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    callback_url: String,
    #[serde(default)]
    callback_format: String,
}

fn given(s: &str) -> Option<&str> {
    Some(s.trim()).filter(|s| !s.is_empty())
}

pub async fn add(State(app): State<Arc<App>>, who: Signed, Form(f): Form<AddForm>) -> Response {
    if let Some(r) = who
        .refuse_csrf(&f.csrf)
        .or_else(|| who.refuse_unless_owner())
    {
        return r;
    }
    let format = match ops::callback_format(given(&f.callback_format)) {
        Ok(c) => c,
        Err(e) => return refused(&who, &e),
    };
    let done = ops::add_reseller(
        app.store.as_ref(),
        &f.name,
        given(&f.email),
        given(&f.callback_url),
        format,
        app.now(),
    )
    .await;
    match done {
        Ok(c) => {
            let detail = serde_json::json!({"name": f.name.trim()}).to_string();
            audit(&app, &who, "reseller.add", &c.id, detail).await;
            let l = who.lang;
            shown_once(&who, l.pick("Reseller ditambahkan", "Reseller added"), &c)
        }
        Err(e) => refused(&who, &e),
    }
}

/// `/admin/resellers/{id}/keys`: rotate the keys, the access rules.
pub async fn keys_page(
    State(app): State<Arc<App>>,
    who: Signed,
    Path(id): Path<String>,
) -> Response {
    if let Some(r) = who.refuse_unless_owner() {
        return r;
    }
    let l = who.lang;
    let r = match app.store.reseller(&id).await {
        Ok(Some(r)) => r,
        Ok(None) => return refused(&who, &OpError::UnknownReseller(id)),
        Err(e) => return failed(e),
    };
    let body = html! {
        h2 { (l.pick("Ganti kunci", "Rotate keys")) }
        p { (l.pick("API key, webhook secret dan kunci Digiflazz baru; yang lama berhenti bekerja saat itu juga.",
                    "A new API key, webhook secret and Digiflazz key; the old ones stop working at once.")) }
        form.inline method="post" action=(with_lang(&format!("/admin/resellers/{}/rotate-keys", r.id), l)) {
            input type="hidden" name="csrf" value=(who.csrf);
            button type="submit" { (l.pick("Ganti kunci sekarang", "Rotate keys now")) }
        }
        h2 { (l.pick("Aturan akses", "Access rules")) }
        form method="post" action=(with_lang(&format!("/admin/resellers/{}/access", r.id), l)) {
            input type="hidden" name="csrf" value=(who.csrf);
            label { (l.pick("Alamat yang diizinkan (satu per baris; kosong: semua)", "Allowed addresses (one a line; empty: any)"))
                textarea name="ip_allowlist" rows="4" cols="40" { (r.ip_allowlist.join("\n")) }
            }
            label.check { input type="checkbox" name="require_signature" value="true" checked[r.require_signature];
                (l.pick("Setiap permintaan wajib ditandatangani", "Every request must be signed")) }
            button type="submit" { (l.pick("Simpan aturan", "Save the rules")) }
        }
    };
    let title = format!("{} · {}", r.name, l.pick("kunci", "keys"));
    Html(page(&frame(&who, &title, Vec::new()), body)).into_response()
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn rotate(
    State(app): State<Arc<App>>,
    who: Signed,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Some(r) = who
        .refuse_csrf(&f.csrf)
        .or_else(|| who.refuse_unless_owner())
    {
        return r;
    }
    let rotated = ops::rotate_keys(app.store.as_ref(), &id, app.now()).await;
    app.keys_changed();
    match rotated {
        Ok(c) => {
            audit(&app, &who, "reseller.rotate_keys", &id, String::new()).await;
            let l = who.lang;
            shown_once(&who, l.pick("Kunci baru", "New keys"), &c)
        }
        Err(e) => refused(&who, &e),
    }
}

#[derive(Deserialize)]
pub struct AccessForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    ip_allowlist: String,
    #[serde(default)]
    require_signature: Option<String>,
}

pub async fn access(
    State(app): State<Arc<App>>,
    who: Signed,
    Path(id): Path<String>,
    Form(f): Form<AccessForm>,
) -> Response {
    if let Some(r) = who
        .refuse_csrf(&f.csrf)
        .or_else(|| who.refuse_unless_owner())
    {
        return r;
    }
    let list: Vec<String> = f
        .ip_allowlist
        .split(['\n', ','])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let require = match f.require_signature.as_deref() {
        None => false,
        Some("true" | "on") => true,
        Some(_) => {
            let e = OpError::Invalid("require_signature: must be true or absent".into());
            return refused(&who, &e);
        }
    };
    let set = ops::set_access(app.store.as_ref(), &id, &list, require, app.now()).await;
    app.keys_changed();
    match set {
        Ok(v) => {
            audit(&app, &who, "reseller.access", &id, v.to_string()).await;
            back(&id, who.lang)
        }
        Err(e) => refused(&who, &e),
    }
}

fn back(id: &str, l: Lang) -> Response {
    Redirect::to(&with_lang(&format!("/admin/resellers/{id}/keys"), l)).into_response()
}
