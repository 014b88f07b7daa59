//! A seeded, reproducible chaos test: 2,000 orders through three simulated suppliers whose
//! modes flip at random (down, error, slow, flaky, pending, in_doubt, black_hole,
//! maintenance, no_balance, wrong_number, garbled), once all speaking Digiflazz and once
//! with one speaking OtomaX text. Afterwards: every order is final, no destination
//! was fulfilled twice, an order succeeded exactly when it was fulfilled, balances add up
//! and `verify` is clean. The seed is printed; `SIAGA_CHAOS_SEED` replays a run.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use siaga_domain::Operator;
use siaga_suppliers::sim::{ModeRequest, SimMode};

use crate::harness::{Opts, TestApp, P};

const ORDERS: usize = 2_000;
const PRICE: i64 = 10_500;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos_modes_never_double_top_up_or_lose_money() {
    chaos(Vec::new()).await;
}

/// The same with the middle supplier speaking OtomaX text (`preset = "otomax"`): replies
/// read by regex, reports by GET with the secret in the URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos_with_a_text_supplier_never_double_tops_up_or_loses_money() {
    chaos(vec![1]).await;
}

/// 2,000 orders under random mode flips; `otomax`: the sims that speak OtomaX.
async fn chaos(otomax: Vec<usize>) {
    let seed: u64 = std::env::var("SIAGA_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("chaos seed = {seed} (replay with SIAGA_CHAOS_SEED={seed})");
    let deposit = PRICE * ORDERS as i64 + 1_000;
    let app = Arc::new(start_app(deposit, otomax.clone()).await);

    let stop = Arc::new(AtomicBool::new(false));
    let flipper = spawn_mode_flipper(app.clone(), stop.clone(), seed);
    place_orders(&app, seed).await;
    stop.store(true, Ordering::Relaxed);
    let flips = flipper.await.unwrap();
    for i in 0..3 {
        app.set_mode(i, SimMode::Ok).await;
    }

    wait_none_pending(&app).await;
    let orders = all_orders(&app).await;
    assert_eq!(orders.len(), ORDERS);

    let (successes, by_status) = check_outcomes(&app, &orders, seed).await;
    assert_eq!(
        app.balance().await,
        (deposit - PRICE * successes, 0),
        "seed {seed}"
    );
    app.verify_clean().await;
    for &i in &otomax {
        // siaga speaks only OtomaX to it: each of these came through `/trx`.
        let n = app.sims[i].fulfilled().len();
        assert!(n > 0, "the text supplier sold nothing (seed {seed})");
        eprintln!("chaos: the text supplier (sim {i}) fulfilled {n}");
    }
    eprintln!("chaos: {flips} mode flips, outcomes {by_status:?}");
}

/// The switch with three simulated suppliers, all routes for one product, and enough
/// deposit for every order.
async fn start_app(deposit: i64, otomax: Vec<usize>) -> TestApp {
    TestApp::start(Opts {
        sims: 3,
        products: vec![P {
            code: "TSEL10",
            op: Operator::Telkomsel,
            price: PRICE,
            routes: vec![(0, 10_150), (1, 10_200), (2, 10_250)],
        }],
        inquiry_min_s: 1,
        timeout_ms: 300,
        deposit,
        otomax,
        ..Opts::default()
    })
    .await
}

/// Flips a random sim to a random mode every 20-150 ms until `stop`; returns the number
/// of flips.
fn spawn_mode_flipper(
    app: Arc<TestApp>,
    stop: Arc<AtomicBool>,
    seed: u64,
) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let modes = [
            SimMode::Ok,
            SimMode::Ok,
            SimMode::Ok,
            SimMode::Down,
            SimMode::Error,
            SimMode::Slow,
            SimMode::Flaky,
            SimMode::Pending,
            SimMode::InDoubt,
            SimMode::BlackHole,
            SimMode::Maintenance,
            SimMode::NoBalance,
            SimMode::WrongNumber,
            SimMode::Garbled,
        ];
        let mut flips = 0;
        while !stop.load(Ordering::Relaxed) {
            let sim = rng.gen_range(0..3);
            let mode = modes[rng.gen_range(0..modes.len())];
            let req = ModeRequest {
                mode,
                latency_ms: Some(rng.gen_range(10..500)),
                fail_rate: Some(rng.gen_range(0.0..1.0)),
                callback_delay_ms: Some(rng.gen_range(10..1_000)),
            };
            app.sims[sim].set_mode(req).await.unwrap();
            flips += 1;
            tokio::time::sleep(Duration::from_millis(rng.gen_range(20..150))).await;
        }
        flips
    })
}

/// 32 clients place the orders; each order has its own destination.
async fn place_orders(app: &Arc<TestApp>, seed: u64) {
    let mut clients = Vec::new();
    for w in 0..32usize {
        let app = app.clone();
        clients.push(tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ (w as u64 + 1));
            let mut n = w;
            while n < ORDERS {
                let body = json!({
                    "ref_id": format!("CH-{n}"), "product": "TSEL10",
                    "destination": format!("0813{:08}", n), "max_wait_s": rng.gen_range(0..4),
                });
                let (s, o) = app.post_json("/v1/orders", &body).await;
                assert_eq!(s, 201, "{o}");
                n += 32;
                // spread the orders over ~10 s so the modes flip under them
                tokio::time::sleep(Duration::from_millis(rng.gen_range(50..250))).await;
            }
        }));
    }
    for c in clients {
        c.await.unwrap();
    }
}

/// Waits (up to 120 s) until no order is pending.
async fn wait_none_pending(app: &TestApp) {
    let end = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, pending) = app.get("/v1/orders?status=pending&limit=1").await;
        if pending["orders"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(Instant::now() < end, "orders still pending: {pending}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every order, by ref_id, read page by page through the public list.
async fn all_orders(app: &TestApp) -> HashMap<String, Value> {
    let mut orders: HashMap<String, Value> = HashMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/orders?limit=200&cursor={c}"),
            None => "/v1/orders?limit=200".to_owned(),
        };
        let (_, page) = app.get(&path).await;
        for o in page["orders"].as_array().unwrap() {
            orders.insert(o["ref_id"].as_str().unwrap().to_owned(), o.clone());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    orders
}

/// Checks each order against the sims' fulfilments: no destination fulfilled twice, a
/// success fulfilled once, a failure not at all. Returns the number of successes and the
/// count of each status/failure code.
async fn check_outcomes(
    app: &TestApp,
    orders: &HashMap<String, Value>,
    seed: u64,
) -> (i64, HashMap<String, usize>) {
    let mut fulfilled: HashMap<String, usize> = HashMap::new();
    for sim in &app.sims {
        for f in sim.fulfilled() {
            *fulfilled.entry(f.customer_no).or_default() += 1;
        }
    }
    let mut by_status: HashMap<String, usize> = HashMap::new();
    let mut successes = 0i64;
    for (r, o) in orders {
        let n = fulfilled
            .get(o["destination"].as_str().unwrap())
            .copied()
            .unwrap_or(0);
        if n > 1 {
            let fs: Vec<_> = app
                .sims
                .iter()
                .enumerate()
                .flat_map(|(i, s)| s.fulfilled().into_iter().map(move |f| (i, f)))
                .filter(|(_, f)| f.customer_no == o["destination"].as_str().unwrap())
                .collect();
            let admin = app.admin_order(o["order_id"].as_str().unwrap()).await;
            panic!("{r}: destination fulfilled {n} times (seed {seed}): {fs:?}\n{admin:#}");
        }
        let key = format!(
            "{}/{}",
            o["status"].as_str().unwrap(),
            o["failure_code"].as_str().unwrap_or("-")
        );
        *by_status.entry(key).or_default() += 1;
        if o["status"] == "success" {
            successes += 1;
            assert_eq!(
                n, 1,
                "{r} succeeded without a fulfilment (seed {seed}): {o}"
            );
        } else {
            assert_eq!(o["status"], "failed");
            assert_eq!(n, 0, "{r} was refunded but fulfilled (seed {seed}): {o}");
        }
    }
    (successes, by_status)
}
