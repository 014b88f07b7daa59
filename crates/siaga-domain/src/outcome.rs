//! What one attempt at a supplier came to, and the per-dialect tables (data, not branches)
//! that turn a supplier's reply code into that outcome. SPEC.md section 6.3.

/// The outcome of one attempt — exactly one of four.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done, with the supplier's serial number (may be empty if the supplier sent none).
    Success { sn: String },
    /// Accepted; the result comes later (callback or inquiry).
    Pending,
    /// Definitive failure: nothing was or will be delivered by this supplier for this attempt.
    Failed(FailReason),
    /// We cannot tell whether the supplier acted (timeout, reset after sending, 5xx, garbage).
    Unknown,
}

impl Outcome {
    /// The label used in storage and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Success { .. } => "success",
            Outcome::Pending => "pending",
            Outcome::Failed(_) => "failed",
            Outcome::Unknown => "unknown",
        }
    }

    /// Still open at the supplier: must be settled there (callback or inquiry), never elsewhere.
    pub fn is_open(&self) -> bool {
        matches!(self, Outcome::Pending | Outcome::Unknown)
    }

    /// Counts against the supplier's health (SPEC 6.4): not_sent, supplier_down, unknown.
    pub fn is_health_failure(&self) -> bool {
        matches!(
            self,
            Outcome::Unknown | Outcome::Failed(FailReason::NotSent | FailReason::SupplierDown)
        )
    }
}

/// Why an attempt failed; decides what happens next (SPEC 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailReason {
    NotSent,
    SupplierDown,
    Maintenance,
    SupplierBalance,
    Destination,
    Config,
    Other,
}

impl FailReason {
    pub const ALL: [FailReason; 7] = [
        FailReason::NotSent,
        FailReason::SupplierDown,
        FailReason::Maintenance,
        FailReason::SupplierBalance,
        FailReason::Destination,
        FailReason::Config,
        FailReason::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FailReason::NotSent => "not_sent",
            FailReason::SupplierDown => "supplier_down",
            FailReason::Maintenance => "maintenance",
            FailReason::SupplierBalance => "supplier_balance",
            FailReason::Destination => "destination",
            FailReason::Config => "config",
            FailReason::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<FailReason> {
        FailReason::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// A destination error fails at every supplier: the order fails now, no other route.
    pub fn allows_failover(self) -> bool {
        self != FailReason::Destination
    }
}

/// What a reply code means, as a table entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RcClass {
    Success,
    Pending,
    Failed(FailReason),
}

/// A dialect's reply table: status words and rc codes → class. Data, not branches.
#[derive(Debug)]
pub struct RcTable {
    pub dialect: &'static str,
    /// Status words (case-insensitive) that decide the class on their own, except `Failed`
    /// whose reason still comes from the rc.
    pub statuses: &'static [(&'static str, RcClass)],
    pub codes: &'static [(&'static str, RcClass)],
    /// Reason for a failure whose rc is not in the table.
    pub default_reason: FailReason,
    /// Codes that, in reply to a status inquiry, reject the inquiry itself (rate limit,
    /// signature...) and say nothing about the transaction asked about.
    pub inconclusive_on_inquiry: &'static [&'static str],
}

use FailReason as F;
use RcClass as C;

/// The Digiflazz buyer API (SUPPLIERS.md, SPEC 6.3).
pub const DIGIFLAZZ: RcTable = RcTable {
    dialect: "digiflazz",
    statuses: &[
        ("sukses", C::Success),
        ("pending", C::Pending),
        ("gagal", C::Failed(F::Other)),
    ],
    codes: &[
        ("00", C::Success),
        ("03", C::Pending),
        ("99", C::Pending),
        // supplier_down
        ("01", C::Failed(F::SupplierDown)),
        ("02", C::Failed(F::SupplierDown)),
        ("53", C::Failed(F::SupplierDown)),
        ("55", C::Failed(F::SupplierDown)),
        ("62", C::Failed(F::SupplierDown)),
        ("64", C::Failed(F::SupplierDown)),
        ("68", C::Failed(F::SupplierDown)),
        ("70", C::Failed(F::SupplierDown)),
        ("71", C::Failed(F::SupplierDown)),
        ("74", C::Failed(F::SupplierDown)),
        ("85", C::Failed(F::SupplierDown)),
        // maintenance
        ("58", C::Failed(F::Maintenance)),
        ("66", C::Failed(F::Maintenance)),
        // supplier_balance
        ("44", C::Failed(F::SupplierBalance)),
        ("56", C::Failed(F::SupplierBalance)),
        ("61", C::Failed(F::SupplierBalance)),
        // destination
        ("51", C::Failed(F::Destination)),
        ("52", C::Failed(F::Destination)),
        ("54", C::Failed(F::Destination)),
        ("57", C::Failed(F::Destination)),
        ("59", C::Failed(F::Destination)),
        ("60", C::Failed(F::Destination)),
        ("72", C::Failed(F::Destination)),
        ("73", C::Failed(F::Destination)),
        // config: our setup is wrong
        ("40", C::Failed(F::Config)),
        ("41", C::Failed(F::Config)),
        ("42", C::Failed(F::Config)),
        ("43", C::Failed(F::Config)),
        ("45", C::Failed(F::Config)),
        ("47", C::Failed(F::Config)),
        ("49", C::Failed(F::Config)),
        ("67", C::Failed(F::Config)),
        ("69", C::Failed(F::Config)),
        ("80", C::Failed(F::Config)),
        ("81", C::Failed(F::Config)),
        ("82", C::Failed(F::Config)),
        ("87", C::Failed(F::Config)),
        ("88", C::Failed(F::Config)),
    ],
    default_reason: F::Other,
    inconclusive_on_inquiry: &["40", "41", "42", "45", "83", "85"],
};

impl RcTable {
    pub fn code(&self, rc: &str) -> Option<RcClass> {
        self.codes.iter().find(|(c, _)| *c == rc).map(|(_, k)| *k)
    }

    fn status(&self, status: &str) -> Option<RcClass> {
        self.statuses
            .iter()
            .find(|(s, _)| s.eq_ignore_ascii_case(status.trim()))
            .map(|(_, k)| *k)
    }

    /// The outcome of a status inquiry. Only an answer about the transaction may close an
    /// open attempt: a request that never left (`not_sent`), our own setup failing
    /// (`config`), or a reply code that rejects the inquiry itself leaves the attempt
    /// `Unknown`, never `Failed` — failing it would let another supplier top up again.
    pub fn inquiry_outcome(&self, outcome: Outcome, rc: Option<&str>) -> Outcome {
        match outcome {
            Outcome::Failed(FailReason::NotSent | FailReason::Config) => Outcome::Unknown,
            Outcome::Failed(_)
                if rc.is_some_and(|r| self.inconclusive_on_inquiry.contains(&r.trim())) =>
            {
                Outcome::Unknown
            }
            other => other,
        }
    }

    /// Classify a parsed reply. `status` and `rc` are whatever the supplier sent; a reply
    /// whose status and rc say nothing we recognise is `Unknown`, never `Failed`.
    pub fn classify(&self, status: Option<&str>, rc: Option<&str>, sn: &str) -> Outcome {
        let rc = rc.map(str::trim).filter(|r| !r.is_empty());
        let by_code = rc.and_then(|r| self.code(r));
        let status = status.map(str::trim).filter(|s| !s.is_empty());
        let by_status = status.and_then(|s| self.status(s));
        let class = match (status, by_status, by_code) {
            // A status word we do not know says nothing we can act on, whatever the rc.
            (Some(_), None, _) => return Outcome::Unknown,
            // A failure's reason comes from its rc; an unlisted rc gets the default reason.
            (_, Some(C::Failed(_)), Some(C::Failed(r))) => C::Failed(r),
            (_, Some(C::Failed(_)), None) => C::Failed(self.default_reason),
            // Status and rc disagree (Gagal with rc 00/03/99, Sukses with a failure rc,
            // Pending with a failure rc): we cannot tell, so settle it by inquiry.
            (_, Some(C::Failed(_)), Some(_)) => return Outcome::Unknown,
            (_, Some(C::Success), Some(C::Success)) => C::Success,
            (_, Some(C::Success), None) if rc.is_none() => C::Success,
            (_, Some(C::Success), _) => return Outcome::Unknown,
            (_, Some(C::Pending), Some(C::Failed(_))) => return Outcome::Unknown,
            (_, Some(C::Pending), _) => C::Pending,
            (None, None, Some(c)) => c,
            (None, None, None) => return Outcome::Unknown,
        };
        match class {
            C::Success => Outcome::Success { sn: sn.to_owned() },
            C::Pending => Outcome::Pending,
            C::Failed(r) => Outcome::Failed(r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_table_rows() {
        let t = &DIGIFLAZZ;
        let f = |rc: &str| t.classify(Some("Gagal"), Some(rc), "");
        for rc in [
            "01", "02", "53", "55", "62", "64", "68", "70", "71", "74", "85",
        ] {
            assert_eq!(f(rc), Outcome::Failed(F::SupplierDown), "rc {rc}");
        }
        for rc in ["58", "66"] {
            assert_eq!(f(rc), Outcome::Failed(F::Maintenance));
        }
        for rc in ["44", "56", "61"] {
            assert_eq!(f(rc), Outcome::Failed(F::SupplierBalance));
        }
        for rc in ["51", "52", "54", "57", "59", "60", "72", "73"] {
            assert_eq!(f(rc), Outcome::Failed(F::Destination));
        }
        for rc in [
            "40", "41", "42", "43", "45", "47", "49", "67", "69", "80", "81", "82", "87", "88",
        ] {
            assert_eq!(f(rc), Outcome::Failed(F::Config));
        }
        assert_eq!(f("84"), Outcome::Failed(F::Other));
        assert_eq!(f("50"), Outcome::Failed(F::Other));
    }

    #[test]
    fn success_pending_unknown() {
        let t = &DIGIFLAZZ;
        assert_eq!(
            t.classify(Some("Sukses"), Some("00"), "123"),
            Outcome::Success { sn: "123".into() }
        );
        assert_eq!(
            t.classify(Some("Pending"), Some("03"), ""),
            Outcome::Pending
        );
        assert_eq!(
            t.classify(Some("Pending"), Some("99"), ""),
            Outcome::Pending
        );
        // rc 01 is a final failure, not pending (several libraries get this wrong)
        assert_eq!(
            t.classify(Some("Gagal"), Some("01"), ""),
            Outcome::Failed(F::SupplierDown)
        );
        assert_eq!(t.classify(None, None, ""), Outcome::Unknown);
        assert_eq!(t.classify(Some("???"), None, ""), Outcome::Unknown);
        // an unknown status word is unknown whatever the rc says
        assert_eq!(
            t.classify(Some("Diproses"), Some("02"), ""),
            Outcome::Unknown
        );
        // status and rc disagree: never a failover, never a charge — settle by inquiry
        for rc in ["00", "03", "99"] {
            assert_eq!(
                t.classify(Some("Gagal"), Some(rc), ""),
                Outcome::Unknown,
                "Gagal rc {rc}"
            );
        }
        assert_eq!(t.classify(Some("Sukses"), Some("54"), ""), Outcome::Unknown);
        assert_eq!(
            t.classify(Some("Sukses"), Some("02"), "1"),
            Outcome::Unknown
        );
        assert_eq!(
            t.classify(Some("Sukses"), Some("7777"), "1"),
            Outcome::Unknown
        );
        assert_eq!(
            t.classify(Some("Pending"), Some("54"), ""),
            Outcome::Unknown
        );
        // Sukses without an rc is still a success
        assert_eq!(
            t.classify(Some("Sukses"), None, "9"),
            Outcome::Success { sn: "9".into() }
        );
        // an error body with only an rc (e.g. a 4xx with data.rc)
        assert_eq!(t.classify(None, Some("41"), ""), Outcome::Failed(F::Config));
    }

    #[test]
    fn inquiries_close_only_on_an_answer_about_the_transaction() {
        let t = &DIGIFLAZZ;
        assert_eq!(
            t.inquiry_outcome(Outcome::Failed(F::NotSent), None),
            Outcome::Unknown
        );
        assert_eq!(
            t.inquiry_outcome(Outcome::Failed(F::Config), Some("41")),
            Outcome::Unknown
        );
        assert_eq!(
            t.inquiry_outcome(Outcome::Failed(F::SupplierDown), Some("85")),
            Outcome::Unknown
        );
        // a real answer about the transaction stands
        assert_eq!(
            t.inquiry_outcome(Outcome::Failed(F::SupplierDown), Some("02")),
            Outcome::Failed(F::SupplierDown)
        );
        assert_eq!(
            t.inquiry_outcome(Outcome::Failed(F::Destination), Some("54")),
            Outcome::Failed(F::Destination)
        );
        assert_eq!(
            t.inquiry_outcome(Outcome::Pending, Some("03")),
            Outcome::Pending
        );
    }

    #[test]
    fn health_failures() {
        assert!(Outcome::Unknown.is_health_failure());
        assert!(Outcome::Failed(F::NotSent).is_health_failure());
        assert!(!Outcome::Failed(F::Destination).is_health_failure());
        assert!(!F::Destination.allows_failover());
        assert!(F::SupplierDown.allows_failover());
    }
}
