//! The few Bot API calls the bot needs (SPEC 5.2): `getUpdates` by long polling and
//! `sendMessage`, against a configurable `api_base` (a test's fake Bot API, a local Bot
//! API server). Only text messages are read; everything else in an update is skipped.

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use crate::config::channels::TelegramBot;

/// One text message from a chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    pub update_id: i64,
    pub chat_id: i64,
    pub message_id: i64,
    pub text: String,
}

#[derive(Deserialize)]
struct Reply<T> {
    ok: bool,
    #[serde(default = "none")]
    result: Option<T>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    parameters: Option<Params>,
}

fn none<T>() -> Option<T> {
    None
}

#[derive(Deserialize)]
struct Params {
    #[serde(default)]
    retry_after: Option<u64>,
}

#[derive(Deserialize)]
struct Update {
    update_id: i64,
    #[serde(default)]
    message: Option<Message>,
}

#[derive(Deserialize)]
struct Message {
    message_id: i64,
    chat: Chat,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct Chat {
    id: i64,
}

/// Why a call failed, and how long to wait before the next when the API said.
#[derive(Debug)]
pub struct CallError {
    pub message: String,
    pub retry_after: Option<Duration>,
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

fn err(message: impl Into<String>) -> CallError {
    CallError {
        message: message.into(),
        retry_after: None,
    }
}

/// The Bot API of one bot.
#[derive(Clone)]
pub struct Api {
    client: reqwest::Client,
    base: String,
    poll: Duration,
}

impl Api {
    pub fn new(client: reqwest::Client, cfg: &TelegramBot) -> Api {
        Api {
            client,
            base: format!("{}/bot{}", cfg.api_base, cfg.token),
            poll: cfg.poll_timeout,
        }
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        body: serde_json::Value,
        timeout: Duration,
    ) -> Result<T, CallError> {
        // The URL holds the token: errors name the method only.
        let r = self
            .client
            .post(format!("{}/{method}", self.base))
            .timeout(timeout)
            .json(&body)
            .send()
            .await
            .map_err(|e| err(format!("{method}: {}", e.without_url())))?;
        let status = r.status();
        let reply: Reply<T> = r.json().await.map_err(|e| {
            err(format!(
                "{method}: HTTP {status}, unreadable reply: {}",
                e.without_url()
            ))
        })?;
        match reply {
            Reply {
                ok: true,
                result: Some(v),
                ..
            } => Ok(v),
            other => Err(CallError {
                message: format!(
                    "{method}: HTTP {status}: {}",
                    other.description.unwrap_or_default()
                ),
                retry_after: other
                    .parameters
                    .and_then(|p| p.retry_after)
                    .map(Duration::from_secs),
            }),
        }
    }

    /// The text messages after `offset` (waiting up to the poll timeout for some), and
    /// the offset to ask with next (which confirms these to Telegram).
    pub async fn updates(&self, offset: i64) -> Result<(Vec<Incoming>, i64), CallError> {
        let body = json!({
            "offset": offset,
            "timeout": self.poll.as_secs(),
            "allowed_updates": ["message"],
        });
        let got: Vec<Update> = self
            .call("getUpdates", body, self.poll + Duration::from_secs(10))
            .await?;
        let next = got
            .iter()
            .map(|u| u.update_id + 1)
            .max()
            .unwrap_or(offset)
            .max(offset);
        let msgs = got
            .into_iter()
            .filter_map(|u| {
                let m = u.message?;
                Some(Incoming {
                    update_id: u.update_id,
                    chat_id: m.chat.id,
                    message_id: m.message_id,
                    text: m.text?,
                })
            })
            .collect();
        Ok((msgs, next))
    }

    /// Sends `text` to `chat_id`.
    pub async fn send(&self, chat_id: i64, text: &str) -> Result<(), CallError> {
        let body = json!({"chat_id": chat_id, "text": text});
        self.call::<serde_json::Value>("sendMessage", body, Duration::from_secs(15))
            .await
            .map(|_| ())
    }
}
