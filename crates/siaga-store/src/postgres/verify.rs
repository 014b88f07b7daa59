//! `siaga verify` on PostgreSQL: the same invariants as the SQLite store's (SPEC 3.2),
//! re-derived from the raw rows in one snapshot and reported in words an owner can act on.

use deadpool_postgres::GenericClient;

use super::tx::{one, rows};
use crate::error::StoreError;
use crate::types::VerifyReport;

/// Each check is a query that returns one row per violation, as (subject, detail).
const CHECKS: &[(&str, &str)] = &[
    (
        "transfer does not balance (postings must sum to zero, at least two)",
        "SELECT 'transfer ' || t.id || ' (' || t.kind || ')', 'sum ' || COALESCE(s.total, 0) || ', postings ' || COALESCE(s.n, 0)
         FROM transfers t LEFT JOIN (SELECT transfer_id, SUM(amount) AS total, COUNT(*) AS n FROM postings GROUP BY transfer_id) s
           ON s.transfer_id = t.id
         WHERE COALESCE(s.total, 0) <> 0 OR COALESCE(s.n, 0) < 2",
    ),
    (
        "account balance differs from the sum of its postings",
        "SELECT 'account ' || a.id, 'balance ' || a.balance || ', postings sum ' || COALESCE(s.total, 0)
         FROM accounts a LEFT JOIN (SELECT account_id, SUM(amount) AS total FROM postings GROUP BY account_id) s
           ON s.account_id = a.id
         WHERE a.balance <> COALESCE(s.total, 0)",
    ),
    (
        "reseller balance is negative",
        "SELECT 'account ' || id, 'balance ' || balance FROM accounts
         WHERE kind IN ('reseller_available', 'reseller_held') AND balance < 0",
    ),
    (
        "held balance differs from the open reservations",
        "SELECT 'reseller ' || a.reseller_id, 'held ' || a.balance || ', pending orders total ' || COALESCE(p.total, 0)
         FROM accounts a LEFT JOIN (SELECT reseller_id, SUM(price) AS total FROM orders WHERE status = 'pending' GROUP BY reseller_id) p
           ON p.reseller_id = a.reseller_id
         WHERE a.kind = 'reseller_held' AND a.balance <> COALESCE(p.total, 0)",
    ),
    (
        "order does not have exactly one reservation of its price",
        "SELECT 'order ' || o.id, 'reservations ' || COUNT(t.id) || ', amount ' || COALESCE(SUM(t.amount), 0)
         FROM orders o LEFT JOIN transfers t ON t.order_id = o.id AND t.kind = 'reserve'
         GROUP BY o.id HAVING COUNT(t.id) <> 1 OR COALESCE(SUM(t.amount), 0) <> o.price",
    ),
    (
        "order's reservation did not end exactly once as its status requires",
        "SELECT 'order ' || o.id || ' (' || o.status || ')',
                'posts ' || COUNT(t.id) FILTER (WHERE t.kind = 'post') || ', voids ' || COUNT(t.id) FILTER (WHERE t.kind = 'void')
         FROM orders o LEFT JOIN transfers t ON t.order_id = o.id AND t.kind IN ('post', 'void')
         GROUP BY o.id
         HAVING NOT (
              (o.status = 'pending' AND COUNT(t.id) = 0)
           OR (o.status = 'success' AND COUNT(t.id) = 1 AND COUNT(t.id) FILTER (WHERE t.kind = 'post') = 1 AND SUM(t.amount) = o.price)
           OR (o.status = 'failed'  AND COUNT(t.id) = 1 AND COUNT(t.id) FILTER (WHERE t.kind = 'void') = 1 AND SUM(t.amount) = o.price))",
    ),
    (
        "successful order has no successful attempt",
        "SELECT 'order ' || o.id, 'no attempt in state success'
         FROM orders o WHERE o.status = 'success'
           AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.order_id = o.id AND a.state = 'success')",
    ),
    (
        "order has more than one successful attempt (double fulfilment)",
        "SELECT 'order ' || order_id, COUNT(*) || ' successful attempts' FROM attempts
         WHERE state = 'success' GROUP BY order_id HAVING COUNT(*) > 1",
    ),
    (
        "a new attempt was started while an earlier one was still open",
        "SELECT 'order ' || a.order_id, 'attempt ' || a.seq || ' is ' || a.state || ' but attempt ' || b.seq || ' exists'
         FROM attempts a JOIN attempts b ON b.order_id = a.order_id AND b.seq > a.seq
         WHERE a.state IN ('sending', 'pending', 'unknown', 'success')",
    ),
    (
        "final order still has an open attempt",
        "SELECT 'order ' || o.id || ' (' || o.status || ')', 'attempt ' || a.seq || ' is ' || a.state
         FROM orders o JOIN attempts a ON a.order_id = o.id
         WHERE o.status <> 'pending' AND a.state IN ('sending', 'pending', 'unknown')",
    ),
    (
        "voucher credited other than once when redeemed, or credited when not",
        "SELECT 'voucher ' || v.code, 'redeemed ' || (CASE WHEN v.redeemed_at IS NULL THEN 0 ELSE 1 END) || ', credits ' || COUNT(t.id)
         FROM vouchers v LEFT JOIN transfers t
           ON t.kind = 'voucher' AND t.note = 'voucher ' || v.code AND t.amount = v.amount
              AND t.reseller_id = v.reseller_id
         GROUP BY v.code
         HAVING COUNT(t.id) <> (CASE WHEN v.redeemed_at IS NULL THEN 0 ELSE 1 END)",
    ),
    (
        "voucher credit without a redeemed voucher of that code, reseller and amount",
        "SELECT 'transfer ' || t.id, COALESCE(t.note, '') || ' to ' || COALESCE(t.reseller_id, '?') || ', ' || t.amount
         FROM transfers t
         WHERE t.kind = 'voucher' AND NOT EXISTS (
           SELECT 1 FROM vouchers v
           WHERE t.note = 'voucher ' || v.code AND v.redeemed_at IS NOT NULL
             AND t.reseller_id = v.reseller_id AND t.amount = v.amount)",
    ),
    (
        "voucher redeemed at or after its expiry",
        "SELECT 'voucher ' || code, 'redeemed ' || redeemed_at || ', expired ' || expires_at
         FROM vouchers WHERE redeemed_at IS NOT NULL AND redeemed_at >= expires_at",
    ),
];

/// Runs every check; `c` should be one snapshot (a REPEATABLE READ transaction).
pub(crate) async fn run<C: GenericClient>(c: &C) -> Result<VerifyReport, StoreError> {
    let counts = one(
        c,
        "SELECT (SELECT COUNT(*) FROM transfers), (SELECT COUNT(*) FROM accounts),
                (SELECT COUNT(*) FROM orders)",
        &[],
    )
    .await?;
    let mut report = VerifyReport {
        transfers: counts.try_get(0)?,
        accounts: counts.try_get(1)?,
        orders: counts.try_get(2)?,
        problems: Vec::new(),
    };
    for (what, sql) in CHECKS {
        for r in rows(c, sql, &[]).await? {
            let subject: String = r.try_get(0)?;
            let detail: String = r.try_get(1)?;
            report.problems.push(format!("{what}: {subject}: {detail}"));
        }
    }
    Ok(report)
}
