//! The manual desk (SPEC 6.1.2), shared by `siaga desk` and the admin API: the orders whose
//! open attempt is at a manual supplier, and an operator taking one so that no two operators
//! do the same top-up. Settling a desk order is `ops::resolve`, the same path as manual
//! review. Every take writes an audit line.

use std::collections::HashMap;

use serde_json::{json, Value};
use siaga_store::{Attempt, DeskItem, DeskTake, NewAudit, Order, Store};

use super::OpError;
use crate::clock::rfc3339;
use crate::config::Settings;

/// At most this many orders are listed (a desk is worked by people: more is a backlog no
/// list helps with; the oldest come first).
pub const LIST_LIMIT: u32 = 1_000;

/// An operator's name as given (`--operator`, `"operator"`): trimmed, 1 to 64 characters,
/// no control characters.
pub fn operator_name(name: &str) -> Result<String, OpError> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > 64 || n.chars().any(char::is_control) {
        return Err(OpError::Invalid(
            "operator: must be 1 to 64 characters, without control characters".into(),
        ));
    }
    Ok(n.to_owned())
}

/// The order's open attempt if it is at a manual supplier: the order is on the desk.
pub fn on_desk<'a>(
    settings: &Settings,
    order: &Order,
    attempts: &'a [Attempt],
) -> Option<&'a Attempt> {
    if order.status.is_final() {
        return None;
    }
    attempts.last().filter(|a| a.state.is_open()).filter(|a| {
        settings
            .supplier(&a.supplier_id)
            .is_some_and(|s| s.is_manual())
    })
}

/// The desk as the store has it now, oldest first.
pub async fn items(store: &dyn Store, settings: &Settings) -> Result<Vec<DeskItem>, OpError> {
    let ids = crate::config::manual_ids(&settings.suppliers);
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(store.desk_orders(&ids, LIST_LIMIT).await?)
}

/// `siaga desk list --json`, `GET /admin/api/desk`: each order on the desk with what an
/// operator needs to fulfil it (product, destination, price and cost, reseller), how long it
/// has waited and who took it.
pub async fn list(store: &dyn Store, settings: &Settings, now: i64) -> Result<Value, OpError> {
    let mut names: HashMap<String, Option<String>> = HashMap::new();
    let mut out = Vec::new();
    for i in items(store, settings).await? {
        let o = &i.order;
        if !names.contains_key(&o.reseller_id) {
            let name = store.reseller(&o.reseller_id).await?.map(|r| r.name);
            names.insert(o.reseller_id.clone(), name);
        }
        let name = names.get(&o.reseller_id).cloned().flatten();
        out.push(json!({
            "order_id": o.id,
            "ref_id": o.ref_id,
            "reseller_id": o.reseller_id,
            "reseller_name": name,
            "product": o.product,
            "destination": o.destination,
            "price": o.price,
            "cost": i.attempt.cost,
            "supplier": i.attempt.supplier_id,
            "sku": i.attempt.sku,
            "attempt_id": i.attempt.id,
            "supplier_ref": i.attempt.supplier_ref,
            "on_desk_since": rfc3339(i.attempt.started_at),
            "age_s": (now - i.attempt.started_at).max(0) / 1000,
            "taken_by": i.claim.as_ref().map(|c| c.operator.clone()),
            "taken_at": i.claim.as_ref().map(|c| rfc3339(c.taken_at)),
        }));
    }
    Ok(Value::Array(out))
}

/// Writes an audit line; a failure is logged, never undoes the action it records.
pub(super) async fn audit(
    store: &dyn Store,
    actor: &str,
    action: &str,
    target: &str,
    detail: Value,
    now: i64,
) {
    let line = NewAudit {
        actor: actor.to_owned(),
        action: action.to_owned(),
        target: target.to_owned(),
        detail: detail.to_string(),
        at: now,
    };
    if let Err(e) = store.add_audit(line).await {
        tracing::error!(error = %e, actor, action, target, "cannot write the audit line");
    }
}

/// `siaga desk take`, `POST /admin/api/desk/{order_id}/take`: claims an order on the desk
/// for `operator`. The holder taking again is fine; another operator is refused (conflict,
/// naming who has it), as is an order not on the desk.
pub async fn take(
    store: &dyn Store,
    settings: &Settings,
    order_id: &str,
    operator: &str,
    now: i64,
) -> Result<Value, OpError> {
    let operator = operator_name(operator)?;
    let order = store
        .order(order_id)
        .await?
        .ok_or_else(|| OpError::NotFound(format!("order {order_id}")))?;
    let attempts = store.attempts(order_id).await?;
    if on_desk(settings, &order, &attempts).is_none() {
        return Err(OpError::Conflict(format!(
            "order {order_id} is not on the desk (it is {}, {})",
            order.status,
            order.stage.map(|s| s.as_str()).unwrap_or("final")
        )));
    }
    match store.take_desk_order(order_id, &operator, now).await? {
        DeskTake::Taken { claim, fresh } => {
            if fresh {
                audit(store, &operator, "desk.take", order_id, json!({}), now).await;
            }
            Ok(
                json!({"order_id": order_id, "taken_by": claim.operator, "taken_at": rfc3339(claim.taken_at), "already_yours": !fresh}),
            )
        }
        DeskTake::Held(c) => Err(OpError::Conflict(format!(
            "order {order_id} is taken by {} since {}",
            c.operator,
            rfc3339(c.taken_at)
        ))),
        DeskTake::NotOpen => Err(OpError::Conflict(format!(
            "order {order_id} is final: nothing to take"
        ))),
    }
}

/// How many orders are on the desk now (the `siaga_desk_orders` gauge).
pub async fn count(store: &dyn Store, settings: &Settings) -> Result<usize, OpError> {
    Ok(items(store, settings).await?.len())
}
