//! `scripts/compare_runs.py`, which decides whether the aarch64 build under qemu finds the same as
//! the x86-64 build (`scripts/check-aarch64`): it must pass what differs only in the last digits
//! and fail on another plate text, a lost face, or a box that moved.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().unwrap()
}

/// One `menwei-edge analyze` line: a face and a plate, shaped as the binary prints them.
fn line(face_x1: f64, faces: usize, plate: &str) -> String {
    let face = format!(
        r#"{{"bbox":{{"x1":{face_x1},"y1":84.1,"x2":610.1,"y2":426.6}},"score":0.8437,"landmarks":[{{"x":440.9,"y":215.0}}],"identity":null}}"#
    );
    let faces = vec![face; faces].join(",");
    format!(
        r#"{{"image":"a.jpg","width":910,"height":1137,"faces":[{faces}],"plates":[{{"detection":{{"score":0.9998}},"outcome":{{"result":"read","plate":"{plate}","color":"blue"}}}}],"millis":{}}}"#,
        faces.len() // a timing that differs between the runs
    )
}

fn compare(reference: &str, other: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("x86_64.jsonl"), dir.path().join("aarch64.jsonl"));
    std::fs::write(&a, format!("ok   scrfd_500m   models/x.onnx\n{reference}\n")).unwrap();
    std::fs::write(&b, format!("{other}\n")).unwrap();
    let out = Command::new(root().join("scripts/python"))
        .arg(root().join("scripts/compare_runs.py"))
        .args([&a, &b])
        .output()
        .expect("scripts/python runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    eprintln!("{text}");
    (out.status.success(), text)
}

#[test]
fn the_same_findings_pass_and_other_findings_fail_naming_the_field() {
    let reference = line(378.42538, 1, "京CX8888");

    let (same, text) = compare(&reference, &line(378.42541, 1, "京CX8888"));
    assert!(same, "a difference in the fifth decimal must pass");
    assert!(text.contains("plates read: 京CX8888"), "{text}");

    let (same, text) = compare(&reference, &line(378.42538, 1, "京CX8886"));
    assert!(!same, "another plate text must fail");
    assert!(text.contains("outcome.plate: '京CX8888' vs '京CX8886'"), "{text}");

    let (same, text) = compare(&reference, &line(378.42538, 0, "京CX8888"));
    assert!(!same, "a lost face must fail");
    assert!(text.contains("faces: 1 items vs 0"), "{text}");

    let (same, text) = compare(&reference, &line(390.0, 1, "京CX8888"));
    assert!(!same, "a box corner 11.6 px away (3 %) must fail");
    assert!(text.contains("bbox.x1"), "{text}");

    let (same, _) = compare(&reference, "");
    assert!(!same, "a run that printed nothing must fail");
}
