//! Statuspage-compatible JSON (`/api/v2/*.json`, Atlassian Statuspage's public field names
//! and vocabularies), built from the in-memory snapshot. The handlers that serve it, with
//! cache headers, are in `http::status_page`.

use serde_json::{json, Value};

use super::view::{IncidentView, Lang, StatusSnapshot};
use crate::clock::rfc3339;

fn page(s: &StatusSnapshot) -> Value {
    json!({"id": s.page_id, "name": s.page_name, "url": s.public_url, "time_zone": "Asia/Jakarta", "updated_at": rfc3339(s.generated_at)})
}

fn status(s: &StatusSnapshot) -> Value {
    json!({"indicator": s.overall.indicator(), "description": s.headline.words().1})
}

fn components(s: &StatusSnapshot) -> Vec<Value> {
    s.components
        .iter()
        .enumerate()
        .map(|(i, c)| {
            json!({
                "id": c.id, "name": c.name, "status": c.status.as_str(),
                "created_at": rfc3339(c.created_at), "updated_at": rfc3339(c.updated_at),
                "position": i + 1, "description": null, "showcase": true, "start_date": null,
                "group_id": null, "page_id": s.page_id, "group": false, "only_show_if_degraded": false,
            })
        })
        .collect()
}

fn component_refs(s: &StatusSnapshot, names: &[String]) -> Vec<Value> {
    components(s)
        .into_iter()
        .filter(|c| names.iter().any(|n| c["name"] == n.as_str()))
        .collect()
}

fn incident(s: &StatusSnapshot, i: &IncidentView, lang: Lang) -> Value {
    let pick = |id: &str, en: &str| {
        if lang == Lang::En {
            en.to_owned()
        } else {
            id.to_owned()
        }
    };
    let monitoring_at = i
        .updates
        .iter()
        .rev()
        .find(|u| u.status == "monitoring")
        .map(|u| rfc3339(u.at));
    json!({
        "id": i.id.to_string(),
        "name": pick(&i.title_id, &i.title_en),
        "status": i.status,
        "impact": i.impact,
        "created_at": rfc3339(i.created_at),
        "updated_at": rfc3339(i.updated_at),
        "started_at": rfc3339(i.created_at),
        "monitoring_at": monitoring_at,
        "resolved_at": i.resolved_at.map(rfc3339),
        "shortlink": format!("{}/incidents/{}", s.public_url, i.id),
        "page_id": s.page_id,
        "postmortem_body": match lang { Lang::En => i.postmortem_en.clone(), Lang::Id => i.postmortem_id.clone() },
        "incident_updates": i.updates.iter().rev().map(|u| json!({
            "id": u.id.to_string(),
            "status": u.status,
            "body": pick(&u.body_id, &u.body_en),
            "incident_id": i.id.to_string(),
            "created_at": rfc3339(u.at),
            "updated_at": rfc3339(u.at),
            "display_at": rfc3339(u.at),
            "deliver_notifications": true,
            "affected_components": u.affected.iter().map(|a| json!({
                "code": a.code, "name": a.name,
                "old_status": a.old_status.as_str(), "new_status": a.new_status.as_str(),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "components": component_refs(s, &i.components),
    })
}

fn maintenances(s: &StatusSnapshot) -> Vec<Value> {
    s.maintenances
        .iter()
        .map(|m| {
            json!({
                "id": format!("m{}", m.id),
                "name": format!("Pemeliharaan terjadwal / Scheduled maintenance: {}", m.components.join(", ")),
                "status": if m.active { "in_progress" } else { "scheduled" },
                "impact": "maintenance",
                "scheduled_for": rfc3339(m.starts_at),
                "scheduled_until": rfc3339(m.ends_at),
                "created_at": rfc3339(m.starts_at),
                "updated_at": rfc3339(m.starts_at),
                "shortlink": format!("{}/", s.public_url),
                "page_id": s.page_id,
                "incident_updates": [],
                "components": component_refs(s, &m.components),
            })
        })
        .collect()
}

/// `/api/v2/summary.json`
pub fn summary(s: &StatusSnapshot, lang: Lang) -> Value {
    json!({
        "page": page(s),
        "status": status(s),
        "components": components(s),
        "incidents": s.active_incidents.iter().map(|i| incident(s, i, lang)).collect::<Vec<_>>(),
        "scheduled_maintenances": maintenances(s),
    })
}

/// `/api/v2/status.json`
pub fn status_only(s: &StatusSnapshot) -> Value {
    json!({"page": page(s), "status": status(s)})
}

/// `/api/v2/components.json`
pub fn components_only(s: &StatusSnapshot) -> Value {
    json!({"page": page(s), "components": components(s)})
}

/// `/api/v2/incidents.json`: every incident of the history.
pub fn incidents(s: &StatusSnapshot, lang: Lang) -> Value {
    json!({"page": page(s), "incidents": s.history.iter().map(|i| incident(s, i, lang)).collect::<Vec<_>>()})
}

/// `/api/v2/scheduled-maintenances.json`
pub fn maintenances_only(s: &StatusSnapshot) -> Value {
    json!({"page": page(s), "scheduled_maintenances": maintenances(s)})
}

/// `/api/v2/incidents/unresolved.json`: the open incidents.
pub fn unresolved(s: &StatusSnapshot, lang: Lang) -> Value {
    json!({"page": page(s), "incidents": s.active_incidents.iter().map(|i| incident(s, i, lang)).collect::<Vec<_>>()})
}

/// `/api/v2/scheduled-maintenances/{active,upcoming}.json`: the windows in progress, or
/// those still to come.
pub fn maintenances_where(s: &StatusSnapshot, active: bool) -> Value {
    let list: Vec<Value> = maintenances(s)
        .into_iter()
        .filter(|m| (m["status"] == "in_progress") == active)
        .collect();
    json!({"page": page(s), "scheduled_maintenances": list})
}
