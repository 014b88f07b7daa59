//! Reseller rows: creation (with their ledger accounts), lookup by key hash, key rotation,
//! API access rules.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::ledger;
use crate::error::StoreError;
use crate::types::{CallbackFormat, NewReseller, Reseller};

const COLS: &str = "id, name, email, callback_url, key_hash, webhook_secret, created_at, ip_allowlist, require_signature, digiflazz_key, callback_format";

fn row(r: &Row<'_>) -> rusqlite::Result<Reseller> {
    Ok(Reseller {
        id: r.get(0)?,
        name: r.get(1)?,
        email: r.get(2)?,
        callback_url: r.get(3)?,
        key_hash: r.get(4)?,
        webhook_secret: r.get(5)?,
        created_at: r.get(6)?,
        ip_allowlist: r
            .get::<_, String>(7)?
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        require_signature: r.get(8)?,
        digiflazz_key: r.get(9)?,
        callback_format: {
            let f: String = r.get(10)?;
            CallbackFormat::parse(&f).unwrap_or_default()
        },
    })
}

pub(crate) fn create(c: &Connection, n: &NewReseller) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO resellers (id, name, email, callback_url, key_hash, webhook_secret, created_at, updated_at, digiflazz_key, callback_format)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, ?9)",
        params![
            n.id,
            n.name,
            n.email,
            n.callback_url,
            n.key_hash,
            n.webhook_secret,
            n.now,
            n.digiflazz_key,
            n.callback_format.as_str()
        ],
    )?;
    ledger::ensure_reseller_accounts(c, &n.id)
}

pub(crate) fn by_id(c: &Connection, id: &str) -> Result<Option<Reseller>, StoreError> {
    Ok(
        c.prepare_cached(&format!("SELECT {COLS} FROM resellers WHERE id = ?1"))?
            .query_row([id], row)
            .optional()?,
    )
}

pub(crate) fn by_key_hash(c: &Connection, h: &str) -> Result<Option<Reseller>, StoreError> {
    Ok(
        c.prepare_cached(&format!("SELECT {COLS} FROM resellers WHERE key_hash = ?1"))?
            .query_row([h], row)
            .optional()?,
    )
}

pub(crate) fn list(c: &Connection) -> Result<Vec<Reseller>, StoreError> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {COLS} FROM resellers ORDER BY created_at, id"
    ))?;
    let rows = st.query_map([], row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn rotate(
    c: &Connection,
    id: &str,
    h: &str,
    secret: &str,
    digiflazz_key: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let n = c.execute(
        "UPDATE resellers SET key_hash = ?2, webhook_secret = ?3, digiflazz_key = ?5, updated_at = ?4
         WHERE id = ?1",
        params![id, h, secret, now, digiflazz_key],
    )?;
    Ok(n == 1)
}

pub(crate) fn set_access(
    c: &Connection,
    id: &str,
    allowlist: &[String],
    require_signature: bool,
    now: i64,
) -> Result<bool, StoreError> {
    if allowlist
        .iter()
        .any(|a| a.is_empty() || a.contains(char::is_whitespace))
    {
        return Err(StoreError::Corrupt(format!(
            "reseller {id}: an allowlist entry is empty or has spaces"
        )));
    }
    let n = c.execute(
        "UPDATE resellers SET ip_allowlist = ?2, require_signature = ?3, updated_at = ?4 WHERE id = ?1",
        params![id, allowlist.join(" "), require_signature, now],
    )?;
    Ok(n == 1)
}
