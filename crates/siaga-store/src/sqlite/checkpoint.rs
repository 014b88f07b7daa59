//! WAL checkpoints off the writer's path. The writer commits with `wal_autocheckpoint=0`
//! (with it on, SQLite copies the WAL into the database inside the commit that passes the
//! mark, and every write queued behind that commit waits several milliseconds); the
//! checkpointer thread runs `PRAGMA wal_checkpoint(PASSIVE)` on a connection of its own
//! once about [`PASS_FRAMES`] new frames are in the WAL (estimated from the writer's
//! commits and the frames each pass found), while the writer goes on.
//!
//! Why this is safe beside the syncer ([`super::durable`]), which makes commits durable
//! only after their `COMMIT`: the WAL may hold commits not synced yet, and a checkpoint
//! copies them too. SQLite's checkpoint (`walCheckpoint`) first syncs the WAL, then copies
//! frames into the database, and syncs the database before it marks the WAL wholly copied
//! (which alone lets the writer start the WAL over); under every `synchronous` but OFF
//! (the checkpointer's connection has FULL, the writer's NORMAL). So the database file
//! never holds a page that the WAL does not hold durably, and after a crash SQLite
//! recovers from the WAL as before; the syncer's own syncs are untouched. A checkpoint or
//! database sync that fails with an I/O error stops the store, as a failed WAL sync does:
//! the kernel may have dropped the pages, and a later sync would not say so.
//!
//! SQLite starts the WAL over only in a write transaction that began after every frame was
//! copied. A pass ending while the writer is between transactions (often, at moderate
//! load) is enough; but while the writer is busy its next transaction has usually begun
//! already, and a pass cannot copy the frames the writer adds while it runs (then it ends
//! short of the end, and SQLite does not sync the database: this thread does). So once
//! the WAL holds [`RESTART_FRAMES`] (it did not start over after the passes before), the
//! writer runs a pass itself, between two transactions, the next time it finds nothing
//! waiting for it: it copies the few commits since the last pass (two syncs with little
//! to write, where it used to run the whole checkpoint inside a commit), and its next
//! transaction starts the WAL over. Should the WAL pass [`WRITER_NOW_FRAMES`] (the writer
//! never idle), it does so at once, waiting jobs or not.

use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Instant;

use rusqlite::Connection;

use super::durable::Durability;

/// New WAL frames (pages) between two passes. SQLite's own default is 1,000, but its
/// checkpoints ran inside the writer; fewer, larger passes copy the pages every commit
/// touches less often.
const PASS_FRAMES: f64 = 4_000.0;
/// Frames per commit assumed before the first pass has measured them.
const FIRST_FRAMES_PER_COMMIT: f64 = 30.0;
/// From this many frames in the WAL (64 MB), the writer catches it up when idle, and the
/// WAL starts over. Each catch-up holds up the writer (2.5-3 ms in `siaga bench`: mostly
/// the database's sync, which commits the file system's journal as the file grows), so
/// not after every pass.
const RESTART_FRAMES: i64 = 16_000;
/// Past this many, the writer catches it up at once, waiting jobs or not.
const WRITER_NOW_FRAMES: i64 = 32_000;

/// What the checkpointer asks of the writer.
const ASK_NOTHING: u8 = 0;
const ASK_WHEN_IDLE: u8 = 1;
const ASK_NOW: u8 = 2;

/// What the writer and the checkpointer share.
pub(crate) struct Checkpoints {
    /// Commits so far.
    commits: AtomicU64,
    /// The commit count at which the checkpointer asks to be woken (`u64::MAX`: not now).
    due: AtomicU64,
    wake: mpsc::Sender<()>,
    /// `ASK_*`: whether the writer copies the rest of the WAL itself, and when.
    ask: AtomicU8,
}

impl Checkpoints {
    /// The writer committed a transaction.
    pub(crate) fn committed(&self) {
        let n = self.commits.fetch_add(1, Ordering::AcqRel) + 1;
        let due = self.due.load(Ordering::Acquire);
        if n >= due
            && self
                .due
                .compare_exchange(due, u64::MAX, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            let _ = self.wake.send(());
        }
    }

    /// The writer, between transactions (`idle`: no job waiting): if the checkpointer
    /// asked, copies the rest of the WAL into the database, and the next transaction
    /// starts the WAL over.
    pub(crate) fn catch_up_if_asked(&self, conn: &Connection, durability: &Durability, idle: bool) {
        let ask = self.ask.load(Ordering::Acquire);
        if ask == ASK_NOTHING || (ask == ASK_WHEN_IDLE && !idle) {
            return;
        }
        self.ask.store(ASK_NOTHING, Ordering::Release);
        let began = Instant::now();
        let res = pass(conn);
        durability.times.writer_checkpoint(began.elapsed());
        tracing::debug!(?res, ask, idle, "the writer caught the WAL up");
        if let Err(e) = res {
            failed(&e.to_string(), is_io(&e), durability);
        }
    }
}

/// What one `PRAGMA wal_checkpoint(PASSIVE)` found: frames in the WAL, and up to which
/// frame it is now copied into the database.
#[derive(Debug, Clone, Copy)]
struct Pass {
    log: i64,
    done: i64,
}

fn pass(conn: &Connection) -> rusqlite::Result<Pass> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok(Pass {
            log: r.get(1)?,
            done: r.get(2)?,
        })
    })
}

fn is_io(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(rusqlite::ErrorCode::SystemIoFailure)
}

/// A checkpoint's error: an I/O error stops the store (see the module's comment); any
/// other (another connection checkpointing, say) is logged, and the next pass retries.
fn failed(e: &str, io: bool, durability: &Durability) {
    if io {
        tracing::error!(error = %e, "a WAL checkpoint failed with an I/O error; the store stops");
        durability.fail(format!(
            "a WAL checkpoint failed ({e}); the store has stopped and siaga must be restarted"
        ));
    } else {
        tracing::warn!(error = %e, "a WAL checkpoint did not run; the next one retries");
    }
}

/// When the next pass is due, from what the passes so far found.
#[derive(Debug)]
struct Plan {
    frames_per_commit: f64,
    /// Commits, WAL frames and the WAL's checkpoint sequence number at the last pass.
    commits: u64,
    log: i64,
    seq: Option<u32>,
}

/// What to do after a pass.
#[derive(Debug, PartialEq)]
struct Next {
    /// Commits until the next pass.
    in_commits: u64,
    /// What to ask of the writer (`ASK_*`).
    ask: u8,
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            frames_per_commit: FIRST_FRAMES_PER_COMMIT,
            commits: 0,
            log: 0,
            seq: None,
        }
    }
}

impl Plan {
    fn in_commits(&self) -> u64 {
        ((PASS_FRAMES / self.frames_per_commit).ceil() as u64).max(1)
    }

    /// After a pass at `commits` commits that found `p`, the WAL's header saying `seq`.
    fn after(&mut self, commits: u64, seq: Option<u32>, p: Pass) -> Next {
        // Started over since the last pass: every frame in it is new.
        let restarted = seq != self.seq || p.log < self.log;
        let new_frames = if restarted { p.log } else { p.log - self.log };
        let new_commits = commits.saturating_sub(self.commits);
        if new_commits > 0 && new_frames > 0 {
            let seen = new_frames as f64 / new_commits as f64;
            self.frames_per_commit = (self.frames_per_commit + seen) / 2.0;
        }
        (self.commits, self.log, self.seq) = (commits, p.log, seq);
        let ask = if p.log >= WRITER_NOW_FRAMES {
            ASK_NOW
        } else if p.log >= RESTART_FRAMES {
            ASK_WHEN_IDLE
        } else {
            ASK_NOTHING
        };
        Next {
            in_commits: self.in_commits(),
            ask,
        }
    }
}

/// Starts the checkpointer thread on `conn` (a connection of its own to the database at
/// `db`); it ends once the returned handle's holders (the writer) have dropped it.
pub(crate) fn start(
    conn: Connection,
    db: &Path,
    durability: Arc<Durability>,
) -> std::io::Result<Arc<Checkpoints>> {
    let (tx, rx) = mpsc::channel();
    let plan = Plan::default();
    let shared = Arc::new(Checkpoints {
        commits: AtomicU64::new(0),
        due: AtomicU64::new(plan.in_commits()),
        wake: tx,
        ask: AtomicU8::new(ASK_NOTHING),
    });
    // Only a weak handle here: the thread must not keep its own wake channel open.
    let weak = Arc::downgrade(&shared);
    let db = db.to_owned();
    std::thread::Builder::new()
        .name("siaga-store-checkpoint".into())
        .spawn(move || run(&conn, &db, &weak, &rx, &durability, plan))?;
    Ok(shared)
}

fn run(
    conn: &Connection,
    db: &Path,
    shared: &std::sync::Weak<Checkpoints>,
    rx: &mpsc::Receiver<()>,
    durability: &Durability,
    mut plan: Plan,
) {
    while rx.recv().is_ok() {
        if durability.check().is_err() {
            return;
        }
        let began = Instant::now();
        let res = pass(conn).map_err(|e| (e.to_string(), is_io(&e)));
        // A pass that stopped short of the end left its copies unsynced: synced here, so
        // that a catch-up by the writer has only its own few pages to sync.
        let res = res.and_then(|p| match p.done < p.log {
            true => sync_file(db).map(|()| p).map_err(|e| (e.to_string(), true)),
            false => Ok(p),
        });
        durability.times.checkpoint(began.elapsed());
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let commits = shared.commits.load(Ordering::Acquire);
        tracing::debug!(?res, commits, "WAL checkpoint pass");
        let next = match res {
            Ok(p) => plan.after(commits, wal_seq(db), p),
            Err((e, io)) => {
                failed(&e, io, durability);
                Next {
                    in_commits: plan.in_commits(),
                    ask: ASK_NOTHING,
                }
            }
        };
        if next.ask != ASK_NOTHING {
            shared.ask.fetch_max(next.ask, Ordering::AcqRel);
        }
        shared
            .due
            .store(commits.saturating_add(next.in_commits), Ordering::Release);
    }
}

/// `fdatasync` of the database file.
fn sync_file(db: &Path) -> std::io::Result<()> {
    std::fs::File::open(std::fs::canonicalize(db)?)?.sync_data()
}

/// The checkpoint sequence number in the WAL's header (bytes 12..16, big-endian, in
/// SQLite's file format), which SQLite moves each time it starts the WAL over; none
/// without a WAL.
pub(crate) fn wal_seq(db: &Path) -> Option<u32> {
    let mut wal = std::fs::canonicalize(db).ok()?.into_os_string();
    wal.push("-wal");
    let mut header = [0u8; 16];
    std::fs::File::open(wal)
        .ok()?
        .read_exact(&mut header)
        .ok()?;
    let [.., a, b, c, d] = header;
    Some(u32::from_be_bytes([a, b, c, d]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_come_every_pass_frames_and_the_writer_starts_the_wal_over_when_they_cannot() {
        let mut plan = Plan::default();
        assert_eq!(plan.in_commits(), 134, "4,000 frames at 30 a commit");
        // 200 commits of 20 frames: the estimate moves halfway to 20. The first pass:
        // nothing asked of the writer.
        let pass = |log, done| Pass { log, done };
        let next = plan.after(200, Some(1), pass(4_000, 4_000));
        assert_eq!(plan.frames_per_commit, 25.0);
        assert_eq!(
            next,
            Next {
                in_commits: 160,
                ask: ASK_NOTHING
            }
        );
        // Started over since (another sequence number): every frame is new.
        let next = plan.after(360, Some(2), pass(4_000, 3_900));
        assert_eq!(plan.frames_per_commit, 25.0);
        assert_eq!(next.ask, ASK_NOTHING);
        // Not started over: only the frames since count.
        let next = plan.after(520, Some(2), pass(8_000, 8_000));
        assert_eq!(plan.frames_per_commit, 25.0);
        assert_eq!(next.ask, ASK_NOTHING);
        // Long enough: the writer catches the WAL up when it is idle, and starts it over.
        let next = plan.after(840, Some(2), pass(16_000, 15_900));
        assert_eq!(
            next,
            Next {
                in_commits: 160,
                ask: ASK_WHEN_IDLE
            }
        );
        // A WAL that kept growing past the mark: the writer catches it up at once.
        let next = plan.after(1_500, Some(2), pass(33_000, 32_000));
        assert_eq!(next.ask, ASK_NOW);
        // Outside WAL mode (-1, -1), or an empty WAL: nothing to do.
        let next = plan.after(1_201, None, pass(-1, -1));
        assert_eq!(next.ask, ASK_NOTHING);
        let next = plan.after(1_202, Some(3), pass(0, 0));
        assert_eq!(next.ask, ASK_NOTHING);
    }

    #[test]
    fn the_wal_sequence_number_moves_when_the_wal_starts_over() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("t.db");
        let c = Connection::open(&db).unwrap();
        c.execute_batch("PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0; CREATE TABLE t(x);")
            .unwrap();
        c.execute("INSERT INTO t VALUES (1)", []).unwrap();
        let first = wal_seq(&db).expect("a WAL");
        // Copied whole, then the next write transaction starts the WAL over.
        let p = pass(&c).unwrap();
        assert_eq!(p.done, p.log);
        c.execute("INSERT INTO t VALUES (2)", []).unwrap();
        assert_ne!(wal_seq(&db), Some(first));
        assert_eq!(wal_seq(&dir.path().join("none.db")), None);
    }
}
