//! Component status history and incidents on PostgreSQL. Incident updates are news read
//! by cursor: their inserts take the table's advisory lock first.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::tx::{exec, lock_news, one, opt, rows};
use crate::error::StoreError;
use crate::types::{ComponentChange, Incident, IncidentUpdate, NewIncident};

pub(crate) async fn record_component<C: GenericClient>(
    c: &C,
    ch: &ComponentChange,
) -> Result<(), StoreError> {
    exec(
        c,
        "INSERT INTO component_status (component, status, at) VALUES ($1, $2, $3)",
        &[&ch.component, &ch.status, &ch.at],
    )
    .await?;
    Ok(())
}

/// Changes since `since`, plus the last change before it for each component (its state at
/// `since`), oldest first.
pub(crate) async fn component_log<C: GenericClient>(
    c: &C,
    since: i64,
) -> Result<Vec<ComponentChange>, StoreError> {
    rows(
        c,
        "SELECT component, status, at FROM component_status WHERE at >= $1
         UNION ALL
         SELECT cs.component, cs.status, cs.at FROM component_status cs
           JOIN (SELECT component, MAX(id) AS id FROM component_status WHERE at < $1 GROUP BY component) last
             ON last.id = cs.id
         ORDER BY 3, 1",
        &[&since],
    )
    .await?
    .iter()
    .map(|r| {
        Ok(ComponentChange {
            component: r.try_get(0)?,
            status: r.try_get(1)?,
            at: r.try_get(2)?,
        })
    })
    .collect()
}

async fn insert_update<C: GenericClient>(
    c: &C,
    incident: i64,
    status: &str,
    body_id: &str,
    body_en: &str,
    at: i64,
) -> Result<(), StoreError> {
    lock_news(c, "incident_updates").await?;
    exec(
        c,
        "INSERT INTO incident_updates (incident_id, status, body_id, body_en, at) VALUES ($1, $2, $3, $4, $5)",
        &[&incident, &status, &body_id, &body_en, &at],
    )
    .await?;
    Ok(())
}

pub(crate) async fn create_incident<C: GenericClient>(
    c: &C,
    n: &NewIncident,
) -> Result<i64, StoreError> {
    let components =
        serde_json::to_string(&n.components).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let id: i64 = one(
        c,
        "INSERT INTO incidents (title_id, title_en, status, impact, components, auto_component, security, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id",
        &[&n.title_id, &n.title_en, &n.status, &n.impact, &components, &n.auto_component, &n.security, &n.at],
    )
    .await?
    .try_get(0)?;
    insert_update(c, id, &n.status, &n.body_id, &n.body_en, n.at).await?;
    Ok(id)
}

/// Adds an update and moves the incident to its status; false if there is no such incident
/// or it is already resolved (only a postmortem may follow).
pub(crate) async fn add_update<C: GenericClient>(
    c: &C,
    id: i64,
    status: &str,
    body_id: &str,
    body_en: &str,
    at: i64,
) -> Result<bool, StoreError> {
    let current: Option<String> = opt(
        c,
        "SELECT status FROM incidents WHERE id = $1 FOR UPDATE",
        &[&id],
    )
    .await?
    .map(|r| r.try_get(0))
    .transpose()?;
    match current.as_deref() {
        None | Some("resolved") | Some("postmortem") => return Ok(false),
        Some(_) => {}
    }
    insert_update(c, id, status, body_id, body_en, at).await?;
    exec(
        c,
        "UPDATE incidents SET status = $2, updated_at = $3,
             resolved_at = CASE WHEN $2 = 'resolved' THEN $3 ELSE resolved_at END
         WHERE id = $1",
        &[&id, &status, &at],
    )
    .await?;
    Ok(true)
}

pub(crate) async fn set_postmortem<C: GenericClient>(
    c: &C,
    id: i64,
    body_id: &str,
    body_en: &str,
    at: i64,
) -> Result<bool, StoreError> {
    let n = exec(
        c,
        "UPDATE incidents SET postmortem_id = $2, postmortem_en = $3, status = 'postmortem', updated_at = $4
         WHERE id = $1 AND status IN ('resolved', 'postmortem')",
        &[&id, &body_id, &body_en, &at],
    )
    .await?;
    Ok(n == 1)
}

const INCIDENT_COLS: &str =
    "id, title_id, title_en, status, impact, components, auto_component, security,
    created_at, updated_at, resolved_at, postmortem_id, postmortem_en";

fn incident_row(r: &Row) -> Result<Incident, StoreError> {
    let comps: String = r.try_get(5)?;
    Ok(Incident {
        id: r.try_get(0)?,
        title_id: r.try_get(1)?,
        title_en: r.try_get(2)?,
        status: r.try_get(3)?,
        impact: r.try_get(4)?,
        components: serde_json::from_str(&comps).unwrap_or_default(),
        auto_component: r.try_get(6)?,
        security: r.try_get(7)?,
        created_at: r.try_get(8)?,
        updated_at: r.try_get(9)?,
        resolved_at: r.try_get(10)?,
        postmortem_id: r.try_get(11)?,
        postmortem_en: r.try_get(12)?,
        updates: Vec::new(),
    })
}

async fn fill_updates<C: GenericClient>(c: &C, out: &mut [Incident]) -> Result<(), StoreError> {
    for i in out {
        i.updates = rows(
            c,
            "SELECT id, status, body_id, body_en, at FROM incident_updates WHERE incident_id = $1 ORDER BY id",
            &[&i.id],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(IncidentUpdate {
                id: r.try_get(0)?,
                status: r.try_get(1)?,
                body_id: r.try_get(2)?,
                body_en: r.try_get(3)?,
                at: r.try_get(4)?,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    }
    Ok(())
}

/// Incidents created since `since` or still unresolved, newest first, with their updates.
pub(crate) async fn incidents<C: GenericClient>(
    c: &C,
    since: i64,
) -> Result<Vec<Incident>, StoreError> {
    let sql = format!(
        "SELECT {INCIDENT_COLS} FROM incidents WHERE created_at >= $1 OR resolved_at IS NULL
         ORDER BY created_at DESC, id DESC"
    );
    let mut out = rows(c, &sql, &[&since])
        .await?
        .iter()
        .map(incident_row)
        .collect::<Result<Vec<_>, _>>()?;
    fill_updates(c, &mut out).await?;
    Ok(out)
}

pub(crate) async fn incident<C: GenericClient>(
    c: &C,
    id: i64,
) -> Result<Option<Incident>, StoreError> {
    let sql = format!("SELECT {INCIDENT_COLS} FROM incidents WHERE id = $1");
    let Some(i) = opt(c, &sql, &[&id])
        .await?
        .as_ref()
        .map(incident_row)
        .transpose()?
    else {
        return Ok(None);
    };
    let mut out = [i];
    fill_updates(c, &mut out).await?;
    let [i] = out;
    Ok(Some(i))
}
