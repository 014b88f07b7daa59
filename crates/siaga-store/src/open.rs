//! Where a store lives and how to open it: [`open`] takes the config's `store.url`
//! (`sqlite://FILE`, `postgres://...`) or a plain file path and returns the store behind the [`Store`]
//! trait, so the rest of siaga never names a backend. Backups and restores of a store
//! that is not open (the CLI's `siaga backup` / `siaga restore`) are reached the same way,
//! by URL, through the free functions here.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::StoreError;
use crate::postgres::{PgStore, BACKUP_HINT};
use crate::sealed::SealedStore;
use crate::secrets::Keyring;
use crate::sqlite::{backup, files, SqliteStore};
use crate::types::VerifyReport;
use crate::Store;

pub use crate::sqlite::backup::Copied;

/// A backend and where its data is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A SQLite database file.
    Sqlite(PathBuf),
    /// A PostgreSQL database, by its URL as given (`postgres://` or `postgresql://`).
    Postgres(String),
}

impl Target {
    /// `sqlite://FILE` (relative to the working directory) or `sqlite:///abs/path.db`;
    /// `postgres://USER@HOST:PORT/DB` (or `postgresql://`, with the libpq parameters
    /// tokio-postgres reads, e.g. `?options=-c%20search_path%3Dsiaga`); anything without a
    /// scheme is taken as a SQLite file path.
    pub fn parse(url: &str) -> Result<Target, StoreError> {
        if let Some(rest) = url.strip_prefix("sqlite://") {
            if rest.is_empty() {
                return Err(StoreError::Url(
                    "must name a file, e.g. sqlite://siaga.db".into(),
                ));
            }
            return Ok(Target::Sqlite(PathBuf::from(rest)));
        }
        if is_postgres(url) {
            return Ok(Target::Postgres(url.to_owned()));
        }
        if url.contains("://") || url.is_empty() {
            return Err(StoreError::Url(format!(
                "{url:?} is not a store URL; use sqlite://FILE or postgres://..."
            )));
        }
        Ok(Target::Sqlite(PathBuf::from(url)))
    }

    /// The SQLite file, for what only a file-based store can do; a PostgreSQL store is
    /// backed up and restored with PostgreSQL's own tools.
    fn sqlite_file(&self) -> Result<&Path, StoreError> {
        match self {
            Target::Sqlite(p) => Ok(p),
            Target::Postgres(_) => Err(StoreError::Backup(BACKUP_HINT.into())),
        }
    }

    /// Whether the store is a file on this host (what `siaga serve` locks and checks the
    /// modes of).
    pub fn is_file(&self) -> bool {
        matches!(self, Target::Sqlite(_))
    }
}

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// A path that holds a PostgreSQL URL (config's `store_path` keeps `store.url` as given
/// when it names PostgreSQL) is that database, anything else a SQLite file.
fn path_target(p: &Path) -> Target {
    match p.to_str() {
        Some(s) if is_postgres(s) => Target::Postgres(s.to_owned()),
        _ => Target::Sqlite(p.to_owned()),
    }
}

/// What [`open`] and the backup functions accept: a URL (`&str`, `&String`), a SQLite
/// file path (`&Path`, `&PathBuf`: what config's `settings.store_path` holds) or a
/// [`Target`].
pub trait IntoTarget {
    fn into_target(self) -> Result<Target, StoreError>;
}

impl IntoTarget for Target {
    fn into_target(self) -> Result<Target, StoreError> {
        Ok(self)
    }
}
impl IntoTarget for &str {
    fn into_target(self) -> Result<Target, StoreError> {
        Target::parse(self)
    }
}
impl IntoTarget for &String {
    fn into_target(self) -> Result<Target, StoreError> {
        Target::parse(self)
    }
}
impl IntoTarget for &Path {
    fn into_target(self) -> Result<Target, StoreError> {
        Ok(path_target(self))
    }
}
impl IntoTarget for &PathBuf {
    fn into_target(self) -> Result<Target, StoreError> {
        Ok(path_target(self))
    }
}

/// Opens (creating if needed, migrating if old) the store at `target` with no secret key:
/// secrets are written in clear, and a store holding sealed ones is refused. For scratch
/// stores (tests, `siaga bench`, the demo); siaga's commands use [`open_with`].
pub fn open(target: impl IntoTarget) -> Result<Arc<dyn Store>, StoreError> {
    open_with(target, &Keyring::none())
}

/// Opens (creating if needed, migrating if old) the store at `target`, behind the sealing
/// layer with `keys` (`sealed.rs`): secrets stored in another form than `keys` writes are
/// re-sealed first, and a store holding a secret no key of `keys` opens is refused. A new
/// SQLite database is created owner-only; a PostgreSQL database is migrated (each node in
/// turn) and reached through a connection pool.
pub fn open_with(target: impl IntoTarget, keys: &Keyring) -> Result<Arc<dyn Store>, StoreError> {
    match target.into_target()? {
        Target::Sqlite(path) => Ok(Arc::new(SealedStore::new(
            SqliteStore::open(&path)?,
            keys.clone(),
        )?)),
        Target::Postgres(url) => Ok(Arc::new(SealedStore::new(
            PgStore::open(&url)?,
            keys.clone(),
        )?)),
    }
}

/// The store's files that others than their owner may read or write, with their modes
/// (a server refuses to start on them; none for a store that is not a file).
pub fn readable_by_others(target: impl IntoTarget) -> Result<Vec<(PathBuf, u32)>, StoreError> {
    match target.into_target()? {
        Target::Sqlite(p) => Ok(files::readable_by_others(&p)),
        Target::Postgres(_) => Ok(Vec::new()),
    }
}

/// What a backup copied and what the copy's check found.
#[derive(Debug, Clone)]
pub struct BackupInfo {
    pub copied: Copied,
    pub report: VerifyReport,
}

/// A checked copy of the store at `from` (open elsewhere or not) in the new file `out`;
/// `progress` hears (pages done, pages in all). Blocking: run it off the async threads.
pub fn backup_to(
    from: impl IntoTarget,
    out: &Path,
    progress: &mut dyn FnMut(i64, i64),
) -> Result<BackupInfo, StoreError> {
    let from = from.into_target()?;
    let (copied, report) = backup::backup(from.sqlite_file()?, out, progress)?;
    Ok(BackupInfo { copied, report })
}

/// Replaces the store at `to` with the checked backup file `file` (the caller decides
/// whether `to` may be replaced). Blocking.
pub fn restore_from(
    file: &Path,
    to: impl IntoTarget,
    progress: &mut dyn FnMut(i64, i64),
) -> Result<BackupInfo, StoreError> {
    let to = to.into_target()?;
    let (copied, report) = backup::restore(file, to.sqlite_file()?, progress)?;
    Ok(BackupInfo { copied, report })
}

/// Checks a backup file without changing it (integrity, schema, ledger invariants).
pub fn check_backup(file: &Path) -> Result<VerifyReport, StoreError> {
    backup::check_file(file)
}

/// A plain, unchecked copy of the store at `from` in `out`: what a restore keeps of the
/// store it replaces.
pub fn keep_as_is(from: impl IntoTarget, out: &Path) -> Result<(), StoreError> {
    backup::keep_as_is(from.into_target()?.sqlite_file()?, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_paths_name_their_backend() {
        let p = |u: &str| Target::parse(u).map_err(|e| e.to_string());
        assert_eq!(
            p("sqlite://siaga.db"),
            Ok(Target::Sqlite("siaga.db".into()))
        );
        assert_eq!(
            p("sqlite:///srv/s.db"),
            Ok(Target::Sqlite("/srv/s.db".into()))
        );
        assert_eq!(p("/srv/s.db"), Ok(Target::Sqlite("/srv/s.db".into())));
        assert_eq!(
            p("postgres://u@db/siaga"),
            Ok(Target::Postgres("postgres://u@db/siaga".into()))
        );
        assert_eq!(
            p("postgresql://db"),
            Ok(Target::Postgres("postgresql://db".into()))
        );
        let held = Path::new("postgres://u@db/siaga").into_target();
        assert_eq!(
            held.map_err(|e| e.to_string()),
            Ok(Target::Postgres("postgres://u@db/siaga".into())),
            "a config path holding a PostgreSQL URL"
        );
        assert!(p("sqlite://").is_err());
        assert!(p("mysql://x").is_err());
        assert!(p("").is_err());
    }

    #[test]
    fn a_postgres_store_names_the_tools_that_back_it_up() {
        let url = "postgres://nobody@127.0.0.1:1/none";
        let e = backup_to(url, Path::new("/nonexistent/x"), &mut |_, _| {})
            .expect_err("no copy by siaga");
        assert!(e.to_string().contains("pg_dump"), "{e}");
        assert!(keep_as_is(url, Path::new("/nonexistent/y")).is_err());
        assert!(readable_by_others(url).expect("no files").is_empty());
    }

    #[tokio::test]
    async fn open_gives_a_working_store_and_backups_go_by_url() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("s.db");
        let url = format!("sqlite://{}", db.display());
        let store = open(&url).expect("open by url");
        assert_eq!(store.verify().await.expect("verify").orders, 0);
        let out = dir.path().join("copy.db");
        let info = store
            .backup_to(&out)
            .await
            .expect("backup through the store");
        assert!(info.report.ok() && info.copied.pages > 0);
        drop(store);
        let again = open(db.as_path()).expect("open by path");
        assert!(again.verify().await.expect("verify").ok());
        assert!(check_backup(&out).expect("check").ok());
        let out2 = dir.path().join("copy2.db");
        let info = backup_to(&url, &out2, &mut |_, _| {}).expect("backup by url");
        assert!(info.report.ok());
        assert!(
            backup_to(&url, &out2, &mut |_, _| {}).is_err(),
            "never overwrites"
        );
        let back = dir.path().join("back.db");
        restore_from(&out2, back.as_path(), &mut |_, _| {}).expect("restore");
        assert!(open(&back)
            .expect("open restored")
            .verify()
            .await
            .expect("verify")
            .ok());
    }
}
