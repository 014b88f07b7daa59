//! Store tests against the real `SqliteStore` on a temporary file: a model-based proptest of
//! the ledger and the order transitions (SPEC 3.2, 3.3), `verify()` on deliberately broken
//! databases, idempotency and the balance guard under concurrency, group-commit isolation
//! of failing jobs, and durability across reopen (SPEC 3.4).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use siaga_domain::{FailureCode, OrderStatus, Stage};
use tempfile::TempDir;

use crate::{
    Attempt, AttemptResult, AttemptState, Balance, ChangeOrder, Intake, NewAttempt, NewOrder,
    NewReseller, Order, OrderChange, OrderQuery, Settle, SqliteStore, Store, Transition,
};

const T0: i64 = 1_750_000_000_000;
const DEST_A: &str = "081234567890";
const DEST_B: &str = "085712345678";

// ---------------------------------------------------------------------------------------
// helpers

fn temp_db() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("siaga.db");
    (dir, path)
}

fn raw_conn(path: &Path) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(path).expect("open raw connection");
    c.busy_timeout(Duration::from_secs(10))
        .expect("busy timeout");
    c
}

async fn add_reseller(store: &SqliteStore, id: &str, callback: Option<&str>) {
    store
        .create_reseller(NewReseller {
            id: id.to_owned(),
            name: format!("Reseller {id}"),
            email: None,
            callback_url: callback.map(str::to_owned),
            key_hash: format!("kh-{id}"),
            webhook_secret: format!("ws-{id}"),
            now: T0,
        })
        .await
        .expect("create reseller");
}

fn new_order(
    reseller: &str,
    ref_id: &str,
    product: &str,
    dest: &str,
    price: i64,
    now: i64,
) -> NewOrder {
    NewOrder {
        order_id: format!("ord_{}", ulid::Ulid::new()),
        reseller_id: reseller.to_owned(),
        ref_id: ref_id.to_owned(),
        product: product.to_owned(),
        destination: dest.to_owned(),
        price,
        max_wait_s: 300,
        now,
    }
}

fn new_attempt(o: &Order, version: i64, supplier: &str, now: i64) -> NewAttempt {
    NewAttempt {
        order_id: o.id.clone(),
        order_version: version,
        attempt_id: format!("att_{}", ulid::Ulid::new()),
        supplier_id: supplier.to_owned(),
        sku: format!("{}-{supplier}", o.product),
        cost: o.price - o.price / 20,
        supplier_ref: format!("sr_{}", ulid::Ulid::new()),
        lease_until: now + 30_000,
        now,
    }
}

async fn load(store: &SqliteStore, order_id: &str) -> Order {
    store
        .order(order_id)
        .await
        .expect("read order")
        .expect("order exists")
}

async fn intake(store: &SqliteStore, o: NewOrder) -> Order {
    match store.create_order(o).await.expect("create_order") {
        Intake::Created(o) => o,
        other => panic!("expected a new order, got {other:?}"),
    }
}

async fn start(store: &SqliteStore, order_id: &str, supplier: &str, now: i64) -> Attempt {
    let o = load(store, order_id).await;
    match store
        .start_attempt(new_attempt(&o, o.version, supplier, now))
        .await
        .expect("start_attempt")
    {
        Transition::Done(a) => a,
        Transition::Stale => panic!("start_attempt on {order_id} was stale"),
    }
}

async fn settle(
    store: &SqliteStore,
    att: &Attempt,
    state: AttemptState,
    change: OrderChange,
    now: i64,
) -> Order {
    let o = load(store, &att.order_id).await;
    let sn = match &change {
        OrderChange::Succeed { sn } => Some(sn.clone()),
        _ => None,
    };
    let s = Settle {
        attempt_id: att.id.clone(),
        order_version: o.version,
        state,
        result: AttemptResult {
            rc: Some("00".into()),
            sn,
            ..AttemptResult::default()
        },
        inquiry: false,
        change,
        now,
    };
    match store.settle_attempt(s).await.expect("settle_attempt") {
        Transition::Done(o) => o,
        Transition::Stale => panic!("settle_attempt on {} was stale", att.id),
    }
}

async fn change(store: &SqliteStore, order_id: &str, change: OrderChange, now: i64) -> Order {
    let o = load(store, order_id).await;
    let c = ChangeOrder {
        order_id: o.id.clone(),
        order_version: o.version,
        change,
        now,
    };
    match store.change_order(c).await.expect("change_order") {
        Transition::Done(o) => o,
        Transition::Stale => panic!("change_order on {order_id} was stale"),
    }
}

async fn problems(store: &SqliteStore) -> Vec<String> {
    store.verify().await.expect("verify").problems
}

async fn assert_clean(store: &SqliteStore) {
    let p = problems(store).await;
    assert!(p.is_empty(), "verify found problems: {p:#?}");
}

fn has_problem(problems: &[String], needles: &[&str]) -> bool {
    problems
        .iter()
        .any(|p| needles.iter().all(|n| p.contains(n)))
}

async fn all_orders(store: &SqliteStore, reseller: &str) -> Vec<Order> {
    store
        .list_orders(OrderQuery {
            reseller_id: reseller.to_owned(),
            limit: 10_000,
            ..OrderQuery::default()
        })
        .await
        .expect("list orders")
}

/// Orders in every state, for the verify and reopen tests.
struct Fixture {
    succeeded: String,
    failed: String,
    awaiting: String,
    awaiting_attempt: Attempt,
    manual: String,
    fresh: String,
    no_route: String,
    queued: String,
}

/// A realistic day: deposits, a success, a failover that ends failed, a failover that
/// waits at the second supplier, manual review, a fresh order, no route, queued.
async fn realistic(store: &SqliteStore) -> Fixture {
    add_reseller(store, "r1", Some("https://r1.example/callback")).await;
    add_reseller(store, "r2", None).await;
    store
        .deposit("r1", 100_000, "bank transfer", T0 + 1)
        .await
        .expect("deposit");
    store
        .deposit("r2", 50_000, "bank transfer", T0 + 2)
        .await
        .expect("deposit");

    let a = intake(
        store,
        new_order("r1", "inv-1", "TSEL10", DEST_A, 10_250, T0 + 10),
    )
    .await;
    let att = start(store, &a.id, "sup-a", T0 + 11).await;
    settle(
        store,
        &att,
        AttemptState::Success,
        OrderChange::Succeed {
            sn: "SN-0001".into(),
        },
        T0 + 12,
    )
    .await;

    let b = intake(
        store,
        new_order("r1", "inv-2", "XL25", DEST_B, 25_500, T0 + 20),
    )
    .await;
    let att = start(store, &b.id, "sup-a", T0 + 21).await;
    settle(
        store,
        &att,
        AttemptState::Failed,
        OrderChange::Dispatch { at: T0 + 22 },
        T0 + 22,
    )
    .await;
    let att = start(store, &b.id, "sup-b", T0 + 23).await;
    let fail = OrderChange::Fail {
        code: FailureCode::DestinationRejected,
    };
    settle(store, &att, AttemptState::Failed, fail, T0 + 24).await;

    let c = intake(
        store,
        new_order("r1", "inv-3", "TSEL5", DEST_A, 5_150, T0 + 30),
    )
    .await;
    let att = start(store, &c.id, "sup-a", T0 + 31).await;
    settle(
        store,
        &att,
        AttemptState::Failed,
        OrderChange::Dispatch { at: T0 + 32 },
        T0 + 32,
    )
    .await;
    let awaiting_attempt = start(store, &c.id, "sup-b", T0 + 33).await;
    settle(
        store,
        &awaiting_attempt,
        AttemptState::Pending,
        OrderChange::Await { at: T0 + 60_000 },
        T0 + 34,
    )
    .await;

    let g = intake(
        store,
        new_order("r1", "inv-4", "TSEL20", DEST_B, 20_000, T0 + 40),
    )
    .await;
    change(store, &g.id, OrderChange::ManualReview, T0 + 41).await;

    let d = intake(
        store,
        new_order("r2", "po-1", "XL10", DEST_A, 12_000, T0 + 50),
    )
    .await;
    let e = intake(
        store,
        new_order("r2", "po-2", "XL3", DEST_B, 3_000, T0 + 51),
    )
    .await;
    change(
        store,
        &e.id,
        OrderChange::Fail {
            code: FailureCode::ProductUnavailable,
        },
        T0 + 52,
    )
    .await;
    let f = intake(
        store,
        new_order("r2", "po-3", "XL7", DEST_A, 7_500, T0 + 53),
    )
    .await;
    change(
        store,
        &f.id,
        OrderChange::Queue { at: T0 + 120_000 },
        T0 + 54,
    )
    .await;

    Fixture {
        succeeded: a.id,
        failed: b.id,
        awaiting: c.id,
        awaiting_attempt,
        manual: g.id,
        fresh: d.id,
        no_route: e.id,
        queued: f.id,
    }
}

// ---------------------------------------------------------------------------------------
// 1. model-based proptest

const PRODUCTS: [&str; 2] = ["TSEL10", "XL5"];
const DESTS: [&str; 2] = [DEST_A, DEST_B];
const REFS: usize = 5;

#[derive(Debug, Clone, Copy)]
enum Outcome {
    Succeed,
    Fail,
    AwaitPending,
    AwaitUnknown,
    Dispatch,
}

#[derive(Debug, Clone)]
enum Op {
    Deposit {
        r: usize,
        amount: i64,
    },
    Intake {
        r: usize,
        ref_n: usize,
        product: usize,
        dest: usize,
        price: i64,
    },
    /// `prefer`: pick among the orders where the step can be done; otherwise any order
    /// (final ones too, which must answer `Stale`).
    Start {
        pick: usize,
        prefer: bool,
        stale: bool,
    },
    Settle {
        pick: usize,
        prefer: bool,
        outcome: Outcome,
        stale: bool,
    },
    Change {
        pick: usize,
        fail: bool,
        stale: bool,
    },
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let outcome = prop_oneof![
        Just(Outcome::Succeed),
        Just(Outcome::Fail),
        Just(Outcome::AwaitPending),
        Just(Outcome::AwaitUnknown),
        Just(Outcome::Dispatch),
    ];
    prop_oneof![
        3 => (0..3usize, 1..=60_000i64).prop_map(|(r, amount)| Op::Deposit { r, amount }),
        // Mostly the same product and destination per ref_id, so replays are common too.
        5 => (0..3usize, 0..REFS, prop::bool::weighted(0.2), prop::bool::weighted(0.2), 1..=25_000i64)
            .prop_map(|(r, ref_n, p, d, price)| Op::Intake {
                r,
                ref_n,
                product: usize::from(p),
                dest: usize::from(d),
                price,
            }),
        4 => (any::<usize>(), prop::bool::weighted(0.8), prop::bool::weighted(0.15))
            .prop_map(|(pick, prefer, stale)| Op::Start { pick, prefer, stale }),
        5 => (any::<usize>(), prop::bool::weighted(0.8), outcome, prop::bool::weighted(0.15))
            .prop_map(|(pick, prefer, outcome, stale)| Op::Settle { pick, prefer, outcome, stale }),
        2 => (any::<usize>(), any::<bool>(), prop::bool::weighted(0.15))
            .prop_map(|(pick, fail, stale)| Op::Change { pick, fail, stale }),
    ]
}

#[derive(Debug, Clone)]
struct MOrder {
    id: String,
    r: usize,
    ref_id: String,
    product: String,
    dest: String,
    price: i64,
    status: OrderStatus,
    stage: Option<Stage>,
    sn: Option<String>,
    failure: Option<FailureCode>,
    version: i64,
    /// +1 each time the order is queued; attempts carry the round they were made in.
    round: i64,
    /// The attempt that is still open (sending / pending / unknown).
    open: Option<String>,
    /// The most recent attempt that ended.
    closed: Option<String>,
    attempts: i64,
    inquiries: i64,
}

struct Model {
    resellers: Vec<String>,
    deposits: Vec<i64>,
    orders: Vec<MOrder>,
    /// (reseller, ref number, price) of intakes refused for lack of balance.
    refused: Vec<(usize, usize, i64)>,
}

impl Model {
    fn balance(&self, r: usize) -> Balance {
        let of = |s: OrderStatus| -> i64 {
            self.orders
                .iter()
                .filter(|o| o.r == r && o.status == s)
                .map(|o| o.price)
                .sum()
        };
        let held = of(OrderStatus::Pending);
        Balance {
            available: self.deposits[r] - of(OrderStatus::Success) - held,
            held,
        }
    }

    fn find(&self, r: usize, ref_id: &str) -> Option<usize> {
        self.orders
            .iter()
            .position(|o| o.r == r && o.ref_id == ref_id)
    }
}

fn fail(e: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

/// The order a step acts on: with `prefer`, one that `fits` (if any), else any order.
fn choose(m: &Model, pick: usize, prefer: bool, fits: impl Fn(&MOrder) -> bool) -> Option<usize> {
    let fitting: Vec<usize> = (0..m.orders.len())
        .filter(|&i| fits(&m.orders[i]))
        .collect();
    if prefer && !fitting.is_empty() {
        Some(fitting[pick % fitting.len()])
    } else if m.orders.is_empty() {
        None
    } else {
        Some(pick % m.orders.len())
    }
}

fn stale_version(v: i64) -> i64 {
    if v > 0 {
        v - 1
    } else {
        v + 1
    }
}

fn ref_name(n: usize) -> String {
    format!("ref-{n}")
}

/// Every invariant that must hold after any step, against the model.
async fn check(store: &SqliteStore, m: &Model) -> Result<(), TestCaseError> {
    let report = store.verify().await.map_err(fail)?;
    prop_assert!(report.ok(), "verify found problems: {:#?}", report.problems);
    prop_assert_eq!(report.orders, m.orders.len() as i64);
    for (r, rid) in m.resellers.iter().enumerate() {
        let b = store.balance(rid).await.map_err(fail)?;
        prop_assert!(
            b.available >= 0 && b.held >= 0,
            "{rid}: negative balance {b:?}"
        );
        prop_assert_eq!(b, m.balance(r), "balance of {}", rid);
        let listed = all_orders(store, rid).await;
        let expected: Vec<&MOrder> = m.orders.iter().filter(|o| o.r == r).collect();
        prop_assert_eq!(listed.len(), expected.len(), "order count of {}", rid);
        let by_id: HashMap<&str, &Order> = listed.iter().map(|o| (o.id.as_str(), o)).collect();
        for mo in expected {
            let Some(o) = by_id.get(mo.id.as_str()) else {
                return Err(fail(format!("order {} of {rid} is missing", mo.id)));
            };
            prop_assert_eq!(&o.reseller_id, rid);
            prop_assert_eq!(&o.ref_id, &mo.ref_id);
            prop_assert_eq!(&o.product, &mo.product);
            prop_assert_eq!(&o.destination, &mo.dest);
            prop_assert_eq!(o.price, mo.price);
            prop_assert_eq!(o.status, mo.status, "status of {}", mo.id);
            prop_assert_eq!(o.stage, mo.stage, "stage of {}", mo.id);
            prop_assert_eq!(&o.serial_number, &mo.sn, "sn of {}", mo.id);
            prop_assert_eq!(o.failure_code, mo.failure, "failure code of {}", mo.id);
            prop_assert_eq!(o.version, mo.version, "version of {}", mo.id);
            prop_assert_eq!(o.round, mo.round, "round of {}", mo.id);
        }
    }
    // Reseller 0 has a callback URL: exactly one callback per finished order of theirs.
    let finals = m
        .orders
        .iter()
        .filter(|o| o.r == 0 && o.status != OrderStatus::Pending)
        .count() as i64;
    prop_assert_eq!(
        store.outbox_pending_count().await.map_err(fail)?,
        finals,
        "outbox items"
    );
    Ok(())
}

async fn attempts_of(store: &SqliteStore, order_id: &str) -> Result<Vec<Attempt>, TestCaseError> {
    store.attempts(order_id).await.map_err(fail)
}

async fn apply(store: &SqliteStore, m: &mut Model, op: &Op, now: i64) -> Result<(), TestCaseError> {
    let n = m.resellers.len();
    match *op {
        Op::Deposit { r, amount } => {
            let r = r % n;
            let b = store
                .deposit(&m.resellers[r], amount, "top-up", now)
                .await
                .map_err(fail)?;
            m.deposits[r] += amount;
            prop_assert_eq!(b, m.balance(r), "balance returned by deposit");
        }
        Op::Intake {
            r,
            ref_n,
            product,
            dest,
            price,
        } => {
            let r = r % n;
            let ref_id = ref_name(ref_n);
            let req = new_order(
                &m.resellers[r],
                &ref_id,
                PRODUCTS[product],
                DESTS[dest],
                price,
                now,
            );
            let got = store.create_order(req.clone()).await.map_err(fail)?;
            match m.find(r, &ref_id) {
                Some(i) => {
                    let existing = &m.orders[i];
                    let same = existing.product == req.product && existing.dest == req.destination;
                    match got {
                        Intake::Replay(o) if same => {
                            prop_assert_eq!(&o.id, &existing.id, "replay returned another order");
                        }
                        Intake::Conflict(o) if !same => {
                            prop_assert_eq!(&o.id, &existing.id, "conflict names another order");
                            prop_assert_eq!(&o.product, &existing.product);
                            prop_assert_eq!(&o.destination, &existing.dest);
                        }
                        other => {
                            return Err(fail(format!(
                                "ref {ref_id} exists (same request: {same}), got {other:?}"
                            )));
                        }
                    }
                }
                None if m.balance(r).available >= price => {
                    let Intake::Created(o) = got else {
                        return Err(fail(format!("expected Created, got {got:?}")));
                    };
                    prop_assert_eq!(&o.id, &req.order_id);
                    prop_assert_eq!(o.status, OrderStatus::Pending);
                    m.orders.push(MOrder {
                        id: o.id,
                        r,
                        ref_id,
                        product: req.product,
                        dest: req.destination,
                        price,
                        status: OrderStatus::Pending,
                        stage: o.stage,
                        sn: None,
                        failure: None,
                        version: o.version,
                        round: 0,
                        open: None,
                        closed: None,
                        attempts: 0,
                        inquiries: 0,
                    });
                }
                None => {
                    prop_assert!(
                        matches!(got, Intake::InsufficientBalance),
                        "expected InsufficientBalance, got {got:?}"
                    );
                    let after = store
                        .order_by_ref(&m.resellers[r], &ref_id)
                        .await
                        .map_err(fail)?;
                    prop_assert!(after.is_none(), "refused intake left an order: {after:?}");
                    prop_assert!(store.order(&req.order_id).await.map_err(fail)?.is_none());
                    m.refused.push((r, ref_n, price));
                }
            }
        }
        Op::Start {
            pick,
            prefer,
            stale,
        } => {
            let Some(i) = choose(m, pick, prefer, |o| {
                o.status == OrderStatus::Pending && o.open.is_none()
            }) else {
                return Ok(());
            };
            let o = m.orders[i].clone();
            let final_ = o.status != OrderStatus::Pending;
            // A second attempt while one is open would break at-most-once: the store
            // answers Stale and writes nothing.
            let refused = !final_ && !stale && o.open.is_some();
            let version = if stale {
                stale_version(o.version)
            } else {
                o.version
            };
            let before = attempts_of(store, &o.id).await?;
            let current = load(store, &o.id).await;
            let a = new_attempt(
                &current,
                version,
                if o.attempts % 2 == 0 {
                    "sup-a"
                } else {
                    "sup-b"
                },
                now,
            );
            let res = store.start_attempt(a.clone()).await.map_err(fail)?;
            if final_ || stale || refused {
                prop_assert!(
                    matches!(res, Transition::Stale),
                    "expected Stale, got {res:?}"
                );
                prop_assert_eq!(
                    attempts_of(store, &o.id).await?,
                    before,
                    "a stale start changed attempts"
                );
                return Ok(());
            }
            let Transition::Done(att) = res else {
                return Err(fail("start_attempt with the current version was stale"));
            };
            prop_assert_eq!(&att.id, &a.attempt_id);
            prop_assert_eq!(&att.order_id, &o.id);
            prop_assert_eq!(att.state, AttemptState::Sending);
            prop_assert_eq!(att.seq, o.attempts + 1);
            prop_assert_eq!(att.round, o.round);
            prop_assert_eq!(att.cost, a.cost);
            prop_assert_eq!(&att.supplier_id, &a.supplier_id);
            let after = load(store, &o.id).await;
            prop_assert!(
                after.version > o.version,
                "start_attempt did not move the version"
            );
            let mo = &mut m.orders[i];
            mo.version = after.version;
            mo.stage = Some(Stage::Dispatching);
            mo.open = Some(att.id);
            mo.attempts += 1;
            mo.inquiries = 0;
        }
        Op::Settle {
            pick,
            prefer,
            outcome,
            stale,
        } => {
            let Some(i) = choose(m, pick, prefer, |o| o.open.is_some()) else {
                return Ok(());
            };
            let o = m.orders[i].clone();
            let (att_id, open) = match (&o.open, &o.closed) {
                (Some(a), _) => (a.clone(), true),
                (None, Some(a)) => (a.clone(), false),
                (None, None) => return Ok(()),
            };
            let version = if stale {
                stale_version(o.version)
            } else {
                o.version
            };
            let sn = format!("SN{now}");
            let at = now + 5_000;
            let (state, change, inquiry) = match outcome {
                Outcome::Succeed => (
                    AttemptState::Success,
                    OrderChange::Succeed { sn: sn.clone() },
                    false,
                ),
                Outcome::Fail => (
                    AttemptState::Failed,
                    OrderChange::Fail {
                        code: FailureCode::SupplierRejected,
                    },
                    false,
                ),
                Outcome::AwaitPending => (AttemptState::Pending, OrderChange::Await { at }, false),
                Outcome::AwaitUnknown => (AttemptState::Unknown, OrderChange::Await { at }, true),
                Outcome::Dispatch => (
                    AttemptState::Failed,
                    OrderChange::Dispatch { at: now },
                    false,
                ),
            };
            let result = AttemptResult {
                rc: Some("xx".into()),
                sn: matches!(outcome, Outcome::Succeed).then(|| sn.clone()),
                ..AttemptResult::default()
            };
            let before = attempts_of(store, &o.id).await?;
            let s = Settle {
                attempt_id: att_id.clone(),
                order_version: version,
                state,
                result,
                inquiry,
                change,
                now,
            };
            let res = store.settle_attempt(s).await.map_err(fail)?;
            if !open || stale {
                prop_assert!(
                    matches!(res, Transition::Stale),
                    "expected Stale, got {res:?}"
                );
                prop_assert_eq!(
                    attempts_of(store, &o.id).await?,
                    before,
                    "a stale settle changed attempts"
                );
                return Ok(());
            }
            let Transition::Done(after) = res else {
                return Err(fail("settle_attempt with the current version was stale"));
            };
            prop_assert!(after.version > o.version, "settle did not move the version");
            let mo = &mut m.orders[i];
            mo.version = after.version;
            mo.inquiries += i64::from(inquiry);
            let closes = !state.is_open();
            match outcome {
                Outcome::Succeed => {
                    mo.status = OrderStatus::Success;
                    mo.stage = None;
                    mo.sn = Some(sn.clone());
                }
                Outcome::Fail => {
                    mo.status = OrderStatus::Failed;
                    mo.stage = None;
                    mo.failure = Some(FailureCode::SupplierRejected);
                }
                Outcome::AwaitPending | Outcome::AwaitUnknown => {
                    mo.stage = Some(Stage::AwaitingSupplier)
                }
                Outcome::Dispatch => mo.stage = Some(Stage::Dispatching),
            }
            if closes {
                mo.open = None;
                mo.closed = Some(att_id.clone());
            }
            prop_assert_eq!(after.status, mo.status);
            prop_assert_eq!(after.stage, mo.stage);
            let (expected_inquiries, expected_attempts) = (mo.inquiries, mo.attempts);
            let atts = attempts_of(store, &o.id).await?;
            prop_assert_eq!(atts.len() as i64, expected_attempts);
            let Some(a) = atts.iter().find(|a| a.id == att_id) else {
                return Err(fail(format!("attempt {att_id} vanished")));
            };
            prop_assert_eq!(a.state, state);
            prop_assert_eq!(a.inquiries, expected_inquiries);
            prop_assert_eq!(a.finished_at, closes.then_some(now));
            let awaits = matches!(outcome, Outcome::AwaitPending | Outcome::AwaitUnknown);
            prop_assert_eq!(a.next_inquiry_at, awaits.then_some(at));
            if matches!(outcome, Outcome::Succeed) {
                prop_assert_eq!(&a.sn, &Some(sn));
            }
        }
        Op::Change {
            pick,
            fail: to_fail,
            stale,
        } => {
            if m.orders.is_empty() {
                return Ok(());
            }
            let i = pick % m.orders.len();
            let o = m.orders[i].clone();
            let final_ = o.status != OrderStatus::Pending;
            if !final_ && !stale && o.open.is_some() {
                // Failing or re-queueing an order whose attempt is still open would break
                // at-most-once: the store refuses with an error and writes nothing.
                let change = if to_fail {
                    OrderChange::Fail {
                        code: FailureCode::ProductUnavailable,
                    }
                } else {
                    OrderChange::Queue { at: now + 60_000 }
                };
                let before = attempts_of(store, &o.id).await?;
                let res = store
                    .change_order(ChangeOrder {
                        order_id: o.id.clone(),
                        order_version: o.version,
                        change,
                        now,
                    })
                    .await;
                prop_assert!(
                    res.is_err(),
                    "change with an open attempt must be refused: {res:?}"
                );
                prop_assert_eq!(attempts_of(store, &o.id).await?, before);
                prop_assert_eq!(
                    load(store, &o.id).await.version,
                    o.version,
                    "refused change moved the version"
                );
                return Ok(());
            }
            let version = if stale {
                stale_version(o.version)
            } else {
                o.version
            };
            let at = now + 60_000;
            let change = if to_fail {
                OrderChange::Fail {
                    code: FailureCode::ProductUnavailable,
                }
            } else {
                OrderChange::Queue { at }
            };
            let before = attempts_of(store, &o.id).await?;
            let res = store
                .change_order(ChangeOrder {
                    order_id: o.id.clone(),
                    order_version: version,
                    change,
                    now,
                })
                .await
                .map_err(fail)?;
            if final_ || stale {
                prop_assert!(
                    matches!(res, Transition::Stale),
                    "expected Stale, got {res:?}"
                );
                prop_assert_eq!(
                    attempts_of(store, &o.id).await?,
                    before,
                    "a stale change changed attempts"
                );
                return Ok(());
            }
            let Transition::Done(after) = res else {
                return Err(fail("change_order with the current version was stale"));
            };
            prop_assert!(after.version > o.version, "change did not move the version");
            let mo = &mut m.orders[i];
            mo.version = after.version;
            if to_fail {
                mo.status = OrderStatus::Failed;
                mo.stage = None;
                mo.failure = Some(FailureCode::ProductUnavailable);
                prop_assert_eq!(after.next_action_at, None);
            } else {
                mo.stage = Some(Stage::Queued);
                mo.round += 1;
                prop_assert_eq!(after.next_action_at, Some(at));
            }
            prop_assert_eq!(after.status, mo.status);
            prop_assert_eq!(
                attempts_of(store, &o.id).await?,
                before,
                "change_order touched attempts"
            );
        }
    }
    Ok(())
}

async fn run_model(n: usize, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).map_err(fail)?;
    let resellers: Vec<String> = (0..n).map(|i| format!("r{i}")).collect();
    for (i, id) in resellers.iter().enumerate() {
        add_reseller(
            &store,
            id,
            (i == 0).then_some("https://r0.example/callback"),
        )
        .await;
    }
    let mut m = Model {
        resellers,
        deposits: vec![0; n],
        orders: Vec::new(),
        refused: Vec::new(),
    };
    check(&store, &m).await?;
    let mut now = T0;
    for (step, op) in ops.iter().enumerate() {
        now += 1_000;
        let ctx = |e: TestCaseError| fail(format!("step {step} {op:?}: {e}"));
        apply(&store, &mut m, op, now).await.map_err(ctx)?;
        check(&store, &m).await.map_err(ctx)?;
    }
    // A refused ref_id stays free: once the balance covers it, the same ref_id is accepted.
    for (r, ref_n, price) in m.refused.clone() {
        if m.find(r, &ref_name(ref_n)).is_some() {
            continue;
        }
        for op in [
            Op::Deposit { r, amount: price },
            Op::Intake {
                r,
                ref_n,
                product: 0,
                dest: 0,
                price,
            },
        ] {
            now += 1_000;
            let ctx = |e: TestCaseError| fail(format!("retry of refused ref-{ref_n} {op:?}: {e}"));
            apply(&store, &mut m, &op, now).await.map_err(ctx)?;
            check(&store, &m).await.map_err(ctx)?;
        }
        prop_assert!(
            m.find(r, &ref_name(ref_n)).is_some(),
            "refused ref-{} was not accepted later",
            ref_n
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Random deposits, intakes (replays, conflicts, refusals), attempts, settlements and
    /// changes (some with stale versions) keep every ledger invariant after every step.
    #[test]
    fn ledger_and_orders_follow_the_model(n in 1usize..=3, ops in prop::collection::vec(op_strategy(), 1..60)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(fail)?;
        rt.block_on(run_model(n, ops))?;
    }
}

/// The balance guard at its edges: exactly enough is enough, one rupiah short is refused
/// cleanly (no error, nothing written) and the ref_id stays usable.
#[tokio::test(flavor = "multi_thread")]
async fn intake_balance_edges() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    add_reseller(&store, "r1", None).await;
    let refused = |res: Intake| assert!(matches!(res, Intake::InsufficientBalance), "{res:?}");

    refused(
        store
            .create_order(new_order("r1", "a", "TSEL10", DEST_A, 1, T0))
            .await
            .unwrap(),
    );
    store.deposit("r1", 10_000, "top-up", T0 + 1).await.unwrap();
    refused(
        store
            .create_order(new_order("r1", "a", "TSEL10", DEST_A, 10_001, T0 + 2))
            .await
            .unwrap(),
    );
    assert!(store.order_by_ref("r1", "a").await.unwrap().is_none());
    intake(
        &store,
        new_order("r1", "a", "TSEL10", DEST_A, 10_000, T0 + 3),
    )
    .await;
    assert_eq!(
        store.balance("r1").await.unwrap(),
        Balance {
            available: 0,
            held: 10_000
        }
    );

    store.deposit("r1", 4_999, "top-up", T0 + 4).await.unwrap();
    refused(
        store
            .create_order(new_order("r1", "b", "XL5", DEST_B, 5_000, T0 + 5))
            .await
            .unwrap(),
    );
    assert!(store.order_by_ref("r1", "b").await.unwrap().is_none());
    assert_eq!(
        store.balance("r1").await.unwrap(),
        Balance {
            available: 4_999,
            held: 10_000
        }
    );
    let b = intake(&store, new_order("r1", "b", "XL5", DEST_B, 4_999, T0 + 6)).await;
    assert_eq!(
        store.balance("r1").await.unwrap(),
        Balance {
            available: 0,
            held: 14_999
        }
    );

    // A replay is answered even with no balance left; an unknown reseller is named as such.
    match store
        .create_order(new_order("r1", "b", "XL5", DEST_B, 4_999, T0 + 7))
        .await
        .unwrap()
    {
        Intake::Replay(o) => assert_eq!(o.id, b.id),
        other => panic!("expected a replay, got {other:?}"),
    }
    let ghost = store
        .create_order(new_order("ghost", "c", "XL5", DEST_B, 1, T0 + 8))
        .await
        .unwrap();
    assert!(matches!(ghost, Intake::UnknownReseller), "{ghost:?}");
    assert!(store.deposit("ghost", 1, "top-up", T0 + 9).await.is_err());
    assert_eq!(
        store.balance("r1").await.unwrap(),
        Balance {
            available: 0,
            held: 14_999
        }
    );
    assert_clean(&store).await;
}

// ---------------------------------------------------------------------------------------
// 2. verify on healthy and broken databases

async fn healthy() -> (TempDir, PathBuf, SqliteStore, Fixture) {
    let (dir, path) = temp_db();
    let store = SqliteStore::open(&path).expect("open store");
    let fx = realistic(&store).await;
    assert_clean(&store).await;
    (dir, path, store, fx)
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_is_clean_after_a_realistic_day() {
    let (_dir, _path, store, fx) = healthy().await;
    let report = store.verify().await.expect("verify");
    assert!(report.ok(), "{:#?}", report.problems);
    assert_eq!(report.orders, 7);
    // 2 deposits + 7 reservations + 1 post + 2 voids.
    assert_eq!(report.transfers, 12);
    // 2 resellers x (available, held) + cash + sales + cost + the one supplier paid.
    assert_eq!(report.accounts, 8);
    assert_eq!(
        store.balance("r1").await.unwrap(),
        Balance {
            available: 100_000 - 10_250 - 5_150 - 20_000,
            held: 5_150 + 20_000
        }
    );
    assert_eq!(
        store.balance("r2").await.unwrap(),
        Balance {
            available: 50_000 - 12_000 - 7_500,
            held: 12_000 + 7_500
        }
    );
    let status = |id: String| {
        let store = &store;
        async move { load(store, &id).await }
    };
    let a = status(fx.succeeded.clone()).await;
    assert_eq!(
        (a.status, a.serial_number.as_deref()),
        (OrderStatus::Success, Some("SN-0001"))
    );
    let b = status(fx.failed.clone()).await;
    assert_eq!(
        (b.status, b.failure_code),
        (OrderStatus::Failed, Some(FailureCode::DestinationRejected))
    );
    assert_eq!(store.attempts(&fx.failed).await.unwrap().len(), 2);
    let c = status(fx.awaiting.clone()).await;
    assert_eq!(
        (c.status, c.stage),
        (OrderStatus::Pending, Some(Stage::AwaitingSupplier))
    );
    assert_eq!(
        status(fx.manual.clone()).await.stage,
        Some(Stage::ManualReview)
    );
    assert_eq!(
        status(fx.fresh.clone()).await.stage,
        Some(Stage::Dispatching)
    );
    assert_eq!(
        status(fx.no_route.clone()).await.failure_code,
        Some(FailureCode::ProductUnavailable)
    );
    assert_eq!(status(fx.queued.clone()).await.stage, Some(Stage::Queued));
    // Only r1 has a callback URL: one message per finished order of r1.
    assert_eq!(store.outbox_pending_count().await.unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_reports_a_balance_changed_without_a_posting() {
    let (_dir, path, store, _fx) = healthy().await;
    let raw = raw_conn(&path);
    raw.execute(
        "UPDATE accounts SET balance = balance + 777 WHERE id = 'reseller:r1:available'",
        [],
    )
    .unwrap();
    let p = problems(&store).await;
    assert!(
        has_problem(
            &p,
            &[
                "differs from the sum of its postings",
                "account reseller:r1:available"
            ]
        ),
        "{p:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_reports_an_unbalanced_transfer() {
    let (_dir, path, store, _fx) = healthy().await;
    let mut raw = raw_conn(&path);
    // A forged deposit with only the reseller's side: the account itself agrees with its
    // postings, only the transfer does not sum to zero.
    let tx = raw.transaction().unwrap();
    tx.execute(
        "INSERT INTO transfers (kind, reseller_id, amount, note, created_at) VALUES ('deposit', 'r2', 500, 'forged', ?1)",
        [T0 + 99],
    )
    .unwrap();
    let tid = tx.last_insert_rowid();
    tx.execute(
        "INSERT INTO postings (transfer_id, account_id, amount, balance_after)
         VALUES (?1, 'reseller:r2:available', 500, (SELECT balance + 500 FROM accounts WHERE id = 'reseller:r2:available'))",
        [tid],
    )
    .unwrap();
    tx.execute(
        "UPDATE accounts SET balance = balance + 500 WHERE id = 'reseller:r2:available'",
        [],
    )
    .unwrap();
    tx.commit().unwrap();
    let p = problems(&store).await;
    assert!(
        has_problem(
            &p,
            &[
                "transfer does not balance",
                &format!("transfer {tid} (deposit)"),
                "sum 500"
            ]
        ),
        "{p:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_reports_an_order_marked_success_without_a_post() {
    let (_dir, path, store, fx) = healthy().await;
    let raw = raw_conn(&path);
    let n = raw
        .execute("UPDATE orders SET status = 'success', stage = NULL, version = version + 1 WHERE id = ?1", [&fx.fresh])
        .unwrap();
    assert_eq!(n, 1);
    let p = problems(&store).await;
    assert!(
        has_problem(
            &p,
            &[
                "did not end exactly once",
                &format!("order {} (success)", fx.fresh),
                "posts 0"
            ]
        ),
        "{p:#?}"
    );
    assert!(
        has_problem(&p, &["held balance differs", "reseller r2"]),
        "{p:#?}"
    );
    assert!(
        has_problem(
            &p,
            &["no successful attempt", &format!("order {}", fx.fresh)]
        ),
        "{p:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_reports_a_negative_reseller_balance() {
    let (_dir, path, store, _fx) = healthy().await;
    let before = store.balance("r2").await.unwrap().available;
    let amount = before + 1_000;
    let mut raw = raw_conn(&path);
    // A balanced, correctly posted withdrawal that is simply larger than the balance.
    let tx = raw.transaction().unwrap();
    tx.execute(
        "INSERT INTO transfers (kind, reseller_id, amount, note, created_at) VALUES ('withdraw', 'r2', ?1, 'too much', ?2)",
        [amount, T0 + 99],
    )
    .unwrap();
    let tid = tx.last_insert_rowid();
    for (account, delta) in [("reseller:r2:available", -amount), ("asset:cash", amount)] {
        tx.execute(
            "UPDATE accounts SET balance = balance + ?2 WHERE id = ?1",
            rusqlite::params![account, delta],
        )
        .unwrap();
        tx.execute(
            "INSERT INTO postings (transfer_id, account_id, amount, balance_after)
             VALUES (?1, ?2, ?3, (SELECT balance FROM accounts WHERE id = ?2))",
            rusqlite::params![tid, account, delta],
        )
        .unwrap();
    }
    tx.commit().unwrap();
    assert_eq!(store.balance("r2").await.unwrap().available, -1_000);
    let p = problems(&store).await;
    assert!(
        has_problem(
            &p,
            &[
                "reseller balance is negative",
                "account reseller:r2:available",
                "balance -1000"
            ]
        ),
        "{p:#?}"
    );
}

// ---------------------------------------------------------------------------------------
// 3. idempotency and the balance guard under concurrency

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_replays_create_one_order_and_reserve_once() {
    let (_dir, path) = temp_db();
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    add_reseller(&store, "r1", None).await;
    store.deposit("r1", 100_000, "top-up", T0).await.unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(50));
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let (store, barrier) = (store.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let req = new_order("r1", "same-ref", "TSEL10", DEST_A, 10_000, T0 + i);
                let own_id = req.order_id.clone();
                (own_id, store.create_order(req).await.expect("create_order"))
            })
        })
        .collect();
    let mut created = Vec::new();
    let mut ids = Vec::new();
    for t in tasks {
        let (own_id, res) = t.await.unwrap();
        match res {
            Intake::Created(o) => {
                assert_eq!(o.id, own_id);
                created.push(o.id.clone());
                ids.push(o.id);
            }
            Intake::Replay(o) => ids.push(o.id),
            other => panic!("unexpected intake result {other:?}"),
        }
    }
    assert_eq!(created.len(), 1, "exactly one request creates the order");
    assert!(
        ids.iter().all(|id| *id == created[0]),
        "every replay names the same order: {ids:?}"
    );
    assert_eq!(
        store.balance("r1").await.unwrap(),
        Balance {
            available: 90_000,
            held: 10_000
        }
    );
    assert_eq!(all_orders(&store, "r1").await.len(), 1);
    let lines = store.statement("r1", 0, i64::MAX, 1_000).await.unwrap();
    assert_eq!(
        lines.iter().filter(|l| l.kind == "reserve").count(),
        1,
        "{lines:?}"
    );
    assert_clean(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_orders_never_overdraw() {
    let (_dir, path) = temp_db();
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    // (reseller, deposit, price): 37 and 17 orders fit.
    let plan = [("r1", 375_000i64, 10_000i64), ("r2", 123_456, 7_000)];
    for (r, deposit, _) in plan {
        add_reseller(&store, r, None).await;
        store.deposit(r, deposit, "top-up", T0).await.unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (store, stop) = (store.clone(), stop.clone());
        tokio::spawn(async move {
            let mut looks = 0u32;
            while !stop.load(Ordering::Relaxed) {
                for (r, deposit, _) in plan {
                    let b = store.balance(r).await.unwrap();
                    assert!(b.available >= 0 && b.held >= 0, "{r}: {b:?}");
                    assert_eq!(
                        b.available + b.held,
                        deposit,
                        "{r}: a reservation was seen half done"
                    );
                }
                looks += 1;
                tokio::task::yield_now().await;
            }
            looks
        })
    };
    let tasks: Vec<_> = (0..200usize)
        .map(|i| {
            let store = store.clone();
            let (r, _, price) = plan[i % 2];
            tokio::spawn(async move {
                let req = new_order(
                    r,
                    &format!("bulk-{i}"),
                    "TSEL10",
                    DEST_A,
                    price,
                    T0 + i as i64,
                );
                (r, store.create_order(req).await.expect("create_order"))
            })
        })
        .collect();
    let mut created: HashMap<&str, i64> = HashMap::new();
    for t in tasks {
        let (r, res) = t.await.unwrap();
        match res {
            Intake::Created(_) => *created.entry(r).or_default() += 1,
            Intake::InsufficientBalance => {}
            other => panic!("unexpected intake result {other:?}"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    assert!(watcher.await.unwrap() > 0);
    for (r, deposit, price) in plan {
        let n = created.get(r).copied().unwrap_or(0);
        assert_eq!(n, deposit / price, "{r}: orders created");
        let b = store.balance(r).await.unwrap();
        assert_eq!(
            b,
            Balance {
                available: deposit - n * price,
                held: n * price
            },
            "{r}"
        );
        assert!(b.available >= 0 && b.available < price);
        assert_eq!(all_orders(&store, r).await.len() as i64, n);
    }
    assert_clean(&store).await;
}

// ---------------------------------------------------------------------------------------
// 4. group commit: a failing job does not take its batch down

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_jobs_do_not_roll_back_their_batch() {
    let (_dir, path) = temp_db();
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    for r in ["r1", "r2", "r3", "r4"] {
        add_reseller(&store, r, None).await;
    }
    store.deposit("r4", 1_000_000, "float", T0).await.unwrap();

    // Hold the write lock from outside: the writer blocks on its first job, and every job
    // sent meanwhile is queued and then committed together in one batch.
    let raw = raw_conn(&path);
    raw.execute_batch("BEGIN IMMEDIATE").unwrap();
    let first = {
        let store = store.clone();
        tokio::spawn(async move { store.deposit("r1", 1, "first", T0 + 1).await.map(|_| ()) })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;

    // kind 0: deposit r1 (ok); 1: deposit to an unknown reseller (error); 2: deposit r2 (ok);
    // 3: non-positive deposit (error); 4: negative-price order, which fails after it has
    // written the order and part of the reservation (error, must be rolled back whole);
    // 5: an order on r4 (ok).
    let tasks: Vec<_> = (0..240i64)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let now = T0 + 10 + i;
                let res = match i % 6 {
                    0 => store.deposit("r1", 100 + i, "batch", now).await.map(|_| ()),
                    1 => store
                        .deposit(&format!("ghost-{i}"), 100, "batch", now)
                        .await
                        .map(|_| ()),
                    2 => store
                        .deposit("r2", 1_000 + i, "batch", now)
                        .await
                        .map(|_| ()),
                    3 => store.deposit("r1", -i, "batch", now).await.map(|_| ()),
                    4 => store
                        .create_order(new_order(
                            "r3",
                            &format!("neg-{i}"),
                            "TSEL10",
                            DEST_A,
                            -500,
                            now,
                        ))
                        .await
                        .map(|_| ()),
                    _ => match store
                        .create_order(new_order(
                            "r4",
                            &format!("ok-{i}"),
                            "XL5",
                            DEST_B,
                            1_000,
                            now,
                        ))
                        .await
                    {
                        Ok(Intake::Created(_)) => Ok(()),
                        Ok(other) => panic!("order {i}: {other:?}"),
                        Err(e) => Err(e),
                    },
                };
                (i, res)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !first.is_finished(),
        "a write was answered before it could commit"
    );
    assert!(
        tasks.iter().all(|t| !t.is_finished()),
        "a write was answered before it could commit"
    );
    raw.execute_batch("COMMIT").unwrap();

    first.await.unwrap().expect("first deposit");
    let (mut r1, mut r2) = (1i64, 0i64);
    for t in tasks {
        let (i, res) = t.await.unwrap();
        let should_fail = matches!(i % 6, 1 | 3 | 4);
        assert_eq!(
            res.is_err(),
            should_fail,
            "job {i} (kind {}): {res:?}",
            i % 6
        );
        match i % 6 {
            0 => r1 += 100 + i,
            2 => r2 += 1_000 + i,
            _ => {}
        }
    }
    assert_eq!(
        store.balance("r1").await.unwrap(),
        Balance {
            available: r1,
            held: 0
        }
    );
    assert_eq!(
        store.balance("r2").await.unwrap(),
        Balance {
            available: r2,
            held: 0
        }
    );
    assert_eq!(store.balance("r3").await.unwrap(), Balance::default());
    assert_eq!(
        store.balance("r4").await.unwrap(),
        Balance {
            available: 1_000_000 - 40_000,
            held: 40_000
        }
    );
    assert!(
        all_orders(&store, "r3").await.is_empty(),
        "a failed intake left an order"
    );
    assert_eq!(all_orders(&store, "r4").await.len(), 40);
    let lines = store.statement("r1", 0, i64::MAX, 1_000).await.unwrap();
    assert_eq!(lines.len(), 41, "one statement line per accepted deposit");
    assert!(store.reseller("ghost-1").await.unwrap().is_none());
    assert_clean(&store).await;
}

// ---------------------------------------------------------------------------------------
// 5. durability across reopen

/// Everything a reader can see, as text.
async fn snapshot(store: &SqliteStore) -> String {
    let mut out = String::new();
    for r in store.list_resellers().await.unwrap() {
        out += &format!("{r:?}\n{:?}\n", store.balance(&r.id).await.unwrap());
        out += &format!(
            "{:?}\n",
            store.statement(&r.id, 0, i64::MAX, 10_000).await.unwrap()
        );
        for o in all_orders(store, &r.id).await {
            out += &format!("{o:?}\n{:?}\n", store.attempts(&o.id).await.unwrap());
        }
    }
    out += &format!(
        "{:?}\n",
        store.due_outbox(i64::MAX, 1_000, &[]).await.unwrap()
    );
    out += &format!("{:?}\n", store.due_orders(i64::MAX, 1_000).await.unwrap());
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn everything_survives_reopen() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    let fx = realistic(&store).await;
    let before = snapshot(&store).await;
    let counts = store.verify().await.unwrap();
    assert!(
        before.contains(&fx.awaiting) && before.contains("SN-0001"),
        "{before}"
    );

    // As if the process died right now: copy the files as they are on disk (database and
    // WAL, no shared-memory index) while the store is still open.
    let (_crash_dir, crash_path) = temp_db();
    std::fs::copy(&path, &crash_path).unwrap();
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    if wal.exists() {
        std::fs::copy(&wal, format!("{}-wal", crash_path.display())).unwrap();
    }
    drop(store);

    for p in [&path, &crash_path] {
        let store = SqliteStore::open(p).unwrap();
        assert_eq!(
            snapshot(&store).await,
            before,
            "{} differs after reopen",
            p.display()
        );
        let report = store.verify().await.unwrap();
        assert!(report.ok(), "{:#?}", report.problems);
        assert_eq!(
            (report.orders, report.transfers, report.accounts),
            (counts.orders, counts.transfers, counts.accounts)
        );
    }

    // The reopened store carries on where it was: replays, the open attempt, new orders.
    let store = SqliteStore::open(&path).unwrap();
    let version: i64 = raw_conn(&path)
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SqliteStore::schema_version());
    match store
        .create_order(new_order("r1", "inv-3", "TSEL5", DEST_A, 5_150, T0 + 500))
        .await
        .unwrap()
    {
        Intake::Replay(o) => assert_eq!(o.id, fx.awaiting),
        other => panic!("expected a replay, got {other:?}"),
    }
    let att = store
        .attempt_by_supplier_ref("sup-b", &fx.awaiting_attempt.supplier_ref)
        .await
        .unwrap()
        .expect("open attempt survives");
    assert_eq!(att.state, AttemptState::Pending);
    let done = settle(
        &store,
        &att,
        AttemptState::Success,
        OrderChange::Succeed {
            sn: "SN-LATE".into(),
        },
        T0 + 501,
    )
    .await;
    assert_eq!(done.status, OrderStatus::Success);
    intake(
        &store,
        new_order("r2", "po-4", "XL10", DEST_B, 1_000, T0 + 502),
    )
    .await;
    assert_eq!(
        store.balance("r1").await.unwrap(),
        Balance {
            available: 64_600,
            held: 20_000
        }
    );
    assert_clean(&store).await;
    drop(store);
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        load(&store, &fx.awaiting).await.serial_number.as_deref(),
        Some("SN-LATE")
    );
    assert_eq!(all_orders(&store, "r2").await.len(), 4);
    assert_clean(&store).await;
}

// ---------------------------------------------------------------------------------------
// the notice outbox (SPEC 9)

fn fan(subject: &str, targets: &[&str], topic: &str, gap: i64, now: i64) -> crate::Fanout {
    crate::Fanout {
        body: crate::NoticeBody {
            kind: "incident.updated".into(),
            subject: subject.into(),
            text: subject.into(),
            html: subject.into(),
            payload: "{}".into(),
        },
        notices: targets
            .iter()
            .map(|t| crate::NewNotice {
                msg_id: format!("msg_{subject}_{t}"),
                channel: "email".into(),
                target: (*t).into(),
                topic: topic.into(),
                unsub: None,
            })
            .collect(),
        marks: vec![("cursor".into(), subject.into())],
        coalesce_ms: gap,
        now,
    }
}

/// A newer notice for a topic still waiting replaces it; one sent recently delays the
/// next by the gap; claims are leased and released; marks are written with the fan-out.
#[tokio::test(flavor = "multi_thread")]
async fn notices_coalesce_by_topic_and_claims_are_leased() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    let gap = 600_000;
    store
        .enqueue_notices(fan("one", &["a", "b"], "component:x", gap, T0))
        .await
        .unwrap();
    assert_eq!(
        store.notify_mark("cursor").await.unwrap().as_deref(),
        Some("one")
    );
    // Still waiting: "two" replaces "one" for both targets.
    store
        .enqueue_notices(fan("two", &["a", "b"], "component:x", gap, T0 + 1))
        .await
        .unwrap();
    let claimed = store
        .claim_notices("email", T0 + 2, 10, 1_000)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    assert!(claimed
        .iter()
        .all(|n| n.body.subject == "two" && n.msg_id.starts_with("msg_two")));
    // Leased: not claimed again until the lease ends.
    assert!(store
        .claim_notices("email", T0 + 3, 10, 1_000)
        .await
        .unwrap()
        .is_empty());
    // While "two" is being sent, "three" waits a full gap.
    store
        .enqueue_notices(fan("three", &["a"], "component:x", gap, T0 + 4))
        .await
        .unwrap();
    assert!(store
        .claim_notices("email", T0 + 5, 10, 1_000)
        .await
        .unwrap()
        .is_empty());
    store.notice_done(claimed[0].id, T0 + 10).await.unwrap();
    // Lease over for b: claimed again (at-least-once after a crash).
    let again = store
        .claim_notices("email", T0 + 2_000, 10, 1_000)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].target, claimed[1].target);
    store
        .notice_retry(again[0].id, T0 + 2_000, "HTTP 500", false)
        .await
        .unwrap();
    // "four" replaces the waiting "three" and keeps its place after the gap.
    store
        .enqueue_notices(fan("four", &["a"], "component:x", gap, T0 + 3_000))
        .await
        .unwrap();
    let early = store
        .claim_notices("email", T0 + 5_000, 10, 1_000)
        .await
        .unwrap();
    assert_eq!(early.len(), 1, "only b's retry is due");
    assert_eq!(early[0].body.subject, "two");
    store.notice_done(early[0].id, T0 + 5_001).await.unwrap();
    let later = store
        .claim_notices("email", T0 + 4 + gap, 10, 1_000)
        .await
        .unwrap();
    assert_eq!(later.len(), 1);
    assert_eq!(
        (later[0].target.as_str(), later[0].body.subject.as_str()),
        ("a", "four")
    );
    // Another topic is not held back.
    store
        .enqueue_notices(fan("other", &["a"], "incident:9", gap, T0 + 6_000))
        .await
        .unwrap();
    assert_eq!(
        store
            .claim_notices("email", T0 + 6_000, 10, 1_000)
            .await
            .unwrap()
            .len(),
        1
    );
    // Start-up releases every claim.
    assert!(store.release_notices(T0 + 7_000).await.unwrap() >= 2);
    let counts = store.notice_counts().await.unwrap();
    assert!(
        counts
            .iter()
            .any(|(c, s, n)| c == "email" && s == "delivered" && *n == 2),
        "{counts:?}"
    );
}

#[tokio::test]
async fn the_outbox_feed_carries_each_committed_message_and_marks_go_in_one_write() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    let mut feed = store.subscribe_outbox().expect("SQLite has a feed");
    add_reseller(&store, "r1", Some("http://a.test/cb")).await;
    add_reseller(&store, "r2", None).await;
    for r in ["r1", "r2"] {
        store.deposit(r, 100_000, "top-up", T0 + 1).await.unwrap();
    }
    let mut orders = Vec::new();
    for (r, k) in [("r1", 0), ("r2", 0), ("r1", 1)] {
        let o = intake(
            &store,
            new_order(
                r,
                &format!("ref-{k}"),
                "TSEL10",
                "081234567890",
                10_500,
                T0 + 2,
            ),
        )
        .await;
        let a = start(&store, &o.id, "sim0", T0 + 3).await;
        settle(
            &store,
            &a,
            AttemptState::Success,
            OrderChange::Succeed { sn: "SN1".into() },
            T0 + 4,
        )
        .await;
        orders.push(o);
    }
    // r2 has no callback URL: two messages, in commit order, as the table has them.
    let mut fed = Vec::new();
    while let Ok(item) = feed.try_recv() {
        fed.push(item);
    }
    let due = store.due_outbox(T0 + 10, 100, &[]).await.unwrap();
    let ids = |v: &[crate::OutboxItem]| {
        v.iter()
            .map(|i| (i.id, i.msg_id.clone(), i.order_id.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&fed), ids(&due));
    assert_eq!(
        fed.iter()
            .map(|i| i.order_id.clone().unwrap())
            .collect::<Vec<_>>(),
        vec![orders[0].id.clone(), orders[2].id.clone()]
    );
    assert!(fed
        .iter()
        .all(|i| i.target == "http://a.test/cb" && i.attempts == 0));
    // Each fed message carries its order as committed with it (final, with the serial).
    for (item, o) in fed.iter().zip([&orders[0], &orders[2]]) {
        let snap = item
            .order
            .as_ref()
            .expect("a fed message carries its order");
        assert_eq!(snap.id, o.id);
        assert_eq!(snap.status, OrderStatus::Success);
        assert_eq!(snap.serial_number.as_deref(), Some("SN1"));
    }
    assert!(due.iter().all(|i| i.order.is_none()));
    store
        .outbox_done_many(fed.iter().map(|i| i.id).collect(), T0 + 11)
        .await
        .unwrap();
    assert!(store
        .due_outbox(T0 + 20, 100, &[])
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.outbox_pending_count().await.unwrap(), 0);
    // A job that enqueues nothing sends nothing.
    store.deposit("r1", 5, "more", T0 + 30).await.unwrap();
    assert!(feed.try_recv().is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn due_outbox_leaves_out_the_skipped_targets() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    let targets = ["http://a.test/cb", "http://b.test/cb", "http://c.test/cb"];
    for (i, t) in targets.iter().enumerate() {
        let r = format!("r{i}");
        add_reseller(&store, &r, Some(t)).await;
        store.deposit(&r, 100_000, "top-up", T0 + 1).await.unwrap();
        for k in 0..2 {
            let o = intake(
                &store,
                new_order(
                    &r,
                    &format!("ref-{k}"),
                    "TSEL10",
                    "081234567890",
                    10_500,
                    T0 + 2,
                ),
            )
            .await;
            let a = start(&store, &o.id, "sim0", T0 + 3).await;
            settle(
                &store,
                &a,
                AttemptState::Success,
                OrderChange::Succeed { sn: "SN1".into() },
                T0 + 4,
            )
            .await;
        }
    }
    let targets_of = |items: Vec<crate::OutboxItem>| {
        let mut t: Vec<String> = items.into_iter().map(|i| i.target).collect();
        t.dedup();
        t
    };
    let all = store.due_outbox(T0 + 10, 100, &[]).await.unwrap();
    assert_eq!(all.len(), 6);
    let skip = vec![targets[0].to_owned(), targets[2].to_owned()];
    let some = store.due_outbox(T0 + 10, 100, &skip).await.unwrap();
    assert_eq!(targets_of(some), vec![targets[1].to_owned()]);
    // The limit still applies with targets left out.
    let one = store.due_outbox(T0 + 10, 1, &skip[..1]).await.unwrap();
    assert_eq!(one.len(), 1);
    assert_ne!(one[0].target, targets[0]);
    let skip_all: Vec<String> = targets.iter().map(|t| (*t).to_owned()).collect();
    assert!(store
        .due_outbox(T0 + 10, 100, &skip_all)
        .await
        .unwrap()
        .is_empty());
    assert!(
        store.due_outbox(T0, 100, &[]).await.unwrap().is_empty(),
        "not yet due"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_order_and_its_first_attempt_commit_together() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    add_reseller(&store, "r1", Some("http://r1.test/cb")).await;
    store.deposit("r1", 15_000, "top-up", T0 + 1).await.unwrap();
    let first_of = |n: &NewOrder, supplier: &str| NewAttempt {
        order_id: n.order_id.clone(),
        order_version: 0,
        attempt_id: format!("att_{}", ulid::Ulid::new()),
        supplier_id: supplier.to_owned(),
        sku: format!("TSEL10-{supplier}"),
        cost: 10_150,
        supplier_ref: format!("sr_{}", ulid::Ulid::new()),
        lease_until: n.now + 30_000,
        now: n.now,
    };
    let n = new_order("r1", "ref-1", "TSEL10", "081234567890", 10_500, T0 + 2);
    let first = first_of(&n, "sim0");
    let (intake, attempt) = store
        .create_order_with_attempt(n.clone(), first.clone())
        .await
        .unwrap();
    let Intake::Created(o) = intake else {
        panic!("expected a new order, got {intake:?}")
    };
    let a = attempt.expect("the first attempt");
    assert_eq!((a.seq, a.round, a.state), (1, 0, AttemptState::Sending));
    assert_eq!(a.supplier_ref, first.supplier_ref);
    let now = load(&store, &o.id).await;
    assert_eq!(now.version, 1, "the attempt moved the order on");
    assert_eq!(now.next_action_at, Some(first.lease_until));
    assert_eq!(store.balance("r1").await.unwrap().held, 10_500);

    // The same request again: a replay of the order, and no second attempt.
    let again = NewOrder {
        order_id: format!("ord_{}", ulid::Ulid::new()),
        ..n.clone()
    };
    let (intake, attempt) = store
        .create_order_with_attempt(again.clone(), first_of(&again, "sim1"))
        .await
        .unwrap();
    assert!(
        matches!(intake, Intake::Replay(ref r) if r.id == o.id),
        "{intake:?}"
    );
    assert!(attempt.is_none());
    assert_eq!(store.attempts(&o.id).await.unwrap().len(), 1);

    // Not enough balance for another: nothing written, no attempt.
    let poor = new_order("r1", "ref-2", "TSEL10", "081234567891", 10_500, T0 + 3);
    let (intake, attempt) = store
        .create_order_with_attempt(poor.clone(), first_of(&poor, "sim0"))
        .await
        .unwrap();
    assert!(matches!(intake, Intake::InsufficientBalance), "{intake:?}");
    assert!(attempt.is_none());

    // An attempt that is not this order's first is refused, and the order is not taken.
    let odd = new_order("r1", "ref-3", "TSEL10", "081234567892", 1_000, T0 + 4);
    let mut wrong = first_of(&odd, "sim0");
    wrong.order_version = 1;
    assert!(store
        .create_order_with_attempt(odd.clone(), wrong)
        .await
        .is_err());
    assert!(store.order(&odd.order_id).await.unwrap().is_none());
    assert_eq!(store.balance("r1").await.unwrap().held, 10_500);
    assert_clean(&store).await;
}

/// The one-pass intake (order, reservation and first attempt written together) leaves
/// exactly the rows, and answers exactly what, `create_order` then `start_attempt` would.
#[tokio::test(flavor = "multi_thread")]
async fn the_one_pass_intake_writes_what_the_two_steps_would() {
    let (_dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    add_reseller(&store, "r1", None).await;
    store.deposit("r1", 50_000, "top-up", T0 + 1).await.unwrap();
    let t = T0 + 10;
    // Two steps.
    let two = new_order("r1", "ref-two", "TSEL10", "081234567890", 10_500, t);
    let created_two = intake(&store, two.clone()).await;
    let first_two = new_attempt(&created_two, 0, "sim0", t + 1);
    let Transition::Done(att_two) = store.start_attempt(first_two.clone()).await.unwrap() else {
        panic!("stale")
    };
    // One pass, with the same values.
    let one = NewOrder {
        order_id: format!("ord_{}", ulid::Ulid::new()),
        ref_id: "ref-one".into(),
        ..two.clone()
    };
    let first_one = NewAttempt {
        order_id: one.order_id.clone(),
        attempt_id: format!("att_{}", ulid::Ulid::new()),
        supplier_ref: format!("sr_{}", ulid::Ulid::new()),
        ..first_two.clone()
    };
    let (intake_one, att_one) = store
        .create_order_with_attempt(one.clone(), first_one.clone())
        .await
        .unwrap();
    let Intake::Created(created_one) = intake_one else {
        panic!("expected a new order, got {intake_one:?}")
    };
    let att_one = att_one.expect("the first attempt");
    // What each answered, ids aside.
    let same_ids = |o: &Order| Order {
        id: two.order_id.clone(),
        ref_id: two.ref_id.clone(),
        ..o.clone()
    };
    let same_attempt = |a: &Attempt| Attempt {
        id: att_two.id.clone(),
        order_id: att_two.order_id.clone(),
        supplier_ref: att_two.supplier_ref.clone(),
        ..a.clone()
    };
    assert_eq!(
        same_ids(&created_one),
        created_two,
        "the order before its attempt"
    );
    assert_eq!(same_attempt(&att_one), att_two);
    // What each wrote.
    assert_eq!(
        same_ids(&load(&store, &one.order_id).await),
        load(&store, &two.order_id).await
    );
    let stored_one = store.attempts(&one.order_id).await.unwrap();
    let stored_two = store.attempts(&two.order_id).await.unwrap();
    assert_eq!(
        stored_one,
        vec![att_one.clone()],
        "the answer is what was written"
    );
    assert_eq!(stored_two, vec![att_two.clone()]);
    assert_eq!(store.balance("r1").await.unwrap().held, 21_000);
    assert_clean(&store).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_online_backup_is_one_consistent_moment_while_writes_go_on() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let (dir, path) = temp_db();
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    add_reseller(&store, "r1", None).await;
    store
        .deposit("r1", 1_000_000_000, "top-up", T0)
        .await
        .unwrap();
    for i in 0..300 {
        intake(
            &store,
            new_order(
                "r1",
                &format!("pre-{i}"),
                "TSEL10",
                "081234567890",
                10_500,
                T0 + 1,
            ),
        )
        .await;
    }
    // Orders keep coming while the backup runs.
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let writer = {
        let (store, stop, written) = (store.clone(), stop.clone(), written.clone());
        tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let o = new_order(
                    "r1",
                    &format!("during-{i}"),
                    "TSEL10",
                    "081234567890",
                    10_500,
                    T0 + 2,
                );
                store.create_order(o).await.unwrap();
                written.fetch_add(1, Ordering::SeqCst);
                i += 1;
            }
        })
    };
    let out = dir.path().join("copy.db");
    let src = path.clone();
    let (out2, steps) = (out.clone(), Arc::new(AtomicU64::new(0)));
    let steps2 = steps.clone();
    let (copied, report) = tokio::task::spawn_blocking(move || {
        // Two pages a step: many steps, with orders committed between them.
        crate::sqlite::backup::backup_in_steps(&src, &out2, 2, &mut |done, total| {
            assert!(done <= total);
            steps2.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(2));
        })
    })
    .await
    .unwrap()
    .unwrap();
    stop.store(true, Ordering::SeqCst);
    writer.await.unwrap();
    assert!(
        written.load(Ordering::SeqCst) > 0,
        "nothing was written during the backup"
    );
    assert!(copied.pages > 10 && copied.bytes > 0, "{copied:?}");
    assert!(steps.load(Ordering::SeqCst) > 5);
    assert!(report.ok(), "{:?}", report.problems);
    assert!(report.orders >= 300);
    assert!(!dir.path().join("copy.db.partial").exists());
    // The copy is a working database of its own, and it balances.
    let copy = SqliteStore::open(&out).unwrap();
    assert_clean(&copy).await;
    assert!(copy.order_by_ref("r1", "pre-299").await.unwrap().is_some());
    // A backup never overwrites.
    assert!(crate::backup::backup(&path, &out, &mut |_, _| {}).is_err());
    // Restoring the copy somewhere else gives the same orders.
    let restored = dir.path().join("restored.db");
    let (_, r) = crate::backup::restore(&out, &restored, &mut |_, _| {}).unwrap();
    assert_eq!(r.orders, report.orders);
    let back = SqliteStore::open(&restored).unwrap();
    assert_clean(&back).await;
    // A file that is not a database is refused before anything is written.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, b"not a database at all, just text that goes on").unwrap();
    assert!(crate::backup::check_file(&junk).is_err());
    assert!(crate::backup::restore(&junk, &dir.path().join("x.db"), &mut |_, _| {}).is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_voucher_credits_its_owner_once_before_expiry() {
    let (_dir, path) = temp_db();
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    add_reseller(&store, "r1", None).await;
    add_reseller(&store, "r2", None).await;
    use crate::{NewVoucher, Redeem};
    let v = |code: &str, r: &str, incident: i64| NewVoucher {
        code: code.into(),
        reseller_id: r.into(),
        incident_id: incident,
        amount: 5_000,
        issued_at: T0,
        expires_at: T0 + 86_400_000,
    };
    let issued = store
        .issue_vouchers(vec![v("C1", "r1", 7), v("C2", "r2", 7)])
        .await
        .unwrap();
    assert_eq!(issued.len(), 2);
    // Once per reseller per incident.
    let again = store.issue_vouchers(vec![v("C3", "r1", 7)]).await.unwrap();
    assert!(again.is_empty());
    assert_eq!(store.incident_vouchers(7).await.unwrap().len(), 2);
    // Not another reseller's.
    assert_eq!(
        store.redeem_voucher("r2", "C1", T0 + 1).await.unwrap(),
        Redeem::NotFound
    );
    // Ten tries at once: one credit.
    let mut tries = Vec::new();
    for _ in 0..10 {
        let s = store.clone();
        tries.push(tokio::spawn(async move {
            s.redeem_voucher("r1", "C1", T0 + 2).await.unwrap()
        }));
    }
    let mut credited = 0;
    for t in tries {
        match t.await.unwrap() {
            Redeem::Credited { balance, .. } => {
                credited += 1;
                assert_eq!(balance.available, 5_000);
            }
            Redeem::AlreadyRedeemed(_) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(credited, 1);
    assert_eq!(store.balance("r1").await.unwrap().available, 5_000);
    // Too late.
    assert!(matches!(
        store
            .redeem_voucher("r2", "C2", T0 + 86_400_000)
            .await
            .unwrap(),
        Redeem::Expired(_)
    ));
    assert_eq!(store.balance("r2").await.unwrap().available, 0);
    assert_clean(&store).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_ledger_is_still_copied_but_named_unverified_and_old_schemas_check() {
    let (dir, path) = temp_db();
    let store = SqliteStore::open(&path).unwrap();
    add_reseller(&store, "r1", None).await;
    store.deposit("r1", 10_000, "top-up", T0).await.unwrap();
    drop(store);
    // Someone edits a balance by hand.
    raw_conn(&path)
        .execute_batch(
            "UPDATE accounts SET balance = balance + 1 WHERE id = 'reseller:r1:available'",
        )
        .unwrap();
    let out = dir.path().join("copy.db");
    let e = crate::backup::backup(&path, &out, &mut |_, _| {}).unwrap_err();
    assert!(e.to_string().contains("unverified"), "{e}");
    assert!(!out.exists());
    let kept = dir.path().join("copy.db.unverified");
    assert!(kept.exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&kept).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "copies hold secrets");
    }
    // What a restore keeps of the database it replaces: a plain copy, damage and all.
    let keep = dir.path().join("before.db");
    crate::backup::keep_as_is(&path, &keep).unwrap();
    assert!(!crate::backup::check_file(&keep).unwrap().ok());
    // A backup from before the vouchers migration still checks (that check is skipped).
    let (_d2, old) = temp_db();
    drop(SqliteStore::open(&old).unwrap());
    raw_conn(&old)
        .execute_batch("DROP TABLE vouchers; PRAGMA user_version = 5;")
        .unwrap();
    assert!(crate::backup::check_file(&old).unwrap().ok());
}

/// A database file as migrations up to `version` left it, nothing else done to it.
fn schema_at(path: &Path, version: i64) -> rusqlite::Connection {
    let c = raw_conn(path);
    for (v, sql) in crate::sqlite::MIGRATIONS.iter().filter(|m| m.0 <= version) {
        c.execute_batch(sql).unwrap();
        c.execute_batch(&format!("PRAGMA user_version = {v}"))
            .unwrap();
    }
    c
}

#[tokio::test]
async fn a_version_6_database_keeps_its_ledger_and_outbox_through_the_rowid_rebuild() {
    let (_dir, path) = temp_db();
    {
        let c = schema_at(&path, 6);
        c.execute_batch(
            "INSERT INTO resellers (id, name, key_hash, webhook_secret, created_at, updated_at)
                 VALUES ('r1', 'R', 'h1', 's1', 0, 0);
             INSERT INTO accounts VALUES ('reseller:r1:available', 'reseller_available', 'r1', 5000),
                 ('reseller:r1:held', 'reseller_held', 'r1', 0), ('asset:cash', 'asset', NULL, -5000);
             INSERT INTO transfers (kind, reseller_id, amount, note, created_at)
                 VALUES ('deposit', 'r1', 5000, 'old', 1);
             INSERT INTO postings (transfer_id, account_id, amount, balance_after)
                 VALUES (1, 'reseller:r1:available', 5000, 5000), (1, 'asset:cash', -5000, -5000);
             INSERT INTO outbox (msg_id, kind, reseller_id, target, status, next_at, created_at)
                 VALUES ('msg_old', 'order.updated', 'r1', 'http://a.test/cb', 'pending', 1, 1);",
        )
        .unwrap();
        let seq: i64 = c
            .query_row("SELECT COUNT(*) FROM sqlite_sequence", [], |r| r.get(0))
            .unwrap();
        assert_eq!(seq, 3, "the old tables count through sqlite_sequence");
    }
    let store = SqliteStore::open(&path).unwrap();
    let c = raw_conn(&path);
    let version: i64 = c
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SqliteStore::schema_version());
    for table in ["transfers", "postings", "outbox"] {
        let sql: String = c
            .query_row(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [table],
                |r| r.get(0),
            )
            .unwrap();
        assert!(!sql.contains("AUTOINCREMENT"), "{table}: {sql}");
    }
    let indexes: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name IN
                 ('transfers_order', 'postings_account', 'outbox_due')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(indexes, 3);
    // 0008 drops the postings-by-transfer index again (only verify grouped by it).
    let by_transfer: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'postings_transfer'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(by_transfer, 0);
    // Everything is still there, and new rows carry on after the old ones.
    let b = store.balance("r1").await.unwrap();
    assert_eq!((b.available, b.held), (5_000, 0));
    let due = store.due_outbox(10, 10, &[]).await.unwrap();
    assert_eq!(
        due.iter()
            .map(|i| (i.id, i.msg_id.as_str()))
            .collect::<Vec<_>>(),
        vec![(1, "msg_old")]
    );
    store.deposit("r1", 700, "new", 20).await.unwrap();
    let ids: Vec<(i64, i64)> = c
        .prepare("SELECT id, transfer_id FROM postings ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(ids, vec![(1, 1), (2, 1), (3, 2), (4, 2)]);
    let report = store.verify().await.unwrap();
    assert!(report.ok(), "{:#?}", report.problems);
    assert_eq!(report.transfers, 2);
    // No row lost what it refers to.
    let fk: i64 = c
        .query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(fk, 0);
}

#[tokio::test]
async fn an_old_broken_reference_does_not_stop_the_upgrade() {
    let (_dir, path) = temp_db();
    {
        let c = schema_at(&path, 6);
        // As a hand edit with foreign keys off could leave it: a voucher of no reseller.
        c.execute_batch(
            "PRAGMA foreign_keys=OFF;
             INSERT INTO vouchers (code, reseller_id, incident_id, amount, issued_at, expires_at)
                 VALUES ('SIAGA-AAAAA-AAAAA', 'ghost', 1, 1000, 0, 1);",
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    let version: i64 = raw_conn(&path)
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SqliteStore::schema_version());
    drop(store);
}

/// Shuts the syncer's gate: commits are written but not synced until it opens.
struct SyncGate(Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>);

impl SyncGate {
    fn set(&self, open: bool) {
        *self.0 .0.lock().expect("gate") = open;
        self.0 .1.notify_all();
    }
    fn open(&self) {
        self.set(true);
    }
}

/// A store at `path` whose syncs wait at a gate, with reseller r1 holding 1,000; then the
/// gate shut and a deposit of 2,000 committed (another connection sees 3,000) whose caller
/// still waits for its sync.
async fn a_deposit_committed_not_synced(
    path: &Path,
) -> (
    Arc<SqliteStore>,
    SyncGate,
    tokio::task::JoinHandle<Result<Balance, crate::StoreError>>,
) {
    let gate = SyncGate(Arc::new((
        std::sync::Mutex::new(true),
        std::sync::Condvar::new(),
    )));
    let g = gate.0.clone();
    let store = SqliteStore::open_with_sync(
        path,
        Box::new(move || {
            let (open, cv) = &*g;
            let mut o = open.lock().expect("gate");
            while !*o {
                o = cv.wait(o).expect("gate");
            }
            Ok(())
        }),
    )
    .unwrap();
    let store = Arc::new(store);
    add_reseller(&store, "r1", None).await;
    store.deposit("r1", 1_000, "first", T0).await.unwrap();
    gate.set(false);
    let s = store.clone();
    let deposit = tokio::spawn(async move { s.deposit("r1", 2_000, "second", T0 + 1).await });
    let raw = raw_conn(path);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while raw
        .query_row(
            "SELECT balance FROM accounts WHERE id = 'reseller:r1:available'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .unwrap()
        != 3_000
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the commit never came"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    (store, gate, deposit)
}

/// A commit is written at once but answered only once its sync is done; and a read that
/// could see it waits for that sync too (nothing shown that a power cut could take back).
#[tokio::test(flavor = "multi_thread")]
async fn a_commit_is_answered_and_shown_only_after_its_sync() {
    let (_dir, path) = temp_db();
    let (store, gate, deposit) = a_deposit_committed_not_synced(&path).await;
    // The commit itself is in the database (another connection sees it) ...
    // ... but its caller has not heard, and a store read that could see it waits.
    let s = store.clone();
    let read = tokio::spawn(async move { s.balance("r1").await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!deposit.is_finished(), "answered before the sync");
    assert!(!read.is_finished(), "shown before the sync");
    gate.open();
    let after = deposit.await.unwrap().unwrap();
    assert_eq!(after.available, 3_000);
    assert_eq!(read.await.unwrap().unwrap().available, 3_000);
    // Nothing pending: a read answers at once.
    let quick = tokio::time::timeout(Duration::from_secs(5), store.balance("r1")).await;
    assert_eq!(quick.unwrap().unwrap().available, 3_000);
}

/// A failed sync stops the store: the commit it covered is not confirmed, and every write
/// and read after answers with an error (a later sync succeeding would prove nothing).
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_sync_stops_the_store() {
    let (_dir, path) = temp_db();
    let broken = Arc::new(AtomicBool::new(false));
    let b = broken.clone();
    let store = SqliteStore::open_with_sync(
        &path,
        Box::new(move || {
            if b.load(Ordering::SeqCst) {
                Err(std::io::Error::other("disk gone"))
            } else {
                Ok(())
            }
        }),
    )
    .unwrap();
    add_reseller(&store, "r1", None).await;
    store.deposit("r1", 1_000, "first", T0).await.unwrap();
    broken.store(true, Ordering::SeqCst);
    let e = store
        .deposit("r1", 2_000, "second", T0 + 1)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("disk gone"), "{e}");
    // The disk is back, but the store stays stopped.
    broken.store(false, Ordering::SeqCst);
    assert!(store.deposit("r1", 3_000, "third", T0 + 2).await.is_err());
    assert!(store.balance("r1").await.is_err());
    assert!(store.outbox_pending_count().await.is_err());
}

/// Jobs run without savepoints; when one fails, its transaction is redone without it: the
/// jobs before it run again (their first run is undone), the ones after run once.
#[tokio::test(flavor = "multi_thread")]
async fn a_failing_job_is_left_out_and_the_jobs_before_it_are_redone() {
    use std::sync::atomic::AtomicUsize;
    let (_dir, path) = temp_db();
    let store = Arc::new(SqliteStore::open(&path).unwrap());
    let raw = raw_conn(&path);
    raw.execute_batch("CREATE TABLE scratch (v TEXT NOT NULL)")
        .unwrap();
    // Hold the write lock: the jobs queue up and then run as one batch, in order.
    raw.execute_batch("BEGIN IMMEDIATE").unwrap();
    let runs: Arc<Vec<AtomicUsize>> = Arc::new((0..3).map(|_| AtomicUsize::new(0)).collect());
    let mut tasks = Vec::new();
    for (i, v) in ["a", "b", "c"].into_iter().enumerate() {
        let (store, runs) = (store.clone(), runs.clone());
        tasks.push(tokio::spawn(async move {
            store
                .write(move |c| {
                    runs[i].fetch_add(1, Ordering::SeqCst);
                    c.execute("INSERT INTO scratch (v) VALUES (?1)", [v])?;
                    if v == "b" {
                        return Err(crate::StoreError::Corrupt("b fails".into()));
                    }
                    Ok(())
                })
                .await
        }));
        // In this order into the writer's queue.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    raw.execute_batch("COMMIT").unwrap();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    assert!(
        matches!(&results[1], Err(e) if e.to_string().contains("b fails")),
        "{results:?}"
    );
    let counts: Vec<usize> = runs.iter().map(|r| r.load(Ordering::SeqCst)).collect();
    assert_eq!(counts, vec![2, 1, 1], "a redone once, b and c run once");
    let rows: Vec<String> = raw
        .prepare("SELECT v FROM scratch ORDER BY rowid")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows, vec!["a".to_owned(), "c".to_owned()]);
}

/// SQLite keeps the WAL beside the database's real file: opened through a symlink, the
/// store still syncs that WAL (not a missing one beside the link, nor the database).
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn the_wal_synced_is_the_one_sqlite_writes_even_through_a_symlink() {
    let (dir, real) = temp_db();
    let other = dir.path().join("elsewhere");
    std::fs::create_dir(&other).unwrap();
    let link = other.join("link.db");
    // The database file exists before the link points at it.
    drop(raw_conn(&real));
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let store = SqliteStore::open(&link).unwrap();
    add_reseller(&store, "r1", None).await;
    store.deposit("r1", 1_000, "top-up", T0).await.unwrap();
    let real_wal = dir.path().join("siaga.db-wal");
    assert!(
        real_wal.exists(),
        "SQLite writes its WAL beside the real file"
    );
    assert!(!other.join("link.db-wal").exists());
    let chosen = crate::sqlite::durable::file_to_sync(&link).unwrap();
    assert_eq!(chosen, std::fs::canonicalize(&real_wal).unwrap());
}

#[tokio::test]
async fn write_times_count_each_commit_its_writes_and_each_sync() {
    let (_dir, path) = temp_db();
    // Every sync takes at least 30 ms: the counts must show it.
    let store = SqliteStore::open_with_sync(
        &path,
        Box::new(|| {
            std::thread::sleep(Duration::from_millis(30));
            Ok(())
        }),
    )
    .unwrap();
    add_reseller(&store, "r1", None).await;
    let before = store.write_times().expect("the SQLite store keeps count");
    // One after another: each deposit is its own commit and its own sync.
    for i in 0..3 {
        store.deposit("r1", 1_000, "d", T0 + i).await.unwrap();
    }
    let span = store.write_times().unwrap().since(&before);
    assert_eq!(span.commits(), 3);
    assert_eq!(span.jobs(), 3);
    assert_eq!(span.syncs(), 3);
    let sync_p50 = span.sync_ms(0.5).unwrap();
    assert!(sync_p50 >= 30.0, "sync p50 {sync_p50} ms");
    assert!(span.commit_ms(0.5).is_some());
    // What came before the span (the reseller's own commit) is not in it.
    assert_eq!(store.write_times().unwrap().commits(), before.commits() + 3);
    assert!(before.commits() >= 1);
}

/// A commit the server has written but not yet synced (its caller still waits) may be in a
/// backup's snapshot: the backup syncs the WAL itself before copying, so the copy never
/// holds what a power cut could take from the database. Without that sync, no backup.
#[tokio::test(flavor = "multi_thread")]
async fn a_backup_syncs_the_commits_it_copies_and_fails_without_the_sync() {
    use std::sync::Mutex;
    let (dir, path) = temp_db();
    let (_store, gate, deposit) = a_deposit_committed_not_synced(&path).await;
    assert!(!deposit.is_finished());
    // The sync fails: no backup, and nothing left behind.
    let failed = dir.path().join("failed.db");
    let (src, out) = (path.clone(), failed.clone());
    let e = tokio::task::spawn_blocking(move || {
        crate::sqlite::backup::backup_with_sync(&src, &out, 64, &mut |_, _| {}, &|_| {
            Err(std::io::Error::other("disk gone"))
        })
    })
    .await
    .unwrap()
    .unwrap_err();
    assert!(e.to_string().contains("durable"), "{e}");
    assert!(!failed.exists());
    assert!(!dir.path().join("failed.db.partial").exists());
    // The sync works: it ran once, on this database, and the copy holds the commit.
    let synced = Arc::new(Mutex::new(Vec::<PathBuf>::new()));
    let (src, out, seen) = (path.clone(), dir.path().join("copy.db"), synced.clone());
    tokio::task::spawn_blocking(move || {
        crate::sqlite::backup::backup_with_sync(&src, &out, 64, &mut |_, _| {}, &|p| {
            seen.lock().expect("seen").push(p.to_owned());
            crate::sqlite::durable::sync_wal(p)
        })
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(*synced.lock().unwrap(), vec![path.clone()]);
    let copy = raw_conn(&dir.path().join("copy.db"));
    let copied: i64 = copy
        .query_row(
            "SELECT balance FROM accounts WHERE id = 'reseller:r1:available'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(copied, 3_000);
    gate.open();
    assert_eq!(deposit.await.unwrap().unwrap().available, 3_000);
}
