//! The money rules, apart from any database: which postings an order's reserve, post and
//! void make, what a deposit and a voucher redemption make, which order changes are
//! allowed, and when a finished order owes its reseller a callback. Pure functions from
//! values to plans; a backend (SQLite today, PostgreSQL later) only executes the plans,
//! inside the transaction of the change they belong to, so every backend moves money the
//! same way.
//!
//! Sign convention: a posting's amount is a credit when positive (balance = credits -
//! debits), so a reseller's `available` and `held` accounts hold what siaga owes that
//! reseller. A guarded account must never go below zero; the executor checks that as it
//! moves the balance, under the write lock.

use siaga_domain::OrderStatus;

use crate::error::StoreError;
use crate::types::{AttemptState, Intake, NewOrder, Order, OrderChange};

pub(crate) const CASH: &str = "asset:cash";
pub(crate) const SALES: &str = "revenue:sales";
pub(crate) const COST: &str = "expense:cost_of_sales";
/// What compensation vouchers have given back to resellers.
pub(crate) const COMPENSATION: &str = "expense:compensation";
/// The largest single amount the store accepts (the domain's `money::MAX_AMOUNT`).
pub(crate) const MAX_AMOUNT: i64 = siaga_domain::money::MAX_AMOUNT;
/// The kind of the message a finished order sends to its reseller's callback URL.
pub(crate) const ORDER_UPDATED: &str = "order.updated";

pub(crate) fn available(reseller_id: &str) -> String {
    format!("reseller:{reseller_id}:available")
}

pub(crate) fn held(reseller_id: &str) -> String {
    format!("reseller:{reseller_id}:held")
}

pub(crate) fn supplier(supplier_id: &str) -> String {
    format!("supplier:{supplier_id}")
}

/// Whether `amount` is one the store moves at all: 1 to [`MAX_AMOUNT`] rupiah.
pub(crate) fn sane_amount(amount: i64) -> bool {
    (1..=MAX_AMOUNT).contains(&amount)
}

/// One line of a transfer: account, signed amount, and whether the account must stay >= 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Posting {
    pub account: String,
    pub amount: i64,
    pub guarded: bool,
}

impl Posting {
    pub fn guarded(account: String, amount: i64) -> Posting {
        Posting {
            account,
            amount,
            guarded: true,
        }
    }
    pub fn free(account: &str, amount: i64) -> Posting {
        Posting {
            account: account.to_owned(),
            amount,
            guarded: false,
        }
    }
}

/// One balanced money movement, as a backend writes it: a transfer row and its postings,
/// in this order (each posting records the balance it leaves).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TransferPlan<'a> {
    pub kind: &'static str,
    pub reseller_id: Option<&'a str>,
    pub order_id: Option<&'a str>,
    pub amount: i64,
    pub note: Option<String>,
    pub postings: Vec<Posting>,
}

impl TransferPlan<'_> {
    /// Refuses a plan whose postings do not sum to zero (or that has fewer than two):
    /// the executor calls this before it writes anything.
    pub fn check(&self) -> Result<(), StoreError> {
        let sum = self
            .postings
            .iter()
            .try_fold(0i64, |s, p| s.checked_add(p.amount));
        if sum != Some(0) || self.postings.len() < 2 {
            return Err(StoreError::Corrupt(format!(
                "unbalanced {} transfer",
                self.kind
            )));
        }
        Ok(())
    }
}

/// Intake: the price moves from the reseller's available balance to held.
pub(crate) fn reserve<'a>(reseller_id: &'a str, order_id: &'a str, price: i64) -> TransferPlan<'a> {
    TransferPlan {
        kind: "reserve",
        reseller_id: Some(reseller_id),
        order_id: Some(order_id),
        amount: price,
        note: None,
        postings: vec![
            Posting::guarded(available(reseller_id), -price),
            Posting::guarded(held(reseller_id), price),
        ],
    }
}

/// Success: the held price becomes revenue, and what the supplier charged becomes a cost
/// owed to that supplier.
pub(crate) fn post<'a>(o: &'a Order, supplier_id: &str, cost: i64) -> TransferPlan<'a> {
    TransferPlan {
        kind: "post",
        reseller_id: Some(&o.reseller_id),
        order_id: Some(&o.id),
        amount: o.price,
        note: None,
        postings: vec![
            Posting::guarded(held(&o.reseller_id), -o.price),
            Posting::free(SALES, o.price),
            Posting::free(COST, -cost),
            Posting::free(&supplier(supplier_id), cost),
        ],
    }
}

/// Failure: the held price goes back to the reseller's available balance.
pub(crate) fn void(o: &Order) -> TransferPlan<'_> {
    TransferPlan {
        kind: "void",
        reseller_id: Some(&o.reseller_id),
        order_id: Some(&o.id),
        amount: o.price,
        note: None,
        postings: vec![
            Posting::guarded(held(&o.reseller_id), -o.price),
            Posting::guarded(available(&o.reseller_id), o.price),
        ],
    }
}

/// Money received from a reseller: cash in, credited to their available balance.
pub(crate) fn deposit<'a>(
    reseller_id: &'a str,
    amount: i64,
    note: &str,
) -> Result<TransferPlan<'a>, StoreError> {
    if !sane_amount(amount) {
        return Err(StoreError::Corrupt(format!(
            "deposit must be 1 to {MAX_AMOUNT} rupiah"
        )));
    }
    Ok(TransferPlan {
        kind: "deposit",
        reseller_id: Some(reseller_id),
        order_id: None,
        amount,
        note: Some(note.to_owned()),
        postings: vec![
            Posting::guarded(available(reseller_id), amount),
            Posting::free(CASH, -amount),
        ],
    })
}

/// A redeemed compensation voucher: an expense of siaga, credited to the reseller.
pub(crate) fn voucher<'a>(reseller_id: &'a str, code: &str, amount: i64) -> TransferPlan<'a> {
    TransferPlan {
        kind: "voucher",
        reseller_id: Some(reseller_id),
        order_id: None,
        amount,
        note: Some(format!("voucher {code}")),
        postings: vec![
            Posting::free(COMPENSATION, -amount),
            Posting::guarded(available(reseller_id), amount),
        ],
    }
}

/// A new order's own checks, before anything is read.
pub(crate) fn check_new_order(n: &NewOrder) -> Result<(), StoreError> {
    if !sane_amount(n.price) || n.max_wait_s < 0 {
        return Err(StoreError::Corrupt(format!(
            "order {}: price must be positive",
            n.order_id
        )));
    }
    Ok(())
}

/// Idempotent intake, when the reseller already has an order under this `ref_id`: the
/// same request is a replay, a different one a conflict.
pub(crate) fn known_ref(existing: Order, n: &NewOrder) -> Intake {
    if existing.product == n.product && existing.destination == n.destination {
        Intake::Replay(existing)
    } else {
        Intake::Conflict(existing)
    }
}

/// Why a new order cannot be reserved, given the reseller's available balance (`None`:
/// no such reseller); `None` if it can.
pub(crate) fn refusal(available: Option<i64>, price: i64) -> Option<Intake> {
    match available {
        None => Some(Intake::UnknownReseller),
        Some(a) if a < price => Some(Intake::InsufficientBalance),
        Some(_) => None,
    }
}

/// Whether an attempt that ends in `state` may make `change` to its order.
pub(crate) fn settle_fits(state: AttemptState, change: &OrderChange) -> bool {
    match change {
        OrderChange::Succeed { .. } => state == AttemptState::Success,
        OrderChange::Fail { .. }
        | OrderChange::Dispatch { .. }
        | OrderChange::Queue { .. }
        | OrderChange::Hold { .. } => state == AttemptState::Failed,
        OrderChange::Await { .. } | OrderChange::ManualReview => {
            matches!(state, AttemptState::Pending | AttemptState::Unknown)
        }
    }
}

/// Whether an order may make `change` without an attempt result, with an attempt still
/// open or not.
pub(crate) fn change_allowed(change: &OrderChange, open_attempt: bool) -> bool {
    match change {
        // Success needs a successful attempt: only a settlement can do that.
        OrderChange::Succeed { .. } => false,
        OrderChange::Await { .. } | OrderChange::ManualReview => true,
        // Finishing or re-routing while an attempt is open would risk a double top-up.
        OrderChange::Fail { .. }
        | OrderChange::Dispatch { .. }
        | OrderChange::Queue { .. }
        | OrderChange::Hold { .. } => !open_attempt,
    }
}

/// The cost a successful attempt books: what the supplier reports it charged, when that
/// is a sane amount, else the configured cost (a missing or garbled price keeps it).
pub(crate) fn booked_cost(state: AttemptState, charged: Option<i64>, configured: i64) -> i64 {
    charged
        .filter(|p| state == AttemptState::Success && sane_amount(*p))
        .unwrap_or(configured)
}

/// The money movement an order change makes, if any: success posts, failure voids; the
/// other changes move no money. `supplier` is the successful attempt's (supplier, cost).
pub(crate) fn money_for<'a>(
    o: &'a Order,
    change: &OrderChange,
    supplier: Option<(&str, i64)>,
) -> Result<Option<TransferPlan<'a>>, StoreError> {
    match change {
        OrderChange::Succeed { .. } => {
            let (supplier_id, cost) = supplier.ok_or_else(|| {
                StoreError::Corrupt(format!("order {} succeeds without an attempt", o.id))
            })?;
            Ok(Some(post(o, supplier_id, cost)))
        }
        OrderChange::Fail { .. } => Ok(Some(void(o))),
        _ => Ok(None),
    }
}

/// A message for the outbox, as a backend writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MessagePlan<'a> {
    pub msg_id: String,
    pub kind: &'static str,
    pub reseller_id: &'a str,
    pub order_id: &'a str,
    pub target: &'a str,
}

/// The reseller callback an order change owes: one message when the order has just
/// become final (success or failed) and its reseller has a callback URL.
///
/// Its id (the callback's `webhook-id`, Standard Webhooks' de-duplication key) is a function
/// of the event, the order and the final status it reached, not of the write: however often
/// the message is written or delivered (at least once; again after a crash before its
/// delivery was recorded), every copy carries the same id, and a receiver drops repeats.
pub(crate) fn callback<'a>(after: &'a Order, url: Option<&'a str>) -> Option<MessagePlan<'a>> {
    if after.status == OrderStatus::Pending {
        return None;
    }
    let url = url.filter(|u| !u.is_empty())?;
    Some(MessagePlan {
        msg_id: format!("msg_{}_{}", after.id, after.status.as_str()),
        kind: ORDER_UPDATED,
        reseller_id: &after.reseller_id,
        order_id: &after.id,
        target: url,
    })
}

/// Whether `change` finishes the order (and so may owe a callback): asked before the
/// callback URL is read, so a change that does not finish costs no read.
pub(crate) fn finishes(change: &OrderChange) -> bool {
    matches!(
        change,
        OrderChange::Succeed { .. } | OrderChange::Fail { .. }
    )
}

#[cfg(test)]
mod tests;
