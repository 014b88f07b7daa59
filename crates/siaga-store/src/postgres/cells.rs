//! The stored secrets of a PostgreSQL database, raw, for the sealing layer (`sealed.rs`)
//! to re-seal when the store opens: read and replaced on a connection of their own, before
//! the store serves. (What a re-sealed value replaces stays in dead row versions until
//! VACUUM reclaims them; PostgreSQL offers no overwrite in place.)

use super::migrate::{blocking, connect};
use super::PgStore;
use crate::error::StoreError;
use crate::sealed::{Cell, SecretCells};
use crate::secrets::Column;

/// Where each secret column lives: (column, table, row key as text, value column).
const COLUMNS: &[(Column, &str, &str, &str)] = &[
    (Column::WebhookSecret, "resellers", "id", "webhook_secret"),
    (Column::DigiflazzKey, "resellers", "id", "digiflazz_key"),
    (Column::UnsubToken, "subscribers", "id", "unsub_token"),
    (Column::NoticeUnsub, "notices", "id::text", "unsub"),
];

impl SecretCells for PgStore {
    fn stale_secret_cells(
        &self,
        is_current: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<Cell>, StoreError> {
        let config = self.config.clone();
        let all = blocking(async move {
            let c = connect(&config).await?;
            let mut all = Vec::new();
            for (col, table, key, value) in COLUMNS {
                let sql = format!("SELECT {key}, {value} FROM {table} WHERE {value} IS NOT NULL");
                for r in c.query(&sql, &[]).await? {
                    all.push((*col, r.try_get::<_, String>(0)?, r.try_get::<_, String>(1)?));
                }
            }
            Ok(all)
        })?;
        Ok(all
            .into_iter()
            .filter(|(_, _, stored)| !is_current(stored))
            .map(|(col, row, stored)| Cell { col, row, stored })
            .collect())
    }

    fn replace_secret_cells(&self, changes: &[(Cell, String)]) -> Result<usize, StoreError> {
        let config = self.config.clone();
        blocking(async move {
            let mut c = connect(&config).await?;
            let tx = c.transaction().await?;
            let mut n = 0;
            for (cell, new) in changes {
                let Some((_, table, key, value)) = COLUMNS.iter().find(|x| x.0 == cell.col) else {
                    continue;
                };
                let sql =
                    format!("UPDATE {table} SET {value} = $3 WHERE {key} = $1 AND {value} = $2");
                let changed = tx.execute(&sql, &[&cell.row, &cell.stored, new]).await?;
                n += usize::try_from(changed).unwrap_or(0);
            }
            tx.commit().await.map_err(|e| {
                if e.code().is_some() {
                    StoreError::Postgres(e)
                } else {
                    StoreError::OutcomeUnknown(e.to_string())
                }
            })?;
            Ok(n)
        })
    }
}
