//! Wiring: the configuration's database, tracker, delivery job and router, and the jobs that
//! run beside the server.

use std::{future::Future, net::SocketAddr, sync::Arc};

use anyhow::Context;
use tokio::{net::TcpListener, sync::watch};

use crate::{
    config::{Config, Settings},
    db,
    domain::time,
    graphql, http,
    jobs::{
        self,
        notifier::{Deliveries, RetryPolicy},
    },
    services::{
        self, Tracker,
        auth::{self, Revocations},
        notifications::Notifier,
    },
    telegram::{self, BotApi},
    telemetry,
};

pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    state: http::AppState,
    deliveries: Option<Deliveries>,
    notifier: Arc<Notifier>,
    stop: watch::Sender<bool>,
    /// Set when `ADMIN_TOKEN` was not given and this start created the first admin credential.
    pub generated_admin_token: Option<String>,
    /// `METRICS_ADDR`'s listener, when set.
    metrics_listener: Option<TcpListener>,
    /// Taken by each round of the sweep job.
    sweep_lock: db::SweepLock,
    /// For the events listener's own connection (PostgreSQL).
    database_url: String,
    /// SQLite: this process's claim on the database file, until it stops.
    _sqlite_owner: Option<db::SqliteOwner>,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        config.validate().map_err(anyhow::Error::msg)?;
        let (url, sqlite_file) = config.database();
        let sqlite_owner = sqlite_file
            .as_deref()
            .map(db::SqliteOwner::claim)
            .transpose()
            .context("DATABASE_URL: cannot open the database")?;
        // Migrations and the first admin credential: one server at a time.
        let start = db::StartLock::acquire(&url)
            .await
            .context("DATABASE_URL: cannot open the database")?;
        let pools = db::connect(&url, sqlite_file.as_deref())
            .await
            .context("DATABASE_URL: cannot open the database")?;
        let sweep_lock = db::SweepLock::connect(&url)
            .await
            .context("DATABASE_URL: cannot open the database")?;
        let listener = TcpListener::bind(config.bind_addr)
            .await
            .with_context(|| format!("BIND_ADDR: cannot listen on {}", config.bind_addr))?;
        let local = listener.local_addr()?;
        let metrics_listener = match config.metrics_addr {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("METRICS_ADDR: cannot listen on {addr}"))?,
            ),
            None => None,
        };
        telemetry::install().map_err(anyhow::Error::msg)?;
        let settings = Arc::new(Settings::new(&config, local)?);
        log_dashboard(&settings);
        let generated_admin_token = match &config.admin_token {
            Some(_) => None,
            None => auth::bootstrap_admin(&pools.write, time::now())
                .await
                .context("creating the first admin credential")?,
        };
        start
            .release()
            .await
            .context("DATABASE_URL: letting the next server start")?;
        let deliveries = match &config.telegram_bot_token {
            None => {
                tracing::info!(
                    "Telegram notifications are off: TELEGRAM_BOT_TOKEN is not set. Links still \
                     work; their notificationStatus is DISABLED"
                );
                None
            }
            Some(token) => {
                let bot = BotApi::new(&config.telegram_api_base, token, config.telegram_timeout)?;
                if telegram::is_public(&settings.public_base_url) {
                    tracing::info!(
                        api = %config.telegram_api_base,
                        "Telegram notifications are on; the button opens the tracking page"
                    );
                } else {
                    tracing::info!(
                        api = %config.telegram_api_base,
                        "Telegram notifications are on; PUBLIC_BASE_URL is not public, which \
                         Telegram refuses in a button, so the button opens Zoom and the \
                         tracking URL goes in the text"
                    );
                }
                let retry = RetryPolicy {
                    backoff: config.telegram_retry_backoff,
                    round_interval: config.telegram_retry_interval,
                    max_attempts: config.telegram_max_attempts,
                };
                Some(Deliveries::new(
                    pools.write.clone(),
                    bot,
                    settings.clone(),
                    retry,
                ))
            }
        };
        let notifier = Arc::new(Notifier::new(deliveries.is_some()));
        let tracker = Arc::new(Tracker::new(pools, settings.rules));
        let revocations = Arc::new(Revocations::default());
        let schema = graphql::schema(
            tracker.clone(),
            settings.clone(),
            notifier.clone(),
            revocations.clone(),
        );
        let (stop, stopping) = watch::channel(false);
        let limits = Arc::new(http::RateLimits::new(&settings.limits));
        let sockets = Arc::new(http::Sockets::new(&settings.limits));
        if !settings.limits.rate_limits {
            tracing::warn!("RATE_LIMITS=off: no address is ever refused for its request rate");
        }
        Ok(Self {
            listener,
            local_addr: local,
            state: http::AppState::new(http::SharedState {
                tracker,
                settings,
                schema,
                limits,
                sockets,
                revocations,
                stopping,
            }),
            stop,
            deliveries,
            notifier,
            generated_admin_token,
            metrics_listener,
            sweep_lock,
            database_url: url,
            _sqlite_owner: sqlite_owner,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Session tracking: the operations, the live events and the database connections.
    pub fn tracker(&self) -> Arc<Tracker> {
        self.state.tracker.clone()
    }

    pub fn settings(&self) -> &Settings {
        &self.state.settings
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests and stops the jobs.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let stop_rx = self.stop.subscribe();
        let tracker = self.state.tracker.clone();
        let settings = self.state.settings.clone();
        let sweeper = tokio::spawn(jobs::sweeper::run(
            tracker.clone(),
            self.sweep_lock,
            settings.sweep_interval,
            stop_rx.clone(),
        ));
        let events = tokio::spawn(jobs::events::run(
            tracker.clone(),
            self.database_url,
            stop_rx.clone(),
        ));
        let revocations = tokio::spawn(jobs::revocations::run(
            tracker.clone(),
            self.state.revocations.clone(),
            stop_rx.clone(),
        ));
        let flusher = tokio::spawn(jobs::flusher::run(
            tracker.clone(),
            settings.heartbeat_flush_interval,
            stop_rx.clone(),
        ));
        let deliveries = self
            .deliveries
            .map(|job| tokio::spawn(job.run(self.notifier.clone(), stop_rx)));
        if settings.zoom_webhook_secret.is_some() {
            let tracker = tracker.clone();
            tokio::spawn(async move {
                match services::zoom::fill_meeting_ids(tracker.db()).await {
                    Ok(0) => {}
                    Ok(filled) => tracing::info!(filled, "stored the meeting ids of older links"),
                    Err(err) => {
                        tracing::error!(error = %err, "storing older links' meeting ids failed")
                    }
                }
            });
        }
        let limits = self.state.limits.clone();
        let mut stopped = self.stop.subscribe();
        tokio::spawn(async move {
            // Addresses whose buckets refilled are forgotten once a minute.
            let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                tokio::select! {
                    _ = every.tick() => limits.prune(),
                    _ = stopped.wait_for(|stop| *stop) => break,
                }
            }
        });
        let metrics = if let Some(listener) = self.metrics_listener {
            let mut stopped = self.stop.subscribe();
            let stop = async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            };
            if let Ok(addr) = listener.local_addr() {
                tracing::info!(%addr, "serving /metrics without a credential (METRICS_ADDR)");
            }
            Some(tokio::spawn(http::serve_metrics(
                listener,
                self.state.clone(),
                stop,
            )))
        } else {
            None
        };
        let router = http::router(self.state);
        tracing::info!(addr = %self.local_addr, "listening");
        // Jobs and WebSocket subscriptions stop as soon as shutdown begins; requests in flight
        // finish.
        let stop = self.stop;
        http::serve(self.listener, router, &settings.limits, async move {
            shutdown.await;
            let _ = stop.send(true);
        })
        .await;
        sweeper.await?;
        flusher.await?;
        revocations.await?;
        events.await?;
        if let Some(metrics) = metrics {
            metrics.await?;
        }
        // Every request has been answered: store the beats answered since the last flush.
        tracker
            .flush()
            .await
            .context("writing the last heartbeats before stopping")?;
        if let Some(deliveries) = deliveries {
            deliveries.await?;
        }
        Ok(())
    }
}

/// Says at start whether /admin/ serves the dashboard or, until a build arrives, its building
/// page.
fn log_dashboard(settings: &Settings) {
    let dir = &settings.admin_ui_dir;
    if dir.join("index.html").is_file() {
        tracing::info!(dir = %dir.display(), "serving the admin dashboard at /admin/");
    } else {
        tracing::warn!(
            dir = %dir.display(),
            "ADMIN_UI_DIR holds no dashboard build yet: /admin/ shows a building page and \
             serves the dashboard as soon as a build is there"
        );
    }
}
