//! `siaga order resolve`, `POST /admin/api/orders/{id}/resolve`: an operator settles an
//! order held for manual review or on the desk (SPEC 6.1.2). The open attempt is closed
//! with the operator's word through the store's one settle path: success posts the
//! reservation, failed voids it (code `manual`), and the reseller's callback is due. Every
//! resolve writes an audit line.

use serde_json::{json, Value};
use siaga_domain::{FailureCode, Stage};
use siaga_store::{
    AttemptResult, AttemptState, ChangeOrder, Order, OrderChange, Settle, Store, Transition,
};

use super::desk::{self, on_desk, operator_name};
use super::OpError;
use crate::config::Settings;

/// How an operator settles an order held for manual review or on the desk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    Success { sn: String },
    Failed,
}

/// The attempt's state, the order change and the attempt's result for `how`.
fn plan(how: &Resolution) -> Result<(AttemptState, OrderChange, AttemptResult), OpError> {
    Ok(match how {
        Resolution::Success { sn } => {
            let sn = sn.trim();
            if sn.is_empty() || sn.len() > 128 {
                return Err(OpError::Invalid(
                    "serial_number must be 1 to 128 characters".into(),
                ));
            }
            (
                AttemptState::Success,
                OrderChange::Succeed { sn: sn.to_owned() },
                AttemptResult {
                    sn: Some(sn.to_owned()),
                    message: Some("resolved by an operator".into()),
                    ..Default::default()
                },
            )
        }
        Resolution::Failed => (
            AttemptState::Failed,
            OrderChange::Fail {
                code: FailureCode::Manual,
            },
            AttemptResult {
                reason: Some("manual".into()),
                message: Some("resolved by an operator".into()),
                ..Default::default()
            },
        ),
    })
}

/// Where the order waits for a human: `"manual_review"` or `"desk"`; a conflict otherwise,
/// and for a desk order another operator has taken.
async fn waiting_where(
    store: &dyn Store,
    settings: &Settings,
    order: &Order,
    attempts: &[siaga_store::Attempt],
    operator: &str,
) -> Result<&'static str, OpError> {
    let id = &order.id;
    if order.status.is_final() {
        return Err(OpError::Conflict(format!(
            "order {id} is {} (final), not in manual review nor on the desk",
            order.status
        )));
    }
    if order.stage == Some(Stage::ManualReview) {
        return Ok("manual_review");
    }
    if on_desk(settings, order, attempts).is_none() {
        return Err(OpError::Conflict(format!(
            "order {id} is {} ({}), not in manual review nor on the desk",
            order.status,
            order.stage.map(|s| s.as_str()).unwrap_or("final")
        )));
    }
    match store.desk_claim(id).await? {
        Some(c) if c.operator != operator => Err(OpError::Conflict(format!(
            "order {id} is taken by {}: only they resolve it (or give --operator {})",
            c.operator, c.operator
        ))),
        _ => Ok("desk"),
    }
}

/// Settles an order in manual review or on the desk as `operator` says.
pub async fn resolve(
    store: &dyn Store,
    settings: &Settings,
    order_id: &str,
    how: Resolution,
    operator: &str,
    now: i64,
) -> Result<Value, OpError> {
    let operator = operator_name(operator)?;
    let (state, change, result) = plan(&how)?;
    for _ in 0..8 {
        let order = store
            .order(order_id)
            .await?
            .ok_or_else(|| OpError::NotFound(format!("order {order_id}")))?;
        let attempts = store.attempts(order_id).await?;
        let from = waiting_where(store, settings, &order, &attempts, &operator).await?;
        let open = attempts.iter().rev().find(|a| a.state.is_open());
        let t = match open {
            Some(a) => {
                store
                    .settle_attempt(Settle {
                        attempt_id: a.id.clone(),
                        order_version: order.version,
                        state,
                        result: result.clone(),
                        inquiry: false,
                        change: change.clone(),
                        now,
                    })
                    .await?
            }
            None if matches!(how, Resolution::Success { .. }) => {
                return Err(OpError::Conflict(format!(
                    "order {order_id} has no open attempt to mark successful"
                )));
            }
            None => {
                store
                    .change_order(ChangeOrder {
                        order_id: order_id.to_owned(),
                        order_version: order.version,
                        change: change.clone(),
                        now,
                    })
                    .await?
            }
        };
        if let Transition::Done(o) = t {
            let detail = json!({"status": o.status.as_str(), "serial_number": o.serial_number, "from": from});
            desk::audit(store, &operator, "order.resolve", &o.id, detail, now).await;
            return Ok(
                json!({"order_id": o.id, "status": o.status.as_str(), "serial_number": o.serial_number, "failure_code": o.failure_code.map(|f| f.as_str()), "resolved_by": operator}),
            );
        }
    }
    Err(OpError::Conflict(format!(
        "order {order_id} kept changing; try again"
    )))
}
