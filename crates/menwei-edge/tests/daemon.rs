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
        "compound_id = \"t\"\n[models]\ndir = \"{}\"\nintra_threads = 1\n[[cameras]]\nid = \"clip\"\nurl = \"{}\"\ndetect_fps = 30\n",
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
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.len() >= 10, "only {} frames analysed\n{stderr}", lines.len());
    // carphone_pristine is a single talking face, 176x144.
    let with_face = lines.iter().filter(|l| l["faces"].as_array().is_some_and(|f| f.len() == 1)).count();
    assert!(with_face * 10 >= lines.len() * 9, "{with_face} of {} frames have exactly one face", lines.len());
    assert!(lines.iter().all(|l| l["width"] == 176 && l["height"] == 144));
    let seqs: Vec<u64> = lines.iter().map(|l| l["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "sequence numbers increase: {seqs:?}");
    assert!(stderr.contains("\"frames_received\": 120"), "the clip has 120 frames:\n{stderr}");
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
