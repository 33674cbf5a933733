//! The tracking page in a real headless Chromium, over WebDriver, against a server with a 2 s
//! heartbeat and a 10 s timeout. Each scenario does what a student does, measures the real
//! length of the lesson by the test's clock, and compares it with the recorded one.

use std::time::Duration;

use chrono::{DateTime, Utc};
use fantoccini::wd::WindowHandle;
use serde_json::Value;
use tokio::sync::MutexGuard;
use zoomtrack_tests::{
    Backend, Link, TestApp, TestDb, at,
    browser::{Browser, TURN, unavailable},
    run_on,
};

/// The page's heartbeat interval, in seconds: the accuracy every scenario must reach.
const HEARTBEAT: f64 = 2.0;

/// Times are stored to the second: an end at the last heartbeat can lose up to this much more.
const STORED_PRECISION: f64 = 1.0;

const SERVER: &[&str] = &[
    "--heartbeat-interval",
    "2s",
    "--session-timeout",
    "10s",
    "--sweep-interval",
    "1s",
];

struct Lesson {
    app: TestApp,
    browser: Browser,
    link: Link,
    /// The tab the tracking page is in; the first tab stays blank, so that closing the lesson
    /// leaves the browser running.
    tab: WindowHandle,
    blank: WindowHandle,
    _turn: MutexGuard<'static, ()>,
}

impl Lesson {
    /// The server, a browser, and a student opening a new link in a new tab; `None` when
    /// Chromium is not installed. The page launches the Zoom app after 1 s.
    async fn open(db: &TestDb, name: &str) -> Option<Self> {
        Self::open_launching_after(db, name, "1s").await
    }

    async fn open_launching_after(db: &TestDb, name: &str, launch: &str) -> Option<Self> {
        let turn = TURN.lock().await;
        let downloads =
            std::env::temp_dir().join(format!("zt-tracking-{name}-{}", std::process::id()));
        let Some(browser) = Browser::start(&downloads).await else {
            unavailable("chromium or chromedriver is not installed");
            return None;
        };
        let mut args = SERVER.to_vec();
        args.extend(["--zoom-launch-delay", launch]);
        let app = TestApp::spawn(db, &args).await;
        let link = app.issue_link().await;
        let blank = browser.windows().await.expect("the tabs").remove(0);
        let tab = browser.new_window(true).await.expect("a new tab").handle;
        browser
            .switch_to_window(tab.clone())
            .await
            .expect("the new tab in front");
        browser
            .goto(&link.tracking_url)
            .await
            .expect("the tracking page opens");
        let lesson = Self {
            app,
            browser,
            link,
            tab,
            blank,
            _turn: turn,
        };
        lesson.wait_status("ACTIVE", Duration::from_secs(5)).await;
        Some(lesson)
    }

    async fn session(&self) -> Value {
        self.app.link(&self.link.id).await
    }

    /// Waits up to `within` for the session's status; returns the session.
    async fn wait_status(&self, status: &str, within: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let session = self.session().await;
            if session["status"] == status {
                return session;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "not {status} within {within:?}: {session}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The session's recorded start.
    async fn started(&self) -> DateTime<Utc> {
        at(&self.session().await["clickedAt"])
    }

    /// The student closes the lesson's tab.
    async fn close(&self) {
        self.front(&self.tab).await;
        self.browser.close_window().await.expect("the tab closes");
        self.front(&self.blank).await;
    }

    /// Brings `tab` to the front: the tab it replaces becomes hidden.
    async fn front(&self, tab: &WindowHandle) {
        self.browser
            .switch_to_window(tab.clone())
            .await
            .expect("the tab in front");
    }

    /// Recorded minus real length, in seconds, of a session that ended at `real_end`.
    async fn error(&self, session: &Value, real_end: DateTime<Utc>) -> f64 {
        let real = (real_end - self.started().await).num_milliseconds() as f64 / 1000.0;
        let recorded = session["durationSeconds"]
            .as_f64()
            .unwrap_or_else(|| panic!("no recorded length: {session}"));
        eprintln!(
            "real {real:.1} s, recorded {recorded} s, error {:+.1} s",
            recorded - real
        );
        recorded - real
    }

    /// The student closes the tab now: the session must end within a heartbeat of now.
    async fn close_and_check(&self) -> Value {
        let closed = Utc::now();
        self.close().await;
        let session = self.wait_status("ENDED", Duration::from_secs(5)).await;
        assert_eq!(session["endReason"], "TAB_CLOSED");
        let error = self.error(&session, closed).await;
        assert!(error.abs() <= HEARTBEAT, "off by {error:.1} s");
        session
    }

    /// Over the next `seconds`, the session stays active and its last activity moves on.
    async fn keeps_beating(&self, seconds: u64) {
        let before = self.session().await;
        lesson_time(seconds).await;
        let later = self.session().await;
        assert_eq!(later["status"], "ACTIVE", "{later}");
        assert!(
            at(&later["lastActivityAt"]) > at(&before["lastActivityAt"]),
            "no heartbeat in {seconds} s: {later}"
        );
    }

    async fn finish(self) {
        self.browser.quit().await;
        self.app.stop().await;
    }
}

async fn lesson_time(seconds: u64) {
    tokio::time::sleep(Duration::from_secs(seconds)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_the_tab_ends_the_session_when_it_closes() {
    run_on(Backend::Sqlite, |db| async move {
        let Some(lesson) = Lesson::open(&db, "close").await else {
            return;
        };
        lesson_time(7).await;
        lesson.close_and_check().await;
        lesson.finish().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_browser_ends_at_its_last_heartbeat() {
    run_on(Backend::Sqlite, |db| async move {
        let Some(lesson) = Lesson::open(&db, "kill").await else {
            return;
        };
        lesson_time(7).await;
        let killed = Utc::now();
        lesson.browser.kill_browser();
        // No end signal: the sweep ends it once it has been silent for the 10 s timeout.
        let session = lesson.wait_status("TIMEOUT", Duration::from_secs(20)).await;
        assert_eq!(session["endReason"], "TIMED_OUT");
        assert_eq!(session["endedAt"], session["lastActivityAt"]);
        let error = lesson.error(&session, killed).await;
        assert!(
            (-(HEARTBEAT + STORED_PRECISION)..=STORED_PRECISION).contains(&error),
            "off by {error:.1} s"
        );
        lesson.finish().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hidden_page_keeps_beating_and_is_not_an_end() {
    run_on(Backend::Sqlite, |db| async move {
        let Some(lesson) = Lesson::open(&db, "hidden").await else {
            return;
        };
        let browser = &lesson.browser;
        browser
            .execute(
                "window.timesHidden = 0; document.addEventListener('visibilitychange', \
                 function () { if (document.hidden) { window.timesHidden += 1; } }); return true",
                vec![],
            )
            .await
            .expect("the page counts its hidings");
        lesson_time(3).await;
        // The student switches to Zoom: the page is hidden for longer than the timeout.
        lesson.front(&lesson.blank).await;
        let hidden_from = Utc::now();
        lesson_time(12).await;
        let session = lesson.session().await;
        assert_eq!(session["status"], "ACTIVE", "hidden is not an end");
        assert!(
            at(&session["lastActivityAt"]) > hidden_from,
            "the hidden page kept beating: {session}"
        );
        lesson.front(&lesson.tab).await;
        let hidden = browser.execute("return window.timesHidden", vec![]).await;
        assert_eq!(hidden.expect("the hidings"), 1);
        let visibility = browser
            .execute("return document.visibilityState", vec![])
            .await;
        assert_eq!(visibility.expect("the visibility"), "visible");
        lesson_time(2).await;
        assert_eq!(lesson.session().await["status"], "ACTIVE");
        // The page said when it went into the background and came back: its timeline shows it,
        // and the long hidden silence is no interruption.
        lesson.app.flush().await;
        let seen = lesson
            .app
            .admin(
                "query($id: ID!) { session(id: $id) { interruptions timeline { mark } } }",
                serde_json::json!({ "id": lesson.link.id }),
            )
            .await;
        let marks: Vec<&str> = seen["session"]["timeline"]
            .as_array()
            .expect("a timeline")
            .iter()
            .filter_map(|e| {
                e["mark"]
                    .as_str()
                    .filter(|m| m.starts_with("PAGE_") || *m == "AWAY")
            })
            .collect();
        assert_eq!(marks, ["PAGE_HIDDEN", "PAGE_VISIBLE"], "{seen}");
        assert_eq!(seen["session"]["interruptions"], 0, "{seen}");
        lesson.close_and_check().await;
        lesson.finish().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_network_loses_nothing_and_counts_nothing_twice() {
    run_on(Backend::Sqlite, |db| async move {
        let Some(lesson) = Lesson::open(&db, "offline").await else {
            return;
        };
        let browser = &lesson.browser;
        lesson_time(3).await;
        let offline = |off: bool| {
            serde_json::json!({
                "offline": off, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1,
            })
        };
        browser
            .devtools("Network.enable", serde_json::json!({}))
            .await;
        browser
            .devtools("Network.emulateNetworkConditions", offline(true))
            .await;
        let before = lesson.session().await;
        // Two heartbeats fail.
        lesson_time(5).await;
        assert_eq!(
            lesson.session().await["lastActivityAt"],
            before["lastActivityAt"]
        );
        browser
            .devtools("Network.emulateNetworkConditions", offline(false))
            .await;
        lesson_time(4).await;
        let back = lesson.session().await;
        assert_eq!(back["status"], "ACTIVE", "the session goes on: {back}");
        assert_eq!(back["clickedAt"], before["clickedAt"]);
        assert!(at(&back["lastActivityAt"]) > at(&before["lastActivityAt"]));
        lesson.close_and_check().await;
        lesson.finish().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_keeps_one_session_and_its_time() {
    run_on(Backend::Sqlite, |db| async move {
        let Some(lesson) = Lesson::open(&db, "reload").await else {
            return;
        };
        let first = lesson.session().await;
        lesson_time(4).await;
        lesson.browser.refresh().await.expect("the page reloads");
        lesson_time(4).await;
        let reloaded = lesson.wait_status("ACTIVE", Duration::from_secs(3)).await;
        assert_eq!(
            reloaded["clickedAt"], first["clickedAt"],
            "the same session"
        );
        let session = lesson.close_and_check().await;
        assert_eq!(session["clickedAt"], first["clickedAt"]);
        lesson.finish().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_launch_never_replaces_the_page() {
    run_on(Backend::Sqlite, |db| async move {
        let Some(lesson) = Lesson::open(&db, "launch").await else {
            return;
        };
        let browser = &lesson.browser;
        let app_link = browser
            .execute("return document.getElementById('open-app').href", vec![])
            .await
            .expect("the app link");
        assert!(
            app_link
                .as_str()
                .is_some_and(|href| href.starts_with("zoommtg://")),
            "{app_link}"
        );
        // Well past the 1 s launch delay: the app launch went through the URL scheme, and the
        // page is still here, beating.
        lesson_time(4).await;
        assert_eq!(
            browser.current_url().await.expect("the address").as_str(),
            lesson.link.tracking_url
        );
        lesson.keeps_beating(3).await;
        lesson.finish().await;
    })
    .await;
}

/// Headless Chromium answers the app launch with the browser's own "open this app?" prompt,
/// which holds the tab's input until the student answers it, as it does on a desktop. No
/// WebDriver command answers that prompt, so this student has not been asked yet (the launch
/// is a minute away).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_in_the_browser_opens_the_meeting_in_a_new_tab() {
    run_on(Backend::Sqlite, |db| async move {
        let Some(lesson) = Lesson::open_launching_after(&db, "join", "60s").await else {
            return;
        };
        let browser = &lesson.browser;
        let join = browser
            .execute(
                "const a = document.getElementById('join-browser'); \
                 return [a.href, a.target, a.rel]",
                vec![],
            )
            .await
            .expect("the join link");
        assert_eq!(
            join[0].as_str().map(|href| href.starts_with("https://")),
            Some(true)
        );
        assert_eq!(join[1], "_blank");
        assert_eq!(join[2], "noopener noreferrer");
        let tabs = browser.windows().await.expect("the tabs");
        browser.click("#join-browser").await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let meeting = loop {
            let now_open = browser.windows().await.expect("the tabs");
            if let Some(new) = now_open.into_iter().find(|tab| !tabs.contains(tab)) {
                break new;
            }
            assert!(tokio::time::Instant::now() < deadline, "no new tab");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(
            browser.current_url().await.expect("the address").as_str(),
            lesson.link.tracking_url
        );
        // The student is in the meeting's tab; the tracking page, now behind it, keeps beating.
        lesson.front(&meeting).await;
        lesson.keeps_beating(4).await;
        lesson.finish().await;
    })
    .await;
}
