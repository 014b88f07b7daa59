//! The drop-in's test mode (`testing: true`), as Digiflazz's own: SKU `xld10` with its test
//! numbers answers Sukses, Gagal, or Pending and then a callback (Sukses or Gagal), and
//! the same `ref_id` again is the status check. Nothing touches a supplier, the ledger or
//! the order tables: test transactions live in memory only (bounded, forgotten after an
//! hour or a restart). Their callbacks go, once and unretried, to the reseller's
//! `callback_url` when its `callback_format` is `digiflazz`.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{json, Value};
use siaga_store::{CallbackFormat, Reseller};

use super::Answer;
use crate::app::App;

/// The test SKU and what each test number does: the first answer, and the final one a
/// callback brings when the first is Pending.
const SKU: &str = "xld10";
const CASES: &[(&str, Status, Option<Status>)] = &[
    ("087800001230", Status::Sukses, None),
    ("087800001232", Status::Gagal, None),
    ("087800001233", Status::Pending, Some(Status::Sukses)),
    ("087800001234", Status::Pending, Some(Status::Gagal)),
];

/// How long a pending test transaction waits before its callback.
const SETTLE: Duration = Duration::from_secs(1);
/// Test transactions kept at most (all resellers), and for how long.
const KEEP: usize = 10_000;
const KEEP_MS: i64 = 3_600_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Sukses,
    Pending,
    Gagal,
}

impl Status {
    fn words(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Status::Sukses => ("Sukses", "00", "Transaksi Sukses (mode testing)"),
            Status::Pending => ("Pending", "03", "Transaksi Pending (mode testing)"),
            Status::Gagal => ("Gagal", "02", "Transaksi Gagal (mode testing)"),
        }
    }
}

#[derive(Debug, Clone)]
struct TestTrx {
    customer_no: String,
    status: Status,
    sn: String,
    at: i64,
}

/// (reseller id, ref_id) → its test transaction.
static TRX: LazyLock<Mutex<HashMap<(String, String), TestTrx>>> = LazyLock::new(Default::default);

fn data(ref_id: &str, t: &TestTrx, saldo: i64) -> Value {
    let (status, rc, message) = t.status.words();
    json!({
        "ref_id": ref_id, "customer_no": t.customer_no, "buyer_sku_code": SKU,
        "message": message, "status": status, "rc": rc, "sn": t.sn,
        "buyer_last_saldo": saldo, "price": 0, "tele": "", "wa": "",
    })
}

/// The answer to a transaction sent with `testing: true`.
pub(super) async fn answer(
    app: &Arc<App>,
    r: &Reseller,
    ref_id: &str,
    sku: &str,
    customer_no: &str,
) -> Answer {
    let Some((_, first, then)) = CASES
        .iter()
        .find(|c| c.0 == customer_no.trim())
        .filter(|_| sku.eq_ignore_ascii_case(SKU))
    else {
        return Answer::refused(
            StatusCode::BAD_REQUEST,
            "40",
            "Mode testing: gunakan SKU xld10 dengan nomor 087800001230, 087800001232, \
             087800001233 atau 087800001234",
        );
    };
    let saldo = match app.store.balance(&r.id).await {
        Ok(b) => b.available,
        Err(e) => return super::store_trouble(e),
    };
    let now = app.now();
    let key = (r.id.clone(), ref_id.to_owned());
    let (trx, fresh) = {
        let Ok(mut all) = TRX.lock() else {
            return super::internal("test transactions poisoned");
        };
        if let Some(t) = all.get(&key) {
            (t.clone(), false)
        } else {
            if all.len() >= KEEP {
                all.retain(|_, t| now - t.at < KEEP_MS);
            }
            if all.len() >= KEEP {
                return super::internal("too many test transactions at once");
            }
            let t = TestTrx {
                customer_no: customer_no.trim().to_owned(),
                status: *first,
                sn: if *first == Status::Sukses {
                    test_sn(ref_id)
                } else {
                    String::new()
                },
                at: now,
            };
            all.insert(key.clone(), t.clone());
            (t, true)
        }
    };
    if trx.customer_no != customer_no.trim() {
        return super::ref_id_taken();
    }
    if let (true, Some(then)) = (fresh, then) {
        tokio::spawn(settle(app.clone(), r.clone(), key, *then));
    }
    Answer::ok(data(ref_id, &trx, saldo))
}

/// A test serial number, the same for the same `ref_id`.
fn test_sn(ref_id: &str) -> String {
    let h = siaga_suppliers::sign::md5_hex(&[ref_id]);
    let digits: String = h.bytes().map(|b| char::from(b'0' + b % 10)).collect();
    format!("TEST{}", &digits[..16])
}

/// Settles a pending test transaction after [`SETTLE`] and sends its callback.
async fn settle(app: Arc<App>, r: Reseller, key: (String, String), to: Status) {
    tokio::time::sleep(SETTLE).await;
    let trx = {
        let Ok(mut all) = TRX.lock() else { return };
        let Some(t) = all.get_mut(&key) else { return };
        t.status = to;
        if to == Status::Sukses {
            t.sn = test_sn(&key.1);
        }
        t.clone()
    };
    let (Some(url), CallbackFormat::Digiflazz) = (&r.callback_url, r.callback_format) else {
        return;
    };
    let saldo = app.store.balance(&r.id).await.map(|b| b.available);
    let body = data(&key.1, &trx, saldo.unwrap_or(0));
    let timeout = Duration::from_millis(app.settings.get().callbacks.timeout_ms);
    let sent =
        crate::engine::dropin::post(&app.client, url, &r.webhook_secret, &body, timeout).await;
    if let Err(e) = sent {
        tracing::warn!(reseller = %r.id, error = %e, "test-mode callback not delivered");
    }
}
