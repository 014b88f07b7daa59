//! The `[[suppliers]]` section: its raw form, the checked [`Supplier`] with its secrets
//! resolved, and the maintenance windows written in it.

use std::collections::HashSet;
use std::time::Duration;

use serde::Deserialize;
use siaga_domain::window::{parse_daily, Window};

use super::locate::Problem;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupplierCfg {
    pub id: String,
    #[serde(default = "default_dialect")]
    pub dialect: String,
    pub base_url: String,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub key_env: Option<String>,
    #[serde(default)]
    pub callback_secret_env: Option<String>,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    #[serde(default = "default_inquiry_s")]
    pub inquiry_min_interval_s: u64,
    #[serde(default = "default_inquiry_max_s")]
    pub inquiry_max_interval_s: u64,
    #[serde(default = "default_concurrency")]
    pub max_concurrency: u32,
    /// Replies slower than this shrink the adaptive concurrency limit.
    #[serde(default = "default_latency_target")]
    pub latency_target_ms: u64,
    #[serde(default)]
    pub contact_email: Option<String>,
    /// Down this long outside an announced window: the outage report goes to `contact_email`.
    #[serde(default = "default_report_after_s")]
    pub report_after_s: u64,
    #[serde(default)]
    pub low_balance_rupiah: Option<i64>,
    #[serde(default)]
    pub maintenance: Vec<toml::Value>,
    #[serde(default)]
    pub contract: Option<toml::Table>,
    /// Send Digiflazz's `testing: true` flag (sandbox).
    #[serde(default)]
    pub testing: bool,
    /// `http-template`: a shipped preset (`otomax`, `iak`, `tokovoucher`).
    #[serde(default)]
    pub preset: Option<String>,
    /// `http-template`: `{password}` (OtomaX password), from the environment.
    #[serde(default)]
    pub password_env: Option<String>,
    /// `http-template`: requests, reply rules, report fields; over the preset's.
    #[serde(default)]
    pub template: Option<toml::Table>,
}

fn default_dialect() -> String {
    "digiflazz".into()
}
fn default_report_after_s() -> u64 {
    600
}
fn default_timeout_ms() -> u64 {
    15_000
}
fn default_inquiry_s() -> u64 {
    60
}
fn default_inquiry_max_s() -> u64 {
    600
}
fn default_concurrency() -> u32 {
    64
}
fn default_latency_target() -> u64 {
    2_000
}

#[derive(Debug, Clone)]
pub struct Supplier {
    pub id: String,
    pub base_url: String,
    pub username: String,
    pub key: String,
    pub callback_secret: Option<String>,
    pub timeout: Duration,
    pub inquiry_min_interval: Duration,
    pub inquiry_max_interval: Duration,
    pub max_concurrency: u32,
    pub latency_target_ms: u64,
    pub testing: bool,
    pub contact_email: Option<String>,
    pub report_after: Duration,
    pub low_balance_rupiah: Option<i64>,
    /// Maintenance windows from config.
    pub windows: Vec<Window>,
    /// `[suppliers.contract]`, checked; `None` without one (SPEC 11).
    pub contract: Option<super::contract::Contract>,
    /// `http-template` suppliers: the checked template (preset and overrides) and the
    /// `{password}`; `None` for the digiflazz dialect.
    pub template: Option<Templated>,
    /// No longer in the config since a reload (SPEC 6.1.3): never routed to, but its open
    /// attempts are still inquired and its reports still taken until they settle.
    pub retired: bool,
}

/// A checked `http-template` supplier's template and password.
#[derive(Debug, Clone)]
pub struct Templated {
    pub template: std::sync::Arc<siaga_suppliers::Template>,
    pub password: String,
}

/// Checks every supplier, in file order; `getenv` resolves the `*_env` secrets.
pub fn check(
    cfgs: &[SupplierCfg],
    getenv: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<Supplier>, Problem> {
    let mut ids = HashSet::new();
    let mut out = Vec::with_capacity(cfgs.len());
    for (i, s) in cfgs.iter().enumerate() {
        let key = |k: &str| format!("suppliers[{i}].{k}");
        check_names(s, &mut ids).map_err(|(k, m)| (key(k), m))?;
        let resolve = |k: &str, name: &Option<String>| -> Result<Option<String>, Problem> {
            match name {
                None => Ok(None),
                Some(n) => getenv(n)
                    .map(Some)
                    .ok_or_else(|| (key(k), format!("environment variable {n} is not set"))),
            }
        };
        let key_value = resolve("key_env", &s.key_env)?.unwrap_or_default();
        let callback_secret = resolve("callback_secret_env", &s.callback_secret_env)?;
        let password = resolve("password_env", &s.password_env)?.unwrap_or_default();
        let template = templated(s, password).map_err(|(k, m)| (key(k), m))?;
        if s.timeout_ms == 0 || s.inquiry_min_interval_s == 0 || s.max_concurrency == 0 {
            return Err((
                key("timeout_ms"),
                "timeout_ms, inquiry_min_interval_s and max_concurrency must be above zero".into(),
            ));
        }
        let mut windows = Vec::with_capacity(s.maintenance.len());
        for (j, w) in s.maintenance.iter().enumerate() {
            windows.push(parse_window(w).map_err(|m| (key(&format!("maintenance[{j}]")), m))?);
        }
        let mut checked = settle(s, key_value, callback_secret, windows);
        checked.template = template;
        checked.contract = match &s.contract {
            Some(t) => Some(super::contract::check(t, &key("contract"))?),
            None => None,
        };
        out.push(checked);
    }
    Ok(out)
}

/// The id (well formed, not taken before: `ids` holds those seen), the dialect and the
/// address.
fn check_names(s: &SupplierCfg, ids: &mut HashSet<String>) -> Result<(), (&'static str, String)> {
    let id_chars = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if s.id.is_empty() || !s.id.chars().all(id_chars) {
        return Err(("id", "must be letters, digits, - or _".into()));
    }
    if !ids.insert(s.id.clone()) {
        return Err(("id", format!("supplier id {:?} is used twice", s.id)));
    }
    if s.dialect != "digiflazz" && s.dialect != "http-template" {
        return Err((
            "dialect",
            format!(
                "dialect {:?} is not available in this build (digiflazz, http-template)",
                s.dialect
            ),
        ));
    }
    if s.dialect == "digiflazz" && (s.preset.is_some() || s.template.is_some()) {
        return Err((
            "dialect",
            "preset and template need dialect = \"http-template\"".into(),
        ));
    }
    if !(s.base_url.starts_with("http://") || s.base_url.starts_with("https://")) {
        return Err(("base_url", "must start with http:// or https://".into()));
    }
    Ok(())
}

/// The `http-template` supplier's template, checked: every placeholder known, every regex
/// and pointer valid, every sample reply of the preset still read as written (SPEC 6.1.1).
fn templated(
    s: &SupplierCfg,
    password: String,
) -> Result<Option<Templated>, (&'static str, String)> {
    if s.dialect != "http-template" {
        return Ok(None);
    }
    if s.preset.is_none() && s.template.is_none() {
        return Err((
            "template",
            "http-template needs a preset or a template".into(),
        ));
    }
    let t =
        siaga_suppliers::Template::load(s.preset.as_deref(), s.template.as_ref()).map_err(|m| {
            (
                if s.template.is_some() {
                    "template"
                } else {
                    "preset"
                },
                m,
            )
        })?;
    Ok(Some(Templated {
        template: std::sync::Arc::new(t),
        password,
    }))
}

/// The checked supplier, with the floors that keep timers and limits meaningful.
fn settle(
    s: &SupplierCfg,
    key: String,
    callback_secret: Option<String>,
    windows: Vec<Window>,
) -> Supplier {
    Supplier {
        id: s.id.clone(),
        base_url: s.base_url.clone(),
        username: s.username.clone(),
        key,
        callback_secret,
        timeout: Duration::from_millis(s.timeout_ms),
        inquiry_min_interval: Duration::from_secs(s.inquiry_min_interval_s),
        inquiry_max_interval: Duration::from_secs(
            s.inquiry_max_interval_s.max(s.inquiry_min_interval_s),
        ),
        max_concurrency: s.max_concurrency,
        latency_target_ms: s.latency_target_ms.max(1),
        testing: s.testing,
        contact_email: s.contact_email.clone(),
        report_after: Duration::from_secs(s.report_after_s.max(1)),
        low_balance_rupiah: s.low_balance_rupiah,
        windows,
        contract: None,
        template: None,
        retired: false,
    }
}

/// Each `contact_email` must be an address (checked after the notify sections, as before).
pub fn check_contacts(cfgs: &[SupplierCfg]) -> Result<(), Problem> {
    for (i, s) in cfgs.iter().enumerate() {
        if let Some(e) = &s.contact_email {
            if e.parse::<lettre::Address>().is_err() {
                return Err((
                    format!("suppliers[{i}].contact_email"),
                    "must be an email address".into(),
                ));
            }
        }
    }
    Ok(())
}

/// `{ daily = "23:45-00:15", tz = "Asia/Jakarta" }` or `{ from = RFC3339, to = RFC3339 }`.
pub fn parse_window(v: &toml::Value) -> Result<Window, String> {
    let t = v
        .as_table()
        .ok_or("must be a table like { daily = \"23:45-00:15\", tz = \"Asia/Jakarta\" }")?;
    if let Some(daily) = t.get("daily") {
        let spec = daily
            .as_str()
            .ok_or("daily must be a string \"HH:MM-HH:MM\"")?;
        let (start_min, end_min) = parse_daily(spec)?;
        let tz_name = t
            .get("tz")
            .and_then(|z| z.as_str())
            .unwrap_or("Asia/Jakarta");
        let tz = jiff::tz::TimeZone::get(tz_name)
            .map_err(|e| format!("unknown time zone {tz_name:?}: {e}"))?;
        return Ok(Window::Daily {
            start_min,
            end_min,
            tz,
        });
    }
    let time = |k: &str| -> Result<i64, String> {
        let s = t
            .get(k)
            .and_then(|x| x.as_str())
            .ok_or(format!("needs `daily`, or `from` and `to` (missing {k})"))?;
        crate::clock::parse_time(s).ok_or(format!("{k} must be an RFC 3339 time"))
    };
    let (start_ms, end_ms) = (time("from")?, time("to")?);
    if end_ms <= start_ms {
        return Err("`to` must be after `from`".into());
    }
    Ok(Window::OneOff { start_ms, end_ms })
}
