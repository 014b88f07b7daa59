//! Group commit for the order path on PostgreSQL (issue #22): order intakes and settles
//! waiting at the same moment run one after another in one transaction on one connection,
//! each in a savepoint of its own, and share one COMMIT. Without it, every order's two
//! writes take turns on the same few account rows (the reseller's held balance, revenue,
//! cost, the supplier), each holding them until its own COMMIT is durable, and the waiting
//! transactions re-check the rows they waited for: measured, that chain and its CPU, not
//! the disk, bounded orders per second.
//!
//! Each job is answered only after the COMMIT that holds it was acknowledged. A job whose
//! statement failed is rolled back to its savepoint and answered with its error, as its own
//! transaction would have been. When the batch itself cannot finish (the connection is
//! lost before COMMIT, the COMMIT is refused) nothing of it was committed, and every job is
//! told to run alone ([`Ran::Alone`]: the plain path, with its retries). When the COMMIT
//! goes unanswered, every job in it is answered [`StoreError::OutcomeUnknown`], which the
//! callers read back ([`super::readback`]) as they do for a transaction of their own.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use deadpool_postgres::Pool;
use tokio::sync::oneshot;

use super::transitions;
use super::tx::{Ended, Tx};
use crate::error::{pg_connection_lost, StoreError};
use crate::times::{WriteTimes, WriteTimesSnapshot};
use crate::types::*;

/// The most jobs one transaction takes; later ones wait for the next.
const MAX_BATCH: usize = 128;

/// One write of the order path.
pub(crate) enum Work {
    Intake {
        n: NewOrder,
        first: Option<NewAttempt>,
        owner: Option<String>,
    },
    Settle(Settle),
}

/// A job's answer, by kind.
pub(crate) enum Answer {
    Intake(Box<(Intake, Option<Attempt>)>),
    Settle(Box<Transition<Order>>),
}

/// How a job fared in a batch.
pub(crate) enum Ran {
    /// Committed with the batch (or failed on its own, rolled back to its savepoint).
    Done(Result<Answer, StoreError>),
    /// Nothing of it was committed: run it alone.
    Alone,
}

struct Job {
    work: Work,
    reply: oneshot::Sender<Ran>,
    /// When it was handed over, and when its batch began to run it.
    queued: Instant,
    ran: Option<Instant>,
}

#[derive(Default)]
struct Queue {
    jobs: Vec<Job>,
    /// A runner task is taking jobs.
    running: bool,
}

/// The jobs waiting for a batch, and what a runner needs (cheap clones of the store's own).
pub(crate) struct Batcher {
    pool: Pool,
    feed: super::Feed,
    queue: Mutex<Queue>,
    /// The batches' times: a COMMIT (which on PostgreSQL includes its WAL flush) counts as
    /// both the commit and the sync.
    times: WriteTimes,
}

impl Batcher {
    pub(crate) fn new(pool: Pool, feed: super::Feed) -> Arc<Batcher> {
        Arc::new(Batcher {
            pool,
            feed,
            queue: Mutex::default(),
            times: WriteTimes::default(),
        })
    }

    /// The batches' times so far.
    pub(crate) fn times(&self) -> WriteTimesSnapshot {
        self.times.snapshot()
    }

    /// Runs `work` in the next batch. [`Ran::Alone`] also when no batch can be run here
    /// (outside a Tokio runtime).
    pub(crate) async fn run(self: &Arc<Self>, work: Work) -> Ran {
        let (reply, answer) = oneshot::channel();
        let start = {
            let Ok(mut q) = self.queue.lock() else {
                return Ran::Alone;
            };
            if tokio::runtime::Handle::try_current().is_err() {
                return Ran::Alone;
            }
            q.jobs.push(Job {
                work,
                reply,
                queued: Instant::now(),
                ran: None,
            });
            !std::mem::replace(&mut q.running, true)
        };
        if start {
            let me = self.clone();
            // A task of its own: no caller's cancellation can stop a batch half way.
            tokio::spawn(async move { me.drain().await });
        }
        match answer.await {
            Ok(ran) => ran,
            // The runner was dropped with the runtime: whether its COMMIT landed is unknown.
            Err(_) => Ran::Done(Err(StoreError::OutcomeUnknown(
                "the batch writer stopped".into(),
            ))),
        }
    }

    /// Takes batches until the queue is empty.
    async fn drain(self: Arc<Self>) {
        let mut guard = Running {
            batcher: &self,
            ended: false,
        };
        loop {
            let jobs = {
                let Ok(mut q) = self.queue.lock() else {
                    return;
                };
                if q.jobs.is_empty() {
                    q.running = false;
                    guard.ended = true;
                    return;
                }
                let n = q.jobs.len().min(MAX_BATCH);
                q.jobs.drain(..n).collect::<Vec<_>>()
            };
            self.batch(jobs).await;
        }
    }

    /// One transaction for `jobs`, each in a savepoint; answers every one.
    async fn batch(&self, jobs: Vec<Job>) {
        let Ok(mut client) = self.pool.get().await else {
            return alone(jobs);
        };
        let Ok(mut tx) = client.transaction().await else {
            return alone(jobs);
        };
        let mut done: Vec<(Job, Result<Answer, StoreError>, Vec<OutboxItem>)> = Vec::new();
        let mut retry: Vec<Job> = Vec::new();
        let mut jobs = jobs.into_iter();
        for mut job in jobs.by_ref() {
            job.ran = Some(Instant::now());
            let Ok(sp) = tx.savepoint("job").await else {
                retry.push(job);
                break;
            };
            let t = Tx::new(sp);
            let res = job.work.run(&t).await;
            let failed = res.is_err();
            match t.end(res).await {
                Ended::Done(v, fed) => done.push((job, Ok(v), fed)),
                // Its savepoint's RELEASE went unanswered: its writes may be in the
                // transaction, so it is never run again blind; it is read back.
                Ended::Failed(e @ StoreError::OutcomeUnknown(_)) => {
                    done.push((job, Err(e), Vec::new()))
                }
                Ended::Failed(e) if !closed(&tx) => done.push((job, Err(e), Vec::new())),
                // A deadlock or serialization failure of its own (rolled back to its
                // savepoint), or the connection lost: it runs again alone.
                Ended::Again(_) | Ended::Failed(_) => retry.push(job),
            }
            // After a job that failed, the transaction must be usable again (rolled back
            // to the savepoint); if not, nothing of the batch can be committed.
            if closed(&tx) || (failed && tx.batch_execute("SELECT 1").await.is_err()) {
                done.into_iter()
                    .map(|d| d.0)
                    .chain(retry)
                    .chain(jobs)
                    .for_each(|j| {
                        let _ = j.reply.send(Ran::Alone);
                    });
                return;
            }
        }
        retry.extend(jobs);
        let at = Instant::now();
        let committed = tx.commit().await;
        let took = at.elapsed();
        match committed {
            Ok(()) => {
                self.times.commit(done.len(), took);
                self.times.sync(took);
                let end = Instant::now();
                for (job, _, _) in &done {
                    let ran = job.ran.unwrap_or(end);
                    self.times
                        .write(ran.saturating_duration_since(job.queued), end - ran);
                }
                self.times.synced(done.len(), std::time::Duration::ZERO);
                for (job, res, fed) in done {
                    if res.is_ok() {
                        super::feed(&self.feed, fed);
                    }
                    let _ = job.reply.send(Ran::Done(res));
                }
                alone(retry);
            }
            Err(e) if pg_connection_lost(&e) => {
                let why = format!("batch commit unanswered: {e}");
                for (job, res, _) in done {
                    let ran = match res {
                        Ok(_) | Err(StoreError::OutcomeUnknown(_)) => {
                            Ran::Done(Err(StoreError::OutcomeUnknown(why.clone())))
                        }
                        // Rolled back to its savepoint before the COMMIT: not in it.
                        Err(_) => Ran::Alone,
                    };
                    let _ = job.reply.send(ran);
                }
                alone(retry);
            }
            // The server refused the COMMIT: nothing was committed.
            Err(_) => alone(done.into_iter().map(|d| d.0).chain(retry).collect()),
        }
    }
}

/// While a runner runs; if it is dropped before it ends (its runtime shutting down), the
/// jobs still queued are told to run alone and the next job starts a new runner.
struct Running<'a> {
    batcher: &'a Batcher,
    ended: bool,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        if let Ok(mut q) = self.batcher.queue.lock() {
            q.running = false;
            alone(std::mem::take(&mut q.jobs));
        }
    }
}

/// Whether the batch's connection is gone (so its transaction is too).
fn closed(tx: &deadpool_postgres::Transaction<'_>) -> bool {
    tx.client().is_closed()
}

fn alone(jobs: Vec<Job>) {
    for job in jobs {
        let _ = job.reply.send(Ran::Alone);
    }
}

impl Work {
    async fn run(&self, t: &Tx<'_>) -> Result<Answer, StoreError> {
        match self {
            Work::Intake { n, first, owner } => {
                let owner = owner.as_deref();
                let (intake, attempt) = match first {
                    Some(a) => super::orders::create_with_attempt(t, n, a, owner).await?,
                    None => (super::orders::create(t, n, owner).await?, None),
                };
                Ok(Answer::Intake(Box::new((intake, attempt))))
            }
            Work::Settle(s) => Ok(Answer::Settle(Box::new(transitions::settle(t, s).await?))),
        }
    }
}
