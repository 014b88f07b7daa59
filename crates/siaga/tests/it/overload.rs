//! Overload protection (SPEC 15): a flood of orders on one key is rate limited (429 with
//! `Retry-After`) while another reseller's orders still succeed and the status page still
//! answers; a flood on the status page leaves orders alone; orders beyond the in-flight
//! bound are shed with 503; bad and oversized bodies get the JSON envelope; half-sent and
//! idle connections are closed by the header read timeout; one address holding its whole
//! share of connections is refused more while other addresses are served. Everything
//! waits by polling with a deadline; nothing asserts on timing.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use siaga::config::LimitsCfg;

use crate::harness::{Opts, TestApp, ADMIN, METRICS_TOKEN};

const T: Duration = Duration::from_secs(20);

/// A second reseller with its own key and deposit; returns its API key.
async fn second_reseller(app: &TestApp) -> String {
    reseller_with(app, json!({"name": "Konter Kedua"}), 1_000_000).await
}

/// A reseller made from `fields` (name, callback_url...) with `deposit`; returns its API key.
async fn reseller_with(app: &TestApp, fields: Value, deposit: i64) -> String {
    let r: Value = app
        .http
        .post(format!("{}/admin/api/resellers", app.base))
        .bearer_auth(ADMIN)
        .json(&fields)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = r["id"].as_str().unwrap();
    let d = app
        .http
        .post(format!("{}/admin/api/resellers/{id}/deposits", app.base))
        .bearer_auth(ADMIN)
        .json(&json!({"amount": deposit, "note": "test"}))
        .send()
        .await
        .unwrap();
    assert_eq!(d.status(), 201);
    r["api_key"].as_str().unwrap().to_owned()
}

fn order_body(ref_id: &str, n: u64) -> Value {
    json!({"ref_id": ref_id, "product": "TSEL10", "destination": format!("0812{:08}", n)})
}

/// What a flood saw.
#[derive(Default)]
struct Seen {
    sent: AtomicU64,
    limited: AtomicU64,
    /// A 429 whose body was the envelope with code `rate_limited` and a Retry-After >= 1.
    limited_well_formed: AtomicU64,
    other: AtomicU64,
}

/// `workers` concurrent loops posting orders with `key` until `stop`, or at most `within`
/// (far longer than the test needs: the flood outlasts what it is meant to disturb).
fn flood(
    app: &TestApp,
    key: &str,
    workers: usize,
    within: Duration,
    stop: Arc<AtomicBool>,
) -> (Arc<Seen>, Vec<tokio::task::JoinHandle<()>>) {
    let end = Instant::now() + within;
    let seen = Arc::new(Seen::default());
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(workers)
        .build()
        .unwrap();
    let tasks = (0..workers)
        .map(|w| {
            let (http, seen, stop) = (http.clone(), seen.clone(), stop.clone());
            let (url, key) = (format!("{}/v1/orders", app.base), key.to_owned());
            tokio::spawn(async move {
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) || Instant::now() > end {
                        break;
                    }
                    let n = w as u64 * 10_000_000 + i;
                    let Ok(r) = http
                        .post(&url)
                        .bearer_auth(&key)
                        .json(&order_body(&format!("FLOOD-{n}"), n))
                        .send()
                        .await
                    else {
                        continue;
                    };
                    seen.sent.fetch_add(1, Ordering::Relaxed);
                    if r.status() != 429 {
                        seen.other.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    seen.limited.fetch_add(1, Ordering::Relaxed);
                    let retry = r
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok());
                    let body: Value = r.json().await.unwrap_or(Value::Null);
                    if retry.is_some_and(|s| s >= 1) && body["error"]["code"] == "rate_limited" {
                        seen.limited_well_formed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    (seen, tasks)
}

async fn metric(app: &TestApp, series: &str) -> f64 {
    let text = app
        .http
        .get(format!("{}/metrics", app.base))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(series))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_on_one_key_leaves_other_resellers_and_the_status_page_up() {
    let app = TestApp::start(Opts {
        deposit: 10_000_000,
        limits: LimitsCfg {
            per_key_per_s: 10,
            per_key_burst: 10,
            ..Opts::default().limits
        },
        ..Opts::default()
    })
    .await;
    let other_key = second_reseller(&app).await;
    let stop = Arc::new(AtomicBool::new(false));
    let (seen, tasks) = flood(&app, &app.key, 32, Duration::from_secs(60), stop.clone());
    // Wait until the flood is being refused, so what follows happens during it.
    let end = Instant::now() + T;
    while seen.limited.load(Ordering::Relaxed) < 50 {
        assert!(Instant::now() < end, "the flooded key was never limited");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let other = reqwest::Client::new();
    let mut placed = Vec::new();
    for i in 0..5u64 {
        let ref_id = format!("OTHER-{i}");
        let r = other
            .post(format!("{}/v1/orders", app.base))
            .bearer_auth(&other_key)
            .json(&order_body(&ref_id, 90_000_000 + i))
            .send()
            .await
            .unwrap();
        let s = r.status();
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            s, 201,
            "the other reseller's order during the flood: {body}"
        );
        placed.push(ref_id);
        let page = app.http.get(format!("{}/", app.base)).send().await.unwrap();
        assert_eq!(page.status(), 200, "the status page during the flood");
        let summary = app
            .http
            .get(format!("{}/api/v2/summary.json", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(summary.status(), 200, "summary.json during the flood");
    }
    for ref_id in &placed {
        let end = Instant::now() + T;
        loop {
            let o: Value = other
                .get(format!("{}/v1/orders/{ref_id}", app.base))
                .bearer_auth(&other_key)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if o["status"] == "success" {
                break;
            }
            assert_eq!(o["status"], "pending", "{o}");
            assert!(Instant::now() < end, "{ref_id} still pending: {o}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    // The flood was still on while all that happened.
    assert!(
        !tasks.iter().all(|t| t.is_finished()),
        "flood ended too soon"
    );
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let (limited, good) = (
        seen.limited.load(Ordering::Relaxed),
        seen.limited_well_formed.load(Ordering::Relaxed),
    );
    assert!(limited >= 50, "{limited} refused");
    assert_eq!(good, limited, "every 429 has Retry-After and the envelope");
    assert!(seen.other.load(Ordering::Relaxed) >= 1, "the burst got in");
    let counted = metric(
        &app,
        r#"siaga_http_rejected_total{reason="rate_limited_key"}"#,
    )
    .await;
    assert!(
        counted >= limited as f64,
        "counted {counted}, saw {limited}"
    );
    app.verify_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_on_the_status_page_leaves_orders_up() {
    let app = TestApp::start(Opts {
        limits: LimitsCfg {
            status_per_ip_per_s: 5,
            status_per_ip_burst: 5,
            ..Opts::default().limits
        },
        ..Opts::default()
    })
    .await;
    let end = Instant::now() + T;
    let mut refused = None;
    for _ in 0..10_000 {
        let r = app
            .http
            .get(format!("{}/api/v2/summary.json", app.base))
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            refused = Some(r);
            break;
        }
        assert_eq!(r.status(), 200);
        assert!(Instant::now() < end, "the status page was never limited");
    }
    let r = refused.expect("the status page limit held");
    assert!(r.headers().contains_key("retry-after"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    // The page is refusing this address; orders are not.
    let (s, o) = app.order("INV-1", "TSEL10", "081234567890").await;
    assert_eq!(s, 201, "{o}");
    assert_eq!(app.wait_final("INV-1", T).await["status"], "success");
    let page = app.http.get(format!("{}/", app.base)).send().await.unwrap();
    assert_eq!(
        page.status(),
        429,
        "still limited: the page has its own limiter"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_beyond_the_in_flight_bound_are_shed_with_503() {
    let app = TestApp::start(Opts {
        deposit: 10_000_000,
        limits: LimitsCfg {
            max_inflight_orders: 1,
            ..Opts::default().limits
        },
        ..Opts::default()
    })
    .await;
    let stop = Arc::new(AtomicBool::new(false));
    let http = reqwest::Client::new();
    let shed = Arc::new(std::sync::Mutex::new(None::<(Option<String>, Value)>));
    let tasks: Vec<_> = (0..16u64)
        .map(|w| {
            let (http, stop, shed) = (http.clone(), stop.clone(), shed.clone());
            let (url, key) = (format!("{}/v1/orders", app.base), app.key.clone());
            tokio::spawn(async move {
                for i in 0..200u64 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let n = w * 1_000 + i;
                    let r = http
                        .post(&url)
                        .bearer_auth(&key)
                        .json(&order_body(&format!("B-{n}"), n))
                        .send()
                        .await
                        .unwrap();
                    if r.status() == 503 {
                        let retry = r
                            .headers()
                            .get("retry-after")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned);
                        let body = r.json().await.unwrap_or(Value::Null);
                        *shed.lock().unwrap() = Some((retry, body));
                        stop.store(true, Ordering::Relaxed);
                    } else {
                        assert_eq!(r.status(), 201);
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let (retry, body) = shed
        .lock()
        .unwrap()
        .take()
        .expect("16 concurrent clients against one slot: some order was shed");
    assert_eq!(retry.as_deref(), Some("1"));
    assert_eq!(body["error"]["code"], "overloaded", "{body}");
    assert!(metric(&app, r#"siaga_http_rejected_total{reason="overloaded"}"#).await >= 1.0);
    app.verify_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_and_oversized_bodies_get_the_json_envelope() {
    let app = TestApp::start(Opts::default()).await;
    let big = format!(
        "{{\"ref_id\":\"{}\",\"product\":\"TSEL10\",\"destination\":\"081234567890\"}}",
        "x".repeat(100 * 1024)
    );
    let send = |method: reqwest::Method, path: &str, body: String| {
        app.http
            .request(method, format!("{}{path}", app.base))
            .bearer_auth(&app.key)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let cases = [
        (
            reqwest::Method::POST,
            "/v1/orders",
            big.clone(),
            413,
            "payload_too_large",
        ),
        (
            reqwest::Method::POST,
            "/hooks/suppliers/sim0",
            big.clone(),
            413,
            "payload_too_large",
        ),
        (
            reqwest::Method::POST,
            "/v1/orders",
            "{\"ref_id\":".into(),
            400,
            "bad_request",
        ),
        (
            reqwest::Method::DELETE,
            "/v1/balance",
            String::new(),
            405,
            "method_not_allowed",
        ),
        (
            reqwest::Method::GET,
            "/nowhere",
            String::new(),
            404,
            "not_found",
        ),
    ];
    for (method, path, body, status, code) in cases {
        let r = send(method.clone(), path, body).await.unwrap();
        assert_eq!(r.status(), status, "{method} {path}");
        let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with("application/json"), "{method} {path}: {ct}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], code, "{method} {path}: {v}");
        assert!(v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    // An admin path whose id does not parse: the envelope, in English when asked.
    let r = app
        .http
        .post(format!("{}/admin/api/incidents/abc/updates", app.base))
        .bearer_auth(ADMIN)
        .header("accept-language", "en")
        .json(&json!({"message": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "bad_request", "{v}");
    assert_eq!(v["error"]["message"], "malformed request", "{v}");
    assert!(metric(&app, r#"siaga_http_rejected_total{reason="too_large"}"#).await >= 2.0);
    // Nothing was written.
    assert_eq!(app.balance().await, (100_000, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_connections_are_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::start(Opts {
        limits: LimitsCfg {
            header_read_timeout_ms: 300,
            ..Opts::default().limits
        },
        ..Opts::default()
    })
    .await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    // Reads until the server closes the connection; what it sent, or None past the deadline.
    async fn until_closed(s: &mut tokio::net::TcpStream) -> Option<String> {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let read_all = async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
        };
        tokio::time::timeout(T, read_all).await.ok()?;
        Some(String::from_utf8_lossy(&got).into_owned())
    }
    // A client that starts a request and never finishes its headers (slowloris).
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let said = until_closed(&mut slow)
        .await
        .expect("a half-sent request is cut off");
    assert!(!said.contains("200 OK"), "{said}");
    // A keep-alive connection left idle after its answer.
    let mut idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let said = until_closed(&mut idle)
        .await
        .expect("an idle connection is closed");
    assert!(said.starts_with("HTTP/1.1 200"), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_take_every_connection() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::start(Opts {
        limits: LimitsCfg {
            max_connections: 8,
            max_connections_per_ip: 4,
            ..Opts::default().limits
        },
        ..Opts::default()
    })
    .await;
    let addr: std::net::SocketAddr = app.base.trim_start_matches("http://").parse().unwrap();
    async fn from(local: [u8; 4], to: std::net::SocketAddr) -> tokio::net::TcpStream {
        let s = tokio::net::TcpSocket::new_v4().unwrap();
        s.bind((std::net::Ipv4Addr::from(local), 0).into()).unwrap();
        s.connect(to).await.unwrap()
    }
    async fn ask(s: &mut tokio::net::TcpStream) -> String {
        let _ = s
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await;
        let mut got = Vec::new();
        let _ = tokio::time::timeout(T, s.read_to_end(&mut got)).await;
        String::from_utf8_lossy(&got).into_owned()
    }
    // 127.0.0.1 holds its four connections open and idle (a slow or hostile client).
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(from([127, 0, 0, 1], addr).await);
    }
    // Its fifth is refused with the JSON envelope and closed...
    let mut fifth = from([127, 0, 0, 1], addr).await;
    let said = ask(&mut fifth).await;
    assert!(said.starts_with("HTTP/1.1 503"), "{said}");
    assert!(said.contains("\"overloaded\""), "{said}");
    assert!(
        said.to_ascii_lowercase().contains("retry-after: 1"),
        "{said}"
    );
    // ...while another address is served, although the first one still holds its four.
    let mut other = from([127, 0, 0, 2], addr).await;
    let said = ask(&mut other).await;
    assert!(said.starts_with("HTTP/1.1 200"), "{said}");
    // Once the first address lets go, it is served again.
    drop(held);
    let deadline = Instant::now() + T;
    loop {
        let mut again = from([127, 0, 0, 1], addr).await;
        let said = ask(&mut again).await;
        if said.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(Instant::now() < deadline, "still refused: {said}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_past_the_request_deadline_is_504_outcome_unknown_and_a_replay_settles_it() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::start(Opts {
        limits: LimitsCfg {
            // Long enough for any answer on a busy machine, short for the test.
            request_timeout_ms: 1_500,
            ..Opts::default().limits
        },
        ..Opts::default()
    })
    .await;
    let before = app.balance().await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    // The body never finishes arriving, so the handler is still waiting at the deadline.
    let body = order_body("DL-1", 1).to_string();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /v1/orders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Accept-Language: en\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        app.key,
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&body.as_bytes()[..body.len() / 2])
        .await
        .unwrap();
    let mut got = vec![0u8; 4096];
    let n = tokio::time::timeout(T, s.read(&mut got))
        .await
        .expect("an answer at the deadline")
        .unwrap();
    let said = String::from_utf8_lossy(&got[..n]).into_owned();
    assert!(said.starts_with("HTTP/1.1 504"), "{said}");
    assert!(
        said.to_ascii_lowercase().contains("retry-after: 1"),
        "{said}"
    );
    assert!(said.contains("\"code\":\"timeout\""), "{said}");
    assert!(said.contains("same ref_id"), "{said}");
    assert_eq!(app.balance().await, before, "nothing was taken");
    // The replay the message asks for takes the order (or would replay it had it been taken).
    let (status, o) = app.order("DL-1", "TSEL10", "081200000001").await;
    assert_eq!(status, 201, "{o}");
    assert!(metric(&app, r#"siaga_http_rejected_total{reason="timeout"}"#).await >= 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_callback_endpoint_holds_up_only_its_own_callbacks() {
    use tokio::io::AsyncReadExt;
    // Deliveries to the hanging server never time out during the test, so every
    // connection it accepts is one still open (no retries reconnecting).
    let app = TestApp::start(Opts {
        callback_timeout_ms: 600_000,
        ..Opts::default()
    })
    .await;
    // Reseller A's server takes connections and never answers; we count them.
    let hang = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hang_addr = hang.local_addr().unwrap();
    let accepted = Arc::new(AtomicU64::new(0));
    {
        let accepted = accepted.clone();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((mut s, _)) = hang.accept().await {
                accepted.fetch_add(1, Ordering::SeqCst);
                // Read the request so the client's write completes, then hold the socket.
                let mut buf = [0u8; 4096];
                let _ = tokio::time::timeout(Duration::from_millis(50), s.read(&mut buf)).await;
                held.push(s);
            }
        });
    }
    let key_a = reseller_with(
        &app,
        json!({"name": "Konter Macet", "callback_url": format!("http://{hang_addr}/cb")}),
        10_000_000,
    )
    .await;
    // More finished orders for A than a poll reads (256): the old deliverer read only A's
    // rows, all in flight, and B's callback waited for A's timeouts (10 s).
    let placed = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for w in 0..6u64 {
        let (http, base, key, placed) = (
            app.http.clone(),
            app.base.clone(),
            key_a.clone(),
            placed.clone(),
        );
        tasks.push(tokio::spawn(async move {
            for i in 0..50u64 {
                let n = w * 1_000 + i;
                let r = http
                    .post(format!("{base}/v1/orders"))
                    .bearer_auth(&key)
                    .json(&order_body(&format!("HANG-{n}"), n))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 201);
                placed.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(placed.load(Ordering::SeqCst), 300);
    // Wait until A's endpoint holds its full share of deliveries.
    let deadline = Instant::now() + T;
    while accepted.load(Ordering::SeqCst) < 32 {
        assert!(Instant::now() < deadline, "A's callbacks never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Reseller B's order gets its callback long before A's deliveries time out.
    let (status, o) = app.order("FREE-1", "TSEL10", "081277700001").await;
    assert_eq!(status, 201, "{o}");
    let id = o["order_id"].as_str().unwrap();
    let got = app.wait_callback(id, Duration::from_secs(5)).await;
    let body: Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(body["data"]["order_id"], id, "{body}");
    assert!(
        accepted.load(Ordering::SeqCst) <= 32,
        "one endpoint got {} deliveries at once",
        accepted.load(Ordering::SeqCst)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_url_that_redirects_is_not_followed() {
    let app = TestApp::start(Opts::default()).await;
    // Where a redirect would lead (an address the owner never configured).
    let (elsewhere, got) = crate::harness::receiver().await;
    // The reseller's callback URL answers every POST with 307 to it.
    let hits = Arc::new(AtomicU64::new(0));
    let redirector = {
        let hits = hits.clone();
        axum::Router::new().route(
            "/cb",
            axum::routing::post(move || {
                let hits = hits.clone();
                async move {
                    hits.fetch_add(1, Ordering::SeqCst);
                    (
                        axum::http::StatusCode::TEMPORARY_REDIRECT,
                        [("location", format!("http://{elsewhere}/cb"))],
                    )
                }
            }),
        )
    };
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, redirector).await });
    let key = reseller_with(
        &app,
        json!({"name": "Konter Alih", "callback_url": format!("http://{at}/cb")}),
        100_000,
    )
    .await;
    let r = app
        .http
        .post(format!("{}/v1/orders", app.base))
        .bearer_auth(&key)
        .json(&order_body("REDIR-1", 77))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // A redirect is a failed delivery: it is tried again (retry_base_ms is 200 here)...
    let deadline = Instant::now() + T;
    while hits.load(Ordering::SeqCst) < 2 {
        assert!(Instant::now() < deadline, "the callback was not retried");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // ...and never followed: nothing arrived where it pointed.
    assert!(got.lock().unwrap().is_empty(), "a redirect was followed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit() {
    let app = TestApp::start(Opts {
        limits: LimitsCfg {
            per_ip_per_s: 1,
            per_ip_burst: 3,
            trusted_proxies: vec!["127.0.0.1".into()],
            ..Opts::default().limits
        },
        ..Opts::default()
    })
    .await;
    let get = |xff: &'static str| {
        let (http, base) = (app.http.clone(), app.base.clone());
        async move {
            http.get(format!("{base}/openapi.json"))
                .header("x-forwarded-for", xff)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // One client behind the proxy uses up its burst...
    let mut limited = false;
    for _ in 0..10 {
        if get("198.51.100.1").await == 429 {
            limited = true;
            break;
        }
    }
    assert!(limited, "the forwarded client was never limited");
    // ...while another client behind the same proxy is still served, and a forged entry
    // on the left does not move the first one into a fresh bucket.
    assert_eq!(get("198.51.100.2").await, 200);
    // (The bucket refills one a second: of a quick burst, some are refused.)
    let mut refused = 0;
    for _ in 0..5 {
        if get("203.0.113.50, 198.51.100.1").await == 429 {
            refused += 1;
        }
    }
    assert!(refused > 0, "a forged left entry escaped the limit");
}
