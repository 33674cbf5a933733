//! The Telegram Bot API, as far as the lesson message needs it: `sendMessage` with one inline
//! URL button, and what each answer means for the next attempt.
//!
//! The bot token is part of every request URL, so no URL is ever shown: errors are described
//! without it, and [`BotToken`] prints as `***`.

use std::{convert::Infallible, error::Error as _, fmt, net::IpAddr, str::FromStr, time::Duration};

use serde::{Deserialize, Serialize};
use serde_json::json;
use url::{Host, Url};

/// The public Bot API.
pub const DEFAULT_API_BASE: &str = "https://api.telegram.org";
/// The most of an answer that is read; Bot API answers to `sendMessage` are a few KiB.
const MAX_ANSWER: usize = 64 * 1024;
/// The longest `retry_after` that is obeyed as given.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// A bot token from @BotFather (`123456789:AA…`). Never printed.
#[derive(Clone)]
pub struct BotToken(String);

impl FromStr for BotToken {
    type Err = Infallible;

    fn from_str(value: &str) -> Result<Self, Infallible> {
        Ok(Self(value.trim().to_owned()))
    }
}

impl fmt::Debug for BotToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BotToken(***)")
    }
}

impl BotToken {
    /// Checks the shape `<bot id>:<secret>`; the message never repeats the value.
    pub fn validate(&self) -> Result<(), String> {
        let valid = self.0.split_once(':').is_some_and(|(id, secret)| {
            !id.is_empty()
                && id.bytes().all(|b| b.is_ascii_digit())
                && !secret.is_empty()
                && secret
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        });
        if valid {
            Ok(())
        } else {
            Err(
                "TELEGRAM_BOT_TOKEN is not a bot token: expected <bot id>:<secret> as \
                 @BotFather gives it"
                    .into(),
            )
        }
    }
}

/// Whether Telegram will accept a button that links to this URL: not on a local or private
/// host. (Telegram refuses the whole message otherwise.)
pub fn is_public(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(domain)) => {
            let domain = domain.trim_end_matches('.').to_ascii_lowercase();
            let local = [".localhost", ".local", ".internal", ".lan", ".home.arpa"]
                .iter()
                .any(|suffix| domain.ends_with(suffix));
            domain.contains('.') && !local
        }
        Some(Host::Ipv4(ip)) => is_public_ip(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => is_public_ip(IpAddr::V6(ip)),
        None => false,
    }
}

fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => {
            let [a, b, ..] = ip.octets();
            let shared = a == 100 && (64..128).contains(&b);
            !(ip.is_loopback()
                || ip.is_private()
                || ip.is_link_local()
                || ip.is_unspecified()
                || ip.is_broadcast()
                || ip.is_documentation()
                || shared)
        }
        IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
            Some(v4) => is_public_ip(IpAddr::V4(v4)),
            None => {
                !(ip.is_loopback()
                    || ip.is_unspecified()
                    || ip.is_unique_local()
                    || ip.is_unicast_link_local())
            }
        },
    }
}

/// A message with one URL button under it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub chat_id: String,
    pub text: String,
    pub button_text: String,
    pub button_url: String,
}

/// What the student needs to know about one lesson link.
pub struct Lesson<'a> {
    pub teacher: &'a str,
    pub student: &'a str,
    pub chat_id: &'a str,
    pub zoom_url: &'a str,
    pub tracking_url: &'a str,
}

impl Lesson<'_> {
    /// The message: the button opens the tracking page when Telegram accepts its URL
    /// (`public`); otherwise it opens Zoom and the tracking URL goes in the text.
    pub fn message(&self, public: bool) -> Message {
        let greeting = format!(
            "Hello {}! {} has invited you to a Zoom lesson.",
            self.student, self.teacher
        );
        if public {
            Message {
                chat_id: self.chat_id.to_owned(),
                text: format!(
                    "{greeting}\n\nPress \u{201c}Join the lesson\u{201d} below when it is time. \
                     It opens Zoom and a page that records how long the lesson lasts: leave \
                     that page open until the lesson is over."
                ),
                button_text: "Join the lesson".into(),
                button_url: self.tracking_url.to_owned(),
            }
        } else {
            Message {
                chat_id: self.chat_id.to_owned(),
                text: format!(
                    "{greeting}\n\nThe button opens Zoom directly. To have the lesson time \
                     recorded, open this link instead:\n{}",
                    self.tracking_url
                ),
                button_text: "Open Zoom".into(),
                button_url: self.zoom_url.to_owned(),
            }
        }
    }
}

/// Why an attempt did not deliver, and whether another attempt may.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Worth another attempt, not before `after` when Telegram said so.
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    /// Another attempt would be refused the same way.
    Final(String),
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    ok: bool,
    result: Option<Sent>,
    description: Option<String>,
    parameters: Option<Parameters>,
}

#[derive(Deserialize)]
struct Sent {
    message_id: i64,
}

#[derive(Deserialize)]
struct Parameters {
    retry_after: Option<u64>,
}

#[derive(Serialize)]
struct Button<'a> {
    text: &'a str,
    url: &'a str,
}

/// A client of one bot.
#[derive(Clone)]
pub struct BotApi {
    client: reqwest::Client,
    send_message: Url,
    timeout: Duration,
}

impl BotApi {
    pub fn new(base: &Url, token: &BotToken, timeout: Duration) -> anyhow::Result<Self> {
        let mut send_message = base.clone();
        let path = format!(
            "{}/bot{}/sendMessage",
            base.path().trim_end_matches('/'),
            token.0
        );
        send_message.set_path(&path);
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("zoomtrack/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| anyhow::anyhow!("cannot build the Telegram client: {}", chain(&err)))?;
        Ok(Self {
            client,
            send_message,
            timeout,
        })
    }

    /// The longest one attempt can take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends `message`; the message id Telegram gave it.
    pub async fn send(&self, message: &Message) -> Result<i64, Failure> {
        let body = json!({
            "chat_id": message.chat_id,
            "text": message.text,
            "link_preview_options": { "is_disabled": true },
            "reply_markup": {
                "inline_keyboard": [[Button { text: &message.button_text, url: &message.button_url }]],
            },
        });
        let mut response = self
            .client
            .post(self.send_message.clone())
            .json(&body)
            .send()
            .await
            .map_err(|err| self.transport_failure(err))?;
        let status = response.status();
        let mut answer = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) if answer.len() + chunk.len() <= MAX_ANSWER => {
                    answer.extend_from_slice(&chunk)
                }
                Ok(Some(_)) => break,
                Ok(None) => break,
                Err(err) => return Err(self.transport_failure(err)),
            }
        }
        judge(status.as_u16(), &answer)
    }

    fn transport_failure(&self, err: reqwest::Error) -> Failure {
        let reason = if err.is_timeout() {
            format!(
                "Telegram did not answer within {}",
                humantime::format_duration(self.timeout)
            )
        } else if err.is_connect() {
            format!("cannot reach Telegram: {}", chain(&err))
        } else {
            format!("the request to Telegram failed: {}", chain(&err))
        };
        Failure::Retry {
            reason,
            after: None,
        }
    }
}

/// An error and its causes, without the request URL (it holds the bot token).
fn chain(err: &reqwest::Error) -> String {
    let mut text = String::new();
    let mut source = err.source();
    while let Some(cause) = source {
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    if text.is_empty() {
        let kind = if err.is_timeout() {
            "timed out"
        } else if err.is_connect() {
            "connection failed"
        } else {
            "request failed"
        };
        text.push_str(kind);
    }
    text
}

/// What an answer of the Bot API means.
fn judge(status: u16, body: &[u8]) -> Result<i64, Failure> {
    let answer: Option<Answer> = serde_json::from_slice(body).ok();
    let description = answer
        .as_ref()
        .and_then(|a| a.description.clone())
        .unwrap_or_else(|| {
            http_reason(status)
                .map(str::to_owned)
                .unwrap_or_else(|| "no description".into())
        });
    match (status, answer) {
        (
            200,
            Some(Answer {
                ok: true,
                result: Some(sent),
                ..
            }),
        ) => Ok(sent.message_id),
        (200, _) => Err(Failure::Final(
            "Telegram answered 200 but not as the Bot API does; the message may have been \
             delivered, so it is not sent again"
                .into(),
        )),
        (429, answer) => {
            let after = answer
                .and_then(|a| a.parameters)
                .and_then(|p| p.retry_after)
                .map(|secs| Duration::from_secs(secs).min(MAX_RETRY_AFTER));
            Err(Failure::Retry {
                reason: format!("Telegram asked to slow down (429): {description}"),
                after,
            })
        }
        (500..=599, _) => Err(Failure::Retry {
            reason: format!("Telegram answered {status}: {description}"),
            after: None,
        }),
        (401 | 404, _) => Err(Failure::Final(format!(
            "Telegram refused the bot token ({status}: {description}); check TELEGRAM_BOT_TOKEN"
        ))),
        _ => Err(Failure::Final(format!(
            "Telegram refused the message ({status}): {description}"
        ))),
    }
}

fn http_reason(status: u16) -> Option<&'static str> {
    axum::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(url: &str) -> bool {
        is_public(&Url::parse(url).expect("a URL"))
    }

    #[test]
    fn local_and_private_hosts_are_not_public() {
        for url in [
            "http://localhost:8080",
            "http://app.localhost",
            "http://127.0.0.1:8080",
            "http://10.1.2.3",
            "http://172.16.0.9",
            "http://192.168.1.20:3000",
            "http://169.254.1.1",
            "http://100.64.0.1",
            "http://0.0.0.0:8080",
            "http://[::1]:8080",
            "http://[fd00::1]",
            "http://[fe80::1]",
            "http://[::ffff:192.168.0.1]",
            "http://devbox:8080",
            "http://school.local",
            "http://zoomtrack.internal",
        ] {
            assert!(!public(url), "{url} counted as public");
        }
        for url in [
            "https://lessons.example.com",
            "https://track.school.org/base/",
            "http://203.0.113.1.nip.io",
            "http://8.8.8.8",
            "http://[2001:4860::8888]",
        ] {
            assert!(public(url), "{url} counted as not public");
        }
    }

    #[test]
    fn tokens_are_checked_without_being_repeated() {
        let good: BotToken = "123456789:AAH-abc_DEF"
            .parse()
            .unwrap_or_else(|e| match e {});
        assert!(good.validate().is_ok());
        assert_eq!(format!("{good:?}"), "BotToken(***)");
        for bad in ["", "123456789", ":abc", "12a:abc", "123:abc/def", "123:a b"] {
            let token: BotToken = bad.parse().unwrap_or_else(|e| match e {});
            let err = token.validate().expect_err(bad);
            assert!(bad.is_empty() || !err.contains(bad), "{err}");
        }
    }

    #[test]
    fn answers_decide_the_next_attempt() {
        assert_eq!(
            judge(200, br#"{"ok":true,"result":{"message_id":77}}"#),
            Ok(77)
        );
        let limited = br#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}"#;
        assert!(matches!(
            judge(429, limited),
            Err(Failure::Retry { after: Some(d), .. }) if d == Duration::from_secs(7)
        ));
        assert!(matches!(
            judge(502, b"<html>"),
            Err(Failure::Retry { after: None, .. })
        ));
        let blocked =
            br#"{"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"}"#;
        assert_eq!(
            judge(403, blocked),
            Err(Failure::Final(
                "Telegram refused the message (403): Forbidden: bot was blocked by the user".into()
            ))
        );
        assert!(matches!(judge(400, b"{}"), Err(Failure::Final(_))));
        assert!(matches!(
            judge(404, br#"{"ok":false,"error_code":404,"description":"Not Found"}"#),
            Err(Failure::Final(reason)) if reason.contains("TELEGRAM_BOT_TOKEN")
        ));
        assert!(matches!(judge(200, b"not json"), Err(Failure::Final(_))));
    }

    #[test]
    fn the_button_opens_the_tracking_page_only_when_telegram_accepts_it() {
        let lesson = Lesson {
            teacher: "Anna",
            student: "Bob",
            chat_id: "42",
            zoom_url: "https://zoom.us/j/123456789",
            tracking_url: "https://lessons.example.com/api/zoom/track?token=t",
        };
        let production = lesson.message(true);
        assert_eq!(production.button_url, lesson.tracking_url);
        assert!(production.text.contains("Anna"));
        assert!(!production.text.contains(lesson.tracking_url));
        let development = lesson.message(false);
        assert_eq!(development.button_url, lesson.zoom_url);
        assert!(development.text.contains(lesson.tracking_url));
    }
}
