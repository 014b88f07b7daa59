//! `siaga store copy --from URL --to URL` (SPEC 12): copies a whole database between
//! backends (SQLite to PostgreSQL and back) while nothing serves either, then checks the
//! copy (row counts per table, every account's balance, `verify`) and prints a summary.
//! The copying itself is `siaga_store::copy_store`.

use anyhow::bail;
use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum StoreCmd {
    /// Copy a whole store into an empty one (SQLite to PostgreSQL and back), then check
    /// the copy; nothing may serve either store meanwhile
    Copy {
        /// The store to copy: sqlite://FILE, a file path or postgres://...
        #[arg(long)]
        from: String,
        /// The empty store to fill (created and migrated if new)
        #[arg(long)]
        to: String,
    },
}

pub async fn run(cmd: StoreCmd) -> anyhow::Result<()> {
    let StoreCmd::Copy { from, to } = cmd;
    for url in [&from, &to] {
        if let siaga_store::Target::Sqlite(db) = siaga_store::Target::parse(url)? {
            if super::backup::being_served(&db) {
                bail!(
                    "a siaga serve is running on {}; stop it first (a copy is taken while \
                     nothing serves either store)",
                    db.display()
                );
            }
        }
    }
    let (f, t) = (from.clone(), to.clone());
    let report = tokio::task::spawn_blocking(move || siaga_store::copy_store(&f, &t)).await??;
    let width = report
        .tables
        .iter()
        .map(|t| t.table.len())
        .max()
        .unwrap_or(0);
    for t in &report.tables {
        let mark = if t.source == t.target {
            ""
        } else {
            "  DIFFERS"
        };
        println!("{:width$}  {:>9} -> {}{mark}", t.table, t.source, t.target);
    }
    for d in &report.balance_differences {
        println!("balance differs: {d}");
    }
    for p in &report.verify.problems {
        println!("verify: {p}");
    }
    let rows: i64 = report.tables.iter().map(|t| t.target).sum();
    if !report.ok() {
        bail!(
            "the copy in {} differs from {} (see above)",
            masked(&to),
            masked(&from)
        );
    }
    println!(
        "ok: copied {} tables, {rows} rows; {} account balances equal; verify clean \
         ({} orders, {} transfers)",
        report.tables.len(),
        report.accounts,
        report.verify.orders,
        report.verify.transfers
    );
    Ok(())
}

/// A store URL with any password in it replaced by `***` (for messages).
fn masked(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_masked_in_messages() {
        assert_eq!(
            super::masked("postgres://u:secret@db:5432/s"),
            "postgres://u:***@db:5432/s"
        );
        assert_eq!(super::masked("postgres://u@db/s"), "postgres://u@db/s");
        assert_eq!(super::masked("sqlite://a.db"), "sqlite://a.db");
    }
}
