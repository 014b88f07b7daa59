//! Hostile text never gets through unescaped (issue #14): markup and `&` typed into an
//! incident's title and update, a component's name and a subscriber's address come out
//! escaped on every HTML page, in the Atom feed (checked by real XML parsers) and in the
//! HTML part of an email sent over real SMTP, while `/api/v2` JSON, the plain-text part and
//! the subject keep the text exactly as typed.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use siaga::notify::config::{NotifySettings, Smtp, Tls};

use crate::harness::{Opts, TestApp};

/// Every hostile piece at once: a script tag, an attribute break-out and an ampersand.
const H: &str = "<script>alert(1)</script> \"><img src=x onerror=alert(1)> & co";
/// `H` as HTML and XML must show it.
const H_ESCAPED: &str =
    "&lt;script&gt;alert(1)&lt;/script&gt; &quot;&gt;&lt;img src=x onerror=alert(1)&gt; &amp; co";
const T: Duration = Duration::from_secs(20);

/// The real SMTP server of `tools/notify/smtp_sink.py` (aiosmtpd) on a free port; one JSON
/// line per message received. Killed on drop.
struct Sink {
    child: Child,
    port: u16,
    out: tempfile::NamedTempFile,
}

impl Sink {
    fn start() -> Sink {
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tools/notify/smtp_sink.py");
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let out = tempfile::NamedTempFile::new().unwrap();
            let mut child = Command::new("python3")
                .arg(&script)
                .arg(port.to_string())
                .arg(out.path())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("python3 must be installed (see .ci/run)");
            let mut line = String::new();
            let _ = BufReader::new(child.stdout.take().unwrap()).read_line(&mut line);
            if line.trim() == "ready" {
                return Sink { child, port, out };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("smtp_sink.py did not start (pip install aiosmtpd; see .ci/run)");
    }

    /// Waits for the first message to `to` whose subject contains `subject`.
    async fn wait_mail(&self, to: &str, subject: &str) -> Value {
        let end = Instant::now() + T;
        loop {
            let found = std::fs::read_to_string(self.out.path())
                .unwrap_or_default()
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .find(|m| {
                    m["to"][0] == to && m["subject"].as_str().unwrap_or("").contains(subject)
                });
            if let Some(m) = found {
                return m;
            }
            assert!(Instant::now() < end, "no mail to {to} about {subject:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn notify(port: u16) -> NotifySettings {
    NotifySettings {
        smtp: Some(Smtp {
            host: "127.0.0.1".into(),
            port,
            tls: Tls::None,
            username: None,
            password: None,
            from: "Status Uji <status@siaga.test>".into(),
            per_second: 100,
            pool: 2,
            timeout_ms: 5_000,
        }),
        retry_base_ms: 100,
        retry_max_ms: 400,
        ..NotifySettings::default()
    }
}

async fn get(app: &TestApp, path: &str) -> (u16, String) {
    let r = app
        .http
        .get(format!("{}{path}", app.base))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// No tag from hostile text in this markup; every hostile text is there, escaped.
fn assert_escaped(what: &str, markup: &str, texts: &[String]) {
    for tag in ["<script", "<img"] {
        assert!(!markup.contains(tag), "{what}: raw {tag}:\n{markup}");
    }
    for t in texts {
        let escaped = t.replace(H, H_ESCAPED);
        assert!(
            markup.contains(&escaped),
            "{what}: lacks {escaped:?}:\n{markup}"
        );
    }
}

/// Parses the feed with Python's XML parser (well-formed) and feedparser (valid Atom); the
/// entries' titles and contents as feedparser decodes them.
fn parse_feed(atom: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("history.atom");
    std::fs::write(&file, atom).unwrap();
    let out = Command::new("python3")
        .arg("-c")
        .arg("import feedparser, json, sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1]); d = feedparser.parse(sys.argv[1]); print(json.dumps({'bozo': bool(d.bozo), 'titles': [e.title for e in d.entries], 'contents': [e.content[0].value for e in d.entries]}))")
        .arg(&file)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "the feed is not well-formed XML, or feedparser is missing: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A confirmed subscriber at `email`: subscribes, follows the link of the confirmation mail.
async fn confirmed(app: &TestApp, sink: &Sink, email: &str) {
    let (s, v) = app.post_json("/subscribe", &json!({"email": email})).await;
    assert_eq!(s, 202, "{v}");
    let mail = sink.wait_mail(email, "Confirm").await;
    let text = mail["text"].as_str().unwrap();
    let start = text
        .find("/subscribe/confirm/")
        .expect("a confirmation link");
    let end = text[start..]
        .find(char::is_whitespace)
        .map_or(text.len(), |e| start + e);
    // The link names the public URL of the first start; the app now listens elsewhere.
    let (s, page) = get(app, &text[start..end]).await;
    assert_eq!(s, 200, "{page}");
}

/// Hostile addresses through the page's form: refused or accepted, the answer shows no markup.
async fn hostile_addresses_are_not_reflected(app: &TestApp) {
    for email in [
        "<script>alert(1)</script>@siaga.test".to_string(),
        "\"><img src=x onerror=alert(1)>@siaga.test".to_string(),
        format!("\"{H}\"@siaga.test"),
    ] {
        let r = app
            .http
            .post(format!("{}/subscribe", app.base))
            .form(&[("email", email.as_str())])
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body = r.text().await.unwrap();
        assert!(status == 200 || status == 400, "{email}: {status} {body}");
        assert!(
            !body.contains("<script") && !body.contains("<img"),
            "{email}: {body}"
        );
    }
    // A hostile component name comes back in the form's error page, escaped, in the
    // visitor's language.
    for lang in ["id", "en"] {
        let r = app
            .http
            .post(format!("{}/subscribe", app.base))
            .form(&[
                ("lang", lang),
                ("email", "e@siaga.test"),
                ("components[]", H),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
        let body = r.text().await.unwrap();
        assert!(body.contains(&format!("lang=\"{lang}\"")), "{body}");
        assert!(
            !body.contains("<script") && !body.contains("<img") && body.contains("&lt;script&gt;"),
            "{lang}: {body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_text_is_escaped_in_html_atom_and_email_and_kept_in_json() {
    let sink = Sink::start();
    let mut app = TestApp::start(Opts {
        notify: notify(sink.port),
        ..Opts::default()
    })
    .await;
    // Components are named by the config: give one a hostile name and start again on it.
    let component = format!("XL {H}");
    let xl = app
        .settings
        .products
        .iter_mut()
        .find(|p| p.group == "xl Pulsa")
        .expect("the harness sells XL");
    xl.group = component.clone();
    app.restart().await;

    let subscriber = "x&y@siaga.test";
    confirmed(&app, &sink, subscriber).await;
    hostile_addresses_are_not_reflected(&app).await;

    let t = Texts {
        title: format!("Judul {H}"),
        opening: format!("Pembukaan {H}"),
        update: format!("Pembaruan {H}"),
        component,
    };
    let id = post_incident(&app, &t).await;

    json_keeps_the_text(&app, &t).await;
    html_pages_escape_the_text(&app, id, &t).await;
    atom_escapes_the_text(&app, &t).await;

    // The incident notice to the subscriber: HTML part escaped; text part and subject as typed.
    let (title, opening, component) = (&t.title, &t.opening, &t.component);
    let mail = sink.wait_mail(subscriber, "Judul").await;
    let html = mail["html"].as_str().unwrap();
    assert_escaped(
        "email html",
        html,
        &[title.clone(), opening.clone(), component.clone()],
    );
    assert!(html.contains("/unsubscribe/"), "{html}");
    let text = mail["text"].as_str().unwrap();
    assert!(text.contains(title) && text.contains(opening) && text.contains(component));
    assert!(mail["subject"].as_str().unwrap().contains(title), "{mail}");
}

/// The hostile texts of the incident: its title, opening body, one update and the
/// component it affects.
struct Texts {
    title: String,
    opening: String,
    update: String,
    component: String,
}

/// Opens the incident with its opening body and posts one update; returns its id.
async fn post_incident(app: &TestApp, t: &Texts) -> i64 {
    let (title, opening, update) = (&t.title, &t.opening, &t.update);
    let (s, v) = app
        .admin_post(
            "/admin/api/incidents",
            json!({"title": title, "body": opening, "title_en": title, "body_en": opening,
                   "components": [t.component], "impact": "major"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_i64().unwrap();
    let (s, v) = app
        .admin_post(
            &format!("/admin/api/incidents/{id}/updates"),
            json!({"status": "identified", "body": update, "body_en": update}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    id
}

/// JSON keeps every text exactly as typed.
async fn json_keeps_the_text(app: &TestApp, t: &Texts) {
    let end = Instant::now() + T;
    let summary = loop {
        let (_, s) = get(app, "/api/v2/summary.json").await;
        let s: Value = serde_json::from_str(&s).unwrap();
        if s["incidents"][0]["incident_updates"]
            .as_array()
            .map(Vec::len)
            == Some(2)
        {
            break s;
        }
        assert!(
            Instant::now() < end,
            "the incident never reached the page: {s}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let inc = &summary["incidents"][0];
    assert_eq!(inc["name"], t.title.as_str());
    assert_eq!(inc["incident_updates"][0]["body"], t.update.as_str());
    assert_eq!(inc["incident_updates"][1]["body"], t.opening.as_str());
    assert_eq!(inc["components"][0]["name"], t.component.as_str());
    assert!(summary["components"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["name"] == t.component.as_str()));
    let (_, incidents) = get(app, "/api/v2/incidents.json?lang=en").await;
    let incidents: Value = serde_json::from_str(&incidents).unwrap();
    assert_eq!(incidents["incidents"][0]["name"], t.title.as_str());
}

/// Every HTML page, in both languages.
async fn html_pages_escape_the_text(app: &TestApp, id: i64, t: &Texts) {
    let all = [
        t.title.clone(),
        t.opening.clone(),
        t.update.clone(),
        t.component.clone(),
    ];
    for path in ["/", "/?lang=en"] {
        let (s, page) = get(app, path).await;
        assert_eq!(s, 200);
        assert_escaped(path, &page, &all);
    }
    for path in [
        "/history".to_string(),
        "/history?lang=en".to_string(),
        format!("/incidents/{id}"),
        format!("/incidents/{id}?lang=en"),
    ] {
        let (s, page) = get(app, &path).await;
        assert_eq!(s, 200);
        assert_escaped(&path, &page, &all);
    }
}

/// The Atom feed: escaped in the XML, the text itself once parsed.
async fn atom_escapes_the_text(app: &TestApp, t: &Texts) {
    let (s, atom) = get(app, "/history.atom").await;
    assert_eq!(s, 200);
    assert_escaped(
        "/history.atom",
        &atom,
        &[t.title.clone(), t.opening.clone(), t.update.clone()],
    );
    let feed = parse_feed(&atom);
    assert_eq!(feed["bozo"], false, "{feed}");
    assert!(
        feed["titles"][0].as_str().unwrap().starts_with(&t.title),
        "{feed}"
    );
    assert!(
        feed["contents"][0].as_str().unwrap().contains(&t.update),
        "{feed}"
    );
    assert!(
        feed["contents"][1].as_str().unwrap().contains(&t.opening),
        "{feed}"
    );
}
