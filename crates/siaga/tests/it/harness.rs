//! Test harness: `TestApp::start` runs the real switch on port 0 against simulated
//! suppliers, with a reseller (created through the admin API) whose callbacks land in a
//! local receiver. Everything waits by polling with a deadline, never by sleeping blind.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::HeaderMap;
use serde_json::{json, Value};
use siaga::app::App;
use siaga::clock::{Clock, ManualClock, SystemClock};
use siaga::config::{
    CallbacksCfg, DestinationRule, HealthCfg, LimitsCfg, OrdersCfg, Product, Route, Settings,
    StatusCfg, Supplier,
};
use siaga::server;
use siaga_domain::routing::Strategy;
use siaga_domain::window::Window;
use siaga_domain::{Operator, ProductCode, Rupiah};
use siaga_suppliers::sim::{ModeRequest, Sim, SimConfig, SimMode, SimProduct};
use tokio::net::TcpListener;
use tokio::sync::watch;

pub const ADMIN: &str = "test-admin-token-of-32-characters";
/// Opens `/metrics` on the public listener.
pub const METRICS_TOKEN: &str = "test-metrics-token-of-32-characters";

#[derive(Clone, Debug)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A product for a test: code, operator, price, and its routes as (sim index, cost).
pub struct P {
    pub code: &'static str,
    pub op: Operator,
    pub price: i64,
    pub routes: Vec<(usize, i64)>,
}

pub struct Opts {
    pub sims: usize,
    pub products: Vec<P>,
    pub inquiry_min_s: u64,
    pub timeout_ms: u64,
    pub deposit: i64,
    pub manual_review_after_s: u64,
    pub strategy: Strategy,
    pub health: HealthCfg,
    pub status: StatusCfg,
    pub latency_target_ms: u64,
    pub max_concurrency: u32,
    pub low_balance_rupiah: Option<i64>,
    /// Config maintenance windows per sim index.
    pub windows: Vec<(usize, Window)>,
    /// A clock the test moves by hand (default: the system clock).
    pub clock: Option<Arc<ManualClock>>,
    /// Email, webhooks, Telegram (SPEC 9); nothing by default.
    pub notify: siaga::notify::config::NotifySettings,
    /// Every simulated supplier's contact address (outage reports).
    pub contact_email: Option<String>,
    pub report_after_s: u64,
    /// Overload limits (default: high enough that no test is limited by accident).
    pub limits: LimitsCfg,
    /// How long one callback delivery may take (default 10 s).
    pub callback_timeout_ms: u64,
    /// Scheduled backups (none by default).
    pub backup: Option<siaga::backups::BackupSettings>,
    /// Sims that speak OtomaX, configured as `dialect = "http-template"`, `preset =
    /// "otomax"` (none by default).
    pub otomax: Vec<usize>,
    /// Sims configured as `dialect = "manual"` instead (the desk, SPEC 6.1.2): their sim
    /// runs but is never called (none by default).
    pub manual: Vec<usize>,
    /// The manual suppliers' `desk_alert_after_s` (default 600).
    pub desk_alert_after_s: u64,
    /// Changes to the suppliers' settings before the switch starts (a supplier that is
    /// the test's own fake, `callback_allow_ips`...); none by default.
    pub edit_suppliers: Option<EditSuppliers>,
    /// The store (`store.url`, e.g. a `postgres://` URL); default: a new SQLite file.
    pub store_url: Option<String>,
    /// `[channels.telegram]`: the bot for text commands (SPEC 5.2); none by default.
    pub telegram_bot: Option<siaga::config::channels::TelegramBot>,
}

/// A change a test makes to the suppliers' settings (see [`Opts::edit_suppliers`]).
pub type EditSuppliers = Box<dyn Fn(&mut Vec<Supplier>) + Send + Sync>;

impl Default for Opts {
    fn default() -> Self {
        Opts {
            sims: 2,
            products: vec![
                P {
                    code: "TSEL10",
                    op: Operator::Telkomsel,
                    price: 10_500,
                    routes: vec![(0, 10_150), (1, 10_200)],
                },
                P {
                    code: "XL10",
                    op: Operator::Xl,
                    price: 10_600,
                    routes: vec![(0, 10_250)],
                },
            ],
            inquiry_min_s: 1,
            timeout_ms: 2_000,
            deposit: 100_000,
            manual_review_after_s: 3_600,
            strategy: Strategy::Priority,
            // Probes stay out of the way unless a test asks for them.
            health: HealthCfg {
                probe_interval_s: 3_600,
                ..HealthCfg::default()
            },
            latency_target_ms: 2_000,
            status: StatusCfg {
                incident_after_s: 2,
                resolve_after_s: 2,
                page_name: "Status Uji".into(),
                logo_url: None,
            },
            max_concurrency: 64,
            low_balance_rupiah: None,
            windows: Vec::new(),
            clock: None,
            notify: Default::default(),
            contact_email: None,
            report_after_s: 600,
            callback_timeout_ms: 10_000,
            backup: None,
            otomax: Vec::new(),
            manual: Vec::new(),
            desk_alert_after_s: 600,
            edit_suppliers: None,
            store_url: None,
            telegram_bot: None,
            limits: LimitsCfg {
                per_key_per_s: 100_000,
                per_key_burst: 100_000,
                per_ip_per_s: 100_000,
                per_ip_burst: 100_000,
                status_per_ip_per_s: 100_000,
                status_per_ip_burst: 100_000,
                subscribe_per_ip_per_min: 100_000,
                ..LimitsCfg::default()
            },
        }
    }
}

pub fn sku(code: &str, sim: usize) -> String {
    format!("{}-{sim}", code.to_ascii_lowercase())
}

pub struct TestApp {
    pub base: String,
    pub sims: Vec<Sim>,
    pub reseller_id: String,
    pub key: String,
    pub webhook_secret: String,
    pub received: Arc<Mutex<Vec<Received>>>,
    pub http: reqwest::Client,
    shutdown: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    pub settings: Settings,
    clock: Arc<dyn Clock>,
    pub app: Arc<App>,
    _dir: tempfile::TempDir,
}

pub async fn receiver() -> (SocketAddr, Arc<Mutex<Vec<Received>>>) {
    let got: Arc<Mutex<Vec<Received>>> = Arc::default();
    let store = got.clone();
    let app = axum::Router::new().route(
        "/cb",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let store = store.clone();
            async move {
                store.lock().unwrap().push(Received { headers, body });
                "ok"
            }
        }),
    );
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    (addr, got)
}

/// Status news (no alerts) to a chat webhook whose bodies land in the returned list.
pub async fn chat_news() -> (
    siaga::notify::config::NotifySettings,
    Arc<Mutex<Vec<Received>>>,
) {
    use siaga::notify::config::{Format, NotifySettings, Webhook};
    let (hook, got) = receiver().await;
    let notify = NotifySettings {
        webhooks: vec![Webhook {
            name: "ops".into(),
            url: format!("http://{hook}/cb"),
            secret: None,
            format: Format::Chat,
            components: Vec::new(),
            status: true,
            alerts: false,
        }],
        ..NotifySettings::default()
    };
    (notify, got)
}

/// The simulated suppliers of `o`, calling back to the switch at `base`, and their config.
/// What sim `i` sells: every route of `o` through it, at the route's cost.
fn sim_products(o: &Opts, i: usize) -> Vec<SimProduct> {
    o.products
        .iter()
        .flat_map(|p| {
            p.routes
                .iter()
                .filter(|(s, _)| *s == i)
                .map(move |(_, cost)| (p, *cost))
        })
        .map(|(p, cost)| SimProduct {
            sku: sku(p.code, i),
            name: p.code.to_owned(),
            brand: p.op.name().to_owned(),
            category: "Pulsa".into(),
            price: cost,
            buyer_product_status: true,
            seller_product_status: true,
            start_cut_off: "00:00".into(),
            end_cut_off: "00:00".into(),
            multi: true,
        })
        .collect()
}

async fn start_sims(o: &Opts, base: &str) -> (Vec<Sim>, Vec<Supplier>) {
    let mut sims = Vec::new();
    let mut suppliers = Vec::new();
    for i in 0..o.sims {
        let id = format!("sim{i}");
        let secret = format!("cb-secret-{i}");
        let products = sim_products(o, i);
        let otomax = o.otomax.contains(&i);
        let cfg = SimConfig {
            username: id.clone(),
            key: format!("{id}-key"),
            callback_url: Some(if otomax {
                format!("{base}/hooks/suppliers/{id}/{secret}")
            } else {
                format!("{base}/hooks/suppliers/{id}")
            }),
            dialect: if otomax {
                siaga_suppliers::sim::SimDialect::Otomax
            } else {
                siaga_suppliers::sim::SimDialect::Digiflazz
            },
            callback_secret: Some(secret.clone()),
            seed: 7 + i as u64,
            products,
            ..SimConfig::default()
        };
        let sim = Sim::start(
            cfg,
            "127.0.0.1:0".parse().unwrap(),
            "127.0.0.1:0".parse().unwrap(),
        )
        .await
        .unwrap();
        let base_url = if otomax {
            sim.base_url().trim_end_matches("/v1").to_owned()
        } else {
            sim.base_url()
        };
        let manual = o.manual.contains(&i);
        suppliers.push(Supplier {
            retired: false,
            id: id.clone(),
            dialect: if manual {
                siaga::config::Dialect::Manual
            } else if otomax {
                siaga::config::Dialect::HttpTemplate
            } else {
                siaga::config::Dialect::Digiflazz
            },
            desk_alert_after: Duration::from_secs(o.desk_alert_after_s),
            base_url,
            username: id.clone(),
            key: format!("{id}-key"),
            callback_secret: Some(secret),
            timeout: Duration::from_millis(o.timeout_ms),
            inquiry_min_interval: Duration::from_secs(o.inquiry_min_s),
            inquiry_max_interval: Duration::from_secs(o.inquiry_min_s * 4),
            max_concurrency: o.max_concurrency,
            latency_target_ms: o.latency_target_ms,
            testing: false,
            contact_email: o.contact_email.clone(),
            report_after: Duration::from_secs(o.report_after_s),
            low_balance_rupiah: o.low_balance_rupiah,
            windows: o
                .windows
                .iter()
                .filter(|(s, _)| *s == i)
                .map(|(_, w)| w.clone())
                .collect(),
            contract: None,
            template: (otomax && !manual).then(|| siaga::config::Templated {
                template: Arc::new(siaga_suppliers::Template::load(Some("otomax"), None).unwrap()),
                password: String::new(),
            }),
            callback_allow_ips: Vec::new(),
        });
        sims.push(sim);
    }
    (sims, suppliers)
}

/// The products of `o`, each routed in the order its routes are listed.
fn products(o: &Opts) -> Vec<Product> {
    o.products
        .iter()
        .map(|p| Product {
            code: ProductCode::parse(p.code).unwrap(),
            name: p.code.to_owned(),
            group: format!("{} Pulsa", p.op.name()),
            price: Rupiah::positive(p.price).unwrap(),
            rule: DestinationRule::Mobile(p.op),
            routes: p
                .routes
                .iter()
                .enumerate()
                .map(|(prio, (s, cost))| Route {
                    supplier: format!("sim{s}"),
                    sku: sku(p.code, *s),
                    cost: Rupiah::positive(*cost).unwrap(),
                    priority: prio as i64,
                })
                .collect(),
        })
        .collect()
}

fn settings(
    o: &Opts,
    base: &str,
    db: &std::path::Path,
    suppliers: Vec<Supplier>,
    products: Vec<Product>,
) -> Settings {
    Settings {
        file: None,
        listen: "127.0.0.1:0".into(),
        public_url: base.to_owned(),
        admin_token: Some(ADMIN.into()),
        store_path: db.to_path_buf(),
        body_limit_bytes: 64 * 1024,
        orders: OrdersCfg {
            default_max_wait_s: 0,
            manual_review_after_s: o.manual_review_after_s,
        },
        callbacks: CallbacksCfg {
            retry_base_ms: 200,
            retry_max_ms: 2_000,
            timeout_ms: o.callback_timeout_ms,
            ..CallbacksCfg::default()
        },
        suppliers,
        products,
        health: o.health.clone(),
        status: o.status.clone(),
        strategy: o.strategy,
        explore_share: 0.05,
        notify: o.notify.clone(),
        limits: o.limits.clone(),
        backup: o.backup.clone(),
        metrics: siaga::config::MetricsAccess {
            listen: None,
            token: Some(METRICS_TOKEN.into()),
        },
        reports: Default::default(),
        telegram_bot: o.telegram_bot.clone(),
        cluster: siaga::config::server::ClusterSettings::single("test"),
    }
}

impl TestApp {
    pub async fn start(o: Opts) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (sims, mut suppliers) = start_sims(&o, &base).await;
        if let Some(edit) = &o.edit_suppliers {
            edit(&mut suppliers);
        }
        let products = products(&o);
        let db = match &o.store_url {
            Some(url) => std::path::PathBuf::from(url),
            None => dir.path().join("siaga.db"),
        };
        let settings = settings(&o, &base, &db, suppliers, products);
        let store = siaga_store::open(&db).unwrap();
        let clock: Arc<dyn Clock> = match &o.clock {
            Some(c) => c.clone(),
            None => Arc::new(SystemClock),
        };
        let app = App::new(settings.clone(), store, clock.clone()).unwrap();
        let (tx, rx) = watch::channel(false);
        let task = tokio::spawn(server::run(app.clone(), listener, rx));
        let (raddr, received) = receiver().await;
        let http = reqwest::Client::new();
        let creds: Value = http
            .post(format!("{base}/admin/api/resellers"))
            .bearer_auth(ADMIN)
            .json(&json!({"name": "Konter Uji", "callback_url": format!("http://{raddr}/cb")}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let reseller_id = creds["id"].as_str().unwrap().to_owned();
        let t = TestApp {
            base,
            sims,
            reseller_id,
            key: creds["api_key"].as_str().unwrap().to_owned(),
            webhook_secret: creds["webhook_secret"].as_str().unwrap().to_owned(),
            received,
            http,
            shutdown: tx,
            task: Some(task),
            settings,
            clock,
            app,
            _dir: dir,
        };
        if o.deposit > 0 {
            let r = t
                .http
                .post(format!(
                    "{}/admin/api/resellers/{}/deposits",
                    t.base, t.reseller_id
                ))
                .bearer_auth(ADMIN)
                .json(&json!({"amount": o.deposit, "note": "test"}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
        }
        t
    }

    pub async fn set_mode(&self, sim: usize, mode: SimMode) {
        self.sims[sim]
            .set_mode(ModeRequest {
                mode,
                latency_ms: None,
                fail_rate: None,
                callback_delay_ms: None,
            })
            .await
            .unwrap();
    }

    /// POST /v1/orders with the reseller's key; returns (status, body).
    pub async fn order(&self, ref_id: &str, product: &str, destination: &str) -> (u16, Value) {
        self.post_json(
            "/v1/orders",
            &json!({"ref_id": ref_id, "product": product, "destination": destination}),
        )
        .await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .json(body)
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn balance(&self) -> (i64, i64) {
        let (_, b) = self.get("/v1/balance").await;
        (
            b["available"].as_i64().unwrap(),
            b["held"].as_i64().unwrap(),
        )
    }

    /// The balance from the store, past the API's access rules.
    pub async fn balance_unchecked(&self) -> (i64, i64) {
        let b = self.app.store.balance(&self.reseller_id).await.unwrap();
        (b.available, b.held)
    }

    /// Polls the order until it is final (or the deadline passes, which fails the test).
    pub async fn wait_final(&self, ref_id: &str, within: Duration) -> Value {
        let end = Instant::now() + within;
        loop {
            let (s, o) = self.get(&format!("/v1/orders/{ref_id}")).await;
            assert_eq!(s, 200, "order {ref_id}: {o}");
            if o["status"] != "pending" {
                return o;
            }
            assert!(Instant::now() < end, "order {ref_id} still pending: {o}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits for the callback about `order_id` and returns it.
    pub async fn wait_callback(&self, order_id: &str, within: Duration) -> Received {
        let end = Instant::now() + within;
        loop {
            let found = self
                .received
                .lock()
                .unwrap()
                .iter()
                .find(|r| {
                    serde_json::from_slice::<Value>(&r.body)
                        .map(|v| v["data"]["order_id"] == order_id)
                        .unwrap_or(false)
                })
                .cloned();
            if let Some(r) = found {
                return r;
            }
            assert!(Instant::now() < end, "no callback for {order_id}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub async fn admin_order(&self, order_id: &str) -> Value {
        self.http
            .get(format!("{}/admin/api/orders/{order_id}", self.base))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// `POST` JSON to an admin API path with the admin token; the status and JSON body.
    pub async fn admin_post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(ADMIN)
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    /// `GET` an admin API path with the admin token; the JSON body.
    pub async fn admin_get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn verify_clean(&self) {
        let v: Value = self.admin_get("/admin/api/verify").await;
        assert_eq!(v["ok"], true, "verify: {v}");
    }

    pub fn stop(&self) {
        let _ = self.shutdown.send(true);
    }

    /// Stops the switch and waits (up to 10 s) until its server and workers have ended.
    pub async fn stop_and_wait(&mut self) {
        self.stop();
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }

    /// Stops the switch and starts a new one on the same database (a restart). The new
    /// one listens on a new port; `base` follows it.
    pub async fn restart(&mut self) {
        self.stop();
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        self.base = format!("http://{}", listener.local_addr().unwrap());
        let store = siaga_store::open(&self.settings.store_path).unwrap();
        let app = App::new(self.settings.clone(), store, self.clock.clone()).unwrap();
        let (tx, rx) = watch::channel(false);
        self.task = Some(tokio::spawn(server::run(app.clone(), listener, rx)));
        self.shutdown = tx;
        self.app = app;
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop();
    }
}
