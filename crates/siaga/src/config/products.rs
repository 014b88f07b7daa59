//! The `[[products]]` section: its raw form and the checked [`Product`] with its
//! destination rule and routes (in priority order).

use std::collections::HashSet;

use serde::Deserialize;
use siaga_domain::{Operator, ProductCode, Rupiah};

use super::locate::Problem;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductCfg {
    pub code: String,
    pub name: String,
    pub operator: String,
    pub group: String,
    pub price: i64,
    #[serde(default)]
    pub routes: Vec<RouteCfg>,
    /// For products whose operator is not a mobile operator: allowed destination digits.
    #[serde(default)]
    pub destination_digits: Option<[u32; 2]>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteCfg {
    pub supplier: String,
    pub sku: String,
    pub cost: i64,
    #[serde(default)]
    pub priority: i64,
}

/// How a product's destination is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DestinationRule {
    Mobile(Operator),
    /// A non-mobile product (PLN token, e-wallet...): digits only, this many.
    Digits {
        operator: String,
        min: u32,
        max: u32,
    },
}

#[derive(Debug, Clone)]
pub struct Product {
    pub code: ProductCode,
    pub name: String,
    pub group: String,
    pub price: Rupiah,
    pub rule: DestinationRule,
    /// Sorted by priority (lowest first), then config order.
    pub routes: Vec<Route>,
}

/// The product groups that `supplier`'s maintenance (or trouble) actually touches: those
/// with a product whose first route is through it. Routed: every such product has a route
/// through another supplier, so orders go to a backup meanwhile; held: the others. A
/// group where `supplier` is only a backup sells as before and is in neither list.
pub fn affected_groups(products: &[Product], supplier: &str) -> (Vec<String>, Vec<String>) {
    let mut groups: Vec<(String, bool)> = Vec::new();
    for p in products {
        if p.routes.first().is_some_and(|r| r.supplier == supplier) {
            let backup = p.routes.iter().any(|r| r.supplier != supplier);
            match groups.iter_mut().find(|(g, _)| *g == p.group) {
                Some((_, b)) => *b &= backup,
                None => groups.push((p.group.clone(), backup)),
            }
        }
    }
    let pick = |want: bool| {
        groups
            .iter()
            .filter(|(_, b)| *b == want)
            .map(|(g, _)| g.clone())
            .collect()
    };
    (pick(true), pick(false))
}

impl Product {
    pub fn operator_name(&self) -> &str {
        match &self.rule {
            DestinationRule::Mobile(o) => o.name(),
            DestinationRule::Digits { operator, .. } => operator,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub supplier: String,
    pub sku: String,
    pub cost: Rupiah,
    pub priority: i64,
}

/// Checks every product, in file order; `suppliers` are the ids routes may name.
pub fn check(cfgs: &[ProductCfg], suppliers: &HashSet<&str>) -> Result<Vec<Product>, Problem> {
    let mut codes = HashSet::new();
    let mut out = Vec::with_capacity(cfgs.len());
    for (i, p) in cfgs.iter().enumerate() {
        let key = |k: &str| format!("products[{i}].{k}");
        let code = ProductCode::parse(&p.code).map_err(|e| (key("code"), e.to_string()))?;
        if !codes.insert(p.code.clone()) {
            return Err((
                key("code"),
                format!("product code {:?} is used twice", p.code),
            ));
        }
        let price = Rupiah::positive(p.price).map_err(|e| (key("price"), e.to_string()))?;
        let rule = rule(p).map_err(|(k, m)| (key(k), m))?;
        let mut routes = Vec::with_capacity(p.routes.len());
        for (j, r) in p.routes.iter().enumerate() {
            routes
                .push(route(r, suppliers).map_err(|(k, m)| (key(&format!("routes[{j}].{k}")), m))?);
        }
        // Stable: equal priorities keep the file's order.
        routes.sort_by_key(|r| r.priority);
        out.push(Product {
            code,
            name: p.name.clone(),
            group: p.group.clone(),
            price,
            rule,
            routes,
        });
    }
    Ok(out)
}

/// A mobile operator's numbers, or digits within `destination_digits` for the others.
fn rule(p: &ProductCfg) -> Result<DestinationRule, (&'static str, String)> {
    match (Operator::from_name(&p.operator), p.destination_digits) {
        (Some(op), None) => Ok(DestinationRule::Mobile(op)),
        (_, Some([min, max])) if min >= 1 && min <= max && max <= 32 => {
            Ok(DestinationRule::Digits {
                operator: p.operator.clone(),
                min,
                max,
            })
        }
        (_, Some(_)) => Err((
            "destination_digits",
            "must be [min, max] with 1 <= min <= max <= 32".into(),
        )),
        (None, None) => Err((
            "operator",
            format!(
                "{:?} is not a mobile operator (telkomsel, indosat, xl, axis, tri, smartfren); other products need destination_digits = [min, max]",
                p.operator
            ),
        )),
    }
}

fn route(r: &RouteCfg, suppliers: &HashSet<&str>) -> Result<Route, (&'static str, String)> {
    if !suppliers.contains(r.supplier.as_str()) {
        return Err(("supplier", format!("no supplier with id {:?}", r.supplier)));
    }
    let cost = Rupiah::positive(r.cost).map_err(|e| ("cost", e.to_string()))?;
    if r.sku.is_empty() {
        return Err(("sku", "must not be empty".into()));
    }
    Ok(Route {
        supplier: r.supplier.clone(),
        sku: r.sku.clone(),
        cost,
        priority: r.priority,
    })
}
