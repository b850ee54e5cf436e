//! Every model in the manifest, loaded through `ort` and run on real photos.
//!
//! The models and photos come from `scripts/setup` (the README's test command runs it first);
//! their absence is a failure here, not a skip. Plate photos come from `../shared/data`, which
//! outside users do not have: the plate checks skip with a message when it is absent.

use std::path::{Path, PathBuf};

use menwei_core::image::RgbView;
use menwei_vision::probe::{Finding, probe};
use menwei_vision::{ModelStore, Runtime, SessionOptions, Task};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn store() -> ModelStore {
    let r = root();
    ModelStore::open(&r.join("models/models.toml"), &r.join("models")).unwrap()
}

fn rgb(path: &Path) -> image::RgbImage {
    image::open(path).unwrap_or_else(|e| panic!("cannot open {} ({e}); run scripts/setup", path.display())).to_rgb8()
}

fn view(img: &image::RgbImage) -> RgbView<'_> {
    RgbView::packed(img.width(), img.height(), img.as_raw()).unwrap()
}

/// A real plate scene and a real plate crop with its text, from ../shared/data when present.
fn plate_photos() -> Option<(PathBuf, Vec<(PathBuf, String)>)> {
    let dir = root().join("../shared/data/plates");
    let manifest = std::fs::read_to_string(dir.join("manifest.csv")).ok()?;
    let mut scene = None;
    let mut crops = Vec::new();
    for line in manifest.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() < 3 {
            continue;
        }
        if f[2] == "scene" && scene.is_none() && f[0].starts_with("ccpd") {
            scene = Some(dir.join(f[0]));
        }
        if f[2] == "crop" && f[0].starts_with("lprnet") && crops.len() < 8 {
            crops.push((dir.join(f[0]), f[1].to_owned()));
        }
    }
    Some((scene?, crops))
}

#[test]
fn every_model_in_the_manifest_loads_and_runs_on_a_real_image() {
    let rt = Runtime::init(None).expect("ONNX Runtime");
    let store = store();
    let t1 = rgb(&root().join("var/media/t1.jpg"));
    let plates = plate_photos();
    if plates.is_none() {
        eprintln!("SKIP plate photos: ../shared/data/plates is absent; plate models run on t1.jpg only");
    }
    let opts = SessionOptions::default();
    for entry in &store.manifest().models {
        let model = store.verify(&entry.name).unwrap_or_else(|e| panic!("{e}"));
        let report = probe(&rt, &model, view(&t1), &opts).unwrap_or_else(|e| panic!("{}: {e}", entry.name));
        eprintln!("{} on t1.jpg: {:?} {:?} in {:.0} ms", report.model, report.outputs, report.finding, report.millis);
        match (&entry.task, &report.finding) {
            (Task::FaceDetection, Finding::Faces { count, .. }) => {
                assert_eq!(*count, 6, "t1.jpg has 6 faces")
            }
            (Task::FaceDetection, Finding::Heatmap { peak }) => {
                assert!(*peak > 0.5, "CenterFace sees faces: {peak}")
            }
            (Task::FaceEmbedding, Finding::Embedding { dims, norm }) => {
                let kind = menwei_vision::embed::EmbedderKind::from_model(&entry.name).expect("a known embedder");
                assert_eq!(*dims, kind.dims());
                assert!(norm.is_finite() && *norm > 0.0);
            }
            (Task::PlateDetection, Finding::Plates { .. }) => {
                if let Some((scene, _)) = &plates {
                    let img = rgb(scene);
                    let r = probe(&rt, &model, view(&img), &opts).unwrap();
                    eprintln!("{} on {}: {:?}", r.model, scene.display(), r.finding);
                    assert!(matches!(r.finding, Finding::Plates { candidates_over_half } if candidates_over_half > 0));
                }
            }
            (Task::PlateReading, Finding::Text { classes, .. }) => {
                assert!(*classes == 73 || *classes == 6625, "{classes} classes");
                if let (Some((_, crops)), true) = (&plates, entry.name == "clp_rec") {
                    let mut exact = 0;
                    for (path, truth) in crops {
                        let img = rgb(path);
                        let r = probe(&rt, &model, view(&img), &opts).unwrap();
                        let Finding::Text { text: Some(text), .. } = r.finding else { panic!("{:?}", r.finding) };
                        eprintln!("clp_rec read {text} for {truth}");
                        exact += usize::from(&text == truth);
                    }
                    assert!(exact * 4 >= crops.len() * 3, "{exact} of {} crops read exactly", crops.len());
                }
            }
            (task, finding) => panic!("{task:?} gave {finding:?}"),
        }
    }
}

#[test]
fn an_unavailable_execution_provider_falls_back_to_the_cpu() {
    let rt = Runtime::init(None).expect("ONNX Runtime");
    let model = store().verify("scrfd_500m").unwrap();
    for provider in menwei_vision::Provider::ACCELERATED {
        let opts = SessionOptions { provider, ..SessionOptions::default() };
        let (_session, used) = rt.session_on(&model, &opts).unwrap();
        eprintln!(
            "asked for {}, got {} (feature compiled in: {})",
            provider.name(),
            used.name(),
            provider.compiled_in()
        );
        // The PyPI wheel's library is CPU-only, so every other provider falls back.
        assert_eq!(used, menwei_vision::Provider::Cpu);
    }
}
