//! `siaga backup --out FILE` and `siaga restore FILE [--force]` (SPEC 12): an online,
//! checked copy of the database while siaga serves, and putting one back.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Instant;

use serde_json::json;
use siaga_store::backup;

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

pub async fn backup(cfg: &Path, out: &Path) -> anyhow::Result<()> {
    let settings = config::load(cfg)?;
    let (src, out) = (settings.store_path.clone(), out.to_owned());
    let started = Instant::now();
    let shown = out.clone();
    let (copied, report) = tokio::task::spawn_blocking(move || {
        let mut bar = Bar::new("backup");
        backup::backup(&src, &out, &mut |d, t| bar.show(d, t))
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
        backup::check_file(&file)?;
        let kept = if live {
            // What is being replaced stays beside it, so a mistaken restore can be undone.
            let at = jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ").to_string();
            let keep = target.with_extension(format!("before-restore-{at}.db"));
            match backup::backup(&target, &keep, &mut |_, _| {}) {
                Ok(_) => Some(keep),
                Err(e) => {
                    eprintln!("warning: the current database could not be kept ({e}); replacing it anyway (--force)");
                    None
                }
            }
        } else {
            None
        };
        let mut bar = Bar::new("restore");
        let (copied, report) = backup::restore(&file, &target, &mut |d, t| bar.show(d, t))?;
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
