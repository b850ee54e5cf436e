//! End to end at a gate: a clip built from real photos, streamed by a real RTSP server,
//! watched by the daemon with a seeded register, events through a real Mosquitto to a
//! central stand-in. Residents are enrolled from photos other than the ones in the clip.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use menwei_capture::server::{Mount, RtspServer};

mod support;
use support::{Mosquitto, enrol_obama_and_a_vehicle, free_port, get, spawn_daemon, start_central, wait_until};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

#[test]
fn a_gate_clip_gives_exactly_the_expected_events() {
    // The demo's scene: Obama (enrolled from another photo), a stranger who comes by three
    // times, a registered car and an unknown one (real plate photos from ../shared/data, or
    // plates drawn where it is absent).
    let scene = menwei_demo::Scene::gate(&root()).unwrap();
    eprintln!("plates: {}", scene.plates_from);
    let pictures = scene.pictures.clone();
    let dir = tempfile::tempdir().unwrap();
    let media = |n: &str| root().join("var/media").join(n);
    // The demo's clip builder: 1280x720 H.264, 5 frames/s, each picture for 3 s.
    let clip = menwei_demo::gate_clip(dir.path(), &pictures, 0, 3, 5, 5).unwrap();

    let mqtt = Mosquitto::start(dir.path(), free_port());
    let camera = RtspServer::start(0, &[Mount::h264_file("/gate", &clip)]).unwrap();
    let http = free_port();
    let key = dir.path().join("template.key");
    std::fs::write(&key, "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let cfg = dir.path().join("edge.toml");
    std::fs::write(
        &cfg,
        format!(
            "compound_id = \"c-gate\"\n[models]\ndir = \"{models}\"\nintra_threads = 2\n\
             [[cameras]]\nid = \"north-1\"\nurl = \"{url}\"\ngate = \"north\"\ndirection = \"entry\"\nrole = \"both\"\n\
             detect_fps = 5\nmotion_gating = true\n\
             [register]\npath = \"register.db\"\nkey_file = \"template.key\"\n\
             [broker]\nurl = \"mqtt://127.0.0.1:{mq}\"\n[outbox]\npath = \"outbox.db\"\n\
             [http]\nlisten = \"127.0.0.1:{http}\"\n[matching]\nretrigger_secs = 120\n\
             [snapshots]\ndir = \"snapshots\"\nkeep_hours = 1\n",
            models = root().join("models").display(),
            url = camera.url("/gate"),
            mq = mqtt.port,
        ),
    )
    .unwrap();
    enrol_obama_and_a_vehicle(&cfg, &key, &media("obama.jpg"), "川A019W2", Some("blue"));
    let central = start_central(mqtt.port, "c-gate");
    let log = dir.path().join("daemon.log");
    let mut daemon = spawn_daemon(&cfg, &log);
    let expected = 3;
    let class =
        |c: &str| central.events.lock().unwrap().iter().filter(|e| e["class"] == c).cloned().collect::<Vec<_>>();
    let access = || class("access");
    wait_until("the access events", Duration::from_secs(120), || access().len() >= expected);
    wait_until("the repeat stranger", Duration::from_secs(60), || !class("security").is_empty());
    // The clip plays through once more after its end (the camera reconnects): still one event
    // per passage. Wait for the reconnect and 15 s of the second pass (75 frames), not a clock.
    let metric = |line: &str| {
        let text = get(http, "/metrics").map(|r| r.1).unwrap_or_default();
        text.lines().find_map(|l| l.strip_prefix(line)).and_then(|v| v.trim().parse::<f64>().ok()).unwrap_or(0.0)
    };
    let received = || metric("menwei_capture_frames_received_total{camera=\"north-1\"}");
    wait_until("the camera's reconnect at the clip's end", Duration::from_secs(120), || {
        metric("menwei_capture_reconnects_total{camera=\"north-1\"}") >= 1.0
    });
    let replay_from = received();
    wait_until("15 s of the clip's second pass", Duration::from_secs(60), || received() >= replay_from + 75.0);
    assert_eq!(get(http, "/healthz").map(|r| r.0), Some(200));
    // What the motion gate did is on /metrics too.
    let metrics = get(http, "/metrics").expect("metrics").1;
    let value = |line: &str| {
        metrics.lines().find_map(|l| l.strip_prefix(line)).and_then(|v| v.trim().parse::<f64>().ok()).unwrap_or(0.0)
    };
    let analysed_metric = value("menwei_pipeline_analysed_frames_total{camera=\"north-1\"}");
    let decided_metric = value("menwei_pipeline_spared_frames_total{camera=\"north-1\",reason=\"decided\"}");
    assert!(analysed_metric > 0.0 && decided_metric > 0.0, "{metrics}");
    Command::new("kill").arg("-TERM").arg(daemon.id().to_string()).status().unwrap();
    let status = daemon.wait().unwrap();
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "{log_text}");

    // Motion-gated: each picture is a cut, then a still picture. Once its face or plate is
    // decided, the still frames are not analysed (their last detections are replayed), and the
    // events are the same as when every frame is analysed (the demo's test).
    let summary: serde_json::Value =
        serde_json::from_str(&log_text[log_text.find("{\n").expect("the run summary")..]).unwrap();
    let cam = &summary["cameras"][0];
    let (analysed, unchanged) = (cam["frames_analysed"].as_u64().unwrap(), cam["frames_unchanged"].as_u64().unwrap());
    eprintln!("frames analysed {analysed}, replayed while still {unchanged}");
    assert!(unchanged > analysed / 2, "a still picture whose subject is decided is not analysed again: {cam}");

    let events = access();
    for e in &events {
        eprintln!("{e}");
    }
    assert_eq!(events.len(), expected, "exactly one event per passage:\n{events:#?}");
    let resident = events.iter().find(|e| e["subject"]["type"] == "resident").expect("Obama recognised");
    assert_eq!(
        (resident["kind"].as_str(), resident["reason"].as_str(), resident["subject"]["resident_ref"].as_str()),
        (Some("access.granted"), Some("resident_face"), Some("r-obama"))
    );
    assert_eq!((resident["gate"].as_str(), resident["direction"].as_str()), (Some("north"), Some("entry")));
    assert!(resident["models"]["w600k_mbf"].as_str().is_some_and(|h| h.len() == 12), "{resident}");
    let margin = resident["scores"]["face_margin"].as_f64().unwrap();
    assert!(margin > 0.0 && margin <= resident["scores"]["face_cosine"].as_f64().unwrap() + 1e-6);
    {
        let vehicle = |plate: &str| events.iter().find(|e| e["subject"]["plate"] == plate).cloned();
        let known = vehicle("川A019W2").expect("the registered car");
        assert_eq!(
            (known["kind"].as_str(), known["subject"]["match_kind"].as_str()),
            (Some("access.granted"), Some("exact"))
        );
        assert_eq!(known["subject"]["layout"], "single_row");
        // A clear plate is read surely once: the barrier does not wait for a second frame.
        assert_eq!(known["scores"]["plate_reads"], 1.0, "{known}");
        let unknown = vehicle("川AKQ291").expect("the unknown car");
        assert_eq!(
            (unknown["kind"].as_str(), unknown["reason"].as_str()),
            (Some("access.denied"), Some("unknown_vehicle"))
        );
    }
    // Each access and security event left its picture on the box, named by its seq.
    let snaps: Vec<String> = std::fs::read_dir(dir.path().join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(snaps.len(), expected + 1, "{snaps:?}");
    let security = class("security");
    assert_eq!(security.len(), 1, "{security:#?}");
    assert_eq!(
        (security[0]["kind"].as_str(), security[0]["subject"]["type"].as_str()),
        (Some("security.repeat_stranger"), Some("unknown_face"))
    );
    assert!(security[0]["subject"]["cluster_ref"].as_str().is_some_and(|c| c.starts_with("s-")));
    // No image bytes, no embeddings, no names in any payload.
    for e in central.events.lock().unwrap().iter() {
        let text = e.to_string();
        assert!(text.len() < 1500 && !text.contains("Obama") && !text.contains("base64"), "{text}");
        fn longest_float_array(v: &serde_json::Value) -> usize {
            match v {
                serde_json::Value::Array(a) => a.len().max(a.iter().map(longest_float_array).max().unwrap_or(0)),
                serde_json::Value::Object(o) => o.values().map(longest_float_array).max().unwrap_or(0),
                _ => 0,
            }
        }
        assert!(longest_float_array(e) <= 8, "an array longer than a plate's confidences: {text}");
    }
    drop(camera);
}
