//! What the pages send beside their content: the dashboard's strict Content Security Policy,
//! and GraphiQL, off unless asked for and then served from this server's own files.

use zoomtrack_tests::{Backend, TestApp, run_on};

/// A dashboard build with an inline loader script, as Trunk writes one.
fn build(dir: &std::path::Path, graphiql: bool) {
    std::fs::create_dir_all(dir.join("graphiql")).unwrap();
    std::fs::write(
        dir.join("index.html"),
        "<!doctype html><html><head><script type=\"module\">import init from '/admin/app.js';\
         init();</script></head><body></body></html>",
    )
    .unwrap();
    if graphiql {
        std::fs::write(dir.join("graphiql/graphiql.min.js"), "/* GraphiQL */").unwrap();
    }
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_runs_only_its_own_code() {
    run_on(Backend::Sqlite, |db| async move {
        let dir = tempfile_dir("csp");
        build(&dir, false);
        let dir_arg = dir.display().to_string();
        let app = TestApp::spawn(&db, &["--admin-ui-dir", &dir_arg]).await;
        let page = app
            .client
            .get(app.url("/admin/sessions"))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        let policy = header(&page, "content-security-policy");
        use base64::Engine;
        use sha2::Digest;
        let loader = "import init from '/admin/app.js';init();";
        let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(loader));
        for part in [
            "default-src 'self'",
            "'wasm-unsafe-eval'",
            &format!("'sha256-{hash}'"),
            "connect-src 'self' ws://127.0.0.1:",
            "frame-ancestors 'none'",
            "object-src 'none'",
        ] {
            assert!(policy.contains(part), "{part} in {policy}");
        }
        assert!(!policy.contains("unsafe-inline"), "{policy}");
        // A reload asks again with the page's date: the 304 carries the same policy, as the
        // browser takes its headers for the page it kept.
        let modified = header(&page, "last-modified");
        let again = app
            .client
            .get(app.url("/admin/sessions"))
            .header("if-modified-since", &modified)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304);
        assert_eq!(header(&again, "content-security-policy"), policy);
        assert_eq!(header(&page, "x-content-type-options"), "nosniff");
        assert_eq!(header(&page, "referrer-policy"), "no-referrer");

        // GraphiQL is off by default: a JSON answer says how to turn it on.
        let off = app.client.get(app.url("/graphql")).send().await.unwrap();
        assert_eq!(off.status(), 404);
        let body: serde_json::Value = off.json().await.unwrap();
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("GRAPHIQL=1"),
            "{body}"
        );
        app.stop().await;

        let on = TestApp::spawn(&db, &["--admin-ui-dir", &dir_arg, "--graphiql", "1"]).await;
        let unbuilt = on.client.get(on.url("/graphql")).send().await.unwrap();
        assert_eq!(unbuilt.status(), 503, "its files are not built yet");
        build(&dir, true);
        let page = on.client.get(on.url("/graphql")).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let policy = header(&page, "content-security-policy");
        assert!(policy.contains("script-src 'self';"), "{policy}");
        let html = page.text().await.unwrap();
        assert!(html.contains("/admin/graphiql/graphiql.min.js"));
        assert!(
            !html.contains("https://") && !html.contains("http://"),
            "nothing loads from elsewhere: {html}"
        );
        on.stop().await;
        let _ = std::fs::remove_dir_all(dir);
    })
    .await
}

fn tempfile_dir(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "zoomtrack-{name}-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    ))
}
