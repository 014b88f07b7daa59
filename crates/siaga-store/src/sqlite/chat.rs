//! Chat links, one-time link codes, transaction PIN hashes and wrong-PIN locks on SQLite
//! (SPEC 5.2), and the count of a reseller's same-day orders of one product and number.

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::chat::{ChatLink, WrongPin};
use crate::error::StoreError;

const COLS: &str = "chat_id, reseller_id, wrong_pins, locked_until, linked_at";

fn row(r: &Row<'_>) -> rusqlite::Result<ChatLink> {
    Ok(ChatLink {
        chat_id: r.get(0)?,
        reseller_id: r.get(1)?,
        wrong_pins: r.get(2)?,
        locked_until: r.get(3)?,
        linked_at: r.get(4)?,
    })
}

/// Keeps a code's hash for `reseller_id`; `false` when there is no such reseller.
pub(crate) fn add_code(
    c: &Connection,
    reseller_id: &str,
    code_hash: &str,
    expires_at: i64,
    now: i64,
) -> Result<bool, StoreError> {
    let n = c
        .prepare_cached(
            "INSERT INTO chat_link_codes (code_hash, reseller_id, expires_at, created_at)
             SELECT ?1, id, ?2, ?3 FROM resellers WHERE id = ?4",
        )?
        .execute(params![code_hash, expires_at, now, reseller_id])?;
    Ok(n == 1)
}

/// Uses a code once, before its expiry, linking `chat_id` to its reseller (a chat linked
/// before is linked anew, its wrong PINs and lock cleared).
pub(crate) fn use_code(
    c: &Connection,
    code_hash: &str,
    chat_id: i64,
    now: i64,
) -> Result<Option<ChatLink>, StoreError> {
    let reseller: Option<String> = c
        .prepare_cached(
            "UPDATE chat_link_codes SET used_at = ?2
             WHERE code_hash = ?1 AND used_at IS NULL AND expires_at > ?2
             RETURNING reseller_id",
        )?
        .query_row(params![code_hash, now], |r| r.get(0))
        .optional()?;
    let Some(reseller) = reseller else {
        return Ok(None);
    };
    c.prepare_cached(
        "INSERT INTO chat_links (chat_id, reseller_id, linked_at) VALUES (?1, ?2, ?3)
         ON CONFLICT(chat_id) DO UPDATE SET reseller_id = excluded.reseller_id,
             wrong_pins = 0, locked_until = NULL, linked_at = excluded.linked_at",
    )?
    .execute(params![chat_id, reseller, now])?;
    link(c, chat_id)
}

pub(crate) fn link(c: &Connection, chat_id: i64) -> Result<Option<ChatLink>, StoreError> {
    Ok(
        c.prepare_cached(&format!("SELECT {COLS} FROM chat_links WHERE chat_id = ?1"))?
            .query_row([chat_id], row)
            .optional()?,
    )
}

/// Sets a reseller's PIN hash and lifts the locks of its chats; `false` when there is no
/// such reseller.
pub(crate) fn set_pin(
    c: &Connection,
    reseller_id: &str,
    pin_hash: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let n = c
        .prepare_cached(
            "INSERT INTO reseller_pins (reseller_id, pin_hash, updated_at)
             SELECT id, ?2, ?3 FROM resellers WHERE id = ?1
             ON CONFLICT(reseller_id) DO UPDATE SET pin_hash = excluded.pin_hash,
                 updated_at = excluded.updated_at",
        )?
        .execute(params![reseller_id, pin_hash, now])?;
    c.prepare_cached(
        "UPDATE chat_links SET wrong_pins = 0, locked_until = NULL WHERE reseller_id = ?1",
    )?
    .execute([reseller_id])?;
    Ok(n == 1)
}

pub(crate) fn pin(c: &Connection, reseller_id: &str) -> Result<Option<String>, StoreError> {
    Ok(
        c.prepare_cached("SELECT pin_hash FROM reseller_pins WHERE reseller_id = ?1")?
            .query_row([reseller_id], |r| r.get(0))
            .optional()?,
    )
}

/// Counts a wrong PIN; the `max`-th in a row locks the chat until `lock_until`.
pub(crate) fn wrong_pin(
    c: &Connection,
    chat_id: i64,
    max: i64,
    lock_until: i64,
) -> Result<WrongPin, StoreError> {
    let after: Option<(i64, Option<i64>)> = c
        .prepare_cached(
            "UPDATE chat_links SET
                 wrong_pins = CASE WHEN wrong_pins + 1 >= ?2 THEN 0 ELSE wrong_pins + 1 END,
                 locked_until = CASE WHEN wrong_pins + 1 >= ?2 THEN ?3 ELSE locked_until END
             WHERE chat_id = ?1 RETURNING wrong_pins, locked_until",
        )?
        .query_row(params![chat_id, max, lock_until], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    Ok(match after {
        None => WrongPin::NotLinked,
        Some((0, Some(until))) => WrongPin::Locked(until),
        Some((n, _)) => WrongPin::Counted(n),
    })
}

pub(crate) fn right_pin(c: &Connection, chat_id: i64) -> Result<(), StoreError> {
    c.prepare_cached("UPDATE chat_links SET wrong_pins = 0 WHERE chat_id = ?1")?
        .execute([chat_id])?;
    Ok(())
}

/// How many orders `reseller_id` placed for `product` to `destination` since `since`.
pub(crate) fn same_orders(
    c: &Connection,
    reseller_id: &str,
    product: &str,
    destination: &str,
    since: i64,
) -> Result<u32, StoreError> {
    let n: i64 = c
        .prepare_cached(
            "SELECT COUNT(*) FROM orders WHERE destination = ?3 AND reseller_id = ?1
             AND product = ?2 AND created_at >= ?4",
        )?
        .query_row(params![reseller_id, product, destination, since], |r| {
            r.get(0)
        })?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}
