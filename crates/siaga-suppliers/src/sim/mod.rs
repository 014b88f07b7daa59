//! The supplier simulator (`siaga sim`): a real HTTP server speaking the Digiflazz buyer dialect.
//!
//! Two listeners are bound:
//!
//! * the **supplier API** (`/v1/transaction`, `/v1/cek-saldo`, `/v1/price-list`), which
//!   behaves like Digiflazz under the current [`SimMode`] (SPEC 14), keeps a deposit that
//!   every fulfilment spends, honours Digiflazz's official test numbers and calls back;
//! * the **control API** (`/_sim/mode`, `/_sim/fulfilled`, `/_sim/stats`, `/_sim/deposit`,
//!   `/_sim/products`), always up, even in `down` mode. It has no authentication: bind it to
//!   loopback.
//!
//! The one promise the simulator never breaks: a `ref_id` is fulfilled at most once. Re-sending
//! a known `ref_id` is a status inquiry and returns the transaction's current state.
//!
//! Mode details that SPEC 14 leaves open, as implemented here:
//!
//! * `error` and `slow` apply to every supplier endpoint; the other modes only shape
//!   `/v1/transaction` (balance and price list keep answering normally).
//! * `error` answers HTTP 500 with a plain-text body; nothing is recorded.
//! * `in_doubt` and `black_hole` keep the request open (up to ten minutes) without replying.
//!   Under `in_doubt`, inquiries of known refs are answered; under `black_hole` every
//!   `/v1/transaction` request (inquiries too) is swallowed.
//! * `flaky`, `maintenance`, `no_balance` and `wrong_number` only affect new ref_ids; an
//!   inquiry always reports the stored state.
//! * Products are also checked against their `start_cut_off`/`end_cut_off` window (WIB,
//!   UTC+7; equal values mean no window): a new transaction inside it fails with rc 58.
//! * Test numbers (`testing: true`) work with any SKU and do not spend the deposit, but a
//!   successful one is listed in `/_sim/fulfilled` like any other fulfilment.
//! * [`SimStats::requests`] counts `/v1/transaction` requests only (top-ups and inquiries,
//!   including malformed ones and those answered 500), not balance or price-list calls.

mod callback;
mod catalog;
mod engine;
mod otomax;
mod server;
#[cfg(test)]
mod tests;

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use catalog::{ProductPatch, SimProduct};

/// How the simulated supplier behaves (SPEC 14).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SimMode {
    /// Sukses + SN at once.
    Ok,
    /// The API listener is closed: connection refused.
    Down,
    /// HTTP 500, nothing done.
    Error,
    /// Waits `latency_ms`, then behaves as `ok`.
    Slow,
    /// `fail_rate` of new transactions answered Gagal rc 62, the rest `ok`.
    Flaky,
    /// Answers Pending rc 03, fulfils after `callback_delay_ms`, then calls back.
    Pending,
    /// Fulfils but never answers.
    InDoubt,
    /// Neither answers nor fulfils; the ref is processed by a later inquiry.
    BlackHole,
    /// Gagal rc 58.
    Maintenance,
    /// Gagal rc 44.
    NoBalance,
    /// Gagal rc 54.
    WrongNumber,
    /// Fulfils, then answers an HTML page with HTTP 200 (an unreadable reply); an inquiry
    /// shows Sukses.
    Garbled,
}

impl SimMode {
    /// Every mode, in SPEC order.
    pub const ALL: [SimMode; 12] = [
        SimMode::Ok,
        SimMode::Down,
        SimMode::Error,
        SimMode::Slow,
        SimMode::Flaky,
        SimMode::Pending,
        SimMode::InDoubt,
        SimMode::BlackHole,
        SimMode::Maintenance,
        SimMode::NoBalance,
        SimMode::WrongNumber,
        SimMode::Garbled,
    ];

    /// The snake_case name used on the command line and in the control API.
    pub fn as_str(self) -> &'static str {
        match self {
            SimMode::Ok => "ok",
            SimMode::Down => "down",
            SimMode::Error => "error",
            SimMode::Slow => "slow",
            SimMode::Flaky => "flaky",
            SimMode::Pending => "pending",
            SimMode::InDoubt => "in_doubt",
            SimMode::BlackHole => "black_hole",
            SimMode::Maintenance => "maintenance",
            SimMode::NoBalance => "no_balance",
            SimMode::WrongNumber => "wrong_number",
            SimMode::Garbled => "garbled",
        }
    }
}

impl fmt::Display for SimMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error returned when parsing an unknown [`SimMode`] name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown sim mode `{0}` (expected one of: ok, down, error, slow, flaky, pending, in_doubt, black_hole, maintenance, no_balance, wrong_number)")]
pub struct ParseSimModeError(pub String);

impl FromStr for SimMode {
    type Err = ParseSimModeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase().replace('-', "_");
        SimMode::ALL
            .into_iter()
            .find(|m| m.as_str() == wanted)
            .ok_or_else(|| ParseSimModeError(s.to_string()))
    }
}

/// Everything the simulator needs to start.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SimConfig {
    /// Digiflazz buyer username expected in requests.
    pub username: String,
    /// Digiflazz API key used to check `sign`.
    pub key: String,
    /// Default callback URL (a request's `cb_url` wins).
    pub callback_url: Option<String>,
    /// When set, callbacks carry `X-Hub-Signature: sha1=<hmac-sha1(secret, body)>`.
    pub callback_secret: Option<String>,
    /// Initial mode.
    pub mode: SimMode,
    /// Extra latency used by `slow`.
    pub latency_ms: u64,
    /// Share of new transactions failed by `flaky`, `0.0..=1.0`.
    pub fail_rate: f64,
    /// Delay before a pending transaction settles (used by `pending` and test numbers).
    pub callback_delay_ms: u64,
    /// Starting deposit in rupiah; each fulfilment spends the SKU's price.
    pub deposit: i64,
    /// Seed of the RNG behind serial numbers and `flaky`.
    pub seed: u64,
    /// The catalog.
    pub products: Vec<SimProduct>,
    /// The dialect of its reports (callbacks). Both APIs are always served: Digiflazz's
    /// under `/v1`, OtomaX's `/trx` and `/balance`.
    #[serde(default)]
    pub dialect: SimDialect,
}

/// Which supplier dialect a simulator's reports speak.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SimDialect {
    /// `POST {"data": ...}` signed with `X-Hub-Signature`.
    #[default]
    Digiflazz,
    /// `GET ?t&refid&status&price&message` (the secret is in the report URL).
    Otomax,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            username: "sim".to_string(),
            key: "simkey".to_string(),
            callback_url: None,
            callback_secret: None,
            mode: SimMode::Ok,
            latency_ms: 500,
            fail_rate: 0.5,
            callback_delay_ms: 200,
            deposit: 100_000_000,
            seed: 1,
            products: SimProduct::default_catalog(),
            dialect: SimDialect::Digiflazz,
        }
    }
}

/// A mode change: the body of `POST /_sim/mode`. Omitted knobs keep their current value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModeRequest {
    pub mode: SimMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_delay_ms: Option<u64>,
}

impl ModeRequest {
    /// Switch to `mode`, keeping every knob as it is.
    pub fn new(mode: SimMode) -> Self {
        ModeRequest {
            mode,
            latency_ms: None,
            fail_rate: None,
            callback_delay_ms: None,
        }
    }
}

impl From<SimMode> for ModeRequest {
    fn from(mode: SimMode) -> Self {
        ModeRequest::new(mode)
    }
}

/// The current mode and its knobs (`GET /_sim/mode`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModeSettings {
    pub mode: SimMode,
    pub latency_ms: u64,
    pub fail_rate: f64,
    pub callback_delay_ms: u64,
}

/// One fulfilment performed by the simulator (`GET /_sim/fulfilled`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fulfilment {
    pub ref_id: String,
    pub sku: String,
    pub customer_no: String,
    pub sn: String,
    /// RFC 3339, UTC.
    pub at: String,
}

/// Counters (`GET /_sim/stats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimStats {
    /// `/v1/transaction` requests received (top-ups and inquiries).
    pub requests: u64,
    /// Distinct ref_ids recorded.
    pub distinct_refs: u64,
    /// Fulfilments performed.
    pub fulfilled: u64,
    /// Current deposit, rupiah.
    pub deposit: i64,
}

/// Why a mode change was refused.
#[derive(Debug, thiserror::Error)]
enum ModeError {
    #[error("{0}")]
    Invalid(String),
    #[error("simulator is shut down")]
    ShutDown,
    #[error("cannot reopen the supplier API on {addr}: {source}")]
    Rebind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// State shared by the handle, both servers and background tasks.
struct Inner {
    username: String,
    key: String,
    callback_url: Option<String>,
    callback_secret: Option<String>,
    dialect: SimDialect,
    api_addr: SocketAddr,
    control_addr: SocketAddr,
    state: Mutex<engine::State>,
    /// The running supplier-API server, `None` while `down` (or after shutdown).
    api: Mutex<Option<server::Running>>,
    /// Serialises mode transitions (opening/closing the API listener).
    transition: tokio::sync::Mutex<()>,
    shutdown: watch::Sender<bool>,
    http: reqwest::Client,
}

fn relock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn check_fail_rate(rate: f64) -> Result<(), ModeError> {
    if rate.is_finite() && (0.0..=1.0).contains(&rate) {
        Ok(())
    } else {
        Err(ModeError::Invalid(format!(
            "fail_rate must be between 0.0 and 1.0, got {rate}"
        )))
    }
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, engine::State> {
        relock(&self.state)
    }

    fn is_shut_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    async fn set_mode(self: &Arc<Self>, req: ModeRequest) -> Result<ModeSettings, ModeError> {
        if let Some(rate) = req.fail_rate {
            check_fail_rate(rate)?;
        }
        let _transition = self.transition.lock().await;
        if self.is_shut_down() {
            return Err(ModeError::ShutDown);
        }
        let old = self.state().settings.mode;
        let leaving_down = old == SimMode::Down && req.mode != SimMode::Down;
        let entering_down = old != SimMode::Down && req.mode == SimMode::Down;
        // Bind before changing anything, so a failed re-open leaves the mode as it was.
        let listener = if leaving_down {
            Some(
                server::bind(self.api_addr).map_err(|source| ModeError::Rebind {
                    addr: self.api_addr,
                    source,
                })?,
            )
        } else {
            None
        };
        let settings = {
            let mut st = self.state();
            let s = &mut st.settings;
            s.mode = req.mode;
            if let Some(v) = req.latency_ms {
                s.latency_ms = v;
            }
            if let Some(v) = req.fail_rate {
                s.fail_rate = v;
            }
            if let Some(v) = req.callback_delay_ms {
                s.callback_delay_ms = v;
            }
            s.clone()
        };
        if let Some(listener) = listener {
            let running = server::spawn_api(self, listener);
            *relock(&self.api) = Some(running);
        }
        if entering_down {
            let running = relock(&self.api).take();
            if let Some(running) = running {
                running.stop().await;
            }
        }
        tracing::info!(mode = %settings.mode, latency_ms = settings.latency_ms,
            fail_rate = settings.fail_rate, callback_delay_ms = settings.callback_delay_ms,
            "sim: mode set");
        Ok(settings)
    }

    /// Settle a pending transaction after its delay and call back (runs in the background).
    fn spawn_completion(self: &Arc<Self>, job: engine::Completion) {
        let inner = Arc::clone(self);
        let mut shutdown = self.shutdown.subscribe();
        tokio::spawn(async move {
            let work = async {
                tokio::time::sleep(job.delay).await;
                let done = inner.state().complete(&job.ref_id, job.succeed);
                if let Some((reply, cb_url)) = done {
                    match cb_url.or_else(|| inner.callback_url.clone()) {
                        Some(url) if inner.dialect == SimDialect::Otomax => {
                            otomax::send_report(&inner.http, &url, &reply).await
                        }
                        Some(url) => {
                            callback::send(
                                &inner.http,
                                &url,
                                inner.callback_secret.as_deref(),
                                &reply,
                            )
                            .await
                        }
                        None => tracing::debug!(ref_id = %reply.ref_id,
                            "sim: no callback url, callback skipped"),
                    }
                }
            };
            tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => {}
                () = work => {}
            }
        });
    }
}

/// A running simulator. Dropping it stops the servers; [`Sim::shutdown`] waits for them.
pub struct Sim {
    inner: Arc<Inner>,
    control: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for Sim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sim")
            .field("api_addr", &self.inner.api_addr)
            .field("control_addr", &self.inner.control_addr)
            .field("mode", &self.mode().mode)
            .finish()
    }
}

impl Sim {
    /// Bind the supplier API on `listen` and the control API on `control` (either may be
    /// port 0) and start serving.
    pub async fn start(
        cfg: SimConfig,
        listen: SocketAddr,
        control: SocketAddr,
    ) -> anyhow::Result<Sim> {
        check_fail_rate(cfg.fail_rate)?;
        for p in &cfg.products {
            catalog::validate(p).map_err(anyhow::Error::msg)?;
        }
        let api_listener = server::bind(listen)
            .with_context(|| format!("binding the sim supplier API on {listen}"))?;
        let api_addr = api_listener.local_addr()?;
        let control_listener = server::bind(control)
            .with_context(|| format!("binding the sim control API on {control}"))?;
        let control_addr = control_listener.local_addr()?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(5))
            .build()
            .context("building the callback HTTP client")?;
        let (shutdown, _) = watch::channel(false);
        let inner = Arc::new(Inner {
            username: cfg.username.clone(),
            key: cfg.key.clone(),
            callback_url: cfg.callback_url.clone().filter(|u| !u.is_empty()),
            dialect: cfg.dialect,
            callback_secret: cfg.callback_secret.clone().filter(|s| !s.is_empty()),
            api_addr,
            control_addr,
            state: Mutex::new(engine::State::new(&cfg)),
            api: Mutex::new(None),
            transition: tokio::sync::Mutex::new(()),
            shutdown,
            http,
        });
        if cfg.mode == SimMode::Down {
            drop(api_listener);
        } else {
            let running = server::spawn_api(&inner, api_listener);
            *relock(&inner.api) = Some(running);
        }
        let control_task = server::spawn_control(&inner, control_listener);
        tracing::info!(%api_addr, %control_addr, mode = %cfg.mode, "sim: started");
        Ok(Sim {
            inner,
            control: Mutex::new(Some(control_task)),
        })
    }

    /// The supplier API's bound address (kept across `down` → `ok`).
    pub fn api_addr(&self) -> SocketAddr {
        self.inner.api_addr
    }

    /// The control API's bound address.
    pub fn control_addr(&self) -> SocketAddr {
        self.inner.control_addr
    }

    /// `http://{api_addr}/v1`, the supplier `base_url`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.inner.api_addr)
    }

    /// `http://{control_addr}`.
    pub fn control_url(&self) -> String {
        format!("http://{}", self.inner.control_addr)
    }

    /// Same effect as `POST /_sim/mode`.
    pub async fn set_mode(&self, req: impl Into<ModeRequest>) -> anyhow::Result<()> {
        self.inner.set_mode(req.into()).await?;
        Ok(())
    }

    /// The current mode and knobs.
    pub fn mode(&self) -> ModeSettings {
        self.inner.state().settings.clone()
    }

    /// Every fulfilment performed so far, oldest first.
    pub fn fulfilled(&self) -> Vec<Fulfilment> {
        self.inner.state().fulfilled().to_vec()
    }

    /// Counters.
    pub fn stats(&self) -> SimStats {
        self.inner.state().stats()
    }

    /// Set the deposit (same as `POST /_sim/deposit`).
    pub fn set_deposit(&self, amount: i64) {
        self.inner.state().deposit = amount;
    }

    /// The catalog.
    pub fn products(&self) -> Vec<SimProduct> {
        self.inner.state().products.clone()
    }

    /// Insert or update one catalog product (same as `POST /_sim/products`).
    pub fn upsert_product(&self, patch: ProductPatch) -> anyhow::Result<SimProduct> {
        self.inner
            .state()
            .upsert_product(patch)
            .map_err(anyhow::Error::msg)
    }

    /// Serve until `until` resolves, then shut down.
    pub async fn run_until<F: Future>(self, until: F) {
        until.await;
        self.shutdown().await;
    }

    /// Serve until ctrl-c, then shut down (for the CLI).
    pub async fn run_until_ctrl_c(self) -> anyhow::Result<()> {
        let res = tokio::signal::ctrl_c().await;
        self.shutdown().await;
        res.context("waiting for ctrl-c")
    }

    /// Stop both servers (dropping open connections) and every pending callback.
    pub async fn shutdown(self) {
        {
            let _transition = self.inner.transition.lock().await;
            self.inner.shutdown.send_replace(true);
        }
        let api = relock(&self.inner.api).take();
        if let Some(api) = api {
            api.stop().await;
        }
        let control = relock(&self.control).take();
        if let Some(control) = control {
            if let Err(e) = control.await {
                tracing::warn!(error = %e, "sim: control server task failed");
            }
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.inner.shutdown.send_replace(true);
    }
}
