//! Running a transaction on PostgreSQL and knowing how it ended (SPEC 12): one whose
//! outcome is known not to be committed (a serialization failure or deadlock, 40001 or
//! 40P01; a connection lost before COMMIT was sent) is run again on a fresh connection;
//! one whose COMMIT was sent but not acknowledged is reported as
//! [`StoreError::OutcomeUnknown`] and never run again here. The helpers below run one
//! statement through the connection's statement cache.

use std::sync::Mutex;
use std::time::Duration;

use deadpool_postgres::{GenericClient, Transaction};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use crate::error::StoreError;
use crate::types::OutboxItem;

/// How often a transaction that certainly did not commit is run again.
pub(crate) const MAX_TRIES: u32 = 12;

/// One write transaction, with the callback messages it enqueued (fed to the outbox
/// listener only after the commit).
pub(crate) struct Tx<'a> {
    pub c: Transaction<'a>,
    fed: Mutex<Vec<OutboxItem>>,
    /// Set when the work's answer stands but what it wrote must not (a refused intake).
    roll_back: std::sync::atomic::AtomicBool,
}

/// How a transaction ended.
pub(crate) enum Ended<T> {
    Done(T, Vec<OutboxItem>),
    /// Certainly not committed; may run again.
    Again(StoreError),
    Failed(StoreError),
}

impl<'a> Tx<'a> {
    pub(crate) fn new(c: Transaction<'a>) -> Tx<'a> {
        Tx {
            c,
            fed: Mutex::new(Vec::new()),
            roll_back: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Ends the transaction with a rollback even when the work answers Ok: nothing it
    /// wrote is kept, and its answer is given as it is.
    pub(crate) fn roll_back(&self) {
        self.roll_back
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Remembers a message written in this transaction, for the feed.
    pub(crate) fn fed(&self, item: OutboxItem) {
        if let Ok(mut f) = self.fed.lock() {
            f.push(item);
        }
    }

    /// Commits when `res` is Ok, else rolls back; says whether the work may run again.
    pub(crate) async fn end<T>(self, res: Result<T, StoreError>) -> Ended<T> {
        let Tx { c, fed, roll_back } = self;
        match res {
            Ok(v) if roll_back.into_inner() => {
                // Never committed, whether or not the rollback is answered (the server
                // rolls back what a dropped session had not committed).
                let _ = c.rollback().await;
                Ended::Done(v, Vec::new())
            }
            Ok(v) => {
                let fed = fed.into_inner().unwrap_or_default();
                match c.commit().await {
                    Ok(()) => Ended::Done(v, fed),
                    // The server said the commit failed: nothing was committed.
                    Err(e) if retryable_code(&e) => Ended::Again(e.into()),
                    // No answer to COMMIT, or the session ended under it: it may have
                    // happened.
                    Err(e) if connection_lost(&e) => {
                        Ended::Failed(StoreError::OutcomeUnknown(e.to_string()))
                    }
                    Err(e) => Ended::Failed(e.into()),
                }
            }
            Err(e) => {
                // Dropped unanswered, the transaction is rolled back by the server anyway.
                let _ = c.rollback().await;
                if again(&e) {
                    Ended::Again(e)
                } else {
                    Ended::Failed(e)
                }
            }
        }
    }
}

use crate::error::{pg_connection_lost as connection_lost, pg_retryable_code as retryable_code};

/// Whether an error met before COMMIT was sent leaves the transaction certainly
/// uncommitted and worth running again: a serialization failure, a deadlock, or a lost
/// connection (the server rolls back what a dropped session had not committed).
pub(crate) fn again(e: &StoreError) -> bool {
    match e {
        StoreError::Postgres(pg) => retryable_code(pg) || connection_lost(pg),
        StoreError::Unavailable(_) => true,
        _ => false,
    }
}

/// Waits before try number `tries` (1, 2, ...): a few milliseconds, doubling, with jitter.
pub(crate) async fn pause(tries: u32) {
    let base = 2u64 << tries.min(6);
    let jitter = u64::from(ulid::Ulid::new().random() as u32 % 8);
    tokio::time::sleep(Duration::from_millis(base + jitter)).await;
}

/// Runs `$body` (an expression using the transaction `$t: &Tx`) in a READ COMMITTED
/// transaction on `$store`, again while it certainly did not commit (see the module doc).
macro_rules! write_tx {
    ($store:expr, |$t:ident| $body:expr) => {{
        let mut tries: u32 = 0;
        loop {
            tries += 1;
            let res = async {
                let mut client = $store.client().await?;
                let tx = client
                    .transaction()
                    .await
                    .map_err($crate::error::StoreError::from)?;
                let $t = $crate::postgres::tx::Tx::new(tx);
                let res = async { $body }.await;
                Ok::<_, $crate::error::StoreError>($t.end(res).await)
            }
            .await;
            let ended = match res {
                Ok(ended) => ended,
                Err(e) if $crate::postgres::tx::again(&e) => {
                    $crate::postgres::tx::Ended::Again(e)
                }
                Err(e) => $crate::postgres::tx::Ended::Failed(e),
            };
            match ended {
                $crate::postgres::tx::Ended::Done(v, fed) => {
                    $store.feed(fed);
                    break Ok(v);
                }
                $crate::postgres::tx::Ended::Again(e) if tries < $crate::postgres::tx::MAX_TRIES => {
                    tracing::debug!(error = %e, tries, "transaction not committed; running it again");
                    $crate::postgres::tx::pause(tries).await;
                }
                $crate::postgres::tx::Ended::Again(e) | $crate::postgres::tx::Ended::Failed(e) => {
                    break Err(e);
                }
            }
        }
    }};
}
pub(crate) use write_tx;

/// Runs `$body` (using `$c`, a pooled connection or a read-only snapshot transaction when
/// `snapshot` is given) again while it fails on a lost connection.
macro_rules! read_tx {
    ($store:expr, |$c:ident| $body:expr) => {{
        let mut tries: u32 = 0;
        loop {
            tries += 1;
            let res = async {
                let $c = $store.client().await?;
                let $c = &$c;
                $body
            }
            .await;
            match res {
                Err(e) if $crate::postgres::tx::again(&e) && tries < 3 => {
                    $crate::postgres::tx::pause(tries).await;
                }
                other => break other,
            }
        }
    }};
    ($store:expr, snapshot |$c:ident| $body:expr) => {{
        let mut tries: u32 = 0;
        loop {
            tries += 1;
            let res = async {
                let mut client = $store.client().await?;
                let tx = client
                    .build_transaction()
                    .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                    .read_only(true)
                    .start()
                    .await?;
                let out = {
                    let $c = &tx;
                    $body
                };
                tx.commit().await?;
                out
            }
            .await;
            match res {
                Err(e) if $crate::postgres::tx::again(&e) && tries < 3 => {
                    $crate::postgres::tx::pause(tries).await;
                }
                other => break other,
            }
        }
    }};
}
pub(crate) use read_tx;

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// Every row of one statement.
pub(crate) async fn rows<C: GenericClient>(
    c: &C,
    sql: &str,
    p: Params<'_>,
) -> Result<Vec<Row>, StoreError> {
    let st = c.prepare_cached(sql).await?;
    Ok(c.query(&st, p).await?)
}

/// The row of one statement, if any (more than one is an error).
pub(crate) async fn opt<C: GenericClient>(
    c: &C,
    sql: &str,
    p: Params<'_>,
) -> Result<Option<Row>, StoreError> {
    let st = c.prepare_cached(sql).await?;
    Ok(c.query_opt(&st, p).await?)
}

/// The one row of one statement.
pub(crate) async fn one<C: GenericClient>(
    c: &C,
    sql: &str,
    p: Params<'_>,
) -> Result<Row, StoreError> {
    let st = c.prepare_cached(sql).await?;
    Ok(c.query_one(&st, p).await?)
}

/// Runs one statement; how many rows it changed.
pub(crate) async fn exec<C: GenericClient>(
    c: &C,
    sql: &str,
    p: Params<'_>,
) -> Result<u64, StoreError> {
    let st = c.prepare_cached(sql).await?;
    Ok(c.execute(&st, p).await?)
}

/// Takes the transaction-scoped advisory lock that orders the ids of the news table
/// `table` (see "News cursors" in lib.rs): held until the commit, so a later id cannot
/// become visible before an earlier one. Keyed by schema too, so stores in other schemas
/// of one database do not wait for each other.
pub(crate) async fn lock_news<C: GenericClient>(c: &C, table: &str) -> Result<(), StoreError> {
    exec(
        c,
        "SELECT pg_advisory_xact_lock(hashtext(COALESCE(current_schema(), '') || '.' || $1::text))",
        &[&table],
    )
    .await?;
    Ok(())
}
