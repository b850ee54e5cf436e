//! `menwei-demo`: a working compound on this machine in one command (`scripts/demo`).
//!
//! It starts, in order: a Mosquitto on a free port (or uses `--broker`), menwei-central on
//! SQLite with the example district and a seeded register, an RTSP server streaming the gate
//! clip (or uses `--camera`), and menwei-edge configured for compound `c-demo`. It prints each
//! event as it reaches the broker and the dashboard's address, and stops everything on Ctrl-C.
//! With `--once` it plays the clip once, prints a summary of the events it had to see, and
//! exits 0 only when all of them arrived: the new user's first check, and CI's.
//! Everything lives under `var/demo/`, made afresh each run; the edge config it writes there
//! is an ordinary config: point its camera `url` at a real camera and it watches that one.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use menwei_core::shutdown;
use serde_json::Value;

#[derive(Debug, Parser)]
#[command(name = "menwei-demo", about = "A compound gate, its edge box and the district service on this machine")]
struct Args {
    /// The checkout (where models/, var/ and config/ are).
    #[arg(long, default_value = ".")]
    root: PathBuf,
    /// Use this broker (mqtt://host:port) instead of starting a Mosquitto.
    #[arg(long)]
    broker: Option<String>,
    /// Watch this camera (rtsp://user:pass@host/path) instead of the demo clip.
    #[arg(long)]
    camera: Option<String>,
    /// The dashboard's port (a free one if it is taken).
    #[arg(long, default_value_t = 8080)]
    http_port: u16,
    /// Where the built binaries are.
    #[arg(long, default_value = "target/release")]
    bin: PathBuf,
    /// The demo's working directory (emptied first). Default: var/demo in the checkout.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Play the gate clip once: print its events and a summary against the events it must
    /// produce, stop everything, and exit 0 only when every one of them arrived.
    #[arg(long, conflicts_with = "camera")]
    once: bool,
}

/// The clip: empty gate first, then each picture for a few seconds.
const LEAD_IN_SECS: u32 = 10;
const PICTURE_SECS: u32 = 3;

/// With `--once`: how long after the edge is up the clip's events may take to arrive, beyond
/// the clip's own length.
const ONCE_SLACK: Duration = Duration::from_secs(90);

// Writes that cannot fail the demo: with its output gone (a closed terminal or pipe),
// `println!` would panic, and a panic while stopping would leave the children running.
macro_rules! say {
    ($($t:tt)*) => {{
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}
macro_rules! out {
    ($($t:tt)*) => {{
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(0)
}

fn port_or_free(p: u16) -> u16 {
    if p != 0 && std::net::TcpListener::bind(("127.0.0.1", p)).is_ok() { p } else { free_port() }
}

/// The child processes, stopped in reverse order by PID.
#[derive(Default)]
struct Children(Vec<(&'static str, Child)>);

impl Children {
    fn stop(&mut self) {
        while let Some((name, mut child)) = self.0.pop() {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let t = Instant::now();
            let done = loop {
                match child.try_wait() {
                    Ok(Some(status)) => break Some(status),
                    _ if t.elapsed() > Duration::from_secs(15) => break None,
                    _ => std::thread::sleep(Duration::from_millis(50)),
                }
            };
            match done {
                Some(s) => say!("demo: {name} stopped ({s})"),
                None => {
                    let _ = child.kill();
                    let _ = child.wait();
                    say!("demo: {name} did not stop in 15 s: killed");
                }
            }
        }
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        self.stop();
    }
}

fn wait_port(port: u16, what: &str, children: &mut Children, logs: &Path) -> anyhow::Result<()> {
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        for (name, c) in &mut children.0 {
            if let Ok(Some(s)) = c.try_wait() {
                bail!("{name} exited ({s}) before {what} was up; see {}/{name}.log", logs.display());
            }
        }
        if t.elapsed() > Duration::from_secs(60) {
            bail!("{what} did not open port {port} in 60 s; see the logs in {}", logs.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

fn run_ok(cmd: &mut Command, what: &str, stdin: &str) -> anyhow::Result<String> {
    let mut child =
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().context(what.to_owned())?;
    child.stdin.take().context("stdin")?.write_all(stdin.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("{what} failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn random_password() -> String {
    let mut b = [0u8; 9];
    getrandom::fill(&mut b).expect("the OS random source");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// One line per event, as an operator would like to read it.
fn describe(topic: &str, payload: &[u8]) -> String {
    let v: Value = serde_json::from_slice(payload).unwrap_or(Value::Null);
    let compound = topic.split('/').nth(2).unwrap_or("?");
    let time = v["occurred_at"].as_str().and_then(|t| t.get(11..19)).unwrap_or("--:--:--");
    let s = &v["subject"];
    let who = match s["type"].as_str() {
        Some("resident") => format!("resident {}", s["resident_ref"].as_str().unwrap_or("?")),
        Some("unknown_face") => format!("unknown face {}", s["cluster_ref"].as_str().unwrap_or("")),
        Some("vehicle") => format!(
            "vehicle {} ({})",
            s["plate"].as_str().unwrap_or("?"),
            s["match_kind"].as_str().unwrap_or("not registered")
        ),
        Some("camera") => format!("camera {}", s["state"].as_str().unwrap_or("")),
        _ => String::new(),
    };
    format!(
        "{time}  {compound}  seq {:<4} {:<26} gate {:<6} {who}{}",
        v["seq"].to_string(),
        v["kind"].as_str().unwrap_or("?"),
        v["gate"].as_str().unwrap_or("-"),
        v["reason"].as_str().map(|r| format!("  [{r}]")).unwrap_or_default()
    )
}

/// Prints every event published on the broker (a plain subscriber: central's shared
/// subscription is not affected) and keeps its payload in `seen`.
fn print_events(host: String, port: u16, stop: shutdown::Receiver, seen: Arc<Mutex<Vec<Value>>>) {
    use rumqttc::v5::mqttbytes::QoS;
    use rumqttc::v5::mqttbytes::v5::Packet;
    use rumqttc::v5::{Client, Event, MqttOptions};
    std::thread::spawn(move || {
        let mut o = MqttOptions::new(format!("menwei-demo-{}", std::process::id()), host, port);
        o.set_keep_alive(Duration::from_secs(5));
        let (client, mut conn) = Client::new(o, 64);
        let _ = client.subscribe("menwei/v1/+/events/#", QoS::AtLeastOnce);
        for ev in conn.iter() {
            if stop.is_down() {
                return;
            }
            match ev {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    out!("{}", describe(&String::from_utf8_lossy(&p.topic), &p.payload));
                    if let Ok(v) = serde_json::from_slice::<Value>(&p.payload) {
                        seen.lock().unwrap_or_else(|e| e.into_inner()).push(v);
                    }
                }
                Ok(_) => {}
                Err(_) => std::thread::sleep(Duration::from_millis(500)),
            }
        }
    });
}

fn api(base: &str, token: Option<&str>, path: &str, body: &str) -> anyhow::Result<Value> {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut req = agent.post(format!("{base}{path}")).header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let mut resp = req.send(body).with_context(|| format!("POST {path}"))?;
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    if !(200..300).contains(&status) {
        bail!("POST {path}: {status} {text}");
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn api_get(base: &str, token: &str, path: &str) -> anyhow::Result<Value> {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut resp = agent.get(format!("{base}{path}")).header("authorization", format!("Bearer {token}")).call()?;
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let mut children = Children::default();
    let result = demo(&args, &on_signal(), &mut children);
    children.stop();
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            say!("menwei-demo: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Ctrl-C and SIGTERM give the returned signal.
fn on_signal() -> shutdown::Receiver {
    let (tx, rx) = shutdown::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        rt.block_on(async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        });
        tx.shutdown();
    });
    rx
}

/// Where the demo runs: the checkout, its binaries, and the run's folder.
struct Place {
    root: PathBuf,
    bin: PathBuf,
    dir: PathBuf,
}

impl Place {
    fn bin(&self, name: &str) -> PathBuf {
        self.root.join(&self.bin).join(name)
    }
    fn log(&self, name: &str) -> std::io::Result<std::fs::File> {
        std::fs::File::create(self.dir.join(format!("{name}.log")))
    }
}

fn demo(args: &Args, stop: &shutdown::Receiver, children: &mut Children) -> anyhow::Result<()> {
    let root = args.root.canonicalize().context("--root")?;
    let dir = args.dir.clone().unwrap_or_else(|| root.join("var/demo"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let place = Place { root, bin: args.bin.clone(), dir: dir.canonicalize()? };
    for b in ["menwei-edge", "menwei-central"] {
        anyhow::ensure!(place.bin(b).is_file(), "{} is missing: build it (scripts/demo does)", place.bin(b).display());
    }
    let (mq_host, mq_port) = start_broker(args, &place, children)?;
    let broker = format!("mqtt://{mq_host}:{mq_port}");
    let seen = Arc::new(Mutex::new(Vec::new()));
    print_events(mq_host.clone(), mq_port, stop.clone(), seen.clone());
    let scene = menwei_demo::Scene::gate(&place.root)?;
    let central = start_central(args, &place, &broker, &scene, children)?;
    let (camera_url, _server) = camera(args, &place, &scene)?;
    let edge = start_edge(&place, &broker, &camera_url, &scene, children)?;
    if !wait_for_register(&central, stop)? {
        return Ok(());
    }
    banner(args, &place, &central, &edge, &broker);
    watch(args, &place, &scene, &seen, stop, children)
}

/// The broker (step 1): the one given, or a Mosquitto of our own on a free port.
fn start_broker(args: &Args, place: &Place, children: &mut Children) -> anyhow::Result<(String, u16)> {
    if let Some(url) = &args.broker {
        let rest = url.strip_prefix("mqtt://").context("--broker must be mqtt://host:port")?;
        let (h, p) = rest.rsplit_once(':').unwrap_or((rest, "1883"));
        return Ok((h.to_owned(), p.parse::<u16>().context("--broker port")?));
    }
    let port = free_port();
    let conf = place.dir.join("mosquitto.conf");
    std::fs::write(&conf, format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"))?;
    let mosquitto = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .context("mosquitto is not installed: run scripts/setup")?;
    let child =
        Command::new(mosquitto).arg("-c").arg(&conf).stdout(Stdio::null()).stderr(place.log("mosquitto")?).spawn()?;
    children.0.push(("mosquitto", child));
    wait_port(port, "Mosquitto", children, &place.dir)?;
    Ok(("127.0.0.1".to_owned(), port))
}

/// Central as the demo runs it: its address, and the admin's session.
struct Central {
    base: String,
    token: String,
    password: String,
}

/// Central (step 2) on SQLite, the example district, an admin, the register.
fn start_central(
    args: &Args,
    place: &Place,
    broker: &str,
    scene: &menwei_demo::Scene,
    children: &mut Children,
) -> anyhow::Result<Central> {
    let http = port_or_free(args.http_port);
    let cfg = place.dir.join("central.toml");
    std::fs::write(
        &cfg,
        format!(
            "[http]\nlisten = \"127.0.0.1:{http}\"\n[database]\nurl = \"sqlite://central.db\"\n[broker]\nurl = \"{broker}\"\n\
             client_id = \"menwei-central-demo\"\n[orders]\ndue_minutes = 30\n"
        ),
    )?;
    let central = |sub: &[&str]| {
        let mut c = Command::new(place.bin("menwei-central"));
        c.args(sub).arg("--config").arg(&cfg);
        c
    };
    let district = place.root.join("config/district.example.toml");
    run_ok(central(&["structure"]).arg(district), "loading the district", "")?;
    let password = random_password();
    let add_admin = ["add", "admin", "--role", "admin", "--password-stdin"];
    run_ok(central(&["user"]).args(add_admin), "adding the admin", &password)?;
    let child = central(&["run"]).stdout(Stdio::null()).stderr(place.log("menwei-central")?).spawn()?;
    children.0.push(("menwei-central", child));
    wait_port(http, "menwei-central", children, &place.dir)?;
    let base = format!("http://127.0.0.1:{http}");
    let login = api(&base, None, "/api/login", &format!(r#"{{"username":"admin","password":"{password}"}}"#))?;
    let token = login["token"].as_str().context("no token")?.to_owned();
    let post = |path: &str, body: &str| api(&base, Some(&token), path, body);
    post("/api/households", r#"{"ref":"h-101","compound":"c-demo","building":"1号楼","unit":"1单元","room":"101"}"#)?;
    post(
        "/api/residents",
        r#"{"ref":"r-obama","household":"h-101","name":"演示住户","face_enabled":true,"consent_at":"2026-11-01","consent_method":"written"}"#,
    )?;
    post("/api/vehicles", &format!(r#"{{"plate":"{}","household":"h-101","color":"blue"}}"#, scene.registered_plate))?;
    Ok(Central { base, token, password })
}

/// The camera (step 3): the one given, or the gate clip over RTSP; the server lives as long
/// as the returned handle.
fn camera(
    args: &Args,
    place: &Place,
    scene: &menwei_demo::Scene,
) -> anyhow::Result<(String, Option<menwei_capture::server::RtspServer>)> {
    if let Some(url) = &args.camera {
        return Ok((url.clone(), None));
    }
    say!("demo: building the gate clip (plates: {}) ...", scene.plates_from);
    // 10 s of empty gate first: time for the edge to connect and take the register from
    // central before the first car.
    let clip = menwei_demo::gate_clip(&place.dir, &scene.pictures, LEAD_IN_SECS, PICTURE_SECS, 5, 5)?;
    let server =
        menwei_capture::server::RtspServer::start(0, &[menwei_capture::server::Mount::h264_file("/gate", &clip)])?;
    Ok((server.url("/gate"), Some(server)))
}

/// The edge box as the demo runs it.
struct Edge {
    cfg: PathBuf,
    http: u16,
}

/// Creates `path` readable by its owner only (a real camera's URL carries its password).
fn private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(contents)
}

/// The edge box (step 4): its config, the resident's face enrolled, then the daemon.
fn start_edge(
    place: &Place,
    broker: &str,
    camera_url: &str,
    scene: &menwei_demo::Scene,
    children: &mut Children,
) -> anyhow::Result<Edge> {
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).expect("the OS random source");
    private_file(
        &place.dir.join("template.key"),
        raw.iter().map(|b| format!("{b:02x}")).collect::<String>().as_bytes(),
    )?;
    let edge_http = free_port();
    let cfg = place.dir.join("edge.toml");
    let text = format!(
        "# Written by menwei-demo. To watch a real camera, change `url` below.\n\
         compound_id = \"c-demo\"\n[models]\ndir = \"{models}\"\nmanifest = \"{models}/models.toml\"\nintra_threads = 2\n\
         [[cameras]]\nid = \"north-1\"\nurl = \"{camera_url}\"\ngate = \"north\"\ndirection = \"entry\"\nrole = \"both\"\n\
         detect_fps = 5\nmotion_gating = true\n\
         [register]\npath = \"register.db\"\nkey_file = \"template.key\"\n\
         [broker]\nurl = \"{broker}\"\n[outbox]\npath = \"outbox.db\"\n\
         [http]\nlisten = \"127.0.0.1:{edge_http}\"\n[matching]\nretrigger_secs = 120\n\
         [snapshots]\ndir = \"snapshots\"\nkeep_hours = 24\n",
        models = place.root.join("models").display(),
    );
    private_file(&cfg, text.as_bytes())?;
    let edge = |sub: &str| {
        let mut c = Command::new(place.bin("menwei-edge"));
        c.arg(sub).arg("--config").arg(&cfg);
        c
    };
    run_ok(Command::new(place.bin("menwei-edge")).arg("check-config").arg(&cfg), "checking the edge config", "")?;
    run_ok(
        edge("enroll")
            .args(["--resident", "r-obama", "--household", "h-101", "--consent", "written form 2026-11-01"])
            .arg(&scene.resident_photo),
        "enrolling the resident's face",
        "",
    )?;
    let child = edge("run").stdout(Stdio::null()).stderr(place.log("menwei-edge")?).spawn()?;
    children.0.push(("menwei-edge", child));
    wait_port(edge_http, "menwei-edge", children, &place.dir)?;
    Ok(Edge { cfg, http: edge_http })
}

/// The register reaches the edge from central (sync batches): waits until it has applied them
/// (or 60 s). False when stopped meanwhile.
fn wait_for_register(central: &Central, stop: &shutdown::Receiver) -> anyhow::Result<bool> {
    let t = Instant::now();
    loop {
        let edges = api_get(&central.base, &central.token, "/api/edges")?;
        let demo = edges["edges"].as_array().and_then(|e| e.iter().find(|e| e["compound"] == "c-demo").cloned());
        if let Some(e) = demo.filter(|e| e["latest_version"].as_u64() > Some(0) && e["behind"] == false) {
            say!("demo: the edge applied the register (version {})", e["register_version"]);
            return Ok(true);
        }
        if t.elapsed() > Duration::from_secs(60) {
            say!("demo: the edge has not confirmed the register after 60 s: cars may show as unknown");
            return Ok(true);
        }
        if stop.wait_for(Duration::from_millis(200)) {
            return Ok(false);
        }
    }
}

fn banner(args: &Args, place: &Place, central: &Central, edge: &Edge, broker: &str) {
    out!();
    out!("  menwei demo: compound c-demo, gate north");
    out!("  dashboard   {}/   (user admin, password {})", central.base, central.password);
    let camera = if args.camera.is_some() { "the one given with --camera" } else { "the gate clip over RTSP" };
    out!("  camera      {camera}");
    out!("  edge        {}  (/metrics on 127.0.0.1:{})", edge.cfg.display(), edge.http);
    out!("  broker      {broker}");
    out!("  logs        {}/*.log", place.dir.display());
    if args.once {
        out!("  --once: the gate clip plays once; the demo stops when its events are in.");
    } else {
        out!("  Ctrl-C stops everything.");
    }
    out!();
    out!("  events as they reach the broker:");
}

/// Until Ctrl-C (or, with `--once`, until the clip's events are in or its time is up), with
/// every child watched.
fn watch(
    args: &Args,
    place: &Place,
    scene: &menwei_demo::Scene,
    seen: &Mutex<Vec<Value>>,
    stop: &shutdown::Receiver,
    children: &mut Children,
) -> anyhow::Result<()> {
    let clip_secs = u64::from(LEAD_IN_SECS + PICTURE_SECS * scene.pictures.len() as u32);
    let deadline = Instant::now() + Duration::from_secs(clip_secs) + ONCE_SLACK;
    let expected = scene.expected();
    let arrived =
        |seen: &[Value]| expected.iter().map(|e| seen.iter().find(|v| e.matches(v)).cloned()).collect::<Vec<_>>();
    while !stop.is_down() {
        if args.once {
            let found = arrived(&seen.lock().unwrap_or_else(|e| e.into_inner()));
            if found.iter().all(Option::is_some) || Instant::now() > deadline {
                let all = seen.lock().unwrap_or_else(|e| e.into_inner()).len();
                return summary(&expected, &found, all);
            }
        }
        for (name, c) in &mut children.0 {
            if let Ok(Some(s)) = c.try_wait() {
                bail!("{name} exited ({s}); see {}/{name}.log", place.dir.display());
            }
        }
        stop.wait_for(Duration::from_millis(200));
    }
    say!("demo: stopping");
    if args.once {
        let seen = seen.lock().unwrap_or_else(|e| e.into_inner());
        return summary(&expected, &arrived(&seen), seen.len());
    }
    Ok(())
}

fn summary(expected: &[menwei_demo::Expected], found: &[Option<Value>], all: usize) -> anyhow::Result<()> {
    let n = found.iter().filter(|f| f.is_some()).count();
    out!();
    out!("  summary: {n} of {} expected events arrived ({all} events in all)", expected.len());
    for (e, f) in expected.iter().zip(found) {
        match f {
            Some(v) => out!("    ok       {:<40} seq {}", e.label, v["seq"]),
            None => out!("    MISSING  {}", e.label),
        }
    }
    out!();
    if n < expected.len() {
        bail!("{} of {} expected events did not arrive", expected.len() - n, expected.len());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_command_line_parses() {
        menwei_tests::doc_commands::assert_all_parse("menwei-demo", &["scripts/demo"], 5, |args| {
            Args::try_parse_from(args).map(drop)
        });
    }

    #[test]
    fn events_print_as_one_readable_line() {
        let line = describe(
            "menwei/v1/c-demo/events/access",
            r#"{"seq":3,"kind":"access.granted","gate":"north","occurred_at":"2026-11-27T10:00:01.000Z",
                "subject":{"type":"vehicle","plate":"川A019W2","match_kind":"exact"},"reason":"registered_vehicle"}"#
                .as_bytes(),
        );
        assert_eq!(
            line,
            "10:00:01  c-demo  seq 3    access.granted             gate north  vehicle 川A019W2 (exact)  [registered_vehicle]"
        );
    }
}
