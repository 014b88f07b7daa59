//! Telling people (SPEC 9): subscribers with double opt-in, status notices by email,
//! webhooks and Telegram, owner alerts, supplier outage reports and security notices.
//!
//! Every message goes through one durable outbox (`notices`, in the store): the watcher
//! ([`watch`]) turns what happened (incident updates, maintenance, supplier events) into
//! fan-outs, and the deliverer ([`deliver`]) sends them with retries, per-channel rate
//! limits and coalescing by topic (a flapping component does not mail fifty times).

pub use crate::config::notify as config;
pub mod deliver;
pub mod email;
pub mod render;
pub mod subscribe;
pub mod watch;

use std::sync::Arc;

use siaga_store::{Fanout, NewNotice, NoticeBody, Store, StoreError, Subscriber};
use tokio::sync::Notify;

use crate::clock::Clock;
use crate::config::Settings;
use crate::health::Health;
use crate::metrics::Metrics;

/// What the notifier (watcher and deliverer) works with: its store, clock, the settings it
/// reads (the notify section, suppliers and products for who is affected), the live route
/// health (is an outage over, is a supplier in maintenance), its metrics, the outbound
/// HTTP client and its wake handle; not the whole switch.
pub struct Notifier {
    pub settings: crate::config::Live<Settings>,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub health: Arc<Health>,
    pub metrics: Arc<Metrics>,
    pub client: reqwest::Client,
    /// Wakes the deliverer (shared with whoever queues notices: the admin API too).
    pub kick: Arc<Notify>,
}

impl Notifier {
    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }
}

/// True for an address an email can be sent to (RFC 5321's 254 characters at most; no
/// CR/LF or other header tricks get through `lettre`'s parser).
pub fn is_email_address(e: &str) -> bool {
    e.len() <= 254 && e.parse::<lettre::Address>().is_ok()
}

/// A new Standard Webhooks message id.
pub fn msg_id() -> String {
    format!("msg_{}", ulid::Ulid::new())
}

/// Subscribers are fanned out in chunks of this many per store transaction.
const CHUNK: u32 = 1000;

fn wants(list: &[String], components: &[String]) -> bool {
    list.is_empty() || components.is_empty() || list.iter().any(|c| components.contains(c))
}

/// Recipients of status news that are not subscribers: webhooks and the Telegram channel.
fn channel_notices(ctx: &Notifier, topic: &str, components: &[String]) -> Vec<NewNotice> {
    let n = &ctx.settings.get().notify;
    let mut out = Vec::new();
    for w in n
        .webhooks
        .iter()
        .filter(|w| w.status && wants(&w.components, components))
    {
        out.push(notice("webhook", &w.name, topic, None));
    }
    if let Some(chat) = n.telegram.as_ref().and_then(|t| t.chat_id.as_ref()) {
        out.push(notice("telegram", chat, topic, None));
    }
    out
}

/// The owner's alert recipients.
pub fn owner_notices(ctx: &Notifier, topic: &str) -> Vec<NewNotice> {
    let n = &ctx.settings.get().notify;
    let mut out = Vec::new();
    if n.smtp.is_some() {
        for e in &n.owner_emails {
            out.push(notice("email", e, topic, None));
        }
    }
    for w in n.webhooks.iter().filter(|w| w.alerts) {
        out.push(notice("webhook", &w.name, topic, None));
    }
    if let Some(chat) = n.telegram.as_ref().and_then(|t| t.owner_chat_id.as_ref()) {
        out.push(notice("telegram", chat, topic, None));
    }
    out
}

pub fn notice(channel: &str, target: &str, topic: &str, unsub: Option<&str>) -> NewNotice {
    NewNotice {
        msg_id: msg_id(),
        channel: channel.into(),
        target: target.into(),
        topic: topic.into(),
        unsub: unsub.map(str::to_owned),
    }
}

fn fanout(
    ctx: &Notifier,
    body: NoticeBody,
    notices: Vec<NewNotice>,
    marks: Vec<(String, String)>,
) -> Fanout {
    Fanout {
        body,
        notices,
        marks,
        coalesce_ms: ctx.settings.get().notify.coalesce_ms,
        now: ctx.now(),
    }
}

/// Enqueues a notice for the owner's alert channels (and `marks`, atomically).
pub async fn alert_owner(
    ctx: &Notifier,
    topic: &str,
    body: NoticeBody,
    marks: Vec<(String, String)>,
) -> Result<(), StoreError> {
    let notices = owner_notices(ctx, topic);
    ctx.store
        .enqueue_notices(fanout(ctx, body, notices, marks))
        .await?;
    ctx.kick.notify_one();
    Ok(())
}

/// Enqueues `body` to everyone who follows `components`: confirmed subscribers (in chunks,
/// resumable through the `progress` mark), status webhooks and the Telegram channel. `done`
/// marks are written with the last chunk, so a crash mid-way resumes instead of repeating.
pub async fn announce(
    ctx: &Notifier,
    topic: &str,
    components: &[String],
    body: NoticeBody,
    progress: &str,
    done: Vec<(String, String)>,
) -> Result<(), StoreError> {
    let mut after = ctx.store.notify_mark(progress).await?.unwrap_or_default();
    if after.is_empty() {
        // First chunk: the non-subscriber channels go with it.
        let first = channel_notices(ctx, topic, components);
        ctx.store
            .enqueue_notices(fanout(
                ctx,
                body.clone(),
                first,
                vec![(progress.into(), " ".into())],
            ))
            .await?;
        after = " ".into();
    }
    if ctx.settings.get().notify.smtp.is_some() {
        loop {
            let page: Vec<Subscriber> =
                ctx.store.confirmed_subscribers(after.trim(), CHUNK).await?;
            let Some(last) = page.last().map(|s| s.id.clone()) else {
                break;
            };
            let notices = page
                .iter()
                .filter(|s| wants(&s.components, components))
                .map(|s| notice("email", &s.email, topic, Some(&s.unsub_token)))
                .collect();
            ctx.store
                .enqueue_notices(fanout(
                    ctx,
                    body.clone(),
                    notices,
                    vec![(progress.into(), last.clone())],
                ))
                .await?;
            ctx.kick.notify_one();
            if page.len() < CHUNK as usize {
                break;
            }
            after = last;
        }
    }
    ctx.store
        .enqueue_notices(fanout(ctx, body, Vec::new(), done))
        .await?;
    ctx.kick.notify_one();
    Ok(())
}
