//! Reload without restart (SPEC 6.1.3), on a real `siaga serve` process with a config
//! file: under steady traffic, `siaga reload` swaps the route priorities and adds a
//! supplier (no order failed or lost, the new order of routes used at once); a broken
//! file, by `POST /admin/api/reload`, by SIGHUP and by `siaga reload`, changes nothing; a
//! supplier removed while it holds an unknown attempt still settles that attempt there.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use siaga_suppliers::sim::{Sim, SimConfig, SimMode, SimProduct};

const ADMIN: &str = "reload-admin-token-of-32-characters!";
const T: Duration = Duration::from_secs(30);

/// A sim supplier called `id`, selling `skus` at 10,000.
async fn sim(id: &str, skus: &[&str]) -> Sim {
    let products = skus
        .iter()
        .map(|s| SimProduct {
            sku: (*s).into(),
            name: (*s).into(),
            brand: "TELKOMSEL".into(),
            category: "Pulsa".into(),
            price: 10_000,
            buyer_product_status: true,
            seller_product_status: true,
            start_cut_off: "00:00".into(),
            end_cut_off: "00:00".into(),
            multi: true,
        })
        .collect();
    let cfg = SimConfig {
        username: id.into(),
        key: format!("{id}-key"),
        products,
        ..SimConfig::default()
    };
    Sim::start(
        cfg,
        "127.0.0.1:0".parse().unwrap(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap()
}

fn supplier_toml(id: &str, sim: &Sim) -> String {
    format!(
        "[[suppliers]]\nid = \"{id}\"\nbase_url = \"{}\"\nusername = \"{id}\"\nkey_env = \"KEY_{}\"\ntimeout_ms = 1000\ninquiry_min_interval_s = 1\ninquiry_max_interval_s = 2\n\n",
        sim.base_url(),
        id.to_ascii_uppercase()
    )
}

/// The config: `suppliers` (id, sim) and TSEL10 routed through `routes` in that order of
/// priority; XL10 through `xl_route` when given.
fn config(suppliers: &[(&str, &Sim)], routes: &[&str], xl_route: Option<&str>) -> String {
    let mut t = "[server]\nlisten = \"127.0.0.1:0\"\nadmin_token_env = \"RELOAD_ADMIN\"\n\n[store]\nurl = \"sqlite://siaga.db\"\n\n[orders]\nmanual_review_after_s = 3600\n\n[limits]\nper_key_per_s = 100000\nper_key_burst = 100000\nper_ip_per_s = 100000\nper_ip_burst = 100000\n\n[health]\nprobe_interval_s = 3600\n\n".to_owned();
    for (id, sim) in suppliers {
        t.push_str(&supplier_toml(id, sim));
    }
    let routes: Vec<String> = routes
        .iter()
        .enumerate()
        .map(|(i, s)| {
            format!(
                "{{ supplier = \"{s}\", sku = \"t10\", cost = 10000, priority = {} }}",
                i + 1
            )
        })
        .collect();
    t.push_str(&format!(
        "[[products]]\ncode = \"TSEL10\"\nname = \"Telkomsel 10.000\"\noperator = \"telkomsel\"\ngroup = \"Telkomsel Pulsa\"\nprice = 10500\nroutes = [{}]\n\n",
        routes.join(", ")
    ));
    if let Some(s) = xl_route {
        t.push_str(&format!(
            "[[products]]\ncode = \"XL10\"\nname = \"XL 10.000\"\noperator = \"xl\"\ngroup = \"XL Pulsa\"\nprice = 10600\nroutes = [{{ supplier = \"{s}\", sku = \"x10\", cost = 10000, priority = 1 }}]\n"
        ));
    }
    t
}

fn command(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_siaga"));
    c.current_dir(dir)
        .args(args)
        .env_remove("SIAGA_CONFIG")
        .env("SIAGA_LOG", "warn")
        .env("RELOAD_ADMIN", ADMIN)
        .env("KEY_A", "a-key")
        .env("KEY_B", "b-key")
        .env("KEY_C", "c-key");
    c
}

/// A running `siaga serve`: the process, its base URL and what it logged so far.
struct Server {
    child: Child,
    base: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Waits until a line containing `text` was logged.
    async fn logged(&self, text: &str) {
        let end = Instant::now() + T;
        loop {
            if self.log.lock().unwrap().iter().any(|l| l.contains(text)) {
                return;
            }
            assert!(Instant::now() < end, "never logged {text:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn hangup(&self) {
        let hup = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(hup.success());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `siaga serve` in `dir`, once it printed where it listens.
fn serve(dir: &Path) -> Server {
    let mut child = command(dir, &["serve"])
        .env("SIAGA_LOG", "warn,siaga::server=info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let err = child.stderr.take().unwrap();
    let kept = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            kept.lock().unwrap().push(line);
        }
    });
    let out = child.stdout.take().unwrap();
    let mut lines = BufReader::new(out).lines();
    let base = loop {
        let line = lines.next().expect("serve exited").unwrap();
        if let Some(b) = line.strip_prefix("siaga listening on ") {
            break b.trim().to_owned();
        }
    };
    // Keep reading so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Server { child, base, log }
}

struct Client {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Client {
    async fn admin(&self, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(ADMIN)
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    async fn order(&self, r: &str, product: &str, dest: &str) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}/v1/orders", self.base))
            .bearer_auth(&self.key)
            .json(&json!({"ref_id": r, "product": product, "destination": dest}))
            .send()
            .await
            .unwrap();
        (
            resp.status().as_u16(),
            resp.json().await.unwrap_or(Value::Null),
        )
    }

    async fn wait_final(&self, r: &str) -> Value {
        let end = Instant::now() + T;
        loop {
            let o: Value = self
                .http
                .get(format!("{}/v1/orders/{r}", self.base))
                .bearer_auth(&self.key)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if o["status"] != "pending" {
                return o;
            }
            assert!(Instant::now() < end, "order {r} still pending: {o}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The supplier of the order's first attempt.
    async fn first_supplier(&self, order_id: &str) -> String {
        let (_, o) = self
            .admin(
                reqwest::Method::GET,
                &format!("/admin/api/orders/{order_id}"),
                Value::Null,
            )
            .await;
        o["attempts"][0]["supplier"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    }
}

async fn client(base: String) -> Client {
    let http = reqwest::Client::new();
    let mut c = Client {
        http,
        base,
        key: String::new(),
    };
    let (s, creds) = c
        .admin(
            reqwest::Method::POST,
            "/admin/api/resellers",
            json!({"name": "Konter Reload"}),
        )
        .await;
    assert_eq!(s, 201, "{creds}");
    let id = creds["id"].as_str().unwrap().to_owned();
    c.key = creds["api_key"].as_str().unwrap().to_owned();
    let (s, _) = c
        .admin(
            reqwest::Method::POST,
            &format!("/admin/api/resellers/{id}/deposits"),
            json!({"amount": 50_000_000}),
        )
        .await;
    assert_eq!(s, 201);
    c
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

/// Every destination fulfilled exactly once across the sims.
fn assert_once(sims: &[&Sim]) -> usize {
    let mut per_dest: HashMap<String, usize> = HashMap::new();
    for sim in sims {
        for f in sim.fulfilled() {
            *per_dest.entry(f.customer_no.clone()).or_default() += 1;
        }
    }
    for (d, n) in &per_dest {
        assert_eq!(*n, 1, "{d} fulfilled {n} times");
    }
    per_dest.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_under_load_swaps_routes_and_adds_a_supplier_and_a_broken_file_changes_nothing() {
    let (a, b, c) = (
        sim("a", &["t10"]).await,
        sim("b", &["t10"]).await,
        sim("c", &["x10"]).await,
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("siaga.toml");
    write(&file, &config(&[("a", &a), ("b", &b)], &["a", "b"], None));
    let server = serve(dir.path());
    let cl = Arc::new(client(server.base.clone()).await);

    // Steady traffic until told to stop; every acknowledged order is kept.
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let (cl, stop) = (cl.clone(), stop.clone());
        tokio::spawn(async move {
            let mut refs = Vec::new();
            let mut i = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let r = format!("LOAD-{i}");
                let (s, o) = cl.order(&r, "TSEL10", &format!("08121{i:07}")).await;
                assert!(s == 201 || s == 200, "{s} {o}");
                refs.push(r);
                i += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            refs
        })
    };
    let end = Instant::now() + T;
    while a.fulfilled().len() < 20 {
        assert!(Instant::now() < end, "no traffic through a");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // b first now, and a new supplier c selling a new product.
    write(
        &file,
        &config(&[("a", &a), ("b", &b), ("c", &c)], &["b", "a"], Some("c")),
    );
    let out = command(dir.path(), &["reload"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(said["changes"]["suppliers_added"], json!(["c"]), "{said}");
    assert_eq!(said["changes"]["products_added"], json!(["XL10"]), "{said}");
    assert_eq!(
        said["changes"]["products_changed"],
        json!(["TSEL10"]),
        "{said}"
    );
    // At once: the very next order goes to b first.
    let (s, o) = cl.order("AFTER-1", "TSEL10", "081299999991").await;
    assert_eq!(s, 201, "{o}");
    let oid = o["order_id"].as_str().unwrap().to_owned();
    assert_eq!(cl.first_supplier(&oid).await, "b");
    let (s, o) = cl.order("XL-1", "XL10", "081799999991").await;
    assert_eq!(s, 201, "{o}");
    assert_eq!(cl.wait_final("XL-1").await["status"], "success");
    assert_eq!(c.fulfilled().len(), 1);

    broken_then_good_by_sighup(&server, &cl, &file).await;

    stop.store(true, Ordering::Relaxed);
    let refs = traffic.await.unwrap();
    assert!(refs.len() > 20);
    let after = ["AFTER-1", "AFTER-2", "AFTER-3"].map(String::from);
    for r in refs.iter().chain(after.iter()) {
        let o = cl.wait_final(r).await;
        assert_eq!(o["status"], "success", "{r}: {o}");
    }
    assert_eq!(assert_once(&[&a, &b, &c]), refs.len() + 4);
    assert!(b.fulfilled().len() >= 2, "traffic moved to b");
    let (_, v) = cl
        .admin(reqwest::Method::GET, "/admin/api/verify", Value::Null)
        .await;
    assert_eq!(v["ok"], true, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_supplier_still_settles_its_unknown_attempt_there() {
    let (a, b) = (sim("a", &["t10"]).await, sim("b", &["t10"]).await);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("siaga.toml");
    write(&file, &config(&[("a", &a), ("b", &b)], &["a", "b"], None));
    let server = serve(dir.path());
    let cl = client(server.base.clone()).await;

    // a fulfils but its answer never comes: the attempt is unknown, held at a.
    a.set_mode(SimMode::InDoubt).await.unwrap();
    let (s, o) = cl.order("GONE-1", "TSEL10", "081288888881").await;
    assert_eq!(s, 201, "{o}");
    let oid = o["order_id"].as_str().unwrap().to_owned();
    let end = Instant::now() + T;
    loop {
        let (_, v) = cl
            .admin(
                reqwest::Method::GET,
                &format!("/admin/api/orders/{oid}"),
                Value::Null,
            )
            .await;
        if v["attempts"][0]["state"] == "unknown" {
            break;
        }
        assert!(Instant::now() < end, "never unknown: {v}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    // a leaves the config; its attempt is not abandoned and not sent to b.
    write(&file, &config(&[("b", &b)], &["b"], None));
    let (s, v) = cl
        .admin(reqwest::Method::POST, "/admin/api/reload", Value::Null)
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["changes"]["suppliers_removed"], json!(["a"]), "{v}");
    let (_, sup) = cl
        .admin(reqwest::Method::GET, "/admin/api/suppliers", Value::Null)
        .await;
    let retired = sup
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "a")
        .map(|s| s["retired"].clone());
    assert_eq!(retired, Some(json!(true)), "{sup}");
    a.set_mode(SimMode::Ok).await.unwrap();
    let o = cl.wait_final("GONE-1").await;
    assert_eq!(o["status"], "success", "{o}");
    let (_, v) = cl
        .admin(
            reqwest::Method::GET,
            &format!("/admin/api/orders/{oid}"),
            Value::Null,
        )
        .await;
    let attempts = v["attempts"].as_array().unwrap();
    assert_eq!(
        attempts.len(),
        1,
        "settled at a by inquiry, never re-sent: {v}"
    );
    assert_eq!(attempts[0]["supplier"], "a");
    assert_eq!((a.fulfilled().len(), b.fulfilled().len()), (1, 0));
    // New orders go to b alone.
    let (s, _) = cl.order("AFTER-GONE", "TSEL10", "081288888882").await;
    assert_eq!(s, 201);
    assert_eq!(cl.wait_final("AFTER-GONE").await["status"], "success");
    assert_eq!(b.fulfilled().len(), 1);
}

/// A broken file is refused by the admin API, by `siaga reload` and by SIGHUP (b stays
/// first); then a good one by SIGHUP puts a first again.
async fn broken_then_good_by_sighup(server: &Server, cl: &Client, file: &Path) {
    let dir = file.parent().unwrap();
    // A broken file: refused by the admin API, by SIGHUP and by `siaga reload`; b stays first.
    let good = std::fs::read_to_string(file).unwrap();
    write(
        file,
        &good.replace("priority = 1 }", "priority = \"first\" }"),
    );
    let (s, v) = cl
        .admin(reqwest::Method::POST, "/admin/api/reload", Value::Null)
        .await;
    assert_eq!(s, 422, "{v}");
    let why = v["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        why.contains("siaga.toml:"),
        "names the file and line: {why}"
    );
    let out = command(dir, &["reload"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("siaga.toml:"));
    server.hangup();
    server.logged("SIGHUP: config refused").await;
    let (s, o) = cl.order("AFTER-2", "TSEL10", "081299999992").await;
    assert_eq!(s, 201, "{o}");
    let oid = o["order_id"].as_str().unwrap().to_owned();
    assert_eq!(
        cl.first_supplier(&oid).await,
        "b",
        "the running config stayed"
    );

    // SIGHUP with a good file: a first again.
    write(file, &good.replace("priority = 1 }", "priority = 9 }"));
    server.hangup();
    server.logged("SIGHUP: config reloaded").await;
    let (s, o) = cl.order("AFTER-3", "TSEL10", "081299999993").await;
    assert_eq!(s, 201, "{o}");
    let oid = o["order_id"].as_str().unwrap().to_owned();
    assert_eq!(
        cl.first_supplier(&oid).await,
        "a",
        "SIGHUP put the file in force"
    );
}
