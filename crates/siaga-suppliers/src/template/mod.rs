//! The `http-template` dialect (SPEC 6.1.1): any HTTP supplier from config alone. Requests
//! are templates with placeholders and a sign rule; replies and reports are read by data
//! rules (`reply.rs`); presets (`presets/*.toml`) are the same data, shipped.

pub mod reply;
mod report;
#[cfg(test)]
mod report_tests;
pub mod request;
pub mod spec;
#[cfg(test)]
mod tests;
pub mod trace;

use std::time::Duration;

use async_trait::async_trait;
use siaga_domain::Outcome;

use crate::adapter::{
    Adapter, IncomingReport, PriceItem, Reply, ReportError, SupplierReport, TopupRequest,
};
pub use reply::{Matched, ReplyRules};
pub use request::{render, Prepared};
pub use spec::{err, Locate, RequestCfg, TemplateCfg, TemplateError};
pub use trace::{Trace, Which};

/// Replies larger than this are not read further and count as `unknown`.
pub const MAX_REPLY_BYTES: usize = 64 * 1024;

/// A checked template: requests, reply rules and where reports carry their fields.
#[derive(Debug, Clone)]
pub struct Template {
    pub topup: RequestCfg,
    /// Whether the inquiry is a template of its own (otherwise the top-up resent as is).
    pub own_inquiry: bool,
    pub inquiry: RequestCfg,
    pub balance: Option<RequestCfg>,
    pub reply: ReplyRules,
    pub callback: Option<spec::CallbackCfg>,
}

impl Template {
    /// Loads `preset` with `over` on top and checks everything: placeholders, regexes,
    /// pointers, and that each known sample reply reads as it should and is never matched
    /// by both a success rule and a failure rule.
    /// An error names its key relative to the supplier's table
    /// (`template.reply.rules[0].regex`, `preset`).
    pub fn load(
        preset: Option<&str>,
        over: Option<&toml::Table>,
    ) -> Result<Template, TemplateError> {
        let cfg = spec::load(preset, over)?;
        let topup = cfg
            .topup
            .ok_or_else(|| err("template.topup", "is missing"))?;
        spec::check_request("template.topup", &topup)?;
        let own_inquiry = cfg.inquiry.is_some();
        let inquiry = cfg.inquiry.unwrap_or_else(|| topup.clone());
        if own_inquiry {
            spec::check_request("template.inquiry", &inquiry)?;
        }
        if let Some(b) = &cfg.balance {
            spec::check_request("template.balance", b)?;
        }
        let reply = spec::compile_reply(
            cfg.reply
                .as_ref()
                .ok_or_else(|| err("template.reply", "is missing"))?,
        )?;
        if let Some(c) = &cfg.callback {
            spec::check_callback(c)?;
        }
        for (i, s) in cfg.samples.iter().enumerate() {
            check_sample(&reply, s).map_err(|m| err(format!("template.samples[{i}]"), m))?;
        }
        Ok(Template {
            topup,
            own_inquiry,
            inquiry,
            balance: cfg.balance,
            reply,
            callback: cfg.callback,
        })
    }

    /// Whether reports carry a signature this template checks (then they come to
    /// `/hooks/suppliers/{id}`; otherwise to `/hooks/suppliers/{id}/{secret}`).
    pub fn signs_reports(&self) -> bool {
        self.callback.as_ref().is_some_and(|c| c.sign.is_some())
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
            "sample {:?} is matched by a success rule and a failure rule",
            s.body
        ));
    }
    let got = rules.read(s.status, s.body.as_bytes());
    if reads(&got.outcome) != s.reads {
        return Err(format!(
            "sample {:?} reads as {}, expected {}",
            s.body,
            reads(&got.outcome),
            s.reads
        ));
    }
    if let (Some(want), Outcome::Success { sn }) = (&s.sn, &got.outcome) {
        if want != sn {
            return Err(format!(
                "sample {:?}: SN read as {sn:?}, expected {want:?}",
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

impl HttpTemplate {
    pub fn new(
        cfg: TemplateConfig,
        tpl: std::sync::Arc<Template>,
        client: reqwest::Client,
    ) -> HttpTemplate {
        HttpTemplate { cfg, tpl, client }
    }

    async fn call(&self, r: &RequestCfg, req: &TopupRequest<'_>) -> Reply {
        match self.send(&self.prepare(r, Some(req), false)).await {
            Ok((status, body)) => self.tpl.reply.read(status, &body),
            Err(reply) => reply,
        }
    }
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
            .send(&self.prepare(r, None, false))
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
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<SupplierReport, ReportError> {
        self.parse_incoming(&IncomingReport {
            query: "",
            headers,
            body,
            url_secret: None,
        })
    }

    fn parse_incoming(&self, r: &IncomingReport<'_>) -> Result<SupplierReport, ReportError> {
        self.report(r)
    }
}
