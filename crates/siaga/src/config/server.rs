//! The small sections with a check or two: `[server]` (the listen address), `[store]` (the
//! database URL), `[routing]` (strategy, exploration) and `[limits]` (no zero caps, proxies
//! that parse).

use std::path::{Path, PathBuf};

use siaga_domain::routing::Strategy;

use super::locate::Problem;
use super::raw::{LimitsCfg, RoutingCfg, ServerCfg};
use super::settings::MetricsAccess;

/// `server.listen` must be a socket address.
pub fn check_listen(server: &ServerCfg) -> Result<(), Problem> {
    if server.listen.parse::<std::net::SocketAddr>().is_err() {
        return Err((
            "server.listen".into(),
            "must be an address like 127.0.0.1:8080".into(),
        ));
    }
    Ok(())
}

/// Who this node is among several on one database, and how long a silent node keeps its
/// orders (SPEC 12).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSettings {
    pub node_id: String,
    pub takeover_after_ms: i64,
    /// The store is shared by several nodes (PostgreSQL): fresh callbacks are delivered
    /// by the node that settled the order, the leader only retries.
    pub shared_store: bool,
}

impl ClusterSettings {
    /// One node alone on its store (tests, the demo, the benchmark).
    pub fn single(node_id: &str) -> ClusterSettings {
        ClusterSettings {
            node_id: node_id.to_owned(),
            takeover_after_ms: 10_000,
            shared_store: false,
        }
    }
}

/// `server.node_id` (default `HOST:PORT`: this machine's name and the listen port) and
/// `server.takeover_after_s` (2 to 600 seconds).
pub fn cluster(server: &ServerCfg, store_url: &str) -> Result<ClusterSettings, Problem> {
    let node_id = match &server.node_id {
        Some(id) => {
            let ok = !id.is_empty()
                && id.len() <= 64
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c));
            if !ok {
                return Err((
                    "server.node_id".into(),
                    "must be 1 to 64 letters, digits, '-', '_', '.' or ':'".into(),
                ));
            }
            id.clone()
        }
        None => {
            let host = hostname::get()
                .ok()
                .and_then(|h| h.into_string().ok())
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "siaga".into());
            let port = server.listen.rsplit(':').next().unwrap_or("8080");
            format!("{host}:{port}")
        }
    };
    if !(2..=600).contains(&server.takeover_after_s) {
        return Err((
            "server.takeover_after_s".into(),
            "must be 2 to 600 seconds".into(),
        ));
    }
    Ok(ClusterSettings {
        node_id,
        takeover_after_ms: server.takeover_after_s as i64 * 1000,
        shared_store: store_url.starts_with("postgres://")
            || store_url.starts_with("postgresql://"),
    })
}

/// `server.metrics_listen` must be a socket address; the token named by
/// `server.metrics_token_env` must be set and strong when the key is given.
pub fn metrics(
    server: &ServerCfg,
    getenv: &dyn Fn(&str) -> Option<String>,
) -> Result<MetricsAccess, Problem> {
    if let Some(l) = &server.metrics_listen {
        if l.parse::<std::net::SocketAddr>().is_err() {
            return Err((
                "server.metrics_listen".into(),
                "must be an address like 127.0.0.1:9464".into(),
            ));
        }
    }
    let token = match &server.metrics_token_env {
        Some(var) => {
            let t = getenv(var).filter(|t| !t.is_empty()).ok_or_else(|| {
                (
                    "server.metrics_token_env".to_string(),
                    format!("the environment variable {var} is not set"),
                )
            })?;
            check_token(&t).map_err(|m| {
                (
                    "server.metrics_token_env".to_string(),
                    format!("the token in {var} {m}"),
                )
            })?;
            Some(t)
        }
        None => None,
    };
    Ok(MetricsAccess {
        listen: server.metrics_listen.clone(),
        token,
    })
}

/// The fewest characters a bearer token (admin, metrics) may have.
pub const MIN_TOKEN_CHARS: usize = 32;

/// A bearer token must be long enough not to be guessed: `Err` says why, and how to make
/// a good one.
pub fn check_token(token: &str) -> Result<(), String> {
    let n = token.chars().count();
    if n < MIN_TOKEN_CHARS {
        return Err(format!(
            "is {n} characters; it must be at least {MIN_TOKEN_CHARS} (make one with `openssl rand -hex 32`)"
        ));
    }
    if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("has spaces or control characters".into());
    }
    Ok(())
}

/// The strategy (priority by default) and the explore share (0.05 by default, at most 0.5).
pub fn routing(cfg: &RoutingCfg) -> Result<(Strategy, f64), Problem> {
    let strategy = match cfg.strategy.as_deref() {
        None => Strategy::Priority,
        Some(x) => Strategy::parse(x).ok_or_else(|| {
            (
                "routing.strategy".to_string(),
                "must be priority, cheapest or adaptive".to_string(),
            )
        })?,
    };
    let explore_share = cfg.explore_share.unwrap_or(0.05);
    if !(0.0..=0.5).contains(&explore_share) {
        return Err((
            "routing.explore_share".into(),
            "must be between 0 and 0.5".into(),
        ));
    }
    Ok((strategy, explore_share))
}

/// Trusted proxies must parse; caps and timeouts must be above zero (a rate of 0 is fine:
/// it turns that limit off).
pub fn check_limits(limits: &LimitsCfg) -> Result<(), Problem> {
    if let Err(message) = crate::net::Proxies::parse(&limits.trusted_proxies) {
        return Err(("limits.trusted_proxies".into(), message));
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
            return Err((format!("limits.{key}"), "must be above zero".into()));
        }
    }
    Ok(())
}

/// `sqlite://siaga.db` (relative to the config's folder) or `sqlite:///abs/path.db`; a
/// `postgres://` (or `postgresql://`) URL is kept as given, for `siaga_store` to open.
pub fn store_path(url: &str, base: &Path) -> Result<PathBuf, String> {
    let Some(rest) = url.strip_prefix("sqlite://") else {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(PathBuf::from(url));
        }
        return Err("must be sqlite://FILE or postgres://USER@HOST/DB".into());
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
