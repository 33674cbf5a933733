//! `/admin/` before the dashboard is built: a page that says so, shows the build's progress and
//! reloads itself; then the dashboard, as soon as its folder is filled, without a restart.
//! The page does not touch the database, so SQLite alone runs it.

use std::path::{Path, PathBuf};

use zoomtrack_tests::{Backend, TestApp, run_on};

struct Page {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

async fn get(app: &TestApp, path: &str) -> Page {
    let response = app.client.get(app.url(path)).send().await.expect("GET");
    Page {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.text().await.expect("body"),
    }
}

impl Page {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no {name} header"))
    }

    /// The building page: answered, never cached, reloading, loading nothing from anywhere.
    fn assert_building(&self, says: &str) {
        assert_eq!(self.status, 200, "{}", self.body);
        assert!(self.body.contains(says), "no {says:?} in {}", self.body);
        assert!(
            self.body
                .contains("<meta http-equiv=\"refresh\" content=\"5\">"),
            "the page does not reload itself"
        );
        assert!(!self.body.contains("<script"), "the page runs a script");
        assert_eq!(self.header("cache-control"), "no-store");
        let policy = self.header("content-security-policy");
        for rule in ["default-src 'none'", "frame-ancestors 'none'"] {
            assert!(policy.contains(rule), "{rule} missing from {policy}");
        }
        self.assert_hardened();
    }

    /// What every /admin/ answer carries, the dashboard's included.
    fn assert_hardened(&self) {
        assert_eq!(self.header("x-content-type-options"), "nosniff");
        assert_eq!(self.header("x-frame-options"), "DENY");
        assert_eq!(self.header("referrer-policy"), "no-referrer");
        assert!(
            self.header("content-security-policy")
                .contains("frame-ancestors 'none'")
        );
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zt-ui-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write");
}

#[tokio::test]
async fn admin_shows_the_build_then_the_dashboard_without_a_restart() {
    run_on(Backend::Sqlite, |db| async move {
        let root = scratch("build");
        let dist = root.join("dist");
        let progress = root.join("dist.progress");
        let app = TestApp::spawn(&db, &["--admin-ui-dir", dist.to_str().expect("utf-8")]).await;

        // No folder and no build under way.
        get(&app, "/admin/")
            .await
            .assert_building("The dashboard is not built yet");
        get(&app, "/admin/sessions")
            .await
            .assert_building("The dashboard is not built yet");
        let (status, health) = app.get_json("/health").await;
        assert_eq!((status, health["status"].as_str()), (200, Some("ok")));

        // The build script's progress.
        write(
            &progress,
            "building\nStep 2 of 5: installing trunk 0.21.14 (usually about 10 minutes).\n\n",
        );
        let page = get(&app, "/admin/").await;
        page.assert_building("The dashboard is being built");
        assert!(page.body.contains("Step 2 of 5: installing trunk 0.21.14"));
        assert!(
            page.body.contains("This step has run for "),
            "the step's age is shown"
        );

        // A failed build, its output shown as text.
        write(
            &progress,
            "failed\nStep 5 of 5 failed: building the dashboard.\nerror: <img src=x onerror=alert(1)>\n",
        );
        let page = get(&app, "/admin/").await;
        page.assert_building("The dashboard build failed");
        assert!(page.body.contains("Step 5 of 5 failed: building the dashboard."));
        assert!(page.body.contains("error: &lt;img src=x onerror=alert(1)&gt;"));
        assert!(!page.body.contains("<img"), "build output is escaped");
        assert!(page.body.contains("Failed "), "the failure's age is shown");

        // An empty folder is no build either.
        std::fs::create_dir_all(&dist).expect("dist");
        write(&dist.join("app-1f2e.js"), "export default 1;");
        get(&app, "/admin/")
            .await
            .assert_building("The dashboard build failed");

        // The build arrives: served at once, the same server.
        let index = "<!doctype html><title>zoomtrack · admin</title><body></body>";
        write(&dist.join("index.html"), index);
        std::fs::remove_file(&progress).expect("the script removes its progress");
        let page = get(&app, "/admin/").await;
        assert_eq!(page.status, 200);
        assert_eq!(page.body, index);
        assert_eq!(page.header("cache-control"), "no-cache");
        page.assert_hardened();
        let modified = page.header("last-modified").to_owned();
        let revalidated = app
            .client
            .get(app.url("/admin/"))
            .header("if-modified-since", modified)
            .send()
            .await
            .expect("GET");
        assert_eq!(revalidated.status().as_u16(), 304);
        assert_eq!(
            revalidated.headers()["cache-control"],
            "no-cache",
            "a revalidated page stays revalidated, so the next build is seen"
        );
        let (status, body) = app.post_json("/admin/", serde_json::json!({})).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (405, Some("METHOD_NOT_ALLOWED"))
        );
        let view = get(&app, "/admin/sessions").await;
        assert_eq!(view.body, index, "a bookmarked view loads the app");
        let script = get(&app, "/admin/app-1f2e.js").await;
        assert_eq!(script.body, "export default 1;");
        assert_eq!(
            script.header("cache-control"),
            "public, max-age=31536000, immutable"
        );
        script.assert_hardened();

        // The build's precompressed copies go to a browser that accepts them, the best first;
        // to one that accepts neither, the file itself.
        write(&dist.join("app-1f2e.js.br"), "brotli bytes");
        write(&dist.join("app-1f2e.js.gz"), "gzip bytes");
        for (accepts, encoding, body) in [
            ("gzip, deflate, br, zstd", Some("br"), "brotli bytes"),
            ("gzip", Some("gzip"), "gzip bytes"),
            ("identity", None, "export default 1;"),
        ] {
            let response = app
                .client
                .get(app.url("/admin/app-1f2e.js"))
                .header("accept-encoding", accepts)
                .send()
                .await
                .expect("GET");
            let headers = response.headers().clone();
            assert_eq!(
                headers
                    .get("content-encoding")
                    .and_then(|v| v.to_str().ok()),
                encoding,
                "{accepts}"
            );
            assert_eq!(headers["content-type"], "text/javascript");
            assert_eq!(headers["vary"], "accept-encoding");
            assert_eq!(
                headers["cache-control"],
                "public, max-age=31536000, immutable"
            );
            assert_eq!(response.text().await.expect("body"), body);
        }

        app.stop().await;
        let _ = std::fs::remove_dir_all(root);
    })
    .await
}
