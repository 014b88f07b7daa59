//! Component status history and incidents.

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::StoreError;
use crate::types::{ComponentChange, Incident, IncidentUpdate, NewIncident};

pub(crate) fn record_component(c: &Connection, ch: &ComponentChange) -> Result<(), StoreError> {
    c.prepare_cached("INSERT INTO component_status (component, status, at) VALUES (?1, ?2, ?3)")?
        .execute(params![ch.component, ch.status, ch.at])?;
    Ok(())
}

/// Changes since `since`, plus the last change before it for each component (its state at
/// `since`), oldest first.
pub(crate) fn component_log(
    c: &Connection,
    since: i64,
) -> Result<Vec<ComponentChange>, StoreError> {
    let mut st = c.prepare_cached(
        "SELECT component, status, at FROM component_status WHERE at >= ?1
         UNION ALL
         SELECT cs.component, cs.status, cs.at FROM component_status cs
           JOIN (SELECT component, MAX(id) AS id FROM component_status WHERE at < ?1 GROUP BY component) last
             ON last.id = cs.id
         ORDER BY 3, 1",
    )?;
    let rows = st.query_map([since], |r| {
        Ok(ComponentChange {
            component: r.get(0)?,
            status: r.get(1)?,
            at: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn create_incident(c: &Connection, n: &NewIncident) -> Result<i64, StoreError> {
    let components =
        serde_json::to_string(&n.components).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let id: i64 = c
        .prepare_cached(
            "INSERT INTO incidents (title_id, title_en, status, impact, components, auto_component, security, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8) RETURNING id",
        )?
        .query_row(params![n.title_id, n.title_en, n.status, n.impact, components, n.auto_component, n.security, n.at], |r| r.get(0))?;
    c.prepare_cached("INSERT INTO incident_updates (incident_id, status, body_id, body_en, at) VALUES (?1, ?2, ?3, ?4, ?5)")?
        .execute(params![id, n.status, n.body_id, n.body_en, n.at])?;
    Ok(id)
}

/// Adds an update and moves the incident to its status; false if there is no such incident
/// or it is already resolved (only a postmortem may follow).
pub(crate) fn add_update(
    c: &Connection,
    id: i64,
    status: &str,
    body_id: &str,
    body_en: &str,
    at: i64,
) -> Result<bool, StoreError> {
    let current: Option<String> = c
        .prepare_cached("SELECT status FROM incidents WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?;
    match current.as_deref() {
        None | Some("resolved") | Some("postmortem") => return Ok(false),
        Some(_) => {}
    }
    c.prepare_cached("INSERT INTO incident_updates (incident_id, status, body_id, body_en, at) VALUES (?1, ?2, ?3, ?4, ?5)")?
        .execute(params![id, status, body_id, body_en, at])?;
    c.prepare_cached(
        "UPDATE incidents SET status = ?2, updated_at = ?3, resolved_at = CASE WHEN ?2 = 'resolved' THEN ?3 ELSE resolved_at END WHERE id = ?1",
    )?
    .execute(params![id, status, at])?;
    Ok(true)
}

pub(crate) fn set_postmortem(
    c: &Connection,
    id: i64,
    body_id: &str,
    body_en: &str,
    at: i64,
) -> Result<bool, StoreError> {
    let n = c
        .prepare_cached(
            "UPDATE incidents SET postmortem_id = ?2, postmortem_en = ?3, status = 'postmortem', updated_at = ?4
             WHERE id = ?1 AND status IN ('resolved', 'postmortem')",
        )?
        .execute(params![id, body_id, body_en, at])?;
    Ok(n == 1)
}

/// Incidents created since `since` or still unresolved, newest first, with their updates.
const INCIDENT_COLS: &str =
    "id, title_id, title_en, status, impact, components, auto_component, security,
    created_at, updated_at, resolved_at, postmortem_id, postmortem_en";

fn incident_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Incident> {
    let comps: String = r.get(5)?;
    Ok(Incident {
        id: r.get(0)?,
        title_id: r.get(1)?,
        title_en: r.get(2)?,
        status: r.get(3)?,
        impact: r.get(4)?,
        components: serde_json::from_str(&comps).unwrap_or_default(),
        auto_component: r.get(6)?,
        security: r.get(7)?,
        created_at: r.get(8)?,
        updated_at: r.get(9)?,
        resolved_at: r.get(10)?,
        postmortem_id: r.get(11)?,
        postmortem_en: r.get(12)?,
        updates: Vec::new(),
    })
}

fn fill_updates(c: &Connection, out: &mut [Incident]) -> Result<(), StoreError> {
    let mut up = c.prepare_cached("SELECT id, status, body_id, body_en, at FROM incident_updates WHERE incident_id = ?1 ORDER BY id")?;
    for i in out {
        let rows = up.query_map([i.id], |r| {
            Ok(IncidentUpdate {
                id: r.get(0)?,
                status: r.get(1)?,
                body_id: r.get(2)?,
                body_en: r.get(3)?,
                at: r.get(4)?,
            })
        })?;
        i.updates = rows.collect::<Result<_, _>>()?;
    }
    Ok(())
}

pub(crate) fn incidents(c: &Connection, since: i64) -> Result<Vec<Incident>, StoreError> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {INCIDENT_COLS} FROM incidents WHERE created_at >= ?1 OR resolved_at IS NULL
         ORDER BY created_at DESC, id DESC"
    ))?;
    let rows = st.query_map([since], incident_row)?;
    let mut out: Vec<Incident> = rows.collect::<Result<_, _>>()?;
    fill_updates(c, &mut out)?;
    Ok(out)
}

pub(crate) fn incident(c: &Connection, id: i64) -> Result<Option<Incident>, StoreError> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {INCIDENT_COLS} FROM incidents WHERE id = ?1"
    ))?;
    let rows = st.query_map([id], incident_row)?;
    let mut out: Vec<Incident> = rows.collect::<Result<_, _>>()?;
    fill_updates(c, &mut out)?;
    Ok(out.pop())
}
