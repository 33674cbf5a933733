//! A headless Chromium driven over the W3C WebDriver protocol (chromedriver), with the few
//! commands the dashboard and tracking page tests use: navigate, find, click, type, read, run a
//! script, take a screenshot, work with tabs, send DevTools commands, and kill the browser.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use base64::Engine;
use serde_json::{Value, json};

/// One browser at a time: they are the heaviest thing the tests start.
pub static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Why a browser test cannot run here; fatal when `TEST_REQUIRE_BROWSER` is set.
pub fn unavailable(why: &str) {
    assert!(
        std::env::var_os("TEST_REQUIRE_BROWSER").is_none(),
        "{why} (TEST_REQUIRE_BROWSER is set)"
    );
    eprintln!("skipped: {why}");
}

/// The key under which WebDriver names an element.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    client: reqwest::Client,
    session: String,
    driver: Child,
    pub downloads: PathBuf,
    /// The browser's own profile folder: it names the browser's processes.
    profile: PathBuf,
}

/// The program `$var` names (default `default`), as a path: found as given or on `PATH`.
fn program(var: &str, default: &str) -> Option<String> {
    let name = std::env::var(var).unwrap_or_else(|_| default.to_owned());
    if Path::new(&name).is_file() {
        return Some(name);
    }
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join(&name))
        .find(|path| path.is_file())
        .map(|path| path.display().to_string())
}

impl Browser {
    /// Starts chromedriver and a headless Chromium at 1280×800; `None` when either is not
    /// installed (`CHROMEDRIVER` and `CHROME_BIN` name them when they are not on `PATH`).
    pub async fn start(downloads: &Path) -> Option<Self> {
        let driver_bin = program("CHROMEDRIVER", "chromedriver")?;
        let chrome = program("CHROME_BIN", "chromium")?;
        let port = crate::process::free_port();
        let driver = Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let client = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = client.get(format!("{base}/status")).send().await;
            if let Ok(response) = ready
                && let Ok(status) = response.json::<Value>().await
                && status["value"]["ready"] == true
            {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        std::fs::create_dir_all(downloads).expect("download folder");
        let profile =
            std::env::temp_dir().join(format!("zt-chromium-{port}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
        let capabilities = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": chrome,
                    "args": [
                        "--headless=new", "--no-sandbox", "--disable-gpu",
                        "--disable-dev-shm-usage", "--window-size=1280,800",
                        "--no-first-run", "--disable-extensions",
                        "--disable-background-networking", "--disable-component-update",
                        "--disable-sync",
                        format!("--user-data-dir={}", profile.display()),
                    ],
                    "prefs": {
                        "download.default_directory": downloads.display().to_string(),
                        "download.prompt_for_download": false,
                    },
                },
            }},
        });
        let answer: Value = client
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("session json");
        let session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {answer}"))
            .to_owned();
        let browser = Self {
            client,
            session: format!("{base}/session/{session}"),
            driver,
            downloads: downloads.to_owned(),
            profile,
        };
        browser.viewport(1280, 800).await;
        Some(browser)
    }

    /// Sizes the window so that the page itself is `width`×`height`.
    async fn viewport(&self, width: i64, height: i64) {
        let frame = self
            .script("return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight]")
            .await;
        let extra = |i: usize| frame[i].as_i64().unwrap_or(0);
        self.command(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({ "width": width + extra(0), "height": height + extra(1) })),
        )
        .await;
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request
            .send()
            .await
            .expect("WebDriver request")
            .json()
            .await
            .expect("WebDriver json");
        answer["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    /// The element `css` selects, waiting for it up to 10 s.
    pub async fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let found = self
                .command(
                    reqwest::Method::POST,
                    "/element",
                    Some(json!({ "using": "css selector", "value": css })),
                )
                .await;
            if let Some(id) = found[ELEMENT].as_str() {
                return id.to_owned();
            }
            assert!(Instant::now() < deadline, "no element matches {css}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn click(&self, css: &str) {
        let id = self.find(css).await;
        let answer = self
            .command(
                reqwest::Method::POST,
                &format!("/element/{id}/click"),
                Some(json!({})),
            )
            .await;
        assert!(answer.is_null(), "clicking {css}: {answer}");
    }

    /// Types `text` into the field `css` selects.
    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// Empties the field `css` selects.
    pub async fn clear(&self, css: &str) {
        let id = self.find(css).await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{id}/clear"),
            Some(json!({})),
        )
        .await;
    }

    pub async fn text(&self, css: &str) -> String {
        let id = self.find(css).await;
        self.command(reqwest::Method::GET, &format!("/element/{id}/text"), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Runs `script` in the page; its `return` value.
    pub async fn script(&self, script: &str) -> Value {
        self.command(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
        .await
    }

    /// Waits up to `within` for `script` to return `true`.
    pub async fn wait_for(&self, script: &str, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            if self.script(script).await == true {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the element `css` selects shows `expected`.
    pub async fn wait_for_text(&self, css: &str, expected: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = self.text(css).await;
            if text == expected {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{css} shows {text:?}, not {expected:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The current tab's address.
    pub async fn url(&self) -> String {
        let url = self.command(reqwest::Method::GET, "/url", None).await;
        url.as_str().unwrap_or_default().to_owned()
    }

    /// Reloads the current tab.
    pub async fn refresh(&self) {
        self.command(reqwest::Method::POST, "/refresh", Some(json!({})))
            .await;
    }

    /// Opens a new tab and returns its handle; the current tab stays current.
    pub async fn new_tab(&self) -> String {
        let tab = self
            .command(
                reqwest::Method::POST,
                "/window/new",
                Some(json!({ "type": "tab" })),
            )
            .await;
        tab["handle"].as_str().expect("a tab handle").to_owned()
    }

    /// Every open tab's handle.
    pub async fn tabs(&self) -> Vec<String> {
        let handles = self
            .command(reqwest::Method::GET, "/window/handles", None)
            .await;
        serde_json::from_value(handles).expect("tab handles")
    }

    /// Makes `handle` the current tab, in front: the tab it replaces becomes hidden.
    pub async fn switch_to(&self, handle: &str) {
        self.command(
            reqwest::Method::POST,
            "/window",
            Some(json!({ "handle": handle })),
        )
        .await;
    }

    /// Closes the current tab, as the student closing it would.
    pub async fn close_tab(&self) {
        self.command(reqwest::Method::DELETE, "/window", None).await;
    }

    /// Sends a Chrome DevTools Protocol command to the current tab.
    pub async fn devtools(&self, command: &str, params: Value) -> Value {
        self.command(
            reqwest::Method::POST,
            "/goog/cdp/execute",
            Some(json!({ "cmd": command, "params": params })),
        )
        .await
    }

    /// SIGKILL to every process of this browser: a crash, a battery pulled out. Nothing the page
    /// registered runs.
    pub fn kill_browser(&self) {
        let profile = format!("--user-data-dir={}", self.profile.display());
        let Ok(processes) = std::fs::read_dir("/proc") else {
            return;
        };
        for process in processes.flatten() {
            let cmdline = std::fs::read(process.path().join("cmdline")).unwrap_or_default();
            let holds_profile = cmdline
                .split(|&b| b == 0)
                .any(|arg| arg == profile.as_bytes());
            if holds_profile {
                let _ = Command::new("kill")
                    .args(["-KILL", &process.file_name().to_string_lossy()])
                    .status();
            }
        }
    }

    pub async fn screenshot(&self, path: &Path) {
        let encoded = self
            .command(reqwest::Method::GET, "/screenshot", None)
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().unwrap_or_default())
            .expect("a PNG");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot folder");
        }
        std::fs::write(path, png).expect("screenshot written");
    }

    pub async fn quit(mut self) {
        let _ = self.client.delete(&self.session).send().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
