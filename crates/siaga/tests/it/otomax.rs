//! A text-speaking supplier through `dialect = "http-template"`, `preset = "otomax"` (SPEC
//! 6.1.1, issue #17): the simulator's OtomaX face as sim 0, a Digiflazz sim as the backup.
//! Free text read by the preset's rules; unknown and unreadable replies stay at the
//! supplier and are settled there; every destination fulfilled exactly once.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::Value;
use siaga_suppliers::sim::{ModeRequest, SimMode};

use crate::harness::{Opts, TestApp};

const T: Duration = Duration::from_secs(20);

async fn start(o: Opts) -> TestApp {
    TestApp::start(Opts {
        otomax: vec![0],
        ..o
    })
    .await
}

/// Every destination fulfilled exactly once across all simulators.
fn assert_once(app: &TestApp, expected: usize) {
    let mut per_dest: HashMap<String, usize> = HashMap::new();
    for sim in &app.sims {
        for f in sim.fulfilled() {
            *per_dest.entry(f.customer_no.clone()).or_default() += 1;
        }
    }
    for (d, n) in &per_dest {
        assert_eq!(*n, 1, "{d} fulfilled {n} times");
    }
    assert_eq!(per_dest.len(), expected, "{per_dest:?}");
}

async fn run_one(app: &TestApp, r: &str, dest: &str) -> Value {
    let (s, o) = app.order(r, "TSEL10", dest).await;
    assert_eq!(s, 201, "{o}");
    app.wait_final(r, T).await
}

/// Waits until the order's first attempt is in `state`; the admin view of the order.
async fn wait_attempt(app: &TestApp, order_id: &str, state: &str) -> Value {
    let end = Instant::now() + T;
    loop {
        let a = app.admin_order(order_id).await;
        if a["attempts"][0]["state"] == state {
            return a;
        }
        assert!(Instant::now() < end, "attempt never {state}: {a}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otomax_success_with_the_sn_read_from_the_text() {
    let app = start(Opts::default()).await;
    let fin = run_one(&app, "OX-1", "081234567811").await;
    assert_eq!(fin["status"], "success", "{fin}");
    let f = app.sims[0].fulfilled();
    assert_eq!(f.len(), 1);
    assert_eq!(
        fin["serial_number"].as_str(),
        Some(f[0].sn.as_str()),
        "{fin}"
    );
    assert_eq!(app.sims[1].stats().requests, 0);
    assert_once(&app, 1);
    app.verify_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otomax_pending_then_a_get_report_settles_it() {
    // Inquiries far away: only the report can settle the order in time.
    let app = start(Opts {
        inquiry_min_s: 600,
        ..Opts::default()
    })
    .await;
    app.sims[0]
        .set_mode(ModeRequest {
            mode: SimMode::Pending,
            latency_ms: None,
            fail_rate: None,
            callback_delay_ms: Some(300),
        })
        .await
        .unwrap();
    let fin = run_one(&app, "OX-P", "081234567812").await;
    assert_eq!(fin["status"], "success", "{fin}");
    let a = app.admin_order(fin["order_id"].as_str().unwrap()).await;
    assert_eq!(a["attempts"].as_array().unwrap().len(), 1, "{a}");
    assert_eq!(a["attempts"][0]["inquiries"].as_i64(), Some(0), "{a}");
    assert_eq!(
        fin["serial_number"].as_str(),
        Some(app.sims[0].fulfilled()[0].sn.as_str())
    );
    assert_once(&app, 1);
    app.verify_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otomax_report_with_a_wrong_secret_is_401_and_changes_nothing() {
    let app = start(Opts {
        inquiry_min_s: 600,
        ..Opts::default()
    })
    .await;
    app.sims[0]
        .set_mode(ModeRequest {
            mode: SimMode::Pending,
            latency_ms: None,
            fail_rate: None,
            callback_delay_ms: Some(600_000),
        })
        .await
        .unwrap();
    let (s, o) = app.order("OX-S", "TSEL10", "081234567813").await;
    assert_eq!(s, 201, "{o}");
    let order_id = o["order_id"].as_str().unwrap().to_owned();
    let a = wait_attempt(&app, &order_id, "pending").await;
    let supplier_ref = a["attempts"][0]["supplier_ref"]
        .as_str()
        .unwrap()
        .to_owned();
    let report = |secret: &str, refid: &str| {
        app.http
            .get(format!("{}/hooks/suppliers/sim0/{secret}", app.base))
            .query(&[
                ("t", "77"),
                ("refid", refid),
                ("status", "20"),
                (
                    "message",
                    "R#X S10.0812 SUKSES. SN/Ref: 5550001. Saldo 1.000",
                ),
            ])
            .send()
    };
    let r = report("not-the-secret", &supplier_ref).await.unwrap();
    assert_eq!(r.status(), 401);
    // The signed (Digiflazz) route refuses it too: this supplier signs nothing.
    let r = app
        .http
        .post(format!("{}/hooks/suppliers/sim0", app.base))
        .body("refid=x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let a = app.admin_order(&order_id).await;
    assert_eq!(a["status"], "pending", "{a}");
    assert_eq!(a["attempts"][0]["state"], "pending", "{a}");
    // The right secret with an unknown reference: 404, nothing changes.
    let r = report("cb-secret-0", "NOT-OURS").await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(app.admin_order(&order_id).await["status"], "pending");
    // The right secret and reference settles it.
    let r = report("cb-secret-0", &supplier_ref).await.unwrap();
    assert_eq!(r.status(), 200);
    let fin = app.wait_final("OX-S", T).await;
    assert_eq!(fin["status"], "success", "{fin}");
    assert_eq!(fin["serial_number"], "5550001");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otomax_out_of_stock_fails_over_to_the_backup() {
    let app = start(Opts::default()).await;
    app.sims[0]
        .set_mode(ModeRequest {
            mode: SimMode::Flaky,
            latency_ms: None,
            fail_rate: Some(1.0),
            callback_delay_ms: None,
        })
        .await
        .unwrap();
    let fin = run_one(&app, "OX-F", "081234567814").await;
    assert_eq!(fin["status"], "success", "{fin}");
    assert_eq!(app.sims[0].fulfilled().len(), 0);
    assert_eq!(app.sims[1].fulfilled().len(), 1);
    let a = app.admin_order(fin["order_id"].as_str().unwrap()).await;
    assert_eq!(a["attempts"].as_array().unwrap().len(), 2, "{a}");
    assert_once(&app, 1);
    app.verify_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otomax_wrong_number_is_destination_rejected_without_the_backup() {
    let app = start(Opts::default()).await;
    app.set_mode(0, SimMode::WrongNumber).await;
    let fin = run_one(&app, "OX-W", "081234567815").await;
    assert_eq!(fin["status"], "failed", "{fin}");
    assert_eq!(fin["failure_code"], "destination_rejected");
    assert_eq!(app.sims[1].stats().requests, 0);
    assert_eq!(app.balance().await, (100_000, 0));
    app.verify_clean().await;
}

/// An HTML page with HTTP 200 (`garbled`) and a reply that never comes (`in_doubt`): both
/// unknown, settled at the same supplier by inquiry, never at the backup.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otomax_unreadable_and_missing_replies_are_settled_there_by_inquiry() {
    let app = start(Opts {
        timeout_ms: 500,
        inquiry_min_s: 1,
        ..Opts::default()
    })
    .await;
    for (i, mode) in [SimMode::Garbled, SimMode::InDoubt].into_iter().enumerate() {
        app.set_mode(0, mode).await;
        let r = format!("OX-U{i}");
        let fin = run_one(&app, &r, &format!("08123456782{i}")).await;
        assert_eq!(fin["status"], "success", "{mode}: {fin}");
        let a = app.admin_order(fin["order_id"].as_str().unwrap()).await;
        assert_eq!(a["attempts"].as_array().unwrap().len(), 1, "{a}");
        assert!(a["attempts"][0]["inquiries"].as_i64().unwrap() >= 1, "{a}");
        assert_eq!(
            fin["serial_number"].as_str(),
            Some(app.sims[0].fulfilled()[i].sn.as_str())
        );
    }
    assert_eq!(
        app.sims[1].stats().requests,
        0,
        "nothing reached the backup"
    );
    assert_once(&app, 2);
    app.verify_clean().await;
}

/// `siaga sim --dialect otomax`, the real binary: it says its OtomaX base URL, answers a
/// signed balance check in text, and refuses a wrong sign in the same text form.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sim_command_speaks_otomax() {
    use siaga_suppliers::sign::{digest, encode, Algo, Encoding};
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let mut child = Command::new(env!("CARGO_BIN_EXE_siaga"))
        .args(["sim", "--dialect", "otomax", "--listen", "127.0.0.1:0"])
        .args([
            "--control",
            "127.0.0.1:0",
            "--username",
            "YUSUF",
            "--key",
            "1144",
        ])
        .env("SIAGA_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("siaga sim");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the sim's first line");
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("{line}"))
        .to_owned();
    assert!(
        line.contains("otomax dialect") && !base.ends_with("/v1"),
        "{line}"
    );
    let sign = encode(
        Encoding::Base64url,
        &digest(Algo::Sha1, "", "OtomaX|YUSUF||||1144|"),
    );
    let get = |sign: String| {
        let url = format!("{base}/balance?memberID=YUSUF&sign={sign}");
        async move { reqwest::get(url).await.unwrap().text().await.unwrap() }
    };
    let ok = get(sign).await;
    assert!(ok.starts_with("Saldo anda: Rp "), "{ok}");
    let bad = get("wrong".into()).await;
    assert!(bad.contains("Sign salah"), "{bad}");
    let _ = child.kill();
    let _ = child.wait();
    let out = Command::new(env!("CARGO_BIN_EXE_siaga"))
        .args(["sim", "--dialect", "iak"])
        .output()
        .expect("siaga sim");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown --dialect"));
}
