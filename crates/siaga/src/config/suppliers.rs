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
    /// Not for `manual` suppliers (they send nothing); required otherwise.
    #[serde(default)]
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
    /// `manual`: the owner is alerted when an order has been on the desk this long.
    #[serde(default = "default_desk_alert_after_s")]
    pub desk_alert_after_s: u64,
    /// Reports are taken only from these addresses or ranges (none: from anywhere).
    #[serde(default)]
    pub callback_allow_ips: Vec<String>,
}

fn default_dialect() -> String {
    "digiflazz".into()
}
fn default_desk_alert_after_s() -> u64 {
    600
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

/// How siaga talks to a supplier (SPEC 6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// The Digiflazz buyer API.
    Digiflazz,
    /// Any other HTTP supplier, described by a template.
    HttpTemplate,
    /// A human desk (SPEC 6.1.2): nothing is sent; an operator fulfils the order by other
    /// means and resolves it. Never probed, no balance, no price list.
    Manual,
}

impl Dialect {
    pub fn parse(s: &str) -> Option<Dialect> {
        match s {
            "digiflazz" => Some(Dialect::Digiflazz),
            "http-template" => Some(Dialect::HttpTemplate),
            "manual" => Some(Dialect::Manual),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Digiflazz => "digiflazz",
            Dialect::HttpTemplate => "http-template",
            Dialect::Manual => "manual",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Supplier {
    pub id: String,
    pub dialect: Dialect,
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
    /// `manual` suppliers: an order on the desk longer than this alerts the owner.
    pub desk_alert_after: Duration,
    /// Reports from any other client address are refused (403); empty: any address.
    pub callback_allow_ips: Vec<ipnet::IpNet>,
}

impl Supplier {
    /// A human desk (`dialect = "manual"`).
    pub fn is_manual(&self) -> bool {
        self.dialect == Dialect::Manual
    }
}

/// The ids of the manual suppliers (the desk), in config order.
pub fn manual_ids(suppliers: &[Supplier]) -> Vec<String> {
    suppliers
        .iter()
        .filter(|s| s.is_manual())
        .map(|s| s.id.clone())
        .collect()
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
        let template = templated(s, password).map_err(|(k, m)| (key(&k), m))?;
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
        checked.callback_allow_ips =
            allow_ips(&s.callback_allow_ips).map_err(|(k, m)| (key(&k), m))?;
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
    let Some(dialect) = Dialect::parse(&s.dialect) else {
        return Err((
            "dialect",
            format!(
                "dialect {:?} is not available in this build (digiflazz, http-template, manual)",
                s.dialect
            ),
        ));
    };
    if dialect != Dialect::HttpTemplate && (s.preset.is_some() || s.template.is_some()) {
        return Err((
            "dialect",
            "preset and template need dialect = \"http-template\"".into(),
        ));
    }
    if dialect == Dialect::Manual {
        return check_manual(s);
    }
    if !(s.base_url.starts_with("http://") || s.base_url.starts_with("https://")) {
        return Err(("base_url", "must start with http:// or https://".into()));
    }
    Ok(())
}

/// A manual supplier (the desk) sends nothing and has no balance: keys that only make
/// sense for a supplier reached over HTTP are refused rather than silently ignored.
fn check_manual(s: &SupplierCfg) -> Result<(), (&'static str, String)> {
    let unused = [
        ("base_url", !s.base_url.is_empty()),
        ("username", !s.username.is_empty()),
        ("key_env", s.key_env.is_some()),
        ("password_env", s.password_env.is_some()),
        ("callback_secret_env", s.callback_secret_env.is_some()),
        ("low_balance_rupiah", s.low_balance_rupiah.is_some()),
        ("testing", s.testing),
    ];
    if let Some((k, _)) = unused.iter().find(|(_, given)| *given) {
        return Err((
            *k,
            "a manual supplier (the desk) sends nothing and has no balance: remove this key".into(),
        ));
    }
    if s.desk_alert_after_s == 0 {
        return Err(("desk_alert_after_s", "must be above zero".into()));
    }
    Ok(())
}

/// The `http-template` supplier's template, checked: every placeholder known, every regex
/// and pointer valid, every sample reply of the preset still read as written (SPEC 6.1.1).
fn templated(s: &SupplierCfg, password: String) -> Result<Option<Templated>, Problem> {
    if s.dialect != "http-template" {
        return Ok(None);
    }
    if s.preset.is_none() && s.template.is_none() {
        return Err((
            "template".into(),
            "http-template needs a preset or a template".into(),
        ));
    }
    let t = siaga_suppliers::Template::load(s.preset.as_deref(), s.template.as_ref())
        .map_err(|e| (e.key, e.message))?;
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
        dialect: Dialect::parse(&s.dialect).unwrap_or(Dialect::Digiflazz),
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
        desk_alert_after: Duration::from_secs(s.desk_alert_after_s),
        callback_allow_ips: Vec::new(),
    }
}

/// `callback_allow_ips`: addresses and ranges; the key of the first bad entry.
fn allow_ips(entries: &[String]) -> Result<Vec<ipnet::IpNet>, Problem> {
    let mut nets = Vec::with_capacity(entries.len());
    for (j, e) in entries.iter().enumerate() {
        let one = crate::net::parse_nets(std::slice::from_ref(e))
            .map_err(|m| (format!("callback_allow_ips[{j}]"), m))?;
        nets.extend(one);
    }
    Ok(nets)
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

#[cfg(test)]
mod desk_tests;
