//! Configuration: the TOML file of SPEC 4, `SIAGA_<SECTION>__<KEY>` environment overrides,
//! and validation into typed [`Settings`]. Every error names the file, the line and the key.

pub mod backup;
pub mod notify;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use siaga_domain::routing::Strategy;
use siaga_domain::window::{parse_daily, Window};
use siaga_domain::{Operator, ProductCode, Rupiah};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerCfg,
    #[serde(default)]
    pub store: StoreCfg,
    #[serde(default)]
    pub orders: OrdersCfg,
    #[serde(default)]
    pub callbacks: CallbacksCfg,
    #[serde(default)]
    pub suppliers: Vec<SupplierCfg>,
    #[serde(default)]
    pub products: Vec<ProductCfg>,
    #[serde(default)]
    pub routing: RoutingCfg,
    #[serde(default)]
    pub health: HealthCfg,
    #[serde(default)]
    pub limits: LimitsCfg,
    // Sections read by features still being built; accepted so a full config loads.
    #[serde(default)]
    pub status: StatusCfg,
    #[serde(default)]
    pub smtp: Option<notify::SmtpCfg>,
    #[serde(default)]
    pub telegram: Option<notify::TelegramCfg>,
    #[serde(default)]
    pub notify: notify::NotifyCfg,
    #[serde(default)]
    pub webhooks: Vec<notify::WebhookCfg>,
    #[serde(default)]
    pub backup: Option<backup::BackupCfg>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerCfg {
    pub listen: String,
    pub public_url: String,
    pub admin_token_env: String,
    pub body_limit_bytes: usize,
}

impl Default for ServerCfg {
    fn default() -> Self {
        ServerCfg {
            listen: "127.0.0.1:8080".into(),
            public_url: "http://127.0.0.1:8080".into(),
            admin_token_env: "SIAGA_ADMIN_TOKEN".into(),
            body_limit_bytes: 64 * 1024,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreCfg {
    pub url: String,
}

impl Default for StoreCfg {
    fn default() -> Self {
        StoreCfg {
            url: "sqlite://siaga.db".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OrdersCfg {
    pub default_max_wait_s: u64,
    pub manual_review_after_s: u64,
}

impl Default for OrdersCfg {
    fn default() -> Self {
        OrdersCfg {
            default_max_wait_s: 900,
            manual_review_after_s: 86_400,
        }
    }
}

/// Delivery of reseller callbacks (siaga's own section).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallbacksCfg {
    pub timeout_ms: u64,
    /// First retry after this; doubles each time, capped at `retry_max_ms`.
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    /// Give up (mark dead) after this long.
    pub give_up_after_s: u64,
}

impl Default for CallbacksCfg {
    fn default() -> Self {
        CallbacksCfg {
            timeout_ms: 10_000,
            retry_base_ms: 5_000,
            retry_max_ms: 3_600_000,
            give_up_after_s: 86_400,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingCfg {
    pub strategy: Option<String>,
    /// Share of orders (0..1) sent to a route other than the adaptive favourite, so a
    /// recovered supplier is noticed.
    pub explore_share: Option<f64>,
}

/// The status page and automatic incidents.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatusCfg {
    /// A component worse than operational this long opens an incident (debounce).
    pub incident_after_s: u64,
    /// Healthy this long before an automatic incident resolves.
    pub resolve_after_s: u64,
    /// The page's title.
    pub page_name: String,
}

impl Default for StatusCfg {
    fn default() -> Self {
        StatusCfg {
            incident_after_s: 60,
            resolve_after_s: 300,
            page_name: "Status layanan".into(),
        }
    }
}

/// Supplier health: probes, circuit breakers, maintenance lead time, price-list sync.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthCfg {
    pub probe_interval_s: u64,
    /// Routes are skipped this long before an announced or learnt window starts.
    pub maintenance_lead_s: u64,
    pub breaker_consecutive_failures: u32,
    pub breaker_failure_rate: f64,
    pub breaker_window_attempts: usize,
    pub breaker_window_s: u64,
    pub breaker_open_base_ms: u64,
    pub breaker_open_max_ms: u64,
    /// How often the supplier price lists are synced (never more often than every 300 s).
    pub price_sync_interval_s: u64,
}

impl Default for HealthCfg {
    fn default() -> Self {
        HealthCfg {
            probe_interval_s: 30,
            maintenance_lead_s: 120,
            breaker_consecutive_failures: 3,
            breaker_failure_rate: 0.5,
            breaker_window_attempts: 20,
            breaker_window_s: 30,
            breaker_open_base_ms: 5_000,
            breaker_open_max_ms: 300_000,
            price_sync_interval_s: 300,
        }
    }
}

/// Overload protection (SPEC 15): GCRA rate limits (a rate per second and a burst; a rate of
/// 0 turns that limit off), a bound on orders being taken at once, and socket timeouts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsCfg {
    /// Requests per API key on `/v1` (a sustained rate; `per_key_burst` at once).
    pub per_key_per_s: u32,
    pub per_key_burst: u32,
    /// Requests per client IP on `/v1`, `/openapi.json` and `/admin`.
    pub per_ip_per_s: u32,
    pub per_ip_burst: u32,
    /// The public status page (`/`, `/history`, `/incidents/..`, `/api/v2/..`): per client IP,
    /// and for all clients together. Its own limiters, so a flood on one side leaves the
    /// other standing.
    pub status_per_ip_per_s: u32,
    pub status_per_ip_burst: u32,
    pub status_total_per_s: u32,
    pub status_total_burst: u32,
    /// `POST /subscribe` per client IP per minute (each one can send a confirmation email).
    pub subscribe_per_ip_per_min: u32,
    /// `POST /v1/orders` being taken at once; beyond it `503 overloaded` with `Retry-After`.
    pub max_inflight_orders: u32,
    /// Open client connections; beyond it new ones wait in the kernel's accept queue.
    pub max_connections: u32,
    /// Open connections from one client address (an IPv6 /64); beyond it a new one gets
    /// `503 overloaded` and is closed, so one host cannot take every connection.
    pub max_connections_per_ip: u32,
    /// Reverse proxies (addresses or ranges such as `10.0.0.0/8`) whose `X-Forwarded-For`
    /// names the client for the per-IP limits; their own connections are not capped.
    pub trusted_proxies: Vec<String>,
    /// The request line and headers must arrive within this; it also closes idle
    /// keep-alive connections.
    pub header_read_timeout_ms: u64,
    /// A whole request, body included, must be answered within this.
    pub request_timeout_ms: u64,
    /// A socket on which no byte moves (either way) this long is closed.
    pub socket_idle_timeout_ms: u64,
}

impl Default for LimitsCfg {
    fn default() -> Self {
        LimitsCfg {
            per_key_per_s: 100,
            per_key_burst: 200,
            per_ip_per_s: 300,
            per_ip_burst: 600,
            status_per_ip_per_s: 20,
            status_per_ip_burst: 60,
            status_total_per_s: 2_000,
            status_total_burst: 4_000,
            subscribe_per_ip_per_min: 6,
            max_inflight_orders: 512,
            max_connections: 4_096,
            max_connections_per_ip: 256,
            trusted_proxies: Vec::new(),
            header_read_timeout_ms: 10_000,
            request_timeout_ms: 30_000,
            socket_idle_timeout_ms: 60_000,
        }
    }
}

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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductCfg {
    pub code: String,
    pub name: String,
    pub operator: String,
    pub group: String,
    pub price: i64,
    #[serde(default)]
    pub routes: Vec<RouteCfg>,
    /// For products whose operator is not a mobile operator: allowed destination digits.
    #[serde(default)]
    pub destination_digits: Option<[u32; 2]>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteCfg {
    pub supplier: String,
    pub sku: String,
    pub cost: i64,
    #[serde(default)]
    pub priority: i64,
}

/// A configuration error: where and what.
#[derive(Debug, thiserror::Error)]
#[error("{file}{}: {key}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct ConfigError {
    pub file: String,
    pub line: Option<usize>,
    pub key: String,
    pub message: String,
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The line where `needle` first appears after the line holding `anchor` (or anywhere).
fn find_line(text: &str, anchor: Option<&str>, needle: &str) -> Option<usize> {
    let start = anchor.and_then(|a| text.find(a)).unwrap_or(0);
    text[start..].find(needle).map(|i| line_of(text, start + i))
}

/// Applies `SIAGA_<SECTION>__<KEY>=value` overrides to the document.
fn apply_env(doc: &mut toml_edit::DocumentMut, env: &[(String, String)]) -> Vec<String> {
    let mut applied = Vec::new();
    for (name, raw) in env {
        let Some(rest) = name.strip_prefix("SIAGA_") else {
            continue;
        };
        let Some((section, key)) = rest.split_once("__") else {
            continue;
        };
        if section.is_empty() || key.is_empty() {
            continue;
        }
        let (section, key) = (section.to_ascii_lowercase(), key.to_ascii_lowercase());
        let value: toml_edit::Value = raw
            .parse::<toml_edit::Value>()
            .ok()
            .filter(|v| !v.is_str() || raw.trim_start().starts_with(['"', '\'']))
            .unwrap_or_else(|| toml_edit::Value::from(raw.as_str()));
        if !doc.contains_key(&section) {
            doc[&section] = toml_edit::table();
        }
        if let Some(t) = doc[&section].as_table_like_mut() {
            t.insert(&key, toml_edit::Item::Value(value));
            applied.push(format!("{section}.{key}"));
        }
    }
    applied
}

/// Parses config text (with env overrides) into [`Config`].
pub fn parse(text: &str, file: &str, env: &[(String, String)]) -> Result<Config, ConfigError> {
    let err = |line, key: &str, message: String| ConfigError {
        file: file.into(),
        line,
        key: key.into(),
        message,
    };
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
        let line = e.span().map(|s| line_of(text, s.start));
        err(line, "(syntax)", e.message().trim().to_string())
    })?;
    let overridden = apply_env(&mut doc, env);
    let merged = doc.to_string();
    let de = toml::Deserializer::new(&merged);
    serde_path_to_error::deserialize::<_, Config>(de).map_err(|e| {
        let key = e.path().to_string();
        let inner = e.into_inner();
        let line = inner.span().map(|s| line_of(&merged, s.start));
        let mut message = inner.message().trim().to_string();
        if overridden.iter().any(|o| key.starts_with(o.as_str())) {
            message.push_str(" (value set by an environment override)");
        }
        err(line, &key, message)
    })
}

/// The running configuration, validated and with secrets resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    pub file: Option<PathBuf>,
    pub listen: String,
    pub public_url: String,
    pub admin_token: Option<String>,
    pub store_path: PathBuf,
    pub body_limit_bytes: usize,
    pub orders: OrdersCfg,
    pub callbacks: CallbacksCfg,
    pub suppliers: Vec<Supplier>,
    pub products: Vec<Product>,
    pub health: HealthCfg,
    pub status: StatusCfg,
    pub strategy: Strategy,
    pub explore_share: f64,
    pub notify: notify::NotifySettings,
    pub limits: LimitsCfg,
    /// Scheduled backups (`[backup]`); none without the section.
    pub backup: Option<backup::BackupSettings>,
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
}

/// How a product's destination is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DestinationRule {
    Mobile(Operator),
    /// A non-mobile product (PLN token, e-wallet...): digits only, this many.
    Digits {
        operator: String,
        min: u32,
        max: u32,
    },
}

#[derive(Debug, Clone)]
pub struct Product {
    pub code: ProductCode,
    pub name: String,
    pub group: String,
    pub price: Rupiah,
    pub rule: DestinationRule,
    /// Sorted by priority (lowest first), then config order.
    pub routes: Vec<Route>,
}

impl Product {
    pub fn operator_name(&self) -> &str {
        match &self.rule {
            DestinationRule::Mobile(o) => o.name(),
            DestinationRule::Digits { operator, .. } => operator,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub supplier: String,
    pub sku: String,
    pub cost: Rupiah,
    pub priority: i64,
}

impl Settings {
    pub fn product(&self, code: &str) -> Option<&Product> {
        self.products.iter().find(|p| p.code.as_str() == code)
    }

    pub fn supplier(&self, id: &str) -> Option<&Supplier> {
        self.suppliers.iter().find(|s| s.id == id)
    }
}

/// Validates a parsed config. `base` is the folder relative store paths are resolved
/// against; `getenv` resolves the secrets named by `*_env` keys.
pub fn validate(
    cfg: &Config,
    text: &str,
    file: &str,
    base: &Path,
    getenv: &dyn Fn(&str) -> Option<String>,
) -> Result<Settings, ConfigError> {
    let err = |line: Option<usize>, key: String, message: String| ConfigError {
        file: file.into(),
        line,
        key,
        message,
    };
    let store_path = store_path(&cfg.store.url, base).map_err(|m| {
        err(
            find_line(text, Some("[store]"), "url"),
            "store.url".into(),
            m,
        )
    })?;
    if cfg.server.listen.parse::<std::net::SocketAddr>().is_err() {
        return Err(err(
            find_line(text, Some("[server]"), "listen"),
            "server.listen".into(),
            "must be an address like 127.0.0.1:8080".into(),
        ));
    }
    let mut suppliers = Vec::new();
    let mut ids = HashSet::new();
    for (i, s) in cfg.suppliers.iter().enumerate() {
        let anchor = format!("\"{}\"", s.id);
        let at = |k: &str| find_line(text, Some(&anchor), k);
        let key = |k: &str| format!("suppliers[{i}].{k}");
        if s.id.is_empty()
            || !s
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(err(
                at("id"),
                key("id"),
                "must be letters, digits, - or _".into(),
            ));
        }
        if !ids.insert(s.id.clone()) {
            return Err(err(
                at("id"),
                key("id"),
                format!("supplier id {:?} is used twice", s.id),
            ));
        }
        if s.dialect != "digiflazz" {
            return Err(err(
                at("dialect"),
                key("dialect"),
                format!(
                    "dialect {:?} is not available in this build (digiflazz)",
                    s.dialect
                ),
            ));
        }
        if !(s.base_url.starts_with("http://") || s.base_url.starts_with("https://")) {
            return Err(err(
                at("base_url"),
                key("base_url"),
                "must start with http:// or https://".into(),
            ));
        }
        let resolve = |k: &str, name: &Option<String>| -> Result<Option<String>, ConfigError> {
            match name {
                None => Ok(None),
                Some(n) => getenv(n).map(Some).ok_or_else(|| {
                    err(
                        at(k),
                        key(k),
                        format!("environment variable {n} is not set"),
                    )
                }),
            }
        };
        let key_value = resolve("key_env", &s.key_env)?.unwrap_or_default();
        let callback_secret = resolve("callback_secret_env", &s.callback_secret_env)?;
        if s.timeout_ms == 0 || s.inquiry_min_interval_s == 0 || s.max_concurrency == 0 {
            return Err(err(
                at("timeout_ms"),
                key("timeout_ms"),
                "timeout_ms, inquiry_min_interval_s and max_concurrency must be above zero".into(),
            ));
        }
        let mut windows = Vec::new();
        for (j, w) in s.maintenance.iter().enumerate() {
            let wkey = key(&format!("maintenance[{j}]"));
            let w = parse_window(w).map_err(|m| err(at("maintenance"), wkey, m))?;
            windows.push(w);
        }
        suppliers.push(Supplier {
            id: s.id.clone(),
            base_url: s.base_url.clone(),
            username: s.username.clone(),
            key: key_value,
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
        });
    }
    let mut products = Vec::new();
    let mut codes = HashSet::new();
    for (i, p) in cfg.products.iter().enumerate() {
        let anchor = format!("\"{}\"", p.code);
        let at = |k: &str| find_line(text, Some(&anchor), k);
        let key = |k: &str| format!("products[{i}].{k}");
        let code =
            ProductCode::parse(&p.code).map_err(|e| err(at("code"), key("code"), e.to_string()))?;
        if !codes.insert(p.code.clone()) {
            return Err(err(
                at("code"),
                key("code"),
                format!("product code {:?} is used twice", p.code),
            ));
        }
        let price =
            Rupiah::positive(p.price).map_err(|e| err(at("price"), key("price"), e.to_string()))?;
        let rule = match (Operator::from_name(&p.operator), p.destination_digits) {
            (Some(op), None) => DestinationRule::Mobile(op),
            (_, Some([min, max])) if min >= 1 && min <= max && max <= 32 => {
                DestinationRule::Digits { operator: p.operator.clone(), min, max }
            }
            (_, Some(_)) => {
                return Err(err(at("destination_digits"), key("destination_digits"), "must be [min, max] with 1 <= min <= max <= 32".into()))
            }
            (None, None) => {
                return Err(err(at("operator"), key("operator"), format!(
                    "{:?} is not a mobile operator (telkomsel, indosat, xl, axis, tri, smartfren); other products need destination_digits = [min, max]",
                    p.operator
                )))
            }
        };
        let mut routes = Vec::new();
        for (j, r) in p.routes.iter().enumerate() {
            let rkey = format!("products[{i}].routes[{j}]");
            if !ids.contains(&r.supplier) {
                return Err(err(
                    at(&format!("\"{}\"", r.supplier)),
                    format!("{rkey}.supplier"),
                    format!("no supplier with id {:?}", r.supplier),
                ));
            }
            let cost = Rupiah::positive(r.cost)
                .map_err(|e| err(at("cost"), format!("{rkey}.cost"), e.to_string()))?;
            if r.sku.is_empty() {
                return Err(err(
                    at("sku"),
                    format!("{rkey}.sku"),
                    "must not be empty".into(),
                ));
            }
            routes.push(Route {
                supplier: r.supplier.clone(),
                sku: r.sku.clone(),
                cost,
                priority: r.priority,
            });
        }
        routes.sort_by_key(|r| r.priority);
        products.push(Product {
            code,
            name: p.name.clone(),
            group: p.group.clone(),
            price,
            rule,
            routes,
        });
    }
    let strategy = match cfg.routing.strategy.as_deref() {
        None => Strategy::Priority,
        Some(x) => Strategy::parse(x).ok_or_else(|| {
            err(
                find_line(text, Some("[routing]"), "strategy"),
                "routing.strategy".into(),
                "must be priority, cheapest or adaptive".into(),
            )
        })?,
    };
    let explore_share = cfg.routing.explore_share.unwrap_or(0.05);
    if !(0.0..=0.5).contains(&explore_share) {
        return Err(err(
            find_line(text, Some("[routing]"), "explore_share"),
            "routing.explore_share".into(),
            "must be between 0 and 0.5".into(),
        ));
    }
    let notify = notify::validate(
        cfg.smtp.as_ref(),
        cfg.telegram.as_ref(),
        &cfg.notify,
        &cfg.webhooks,
        getenv,
    )
    .map_err(|(key, message)| {
        let (section, field) = key.split_once('.').unwrap_or((key.as_str(), ""));
        let field = field.split('.').next_back().unwrap_or(field);
        let anchor = format!("[{}", section.split('[').next().unwrap_or(section));
        err(find_line(text, Some(&anchor), field), key.clone(), message)
    })?;
    for (i, s) in cfg.suppliers.iter().enumerate() {
        if let Some(e) = &s.contact_email {
            if e.parse::<lettre::Address>().is_err() {
                return Err(err(
                    find_line(text, Some(&format!("\"{}\"", s.id)), "contact_email"),
                    format!("suppliers[{i}].contact_email"),
                    "must be an email address".into(),
                ));
            }
        }
    }
    let limits = cfg.limits.clone();
    if let Err(message) = crate::net::Proxies::parse(&limits.trusted_proxies) {
        return Err(err(
            find_line(text, Some("[limits]"), "trusted_proxies"),
            "limits.trusted_proxies".into(),
            message,
        ));
    }
    for (key, value) in [
        ("max_inflight_orders", u64::from(limits.max_inflight_orders)),
        ("max_connections", u64::from(limits.max_connections)),
        (
            "max_connections_per_ip",
            u64::from(limits.max_connections_per_ip),
        ),
        ("header_read_timeout_ms", limits.header_read_timeout_ms),
        ("request_timeout_ms", limits.request_timeout_ms),
        ("socket_idle_timeout_ms", limits.socket_idle_timeout_ms),
    ] {
        if value == 0 {
            return Err(err(
                find_line(text, Some("[limits]"), key),
                format!("limits.{key}"),
                "must be above zero".into(),
            ));
        }
    }
    let backup = match &cfg.backup {
        Some(b) => Some(backup::settings(b, base).map_err(|(key, message)| {
            err(
                find_line(text, Some("[backup]"), &key),
                format!("backup.{key}"),
                message,
            )
        })?),
        None => None,
    };
    let mut health = cfg.health.clone();
    health.price_sync_interval_s = health.price_sync_interval_s.max(300);
    health.probe_interval_s = health.probe_interval_s.max(1);
    Ok(Settings {
        file: Some(PathBuf::from(file)),
        listen: cfg.server.listen.clone(),
        public_url: cfg.server.public_url.trim_end_matches('/').to_owned(),
        admin_token: getenv(&cfg.server.admin_token_env).filter(|t| !t.is_empty()),
        store_path,
        body_limit_bytes: cfg.server.body_limit_bytes.max(1024),
        orders: cfg.orders.clone(),
        callbacks: cfg.callbacks.clone(),
        suppliers,
        products,
        health,
        status: cfg.status.clone(),
        strategy,
        explore_share,
        notify,
        limits,
        backup,
    })
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

/// `sqlite://siaga.db` (relative to the config's folder) or `sqlite:///abs/path.db`.
pub fn store_path(url: &str, base: &Path) -> Result<PathBuf, String> {
    let Some(rest) = url.strip_prefix("sqlite://") else {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Err("PostgreSQL is not available in this build yet; use sqlite://FILE".into());
        }
        return Err("must be sqlite://FILE".into());
    };
    if rest.is_empty() {
        return Err("must name a file, e.g. sqlite://siaga.db".into());
    }
    let p = Path::new(rest);
    Ok(if p.is_absolute() {
        p.to_owned()
    } else {
        base.join(p)
    })
}

/// Loads and validates the config file at `path`, with the process environment.
pub fn load(path: &Path) -> anyhow::Result<Settings> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        anyhow::anyhow!("{file}: cannot read the config file ({e}); create one with `siaga init`")
    })?;
    let env: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.starts_with("SIAGA_") && k.contains("__"))
        .collect();
    let cfg = parse(&text, &file, &env)?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let base = if base.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        base
    };
    Ok(validate(&cfg, &text, &file, &base, &|k| {
        std::env::var(k).ok()
    })?)
}

/// The commented starter config written by `siaga init`.
pub const STARTER: &str = include_str!("starter.toml");

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<Settings, ConfigError> {
        let cfg = parse(text, "t.toml", &[])?;
        validate(&cfg, text, "t.toml", Path::new("/tmp"), &|k| {
            (k == "DIGI_KEY").then(|| "k".to_string())
        })
    }

    #[test]
    fn starter_config_is_valid() {
        let cfg = parse(STARTER, "siaga.toml", &[]).unwrap();
        let s = validate(&cfg, STARTER, "siaga.toml", Path::new("/srv"), &|_| {
            Some("x".into())
        })
        .unwrap();
        assert_eq!(s.store_path, PathBuf::from("/srv/siaga.db"));
        assert!(!s.products.is_empty());
        assert_eq!(s.limits.per_key_per_s, LimitsCfg::default().per_key_per_s);
    }

    #[test]
    fn limits_have_defaults_env_overrides_and_checks() {
        let s = check("").unwrap();
        assert_eq!(s.limits.max_inflight_orders, 512);
        let env = vec![("SIAGA_LIMITS__PER_KEY_PER_S".to_string(), "7".to_string())];
        let cfg = parse("[limits]\nper_key_burst = 9\n", "t.toml", &env).unwrap();
        assert_eq!((cfg.limits.per_key_per_s, cfg.limits.per_key_burst), (7, 9));
        let e = check("[limits]\nmax_inflight_orders = 0\n").unwrap_err();
        assert_eq!(
            (e.key.as_str(), e.line),
            ("limits.max_inflight_orders", Some(2))
        );
        let e = check("[limits]\nper_key = 1\n").unwrap_err();
        assert_eq!(e.key, "limits.per_key");
        let s = check("[limits]\ntrusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\"]\n").unwrap();
        assert_eq!(s.limits.trusted_proxies.len(), 2);
        let e = check("[limits]\n\ntrusted_proxies = [\"nginx\"]\n").unwrap_err();
        assert_eq!(
            (e.key.as_str(), e.line),
            ("limits.trusted_proxies", Some(3))
        );
        assert!(e.message.contains("nginx"), "{e}");
        let s = check("[backup]\ndir = \"b\"\n").unwrap();
        let b = s.backup.unwrap();
        assert_eq!((b.every.as_secs(), b.keep), (3_600, 48));
        let e = check("[backup]\ndir = \"b\"\nevery = \"10s\"\n").unwrap_err();
        assert_eq!((e.key.as_str(), e.line), ("backup.every", Some(3)));
        let e = check("[backup]\nevery = \"1h\"\n").unwrap_err();
        assert!(e.key.starts_with("backup"), "{e}");
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let text =
            "[server]\nlisten = \"127.0.0.1:1\"\n\n[orders]\ndefault_max_wait_s = \"soon\"\n";
        let e = check(text).unwrap_err();
        assert_eq!(e.file, "t.toml");
        assert_eq!(e.line, Some(5));
        assert_eq!(e.key, "orders.default_max_wait_s");
        let e = check("[server]\nlisen = \"x\"\n").unwrap_err();
        assert_eq!(e.key, "server.lisen");
        assert!(e.message.contains("lisen"), "{e}");
        assert_eq!(e.line, Some(2));
        let text = "[[suppliers]]\nid = \"digi\"\nbase_url = \"http://x/v1\"\n\n[[products]]\ncode = \"T1\"\nname = \"n\"\noperator = \"telkomsel\"\ngroup = \"g\"\nprice = 100\nroutes = [{ supplier = \"nope\", sku = \"a\", cost = 90 }]\n";
        let e = check(text).unwrap_err();
        assert_eq!(e.key, "products[0].routes[0].supplier");
        assert_eq!(e.line, Some(11));
        let text =
            "[[suppliers]]\nid = \"digi\"\nbase_url = \"http://x/v1\"\nkey_env = \"MISSING\"\n";
        let e = check(text).unwrap_err();
        assert_eq!((e.key.as_str(), e.line), ("suppliers[0].key_env", Some(4)));
        assert!(
            e.to_string().starts_with("t.toml:4: suppliers[0].key_env:"),
            "{e}"
        );
    }

    #[test]
    fn notification_sections_parse_and_errors_name_their_key() {
        let text = "[smtp]\nhost = \"127.0.0.1\"\nport = 2525\ntls = \"none\"\nfrom = \"Status <s@example.com>\"\n\n[telegram]\nbot_token_env = \"DIGI_KEY\"\nchat_id = \"@status\"\n\n[notify]\nowner_emails = [\"owner@example.com\"]\ncoalesce_s = 60\n\n[[webhooks]]\nname = \"chat\"\nurl = \"http://127.0.0.1:9/hook\"\nformat = \"chat\"\n";
        let s = check(text).unwrap();
        let smtp = s.notify.smtp.as_ref().unwrap();
        assert_eq!((smtp.port, smtp.tls), (2525, notify::Tls::None));
        assert_eq!(s.notify.telegram.as_ref().unwrap().token, "k");
        assert_eq!(s.notify.coalesce_ms, 60_000);
        assert_eq!(s.notify.webhooks[0].format, notify::Format::Chat);
        let e = check("[smtp]\nhost = \"h\"\nfrom = \"nobody\"\n").unwrap_err();
        assert_eq!((e.key.as_str(), e.line), ("smtp.from", Some(3)));
        let e = check("[notify]\nowner_emails = [\"x\"]\n").unwrap_err();
        assert_eq!(e.key, "notify.owner_emails[0]");
        let e = check("[telegram]\nbot_token_env = \"MISSING\"\n").unwrap_err();
        assert_eq!(
            (e.key.as_str(), e.line),
            ("telegram.bot_token_env", Some(2))
        );
        let e = check("[[webhooks]]\nname = \"x\"\nurl = \"ftp://x\"\n").unwrap_err();
        assert_eq!(e.key, "webhooks[0].url");
    }

    #[test]
    fn env_overrides_win() {
        let env = vec![
            (
                "SIAGA_SERVER__LISTEN".to_string(),
                "127.0.0.1:9999".to_string(),
            ),
            (
                "SIAGA_ORDERS__DEFAULT_MAX_WAIT_S".to_string(),
                "0".to_string(),
            ),
        ];
        let cfg = parse("[server]\nlisten = \"127.0.0.1:1\"\n", "t.toml", &env).unwrap();
        assert_eq!(cfg.server.listen, "127.0.0.1:9999");
        assert_eq!(cfg.orders.default_max_wait_s, 0);
        let bad = vec![(
            "SIAGA_ORDERS__DEFAULT_MAX_WAIT_S".to_string(),
            "soon".to_string(),
        )];
        let e = parse("", "t.toml", &bad).unwrap_err();
        assert!(e.message.contains("environment override"), "{e}");
    }
}
