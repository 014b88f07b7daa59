//! The SQLite store's one writer thread: it takes jobs from a channel, runs them in
//! batches inside one `BEGIN IMMEDIATE` transaction each (group commit), leaves a failing
//! job out without taking the others down (see [`run_batch`]), numbers each commit and
//! hands it to the syncer thread, which answers the callers once it is durable. It never
//! checkpoints the WAL inside a commit (see [`super::checkpoint`]).

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::checkpoint::Checkpoints;
use super::durable::{Durability, Synced};
use super::{exec, outbox};
use crate::error::StoreError;
use crate::types::OutboxItem;

/// Most jobs committed together in one transaction.
const MAX_BATCH: usize = 256;
/// Group commit under load: a batch smaller than this waits up to `LINGER` for company,
/// but only when the previous commit ended less than `LINGER_WHEN_BUSY` ago.
const LINGER_BELOW: usize = 32;
const LINGER: std::time::Duration = std::time::Duration::from_micros(200);
const LINGER_WHEN_BUSY: std::time::Duration = std::time::Duration::from_millis(1);
/// How long a transaction keeps taking jobs that arrive while it runs, before it commits.
const GATHER_FOR: std::time::Duration = std::time::Duration::from_millis(2);

/// How to answer a job's caller, given how its commit ended.
pub(crate) type Done = Box<dyn FnOnce(Result<(), String>) + Send>;

/// A write job. `run` executes it inside the batch transaction and keeps its result; it
/// runs again, from the start, if a later job of its transaction failed and the
/// transaction was redone without that one. `finish` gives the answer for its caller
/// (a job that never ran answers with the commit's error).
pub(super) trait WriteJob: Send {
    fn run(&mut self, conn: &Connection) -> bool;
    /// When it was handed to the writer, and when it first ran.
    fn stamps(&self) -> (std::time::Instant, Option<std::time::Instant>);
    fn finish(self: Box<Self>) -> Done;
}
pub(super) type Job = Box<dyn WriteJob>;

/// A caller's write: its function, its last result and the messages it enqueued.
pub(super) struct Pending<T, F> {
    pub(super) f: F,
    pub(super) result: Option<Result<T, StoreError>>,
    pub(super) enqueued: Vec<OutboxItem>,
    pub(super) tx: oneshot::Sender<Result<T, StoreError>>,
    pub(super) feed: Feed,
    /// When it was handed to the writer, and when it first ran (for `WriteTimes`).
    pub(super) queued_at: std::time::Instant,
    pub(super) ran_at: Option<std::time::Instant>,
}

impl<T, F> WriteJob for Pending<T, F>
where
    T: Send + 'static,
    F: Fn(&Connection) -> Result<T, StoreError> + Send + 'static,
{
    fn stamps(&self) -> (std::time::Instant, Option<std::time::Instant>) {
        (self.queued_at, self.ran_at)
    }

    fn run(&mut self, conn: &Connection) -> bool {
        self.ran_at.get_or_insert_with(std::time::Instant::now);
        // Left by a job that never reached its end: not this job's.
        drop(outbox::take_enqueued());
        let res = match std::panic::catch_unwind(AssertUnwindSafe(|| (self.f)(conn))) {
            Ok(r) => r,
            Err(_) => Err(StoreError::Commit("a store job panicked".into())),
        };
        let ok = res.is_ok();
        // A failed job's writes are rolled back: its messages never existed.
        self.enqueued = if ok {
            outbox::take_enqueued()
        } else {
            Vec::new()
        };
        self.result = Some(res);
        ok
    }

    fn finish(self: Box<Self>) -> Done {
        let Pending {
            result,
            enqueued,
            tx,
            feed,
            ..
        } = *self;
        Box::new(move |commit| {
            if commit.is_ok() && !enqueued.is_empty() {
                publish(&feed, enqueued);
            }
            let out = match (commit, result) {
                (Ok(()), Some(res)) => res,
                (Ok(()), None) => Err(StoreError::Commit("no write transaction".into())),
                (Err(e), _) => Err(StoreError::Commit(e)),
            };
            let _ = tx.send(out);
        })
    }
}

/// Where newly committed outbox messages go, once someone listens (see
/// [`crate::Store::subscribe_outbox`]).
pub(super) type Feed = Arc<Mutex<Option<mpsc::Sender<OutboxItem>>>>;

/// Messages the feed holds before new ones are dropped (the deliverer's poll finds those).
pub(super) const FEED_CAPACITY: usize = 4096;

/// Hands durable new outbox messages to the listener, if any; a full or closed feed
/// drops them (they stay `pending` in the table for the deliverer's poll).
fn publish(feed: &Feed, items: Vec<OutboxItem>) {
    let Ok(mut guard) = feed.lock() else { return };
    let Some(tx) = guard.as_ref() else { return };
    for item in items {
        match tx.try_send(item) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {}
            Err(mpsc::error::TrySendError::Closed(_)) => {
                *guard = None;
                return;
            }
        }
    }
}

pub(super) fn writer_loop(
    conn: Connection,
    mut rx: mpsc::Receiver<Job>,
    durability: &Durability,
    synced: std::sync::mpsc::Sender<Synced>,
    checkpoints: &Checkpoints,
) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    let mut last_commit = std::time::Instant::now();
    loop {
        // Only when the checkpointer asked (see `checkpoint`): when nothing waits, or at
        // once if the WAL grew too long.
        checkpoints.catch_up_if_asked(&conn, durability, rx.is_empty());
        let Some(first) = rx.blocking_recv() else {
            break;
        };
        batch.push(first);
        drain(&mut rx, &mut batch);
        // Under sustained load (the last commit just ended), wait a moment for more jobs:
        // one durable commit then carries many orders, and the pages they share (accounts,
        // indexes) are written once instead of once per order. Idle, a job goes at once.
        if batch.len() < LINGER_BELOW && last_commit.elapsed() < LINGER_WHEN_BUSY {
            std::thread::sleep(LINGER);
            drain(&mut rx, &mut batch);
        }
        run_batch(&conn, &mut rx, &mut batch, durability, &synced, checkpoints);
        last_commit = std::time::Instant::now();
    }
}

fn drain(rx: &mut mpsc::Receiver<Job>, batch: &mut Vec<Job>) {
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(j) => batch.push(j),
            Err(_) => break,
        }
    }
}

/// Runs `batch`, and the jobs that arrive meanwhile, in as few transactions as it can.
///
/// Jobs run one after another with no savepoint of their own (a savepoint costs two
/// statements and a copy of every page a job touches). Should one fail, the transaction is
/// rolled back, the jobs before it run again from the start, and the rest of the
/// transaction takes one savepoint per job: a failing job never takes others down, and at
/// most one redo per transaction.
fn run_batch(
    conn: &Connection,
    rx: &mut mpsc::Receiver<Job>,
    batch: &mut Vec<Job>,
    durability: &Durability,
    synced: &std::sync::mpsc::Sender<Synced>,
    checkpoints: &Checkpoints,
) {
    let mut jobs = batch.drain(..).collect::<VecDeque<Job>>();
    while !jobs.is_empty() {
        if let Err(msg) = begin(conn, durability) {
            tracing::error!(error = %msg, "cannot begin a write transaction");
            for job in jobs.drain(..) {
                job.finish()(Err(msg.clone()));
            }
            return;
        }
        let tx = run_transaction(conn, rx, &mut jobs, durability);
        if commit(conn, durability, synced, tx) {
            checkpoints.committed();
        }
    }
}

/// What one transaction of a batch did: the jobs that stand in it, those that failed
/// (rolled back), and whether the database rolled the whole transaction back.
struct Ran {
    ran: Vec<Job>,
    failed: Vec<Job>,
    lost: bool,
}

/// Runs jobs from `jobs` (and those arriving meanwhile) in the open transaction until
/// they run out, the batch is full, or the transaction is lost; the rest stay in `jobs`.
fn run_transaction(
    conn: &Connection,
    rx: &mut mpsc::Receiver<Job>,
    jobs: &mut VecDeque<Job>,
    durability: &Durability,
) -> Ran {
    let mut t = Ran {
        ran: Vec::with_capacity(jobs.len()),
        failed: Vec::new(),
        lost: false,
    };
    let mut careful = false;
    let began = std::time::Instant::now();
    loop {
        // Jobs that arrived while this transaction ran join it (up to MAX_BATCH and
        // GATHER_FOR): the commit carries them at no extra wait, where they would
        // otherwise wait for this commit and then their own.
        if jobs.is_empty()
            && t.ran.len() + t.failed.len() < MAX_BATCH
            && began.elapsed() < GATHER_FOR
        {
            if let Ok(j) = rx.try_recv() {
                jobs.push_back(j);
            }
        }
        let Some(mut job) = jobs.pop_front() else {
            return t;
        };
        if careful && exec(conn, "SAVEPOINT job").is_err() {
            // Never ran: answered with an error.
            t.failed.push(job);
            continue;
        }
        let ok = job.run(conn);
        if conn.is_autocommit() {
            // SQLite rolled the whole transaction back (I/O error, disk full...): every
            // job of it so far is lost; the rest go into a fresh transaction.
            t.ran.push(job);
            t.lost = true;
            return t;
        }
        if careful {
            end_savepoint(conn, ok);
            if ok {
                t.ran.push(job);
            } else {
                t.failed.push(job);
            }
            if conn.is_autocommit() {
                t.lost = true;
                return t;
            }
            continue;
        }
        if ok {
            t.ran.push(job);
            continue;
        }
        // The first failure: undo everything, redo the jobs before it, go on carefully.
        t.failed.push(job);
        careful = true;
        if !redo(conn, durability, &mut t.ran) {
            t.lost = true;
            return t;
        }
    }
}

/// Keeps (`ok`) or undoes a careful job's savepoint.
fn end_savepoint(conn: &Connection, ok: bool) {
    let end = if ok {
        exec(conn, "RELEASE job")
    } else {
        exec(conn, "ROLLBACK TO job").and_then(|_| exec(conn, "RELEASE job"))
    };
    if let Err(e) = end {
        tracing::error!(error = %e, "savepoint end failed");
    }
}

/// Commits the transaction (unless lost), numbers it and hands its answers to the syncer.
/// Returns whether it committed.
fn commit(
    conn: &Connection,
    durability: &Durability,
    synced: &std::sync::mpsc::Sender<Synced>,
    t: Ran,
) -> bool {
    // Numbered before the COMMIT, so a reader that saw it also sees its number.
    let seq = durability.next_commit();
    let commit = if t.lost {
        Err("the write transaction was rolled back by the database".to_string())
    } else {
        let at = std::time::Instant::now();
        let done = exec(conn, "COMMIT").map_err(|e| e.to_string());
        durability.times.commit(t.ran.len(), at.elapsed());
        let end = std::time::Instant::now();
        for j in &t.ran {
            let (queued, ran) = j.stamps();
            let ran = ran.unwrap_or(end);
            durability
                .times
                .write(ran.saturating_duration_since(queued), end - ran);
        }
        done
    };
    let committed = std::time::Instant::now();
    let ok = commit.is_ok();
    if commit.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    let dones = t
        .ran
        .into_iter()
        .chain(t.failed)
        .map(|j| j.finish())
        .collect();
    let group = Synced {
        seq,
        commit,
        dones,
        committed,
    };
    if let Err(std::sync::mpsc::SendError(group)) = synced.send(group) {
        // The syncer is gone (the process is ending): nobody may hear of a commit
        // that was not synced.
        for done in group.dones {
            done(Err("the store is shutting down".into()));
        }
    }
    ok
}

/// `BEGIN IMMEDIATE`, unless the store has stopped.
fn begin(conn: &Connection, durability: &Durability) -> Result<(), String> {
    durability.check().map_err(|e| e.to_string())?;
    exec(conn, "BEGIN IMMEDIATE").map_err(|e| e.to_string())
}

/// Rolls the transaction back and runs `ran` again in a fresh one. False if that could not
/// be done: a job that succeeded before failed now (the state changed in between), or the
/// transaction could not be reopened; then nothing of it stands.
fn redo(conn: &Connection, durability: &Durability, ran: &mut [Job]) -> bool {
    if let Err(e) = exec(conn, "ROLLBACK") {
        tracing::error!(error = %e, "cannot roll back to redo a batch");
        return false;
    }
    if begin(conn, durability).is_err() {
        return false;
    }
    for job in ran.iter_mut() {
        if !job.run(conn) || conn.is_autocommit() {
            tracing::warn!("a write failed when its batch was redone; the batch is not committed");
            if !conn.is_autocommit() {
                let _ = exec(conn, "ROLLBACK");
            }
            return false;
        }
    }
    true
}
