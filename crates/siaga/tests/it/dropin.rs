//! The Digiflazz drop-in (SPEC 5.1) as a Digiflazz buyer sees it. `Buyer` is a client
//! written here from Digiflazz's public description (SUPPLIERS.md: bodies, md5 signs,
//! `{"data":...}` replies, `X-Hub-Signature` callbacks), not from siaga's adapter code:
//! balance, price list, a transaction and its status by resending, a wrong sign, the
//! test numbers, rc codes for refusals, Digiflazz-format callbacks, and the CLI's keys.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use serde_json::{json, Value};

use crate::harness::{receiver, Opts, Received, TestApp};

/// A Digiflazz buyer: `username`, the API key, and the base URL ending in `/v1`.
pub struct Buyer {
    pub http: reqwest::Client,
    pub base: String,
    pub username: String,
    pub key: String,
}

/// md5 hex, as Digiflazz's signs are written.
pub fn md5_hex(s: &str) -> String {
    hex::encode(Md5::digest(s.as_bytes()))
}

/// Whether `X-Hub-Signature` is `sha1=<hex HMAC-SHA1(secret, body)>`.
pub fn hub_ok(secret: &str, body: &[u8], header: Option<&str>) -> bool {
    let mut mac = <Hmac<sha1::Sha1> as Mac>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    let want = format!("sha1={}", hex::encode(mac.finalize().into_bytes()));
    header == Some(want.as_str())
}

impl Buyer {
    /// The same client speaking as `username` with `key`.
    pub fn with(&self, username: &str, key: &str) -> Buyer {
        Buyer {
            http: self.http.clone(),
            base: self.base.clone(),
            username: username.to_owned(),
            key: key.to_owned(),
        }
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn cek_saldo(&self) -> (u16, Value) {
        let sign = md5_hex(&format!("{}{}depo", self.username, self.key));
        let body = json!({"cmd": "deposit", "username": self.username, "sign": sign});
        self.post("cek-saldo", body).await
    }

    pub async fn price_list(&self) -> (u16, Value) {
        let sign = md5_hex(&format!("{}{}pricelist", self.username, self.key));
        let body = json!({"cmd": "prepaid", "username": self.username, "sign": sign});
        self.post("price-list", body).await
    }

    pub fn trx_body(&self, sku: &str, no: &str, ref_id: &str) -> Value {
        let sign = md5_hex(&format!("{}{}{ref_id}", self.username, self.key));
        json!({"username": self.username, "buyer_sku_code": sku, "customer_no": no,
               "ref_id": ref_id, "sign": sign})
    }

    pub async fn transaction(&self, sku: &str, no: &str, ref_id: &str) -> (u16, Value) {
        self.post("transaction", self.trx_body(sku, no, ref_id))
            .await
    }

    /// Resends the transaction (the status check) until it is no longer Pending.
    pub async fn until_final(&self, sku: &str, no: &str, ref_id: &str) -> Value {
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            let (s, v) = self.transaction(sku, no, ref_id).await;
            assert_eq!(s, 200, "{v}");
            if v["data"]["status"] != "Pending" {
                return v["data"].clone();
            }
            assert!(Instant::now() < end, "still pending: {v}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A reseller for the drop-in on `t` whose callbacks (Digiflazz format) land in the list.
pub struct DigiReseller {
    pub buyer: Buyer,
    pub webhook_secret: String,
    pub received: Arc<Mutex<Vec<Received>>>,
}

pub async fn digi_reseller(t: &TestApp, deposit: i64) -> DigiReseller {
    let (addr, received) = receiver().await;
    let url = format!("http://{addr}/cb");
    digi_reseller_at(t, deposit, &url, received).await
}

pub async fn digi_reseller_at(
    t: &TestApp,
    deposit: i64,
    callback_url: &str,
    received: Arc<Mutex<Vec<Received>>>,
) -> DigiReseller {
    let (s, creds) = t
        .admin_post(
            "/admin/api/resellers",
            json!({"name": "Konter Digi", "callback_url": callback_url,
                   "callback_format": "digiflazz"}),
        )
        .await;
    assert_eq!(s, 201, "{creds}");
    let id = creds["id"].as_str().unwrap().to_owned();
    if deposit > 0 {
        let path = format!("/admin/api/resellers/{id}/deposits");
        let (s, _) = t
            .admin_post(&path, json!({"amount": deposit, "note": "digi"}))
            .await;
        assert_eq!(s, 201);
    }
    DigiReseller {
        buyer: Buyer {
            http: reqwest::Client::new(),
            base: format!("{}/digiflazz/v1", t.base),
            username: id,
            key: creds["digiflazz_key"].as_str().unwrap().to_owned(),
        },
        webhook_secret: creds["webhook_secret"].as_str().unwrap().to_owned(),
        received,
    }
}

/// Waits for a Digiflazz-format callback about `ref_id` with a good `X-Hub-Signature`.
pub async fn wait_hub_callback(d: &DigiReseller, ref_id: &str) -> Value {
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let got = d.received.lock().unwrap().clone();
        for r in got {
            let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
            if v["data"]["ref_id"] == ref_id {
                let sig = r
                    .headers
                    .get("x-hub-signature")
                    .and_then(|h| h.to_str().ok());
                assert!(hub_ok(&d.webhook_secret, &r.body, sig), "bad signature");
                return v["data"].clone();
            }
        }
        assert!(Instant::now() < end, "no callback for {ref_id}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn orders_of(t: &TestApp, reseller: &str) -> Vec<siaga_store::Order> {
    t.app
        .store
        .list_orders(siaga_store::OrderQuery {
            reseller_id: reseller.to_owned(),
            status: None,
            since: None,
            before_id: None,
            limit: 100,
        })
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_digiflazz_buyer_checks_balance_and_prices_orders_and_checks_status_by_resending() {
    let t = TestApp::start(Opts::default()).await;
    let d = digi_reseller(&t, 50_000).await;
    let b = &d.buyer;

    let (s, v) = b.cek_saldo().await;
    assert_eq!((s, &v["data"]["deposit"]), (200, &json!(50_000)), "{v}");

    let (s, v) = b.price_list().await;
    assert_eq!(s, 200, "{v}");
    let items = v["data"].as_array().expect("a list");
    let tsel = items
        .iter()
        .find(|i| i["buyer_sku_code"] == "TSEL10")
        .expect("TSEL10 listed");
    assert_eq!(tsel["price"], 10_500);
    assert_eq!(tsel["buyer_product_status"], true);
    assert_eq!(tsel["seller_product_status"], true);
    assert!(tsel["product_name"].is_string() && tsel["brand"].is_string());

    let (s, v) = b.transaction("TSEL10", "081234567890", "DF-1").await;
    assert_eq!(s, 200, "{v}");
    let first = &v["data"];
    assert_eq!(first["ref_id"], "DF-1");
    assert_eq!(first["customer_no"], "081234567890");
    assert_eq!(first["buyer_sku_code"], "TSEL10");
    assert_eq!(first["price"], 10_500);
    assert_eq!(first["buyer_last_saldo"], 50_000 - 10_500);
    assert!(
        matches!(
            (first["status"].as_str(), first["rc"].as_str()),
            (Some("Pending"), Some("03")) | (Some("Sukses"), Some("00"))
        ),
        "{first}"
    );

    // Resending the same ref_id is the status check: never a second order.
    let done = b.until_final("TSEL10", "081234567890", "DF-1").await;
    assert_eq!(
        (done["status"].as_str(), done["rc"].as_str()),
        (Some("Sukses"), Some("00"))
    );
    let sn = done["sn"].as_str().unwrap().to_owned();
    let sims_sn: Vec<String> = t
        .sims
        .iter()
        .flat_map(|s| s.fulfilled())
        .map(|f| f.sn)
        .collect();
    assert_eq!(
        sims_sn,
        std::slice::from_ref(&sn),
        "fulfilled once, with this SN"
    );
    assert_eq!(done["buyer_last_saldo"], 50_000 - 10_500);
    for _ in 0..3 {
        let (_, again) = b.transaction("TSEL10", "081234567890", "DF-1").await;
        assert_eq!(again["data"]["sn"], sn.as_str());
    }
    assert_eq!(orders_of(&t, &b.username).await.len(), 1);
    let (_, v) = b.cek_saldo().await;
    assert_eq!(v["data"]["deposit"], 50_000 - 10_500);

    // The callback as Digiflazz sends it, signed with the webhook secret as handed out.
    let cb = wait_hub_callback(&d, "DF-1").await;
    assert_eq!(
        (cb["status"].as_str(), cb["rc"].as_str()),
        (Some("Sukses"), Some("00"))
    );
    assert_eq!(cb["sn"], sn.as_str());
    assert_eq!(cb["customer_no"], "081234567890");
    assert_eq!(cb["price"], 10_500);
    let r = d.received.lock().unwrap()[0].clone();
    assert_eq!(r.headers.get("x-digiflazz-event").unwrap(), "update");
    assert_eq!(r.headers.get("user-agent").unwrap(), "Digiflazz-Hookshot");
    t.verify_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_wrong_sign_is_rc_41_and_changes_nothing() {
    let t = TestApp::start(Opts::default()).await;
    let d = digi_reseller(&t, 50_000).await;
    let b = &d.buyer;
    let mut body = b.trx_body("TSEL10", "081234567890", "BAD-1");
    body["sign"] = json!(md5_hex("not the key"));
    let (s, v) = b.post("transaction", body).await;
    assert_eq!((s, v["data"]["rc"].as_str()), (400, Some("41")), "{v}");
    assert_eq!(v["data"]["status"], "Gagal");
    // Another reseller's key, an unknown username, the API key instead: the same.
    let other = b.with(&b.username, &t.key);
    let (_, v) = other.transaction("TSEL10", "081234567890", "BAD-2").await;
    assert_eq!(v["data"]["rc"], "41");
    let nobody = b.with("rsl_nobody", &b.key);
    let (_, v) = nobody.cek_saldo().await;
    assert_eq!(v["data"]["rc"], "41");
    let stranger = b.with(&b.username, &"0".repeat(32));
    let (_, v) = stranger.cek_saldo().await;
    assert_eq!(v["data"]["rc"], "41");
    let (_, v) = stranger.price_list().await;
    assert_eq!(v["data"]["rc"], "41");

    assert!(orders_of(&t, &b.username).await.is_empty());
    assert_eq!(
        t.app.store.balance(&b.username).await.unwrap().available,
        50_000
    );
    assert!(
        t.sims.iter().all(|s| s.stats().requests == 0),
        "no supplier asked"
    );

    // Rotating the keys gives a new drop-in key; the old one is dead at once.
    let (s, creds) = t
        .admin_post(
            &format!("/admin/api/resellers/{}/rotate-keys", b.username),
            json!({}),
        )
        .await;
    assert_eq!(s, 200, "{creds}");
    let new_key = creds["digiflazz_key"].as_str().unwrap().to_owned();
    assert_ne!(new_key, b.key);
    let (_, v) = b.cek_saldo().await;
    assert_eq!(v["data"]["rc"], "41");
    let rotated = b.with(&b.username, &new_key);
    let (s, v) = rotated.cek_saldo().await;
    assert_eq!((s, &v["data"]["deposit"]), (200, &json!(50_000)), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_test_numbers_answer_as_digiflazz_test_mode_and_move_no_money() {
    let t = TestApp::start(Opts::default()).await;
    let d = digi_reseller(&t, 50_000).await;
    let b = &d.buyer;
    let test = |no: &str, ref_id: &str| {
        let mut body = b.trx_body("xld10", no, ref_id);
        body["testing"] = json!(true);
        body
    };
    let (s, v) = b.post("transaction", test("087800001230", "T-OK")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["data"]["status"].as_str(), v["data"]["rc"].as_str()),
        (Some("Sukses"), Some("00"))
    );
    assert!(!v["data"]["sn"].as_str().unwrap().is_empty());
    assert_eq!(v["data"]["buyer_last_saldo"], 50_000);

    let (_, v) = b.post("transaction", test("087800001232", "T-FAIL")).await;
    assert_eq!(v["data"]["status"], "Gagal", "{v}");

    for (no, ref_id, end) in [
        ("087800001233", "T-PS", "Sukses"),
        ("087800001234", "T-PG", "Gagal"),
    ] {
        let (_, v) = b.post("transaction", test(no, ref_id)).await;
        assert_eq!(
            (v["data"]["status"].as_str(), v["data"]["rc"].as_str()),
            (Some("Pending"), Some("03")),
            "{v}"
        );
        let cb = wait_hub_callback(&d, ref_id).await;
        assert_eq!(cb["status"], end, "{cb}");
        // The status check now says the same.
        let (_, v) = b.post("transaction", test(no, ref_id)).await;
        assert_eq!(v["data"]["status"], end);
        assert_eq!(v["data"]["sn"], cb["sn"]);
    }
    assert_eq!(
        d.received.lock().unwrap().len(),
        2,
        "a callback per pending test only"
    );

    // Not a test case: refused, nothing made.
    let (_, v) = b.post("transaction", test("081234567890", "T-X")).await;
    assert_eq!(v["data"]["rc"], "40");
    let bal = t.app.store.balance(&b.username).await.unwrap();
    assert_eq!((bal.available, bal.held), (50_000, 0), "no money moved");
    assert!(orders_of(&t, &b.username).await.is_empty());
    assert!(
        t.sims.iter().all(|s| s.stats().requests == 0),
        "no supplier asked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refusals_carry_digiflazz_rc_codes_and_change_nothing() {
    let t = TestApp::start(Opts::default()).await;
    let d = digi_reseller(&t, 10_000).await;
    let b = &d.buyer;
    let cases = [
        (b.trx_body("NOPE10", "081234567890", "E-1"), "43"),
        (b.trx_body("TSEL10", "081234567890", "E-2"), "44"),
        (b.trx_body("TSEL10", "085712345678", "E-3"), "52"),
        (b.trx_body("TSEL10", "0812", "E-4"), "54"),
        (json!({"username": b.username, "sign": "x"}), "40"),
    ];
    for (body, rc) in cases {
        let (s, v) = b.post("transaction", body.clone()).await;
        assert_eq!(v["data"]["rc"], rc, "{body} -> {v}");
        assert_eq!(v["data"]["status"], "Gagal");
        assert!((400..500).contains(&s), "{s}");
    }
    let mut capped = b.trx_body("TSEL10", "081234567890", "E-5");
    capped["max_price"] = json!(10_000);
    let (_, v) = b.post("transaction", capped).await;
    assert_eq!(v["data"]["rc"], "69", "{v}");
    assert!(orders_of(&t, &b.username).await.is_empty());

    // A ref_id in use answers its own order; with another number it is rc 49.
    let path = format!("/admin/api/resellers/{}/deposits", b.username);
    t.admin_post(&path, json!({"amount": 20_000})).await;
    b.until_final("TSEL10", "081234567890", "E-6").await;
    let (_, v) = b.transaction("TSEL10", "081298765432", "E-6").await;
    assert_eq!(v["data"]["rc"], "49", "{v}");
    assert_eq!(orders_of(&t, &b.username).await.len(), 1);
    t.verify_clean().await;
}

/// Kills the child it holds when dropped, so a failing assertion leaves no demo running.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_prints_a_drop_in_curl_line_that_works() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut demo = Running(
        Command::new(env!("CARGO_BIN_EXE_siaga"))
            .args(["demo", "--port", "0"])
            .env("SIAGA_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run siaga demo"),
    );
    let stdout = demo.0.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find(|l| l.contains("/digiflazz/v1/transaction"))
    });
    let line = tokio::time::timeout(Duration::from_secs(60), line)
        .await
        .expect("demo printed in time")
        .unwrap()
        .expect("a drop-in curl line");
    let line = line.trim();
    assert!(line.starts_with("curl -s -d '"), "{line}");
    let body = line.split('\'').nth(1).unwrap();
    let url = line.rsplit(' ').next().unwrap();
    assert!(url.ends_with("/digiflazz/v1/transaction"), "{url}");
    let body: Value = serde_json::from_str(body).unwrap();
    assert!(body["username"].as_str().unwrap().starts_with("rsl_"));
    // What curl would send (`-d` posts the text as it is), sent while the demo runs.
    let r = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let v: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["data"]["ref_id"], body["ref_id"]);
    assert!(
        matches!(v["data"]["rc"].as_str(), Some("03" | "00")),
        "taken: {v}"
    );
    drop(demo);
}

#[test]
fn the_cli_hands_out_a_drop_in_key_and_rotates_it() {
    use std::process::Command;
    let dir = tempfile::tempdir().unwrap();
    let siaga = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_siaga"))
            .current_dir(dir.path())
            .args(args)
            .env_remove("SIAGA_CONFIG")
            .env("SIAGA_LOG", "warn")
            .env("DIGI_KEY", "k")
            .env("DIGI_CB_SECRET", "s")
            .env("BACKUP_KEY", "k")
            .env("BACKUP_CB_SECRET", "s")
            .output()
            .expect("run siaga");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), out.stdout, err)
    };
    assert_eq!(siaga(&["init"]).0, Some(0));
    let add = [
        "reseller",
        "add",
        "--name",
        "Konter D",
        "--callback-url",
        "http://127.0.0.1:9/cb",
        "--callback-format",
        "digiflazz",
    ];
    let (code, out, err) = siaga(&add);
    assert_eq!(code, Some(0), "{err}");
    let creds: Value = serde_json::from_slice(&out).unwrap();
    let key = creds["digiflazz_key"].as_str().unwrap().to_owned();
    assert_eq!(key.len(), 32);
    let id = creds["id"].as_str().unwrap();
    let (code, out, err) = siaga(&["reseller", "rotate-keys", id]);
    assert_eq!(code, Some(0), "{err}");
    let rotated: Value = serde_json::from_slice(&out).unwrap();
    let new_key = rotated["digiflazz_key"].as_str().unwrap();
    assert_eq!(new_key.len(), 32);
    assert_ne!(new_key, key);
    let (code, _, err) = siaga(&["reseller", "add", "--name", "X", "--callback-format", "xml"]);
    assert_eq!(code, Some(2), "a usage error: {err}");
}
