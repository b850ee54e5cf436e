//! Face detection, alignment, embedding and quality on real photos (fetched by scripts/setup).

use std::path::{Path, PathBuf};

use menwei_core::image::RgbView;
use menwei_vision::embed::{Embedding, FaceEmbedder, FaceShot};
use menwei_vision::face::{FaceDetection, FaceDetector};
use menwei_vision::quality::{QualityIssue, QualityPolicy};
use menwei_vision::{ModelStore, Runtime, SessionOptions};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn photo(name: &str) -> image::RgbImage {
    let p = root().join("var/media").join(name);
    image::open(&p).unwrap_or_else(|e| panic!("cannot open {} ({e}); run scripts/setup", p.display())).to_rgb8()
}

fn view(img: &image::RgbImage) -> RgbView<'_> {
    RgbView::packed(img.width(), img.height(), img.as_raw()).unwrap()
}

struct Models {
    scrfd: FaceDetector,
    centerface: FaceDetector,
    embedder: FaceEmbedder,
}

fn models(max_input: u32) -> Models {
    let r = root();
    let store = ModelStore::open(&r.join("models/models.toml"), &r.join("models")).unwrap();
    let rt = Runtime::init(None).expect("ONNX Runtime");
    let opts = SessionOptions::default();
    Models {
        scrfd: FaceDetector::open(&rt, &store.verify("scrfd_500m").unwrap(), &opts, max_input, 0.5).unwrap(),
        centerface: FaceDetector::open(&rt, &store.verify("centerface").unwrap(), &opts, max_input, 0.5).unwrap(),
        embedder: FaceEmbedder::new(&rt, &store.verify("w600k_mbf").unwrap(), &opts).unwrap(),
    }
}

fn largest(faces: &[FaceDetection]) -> &FaceDetection {
    faces.iter().max_by(|a, b| a.bbox.area().total_cmp(&b.bbox.area())).expect("a face")
}

/// The embedding of the largest face in a photo.
fn portrait(m: &mut Models, name: &str) -> FaceShot {
    let img = photo(name);
    let faces = m.scrfd.detect(view(&img)).unwrap();
    let face = largest(&faces).clone();
    m.embedder.embed(view(&img), &[face]).unwrap().remove(0)
}

#[test]
fn both_detectors_find_the_faces_in_t1_with_landmarks_inside_the_boxes() {
    let mut m = models(640);
    let img = photo("t1.jpg");
    for (name, det) in [("scrfd", &mut m.scrfd), ("centerface", &mut m.centerface)] {
        let faces = det.detect(view(&img)).unwrap();
        eprintln!("{name}: {} faces in t1.jpg", faces.len());
        assert_eq!(faces.len(), 6, "{name}");
        for f in &faces {
            let b = f.bbox;
            for p in &f.landmarks {
                assert!(
                    p.x >= b.x1 - 4.0 && p.x <= b.x2 + 4.0 && p.y >= b.y1 - 4.0 && p.y <= b.y2 + 4.0,
                    "{name}: {f:?}"
                );
            }
            // Eyes above the mouth, left eye left of the right one.
            assert!(f.landmarks[0].x < f.landmarks[1].x && f.landmarks[0].y < f.landmarks[3].y, "{name}: {f:?}");
        }
    }
}

#[test]
fn players_has_at_least_20_faces() {
    let mut m = models(1280);
    let img = photo("players.jpg");
    let faces = m.scrfd.detect(view(&img)).unwrap();
    eprintln!("scrfd at up to 1280 px: {} faces in players.jpg", faces.len());
    assert!(faces.len() >= 20, "{} faces", faces.len());
}

#[test]
fn the_same_person_matches_and_others_do_not() {
    let mut m = models(640);
    let obama = portrait(&mut m, "obama.jpg");
    let obama2 = portrait(&mut m, "obama2.jpg");
    let obama3 = portrait(&mut m, "obama3.jpg");
    let biden = portrait(&mut m, "biden.jpg");
    let yao = portrait(&mut m, "yaoming.jpg");
    let c = |a: &FaceShot, b: &FaceShot| a.embedding.cosine(&b.embedding);
    let figures = [
        ("obama-obama2", c(&obama, &obama2)),
        ("obama-obama3", c(&obama, &obama3)),
        ("obama2-obama3", c(&obama2, &obama3)),
        ("obama-biden", c(&obama, &biden)),
        ("obama-yaoming", c(&obama, &yao)),
        ("obama2-biden", c(&obama2, &biden)),
        ("obama3-yaoming", c(&obama3, &yao)),
    ];
    for (pair, cos) in figures {
        eprintln!("cosine {pair:<15} {cos:.3}");
    }
    for (pair, cos) in &figures[..3] {
        assert!(*cos >= 0.5, "{pair}: {cos}");
    }
    for (pair, cos) in &figures[3..] {
        assert!(*cos <= 0.3, "{pair}: {cos}");
    }
    // Self-similarity of a unit vector, and fusion keeps unit length.
    assert!((c(&obama, &obama) - 1.0).abs() < 1e-5);
    let fused = Embedding::fuse([(&obama2.embedding, 1.0), (&obama3.embedding, 2.0)]).unwrap();
    assert!((fused.cosine(&fused) - 1.0).abs() < 1e-5);
    assert!(fused.cosine(&obama.embedding) >= c(&obama, &obama2).min(c(&obama, &obama3)));
    for (name, shot) in [("obama", &obama), ("obama2", &obama2), ("yaoming", &yao)] {
        eprintln!("{name}: {:?}", shot.quality);
    }
}

#[test]
fn yao_mings_portrait_finds_him_in_the_team_photo() {
    let mut m = models(1280);
    let yao = portrait(&mut m, "yaoming.jpg");
    let img = photo("players.jpg");
    let faces = m.scrfd.detect(view(&img)).unwrap();
    let shots = m.embedder.embed(view(&img), &faces).unwrap();
    let mut scored: Vec<(f32, &FaceDetection)> =
        shots.iter().zip(&faces).map(|(s, f)| (s.embedding.cosine(&yao.embedding), f)).collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (best, face) = scored[0];
    let second = scored[1].0;
    eprintln!(
        "best {best:.3} at ({:.0},{:.0}), second {second:.3}, margin {:.3}, over {} faces",
        face.bbox.x1,
        face.bbox.y1,
        best - second,
        faces.len()
    );
    assert!(best >= 0.4 && best - second >= 0.15, "best {best}, second {second}");
}

#[test]
fn quality_ranks_sharp_large_faces_above_degraded_copies_and_enrolment_refuses_them() {
    let mut m = models(640);
    let img = photo("obama.jpg");
    let faces = m.scrfd.detect(view(&img)).unwrap();
    let face = largest(&faces).clone();
    let q = m.embedder.quality(view(&img), &face);
    eprintln!("obama.jpg: {q:?}");
    assert_eq!(QualityPolicy::ENROL.check(&q), Ok(()));

    // The same photo at a gate camera's resolution (about 24 px between the eyes) and blurred.
    let small = image::imageops::resize(&img, img.width() / 6, img.height() / 6, image::imageops::FilterType::Triangle);
    let f = m.scrfd.detect(view(&small)).unwrap();
    let qs = m.embedder.quality(view(&small), largest(&f));
    eprintln!("1/6 size: {qs:?}");
    assert!(matches!(QualityPolicy::ENROL.check(&qs), Err(QualityIssue::TooSmall { .. })));
    let blurred = image::imageops::blur(&img, 6.0);
    let f = m.scrfd.detect(view(&blurred)).unwrap();
    let qb = m.embedder.quality(view(&blurred), largest(&f));
    eprintln!("blurred: {qb:?}");
    assert!(matches!(QualityPolicy::ENROL.check(&qb), Err(QualityIssue::Blurred { .. })));
    assert!(q.overall > qs.overall && q.overall > qb.overall);
}

#[test]
fn the_public_domain_dlib_embedder_separates_the_same_people_at_its_own_threshold() {
    use menwei_vision::embed::EmbedderKind;
    let r = root();
    let store = ModelStore::open(&r.join("models/models.toml"), &r.join("models")).unwrap();
    let rt = Runtime::init(None).expect("ONNX Runtime");
    let opts = SessionOptions::default();
    let mut dlib = FaceEmbedder::new(&rt, &store.verify("dlib_resnet").unwrap(), &opts).unwrap();
    assert_eq!(dlib.kind(), EmbedderKind::DlibResnet);
    let mut m = models(640);
    let mut shot = |name: &str| {
        let img = photo(name);
        let faces = m.scrfd.detect(view(&img)).unwrap();
        let face = largest(&faces).clone();
        let d = dlib.embed(view(&img), std::slice::from_ref(&face)).unwrap().remove(0);
        let w = m.embedder.embed(view(&img), &[face]).unwrap().remove(0);
        // The quality cues come from the same ArcFace crop whichever embedder runs.
        assert_eq!(d.quality.sharpness, w.quality.sharpness, "{name}");
        assert_eq!(d.quality.brightness, w.quality.brightness, "{name}");
        assert_eq!(d.embedding.0.len(), 128);
        d
    };
    let (obama, obama2, obama3) = (shot("obama.jpg"), shot("obama2.jpg"), shot("obama3.jpg"));
    let (biden, yao) = (shot("biden.jpg"), shot("yaoming.jpg"));
    let t = EmbedderKind::DlibResnet.default_threshold();
    let c = |a: &FaceShot, b: &FaceShot| a.embedding.cosine(&b.embedding);
    for (pair, cos) in [("obama-obama2", c(&obama, &obama2)), ("obama-obama3", c(&obama, &obama3))] {
        eprintln!("dlib cosine {pair:<13} {cos:.3}");
        assert!(cos >= t, "{pair}: {cos} under the threshold {t}");
    }
    for (pair, cos) in [("obama-biden", c(&obama, &biden)), ("obama-yaoming", c(&obama, &yao))] {
        eprintln!("dlib cosine {pair:<13} {cos:.3}");
        assert!(cos < t - 0.03, "{pair}: {cos} near the threshold {t}");
    }
    // dlib's embedding is not w600k_mbf's: the two are never compared.
    assert_eq!(obama.embedding.cosine(&portrait(&mut m, "obama.jpg").embedding), 0.0);
}
