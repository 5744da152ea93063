//! A small WebDriver client (the W3C protocol, JSON over HTTP with ureq) driving a headless
//! browser: Debian's Chromium through `chromedriver`, or Debian's Firefox ESR through
//! `geckodriver` (built from crates.io by `deps.sh`). Enough to open a page, read its state,
//! click, type, move the pointer and take screenshots.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

/// The key WebDriver names element references with.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Which browser to drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Chromium,
    Firefox,
}

impl Engine {
    /// The browser binary and its WebDriver server.
    fn tools(self) -> [&'static str; 2] {
        match self {
            Engine::Chromium => ["chromium", "chromedriver"],
            Engine::Firefox => ["firefox-esr", "geckodriver"],
        }
    }

    /// The WebDriver server, from `PATH` or the project's `.tools/bin` (where `deps.sh` puts
    /// what Debian does not package).
    fn driver(self) -> std::path::PathBuf {
        let name = self.tools()[1];
        let local = super::root().join(".tools/bin").join(name);
        if local.is_file() { local } else { name.into() }
    }

    /// A new session's capabilities: headless, a `width` x `height` window.
    fn capabilities(self, width: u32, height: u32) -> Value {
        match self {
            Engine::Chromium => json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": "/usr/bin/chromium",
                    "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                             "--disable-dev-shm-usage", "--no-first-run",
                             "--hide-scrollbars", "--force-device-scale-factor=1",
                             format!("--window-size={width},{height}")]
                }
            }}}),
            Engine::Firefox => json!({"capabilities": {"alwaysMatch": {
                "browserName": "firefox",
                "moz:firefoxOptions": {
                    "binary": "/usr/bin/firefox-esr",
                    "args": ["-headless", format!("--width={width}"), format!("--height={height}")],
                    // No first-run pages, updates or telemetry: the box may have no internet.
                    "prefs": {
                        "browser.shell.checkDefaultBrowser": false,
                        "datareporting.policy.dataSubmissionEnabled": false,
                        "toolkit.telemetry.reportingpolicy.firstRun": false,
                        "app.update.disabledForTesting": true,
                        "layout.css.devPixelsPerPx": "1.0"
                    }
                }
            }}}),
        }
    }
}

/// A WebDriver server on a free port with one headless browser session; both end when dropped.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    agent: ureq::Agent,
}

/// An element of the page.
#[derive(Clone)]
pub struct Element(Value);

impl Browser {
    /// Starts `chromedriver` and a headless Chromium with a `width` x `height` window.
    pub fn start(width: u32, height: u32) -> Browser {
        Browser::start_engine(Engine::Chromium, width, height)
    }

    /// Starts `engine`'s WebDriver server and a headless session with a `width` x `height`
    /// window.
    pub fn start_engine(engine: Engine, width: u32, height: u32) -> Browser {
        let [browser_bin, _] = engine.tools();
        let driver_bin = engine.driver();
        for tool in [std::path::PathBuf::from(browser_bin), driver_bin.clone()] {
            assert!(
                Command::new("which")
                    .arg(&tool)
                    .stdout(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success()),
                "`{}` is not installed: run ./deps.sh",
                tool.display()
            );
        }
        let port = super::free_port();
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let base = format!("http://127.0.0.1:{port}");
        let mut browser = Browser {
            driver,
            base,
            session: String::new(),
            agent,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = browser
                .raw("GET", "/status", None)
                .ok()
                .and_then(|v| v["value"]["ready"].as_bool())
                .unwrap_or(false);
            if ready {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not start",
                driver_bin.display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let caps = engine.capabilities(width, height);
        let v = browser
            .raw("POST", "/session", Some(caps))
            .expect("new WebDriver session");
        browser.session = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_string();
        browser
    }

    fn raw(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        let resp = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            ("DELETE", _) => self.agent.delete(&url).call(),
            (_, body) => self
                .agent
                .post(&url)
                .header("Content-Type", "application/json")
                .send(body.unwrap_or_else(|| json!({})).to_string()),
        };
        let mut resp = resp.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .read_to_string()
            .map_err(|e| e.to_string())?;
        let v: Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
        if status >= 400 {
            return Err(format!("{method} {path}: {status} {v}"));
        }
        Ok(v)
    }

    /// A command of the session; panics with WebDriver's message when it fails.
    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        match self.raw(method, &path, body) {
            Ok(v) => v["value"].clone(),
            Err(e) => panic!("WebDriver: {e}"),
        }
    }

    /// Opens `url`.
    pub fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url })));
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page, returns its value.
    pub fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
    }

    /// Polls `script` every 200 ms until it returns something other than null or false.
    pub fn wait_js(&self, timeout: Duration, script: &str) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.js(script, vec![]);
            if !v.is_null() && v != Value::Bool(false) {
                return Some(v);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The element matching a CSS selector.
    pub fn find(&self, css: &str) -> Element {
        Element(self.cmd(
            "POST",
            "/element",
            Some(json!({ "using": "css selector", "value": css })),
        ))
    }

    fn element_id(e: &Element) -> String {
        e.0[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("not an element: {}", e.0))
            .to_string()
    }

    /// Clicks an element.
    pub fn click(&self, e: &Element) {
        self.cmd(
            "POST",
            &format!("/element/{}/click", Self::element_id(e)),
            None,
        );
    }

    /// Types `text` into an element (after clearing it).
    pub fn type_into(&self, e: &Element, text: &str) {
        let id = Self::element_id(e);
        self.cmd("POST", &format!("/element/{id}/clear"), None);
        self.cmd(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        );
    }

    /// Sends keys to an element without clearing it (WebDriver key codes such as `\u{E011}`,
    /// Home).
    pub fn send_keys(&self, e: &Element, keys: &str) {
        self.cmd(
            "POST",
            &format!("/element/{}/value", Self::element_id(e)),
            Some(json!({ "text": keys })),
        );
    }

    /// Clicks with the mouse at viewport pixel `(x, y)`.
    pub fn click_at(&self, x: i64, y: i64) {
        self.mouse(vec![
            json!({"type": "pointerMove", "origin": "viewport", "x": x, "y": y, "duration": 0}),
            json!({"type": "pointerDown", "button": 0}),
            json!({"type": "pointerUp", "button": 0}),
        ]);
    }

    /// Drags with the mouse from viewport pixel `from` to `to`.
    pub fn drag(&self, from: (i64, i64), to: (i64, i64)) {
        self.mouse(vec![
            json!({"type": "pointerMove", "origin": "viewport", "x": from.0, "y": from.1, "duration": 0}),
            json!({"type": "pointerDown", "button": 0}),
            json!({"type": "pointerMove", "origin": "viewport", "x": to.0, "y": to.1, "duration": 200}),
            json!({"type": "pointerUp", "button": 0}),
        ]);
    }

    /// Performs mouse `actions`, then releases everything.
    fn mouse(&self, actions: Vec<Value>) {
        self.cmd(
            "POST",
            "/actions",
            Some(json!({"actions": [{
                "type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"},
                "actions": actions
            }]})),
        );
        self.cmd("DELETE", "/actions", None);
    }

    /// Presses and releases each key of `keys` in turn (WebDriver key codes such as `\u{E007}`,
    /// Enter), on whatever has the focus.
    pub fn press(&self, keys: &str) {
        let actions: Vec<Value> = keys
            .chars()
            .flat_map(|k| {
                let k = k.to_string();
                [
                    json!({"type": "keyDown", "value": k}),
                    json!({"type": "keyUp", "value": k}),
                ]
            })
            .collect();
        self.cmd(
            "POST",
            "/actions",
            Some(json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})),
        );
    }

    /// Resizes the window.
    pub fn resize(&self, width: u32, height: u32) {
        self.cmd(
            "POST",
            "/window/rect",
            Some(json!({ "width": width, "height": height })),
        );
    }

    /// A PNG of the whole window.
    pub fn screenshot(&self) -> Vec<u8> {
        decode(&self.cmd("GET", "/screenshot", None))
    }

    /// A PNG of one element.
    pub fn element_screenshot(&self, e: &Element) -> Vec<u8> {
        decode(&self.cmd(
            "GET",
            &format!("/element/{}/screenshot", Self::element_id(e)),
            None,
        ))
    }
}

fn decode(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap_or_default())
        .expect("screenshot is base64")
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.raw("DELETE", &format!("/session/{}", self.session), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
