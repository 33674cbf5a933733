//! The admin dashboard in a real headless Chromium, driven over WebDriver, against the whole
//! server on port 0 serving the built dashboard.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use chrono::SubsecRound;
use tokio::sync::MutexGuard;
use zoomtrack_tests::{
    ADMIN_TOKEN, Backend, TestApp, TestDb,
    browser::{Browser, TURN, unavailable},
    run_on, zoom,
};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn dist() -> PathBuf {
    workspace().join("admin-ui/dist")
}

struct Dashboard {
    app: TestApp,
    browser: Browser,
    _turn: MutexGuard<'static, ()>,
}

impl Dashboard {
    /// The server (with `extra` flags) and a browser; `None` when the dashboard is not built
    /// or Chromium is not installed.
    async fn open(db: &TestDb, name: &str, extra: &[&str]) -> Option<Self> {
        Self::open_in(db, name, &dist(), extra).await
    }

    /// As [`Dashboard::open`], the server serving the dashboard from `folder`.
    async fn open_in(db: &TestDb, name: &str, folder: &Path, extra: &[&str]) -> Option<Self> {
        let turn = TURN.lock().await;
        if !dist().join("index.html").is_file() {
            unavailable("the dashboard is not built (trunk build --release)");
            return None;
        }
        let downloads =
            std::env::temp_dir().join(format!("zt-downloads-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&downloads);
        let Some(browser) = Browser::start(&downloads).await else {
            unavailable("chromium or chromedriver is not installed");
            return None;
        };
        let dir = folder.display().to_string();
        let mut args = vec!["--admin-ui-dir", dir.as_str()];
        args.extend_from_slice(extra);
        let app = TestApp::spawn(db, &args).await;
        Some(Self {
            app,
            browser,
            _turn: turn,
        })
    }

    async fn sign_in(&self) {
        self.browser
            .goto(&self.app.url("/admin/"))
            .await
            .expect("the dashboard opens");
        self.browser.type_into("#token", ADMIN_TOKEN).await;
        self.browser.click("#sign-in").await;
        self.browser.wait_for_text("#connection", "Live").await;
    }

    /// Rows of the sessions table.
    async fn rows(&self) -> i64 {
        self.browser
            .execute(
                "return document.querySelectorAll('#sessions tbody tr').length",
                vec![],
            )
            .await
            .expect("the rows counted")
            .as_i64()
            .unwrap_or(-1)
    }

    async fn wait_rows(&self, expected: i64) {
        let script = format!(
            "return document.querySelectorAll('#sessions tbody tr').length === {expected} \
             && document.querySelector('#sessions').getAttribute('aria-busy') === 'false'"
        );
        assert!(
            self.browser
                .wait_for(&script, Duration::from_secs(10))
                .await,
            "the table has {} rows, not {expected}",
            self.rows().await
        );
    }

    async fn close(self) {
        self.browser.quit().await;
        self.app.stop().await;
    }
}

fn row_is(id: &str, status: &str) -> String {
    format!(
        "const r = document.querySelector('tr[data-session=\"{id}\"]'); return r !== null && r.dataset.status === '{status}'"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_signs_in_and_the_overview_shows_the_numbers() {
    run_on(Backend::Sqlite, |db| async move {
        let Some(d) = Dashboard::open(&db, "overview", &[]).await else {
            return;
        };
        let ended = d.app.issue_link().await;
        d.app.track(&ended.token).await;
        d.app.end_session(&ended.token).await;
        let active = d.app.issue_link().await;
        d.app.track(&active.token).await;
        d.app.issue_link().await;

        d.browser
            .goto(&d.app.url("/admin/"))
            .await
            .expect("the dashboard opens");
        d.browser.find("#token").await;
        // A first visit (an empty cache): the page and every file of the app it loads, as
        // transferred (compressed, headers included), against their size once decoded.
        let visit = d
            .browser
            .execute(
                "const all = [...performance.getEntriesByType('navigation'), \
                   ...performance.getEntriesByType('resource')] \
                   .filter(e => new URL(e.name).pathname.startsWith('/admin/')); \
                 const wasm = all.find(e => e.name.endsWith('.wasm')); \
                 return { transferred: all.reduce((n, e) => n + e.transferSize, 0), \
                   decoded: all.reduce((n, e) => n + e.decodedBodySize, 0), files: all.length, \
                   wasm: wasm ? [wasm.encodedBodySize, wasm.decodedBodySize] : null }",
                vec![],
            )
            .await
            .expect("the visit measured");
        eprintln!("a first visit of the dashboard: {visit}");
        let transferred = visit["transferred"].as_i64().unwrap_or(i64::MAX);
        assert!(
            transferred <= 300 * 1024,
            "a first visit transfers at most 300 KiB: {visit}"
        );
        let (encoded, decoded) = (visit["wasm"][0].as_i64(), visit["wasm"][1].as_i64());
        assert!(
            matches!((encoded, decoded), (Some(e), Some(d)) if e > 0 && e * 2 < d),
            "the app's wasm arrives compressed: {visit}"
        );
        d.browser
            .type_into("#token", "not-a-real-credential-0000")
            .await;
        d.browser.click("#sign-in").await;
        d.browser
            .wait_for_text(
                "#sign-in-error",
                "This credential is not valid or has been revoked.",
            )
            .await;
        d.browser.clear("#token").await;
        d.browser.type_into("#token", ADMIN_TOKEN).await;
        let started = Instant::now();
        d.browser.click("#sign-in").await;
        d.browser.wait_for_text("#stat-total", "2").await;
        let shown_after = started.elapsed();
        d.browser.wait_for_text("#stat-active", "1").await;
        d.browser.wait_for_text("#stat-ended", "1").await;
        d.browser.wait_for_text("#stat-timeout", "0").await;
        d.browser.wait_for_text("#stat-never-clicked", "1").await;
        d.browser.wait_for_text("#connection", "Live").await;
        d.browser.find("#chart-sessions rect.bar").await;
        d.browser.find("#chart-durations rect.bar").await;
        eprintln!("overview numbers shown {shown_after:?} after sign-in");
        d.browser
            .save_screenshot(&workspace().join("target/screenshots/overview.png"))
            .await;

        // A session that starts now shows up in the numbers without a reload.
        let live = d.app.issue_link().await;
        d.app.track(&live.token).await;
        d.browser.wait_for_text("#stat-active", "2").await;
        d.browser.wait_for_text("#stat-never-clicked", "1").await;

        d.browser.click("#sign-out").await;
        d.browser
            .wait_for_text("#sign-in-error", "Signed out.")
            .await;
        d.close().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_appears_live_and_its_end_changes_its_row() {
    run_on(Backend::Sqlite, |db| async move {
        let Some(d) = Dashboard::open(&db, "live", &[]).await else {
            return;
        };
        d.sign_in().await;
        d.browser.click("#nav-sessions").await;
        d.wait_rows(0).await;
        let link = d.app.issue_link().await;
        d.app.track(&link.token).await;
        assert!(
            d.browser
                .wait_for(&row_is(&link.id, "ACTIVE"), Duration::from_secs(2))
                .await,
            "the new session did not appear within 2 seconds"
        );
        let running = d
            .browser
            .text(&format!("tr[data-session=\"{}\"] .duration", link.id))
            .await;
        assert!(running.ends_with("(running)"), "{running}");
        d.app.end_session(&link.token).await;
        assert!(
            d.browser
                .wait_for(&row_is(&link.id, "ENDED"), Duration::from_secs(2))
                .await,
            "the end did not reach the row within 2 seconds"
        );
        assert_eq!(
            d.browser
                .text(&format!("tr[data-session=\"{}\"] .end-reason", link.id))
                .await,
            "Tracking page closed"
        );
        // Under a status filter, a session that leaves the status leaves the table.
        d.browser.click("#status-active").await;
        d.wait_rows(0).await;
        let next = d.app.issue_link().await;
        d.app.track(&next.token).await;
        assert!(
            d.browser
                .wait_for(&row_is(&next.id, "ACTIVE"), Duration::from_secs(2))
                .await,
            "a new active session did not appear under the Active filter"
        );
        d.app.end_session(&next.token).await;
        d.wait_rows(0).await;
        d.close().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_narrow_the_table_and_the_export_holds_every_matching_row() {
    run_on(Backend::Sqlite, |db| async move {
        let Some(d) = Dashboard::open(&db, "filters", &[]).await else {
            return;
        };
        let teacher = d.app.create_teacher("Anna Teacher").await;
        let mut links = Vec::new();
        for name in ["Bob Stone", "Carla Reyes", "Dan Carlsen"] {
            let student = d.app.create_student(name).await;
            let link = d
                .app
                .issue_link_for(Some(ADMIN_TOKEN), &teacher, &student)
                .await
                .expect("link");
            d.app.track(&link.token).await;
            links.push(link);
        }
        d.app.end_session(&links[0].token).await;
        d.app.end_session(&links[1].token).await;

        d.sign_in().await;
        d.browser.click("#nav-sessions").await;
        d.wait_rows(3).await;
        d.browser.type_into("#filter-search", "carl").await;
        d.wait_rows(2).await;
        let search = d
            .browser
            .execute("return location.search", vec![])
            .await
            .expect("the address");
        assert!(
            search.as_str().unwrap_or_default().contains("search=carl"),
            "{search}"
        );
        // The view is in the URL: opening it again shows the same rows.
        let url = d.browser.current_url().await.expect("the address");
        d.browser
            .goto(url.as_str())
            .await
            .expect("the view opens again");
        d.wait_rows(2).await;
        d.browser.click("#status-ended").await;
        d.wait_rows(1).await;
        d.browser.click("#filter-clear").await;
        d.wait_rows(3).await;
        d.browser.click("#status-ended").await;
        d.wait_rows(2).await;

        d.browser.click("#export-csv").await;
        let csv = downloaded_csv(&d.browser.downloads).await;
        let lines: Vec<&str> = csv.lines().collect();
        assert!(lines[0].starts_with("session_id,"), "{csv}");
        assert_eq!(lines.len(), 3, "{csv}");
        for link in &links[..2] {
            assert!(
                lines
                    .iter()
                    .any(|l| l.starts_with(&format!("{},", link.id)) && l.contains(",ended,")),
                "{csv}"
            );
        }
        d.close().await;
    })
    .await
}

/// The CSV file the browser saved, once it is complete.
async fn downloaded_csv(dir: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let done = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.path())
            .find(|path| path.extension().is_some_and(|ext| ext == "csv"));
        if let Some(path) = done {
            return std::fs::read_to_string(path).expect("the download");
        }
        assert!(Instant::now() < deadline, "no CSV was downloaded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timeout_button_ends_a_stale_session() {
    run_on(Backend::Sqlite, |db| async move {
        let Some(d) = Dashboard::open(&db, "timeout", &[]).await else {
            return;
        };
        let stale = d.app.issue_link().await;
        d.app.track(&stale.token).await;
        d.app.backdate(&stale.id, 3 * 3600).await;
        let fresh = d.app.issue_link().await;
        d.app.track(&fresh.token).await;

        d.sign_in().await;
        d.browser.click("#nav-sessions").await;
        d.wait_rows(2).await;
        d.browser.click("#auto-timeout").await;
        d.browser.click("#confirm-timeout-yes").await;
        d.browser
            .wait_for_text("#timeout-result", "Ended 1 idle session.")
            .await;
        assert!(
            d.browser
                .wait_for(&row_is(&stale.id, "TIMEOUT"), Duration::from_secs(5))
                .await
        );
        assert_eq!(
            d.browser
                .text(&format!("tr[data-session=\"{}\"] .end-reason", stale.id))
                .await,
            "No activity: ended at the last heartbeat"
        );
        assert!(
            d.browser
                .wait_for(&row_is(&fresh.id, "ACTIVE"), Duration::from_secs(1))
                .await
        );
        d.close().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_runs_the_product_from_the_browser() {
    run_on(Backend::Sqlite, |db| async move {
        let Some(d) = Dashboard::open(&db, "people", &[]).await else {
            return;
        };
        d.sign_in().await;
        d.browser.click("#nav-people").await;
        d.browser.type_into("#teacher-name", "Anna Petrova").await;
        d.browser.type_into("#teacher-chat", "123456789").await;
        d.browser.click("#teacher-add").await;
        d.browser.type_into("#student-name", "Bob Lee").await;
        d.browser.type_into("#student-chat", "-1001234567890").await;
        d.browser.click("#student-add").await;
        d.browser.wait_for_text("#teachers li strong", "Anna Petrova").await;
        d.browser.wait_for_text("#students li strong", "Bob Lee").await;
        d.browser
            .execute("const s = document.querySelector('#link-teacher'); s.selectedIndex = 1; s.dispatchEvent(new Event('change')); const t = document.querySelector('#link-student'); t.selectedIndex = 1; t.dispatchEvent(new Event('change')); return true", vec![])
            .await
            .expect("a teacher and a student chosen");
        d.browser
            .type_into("#link-zoom", "https://us02web.zoom.us/j/85012345678?pwd=abc")
            .await;
        d.browser.click("#link-issue").await;
        let tracking = d.browser.text("#tracking-url").await;
        assert!(tracking.starts_with(&d.app.url("/api/zoom/track?token=")), "{tracking}");
        d.browser
            .wait_for_text("#notification-state", "off: the server has no Telegram bot token")
            .await;
        // The student opens the link; the admin watches it on the sessions view.
        let token = tracking.rsplit_once("token=").map(|(_, t)| t.to_owned()).unwrap_or_default();
        d.app.track(&token).await;
        d.browser.click("#nav-sessions").await;
        d.wait_rows(1).await;
        let teacher = d.browser.text("#sessions tbody tr td").await;
        assert_eq!(teacher, "Anna Petrova");
        d.close().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_reconnects_by_itself_after_the_server_restarts() {
    run_on(Backend::Sqlite, |db| async move {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let addr = format!("127.0.0.1:{port}");
        let Some(d) = Dashboard::open(&db, "restart", &["--bind-addr", &addr]).await else {
            return;
        };
        d.sign_in().await;
        d.browser.click("#nav-sessions").await;
        d.wait_rows(0).await;
        let Dashboard {
            app,
            browser,
            _turn,
        } = d;
        app.stop().await;
        let down =
            "return document.querySelector('#connection').textContent.startsWith('Reconnecting')";
        assert!(
            browser.wait_for(down, Duration::from_secs(10)).await,
            "the lost link is not shown"
        );
        let dir = dist().display().to_string();
        let app =
            TestApp::spawn(&db, &["--bind-addr", &addr, "--admin-ui-dir", dir.as_str()]).await;
        browser.wait_for_text("#connection", "Live").await;
        let link = app.issue_link().await;
        app.track(&link.token).await;
        assert!(
            browser
                .wait_for(&row_is(&link.id, "ACTIVE"), Duration::from_secs(5))
                .await,
            "no live update after the reconnect"
        );
        browser.quit().await;
        app.stop().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_teacher_row_opens_that_teachers_sessions() {
    run_on(Backend::Sqlite, |db| async move {
        let Some(d) = Dashboard::open(&db, "teachers", &[]).await else {
            return;
        };
        let anna = d.app.issue_link().await;
        d.app.track(&anna.token).await;
        let other = d.app.create_teacher("Zed Teacher").await;
        let student = d.app.create_student("Yan Student").await;
        let zed = d
            .app
            .issue_link_for(Some(ADMIN_TOKEN), &other, &student)
            .await
            .expect("link");
        d.app.track(&zed.token).await;
        d.app.end_session(&zed.token).await;

        d.sign_in().await;
        d.browser.click("#nav-teachers").await;
        d.browser
            .find(&format!("#teacher-stats tr[data-teacher=\"{other}\"]"))
            .await;
        d.browser
            .click(&format!("#teacher-stats tr[data-teacher=\"{other}\"]"))
            .await;
        d.wait_rows(1).await;
        assert!(
            d.browser
                .wait_for(&row_is(&zed.id, "ENDED"), Duration::from_secs(2))
                .await
        );
        let search = d
            .browser
            .execute("return location.search", vec![])
            .await
            .expect("the address");
        assert!(
            search
                .as_str()
                .unwrap_or_default()
                .contains(&format!("teacher={other}")),
            "{search}"
        );
        d.close().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_zoom_ended_shows_zoom_as_its_source_and_the_time_in_the_meeting() {
    run_on(Backend::Sqlite, |db| async move {
        let Some(d) = Dashboard::open(&db, "zoom", &["--zoom-webhook-secret", zoom::SECRET]).await
        else {
            return;
        };
        let link = d.app.issue_link().await;
        d.app.track(&link.token).await;
        let click = chrono::Utc::now().trunc_subsecs(0);
        let student = ("p-bob", "Bob Student");
        // In the meeting 10 min, dropped out for 2, back for 20.
        let join = click + chrono::Duration::seconds(5);
        for event in [
            zoom::joined(student, join),
            zoom::left(student, join + chrono::Duration::minutes(10)),
            zoom::joined(student, join + chrono::Duration::minutes(12)),
            zoom::left(student, join + chrono::Duration::minutes(32)),
        ] {
            zoom::deliver(&d.app, &event).await;
        }
        d.sign_in().await;
        d.browser.click("#nav-sessions").await;
        d.wait_rows(1).await;
        assert!(
            d.browser
                .wait_for(&row_is(&link.id, "ENDED"), Duration::from_secs(2))
                .await
        );
        let cell = |class: &str| format!("tr[data-session=\"{}\"] .{class}", link.id);
        assert_eq!(
            d.browser.text(&cell("end-reason")).await,
            "Left the Zoom meeting (Zoom)"
        );
        assert_eq!(
            d.browser.text(&cell("duration")).await,
            "32:00 (30:00 in Zoom)"
        );
        d.close().await;
    })
    .await;
}

/// The server started before its dashboard was built: the building page the browser shows
/// reloads itself into the dashboard once the build lands in the folder, without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_building_page_turns_into_the_dashboard_without_a_restart() {
    run_on(Backend::Sqlite, |db| async move {
        let folder = std::env::temp_dir().join(format!("zt-ui-later-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&folder);
        let Some(d) = Dashboard::open_in(&db, "later", &folder, &[]).await else {
            return;
        };
        d.browser
            .goto(&d.app.url("/admin/"))
            .await
            .expect("the dashboard opens");
        d.browser
            .wait_for_text("#building", "The dashboard is not built yet")
            .await;
        copy_folder(&dist(), &folder);
        assert!(
            d.browser
                .wait_for(
                    "return document.querySelector('#token') !== null",
                    Duration::from_secs(15)
                )
                .await,
            "the building page did not turn into the dashboard"
        );
        d.sign_in().await;
        d.close().await;
        let _ = std::fs::remove_dir_all(&folder);
    })
    .await;
}

/// Copies a build as a build lands: beside the folder first, then renamed into place.
fn copy_folder(from: &Path, to: &Path) {
    let staged = to.with_extension("staged");
    copy_tree(from, &staged);
    std::fs::rename(&staged, to).expect("moved into place");
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("folder");
    for entry in std::fs::read_dir(from).expect("the build") {
        let entry = entry.expect("a file of the build");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copied");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_revoked_from_the_dashboard_and_graphiql_runs_from_this_server() {
    run_on(Backend::Sqlite, |db| async move {
        let Some(d) = Dashboard::open(&db, "keys", &["--graphiql", "1"]).await else {
            return;
        };
        let teacher = d.app.create_teacher("Anna Petrova").await;
        let key = d.app.teacher_key(&teacher).await;
        d.sign_in().await;
        d.browser.click("#nav-keys").await;
        let listed = "return document.querySelectorAll('#api-keys tbody tr').length === 1";
        assert!(
            d.browser.wait_for(listed, Duration::from_secs(10)).await,
            "the key is listed"
        );
        let row = d.browser.text("#api-keys tbody tr").await;
        assert!(
            row.contains("Anna Petrova") && row.contains("active"),
            "{row}"
        );
        assert!(!row.contains(&key), "no token on the page");
        d.browser.click("#api-keys button.revoke").await;
        let revoked = "return document.querySelector('#api-keys tbody tr td:nth-child(6)')\
                       .textContent.startsWith('revoked')";
        assert!(
            d.browser.wait_for(revoked, Duration::from_secs(10)).await,
            "the key shows as revoked"
        );
        let refused = d
            .app
            .graphql_as(Some(&key), "{ me { role } }", serde_json::json!({}))
            .await;
        assert_eq!(
            refused["errors"][0]["extensions"]["code"],
            "UNAUTHENTICATED"
        );

        // GraphiQL: its scripts come from this server and run under its policy.
        d.browser
            .goto(&d.app.url("/graphql"))
            .await
            .expect("GraphiQL opens");
        let running = "return document.querySelector('.graphiql-container') !== null";
        assert!(
            d.browser.wait_for(running, Duration::from_secs(15)).await,
            "GraphiQL did not start"
        );
        d.close().await;
    })
    .await
}

/// Sets an input's value as if typed, then tells the app (`input` and `change`).
async fn set_value(browser: &Browser, css: &str, script_value: &str) {
    browser
        .execute(
            &format!(
                "const el = document.querySelector('{css}'); el.value = {script_value}; \
                 el.dispatchEvent(new Event('input')); el.dispatchEvent(new Event('change')); \
                 return el.value"
            ),
            vec![],
        )
        .await
        .expect("the value set");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_page_shows_the_timeline_and_a_correction() {
    run_on(Backend::Sqlite, |db| async move {
        let Some(d) = Dashboard::open(&db, "lesson", &[]).await else {
            return;
        };
        let teacher = d.app.create_teacher("Anna Teacher").await;
        let student = d.app.create_student("Bob Student").await;
        let start = chrono::Utc::now().trunc_subsecs(0) - chrono::Duration::minutes(50);
        let issued = d
            .app
            .admin(
                "mutation($t: ID!, $s: ID!, $start: DateTime) { issueZoomLink(input: {teacherId: $t, studentId: $s, zoomUrl: \"https://zoom.us/j/123456789\", plannedStart: $start, plannedMinutes: 40}) { id trackingUrl } }",
                serde_json::json!({ "t": teacher, "s": student, "start": start.to_rfc3339() }),
            )
            .await;
        let id = issued["issueZoomLink"]["id"].as_str().unwrap().to_owned();
        let url = issued["issueZoomLink"]["trackingUrl"].as_str().unwrap();
        let token = url.rsplit_once("token=").unwrap().1.to_owned();
        // Opened ten minutes after the planned start, for 40 minutes.
        d.app.track(&token).await;
        d.app.backdate(&id, 40 * 60).await;
        d.app.end_session(&token).await;
        let measured = d.app.link(&id).await;

        d.sign_in().await;
        d.browser.click("#nav-sessions").await;
        d.wait_rows(1).await;
        d.browser
            .find(&format!("tr[data-session=\"{id}\"] [data-attendance=\"LATE\"]"))
            .await;
        d.browser.click(&format!("tr[data-session=\"{id}\"]")).await;
        d.browser
            .wait_for_text("#lesson-title", "Anna Teacher → Bob Student")
            .await;
        for mark in ["ISSUED", "OPENED", "ENDED"] {
            d.browser
                .find(&format!("#timeline li[data-mark=\"{mark}\"]"))
                .await;
        }
        assert_eq!(d.browser.text("#lesson-interruptions").await, "None");
        assert!(
            d.browser.text("#lesson-plan").await.ends_with("for 40 min"),
            "{}",
            d.browser.text("#lesson-plan").await
        );
        let search = d
            .browser
            .execute("return location.search", vec![])
            .await
            .expect("the address");
        assert!(
            search.as_str().unwrap_or_default().contains(&format!("session={id}")),
            "{search}"
        );

        // The end moved five minutes earlier, with a reason: the page shows the correction and
        // the table marks the session.
        set_value(
            &d.browser,
            "#correct-ended-at",
            "(() => { const t = new Date(new Date(el.value).getTime() - 5 * 60000); \
              return t.toLocaleString('sv-SE').replace(' ', 'T'); })()",
        )
        .await;
        d.browser
            .type_into("#correct-reason", "The student stayed 5 minutes less")
            .await;
        d.browser.click("#correct-save").await;
        d.browser
            .wait_for_text("#correct-result", "Saved: the session shows the corrected end.")
            .await;
        d.browser
            .wait_for_text(
                "#lesson-correction-reason",
                "The student stayed 5 minutes less",
            )
            .await;
        d.browser
            .find("#timeline li[data-mark=\"CORRECTED\"]")
            .await;
        // 35 minutes of the planned 40: short now.
        d.browser.find("#lesson [data-attendance=\"SHORT\"]").await;
        let corrected = d.app.link(&id).await;
        assert_eq!(
            corrected["durationSeconds"].as_i64().unwrap(),
            (measured["durationSeconds"].as_i64().unwrap() - 300).max(0),
            "{measured} {corrected}"
        );
        d.browser
            .save_screenshot(&workspace().join("target/screenshots/session-page.png"))
            .await;
        d.browser.click("#lesson-back").await;
        d.wait_rows(1).await;
        d.browser
            .find(&format!("tr[data-session=\"{id}\"] .badge.corrected"))
            .await;
        d.close().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_teachers_view_compares_payroll_periods_and_downloads_it() {
    run_on(Backend::Sqlite, |db| async move {
        let Some(d) = Dashboard::open(&db, "payroll", &[]).await else {
            return;
        };
        let anna: i64 = d.app.create_teacher("Anna Teacher").await.parse().unwrap();
        let student: i64 = d.app.create_student("Bob Student").await.parse().unwrap();
        let day = |d: u32, h: u32| {
            use chrono::TimeZone;
            chrono::Utc.with_ymd_and_hms(2026, 3, d, h, 0, 0).unwrap()
        };
        let lesson = |at| zoomtrack_tests::Seed {
            teacher_id: anna,
            student_id: student,
            at,
            status: Some(entity::zoom_link::SessionStatus::Ended),
            duration_seconds: Some(1800),
        };
        // Three lessons in 1–10 March, one in the ten days before.
        let seeds = [
            lesson(day(2, 12)),
            lesson(day(5, 12)),
            lesson(day(9, 12)),
            zoomtrack_tests::Seed {
                at: chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 2, 25, 12, 0, 0)
                    .unwrap(),
                ..lesson(day(1, 0))
            },
        ];
        zoomtrack_tests::insert_seeds(&d.app.db, &seeds, 0).await;

        d.sign_in().await;
        d.browser.click("#nav-teachers").await;
        set_value(&d.browser, "#payroll-from", "'2026-03-01'").await;
        set_value(&d.browser, "#payroll-to", "'2026-03-10'").await;
        d.browser
            .wait_for_text(
                "#payroll-previous",
                "Compared with 2026-02-19 to 2026-02-28.",
            )
            .await;
        let row = format!("#payroll tr[data-teacher=\"{anna}\"]");
        d.browser
            .wait_for_text(&format!("{row} .lessons"), "3")
            .await;
        d.browser
            .wait_for_text(&format!("{row} .lessons-change"), "+2")
            .await;
        d.browser
            .wait_for_text(&format!("{row} .paid"), "1 h 30 min")
            .await;
        d.browser
            .wait_for_text(&format!("{row} .paid-change"), "+60 min")
            .await;

        d.browser.click("#payroll-csv").await;
        let csv = downloaded_csv(&d.browser.downloads).await;
        let lines: Vec<&str> = csv.lines().collect();
        assert!(
            lines[0].starts_with("teacher_id,teacher_name,lessons,paid_minutes"),
            "{csv}"
        );
        assert_eq!(lines.len(), 2, "{csv}");
        assert!(
            lines[1].starts_with(&format!("{anna},Anna Teacher,3,90,5400,")),
            "{csv}"
        );
        d.close().await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_not_opened_are_listed_and_their_message_sent_again() {
    run_on(Backend::Sqlite, |db| async move {
        let fake = zoomtrack_tests::telegram::FakeTelegram::start().await;
        let Some(d) = Dashboard::open(
            &db,
            "unopened",
            &[
                "--telegram-bot-token",
                zoomtrack_tests::telegram::BOT_TOKEN,
                "--telegram-api-base",
                &fake.base,
                "--telegram-resend-cooldown",
                "1s",
            ],
        )
        .await
        else {
            return;
        };
        let opened = d.app.issue_link().await;
        d.app.track(&opened.token).await;
        let waiting = d.app.issue_link().await;
        d.app.notification_reaches(&waiting.id, "SENT").await;
        d.app.notification_reaches(&opened.id, "SENT").await;
        tokio::time::sleep(Duration::from_millis(1100)).await;

        d.sign_in().await;
        d.browser.click("#nav-not-opened").await;
        let row = format!("#not-opened tr[data-link=\"{}\"]", waiting.id);
        d.browser.find(&row).await;
        assert!(
            d.browser
                .wait_for(
                    "return document.querySelectorAll('#not-opened tbody tr').length === 1",
                    Duration::from_secs(5)
                )
                .await,
            "only the link never opened is listed"
        );
        d.browser.click(&format!("{row} button.resend")).await;
        d.browser
            .wait_for_text("#resend-result", "The message is being sent again.")
            .await;
        let deadline = Instant::now() + Duration::from_secs(10);
        while fake.delivered().len() < 3 {
            assert!(Instant::now() < deadline, "the message was not sent again");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Once the student opens it, it leaves the list by itself.
        d.app.track(&waiting.token).await;
        d.browser.find("#none-unopened").await;
        d.close().await;
    })
    .await
}
