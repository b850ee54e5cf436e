//! Shared by central's integration tests: a seeded `menwei-central run` (stopped by its PID),
//! an HTTP client that returns every status, and an edge stand-in on MQTT.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use menwei_tests::free_port;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use serde_json::Value;

pub const PASSWORD: &str = "correct-horse-battery";

/// The users every test gets: (name, role, extra arguments).
pub const USERS: &[(&str, &str, &[&str])] = &[
    ("admin", "admin", &[]),
    ("g1", "grid", &["--grid", "第一网格"]),
    ("g2", "grid", &["--grid", "第二网格"]),
    ("prop", "property", &["--company", "红色物业服务中心"]),
    ("ro", "readonly", &[]),
];

pub struct Central {
    child: Child,
    pub http: u16,
    pub db_url: String,
    pub config: PathBuf,
    log: PathBuf,
}

pub fn workspace_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(rel)
}

impl Central {
    /// Writes a config, loads config/district.example.toml, adds [`USERS`], and starts the
    /// service; returns once `/healthz` answers.
    pub fn start(dir: &Path, db_url: &str, mqtt_port: u16, extra_config: &str) -> Central {
        let broker = format!("[broker]\nurl = \"mqtt://127.0.0.1:{mqtt_port}\"\n{extra_config}");
        Self::start_with_broker(dir, db_url, &broker)
    }

    /// As [`Central::start`], with `broker` holding the `[broker]` table (and any other tables;
    /// an `[http]` table gets the listening address added).
    pub fn start_with_broker(dir: &Path, db_url: &str, broker: &str) -> Central {
        let http = free_port();
        let config = dir.join("central.toml");
        let broker = broker.replacen("[broker]\n", &format!("[broker]\nclient_id = \"central-{http}\"\n"), 1);
        let listen = format!("[http]\nlisten = \"127.0.0.1:{http}\"\n");
        let tables =
            if broker.contains("[http]\n") { broker.replacen("[http]\n", &listen, 1) } else { listen + &broker };
        std::fs::write(&config, format!("{tables}\n[database]\nurl = \"{db_url}\"\n")).unwrap();
        Self::command(&config, &["structure"], &[workspace_file("config/district.example.toml").to_str().unwrap()], "");
        for (name, role, extra) in USERS {
            let mut args = vec!["add", name, "--role", role, "--password-stdin"];
            args.extend_from_slice(extra);
            Self::command(&config, &["user"], &args, PASSWORD);
        }
        let log = dir.join(format!("central-{http}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_menwei-central"))
            .args(["run", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let c = Central { child, http, db_url: db_url.to_owned(), config, log };
        let t = Instant::now();
        while get_status(&c.url("/healthz")) != 200 {
            assert!(t.elapsed() < Duration::from_secs(30), "central did not answer /healthz:\n{}", c.log_tail());
            std::thread::sleep(Duration::from_millis(100));
        }
        c
    }

    /// A one-shot subcommand with `stdin` as its input; panics with its output on failure.
    pub fn command(config: &Path, sub: &[&str], rest: &[&str], stdin: &str) -> String {
        let mut child = Command::new(env!("CARGO_BIN_EXE_menwei-central"))
            .args(sub)
            .arg("--config")
            .arg(config)
            .args(rest)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{sub:?} {rest:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.http)
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    /// Signs in and returns the bearer token.
    pub fn login(&self, user: &str) -> String {
        let (status, body) = call(
            &self.url("/api/login"),
            "POST",
            None,
            Some(&format!("{{\"username\":\"{user}\",\"password\":\"{PASSWORD}\"}}")),
        );
        assert_eq!(status, 200, "login {user}: {body}");
        body["token"].as_str().unwrap().to_owned()
    }

    pub fn db(&self) -> menwei_central::db::Db {
        menwei_central::db::Db::open_url(&self.db_url).unwrap()
    }

    pub fn stop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

impl Drop for Central {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("menwei-central's log (last lines):\n{}", self.log_tail());
        }
    }
}

/// An HTTP client that returns every status as an answer, not an error.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn get_status(url: &str) -> u16 {
    agent().get(url).call().map(|r| r.status().as_u16()).unwrap_or(0)
}

/// One request; the status and the body as JSON (or as a JSON string when it is not JSON).
pub fn call(url: &str, method: &str, token: Option<&str>, body: Option<&str>) -> (u16, Value) {
    let (status, text) = call_text(url, method, token, body, "application/json");
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Percent-encodes what is not ASCII (plates and names in paths).
fn encode(url: &str) -> String {
    let mut out = String::new();
    for c in url.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

pub fn call_text(
    url: &str,
    method: &str,
    token: Option<&str>,
    body: Option<&str>,
    content_type: &str,
) -> (u16, String) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.as_deref().map(|a| ("authorization", a)).into_iter().collect();
    let (status, _, text) = request(url, method, &headers, body, content_type);
    (status, text)
}

/// One request with the given headers: the status, the answer's headers and its body. A body
/// is sent (with `content_type`) for POST, PUT and PATCH.
pub fn request(
    url: &str,
    method: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
    content_type: &str,
) -> (u16, ureq::http::HeaderMap, String) {
    let a = agent();
    let url = encode(url);
    let url = url.as_str();
    let resp = match method {
        "GET" | "DELETE" => {
            let mut r = if method == "GET" { a.get(url) } else { a.delete(url) };
            for (k, v) in headers {
                r = r.header(*k, *v);
            }
            r.call()
        }
        _ => {
            let mut r = match method {
                "POST" => a.post(url),
                "PUT" => a.put(url),
                _ => a.patch(url),
            };
            for (k, v) in headers {
                r = r.header(*k, *v);
            }
            r.header("content-type", content_type).send(body.unwrap_or(""))
        }
    };
    let mut resp = resp.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = resp.status().as_u16();
    let answer_headers = resp.headers().clone();
    (status, answer_headers, resp.body_mut().read_to_string().unwrap_or_default())
}

/// An edge stand-in: publishes as an edge box does and records what central sends it.
pub struct Edge {
    pub client: AsyncClient,
    pub got: Arc<Mutex<Vec<(String, String)>>>,
    pub compound: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Edge {
    pub fn connect(port: u16, compound: &str) -> Edge {
        Self::connect_to(menwei_mqtt::Endpoint::plain("127.0.0.1", port), compound)
    }

    /// Through a given endpoint (TLS, credentials).
    pub fn connect_to(endpoint: menwei_mqtt::Endpoint, compound: &str) -> Edge {
        let got = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (g, c) = (got.clone(), compound.to_owned());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let mut o = MqttOptions::new(format!("edge-{c}"), endpoint.host.clone(), endpoint.port);
                endpoint.apply(&mut o).unwrap();
                o.set_last_will(rumqttc::v5::mqttbytes::v5::LastWill::new(
                    format!("menwei/v1/{c}/status"),
                    "offline",
                    QoS::AtLeastOnce,
                    true,
                    None,
                ));
                let (client, mut el) = AsyncClient::new(o, 1024);
                for t in ["ack", "resend", "sync"] {
                    client.subscribe(format!("menwei/v1/{c}/{t}"), QoS::AtLeastOnce).await.unwrap();
                }
                client.publish(format!("menwei/v1/{c}/status"), QoS::AtLeastOnce, true, "online").await.unwrap();
                tx.send(client).unwrap();
                loop {
                    tokio::select! {
                        ev = el.poll() => match ev {
                            Ok(Event::Incoming(Packet::Publish(p))) => g.lock().unwrap().push((
                                String::from_utf8_lossy(&p.topic).into_owned(),
                                String::from_utf8_lossy(&p.payload).into_owned(),
                            )),
                            Ok(_) => {}
                            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                        },
                        _ = &mut stop_rx => return,
                    }
                }
            });
        });
        Edge { client: rx.recv().unwrap(), got, compound: compound.to_owned(), stop: Some(stop_tx) }
    }

    pub fn publish(&self, topic_end: &str, retain: bool, body: String) {
        let topic = format!("menwei/v1/{}/{topic_end}", self.compound);
        while self.client.try_publish(topic.clone(), QoS::AtLeastOnce, retain, body.clone()).is_err() {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// An event as the edge publishes it.
    pub fn event(&self, seq: u64, kind: &str, gate: &str, subject: &str) {
        let class = kind.split('.').next().unwrap();
        let body = format!(
            "{{\"schema\":1,\"event_id\":\"e-{seq}\",\"seq\":{seq},\"compound\":\"{}\",\"kind\":\"{kind}\",\
             \"class\":\"{class}\",\"gate\":\"{gate}\",\"camera\":\"gate-face\",\"direction\":\"entry\",\
             \"occurred_at\":\"2026-11-27T10:00:00.000Z\",\"subject\":{subject},\"decision\":null,\"reason\":null,\
             \"scores\":{{}},\"models\":{{}}}}",
            self.compound
        );
        self.publish(&format!("events/{class}"), false, body);
    }

    /// Payloads received on a topic ending in `end`.
    pub fn received(&self, end: &str) -> Vec<String> {
        self.got.lock().unwrap().iter().filter(|(t, _)| t.ends_with(end)).map(|(_, p)| p.clone()).collect()
    }

    /// Disconnects without a clean goodbye: the broker publishes the last will (`offline`).
    pub fn vanish(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

pub fn wait(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
