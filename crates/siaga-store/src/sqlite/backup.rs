//! Online backups and restores of the SQLite file (SPEC 12). A backup reads the live
//! database inside one read transaction (a consistent snapshot; the server's writer goes
//! on appending to the WAL), copies it page by page with SQLite's online backup API into
//! `FILE.partial`, and renames it to `FILE` only when complete and checked. A restore
//! checks the copy first, then writes it into the target through SQLite's own locking.
//!
//! The live database's last commits may be written but not yet synced (the server answers
//! their callers only after its syncer's `fdatasync`). A backup syncs the WAL itself once
//! its snapshot is fixed, so it never holds a commit that a power cut could still take
//! from the database it copies.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use super::{verify, SqliteStore};
use crate::error::StoreError;
use crate::types::VerifyReport;

/// Pages copied per step (4 MiB with 4 KiB pages), between progress reports.
const STEP_PAGES: std::ffi::c_int = 1024;

/// What a backup or restore copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    pub pages: i64,
    pub bytes: u64,
}

/// Copies the database at `src` to the new file `out` while it keeps serving; `progress`
/// hears (pages done, pages in all) after each step. `out` must not exist. The copy is
/// checked (integrity and the ledger invariants) before it takes its name.
pub fn backup(
    src: &Path,
    out: &Path,
    progress: &mut dyn FnMut(i64, i64),
) -> Result<(Copied, VerifyReport), StoreError> {
    backup_in_steps(src, out, STEP_PAGES, progress)
}

/// [`backup`] with `step` pages per step (tests use small steps to interleave writes).
pub(crate) fn backup_in_steps(
    src: &Path,
    out: &Path,
    step: std::ffi::c_int,
    progress: &mut dyn FnMut(i64, i64),
) -> Result<(Copied, VerifyReport), StoreError> {
    backup_with_sync(src, out, step, progress, &super::durable::sync_wal)
}

/// [`backup_in_steps`] with `sync` making the source's WAL durable (tests watch it).
pub(crate) fn backup_with_sync(
    src: &Path,
    out: &Path,
    step: std::ffi::c_int,
    progress: &mut dyn FnMut(i64, i64),
    sync: &dyn Fn(&Path) -> std::io::Result<()>,
) -> Result<(Copied, VerifyReport), StoreError> {
    if out.exists() {
        return Err(StoreError::Backup(format!(
            "{} already exists; a backup never overwrites",
            out.display()
        )));
    }
    if !src.exists() {
        return Err(StoreError::Backup(format!(
            "no database at {}",
            src.display()
        )));
    }
    let partial = partial_of(out);
    let _ = std::fs::remove_file(&partial);
    let copied = match copy_snapshot(src, &partial, step, progress, sync) {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    let checked = check_file(&partial).and_then(|report| {
        if report.ok() {
            Ok(report)
        } else {
            Err(StoreError::Backup(format!(
                "the copy failed its check: {}",
                report.problems.join("; ")
            )))
        }
    });
    match checked {
        Ok(report) => {
            publish(&partial, out)?;
            Ok((copied, report))
        }
        Err(e) => {
            // A snapshot of a database with problems is still worth having (it may be the
            // last one before things got worse): kept under a name that says so, which
            // the schedule's pruning never touches.
            let mut kept = out.as_os_str().to_owned();
            kept.push(".unverified");
            let kept = PathBuf::from(kept);
            match publish(&partial, &kept) {
                Ok(()) => Err(StoreError::Backup(format!(
                    "{e}; the copy is kept as {}",
                    kept.display()
                ))),
                Err(_) => {
                    let _ = std::fs::remove_file(&partial);
                    Err(e)
                }
            }
        }
    }
}

/// Gives the finished `partial` its name `out`, never replacing an existing file (a hard
/// link fails if `out` exists), and makes the name durable (the folder is synced).
fn publish(partial: &Path, out: &Path) -> Result<(), StoreError> {
    std::fs::hard_link(partial, out)
        .map_err(|e| StoreError::Backup(format!("cannot name the copy {}: {e}", out.display())))?;
    let _ = std::fs::remove_file(partial);
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// A plain copy of `src` (with its WAL) at `out`, checked by nothing: what a restore keeps
/// of the database it replaces, which may be the damaged one.
pub fn keep_as_is(src: &Path, out: &Path) -> Result<(), StoreError> {
    if out.exists() {
        return Err(StoreError::Backup(format!(
            "{} already exists",
            out.display()
        )));
    }
    let partial = partial_of(out);
    let _ = std::fs::remove_file(&partial);
    // SQLite's own copy first (one consistent moment); a file copy if it cannot read it.
    // Nothing serves the database during a restore, so there is nothing to sync first.
    if copy_snapshot(src, &partial, STEP_PAGES, &mut |_, _| {}, &|_| Ok(())).is_err() {
        let _ = std::fs::remove_file(&partial);
        std::fs::copy(src, &partial)
            .map_err(|e| StoreError::Backup(format!("cannot copy {}: {e}", src.display())))?;
        for ext in ["-wal", "-shm"] {
            let mut from = src.as_os_str().to_owned();
            from.push(ext);
            let mut to = out.as_os_str().to_owned();
            to.push(ext);
            if std::path::Path::new(&from).exists() {
                std::fs::copy(&from, &to).map_err(|e| {
                    StoreError::Backup(format!("cannot copy {}: {e}", from.to_string_lossy()))
                })?;
            }
        }
    }
    // A file copy keeps the mode of what it copies: owner-only, as every copy.
    super::files::make_private(&partial)?;
    publish(&partial, out)?;
    super::files::make_private(out)
}

fn partial_of(out: &Path) -> PathBuf {
    let mut p = out.as_os_str().to_owned();
    p.push(".partial");
    PathBuf::from(p)
}

/// The page-by-page copy of one consistent snapshot of `src` into a fresh `dst`.
fn copy_snapshot(
    src: &Path,
    dst: &Path,
    step: std::ffi::c_int,
    progress: &mut dyn FnMut(i64, i64),
    sync: &dyn Fn(&Path) -> std::io::Result<()>,
) -> Result<Copied, StoreError> {
    let from = Connection::open_with_flags(src, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    from.busy_timeout(Duration::from_secs(10))?;
    // One read transaction across every step: the copy is one moment of the database,
    // however long it takes and however much is written meanwhile.
    from.execute_batch("BEGIN DEFERRED; SELECT COUNT(*) FROM sqlite_master;")?;
    // Every commit in that moment was written to the WAL before it began: synced now, none
    // of them can be lost from the database while the copy holds it.
    sync(src).map_err(|e| {
        StoreError::Backup(format!(
            "cannot make the database's latest commits durable before copying them: {e}"
        ))
    })?;
    // The copy holds webhook secrets and the books: readable by the owner only.
    private_file(dst)?;
    let mut to = Connection::open(dst)?;
    let copied = {
        let b = Backup::new(&from, &mut to)?;
        loop {
            match b.step(step.max(1))? {
                StepResult::Done => break,
                StepResult::More => {}
                StepResult::Busy | StepResult::Locked => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
            let p = b.progress();
            progress(i64::from(p.pagecount - p.remaining), i64::from(p.pagecount));
        }
        let p = b.progress();
        progress(i64::from(p.pagecount), i64::from(p.pagecount));
        i64::from(p.pagecount)
    };
    from.execute_batch("COMMIT")?;
    // A self-contained file: no WAL beside it.
    to.execute_batch("PRAGMA journal_mode=DELETE;")?;
    drop(to);
    let bytes = std::fs::metadata(dst).map(|m| m.len()).unwrap_or(0);
    Ok(Copied {
        pages: copied,
        bytes,
    })
}

/// Checks a database file without changing it: SQLite's integrity check, a schema this
/// build knows, and every ledger invariant of `siaga verify`.
pub fn check_file(path: &Path) -> Result<VerifyReport, StoreError> {
    let c = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let integrity: String = c.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    if integrity != "ok" {
        return Err(StoreError::Backup(format!(
            "{} is damaged: {integrity}",
            path.display()
        )));
    }
    let version: i64 = c.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version == 0 || version > SqliteStore::schema_version() {
        return Err(StoreError::Backup(format!(
            "{} has schema version {version}; this build knows 1 to {}",
            path.display(),
            SqliteStore::schema_version()
        )));
    }
    c.execute_batch("BEGIN DEFERRED")?;
    let report = verify::run(&c);
    let _ = c.execute_batch("COMMIT");
    report
}

/// Replaces the database at `dst` with the checked copy at `src` (SQLite takes the write
/// lock, so a reader never sees half of it). The caller decides whether `dst` may be
/// overwritten.
pub fn restore(
    src: &Path,
    dst: &Path,
    progress: &mut dyn FnMut(i64, i64),
) -> Result<(Copied, VerifyReport), StoreError> {
    let report = check_file(src)?;
    if !report.ok() {
        return Err(StoreError::Backup(format!(
            "{} fails its check: {}",
            src.display(),
            report.problems.join("; ")
        )));
    }
    let from = Connection::open_with_flags(src, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    // The live database holds webhook secrets and the books: owner-only, whatever mode the
    // file it replaces had.
    super::files::create_private(dst)?;
    super::files::make_private(dst)?;
    let mut to = Connection::open(dst)?;
    to.busy_timeout(Duration::from_secs(10))?;
    let pages = {
        let b = Backup::new(&from, &mut to)?;
        b.run_to_completion(STEP_PAGES, Duration::from_millis(0), None)?;
        let p = b.progress();
        progress(i64::from(p.pagecount), i64::from(p.pagecount));
        i64::from(p.pagecount)
    };
    to.execute_batch("PRAGMA journal_mode=WAL;")?;
    drop(to);
    super::files::make_private(dst)?;
    let bytes = std::fs::metadata(dst).map(|m| m.len()).unwrap_or(0);
    Ok((Copied { pages, bytes }, report))
}

/// Creates `path` empty with mode 0600 (on Unix), so the copy is never readable by others.
fn private_file(path: &Path) -> Result<(), StoreError> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
        .map(|_| ())
        .map_err(|e| StoreError::Backup(format!("cannot create {}: {e}", path.display())))
}
