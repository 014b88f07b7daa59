//! siaga-suppliers: talking to upstream suppliers. One [`Adapter`] trait, the Digiflazz,
//! `http-template` and `manual` (the desk) dialects behind it (presets in `presets/`), the signature helpers they share, and the supplier simulator.

pub mod adapter;
pub mod digiflazz;
pub mod manual;
pub mod sign;
pub mod sim;
pub mod template;

pub use adapter::{
    Adapter, IncomingReport, PriceItem, Reply, ReportError, SupplierReport, TopupRequest,
};
pub use digiflazz::{Digiflazz, DigiflazzConfig};
pub use manual::Manual;
pub use template::{HttpTemplate, Template, TemplateConfig, Trace, Which};
