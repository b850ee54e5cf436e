//! A camera that detects on its low-resolution sub-stream and recognises on its main stream:
//! the same scene served as two RTSP streams (640x360 and 1280x720), the daemon with
//! `detect_url`, events through a real Mosquitto. The main stream must be decoded in full only
//! while something moves, and the events must be those of the scene.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use menwei_capture::server::{Mount, RtspServer};
use menwei_demo::ClipPlan;

mod support;
use support::{Mosquitto, enrol_obama_and_a_vehicle, free_port, get, spawn_daemon, start_central, wait_until};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

#[test]
fn detection_on_the_sub_stream_recognition_on_the_main_stream() {
    let scene = menwei_demo::Scene::gate(&root()).unwrap();
    let pictures = vec![scene.pictures[0].clone(), scene.pictures[2].clone()];
    let dir = tempfile::tempdir().unwrap();
    // 6 s of empty gate (the main stream goes to keyframes only), then the two passages.
    let plan = ClipPlan { gap_secs: 0, ..ClipPlan::gate(6, 4, 10, 10) };
    let (main_dir, sub_dir) = (dir.path().join("main"), dir.path().join("sub"));
    std::fs::create_dir_all(&main_dir).unwrap();
    std::fs::create_dir_all(&sub_dir).unwrap();
    let main = plan.build(&main_dir, &pictures).unwrap().file;
    let sub = ClipPlan { width: 640, height: 360, ..plan }.build(&sub_dir, &pictures).unwrap().file;

    let mqtt = Mosquitto::start(dir.path(), free_port());
    let server = RtspServer::start(0, &[Mount::h264_file("/main", &main), Mount::h264_file("/sub", &sub)]).unwrap();
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
            "compound_id = \"c-sub\"\n[models]\ndir = \"{models}\"\nintra_threads = 2\n\
             [[cameras]]\nid = \"gate\"\nurl = \"{main}\"\ndetect_url = \"{sub}\"\ngate = \"north\"\n\
             direction = \"entry\"\nrole = \"both\"\ndetect_fps = 5\nmotion_gating = true\n\
             [register]\npath = \"register.db\"\nkey_file = \"template.key\"\n\
             [broker]\nurl = \"mqtt://127.0.0.1:{mq}\"\n[outbox]\npath = \"outbox.db\"\n\
             [http]\nlisten = \"127.0.0.1:{http}\"\n[matching]\nretrigger_secs = 120\n",
            models = root().join("models").display(),
            main = server.url("/main"),
            sub = server.url("/sub"),
            mq = mqtt.port,
        ),
    )
    .unwrap();
    enrol_obama_and_a_vehicle(&cfg, &key, &scene.resident_photo, &scene.registered_plate, None);
    let central = start_central(mqtt.port, "c-sub");
    let log = dir.path().join("daemon.log");
    let mut daemon = spawn_daemon(&cfg, &log);
    let granted =
        || central.events.lock().unwrap().iter().filter(|e| e["kind"] == "access.granted").cloned().collect::<Vec<_>>();
    wait_until("both passages", Duration::from_secs(120), || granted().len() >= 2);
    let metric = |line: &str| {
        let text = get(http, "/metrics").map(|r| r.1).unwrap_or_default();
        text.lines().find_map(|l| l.strip_prefix(line)).and_then(|v| v.trim().parse::<f64>().ok()).unwrap_or(0.0)
    };
    // Until both streams have played to their end once.
    wait_until("the clips' end", Duration::from_secs(60), || {
        metric("menwei_capture_reconnects_total{camera=\"gate\"}") >= 1.0
            && metric("menwei_capture_reconnects_total{camera=\"gate-main\"}") >= 1.0
    });
    let decoded = |id: &str| metric(&format!("menwei_capture_decoded_frames_total{{camera=\"{id}\"}}"));
    let skipped = metric("menwei_capture_skipped_frames_total{camera=\"gate-main\"}");
    let (sub_decoded, main_decoded) = (decoded("gate"), decoded("gate-main"));
    eprintln!("decoded: sub-stream {sub_decoded}, main stream {main_decoded} (skipped while idle {skipped})");
    Command::new("kill").arg("-TERM").arg(daemon.id().to_string()).status().unwrap();
    let status = daemon.wait().unwrap();
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "{log_text}");

    let events = granted();
    assert_eq!(events.len(), 2, "exactly the two passages: {events:#?}");
    assert!(events.iter().any(|e| e["subject"]["resident_ref"] == "r-obama"), "{events:#?}");
    assert!(events.iter().any(|e| e["subject"]["plate"] == scene.registered_plate.as_str()), "{events:#?}");
    assert!(events.iter().all(|e| e["camera"] == "gate"), "events name the camera, not its streams");
    // The main stream was decoded keyframes-only while the gate was empty.
    assert!(skipped > 0.0 && main_decoded < sub_decoded, "main {main_decoded}, sub {sub_decoded}, skipped {skipped}");
    let summary: serde_json::Value =
        serde_json::from_str(&log_text[log_text.find("{\n").expect("the run summary")..]).unwrap();
    let cam = &summary["cameras"][0];
    eprintln!("{cam}");
    // Pictures are paired while the main stream decodes in full; while it decodes keyframes
    // only, detect frames go without (and nothing is recognised then).
    let (paired, analysed) = (cam["main_paired"].as_u64().unwrap(), cam["frames_analysed"].as_u64().unwrap());
    assert!(paired >= analysed && paired > 0, "recognition read main-stream pictures: {cam}");
    // The server sends RTCP sender reports on both streams: once they arrive, the camera's own
    // clock pairs the pictures, not their arrival.
    let by_clock = cam["main_paired_by_clock"].as_u64().unwrap();
    assert!(by_clock > 0 && by_clock <= paired, "{by_clock} of {paired} paired by the camera's clock: {cam}");
}
