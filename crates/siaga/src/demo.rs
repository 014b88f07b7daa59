//! `siaga demo`: the whole switch with no setup — a temporary database, three simulated
//! suppliers, a reseller with balance, steady synthetic orders and a repeating outage
//! script — until Ctrl-C.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rand::{Rng, SeedableRng};
use serde_json::json;
use siaga_domain::{Operator, ProductCode, Rupiah};
use siaga_store::Store;
use siaga_suppliers::sim::{ModeRequest, Sim, SimConfig, SimDialect, SimMode, SimProduct};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::app::App;
use crate::clock::{Clock, SystemClock};
use crate::config::{
    CallbacksCfg, DestinationRule, HealthCfg, OrdersCfg, Product, Route, Settings, StatusCfg,
    Supplier,
};
use crate::{keys, ops, server};
use siaga_domain::routing::Strategy;

const SUPPLIERS: [&str; 3] = ["alpha", "beta", "gamma"];

struct DemoProduct {
    code: &'static str,
    name: &'static str,
    op: Operator,
    group: &'static str,
    price: i64,
    cost: i64,
}

const PRODUCTS: &[DemoProduct] = &[
    DemoProduct {
        code: "TSEL10",
        name: "Telkomsel 10.000",
        op: Operator::Telkomsel,
        group: "Telkomsel Pulsa",
        price: 10_500,
        cost: 10_150,
    },
    DemoProduct {
        code: "TSEL25",
        name: "Telkomsel 25.000",
        op: Operator::Telkomsel,
        group: "Telkomsel Pulsa",
        price: 25_300,
        cost: 24_900,
    },
    DemoProduct {
        code: "XL10",
        name: "XL 10.000",
        op: Operator::Xl,
        group: "XL Pulsa",
        price: 10_600,
        cost: 10_250,
    },
    DemoProduct {
        code: "ISAT10",
        name: "Indosat 10.000",
        op: Operator::Indosat,
        group: "Indosat Pulsa",
        price: 10_700,
        cost: 10_300,
    },
    DemoProduct {
        code: "TRI10",
        name: "Tri 10.000",
        op: Operator::Tri,
        group: "Tri Pulsa",
        price: 10_400,
        cost: 10_050,
    },
];

fn prefix(op: Operator) -> &'static str {
    match op {
        Operator::Telkomsel => "0812",
        Operator::Indosat => "0857",
        Operator::Xl => "0878",
        Operator::Axis => "0838",
        Operator::Tri => "0896",
        Operator::Smartfren => "0881",
    }
}

fn sku(code: &str, supplier: &str) -> String {
    format!("{}-{}", code.to_ascii_lowercase(), &supplier[..1])
}

fn sim_catalog(supplier_index: usize) -> Vec<SimProduct> {
    PRODUCTS
        .iter()
        .map(|p| SimProduct {
            sku: sku(p.code, SUPPLIERS[supplier_index]),
            name: p.name.to_owned(),
            brand: p.op.name().to_ascii_uppercase(),
            category: "Pulsa".to_owned(),
            price: p.cost + 50 * supplier_index as i64,
            buyer_product_status: true,
            seller_product_status: true,
            start_cut_off: "00:00".to_owned(),
            end_cut_off: "00:00".to_owned(),
            multi: true,
        })
        .collect()
}

pub async fn run(port: u16) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("cannot create a temporary folder")?;
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| {
            format!("cannot listen on 127.0.0.1:{port} (try --port 0 for any free port)")
        })?;
    let addr = listener.local_addr()?;
    let base = format!("http://{addr}");
    let (sims, suppliers) = start_sims(&base).await?;
    let admin_token = keys::new_api_key().replacen("sk_", "adm_", 1);
    let mut settings = settings(&base, &admin_token, dir.path(), suppliers, products()?);
    settings.telegram_bot = demo_bot();
    let store: Arc<dyn Store> = siaga_store::open(&settings.store_path)?;
    let clock = SystemClock;
    let creds = ops::add_reseller(
        store.as_ref(),
        "Konter Demo",
        None,
        None,
        siaga_store::CallbackFormat::Standard,
        clock.now_ms(),
    )
    .await?;
    ops::deposit(
        store.as_ref(),
        &creds.id,
        50_000_000,
        "demo opening balance",
        clock.now_ms(),
    )
    .await?;
    let bot_code = if settings.telegram_bot.is_some() {
        Some(link_demo_chat(store.as_ref(), &creds.id, clock.now_ms()).await?)
    } else {
        None
    };
    let app = App::new(settings, store.clone(), Arc::new(SystemClock))?;
    let (tx, rx) = watch::channel(false);
    let server = tokio::spawn(server::run(app, listener, rx.clone()));
    banner(&base, &creds, &admin_token, &sims);
    if let Some(code) = bot_code {
        println!("Telegram bot (SPEC 5.2): send `/start {code}` to your bot, then");
        println!("  TSEL10.081234567890.{DEMO_PIN}   SAL.{DEMO_PIN}   HARGA   HELP\n");
    }
    let traffic = tokio::spawn(traffic(
        base.clone(),
        creds.api_key.clone(),
        store.clone(),
        creds.id.clone(),
    ));
    let script = tokio::spawn(outages(sims));
    server::stop_signal().await;
    let _ = tx.send(true);
    traffic.abort();
    script.abort();
    let _ = server.await;
    Ok(())
}

/// The demo reseller's transaction PIN for the bot.
const DEMO_PIN: &str = "1234";

/// With `SIAGA_BOT_TOKEN` set, the demo takes text commands through that bot (and
/// `SIAGA_BOT_API_BASE`, if set, instead of api.telegram.org).
fn demo_bot() -> Option<crate::config::channels::TelegramBot> {
    let token = std::env::var("SIAGA_BOT_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty())?;
    let api_base = std::env::var("SIAGA_BOT_API_BASE")
        .ok()
        .filter(|b| b.starts_with("http://") || b.starts_with("https://"))
        .unwrap_or_else(|| "https://api.telegram.org".into());
    Some(crate::config::channels::TelegramBot {
        token: token.trim().to_owned(),
        api_base: api_base.trim_end_matches('/').to_owned(),
        poll_timeout: Duration::from_secs(30),
        per_minute: 20,
    })
}

/// A link code for the demo reseller's chat, and its PIN set to [`DEMO_PIN`].
async fn link_demo_chat(store: &dyn Store, reseller: &str, now: i64) -> anyhow::Result<String> {
    use crate::chat::pin;
    let code = pin::new_code();
    store
        .add_link_code(
            reseller,
            &pin::code_hash(&code),
            now + pin::CODE_TTL_MS,
            now,
        )
        .await?;
    let hash = tokio::task::spawn_blocking(|| pin::hash(DEMO_PIN)).await??;
    store.set_pin_hash(reseller, &hash, now).await?;
    Ok(code)
}

/// The three simulated suppliers, calling back to the switch at `base`, and their config.
async fn start_sims(base: &str) -> anyhow::Result<(Vec<Sim>, Vec<Supplier>)> {
    let mut sims = Vec::new();
    let mut suppliers = Vec::new();
    for (i, name) in SUPPLIERS.iter().enumerate() {
        // The last one is a small H2H supplier speaking OtomaX's text dialect, through
        // `dialect = "http-template"`, `preset = "otomax"`: its reports carry the secret
        // in the URL (hex: a base64 secret could hold a `/`).
        let otomax = i == SUPPLIERS.len() - 1;
        let secret = if otomax {
            hex::encode(keys::new_webhook_secret().as_bytes())
        } else {
            keys::new_webhook_secret()
        };
        let cfg = SimConfig {
            username: (*name).to_owned(),
            key: format!("{name}-key"),
            callback_url: Some(if otomax {
                format!("{base}/hooks/suppliers/{name}/{secret}")
            } else {
                format!("{base}/hooks/suppliers/{name}")
            }),
            dialect: if otomax {
                SimDialect::Otomax
            } else {
                SimDialect::Digiflazz
            },
            callback_secret: Some(secret.clone()),
            seed: i as u64 + 1,
            latency_ms: 1_500,
            products: sim_catalog(i),
            ..SimConfig::default()
        };
        let sim = Sim::start(cfg, "127.0.0.1:0".parse()?, "127.0.0.1:0".parse()?).await?;
        let template = if otomax {
            let t = siaga_suppliers::Template::load(Some("otomax"), None)
                .map_err(|e| anyhow::anyhow!("the otomax preset: {e}"))?;
            Some(crate::config::Templated {
                template: std::sync::Arc::new(t),
                password: String::new(),
            })
        } else {
            None
        };
        let base_url = if otomax {
            sim.base_url().trim_end_matches("/v1").to_owned()
        } else {
            sim.base_url()
        };
        suppliers.push(Supplier {
            retired: false,
            id: (*name).to_owned(),
            base_url,
            username: (*name).to_owned(),
            key: format!("{name}-key"),
            callback_secret: Some(secret),
            timeout: Duration::from_secs(5),
            inquiry_min_interval: Duration::from_secs(5),
            inquiry_max_interval: Duration::from_secs(60),
            max_concurrency: 64,
            latency_target_ms: 1_000,
            testing: false,
            contact_email: None,
            report_after: std::time::Duration::from_secs(600),
            low_balance_rupiah: Some(1_000_000),
            windows: Vec::new(),
            dialect: if template.is_some() {
                crate::config::Dialect::HttpTemplate
            } else {
                crate::config::Dialect::Digiflazz
            },
            contract: None,
            template,
            desk_alert_after: Duration::from_secs(600),
            callback_allow_ips: Vec::new(),
        });
        sims.push(sim);
    }
    Ok((sims, suppliers))
}

/// The demo's products, each routed through every supplier (alpha first, cheapest).
fn products() -> anyhow::Result<Vec<Product>> {
    let mut products = Vec::new();
    for p in PRODUCTS {
        products.push(Product {
            code: ProductCode::parse(p.code)?,
            name: p.name.to_owned(),
            group: p.group.to_owned(),
            price: Rupiah::positive(p.price)?,
            rule: DestinationRule::Mobile(p.op),
            routes: SUPPLIERS
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    Ok(Route {
                        supplier: (*s).to_owned(),
                        sku: sku(p.code, s),
                        cost: Rupiah::positive(p.cost + 50 * i as i64)?,
                        priority: i as i64 + 1,
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?,
        });
    }
    Ok(products)
}

/// The demo switch's settings: listens at `base`, its database in `dir`.
fn settings(
    base: &str,
    admin_token: &str,
    dir: &std::path::Path,
    suppliers: Vec<Supplier>,
    products: Vec<Product>,
) -> Settings {
    Settings {
        file: None,
        listen: base.trim_start_matches("http://").to_owned(),
        public_url: base.to_owned(),
        admin_token: Some(admin_token.to_owned()),
        store_path: dir.join("siaga.db"),
        body_limit_bytes: 64 * 1024,
        orders: OrdersCfg {
            default_max_wait_s: 300,
            manual_review_after_s: 3_600,
        },
        callbacks: CallbacksCfg {
            retry_base_ms: 1_000,
            ..CallbacksCfg::default()
        },
        suppliers,
        products,
        health: HealthCfg {
            probe_interval_s: 10,
            breaker_open_base_ms: 2_000,
            breaker_open_max_ms: 20_000,
            ..HealthCfg::default()
        },
        status: StatusCfg {
            incident_after_s: 20,
            resolve_after_s: 30,
            page_name: "Status Konter Demo".into(),
            logo_url: None,
        },
        strategy: Strategy::Adaptive,
        explore_share: 0.05,
        notify: Default::default(),
        limits: crate::config::LimitsCfg::default(),
        backup: None,
        metrics: Default::default(),
        reports: Default::default(),
        telegram_bot: None,
        cluster: crate::config::server::ClusterSettings::single("demo"),
    }
}

/// What is running and how to try it.
fn banner(base: &str, creds: &ops::Credentials, admin_token: &str, sims: &[Sim]) {
    let api_key = &creds.api_key;
    println!("siaga demo is running (Ctrl-C to stop)\n");
    println!(
        "  status page    {base}/   (English: {base}/?lang=en, JSON: {base}/api/v2/summary.json)"
    );
    println!("  reseller API   {base}/v1   (OpenAPI: {base}/openapi.json)");
    println!("  reseller key   {}", api_key);
    println!("  dashboard      {base}/admin   (sign in with the admin token below)");
    println!("  admin API      {base}/admin/api");
    println!("  admin token    {admin_token}");
    for (i, (name, sim)) in SUPPLIERS.iter().zip(sims).enumerate() {
        let (url, dialect) = if i == SUPPLIERS.len() - 1 {
            (
                sim.base_url().trim_end_matches("/v1").to_owned(),
                "OtomaX text",
            )
        } else {
            (sim.base_url(), "Digiflazz JSON")
        };
        println!(
            "  supplier {name:<6} {url}   ({dialect})   control http://{}/_sim/stats",
            sim.control_addr()
        );
    }
    println!("\nTry:");
    println!(
        "  curl -s -H 'Authorization: Bearer {}' {base}/v1/orders?limit=5",
        api_key
    );
    println!(
        "  curl -s -H 'Authorization: Bearer {}' {base}/v1/balance",
        api_key
    );
    println!(
        "  curl -s -H 'Authorization: Bearer {}' -d '{{\"ref_id\":\"try-1\",\"product\":\"TSEL10\",\"destination\":\"081234567890\"}}' {base}/v1/orders\n",
        api_key
    );
    println!("The same order the way a Digiflazz client sends it (SPEC 5.1):");
    println!(
        "  {}\n",
        dropin_curl(base, &creds.id, &creds.digiflazz_key, "dropin-1")
    );
    println!("Every 2 minutes the outage script takes alpha down, puts beta in maintenance and makes gamma slow;");
    println!("orders keep flowing to whichever supplier can serve them.\n");
}

/// A `curl` line that orders TSEL10 through the Digiflazz drop-in as reseller `id` with
/// its drop-in `key`: the body a Digiflazz buyer client sends, signed as Digiflazz signs
/// (`md5(username + key + ref_id)`).
pub fn dropin_curl(base: &str, id: &str, key: &str, ref_id: &str) -> String {
    let sign = siaga_suppliers::sign::md5_hex(&[id, key, ref_id]);
    let body = json!({
        "username": id, "buyer_sku_code": "TSEL10", "customer_no": "081234567890",
        "ref_id": ref_id, "sign": sign,
    });
    format!("curl -s -d '{body}' {base}/digiflazz/v1/transaction")
}

/// Steady synthetic orders through the real API, with a summary every 10 seconds.
async fn traffic(base: String, key: String, store: Arc<dyn Store>, reseller: String) {
    let client = reqwest::Client::new();
    let mut rng = rand::rngs::StdRng::from_entropy();
    let mut n: u64 = 0;
    let mut placed: u64 = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(400));
    loop {
        tick.tick().await;
        n += 1;
        let p = &PRODUCTS[rng.gen_range(0..PRODUCTS.len())];
        let dest = format!("{}{:08}", prefix(p.op), rng.gen_range(0..100_000_000u32));
        let body = json!({"ref_id": format!("demo-{n}"), "product": p.code, "destination": dest});
        let sent = client
            .post(format!("{base}/v1/orders"))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await;
        if matches!(sent, Ok(ref r) if r.status().is_success()) {
            placed += 1;
        }
        if n.is_multiple_of(25) {
            if let Ok(b) = store.balance(&reseller).await {
                println!(
                    "[demo] orders placed {placed}; reseller balance available Rp{} held Rp{}",
                    b.available, b.held
                );
            }
        }
    }
}

/// The repeating outage script: one supplier down, one in maintenance, one slow.
async fn outages(sims: Vec<Sim>) {
    let set = |mode| ModeRequest {
        mode,
        latency_ms: None,
        fail_rate: None,
        callback_delay_ms: None,
    };
    loop {
        tokio::time::sleep(Duration::from_secs(30)).await;
        println!("[demo] alpha goes down: orders fail over to beta");
        let _ = sims[0].set_mode(set(SimMode::Down)).await;
        tokio::time::sleep(Duration::from_secs(30)).await;
        println!("[demo] alpha is back; beta starts maintenance");
        let _ = sims[0].set_mode(set(SimMode::Ok)).await;
        let _ = sims[1].set_mode(set(SimMode::Maintenance)).await;
        tokio::time::sleep(Duration::from_secs(30)).await;
        println!("[demo] beta is back; gamma turns slow");
        let _ = sims[1].set_mode(set(SimMode::Ok)).await;
        let _ = sims[2].set_mode(set(SimMode::Slow)).await;
        tokio::time::sleep(Duration::from_secs(30)).await;
        println!("[demo] all suppliers normal");
        let _ = sims[2].set_mode(set(SimMode::Ok)).await;
    }
}
