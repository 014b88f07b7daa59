//! The monthly SLA email (`[reports] monthly_email = true`): on the 1st of each month in
//! the business time zone (or the first pass after it, within a week), last month's SLA
//! report goes to `notify.owner_emails` through the notice outbox, once: the mark
//! `report:monthly:YYYY-MM` is written with the notices, so a restart never sends it twice.

use std::sync::Arc;
use std::time::Duration;

use maud::{html, PreEscaped};
use siaga_store::{Fanout, NoticeBody, StoreError};
use tokio::sync::watch;

use super::period;
use super::render;
use super::Report;
use crate::notify::{notice, Notifier};

const TICK: Duration = Duration::from_secs(60);
/// Past this long after the month ended, its report is no longer sent (a fresh install
/// does not mail an empty month, a server down for weeks does not mail a stale one).
const LATE_MS: i64 = 7 * 86_400_000;

pub async fn run(ctx: Arc<Notifier>, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        match once(&ctx).await {
            Ok(Some(m)) => tracing::info!(month = %m, "monthly SLA report queued for the owner"),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "cannot queue the monthly SLA report"),
        }
    }
}

/// Queues last month's report if it is due and not sent yet; the month queued.
pub async fn once(ctx: &Notifier) -> Result<Option<String>, StoreError> {
    let s = ctx.settings.get();
    if !s.reports.monthly_email || s.notify.smtp.is_none() || s.notify.owner_emails.is_empty() {
        return Ok(None);
    }
    let tz = &s.reports.time_zone;
    let now = ctx.now();
    let Some(last) = period::previous_month(&period::month_of(now, tz)) else {
        return Ok(None);
    };
    let Ok(w) = period::month(&last, tz) else {
        return Ok(None);
    };
    if now >= w.end + LATE_MS {
        return Ok(None);
    }
    let mark = format!("report:monthly:{last}");
    if ctx.store.notify_mark(&mark).await?.is_some() {
        return Ok(None);
    }
    let report = super::sla_from_store(ctx.store.as_ref(), &s, w, now).await?;
    let body = email(&last, &report);
    let notices = s
        .notify
        .owner_emails
        .iter()
        .map(|e| notice("email", e, &mark, None))
        .collect();
    ctx.store
        .enqueue_notices(Fanout {
            body,
            notices,
            marks: vec![(mark, "queued".into())],
            coalesce_ms: 0,
            now,
        })
        .await?;
    ctx.kick.notify_one();
    Ok(Some(last))
}

/// The email: the verdicts, then the Markdown report as text; the HTML part shows the
/// verdicts and the report preformatted.
pub fn email(month: &str, r: &Report) -> NoticeBody {
    let verdicts: Vec<String> = r.suppliers.iter().map(render::verdict).collect();
    let md = render::sla_markdown(r);
    let html = html! {
        (PreEscaped(crate::notify::render::DOCTYPE))
        html {
            body style="font-family:sans-serif;line-height:1.5;max-width:60em" {
                h1 { "Laporan SLA pemasok / Supplier SLA report " (month) }
                ul { @for v in &verdicts { li { (v) } } }
                pre style="white-space:pre-wrap" { (md) }
            }
        }
    }
    .into_string();
    NoticeBody {
        kind: "report.sla_monthly".into(),
        subject: format!("siaga: laporan SLA {month} / SLA report {month}"),
        text: md,
        html,
        payload: render::sla_json(r).to_string(),
    }
}
