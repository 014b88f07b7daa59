//! The bench's three simulated suppliers, each a `siaga sim` child process: real separate
//! servers, and `rss_mb` is then the switch's (plus the load generator's), not the
//! simulators', which by design remember every transaction they ever saw.

use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// One `siaga sim` process; killed when dropped.
pub struct SimProc {
    _child: Child,
    base_url: String,
    control: String,
    http: reqwest::Client,
}

/// What a simulator is told at start.
pub struct SimSpec<'a> {
    pub id: &'a str,
    pub key: &'a str,
    pub callback_url: &'a str,
    pub callback_secret: &'a str,
    pub sku: &'a str,
    pub price: i64,
}

impl SimProc {
    pub async fn start(spec: SimSpec<'_>, http: reqwest::Client) -> anyhow::Result<SimProc> {
        let exe = std::env::current_exe().context("cannot find the siaga binary")?;
        let mut child = Command::new(exe)
            .args(["sim", "--listen", "127.0.0.1:0", "--control", "127.0.0.1:0"])
            .args(["--username", spec.id, "--key", spec.key])
            .args(["--callback-url", spec.callback_url])
            .args(["--callback-secret", spec.callback_secret])
            .args(["--deposit", &(i64::MAX / 4).to_string()])
            .env("SIAGA_LOG", "error")
            // A heap profiler preloaded into the bench profiles the switch, not the sims.
            .env_remove("LD_PRELOAD")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("cannot start `siaga sim`")?;
        let stdout = child.stdout.take().context("no stdout from `siaga sim`")?;
        let mut lines = BufReader::new(stdout).lines();
        // "siaga sim: supplier API http://A/v1 (base_url), control http://B/_sim/"
        let first = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .context("`siaga sim` did not start within 10 s")??
            .context("`siaga sim` exited at start")?;
        let base_url = between(&first, "supplier API ", " (base_url)")?;
        let control = between(&first, "control ", "/_sim/")?;
        // Keep reading so the child never writes into a closed pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let sim = SimProc {
            _child: child,
            base_url,
            control,
            http,
        };
        sim.control_post(
            "/_sim/products",
            json!({"sku": spec.sku, "name": "Telkomsel 10.000", "brand": "TELKOMSEL",
                   "category": "Pulsa", "price": spec.price, "multi": true}),
        )
        .await?;
        Ok(sim)
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self._child.id()
    }

    /// The supplier `base_url`.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// Takes the simulator down (connections refused) for the failover phase.
    pub async fn kill(&self) -> anyhow::Result<()> {
        self.control_post("/_sim/mode", json!({"mode": "down"}))
            .await
    }

    /// The destination of every fulfilment this simulator made.
    pub async fn fulfilled_destinations(&self) -> anyhow::Result<Vec<String>> {
        let list: Vec<Value> = self
            .http
            .get(format!("{}/_sim/fulfilled", self.control))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(list
            .iter()
            .filter_map(|f| f["customer_no"].as_str().map(str::to_owned))
            .collect())
    }

    async fn control_post(&self, path: &str, body: Value) -> anyhow::Result<()> {
        self.http
            .post(format!("{}{path}", self.control))
            .json(&body)
            .send()
            .await?
            .error_for_status()
            .with_context(|| format!("simulator control {path}"))?;
        Ok(())
    }
}

fn between(line: &str, start: &str, end: &str) -> anyhow::Result<String> {
    let rest = line
        .split_once(start)
        .map(|x| x.1)
        .with_context(|| format!("unexpected `siaga sim` banner: {line}"))?;
    let value = rest
        .split_once(end)
        .map(|x| x.0)
        .with_context(|| format!("unexpected `siaga sim` banner: {line}"))?;
    Ok(value.to_owned())
}
