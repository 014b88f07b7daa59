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
}

/// The decision after one attempt's outcome. `routes_left` says whether any untried route
/// remains for the order. Never `TryNextRoute` unless the outcome is `Failed`.
pub fn after_outcome(outcome: &Outcome, routes_left: bool) -> Next {
    match outcome {
        Outcome::Success { sn } => Next::Succeed { sn: sn.clone() },
        Outcome::Pending | Outcome::Unknown => Next::AwaitSupplier,
        Outcome::Failed(FailReason::Destination) => Next::Fail(FailureCode::DestinationRejected),
        Outcome::Failed(_) if routes_left => Next::TryNextRoute,
        Outcome::Failed(_) => Next::Fail(FailureCode::SupplierRejected),
    }
}

/// The reseller-facing message for an order, Indonesian.
pub fn message_id(status: OrderStatus, failure: Option<FailureCode>, stage: Option<Stage>) -> &'static str {
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
            Next::Fail(FailureCode::SupplierRejected)
        );
    }
}
