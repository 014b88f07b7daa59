//! Several nodes on PostgreSQL (SPEC 12): heartbeats, the leader lease (one row, taken
//! when it ran out, renewed by its holder; concurrent takers serialize on the row), the
//! takeover of a dead node's orders, and the breaker state the nodes share.

use deadpool_postgres::GenericClient;

use super::health;
use super::tx::{exec, one, opt, rows};
use crate::cluster::{Leader, NodeBeat, NodeRow, SharedBreaker, TakenOver};
use crate::error::StoreError;
use crate::types::SupplierEvent;

pub(crate) async fn beat<C: GenericClient>(c: &C, n: &NodeBeat) -> Result<(), StoreError> {
    exec(
        c,
        "INSERT INTO nodes (id, address, version, started_at, last_seen) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (id) DO UPDATE SET address = excluded.address, version = excluded.version,
             started_at = excluded.started_at, last_seen = excluded.last_seen",
        &[&n.id, &n.address, &n.version, &n.started_at, &n.now],
    )
    .await?;
    Ok(())
}

pub(crate) async fn nodes<C: GenericClient>(c: &C) -> Result<Vec<NodeRow>, StoreError> {
    rows(
        c,
        "SELECT n.id, n.address, n.version, n.started_at, n.last_seen,
                (SELECT COUNT(*) FROM orders o WHERE o.status = 'pending' AND o.owner = n.id)
         FROM nodes n ORDER BY n.id",
        &[],
    )
    .await?
    .iter()
    .map(|r| {
        Ok(NodeRow {
            id: r.try_get(0)?,
            address: r.try_get(1)?,
            version: r.try_get(2)?,
            started_at: r.try_get(3)?,
            last_seen: r.try_get(4)?,
            orders_owned: r.try_get(5)?,
        })
    })
    .collect()
}

pub(crate) async fn lead<C: GenericClient>(
    c: &C,
    node: &str,
    now: i64,
    until: i64,
) -> Result<Leader, StoreError> {
    exec(
        c,
        "INSERT INTO cluster_leader (id, node, until, since) VALUES (1, $1, $3, $2)
         ON CONFLICT (id) DO UPDATE SET
             since = CASE WHEN cluster_leader.node = excluded.node AND cluster_leader.until >= $2
                          THEN cluster_leader.since ELSE $2 END,
             node = excluded.node, until = excluded.until
         WHERE cluster_leader.node = excluded.node OR cluster_leader.until < $2",
        &[&node, &now, &until],
    )
    .await?;
    let r = one(
        c,
        "SELECT node, until, since FROM cluster_leader WHERE id = 1",
        &[],
    )
    .await?;
    Ok(Leader {
        node: r.try_get(0)?,
        until: r.try_get(1)?,
        since: r.try_get(2)?,
    })
}

pub(crate) async fn take_over<C: GenericClient>(
    c: &C,
    node: &str,
    dead_before: i64,
    now: i64,
) -> Result<Vec<TakenOver>, StoreError> {
    // One statement: the rows are locked as they move, so two nodes taking over at once
    // never both take an order (the second finds its owner alive).
    let moved = rows(
        c,
        "WITH dead AS (SELECT id FROM nodes WHERE id <> $1 AND last_seen < $2),
              moved AS (
                UPDATE orders o SET owner = $1, next_action_at = LEAST(COALESCE(o.next_action_at, $3), $3)
                FROM (SELECT o2.id, o2.owner FROM orders o2
                      WHERE o2.status = 'pending' AND o2.owner IN (SELECT id FROM dead)
                      FOR UPDATE OF o2 SKIP LOCKED) AS was
                WHERE o.id = was.id
                RETURNING was.owner AS from_node)
         SELECT from_node, COUNT(*) FROM moved GROUP BY from_node ORDER BY from_node",
        &[&node, &dead_before, &now],
    )
    .await?;
    moved
        .iter()
        .map(|r| {
            Ok(TakenOver {
                from: r.try_get(0)?,
                orders: r.try_get(1)?,
            })
        })
        .collect()
}

pub(crate) async fn share_breaker<C: GenericClient>(
    c: &C,
    b: &SharedBreaker,
    event: &SupplierEvent,
) -> Result<bool, StoreError> {
    // The row is created once, then locked: nodes that see the same change at once take
    // turns, and only the first records it.
    let created = opt(
        c,
        "INSERT INTO supplier_breakers (supplier_id, state, node, at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (supplier_id) DO NOTHING RETURNING 1",
        &[&b.supplier_id, &b.state, &b.node, &b.at],
    )
    .await?;
    if created.is_some() {
        health::add_event(c, event).await?;
        return Ok(true);
    }
    let current = opt(
        c,
        "SELECT supplier_id, state, node, at FROM supplier_breakers WHERE supplier_id = $1 FOR UPDATE",
        &[&b.supplier_id],
    )
    .await?
    .map(|r| row(&r))
    .transpose()?;
    if current.is_some_and(|cur| b.seen_as(&cur)) {
        return Ok(false);
    }
    exec(
        c,
        "UPDATE supplier_breakers SET state = $2, node = $3, at = $4 WHERE supplier_id = $1",
        &[&b.supplier_id, &b.state, &b.node, &b.at],
    )
    .await?;
    health::add_event(c, event).await?;
    Ok(true)
}

pub(crate) async fn breakers<C: GenericClient>(c: &C) -> Result<Vec<SharedBreaker>, StoreError> {
    rows(
        c,
        "SELECT supplier_id, state, node, at FROM supplier_breakers ORDER BY supplier_id",
        &[],
    )
    .await?
    .iter()
    .map(row)
    .collect()
}

fn row(r: &tokio_postgres::Row) -> Result<SharedBreaker, StoreError> {
    Ok(SharedBreaker {
        supplier_id: r.try_get(0)?,
        state: r.try_get(1)?,
        node: r.try_get(2)?,
        at: r.try_get(3)?,
    })
}
