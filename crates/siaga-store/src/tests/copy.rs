//! `copy_store` (the store half of `siaga store copy`): sealed secrets travel as stored,
//! so the copy opens with the same key and not without it, SQLite to PostgreSQL and back.
//! The end-to-end copy of a served store is `crates/siaga/tests/it/store_copy.rs`.

use super::*;
use crate::{copy_store, open, open_with, ScratchSchema};

const SECRET: &str = "whsec_CopySecretMarker0123456789";

#[tokio::test]
async fn sealed_secrets_are_copied_as_stored_both_ways() {
    let Some(base) = pg_url() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let (a, b) = (dir.path().join("a.db"), dir.path().join("b.db"));
    let store = open_with(&a, &test_keys()).expect("open a");
    store
        .create_reseller(NewReseller {
            id: "r1".into(),
            name: "R1".into(),
            email: None,
            callback_url: None,
            key_hash: "kh-r1".into(),
            webhook_secret: SECRET.into(),
            digiflazz_key: "dk".into(),
            callback_format: crate::CallbackFormat::Standard,
            now: T0,
        })
        .await
        .expect("reseller");
    drop(store);
    let schema = ScratchSchema::create(&base, "siaga_copy_test").expect("schema");
    let r = copy_store(&a, &schema.url).expect("to PostgreSQL");
    assert!(r.ok(), "{r:?}");
    let resellers = r.tables.iter().find(|t| t.table == "resellers");
    assert_eq!(resellers.map(|t| (t.source, t.target)), Some((1, 1)));
    let r = copy_store(&schema.url, &b).expect("back to SQLite");
    assert!(r.ok(), "{r:?}");
    for copy in [schema.url.clone(), b.display().to_string()] {
        assert!(open(&copy).is_err(), "sealed: refused without the key");
        let s = open_with(&copy, &test_keys()).expect("open with the key");
        let got = s.reseller("r1").await.expect("read").expect("r1");
        assert_eq!(got.webhook_secret, SECRET);
    }
    let again = copy_store(&a, &schema.url).expect_err("not empty");
    assert!(again.to_string().contains("not empty"), "{again}");
}

/// More rows than one chunk: every one arrives, in both directions.
#[tokio::test]
async fn tables_bigger_than_a_chunk_are_copied_whole() {
    let Some(base) = pg_url() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let (a, b) = (dir.path().join("a.db"), dir.path().join("b.db"));
    let store = open(&a).expect("open a");
    let n = crate::copy::side::CHUNK * 2 + 7;
    let mut tasks = Vec::new();
    for i in 0..n {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            s.add_audit(crate::NewAudit {
                actor: "cli".into(),
                action: "test".into(),
                target: format!("t{i}"),
                detail: String::new(),
                at: T0,
            })
            .await
        }));
    }
    for t in tasks {
        t.await.expect("task").expect("audit");
    }
    drop(store);
    let schema = ScratchSchema::create(&base, "siaga_copy_test").expect("schema");
    for (from, to) in [
        (a.display().to_string(), schema.url.clone()),
        (schema.url.clone(), b.display().to_string()),
    ] {
        let r = copy_store(&from, &to).expect("copy");
        assert!(r.ok(), "{r:?}");
        let audit = r.tables.iter().find(|t| t.table == "audit").expect("audit");
        assert_eq!((audit.source, audit.target), (n as i64, n as i64));
    }
    let back = open(&b).expect("open b");
    let last = back
        .audit(crate::AuditFilter {
            limit: 1,
            newest_first: true,
            ..Default::default()
        })
        .await
        .expect("audit");
    assert_eq!(last.first().map(|e| e.id), Some(n as i64), "ids kept");
}
