//! siaga-domain: the pure rules of siaga — money, destinations, identifiers, supplier
//! outcomes and the order state machine. No IO, no async, no clock reads: every function
//! here maps values to values so it can be tested without a server.

pub mod backoff;
pub mod breaker;
pub mod ids;
pub mod limit;
pub mod money;
pub mod msisdn;
pub mod order;
pub mod outcome;
pub mod routing;
pub mod status;
pub mod window;

pub use ids::{ProductCode, RefId};
pub use money::Rupiah;
pub use msisdn::{Msisdn, MsisdnError, Operator};
pub use order::{Exhausted, FailureCode, Next, OrderStatus, Stage};
pub use outcome::{FailReason, Outcome, RcClass, RcTable};
