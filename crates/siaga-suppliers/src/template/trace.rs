//! One top-up (or inquiry) through a templated supplier, step by step, for `siaga supplier
//! try`: the request as sent with its secrets masked, the HTTP status and the raw reply,
//! the rule that read it and the outcome. It goes through the very code the switch uses
//! ([`HttpTemplate::prepare`], `send`, [`ReplyRules::read_traced`](super::ReplyRules)).

use siaga_domain::Outcome;

use super::reply::Matched;
use super::request::{Prepared, MASK};
use super::HttpTemplate;
use crate::adapter::{Reply, TopupRequest};

/// How much of a raw reply a trace keeps.
pub const TRACE_RAW_BYTES: usize = 2_000;

/// Which request a trace sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Topup,
    Inquiry,
}

/// One request and what came of it.
#[derive(Debug, Clone)]
pub struct Trace {
    /// The request as sent, secrets (`{key}`, `{password}`, `{callback_secret}`, signs)
    /// shown as `***`.
    pub request: Prepared,
    /// The HTTP status, when an answer came.
    pub http_status: Option<u16>,
    /// The reply as received (lossy UTF-8, at most [`TRACE_RAW_BYTES`]), when it was read.
    pub raw: Option<String>,
    /// Which rule read it.
    pub matched: Matched,
    /// The matched rule in words, when one did.
    pub rule: Option<String>,
    /// The outcome, reason, SN, price, balance it was read as.
    pub reply: Reply,
}

impl Trace {
    /// Whether the supplier answered (whatever it said).
    pub fn answered(&self) -> bool {
        self.http_status.is_some()
    }

    /// The steps in words, one or more lines each; `secrets` are never shown (a safety
    /// net behind the masking, for values a template writes outside a placeholder).
    pub fn show(&self, secrets: &[&str]) -> String {
        let scrub = |s: &str| {
            secrets
                .iter()
                .filter(|x| x.len() >= 3)
                .fold(s.to_owned(), |acc, x| acc.replace(x, MASK))
        };
        let mut out = format!(
            "request:\n  {}\n",
            scrub(&self.request.show()).replace('\n', "\n  ")
        );
        match (self.http_status, &self.raw) {
            (Some(status), Some(raw)) => {
                out.push_str(&format!(
                    "reply: HTTP {status}\n  {}\n",
                    raw.replace('\n', "\n  ")
                ));
            }
            (Some(status), None) => out.push_str(&format!("reply: HTTP {status} (not read)\n")),
            (None, _) => out.push_str("reply: none\n"),
        }
        let rule = match (self.matched, &self.rule) {
            (Matched::Rule(i), Some(text)) => format!("rule {i} matched: {text}"),
            (Matched::Rule(i), None) => format!("rule {i} matched"),
            (Matched::Ambiguous, _) => {
                "a success rule and a failure rule both matched → unknown".to_owned()
            }
            (Matched::NoRule, _) => "no rule matched → unknown".to_owned(),
            (Matched::Unread, _) => {
                "no rule tried (the reply could not be read) → unknown".to_owned()
            }
        };
        out.push_str(&format!("{rule}\n"));
        out.push_str(&format!("outcome: {}", describe(&self.reply)));
        if let Some(m) = self.reply.message.as_deref().filter(|_| self.raw.is_none()) {
            out.push_str(&format!(" ({m})"));
        }
        out
    }
}

/// `success sn=… price=… balance=…`, `failed reason=destination`.
pub fn describe(r: &Reply) -> String {
    let mut s = match &r.outcome {
        Outcome::Success { sn } => format!("success sn={sn}"),
        Outcome::Failed(why) => format!("failed reason={}", why.as_str()),
        o => o.label().to_owned(),
    };
    if let Some(p) = r.price {
        s.push_str(&format!(" price={p}"));
    }
    if let Some(b) = r.supplier_balance {
        s.push_str(&format!(" balance={b}"));
    }
    s
}

impl HttpTemplate {
    /// Sends the top-up (or its inquiry) for `req` once and says what happened at each step.
    pub async fn trace(&self, which: Which, req: &TopupRequest<'_>) -> Trace {
        let r = match which {
            Which::Topup => &self.tpl.topup,
            Which::Inquiry => &self.tpl.inquiry,
        };
        let shown = self.prepare(r, Some(req), true);
        match self.send(&self.prepare(r, Some(req), false)).await {
            Ok((status, body)) => {
                let (reply, matched) = self.tpl.reply.read_traced(status, &body);
                let cut = &body[..body.len().min(TRACE_RAW_BYTES)];
                Trace {
                    request: shown,
                    http_status: Some(status),
                    raw: Some(String::from_utf8_lossy(cut).into_owned()),
                    matched,
                    rule: match matched {
                        Matched::Rule(i) => self.tpl.reply.rules.get(i).map(|r| r.text.clone()),
                        _ => None,
                    },
                    reply,
                }
            }
            Err(reply) => Trace {
                request: shown,
                http_status: reply.http_status,
                raw: None,
                matched: Matched::Unread,
                rule: None,
                reply,
            },
        }
    }

    /// [`trace`](Self::trace) of the top-up.
    pub async fn trace_topup(&self, req: &TopupRequest<'_>) -> Trace {
        self.trace(Which::Topup, req).await
    }
}
