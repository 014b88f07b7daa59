//! Telling people (SPEC 9) against real peers on loopback: a real SMTP server (Python
//! aiosmtpd), a webhook receiver that verifies with the official `standardwebhooks`
//! package, and a fake Telegram Bot API. Python tools live in `tools/notify/`.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use siaga::notify::config::{Format, NotifySettings, Smtp, Telegram, Tls, Webhook};
use siaga_domain::Operator;
use siaga_suppliers::sim::SimMode;

use crate::harness::{Opts, TestApp, ADMIN, P};

fn tool(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tools/notify")
        .join(name)
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A Python helper process that prints "ready"; killed on drop.
pub(crate) struct Helper {
    child: Child,
    pub port: u16,
    pub out: tempfile::NamedTempFile,
}

impl Helper {
    /// Starts the script on a free port; tries again with another port if the chosen one
    /// was taken in between (tests run in parallel).
    fn start(script: &str, args: &[&str]) -> Helper {
        for _ in 0..5 {
            if let Some(h) = Self::try_start(script, args) {
                return h;
            }
        }
        panic!("{script} did not start (pip install aiosmtpd standardwebhooks; see .ci/run)");
    }

    fn try_start(script: &str, args: &[&str]) -> Option<Helper> {
        let port = free_port();
        let out = tempfile::NamedTempFile::new().unwrap();
        let mut child = Command::new("python3")
            .arg(tool(script))
            .arg(port.to_string())
            .args(args)
            .arg(out.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 must be installed (see .ci/run)");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        if line.trim() == "ready" {
            return Some(Helper { child, port, out });
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    pub(crate) fn lines(&self) -> Vec<Value> {
        std::fs::read_to_string(self.out.path())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Polls until `f` holds for the lines, or fails the test at the deadline.
    pub(crate) async fn wait(
        &self,
        what: &str,
        within: Duration,
        f: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let end = Instant::now() + within;
        loop {
            let l = self.lines();
            if f(&l) {
                return l;
            }
            assert!(
                Instant::now() < end,
                "timed out waiting for {what}; have {} lines: {:?}",
                l.len(),
                l.iter().rev().take(3).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn smtp_sink() -> Helper {
    Helper::start("smtp_sink.py", &[])
}

fn smtp(port: u16) -> Smtp {
    Smtp {
        host: "127.0.0.1".into(),
        port,
        tls: Tls::None,
        username: None,
        password: None,
        from: "Status Uji <status@siaga.test>".into(),
        per_second: 2_000,
        pool: 8,
        timeout_ms: 5_000,
    }
}

fn notify(smtp_port: Option<u16>) -> NotifySettings {
    NotifySettings {
        smtp: smtp_port.map(smtp),
        owner_emails: vec!["owner@siaga.test".into()],
        retry_base_ms: 100,
        retry_max_ms: 400,
        ..NotifySettings::default()
    }
}

fn to(m: &Value) -> String {
    m["to"][0].as_str().unwrap_or("").to_owned()
}

fn mails_to<'a>(mails: &'a [Value], addr: &str) -> Vec<&'a Value> {
    mails.iter().filter(|m| to(m) == addr).collect()
}

/// The first `{base}/{path}/<token>` link in a text.
fn link(text: &str, path: &str) -> String {
    let start = text
        .find(path)
        .unwrap_or_else(|| panic!("no {path} link in {text}"));
    let begin = text[..start].rfind("http").unwrap();
    let end = text[start..]
        .find(|c: char| c.is_whitespace() || c == '>' || c == '"')
        .map(|e| start + e)
        .unwrap_or(text.len());
    text[begin..end].to_owned()
}

async fn subscribe(app: &TestApp, body: Value) -> (u16, Value) {
    let r = app
        .http
        .post(format!("{}/subscribe", app.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

async fn open_incident(app: &TestApp, title: &str, extra: Value) -> Value {
    let mut body = json!({"title": title, "body": "Kami sedang menyelidiki.", "title_en": title, "body_en": "We are investigating."});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    let r = app
        .http
        .post(format!("{}/admin/api/incidents", app.base))
        .bearer_auth(ADMIN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn double_opt_in_incident_notice_and_unsubscribe_over_real_smtp() {
    let sink = smtp_sink();
    let app = TestApp::start(Opts {
        notify: notify(Some(sink.port)),
        ..Opts::default()
    })
    .await;

    bad_subscriptions_are_refused(&app).await;
    // a: confirms; b: never confirms; c: confirms, then unsubscribes.
    let mails = four_ask_to_subscribe(&app, &sink).await;
    // Asking again soon does not mail again (no enumeration either: same answer).
    let (s, _) = subscribe(&app, json!({"email": "a@siaga.test"})).await;
    assert_eq!(s, 202);

    confirm_a_and_c(&app, &mails).await;
    let unsub_url = first_notice_reaches_a_and_c(&app, &sink).await;
    unsubscribe_twice(&app, &unsub_url).await;

    open_incident(&app, "Gangguan uji kedua", json!({})).await;
    sink.wait("the second notice to a", Duration::from_secs(20), |l| {
        l.iter().any(|m| {
            to(m) == "a@siaga.test" && m["subject"].as_str().unwrap_or("").contains("kedua")
        })
    })
    .await;
    // Let the outbox drain, then count exactly.
    wait_outbox_drained(&app).await;
    let mails = sink.lines();
    let count = |who: &str| mails_to(&mails, who).len();
    assert_eq!(count("a@siaga.test"), 3, "a: confirmation + 2 notices");
    assert_eq!(
        count("b@siaga.test"),
        1,
        "b never confirmed: only the confirmation"
    );
    assert_eq!(count("c@siaga.test"), 2, "c left before the second notice");
    assert_eq!(count("d@siaga.test"), 1, "d never confirmed");
    let v: Value = app.admin_get("/admin/api/notifications").await;
    assert_eq!(v["subscribers"]["confirmed"], 1, "{v}");
    assert_eq!(v["subscribers"]["unsubscribed"], 1, "{v}");
    assert_eq!(v["subscribers"]["pending"], 2, "{v}");
}

/// Bad input is a clear 4xx that changes nothing.
async fn bad_subscriptions_are_refused(app: &TestApp) {
    let (s, e) = subscribe(app, json!({"email": "not-an-address"})).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (400, Some("bad_request")),
        "{e}"
    );
    let (s, e) = subscribe(
        app,
        json!({"email": "x@siaga.test", "components": ["Nope"]}),
    )
    .await;
    assert_eq!(s, 400, "{e}");
    let (s, _) = subscribe(app, json!({})).await;
    assert_eq!(s, 400);
}

/// a, b and c subscribe through the API and d through the status page's HTML form; each
/// gets one confirmation email. Returns the mails received.
async fn four_ask_to_subscribe(app: &TestApp, sink: &Helper) -> Vec<Value> {
    for who in ["a@siaga.test", "b@siaga.test", "c@siaga.test"] {
        let (s, v) = subscribe(app, json!({"email": who})).await;
        assert_eq!(s, 202, "{v}");
    }
    // The status page's HTML form works too.
    let r = app
        .http
        .post(format!("{}/subscribe", app.base))
        .form(&[("email", "D@Siaga.test"), ("components", "telkomsel-pulsa")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Check your email"));
    let mails = sink
        .wait("4 confirmation emails", Duration::from_secs(20), |l| {
            l.len() >= 4
        })
        .await;
    for who in [
        "a@siaga.test",
        "b@siaga.test",
        "c@siaga.test",
        "d@siaga.test",
    ] {
        let m = mails_to(&mails, who);
        assert_eq!(m.len(), 1, "{who}: {mails:?}");
        assert!(m[0]["subject"].as_str().unwrap().contains("Confirm"));
        assert!(m[0]["html"]
            .as_str()
            .unwrap()
            .contains("/subscribe/confirm/"));
    }
    mails
}

/// a and c follow their confirmation links; an unknown token is a 404.
async fn confirm_a_and_c(app: &TestApp, mails: &[Value]) {
    for who in ["a@siaga.test", "c@siaga.test"] {
        let url = link(
            mails_to(mails, who)[0]["text"].as_str().unwrap(),
            "/subscribe/confirm/",
        );
        let r = app.http.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 200, "{url}");
        assert!(r.text().await.unwrap().contains("confirmed"));
    }
    let r = app
        .http
        .get(format!("{}/subscribe/confirm/{}", app.base, "0".repeat(32)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

/// The first incident's notice reaches a and c, with its text, a link to the incident
/// and a one-click unsubscribe header. Returns c's unsubscribe URL.
async fn first_notice_reaches_a_and_c(app: &TestApp, sink: &Helper) -> String {
    let first = open_incident(app, "Gangguan uji pertama", json!({})).await;
    let mails = sink
        .wait(
            "the incident notice to a and c",
            Duration::from_secs(20),
            |l| {
                l.iter()
                    .filter(|m| m["subject"].as_str().unwrap_or("").contains("pertama"))
                    .count()
                    >= 2
            },
        )
        .await;
    let notice_c = mails_to(&mails, "c@siaga.test")
        .into_iter()
        .find(|m| m["subject"].as_str().unwrap().contains("pertama"))
        .unwrap()
        .clone();
    assert!(mails_to(&mails, "a@siaga.test")
        .iter()
        .any(|m| m["subject"].as_str().unwrap().contains("pertama")));
    assert!(notice_c["text"]
        .as_str()
        .unwrap()
        .contains("We are investigating."));
    assert!(notice_c["text"]
        .as_str()
        .unwrap()
        .contains(&format!("/incidents/{}", first["id"])));
    let unsub = notice_c["headers"]["List-Unsubscribe"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        notice_c["headers"]["List-Unsubscribe-Post"],
        "List-Unsubscribe=One-Click"
    );
    let unsub_url = unsub.trim_matches(|c| c == '<' || c == '>').to_owned();
    assert!(unsub_url.contains("/unsubscribe/"), "{unsub}");
    assert_eq!(
        link(notice_c["text"].as_str().unwrap(), "/unsubscribe/"),
        unsub_url
    );
    unsub_url
}

/// The one-click unsubscribe (RFC 8058 POST) and the link (GET) both work.
async fn unsubscribe_twice(app: &TestApp, unsub_url: &str) {
    let r = app
        .http
        .post(unsub_url)
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app.http.get(unsub_url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Unsubscribed"));
}

/// Waits until no notice is pending or being sent and is due within the next minute.
async fn wait_outbox_drained(app: &TestApp) {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let counts = app.app.store.notice_counts().await.unwrap();
        let busy = counts
            .iter()
            .any(|(_, status, n)| (status == "sending") && *n > 0);
        let pending_now = pending_due(app).await;
        if !busy && pending_now == 0 {
            return;
        }
        assert!(Instant::now() < end, "outbox not drained: {counts:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn pending_due(app: &TestApp) -> usize {
    // Notices due in the next 30 s that are still pending.
    let db = app.app.settings.get().store_path.clone();
    let horizon = app.app.now() + 30_000;
    tokio::task::spawn_blocking(move || {
        let c = rusqlite::Connection::open(db).unwrap();
        c.query_row(
            "SELECT COUNT(*) FROM notices WHERE status = 'pending' AND next_at <= ?1",
            [horizon],
            |r| r.get::<_, i64>(0),
        )
        .unwrap() as usize
    })
    .await
    .unwrap()
}

fn whsec() -> String {
    use base64::Engine as _;
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(b"siaga-test-webhook-secret-32byte")
    )
}

/// A local receiver that records JSON bodies (chat webhooks, the fake Bot API).
async fn json_receiver(
    reply: impl Fn(usize) -> (u16, Value) + Send + Sync + 'static,
) -> (String, Arc<Mutex<Vec<(String, Value)>>>) {
    let got: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
    let store = got.clone();
    let reply = Arc::new(reply);
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri, body: axum::body::Bytes| {
        let (store, reply) = (store.clone(), reply.clone());
        async move {
            let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let n = {
                let mut s = store.lock().unwrap();
                s.push((uri.path().to_owned(), v));
                s.len()
            };
            let (status, body) = reply(n);
            (
                axum::http::StatusCode::from_u16(status).unwrap(),
                axum::Json(body),
            )
        }
    });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    (format!("http://{addr}"), got)
}

async fn wait_got(
    got: &Arc<Mutex<Vec<(String, Value)>>>,
    what: &str,
    f: impl Fn(&[(String, Value)]) -> bool,
) -> Vec<(String, Value)> {
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let v = got.lock().unwrap().clone();
        if f(&v) {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}: {v:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_verified_by_standardwebhooks_and_survive_a_restart() {
    let secret = whsec();
    let receiver = Helper::start("webhook_receiver.py", &[&secret, "3"]);
    let (chat_url, chat) = json_receiver(|_| (200, json!({"ok": true}))).await;
    let mut n = notify(None);
    n.retry_base_ms = 700;
    n.retry_max_ms = 700;
    n.webhooks = vec![
        Webhook {
            name: "ops".into(),
            url: format!("http://127.0.0.1:{}/hook", receiver.port),
            secret: Some(secret.clone()),
            format: Format::Standard,
            components: Vec::new(),
            status: true,
            alerts: false,
        },
        Webhook {
            name: "slack".into(),
            url: format!("{chat_url}/slack"),
            secret: None,
            format: Format::Chat,
            components: Vec::new(),
            status: true,
            alerts: false,
        },
    ];
    let mut app = TestApp::start(Opts {
        notify: n,
        ..Opts::default()
    })
    .await;
    let inc = open_incident(&app, "Gangguan webhook", json!({})).await;

    // The first try fails (HTTP 500); restart siaga between tries.
    receiver
        .wait("the first try", Duration::from_secs(20), |l| !l.is_empty())
        .await;
    app.restart().await;
    let lines = receiver
        .wait("a verified delivery", Duration::from_secs(30), |l| {
            l.iter().any(|r| r["verified"] == true)
        })
        .await;
    assert_eq!(lines.len(), 4, "3 failures, then the 4th try: {lines:?}");
    for (i, r) in lines.iter().enumerate() {
        assert_eq!(r["status"], if i < 3 { 500 } else { 204 }, "{r}");
        assert_eq!(
            r["id"], lines[0]["id"],
            "every try carries the same webhook-id"
        );
    }
    let p = &lines[3]["payload"];
    assert_eq!(p["type"], "incident.created");
    assert_eq!(
        p["data"]["incident"]["id"],
        inc["id"].as_i64().unwrap().to_string()
    );
    assert_eq!(p["data"]["incident"]["name"], "Gangguan webhook");
    // Nothing more is queued for it: delivered once, not again after the restart.
    wait_outbox_drained(&app).await;
    assert_eq!(receiver.lines().len(), 4);

    // The Slack/Discord-compatible payload: `text` and `content`.
    let got = wait_got(&chat, "the chat webhook", |v| !v.is_empty()).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "/slack");
    assert!(got[0].1["text"]
        .as_str()
        .unwrap()
        .contains("Gangguan webhook"));
    assert!(got[0].1["content"]
        .as_str()
        .unwrap()
        .contains("Gangguan webhook"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_channel_and_owner_alerts_through_a_fake_bot_api() {
    // The first call is rate-limited by "Telegram" (429 + retry_after); siaga waits and retries.
    let (api, got) = json_receiver(|n| {
        if n == 1 {
            (429, json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 1", "parameters": {"retry_after": 1}}))
        } else {
            (200, json!({"ok": true, "result": {"message_id": n}}))
        }
    })
    .await;
    let mut n = notify(None);
    n.telegram = Some(Telegram {
        token: "123456:TEST-token".into(),
        chat_id: Some("@siaga_status".into()),
        owner_chat_id: Some("4242".into()),
        api_base: api,
        per_minute: 600,
    });
    let app = TestApp::start(Opts {
        notify: n,
        health: siaga::config::HealthCfg {
            probe_interval_s: 3_600,
            breaker_consecutive_failures: 2,
            ..siaga::config::HealthCfg::default()
        },
        ..Opts::default()
    })
    .await;
    open_incident(&app, "Gangguan Telegram", json!({})).await;
    let v = wait_got(&got, "the channel post", |v| {
        v.iter()
            .filter(|(_, b)| b["chat_id"] == "@siaga_status")
            .count()
            >= 2
    })
    .await;
    let (path, body) = &v[1];
    assert_eq!(path, "/bot123456:TEST-token/sendMessage");
    assert!(body["text"].as_str().unwrap().contains("Gangguan Telegram"));

    // A supplier goes down: the owner's chat hears of it.
    app.set_mode(0, SimMode::Error).await;
    for i in 0..3 {
        app.order(&format!("tg-{i}"), "XL10", "081912345678").await;
    }
    let v = wait_got(&got, "the owner alert", |v| {
        v.iter().any(|(_, b)| b["chat_id"] == "4242")
    })
    .await;
    let alert = v.iter().find(|(_, b)| b["chat_id"] == "4242").unwrap();
    assert!(
        alert.1["text"].as_str().unwrap().contains("sim0"),
        "{alert:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supplier_outage_report_carries_its_evidence_then_a_recovery_note() {
    let sink = smtp_sink();
    let mut o = Opts {
        notify: notify(Some(sink.port)),
        contact_email: Some("noc@supplier.test".into()),
        report_after_s: 1,
        products: vec![P {
            code: "TSEL10",
            op: Operator::Telkomsel,
            price: 10_500,
            routes: vec![(0, 10_150), (1, 10_200)],
        }],
        ..Opts::default()
    };
    o.health.breaker_consecutive_failures = 2;
    o.health.breaker_open_base_ms = 300;
    o.health.breaker_open_max_ms = 300;
    let app = TestApp::start(o).await;
    // One order the supplier swallows: its reference stays waiting for an answer.
    app.set_mode(0, SimMode::BlackHole).await;
    let (_, held) = app.order("held-1", "TSEL10", "081212345678").await;
    let held_id = held["order_id"].as_str().unwrap().to_owned();
    let end = Instant::now() + Duration::from_secs(10);
    let held_ref = loop {
        let o = app.admin_order(&held_id).await;
        if let Some(a) = o["attempts"].as_array().and_then(|a| a.first()) {
            if a["state"] == "unknown" {
                break a["supplier_ref"].as_str().unwrap().to_owned();
            }
        }
        assert!(Instant::now() < end, "attempt never became unknown: {o}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    app.set_mode(0, SimMode::Down).await;
    for i in 0..3 {
        let (s, v) = app
            .order(&format!("out-{i}"), "TSEL10", "081212345678")
            .await;
        assert!(s == 201 || s == 200, "{v}");
        app.wait_final(&format!("out-{i}"), Duration::from_secs(10))
            .await;
    }
    let mails = sink
        .wait("the outage report", Duration::from_secs(30), |l| {
            l.iter().any(|m| to(m) == "noc@supplier.test")
        })
        .await;
    let report = mails_to(&mails, "noc@supplier.test")[0];
    let text = report["text"].as_str().unwrap();
    assert!(
        report["subject"]
            .as_str()
            .unwrap()
            .contains("Outage report: sim0"),
        "{report}"
    );
    assert!(
        text.contains("outcome=failed reason=not_sent"),
        "evidence: {text}"
    );
    assert!(text.contains("tsel10-0"), "affected SKUs: {text}");
    assert!(
        text.contains(&held_ref),
        "the reference still waiting: {text}"
    );
    // The owner was alerted and got a copy.
    let owner = mails_to(&mails, "owner@siaga.test");
    assert!(
        owner
            .iter()
            .any(|m| m["subject"].as_str().unwrap().contains("sim0 down")),
        "{owner:?}"
    );

    // Recovery: the supplier works again; a trial order closes the circuit.
    app.set_mode(0, SimMode::Ok).await;
    let end = Instant::now() + Duration::from_secs(20);
    let mut i = 10;
    loop {
        let got = sink.lines();
        if got.iter().any(|m| {
            to(m) == "noc@supplier.test"
                && m["subject"].as_str().unwrap_or("").contains("Recovered")
        }) {
            break;
        }
        assert!(Instant::now() < end, "no recovery note: {got:?}");
        i += 1;
        app.order(&format!("out-{i}"), "TSEL10", "081212345678")
            .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    wait_outbox_drained(&app).await;
    let reports = mails_to(&sink.lines(), "noc@supplier.test").len();
    assert_eq!(reports, 2, "one report per outage, then one recovery note");
}

async fn component_status(app: &TestApp) -> String {
    let v: Value = app
        .http
        .get(format!("{}/api/v2/components.json", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] != "API")
        .map(|c| c["status"].as_str().unwrap().to_owned())
        .unwrap()
}

async fn wait_component(app: &TestApp, ok: bool) {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let s = component_status(app).await;
        if (s == "operational") == ok {
            return;
        }
        assert!(Instant::now() < end, "component stayed {s}");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

async fn confirmed_subscriber(app: &TestApp, sink: &Helper, email: &str) {
    let (s, _) = subscribe(app, json!({"email": email})).await;
    assert_eq!(s, 202);
    let mails = sink
        .wait("the confirmation", Duration::from_secs(20), |l| {
            l.iter().any(|m| to(m) == email)
        })
        .await;
    let url = link(
        mails_to(&mails, email)[0]["text"].as_str().unwrap(),
        "/subscribe/confirm/",
    );
    assert_eq!(app.http.get(&url).send().await.unwrap().status(), 200);
}

fn count_notices(app: &TestApp, sql: &str) -> i64 {
    let c = rusqlite::Connection::open(&app.app.settings.get().store_path).unwrap();
    c.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flapping_component_sends_a_subscriber_at_most_two_messages() {
    let sink = smtp_sink();
    // A short gap, so the test can watch the second (coalesced) message arrive.
    let coalesce = Duration::from_secs(25);
    let mut n = notify(Some(sink.port));
    n.coalesce_ms = coalesce.as_millis() as i64;
    let mut o = Opts {
        notify: n,
        products: vec![P {
            code: "XL10",
            op: Operator::Xl,
            price: 10_600,
            routes: vec![(0, 10_250)],
        }],
        deposit: 1_000_000,
        ..Opts::default()
    };
    o.status.incident_after_s = 0;
    o.status.resolve_after_s = 120;
    o.health.breaker_consecutive_failures = 1;
    o.health.breaker_open_base_ms = 150;
    o.health.breaker_open_max_ms = 150;
    let app = TestApp::start(o).await;
    confirmed_subscriber(&app, &sink, "flap@siaga.test").await;
    confirmed_subscriber(&app, &sink, "leaver@siaga.test").await;

    // 20 flips: down, up, down, up...
    let started = Instant::now();
    for cycle in 0..10 {
        app.set_mode(0, SimMode::Down).await;
        app.order(&format!("flap-d{cycle}"), "XL10", "081912345678")
            .await;
        wait_component(&app, false).await;
        app.set_mode(0, SimMode::Ok).await;
        let end = Instant::now() + Duration::from_secs(10);
        let mut n = 0;
        loop {
            n += 1;
            let r = format!("flap-u{cycle}-{n}");
            app.order(&r, "XL10", "081912345678").await;
            let o = app.wait_final(&r, Duration::from_secs(10)).await;
            if o["status"] == "success" {
                break;
            }
            assert!(Instant::now() < end, "the supplier never came back");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        wait_component(&app, true).await;
    }
    let flipping = started.elapsed();
    let flips = count_notices(
        &app,
        "SELECT COUNT(*) FROM component_status WHERE component != 'API'",
    );
    println!("{flips} component changes in {flipping:?}");
    assert!(flips >= 20, "{flips} flips");
    assert!(
        flipping < Duration::from_secs(60),
        "20 flips took {flipping:?}"
    );
    let updates = count_notices(&app, "SELECT COUNT(*) FROM incident_updates");
    assert!(
        updates >= 10,
        "the flapping made news: {updates} incident updates"
    );

    // One subscriber leaves while the coalesced second message waits: it is never sent.
    let notices = |who: &str| -> Vec<Value> {
        mails_to(&sink.lines(), who)
            .into_iter()
            .filter(|m| !m["subject"].as_str().unwrap_or("").contains("Confirm"))
            .cloned()
            .collect()
    };
    let first = notices("leaver@siaga.test");
    assert_eq!(first.len(), 1, "{first:?}");
    let unsub = link(first[0]["text"].as_str().unwrap(), "/unsubscribe/");
    assert_eq!(app.http.get(&unsub).send().await.unwrap().status(), 200);

    // The other gets the second message once the gap has passed, and nothing more.
    sink.wait(
        "the coalesced second message",
        coalesce + Duration::from_secs(30),
        |l| {
            mails_to(l, "flap@siaga.test")
                .iter()
                .filter(|m| !m["subject"].as_str().unwrap_or("").contains("Confirm"))
                .count()
                >= 2
        },
    )
    .await;
    wait_outbox_drained(&app).await;
    let rows = count_notices(
        &app,
        "SELECT COUNT(*) FROM notices WHERE target = 'flap@siaga.test' AND topic LIKE 'component:%'",
    );
    assert_eq!(
        (notices("flap@siaga.test").len(), rows),
        (2, 2),
        "{updates} incident updates became at most 2 messages"
    );
    assert_eq!(notices("leaver@siaga.test").len(), 1);
    let dropped = count_notices(
        &app,
        "SELECT COUNT(*) FROM notices WHERE target = 'leaver@siaga.test' AND status = 'dead' AND last_error = 'unsubscribed'",
    );
    assert_eq!(dropped, 1, "the waiting message to the leaver was dropped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_notice_fans_out_to_ten_thousand_subscribers() {
    const N: usize = 10_000;
    let sink = smtp_sink();
    let mut n = notify(Some(sink.port));
    n.owner_emails.clear();
    // lettre does not set TCP_NODELAY: each message waits ~40 ms for a delayed ACK on
    // loopback, so throughput comes from parallel connections.
    if let Some(s) = n.smtp.as_mut() {
        s.pool = 32;
    }
    let app = TestApp::start(Opts {
        notify: n,
        ..Opts::default()
    })
    .await;
    let now = app.app.now();
    for chunk in (0..N).collect::<Vec<_>>().chunks(500) {
        let saves = chunk.iter().map(|i| {
            app.app.store.save_subscriber(siaga_store::Subscriber {
                id: format!("sub_{i:06}"),
                email: format!("s{i}@fanout.test"),
                components: Vec::new(),
                status: "confirmed".into(),
                confirm_hash: None,
                unsub_token: format!("u{i:031}"),
                created_at: now,
                confirm_sent_at: now,
                confirmed_at: Some(now),
                unsubscribed_at: None,
            })
        });
        for r in futures::future::join_all(saves).await {
            r.unwrap();
        }
    }
    let started = Instant::now();
    open_incident(&app, "Gangguan massal", json!({})).await;
    // Count arrivals by reading only what the sink appended since the last look.
    let end = Instant::now() + Duration::from_secs(600);
    let mut file = std::fs::File::open(sink.out.path()).unwrap();
    let (mut got, mut buf) = (0usize, Vec::new());
    loop {
        use std::io::Read as _;
        buf.clear();
        file.read_to_end(&mut buf).unwrap();
        got += buf.iter().filter(|b| **b == b'\n').count();
        if got >= N {
            break;
        }
        assert!(Instant::now() < end, "only {got} of {N} emails arrived");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = started.elapsed();
    println!(
        "fan-out: {N} subscribers received the incident notice in {took:.1?} ({:.0} emails/s)",
        N as f64 / took.as_secs_f64()
    );
    let mails = sink.lines();
    let mut to_all: Vec<String> = mails.iter().map(to).collect();
    to_all.sort();
    to_all.dedup();
    assert_eq!(to_all.len(), N, "each subscriber exactly once");
    assert_eq!(mails.len(), N);
    assert!(mails
        .iter()
        .all(|m| m["subject"].as_str().unwrap().contains("Gangguan massal")));
}

/// The harness's own reseller has no email address: not left out of a security notice
/// silently. The owner is told who could not be reached, and the scrape counts it.
async fn owner_hears_of_the_unreachable(app: &TestApp, sink: &Helper) {
    let mails = sink
        .wait("the unreachable alert", Duration::from_secs(20), |l| {
            mails_to(l, "owner@siaga.test").iter().any(|m| {
                m["subject"]
                    .as_str()
                    .unwrap_or("")
                    .contains("could not be told")
            })
        })
        .await;
    let alert = mails_to(&mails, "owner@siaga.test")
        .into_iter()
        .find(|m| {
            m["subject"]
                .as_str()
                .unwrap_or("")
                .contains("could not be told")
        })
        .unwrap();
    assert!(
        alert["subject"].as_str().unwrap().starts_with("1 reseller"),
        "{alert}"
    );
    assert!(
        alert["text"].as_str().unwrap().contains(&app.reseller_id),
        "{alert}"
    );
    let scrape = app
        .http
        .get(format!("{}/metrics", app.base))
        .bearer_auth(crate::harness::METRICS_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        scrape.contains(r#"siaga_notifications_total{channel="email",result="unreachable"} 1"#),
        "{scrape}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_security_incident_emails_every_reseller_and_keys_rotate_at_once() {
    let sink = smtp_sink();
    let app = TestApp::start(Opts {
        notify: notify(Some(sink.port)),
        ..Opts::default()
    })
    .await;
    let admin = |path: &str| {
        app.http
            .post(format!("{}{path}", app.base))
            .bearer_auth(ADMIN)
    };
    let mut keys = vec![app.key.clone()];
    for name in ["Konter Satu", "Konter Dua"] {
        let email = format!("{}@reseller.test", name.replace(' ', ".").to_lowercase());
        let v: Value = admin("/admin/api/resellers")
            .json(&json!({"name": name, "email": email}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        keys.push(v["api_key"].as_str().unwrap().to_owned());
    }
    let inc = open_incident(
        &app,
        "Kebocoran kunci API",
        json!({"security": true, "body": "Sebagian kunci API mungkin bocor.", "body_en": "Some API keys may have leaked."}),
    )
    .await;
    let mails = sink
        .wait("the security notices", Duration::from_secs(20), |l| {
            l.len() >= 2
        })
        .await;
    for who in ["konter.satu@reseller.test", "konter.dua@reseller.test"] {
        let m = mails_to(&mails, who);
        assert_eq!(m.len(), 1, "{who}: {mails:?}");
        let text = m[0]["text"].as_str().unwrap();
        assert!(m[0]["subject"].as_str().unwrap().contains("Security"));
        assert!(text.contains("Some API keys may have leaked."));
        assert!(text.contains("Your data may be at risk"));
        assert!(text.contains(&format!("/incidents/{}", inc["id"])));
    }
    owner_hears_of_the_unreachable(&app, &sink).await;
    // It is on the status page too, from the page's next snapshot (every 0.5 s).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let page = app
            .http
            .get(format!("{}/api/v2/incidents.json", app.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if page.contains("Kebocoran kunci API") || page.contains("leaked") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not on the page: {page}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // Every key and secret at once; the old keys stop working immediately.
    let v: Value = admin("/admin/api/resellers/rotate-keys")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rotated = v["rotated"].as_array().unwrap();
    assert_eq!(rotated.len(), 3, "{v}");
    for old in &keys {
        let r = app
            .http
            .get(format!("{}/v1/balance", app.base))
            .bearer_auth(old)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    for new in rotated {
        let r = app
            .http
            .get(format!("{}/v1/balance", app.base))
            .bearer_auth(new["api_key"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_ne!(new["webhook_secret"], Value::Null);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announced_maintenance_is_told_when_scheduled_started_and_completed() {
    let sink = smtp_sink();
    let app = TestApp::start(Opts {
        notify: notify(Some(sink.port)),
        ..Opts::default()
    })
    .await;
    confirmed_subscriber(&app, &sink, "maint@siaga.test").await;
    let now = app.app.now();
    let at = |ms: i64| siaga::clock::rfc3339(ms);
    let r = app
        .http
        .post(format!("{}/admin/api/maintenance", app.base))
        .bearer_auth(ADMIN)
        .json(&json!({"supplier": "sim0", "starts_at": at(now + 2_000), "ends_at": at(now + 5_000), "note": "upgrade"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let maint = |l: &[Value]| -> Vec<Value> {
        mails_to(l, "maint@siaga.test")
            .into_iter()
            .filter(|m| m["subject"].as_str().unwrap_or("").contains("aintenance"))
            .cloned()
            .collect()
    };
    let mails = sink
        .wait(
            "scheduled, started and completed",
            Duration::from_secs(30),
            |l| maint(l).len() >= 3,
        )
        .await;
    let got = maint(&mails);
    let subject = |i: usize| got[i]["subject"].as_str().unwrap().to_owned();
    assert!(subject(0).contains("Scheduled maintenance"), "{got:?}");
    assert!(subject(1).contains("Maintenance started"), "{got:?}");
    assert!(subject(2).contains("Maintenance completed"), "{got:?}");
    // TSEL10 has a backup route (sim1); XL10 has none: the notice says what happens to each.
    let text = got[0]["text"].as_str().unwrap().to_owned();
    assert!(text.contains("held and processed automatically"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_is_alerted_to_a_low_supplier_balance_and_orders_in_manual_review() {
    let sink = smtp_sink();
    let mut o = Opts {
        notify: notify(Some(sink.port)),
        low_balance_rupiah: Some(50_000),
        manual_review_after_s: 1,
        inquiry_min_s: 1,
        ..Opts::default()
    };
    o.health.probe_interval_s = 1;
    let app = TestApp::start(o).await;
    app.sims[1].set_deposit(5_000);
    // An order the supplier swallows and never explains goes to manual review.
    app.set_mode(0, SimMode::BlackHole).await;
    app.sims[0].set_deposit(40_000);
    let (s, v) = app.order("mr-1", "XL10", "081912345678").await;
    assert!(s == 201 || s == 200, "{v}");
    let mails = sink
        .wait("both owner alerts", Duration::from_secs(40), |l| {
            let owner = mails_to(l, "owner@siaga.test");
            let has = |w: &str| {
                owner
                    .iter()
                    .any(|m| m["subject"].as_str().unwrap_or("").contains(w))
            };
            has("balance low") && has("manual review")
        })
        .await;
    let owner = mails_to(&mails, "owner@siaga.test");
    let review = owner
        .iter()
        .find(|m| m["subject"].as_str().unwrap().contains("manual review"))
        .unwrap();
    assert!(
        review["text"].as_str().unwrap().contains("mr-1"),
        "{review}"
    );
    assert!(owner.iter().any(|m| m["subject"]
        .as_str()
        .unwrap()
        .contains("Supplier sim1 balance low")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribing_is_rate_limited_per_address() {
    let sink = smtp_sink();
    let mut o = Opts {
        notify: notify(Some(sink.port)),
        ..Opts::default()
    };
    o.limits.subscribe_per_ip_per_min = 3;
    let app = TestApp::start(o).await;
    for i in 0..3 {
        let (s, v) = subscribe(&app, json!({"email": format!("r{i}@siaga.test")})).await;
        assert_eq!(s, 202, "{v}");
    }
    let r = app
        .http
        .post(format!("{}/subscribe", app.base))
        .json(&json!({"email": "r9@siaga.test"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "rate_limited");
    // The status page itself is not affected.
    let r = app.http.get(format!("{}/", app.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_affected_reseller_gets_its_voucher_by_email() {
    let sink = smtp_sink();
    let app = TestApp::start(Opts {
        notify: notify(Some(sink.port)),
        ..Opts::default()
    })
    .await;
    let (_, v) = app
        .admin_post(
            "/admin/api/resellers",
            json!({"name": "Konter Tiga", "email": "konter.tiga@reseller.test"}),
        )
        .await;
    let (id, key) = (
        v["id"].as_str().unwrap().to_owned(),
        v["api_key"].as_str().unwrap().to_owned(),
    );
    let (s, _) = app
        .admin_post(
            &format!("/admin/api/resellers/{id}/deposits"),
            json!({"amount": 50_000}),
        )
        .await;
    assert_eq!(s, 201);
    let inc = open_incident(
        &app,
        "Gangguan Telkomsel",
        json!({"components": ["telkomsel Pulsa"]}),
    )
    .await;
    app.set_mode(0, SimMode::Down).await;
    app.set_mode(1, SimMode::Down).await;
    let r = app
        .http
        .post(format!("{}/v1/orders", app.base))
        .bearer_auth(&key)
        .json(&json!({"ref_id": "VM-1", "product": "TSEL10", "destination": "081234567222"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // Wait until it has failed (every route down, no waiting).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let o: Value = app
            .http
            .get(format!("{}/v1/orders/VM-1", app.base))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if o["status"] == "failed" {
            break;
        }
        assert!(Instant::now() < deadline, "{o}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let (_, v) = app
        .admin_post(
            "/admin/api/vouchers",
            json!({"incident": inc["id"], "amount": 2_500}),
        )
        .await;
    assert_eq!(v["emailed"], 1, "{v}");
    let code = v["issued"][0]["code"].as_str().unwrap().to_owned();
    let mails = sink
        .wait("the voucher email", Duration::from_secs(20), |l| {
            l.iter().any(|m| to(m) == "konter.tiga@reseller.test")
        })
        .await;
    let m = mails_to(&mails, "konter.tiga@reseller.test");
    let text = m[0]["text"].as_str().unwrap();
    assert!(text.contains(&code), "{text}");
    assert!(text.contains("Rp2500"), "{text}");
}
