//! The `[channels.telegram]` config section (SPEC 5.2): the bot resellers order through
//! by text commands, and its checked form. Not `[telegram]`, which is the status channel
//! and the owner's alerts (`notify`); both may name the same bot.

use std::time::Duration;

use serde::Deserialize;

use super::locate::Problem;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelsCfg {
    #[serde(default)]
    pub telegram: Option<TelegramBotCfg>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramBotCfg {
    /// The env var holding the bot token.
    pub bot_token_env: String,
    #[serde(default = "default_api_base")]
    pub api_base: String,
    /// How long one `getUpdates` long poll waits for news (seconds).
    #[serde(default = "default_poll_timeout")]
    pub poll_timeout_s: u64,
    /// Commands taken from one chat a minute; more are answered with a request to wait.
    #[serde(default = "default_per_minute")]
    pub per_minute: u32,
}

fn default_api_base() -> String {
    "https://api.telegram.org".into()
}
fn default_poll_timeout() -> u64 {
    30
}
fn default_per_minute() -> u32 {
    20
}

/// The checked bot settings.
#[derive(Debug, Clone)]
pub struct TelegramBot {
    pub token: String,
    /// Without a trailing slash.
    pub api_base: String,
    pub poll_timeout: Duration,
    pub per_minute: u32,
}

/// Checks `[channels]`; errors name the key.
pub fn check(
    cfg: &ChannelsCfg,
    getenv: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<TelegramBot>, Problem> {
    let Some(t) = &cfg.telegram else {
        return Ok(None);
    };
    let base = t.api_base.trim().trim_end_matches('/').to_owned();
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err((
            "channels.telegram.api_base".into(),
            "must start with http:// or https://".into(),
        ));
    }
    let token = getenv(&t.bot_token_env)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| {
            (
                "channels.telegram.bot_token_env".to_string(),
                format!("environment variable {} is not set", t.bot_token_env),
            )
        })?;
    if !(1..=50).contains(&t.poll_timeout_s) {
        return Err((
            "channels.telegram.poll_timeout_s".into(),
            "must be 1 to 50 seconds".into(),
        ));
    }
    Ok(Some(TelegramBot {
        token: token.trim().to_owned(),
        api_base: base,
        poll_timeout: Duration::from_secs(t.poll_timeout_s),
        per_minute: t.per_minute.max(1),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(base: &str, timeout: u64) -> ChannelsCfg {
        ChannelsCfg {
            telegram: Some(TelegramBotCfg {
                bot_token_env: "BOT".into(),
                api_base: base.into(),
                poll_timeout_s: timeout,
                per_minute: 0,
            }),
        }
    }

    #[test]
    fn the_bot_needs_its_token_and_a_web_address() {
        let env = |k: &str| (k == "BOT").then(|| "123:abc".to_string());
        let none = |_: &str| None;
        let ok = check(&cfg("http://127.0.0.1:9/", 30), &env)
            .unwrap()
            .unwrap();
        assert_eq!(ok.api_base, "http://127.0.0.1:9");
        assert_eq!((ok.token.as_str(), ok.per_minute), ("123:abc", 1));
        assert!(check(&ChannelsCfg::default(), &none).unwrap().is_none());
        let key = |r: Result<Option<TelegramBot>, Problem>| r.unwrap_err().0;
        assert_eq!(
            key(check(&cfg("http://x", 30), &none)),
            "channels.telegram.bot_token_env"
        );
        assert_eq!(
            key(check(&cfg("ftp://x", 30), &env)),
            "channels.telegram.api_base"
        );
        assert_eq!(
            key(check(&cfg("http://x", 0), &env)),
            "channels.telegram.poll_timeout_s"
        );
    }
}
