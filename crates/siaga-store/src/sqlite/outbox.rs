//! The durable outbox: messages written in the same transaction as the change they report,
//! delivered later by a worker with retries. Nothing is sent from inside a transaction.

use std::cell::RefCell;

use rusqlite::{params, Connection};

use crate::error::StoreError;
use crate::types::OutboxItem;

thread_local! {
    /// Messages the writer thread's current job has enqueued: handed to the outbox feed
    /// once (and only if) their transaction is durable.
    static ENQUEUED: RefCell<Vec<OutboxItem>> = const { RefCell::new(Vec::new()) };
}

/// Attaches the order as committed to the message just enqueued on this thread (the
/// deliverer then sends it without reading the order back).
pub(crate) fn snapshot_last(order: &crate::types::Order) {
    ENQUEUED.with(|e| {
        if let Some(last) = e.borrow_mut().last_mut() {
            last.order = Some(order.clone());
        }
    });
}

/// Takes the messages enqueued on this thread since the last call.
pub(crate) fn take_enqueued() -> Vec<OutboxItem> {
    ENQUEUED.with(|e| std::mem::take(&mut *e.borrow_mut()))
}

/// Writes a message unless one with its id exists (ids name events: see
/// `rules::callback`), so one event is one row and one delivery stream. True when written.
pub(crate) fn enqueue(
    c: &Connection,
    msg_id: &str,
    kind: &str,
    reseller_id: Option<&str>,
    order_id: Option<&str>,
    target: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let written = c
        .prepare_cached(
            "INSERT INTO outbox (msg_id, kind, reseller_id, order_id, target, status, attempts, next_at, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, 'pending', 0, ?6, ?6) ON CONFLICT (msg_id) DO NOTHING",
        )?
        .execute(params![msg_id, kind, reseller_id, order_id, target, now])?;
    if written == 0 {
        return Ok(false);
    }
    let item = OutboxItem {
        id: c.last_insert_rowid(),
        msg_id: msg_id.to_owned(),
        kind: kind.to_owned(),
        reseller_id: reseller_id.map(str::to_owned),
        order_id: order_id.map(str::to_owned),
        target: target.to_owned(),
        tries: 0,
        created_at: now,
        order: None,
    };
    ENQUEUED.with(|e| e.borrow_mut().push(item));
    Ok(true)
}

pub(crate) fn due(
    c: &Connection,
    now: i64,
    limit: u32,
    skip: &[String],
) -> Result<Vec<OutboxItem>, StoreError> {
    const COLS: &str =
        "SELECT id, msg_id, kind, reseller_id, order_id, target, attempts, created_at FROM outbox
         WHERE status = 'pending' AND next_at <= ?1";
    let row = |r: &rusqlite::Row| {
        Ok(OutboxItem {
            id: r.get(0)?,
            msg_id: r.get(1)?,
            kind: r.get(2)?,
            reseller_id: r.get(3)?,
            order_id: r.get(4)?,
            target: r.get(5)?,
            tries: r.get(6)?,
            created_at: r.get(7)?,
            order: None,
        })
    };
    if skip.is_empty() {
        let mut st = c.prepare_cached(&format!("{COLS} ORDER BY next_at, id LIMIT ?2"))?;
        let rows = st.query_map(params![now, limit], row)?;
        return Ok(rows.collect::<Result<_, _>>()?);
    }
    // Rare (an endpoint is saturated): built for this call, not cached.
    // Numbered: an unnumbered `?` here would take number 2, the LIMIT's.
    let marks = (0..skip.len())
        .map(|i| format!("?{}", i + 3))
        .collect::<Vec<_>>()
        .join(", ");
    let mut st = c.prepare(&format!(
        "{COLS} AND target NOT IN ({marks}) ORDER BY next_at, id LIMIT ?2"
    ))?;
    let mut values: Vec<rusqlite::types::Value> = vec![now.into(), i64::from(limit).into()];
    values.extend(skip.iter().map(|t| t.clone().into()));
    let rows = st.query_map(rusqlite::params_from_iter(values), row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn done(c: &Connection, ids: &[i64], now: i64) -> Result<(), StoreError> {
    let mut st = c.prepare_cached(
        "UPDATE outbox SET status = 'delivered', attempts = attempts + 1, delivered_at = ?2, last_error = NULL WHERE id = ?1",
    )?;
    for id in ids {
        st.execute(params![id, now])?;
    }
    Ok(())
}

pub(crate) fn retry(
    c: &Connection,
    id: i64,
    next_at: i64,
    error: &str,
    dead: bool,
) -> Result<(), StoreError> {
    let status = if dead { "dead" } else { "pending" };
    c.prepare_cached(
        "UPDATE outbox SET status = ?4, attempts = attempts + 1, next_at = ?2, last_error = ?3 WHERE id = ?1",
    )?
    .execute(params![id, next_at, error, status])?;
    Ok(())
}

pub(crate) fn pending_count(c: &Connection) -> Result<i64, StoreError> {
    Ok(c.query_row(
        "SELECT COUNT(*) FROM outbox WHERE status = 'pending'",
        [],
        |r| r.get(0),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A message id names an event: writing it again (a job redone, a second enqueue of the
    /// same event) leaves one row with that id, and feeds it once.
    #[test]
    fn a_message_written_twice_is_one_row_under_one_id() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("siaga.db");
        drop(crate::sqlite::SqliteStore::open(&path).expect("open (migrates)"));
        let c = Connection::open(&path).expect("raw connection");
        drop(take_enqueued());
        let id = "msg_ord_1_success";
        let write = |now| {
            enqueue(
                &c,
                id,
                "order.updated",
                Some("r1"),
                Some("ord_1"),
                "http://x/cb",
                now,
            )
        };
        assert!(write(1).expect("first write"), "written");
        assert!(
            !write(2).expect("second write is no error"),
            "not written again"
        );
        let rows: Vec<(String, i64)> = c
            .prepare("SELECT msg_id, created_at FROM outbox")
            .and_then(|mut st| {
                st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<_, _>>()
            })
            .expect("read outbox");
        assert_eq!(rows, vec![(id.to_owned(), 1)]);
        let fed = take_enqueued();
        assert_eq!(
            fed.iter().map(|i| i.msg_id.as_str()).collect::<Vec<_>>(),
            [id]
        );
    }
}
