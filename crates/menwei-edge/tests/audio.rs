//! End to end with what real cameras send: video with audio beside it, in either order, over
//! RTSP and in files; a camera that changes resolution mid-stream; a URL with no video at all.
//! Each camera shows the same two passages (a resident, then a registered car) and must give
//! exactly their two events; the others must give the health events that say what happened.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use menwei_capture::server::{Audio, Mount, RtspServer};

mod support;
use support::{Mosquitto, enrol_obama_and_a_vehicle, free_port, get, spawn_daemon, start_central, wait_until};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

#[test]
fn cameras_with_audio_give_the_same_events_as_without_and_a_camera_without_video_is_reported() {
    let scene = menwei_demo::Scene::gate(&root()).unwrap();
    eprintln!("plates: {}", scene.plates_from);
    // The resident (from a photo other than the enrolment one), then the registered car.
    let pictures = vec![scene.pictures[0].clone(), scene.pictures[2].clone()];
    let dir = tempfile::tempdir().unwrap();
    let (lead_in, show, fps) = (2, 4, 5);
    let clip = menwei_demo::gate_clip(dir.path(), &pictures, lead_in, show, fps, fps).unwrap();
    let secs = lead_in + show * pictures.len() as u32;
    let video_first = menwei_demo::with_audio(&clip, secs, false, &dir.path().join("video-first.mp4")).unwrap();
    let audio_first = menwei_demo::with_audio(&clip, secs, true, &dir.path().join("audio-first.mp4")).unwrap();

    let mqtt = Mosquitto::start(dir.path(), free_port());
    let server = RtspServer::start(
        0,
        &[
            // H.264 with G.711 A-law, the audio listed first, as a Hikvision main stream.
            Mount::h264_file_with_audio("/pcma", &video_first, Audio::Pcma, true),
            Mount::h264_file_with_audio("/aac", &video_first, Audio::Aac, false),
            Mount::resolution_change("/profile", (640, 360), (320, 240), 5, 3),
            Mount::audio_only("/mic"),
        ],
    )
    .unwrap();
    let http = free_port();
    let key = dir.path().join("template.key");
    std::fs::write(&key, "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let gates = [
        ("rtsp-pcma", server.url("/pcma")),
        ("rtsp-aac", server.url("/aac")),
        ("file-video-first", video_first.display().to_string()),
        ("file-audio-first", audio_first.display().to_string()),
    ];
    let mut cameras = String::new();
    for (id, url) in &gates {
        cameras += &format!(
            "[[cameras]]\nid = \"{id}\"\nurl = \"{url}\"\ngate = \"{id}\"\ndirection = \"entry\"\nrole = \"both\"\n\
             detect_fps = 5\nmotion_gating = true\n"
        );
    }
    for (id, url) in [("profile", server.url("/profile")), ("mic", server.url("/mic"))] {
        cameras += &format!(
            "[[cameras]]\nid = \"{id}\"\nurl = \"{url}\"\ngate = \"{id}\"\ndirection = \"entry\"\nrole = \"face\"\n\
             detect_fps = 2\nmotion_gating = true\n"
        );
    }
    let cfg = dir.path().join("edge.toml");
    std::fs::write(
        &cfg,
        format!(
            "compound_id = \"c-audio\"\n[models]\ndir = \"{models}\"\nintra_threads = 2\n{cameras}\
             [register]\npath = \"register.db\"\nkey_file = \"template.key\"\n\
             [broker]\nurl = \"mqtt://127.0.0.1:{mq}\"\n[outbox]\npath = \"outbox.db\"\n\
             [http]\nlisten = \"127.0.0.1:{http}\"\n[matching]\nretrigger_secs = 120\n",
            models = root().join("models").display(),
            mq = mqtt.port,
        ),
    )
    .unwrap();
    enrol_obama_and_a_vehicle(&cfg, &key, &scene.resident_photo, &scene.registered_plate, None);
    let central = start_central(mqtt.port, "c-audio");
    let log = dir.path().join("daemon.log");
    let mut daemon = spawn_daemon(&cfg, &log);
    let events = || central.events.lock().unwrap().clone();
    let of = |camera: &str, kind: &str| {
        events().into_iter().filter(|e| e["camera"] == camera && e["kind"] == kind).collect::<Vec<_>>()
    };
    let granted = |camera: &str| of(camera, "access.granted");
    for (id, _) in &gates {
        wait_until(&format!("{id}'s two passages"), Duration::from_secs(180), || granted(id).len() >= 2);
    }
    wait_until("the profile change", Duration::from_secs(60), || {
        !of("profile", "health.camera_format_changed").is_empty()
    });
    wait_until("the camera without video", Duration::from_secs(60), || !of("mic", "health.camera_offline").is_empty());
    // The RTSP clips play again after their end (the camera reconnects): still one event per
    // passage. Wait for 5 s of a second pass of both, not a clock.
    let metric = |line: &str| {
        let text = get(http, "/metrics").map(|r| r.1).unwrap_or_default();
        text.lines().find_map(|l| l.strip_prefix(line)).and_then(|v| v.trim().parse::<f64>().ok()).unwrap_or(0.0)
    };
    for id in ["rtsp-pcma", "rtsp-aac"] {
        let reconnects = format!("menwei_capture_reconnects_total{{camera=\"{id}\"}}");
        wait_until(&format!("{id}'s second pass"), Duration::from_secs(120), || metric(&reconnects) >= 1.0);
    }
    let received = |id: &str| metric(&format!("menwei_capture_frames_received_total{{camera=\"{id}\"}}"));
    let from = received("rtsp-aac");
    wait_until("5 s of the second pass", Duration::from_secs(60), || received("rtsp-aac") >= from + 25.0);
    Command::new("kill").arg("-TERM").arg(daemon.id().to_string()).status().unwrap();
    let status = daemon.wait().unwrap();
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "{log_text}");
    assert!(!log_text.contains("not video"), "no camera was refused for its audio:\n{log_text}");

    for (id, _) in &gates {
        let got = granted(id);
        assert_eq!(got.len(), 2, "{id}: exactly the two passages:\n{got:#?}");
        assert!(
            got.iter().any(|e| e["subject"]["resident_ref"] == "r-obama" && e["reason"] == "resident_face"),
            "{id}: the resident: {got:#?}"
        );
        assert!(
            got.iter().any(|e| e["subject"]["plate"] == scene.registered_plate.as_str()),
            "{id}: the registered car: {got:#?}"
        );
        assert!(of(id, "access.denied").is_empty(), "{id}: nobody refused");
        assert!(of(id, "health.camera_offline").is_empty(), "{id}: never offline");
    }
    let changed = of("profile", "health.camera_format_changed");
    assert_eq!(changed.len(), 1, "{changed:#?}");
    assert_eq!(changed[0]["subject"]["detail"], "640x360 -> 320x240", "{changed:#?}");
    assert!(of("profile", "health.camera_offline").is_empty(), "a profile change is not an outage");
    let offline = of("mic", "health.camera_offline");
    assert_eq!(offline.len(), 1, "reported once, not retried: {offline:#?}");
    assert_eq!(offline[0]["subject"]["state"], "unusable", "{offline:#?}");
    let detail = offline[0]["subject"]["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("no video stream, only audio"), "{detail}");
}
