//! Email over SMTP with lettre: a pooled async transport, multipart text + HTML messages,
//! and the one-click unsubscribe headers (RFC 8058) on subscriber mail.

use std::time::Duration;

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use maud::html;
use siaga_store::NoticeBody;

use super::config::{Smtp, Tls};
use super::deliver::Failure;

pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    pub fn new(s: &Smtp) -> anyhow::Result<Mailer> {
        let builder = match s.tls {
            Tls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host),
            Tls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&s.host)?,
            Tls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&s.host)?,
        };
        let mut builder = builder
            .port(s.port)
            .timeout(Some(Duration::from_millis(s.timeout_ms)))
            .pool_config(PoolConfig::new().max_size(s.pool));
        if let (Some(u), Some(p)) = (&s.username, &s.password) {
            builder = builder.credentials(Credentials::new(u.clone(), p.clone()));
        }
        Ok(Mailer {
            transport: builder.build(),
            from: s.from.parse()?,
        })
    }

    /// Sends one notice to `to`; `unsubscribe` is the subscriber's one-click link.
    pub async fn send(
        &self,
        to: &str,
        msg_id: &str,
        body: &NoticeBody,
        unsubscribe: Option<&str>,
    ) -> Result<(), Failure> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| Failure::Permanent(format!("bad address: {e}")))?;
        let mut b = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(body.subject.clone())
            .message_id(Some(format!("<{msg_id}@siaga>")));
        let (mut text, mut html) = (body.text.clone(), body.html.clone());
        if let Some(u) = unsubscribe {
            b = b
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe"),
                    format!("<{u}>"),
                ))
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                    "List-Unsubscribe=One-Click".into(),
                ));
            text.push_str(&format!("\nBerhenti berlangganan / Unsubscribe: {u}\n"));
            // The stored HTML part is shared by every recipient; each one's link goes in
            // just before `</body>`.
            let foot = html! {
                p style="font-size:smaller" { a href=(u) { "Berhenti berlangganan / Unsubscribe" } }
            };
            html = html.replacen("</body>", &format!("{}</body>", foot.into_string()), 1);
        }
        let message = b
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| Failure::Permanent(format!("cannot build the message: {e}")))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(Failure::Permanent(format!("SMTP: {e}"))),
            Err(e) => Err(Failure::Retry(format!("SMTP: {e}"), None)),
        }
    }
}
