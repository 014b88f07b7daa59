//! The notifier's watcher: once a second it turns what happened into notices — incident
//! updates (subscribers, webhooks, Telegram; security incidents also to every reseller),
//! announced maintenance (scheduled, started, completed), supplier events (owner alerts),
//! orders waiting in manual review, and supplier outage reports with their recovery notes.
//! Progress lives in `notify_marks`, written with the notices, so a restart neither loses
//! nor repeats a fan-out. It reads the store, so news made by the CLI is seen too.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use siaga_store::{StoreError, SupplierEvent};
use tokio::sync::watch;

use super::deliver::{self, Channels};
use super::Notifier;
use super::{alert_owner, announce, notice, owner_notices, render};

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
    let url = &ctx.settings.public_url;
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
    if mark(ctx, &key).await?.is_some() || ctx.settings.notify.smtp.is_none() {
        return Ok(());
    }
    let topic = format!("security:{}", inc.id);
    let notices = ctx
        .store
        .list_resellers()
        .await?
        .iter()
        .filter_map(|r| r.email.as_deref())
        .filter(|e| e.parse::<lettre::Address>().is_ok())
        .map(|e| notice("email", e, &topic, None))
        .collect();
    ctx.store
        .enqueue_notices(siaga_store::Fanout {
            body: render::security(inc, u, &ctx.settings.public_url),
            notices,
            marks: vec![(key, "sent".into())],
            coalesce_ms: 0,
            now: ctx.now(),
        })
        .await?;
    ctx.kick.notify_one();
    Ok(())
}

/// The product groups that route through `supplier`: those whose every product has a route
/// through another supplier (routed to a backup meanwhile), and the others (held).
fn affected(ctx: &Notifier, supplier: &str) -> (Vec<String>, Vec<String>) {
    let mut groups: Vec<(String, bool)> = Vec::new();
    for p in &ctx.settings.products {
        if p.routes.iter().any(|r| r.supplier == supplier) {
            let backup = p.routes.iter().any(|r| r.supplier != supplier);
            match groups.iter_mut().find(|(g, _)| *g == p.group) {
                Some((_, b)) => *b &= backup,
                None => groups.push((p.group.clone(), backup)),
            }
        }
    }
    let routed = groups
        .iter()
        .filter(|(_, b)| *b)
        .map(|(g, _)| g.clone())
        .collect();
    let held = groups
        .iter()
        .filter(|(_, b)| !*b)
        .map(|(g, _)| g.clone())
        .collect();
    (routed, held)
}

async fn maintenance(ctx: &Notifier, after: i64) -> Result<(), StoreError> {
    let now = ctx.now();
    let url = &ctx.settings.public_url;
    let mut windows = ctx.store.maintenance_windows(now - 86_400_000).await?;
    // The cursor follows ids: take new windows in id order, whatever their start times.
    windows.sort_by_key(|w| w.id);
    for w in windows {
        let (routed, held) = affected(ctx, &w.supplier_id);
        let components: Vec<String> = routed.iter().chain(&held).cloned().collect();
        let key = |phase: &str| format!("maint:{}:{phase}", w.id);
        if w.id > after {
            let mut done = vec![("cursor:maint".to_string(), w.id.to_string())];
            if w.ends_at > now && !components.is_empty() {
                done.push((key("scheduled"), "sent".into()));
                let body = render::maintenance(&w, "scheduled", &routed, &held, url);
                let topic = key("scheduled");
                announce(
                    ctx,
                    &topic,
                    &components,
                    body,
                    &format!("fanout:{topic}"),
                    done,
                )
                .await?;
            } else {
                ctx.store
                    .set_notify_mark("cursor:maint", &w.id.to_string(), now)
                    .await?;
            }
        }
        if components.is_empty() {
            continue;
        }
        let (started, completed) = (key("started"), key("completed"));
        if now >= w.starts_at && now < w.ends_at && mark(ctx, &started).await?.is_none() {
            let body = render::maintenance(&w, "started", &routed, &held, url);
            let done = vec![(started.clone(), "sent".to_string())];
            announce(
                ctx,
                &started,
                &components,
                body,
                &format!("fanout:{started}"),
                done,
            )
            .await?;
        }
        // "Completed" follows whatever was told (a window missed while siaga was down still
        // gets its end), and nothing if nothing was.
        let told =
            mark(ctx, &started).await?.is_some() || mark(ctx, &key("scheduled")).await?.is_some();
        if now >= w.ends_at && told && mark(ctx, &completed).await?.is_none() {
            let body = render::maintenance(&w, "completed", &routed, &held, url);
            let done = vec![(completed.clone(), "sent".to_string())];
            announce(
                ctx,
                &completed,
                &components,
                body,
                &format!("fanout:{completed}"),
                done,
            )
            .await?;
        }
    }
    Ok(())
}

async fn supplier_events(ctx: &Notifier, after: i64) -> Result<(), StoreError> {
    for (id, e) in ctx.store.supplier_events_after(after, 100).await? {
        let mut marks = vec![("cursor:events".to_string(), id.to_string())];
        let alert = event_alert(ctx, &e, &mut marks).await?;
        match alert {
            Some((topic, body)) => alert_owner(ctx, &topic, body, marks).await?,
            None => {
                for (k, v) in marks {
                    ctx.store.set_notify_mark(&k, &v, ctx.now()).await?;
                }
            }
        }
    }
    Ok(())
}

/// The owner alert for one supplier event, if it deserves one; updates outage marks.
async fn event_alert(
    ctx: &Notifier,
    e: &SupplierEvent,
    marks: &mut Vec<(String, String)>,
) -> Result<Option<(String, siaga_store::NoticeBody)>, StoreError> {
    let s = &e.supplier_id;
    let detail: serde_json::Value = serde_json::from_str(&e.detail).unwrap_or_default();
    let outage_key = format!("outage:{s}");
    let down_since = mark(ctx, &outage_key)
        .await?
        .and_then(|v| v.parse::<i64>().ok());
    let out = match (e.kind.as_str(), e.to_state.as_deref()) {
        ("breaker", Some("open")) => {
            if down_since.is_some() {
                return Ok(None); // still the same outage (a failed trial)
            }
            marks.push((outage_key, e.at.to_string()));
            let reason = detail.get("reason").and_then(|r| r.as_str()).unwrap_or("");
            (
                format!("alert:supplier:{s}"),
                render::alert(
                    "supplier_down",
                    format!("Pemasok {s} gangguan / Supplier {s} down"),
                    format!("Pemasok {s} tidak dapat dipakai sejak {} ({reason}). Pesanan dialihkan ke rute cadangan bila ada.", crate::clock::wib(e.at)),
                    format!("Supplier {s} is unusable since {} ({reason}). Orders go to backup routes where there are any.", crate::clock::wib(e.at)),
                    detail,
                ),
            )
        }
        ("breaker", Some("closed")) => {
            let Some(since) = down_since else {
                return Ok(None);
            };
            marks.push((outage_key, String::new()));
            recovery_note(ctx, s, since, e.at).await?;
            (format!("alert:supplier:{s}"), recovered_alert(s, e.at, detail))
        }
        ("low_balance", _) => (
            format!("alert:balance:{s}"),
            render::alert(
                "low_balance",
                format!("Saldo pemasok {s} menipis / Supplier {s} balance low"),
                format!("Saldo deposit di {s}: Rp{}. Segera isi ulang.", detail["balance"]),
                format!("Deposit balance at {s}: Rp{}. Top it up soon.", detail["balance"]),
                detail,
            ),
        ),
        ("cost_above_price", _) => (
            format!("alert:cost:{s}:{}", detail["sku"].as_str().unwrap_or("")),
            render::alert(
                "cost_above_price",
                format!("Harga modal di atas harga jual / Cost above price: {s}"),
                format!("Rute {s} untuk {} kini Rp{} di atas harga jual Rp{}; rute ini tidak dipakai.", detail["product"], detail["cost"], detail["price"]),
                format!("Route {s} for {} now costs Rp{}, above the price Rp{}; it is not used.", detail["product"], detail["cost"], detail["price"]),
                detail,
            ),
        ),
        ("charged_above_cost", _) => (
            format!("alert:charged:{s}:{}", detail["sku"].as_str().unwrap_or("")),
            render::alert(
                "charged_above_cost",
                format!("Pemasok {s} menaikkan harga / Supplier {s} charges more"),
                format!("{s} menagih Rp{} untuk {} (sebelumnya Rp{}); harga jual Rp{}. Rute memakai harga baru.", detail["cost"], detail["product"], detail["old_cost"], detail["price"]),
                format!("{s} charged Rp{} for {} (was Rp{}); the price is Rp{}. Routing now uses the new cost.", detail["cost"], detail["product"], detail["old_cost"], detail["price"]),
                detail,
            ),
        ),
        ("config_error", _) => (
            format!("alert:config:{s}"),
            render::alert(
                "config_error",
                format!("Kesalahan konfigurasi di pemasok {s} / Config error at supplier {s}"),
                format!("Pemasok {s} menolak permintaan kami karena konfigurasi (rc {}): {}", detail["rc"], detail["message"]),
                format!("Supplier {s} refused our request for a configuration reason (rc {}): {}", detail["rc"], detail["message"]),
                detail,
            ),
        ),
        ("contradicting_callback", _) => (
            format!("alert:contradiction:{s}"),
            render::alert(
                "contradicting_callback",
                format!("Callback bertentangan dari {s} / Contradicting callback from {s}"),
                "Pemasok mengirim callback yang bertentangan dengan transaksi yang sudah selesai. Periksa buktinya di dasbor.".into(),
                "The supplier sent a callback that contradicts a settled attempt. Check the evidence on the dashboard.".into(),
                detail,
            ),
        ),
        _ => return Ok(None),
    };
    Ok(Some(out))
}

async fn manual_review(ctx: &Notifier) -> Result<(), StoreError> {
    let orders = ctx.store.manual_review_orders(50).await?;
    let Some(newest) = orders.iter().map(|o| o.2).max() else {
        return Ok(());
    };
    let last = mark(ctx, "review:last")
        .await?
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(0);
    if newest <= last {
        return Ok(());
    }
    let refs: Vec<String> = orders
        .iter()
        .map(|(id, r, _)| format!("{id} ({r})"))
        .collect();
    let body = render::alert(
        "manual_review",
        format!("{} pesanan menunggu tinjauan / {} orders in manual review", orders.len(), orders.len()),
        format!("Pesanan ini hasilnya belum pasti dan menunggu keputusan Anda (siaga order resolve): {}", refs.join(", ")),
        format!("These orders have an unknown outcome and wait for your decision (siaga order resolve): {}", refs.join(", ")),
        json!({"orders": refs}),
    );
    alert_owner(
        ctx,
        "alert:review",
        body,
        vec![("review:last".into(), newest.to_string())],
    )
    .await
}

async fn outage_reports(ctx: &Notifier) -> Result<(), StoreError> {
    let now = ctx.now();
    for s in &ctx.settings.suppliers {
        let outage_key = format!("outage:{}", s.id);
        let Some(since) = mark(ctx, &outage_key)
            .await?
            .and_then(|v| v.parse::<i64>().ok())
        else {
            continue;
        };
        // The breaker lives in memory: after a restart, or if its "closed" event was lost,
        // the live circuit says the outage is over.
        if ctx.health.circuit_closed(&s.id) {
            recovery_note(ctx, &s.id, since, now).await?;
            let body = recovered_alert(&s.id, now, json!({"reason": "circuit closed"}));
            let topic = format!("alert:supplier:{}", s.id);
            alert_owner(ctx, &topic, body, vec![(outage_key, String::new())]).await?;
            continue;
        }
        let Some(contact) = &s.contact_email else {
            continue;
        };
        let report_key = format!("report:{}", s.id);
        if now - since < s.report_after.as_millis() as i64
            || ctx.health.in_window(&s.id)
            || mark(ctx, &report_key).await?.as_deref() == Some(since.to_string().as_str())
            || ctx.settings.notify.smtp.is_none()
        {
            continue;
        }
        let events: Vec<SupplierEvent> = ctx
            .store
            .supplier_events(&s.id, 50)
            .await?
            .into_iter()
            .filter(|e| e.at >= since - 600_000)
            .collect();
        let skus: Vec<String> = ctx
            .settings
            .products
            .iter()
            .flat_map(|p| {
                p.routes
                    .iter()
                    .filter(|r| r.supplier == s.id)
                    .map(|r| format!("{} ({})", r.sku, p.code.as_str()))
            })
            .collect();
        let awaiting = ctx.store.awaiting_attempts(&s.id, 200).await?;
        let body = render::outage_report(&s.id, since, &events, &skus, &awaiting);
        let topic = format!("report:{}:{since}", s.id);
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
                now,
            })
            .await?;
        ctx.kick.notify_one();
    }
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

fn recovered_alert(s: &str, at: i64, detail: serde_json::Value) -> siaga_store::NoticeBody {
    render::alert(
        "supplier_recovered",
        format!("Pemasok {s} pulih / Supplier {s} recovered"),
        format!(
            "Pemasok {s} kembali normal sejak {}.",
            crate::clock::wib(at)
        ),
        format!(
            "Supplier {s} is healthy again since {}.",
            crate::clock::wib(at)
        ),
        detail,
    )
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
