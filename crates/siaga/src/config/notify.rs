//! The `[smtp]`, `[telegram]`, `[notify]` and `[[webhooks]]` config sections, and their
//! validated, secret-resolved form [`NotifySettings`].

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpCfg {
    pub host: String,
    #[serde(default)]
    pub port: Option<u16>,
    /// `none` | `starttls` | `tls`
    #[serde(default = "default_tls")]
    pub tls: String,
    #[serde(default)]
    pub username_env: Option<String>,
    #[serde(default)]
    pub password_env: Option<String>,
    /// The sender, e.g. `"Status siaga <status@example.com>"`.
    pub from: String,
    /// Most emails sent per second (the rate limit of the email channel).
    #[serde(default = "default_email_rate")]
    pub per_second: u32,
    /// SMTP connections kept open and used at once.
    #[serde(default = "default_email_pool")]
    pub pool: u32,
    #[serde(default = "default_smtp_timeout")]
    pub timeout_ms: u64,
}

fn default_tls() -> String {
    "starttls".into()
}
fn default_email_rate() -> u32 {
    100
}
fn default_email_pool() -> u32 {
    8
}
fn default_smtp_timeout() -> u64 {
    15_000
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramCfg {
    pub bot_token_env: String,
    /// The public status channel (e.g. `@siaga_status` or `-100123...`); optional.
    #[serde(default)]
    pub chat_id: Option<String>,
    /// The owner's chat for alerts; optional.
    #[serde(default)]
    pub owner_chat_id: Option<String>,
    #[serde(default = "default_api_base")]
    pub api_base: String,
    /// Telegram allows about 20 messages a minute into one group or channel.
    #[serde(default = "default_tg_rate")]
    pub per_minute: u32,
}

fn default_api_base() -> String {
    "https://api.telegram.org".into()
}
fn default_tg_rate() -> u32 {
    20
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookCfg {
    /// A short name; queued notices name their webhook by it, so its URL (often a secret,
    /// as Slack's and Discord's are) is never stored and can change.
    pub name: String,
    pub url: String,
    /// `whsec_...` Standard Webhooks secret, from the environment.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// `standard` (a Standard Webhooks JSON event) or `chat` (Slack/Discord-compatible
    /// `{"text", "content"}`).
    #[serde(default = "default_format")]
    pub format: String,
    /// Components whose incidents it gets; empty = all.
    #[serde(default)]
    pub components: Vec<String>,
    /// Status-page notices (incidents, maintenance).
    #[serde(default = "yes")]
    pub status: bool,
    /// Owner alerts (supplier down, low balance...).
    #[serde(default)]
    pub alerts: bool,
}

fn default_format() -> String {
    "standard".into()
}
fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyCfg {
    /// Where owner alerts are emailed.
    pub owner_emails: Vec<String>,
    /// A recipient gets at most one message per topic (a component, an incident, an alert
    /// kind) in this many seconds; later news waits and replaces what is still waiting.
    pub coalesce_s: u64,
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    pub give_up_after_s: u64,
    /// A pending subscriber asking again gets a new confirmation email at most this often.
    pub confirm_resend_s: u64,
}

impl Default for NotifyCfg {
    fn default() -> Self {
        NotifyCfg {
            owner_emails: Vec::new(),
            coalesce_s: 600,
            retry_base_ms: 1_000,
            retry_max_ms: 600_000,
            give_up_after_s: 86_400,
            confirm_resend_s: 600,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    None,
    Starttls,
    Tls,
}

#[derive(Debug, Clone)]
pub struct Smtp {
    pub host: String,
    pub port: u16,
    pub tls: Tls,
    pub username: Option<String>,
    pub password: Option<String>,
    pub from: String,
    pub per_second: u32,
    pub pool: u32,
    pub timeout_ms: u64,
}

#[derive(Debug, Clone)]
pub struct Telegram {
    pub token: String,
    pub chat_id: Option<String>,
    pub owner_chat_id: Option<String>,
    pub api_base: String,
    pub per_minute: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Standard,
    Chat,
}

#[derive(Debug, Clone)]
pub struct Webhook {
    pub name: String,
    pub url: String,
    pub secret: Option<String>,
    pub format: Format,
    pub components: Vec<String>,
    pub status: bool,
    pub alerts: bool,
}

/// Everything the notifier needs, validated.
#[derive(Debug, Clone)]
pub struct NotifySettings {
    pub smtp: Option<Smtp>,
    pub telegram: Option<Telegram>,
    pub webhooks: Vec<Webhook>,
    pub owner_emails: Vec<String>,
    pub coalesce_ms: i64,
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    pub give_up_after_s: u64,
    pub confirm_resend_ms: i64,
}

impl Default for NotifySettings {
    fn default() -> Self {
        let d = NotifyCfg::default();
        NotifySettings {
            smtp: None,
            telegram: None,
            webhooks: Vec::new(),
            owner_emails: Vec::new(),
            coalesce_ms: (d.coalesce_s * 1000) as i64,
            retry_base_ms: d.retry_base_ms,
            retry_max_ms: d.retry_max_ms,
            give_up_after_s: d.give_up_after_s,
            confirm_resend_ms: (d.confirm_resend_s * 1000) as i64,
        }
    }
}

/// A key and what is wrong with it; the caller adds the file and line.
pub use super::locate::Problem;

/// The secret named by the variable `name` (read for `key`).
type Getenv<'a> = &'a dyn Fn(&str) -> Option<String>;

fn secret(getenv: Getenv, key: &str, name: &str) -> Result<String, Problem> {
    getenv(name).ok_or_else(|| {
        (
            key.into(),
            format!("environment variable {name} is not set"),
        )
    })
}

/// Validates the sections; `getenv` resolves `*_env` secrets.
pub fn validate(
    smtp: Option<&SmtpCfg>,
    telegram: Option<&TelegramCfg>,
    notify: &NotifyCfg,
    webhooks: &[WebhookCfg],
    getenv: Getenv,
) -> Result<NotifySettings, Problem> {
    let smtp = smtp.map(|s| check_smtp(s, getenv)).transpose()?;
    let telegram = telegram.map(|t| check_telegram(t, getenv)).transpose()?;
    let mut hooks: Vec<Webhook> = Vec::with_capacity(webhooks.len());
    for (i, w) in webhooks.iter().enumerate() {
        let hook = check_webhook(w, getenv).map_err(|(k, m)| (format!("webhooks[{i}].{k}"), m))?;
        if hooks.iter().any(|h| h.name == hook.name) {
            return Err((
                format!("webhooks[{i}].name"),
                format!("webhook name {:?} is used twice", hook.name),
            ));
        }
        hooks.push(hook);
    }
    for (i, e) in notify.owner_emails.iter().enumerate() {
        if e.parse::<lettre::Address>().is_err() {
            return Err((
                format!("notify.owner_emails[{i}]"),
                "must be an email address".into(),
            ));
        }
    }
    Ok(NotifySettings {
        smtp,
        telegram,
        webhooks: hooks,
        owner_emails: notify.owner_emails.clone(),
        coalesce_ms: (notify.coalesce_s.min(86_400 * 7) * 1000) as i64,
        retry_base_ms: notify.retry_base_ms.max(10),
        retry_max_ms: notify.retry_max_ms.max(notify.retry_base_ms.max(10)),
        give_up_after_s: notify.give_up_after_s,
        confirm_resend_ms: (notify.confirm_resend_s.min(86_400) * 1000) as i64,
    })
}

/// `[smtp]`: the TLS mode, a sender that parses, a host; the port defaults by TLS mode.
fn check_smtp(s: &SmtpCfg, getenv: Getenv) -> Result<Smtp, Problem> {
    let tls = match s.tls.as_str() {
        "none" => Tls::None,
        "starttls" => Tls::Starttls,
        "tls" => Tls::Tls,
        _ => return Err(("smtp.tls".into(), "must be none, starttls or tls".into())),
    };
    if s.from.parse::<lettre::message::Mailbox>().is_err() {
        return Err((
            "smtp.from".into(),
            "must be an address like \"Status <status@example.com>\"".into(),
        ));
    }
    if s.host.is_empty() {
        return Err(("smtp.host".into(), "must not be empty".into()));
    }
    let username = s
        .username_env
        .as_deref()
        .map(|n| secret(getenv, "smtp.username_env", n))
        .transpose()?;
    let password = s
        .password_env
        .as_deref()
        .map(|n| secret(getenv, "smtp.password_env", n))
        .transpose()?;
    Ok(Smtp {
        host: s.host.clone(),
        port: s.port.unwrap_or(match tls {
            Tls::None => 25,
            Tls::Starttls => 587,
            Tls::Tls => 465,
        }),
        tls,
        username,
        password,
        from: s.from.clone(),
        per_second: s.per_second.max(1),
        pool: s.pool.clamp(1, 64),
        timeout_ms: s.timeout_ms.max(100),
    })
}

/// `[telegram]`: an http(s) API base and the bot token from the environment.
fn check_telegram(t: &TelegramCfg, getenv: Getenv) -> Result<Telegram, Problem> {
    let base = t.api_base.trim_end_matches('/').to_owned();
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err((
            "telegram.api_base".into(),
            "must start with http:// or https://".into(),
        ));
    }
    Ok(Telegram {
        token: secret(getenv, "telegram.bot_token_env", &t.bot_token_env)?,
        chat_id: t.chat_id.clone().filter(|c| !c.is_empty()),
        owner_chat_id: t.owner_chat_id.clone().filter(|c| !c.is_empty()),
        api_base: base,
        per_minute: t.per_minute.max(1),
    })
}

/// One `[[webhooks]]` entry; the error's key is relative to the entry (`url`, `name`...).
fn check_webhook(w: &WebhookCfg, getenv: Getenv) -> Result<Webhook, Problem> {
    if !(w.url.starts_with("http://") || w.url.starts_with("https://")) {
        return Err(("url".into(), "must start with http:// or https://".into()));
    }
    let format = match w.format.as_str() {
        "standard" => Format::Standard,
        "chat" | "slack" | "discord" => Format::Chat,
        _ => return Err(("format".into(), "must be standard or chat".into())),
    };
    let secret = w
        .secret_env
        .as_deref()
        .map(|n| secret(getenv, "secret_env", n))
        .transpose()?;
    if let Some(s) = &secret {
        if crate::webhook::sign(s, "x", 0, b"").is_err() {
            return Err((
                "secret_env".into(),
                "the secret must be whsec_ followed by base64".into(),
            ));
        }
    }
    let name = w.name.trim().to_owned();
    if name.is_empty() || name.len() > 64 {
        return Err(("name".into(), "must be 1 to 64 characters".into()));
    }
    Ok(Webhook {
        name,
        url: w.url.clone(),
        secret,
        format,
        components: w.components.clone(),
        status: w.status,
        alerts: w.alerts,
    })
}
