//! `siaga bench` (SPEC 16): a plain-HTTP baseline, then orders end to end on a fresh
//! durable SQLite database (or, with `--store postgres://...`, a fresh PostgreSQL schema
//! dropped at the end) with three simulated suppliers and a local callback receiver:
//! the closed-loop maximum rate, latency at half that rate (open loop: a fixed arrival
//! schedule), failover when a supplier is killed mid-run, double fulfilments and RSS.
//! The switch, the load generator and the callback receiver share this process, so the
//! figures include the load generator's cost; the simulators are `siaga sim` child
//! processes (see [`sims`]). RSS is sampled every second through the order phases.

mod backlog;
mod sims;
mod stages;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use serde_json::{json, Value};
use siaga_domain::routing::Strategy;
use siaga_domain::{Operator, ProductCode, Rupiah};
use siaga_store::Store;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};

use crate::app::App;
use crate::clock::SystemClock;
use crate::config::{
    CallbacksCfg, DestinationRule, HealthCfg, LimitsCfg, OrdersCfg, Product, Route, Settings,
    StatusCfg, Supplier,
};
use crate::ops;
use sims::{SimProc, SimSpec};

const CONCURRENCY: usize = 64;
/// Resellers placing orders at once in the backlog phase's burst, none waiting for a
/// callback: with 64 the switch kept up on this machine (each waits for its order's durable
/// intake), so no queue formed to drain.
const BURST_CLIENTS: usize = 256;
const PRICE: i64 = 10_500;

/// An order's first callback, or the worker waiting for it.
enum Slot {
    Arrived(Instant, String),
    Waiting(oneshot::Sender<(Instant, String)>),
}

/// Callback arrivals by order id. Each waiting worker is woken by its own order's callback
/// only (waking every worker on every callback cost the load generator more than the
/// switch's own work on some phases).
#[derive(Default)]
struct Arrivals {
    at: Mutex<HashMap<String, Slot>>,
}

impl Arrivals {
    fn arrived(&self, id: &str, status: &str) {
        let now = Instant::now();
        let Ok(mut m) = self.at.lock() else { return };
        match m.remove(id) {
            Some(Slot::Waiting(tx)) => {
                let _ = tx.send((now, status.to_owned()));
            }
            // The first callback counts; a later one (a retry) changes nothing.
            Some(first @ Slot::Arrived(..)) => {
                m.insert(id.to_owned(), first);
            }
            None => {
                m.insert(id.to_owned(), Slot::Arrived(now, status.to_owned()));
            }
        }
    }
}

async fn receiver(arr: Arc<Arrivals>) -> anyhow::Result<SocketAddr> {
    let app = axum::Router::new().route(
        "/cb",
        axum::routing::post(move |body: Bytes| {
            let arr = arr.clone();
            async move {
                #[derive(serde::Deserialize)]
                struct Data {
                    order_id: String,
                    status: String,
                }
                #[derive(serde::Deserialize)]
                struct Callback {
                    data: Data,
                }
                if let Ok(cb) = serde_json::from_slice::<Callback>(&body) {
                    arr.arrived(&cb.data.order_id, &cb.data.status);
                }
                "ok"
            }
        }),
    );
    let l = TcpListener::bind("127.0.0.1:0").await?;
    let addr = l.local_addr()?;
    tokio::spawn(async move { axum::serve(l, app).await });
    Ok(addr)
}

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// CPU time (user + system) a process has used so far, in milliseconds, from
/// `/proc/PID/stat` (0 where it cannot be read).
fn cpu_ms(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = stat.rsplit_once(')').map_or("", |x| x.1);
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after ')'.
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|i| f.get(*i)?.parse::<f64>().ok())
        .sum();
    // The kernel counts in USER_HZ, 100 per second on Linux.
    ticks * 1000.0 / 100.0
}

/// CPU milliseconds of every `postgres` process on this machine (the server the bench
/// runs against, with its background workers): what the store costs outside siaga.
fn postgres_cpu_ms() -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|pid| pid.bytes().all(|b| b.is_ascii_digit()))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim_end() == "postgres")
        })
        .map(|pid| cpu_ms(&pid))
        .sum()
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
    v[i]
}

struct Rig {
    orders_url: reqwest::Url,
    /// `Bearer <key>`.
    auth: String,
    sims: Vec<SimProc>,
    arrivals: Arc<Arrivals>,
    store: Arc<dyn Store>,
    /// The switch's engine: its order-path stamps for the open loop's breakdown.
    engine: Arc<crate::engine::Engine>,
    http: reqwest::Client,
    counter: AtomicU64,
    /// Holds the SQLite database (removed with the rig).
    dir: tempfile::TempDir,
    /// The PostgreSQL schema the run uses, dropped with the rig.
    _schema: Option<siaga_store::ScratchSchema>,
    stop: watch::Sender<bool>,
    /// The switch's task: awaited before a PostgreSQL schema is dropped under it.
    server: Mutex<Option<tokio::task::JoinHandle<anyhow::Result<()>>>>,
}

impl Rig {
    /// Places one order; returns its id.
    async fn place(&self) -> Option<String> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        // Written out, not built as a JSON value: the load generator's own cost is in the
        // figures (it shares the machine), so it is kept small.
        let body = format!(
            r#"{{"ref_id":"B-{n}","product":"TSEL10","destination":"0812{:08}"}}"#,
            n % 100_000_000
        );
        let r = self
            .http
            .post(self.orders_url.clone())
            .header("authorization", &self.auth)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .ok()?;
        #[derive(serde::Deserialize)]
        struct Accepted {
            order_id: String,
        }
        let bytes = r.bytes().await.ok()?;
        serde_json::from_slice::<Accepted>(&bytes)
            .ok()
            .map(|a| a.order_id)
    }

    /// Waits for an order's final callback; returns when it arrived and its status.
    async fn final_of(&self, id: &str, deadline: Instant) -> Option<(Instant, String)> {
        let rx = {
            let mut m = self.arrivals.at.lock().ok()?;
            // Taken out, not copied: the map holds only callbacks nobody has waited for
            // yet and the workers waiting, so a long run does not grow it.
            match m.remove(id) {
                Some(Slot::Arrived(at, st)) => return Some((at, st)),
                Some(Slot::Waiting(_)) | None => {
                    let (tx, rx) = oneshot::channel();
                    m.insert(id.to_owned(), Slot::Waiting(tx));
                    rx
                }
            }
        };
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx).await {
            Ok(Ok(x)) => Some(x),
            _ => {
                if let Ok(mut m) = self.arrivals.at.lock() {
                    m.remove(id);
                }
                None
            }
        }
    }
}

/// Three simulated suppliers in their own processes, calling back to the switch at `base`.
async fn start_sims(base: &str) -> anyhow::Result<(Vec<SimProc>, Vec<Supplier>)> {
    let mut sims = Vec::new();
    let mut suppliers = Vec::new();
    let control = reqwest::Client::new();
    for i in 0..3 {
        let id = format!("s{i}");
        let sim = SimProc::start(
            SimSpec {
                id: &id,
                key: &format!("{id}-key"),
                callback_url: &format!("{base}/hooks/suppliers/{id}"),
                callback_secret: &format!("cb{i}"),
                sku: &format!("t10-{i}"),
                price: 10_150 + 10 * i as i64,
            },
            control.clone(),
        )
        .await?;
        suppliers.push(Supplier {
            retired: false,
            id: id.clone(),
            base_url: sim.base_url(),
            username: id.clone(),
            key: format!("{id}-key"),
            callback_secret: Some(format!("cb{i}")),
            timeout: Duration::from_secs(5),
            inquiry_min_interval: Duration::from_secs(2),
            inquiry_max_interval: Duration::from_secs(10),
            max_concurrency: 256,
            latency_target_ms: 1_000,
            testing: false,
            contact_email: None,
            report_after: std::time::Duration::from_secs(600),
            low_balance_rupiah: None,
            windows: Vec::new(),
            contract: None,
            template: None,
            dialect: crate::config::Dialect::Digiflazz,
            desk_alert_after: Duration::from_secs(600),
            callback_allow_ips: Vec::new(),
        });
        sims.push(sim);
    }
    Ok((sims, suppliers))
}

/// One product routed through the three suppliers by priority; the database in `dir`.
fn settings(
    base: &str,
    dir: &std::path::Path,
    suppliers: Vec<Supplier>,
) -> anyhow::Result<Settings> {
    let routes = (0..3)
        .map(|i| {
            Ok(Route {
                supplier: format!("s{i}"),
                sku: format!("t10-{i}"),
                cost: Rupiah::positive(10_150 + 10 * i)?,
                priority: i,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Settings {
        file: None,
        listen: "127.0.0.1:0".into(),
        public_url: base.to_owned(),
        admin_token: None,
        store_path: dir.join("bench.db"),
        body_limit_bytes: 64 * 1024,
        orders: OrdersCfg {
            default_max_wait_s: 30,
            manual_review_after_s: 3_600,
        },
        callbacks: CallbacksCfg {
            retry_base_ms: 200,
            retry_max_ms: 2_000,
            ..CallbacksCfg::default()
        },
        suppliers,
        products: vec![Product {
            code: ProductCode::parse("TSEL10")?,
            name: "Telkomsel 10.000".into(),
            group: "Telkomsel Pulsa".into(),
            price: Rupiah::positive(PRICE)?,
            rule: DestinationRule::Mobile(Operator::Telkomsel),
            routes,
        }],
        health: HealthCfg {
            probe_interval_s: 3_600,
            breaker_open_base_ms: BREAKER_OPEN_MS as u64,
            ..HealthCfg::default()
        },
        status: StatusCfg::default(),
        strategy: Strategy::Priority,
        explore_share: 0.0,
        notify: Default::default(),
        limits: bench_limits(),
        backup: None,
        metrics: Default::default(),
        reports: Default::default(),
        telegram_bot: None,
        cluster: crate::config::server::ClusterSettings::single("bench"),
    })
}

async fn rig(pg: Option<&str>) -> anyhow::Result<Rig> {
    let dir = tempfile::tempdir()?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (sims, suppliers) = start_sims(&base).await?;
    let mut settings = settings(&base, dir.path(), suppliers)?;
    let schema = match pg {
        Some(url) => {
            let url = url.to_owned();
            let s = tokio::task::spawn_blocking(move || {
                siaga_store::ScratchSchema::create(&url, "siaga_bench")
            })
            .await??;
            settings.store_path = std::path::PathBuf::from(&s.url);
            Some(s)
        }
        None => None,
    };
    let store: Arc<dyn Store> = siaga_store::open(&settings.store_path)?;
    let arrivals = Arc::new(Arrivals::default());
    let raddr = receiver(arrivals.clone()).await?;
    let creds = ops::add_reseller(
        store.as_ref(),
        "Bench",
        None,
        Some(&format!("http://{raddr}/cb")),
        siaga_store::CallbackFormat::Standard,
        0,
    )
    .await?;
    ops::deposit(store.as_ref(), &creds.id, 900_000_000_000, "bench", 0).await?;
    let app = App::new(settings, store.clone(), Arc::new(SystemClock))?;
    let engine = app.engine.clone();
    let (tx, rx) = watch::channel(false);
    let server = tokio::spawn(crate::server::run(app, listener, rx));
    Ok(Rig {
        orders_url: reqwest::Url::parse(&format!("{base}/v1/orders"))?,
        auth: format!("Bearer {}", creds.api_key),
        sims,
        arrivals,
        store,
        engine,
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(BURST_CLIENTS)
            .redirect(reqwest::redirect::Policy::none())
            .build()?,
        counter: AtomicU64::new(0),
        dir,
        _schema: schema,
        stop: tx,
        server: Mutex::new(Some(server)),
    })
}

/// How long the killed supplier's circuit stays open before its first half-open trial.
const BREAKER_OPEN_MS: i64 = 60_000;

/// The limits stay on (their cost is measured) but high enough that one key and one
/// address never hit them.
fn bench_limits() -> LimitsCfg {
    LimitsCfg {
        per_key_per_s: 10_000_000,
        per_key_burst: 10_000_000,
        per_ip_per_s: 10_000_000,
        per_ip_burst: 10_000_000,
        max_inflight_orders: 4_096,
        // The load generator, the simulators' callbacks and the receiver all come from
        // 127.0.0.1: the backlog's burst alone holds 256 connections.
        max_connections_per_ip: 4_096,
        ..LimitsCfg::default()
    }
}

/// Requests per second of the same HTTP stack answering a fixed body.
async fn baseline(duration: Duration) -> anyhow::Result<f64> {
    let app = axum::Router::new().route(
        "/v1/orders",
        axum::routing::post(|_b: Bytes| async { "{\"ok\":true}" }),
    );
    let l = TcpListener::bind("127.0.0.1:0").await?;
    let url = reqwest::Url::parse(&format!("http://{}/v1/orders", l.local_addr()?))?;
    let server = tokio::spawn(async move {
        crate::http::serve::serve_router(app, l, &bench_limits(), std::future::pending()).await
    });
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY * 2)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let done = Arc::new(AtomicU64::new(0));
    let end = Instant::now() + duration;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let (http, url, done) = (http.clone(), url.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let body = r#"{"ref_id":"x","product":"TSEL10","destination":"081200000000"}"#;
            while Instant::now() < end {
                let sent = http
                    .post(url.clone())
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await;
                // The body is read, as the order phases read theirs.
                if let Ok(r) = sent {
                    if r.bytes().await.is_ok() {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    server.abort();
    Ok(done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64())
}

/// What a closed-loop phase came to.
struct Phase {
    succeeded: u64,
    failed: u64,
    /// Still pending at the end: unknown at a killed supplier, settled only there (at most once).
    in_doubt: u64,
    secs: f64,
    killed: Option<Instant>,
}

/// Closed loop: each worker places an order and waits for its final callback.
/// `kill_at`: take supplier s0 down after this long.
async fn closed_loop(rig: &Arc<Rig>, duration: Duration, kill_at: Option<Duration>) -> Phase {
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let in_doubt = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let end = start + duration;
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let (rig, done, failed, in_doubt) =
            (rig.clone(), done.clone(), failed.clone(), in_doubt.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < end {
                let Some(id) = rig.place().await else {
                    continue;
                };
                match rig.final_of(&id, end + Duration::from_secs(5)).await {
                    Some((_, st)) if st == "success" => done.fetch_add(1, Ordering::Relaxed),
                    Some(_) => failed.fetch_add(1, Ordering::Relaxed),
                    None => in_doubt.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    let mut killed = None;
    if let Some(k) = kill_at {
        tokio::time::sleep(k).await;
        if let Err(e) = rig.sims[0].kill().await {
            tracing::error!(error = %e, "cannot take the simulator down");
        }
        killed = Some(Instant::now());
    }
    for t in tasks {
        let _ = t.await;
    }
    Phase {
        succeeded: done.load(Ordering::Relaxed),
        failed: failed.load(Ordering::Relaxed),
        in_doubt: in_doubt.load(Ordering::Relaxed),
        secs: start.elapsed().as_secs_f64(),
        killed,
    }
}

/// Open loop at `rate`/s for `duration`: each order's scheduled send, `POST`, answer and
/// final callback (latency counts from the scheduled send). Each order's task is started at
/// its slot (not all up front, which would hold every future of the phase in memory) by a
/// thread that sleeps until then: the runtime's timer steps by whole milliseconds, and
/// that lag (about 1 ms) would count against the switch. If starting falls behind (the
/// runtime busy), the delay still counts.
async fn open_loop(rig: &Arc<Rig>, rate: f64, duration: Duration) -> Vec<stages::Timed> {
    let n = (rate * duration.as_secs_f64()).max(1.0) as u64;
    let gap = Duration::from_secs_f64(1.0 / rate.max(1.0));
    let start = Instant::now();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let runtime = tokio::runtime::Handle::current();
    let rig = rig.clone();
    let pacer = tokio::task::spawn_blocking(move || {
        for i in 0..n {
            let at = start + gap * i as u32;
            if let Some(wait) = at.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let (rig, tx) = (rig.clone(), tx.clone());
            runtime.spawn(async move {
                let timed = async {
                    let sent = Instant::now();
                    let id = rig.place().await?;
                    let answered = Instant::now();
                    let (arrived, _) = rig
                        .final_of(&id, Instant::now() + Duration::from_secs(30))
                        .await?;
                    Some(stages::Timed {
                        id,
                        at,
                        sent,
                        answered,
                        arrived,
                    })
                };
                let _ = tx.send(timed.await);
            });
        }
    });
    let mut out = Vec::with_capacity(n as usize);
    // Ends once the pacer and every order's task have let go of the sender.
    while let Some(t) = rx.recv().await {
        out.extend(t);
    }
    let _ = pacer.await;
    out
}

/// RSS sampled every second while the order phases run, to show it stays flat.
struct RssLog {
    samples: Arc<Mutex<Vec<(f64, f64)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl RssLog {
    fn start() -> RssLog {
        let samples: Arc<Mutex<Vec<(f64, f64)>>> = Arc::default();
        let log = samples.clone();
        let t0 = Instant::now();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                if let Ok(mut v) = log.lock() {
                    v.push((t0.elapsed().as_secs_f64(), rss_mb()));
                }
            }
        });
        RssLog { samples, task }
    }

    /// Stops sampling: the start, end and peak RSS, and about a dozen evenly spaced samples.
    fn finish(self) -> Value {
        self.task.abort();
        let mut v = self.samples.lock().map(|v| v.clone()).unwrap_or_default();
        v.push((v.last().map_or(0.0, |l| l.0 + 1.0), rss_mb()));
        let round = |x: f64| (x * 10.0).round() / 10.0;
        let step = v.len().div_ceil(12).max(1);
        let series: Vec<Value> = v
            .iter()
            .enumerate()
            .filter(|(i, _)| i % step == 0 || *i == v.len() - 1)
            .map(|(_, (t, mb))| json!([t.round(), round(*mb)]))
            .collect();
        let peak = v.iter().map(|x| x.1).fold(0.0, f64::max);
        json!({
            "start": round(v.first().map_or(0.0, |x| x.1)),
            "end": round(v.last().map_or(0.0, |x| x.1)),
            "peak": round(peak),
            "series": series,
        })
    }
}

/// `store`: a `postgres://` URL to run on PostgreSQL; none for a temporary SQLite file.
impl Rig {
    /// Stops the switch and waits (up to 10 s) for its workers to end, so none reads a
    /// PostgreSQL schema as it is dropped.
    async fn shut_down(&self) {
        let _ = self.stop.send(true);
        let task = self.server.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }
}

/// `burst`: how long the backlog phase sends (a quarter of `duration` unless given).
pub async fn run(
    json_out: bool,
    duration: Duration,
    store: Option<&str>,
    burst: Option<Duration>,
) -> anyhow::Result<()> {
    if let Some(url) = store {
        if !matches!(
            siaga_store::Target::parse(url)?,
            siaga_store::Target::Postgres(_)
        ) {
            anyhow::bail!(
                "--store takes a postgres:// URL (without it the bench runs on a temporary SQLite file)"
            );
        }
    }
    let phase = duration / 4;
    let baseline_rps = baseline(phase).await?;
    let rig = Arc::new(rig(store).await?);
    // warm up, then the closed-loop maximum
    let _ = closed_loop(&rig, Duration::from_millis(500), None).await;
    let rss = RssLog::start();
    let sim_pids: Vec<String> = rig
        .sims
        .iter()
        .filter_map(|s| s.pid())
        .map(|p| p.to_string())
        .collect();
    let sims_cpu = || sim_pids.iter().map(|p| cpu_ms(p)).sum::<f64>();
    let on_pg = store.is_some();
    let pg_cpu = || if on_pg { postgres_cpu_ms() } else { 0.0 };
    let (own0, sims0, pg0) = (cpu_ms("self"), sims_cpu(), pg_cpu());
    let writes0 = rig.store.write_times();
    let max = closed_loop(&rig, phase, None).await;
    let (own_cpu, sims_cpu) = (cpu_ms("self") - own0, sims_cpu() - sims0);
    let store_cpu = pg_cpu() - pg0;
    let store_closed = store_writes(&rig, writes0, max.secs);
    let orders_per_s = max.succeeded as f64 / max.secs;
    let per_order_us = |ms: f64| (ms * 1000.0 / (max.succeeded.max(1) as f64)).round();
    let (writes0, open_start) = (rig.store.write_times(), Instant::now());
    rig.engine.trace.start();
    let timed = open_loop(&rig, orders_per_s / 2.0, phase).await;
    let open_stages = stages::breakdown(&timed, &rig.engine.trace.stop());
    let store_open = store_writes(&rig, writes0, open_start.elapsed().as_secs_f64());
    let mut lat: Vec<f64> = timed
        .iter()
        .map(|t| t.arrived.duration_since(t.at).as_secs_f64() * 1000.0)
        .collect();
    let (p50, p99) = (percentile(&mut lat, 0.5), percentile(&mut lat, 0.99));
    // The simulators answer at once, so the supplier's own time is taken as zero and
    // overhead_p99 equals the end-to-end p99: an upper bound on what siaga adds.
    let supplier_ms = 0.0;
    let overhead_p99 = p99 - supplier_ms;
    // The backlog: a burst of resellers that do not wait for callbacks, then the drain.
    let (writes0, backlog_start) = (rig.store.write_times(), Instant::now());
    let backlog = backlog::run(&rig, BURST_CLIENTS, burst.unwrap_or(phase)).await;
    let store_backlog = store_writes(&rig, writes0, backlog_start.elapsed().as_secs_f64());
    // failover: kill s0 a third into the phase
    let fo = closed_loop(&rig, phase, Some(phase / 3)).await;
    // Before the analysis below, which reads every order of the phase back from the store.
    let rss = rss.finish();
    // The WAL file never shrinks while the store is open: its size is the longest the WAL
    // grew (none on PostgreSQL).
    let wal_mb = std::fs::metadata(rig.dir.path().join("bench.db-wal"))
        .ok()
        .map(|m| (m.len() as f64 / 1e5).round() / 10.0);
    let (failover_ms, double, verify_problems) = after_failover(&rig, &fo).await?;
    let mut out = json!({
        "store": if store.is_some() { "postgres" } else { "sqlite" },
        "baseline_rps": baseline_rps.round(),
        "orders_per_s": orders_per_s.round(),
        "ratio": (orders_per_s / baseline_rps.max(1.0) * 1000.0).round() / 1000.0,
        "p50_ms": (p50 * 100.0).round() / 100.0,
        "p99_ms": (p99 * 100.0).round() / 100.0,
        "overhead_p99_ms": (overhead_p99 * 100.0).round() / 100.0,
        // The store's sync p99 in the same phase, and the target it sets (SPEC 16:
        // 2 × it + 2 ms); null where the store does not time its syncs (PostgreSQL).
        "store_sync_p99_ms": store_open["sync_ms_p99"],
        "overhead_p99_target_ms": store_open["sync_ms_p99"].as_f64().map(|s| (s * 2.0 + 2.0) * 100.0).map(|x| x.round() / 100.0),
        "failover_ms": failover_ms,
        "failed_orders_during_failover": fo.failed,
        "orders_in_doubt_at_killed_supplier": fo.in_doubt,
        "double_fulfilments": double,
        "verify_problems": verify_problems,
        "rss_mb": rss["end"],
        "cpu_us_per_order": per_order_us(own_cpu),
        "sims_cpu_us_per_order": per_order_us(sims_cpu),
        // PostgreSQL's own processes in the closed loop (null on SQLite, whose work is in
        // cpu_us_per_order): with siaga's, what an order costs the machine.
        "store_cpu_us_per_order": if on_pg { json!(per_order_us(store_cpu)) } else { Value::Null },
        "rss_mb_start": rss["start"],
        "rss_mb_end": rss["end"],
        "rss_mb_peak": rss["peak"],
        "rss_mb_series": rss["series"],
        "store_closed_loop": store_closed,
        "store_open_loop": store_open,
        // The open loop's orders split by stage along their path (p50, p99, and the mean
        // over the slowest 1 %): where the latency goes.
        "open_loop_stages": open_stages,
        "backlog_drain_per_s": backlog.drain_per_s.round(),
        "backlog_drain_ratio": (backlog.drain_per_s / orders_per_s.max(1.0) * 100.0).round() / 100.0,
        "store_backlog": store_backlog,
        "wal_file_mb": wal_mb,
        "duration_s": duration.as_secs_f64(),
        "concurrency": CONCURRENCY,
    });
    if let (Some(o), Value::Object(b)) = (out.as_object_mut(), backlog.fields) {
        o.extend(b);
    }
    if json_out {
        println!("{out}");
    } else {
        for (k, v) in out.as_object().into_iter().flatten() {
            println!("{k:<32} {v}");
        }
    }
    Ok(())
}

/// The store's durable writes over a phase of `secs` that began at `before`: how many
/// commits and syncs, how many writes a commit carried, and how long commits and syncs
/// took. Every order waits for two of them in turn (its intake, then its outcome), so
/// the sync times are the floor under its latency.
fn store_writes(rig: &Rig, before: Option<siaga_store::WriteTimesSnapshot>, secs: f64) -> Value {
    let (Some(before), Some(now)) = (before, rig.store.write_times()) else {
        return Value::Null;
    };
    let span = now.since(&before);
    let per_s = |n: u64| (n as f64 / secs.max(0.001)).round();
    let ms = |x: Option<f64>| x.map(|v| (v * 100.0).round() / 100.0);
    json!({
        "commits_per_s": per_s(span.commits()),
        "syncs_per_s": per_s(span.syncs()),
        "writes_per_s": per_s(span.jobs()),
        "writes_per_commit": (span.jobs() as f64 / span.commits().max(1) as f64 * 10.0).round() / 10.0,
        "commit_ms_p50": ms(span.commit_ms(0.5)),
        "commit_ms_p99": ms(span.commit_ms(0.99)),
        "sync_ms_p50": ms(span.sync_ms(0.5)),
        "sync_ms_p99": ms(span.sync_ms(0.99)),
        // Per write: where its time went (queue, its transaction to the end of the
        // COMMIT, then the wait for the sync that covers it).
        "write_queued_ms_p50": ms(span.queued_ms(0.5)),
        "write_queued_ms_p99": ms(span.queued_ms(0.99)),
        "write_in_commit_ms_p50": ms(span.in_commit_ms(0.5)),
        "write_in_commit_ms_p99": ms(span.in_commit_ms(0.99)),
        "write_wait_sync_ms_p50": ms(span.wait_sync_ms(0.5)),
        "write_wait_sync_ms_p99": ms(span.wait_sync_ms(0.99)),
        // WAL checkpoints: passes off the writer's path, and those the writer ran itself
        // (each held up its next transaction).
        "checkpoints_per_s": per_s(span.checkpoints().0),
        "checkpoint_ms_p50": ms(span.checkpoint_ms(0.5)),
        "checkpoint_ms_p99": ms(span.checkpoint_ms(0.99)),
        "writer_checkpoints": span.checkpoints().1,
        "writer_checkpoint_ms_p50": ms(span.writer_checkpoint_ms(0.5)),
        "writer_checkpoint_ms_p99": ms(span.writer_checkpoint_ms(0.99)),
    })
}

/// After the failover phase `fo`: how long attempts still went to the killed supplier,
/// how many destinations were fulfilled twice (any simulator), and, with the switch
/// stopped, `siaga verify` on what the run left (its number of problems; -1 when the check
/// could not run).
async fn after_failover(rig: &Rig, fo: &Phase) -> anyhow::Result<(i64, usize, i64)> {
    let killed_at_ms = fo
        .killed
        .map(|k| jiff::Timestamp::now().as_millisecond() - k.elapsed().as_millis() as i64)
        .unwrap_or(0);
    // Attempts within the breaker's first open period: after it, one half-open trial at a
    // time is by design (and fails over at once), not traffic still going to the dead one.
    let failover_ms = last_attempt_between(rig, "s0", killed_at_ms, killed_at_ms + BREAKER_OPEN_MS)
        .await
        .map(|t| (t - killed_at_ms).max(0))
        .unwrap_or(0);
    let mut per_dest: HashMap<String, u32> = HashMap::new();
    for sim in &rig.sims {
        for d in sim.fulfilled_destinations().await? {
            *per_dest.entry(d).or_default() += 1;
        }
    }
    let double = per_dest.values().filter(|n| **n > 1).count();
    rig.shut_down().await;
    // `siaga verify` on what the run left: every ledger and order invariant (the number of
    // problems; -1 when the check could not run).
    let verify_problems = match rig.store.verify().await {
        Ok(r) => r.problems.len() as i64,
        Err(e) => {
            tracing::error!(error = %e, "cannot verify the bench's store");
            -1
        }
    };
    Ok((failover_ms, double, verify_problems))
}

/// When the last attempt at `supplier` started in `[after_ms, before_ms)`, if any.
async fn last_attempt_between(
    rig: &Rig,
    supplier: &str,
    after_ms: i64,
    before_ms: i64,
) -> Option<i64> {
    let orders = rig
        .store
        .list_resellers()
        .await
        .ok()?
        .into_iter()
        .next()
        .map(|r| siaga_store::OrderQuery {
            reseller_id: r.id,
            since: Some(after_ms - 1_000),
            limit: 100_000,
            ..Default::default()
        })?;
    let mut last = None;
    for o in rig.store.list_orders(orders).await.ok()? {
        for a in rig.store.attempts(&o.id).await.ok()? {
            if a.supplier_id == supplier && a.started_at >= after_ms && a.started_at < before_ms {
                last = last.max(Some(a.started_at));
            }
        }
    }
    last
}
