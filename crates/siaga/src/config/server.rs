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
