//! Tests of the supplier simulator against a real server on port 0, driven with `reqwest`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use md5::{Digest, Md5};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::*;

const WAIT: Duration = Duration::from_secs(5);

fn local() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn md5_hex(s: &str) -> String {
    hex::encode(Md5::digest(s.as_bytes()))
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(WAIT)
        .build()
        .unwrap()
}

fn short_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap()
}

fn cfg() -> SimConfig {
    SimConfig {
        latency_ms: 50,
        callback_delay_ms: 20,
        ..SimConfig::default()
    }
}

async fn start(cfg: SimConfig) -> Sim {
    Sim::start(cfg, local(), local()).await.unwrap()
}

fn tx_body(ref_id: &str, sku: &str, number: &str) -> Value {
    json!({
        "username": "sim",
        "buyer_sku_code": sku,
        "customer_no": number,
        "ref_id": ref_id,
        "sign": md5_hex(&format!("simsimkey{ref_id}")),
    })
}

async fn post(c: &reqwest::Client, url: String, body: &Value) -> reqwest::Result<(u16, Value)> {
    let resp = c.post(url).json(body).send().await?;
    let status = resp.status().as_u16();
    let v = resp.json::<Value>().await?;
    Ok((status, v))
}

async fn topup(sim: &Sim, ref_id: &str, sku: &str, number: &str) -> Value {
    let (status, v) = post(
        &client(),
        format!("{}/transaction", sim.base_url()),
        &tx_body(ref_id, sku, number),
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "{v}");
    v["data"].clone()
}

async fn control_get(sim: &Sim, path: &str) -> Value {
    client()
        .get(format!("{}{path}", sim.control_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn wait_until(mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "condition not met within {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn price(sku: &str) -> i64 {
    SimProduct::default_catalog()
        .into_iter()
        .find(|p| p.sku == sku)
        .unwrap()
        .price
}

/// A tiny callback receiver: every POST is forwarded as (headers, raw body).
async fn receiver() -> (
    String,
    mpsc::UnboundedReceiver<(HeaderMap, bytes::Bytes)>,
    tokio::task::JoinHandle<()>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/cb",
        axum::routing::post(move |headers: HeaderMap, body: bytes::Bytes| {
            let tx = tx.clone();
            async move {
                let _ = tx.send((headers, body));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(local()).await.unwrap();
    let url = format!("http://{}/cb", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, rx, task)
}

async fn next_callback(
    rx: &mut mpsc::UnboundedReceiver<(HeaderMap, bytes::Bytes)>,
) -> (HeaderMap, bytes::Bytes) {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .unwrap()
        .unwrap()
}

#[test]
fn mode_names_round_trip() {
    for m in SimMode::ALL {
        assert_eq!(m.to_string().parse::<SimMode>().unwrap(), m);
        assert_eq!(serde_json::to_value(m).unwrap(), json!(m.as_str()));
    }
    assert_eq!("in-doubt".parse::<SimMode>().unwrap(), SimMode::InDoubt);
    assert_eq!("BLACK_HOLE".parse::<SimMode>().unwrap(), SimMode::BlackHole);
    assert!("sideways".parse::<SimMode>().is_err());
}

#[tokio::test]
async fn ok_fulfils_once_and_inquiry_does_not_refulfil() {
    let sim = start(cfg()).await;
    let d = topup(&sim, "r1", "tsel10", "081234567890").await;
    assert_eq!(d["status"], "Sukses");
    assert_eq!(d["rc"], "00");
    assert_eq!(d["ref_id"], "r1");
    assert_eq!(d["buyer_sku_code"], "tsel10");
    assert_eq!(d["customer_no"], "081234567890");
    assert_eq!(d["price"], price("tsel10"));
    let sn = d["sn"].as_str().unwrap().to_string();
    assert_eq!(sn.len(), 20);
    assert!(sn.chars().all(|c| c.is_ascii_digit()));

    let again = topup(&sim, "r1", "tsel10", "081234567890").await;
    assert_eq!(again["status"], "Sukses");
    assert_eq!(again["sn"], sn.as_str());

    let f = sim.fulfilled();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].ref_id, "r1");
    assert_eq!(f[0].sn, sn);
    assert!(f[0].at.ends_with('Z'));
    let stats = sim.stats();
    assert_eq!(stats.requests, 2);
    assert_eq!(stats.distinct_refs, 1);
    assert_eq!(stats.fulfilled, 1);
    assert_eq!(stats.deposit, 100_000_000 - price("tsel10"));

    // Same view through the control API.
    let list = control_get(&sim, "/_sim/fulfilled").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["sn"], sn.as_str());
    let stats = control_get(&sim, "/_sim/stats").await;
    assert_eq!(
        stats,
        json!({"requests": 2, "distinct_refs": 1, "fulfilled": 1, "deposit": 100_000_000 - price("tsel10")})
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn serial_numbers_are_deterministic_per_seed() {
    let a = start(cfg()).await;
    let b = start(cfg()).await;
    let sa = topup(&a, "x", "tsel5", "0811").await["sn"].clone();
    let sb = topup(&b, "x", "tsel5", "0811").await["sn"].clone();
    assert_eq!(sa, sb);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn deposit_is_spent_and_shortfall_fails_rc44() {
    let sim = start(SimConfig {
        deposit: 15_000,
        ..cfg()
    })
    .await;
    let d = topup(&sim, "a", "tsel10", "0811").await;
    assert_eq!(d["status"], "Sukses");
    let left = 15_000 - price("tsel10");
    assert_eq!(d["buyer_last_saldo"], left);
    let d = topup(&sim, "b", "tsel10", "0812").await;
    assert_eq!(d["status"], "Gagal");
    assert_eq!(d["rc"], "44");
    assert_eq!(d["sn"], "");
    assert_eq!(sim.fulfilled().len(), 1);
    assert_eq!(sim.stats().deposit, left);

    let c = client();
    let body = json!({"cmd": "deposit", "username": "sim", "sign": md5_hex("simsimkeydepo")});
    let (status, v) = post(&c, format!("{}/cek-saldo", sim.base_url()), &body)
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(v, json!({"data": {"deposit": left}}));

    // A failed ref stays failed, even once the deposit is topped up.
    let resp = c
        .post(format!("{}/_sim/deposit", sim.control_url()))
        .json(&json!({"amount": 1_000_000}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let d = topup(&sim, "b", "tsel10", "0812").await;
    assert_eq!(d["rc"], "44");
    assert_eq!(sim.fulfilled().len(), 1);
    let d = topup(&sim, "c", "tsel10", "0812").await;
    assert_eq!(d["status"], "Sukses");
    assert_eq!(sim.stats().deposit, 1_000_000 - price("tsel10"));
    sim.shutdown().await;
}

#[tokio::test]
async fn ref_reuse_with_other_params_is_rc49() {
    let sim = start(cfg()).await;
    assert_eq!(topup(&sim, "r", "tsel10", "0811").await["status"], "Sukses");
    let d = topup(&sim, "r", "tsel10", "0899").await;
    assert_eq!(
        (d["status"].as_str(), d["rc"].as_str()),
        (Some("Gagal"), Some("49"))
    );
    let d = topup(&sim, "r", "tsel25", "0811").await;
    assert_eq!(d["rc"], "49");
    // The original is untouched.
    let d = topup(&sim, "r", "tsel10", "0811").await;
    assert_eq!(d["status"], "Sukses");
    assert_eq!(sim.fulfilled().len(), 1);
    assert_eq!(sim.stats().distinct_refs, 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn bad_input_is_answered_in_the_dialect() {
    let sim = start(cfg()).await;
    let c = client();
    let url = format!("{}/transaction", sim.base_url());

    // Bad signature / username: rc 41, nothing recorded.
    let mut body = tx_body("s1", "tsel10", "0811");
    body["sign"] = json!("00000000000000000000000000000000");
    let (status, v) = post(&c, url.clone(), &body).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(v["data"]["rc"], "41");
    assert_eq!(v["data"]["status"], "Gagal");
    let mut body = tx_body("s1", "tsel10", "0811");
    body["username"] = json!("other");
    assert_eq!(
        post(&c, url.clone(), &body).await.unwrap().1["data"]["rc"],
        "41"
    );

    // Malformed bodies: HTTP 400, rc 40, the field named.
    let resp = c.post(url.clone()).body("{not json").send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["data"]["rc"], "40");
    assert_eq!(v["data"]["status"], "Gagal");
    let mut body = tx_body("s2", "tsel10", "0811");
    body.as_object_mut().unwrap().remove("customer_no");
    let (status, v) = post(&c, url.clone(), &body).await.unwrap();
    assert_eq!(status, 400);
    assert!(
        v["data"]["message"]
            .as_str()
            .unwrap()
            .contains("customer_no"),
        "{v}"
    );
    assert_eq!(v["data"]["ref_id"], "s2");
    let mut body = tx_body("s3", "tsel10", "0811");
    body["testing"] = json!(7);
    assert_eq!(post(&c, url.clone(), &body).await.unwrap().0, 400);
    let (status, _) = post(&c, url.clone(), &json!([1, 2])).await.unwrap();
    assert_eq!(status, 400);
    let resp = c
        .post(url.clone())
        .body(vec![b'x'; 100 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);

    // Unknown and inactive SKUs: rc 43.
    assert_eq!(topup(&sim, "s4", "nope", "0811").await["rc"], "43");
    sim.upsert_product(ProductPatch {
        sku: "tsel5".into(),
        buyer_product_status: Some(false),
        ..ProductPatch::default()
    })
    .unwrap();
    assert_eq!(topup(&sim, "s5", "tsel5", "0811").await["rc"], "43");

    // max_price below the price: rc 69.
    let mut body = tx_body("s6", "tsel10", "0811");
    body["max_price"] = json!(10_000);
    assert_eq!(
        post(&c, url.clone(), &body).await.unwrap().1["data"]["rc"],
        "69"
    );

    assert!(sim.fulfilled().is_empty());
    let stats = sim.stats();
    assert_eq!(stats.distinct_refs, 3); // s4, s5, s6 (failures are remembered)
    assert_eq!(stats.requests, 10);
    assert_eq!(stats.deposit, 100_000_000);
    sim.shutdown().await;
}

#[tokio::test]
async fn down_refuses_connections_and_ok_reopens_the_same_port() {
    let sim = start(cfg()).await;
    let addr = sim.api_addr();
    let c = client(); // pooled keep-alive connection
    let url = format!("{}/transaction", sim.base_url());
    assert_eq!(
        post(&c, url.clone(), &tx_body("d1", "tsel5", "0811"))
            .await
            .unwrap()
            .0,
        200
    );

    sim.set_mode(SimMode::Down).await.unwrap();
    let err = tokio::net::TcpStream::connect(addr).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    assert!(post(&c, url.clone(), &tx_body("d2", "tsel5", "0811"))
        .await
        .is_err());

    // The control API is still up, and switching back reopens the same address.
    assert_eq!(control_get(&sim, "/_sim/mode").await["mode"], "down");
    let resp = c
        .post(format!("{}/_sim/mode", sim.control_url()))
        .json(&json!({"mode": "ok"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(sim.api_addr(), addr);
    let (status, v) = post(&c, url.clone(), &tx_body("d3", "tsel5", "0811"))
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(v["data"]["status"], "Sukses");
    // d2 never reached the supplier.
    assert_eq!(sim.stats().distinct_refs, 2);

    // Down and up again, several times.
    for _ in 0..3 {
        sim.set_mode(SimMode::Down).await.unwrap();
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
        sim.set_mode(SimMode::Ok).await.unwrap();
        assert!(tokio::net::TcpStream::connect(addr).await.is_ok());
    }
    sim.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn starting_in_down_mode_then_ok_opens_the_api() {
    let sim = start(SimConfig {
        mode: SimMode::Down,
        ..cfg()
    })
    .await;
    assert!(tokio::net::TcpStream::connect(sim.api_addr())
        .await
        .is_err());
    sim.set_mode(SimMode::Ok).await.unwrap();
    assert_eq!(topup(&sim, "x", "tsel5", "0811").await["status"], "Sukses");
    sim.shutdown().await;
}

#[tokio::test]
async fn pending_calls_back_with_a_valid_signature() {
    let (cb_url, mut rx, rtask) = receiver().await;
    let sim = start(SimConfig {
        mode: SimMode::Pending,
        callback_url: Some(cb_url),
        callback_secret: Some("s3cret".into()),
        ..cfg()
    })
    .await;
    let d = topup(&sim, "p1", "tsel25", "0811").await;
    assert_eq!(d["status"], "Pending");
    assert_eq!(d["rc"], "03");
    assert_eq!(d["sn"], "");

    let (headers, body) = next_callback(&mut rx).await;
    assert_eq!(headers["x-digiflazz-event"], "update");
    assert_eq!(headers["user-agent"], "Digiflazz-Hookshot");
    let sig = headers["x-hub-signature"].to_str().unwrap().to_string();
    assert_eq!(sig, callback::signature("s3cret", &body).unwrap());
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["data"]["ref_id"], "p1");
    assert_eq!(v["data"]["status"], "Sukses");
    assert_eq!(v["data"]["rc"], "00");
    let sn = v["data"]["sn"].as_str().unwrap().to_string();
    assert_eq!(sn.len(), 20);

    // Inquiries show the settled state and never fulfil again.
    sim.set_mode(SimMode::Ok).await.unwrap();
    let d = topup(&sim, "p1", "tsel25", "0811").await;
    assert_eq!(d["status"], "Sukses");
    assert_eq!(d["sn"], sn.as_str());
    assert_eq!(sim.fulfilled().len(), 1);
    assert_eq!(sim.stats().deposit, 100_000_000 - price("tsel25"));
    sim.shutdown().await;
    rtask.abort();
}

#[tokio::test]
async fn pending_inquiry_shows_pending_until_settled() {
    let sim = start(SimConfig {
        mode: SimMode::Pending,
        callback_delay_ms: 300,
        ..cfg()
    })
    .await;
    assert_eq!(topup(&sim, "q", "tsel5", "0811").await["status"], "Pending");
    // Deposit is held at once.
    assert_eq!(sim.stats().deposit, 100_000_000 - price("tsel5"));
    let d = topup(&sim, "q", "tsel5", "0811").await;
    assert_eq!(d["status"], "Pending");
    assert!(sim.fulfilled().is_empty());
    wait_until(|| sim.fulfilled().len() == 1).await;
    assert_eq!(topup(&sim, "q", "tsel5", "0811").await["status"], "Sukses");
    sim.shutdown().await;
}

#[tokio::test]
async fn black_hole_then_ok_inquiry_fulfils_exactly_once() {
    let sim = start(SimConfig {
        mode: SimMode::BlackHole,
        ..cfg()
    })
    .await;
    let url = format!("{}/transaction", sim.base_url());
    let err = post(
        &short_client(),
        url.clone(),
        &tx_body("bh", "tsel10", "0811"),
    )
    .await
    .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    // An inquiry while still black-holed is swallowed too.
    assert!(post(
        &short_client(),
        url.clone(),
        &tx_body("bh", "tsel10", "0811")
    )
    .await
    .is_err());
    assert!(sim.fulfilled().is_empty());
    assert_eq!(sim.stats().distinct_refs, 1);
    assert_eq!(sim.stats().deposit, 100_000_000);

    sim.set_mode(SimMode::Ok).await.unwrap();
    let d = topup(&sim, "bh", "tsel10", "0811").await;
    assert_eq!(d["status"], "Sukses");
    let sn = d["sn"].clone();
    let d = topup(&sim, "bh", "tsel10", "0811").await;
    assert_eq!(d["sn"], sn);
    assert_eq!(sim.fulfilled().len(), 1);
    assert_eq!(sim.stats().deposit, 100_000_000 - price("tsel10"));
    sim.shutdown().await;
}

#[tokio::test]
async fn black_hole_then_other_mode_processes_under_that_mode() {
    let sim = start(SimConfig {
        mode: SimMode::BlackHole,
        ..cfg()
    })
    .await;
    let url = format!("{}/transaction", sim.base_url());
    assert!(post(
        &short_client(),
        url.clone(),
        &tx_body("bh", "tsel10", "0811")
    )
    .await
    .is_err());
    sim.set_mode(SimMode::WrongNumber).await.unwrap();
    assert_eq!(topup(&sim, "bh", "tsel10", "0811").await["rc"], "54");
    sim.set_mode(SimMode::Ok).await.unwrap();
    assert_eq!(topup(&sim, "bh", "tsel10", "0811").await["rc"], "54");
    assert!(sim.fulfilled().is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn in_doubt_times_out_but_inquiry_says_sukses() {
    let sim = start(SimConfig {
        mode: SimMode::InDoubt,
        ..cfg()
    })
    .await;
    let url = format!("{}/transaction", sim.base_url());
    let err = post(
        &short_client(),
        url.clone(),
        &tx_body("id", "tsel10", "0811"),
    )
    .await
    .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    wait_until(|| sim.fulfilled().len() == 1).await;
    // Inquiry while still in_doubt is answered.
    let d = topup(&sim, "id", "tsel10", "0811").await;
    assert_eq!(d["status"], "Sukses");
    assert_eq!(d["sn"], sim.fulfilled()[0].sn.as_str());
    sim.set_mode(SimMode::Ok).await.unwrap();
    assert_eq!(
        topup(&sim, "id", "tsel10", "0811").await["status"],
        "Sukses"
    );
    assert_eq!(sim.fulfilled().len(), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn error_mode_is_http_500_and_records_nothing() {
    let sim = start(SimConfig {
        mode: SimMode::Error,
        ..cfg()
    })
    .await;
    let c = client();
    let resp = c
        .post(format!("{}/transaction", sim.base_url()))
        .json(&tx_body("e", "tsel10", "0811"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    let resp = c
        .post(format!("{}/cek-saldo", sim.base_url()))
        .json(&json!({"cmd": "deposit", "username": "sim", "sign": md5_hex("simsimkeydepo")}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    let stats = sim.stats();
    assert_eq!((stats.requests, stats.distinct_refs), (1, 0));
    sim.set_mode(SimMode::Ok).await.unwrap();
    assert_eq!(topup(&sim, "e", "tsel10", "0811").await["status"], "Sukses");
    assert_eq!(sim.fulfilled().len(), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn failing_modes_answer_their_rc_and_are_remembered() {
    let sim = start(cfg()).await;
    for (mode, rc) in [
        (SimMode::Maintenance, "58"),
        (SimMode::NoBalance, "44"),
        (SimMode::WrongNumber, "54"),
    ] {
        sim.set_mode(mode).await.unwrap();
        let r = format!("f-{mode}");
        let d = topup(&sim, &r, "tsel10", "0811").await;
        assert_eq!(
            (d["status"].as_str(), d["rc"].as_str()),
            (Some("Gagal"), Some(rc)),
            "{mode}"
        );
        sim.set_mode(SimMode::Ok).await.unwrap();
        assert_eq!(topup(&sim, &r, "tsel10", "0811").await["rc"], rc);
    }
    assert!(sim.fulfilled().is_empty());
    assert_eq!(sim.stats().deposit, 100_000_000);
    sim.shutdown().await;
}

#[tokio::test]
async fn flaky_uses_fail_rate() {
    let sim = start(cfg()).await;
    sim.set_mode(ModeRequest {
        fail_rate: Some(1.0),
        ..ModeRequest::new(SimMode::Flaky)
    })
    .await
    .unwrap();
    let d = topup(&sim, "k1", "tsel10", "0811").await;
    assert_eq!(d["rc"], "62");
    sim.set_mode(ModeRequest {
        fail_rate: Some(0.0),
        ..ModeRequest::new(SimMode::Flaky)
    })
    .await
    .unwrap();
    assert_eq!(topup(&sim, "k2", "tsel10", "0811").await["rc"], "00");
    // Inquiry of the failed one still says 62.
    assert_eq!(topup(&sim, "k1", "tsel10", "0811").await["rc"], "62");

    // With 0.5, both outcomes occur (seeded, so this is deterministic).
    sim.set_mode(ModeRequest {
        fail_rate: Some(0.5),
        ..ModeRequest::new(SimMode::Flaky)
    })
    .await
    .unwrap();
    let mut rcs = Vec::new();
    for i in 0..20 {
        rcs.push(
            topup(&sim, &format!("m{i}"), "tsel5", "0811").await["rc"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert!(
        rcs.iter().any(|r| r == "62") && rcs.iter().any(|r| r == "00"),
        "{rcs:?}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn slow_adds_latency_then_fulfils() {
    let sim = start(cfg()).await;
    sim.set_mode(ModeRequest {
        latency_ms: Some(80),
        ..ModeRequest::new(SimMode::Slow)
    })
    .await
    .unwrap();
    let t = Instant::now();
    assert_eq!(topup(&sim, "s", "tsel10", "0811").await["status"], "Sukses");
    assert!(t.elapsed() >= Duration::from_millis(80));
    sim.shutdown().await;
}

#[tokio::test]
async fn digiflazz_test_numbers() {
    let (cb_url, mut rx, rtask) = receiver().await;
    // No default callback URL: the request's cb_url is used.
    let sim = start(cfg()).await;
    let c = client();
    let url = format!("{}/transaction", sim.base_url());
    let send = |r: &str, n: &str| {
        let mut b = tx_body(r, "xld10", n);
        b["testing"] = json!(true);
        b["cb_url"] = json!(cb_url.clone());
        b
    };
    let (_, v) = post(&c, url.clone(), &send("t0", "087800001230"))
        .await
        .unwrap();
    assert_eq!(v["data"]["status"], "Sukses");
    let (_, v) = post(&c, url.clone(), &send("t2", "087800001232"))
        .await
        .unwrap();
    assert_eq!(v["data"]["status"], "Gagal");

    let (_, v) = post(&c, url.clone(), &send("t3", "087800001233"))
        .await
        .unwrap();
    assert_eq!(v["data"]["status"], "Pending");
    let (headers, body) = next_callback(&mut rx).await;
    assert!(
        headers.get("x-hub-signature").is_none(),
        "no secret, no signature"
    );
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (v["data"]["ref_id"].as_str(), v["data"]["status"].as_str()),
        (Some("t3"), Some("Sukses"))
    );

    let (_, v) = post(&c, url.clone(), &send("t4", "087800001234"))
        .await
        .unwrap();
    assert_eq!(v["data"]["status"], "Pending");
    let (_, body) = next_callback(&mut rx).await;
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (v["data"]["ref_id"].as_str(), v["data"]["status"].as_str()),
        (Some("t4"), Some("Gagal"))
    );

    // Test transactions spend nothing.
    assert_eq!(sim.stats().deposit, 100_000_000);
    let refs: Vec<String> = sim.fulfilled().into_iter().map(|f| f.ref_id).collect();
    assert_eq!(refs, ["t0", "t3"]);
    // Without `testing`, the number is an ordinary one.
    assert_eq!(
        topup(&sim, "t5", "xld10", "087800001232").await["status"],
        "Sukses"
    );
    sim.shutdown().await;
    rtask.abort();
}

#[tokio::test]
async fn callback_failures_are_retried() {
    // A receiver that refuses the first attempt.
    let (tx, mut rx) = mpsc::unbounded_channel::<u32>();
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let app = axum::Router::new().route(
        "/cb",
        axum::routing::post(move || {
            let hits = hits.clone();
            let tx = tx.clone();
            async move {
                let n = hits.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                let _ = tx.send(n);
                if n == 1 {
                    axum::http::StatusCode::SERVICE_UNAVAILABLE
                } else {
                    axum::http::StatusCode::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(local()).await.unwrap();
    let url = format!("http://{}/cb", listener.local_addr().unwrap());
    let rtask = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let sim = start(SimConfig {
        mode: SimMode::Pending,
        callback_url: Some(url),
        ..cfg()
    })
    .await;
    topup(&sim, "cb", "tsel5", "0811").await;
    let first = tokio::time::timeout(WAIT, rx.recv())
        .await
        .unwrap()
        .unwrap();
    let second = tokio::time::timeout(WAIT, rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((first, second), (1, 2));
    sim.shutdown().await;
    rtask.abort();
}

#[tokio::test]
async fn control_api() {
    let sim = start(cfg()).await;
    let c = client();
    control_mode(&sim, &c).await;
    control_deposit(&sim, &c).await;
    control_products(&sim, &c).await;

    // The price list reflects it.
    let body = json!({"cmd": "prepaid", "username": "sim", "sign": md5_hex("simsimkeypricelist")});
    price_list_reflects_the_products(&sim, &c, &body).await;
    signatures_are_checked(&sim, &c, &body).await;
    sim.shutdown().await;
}

/// `/_sim/mode`: read the defaults, set a mode, refuse bad requests without changing it.
async fn control_mode(sim: &Sim, c: &reqwest::Client) {
    let ctl = sim.control_url();
    let v = control_get(sim, "/_sim/mode").await;
    assert_eq!(
        v,
        json!({"mode": "ok", "latency_ms": 50, "fail_rate": 0.5, "callback_delay_ms": 20})
    );
    let resp = c
        .post(format!("{ctl}/_sim/mode"))
        .json(&json!({"mode": "maintenance", "latency_ms": 7}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["mode"], "maintenance");
    assert_eq!(v["latency_ms"], 7);
    assert_eq!(sim.mode().mode, SimMode::Maintenance);

    for bad in [
        json!({"mode": "sideways"}),
        json!({"mode": "ok", "fail_rate": 2.0}),
        json!({}),
    ] {
        let resp = c
            .post(format!("{ctl}/_sim/mode"))
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{bad}");
        let v: Value = resp.json().await.unwrap();
        assert!(v["error"].is_string());
    }
    let resp = c
        .post(format!("{ctl}/_sim/mode"))
        .body("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(sim.mode().mode, SimMode::Maintenance);
}

/// `/_sim/deposit` sets the deposit and refuses a non-number.
async fn control_deposit(sim: &Sim, c: &reqwest::Client) {
    let ctl = sim.control_url();
    let resp = c
        .post(format!("{ctl}/_sim/deposit"))
        .json(&json!({"amount": 42}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({"deposit": 42}));
    assert_eq!(sim.stats().deposit, 42);
    let resp = c
        .post(format!("{ctl}/_sim/deposit"))
        .json(&json!({"amount": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}

/// Products: update one, add one, reject a new one without a price.
async fn control_products(sim: &Sim, c: &reqwest::Client) {
    let ctl = sim.control_url();
    let resp = c
        .post(format!("{ctl}/_sim/products"))
        .json(&json!({"sku": "tsel10", "price": 11_000, "seller_product_status": false, "start_cut_off": "23:45", "end_cut_off": "00:15"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let p: SimProduct = resp.json().await.unwrap();
    assert_eq!((p.price, p.seller_product_status), (11_000, false));
    let resp = c
        .post(format!("{ctl}/_sim/products"))
        .json(&json!({"sku": "new9", "price": 9_000}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = c
        .post(format!("{ctl}/_sim/products"))
        .json(&json!({"sku": "new10"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}

/// The signed price-list request `body` lists the updated and the added product, with
/// every field, and filters by code.
async fn price_list_reflects_the_products(sim: &Sim, c: &reqwest::Client, body: &Value) {
    let (status, v) = post(c, format!("{}/price-list", sim.base_url()), body)
        .await
        .unwrap();
    assert_eq!(status, 200);
    let items = v["data"].as_array().unwrap();
    assert_eq!(items.len(), SimProduct::default_catalog().len() + 1);
    let t = items
        .iter()
        .find(|i| i["buyer_sku_code"] == "tsel10")
        .unwrap();
    assert_eq!(t["price"], 11_000);
    assert_eq!(t["seller_product_status"], false);
    assert_eq!(t["start_cut_off"], "23:45");
    for field in [
        "product_name",
        "category",
        "brand",
        "type",
        "seller_name",
        "price",
        "buyer_sku_code",
        "buyer_product_status",
        "seller_product_status",
        "unlimited_stock",
        "stock",
        "multi",
        "start_cut_off",
        "end_cut_off",
        "desc",
    ] {
        assert!(t.get(field).is_some(), "{field}");
    }
    assert!(items.iter().any(|i| i["buyer_sku_code"] == "new9"));
    let mut filtered = body.clone();
    filtered["code"] = json!("new9");
    let (_, v) = post(c, format!("{}/price-list", sim.base_url()), &filtered)
        .await
        .unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
}

/// Signatures on balance and price list (`body` is a well-signed price-list request);
/// a body that is not JSON is rc 40.
async fn signatures_are_checked(sim: &Sim, c: &reqwest::Client, body: &Value) {
    let mut bad = body.clone();
    bad["sign"] = json!("x");
    let (_, v) = post(c, format!("{}/price-list", sim.base_url()), &bad)
        .await
        .unwrap();
    assert_eq!(v["data"]["rc"], "41");
    let bad = json!({"cmd": "deposit", "username": "sim", "sign": "x"});
    let (_, v) = post(c, format!("{}/cek-saldo", sim.base_url()), &bad)
        .await
        .unwrap();
    assert_eq!(v["data"]["rc"], "41");
    let resp = c
        .post(format!("{}/cek-saldo", sim.base_url()))
        .body("[")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<Value>().await.unwrap()["data"]["rc"], "40");
}

#[tokio::test]
async fn cut_off_window_fails_rc58() {
    let sim = start(cfg()).await;
    let now = i32::from(catalog::wib_minute_now());
    let hhmm = |m: i32| {
        let m = m.rem_euclid(24 * 60);
        format!("{:02}:{:02}", m / 60, m % 60)
    };
    sim.upsert_product(ProductPatch {
        sku: "pln20".into(),
        start_cut_off: Some(hhmm(now - 5)),
        end_cut_off: Some(hhmm(now + 5)),
        ..ProductPatch::default()
    })
    .unwrap();
    assert_eq!(topup(&sim, "c1", "pln20", "1234567890").await["rc"], "58");
    assert_eq!(topup(&sim, "c2", "pln50", "1234567890").await["rc"], "00");
    sim.shutdown().await;
}

#[tokio::test]
async fn concurrent_resends_fulfil_once() {
    let sim = start(cfg()).await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let url = format!("{}/transaction", sim.base_url());
        tasks.push(tokio::spawn(async move {
            post(&client(), url, &tx_body("same", "tsel10", "0811"))
                .await
                .unwrap()
                .1
        }));
    }
    let mut sns = std::collections::HashSet::new();
    for t in tasks {
        let v = t.await.unwrap();
        assert_eq!(v["data"]["status"], "Sukses");
        sns.insert(v["data"]["sn"].as_str().unwrap().to_string());
    }
    assert_eq!(sns.len(), 1);
    assert_eq!(sim.fulfilled().len(), 1);
    assert_eq!(sim.stats().deposit, 100_000_000 - price("tsel10"));
    sim.shutdown().await;
}
