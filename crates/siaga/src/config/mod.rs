//! Configuration: the TOML file of SPEC 4, `SIAGA_<SECTION>__<KEY>` environment overrides,
//! and validation into typed [`Settings`]. Every error names the file, the line and the key.
//!
//! The rooms: [`raw`] is what the file deserialises into, [`env`] the environment overlay,
//! [`parse`](mod@parse) text to raw, [`locate`] the line of a key in error (from toml spans),
//! [`settings`] the validated form; each section with checks of its own has its room
//! ([`server`], [`suppliers`], [`products`], [`notify`], [`backup`], [`channels`]); [`adapter`] what a
//! templated supplier's adapter is built from; [`check`] the summary `siaga config check`
//! prints; [`contract`] supplier contracts and `[reports]`. This module imports
//! only leaves (`clock`, `net`, `webhook`), never a worker or the HTTP edge.

pub mod adapter;
pub mod backup;
pub mod channels;
pub mod check;
pub mod contract;
pub mod env;
pub mod live;
pub mod locate;
pub mod notify;
pub mod parse;
pub mod products;
pub mod raw;
pub mod reload;
pub mod server;
pub mod settings;
pub mod suppliers;

use std::path::{Path, PathBuf};

pub use live::Live;
pub use locate::ConfigError;
pub use parse::parse;
pub use products::{affected_groups, DestinationRule, Product, ProductCfg, Route, RouteCfg};
pub use raw::{
    CallbacksCfg, Config, HealthCfg, LimitsCfg, OrdersCfg, RoutingCfg, ServerCfg, StatusCfg,
    StoreCfg,
};
pub use server::store_path;
pub use settings::{validate, MetricsAccess, Settings};
pub use suppliers::{manual_ids, parse_window, Dialect, Supplier, SupplierCfg, Templated};

/// Loads and validates the config file at `path`, with the process environment.
pub fn load(path: &Path) -> anyhow::Result<Settings> {
    load_both(path).map(|(_, s)| s)
}

/// [`load`], also giving the file as written (for `siaga config check`'s summary).
pub fn load_both(path: &Path) -> anyhow::Result<(Config, Settings)> {
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
    let settings = validate(&cfg, &text, &file, &base, &|k| std::env::var(k).ok())?;
    Ok((cfg, settings))
}

/// The commented starter config written by `siaga init`.
pub const STARTER: &str = include_str!("starter.toml");

#[cfg(test)]
mod tests;
