//! The simulator's transaction engine: parsing requests, the per-mode rules, the ledger of
//! ref_ids and the at-most-once fulfilment guarantee. Synchronous; callers hold the state lock.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::catalog::{self, ProductPatch, SimProduct};
use super::{Fulfilment, ModeSettings, SimConfig, SimMode, SimStats};

/// Longest accepted string field in a request.
const MAX_FIELD_LEN: usize = 256;

/// Digiflazz's official test numbers (used when the request carries `testing: true`).
const TEST_SUKSES: &str = "087800001230";
const TEST_GAGAL: &str = "087800001232";
const TEST_PENDING_SUKSES: &str = "087800001233";
const TEST_PENDING_GAGAL: &str = "087800001234";

/// Status of a transaction, as spelt on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Status {
    Sukses,
    Pending,
    Gagal,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Sukses => "Sukses",
            Status::Pending => "Pending",
            Status::Gagal => "Gagal",
        }
    }
}

/// The Digiflazz message for an rc.
pub(super) fn rc_message(rc: &str) -> &'static str {
    match rc {
        "00" => "Transaksi Sukses",
        "02" => "Transaksi Gagal",
        "03" => "Transaksi Pending",
        "40" => "Payload Error",
        "41" => "Signature Anda salah",
        "43" => "SKU tidak di temukan atau Non-Aktif",
        "44" => "Saldo tidak cukup",
        "49" => "Ref ID tidak unik",
        "54" => "Nomor tujuan salah",
        "58" => "Sedang Cut Off",
        "62" => "Seller sedang mengalami gangguan",
        "69" => "Harga Seller lebih besar dari ketentuan harga Buyer",
        _ => "Transaksi Gagal",
    }
}

/// The `data` object of a `/transaction` reply and of a callback.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct TxReply {
    pub ref_id: String,
    pub customer_no: String,
    pub buyer_sku_code: String,
    pub message: String,
    pub status: String,
    pub rc: String,
    pub sn: String,
    pub buyer_last_saldo: i64,
    pub price: i64,
    pub tele: String,
    pub wa: String,
}

impl TxReply {
    /// A Gagal reply that is not recorded (payload, signature and ref_id errors).
    pub(super) fn rejected(
        ref_id: &str,
        customer_no: &str,
        sku: &str,
        rc: &str,
        message: String,
    ) -> Self {
        TxReply {
            ref_id: ref_id.to_string(),
            customer_no: customer_no.to_string(),
            buyer_sku_code: sku.to_string(),
            message,
            status: Status::Gagal.as_str().to_string(),
            rc: rc.to_string(),
            sn: String::new(),
            buyer_last_saldo: 0,
            price: 0,
            tele: String::new(),
            wa: String::new(),
        }
    }
}

/// A parsed, validated `/transaction` body.
#[derive(Clone, Debug)]
pub(super) struct TxRequest {
    pub username: String,
    pub buyer_sku_code: String,
    pub customer_no: String,
    pub ref_id: String,
    pub sign: String,
    pub testing: bool,
    pub cb_url: Option<String>,
    pub max_price: Option<i64>,
}

/// Fields of a malformed request that could still be read, for the error reply.
#[derive(Clone, Debug, Default)]
pub(super) struct BadRequest {
    pub message: String,
    pub ref_id: String,
    pub customer_no: String,
    pub buyer_sku_code: String,
}

fn str_field(obj: &serde_json::Map<String, Value>, name: &str) -> Result<String, String> {
    match obj.get(name) {
        None | Some(Value::Null) => Err(format!("{name}: required")),
        Some(Value::String(s)) if s.trim().is_empty() => Err(format!("{name}: must not be empty")),
        Some(Value::String(s)) if s.len() > MAX_FIELD_LEN => {
            Err(format!("{name}: longer than {MAX_FIELD_LEN} characters"))
        }
        Some(Value::String(s)) => Ok(s.trim().to_string()),
        Some(_) => Err(format!("{name}: expected a string")),
    }
}

fn lossy_str(obj: &serde_json::Map<String, Value>, name: &str) -> String {
    match obj.get(name) {
        Some(Value::String(s)) => s.chars().take(MAX_FIELD_LEN).collect(),
        _ => String::new(),
    }
}

impl TxRequest {
    /// Parse a `/transaction` body; errors name the offending field.
    pub(super) fn parse(body: &[u8]) -> Result<TxRequest, BadRequest> {
        let value: Value = serde_json::from_slice(body).map_err(|e| BadRequest {
            message: format!("body: invalid JSON: {e}"),
            ..BadRequest::default()
        })?;
        let Value::Object(obj) = value else {
            return Err(BadRequest {
                message: "body: expected a JSON object".to_string(),
                ..BadRequest::default()
            });
        };
        Self::from_object(&obj).map_err(|message| BadRequest {
            message,
            ref_id: lossy_str(&obj, "ref_id"),
            customer_no: lossy_str(&obj, "customer_no"),
            buyer_sku_code: lossy_str(&obj, "buyer_sku_code"),
        })
    }

    fn from_object(obj: &serde_json::Map<String, Value>) -> Result<TxRequest, String> {
        let testing = match obj.get("testing") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => true,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") || s.is_empty() => false,
            Some(_) => return Err("testing: expected a boolean".to_string()),
        };
        let cb_url = match obj.get("cb_url") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) if s.len() > 2048 => {
                return Err("cb_url: longer than 2048 characters".to_string())
            }
            Some(Value::String(s)) => Some(s.trim().to_string()),
            Some(_) => return Err("cb_url: expected a string".to_string()),
        };
        let max_price = match obj.get("max_price") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => Some(
                n.as_i64()
                    .ok_or_else(|| "max_price: expected an integer".to_string())?,
            ),
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => Some(
                s.trim()
                    .parse::<i64>()
                    .map_err(|_| "max_price: expected an integer".to_string())?,
            ),
            Some(_) => return Err("max_price: expected an integer".to_string()),
        };
        Ok(TxRequest {
            username: str_field(obj, "username")?,
            buyer_sku_code: str_field(obj, "buyer_sku_code")?,
            customer_no: str_field(obj, "customer_no")?,
            ref_id: str_field(obj, "ref_id")?,
            sign: str_field(obj, "sign")?,
            testing,
            cb_url,
            max_price,
        })
    }
}

/// What the HTTP layer must do with a `/transaction` request.
#[derive(Debug)]
pub(super) enum Action {
    /// Answer with this reply.
    Reply(TxReply),
    /// Answer with this reply, then settle the transaction later in the background.
    Schedule(TxReply, Completion),
    /// Never answer (keep the request open).
    Hang,
    /// HTTP 500, nothing recorded.
    ServerError,
    /// HTTP 200 with an HTML page (`garbled`).
    Garbled,
}

/// A pending transaction to settle after `delay`.
#[derive(Clone, Debug)]
pub(super) struct Completion {
    pub ref_id: String,
    pub delay: Duration,
    pub succeed: bool,
}

/// One remembered ref_id.
#[derive(Clone, Debug)]
struct Tx {
    sku: String,
    customer_no: String,
    status: Status,
    rc: String,
    sn: String,
    price: i64,
    /// Deposit held for this transaction and not yet final (refunded if it fails).
    held: i64,
    /// Swallowed by `black_hole`: not processed yet.
    swallowed: bool,
    cb_url: Option<String>,
}

/// Everything the simulator remembers.
#[derive(Debug)]
pub(super) struct State {
    pub settings: ModeSettings,
    pub deposit: i64,
    pub products: Vec<SimProduct>,
    txs: HashMap<String, Tx>,
    fulfilled: Vec<Fulfilment>,
    fulfilled_refs: HashSet<String>,
    rng: StdRng,
    requests: u64,
}

enum TestNumber {
    Sukses,
    Gagal,
    PendingThen(bool),
}

fn test_number(customer_no: &str) -> Option<TestNumber> {
    match customer_no {
        TEST_SUKSES => Some(TestNumber::Sukses),
        TEST_GAGAL => Some(TestNumber::Gagal),
        TEST_PENDING_SUKSES => Some(TestNumber::PendingThen(true)),
        TEST_PENDING_GAGAL => Some(TestNumber::PendingThen(false)),
        _ => None,
    }
}

impl State {
    pub(super) fn new(cfg: &SimConfig) -> Self {
        State {
            settings: ModeSettings {
                mode: cfg.mode,
                latency_ms: cfg.latency_ms,
                fail_rate: cfg.fail_rate,
                callback_delay_ms: cfg.callback_delay_ms,
            },
            deposit: cfg.deposit,
            products: cfg.products.clone(),
            txs: HashMap::new(),
            fulfilled: Vec::new(),
            fulfilled_refs: HashSet::new(),
            rng: StdRng::seed_from_u64(cfg.seed),
            requests: 0,
        }
    }

    pub(super) fn count_request(&mut self) {
        self.requests += 1;
    }

    pub(super) fn fulfilled(&self) -> &[Fulfilment] {
        &self.fulfilled
    }

    pub(super) fn stats(&self) -> SimStats {
        SimStats {
            requests: self.requests,
            distinct_refs: u64::try_from(self.txs.len()).unwrap_or(u64::MAX),
            fulfilled: u64::try_from(self.fulfilled.len()).unwrap_or(u64::MAX),
            deposit: self.deposit,
        }
    }

    pub(super) fn upsert_product(&mut self, patch: ProductPatch) -> Result<SimProduct, String> {
        catalog::upsert(&mut self.products, patch)
    }

    /// Handle a signed `/transaction` request under the current mode. `wib_minute` is the
    /// current minute of the day in WIB (for cut-off windows).
    pub(super) fn transact(&mut self, req: &TxRequest, wib_minute: u16) -> Action {
        let mode = self.settings.mode;
        if matches!(mode, SimMode::Error | SimMode::Down) {
            return Action::ServerError;
        }
        if let Some(tx) = self.txs.get(&req.ref_id) {
            if tx.sku != req.buyer_sku_code || tx.customer_no != req.customer_no {
                return Action::Reply(TxReply::rejected(
                    &req.ref_id,
                    &req.customer_no,
                    &req.buyer_sku_code,
                    "49",
                    rc_message("49").to_string(),
                ));
            }
            if mode == SimMode::BlackHole {
                return Action::Hang;
            }
            if !tx.swallowed {
                return Action::Reply(self.reply(&req.ref_id));
            }
            // A ref swallowed by black_hole: process it now, once, under the current mode.
        }
        self.process_new(req, mode, wib_minute)
    }

    fn process_new(&mut self, req: &TxRequest, mode: SimMode, wib_minute: u16) -> Action {
        if req.testing {
            if let Some(t) = test_number(&req.customer_no) {
                return self.process_test(req, t);
            }
        }
        let product = self
            .products
            .iter()
            .find(|p| p.sku == req.buyer_sku_code)
            .cloned();
        let Some(product) = product.filter(SimProduct::active) else {
            return self.fail(req, "43", 0);
        };
        let price = product.price;
        if req.max_price.is_some_and(|max| price > max) {
            return self.fail(req, "69", price);
        }
        if product.in_cut_off(wib_minute) {
            return self.fail(req, "58", price);
        }
        match mode {
            SimMode::Ok | SimMode::Slow => self.fulfil_now(req, price),
            SimMode::Flaky => {
                let fail_rate = self.settings.fail_rate;
                if self.rng.gen::<f64>() < fail_rate {
                    self.fail(req, "62", price)
                } else {
                    self.fulfil_now(req, price)
                }
            }
            SimMode::Pending => {
                if self.deposit < price {
                    return self.fail(req, "44", price);
                }
                self.deposit -= price;
                self.insert(
                    req,
                    Status::Pending,
                    "03",
                    String::new(),
                    price,
                    price,
                    false,
                );
                let delay = Duration::from_millis(self.settings.callback_delay_ms);
                Action::Schedule(
                    self.reply(&req.ref_id),
                    Completion {
                        ref_id: req.ref_id.clone(),
                        delay,
                        succeed: true,
                    },
                )
            }
            SimMode::InDoubt => {
                // Fulfils (or fails for want of deposit) but never answers.
                let _ = self.fulfil_now(req, price);
                Action::Hang
            }
            SimMode::BlackHole => {
                self.insert(req, Status::Pending, "03", String::new(), price, 0, true);
                Action::Hang
            }
            SimMode::Maintenance => self.fail(req, "58", price),
            SimMode::NoBalance => self.fail(req, "44", price),
            SimMode::WrongNumber => self.fail(req, "54", price),
            SimMode::Garbled => {
                // Fulfils (or fails for want of deposit), then answers HTML.
                let _ = self.fulfil_now(req, price);
                Action::Garbled
            }
            SimMode::Error | SimMode::Down => Action::ServerError,
        }
    }

    /// Digiflazz test numbers: any SKU, no deposit spent.
    fn process_test(&mut self, req: &TxRequest, t: TestNumber) -> Action {
        let price = self
            .products
            .iter()
            .find(|p| p.sku == req.buyer_sku_code)
            .map_or(0, |p| p.price);
        match t {
            TestNumber::Sukses => {
                let sn = self.record_fulfilment(req);
                self.insert(req, Status::Sukses, "00", sn, price, 0, false);
                Action::Reply(self.reply(&req.ref_id))
            }
            TestNumber::Gagal => self.fail(req, "02", price),
            TestNumber::PendingThen(succeed) => {
                self.insert(req, Status::Pending, "03", String::new(), price, 0, false);
                Action::Schedule(
                    self.reply(&req.ref_id),
                    Completion {
                        ref_id: req.ref_id.clone(),
                        delay: Duration::from_millis(self.settings.callback_delay_ms),
                        succeed,
                    },
                )
            }
        }
    }

    /// Spend the deposit and fulfil at once (Gagal rc 44 when the deposit is short).
    fn fulfil_now(&mut self, req: &TxRequest, price: i64) -> Action {
        if self.deposit < price {
            return self.fail(req, "44", price);
        }
        self.deposit -= price;
        let sn = self.record_fulfilment(req);
        self.insert(req, Status::Sukses, "00", sn, price, 0, false);
        Action::Reply(self.reply(&req.ref_id))
    }

    /// Record a remembered failure and answer it.
    fn fail(&mut self, req: &TxRequest, rc: &str, price: i64) -> Action {
        self.insert(req, Status::Gagal, rc, String::new(), price, 0, false);
        Action::Reply(self.reply(&req.ref_id))
    }

    #[allow(clippy::too_many_arguments)]
    fn insert(
        &mut self,
        req: &TxRequest,
        status: Status,
        rc: &str,
        sn: String,
        price: i64,
        held: i64,
        swallowed: bool,
    ) {
        self.txs.insert(
            req.ref_id.clone(),
            Tx {
                sku: req.buyer_sku_code.clone(),
                customer_no: req.customer_no.clone(),
                status,
                rc: rc.to_string(),
                sn,
                price,
                held,
                swallowed,
                cb_url: req.cb_url.clone(),
            },
        );
    }

    /// The one place a fulfilment happens; returns its SN. A ref_id already fulfilled keeps
    /// its first SN and is not fulfilled again.
    fn fulfil_ref(&mut self, ref_id: &str, sku: &str, customer_no: &str) -> String {
        if self.fulfilled_refs.contains(ref_id) {
            tracing::error!(ref_id, "sim: refusing to fulfil a ref_id twice");
            return self
                .fulfilled
                .iter()
                .find(|f| f.ref_id == ref_id)
                .map(|f| f.sn.clone())
                .unwrap_or_default();
        }
        let sn = format!(
            "{:020}",
            self.rng.gen_range(0..100_000_000_000_000_000_000u128)
        );
        self.fulfilled_refs.insert(ref_id.to_string());
        self.fulfilled.push(Fulfilment {
            ref_id: ref_id.to_string(),
            sku: sku.to_string(),
            customer_no: customer_no.to_string(),
            sn: sn.clone(),
            at: jiff::Timestamp::now().to_string(),
        });
        sn
    }

    fn record_fulfilment(&mut self, req: &TxRequest) -> String {
        self.fulfil_ref(&req.ref_id, &req.buyer_sku_code, &req.customer_no)
    }

    /// Settle a pending transaction; returns the reply to call back with and the request's
    /// `cb_url`. `None` if the ref is unknown or no longer pending.
    pub(super) fn complete(
        &mut self,
        ref_id: &str,
        succeed: bool,
    ) -> Option<(TxReply, Option<String>)> {
        let tx = self.txs.get(ref_id)?;
        if tx.status != Status::Pending || tx.swallowed {
            return None;
        }
        let (sku, customer_no, held) = (tx.sku.clone(), tx.customer_no.clone(), tx.held);
        let sn = if succeed {
            self.fulfil_ref(ref_id, &sku, &customer_no)
        } else {
            self.deposit += held;
            String::new()
        };
        let tx = self.txs.get_mut(ref_id)?;
        tx.held = 0;
        if succeed {
            tx.status = Status::Sukses;
            tx.rc = "00".to_string();
            tx.sn = sn;
        } else {
            tx.status = Status::Gagal;
            tx.rc = "02".to_string();
        }
        let cb_url = tx.cb_url.clone();
        Some((self.reply(ref_id), cb_url))
    }

    /// The current state of a remembered ref as a reply.
    fn reply(&self, ref_id: &str) -> TxReply {
        match self.txs.get(ref_id) {
            Some(tx) => TxReply {
                ref_id: ref_id.to_string(),
                customer_no: tx.customer_no.clone(),
                buyer_sku_code: tx.sku.clone(),
                message: rc_message(&tx.rc).to_string(),
                status: tx.status.as_str().to_string(),
                rc: tx.rc.clone(),
                sn: tx.sn.clone(),
                buyer_last_saldo: self.deposit,
                price: tx.price,
                tele: String::new(),
                wa: String::new(),
            },
            None => TxReply::rejected(
                ref_id,
                "",
                "",
                "50",
                "Transaksi tidak ditemukan".to_string(),
            ),
        }
    }
}
