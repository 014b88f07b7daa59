//! The `http-template` dialect (SPEC 6.1.1): any HTTP supplier from config alone. Requests
//! are templates with placeholders and a sign rule; replies and reports are read by data
//! rules (`reply.rs`); presets (`presets/*.toml`) are the same data, shipped.

pub mod reply;
pub mod spec;
#[cfg(test)]
mod tests;

use std::time::Duration;

use async_trait::async_trait;
use siaga_domain::{FailReason, Outcome};

use crate::adapter::{
    Adapter, IncomingReport, PriceItem, Reply, ReportError, SupplierReport, TopupRequest,
};
use crate::sign;
pub use reply::ReplyRules;
pub use spec::{Locate, RequestCfg, TemplateCfg};

/// Replies larger than this are not read further and count as `unknown`.
pub const MAX_REPLY_BYTES: usize = 64 * 1024;

/// A checked template: requests, reply rules and where reports carry their fields.
#[derive(Debug, Clone)]
pub struct Template {
    pub topup: RequestCfg,
    pub inquiry: RequestCfg,
    pub balance: Option<RequestCfg>,
    pub reply: ReplyRules,
    pub callback: Option<spec::CallbackCfg>,
}

impl Template {
    /// Loads `preset` with `over` on top and checks everything: placeholders, regexes,
    /// pointers, and that each known sample reply reads as it should and is never matched
    /// by both a success rule and a failure rule.
    pub fn load(preset: Option<&str>, over: Option<&toml::Table>) -> Result<Template, String> {
        let cfg = spec::load(preset, over)?;
        let topup = cfg.topup.ok_or("template.topup is missing")?;
        spec::check_request("topup", &topup)?;
        let inquiry = cfg.inquiry.unwrap_or_else(|| topup.clone());
        spec::check_request("inquiry", &inquiry)?;
        if let Some(b) = &cfg.balance {
            spec::check_request("balance", b)?;
        }
        let reply = spec::compile_reply(cfg.reply.as_ref().ok_or("template.reply is missing")?)?;
        for (i, s) in cfg.samples.iter().enumerate() {
            check_sample(&reply, s).map_err(|m| format!("samples[{i}]: {m}"))?;
        }
        Ok(Template {
            topup,
            inquiry,
            balance: cfg.balance,
            reply,
            callback: cfg.callback,
        })
    }
}

/// What `outcome` is called in a sample's `reads`.
pub fn reads(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Failed(r) => format!("failed:{}", r.as_str()),
        o => o.label().to_owned(),
    }
}

fn check_sample(rules: &ReplyRules, s: &spec::Sample) -> Result<(), String> {
    if rules.body(&s.body).is_some_and(|b| rules.ambiguous(&b)) {
        return Err(format!(
            "{:?} is matched by a success rule and a failure rule",
            s.body
        ));
    }
    let got = rules.read(s.status, s.body.as_bytes());
    if reads(&got.outcome) != s.reads {
        return Err(format!(
            "{:?} reads as {}, expected {}",
            s.body,
            reads(&got.outcome),
            s.reads
        ));
    }
    if let (Some(want), Outcome::Success { sn }) = (&s.sn, &got.outcome) {
        if want != sn {
            return Err(format!(
                "{:?}: SN read as {sn:?}, expected {want:?}",
                s.body
            ));
        }
    }
    Ok(())
}

/// One templated supplier's settings, secrets resolved.
#[derive(Debug, Clone)]
pub struct TemplateConfig {
    pub id: String,
    pub base_url: String,
    pub username: String,
    pub key: String,
    pub password: String,
    pub callback_secret: Option<String>,
    /// This supplier's report URL (with the secret), for `{callback_url}`.
    pub callback_url: String,
    pub timeout: Duration,
}

pub struct HttpTemplate {
    cfg: TemplateConfig,
    tpl: std::sync::Arc<Template>,
    client: reqwest::Client,
}

/// Replaces each known `{name}` in `s` by `value(name)`.
pub fn render(s: &str, value: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after
            .find('}')
            .and_then(|c| value(&after[..c]).map(|v| (c, v)))
        {
            Some((close, v)) => {
                out.push_str(&v);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

impl HttpTemplate {
    pub fn new(
        cfg: TemplateConfig,
        tpl: std::sync::Arc<Template>,
        client: reqwest::Client,
    ) -> HttpTemplate {
        HttpTemplate { cfg, tpl, client }
    }

    fn var(&self, req: Option<&TopupRequest<'_>>, name: &str) -> Option<String> {
        let c = &self.cfg;
        Some(match name {
            "ref_id" => req.map(|r| r.supplier_ref).unwrap_or_default().to_owned(),
            "sku" => req.map(|r| r.sku).unwrap_or_default().to_owned(),
            "destination" => req.map(|r| r.destination).unwrap_or_default().to_owned(),
            "username" => c.username.clone(),
            "key" => c.key.clone(),
            "password" => c.password.clone(),
            "callback_secret" => c.callback_secret.clone().unwrap_or_default(),
            "callback_url" => c.callback_url.clone(),
            _ => return None,
        })
    }

    /// The request of template `r` for `req` (`None`: a balance request).
    fn build(&self, r: &RequestCfg, req: Option<&TopupRequest<'_>>) -> reqwest::RequestBuilder {
        let sign = r.sign.as_ref().map(|s| {
            let input = render(&s.input, &|n| self.var(req, n));
            sign::encode(s.encoding, &sign::digest(s.algo, &self.cfg.key, &input))
        });
        let value = |n: &str| match n {
            "sign" => sign.clone(),
            _ => self.var(req, n),
        };
        let url = format!(
            "{}/{}",
            self.cfg.base_url.trim_end_matches('/'),
            render(&r.path, &value).trim_start_matches('/')
        );
        let fields: Vec<(String, String)> = r
            .fields
            .iter()
            .map(|(k, v)| (k.clone(), render(v, &value)))
            .collect();
        let mut b = match r.method {
            spec::Method::GET => self.client.get(url),
            spec::Method::POST => self.client.post(url),
        };
        b = match r.encoding {
            spec::BodyEncoding::Query => b.query(&fields),
            spec::BodyEncoding::Form => b.form(&fields),
            spec::BodyEncoding::Json => {
                let map: serde_json::Map<String, serde_json::Value> = fields
                    .into_iter()
                    .map(|(k, v)| (k, serde_json::Value::String(v)))
                    .collect();
                b.json(&map)
            }
        };
        for (k, v) in &r.headers {
            b = b.header(k.as_str(), render(v, &value));
        }
        b.timeout(self.cfg.timeout)
    }

    async fn send(&self, b: reqwest::RequestBuilder) -> Result<(u16, Vec<u8>), Reply> {
        let mut resp = b.send().await.map_err(|e| transport_error(&e))?;
        let status = resp.status().as_u16();
        let mut buf = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) if buf.len() + chunk.len() > MAX_REPLY_BYTES => {
                    let mut r = Reply::bare(Outcome::Unknown, "reply too large");
                    r.http_status = Some(status);
                    return Err(r);
                }
                Ok(Some(chunk)) => buf.extend_from_slice(&chunk),
                Ok(None) => return Ok((status, buf)),
                Err(e) => {
                    let mut r = transport_error(&e);
                    r.http_status = Some(status);
                    return Err(r);
                }
            }
        }
    }

    async fn call(&self, r: &RequestCfg, req: &TopupRequest<'_>) -> Reply {
        match self.send(self.build(r, Some(req))).await {
            Ok((status, body)) => self.tpl.reply.read(status, &body),
            Err(reply) => reply,
        }
    }

    fn value_of(&self, at: &Locate, query: &str, body: &[u8]) -> Option<String> {
        if let Some(name) = &at.query {
            let from = |s: &[u8]| {
                form_urlencoded::parse(s)
                    .find(|(k, _)| k == name.as_str())
                    .map(|(_, v)| v.into_owned())
            };
            return from(query.as_bytes()).or_else(|| from(body));
        }
        let p = at.pointer.as_deref()?;
        let v: serde_json::Value = serde_json::from_slice(body).ok()?;
        match v.pointer(p)? {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
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

#[async_trait]
impl Adapter for HttpTemplate {
    fn id(&self) -> &str {
        &self.cfg.id
    }

    async fn topup(&self, req: &TopupRequest<'_>) -> Reply {
        self.call(&self.tpl.topup, req).await
    }

    async fn inquiry(&self, req: &TopupRequest<'_>) -> Reply {
        self.call(&self.tpl.inquiry, req).await
    }

    async fn balance(&self) -> Result<i64, String> {
        let r = self
            .tpl
            .balance
            .as_ref()
            .ok_or("no balance request in this supplier's template")?;
        let (status, body) = self
            .send(self.build(r, None))
            .await
            .map_err(|r| r.message.unwrap_or_default())?;
        let text = String::from_utf8_lossy(&body);
        self.tpl
            .reply
            .balance(&text)
            .ok_or_else(|| format!("HTTP {status}: no balance in the reply"))
    }

    async fn price_list(&self) -> Result<Vec<PriceItem>, String> {
        Err("http-template suppliers have no price list; costs come from the config".into())
    }

    fn parse_report(
        &self,
        _headers: &http::HeaderMap,
        _body: &[u8],
    ) -> Result<SupplierReport, ReportError> {
        // Templated suppliers report to /hooks/suppliers/{id}/{secret}.
        Err(ReportError::BadSignature)
    }

    fn parse_incoming(&self, r: &IncomingReport<'_>) -> Result<SupplierReport, ReportError> {
        let secret = self
            .cfg
            .callback_secret
            .as_deref()
            .ok_or(ReportError::NoSecret)?;
        let given = r.url_secret.ok_or(ReportError::BadSignature)?;
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            secret.as_bytes(),
            given.as_bytes(),
        )) {
            return Err(ReportError::BadSignature);
        }
        let cb = self
            .tpl
            .callback
            .as_ref()
            .ok_or_else(|| ReportError::Malformed("this template reads no reports".into()))?;
        let supplier_ref = self
            .value_of(&cb.ref_id, r.query, r.body)
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ReportError::Malformed("no reference in the report".into()))?;
        let message = match &cb.message {
            Some(at) => self.value_of(at, r.query, r.body).unwrap_or_default(),
            None => String::from_utf8_lossy(r.body).into_owned(),
        };
        let mut reply = self.tpl.reply.read(200, message.as_bytes());
        if let Some(p) = cb
            .price
            .as_ref()
            .and_then(|at| self.value_of(at, r.query, r.body))
        {
            reply.price = p.trim().parse().ok().or(reply.price);
        }
        Ok(SupplierReport {
            supplier_ref,
            reply,
        })
    }
}
