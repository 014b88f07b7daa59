//! Owner commands that work on the database directly, also while `siaga serve` runs on it:
//! init, reseller add/deposit/rotate-keys/list, order show, verify.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use serde_json::{json, Value};
use siaga_store::Store;

use super::{IncidentCmd, OrderCmd, ResellerCmd};
use crate::clock::{Clock, SystemClock};
use crate::config;
use crate::ops;
use crate::wire;

pub fn init(path: &Path) -> anyhow::Result<()> {
    if path.exists() {
        anyhow::bail!("{} already exists; not overwriting it", path.display());
    }
    std::fs::write(path, config::STARTER)
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!(
        "wrote {}; set the environment variables it names, then run `siaga serve`",
        path.display()
    );
    Ok(())
}

pub fn open_store(cfg: &Path) -> anyhow::Result<Arc<dyn Store>> {
    let settings = config::load(cfg)?;
    store_of(&settings)
}

/// The configured store, opened as every command opens it: with the secret key ring from
/// the environment (`SIAGA_SECRET_KEY`, `SIAGA_SECRET_KEY_OLD`), so the secrets it keeps
/// are sealed at rest and read back whichever key of the ring sealed them.
pub fn store_of(settings: &config::Settings) -> anyhow::Result<Arc<dyn Store>> {
    let keys = crate::keys::store_keyring()?;
    siaga_store::open_with(&settings.store_path, &keys)
        .with_context(|| format!("cannot open the database {}", settings.store_path.display()))
}

fn print(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

pub async fn reseller(cfg: &Path, cmd: ResellerCmd) -> anyhow::Result<()> {
    let store = open_store(cfg)?;
    let now = SystemClock.now_ms();
    match cmd {
        ResellerCmd::Add {
            name,
            email,
            callback_url,
            callback_format,
        } => {
            let c = ops::add_reseller(
                store.as_ref(),
                &name,
                email.as_deref(),
                callback_url.as_deref(),
                ops::callback_format(callback_format.as_deref())?,
                now,
            )
            .await?;
            println!("{}", c.json());
        }
        ResellerCmd::Access {
            id,
            allow,
            require_signature,
        } => {
            print(&ops::set_access(store.as_ref(), &id, &allow, require_signature, now).await?);
        }
        ResellerCmd::Deposit { id, amount, note } => {
            print(&ops::deposit(store.as_ref(), &id, amount, &note, now).await?);
        }
        ResellerCmd::RotateKeys {
            id: Some(id),
            all: false,
        } => {
            println!(
                "{}",
                ops::rotate_keys(store.as_ref(), &id, now).await?.json()
            );
        }
        ResellerCmd::RotateKeys { all: true, .. } => {
            let (rotated, failed) = ops::rotate_all(store.as_ref(), now).await?;
            // Every new credential is printed, even when some rotations failed.
            print(&Value::Array(rotated));
            if !failed.is_empty() {
                anyhow::bail!(
                    "{} reseller(s) not rotated: {}",
                    failed.len(),
                    Value::Array(failed)
                );
            }
        }
        ResellerCmd::RotateKeys {
            id: None,
            all: false,
        } => anyhow::bail!("give a reseller id or --all"),
        ResellerCmd::Link { id, .. } => super::chat::link(store.as_ref(), &id, now).await?,
        ResellerCmd::SetPin { id } => super::chat::set_pin(store.as_ref(), &id, now).await?,
        ResellerCmd::List => {
            let mut out = Vec::new();
            for r in store.list_resellers().await? {
                let b = store.balance(&r.id).await?;
                out.push(json!({"id": r.id, "name": r.name, "email": r.email, "callback_url": r.callback_url, "available": b.available, "held": b.held, "ip_allowlist": r.ip_allowlist, "require_signature": r.require_signature}));
            }
            print(&Value::Array(out));
        }
    }
    Ok(())
}

pub async fn order(cfg: &Path, cmd: OrderCmd) -> anyhow::Result<()> {
    let settings = config::load(cfg)?;
    let store = store_of(&settings)?;
    match cmd {
        OrderCmd::Show { id_or_ref } => {
            let mut found = store
                .order(&id_or_ref)
                .await?
                .into_iter()
                .collect::<Vec<_>>();
            if found.is_empty() {
                for r in store.list_resellers().await? {
                    if let Some(o) = store.order_by_ref(&r.id, &id_or_ref).await? {
                        found.push(o);
                    }
                }
            }
            if found.is_empty() {
                anyhow::bail!("no order with id or ref_id {id_or_ref}");
            }
            for o in found {
                let mut v = wire::order_json(&o);
                v["reseller_id"] = json!(o.reseller_id);
                let attempts = store.attempts(&o.id).await?;
                v["attempts"] = Value::Array(attempts.iter().map(wire::attempt_json).collect());
                print(&v);
            }
        }
        OrderCmd::Resolve {
            order_id,
            success,
            sn,
            failed: _,
            operator,
        } => {
            let how = match (success, sn) {
                (true, Some(sn)) => ops::Resolution::Success { sn },
                (true, None) => anyhow::bail!("--success needs --sn SERIAL"),
                (false, _) => ops::Resolution::Failed,
            };
            let operator = super::desk::operator(operator);
            let now = SystemClock.now_ms();
            let v = ops::resolve(store.as_ref(), &settings, &order_id, how, &operator, now).await?;
            print(&v);
        }
    }
    Ok(())
}

pub async fn verify(cfg: &Path) -> anyhow::Result<()> {
    let store = open_store(cfg)?;
    let r = store.verify().await?;
    if r.ok() {
        println!(
            "ok: {} orders, {} transfers, {} accounts; every invariant holds",
            r.orders, r.transfers, r.accounts
        );
        Ok(())
    } else {
        println!("{} problem(s) found:", r.problems.len());
        for p in &r.problems {
            println!("  - {p}");
        }
        anyhow::bail!(
            "verify failed: {} problem(s); see the report above",
            r.problems.len()
        )
    }
}

pub async fn maintenance_add(
    cfg: &Path,
    supplier: &str,
    from: &str,
    to: &str,
    note: Option<&str>,
) -> anyhow::Result<()> {
    let settings = config::load(cfg)?;
    let store = store_of(&settings)?;
    let v = ops::add_maintenance(
        &*store,
        &settings,
        supplier,
        from,
        to,
        note,
        "cli",
        SystemClock.now_ms(),
    )
    .await?;
    print(&v);
    Ok(())
}

pub async fn incident(cfg: &Path, cmd: IncidentCmd) -> anyhow::Result<()> {
    let settings = config::load(cfg)?;
    let store = store_of(&settings)?;
    let now = SystemClock.now_ms();
    let v = match cmd {
        IncidentCmd::Open {
            title,
            body,
            title_en,
            body_en,
            components,
            impact,
            status,
            security,
        } => {
            let draft = ops::IncidentDraft {
                title: &title,
                body: &body,
                title_en: title_en.as_deref(),
                body_en: body_en.as_deref(),
                components,
                impact: impact.as_deref(),
                status: status.as_deref(),
                security,
            };
            ops::open_incident(&*store, &settings, draft, now).await?
        }
        IncidentCmd::Update {
            id,
            status,
            body,
            body_en,
        } => ops::incident_update(&*store, id, &status, &body, body_en.as_deref(), now).await?,
        IncidentCmd::Resolve { id, body, body_en } => {
            ops::incident_update(&*store, id, "resolved", &body, Some(&body_en), now).await?
        }
        IncidentCmd::Postmortem { id, body, body_en } => {
            ops::incident_postmortem(&*store, id, &body, body_en.as_deref(), now).await?
        }
        IncidentCmd::List => {
            let list = store.incidents(now - 90 * 86_400_000).await?;
            Value::Array(
                list.iter()
                    .map(|i| {
                        json!({"id": i.id, "title": i.title_id, "status": i.status, "impact": i.impact,
                               "components": i.components, "security": i.security,
                               "created_at": crate::clock::rfc3339(i.created_at), "resolved_at": i.resolved_at.map(crate::clock::rfc3339)})
                    })
                    .collect(),
            )
        }
    };
    print(&v);
    Ok(())
}

pub async fn voucher_issue(
    cfg: &Path,
    incident: i64,
    amount: i64,
    expires_in_days: u32,
    affected_after_s: u64,
) -> anyhow::Result<()> {
    let settings = config::load(cfg)?;
    let store = open_store(cfg)?;
    let v = crate::vouchers::issue(
        &settings,
        store.as_ref(),
        SystemClock.now_ms(),
        incident,
        amount,
        expires_in_days,
        affected_after_s,
    )
    .await?;
    print(&v);
    Ok(())
}
