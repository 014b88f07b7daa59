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
    attempt_row_at, attempts, check_cost, insert_attempt, order_row, sending, ATTEMPT_COLS,
    ATTEMPT_FIELDS, ORDER_COLS, ORDER_FIELDS,
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

/// The order of attempt `attempt_id` and the attempt, both locked until the commit (in
/// one statement: a wait for the order's lock re-reads both rows as they are then), with
/// the reseller's callback URL; `None` when there is no such attempt.
async fn locked_by_attempt<C: GenericClient>(
    c: &C,
    attempt_id: &str,
) -> Result<Option<(Order, Attempt, Option<String>)>, StoreError> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let cols = |prefix: &str, list: &str| {
            list.split(',')
                .map(|c| format!("{prefix}.{}", c.trim()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "SELECT {}, {}, (SELECT callback_url FROM resellers r WHERE r.id = o.reseller_id)
             FROM attempts a JOIN orders o ON o.id = a.order_id WHERE a.id = $1 FOR UPDATE OF o, a",
            cols("o", ORDER_COLS),
            cols("a", ATTEMPT_COLS)
        )
    });
    let Some(row) = opt(c, &SQL, &[&attempt_id]).await? else {
        return Ok(None);
    };
    let order = order_row(&row)?;
    let attempt = attempt_row_at(&row, ORDER_FIELDS)?;
    let url = row.try_get(ORDER_FIELDS + ATTEMPT_FIELDS)?;
    Ok(Some((order, attempt, url)))
}

pub(crate) async fn settle(t: &Tx<'_>, s: &Settle) -> Result<Transition<Order>, StoreError> {
    let c = &t.c;
    let Some((order, mut att, url)) = locked_by_attempt(c, &s.attempt_id).await? else {
        return Err(StoreError::NotFound(s.attempt_id.clone()));
    };
    if order.version != s.order_version || order.status != OrderStatus::Pending {
        return Ok(Transition::Stale);
    }
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
    let (state, inquiry) = (s.state.as_str(), i64::from(s.inquiry));
    // Sent together with the order's change (one round trip): the server runs them in
    // this order, in this transaction.
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 12] = [
        &att.id,
        &state,
        &s.result.reason,
        &s.result.rc,
        &s.result.http_status,
        &s.result.message,
        &s.result.sn,
        &inquiry,
        &next_inquiry,
        &final_state,
        &s.now,
        &att.cost,
    ];
    let attempt_update = exec(
        c,
        "UPDATE attempts SET state = $2, reason = $3, rc = $4, http_status = $5, message = $6,
            sn = COALESCE($7, sn), inquiries = inquiries + $8, next_inquiry_at = $9,
            finished_at = CASE WHEN $10 THEN $11 ELSE finished_at END, cost = $12
         WHERE id = $1",
        &params,
    );
    let changed = apply_change(t, &order, &s.change, Some(&att), Some(url), s.now);
    let (_, after) = tokio::try_join!(attempt_update, changed)?;
    Ok(Transition::Done(after))
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
    apply_change(t, &order, &ch.change, None, None, ch.now)
        .await
        .map(Transition::Done)
}

/// Moves the order to `stage` and returns it as it now stands.
async fn set_stage<C: GenericClient>(
    c: &C,
    o: &Order,
    stage: Stage,
    next: Option<i64>,
    bump_round: bool,
    now: i64,
) -> Result<Order, StoreError> {
    let sql = format!(
        "UPDATE orders SET stage = $2, next_action_at = $3, version = version + 1, updated_at = $4,
            round = round + CASE WHEN $5 THEN 1 ELSE 0 END
         WHERE id = $1 RETURNING {ORDER_COLS}"
    );
    order_row(&one(c, &sql, &[&o.id, &stage.as_str(), &next, &now, &bump_round]).await?)
}

/// Makes `change` to `o` (locked, at the version the change was decided on): the order,
/// its callback when the change finishes it, and the money, all in the caller's
/// transaction (a refused transfer fails it, so nothing of the change is kept). The money
/// goes last, so the accounts it locks are held only until the commit. `url` is the
/// reseller's callback URL when the caller has read it.
async fn apply_change(
    t: &Tx<'_>,
    o: &Order,
    change: &OrderChange,
    attempt: Option<&Attempt>,
    url: Option<Option<String>>,
    now: i64,
) -> Result<Order, StoreError> {
    let c = &t.c;
    let supplier = attempt.map(|a| (a.supplier_id.as_str(), a.cost));
    let plan = rules::money_for(o, change, supplier)?;
    let after = match change {
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
            let sql = format!(
                "UPDATE orders SET status = 'success', stage = NULL, serial_number = $2, next_action_at = NULL,
                    version = version + 1, updated_at = $3 WHERE id = $1 RETURNING {ORDER_COLS}"
            );
            order_row(&one(c, &sql, &[&o.id, &sn, &now]).await?)?
        }
        OrderChange::Fail { code } => {
            let sql = format!(
                "UPDATE orders SET status = 'failed', stage = NULL, failure_code = $2, next_action_at = NULL,
                    version = version + 1, updated_at = $3 WHERE id = $1 RETURNING {ORDER_COLS}"
            );
            order_row(&one(c, &sql, &[&o.id, &code.as_str(), &now]).await?)?
        }
    };
    let url = match url {
        Some(url) => url,
        None if rules::finishes(change) => callback_url(c, &o.reseller_id).await?,
        None => None,
    };
    let message = rules::finishes(change)
        .then(|| rules::callback(&after, url.as_deref()))
        .flatten();
    // The callback and the money are sent together (one round trip).
    let enqueued = async {
        match &message {
            Some(m) => outbox::enqueue(t, m, now, Some(&after)).await.map(|_| ()),
            None => Ok(()),
        }
    };
    let moved = async {
        match &plan {
            Some(plan) => ledger::transfer(c, plan, now).await.map(|_| ()),
            None => Ok(()),
        }
    };
    tokio::try_join!(enqueued, moved)?;
    Ok(after)
}

/// The reseller's callback URL, if any.
async fn callback_url<C: GenericClient>(
    c: &C,
    reseller_id: &str,
) -> Result<Option<String>, StoreError> {
    let row = one(
        c,
        "SELECT (SELECT callback_url FROM resellers WHERE id = $1)",
        &[&reseller_id],
    )
    .await?;
    Ok(row.try_get(0)?)
}
