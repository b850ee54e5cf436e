//! Each model through menwei-vision (preprocessing, run, post-processing) against a raw
//! `Session::run` on the same prepared tensor, in CPU milliseconds of the calling thread (one
//! intra-op thread, so all of ONNX Runtime's work is on it). Goal: pre- plus post-processing at
//! most 10 % of the model's own time.
//!
//! `cargo bench -p menwei-benches --bench models`; test runners run it once as a smoke test.

use std::path::{Path, PathBuf};

use cpu_time::ThreadTime;
use menwei_core::image::RgbView;
use menwei_vision::embed::{EmbedderKind, FaceEmbedder};
use menwei_vision::face::{CenterFaceConfig, CenterFaceDetector, ScrfdConfig, ScrfdDetector};
use menwei_vision::plate::{PlateDetector, PlateDetectorConfig, PlateReader, PlateReaderConfig};
use menwei_vision::preprocess::{Normalize, Resizer};
use menwei_vision::{ModelStore, Runtime, SessionOptions};
use ort::value::TensorRef;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn photo(name: &str, w: u32, h: u32) -> image::RgbImage {
    let p = root().join("var/media").join(name);
    let img = image::open(&p).unwrap_or_else(|e| panic!("{} ({e}): run scripts/setup", p.display()));
    img.resize_exact(w, h, image::imageops::FilterType::Triangle).to_rgb8()
}

fn view(img: &image::RgbImage) -> RgbView<'_> {
    RgbView::packed(img.width(), img.height(), img.as_raw()).unwrap()
}

/// Median CPU milliseconds of `a` and of `b` over `n` runs each, interleaved (a, b, a, b...)
/// so that both see the same cache and clock conditions, after one warm-up each.
fn cpu_ms2<S>(n: usize, state: &mut S, mut a: impl FnMut(&mut S), mut b: impl FnMut(&mut S)) -> (f64, f64) {
    a(state);
    b(state);
    let (mut va, mut vb) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let t = ThreadTime::now();
        a(state);
        va.push(t.elapsed().as_secs_f64() * 1e3);
        let t = ThreadTime::now();
        b(state);
        vb.push(t.elapsed().as_secs_f64() * 1e3);
    }
    va.sort_by(f64::total_cmp);
    vb.sort_by(f64::total_cmp);
    (va[va.len() / 2], vb[vb.len() / 2])
}

fn raw_run(session: &mut ort::session::Session, shape: [usize; 4], tensor: &[f32]) {
    let input = TensorRef::from_array_view((shape, tensor)).unwrap();
    let out = session.run(ort::inputs![input]).unwrap();
    std::hint::black_box(out.len());
}

fn row(model: &str, input: &str, wrapper: f64, raw: f64) {
    let overhead = (wrapper - raw).max(0.0);
    println!("{model:<14} {input:<22} {wrapper:>10.2} {raw:>10.2} {overhead:>10.2} {:>9.1} %", 100.0 * overhead / raw);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        if !args.iter().any(|a| a == "--ignored") {
            println!("models_bench_smoke: test");
        }
        return;
    }
    let n = if args.iter().any(|a| a == "--bench") { 15 } else { 2 };
    let rt = Runtime::init(None).expect("ONNX Runtime: run scripts/setup");
    let store = ModelStore::open(&root().join("models/models.toml"), &root().join("models")).unwrap();
    let opts = SessionOptions::default();
    let frame = photo("t1.jpg", 1920, 1080);
    println!("one intra-op thread, CPU ms per call (median of {n}); overhead = menwei-vision - raw run");
    println!(
        "{:<14} {:<22} {:>10} {:>10} {:>10} {:>11}",
        "model", "input", "wrapper", "raw run", "overhead", "of model"
    );

    // SCRFD on a 1080p frame: letterbox to 640x384, run, decode, NMS.
    let mut scrfd =
        ScrfdDetector::new(&rt, &store.verify("scrfd_500m").unwrap(), &opts, ScrfdConfig::default()).unwrap();
    let (w, h) = scrfd.input_size(1920, 1080);
    let mut tensor = Vec::new();
    let norm = Normalize { mean: [127.5; 3], scale: [1.0 / 128.0; 3], bgr: false };
    Resizer::default().letterbox(view(&frame), w, h, &norm, &mut tensor);
    let shape = [1, 3, h as usize, w as usize];
    let (wrapper, raw) =
        cpu_ms2(n, &mut scrfd, |d| drop(d.detect(view(&frame)).unwrap()), |d| raw_run(d.session_mut(), shape, &tensor));
    row("scrfd_500m", &format!("1080p -> {w}x{h}"), wrapper, raw);

    let mut cf =
        CenterFaceDetector::new(&rt, &store.verify("centerface").unwrap(), &opts, CenterFaceConfig::default()).unwrap();
    let norm = Normalize { mean: [0.0; 3], scale: [1.0; 3], bgr: false };
    Resizer::default().letterbox(view(&frame), w, h, &norm, &mut tensor);
    let (wrapper, raw) =
        cpu_ms2(n, &mut cf, |d| drop(d.detect(view(&frame)).unwrap()), |d| raw_run(d.session_mut(), shape, &tensor));
    row("centerface", &format!("1080p -> {w}x{h}"), wrapper, raw);

    // Embeddings: align, run, normalise, and the quality cues; one face, then six batched.
    let faces = scrfd.detect(view(&frame)).unwrap();
    for kind in EmbedderKind::ALL {
        let mut emb = FaceEmbedder::new(&rt, &store.verify(kind.model()).unwrap(), &opts).unwrap();
        let (side, template, norm) = (kind.size(), kind.template(), kind.norm());
        for count in [1, faces.len().min(6)] {
            let batch = &faces[..count];
            let plane = 3 * (side * side) as usize;
            let mut tensor = vec![0.0f32; count * plane];
            for (i, f) in batch.iter().enumerate() {
                let dst = &mut tensor[i * plane..(i + 1) * plane];
                menwei_vision::align::warp_face(view(&frame), &f.landmarks, &template, side, &norm, dst);
            }
            let (wrapper, raw) = cpu_ms2(
                n,
                &mut emb,
                |e| drop(e.embed(view(&frame), batch).unwrap()),
                |e| raw_run(e.session_mut(), [count, 3, side as usize, side as usize], &tensor),
            );
            row(kind.model(), &format!("{count} face(s), {side}x{side}"), wrapper, raw);
        }
    }

    // Plate detection on a 1080p frame (letterboxed to its longest side, 1600 at most).
    let mut det =
        PlateDetector::new(&rt, &store.verify("clp_det").unwrap(), &opts, PlateDetectorConfig::default()).unwrap();
    let (w, h) = det.input_size(1920, 1080);
    let norm = Normalize { mean: [123.0, 117.0, 104.0], scale: [1.0; 3], bgr: true };
    let mut tensor = Vec::new();
    Resizer::default().letterbox(view(&frame), w, h, &norm, &mut tensor);
    let (wrapper, raw) = cpu_ms2(
        n,
        &mut det,
        |d| drop(d.detect(view(&frame)).unwrap()),
        |d| raw_run(d.session_mut(), [1, 3, h as usize, w as usize], &tensor),
    );
    row("clp_det", &format!("1080p -> {w}x{h}"), wrapper, raw);
    // The cost of smaller detector inputs (which lose small plates: docs/design/vision.md).
    for max_side in [1280, 960, 640] {
        let cfg = PlateDetectorConfig { max_side, ..PlateDetectorConfig::default() };
        let mut d = PlateDetector::new(&rt, &store.verify("clp_det").unwrap(), &opts, cfg).unwrap();
        let (w, h) = d.input_size(1920, 1080);
        Resizer::default().letterbox(view(&frame), w, h, &norm, &mut tensor);
        let (wrapper, raw) = cpu_ms2(
            n,
            &mut d,
            |d| drop(d.detect(view(&frame)).unwrap()),
            |d| raw_run(d.session_mut(), [1, 3, h as usize, w as usize], &tensor),
        );
        row("clp_det", &format!("1080p -> {w}x{h}"), wrapper, raw);
    }

    // The readers on a 168x48 crop: resize, run, constrained beam search.
    let crop = photo("t1.jpg", 168, 48);
    for (name, height) in [("clp_rec", 32usize), ("ppocr_v4_rec", 48)] {
        let mut reader =
            PlateReader::new(&rt, &store.verify(name).unwrap(), &opts, PlateReaderConfig::for_model(name)).unwrap();
        let mut tensor = Vec::new();
        let norm = Normalize { mean: [127.5; 3], scale: [1.0 / 127.5; 3], bgr: true };
        Resizer::default().stretch(view(&crop), 320, height as u32, &norm, &mut tensor);
        let (wrapper, raw) = cpu_ms2(
            n,
            &mut reader,
            |r| {
                r.infer(view(&crop)).unwrap();
                let (p, c) = r.probs();
                std::hint::black_box(menwei_vision::ctc::beam_search(p, c, r.alphabet(), 16, 4));
            },
            |r| raw_run(r.session_mut(), [1, 3, height, 320], &tensor),
        );
        row(name, &format!("168x48 -> 320x{height}"), wrapper, raw);
    }
}
