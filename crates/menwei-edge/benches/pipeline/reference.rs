//! The plain Python + OpenCV + onnxruntime reference (`benches/reference/pipeline.py`) on its
//! own connection to the same RTSP server, in a venv under `var/bench-venv` made from PyPI.

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::plate_max_side;
use crate::scene::Clip;

/// The OpenCV wheel the reference runs with (pinned so that runs compare).
const OPENCV: &str = "opencv-python-headless==5.0.0.93";

/// Prints the heading, runs the reference on `url`, and prints what it reports; `None` where
/// the venv cannot be made or the reference failed.
pub fn run_and_print(root: &Path, url: &str, clip: &Clip) -> Option<Value> {
    println!("\n== Python + OpenCV + onnxruntime reference (same stream, models and settings)");
    let p = python_reference(root, url, clip);
    if let Some(p) = &p {
        println!(
            "frames {} | CPU {:.1} s | {:.1} CPU-ms per frame | wall {:.1} s | residents {} | plates read {} | opencv {} onnxruntime {}",
            p["frames"],
            p["cpu_s"].as_f64().unwrap_or(0.0),
            p["cpu_s"].as_f64().unwrap_or(0.0) * 1e3 / p["frames"].as_f64().unwrap_or(1.0).max(1.0),
            p["wall_s"].as_f64().unwrap_or(0.0),
            p["residents"],
            p["plates"],
            p["opencv"],
            p["onnxruntime"]
        );
    }
    p
}

/// The venv's interpreter with `onnxruntime` at the version `scripts/setup` uses, OpenCV and
/// numpy, made where it is missing or stale; `None` where it cannot be made.
fn venv_python(root: &Path) -> Option<std::path::PathBuf> {
    let manifest: toml::Value =
        toml::from_str(&std::fs::read_to_string(root.join("models/models.toml")).unwrap()).unwrap();
    let ort = manifest["onnxruntime"]["version"].as_str().unwrap().to_owned();
    let venv = root.join("var/bench-venv");
    let py = venv.join("bin/python");
    let wanted = format!("onnxruntime=={ort}");
    let ok = py.is_file()
        && Command::new(&py)
            .args(["-c", &format!("import cv2, numpy, onnxruntime as o; assert o.__version__ == '{ort}'")])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if !ok {
        println!("making {} (PyPI: {wanted} {OPENCV} numpy)", venv.display());
        // The interpreter the set-up chose (scripts/python), not whichever python3 is first.
        let made = Command::new(root.join("scripts/python"))
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .is_ok_and(|s| s.success())
            && Command::new(venv.join("bin/pip"))
                .args(["install", "-q", "--disable-pip-version-check", &wanted, OPENCV, "numpy"])
                .status()
                .is_ok_and(|s| s.success());
        if !made {
            println!("NOTE: cannot make the Python venv: no G2");
            return None;
        }
    }
    Some(py)
}

fn python_reference(root: &Path, url: &str, clip: &Clip) -> Option<Value> {
    let py = venv_python(root)?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/reference/pipeline.py");
    let mut cmd = Command::new(&py);
    cmd.arg(&script).args(["--url", url, "--models"]).arg(root.join("models"));
    cmd.arg("--enrol").arg(&clip.resident_photo).args(["--resident", clip.resident.as_str()]);
    cmd.args(["--plate-max-side", &plate_max_side().to_string()]);
    for p in &clip.registered {
        cmd.args(["--plate", p]);
    }
    let out = cmd.output().unwrap();
    if !out.status.success() {
        println!("NOTE: the Python reference failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}
