//! The stored secrets of a SQLite database, raw, for the sealing layer (`sealed.rs`) to
//! re-seal when the store opens: read and replaced on a connection of their own, before
//! the store serves (synchronous=FULL: durable on return). What a re-sealed value
//! replaces (a secret in clear from before) is zeroed in the file and the WAL is cut.

use rusqlite::params;

use super::{connect, SqliteStore};
use crate::error::StoreError;
use crate::sealed::{Cell, SecretCells};
use crate::secrets::Column;

/// Where each secret column lives: (column, table, row key as text, the row key's
/// condition on `?1`, value column).
const COLUMNS: &[(Column, &str, &str, &str, &str)] = &[
    (
        Column::WebhookSecret,
        "resellers",
        "id",
        "id = ?1",
        "webhook_secret",
    ),
    (
        Column::DigiflazzKey,
        "resellers",
        "id",
        "id = ?1",
        "digiflazz_key",
    ),
    (
        Column::UnsubToken,
        "subscribers",
        "id",
        "id = ?1",
        "unsub_token",
    ),
    (
        Column::NoticeUnsub,
        "notices",
        "CAST(id AS TEXT)",
        "id = CAST(?1 AS INTEGER)",
        "unsub",
    ),
];

impl SecretCells for SqliteStore {
    fn stale_secret_cells(
        &self,
        is_current: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<Cell>, StoreError> {
        let c = connect(&self.path)?;
        let mut out = Vec::new();
        for (col, table, key, _, value) in COLUMNS {
            let mut st = c.prepare(&format!(
                "SELECT {key}, {value} FROM {table} WHERE {value} IS NOT NULL"
            ))?;
            let mut rows = st.query([])?;
            while let Some(r) = rows.next()? {
                let stored: String = r.get(1)?;
                if !is_current(&stored) {
                    out.push(Cell {
                        col: *col,
                        row: r.get(0)?,
                        stored,
                    });
                }
            }
        }
        Ok(out)
    }

    fn replace_secret_cells(&self, changes: &[(Cell, String)]) -> Result<usize, StoreError> {
        let mut c = connect(&self.path)?;
        // What a value replaces is zeroed where it stood, not left in free space.
        c.execute_batch("PRAGMA secure_delete=ON;")?;
        let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut n = 0;
        for (cell, new) in changes {
            let Some((_, table, _, key, value)) = COLUMNS.iter().find(|x| x.0 == cell.col) else {
                continue;
            };
            n += tx
                .prepare_cached(&format!(
                    "UPDATE {table} SET {value} = ?3 WHERE {key} AND {value} = ?2"
                ))?
                .execute(params![cell.row, cell.stored, new])?;
        }
        tx.commit()?;
        // The WAL still holds the pages as they were: copied into the database and cut
        // off (best effort: a reader elsewhere may hold an old snapshot for a while).
        let _ = c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        Ok(n)
    }
}
