//! Reading back a write whose COMMIT went unanswered (SPEC 12): when the connection dies
//! while COMMIT is on its way, the transaction may or may not have landed
//! ([`StoreError::OutcomeUnknown`]). For the writes that matter (order intake, starting an
//! attempt, settling one) the store then looks, on a fresh connection, whether it landed,
//! and only runs it again if it surely did not. Each look first takes the lock the
//! original write took (the order's `ref_id` in the unique index for an intake, the order
//! row for a transition), so a COMMIT still in flight on the old session has ended before the look
//! reads: what it finds is the truth, not a race.
//!
//! Each look is itself one transaction that, when the write is not there, runs it in the
//! same transaction; its own COMMIT can go unanswered too, so the looks are repeated
//! ([`READ_BACK_TRIES`], with backoff) until one is answered. If none is, the outcome stays
//! unknown: the intake answers 503 (the reseller retries with the same `ref_id` and gets
//! the one order), and the engine neither sends an attempt nor forgets its order.

use std::future::Future;

use super::batch::{Answer, Ran, Work};
use super::orders::{attempt_by_id, order_row, ORDER_COLS};
use super::transitions;
use super::tx::{opt, Tx};
use super::PgStore;
use crate::error::StoreError;
use crate::types::*;

/// How many looks after an unanswered COMMIT before the outcome is reported unknown.
pub(crate) const READ_BACK_TRIES: u32 = 5;

/// `first`, or when its outcome is unknown, the answer of `look` (run again while its own
/// outcome is unknown or the database cannot be reached, at most [`READ_BACK_TRIES`]
/// times). Never turns an unknown outcome into a plain failure: if no look is answered the
/// result is [`StoreError::OutcomeUnknown`].
pub(crate) async fn until_known<T, F, Fut>(
    what: &str,
    first: Result<T, StoreError>,
    mut look: F,
) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let why = match first {
        Err(StoreError::OutcomeUnknown(why)) => why,
        other => return other,
    };
    tracing::warn!(error = %why, what, "a commit went unanswered; reading back whether it landed");
    for tries in 1..=READ_BACK_TRIES {
        tokio::time::sleep(std::time::Duration::from_millis(
            u64::from(tries.min(5)) * 100,
        ))
        .await;
        match look().await {
            Err(e @ StoreError::OutcomeUnknown(_)) => {
                tracing::debug!(error = %e, tries, what, "the read-back's own commit went unanswered");
            }
            Err(e) if e.is_unavailable() => {
                tracing::debug!(error = %e, tries, what, "the read-back cannot reach the database yet");
            }
            other => {
                tracing::info!(what, tries, "read back after an unanswered commit");
                return other;
            }
        }
    }
    Err(StoreError::OutcomeUnknown(format!(
        "{what}: {why}; still unknown after {READ_BACK_TRIES} read-backs"
    )))
}

/// An intake run again after its first run's COMMIT went unanswered: the reseller's
/// `ref_id` finds the order if that run landed (its insert holds the `ref_id` in the unique
/// index until it ends, so this one waits for it). Our own order found again is `Created` (it was
/// this request that created it), with its first attempt when it is still as written.
pub(crate) async fn intake_again(
    t: &Tx<'_>,
    n: &NewOrder,
    first: Option<&NewAttempt>,
    owner: Option<&str>,
) -> Result<(Intake, Option<Attempt>), StoreError> {
    let (intake, attempt) = match first {
        Some(a) => super::orders::create_with_attempt(t, n, a, owner).await?,
        None => (super::orders::create(t, n, owner).await?, None),
    };
    let o = match intake {
        Intake::Replay(o) if o.id == n.order_id => o,
        other => return Ok((other, attempt)),
    };
    let Some(a) = first else {
        return Ok((Intake::Created(o), None));
    };
    let stored = attempt_by_id(&t.c, &a.attempt_id).await?;
    match stored {
        // Untouched since the intake: the order as intake returns it (before the attempt),
        // so the engine sends the attempt now.
        Some(att) if o.version == 1 && att.state == AttemptState::Sending => {
            let before = Order {
                version: 0,
                next_action_at: Some(o.created_at),
                updated_at: o.created_at,
                ..o
            };
            Ok((Intake::Created(before), Some(att)))
        }
        // Moved on since: the dispatcher takes it from what the store says.
        _ => Ok((Intake::Created(o), None)),
    }
}

/// The order `order_id`, locked until the commit (waiting for any transaction that holds
/// it, the unanswered one included).
async fn locked_order(t: &Tx<'_>, order_id: &str) -> Result<Option<Order>, StoreError> {
    let sql = format!("SELECT {ORDER_COLS} FROM orders WHERE id = $1 FOR UPDATE");
    opt(&t.c, &sql, &[&order_id])
        .await?
        .as_ref()
        .map(order_row)
        .transpose()
}

/// `start_attempt` again after its COMMIT went unanswered: the attempt itself if it landed
/// (and is still `sending`: it may be sent now), `Stale` if it landed and has moved on,
/// else the start run again (which is `Stale` if the order moved meanwhile).
pub(crate) async fn start_again(
    t: &Tx<'_>,
    a: &NewAttempt,
    owner: Option<&str>,
) -> Result<Transition<Attempt>, StoreError> {
    locked_order(t, &a.order_id).await?;
    match attempt_by_id(&t.c, &a.attempt_id).await? {
        Some(att) if att.state == AttemptState::Sending => Ok(Transition::Done(att)),
        Some(_) => Ok(Transition::Stale),
        None => transitions::start_attempt(t, a, owner).await,
    }
}

/// `settle_attempt` again after its COMMIT went unanswered: the order if the settle
/// landed (the order one version on, the attempt in the state the settle gave it), else
/// the settle run again (`Stale` if the order moved some other way).
pub(crate) async fn settle_again(t: &Tx<'_>, s: &Settle) -> Result<Transition<Order>, StoreError> {
    let Some(att) = attempt_by_id(&t.c, &s.attempt_id).await? else {
        return Err(StoreError::NotFound(s.attempt_id.clone()));
    };
    let Some(order) = locked_order(t, &att.order_id).await? else {
        return Err(StoreError::NotFound(att.order_id.clone()));
    };
    let att = attempt_by_id(&t.c, &s.attempt_id).await?;
    if order.version == s.order_version + 1 && att.is_some_and(|a| a.state == s.state) {
        return Ok(Transition::Done(order));
    }
    transitions::settle(t, s).await
}

fn other_answer() -> StoreError {
    StoreError::Corrupt("the batch writer answered another kind of write".into())
}

impl PgStore {
    /// Settles an attempt (in the next batch: [`super::batch`]), reading back after an
    /// unanswered COMMIT.
    pub(crate) async fn settle(&self, s: &Settle) -> Result<Transition<Order>, StoreError> {
        let res = match self.batcher.run(Work::Settle(s.clone())).await {
            Ran::Done(Ok(Answer::Settle(t))) => Ok(*t),
            Ran::Done(Ok(Answer::Intake(_))) => Err(other_answer()),
            Ran::Done(Err(e)) => Err(e),
            Ran::Alone => super::tx::write_tx!(self, |t| transitions::settle(&t, s).await),
        };
        self.settle_known(res, s).await
    }

    /// Takes an order (with its first attempt; in the next batch: [`super::batch`]), reading
    /// back after an unanswered COMMIT.
    pub(crate) async fn intake(
        &self,
        n: &NewOrder,
        first: Option<&NewAttempt>,
    ) -> Result<(Intake, Option<Attempt>), StoreError> {
        let owner = self.node.get().map(String::as_str);
        let work = Work::Intake {
            n: n.clone(),
            first: first.cloned(),
            owner: owner.map(str::to_owned),
        };
        let res = match self.batcher.run(work).await {
            Ran::Done(Ok(Answer::Intake(ia))) => Ok(*ia),
            Ran::Done(Ok(Answer::Settle(_))) => Err(other_answer()),
            Ran::Done(Err(e)) => Err(e),
            Ran::Alone => super::tx::write_tx!(self, |t| match first {
                Some(a) => super::orders::create_with_attempt(&t, n, a, owner).await,
                None => super::orders::create(&t, n, owner).await.map(|i| (i, None)),
            }),
        };
        self.intake_known(res, n, first).await
    }

    /// `res`, the answer of an intake, or when its outcome is unknown, what reading it
    /// back finds.
    pub(crate) async fn intake_known(
        &self,
        res: Result<(Intake, Option<Attempt>), StoreError>,
        n: &NewOrder,
        first: Option<&NewAttempt>,
    ) -> Result<(Intake, Option<Attempt>), StoreError> {
        until_known("order intake", res, || async {
            let owner = self.node.get().map(String::as_str);
            super::tx::write_tx!(self, |t| intake_again(&t, n, first, owner).await)
        })
        .await
    }

    /// As [`PgStore::intake_known`], for `start_attempt`.
    pub(crate) async fn start_known(
        &self,
        res: Result<Transition<Attempt>, StoreError>,
        a: &NewAttempt,
    ) -> Result<Transition<Attempt>, StoreError> {
        until_known("start_attempt", res, || async {
            let owner = self.node.get().map(String::as_str);
            super::tx::write_tx!(self, |t| start_again(&t, a, owner).await)
        })
        .await
    }

    /// As [`PgStore::intake_known`], for `settle_attempt`.
    pub(crate) async fn settle_known(
        &self,
        res: Result<Transition<Order>, StoreError>,
        s: &Settle,
    ) -> Result<Transition<Order>, StoreError> {
        until_known("settle_attempt", res, || async {
            super::tx::write_tx!(self, |t| settle_again(&t, s).await)
        })
        .await
    }
}
