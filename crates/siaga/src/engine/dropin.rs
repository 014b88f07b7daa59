//! Reseller callbacks in Digiflazz's format (SPEC 5.1), for resellers whose
//! `callback_format` is `digiflazz`: `{"data":{...}}` as Digiflazz's own callbacks, with
//! `X-Hub-Signature: sha1=<hex HMAC-SHA1(webhook secret as handed out, body)>`.

use std::time::Duration;

use serde_json::{json, Value};

/// Posts one Digiflazz-format callback carrying `data`; `Err` says why it was not taken.
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    secret: &str,
    data: &Value,
    timeout: Duration,
) -> Result<(), String> {
    let body = serde_json::to_vec(&json!({ "data": data })).map_err(|e| e.to_string())?;
    let resp = client
        .post(url)
        .timeout(timeout)
        .header("content-type", "application/json")
        .header("user-agent", "Digiflazz-Hookshot")
        .header("x-digiflazz-event", "update")
        .header(
            "x-hub-signature",
            siaga_suppliers::sign::hub_signature(secret, &body),
        )
        .body(body)
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(format!("HTTP {}", resp.status().as_u16()))
    }
}
