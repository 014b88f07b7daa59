//! The running configuration ([`Settings`]): every section checked, defaults and floors
//! applied, secrets resolved. [`validate`] runs the checks of each section in turn.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use siaga_domain::routing::Strategy;

use super::locate::{ConfigError, Place, Problem};
use super::products::Product;
use super::raw::{CallbacksCfg, Config, HealthCfg, LimitsCfg, OrdersCfg, StatusCfg};
use super::suppliers::Supplier;
use super::{backup, channels, contract, notify, products, server, suppliers};

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
    /// Where `/metrics` may be read (SPEC 13).
    pub metrics: MetricsAccess,
    /// `[reports]`: the business time zone, the monthly email (SPEC 11).
    pub reports: contract::ReportsSettings,
    /// `[channels.telegram]`: the bot resellers order through (SPEC 5.2); none without it.
    pub telegram_bot: Option<channels::TelegramBot>,
    /// This node among several on one database (SPEC 12).
    pub cluster: server::ClusterSettings,
}

/// Where `/metrics` may be read: its own listener, and on the public one only with the
/// bearer token. Neither by default: the public `/metrics` answers 401.
#[derive(Debug, Clone, Default)]
pub struct MetricsAccess {
    pub listen: Option<String>,
    pub token: Option<String>,
}

impl Settings {
    pub fn product(&self, code: &str) -> Option<&Product> {
        self.products.iter().find(|p| p.code.as_str() == code)
    }

    pub fn supplier(&self, id: &str) -> Option<&Supplier> {
        self.suppliers.iter().find(|s| s.id == id)
    }
}

/// Validates a parsed config. `text` is the file's text (for the line of a key in error);
/// `base` is the folder relative store paths are resolved against; `getenv` resolves the
/// secrets named by `*_env` keys.
pub fn validate(
    cfg: &Config,
    text: &str,
    file: &str,
    base: &Path,
    getenv: &dyn Fn(&str) -> Option<String>,
) -> Result<Settings, ConfigError> {
    settings(cfg, file, base, getenv).map_err(|p| Place::new(file, text, &cfg.overrides).error(p))
}

/// `scheme://host[:port]` of a URL.
fn origin(url: &str) -> &str {
    let rest = url.find("://").map_or(0, |i| i + 3);
    url[rest..].find('/').map_or(url, |i| &url[..rest + i])
}

/// `status.logo_url`: an image the page's Content-Security-Policy (`img-src 'self' data:`)
/// lets the browser show.
fn check_logo(logo: Option<&str>, public_url: &str) -> Result<(), Problem> {
    let Some(logo) = logo else { return Ok(()) };
    let same_site = logo.starts_with('/') && !logo.starts_with("//");
    let https_here = logo.starts_with("https://")
        && origin(logo).eq_ignore_ascii_case(origin(public_url.trim_end_matches('/')));
    if same_site || https_here || logo.starts_with("data:image/") {
        return Ok(());
    }
    Err((
        "status.logo_url".into(),
        "must be a path on this site (/logo.svg), a data:image/ URI, or an https URL on \
         server.public_url's host: the status page's Content-Security-Policy shows images from \
         nowhere else"
            .into(),
    ))
}

/// The checks, in the order their errors are reported.
fn settings(
    cfg: &Config,
    file: &str,
    base: &Path,
    getenv: &dyn Fn(&str) -> Option<String>,
) -> Result<Settings, Problem> {
    let store_path =
        server::store_path(&cfg.store.url, base).map_err(|m| ("store.url".to_string(), m))?;
    server::check_listen(&cfg.server)?;
    let cluster = server::cluster(&cfg.server, &cfg.store.url)?;
    let metrics = server::metrics(&cfg.server, getenv)?;
    let suppliers = suppliers::check(&cfg.suppliers, getenv)?;
    let ids: HashSet<&str> = suppliers.iter().map(|s| s.id.as_str()).collect();
    let products = products::check(&cfg.products, &ids)?;
    let (strategy, explore_share) = server::routing(&cfg.routing)?;
    let notify = notify::validate(
        cfg.smtp.as_ref(),
        cfg.telegram.as_ref(),
        &cfg.notify,
        &cfg.webhooks,
        getenv,
    )?;
    suppliers::check_contacts(&cfg.suppliers)?;
    server::check_limits(&cfg.limits)?;
    check_logo(cfg.status.logo_url.as_deref(), &cfg.server.public_url)?;
    let backup = match &cfg.backup {
        Some(b) => Some(backup::settings(b, base).map_err(|(k, m)| (format!("backup.{k}"), m))?),
        None => None,
    };
    let reports = contract::reports(&cfg.reports)?;
    let telegram_bot = channels::check(&cfg.channels, getenv)?;
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
        limits: cfg.limits.clone(),
        backup,
        metrics,
        reports,
        telegram_bot,
        cluster,
    })
}

#[cfg(test)]
mod tests {
    use super::check_logo;

    #[test]
    fn a_logo_is_one_the_page_may_show() {
        let site = "https://status.example.id/";
        for ok in [
            None,
            Some("/logo.svg"),
            Some("data:image/png;base64,iVBORw0KGgo="),
            Some("https://status.example.id/img/logo.png"),
            Some("https://STATUS.example.id/logo.png"),
        ] {
            assert!(check_logo(ok, site).is_ok(), "{ok:?}");
        }
        for bad in [
            "//cdn.example.com/logo.png",
            "https://cdn.example.com/logo.png",
            "https://status.example.id.evil.test/logo.png",
            "http://status.example.id/logo.png",
            "javascript:alert(1)",
            "logo.png",
        ] {
            let e = check_logo(Some(bad), site).unwrap_err();
            assert_eq!(e.0, "status.logo_url", "{bad}");
        }
    }
}
