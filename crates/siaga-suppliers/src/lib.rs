//! siaga-suppliers: talking to upstream suppliers. One [`Adapter`] trait, the Digiflazz
//! dialect behind it, the signature helpers they share, and the supplier simulator.

pub mod adapter;
pub mod digiflazz;
pub mod sign;
pub mod sim;

pub use adapter::{Adapter, PriceItem, Reply, ReportError, SupplierReport, TopupRequest};
pub use digiflazz::{Digiflazz, DigiflazzConfig};
