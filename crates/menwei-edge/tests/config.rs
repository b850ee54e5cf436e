//! `edge.toml` validation: the example loads, and a bad file lists every problem by key path.

use std::path::{Path, PathBuf};
use std::process::Command;

use menwei_edge::config;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Loads a one-camera config written to `dir`, with `models` added to its `[models]` table and
/// `rest` after the camera.
fn load_small(dir: &Path, models: &str, rest: &str) -> Result<config::EdgeConfig, config::ConfigErrors> {
    let text = format!(
        "compound_id = \"c\"\n[models]\ndir = \"{}\"\n{models}\n[[cameras]]\nid = \"a\"\nurl = \"rtsp://h/x\"\n{rest}\n",
        root().join("models").canonicalize().unwrap().display()
    );
    let path = dir.join("edge.toml");
    std::fs::write(&path, text).unwrap();
    config::load(&path)
}

#[test]
fn the_example_config_loads_with_inherited_and_overridden_settings() {
    let cfg = config::load(&root().join("config/edge.example.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.compound_id, "demo-compound");
    assert_eq!(cfg.face_detector, "scrfd_500m");
    assert_eq!(cfg.intra_threads, 2);
    assert!(!cfg.spinning);
    assert_eq!((cfg.plate_max_side, cfg.plate_upscale), (1600, 2.0));
    let cam = &cfg.cameras[0];
    assert_eq!(&*cam.capture.id, "gate-1");
    assert_eq!(cam.detect_fps, 10.0, "the camera's own value overrides [defaults]");
    assert_eq!(cam.face_score_threshold, 0.5, "inherited from [defaults]");
    assert_eq!(cam.capture.watchdog.as_secs(), 20);
    let m = &cfg.matching;
    assert_eq!((m.face_quality.min_eye_distance_px, m.face_quality.max_pose_deg), (18.0, 60.0));
    assert!(m.plate_home.provinces.is_empty(), "no home prior unless one is written");
}

#[test]
fn the_gate_policy_and_the_home_prior_are_read_and_bad_values_named() {
    let dir = tempfile::tempdir().unwrap();
    let write = |matching: &str| load_small(dir.path(), "", &format!("[matching]\n{matching}"));
    let cfg = write(
        "face_min_eye_distance_px = 24\nface_min_brightness = 40\nplate_home_provinces = [\"冀\", \"京\"]\nplate_home_prefixes = [\"冀G\"]\nplate_home_weight = 2.0",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let m = &cfg.matching;
    assert_eq!((m.face_quality.min_eye_distance_px, m.face_quality.min_brightness), (24.0, 40.0));
    assert_eq!(m.plate_home.provinces, vec!['冀', '京']);
    assert_eq!((m.plate_home.prefixes.clone(), m.plate_home.weight), (vec!["冀G".to_owned()], 2.0));
    let err = write(
        "face_max_pose_deg = 120\nplate_home_provinces = [\"冀\", \"X\"]\nplate_home_prefixes = [\"粤B\", \"冀\"]\nplate_home_weight = 9",
    )
    .unwrap_err();
    let keys: Vec<&str> = err.issues.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "matching.face_max_pose_deg",
            "matching.plate_home_provinces[1]",
            "matching.plate_home_prefixes[0]",
            "matching.plate_home_prefixes[1]",
            "matching.plate_home_weight"
        ],
        "{err}"
    );
    assert!(err.to_string().contains("粤 is not in plate_home_provinces"), "{err}");
}

#[test]
fn every_problem_is_reported_with_its_key_path() {
    let dir = tempfile::tempdir().unwrap();
    let models = root().join("models").canonicalize().unwrap();
    let text = format!(
        r#"
compound_id = "Bad/Id"
[log]
format = "xml"
[models]
dir = "{}"
face_detector = "nope"
face_embedder = "scrfd_500m"
intra_threads = 0
plate_max_side = 1000
plate_upscale = 0.5
[defaults]
detect_fps = 0
[[cameras]]
id = "a"
url = "http://example/x"
[[cameras]]
id = "a"
url = "missing.mp4"
face_score_threshold = 1.5
rtsp_transport = "quic"
decode = "cuda"
decode_threads = 0
motion_gating = false
idle_keyframes_only = true
"#,
        models.display()
    );
    let path = dir.path().join("edge.toml");
    std::fs::write(&path, text).unwrap();
    let err = config::load(&path).unwrap_err();
    let keys: Vec<&str> = err.issues.iter().map(|i| i.key.as_str()).collect();
    for want in [
        "compound_id",
        "log.format",
        "models.face_detector",
        "models.face_embedder",
        "models.intra_threads",
        "models.plate_max_side",
        "models.plate_upscale",
        "cameras[0].url",
        "defaults.detect_fps",
        "cameras[1].id",
        "cameras[1].url",
        "cameras[1].face_score_threshold",
        "cameras[1].rtsp_transport",
        "cameras[1].decode",
        "cameras[1].decode_threads",
        "cameras[1].idle_keyframes_only",
    ] {
        assert!(keys.contains(&want), "{want} missing from:\n{err}");
    }
    let shown = err.to_string();
    assert!(shown.contains("16 problems") || shown.contains("17 problems"), "{shown}");
}

#[test]
fn the_face_embedder_is_one_line_and_brings_its_own_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let write = |models: &str| load_small(dir.path(), models, "");
    let default = write("").unwrap();
    assert_eq!(default.face_embedder, "w600k_mbf");
    assert_eq!((default.matching.face_threshold, default.matching.face_margin), (0.40, 0.08));
    let dlib = write("face_embedder = \"dlib_resnet\"").unwrap();
    assert_eq!(dlib.face_embedder, "dlib_resnet");
    assert_eq!((dlib.matching.face_threshold, dlib.matching.face_margin), (0.93, 0.01));
    // Strangers' clusters join at the embedder's own cosine too: at w600k_mbf's 0.5, dlib's
    // strangers (impostor cosines up to about 0.93) would all be one repeat stranger.
    assert_eq!((default.matching.stranger_join, dlib.matching.stranger_join), (0.5, 0.94));
    // A threshold written in [matching] wins over the embedder's.
    let own = load_small(dir.path(), "face_embedder = \"dlib_resnet\"", "[matching]\nface_threshold = 0.95").unwrap();
    assert_eq!((own.matching.face_threshold, own.matching.face_margin), (0.95, 0.01));
    let err = write("face_embedder = \"nope\"").unwrap_err();
    assert_eq!(err.issues[0].key, "models.face_embedder", "{err}");
}

#[test]
fn unknown_keys_are_refused_with_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("edge.toml");
    std::fs::write(&path, "compound_id = \"c\"\n[models]\ndir = \".\"\nface_detectr = \"x\"\n").unwrap();
    let err = config::load(&path).unwrap_err().to_string();
    assert!(err.contains("unknown field `face_detectr`") && err.contains("line 4"), "{err}");
}

#[test]
fn check_config_exits_zero_on_the_example_and_two_on_a_bad_file() {
    let bin = env!("CARGO_BIN_EXE_menwei-edge");
    let ok = Command::new(bin).args(["check-config"]).arg(root().join("config/edge.example.toml")).output().unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("ok (1 camera)"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "compound_id = \"\"\n[models]\ndir = \"/nonexistent-menwei-dir\"\n").unwrap();
    let bad = Command::new(bin).arg("check-config").arg(&path).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("compound_id:") && stderr.contains("models.dir:") && stderr.contains("cameras:"),
        "{stderr}"
    );
}

#[test]
fn zones_are_fractions_of_the_picture_and_bad_ones_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let models = root().join("models").canonicalize().unwrap();
    let clip = root().join("var/media/carphone_pristine.mp4");
    let text = format!(
        "compound_id = \"c\"\n[models]\ndir = \"{}\"\n[[cameras]]\nid = \"a\"\nurl = \"{}\"\n\
         zones = [[[0.0, 0.5], [1.0, 0.5], [1.0, 1.0], [0.0, 1.0]], [[0.1, 0.1], [2.0, 0.1], [0.5, 0.4]]]\n",
        models.display(),
        clip.display()
    );
    let path = dir.path().join("edge.toml");
    std::fs::write(&path, &text).unwrap();
    let err = config::load(&path).unwrap_err();
    assert!(err.issues.iter().any(|i| i.key == "cameras[0].zones[1]"), "{err}");
    std::fs::write(&path, text.replace("[2.0, 0.1]", "[0.9, 0.1]")).unwrap();
    let cfg = config::load(&path).unwrap();
    let cam = &cfg.cameras[0];
    let p = |x, y| menwei_core::geom::Point { x, y };
    // A 200x100 picture: the lower half is the first zone.
    assert!(cam.in_zone(p(100.0, 80.0), 200, 100));
    assert!(!cam.in_zone(p(10.0, 45.0), 200, 100));
}

#[test]
fn keyframes_only_while_idle_needs_no_explicit_motion_gating_since_it_is_on_by_default() {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
    let text = format!(
        "compound_id = \"c\"\n[models]\ndir = \"{}\"\n[[cameras]]\nid = \"gate\"\nurl = \"rtsp://127.0.0.1:9/x\"\nidle_keyframes_only = true\n",
        models.display()
    );
    let cfg = config::parse(&text, Path::new("edge.toml")).expect("motion gating is on by default");
    assert!(cfg.cameras[0].motion_gating && cfg.cameras[0].capture.idle_keyframes_only);
}
