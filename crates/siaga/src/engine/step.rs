//! The pure order step: what to do next with an order, from the order, its attempts, what
//! the engine knows about its suppliers and routes (given as values) and the time. No IO,
//! no clock, no randomness: the executor ([`super::process`]) reads, asks, acts and loops.
//!
//! The decision has two phases because a route is taken with a concurrency permit, which
//! only the executor can take: [`next_step`] says what to do with the order as it stands,
//! and when no attempt is open ([`Step::Choose`]), [`choose`] orders the routes to try
//! and says what happens to the order when none of them grants a permit.

use siaga_domain::{OrderStatus, Stage};
use siaga_store::{Attempt, Order, OrderChange, Settle};
use siaga_suppliers::Reply;

use super::decide;
use crate::config::{Route, Settings};

/// What to do next with an order.
#[derive(Debug)]
pub enum Step<'a> {
    /// Nothing: the order is final or in manual review.
    Leave,
    /// The open attempt's next inquiry is not due yet and the order already waits for it.
    Wait,
    /// Settle the open attempt with a reply that lost a race (see [`late_applies`]).
    ApplyLate(Box<Settle>),
    /// The open attempt's supplier left the config: only a human can settle it.
    ManualReview,
    /// Change the order (here: wait for the open attempt's inquiry).
    Change(OrderChange),
    /// Ask the open attempt's supplier about it now.
    Inquire(&'a Attempt),
    /// No attempt is open: choose a route with [`choose`].
    Choose,
}

/// The routes of the order's current round as health sees them now.
#[derive(Debug, Default)]
pub struct Routes<'r> {
    /// Some route of this round is not tried yet (usable now or not).
    pub untried: bool,
    /// The untried routes health lets through now, with their current cost, in the order
    /// the routing strategy says.
    pub usable: Vec<(&'r Route, i64)>,
}

/// Where the order goes when no attempt is open.
#[derive(Debug, PartialEq)]
pub enum Choice<'r> {
    /// Start an attempt on the first of `routes` whose supplier grants a permit; when none
    /// does (all at their concurrency limit), wait in line for a slot and change the order
    /// by `otherwise` (none: it is already held, [`decide::slot_wait`]).
    Send {
        routes: Vec<(&'r Route, i64)>,
        otherwise: Option<OrderChange>,
    },
    /// No route can take it now: hold, queue or fail.
    Change(OrderChange),
}

/// Where an order stands once the store settled one of its attempts.
#[derive(Debug, PartialEq, Eq)]
pub enum After {
    /// Final: count it and wake the callback deliverer.
    Final,
    /// The next route is to be tried now: look again.
    Again,
    /// Waiting (for the supplier, a route, a human): nothing more now.
    Rest,
}

/// Whether the engine has anything to do with the order: pending and not in manual review.
pub fn is_live(order: &Order) -> bool {
    order.status == OrderStatus::Pending && order.stage != Some(Stage::ManualReview)
}

/// The order's open attempt: its last one while that is not settled. An open attempt is
/// settled at its own supplier, never elsewhere, so no other route is tried meanwhile.
pub fn open_attempt(attempts: &[Attempt]) -> Option<&Attempt> {
    attempts.last().filter(|a| a.state.is_open())
}

/// Whether a reply that lost a race (`late`: attempt id and reply) is news for `open`: it
/// is that attempt's, and it settles it, or the attempt was still `sending` (then pending
/// or unknown is news too).
pub fn late_applies(open: &Attempt, late: &(String, Reply)) -> bool {
    let (id, reply) = late;
    *id == open.id && (!reply.outcome.is_open() || open.state == siaga_store::AttemptState::Sending)
}

/// The next step for `order` with `attempts` at `now`. `late` is a reply that lost a race
/// with a supplier callback; `supplier_known` says whether the supplier of the order's last
/// attempt still has an adapter (is configured).
pub fn next_step<'a>(
    settings: &Settings,
    order: &Order,
    attempts: &'a [Attempt],
    late: Option<&(String, Reply)>,
    supplier_known: bool,
    now: i64,
) -> Step<'a> {
    if !is_live(order) {
        return Step::Leave;
    }
    let Some(open) = open_attempt(attempts) else {
        return Step::Choose;
    };
    if let Some((_, reply)) = late.filter(|l| late_applies(open, l)) {
        let settle = decide::settle(settings, order, attempts, open, reply, false, now);
        return Step::ApplyLate(Box::new(settle));
    }
    if !supplier_known {
        return Step::ManualReview;
    }
    let due = decide::inquiry_due(settings, open);
    if now >= due {
        Step::Inquire(open)
    } else if order.next_action_at == Some(due) && order.stage == Some(Stage::AwaitingSupplier) {
        Step::Wait
    } else {
        Step::Change(OrderChange::Await { at: due })
    }
}

/// Where an order without an open attempt goes, given its round's `routes`: to the usable
/// ones in order; with none usable, held while some route is untried (in maintenance,
/// circuit open...), else queued for a new round or failed ([`decide::exhausted`]).
pub fn choose<'r>(order: &Order, attempts: &[Attempt], routes: Routes<'r>, now: i64) -> Choice<'r> {
    if !routes.usable.is_empty() {
        return Choice::Send {
            routes: routes.usable,
            // Usable but no permit: every one is only at its concurrency limit.
            otherwise: decide::slot_wait(order, now),
        };
    }
    if routes.untried {
        Choice::Change(decide::hold(order, false, now))
    } else {
        // Every route of this round failed: queue for a new round, or fail.
        let failures = decide::round_failures(attempts, order.round);
        Choice::Change(decide::exhausted(order, &failures, now))
    }
}

/// Where `o` stands after one of its attempts was settled.
pub fn after_settle(o: &Order) -> After {
    if o.status.is_final() {
        After::Final
    } else if o.stage == Some(Stage::Dispatching) {
        After::Again
    } else {
        After::Rest
    }
}

#[cfg(test)]
mod tests {
    use siaga_domain::{FailReason, FailureCode, OrderStatus, Outcome, Stage};
    use siaga_store::{AttemptState, OrderChange};

    use super::super::fixtures::{attempt, failed, order, reply, settings, T0};
    use super::*;
    use crate::clock::{Clock, ManualClock};

    fn step<'a>(
        order: &Order,
        attempts: &'a [Attempt],
        late: Option<&(String, Reply)>,
        known: bool,
        now: i64,
    ) -> Step<'a> {
        next_step(&settings(), order, attempts, late, known, now)
    }

    #[test]
    fn final_orders_are_left_alone() {
        let open = [attempt(1, "a", AttemptState::Pending)];
        for status in [OrderStatus::Success, OrderStatus::Failed] {
            let o = Order {
                status,
                stage: None,
                ..order()
            };
            assert!(!is_live(&o));
            assert!(matches!(
                step(&o, &open, None, true, T0 + 120_000),
                Step::Leave
            ));
        }
    }

    #[test]
    fn manual_review_orders_are_left_alone() {
        let o = Order {
            stage: Some(Stage::ManualReview),
            ..order()
        };
        let open = [attempt(1, "a", AttemptState::Unknown)];
        let late = (
            "att_1".to_owned(),
            reply(Outcome::Success { sn: "S".into() }),
        );
        assert!(matches!(
            step(&o, &open, Some(&late), true, T0 + 120_000),
            Step::Leave
        ));
    }

    #[test]
    fn without_an_open_attempt_a_route_is_chosen() {
        assert!(matches!(step(&order(), &[], None, false, T0), Step::Choose));
        let done = [failed(1, "a", FailReason::SupplierDown)];
        assert!(matches!(
            step(&order(), &done, None, true, T0),
            Step::Choose
        ));
    }

    #[test]
    fn an_open_attempt_whose_supplier_left_goes_to_manual_review() {
        let open = [attempt(1, "a", AttemptState::Unknown)];
        assert!(matches!(
            step(&order(), &open, None, false, T0 + 1),
            Step::ManualReview
        ));
    }

    #[test]
    fn inquiry_not_yet_due_waits_for_it_at_its_time() {
        let clock = ManualClock::new(T0);
        clock.advance(59_999);
        let open = [attempt(1, "a", AttemptState::Pending)];
        // Not yet waiting for it: the order is set to wait until the inquiry is due.
        let s = step(&order(), &open, None, true, clock.now_ms());
        assert!(
            matches!(s, Step::Change(OrderChange::Await { at }) if at == T0 + 60_000),
            "{s:?}"
        );
        // Already waiting for exactly that: nothing to write.
        let waiting = Order {
            stage: Some(Stage::AwaitingSupplier),
            next_action_at: Some(T0 + 60_000),
            ..order()
        };
        assert!(matches!(
            step(&waiting, &open, None, true, clock.now_ms()),
            Step::Wait
        ));
        // Waiting, but for another time (the schedule moved): rewritten.
        let other = Order {
            next_action_at: Some(T0 + 30_000),
            ..waiting
        };
        let s = step(&other, &open, None, true, clock.now_ms());
        assert!(matches!(s, Step::Change(OrderChange::Await { at }) if at == T0 + 60_000));
    }

    #[test]
    fn inquiry_due_asks_the_attempts_own_supplier() {
        let clock = ManualClock::new(T0 + 60_000);
        let open = [
            failed(1, "a", FailReason::SupplierDown),
            attempt(2, "b", AttemptState::Unknown),
        ];
        // Supplier b's minimum interval is 30 s.
        let s = step(&order(), &open, None, true, clock.now_ms());
        assert!(matches!(s, Step::Inquire(a) if a.id == "att_2"), "{s:?}");
        // A scheduled next inquiry wins over the minimum interval.
        let later = [Attempt {
            next_inquiry_at: Some(T0 + 200_000),
            inquiries: 2,
            ..attempt(1, "a", AttemptState::Pending)
        }];
        let s = step(&order(), &later, None, true, clock.now_ms());
        assert!(matches!(s, Step::Change(OrderChange::Await { at }) if at == T0 + 200_000));
        clock.advance(140_000);
        let s = step(&order(), &later, None, true, clock.now_ms());
        assert!(matches!(s, Step::Inquire(a) if a.id == "att_1"));
    }

    #[test]
    fn a_late_final_reply_settles_its_open_attempt() {
        let open = [attempt(1, "a", AttemptState::Pending)];
        let late = (
            "att_1".to_owned(),
            reply(Outcome::Success { sn: "SN1".into() }),
        );
        let Step::ApplyLate(s) = step(&order(), &open, Some(&late), true, T0 + 5) else {
            panic!("late reply not applied");
        };
        assert_eq!(s.attempt_id, "att_1");
        assert_eq!(s.state, AttemptState::Success);
        assert_eq!(s.change, OrderChange::Succeed { sn: "SN1".into() });
        assert!(!s.inquiry);
        // Even when its supplier has left the config: the reply is already here.
        assert!(matches!(
            step(&order(), &open, Some(&late), false, T0 + 5),
            Step::ApplyLate(_)
        ));
    }

    #[test]
    fn a_late_open_reply_counts_only_for_an_attempt_still_sending() {
        let late = ("att_1".to_owned(), reply(Outcome::Pending));
        // Pending is news for an attempt that was still `sending`...
        let sending = [attempt(1, "a", AttemptState::Sending)];
        let Step::ApplyLate(s) = step(&order(), &sending, Some(&late), true, T0 + 5) else {
            panic!("pending reply for a sending attempt not applied");
        };
        assert_eq!(s.state, AttemptState::Pending);
        assert!(matches!(s.change, OrderChange::Await { .. }));
        // ...not for one already pending: then the inquiry schedule decides.
        let pending = [attempt(1, "a", AttemptState::Pending)];
        assert!(!late_applies(&pending[0], &late));
        assert!(matches!(
            step(&order(), &pending, Some(&late), true, T0 + 5),
            Step::Change(OrderChange::Await { .. })
        ));
    }

    #[test]
    fn a_late_reply_for_another_attempt_is_ignored() {
        let open = [attempt(2, "b", AttemptState::Pending)];
        let late = (
            "att_1".to_owned(),
            reply(Outcome::Success { sn: "S".into() }),
        );
        assert!(!late_applies(&open[0], &late));
        assert!(matches!(
            step(&order(), &open, Some(&late), true, T0 + 30_000),
            Step::Inquire(_)
        ));
    }

    fn route(supplier: &str) -> Route {
        Route {
            supplier: supplier.into(),
            sku: format!("{supplier}10"),
            cost: siaga_domain::Rupiah::positive(10_150).expect("rupiah"),
            priority: 1,
        }
    }

    #[test]
    fn usable_routes_are_tried_in_order_else_held_at_the_limit() {
        let (a, b) = (route("a"), route("b"));
        let routes = Routes {
            untried: true,
            usable: vec![(&b, 10_200), (&a, 10_150)],
        };
        let now = T0 + 1_000;
        let c = choose(&order(), &[], routes, now);
        assert_eq!(
            c,
            Choice::Send {
                routes: vec![(&b, 10_200), (&a, 10_150)],
                // No permit anywhere: waits for a slot, the store's look 5 s on.
                otherwise: Some(OrderChange::Hold { at: now + 5_000 }),
            }
        );
        // Already held with a look ahead: nothing to write while it waits, until the
        // look is due.
        let held = Order {
            stage: Some(Stage::Queued),
            next_action_at: Some(now + 5_000),
            ..order()
        };
        let routes = || Routes {
            untried: true,
            usable: vec![(&a, 10_150)],
        };
        let at = |t| match choose(&held, &[], routes(), t) {
            Choice::Send { otherwise, .. } => otherwise,
            c => panic!("{c:?}"),
        };
        let clock = ManualClock::new(now);
        assert_eq!(at(clock.now_ms()), None);
        clock.advance(4_999);
        assert_eq!(at(clock.now_ms()), None);
        clock.advance(1);
        assert_eq!(
            at(clock.now_ms()),
            Some(OrderChange::Hold { at: now + 10_000 })
        );
        // Its wait over, it fails whether held or not.
        let over = held.wait_until.max(held.created_at + 10_000);
        assert_eq!(
            at(over),
            Some(OrderChange::Fail {
                code: FailureCode::ProductUnavailable
            })
        );
    }

    #[test]
    fn no_usable_route_holds_while_some_are_untried() {
        let routes = Routes {
            untried: true,
            usable: Vec::new(),
        };
        let now = T0 + 1_000;
        assert_eq!(
            choose(&order(), &[], routes, now),
            Choice::Change(OrderChange::Hold { at: now + 500 })
        );
    }

    #[test]
    fn every_route_failed_queues_a_new_round_or_fails() {
        let none_left = || Routes::default();
        let now = T0 + 1_000;
        // Some route was only unavailable: a new round after the back-off.
        let down = [
            failed(1, "a", FailReason::SupplierDown),
            failed(2, "b", FailReason::Other),
        ];
        assert_eq!(
            choose(&order(), &down, none_left(), now),
            Choice::Change(OrderChange::Queue { at: now + 1_000 })
        );
        // Every route said a definitive no: failed.
        let no = [
            failed(1, "a", FailReason::Config),
            failed(2, "b", FailReason::Other),
        ];
        assert_eq!(
            choose(&order(), &no, none_left(), now),
            Choice::Change(OrderChange::Fail {
                code: FailureCode::SupplierRejected
            })
        );
        // Failures of an earlier round do not count.
        let earlier = Order {
            round: 1,
            ..order()
        };
        assert_eq!(
            choose(&earlier, &no, none_left(), now),
            Choice::Change(OrderChange::Queue { at: now + 2_000 })
        );
    }

    #[test]
    fn the_wait_expired_fails_the_order_as_unavailable() {
        let o = order();
        let unavailable = Choice::Change(OrderChange::Fail {
            code: FailureCode::ProductUnavailable,
        });
        let late = o.wait_until;
        let held = Routes {
            untried: true,
            usable: Vec::new(),
        };
        assert_eq!(choose(&o, &[], held, late), unavailable);
        let down = [failed(1, "a", FailReason::Maintenance)];
        assert_eq!(choose(&o, &down, Routes::default(), late), unavailable);
    }

    #[test]
    fn after_a_settle_final_orders_stop_dispatching_ones_go_on() {
        let done = Order {
            status: OrderStatus::Success,
            stage: None,
            ..order()
        };
        assert_eq!(after_settle(&done), After::Final);
        assert_eq!(after_settle(&order()), After::Again);
        let waiting = Order {
            stage: Some(Stage::AwaitingSupplier),
            ..order()
        };
        assert_eq!(after_settle(&waiting), After::Rest);
        let queued = Order {
            stage: Some(Stage::Queued),
            ..order()
        };
        assert_eq!(after_settle(&queued), After::Rest);
    }
}
