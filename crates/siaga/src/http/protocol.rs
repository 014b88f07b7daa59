//! The JSON error envelope for the errors hyper answers by itself, before any handler runs:
//! a request line that does not parse, a URI too long (414), headers too large (431), a
//! repeated `Content-Length` (400). hyper writes those with an empty body and offers no
//! hook; [`Enveloped`] wraps the connection and, when it sees such an answer go out,
//! writes the same status with the envelope as its body instead.
//!
//! What is recognised is narrow: a write that starts a `400`, `414` or `431` response
//! whose head has `content-length: 0` and no `content-type`. siaga's own answers always
//! carry a content type (the envelope middleware sees to every error), and no body siaga
//! writes starts with `HTTP/1.`, so only hyper's own refusals match.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A connection whose protocol-level error answers get the JSON envelope.
pub struct Enveloped<S> {
    inner: S,
    /// The rewritten answer still to be written, and how much of it is out.
    pending: Vec<u8>,
    sent: usize,
}

impl<S> Enveloped<S> {
    pub fn new(inner: S) -> Self {
        Enveloped {
            inner,
            pending: Vec::new(),
            sent: 0,
        }
    }
}

/// The envelope for hyper's refusal in `head`, or `None` when `head` is not one.
pub fn rewrite(head: &[u8]) -> Option<Vec<u8>> {
    let end = head.windows(4).position(|w| w == b"\r\n\r\n")?;
    if end + 4 != head.len() {
        return None;
    }
    let text = std::str::from_utf8(&head[..end]).ok()?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next()?;
    let rest = status_line
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| status_line.strip_prefix("HTTP/1.0 "))?;
    let (code, message_en, message_id) = match rest.get(..3)? {
        "400" => (
            "bad_request",
            "malformed request: the request line or headers do not parse",
            "permintaan tidak valid: baris permintaan atau header tidak dapat dibaca",
        ),
        "414" => (
            "uri_too_long",
            "the request URI is too long",
            "alamat (URI) permintaan terlalu panjang",
        ),
        "431" => (
            "headers_too_large",
            "the request headers are too large",
            "header permintaan terlalu besar",
        ),
        _ => return None,
    };
    let mut kept = Vec::new();
    let mut empty = false;
    for line in lines {
        let (name, value) = line.split_once(':')?;
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => empty = value.trim() == "0",
            "content-type" => return None,
            _ => kept.push(line),
        }
    }
    if !empty {
        return None;
    }
    // Indonesian, as every error is by default: the request that would say otherwise
    // could not be read. The English travels in the message too, for the logs of a client.
    let body = serde_json::json!({"error": {
        "code": code,
        "message": format!("{message_id} ({message_en})"),
    }})
    .to_string();
    let mut out = format!(
        "{status_line}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         x-content-type-options: nosniff\r\ncache-control: no-store\r\n",
        body.len()
    );
    for line in kept {
        if !line.to_ascii_lowercase().starts_with("connection:") {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("connection: close\r\n\r\n");
    out.push_str(&body);
    Some(out.into_bytes())
}

impl<S: AsyncWrite + Unpin> Enveloped<S> {
    /// Writes what is pending; ready when nothing is.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.pending.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.pending.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Enveloped<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Enveloped<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.drain(cx))?;
        if buf.starts_with(b"HTTP/1.") {
            if let Some(out) = rewrite(buf) {
                self.pending = out;
                self.sent = 0;
                // Taken whole: the rewritten answer goes out on the next writes and flush.
                return Poll::Ready(Ok(buf.len()));
            }
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hypers_empty_refusals_are_rewritten() {
        let out = rewrite(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Mon, 07 Dec 2026 10:00:00 GMT\r\n\r\n",
        )
        .unwrap_or_default();
        let text = String::from_utf8(out).unwrap_or_default();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or_default();
        assert!(
            head.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            "{head}"
        );
        assert!(
            head.contains("\r\ncontent-type: application/json\r\n"),
            "{head}"
        );
        assert!(
            head.contains(&format!("\r\ncontent-length: {}\r\n", body.len())),
            "{head}"
        );
        assert!(head.contains("\r\ndate: Mon, 07 Dec 2026"), "{head}");
        assert!(head.ends_with("connection: close"), "{head}");
        let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        assert_eq!(v["error"]["code"], "headers_too_large");
        for (status, code) in [
            ("400 Bad Request", "bad_request"),
            ("414 URI Too Long", "uri_too_long"),
        ] {
            let head = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
            let out =
                String::from_utf8(rewrite(head.as_bytes()).unwrap_or_default()).unwrap_or_default();
            assert!(out.contains(&format!("\"code\":\"{code}\"")), "{out}");
        }
        for not_hypers in [
            // siaga's own answers: a content type, a body.
            &b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n"[..],
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 12\r\n\r\n",
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            // A head with its body in the same write, or not a whole head.
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\nx",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n",
            b"{\"error\":1}",
        ] {
            assert_eq!(rewrite(not_hypers), None, "{}", String::from_utf8_lossy(not_hypers));
        }
    }
}
