//! `siaga config check`: loads and validates the config exactly as `serve` does (regexes,
//! pointers, placeholders, env vars, preset samples, routes to known suppliers, the admin
//! token) and prints what it found. Opens no database and needs no running server.

use std::path::Path;

use crate::config;

pub fn check(path: &Path) -> anyhow::Result<()> {
    let (cfg, settings) = config::load_both(path)?;
    super::serve::check_admin_token(&settings)?;
    println!(
        "{}",
        config::check::summary(&path.display().to_string(), &cfg, &settings)
    );
    Ok(())
}
