//! Sends the notice outbox: claims due notices with a lease (a crash mid-send retries after
//! the lease; nothing is lost), sends each on its channel under that channel's rate limit,
//! and records delivered / retry with exponential back-off / dead.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde_json::{json, Value};
use siaga_store::{Notice, NoticeBody};
use tokio::sync::{watch, Semaphore};

use super::config::Format;
use super::email::Mailer;
use super::Notifier;
use crate::webhook;

const POLL: Duration = Duration::from_millis(250);
/// A claimed notice not finished within this is claimed again (start-up also releases
/// claims: one node sends notices). Long, so a slow channel never sends twice.
const LEASE_MS: i64 = 30 * 60_000;
const MAX_INFLIGHT: usize = 256;
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a send did not succeed.
#[derive(Debug)]
pub enum Failure {
    /// Try again later (at the back-off, or after the given delay if the peer said so).
    Retry(String, Option<Duration>),
    /// Will never succeed (bad address, chat not found, webhook removed).
    Permanent(String),
}

/// The channels' senders and rate limits.
pub struct Channels {
    mailer: Option<Mailer>,
    email_rate: Option<DefaultDirectRateLimiter>,
    email_slots: Semaphore,
    telegram_rate: Option<DefaultKeyedRateLimiter<String>>,
}

impl Channels {
    pub fn new(ctx: &Notifier) -> anyhow::Result<Channels> {
        let n = &ctx.settings.get().notify;
        let nz = |v: u32| NonZeroU32::new(v.max(1)).unwrap_or(NonZeroU32::MIN);
        let mailer = n.smtp.as_ref().map(Mailer::new).transpose()?;
        Ok(Channels {
            mailer,
            email_rate: n
                .smtp
                .as_ref()
                .map(|s| RateLimiter::direct(Quota::per_second(nz(s.per_second)))),
            email_slots: Semaphore::new(n.smtp.as_ref().map(|s| s.pool as usize).unwrap_or(1)),
            telegram_rate: n
                .telegram
                .as_ref()
                .map(|t| RateLimiter::keyed(Quota::per_minute(nz(t.per_minute)))),
        })
    }
}

/// One channel's claims: its own in-flight bound, so a big email fan-out never holds up
/// webhooks or Telegram, and a claimed email waits at most ~2 s for its rate limit.
struct Lane {
    channel: &'static str,
    slots: Arc<Semaphore>,
    cap: usize,
}

impl Lane {
    fn new(channel: &'static str, cap: usize) -> Lane {
        Lane {
            channel,
            slots: Arc::new(Semaphore::new(cap)),
            cap,
        }
    }
}

pub async fn deliverer(ctx: Arc<Notifier>, mut shutdown: watch::Receiver<bool>) {
    let channels = match Channels::new(&ctx) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            tracing::error!(error = %e, "notifications cannot start");
            return;
        }
    };
    // One node sends notices: claims left by a previous run of it are ours to retry now.
    if let Err(e) = ctx.store.release_notices(ctx.now()).await {
        tracing::error!(error = %e, "cannot release claimed notices");
    }
    let email_cap = ctx
        .settings
        .get()
        .notify
        .smtp
        .as_ref()
        .map(|s| (s.per_second as usize * 2).clamp(s.pool as usize, MAX_INFLIGHT))
        .unwrap_or(16);
    let lanes = [
        Lane::new("email", email_cap),
        Lane::new("webhook", 64),
        Lane::new("telegram", 16),
    ];
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = ctx.kick.notified() => {}
            _ = shutdown.changed() => break,
        }
        for lane in &lanes {
            claim_lane(&ctx, &channels, lane).await;
        }
    }
    // Let sends in flight finish and be recorded, so a restart does not repeat them.
    for lane in &lanes {
        let _ = tokio::time::timeout(
            Duration::from_secs(10),
            lane.slots.acquire_many(lane.cap as u32),
        )
        .await;
    }
}

async fn claim_lane(ctx: &Arc<Notifier>, channels: &Arc<Channels>, lane: &Lane) {
    loop {
        let want = lane.slots.available_permits().min(128);
        if want == 0 {
            return;
        }
        let items = match ctx
            .store
            .claim_notices(lane.channel, ctx.now(), want as u32, LEASE_MS)
            .await
        {
            Ok(items) => items,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the notice outbox");
                return;
            }
        };
        let more = items.len() == want;
        for n in items {
            let Ok(permit) = lane.slots.clone().acquire_owned().await else {
                return;
            };
            let (ctx, channels) = (ctx.clone(), channels.clone());
            tokio::spawn(async move {
                let id = n.id;
                if let Err(e) = deliver(&ctx, &channels, n).await {
                    tracing::error!(notice = id, error = %e, "notice bookkeeping failed");
                }
                drop(permit);
            });
        }
        if !more {
            return;
        }
    }
}

async fn deliver(ctx: &Notifier, ch: &Channels, n: Notice) -> anyhow::Result<()> {
    if let Some(token) = &n.unsub {
        // A subscriber who left after this was queued gets nothing more.
        let sub = ctx.store.subscriber_by("unsub_token", token).await?;
        if sub.is_none_or(|s| s.status != "confirmed") {
            ctx.metrics.notification(&n.channel, "dropped");
            ctx.store
                .notice_retry(n.id, ctx.now(), "unsubscribed", true)
                .await?;
            return Ok(());
        }
    }
    let result = send(
        ctx,
        ch,
        &n.channel,
        &n.target,
        &n.msg_id,
        &n.body,
        n.unsub.as_deref(),
    )
    .await;
    let now = ctx.now();
    let cfg = &ctx.settings.get().notify;
    match result {
        Ok(()) => {
            ctx.metrics.notification(&n.channel, "delivered");
            ctx.store.notice_done(n.id, now).await?;
        }
        Err(Failure::Retry(why, after)) => {
            // retry_base_ms doubling per attempt (at most 20 doublings), up to retry_max_ms
            let backoff = siaga_domain::backoff::delay(
                n.tries.min(20),
                siaga_domain::backoff::ms(cfg.retry_base_ms),
                siaga_domain::backoff::ms(cfg.retry_max_ms),
            ) as u64;
            let delay = after
                .map(|d| d.as_millis() as u64)
                .unwrap_or(backoff)
                .max(cfg.retry_base_ms) as i64;
            let dead = now + delay > n.created_at + (cfg.give_up_after_s as i64) * 1000;
            ctx.metrics
                .notification(&n.channel, if dead { "dead" } else { "retry" });
            tracing::warn!(msg = %n.msg_id, channel = %n.channel, tries = n.tries + 1, dead, error = %why, "notice not delivered");
            ctx.store
                .notice_retry(n.id, now + delay, &why, dead)
                .await?;
        }
        Err(Failure::Permanent(why)) => {
            ctx.metrics.notification(&n.channel, "dead");
            tracing::warn!(msg = %n.msg_id, channel = %n.channel, error = %why, "notice cannot be delivered");
            ctx.store.notice_retry(n.id, now, &why, true).await?;
        }
    }
    Ok(())
}

/// Sends one message on its channel now (also used for alerts that cannot wait for the
/// store, such as "the store is failing").
pub async fn send(
    ctx: &Notifier,
    ch: &Channels,
    channel: &str,
    target: &str,
    msg_id: &str,
    body: &NoticeBody,
    unsub: Option<&str>,
) -> Result<(), Failure> {
    match channel {
        "email" => {
            let Some(mailer) = &ch.mailer else {
                return Err(Failure::Retry("[smtp] is not configured".into(), None));
            };
            if let Some(r) = &ch.email_rate {
                r.until_ready().await;
            }
            let _slot = ch
                .email_slots
                .acquire()
                .await
                .map_err(|_| Failure::Retry("shutting down".into(), None))?;
            let link = unsub.map(|t| format!("{}/unsubscribe/{t}", ctx.settings.get().public_url));
            mailer.send(target, msg_id, body, link.as_deref()).await
        }
        "webhook" => send_webhook(ctx, target, msg_id, body).await,
        "telegram" => {
            if let Some(r) = &ch.telegram_rate {
                r.until_key_ready(&target.to_owned()).await;
            }
            send_telegram(ctx, target, body).await
        }
        other => Err(Failure::Permanent(format!("unknown channel {other}"))),
    }
}

fn status_failure(status: reqwest::StatusCode, retry_after: Option<Duration>) -> Failure {
    let why = format!("HTTP {}", status.as_u16());
    if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
        Failure::Retry(why, retry_after)
    } else {
        // Other 4xx: the receiver refuses this message; retrying would not change that,
        // but a misconfigured receiver may be fixed, so keep trying with back-off.
        Failure::Retry(why, None)
    }
}

async fn send_webhook(
    ctx: &Notifier,
    name: &str,
    msg_id: &str,
    body: &NoticeBody,
) -> Result<(), Failure> {
    let settings = ctx.settings.get();
    let Some(hook) = settings.notify.webhooks.iter().find(|w| w.name == name) else {
        return Err(Failure::Permanent(format!(
            "webhook {name:?} is no longer configured"
        )));
    };
    let data: Value = serde_json::from_str(&body.payload).unwrap_or(Value::Null);
    let payload = match hook.format {
        Format::Standard => json!({
            "type": body.kind,
            "timestamp": crate::clock::rfc3339(ctx.now()),
            "data": data,
        }),
        Format::Chat => {
            let text = format!("*{}*\n{}", body.subject, body.text);
            let short: String = text.chars().take(1900).collect();
            json!({"text": text, "content": short})
        }
    };
    let bytes = serde_json::to_vec(&payload).map_err(|e| Failure::Permanent(e.to_string()))?;
    let ts = ctx.now() / 1000;
    let mut req = ctx
        .client
        .post(&hook.url)
        .timeout(WEBHOOK_TIMEOUT)
        .header("content-type", "application/json")
        .header("webhook-id", msg_id)
        .header("webhook-timestamp", ts.to_string());
    if let Some(secret) = &hook.secret {
        let sig = webhook::sign(secret, msg_id, ts, &bytes)
            .map_err(|e| Failure::Permanent(e.to_string()))?;
        req = req.header("webhook-signature", sig);
    }
    let resp = req
        .body(bytes)
        .send()
        .await
        .map_err(|e| Failure::Retry(format!("request failed: {}", e.without_url()), None))?;
    if resp.status().is_success() {
        Ok(())
    } else {
        let after = retry_after(resp.headers());
        Err(status_failure(resp.status(), after))
    }
}

fn retry_after(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    h.get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| Duration::from_secs(s.min(3600)))
}

async fn send_telegram(ctx: &Notifier, chat: &str, body: &NoticeBody) -> Result<(), Failure> {
    let Some(tg) = &ctx.settings.get().notify.telegram else {
        return Err(Failure::Retry("[telegram] is not configured".into(), None));
    };
    let text: String = format!("{}\n\n{}", body.subject, body.text)
        .chars()
        .take(4096)
        .collect();
    let url = format!("{}/bot{}/sendMessage", tg.api_base, tg.token);
    let resp = ctx
        .client
        .post(url)
        .timeout(WEBHOOK_TIMEOUT)
        .json(&json!({"chat_id": chat, "text": text, "disable_web_page_preview": true}))
        .send()
        .await
        // Never log the URL: it holds the bot token.
        .map_err(|e| Failure::Retry(format!("request failed: {}", e.without_url()), None))?;
    let status = resp.status();
    let reply: Value = resp.json().await.unwrap_or(Value::Null);
    if status.is_success() && reply.get("ok").and_then(Value::as_bool) == Some(true) {
        return Ok(());
    }
    let description = reply
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or("")
        .chars()
        .take(200)
        .collect::<String>();
    let why = format!("Telegram HTTP {}: {description}", status.as_u16());
    match status.as_u16() {
        429 => {
            let after = reply
                .pointer("/parameters/retry_after")
                .and_then(Value::as_u64)
                .map(|s| Duration::from_secs(s.min(3600)));
            Err(Failure::Retry(why, after))
        }
        400 | 403 | 404 => Err(Failure::Permanent(why)),
        _ => Err(Failure::Retry(why, None)),
    }
}
