//! Building and sending a templated request: placeholders filled, the sign computed, the
//! result a plain [`Prepared`] request that is either sent or shown (with its secrets
//! masked, for `siaga supplier try`). One builder serves both, so what is shown is what
//! is sent.

use siaga_domain::{FailReason, Outcome};

use super::spec::{BodyEncoding, Method, RequestCfg};
use super::{HttpTemplate, MAX_REPLY_BYTES};
use crate::adapter::{Reply, TopupRequest};
use crate::sign;

/// What a secret is shown as.
pub const MASK: &str = "***";

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

/// A request with every placeholder filled: sent as it is, or shown (masked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    pub method: Method,
    /// Without the query: the fields are added by `encoding`.
    pub url: String,
    pub encoding: BodyEncoding,
    pub fields: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
}

impl Prepared {
    /// The URL with the fields as its query when they go there.
    pub fn full_url(&self) -> String {
        if self.encoding != BodyEncoding::Query || self.fields.is_empty() {
            return self.url.clone();
        }
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(self.fields.iter())
            .finish();
        format!("{}?{query}", self.url)
    }

    /// The request for an owner's eyes: method and URL, fields, headers, one per line.
    pub fn show(&self) -> String {
        let method = match self.method {
            Method::GET => "GET",
            Method::POST => "POST",
        };
        let mut out = format!("{method} {}", self.full_url());
        let encoding = match self.encoding {
            BodyEncoding::Query => "query",
            BodyEncoding::Form => "form",
            BodyEncoding::Json => "json",
        };
        for (k, v) in &self.fields {
            out.push_str(&format!("\n  {encoding} {k} = {v}"));
        }
        for (k, v) in &self.headers {
            out.push_str(&format!("\n  header {k}: {v}"));
        }
        out
    }
}

impl HttpTemplate {
    /// The value of placeholder `name` (`masked`: secrets as [`MASK`]).
    fn var(&self, req: Option<&TopupRequest<'_>>, name: &str, masked: bool) -> Option<String> {
        let c = &self.cfg;
        let secret = |v: &str| {
            if masked {
                MASK.to_owned()
            } else {
                v.to_owned()
            }
        };
        Some(match name {
            "ref_id" => req.map(|r| r.supplier_ref).unwrap_or_default().to_owned(),
            "sku" => req.map(|r| r.sku).unwrap_or_default().to_owned(),
            "destination" => req.map(|r| r.destination).unwrap_or_default().to_owned(),
            "username" => c.username.clone(),
            "key" => secret(&c.key),
            "password" => secret(&c.password),
            "callback_secret" => secret(c.callback_secret.as_deref().unwrap_or_default()),
            "callback_url" => match c.callback_secret.as_deref() {
                Some(s) if masked && !s.is_empty() => c.callback_url.replace(s, MASK),
                _ => c.callback_url.clone(),
            },
            _ => return None,
        })
    }

    /// Template `r` filled for `req` (`None`: a balance request); `masked` for showing.
    pub fn prepare(
        &self,
        r: &RequestCfg,
        req: Option<&TopupRequest<'_>>,
        masked: bool,
    ) -> Prepared {
        let sign = r.sign.as_ref().map(|s| {
            if masked {
                return MASK.to_owned();
            }
            let input = render(&s.input, &|n| self.var(req, n, false));
            sign::encode(s.encoding, &sign::digest(s.algo, &self.cfg.key, &input))
        });
        let value = |n: &str| match n {
            "sign" => sign.clone(),
            _ => self.var(req, n, masked),
        };
        let url = format!(
            "{}/{}",
            self.cfg.base_url.trim_end_matches('/'),
            render(&r.path, &value).trim_start_matches('/')
        );
        let fill = |m: &std::collections::BTreeMap<String, String>| {
            m.iter()
                .map(|(k, v)| (k.clone(), render(v, &value)))
                .collect()
        };
        Prepared {
            method: r.method,
            url,
            encoding: r.encoding,
            fields: fill(&r.fields),
            headers: fill(&r.headers),
        }
    }

    /// The HTTP request of `p`.
    fn builder(&self, p: &Prepared) -> reqwest::RequestBuilder {
        let mut b = match p.method {
            Method::GET => self.client.get(&p.url),
            Method::POST => self.client.post(&p.url),
        };
        b = match p.encoding {
            BodyEncoding::Query => b.query(&p.fields),
            BodyEncoding::Form => b.form(&p.fields),
            BodyEncoding::Json => {
                let map: serde_json::Map<String, serde_json::Value> = p
                    .fields
                    .iter()
                    .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                    .collect();
                b.json(&map)
            }
        };
        for (k, v) in &p.headers {
            b = b.header(k.as_str(), v.as_str());
        }
        b.timeout(self.cfg.timeout)
    }

    /// Sends `p`: the HTTP status and the body, or the reply a failure reads as (its
    /// `http_status` set when an answer had begun).
    pub(super) async fn send(&self, p: &Prepared) -> Result<(u16, Vec<u8>), Reply> {
        let mut resp = self
            .builder(p)
            .send()
            .await
            .map_err(|e| transport_error(&e))?;
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
