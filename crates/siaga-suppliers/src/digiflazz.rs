//! The Digiflazz buyer dialect (SUPPLIERS.md): signed JSON requests, `{"data":{...}}`
//! replies classified by the rc table, `X-Hub-Signature` callbacks.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{json, Value};
use siaga_domain::outcome::DIGIFLAZZ;
use siaga_domain::{FailReason, Outcome};

use crate::adapter::{Adapter, PriceItem, Reply, ReportError, SupplierReport, TopupRequest};
use crate::sign;

/// Replies larger than this are not read further and count as `unknown`.
pub const MAX_REPLY_BYTES: usize = 64 * 1024;
const MAX_TEXT: usize = 200;

#[derive(Debug, Clone)]
pub struct DigiflazzConfig {
    pub id: String,
    /// Ends in `/v1`, like Digiflazz's own.
    pub base_url: String,
    pub username: String,
    pub key: String,
    pub callback_secret: Option<String>,
    pub timeout: Duration,
    /// Sent as `testing: true` (Digiflazz's sandbox behaviour).
    pub testing: bool,
}

pub struct Digiflazz {
    cfg: DigiflazzConfig,
    client: reqwest::Client,
}

impl Digiflazz {
    /// `client` is the process's one outbound HTTP client; the timeout is per request.
    pub fn new(cfg: DigiflazzConfig, client: reqwest::Client) -> Digiflazz {
        Digiflazz { cfg, client }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{}", self.cfg.base_url.trim_end_matches('/'), path)
    }

    fn transaction_body(&self, req: &TopupRequest<'_>) -> Value {
        let mut body = json!({
            "username": self.cfg.username,
            "buyer_sku_code": req.sku,
            "customer_no": req.destination,
            "ref_id": req.supplier_ref,
            "sign": sign::md5_hex(&[&self.cfg.username, &self.cfg.key, req.supplier_ref]),
        });
        if self.cfg.testing {
            body["testing"] = Value::Bool(true);
        }
        body
    }

    async fn post(&self, path: &str, body: &Value) -> Result<(u16, Vec<u8>), Reply> {
        let sent = self
            .client
            .post(self.url(path))
            .timeout(self.cfg.timeout)
            .json(body)
            .send()
            .await;
        let mut resp = match sent {
            Ok(r) => r,
            Err(e) => return Err(transport_error(&e)),
        };
        let status = resp.status().as_u16();
        let mut buf = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if buf.len() + chunk.len() > MAX_REPLY_BYTES {
                        let mut r = Reply::bare(Outcome::Unknown, "reply too large");
                        r.http_status = Some(status);
                        return Err(r);
                    }
                    buf.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    let mut r = transport_error(&e);
                    r.http_status = Some(status);
                    return Err(r);
                }
            }
        }
        Ok((status, buf))
    }

    async fn transaction(&self, req: &TopupRequest<'_>) -> Reply {
        let body = self.transaction_body(req);
        match self.post("transaction", &body).await {
            Ok((status, bytes)) => classify_reply(status, &bytes, Some(req.supplier_ref)),
            Err(r) => r,
        }
    }
}

/// A transport failure: `not_sent` only when the request provably never left.
fn transport_error(e: &reqwest::Error) -> Reply {
    if e.is_builder() {
        return Reply::bare(
            Outcome::Failed(FailReason::Config),
            "request could not be built",
        );
    }
    if e.is_connect() {
        return Reply::bare(
            Outcome::Failed(FailReason::NotSent),
            "connection failed before sending",
        );
    }
    if e.is_timeout() {
        return Reply::bare(Outcome::Unknown, "timed out waiting for the supplier");
    }
    Reply::bare(Outcome::Unknown, "connection broke after sending")
}

fn text(v: &Value) -> Option<String> {
    let s = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let clean: String = s
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_TEXT)
        .collect();
    Some(clean.trim().to_owned())
}

fn integer(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Classifies a reply body. `expect_ref`: a reply about another reference is not trusted.
pub fn classify_reply(http_status: u16, body: &[u8], expect_ref: Option<&str>) -> Reply {
    let mut reply = Reply::bare(Outcome::Unknown, "");
    reply.http_status = Some(http_status);
    reply.message = None;
    if http_status >= 500 {
        reply.message = Some(format!("HTTP {http_status}"));
        return reply;
    }
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        reply.message = Some("reply is not JSON".into());
        return reply;
    };
    let data = &v["data"];
    if !data.is_object() {
        reply.message = Some("reply has no data object".into());
        return reply;
    }
    if let (Some(want), Some(got)) = (expect_ref, text(&data["ref_id"])) {
        if !got.is_empty() && got != want {
            reply.message = Some("reply is about another ref_id".into());
            return reply;
        }
    }
    let status = text(&data["status"]);
    let rc = text(&data["rc"]);
    let sn = text(&data["sn"]).unwrap_or_default();
    reply.outcome = DIGIFLAZZ.classify(status.as_deref(), rc.as_deref(), &sn);
    // A reply that does not name our reference is trusted only when it says the request was
    // refused before anything could happen (credentials, deposit, maintenance); a success,
    // a pending or any other failure without our ref_id is settled by inquiry instead.
    let named = text(&data["ref_id"]).is_some_and(|r| !r.is_empty());
    if expect_ref.is_some() && !named {
        let refused_upfront = matches!(
            reply.outcome,
            Outcome::Failed(
                FailReason::Config | FailReason::SupplierBalance | FailReason::Maintenance
            )
        );
        if !refused_upfront {
            reply.outcome = Outcome::Unknown;
            reply.rc = rc;
            reply.message = Some("reply does not name our ref_id".into());
            return reply;
        }
    }
    reply.rc = rc;
    reply.message = text(&data["message"]);
    reply.supplier_balance = integer(&data["buyer_last_saldo"]);
    reply.price = integer(&data["price"]);
    // What the reply says the top-up is (an empty field is not echoed): the engine checks it
    // against the attempt before believing the outcome.
    reply.customer_no = text(&data["customer_no"]).filter(|s| !s.is_empty());
    reply.sku = text(&data["buyer_sku_code"]).filter(|s| !s.is_empty());
    reply
}

#[async_trait]
impl Adapter for Digiflazz {
    fn id(&self) -> &str {
        &self.cfg.id
    }

    async fn topup(&self, req: &TopupRequest<'_>) -> Reply {
        self.transaction(req).await
    }

    async fn inquiry(&self, req: &TopupRequest<'_>) -> Reply {
        // Digiflazz: the status of a transaction is the same request with the same ref_id.
        let mut reply = self.transaction(req).await;
        reply.outcome = DIGIFLAZZ.inquiry_outcome(reply.outcome, reply.rc.as_deref());
        reply
    }

    async fn balance(&self) -> Result<i64, String> {
        let body = json!({
            "cmd": "deposit",
            "username": self.cfg.username,
            "sign": sign::md5_hex(&[&self.cfg.username, &self.cfg.key, "depo"]),
        });
        let (status, bytes) = self
            .post("cek-saldo", &body)
            .await
            .map_err(|r| r.message.unwrap_or_default())?;
        let v: Value = serde_json::from_slice(&bytes)
            .map_err(|_| format!("HTTP {status}: reply is not JSON"))?;
        integer(&v["data"]["deposit"]).ok_or_else(|| {
            format!(
                "HTTP {status}: no deposit in reply (rc {})",
                text(&v["data"]["rc"]).unwrap_or_default()
            )
        })
    }

    async fn price_list(&self) -> Result<Vec<PriceItem>, String> {
        let body = json!({
            "cmd": "prepaid",
            "username": self.cfg.username,
            "sign": sign::md5_hex(&[&self.cfg.username, &self.cfg.key, "pricelist"]),
        });
        let (status, bytes) = self
            .post("price-list", &body)
            .await
            .map_err(|r| r.message.unwrap_or_default())?;
        let v: Value = serde_json::from_slice(&bytes)
            .map_err(|_| format!("HTTP {status}: reply is not JSON"))?;
        let Some(items) = v["data"].as_array() else {
            return Err(format!(
                "HTTP {status}: no price list in reply (rc {})",
                text(&v["data"]["rc"]).unwrap_or_default()
            ));
        };
        Ok(items
            .iter()
            .filter_map(|i| {
                Some(PriceItem {
                    sku: text(&i["buyer_sku_code"]).filter(|s| !s.is_empty())?,
                    price: integer(&i["price"]).filter(|p| *p > 0)?,
                    buyer_status: i["buyer_product_status"].as_bool().unwrap_or(false),
                    seller_status: i["seller_product_status"].as_bool().unwrap_or(false),
                    start_cut_off: text(&i["start_cut_off"]).unwrap_or_else(|| "00:00".into()),
                    end_cut_off: text(&i["end_cut_off"]).unwrap_or_else(|| "00:00".into()),
                })
            })
            .collect())
    }

    fn parse_report(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<SupplierReport, ReportError> {
        let secret = self
            .cfg
            .callback_secret
            .as_deref()
            .ok_or(ReportError::NoSecret)?;
        let header = headers
            .get("x-hub-signature")
            .and_then(|h| h.to_str().ok())
            .ok_or(ReportError::BadSignature)?;
        if !sign::verify_hub_signature(secret, body, header) {
            return Err(ReportError::BadSignature);
        }
        let v: Value =
            serde_json::from_slice(body).map_err(|_| ReportError::Malformed("not JSON".into()))?;
        let supplier_ref = text(&v["data"]["ref_id"])
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ReportError::Malformed("no data.ref_id".into()))?;
        let reply = classify_reply(200, body, None);
        Ok(SupplierReport {
            supplier_ref,
            reply,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_bodies() {
        let ok = br#"{"data":{"ref_id":"A1","status":"Sukses","rc":"00","sn":"123","buyer_last_saldo":90000,"price":10150,"message":"ok"}}"#;
        let r = classify_reply(200, ok, Some("A1"));
        assert_eq!(r.outcome, Outcome::Success { sn: "123".into() });
        assert_eq!(r.supplier_balance, Some(90000));
        assert_eq!(r.price, Some(10150));
        // Fields it does not echo stay absent.
        assert_eq!((r.customer_no.as_deref(), r.sku.as_deref()), (None, None));
        let echo = br#"{"data":{"ref_id":"A1","customer_no":"081234567801","buyer_sku_code":"xld10","status":"Sukses","rc":"00","sn":"1"}}"#;
        let r = classify_reply(200, echo, Some("A1"));
        assert_eq!(r.customer_no.as_deref(), Some("081234567801"));
        assert_eq!(r.sku.as_deref(), Some("xld10"));
        let empty = br#"{"data":{"ref_id":"A1","customer_no":"","buyer_sku_code":" ","status":"Sukses","rc":"00","sn":"1"}}"#;
        let r = classify_reply(200, empty, Some("A1"));
        assert_eq!((r.customer_no.as_deref(), r.sku.as_deref()), (None, None));
        let other_ref = classify_reply(200, ok, Some("B2"));
        assert_eq!(other_ref.outcome, Outcome::Unknown);
        let gagal = br#"{"data":{"ref_id":"A1","status":"Gagal","rc":"54","sn":""}}"#;
        assert_eq!(
            classify_reply(200, gagal, Some("A1")).outcome,
            Outcome::Failed(FailReason::Destination)
        );
        // an error with a 4xx status still carries its rc
        let sig = br#"{"data":{"rc":"41","message":"Signature Anda salah"}}"#;
        assert_eq!(
            classify_reply(400, sig, Some("A1")).outcome,
            Outcome::Failed(FailReason::Config)
        );
        assert_eq!(
            classify_reply(500, ok, Some("A1")).outcome,
            Outcome::Unknown
        );
        assert_eq!(
            classify_reply(200, b"<html>", Some("A1")).outcome,
            Outcome::Unknown
        );
        assert_eq!(
            classify_reply(200, b"{\"data\":[]}", Some("A1")).outcome,
            Outcome::Unknown
        );
        // Without our ref_id only an up-front refusal is believed.
        let no_ref_ok = br#"{"data":{"status":"Sukses","rc":"00","sn":"123"}}"#;
        assert_eq!(
            classify_reply(200, no_ref_ok, Some("A1")).outcome,
            Outcome::Unknown
        );
        let no_ref_gagal = br#"{"data":{"ref_id":"","status":"Gagal","rc":"54","sn":""}}"#;
        assert_eq!(
            classify_reply(200, no_ref_gagal, Some("A1")).outcome,
            Outcome::Unknown
        );
        let no_ref_saldo =
            br#"{"data":{"status":"Gagal","rc":"44","message":"Saldo tidak cukup"}}"#;
        assert_eq!(
            classify_reply(200, no_ref_saldo, Some("A1")).outcome,
            Outcome::Failed(FailReason::SupplierBalance)
        );
    }

    #[test]
    fn callback_needs_a_valid_signature() {
        let client = reqwest::Client::new();
        let mut cfg = DigiflazzConfig {
            id: "d".into(),
            base_url: "http://127.0.0.1:9/v1".into(),
            username: "u".into(),
            key: "k".into(),
            callback_secret: Some("s3cret".into()),
            timeout: Duration::from_secs(1),
            testing: false,
        };
        let a = Digiflazz::new(cfg.clone(), client.clone());
        let body = br#"{"data":{"ref_id":"R1","status":"Sukses","rc":"00","sn":"99"}}"#;
        let mut h = http::HeaderMap::new();
        assert_eq!(
            a.parse_report(&h, body).err(),
            Some(ReportError::BadSignature)
        );
        h.insert(
            "x-hub-signature",
            sign::hub_signature("wrong", body).parse().unwrap(),
        );
        assert_eq!(
            a.parse_report(&h, body).err(),
            Some(ReportError::BadSignature)
        );
        h.insert(
            "x-hub-signature",
            sign::hub_signature("s3cret", body).parse().unwrap(),
        );
        let rep = a.parse_report(&h, body).unwrap();
        assert_eq!(rep.supplier_ref, "R1");
        assert_eq!(rep.reply.outcome, Outcome::Success { sn: "99".into() });
        cfg.callback_secret = None;
        let b = Digiflazz::new(cfg, client);
        assert_eq!(b.parse_report(&h, body).err(), Some(ReportError::NoSecret));
    }
}
