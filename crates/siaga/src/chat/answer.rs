//! What the bot answers to one message (SPEC 5.2): linking by one-time code, the PIN gate
//! (wrong PINs counted, the fifth locks the chat for 15 minutes and alerts the owner),
//! orders through the `/v1` intake with the same-day counter rule, `SAL`, `CEK`, `HARGA`
//! and the help text. An unlinked chat gets the help text and nothing else; no store or
//! intake error reaches a chat as a trace.

use serde_json::json;
use siaga_store::{ChatLink, Intake, NewOrder, OrderQuery, StoreError, WrongPin};

use super::bot::Bot;
use super::command::{self, Command, Repeat};
use super::decide::{self, LOCK_MS, MAX_WRONG_PINS};
use super::pin;
use super::reply::{self, HELP};
use super::telegram::Incoming;
use crate::engine;
use crate::keys;
use crate::notify::{alert_owner, render};

/// The reply to a message, and the order to follow until final, if one was placed.
pub struct Answer {
    pub text: String,
    pub follow: Option<String>,
}

fn say(text: impl Into<String>) -> Answer {
    Answer {
        text: text.into(),
        follow: None,
    }
}

const TRY_LATER: &str = "Maaf, server sedang sibuk; coba lagi sebentar lagi.";

/// Answers one message.
pub async fn answer(bot: &Bot, m: &Incoming) -> Answer {
    match try_answer(bot, m).await {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(chat_id = m.chat_id, error = %e, "telegram: a command failed");
            say(TRY_LATER)
        }
    }
}

async fn try_answer(bot: &Bot, m: &Incoming) -> Result<Answer, StoreError> {
    let store = &bot.engine.store;
    let cmd = match command::parse(&m.text) {
        Ok(c) => c,
        Err(_) => return Ok(say(HELP)),
    };
    let cmd = match cmd {
        Command::Help => return Ok(say(HELP)),
        Command::Link { code } => return link(bot, m.chat_id, &code).await,
        other => other,
    };
    let Some(chat) = store.chat_link(m.chat_id).await? else {
        return Ok(say(HELP));
    };
    match cmd {
        Command::Prices { group } => Ok(say(prices(bot, group.as_deref()))),
        Command::Order {
            product,
            destination,
            counter,
            pin,
        } => {
            // A redelivered message: its order as it stands, before anything else.
            let ref_id = decide::ref_id(m.chat_id, m.message_id);
            if let Some(o) = store.order_by_ref(&chat.reseller_id, &ref_id).await? {
                let b = store.balance(&chat.reseller_id).await?;
                return Ok(say(reply::order(&o, b.available, bot.now())));
            }
            if let Some(refusal) = gate(bot, &chat, &pin).await? {
                return Ok(refusal);
            }
            order(bot, &chat, ref_id, &product, &destination, counter).await
        }
        Command::Balance { pin } => {
            if let Some(refusal) = gate(bot, &chat, &pin).await? {
                return Ok(refusal);
            }
            let b = store.balance(&chat.reseller_id).await?;
            Ok(say(decide::balance(b.available, b.held, bot.now())))
        }
        Command::Status { what, pin } => {
            if let Some(refusal) = gate(bot, &chat, &pin).await? {
                return Ok(refusal);
            }
            status(bot, &chat, &what).await
        }
        Command::Help | Command::Link { .. } => Ok(say(HELP)),
    }
}

async fn link(bot: &Bot, chat_id: i64, code: &str) -> Result<Answer, StoreError> {
    let store = &bot.engine.store;
    let Some(l) = store
        .use_link_code(&pin::code_hash(code), chat_id, bot.now())
        .await?
    else {
        return Ok(say(
            "Kode tidak dikenal, sudah dipakai, atau kedaluwarsa. Minta kode baru ke pemilik server.",
        ));
    };
    let name = store
        .reseller(&l.reseller_id)
        .await?
        .map(|r| r.name)
        .unwrap_or_default();
    let pin_set = store.pin_hash(&l.reseller_id).await?.is_some();
    let mut text = format!("Chat ini terhubung dengan akun {name}.");
    if !pin_set {
        text.push_str(" PIN transaksi belum diatur: minta pemilik server mengaturnya.");
    }
    text.push(' ');
    text.push_str(HELP);
    Ok(say(text))
}

/// The PIN gate: `None` lets the command through; otherwise the refusal (locked, no PIN
/// set, wrong PIN; the wrong PIN that locks the chat also alerts the owner).
async fn gate(bot: &Bot, chat: &ChatLink, given: &str) -> Result<Option<Answer>, StoreError> {
    let store = &bot.engine.store;
    let now = bot.now();
    if let Some(until) = decide::locked(chat.locked_until, now) {
        return Ok(Some(say(decide::locked_reply(until))));
    }
    let Some(hash) = store.pin_hash(&chat.reseller_id).await? else {
        return Ok(Some(say(
            "PIN transaksi belum diatur: minta pemilik server menjalankan `siaga reseller set-pin`.",
        )));
    };
    let given = given.to_owned();
    let right = tokio::task::spawn_blocking(move || pin::verify(&hash, &given))
        .await
        .unwrap_or(false);
    if right {
        if chat.wrong_pins > 0 {
            store.right_pin(chat.chat_id).await?;
        }
        return Ok(None);
    }
    match store
        .wrong_pin(chat.chat_id, MAX_WRONG_PINS, now + LOCK_MS)
        .await?
    {
        WrongPin::Counted(n) => Ok(Some(say(decide::wrong_pin(n)))),
        WrongPin::Locked(until) => {
            lock_alert(bot, chat, until).await;
            Ok(Some(say(decide::locked_reply(until))))
        }
        WrongPin::NotLinked => Ok(Some(say(HELP))),
    }
}

async fn lock_alert(bot: &Bot, chat: &ChatLink, until: i64) {
    let body = render::alert(
        "chat_lock",
        format!(
            "Chat Telegram {} dikunci (PIN salah {MAX_WRONG_PINS}x) / a Telegram chat was locked",
            chat.chat_id
        ),
        format!(
            "Chat Telegram {} milik reseller {} salah PIN {MAX_WRONG_PINS} kali dan dikunci sampai {} WIB. Bila bukan reseller itu, ganti PIN-nya: siaga reseller set-pin {}.",
            chat.chat_id, chat.reseller_id, reply::stamp(until), chat.reseller_id
        ),
        format!(
            "Telegram chat {} of reseller {} gave a wrong PIN {MAX_WRONG_PINS} times and is locked until {} WIB. If it was not that reseller, change its PIN: siaga reseller set-pin {}.",
            chat.chat_id, chat.reseller_id, reply::stamp(until), chat.reseller_id
        ),
        json!({"chat_id": chat.chat_id, "reseller_id": chat.reseller_id, "locked_until": until}),
    );
    let topic = format!("alert:chat_lock:{}:{until}", chat.chat_id);
    if let Err(e) = alert_owner(&bot.notifier, &topic, body, Vec::new()).await {
        tracing::error!(error = %e, "telegram: cannot alert the owner about a locked chat");
    }
}

async fn order(
    bot: &Bot,
    chat: &ChatLink,
    ref_id: String,
    product: &str,
    destination: &str,
    counter: Option<u32>,
) -> Result<Answer, StoreError> {
    let store = &bot.engine.store;
    let settings = bot.engine.settings.get();
    let Some(p) = settings.product(product) else {
        return Ok(say(format!(
            "Produk {product} tidak dikenal. Kirim HARGA untuk daftar produk."
        )));
    };
    let dest = match decide::destination(p, destination) {
        Ok(d) => d,
        Err(why) => return Ok(say(why)),
    };
    let now = bot.now();
    let earlier = store
        .same_orders_since(&chat.reseller_id, product, &dest, decide::day_start(now))
        .await?;
    match command::repeat(earlier, counter) {
        Repeat::Place(_) => {}
        Repeat::AskCounter(next) | Repeat::Used { next, .. } => {
            return Ok(say(decide::ask_counter(product, &dest, next)))
        }
    }
    let new = NewOrder {
        order_id: keys::new_id("ord"),
        reseller_id: chat.reseller_id.clone(),
        ref_id,
        product: p.code.as_str().to_owned(),
        destination: dest,
        price: p.price.get(),
        max_wait_s: settings.orders.default_max_wait_s as i64,
        now,
    };
    // In a task of its own, as `/v1` does: nothing cuts between the commit and the
    // hand-off to the dispatcher.
    let intake = tokio::spawn(engine::take(bot.engine.clone(), new))
        .await
        .map_err(|e| StoreError::Unavailable(format!("order intake task: {e}")))??;
    let o = match intake {
        Intake::Created(o) | Intake::Replay(o) | Intake::Conflict(o) => o,
        Intake::InsufficientBalance => {
            let b = store.balance(&chat.reseller_id).await?;
            return Ok(say(format!(
                "TRX {product}.{} GAGAL: saldo tidak cukup. Harga {}. Saldo {}",
                reply::masked(destination),
                reply::rupiah(p.price.get()),
                reply::rupiah(b.available)
            )));
        }
        Intake::UnknownReseller => return Ok(say(HELP)),
    };
    let b = store.balance(&chat.reseller_id).await?;
    Ok(Answer {
        text: reply::order(&o, b.available, bot.now()),
        follow: (!o.status.is_final()).then(|| o.id.clone()),
    })
}

/// `CEK.REF_ID.PIN` or `CEK.DEST.PIN`: the order by that ref, else the newest to that
/// number in the last week.
async fn status(bot: &Bot, chat: &ChatLink, what: &str) -> Result<Answer, StoreError> {
    let store = &bot.engine.store;
    let now = bot.now();
    let mut found = store.order_by_ref(&chat.reseller_id, what).await?;
    if found.is_none() {
        let recent = store
            .list_orders(OrderQuery {
                reseller_id: chat.reseller_id.clone(),
                status: None,
                since: Some(now - 7 * 86_400_000),
                before_id: None,
                limit: 500,
            })
            .await?;
        found = recent
            .into_iter()
            .filter(|o| o.destination == what)
            .max_by(|a, b| a.id.cmp(&b.id));
    }
    let Some(o) = found else {
        return Ok(say(format!(
            "Transaksi {} tidak ditemukan.",
            reply::masked(what)
        )));
    };
    let b = store.balance(&chat.reseller_id).await?;
    Ok(say(reply::order(&o, b.available, now)))
}

/// `HARGA [GROUP]`: price and whether some route can take an order now.
fn prices(bot: &Bot, group: Option<&str>) -> String {
    let settings = bot.engine.settings.get();
    let wanted = group.map(str::to_lowercase);
    let mut lines: Vec<String> = settings
        .products
        .iter()
        .filter(|p| {
            wanted
                .as_deref()
                .is_none_or(|g| p.group.to_lowercase().contains(g))
        })
        .map(|p| {
            let up = !bot.engine.routes(Some(p), &[], 0).usable.is_empty();
            decide::price_line(p.code.as_str(), &p.name, p.price.get(), up)
        })
        .collect();
    if lines.is_empty() {
        return "Tidak ada produk di grup itu. Kirim HARGA untuk semua produk.".into();
    }
    let mut text = String::from("HARGA:");
    let total = lines.len();
    lines.truncate(60);
    for l in &lines {
        text.push('\n');
        text.push_str(l);
    }
    if total > lines.len() {
        text.push_str(&format!(
            "\n... {} produk lagi: HARGA GRUP",
            total - lines.len()
        ));
    }
    text
}
