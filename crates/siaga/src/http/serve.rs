//! The HTTP server loop (in place of `axum::serve`, which sets no socket timeouts): hyper
//! HTTP/1 connections with a timeout on every socket (request headers, idle keep-alive,
//! reads and writes that stall), a cap on open connections in all and per client address,
//! the client's address for the per-IP limits, and a graceful shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio_io_timeout::TimeoutStream;
use tower_service::Service;

use crate::app::App;
use crate::config::LimitsCfg;
use crate::net::{ClientAddr, PerIp, Proxies, REFUSAL};

/// How often idle rate-limit keys are forgotten.
const UPKEEP_EVERY: Duration = Duration::from_secs(10);
/// Open connections get this long to finish after shutdown is asked for.
const DRAIN: Duration = Duration::from_secs(5);

/// Serves the switch's router on `listener` until `shutdown` turns true.
pub async fn serve(
    app: Arc<App>,
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let upkeep = {
        let app = app.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(UPKEEP_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                app.limits.upkeep();
            }
        })
    };
    let router = super::router(app.clone());
    let result = serve_router(router, listener, &app.settings.get().limits, async move {
        let _ = shutdown.wait_for(|v| *v).await;
    })
    .await;
    upkeep.abort();
    result
}

/// Serves any router with the socket limits of `cfg` until `shutdown` completes.
pub async fn serve_router(
    router: Router,
    listener: TcpListener,
    cfg: &LimitsCfg,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let connections = Arc::new(Semaphore::new(cfg.max_connections.max(1) as usize));
    let per_ip = PerIp::new(cfg.max_connections_per_ip);
    // Validated with the config; a bad entry here is simply not trusted.
    let proxies = Arc::new(Proxies::parse(&cfg.trusted_proxies).unwrap_or_default());
    let idle = Duration::from_millis(cfg.socket_idle_timeout_ms.max(1));
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(cfg.header_read_timeout_ms.max(1)))
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = connections.clone().acquire_owned() => p?,
            _ = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        // A trusted proxy's connections carry many clients: not capped per address.
        let slot = if proxies.trusted(peer.ip()) {
            None
        } else if let Some(slot) = per_ip.enter(peer.ip()) {
            Some(slot)
        } else {
            // Over its address's cap: told so in one non-blocking write, then closed.
            let _ = stream.try_write(&REFUSAL);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let mut io = TimeoutStream::new(stream);
        io.set_read_timeout(Some(idle));
        io.set_write_timeout(Some(idle));
        // The peer's address rides along like axum's `ConnectInfo` (the per-IP limits read it).
        let (router, proxies) = (router.clone(), proxies.clone());
        let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            let client = proxies.client(peer.ip(), req.headers());
            req.extensions_mut().insert(ConnectInfo(peer));
            req.extensions_mut().insert(ClientAddr(client));
            let mut r = router.clone();
            async move { r.call(req.map(Body::new)).await }
        });
        // hyper's own refusals (a request it cannot parse) get the JSON envelope too.
        let io = super::protocol::Enveloped::new(Box::pin(io));
        let conn = builder.serve_connection(TokioIo::new(io), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended");
            }
            drop((permit, slot));
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::debug!("connections still open after the drain period; dropping them");
    }
    Ok(())
}
