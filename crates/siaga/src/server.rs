//! The top of the switch: [`run`] takes the shared state ([`App`]), gives each background
//! worker its own small context, starts them, serves HTTP on a listener until shutdown and
//! stops them in order. The only module that knows every worker.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::app::App;
use crate::{backups, chat, cluster, engine, http, notify, report, status};

/// Serves the HTTP API on `listener` and runs the workers until `shutdown` turns true.
pub async fn run(
    app: Arc<App>,
    listener: TcpListener,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    run_with(app, listener, None, shutdown).await
}

/// As [`run`], and `/metrics` alone on `metrics` (`server.metrics_listen`), for Prometheus.
pub async fn run_with(
    app: Arc<App>,
    listener: TcpListener,
    metrics: Option<TcpListener>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let scrape = metrics.map(|l| {
        let (app, mut stop) = (app.clone(), shutdown.clone());
        tokio::spawn(async move {
            let router = http::metrics_router(app.clone());
            let done = async move {
                let _ = stop.wait_for(|v| *v).await;
            };
            if let Err(e) =
                http::serve::serve_router(router, l, &app.settings.get().limits, done).await
            {
                tracing::error!(error = %e, "the metrics listener stopped");
            }
        })
    });
    let inbox = app.take_inbox()?;
    // Health knows what the store says (learnt prices and cut-offs, announced windows)
    // before anyone reads it: the status page's first step must not see a blank.
    engine::upkeep::load(&app.engine).await;
    let notifier = Arc::new(app.notifier());
    // Before anything can make news (requests, probes): the notifier's starting point.
    if let Err(e) = notify::watch::init(&notifier).await {
        tracing::error!(error = %e, "notifier cannot set its starting point");
    }
    // Leadership is known before any duty starts (SPEC 12; alone on SQLite, this node).
    let heart = Arc::new(cluster::Beats {
        cluster: app.engine.cluster.clone(),
        store: app.store.clone(),
        health: app.health.clone(),
        clock: app.clock.clone(),
    });
    cluster::step(&heart).await;
    let beats = tokio::spawn(cluster::run(heart, shutdown.clone()));
    let dispatcher = tokio::spawn(engine::dispatcher(
        app.engine.clone(),
        inbox,
        shutdown.clone(),
    ));
    let deliverer = tokio::spawn(engine::callbacks::deliverer(
        app.engine.clone(),
        shutdown.clone(),
    ));
    let upkeep = tokio::spawn(engine::upkeep::run(app.engine.clone(), shutdown.clone()));
    let status_worker = Arc::new(app.status_worker());
    // The page has a snapshot before the server answers.
    let primed = status::worker::prime(&status_worker).await;
    let status = tokio::spawn(status::worker::run(status_worker, primed, shutdown.clone()));
    let duties = tokio::spawn(leader_duties(app.clone(), notifier, shutdown.clone()));
    // The dashboard's reports page answers from memory (its default view, kept computed).
    let reports = tokio::spawn(http::dashboard::reports::warm(
        app.clone(),
        shutdown.clone(),
    ));
    let hangups = tokio::spawn(reload_on_hangup(app.clone()));
    http::serve::serve(app.clone(), listener, shutdown).await?;
    hangups.abort();
    dispatcher.abort();
    deliverer.abort();
    upkeep.abort();
    status.abort();
    beats.abort();
    reports.abort();
    if let Some(s) = scrape {
        s.abort();
    }
    // The notice deliverer lets its sends in flight finish (bounded) before it returns.
    let _ = tokio::time::timeout(Duration::from_secs(13), duties).await;
    Ok(())
}

/// The duties that run once across the cluster (SPEC 12), each while this node leads:
/// sending notices, following news into notices, scheduled backups, the monthly report
/// and the Telegram bot's polling.
async fn leader_duties(
    app: Arc<App>,
    notifier: Arc<notify::Notifier>,
    shutdown: watch::Receiver<bool>,
) {
    let lead = app.engine.cluster.clone();
    let n = notifier.clone();
    let notices = cluster::while_leading(lead.clone(), shutdown.clone(), move |stop| {
        notify::deliver::deliverer(n.clone(), stop)
    });
    let n = notifier.clone();
    let watcher = cluster::while_leading(lead.clone(), shutdown.clone(), move |stop| {
        notify::watch::run(n.clone(), stop)
    });
    let n = notifier.clone();
    let monthly = cluster::while_leading(lead.clone(), shutdown.clone(), move |stop| {
        report::monthly::run(n.clone(), stop)
    });
    let backup_cfg = app.settings.get().backup.clone();
    let (n, l, stop_all) = (notifier.clone(), lead.clone(), shutdown.clone());
    let backups = async move {
        if let Some(b) = backup_cfg {
            cluster::while_leading(l, stop_all, move |stop| {
                backups::run(n.clone(), b.clone(), stop)
            })
            .await;
        }
    };
    // Text commands (SPEC 5.2), when `[channels.telegram]` is set: one node polls.
    let bot_cfg = app.settings.get().telegram_bot.clone();
    let bot = async move {
        if let Some(cfg) = bot_cfg {
            let bot = Arc::new(chat::bot::Bot::new(app.engine.clone(), notifier, &cfg));
            cluster::while_leading(lead, shutdown, move |stop| {
                chat::bot::run(bot.clone(), stop)
            })
            .await;
        }
    };
    tokio::join!(notices, watcher, monthly, backups, bot);
}

/// Reloads the config on every SIGHUP (SPEC 6.1.3); a refused file is logged and the
/// running config stays.
async fn reload_on_hangup(app: Arc<App>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hup = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGHUP; reload with `siaga reload`");
                return;
            }
        };
        while hup.recv().await.is_some() {
            match app.reload().await {
                Ok(changes) => tracing::info!(?changes, "SIGHUP: config reloaded"),
                Err(e) => {
                    tracing::error!(error = %e, "SIGHUP: config refused; the running one stays")
                }
            }
        }
    }
    #[cfg(not(unix))]
    std::future::pending::<()>().await;
}

/// Resolves when the process is asked to stop (Ctrl-C or SIGTERM).
pub async fn stop_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
