//! The Telegram bot (SPEC 5.2): long-polls `getUpdates`, answers each text message with
//! `sendMessage`, and places orders through the same intake as `/v1`
//! ([`crate::engine::take`]) under a `ref_id` made of the chat and message id, so a
//! redelivered update is a replay. A pending order gets its reply at once and a second
//! one when final. The poll offset is kept in the store, so a restart neither skips nor
//! re-reads much. What each command does is in [`super::answer`].

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::sync::watch;

use super::telegram::{Api, Incoming};
use super::{answer, reply};
use crate::config::channels::TelegramBot;
use crate::engine::Engine;
use crate::notify::Notifier;

/// Where the next `getUpdates` offset is kept.
const OFFSET_MARK: &str = "chat:telegram:offset";
/// How often a follower looks at its pending order.
const FOLLOW_EVERY: Duration = Duration::from_millis(500);
/// A follower gives up on an order still pending after this long.
const FOLLOW_AT_MOST: Duration = Duration::from_secs(2 * 86_400);

/// The bot's context: the engine (settings, store, clock, intake), the notifier for the
/// owner's alerts, the Bot API, and the per-chat rate limits.
pub struct Bot {
    pub engine: Arc<Engine>,
    pub notifier: Arc<Notifier>,
    pub api: Api,
    per_chat: DefaultKeyedRateLimiter<i64>,
    /// One "slow down" reply a minute per chat at most.
    told: DefaultKeyedRateLimiter<i64>,
}

impl Bot {
    pub fn new(engine: Arc<Engine>, notifier: Arc<Notifier>, cfg: &TelegramBot) -> Bot {
        let per_minute = NonZeroU32::new(cfg.per_minute).unwrap_or(NonZeroU32::MIN);
        Bot {
            api: Api::new(engine.client.clone(), cfg),
            engine,
            notifier,
            per_chat: RateLimiter::keyed(Quota::per_minute(per_minute)),
            told: RateLimiter::keyed(Quota::per_minute(NonZeroU32::MIN)),
        }
    }

    pub fn now(&self) -> i64 {
        self.engine.now()
    }

    /// Sends `text`, once more after a pause if the API asks to wait or the network failed.
    pub async fn say(&self, chat_id: i64, text: &str) {
        for tries in 1..=3u32 {
            match self.api.send(chat_id, text).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(chat_id, error = %e, "telegram: sendMessage failed");
                    let wait = e
                        .retry_after
                        .unwrap_or(Duration::from_millis(500 * u64::from(tries)));
                    tokio::time::sleep(wait.min(Duration::from_secs(30))).await;
                }
            }
        }
    }

    /// Answers one message (within the chat's rate limit) and follows the order it
    /// placed, if any, until final.
    async fn handle(self: &Arc<Self>, m: Incoming) {
        if self.per_chat.check_key(&m.chat_id).is_err() {
            if self.told.check_key(&m.chat_id).is_ok() {
                self.say(m.chat_id, "Terlalu banyak pesan; coba lagi sebentar lagi.")
                    .await;
            }
            return;
        }
        let a = answer::answer(self, &m).await;
        self.say(m.chat_id, &a.text).await;
        if let Some(order_id) = a.follow {
            tokio::spawn(follow(self.clone(), m.chat_id, order_id));
        }
    }
}

/// Watches a pending order and sends its final reply.
async fn follow(bot: Arc<Bot>, chat_id: i64, order_id: String) {
    let give_up = tokio::time::Instant::now() + FOLLOW_AT_MOST;
    while tokio::time::Instant::now() < give_up {
        tokio::time::sleep(FOLLOW_EVERY).await;
        let store = &bot.engine.store;
        let o = match store.order(&order_id).await {
            Ok(Some(o)) => o,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(order_id, error = %e, "telegram: cannot read a followed order");
                continue;
            }
        };
        if !o.status.is_final() {
            continue;
        }
        let available = match store.balance(&o.reseller_id).await {
            Ok(b) => b.available,
            Err(_) => 0,
        };
        bot.say(chat_id, &reply::order(&o, available, bot.now()))
            .await;
        return;
    }
}

/// Polls for messages until `shutdown`, answering each in turn; survives API errors by
/// waiting longer after each (at most 30 s, or as long as the API asks).
pub async fn run(bot: Arc<Bot>, mut shutdown: watch::Receiver<bool>) {
    let store = bot.engine.store.clone();
    let mut offset = match store.notify_mark(OFFSET_MARK).await {
        Ok(v) => v.and_then(|v| v.parse::<i64>().ok()).unwrap_or(0),
        Err(e) => {
            tracing::warn!(error = %e, "telegram: cannot read the poll offset; from the start");
            0
        }
    };
    let mut fails: u32 = 0;
    loop {
        let got = tokio::select! {
            r = bot.api.updates(offset) => r,
            _ = shutdown.wait_for(|v| *v) => return,
        };
        match got {
            Ok((msgs, next)) => {
                fails = 0;
                for m in msgs {
                    bot.handle(m).await;
                }
                if next != offset {
                    offset = next;
                    let now = bot.now();
                    if let Err(e) = store
                        .set_notify_mark(OFFSET_MARK, &offset.to_string(), now)
                        .await
                    {
                        tracing::warn!(error = %e, "telegram: cannot keep the poll offset");
                    }
                }
            }
            Err(e) => {
                fails = fails.saturating_add(1);
                tracing::warn!(error = %e, fails, "telegram: getUpdates failed");
                let wait = e.retry_after.unwrap_or_else(|| backoff(fails));
                tokio::select! {
                    _ = tokio::time::sleep(wait.min(Duration::from_secs(30))) => {}
                    _ = shutdown.wait_for(|v| *v) => return,
                }
            }
        }
    }
}

/// The pause after `fails` failed polls in a row: 0.5 s doubling, at most 30 s.
fn backoff(fails: u32) -> Duration {
    Duration::from_millis(500u64.saturating_mul(1 << fails.min(6).saturating_sub(1)))
        .min(Duration::from_secs(30))
}

#[cfg(test)]
mod tests {
    #[test]
    fn failed_polls_wait_longer_up_to_a_bound() {
        use super::backoff;
        use std::time::Duration;
        assert_eq!(backoff(1), Duration::from_millis(500));
        assert_eq!(backoff(2), Duration::from_secs(1));
        assert_eq!(backoff(6), Duration::from_secs(16));
        assert_eq!(backoff(60), Duration::from_secs(16));
    }
}
