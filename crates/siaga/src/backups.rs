//! Scheduled backups (`[backup] dir, every, keep`; SPEC 12): while siaga serves, a checked
//! online copy of the database every `every` into `dir` as `siaga-<UTC time>.db`, keeping
//! the newest `keep`. A backup that fails is logged and the owner is alerted. After a
//! restart the schedule goes on from the newest copy already in `dir`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use siaga_store::Store;
use tokio::sync::watch;

pub use crate::config::backup::{BackupCfg, BackupSettings};
use crate::notify::Notifier;

/// The copies in `dir`, oldest first (their names sort by time).
fn copies(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(is_copy_name)
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// `siaga-20261201T111300.123Z.db` exactly: pruning never touches another file.
fn is_copy_name(n: &str) -> bool {
    let Some(t) = n.strip_prefix("siaga-").and_then(|r| r.strip_suffix(".db")) else {
        return false;
    };
    let b = t.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            8 => *c == b'T',
            15 => *c == b'.',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

/// Runs the schedule until shutdown. The notifier is how a failed backup reaches the owner;
/// its settings name the database and its clock names the copies.
pub async fn run(alerts: Arc<Notifier>, cfg: BackupSettings, mut shutdown: watch::Receiver<bool>) {
    // Due `every` after the newest copy (a restart does not reset the clock).
    let newest_age = copies(&cfg.dir)
        .last()
        .and_then(|p| std::fs::metadata(p).ok())
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.elapsed().ok());
    let mut wait = match newest_age {
        Some(age) => cfg.every.saturating_sub(age),
        None => Duration::from_secs(5).min(cfg.every),
    };
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
        wait = cfg.every;
        match once(alerts.store.as_ref(), alerts.now(), &cfg).await {
            Ok(out) => tracing::info!(file = %out.display(), "backup written and checked"),
            Err(e) => {
                tracing::error!(error = %e, "backup failed");
                let body = crate::notify::render::alert(
                    "backup_failed",
                    "siaga: cadangan gagal / backup failed".into(),
                    format!("Cadangan basis data ke {} gagal: {e}", cfg.dir.display()),
                    format!("The database backup to {} failed: {e}", cfg.dir.display()),
                    json!({"dir": cfg.dir.display().to_string(), "error": e}),
                );
                if let Err(e) =
                    crate::notify::alert_owner(&alerts, "alert:backup", body, Vec::new()).await
                {
                    tracing::error!(error = %e, "cannot queue the backup alert");
                }
            }
        }
    }
}

/// One backup of `store` now (named by `now`), through the store interface, then the oldest
/// copies beyond `keep` are removed.
pub async fn once(store: &dyn Store, now: i64, cfg: &BackupSettings) -> Result<PathBuf, String> {
    let name = format!(
        "siaga-{}.db",
        jiff::Timestamp::from_millisecond(now)
            .unwrap_or_else(|_| jiff::Timestamp::now())
            .strftime("%Y%m%dT%H%M%S%.3fZ")
    );
    let dir = cfg.dir.clone();
    let made = dir.clone();
    tokio::task::spawn_blocking(move || std::fs::create_dir_all(&made))
        .await
        .map_err(|e| format!("backup task: {e}"))?
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let out = dir.join(name);
    store.backup_to(&out).await.map_err(|e| e.to_string())?;
    let keep = cfg.keep;
    tokio::task::spawn_blocking(move || {
        let all = copies(&dir);
        for old in all.iter().take(all.len().saturating_sub(keep)) {
            if let Err(e) = std::fs::remove_file(old) {
                tracing::warn!(file = %old.display(), error = %e, "cannot remove an old backup");
            }
        }
    })
    .await
    .map_err(|e| format!("backup task: {e}"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_copies_are_pruned() {
        assert!(is_copy_name("siaga-20261201T111300.123Z.db"));
        assert!(!is_copy_name("siaga-prod.db"));
        assert!(!is_copy_name("siaga-20261201T111300.123Z.db.unverified"));
        assert!(!is_copy_name("siaga-20261201T111300.123Z.db.partial"));
        assert!(!is_copy_name("siaga.db"));
    }
}
