//! `siaga reload`: makes a running `siaga serve` re-read its config (SPEC 6.1.3). The file
//! is validated here first (a broken one never reaches the server), then the server is
//! asked through its admin API, at the address it wrote beside its database when it
//! started (or `server.listen`), and says what changed or why it refused.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;

use crate::config;

pub async fn reload(cfg: &Path) -> anyhow::Result<()> {
    let settings = config::load(cfg)?;
    let token = settings.admin_token.clone().ok_or_else(|| {
        anyhow::anyhow!(
            "no admin token is set (server.admin_token_env): the server's admin API is off; send it SIGHUP instead"
        )
    })?;
    let base = super::backup::serving_address(&settings.store_path)
        .unwrap_or_else(|| format!("http://{}", connectable(&settings.listen)));
    let url = format!("{base}/admin/api/reload");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let r = client
        .post(&url)
        .bearer_auth(token)
        .send()
        .await
        .with_context(|| format!("no siaga serve answers at {base} (is it running?)"))?;
    let status = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let why = v["error"]["message"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| format!("the server answered {status}"));
    anyhow::bail!("{why}")
}

/// An address to reach a listener bound to `listen` from this host (`0.0.0.0` and `[::]`
/// are reached on loopback).
fn connectable(listen: &str) -> String {
    if let Some(port) = listen.strip_prefix("0.0.0.0:") {
        return format!("127.0.0.1:{port}");
    }
    if let Some(port) = listen.strip_prefix("[::]:") {
        return format!("[::1]:{port}");
    }
    listen.to_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn wildcard_listeners_are_reached_on_loopback() {
        assert_eq!(super::connectable("0.0.0.0:8080"), "127.0.0.1:8080");
        assert_eq!(super::connectable("[::]:8080"), "[::1]:8080");
        assert_eq!(super::connectable("10.0.0.2:80"), "10.0.0.2:80");
    }
}
