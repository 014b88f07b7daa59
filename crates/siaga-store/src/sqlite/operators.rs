//! Dashboard accounts on SQLite (SPEC 13): add (a taken name is refused), read, list, remove.

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::error::StoreError;
use crate::operators::OperatorAccount;

const COLS: &str = "name, role, password_hash, created_at";

fn row(r: &Row<'_>) -> rusqlite::Result<OperatorAccount> {
    Ok(OperatorAccount {
        name: r.get(0)?,
        role: r.get(1)?,
        password_hash: r.get(2)?,
        created_at: r.get(3)?,
    })
}

/// Adds the account; `false` when the name is taken (nothing changes).
pub(crate) fn add(c: &Connection, a: &OperatorAccount) -> Result<bool, StoreError> {
    let n = c
        .prepare_cached(
            "INSERT INTO operators (name, role, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(name) DO NOTHING",
        )?
        .execute(params![a.name, a.role, a.password_hash, a.created_at])?;
    Ok(n == 1)
}

pub(crate) fn one(c: &Connection, name: &str) -> Result<Option<OperatorAccount>, StoreError> {
    Ok(
        c.prepare_cached(&format!("SELECT {COLS} FROM operators WHERE name = ?1"))?
            .query_row([name], row)
            .optional()?,
    )
}

pub(crate) fn all(c: &Connection) -> Result<Vec<OperatorAccount>, StoreError> {
    let mut st = c.prepare_cached(&format!("SELECT {COLS} FROM operators ORDER BY name"))?;
    let rows = st.query_map([], row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// `false` when there is no such account.
pub(crate) fn remove(c: &Connection, name: &str) -> Result<bool, StoreError> {
    let n = c
        .prepare_cached("DELETE FROM operators WHERE name = ?1")?
        .execute([name])?;
    Ok(n == 1)
}
