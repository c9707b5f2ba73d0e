//! A small W3C WebDriver client over ChromeDriver, for the tests that need what `chromium --dump-dom` cannot do:
//! move a real pointer over an element, click, answer a `confirm()` dialog, read the page's state as it is now.
//! Only the handful of commands these tests use; every failure is a panic with the command and the driver's
//! answer (a test precondition).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The key under which WebDriver names an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// One ChromeDriver process with one headless Chromium session; both end on drop.
pub struct Driver {
    child: Child,
    addr: String,
    session: String,
}

impl Driver {
    /// Starts `chromedriver` on a free port and opens a headless session of `chromium` on its own profile.
    pub fn start(chromedriver: &Path, chromium: &Path, profile: &Path) -> Driver {
        let port = hearth_testkit::free_port();
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", chromedriver.display()));
        let addr = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !hearth_testkit::http::get(&addr, "/status").is_some_and(|r| r.json()["value"]["ready"] == true) {
            assert!(Instant::now() < deadline, "chromedriver did not become ready on {addr}");
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut driver = Driver { child, addr, session: String::new() };
        let mut args: Vec<String> = crate::common::CHROMIUM_FLAGS.iter().map(|a| (*a).to_owned()).collect();
        args.push("--window-size=1400,1100".to_owned());
        args.push(format!("--user-data-dir={}", profile.display()));
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": chromium.display().to_string(), "args": args },
            // A confirm() stays open until the test answers it.
            "unhandledPromptBehavior": "ignore",
        }}});
        let created = driver.call("POST", "/session", &caps);
        driver.session = created["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {created}")).to_owned();
        driver
    }

    /// One command; returns the answer's `value`.
    fn call(&self, method: &str, path: &str, body: &Value) -> Value {
        let body = if method == "GET" || method == "DELETE" { Vec::new() } else { body.to_string().into_bytes() };
        let resp = hearth_testkit::http::request(
            method,
            &self.addr,
            path,
            &[("content-type", "application/json; charset=utf-8")],
            body,
        )
        .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"));
        let answer = resp.json();
        assert_eq!(resp.status, 200, "WebDriver {method} {path}: {answer}");
        answer["value"].clone()
    }

    fn session_call(&self, method: &str, path: &str, body: &Value) -> Value {
        self.call(method, &format!("/session/{}{path}", self.session), body)
    }

    pub fn goto(&self, url: &str) {
        self.session_call("POST", "/url", &json!({ "url": url }));
    }

    /// The first element matching `css`, if any now.
    pub fn find(&self, css: &str) -> Option<String> {
        let found = self.session_call("POST", "/elements", &json!({ "using": "css selector", "value": css }));
        found.as_array()?.first().and_then(|e| e[ELEMENT].as_str()).map(str::to_owned)
    }

    /// Waits up to `timeout` for an element matching `css`.
    pub fn wait_for(&self, css: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(e) = self.find(css) {
                return e;
            }
            if Instant::now() >= deadline {
                if let Some(text) = self.dialog_text() {
                    panic!("no element {css} after {timeout:?}; a dialog is open: {text}");
                }
                let page = self.script("return location.href + '\\n' + document.body.innerText;", &[]);
                panic!("no element {css} after {timeout:?}; the page:\n{}", page.as_str().unwrap_or_default());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn click(&self, element: &str) {
        self.session_call("POST", &format!("/element/{element}/click"), &json!({}));
    }

    /// Moves the pointer to the middle of the element (a real hover: CSS `:hover` and `mouseover` both happen).
    pub fn hover(&self, element: &str) {
        let actions = json!({ "actions": [{
            "type": "pointer", "id": "mouse", "parameters": { "pointerType": "mouse" },
            "actions": [{ "type": "pointerMove", "duration": 0, "origin": { ELEMENT: element }, "x": 0, "y": 0 }],
        }]});
        self.session_call("POST", "/actions", &actions);
    }

    /// Runs `script` (a function body; `arguments[i]` are `args`) in the page and returns what it returns.
    pub fn script(&self, script: &str, args: &[Value]) -> Value {
        self.session_call("POST", "/execute/sync", &json!({ "script": script, "args": args }))
    }

    /// An element reference as a script argument.
    pub fn arg(element: &str) -> Value {
        json!({ ELEMENT: element })
    }

    /// The text of the open dialog, if one is open.
    pub fn dialog_text(&self) -> Option<String> {
        let resp = hearth_testkit::http::request(
            "GET",
            &self.addr,
            &format!("/session/{}/alert/text", self.session),
            &[],
            Vec::new(),
        )
        .ok()?;
        (resp.status == 200).then(|| resp.json()["value"].as_str().unwrap_or_default().to_owned())
    }

    pub fn accept_dialog(&self) {
        self.session_call("POST", "/alert/accept", &json!({}));
    }

    /// A PNG of the whole window.
    pub fn screenshot(&self) -> Vec<u8> {
        use base64::Engine as _;
        let b64 = self.session_call("GET", "/screenshot", &Value::Null);
        base64::engine::general_purpose::STANDARD.decode(b64.as_str().unwrap_or_default()).unwrap()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let path = format!("/session/{}", self.session);
            let _ = hearth_testkit::http::request("DELETE", &self.addr, &path, &[], Vec::new());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
