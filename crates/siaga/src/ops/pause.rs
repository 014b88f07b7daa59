//! Pausing and resuming a supplier (SPEC 13): the same code behind `siaga supplier
//! pause|resume`, `POST /admin/api/suppliers/{id}/pause|resume` and the dashboard's
//! buttons. A pause is kept in the store (one mark per supplier), so every node and every
//! restart knows it; each is an audit line.

use std::collections::HashMap;

use serde_json::{json, Value};
use siaga_store::{NewAudit, Store};

use super::OpError;
use crate::config::Settings;
use crate::health::Pause;

fn key(supplier: &str) -> String {
    format!("supplier_paused:{supplier}")
}

fn known(settings: &Settings, supplier: &str) -> Result<(), OpError> {
    match settings.supplier(supplier) {
        Some(s) if !s.retired => Ok(()),
        _ => Err(OpError::NotFound(format!("supplier {supplier:?}"))),
    }
}

/// Pauses `supplier` (again: the reason and who are replaced). `by` is who asked.
pub async fn pause(
    store: &dyn Store,
    settings: &Settings,
    supplier: &str,
    by: &str,
    reason: &str,
    now: i64,
) -> Result<Value, OpError> {
    known(settings, supplier)?;
    let reason: String = reason.trim().chars().take(500).collect();
    let p = Pause {
        by: by.to_owned(),
        at: now,
        reason,
    };
    let text = serde_json::to_string(&p).map_err(|e| OpError::Invalid(e.to_string()))?;
    store.set_notify_mark(&key(supplier), &text, now).await?;
    audit(
        store,
        by,
        "supplier.pause",
        supplier,
        json!({"reason": p.reason}),
        now,
    )
    .await?;
    Ok(json!({"supplier": supplier, "paused": p.json()}))
}

/// Resumes `supplier`; resuming one that is not paused changes nothing.
pub async fn resume(
    store: &dyn Store,
    settings: &Settings,
    supplier: &str,
    by: &str,
    now: i64,
) -> Result<Value, OpError> {
    known(settings, supplier)?;
    let was = read(store, supplier).await?;
    if was.is_some() {
        store.set_notify_mark(&key(supplier), "", now).await?;
        audit(store, by, "supplier.resume", supplier, json!({}), now).await?;
    }
    Ok(json!({"supplier": supplier, "paused": Value::Null, "was_paused": was.is_some()}))
}

async fn read(store: &dyn Store, supplier: &str) -> Result<Option<Pause>, OpError> {
    Ok(store
        .notify_mark(&key(supplier))
        .await?
        .filter(|v| !v.is_empty())
        .and_then(|v| serde_json::from_str(&v).ok()))
}

/// The pauses of `suppliers` as the store holds them.
pub async fn load(
    store: &dyn Store,
    suppliers: &[String],
) -> Result<HashMap<String, Pause>, OpError> {
    let mut out = HashMap::new();
    for s in suppliers {
        if let Some(p) = read(store, s).await? {
            out.insert(s.clone(), p);
        }
    }
    Ok(out)
}

async fn audit(
    store: &dyn Store,
    by: &str,
    action: &str,
    supplier: &str,
    detail: Value,
    now: i64,
) -> Result<(), OpError> {
    store
        .add_audit(NewAudit {
            actor: by.to_owned(),
            action: action.into(),
            target: supplier.to_owned(),
            detail: detail.to_string(),
            at: now,
        })
        .await?;
    Ok(())
}
