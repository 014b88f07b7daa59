//! The command line (SPEC 4): argument parsing and one function per command.
//! Exit codes: 0 ok, 1 failure with a one-line reason on stderr, 2 usage error.

mod backup;
mod chat;
mod config_check;
mod desk;
mod operator;
mod owner;
mod pause;
mod reload;
mod report;
mod serve;
mod store;
mod supplier_try;

pub use crate::server::stop_signal;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "siaga",
    version,
    about = "A top-up switch that keeps selling when suppliers fail"
)]
pub struct Cli {
    /// Config file (default siaga.toml)
    #[arg(long, global = true, env = "SIAGA_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log format
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Write a commented starter config (refuses to overwrite)
    Init {
        #[arg(long, default_value = "siaga.toml")]
        path: PathBuf,
    },
    /// Run the switch: reseller API, supplier callbacks, admin API, workers
    Serve,
    /// Everything at once with no setup: simulated suppliers, a reseller, steady traffic
    Demo {
        #[arg(long, default_value_t = 8080)]
        port: u16,
    },
    /// A standalone simulated supplier speaking the Digiflazz dialect
    Sim(serve::SimArgs),
    /// Manage resellers
    Reseller {
        #[command(subcommand)]
        cmd: ResellerCmd,
    },
    /// Inspect orders
    Order {
        #[command(subcommand)]
        cmd: OrderCmd,
    },
    /// The manual desk: orders an operator fulfils by hand (SPEC 6.1.2)
    Desk {
        #[command(subcommand)]
        cmd: desk::DeskCmd,
    },
    /// Dashboard accounts (SPEC 13): owners and operators who sign in with a password
    Operator {
        #[command(subcommand)]
        cmd: operator::OperatorCmd,
    },
    /// Manual incident communication on the status page
    Incident {
        #[command(subcommand)]
        cmd: IncidentCmd,
    },
    /// Compensation vouchers (SPEC 10)
    Voucher {
        #[command(subcommand)]
        cmd: VoucherCmd,
    },
    /// Announce supplier maintenance windows
    Maintenance {
        #[command(subcommand)]
        cmd: MaintenanceCmd,
    },
    /// A checked online copy of the database, taken while siaga serves (SPEC 12)
    Backup {
        /// The file to write (never overwritten)
        #[arg(long)]
        out: PathBuf,
    },
    /// Put a backup back (checked first); an existing database needs --force
    Restore {
        file: PathBuf,
        /// Replace the existing database (it is kept beside it first)
        #[arg(long)]
        force: bool,
    },
    /// The performance benchmark (SPEC 16)
    Bench {
        /// Print one JSON object
        #[arg(long)]
        json: bool,
        /// Total run time, e.g. 20s
        #[arg(long, default_value = "20s", value_parser = parse_duration)]
        duration: std::time::Duration,
        /// Run on PostgreSQL (postgres://..., in a fresh schema dropped afterwards)
        /// instead of a temporary SQLite file
        #[arg(long)]
        store: Option<String>,
        /// How long the backlog phase's burst sends, e.g. 20s (default: a quarter of
        /// --duration)
        #[arg(long, value_parser = parse_duration)]
        burst: Option<std::time::Duration>,
    },
    /// Check every ledger and order invariant; exits 1 with a report if any is broken
    Verify,
    /// The store itself: `siaga store copy --from URL --to URL` (SPEC 12)
    Store {
        #[command(subcommand)]
        cmd: store::StoreCmd,
    },
    /// Owner reports (SPEC 11): SLA per supplier, supplier scorecard, outage evidence
    Report {
        #[command(subcommand)]
        cmd: report::ReportCmd,
    },
    /// Make a running `siaga serve` re-read its config (suppliers, products, routes);
    /// an invalid file is refused and the running config stays
    Reload,
    /// The config file
    Config {
        #[command(subcommand)]
        cmd: ConfigCmd,
    },
    /// Suppliers
    Supplier {
        #[command(subcommand)]
        cmd: SupplierCmd,
    },
}

#[derive(Subcommand, Debug)]
pub enum ConfigCmd {
    /// Load and validate the config exactly as `serve` would and print what it found per
    /// supplier; exit 1 naming the file, line and key of the first error. Opens no
    /// database and needs no running server.
    Check,
}

#[derive(Subcommand, Debug)]
pub enum SupplierCmd {
    /// Send ONE real top-up (or, with --inquiry, its status inquiry) through an
    /// http-template supplier and print each step: the request with its secrets masked,
    /// the raw reply, the rule that matched and the outcome. A rehearsal: no database is
    /// opened and no order is recorded, but the supplier really tops the number up (and
    /// charges for it). Exit 0 when a reply was read, whatever it said.
    Try(supplier_try::TryArgs),
    /// Take a supplier out of routing until it is resumed: no new attempt goes to it
    /// (orders go to the next route), attempts already there are still settled there.
    /// Every running node takes it within 2 s; an audit line says who and why.
    Pause {
        id: String,
        /// Why, for the audit log and the dashboard
        #[arg(long)]
        reason: Option<String>,
        /// Who pauses it (default: $USER, else "cli")
        #[arg(long)]
        operator: Option<String>,
    },
    /// Put a paused supplier back into routing
    Resume {
        id: String,
        /// Who resumes it (default: $USER, else "cli")
        #[arg(long)]
        operator: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ResellerCmd {
    /// Create a reseller; prints {"id","api_key","webhook_secret","digiflazz_key"} (the
    /// API key is shown once)
    Add {
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        callback_url: Option<String>,
        /// How callbacks are written: standard (Standard Webhooks) or digiflazz
        #[arg(long, value_parser = ["standard", "digiflazz"])]
        callback_format: Option<String>,
    },
    /// Credit a reseller's balance
    Deposit {
        id: String,
        amount: i64,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// New API key, webhook secret and Digiflazz drop-in key; the old ones stop working at once
    RotateKeys {
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<String>,
        #[arg(long)]
        all: bool,
    },
    /// Set the API access rules: where requests may come from, and whether they must be signed
    Access {
        id: String,
        /// An address or range requests may come from (repeatable); none: any address
        #[arg(long = "allow")]
        allow: Vec<String>,
        /// Every request must carry X-Siaga-Timestamp and X-Siaga-Signature
        #[arg(long)]
        require_signature: bool,
    },
    /// List resellers and balances
    List,
    /// Print a one-time code that links a chat to the reseller: the reseller sends
    /// `/start CODE` to the bot (SPEC 5.2)
    Link {
        id: String,
        /// The Telegram bot of `[channels.telegram]` (the only chat channel so far)
        #[arg(long, required = true)]
        telegram: bool,
    },
    /// Set the transaction PIN for chat commands (4-6 digits), read from standard input
    SetPin { id: String },
}

#[derive(Subcommand, Debug)]
pub enum VoucherCmd {
    /// One voucher per reseller the incident affected, emailed to them; again for the same
    /// incident issues nothing new
    Issue {
        #[arg(long)]
        incident: i64,
        /// Rupiah per voucher
        #[arg(long)]
        amount: i64,
        #[arg(long, default_value_t = 30)]
        expires_in_days: u32,
        /// An order that took longer than this counts as affected (failed ones always do)
        #[arg(long, default_value_t = 60)]
        affected_after_s: u64,
    },
}

#[derive(Subcommand, Debug)]
pub enum IncidentCmd {
    /// Open an incident (Indonesian text; add --title-en/--body-en for English)
    Open {
        #[arg(long)]
        title: String,
        #[arg(long)]
        body: String,
        #[arg(long)]
        title_en: Option<String>,
        #[arg(long)]
        body_en: Option<String>,
        /// A status-page component (repeatable), e.g. "Telkomsel Pulsa" or "API"
        #[arg(long = "component")]
        components: Vec<String>,
        /// none | minor | major | critical
        #[arg(long)]
        impact: Option<String>,
        /// investigating | identified | monitoring
        #[arg(long)]
        status: Option<String>,
        /// A security incident ("your data may be at risk")
        #[arg(long)]
        security: bool,
    },
    /// Post an update
    Update {
        id: i64,
        /// investigating | identified | monitoring | resolved
        #[arg(long)]
        status: String,
        #[arg(long)]
        body: String,
        #[arg(long)]
        body_en: Option<String>,
    },
    /// Resolve an incident
    Resolve {
        id: i64,
        #[arg(
            long,
            default_value = "Gangguan telah selesai. Layanan berjalan normal."
        )]
        body: String,
        #[arg(
            long,
            default_value = "This incident is resolved. Service is operating normally."
        )]
        body_en: String,
    },
    /// Add the postmortem to a resolved incident
    Postmortem {
        id: i64,
        #[arg(long)]
        body: String,
        #[arg(long)]
        body_en: Option<String>,
    },
    /// List recent incidents
    List,
}

#[derive(Subcommand, Debug)]
pub enum MaintenanceCmd {
    /// Announce a window: routes to the supplier are skipped from the lead time before it
    Add {
        #[arg(long)]
        supplier: String,
        /// Start, RFC 3339 (e.g. 2026-11-23T01:00:00+07:00)
        #[arg(long)]
        from: String,
        /// End, RFC 3339
        #[arg(long)]
        to: String,
        #[arg(long)]
        note: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum OrderCmd {
    /// Show an order (by order id or ref_id) with its attempts
    Show { id_or_ref: String },
    /// Settle an order held for manual review or on the desk
    Resolve {
        order_id: String,
        /// The top-up happened: give its serial number with --sn
        #[arg(long, conflicts_with = "failed", requires = "sn")]
        success: bool,
        #[arg(long)]
        sn: Option<String>,
        /// The top-up did not happen: refund the reseller
        #[arg(long, required_unless_present = "success")]
        failed: bool,
        /// Who resolves it (default: $USER, else "cli"); a desk order taken by another
        /// operator is theirs to resolve
        #[arg(long)]
        operator: Option<String>,
    },
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SIAGA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    // The blocking pool runs only the store's reads (8 pooled SQLite connections). Tokio's
    // default of 512 threads lets a burst of reads grow hundreds of threads, each opening a
    // connection of its own and keeping its stack and malloc arena: RSS creeps up under
    // load. A bound keeps it flat; reads beyond it wait their turn.
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(16)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("siaga: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let msg = format!("{e:#}").replace('\n', " ");
            eprintln!("siaga: {msg}");
            ExitCode::from(1)
        }
    }
}

fn config_path(cli: &Cli) -> PathBuf {
    cli.config
        .clone()
        .unwrap_or_else(|| PathBuf::from("siaga.toml"))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let cfg = config_path(&cli);
    match cli.cmd {
        Cmd::Init { path } => owner::init(&path),
        Cmd::Serve => serve::serve(&cfg).await,
        Cmd::Demo { port } => crate::demo::run(port).await,
        Cmd::Sim(args) => serve::sim(args).await,
        Cmd::Reseller { cmd } => owner::reseller(&cfg, cmd).await,
        Cmd::Order { cmd } => owner::order(&cfg, cmd).await,
        Cmd::Desk { cmd } => desk::desk(&cfg, cmd).await,
        Cmd::Operator { cmd } => operator::run(&cfg, cmd).await,
        Cmd::Verify => owner::verify(&cfg).await,
        Cmd::Store { cmd } => store::run(cmd).await,
        Cmd::Reload => reload::reload(&cfg).await,
        Cmd::Report { cmd } => report::run(&cfg, cmd).await,
        Cmd::Voucher {
            cmd:
                VoucherCmd::Issue {
                    incident,
                    amount,
                    expires_in_days,
                    affected_after_s,
                },
        } => owner::voucher_issue(&cfg, incident, amount, expires_in_days, affected_after_s).await,
        Cmd::Backup { out } => backup::backup(&cfg, &out).await,
        Cmd::Restore { file, force } => backup::restore(&cfg, &file, force).await,
        Cmd::Bench {
            json,
            duration,
            store,
            burst,
        } => crate::bench::run(json, duration, store.as_deref(), burst).await,
        Cmd::Incident { cmd } => owner::incident(&cfg, cmd).await,
        Cmd::Config {
            cmd: ConfigCmd::Check,
        } => config_check::check(&cfg),
        Cmd::Supplier {
            cmd: SupplierCmd::Try(args),
        } => supplier_try::run(&cfg, args).await,
        Cmd::Supplier {
            cmd:
                SupplierCmd::Pause {
                    id,
                    reason,
                    operator,
                },
        } => pause::pause(&cfg, &id, reason, operator).await,
        Cmd::Supplier {
            cmd: SupplierCmd::Resume { id, operator },
        } => pause::resume(&cfg, &id, operator).await,
        Cmd::Maintenance {
            cmd:
                MaintenanceCmd::Add {
                    supplier,
                    from,
                    to,
                    note,
                },
        } => owner::maintenance_add(&cfg, &supplier, &from, &to, note.as_deref()).await,
    }
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let (num, unit) = s.trim().split_at(
        s.trim()
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(s.trim().len()),
    );
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 20s or 2m"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        _ => return Err(format!("{s:?}: use s or m")),
    };
    if secs == 0 {
        return Err("duration must be above zero".into());
    }
    Ok(std::time::Duration::from_secs(secs))
}
