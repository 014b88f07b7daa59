//! The loose edges an outside attack found (issue 15): repeated JSON keys, hyper's own
//! refusals, times out of range, admin input, statement paging, hardening headers, where
//! `/metrics` may be read and the admin token's strength. Each is a 4xx that names what was
//! wrong and changes nothing.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{Opts, TestApp, ADMIN, METRICS_TOKEN};

/// Raw bytes to the server; the whole answer (the server closes after a refusal).
async fn raw(base: &str, request: &[u8]) -> String {
    let addr = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("the server answers and closes")
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

/// The status and the JSON body of a raw answer.
fn answer(text: &str) -> (u16, Value) {
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_json_key_is_refused_and_books_nothing() {
    let app = TestApp::start(Opts::default()).await;
    let before = app.balance().await;
    let r = app
        .http
        .post(format!("{}/v1/orders", app.base))
        .bearer_auth(&app.key)
        .header("content-type", "application/json")
        .header("accept-language", "en")
        .body(r#"{"ref_id":"DUP-A","ref_id":"DUP-B","product":"TSEL10","destination":"081234567801"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "bad_request");
    assert_eq!(
        v["error"]["message"],
        "field `ref_id` is invalid: is given more than once"
    );
    for ref_id in ["DUP-A", "DUP-B"] {
        let (s, _) = app.get(&format!("/v1/orders/{ref_id}")).await;
        assert_eq!(s, 404, "{ref_id} was booked");
    }
    assert_eq!(app.balance().await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_errors_answer_with_the_envelope() {
    let app = TestApp::start(Opts::default()).await;
    // A URI past hyper's limit (64 KiB).
    let long = format!("GET /{} HTTP/1.1\r\nhost: x\r\n\r\n", "a".repeat(70 * 1024));
    let (status, v) = answer(&raw(&app.base, long.as_bytes()).await);
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (414, Some("uri_too_long"))
    );
    // Headers past the read buffer (hyper's default, 8 KiB + 400 KiB): exactly that many
    // bytes, so the server has read all it was sent when it answers.
    let mut big = b"GET / HTTP/1.1\r\nhost: x\r\nx-big: ".to_vec();
    big.resize(8192 + 4096 * 100, b'a');
    let (status, v) = answer(&raw(&app.base, &big).await);
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (431, Some("headers_too_large"))
    );
    // A request line that is not one, and two Content-Lengths that disagree.
    for bad in [
        &b"THIS IS NOT HTTP\r\n\r\n"[..],
        b"POST /v1/orders HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\n",
    ] {
        let (status, v) = answer(&raw(&app.base, bad).await);
        assert_eq!(
            (status, v["error"]["code"].as_str()),
            (400, Some("bad_request")),
            "{}",
            String::from_utf8_lossy(bad)
        );
        assert!(v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    // A good request and then a bad one on the same connection: the first is answered as
    // always, the second with the envelope.
    let text = raw(
        &app.base,
        b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\nNOT A REQUEST\r\n\r\n",
    )
    .await;
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    let second = &text[text.find("\"ok\"}").map(|i| i + 5).unwrap_or(0)..];
    let (status, v) = answer(second);
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (400, Some("bad_request"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn times_out_of_range_are_refused_by_name() {
    let app = TestApp::start(Opts::default()).await;
    for (path, field) in [
        ("/v1/statement?to=1000000000000000", "to"),
        ("/v1/statement?from=-5", "from"),
        ("/v1/statement?from=9999-01-01T00:00:00Z", "from"),
        ("/v1/orders?since=99999999999999", "since"),
    ] {
        let (s, v) = app.get(path).await;
        assert_eq!(s, 400, "{path}: {v}");
        let m = v["error"]["message"].as_str().unwrap_or_default();
        assert!(m.contains(&format!("`{field}`")), "{path}: {m}");
    }
    // `from` after `to` is an empty range: nothing wrong with either, so no lines.
    let (s, v) = app.get("/v1/statement?from=1800000000&to=1700000000").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["lines"], serde_json::json!([]));
    let (s, v) = app
        .get("/v1/statement?from=2026-01-01T00:00:00Z&to=253370764799")
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["to"], "9998-12-31T23:59:59Z");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_input_is_checked_and_the_statement_pages() {
    let app = TestApp::start(Opts::default()).await;
    for email in ["a@b.test\r\nBcc: evil@x.test", "@", "no-at-sign", "a@"] {
        let (s, v) = app
            .admin_post(
                "/admin/api/resellers",
                json!({"name": "Konter Jahat", "email": email}),
            )
            .await;
        assert_eq!(s, 400, "{email:?}: {v}");
        assert!(v["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("email"));
    }
    let resellers = app.admin_get("/admin/api/resellers").await;
    assert_eq!(
        resellers.to_string().matches("Konter Jahat").count(),
        0,
        "nothing was stored: {resellers}"
    );
    let deposits = format!("/admin/api/resellers/{}/deposits", app.reseller_id);
    let (s, v) = app
        .admin_post(&deposits, json!({"amount": 1000, "note": "x".repeat(501)}))
        .await;
    assert_eq!(s, 400, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("note"));
    let before = app.balance().await;
    for i in 0..4 {
        let note = if i == 0 {
            "é".repeat(500)
        } else {
            format!("d{i}")
        };
        let (s, v) = app
            .admin_post(&deposits, json!({"amount": 1000 + i, "note": note}))
            .await;
        assert_eq!(s, 201, "{v}");
    }
    assert_eq!(app.balance().await.0, before.0 + 4006);

    // Five lines (the harness's deposit and four), paged two at a time.
    let (mut lines, mut cursor, mut pages) = (Vec::new(), None::<String>, 0);
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/statement?limit=2&cursor={c}"),
            None => "/v1/statement?limit=2".into(),
        };
        let (s, v) = app.get(&path).await;
        assert_eq!(s, 200, "{v}");
        pages += 1;
        let page = v["lines"].as_array().unwrap().clone();
        assert!(page.len() <= 2);
        lines.extend(page);
        match v["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
        assert!(pages < 10, "the cursor does not move");
    }
    assert_eq!(lines.len(), 5, "{lines:?}");
    let amounts: Vec<i64> = lines
        .iter()
        .map(|l| l["amount"].as_i64().unwrap())
        .collect();
    assert_eq!(amounts[1..], [1000, 1001, 1002, 1003]);
    let (_, whole) = app.get("/v1/statement").await;
    assert_eq!(
        whole["lines"].as_array().unwrap(),
        &lines,
        "default limit 50 holds all"
    );
    assert_eq!(whole["next_cursor"], Value::Null);
    for bad in ["limit=0", "limit=201", "cursor=abc", "cursor=-1"] {
        let (s, v) = app.get(&format!("/v1/statement?{bad}")).await;
        assert_eq!(s, 400, "{bad}: {v}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_carry_hardening_headers() {
    let app = TestApp::start(Opts::default()).await;
    let page = app.http.get(format!("{}/", app.base)).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let h = page.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.starts_with("default-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("script-src 'none'"), "{csp}");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
    let html = page.text().await.unwrap();
    assert!(!html.contains("<script"), "the page needs no script");

    let r = app
        .http
        .get(format!("{}/v1/balance", app.base))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    // An answer that carries new keys is never stored on the way.
    let r = app
        .http
        .post(format!("{}/admin/api/resellers", app.base))
        .bearer_auth(ADMIN)
        .json(&json!({"name": "Konter Baru"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .http
        .post(format!("{}/admin/api/resellers/{id}/rotate-keys", app.base))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    // An error on /v1 too.
    let r = app
        .http
        .get(format!("{}/v1/balance", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(r.headers()["cache-control"], "no-store");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_metrics_need_the_token() {
    let app = TestApp::start(Opts::default()).await;
    let url = format!("{}/metrics", app.base);
    for token in [
        None,
        Some("wrong-token-wrong-token-wrong-token"),
        Some(ADMIN),
    ] {
        let mut req = app.http.get(&url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status().as_u16(), 401, "{token:?}");
        let body = r.text().await.unwrap();
        assert!(!body.contains("sim0"), "no supplier name leaks: {body}");
    }
    let r = app
        .http
        .get(&url)
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("siaga_supplier_balance_rupiah"));
}

/// The real binary with the starter config: `/metrics` on its own listener (here port 0,
/// which `serve` prints), nothing else there; a weak admin token stops the start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_puts_metrics_on_their_own_listener_and_refuses_a_weak_admin_token() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let siaga = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_siaga"));
        c.current_dir(d)
            .env_remove("SIAGA_CONFIG")
            .env("SIAGA_LOG", "warn")
            .env("SIAGA_SERVER__LISTEN", "127.0.0.1:0")
            .env("SIAGA_SERVER__METRICS_LISTEN", "127.0.0.1:0")
            .env("DIGI_KEY", "k")
            .env("DIGI_CB_SECRET", "s")
            .env("BACKUP_KEY", "k")
            .env("BACKUP_CB_SECRET", "s");
        c
    };
    assert!(siaga().arg("init").status().unwrap().success());
    let starter = std::fs::read_to_string(d.join("siaga.toml")).unwrap();
    assert!(starter.contains("metrics_listen = \"127.0.0.1:9464\""));

    for weak in [
        "a",
        "0123456789abcdef0123456789abcde",
        "has space has space has space 123",
    ] {
        let out = siaga()
            .arg("serve")
            .env("SIAGA_ADMIN_TOKEN", weak)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{weak:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("admin token"), "{err}");
    }
    let out = siaga()
        .arg("serve")
        .env("SIAGA_ADMIN_TOKEN", "a".repeat(20))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("openssl rand -hex 32"));

    let mut child = siaga()
        .arg("serve")
        .env("SIAGA_ADMIN_TOKEN", "0123456789abcdef0123456789abcdef")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut public, mut metrics) = (None, None);
    let end = Instant::now() + Duration::from_secs(30);
    while public.is_none() || metrics.is_none() {
        assert!(Instant::now() < end, "serve did not print its addresses");
        let Some(Ok(line)) = lines.next() else { break };
        if let Some(a) = line.strip_prefix("siaga listening on ") {
            public = Some(a.to_owned());
        }
        if let Some(a) = line.strip_prefix("metrics on ") {
            metrics = Some(a.to_owned());
        }
    }
    let (public, metrics) = (public.unwrap(), metrics.unwrap());
    async fn get(url: &str) -> (u16, String) {
        let r = reqwest::get(url).await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    }
    let (s, body) = get(&metrics).await;
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("siaga_orders_pending"), "{body}");
    let root = metrics.trim_end_matches("/metrics");
    assert_eq!(
        get(&format!("{root}/v1/balance")).await.0,
        404,
        "only /metrics there"
    );
    assert_eq!(
        get(&format!("{public}/metrics")).await.0,
        401,
        "not public without a token"
    );
    let _ = child.kill();
    let _ = child.wait();
}
