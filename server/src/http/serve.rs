//! The accept loop: HTTP/1.1 connections with a header-read deadline (which also closes idle
//! kept-alive connections), a cap on open connections, the client address on every request,
//! and a graceful stop with a deadline.

use std::{future::Future, sync::Arc, time::Duration};

use axum::{Router, extract::Request};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use hyper::server::conn::http1;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use tokio::{net::TcpListener, sync::Semaphore, sync::watch};
use tower::ServiceExt;

use super::{body::BodyTimeout, counts::Counts, limits::ClientIp};
use crate::config::Limits;

/// Serves `router` on `listener` until `shutdown` completes; then stops accepting, lets the
/// requests in flight finish (at most `SHUTDOWN_TIMEOUT`) and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: &Limits,
    shutdown: impl Future<Output = ()>,
) {
    let max = limits.max_connections.get();
    let open = Arc::new(Semaphore::new(max as usize));
    let proxies = Arc::new(limits.trusted_proxies.clone());
    let body_timeout = BodyTimeout(limits.body_read_timeout);
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(64 * 1024);
    let refusals = RateLimiter::direct(Quota::with_period(Duration::from_secs(10)).expect("10 s"));
    let per_address = Counts::default();
    let (drain, draining) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, or a connection reset before it was taken: wait a
                    // moment rather than spin.
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            // Full: closed at once, never queued.
            drop(stream);
            log_refusal(&refusals, "MAX_CONNECTIONS");
            continue;
        };
        // One address may not take every place (a trusted proxy carries everyone's).
        let peer_ip = peer.ip();
        let place = if proxies.contains(peer_ip) {
            None
        } else {
            match per_address.take(peer_ip, limits.max_connections_per_address.get() as usize) {
                Some(place) => Some(place),
                None => {
                    drop(stream);
                    log_refusal(&refusals, "MAX_CONNECTIONS_PER_ADDRESS");
                    continue;
                }
            }
        };
        let _ = stream.set_nodelay(true);
        let proxies = proxies.clone();
        let service = router.clone().map_request(move |mut req: Request<_>| {
            let ip = ClientIp::resolve(peer, req.headers(), &proxies);
            req.extensions_mut().insert(ip);
            req.extensions_mut().insert(body_timeout);
            req
        });
        let http = http.clone();
        let mut draining = draining.clone();
        tokio::spawn(async move {
            let connection = http
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
                .with_upgrades();
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                () = stopped(&mut draining) => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            drop((permit, place));
        });
    }
    drop(listener);
    let _ = drain.send(true);
    // Every connection gives its permit back when its last request is answered.
    if tokio::time::timeout(limits.shutdown_timeout, open.acquire_many(max))
        .await
        .is_err()
    {
        tracing::warn!(
            open = max as usize - open.available_permits(),
            "SHUTDOWN_TIMEOUT passed with requests in flight: stopping without them"
        );
    }
}

/// Completes when the server begins to stop.
async fn stopped(stopping: &mut watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stop| *stop).await;
}

fn log_refusal(refusals: &DefaultDirectRateLimiter, limit: &'static str) {
    if refusals.check().is_ok() {
        tracing::warn!(
            limit,
            "connection limit reached: closing new connections at once until some end"
        );
    }
}
