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
    /// does (all at their concurrency limit), change the order by `otherwise`.
    Send {
        routes: Vec<(&'r Route, i64)>,
        otherwise: OrderChange,
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
            otherwise: decide::hold(order, true, now),
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
