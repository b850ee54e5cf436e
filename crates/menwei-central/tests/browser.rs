//! The dashboard in a real browser: Debian's headless Chromium driven by chromedriver over the
//! W3C WebDriver protocol (plain HTTP+JSON through `ureq`), against a real `menwei-central run`
//! on SQLite and a real Mosquitto. The test logs in through the page, opens the live feed,
//! publishes an anomaly as an edge box would, waits for it to appear, acknowledges the work order
//! it opened, and saves screenshots under `target/test-artefacts/` (or `$MENWEI_ARTEFACTS`).
//! Every page is checked against the Content-Security-Policy: a listener the DevTools protocol
//! puts in each document before the page's scripts counts `securitypolicyviolation` events,
//! and there must be none.
//!
//! Nothing here asserts on timing: every wait polls the page with a generous deadline. Chromium
//! and chromedriver come from scripts/setup; when they are missing the test fails and says so,
//! because a skip would hide a broken install.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use menwei_tests::{Mosquitto, free_port};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{Client, Event, MqttOptions};
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long any one thing may take to show up in the page; generous, for a loaded CI box.
const DEADLINE: Duration = Duration::from_secs(90);
/// The W3C WebDriver key of an element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
const COMPOUND: &str = "c-demo";

/// Where screenshots go: `$MENWEI_ARTEFACTS`, or `test-artefacts/` in cargo's target directory.
fn artefact_dir() -> PathBuf {
    let dir = match std::env::var_os("MENWEI_ARTEFACTS") {
        Some(d) => PathBuf::from(d),
        None => {
            // target/<profile>/menwei-central -> target/
            let exe = Path::new(env!("CARGO_BIN_EXE_menwei-central"));
            exe.parent().and_then(Path::parent).expect("the binary lies in target/<profile>/").join("test-artefacts")
        }
    };
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

fn save_artefact(name: &str, bytes: &[u8]) -> PathBuf {
    let path = artefact_dir().join(name);
    std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    path
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

// ---- menwei-central ----------------------------------------------------------------------------

// ---- an edge box, as far as MQTT goes ----------------------------------------------------------

/// Publishes one message at QoS 1 and waits for the broker's PUBACK.
fn publish(mqtt_port: u16, topic: &str, payload: &str, retain: bool) {
    let opts = MqttOptions::new(format!("edge-{COMPOUND}-browser-test"), "127.0.0.1", mqtt_port);
    let (client, mut conn) = Client::new(opts, 10);
    client.publish(topic, QoS::AtLeastOnce, retain, payload.as_bytes().to_vec()).unwrap();
    let t = Instant::now();
    loop {
        assert!(t.elapsed() < DEADLINE, "no PUBACK from the broker for {topic}");
        match conn.recv_timeout(Duration::from_secs(1)) {
            Ok(Ok(Event::Incoming(Packet::PubAck(_)))) => break,
            Ok(Ok(_)) | Err(_) => {}
            Ok(Err(e)) => panic!("MQTT connection for {topic} failed: {e}"),
        }
    }
    let _ = client.disconnect();
    for _ in 0..3 {
        if !matches!(conn.recv_timeout(Duration::from_millis(200)), Ok(Ok(_))) {
            break;
        }
    }
}

fn stranger_event(seq: u64) -> String {
    json!({
        "schema": 1,
        "event_id": format!("019ac3a0-0000-7000-8000-{seq:012}"),
        "seq": seq,
        "compound": COMPOUND,
        "kind": "security.repeat_stranger",
        "class": "security",
        "gate": "north",
        "camera": "gate-face",
        "direction": "entry",
        "occurred_at": menwei_core::event::rfc3339_ms(now_ms()),
        "subject": {"type": "unknown_face", "cluster_ref": "s-1"},
        "decision": null,
        "reason": "repeat_stranger",
        "scores": {"sightings": 3.0},
        "models": {}
    })
    .to_string()
}

// ---- WebDriver ---------------------------------------------------------------------------------

fn http_agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(timeout)).build(),
    )
}

/// A WebDriver error: its `error` code and `message`.
#[derive(Debug)]
struct WdError {
    error: String,
    message: String,
}

impl std::fmt::Display for WdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.message)
    }
}

impl WdError {
    /// Errors that mean "the page was not ready yet": try again.
    fn transient(&self) -> bool {
        matches!(
            self.error.as_str(),
            "no such element" | "stale element reference" | "element click intercepted" | "element not interactable"
        )
    }
}

/// chromedriver (stopped by its PID) and one browser session in it.
struct Browser {
    driver: Child,
    agent: ureq::Agent,
    url: String,
    session: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn start() -> Browser {
        for (path, what) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromedriver (package chromium-driver)")] {
            assert!(
                Path::new(path).is_file(),
                "{what} is not installed at {path}: run scripts/setup (it installs chromium, chromium-driver and \
                 fonts-noto-cjk)"
            );
        }
        let port = free_port();
        // The browser runs west of UTC, as some users' do: a date without a time must still
        // show as that date (a bare date read as midnight UTC would show the day before).
        let driver = Command::new(CHROMEDRIVER)
            .env("TZ", "America/Los_Angeles")
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}; run scripts/setup"));
        let profile = tempfile::tempdir().unwrap();
        let mut b = Browser {
            driver,
            agent: http_agent(Duration::from_secs(60)),
            url: format!("http://127.0.0.1:{port}"),
            session: String::new(),
            _profile: profile,
        };
        let t = Instant::now();
        loop {
            if let Ok(v) = b.raw("GET", "/status", None)
                && v["ready"] == true
            {
                break;
            }
            if let Ok(Some(status)) = b.driver.try_wait() {
                panic!("chromedriver exited ({status}) before it was ready; run scripts/setup");
            }
            assert!(t.elapsed() < DEADLINE, "chromedriver did not become ready on port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000",
                    "--disable-dev-shm-usage", "--no-first-run", "--lang=zh-CN",
                    format!("--user-data-dir={}", b._profile.path().display()),
                ],
            },
        }}});
        let v =
            b.raw("POST", "/session", Some(caps)).unwrap_or_else(|e| panic!("cannot start a Chromium session: {e}"));
        b.session = v["sessionId"].as_str().expect("a session id").to_owned();
        // Before any page's own script, in every document: a script added through the DevTools
        // protocol is not subject to the page's Content-Security-Policy, and it sees every
        // violation, including those of the HTML itself.
        b.cmd(
            "POST",
            "/goog/cdp/execute",
            Some(json!({"cmd": "Page.addScriptToEvaluateOnNewDocument", "params": {"source": CSP_HOOK}})),
        )
        .unwrap_or_else(|e| panic!("cannot install the policy-violation listener: {e}"));
        b
    }

    /// Fails when the page broke its Content-Security-Policy since it was loaded.
    fn assert_policy_kept(&self, page: &str) {
        let v = self.js("return window.__cspViolations || null", json!([]));
        assert!(v.is_array(), "the policy-violation listener is not in the page ({page})");
        assert_eq!(v, json!([]), "the dashboard broke its Content-Security-Policy on {page}");
    }

    /// One WebDriver command; the `value` of the answer.
    fn raw(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, WdError> {
        let url = format!("{}{path}", self.url);
        let res = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            ("DELETE", _) => self.agent.delete(&url).call(),
            (_, body) => self
                .agent
                .post(&url)
                .header("Content-Type", "application/json; charset=utf-8")
                .send(body.unwrap_or_else(|| json!({})).to_string()),
        };
        let mut res = res.map_err(|e| WdError { error: "http".into(), message: format!("{method} {path}: {e}") })?;
        let status = res.status();
        let text = res
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .map_err(|e| WdError { error: "http".into(), message: format!("{method} {path}: {e}") })?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| WdError { error: "json".into(), message: format!("{method} {path}: {e}: {text:.200}") })?;
        if status.is_success() {
            Ok(v["value"].clone())
        } else {
            Err(WdError {
                error: v["value"]["error"].as_str().unwrap_or("unknown").to_owned(),
                message: v["value"]["message"].as_str().unwrap_or(&text).chars().take(500).collect(),
            })
        }
    }

    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, WdError> {
        self.raw(method, &format!("/session/{}{path}", self.session), body)
    }

    fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({"url": url}))).unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    }

    /// Runs `script` (a function body) in the page with `args`; its return value.
    fn js(&self, script: &str, args: Value) -> Value {
        self.cmd("POST", "/execute/sync", Some(json!({"script": script, "args": args})))
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Polls `script` until it returns something truthy; that value.
    fn wait_for(&self, what: &str, script: &str, args: Value) -> Value {
        let t = Instant::now();
        loop {
            let v = self.js(script, args.clone());
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::String(s) => !s.is_empty(),
                Value::Number(n) => n.as_f64() != Some(0.0),
                _ => true,
            };
            if truthy {
                return v;
            }
            if t.elapsed() > DEADLINE {
                panic!("timed out waiting for {what}; the page says:\n{}", self.page_text());
            }
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    fn find(&self, css: &str) -> Result<String, WdError> {
        let v = self.cmd("POST", "/element", Some(json!({"using": "css selector", "value": css})))?;
        Ok(v[ELEMENT_KEY].as_str().unwrap_or_else(|| panic!("not an element reference: {v}")).to_owned())
    }

    /// Finds `css` and does `f` with it, again while the page is still being drawn.
    fn with_element(&self, css: &str, what: &str, f: impl Fn(&str) -> Result<Value, WdError>) {
        let t = Instant::now();
        loop {
            match self.find(css).and_then(|id| f(&id)) {
                Ok(_) => return,
                Err(e) if e.transient() && t.elapsed() < DEADLINE => std::thread::sleep(Duration::from_millis(150)),
                Err(e) => panic!("cannot {what} {css}: {e}; the page says:\n{}", self.page_text()),
            }
        }
    }

    fn click(&self, css: &str) {
        self.with_element(css, "click", |id| self.cmd("POST", &format!("/element/{id}/click"), Some(json!({}))));
    }

    fn type_into(&self, css: &str, text: &str) {
        self.with_element(css, "type into", |id| {
            self.cmd("POST", &format!("/element/{id}/value"), Some(json!({"text": text})))
        });
    }

    fn clear(&self, css: &str) {
        self.with_element(css, "clear", |id| self.cmd("POST", &format!("/element/{id}/clear"), Some(json!({}))));
    }

    /// Waits until the form `form` shows a message next to its input `name` (the server's
    /// 400 naming that field); the message.
    fn field_error(&self, form: &str, name: &str) -> String {
        let v = self.wait_for(
            &format!("the error on {name} in {form}"),
            "const f = document.querySelector(arguments[0]);\
             const e = f && f.querySelector('[data-field-error=\"' + arguments[1] + '\"]');\
             const i = f && f.querySelector('[name=\"' + arguments[1] + '\"]');\
             if (!e || !e.textContent || !i) return null;\
             return {msg: e.textContent, invalid: i.classList.contains('invalid'),\
               beside: e.parentElement === i.parentElement, shown: e.offsetParent !== null};",
            json!([form, name]),
        );
        assert_eq!(v["invalid"], true, "the input {name} is marked invalid: {v}");
        assert_eq!(v["beside"], true, "the message on {name} is next to its input: {v}");
        assert_eq!(v["shown"], true, "the message on {name} is visible: {v}");
        v["msg"].as_str().unwrap().to_owned()
    }

    /// Waits until a `kind` form reported its save and the table shows the row `reference`;
    /// the row's text.
    fn added_row(&self, kind: &str, reference: &str) -> String {
        let v = self.wait_for(
            &format!("the new {kind} {reference} in its table"),
            "const r = document.querySelector('[data-testid=' + arguments[0] + '-row][data-ref=\"' + arguments[1] + '\"]');\
             return r && document.querySelector('[data-testid=' + arguments[0] + '-added]') ? r.innerText : null;",
            json!([kind, reference]),
        );
        v.as_str().unwrap().to_owned()
    }

    /// Signs in through the login form and waits for the overview it leads to.
    fn sign_in(&self, user: &str, password: &str) {
        self.wait_for("the login form", "return !!document.querySelector('#login-form')", json!([]));
        self.type_into("#login-username", user);
        self.type_into("#login-password", password);
        self.click("#login-submit");
        self.wait_for(
            "the overview after login",
            "const m = document.querySelector('#main');\
             return m.dataset.page === 'overview' && !document.querySelector('#nav').hidden\
               && !!document.querySelector('[data-testid=community-map], [data-testid=overview-empty]');",
            json!([]),
        );
    }

    fn screenshot(&self) -> Vec<u8> {
        let v = self.cmd("GET", "/screenshot", None).unwrap_or_else(|e| panic!("screenshot failed: {e}"));
        let png = base64_decode(v.as_str().expect("base64 text"));
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "the screenshot is not a PNG");
        png
    }

    fn save_screenshot(&self, name: &str) -> PathBuf {
        let path = save_artefact(name, &self.screenshot());
        println!("screenshot: {}", path.display());
        path
    }

    fn page_text(&self) -> String {
        match self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": "return location.href + '\\n' + document.body.innerText", "args": []})),
        ) {
            Ok(Value::String(s)) => s.chars().take(3000).collect(),
            other => format!("(cannot read the page: {other:?})"),
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            if std::thread::panicking()
                && let Ok(Value::String(b64)) = self.cmd("GET", "/screenshot", None)
            {
                let path = save_artefact("browser-failure.png", &base64_decode(&b64));
                eprintln!("the page when the test failed: {}", path.display());
            }
            let _ = self.cmd("DELETE", "", None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Standard base64 (RFC 4648, with padding), as WebDriver sends screenshots.
fn base64_decode(text: &str) -> Vec<u8> {
    fn val(c: u8) -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {:?}", c as char),
        }
    }
    let bytes: Vec<u8> = text.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=').collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= val(c) << (18 - 6 * i);
        }
        let take = chunk.len() * 6 / 8;
        out.extend_from_slice(&n.to_be_bytes()[1..1 + take]);
    }
    out
}

// ---- the test ----------------------------------------------------------------------------------

/// Collects script errors of the page, so that a broken dashboard fails the test.
/// Collects `securitypolicyviolation` events: what was refused, and where.
const CSP_HOOK: &str = "window.__cspViolations = [];\
    document.addEventListener('securitypolicyviolation', e => window.__cspViolations.push(\
      e.effectiveDirective + ' refused ' + (e.blockedURI || 'inline') + ' at ' + (e.sourceFile || '?') + ':' + e.lineNumber));";

const ERROR_HOOK: &str = "window.__menweiErrors = window.__menweiErrors || [];\
    if (!window.__menweiHooked) { window.__menweiHooked = true;\
    window.addEventListener('error', e => window.__menweiErrors.push(String(e.message)));\
    window.addEventListener('unhandledrejection', e => window.__menweiErrors.push('unhandled rejection: ' +\
      String(e.reason && e.reason.message || e.reason))); }\
    return true;";

#[test]
fn dashboard_shows_a_live_anomaly_and_acknowledges_its_work_order() {
    let dir = tempfile::tempdir().unwrap();
    let mqtt = Mosquitto::start(dir.path(), free_port());
    let db = format!("sqlite://{}", dir.path().join("central.db").display());
    let central = common::Central::start(dir.path(), &db, mqtt.port, "");
    let password = common::PASSWORD;
    let browser = Browser::start();

    // The edge is online (retained status, as the edge's connection would publish it).
    publish(mqtt.port, &format!("menwei/v1/{COMPOUND}/status"), "online", true);

    // Log in through the page.
    browser.goto(&format!("{}/", central.url("")));
    browser.js(ERROR_HOOK, json!([]));
    browser.assert_policy_kept("the sign-in page");
    // The listener sees a violation: an inline script, which the policy keeps from running.
    let caught = browser.wait_for(
        "an inline script refused",
        "if (!window.__probed) { window.__probed = true; const s = document.createElement('script');\
           s.textContent = 'window.__inlineRan = true'; document.body.appendChild(s); }\
         return window.__cspViolations.length ? {ran: !!window.__inlineRan, v: window.__cspViolations} : null;",
        json!([]),
    );
    assert_eq!(caught["ran"], false, "an inline script ran: {caught}");
    assert!(caught["v"][0].as_str().is_some_and(|v| v.starts_with("script-src")), "{caught}");
    browser.js("window.__cspViolations.length = 0; return true", json!([]));
    browser.sign_in("admin", password);
    browser.assert_policy_kept("the overview after signing in");
    let user = browser.js("return document.querySelector('#user-name').textContent", json!([]));
    assert!(user.as_str().is_some_and(|u| u.contains("admin")), "the page shows who is logged in: {user}");

    // The live feed, connected before anything is published: the stream carries only what
    // comes after the connection.
    browser.click("[data-testid=nav-live]");
    browser.wait_for(
        "the live feed's stream to open",
        "const s = document.querySelector('#feed-status'); return !!s && s.dataset.state === 'open';",
        json!([]),
    );

    // An edge publishes an anomaly. Until it shows up, publish the same event again, as an
    // edge's outbox resends until acknowledged: central stores (compound, seq) once, and this
    // covers central's subscription still being made when the first copy went out.
    let row_script = "const r = document.querySelector(\
         '[data-testid=event-row][data-kind=\"security.repeat_stranger\"][data-compound=\"' + arguments[0] + '\"]');\
         return r ? {order: r.dataset.orderId || null, text: r.innerText} : null;";
    let topic = format!("menwei/v1/{COMPOUND}/events/security");
    let event = stranger_event(1);
    let t = Instant::now();
    let mut last_publish: Option<Instant> = None;
    let row = loop {
        if last_publish.is_none_or(|p| p.elapsed() > Duration::from_secs(5)) {
            publish(mqtt.port, &topic, &event, false);
            last_publish = Some(Instant::now());
        }
        let v = browser.js(row_script, json!([COMPOUND]));
        if !v.is_null() {
            break v;
        }
        assert!(
            t.elapsed() < DEADLINE,
            "the event never appeared in the live feed; the page says:\n{}",
            browser.page_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let text = row["text"].as_str().unwrap_or_default();
    assert!(text.contains("陌生人"), "the feed row shows the kind and subject in Chinese: {text:?}");
    assert!(text.contains("north"), "the feed row shows the gate: {text:?}");
    // Live, not from a reload: the stream is still the one opened before the publish.
    let state = browser.js("return document.querySelector('#feed-status').dataset.state", json!([]));
    assert_eq!(state, "open", "the feed stayed connected");
    let rows = browser.js(
        "return document.querySelectorAll('[data-testid=event-row][data-kind=\"security.repeat_stranger\"]').length",
        json!([]),
    );
    assert_eq!(rows, 1, "the event is shown once, however often the edge sent it");
    let live_png = browser.save_screenshot("browser-live-feed.png");
    browser.assert_policy_kept("the live feed");

    // The work order the event opened: by the id the feed links to, or else the one order of
    // this kind (the database is new).
    let order_id = row["order"].as_str().map(str::to_owned);
    browser.click("[data-testid=nav-orders]");
    let order_css = match &order_id {
        Some(id) => format!("[data-testid=order-row][data-order-id=\"{id}\"]"),
        None => "[data-testid=order-row][data-kind=\"security.repeat_stranger\"]".to_owned(),
    };
    let order_id: String = browser
        .wait_for(
            "the work order the event opened",
            "const r = document.querySelector(arguments[0]); return r && r.dataset.state === 'open' ? r.dataset.orderId : null;",
            json!([order_css]),
        )
        .as_str()
        .unwrap()
        .to_owned();
    let row_css = format!("[data-testid=order-row][data-order-id=\"{order_id}\"]");
    browser.click(&format!("{row_css} [data-testid=order-ack]"));
    browser.wait_for(
        "the work order to be acknowledged",
        "const r = document.querySelector(arguments[0]);\
         const b = r && r.querySelector('[data-testid=order-state]');\
         return !!b && r.dataset.state === 'acknowledged' && b.textContent === '已确认';",
        json!([row_css]),
    );
    let orders_png = browser.save_screenshot("browser-work-order.png");
    browser.assert_policy_kept("the work orders");

    // The order's page reads it back from the server, with its history.
    browser.click(&format!("{row_css} [data-testid=order-link]"));
    let history = browser.wait_for(
        "the work order's page",
        "const d = document.querySelector('[data-testid=order-detail]');\
         return d && d.dataset.orderId === arguments[0] && d.dataset.state === 'acknowledged'\
           ? document.querySelectorAll('[data-testid=history-row]').length : null;",
        json!([order_id]),
    );
    assert!(history.as_u64().is_some_and(|n| n >= 1), "the order's history has entries: {history}");
    browser.assert_policy_kept("a work order's page");

    // The register: a household and a resident in it, added through their forms.
    let register_png = add_household_and_resident(&browser, &central);
    browser.assert_policy_kept("the register");

    // The edges page: an event naming a camera the structure does not have (a hostile name)
    // is warned of there, as text.
    let mut odd = serde_json::from_str::<Value>(&stranger_event(2)).unwrap();
    odd["camera"] = json!("<img src=x onerror=\"window.__menweiErrors.push('ran')\">");
    publish(mqtt.port, &topic, &odd.to_string(), false);
    browser.click("[data-testid=nav-edges]");
    let warning = browser.wait_for(
        "the edge's warning",
        "const w = document.querySelector('[data-testid=edge-warning]');\
         return w ? {text: w.textContent, imgs: document.querySelectorAll('main img').length} : null;",
        json!([]),
    );
    assert!(warning["text"].as_str().is_some_and(|t| t.contains("<img src=x")), "{warning}");
    assert_eq!(warning["imgs"], 0, "the camera's name became markup: {warning}");
    browser.save_screenshot("browser-edges.png");
    browser.assert_policy_kept("the edges");
    browser.click("[data-testid=nav-stats]");
    browser.wait_for("the charts", "return !!document.querySelector('[data-testid=stats-hours]');", json!([]));
    browser.assert_policy_kept("the charts");

    let errors = browser.js("return window.__menweiErrors || []", json!([]));
    assert_eq!(errors, json!([]), "the page raised script errors");

    // English on request, and the choice survives a reload.
    browser.click("#lang-toggle");
    browser.wait_for(
        "English",
        "return document.querySelector('[data-testid=nav-orders]').textContent === 'Work orders';",
        json!([]),
    );
    browser.goto(&format!("{}/#/orders", central.url("")));
    browser.wait_for(
        "English after a reload",
        "const n = document.querySelector('[data-testid=nav-orders]');\
         return !!n && n.textContent === 'Work orders' && document.documentElement.lang === 'en';",
        json!([]),
    );

    // The community map: one picture of the compounds, their grids and the open order.
    browser.goto(&format!("{}/#/overview", central.url("")));
    browser.wait_for(
        "the community map",
        "return document.querySelectorAll('[data-testid=community-map]').length > 0;",
        json!([]),
    );
    let map_png = browser.save_screenshot("browser-overview.png");
    browser.assert_policy_kept("the community map");

    // A read-only user sees the open work order without the actions the server would refuse.
    browser.click("#logout");
    browser.sign_in("ro", password);
    browser.click("[data-testid=nav-orders]");
    browser.wait_for("the state filter", "return !!document.querySelector('#orders-state');", json!([]));
    // Every state: the order is acknowledged by now.
    browser.js(
        "const s = document.querySelector('#orders-state'); s.value = ''; s.dispatchEvent(new Event('change'));",
        json!([]),
    );
    let shown = browser.wait_for(
        "the work orders as ro",
        "const r = document.querySelector('[data-testid=order-row]');\
         if (!r) return null;\
         return {visible: [...document.querySelectorAll('[data-testid=order-ack], [data-testid=order-resolve]')]\
           .filter(b => b.offsetParent !== null).length};",
        json!([]),
    );
    assert_eq!(shown["visible"], 0, "a read-only user is offered no acknowledge or resolve button");

    // ... and the resident added above, with no form to add one.
    browser.click("[data-testid=nav-register]");
    browser.click("[data-testid=tab-residents]");
    let shown = browser.wait_for(
        "the residents as ro",
        "if (!document.querySelector('[data-testid=resident-row][data-ref=\"r-901\"]')) return null;\
         return {visible: [...document.querySelectorAll('#resident-form, [data-testid=import-form], [data-testid=resident-erase]')]\
           .filter(e => e.offsetParent !== null).length, forms: document.querySelectorAll('#resident-form').length};",
        json!([]),
    );
    assert_eq!(shown["forms"], 1, "the page was drawn with its form: {shown}");
    assert_eq!(shown["visible"], 0, "a read-only user is offered no form to add, import or erase residents: {shown}");
    browser.assert_policy_kept("the pages as a read-only user");

    println!(
        "artefacts: {}, {}, {} and {}",
        live_png.display(),
        orders_png.display(),
        register_png.display(),
        map_png.display()
    );
    drop(browser);
    drop(central);
    drop(mqtt);
}

/// The residents central holds, by ref, read through the API as admin.
fn resident_refs(central: &common::Central) -> Vec<String> {
    let token = central.login("admin");
    let (status, body) = common::call(&central.url("/api/residents"), "GET", Some(&token), None);
    assert_eq!(status, 200, "GET /api/residents: {body}");
    body["residents"].as_array().unwrap().iter().map(|r| r["ref"].as_str().unwrap().to_owned()).collect()
}

/// On the register page, as admin and in Chinese: adds household h-901 through its form (after a
/// unit the compound does not have, refused next to the unit), then resident r-901 in it (after
/// an unknown household and then face entry without consent, each refused next to its field
/// with nothing added). Returns the screenshot of the residents tab.
fn add_household_and_resident(browser: &Browser, central: &common::Central) -> PathBuf {
    browser.click("[data-testid=nav-register]");
    browser.click("[data-testid=tab-households]");
    browser.wait_for("the household form", "return !!document.querySelector('#household-form');", json!([]));
    browser.type_into("#household-ref", "h-901");
    browser.click(&format!("#household-compound option[value=\"{COMPOUND}\"]"));
    browser.type_into("#household-building", "1号楼");
    browser.type_into("#household-unit", "9单元");
    browser.type_into("#household-room", "901");
    browser.type_into("#household-phone", "13800009010");
    browser.click("[data-testid=household-submit]");
    let msg = browser.field_error("#household-form", "unit");
    assert!(msg.contains("9单元"), "the error names the unit: {msg:?}");
    browser.clear("#household-unit");
    browser.type_into("#household-unit", "2单元");
    browser.click("[data-testid=household-submit]");
    let row = browser.added_row("household", "h-901");
    for part in ["幸福家园", "1号楼", "2单元", "901", "13800009010", "第一网格"] {
        assert!(row.contains(part), "the household row shows {part}: {row:?}");
    }
    let errors = browser.js("return document.querySelectorAll('#household-form .invalid').length", json!([]));
    assert_eq!(errors, 0, "the redrawn form has no stale errors");

    browser.click("[data-testid=tab-residents]");
    browser.wait_for("the resident form", "return !!document.querySelector('#resident-form');", json!([]));
    let hidden = browser.js(
        "return [...document.querySelectorAll('#resident-consent-at, #resident-consent-method, #resident-guardian')]\
           .every(e => e.offsetParent === null);",
        json!([]),
    );
    assert_eq!(hidden, true, "the consent is asked for only with face entry");
    // An unknown household: refused, next to the household field.
    browser.type_into("#resident-ref", "r-901");
    browser.type_into("#resident-household", "h-nope");
    browser.type_into("#resident-name", "李娜");
    browser.click("[data-testid=resident-submit]");
    let msg = browser.field_error("#resident-form", "household");
    assert!(msg.contains("h-nope"), "the error names the household: {msg:?}");
    // Face entry without a consent: refused, next to the consent's fields.
    browser.clear("#resident-household");
    browser.type_into("#resident-household", "h-901");
    browser.click("#resident-face");
    browser.wait_for(
        "the consent fields",
        "return document.querySelector('#resident-consent-at').offsetParent !== null\
           && document.querySelector('#resident-consent-method').offsetParent !== null;",
        json!([]),
    );
    browser.click("[data-testid=resident-submit]");
    browser.field_error("#resident-form", "consent_at");
    browser.field_error("#resident-form", "consent_method");
    let outcome = browser.js(
        "const o = document.querySelector('[data-testid=resident-form-result]'); return [o.className, o.textContent];",
        json!([]),
    );
    assert_eq!(outcome[0], "form-error", "the form says the request failed: {outcome}");
    assert!(outcome[1].as_str().unwrap().contains("输入有误"), "in Chinese: {outcome}");
    let rows = browser
        .js("return document.querySelectorAll('[data-testid=resident-row][data-ref=\"r-901\"]').length", json!([]));
    assert_eq!(rows, 0, "no row for the refused resident");
    assert!(!resident_refs(central).contains(&"r-901".to_owned()), "central holds no refused resident");
    browser.save_screenshot("browser-register-refused.png");

    // With the consent: added, and shown in the reloaded table.
    let date = browser.js(
        "const i = document.querySelector('#resident-consent-at'); i.value = arguments[0];\
         i.dispatchEvent(new Event('change', {bubbles: true})); return i.value;",
        json!(["2024-05-01"]),
    );
    assert_eq!(date, "2024-05-01");
    browser.click("#resident-consent-method option[value=written]");
    browser.click("[data-testid=resident-submit]");
    let row = browser.added_row("resident", "r-901");
    // The consent day is shown as it was given, whatever the browser's time zone.
    for part in ["h-901", "李娜", "正常", "已开通", "2024-05-01", "书面同意"] {
        assert!(row.contains(part), "the resident row shows {part}: {row:?}");
    }
    assert!(resident_refs(central).contains(&"r-901".to_owned()), "central holds the resident");
    browser.save_screenshot("browser-register.png")
}

#[test]
fn base64_decodes_what_webdriver_sends() {
    assert_eq!(base64_decode("iVBORw0KGgo="), b"\x89PNG\r\n\x1a\n");
    assert_eq!(base64_decode("TWFu"), b"Man");
    assert_eq!(base64_decode("TWE="), b"Ma");
    assert_eq!(base64_decode("TQ=="), b"M");
}
