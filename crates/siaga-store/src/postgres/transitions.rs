//! Order transitions on PostgreSQL, each conditional on the order's version: starting an
//! attempt, settling it, changing the order without one; finishing an order moves its
//! money and writes its callback in the same transaction. Every transition first locks its
//! order row (`FOR UPDATE`): attempts and the order change only under that lock, so what a
//! transition decides on cannot move under it. Which changes are allowed and what money
//! moves is decided by [`crate::rules`]; this file executes it.

use deadpool_postgres::GenericClient;
use siaga_domain::{OrderStatus, Stage};

use super::ledger;
use super::orders::{
    attempt_by_id, attempts, by_id, check_cost, insert_attempt, order_row, sending, ORDER_COLS,
};
use super::outbox;
use super::tx::{exec, one, opt, Tx};
use crate::error::StoreError;
use crate::rules;
use crate::types::*;

/// The order, locked until the commit, if it is still pending at `version`.
async fn current<C: GenericClient>(
    c: &C,
    order_id: &str,
    version: i64,
) -> Result<Option<Order>, StoreError> {
    let sql = format!("SELECT {ORDER_COLS} FROM orders WHERE id = $1 FOR UPDATE");
    let o = opt(c, &sql, &[&order_id])
        .await?
        .as_ref()
        .map(order_row)
        .transpose()?;
    Ok(o.filter(|o| o.version == version && o.status == OrderStatus::Pending))
}

pub(crate) async fn start_attempt(
    t: &Tx<'_>,
    a: &NewAttempt,
    owner: Option<&str>,
) -> Result<Transition<Attempt>, StoreError> {
    check_cost(a)?;
    let c = &t.c;
    let Some(order) = current(c, &a.order_id, a.order_version).await? else {
        return Ok(Transition::Stale);
    };
    // At most once: never a new attempt while one is open (or after one succeeded).
    let earlier = attempts(c, &a.order_id).await?;
    if earlier
        .iter()
        .any(|x| x.state.is_open() || x.state == AttemptState::Success)
    {
        return Ok(Transition::Stale);
    }
    let seq = earlier.iter().map(|x| x.seq).max().unwrap_or(0) + 1;
    insert_attempt(c, a, seq, order.round).await?;
    exec(
        c,
        "UPDATE orders SET stage = 'dispatching', next_action_at = $2, version = version + 1, updated_at = $3,
             owner = COALESCE($4, owner)
         WHERE id = $1",
        &[&a.order_id, &a.lease_until, &a.now, &owner],
    )
    .await?;
    Ok(Transition::Done(sending(a, seq, order.round)))
}

pub(crate) async fn settle(t: &Tx<'_>, s: &Settle) -> Result<Transition<Order>, StoreError> {
    let c = &t.c;
    let Some(att) = attempt_by_id(c, &s.attempt_id).await? else {
        return Err(StoreError::NotFound(s.attempt_id.clone()));
    };
    let Some(order) = current(c, &att.order_id, s.order_version).await? else {
        return Ok(Transition::Stale);
    };
    // Read again under the order's lock: attempts change only under it.
    let Some(mut att) = attempt_by_id(c, &s.attempt_id).await? else {
        return Err(StoreError::NotFound(s.attempt_id.clone()));
    };
    if !att.state.is_open() {
        return Ok(Transition::Stale);
    }
    if !rules::settle_fits(s.state, &s.change) {
        return Err(StoreError::Corrupt(format!(
            "attempt {} cannot end {} with order change {:?}",
            att.id,
            s.state.as_str(),
            s.change
        )));
    }
    let final_state = !s.state.is_open();
    let next_inquiry = match s.change {
        OrderChange::Await { at } => Some(at),
        _ => None,
    };
    // What the supplier charged replaces the configured cost (see the rule).
    att.cost = rules::booked_cost(s.state, s.result.charged, att.cost);
    exec(
        c,
        "UPDATE attempts SET state = $2, reason = $3, rc = $4, http_status = $5, message = $6,
            sn = COALESCE($7, sn), inquiries = inquiries + $8, next_inquiry_at = $9,
            finished_at = CASE WHEN $10 THEN $11 ELSE finished_at END, cost = $12
         WHERE id = $1",
        &[
            &att.id,
            &s.state.as_str(),
            &s.result.reason,
            &s.result.rc,
            &s.result.http_status,
            &s.result.message,
            &s.result.sn,
            &i64::from(s.inquiry),
            &next_inquiry,
            &final_state,
            &s.now,
            &att.cost,
        ],
    )
    .await?;
    apply_change(t, &order, &s.change, Some(&att), s.now)
        .await
        .map(Transition::Done)
}

pub(crate) async fn change(t: &Tx<'_>, ch: &ChangeOrder) -> Result<Transition<Order>, StoreError> {
    let c = &t.c;
    let Some(order) = current(c, &ch.order_id, ch.order_version).await? else {
        return Ok(Transition::Stale);
    };
    let open = attempts(c, &order.id)
        .await?
        .iter()
        .any(|a| a.state.is_open());
    if !rules::change_allowed(&ch.change, open) {
        return Err(StoreError::Corrupt(format!(
            "order {}: {:?} is not allowed here (open attempt: {open})",
            order.id, ch.change
        )));
    }
    apply_change(t, &order, &ch.change, None, ch.now)
        .await
        .map(Transition::Done)
}

async fn set_stage<C: GenericClient>(
    c: &C,
    o: &Order,
    stage: Stage,
    next: Option<i64>,
    bump_round: bool,
    now: i64,
) -> Result<(), StoreError> {
    exec(
        c,
        "UPDATE orders SET stage = $2, next_action_at = $3, version = version + 1, updated_at = $4,
            round = round + CASE WHEN $5 THEN 1 ELSE 0 END
         WHERE id = $1",
        &[&o.id, &stage.as_str(), &next, &now, &bump_round],
    )
    .await?;
    Ok(())
}

async fn apply_change(
    t: &Tx<'_>,
    o: &Order,
    change: &OrderChange,
    attempt: Option<&Attempt>,
    now: i64,
) -> Result<Order, StoreError> {
    let c = &t.c;
    // The money first (a refused transfer leaves nothing of the change), then the order.
    let supplier = attempt.map(|a| (a.supplier_id.as_str(), a.cost));
    if let Some(plan) = rules::money_for(o, change, supplier)? {
        ledger::transfer(c, &plan, now).await?;
    }
    match change {
        OrderChange::Dispatch { at } => {
            set_stage(c, o, Stage::Dispatching, Some(*at), false, now).await?
        }
        OrderChange::Await { at } => {
            set_stage(c, o, Stage::AwaitingSupplier, Some(*at), false, now).await?
        }
        OrderChange::Queue { at } => set_stage(c, o, Stage::Queued, Some(*at), true, now).await?,
        OrderChange::ManualReview => set_stage(c, o, Stage::ManualReview, None, false, now).await?,
        OrderChange::Hold { at } => set_stage(c, o, Stage::Queued, Some(*at), false, now).await?,
        OrderChange::Succeed { sn } => {
            exec(
                c,
                "UPDATE orders SET status = 'success', stage = NULL, serial_number = $2, next_action_at = NULL,
                    version = version + 1, updated_at = $3 WHERE id = $1",
                &[&o.id, &sn, &now],
            )
            .await?;
        }
        OrderChange::Fail { code } => {
            exec(
                c,
                "UPDATE orders SET status = 'failed', stage = NULL, failure_code = $2, next_action_at = NULL,
                    version = version + 1, updated_at = $3 WHERE id = $1",
                &[&o.id, &code.as_str(), &now],
            )
            .await?;
        }
    }
    let after = by_id(c, &o.id)
        .await?
        .ok_or_else(|| StoreError::NotFound(o.id.clone()))?;
    if rules::finishes(change) {
        enqueue_callback(t, &after, now).await?;
    }
    Ok(after)
}

/// Executes the callback rule: reads the reseller's callback URL and writes the message
/// [`rules::callback`] plans, if any.
async fn enqueue_callback(t: &Tx<'_>, o: &Order, now: i64) -> Result<(), StoreError> {
    let row = one(
        &t.c,
        "SELECT (SELECT callback_url FROM resellers WHERE id = $1)",
        &[&o.reseller_id],
    )
    .await?;
    let url: Option<String> = row.try_get(0)?;
    if let Some(m) = rules::callback(o, url.as_deref()) {
        outbox::enqueue(t, &m, now, Some(o)).await?;
    }
    Ok(())
}
