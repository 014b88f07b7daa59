//! The public subscription endpoints (SPEC 9): `POST /subscribe` (HTML form or JSON) with
//! double opt-in, `GET /subscribe/confirm/{token}`, and one-click `GET`/`POST
//! /unsubscribe/{token}`. The answer never tells whether an address was already known.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use rand::RngCore;
use serde::Deserialize;
use serde_json::json;
use siaga_store::Subscriber;

use super::error::ApiError;
use crate::app::App;

fn token() -> String {
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// The body of `POST /subscribe`, as JSON or as the page's form.
#[derive(Debug, Default, Deserialize)]
struct SubscribeBody {
    #[serde(default)]
    email: Option<String>,
    /// Component names or slugs; none means every component.
    #[serde(default)]
    components: Option<Vec<String>>,
    /// The page's language (`id` or `en`), sent by the form so its answer speaks it too.
    #[serde(skip)]
    lang: Option<String>,
}

impl SubscribeBody {
    /// A form: `email=..&components=a,b` (also `components[]=a&components[]=b`). Repeated keys
    /// do not fit a struct in `serde_urlencoded`, so the pairs are folded by hand.
    fn from_form(body: &[u8]) -> Result<SubscribeBody, ApiError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
            .map_err(|e| ApiError::invalid("body", &e.to_string()))?;
        let email = pairs
            .iter()
            .find(|(k, _)| k == "email")
            .map(|(_, v)| v.clone());
        let components = pairs
            .iter()
            .filter(|(k, _)| k == "components" || k == "components[]")
            .flat_map(|(_, v)| v.split(',').map(str::to_owned).collect::<Vec<_>>())
            .collect();
        let lang = pairs
            .iter()
            .find(|(k, _)| k == "lang")
            .map(|(_, v)| v.clone());
        Ok(SubscribeBody {
            email,
            components: Some(components),
            lang,
        })
    }

    /// JSON, read with `serde_path_to_error` so a 400 names the field that was wrong. Parsed
    /// to a value first: a repeated key is a 400 naming it, and a body that is not an
    /// object (an array would fill the fields by position) has no `email`.
    fn from_json(body: &[u8]) -> Result<SubscribeBody, ApiError> {
        let value = super::body::value(body)?;
        if !value.is_object() {
            return Err(ApiError::missing("email"));
        }
        serde_path_to_error::deserialize(value).map_err(json_error)
    }
}

/// The 400 for a JSON body that does not fit [`SubscribeBody`], worded as before.
fn json_error(e: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    use serde_json::error::Category;
    if !matches!(e.inner().classify(), Category::Data) {
        return ApiError::bad_json(&e.inner().to_string());
    }
    let field = match e.path().iter().next() {
        Some(serde_path_to_error::Segment::Map { key }) => key.clone(),
        _ => String::new(),
    };
    match field.as_str() {
        "email" => ApiError::invalid("email", "must be a string"),
        "components" => ApiError::invalid("components", "must be a list of component names"),
        // Not an object at all (an array, a string, null): it has no `email`.
        _ => ApiError::missing("email"),
    }
}

/// What the form or JSON asked for, checked at the edge.
struct Request {
    email: String,
    components: Vec<String>,
}

/// True when the body is the page's form (the answer is then a page, not JSON).
fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"))
}

/// The visitor's language for a form's answer: the page they posted from, else
/// `Accept-Language`; `None` when neither says (the answer is then in both languages).
fn english(form_lang: Option<&str>, headers: &HeaderMap) -> Option<bool> {
    match form_lang {
        Some("en") => Some(true),
        Some("id") => Some(false),
        _ if headers.contains_key(header::ACCEPT_LANGUAGE) => {
            Some(super::error::wants_english(headers))
        }
        _ => None,
    }
}

fn parse(app: &App, b: SubscribeBody) -> Result<Request, ApiError> {
    let email = b
        .email
        .map(|e| e.trim().to_lowercase())
        .filter(|e| !e.is_empty())
        .ok_or_else(|| ApiError::missing("email"))?;
    if !crate::notify::is_email_address(&email) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "kolom `email` tidak valid: bukan alamat email",
            "field `email` is invalid: must be an email address",
        ));
    }
    let known = crate::status::worker::component_names(&app.settings.get());
    let mut components = Vec::new();
    for c in b
        .components
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
    {
        let name = known
            .iter()
            .find(|k| **k == c || crate::status::worker::slug(k) == c)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    format!("kolom `components` tidak valid: komponen {c:?} tidak dikenal"),
                    format!("field `components` is invalid: unknown component {c:?}"),
                )
            })?;
        if !components.contains(name) {
            components.push(name.clone());
        }
    }
    Ok(Request { email, components })
}

/// `POST /subscribe`: JSON answers JSON (202, or the error envelope); the page's form gets
/// a page in the visitor's language, errors included.
pub async fn subscribe(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    if !is_form(&headers) {
        return match SubscribeBody::from_json(&body).and_then(|b| start(&app, b)) {
            Ok(()) => (
                StatusCode::ACCEPTED,
                Json(json!({"status": "pending", "message": "check your email for the confirmation link"})),
            )
                .into_response(),
            Err(e) => e.into_response(),
        };
    }
    let (b, lang) = match SubscribeBody::from_form(&body) {
        Ok(mut b) => {
            let lang = b.lang.take();
            (Ok(b), lang)
        }
        Err(e) => (Err(e), None),
    };
    let ok = b.and_then(|b| start(&app, b));
    let status = ok.as_ref().map_or_else(|e| e.status, |()| StatusCode::OK);
    let html = match (english(lang.as_deref(), &headers), ok) {
        (Some(en), Ok(())) => {
            let (title, text) = if en { SENT_EN } else { SENT_ID };
            crate::notify::subscribe::page_in(en, title, text, back(en))
        }
        (Some(en), Err(e)) => {
            let (title, text) = if en {
                ("Not subscribed", e.en)
            } else {
                ("Belum berlangganan", e.id)
            };
            crate::notify::subscribe::page_in(en, title, &text, back(en))
        }
        (None, Ok(())) => crate::notify::subscribe::page(
            &format!("{} / {}", SENT_ID.0, SENT_EN.0),
            SENT_ID.1,
            SENT_EN.1,
        ),
        (None, Err(e)) => {
            crate::notify::subscribe::page("Belum berlangganan / Not subscribed", &e.id, &e.en)
        }
    };
    (status, [(header::CACHE_CONTROL, "no-store")], Html(html)).into_response()
}

/// The answer to a form that was accepted: title and text.
const SENT_ID: (&str, &str) = (
    "Periksa email Anda",
    "Jika alamat ini belum berlangganan, kami telah mengirim tautan konfirmasi. Langganan aktif setelah Anda mengkliknya.",
);
const SENT_EN: (&str, &str) = (
    "Check your email",
    "If this address is not subscribed yet, we have sent it a confirmation link. The subscription starts once you click it.",
);

/// Back to the form, on the page in the visitor's language.
fn back(en: bool) -> &'static str {
    if en {
        "/?lang=en#subscribe"
    } else {
        "/?lang=id#subscribe"
    }
}

/// Checks the request and starts the subscription in the background.
fn start(app: &Arc<App>, b: SubscribeBody) -> Result<(), ApiError> {
    let req = parse(app, b)?;
    if app.settings.get().notify.smtp.is_none() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "langganan email belum tersedia di sini (SMTP belum diatur)",
            "email subscriptions are not available here (SMTP is not configured)",
        ));
    }
    // The answer is the same, and as fast, whether or not the address is known: the work
    // happens after it.
    let app = app.clone();
    tokio::spawn(async move {
        if let Err(e) = register(&app, req).await {
            tracing::error!(error = %e, "subscription not recorded");
        }
    });
    Ok(())
}

/// Records a subscription request and queues its confirmation email, atomically.
async fn register(app: &App, req: Request) -> Result<(), siaga_store::StoreError> {
    let now = app.now();
    let mut sub = match app.store.subscriber_by("email", &req.email).await? {
        Some(s) if s.status == "confirmed" => return Ok(()),
        Some(s)
            if s.status == "pending"
                && now - s.confirm_sent_at < app.settings.get().notify.confirm_resend_ms =>
        {
            return Ok(())
        }
        Some(s) => s,
        None => Subscriber {
            id: crate::keys::new_id("sub"),
            email: req.email.clone(),
            components: Vec::new(),
            status: "pending".into(),
            confirm_hash: None,
            unsub_token: token(),
            created_at: now,
            confirm_sent_at: now,
            confirmed_at: None,
            unsubscribed_at: None,
        },
    };
    let confirm = token();
    sub.components = req.components;
    sub.status = "pending".into();
    sub.confirm_hash = Some(crate::keys::hash_key(&confirm));
    sub.confirm_sent_at = now;
    sub.unsubscribed_at = None;
    let link = format!(
        "{}/subscribe/confirm/{confirm}",
        app.settings.get().public_url
    );
    let body = crate::notify::render::confirm(&link, &sub.components);
    let topic = format!("confirm:{}:{}", sub.id, &confirm[..8]);
    let notice = crate::notify::notice("email", &sub.email, &topic, None);
    let fanout = siaga_store::Fanout {
        body,
        notices: vec![notice],
        marks: Vec::new(),
        coalesce_ms: 0,
        now,
    };
    app.store.subscribe(sub, fanout).await?;
    app.notify_kick.notify_one();
    Ok(())
}

/// `GET /subscribe/confirm/{token}`
pub async fn confirm(State(app): State<Arc<App>>, Path(token): Path<String>) -> Response {
    let hash = crate::keys::hash_key(&token);
    let found = match app.store.subscriber_by("confirm_hash", &hash).await {
        Ok(f) => f,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let Some(mut sub) = found else {
        return page(
            StatusCode::NOT_FOUND,
            "Tautan tidak berlaku / Link not valid",
            "Tautan konfirmasi ini tidak dikenal atau sudah diganti dengan yang lebih baru.",
            "This confirmation link is unknown or was replaced by a newer one.",
        );
    };
    if sub.status != "confirmed" {
        sub.status = "confirmed".into();
        sub.confirmed_at = Some(app.now());
        if let Err(e) = app.store.save_subscriber(sub).await {
            return ApiError::from(e).into_response();
        }
    }
    page(
        StatusCode::OK,
        "Langganan dikonfirmasi / Subscription confirmed",
        "Anda akan menerima email saat ada gangguan, pembaruan, pemulihan, dan pemeliharaan terjadwal. Setiap email memuat tautan berhenti berlangganan.",
        "You will get an email when there is an incident, an update, a recovery or scheduled maintenance. Every email has an unsubscribe link.",
    )
}

/// `GET` or `POST /unsubscribe/{token}` (one click, RFC 8058).
pub async fn unsubscribe(State(app): State<Arc<App>>, Path(token): Path<String>) -> Response {
    let found = match app.store.subscriber_by("unsub_token", &token).await {
        Ok(f) => f,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let Some(mut sub) = found else {
        return page(
            StatusCode::NOT_FOUND,
            "Tautan tidak berlaku / Link not valid",
            "Tautan berhenti berlangganan ini tidak dikenal.",
            "This unsubscribe link is unknown.",
        );
    };
    if sub.status != "unsubscribed" {
        sub.status = "unsubscribed".into();
        sub.unsubscribed_at = Some(app.now());
        sub.confirm_hash = None;
        if let Err(e) = app.store.save_subscriber(sub).await {
            return ApiError::from(e).into_response();
        }
    }
    page(
        StatusCode::OK,
        "Berhenti berlangganan / Unsubscribed",
        "Anda tidak akan menerima email status lagi.",
        "You will not get status emails any more.",
    )
}

fn page(status: StatusCode, title: &str, id: &str, en: &str) -> Response {
    let html = crate::notify::subscribe::page(title, id, en);
    (status, [(header::CACHE_CONTROL, "no-store")], Html(html)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_err(body: &str) -> String {
        match SubscribeBody::from_json(body.as_bytes()) {
            Ok(b) => panic!("{body} was accepted: {b:?}"),
            Err(e) => e.en,
        }
    }

    #[test]
    fn a_bad_json_body_names_its_field() {
        assert_eq!(
            json_err(r#"{"email": 5}"#),
            "field `email` is invalid: must be a string"
        );
        for body in [r#"{"components": "XL"}"#, r#"{"components": ["XL", 1]}"#] {
            assert_eq!(
                json_err(body),
                "field `components` is invalid: must be a list of component names",
                "{body}"
            );
        }
        assert!(json_err(r#"{"email": "a@b.test""#).starts_with("request body is not valid JSON"));
        assert!(
            json_err(r#"{"email": "a@b.test"} x"#).starts_with("request body is not valid JSON")
        );
        // Not an object: it has no `email` (as when the body was read as a `Value`).
        assert_eq!(json_err(r#""a@b.test""#), "field `email` is required");
        assert_eq!(json_err("[5]"), "field `email` is required");
        // An array of strings would fill the fields by position: still no `email`.
        assert_eq!(json_err(r#"["a@b.test"]"#), "field `email` is required");
        // A repeated key is refused by name: which address would count is a guess.
        assert_eq!(
            json_err(r#"{"email": "x@b.test", "email": "y@b.test"}"#),
            "field `email` is invalid: is given more than once"
        );
        let b =
            SubscribeBody::from_json(br#"{"email": null, "components": null, "other": {"x": 1}}"#)
                .unwrap();
        assert!(b.email.is_none() && b.components.is_none());
    }

    #[test]
    fn a_form_folds_repeated_components() {
        let b =
            SubscribeBody::from_form(b"email=a%40b.test&components=x,y&components[]=z").unwrap();
        assert_eq!(b.email.as_deref(), Some("a@b.test"));
        assert_eq!(b.components.unwrap(), ["x", "y", "z"]);
        assert!(b.lang.is_none());
        let b = SubscribeBody::from_form(b"lang=en&email=a%40b.test").unwrap();
        assert_eq!(b.lang.as_deref(), Some("en"));
    }

    #[test]
    fn the_form_language_wins_over_the_header() {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_LANGUAGE, "en-GB".parse().unwrap());
        assert_eq!(english(None, &h), Some(true));
        assert_eq!(english(Some("id"), &h), Some(false));
        assert_eq!(english(Some("en"), &HeaderMap::new()), Some(true));
        assert_eq!(english(Some("xx"), &HeaderMap::new()), None);
        h.insert(header::ACCEPT_LANGUAGE, "id-ID,en;q=0.5".parse().unwrap());
        assert_eq!(english(None, &h), Some(false));
    }
}
