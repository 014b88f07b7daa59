//! Durability off the writer's path: the writer commits with `synchronous=NORMAL` (WAL
//! frames written, not yet synced) and hands each commit's callers to the syncer thread,
//! which `fdatasync`s the WAL and only then answers them, while the writer already runs
//! the next batch. Callers get the guarantee `synchronous=FULL` gives; one sync may cover
//! several commits.
//!
//! WAL readers can see a commit between its COMMIT and its sync. So every read that leaves
//! the store waits (`Durability::settled`) until each commit it could have seen is durable:
//! a transaction is numbered before its COMMIT, a read takes the newest number after it
//! ran, and returns once the syncer has passed that number. Nothing is shown or acted on
//! that a power cut could take back.
//!
//! A failed sync stops the store for good (as PostgreSQL stops): after a failed `fsync`
//! the kernel may have dropped the pages, so a later one succeeding proves nothing. The
//! commits it covered, and every write and read after, answer with an error; a restart
//! recovers from what is on disk.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use tokio::sync::watch;

use super::writer::Done;
use crate::error::StoreError;
use crate::times::WriteTimes;

/// Makes every WAL frame written so far durable.
pub(crate) type SyncFn = Box<dyn FnMut() -> io::Result<()> + Send>;

/// One commit on its way to the syncer: its number, how it ended, and its callers.
pub(crate) struct Synced {
    pub seq: u64,
    pub commit: Result<(), String>,
    pub dones: Vec<Done>,
    /// When its `COMMIT` ended.
    pub committed: std::time::Instant,
}

pub(crate) struct Durability {
    /// The number of the newest transaction that has begun to commit.
    committing: AtomicU64,
    /// The number up to which every commit is durable (or failed, so not there at all).
    durable: watch::Sender<u64>,
    /// Why the store stopped, after a failed sync.
    failed: OnceLock<String>,
    /// How long commits and syncs take.
    pub(crate) times: WriteTimes,
}

impl Default for Durability {
    fn default() -> Self {
        Durability {
            committing: AtomicU64::new(0),
            durable: watch::Sender::new(0),
            failed: OnceLock::new(),
            times: WriteTimes::default(),
        }
    }
}

impl Durability {
    /// Numbers the transaction about to commit (call before its COMMIT).
    pub(crate) fn next_commit(&self) -> u64 {
        self.committing.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Waits until every commit a read that has just run could have seen is durable.
    pub(crate) async fn settled(&self) -> Result<(), StoreError> {
        let seen = self.committing.load(Ordering::SeqCst);
        if *self.durable.borrow() < seen && self.failed.get().is_none() {
            let mut rx = self.durable.subscribe();
            rx.wait_for(|d| *d >= seen || self.failed.get().is_some())
                .await
                .map_err(|_| StoreError::Closed)?;
        }
        self.check()
    }

    /// `Err` once a sync has failed: the store takes nothing more.
    pub(crate) fn check(&self) -> Result<(), StoreError> {
        match self.failed.get() {
            Some(why) => Err(StoreError::Commit(why.clone())),
            None => Ok(()),
        }
    }

    /// Stops the store for good: every later write and read is an error.
    pub(crate) fn fail(&self, why: String) {
        let _ = self.failed.set(why);
        // Wakes the reads waiting for a sync that will not come.
        self.durable.send_modify(|_| {});
    }
}

/// `fdatasync` of the database's WAL file (found by name each time, so it is always the
/// file SQLite writes).
pub(crate) fn sync_wal(db: &Path) -> io::Result<()> {
    std::fs::File::open(file_to_sync(db)?)?.sync_data()
}

/// The WAL file SQLite writes for the database at `db`: beside the database's real path
/// (SQLite follows symlinks), else beside `db` as given. Without a WAL file (SQLite removed
/// it after checkpointing it all into the database), the database file itself.
pub(crate) fn file_to_sync(db: &Path) -> io::Result<PathBuf> {
    let real = std::fs::canonicalize(db)?;
    for base in [real.as_path(), db] {
        let mut wal = base.as_os_str().to_owned();
        wal.push("-wal");
        let wal = PathBuf::from(wal);
        if wal.try_exists()? {
            return Ok(wal);
        }
    }
    Ok(real)
}

/// Syncs what the writer committed and answers its callers, many commits per sync when
/// they arrive faster than a sync takes.
pub(crate) fn syncer_loop(
    rx: std::sync::mpsc::Receiver<Synced>,
    durability: &Durability,
    mut sync: SyncFn,
) {
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        group.extend(rx.try_iter());
        if durability.failed.get().is_none() && group.iter().any(|g| g.commit.is_ok()) {
            let began = std::time::Instant::now();
            let synced = sync();
            durability.times.sync(began.elapsed());
            if let Err(e) = synced {
                let why = format!(
                    "the database's WAL could not be synced ({e}); the store has stopped \
                     and siaga must be restarted"
                );
                tracing::error!(error = %e, "cannot sync the WAL; the store stops");
                durability.fail(why);
            }
        }
        if let Some(why) = durability.failed.get() {
            for g in group {
                for done in g.dones {
                    done(Err(why.clone()));
                }
            }
            continue;
        }
        let top = group.iter().map(|g| g.seq).max().unwrap_or(0);
        let now = std::time::Instant::now();
        for g in group.iter().filter(|g| g.commit.is_ok()) {
            durability
                .times
                .synced(g.dones.len(), now.saturating_duration_since(g.committed));
        }
        // Before the callers hear: their next read must not wait.
        durability.durable.send_modify(|d| *d = (*d).max(top));
        for g in group {
            for done in g.dones {
                done(g.commit.clone());
            }
        }
    }
}
