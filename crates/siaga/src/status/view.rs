//! The status page's data: an immutable snapshot rebuilt by the status worker and served
//! from memory, so the page stays up when the store is briefly unavailable. Contains
//! nothing private: no reseller names, destinations, keys, supplier names or costs.

use siaga_domain::status::{ComponentStatus, Headline};

/// Page language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Id,
    En,
}

#[derive(Debug, Clone, Default)]
pub struct StatusSnapshot {
    /// Milliseconds since the Unix epoch.
    pub generated_at: i64,
    /// When what the page says last changed: a component's status, an incident, a
    /// maintenance window (its news or its times).
    pub changed_at: i64,
    pub page_name: String,
    pub public_url: String,
    /// Worst current component status (the machine `indicator`).
    pub overall: ComponentStatus,
    /// The top line in words (`siaga_domain::status::headline`).
    pub headline: Headline,
    pub components: Vec<ComponentView>,
    /// Unresolved incidents, newest first.
    pub active_incidents: Vec<IncidentView>,
    /// Every incident of the last 90 days, newest first (active ones included).
    pub history: Vec<IncidentView>,
    /// Announced maintenance that is active or upcoming, soonest first.
    pub maintenances: Vec<MaintenanceView>,
    /// Completed maintenance of the last 90 days, newest first.
    pub past_maintenances: Vec<MaintenanceView>,
    /// Email subscriptions are open (SMTP is configured): the page shows the form.
    pub subscribe: bool,
    /// This installation's page id (random, made once and kept in the store).
    pub page_id: String,
    /// `status.logo_url`, shown in the header when set.
    pub logo_url: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ComponentView {
    /// Stable slug, e.g. `telkomsel-pulsa`, or `api`.
    pub id: String,
    pub name: String,
    pub status: ComponentStatus,
    pub updated_at: i64,
    /// When the page first showed it (kept in the store).
    pub created_at: i64,
    /// 90 entries, oldest first; the last is today (Asia/Jakarta days).
    pub days: Vec<DayUptime>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DayUptime {
    /// `YYYY-MM-DD`
    pub date: String,
    /// None when there is no data for the day (before the component existed).
    pub uptime_pct: Option<f64>,
    pub major_min: i64,
    pub partial_min: i64,
    pub degraded_min: i64,
    pub maintenance_min: i64,
}

#[derive(Debug, Clone)]
pub struct IncidentView {
    pub id: i64,
    pub title_id: String,
    pub title_en: String,
    /// investigating | identified | monitoring | resolved | postmortem
    pub status: String,
    /// none | minor | major | critical
    pub impact: String,
    /// Component names.
    pub components: Vec<String>,
    pub security: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub resolved_at: Option<i64>,
    /// Oldest first.
    pub updates: Vec<UpdateView>,
    pub postmortem_id: Option<String>,
    pub postmortem_en: Option<String>,
}

#[derive(Debug, Clone)]
pub struct UpdateView {
    pub id: i64,
    pub status: String,
    pub body_id: String,
    pub body_en: String,
    pub at: i64,
    /// The incident's components: their status before this update's news and at it.
    pub affected: Vec<AffectedView>,
}

/// One component of an incident update (Statuspage's `affected_components`).
#[derive(Debug, Clone, PartialEq)]
pub struct AffectedView {
    /// The component's id (slug).
    pub code: String,
    pub name: String,
    pub old_status: ComponentStatus,
    pub new_status: ComponentStatus,
}

#[derive(Debug, Clone)]
pub struct MaintenanceView {
    pub id: i64,
    /// The components it touches (a product's first route is in the window), routed ones
    /// first.
    pub components: Vec<String>,
    /// Of those, the ones whose orders go to a backup meanwhile (the others are held).
    pub routed: Vec<String>,
    /// The owner's words (`--note`), shown as they were written.
    pub note: Option<String>,
    pub created_at: i64,
    pub starts_at: i64,
    pub ends_at: i64,
    /// `scheduled | in_progress | verifying | completed` (Statuspage's words).
    pub status: &'static str,
    /// In progress or verifying.
    pub active: bool,
}
