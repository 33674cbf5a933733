//! Metrics in the Prometheus text format, at `GET /metrics`.
//!
//! Counters and the request-latency histogram are recorded where things happen, through the
//! `metrics` crate into the process's Prometheus recorder (`metrics-exporter-prometheus`).
//! What is a state rather than an event (live sessions, the heartbeat buffer, subscribers,
//! the Telegram outbox) is read when a scrape asks, so it is never stale.
//!
//! | metric | kind | what |
//! |---|---|---|
//! | `zoomtrack_http_requests_total{route, method, status}` | counter | answered requests |
//! | `zoomtrack_http_request_duration_seconds{route}` | histogram | time to answer |
//! | `zoomtrack_rate_limited_total{limit}` | counter | requests refused with 429 (`public`, `credentials`) |
//! | `zoomtrack_live_sessions` | gauge | active sessions in the database |
//! | `zoomtrack_heartbeat_buffer_sessions` | gauge | sessions this server has seen beat lately |
//! | `zoomtrack_heartbeat_buffer_pending` | gauge | beats answered and not yet written |
//! | `zoomtrack_heartbeat_last_flush_seconds` | gauge | when the last flush succeeded (Unix time: the lag is `time() - …`) |
//! | `zoomtrack_heartbeats_flushed_total` | counter | beats the flushes wrote |
//! | `zoomtrack_subscribers` | gauge | live-event subscriptions on this server |
//! | `zoomtrack_telegram_outbox{status}` | gauge | messages `pending` (or being sent) and `failed` |
//! | `zoomtrack_telegram_failures_total` | counter | deliveries given up as failed |
//! | `zoomtrack_sweep_rounds_total` | counter | auto-timeout rounds this server ran |
//! | `zoomtrack_sweep_ended_total` | counter | sessions its rounds ended |
//! | `zoomtrack_sweep_last_seconds` | gauge | how long its last round took |
//! | `zoomtrack_event_lag_seconds` | histogram | another server's event: from its writing (that server's clock) to this server reading it (PostgreSQL, MySQL) |

use std::{
    sync::{OnceLock, RwLock},
    time::Duration,
};

use metrics::{Counter, Histogram};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

const DURATION: &str = "zoomtrack_http_request_duration_seconds";
const EVENT_LAG: &str = "zoomtrack_event_lag_seconds";
/// The latency histograms' buckets, in seconds: a heartbeat takes under a millisecond, a
/// statistics request tens of them, a slow database seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// How often the recorder drains its histograms' samples when nobody scrapes: they would
/// otherwise pile up in memory (8 bytes a request).
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The process's recorder: installed by the first server the process builds (tests build
/// several, which then share it), with a thread of its own for its upkeep.
fn handle() -> Result<&'static PrometheusHandle, String> {
    static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(DURATION.into()), &BUCKETS)
                .and_then(|builder| {
                    builder.set_buckets_for_metric(Matcher::Full(EVENT_LAG.into()), &BUCKETS)
                })
                .and_then(PrometheusBuilder::install_recorder)
                .map_err(|err| format!("the metrics recorder: {err}"))?;
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP_EVERY);
                        upkeep.run_upkeep();
                    }
                })
                .map_err(|err| format!("the metrics recorder's upkeep thread: {err}"))?;
            Ok(handle)
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Installs the recorder at start, so that a failure stops the start instead of a scrape.
pub fn install() -> Result<(), String> {
    handle().map(|_| ())
}

/// The routes requests are counted under: the router's paths, `/admin` for the dashboard's
/// files and `other` for a path no route has (never the path itself: labels stay few).
pub const ROUTES: [&str; 13] = [
    "/api/zoom/track",
    "/api/zoom/heartbeat",
    "/api/zoom/end-session",
    "/api/zoom/webhook",
    "/api/admin/auto-timeout",
    "/api/admin/teacher-sessions",
    "/api/admin/sessions.csv",
    "/graphql",
    "/graphql/ws",
    "/health",
    "/metrics",
    "/admin",
    "other",
];
/// The methods requests are counted under; any other is `other`.
pub const METHODS: [&str; 8] = [
    "GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "other",
];

/// The request metrics' handles, made once: a request then costs a read lock, a short scan
/// and two atomic updates, not a lookup of its labels in the registry.
struct Requests {
    /// Per route and method, a counter per status seen.
    counts: Vec<RwLock<Vec<(u16, Counter)>>>,
    /// Per route.
    latency: Vec<Histogram>,
}

fn requests() -> Result<&'static Requests, String> {
    static REQUESTS: OnceLock<Requests> = OnceLock::new();
    // The handles belong to the recorder installed when they are made.
    handle()?;
    Ok(REQUESTS.get_or_init(|| Requests {
        counts: (0..ROUTES.len() * METHODS.len())
            .map(|_| RwLock::default())
            .collect(),
        latency: ROUTES
            .iter()
            .map(|route| metrics::histogram!(DURATION, "route" => *route))
            .collect(),
    }))
}

/// A request answered: counted by route, method and status (indexes into [`ROUTES`] and
/// [`METHODS`]) and timed by route.
pub fn request(route: usize, method: usize, status: u16, took: Duration) {
    let Ok(requests) = requests() else { return };
    let Some(slot) = requests.counts.get(route * METHODS.len() + method) else {
        return;
    };
    let counted = slot
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .iter()
        .find(|(code, _)| *code == status)
        .map(|(_, counter)| counter.increment(1))
        .is_some();
    if !counted {
        let counter = metrics::counter!(
            "zoomtrack_http_requests_total",
            "route" => ROUTES[route],
            "method" => METHODS[method],
            "status" => status.to_string()
        );
        counter.increment(1);
        slot.write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push((status, counter));
    }
    if let Some(latency) = requests.latency.get(route) {
        latency.record(took.as_secs_f64());
    }
}

/// A request refused by a rate limit (`public` or `credentials`).
pub fn rate_limited(limit: &'static str) {
    metrics::counter!("zoomtrack_rate_limited_total", "limit" => limit).increment(1);
}

/// A sweep round this server ran.
pub fn swept(ended: u64, took: Duration) {
    metrics::counter!("zoomtrack_sweep_rounds_total").increment(1);
    metrics::counter!("zoomtrack_sweep_ended_total").increment(ended);
    metrics::gauge!("zoomtrack_sweep_last_seconds").set(took.as_secs_f64());
}

/// A flush wrote `beats`, at `unix_seconds`.
pub fn flushed(beats: u64, unix_seconds: i64) {
    metrics::counter!("zoomtrack_heartbeats_flushed_total").increment(beats);
    metrics::gauge!("zoomtrack_heartbeat_last_flush_seconds").set(unix_seconds as f64);
}

/// Another server's event was read here `lag` after it was written.
pub fn event_relayed(lag: Duration) {
    metrics::histogram!(EVENT_LAG).record(lag.as_secs_f64());
}

/// Telegram deliveries given up as failed.
pub fn delivery_failed(count: u64) {
    metrics::counter!("zoomtrack_telegram_failures_total").increment(count);
}

/// What a scrape reads now rather than counts: states, not events.
pub struct States {
    pub live_sessions: u64,
    pub buffer_sessions: usize,
    pub buffer_pending: usize,
    pub subscribers: usize,
    pub outbox_pending: u64,
    pub outbox_failed: u64,
}

/// The text a scrape gets: everything recorded, then `states` (recorded for this scrape alone,
/// so two servers in one process never show each other's).
pub fn render(states: States) -> Result<String, String> {
    let handle = handle()?;
    handle.run_upkeep();
    let mut text = handle.render();
    let now = PrometheusBuilder::new().build_recorder();
    metrics::with_local_recorder(&now, || {
        let gauge = |name: &'static str, value: f64| metrics::gauge!(name).set(value);
        gauge("zoomtrack_live_sessions", states.live_sessions as f64);
        gauge(
            "zoomtrack_heartbeat_buffer_sessions",
            states.buffer_sessions as f64,
        );
        gauge(
            "zoomtrack_heartbeat_buffer_pending",
            states.buffer_pending as f64,
        );
        gauge("zoomtrack_subscribers", states.subscribers as f64);
        metrics::gauge!("zoomtrack_telegram_outbox", "status" => "pending")
            .set(states.outbox_pending as f64);
        metrics::gauge!("zoomtrack_telegram_outbox", "status" => "failed")
            .set(states.outbox_failed as f64);
    });
    text.push_str(&now.handle().render());
    Ok(text)
}
