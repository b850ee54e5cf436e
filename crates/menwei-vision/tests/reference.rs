//! Every model's raw output, run through menwei-vision's preprocessing and session settings,
//! against reference numbers computed once with the ONNX Runtime Python API on the same pixels
//! (`tests/reference/make_reference.py`, checked in with its `outputs.json`). The pixels are
//! this crate's JPEG decoder's: the test writes them to var/reference/ for the script.
//!
//! The crops are exactly the model's input size, so the only preprocessing is normalisation
//! and the NCHW layout; a mismatch means the tensor layout, the channel order, the
//! normalisation or the session wiring differs from the reference.

use std::path::{Path, PathBuf};

use menwei_core::image::RgbView;
use menwei_vision::preprocess::{Normalize, Resizer};
use menwei_vision::{ModelStore, Runtime, SessionOptions};
use ort::value::TensorRef;
use serde_json::Value;
use sha2::{Digest, Sha256};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap()
}

fn crop_rect(case: &Value) -> [u32; 4] {
    let c: Vec<u32> = case["crop"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
    [c[0], c[1], c[2], c[3]]
}

/// The case's rectangle of the photo as packed RGB.
fn crop(img: &image::RgbImage, case: &Value) -> Vec<u8> {
    let [x, y, w, h] = crop_rect(case);
    assert!(x + w <= img.width() && y + h <= img.height(), "crop {:?} outside the photo", crop_rect(case));
    let mut pixels = Vec::with_capacity((w * h * 3) as usize);
    for row in y..y + h {
        let start = ((row * img.width() + x) * 3) as usize;
        pixels.extend_from_slice(&img.as_raw()[start..start + (w * 3) as usize]);
    }
    pixels
}

#[test]
fn every_model_matches_the_python_onnxruntime_reference() {
    let reference: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/outputs.json")).unwrap(),
    )
    .unwrap();
    let r = root();
    let store = ModelStore::open(&r.join("models/models.toml"), &r.join("models")).unwrap();
    let rt = Runtime::init(None).expect("ONNX Runtime");
    let photo = r.join("var/media").join(reference["image"].as_str().unwrap());
    let img = image::open(&photo).unwrap_or_else(|e| panic!("{}: {e}; run scripts/setup", photo.display())).to_rgb8();
    let cases = reference["cases"].as_array().unwrap();
    let names: Vec<&str> = cases.iter().map(|c| c["model"].as_str().unwrap()).collect();
    for m in &store.manifest().models {
        assert!(names.contains(&m.name.as_str()), "no reference for model {}: rerun make_reference.py", m.name);
    }
    // The reference script reads these pixels, so both sides see the same ones.
    let dump = r.join("var/reference");
    std::fs::create_dir_all(&dump).unwrap();
    for case in cases {
        let name = case["model"].as_str().unwrap();
        std::fs::write(dump.join(format!("{name}.rgb")), crop(&img, case)).unwrap();
    }
    let mut worst = Vec::new();
    for case in cases {
        let name = case["model"].as_str().unwrap();
        let pixels = crop(&img, case);
        let sha = format!("{:x}", Sha256::digest(&pixels));
        assert_eq!(
            sha,
            case["crop_rgb_sha256"].as_str().unwrap(),
            "{name}: the JPEG decoder now gives other pixels than the reference saw; regenerate the reference \
             (docs/ref/models.md, Reference outputs)"
        );
        let [_, _, w, h] = crop_rect(case);
        let arr = |k: &str| -> [f32; 3] {
            let v = case[k].as_array().unwrap();
            [f(&v[0]) as f32, f(&v[1]) as f32, f(&v[2]) as f32]
        };
        let norm = Normalize { mean: arr("mean"), scale: arr("scale"), bgr: case["bgr"].as_bool().unwrap() };
        let mut tensor = Vec::new();
        Resizer::default().stretch(RgbView::packed(w, h, &pixels).unwrap(), w, h, &norm, &mut tensor);

        let model = store.verify(name).unwrap();
        let mut session = rt.session(&model, &SessionOptions::default()).unwrap();
        let input = TensorRef::from_array_view(([1usize, 3, h as usize, w as usize], tensor.as_slice())).unwrap();
        let outputs = session.run(ort::inputs![input]).unwrap();
        let wanted = case["outputs"].as_array().unwrap();
        assert_eq!(outputs.len(), wanted.len(), "{name}: output count");
        // Same pixels, same runtime version: only kernel summation order differs.
        let tol = 1e-4;
        for (i, want) in wanted.iter().enumerate() {
            let out_name = want["name"].as_str().unwrap();
            let (shape, data) = outputs[i].try_extract_tensor::<f32>().unwrap();
            let shape: Vec<i64> = shape.iter().copied().collect();
            let want_shape: Vec<i64> = want["shape"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
            assert_eq!(shape, want_shape, "{name}/{out_name}: shape");
            let mut max_err = 0f64;
            for s in want["samples"].as_array().unwrap() {
                let (idx, v) = (s[0].as_u64().unwrap() as usize, f(&s[1]));
                let got = f64::from(data[idx]);
                let err = (got - v).abs() / (1.0 + v.abs());
                max_err = max_err.max(err);
                assert!(err <= tol, "{name}/{out_name}[{idx}]: {got} vs reference {v}");
            }
            let sum: f64 = data.iter().map(|&v| f64::from(v)).sum();
            let abs_sum: f64 = data.iter().map(|&v| f64::from(v).abs()).sum();
            let max = data.iter().copied().fold(f32::MIN, f32::max);
            for (what, got, v) in [("sum", sum, f(&want["sum"])), ("abs_sum", abs_sum, f(&want["abs_sum"]))] {
                let err = (got - v).abs() / (1.0 + v.abs());
                max_err = max_err.max(err);
                assert!(err <= tol, "{name}/{out_name} {what}: {got} vs reference {v}");
            }
            let err = (f64::from(max) - f(&want["max"])).abs() / (1.0 + f(&want["max"]).abs());
            assert!(err <= tol, "{name}/{out_name} max: {max} vs reference {}", want["max"]);
            worst.push((format!("{name}/{out_name}"), max_err));
        }
    }
    for (o, e) in &worst {
        eprintln!("{o:<40} worst relative difference {e:.2e}");
    }
}
