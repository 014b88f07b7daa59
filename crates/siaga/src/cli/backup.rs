//! `siaga backup --out FILE` and `siaga restore FILE [--force]` (SPEC 12): an online,
//! checked copy of the database while siaga serves, and putting one back.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use serde_json::json;

use crate::config;

/// A one-line progress bar on stderr, shown only on a terminal.
struct Bar {
    what: &'static str,
    on: bool,
    shown: i64,
}

impl Bar {
    fn new(what: &'static str) -> Bar {
        Bar {
            what,
            on: std::io::stderr().is_terminal(),
            shown: -1,
        }
    }

    fn show(&mut self, done: i64, total: i64) {
        let pct = if total > 0 { done * 100 / total } else { 100 };
        if !self.on || pct == self.shown {
            return;
        }
        self.shown = pct;
        let filled = (pct / 5) as usize;
        let mut err = std::io::stderr();
        let _ = write!(
            err,
            "\r{} [{}{}] {pct:>3}% ({done}/{total} pages)",
            self.what,
            "#".repeat(filled),
            " ".repeat(20 - filled.min(20)),
        );
        if done >= total {
            let _ = writeln!(err);
        }
        let _ = err.flush();
    }
}

/// The lock `siaga serve` holds on its database (`<db>.serve.lock`) for as long as it runs;
/// the OS lets go of it when the process ends, however it ends.
pub fn serving_lock(db: &Path) -> anyhow::Result<std::fs::File> {
    let path = lock_path(db);
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => {
            anyhow::bail!("another siaga serve is already running on {}", db.display())
        }
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

/// Writes the serving process's id and address into its lock file, so `siaga reload`
/// finds the server even when it listens on a port the config does not name.
pub fn announce(lock: &mut std::fs::File, addr: std::net::SocketAddr) -> anyhow::Result<()> {
    use std::io::Write;
    lock.set_len(0)?;
    writeln!(lock, "{}\nhttp://{addr}", std::process::id())?;
    lock.flush()?;
    Ok(())
}

/// The address a `siaga serve` running on `db` announced, when one holds it now.
pub fn serving_address(db: &Path) -> Option<String> {
    if !being_served(db) {
        return None;
    }
    let text = std::fs::read_to_string(lock_path(db)).ok()?;
    text.lines()
        .nth(1)
        .filter(|l| l.starts_with("http://"))
        .map(str::to_owned)
}

fn lock_path(db: &Path) -> std::path::PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(".serve.lock");
    std::path::PathBuf::from(p)
}

/// Whether a `siaga serve` holds the database now.
pub(super) fn being_served(db: &Path) -> bool {
    let Ok(f) = std::fs::File::open(lock_path(db)) else {
        return false;
    };
    matches!(f.try_lock(), Err(std::fs::TryLockError::WouldBlock))
}

pub async fn backup(cfg: &Path, out: &Path) -> anyhow::Result<()> {
    let settings = config::load(cfg)?;
    let (src, out) = (settings.store_path.clone(), out.to_owned());
    let started = Instant::now();
    let shown = out.clone();
    let siaga_store::BackupInfo { copied, report } = tokio::task::spawn_blocking(move || {
        let mut bar = Bar::new("backup");
        siaga_store::backup_to(src.as_path(), &out, &mut |d, t| bar.show(d, t))
    })
    .await??;
    println!(
        "{}",
        json!({
            "out": shown.display().to_string(),
            "pages": copied.pages,
            "bytes": copied.bytes,
            "orders": report.orders,
            "transfers": report.transfers,
            "verified": true,
            "took_ms": started.elapsed().as_millis() as u64,
        })
    );
    Ok(())
}

pub async fn restore(cfg: &Path, file: &Path, force: bool) -> anyhow::Result<()> {
    let settings = config::load(cfg)?;
    let target = settings.store_path.clone();
    let live = std::fs::metadata(&target).is_ok_and(|m| m.len() > 0);
    if being_served(&target) {
        anyhow::bail!(
            "siaga serve is running on {}; stop it first (a restore never swaps the database \
             under a running server, not even with --force)",
            target.display()
        );
    }
    if live && !force {
        anyhow::bail!(
            "{} holds a database; stop siaga, then run again with --force to replace it with {} \
             (the current one is kept beside it first)",
            target.display(),
            file.display()
        );
    }
    let (file, shown) = (file.to_owned(), target.clone());
    let started = Instant::now();
    let result = tokio::task::spawn_blocking(move || {
        // Checked before anything is touched.
        siaga_store::check_backup(&file)?;
        let kept = if live {
            // What is being replaced stays beside it, so a mistaken restore can be undone.
            let at = jiff::Timestamp::now()
                .strftime("%Y%m%dT%H%M%SZ")
                .to_string();
            let keep = target.with_extension(format!("before-restore-{at}.db"));
            // Kept as it is, unchecked: it may be the damaged one, and it is still the only
            // record of what happened since the backup. No copy, no restore.
            siaga_store::keep_as_is(target.as_path(), &keep)?;
            Some(keep)
        } else {
            None
        };
        let mut bar = Bar::new("restore");
        let siaga_store::BackupInfo { copied, report } =
            siaga_store::restore_from(&file, target.as_path(), &mut |d, t| bar.show(d, t))?;
        Ok::<_, siaga_store::StoreError>((copied, report, kept))
    })
    .await?;
    let (copied, report, kept) = result?;
    println!(
        "{}",
        json!({
            "restored": shown.display().to_string(),
            "pages": copied.pages,
            "bytes": copied.bytes,
            "orders": report.orders,
            "kept": kept.map(|k| k.display().to_string()),
            "took_ms": started.elapsed().as_millis() as u64,
        })
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_server_is_seen_and_a_second_one_refused() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let db = dir.path().join("siaga.db");
        assert!(!being_served(&db));
        let held = serving_lock(&db).unwrap_or_else(|e| panic!("{e}"));
        assert!(being_served(&db));
        assert!(
            serving_lock(&db).is_err(),
            "a second server on one database"
        );
        drop(held);
        assert!(!being_served(&db));
    }
}
