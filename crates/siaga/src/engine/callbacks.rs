//! Delivers reseller callbacks from the durable outbox: `order.updated` signed per
//! Standard Webhooks, retried with exponential back-off until a 2xx or the give-up age.
//! A restart loses nothing: the outbox row stays `pending` until a delivery succeeds.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use siaga_store::OutboxItem;
use tokio::sync::{mpsc, oneshot, watch};

use super::trace::Stage;
use super::Engine;
use crate::webhook;
use crate::wire;

const POLL: Duration = Duration::from_millis(250);
/// Rows read per poll, beyond those already being delivered.
const BATCH: usize = 256;
/// Deliveries in flight at once, all endpoints together.
const MAX_INFLIGHT: usize = 1024;
/// Deliveries in flight at once to one endpoint: a reseller whose server hangs holds at
/// most this many; the others' callbacks go on.
const PER_TARGET: usize = 32;
/// Fresh messages held in memory behind full caps, all endpoints together; beyond it
/// they wait in the outbox table for a poll.
const MAX_QUEUED: usize = 4096;
/// ... and behind one endpoint (a hanging one cannot take every place).
const MAX_QUEUED_PER_TARGET: usize = 512;

/// Which outbox rows are being delivered, and which finished since a given poll began: a
/// poll that read a row just before its delivery was recorded must not send it again.
/// A delivery holds its endpoint's place only for the HTTP exchange, and stays in flight
/// (so no poll sends it again) until its outcome is recorded.
#[derive(Default)]
struct Tracker {
    inflight: HashSet<i64>,
    /// HTTP exchanges in progress per target URL (absent when none).
    per_target: HashMap<String, usize>,
    /// Row id → the number of the newest poll that had started when its delivery finished.
    finished: HashMap<i64, u64>,
    polls: u64,
    /// Fresh messages (from the store's feed) that met a full cap, per target, oldest
    /// first: each starts when a delivery ends, without a read of the outbox.
    waiting: HashMap<String, VecDeque<OutboxItem>>,
    /// The ids in `waiting` (a poll leaves them to their queue).
    queued: HashSet<i64>,
    /// The largest row id any poll has read: a fed copy of such a row came too late, the
    /// poll owns it (ids only grow).
    max_polled: i64,
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

    fn has_room(&self, target: &str) -> bool {
        self.inflight.len() < MAX_INFLIGHT
            && self.per_target.get(target).is_none_or(|n| *n < PER_TARGET)
    }

    /// Takes `item` for delivery unless it is in flight or queued, was delivered since
    /// poll number `poll` began (0: since the previous poll), or a cap is full.
    fn take(&mut self, item: &OutboxItem, poll: u64) -> bool {
        let finished_since = self.finished.get(&item.id).is_some_and(|at| *at >= poll);
        if finished_since
            || self.queued.contains(&item.id)
            || !self.has_room(&item.target)
            || !self.inflight.insert(item.id)
        {
            return false;
        }
        *self.per_target.entry(item.target.clone()).or_insert(0) += 1;
        true
    }

    /// A fresh message from the feed: given back to start now, or queued behind its
    /// endpoint's deliveries (or, the queue full, left to the poll).
    fn take_fresh(&mut self, item: OutboxItem) -> Option<OutboxItem> {
        if item.id <= self.max_polled {
            return None;
        }
        if self.take(&item, 0) {
            return Some(item);
        }
        let known = self.inflight.contains(&item.id)
            || self.queued.contains(&item.id)
            || self.finished.contains_key(&item.id);
        let line = self.waiting.get(&item.target).map_or(0, VecDeque::len);
        if !known && self.queued.len() < MAX_QUEUED && line < MAX_QUEUED_PER_TARGET {
            self.queued.insert(item.id);
            self.waiting
                .entry(item.target.clone())
                .or_default()
                .push_back(item);
        }
        None
    }

    /// Gives back the endpoint's place once a delivery's HTTP exchange is over. Returns
    /// whether the cap was full with nothing queued to fill the place (worth a new poll),
    /// and the queued message that now starts in its place, if any.
    fn leave_endpoint(&mut self, target: &str) -> (bool, Option<OutboxItem>) {
        let was_full = !self.has_room(target);
        if let Some(n) = self.per_target.get_mut(target) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_target.remove(target);
            }
        }
        let next = self.next_queued(target);
        (was_full && next.is_none(), next)
    }

    /// Records the end of a delivery (its outcome recorded): from now on a poll that read
    /// the row before may not send it, and one that reads it after finds it done. Returns
    /// the same as [`Self::leave_endpoint`] for the place in the total cap.
    fn end(&mut self, id: i64) -> (bool, Option<OutboxItem>) {
        let was_full = self.inflight.len() >= MAX_INFLIGHT;
        self.inflight.remove(&id);
        let now = self.polls;
        self.finished.insert(id, now);
        let next = if was_full { self.next_queued("") } else { None };
        (was_full && next.is_none(), next)
    }

    /// The oldest queued message for `target` (else for any endpoint with room), taken.
    fn next_queued(&mut self, target: &str) -> Option<OutboxItem> {
        if self.queued.is_empty() || self.inflight.len() >= MAX_INFLIGHT {
            return None;
        }
        let key = if self.waiting.contains_key(target) && self.has_room(target) {
            target.to_owned()
        } else {
            self.waiting
                .keys()
                .find(|t| self.has_room(t.as_str()))?
                .clone()
        };
        let queue = self.waiting.get_mut(&key)?;
        let item = queue.pop_front()?;
        if queue.is_empty() {
            self.waiting.remove(&key);
        }
        self.queued.remove(&item.id);
        self.inflight.insert(item.id);
        *self.per_target.entry(item.target.clone()).or_insert(0) += 1;
        Some(item)
    }
}

/// One delivery's places in the tracker, given back when it ends, even by a panic.
struct Delivering {
    engine: Arc<Engine>,
    tracker: Arc<Mutex<Tracker>>,
    marks: Marks,
    /// Where a queued message that takes this one's place goes to be started.
    ready: mpsc::UnboundedSender<OutboxItem>,
    id: i64,
    target: String,
    /// Whether the endpoint's place is still held (the HTTP exchange not over).
    at_endpoint: std::sync::atomic::AtomicBool,
}

impl Delivering {
    /// The HTTP exchange is over: the endpoint's place goes to the next message (the
    /// delivery stays in flight until its outcome is recorded).
    fn leave_endpoint(&self) {
        if self.at_endpoint.swap(false, Ordering::AcqRel) {
            let freed = self
                .tracker
                .lock()
                .map(|mut t| t.leave_endpoint(&self.target));
            self.follow(freed.unwrap_or((false, None)));
        }
    }

    fn follow(&self, (was_full, next): (bool, Option<OutboxItem>)) {
        // Started by the deliverer's loop, not from here: a task dropped unrun (the
        // runtime shutting down) would otherwise start the next one from its drop, and
        // so on down the whole queue.
        if let Some(item) = next {
            let _ = self.ready.send(item);
        }
        if was_full {
            self.engine.outbox_kick.notify_one();
        }
    }
}

impl Drop for Delivering {
    fn drop(&mut self) {
        self.leave_endpoint();
        let ended = self.tracker.lock().map(|mut t| t.end(self.id));
        self.follow(ended.unwrap_or((false, None)));
    }
}

pub async fn deliverer(engine: Arc<Engine>, mut shutdown: watch::Receiver<bool>) {
    let tracker: Arc<Mutex<Tracker>> = Arc::default();
    let marks = Marks::start(engine.clone());
    // Fresh messages come straight from the store once committed; the poll is for retries,
    // for what was pending at start, and for what the feed could not take.
    let mut feed = engine.store.subscribe_outbox();
    engine.outbox_fed.store(feed.is_some(), Ordering::Relaxed);
    let (ready_tx, mut ready) = mpsc::unbounded_channel::<OutboxItem>();
    let starter = Starter {
        marks,
        ready: ready_tx,
    };
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            Some(item) = ready.recv() => {
                // Already taken in the tracker when its place came free.
                spawn_delivery(&engine, &tracker, &starter, item);
                continue;
            }
            _ = engine.outbox_kick.notified() => {}
            fresh = next(&mut feed) => {
                match fresh {
                    // Poll 0: left alone if in flight or delivered since the last poll.
                    Some(item) => {
                        if let Some(id) = &item.order_id {
                            engine.trace.mark(id, Stage::CallbackTaken);
                        }
                        let now = tracker.lock().ok().and_then(|mut t| t.take_fresh(item));
                        if let Some(item) = now {
                            spawn_delivery(&engine, &tracker, &starter, item);
                        }
                    }
                    None => {
                        feed = None;
                        engine.outbox_fed.store(false, Ordering::Relaxed);
                    }
                }
                continue;
            }
            _ = shutdown.changed() => return,
        }
        // Several nodes (SPEC 12): each delivers the messages of the orders it settles
        // (its feed); only the leader polls, for retries and for what a node left behind.
        if !engine.cluster.is_leader() {
            continue;
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
        let items = match engine
            .store
            .due_outbox(engine.now(), limit as u32, &skip)
            .await
        {
            Ok(items) => items,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the outbox");
                continue;
            }
        };
        let now = engine.now();
        for item in items {
            if engine.cluster.shared_store && left_to_its_node(&item, now) {
                continue;
            }
            let fresh = tracker
                .lock()
                .map(|mut t| {
                    t.max_polled = t.max_polled.max(item.id);
                    t.take(&item, poll)
                })
                .unwrap_or(false);
            if fresh {
                spawn_delivery(&engine, &tracker, &starter, item);
            }
        }
    }
}

/// How long a message never tried is left to the node whose feed has it, before the
/// leader's poll takes it as left behind (longer than a delivery's timeout).
const LEFT_BEHIND_MS: i64 = 30_000;

/// Whether a polled message is still the business of the node that settled its order.
fn left_to_its_node(item: &OutboxItem, now: i64) -> bool {
    item.tries == 0 && item.created_at > now - LEFT_BEHIND_MS
}

/// The next fresh message from the store's feed (never, without one).
async fn next(feed: &mut Option<mpsc::Receiver<OutboxItem>>) -> Option<OutboxItem> {
    match feed {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// What a delivery task needs besides the engine and tracker.
struct Starter {
    marks: Marks,
    ready: mpsc::UnboundedSender<OutboxItem>,
}

/// Delivers `item`, already taken in the tracker, in a task of its own.
fn spawn_delivery(
    engine: &Arc<Engine>,
    tracker: &Arc<Mutex<Tracker>>,
    start: &Starter,
    item: OutboxItem,
) {
    let guard = Delivering {
        engine: engine.clone(),
        tracker: tracker.clone(),
        marks: start.marks.clone(),
        ready: start.ready.clone(),
        id: item.id,
        target: item.target.clone(),
        at_endpoint: true.into(),
    };
    tokio::spawn(async move {
        let id = item.id;
        let run = std::panic::AssertUnwindSafe(deliver(&guard, item));
        match futures::FutureExt::catch_unwind(run).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!(outbox = id, error = %e, "callback bookkeeping failed");
            }
            Err(_) => {
                // A bug, not the endpoint: backed off like a failure, not re-polled
                // four times a second.
                tracing::error!(outbox = id, "a callback delivery panicked");
                let delay = guard.engine.settings.get().callbacks.retry_max_ms as i64;
                let at = guard.engine.now() + delay;
                let _ = guard
                    .engine
                    .store
                    .outbox_retry(id, at, "delivery panicked", false)
                    .await;
            }
        }
        // Only now (the delivered mark or the retry durable) may a poll see the row again.
        drop(guard);
    });
}

/// A delivery and the reply to it once its mark is durable.
type Mark = (i64, oneshot::Sender<Result<(), String>>);

/// Delivered marks, written in batches: every delivery that finished while the previous
/// write ran goes into the next one (one store write instead of one per callback).
#[derive(Clone)]
struct Marks(mpsc::Sender<Mark>);

impl Marks {
    fn start(engine: Arc<Engine>) -> Marks {
        let (tx, mut rx) = mpsc::channel::<Mark>(MAX_INFLIGHT);
        tokio::spawn(async move {
            let mut batch: Vec<Mark> = Vec::new();
            while let Some(first) = rx.recv().await {
                batch.push(first);
                while batch.len() < BATCH {
                    match rx.try_recv() {
                        Ok(m) => batch.push(m),
                        Err(_) => break,
                    }
                }
                let ids = batch.iter().map(|m| m.0).collect();
                let res = engine
                    .store
                    .outbox_done_many(ids, engine.now())
                    .await
                    .map_err(|e| e.to_string());
                for (_, reply) in batch.drain(..) {
                    let _ = reply.send(res.clone());
                }
            }
        });
        Marks(tx)
    }

    /// Marks `id` delivered; returns once that is durable.
    async fn done(&self, id: i64) -> anyhow::Result<()> {
        let (tx, rx) = oneshot::channel();
        self.0
            .send((id, tx))
            .await
            .map_err(|_| anyhow::anyhow!("the delivered-mark writer has stopped"))?;
        rx.await
            .map_err(|_| anyhow::anyhow!("the delivered-mark writer has stopped"))?
            .map_err(|e| anyhow::anyhow!(e))
    }
}

async fn deliver(guard: &Delivering, item: OutboxItem) -> anyhow::Result<()> {
    let (engine, marks) = (&*guard.engine, &guard.marks);
    let result = attempt(engine, &item).await;
    // The endpoint is free for the next message while the outcome is written.
    guard.leave_endpoint();
    let now = engine.now();
    match result {
        Ok(()) => marks.done(item.id).await?,
        Err(why) => {
            let cfg = &engine.settings.get().callbacks;
            let delay = retry_delay(cfg, item.tries);
            let dead = now + delay > item.created_at + (cfg.give_up_after_s as i64) * 1000;
            tracing::warn!(msg = %item.msg_id, tries = item.tries + 1, dead, error = %why, "callback not delivered");
            engine
                .store
                .outbox_retry(item.id, now + delay, &why, dead)
                .await?;
        }
    }
    Ok(())
}

/// The wait before the next try of a callback that failed `tries` times before this one:
/// `retry_base_ms` doubling per try (at most 20 doublings), capped at `retry_max_ms`.
fn retry_delay(cfg: &crate::config::CallbacksCfg, tries: i64) -> i64 {
    use siaga_domain::backoff::{delay, ms};
    delay(tries.min(20), ms(cfg.retry_base_ms), ms(cfg.retry_max_ms))
}

/// One delivery try; `Err` carries the reason for the retry log.
async fn attempt(engine: &Engine, item: &OutboxItem) -> Result<(), String> {
    let order_id = item
        .order_id
        .as_deref()
        .ok_or("outbox item without order")?;
    // Fresh from the feed, the order comes as committed with the message; from the
    // table (a retry, or after a restart) it is read.
    let read;
    let order = match &item.order {
        Some(o) => o,
        None => {
            read = engine
                .store
                .order(order_id)
                .await
                .map_err(|e| e.to_string())?
                .ok_or("order not found")?;
            &read
        }
    };
    let reseller_id = item
        .reseller_id
        .as_deref()
        .ok_or("outbox item without reseller")?;
    let reseller = engine
        .store
        .reseller(reseller_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("reseller not found")?;
    let timeout = Duration::from_millis(engine.settings.get().callbacks.timeout_ms);
    if reseller.callback_format == siaga_store::CallbackFormat::Digiflazz {
        let balance = engine
            .store
            .balance(reseller_id)
            .await
            .map_err(|e| e.to_string())?;
        let data = wire::digiflazz_data(order, balance.available);
        let secret = &reseller.webhook_secret;
        return super::dropin::post(&engine.client, &item.target, secret, &data, timeout).await;
    }
    let body = serde_json::to_vec(&serde_json::json!({
        "type": item.kind,
        "data": wire::order_json(order),
    }))
    .map_err(|e| e.to_string())?;
    let ts = engine.now() / 1000;
    let sig = webhook::sign(&reseller.webhook_secret, &item.msg_id, ts, &body)
        .map_err(|e| e.to_string())?;
    engine.trace.mark(order_id, Stage::CallbackSent);
    let resp = engine
        .client
        .post(&item.target)
        .timeout(timeout)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: i64, target: &str) -> OutboxItem {
        OutboxItem {
            id,
            msg_id: format!("msg_{id}"),
            kind: "order.updated".into(),
            reseller_id: Some("r".into()),
            order_id: Some(format!("o{id}")),
            target: target.into(),
            tries: 0,
            created_at: 0,
            order: None,
        }
    }

    #[test]
    fn fresh_messages_wait_behind_a_full_endpoint_and_start_as_places_free() {
        let mut t = Tracker::default();
        for id in 1..=PER_TARGET as i64 {
            assert!(t.take_fresh(item(id, "a")).is_some());
        }
        // "a" is full: the next two wait in order; "b" starts at once.
        assert!(t.take_fresh(item(100, "a")).is_none());
        assert!(t.take_fresh(item(101, "a")).is_none());
        assert!(t.take_fresh(item(200, "b")).is_some());
        assert_eq!(t.saturated(), vec!["a".to_owned()]);
        // A poll that reads the waiting rows leaves them to their queue.
        t.polls += 1;
        assert!(!t.take(&item(100, "a"), t.polls));
        // Nor is a message queued twice, or one in flight queued.
        assert!(t.take_fresh(item(100, "a")).is_none());
        assert!(t.take_fresh(item(3, "a")).is_none());
        assert_eq!(t.queued.len(), 2);
        // An exchange over: its place goes to the oldest waiting message at once, while
        // its own outcome is still being recorded.
        let (kick, next) = t.leave_endpoint("a");
        assert!(!kick, "the freed place went to a waiting message");
        assert_eq!(next.map(|i| i.id), Some(100));
        let (_, next) = t.leave_endpoint("a");
        assert_eq!(next.map(|i| i.id), Some(101));
        assert!(t.queued.is_empty() && t.waiting.is_empty());
        // Not recorded yet: still in flight, so neither a poll nor the feed sends it.
        t.polls += 1;
        assert!(!t.take(&item(1, "a"), t.polls));
        assert!(t.take_fresh(item(1, "a")).is_none());
        assert!(matches!(t.end(1), (false, None)));
        assert!(matches!(t.end(2), (false, None)));
        // Nothing waiting: a place freed at a full endpoint asks for a poll.
        let (kick, next) = t.leave_endpoint("a");
        assert!(kick && next.is_none());
        t.end(3);
        // Delivered just now: a fresh copy (a late feed message) is not sent again.
        assert!(t.take_fresh(item(1, "a")).is_none());
        assert!(t.queued.is_empty());
    }

    #[test]
    fn a_fed_copy_of_a_row_a_poll_already_read_is_left_to_the_poll() {
        let mut t = Tracker {
            polls: 5,
            ..Tracker::default()
        };
        // The poll read row 7 and delivered it; three more polls began meanwhile.
        assert!(t.take(&item(7, "a"), t.polls));
        t.max_polled = 7;
        t.leave_endpoint("a");
        t.end(7);
        t.polls += 3;
        t.finished.retain(|_, at| *at + 1 >= t.polls);
        assert!(t.take_fresh(item(7, "a")).is_none(), "not sent twice");
        assert!(t.take_fresh(item(6, "a")).is_none());
        assert!(t.take_fresh(item(8, "a")).is_some());
    }

    #[test]
    fn a_message_waiting_for_the_total_cap_starts_when_a_delivery_is_recorded() {
        let mut t = Tracker::default();
        // Every place of the total cap taken, 32 endpoints each at their own cap.
        for id in 1..=MAX_INFLIGHT as i64 {
            let target = format!("e{}", id % (MAX_INFLIGHT / PER_TARGET) as i64);
            assert!(t.take_fresh(item(id, &target)).is_some());
        }
        assert!(
            t.take_fresh(item(5_000, "fresh")).is_none(),
            "total cap full"
        );
        // Its exchange over, a delivery still counts against the total cap...
        assert!(t.leave_endpoint("e0").1.is_none());
        // ...until its outcome is recorded: then the waiting message starts.
        let (kick, next) = t.end(32);
        assert!(!kick);
        assert_eq!(next.map(|i| i.id), Some(5_000));
    }

    #[test]
    fn retry_delays_are_the_former_doubling() {
        let cfg = crate::config::CallbacksCfg::default();
        for (base, max) in [
            (cfg.retry_base_ms, cfg.retry_max_ms),
            (1, u64::MAX / 2),
            (7, 3),
        ] {
            let cfg = crate::config::CallbacksCfg {
                retry_base_ms: base,
                retry_max_ms: max,
                ..cfg.clone()
            };
            for attempts in -1..40 {
                let old = base.saturating_mul(1u64 << attempts.clamp(0, 20)).min(max) as i64;
                assert_eq!(retry_delay(&cfg, attempts), old, "{base} {max} {attempts}");
            }
        }
    }

    #[test]
    fn one_endpoint_cannot_fill_the_whole_queue() {
        let mut t = Tracker::default();
        for id in 1..=PER_TARGET as i64 {
            assert!(t.take_fresh(item(id, "slow")).is_some());
        }
        for id in 0..(MAX_QUEUED_PER_TARGET as i64 + 10) {
            assert!(t.take_fresh(item(1_000 + id, "slow")).is_none());
        }
        assert_eq!(t.queued.len(), MAX_QUEUED_PER_TARGET);
    }
}
