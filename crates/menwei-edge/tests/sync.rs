//! Register updates from central over MQTT: applied in order, persisted, the version reported
//! back; an erasure sent by central removes the person's templates on the edge.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use menwei_core::event::{SyncBatch, Topics};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};

mod support;
use support::{Mosquitto, free_port, wait_until};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// Publishes `payload` on `topic` (QoS 1) and waits for the broker's acknowledgement.
fn publish(port: u16, topic: &str, payload: Vec<u8>) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let (client, mut el) = AsyncClient::new(MqttOptions::new("central-sync-test", "127.0.0.1", port), 10);
        client.publish(topic, QoS::AtLeastOnce, false, payload).await.unwrap();
        loop {
            if let Ok(Event::Incoming(Packet::PubAck(_))) = el.poll().await {
                break;
            }
        }
        let _ = client.disconnect().await;
        let _ = tokio::time::timeout(Duration::from_secs(1), el.poll()).await;
    });
}

/// The retained message on `topic`, if one arrives within `wait`.
fn retained(port: u16, topic: &str, wait: Duration) -> Option<String> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let (client, mut el) = AsyncClient::new(MqttOptions::new("central-sync-reader", "127.0.0.1", port), 10);
        client.subscribe(topic, QoS::AtLeastOnce).await.unwrap();
        tokio::time::timeout(wait, async {
            loop {
                if let Ok(Event::Incoming(Packet::Publish(p))) = el.poll().await {
                    return String::from_utf8_lossy(&p.payload).into_owned();
                }
            }
        })
        .await
        .ok()
    })
}

fn batch(v: serde_json::Value) -> Vec<u8> {
    let b: SyncBatch = serde_json::from_value(v).unwrap();
    serde_json::to_vec(&b).unwrap()
}

#[test]
fn register_updates_from_central_apply_in_order_and_erase_on_the_edge() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("template.key");
    std::fs::write(&key, "6bc1bee22e409f96e93d7e117393172a6bc1bee22e409f96e93d7e117393172a").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let mqtt = Mosquitto::start(dir.path(), free_port());
    let cfg = dir.path().join("edge.toml");
    std::fs::write(
        &cfg,
        format!(
            "compound_id = \"c-sync\"\n[models]\ndir = \"{}\"\n[[cameras]]\nid = \"c\"\nurl = \"{}\"\nloop = true\n\
             [register]\npath = \"register.db\"\nkey_file = \"template.key\"\n\
             [broker]\nurl = \"mqtt://127.0.0.1:{}\"\nheartbeat_secs = 1\n[outbox]\npath = \"outbox.db\"\n",
            root().join("models").display(),
            root().join("var/media/carphone_pristine.mp4").display(),
            mqtt.port
        ),
    )
    .unwrap();
    let edge = env!("CARGO_BIN_EXE_menwei-edge");
    let c = cfg.to_str().unwrap();
    let out = Command::new(edge)
        .args(["enroll", "--config", c, "--resident", "r-5", "--household", "h-5", "--consent", "app"])
        .arg(root().join("var/media/obama.jpg"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let mut daemon = menwei_tests::KillOnDrop(
        Command::new(edge).args(["run", "--config", c]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap(),
    );
    let topics = Topics::new("c-sync");
    wait_until("the edge online", Duration::from_secs(60), || {
        retained(mqtt.port, &topics.status(), Duration::from_millis(500)).as_deref() == Some("online")
    });

    // Version 2 before version 1: not applied.
    publish(mqtt.port, &topics.sync(), batch(serde_json::json!({"version": 2, "remove_vehicles": ["粤B12345"]})));
    // Version 1: a vehicle, and an erasure of r-5.
    publish(
        mqtt.port,
        &topics.sync(),
        batch(serde_json::json!({"version": 1,
            "vehicles": [{"plate": "粤B12345", "color": "blue", "household": "h-5", "kind": "resident",
                          "valid_from_ms": null, "valid_until_ms": null}],
            "erase": ["r-5"]})),
    );
    let applied = |want: &str| {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(30) {
            if retained(mqtt.port, &topics.sync_applied(), Duration::from_millis(500)).as_deref() == Some(want) {
                return true;
            }
        }
        false
    };
    assert!(applied("{\"version\":1}"), "version 1 reported");
    let reg = menwei_register::Register::open(&dir.path().join("register.db"), &key).unwrap();
    assert_eq!(reg.version().unwrap(), 1);
    assert_eq!(reg.template_count("r-5").unwrap(), 0, "erased on the edge");
    assert_eq!(reg.resident("r-5").unwrap().unwrap().status, menwei_register::ResidentStatus::Erased);
    assert_eq!(reg.vehicles().unwrap().len(), 1);
    drop(reg);
    // Central sends version 2 again, now in order.
    publish(mqtt.port, &topics.sync(), batch(serde_json::json!({"version": 2, "remove_vehicles": ["粤B12345"]})));
    assert!(applied("{\"version\":2}"), "version 2 reported");
    wait_until("the heartbeat to carry version 2", Duration::from_secs(20), || {
        retained(mqtt.port, &topics.heartbeat(), Duration::from_millis(500))
            .and_then(|h| serde_json::from_str::<serde_json::Value>(&h).ok())
            .is_some_and(|h| h["register_version"] == 2)
    });
    Command::new("kill").arg("-TERM").arg(daemon.id().to_string()).status().unwrap();
    assert!(daemon.wait().unwrap().success());
    let reg = menwei_register::Register::open(&dir.path().join("register.db"), &key).unwrap();
    assert_eq!((reg.version().unwrap(), reg.vehicles().unwrap().len()), (2, 0), "persisted");
}
