//! `GET /admin/api/cluster` (SPEC 12): the nodes serving this database, each with its
//! address, version, last heartbeat, whether it is alive and leads, and how many orders in
//! flight it owns.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::admin::Admin;
use super::error::ApiError;
use crate::app::App;
use crate::clock::rfc3339;

pub async fn cluster(State(app): State<Arc<App>>, _: Admin) -> Result<Response, ApiError> {
    let c = &app.engine.cluster;
    let now = app.now();
    let nodes = app.store.nodes().await?;
    let leader = c.leader();
    let nodes: Vec<_> = nodes
        .iter()
        .map(|n| {
            let alive = n.last_seen >= now - c.takeover_after_ms;
            json!({
                "id": n.id,
                "address": n.address,
                "version": n.version,
                "started_at": rfc3339(n.started_at),
                "last_seen": rfc3339(n.last_seen),
                "alive": alive,
                "leader": leader.as_deref() == Some(n.id.as_str()),
                "orders_owned": n.orders_owned,
            })
        })
        .collect();
    Ok(Json(json!({
        "node_id": c.node_id,
        "leader": leader,
        "takeover_after_s": c.takeover_after_ms / 1000,
        "nodes": nodes,
    }))
    .into_response())
}
