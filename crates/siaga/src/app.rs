//! The HTTP edge's shared state ([`App`]): what the request handlers reach (settings, store,
//! clock, the engine's entry points, route health, metrics, the status board, the limits,
//! the notifier's wake handle). It sits above the workers and below the edge; it never
//! runs them: `server` does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use siaga_store::Store;
use siaga_suppliers::{Digiflazz, DigiflazzConfig, HttpTemplate, Manual};
use tokio::sync::Notify;

use crate::clock::Clock;
use crate::cluster::Cluster;
use crate::config::reload::Changes;
use crate::config::{Live, Settings};
pub use crate::engine::Adapters;
use crate::engine::{Engine, EngineDeps, Inbox, Started};
use crate::health::Health;
use crate::limits::Limits;
use crate::metrics::Metrics;
use crate::notify::Notifier;
use crate::status::worker::{StatusBoard, StatusWorker};

pub struct App {
    /// The config in force; a reload replaces it ([`App::reload`]).
    pub settings: Live<Settings>,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    /// The supplier adapters in force, by supplier id (retired ones included).
    pub adapters: Live<Adapters>,
    /// The one outbound HTTP client (suppliers and callbacks); timeouts are per request.
    pub client: reqwest::Client,
    /// The order engine (dispatcher, callback deliverer, upkeep) and its own context.
    pub engine: Arc<Engine>,
    inbox: Mutex<Option<Inbox>>,
    /// Wakes the notice deliverer (SPEC 9); the notifier holds the same handle.
    pub notify_kick: Arc<Notify>,
    pub health: Arc<Health>,
    pub metrics: Arc<Metrics>,
    /// The status page's current snapshot (the status worker fills it).
    pub status: Arc<StatusBoard>,
    /// Overload protection: rate limiters and the bound on orders taken at once.
    pub limits: Limits,
    /// One reload at a time.
    reloading: tokio::sync::Mutex<()>,
    /// API keys authenticated a moment ago; cleared by [`App::keys_changed`].
    pub keys: crate::keycache::KeyCache,
}

/// Why a reload was refused; the running config stays.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("this server was not started from a config file; there is nothing to re-read")]
    NoFile,
    #[error("{0}")]
    Invalid(String),
}

/// An adapter for every supplier of `settings`, speaking its dialect through `client`.
pub fn adapters_for(settings: &Settings, client: &reqwest::Client) -> Adapters {
    let mut adapters: Adapters = HashMap::new();
    for s in &settings.suppliers {
        if s.is_manual() {
            // The desk (SPEC 6.1.2): nothing is sent; an operator resolves the order.
            adapters.insert(s.id.clone(), Arc::new(Manual::new(s.id.clone())));
            continue;
        }
        if let (Some(t), Some(cfg)) = (
            &s.template,
            crate::config::adapter::template_config(s, &settings.public_url),
        ) {
            let a = HttpTemplate::new(cfg, t.template.clone(), client.clone());
            adapters.insert(s.id.clone(), Arc::new(a));
            continue;
        }
        let cfg = DigiflazzConfig {
            id: s.id.clone(),
            base_url: s.base_url.clone(),
            username: s.username.clone(),
            key: s.key.clone(),
            callback_secret: s.callback_secret.clone(),
            timeout: s.timeout,
            testing: s.testing,
        };
        adapters.insert(s.id.clone(), Arc::new(Digiflazz::new(cfg, client.clone())));
    }
    adapters
}

impl App {
    pub fn new(
        settings: Settings,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Arc<App>> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(256)
            // A supplier or a reseller's callback URL that redirects is answered as it is,
            // never followed: no request goes where the owner did not configure it.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("siaga/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let adapters = Live::new(adapters_for(&settings, &client));
        let metrics = Arc::new(Metrics::new());
        let health = Health::new(&settings, store.clone(), clock.clone(), metrics.clone());
        store.set_node(&settings.cluster.node_id);
        let cluster = Arc::new(Cluster::new(
            &settings.cluster,
            &settings.listen,
            clock.now_ms(),
        ));
        let settings = Live::new(settings);
        let (engine, inbox) = Engine::new(EngineDeps {
            settings: settings.clone(),
            store: store.clone(),
            clock: clock.clone(),
            adapters: adapters.clone(),
            client: client.clone(),
            health: health.clone(),
            metrics: metrics.clone(),
            cluster,
        });
        Ok(Arc::new(App {
            limits: Limits::new(&settings.get().limits),
            health,
            metrics,
            status: Default::default(),
            settings,
            store,
            clock,
            adapters,
            client,
            engine,
            inbox: Mutex::new(Some(inbox)),
            notify_kick: Arc::new(Notify::new()),
            reloading: tokio::sync::Mutex::new(()),
            keys: Default::default(),
        }))
    }

    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// A reseller's keys or access rules changed: no key is trusted from memory any more.
    pub fn keys_changed(&self) {
        self.keys.clear();
    }

    /// Re-reads the config file this server started from and puts its suppliers,
    /// products, routes and routing in force (SPEC 6.1.3). The whole file is validated
    /// first; an invalid one is refused with its file:line error and nothing changes.
    pub async fn reload(&self) -> Result<Changes, ReloadError> {
        let _one = self.reloading.lock().await;
        let old = self.settings.get();
        let file = old.file.clone().ok_or(ReloadError::NoFile)?;
        let new = crate::config::load(&file).map_err(|e| ReloadError::Invalid(e.to_string()))?;
        self.apply(new).map_err(ReloadError::Invalid)
    }

    /// Puts the reloadable parts of `new` in force (see [`crate::config::reload`]): health
    /// learns new suppliers first, then their adapters, then the settings that route to
    /// them, so an order that sees a new route always finds its adapter and breaker.
    pub fn apply(&self, new: Settings) -> Result<Changes, String> {
        let old = self.settings.get();
        let (merged, changes) = crate::config::reload::merge(&old, new)?;
        self.health.reload(&merged);
        let mut adapters = adapters_for(&merged, &self.client);
        // A retired supplier keeps the adapter it had (same secrets and address).
        for s in merged.suppliers.iter().filter(|s| s.retired) {
            if let Some(a) = self.adapters.get().get(&s.id) {
                adapters.insert(s.id.clone(), a.clone());
            }
        }
        self.adapters.set(Arc::new(adapters));
        self.settings.set(Arc::new(merged));
        tracing::info!(?changes, "config reloaded");
        Ok(changes)
    }

    /// An order just became final: count it and, unless its callback reaches the
    /// deliverer through the store's feed, wake the deliverer's poll.
    pub fn order_final(&self, o: &siaga_store::Order) {
        self.engine.order_final(o);
    }

    /// Asks the dispatcher to look at an order now (it also polls the store).
    pub fn kick(&self, order_id: &str) {
        self.engine.kick(order_id);
    }

    /// Hands the dispatcher a new order whose first attempt is durable, to send now.
    pub fn dispatch_started(&self, started: Started) {
        self.engine.dispatch_started(started);
    }

    /// The dispatcher's inbox, taken once by the server that runs this switch.
    pub(crate) fn take_inbox(&self) -> anyhow::Result<Inbox> {
        self.inbox
            .lock()
            .map_err(|_| anyhow::anyhow!("app state poisoned"))?
            .take()
            .ok_or_else(|| anyhow::anyhow!("this App is already running"))
    }

    /// The notifier's context: the switch's store, clock, health and wake handle.
    pub fn notifier(&self) -> Notifier {
        Notifier {
            settings: self.settings.clone(),
            store: self.store.clone(),
            clock: self.clock.clone(),
            health: self.health.clone(),
            metrics: self.metrics.clone(),
            client: self.client.clone(),
            kick: self.notify_kick.clone(),
        }
    }

    /// The status worker's context: it fills this switch's status board.
    pub fn status_worker(&self) -> StatusWorker {
        StatusWorker {
            settings: self.settings.clone(),
            store: self.store.clone(),
            clock: self.clock.clone(),
            health: self.health.clone(),
            metrics: self.metrics.clone(),
            board: self.status.clone(),
            cluster: self.engine.cluster.clone(),
        }
    }
}
