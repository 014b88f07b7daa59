//! The database's files are the owner's alone (SPEC 15): they hold the books and every
//! secret siaga keeps. The file is created 0600 before SQLite first opens it (SQLite gives
//! its `-wal` and `-shm` the database file's mode), a restored database is made 0600 with
//! them, and [`readable_by_others`] names the files a server must not start on.

use std::path::{Path, PathBuf};

use crate::error::StoreError;

/// The database file and the files SQLite keeps beside it.
pub(crate) fn with_sidecars(db: &Path) -> [PathBuf; 3] {
    let side = |ext: &str| {
        let mut p = db.as_os_str().to_owned();
        p.push(ext);
        PathBuf::from(p)
    };
    [db.to_owned(), side("-wal"), side("-shm")]
}

/// Creates `db` empty and owner-only if it does not exist yet (whatever the umask: it
/// can only take bits away).
pub(crate) fn create_private(db: &Path) -> Result<(), StoreError> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    match o.open(db) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Files(format!(
            "cannot create {}: {e}",
            db.display()
        ))),
    }
}

/// Makes the database and its `-wal` and `-shm` (those that exist) owner-only.
pub(crate) fn make_private(db: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    for f in with_sidecars(db) {
        use std::os::unix::fs::PermissionsExt;
        match std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(StoreError::Files(format!(
                    "cannot make {} owner-only: {e}",
                    f.display()
                )))
            }
        }
    }
    #[cfg(not(unix))]
    let _ = db;
    Ok(())
}

/// The database's files that exist and that others than the owner may read or write, with
/// their modes.
pub(crate) fn readable_by_others(db: &Path) -> Vec<(PathBuf, u32)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        with_sidecars(db)
            .into_iter()
            .filter_map(|f| {
                let mode = std::fs::metadata(&f).ok()?.permissions().mode() & 0o777;
                (mode & 0o077 != 0).then_some((f, mode))
            })
            .collect()
    }
    #[cfg(not(unix))]
    {
        let _ = db;
        Vec::new()
    }
}
