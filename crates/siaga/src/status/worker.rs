//! The status worker: every second it derives each component's status from live route
//! health (never from siaga's own trouble), records changes, opens / updates / resolves
//! automatic incidents with debounce, and rebuilds the in-memory snapshot the page serves.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use siaga_domain::status::{daily_uptime, derive, ComponentStatus, Serve};
use siaga_store::{ComponentChange, Incident, Store};
use tokio::sync::watch;

mod follow;

use follow::{Followed, Rules};

use super::view::*;
/// Where other modules found it first; it lives with the other time formats.
use crate::clock::Clock;
use crate::config::{Product, Settings};
use crate::health::{Blocked, Health};
use crate::metrics::Metrics;

pub const API: &str = "API";
const DAY_MS: i64 = 86_400_000;
/// WIB is UTC+7 all year.
const WIB_MS: i64 = 7 * 3_600_000;
const DAYS: i64 = 90;

/// What the page serves: the latest snapshot, swapped whole.
#[derive(Default)]
pub struct StatusBoard {
    snapshot: RwLock<Arc<StatusSnapshot>>,
}

impl StatusBoard {
    pub fn snapshot(&self) -> Arc<StatusSnapshot> {
        self.snapshot.read().map(|s| s.clone()).unwrap_or_default()
    }

    fn set(&self, s: StatusSnapshot) {
        if let Ok(mut g) = self.snapshot.write() {
            *g = Arc::new(s);
        }
    }
}

/// What the status worker works with: its store, clock, the route health it reads, the
/// metrics it sets and the board it fills; not the whole switch.
pub struct StatusWorker {
    pub settings: crate::config::Live<Settings>,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub health: Arc<Health>,
    pub metrics: Arc<Metrics>,
    /// Where each new snapshot goes; the page handlers read it.
    pub board: Arc<StatusBoard>,
    /// Only the leader of several nodes records statuses and runs incidents (SPEC 12);
    /// the others derive the same statuses and read what it records.
    pub cluster: Arc<crate::cluster::Cluster>,
}

impl StatusWorker {
    fn now(&self) -> i64 {
        self.clock.now_ms()
    }
}

#[derive(Default)]
struct State {
    /// What the page says of each component, and since when (primed from the store).
    current: HashMap<String, (ComponentStatus, i64)>,
    /// Until then, a component whose status rests on evidence not yet seen since the start
    /// keeps the status last recorded (see `follow::publishable`).
    settle_until: i64,
    bad_since: HashMap<String, i64>,
    followed: Vec<Followed>,
    log: Vec<ComponentChange>,
    log_loaded_at: i64,
    /// This installation's page id and when each component first showed (kept in the
    /// store's marks, so they stay the same across restarts).
    page_id: String,
    created: HashMap<String, i64>,
    /// Announced windows that ended in the last 90 days or have not ended.
    windows: Vec<siaga_store::MaintenanceWindow>,
}

/// The component names of a configuration: product groups in config order, then "API".
pub fn component_names(settings: &Settings) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in &settings.products {
        if !out.contains(&p.group) {
            out.push(p.group.clone());
        }
    }
    out.push(API.into());
    out
}

pub fn slug(name: &str) -> String {
    let mut s = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c.to_ascii_lowercase());
        } else if !s.ends_with('-') {
            s.push('-');
        }
    }
    s.trim_matches('-').to_string()
}

/// How a product can be served now; whether that rests only on what this process knows
/// (config, the store, live evidence since the start); and how it would be served if
/// announced maintenance took nothing away (to tell planned work from trouble).
fn serve(ctx: &StatusWorker, p: &Product) -> (Serve, bool, Serve) {
    let price = p.price.get();
    let (mut now, mut unplanned) = (Tally::new(p), Tally::new(p));
    let mut known = true;
    for (i, r) in p.routes.iter().enumerate() {
        let check = ctx.health.check_proven(r, price);
        // Maintenance, a cost above the price, an inactive SKU, an operator's pause come
        // from config and the store; anything else about a route needs its supplier seen
        // since the start.
        let from_store = matches!(
            check,
            Err(Blocked::Maintenance
                | Blocked::CostAbovePrice
                | Blocked::Inactive
                | Blocked::Paused)
        );
        known &= from_store || ctx.health.known(&r.supplier);
        let maintenance = matches!(check, Err(Blocked::Maintenance));
        now.add(i, check.is_ok(), maintenance);
        unplanned.add(i, check.is_ok() || maintenance, false);
    }
    (now.serve(), known, unplanned.serve())
}

/// Routes of one product, counted into a [`Serve`].
struct Tally {
    primary_ok: bool,
    any_ok: bool,
    all_maintenance: bool,
}

impl Tally {
    fn new(p: &Product) -> Tally {
        Tally {
            primary_ok: false,
            any_ok: false,
            all_maintenance: !p.routes.is_empty(),
        }
    }

    fn add(&mut self, index: usize, ok: bool, maintenance: bool) {
        self.any_ok |= ok;
        self.primary_ok |= ok && index == 0;
        self.all_maintenance &= maintenance;
    }

    fn serve(&self) -> Serve {
        match (self.primary_ok, self.any_ok, self.all_maintenance) {
            (true, _, _) => Serve::Primary,
            (false, true, _) => Serve::Degraded,
            (false, false, true) => Serve::Maintenance,
            _ => Serve::Unservable,
        }
    }
}

/// Current status of every component, as the live state says.
pub fn derive_all(ctx: &StatusWorker) -> Vec<(String, ComponentStatus)> {
    derive_known(ctx)
        .into_iter()
        .map(|d| (d.name, d.status))
        .collect()
}

/// One component's derived status.
struct Derived {
    name: String,
    status: ComponentStatus,
    /// Rests only on what this process knows (see `serve`).
    known: bool,
    /// Worse than operational only because of announced maintenance: planned work, told
    /// in the maintenance notice, never an incident.
    planned: bool,
}

/// As [`derive_all`], with what is known and what is planned.
fn derive_known(ctx: &StatusWorker) -> Vec<Derived> {
    let mut out = Vec::new();
    for name in component_names(&ctx.settings.get()) {
        if name == API {
            // The API answers (this code runs in it); siaga's own trouble shows only here.
            out.push(Derived {
                name,
                status: ComponentStatus::Operational,
                known: true,
                planned: false,
            });
            continue;
        }
        let serves: Vec<(Serve, bool, Serve)> = ctx
            .settings
            .get()
            .products
            .iter()
            .filter(|p| p.group == name)
            .map(|p| serve(ctx, p))
            .collect();
        let now: Vec<Serve> = serves.iter().map(|s| s.0).collect();
        let unplanned: Vec<Serve> = serves.iter().map(|s| s.2).collect();
        let status = derive(&now);
        out.push(Derived {
            name,
            status,
            known: serves.iter().all(|s| s.1),
            planned: status != ComponentStatus::Operational
                && derive(&unplanned) == ComponentStatus::Operational,
        });
    }
    out
}

/// The worker's memory, primed so the page has a snapshot before the server answers.
pub struct Primed(State);

/// Loads what the worker follows and builds the first snapshot. After a start the page
/// goes on from what the store last recorded: each component's status, and the open
/// automatic incidents as they were last described. Nothing is published about a
/// component until its state is known again (`follow::publishable`), so a restart shows
/// neither an outage nor a recovery.
pub async fn prime(ctx: &StatusWorker) -> Primed {
    let now = ctx.now();
    let mut st = State {
        settle_until: now + settle_ms(&ctx.settings.get()),
        ..State::default()
    };
    if let Ok(log) = ctx.store.component_log(now - DAYS * DAY_MS).await {
        for ch in &log {
            if let Some(status) = ComponentStatus::parse(&ch.status) {
                st.current.insert(ch.component.clone(), (status, ch.at));
            }
        }
        st.log = log;
        st.log_loaded_at = now;
    }
    if let Ok(w) = ctx.store.maintenance_windows(now - DAYS * DAY_MS).await {
        st.windows = w;
    }
    st.page_id = kept(ctx, "status:page_id", || {
        // Statuspage's ids are 12 lower-case letters and digits; these are random.
        let id = ulid::Ulid::new().to_string().to_lowercase();
        id[id.len() - 12..].to_owned()
    })
    .await;
    for name in component_names(&ctx.settings.get()) {
        let first = st
            .log
            .iter()
            .find(|c| c.component == name)
            .map_or(now, |c| c.at);
        let at = kept(ctx, &format!("status:created:{name}"), || first.to_string()).await;
        st.created.insert(name, at.parse().unwrap_or(first));
    }
    if let Ok(incidents) = ctx.store.incidents(now - DAYS * DAY_MS).await {
        for i in incidents.iter().filter(|i| i.resolved_at.is_none()) {
            if i.auto_component.is_some() {
                st.followed.push(Followed {
                    id: i.id,
                    posted: i
                        .components
                        .iter()
                        .map(|c| (c.clone(), st.current.get(c).map(|(s, _)| *s)))
                        .collect(),
                    recovering_since: None,
                });
            }
        }
    }
    step(ctx, &mut st).await;
    Primed(st)
}

/// The value kept under `key` in the store, made by `make` and kept the first time. A
/// store that cannot be read gives a value for this run only.
async fn kept(ctx: &StatusWorker, key: &str, make: impl FnOnce() -> String) -> String {
    match ctx.store.notify_mark(key).await {
        Ok(Some(v)) => v,
        Ok(None) => {
            let v = make();
            if let Err(e) = ctx.store.set_notify_mark(key, &v, ctx.now()).await {
                tracing::warn!(error = %e, key, "cannot keep a status page value");
            }
            v
        }
        Err(e) => {
            tracing::warn!(error = %e, key, "cannot read a status page value");
            make()
        }
    }
}

/// How long after a start a component with no live evidence keeps its recorded status:
/// time for the breaker to open on failed probes (its consecutive failures, one probe
/// interval apart), plus a probe's timeout; at most ten minutes.
fn settle_ms(settings: &Settings) -> i64 {
    let h = &settings.health;
    let probes = i64::from(h.breaker_consecutive_failures.max(1)) * h.probe_interval_s as i64;
    ((probes + 15) * 1000).min(600_000)
}

pub async fn run(ctx: Arc<StatusWorker>, primed: Primed, mut shutdown: watch::Receiver<bool>) {
    let mut st = primed.0;
    let mut leading = ctx.cluster.is_leader();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let now_leading = ctx.cluster.is_leader();
        if now_leading && !leading {
            // Taking over from another leader: start from what it recorded.
            st = prime(&ctx).await.0;
        } else {
            step(&ctx, &mut st).await;
        }
        leading = now_leading;
    }
}

async fn step(ctx: &StatusWorker, st: &mut State) {
    let now = ctx.now();
    let derived = derive_known(ctx);
    let triples: Vec<(String, ComponentStatus, bool)> = derived
        .iter()
        .map(|d| (d.name.clone(), d.status, d.known))
        .collect();
    let statuses = follow::publishable(&triples, &st.current, now, st.settle_until);
    // What incidents see: a component out of order only for announced maintenance is in
    // maintenance, not in trouble (its notice says orders go to a backup meanwhile).
    let planned: Vec<&str> = derived
        .iter()
        .filter(|d| d.planned)
        .map(|d| d.name.as_str())
        .collect();
    let for_incidents = follow::planned_as_maintenance(&statuses, &planned);
    for (name, status) in &statuses {
        ctx.metrics.set_component_status(name, status.level());
    }
    let changes = follow::note_statuses(&mut st.current, &mut st.bad_since, &statuses, now);
    for name in &planned {
        // Trouble after the window counts its debounce from then, not from the window.
        st.bad_since.remove(*name);
    }
    let changed = !changes.is_empty();
    let leading = ctx.cluster.is_leader();
    if leading {
        for ch in changes {
            if let Err(e) = ctx.store.record_component_status(ch.clone()).await {
                tracing::error!(error = %e, "cannot record a component status");
            }
            st.log.push(ch);
        }
        if let Err(e) = follow_incidents(ctx, st, &for_incidents, now).await {
            tracing::error!(error = %e, "automatic incident bookkeeping failed");
        }
    }
    // Another node leads: what it records reaches this node's page within seconds.
    let reload_after = if leading { 60_000 } else { 3_000 };
    if changed || now - st.log_loaded_at > reload_after {
        if let Ok(log) = ctx.store.component_log(now - DAYS * DAY_MS).await {
            st.log = log;
            st.log_loaded_at = now;
        }
        if let Ok(w) = ctx.store.maintenance_windows(now - DAYS * DAY_MS).await {
            st.windows = w;
        }
    }
    match ctx.store.incidents(now - DAYS * DAY_MS).await {
        Ok(incidents) => ctx.board.set(build(ctx, st, &incidents, now)),
        // Keep serving the last snapshot while the store is unavailable.
        Err(e) => tracing::warn!(error = %e, "status snapshot not refreshed"),
    }
}

/// Opens, updates and resolves automatic incidents (the decisions are `follow`'s).
/// Components that cross the debounce in the same step share one incident.
async fn follow_incidents(
    ctx: &StatusWorker,
    st: &mut State,
    statuses: &[(String, ComponentStatus)],
    now: i64,
) -> anyhow::Result<()> {
    let cfg = &ctx.settings.get().status;
    let rules = Rules {
        incident_after_ms: cfg.incident_after_s as i64 * 1000,
        resolve_after_ms: cfg.resolve_after_s as i64 * 1000,
        max_wait_s: ctx.settings.get().orders.default_max_wait_s,
    };
    // Follow up the open ones; a failed write stops here and the next step tries again.
    let mut done = Vec::new();
    for (k, f) in st.followed.iter_mut().enumerate() {
        let up = follow::follow_up(f, statuses, now, rules);
        if let Some((status, body_id, body_en)) = &up.post {
            ctx.store
                .add_incident_update(f.id, status, body_id, body_en, now)
                .await?;
            if up.done {
                tracing::info!(incident = f.id, "incident resolved");
                done.push(k);
            }
        }
        f.recovering_since = up.recovering_since;
        for (n, p) in &mut f.posted {
            *p = Some(follow::status_of(statuses, n));
        }
    }
    for k in done.into_iter().rev() {
        st.followed.remove(k);
    }
    let Some(inc) = follow::to_open(statuses, &st.followed, &st.bad_since, now, rules) else {
        return Ok(());
    };
    let id = ctx.store.create_incident(inc.clone()).await?;
    tracing::warn!(incident = id, components = ?inc.components, impact = %inc.impact, "incident opened");
    st.followed.push(follow::followed_from(id, &inc, statuses));
    Ok(())
}

fn day_start(ms: i64) -> i64 {
    (ms + WIB_MS).div_euclid(DAY_MS) * DAY_MS - WIB_MS
}

fn date_of(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(t) => t
            .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(7)))
            .strftime("%Y-%m-%d")
            .to_string(),
        Err(_) => String::new(),
    }
}

/// 90 days of uptime for one component from its change log (oldest first).
pub fn days(log: &[ComponentChange], component: &str, now: i64) -> Vec<DayUptime> {
    let changes: Vec<(i64, ComponentStatus)> = log
        .iter()
        .filter(|c| c.component == component)
        .filter_map(|c| ComponentStatus::parse(&c.status).map(|s| (c.at, s)))
        .collect();
    let today = day_start(now);
    (0..DAYS)
        .rev()
        .map(|back| {
            let start = today - back * DAY_MS;
            let end = (start + DAY_MS).min(now);
            let mut mins = [0i64; 5];
            let mut observed = 0i64;
            for (i, (at, status)) in changes.iter().enumerate() {
                let next = changes.get(i + 1).map(|c| c.0).unwrap_or(now);
                let (a, b) = ((*at).max(start), next.min(end));
                if b > a {
                    let m = (b - a) / 60_000;
                    mins[status.level() as usize] += m;
                    observed += m;
                }
            }
            let maintenance = mins[ComponentStatus::UnderMaintenance.level() as usize];
            let major = mins[ComponentStatus::MajorOutage.level() as usize];
            let partial = mins[ComponentStatus::PartialOutage.level() as usize];
            DayUptime {
                date: date_of(start),
                uptime_pct: if observed > 0 || changes.iter().any(|(at, _)| *at < end) {
                    daily_uptime(observed.max(1), major, partial, maintenance)
                } else {
                    None
                },
                major_min: major,
                partial_min: partial,
                degraded_min: mins[ComponentStatus::DegradedPerformance.level() as usize],
                maintenance_min: maintenance,
            }
        })
        .collect()
}

/// A component's status at `t` by its change log (operational before its first change).
fn status_at(log: &[ComponentChange], component: &str, t: i64) -> ComponentStatus {
    log.iter()
        .rev()
        .find(|c| c.component == component && c.at <= t)
        .and_then(|c| ComponentStatus::parse(&c.status))
        .unwrap_or_default()
}

/// An update's `affected_components`: each of the incident's components, its status at the
/// update (`new`) and before the change the update reports (`old`): the first change since
/// the previous update, or for the first update the last change before it. Unchanged
/// since the previous update: the same status twice.
fn affected(
    log: &[ComponentChange],
    components: &[String],
    at: i64,
    prev: Option<i64>,
) -> Vec<AffectedView> {
    components
        .iter()
        .map(|name| {
            let mine = log.iter().filter(|c| c.component == *name && c.at <= at);
            let change = match prev {
                Some(p) => mine.filter(|c| c.at > p).map(|c| c.at).next(),
                None => mine.map(|c| c.at).next_back(),
            };
            let new_status = status_at(log, name, at);
            AffectedView {
                code: slug(name),
                name: name.clone(),
                old_status: change.map_or(new_status, |t| status_at(log, name, t - 1)),
                new_status,
            }
        })
        .collect()
}

/// Announced windows as the page shows them: (active or upcoming, soonest first;
/// completed in the last 90 days, newest first). The store's list is refreshed with the
/// component log; health's (reloaded every 2 s) is the freshest word on recent ones.
fn maintenance_views(
    ctx: &StatusWorker,
    st: &State,
    now: i64,
) -> (Vec<MaintenanceView>, Vec<MaintenanceView>) {
    let mut windows = st.windows.clone();
    for w in ctx.health.announced() {
        match windows.iter_mut().find(|x| x.id == w.id) {
            Some(x) => *x = w,
            None => windows.push(w),
        }
    }
    let (mut current, mut past) = (Vec::new(), Vec::new());
    for w in windows {
        let (routed, held) =
            crate::config::affected_groups(&ctx.settings.get().products, &w.supplier_id);
        let components: Vec<String> = routed.iter().chain(&held).cloned().collect();
        let still = components.iter().any(|c| {
            st.current
                .get(c)
                .is_some_and(|(s, _)| *s == ComponentStatus::UnderMaintenance)
        });
        let status = match () {
            _ if now < w.starts_at => "scheduled",
            _ if now < w.ends_at => "in_progress",
            // Over by the clock, but what it touched is not back yet.
            _ if still => "verifying",
            _ => "completed",
        };
        let view = MaintenanceView {
            id: w.id,
            components,
            routed,
            note: w.note.clone(),
            created_at: w.created_at,
            starts_at: w.starts_at,
            ends_at: w.ends_at,
            status,
            active: matches!(status, "in_progress" | "verifying"),
        };
        if status == "completed" {
            past.push(view);
        } else {
            current.push(view);
        }
    }
    current.sort_by_key(|m| (m.starts_at, m.id));
    past.sort_by_key(|m| std::cmp::Reverse((m.ends_at, m.id)));
    (current, past)
}

pub fn incident_view(i: &Incident) -> IncidentView {
    IncidentView {
        id: i.id,
        title_id: i.title_id.clone(),
        title_en: i.title_en.clone(),
        status: i.status.clone(),
        impact: i.impact.clone(),
        components: i.components.clone(),
        security: i.security,
        created_at: i.created_at,
        updated_at: i.updated_at,
        resolved_at: i.resolved_at,
        updates: i
            .updates
            .iter()
            .map(|u| UpdateView {
                id: u.id,
                status: u.status.clone(),
                body_id: u.body_id.clone(),
                body_en: u.body_en.clone(),
                at: u.at,
                affected: Vec::new(),
            })
            .collect(),
        postmortem_id: i.postmortem_id.clone(),
        postmortem_en: i.postmortem_en.clone(),
    }
}

fn build(ctx: &StatusWorker, st: &State, incidents: &[Incident], now: i64) -> StatusSnapshot {
    let comps: Vec<ComponentView> = component_names(&ctx.settings.get())
        .into_iter()
        .map(|name| {
            let (status, since) = st
                .current
                .get(&name)
                .copied()
                .unwrap_or((ComponentStatus::Operational, now));
            ComponentView {
                id: slug(&name),
                days: days(&st.log, &name, now),
                created_at: st.created.get(&name).copied().unwrap_or(since),
                name,
                status,
                updated_at: since,
            }
        })
        .collect();
    let overall = comps
        .iter()
        .map(|c| c.status)
        .max_by_key(|s| s.severity())
        .unwrap_or_default();
    let selling: Vec<ComponentStatus> = comps
        .iter()
        .filter(|c| c.name != API)
        .map(|c| c.status)
        .collect();
    let impacts: Vec<&str> = incidents
        .iter()
        .filter(|i| i.resolved_at.is_none())
        .map(|i| i.impact.as_str())
        .collect();
    let headline = siaga_domain::status::headline(&selling, &impacts);
    let mut history: Vec<IncidentView> = incidents.iter().map(incident_view).collect();
    for i in &mut history {
        let mut prev = None;
        for u in &mut i.updates {
            u.affected = affected(&st.log, &i.components, u.at, prev);
            prev = Some(u.at);
        }
    }
    let active_incidents = history
        .iter()
        .filter(|i| i.resolved_at.is_none())
        .cloned()
        .collect();
    let (maintenances, past_maintenances) = maintenance_views(ctx, st, now);
    let changed_at = comps
        .iter()
        .map(|c| c.updated_at)
        .chain(incidents.iter().map(|i| i.updated_at))
        .chain(
            maintenances
                .iter()
                .chain(&past_maintenances)
                .flat_map(|m| [m.created_at, m.starts_at, m.ends_at])
                .filter(|t| *t <= now),
        )
        .max()
        .unwrap_or(now);
    StatusSnapshot {
        changed_at,
        subscribe: ctx.settings.get().notify.smtp.is_some(),
        page_id: st.page_id.clone(),
        logo_url: ctx.settings.get().status.logo_url.clone(),
        generated_at: now,
        page_name: ctx.settings.get().status.page_name.clone(),
        public_url: ctx.settings.get().public_url.clone(),
        overall,
        headline,
        components: comps,
        active_incidents,
        history,
        maintenances,
        past_maintenances,
    }
}
