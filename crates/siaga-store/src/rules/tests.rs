//! Unit tests and property tests of the money rules: every plan balances, guarded accounts
//! are the reseller's own, and an order's life (reserve, then post or void) leaves the
//! books where the rules say, on a small in-memory ledger that executes plans as a
//! backend does (all postings or none, guarded accounts never below zero).

use std::collections::HashMap;

use proptest::prelude::*;
use siaga_domain::{FailureCode, OrderStatus, Stage};

use super::*;

/// Balances by account; executes a plan all or nothing, as a backend's transaction does.
#[derive(Default, Debug, Clone, PartialEq)]
struct Books(HashMap<String, i64>);

impl Books {
    fn get(&self, account: &str) -> i64 {
        self.0.get(account).copied().unwrap_or(0)
    }

    fn run(&mut self, plan: &TransferPlan<'_>) -> bool {
        if plan.check().is_err() {
            return false;
        }
        let mut next = self.0.clone();
        for p in &plan.postings {
            let b = next.entry(p.account.clone()).or_insert(0);
            *b += p.amount;
            if p.guarded && *b < 0 {
                return false;
            }
        }
        self.0 = next;
        true
    }

    fn total(&self) -> i64 {
        self.0.values().sum()
    }
}

fn order(price: i64, status: OrderStatus) -> Order {
    Order {
        id: "ord_1".into(),
        reseller_id: "r1".into(),
        ref_id: "inv-1".into(),
        product: "TSEL10".into(),
        destination: "081234567890".into(),
        price,
        max_wait_s: 300,
        status,
        stage: Some(Stage::Dispatching),
        serial_number: None,
        failure_code: None,
        next_action_at: None,
        wait_until: 0,
        round: 0,
        version: 1,
        created_at: 0,
        updated_at: 0,
    }
}

fn new_order(price: i64, product: &str) -> NewOrder {
    NewOrder {
        order_id: "ord_2".into(),
        reseller_id: "r1".into(),
        ref_id: "inv-1".into(),
        product: product.into(),
        destination: "081234567890".into(),
        price,
        max_wait_s: 300,
        now: 0,
    }
}

fn sum(plan: &TransferPlan<'_>) -> i64 {
    plan.postings.iter().map(|p| p.amount).sum()
}

#[test]
fn each_movement_names_its_accounts_in_order() {
    let o = order(10_000, OrderStatus::Pending);
    let r = reserve("r1", "ord_1", 10_000);
    assert_eq!(
        r.postings,
        vec![
            Posting::guarded("reseller:r1:available".into(), -10_000),
            Posting::guarded("reseller:r1:held".into(), 10_000),
        ]
    );
    let p = post(&o, "sup-a", 9_500);
    assert_eq!(
        p.postings,
        vec![
            Posting::guarded("reseller:r1:held".into(), -10_000),
            Posting::free("revenue:sales", 10_000),
            Posting::free("expense:cost_of_sales", -9_500),
            Posting::free("supplier:sup-a", 9_500),
        ]
    );
    assert_eq!(
        (p.kind, p.order_id, p.amount),
        ("post", Some("ord_1"), 10_000)
    );
    let v = void(&o);
    assert_eq!(v.kind, "void");
    assert_eq!(
        v.postings[1],
        Posting::guarded("reseller:r1:available".into(), 10_000)
    );
    let d = deposit("r1", 5, "bank").expect("deposit plan");
    assert_eq!((d.kind, d.note.as_deref()), ("deposit", Some("bank")));
    assert_eq!(d.postings[1], Posting::free("asset:cash", -5));
    let vc = voucher("r1", "V-1", 7);
    assert_eq!(
        (vc.kind, vc.note.as_deref()),
        ("voucher", Some("voucher V-1"))
    );
    assert_eq!(vc.postings[0], Posting::free("expense:compensation", -7));
}

#[test]
fn an_unbalanced_plan_is_refused_before_it_is_written() {
    let mut p = reserve("r1", "ord_1", 100);
    p.postings[1].amount = 99;
    assert!(p.check().is_err());
    p.postings.truncate(1);
    p.postings[0].amount = 0;
    assert!(p.check().is_err(), "a single posting is no transfer");
    let mut huge = reserve("r1", "ord_1", 1);
    huge.postings = vec![
        Posting::free("a", i64::MAX),
        Posting::free("b", i64::MAX),
        Posting::free("c", 2),
    ];
    assert!(huge.check().is_err(), "an overflowing sum is not zero");
}

#[test]
fn deposits_and_orders_outside_the_sane_range_are_refused() {
    assert!(deposit("r1", 0, "x").is_err());
    assert!(deposit("r1", MAX_AMOUNT + 1, "x").is_err());
    assert!(deposit("r1", MAX_AMOUNT, "x").is_ok());
    assert!(check_new_order(&new_order(0, "TSEL10")).is_err());
    assert!(check_new_order(&new_order(1, "TSEL10")).is_ok());
    let mut n = new_order(1, "TSEL10");
    n.max_wait_s = -1;
    assert!(check_new_order(&n).is_err());
}

#[test]
fn intake_decisions() {
    let same = order(10_000, OrderStatus::Pending);
    assert!(matches!(
        known_ref(same.clone(), &new_order(1, "TSEL10")),
        Intake::Replay(_)
    ));
    assert!(matches!(
        known_ref(same, &new_order(1, "XL5")),
        Intake::Conflict(_)
    ));
    assert!(matches!(refusal(None, 1), Some(Intake::UnknownReseller)));
    assert!(matches!(
        refusal(Some(9), 10),
        Some(Intake::InsufficientBalance)
    ));
    assert!(refusal(Some(10), 10).is_none(), "exactly enough is enough");
}

#[test]
fn which_changes_are_allowed() {
    let succeed = OrderChange::Succeed { sn: "SN".into() };
    let fail = OrderChange::Fail {
        code: FailureCode::SupplierRejected,
    };
    let wait = OrderChange::Await { at: 1 };
    assert!(settle_fits(AttemptState::Success, &succeed));
    assert!(!settle_fits(AttemptState::Failed, &succeed));
    assert!(settle_fits(AttemptState::Failed, &fail));
    assert!(!settle_fits(AttemptState::Pending, &fail));
    assert!(settle_fits(AttemptState::Unknown, &wait));
    assert!(!settle_fits(AttemptState::Success, &wait));
    assert!(!change_allowed(&succeed, false), "success needs an attempt");
    assert!(change_allowed(&fail, false));
    assert!(
        !change_allowed(&fail, true),
        "never while an attempt is open"
    );
    assert!(!change_allowed(&OrderChange::Queue { at: 1 }, true));
    assert!(change_allowed(&OrderChange::ManualReview, true));
}

#[test]
fn the_supplier_price_is_booked_only_for_a_success_and_only_when_sane() {
    assert_eq!(
        booked_cost(AttemptState::Success, Some(9_000), 9_500),
        9_000
    );
    assert_eq!(booked_cost(AttemptState::Success, None, 9_500), 9_500);
    assert_eq!(booked_cost(AttemptState::Success, Some(0), 9_500), 9_500);
    assert_eq!(
        booked_cost(AttemptState::Success, Some(MAX_AMOUNT + 1), 9_500),
        9_500
    );
    assert_eq!(booked_cost(AttemptState::Failed, Some(9_000), 9_500), 9_500);
}

#[test]
fn a_final_order_with_a_callback_url_owes_one_message() {
    let done = order(10_000, OrderStatus::Success);
    let m = callback(&done, Some("https://r1.example/cb")).expect("a callback");
    assert_eq!(
        (m.kind, m.reseller_id, m.order_id, m.target),
        ("order.updated", "r1", "ord_1", "https://r1.example/cb")
    );
    assert!(m.msg_id.starts_with("msg_"));
    // The id is the event's: planned again (a job run twice, a second write), the same id,
    // so a receiver can drop a repeat by its webhook-id.
    let again = callback(&done, Some("https://r1.example/cb")).expect("a callback");
    assert_eq!(m.msg_id, again.msg_id);
    // Another event has another id: another order, or the same order failing.
    let other = Order {
        id: "ord_2".into(),
        ..done.clone()
    };
    let failed = order(10_000, OrderStatus::Failed);
    let ids = [&done, &other, &failed]
        .map(|o| callback(o, Some("https://x")).expect("a callback").msg_id);
    assert!(
        ids[0] != ids[1] && ids[0] != ids[2] && ids[1] != ids[2],
        "{ids:?}"
    );
    assert!(callback(&done, None).is_none());
    assert!(callback(&done, Some("")).is_none());
    assert!(callback(&order(10_000, OrderStatus::Pending), Some("https://x")).is_none());
    assert!(finishes(&OrderChange::Succeed { sn: "s".into() }));
    assert!(!finishes(&OrderChange::Dispatch { at: 1 }));
    assert!(!finishes(&OrderChange::ManualReview));
}

#[test]
fn a_success_without_its_attempt_moves_no_money() {
    let o = order(100, OrderStatus::Pending);
    assert!(money_for(&o, &OrderChange::Succeed { sn: "s".into() }, None).is_err());
    let none = money_for(&o, &OrderChange::Hold { at: 1 }, None).expect("no money");
    assert!(none.is_none());
}

fn price() -> impl Strategy<Value = i64> {
    1..=MAX_AMOUNT
}

proptest! {
    /// Every plan sums to zero, and only the reseller's own accounts are guarded.
    #[test]
    fn every_plan_balances(p in price(), cost in price(), code in "[A-Z0-9]{1,8}") {
        let o = order(p, OrderStatus::Pending);
        let plans = [
            reserve("r1", "ord_1", p),
            post(&o, "sup-a", cost),
            void(&o),
            deposit("r1", p, "n").map_err(|e| TestCaseError::fail(e.to_string()))?,
            voucher("r1", &code, p),
        ];
        for plan in &plans {
            prop_assert!(plan.check().is_ok(), "{plan:?}");
            prop_assert_eq!(sum(plan), 0);
            prop_assert!(plan.postings.len() >= 2);
            for posting in plan.postings.iter().filter(|x| x.guarded) {
                prop_assert!(posting.account.starts_with("reseller:r1:"), "{posting:?}");
            }
        }
    }

    /// An order's life on the books: a reservation needs the balance; a void gives back
    /// exactly what was held; a post turns it into revenue and the supplier's cost. The
    /// books always sum to zero and no reseller account goes below zero.
    #[test]
    fn an_order_life_leaves_the_books_as_the_rules_say(
        funds in 0..=200_000i64,
        p in 1..=100_000i64,
        cost in 1..=100_000i64,
        succeed in any::<bool>(),
    ) {
        let mut books = Books::default();
        prop_assume!(funds > 0);
        prop_assert!(books.run(&deposit("r1", funds, "n").map_err(|e| TestCaseError::fail(e.to_string()))?));
        let before = books.clone();
        let reserved = books.run(&reserve("r1", "ord_1", p));
        prop_assert_eq!(reserved, funds >= p, "the guard decides");
        prop_assert_eq!(reserved, refusal(Some(funds), p).is_none(), "as intake decides");
        if !reserved {
            prop_assert_eq!(&books, &before, "a refused plan leaves nothing");
            return Ok(());
        }
        prop_assert_eq!(books.get("reseller:r1:held"), p);
        let o = order(p, OrderStatus::Pending);
        let change = if succeed {
            OrderChange::Succeed { sn: "SN".into() }
        } else {
            OrderChange::Fail { code: FailureCode::SupplierRejected }
        };
        let plan = money_for(&o, &change, Some(("sup-a", cost)))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let Some(plan) = plan else {
            return Err(TestCaseError::fail("a final change moves money"));
        };
        prop_assert!(books.run(&plan));
        prop_assert_eq!(books.get("reseller:r1:held"), 0);
        prop_assert_eq!(books.total(), 0);
        if succeed {
            prop_assert_eq!(books.get("reseller:r1:available"), funds - p);
            prop_assert_eq!(books.get("revenue:sales"), p);
            prop_assert_eq!(books.get("supplier:sup-a"), cost);
            prop_assert_eq!(books.get("expense:cost_of_sales"), -cost);
        } else {
            prop_assert_eq!(&books, &{
                let mut b = before.clone();
                b.0.insert("reseller:r1:held".into(), 0);
                b
            });
        }
        // Held money is spent once: a second post or void of the same order is refused.
        prop_assert!(!books.run(&void(&o)));
        prop_assert!(!books.run(&post(&o, "sup-a", cost)));
    }
}
