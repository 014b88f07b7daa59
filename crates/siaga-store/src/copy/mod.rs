//! `siaga store copy --from URL --to URL` (SPEC 12): a whole database copied between
//! backends (SQLite to PostgreSQL and back) while nothing serves either. Tables are found
//! in the catalog, not named here, so a table a later migration adds is copied too; both
//! ends must have the same tables and columns (both are migrated to this build's schema
//! first). Rows are copied as stored (ids, sealed secrets, times), in dependency order, a
//! chunk at a time from one snapshot of the source, in one transaction on the target;
//! PostgreSQL's id sequences continue after the copied maximum. Afterwards the copy is checked: row counts per table and every account's
//! balance against the source, and the store's own `verify`.

pub(crate) mod side;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use side::{Column, Side, Value};

use crate::error::StoreError;
use crate::open::{IntoTarget, Target};
use crate::postgres::PgStore;
use crate::sqlite::SqliteStore;
use crate::types::VerifyReport;
use crate::Store;

/// One table's rows on both ends after the copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCount {
    pub table: String,
    pub source: i64,
    pub target: i64,
}

/// What a copy did and what its check found.
#[derive(Debug, Clone)]
pub struct CopyReport {
    /// Every table copied, in the order it was copied.
    pub tables: Vec<TableCount>,
    /// Accounts whose balances were compared.
    pub accounts: usize,
    /// Accounts whose balance differs between source and target (or is missing on one).
    pub balance_differences: Vec<String>,
    /// `verify` on the copy.
    pub verify: VerifyReport,
}

impl CopyReport {
    /// Whether the copy has every row and balance of the source and verifies clean.
    pub fn ok(&self) -> bool {
        self.verify.ok()
            && self.balance_differences.is_empty()
            && self.tables.iter().all(|t| t.source == t.target)
    }
}

/// A table to copy: its name and its columns on each end, in the same order.
struct Plan {
    table: String,
    source: Vec<Column>,
    target: Vec<Column>,
}

/// Copies the whole store at `from` into the empty store at `to` (created and migrated
/// if new) and checks the copy. Refuses a target holding any row. Nothing may serve
/// either store meanwhile (the caller checks what it can). Blocking.
pub fn copy_store(from: impl IntoTarget, to: impl IntoTarget) -> Result<CopyReport, StoreError> {
    let (from, to) = (from.into_target()?, to.into_target()?);
    if from == to {
        return Err(StoreError::Copy(
            "--from and --to name the same store".into(),
        ));
    }
    if let Target::Sqlite(p) = &from {
        if !p.exists() {
            return Err(StoreError::Copy(format!("no database at {}", p.display())));
        }
    }
    on_own_thread(move || async move {
        // Both at this build's schema: the same tables and columns on both ends.
        drop(raw_open(&from)?);
        drop(raw_open(&to)?);
        let src = connect(&from, false).await?;
        let dst = connect(&to, true).await?;
        let plans = plan(&src, &dst).await?;
        refuse_non_empty(&dst, &plans).await?;
        src.begin_read().await?;
        dst.begin().await?;
        for p in &plans {
            let mut rows = src.rows(&p.table, &p.source).await?;
            while let Some(chunk) = src.next(&mut rows).await? {
                dst.write(&p.table, &p.target, chunk).await?;
            }
            dst.continue_sequences(&p.table, &p.target).await?;
        }
        dst.commit().await?;
        dst.begin_read().await?;
        let mut tables = Vec::new();
        for p in &plans {
            tables.push(TableCount {
                table: p.table.clone(),
                source: src.count(&p.table).await?,
                target: dst.count(&p.table).await?,
            });
        }
        let (accounts, balance_differences) = compare_balances(&src, &dst, &plans).await?;
        drop((src, dst));
        let verify = raw_open(&to)?.verify().await?;
        Ok(CopyReport {
            tables,
            accounts,
            balance_differences,
            verify,
        })
    })
}

/// The store at `target` without the sealing layer (its secrets stay as stored), migrated.
fn raw_open(target: &Target) -> Result<Box<dyn Store>, StoreError> {
    Ok(match target {
        Target::Sqlite(p) => Box::new(SqliteStore::open(p)?),
        Target::Postgres(url) => Box::new(PgStore::open(url)?),
    })
}

async fn connect(target: &Target, writes: bool) -> Result<Side, StoreError> {
    match target {
        Target::Sqlite(p) => {
            let c = rusqlite::Connection::open(p)?;
            c.busy_timeout(std::time::Duration::from_secs(10))?;
            if writes {
                c.execute_batch("PRAGMA foreign_keys = ON;")?;
            }
            Ok(Side::Sqlite(c))
        }
        Target::Postgres(url) => {
            let config: tokio_postgres::Config = url
                .parse()
                .map_err(|e| StoreError::Url(format!("not a PostgreSQL URL: {e}")))?;
            Ok(Side::Pg(crate::postgres::connect(&config).await?))
        }
    }
}

/// Runs `make()`'s future on a thread and runtime of its own (callable from async code).
fn on_own_thread<T, F, Fut>(make: F) -> Result<T, StoreError>
where
    T: Send,
    F: FnOnce() -> Fut + Send,
    Fut: Future<Output = Result<T, StoreError>>,
{
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| StoreError::Unavailable(format!("cannot start a runtime: {e}")))?
                .block_on(make())
        })
        .join()
        .map_err(|_| StoreError::Copy("the copy panicked".into()))?
    })
}

/// The tables in dependency order (a table after those it refers to), with their columns
/// matched by name; fails, naming them, where the two ends' tables or columns differ.
async fn plan(src: &Side, dst: &Side) -> Result<Vec<Plan>, StoreError> {
    let (a, b) = (src.tables().await?, dst.tables().await?);
    if a != b {
        return Err(StoreError::Copy(format!(
            "the two stores have different tables (only in the source: {:?}; only in the \
             target: {:?}); are both at the same siaga version?",
            only_in(&a, &b),
            only_in(&b, &a)
        )));
    }
    let mut refs = BTreeMap::new();
    let mut plans = BTreeMap::new();
    for t in &b {
        let (sc, tc) = (src.columns(t).await?, dst.columns(t).await?);
        let names = |cs: &[Column]| cs.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
        let (sn, tn) = (names(&sc), names(&tc));
        let (mut ss, mut ts) = (sn.clone(), tn.clone());
        ss.sort();
        ts.sort();
        if ss != ts {
            return Err(StoreError::Copy(format!(
                "table {t}: the columns differ (only in the source: {:?}; only in the \
                 target: {:?})",
                only_in(&sn, &tn),
                only_in(&tn, &sn)
            )));
        }
        let source = tc
            .iter()
            .filter_map(|c| sc.iter().find(|s| s.name == c.name).cloned())
            .collect();
        refs.insert(t.clone(), dst.references(t).await?);
        plans.insert(
            t.clone(),
            Plan {
                table: t.clone(),
                source,
                target: tc,
            },
        );
    }
    Ok(dependency_order(&refs)?
        .into_iter()
        .filter_map(|t| plans.remove(&t))
        .collect())
}

fn only_in(a: &[String], b: &[String]) -> Vec<String> {
    a.iter().filter(|x| !b.contains(x)).cloned().collect()
}

/// Table names so that each comes after every table it refers to (self references
/// aside); fails on a cycle.
fn dependency_order(refs: &BTreeMap<String, Vec<String>>) -> Result<Vec<String>, StoreError> {
    let mut done: Vec<String> = Vec::new();
    let mut left: BTreeSet<&String> = refs.keys().collect();
    while !left.is_empty() {
        let ready: Vec<&String> = left
            .iter()
            .filter(|t| {
                refs[**t]
                    .iter()
                    .all(|r| r == **t || done.contains(r) || !refs.contains_key(r))
            })
            .copied()
            .collect();
        if ready.is_empty() {
            return Err(StoreError::Copy(format!(
                "the tables {left:?} refer to each other in a cycle"
            )));
        }
        for t in ready {
            left.remove(t);
            done.push(t.clone());
        }
    }
    Ok(done)
}

async fn refuse_non_empty(dst: &Side, plans: &[Plan]) -> Result<(), StoreError> {
    let mut held = Vec::new();
    for p in plans {
        let n = dst.count(&p.table).await?;
        if n > 0 {
            held.push(format!("{} ({n})", p.table));
        }
    }
    if held.is_empty() {
        return Ok(());
    }
    Err(StoreError::Copy(format!(
        "the target is not empty (rows in {}); a copy only fills an empty store, nothing was written",
        held.join(", ")
    )))
}

/// Every account's balance on both ends: how many were compared and where they differ.
async fn compare_balances(
    src: &Side,
    dst: &Side,
    plans: &[Plan],
) -> Result<(usize, Vec<String>), StoreError> {
    let Some(p) = plans.iter().find(|p| p.table == "accounts") else {
        return Err(StoreError::Copy("the store has no accounts table".into()));
    };
    let pick = |cols: &[Column]| -> Vec<Column> {
        ["id", "balance"]
            .iter()
            .filter_map(|n| cols.iter().find(|c| c.name == *n).cloned())
            .collect()
    };
    let balances = |rows: Vec<Vec<Value>>| -> BTreeMap<String, String> {
        rows.into_iter()
            .map(|r| {
                let text = |v: Option<&Value>| match v {
                    Some(Value::Text(s)) => s.clone(),
                    Some(Value::Int(n)) => n.to_string(),
                    other => format!("{other:?}"),
                };
                (text(r.first()), text(r.get(1)))
            })
            .collect()
    };
    let a = balances(src.read("accounts", &pick(&p.source)).await?);
    let b = balances(dst.read("accounts", &pick(&p.target)).await?);
    let ids: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let mut differ = Vec::new();
    for id in &ids {
        let (x, y) = (a.get(*id), b.get(*id));
        if x != y {
            let show = |v: Option<&String>| v.cloned().unwrap_or_else(|| "missing".into());
            differ.push(format!(
                "account {id}: source {}, target {}",
                show(x),
                show(y)
            ));
        }
    }
    Ok((ids.len(), differ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_come_after_what_they_refer_to() {
        let refs: BTreeMap<String, Vec<String>> = [
            ("postings", vec!["transfers", "accounts"]),
            ("transfers", vec![]),
            ("accounts", vec![]),
            ("orders", vec!["resellers", "orders"]),
            ("resellers", vec![]),
            ("attempts", vec!["orders"]),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.into_iter().map(str::to_owned).collect()))
        .collect();
        let order = dependency_order(&refs).expect("no cycle");
        let at = |t: &str| order.iter().position(|x| x == t).expect("listed");
        assert!(at("postings") > at("transfers") && at("postings") > at("accounts"));
        assert!(at("orders") > at("resellers") && at("attempts") > at("orders"));
        assert_eq!(order.len(), 6);
        let cycle: BTreeMap<String, Vec<String>> = [("a", "b"), ("b", "a")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), vec![v.to_owned()]))
            .collect();
        assert!(dependency_order(&cycle).is_err());
    }
}
