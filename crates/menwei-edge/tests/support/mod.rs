//! Test servers shared by the edge's integration tests.
#![allow(dead_code)]

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[allow(unused_imports)]
pub use menwei_tests::{Mosquitto, free_port};

use menwei_core::event::{Ack, Topics};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};

pub fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").ok()?;
    let mut r = String::new();
    s.read_to_string(&mut r).ok()?;
    let code = r.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, r.split_once("\r\n\r\n").map(|x| x.1.to_owned()).unwrap_or_default()))
}

pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What the central stand-in saw.
#[derive(Default)]
pub struct Central {
    pub events: Mutex<Vec<serde_json::Value>>,
    pub heartbeats: Mutex<Vec<serde_json::Value>>,
    pub status: Mutex<Vec<String>>,
}

impl Central {
    pub fn seqs(&self) -> Vec<u64> {
        self.events.lock().unwrap().iter().map(|e| e["seq"].as_u64().unwrap()).collect()
    }
    pub fn kinds(&self) -> Vec<String> {
        self.events.lock().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_owned()).collect()
    }
}

/// Subscribes to the compound's events, heartbeat and status, and acks cumulatively.
pub fn start_central(port: u16, compound: &str) -> Arc<Central> {
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

/// Enrols `r-obama` of household `h-12` from `photo` with `menwei-edge enroll --config`, and
/// registers `plate` (with its colour, if known) as the household's vehicle in `register.db`
/// beside the config.
pub fn enrol_obama_and_a_vehicle(
    config: &std::path::Path,
    key: &std::path::Path,
    photo: &std::path::Path,
    plate: &str,
    color: Option<&str>,
) {
    let enrolled = std::process::Command::new(env!("CARGO_BIN_EXE_menwei-edge"))
        .args(["enroll", "--config"])
        .arg(config)
        .args(["--resident", "r-obama", "--household", "h-12", "--consent", "paper form"])
        .arg(photo)
        .output()
        .unwrap();
    assert!(enrolled.status.success(), "{}", String::from_utf8_lossy(&enrolled.stderr));
    let db = config.parent().unwrap().join("register.db");
    menwei_register::Register::open(&db, key)
        .unwrap()
        .upsert_vehicle(&menwei_register::VehicleEntry {
            plate: plate.into(),
            color: color.map(Into::into),
            household: Some("h-12".into()),
            kind: menwei_register::VehicleKind::Resident,
            valid_from_ms: None,
            valid_until_ms: None,
        })
        .unwrap();
}

/// `menwei-edge run --config CONFIG`, its stderr into `log`, killed when dropped.
pub fn spawn_daemon(config: &std::path::Path, log: &std::path::Path) -> menwei_tests::KillOnDrop {
    menwei_tests::KillOnDrop(
        std::process::Command::new(env!("CARGO_BIN_EXE_menwei-edge"))
            .arg("run")
            .arg("--config")
            .arg(config)
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap(),
    )
}
