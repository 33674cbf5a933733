//! Start-up configuration: environment variables, each also a command-line flag.

pub mod limits;

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::Parser;
use url::Url;

pub use self::limits::Limits;
use crate::{
    domain::{ApiToken, Secret, SessionRules, attendance::AttendanceRules},
    telegram::{self, BotToken},
};

/// Where the SQLite database lives when `DATABASE_URL` is not set.
pub const DEFAULT_SQLITE_PATH: &str = "data/zoomtrack.db";

#[derive(Parser, Debug, Clone)]
#[command(
    name = "zoomtrack",
    version,
    about = "Tracks how long each Zoom lesson really lasted."
)]
pub struct Config {
    /// Database URL: sqlite://…, postgres://… or mysql://…. Default: a SQLite file under ./data/.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,

    /// Address and port the HTTP server listens on (port 0 picks a free port).
    #[arg(long, env = "BIND_ADDR", default_value = "127.0.0.1:8080")]
    pub bind_addr: SocketAddr,

    /// A second address serving `GET /metrics` (Prometheus) without a credential, for a private
    /// scrape network. On the main address /metrics needs an admin credential.
    #[arg(long, env = "METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,

    /// Base URL students and integrators reach the server at; tracking links start with it.
    /// Default: http://<bound address>.
    #[arg(long, env = "PUBLIC_BASE_URL", value_parser = parse_base_url)]
    pub public_base_url: Option<Url>,

    /// Token accepted as `Authorization: Bearer <ADMIN_TOKEN>` for the admin role.
    #[arg(long, env = "ADMIN_TOKEN", hide_env_values = true, value_parser = parse_admin_token)]
    pub admin_token: Option<Secret>,

    /// A session with no activity for this long is ended at its last activity.
    #[arg(long, env = "SESSION_TIMEOUT", default_value = "2h", value_parser = parse_duration)]
    pub session_timeout: Duration,

    /// How often the auto-timeout sweep runs.
    #[arg(long, env = "SWEEP_INTERVAL", default_value = "1m", value_parser = parse_duration)]
    pub sweep_interval: Duration,

    /// How often the tracking page reports that the student is still there.
    #[arg(long, env = "HEARTBEAT_INTERVAL", default_value = "30s", value_parser = parse_duration)]
    pub heartbeat_interval: Duration,

    /// Heartbeats are answered at once and written in batches at least this often (10ms to 1s).
    /// A crash loses at most this much of a session's last activity, never a click or an end.
    #[arg(long, env = "HEARTBEAT_FLUSH_INTERVAL", default_value = "500ms", value_parser = parse_flush_interval)]
    pub heartbeat_flush_interval: Duration,

    /// A planned lesson that starts more than this after its planned start is late; a link never
    /// opened by the planned end plus this is a no-show. Applies to links issued from then on.
    #[arg(long, env = "LATENESS_GRACE", default_value = "5m", value_parser = parse_grace)]
    pub lateness_grace: Duration,

    /// A finished planned lesson below this percentage of its planned length is short (1 to
    /// 100). Applies to links issued from then on.
    #[arg(long, env = "SHORT_LESSON_PERCENT", default_value = "90", value_parser = clap::value_parser!(u8).range(1..=100))]
    pub short_lesson_percent: u8,

    /// How long the tracking page waits before it opens the Zoom app.
    #[arg(long, env = "ZOOM_LAUNCH_DELAY", default_value = "2s", value_parser = parse_delay)]
    pub zoom_launch_delay: Duration,

    /// Folder of the built admin dashboard (`trunk build --release` writes it), served at /admin.
    #[arg(long, env = "ADMIN_UI_DIR", default_value = "admin-ui/dist")]
    pub admin_ui_dir: PathBuf,

    /// Secret token of the Zoom app's webhook (Zoom Marketplace → Feature → Event
    /// subscriptions). With it, `POST /api/zoom/webhook` takes Zoom's participant joined/left and
    /// meeting ended events, and their times decide the lessons' lengths.
    #[arg(long, env = "ZOOM_WEBHOOK_SECRET", hide_env_values = true, value_parser = parse_secret)]
    pub zoom_webhook_secret: Option<Secret>,

    /// Bot token for Telegram notifications (from @BotFather). Without it, no messages are sent.
    #[arg(long, env = "TELEGRAM_BOT_TOKEN", hide_env_values = true)]
    pub telegram_bot_token: Option<BotToken>,

    /// Base URL of the Telegram Bot API (a local Bot API server, or a test double).
    #[arg(long, env = "TELEGRAM_API_BASE", default_value = telegram::DEFAULT_API_BASE, value_parser = parse_base_url)]
    pub telegram_api_base: Url,

    /// How long one request to Telegram may take before it counts as failed.
    #[arg(long, env = "TELEGRAM_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub telegram_timeout: Duration,

    /// The wait after a failed attempt; it doubles for the next attempt of the same round.
    #[arg(long, env = "TELEGRAM_RETRY_BACKOFF", default_value = "1s", value_parser = parse_duration)]
    pub telegram_retry_backoff: Duration,

    /// The wait between rounds of three attempts while Telegram keeps failing.
    #[arg(long, env = "TELEGRAM_RETRY_INTERVAL", default_value = "10m", value_parser = parse_duration)]
    pub telegram_retry_interval: Duration,

    /// Attempts per message before it is marked failed (a 400 or 403 fails at once).
    #[arg(long, env = "TELEGRAM_MAX_ATTEMPTS", default_value = "12", value_parser = clap::value_parser!(u32).range(1..=100))]
    pub telegram_max_attempts: u32,

    /// After a link's message reached the student, a resend waits this long: resends cannot
    /// flood a student's chat.
    #[arg(long, env = "TELEGRAM_RESEND_COOLDOWN", default_value = "2m", value_parser = parse_duration)]
    pub telegram_resend_cooldown: Duration,

    #[command(flatten)]
    pub limits: Limits,
}

impl Config {
    /// Checks the rules that tie several settings together.
    pub fn validate(&self) -> Result<(), String> {
        if self.session_timeout <= self.heartbeat_interval * 2 {
            return Err(format!(
                "SESSION_TIMEOUT ({}) must be more than twice HEARTBEAT_INTERVAL ({}), \
                 or sessions would time out between heartbeats",
                humantime::format_duration(self.session_timeout),
                humantime::format_duration(self.heartbeat_interval),
            ));
        }
        if let Some(token) = &self.telegram_bot_token {
            token.validate()?;
        }
        Ok(())
    }

    /// The database URL to connect to, and the SQLite file whose folder must exist first.
    pub fn database(&self) -> (String, Option<PathBuf>) {
        match &self.database_url {
            Some(url) => (url.clone(), sqlite_file(url)),
            None => (
                format!("sqlite://{DEFAULT_SQLITE_PATH}?mode=rwc"),
                Some(PathBuf::from(DEFAULT_SQLITE_PATH)),
            ),
        }
    }
}

/// Settings the running server needs, derived once from [`Config`].
#[derive(Clone, Debug)]
pub struct Settings {
    pub public_base_url: Url,
    pub rules: SessionRules,
    /// How planned lessons are judged.
    pub attendance: AttendanceRules,
    pub sweep_interval: Duration,
    pub heartbeat_flush_interval: Duration,
    pub zoom_launch_delay: Duration,
    pub admin_token_hash: Option<String>,
    /// Zoom webhooks are taken when this is set.
    pub zoom_webhook_secret: Option<Secret>,
    /// The dashboard's build, served at /admin/ (a building page while it is empty).
    pub admin_ui_dir: PathBuf,
    pub limits: Limits,
    /// How long after a delivered message a resend is refused.
    pub resend_cooldown: chrono::Duration,
}

impl Settings {
    /// The settings of a server listening on `local`.
    pub fn new(config: &Config, local: SocketAddr) -> anyhow::Result<Self> {
        let public_base_url = match &config.public_base_url {
            Some(url) => url.clone(),
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
        Ok(Self {
            public_base_url,
            rules: SessionRules::new(
                chrono::Duration::from_std(config.session_timeout)?,
                chrono::Duration::from_std(config.heartbeat_interval)?,
            ),
            attendance: AttendanceRules {
                grace: chrono::Duration::from_std(config.lateness_grace)?,
                short_below_percent: config.short_lesson_percent,
            },
            sweep_interval: config.sweep_interval,
            heartbeat_flush_interval: config.heartbeat_flush_interval,
            zoom_launch_delay: config.zoom_launch_delay,
            admin_token_hash: config
                .admin_token
                .as_ref()
                .map(|token| ApiToken::hash(token.expose())),
            zoom_webhook_secret: config
                .zoom_webhook_secret
                .clone()
                .filter(|s| !s.expose().is_empty()),
            admin_ui_dir: config.admin_ui_dir.clone(),
            limits: config.limits.clone(),
            resend_cooldown: chrono::Duration::from_std(config.telegram_resend_cooldown)?,
        })
    }

    pub fn tracking_url(&self, token: &str) -> String {
        let mut url = self.public_base_url.clone();
        let path = format!("{}/api/zoom/track", url.path().trim_end_matches('/'));
        url.set_path(&path);
        url.query_pairs_mut().clear().append_pair("token", token);
        url.into()
    }
}

fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

/// The longest any duration setting may be: longer ones are mistakes (and times that far
/// away do not fit a date).
const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);

fn parse_duration(value: &str) -> Result<Duration, String> {
    let duration =
        humantime::parse_duration(value).map_err(|e| format!("{e} (examples: 30s, 5m, 2h)"))?;
    if duration < Duration::from_secs(1) {
        return Err("must be at least 1s".into());
    }
    if duration > MAX_DURATION {
        return Err("must be at most 30d".into());
    }
    Ok(duration)
}

/// A lateness grace: none at all (`0s`) to a day.
fn parse_grace(value: &str) -> Result<Duration, String> {
    let duration =
        humantime::parse_duration(value).map_err(|e| format!("{e} (examples: 0s, 5m, 10m)"))?;
    if duration > Duration::from_secs(86_400) {
        return Err("must be at most 1d".into());
    }
    Ok(duration)
}

fn parse_delay(value: &str) -> Result<Duration, String> {
    let duration =
        humantime::parse_duration(value).map_err(|e| format!("{e} (examples: 0s, 2s, 1500ms)"))?;
    if duration > Duration::from_secs(60) {
        return Err("must be at most 60s".into());
    }
    Ok(duration)
}

fn parse_flush_interval(value: &str) -> Result<Duration, String> {
    let duration =
        humantime::parse_duration(value).map_err(|e| format!("{e} (examples: 500ms, 1s)"))?;
    if !(Duration::from_millis(10)..=Duration::from_secs(1)).contains(&duration) {
        return Err("must be between 10ms and 1s".into());
    }
    Ok(duration)
}

fn parse_base_url(value: &str) -> Result<Url, String> {
    let url = Url::parse(value).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err("must be an http:// or https:// URL with a host".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query or fragment".into());
    }
    Ok(url)
}

fn parse_admin_token(value: &str) -> Result<Secret, String> {
    if value.len() < 16 {
        return Err("must be at least 16 characters".into());
    }
    if !value.chars().all(|c| c.is_ascii_graphic()) {
        return Err("must be printable ASCII without spaces".into());
    }
    Ok(Secret::new(value))
}

fn parse_secret(value: &str) -> Result<Secret, String> {
    Ok(Secret::new(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        Config::try_parse_from(std::iter::once("zoomtrack").chain(args.iter().copied()))
    }

    #[test]
    fn defaults_match_the_spec() {
        let config = parse(&[]).expect("defaults parse");
        assert_eq!(config.session_timeout, Duration::from_secs(7200));
        assert_eq!(config.heartbeat_interval, Duration::from_secs(30));
        assert_eq!(config.zoom_launch_delay, Duration::from_secs(2));
        assert!(config.validate().is_ok());
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        let err = parse(&["--session-timeout", "soon"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("SESSION_TIMEOUT"), "{err}");
        let err = parse(&["--public-base-url", "ftp://x"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("PUBLIC_BASE_URL"), "{err}");
        for huge in ["31d", "1000years"] {
            let err = parse(&["--session-timeout", huge]).unwrap_err().to_string();
            assert!(
                err.contains("SESSION_TIMEOUT") && err.contains("at most 30d"),
                "{err}"
            );
        }
        assert!(parse(&["--session-timeout", "30d"]).is_ok());
        let err = parse(&["--heartbeat-interval", "2h"])
            .expect("parses")
            .validate()
            .unwrap_err();
        assert!(err.contains("HEARTBEAT_INTERVAL"), "{err}");
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let config = parse(&[
            "--admin-token",
            "admin-token-0123456789",
            "--zoom-webhook-secret",
            "zoom-secret-9876",
            "--telegram-bot-token",
            "123456:bot-secret-abcdef",
        ])
        .expect("parses");
        let settings = Settings::new(&config, "127.0.0.1:8080".parse().unwrap()).unwrap();
        for shown in [format!("{config:?}"), format!("{settings:?}")] {
            for secret in ["admin-token-0123456789", "zoom-secret-9876", "bot-secret"] {
                assert!(!shown.contains(secret), "{secret} in {shown}");
            }
        }
        assert_eq!(
            settings.zoom_webhook_secret.map(|s| s.expose().to_owned()),
            Some("zoom-secret-9876".into())
        );
    }

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(
            sqlite_file("sqlite://data/x.db?mode=rwc"),
            Some(PathBuf::from("data/x.db"))
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://localhost/x"), None);
    }
}
