//! Dashboard accounts on PostgreSQL (SPEC 13): add (a taken name is refused), read, list,
//! remove.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::tx::{exec, opt, rows};
use crate::error::StoreError;
use crate::operators::OperatorAccount;

const COLS: &str = "name, role, password_hash, created_at";

fn row(r: &Row) -> Result<OperatorAccount, StoreError> {
    Ok(OperatorAccount {
        name: r.try_get(0)?,
        role: r.try_get(1)?,
        password_hash: r.try_get(2)?,
        created_at: r.try_get(3)?,
    })
}

/// Adds the account; `false` when the name is taken (nothing changes).
pub(crate) async fn add<C: GenericClient>(c: &C, a: &OperatorAccount) -> Result<bool, StoreError> {
    let n = exec(
        c,
        "INSERT INTO operators (name, role, password_hash, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (name) DO NOTHING",
        &[&a.name, &a.role, &a.password_hash, &a.created_at],
    )
    .await?;
    Ok(n == 1)
}

pub(crate) async fn one<C: GenericClient>(
    c: &C,
    name: &str,
) -> Result<Option<OperatorAccount>, StoreError> {
    let sql = format!("SELECT {COLS} FROM operators WHERE name = $1");
    opt(c, &sql, &[&name]).await?.as_ref().map(row).transpose()
}

pub(crate) async fn all<C: GenericClient>(c: &C) -> Result<Vec<OperatorAccount>, StoreError> {
    let sql = format!("SELECT {COLS} FROM operators ORDER BY name");
    rows(c, &sql, &[]).await?.iter().map(row).collect()
}

/// `false` when there is no such account.
pub(crate) async fn remove<C: GenericClient>(c: &C, name: &str) -> Result<bool, StoreError> {
    Ok(exec(c, "DELETE FROM operators WHERE name = $1", &[&name]).await? == 1)
}
