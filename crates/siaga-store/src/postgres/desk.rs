//! The manual desk (claims on orders: one operator per order, decided by the claim table's
//! key) and the audit log, on PostgreSQL; and the dashboard's order search.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::notify::awaiting;
use super::orders::{by_id, order_row, ORDER_COLS};
use super::tx::{one, opt, rows};
use crate::desk::{AuditEntry, AuditFilter, DeskClaim, DeskItem, DeskTake, NewAudit};
use crate::error::StoreError;
use crate::types::Order;

fn claim_row(r: &Row) -> Result<DeskClaim, StoreError> {
    Ok(DeskClaim {
        order_id: r.try_get(0)?,
        operator: r.try_get(1)?,
        taken_at: r.try_get(2)?,
    })
}

pub(crate) async fn claim<C: GenericClient>(
    c: &C,
    order_id: &str,
) -> Result<Option<DeskClaim>, StoreError> {
    opt(
        c,
        "SELECT order_id, operator, taken_at FROM desk_claims WHERE order_id = $1",
        &[&order_id],
    )
    .await?
    .as_ref()
    .map(claim_row)
    .transpose()
}

/// Claims a pending order for `operator` unless someone holds it: the insert that does not
/// conflict on the order's key wins, whatever runs at the same time on any node.
pub(crate) async fn take<C: GenericClient>(
    c: &C,
    order_id: &str,
    operator: &str,
    now: i64,
) -> Result<DeskTake, StoreError> {
    let pending = by_id(c, order_id)
        .await?
        .is_some_and(|o| !o.status.is_final());
    if !pending {
        return Ok(DeskTake::NotOpen);
    }
    let inserted = opt(
        c,
        "INSERT INTO desk_claims (order_id, operator, taken_at) VALUES ($1, $2, $3)
         ON CONFLICT (order_id) DO NOTHING RETURNING order_id, operator, taken_at",
        &[&order_id, &operator, &now],
    )
    .await?;
    if let Some(r) = inserted {
        return Ok(DeskTake::Taken {
            claim: claim_row(&r)?,
            fresh: true,
        });
    }
    let held = claim(c, order_id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("desk claim of {order_id} vanished")))?;
    Ok(if held.operator == operator {
        DeskTake::Taken {
            claim: held,
            fresh: false,
        }
    } else {
        DeskTake::Held(held)
    })
}

/// Pending orders whose open attempt is at one of `suppliers`, oldest attempt first, with
/// their claims.
pub(crate) async fn items<C: GenericClient>(
    c: &C,
    suppliers: &[String],
    limit: u32,
) -> Result<Vec<DeskItem>, StoreError> {
    let mut attempts = Vec::new();
    for s in suppliers {
        attempts.extend(awaiting(c, s, limit).await?);
    }
    attempts.sort_by(|a, b| (a.started_at, &a.id).cmp(&(b.started_at, &b.id)));
    let mut out = Vec::new();
    for attempt in attempts {
        if out.len() >= limit as usize {
            break;
        }
        let Some(order) = by_id(c, &attempt.order_id).await? else {
            continue;
        };
        if order.status.is_final() {
            continue;
        }
        let claim = claim(c, &order.id).await?;
        out.push(DeskItem {
            order,
            attempt,
            claim,
        });
    }
    Ok(out)
}

pub(crate) async fn add_audit<C: GenericClient>(c: &C, e: &NewAudit) -> Result<i64, StoreError> {
    Ok(one(
        c,
        "INSERT INTO audit (at, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        &[&e.at, &e.actor, &e.action, &e.target, &e.detail],
    )
    .await?
    .try_get(0)?)
}

pub(crate) async fn audit<C: GenericClient>(
    c: &C,
    f: &AuditFilter,
) -> Result<Vec<AuditEntry>, StoreError> {
    let order = if f.newest_first { "DESC" } else { "ASC" };
    let sql = format!(
        "SELECT id, actor, action, target, detail, at FROM audit
         WHERE id > $1 AND ($2::text IS NULL OR actor = $2::text)
           AND ($3::text IS NULL OR action = $3::text) AND ($4::text IS NULL OR target = $4::text)
         ORDER BY id {order} LIMIT $5"
    );
    rows(
        c,
        &sql,
        &[
            &f.after_id,
            &f.actor,
            &f.action,
            &f.target,
            &i64::from(f.limit),
        ],
    )
    .await?
    .iter()
    .map(|r| {
        Ok(AuditEntry {
            id: r.try_get(0)?,
            actor: r.try_get(1)?,
            action: r.try_get(2)?,
            target: r.try_get(3)?,
            detail: r.try_get(4)?,
            at: r.try_get(5)?,
        })
    })
    .collect()
}

/// Orders of every reseller, newest first; with `text`, those whose id, reference or
/// destination is exactly it.
pub(crate) async fn search<C: GenericClient>(
    c: &C,
    text: Option<&str>,
    limit: u32,
) -> Result<Vec<Order>, StoreError> {
    // Two statements, not one with `$1 IS NULL OR ...`, so the planner can use the indexes.
    let found = match text {
        None => {
            let sql = format!("SELECT {ORDER_COLS} FROM orders ORDER BY id DESC LIMIT $1");
            rows(c, &sql, &[&i64::from(limit)]).await?
        }
        Some(t) => {
            let sql = format!(
                "SELECT {ORDER_COLS} FROM orders
                  WHERE id = $1 OR ref_id = $1 OR destination = $1
                  ORDER BY id DESC LIMIT $2"
            );
            rows(c, &sql, &[&t, &i64::from(limit)]).await?
        }
    };
    found.iter().map(order_row).collect()
}
