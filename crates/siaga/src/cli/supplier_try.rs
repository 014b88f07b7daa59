//! `siaga supplier try`: one real top-up (or inquiry) through a supplier's template, shown
//! step by step: the request with its secrets masked, the raw reply, the rule that read
//! it and the outcome. A rehearsal: no database is opened and no order is recorded.

use std::path::Path;
use std::time::Duration;

use siaga_suppliers::{HttpTemplate, TopupRequest, Which};

use crate::config;

#[derive(clap::Args, Debug)]
pub struct TryArgs {
    /// The supplier's id in the config
    pub id: String,
    /// The supplier's product code
    #[arg(long)]
    pub sku: String,
    /// The number to top up, as the supplier wants it written
    #[arg(long)]
    pub destination: String,
    /// Our reference at the supplier (default: a fresh try-<time>)
    #[arg(long = "ref")]
    pub reference: Option<String>,
    /// Send the status inquiry for --ref instead of a top-up
    #[arg(long, requires = "reference")]
    pub inquiry: bool,
}

/// The client the switch uses for suppliers: no redirect is followed.
fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("siaga/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

pub async fn run(path: &Path, a: TryArgs) -> anyhow::Result<()> {
    let settings = config::load(path)?;
    let s = settings
        .supplier(&a.id)
        .ok_or_else(|| anyhow::anyhow!("no supplier {:?} in {}", a.id, path.display()))?;
    let (Some(t), Some(cfg)) = (
        &s.template,
        config::adapter::template_config(s, &settings.public_url),
    ) else {
        anyhow::bail!(
            "supplier {:?} is not an http-template supplier; `supplier try` shows templated requests only",
            a.id
        );
    };
    let secrets: Vec<String> = [
        Some(cfg.key.clone()),
        Some(cfg.password.clone()),
        cfg.callback_secret.clone(),
    ]
    .into_iter()
    .flatten()
    .collect();
    let adapter = HttpTemplate::new(cfg, t.template.clone(), client()?);
    let reference = a
        .reference
        .unwrap_or_else(|| format!("try-{}", jiff::Timestamp::now().as_millisecond()));
    let req = TopupRequest {
        supplier_ref: &reference,
        sku: &a.sku,
        destination: &a.destination,
    };
    let which = if a.inquiry {
        Which::Inquiry
    } else {
        Which::Topup
    };
    println!(
        "supplier {}: {} ref {reference} sku {} destination {} (a rehearsal: nothing is recorded)",
        s.id,
        if a.inquiry { "inquiry" } else { "top-up" },
        a.sku,
        a.destination
    );
    let trace = adapter.trace(which, &req).await;
    let shown: Vec<&str> = secrets.iter().map(String::as_str).collect();
    println!("{}", trace.show(&shown));
    if !trace.answered() {
        anyhow::bail!(
            "no reply from {}: {}",
            s.id,
            trace
                .reply
                .message
                .as_deref()
                .unwrap_or("the request could not be sent")
        );
    }
    Ok(())
}
