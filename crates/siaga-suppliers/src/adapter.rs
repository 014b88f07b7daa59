//! The one interface every supplier dialect implements. Replies are untrusted input:
//! whatever a supplier sends (or fails to send) becomes an [`Outcome`], never a panic.

use async_trait::async_trait;
use siaga_domain::Outcome;

/// One top-up (or its status inquiry: the same request again, same reference).
#[derive(Debug, Clone)]
pub struct TopupRequest<'a> {
    /// Our reference at the supplier, unique per attempt and never reused.
    pub supplier_ref: &'a str,
    pub sku: &'a str,
    pub destination: &'a str,
}

/// What a supplier said, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub outcome: Outcome,
    pub rc: Option<String>,
    pub http_status: Option<u16>,
    /// The supplier's message, trimmed and capped; for the owner's eyes only.
    pub message: Option<String>,
    /// The supplier's balance after this call, when it says.
    pub supplier_balance: Option<i64>,
    /// What the supplier charged, when it says.
    pub price: Option<i64>,
    /// The destination the supplier says the top-up went to, when it echoes one
    /// (Digiflazz: `customer_no`). Checked against the attempt, never trusted.
    pub customer_no: Option<String>,
    /// The product code the supplier says it sold, when it echoes one (Digiflazz:
    /// `buyer_sku_code`). Checked against the attempt, never trusted.
    pub sku: Option<String>,
}

impl Reply {
    pub fn bare(outcome: Outcome, message: impl Into<String>) -> Reply {
        Reply {
            outcome,
            rc: None,
            http_status: None,
            message: Some(message.into()),
            supplier_balance: None,
            price: None,
            customer_no: None,
            sku: None,
        }
    }
}

/// One item of a supplier's price list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceItem {
    pub sku: String,
    pub price: i64,
    pub buyer_status: bool,
    pub seller_status: bool,
    /// "hh:mm" in WIB; equal start and end mean no cut-off.
    pub start_cut_off: String,
    pub end_cut_off: String,
}

/// A verified supplier report (the supplier's own callback to `/hooks/suppliers/{id}`):
/// which attempt it is about and what it says.
#[derive(Debug, Clone)]
pub struct SupplierReport {
    pub supplier_ref: String,
    pub reply: Reply,
}

/// A report as it arrived: by `GET` or `POST`, on `/hooks/suppliers/{id}` or (suppliers that
/// sign nothing) on `/hooks/suppliers/{id}/{secret}`.
#[derive(Debug, Clone, Copy)]
pub struct IncomingReport<'a> {
    /// The raw query string (empty when none).
    pub query: &'a str,
    pub headers: &'a http::HeaderMap,
    pub body: &'a [u8],
    /// The secret written in the URL, when the report came by that route.
    pub url_secret: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    #[error("callback signature missing or wrong")]
    BadSignature,
    #[error("this supplier has no callback secret configured; callbacks are refused")]
    NoSecret,
    #[error("callback body is not understood: {0}")]
    Malformed(String),
}

#[async_trait]
pub trait Adapter: Send + Sync {
    fn id(&self) -> &str;
    /// Sends a top-up. Must classify every failure mode: refused before sending is
    /// `Failed(NotSent)`; anything after the request may have left is at worst `Unknown`.
    async fn topup(&self, req: &TopupRequest<'_>) -> Reply;
    /// Asks for the state of an earlier top-up with the same reference.
    async fn inquiry(&self, req: &TopupRequest<'_>) -> Reply;
    /// The supplier's deposit balance.
    async fn balance(&self) -> Result<i64, String>;
    /// The supplier's price list (prepaid).
    async fn price_list(&self) -> Result<Vec<PriceItem>, String>;
    /// Verifies and parses a supplier report; an unverifiable one changes nothing.
    fn parse_report(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<SupplierReport, ReportError>;
    /// Verifies and parses a report however it came. By default only a signed report on
    /// `/hooks/suppliers/{id}` is accepted (a secret in the URL is not this dialect's way).
    fn parse_incoming(&self, r: &IncomingReport<'_>) -> Result<SupplierReport, ReportError> {
        if r.url_secret.is_some() {
            return Err(ReportError::BadSignature);
        }
        self.parse_report(r.headers, r.body)
    }
}
