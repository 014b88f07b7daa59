//! The bench's backlog phase (SPEC 16): a burst above capacity whose resellers do not wait
//! for callbacks (each places its next order as soon as the last is taken, as real ones
//! do), then how fast the queue left at the burst's end drains: `backlog_drain_per_s`, and
//! the order → callback p99 of the burst's orders.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{percentile, Rig};
use serde_json::{json, Value};

/// How long after the burst the bench waits for its last callbacks.
const DRAIN_LIMIT: Duration = Duration::from_secs(120);

/// One order of the burst.
struct Sent {
    /// When its `POST` was sent.
    at: Instant,
    /// When the switch answered it (none: not taken).
    placed: Option<Instant>,
    /// Its final callback, if one came, and its status.
    done: Option<(Instant, String)>,
}

/// What the backlog phase came to, as JSON fields (every name starts `backlog_`).
pub(super) struct Backlog {
    pub drain_per_s: f64,
    pub fields: Value,
}

/// For `burst`, `workers` resellers each place orders back to back, never waiting for a
/// callback (intake outruns dispatch: the surplus waits in the switch); then the bench
/// waits (up to [`DRAIN_LIMIT`]) until every taken order has its final callback.
pub(super) async fn run(rig: &Arc<Rig>, workers: usize, burst: Duration) -> Backlog {
    let start = Instant::now();
    let end = start + burst;
    let deadline = end + DRAIN_LIMIT;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut senders = Vec::new();
    for _ in 0..workers {
        let (rig, tx) = (rig.clone(), tx.clone());
        senders.push(tokio::spawn(async move {
            while Instant::now() < end {
                let at = Instant::now();
                let id = rig.place().await;
                let placed = id.as_ref().map(|_| Instant::now());
                let (rig, tx) = (rig.clone(), tx.clone());
                // The callback is awaited aside: the reseller goes on placing orders.
                tokio::spawn(async move {
                    let mut sent = Sent {
                        at,
                        placed,
                        done: None,
                    };
                    if let Some(id) = id {
                        sent.done = rig.final_of(&id, deadline).await;
                    }
                    let _ = tx.send(sent);
                });
            }
        }));
    }
    for s in senders {
        let _ = s.await;
    }
    let sent_all = Instant::now();
    drop(tx);
    let mut all = Vec::new();
    while let Some(s) = rx.recv().await {
        all.push(s);
    }
    summarise(&all, start, sent_all)
}

/// The drain after the burst: the orders taken but not final when the last one was taken,
/// and how long until the last of them was.
fn summarise(all: &[Sent], start: Instant, sent_all: Instant) -> Backlog {
    let taken: Vec<&Sent> = all.iter().filter(|s| s.placed.is_some()).collect();
    // The burst ends when the last order is taken (the load generator may lag its schedule).
    let end = taken
        .iter()
        .filter_map(|s| s.placed)
        .max()
        .unwrap_or(sent_all);
    let left: Vec<&&Sent> = taken
        .iter()
        .filter(|s| s.done.as_ref().is_none_or(|d| d.0 > end))
        .collect();
    let unfinished = left.iter().filter(|s| s.done.is_none()).count();
    let last = left
        .iter()
        .filter_map(|s| s.done.as_ref().map(|d| d.0))
        .max();
    let drain_s = last.map_or(0.0, |l| l.duration_since(end).as_secs_f64());
    let drained = left.len() - unfinished;
    let drain_per_s = if unfinished > 0 || drain_s <= 0.0 {
        // Not drained within the limit (or nothing was left): the rate is what drained.
        drained as f64 / drain_s.max(0.001)
    } else {
        left.len() as f64 / drain_s
    };
    let mut lat: Vec<f64> = taken
        .iter()
        .filter_map(|s| {
            s.done
                .as_ref()
                .map(|d| d.0.duration_since(s.at).as_secs_f64() * 1e3)
        })
        .collect();
    let failed = taken
        .iter()
        .filter(|s| s.done.as_ref().is_some_and(|d| d.1 != "success"))
        .count();
    let done_in_burst = taken
        .iter()
        .filter(|s| s.done.as_ref().is_some_and(|d| d.0 <= end))
        .count();
    let burst_s = end.duration_since(start).as_secs_f64().max(0.001);
    let round1 = |x: f64| (x * 10.0).round() / 10.0;
    let fields = json!({
        "backlog_burst_s": round1(burst_s),
        "backlog_taken_per_s": (taken.len() as f64 / burst_s).round(),
        "backlog_taken": taken.len(),
        "backlog_refused": all.len() - taken.len(),
        "backlog_done_during_burst_per_s": (done_in_burst as f64 / burst_s).round(),
        "backlog_left_at_end": left.len(),
        "backlog_drain_s": round1(drain_s),
        "backlog_drain_per_s": drain_per_s.round(),
        "backlog_failed": failed,
        "backlog_unfinished": unfinished,
        "backlog_callback_p50_ms": round1(percentile(&mut lat, 0.5)),
        "backlog_callback_p99_ms": round1(percentile(&mut lat, 0.99)),
    });
    Backlog {
        drain_per_s,
        fields,
    }
}
