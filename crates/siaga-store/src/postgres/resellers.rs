//! Reseller rows on PostgreSQL: creation (with their ledger accounts), lookup by key hash,
//! key rotation, API access rules.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::ledger;
use super::tx::{exec, opt, rows};
use crate::error::StoreError;
use crate::types::{CallbackFormat, NewReseller, Reseller};

const COLS: &str = "id, name, email, callback_url, key_hash, webhook_secret, created_at, ip_allowlist, require_signature, digiflazz_key, callback_format";

fn row(r: &Row) -> Result<Reseller, StoreError> {
    let allow: String = r.try_get(7)?;
    Ok(Reseller {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        email: r.try_get(2)?,
        callback_url: r.try_get(3)?,
        key_hash: r.try_get(4)?,
        webhook_secret: r.try_get(5)?,
        created_at: r.try_get(6)?,
        ip_allowlist: allow.split_whitespace().map(str::to_owned).collect(),
        require_signature: r.try_get(8)?,
        digiflazz_key: r.try_get(9)?,
        callback_format: {
            let f: String = r.try_get(10)?;
            CallbackFormat::parse(&f).unwrap_or_default()
        },
    })
}

pub(crate) async fn create<C: GenericClient>(c: &C, n: &NewReseller) -> Result<(), StoreError> {
    exec(
        c,
        "INSERT INTO resellers (id, name, email, callback_url, key_hash, webhook_secret, created_at, updated_at, digiflazz_key, callback_format)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9)",
        &[
            &n.id,
            &n.name,
            &n.email,
            &n.callback_url,
            &n.key_hash,
            &n.webhook_secret,
            &n.now,
            &n.digiflazz_key,
            &n.callback_format.as_str(),
        ],
    )
    .await?;
    ledger::ensure_reseller_accounts(c, &n.id).await
}

pub(crate) async fn by_id<C: GenericClient>(
    c: &C,
    id: &str,
) -> Result<Option<Reseller>, StoreError> {
    let sql = format!("SELECT {COLS} FROM resellers WHERE id = $1");
    opt(c, &sql, &[&id]).await?.as_ref().map(row).transpose()
}

pub(crate) async fn by_key_hash<C: GenericClient>(
    c: &C,
    h: &str,
) -> Result<Option<Reseller>, StoreError> {
    let sql = format!("SELECT {COLS} FROM resellers WHERE key_hash = $1");
    opt(c, &sql, &[&h]).await?.as_ref().map(row).transpose()
}

pub(crate) async fn list<C: GenericClient>(c: &C) -> Result<Vec<Reseller>, StoreError> {
    let sql = format!("SELECT {COLS} FROM resellers ORDER BY created_at, id");
    rows(c, &sql, &[]).await?.iter().map(row).collect()
}

pub(crate) async fn rotate<C: GenericClient>(
    c: &C,
    id: &str,
    h: &str,
    secret: &str,
    digiflazz_key: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let n = exec(
        c,
        "UPDATE resellers SET key_hash = $2, webhook_secret = $3, digiflazz_key = $5, updated_at = $4
         WHERE id = $1",
        &[&id, &h, &secret, &now, &digiflazz_key],
    )
    .await?;
    Ok(n == 1)
}

pub(crate) async fn set_access<C: GenericClient>(
    c: &C,
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
    let n = exec(
        c,
        "UPDATE resellers SET ip_allowlist = $2, require_signature = $3, updated_at = $4 WHERE id = $1",
        &[&id, &allowlist.join(" "), &require_signature, &now],
    )
    .await?;
    Ok(n == 1)
}
