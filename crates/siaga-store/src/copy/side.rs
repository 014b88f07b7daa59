//! One end of a store copy (`siaga store copy`): a raw connection to a SQLite file or a
//! PostgreSQL database that lists tables, columns and references from the catalog, reads
//! a table's rows as backend-neutral [`Value`]s and writes them back in the other
//! backend's types. Nothing here knows siaga's tables by name.

use rusqlite::types::Value as SqlValue;
use tokio_postgres::types::ToSql;
use tokio_postgres::Client;

use crate::error::StoreError;

/// One stored value, as neither backend in particular holds it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// A column: its name and its declared type (lower case; `bigint`, `text`, `integer`...).
#[derive(Debug, Clone)]
pub(crate) struct Column {
    pub name: String,
    pub kind: String,
}

/// Tables that belong to the backend's bookkeeping, not to siaga's data: never copied.
fn is_bookkeeping(table: &str) -> bool {
    table == "schema_migrations" || table.starts_with("sqlite_")
}

/// A name quoted as an SQL identifier (the names come from the catalog).
pub(crate) fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn column_list(cols: &[Column]) -> String {
    cols.iter()
        .map(|c| quoted(&c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

fn mismatch(table: &str, col: &Column, v: &Value) -> StoreError {
    StoreError::Copy(format!(
        "{table}.{}: a {} column cannot hold {v:?}",
        col.name, col.kind
    ))
}

/// Rows read and written at a time: a big table never sits in memory whole.
pub(crate) const CHUNK: usize = 1_000;

/// A table being read a chunk at a time ([`Side::rows`], [`Side::next`]).
pub(crate) struct Rows {
    table: String,
    cols: Vec<Column>,
    sql: String,
    /// SQLite: the last rowid read.
    after: i64,
    done: bool,
}

fn from_sqlite(v: SqlValue) -> Value {
    match v {
        SqlValue::Null => Value::Null,
        SqlValue::Integer(n) => Value::Int(n),
        SqlValue::Real(x) => Value::Real(x),
        SqlValue::Text(s) => Value::Text(s),
        SqlValue::Blob(b) => Value::Blob(b),
    }
}

pub(crate) enum Side {
    Sqlite(rusqlite::Connection),
    Pg(Client),
}

impl Side {
    /// siaga's tables, sorted by name.
    pub async fn tables(&self) -> Result<Vec<String>, StoreError> {
        let mut names: Vec<String> = match self {
            Side::Sqlite(c) => {
                let mut st = c.prepare("SELECT name FROM sqlite_master WHERE type = 'table'")?;
                let rows = st.query_map([], |r| r.get::<_, String>(0))?;
                rows.collect::<Result<_, _>>()?
            }
            Side::Pg(c) => c
                .query(
                    "SELECT table_name::text FROM information_schema.tables
                     WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
                    &[],
                )
                .await?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<Result<_, _>>()?,
        };
        names.retain(|n| !is_bookkeeping(n));
        names.sort();
        Ok(names)
    }

    /// A table's columns in their stored order.
    pub async fn columns(&self, table: &str) -> Result<Vec<Column>, StoreError> {
        Ok(match self {
            Side::Sqlite(c) => {
                let mut st =
                    c.prepare("SELECT name, type FROM pragma_table_info(?1) ORDER BY cid")?;
                let rows = st.query_map([table], |r| {
                    Ok(Column {
                        name: r.get(0)?,
                        kind: r.get::<_, String>(1)?.to_lowercase(),
                    })
                })?;
                rows.collect::<Result<_, _>>()?
            }
            Side::Pg(c) => c
                .query(
                    "SELECT column_name::text, data_type::text FROM information_schema.columns
                     WHERE table_schema = current_schema() AND table_name = $1
                     ORDER BY ordinal_position",
                    &[&table],
                )
                .await?
                .iter()
                .map(|r| {
                    Ok(Column {
                        name: r.try_get(0)?,
                        kind: r.try_get(1)?,
                    })
                })
                .collect::<Result<_, tokio_postgres::Error>>()?,
        })
    }

    /// The tables `table`'s foreign keys point at.
    pub async fn references(&self, table: &str) -> Result<Vec<String>, StoreError> {
        Ok(match self {
            Side::Sqlite(c) => {
                let mut st =
                    c.prepare("SELECT DISTINCT \"table\" FROM pragma_foreign_key_list(?1)")?;
                let rows = st.query_map([table], |r| r.get::<_, String>(0))?;
                rows.collect::<Result<_, _>>()?
            }
            Side::Pg(c) => c
                .query(
                    "SELECT DISTINCT p.relname::text FROM pg_constraint k
                     JOIN pg_class p ON p.oid = k.confrelid
                     WHERE k.contype = 'f' AND k.conrelid = to_regclass($1)",
                    &[&quoted(table)],
                )
                .await?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<Result<_, _>>()?,
        })
    }

    pub async fn count(&self, table: &str) -> Result<i64, StoreError> {
        let sql = format!("SELECT COUNT(*) FROM {}", quoted(table));
        Ok(match self {
            Side::Sqlite(c) => c.query_row(&sql, [], |r| r.get(0))?,
            Side::Pg(c) => c.query_one(&sql, &[]).await?.try_get(0)?,
        })
    }

    /// Starts reading: one snapshot for every read that follows (the counts and balances
    /// compared after the copy included).
    pub async fn begin_read(&self) -> Result<(), StoreError> {
        match self {
            Side::Sqlite(c) => c.execute_batch("BEGIN")?,
            Side::Pg(c) => {
                c.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await?
            }
        }
        Ok(())
    }

    /// Starts reading every row of `table` (the columns `cols`, this side's types, in that
    /// order) in chunks of [`CHUNK`] rows; inside [`Self::begin_read`].
    pub async fn rows(&self, table: &str, cols: &[Column]) -> Result<Rows, StoreError> {
        let list = column_list(cols);
        let sql = match self {
            // By rowid, a chunk at a time (every siaga table has one).
            Side::Sqlite(_) => format!(
                "SELECT rowid, {list} FROM {} WHERE rowid > ?1 ORDER BY rowid LIMIT {CHUNK}",
                quoted(table)
            ),
            Side::Pg(c) => {
                c.batch_execute(&format!(
                    "DECLARE siaga_copy NO SCROLL CURSOR FOR SELECT {list} FROM {}",
                    quoted(table)
                ))
                .await?;
                format!("FETCH {CHUNK} FROM siaga_copy")
            }
        };
        Ok(Rows {
            table: table.to_owned(),
            cols: cols.to_vec(),
            sql,
            after: i64::MIN,
            done: false,
        })
    }

    /// The next chunk of `rows`, `None` after the last.
    pub async fn next(&self, rows: &mut Rows) -> Result<Option<Vec<Vec<Value>>>, StoreError> {
        if rows.done {
            return Ok(None);
        }
        let chunk = match self {
            Side::Sqlite(c) => {
                let mut st = c.prepare_cached(&rows.sql)?;
                let n = rows.cols.len();
                let got = st.query_map([rows.after], |r| {
                    let id: i64 = r.get(0)?;
                    let vals = (1..=n)
                        .map(|i| r.get::<_, SqlValue>(i).map(from_sqlite))
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok((id, vals))
                })?;
                let mut out = Vec::new();
                for row in got {
                    let (id, vals) = row?;
                    rows.after = id;
                    out.push(vals);
                }
                out
            }
            Side::Pg(c) => {
                let mut out = Vec::new();
                for r in c.query(&rows.sql, &[]).await? {
                    let mut row = Vec::with_capacity(rows.cols.len());
                    for (i, col) in rows.cols.iter().enumerate() {
                        row.push(pg_value(&r, i, &rows.table, col)?);
                    }
                    out.push(row);
                }
                out
            }
        };
        if chunk.len() < CHUNK {
            rows.done = true;
            if let Side::Pg(c) = self {
                c.batch_execute("CLOSE siaga_copy").await?;
            }
        }
        Ok(Some(chunk).filter(|c| !c.is_empty()))
    }

    /// Every row of `table` at once (small tables: the accounts).
    pub async fn read(&self, table: &str, cols: &[Column]) -> Result<Vec<Vec<Value>>, StoreError> {
        let mut rows = self.rows(table, cols).await?;
        let mut out = Vec::new();
        while let Some(chunk) = self.next(&mut rows).await? {
            out.extend(chunk);
        }
        Ok(out)
    }

    /// Starts the one transaction the copy writes in.
    pub async fn begin(&self) -> Result<(), StoreError> {
        match self {
            // Every reference is checked at the commit, whatever order rows come in.
            Side::Sqlite(c) => {
                c.execute_batch("BEGIN IMMEDIATE; PRAGMA defer_foreign_keys = ON;")?
            }
            Side::Pg(c) => c.batch_execute("BEGIN").await?,
        }
        Ok(())
    }

    pub async fn commit(&self) -> Result<(), StoreError> {
        match self {
            Side::Sqlite(c) => c.execute_batch("COMMIT")?,
            Side::Pg(c) => c.batch_execute("COMMIT").await?,
        }
        Ok(())
    }

    /// Inserts `rows` (values in the order of `cols`, this side's columns) into `table`.
    pub async fn write(
        &self,
        table: &str,
        cols: &[Column],
        rows: Vec<Vec<Value>>,
    ) -> Result<(), StoreError> {
        match self {
            Side::Sqlite(c) => {
                let marks: Vec<String> = (1..=cols.len()).map(|i| format!("?{i}")).collect();
                let mut st = c.prepare_cached(&format!(
                    "INSERT INTO {} ({}) VALUES ({})",
                    quoted(table),
                    column_list(cols),
                    marks.join(", ")
                ))?;
                for row in rows {
                    let vals = row.into_iter().map(|v| match v {
                        Value::Null => SqlValue::Null,
                        Value::Int(n) => SqlValue::Integer(n),
                        Value::Real(x) => SqlValue::Real(x),
                        Value::Text(s) => SqlValue::Text(s),
                        Value::Blob(b) => SqlValue::Blob(b),
                    });
                    st.execute(rusqlite::params_from_iter(vals))?;
                }
            }
            Side::Pg(c) => pg_insert(c, table, cols, rows).await?,
        }
        Ok(())
    }

    /// On PostgreSQL, moves every sequence behind a column of `table` (identity and
    /// serial ids) past the copied maximum, so new rows continue after the copied ones.
    /// SQLite's AUTOINCREMENT keeps track of explicit ids itself.
    pub async fn continue_sequences(&self, table: &str, cols: &[Column]) -> Result<(), StoreError> {
        let Side::Pg(c) = self else {
            return Ok(());
        };
        for col in cols {
            let seq: Option<String> = c
                .query_one(
                    "SELECT pg_get_serial_sequence($1, $2)",
                    &[&quoted(table), &col.name],
                )
                .await?
                .try_get(0)?;
            if let Some(seq) = seq {
                let sql = format!(
                    "SELECT setval(CAST($1::text AS regclass), COALESCE((SELECT MAX({}) FROM {}), 0) + 1, false)",
                    quoted(&col.name),
                    quoted(table)
                );
                c.query_one(&sql, &[&seq]).await?;
            }
        }
        Ok(())
    }
}

/// Parameters PostgreSQL takes in one statement.
const PG_MAX_PARAMS: usize = 65_535;

/// Inserts `rows` with as few statements as PostgreSQL's parameter limit allows (one
/// round trip for a whole chunk, not one per row).
async fn pg_insert(
    c: &Client,
    table: &str,
    cols: &[Column],
    rows: Vec<Vec<Value>>,
) -> Result<(), StoreError> {
    let per = (PG_MAX_PARAMS / cols.len().max(1)).max(1);
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let batch: Vec<Vec<Value>> = rows.by_ref().take(per).collect();
        let mut params: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
        let mut tuples = Vec::with_capacity(batch.len());
        for row in batch {
            let first = params.len();
            for (v, col) in row.into_iter().zip(cols) {
                params.push(pg_param(v, table, col)?);
            }
            let marks: Vec<String> = (first + 1..=params.len())
                .map(|i| format!("${i}"))
                .collect();
            tuples.push(format!("({})", marks.join(", ")));
        }
        let sql = format!(
            "INSERT INTO {} ({}) VALUES {}",
            quoted(table),
            column_list(cols),
            tuples.join(", ")
        );
        let refs: Vec<&(dyn ToSql + Sync)> = params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect();
        c.execute(&sql, &refs).await?;
    }
    Ok(())
}

fn pg_value(
    r: &tokio_postgres::Row,
    i: usize,
    table: &str,
    col: &Column,
) -> Result<Value, StoreError> {
    fn or_null<T>(v: Option<T>, f: impl FnOnce(T) -> Value) -> Value {
        v.map(f).unwrap_or(Value::Null)
    }
    Ok(match col.kind.as_str() {
        "bigint" => or_null(r.try_get::<_, Option<i64>>(i)?, Value::Int),
        "integer" => or_null(r.try_get::<_, Option<i32>>(i)?, |n| Value::Int(n.into())),
        "smallint" => or_null(r.try_get::<_, Option<i16>>(i)?, |n| Value::Int(n.into())),
        "boolean" => or_null(r.try_get::<_, Option<bool>>(i)?, |b| Value::Int(b.into())),
        "double precision" => or_null(r.try_get::<_, Option<f64>>(i)?, Value::Real),
        "text" | "character varying" => or_null(r.try_get::<_, Option<String>>(i)?, Value::Text),
        "bytea" => or_null(r.try_get::<_, Option<Vec<u8>>>(i)?, Value::Blob),
        other => {
            return Err(StoreError::Copy(format!(
                "{table}.{}: cannot copy a column of type {other}",
                col.name
            )))
        }
    })
}

fn pg_param(
    v: Value,
    table: &str,
    col: &Column,
) -> Result<Box<dyn ToSql + Sync + Send>, StoreError> {
    let bad = |v: &Value| mismatch(table, col, v);
    Ok(match (col.kind.as_str(), v) {
        ("bigint", Value::Null) => Box::new(None::<i64>),
        ("bigint", Value::Int(n)) => Box::new(Some(n)),
        ("integer", Value::Null) => Box::new(None::<i32>),
        ("integer", Value::Int(n)) => {
            Box::new(Some(i32::try_from(n).map_err(|_| bad(&Value::Int(n)))?))
        }
        ("boolean", Value::Null) => Box::new(None::<bool>),
        ("boolean", Value::Int(n)) if n == 0 || n == 1 => Box::new(Some(n == 1)),
        ("double precision", Value::Null) => Box::new(None::<f64>),
        ("double precision", Value::Real(x)) => Box::new(Some(x)),
        ("text" | "character varying", Value::Null) => Box::new(None::<String>),
        ("text" | "character varying", Value::Text(s)) => Box::new(Some(s)),
        ("bytea", Value::Null) => Box::new(None::<Vec<u8>>),
        ("bytea", Value::Blob(b)) => Box::new(Some(b)),
        (_, v) => return Err(bad(&v)),
    })
}
