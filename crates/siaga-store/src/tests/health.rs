//! Conformance cases: what the store keeps of suppliers' prices (the synced price list and
//! the prices learnt from charges).

use std::sync::Arc;

use super::*;
use crate::SupplierProduct;

fn item(sku: &str, price: i64, active: bool, cut_off: (&str, &str), at: i64) -> SupplierProduct {
    SupplierProduct {
        sku: sku.into(),
        price,
        buyer_status: active,
        seller_status: active,
        start_cut_off: cut_off.0.into(),
        end_cut_off: cut_off.1.into(),
        synced_at: at,
    }
}

/// A price learnt from a charge is kept (so it outlives a restart): it changes only the
/// price of a listed item, adds an active item without cut-off otherwise, and the next
/// price list replaces it.
pub(crate) async fn a_learnt_supplier_price_is_kept_until_the_next_price_list(
    store: Arc<dyn Store>,
) {
    let listed = item("a10", 10_150, false, ("23:00", "00:30"), T0);
    store
        .replace_supplier_products("sim0", vec![listed.clone()])
        .await
        .unwrap();
    store
        .learn_supplier_price("sim0", "a10", 10_600, T0 + 1)
        .await
        .unwrap();
    store
        .learn_supplier_price("sim0", "b10", 10_700, T0 + 2)
        .await
        .unwrap();
    store
        .learn_supplier_price("sim1", "a10", 9_000, T0 + 3)
        .await
        .unwrap();
    let mut all = store.supplier_products().await.unwrap();
    all.sort_by(|a, b| (&a.0, &a.1.sku).cmp(&(&b.0, &b.1.sku)));
    assert_eq!(
        all,
        vec![
            (
                "sim0".to_owned(),
                item("a10", 10_600, false, ("23:00", "00:30"), T0 + 1)
            ),
            (
                "sim0".to_owned(),
                item("b10", 10_700, true, ("00:00", "00:00"), T0 + 2)
            ),
            (
                "sim1".to_owned(),
                item("a10", 9_000, true, ("00:00", "00:00"), T0 + 3)
            ),
        ]
    );
    // The next price list of sim0 is the truth about sim0 again.
    store
        .replace_supplier_products("sim0", vec![listed.clone()])
        .await
        .unwrap();
    let mut all = store.supplier_products().await.unwrap();
    all.sort_by(|a, b| (&a.0, &a.1.sku).cmp(&(&b.0, &b.1.sku)));
    assert_eq!(
        all,
        vec![
            ("sim0".to_owned(), listed),
            (
                "sim1".to_owned(),
                item("a10", 9_000, true, ("00:00", "00:00"), T0 + 3)
            ),
        ]
    );
}

/// `ping` is one answered round trip on a store whose migrations are applied (what
/// `/readyz` asks).
pub(crate) async fn ping_answers_on_a_migrated_store(store: Arc<dyn Store>) {
    store.ping().await.expect("a fresh, migrated store answers");
    // Still answers with work in it.
    add_reseller(&*store, "r-ping", None).await;
    store.ping().await.expect("answers again");
}
