//! Statuspage-compatible JSON (`/api/v2/*.json`, Atlassian Statuspage's public field names
//! and vocabularies), built from the in-memory snapshot. The handlers that serve it, with
//! cache headers, are in `http::status_page`.

use serde_json::{json, Value};

use super::view::{IncidentView, Lang, MaintenanceView, StatusSnapshot};
use crate::clock::rfc3339;

/// `updated_at` is when what the page says last changed, so an answer stays the same
/// (and its `ETag` with it) until there is news.
fn page(s: &StatusSnapshot) -> Value {
    json!({"id": s.page_id, "name": s.page_name, "url": s.public_url, "time_zone": "Asia/Jakarta", "updated_at": rfc3339(s.changed_at)})
}

/// The indicator and the words say the same thing (a widget shows the words beside a dot
/// coloured by the indicator); the words in the page's language.
fn status(s: &StatusSnapshot, lang: Lang) -> Value {
    let (id, en) = s.headline.words();
    let description = if lang == Lang::En { en } else { id };
    json!({"indicator": s.headline.indicator(), "description": description})
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

/// A window's name: the owner's note, else what it is and what it touches.
pub fn maintenance_name(m: &MaintenanceView, lang: Lang) -> String {
    match &m.note {
        Some(n) => n.clone(),
        None if lang == Lang::En => format!("Scheduled maintenance: {}", m.components.join(", ")),
        None => format!("Pemeliharaan terjadwal: {}", m.components.join(", ")),
    }
}

/// What the window means for orders, in the page's language.
pub fn maintenance_body(m: &MaintenanceView, lang: Lang) -> String {
    let held: Vec<&String> = m
        .components
        .iter()
        .filter(|c| !m.routed.contains(c))
        .collect();
    let mut parts = Vec::new();
    if let Some(n) = &m.note {
        parts.push(n.clone());
    }
    let list = |v: &[&String]| v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
    let routed: Vec<&String> = m.routed.iter().collect();
    if !routed.is_empty() {
        parts.push(match lang {
            Lang::En => format!(
                "{}: orders go to a backup supplier during the scheduled maintenance.",
                list(&routed)
            ),
            Lang::Id => format!(
                "{}: pesanan dialihkan ke pemasok cadangan selama pemeliharaan terjadwal.",
                list(&routed)
            ),
        });
    }
    if !held.is_empty() {
        parts.push(match lang {
            Lang::En => format!("{}: orders placed during the maintenance are held and processed afterwards, or refunded if their wait runs out.", list(&held)),
            Lang::Id => format!("{}: pesanan selama pemeliharaan ditahan dan diproses setelahnya, atau dikembalikan dananya jika waktu tunggunya habis.", list(&held)),
        });
    }
    parts.join(" ")
}

fn maintenance(s: &StatusSnapshot, m: &MaintenanceView, lang: Lang) -> Value {
    let started = m.status != "scheduled";
    let done = m.status == "completed";
    // Its updates, newest first, as Statuspage lists them: announced, started, completed.
    let mut updates = vec![("scheduled", m.created_at.min(m.starts_at))];
    if started {
        updates.push(("in_progress", m.starts_at));
    }
    if matches!(m.status, "verifying" | "completed") {
        updates.push(("verifying", m.ends_at));
    }
    if done {
        updates.push(("completed", m.ends_at));
    }
    let body = maintenance_body(m, lang);
    json!({
        "id": format!("m{}", m.id),
        "name": maintenance_name(m, lang),
        "status": m.status,
        "impact": "maintenance",
        "scheduled_for": rfc3339(m.starts_at),
        "scheduled_until": rfc3339(m.ends_at),
        "started_at": started.then(|| rfc3339(m.starts_at)),
        "resolved_at": done.then(|| rfc3339(m.ends_at)),
        "monitoring_at": null,
        "created_at": rfc3339(m.created_at),
        "updated_at": rfc3339(updates.last().map_or(m.created_at, |u| u.1)),
        "shortlink": format!("{}/history", s.public_url),
        "page_id": s.page_id,
        "postmortem_body": null,
        "incident_updates": updates.iter().rev().map(|(status, at)| json!({
            "id": format!("m{}-{status}", m.id),
            "status": status,
            "body": body,
            "incident_id": format!("m{}", m.id),
            "created_at": rfc3339(*at),
            "updated_at": rfc3339(*at),
            "display_at": rfc3339(*at),
            "deliver_notifications": true,
            "affected_components": m.components.iter().map(|c| json!({
                "code": crate::status::worker::slug(c), "name": c,
                "old_status": "operational", "new_status": "under_maintenance",
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "components": component_refs(s, &m.components),
    })
}

/// Active and upcoming windows (`all`: completed ones of the last 90 days too).
fn maintenances(s: &StatusSnapshot, lang: Lang, all: bool) -> Vec<Value> {
    let past = if all { &s.past_maintenances[..] } else { &[] };
    s.maintenances
        .iter()
        .chain(past)
        .map(|m| maintenance(s, m, lang))
        .collect()
}

/// `/api/v2/summary.json`
pub fn summary(s: &StatusSnapshot, lang: Lang) -> Value {
    json!({
        "page": page(s),
        "status": status(s, lang),
        "components": components(s),
        "incidents": s.active_incidents.iter().map(|i| incident(s, i, lang)).collect::<Vec<_>>(),
        "scheduled_maintenances": maintenances(s, lang, false),
    })
}

/// `/api/v2/status.json`
pub fn status_only(s: &StatusSnapshot, lang: Lang) -> Value {
    json!({"page": page(s), "status": status(s, lang)})
}

/// `/api/v2/components.json`
pub fn components_only(s: &StatusSnapshot) -> Value {
    json!({"page": page(s), "components": components(s)})
}

/// `/api/v2/incidents.json`: every incident of the history.
pub fn incidents(s: &StatusSnapshot, lang: Lang) -> Value {
    json!({"page": page(s), "incidents": s.history.iter().map(|i| incident(s, i, lang)).collect::<Vec<_>>()})
}

/// `/api/v2/scheduled-maintenances.json`: upcoming, active and those completed in the
/// last 90 days.
pub fn maintenances_only(s: &StatusSnapshot, lang: Lang) -> Value {
    json!({"page": page(s), "scheduled_maintenances": maintenances(s, lang, true)})
}

/// `/api/v2/incidents/unresolved.json`: the open incidents.
pub fn unresolved(s: &StatusSnapshot, lang: Lang) -> Value {
    json!({"page": page(s), "incidents": s.active_incidents.iter().map(|i| incident(s, i, lang)).collect::<Vec<_>>()})
}

/// `/api/v2/scheduled-maintenances/{active,upcoming}.json`: the windows in progress, or
/// those still to come.
pub fn maintenances_where(s: &StatusSnapshot, lang: Lang, active: bool) -> Value {
    let list: Vec<Value> = maintenances(s, lang, false)
        .into_iter()
        .filter(|m| (m["status"] != "scheduled") == active)
        .collect();
    json!({"page": page(s), "scheduled_maintenances": list})
}
