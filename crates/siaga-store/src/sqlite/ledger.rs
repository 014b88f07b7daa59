//! Double-entry ledger in SQL. Every movement is a transfer whose postings sum to zero;
//! a guarded account's balance is read and checked to stay >= 0 before it is updated, all
//! inside the single writer's transaction (so nothing can slip in between).
//! Sign convention: a posting's amount is a credit when positive (balance = credits - debits),
//! so a reseller's `available` and `held` accounts hold what siaga owes that reseller.

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::StoreError;
use crate::types::{Balance, StatementLine};

pub(crate) const CASH: &str = "asset:cash";
pub(crate) const SALES: &str = "revenue:sales";
pub(crate) const COST: &str = "expense:cost_of_sales";
/// What compensation vouchers have given back to resellers.
pub(crate) const COMPENSATION: &str = "expense:compensation";
/// The largest single amount the store accepts (the domain's `money::MAX_AMOUNT`).
pub(crate) const MAX_AMOUNT: i64 = siaga_domain::money::MAX_AMOUNT;

pub(crate) fn available(reseller_id: &str) -> String {
    format!("reseller:{reseller_id}:available")
}

pub(crate) fn held(reseller_id: &str) -> String {
    format!("reseller:{reseller_id}:held")
}

pub(crate) fn supplier(supplier_id: &str) -> String {
    format!("supplier:{supplier_id}")
}

/// One line of a transfer: account, signed amount, and whether the account must stay >= 0.
pub(crate) struct Posting {
    pub account: String,
    pub amount: i64,
    pub guarded: bool,
}

impl Posting {
    pub fn guarded(account: String, amount: i64) -> Posting {
        Posting {
            account,
            amount,
            guarded: true,
        }
    }
    pub fn free(account: &str, amount: i64) -> Posting {
        Posting {
            account: account.to_owned(),
            amount,
            guarded: false,
        }
    }
}

pub(crate) struct TransferSpec<'a> {
    pub kind: &'a str,
    pub reseller_id: Option<&'a str>,
    pub order_id: Option<&'a str>,
    pub amount: i64,
    pub note: Option<&'a str>,
    pub now: i64,
}

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
pub(crate) fn transfer(
    c: &Connection,
    t: &TransferSpec<'_>,
    postings: &[Posting],
) -> Result<i64, StoreError> {
    let sum: i64 = postings.iter().map(|p| p.amount).sum();
    if sum != 0 || postings.len() < 2 {
        return Err(StoreError::Corrupt(format!(
            "unbalanced {} transfer",
            t.kind
        )));
    }
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
        t.now
    ])?;
    let id = c.last_insert_rowid();
    for p in postings {
        // Read, check, write: cheaper in SQLite than UPDATE ... RETURNING (which builds an
        // ephemeral table per statement), and the single writer makes it race-free.
        let mut before = account_balance(c, &p.account)?;
        if before.is_none() && !p.guarded {
            // Book accounts (revenue, cost, a supplier) come into being on first use.
            ensure_account(c, &p.account)?;
            before = Some(0);
        }
        let after = before
            .and_then(|b| b.checked_add(p.amount))
            .filter(|a| !p.guarded || *a >= 0)
            .ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "{} would go below zero or does not exist",
                    p.account
                ))
            })?;
        c.prepare_cached("UPDATE accounts SET balance = ?2 WHERE id = ?1")?
            .execute(params![p.account, after])?;
        c.prepare_cached(
            "INSERT INTO postings (transfer_id, account_id, amount, balance_after) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![id, p.account, p.amount, after])?;
    }
    Ok(id)
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
    if !(1..=MAX_AMOUNT).contains(&amount) {
        return Err(StoreError::Corrupt(format!(
            "deposit must be 1 to {MAX_AMOUNT} rupiah"
        )));
    }
    if account_balance(c, &available(reseller_id))?.is_none() {
        return Err(StoreError::NotFound(format!("reseller {reseller_id}")));
    }
    let spec = TransferSpec {
        kind: "deposit",
        reseller_id: Some(reseller_id),
        order_id: None,
        amount,
        note: Some(note),
        now,
    };
    transfer(
        c,
        &spec,
        &[
            Posting::guarded(available(reseller_id), amount),
            Posting::free(CASH, -amount),
        ],
    )?;
    balance(c, reseller_id)
}

pub(crate) fn balance(c: &Connection, reseller_id: &str) -> Result<Balance, StoreError> {
    let available = account_balance(c, &available(reseller_id))?
        .ok_or_else(|| StoreError::NotFound(format!("reseller {reseller_id}")))?;
    let held = account_balance(c, &held(reseller_id))?.unwrap_or(0);
    Ok(Balance { available, held })
}

pub(crate) fn statement(
    c: &Connection,
    reseller_id: &str,
    from: i64,
    to: i64,
    limit: u32,
) -> Result<Vec<StatementLine>, StoreError> {
    let mut st = c.prepare_cached(
        "SELECT t.id, t.kind, t.order_id, o.ref_id, p.amount, p.balance_after, t.note, t.created_at
         FROM postings p JOIN transfers t ON t.id = p.transfer_id
         LEFT JOIN orders o ON o.id = t.order_id
         WHERE p.account_id = ?1 AND t.created_at >= ?2 AND t.created_at < ?3
         ORDER BY p.id LIMIT ?4",
    )?;
    let rows = st.query_map(params![available(reseller_id), from, to, limit], |r| {
        Ok(StatementLine {
            transfer_id: r.get(0)?,
            kind: r.get(1)?,
            order_id: r.get(2)?,
            ref_id: r.get(3)?,
            amount: r.get(4)?,
            balance_after: r.get(5)?,
            note: r.get(6)?,
            at: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
