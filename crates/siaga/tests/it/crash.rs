//! Crash safety (SPEC 3.4): the real binary under load is SIGKILLed several times at random
//! moments — some while suppliers are `pending` or `in_doubt` — and restarted. Afterwards
//! every acknowledged order is final, no destination was fulfilled twice, a failed order was
//! never fulfilled, balances equal deposits minus successes, callbacks all arrived, and
//! `siaga verify` passes. The seed is printed; `SIAGA_CRASH_SEED` replays a run.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use siaga_suppliers::sim::{ModeRequest, Sim, SimConfig, SimMode, SimProduct};

pub(crate) const PRICE: i64 = 10_500;
pub(crate) const DEPOSIT: i64 = 100_000_000;

pub(crate) fn spawn_server(dir: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("server.log"))
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_siaga"))
        .current_dir(dir)
        .args(["serve", "--config", "siaga.toml"])
        .env("SIAGA_LOG", "warn")
        .env("CRASH_ADMIN", "crash-test-admin-token-32-characters")
        .env("SIM0_KEY", "sim0-key")
        .env("SIM1_KEY", "sim1-key")
        .env("SIM0_CB", "cb0")
        .env("SIM1_CB", "cb1")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn siaga serve")
}

pub(crate) async fn wait_healthy(http: &reqwest::Client, base: &str) {
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        assert!(Instant::now() < end, "server did not come up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(crate) fn cli(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_siaga"))
        .current_dir(dir)
        .args(args)
        .env("SIAGA_LOG", "warn")
        .env("SIM0_KEY", "k")
        .env("SIM1_KEY", "k")
        .env("SIM0_CB", "cb0")
        .env("SIM1_CB", "cb1")
        .output()
        .expect("run siaga")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_under_load_loses_nothing_and_never_tops_up_twice() {
    crash_run("sqlite://siaga.db").await;
}

/// The same on PostgreSQL, in a database of its own (SPEC 12).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_under_load_on_postgres_loses_nothing_and_never_tops_up_twice() {
    let Some(db) = crate::postgres::Database::new() else {
        return;
    };
    crash_run(&db.url).await;
}

/// Kills `siaga serve` on the store at `store_url` six times under load (see the module
/// doc), then checks money and at-most-once.
async fn crash_run(store_url: &str) {
    let seed: u64 = std::env::var("SIAGA_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("crash test on {store_url}: seed = {seed} (replay with SIAGA_CRASH_SEED={seed})");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");

    let (raddr, received) = crate::harness::receiver().await;
    let sims = start_sims(&base, seed).await;
    write_config(d, port, &base, &sims, store_url);
    let key = add_reseller(d, &format!("http://{raddr}/cb"));

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut server = spawn_server(d);
    wait_healthy(&http, &base).await;

    // Load: 6 clients, each retrying the same ref_id until it is acknowledged (idempotency).
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let clients = spawn_clients(&stop, &acked, &http, &base, &key);

    kill_and_restart(&mut rng, &sims, &mut server, d, &http, &base, &acked).await;
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    for sim in &sims {
        sim.set_mode(SimMode::Ok).await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 50, "load too small: {}", acked.len());

    // Every acknowledged order becomes final without operator action.
    let orders = wait_all_final(&http, &base, &key, &acked).await;
    let (fulfilled, successes) = check_fulfilments(&sims, &orders);
    check_nothing_pending_and_balance(&http, &base, &key, &fulfilled, successes).await;
    wait_all_callbacks(&received, &orders).await;
    let out = cli(d, &["verify"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    eprintln!(
        "crash test: {} acknowledged, {} succeeded, {} failed",
        orders.len(),
        successes,
        orders.len() as i64 - successes
    );
    server.kill().unwrap();
    let _ = server.wait();
}

/// Two simulated suppliers, each selling one Telkomsel product and calling back to `base`.
pub(crate) async fn start_sims(base: &str, seed: u64) -> Vec<Sim> {
    let mut sims = Vec::new();
    for i in 0..2 {
        let cfg = SimConfig {
            username: format!("sim{i}"),
            key: format!("sim{i}-key"),
            callback_url: Some(format!("{base}/hooks/suppliers/sim{i}")),
            callback_secret: Some(format!("cb{i}")),
            callback_delay_ms: 300,
            seed: seed.wrapping_add(i),
            products: vec![SimProduct::new(
                &format!("tsel10-{i}"),
                "Telkomsel 10.000",
                "TELKOMSEL",
                "Pulsa",
                10_150 + 50 * i as i64,
            )],
            ..SimConfig::default()
        };
        sims.push(
            Sim::start(
                cfg,
                "127.0.0.1:0".parse().unwrap(),
                "127.0.0.1:0".parse().unwrap(),
            )
            .await
            .unwrap(),
        );
    }
    sims
}

/// Writes `siaga.toml` into `d`: the server on `port`, its store at `store_url`, both sims
/// as suppliers, one product.
pub(crate) fn write_config(d: &Path, port: u16, base: &str, sims: &[Sim], store_url: &str) {
    let config = format!(
        r#"[server]
listen = "127.0.0.1:{port}"
public_url = "{base}"
admin_token_env = "CRASH_ADMIN"

[store]
url = "{store_url}"

[orders]
default_max_wait_s = 20

[callbacks]
retry_base_ms = 200
retry_max_ms = 1000

[limits]                  # a durability test, not a rate-limit one: one key polls ~1,000 orders
per_key_per_s = 0
per_ip_per_s = 0

[[suppliers]]
id = "sim0"
base_url = "{u0}"
username = "sim0"
key_env = "SIM0_KEY"
callback_secret_env = "SIM0_CB"
timeout_ms = 700
inquiry_min_interval_s = 1
inquiry_max_interval_s = 2

[[suppliers]]
id = "sim1"
base_url = "{u1}"
username = "sim1"
key_env = "SIM1_KEY"
callback_secret_env = "SIM1_CB"
timeout_ms = 700
inquiry_min_interval_s = 1
inquiry_max_interval_s = 2

[[products]]
code = "TSEL10"
name = "Telkomsel 10.000"
operator = "telkomsel"
group = "Telkomsel Pulsa"
price = {PRICE}
routes = [{{ supplier = "sim0", sku = "tsel10-0", cost = 10150, priority = 1 }},
          {{ supplier = "sim1", sku = "tsel10-1", cost = 10200, priority = 2 }}]
"#,
        u0 = sims[0].base_url(),
        u1 = sims[1].base_url()
    );
    std::fs::write(d.join("siaga.toml"), config).unwrap();
}

/// Adds a reseller through the CLI and deposits `DEPOSIT`; returns its API key.
pub(crate) fn add_reseller(d: &Path, callback_url: &str) -> String {
    let out = cli(
        d,
        &[
            "reseller",
            "add",
            "--name",
            "Konter Crash",
            "--callback-url",
            callback_url,
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let creds: Value = serde_json::from_slice(&out.stdout).unwrap();
    let key = creds["api_key"].as_str().unwrap().to_owned();
    let rid = creds["id"].as_str().unwrap().to_owned();
    assert!(cli(d, &["reseller", "deposit", &rid, &DEPOSIT.to_string()])
        .status
        .success());
    key
}

/// 6 clients place orders until `stop`, each retrying the same ref_id until it is
/// acknowledged; `acked` maps every acknowledged ref_id to its destination.
fn spawn_clients(
    stop: &Arc<AtomicBool>,
    acked: &Arc<Mutex<HashMap<String, String>>>,
    http: &reqwest::Client,
    base: &str,
    key: &str,
) -> Vec<tokio::task::JoinHandle<()>> {
    let counter = Arc::new(AtomicU64::new(0));
    let mut clients = Vec::new();
    for w in 0..6 {
        let (stop, acked, counter, http, base, key) = (
            stop.clone(),
            acked.clone(),
            counter.clone(),
            http.clone(),
            base.to_owned(),
            key.to_owned(),
        );
        clients.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let (r, dest) = (format!("C-{w}-{n}"), format!("0812{:08}", n));
                loop {
                    let sent = http
                        .post(format!("{base}/v1/orders"))
                        .bearer_auth(&key)
                        .json(&json!({"ref_id": r, "product": "TSEL10", "destination": dest}))
                        .send()
                        .await;
                    match sent {
                        Ok(resp) if resp.status() == 201 || resp.status() == 200 => {
                            acked.lock().unwrap().insert(r.clone(), dest.clone());
                            break;
                        }
                        Ok(resp) => panic!("unexpected status {} for {r}", resp.status()),
                        Err(_) if stop.load(Ordering::Relaxed) => break,
                        Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                    }
                }
            }
        }));
    }
    clients
}

/// Six times: set random sim modes, wait a random moment, SIGKILL the server and start it
/// again.
async fn kill_and_restart(
    rng: &mut rand::rngs::StdRng,
    sims: &[Sim],
    server: &mut Child,
    d: &Path,
    http: &reqwest::Client,
    base: &str,
    acked: &Mutex<HashMap<String, String>>,
) {
    let modes0 = [SimMode::Ok, SimMode::Pending, SimMode::InDoubt, SimMode::Ok];
    let modes1 = [
        SimMode::Ok,
        SimMode::Pending,
        SimMode::Down,
        SimMode::InDoubt,
    ];
    for kill in 0..6 {
        let m0 = modes0[rng.gen_range(0..modes0.len())];
        let m1 = modes1[rng.gen_range(0..modes1.len())];
        sims[0]
            .set_mode(ModeRequest {
                mode: m0,
                latency_ms: None,
                fail_rate: None,
                callback_delay_ms: Some(rng.gen_range(50..800)),
            })
            .await
            .unwrap();
        sims[1].set_mode(m1).await.unwrap();
        let wait = rng.gen_range(150..1200);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        eprintln!(
            "kill {kill}: after {wait} ms with sim0={m0} sim1={m1}, {} acked",
            acked.lock().unwrap().len()
        );
        server.kill().unwrap(); // SIGKILL
        server.wait().unwrap();
        tokio::time::sleep(Duration::from_millis(rng.gen_range(0..300))).await;
        *server = spawn_server(d);
        wait_healthy(http, base).await;
    }
}

/// Polls each acknowledged order (up to 60 s in all) until it is no longer pending;
/// returns the final orders by ref_id.
pub(crate) async fn wait_all_final(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    acked: &HashMap<String, String>,
) -> HashMap<String, Value> {
    let end = Instant::now() + Duration::from_secs(60);
    let mut orders: HashMap<String, Value> = HashMap::new();
    for r in acked.keys() {
        loop {
            let resp = http
                .get(format!("{base}/v1/orders/{r}"))
                .bearer_auth(key)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200, "acknowledged order {r} is missing");
            let o: Value = resp.json().await.unwrap();
            if o["status"] != "pending" {
                orders.insert(r.clone(), o);
                break;
            }
            assert!(Instant::now() < end, "order {r} still pending: {o}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    orders
}

/// Fulfilments: at most once per destination, and exactly when the order succeeded.
/// Returns the fulfilments per destination and the number of successful orders.
pub(crate) fn check_fulfilments(
    sims: &[Sim],
    orders: &HashMap<String, Value>,
) -> (HashMap<String, usize>, i64) {
    let mut fulfilled: HashMap<String, usize> = HashMap::new();
    for sim in sims {
        for f in sim.fulfilled() {
            *fulfilled.entry(f.customer_no).or_default() += 1;
        }
    }
    for (d, n) in &fulfilled {
        assert_eq!(*n, 1, "destination {d} fulfilled {n} times");
    }
    let mut successes = 0i64;
    for (r, o) in orders {
        let dest = o["destination"].as_str().unwrap();
        let n = fulfilled.get(dest).copied().unwrap_or(0);
        if o["status"] == "success" {
            successes += 1;
            assert_eq!(n, 1, "{r} succeeded but was fulfilled {n} times");
        } else {
            assert_eq!(n, 0, "{r} failed (refunded) but was fulfilled: {o}");
        }
    }
    (fulfilled, successes)
}

/// Orders whose acknowledgement was lost in a crash are final too, and the balance is the
/// deposit minus every fulfilment.
pub(crate) async fn check_nothing_pending_and_balance(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    fulfilled: &HashMap<String, usize>,
    successes: i64,
) {
    let (_, all) = {
        let r = http
            .get(format!("{base}/v1/orders?limit=200&status=pending"))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        (r.status(), r.json::<Value>().await.unwrap())
    };
    assert_eq!(
        all["orders"].as_array().unwrap().len(),
        0,
        "pending orders remain: {all}"
    );
    let b: Value = http
        .get(format!("{base}/v1/balance"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let all_success = fulfilled.len() as i64; // every fulfilment belongs to a successful order (checked above for acked ones)
    assert!(all_success >= successes);
    assert_eq!(b["held"], 0);
    assert_eq!(
        b["available"].as_i64().unwrap(),
        DEPOSIT - PRICE * all_success,
        "balance = deposits - successes"
    );
}

/// Every final acknowledged order's callback arrives (within 30 s), across restarts, under
/// one webhook-id per order however often it was delivered.
pub(crate) async fn wait_all_callbacks(
    received: &Mutex<Vec<crate::harness::Received>>,
    orders: &HashMap<String, Value>,
) {
    let ids: HashSet<String> = orders
        .values()
        .map(|o| o["order_id"].as_str().unwrap().to_owned())
        .collect();
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let got: HashSet<String> = received
            .lock()
            .unwrap()
            .iter()
            .filter_map(|r| serde_json::from_slice::<Value>(&r.body).ok())
            .filter_map(|v| v["data"]["order_id"].as_str().map(str::to_owned))
            .collect();
        let missing = ids.difference(&got).count();
        if missing == 0 {
            break;
        }
        assert!(Instant::now() < end, "{missing} callbacks never arrived");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Some were delivered more than once (sent, then killed before the mark was durable):
    // every copy of one order's callback carries the same webhook-id, and no two orders
    // share one.
    let mut by_order: HashMap<String, HashSet<String>> = HashMap::new();
    for r in received.lock().unwrap().iter() {
        let Ok(v) = serde_json::from_slice::<Value>(&r.body) else {
            continue;
        };
        let order = v["data"]["order_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let id = r
            .headers
            .get("webhook-id")
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        by_order.entry(order).or_default().insert(id);
    }
    let mut seen = HashSet::new();
    for (order, ids) in &by_order {
        assert_eq!(
            ids.len(),
            1,
            "order {order} called back under several ids: {ids:?}"
        );
        assert!(
            seen.insert(ids.iter().next().cloned()),
            "id shared by two orders: {ids:?}"
        );
    }
}

/// A callback receiver that records every delivery and, while `hold` is set, never answers
/// (the delivery cannot be marked done).
async fn holding_receiver(
    hold: Arc<AtomicBool>,
) -> (
    std::net::SocketAddr,
    Arc<Mutex<Vec<crate::harness::Received>>>,
) {
    let got: Arc<Mutex<Vec<crate::harness::Received>>> = Arc::default();
    let store = got.clone();
    let app = axum::Router::new().route(
        "/cb",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let (store, hold) = (store.clone(), hold.clone());
                async move {
                    store
                        .lock()
                        .unwrap()
                        .push(crate::harness::Received { headers, body });
                    if hold.load(Ordering::SeqCst) {
                        std::future::pending::<()>().await;
                    }
                    "ok"
                }
            },
        ),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    (addr, got)
}

/// Waits until `received` holds `n` deliveries (or fails the test).
async fn wait_deliveries(received: &Mutex<Vec<crate::harness::Received>>, n: usize) {
    let end = Instant::now() + Duration::from_secs(20);
    while received.lock().unwrap().len() < n {
        assert!(Instant::now() < end, "{n} deliveries never arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// At-least-once delivery of reseller callbacks: a callback sent but not yet marked
/// delivered when the switch is killed (`kill -9`) is sent again after the restart, and
/// both copies carry the same `webhook-id` (Standard Webhooks' de-duplication key), so the
/// receiver can drop the repeat. Both are signed with the reseller's secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_callback_sent_again_after_kill_9_carries_the_same_webhook_id() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let hold = Arc::new(AtomicBool::new(true));
    let (raddr, received) = holding_receiver(hold.clone()).await;
    let sims = start_sims(&base, 7).await;
    write_config(d, port, &base, &sims, "sqlite://siaga.db");
    let out = cli(
        d,
        &[
            "reseller",
            "add",
            "--name",
            "Konter Webhook",
            "--callback-url",
            &format!("http://{raddr}/cb"),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let creds: Value = serde_json::from_slice(&out.stdout).unwrap();
    let (key, secret, rid) = (
        creds["api_key"].as_str().unwrap().to_owned(),
        creds["webhook_secret"].as_str().unwrap().to_owned(),
        creds["id"].as_str().unwrap().to_owned(),
    );
    assert!(cli(d, &["reseller", "deposit", &rid, "100000"])
        .status
        .success());
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut server = spawn_server(d);
    wait_healthy(&http, &base).await;
    let r = http
        .post(format!("{base}/v1/orders"))
        .bearer_auth(&key)
        .json(&json!({"ref_id": "WH-1", "product": "TSEL10", "destination": "081234567001"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // The callback is on the wire, unanswered: kill the switch now.
    wait_deliveries(&received, 1).await;
    server.kill().unwrap(); // SIGKILL
    server.wait().unwrap();
    assert_eq!(received.lock().unwrap().len(), 1);
    hold.store(false, Ordering::SeqCst);
    let mut server = spawn_server(d);
    wait_healthy(&http, &base).await;
    wait_deliveries(&received, 2).await;
    let got = received.lock().unwrap().clone();
    let header = |r: &crate::harness::Received, k: &str| {
        r.headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let ids: Vec<String> = got.iter().map(|r| header(r, "webhook-id")).collect();
    assert!(ids[0].starts_with("msg_"), "{ids:?}");
    assert_eq!(ids[0], ids[1], "one event, one webhook-id: {ids:?}");
    let bodies: Vec<Value> = got
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(bodies[0]["data"]["order_id"], bodies[1]["data"]["order_id"]);
    assert_eq!(bodies[0]["data"]["status"], bodies[1]["data"]["status"]);
    assert_eq!(bodies[0]["data"]["ref_id"], "WH-1");
    // Both copies are signed with the reseller's secret over that id.
    for r in &got {
        let ts: i64 = header(r, "webhook-timestamp").parse().unwrap();
        let sig = siaga::webhook::sign(&secret, &header(r, "webhook-id"), ts, &r.body).unwrap();
        assert_eq!(header(r, "webhook-signature"), sig);
    }
    server.kill().unwrap();
    let _ = server.wait();
}
