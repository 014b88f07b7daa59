//! The running switch: shared state ([`App`]) and [`run`], which serves HTTP on a listener
//! and runs the background workers until shutdown.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use siaga_store::Store;
use siaga_suppliers::{Adapter, Digiflazz, DigiflazzConfig};
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};

use crate::clock::Clock;
use crate::config::Settings;
use crate::engine::{Engine, EngineDeps, Inbox, Started};
use crate::health::Health;
use crate::metrics::Metrics;

pub struct App {
    pub settings: Arc<Settings>,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub adapters: HashMap<String, Arc<dyn Adapter>>,
    /// The one outbound HTTP client (suppliers and callbacks); timeouts are per request.
    pub client: reqwest::Client,
    /// The order engine (dispatcher, callback deliverer, upkeep) and its own context.
    pub engine: Arc<Engine>,
    inbox: Mutex<Option<Inbox>>,
    /// Wakes the notice deliverer (SPEC 9).
    pub notify_kick: Notify,
    pub health: Arc<Health>,
    pub metrics: Arc<Metrics>,
    /// The status page's current snapshot.
    pub status: crate::status::worker::StatusBoard,
    /// Overload protection: rate limiters and the bound on orders taken at once.
    pub limits: crate::http::limit::Limits,
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
        let mut adapters: HashMap<String, Arc<dyn Adapter>> = HashMap::new();
        for s in &settings.suppliers {
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
        let metrics = Arc::new(Metrics::new());
        let health = Health::new(&settings, store.clone(), clock.clone(), metrics.clone());
        let settings = Arc::new(settings);
        let (engine, inbox) = Engine::new(EngineDeps {
            settings: settings.clone(),
            store: store.clone(),
            clock: clock.clone(),
            adapters: adapters.clone(),
            client: client.clone(),
            health: health.clone(),
            metrics: metrics.clone(),
        });
        Ok(Arc::new(App {
            limits: crate::http::limit::Limits::new(&settings.limits),
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
            notify_kick: Notify::new(),
        }))
    }

    pub fn now(&self) -> i64 {
        self.clock.now_ms()
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
}

/// Serves the HTTP API on `listener` and runs the workers until `shutdown` turns true.
pub async fn run(
    app: Arc<App>,
    listener: TcpListener,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let inbox = app
        .inbox
        .lock()
        .map_err(|_| anyhow::anyhow!("app state poisoned"))?
        .take()
        .ok_or_else(|| anyhow::anyhow!("this App is already running"))?;
    // Before anything can make news (requests, probes): the notifier's starting point.
    if let Err(e) = crate::notify::watch::init(&app).await {
        tracing::error!(error = %e, "notifier cannot set its starting point");
    }
    let dispatcher = tokio::spawn(crate::engine::dispatcher(
        app.engine.clone(),
        inbox,
        shutdown.clone(),
    ));
    let deliverer = tokio::spawn(crate::engine::callbacks::deliverer(
        app.engine.clone(),
        shutdown.clone(),
    ));
    let upkeep = tokio::spawn(crate::engine::upkeep::run(
        app.engine.clone(),
        shutdown.clone(),
    ));
    let primed = crate::status::worker::prime(&app).await;
    let status = tokio::spawn(crate::status::worker::run(
        app.clone(),
        primed,
        shutdown.clone(),
    ));
    let notices = tokio::spawn(crate::notify::deliver::deliverer(
        app.clone(),
        shutdown.clone(),
    ));
    let notifier = tokio::spawn(crate::notify::watch::run(app.clone(), shutdown.clone()));
    let backups = app
        .settings
        .backup
        .clone()
        .map(|b| tokio::spawn(crate::backups::run(app.clone(), b, shutdown.clone())));
    crate::http::serve::serve(app.clone(), listener, shutdown).await?;
    dispatcher.abort();
    deliverer.abort();
    upkeep.abort();
    status.abort();
    notifier.abort();
    if let Some(b) = backups {
        b.abort();
    }
    // The deliverer lets its sends in flight finish (bounded) before it returns.
    let _ = tokio::time::timeout(Duration::from_secs(12), notices).await;
    Ok(())
}
