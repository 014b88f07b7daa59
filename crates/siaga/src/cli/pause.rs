//! `siaga supplier pause ID [--reason TEXT] [--operator NAME]` and `siaga supplier resume
//! ID`: take a supplier out of routing and put it back (SPEC 13), on the database
//! directly; a running `siaga serve` (every node) takes it within 2 s.

use std::path::Path;

use super::desk::operator;
use super::owner::store_of;
use crate::clock::{Clock, SystemClock};
use crate::{config, ops};

pub async fn pause(
    cfg: &Path,
    supplier: &str,
    reason: Option<String>,
    who: Option<String>,
) -> anyhow::Result<()> {
    let settings = config::load(cfg)?;
    let store = store_of(&settings)?;
    let reason = reason.unwrap_or_default();
    let v = ops::pause::pause(
        store.as_ref(),
        &settings,
        supplier,
        &operator(who),
        &reason,
        SystemClock.now_ms(),
    )
    .await?;
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}

pub async fn resume(cfg: &Path, supplier: &str, who: Option<String>) -> anyhow::Result<()> {
    let settings = config::load(cfg)?;
    let store = store_of(&settings)?;
    let v = ops::pause::resume(
        store.as_ref(),
        &settings,
        supplier,
        &operator(who),
        SystemClock.now_ms(),
    )
    .await?;
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}
