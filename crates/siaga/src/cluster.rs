//! Several `siaga serve` nodes on one PostgreSQL database (SPEC 12): each node beats its
//! heartbeat into the store (the lease of every order it owns), one node at a time leads
//! (a lease row it renews) and runs the background duties, the leader takes over the
//! orders of a node silent for `server.takeover_after_s`, and every node takes the
//! breaker states the others recorded. On SQLite there is one node, always the leader.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use siaga_store::{NewAudit, NodeBeat, Store};
use tokio::sync::watch;

use crate::clock::Clock;
use crate::config::server::ClusterSettings;
use crate::health::Health;

/// This node among the others, and whether it leads now.
pub struct Cluster {
    pub node_id: String,
    /// Where this node answers (`server.listen`).
    pub address: String,
    pub started_at: i64,
    pub takeover_after_ms: i64,
    /// The store is shared (PostgreSQL): leadership is taken in the store.
    pub shared_store: bool,
    leading: watch::Sender<bool>,
    /// Until when this node's leader lease runs (0: not leading).
    lease_until: AtomicI64,
    /// The leader as this node last saw it.
    leader: std::sync::Mutex<Option<String>>,
}

impl Cluster {
    pub fn new(cfg: &ClusterSettings, address: &str, now: i64) -> Cluster {
        Cluster {
            node_id: cfg.node_id.clone(),
            address: address.to_owned(),
            started_at: now,
            takeover_after_ms: cfg.takeover_after_ms,
            shared_store: cfg.shared_store,
            // Alone on its store, a node leads from the start.
            leading: watch::channel(!cfg.shared_store).0,
            lease_until: AtomicI64::new(if cfg.shared_store { 0 } else { i64::MAX }),
            leader: std::sync::Mutex::new((!cfg.shared_store).then(|| cfg.node_id.clone())),
        }
    }

    pub fn is_leader(&self) -> bool {
        *self.leading.borrow()
    }

    /// The leader's node id as this node last saw it (none before the first answer).
    pub fn leader(&self) -> Option<String> {
        self.leader.lock().ok().and_then(|l| l.clone())
    }

    /// Follows leadership: true while this node leads.
    pub fn leading(&self) -> watch::Receiver<bool> {
        self.leading.subscribe()
    }

    /// How often the heartbeat, the lease and the shared breakers are refreshed: five
    /// times within `takeover_after_s`.
    pub fn beat_every(&self) -> Duration {
        Duration::from_millis((self.takeover_after_ms / 5).clamp(200, 5_000) as u64)
    }

    fn set_leading(&self, on: bool) {
        self.leading.send_if_modified(|l| {
            let changed = *l != on;
            *l = on;
            changed
        });
    }
}

/// What the heartbeat works with.
pub struct Beats {
    pub cluster: Arc<Cluster>,
    pub store: Arc<dyn Store>,
    pub health: Arc<Health>,
    pub clock: Arc<dyn Clock>,
}

impl Beats {
    fn now(&self) -> i64 {
        self.clock.now_ms()
    }
}

/// Beats, leads, takes over and shares breakers until shutdown (call [`step`] once
/// first, so that leadership is known before the duties start).
pub async fn run(engine: Arc<Beats>, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(engine.cluster.beat_every());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        step(&engine).await;
    }
}

/// One round: heartbeat, leader lease, takeover (leader), shared breakers.
pub async fn step(engine: &Beats) {
    let c = &engine.cluster;
    let store = &engine.store;
    let now = engine.now();
    let beat = NodeBeat {
        id: c.node_id.clone(),
        address: c.address.clone(),
        version: env!("CARGO_PKG_VERSION").into(),
        started_at: c.started_at,
        now,
    };
    if let Err(e) = store.node_beat(beat).await {
        tracing::warn!(error = %e, "cluster: heartbeat not recorded");
    }
    lead(engine, now).await;
    if c.is_leader() {
        take_over(engine, now).await;
    }
    match store.shared_breakers().await {
        Ok(rows) => {
            engine.health.adopt_shared(&rows);
        }
        Err(e) => tracing::warn!(error = %e, "cluster: shared breakers not read"),
    }
}

/// Takes or renews the leader lease; without an answer from the store, a leader stops
/// leading a heartbeat before its lease could have run out (another may take it then).
async fn lead(engine: &Beats, now: i64) {
    let c = &engine.cluster;
    if !c.shared_store {
        return;
    }
    let until = now + c.takeover_after_ms;
    match engine.store.lead(&c.node_id, now, until).await {
        Ok(l) => {
            let mine = l.node == c.node_id;
            if let Ok(mut seen) = c.leader.lock() {
                *seen = Some(l.node.clone());
            }
            c.lease_until
                .store(if mine { l.until } else { 0 }, Ordering::Relaxed);
            if mine != c.is_leader() {
                tracing::warn!(node = %c.node_id, leader = %l.node, "cluster: leadership changed");
            }
            c.set_leading(mine);
        }
        Err(e) => {
            tracing::warn!(error = %e, "cluster: leader lease not renewed");
            let margin = c.beat_every().as_millis() as i64;
            if now + margin >= c.lease_until.load(Ordering::Relaxed) {
                c.set_leading(false);
            }
        }
    }
}

/// The leader moves the orders of every node silent for `takeover_after_s` to itself;
/// the dispatcher's next poll finds them due. Each takeover is an audit line.
async fn take_over(engine: &Beats, now: i64) {
    let c = &engine.cluster;
    let moved = match engine
        .store
        .take_over(&c.node_id, now - c.takeover_after_ms, now)
        .await
    {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "cluster: takeover failed; next heartbeat tries again");
            return;
        }
    };
    for m in moved {
        tracing::warn!(from = %m.from, to = %c.node_id, orders = m.orders,
            "cluster: a silent node's orders taken over");
        let line = NewAudit {
            actor: format!("node:{}", c.node_id),
            action: "cluster.takeover".into(),
            target: m.from.clone(),
            detail: serde_json::json!({"orders": m.orders}).to_string(),
            at: now,
        };
        if let Err(e) = engine.store.add_audit(line).await {
            tracing::warn!(error = %e, "cluster: takeover audit line not written");
        }
    }
}

/// How a duty's turn ended.
enum Ended {
    Follower,
    Shutdown,
    ByItself,
}

/// Runs `duty` while this node leads: started when it becomes leader, told to stop
/// (its own shutdown signal) when it stops leading or the server stops. `duty` is given
/// that signal each time it starts.
pub async fn while_leading<F, Fut>(
    cluster: Arc<Cluster>,
    mut shutdown: watch::Receiver<bool>,
    duty: F,
) where
    F: Fn(watch::Receiver<bool>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let mut leading = cluster.leading();
    loop {
        tokio::select! {
            r = leading.wait_for(|l| *l) => if r.is_err() { return },
            _ = shutdown.wait_for(|s| *s) => return,
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut task = tokio::spawn(duty(stop_rx));
        let ended = tokio::select! {
            _ = leading.wait_for(|l| !*l) => Ended::Follower,
            _ = shutdown.wait_for(|s| *s) => Ended::Shutdown,
            _ = &mut task => Ended::ByItself,
        };
        match ended {
            Ended::ByItself => {
                // The duty ended by itself: wait for the next turn as leader.
                tokio::select! {
                    _ = leading.wait_for(|l| !*l) => continue,
                    _ = shutdown.wait_for(|s| *s) => return,
                }
            }
            Ended::Follower | Ended::Shutdown => {}
        }
        let stopping = matches!(ended, Ended::Shutdown);
        let _ = stop_tx.send(true);
        // A duty finishes what it has in hand (bounded) before it returns.
        if tokio::time::timeout(Duration::from_secs(12), &mut task)
            .await
            .is_err()
        {
            task.abort();
        }
        if stopping {
            return;
        }
    }
}
