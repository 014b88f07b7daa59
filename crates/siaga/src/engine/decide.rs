//! Turning a supplier reply into the store transition for its order: the glue between
//! `siaga_domain::order::after_outcome` and the store's `Settle` command.

use siaga_domain::order::{after_outcome, on_exhausted};
use siaga_domain::{Exhausted, FailReason, Next, Outcome};
use siaga_store::{Attempt, AttemptResult, AttemptState, Order, OrderChange, Settle};
use siaga_suppliers::Reply;

use crate::config::{Product, Route, Settings};

/// The routes of the product (by priority) not yet tried in this round of the order.
pub fn untried_routes<'a>(
    settings: &Settings,
    product: &'a Product,
    attempts: &[Attempt],
    round: i64,
) -> Vec<&'a Route> {
    product
        .routes
        .iter()
        .filter(|r| {
            settings.supplier(&r.supplier).is_some()
                && !attempts
                    .iter()
                    .any(|a| a.round == round && a.supplier_id == r.supplier && a.sku == r.sku)
        })
        .collect()
}

/// The first route (by priority) left to try in this round, usable now or not.
pub fn next_route<'a>(
    settings: &Settings,
    product: &'a Product,
    attempts: &[Attempt],
    round: i64,
) -> Option<&'a Route> {
    untried_routes(settings, product, attempts, round)
        .into_iter()
        .next()
}

/// No route can take the order right now although some are untried in this round.
/// `at_limit`: some usable route is only at its concurrency limit. The order waits in the
/// queue without starting a new round until its `max_wait_s` runs out (waits for a
/// concurrency slot get at least 10 s, so a burst is queued rather than refused).
pub fn hold(order: &Order, at_limit: bool, now: i64) -> OrderChange {
    let deadline = if at_limit {
        order.wait_until.max(order.created_at + 10_000)
    } else {
        order.wait_until
    };
    if now >= deadline {
        return OrderChange::Fail {
            code: siaga_domain::FailureCode::ProductUnavailable,
        };
    }
    let step = if at_limit { 50 } else { 500 };
    OrderChange::Hold {
        at: (now + step).min(deadline),
    }
}

/// The failure reasons of this round's attempts.
pub fn round_failures(attempts: &[Attempt], round: i64) -> Vec<FailReason> {
    attempts
        .iter()
        .filter(|a| a.round == round)
        .filter_map(|a| a.reason.as_deref().and_then(FailReason::parse))
        .collect()
}

/// The order change once a round has no route left: queue (new round) or fail.
pub fn exhausted(order: &Order, failures: &[FailReason], now: i64) -> OrderChange {
    match on_exhausted(failures, order.round, now, order.wait_until) {
        Exhausted::Queue { at_ms } => OrderChange::Queue { at: at_ms },
        Exhausted::Fail(code) => OrderChange::Fail { code },
    }
}

/// When the next status inquiry for an open attempt may go out: the supplier's minimum
/// interval after the attempt started, then doubling per inquiry up to its maximum.
pub fn inquiry_due(settings: &Settings, a: &Attempt) -> i64 {
    if let Some(at) = a.next_inquiry_at {
        return at;
    }
    let min = settings
        .supplier(&a.supplier_id)
        .map(|s| s.inquiry_min_interval.as_millis() as i64)
        .unwrap_or(60_000);
    a.started_at + min
}

fn backoff(settings: &Settings, a: &Attempt, inquiries: i64, now: i64) -> i64 {
    let (min, max) = settings
        .supplier(&a.supplier_id)
        .map(|s| {
            (
                s.inquiry_min_interval.as_millis() as i64,
                s.inquiry_max_interval.as_millis() as i64,
            )
        })
        .unwrap_or((60_000, 600_000));
    // Doubling stops after 10 inquiries whatever the maximum; never below the minimum.
    now + siaga_domain::backoff::delay(inquiries.min(10), min, max).max(min)
}

/// The store command for `reply` to `attempt` of `order`.
pub fn settle(
    settings: &Settings,
    order: &Order,
    attempts: &[Attempt],
    attempt: &Attempt,
    reply: &Reply,
    inquiry: bool,
    now: i64,
) -> Settle {
    // Defence in depth (adapters already do this with their own tables): an inquiry that
    // did not reach the supplier, or failed on our side, says nothing about the transaction.
    let reply_outcome = match (&reply.outcome, inquiry) {
        (Outcome::Failed(FailReason::NotSent | FailReason::Config), true) => Outcome::Unknown,
        (o, _) => o.clone(),
    };
    let reply = &Reply {
        outcome: reply_outcome,
        ..reply.clone()
    };
    let routes_left = settings
        .product(&order.product)
        .and_then(|p| next_route(settings, p, attempts, order.round))
        .is_some();
    let (state, change) = match after_outcome(&reply.outcome, routes_left) {
        Next::Succeed { sn } => (AttemptState::Success, OrderChange::Succeed { sn }),
        Next::Fail(code) => (AttemptState::Failed, OrderChange::Fail { code }),
        Next::TryNextRoute => (AttemptState::Failed, OrderChange::Dispatch { at: now }),
        Next::Exhausted => {
            let mut failures = round_failures(attempts, order.round);
            if let Outcome::Failed(r) = reply.outcome {
                failures.push(r);
            }
            (AttemptState::Failed, exhausted(order, &failures, now))
        }
        Next::AwaitSupplier => {
            let state = if reply.outcome == Outcome::Pending {
                AttemptState::Pending
            } else {
                AttemptState::Unknown
            };
            let review_at = attempt.started_at
                + (settings.orders.manual_review_after_s as i64).saturating_mul(1000);
            if now >= review_at {
                (state, OrderChange::ManualReview)
            } else {
                let inquiries = attempt.inquiries + i64::from(inquiry);
                (
                    state,
                    OrderChange::Await {
                        at: backoff(settings, attempt, inquiries, now).min(review_at),
                    },
                )
            }
        }
    };
    let (reason, sn, charged) = match &reply.outcome {
        Outcome::Failed(r) => (Some(r.as_str().to_owned()), None, None),
        Outcome::Success { sn } => (None, Some(sn.clone()), charged(attempt, reply.price)),
        _ => (None, None, None),
    };
    Settle {
        attempt_id: attempt.id.clone(),
        order_version: order.version,
        state,
        result: AttemptResult {
            reason,
            rc: reply.rc.clone(),
            http_status: reply.http_status.map(i64::from),
            message: reply.message.clone(),
            sn,
            charged,
        },
        inquiry,
        change,
        now,
    }
}

/// What the supplier said it charged, when believable: within half to twice the configured
/// cost. A price outside that (a garbled field, another unit) is logged and the configured
/// cost is booked instead.
pub fn charged(attempt: &Attempt, price: Option<i64>) -> Option<i64> {
    let p = price?;
    let c = attempt.cost;
    if p >= c / 2 && p <= c.saturating_mul(2) {
        Some(p)
    } else {
        tracing::warn!(
            attempt = %attempt.id, supplier = %attempt.supplier_id, price = p, cost = c,
            "the supplier's reported price is not believable; the configured cost is booked"
        );
        None
    }
}
