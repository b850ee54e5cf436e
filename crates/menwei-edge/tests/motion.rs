//! Motion gating: on a still scene the models run once per idle check instead of on every
//! frame. Asserted on frame counts from the daemon's summary.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// Runs the daemon on `clip` and returns (frames analysed, frames spared) of its one camera.
fn run(dir: &Path, clip: &Path, gating: bool) -> (u64, u64) {
    let cfg = dir.join(format!("edge-{gating}.toml"));
    std::fs::write(
        &cfg,
        format!(
            "compound_id = \"c\"\n[models]\ndir = \"{}\"\n[[cameras]]\nid = \"still\"\nurl = \"{}\"\ndetect_fps = 10\n\
             motion_gating = {gating}\nidle_check_secs = 1\n",
            root().join("models").display(),
            clip.display()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_menwei-edge")).args(["run", "--config"]).arg(&cfg).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let summary: serde_json::Value = serde_json::from_str(&stderr[stderr.find("{\n").expect("summary")..]).unwrap();
    let cam = &summary["cameras"][0];
    (cam["frames_analysed"].as_u64().unwrap(), cam["frames_still"].as_u64().unwrap())
}

#[test]
fn a_still_scene_costs_one_analysis_per_idle_check() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("still.mp4");
    // Four seconds of a still picture at 10 frames/s (not the SMPTE card: its corner of snow
    // moves, and the motion gate rightly sees it).
    let ok = Command::new("gst-launch-1.0")
        .arg("-q")
        .args(
            format!(
                "videotestsrc num-buffers=40 pattern=checkers-8 ! video/x-raw,width=320,height=240,framerate=10/1 \
                 ! x264enc key-int-max=10 bframes=0 speed-preset=ultrafast ! h264parse ! mp4mux ! filesink location={}",
                clip.display()
            )
            .split_whitespace(),
        )
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let (all, spared_off) = run(dir.path(), &clip, false);
    let (gated, spared) = run(dir.path(), &clip, true);
    eprintln!("every frame: {all} analysed; motion-gated: {gated} analysed, {spared} spared");
    assert_eq!(spared_off, 0);
    assert!(all >= 30, "{all}");
    assert!((2..=8).contains(&gated), "{gated}");
    assert!(gated + spared >= 30, "every frame is either analysed or spared: {gated} + {spared}");
}
