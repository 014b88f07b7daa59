//! Conformance case: dashboard accounts are added once by name, read back as given,
//! listed by name and removed.

use std::sync::Arc;

use super::*;
use crate::OperatorAccount;

fn account(name: &str, role: &str, hash: &str) -> OperatorAccount {
    OperatorAccount {
        name: name.into(),
        role: role.into(),
        password_hash: hash.into(),
        created_at: T0,
    }
}

pub(crate) async fn operator_accounts_are_added_once_listed_and_removed(store: Arc<dyn Store>) {
    assert_eq!(store.operator_accounts().await.unwrap(), Vec::new());
    assert_eq!(store.operator_account("sari").await.unwrap(), None);
    let sari = account("sari", "operator", "$argon2id$a");
    let budi = account("budi", "owner", "$argon2id$b");
    assert!(store.add_operator(sari.clone()).await.unwrap());
    assert!(store.add_operator(budi.clone()).await.unwrap());
    // A taken name is refused and the first account stays as it was.
    assert!(!store
        .add_operator(account("sari", "owner", "$argon2id$c"))
        .await
        .unwrap());
    assert_eq!(
        store.operator_account("sari").await.unwrap(),
        Some(sari.clone())
    );
    assert_eq!(
        store.operator_accounts().await.unwrap(),
        vec![budi.clone(), sari]
    );
    assert!(store.remove_operator("sari").await.unwrap());
    assert!(!store.remove_operator("sari").await.unwrap());
    assert_eq!(store.operator_account("sari").await.unwrap(), None);
    assert_eq!(store.operator_accounts().await.unwrap(), vec![budi]);
}
