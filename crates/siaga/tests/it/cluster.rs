//! Several `siaga serve` processes on one PostgreSQL database (SPEC 12): orders through
//! every node read back through any; a node killed with `kill -9` while it owns orders
//! pending at a supplier (some whose reply it never recorded) has them settled by another
//! node within `takeover_after_s` plus the inquiry pacing, at the same supplier, each
//! destination fulfilled once, balances exact, `siaga verify` clean. Needs
//! `SIAGA_TEST_POSTGRES_URL` (run under CI, never skipped there). Seeded: the seed is
//! printed; `SIAGA_CLUSTER_SEED` replays a run.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use siaga_suppliers::sim::{ModeRequest, Sim, SimConfig, SimMode, SimProduct};

use crate::postgres::Schema;

const PRICE: i64 = 10_500;
const DEPOSIT: i64 = 50_000_000;
const ADMIN: &str = "cluster-test-admin-token-32-characters";
const TAKEOVER_S: u64 = 3;

/// One `siaga serve` process with its folder and port.
pub struct Node {
    pub id: String,
    pub dir: PathBuf,
    pub base: String,
    child: Option<Child>,
}

impl Node {
    fn port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port")
    }

    /// A node `id` on the store `url`, its config written from `extra` (suppliers,
    /// products...), not started.
    pub fn new(root: &Path, id: &str, url: &str, extra: &str) -> Node {
        let dir = root.join(id);
        std::fs::create_dir_all(&dir).expect("node dir");
        let port = Node::port();
        let base = format!("http://127.0.0.1:{port}");
        let config = format!(
            r#"[server]
listen = "127.0.0.1:{port}"
public_url = "{base}"
admin_token_env = "CLUSTER_ADMIN"
node_id = "{id}"
takeover_after_s = {TAKEOVER_S}

[store]
url = "{url}"

[callbacks]
retry_base_ms = 200
retry_max_ms = 1000

[limits]
per_key_per_s = 0
per_ip_per_s = 0

{extra}"#
        );
        std::fs::write(dir.join("siaga.toml"), config).expect("write config");
        Node {
            id: id.to_owned(),
            dir,
            base,
            child: None,
        }
    }

    pub fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("server.log"))
            .expect("log file");
        let child = command(&self.dir)
            .args(["serve", "--config", "siaga.toml"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn siaga serve");
        self.child = Some(child);
    }

    /// `kill -9`: no goodbye, no lease given back.
    pub fn kill_9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().expect("SIGKILL");
            let _ = c.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill_9();
    }
}

fn command(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_siaga"));
    c.current_dir(dir)
        .env_remove("SIAGA_CONFIG")
        .env_remove("SIAGA_SECRET_KEY")
        .env("SIAGA_LOG", "warn")
        .env("CLUSTER_ADMIN", ADMIN)
        .env("SIM0_KEY", "sim0-key")
        .env("SIM1_KEY", "sim1-key")
        .env("SIM0_CB", "cb0")
        .env("SIM1_CB", "cb1");
    c
}

/// Runs `siaga ARGS` in `dir` (the CLI on the shared store); its stdout.
pub fn cli(dir: &Path, args: &[&str]) -> String {
    let out = command(dir).args(args).output().expect("run siaga");
    assert!(
        out.status.success(),
        "siaga {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub async fn wait_ready(http: &reqwest::Client, node: &Node) {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = http.get(format!("{}/readyz", node.base)).send().await {
            if r.status().is_success() {
                return;
            }
        }
        assert!(
            Instant::now() < end,
            "node {} did not come up: {}",
            node.id,
            node.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Two sims: sim0 the first route, sim1 the backup; sim0 calls back nowhere (only an
/// inquiry settles what it holds).
async fn start_sims(seed: u64) -> Vec<Sim> {
    let mut sims = Vec::new();
    for i in 0..2u64 {
        let cfg = SimConfig {
            username: format!("sim{i}"),
            key: format!("sim{i}-key"),
            callback_url: None,
            callback_secret: Some(format!("cb{i}")),
            callback_delay_ms: 300,
            seed: seed.wrapping_add(i),
            products: vec![SimProduct::new(
                &format!("tsel10-{i}"),
                "Telkomsel 10.000",
                "TELKOMSEL",
                "Pulsa",
                10_150 + 50 * i as i64,
            )],
            ..SimConfig::default()
        };
        let sim = Sim::start(
            cfg,
            "127.0.0.1:0".parse().expect("addr"),
            "127.0.0.1:0".parse().expect("addr"),
        )
        .await
        .expect("start sim");
        sims.push(sim);
    }
    sims
}

fn suppliers(sims: &[Sim]) -> String {
    format!(
        r#"[[suppliers]]
id = "sim0"
base_url = "{u0}"
username = "sim0"
key_env = "SIM0_KEY"
callback_secret_env = "SIM0_CB"
timeout_ms = 20000
inquiry_min_interval_s = 1
inquiry_max_interval_s = 2

[[suppliers]]
id = "sim1"
base_url = "{u1}"
username = "sim1"
key_env = "SIM1_KEY"
callback_secret_env = "SIM1_CB"
timeout_ms = 20000
inquiry_min_interval_s = 1
inquiry_max_interval_s = 2

[[products]]
code = "TSEL10"
name = "Telkomsel 10.000"
operator = "telkomsel"
group = "Telkomsel Pulsa"
price = {PRICE}
routes = [{{ supplier = "sim0", sku = "tsel10-0", cost = 10150, priority = 1 }},
          {{ supplier = "sim1", sku = "tsel10-1", cost = 10200, priority = 2 }}]
"#,
        u0 = sims[0].base_url(),
        u1 = sims[1].base_url()
    )
}

/// Places `ref_id` through `node` until it is acknowledged (201, or 200 for a replay).
async fn place(http: &reqwest::Client, node: &Node, key: &str, ref_id: &str, dest: &str) -> Value {
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let r = http
            .post(format!("{}/v1/orders", node.base))
            .bearer_auth(key)
            .json(&json!({"ref_id": ref_id, "product": "TSEL10", "destination": dest}))
            .send()
            .await;
        if let Ok(r) = r {
            let status = r.status().as_u16();
            if status == 201 || status == 200 {
                return r.json().await.expect("order JSON");
            }
            assert!(status >= 500, "order {ref_id} refused: {status}");
        }
        assert!(Instant::now() < end, "order {ref_id} never acknowledged");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn get(http: &reqwest::Client, url: &str, token: &str) -> (u16, Value) {
    let r = http.get(url).bearer_auth(token).send().await.expect("GET");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Waits until the cluster view of `node` says `owner` owns at least `n` orders.
async fn wait_owned(http: &reqwest::Client, node: &Node, owner: &str, n: i64) {
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, c) = get(http, &format!("{}/admin/api/cluster", node.base), ADMIN).await;
        let owned = c["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|x| x["id"] == owner)
            .and_then(|x| x["orders_owned"].as_i64())
            .unwrap_or(0);
        if owned >= n {
            return;
        }
        assert!(Instant::now() < end, "{owner} owns {owned} of {n}: {c}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_killed_with_orders_at_a_supplier_has_them_settled_by_the_others() {
    let Some(schema) = Schema::new() else { return };
    let seed: u64 = std::env::var("SIAGA_CLUSTER_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("cluster test seed = {seed} (replay with SIAGA_CLUSTER_SEED={seed})");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let root = tempfile::tempdir().expect("temp dir");
    let sims = start_sims(seed).await;
    let extra = suppliers(&sims);
    let mut nodes: Vec<Node> = ["n1", "n2", "n3"]
        .iter()
        .map(|id| Node::new(root.path(), id, &schema.url, &extra))
        .collect();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    for n in nodes.iter_mut() {
        n.start();
    }
    for n in &nodes {
        wait_ready(&http, n).await;
    }
    let (raddr, received) = crate::harness::receiver().await;
    let creds: Value = serde_json::from_str(&cli(
        &nodes[1].dir,
        &[
            "reseller",
            "add",
            "--name",
            "Konter Cluster",
            "--callback-url",
            &format!("http://{raddr}/cb"),
        ],
    ))
    .expect("reseller JSON");
    let key = creds["api_key"].as_str().expect("key").to_owned();
    let rid = creds["id"].as_str().expect("id").to_owned();
    cli(
        &nodes[1].dir,
        &["reseller", "deposit", &rid, &DEPOSIT.to_string()],
    );

    // Orders through every node, each read back through another.
    let mut refs: HashMap<String, String> = HashMap::new();
    for i in 0..12 {
        let (r, dest) = (format!("A-{i}"), format!("0813{:08}", i));
        let via = &nodes[i % 3];
        let o = place(&http, via, &key, &r, &dest).await;
        let other = &nodes[(i + 1 + rng.gen_range(0..2)) % 3];
        let (status, back) = get(&http, &format!("{}/v1/orders/{r}", other.base), &key).await;
        assert_eq!(status, 200, "{r} through {}: {back}", other.id);
        assert_eq!(back["order_id"], o["order_id"]);
        refs.insert(r, dest);
    }

    let at_sim0 = orders_at_sim0(&http, &sims, &nodes[0], &key, &mut rng).await;
    refs.extend(at_sim0.iter().cloned());
    let (hanging, pending) = (
        at_sim0.iter().filter(|(r, _)| r.starts_with('B')).count(),
        at_sim0.iter().filter(|(r, _)| r.starts_with('C')).count(),
    );
    wait_owned(&http, &nodes[1], "n1", (hanging + pending) as i64).await;
    // The hanging requests are still on the wire: n1 never recorded their replies.
    nodes[0].kill_9();
    let killed = Instant::now();
    eprintln!("killed n1 with {hanging} unanswered and {pending} pending orders at sim0");

    let orders = wait_all_final(&http, &nodes[1..], &key, &refs).await;
    let settled_in = killed.elapsed();
    eprintln!("every order final {settled_in:?} after the kill");
    // Takeover within takeover_after_s, then the inquiry pacing (1-2 s) at sim0 and the
    // pending ones' own delay (< 4 s): well inside 20 s.
    assert!(settled_in < Duration::from_secs(20), "{settled_in:?}");
    check_exactly_once(&sims, &orders, &at_sim0);
    check_money(&http, &nodes[2], &key, &orders).await;
    check_cluster_view(&http, &nodes[1..]).await;
    crate::crash::wait_all_callbacks(&received, &orders).await;
    let verify = command(&nodes[2].dir)
        .args(["verify"])
        .output()
        .expect("verify");
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    // The takeover is on the record.
    let (_, audit) = get(
        &http,
        &format!("{}/admin/api/audit?action=cluster.takeover", nodes[1].base),
        ADMIN,
    )
    .await;
    let lines = audit["audit"].as_array().cloned().unwrap_or_default();
    assert!(
        lines.iter().any(|l| l["target"] == "n1"),
        "no takeover audit line: {audit}"
    );
    let _ = set_ok(&sims).await;
}

/// Through `node`: orders sim0 never answers (B-), then orders it answers pending and
/// settles later, calling back nowhere (C-). Returns (ref_id, destination) of each.
async fn orders_at_sim0(
    http: &reqwest::Client,
    sims: &[Sim],
    node: &Node,
    key: &str,
    rng: &mut rand::rngs::StdRng,
) -> Vec<(String, String)> {
    let mode = |mode, delay| ModeRequest {
        mode,
        latency_ms: None,
        fail_rate: None,
        callback_delay_ms: delay,
    };
    let mut at_sim0 = Vec::new();
    sims[0]
        .set_mode(mode(SimMode::InDoubt, None))
        .await
        .expect("mode");
    for i in 0..rng.gen_range(3..7) {
        let (r, dest) = (format!("B-{i}"), format!("0812{:08}", i));
        place(http, node, key, &r, &dest).await;
        at_sim0.push((r, dest));
    }
    let delay = rng.gen_range(1_000..4_000);
    sims[0]
        .set_mode(mode(SimMode::Pending, Some(delay)))
        .await
        .expect("mode");
    for i in 0..rng.gen_range(3..7) {
        let (r, dest) = (format!("C-{i}"), format!("0821{:08}", i));
        place(http, node, key, &r, &dest).await;
        at_sim0.push((r, dest));
    }
    at_sim0
}

async fn set_ok(sims: &[Sim]) -> anyhow::Result<()> {
    for s in sims {
        s.set_mode(SimMode::Ok).await?;
    }
    Ok(())
}

/// Polls each order through the surviving nodes (in turn) until it is final.
async fn wait_all_final(
    http: &reqwest::Client,
    nodes: &[Node],
    key: &str,
    refs: &HashMap<String, String>,
) -> HashMap<String, Value> {
    let end = Instant::now() + Duration::from_secs(40);
    let mut orders = HashMap::new();
    for (k, r) in refs.keys().enumerate() {
        let node = &nodes[k % nodes.len()];
        loop {
            let (status, o) = get(http, &format!("{}/v1/orders/{r}", node.base), key).await;
            assert_eq!(status, 200, "order {r} through {}: {o}", node.id);
            if o["status"] != "pending" {
                orders.insert(r.clone(), o);
                break;
            }
            assert!(Instant::now() < end, "order {r} still pending: {o}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    orders
}

/// Every order succeeded, each destination was fulfilled once, and what sim0 held was
/// settled there: never sent to sim1.
fn check_exactly_once(sims: &[Sim], orders: &HashMap<String, Value>, at_sim0: &[(String, String)]) {
    let mut fulfilled: HashMap<String, usize> = HashMap::new();
    for f in sims.iter().flat_map(|s| s.fulfilled()) {
        *fulfilled.entry(f.customer_no).or_default() += 1;
    }
    for (r, o) in orders {
        assert_eq!(o["status"], "success", "{r}: {o}");
        let dest = o["destination"].as_str().unwrap_or_default();
        assert_eq!(
            fulfilled.get(dest),
            Some(&1),
            "{r} ({dest}) fulfilment count"
        );
    }
    let at_sim1: HashSet<String> = sims[1]
        .fulfilled()
        .into_iter()
        .map(|f| f.customer_no)
        .collect();
    for (r, dest) in at_sim0 {
        assert!(!at_sim1.contains(dest), "{r} was sent again to sim1");
    }
    assert_eq!(
        fulfilled.values().sum::<usize>(),
        orders.len(),
        "a fulfilment for an order nobody acknowledged"
    );
}

/// The reseller paid for each success once, nothing held.
async fn check_money(
    http: &reqwest::Client,
    node: &Node,
    key: &str,
    orders: &HashMap<String, Value>,
) {
    let (_, b) = get(http, &format!("{}/v1/balance", node.base), key).await;
    assert_eq!(b["held"], 0, "{b}");
    assert_eq!(
        b["available"].as_i64(),
        Some(DEPOSIT - PRICE * orders.len() as i64),
        "{b}"
    );
}

/// The survivors agree: n1 is dead and owns nothing, one of them leads. Each node's
/// `leader` is its own view, renewed at its heartbeat, so right after the lease moved a
/// survivor may still name the old leader for up to one beat: polled until they agree,
/// within a deadline of several beats.
async fn check_cluster_view(http: &reqwest::Client, nodes: &[Node]) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let mut leaders = HashSet::new();
        let mut views = Vec::new();
        for node in nodes {
            let (status, c) = get(http, &format!("{}/admin/api/cluster", node.base), ADMIN).await;
            assert_eq!(status, 200, "{c}");
            let list = c["nodes"].as_array().cloned().unwrap_or_default();
            let n1 = list
                .iter()
                .find(|x| x["id"] == "n1")
                .cloned()
                .unwrap_or_default();
            assert_eq!(n1["alive"], false, "{c}");
            assert_eq!(n1["orders_owned"], 0, "{c}");
            leaders.insert(c["leader"].as_str().unwrap_or_default().to_owned());
            views.push(c);
        }
        let agreed = leaders.len() == 1 && !leaders.contains("n1") && !leaders.contains("");
        if agreed {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the survivors never agreed on a live leader: {leaders:?} {views:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One supplier behind one product, reported to by email; owner alerts by email; status
/// news to a webhook; no coalescing, so a notice sent twice would be seen twice.
fn outage_config(sim: &Sim, smtp_port: u16, hook: &str) -> String {
    format!(
        r#"[orders]
default_max_wait_s = 30

[health]
probe_interval_s = 1
breaker_consecutive_failures = 2

[status]
incident_after_s = 1
resolve_after_s = 1

[smtp]
host = "127.0.0.1"
port = {smtp_port}
tls = "none"
from = "Status Uji <status@siaga.test>"

[notify]
owner_emails = ["owner@siaga.test"]
coalesce_s = 0
retry_base_ms = 100
retry_max_ms = 400

[[webhooks]]
name = "news"
url = "{hook}"
status = true
alerts = false

[[suppliers]]
id = "sim0"
base_url = "{u0}"
username = "sim0"
key_env = "SIM0_KEY"
callback_secret_env = "SIM0_CB"
timeout_ms = 2000
contact_email = "noc@sim0.test"
report_after_s = 1

[[products]]
code = "TSEL10"
name = "Telkomsel 10.000"
operator = "telkomsel"
group = "Telkomsel Pulsa"
price = {PRICE}
routes = [{{ supplier = "sim0", sku = "tsel10-0", cost = 10150, priority = 1 }}]
"#,
        u0 = sim.base_url()
    )
}

/// Background duties run once across the cluster (SPEC 12): three nodes see one
/// supplier outage (each its own failed requests; the leader its probes), and it makes one
/// breaker event, one incident, one outage report to the supplier, and each notice once
/// per recipient.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_see_one_outage_and_it_is_told_once() {
    let Some(schema) = Schema::new() else { return };
    let root = tempfile::tempdir().expect("temp dir");
    let smtp = crate::notify::smtp_sink();
    let (haddr, news) = crate::harness::receiver().await;
    let sims = start_sims(11).await;
    let extra = outage_config(&sims[0], smtp.port, &format!("http://{haddr}/cb"));
    let mut nodes: Vec<Node> = ["m1", "m2", "m3"]
        .iter()
        .map(|id| Node::new(root.path(), id, &schema.url, &extra))
        .collect();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    for n in nodes.iter_mut() {
        n.start();
    }
    for n in &nodes {
        wait_ready(&http, n).await;
    }
    let creds: Value = serde_json::from_str(&cli(
        &nodes[0].dir,
        &["reseller", "add", "--name", "Konter Tiga"],
    ))
    .expect("reseller JSON");
    let key = creds["api_key"].as_str().expect("key").to_owned();
    let rid = creds["id"].as_str().expect("id").to_owned();
    cli(&nodes[0].dir, &["reseller", "deposit", &rid, "1000000"]);

    sims[0].set_mode(SimMode::Down).await.expect("mode");
    // Every node sends into the outage.
    for i in 0..6 {
        place(
            &http,
            &nodes[i % 3],
            &key,
            &format!("D-{i}"),
            &format!("0822{i:08}"),
        )
        .await;
    }
    // One incident, the same on every node's status API, and the same component states.
    let incident = wait_incidents(&http, &nodes, 1).await;
    wait_same_components(&http, &nodes).await;
    // The supplier hears of it once; the owner hears of the breaker once.
    smtp.wait("the outage report", Duration::from_secs(20), |l| {
        l.iter().any(|m| m["to"][0] == "noc@sim0.test")
    })
    .await;
    wait_news(&news, &incident).await;
    // Every notice this news makes is sent before counting.
    settle_notices(&http, &nodes[0], &schema.url).await;
    let mails = smtp.lines();
    let reports = mails
        .iter()
        .filter(|m| m["to"][0] == "noc@sim0.test")
        .count();
    assert_eq!(reports, 1, "outage reports: {mails:?}");
    assert_no_repeats(&mails, &news);
    let events = breaker_opens(&schema.url).await;
    assert_eq!(events, 1, "breaker open events recorded");
    assert_eq!(wait_incidents(&http, &nodes, 1).await, incident);
    sims[0].set_mode(SimMode::Ok).await.expect("mode");
}

/// Waits until every node's `/api/v2/incidents.json` lists `n` incidents, the same ids;
/// returns the first id.
async fn wait_incidents(http: &reqwest::Client, nodes: &[Node], n: usize) -> String {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let mut seen = Vec::new();
        for node in nodes {
            let (_, v) = get(http, &format!("{}/api/v2/incidents.json", node.base), "").await;
            let ids: Vec<String> = v["incidents"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|i| i["id"].as_str().map(str::to_owned))
                .collect();
            seen.push(ids);
        }
        if seen.iter().all(|ids| ids.len() == n) && seen.windows(2).all(|w| w[0] == w[1]) {
            return seen[0][0].clone();
        }
        assert!(Instant::now() < end, "incidents per node: {seen:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until every node's `/api/v2/components.json` says the same, with the product
/// group down.
async fn wait_same_components(http: &reqwest::Client, nodes: &[Node]) {
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let mut views = Vec::new();
        for node in nodes {
            let (_, v) = get(http, &format!("{}/api/v2/components.json", node.base), "").await;
            let states: Vec<(String, String)> = v["components"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    let name = c["name"].as_str().unwrap_or_default().to_owned();
                    (name, c["status"].as_str().unwrap_or_default().to_owned())
                })
                .collect();
            views.push(states);
        }
        let down = views[0]
            .iter()
            .any(|(n, s)| n == "Telkomsel Pulsa" && s != "operational");
        if down && views.windows(2).all(|w| w[0] == w[1]) {
            return;
        }
        assert!(Instant::now() < end, "components per node: {views:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits for the status webhook's `incident.created` of `incident`.
async fn wait_news(news: &std::sync::Mutex<Vec<crate::harness::Received>>, incident: &str) {
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let created = bodies(news)
            .iter()
            .any(|b| b["type"] == "incident.created" && b["data"]["incident"]["id"] == incident);
        if created {
            return;
        }
        assert!(
            Instant::now() < end,
            "no incident.created: {:?}",
            bodies(news)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn bodies(news: &std::sync::Mutex<Vec<crate::harness::Received>>) -> Vec<Value> {
    news.lock()
        .map(|l| {
            l.iter()
                .filter_map(|r| serde_json::from_slice(&r.body).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until the notifier has followed every incident update and supplier event so far
/// (its cursors in the store have reached their heads) and no notice waits to be sent:
/// every notice this news makes is then enqueued and delivered, duplicates included.
async fn settle_notices(http: &reqwest::Client, node: &Node, url: &str) {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, v) = get(
            http,
            &format!("{}/admin/api/notifications", node.base),
            ADMIN,
        )
        .await;
        let waiting: i64 = v["notices"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|n| n["status"] == "pending" || n["status"] == "sending")
            .filter_map(|n| n["count"].as_i64())
            .sum();
        if waiting == 0 && news_followed(url).await {
            return;
        }
        assert!(Instant::now() < end, "notices still waiting: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether the notifier's cursors have reached the newest incident update and supplier
/// event.
async fn news_followed(url: &str) -> bool {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    let row = client
        .query_one(
            "SELECT (SELECT COALESCE(MAX(id), 0) FROM incident_updates)
                    <= COALESCE((SELECT value::bigint FROM notify_marks WHERE key = 'cursor:updates'), 0)
                AND (SELECT COALESCE(MAX(id), 0) FROM supplier_events)
                    <= COALESCE((SELECT value::bigint FROM notify_marks WHERE key = 'cursor:events'), 0)",
            &[],
        )
        .await
        .expect("cursors");
    row.get(0)
}

/// No email and no webhook event arrived twice (the same recipient, subject and text; the
/// same event type and data).
fn assert_no_repeats(mails: &[Value], news: &std::sync::Mutex<Vec<crate::harness::Received>>) {
    let mut seen = HashSet::new();
    for m in mails {
        let k = format!("{}|{}|{}", m["to"], m["subject"], m["text"]);
        assert!(seen.insert(k), "email sent twice: {m}");
    }
    let mut seen = HashSet::new();
    for b in bodies(news) {
        let k = format!("{}|{}", b["type"], b["data"]);
        assert!(seen.insert(k), "webhook event sent twice: {b}");
    }
}

/// How many times sim0's circuit was recorded opening.
async fn breaker_opens(url: &str) -> i64 {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    let row = client
        .query_one(
            "SELECT COUNT(*) FROM supplier_events
             WHERE supplier_id = 'sim0' AND kind = 'breaker' AND from_state = 'closed' AND to_state = 'open'",
            &[],
        )
        .await
        .expect("count");
    row.get(0)
}
