//! Building the application from its configuration: database, state, router, jobs.

use std::{future::Future, net::SocketAddr, sync::Arc};

use anyhow::Context;
use sea_orm::DatabaseConnection;
use tokio::{net::TcpListener, sync::watch};
use url::Url;

use crate::{
    config::Config,
    db,
    domain::{ApiToken, time},
    events::EventBus,
    graphql::{self, AppSchema},
    http,
    jobs::{
        self,
        notifier::{Notifier, RetryPolicy},
    },
    services::{self, auth, beats::Heartbeats, sessions::SessionRules},
    telegram::{self, BotApi},
};

/// Settings the running server needs, derived once from [`Config`].
#[derive(Clone, Debug)]
pub struct Settings {
    pub public_base_url: Url,
    pub rules: SessionRules,
    pub sweep_interval: std::time::Duration,
    pub heartbeat_interval: std::time::Duration,
    pub heartbeat_flush_interval: std::time::Duration,
    pub zoom_launch_delay: std::time::Duration,
    pub admin_token_hash: Option<String>,
    /// Zoom webhooks are taken when this is set.
    pub zoom_webhook_secret: Option<String>,
    /// The dashboard's build, served at /admin/ (a building page while it is empty).
    pub admin_ui_dir: std::path::PathBuf,
}

impl Settings {
    pub fn tracking_url(&self, token: &str) -> String {
        let mut url = self.public_base_url.clone();
        let path = format!("{}/api/zoom/track", url.path().trim_end_matches('/'));
        url.set_path(&path);
        url.query_pairs_mut().clear().append_pair("token", token);
        url.into()
    }
}

/// What every handler and resolver shares.
#[derive(Clone)]
pub struct AppState {
    /// Writes, and reads that decide a write.
    pub db: DatabaseConnection,
    /// Reports and lists (on SQLite, read-only connections beside the one writer).
    pub read: DatabaseConnection,
    pub beats: Arc<Heartbeats>,
    pub settings: Arc<Settings>,
    pub events: Arc<EventBus>,
    pub schema: AppSchema,
    /// Turns `true` when the server begins to shut down: long-lived connections end then.
    pub stopping: watch::Receiver<bool>,
}

/// The Telegram side, when a bot token is configured.
struct Telegram {
    bot: BotApi,
    retry: RetryPolicy,
}

pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    state: AppState,
    telegram: Option<Telegram>,
    notifier: Arc<Notifier>,
    stop: watch::Sender<bool>,
    /// Set when `ADMIN_TOKEN` was not given and this start created the first admin credential.
    pub generated_admin_token: Option<String>,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        config.validate().map_err(anyhow::Error::msg)?;
        let (url, sqlite_file) = config.database();
        let db::Pools { write: db, read } = db::connect(&url, sqlite_file.as_deref())
            .await
            .context("DATABASE_URL: cannot open the database")?;
        let listener = TcpListener::bind(config.bind_addr)
            .await
            .with_context(|| format!("BIND_ADDR: cannot listen on {}", config.bind_addr))?;
        let local = listener.local_addr()?;
        let public_base_url = match config.public_base_url {
            Some(url) => url,
            None if local.ip().is_unspecified() => {
                tracing::warn!(
                    "BIND_ADDR listens on every interface: set PUBLIC_BASE_URL to the address \
                     students reach; tracking links use http://localhost:{} until then",
                    local.port()
                );
                Url::parse(&format!("http://localhost:{}", local.port()))?
            }
            None => Url::parse(&format!("http://{local}"))?,
        };
        let generated_admin_token = match &config.admin_token {
            Some(_) => None,
            None => auth::bootstrap_admin(&db, time::now())
                .await
                .context("creating the first admin credential")?,
        };
        let timeout = chrono::Duration::from_std(config.session_timeout)?;
        let heartbeat = chrono::Duration::from_std(config.heartbeat_interval)?;
        let settings = Arc::new(Settings {
            public_base_url,
            rules: SessionRules {
                timeout,
                resume_window: heartbeat * 2,
            },
            sweep_interval: config.sweep_interval,
            heartbeat_interval: config.heartbeat_interval,
            heartbeat_flush_interval: config.heartbeat_flush_interval,
            zoom_launch_delay: config.zoom_launch_delay,
            admin_token_hash: config.admin_token.as_deref().map(ApiToken::hash),
            zoom_webhook_secret: config.zoom_webhook_secret.filter(|s| !s.is_empty()),
            admin_ui_dir: dashboard(config.admin_ui_dir),
        });
        let events = Arc::new(EventBus::new(heartbeat));
        let telegram = match &config.telegram_bot_token {
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
                Some(Telegram {
                    bot,
                    retry: RetryPolicy {
                        backoff: config.telegram_retry_backoff,
                        round_interval: config.telegram_retry_interval,
                        max_attempts: config.telegram_max_attempts,
                    },
                })
            }
        };
        let notifier = Arc::new(Notifier::new(telegram.is_some()));
        let beats = Arc::new(Heartbeats::default());
        let schema = graphql::schema(
            db.clone(),
            read.clone(),
            beats.clone(),
            settings.clone(),
            events.clone(),
            notifier.clone(),
        );
        let (stop, stopping) = watch::channel(false);
        Ok(Self {
            listener,
            local_addr: local,
            state: AppState {
                db,
                read,
                beats,
                settings,
                events,
                schema,
                stopping,
            },
            stop,
            telegram,
            notifier,
            generated_admin_token,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.state.db
    }

    pub fn beats(&self) -> Arc<Heartbeats> {
        self.state.beats.clone()
    }

    pub fn settings(&self) -> &Settings {
        &self.state.settings
    }

    pub fn events(&self) -> Arc<EventBus> {
        self.state.events.clone()
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests and stops the jobs.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let stop_rx = self.stop.subscribe();
        let sweeper = tokio::spawn(jobs::sweeper::run(
            self.state.db.clone(),
            self.state.events.clone(),
            self.state.beats.clone(),
            self.state.settings.rules.timeout,
            self.state.settings.sweep_interval,
            stop_rx.clone(),
        ));
        let flusher = tokio::spawn(jobs::flusher::run(
            self.state.db.clone(),
            self.state.beats.clone(),
            self.state.settings.rules.timeout,
            self.state.settings.heartbeat_flush_interval,
            stop_rx.clone(),
        ));
        let notifier = self.telegram.map(|telegram| {
            tokio::spawn(jobs::notifier::run(
                self.state.db.clone(),
                telegram.bot,
                self.state.settings.clone(),
                telegram.retry,
                self.notifier.clone(),
                stop_rx,
            ))
        });
        if self.state.settings.zoom_webhook_secret.is_some() {
            let db = self.state.db.clone();
            tokio::spawn(async move {
                match services::zoom::fill_meeting_ids(&db).await {
                    Ok(0) => {}
                    Ok(filled) => tracing::info!(filled, "stored the meeting ids of older links"),
                    Err(err) => {
                        tracing::error!(error = %err, "storing older links' meeting ids failed")
                    }
                }
            });
        }
        let (db, beats) = (self.state.db.clone(), self.state.beats.clone());
        let router = http::router(self.state);
        tracing::info!(addr = %self.local_addr, "listening");
        // Jobs and WebSocket subscriptions stop as soon as shutdown begins; requests in flight
        // finish.
        let stop = self.stop;
        axum::serve(self.listener, router)
            .with_graceful_shutdown(async move {
                shutdown.await;
                let _ = stop.send(true);
            })
            .await?;
        sweeper.await?;
        flusher.await?;
        // Every request has been answered: store the beats answered since the last flush.
        beats
            .flush(&db)
            .await
            .context("writing the last heartbeats before stopping")?;
        if let Some(notifier) = notifier {
            notifier.await?;
        }
        Ok(())
    }
}

/// Says at start whether /admin/ serves the dashboard or, until a build arrives, its building
/// page.
fn dashboard(dir: std::path::PathBuf) -> std::path::PathBuf {
    if dir.join("index.html").is_file() {
        tracing::info!(dir = %dir.display(), "serving the admin dashboard at /admin/");
    } else {
        tracing::warn!(
            dir = %dir.display(),
            "ADMIN_UI_DIR holds no dashboard build yet: /admin/ shows a building page and \
             serves the dashboard as soon as a build is there"
        );
    }
    dir
}
