//! Orders and attempts on PostgreSQL: reading them, and idempotent intake with the
//! reservation (the unique `ref_id` decides replays; the reservation is one guarded
//! statement, and a refused one rolls the intake back). The changes of an order are in
//! [`super::transitions`]. What money moves is decided by [`crate::rules`]; this file
//! executes it.

use deadpool_postgres::GenericClient;
use siaga_domain::{FailureCode, OrderStatus, Stage};
use tokio_postgres::Row;

use super::ledger;
use super::tx::{exec, opt, rows, Tx};
use crate::error::StoreError;
use crate::rules;
use crate::types::*;

pub(super) const ORDER_COLS: &str = "id, reseller_id, ref_id, product, destination, price, max_wait_s, status, stage,
    serial_number, failure_code, next_action_at, wait_until, round, version, created_at, updated_at";

fn bad(what: &str, s: &str) -> StoreError {
    StoreError::Corrupt(format!("bad {what} {s:?}"))
}

pub(super) fn order_row(r: &Row) -> Result<Order, StoreError> {
    let status: String = r.try_get(7)?;
    let stage: Option<String> = r.try_get(8)?;
    let failure: Option<String> = r.try_get(10)?;
    Ok(Order {
        id: r.try_get(0)?,
        reseller_id: r.try_get(1)?,
        ref_id: r.try_get(2)?,
        product: r.try_get(3)?,
        destination: r.try_get(4)?,
        price: r.try_get(5)?,
        max_wait_s: r.try_get(6)?,
        status: OrderStatus::parse(&status).ok_or_else(|| bad("status", &status))?,
        stage: match stage {
            Some(s) => Some(Stage::parse(&s).ok_or_else(|| bad("stage", &s))?),
            None => None,
        },
        serial_number: r.try_get(9)?,
        failure_code: match failure {
            Some(s) => Some(FailureCode::parse(&s).ok_or_else(|| bad("failure code", &s))?),
            None => None,
        },
        next_action_at: r.try_get(11)?,
        wait_until: r.try_get(12)?,
        round: r.try_get(13)?,
        version: r.try_get(14)?,
        created_at: r.try_get(15)?,
        updated_at: r.try_get(16)?,
    })
}

pub(crate) const ATTEMPT_COLS: &str =
    "id, order_id, seq, supplier_id, sku, cost, supplier_ref, state, reason, rc,
    http_status, message, sn, inquiries, next_inquiry_at, started_at, finished_at, round";

/// How many columns [`ORDER_COLS`] and [`ATTEMPT_COLS`] name.
pub(crate) const ORDER_FIELDS: usize = 17;
pub(crate) const ATTEMPT_FIELDS: usize = 18;

pub(crate) fn attempt_row(r: &Row) -> Result<Attempt, StoreError> {
    attempt_row_at(r, 0)
}

/// The attempt in the columns of `r` from `at` on (in [`ATTEMPT_COLS`] order).
pub(crate) fn attempt_row_at(r: &Row, at: usize) -> Result<Attempt, StoreError> {
    let state: String = r.try_get(at + 7)?;
    Ok(Attempt {
        id: r.try_get(at)?,
        order_id: r.try_get(at + 1)?,
        seq: r.try_get(at + 2)?,
        supplier_id: r.try_get(at + 3)?,
        sku: r.try_get(at + 4)?,
        cost: r.try_get(at + 5)?,
        supplier_ref: r.try_get(at + 6)?,
        state: AttemptState::parse(&state).ok_or_else(|| bad("attempt state", &state))?,
        reason: r.try_get(at + 8)?,
        rc: r.try_get(at + 9)?,
        http_status: r.try_get(at + 10)?,
        message: r.try_get(at + 11)?,
        sn: r.try_get(at + 12)?,
        inquiries: r.try_get(at + 13)?,
        next_inquiry_at: r.try_get(at + 14)?,
        started_at: r.try_get(at + 15)?,
        finished_at: r.try_get(at + 16)?,
        round: r.try_get(at + 17)?,
    })
}

pub(crate) async fn by_id<C: GenericClient>(c: &C, id: &str) -> Result<Option<Order>, StoreError> {
    let sql = format!("SELECT {ORDER_COLS} FROM orders WHERE id = $1");
    opt(c, &sql, &[&id])
        .await?
        .as_ref()
        .map(order_row)
        .transpose()
}

pub(crate) async fn by_ref<C: GenericClient>(
    c: &C,
    reseller_id: &str,
    ref_id: &str,
) -> Result<Option<Order>, StoreError> {
    let sql = format!("SELECT {ORDER_COLS} FROM orders WHERE reseller_id = $1 AND ref_id = $2");
    opt(c, &sql, &[&reseller_id, &ref_id])
        .await?
        .as_ref()
        .map(order_row)
        .transpose()
}

pub(crate) async fn list<C: GenericClient>(
    c: &C,
    q: &OrderQuery,
) -> Result<Vec<Order>, StoreError> {
    let sql = format!(
        "SELECT {ORDER_COLS} FROM orders WHERE reseller_id = $1
           AND ($2::text IS NULL OR status = $2::text) AND ($3::bigint IS NULL OR created_at >= $3::bigint)
           AND ($4::text IS NULL OR id < $4::text)
         ORDER BY id DESC LIMIT $5"
    );
    let status = q.status.map(|s| s.as_str());
    rows(
        c,
        &sql,
        &[
            &q.reseller_id,
            &status,
            &q.since,
            &q.before_id,
            &i64::from(q.limit),
        ],
    )
    .await?
    .iter()
    .map(order_row)
    .collect()
}

pub(crate) async fn attempts<C: GenericClient>(
    c: &C,
    order_id: &str,
) -> Result<Vec<Attempt>, StoreError> {
    let sql = format!("SELECT {ATTEMPT_COLS} FROM attempts WHERE order_id = $1 ORDER BY seq");
    rows(c, &sql, &[&order_id])
        .await?
        .iter()
        .map(attempt_row)
        .collect()
}

pub(super) async fn attempt_by_id<C: GenericClient>(
    c: &C,
    id: &str,
) -> Result<Option<Attempt>, StoreError> {
    let sql = format!("SELECT {ATTEMPT_COLS} FROM attempts WHERE id = $1");
    opt(c, &sql, &[&id])
        .await?
        .as_ref()
        .map(attempt_row)
        .transpose()
}

pub(crate) async fn attempt_by_ref<C: GenericClient>(
    c: &C,
    supplier_id: &str,
    r: &str,
) -> Result<Option<Attempt>, StoreError> {
    let sql =
        format!("SELECT {ATTEMPT_COLS} FROM attempts WHERE supplier_ref = $1 AND supplier_id = $2");
    opt(c, &sql, &[&r, &supplier_id])
        .await?
        .as_ref()
        .map(attempt_row)
        .transpose()
}

pub(crate) async fn due<C: GenericClient>(
    c: &C,
    now: i64,
    limit: u32,
    node: Option<&str>,
) -> Result<Vec<String>, StoreError> {
    // With `node`, only the orders it owns or nobody owns: another node's orders are its
    // own until they are taken over (`cluster::take_over`).
    rows(
        c,
        "SELECT id FROM orders WHERE status = 'pending' AND next_action_at <= $1
           AND ($3::text IS NULL OR owner IS NULL OR owner = $3)
         ORDER BY next_action_at, id LIMIT $2",
        &[&now, &i64::from(limit), &node],
    )
    .await?
    .iter()
    .map(|r| Ok(r.try_get(0)?))
    .collect()
}

pub(crate) async fn pending_by_stage<C: GenericClient>(
    c: &C,
) -> Result<Vec<(String, i64)>, StoreError> {
    rows(
        c,
        "SELECT COALESCE(stage, ''), COUNT(*) FROM orders WHERE status = 'pending' GROUP BY stage",
        &[],
    )
    .await?
    .iter()
    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
    .collect()
}

pub(crate) async fn create(
    t: &Tx<'_>,
    n: &NewOrder,
    owner: Option<&str>,
) -> Result<Intake, StoreError> {
    insert_order(t, n, None, owner).await
}

/// Checks a new order and, unless it is a replay, a conflict or refused, writes it with
/// its reservation. With `first`, the order is written as that attempt leaves it
/// (`start_attempt` would have: version 1, its lease as the next look) and the attempt
/// with it. Returns the order as it stood before any attempt.
///
/// The order row goes first: the unique `(reseller_id, ref_id)` makes an intake of a
/// `ref_id` already taken (or being taken: the insert waits for that transaction to end)
/// write nothing, and then the order is read as it was committed. The reservation goes
/// last, in one statement, so the reseller's accounts are locked only from it to the
/// commit; when it is refused, the whole intake is rolled back.
async fn insert_order(
    t: &Tx<'_>,
    n: &NewOrder,
    first: Option<&NewAttempt>,
    owner: Option<&str>,
) -> Result<Intake, StoreError> {
    rules::check_new_order(n)?;
    let c = &t.c;
    let available = rules::available(&n.reseller_id);
    let wait_until = n.now.saturating_add(n.max_wait_s.saturating_mul(1000));
    let (version, next_action_at, updated_at) = match first {
        Some(a) => (1i64, a.lease_until, a.now),
        None => (0, n.now, n.now),
    };
    let written = opt(
        c,
        "INSERT INTO orders (id, reseller_id, ref_id, product, destination, price, max_wait_s, status, stage,
            next_action_at, wait_until, version, created_at, updated_at, owner)
         SELECT $1::text, $2::text, $3::text, $4::text, $5::text, $6::bigint, $7::bigint, 'pending', 'dispatching',
            $8::bigint, $9::bigint, $10::bigint, $11::bigint, $12::bigint, $13::text
         WHERE EXISTS (SELECT 1 FROM accounts WHERE id = $14::text)
         ON CONFLICT (reseller_id, ref_id) DO NOTHING RETURNING id",
        &[
            &n.order_id,
            &n.reseller_id,
            &n.ref_id,
            &n.product,
            &n.destination,
            &n.price,
            &n.max_wait_s,
            &next_action_at,
            &wait_until,
            &version,
            &n.now,
            &updated_at,
            &owner,
            &available,
        ],
    )
    .await?;
    if written.is_none() {
        if let Some(o) = by_ref(c, &n.reseller_id, &n.ref_id).await? {
            return Ok(rules::known_ref(o, n));
        }
        // No order of that ref, so no account: refused as an unknown reseller.
        let balance = ledger::account_balance(c, &available).await?;
        return rules::refusal(balance, n.price)
            .ok_or_else(|| StoreError::Corrupt(format!("order {} was not written", n.order_id)));
    }
    if let Some(a) = first {
        insert_attempt(c, a, 1, 0).await?;
    }
    let plan = rules::reserve(&n.reseller_id, &n.order_id, n.price);
    if let ledger::Moved::Refused(account) = ledger::try_transfer(c, &plan, n.now).await? {
        // The balance as the refused reservation locked it.
        let balance = ledger::account_balance(c, &available).await?;
        let refused = rules::refusal(balance, n.price)
            .ok_or_else(|| StoreError::Corrupt(format!("{account} refused the reservation")))?;
        t.roll_back();
        return Ok(refused);
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

pub(crate) async fn create_with_attempt(
    t: &Tx<'_>,
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
    let intake = insert_order(t, n, Some(first), owner).await?;
    if !matches!(intake, Intake::Created(_)) {
        return Ok((intake, None));
    }
    Ok((intake, Some(sending(first, 1, 0))))
}

pub(super) fn check_cost(a: &NewAttempt) -> Result<(), StoreError> {
    if rules::sane_amount(a.cost) {
        Ok(())
    } else {
        Err(StoreError::Corrupt(format!(
            "attempt {}: cost must be positive",
            a.attempt_id
        )))
    }
}

pub(super) async fn insert_attempt<C: GenericClient>(
    c: &C,
    a: &NewAttempt,
    seq: i64,
    round: i64,
) -> Result<(), StoreError> {
    exec(
        c,
        "INSERT INTO attempts (id, order_id, seq, round, supplier_id, sku, cost, supplier_ref, state, started_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'sending', $9)",
        &[
            &a.attempt_id,
            &a.order_id,
            &seq,
            &round,
            &a.supplier_id,
            &a.sku,
            &a.cost,
            &a.supplier_ref,
            &a.now,
        ],
    )
    .await?;
    Ok(())
}

/// The attempt as [`insert_attempt`] writes it.
pub(super) fn sending(a: &NewAttempt, seq: i64, round: i64) -> Attempt {
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
