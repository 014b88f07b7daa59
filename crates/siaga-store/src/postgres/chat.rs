//! Chat links, one-time link codes, transaction PIN hashes and wrong-PIN locks on
//! PostgreSQL (SPEC 5.2), and the count of a reseller's same-day orders of one product and
//! number. A code is used by a conditional UPDATE, so two chats racing for one code find
//! one winner.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::tx::{exec, one, opt};
use crate::chat::{ChatLink, WrongPin};
use crate::error::StoreError;

const COLS: &str = "chat_id, reseller_id, wrong_pins, locked_until, linked_at";

fn row(r: &Row) -> Result<ChatLink, StoreError> {
    Ok(ChatLink {
        chat_id: r.try_get(0)?,
        reseller_id: r.try_get(1)?,
        wrong_pins: r.try_get(2)?,
        locked_until: r.try_get(3)?,
        linked_at: r.try_get(4)?,
    })
}

pub(crate) async fn add_code<C: GenericClient>(
    c: &C,
    reseller_id: &str,
    code_hash: &str,
    expires_at: i64,
    now: i64,
) -> Result<bool, StoreError> {
    let n = exec(
        c,
        "INSERT INTO chat_link_codes (code_hash, reseller_id, expires_at, created_at)
         SELECT $1, id, $2, $3 FROM resellers WHERE id = $4",
        &[&code_hash, &expires_at, &now, &reseller_id],
    )
    .await?;
    Ok(n == 1)
}

pub(crate) async fn use_code<C: GenericClient>(
    c: &C,
    code_hash: &str,
    chat_id: i64,
    now: i64,
) -> Result<Option<ChatLink>, StoreError> {
    let used = opt(
        c,
        "UPDATE chat_link_codes SET used_at = $2
         WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2
         RETURNING reseller_id",
        &[&code_hash, &now],
    )
    .await?;
    let Some(used) = used else {
        return Ok(None);
    };
    let reseller: String = used.try_get(0)?;
    let sql = format!(
        "INSERT INTO chat_links (chat_id, reseller_id, linked_at) VALUES ($1, $2, $3)
         ON CONFLICT (chat_id) DO UPDATE SET reseller_id = EXCLUDED.reseller_id,
             wrong_pins = 0, locked_until = NULL, linked_at = EXCLUDED.linked_at
         RETURNING {COLS}"
    );
    let r = one(c, &sql, &[&chat_id, &reseller, &now]).await?;
    row(&r).map(Some)
}

pub(crate) async fn link<C: GenericClient>(
    c: &C,
    chat_id: i64,
) -> Result<Option<ChatLink>, StoreError> {
    let sql = format!("SELECT {COLS} FROM chat_links WHERE chat_id = $1");
    opt(c, &sql, &[&chat_id])
        .await?
        .as_ref()
        .map(row)
        .transpose()
}

pub(crate) async fn set_pin<C: GenericClient>(
    c: &C,
    reseller_id: &str,
    pin_hash: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let n = exec(
        c,
        "INSERT INTO reseller_pins (reseller_id, pin_hash, updated_at)
         SELECT id, $2, $3 FROM resellers WHERE id = $1
         ON CONFLICT (reseller_id) DO UPDATE SET pin_hash = EXCLUDED.pin_hash,
             updated_at = EXCLUDED.updated_at",
        &[&reseller_id, &pin_hash, &now],
    )
    .await?;
    exec(
        c,
        "UPDATE chat_links SET wrong_pins = 0, locked_until = NULL WHERE reseller_id = $1",
        &[&reseller_id],
    )
    .await?;
    Ok(n == 1)
}

pub(crate) async fn pin<C: GenericClient>(
    c: &C,
    reseller_id: &str,
) -> Result<Option<String>, StoreError> {
    let r = opt(
        c,
        "SELECT pin_hash FROM reseller_pins WHERE reseller_id = $1",
        &[&reseller_id],
    )
    .await?;
    Ok(r.map(|r| r.try_get(0)).transpose()?)
}

pub(crate) async fn wrong_pin<C: GenericClient>(
    c: &C,
    chat_id: i64,
    max: i64,
    lock_until: i64,
) -> Result<WrongPin, StoreError> {
    let r = opt(
        c,
        "UPDATE chat_links SET
             wrong_pins = CASE WHEN wrong_pins + 1 >= $2 THEN 0 ELSE wrong_pins + 1 END,
             locked_until = CASE WHEN wrong_pins + 1 >= $2 THEN $3 ELSE locked_until END
         WHERE chat_id = $1 RETURNING wrong_pins, locked_until",
        &[&chat_id, &max, &lock_until],
    )
    .await?;
    let Some(r) = r else {
        return Ok(WrongPin::NotLinked);
    };
    let (n, until): (i64, Option<i64>) = (r.try_get(0)?, r.try_get(1)?);
    Ok(match (n, until) {
        (0, Some(until)) => WrongPin::Locked(until),
        (n, _) => WrongPin::Counted(n),
    })
}

pub(crate) async fn right_pin<C: GenericClient>(c: &C, chat_id: i64) -> Result<(), StoreError> {
    exec(
        c,
        "UPDATE chat_links SET wrong_pins = 0 WHERE chat_id = $1",
        &[&chat_id],
    )
    .await?;
    Ok(())
}

pub(crate) async fn same_orders<C: GenericClient>(
    c: &C,
    reseller_id: &str,
    product: &str,
    destination: &str,
    since: i64,
) -> Result<u32, StoreError> {
    let r = one(
        c,
        "SELECT COUNT(*) FROM orders WHERE destination = $3 AND reseller_id = $1
         AND product = $2 AND created_at >= $4",
        &[&reseller_id, &product, &destination, &since],
    )
    .await?;
    let n: i64 = r.try_get(0)?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}
