//! siaga on PostgreSQL end to end (SPEC 12, `store.url = "postgres://..."`): the switch
//! takes an order to success against a sim and the `siaga verify` binary finds the books
//! clean; the `siaga serve` binary starts on it and is ready. Each test runs in a schema of
//! its own in the database `SIAGA_TEST_POSTGRES_URL` names (dropped at the end), or, for a
//! test that acts on a whole database, a database of its own on that server; without
//! that variable the tests say so and pass, except under `CI=true`, where they fail.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::harness::{Opts, TestApp};

const T: Duration = Duration::from_secs(15);
const URL_ENV: &str = "SIAGA_TEST_POSTGRES_URL";

/// A schema of its own in the test database; its `url` opens a store there.
pub struct Schema {
    base: String,
    name: String,
    pub url: String,
}

impl Schema {
    /// `None` (with a line) when no test database is named; a failure under `CI=true`.
    pub fn new() -> Option<Schema> {
        let base = base_url()?;
        let name = format!("siaga_it_{}", ulid::Ulid::new().to_string().to_lowercase());
        sql(&base, &format!("CREATE SCHEMA {name}"));
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-c%20search_path%3D{name}");
        Some(Schema { base, name, url })
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        sql(
            &self.base,
            &format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name),
        );
    }
}

/// A database of its own on the test server (`CREATE DATABASE`), for the tests that act on
/// a whole database (terminating its sessions, refusing new ones); dropped at the end
/// (`WITH (FORCE)`). Its `url` is the test URL with this database's name.
pub struct Database {
    base: String,
    pub name: String,
    pub url: String,
}

impl Database {
    /// `None` (with a line) when no test database is named; a failure under `CI=true`.
    pub fn new() -> Option<Database> {
        let base = base_url()?;
        let name = format!("siaga_db_{}", ulid::Ulid::new().to_string().to_lowercase());
        sql(&base, &format!("CREATE DATABASE {name}"));
        let (head, query) = match base.split_once('?') {
            Some((h, q)) => (h, format!("?{q}")),
            None => (base.as_str(), String::new()),
        };
        let root = head
            .rsplit_once('/')
            .filter(|(r, _)| r.contains("//") && !r.ends_with('/'))
            .map_or(head, |(r, _)| r);
        let url = format!("{root}/{name}{query}");
        Some(Database { base, name, url })
    }

    /// Runs `q` on the test server's own database (not this one: it may refuse sessions).
    pub fn admin(&self, q: &str) {
        sql(&self.base, q);
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        // Two statements apart: DROP DATABASE cannot run inside a transaction block.
        let q = [
            format!("ALTER DATABASE {} ALLOW_CONNECTIONS true", self.name),
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        ];
        let (base, name) = (self.base.clone(), self.name.clone());
        // Not `sql`: a failed drop must not panic while a test is already failing.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                if let Ok((client, conn)) =
                    tokio_postgres::connect(&base, tokio_postgres::NoTls).await
                {
                    tokio::spawn(conn);
                    for q in &q {
                        if let Err(e) = client.batch_execute(q).await {
                            eprintln!("test database {name} left behind: {e}");
                        }
                    }
                }
            });
        })
        .join();
    }
}

/// The test server's URL, `None` (with a line) when unset; a failure under `CI=true`.
fn base_url() -> Option<String> {
    match std::env::var(URL_ENV) {
        Ok(u) if !u.is_empty() => Some(u),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("{URL_ENV} is not set: CI runs the PostgreSQL tests, never skips them")
        }
        _ => {
            eprintln!("skipped: set {URL_ENV} to run siaga on PostgreSQL");
            None
        }
    }
}

/// Runs `q` on a connection of its own (on a thread of its own: callable anywhere).
pub fn sql(url: &str, q: &str) {
    let (url, q) = (url.to_owned(), q.to_owned());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .expect("connect to the test database");
            tokio::spawn(conn);
            client.batch_execute(&q).await.expect("test SQL");
        });
    })
    .join()
    .expect("SQL thread");
}

/// A folder with `siaga init`'s config, its store set to `url` (and `listen` to any port).
pub fn config_for(url: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = siaga(dir.path(), &["init"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let file = dir.path().join("siaga.toml");
    let cfg = std::fs::read_to_string(&file).expect("read config");
    let cfg = cfg
        .replace("url = \"sqlite://siaga.db\"", &format!("url = \"{url}\""))
        .replace("listen = \"127.0.0.1:8080\"", "listen = \"127.0.0.1:0\"");
    assert!(cfg.contains(url), "the starter config names its store");
    std::fs::write(&file, cfg).expect("write config");
    dir
}

fn command(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_siaga"));
    c.current_dir(dir)
        .args(args)
        .env_remove("SIAGA_CONFIG")
        .env_remove("SIAGA_SECRET_KEY")
        .env_remove("SIAGA_SECRET_KEY_OLD")
        .env("SIAGA_LOG", "warn")
        .env("DIGI_KEY", "k")
        .env("DIGI_CB_SECRET", "s")
        .env("BACKUP_KEY", "k")
        .env("BACKUP_CB_SECRET", "s");
    c
}

pub fn siaga(dir: &Path, args: &[&str]) -> Output {
    command(dir, args).output().expect("run siaga")
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_succeeds_on_postgres_and_siaga_verify_finds_it_clean() {
    let Some(schema) = Schema::new() else { return };
    let app = TestApp::start(Opts {
        store_url: Some(schema.url.clone()),
        ..Opts::default()
    })
    .await;
    let (s, o) = app.order("PG-1", "TSEL10", "081234567890").await;
    assert_eq!(s, 201, "{o}");
    let fin = app.wait_final("PG-1", T).await;
    assert_eq!(fin["status"], "success", "{fin}");
    assert!(fin["serial_number"].as_str().is_some_and(|s| !s.is_empty()));
    let r = app
        .wait_callback(fin["order_id"].as_str().expect("order_id"), T)
        .await;
    let cb: Value = serde_json::from_slice(&r.body).expect("callback JSON");
    assert_eq!(cb["data"]["status"], "success", "{cb}");
    // The same request again is the same order (idempotent intake on PostgreSQL too).
    let (s, again) = app.order("PG-1", "TSEL10", "081234567890").await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(again["order_id"], fin["order_id"]);
    assert_eq!(app.balance().await, (100_000 - 10_500, 0));
    app.verify_clean().await;
    app.stop();

    let dir = config_for(&schema.url);
    let out = siaga(dir.path(), &["verify"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let report = text(&out.stdout);
    assert!(
        report.starts_with("ok: 1 orders, 3 transfers"),
        "deposit, reserve, post: {report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn siaga_serve_starts_on_postgres_and_is_ready() {
    let Some(schema) = Schema::new() else { return };
    let dir = config_for(&schema.url);
    let mut child = tokio::process::Command::from(command(dir.path(), &["serve"]))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start siaga serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(T, lines.next_line())
        .await
        .expect("siaga serve says where it listens in time")
        .expect("read stdout");
    let Some(line) = first else {
        let out = child.wait_with_output().await.expect("exit");
        panic!("siaga serve ended: {}", text(&out.stderr));
    };
    let base = line
        .strip_prefix("siaga listening on ")
        .unwrap_or_else(|| panic!("first line: {line}"))
        .to_owned();
    let ready: Value = reqwest::get(format!("{base}/readyz"))
        .await
        .expect("GET /readyz")
        .json()
        .await
        .expect("JSON");
    assert_eq!(ready["status"], "ready", "{ready}");
    child.kill().await.expect("stop siaga serve");
    // A PostgreSQL store leaves no lock file beside the config.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("lock"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
