//! Double-entry ledger in SQL: executes the transfer plans of [`crate::rules`]. Every
//! movement is a transfer whose postings sum to zero; a guarded account's balance is
//! checked to stay >= 0 as it is updated, all inside the single writer's transaction (so
//! nothing can slip in between).

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::StoreError;
use crate::rules::{self, available, held, Posting, TransferPlan, MAX_AMOUNT};
use crate::types::{Balance, StatementLine, StatementQuery};

/// No balance moves once beyond this (far beyond any real one): `balance + amount` then
/// always fits in an integer.
const BALANCE_BOUND: i64 = i64::MAX / 2;

pub(crate) fn ensure_reseller_accounts(
    c: &Connection,
    reseller_id: &str,
) -> Result<(), StoreError> {
    let mut st = c.prepare_cached(
        "INSERT OR IGNORE INTO accounts (id, kind, reseller_id, balance) VALUES (?1, ?2, ?3, 0)",
    )?;
    st.execute(params![
        available(reseller_id),
        "reseller_available",
        reseller_id
    ])?;
    st.execute(params![held(reseller_id), "reseller_held", reseller_id])?;
    Ok(())
}

fn ensure_account(c: &Connection, id: &str) -> Result<(), StoreError> {
    let kind = id.split(':').next().unwrap_or("other");
    c.prepare_cached(
        "INSERT OR IGNORE INTO accounts (id, kind, reseller_id, balance) VALUES (?1, ?2, NULL, 0)",
    )?
    .execute(params![id, kind])?;
    Ok(())
}

/// Writes one balanced transfer. Fails (and the caller's transaction is rolled back) if the
/// postings do not sum to zero or a guarded account would go below zero.
pub(crate) fn transfer(c: &Connection, t: &TransferPlan<'_>, now: i64) -> Result<i64, StoreError> {
    t.check()?;
    // last_insert_rowid, not RETURNING (which costs an ephemeral table per statement).
    c.prepare_cached(
        "INSERT INTO transfers (kind, reseller_id, order_id, amount, note, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        t.kind,
        t.reseller_id,
        t.order_id,
        t.amount,
        t.note,
        now
    ])?;
    let id = c.last_insert_rowid();
    for p in &t.postings {
        // Two statements a posting: the balance moves only if it stays >= 0 (when guarded),
        // then the posting copies the balance it left. The bound keeps `balance + amount`
        // an integer (amounts are at most MAX_AMOUNT); the single writer makes it race-free.
        let mut moved = apply(c, p, now)?;
        if !moved && !p.guarded {
            // Book accounts (revenue, cost, a supplier) come into being on first use.
            ensure_account(c, &p.account)?;
            moved = apply(c, p, now)?;
        }
        if !moved {
            return Err(StoreError::Corrupt(format!(
                "{} would go below zero or does not exist",
                p.account
            )));
        }
        c.prepare_cached(
            "INSERT INTO postings (transfer_id, account_id, amount, balance_after, watermark)
             SELECT ?1, id, ?3, balance, watermark FROM accounts WHERE id = ?2",
        )?
        .execute(params![id, p.account, p.amount])?;
    }
    Ok(id)
}

/// Moves `p.account`'s balance by `p.amount`; false if the account does not exist, or the
/// move would take a guarded account below zero or any balance out of bounds. The account's
/// watermark (the latest transfer time among its postings) moves up to `now`.
fn apply(c: &Connection, p: &Posting, now: i64) -> Result<bool, StoreError> {
    if p.amount.unsigned_abs() > MAX_AMOUNT.unsigned_abs() {
        return Ok(false);
    }
    let n = c
        .prepare_cached(
            "UPDATE accounts SET balance = balance + ?2, watermark = MAX(watermark, ?6)
             WHERE id = ?1 AND balance BETWEEN ?4 AND ?5 AND (NOT ?3 OR balance + ?2 >= 0)",
        )?
        .execute(params![
            p.account,
            p.amount,
            p.guarded,
            -BALANCE_BOUND,
            BALANCE_BOUND,
            now
        ])?;
    Ok(n == 1)
}

pub(crate) fn account_balance(c: &Connection, id: &str) -> Result<Option<i64>, StoreError> {
    Ok(
        c.prepare_cached("SELECT balance FROM accounts WHERE id = ?1")?
            .query_row([id], |r| r.get(0))
            .optional()?,
    )
}

pub(crate) fn deposit(
    c: &Connection,
    reseller_id: &str,
    amount: i64,
    note: &str,
    now: i64,
) -> Result<Balance, StoreError> {
    let plan = rules::deposit(reseller_id, amount, note)?;
    if account_balance(c, &available(reseller_id))?.is_none() {
        return Err(StoreError::NotFound(format!("reseller {reseller_id}")));
    }
    transfer(c, &plan, now)?;
    balance(c, reseller_id)
}

pub(crate) fn balance(c: &Connection, reseller_id: &str) -> Result<Balance, StoreError> {
    let available = account_balance(c, &available(reseller_id))?
        .ok_or_else(|| StoreError::NotFound(format!("reseller {reseller_id}")))?;
    let held = account_balance(c, &held(reseller_id))?.unwrap_or(0);
    Ok(Balance { available, held })
}

/// The account's lines with a transfer in `[q.from, q.to)` after line `q.after`, by line.
/// The walk by line starts at the first posting whose watermark reaches `q.from` (no
/// posting before it has a transfer that late), not at the account's first posting.
pub(crate) fn statement(
    c: &Connection,
    q: &StatementQuery,
) -> Result<Vec<StatementLine>, StoreError> {
    let account = available(&q.reseller_id);
    let first: Option<i64> = c
        .prepare_cached(
            "SELECT id FROM postings WHERE account_id = ?1 AND watermark >= ?2
             ORDER BY watermark, id LIMIT 1",
        )?
        .query_row(params![account, q.from], |r| r.get(0))
        .optional()?;
    let Some(first) = first else {
        return Ok(Vec::new());
    };
    let after = q.after.unwrap_or(0).max(first - 1);
    let mut st = c.prepare_cached(
        "SELECT t.id, t.kind, t.order_id, o.ref_id, p.amount, p.balance_after, t.note, t.created_at, p.id
         FROM postings p JOIN transfers t ON t.id = p.transfer_id
         LEFT JOIN orders o ON o.id = t.order_id
         WHERE p.account_id = ?1 AND t.created_at >= ?2 AND t.created_at < ?3 AND p.id > ?4
         ORDER BY p.id LIMIT ?5",
    )?;
    let args = params![account, q.from, q.to, after, q.limit];
    let rows = st.query_map(args, |r| {
        Ok(StatementLine {
            transfer_id: r.get(0)?,
            kind: r.get(1)?,
            order_id: r.get(2)?,
            ref_id: r.get(3)?,
            amount: r.get(4)?,
            balance_after: r.get(5)?,
            note: r.get(6)?,
            at: r.get(7)?,
            line_id: r.get(8)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let c = Connection::open_in_memory().expect("in-memory database");
        for (_, sql) in super::super::MIGRATIONS {
            c.execute_batch(sql).expect("migration");
        }
        c.execute_batch(
            "INSERT INTO accounts (id, kind, reseller_id, balance)
             VALUES ('reseller:r:available', 'reseller_available', 'r', 100),
                    ('reseller:r:held', 'reseller_held', 'r', 0)",
        )
        .expect("accounts");
        c
    }

    fn move_(c: &Connection, from: &str, to: &str, amount: i64) -> Result<i64, StoreError> {
        c.execute_batch("SAVEPOINT t").expect("savepoint");
        let plan = TransferPlan {
            kind: "test",
            reseller_id: Some("r"),
            order_id: None,
            amount: 0,
            note: None,
            postings: vec![
                Posting::guarded(from.to_owned(), -amount),
                Posting::free(to, amount),
            ],
        };
        let r = transfer(c, &plan, 0);
        let end = if r.is_ok() {
            "RELEASE t"
        } else {
            "ROLLBACK TO t; RELEASE t"
        };
        c.execute_batch(end).expect("savepoint end");
        r
    }

    fn bal(c: &Connection, id: &str) -> Option<i64> {
        account_balance(c, id).expect("read balance")
    }

    #[test]
    fn postings_carry_the_balance_they_leave_and_book_accounts_appear_on_first_use() {
        let c = db();
        let t = move_(&c, "reseller:r:available", "revenue:test", 30).expect("transfer");
        assert_eq!(bal(&c, "reseller:r:available"), Some(70));
        assert_eq!(bal(&c, "revenue:test"), Some(30));
        let rows: Vec<(String, i64, i64)> = c
            .prepare("SELECT account_id, amount, balance_after FROM postings WHERE transfer_id = ?1 ORDER BY id")
            .expect("prepare")
            .query_map([t], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(
            rows,
            vec![
                ("reseller:r:available".to_owned(), -30, 70),
                ("revenue:test".to_owned(), 30, 30),
            ]
        );
    }

    #[test]
    fn a_guarded_account_never_goes_below_zero_or_appears_from_nothing() {
        let c = db();
        assert!(move_(&c, "reseller:r:available", "revenue:test", 101).is_err());
        assert!(move_(&c, "reseller:nobody:available", "revenue:test", 1).is_err());
        // Nothing of the refused transfers stayed.
        assert_eq!(bal(&c, "reseller:r:available"), Some(100));
        assert_eq!(bal(&c, "revenue:test"), None);
        let postings: i64 = c
            .query_row("SELECT COUNT(*) FROM postings", [], |r| r.get(0))
            .expect("count");
        assert_eq!(postings, 0);
        // Exactly all of it may go.
        move_(&c, "reseller:r:available", "revenue:test", 100).expect("transfer");
        assert_eq!(bal(&c, "reseller:r:available"), Some(0));
    }

    #[test]
    fn a_balance_beyond_the_bound_does_not_move_and_amounts_stay_bounded() {
        let c = db();
        c.execute_batch(
            "UPDATE accounts SET balance = 9223372036854775000 WHERE id = 'reseller:r:available'",
        )
        .expect("set");
        // Adding would overflow an integer: refused, not turned into a float.
        assert!(move_(&c, "reseller:r:held", "reseller:r:available", 0).is_err());
        assert!(move_(&c, "reseller:r:available", "revenue:test", 10).is_err());
        assert!(move_(&c, "reseller:r:held", "revenue:test", MAX_AMOUNT + 1).is_err());
        let kind: String = c
            .query_row(
                "SELECT typeof(balance) FROM accounts WHERE id = 'reseller:r:available'",
                [],
                |r| r.get(0),
            )
            .expect("type");
        assert_eq!(kind, "integer");
    }
}
