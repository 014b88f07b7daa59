//! Conformance case: a voucher credits its owner once, before expiry, through the ledger.

use std::sync::Arc;

use super::*;

pub(crate) async fn a_voucher_credits_its_owner_once_before_expiry(store: Arc<dyn Store>) {
    add_reseller(&*store, "r1", None).await;
    add_reseller(&*store, "r2", None).await;
    use crate::{NewVoucher, Redeem};
    let v = |code: &str, r: &str, incident: i64| NewVoucher {
        code: code.into(),
        reseller_id: r.into(),
        incident_id: incident,
        amount: 5_000,
        issued_at: T0,
        expires_at: T0 + 86_400_000,
    };
    let issued = store
        .issue_vouchers(vec![v("C1", "r1", 7), v("C2", "r2", 7)])
        .await
        .unwrap();
    assert_eq!(issued.len(), 2);
    // Once per reseller per incident.
    let again = store.issue_vouchers(vec![v("C3", "r1", 7)]).await.unwrap();
    assert!(again.is_empty());
    assert_eq!(store.incident_vouchers(7).await.unwrap().len(), 2);
    // Not another reseller's.
    assert_eq!(
        store.redeem_voucher("r2", "C1", T0 + 1).await.unwrap(),
        Redeem::NotFound
    );
    // Ten tries at once: one credit.
    let mut tries = Vec::new();
    for _ in 0..10 {
        let s = store.clone();
        tries.push(tokio::spawn(async move {
            s.redeem_voucher("r1", "C1", T0 + 2).await.unwrap()
        }));
    }
    let mut credited = 0;
    for t in tries {
        match t.await.unwrap() {
            Redeem::Credited { balance, .. } => {
                credited += 1;
                assert_eq!(balance.available, 5_000);
            }
            Redeem::AlreadyRedeemed(_) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(credited, 1);
    assert_eq!(store.balance("r1").await.unwrap().available, 5_000);
    // Too late.
    assert!(matches!(
        store
            .redeem_voucher("r2", "C2", T0 + 86_400_000)
            .await
            .unwrap(),
        Redeem::Expired(_)
    ));
    assert_eq!(store.balance("r2").await.unwrap().available, 0);
    assert_clean(&*store).await;
}
