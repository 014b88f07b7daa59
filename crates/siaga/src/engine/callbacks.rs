//! Delivers reseller callbacks from the durable outbox: `order.updated` signed per
//! Standard Webhooks, retried with exponential back-off until a 2xx or the give-up age.
//! A restart loses nothing: the outbox row stays `pending` until a delivery succeeds.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use siaga_store::OutboxItem;
use tokio::sync::watch;

use crate::app::App;
use crate::http::wire;
use crate::webhook;

const POLL: Duration = Duration::from_millis(250);
/// Rows read per poll, beyond those already being delivered.
const BATCH: usize = 256;
/// Deliveries in flight at once, all endpoints together.
const MAX_INFLIGHT: usize = 1024;
/// Deliveries in flight at once to one endpoint: a reseller whose server hangs holds at
/// most this many; the others' callbacks go on.
const PER_TARGET: usize = 32;

/// Which outbox rows are being delivered, and which finished since a given poll began: a
/// poll that read a row just before its delivery was recorded must not send it again.
#[derive(Default)]
struct Tracker {
    inflight: HashSet<i64>,
    /// Deliveries in flight per target URL (absent when none).
    per_target: HashMap<String, usize>,
    /// Row id → the number of the newest poll that had started when its delivery finished.
    finished: HashMap<i64, u64>,
    polls: u64,
}

impl Tracker {
    /// Endpoints at their cap: the next read leaves their rows out, so a backlog for a
    /// hanging endpoint cannot fill every read and starve the rest.
    fn saturated(&self) -> Vec<String> {
        self.per_target
            .iter()
            .filter(|(_, n)| **n >= PER_TARGET)
            .map(|(t, _)| t.clone())
            .collect()
    }

    /// Takes `item` for delivery unless it is in flight, was just delivered, or a cap is full.
    fn take(&mut self, item: &OutboxItem, poll: u64) -> bool {
        let finished_since = self.finished.get(&item.id).is_some_and(|at| *at >= poll);
        let target_full = self
            .per_target
            .get(&item.target)
            .is_some_and(|n| *n >= PER_TARGET);
        if finished_since
            || target_full
            || self.inflight.len() >= MAX_INFLIGHT
            || !self.inflight.insert(item.id)
        {
            return false;
        }
        *self.per_target.entry(item.target.clone()).or_insert(0) += 1;
        true
    }

    /// Records the end of a delivery; true when a cap it held was full (worth a new poll).
    fn end(&mut self, id: i64, target: &str) -> bool {
        let was_full = self.inflight.len() >= MAX_INFLIGHT
            || self
                .per_target
                .get(target)
                .is_some_and(|n| *n >= PER_TARGET);
        self.inflight.remove(&id);
        if let Some(n) = self.per_target.get_mut(target) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_target.remove(target);
            }
        }
        let now = self.polls;
        self.finished.insert(id, now);
        was_full
    }
}

/// One delivery's place in the tracker, given back when it ends, even by a panic.
struct Delivering {
    app: Arc<App>,
    tracker: Arc<Mutex<Tracker>>,
    id: i64,
    target: String,
}

impl Drop for Delivering {
    fn drop(&mut self) {
        let was_full = self
            .tracker
            .lock()
            .map(|mut t| t.end(self.id, &self.target))
            .unwrap_or(false);
        if was_full {
            self.app.outbox_kick.notify_one();
        }
    }
}

pub async fn deliverer(app: Arc<App>, mut shutdown: watch::Receiver<bool>) {
    let tracker: Arc<Mutex<Tracker>> = Arc::default();
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = app.outbox_kick.notified() => {}
            _ = shutdown.changed() => return,
        }
        let (poll, limit, skip) = match tracker.lock() {
            Ok(mut t) => {
                if t.inflight.len() >= MAX_INFLIGHT {
                    // A finishing delivery kicks the next poll.
                    continue;
                }
                t.polls += 1;
                let p = t.polls;
                // Deliveries finished before the previous poll began cannot be in this read.
                t.finished.retain(|_, at| *at + 1 >= p);
                // Rows in flight may come back in the read: ask for that many more.
                (p, BATCH + t.inflight.len(), t.saturated())
            }
            Err(_) => return,
        };
        let items = match app.store.due_outbox(app.now(), limit as u32, &skip).await {
            Ok(items) => items,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the outbox");
                continue;
            }
        };
        for item in items {
            let fresh = tracker
                .lock()
                .map(|mut t| t.take(&item, poll))
                .unwrap_or(false);
            if !fresh {
                continue;
            }
            let guard = Delivering {
                app: app.clone(),
                tracker: tracker.clone(),
                id: item.id,
                target: item.target.clone(),
            };
            tokio::spawn(async move {
                let id = item.id;
                let run = std::panic::AssertUnwindSafe(deliver(&guard.app, item));
                match futures::FutureExt::catch_unwind(run).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::error!(outbox = id, error = %e, "callback bookkeeping failed");
                    }
                    Err(_) => {
                        // A bug, not the endpoint: backed off like a failure, not re-polled
                        // four times a second.
                        tracing::error!(outbox = id, "a callback delivery panicked");
                        let delay = guard.app.settings.callbacks.retry_max_ms as i64;
                        let at = guard.app.now() + delay;
                        let _ = guard
                            .app
                            .store
                            .outbox_retry(id, at, "delivery panicked", false)
                            .await;
                    }
                }
                drop(guard);
            });
        }
    }
}

async fn deliver(app: &App, item: OutboxItem) -> anyhow::Result<()> {
    let result = attempt(app, &item).await;
    let now = app.now();
    match result {
        Ok(()) => app.store.outbox_done(item.id, now).await?,
        Err(why) => {
            let cfg = &app.settings.callbacks;
            let factor = 1u64 << item.attempts.clamp(0, 20);
            let delay = cfg
                .retry_base_ms
                .saturating_mul(factor)
                .min(cfg.retry_max_ms) as i64;
            let dead = now + delay > item.created_at + (cfg.give_up_after_s as i64) * 1000;
            tracing::warn!(msg = %item.msg_id, attempts = item.attempts + 1, dead, error = %why, "callback not delivered");
            app.store
                .outbox_retry(item.id, now + delay, &why, dead)
                .await?;
        }
    }
    Ok(())
}

/// One delivery try; `Err` carries the reason for the retry log.
async fn attempt(app: &App, item: &OutboxItem) -> Result<(), String> {
    let order_id = item
        .order_id
        .as_deref()
        .ok_or("outbox item without order")?;
    let order = app
        .store
        .order(order_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("order not found")?;
    let reseller_id = item
        .reseller_id
        .as_deref()
        .ok_or("outbox item without reseller")?;
    let reseller = app
        .store
        .reseller(reseller_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("reseller not found")?;
    let body = serde_json::to_vec(&serde_json::json!({
        "type": item.kind,
        "data": wire::order_json(&order),
    }))
    .map_err(|e| e.to_string())?;
    let ts = app.now() / 1000;
    let sig = webhook::sign(&reseller.webhook_secret, &item.msg_id, ts, &body)
        .map_err(|e| e.to_string())?;
    let resp = app
        .client
        .post(&item.target)
        .timeout(Duration::from_millis(app.settings.callbacks.timeout_ms))
        .header("content-type", "application/json")
        .header("webhook-id", &item.msg_id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", sig)
        .body(body)
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(format!("HTTP {}", resp.status().as_u16()))
    }
}
