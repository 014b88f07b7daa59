//! What `[suppliers.template]` (and a preset file) deserialises into, the preset merge
//! (config keys override the preset's), and the compile step that checks every regex,
//! pointer and placeholder before a supplier is used.

use std::collections::BTreeMap;

use regex::Regex;
use serde::Deserialize;
use siaga_domain::FailReason;

use super::reply::{Capture, Format, Matcher, ReplyRules, Rule, RuleOutcome};
use crate::sign::{Algo, Encoding};

/// The presets shipped with siaga (data files in the repo).
pub const PRESETS: [(&str, &str); 3] = [
    ("otomax", include_str!("../../presets/otomax.toml")),
    ("iak", include_str!("../../presets/iak.toml")),
    (
        "tokovoucher",
        include_str!("../../presets/tokovoucher.toml"),
    ),
];

/// Placeholders a template may use (SPEC 6.1.1).
pub const PLACEHOLDERS: [&str; 9] = [
    "ref_id",
    "sku",
    "destination",
    "username",
    "key",
    "password",
    "sign",
    "callback_secret",
    "callback_url",
];

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateCfg {
    pub topup: Option<RequestCfg>,
    /// Default: the top-up resent as is.
    pub inquiry: Option<RequestCfg>,
    pub balance: Option<RequestCfg>,
    pub reply: Option<ReplyCfg>,
    pub callback: Option<CallbackCfg>,
    /// Known replies and what they must read as (presets): checked at every load.
    #[serde(default)]
    pub samples: Vec<Sample>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum Method {
    #[default]
    #[serde(alias = "get")]
    GET,
    #[serde(alias = "post")]
    POST,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BodyEncoding {
    #[default]
    Query,
    Form,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignCfg {
    pub algo: Algo,
    pub encoding: Encoding,
    pub input: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestCfg {
    #[serde(default)]
    pub method: Method,
    pub path: String,
    #[serde(default)]
    pub encoding: BodyEncoding,
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub sign: Option<SignCfg>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleCfg {
    pub regex: Option<String>,
    pub pointer: Option<String>,
    pub equals: Option<String>,
    pub outcome: String,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum CaptureCfg {
    Regex(String),
    Pointer { pointer: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyCfg {
    #[serde(default)]
    pub format: Format,
    pub rules: Vec<RuleCfg>,
    pub sn: Option<CaptureCfg>,
    pub price: Option<CaptureCfg>,
    pub supplier_ref: Option<CaptureCfg>,
    pub balance: Option<CaptureCfg>,
    pub message: Option<CaptureCfg>,
}

/// Where a report carries a value: a query (or form) parameter, or a JSON pointer.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Locate {
    pub query: Option<String>,
    pub pointer: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallbackCfg {
    pub ref_id: Locate,
    /// What goes through the reply rules; default: the whole body.
    pub message: Option<Locate>,
    pub price: Option<Locate>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sample {
    #[serde(default = "ok_status")]
    pub status: u16,
    pub body: String,
    /// `success`, `pending`, `failed:<reason>` or `unknown`.
    pub reads: String,
    pub sn: Option<String>,
}

fn ok_status() -> u16 {
    200
}

/// The text of a shipped preset, by name.
pub fn preset(name: &str) -> Option<&'static str> {
    PRESETS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// `over` written on top of `base`: tables merge key by key, anything else is replaced.
pub fn merge(base: &mut toml::Table, over: &toml::Table) {
    for (k, v) in over {
        match (base.get_mut(k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

/// The preset (if any) with the config's keys over it, deserialised.
pub fn load(preset_name: Option<&str>, over: Option<&toml::Table>) -> Result<TemplateCfg, String> {
    let mut table = match preset_name {
        None => toml::Table::new(),
        Some(n) => {
            let text = preset(n).ok_or_else(|| {
                let names: Vec<_> = PRESETS.iter().map(|(n, _)| *n).collect();
                format!("unknown preset {n:?} (known: {})", names.join(", "))
            })?;
            text.parse::<toml::Table>()
                .map_err(|e| format!("preset {n}: {e}"))?
        }
    };
    if let Some(o) = over {
        merge(&mut table, o);
    }
    toml::Value::Table(table)
        .try_into::<TemplateCfg>()
        .map_err(|e| e.to_string())
}

/// Every `{name}` in `s`.
pub fn placeholders(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                let name = &after[..close];
                if !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                    out.push(name);
                }
                rest = &after[close + 1..];
            }
            None => break,
        }
    }
    out
}

fn check_placeholders(what: &str, s: &str, allow_sign: bool) -> Result<(), String> {
    for p in placeholders(s) {
        if !PLACEHOLDERS.contains(&p) || (p == "sign" && !allow_sign) {
            return Err(format!("{what}: unknown placeholder {{{p}}}"));
        }
    }
    Ok(())
}

/// Checks a request template's placeholders; `what` names it in errors.
pub fn check_request(what: &str, r: &RequestCfg) -> Result<(), String> {
    check_placeholders(&format!("{what}.path"), &r.path, true)?;
    for (k, v) in r.fields.iter().chain(r.headers.iter()) {
        check_placeholders(&format!("{what}.{k}"), v, true)?;
    }
    if let Some(s) = &r.sign {
        check_placeholders(&format!("{what}.sign.input"), &s.input, false)?;
    }
    Ok(())
}

fn regex(what: &str, s: &str) -> Result<Regex, String> {
    regex::RegexBuilder::new(s)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| format!("{what}: bad regex: {e}"))
}

fn capture(what: &str, c: &Option<CaptureCfg>, group: &str) -> Result<Option<Capture>, String> {
    match c {
        None => Ok(None),
        Some(CaptureCfg::Pointer { pointer }) if pointer.is_empty() || pointer.starts_with('/') => {
            Ok(Some(Capture::Pointer(pointer.clone())))
        }
        Some(CaptureCfg::Pointer { .. }) => Err(format!("{what}: a pointer starts with /")),
        Some(CaptureCfg::Regex(s)) => {
            let re = regex(what, s)?;
            if !re.capture_names().any(|n| n == Some(group)) {
                return Err(format!("{what}: the regex has no (?P<{group}>...) group"));
            }
            Ok(Some(Capture::Regex(re, group.to_owned())))
        }
    }
}

fn outcome(what: &str, r: &RuleCfg) -> Result<RuleOutcome, String> {
    match (r.outcome.as_str(), r.reason.as_deref()) {
        ("success", None) => Ok(RuleOutcome::Success),
        ("pending", None) => Ok(RuleOutcome::Pending),
        ("failed", None) => Ok(RuleOutcome::Failed(FailReason::Other)),
        ("failed", Some(reason)) => FailReason::parse(reason)
            .map(RuleOutcome::Failed)
            .ok_or_else(|| format!("{what}.reason: {reason:?} is not a reason of SPEC 6.3")),
        ("success" | "pending", Some(_)) => Err(format!("{what}: only failed takes a reason")),
        (o, _) => Err(format!(
            "{what}.outcome: {o:?} is not success, pending or failed"
        )),
    }
}

/// Compiles the reply rules; every regex and pointer is checked here.
pub fn compile_reply(r: &ReplyCfg) -> Result<ReplyRules, String> {
    if r.rules.is_empty() {
        return Err("reply.rules: at least one rule is needed".into());
    }
    let mut rules = Vec::with_capacity(r.rules.len());
    for (i, rc) in r.rules.iter().enumerate() {
        let what = format!("reply.rules[{i}]");
        let m = match (&rc.regex, &rc.pointer, r.format) {
            (Some(re), None, _) => Matcher::Regex(regex(&what, re)?),
            (None, Some(p), Format::Json) if p.is_empty() || p.starts_with('/') => Matcher::Json {
                pointer: p.clone(),
                equals: rc.equals.clone(),
            },
            (None, Some(_), Format::Json) => {
                return Err(format!("{what}: a pointer starts with /"))
            }
            (None, Some(_), Format::Text) => {
                return Err(format!("{what}: pointer rules need format = \"json\""))
            }
            _ => return Err(format!("{what}: give exactly one of regex or pointer")),
        };
        rules.push(Rule {
            matcher: m,
            outcome: outcome(&what, rc)?,
        });
    }
    Ok(ReplyRules {
        format: r.format,
        rules,
        sn: capture("reply.sn", &r.sn, "sn")?,
        price: capture("reply.price", &r.price, "price")?,
        supplier_ref: capture("reply.supplier_ref", &r.supplier_ref, "supplier_ref")?,
        balance: capture("reply.balance", &r.balance, "balance")?,
        message: capture("reply.message", &r.message, "message")?,
    })
}
