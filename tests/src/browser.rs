//! A headless Chromium for the dashboard and tracking page tests, driven over WebDriver by
//! fantoccini (reached through `Deref`). Ours is only what the tests add: starting chromedriver
//! and Chromium with our flags, finding by CSS with a 10 s wait, polling the page, screenshots,
//! Chromium's DevTools commands, and killing the browser outright.

use std::{
    ops::Deref,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use fantoccini::{
    Client, ClientBuilder, Locator,
    elements::Element,
    error::NewSessionError,
    wd::{Capabilities, WebDriverCompatibleCommand},
};
use hyper_util::client::legacy::connect::HttpConnector;
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

/// How often the waits below look again.
const POLL: Duration = Duration::from_millis(50);

pub struct Browser {
    client: Client,
    driver: Child,
    pub downloads: PathBuf,
    /// The browser's own profile folder: it names the browser's processes.
    profile: PathBuf,
}

impl Deref for Browser {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
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

/// A Chrome DevTools Protocol command, through chromedriver's own endpoint for them.
#[derive(Debug)]
struct DevTools {
    command: String,
    params: Value,
}

impl WebDriverCompatibleCommand for DevTools {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/goog/cdp/execute",
            session.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (hyper::Method, Option<String>) {
        let body = json!({ "cmd": self.command, "params": self.params });
        (hyper::Method::POST, Some(body.to_string()))
    }
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
        std::fs::create_dir_all(downloads).expect("download folder");
        let profile =
            std::env::temp_dir().join(format!("zt-chromium-{port}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
        let capabilities: Capabilities = serde_json::from_value(json!({
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
        }))
        .expect("capabilities are an object");
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(capabilities);
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = loop {
            match builder.connect(&format!("http://127.0.0.1:{port}")).await {
                Ok(client) => break client,
                // Not listening yet.
                Err(NewSessionError::Failed(_) | NewSessionError::FailedC(_))
                    if Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => panic!("no WebDriver session: {error}"),
            }
        };
        let browser = Self {
            client,
            driver,
            downloads: downloads.to_owned(),
            profile,
        };
        browser.viewport(1280, 800).await;
        Some(browser)
    }

    /// Sizes the window so that the page itself is `width`×`height`.
    async fn viewport(&self, width: u32, height: u32) {
        let frame = self
            .execute(
                "return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight]",
                vec![],
            )
            .await
            .expect("the window's frame");
        let extra = |i: usize| u32::try_from(frame[i].as_u64().unwrap_or(0)).unwrap_or(0);
        self.set_window_size(width + extra(0), height + extra(1))
            .await
            .expect("the window resized");
    }

    /// The element `css` selects, waiting for it up to 10 s.
    pub async fn find(&self, css: &str) -> Element {
        self.wait()
            .at_most(Duration::from_secs(10))
            .every(POLL)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|error| panic!("no element matches {css}: {error}"))
    }

    pub async fn click(&self, css: &str) {
        let element = self.find(css).await;
        element
            .click()
            .await
            .unwrap_or_else(|error| panic!("clicking {css}: {error}"));
    }

    /// Types `text` into the field `css` selects.
    pub async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        element
            .send_keys(text)
            .await
            .unwrap_or_else(|error| panic!("typing into {css}: {error}"));
    }

    /// Empties the field `css` selects.
    pub async fn clear(&self, css: &str) {
        let element = self.find(css).await;
        element
            .clear()
            .await
            .unwrap_or_else(|error| panic!("clearing {css}: {error}"));
    }

    pub async fn text(&self, css: &str) -> String {
        let element = self.find(css).await;
        element
            .text()
            .await
            .unwrap_or_else(|error| panic!("reading {css}: {error}"))
    }

    /// Waits up to `within` for `script` to return `true`.
    pub async fn wait_for(&self, script: &str, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            if matches!(self.execute(script, vec![]).await, Ok(Value::Bool(true))) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until the element `css` selects shows `expected`; a page that replaces the
    /// element meanwhile is read again.
    pub async fn wait_for_text(&self, css: &str, expected: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = self.find(css).await.text().await.unwrap_or_default();
            if text == expected {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{css} shows {text:?}, not {expected:?}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Sends a Chrome DevTools Protocol command to the current tab.
    pub async fn devtools(&self, command: &str, params: Value) -> Value {
        let command = DevTools {
            command: command.to_owned(),
            params,
        };
        self.issue_cmd(command)
            .await
            .unwrap_or_else(|error| panic!("DevTools: {error}"))
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

    /// Saves the current tab as a PNG at `path`.
    pub async fn save_screenshot(&self, path: &Path) {
        let png = self.screenshot().await.expect("a screenshot");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot folder");
        }
        std::fs::write(path, png).expect("screenshot written");
    }

    pub async fn quit(mut self) {
        let _ = self.client.clone().close().await;
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
