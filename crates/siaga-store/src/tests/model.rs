//! Conformance case: a model-based proptest of the ledger and the order transitions
//! (SPEC 3.2, 3.3). Random deposits, intakes (replays, conflicts, refusals), attempts,
//! settlements and changes (some with stale versions) run against the store and a small
//! model; after every step `verify` is clean and balances, orders and the callback outbox
//! match the model.

use std::collections::HashMap;

use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};

use super::*;

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
async fn check(store: &dyn Store, m: &Model) -> Result<(), TestCaseError> {
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

async fn attempts_of(store: &dyn Store, order_id: &str) -> Result<Vec<Attempt>, TestCaseError> {
    store.attempts(order_id).await.map_err(fail)
}

/// One step of the model on the store, checked against the model as it goes.
async fn apply(store: &dyn Store, m: &mut Model, op: &Op, now: i64) -> Result<(), TestCaseError> {
    match op {
        Op::Deposit { .. } => apply_deposit(store, m, op, now).await,
        Op::Intake { .. } => apply_intake(store, m, op, now).await,
        Op::Start { .. } => apply_start(store, m, op, now).await,
        Op::Settle { .. } => apply_settle(store, m, op, now).await,
        Op::Change { .. } => apply_change(store, m, op, now).await,
    }
}

async fn apply_deposit(
    store: &dyn Store,
    m: &mut Model,
    op: &Op,
    now: i64,
) -> Result<(), TestCaseError> {
    let Op::Deposit { r, amount } = *op else {
        return Ok(());
    };
    let n = m.resellers.len();
    let r = r % n;
    let b = store
        .deposit(&m.resellers[r], amount, "top-up", now)
        .await
        .map_err(fail)?;
    m.deposits[r] += amount;
    prop_assert_eq!(b, m.balance(r), "balance returned by deposit");
    Ok(())
}

async fn apply_intake(
    store: &dyn Store,
    m: &mut Model,
    op: &Op,
    now: i64,
) -> Result<(), TestCaseError> {
    let Op::Intake {
        r,
        ref_n,
        product,
        dest,
        price,
    } = *op
    else {
        return Ok(());
    };
    let n = m.resellers.len();
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
    Ok(())
}

async fn apply_start(
    store: &dyn Store,
    m: &mut Model,
    op: &Op,
    now: i64,
) -> Result<(), TestCaseError> {
    let Op::Start {
        pick,
        prefer,
        stale,
    } = *op
    else {
        return Ok(());
    };
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
    Ok(())
}

/// What each outcome sends: (attempt state, order change, counts as an inquiry).
fn settle_case(outcome: Outcome, sn: &str, at: i64, now: i64) -> (AttemptState, OrderChange, bool) {
    match outcome {
        Outcome::Succeed => (
            AttemptState::Success,
            OrderChange::Succeed { sn: sn.to_owned() },
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
    }
}

async fn apply_settle(
    store: &dyn Store,
    m: &mut Model,
    op: &Op,
    now: i64,
) -> Result<(), TestCaseError> {
    let Op::Settle {
        pick,
        prefer,
        outcome,
        stale,
    } = *op
    else {
        return Ok(());
    };
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
    let (state, change, inquiry) = settle_case(outcome, &sn, at, now);
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
        Outcome::AwaitPending | Outcome::AwaitUnknown => mo.stage = Some(Stage::AwaitingSupplier),
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
    Ok(())
}

/// A change asked of an order whose attempt is still open: refused, nothing written.
async fn refused_change(
    store: &dyn Store,
    o: &MOrder,
    to_fail: bool,
    now: i64,
) -> Result<(), TestCaseError> {
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
    Ok(())
}

async fn apply_change(
    store: &dyn Store,
    m: &mut Model,
    op: &Op,
    now: i64,
) -> Result<(), TestCaseError> {
    let Op::Change {
        pick,
        fail: to_fail,
        stale,
    } = *op
    else {
        return Ok(());
    };
    if m.orders.is_empty() {
        return Ok(());
    }
    let i = pick % m.orders.len();
    let o = m.orders[i].clone();
    let final_ = o.status != OrderStatus::Pending;
    if !final_ && !stale && o.open.is_some() {
        return refused_change(store, &o, to_fail, now).await;
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
    Ok(())
}

async fn run_model(store: &dyn Store, n: usize, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let resellers: Vec<String> = (0..n).map(|i| format!("r{i}")).collect();
    for (i, id) in resellers.iter().enumerate() {
        add_reseller(store, id, (i == 0).then_some("https://r0.example/callback")).await;
    }
    let mut m = Model {
        resellers,
        deposits: vec![0; n],
        orders: Vec::new(),
        refused: Vec::new(),
    };
    check(store, &m).await?;
    let mut now = T0;
    for (step, op) in ops.iter().enumerate() {
        now += 1_000;
        let ctx = |e: TestCaseError| fail(format!("step {step} {op:?}: {e}"));
        apply(store, &mut m, op, now).await.map_err(ctx)?;
        check(store, &m).await.map_err(ctx)?;
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
            apply(store, &mut m, &op, now).await.map_err(ctx)?;
            check(store, &m).await.map_err(ctx)?;
        }
        prop_assert!(
            m.find(r, &ref_name(ref_n)).is_some(),
            "refused ref-{} was not accepted later",
            ref_n
        );
    }
    Ok(())
}

/// Runs the model on fresh stores from `make`, 64 cases.
pub(crate) fn ledger_and_orders_follow_the_model(make: &dyn Fn() -> MakeFuture) {
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let cases = (1usize..=3, prop::collection::vec(op_strategy(), 1..60));
    let result = runner.run(&cases, |(n, ops)| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(fail)?;
        rt.block_on(async {
            let fresh = make().await;
            run_model(&*fresh.store, n, ops).await
        })
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
