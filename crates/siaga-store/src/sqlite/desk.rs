//! The manual desk (claims on orders, taken atomically in the writer's transaction) and the
//! audit log, on SQLite.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::orders;
use crate::desk::{AuditEntry, AuditFilter, DeskClaim, DeskItem, DeskTake, NewAudit};
use crate::error::StoreError;

fn claim_row(r: &Row<'_>) -> rusqlite::Result<DeskClaim> {
    Ok(DeskClaim {
        order_id: r.get(0)?,
        operator: r.get(1)?,
        taken_at: r.get(2)?,
    })
}

pub(crate) fn claim(c: &Connection, order_id: &str) -> Result<Option<DeskClaim>, StoreError> {
    Ok(c.prepare_cached(
        "SELECT order_id, operator, taken_at FROM desk_claims WHERE order_id = ?1",
    )?
    .query_row([order_id], claim_row)
    .optional()?)
}

/// Claims a pending order for `operator` unless someone holds it already. Runs inside the
/// writer's one transaction, so of two concurrent takes exactly one inserts the claim.
pub(crate) fn take(
    c: &Connection,
    order_id: &str,
    operator: &str,
    now: i64,
) -> Result<DeskTake, StoreError> {
    let pending = orders::by_id(c, order_id)?.is_some_and(|o| !o.status.is_final());
    if !pending {
        return Ok(DeskTake::NotOpen);
    }
    if let Some(held) = claim(c, order_id)? {
        return Ok(if held.operator == operator {
            DeskTake::Taken {
                claim: held,
                fresh: false,
            }
        } else {
            DeskTake::Held(held)
        });
    }
    c.prepare_cached("INSERT INTO desk_claims (order_id, operator, taken_at) VALUES (?1, ?2, ?3)")?
        .execute(params![order_id, operator, now])?;
    Ok(DeskTake::Taken {
        claim: DeskClaim {
            order_id: order_id.to_owned(),
            operator: operator.to_owned(),
            taken_at: now,
        },
        fresh: true,
    })
}

/// Pending orders whose open attempt is at one of `suppliers`, oldest attempt first, with
/// their claims; one read transaction, so the list is one moment's.
pub(crate) fn items(
    c: &Connection,
    suppliers: &[String],
    limit: u32,
) -> Result<Vec<DeskItem>, StoreError> {
    let mut attempts = Vec::new();
    for s in suppliers {
        attempts.extend(super::notify::awaiting(c, s, limit)?);
    }
    attempts.sort_by(|a, b| (a.started_at, &a.id).cmp(&(b.started_at, &b.id)));
    let mut out = Vec::new();
    for attempt in attempts {
        if out.len() >= limit as usize {
            break;
        }
        let Some(order) = orders::by_id(c, &attempt.order_id)? else {
            continue;
        };
        if order.status.is_final() {
            continue;
        }
        let claim = claim(c, &order.id)?;
        out.push(DeskItem {
            order,
            attempt,
            claim,
        });
    }
    Ok(out)
}

pub(crate) fn add_audit(c: &Connection, e: &NewAudit) -> Result<i64, StoreError> {
    c.prepare_cached(
        "INSERT INTO audit (at, actor, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![e.at, e.actor, e.action, e.target, e.detail])?;
    Ok(c.last_insert_rowid())
}

pub(crate) fn audit(c: &Connection, f: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
    let order = if f.newest_first { "DESC" } else { "ASC" };
    let sql = format!(
        "SELECT id, actor, action, target, detail, at FROM audit
         WHERE id > ?1 AND (?2 IS NULL OR actor = ?2) AND (?3 IS NULL OR action = ?3)
           AND (?4 IS NULL OR target = ?4)
         ORDER BY id {order} LIMIT ?5"
    );
    let mut st = c.prepare_cached(&sql)?;
    let rows = st.query_map(
        params![f.after_id, f.actor, f.action, f.target, f.limit],
        |r| {
            Ok(AuditEntry {
                id: r.get(0)?,
                actor: r.get(1)?,
                action: r.get(2)?,
                target: r.get(3)?,
                detail: r.get(4)?,
                at: r.get(5)?,
            })
        },
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}
