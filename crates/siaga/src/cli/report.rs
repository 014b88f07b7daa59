//! `siaga report sla | scorecard | outage` (SPEC 11): the owner's reports, read from the
//! configured database (also while `siaga serve` runs on it) with the config in force.

use std::path::Path;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};

use super::owner::store_of;
use crate::clock::{Clock, SystemClock};
use crate::config;
use crate::report::{self, render, Span};

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Md,
    Csv,
    Json,
}

/// The window of a report: a month in the business time zone, or from and to.
#[derive(Args, Debug, Clone)]
pub struct WindowArgs {
    /// A month in the business time zone ([reports] time_zone), e.g. 2026-11
    #[arg(long, value_parser = parse_month, conflicts_with_all = ["from", "to"])]
    pub month: Option<String>,
    /// Start, RFC 3339 (e.g. 2026-11-01T00:00:00+07:00) or unix seconds
    #[arg(long, requires = "to", value_parser = parse_instant)]
    pub from: Option<String>,
    /// End (exclusive), RFC 3339 or unix seconds
    #[arg(long, requires = "from", value_parser = parse_instant)]
    pub to: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum ReportCmd {
    /// Per supplier: availability, downtime, outages, MTTR, attempts, latency, the
    /// contract credit and the cost of downtime in rupiah
    Sla {
        #[command(flatten)]
        window: WindowArgs,
        #[arg(long, value_enum, default_value_t = Format::Md)]
        format: Format,
    },
    /// Per product: routes ranked by availability, success, speed and cost, the
    /// recommended order and what it would have saved (default window: the last 30 days)
    Scorecard {
        #[command(flatten)]
        window: WindowArgs,
        #[arg(long, value_enum, default_value_t = Format::Md)]
        format: Format,
    },
    /// One outage's evidence pack (timeline, error samples, affected orders), to send to
    /// the supplier when claiming a credit; ID is the outage id the SLA report lists
    Outage {
        id: i64,
        #[arg(long, value_enum, default_value_t = Format::Md)]
        format: Format,
    },
}

fn parse_month(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let ok = b.len() == 7
        && b[4] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || c.is_ascii_digit());
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!("{s:?} is not a month like 2026-11"))
    }
}

fn parse_instant(s: &str) -> Result<String, String> {
    crate::clock::parse_time(s)
        .map(|_| s.to_owned())
        .ok_or_else(|| format!("{s:?} is not an RFC 3339 time like 2026-11-01T00:00:00+07:00"))
}

/// The window asked for; `default_days` back from now when none is given (or an error).
fn window_of(
    w: &WindowArgs,
    settings: &config::Settings,
    now: i64,
    default_days: Option<i64>,
) -> anyhow::Result<Span> {
    if w.month.is_none() && w.from.is_none() {
        if let Some(d) = default_days {
            return Ok(Span::new(now - d * 86_400_000, now));
        }
    }
    report::window(
        w.month.as_deref(),
        w.from.as_deref(),
        w.to.as_deref(),
        &settings.reports.time_zone,
    )
    .map_err(|m| anyhow::anyhow!(m))
}

pub async fn run(cfg: &Path, cmd: ReportCmd) -> anyhow::Result<()> {
    let settings = config::load(cfg)?;
    let store = store_of(&settings)?;
    let now = SystemClock.now_ms();
    let out = match cmd {
        ReportCmd::Sla { window, format } => {
            let w = window_of(&window, &settings, now, None)?;
            let r = report::sla_from_store(store.as_ref(), &settings, w, now).await?;
            match format {
                Format::Md => render::sla_markdown(&r),
                Format::Csv => render::sla_csv(&r).context("cannot write the CSV")?,
                Format::Json => pretty(&render::sla_json(&r)),
            }
        }
        ReportCmd::Scorecard { window, format } => {
            let w = window_of(&window, &settings, now, Some(30))?;
            let c = report::scorecard_from_store(store.as_ref(), &settings, w, now).await?;
            match format {
                Format::Json => pretty(&render::scorecard_json(&c)),
                Format::Md => render::scorecard_markdown(&c),
                Format::Csv => anyhow::bail!("the scorecard is written as md or json"),
            }
        }
        ReportCmd::Outage { id, format } => {
            let (_, plan) = report::terms_of(&settings);
            let e = report::outage::load(store.as_ref(), &plan, id, now)
                .await?
                .ok_or_else(|| {
                    anyhow::anyhow!("no outage {id}: give an id the SLA report lists")
                })?;
            match format {
                Format::Json => pretty(&render::evidence_json(&e)),
                Format::Md => render::evidence_markdown(&e),
                Format::Csv => anyhow::bail!("the evidence pack is written as md or json"),
            }
        }
    };
    print!("{out}");
    if !out.ends_with('\n') {
        println!();
    }
    Ok(())
}

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}
