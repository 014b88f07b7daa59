//! SQLite only: schema migrations keep old databases' ledgers and outboxes.

use super::*;

/// A database file as migrations up to `version` left it, nothing else done to it.
fn schema_at(path: &Path, version: i64) -> rusqlite::Connection {
    let c = raw_conn(path);
    for (v, sql) in crate::sqlite::MIGRATIONS.iter().filter(|m| m.0 <= version) {
        c.execute_batch(sql).unwrap();
        c.execute_batch(&format!("PRAGMA user_version = {v}"))
            .unwrap();
    }
    c
}

#[tokio::test]
async fn a_version_6_database_keeps_its_ledger_and_outbox_through_the_rowid_rebuild() {
    let (_dir, path) = temp_db();
    {
        let c = schema_at(&path, 6);
        c.execute_batch(
            "INSERT INTO resellers (id, name, key_hash, webhook_secret, created_at, updated_at)
                 VALUES ('r1', 'R', 'h1', 's1', 0, 0);
             INSERT INTO accounts VALUES ('reseller:r1:available', 'reseller_available', 'r1', 5000),
                 ('reseller:r1:held', 'reseller_held', 'r1', 0), ('asset:cash', 'asset', NULL, -5000);
             INSERT INTO transfers (kind, reseller_id, amount, note, created_at)
                 VALUES ('deposit', 'r1', 5000, 'old', 1);
             INSERT INTO postings (transfer_id, account_id, amount, balance_after)
                 VALUES (1, 'reseller:r1:available', 5000, 5000), (1, 'asset:cash', -5000, -5000);
             INSERT INTO outbox (msg_id, kind, reseller_id, target, status, next_at, created_at)
                 VALUES ('msg_old', 'order.updated', 'r1', 'http://a.test/cb', 'pending', 1, 1);",
        )
        .unwrap();
        let seq: i64 = c
            .query_row("SELECT COUNT(*) FROM sqlite_sequence", [], |r| r.get(0))
            .unwrap();
        assert_eq!(seq, 3, "the old tables count through sqlite_sequence");
    }
    let store = SqliteStore::open(&path).unwrap();
    let c = raw_conn(&path);
    let version: i64 = c
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SqliteStore::schema_version());
    for table in ["transfers", "postings", "outbox"] {
        let sql: String = c
            .query_row(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [table],
                |r| r.get(0),
            )
            .unwrap();
        assert!(!sql.contains("AUTOINCREMENT"), "{table}: {sql}");
    }
    let indexes: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name IN
                 ('transfers_order', 'postings_account', 'outbox_due')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(indexes, 3);
    // 0008 drops the postings-by-transfer index again (only verify grouped by it).
    let by_transfer: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'postings_transfer'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(by_transfer, 0);
    // Everything is still there, and new rows carry on after the old ones.
    let b = store.balance("r1").await.unwrap();
    assert_eq!((b.available, b.held), (5_000, 0));
    // 0010: a reseller from before has no drop-in key until its keys rotate, and the
    // standard callbacks it always had.
    let r = store.reseller("r1").await.unwrap().expect("r1");
    assert_eq!(r.digiflazz_key, None);
    assert_eq!(r.callback_format, crate::CallbackFormat::Standard);
    let due = store.due_outbox(10, 10, &[]).await.unwrap();
    assert_eq!(
        due.iter()
            .map(|i| (i.id, i.msg_id.as_str()))
            .collect::<Vec<_>>(),
        vec![(1, "msg_old")]
    );
    store.deposit("r1", 700, "new", 20).await.unwrap();
    let ids: Vec<(i64, i64)> = c
        .prepare("SELECT id, transfer_id FROM postings ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(ids, vec![(1, 1), (2, 1), (3, 2), (4, 2)]);
    // 0015: the old postings got their watermark (their transfer's time) and new ones
    // carry on from the account's.
    let marks: Vec<i64> = c
        .prepare("SELECT watermark FROM postings ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(marks, vec![1, 1, 20, 20]);
    let report = store.verify().await.unwrap();
    assert!(report.ok(), "{:#?}", report.problems);
    assert_eq!(report.transfers, 2);
    // No row lost what it refers to.
    let fk: i64 = c
        .query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(fk, 0);
}

#[tokio::test]
async fn an_old_broken_reference_does_not_stop_the_upgrade() {
    let (_dir, path) = temp_db();
    {
        let c = schema_at(&path, 6);
        // As a hand edit with foreign keys off could leave it: a voucher of no reseller.
        c.execute_batch(
            "PRAGMA foreign_keys=OFF;
             INSERT INTO vouchers (code, reseller_id, incident_id, amount, issued_at, expires_at)
                 VALUES ('SIAGA-AAAAA-AAAAA', 'ghost', 1, 1000, 0, 1);",
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    let version: i64 = raw_conn(&path)
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SqliteStore::schema_version());
    drop(store);
}
