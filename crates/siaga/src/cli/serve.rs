//! Long-running commands: `siaga serve` and `siaga sim`.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use siaga_suppliers::sim::{Sim, SimConfig, SimDialect, SimMode};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::app::App;
use crate::clock::SystemClock;
use crate::config;
use crate::server::{self, stop_signal};

pub async fn serve(cfg: &Path) -> anyhow::Result<()> {
    let settings = config::load(cfg)?;
    check_admin_token(&settings)?;
    // Held while serving, so `siaga restore` knows not to swap the database underneath
    // (a PostgreSQL store is no file here: several nodes may serve it).
    let file = siaga_store::IntoTarget::into_target(settings.store_path.as_path())?.is_file();
    let mut serving = match file {
        true => Some(super::backup::serving_lock(&settings.store_path)?),
        false => None,
    };
    refuse_exposed_files(&settings.store_path)?;
    let store = super::owner::store_of(&settings)?;
    warn_without_a_key();
    let listener = TcpListener::bind(&settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let addr = listener.local_addr()?;
    if let Some(lock) = serving.as_mut() {
        if let Err(e) = super::backup::announce(lock, addr) {
            tracing::warn!(error = %e, "cannot write the serving address; `siaga reload` will use server.listen");
        }
    }
    let metrics = match &settings.metrics.listen {
        Some(m) => Some(
            TcpListener::bind(m)
                .await
                .with_context(|| format!("cannot listen on {m} (server.metrics_listen)"))?,
        ),
        None => None,
    };
    if settings.admin_token.is_none() {
        tracing::warn!("no admin token is set: the admin API is disabled");
    }
    let app = App::new(settings, store, Arc::new(SystemClock))?;
    tracing::info!(%addr, "siaga is serving");
    println!("siaga listening on http://{addr}");
    if let Some(m) = metrics.as_ref().and_then(|m| m.local_addr().ok()) {
        println!("metrics on http://{m}/metrics");
    }
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        stop_signal().await;
        let _ = tx.send(true);
    });
    server::run_with(app, listener, metrics, rx).await
}

/// A weak admin token is refused (by `serve` and by `config check`).
pub(super) fn check_admin_token(settings: &config::Settings) -> anyhow::Result<()> {
    if let Some(t) = &settings.admin_token {
        if let Err(why) = config::server::check_token(t) {
            anyhow::bail!(
                "the admin token (server.admin_token_env) {why}; siaga will not start with a weak one"
            );
        }
    }
    Ok(())
}

/// A database others on the host can read gives away every reseller's webhook secret (and
/// so siaga's signature on callbacks) and the books: `serve` does not start on it, and
/// says how to fix it. siaga creates and restores its files owner-only; this catches a
/// database from before, or one copied or created by hand.
fn refuse_exposed_files(db: &Path) -> anyhow::Result<()> {
    let exposed = siaga_store::readable_by_others(db)?;
    if exposed.is_empty() {
        return Ok(());
    }
    let named: Vec<String> = exposed
        .iter()
        .map(|(f, mode)| format!("{} (mode {mode:04o})", f.display()))
        .collect();
    let files: Vec<String> = exposed
        .iter()
        .map(|(f, _)| f.display().to_string())
        .collect();
    anyhow::bail!(
        "the database is readable by other users of this host: {}. It holds the books and \
         the resellers' webhook secrets; make it owner-only with `chmod 600 {}` and start \
         again (if others could log in here, also give the resellers new secrets: \
         `siaga reseller rotate-keys --all`)",
        named.join(", "),
        files.join(" ")
    )
}

/// Secrets stay in clear without a key: said loudly at every start.
fn warn_without_a_key() {
    match crate::keys::store_keyring()
        .ok()
        .and_then(|k| k.current_id().map(str::to_owned))
    {
        Some(id) => tracing::info!(key = %id, "stored secrets are sealed with the current key"),
        None => {
            tracing::warn!(
                "{} is not set: the resellers' webhook secrets and the subscribers' tokens are \
                 stored in clear in the database; set it to 32 random bytes \
                 (`openssl rand -base64 32`) to seal them",
                siaga_store::KEY_ENV
            );
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct SimArgs {
    /// Address of the supplier API (Digiflazz dialect under /v1)
    #[arg(long, default_value = "127.0.0.1:7001")]
    pub listen: SocketAddr,
    /// Address of the control API (/_sim/...), always up
    #[arg(long, default_value = "127.0.0.1:7101")]
    pub control: SocketAddr,
    #[arg(long, default_value = "sim")]
    pub username: String,
    #[arg(long, default_value = "simkey")]
    pub key: String,
    #[arg(long)]
    pub callback_url: Option<String>,
    #[arg(long)]
    pub callback_secret: Option<String>,
    /// ok | down | error | slow | flaky | pending | in_doubt | black_hole | maintenance | no_balance | wrong_number
    #[arg(long, default_value = "ok")]
    pub mode: String,
    #[arg(long)]
    pub latency_ms: Option<u64>,
    #[arg(long)]
    pub deposit: Option<i64>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// digiflazz | otomax: how its reports (callbacks) are sent. Both APIs are always
    /// served: Digiflazz's under /v1, OtomaX's /trx and /balance.
    #[arg(long, default_value = "digiflazz")]
    pub dialect: String,
}

pub async fn sim(a: SimArgs) -> anyhow::Result<()> {
    let mode: SimMode = a
        .mode
        .parse()
        .map_err(|_| anyhow::anyhow!("unknown --mode {:?}", a.mode))?;
    let dialect = match a.dialect.as_str() {
        "digiflazz" => SimDialect::Digiflazz,
        "otomax" => SimDialect::Otomax,
        other => anyhow::bail!("unknown --dialect {other:?} (digiflazz | otomax)"),
    };
    let mut cfg = SimConfig {
        dialect,
        username: a.username,
        key: a.key,
        callback_url: a.callback_url,
        callback_secret: a.callback_secret,
        mode,
        ..SimConfig::default()
    };
    if let Some(l) = a.latency_ms {
        cfg.latency_ms = l;
    }
    if let Some(d) = a.deposit {
        cfg.deposit = d;
    }
    if let Some(s) = a.seed {
        cfg.seed = s;
    }
    let sim = Sim::start(cfg, a.listen, a.control).await?;
    let base = match dialect {
        SimDialect::Digiflazz => sim.base_url(),
        SimDialect::Otomax => sim.base_url().trim_end_matches("/v1").to_owned(),
    };
    // The first line is read by `siaga bench` (bench/sims.rs): keep its shape.
    println!(
        "siaga sim: supplier API {base} (base_url), control http://{}/_sim/ ({} dialect)",
        sim.control_addr(),
        a.dialect,
    );
    stop_signal().await;
    sim.shutdown().await;
    Ok(())
}
