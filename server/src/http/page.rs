//! The tracking page: opens Zoom without leaving itself, and keeps reporting until it closes.
//!
//! No third-party resources and no cookies; a per-response nonce is the only way its inline
//! script and style run.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::STANDARD_NO_PAD};
use entity::zoom_link;
use serde_json::json;

use crate::{config::Settings, domain::ZoomUrl};

const STYLE: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;min-height:100vh;\
display:flex;align-items:center;justify-content:center;background:#f4f6fb;color:#1d2433}\
main{max-width:32rem;margin:1.5rem;padding:2rem;background:#fff;border-radius:12px;\
box-shadow:0 2px 12px rgba(0,0,0,.08);text-align:center}\
h1{font-size:1.4rem;margin:0 0 .75rem}p{line-height:1.5}\
.button{display:inline-block;padding:.75rem 1.5rem;border-radius:8px;background:#0b5cff;\
color:#fff;text-decoration:none;font-weight:600}\
.muted{color:#5b6478;font-size:.9rem}";

/// Heartbeats, end on `pagehide` (never `unload`), and the Zoom app launch after a delay.
const SCRIPT: &str = r#"(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("tracking-config").textContent);
  var statusLine = document.getElementById("status");
  if (!cfg.tracking) { return; }
  var body = JSON.stringify({ token: cfg.token, visit: cfg.visit });
  var closed = false;
  var resuming = false;
  function post(path, payload) {
    return fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: payload || body,
      keepalive: true,
      credentials: "omit",
      cache: "no-store"
    });
  }
  function stop(message) {
    closed = true;
    clearInterval(timer);
    statusLine.textContent = message;
  }
  function beat() {
    if (closed) { return; }
    var visible = document.visibilityState === "visible";
    post("heartbeat", JSON.stringify({ token: cfg.token, visit: cfg.visit, visible: visible })).then(function (response) {
      if (response.ok) { resuming = false; return; }
      return response.json().then(function (answer) {
        if (answer.status === "ended" && !resuming) {
          // Our own end from a reload can land after the new page opened: pick the session up again.
          resuming = true;
          return fetch(location.href, { cache: "no-store", credentials: "omit" }).then(beat);
        }
        if (response.status === 409 || response.status === 404) {
          stop("This lesson is no longer being recorded. You can close this tab.");
        }
      });
    }).catch(function () { /* offline: the next beat tries again */ });
  }
  var timer = setInterval(beat, cfg.heartbeatMs);
  beat();
  document.addEventListener("visibilitychange", beat);
  window.addEventListener("online", beat);
  window.addEventListener("pagehide", function () {
    if (closed) { return; }
    closed = true;
    clearInterval(timer);
    var sent = navigator.sendBeacon && navigator.sendBeacon("end-session", body);
    if (!sent) { post("end-session").catch(function () {}); }
  });
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) { location.reload(); }
  });
  if (cfg.appUrl) {
    setTimeout(function () { window.location.href = cfg.appUrl; }, cfg.launchDelayMs);
  }
})();"#;

/// Text made safe to place in HTML, in an element or a quoted attribute.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn nonce() -> Option<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).ok()?;
    Some(STANDARD_NO_PAD.encode(bytes))
}

fn secure(mut response: Response, nonce: &str) -> Response {
    let csp = format!(
        "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; \
         connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'"
    );
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("x-robots-tag", HeaderValue::from_static("noindex"));
    response
}

fn document(nonce: &str, title: &str, main: &str, config: &serde_json::Value) -> String {
    // `<` escaped so the JSON can never close its script element.
    let config = config.to_string().replace('<', "\\u003c");
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>{title}</title>\
         <style nonce=\"{nonce}\">{STYLE}</style></head>\
         <body><main>{main}</main>\
         <script type=\"application/json\" id=\"tracking-config\">{config}</script>\
         <script nonce=\"{nonce}\">{SCRIPT}</script></body></html>\n",
        title = escape(title),
    )
}

/// What the page does for this request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// The session is tracked: heartbeats, end on close, the app launch.
    Tracking,
    /// The session is over: the meeting links only.
    Over,
    /// A link preview or HEAD request: nothing recorded, nothing launched.
    Preview,
}

pub fn tracking(settings: &Settings, view: View, link: &zoom_link::Model) -> Response {
    // The stored address is checked again before it becomes a link on the page: a row written
    // by other means than the API never puts anything but a Zoom meeting there.
    let zoom = ZoomUrl::parse(&link.zoom_url).ok();
    let app_url = zoom.as_ref().and_then(ZoomUrl::app_url);
    let (title, lead) = match view {
        View::Tracking => (
            "Opening your Zoom lesson…",
            "Keep this tab open during the lesson: it records how long the lesson lasts.",
        ),
        View::Over => (
            "This lesson's session is over",
            "The lesson time for this link has already been recorded. You can still join the meeting.",
        ),
        View::Preview => ("Your Zoom lesson", "Open this link to join your lesson."),
    };
    let tracking = view == View::Tracking;
    let app_button = app_url.as_deref().map_or_else(String::new, |url| {
        format!(
            "<p><a id=\"open-app\" class=\"button\" href=\"{}\">Open the Zoom app</a></p>",
            escape(url)
        )
    });
    let browser_link = match &zoom {
        Some(zoom) => format!(
            "<p><a id=\"join-browser\" href=\"{}\" target=\"_blank\" \
             rel=\"noopener noreferrer\">Join in the browser instead</a></p>",
            escape(zoom.as_str())
        ),
        None => "<p id=\"no-meeting\">This link's meeting address is not a Zoom meeting: ask \
                 your teacher for the meeting link.</p>"
            .to_owned(),
    };
    let main = format!(
        "<h1>{title}</h1><p id=\"status\">{lead}</p>{app_button}{browser_link}\
         <p class=\"muted\">Closing this tab tells your school the lesson has ended.</p>",
        title = escape(title),
        lead = escape(lead),
    );
    let config = if tracking {
        json!({
            "tracking": true,
            "token": link.tracking_token,
            "visit": link.visit_id,
            "heartbeatMs": settings.rules.heartbeat.num_milliseconds(),
            "launchDelayMs": settings.zoom_launch_delay.as_millis() as u64,
            "appUrl": app_url,
        })
    } else {
        json!({ "tracking": false })
    };
    let Some(nonce) = nonce() else {
        return super::error::ApiError::from(crate::services::ServiceError::Internal(
            "no randomness for the page nonce".into(),
        ))
        .into_response();
    };
    secure(
        Html(document(&nonce, title, &main, &config)).into_response(),
        &nonce,
    )
}

pub fn error(status: StatusCode, message: &str) -> Response {
    // The error page needs no script: a fixed nonce only lets its style apply.
    let nonce = nonce().unwrap_or_else(|| "error-page".into());
    let main = format!(
        "<h1>This lesson link does not work</h1><p id=\"status\">{}</p>\
         <p class=\"muted\">Ask your teacher to send the link again.</p>",
        escape(message)
    );
    let config = json!({ "tracking": false });
    let mut response =
        Html(document(&nonce, "Lesson link problem", &main, &config)).into_response();
    *response.status_mut() = status;
    secure(response, &nonce)
}
