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

/// A 1280x720 clip at 10 frames/s: Biden stands still on the left while Obama's photo slides
/// slowly across the right half.
fn one_mover_clip(dir: &Path) -> PathBuf {
    let media = root().join("var/media");
    let load = |name: &str, h: u32| {
        let img = image::open(media.join(name)).unwrap().to_rgb8();
        let w = img.width() * h / img.height();
        image::imageops::resize(&img, w, h, image::imageops::FilterType::Triangle)
    };
    let (still, mover) = (load("biden.jpg", 600), load("obama.jpg", 600));
    let frames = dir.join("frames");
    std::fs::create_dir_all(&frames).unwrap();
    for n in 0..40u32 {
        let mut canvas = image::RgbImage::from_pixel(1280, 720, image::Rgb([90, 90, 90]));
        image::imageops::overlay(&mut canvas, &still, 40, 60);
        image::imageops::overlay(&mut canvas, &mover, i64::from(660 + n * 3), 60);
        canvas.save(frames.join(format!("f{n:04}.jpg"))).unwrap();
    }
    let out = dir.join("mover.mp4");
    let ok = Command::new("gst-launch-1.0")
        .arg("-q")
        .args(
            format!(
                "multifilesrc location={}/f%04d.jpg index=0 caps=image/jpeg,framerate=10/1 ! jpegdec ! videoconvert \
                 ! x264enc key-int-max=10 bframes=0 speed-preset=ultrafast ! h264parse ! mp4mux ! filesink location={}",
                frames.display(),
                out.display()
            )
            .split_whitespace(),
        )
        .status()
        .unwrap()
        .success();
    assert!(ok);
    out
}

#[test]
fn with_motion_the_models_look_only_where_it_moves_and_at_the_whole_frame_per_idle_check() {
    let dir = tempfile::tempdir().unwrap();
    let clip = one_mover_clip(dir.path());
    let cfg = dir.path().join("edge.toml");
    std::fs::write(
        &cfg,
        format!(
            "compound_id = \"c\"\n[models]\ndir = \"{}\"\n[[cameras]]\nid = \"gate\"\nurl = \"{}\"\ndetect_fps = 10\n\
             motion_gating = true\nidle_check_secs = 1.5\n",
            root().join("models").display(),
            clip.display()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_menwei-edge")).args(["run", "--config"]).arg(&cfg).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let rect = |v: &serde_json::Value| {
        let r = &v["region"];
        let g = |k: &str| r[k].as_f64().unwrap();
        (g("x"), g("y"), g("x") + g("width"), g("y") + g("height"))
    };
    let centres = |v: &serde_json::Value| -> Vec<(f64, f64)> {
        v["faces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                let b = &f["bbox"];
                let g = |k: &str| b[k].as_f64().unwrap();
                ((g("x1") + g("x2")) / 2.0, (g("y1") + g("y2")) / 2.0)
            })
            .collect()
    };
    let (whole, cropped): (Vec<_>, Vec<_>) = lines.iter().partition(|l| rect(l) == (0.0, 0.0, 1280.0, 720.0));
    eprintln!("{} frames on the whole picture, {} on the moving region", whole.len(), cropped.len());
    for l in &cropped {
        eprintln!("region {:?}: faces at {:?}", rect(l), centres(l));
    }
    assert!((2..=5).contains(&whole.len()), "the first frame and one per idle check: {}", whole.len());
    assert!(cropped.len() >= 20, "{}", cropped.len());
    // The whole picture shows both faces; Biden stands at x < 310.
    assert!(whole.iter().any(|l| centres(l).len() == 2), "both faces on an idle check");
    for l in &cropped {
        let (x1, y1, x2, y2) = rect(l);
        assert!(x1 > 310.0, "the region leaves out the still left side: {:?}", rect(l));
        assert!((x2 - x1) * (y2 - y1) < 0.6 * 1280.0 * 720.0);
        for (cx, cy) in centres(l) {
            assert!(cx >= x1 && cx <= x2 && cy >= y1 && cy <= y2, "faces come back in frame pixels");
            assert!(cx > 640.0, "only the moving face is looked at: {cx}");
        }
    }
    let with_face = cropped.iter().filter(|l| centres(l).len() == 1).count();
    assert!(with_face * 10 >= cropped.len() * 9, "the mover is found in the region: {with_face} of {}", cropped.len());
    let summary: serde_json::Value = serde_json::from_str(&stderr[stderr.find("{\n").expect("summary")..]).unwrap();
    let cam = &summary["cameras"][0];
    assert_eq!(cam["frames_on_region"].as_u64(), Some(cropped.len() as u64));
    assert!(cam["mean_region_share"].as_f64().unwrap() < 0.7, "{cam}");
}

#[test]
fn zones_keep_the_models_to_their_part_of_the_picture() {
    // The same clip, every frame analysed, with one zone over the left 45 % of the picture:
    // the detectors run on the zone's box only (faces and plates alike), so the still face on
    // the left is found and the mover on the right never is.
    let dir = tempfile::tempdir().unwrap();
    let clip = one_mover_clip(dir.path());
    let cfg = dir.path().join("edge.toml");
    std::fs::write(
        &cfg,
        format!(
            "compound_id = \"c\"\n[models]\ndir = \"{}\"\n[[cameras]]\nid = \"gate\"\nurl = \"{}\"\ndetect_fps = 10\n\
             motion_gating = false\nzones = [[[0.0, 0.0], [0.45, 0.0], [0.45, 1.0], [0.0, 1.0]]]\n",
            root().join("models").display(),
            clip.display()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_menwei-edge")).args(["run", "--config"]).arg(&cfg).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.len() >= 20, "{}", lines.len());
    // The models saw the zone's share of the pixels, not the whole frame filtered afterwards.
    let summary: serde_json::Value = serde_json::from_str(&stderr[stderr.find("{\n").expect("summary")..]).unwrap();
    let share = summary["cameras"][0]["mean_region_share"].as_f64().unwrap();
    assert!((0.4..0.5).contains(&share), "share of the frame looked at: {share}");
    let xs: Vec<f64> = lines
        .iter()
        .flat_map(|l| {
            l["faces"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| (f["bbox"]["x1"].as_f64().unwrap() + f["bbox"]["x2"].as_f64().unwrap()) / 2.0)
        })
        .collect();
    let found = lines.iter().filter(|l| !l["faces"].as_array().unwrap().is_empty()).count();
    assert!(found * 10 >= lines.len() * 9, "the face in the zone is found: {found} of {}", lines.len());
    assert!(xs.iter().all(|x| *x < 0.45 * 1280.0), "nothing outside the zone: {xs:?}");
}
