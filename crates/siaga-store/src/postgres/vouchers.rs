//! Compensation vouchers on PostgreSQL: issuing (once per reseller per incident),
//! redeeming (once, before expiry, only by the owner, credited through the ledger; the
//! conditional UPDATE makes a concurrent second redemption find it redeemed), and finding
//! who an incident hurt.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::ledger;
use super::tx::{exec, opt, rows};
use crate::error::StoreError;
use crate::rules;
use crate::types::{NewVoucher, Redeem, Voucher};

const COLS: &str = "code, reseller_id, incident_id, amount, issued_at, expires_at, redeemed_at";

fn row(r: &Row) -> Result<Voucher, StoreError> {
    Ok(Voucher {
        code: r.try_get(0)?,
        reseller_id: r.try_get(1)?,
        incident_id: r.try_get(2)?,
        amount: r.try_get(3)?,
        issued_at: r.try_get(4)?,
        expires_at: r.try_get(5)?,
        redeemed_at: r.try_get(6)?,
    })
}

/// Inserts the vouchers a reseller does not have yet for their incident; returns those new.
pub(crate) async fn issue<C: GenericClient>(
    c: &C,
    vs: &[NewVoucher],
) -> Result<Vec<Voucher>, StoreError> {
    let mut out = Vec::new();
    for v in vs {
        if !rules::sane_amount(v.amount) || v.expires_at <= v.issued_at {
            return Err(StoreError::Corrupt(format!(
                "voucher for {}: amount must be positive and expiry after issue",
                v.reseller_id
            )));
        }
        let sql = format!(
            "INSERT INTO vouchers (code, reseller_id, incident_id, amount, issued_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING {COLS}"
        );
        let new = opt(
            c,
            &sql,
            &[
                &v.code,
                &v.reseller_id,
                &v.incident_id,
                &v.amount,
                &v.issued_at,
                &v.expires_at,
            ],
        )
        .await?;
        if let Some(r) = new {
            out.push(row(&r)?);
        }
    }
    Ok(out)
}

async fn by_code<C: GenericClient>(c: &C, code: &str) -> Result<Option<Voucher>, StoreError> {
    let sql = format!("SELECT {COLS} FROM vouchers WHERE code = $1");
    opt(c, &sql, &[&code]).await?.as_ref().map(row).transpose()
}

pub(crate) async fn for_incident<C: GenericClient>(
    c: &C,
    incident_id: i64,
) -> Result<Vec<Voucher>, StoreError> {
    let sql = format!("SELECT {COLS} FROM vouchers WHERE incident_id = $1 ORDER BY reseller_id");
    rows(c, &sql, &[&incident_id])
        .await?
        .iter()
        .map(row)
        .collect()
}

/// Redeems `code` for `reseller_id` at `now`: credits the amount once, before expiry.
/// Another reseller's code is `NotFound` (nobody learns which codes exist).
pub(crate) async fn redeem<C: GenericClient>(
    c: &C,
    reseller_id: &str,
    code: &str,
    now: i64,
) -> Result<Redeem, StoreError> {
    let Some(v) = by_code(c, code)
        .await?
        .filter(|v| v.reseller_id == reseller_id)
    else {
        return Ok(Redeem::NotFound);
    };
    if v.redeemed_at.is_some() {
        return Ok(Redeem::AlreadyRedeemed(v));
    }
    if now >= v.expires_at {
        return Ok(Redeem::Expired(v));
    }
    let n = exec(
        c,
        "UPDATE vouchers SET redeemed_at = $2 WHERE code = $1 AND redeemed_at IS NULL",
        &[&code, &now],
    )
    .await?;
    if n != 1 {
        return Ok(Redeem::AlreadyRedeemed(v));
    }
    ledger::transfer(c, &rules::voucher(reseller_id, code, v.amount), now).await?;
    let balance = ledger::balance(c, reseller_id).await?;
    Ok(Redeem::Credited {
        voucher: Voucher {
            redeemed_at: Some(now),
            ..v
        },
        balance,
    })
}

/// Resellers with an order for one of `products` placed in `[from, to]` that failed, or
/// took (or has taken by `to`) longer than `slow_ms` to finish.
pub(crate) async fn affected<C: GenericClient>(
    c: &C,
    products: &[String],
    from: i64,
    to: i64,
    slow_ms: i64,
) -> Result<Vec<String>, StoreError> {
    if products.is_empty() {
        return Ok(Vec::new());
    }
    rows(
        c,
        "SELECT DISTINCT reseller_id FROM orders
         WHERE created_at BETWEEN $1 AND $2 AND product = ANY($4)
           AND (status = 'failed'
                OR (status = 'success' AND updated_at - created_at > $3)
                OR (status = 'pending' AND $2 - created_at > $3))
         ORDER BY reseller_id",
        &[&from, &to, &slow_ms, &products],
    )
    .await?
    .iter()
    .map(|r| Ok(r.try_get(0)?))
    .collect()
}
