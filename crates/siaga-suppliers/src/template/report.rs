//! Reports (a templated supplier's own callback about a top-up): authenticated by the
//! secret in the URL (suppliers that sign nothing, like OtomaX), by a signature the
//! template describes (`[callback] sign`), or both when both are given; then read by the
//! same reply rules as a reply. Every comparison of a secret is in constant time.

use subtle::ConstantTimeEq;

use super::request::render;
use super::spec::{Locate, ReportSignCfg};
use super::HttpTemplate;
use crate::adapter::{IncomingReport, ReportError, SupplierReport};
use crate::sign::{self, Encoding};

fn same(a: &[u8], b: &[u8]) -> bool {
    bool::from(a.ct_eq(b))
}

impl HttpTemplate {
    /// The value a report carries at `at`: a query (or form) parameter, or a JSON pointer.
    pub(super) fn value_of(&self, at: &Locate, query: &str, body: &[u8]) -> Option<String> {
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

    /// Whether the report carries the signature `s` describes, made with `secret`.
    fn signed(
        &self,
        s: &ReportSignCfg,
        secret: &str,
        r: &IncomingReport<'_>,
        ref_id: &str,
    ) -> bool {
        let given = match (&s.header, &s.query, &s.pointer) {
            (Some(h), _, _) => r
                .headers
                .get(h.as_str())
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            (None, q, p) => self.value_of(
                &Locate {
                    query: q.clone(),
                    pointer: p.clone(),
                },
                r.query,
                r.body,
            ),
        };
        let Some(given) = given else { return false };
        let Some(given) = given.trim().strip_prefix(s.prefix.as_str()) else {
            return false;
        };
        let body = String::from_utf8_lossy(r.body);
        let c = &self.cfg;
        let input = render(&s.input, &|n| {
            Some(match n {
                "ref_id" => ref_id.to_owned(),
                "body" => body.clone().into_owned(),
                "username" => c.username.clone(),
                "key" => c.key.clone(),
                "password" => c.password.clone(),
                "callback_secret" => secret.to_owned(),
                _ => return None,
            })
        });
        let want = sign::encode(s.encoding, &sign::digest(s.algo, secret, &input));
        match s.encoding {
            // Hex is the same signature in either case.
            Encoding::Hex => same(want.as_bytes(), given.to_ascii_lowercase().as_bytes()),
            Encoding::Base64 | Encoding::Base64url => same(want.as_bytes(), given.as_bytes()),
        }
    }

    /// Authenticates and reads a report however it came (see the module's words).
    pub(super) fn report(&self, r: &IncomingReport<'_>) -> Result<SupplierReport, ReportError> {
        let secret = self
            .cfg
            .callback_secret
            .as_deref()
            .ok_or(ReportError::NoSecret)?;
        let cb = self.tpl.callback.as_ref();
        let sign = cb.and_then(|c| c.sign.as_ref());
        match (r.url_secret, sign) {
            (Some(given), _) if !same(secret.as_bytes(), given.as_bytes()) => {
                return Err(ReportError::BadSignature)
            }
            // A supplier that signs nothing reports only with the secret in the URL.
            (None, None) => return Err(ReportError::BadSignature),
            _ => {}
        }
        let supplier_ref = cb
            .and_then(|c| self.value_of(&c.ref_id, r.query, r.body))
            .map(|s| s.trim().to_owned())
            .unwrap_or_default();
        if let Some(s) = sign {
            if !self.signed(s, secret, r, &supplier_ref) {
                return Err(ReportError::BadSignature);
            }
        }
        let cb =
            cb.ok_or_else(|| ReportError::Malformed("this template reads no reports".into()))?;
        if supplier_ref.is_empty() {
            return Err(ReportError::Malformed("no reference in the report".into()));
        }
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
