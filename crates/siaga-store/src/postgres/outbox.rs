//! The durable callback outbox on PostgreSQL: messages written in the same transaction as
//! the change they report, handed to the listener after the commit ([`Tx::fed`]) and
//! delivered by a worker with retries.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::tx::{exec, one, opt, rows, Tx};
use crate::error::StoreError;
use crate::rules::MessagePlan;
use crate::types::{Order, OutboxItem};

/// Writes a message unless one with its id exists (ids name events: see
/// `rules::callback`), so one event is one row and one delivery stream. True when written.
pub(crate) async fn enqueue(
    t: &Tx<'_>,
    m: &MessagePlan<'_>,
    now: i64,
    order: Option<&Order>,
) -> Result<bool, StoreError> {
    let row = opt(
        &t.c,
        "INSERT INTO outbox (msg_id, kind, reseller_id, order_id, target, status, attempts, next_at, created_at)
         VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6) ON CONFLICT (msg_id) DO NOTHING RETURNING id",
        &[&m.msg_id, &m.kind, &m.reseller_id, &m.order_id, &m.target, &now],
    )
    .await?;
    let Some(row) = row else {
        return Ok(false);
    };
    t.fed(OutboxItem {
        id: row.try_get(0)?,
        msg_id: m.msg_id.clone(),
        kind: m.kind.to_owned(),
        reseller_id: Some(m.reseller_id.to_owned()),
        order_id: Some(m.order_id.to_owned()),
        target: m.target.to_owned(),
        tries: 0,
        created_at: now,
        order: order.cloned(),
    });
    Ok(true)
}

fn item(r: &Row) -> Result<OutboxItem, StoreError> {
    Ok(OutboxItem {
        id: r.try_get(0)?,
        msg_id: r.try_get(1)?,
        kind: r.try_get(2)?,
        reseller_id: r.try_get(3)?,
        order_id: r.try_get(4)?,
        target: r.try_get(5)?,
        tries: r.try_get(6)?,
        created_at: r.try_get(7)?,
        order: None,
    })
}

pub(crate) async fn due<C: GenericClient>(
    c: &C,
    now: i64,
    limit: u32,
    skip: &[String],
) -> Result<Vec<OutboxItem>, StoreError> {
    rows(
        c,
        "SELECT id, msg_id, kind, reseller_id, order_id, target, attempts, created_at FROM outbox
         WHERE status = 'pending' AND next_at <= $1 AND target <> ALL($3)
         ORDER BY next_at, id LIMIT $2",
        &[&now, &i64::from(limit), &skip],
    )
    .await?
    .iter()
    .map(item)
    .collect()
}

pub(crate) async fn done<C: GenericClient>(c: &C, ids: &[i64], now: i64) -> Result<(), StoreError> {
    exec(
        c,
        "UPDATE outbox SET status = 'delivered', attempts = attempts + 1, delivered_at = $2, last_error = NULL
         WHERE id = ANY($1)",
        &[&ids, &now],
    )
    .await?;
    Ok(())
}

pub(crate) async fn retry<C: GenericClient>(
    c: &C,
    id: i64,
    next_at: i64,
    error: &str,
    dead: bool,
) -> Result<(), StoreError> {
    let status = if dead { "dead" } else { "pending" };
    exec(
        c,
        "UPDATE outbox SET status = $4, attempts = attempts + 1, next_at = $2, last_error = $3 WHERE id = $1",
        &[&id, &next_at, &error, &status],
    )
    .await?;
    Ok(())
}

pub(crate) async fn pending_count<C: GenericClient>(c: &C) -> Result<i64, StoreError> {
    Ok(one(
        c,
        "SELECT COUNT(*) FROM outbox WHERE status = 'pending'",
        &[],
    )
    .await?
    .try_get(0)?)
}
