//! Compensation vouchers: issuing (once per reseller per incident), redeeming (once, before
//! expiry, only by the owner, credited through the ledger), and finding who an incident hurt.

use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};

use super::ledger;
use crate::error::StoreError;
use crate::rules;
use crate::types::{NewVoucher, Redeem, Voucher};

const COLS: &str = "code, reseller_id, incident_id, amount, issued_at, expires_at, redeemed_at";

fn row(r: &Row<'_>) -> rusqlite::Result<Voucher> {
    Ok(Voucher {
        code: r.get(0)?,
        reseller_id: r.get(1)?,
        incident_id: r.get(2)?,
        amount: r.get(3)?,
        issued_at: r.get(4)?,
        expires_at: r.get(5)?,
        redeemed_at: r.get(6)?,
    })
}

/// Inserts the vouchers a reseller does not have yet for their incident; returns those new.
pub(crate) fn issue(c: &Connection, vs: &[NewVoucher]) -> Result<Vec<Voucher>, StoreError> {
    let mut out = Vec::new();
    for v in vs {
        if !rules::sane_amount(v.amount) || v.expires_at <= v.issued_at {
            return Err(StoreError::Corrupt(format!(
                "voucher for {}: amount must be positive and expiry after issue",
                v.reseller_id
            )));
        }
        let n = c
            .prepare_cached(
                "INSERT OR IGNORE INTO vouchers (code, reseller_id, incident_id, amount, issued_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![v.code, v.reseller_id, v.incident_id, v.amount, v.issued_at, v.expires_at])?;
        if n == 1 {
            if let Some(x) = by_code(c, &v.code)? {
                out.push(x);
            }
        }
    }
    Ok(out)
}

fn by_code(c: &Connection, code: &str) -> Result<Option<Voucher>, StoreError> {
    Ok(
        c.prepare_cached(&format!("SELECT {COLS} FROM vouchers WHERE code = ?1"))?
            .query_row([code], row)
            .optional()?,
    )
}

pub(crate) fn for_incident(c: &Connection, incident_id: i64) -> Result<Vec<Voucher>, StoreError> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {COLS} FROM vouchers WHERE incident_id = ?1 ORDER BY reseller_id"
    ))?;
    let rows = st.query_map([incident_id], row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Redeems `code` for `reseller_id` at `now`: credits the amount once, before expiry.
/// Another reseller's code is `NotFound` (nobody learns which codes exist).
pub(crate) fn redeem(
    c: &Connection,
    reseller_id: &str,
    code: &str,
    now: i64,
) -> Result<Redeem, StoreError> {
    let Some(v) = by_code(c, code)?.filter(|v| v.reseller_id == reseller_id) else {
        return Ok(Redeem::NotFound);
    };
    if v.redeemed_at.is_some() {
        return Ok(Redeem::AlreadyRedeemed(v));
    }
    if now >= v.expires_at {
        return Ok(Redeem::Expired(v));
    }
    let n = c
        .prepare_cached(
            "UPDATE vouchers SET redeemed_at = ?2 WHERE code = ?1 AND redeemed_at IS NULL",
        )?
        .execute(params![code, now])?;
    if n != 1 {
        return Ok(Redeem::AlreadyRedeemed(v));
    }
    ledger::transfer(c, &rules::voucher(reseller_id, code, v.amount), now)?;
    let balance = ledger::balance(c, reseller_id)?;
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
pub(crate) fn affected(
    c: &Connection,
    products: &[String],
    from: i64,
    to: i64,
    slow_ms: i64,
) -> Result<Vec<String>, StoreError> {
    if products.is_empty() {
        return Ok(Vec::new());
    }
    let marks = (0..products.len())
        .map(|i| format!("?{}", i + 4))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT DISTINCT reseller_id FROM orders
         WHERE created_at BETWEEN ?1 AND ?2 AND product IN ({marks})
           AND (status = 'failed'
                OR (status = 'success' AND updated_at - created_at > ?3)
                OR (status = 'pending' AND ?2 - created_at > ?3))
         ORDER BY reseller_id"
    );
    let mut values: Vec<rusqlite::types::Value> = vec![from.into(), to.into(), slow_ms.into()];
    values.extend(products.iter().map(|p| p.clone().into()));
    let mut st = c.prepare(&sql)?;
    let rows = st.query_map(params_from_iter(values), |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}
