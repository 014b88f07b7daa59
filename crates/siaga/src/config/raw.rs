//! What the TOML file deserialises into: the document ([`Config`]) and the plain sections
//! that pass into [`super::Settings`] as they are, each with its defaults. The sections with
//! checks of their own (suppliers, products, notify, backup) keep their raw types next to
//! those checks.

use serde::Deserialize;

use super::backup::BackupCfg;
use super::channels::ChannelsCfg;
use super::contract::ReportsCfg;
use super::env::Override;
use super::notify::{NotifyCfg, SmtpCfg, TelegramCfg, WebhookCfg};
use super::products::ProductCfg;
use super::suppliers::SupplierCfg;

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
    pub smtp: Option<SmtpCfg>,
    #[serde(default)]
    pub telegram: Option<TelegramCfg>,
    #[serde(default)]
    pub notify: NotifyCfg,
    #[serde(default)]
    pub webhooks: Vec<WebhookCfg>,
    #[serde(default)]
    pub backup: Option<BackupCfg>,
    /// Text commands over chat (SPEC 5.2): `[channels.telegram]`.
    #[serde(default)]
    pub channels: ChannelsCfg,
    /// The SLA reports (SPEC 11): time zone, monthly email.
    #[serde(default)]
    pub reports: ReportsCfg,
    /// The keys set by `SIAGA_<SECTION>__<KEY>` variables, so an error about one names its
    /// variable instead of a line of the file.
    #[serde(skip)]
    pub overrides: Vec<Override>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerCfg {
    pub listen: String,
    pub public_url: String,
    pub admin_token_env: String,
    pub body_limit_bytes: usize,
    /// `/metrics` on its own listener (SPEC 13); unset, there is none.
    pub metrics_listen: Option<String>,
    /// The env var holding the bearer token that opens `/metrics` on the public listener;
    /// unset, `/metrics` there is always 401.
    pub metrics_token_env: Option<String>,
    /// This node's name among several on one PostgreSQL (SPEC 12); default the host name
    /// and the listen port.
    pub node_id: Option<String>,
    /// How long a node may be silent before another takes its orders over (SPEC 12).
    pub takeover_after_s: u64,
}

impl Default for ServerCfg {
    fn default() -> Self {
        ServerCfg {
            listen: "127.0.0.1:8080".into(),
            public_url: "http://127.0.0.1:8080".into(),
            admin_token_env: "SIAGA_ADMIN_TOKEN".into(),
            body_limit_bytes: 64 * 1024,
            metrics_listen: None,
            metrics_token_env: None,
            node_id: None,
            takeover_after_s: 10,
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
    /// A logo shown beside the title: a path on this site, a `data:image/` URI, or an
    /// https URL on `server.public_url`'s host (the only images the page's policy allows).
    pub logo_url: Option<String>,
}

impl Default for StatusCfg {
    fn default() -> Self {
        StatusCfg {
            incident_after_s: 60,
            resolve_after_s: 300,
            page_name: "Status layanan".into(),
            logo_url: None,
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
