//! Plate kinds that no photo in the project's data shows (民航, military), drawn at GA 36's
//! proportions with the system's CJK font (the demo's stand-in plates) and read by the real
//! models through the real fusion: the grammar lets the decoder finish them, so they are read as
//! themselves, or refused, never turned into another plate. A drawn plate shows that the
//! decoding path can read the kind, not how well a camera's photo of one would read.

use std::path::{Path, PathBuf};

use menwei_vision::lpr::{Lpr, LprConfig, PlateOutcome};
use menwei_vision::plate::{PlateDetector, PlateDetectorConfig, PlateReader, PlateReaderConfig};
use menwei_vision::{ModelStore, Runtime, SessionOptions};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn lpr() -> Lpr {
    let rt = Runtime::init(None).expect("ONNX Runtime");
    let r = root();
    let store = ModelStore::open(&r.join("models/models.toml"), &r.join("models")).unwrap();
    let opts = SessionOptions::default();
    let det =
        PlateDetector::new(&rt, &store.verify("clp_det").unwrap(), &opts, PlateDetectorConfig::default()).unwrap();
    let verified = ["clp_rec", "ppocr_v4_rec"].map(|name| store.verify(name).unwrap());
    let readers = verified
        .iter()
        .map(|m| PlateReader::new(&rt, m, &opts, PlateReaderConfig::for_model(&m.entry.name)).unwrap())
        .collect();
    let cfg = LprConfig {
        province_bias: menwei_vision::lpr::province_bias_for(&[&verified[0], &verified[1]]),
        ..LprConfig::default()
    };
    Lpr::new(det, readers, cfg).unwrap()
}

#[test]
fn drawn_plates_of_the_rarer_kinds_are_read_as_themselves() {
    let font = std::fs::read(menwei_demo::plates::find_font().unwrap()).unwrap();
    let mut lpr = lpr();
    let mut outcomes = Vec::new();
    for plate in ["川A12345", "民航A0123", "民航B6688", "KA12345", "HB00721"] {
        let scene = menwei_demo::plates::render(plate, &font).unwrap();
        let view = menwei_core::image::RgbView::packed(scene.width(), scene.height(), scene.as_raw()).unwrap();
        let results = lpr.recognise(view).unwrap();
        let read: Vec<String> = results
            .iter()
            .map(|r| match &r.outcome {
                PlateOutcome::Read(p) => format!("{} ({:.2})", p.plate, p.confidence),
                PlateOutcome::Rejected { reason, .. } => format!("rejected: {reason}"),
            })
            .collect();
        eprintln!("{plate}: {read:?}");
        outcomes.push((plate, results));
    }
    for (plate, results) in &outcomes {
        assert_eq!(results.len(), 1, "{plate}: one plate on the car");
        if let PlateOutcome::Read(p) = &results[0].outcome {
            assert_eq!(p.plate.as_str(), *plate, "{plate} read as another plate");
        }
    }
}
