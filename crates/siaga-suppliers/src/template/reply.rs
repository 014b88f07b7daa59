//! Reading a templated supplier's reply (or report) into a [`Reply`]. Replies are
//! untrusted: no rule matching, HTML, an empty body, a non-2xx status, or a success
//! without a serial number all read as `unknown`, never as failed.

use regex::Regex;
use serde::Deserialize;
use serde_json::Value;
use siaga_domain::{FailReason, Outcome};

use crate::adapter::Reply;

/// Longest message kept for the owner's eyes.
const MAX_TEXT: usize = 200;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub enum Matcher {
    Regex(Regex),
    /// The value at `pointer` exists and (if `equals` is set) equals it, case aside, or
    /// (if `regex` is set) matches it.
    Json {
        pointer: String,
        equals: Option<String>,
        regex: Option<Regex>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleOutcome {
    Success,
    Pending,
    Failed(FailReason),
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub matcher: Matcher,
    pub outcome: RuleOutcome,
    /// The rule as written, in words (shown by `siaga supplier try`).
    pub text: String,
}

/// Which rule read a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matched {
    /// The reply could not be read at all (an HTTP error, not UTF-8, empty, HTML, not
    /// JSON): no rule was tried.
    Unread,
    /// No rule matched.
    NoRule,
    /// A success rule and a failure rule both matched.
    Ambiguous,
    /// The rule at this index (the first that matched).
    Rule(usize),
}

#[derive(Debug, Clone)]
pub enum Capture {
    /// A regex and the name of its group.
    Regex(Regex, String),
    Pointer(String),
}

#[derive(Debug, Clone)]
pub struct ReplyRules {
    pub format: Format,
    pub rules: Vec<Rule>,
    pub sn: Option<Capture>,
    pub price: Option<Capture>,
    pub supplier_ref: Option<Capture>,
    pub balance: Option<Capture>,
    pub message: Option<Capture>,
}

/// The text of a JSON scalar (strings as they are, numbers and booleans written out).
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn clean(s: &str) -> String {
    let c: String = s
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_TEXT)
        .collect();
    c.trim().to_owned()
}

/// Rupiah written the Indonesian way (`100.962.173`, `Rp 24,950`) or plainly.
fn rupiah(s: &str) -> Option<i64> {
    let digits: String = s
        .split([',', '.'])
        .enumerate()
        .filter(|(i, part)| *i == 0 || part.len() == 3)
        .map(|(_, p)| p)
        .collect::<String>()
        .chars()
        .filter(|c| c.is_ascii_digit())
        .collect();
    if digits.is_empty() || digits.len() > 15 {
        return None;
    }
    digits.parse().ok()
}

/// A parsed reply body: the text, and the JSON value when the format is JSON.
pub struct Body<'a> {
    pub text: &'a str,
    pub json: Option<Value>,
}

impl ReplyRules {
    fn matches(&self, m: &Matcher, b: &Body<'_>) -> bool {
        match m {
            Matcher::Regex(re) => re.is_match(b.text),
            Matcher::Json {
                pointer,
                equals,
                regex,
            } => {
                let Some(v) = b.json.as_ref().and_then(|j| j.pointer(pointer)) else {
                    return false;
                };
                match (equals, regex, scalar(v)) {
                    (Some(want), _, Some(got)) => got.trim().eq_ignore_ascii_case(want),
                    (None, Some(re), Some(got)) => re.is_match(&got),
                    (None, None, _) => !v.is_null(),
                    (_, _, None) => false,
                }
            }
        }
    }

    /// Which rule reads `b`: the first that matches. A reply that a success rule and a
    /// failure rule both match is ambiguous (read as `unknown`).
    pub fn matched(&self, b: &Body<'_>) -> Matched {
        let hits: Vec<usize> = (0..self.rules.len())
            .filter(|&i| self.matches(&self.rules[i].matcher, b))
            .collect();
        let outcome = |i: &usize| self.rules[*i].outcome;
        let success = hits.iter().any(|i| outcome(i) == RuleOutcome::Success);
        let failed = hits
            .iter()
            .any(|i| matches!(outcome(i), RuleOutcome::Failed(_)));
        match hits.first() {
            _ if success && failed => Matched::Ambiguous,
            Some(&i) => Matched::Rule(i),
            None => Matched::NoRule,
        }
    }

    /// Whether both a success rule and a failure rule match `b` (a config error when a
    /// known sample does).
    pub fn ambiguous(&self, b: &Body<'_>) -> bool {
        let any = |f: &dyn Fn(RuleOutcome) -> bool| {
            self.rules
                .iter()
                .any(|r| f(r.outcome) && self.matches(&r.matcher, b))
        };
        any(&|o| o == RuleOutcome::Success) && any(&|o| matches!(o, RuleOutcome::Failed(_)))
    }

    fn take(&self, c: &Option<Capture>, b: &Body<'_>) -> Option<String> {
        let got = match c.as_ref()? {
            Capture::Regex(re, group) => re.captures(b.text)?.name(group)?.as_str().to_owned(),
            Capture::Pointer(p) => scalar(b.json.as_ref()?.pointer(p)?)?,
        };
        let got = clean(&got);
        let got = got.trim_end_matches(['.', ',', ';']).trim().to_owned();
        (!got.is_empty()).then_some(got)
    }

    /// Parses `raw` for this format; `None` when it cannot be read at all (HTML, not JSON).
    pub fn body<'a>(&self, raw: &'a str) -> Option<Body<'a>> {
        let t = raw.trim_start();
        if t.is_empty() || t.starts_with('<') {
            return None;
        }
        let json = match self.format {
            Format::Text => None,
            Format::Json => Some(serde_json::from_str::<Value>(raw).ok()?),
        };
        Some(Body { text: raw, json })
    }

    /// The reply to a request (or a report's message) read into a [`Reply`].
    pub fn read(&self, http_status: u16, raw: &[u8]) -> Reply {
        self.read_traced(http_status, raw).0
    }

    /// [`read`](Self::read), also saying which rule read it.
    pub fn read_traced(&self, http_status: u16, raw: &[u8]) -> (Reply, Matched) {
        let mut reply = Reply::bare(Outcome::Unknown, "");
        reply.http_status = Some(http_status);
        let Ok(text) = std::str::from_utf8(raw) else {
            reply.message = Some("reply is not UTF-8".into());
            return (reply, Matched::Unread);
        };
        reply.message = Some(clean(text));
        if !(200..300).contains(&http_status) {
            reply.message = Some(format!("HTTP {http_status}"));
            return (reply, Matched::Unread);
        }
        let Some(b) = self.body(text) else {
            reply.message = Some("reply is empty, HTML or not in the expected format".into());
            return (reply, Matched::Unread);
        };
        if let Some(m) = self.take(&self.message, &b) {
            reply.message = Some(m);
        }
        reply.price = self.take(&self.price, &b).and_then(|p| rupiah(&p));
        reply.supplier_balance = self.take(&self.balance, &b).and_then(|p| rupiah(&p));
        let matched = self.matched(&b);
        let rule = match matched {
            Matched::Rule(i) => Some(self.rules[i].outcome),
            _ => None,
        };
        reply.outcome = match rule {
            None => Outcome::Unknown,
            Some(RuleOutcome::Pending) => Outcome::Pending,
            Some(RuleOutcome::Failed(r)) => Outcome::Failed(r),
            // A success is proof only with a serial number.
            Some(RuleOutcome::Success) => match self.take(&self.sn, &b) {
                Some(sn) => Outcome::Success { sn },
                None => Outcome::Unknown,
            },
        };
        (reply, matched)
    }

    /// The supplier's own reference, when the rules capture it.
    pub fn supplier_ref(&self, raw: &str) -> Option<String> {
        let b = self.body(raw)?;
        self.take(&self.supplier_ref, &b)
    }

    /// The balance in a `/balance`-like reply.
    pub fn balance(&self, raw: &str) -> Option<i64> {
        let b = self.body(raw)?;
        self.take(&self.balance, &b).and_then(|p| rupiah(&p))
    }
}

#[cfg(test)]
mod tests {
    use super::rupiah;

    #[test]
    fn rupiah_reads_indonesian_numbers() {
        assert_eq!(rupiah("100.962.173"), Some(100_962_173));
        assert_eq!(rupiah("24,950"), Some(24_950));
        assert_eq!(rupiah("10150"), Some(10_150));
        assert_eq!(rupiah("Rp 5.000"), Some(5_000));
        assert_eq!(rupiah("x"), None);
    }
}
