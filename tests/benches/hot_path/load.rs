//! The load generator: HTTP/1.1 keep-alive connections from this process, at saturation or at
//! a fixed arrival rate.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use http_body_util::{BodyExt, Full};
use hyper::{Request, body::Bytes, client::conn::http1::SendRequest};
use hyper_util::rt::TokioIo;
use tokio::{net::TcpStream, sync::Mutex};
use zoomtrack_tests::bench::percentile;

use crate::processes::cpu_seconds;

/// Concurrent requests at saturation.
pub const CONNECTIONS: usize = 32;
/// Connections of the open-loop generator: enough that none waits for a free one.
const OPEN_LOOP_CONNECTIONS: usize = 64;

/// Request number `n` of a run.
pub type Make = Arc<dyn Fn(u64) -> Request<Full<Bytes>> + Send + Sync>;

pub fn post_json(path: &'static str, body: String) -> Request<Full<Bytes>> {
    Request::post(path)
        .header("host", "127.0.0.1")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("a request")
}

pub fn token_body(token: &str) -> String {
    format!(r#"{{"token":"{token}"}}"#)
}

pub fn get(path: String) -> Request<Full<Bytes>> {
    Request::get(path)
        .header("host", "127.0.0.1")
        .header("accept", "text/html")
        .body(Full::new(Bytes::new()))
        .expect("a request")
}

pub async fn connect(addr: SocketAddr) -> SendRequest<Full<Bytes>> {
    let stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(connection);
    sender
}

/// Sends one request; true when it succeeded (2xx, body read).
pub async fn send(sender: &mut SendRequest<Full<Bytes>>, request: Request<Full<Bytes>>) -> bool {
    if sender.ready().await.is_err() {
        return false;
    }
    match sender.send_request(request).await {
        Ok(response) => {
            let ok = response.status().is_success();
            ok && response.into_body().collect().await.is_ok()
        }
        Err(_) => false,
    }
}

#[derive(Clone, Copy, Default)]
pub struct Throughput {
    pub per_second: f64,
    pub errors: u64,
    /// CPU time of the process serving, per request answered, in microseconds.
    pub cpu_us: f64,
}

/// Requests per second with [`CONNECTIONS`] requests always in flight, for `seconds`, and the
/// CPU time process `pid` spent per request over the same window. `next` numbers the requests
/// across runs, so each can use a fresh session.
pub async fn saturate(
    addr: SocketAddr,
    pid: u32,
    make: &Make,
    next: &Arc<AtomicU64>,
    seconds: f64,
) -> Throughput {
    let stop = Arc::new(AtomicBool::new(false));
    let (done, errors) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut workers = Vec::new();
    for _ in 0..CONNECTIONS {
        let (make, next, stop) = (make.clone(), next.clone(), stop.clone());
        let (done, errors) = (done.clone(), errors.clone());
        workers.push(tokio::spawn(async move {
            let mut sender = connect(addr).await;
            while !stop.load(Ordering::Relaxed) {
                let request = make(next.fetch_add(1, Ordering::Relaxed));
                if send(&mut sender, request).await {
                    done.fetch_add(1, Ordering::Relaxed);
                } else {
                    errors.fetch_add(1, Ordering::Relaxed);
                    sender = connect(addr).await;
                }
            }
        }));
    }
    // Connections open and warm before the clock starts.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (start_done, start_errors) = (done.load(Ordering::Relaxed), errors.load(Ordering::Relaxed));
    let start_cpu = cpu_seconds(pid);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    let elapsed = started.elapsed().as_secs_f64();
    let counted = done.load(Ordering::Relaxed) - start_done;
    let cpu = cpu_seconds(pid) - start_cpu;
    let failed = errors.load(Ordering::Relaxed) - start_errors;
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.expect("a load worker");
    }
    Throughput {
        per_second: counted as f64 / elapsed,
        errors: failed,
        cpu_us: cpu * 1e6 / counted.max(1) as f64,
    }
}

/// Sends requests `0..count` once each over [`CONNECTIONS`] connections.
pub async fn each_once(addr: SocketAddr, make: &Make, count: u64) {
    let next = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let (make, next) = (make.clone(), next.clone());
            tokio::spawn(async move {
                let mut sender = connect(addr).await;
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= count {
                        return;
                    }
                    assert!(send(&mut sender, make(n)).await, "request {n} failed");
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("a load worker");
    }
}

#[derive(Clone, Debug, Default)]
pub struct Latency {
    pub p50: f64,
    pub p99: f64,
    pub errors: u64,
    /// Every request: when it was due, and its latency.
    samples: Vec<(Instant, Duration)>,
}

impl Latency {
    /// The p99 of the requests due in `[from, to)`.
    pub fn p99_between(&self, from: Instant, to: Instant) -> f64 {
        let mut within: Vec<Duration> = self
            .samples
            .iter()
            .filter(|(due, _)| (from..to).contains(due))
            .map(|(_, latency)| *latency)
            .collect();
        within.sort();
        percentile(&within, 0.99)
    }
}

/// Latency at a fixed arrival rate (open loop): request `i` is due at `i / rate`, and its
/// latency counts from then, so a slow answer delays nothing it should not (no coordinated
/// omission). The requests are released by a thread of their own that sleeps until each is
/// due (to within tens of microseconds), not by the runtime's millisecond timer.
pub async fn open_loop(
    addr: SocketAddr,
    make: &Make,
    next: &Arc<AtomicU64>,
    rate: f64,
    seconds: f64,
) -> Latency {
    let total = (rate * seconds) as u64;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<(Instant, u64)>();
    let rx = Arc::new(Mutex::new(rx));
    let mut workers = Vec::new();
    for _ in 0..OPEN_LOOP_CONNECTIONS {
        let (make, rx) = (make.clone(), rx.clone());
        workers.push(tokio::spawn(async move {
            let mut sender = connect(addr).await;
            let mut samples = Vec::new();
            let mut errors = 0u64;
            loop {
                let Some((due, n)) = rx.lock().await.recv().await else {
                    return (samples, errors);
                };
                if !send(&mut sender, make(n)).await {
                    errors += 1;
                    sender = connect(addr).await;
                }
                samples.push((due, due.elapsed()));
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let next = next.clone();
    let pacer = std::thread::spawn(move || {
        let started = Instant::now();
        for i in 0..total {
            let due = started + Duration::from_secs_f64(i as f64 / rate);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let n = next.fetch_add(1, Ordering::Relaxed);
            tx.send((due, n)).expect("workers run");
        }
    });
    let mut samples = Vec::new();
    let mut errors = 0;
    for worker in workers {
        let (done, failed) = worker.await.expect("a load worker");
        errors += failed;
        samples.extend(done);
    }
    pacer.join().expect("the pacer");
    let mut all: Vec<Duration> = samples.iter().map(|(_, latency)| *latency).collect();
    all.sort();
    Latency {
        p50: percentile(&all, 0.5),
        p99: percentile(&all, 0.99),
        errors,
        samples,
    }
}
