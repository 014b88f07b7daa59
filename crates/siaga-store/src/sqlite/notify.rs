//! Subscribers, the notice outbox (with coalescing by topic) and the notifier's marks.

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::error::StoreError;
use crate::types::*;

const SUB_COLS: &str = "id, email, components, status, confirm_hash, unsub_token, created_at,
    confirm_sent_at, confirmed_at, unsubscribed_at";

fn sub_row(r: &Row<'_>) -> rusqlite::Result<Subscriber> {
    let components: String = r.get(2)?;
    Ok(Subscriber {
        id: r.get(0)?,
        email: r.get(1)?,
        components: serde_json::from_str(&components).unwrap_or_default(),
        status: r.get(3)?,
        confirm_hash: r.get(4)?,
        unsub_token: r.get(5)?,
        created_at: r.get(6)?,
        confirm_sent_at: r.get(7)?,
        confirmed_at: r.get(8)?,
        unsubscribed_at: r.get(9)?,
    })
}

pub(crate) fn save_subscriber(c: &Connection, s: &Subscriber) -> Result<(), StoreError> {
    let components =
        serde_json::to_string(&s.components).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    c.prepare_cached(
        "INSERT INTO subscribers (id, email, components, status, confirm_hash, unsub_token,
             created_at, confirm_sent_at, confirmed_at, unsubscribed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (id) DO UPDATE SET email = ?2, components = ?3, status = ?4,
             confirm_hash = ?5, unsub_token = ?6, confirm_sent_at = ?8, confirmed_at = ?9,
             unsubscribed_at = ?10",
    )?
    .execute(params![
        s.id,
        s.email,
        components,
        s.status,
        s.confirm_hash,
        s.unsub_token,
        s.created_at,
        s.confirm_sent_at,
        s.confirmed_at,
        s.unsubscribed_at
    ])?;
    Ok(())
}

/// `by` is `email`, `confirm_hash` or `unsub_token`.
pub(crate) fn subscriber_by(
    c: &Connection,
    by: &str,
    value: &str,
) -> Result<Option<Subscriber>, StoreError> {
    let column = match by {
        "email" => "email",
        "confirm_hash" => "confirm_hash",
        _ => "unsub_token",
    };
    Ok(c.prepare_cached(&format!(
        "SELECT {SUB_COLS} FROM subscribers WHERE {column} = ?1"
    ))?
    .query_row(params![value], sub_row)
    .optional()?)
}

pub(crate) fn confirmed_subscribers(
    c: &Connection,
    after_id: &str,
    limit: u32,
) -> Result<Vec<Subscriber>, StoreError> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {SUB_COLS} FROM subscribers WHERE status = 'confirmed' AND id > ?1
         ORDER BY id LIMIT ?2"
    ))?;
    let rows = st.query_map(params![after_id, limit], sub_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn subscriber_counts(c: &Connection) -> Result<Vec<(String, i64)>, StoreError> {
    let mut st =
        c.prepare_cached("SELECT status, COUNT(*) FROM subscribers GROUP BY status ORDER BY 1")?;
    let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Enqueues a fan-out with coalescing; returns how many notices were inserted or replaced.
pub(crate) fn enqueue(c: &Connection, f: &Fanout) -> Result<usize, StoreError> {
    for (key, value) in &f.marks {
        set_mark(c, key, value, f.now)?;
    }
    if f.notices.is_empty() {
        return Ok(0);
    }
    let b = &f.body;
    c.prepare_cached(
        "INSERT INTO notice_bodies (kind, subject, text, html, payload, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![b.kind, b.subject, b.text, b.html, b.payload, f.now])?;
    let body_id = c.last_insert_rowid();
    let mut waiting = c.prepare_cached(
        "SELECT id FROM notices WHERE channel = ?1 AND target = ?2 AND topic = ?3
         AND status = 'pending' ORDER BY id DESC LIMIT 1",
    )?;
    let mut replace =
        c.prepare_cached("UPDATE notices SET body_id = ?2, msg_id = ?3, unsub = ?4 WHERE id = ?1")?;
    let mut last = c.prepare_cached(
        "SELECT MAX(CASE WHEN status = 'sending' THEN ?4 ELSE delivered_at END) FROM notices
         WHERE channel = ?1 AND target = ?2 AND topic = ?3 AND status IN ('delivered', 'sending')",
    )?;
    let mut insert = c.prepare_cached(
        "INSERT INTO notices (msg_id, channel, target, topic, body_id, unsub, status, next_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?8)",
    )?;
    for n in &f.notices {
        let found: Option<i64> = waiting
            .query_row(params![n.channel, n.target, n.topic], |r| r.get(0))
            .optional()?;
        if let Some(id) = found {
            replace.execute(params![id, body_id, n.msg_id, n.unsub])?;
            continue;
        }
        let sent: Option<i64> =
            last.query_row(params![n.channel, n.target, n.topic, f.now], |r| r.get(0))?;
        let next_at = match sent {
            Some(at) => (at + f.coalesce_ms).max(f.now),
            None => f.now,
        };
        insert.execute(params![
            n.msg_id, n.channel, n.target, n.topic, body_id, n.unsub, next_at, f.now
        ])?;
    }
    Ok(f.notices.len())
}

/// Claims due notices (and ones whose lease ran out) for `lease_ms`.
pub(crate) fn claim(
    c: &Connection,
    channel: &str,
    now: i64,
    limit: u32,
    lease_ms: i64,
) -> Result<Vec<Notice>, StoreError> {
    // Messages to one person (alerts, reports, confirmations) go before a subscriber fan-out.
    let mut st = c.prepare_cached(
        "SELECT n.id, n.msg_id, n.channel, n.target, n.topic, n.unsub, n.attempts, n.created_at,
                b.kind, b.subject, b.text, b.html, b.payload
         FROM notices n JOIN notice_bodies b ON b.id = n.body_id
         WHERE n.channel = ?3 AND n.status IN ('pending', 'sending') AND n.next_at <= ?1
         ORDER BY n.unsub IS NOT NULL, n.next_at, n.id LIMIT ?2",
    )?;
    let rows = st.query_map(params![now, limit, channel], |r| {
        Ok(Notice {
            id: r.get(0)?,
            msg_id: r.get(1)?,
            channel: r.get(2)?,
            target: r.get(3)?,
            topic: r.get(4)?,
            unsub: r.get(5)?,
            tries: r.get(6)?,
            created_at: r.get(7)?,
            body: NoticeBody {
                kind: r.get(8)?,
                subject: r.get(9)?,
                text: r.get(10)?,
                html: r.get(11)?,
                payload: r.get(12)?,
            },
        })
    })?;
    let items: Vec<Notice> = rows.collect::<Result<_, _>>()?;
    let mut lease =
        c.prepare_cached("UPDATE notices SET status = 'sending', next_at = ?2 WHERE id = ?1")?;
    for n in &items {
        lease.execute(params![n.id, now + lease_ms])?;
    }
    Ok(items)
}

pub(crate) fn done(c: &Connection, id: i64, now: i64) -> Result<(), StoreError> {
    c.prepare_cached(
        "UPDATE notices SET status = 'delivered', delivered_at = ?2, attempts = attempts + 1,
         last_error = NULL WHERE id = ?1",
    )?
    .execute(params![id, now])?;
    Ok(())
}

pub(crate) fn retry(
    c: &Connection,
    id: i64,
    next_at: i64,
    error: &str,
    dead: bool,
) -> Result<(), StoreError> {
    c.prepare_cached(
        "UPDATE notices SET status = ?4, next_at = ?2, last_error = ?3, attempts = attempts + 1
         WHERE id = ?1",
    )?
    .execute(params![
        id,
        next_at,
        error,
        if dead { "dead" } else { "pending" }
    ])?;
    Ok(())
}

pub(crate) fn notice_counts(c: &Connection) -> Result<Vec<(String, String, i64)>, StoreError> {
    let mut st = c.prepare_cached(
        "SELECT channel, status, COUNT(*) FROM notices GROUP BY channel, status ORDER BY 1, 2",
    )?;
    let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn mark(c: &Connection, key: &str) -> Result<Option<String>, StoreError> {
    Ok(
        c.prepare_cached("SELECT value FROM notify_marks WHERE key = ?1")?
            .query_row(params![key], |r| r.get(0))
            .optional()?,
    )
}

pub(crate) fn set_mark(c: &Connection, key: &str, value: &str, now: i64) -> Result<(), StoreError> {
    c.prepare_cached(
        "INSERT INTO notify_marks (key, value, at) VALUES (?1, ?2, ?3)
         ON CONFLICT (key) DO UPDATE SET value = ?2, at = ?3",
    )?
    .execute(params![key, value, now])?;
    Ok(())
}

/// The newest ids the notifier follows: (incident update, supplier event, maintenance window).
pub(crate) fn heads(c: &Connection) -> Result<(i64, i64, i64), StoreError> {
    Ok(c.query_row(
        "SELECT (SELECT COALESCE(MAX(id), 0) FROM incident_updates),
                (SELECT COALESCE(MAX(id), 0) FROM supplier_events),
                (SELECT COALESCE(MAX(id), 0) FROM maintenance_windows)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?)
}

/// Incident updates after `after`, oldest first, as (incident id, update).
pub(crate) fn updates_after(
    c: &Connection,
    after: i64,
    limit: u32,
) -> Result<Vec<(i64, IncidentUpdate)>, StoreError> {
    let mut st = c.prepare_cached(
        "SELECT incident_id, id, status, body_id, body_en, at FROM incident_updates
         WHERE id > ?1 ORDER BY id LIMIT ?2",
    )?;
    let rows = st.query_map(params![after, limit], |r| {
        Ok((
            r.get(0)?,
            IncidentUpdate {
                id: r.get(1)?,
                status: r.get(2)?,
                body_id: r.get(3)?,
                body_en: r.get(4)?,
                at: r.get(5)?,
            },
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Supplier events after `after`, oldest first, with their ids.
pub(crate) fn events_after(
    c: &Connection,
    after: i64,
    limit: u32,
) -> Result<Vec<(i64, SupplierEvent)>, StoreError> {
    let mut st = c.prepare_cached(
        "SELECT id, supplier_id, kind, from_state, to_state, detail, at FROM supplier_events
         WHERE id > ?1 ORDER BY id LIMIT ?2",
    )?;
    let rows = st.query_map(params![after, limit], |r| {
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

/// Orders waiting for an owner in manual review: (order id, ref id, since).
pub(crate) fn manual_review(
    c: &Connection,
    limit: u32,
) -> Result<Vec<(String, String, i64)>, StoreError> {
    let mut st = c.prepare_cached(
        "SELECT id, ref_id, updated_at FROM orders WHERE stage = 'manual_review'
         ORDER BY updated_at DESC LIMIT ?1",
    )?;
    let rows = st.query_map(params![limit], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A supplier's attempts still waiting for their answer (sending, pending or unknown).
pub(crate) fn awaiting(
    c: &Connection,
    supplier_id: &str,
    limit: u32,
) -> Result<Vec<Attempt>, StoreError> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {} FROM attempts WHERE supplier_id = ?1 AND state IN ('sending', 'pending', 'unknown')
         ORDER BY started_at LIMIT ?2",
        super::orders::ATTEMPT_COLS
    ))?;
    let rows = st.query_map(params![supplier_id, limit], super::orders::attempt_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Returns every claimed notice to `pending` (at start-up: this process held the claims).
pub(crate) fn release(c: &Connection, now: i64) -> Result<usize, StoreError> {
    Ok(c.prepare_cached(
        "UPDATE notices SET status = 'pending', next_at = MIN(next_at, ?1) WHERE status = 'sending'",
    )?
    .execute(params![now])?)
}

/// Deletes delivered and dead notices finished before `before`, and bodies no notice uses.
pub(crate) fn prune(c: &Connection, before: i64) -> Result<usize, StoreError> {
    let n = c
        .prepare_cached(
            "DELETE FROM notices WHERE status IN ('delivered', 'dead')
             AND COALESCE(delivered_at, next_at) < ?1",
        )?
        .execute(params![before])?;
    c.prepare_cached(
        "DELETE FROM notice_bodies WHERE created_at < ?1
         AND NOT EXISTS (SELECT 1 FROM notices WHERE notices.body_id = notice_bodies.id)",
    )?
    .execute(params![before])?;
    Ok(n)
}
