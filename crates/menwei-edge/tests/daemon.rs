//! The daemon on the real sample clip, and its refusal to start on a damaged model.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// A config whose models directory is `models` and whose camera is the sample clip.
fn write_config(dir: &Path, models: &Path) -> PathBuf {
    let clip = root().join("var/media/carphone_pristine.mp4");
    let text = format!(
        "compound_id = \"t\"\n[models]\ndir = \"{}\"\nintra_threads = 1\n[[cameras]]\nid = \"clip\"\nurl = \"{}\"\ndetect_fps = 30\nmotion_gating = false\n",
        models.display(),
        clip.display()
    );
    let path = dir.join("edge.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_daemon_analyses_the_sample_clip_and_finds_the_face() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &root().join("models"));
    let out = Command::new(env!("CARGO_BIN_EXE_menwei-edge")).arg("run").arg("--config").arg(&cfg).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // The default detector's weights are non-commercial: the daemon says so at start.
    assert!(
        stderr.contains("model `scrfd_500m` carries weights licensed") && stderr.contains("centerface"),
        "{stderr}"
    );
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.len() >= 10, "only {} frames analysed\n{stderr}", lines.len());
    // carphone_pristine is a single talking face, 176x144.
    let with_face = lines.iter().filter(|l| l["faces"].as_array().is_some_and(|f| f.len() == 1)).count();
    assert!(with_face * 10 >= lines.len() * 9, "{with_face} of {} frames have exactly one face", lines.len());
    assert!(lines.iter().all(|l| l["width"] == 176 && l["height"] == 144));
    let seqs: Vec<u64> = lines.iter().map(|l| l["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "sequence numbers increase: {seqs:?}");
    let summary: serde_json::Value = serde_json::from_str(&stderr[stderr.find("{\n").expect("summary")..]).unwrap();
    let cam = &summary["cameras"][0];
    assert_eq!(cam["frames_received"], 120, "the clip has 120 frames");
    assert_eq!(cam["frames_analysed"], lines.len());
    let accounted = cam["frames_analysed"].as_u64().unwrap() + cam["frames_overwritten"].as_u64().unwrap();
    assert_eq!(accounted, 120, "every received frame is either analysed or counted as overwritten: {cam}");
}

#[test]
fn a_damaged_or_missing_model_stops_the_daemon_naming_the_file_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    std::fs::create_dir(&models).unwrap();
    std::fs::copy(root().join("models/models.toml"), models.join("models.toml")).unwrap();
    let cfg = write_config(dir.path(), &models);
    let run = || Command::new(env!("CARGO_BIN_EXE_menwei-edge")).arg("run").arg("--config").arg(&cfg).output().unwrap();

    let missing = run();
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(!missing.status.success());
    assert!(stderr.contains("scrfd_500m_bnkps.onnx is missing") && stderr.contains("scripts/setup"), "{stderr}");
    assert!(missing.stdout.is_empty(), "nothing ran");

    let mut bytes = std::fs::read(root().join("models/scrfd_500m_bnkps.onnx")).unwrap();
    bytes.truncate(bytes.len() / 2);
    std::fs::write(models.join("scrfd_500m_bnkps.onnx"), bytes).unwrap();
    let damaged = run();
    let stderr = String::from_utf8_lossy(&damaged.stderr);
    assert!(!damaged.status.success());
    assert!(stderr.contains("scrfd_500m_bnkps.onnx is damaged") && stderr.contains("scripts/setup"), "{stderr}");
}

#[test]
fn the_daemon_tells_systemd_it_is_ready_pings_the_watchdog_and_says_it_stops() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &root().join("models"));
    let sock_path = dir.path().join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_millis(200))).unwrap();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Read while the daemon runs, as systemd does.
    let reader = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut got = Vec::new();
            let mut buf = [0u8; 256];
            loop {
                match sock.recv(&mut buf) {
                    Ok(n) => got.push(String::from_utf8_lossy(&buf[..n]).into_owned()),
                    Err(_) if done.load(std::sync::atomic::Ordering::SeqCst) => return got,
                    Err(_) => {}
                }
            }
        })
    };
    let out = Command::new(env!("CARGO_BIN_EXE_menwei-edge"))
        .arg("run")
        .arg("--config")
        .arg(&cfg)
        .env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", "400000")
        .output()
        .unwrap();
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let got = reader.join().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(got.first().map(String::as_str), Some("READY=1"), "{got:?}");
    assert_eq!(got.last().map(String::as_str), Some("STOPPING=1"), "{got:?}");
    // The clip plays for about 4 s in real time; a 0.2 s ping period gives many pings.
    assert!(got.iter().filter(|m| *m == "WATCHDOG=1").count() >= 5, "{got:?}");
}

#[test]
fn a_missing_onnx_runtime_is_named_with_what_to_run() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &root().join("models"));
    let missing = dir.path().join("no-such-libonnxruntime.so");
    let out = Command::new(env!("CARGO_BIN_EXE_menwei-edge"))
        .arg("run")
        .arg("--config")
        .arg(&cfg)
        .env("MENWEI_ORT_DYLIB", &missing)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains(&*missing.to_string_lossy()) && stderr.contains("$MENWEI_ORT_DYLIB"), "{stderr}");
    assert!(stderr.contains("scripts/setup"), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing ran");

    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text = text.replace("[models]", &format!("[runtime]\nonnxruntime = \"{}\"\n[models]", missing.display()));
    std::fs::write(&cfg, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_menwei-edge")).arg("run").arg("--config").arg(&cfg).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("named by the config") && stderr.contains("scripts/setup"), "{stderr}");
}
