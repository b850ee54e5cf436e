//! `menwei-edge eval video` on a clip made from real photos driving up to the gate (small at the
//! edge, growing to the middle: each plate at several sizes), with an AAC track listed before
//! the video, as some recorders write: every passage is read exactly once, nothing else is
//! published, and each latency is printed. Without `../shared/data` the cars carry drawn plates.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

#[test]
fn a_clip_of_cars_driving_up_is_scored_per_passage_through_the_real_pipeline() {
    let root = root();
    let dir = tempfile::tempdir().unwrap();
    let plates = [menwei_demo::REGISTERED, menwei_demo::UNKNOWN, "津E22602"];
    let pictures: Vec<PathBuf> = match menwei_demo::shared_plates(&root) {
        Some(real) => plates.iter().map(|p| real.join(format!("{p}.jpg"))).collect(),
        None => {
            eprintln!("no ../shared/data here: the cars carry drawn plates");
            menwei_demo::plates::ensure(&dir.path().join("drawn"), &plates).unwrap()
        }
    };
    let clip = menwei_demo::moving::Approach::gate().build(dir.path(), &pictures).unwrap();
    let with_audio = menwei_demo::with_audio(&clip.file, clip.secs, true, &dir.path().join("audio-first.mp4")).unwrap();
    let labels = dir.path().join("labels.csv");
    let rows: Vec<String> = plates.iter().zip(&clip.first_shown_s).map(|(p, t)| format!("{p},{t:.1}")).collect();
    std::fs::write(&labels, format!("plate,time_s\n{}\n", rows.join("\n"))).unwrap();

    let eval = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_menwei-edge"))
            .current_dir(&root)
            .args(["eval", "video"])
            .arg(&with_audio)
            .args(args)
            .output()
            .unwrap();
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
        out
    };
    let out = eval(&[labels.to_str().unwrap(), "--json"]);
    assert!(out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    eprintln!("{report:#}");
    let n = |k: &str| report[k].as_u64().unwrap();
    assert_eq!((n("exact"), n("wrong"), n("missed")), (3, 0, 0), "every passage read exactly");
    assert_eq!((n("duplicates"), n("wrong_grants")), (0, 0));
    assert_eq!(report["unlabelled"].as_array().unwrap().len(), 0, "nothing but the three cars");
    for p in report["passages"].as_array().unwrap() {
        let latency = p["latency_ms"].as_f64().expect("a latency per passage");
        assert!(latency > 0.0 && latency < 4000.0, "read while the car was still coming: {p}");
    }

    // A labels file with a mistake is refused before anything runs, naming the line.
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "plate,time_s\n川A019W2,1.0\n川A01,5.0\n").unwrap();
    let out = eval(&[bad.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 3: `川A01` is not a plate"));
}
