//! What `[suppliers.template]` (and a preset file) deserialises into, the preset merge
//! (config keys override the preset's), and the compile step that checks every regex,
//! pointer and placeholder before a supplier is used. Every error names its key, relative
//! to the supplier's table (`template.reply.rules[0].regex`), so the config can point at
//! the line.

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

/// A template error: the key in error, relative to the supplier's table
/// (`template.reply.rules[0].regex`, `preset`), and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct TemplateError {
    pub key: String,
    pub message: String,
}

/// The error `message` about `key`.
pub fn err(key: impl Into<String>, message: impl Into<String>) -> TemplateError {
    TemplateError {
        key: key.into(),
        message: message.into(),
    }
}

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

/// Placeholders a report's sign input may use: the report's own reference and raw body,
/// and this supplier's settings.
pub const REPORT_PLACEHOLDERS: [&str; 6] = [
    "ref_id",
    "body",
    "username",
    "key",
    "password",
    "callback_secret",
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
    /// A supplier that signs its reports: how to check them (then they may come to
    /// `/hooks/suppliers/{id}`, no secret in the URL).
    pub sign: Option<ReportSignCfg>,
}

/// How a report's signature is checked: the digest of `input` (HMAC keyed by
/// `{callback_secret}`), written in `encoding`, found in `header` (or the report field
/// `query` / `pointer`), after `prefix` (e.g. `sha256=`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSignCfg {
    pub algo: Algo,
    pub encoding: Encoding,
    pub input: String,
    pub header: Option<String>,
    pub query: Option<String>,
    pub pointer: Option<String>,
    #[serde(default)]
    pub prefix: String,
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
pub fn load(
    preset_name: Option<&str>,
    over: Option<&toml::Table>,
) -> Result<TemplateCfg, TemplateError> {
    let mut table = match preset_name {
        None => toml::Table::new(),
        Some(n) => {
            let text = preset(n).ok_or_else(|| {
                let names: Vec<_> = PRESETS.iter().map(|(n, _)| *n).collect();
                err(
                    "preset",
                    format!("unknown preset {n:?} (known: {})", names.join(", ")),
                )
            })?;
            text.parse::<toml::Table>()
                .map_err(|e| err("preset", format!("preset {n}: {e}")))?
        }
    };
    if let Some(o) = over {
        merge(&mut table, o);
    }
    serde_path_to_error::deserialize::<_, TemplateCfg>(toml::Value::Table(table)).map_err(|e| {
        let path = e.path().to_string();
        let key = if path == "." {
            "template".to_owned()
        } else {
            format!("template.{path}")
        };
        err(key, e.into_inner().to_string().trim().to_owned())
    })
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

fn check_placeholders(key: &str, s: &str, known: &[&str]) -> Result<(), TemplateError> {
    for p in placeholders(s) {
        if !known.contains(&p) {
            return Err(err(key, format!("unknown placeholder {{{p}}}")));
        }
    }
    Ok(())
}

/// Checks the placeholders of request template `key` (`template.topup`).
pub fn check_request(key: &str, r: &RequestCfg) -> Result<(), TemplateError> {
    let unsigned: Vec<&str> = PLACEHOLDERS.into_iter().filter(|p| *p != "sign").collect();
    check_placeholders(&format!("{key}.path"), &r.path, &PLACEHOLDERS)?;
    for (k, v) in &r.fields {
        check_placeholders(&format!("{key}.fields.{k}"), v, &PLACEHOLDERS)?;
    }
    for (k, v) in &r.headers {
        check_placeholders(&format!("{key}.headers.{k}"), v, &PLACEHOLDERS)?;
    }
    if let Some(s) = &r.sign {
        check_placeholders(&format!("{key}.sign.input"), &s.input, &unsigned)?;
    }
    Ok(())
}

fn check_locate(key: &str, at: &Locate) -> Result<(), TemplateError> {
    match (&at.query, &at.pointer) {
        (Some(_), None) => Ok(()),
        (None, Some(p)) if p.is_empty() || p.starts_with('/') => Ok(()),
        (None, Some(_)) => Err(err(format!("{key}.pointer"), "a pointer starts with /")),
        _ => Err(err(key, "give exactly one of query or pointer")),
    }
}

/// Checks where reports carry their fields and, for signed reports, the sign.
pub fn check_callback(c: &CallbackCfg) -> Result<(), TemplateError> {
    check_locate("template.callback.ref_id", &c.ref_id)?;
    for (name, at) in [("message", &c.message), ("price", &c.price)] {
        if let Some(at) = at {
            check_locate(&format!("template.callback.{name}"), at)?;
        }
    }
    let Some(s) = &c.sign else { return Ok(()) };
    let key = "template.callback.sign";
    check_placeholders(&format!("{key}.input"), &s.input, &REPORT_PLACEHOLDERS)?;
    match (&s.header, &s.query, &s.pointer) {
        (Some(h), None, None) if http::HeaderName::from_bytes(h.as_bytes()).is_ok() => Ok(()),
        (Some(_), None, None) => Err(err(format!("{key}.header"), "not a header name")),
        (None, q, p) if q.is_some() != p.is_some() => check_locate(
            key,
            &Locate {
                query: q.clone(),
                pointer: p.clone(),
            },
        ),
        _ => Err(err(
            key,
            "give exactly one of header, query or pointer (where the signature is)",
        )),
    }
}

fn regex(key: &str, s: &str) -> Result<Regex, TemplateError> {
    regex::RegexBuilder::new(s)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| {
            let first = e.to_string();
            let why = first.lines().last().unwrap_or("").trim().to_owned();
            err(key, format!("bad regex {s:?}: {why}"))
        })
}

fn capture(
    key: &str,
    c: &Option<CaptureCfg>,
    group: &str,
) -> Result<Option<Capture>, TemplateError> {
    match c {
        None => Ok(None),
        Some(CaptureCfg::Pointer { pointer }) if pointer.is_empty() || pointer.starts_with('/') => {
            Ok(Some(Capture::Pointer(pointer.clone())))
        }
        Some(CaptureCfg::Pointer { .. }) => {
            Err(err(format!("{key}.pointer"), "a pointer starts with /"))
        }
        Some(CaptureCfg::Regex(s)) => {
            let re = regex(key, s)?;
            if !re.capture_names().any(|n| n == Some(group)) {
                return Err(err(key, format!("the regex has no (?P<{group}>...) group")));
            }
            Ok(Some(Capture::Regex(re, group.to_owned())))
        }
    }
}

fn outcome(key: &str, r: &RuleCfg) -> Result<RuleOutcome, TemplateError> {
    match (r.outcome.as_str(), r.reason.as_deref()) {
        ("success", None) => Ok(RuleOutcome::Success),
        ("pending", None) => Ok(RuleOutcome::Pending),
        ("failed", None) => Ok(RuleOutcome::Failed(FailReason::Other)),
        ("failed", Some(reason)) => FailReason::parse(reason)
            .map(RuleOutcome::Failed)
            .ok_or_else(|| {
                err(
                    format!("{key}.reason"),
                    format!("{reason:?} is not a reason of SPEC 6.3"),
                )
            }),
        ("success" | "pending", Some(_)) => {
            Err(err(format!("{key}.reason"), "only failed takes a reason"))
        }
        (o, _) => Err(err(
            format!("{key}.outcome"),
            format!("{o:?} is not success, pending or failed"),
        )),
    }
}

/// What rule `rc` tests, in words (for `siaga supplier try`).
fn describe(rc: &RuleCfg) -> String {
    let test = match (&rc.pointer, &rc.regex, &rc.equals) {
        (Some(p), Some(re), _) => format!("{p} matches '{re}'"),
        (Some(p), None, Some(e)) => format!("{p} = {e:?}"),
        (Some(p), None, None) => format!("{p} is present"),
        (None, Some(re), _) => format!("regex '{re}'"),
        (None, None, _) => String::new(),
    };
    match &rc.reason {
        Some(r) => format!("{test} → {} ({r})", rc.outcome),
        None => format!("{test} → {}", rc.outcome),
    }
}

fn matcher(key: &str, rc: &RuleCfg, format: Format) -> Result<Matcher, TemplateError> {
    let pointer_ok = |p: &str| {
        if p.is_empty() || p.starts_with('/') {
            Ok(())
        } else {
            Err(err(format!("{key}.pointer"), "a pointer starts with /"))
        }
    };
    match (&rc.regex, &rc.pointer, format) {
        (Some(re), None, _) => Ok(Matcher::Regex(regex(&format!("{key}.regex"), re)?)),
        (_, Some(_), Format::Text) => Err(err(
            format!("{key}.pointer"),
            "pointer rules need format = \"json\"",
        )),
        (Some(_), Some(_), Format::Json) if rc.equals.is_some() => {
            Err(err(key, "a pointer rule takes equals or regex, not both"))
        }
        (re, Some(p), Format::Json) => {
            pointer_ok(p)?;
            Ok(Matcher::Json {
                pointer: p.clone(),
                equals: rc.equals.clone(),
                regex: match re {
                    Some(re) => Some(regex(&format!("{key}.regex"), re)?),
                    None => None,
                },
            })
        }
        (None, None, _) => Err(err(key, "give a regex or a pointer")),
    }
}

/// Compiles the reply rules; every regex and pointer is checked here.
pub fn compile_reply(r: &ReplyCfg) -> Result<ReplyRules, TemplateError> {
    if r.rules.is_empty() {
        return Err(err("template.reply.rules", "at least one rule is needed"));
    }
    let mut rules = Vec::with_capacity(r.rules.len());
    for (i, rc) in r.rules.iter().enumerate() {
        let key = format!("template.reply.rules[{i}]");
        rules.push(Rule {
            matcher: matcher(&key, rc, r.format)?,
            outcome: outcome(&key, rc)?,
            text: describe(rc),
        });
    }
    let k = |n: &str| format!("template.reply.{n}");
    Ok(ReplyRules {
        format: r.format,
        rules,
        sn: capture(&k("sn"), &r.sn, "sn")?,
        price: capture(&k("price"), &r.price, "price")?,
        supplier_ref: capture(&k("supplier_ref"), &r.supplier_ref, "supplier_ref")?,
        balance: capture(&k("balance"), &r.balance, "balance")?,
        message: capture(&k("message"), &r.message, "message")?,
    })
}
