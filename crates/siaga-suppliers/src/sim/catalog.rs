//! The simulator's product catalog: products, the default catalog, upserts and cut-off windows.

use jiff::tz::{Offset, TimeZone};
use serde::{Deserialize, Serialize};

/// One product the simulated supplier sells (a Digiflazz price-list entry).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimProduct {
    /// `buyer_sku_code`.
    pub sku: String,
    pub name: String,
    pub brand: String,
    pub category: String,
    /// What a fulfilment costs the buyer, rupiah.
    pub price: i64,
    pub buyer_product_status: bool,
    pub seller_product_status: bool,
    /// Daily cut-off start, `"hh:mm"` WIB; equal to `end_cut_off` means no cut-off.
    pub start_cut_off: String,
    /// Daily cut-off end, `"hh:mm"` WIB (may be earlier than the start: crosses midnight).
    pub end_cut_off: String,
    /// Whether the same number may buy the same product more than once a day (informative).
    pub multi: bool,
}

/// A partial product for `POST /_sim/products`: `sku` plus the fields to change.
/// A new SKU needs at least `price`; other missing fields get defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductPatch {
    pub sku: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_product_status: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seller_product_status: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_cut_off: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_cut_off: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi: Option<bool>,
}

impl SimProduct {
    /// An active product without a cut-off window.
    pub fn new(sku: &str, name: &str, brand: &str, category: &str, price: i64) -> Self {
        SimProduct {
            sku: sku.to_string(),
            name: name.to_string(),
            brand: brand.to_string(),
            category: category.to_string(),
            price,
            buyer_product_status: true,
            seller_product_status: true,
            start_cut_off: "00:00".to_string(),
            end_cut_off: "00:00".to_string(),
            multi: true,
        }
    }

    /// A small catalog of common Indonesian prepaid products (all active, no cut-off).
    pub fn default_catalog() -> Vec<SimProduct> {
        let p = SimProduct::new;
        vec![
            p("tsel5", "Telkomsel 5.000", "TELKOMSEL", "Pulsa", 5_400),
            p("tsel10", "Telkomsel 10.000", "TELKOMSEL", "Pulsa", 10_250),
            p("tsel20", "Telkomsel 20.000", "TELKOMSEL", "Pulsa", 20_150),
            p("tsel25", "Telkomsel 25.000", "TELKOMSEL", "Pulsa", 25_100),
            p("tsel50", "Telkomsel 50.000", "TELKOMSEL", "Pulsa", 49_800),
            p("tsel100", "Telkomsel 100.000", "TELKOMSEL", "Pulsa", 98_700),
            p("isat5", "Indosat 5.000", "INDOSAT", "Pulsa", 5_800),
            p("isat10", "Indosat 10.000", "INDOSAT", "Pulsa", 10_700),
            p("isat25", "Indosat 25.000", "INDOSAT", "Pulsa", 24_900),
            p("xld5", "XL 5.000", "XL", "Pulsa", 5_850),
            p("xld10", "XL 10.000", "XL", "Pulsa", 10_850),
            p("xld25", "XL 25.000", "XL", "Pulsa", 24_950),
            p("axis10", "Axis 10.000", "AXIS", "Pulsa", 10_850),
            p("three10", "Tri 10.000", "TRI", "Pulsa", 10_300),
            p("smart10", "Smartfren 10.000", "SMARTFREN", "Pulsa", 10_150),
            p("pln20", "PLN 20.000", "PLN", "PLN", 20_200),
            p("pln50", "PLN 50.000", "PLN", "PLN", 50_200),
            p("pln100", "PLN 100.000", "PLN", "PLN", 100_200),
            p(
                "tseldata1",
                "Telkomsel Data 1 GB / 30 hari",
                "TELKOMSEL",
                "Data",
                14_500,
            ),
            p("xldata3", "XL Data 3 GB / 30 hari", "XL", "Data", 26_000),
        ]
    }

    /// Whether new transactions for this product are accepted at all.
    pub(super) fn active(&self) -> bool {
        self.buyer_product_status && self.seller_product_status
    }

    /// Whether `minute_of_day` (WIB) falls inside this product's cut-off window.
    pub(super) fn in_cut_off(&self, minute_of_day: u16) -> bool {
        let (Some(start), Some(end)) = (
            parse_hhmm(&self.start_cut_off),
            parse_hhmm(&self.end_cut_off),
        ) else {
            return false;
        };
        if start == end {
            false
        } else if start < end {
            (start..end).contains(&minute_of_day)
        } else {
            minute_of_day >= start || minute_of_day < end
        }
    }
}

/// `"hh:mm"` (or `"h:m"`) to minutes since midnight.
pub(super) fn parse_hhmm(s: &str) -> Option<u16> {
    let (h, m) = s.trim().split_once(':')?;
    let h: u16 = h.trim().parse().ok()?;
    let m: u16 = m.trim().parse().ok()?;
    (h < 24 && m < 60).then_some(h * 60 + m)
}

/// The current minute of the day in WIB (UTC+7, no DST).
pub(super) fn wib_minute_now() -> u16 {
    let now = jiff::Timestamp::now().to_zoned(TimeZone::fixed(Offset::constant(7)));
    // hour() is 0..=23 and minute() 0..=59, so these conversions never fail.
    let hour = u16::try_from(now.hour()).unwrap_or(0);
    let minute = u16::try_from(now.minute()).unwrap_or(0);
    hour * 60 + minute
}

/// Check a product's fields.
pub(super) fn validate(p: &SimProduct) -> Result<(), String> {
    if p.sku.trim().is_empty() {
        return Err("product sku must not be empty".to_string());
    }
    if p.price < 0 {
        return Err(format!("product {}: price must not be negative", p.sku));
    }
    for (field, v) in [
        ("start_cut_off", &p.start_cut_off),
        ("end_cut_off", &p.end_cut_off),
    ] {
        if parse_hhmm(v).is_none() {
            return Err(format!(
                "product {}: {field} must be \"hh:mm\", got {v:?}",
                p.sku
            ));
        }
    }
    Ok(())
}

/// Apply `patch` to `products` (insert or update); returns the resulting product.
pub(super) fn upsert(
    products: &mut Vec<SimProduct>,
    patch: ProductPatch,
) -> Result<SimProduct, String> {
    let sku = patch.sku.trim().to_string();
    if sku.is_empty() {
        return Err("sku: must not be empty".to_string());
    }
    let idx = products.iter().position(|p| p.sku == sku);
    let mut product = match idx {
        Some(i) => products[i].clone(),
        None => {
            let price = patch
                .price
                .ok_or_else(|| format!("price: required for the new product {sku}"))?;
            SimProduct::new(&sku, &sku, "SIM", "Pulsa", price)
        }
    };
    if let Some(v) = patch.name {
        product.name = v;
    }
    if let Some(v) = patch.brand {
        product.brand = v;
    }
    if let Some(v) = patch.category {
        product.category = v;
    }
    if let Some(v) = patch.price {
        product.price = v;
    }
    if let Some(v) = patch.buyer_product_status {
        product.buyer_product_status = v;
    }
    if let Some(v) = patch.seller_product_status {
        product.seller_product_status = v;
    }
    if let Some(v) = patch.start_cut_off {
        product.start_cut_off = v;
    }
    if let Some(v) = patch.end_cut_off {
        product.end_cut_off = v;
    }
    if let Some(v) = patch.multi {
        product.multi = v;
    }
    validate(&product)?;
    match idx {
        Some(i) => products[i] = product.clone(),
        None => products.push(product.clone()),
    }
    Ok(product)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_off_windows() {
        let mut p = SimProduct::new("x", "x", "x", "x", 1);
        assert!(!p.in_cut_off(0));
        p.start_cut_off = "23:45".into();
        p.end_cut_off = "00:15".into();
        assert!(p.in_cut_off(23 * 60 + 50));
        assert!(p.in_cut_off(10));
        assert!(!p.in_cut_off(15));
        assert!(!p.in_cut_off(12 * 60));
        p.start_cut_off = "1:0".into();
        p.end_cut_off = "02:30".into();
        assert!(p.in_cut_off(60));
        assert!(!p.in_cut_off(150));
        assert!(parse_hhmm("24:00").is_none());
        assert!(parse_hhmm("ab").is_none());
    }

    #[test]
    fn upsert_needs_price_for_new() {
        let mut v = SimProduct::default_catalog();
        let n = v.len();
        assert!(upsert(
            &mut v,
            ProductPatch {
                sku: "new1".into(),
                ..Default::default()
            }
        )
        .is_err());
        let p = upsert(
            &mut v,
            ProductPatch {
                sku: "new1".into(),
                price: Some(7),
                ..Default::default()
            },
        )
        .expect("insert");
        assert_eq!(p.price, 7);
        assert_eq!(v.len(), n + 1);
        let p = upsert(
            &mut v,
            ProductPatch {
                sku: "tsel5".into(),
                seller_product_status: Some(false),
                ..Default::default()
            },
        )
        .expect("update");
        assert!(!p.active());
        assert_eq!(v.len(), n + 1);
        assert!(upsert(
            &mut v,
            ProductPatch {
                sku: "tsel5".into(),
                end_cut_off: Some("25:00".into()),
                ..Default::default()
            },
        )
        .is_err());
    }
}
