//! Orders and attempts in SQL: idempotent intake with the reservation, conditional
//! transitions (by order version) that settle attempts and finish orders with the ledger
//! and outbox in the same transaction. What money moves and which changes are allowed is
//! decided by [`crate::rules`]; this file executes it.

use rusqlite::{params, Connection, OptionalExtension, Row};
use siaga_domain::{FailureCode, OrderStatus, Stage};

use super::ledger;
use super::outbox;
use crate::error::StoreError;
use crate::rules;
use crate::types::*;

pub(crate) const ORDER_COLS: &str = "id, reseller_id, ref_id, product, destination, price, max_wait_s, status, stage,
    serial_number, failure_code, next_action_at, wait_until, round, version, created_at, updated_at";

pub(crate) fn order_row(r: &Row<'_>) -> rusqlite::Result<Order> {
    let bad = |i: usize, s: &str| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            format!("bad value {s}").into(),
        )
    };
    let status: String = r.get(7)?;
    let stage: Option<String> = r.get(8)?;
    let failure: Option<String> = r.get(10)?;
    Ok(Order {
        id: r.get(0)?,
        reseller_id: r.get(1)?,
        ref_id: r.get(2)?,
        product: r.get(3)?,
        destination: r.get(4)?,
        price: r.get(5)?,
        max_wait_s: r.get(6)?,
        status: OrderStatus::parse(&status).ok_or_else(|| bad(7, &status))?,
        stage: match stage {
            Some(s) => Some(Stage::parse(&s).ok_or_else(|| bad(8, &s))?),
            None => None,
        },
        serial_number: r.get(9)?,
        failure_code: match failure {
            Some(s) => Some(FailureCode::parse(&s).ok_or_else(|| bad(10, &s))?),
            None => None,
        },
        next_action_at: r.get(11)?,
        wait_until: r.get(12)?,
        round: r.get(13)?,
        version: r.get(14)?,
        created_at: r.get(15)?,
        updated_at: r.get(16)?,
    })
}

pub(crate) const ATTEMPT_COLS: &str =
    "id, order_id, seq, supplier_id, sku, cost, supplier_ref, state, reason, rc,
    http_status, message, sn, inquiries, next_inquiry_at, started_at, finished_at, round";

pub(crate) fn attempt_row(r: &Row<'_>) -> rusqlite::Result<Attempt> {
    let state: String = r.get(7)?;
    Ok(Attempt {
        id: r.get(0)?,
        order_id: r.get(1)?,
        seq: r.get(2)?,
        supplier_id: r.get(3)?,
        sku: r.get(4)?,
        cost: r.get(5)?,
        supplier_ref: r.get(6)?,
        state: AttemptState::parse(&state).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                7,
                rusqlite::types::Type::Text,
                format!("bad state {state}").into(),
            )
        })?,
        reason: r.get(8)?,
        rc: r.get(9)?,
        http_status: r.get(10)?,
        message: r.get(11)?,
        sn: r.get(12)?,
        inquiries: r.get(13)?,
        next_inquiry_at: r.get(14)?,
        started_at: r.get(15)?,
        finished_at: r.get(16)?,
        round: r.get(17)?,
    })
}

pub(crate) fn by_id(c: &Connection, id: &str) -> Result<Option<Order>, StoreError> {
    Ok(
        c.prepare_cached(&format!("SELECT {ORDER_COLS} FROM orders WHERE id = ?1"))?
            .query_row([id], order_row)
            .optional()?,
    )
}

pub(crate) fn by_ref(
    c: &Connection,
    reseller_id: &str,
    ref_id: &str,
) -> Result<Option<Order>, StoreError> {
    Ok(c.prepare_cached(&format!(
        "SELECT {ORDER_COLS} FROM orders WHERE reseller_id = ?1 AND ref_id = ?2"
    ))?
    .query_row([reseller_id, ref_id], order_row)
    .optional()?)
}

pub(crate) fn list(c: &Connection, q: &OrderQuery) -> Result<Vec<Order>, StoreError> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {ORDER_COLS} FROM orders WHERE reseller_id = ?1
           AND (?2 IS NULL OR status = ?2) AND (?3 IS NULL OR created_at >= ?3) AND (?4 IS NULL OR id < ?4)
         ORDER BY id DESC LIMIT ?5"
    ))?;
    let rows = st.query_map(
        params![
            q.reseller_id,
            q.status.map(|s| s.as_str()),
            q.since,
            q.before_id,
            q.limit
        ],
        order_row,
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn search(
    c: &Connection,
    text: Option<&str>,
    limit: u32,
) -> Result<Vec<Order>, StoreError> {
    // Two statements, not one with `?1 IS NULL OR ...`: that form makes SQLite walk the
    // whole table by id for the LIMIT instead of using the three indexes.
    let rows = match text {
        None => c
            .prepare_cached(&format!(
                "SELECT {ORDER_COLS} FROM orders ORDER BY id DESC LIMIT ?1"
            ))?
            .query_map(params![limit], order_row)?
            .collect::<Result<_, _>>()?,
        Some(t) => c
            .prepare_cached(&format!(
                "SELECT {ORDER_COLS} FROM orders
                  WHERE id = ?1 OR ref_id = ?1 OR destination = ?1
                  ORDER BY id DESC LIMIT ?2"
            ))?
            .query_map(params![t, limit], order_row)?
            .collect::<Result<_, _>>()?,
    };
    Ok(rows)
}

pub(crate) fn attempts(c: &Connection, order_id: &str) -> Result<Vec<Attempt>, StoreError> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {ATTEMPT_COLS} FROM attempts WHERE order_id = ?1 ORDER BY seq"
    ))?;
    let rows = st.query_map([order_id], attempt_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn attempt_by_id(c: &Connection, id: &str) -> Result<Option<Attempt>, StoreError> {
    Ok(c.prepare_cached(&format!(
        "SELECT {ATTEMPT_COLS} FROM attempts WHERE id = ?1"
    ))?
    .query_row([id], attempt_row)
    .optional()?)
}

pub(crate) fn attempt_by_ref(
    c: &Connection,
    supplier_id: &str,
    r: &str,
) -> Result<Option<Attempt>, StoreError> {
    Ok(c.prepare_cached(&format!(
        "SELECT {ATTEMPT_COLS} FROM attempts WHERE supplier_ref = ?1 AND supplier_id = ?2"
    ))?
    .query_row([r, supplier_id], attempt_row)
    .optional()?)
}

/// Pending orders due at `now`; with `node`, only those it owns or nobody owns (another
/// node's orders are its own until it is taken over, see `cluster::take_over`).
pub(crate) fn due(
    c: &Connection,
    now: i64,
    limit: u32,
    node: Option<&str>,
) -> Result<Vec<String>, StoreError> {
    let mut st = c.prepare_cached(
        "SELECT id FROM orders WHERE status = 'pending' AND next_action_at <= ?1
           AND (?3 IS NULL OR owner IS NULL OR owner = ?3)
         ORDER BY next_action_at, id LIMIT ?2",
    )?;
    let rows = st.query_map(params![now, limit, node], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn create(
    c: &Connection,
    n: &NewOrder,
    owner: Option<&str>,
) -> Result<Intake, StoreError> {
    insert_order(c, n, None, owner)
}

/// Checks a new order and, unless it is a replay, a conflict or refused, writes it with
/// its reservation. With `first`, the order is written as that attempt leaves it
/// (`start_attempt` would have: version 1, its lease as the next look) and the attempt
/// with it, in one pass. Returns the order as it stood before any attempt.
fn insert_order(
    c: &Connection,
    n: &NewOrder,
    first: Option<&NewAttempt>,
    owner: Option<&str>,
) -> Result<Intake, StoreError> {
    rules::check_new_order(n)?;
    if let Some(o) = by_ref(c, &n.reseller_id, &n.ref_id)? {
        return Ok(rules::known_ref(o, n));
    }
    // The writer holds the write lock (BEGIN IMMEDIATE), so this read and the guarded
    // update below cannot interleave with another writer.
    let available = ledger::account_balance(c, &rules::available(&n.reseller_id))?;
    if let Some(refused) = rules::refusal(available, n.price) {
        return Ok(refused);
    }
    let wait_until = n.now.saturating_add(n.max_wait_s.saturating_mul(1000));
    let (version, next_action_at, updated_at) = match first {
        Some(a) => (1, a.lease_until, a.now),
        None => (0, n.now, n.now),
    };
    c.prepare_cached(
        "INSERT INTO orders (id, reseller_id, ref_id, product, destination, price, max_wait_s, status, stage,
            next_action_at, wait_until, version, created_at, updated_at, owner)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', 'dispatching', ?8, ?9, ?10, ?11, ?12, ?13)",
    )?
    .execute(params![
        n.order_id,
        n.reseller_id,
        n.ref_id,
        n.product,
        n.destination,
        n.price,
        n.max_wait_s,
        next_action_at,
        wait_until,
        version,
        n.now,
        updated_at,
        owner,
    ])?;
    ledger::transfer(
        c,
        &rules::reserve(&n.reseller_id, &n.order_id, n.price),
        n.now,
    )?;
    if let Some(a) = first {
        insert_attempt(c, a, 1, 0)?;
    }
    Ok(Intake::Created(Order {
        id: n.order_id.clone(),
        reseller_id: n.reseller_id.clone(),
        ref_id: n.ref_id.clone(),
        product: n.product.clone(),
        destination: n.destination.clone(),
        price: n.price,
        max_wait_s: n.max_wait_s,
        status: OrderStatus::Pending,
        stage: Some(Stage::Dispatching),
        serial_number: None,
        failure_code: None,
        next_action_at: Some(n.now),
        wait_until,
        round: 0,
        version: 0,
        created_at: n.now,
        updated_at: n.now,
    }))
}

pub(crate) fn create_with_attempt(
    c: &Connection,
    n: &NewOrder,
    first: &NewAttempt,
    owner: Option<&str>,
) -> Result<(Intake, Option<Attempt>), StoreError> {
    if first.order_id != n.order_id || first.order_version != 0 {
        return Err(StoreError::Corrupt(format!(
            "attempt {} is not the first of order {}",
            first.attempt_id, n.order_id
        )));
    }
    check_cost(first)?;
    let intake = insert_order(c, n, Some(first), owner)?;
    if !matches!(intake, Intake::Created(_)) {
        return Ok((intake, None));
    }
    Ok((intake, Some(sending(first, 1, 0))))
}

fn check_cost(a: &NewAttempt) -> Result<(), StoreError> {
    if rules::sane_amount(a.cost) {
        Ok(())
    } else {
        Err(StoreError::Corrupt(format!(
            "attempt {}: cost must be positive",
            a.attempt_id
        )))
    }
}

fn insert_attempt(c: &Connection, a: &NewAttempt, seq: i64, round: i64) -> Result<(), StoreError> {
    c.prepare_cached(
        "INSERT INTO attempts (id, order_id, seq, round, supplier_id, sku, cost, supplier_ref, state, started_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'sending', ?9)",
    )?
    .execute(params![a.attempt_id, a.order_id, seq, round, a.supplier_id, a.sku, a.cost, a.supplier_ref, a.now])?;
    Ok(())
}

/// The attempt as [`insert_attempt`] writes it.
fn sending(a: &NewAttempt, seq: i64, round: i64) -> Attempt {
    Attempt {
        id: a.attempt_id.clone(),
        order_id: a.order_id.clone(),
        seq,
        round,
        supplier_id: a.supplier_id.clone(),
        sku: a.sku.clone(),
        cost: a.cost,
        supplier_ref: a.supplier_ref.clone(),
        state: AttemptState::Sending,
        reason: None,
        rc: None,
        http_status: None,
        message: None,
        sn: None,
        inquiries: 0,
        next_inquiry_at: None,
        started_at: a.now,
        finished_at: None,
    }
}

fn current(c: &Connection, order_id: &str, version: i64) -> Result<Option<Order>, StoreError> {
    Ok(by_id(c, order_id)?.filter(|o| o.version == version && o.status == OrderStatus::Pending))
}

pub(crate) fn start_attempt(
    c: &Connection,
    a: &NewAttempt,
    owner: Option<&str>,
) -> Result<Transition<Attempt>, StoreError> {
    check_cost(a)?;
    let Some(order) = current(c, &a.order_id, a.order_version)? else {
        return Ok(Transition::Stale);
    };
    // At most once: never a new attempt while one is open (or after one succeeded).
    if attempts(c, &a.order_id)?
        .iter()
        .any(|x| x.state.is_open() || x.state == AttemptState::Success)
    {
        return Ok(Transition::Stale);
    }
    let seq: i64 = c
        .prepare_cached("SELECT COALESCE(MAX(seq), 0) + 1 FROM attempts WHERE order_id = ?1")?
        .query_row([&a.order_id], |r| r.get(0))?;
    insert_attempt(c, a, seq, order.round)?;
    c.prepare_cached(
        "UPDATE orders SET stage = 'dispatching', next_action_at = ?2, version = version + 1, updated_at = ?3,
             owner = COALESCE(?4, owner)
         WHERE id = ?1",
    )?
    .execute(params![a.order_id, a.lease_until, a.now, owner])?;
    Ok(Transition::Done(sending(a, seq, order.round)))
}

pub(crate) fn settle(c: &Connection, s: &Settle) -> Result<Transition<Order>, StoreError> {
    let Some(att) = attempt_by_id(c, &s.attempt_id)? else {
        return Err(StoreError::NotFound(s.attempt_id.clone()));
    };
    if !att.state.is_open() {
        return Ok(Transition::Stale);
    }
    let Some(order) = current(c, &att.order_id, s.order_version)? else {
        return Ok(Transition::Stale);
    };
    let fits = rules::settle_fits(s.state, &s.change);
    if !fits {
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
    let mut att = att;
    att.cost = rules::booked_cost(s.state, s.result.charged, att.cost);
    c.prepare_cached(
        "UPDATE attempts SET state = ?2, reason = ?3, rc = ?4, http_status = ?5, message = ?6,
            sn = COALESCE(?7, sn), inquiries = inquiries + ?8, next_inquiry_at = ?9,
            finished_at = CASE WHEN ?10 THEN ?11 ELSE finished_at END, cost = ?12
         WHERE id = ?1",
    )?
    .execute(params![
        att.id,
        s.state.as_str(),
        s.result.reason,
        s.result.rc,
        s.result.http_status,
        s.result.message,
        s.result.sn,
        i64::from(s.inquiry),
        next_inquiry,
        final_state,
        s.now,
        att.cost
    ])?;
    apply_change(c, &order, &s.change, Some(&att), s.now).map(Transition::Done)
}

pub(crate) fn change(c: &Connection, ch: &ChangeOrder) -> Result<Transition<Order>, StoreError> {
    let Some(order) = current(c, &ch.order_id, ch.order_version)? else {
        return Ok(Transition::Stale);
    };
    let open = attempts(c, &order.id)?.iter().any(|a| a.state.is_open());
    let allowed = rules::change_allowed(&ch.change, open);
    if !allowed {
        return Err(StoreError::Corrupt(format!(
            "order {}: {:?} is not allowed here (open attempt: {open})",
            order.id, ch.change
        )));
    }
    apply_change(c, &order, &ch.change, None, ch.now).map(Transition::Done)
}

fn set_stage(
    c: &Connection,
    o: &Order,
    stage: Stage,
    next: Option<i64>,
    now: i64,
) -> Result<(), StoreError> {
    c.prepare_cached(
        "UPDATE orders SET stage = ?2, next_action_at = ?3, version = version + 1, updated_at = ?4 WHERE id = ?1",
    )?
    .execute(params![o.id, stage.as_str(), next, now])?;
    Ok(())
}

fn apply_change(
    c: &Connection,
    o: &Order,
    change: &OrderChange,
    attempt: Option<&Attempt>,
    now: i64,
) -> Result<Order, StoreError> {
    // The money first (a refused transfer leaves nothing of the change), then the order.
    let supplier = attempt.map(|a| (a.supplier_id.as_str(), a.cost));
    if let Some(plan) = rules::money_for(o, change, supplier)? {
        ledger::transfer(c, &plan, now)?;
    }
    match change {
        OrderChange::Dispatch { at } => set_stage(c, o, Stage::Dispatching, Some(*at), now)?,
        OrderChange::Await { at } => set_stage(c, o, Stage::AwaitingSupplier, Some(*at), now)?,
        OrderChange::Queue { at } => {
            set_stage(c, o, Stage::Queued, Some(*at), now)?;
            c.prepare_cached("UPDATE orders SET round = round + 1 WHERE id = ?1")?
                .execute([&o.id])?;
        }
        OrderChange::ManualReview => set_stage(c, o, Stage::ManualReview, None, now)?,
        OrderChange::Hold { at } => set_stage(c, o, Stage::Queued, Some(*at), now)?,
        OrderChange::Succeed { sn } => {
            c.prepare_cached(
                "UPDATE orders SET status = 'success', stage = NULL, serial_number = ?2, next_action_at = NULL,
                    version = version + 1, updated_at = ?3 WHERE id = ?1",
            )?
            .execute(params![o.id, sn, now])?;
        }
        OrderChange::Fail { code } => {
            c.prepare_cached(
                "UPDATE orders SET status = 'failed', stage = NULL, failure_code = ?2, next_action_at = NULL,
                    version = version + 1, updated_at = ?3 WHERE id = ?1",
            )?
            .execute(params![o.id, code.as_str(), now])?;
        }
    }
    // The row as the statements above left it, without reading it back.
    let after = changed(o, change, now);
    if rules::finishes(change) {
        enqueue_callback(c, &after, now)?;
    }
    Ok(after)
}

/// `o` (as read in this transaction) after [`apply_change`]'s statements for `change` at
/// `now`: the same columns, set the same way (a test reads the rows back to compare).
fn changed(o: &Order, change: &OrderChange, now: i64) -> Order {
    let mut after = o.clone();
    after.version += 1;
    after.updated_at = now;
    let (stage, next) = match change {
        OrderChange::Dispatch { at } => (Some(Stage::Dispatching), Some(*at)),
        OrderChange::Await { at } => (Some(Stage::AwaitingSupplier), Some(*at)),
        OrderChange::Queue { at } => {
            after.round += 1;
            (Some(Stage::Queued), Some(*at))
        }
        OrderChange::ManualReview => (Some(Stage::ManualReview), None),
        OrderChange::Hold { at } => (Some(Stage::Queued), Some(*at)),
        OrderChange::Succeed { sn } => {
            after.status = OrderStatus::Success;
            after.serial_number = Some(sn.clone());
            (None, None)
        }
        OrderChange::Fail { code } => {
            after.status = OrderStatus::Failed;
            after.failure_code = Some(*code);
            (None, None)
        }
    };
    after.stage = stage;
    after.next_action_at = next;
    after
}

/// Executes the callback rule: reads the reseller's callback URL and writes the message
/// [`rules::callback`] plans, if any.
fn enqueue_callback(c: &Connection, o: &Order, now: i64) -> Result<(), StoreError> {
    let url: Option<String> = c
        .prepare_cached("SELECT callback_url FROM resellers WHERE id = ?1")?
        .query_row([&o.reseller_id], |r| r.get(0))
        .optional()?
        .flatten();
    if let Some(m) = rules::callback(o, url.as_deref()) {
        let written = outbox::enqueue(
            c,
            &m.msg_id,
            m.kind,
            Some(m.reseller_id),
            Some(m.order_id),
            m.target,
            now,
        )?;
        if written {
            outbox::snapshot_last(o);
        }
    }
    Ok(())
}
