//! `siaga operator add NAME --role owner|operator`, `siaga operator list`, `siaga operator
//! remove NAME` (SPEC 13): the dashboard's accounts. The password is read from standard
//! input or from the environment variable named by `--password-env`, never from the
//! command line (where `ps` and the shell history would keep it); only its argon2id hash
//! is stored.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use clap::Subcommand;
use serde_json::json;
use siaga_store::OperatorAccount;

use super::owner::open_store;
use crate::clock::{rfc3339, Clock, SystemClock};
use crate::http::dashboard::accounts;

#[derive(Subcommand, Debug)]
pub enum OperatorCmd {
    /// Add a dashboard account; the password comes from standard input (or --password-env)
    Add {
        name: String,
        /// owner: everything; operator: never keys nor the config
        #[arg(long, value_parser = ["owner", "operator"])]
        role: String,
        /// Read the password from this environment variable instead of standard input
        #[arg(long)]
        password_env: Option<String>,
    },
    /// The dashboard accounts (never their passwords)
    List,
    /// Remove a dashboard account; its sessions end at their next page
    Remove { name: String },
}

pub async fn run(cfg: &Path, cmd: OperatorCmd) -> anyhow::Result<()> {
    let store = open_store(cfg)?;
    match cmd {
        OperatorCmd::Add {
            name,
            role,
            password_env,
        } => {
            let name = accounts::check_name(&name).map_err(anyhow::Error::msg)?;
            let raw = read_password(&name, password_env.as_deref())?;
            let pw = accounts::check_password(&raw).map_err(anyhow::Error::msg)?;
            let hash = tokio::task::spawn_blocking(move || accounts::hash(&pw)).await??;
            let now = SystemClock.now_ms();
            let added = store
                .add_operator(OperatorAccount {
                    name: name.clone(),
                    role: role.clone(),
                    password_hash: hash,
                    created_at: now,
                })
                .await?;
            if !added {
                anyhow::bail!("an account named {name} exists already; remove it first");
            }
            println!("{}", json!({"name": name, "role": role}));
        }
        OperatorCmd::List => {
            let list: Vec<_> = store
                .operator_accounts()
                .await?
                .into_iter()
                .map(|a| json!({"name": a.name, "role": a.role, "created_at": rfc3339(a.created_at)}))
                .collect();
            println!("{}", serde_json::to_string_pretty(&list)?);
        }
        OperatorCmd::Remove { name } => {
            if !store.remove_operator(name.trim()).await? {
                anyhow::bail!("no account named {}", name.trim());
            }
            println!("{}", json!({"name": name.trim(), "removed": true}));
        }
    }
    Ok(())
}

fn read_password(name: &str, env: Option<&str>) -> anyhow::Result<String> {
    if let Some(var) = env {
        return std::env::var(var)
            .map_err(|_| anyhow::anyhow!("--password-env {var}: that variable is not set"));
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!(
            "Kata sandi untuk {name} (min. {} karakter): ",
            accounts::MIN_PASSWORD
        );
        let _ = std::io::stderr().flush();
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| anyhow::anyhow!("cannot read the password from standard input: {e}"))?;
    Ok(line)
}
