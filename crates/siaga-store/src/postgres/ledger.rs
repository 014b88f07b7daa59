//! Double-entry ledger on PostgreSQL: executes the transfer plans of [`crate::rules`].
//! A transfer first locks the accounts it moves in id order (so two transfers never wait
//! for each other in a circle), then moves each balance with a conditional UPDATE that
//! keeps a guarded account >= 0, and records the balance each posting leaves.

use deadpool_postgres::GenericClient;

use super::tx::{exec, one, opt, rows};
use crate::error::StoreError;
use crate::rules::{self, available, held, Posting, TransferPlan, MAX_AMOUNT};
use crate::types::{Balance, StatementLine, StatementQuery};

/// No balance moves once beyond this (far beyond any real one): `balance + amount` then
/// always fits in a BIGINT.
const BALANCE_BOUND: i64 = i64::MAX / 2;

pub(crate) async fn ensure_reseller_accounts<C: GenericClient>(
    c: &C,
    reseller_id: &str,
) -> Result<(), StoreError> {
    let sql = "INSERT INTO accounts (id, kind, reseller_id, balance) VALUES ($1, $2, $3, 0)
               ON CONFLICT (id) DO NOTHING";
    exec(
        c,
        sql,
        &[&available(reseller_id), &"reseller_available", &reseller_id],
    )
    .await?;
    exec(
        c,
        sql,
        &[&held(reseller_id), &"reseller_held", &reseller_id],
    )
    .await?;
    Ok(())
}

async fn ensure_account<C: GenericClient>(c: &C, id: &str) -> Result<(), StoreError> {
    let kind = id.split(':').next().unwrap_or("other");
    exec(
        c,
        "INSERT INTO accounts (id, kind, reseller_id, balance) VALUES ($1, $2, NULL, 0)
         ON CONFLICT (id) DO NOTHING",
        &[&id, &kind],
    )
    .await?;
    Ok(())
}

/// Writes one balanced transfer. Fails (and the caller's transaction is rolled back) if
/// the postings do not sum to zero or a guarded account would go below zero.
pub(crate) async fn transfer<C: GenericClient>(
    c: &C,
    t: &TransferPlan<'_>,
    now: i64,
) -> Result<i64, StoreError> {
    match try_transfer(c, t, now).await? {
        Moved::Done(id) => Ok(id),
        Moved::Refused(account) => Err(refused(&account)),
    }
}

fn refused(account: &str) -> StoreError {
    StoreError::Corrupt(format!("{account} would go below zero or does not exist"))
}

/// How [`try_transfer`] ended.
pub(crate) enum Moved {
    /// Written: the transfer's id.
    Done(i64),
    /// Nothing written: this account would go below zero or out of bounds, or does not
    /// exist (a guarded one; book accounts come into being on first use).
    Refused(String),
}

/// The whole transfer in one statement (one round trip, so the accounts it locks are held
/// for as short a time as the commit allows): it locks the accounts in id order (so two
/// transfers never wait for each other in a circle), checks every posting against its
/// account as locked, and only when all pass moves the balances and watermarks, writes
/// the transfer and its postings (each with the balance it leaves, in plan order). When
/// one does not pass, nothing is written and the account is named.
const TRANSFER_SQL: &str = "WITH p AS (
      SELECT * FROM unnest($1::text[], $2::bigint[], $3::bool[]) WITH ORDINALITY AS p(account, amount, guarded, n)),
    locked AS (SELECT id, balance FROM accounts WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE),
    bad AS (SELECT p.account, p.n FROM p LEFT JOIN locked l ON l.id = p.account
        WHERE l.id IS NULL OR l.balance NOT BETWEEN $4::bigint AND $5::bigint OR abs(p.amount) > $6::bigint
           OR (p.guarded AND l.balance + p.amount < 0)),
    ok AS (SELECT NOT EXISTS (SELECT 1 FROM bad) AS ok),
    moved AS (UPDATE accounts a SET balance = a.balance + p.amount, watermark = GREATEST(a.watermark, $7::bigint)
        FROM p WHERE a.id = p.account AND (SELECT ok FROM ok) RETURNING a.id, a.balance, a.watermark),
    t AS (INSERT INTO transfers (kind, reseller_id, order_id, amount, note, created_at)
        SELECT $8::text, $9::text, $10::text, $11::bigint, $12::text, $7::bigint WHERE (SELECT ok FROM ok) RETURNING id),
    posted AS (INSERT INTO postings (transfer_id, account_id, amount, balance_after, watermark)
        SELECT t.id, p.account, p.amount, m.balance, m.watermark FROM t, p JOIN moved m ON m.id = p.account
        ORDER BY p.n RETURNING id)
    SELECT (SELECT id FROM t), (SELECT account FROM bad ORDER BY n LIMIT 1),
           (SELECT COUNT(*) FROM posted)";

/// As [`transfer`], but a posting that does not pass is an answer, not an error. A book
/// account (not guarded) that does not exist yet is made first.
pub(crate) async fn try_transfer<C: GenericClient>(
    c: &C,
    t: &TransferPlan<'_>,
    now: i64,
) -> Result<Moved, StoreError> {
    t.check()?;
    let accounts: Vec<&str> = t.postings.iter().map(|p| p.account.as_str()).collect();
    let mut distinct = accounts.clone();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() != accounts.len() {
        // One statement updates an account once: a plan that names one twice goes
        // posting by posting.
        return stepwise(c, t, now).await;
    }
    let amounts: Vec<i64> = t.postings.iter().map(|p| p.amount).collect();
    let guarded: Vec<bool> = t.postings.iter().map(|p| p.guarded).collect();
    let mut made = false;
    loop {
        let row = one(
            c,
            TRANSFER_SQL,
            &[
                &accounts,
                &amounts,
                &guarded,
                &-BALANCE_BOUND,
                &BALANCE_BOUND,
                &MAX_AMOUNT,
                &now,
                &t.kind,
                &t.reseller_id,
                &t.order_id,
                &t.amount,
                &t.note,
            ],
        )
        .await?;
        let id: Option<i64> = row.try_get(0)?;
        let bad: Option<String> = row.try_get(1)?;
        let posted: i64 = row.try_get(2)?;
        match (id, bad) {
            (Some(id), None) if posted == accounts.len() as i64 => return Ok(Moved::Done(id)),
            (None, Some(bad)) => {
                let book = t.postings.iter().any(|p| p.account == bad && !p.guarded);
                if made || !book {
                    return Ok(Moved::Refused(bad));
                }
                // Book accounts (revenue, cost, a supplier) come into being on first use;
                // then the transfer runs again, and what it finds then is the answer.
                for p in t.postings.iter().filter(|p| !p.guarded) {
                    ensure_account(c, &p.account).await?;
                }
                made = true;
            }
            _ => {
                return Err(StoreError::Corrupt(format!(
                    "{} transfer wrote {posted} of {} postings",
                    t.kind,
                    accounts.len()
                )))
            }
        }
    }
}

/// The transfer posting by posting (for a plan that names an account twice).
async fn stepwise<C: GenericClient>(
    c: &C,
    t: &TransferPlan<'_>,
    now: i64,
) -> Result<Moved, StoreError> {
    let mut ids: Vec<&str> = t.postings.iter().map(|p| p.account.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    rows(
        c,
        "SELECT id FROM accounts WHERE id = ANY($1) ORDER BY id FOR UPDATE",
        &[&ids],
    )
    .await?;
    let id: i64 = one(
        c,
        "INSERT INTO transfers (kind, reseller_id, order_id, amount, note, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        &[
            &t.kind,
            &t.reseller_id,
            &t.order_id,
            &t.amount,
            &t.note,
            &now,
        ],
    )
    .await?
    .try_get(0)?;
    for p in &t.postings {
        let mut after = apply(c, p, now).await?;
        if after.is_none() && !p.guarded {
            // Book accounts (revenue, cost, a supplier) come into being on first use.
            ensure_account(c, &p.account).await?;
            after = apply(c, p, now).await?;
        }
        let Some((balance_after, watermark)) = after else {
            // Part of it is written: an error, so the caller's transaction rolls back.
            return Err(refused(&p.account));
        };
        exec(
            c,
            "INSERT INTO postings (transfer_id, account_id, amount, balance_after, watermark)
             VALUES ($1, $2, $3, $4, $5)",
            &[&id, &p.account, &p.amount, &balance_after, &watermark],
        )
        .await?;
    }
    Ok(Moved::Done(id))
}

/// Moves `p.account`'s balance by `p.amount` and its watermark (the latest transfer time
/// among its postings) up to `now`, and returns both; `None` if the account does not
/// exist, or the move would take a guarded account below zero or any balance out of bounds.
async fn apply<C: GenericClient>(
    c: &C,
    p: &Posting,
    now: i64,
) -> Result<Option<(i64, i64)>, StoreError> {
    if p.amount.unsigned_abs() > MAX_AMOUNT.unsigned_abs() {
        return Ok(None);
    }
    let row = opt(
        c,
        "UPDATE accounts SET balance = balance + $2, watermark = GREATEST(watermark, $6)
         WHERE id = $1 AND balance BETWEEN $4 AND $5 AND (NOT $3 OR balance + $2 >= 0)
         RETURNING balance, watermark",
        &[
            &p.account,
            &p.amount,
            &p.guarded,
            &-BALANCE_BOUND,
            &BALANCE_BOUND,
            &now,
        ],
    )
    .await?;
    let Some(r) = row else {
        return Ok(None);
    };
    Ok(Some((r.try_get(0)?, r.try_get(1)?)))
}

pub(crate) async fn account_balance<C: GenericClient>(
    c: &C,
    id: &str,
) -> Result<Option<i64>, StoreError> {
    let row = opt(c, "SELECT balance FROM accounts WHERE id = $1", &[&id]).await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

pub(crate) async fn deposit<C: GenericClient>(
    c: &C,
    reseller_id: &str,
    amount: i64,
    note: &str,
    now: i64,
) -> Result<Balance, StoreError> {
    let plan = rules::deposit(reseller_id, amount, note)?;
    if account_balance(c, &available(reseller_id)).await?.is_none() {
        return Err(StoreError::NotFound(format!("reseller {reseller_id}")));
    }
    transfer(c, &plan, now).await?;
    balance(c, reseller_id).await
}

pub(crate) async fn balance<C: GenericClient>(
    c: &C,
    reseller_id: &str,
) -> Result<Balance, StoreError> {
    let row = one(
        c,
        "SELECT (SELECT balance FROM accounts WHERE id = $1),
                (SELECT balance FROM accounts WHERE id = $2)",
        &[&available(reseller_id), &held(reseller_id)],
    )
    .await?;
    let available: Option<i64> = row.try_get(0)?;
    let held: Option<i64> = row.try_get(1)?;
    Ok(Balance {
        available: available
            .ok_or_else(|| StoreError::NotFound(format!("reseller {reseller_id}")))?,
        held: held.unwrap_or(0),
    })
}

/// The account's lines with a transfer in `[q.from, q.to)` after line `q.after`, by line.
/// The walk by line starts at the first posting whose watermark reaches `q.from` (no
/// posting before it has a transfer that late), not at the account's first posting.
pub(crate) async fn statement<C: GenericClient>(
    c: &C,
    q: &StatementQuery,
) -> Result<Vec<StatementLine>, StoreError> {
    let account = available(&q.reseller_id);
    let first = opt(
        c,
        "SELECT id FROM postings WHERE account_id = $1 AND watermark >= $2
         ORDER BY watermark, id LIMIT 1",
        &[&account, &q.from],
    )
    .await?;
    let Some(first) = first else {
        return Ok(Vec::new());
    };
    let first: i64 = first.try_get(0)?;
    let after = q.after.unwrap_or(0).max(first - 1);
    let rows = rows(
        c,
        "SELECT t.id, t.kind, t.order_id, o.ref_id, p.amount, p.balance_after, t.note, t.created_at, p.id
         FROM postings p JOIN transfers t ON t.id = p.transfer_id
         LEFT JOIN orders o ON o.id = t.order_id
         WHERE p.account_id = $1 AND t.created_at >= $2 AND t.created_at < $3 AND p.id > $4
         ORDER BY p.id LIMIT $5",
        &[
            &account,
            &q.from,
            &q.to,
            &after,
            &i64::from(q.limit),
        ],
    )
    .await?;
    rows.iter()
        .map(|r| {
            Ok(StatementLine {
                transfer_id: r.try_get(0)?,
                kind: r.try_get(1)?,
                order_id: r.try_get(2)?,
                ref_id: r.try_get(3)?,
                amount: r.try_get(4)?,
                balance_after: r.try_get(5)?,
                note: r.try_get(6)?,
                at: r.try_get(7)?,
                line_id: r.try_get(8)?,
            })
        })
        .collect()
}
