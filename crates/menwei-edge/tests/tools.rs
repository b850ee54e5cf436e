//! `menwei-edge analyze` and `menwei-edge eval` as an operator runs them.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn edge() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_menwei-edge"));
    c.current_dir(root());
    c
}

#[test]
fn analyze_prints_faces_and_plates_and_draws_them() {
    let out_dir = tempfile::tempdir().unwrap();
    let gallery = tempfile::tempdir().unwrap();
    std::fs::copy(root().join("var/media/yaoming.jpg"), gallery.path().join("yaoming.jpg")).unwrap();
    let photos = tempfile::tempdir().unwrap();
    for p in ["t1.jpg", "players.jpg"] {
        std::fs::copy(root().join("var/media").join(p), photos.path().join(p)).unwrap();
    }
    // Not a picture: reported, and the others still analysed.
    std::fs::write(photos.path().join("broken.jpg"), b"not a jpeg").unwrap();
    let out = edge()
        .arg("analyze")
        .arg(photos.path())
        .arg("--out")
        .arg(out_dir.path())
        .arg("--gallery")
        .arg(gallery.path())
        .args(["--face-input", "1280"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("broken.jpg"), "{stderr}");
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    let by_name = |n: &str| lines.iter().find(|l| l["image"].as_str().unwrap().ends_with(n)).unwrap();
    let t1 = by_name("t1.jpg");
    assert_eq!(t1["faces"].as_array().unwrap().len(), 6);
    for f in t1["faces"].as_array().unwrap() {
        assert_eq!(f["landmarks"].as_array().unwrap().len(), 5);
        assert!(f["quality"]["eye_distance_px"].as_f64().unwrap() > 10.0);
    }
    // Yao Ming is named in the team photo, and nobody else is as close.
    let players = by_name("players.jpg");
    let best = players["faces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["identity"]["cosine"].as_f64().unwrap())
        .fold(f64::MIN, f64::max);
    assert!(best > 0.4, "{best}");
    for name in ["t1.png", "players.png"] {
        let img = image::open(out_dir.path().join(name)).unwrap();
        let src = image::open(root().join("var/media").join(name.replace(".png", ".jpg"))).unwrap();
        assert_eq!((img.width(), img.height()), (src.width(), src.height()));
        // Annotations changed pixels.
        assert_ne!(img.to_rgb8().as_raw(), src.to_rgb8().as_raw());
    }
}

#[test]
fn analyze_reads_a_plate_scene() {
    let scene = root().join("../shared/data/plates/easypr_gdts/粤AK9331.jpg");
    if !scene.is_file() {
        eprintln!("SKIP: {} is absent (internal evaluation data)", scene.display());
        return;
    }
    let out = edge().arg("analyze").arg(&scene).arg("--no-images").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let a: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let plates = a["plates"].as_array().unwrap();
    let read: Vec<&serde_json::Value> = plates.iter().filter(|p| p["outcome"]["result"] == "read").collect();
    assert_eq!(read.len(), 1, "{plates:#?}");
    let r = &read[0]["outcome"];
    assert_eq!(
        (r["plate"].as_str(), r["color"].as_str(), r["layout"].as_str()),
        (Some("粤AK9331"), Some("yellow"), Some("double_row"))
    );
    assert_eq!(r["char_confidences"].as_array().unwrap().len(), 7);
    // The burned-in clock is found by the detector but never published as a plate: either no
    // reading of it fits the grammar, or the only one (since military plates are in the
    // grammar: two letters + five digits, such as `CS53007` for `175307`) is too unsure.
    let clock = plates.iter().find(|p| p["outcome"]["result"] == "rejected").expect("the clock, rejected");
    let reason = clock["outcome"]["reason"].as_str().unwrap();
    assert!(reason.contains("not a plate") || reason.starts_with("low confidence"), "{reason}");
}

/// The internal face set, or `None` (with a SKIP line) where ../shared/data is absent.
fn face_set() -> Option<PathBuf> {
    let dir = root().join("../shared/data/faces");
    if dir.join("manifest.csv").is_file() {
        return Some(dir);
    }
    eprintln!("SKIP: {} is absent (internal evaluation data)", dir.display());
    None
}

/// `menwei-edge eval faces --json ARGS` on the face set, which must succeed: its reports.
fn eval_faces_json(dir: &Path, args: &[&str]) -> serde_json::Value {
    let out = edge()
        .args(["eval", "faces", "--json"])
        .args(args)
        .arg(dir.join("manifest.csv"))
        .arg(dir.join("pairs.csv"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn eval_faces_reports_every_condition_and_what_the_gate_decides_there() {
    let Some(dir) = face_set() else { return };
    let reports = eval_faces_json(&dir, &[]);
    let reports = reports.as_array().unwrap();
    let names: Vec<&str> = reports.iter().map(|r| r["condition"].as_str().unwrap()).collect();
    assert_eq!(names, ["photo", "40px", "24px", "16px", "ir-day", "night", "motion-blur", "backlight"]);
    let clean = &reports[0];
    assert_eq!(clean["no_face"], 0, "{clean}");
    assert!(clean["roc_auc"].as_f64().unwrap() >= 0.99, "{clean}");
    assert!(clean["rank1"].as_f64().unwrap() >= 0.95, "{clean}");
    assert!(clean["genuine_pairs"].as_u64().unwrap() > 0 && clean["impostor_pairs"].as_u64().unwrap() > 0);
    // Degraded photos are harder: the report must say so, not pretend otherwise.
    assert!(reports[1]["roc_auc"].as_f64().unwrap() <= clean["roc_auc"].as_f64().unwrap() + 1e-9);
    let keys = [
        "threshold",
        "margin",
        "enrolled_identities",
        "resident_probes",
        "correct",
        "wrong_resident",
        "undecided",
        "stranger_probes",
        "stranger_granted",
        "refused_low_quality",
    ];
    for r in reports {
        let g = r["at_defaults"].as_object().unwrap_or_else(|| panic!("no at_defaults: {r}"));
        let mut got: Vec<&str> = g.keys().map(String::as_str).collect();
        got.sort_unstable();
        let mut want = keys.to_vec();
        want.sort_unstable();
        assert_eq!(got, want, "{}", r["condition"]);
        eprintln!("{:<12} {}", r["condition"].as_str().unwrap(), serde_json::Value::Object(g.clone()));
        // The defaults, on 22 identities of which the last 4 by name (11 photos) are strangers.
        assert_eq!(g["threshold"].as_f64().unwrap() as f32, 0.4);
        assert_eq!((g["enrolled_identities"].as_u64(), g["stranger_probes"].as_u64()), (Some(18), Some(11)));
        // The gate's promise in every condition: nobody is let in as someone else.
        assert_eq!(g["wrong_resident"], 0, "{}: {r}", r["condition"]);
        assert_eq!(g["stranger_granted"], 0, "{}: {r}", r["condition"]);
        let probes = g["resident_probes"].as_u64().unwrap();
        let resident_refused = probes - g["correct"].as_u64().unwrap() - g["undecided"].as_u64().unwrap();
        assert!(resident_refused <= g["refused_low_quality"]["probes"].as_u64().unwrap(), "{r}");
        // The same probes as passages of five frames through the daemon's face track.
        let p = &r["fused"];
        assert_eq!(p["frames"], 5, "{r}");
        assert_eq!((&p["resident_probes"], &p["stranger_probes"]), (&g["resident_probes"], &g["stranger_probes"]));
        assert_eq!((&p["wrong_resident"], &p["stranger_granted"]), (&0.into(), &0.into()), "{}: {p}", r["condition"]);
        let shots = p["shots"].as_u64().unwrap();
        assert!(shots <= 3 * (probes + g["stranger_probes"].as_u64().unwrap()), "at most three shots a passage: {p}");
    }
    let at = |name: &str| &reports.iter().find(|r| r["condition"] == name).unwrap()["at_defaults"];
    let share = |g: &serde_json::Value| g["correct"].as_f64().unwrap() / g["resident_probes"].as_f64().unwrap();
    assert!(share(at("photo")) >= 0.95, "{}", at("photo"));
    assert!(share(at("40px")) >= 0.95, "{}", at("40px"));
}

#[test]
fn eval_faces_runs_the_conditions_asked_for_and_names_the_known_ones() {
    let Some(dir) = face_set() else { return };
    let run = |args: &[&str]| {
        edge()
            .args(["eval", "faces"])
            .args(args)
            .arg(dir.join("manifest.csv"))
            .arg(dir.join("pairs.csv"))
            .output()
            .unwrap()
    };
    let pictures = tempfile::tempdir().unwrap();
    let out = run(&[
        "--conditions",
        "night,photo",
        "--strangers",
        "3",
        "--only",
        "deepface/",
        "--pictures",
        pictures.path().to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    eprintln!("{stdout}");
    let night = stdout.find("night (").expect("night is reported");
    let photo = stdout.find("photo (").expect("photo is reported");
    assert!(night < photo, "in the order asked for: {stdout}");
    assert!(!stdout.contains("backlight"), "{stdout}");
    assert!(stdout.contains("stranger probes"), "{stdout}");
    let night = image::open(pictures.path().join("night.png")).unwrap().to_rgb8();
    let photo = image::open(pictures.path().join("photo.png")).unwrap().to_rgb8();
    assert!(night.width() < photo.width(), "night is taken at 32 px between the eyes");
    assert!(night.pixels().all(|p| p[0].abs_diff(p[1]) <= 6 && p[1].abs_diff(p[2]) <= 6), "night is grey");
    let bad = run(&["--conditions", "dusk"]);
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success() && stderr.contains("dusk") && stderr.contains("backlight"), "{stderr}");
    let bad = run(&["--synthetic", "100"]);
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success() && stderr.contains("--distractors"), "{stderr}");
}

#[test]
fn eval_faces_enrols_distractors_beside_the_residents() {
    let Some(dir) = face_set() else { return };
    let players = root().join("var/media/players.jpg");
    let players = players.to_str().unwrap();
    let reports =
        eval_faces_json(&dir, &["--conditions", "40px", "--clip", "3", "--synthetic", "300", "--distractors", players]);
    let r = &reports[0];
    let scale = r["at_scale"].as_array().unwrap_or_else(|| panic!("no at_scale: {r}"));
    assert_eq!(scale.len(), 2, "the real distractors alone, then with 300 synthetic: {r}");
    let real = scale[0]["distractors_real"].as_u64().unwrap();
    assert!(real >= 2, "{r}");
    assert_eq!(
        (scale[0]["distractors_synthetic"].as_u64(), scale[1]["distractors_synthetic"].as_u64()),
        (Some(0), Some(300))
    );
    let base = r["at_defaults"]["enrolled_identities"].as_u64().unwrap();
    assert_eq!(scale[1]["single"]["enrolled_identities"].as_u64().unwrap(), base + real + 300, "{r}");
    assert_eq!(scale[1]["fused"]["frames"], 3, "{r}");
    for s in scale {
        // Impostor cosines are ordered percentiles, and nobody is let in as someone else.
        let c: Vec<f64> = s["impostor_cosines_real"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert!(c.windows(2).all(|w| w[0] <= w[1]) && c[3] < 0.9, "{s}");
        for k in ["single", "fused"] {
            assert_eq!((&s[k]["wrong_resident"], &s[k]["stranger_granted"]), (&0.into(), &0.into()), "{k}: {s}");
        }
    }
}

#[test]
fn eval_plates_prints_the_report_for_a_subset() {
    let manifest = root().join("../shared/data/plates/manifest.csv");
    if !manifest.is_file() {
        eprintln!("SKIP: {} is absent (internal evaluation data)", manifest.display());
        return;
    }
    let out = edge().args(["eval", "plates", "--only", "hand_labelled/"]).arg(&manifest).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    eprintln!("{stdout}");
    assert!(stdout.contains("hand_labelled any detection") && stdout.contains("most common confusions"), "{stdout}");
    // The per-kind and province-character tables.
    assert!(stdout.lines().any(|l| l.starts_with("ordinary ")), "{stdout}");
    assert!(stdout.contains("first char right") && stdout.lines().any(|l| l.starts_with("粤 ")), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("pictures: "), "progress is shown");
}

#[test]
fn reader_prior_measures_each_readers_lean_on_the_province() {
    let manifest = root().join("../shared/data/plates/manifest.csv");
    if !manifest.is_file() {
        eprintln!("SKIP: {} is absent (internal evaluation data)", manifest.display());
        return;
    }
    let out = edge().args(["eval", "reader-prior", "--only", "lprnet_sirius/苏"]).arg(&manifest).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let table: toml::Table = stdout.parse().unwrap_or_else(|e| panic!("{e}\n{stdout}"));
    for reader in ["clp_rec", "ppocr_v4_rec"] {
        let r = &table[reader];
        assert_eq!(r["crops"].as_integer(), Some(14), "{stdout}");
        let bias = r["bias"].as_table().unwrap();
        assert_eq!(bias.len(), 31, "{stdout}");
        // Even on Jiangsu plates, with the province covered, the readers say Anhui.
        let anhui = bias["皖"].as_float().unwrap();
        assert!(bias.values().all(|b| b.as_float().unwrap() <= anhui), "{stdout}");
    }
}
