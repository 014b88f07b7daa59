//! Subscribers, the notice outbox (with coalescing by topic) and the notifier's marks on
//! PostgreSQL. Enqueuers take turns on an advisory lock (coalescing reads, then writes);
//! claimers take due notices with `FOR UPDATE SKIP LOCKED`, so two senders never claim
//! one notice.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::orders::{attempt_row, ATTEMPT_COLS};
use super::tx::{exec, lock_news, one, opt, rows};
use crate::error::StoreError;
use crate::types::*;

const SUB_COLS: &str = "id, email, components, status, confirm_hash, unsub_token, created_at,
    confirm_sent_at, confirmed_at, unsubscribed_at";

fn sub_row(r: &Row) -> Result<Subscriber, StoreError> {
    let components: String = r.try_get(2)?;
    Ok(Subscriber {
        id: r.try_get(0)?,
        email: r.try_get(1)?,
        components: serde_json::from_str(&components).unwrap_or_default(),
        status: r.try_get(3)?,
        confirm_hash: r.try_get(4)?,
        unsub_token: r.try_get(5)?,
        created_at: r.try_get(6)?,
        confirm_sent_at: r.try_get(7)?,
        confirmed_at: r.try_get(8)?,
        unsubscribed_at: r.try_get(9)?,
    })
}

pub(crate) async fn save_subscriber<C: GenericClient>(
    c: &C,
    s: &Subscriber,
) -> Result<(), StoreError> {
    let components =
        serde_json::to_string(&s.components).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    exec(
        c,
        "INSERT INTO subscribers (id, email, components, status, confirm_hash, unsub_token,
             created_at, confirm_sent_at, confirmed_at, unsubscribed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (id) DO UPDATE SET email = excluded.email, components = excluded.components,
             status = excluded.status, confirm_hash = excluded.confirm_hash,
             unsub_token = excluded.unsub_token, confirm_sent_at = excluded.confirm_sent_at,
             confirmed_at = excluded.confirmed_at, unsubscribed_at = excluded.unsubscribed_at",
        &[
            &s.id,
            &s.email,
            &components,
            &s.status,
            &s.confirm_hash,
            &s.unsub_token,
            &s.created_at,
            &s.confirm_sent_at,
            &s.confirmed_at,
            &s.unsubscribed_at,
        ],
    )
    .await?;
    Ok(())
}

/// `by` is `email`, `confirm_hash` or `unsub_token`.
pub(crate) async fn subscriber_by<C: GenericClient>(
    c: &C,
    by: &str,
    value: &str,
) -> Result<Option<Subscriber>, StoreError> {
    let column = match by {
        "email" => "email",
        "confirm_hash" => "confirm_hash",
        _ => "unsub_token",
    };
    let sql = format!("SELECT {SUB_COLS} FROM subscribers WHERE {column} = $1");
    opt(c, &sql, &[&value])
        .await?
        .as_ref()
        .map(sub_row)
        .transpose()
}

pub(crate) async fn confirmed_subscribers<C: GenericClient>(
    c: &C,
    after_id: &str,
    limit: u32,
) -> Result<Vec<Subscriber>, StoreError> {
    let sql = format!(
        "SELECT {SUB_COLS} FROM subscribers WHERE status = 'confirmed' AND id > $1
         ORDER BY id LIMIT $2"
    );
    rows(c, &sql, &[&after_id, &i64::from(limit)])
        .await?
        .iter()
        .map(sub_row)
        .collect()
}

pub(crate) async fn subscriber_counts<C: GenericClient>(
    c: &C,
) -> Result<Vec<(String, i64)>, StoreError> {
    rows(
        c,
        "SELECT status, COUNT(*) FROM subscribers GROUP BY status ORDER BY 1",
        &[],
    )
    .await?
    .iter()
    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
    .collect()
}

/// Enqueues a fan-out with coalescing; returns how many notices were inserted or replaced.
pub(crate) async fn enqueue<C: GenericClient>(c: &C, f: &Fanout) -> Result<usize, StoreError> {
    for (key, value) in &f.marks {
        set_mark(c, key, value, f.now).await?;
    }
    if f.notices.is_empty() {
        return Ok(0);
    }
    // Coalescing reads what is waiting and then writes: one enqueuer at a time.
    lock_news(c, "notices").await?;
    let b = &f.body;
    let body_id: i64 = one(
        c,
        "INSERT INTO notice_bodies (kind, subject, text, html, payload, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        &[&b.kind, &b.subject, &b.text, &b.html, &b.payload, &f.now],
    )
    .await?
    .try_get(0)?;
    for n in &f.notices {
        let waiting = opt(
            c,
            "SELECT id FROM notices WHERE channel = $1 AND target = $2 AND topic = $3
             AND status = 'pending' ORDER BY id DESC LIMIT 1",
            &[&n.channel, &n.target, &n.topic],
        )
        .await?;
        if let Some(w) = waiting {
            let id: i64 = w.try_get(0)?;
            // Unless a sender claimed it meanwhile (then a new one is written below).
            let replaced = exec(
                c,
                "UPDATE notices SET body_id = $2, msg_id = $3, unsub = $4 WHERE id = $1 AND status = 'pending'",
                &[&id, &body_id, &n.msg_id, &n.unsub],
            )
            .await?;
            if replaced == 1 {
                continue;
            }
        }
        let sent: Option<i64> = one(
            c,
            "SELECT MAX(CASE WHEN status = 'sending' THEN $4::bigint ELSE delivered_at END) FROM notices
             WHERE channel = $1 AND target = $2 AND topic = $3 AND status IN ('delivered', 'sending')",
            &[&n.channel, &n.target, &n.topic, &f.now],
        )
        .await?
        .try_get(0)?;
        let next_at = match sent {
            Some(at) => (at + f.coalesce_ms).max(f.now),
            None => f.now,
        };
        exec(
            c,
            "INSERT INTO notices (msg_id, channel, target, topic, body_id, unsub, status, next_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8)",
            &[&n.msg_id, &n.channel, &n.target, &n.topic, &body_id, &n.unsub, &next_at, &f.now],
        )
        .await?;
    }
    Ok(f.notices.len())
}

/// Claims due notices (and ones whose lease ran out) for `lease_ms`; notices another
/// sender is claiming right now are skipped, not waited for.
pub(crate) async fn claim<C: GenericClient>(
    c: &C,
    channel: &str,
    now: i64,
    limit: u32,
    lease_ms: i64,
) -> Result<Vec<Notice>, StoreError> {
    // Messages to one person (alerts, reports, confirmations) go before a subscriber fan-out.
    let items = rows(
        c,
        "SELECT n.id, n.msg_id, n.channel, n.target, n.topic, n.unsub, n.attempts, n.created_at,
                b.kind, b.subject, b.text, b.html, b.payload
         FROM notices n JOIN notice_bodies b ON b.id = n.body_id
         WHERE n.channel = $3 AND n.status IN ('pending', 'sending') AND n.next_at <= $1
         ORDER BY n.unsub IS NOT NULL, n.next_at, n.id LIMIT $2
         FOR UPDATE OF n SKIP LOCKED",
        &[&now, &i64::from(limit), &channel],
    )
    .await?
    .iter()
    .map(|r| {
        Ok(Notice {
            id: r.try_get(0)?,
            msg_id: r.try_get(1)?,
            channel: r.try_get(2)?,
            target: r.try_get(3)?,
            topic: r.try_get(4)?,
            unsub: r.try_get(5)?,
            tries: r.try_get(6)?,
            created_at: r.try_get(7)?,
            body: NoticeBody {
                kind: r.try_get(8)?,
                subject: r.try_get(9)?,
                text: r.try_get(10)?,
                html: r.try_get(11)?,
                payload: r.try_get(12)?,
            },
        })
    })
    .collect::<Result<Vec<_>, StoreError>>()?;
    let ids: Vec<i64> = items.iter().map(|n| n.id).collect();
    exec(
        c,
        "UPDATE notices SET status = 'sending', next_at = $2 WHERE id = ANY($1)",
        &[&ids, &(now + lease_ms)],
    )
    .await?;
    Ok(items)
}

pub(crate) async fn done<C: GenericClient>(c: &C, id: i64, now: i64) -> Result<(), StoreError> {
    exec(
        c,
        "UPDATE notices SET status = 'delivered', delivered_at = $2, attempts = attempts + 1,
         last_error = NULL WHERE id = $1",
        &[&id, &now],
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
        "UPDATE notices SET status = $4, next_at = $2, last_error = $3, attempts = attempts + 1
         WHERE id = $1",
        &[&id, &next_at, &error, &status],
    )
    .await?;
    Ok(())
}

pub(crate) async fn notice_counts<C: GenericClient>(
    c: &C,
) -> Result<Vec<(String, String, i64)>, StoreError> {
    rows(
        c,
        "SELECT channel, status, COUNT(*) FROM notices GROUP BY channel, status ORDER BY 1, 2",
        &[],
    )
    .await?
    .iter()
    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
    .collect()
}

pub(crate) async fn mark<C: GenericClient>(c: &C, key: &str) -> Result<Option<String>, StoreError> {
    Ok(
        opt(c, "SELECT value FROM notify_marks WHERE key = $1", &[&key])
            .await?
            .map(|r| r.try_get(0))
            .transpose()?,
    )
}

pub(crate) async fn set_mark<C: GenericClient>(
    c: &C,
    key: &str,
    value: &str,
    now: i64,
) -> Result<(), StoreError> {
    exec(
        c,
        "INSERT INTO notify_marks (key, value, at) VALUES ($1, $2, $3)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, at = excluded.at",
        &[&key, &value, &now],
    )
    .await?;
    Ok(())
}

/// The newest ids the notifier follows: (incident update, supplier event, maintenance window).
pub(crate) async fn heads<C: GenericClient>(c: &C) -> Result<(i64, i64, i64), StoreError> {
    let r = one(
        c,
        "SELECT (SELECT COALESCE(MAX(id), 0) FROM incident_updates),
                (SELECT COALESCE(MAX(id), 0) FROM supplier_events),
                (SELECT COALESCE(MAX(id), 0) FROM maintenance_windows)",
        &[],
    )
    .await?;
    Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))
}

/// Incident updates after `after`, oldest first, as (incident id, update).
pub(crate) async fn updates_after<C: GenericClient>(
    c: &C,
    after: i64,
    limit: u32,
) -> Result<Vec<(i64, IncidentUpdate)>, StoreError> {
    rows(
        c,
        "SELECT incident_id, id, status, body_id, body_en, at FROM incident_updates
         WHERE id > $1 ORDER BY id LIMIT $2",
        &[&after, &i64::from(limit)],
    )
    .await?
    .iter()
    .map(|r| {
        Ok((
            r.try_get(0)?,
            IncidentUpdate {
                id: r.try_get(1)?,
                status: r.try_get(2)?,
                body_id: r.try_get(3)?,
                body_en: r.try_get(4)?,
                at: r.try_get(5)?,
            },
        ))
    })
    .collect()
}

/// Supplier events after `after`, oldest first, with their ids.
pub(crate) async fn events_after<C: GenericClient>(
    c: &C,
    after: i64,
    limit: u32,
) -> Result<Vec<(i64, SupplierEvent)>, StoreError> {
    rows(
        c,
        "SELECT id, supplier_id, kind, from_state, to_state, detail, at FROM supplier_events
         WHERE id > $1 ORDER BY id LIMIT $2",
        &[&after, &i64::from(limit)],
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

/// Orders waiting for an owner in manual review: (order id, ref id, since).
pub(crate) async fn manual_review<C: GenericClient>(
    c: &C,
    limit: u32,
) -> Result<Vec<(String, String, i64)>, StoreError> {
    rows(
        c,
        "SELECT id, ref_id, updated_at FROM orders WHERE stage = 'manual_review'
         ORDER BY updated_at DESC LIMIT $1",
        &[&i64::from(limit)],
    )
    .await?
    .iter()
    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
    .collect()
}

/// A supplier's attempts still waiting for their answer (sending, pending or unknown).
pub(crate) async fn awaiting<C: GenericClient>(
    c: &C,
    supplier_id: &str,
    limit: u32,
) -> Result<Vec<Attempt>, StoreError> {
    let sql = format!(
        "SELECT {ATTEMPT_COLS} FROM attempts WHERE supplier_id = $1 AND state IN ('sending', 'pending', 'unknown')
         ORDER BY started_at LIMIT $2"
    );
    rows(c, &sql, &[&supplier_id, &i64::from(limit)])
        .await?
        .iter()
        .map(attempt_row)
        .collect()
}

/// Returns every claimed notice to `pending` (at start-up: this process held the claims).
pub(crate) async fn release<C: GenericClient>(c: &C, now: i64) -> Result<usize, StoreError> {
    let n = exec(
        c,
        "UPDATE notices SET status = 'pending', next_at = LEAST(next_at, $1) WHERE status = 'sending'",
        &[&now],
    )
    .await?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

/// Deletes delivered and dead notices finished before `before`, and bodies no notice uses.
pub(crate) async fn prune<C: GenericClient>(c: &C, before: i64) -> Result<usize, StoreError> {
    let n = exec(
        c,
        "DELETE FROM notices WHERE status IN ('delivered', 'dead')
         AND COALESCE(delivered_at, next_at) < $1",
        &[&before],
    )
    .await?;
    exec(
        c,
        "DELETE FROM notice_bodies WHERE created_at < $1
         AND NOT EXISTS (SELECT 1 FROM notices WHERE notices.body_id = notice_bodies.id)",
        &[&before],
    )
    .await?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}
