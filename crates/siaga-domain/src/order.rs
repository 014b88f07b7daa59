//! The order state machine: statuses, stages, failure codes, and what to do after each
//! attempt outcome. At most once: only a `Failed` outcome lets another route be tried.

use crate::outcome::{FailReason, Outcome};

macro_rules! named_enum {
    ($(#[$m:meta])* $name:ident { $($var:ident => $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($var),+ }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$var),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$var => $s),+ }
            }
            pub fn parse(s: &str) -> Option<$name> {
                match s { $($s => Some($name::$var),)+ _ => None }
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

named_enum!(
    /// `pending` until final; final states never change.
    OrderStatus { Pending => "pending", Success => "success", Failed => "failed" }
);

named_enum!(
    /// Where a pending order is.
    Stage {
        Queued => "queued",
        Dispatching => "dispatching",
        AwaitingSupplier => "awaiting_supplier",
        ManualReview => "manual_review",
    }
);

named_enum!(
    /// Why a failed order failed (SPEC 5).
    FailureCode {
        InvalidDestination => "invalid_destination",
        ProductUnavailable => "product_unavailable",
        SupplierRejected => "supplier_rejected",
        DestinationRejected => "destination_rejected",
        Manual => "manual",
    }
);

impl OrderStatus {
    pub fn is_final(self) -> bool {
        self != OrderStatus::Pending
    }
}

/// What the switch does after an attempt outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Post the reservation; the order is `success` with this SN.
    Succeed { sn: String },
    /// Void the reservation; the order is `failed` with this code.
    Fail(FailureCode),
    /// The attempt failed definitively and another route may be tried.
    TryNextRoute,
    /// Pending or unknown: stay at this supplier until its callback or an inquiry settles it.
    AwaitSupplier,
    /// The attempt failed definitively and no untried route is left in this round:
    /// see [`on_exhausted`].
    Exhausted,
}

/// What happens when every route of a round has been tried (or none is usable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exhausted {
    /// Wait in the queue and look again at this time (a new round).
    Queue {
        at_ms: i64,
    },
    Fail(FailureCode),
}

/// Reasons that say "this route cannot serve now" rather than "this route said no".
pub fn is_unavailability(r: FailReason) -> bool {
    matches!(
        r,
        FailReason::NotSent
            | FailReason::SupplierDown
            | FailReason::Maintenance
            | FailReason::SupplierBalance
    )
}

/// Decides between waiting and failing once a round is exhausted. `failures` are the
/// reasons of this round's attempts (empty when no route was usable at all). An order waits
/// only if some route was merely unavailable and its `wait_until` is still ahead; the next
/// look is after a back-off that grows with the round, never past `wait_until`.
pub fn on_exhausted(
    failures: &[FailReason],
    round: i64,
    now_ms: i64,
    wait_until_ms: i64,
) -> Exhausted {
    let unavailable = failures.is_empty() || failures.iter().any(|r| is_unavailability(*r));
    if !unavailable {
        return Exhausted::Fail(FailureCode::SupplierRejected);
    }
    if now_ms >= wait_until_ms {
        return Exhausted::Fail(FailureCode::ProductUnavailable);
    }
    // 1 s in round 0, doubling per round, at most 16 s.
    let wait = crate::backoff::delay(round, 1_000, 16_000);
    Exhausted::Queue {
        at_ms: (now_ms + wait).min(wait_until_ms),
    }
}

/// The decision after one attempt's outcome. `routes_left` says whether any untried route
/// remains for the order. Never `TryNextRoute` unless the outcome is `Failed`.
pub fn after_outcome(outcome: &Outcome, routes_left: bool) -> Next {
    match outcome {
        Outcome::Success { sn } => Next::Succeed { sn: sn.clone() },
        Outcome::Pending | Outcome::Unknown => Next::AwaitSupplier,
        Outcome::Failed(FailReason::Destination) => Next::Fail(FailureCode::DestinationRejected),
        Outcome::Failed(_) if routes_left => Next::TryNextRoute,
        Outcome::Failed(_) => Next::Exhausted,
    }
}

/// The reseller-facing message for an order, Indonesian.
pub fn message_id(
    status: OrderStatus,
    failure: Option<FailureCode>,
    stage: Option<Stage>,
) -> &'static str {
    match (status, failure) {
        (OrderStatus::Success, _) => "Transaksi sukses",
        (OrderStatus::Failed, Some(FailureCode::DestinationRejected)) => {
            "Transaksi gagal: nomor tujuan ditolak"
        }
        (OrderStatus::Failed, Some(FailureCode::ProductUnavailable)) => {
            "Transaksi gagal: produk sedang tidak tersedia, saldo dikembalikan"
        }
        (OrderStatus::Failed, Some(FailureCode::InvalidDestination)) => {
            "Transaksi gagal: nomor tujuan tidak valid"
        }
        (OrderStatus::Failed, _) => "Transaksi gagal, saldo dikembalikan",
        (OrderStatus::Pending, _) => match stage {
            Some(Stage::Queued) => "Transaksi menunggu pemasok tersedia",
            Some(Stage::ManualReview) => "Transaksi sedang diperiksa operator",
            _ => "Transaksi sedang diproses",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn outcomes() -> impl Strategy<Value = Outcome> {
        prop_oneof![
            Just(Outcome::Success { sn: "1".into() }),
            Just(Outcome::Pending),
            Just(Outcome::Unknown),
            proptest::sample::select(FailReason::ALL.to_vec()).prop_map(Outcome::Failed),
        ]
    }

    proptest! {
        /// At most once: only a definitive failure may move the order to another route.
        #[test]
        fn only_failed_fails_over(o in outcomes(), left in any::<bool>()) {
            let next = after_outcome(&o, left);
            if next == Next::TryNextRoute {
                prop_assert!(matches!(o, Outcome::Failed(r) if r.allows_failover()));
                prop_assert!(left);
            }
            if o.is_open() {
                prop_assert_eq!(next, Next::AwaitSupplier);
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for s in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(s.as_str()), Some(*s));
        }
        for s in Stage::ALL {
            assert_eq!(Stage::parse(s.as_str()), Some(*s));
        }
        for s in FailureCode::ALL {
            assert_eq!(FailureCode::parse(s.as_str()), Some(*s));
        }
    }

    #[test]
    fn destination_error_never_fails_over() {
        assert_eq!(
            after_outcome(&Outcome::Failed(FailReason::Destination), true),
            Next::Fail(FailureCode::DestinationRejected)
        );
        assert_eq!(
            after_outcome(&Outcome::Failed(FailReason::SupplierDown), false),
            Next::Exhausted
        );
    }

    #[test]
    fn exhausted_rounds_wait_or_fail() {
        use FailReason as F;
        // every route said a definitive no: fail now, whatever the wait
        assert_eq!(
            on_exhausted(&[F::Config, F::Other], 0, 0, 60_000),
            Exhausted::Fail(FailureCode::SupplierRejected)
        );
        // some route was only unavailable: wait, with growing back-off capped at the deadline
        assert_eq!(
            on_exhausted(&[F::SupplierDown], 0, 0, 60_000),
            Exhausted::Queue { at_ms: 1_000 }
        );
        assert_eq!(
            on_exhausted(&[F::Maintenance, F::Other], 3, 0, 60_000),
            Exhausted::Queue { at_ms: 8_000 }
        );
        assert_eq!(
            on_exhausted(&[F::NotSent], 9, 0, 5_000),
            Exhausted::Queue { at_ms: 5_000 }
        );
        // wait over (or max_wait_s = 0): product unavailable
        assert_eq!(
            on_exhausted(&[F::SupplierDown], 0, 5_000, 5_000),
            Exhausted::Fail(FailureCode::ProductUnavailable)
        );
        assert_eq!(
            on_exhausted(&[], 0, 0, 0),
            Exhausted::Fail(FailureCode::ProductUnavailable)
        );
    }

    #[test]
    fn queue_back_off_per_round_is_unchanged() {
        // The numbers of the former `1_000 · (1 << round.clamp(0, 4))`, for every round.
        for round in -2..12 {
            let old = 1_000i64 * (1 << round.clamp(0, 4));
            assert_eq!(
                on_exhausted(&[FailReason::SupplierDown], round, 0, i64::MAX),
                Exhausted::Queue { at_ms: old },
                "round {round}"
            );
        }
    }
}
