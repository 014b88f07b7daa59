//! What the reports (SPEC 11) read, on PostgreSQL: the orders of a window with their
//! attempts (two statements in one snapshot, no query per order), and the supplier events
//! of a window with the breaker state it starts in.

use std::collections::HashMap;

use deadpool_postgres::GenericClient;

use super::orders::{attempt_row, order_row, ATTEMPT_COLS, ORDER_COLS};
use super::tx::rows;
use crate::error::StoreError;
use crate::types::{Attempt, Order, SupplierEvent};

pub(crate) async fn orders_with_attempts<C: GenericClient>(
    c: &C,
    from: i64,
    to: i64,
) -> Result<Vec<(Order, Vec<Attempt>)>, StoreError> {
    let sql = format!(
        "SELECT {ORDER_COLS} FROM orders WHERE created_at >= $1 AND created_at < $2
         ORDER BY created_at, id"
    );
    let orders: Vec<Order> = rows(c, &sql, &[&from, &to])
        .await?
        .iter()
        .map(order_row)
        .collect::<Result<_, _>>()?;
    let sql = format!(
        "SELECT {ATTEMPT_COLS} FROM attempts WHERE order_id IN
           (SELECT id FROM orders WHERE created_at >= $1 AND created_at < $2)
         ORDER BY order_id, seq"
    );
    let mut by_order: HashMap<String, Vec<Attempt>> = HashMap::new();
    for r in rows(c, &sql, &[&from, &to]).await? {
        let a = attempt_row(&r)?;
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

pub(crate) async fn supplier_history<C: GenericClient>(
    c: &C,
    from: i64,
    to: i64,
) -> Result<Vec<(i64, SupplierEvent)>, StoreError> {
    rows(
        c,
        "SELECT id, supplier_id, kind, from_state, to_state, detail, at FROM supplier_events
         WHERE (at >= $1 AND at < $2)
            OR id IN (SELECT MAX(id) FROM supplier_events
                       WHERE kind = 'breaker' AND at < $1 GROUP BY supplier_id)
         ORDER BY at, id",
        &[&from, &to],
    )
    .await?
    .iter()
    .map(|r| {
        Ok((
            r.try_get(0)?,
            SupplierEvent {
                supplier_id: r.try_get(1)?,
                kind: r.try_get(2)?,
                from_state: r.try_get(3)?,
                to_state: r.try_get(4)?,
                detail: r.try_get(5)?,
                at: r.try_get(6)?,
            },
        ))
    })
    .collect()
}
