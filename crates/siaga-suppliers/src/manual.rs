//! The `manual` dialect (SPEC 6.1.2): a human desk. A top-up sent here leaves nothing on the
//! wire: the order stays on the desk (its attempt `pending`) until an operator fulfils it by
//! other means and resolves it (`siaga order resolve`). Inquiries answer `pending` without
//! any IO; a desk has no balance, no price list and sends no reports.

use async_trait::async_trait;
use siaga_domain::Outcome;

use crate::adapter::{Adapter, PriceItem, Reply, ReportError, SupplierReport, TopupRequest};

/// What a manual supplier's balance and price list answer: there is none.
pub const NOT_APPLICABLE: &str =
    "not applicable: a manual supplier (the desk) has no balance or price list";

/// The desk: one per `dialect = "manual"` supplier.
#[derive(Debug, Clone)]
pub struct Manual {
    id: String,
}

impl Manual {
    pub fn new(id: impl Into<String>) -> Manual {
        Manual { id: id.into() }
    }
}

#[async_trait]
impl Adapter for Manual {
    fn id(&self) -> &str {
        &self.id
    }

    /// Puts the order on the desk: nothing is sent, the attempt is `pending`.
    async fn topup(&self, _req: &TopupRequest<'_>) -> Reply {
        Reply::bare(
            Outcome::Pending,
            "on the desk: an operator fulfils it and enters the SN",
        )
    }

    /// Still on the desk until an operator resolves it; no IO.
    async fn inquiry(&self, _req: &TopupRequest<'_>) -> Reply {
        Reply::bare(Outcome::Pending, "still on the desk")
    }

    async fn balance(&self) -> Result<i64, String> {
        Err(NOT_APPLICABLE.into())
    }

    async fn price_list(&self) -> Result<Vec<PriceItem>, String> {
        Err(NOT_APPLICABLE.into())
    }

    /// A desk sends no reports: every one is refused (nothing changes).
    fn parse_report(
        &self,
        _headers: &http::HeaderMap,
        _body: &[u8],
    ) -> Result<SupplierReport, ReportError> {
        Err(ReportError::NoSecret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_desk_sends_nothing_and_always_answers_pending() {
        let m = Manual::new("desk");
        let req = TopupRequest {
            supplier_ref: "r1",
            sku: "TSEL10",
            destination: "081234567890",
        };
        assert_eq!(m.id(), "desk");
        assert_eq!(m.topup(&req).await.outcome, Outcome::Pending);
        assert_eq!(m.inquiry(&req).await.outcome, Outcome::Pending);
        assert!(!m.topup(&req).await.outcome.is_health_failure());
        assert_eq!(m.balance().await, Err(NOT_APPLICABLE.to_string()));
        assert!(m.price_list().await.is_err());
        let h = http::HeaderMap::new();
        assert!(m.parse_report(&h, b"{}").is_err());
    }
}
