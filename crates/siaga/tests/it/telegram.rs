//! Text commands over Telegram (SPEC 5.2) against a fake Bot API on loopback: it serves
//! `getUpdates` from a queue the test fills (long polling, offsets as Telegram keeps them)
//! and records every `sendMessage`. Linking by one-time code, orders with the PIN and the
//! same-day counter, a redelivered message, wrong PINs and the lockout with its owner
//! alert, `SAL`, and an unlinked chat.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use siaga::chat::pin;
use siaga::config::channels::TelegramBot;
use siaga_suppliers::sim::SimMode;
use tokio::sync::Notify;

use crate::harness::{receiver, Opts, Received, TestApp};

const TOKEN: &str = "123456:TEST-token";
const DEST: &str = "081234567890";

#[derive(Default)]
struct Fake {
    updates: Mutex<Vec<Value>>,
    sent: Mutex<Vec<(i64, String)>>,
    polls: Mutex<Vec<i64>>,
    fresh: Notify,
}

/// The fake Bot API and what the test does with it.
struct Tg {
    fake: Arc<Fake>,
    cfg: TelegramBot,
}

async fn api(
    State(f): State<Arc<Fake>>,
    Path((bot, method)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Json<Value> {
    if bot != format!("bot{TOKEN}") {
        return Json(json!({"ok": false, "error_code": 401, "description": "Unauthorized"}));
    }
    match method.as_str() {
        "getUpdates" => {
            let offset = body["offset"].as_i64().unwrap_or(0);
            f.polls.lock().unwrap().push(offset);
            let deadline = tokio::time::Instant::now() + Duration::from_millis(500);
            loop {
                let fresh = f.fresh.notified();
                let got: Vec<Value> = f
                    .updates
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|u| u["update_id"].as_i64().unwrap_or(0) >= offset)
                    .cloned()
                    .collect();
                if !got.is_empty() {
                    return Json(json!({"ok": true, "result": got}));
                }
                if tokio::time::timeout_at(deadline, fresh).await.is_err() {
                    return Json(json!({"ok": true, "result": []}));
                }
            }
        }
        "sendMessage" => {
            let chat = body["chat_id"].as_i64().unwrap_or(0);
            let text = body["text"].as_str().unwrap_or_default().to_owned();
            f.sent.lock().unwrap().push((chat, text));
            Json(json!({"ok": true, "result": {"message_id": 1}}))
        }
        _ => Json(json!({"ok": false, "error_code": 404, "description": "Not Found"})),
    }
}

impl Tg {
    async fn start() -> Tg {
        let fake = Arc::new(Fake::default());
        let app = Router::new()
            .route("/{bot}/{method}", post(api))
            .with_state(fake.clone());
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await });
        Tg {
            fake,
            cfg: TelegramBot {
                token: TOKEN.into(),
                api_base: format!("http://{addr}"),
                poll_timeout: Duration::from_secs(1),
                per_minute: 100,
            },
        }
    }

    /// Queues a text message from `chat` (a new update, as a redelivery also is).
    fn send(&self, chat: i64, message_id: i64, text: &str) {
        let mut u = self.fake.updates.lock().unwrap();
        let id = 1000 + u.len() as i64;
        u.push(json!({"update_id": id, "message": {
            "message_id": message_id, "date": 0,
            "chat": {"id": chat, "type": "private"}, "text": text}}));
        drop(u);
        self.fake.fresh.notify_waiters();
    }

    fn sent_to(&self, chat: i64) -> Vec<String> {
        let s = self.fake.sent.lock().unwrap();
        s.iter()
            .filter(|(c, _)| *c == chat)
            .map(|(_, t)| t.clone())
            .collect()
    }

    /// Waits for the `n`-th message (from 1) to `chat`; fails the test after 15 s.
    async fn reply(&self, chat: i64, n: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(t) = self.sent_to(chat).get(n - 1) {
                return t.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no reply {n} to chat {chat}; so far: {:?}",
                self.sent_to(chat)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends a message and returns the next reply to it.
    async fn ask(&self, chat: i64, message_id: i64, text: &str) -> String {
        let n = self.sent_to(chat).len();
        self.send(chat, message_id, text);
        self.reply(chat, n + 1).await
    }
}

async fn start(notify: Option<siaga::notify::config::NotifySettings>) -> (TestApp, Tg) {
    let tg = Tg::start().await;
    let t = TestApp::start(Opts {
        telegram_bot: Some(tg.cfg.clone()),
        notify: notify.unwrap_or_default(),
        ..Opts::default()
    })
    .await;
    (t, tg)
}

/// What `siaga reseller link --telegram` and `set-pin` keep (the CLI itself: `cli.rs`).
async fn link_code(t: &TestApp) -> String {
    let code = pin::new_code();
    let store = &t.app.store;
    assert!(store
        .add_link_code(&t.reseller_id, &pin::code_hash(&code), i64::MAX, 0)
        .await
        .unwrap());
    code
}

async fn set_pin(t: &TestApp, p: &str) {
    let hash = pin::hash(p).unwrap();
    assert!(t
        .app
        .store
        .set_pin_hash(&t.reseller_id, &hash, 0)
        .await
        .unwrap());
}

async fn orders(t: &TestApp) -> usize {
    t.app
        .store
        .list_orders(siaga_store::OrderQuery {
            reseller_id: t.reseller_id.clone(),
            status: None,
            since: None,
            before_id: None,
            limit: 100,
        })
        .await
        .unwrap()
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_linked_chat_orders_with_its_pin_and_a_same_day_repeat_needs_a_counter() {
    let (t, tg) = start(None).await;
    let chat = 5_550_001;
    let code = link_code(&t).await;
    set_pin(&t, "2468").await;
    // Linked by the code, which works once.
    let hi = tg
        .ask(chat, 1, &format!("/start {}", code.to_lowercase()))
        .await;
    assert!(hi.contains("terhubung dengan akun Konter Uji"), "{hi}");
    let again = tg.ask(chat + 1, 1, &format!("DAFTAR {code}")).await;
    assert!(again.contains("Kode tidak dikenal"), "{again}");

    // An order: "sedang diproses" at once, then the final reply with its SN.
    let first = tg.ask(chat, 2, &format!("TSEL10.{DEST}.2468")).await;
    assert!(first.starts_with("TRX TSEL10.0812...7890"), "{first}");
    let done = tg.reply(chat, 3).await;
    assert!(done.contains(" SUKSES. SN: "), "{done}");
    assert!(done.contains("Harga 10.500. Saldo 89.500 @"), "{done}");
    let o = t
        .app
        .store
        .order_by_ref(&t.reseller_id, &format!("tg-{chat}-2"))
        .await
        .unwrap()
        .unwrap();
    let sn = o.serial_number.clone().unwrap();
    assert!(done.contains(&sn), "{done} / {sn}");

    // The same message delivered again: a replay, never a second order.
    let replay = tg.ask(chat, 2, &format!("TSEL10.{DEST}.2468")).await;
    assert!(replay.contains("SUKSES"), "{replay}");
    assert_eq!(orders(&t).await, 1);

    // The same product and number again today: refused with the counter to send.
    let refused = tg.ask(chat, 3, &format!("TSEL10.{DEST}.2468")).await;
    assert!(
        refused.contains(&format!("TSEL10.{DEST}.2.PIN")),
        "{refused}"
    );
    assert_eq!(orders(&t).await, 1);
    // With the counter: fulfilled.
    tg.ask(chat, 4, &format!("TSEL10.{DEST}.2.2468")).await;
    let second = tg.reply(chat, tg.sent_to(chat).len() + 1).await;
    assert!(
        second.contains("SUKSES") && second.contains("Saldo 79.000"),
        "{second}"
    );
    assert_eq!(orders(&t).await, 2);
    // A used counter is refused too, naming the next.
    let used = tg.ask(chat, 5, &format!("TSEL10.{DEST}.2.2468")).await;
    assert!(used.contains(&format!("TSEL10.{DEST}.3.PIN")), "{used}");

    // CEK by ref and by number: the newest order to that number.
    let by_ref = tg.ask(chat, 7, &format!("CEK.tg-{chat}-2.2468")).await;
    assert!(by_ref.contains(&sn), "{by_ref}");
    let by_number = tg.ask(chat, 8, &format!("CEK.{DEST}.2468")).await;
    assert!(
        by_number.contains("SUKSES") && !by_number.contains(&sn),
        "{by_number}"
    );

    // SAL shows the balance the API shows.
    let sal = tg.ask(chat, 6, "SAL.2468").await;
    assert!(sal.starts_with("Saldo 79.000 @"), "{sal}");
    assert_eq!(t.balance().await, (79_000, 0));
    t.verify_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wrong_pins_place_nothing_and_the_fifth_locks_the_chat_and_alerts_the_owner() {
    let (hook, got) = receiver().await;
    let notify = siaga::notify::config::NotifySettings {
        webhooks: vec![siaga::notify::config::Webhook {
            name: "owner".into(),
            url: format!("http://{hook}/cb"),
            secret: None,
            format: siaga::notify::config::Format::Chat,
            components: Vec::new(),
            status: false,
            alerts: true,
        }],
        coalesce_ms: 0,
        ..Default::default()
    };
    let (t, tg) = start(Some(notify)).await;
    let chat = 5_550_002;
    let code = link_code(&t).await;
    set_pin(&t, "2468").await;
    tg.ask(chat, 1, &format!("/start {code}")).await;

    for i in 1..=4 {
        let r = tg.ask(chat, 10 + i, &format!("TSEL10.{DEST}.1111")).await;
        assert!(r.contains(&format!("PIN salah ({i}/5)")), "{r}");
    }
    assert_eq!(orders(&t).await, 0, "a wrong PIN places nothing");
    assert_eq!(t.balance().await, (100_000, 0));
    let locked = tg.ask(chat, 15, "SAL.9999").await;
    assert!(locked.contains("dikunci sampai"), "{locked}");
    // Locked: even the right PIN does nothing now.
    let still = tg.ask(chat, 16, &format!("TSEL10.{DEST}.2468")).await;
    assert!(still.contains("dikunci sampai"), "{still}");
    assert_eq!(orders(&t).await, 0);

    // The owner hears of it.
    let deadline = Instant::now() + Duration::from_secs(15);
    let alert: Received = loop {
        let found = got
            .lock()
            .unwrap()
            .iter()
            .find(|r| String::from_utf8_lossy(&r.body).contains(&chat.to_string()))
            .cloned();
        if let Some(r) = found {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "no owner alert about the locked chat: {:?}",
            got.lock()
                .unwrap()
                .iter()
                .map(|r| String::from_utf8_lossy(&r.body).into_owned())
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(String::from_utf8_lossy(&alert.body).contains("dikunci"));

    // A new PIN from the owner lifts the lock.
    set_pin(&t, "1357").await;
    let sal = tg.ask(chat, 17, "SAL.1357").await;
    assert!(sal.starts_with("Saldo 100.000"), "{sal}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unlinked_chat_gets_the_help_text_and_orders_nothing() {
    let (t, tg) = start(None).await;
    set_pin(&t, "2468").await;
    let chat = 5_550_003;
    for (i, text) in [
        format!("TSEL10.{DEST}.2468"),
        "SAL.2468".to_string(),
        "HARGA".to_string(),
        "halo".to_string(),
    ]
    .iter()
    .enumerate()
    {
        let r = tg.ask(chat, i as i64 + 1, text).await;
        assert!(r.starts_with("Format: PRODUK.TUJUAN.PIN"), "{text}: {r}");
    }
    let wrong = tg.ask(chat, 9, "/start NOSUCHCODE").await;
    assert!(wrong.contains("Kode tidak dikenal"), "{wrong}");
    assert_eq!(orders(&t).await, 0);
    assert_eq!(t.balance().await, (100_000, 0));
    // Linked, HARGA lists the products with their price and state.
    let code = link_code(&t).await;
    tg.ask(chat, 10, &format!("/start {code}")).await;
    let prices = tg.ask(chat, 11, "HARGA").await;
    assert!(prices.contains("TSEL10 TSEL10 10.500 OK"), "{prices}");
    // A product that is down: the honest reply, and the money back.
    t.set_mode(0, SimMode::Maintenance).await;
    tg.send(chat, 12, "XL10.081712345678.2468");
    let deadline = Instant::now() + Duration::from_secs(15);
    let failed = loop {
        if let Some(m) = tg.sent_to(chat).into_iter().find(|m| m.contains("GAGAL")) {
            break m;
        }
        assert!(Instant::now() < deadline, "{:?}", tg.sent_to(chat));
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        failed
            .starts_with("TRX XL10.0817...5678 GAGAL: produk sedang gangguan, saldo dikembalikan"),
        "{failed}"
    );
    assert_eq!(t.balance().await, (100_000, 0));
    // The bot confirmed each update: every poll asked for the next one.
    let polls = tg.fake.polls.lock().unwrap().clone();
    assert!(polls.windows(2).all(|w| w[0] <= w[1]), "{polls:?}");
}

/// The real binary: `siaga reseller link ID --telegram` prints a code that links once;
/// `siaga reseller set-pin ID` reads the PIN from standard input and keeps only its hash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_prints_a_link_code_and_reads_the_pin_from_standard_input() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let siaga = |args: &[&str], stdin: &str| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_siaga"))
            .current_dir(d)
            .args(args)
            .env_remove("SIAGA_CONFIG")
            .env("SIAGA_LOG", "warn")
            .env("DIGI_KEY", "k")
            .env("DIGI_CB_SECRET", "s")
            .env("BACKUP_KEY", "k")
            .env("BACKUP_CB_SECRET", "s")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        c.wait_with_output().unwrap()
    };
    assert!(siaga(&["init"], "").status.success());
    let out = siaga(&["reseller", "add", "--name", "Konter T"], "");
    let creds: Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = creds["id"].as_str().unwrap();

    assert_eq!(siaga(&["reseller", "link", id], "").status.code(), Some(2));
    let out = siaga(&["reseller", "link", id, "--telegram"], "");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let code = v["code"].as_str().unwrap().to_owned();
    assert_eq!(v["send_to_the_bot"], format!("/start {code}"));
    let out = siaga(&["reseller", "link", "rsl_nobody", "--telegram"], "");
    assert_eq!(out.status.code(), Some(1));

    let bad = siaga(&["reseller", "set-pin", id], "12\n");
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("4 to 6 digits"));
    let out = siaga(&["reseller", "set-pin", id], "482916\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("482916"));

    let store = siaga_store::open(d.join("siaga.db").as_path()).unwrap();
    let hash = store.pin_hash(id).await.unwrap().unwrap();
    assert!(!hash.contains("482916") && pin::verify(&hash, "482916"));
    let now = siaga::clock::Clock::now_ms(&siaga::clock::SystemClock);
    let l = store
        .use_link_code(&pin::code_hash(&code), 77, now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(l.reseller_id, id);
}

/// Per-chat rate limit: past `per_minute`, one "slow down" reply and then silence; other
/// chats are not held back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_past_its_rate_limit_is_told_once_and_others_go_on() {
    let mut tg = Tg::start().await;
    tg.cfg.per_minute = 3;
    let _t = TestApp::start(Opts {
        telegram_bot: Some(tg.cfg.clone()),
        ..Opts::default()
    })
    .await;
    let chat = 5_550_004;
    for i in 1..=6 {
        tg.send(chat, i, "HELP");
    }
    tg.send(chat + 1, 1, "HELP");
    // Every update read (the poll after them asks past the last one).
    let deadline = Instant::now() + Duration::from_secs(15);
    while !tg.fake.polls.lock().unwrap().contains(&1007) {
        assert!(
            Instant::now() < deadline,
            "the bot never read past the updates"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let got = tg.sent_to(chat);
    assert_eq!(got.len(), 4, "{got:?}");
    assert!(got[..3].iter().all(|t| t.starts_with("Format:")), "{got:?}");
    assert!(got[3].contains("Terlalu banyak pesan"), "{got:?}");
    assert_eq!(tg.sent_to(chat + 1).len(), 1);
}

/// Kills the demo it holds when dropped, so a failing assertion leaves none running.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// With a bot token set, `siaga demo` takes text commands: it prints the link code, and
/// the demo reseller's chat checks its balance with the printed PIN.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_uses_the_bot_when_a_token_is_set() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let tg = Tg::start().await;
    let mut demo = Running(
        Command::new(env!("CARGO_BIN_EXE_siaga"))
            .args(["demo", "--port", "0"])
            .env("SIAGA_LOG", "warn")
            .env("SIAGA_BOT_TOKEN", TOKEN)
            .env("SIAGA_BOT_API_BASE", &tg.cfg.api_base)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run siaga demo"),
    );
    let stdout = demo.0.stdout.take().unwrap();
    let lines = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
        let start = lines.find(|l| l.contains("/start "))?;
        Some((start, lines.next()?))
    });
    let (start, example) = tokio::time::timeout(Duration::from_secs(60), lines)
        .await
        .expect("demo printed in time")
        .unwrap()
        .expect("a /start line");
    let code = start
        .split('`')
        .nth(1)
        .unwrap()
        .trim_start_matches("/start ");
    assert!(example.contains("SAL.1234"), "{example}");
    let chat = 5_550_005;
    let hi = tg.ask(chat, 1, &format!("/start {code}")).await;
    assert!(hi.contains("terhubung dengan akun Konter Demo"), "{hi}");
    let sal = tg.ask(chat, 2, "SAL.1234").await;
    assert!(sal.starts_with("Saldo "), "{sal}");
    drop(demo);
}
