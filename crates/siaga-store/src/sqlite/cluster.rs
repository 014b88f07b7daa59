//! Several nodes on SQLite (SPEC 12): one process holds the file, so it is always the
//! leader; the same rows as on PostgreSQL keep `siaga serve` on either backend alike.

use rusqlite::{params, Connection, OptionalExtension};

use super::health;
use crate::cluster::{Leader, NodeBeat, NodeRow, SharedBreaker, TakenOver};
use crate::error::StoreError;
use crate::types::SupplierEvent;

pub(crate) fn beat(c: &Connection, n: &NodeBeat) -> Result<(), StoreError> {
    c.prepare_cached(
        "INSERT INTO nodes (id, address, version, started_at, last_seen) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (id) DO UPDATE SET address = excluded.address, version = excluded.version,
             started_at = excluded.started_at, last_seen = excluded.last_seen",
    )?
    .execute(params![n.id, n.address, n.version, n.started_at, n.now])?;
    Ok(())
}

pub(crate) fn nodes(c: &Connection) -> Result<Vec<NodeRow>, StoreError> {
    let mut st = c.prepare_cached(
        "SELECT n.id, n.address, n.version, n.started_at, n.last_seen,
                (SELECT COUNT(*) FROM orders o WHERE o.status = 'pending' AND o.owner = n.id)
         FROM nodes n ORDER BY n.id",
    )?;
    let rows = st.query_map([], |r| {
        Ok(NodeRow {
            id: r.get(0)?,
            address: r.get(1)?,
            version: r.get(2)?,
            started_at: r.get(3)?,
            last_seen: r.get(4)?,
            orders_owned: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn lead(c: &Connection, node: &str, now: i64, until: i64) -> Result<Leader, StoreError> {
    c.prepare_cached(
        "INSERT INTO cluster_leader (id, node, until, since) VALUES (1, ?1, ?3, ?2)
         ON CONFLICT (id) DO UPDATE SET
             since = CASE WHEN cluster_leader.node = excluded.node AND cluster_leader.until >= ?2
                          THEN cluster_leader.since ELSE ?2 END,
             node = excluded.node, until = excluded.until
         WHERE cluster_leader.node = excluded.node OR cluster_leader.until < ?2",
    )?
    .execute(params![node, now, until])?;
    Ok(
        c.prepare_cached("SELECT node, until, since FROM cluster_leader WHERE id = 1")?
            .query_row([], |r| {
                Ok(Leader {
                    node: r.get(0)?,
                    until: r.get(1)?,
                    since: r.get(2)?,
                })
            })?,
    )
}

pub(crate) fn take_over(
    c: &Connection,
    node: &str,
    dead_before: i64,
    now: i64,
) -> Result<Vec<TakenOver>, StoreError> {
    let mut st = c.prepare_cached(
        "SELECT o.owner, COUNT(*) FROM orders o JOIN nodes n ON n.id = o.owner
         WHERE o.status = 'pending' AND o.owner <> ?1 AND n.last_seen < ?2
         GROUP BY o.owner ORDER BY o.owner",
    )?;
    let dead: Vec<TakenOver> = st
        .query_map(params![node, dead_before], |r| {
            Ok(TakenOver {
                from: r.get(0)?,
                orders: r.get(1)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    for d in &dead {
        // Looked at now by the new owner: an attempt the dead node was sending is then
        // inquired at its own supplier when its pacing allows (never sent elsewhere).
        c.prepare_cached(
            "UPDATE orders SET owner = ?1, next_action_at = MIN(COALESCE(next_action_at, ?3), ?3)
             WHERE status = 'pending' AND owner = ?2",
        )?
        .execute(params![node, d.from, now])?;
    }
    Ok(dead)
}

pub(crate) fn share_breaker(
    c: &Connection,
    b: &SharedBreaker,
    event: &SupplierEvent,
) -> Result<bool, StoreError> {
    let current = c
        .prepare_cached(
            "SELECT supplier_id, state, node, at FROM supplier_breakers WHERE supplier_id = ?1",
        )?
        .query_row([&b.supplier_id], row)
        .optional()?;
    if current.is_some_and(|cur| b.seen_as(&cur)) {
        return Ok(false);
    }
    c.prepare_cached(
        "INSERT INTO supplier_breakers (supplier_id, state, node, at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (supplier_id) DO UPDATE SET state = excluded.state, node = excluded.node, at = excluded.at",
    )?
    .execute(params![b.supplier_id, b.state, b.node, b.at])?;
    health::add_event(c, event)?;
    Ok(true)
}

pub(crate) fn breakers(c: &Connection) -> Result<Vec<SharedBreaker>, StoreError> {
    let mut st = c.prepare_cached(
        "SELECT supplier_id, state, node, at FROM supplier_breakers ORDER BY supplier_id",
    )?;
    let rows = st.query_map([], row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SharedBreaker> {
    Ok(SharedBreaker {
        supplier_id: r.get(0)?,
        state: r.get(1)?,
        node: r.get(2)?,
        at: r.get(3)?,
    })
}
