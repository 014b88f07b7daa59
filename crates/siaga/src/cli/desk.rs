//! `siaga desk list [--json]`, `siaga desk take ORDER_ID [--operator NAME]`: the manual desk
//! (SPEC 6.1.2) from the command line, on the database directly (also while `siaga serve`
//! runs on it). Resolving a desk order is `siaga order resolve`.

use std::path::Path;

use clap::Subcommand;
use serde_json::Value;

use super::owner::store_of;
use crate::clock::{Clock, SystemClock};
use crate::{config, ops};

#[derive(Subcommand, Debug)]
pub enum DeskCmd {
    /// The orders on the desk, oldest first: what to top up, for whom, who took it
    List {
        /// Print the list as JSON
        #[arg(long)]
        json: bool,
    },
    /// Take an order on the desk, so no other operator does it too
    Take {
        order_id: String,
        /// Who takes it (default: $USER, else "cli")
        #[arg(long)]
        operator: Option<String>,
    },
}

/// The operator named, else `$USER`, else `cli`.
pub fn operator(given: Option<String>) -> String {
    given
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.trim().is_empty()))
        .unwrap_or_else(|| "cli".into())
}

pub async fn desk(cfg: &Path, cmd: DeskCmd) -> anyhow::Result<()> {
    let settings = config::load(cfg)?;
    let store = store_of(&settings)?;
    let now = SystemClock.now_ms();
    match cmd {
        DeskCmd::List { json } => {
            let v = ops::desk::list(store.as_ref(), &settings, now).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print_table(&v);
            }
        }
        DeskCmd::Take {
            order_id,
            operator: who,
        } => {
            let v =
                ops::desk::take(store.as_ref(), &settings, &order_id, &operator(who), now).await?;
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
    }
    Ok(())
}

/// One line per order on the desk, for a person at a terminal.
fn print_table(v: &Value) {
    let items = v.as_array().map(Vec::as_slice).unwrap_or_default();
    if items.is_empty() {
        println!("the desk is empty");
        return;
    }
    let s = |i: &Value, k: &str| match &i[k] {
        Value::String(t) => t.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    };
    println!(
        "{:<30} {:<10} {:<15} {:>8} {:>7}  {:<20} TAKEN_BY",
        "ORDER", "PRODUCT", "DESTINATION", "PRICE", "AGE_S", "RESELLER"
    );
    for i in items {
        println!(
            "{:<30} {:<10} {:<15} {:>8} {:>7}  {:<20} {}",
            s(i, "order_id"),
            s(i, "product"),
            s(i, "destination"),
            s(i, "price"),
            s(i, "age_s"),
            s(i, "reseller_name"),
            s(i, "taken_by"),
        );
    }
}
