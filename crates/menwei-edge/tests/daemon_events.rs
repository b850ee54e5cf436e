//! The daemon with a real broker and a real RTSP camera: camera problems become health events
//! that reach the central stand-in; the daemon is SIGKILLed mid-run and restarted, and no
//! committed event is lost; the SQLite outbox passes its integrity check; `/metrics`,
//! `/healthz` and `/readyz` answer; the heartbeat and the retained status are published.

use std::collections::{BTreeMap, HashSet};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use menwei_capture::server::{Mount, RtspServer};
use menwei_core::event::{Ack, Topics};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};

mod support;
use support::Mosquitto;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").ok()?;
    let mut r = String::new();
    s.read_to_string(&mut r).ok()?;
    let code = r.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, r.split_once("\r\n\r\n").map(|x| x.1.to_owned()).unwrap_or_default()))
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What the central stand-in saw.
#[derive(Default)]
struct Central {
    events: Mutex<Vec<serde_json::Value>>,
    heartbeats: Mutex<Vec<serde_json::Value>>,
    status: Mutex<Vec<String>>,
}

impl Central {
    fn seqs(&self) -> Vec<u64> {
        self.events.lock().unwrap().iter().map(|e| e["seq"].as_u64().unwrap()).collect()
    }
    fn kinds(&self) -> Vec<String> {
        self.events.lock().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_owned()).collect()
    }
}

/// Subscribes to the compound's events, heartbeat and status, and acks cumulatively.
fn start_central(port: u16, compound: &str) -> Arc<Central> {
    let got = Arc::new(Central::default());
    let (g, compound) = (got.clone(), compound.to_owned());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let mut o = MqttOptions::new("central-daemon-test", "127.0.0.1", port);
            o.set_keep_alive(Duration::from_secs(5));
            let (client, mut el) = AsyncClient::new(o, 64);
            let topics = Topics::new(&compound);
            let mut have: HashSet<u64> = HashSet::new();
            let mut acked = 0;
            loop {
                match el.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let _ = client.subscribe(Topics::all_events(), QoS::AtLeastOnce).await;
                        let _ = client.subscribe(topics.heartbeat(), QoS::AtLeastOnce).await;
                        let _ = client.subscribe(topics.status(), QoS::AtLeastOnce).await;
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let topic = String::from_utf8_lossy(&p.topic).to_string();
                        if topic == topics.status() {
                            g.status.lock().unwrap().push(String::from_utf8_lossy(&p.payload).into());
                        } else if topic == topics.heartbeat() {
                            g.heartbeats.lock().unwrap().push(serde_json::from_slice(&p.payload).unwrap());
                        } else {
                            let v: serde_json::Value = serde_json::from_slice(&p.payload).unwrap();
                            have.insert(v["seq"].as_u64().unwrap());
                            g.events.lock().unwrap().push(v);
                            let mut c = acked;
                            while have.contains(&(c + 1)) {
                                c += 1;
                            }
                            if c > acked {
                                let body = serde_json::to_vec(&Ack { upto_seq: c }).unwrap();
                                let _ = client.publish(topics.ack(), QoS::AtLeastOnce, false, body).await;
                                acked = c;
                            }
                        }
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        });
    });
    got
}

fn spawn_daemon(cfg: &Path, log: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_menwei-edge"))
        .arg("run")
        .arg("--config")
        .arg(cfg)
        .env("RUST_LOG", "info,ort=warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

#[test]
fn camera_problems_reach_central_through_a_daemon_kill_and_the_outbox_stays_intact() {
    let dir = tempfile::tempdir().unwrap();
    let mqtt = Mosquitto::start(dir.path(), free_port());
    let camera = RtspServer::start(0, &[Mount::test_pattern("/gate", 320, 240, 10, false)]).unwrap();
    let cam_port = camera.port();
    let http = free_port();
    let cfg = dir.path().join("edge.toml");
    std::fs::write(
        &cfg,
        format!(
            "compound_id = \"c-ev\"\n[models]\ndir = \"{models}\"\n\
             [[cameras]]\nid = \"gate-cam\"\nurl = \"rtsp://127.0.0.1:{cam_port}/gate\"\ngate = \"north\"\n\
             detect_fps = 2\nwatchdog_secs = 2\n\
             [broker]\nurl = \"mqtt://127.0.0.1:{mq}\"\nheartbeat_secs = 1\n\
             [outbox]\npath = \"outbox.db\"\n[http]\nlisten = \"127.0.0.1:{http}\"\n",
            models = root().join("models").display(),
            mq = mqtt.port,
        ),
    )
    .unwrap();
    let central = start_central(mqtt.port, "c-ev");
    let log = dir.path().join("daemon.log");
    let mut daemon = spawn_daemon(&cfg, &log);
    wait_until("/readyz to say ready", Duration::from_secs(60), || get(http, "/readyz").is_some_and(|r| r.0 == 200));
    assert_eq!(get(http, "/healthz").unwrap(), (200, "ok\n".to_owned()));

    // The camera goes away: offline; it comes back: online. Twice, then it goes away once
    // more and the daemon is killed.
    let count = |kind: &str| central.kinds().iter().filter(|k| *k == kind).count();
    let mut camera = Some(camera);
    for round in 1..=2 {
        camera.take().unwrap().stop();
        wait_until("an offline event", Duration::from_secs(30), || count("health.camera_offline") >= round);
        camera = Some(RtspServer::start(cam_port, &[Mount::test_pattern("/gate", 320, 240, 10, false)]).unwrap());
        wait_until("an online event", Duration::from_secs(60), || count("health.camera_online") >= round);
    }
    let (code, body) = get(http, "/metrics").unwrap();
    assert_eq!(code, 200);
    for want in [
        "menwei_capture_frames_received_total{camera=\"gate-cam\"}",
        "menwei_capture_state{camera=\"gate-cam\",state=\"streaming\"} 1",
        "menwei_outbox_depth_events{class=\"health\"}",
        "menwei_relay_connected 1",
    ] {
        assert!(body.contains(want), "{want} missing from /metrics:\n{body}");
    }
    camera.take().unwrap().stop();
    wait_until("the third offline event to be committed", Duration::from_secs(30), || {
        let o = menwei_outbox::Outbox::open(&dir.path().join("outbox.db"), Default::default()).unwrap();
        o.last_seq().unwrap() >= 5
    });
    let (code, why) = get(http, "/readyz").unwrap();
    assert_eq!(code, 503);
    assert!(why.contains("camera gate-cam is"), "{why}");
    daemon.kill().unwrap(); // SIGKILL, mid-run, with the camera down
    daemon.wait().unwrap();

    let outbox = menwei_outbox::Outbox::open(&dir.path().join("outbox.db"), Default::default()).unwrap();
    assert!(outbox.integrity_check().unwrap(), "the outbox survives SIGKILL intact");
    let committed_before_kill = outbox.last_seq().unwrap();
    drop(outbox);

    // Restarted, with the camera back: everything committed before the kill arrives.
    camera = Some(RtspServer::start(cam_port, &[Mount::test_pattern("/gate", 320, 240, 10, false)]).unwrap());
    central.heartbeats.lock().unwrap().clear();
    let mut daemon = spawn_daemon(&cfg, &log);
    wait_until("/readyz after the restart", Duration::from_secs(60), || {
        get(http, "/readyz").is_some_and(|r| r.0 == 200)
    });
    wait_until("every committed event at central", Duration::from_secs(60), || {
        let seqs: HashSet<u64> = central.seqs().into_iter().collect();
        (1..=committed_before_kill).all(|s| seqs.contains(&s))
    });
    wait_until("a heartbeat naming the camera", Duration::from_secs(20), || {
        central.heartbeats.lock().unwrap().iter().any(|h| h["cameras"]["gate-cam"].is_string())
    });
    // SIGTERM: a clean stop says `offline`.
    Command::new("kill").arg("-TERM").arg(daemon.id().to_string()).status().unwrap();
    let status = daemon.wait().unwrap();
    drop(camera);

    let seqs = central.seqs();
    let unique: HashSet<u64> = seqs.iter().copied().collect();
    let kinds = central.kinds();
    let mut by_kind = BTreeMap::new();
    for k in &kinds {
        *by_kind.entry(k.clone()).or_insert(0) += 1;
    }
    eprintln!(
        "committed before the kill {committed_before_kill}; central received {} events ({} unique, {} duplicates): \
         {by_kind:?}; status messages {:?}",
        seqs.len(),
        unique.len(),
        seqs.len() - unique.len(),
        central.status.lock().unwrap()
    );
    assert!(status.success(), "clean exit on SIGTERM:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
    assert!(committed_before_kill >= 4, "two flaps and a final outage gave {committed_before_kill} events");
    let max = *unique.iter().max().unwrap();
    assert_eq!(unique.len() as u64, max, "no gap in the sequence up to {max}");
    assert!(by_kind.get("health.camera_offline").copied().unwrap_or(0) >= 3, "{by_kind:?}");
    assert!(by_kind.get("health.camera_online").copied().unwrap_or(0) >= 2, "{by_kind:?}");
    let e = central.events.lock().unwrap()[0].clone();
    assert_eq!(
        (e["gate"].as_str(), e["camera"].as_str(), e["class"].as_str()),
        (Some("north"), Some("gate-cam"), Some("health"))
    );
    assert!(e["event_id"].as_str().unwrap().len() == 36 && e["occurred_at"].as_str().unwrap().ends_with('Z'));
    let hb =
        central.heartbeats.lock().unwrap().iter().rfind(|h| h["cameras"]["gate-cam"].is_string()).cloned().unwrap();
    assert!(hb["cameras"]["gate-cam"].is_string() && hb["outbox"]["depth"].is_object(), "{hb}");
    assert_eq!(central.status.lock().unwrap().last().map(String::as_str), Some("offline"));
    // Nothing biometric or pictorial in any payload: no float arrays of embedding size.
    for e in central.events.lock().unwrap().iter() {
        let text = e.to_string();
        assert!(text.len() < 2000, "{text}");
    }
}
