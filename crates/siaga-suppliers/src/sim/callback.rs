//! Digiflazz-style callbacks (webhooks) sent by the simulator, with HMAC-SHA1 signatures and
//! a few retries.

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::engine::TxReply;

/// Attempts per callback (first try included).
const ATTEMPTS: u32 = 4;
/// Back-off before the second attempt, in ms; tripled after each further failure.
const FIRST_BACKOFF_MS: i64 = 100;

/// The wait after failed attempt number `attempt` (1-based): 100 ms, 300 ms, 900 ms.
fn backoff(attempt: u32) -> Duration {
    let ms = siaga_domain::backoff::delay_by(3, i64::from(attempt) - 1, FIRST_BACKOFF_MS, i64::MAX);
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// `sha1=<hex hmac-sha1(secret, body)>`, the `X-Hub-Signature` header value.
pub(super) fn signature(secret: &str, body: &[u8]) -> Option<String> {
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(secret.as_bytes()).ok()?;
    mac.update(body);
    Some(format!("sha1={}", hex::encode(mac.finalize().into_bytes())))
}

/// POST `{"data": reply}` to `url`; failures are logged and retried, never raised.
pub(super) async fn send(
    client: &reqwest::Client,
    url: &str,
    secret: Option<&str>,
    reply: &TxReply,
) {
    let body = match serde_json::to_vec(&serde_json::json!({ "data": reply })) {
        Ok(b) => bytes::Bytes::from(b),
        Err(e) => {
            tracing::error!(error = %e, "sim: cannot encode callback");
            return;
        }
    };
    let sig = secret.and_then(|s| signature(s, &body));
    for attempt in 1..=ATTEMPTS {
        let mut rb = client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::USER_AGENT, "Digiflazz-Hookshot")
            .header("X-Digiflazz-Event", "update")
            .body(body.clone());
        if let Some(sig) = &sig {
            rb = rb.header("X-Hub-Signature", sig.as_str());
        }
        match rb.send().await {
            Ok(resp) if resp.status().is_success() => {
                tracing::debug!(ref_id = %reply.ref_id, url, attempt, "sim: callback delivered");
                return;
            }
            Ok(resp) => tracing::warn!(ref_id = %reply.ref_id, url, attempt,
                status = resp.status().as_u16(), "sim: callback rejected"),
            Err(e) => tracing::warn!(ref_id = %reply.ref_id, url, attempt, error = %e,
                "sim: callback failed"),
        }
        if attempt < ATTEMPTS {
            tokio::time::sleep(backoff(attempt)).await;
        }
    }
    tracing::warn!(ref_id = %reply.ref_id, url, "sim: giving up on callback");
}

#[cfg(test)]
mod tests {
    #[test]
    fn signature_matches_known_vector() {
        // RFC 2202 test case 2.
        let sig = super::signature("Jefe", b"what do ya want for nothing?").expect("sig");
        assert_eq!(sig, "sha1=effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
    }

    #[test]
    fn retries_wait_100_300_900_ms() {
        let waits: Vec<u128> = (1..super::ATTEMPTS)
            .map(|a| super::backoff(a).as_millis())
            .collect();
        assert_eq!(waits, [100, 300, 900]);
    }
}
