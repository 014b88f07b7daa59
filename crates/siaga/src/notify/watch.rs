//! The notifier's watcher: once a second it turns what happened into notices — incident
//! updates (subscribers, webhooks, Telegram; security incidents also to every reseller),
//! announced maintenance (scheduled, started, completed), supplier events (owner alerts),
//! orders waiting in manual review or too long on the manual desk, and supplier outage reports with their recovery notes.
//! Progress lives in `notify_marks`, written with the notices, so a restart neither loses
//! nor repeats a fan-out. It reads the store, so news made by the CLI is seen too.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use siaga_store::{StoreError, SupplierEvent};
use tokio::sync::watch;

use super::deliver::{self, Channels};
use super::Notifier;

mod decide;
mod desk;

use super::{alert_owner, announce, notice, owner_notices, render};
use decide::{OutageFacts, OutageStep, Told};

const TICK: Duration = Duration::from_secs(1);
/// How often the owner is told that the store is failing (sent directly, not queued).
const STORE_ALERT_EVERY_MS: i64 = 600_000;
/// Delivered and dead notices are kept this long (the admin API counts them), then pruned.
const KEEP_MS: i64 = 30 * 86_400_000;
const PRUNE_EVERY_MS: i64 = 3_600_000;

pub async fn run(ctx: Arc<Notifier>, mut shutdown: watch::Receiver<bool>) {
    let channels = Channels::new(&ctx).ok();
    let mut last_store_alert = i64::MIN / 2;
    let mut last_prune = i64::MIN / 2;
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let now = ctx.now();
        if now - last_prune >= PRUNE_EVERY_MS {
            last_prune = now;
            match ctx.store.prune_notices(now - KEEP_MS).await {
                Ok(n) if n > 0 => tracing::info!(notices = n, "old notices pruned"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "cannot prune notices"),
            }
        }
        if let Err(e) = step(&ctx).await {
            tracing::error!(error = %e, "notifier cannot read or write the store");
            let now = ctx.now();
            if now - last_store_alert >= STORE_ALERT_EVERY_MS {
                last_store_alert = now;
                if let Some(ch) = &channels {
                    store_alert(&ctx, ch, &e.to_string()).await;
                }
            }
        }
    }
}

/// Sets the cursors of a fresh install to the current heads (no old news is sent). Run
/// before the server takes requests: otherwise news made in the moments before the first
/// pass (an incident opened right after start) would be taken for old news and never sent.
pub async fn init(ctx: &Notifier) -> Result<(), StoreError> {
    let (updates, events, windows) = ctx.store.notify_heads().await?;
    cursor(ctx, "cursor:updates", updates).await?;
    cursor(ctx, "cursor:events", events).await?;
    cursor(ctx, "cursor:maint", windows).await?;
    Ok(())
}

/// One pass over everything the notifier follows.
pub async fn step(ctx: &Notifier) -> Result<(), StoreError> {
    let (updates, events, windows) = ctx.store.notify_heads().await?;
    let cu = cursor(ctx, "cursor:updates", updates).await?;
    let ce = cursor(ctx, "cursor:events", events).await?;
    let cm = cursor(ctx, "cursor:maint", windows).await?;
    incident_updates(ctx, cu).await?;
    supplier_events(ctx, ce).await?;
    maintenance(ctx, cm).await?;
    manual_review(ctx).await?;
    desk::desk(ctx).await?;
    outage_reports(ctx).await?;
    Ok(())
}

/// A cursor's value; a fresh install starts at the current head (no old news is sent).
async fn cursor(ctx: &Notifier, key: &str, head: i64) -> Result<i64, StoreError> {
    match ctx.store.notify_mark(key).await? {
        Some(v) => Ok(v.parse().unwrap_or(head)),
        None => {
            ctx.store
                .set_notify_mark(key, &head.to_string(), ctx.now())
                .await?;
            Ok(head)
        }
    }
}

async fn mark(ctx: &Notifier, key: &str) -> Result<Option<String>, StoreError> {
    ctx.store.notify_mark(key).await
}

async fn incident_updates(ctx: &Notifier, after: i64) -> Result<(), StoreError> {
    let url = &ctx.settings.get().public_url;
    for (incident_id, u) in ctx.store.incident_updates_after(after, 20).await? {
        let Some(inc) = ctx.store.incident(incident_id).await? else {
            ctx.store
                .set_notify_mark("cursor:updates", &u.id.to_string(), ctx.now())
                .await?;
            continue;
        };
        let done = vec![("cursor:updates".to_string(), u.id.to_string())];
        let created = render::incident_kind(&inc, &u) == "incident.created";
        if inc.security && created {
            security(ctx, &inc, &u).await?;
        }
        let topic = match &inc.auto_component {
            Some(c) => format!("component:{c}"),
            None => format!("incident:{}", inc.id),
        };
        let body = render::incident(&inc, &u, url);
        let progress = format!("fanout:update:{}", u.id);
        announce(ctx, &topic, &inc.components, body, &progress, done).await?;
    }
    Ok(())
}

/// A security incident goes to every reseller with an email address, once.
async fn security(
    ctx: &Notifier,
    inc: &siaga_store::Incident,
    u: &siaga_store::IncidentUpdate,
) -> Result<(), StoreError> {
    let key = format!("security:{}", inc.id);
    if mark(ctx, &key).await?.is_some() || ctx.settings.get().notify.smtp.is_none() {
        return Ok(());
    }
    let topic = format!("security:{}", inc.id);
    let resellers = ctx.store.list_resellers().await?;
    let (reachable, unreachable): (Vec<_>, Vec<_>) = resellers.iter().partition(|r| {
        r.email
            .as_deref()
            .is_some_and(crate::notify::is_email_address)
    });
    let notices = reachable
        .iter()
        .filter_map(|r| r.email.as_deref())
        .map(|e| notice("email", e, &topic, None))
        .collect();
    ctx.store
        .enqueue_notices(siaga_store::Fanout {
            body: render::security(inc, u, &ctx.settings.get().public_url),
            notices,
            marks: vec![(key.clone(), "sent".into())],
            coalesce_ms: 0,
            now: ctx.now(),
        })
        .await?;
    ctx.kick.notify_one();
    if !unreachable.is_empty() {
        // Nobody is left out silently: the owner hears who was not told, to tell them.
        for _ in &unreachable {
            ctx.metrics.notification("email", "unreachable");
        }
        let ids: Vec<&str> = unreachable.iter().map(|r| r.id.as_str()).collect();
        let n = ids.len();
        let mut named = ids.iter().take(50).copied().collect::<Vec<_>>().join(", ");
        if n > 50 {
            named.push_str(", …");
        }
        let body = render::alert(
            "unreachable",
            format!("{n} reseller(s) could not be told of security incident {}", inc.id),
            format!(
                "{n} reseller tidak dapat diberi tahu tentang insiden keamanan {}: tidak ada alamat email yang valid ({named}). Hubungi mereka lewat jalur lain.",
                inc.id
            ),
            format!(
                "{n} reseller(s) could not be told of security incident {}: no valid email address ({named}). Reach them another way.",
                inc.id
            ),
            serde_json::json!({"incident": inc.id, "resellers": ids}),
        );
        let marks = vec![(format!("{key}:unreachable"), n.to_string())];
        alert_owner(ctx, &format!("alert:unreachable:{}", inc.id), body, marks).await?;
    }
    Ok(())
}

async fn maintenance(ctx: &Notifier, after: i64) -> Result<(), StoreError> {
    let now = ctx.now();
    let url = &ctx.settings.get().public_url;
    let mut windows = ctx.store.maintenance_windows(now - 86_400_000).await?;
    // The cursor follows ids: take new windows in id order, whatever their start times.
    windows.sort_by_key(|w| w.id);
    for w in windows {
        let (routed, held) = decide::affected(&ctx.settings.get().products, &w.supplier_id);
        let components: Vec<String> = routed.iter().chain(&held).cloned().collect();
        let key = |phase: &str| format!("maint:{}:{phase}", w.id);
        let told = Told {
            scheduled: mark(ctx, &key("scheduled")).await?.is_some(),
            started: mark(ctx, &key("started")).await?.is_some(),
            completed: mark(ctx, &key("completed")).await?.is_some(),
        };
        let todo = decide::phases(&w, now, after, !components.is_empty(), told);
        if todo.skip {
            ctx.store
                .set_notify_mark("cursor:maint", &w.id.to_string(), now)
                .await?;
        }
        for (phase, due) in [
            ("scheduled", todo.scheduled),
            ("started", todo.started),
            ("completed", todo.completed),
        ] {
            if !due {
                continue;
            }
            let topic = key(phase);
            let mut done = vec![(topic.clone(), "sent".to_string())];
            if phase == "scheduled" {
                // The cursor moves with the first news of the window.
                done.insert(0, ("cursor:maint".to_string(), w.id.to_string()));
            }
            let body = render::maintenance(&w, phase, &routed, &held, url);
            let progress = format!("fanout:{topic}");
            announce(ctx, &topic, &components, body, &progress, done).await?;
        }
    }
    Ok(())
}

async fn supplier_events(ctx: &Notifier, after: i64) -> Result<(), StoreError> {
    for (id, e) in ctx.store.supplier_events_after(after, 100).await? {
        let mut marks = vec![("cursor:events".to_string(), id.to_string())];
        let outage_key = format!("outage:{}", e.supplier_id);
        let down_since = mark(ctx, &outage_key)
            .await?
            .and_then(|v| v.parse::<i64>().ok());
        match decide::event_alert(&e, down_since) {
            Some(a) => {
                if let Some(v) = a.outage {
                    marks.push((outage_key, v));
                }
                if let Some(since) = a.ended {
                    recovery_note(ctx, &e.supplier_id, since, e.at).await?;
                }
                alert_owner(ctx, &a.topic, a.body, marks).await?
            }
            None => {
                for (k, v) in marks {
                    ctx.store.set_notify_mark(&k, &v, ctx.now()).await?;
                }
            }
        }
    }
    Ok(())
}

async fn manual_review(ctx: &Notifier) -> Result<(), StoreError> {
    let orders = ctx.store.manual_review_orders(50).await?;
    if orders.is_empty() {
        return Ok(());
    }
    let last = mark(ctx, "review:last")
        .await?
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(0);
    let Some((newest, body)) = decide::review_alert(&orders, last) else {
        return Ok(());
    };
    let marks = vec![("review:last".into(), newest.to_string())];
    alert_owner(ctx, "alert:review", body, marks).await
}

async fn outage_reports(ctx: &Notifier) -> Result<(), StoreError> {
    let now = ctx.now();
    for s in ctx.settings.get().suppliers.iter().filter(|s| !s.retired) {
        let outage_key = format!("outage:{}", s.id);
        let Some(since) = mark(ctx, &outage_key)
            .await?
            .and_then(|v| v.parse::<i64>().ok())
        else {
            continue;
        };
        let report_key = format!("report:{}", s.id);
        let reported = mark(ctx, &report_key).await?;
        let facts = OutageFacts {
            now,
            since,
            // The breaker lives in memory: after a restart, or if its "closed" event was
            // lost, the live circuit says the outage is over.
            circuit_closed: ctx.health.circuit_closed(&s.id),
            has_contact: s.contact_email.is_some(),
            report_after_ms: s.report_after.as_millis() as i64,
            in_window: ctx.health.in_window(&s.id),
            reported: reported.as_deref(),
            smtp: ctx.settings.get().notify.smtp.is_some(),
        };
        match decide::outage_step(facts) {
            OutageStep::Nothing => {}
            OutageStep::Over => {
                recovery_note(ctx, &s.id, since, now).await?;
                let body = decide::recovered_alert(&s.id, now, json!({"reason": "circuit closed"}));
                let topic = format!("alert:supplier:{}", s.id);
                alert_owner(ctx, &topic, body, vec![(outage_key, String::new())]).await?;
            }
            OutageStep::Report => {
                if let Some(contact) = &s.contact_email {
                    outage_report(ctx, &s.id, contact, since, report_key).await?;
                }
            }
        }
    }
    Ok(())
}

/// Sends the supplier's contact (and the owner, a copy) the report of an ongoing outage.
async fn outage_report(
    ctx: &Notifier,
    supplier: &str,
    contact: &str,
    since: i64,
    report_key: String,
) -> Result<(), StoreError> {
    let events: Vec<SupplierEvent> = ctx
        .store
        .supplier_events(supplier, 50)
        .await?
        .into_iter()
        .filter(|e| e.at >= since - 600_000)
        .collect();
    let skus: Vec<String> = ctx
        .settings
        .get()
        .products
        .iter()
        .flat_map(|p| {
            p.routes
                .iter()
                .filter(|r| r.supplier == supplier)
                .map(|r| format!("{} ({})", r.sku, p.code.as_str()))
        })
        .collect();
    let awaiting = ctx.store.awaiting_attempts(supplier, 200).await?;
    let body = render::outage_report(supplier, since, &events, &skus, &awaiting);
    let topic = format!("report:{supplier}:{since}");
    let mut notices = vec![notice("email", contact, &topic, None)];
    // The owner gets a copy, so they know the supplier was told.
    notices.extend(
        owner_notices(ctx, &topic)
            .into_iter()
            .filter(|n| n.channel == "email"),
    );
    ctx.store
        .enqueue_notices(siaga_store::Fanout {
            body,
            notices,
            marks: vec![(report_key, since.to_string())],
            coalesce_ms: 0,
            now: ctx.now(),
        })
        .await?;
    ctx.kick.notify_one();
    Ok(())
}

/// After an outage whose report was sent, a note to the supplier that it is over.
async fn recovery_note(
    ctx: &Notifier,
    supplier: &str,
    since: i64,
    until: i64,
) -> Result<(), StoreError> {
    let Some(contact) = ctx
        .settings
        .get()
        .supplier(supplier)
        .and_then(|s| s.contact_email.clone())
    else {
        return Ok(());
    };
    if mark(ctx, &format!("report:{supplier}")).await?.as_deref()
        != Some(since.to_string().as_str())
    {
        return Ok(());
    }
    let topic = format!("recovered:{supplier}:{since}");
    ctx.store
        .enqueue_notices(siaga_store::Fanout {
            body: render::recovery_note(supplier, since, until),
            notices: vec![notice("email", &contact, &topic, None)],
            // Written with the note: a replayed event does not send it twice.
            marks: vec![(format!("report:{supplier}"), format!("recovered:{since}"))],
            coalesce_ms: 0,
            now: ctx.now(),
        })
        .await?;
    Ok(())
}

/// The store is failing: tell the owner directly (the outbox lives in the store).
async fn store_alert(ctx: &Notifier, ch: &Channels, error: &str) {
    let body = render::alert(
        "store_error",
        "siaga: kesalahan penyimpanan / store errors".into(),
        format!("siaga tidak dapat membaca atau menulis basis datanya: {error}"),
        format!("siaga cannot read or write its database: {error}"),
        json!({"error": error}),
    );
    for n in owner_notices(ctx, "alert:store") {
        if let Err(e) = deliver::send(ctx, ch, &n.channel, &n.target, &n.msg_id, &body, None).await
        {
            tracing::error!(channel = %n.channel, error = ?e, "cannot send the store alert");
        }
    }
}
