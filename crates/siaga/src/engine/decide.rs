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

/// How long an order at the concurrency limit waits in memory before the store's fallback
/// look: a wake normally comes first (a permit given back, see [`super::slots`]).
pub const SLOT_FALLBACK_MS: i64 = 5_000;

/// An order that found every usable route at its concurrency limit: `None` when the store
/// already holds it queued with a look still ahead (it waits in memory, nothing to write);
/// else the change to write once: held until the fallback look ([`hold`]), or failed when
/// its wait is over.
pub fn slot_wait(order: &Order, now: i64) -> Option<OrderChange> {
    let held = order.stage == Some(siaga_domain::Stage::Queued)
        && order.next_action_at.is_some_and(|at| at > now);
    match hold(order, true, now) {
        OrderChange::Hold { .. } if held => None,
        c => Some(c),
    }
}

/// No route can take the order right now although some are untried in this round.
/// `at_limit`: some usable route is only at its concurrency limit. The order waits in the
/// queue without starting a new round until its `max_wait_s` runs out (waits for a
/// concurrency slot get at least 10 s, so a burst is queued rather than refused; the
/// store looks at such an order again after [`SLOT_FALLBACK_MS`], a wake comes sooner).
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
    let step = if at_limit { SLOT_FALLBACK_MS } else { 500 };
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

/// When an attempt still open goes to manual review: `manual_review_after_s` after it
/// started, except at a manual supplier (the desk, SPEC 6.1.2): an order on the desk is
/// already a human's work, so it stays there (never moved, never failed over) until an
/// operator resolves it with `siaga order resolve`.
pub fn review_at(settings: &Settings, attempt: &Attempt) -> i64 {
    if settings
        .supplier(&attempt.supplier_id)
        .is_some_and(|s| s.is_manual())
    {
        return i64::MAX;
    }
    attempt.started_at + (settings.orders.manual_review_after_s as i64).saturating_mul(1000)
}

/// What a reply proves, whatever the dialect (adapters already apply their own tables):
/// - an inquiry that did not reach the supplier, or failed on our side, says nothing about
///   the transaction: unknown;
/// - a success without a serial number is no proof that the top-up happened (the SN is
///   what the customer and the reseller hold up): unknown, so the attempt is inquired
///   again at its supplier and goes to manual review after the usual pacing.
pub fn vetted(outcome: &Outcome, inquiry: bool) -> Outcome {
    match (outcome, inquiry) {
        (Outcome::Failed(FailReason::NotSent | FailReason::Config), true) => Outcome::Unknown,
        (Outcome::Success { sn }, _) if sn.trim().is_empty() => Outcome::Unknown,
        (o, _) => o.clone(),
    }
}

/// Where a supplier's answer about an attempt came from (for the owner's evidence).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The reply to the top-up request itself.
    Reply,
    /// The answer to a status inquiry.
    Inquiry,
    /// The supplier's own report (`/hooks/suppliers/{id}`).
    Callback,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Reply => "reply",
            Source::Inquiry => "inquiry",
            Source::Callback => "callback",
        }
    }
}

/// The fields of a supplier's answer that contradict the attempt it was matched to (by our
/// reference alone): the answer describes another top-up, so it cannot settle ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contradiction {
    /// `customer_no`, `buyer_sku_code`, `price`: the wire names, in that order.
    pub fields: Vec<&'static str>,
}

/// What in `reply` contradicts `attempt` (sent to `destination`), if anything. Only a field
/// that is present and different counts (some dialects echo nothing):
/// - `customer_no`: another destination, compared normalised (`0812…` = `62812…`);
/// - `buyer_sku_code`: another product code than the attempt's SKU (case aside);
/// - `price`, on a success only: a charge under half or over twice the attempt's known
///   cost, the band outside which [`charged`] would not believe it either. (A failure or a
///   pending answer charges nothing, and Digiflazz sends `price: 0` on some failures; a
///   price of 0 or less is not a price.)
pub fn contradiction(reply: &Reply, destination: &str, attempt: &Attempt) -> Option<Contradiction> {
    let mut fields = Vec::new();
    if reply
        .customer_no
        .as_deref()
        .is_some_and(|c| !siaga_domain::msisdn::same_destination(c, destination))
    {
        fields.push("customer_no");
    }
    if reply
        .sku
        .as_deref()
        .is_some_and(|s| !s.trim().eq_ignore_ascii_case(attempt.sku.trim()))
    {
        fields.push("buyer_sku_code");
    }
    if let (Outcome::Success { .. }, Some(p)) = (&reply.outcome, reply.price) {
        if p > 0 && !believable(p, attempt.cost) {
            fields.push("price");
        }
    }
    (!fields.is_empty()).then_some(Contradiction { fields })
}

/// A charge within half to twice the known cost.
fn believable(price: i64, cost: i64) -> bool {
    price >= cost / 2 && price <= cost.saturating_mul(2)
}

/// What `reply` proves about `attempt` of `order`: [`vetted`], and nothing at all
/// (unknown: inquire again at the same supplier) when it contradicts the attempt.
pub fn proven(order: &Order, attempt: &Attempt, reply: &Reply, inquiry: bool) -> Outcome {
    if contradiction(reply, &order.destination, attempt).is_some() {
        return Outcome::Unknown;
    }
    vetted(&reply.outcome, inquiry)
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
    let contradicts = contradiction(reply, &order.destination, attempt);
    let reply = &Reply {
        outcome: proven(order, attempt, reply, inquiry),
        // The attempt shows why its answer was not applied.
        message: match &contradicts {
            Some(c) => Some(format!(
                "not applied: contradicts the attempt ({}); supplier said: {}",
                c.fields.join(", "),
                reply.message.as_deref().unwrap_or("")
            )),
            None => reply.message.clone(),
        },
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
            let review_at = review_at(settings, attempt);
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

/// Whether a charge of `charged` teaches a route whose known cost is `known` its new cost,
/// for a product sold at `price`. Not when it would bring back a route disabled for its
/// cost (known above the price, charged at or under it): no new attempt goes to such a
/// route, so the charge is of an attempt sent before the rise (answered late, by callback
/// or inquiry) and says nothing about what the supplier charges now. Such a route comes
/// back with a price list that says so (`route_enabled`).
pub fn teaches_cost(known: i64, charged: i64, price: i64) -> bool {
    !(known > price && charged <= price)
}

/// What the supplier said it charged, when believable: within half to twice the attempt's
/// known cost. A success charged outside that band is a [`contradiction`] and settles
/// nothing; a price of 0 or less is no price: the known cost is booked instead.
pub fn charged(attempt: &Attempt, price: Option<i64>) -> Option<i64> {
    let p = price?;
    let c = attempt.cost;
    if believable(p, c) {
        Some(p)
    } else {
        tracing::warn!(
            attempt = %attempt.id, supplier = %attempt.supplier_id, price = p, cost = c,
            "the supplier's reported price is not believable; the configured cost is booked"
        );
        None
    }
}

#[cfg(test)]
mod tests {
    use siaga_domain::{FailReason, FailureCode, Outcome};
    use siaga_store::{AttemptState, OrderChange};

    use super::super::fixtures::{attempt, failed, order, reply, settings, T0};
    use super::*;

    #[test]
    fn untried_routes_skip_this_rounds_attempts_and_unknown_suppliers() {
        let s = settings();
        let mut p = s.product("TSEL10").expect("product").clone();
        let names = |rs: Vec<&Route>| rs.iter().map(|r| r.supplier.clone()).collect::<Vec<_>>();
        assert_eq!(names(untried_routes(&s, &p, &[], 0)), ["a", "b"]);
        let tried = [failed(1, "a", FailReason::SupplierDown)];
        assert_eq!(names(untried_routes(&s, &p, &tried, 0)), ["b"]);
        assert_eq!(
            next_route(&s, &p, &tried, 0).map(|r| r.supplier.as_str()),
            Some("b")
        );
        // An attempt of an earlier round does not count in the next one.
        assert_eq!(names(untried_routes(&s, &p, &tried, 1)), ["a", "b"]);
        // A route to a supplier no longer configured is never tried.
        p.routes[1].supplier = "gone".into();
        assert_eq!(
            names(untried_routes(&s, &p, &tried, 0)),
            Vec::<String>::new()
        );
        assert!(next_route(&s, &p, &tried, 0).is_none());
    }

    #[test]
    fn a_success_without_a_serial_number_is_not_proof() {
        let s = settings();
        let o = order();
        let a = attempt(1, "a", AttemptState::Sending);
        for sn in ["", "  "] {
            for inquiry in [false, true] {
                let r = reply(Outcome::Success { sn: sn.into() });
                let settle = super::settle(
                    &s,
                    &o,
                    std::slice::from_ref(&a),
                    &a,
                    &r,
                    inquiry,
                    T0 + 1_000,
                );
                assert_eq!(settle.state, AttemptState::Unknown, "{sn:?} {inquiry}");
                assert!(
                    matches!(settle.change, OrderChange::Await { .. }),
                    "inquired again at its supplier: {:?}",
                    settle.change
                );
                assert_eq!(settle.result.sn, None, "nothing booked as the SN");
            }
        }
        // After the usual pacing it goes to a human, never to success.
        let late = T0 + 3_600_000;
        let r = reply(Outcome::Success { sn: String::new() });
        let settle = super::settle(&s, &o, std::slice::from_ref(&a), &a, &r, true, late);
        assert_eq!(
            (settle.state, settle.change),
            (AttemptState::Unknown, OrderChange::ManualReview)
        );
        // A real SN is a success.
        let r = reply(Outcome::Success { sn: "SN123".into() });
        let settle = super::settle(&s, &o, std::slice::from_ref(&a), &a, &r, false, T0 + 1_000);
        assert_eq!(settle.state, AttemptState::Success);
    }

    /// A success for attempt `att_1` (route a/a10, known cost 10 150) of the order to
    /// 081234567890, echoing `customer_no`, `sku` and `price` as given.
    fn echo(customer_no: Option<&str>, sku: Option<&str>, price: Option<i64>) -> Reply {
        Reply {
            customer_no: customer_no.map(str::to_owned),
            sku: sku.map(str::to_owned),
            price,
            ..reply(Outcome::Success { sn: "SN1".into() })
        }
    }

    #[test]
    fn an_answer_about_another_top_up_contradicts_the_attempt() {
        let a = attempt(1, "a", AttemptState::Sending);
        let dest = "081234567890";
        let fields = |r: &Reply| {
            contradiction(r, dest, &a)
                .map(|c| c.fields)
                .unwrap_or_default()
        };
        // The case: another destination and another product.
        assert_eq!(
            fields(&echo(Some("089999999999"), Some("xld10"), None)),
            ["customer_no", "buyer_sku_code"]
        );
        // The same destination in another spelling, the same SKU in another case: no.
        for same in ["081234567890", "6281234567890", "+62 812-3456-7890"] {
            assert_eq!(
                fields(&echo(Some(same), Some("A10"), Some(10_150))),
                Vec::<&str>::new(),
                "{same}"
            );
        }
        // Fields a dialect does not echo are no contradiction.
        assert_eq!(fields(&echo(None, None, None)), Vec::<&str>::new());
        assert_eq!(fields(&echo(None, Some("b10"), None)), ["buyer_sku_code"]);
        // A charge far from the known cost (under half, over twice) is another top-up.
        assert_eq!(fields(&echo(None, None, Some(20_300))), Vec::<&str>::new());
        assert_eq!(fields(&echo(None, None, Some(5_075))), Vec::<&str>::new());
        assert_eq!(fields(&echo(None, None, Some(20_301))), ["price"]);
        assert_eq!(fields(&echo(None, None, Some(5_074))), ["price"]);
        assert_eq!(
            fields(&echo(None, None, Some(0))),
            Vec::<&str>::new(),
            "0 is no price"
        );
        // Only a success is charged: a failure's or a pending's price says nothing.
        for outcome in [Outcome::Failed(FailReason::Other), Outcome::Pending] {
            let r = Reply {
                outcome,
                ..echo(None, None, Some(99_999))
            };
            assert_eq!(fields(&r), Vec::<&str>::new());
        }
        // Another destination contradicts a failure too (it is about another top-up).
        let r = Reply {
            outcome: Outcome::Failed(FailReason::Destination),
            ..echo(Some("089999999999"), None, None)
        };
        assert_eq!(fields(&r), ["customer_no"]);
    }

    #[test]
    fn a_contradicting_answer_settles_nothing_and_is_inquired_at_the_same_supplier() {
        let s = settings();
        let o = order();
        let a = attempt(1, "a", AttemptState::Sending);
        let contradicting = [
            echo(Some("089999999999"), Some("xld10"), Some(10_150)),
            echo(None, None, Some(30_450)),
            Reply {
                outcome: Outcome::Failed(FailReason::SupplierDown),
                ..echo(Some("6289999999999"), None, None)
            },
        ];
        for r in &contradicting {
            for inquiry in [false, true] {
                let settle =
                    super::settle(&s, &o, std::slice::from_ref(&a), &a, r, inquiry, T0 + 1_000);
                assert_eq!(settle.state, AttemptState::Unknown, "{r:?}");
                // Never another route (at most once): the same supplier is asked again.
                assert!(
                    matches!(settle.change, OrderChange::Await { .. }),
                    "{:?}",
                    settle.change
                );
                assert_eq!(
                    (
                        settle.result.sn,
                        settle.result.charged,
                        settle.result.reason
                    ),
                    (None, None, None)
                );
                assert!(
                    settle
                        .result
                        .message
                        .as_deref()
                        .is_some_and(|m| m.contains("contradicts")),
                    "{:?}",
                    settle.result.message
                );
                assert_eq!(proven(&o, &a, r, inquiry), Outcome::Unknown);
            }
        }
        // After the usual pacing, a human decides.
        let late = super::settle(
            &s,
            &o,
            std::slice::from_ref(&a),
            &a,
            &contradicting[0],
            true,
            T0 + 3_600_000,
        );
        assert_eq!(
            (late.state, late.change),
            (AttemptState::Unknown, OrderChange::ManualReview)
        );
        // The same answer about our own top-up settles it.
        let ours = echo(Some("6281234567890"), Some("a10"), Some(10_160));
        let settle = super::settle(
            &s,
            &o,
            std::slice::from_ref(&a),
            &a,
            &ours,
            false,
            T0 + 1_000,
        );
        assert_eq!(settle.state, AttemptState::Success);
        assert_eq!(settle.result.charged, Some(10_160));
        assert_eq!(settle.result.message.as_deref(), Some("fixture"));
    }

    #[test]
    fn a_cheaper_charge_never_brings_back_a_route_disabled_for_its_cost() {
        let price = 10_500;
        // Rises and falls under the price are learnt, and a rise above it.
        assert!(teaches_cost(10_150, 10_170, price));
        assert!(teaches_cost(10_170, 10_150, price));
        assert!(teaches_cost(10_170, 10_600, price));
        // Above the price, only a charge that keeps it above counts.
        assert!(teaches_cost(10_600, 10_700, price));
        assert!(teaches_cost(10_700, 10_600, price));
        assert!(!teaches_cost(10_600, 10_150, price));
        assert!(!teaches_cost(10_600, 10_500, price));
    }

    #[test]
    fn hold_waits_until_the_deadline_then_fails() {
        let o = order();
        let now = T0 + 1_000;
        assert_eq!(hold(&o, false, now), OrderChange::Hold { at: now + 500 });
        assert_eq!(hold(&o, true, now), OrderChange::Hold { at: now + 5_000 });
        // Never past the deadline.
        let near = o.wait_until - 20;
        assert_eq!(
            hold(&o, false, near),
            OrderChange::Hold { at: o.wait_until }
        );
        let unavailable = OrderChange::Fail {
            code: FailureCode::ProductUnavailable,
        };
        assert_eq!(hold(&o, false, o.wait_until), unavailable);
        // An order that may not wait still gets 10 s for a concurrency slot.
        let no_wait = Order {
            wait_until: T0,
            max_wait_s: 0,
            ..order()
        };
        assert_eq!(hold(&no_wait, false, T0), unavailable);
        assert_eq!(
            hold(&no_wait, true, T0),
            OrderChange::Hold { at: T0 + 5_000 }
        );
        assert_eq!(
            hold(&no_wait, true, T0 + 9_990),
            OrderChange::Hold { at: T0 + 10_000 }
        );
        assert_eq!(hold(&no_wait, true, T0 + 10_000), unavailable);
    }

    #[test]
    fn round_failures_are_this_rounds_known_reasons() {
        let mut odd = failed(3, "a", FailReason::Other);
        odd.reason = Some("no such reason".into());
        let mut earlier = failed(4, "b", FailReason::Config);
        earlier.round = 1;
        let attempts = [
            failed(1, "a", FailReason::SupplierDown),
            attempt(2, "b", AttemptState::Pending),
            odd,
            earlier,
        ];
        assert_eq!(round_failures(&attempts, 0), [FailReason::SupplierDown]);
        assert_eq!(round_failures(&attempts, 1), [FailReason::Config]);
    }

    #[test]
    fn exhausted_queues_on_unavailability_and_fails_otherwise() {
        let o = order();
        let now = T0 + 1_000;
        assert_eq!(
            exhausted(&o, &[FailReason::Maintenance], now),
            OrderChange::Queue { at: now + 1_000 }
        );
        assert_eq!(
            exhausted(&o, &[FailReason::Other], now),
            OrderChange::Fail {
                code: FailureCode::SupplierRejected
            }
        );
        assert_eq!(
            exhausted(&o, &[], o.wait_until),
            OrderChange::Fail {
                code: FailureCode::ProductUnavailable
            }
        );
    }

    #[test]
    fn inquiry_due_is_scheduled_or_the_suppliers_minimum() {
        let s = settings();
        let a = attempt(1, "a", AttemptState::Pending);
        assert_eq!(inquiry_due(&s, &a), T0 + 60_000);
        let b = attempt(1, "b", AttemptState::Unknown);
        assert_eq!(inquiry_due(&s, &b), T0 + 30_000);
        let gone = attempt(1, "gone", AttemptState::Unknown);
        assert_eq!(inquiry_due(&s, &gone), T0 + 60_000, "default minimum");
        let scheduled = Attempt {
            next_inquiry_at: Some(T0 + 5),
            ..a
        };
        assert_eq!(inquiry_due(&s, &scheduled), T0 + 5);
    }

    #[test]
    fn inquiry_back_off_is_the_former_doubling() {
        let s = settings();
        // (supplier, min, max): a doubles 60 s → 600 s, b 30 s → 100 s; an unknown
        // supplier gets 60 s → 600 s.
        for (supplier, min, max) in [
            ("a", 60_000, 600_000),
            ("b", 30_000, 100_000),
            ("x", 60_000, 600_000),
        ] {
            let a = attempt(1, supplier, AttemptState::Pending);
            for n in -1..40 {
                let old = T0 + (min * (1i64 << n.clamp(0, 10))).min(max).max(min);
                assert_eq!(backoff(&s, &a, n, T0), old, "{supplier} {n}");
            }
        }
        // A minimum above the maximum wins (as before).
        let mut odd = s.clone();
        odd.suppliers[0].inquiry_max_interval = std::time::Duration::from_secs(10);
        let a = attempt(1, "a", AttemptState::Pending);
        assert_eq!(backoff(&odd, &a, 3, T0), T0 + 60_000);
    }

    fn settle_at(a: &[Attempt], r: Outcome, inquiry: bool, now: i64) -> Settle {
        let open = a.last().expect("an attempt");
        settle(&settings(), &order(), a, open, &reply(r), inquiry, now)
    }

    #[test]
    fn success_succeeds_with_the_serial_and_what_was_charged() {
        let open = [attempt(1, "a", AttemptState::Sending)];
        let mut r = reply(Outcome::Success { sn: "SN9".into() });
        r.price = Some(10_100);
        let s = settle(&settings(), &order(), &open, &open[0], &r, false, T0 + 10);
        assert_eq!(s.state, AttemptState::Success);
        assert_eq!(s.change, OrderChange::Succeed { sn: "SN9".into() });
        assert_eq!(s.result.sn.as_deref(), Some("SN9"));
        assert_eq!(s.result.charged, Some(10_100));
        assert_eq!((s.order_version, s.now), (3, T0 + 10));
    }

    #[test]
    fn a_destination_error_stops_even_with_routes_left() {
        let open = [attempt(1, "a", AttemptState::Sending)];
        let s = settle_at(&open, Outcome::Failed(FailReason::Destination), false, T0);
        assert_eq!(s.state, AttemptState::Failed);
        assert_eq!(
            s.change,
            OrderChange::Fail {
                code: FailureCode::DestinationRejected
            }
        );
        assert_eq!(s.result.reason.as_deref(), Some("destination"));
    }

    #[test]
    fn other_failures_try_the_next_route() {
        for reason in FailReason::ALL {
            if reason == FailReason::Destination {
                continue;
            }
            let open = [attempt(1, "a", AttemptState::Sending)];
            let s = settle_at(&open, Outcome::Failed(reason), false, T0 + 7);
            assert_eq!(s.state, AttemptState::Failed, "{reason:?}");
            assert_eq!(s.change, OrderChange::Dispatch { at: T0 + 7 }, "{reason:?}");
            assert_eq!(s.result.reason.as_deref(), Some(reason.as_str()));
        }
    }

    #[test]
    fn the_last_routes_failure_queues_or_fails_the_order() {
        let now = T0 + 2_000;
        // b was the last route; a was only down: a new round.
        let down = [
            failed(1, "a", FailReason::SupplierDown),
            attempt(2, "b", AttemptState::Sending),
        ];
        let s = settle_at(&down, Outcome::Failed(FailReason::Other), false, now);
        assert_eq!(s.change, OrderChange::Queue { at: now + 1_000 });
        // Both said a definitive no (this reply counts too): failed.
        let no = [
            failed(1, "a", FailReason::Other),
            attempt(2, "b", AttemptState::Sending),
        ];
        let s = settle_at(&no, Outcome::Failed(FailReason::Config), false, now);
        assert_eq!(
            s.change,
            OrderChange::Fail {
                code: FailureCode::SupplierRejected
            }
        );
        // This reply alone says unavailable: a new round.
        let s = settle_at(&no, Outcome::Failed(FailReason::Maintenance), false, now);
        assert_eq!(s.change, OrderChange::Queue { at: now + 1_000 });
    }

    #[test]
    fn pending_and_unknown_wait_for_the_supplier() {
        let open = [attempt(1, "a", AttemptState::Sending)];
        let now = T0 + 1_000;
        let s = settle_at(&open, Outcome::Pending, false, now);
        assert_eq!(s.state, AttemptState::Pending);
        assert_eq!(s.change, OrderChange::Await { at: now + 60_000 });
        let s = settle_at(&open, Outcome::Unknown, false, now);
        assert_eq!(s.state, AttemptState::Unknown);
        assert_eq!(s.change, OrderChange::Await { at: now + 60_000 });
        // An inquiry counts: the next one waits twice as long.
        let asked = [Attempt {
            inquiries: 1,
            ..attempt(1, "a", AttemptState::Pending)
        }];
        let s = settle_at(&asked, Outcome::Pending, true, now);
        assert!(s.inquiry);
        assert_eq!(s.change, OrderChange::Await { at: now + 240_000 });
        // Never past the time for manual review (one hour after the start).
        let s = settle_at(&asked, Outcome::Pending, true, T0 + 3_500_000);
        assert_eq!(s.change, OrderChange::Await { at: T0 + 3_600_000 });
    }

    #[test]
    fn an_attempt_open_too_long_goes_to_manual_review() {
        let open = [attempt(1, "a", AttemptState::Unknown)];
        let s = settle_at(&open, Outcome::Unknown, true, T0 + 3_600_000);
        assert_eq!(s.state, AttemptState::Unknown);
        assert_eq!(s.change, OrderChange::ManualReview);
    }

    #[test]
    fn an_order_on_the_desk_stays_there_however_long_it_waits() {
        // Supplier b is the desk (dialect manual): its attempts never go to manual review.
        let mut s = settings();
        s.suppliers[1].dialect = crate::config::Dialect::Manual;
        let open = [
            failed(1, "a", FailReason::SupplierDown),
            attempt(2, "b", AttemptState::Pending),
        ];
        let day = T0 + 86_400_000;
        assert_eq!(review_at(&s, &open[1]), i64::MAX);
        let st = settle(
            &s,
            &order(),
            &open,
            &open[1],
            &reply(Outcome::Pending),
            true,
            day,
        );
        assert_eq!(st.state, AttemptState::Pending);
        // Paced as any inquiry (b: 30 s doubling to 100 s), never moved or failed over.
        assert_eq!(st.change, OrderChange::Await { at: day + 60_000 });
        // The same wait at a supplier reached over HTTP is manual review.
        let at_a = [attempt(1, "a", AttemptState::Pending)];
        let st = settle(
            &s,
            &order(),
            &at_a,
            &at_a[0],
            &reply(Outcome::Pending),
            true,
            day,
        );
        assert_eq!(st.change, OrderChange::ManualReview);
    }

    #[test]
    fn an_inquiry_that_did_not_reach_the_supplier_says_nothing() {
        let open = [attempt(1, "a", AttemptState::Unknown)];
        for reason in [FailReason::NotSent, FailReason::Config] {
            let s = settle_at(&open, Outcome::Failed(reason), true, T0 + 1_000);
            assert_eq!(s.state, AttemptState::Unknown, "{reason:?}");
            assert!(matches!(s.change, OrderChange::Await { .. }));
            assert_eq!(s.result.reason, None);
        }
        // The same reply to the request itself is a failure.
        let s = settle_at(&open, Outcome::Failed(FailReason::NotSent), false, T0);
        assert_eq!(s.state, AttemptState::Failed);
    }

    #[test]
    fn a_charged_price_counts_only_within_half_to_twice_the_cost() {
        let a = attempt(1, "a", AttemptState::Success);
        assert_eq!(charged(&a, None), None);
        assert_eq!(charged(&a, Some(10_150)), Some(10_150));
        assert_eq!(charged(&a, Some(5_075)), Some(5_075));
        assert_eq!(charged(&a, Some(20_300)), Some(20_300));
        assert_eq!(charged(&a, Some(5_074)), None);
        assert_eq!(charged(&a, Some(20_301)), None);
    }
}
