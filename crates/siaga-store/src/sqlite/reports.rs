//! What the reports (SPEC 11) read: the orders of a window with their attempts in one
//! statements of one snapshot, and the supplier events of a window with the breaker state it starts in.

use std::collections::HashMap;

use rusqlite::{params, Connection};

use super::orders::{attempt_row, order_row, ATTEMPT_COLS, ORDER_COLS};
use crate::error::StoreError;
use crate::types::{Attempt, Order, SupplierEvent};

/// Orders created in `[from, to)`, oldest first, each with its attempts by `seq`: two
/// statements in the caller's one read transaction (one snapshot), no query per order.
pub(crate) fn orders_with_attempts(
    c: &Connection,
    from: i64,
    to: i64,
) -> Result<Vec<(Order, Vec<Attempt>)>, StoreError> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {ORDER_COLS} FROM orders WHERE created_at >= ?1 AND created_at < ?2
         ORDER BY created_at, id"
    ))?;
    let orders: Vec<Order> = st
        .query_map(params![from, to], order_row)?
        .collect::<Result<_, _>>()?;
    let mut st = c.prepare_cached(&format!(
        "SELECT {ATTEMPT_COLS} FROM attempts WHERE order_id IN
           (SELECT id FROM orders WHERE created_at >= ?1 AND created_at < ?2)
         ORDER BY order_id, seq"
    ))?;
    let mut by_order: HashMap<String, Vec<Attempt>> = HashMap::new();
    for a in st.query_map(params![from, to], attempt_row)? {
        let a = a?;
        by_order.entry(a.order_id.clone()).or_default().push(a);
    }
    Ok(orders
        .into_iter()
        .map(|o| {
            let attempts = by_order.remove(&o.id).unwrap_or_default();
            (o, attempts)
        })
        .collect())
}

/// Supplier events with `at` in `[from, to)`, by time then id, with their ids; before
/// them, each supplier's last `breaker` event before `from` (the newest by id: the state the
/// window opens in).
pub(crate) fn supplier_history(
    c: &Connection,
    from: i64,
    to: i64,
) -> Result<Vec<(i64, SupplierEvent)>, StoreError> {
    let mut st = c.prepare_cached(
        "SELECT id, supplier_id, kind, from_state, to_state, detail, at FROM supplier_events
         WHERE (at >= ?1 AND at < ?2)
            OR id IN (SELECT MAX(id) FROM supplier_events
                       WHERE kind = 'breaker' AND at < ?1 GROUP BY supplier_id)
         ORDER BY at, id",
    )?;
    let rows = st.query_map(params![from, to], |r| {
        Ok((
            r.get(0)?,
            SupplierEvent {
                supplier_id: r.get(1)?,
                kind: r.get(2)?,
                from_state: r.get(3)?,
                to_state: r.get(4)?,
                detail: r.get(5)?,
                at: r.get(6)?,
            },
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
