//! Owner actions shared by the CLI and the admin API, so both do exactly the same thing.

use serde_json::{json, Value};
use siaga_store::{CallbackFormat, NewReseller, Store, StoreError};

use crate::keys;

pub mod desk;
pub mod pause;
mod resolve;

pub use resolve::{resolve, Resolution};

/// A reseller's freshly issued credentials; the key is shown once and stored hashed.
pub struct Credentials {
    pub id: String,
    pub api_key: String,
    pub webhook_secret: String,
    /// The key of the Digiflazz drop-in (SPEC 5.1).
    pub digiflazz_key: String,
}

impl Credentials {
    fn new(id: String) -> Credentials {
        Credentials {
            id,
            api_key: keys::new_api_key(),
            webhook_secret: keys::new_webhook_secret(),
            digiflazz_key: keys::new_digiflazz_key(),
        }
    }

    pub fn json(&self) -> Value {
        json!({
            "id": self.id, "api_key": self.api_key, "webhook_secret": self.webhook_secret,
            "digiflazz_key": self.digiflazz_key,
        })
    }
}

/// A callback format by name (`standard`, `digiflazz`); absent: `standard`.
pub fn callback_format(name: Option<&str>) -> Result<CallbackFormat, OpError> {
    match name {
        None => Ok(CallbackFormat::Standard),
        Some(n) => CallbackFormat::parse(n).ok_or_else(|| {
            OpError::Invalid("callback_format must be standard or digiflazz".into())
        }),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpError {
    #[error("{0}")]
    Invalid(String),
    #[error("no reseller with id {0}")]
    UnknownReseller(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub fn check_callback_url(url: &str) -> Result<(), OpError> {
    if (url.starts_with("http://") || url.starts_with("https://"))
        && url.len() <= 2048
        && !url.contains(char::is_whitespace)
    {
        Ok(())
    } else {
        Err(OpError::Invalid(
            "callback_url must be an http:// or https:// URL".into(),
        ))
    }
}

pub async fn add_reseller(
    store: &dyn Store,
    name: &str,
    email: Option<&str>,
    callback_url: Option<&str>,
    callback_format: CallbackFormat,
    now: i64,
) -> Result<Credentials, OpError> {
    let name = name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(OpError::Invalid("name must be 1 to 200 characters".into()));
    }
    if let Some(e) = email {
        if !crate::notify::is_email_address(e) {
            return Err(OpError::Invalid("email: must be an email address".into()));
        }
    }
    if let Some(u) = callback_url {
        check_callback_url(u)?;
    }
    let creds = Credentials::new(keys::new_id("rsl"));
    store
        .create_reseller(NewReseller {
            id: creds.id.clone(),
            name: name.to_owned(),
            email: email.map(str::to_owned),
            callback_url: callback_url.map(str::to_owned),
            key_hash: keys::hash_key(&creds.api_key),
            webhook_secret: creds.webhook_secret.clone(),
            digiflazz_key: creds.digiflazz_key.clone(),
            callback_format,
            now,
        })
        .await?;
    Ok(creds)
}

/// Rotates every reseller's keys and secret. Keeps going past a failure, so every new
/// credential already made is returned (an old key is dead the moment it rotates):
/// (rotated credentials as JSON, `{"id","error"}` for each failure).
pub async fn rotate_all(
    store: &dyn Store,
    now: i64,
) -> Result<(Vec<serde_json::Value>, Vec<serde_json::Value>), OpError> {
    let (mut rotated, mut failed) = (Vec::new(), Vec::new());
    for r in store.list_resellers().await? {
        match rotate_keys(store, &r.id, now).await {
            Ok(c) => rotated.push(c.json()),
            Err(e) => failed.push(serde_json::json!({"id": r.id, "error": e.to_string()})),
        }
    }
    Ok((rotated, failed))
}

pub async fn rotate_keys(store: &dyn Store, id: &str, now: i64) -> Result<Credentials, OpError> {
    let creds = Credentials::new(id.to_owned());
    if store
        .rotate_keys(
            id,
            &keys::hash_key(&creds.api_key),
            &creds.webhook_secret,
            &creds.digiflazz_key,
            now,
        )
        .await?
    {
        Ok(creds)
    } else {
        Err(OpError::UnknownReseller(id.to_owned()))
    }
}

/// Sets a reseller's API access rules: the addresses or ranges its requests may come from
/// (empty: any) and whether every request must be signed. Returns the rules as stored.
pub async fn set_access(
    store: &dyn Store,
    id: &str,
    ip_allowlist: &[String],
    require_signature: bool,
    now: i64,
) -> Result<Value, OpError> {
    let list: Vec<String> = ip_allowlist.iter().map(|e| e.trim().to_owned()).collect();
    crate::net::parse_nets(&list).map_err(|e| OpError::Invalid(format!("ip_allowlist: {e}")))?;
    if list.len() > 256 {
        return Err(OpError::Invalid(
            "ip_allowlist: at most 256 entries (use ranges)".into(),
        ));
    }
    if !store
        .set_reseller_access(id, &list, require_signature, now)
        .await?
    {
        return Err(OpError::UnknownReseller(id.to_owned()));
    }
    Ok(json!({"id": id, "ip_allowlist": list, "require_signature": require_signature}))
}

/// A deposit's note is a line on every statement that shows it: kept short.
pub const MAX_NOTE_CHARS: usize = 500;

pub async fn deposit(
    store: &dyn Store,
    id: &str,
    amount: i64,
    note: &str,
    now: i64,
) -> Result<Value, OpError> {
    siaga_domain::Rupiah::positive(amount).map_err(|e| OpError::Invalid(format!("amount: {e}")))?;
    if note.chars().count() > MAX_NOTE_CHARS {
        return Err(OpError::Invalid(format!(
            "note: at most {MAX_NOTE_CHARS} characters"
        )));
    }
    if store.reseller(id).await?.is_none() {
        return Err(OpError::UnknownReseller(id.to_owned()));
    }
    let b = store.deposit(id, amount, note, now).await?;
    Ok(json!({"reseller_id": id, "amount": amount, "available": b.available, "held": b.held}))
}

/// Announces a maintenance window for a supplier (`siaga maintenance add`,
/// `POST /admin/api/maintenance`); routes to it are skipped from the lead time before.
#[allow(clippy::too_many_arguments)]
pub async fn add_maintenance(
    store: &dyn Store,
    settings: &crate::config::Settings,
    supplier: &str,
    from: &str,
    to: &str,
    note: Option<&str>,
    source: &str,
    now: i64,
) -> Result<Value, OpError> {
    if settings.supplier(supplier).is_none() {
        return Err(OpError::Invalid(format!(
            "supplier: no supplier with id {supplier:?}"
        )));
    }
    let parse = |field: &str, v: &str| {
        crate::clock::parse_time(v).ok_or_else(|| {
            OpError::Invalid(format!(
                "{field}: must be an RFC 3339 time like 2026-11-23T01:00:00+07:00"
            ))
        })
    };
    let (starts_at, ends_at) = (parse("starts_at", from)?, parse("ends_at", to)?);
    if ends_at <= starts_at {
        return Err(OpError::Invalid("ends_at: must be after starts_at".into()));
    }
    if ends_at <= now {
        return Err(OpError::Invalid(
            "ends_at: the window is already over".into(),
        ));
    }
    let note = note
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| n.chars().take(500).collect::<String>());
    let id = store
        .add_maintenance(siaga_store::MaintenanceWindow {
            id: 0,
            supplier_id: supplier.to_owned(),
            starts_at,
            ends_at,
            note: note.clone(),
            source: source.to_owned(),
            created_at: now,
        })
        .await?;
    Ok(
        json!({"id": id, "supplier": supplier, "starts_at": crate::clock::rfc3339(starts_at), "ends_at": crate::clock::rfc3339(ends_at), "note": note}),
    )
}

/// A manual incident as the owner writes it (`siaga incident open`, `POST /admin/api/incidents`).
pub struct IncidentDraft<'a> {
    pub title: &'a str,
    pub body: &'a str,
    pub title_en: Option<&'a str>,
    pub body_en: Option<&'a str>,
    pub components: Vec<String>,
    pub impact: Option<&'a str>,
    pub status: Option<&'a str>,
    pub security: bool,
}

const INCIDENT_STATES: [&str; 4] = ["investigating", "identified", "monitoring", "resolved"];
const IMPACTS: [&str; 4] = ["none", "minor", "major", "critical"];

fn text_field(name: &str, v: &str, max: usize) -> Result<String, OpError> {
    let v = v.trim();
    if v.is_empty() || v.chars().count() > max {
        return Err(OpError::Invalid(format!(
            "{name}: must be 1 to {max} characters"
        )));
    }
    Ok(v.to_owned())
}

/// Opens a manual incident; returns its id. Components must be status-page component names.
pub async fn open_incident(
    store: &dyn Store,
    settings: &crate::config::Settings,
    d: IncidentDraft<'_>,
    now: i64,
) -> Result<Value, OpError> {
    let title = text_field("title", d.title, 200)?;
    let body = text_field("body", d.body, 5_000)?;
    let title_en = d
        .title_en
        .map(|t| text_field("title_en", t, 200))
        .transpose()?
        .unwrap_or_else(|| title.clone());
    let body_en = d
        .body_en
        .map(|t| text_field("body_en", t, 5_000))
        .transpose()?
        .unwrap_or_else(|| body.clone());
    let known = crate::status::worker::component_names(settings);
    for c in &d.components {
        if !known.contains(c) {
            return Err(OpError::Invalid(format!(
                "components: {c:?} is not a component (known: {})",
                known.join(", ")
            )));
        }
    }
    let status = d.status.unwrap_or("investigating");
    if !INCIDENT_STATES[..3].contains(&status) {
        return Err(OpError::Invalid(
            "status: must be investigating, identified or monitoring".into(),
        ));
    }
    let impact = d
        .impact
        .unwrap_or(if d.security { "major" } else { "minor" });
    if !IMPACTS.contains(&impact) {
        return Err(OpError::Invalid(
            "impact: must be none, minor, major or critical".into(),
        ));
    }
    let id = store
        .create_incident(siaga_store::NewIncident {
            title_id: title,
            title_en,
            status: status.into(),
            impact: impact.into(),
            components: d.components,
            auto_component: None,
            security: d.security,
            body_id: body,
            body_en,
            at: now,
        })
        .await?;
    Ok(json!({"id": id, "status": status, "impact": impact, "security": d.security}))
}

/// Posts an update (and moves the incident to `status`; `resolved` resolves it).
pub async fn incident_update(
    store: &dyn Store,
    id: i64,
    status: &str,
    body: &str,
    body_en: Option<&str>,
    now: i64,
) -> Result<Value, OpError> {
    if !INCIDENT_STATES.contains(&status) {
        return Err(OpError::Invalid(
            "status: must be investigating, identified, monitoring or resolved".into(),
        ));
    }
    let body = text_field("body", body, 5_000)?;
    let body_en = body_en
        .map(|t| text_field("body_en", t, 5_000))
        .transpose()?
        .unwrap_or_else(|| body.clone());
    if !store
        .add_incident_update(id, status, &body, &body_en, now)
        .await?
    {
        return Err(OpError::Conflict(format!(
            "incident {id} does not exist or is already resolved"
        )));
    }
    Ok(json!({"id": id, "status": status}))
}

/// Adds the postmortem to a resolved incident.
pub async fn incident_postmortem(
    store: &dyn Store,
    id: i64,
    body: &str,
    body_en: Option<&str>,
    now: i64,
) -> Result<Value, OpError> {
    let body = text_field("body", body, 20_000)?;
    let body_en = body_en
        .map(|t| text_field("body_en", t, 20_000))
        .transpose()?
        .unwrap_or_else(|| body.clone());
    if !store.set_postmortem(id, &body, &body_en, now).await? {
        return Err(OpError::Conflict(format!(
            "incident {id} does not exist or is not resolved yet"
        )));
    }
    Ok(json!({"id": id, "status": "postmortem"}))
}
