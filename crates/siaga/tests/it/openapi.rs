//! `/openapi.json` against the server it describes (#15 item 12): every route of the router
//! is documented or named here as not part of the reseller API; every documented method
//! answers and no other does; real answers of a live server (every documented status of
//! every operation, errors included) match the document's schemas and headers; every
//! ledger kind the store writes is in the statement enum.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use serde_json::{json, Value};
use siaga::clock::{ManualClock, SystemClock};
use siaga::config::LimitsCfg;
use siaga::http::openapi;
use siaga_suppliers::sim::SimMode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{Opts, TestApp, ADMIN};

/// Routes of the router that are not the reseller API, and why they are not documented.
const UNDOCUMENTED: &[(&str, &str)] = &[
    ("/hooks/", "suppliers' signed reports, not for resellers"),
    (
        "/digiflazz/v1/",
        "the Digiflazz drop-in: Digiflazz's own dialect (SPEC 5.1, README)",
    ),
    ("/metrics", "Prometheus scrape for the operator"),
    ("/healthz", "liveness for the operator's monitoring"),
    ("/readyz", "readiness for the operator's monitoring"),
    ("/admin/api/", "the owner's API (admin token)"),
    ("/api/v2/", "the status page's Statuspage-compatible JSON"),
    ("/history", "the status page (HTML and Atom)"),
    ("/incidents/", "the status page (HTML)"),
    ("/favicon.svg", "the status page's icon"),
    ("/subscribe", "status page subscriptions"),
    ("/unsubscribe/", "status page subscriptions"),
];

/// Documented answers no test here provokes, and why.
const NOT_PROVOKED: &[(&str, &str, &str)] = &[
    // The deadline middleware is on every route; only /v1 requests with a body to wait
    // for (signed accounts) can be held past it on purpose.
    ("get", "/openapi.json", "504"),
    ("get", "/openapi.json", "429"),
];

/// The paths given to `.route(...)` in the router's source, in order.
fn router_paths() -> Vec<String> {
    let src = include_str!("../../src/http/mod.rs");
    src.match_indices(".route(")
        .filter_map(|(at, _)| {
            let rest = src[at + ".route(".len()..].trim_start();
            let rest = rest.strip_prefix('"')?;
            rest.split('"').next().map(str::to_owned)
        })
        .collect()
}

#[test]
fn every_route_is_documented_or_named_as_not_the_reseller_api() {
    let doc = openapi::document(&[]);
    let paths = doc["paths"].as_object().expect("paths");
    let routes = router_paths();
    assert!(
        routes.len() > 20,
        "the router's routes were not found: {routes:?}"
    );
    for r in &routes {
        let reseller = r.starts_with("/v1/") || r == "/openapi.json";
        if reseller {
            assert!(
                paths.contains_key(r),
                "{r} is served but not in /openapi.json"
            );
        } else if r != "/" {
            assert!(
                UNDOCUMENTED.iter().any(|(p, _)| r.starts_with(p)),
                "{r} is a new route: document it in openapi.rs or name it in UNDOCUMENTED"
            );
        }
    }
    for p in paths.keys() {
        assert!(routes.contains(p), "{p} is documented but not served");
    }
    let ops: BTreeSet<(String, String)> = paths
        .iter()
        .flat_map(|(p, item)| {
            let p = p.clone();
            item.as_object()
                .into_iter()
                .flat_map(|m| m.keys().cloned())
                .map(move |m| (m, p.clone()))
        })
        .collect();
    let listed: BTreeSet<(String, String)> = openapi::OPERATIONS
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(ops, listed, "openapi::OPERATIONS and the document differ");
}

#[test]
fn every_ledger_kind_is_in_the_statement_enum() {
    let rules = include_str!("../../../siaga-store/src/rules.rs");
    let kinds: Vec<&str> = rules
        .match_indices("kind: \"")
        .filter_map(|(at, m)| rules[at + m.len()..].split('"').next())
        .collect();
    assert!(kinds.len() >= 5, "{kinds:?}");
    let doc = openapi::document(&[]);
    let e = &doc["components"]["schemas"]["StatementLine"]["properties"]["kind"]["enum"];
    for k in kinds {
        assert!(
            e.as_array().is_some_and(|a| a.iter().any(|v| v == k)),
            "the ledger writes {k:?}, the statement enum is {e}"
        );
    }
}

/// One answer as it came over the wire.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// The document, and which (method, path, status) real answers have been checked against.
struct Spec {
    doc: Value,
    seen: Mutex<BTreeSet<(String, String, String)>>,
}

impl Spec {
    fn new(app: &TestApp) -> Spec {
        Spec {
            doc: openapi::document(&app.settings.products),
            seen: Mutex::default(),
        }
    }

    fn validate(&self, schema: &Value, instance: &Value, what: &str) {
        let wrapper = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": self.doc["components"],
            "allOf": [schema],
        });
        let v = jsonschema::options()
            .should_validate_formats(true)
            .build(&wrapper)
            .unwrap_or_else(|e| panic!("{what}: the schema does not compile: {e}"));
        let errors: Vec<String> = v.iter_errors(instance).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{what}: {errors:?}\n{instance}");
    }

    fn resolve<'a>(&'a self, v: &'a Value) -> &'a Value {
        match v["$ref"].as_str() {
            Some(r) => r
                .trim_start_matches("#/")
                .split('/')
                .fold(&self.doc, |at, k| &at[k]),
            None => v,
        }
    }

    /// Checks an answer of `method path` (the documented template) against the document.
    fn check(&self, method: &str, path: &str, a: &Answer) {
        let what = format!("{} {path} -> {}", method.to_uppercase(), a.status);
        let op = &self.doc["paths"][path][method];
        assert!(op.is_object(), "{what}: not a documented operation");
        let resp = &op["responses"][a.status.to_string()];
        assert!(
            resp.is_object(),
            "{what}: status not documented; body {}",
            String::from_utf8_lossy(&a.body)
        );
        if let Some(schema) = resp["content"]["application/json"].get("schema") {
            let ct = a
                .headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            assert!(
                ct.starts_with("application/json"),
                "{what}: content-type {ct:?}"
            );
            let body: Value = serde_json::from_slice(&a.body)
                .unwrap_or_else(|e| panic!("{what}: body is not JSON ({e})"));
            self.validate(schema, &body, &what);
        }
        if let Some(hs) = resp["headers"].as_object() {
            for (name, h) in hs {
                let h = self.resolve(h);
                match a.headers.get(name).and_then(|v| v.to_str().ok()) {
                    Some(v) => self.validate(&h["schema"], &json!(v), &format!("{what}: {name}")),
                    None => assert!(h["required"] != true, "{what}: no {name} header"),
                }
            }
        }
        self.seen.lock().unwrap().insert((
            method.to_owned(),
            path.to_owned(),
            a.status.to_string(),
        ));
    }

    /// Every documented answer of every operation was seen (or is named in NOT_PROVOKED).
    fn assert_all_seen(&self) {
        let seen = self.seen.lock().unwrap();
        let mut missing = Vec::new();
        for (method, path) in openapi::OPERATIONS {
            let codes = self.doc["paths"][path][method]["responses"]
                .as_object()
                .map(|r| r.keys().cloned().collect::<Vec<_>>())
                .unwrap_or_default();
            for code in codes {
                let key = ((*method).to_owned(), (*path).to_owned(), code.clone());
                let exempt = NOT_PROVOKED
                    .iter()
                    .any(|(m, p, c)| m == method && p == path && *c == code);
                if !seen.contains(&key) && !exempt {
                    missing.push(format!("{method} {path} {code}"));
                }
            }
        }
        assert!(missing.is_empty(), "documented, never checked: {missing:?}");
    }
}

async fn send(app: &TestApp, method: &str, path: &str, key: &str, body: Option<&str>) -> Answer {
    let m = axum::http::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let mut req = app
        .http
        .request(m, format!("{}{path}", app.base))
        .bearer_auth(key);
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_owned());
    }
    let r = req.send().await.unwrap();
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    Answer {
        status,
        headers,
        body: r.bytes().await.unwrap().to_vec(),
    }
}

/// A raw HTTP/1.1 exchange from `local` (a loopback address): what came back before the
/// server closed the connection (or `wait` passed).
async fn raw(app: &TestApp, local: [u8; 4], request: &str, wait: Duration) -> Answer {
    let to: std::net::SocketAddr = app.base.trim_start_matches("http://").parse().unwrap();
    let s = tokio::net::TcpSocket::new_v4().unwrap();
    s.bind((std::net::Ipv4Addr::from(local), 0).into()).unwrap();
    let mut s = s.connect(to).await.unwrap();
    let _ = s.write_all(request.as_bytes()).await;
    let mut got = Vec::new();
    let _ = tokio::time::timeout(wait, s.read_to_end(&mut got)).await;
    parse_raw(&got)
}

fn parse_raw(got: &[u8]) -> Answer {
    let text = String::from_utf8_lossy(got);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let mut headers = HeaderMap::new();
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            if let (Ok(k), Ok(v)) = (
                axum::http::HeaderName::from_bytes(k.trim().as_bytes()),
                v.trim().parse(),
            ) {
                headers.append(k, v);
            }
        }
    }
    Answer {
        status,
        headers,
        body: body.as_bytes().to_vec(),
    }
}

/// A new reseller through the admin API: (id, api key).
async fn reseller(app: &TestApp, name: &str, deposit: i64) -> (String, String) {
    let (s, v) = app
        .admin_post("/admin/api/resellers", json!({ "name": name }))
        .await;
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    if deposit > 0 {
        let (s, d) = app
            .admin_post(
                &format!("/admin/api/resellers/{id}/deposits"),
                json!({"amount": deposit, "note": "uji"}),
            )
            .await;
        assert_eq!(s, 201, "{d}");
    }
    (id, v["api_key"].as_str().unwrap().to_owned())
}

async fn set_access(app: &TestApp, id: &str, allow: &[&str], signed: bool) {
    let r = app
        .http
        .put(format!("{}/admin/api/resellers/{id}/access", app.base))
        .bearer_auth(ADMIN)
        .json(&json!({"ip_allowlist": allow, "require_signature": signed}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// One request per operation with `key`, checked (the path, body and template of each).
const EACH: &[(&str, &str, &str, Option<&str>)] = &[
    (
        "post",
        "/v1/orders",
        "/v1/orders",
        Some(r#"{"ref_id":"E-1","product":"TSEL10","destination":"081234567890"}"#),
    ),
    ("get", "/v1/orders", "/v1/orders", None),
    ("get", "/v1/orders/E-1", "/v1/orders/{ref_id}", None),
    ("get", "/v1/balance", "/v1/balance", None),
    ("get", "/v1/products", "/v1/products", None),
    ("get", "/v1/statement", "/v1/statement", None),
    (
        "post",
        "/v1/vouchers/redeem",
        "/v1/vouchers/redeem",
        Some(r#"{"code":"SIAGA-7K2MX-9QXDX"}"#),
    ),
];

async fn each(spec: &Spec, app: &TestApp, key: &str, want: Option<u16>) {
    for (method, path, template, body) in EACH {
        let a = send(app, method, path, key, *body).await;
        if let Some(w) = want {
            assert_eq!(a.status, w, "{method} {path}: {a:?}");
        }
        spec.check(method, template, &a);
    }
}

/// Every documented method of every documented path answers; any other is 405.
async fn methods(app: &TestApp) {
    let doc = openapi::document(&app.settings.products);
    for (path, item) in doc["paths"].as_object().unwrap() {
        let concrete = path.replace("{ref_id}", "E-1");
        for m in ["get", "post", "put", "patch", "delete"] {
            let a = send(app, m, &concrete, &app.key, Some("{}")).await;
            let documented = item.get(m).is_some();
            assert_eq!(
                a.status == 405,
                !documented,
                "{m} {path}: {} (documented: {documented})",
                a.status
            );
        }
    }
}

async fn orders(spec: &Spec, app: &TestApp) {
    let post =
        |b: &'static str| async move { send(app, "post", "/v1/orders", &app.key, Some(b)).await };
    let cases: &[(&str, u16)] = &[
        (
            r#"{"ref_id":"D-1","product":"TSEL10","destination":"081234567890"}"#,
            201,
        ),
        (
            r#"{"ref_id":"D-1","product":"TSEL10","destination":"081234567890"}"#,
            200,
        ),
        (
            r#"{"ref_id":"D-1","product":"XL10","destination":"081734567890"}"#,
            409,
        ),
        (
            r#"{"ref_id":"D-2","product":"NOPE","destination":"081234567890"}"#,
            422,
        ),
        (
            r#"{"ref_id":"D-2","product":"TSEL10","destination":"0817345678"}"#,
            422,
        ),
        (r#"{"ref_id":"D-2","product":"TSEL10"}"#, 400),
        (
            r#"{"ref_id":"D-2","product":"TSEL10","destination":"081234567890","max_wait_s":604801}"#,
            400,
        ),
        (r#"["D-2"]"#, 400),
    ];
    for (body, want) in cases {
        let a = post(body).await;
        assert_eq!(a.status, *want, "{body}: {a:?}");
        spec.check("post", "/v1/orders", &a);
    }
    let big = format!(r#"{{"ref_id":"D-3","pad":"{}"}}"#, "x".repeat(70 * 1024));
    let a = send(app, "post", "/v1/orders", &app.key, Some(&big)).await;
    assert_eq!(a.status, 413);
    spec.check("post", "/v1/orders", &a);
    app.wait_final("D-1", Duration::from_secs(20)).await;
    for (q, want) in [
        ("", 200),
        ("?status=success&limit=1", 200),
        ("?since=2026-01-01T00:00:00Z", 200),
        ("?since=1700000000&cursor=", 200),
        ("?status=", 400),
        ("?status=done", 400),
        ("?limit=0", 400),
        ("?since=yesterday", 400),
    ] {
        let a = send(app, "get", &format!("/v1/orders{q}"), &app.key, None).await;
        assert_eq!(a.status, want, "{q}: {a:?}");
        spec.check("get", "/v1/orders", &a);
    }
    for (p, want) in [
        ("/v1/orders/D-1", 200),
        ("/v1/orders/NONE", 404),
        ("/v1/orders/%FF", 400),
    ] {
        let a = send(app, "get", p, &app.key, None).await;
        assert_eq!(a.status, want, "{p}: {a:?}");
        spec.check("get", "/v1/orders/{ref_id}", &a);
    }
    for (q, want) in [
        ("", 200),
        ("?from=0&to=253370764799", 200),
        ("?to=253370764800", 400),
        ("?limit=2&cursor=1", 200),
        ("?cursor=0", 400),
        ("?to=yesterday", 400),
    ] {
        let a = send(app, "get", &format!("/v1/statement{q}"), &app.key, None).await;
        assert_eq!(a.status, want, "{q}: {a:?}");
        spec.check("get", "/v1/statement", &a);
    }
    each(spec, app, &app.key, None).await;
    let a = send(app, "get", "/openapi.json", "", None).await;
    assert_eq!(a.status, 200);
    spec.check("get", "/openapi.json", &a);
}

/// Vouchers: redeemed (200), again (409), expired (410), not ours (404), not a code (422),
/// no code (400), too big (413); the failed orders that earn them leave reserve and void
/// lines, the redemption a voucher line.
async fn vouchers(spec: &Spec, app: &TestApp, clock: &ManualClock) {
    let mut codes = Vec::new();
    for (n, days) in [(1, 30), (2, 1)] {
        let (s, inc) = app
            .admin_post(
                "/admin/api/incidents",
                json!({"title": format!("Gangguan {n}"), "body": "Kami menyelidiki.", "components": ["telkomsel Pulsa"]}),
            )
            .await;
        assert_eq!(s, 201, "{inc}");
        clock.advance(1_000);
        app.set_mode(0, SimMode::Down).await;
        app.set_mode(1, SimMode::Down).await;
        let r = format!("VF-{n}");
        let (s, o) = app.order(&r, "TSEL10", "081234567111").await;
        assert_eq!(s, 201, "{o}");
        assert_eq!(
            app.wait_final(&r, Duration::from_secs(20)).await["status"],
            "failed"
        );
        app.set_mode(0, SimMode::Ok).await;
        app.set_mode(1, SimMode::Ok).await;
        clock.advance(1_000);
        let (s, v) = app
            .admin_post(
                "/admin/api/vouchers",
                json!({"incident": inc["id"], "amount": 5_000, "expires_in_days": days}),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        codes.push(
            v["issued"][0]["code"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    let redeem = |code: String| async move {
        let b = json!({ "code": code }).to_string();
        send(app, "post", "/v1/vouchers/redeem", &app.key, Some(&b)).await
    };
    for (code, want) in [
        (codes[0].clone(), 200),
        (codes[0].clone(), 409),
        ("SIAGA-7K2MX-9QXDX".to_owned(), 404),
        ("SIAGA-7K2MX-9QXDR".to_owned(), 422),
    ] {
        let a = redeem(code.clone()).await;
        assert_eq!(a.status, want, "{code}: {a:?}");
        spec.check("post", "/v1/vouchers/redeem", &a);
    }
    clock.advance(2 * 86_400_000);
    let a = redeem(codes[1].clone()).await;
    assert_eq!(a.status, 410, "{a:?}");
    spec.check("post", "/v1/vouchers/redeem", &a);
    for body in [
        "{}".to_owned(),
        format!(r#"{{"code":"{}"}}"#, "x".repeat(70 * 1024)),
    ] {
        let a = send(app, "post", "/v1/vouchers/redeem", &app.key, Some(&body)).await;
        assert!(a.status == 400 || a.status == 413, "{a:?}");
        spec.check("post", "/v1/vouchers/redeem", &a);
    }
}

/// The statement holds every kind a reseller's available balance can see.
async fn statement_kinds(spec: &Spec, app: &TestApp) {
    let a = send(app, "get", "/v1/statement?from=0", &app.key, None).await;
    spec.check("get", "/v1/statement", &a);
    let v: Value = serde_json::from_slice(&a.body).unwrap();
    let kinds: BTreeSet<&str> = v["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["kind"].as_str())
        .collect();
    for k in ["deposit", "reserve", "void", "voucher"] {
        assert!(kinds.contains(k), "no {k} line: {v}");
    }
}

/// 401 (no key, wrong key), 403 (not on the allowlist), 402 (no balance), 504 (a signed
/// account's body that never comes).
async fn refusals(spec: &Spec, app: &TestApp) {
    each(spec, app, "", Some(401)).await;
    each(spec, app, "sk_wrong", Some(401)).await;
    let (id, key) = reseller(app, "Konter Jauh", 0).await;
    set_access(app, &id, &["203.0.113.7"], false).await;
    each(spec, app, &key, Some(403)).await;
    let (_, poor) = reseller(app, "Konter Kosong", 0).await;
    let body = r#"{"ref_id":"P-1","product":"TSEL10","destination":"081234567890"}"#;
    let a = send(app, "post", "/v1/orders", &poor, Some(body)).await;
    assert_eq!(a.status, 402, "{a:?}");
    spec.check("post", "/v1/orders", &a);
    let (id, signed) = reseller(app, "Konter Teken", 0).await;
    set_access(app, &id, &[], true).await;
    for (method, path, template, _) in EACH {
        let req = format!(
            "{} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {signed}\r\n\
             Content-Type: application/json\r\nContent-Length: 10\r\nConnection: close\r\n\r\n",
            method.to_uppercase()
        );
        let a = raw(app, [127, 0, 0, 1], &req, Duration::from_secs(10)).await;
        assert_eq!(a.status, 504, "{method} {path}: {a:?}");
        spec.check(method, template, &a);
    }
}

/// 429 (per key) and 503 (too many connections from one address) on every operation.
async fn limits(spec: &Spec) {
    let app = TestApp::start(Opts {
        limits: LimitsCfg {
            per_key_per_s: 1,
            per_key_burst: 1,
            max_connections_per_ip: 2,
            ..Opts::default().limits
        },
        ..Opts::default()
    })
    .await;
    let (mut limited, mut seen) = (0, 0);
    for _ in 0..3 {
        for (method, path, template, body) in EACH {
            let a = send(&app, method, path, &app.key, *body).await;
            spec.check(method, template, &a);
            seen += 1;
            limited += usize::from(a.status == 429);
        }
    }
    assert!(limited + 3 >= seen, "{limited} of {seen} limited");
    let to: std::net::SocketAddr = app.base.trim_start_matches("http://").parse().unwrap();
    let mut held = Vec::new();
    for _ in 0..2 {
        let s = tokio::net::TcpSocket::new_v4().unwrap();
        s.bind((std::net::Ipv4Addr::new(127, 0, 0, 3), 0).into())
            .unwrap();
        held.push(s.connect(to).await.unwrap());
    }
    for (method, path, template, _) in
        EACH.iter()
            .chain([&("get", "/openapi.json", "/openapi.json", None)])
    {
        let req = format!(
            "{} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            method.to_uppercase()
        );
        let a = raw(&app, [127, 0, 0, 3], &req, Duration::from_secs(10)).await;
        assert_eq!(a.status, 503, "{method} {path}: {a:?}");
        spec.check(method, template, &a);
    }
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_answers_match_the_document() {
    let clock = Arc::new(ManualClock::new(siaga::clock::Clock::now_ms(&SystemClock)));
    let app = TestApp::start(Opts {
        clock: Some(clock.clone()),
        limits: LimitsCfg {
            request_timeout_ms: 1_500,
            ..Opts::default().limits
        },
        ..Opts::default()
    })
    .await;
    let spec = Spec::new(&app);
    methods(&app).await;
    orders(&spec, &app).await;
    vouchers(&spec, &app, &clock).await;
    statement_kinds(&spec, &app).await;
    refusals(&spec, &app).await;
    limits(&spec).await;
    spec.assert_all_seen();
    app.verify_clean().await;
}
