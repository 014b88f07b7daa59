//! SQLite only: `verify` finds damage done behind the store's back (raw SQL edits).

use super::*;

async fn healthy() -> (TempDir, PathBuf, SqliteStore, Fixture) {
    let (dir, path) = temp_db();
    let store = SqliteStore::open(&path).expect("open store");
    let fx = realistic(&store).await;
    assert_clean(&store).await;
    (dir, path, store, fx)
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_reports_a_balance_changed_without_a_posting() {
    let (_dir, path, store, _fx) = healthy().await;
    let raw = raw_conn(&path);
    raw.execute(
        "UPDATE accounts SET balance = balance + 777 WHERE id = 'reseller:r1:available'",
        [],
    )
    .unwrap();
    let p = problems(&store).await;
    assert!(
        has_problem(
            &p,
            &[
                "differs from the sum of its postings",
                "account reseller:r1:available"
            ]
        ),
        "{p:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_reports_an_unbalanced_transfer() {
    let (_dir, path, store, _fx) = healthy().await;
    let mut raw = raw_conn(&path);
    // A forged deposit with only the reseller's side: the account itself agrees with its
    // postings, only the transfer does not sum to zero.
    let tx = raw.transaction().unwrap();
    tx.execute(
        "INSERT INTO transfers (kind, reseller_id, amount, note, created_at) VALUES ('deposit', 'r2', 500, 'forged', ?1)",
        [T0 + 99],
    )
    .unwrap();
    let tid = tx.last_insert_rowid();
    tx.execute(
        "INSERT INTO postings (transfer_id, account_id, amount, balance_after)
         VALUES (?1, 'reseller:r2:available', 500, (SELECT balance + 500 FROM accounts WHERE id = 'reseller:r2:available'))",
        [tid],
    )
    .unwrap();
    tx.execute(
        "UPDATE accounts SET balance = balance + 500 WHERE id = 'reseller:r2:available'",
        [],
    )
    .unwrap();
    tx.commit().unwrap();
    let p = problems(&store).await;
    assert!(
        has_problem(
            &p,
            &[
                "transfer does not balance",
                &format!("transfer {tid} (deposit)"),
                "sum 500"
            ]
        ),
        "{p:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_reports_an_order_marked_success_without_a_post() {
    let (_dir, path, store, fx) = healthy().await;
    let raw = raw_conn(&path);
    let n = raw
        .execute("UPDATE orders SET status = 'success', stage = NULL, version = version + 1 WHERE id = ?1", [&fx.fresh])
        .unwrap();
    assert_eq!(n, 1);
    let p = problems(&store).await;
    assert!(
        has_problem(
            &p,
            &[
                "did not end exactly once",
                &format!("order {} (success)", fx.fresh),
                "posts 0"
            ]
        ),
        "{p:#?}"
    );
    assert!(
        has_problem(&p, &["held balance differs", "reseller r2"]),
        "{p:#?}"
    );
    assert!(
        has_problem(
            &p,
            &["no successful attempt", &format!("order {}", fx.fresh)]
        ),
        "{p:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_reports_a_negative_reseller_balance() {
    let (_dir, path, store, _fx) = healthy().await;
    let before = store.balance("r2").await.unwrap().available;
    let amount = before + 1_000;
    let mut raw = raw_conn(&path);
    // A balanced, correctly posted withdrawal that is simply larger than the balance.
    let tx = raw.transaction().unwrap();
    tx.execute(
        "INSERT INTO transfers (kind, reseller_id, amount, note, created_at) VALUES ('withdraw', 'r2', ?1, 'too much', ?2)",
        [amount, T0 + 99],
    )
    .unwrap();
    let tid = tx.last_insert_rowid();
    for (account, delta) in [("reseller:r2:available", -amount), ("asset:cash", amount)] {
        tx.execute(
            "UPDATE accounts SET balance = balance + ?2 WHERE id = ?1",
            rusqlite::params![account, delta],
        )
        .unwrap();
        tx.execute(
            "INSERT INTO postings (transfer_id, account_id, amount, balance_after)
             VALUES (?1, ?2, ?3, (SELECT balance FROM accounts WHERE id = ?2))",
            rusqlite::params![tid, account, delta],
        )
        .unwrap();
    }
    tx.commit().unwrap();
    assert_eq!(store.balance("r2").await.unwrap().available, -1_000);
    let p = problems(&store).await;
    assert!(
        has_problem(
            &p,
            &[
                "reseller balance is negative",
                "account reseller:r2:available",
                "balance -1000"
            ]
        ),
        "{p:#?}"
    );
}
