//! The owner's room (SPEC 13): the admin dashboard under `/admin`, server-rendered with
//! maud, working without JavaScript. Sign-in with the admin token sets a signed session
//! cookie ([`session`]); every page needs it (else 303 to `/admin/login`) and every form
//! carries its CSRF token (else 403). Pages read what the admin API reads; actions go
//! through the same `ops` code as the admin API and the CLI, and write an audit line.

pub mod accounts;
mod actions;
mod charts;
mod incidents;
mod keys;
pub mod layout;
mod pages;
pub mod reports;
pub mod session;
mod subscribers;
mod suppliers;

use std::sync::Arc;

use axum::extract::{FromRequestParts, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::html;
use serde::Deserialize;

use crate::app::App;
use layout::Lang;
use session::{Keys, Role, Session};

/// The dashboard's routes.
pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/admin", get(pages::overview))
        .route("/admin/login", get(login_form).post(login))
        .route("/admin/logout", post(logout))
        .route("/admin/suppliers", get(suppliers::suppliers))
        .route(
            "/admin/suppliers/{id}/maintenance",
            post(suppliers::maintenance),
        )
        .route(
            "/admin/suppliers/{id}/sync-prices",
            post(suppliers::sync_prices),
        )
        .route("/admin/suppliers/{id}/pause", post(suppliers::pause))
        .route("/admin/suppliers/{id}/resume", post(suppliers::resume))
        .route("/admin/orders", get(pages::orders))
        .route("/admin/orders/{order_id}", get(pages::order))
        .route("/admin/orders/{order_id}/resolve", post(actions::resolve))
        .route("/admin/desk", get(pages::desk))
        .route("/admin/desk/{order_id}/take", post(actions::take))
        .route("/admin/resellers", get(pages::resellers).post(keys::add))
        .route("/admin/resellers/{id}", get(pages::reseller))
        .route("/admin/resellers/{id}/deposits", post(actions::deposit))
        .route("/admin/resellers/{id}/statement", get(pages::statement))
        .route("/admin/resellers/{id}/keys", get(keys::keys_page))
        .route("/admin/resellers/{id}/rotate-keys", post(keys::rotate))
        .route("/admin/resellers/{id}/access", post(keys::access))
        .route(
            "/admin/incidents",
            get(incidents::incidents).post(incidents::open),
        )
        .route("/admin/incidents/{id}/updates", post(incidents::update))
        .route(
            "/admin/incidents/{id}/postmortem",
            post(incidents::postmortem),
        )
        .route("/admin/subscribers", get(subscribers::subscribers))
        .route(
            "/admin/vouchers",
            get(subscribers::vouchers).post(subscribers::issue),
        )
        .route("/admin/reports", get(reports::reports))
        .route("/admin/audit", get(pages::audit))
        .route("/admin/config", get(pages::config))
}

/// The session keys of this switch: none without an admin token (the dashboard is off).
fn keys(app: &App) -> Option<Keys> {
    app.settings
        .get()
        .admin_token
        .as_deref()
        .map(Keys::from_admin_token)
}

/// Whether the session cookie must be `Secure` (the public URL is https).
fn secure(app: &App) -> bool {
    app.settings.get().public_url.starts_with("https://")
}

/// A signed-in request: who, and the CSRF token of this session's forms.
pub struct Signed {
    pub session: Session,
    pub csrf: String,
    pub lang: Lang,
    pub path: String,
}

impl FromRequestParts<Arc<App>> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, Response> {
        let lang = Lang::of_query(parts.uri.query());
        let to_login = || {
            let next = parts.uri.path();
            Redirect::to(&format!("/admin/login?next={}", urlencode(next))).into_response()
        };
        let Some(k) = keys(app) else {
            return Err(to_login());
        };
        let Some(session) =
            session::cookie_value(&parts.headers).and_then(|v| k.open(v, app.now()))
        else {
            return Err(to_login());
        };
        // An account's session lasts only as long as the account, in the role it has now.
        if session.user != accounts::TOKEN_USER {
            let now_role = match app.store.operator_account(&session.user).await {
                Ok(a) => a.and_then(|a| accounts::role_of(&a.role)),
                Err(e) => {
                    tracing::error!(error = %e, "cannot read a dashboard account");
                    None
                }
            };
            if now_role != Some(session.role) {
                return Err(to_login());
            }
        }
        let csrf = k.csrf(&session);
        Ok(Signed {
            session,
            csrf,
            lang,
            path: parts.uri.path().to_owned(),
        })
    }
}

impl Signed {
    /// The refusal (403) of a form whose CSRF token is not this session's; `None` when it is.
    pub fn refuse_csrf(&self, given: &str) -> Option<Response> {
        (!crate::keys::constant_time_eq(&self.csrf, given))
            .then(|| (StatusCode::FORBIDDEN, Html(forbidden(self.lang))).into_response())
    }

    /// The refusal (403) of a page or action only the owner may see or do; `None` for the
    /// owner.
    pub fn refuse_unless_owner(&self) -> Option<Response> {
        (self.session.role != Role::Owner)
            .then(|| (StatusCode::FORBIDDEN, Html(forbidden(self.lang))).into_response())
    }
}

fn forbidden(l: Lang) -> String {
    html! {
        (maud::DOCTYPE)
        html lang=(l.pick("id", "en")) {
            head { meta charset="utf-8"; title { "403" } style { (maud::PreEscaped(layout::CSS)) } }
            body { main.login {
                h1 { (l.pick("Ditolak", "Refused")) }
                p { (l.pick("Formulir ini kedaluwarsa atau bukan dari sesi Anda, atau halaman ini khusus pemilik. Muat ulang halaman dan coba lagi.",
                            "This form is stale or not from your session, or this page is for the owner only. Reload the page and try again.")) }
                p { a href="/admin" { (l.pick("Kembali", "Back")) } }
            } }
        }
    }
    .into_string()
}

/// The client's address as the limits see it (behind a trusted proxy, the one forwarded).
struct ClientIp(Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let ext = &parts.extensions;
        let ip = ext
            .get::<crate::net::ClientAddr>()
            .map(|c| c.0)
            .or_else(|| {
                ext.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                    .map(|c| c.0.ip())
            });
        Ok(ClientIp(ip))
    }
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Only a path inside the dashboard may be the place to go after sign-in.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with("/admin") && !n.starts_with("//") && !n.contains("://") => n,
        _ => "/admin",
    }
}

fn query_value(q: Option<&str>, key: &str) -> Option<String> {
    form_urlencoded::parse(q.unwrap_or("").as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

async fn login_form(RawQuery(q): RawQuery) -> Response {
    let lang = Lang::of_query(q.as_deref());
    let next = query_value(q.as_deref(), "next");
    Html(login_page(lang, safe_next(next.as_deref()), None)).into_response()
}

fn login_page(l: Lang, next: &str, error: Option<&str>) -> String {
    html! {
        (maud::DOCTYPE)
        html lang=(l.pick("id", "en")) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (l.pick("Masuk", "Sign in")) " · siaga admin" }
                style { (maud::PreEscaped(layout::CSS)) }
            }
            body { main.login {
                h1 { (l.pick("Masuk ke siaga", "Sign in to siaga")) }
                @if let Some(e) = error { p.error role="alert" { (e) } }
                form method="post" action=(layout::with_lang("/admin/login", l)) {
                    input type="hidden" name="next" value=(next);
                    label { (l.pick("Nama pengguna", "Username"))
                        input type="text" name="username" autocomplete="username" autocapitalize="none" required;
                    }
                    label { (l.pick("Kata sandi", "Password"))
                        input type="password" name="password" autocomplete="current-password" required;
                    }
                    button type="submit" { (l.pick("Masuk", "Sign in")) }
                }
                h2 { (l.pick("Atau dengan token admin", "Or with the admin token")) }
                form method="post" action=(layout::with_lang("/admin/login", l)) {
                    input type="hidden" name="next" value=(next);
                    label { (l.pick("Token admin", "Admin token"))
                        input type="password" name="token" autocomplete="off" required;
                    }
                    button type="submit" { (l.pick("Masuk dengan token", "Sign in with the token")) }
                }
            } }
        }
    }
    .into_string()
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: Option<String>,
}

/// Who the form signs in, if its token or its name and password are right.
async fn who_signs_in(app: &App, f: LoginForm) -> Option<(String, Role)> {
    let name = f.username.trim().to_owned();
    if name.is_empty() {
        let settings = app.settings.get();
        let good = settings.admin_token.as_deref().is_some_and(|t| {
            crate::keys::constant_time_eq(
                &crate::keys::hash_key(&f.token),
                &crate::keys::hash_key(t),
            )
        });
        return good.then(|| (accounts::TOKEN_USER.to_owned(), Role::Owner));
    }
    let account = match app.store.operator_account(&name).await {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "cannot read a dashboard account");
            None
        }
    };
    let stored = account.as_ref().map(|a| a.password_hash.clone());
    let pw = f.password;
    let good = tokio::task::spawn_blocking(move || accounts::verify(stored.as_deref(), &pw))
        .await
        .unwrap_or(false);
    let role = account.and_then(|a| accounts::role_of(&a.role))?;
    good.then_some((name, role))
}

async fn login(
    State(app): State<Arc<App>>,
    RawQuery(q): RawQuery,
    ClientIp(client): ClientIp,
    Form(f): Form<LoginForm>,
) -> Response {
    let lang = Lang::of_query(q.as_deref());
    let next = safe_next(f.next.as_deref()).to_owned();
    if !app.limits.signin_allowed(client) {
        let page = login_page(
            lang,
            &next,
            Some(lang.pick(
                "Terlalu banyak percobaan masuk. Tunggu sebentar lalu coba lagi.",
                "Too many sign-in attempts. Wait a little and try again.",
            )),
        );
        return (StatusCode::TOO_MANY_REQUESTS, Html(page)).into_response();
    }
    let signed = match keys(&app) {
        Some(k) => who_signs_in(&app, f).await.map(|w| (k, w)),
        None => None,
    };
    let Some((k, (user, role))) = signed else {
        let page = login_page(
            lang,
            &next,
            Some(lang.pick(
                "Token, nama atau kata sandi salah.",
                "Wrong token, name or password.",
            )),
        );
        return (StatusCode::UNAUTHORIZED, Html(page)).into_response();
    };
    let s = Session {
        user,
        role,
        expires_at: app.now() + session::LIFETIME_MS,
        nonce: ulid::Ulid::new().to_string(),
    };
    let cookie = session::set_cookie(&k.seal(&s), secure(&app));
    let mut resp = Redirect::to(&next).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

async fn logout(State(app): State<Arc<App>>, who: Signed, Form(f): Form<CsrfOnly>) -> Response {
    if let Some(r) = who.refuse_csrf(&f.csrf) {
        return r;
    }
    let mut resp = Redirect::to("/admin/login").into_response();
    if let Ok(v) = HeaderValue::from_str(&session::clear_cookie(secure(&app))) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}
