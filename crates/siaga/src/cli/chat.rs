//! `siaga reseller link ID --telegram` and `siaga reseller set-pin ID` (SPEC 5.2): a
//! one-time code that links a Telegram chat to a reseller, and the reseller's transaction
//! PIN, read from standard input (never from the command line, where `ps` and the shell
//! history would keep it).

use std::io::{BufRead, IsTerminal, Write};

use serde_json::json;
use siaga_store::Store;

use crate::chat::pin;
use crate::clock::rfc3339;

/// Prints a new one-time link code for the reseller (usable once, for 24 hours).
pub async fn link(store: &dyn Store, id: &str, now: i64) -> anyhow::Result<()> {
    let code = pin::new_code();
    let expires_at = now + pin::CODE_TTL_MS;
    if !store
        .add_link_code(id, &pin::code_hash(&code), expires_at, now)
        .await?
    {
        anyhow::bail!("no reseller {id}");
    }
    println!(
        "{}",
        json!({
            "reseller_id": id,
            "code": code,
            "send_to_the_bot": format!("/start {code}"),
            "expires_at": rfc3339(expires_at),
        })
    );
    Ok(())
}

/// Reads a PIN (4 to 6 digits) from standard input and keeps its hash; lifts the locks of
/// the reseller's chats.
pub async fn set_pin(store: &dyn Store, id: &str, now: i64) -> anyhow::Result<()> {
    if store.reseller(id).await?.is_none() {
        anyhow::bail!("no reseller {id}");
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("PIN transaksi (4-6 digit) untuk {id}: ");
        let _ = std::io::stderr().flush();
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| anyhow::anyhow!("cannot read the PIN from standard input: {e}"))?;
    let pin =
        pin::check_new(&line).map_err(|m| anyhow::anyhow!("{m} (read from standard input)"))?;
    let hash = tokio::task::spawn_blocking(move || pin::hash(&pin)).await??;
    if !store.set_pin_hash(id, &hash, now).await? {
        anyhow::bail!("no reseller {id}");
    }
    println!("{}", json!({"reseller_id": id, "pin": "set"}));
    Ok(())
}
