//! A scratch schema in a PostgreSQL database (`siaga bench --store postgres://...`): made
//! fresh with a unique name, reached through a URL whose `search_path` names it, and
//! dropped with everything in it when the value is dropped, so repeated runs start clean.

use tokio_postgres::Config;

use crate::error::StoreError;
use crate::postgres::{blocking, connect};

pub struct ScratchSchema {
    base: Config,
    name: String,
    /// The URL that opens a store in the schema.
    pub url: String,
}

impl ScratchSchema {
    /// Creates `<prefix>_<ulid>` in the database at `base_url`. Blocking.
    pub fn create(base_url: &str, prefix: &str) -> Result<ScratchSchema, StoreError> {
        let base: Config = base_url
            .parse()
            .map_err(|e| StoreError::Url(format!("not a PostgreSQL URL: {e}")))?;
        if !prefix.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            return Err(StoreError::Url(format!("{prefix:?}: not a schema prefix")));
        }
        let name = format!("{prefix}_{}", ulid::Ulid::new().to_string().to_lowercase());
        run(&base, format!("CREATE SCHEMA {name}"))?;
        let sep = if base_url.contains('?') { '&' } else { '?' };
        let url = format!("{base_url}{sep}options=-c%20search_path%3D{name}");
        Ok(ScratchSchema { base, name, url })
    }
}

fn run(base: &Config, sql: String) -> Result<(), StoreError> {
    let base = base.clone();
    blocking(async move {
        connect(&base).await?.batch_execute(&sql).await?;
        Ok(())
    })
}

impl Drop for ScratchSchema {
    fn drop(&mut self) {
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name);
        if let Err(e) = run(&self.base, sql) {
            tracing::warn!(schema = %self.name, error = %e, "could not drop the scratch schema");
        }
    }
}
