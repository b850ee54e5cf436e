//! Tools for operators and developers: `analyze` (what the models see in a picture, as JSON
//! and as an annotated picture) and `eval` (accuracy on a labelled set).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use image::Rgb;
use menwei_core::image::RgbView;
use menwei_vision::embed::{Embedding, FaceEmbedder};
use menwei_vision::face::{FaceDetection, FaceDetector};
use menwei_vision::lpr::{Lpr, LprConfig, PlateOutcome, PlateResult};
use menwei_vision::plate::{PlateDetector, PlateDetectorConfig, PlateReader, PlateReaderConfig};
use menwei_vision::quality::FaceQuality;
use menwei_vision::{ModelStore, Runtime, SessionOptions};
use serde::Serialize;

use crate::draw;

/// Where the tools find ONNX Runtime and the models.
#[derive(Clone, Debug)]
pub struct ModelPaths {
    pub onnxruntime: Option<PathBuf>,
    pub manifest: PathBuf,
    pub dir: PathBuf,
    pub face_detector: String,
    /// The face embedder's model (`w600k_mbf`, `dlib_resnet`).
    pub face_embedder: String,
    /// Largest face-detector input side: 640 suits portraits and gates (faces up to the whole
    /// picture); 1280 finds the small faces of a crowd but misses faces that fill the frame.
    pub face_input: u32,
    /// Plate readers to fuse, by model name (`clp_rec`, `ppocr_v4_rec`).
    pub plate_readers: Vec<String>,
    /// Plate detector input: longest side, and the most a small picture is scaled up.
    pub plate_max_side: u32,
    pub plate_upscale: f32,
    /// The deployment's prior on plates' first characters.
    pub plate_home: menwei_vision::lpr::HomePrior,
    pub opts: SessionOptions,
}

/// Every model the tools run, opened once.
#[derive(Debug)]
pub struct Kit {
    pub faces: FaceDetector,
    pub embedder: FaceEmbedder,
    pub lpr: Lpr,
}

impl Kit {
    pub fn open(p: &ModelPaths) -> Result<Kit> {
        let rt = Runtime::init(p.onnxruntime.as_deref())?;
        let store = ModelStore::open(&p.manifest, &p.dir)?;
        let faces = FaceDetector::open(&rt, &store.verify(&p.face_detector)?, &p.opts, p.face_input, 0.5)?;
        let embedder = FaceEmbedder::new(&rt, &store.verify(&p.face_embedder)?, &p.opts)?;
        let det_cfg = PlateDetectorConfig {
            max_side: p.plate_max_side,
            max_upscale: p.plate_upscale,
            ..PlateDetectorConfig::default()
        };
        let det = PlateDetector::new(&rt, &store.verify("clp_det")?, &p.opts, det_cfg)?;
        let verified = p.plate_readers.iter().map(|n| store.verify(n)).collect::<Result<Vec<_>, _>>()?;
        let readers = verified
            .iter()
            .map(|m| Ok(PlateReader::new(&rt, m, &p.opts, PlateReaderConfig::for_model(&m.entry.name))?))
            .collect::<Result<Vec<_>>>()?;
        let cfg = LprConfig {
            home: p.plate_home.clone(),
            province_bias: menwei_vision::lpr::province_bias_for(&verified.iter().collect::<Vec<_>>()),
            ..LprConfig::default()
        };
        Ok(Kit { faces, embedder, lpr: Lpr::new(det, readers, cfg)? })
    }

    /// Another face detector of `p`'s model, with a largest input of `max_input` (a group
    /// photo's small faces need more than a gate frame's 640).
    pub fn face_detector(p: &ModelPaths, max_input: u32) -> Result<FaceDetector> {
        let rt = Runtime::init(p.onnxruntime.as_deref())?;
        let store = ModelStore::open(&p.manifest, &p.dir)?;
        Ok(FaceDetector::open(&rt, &store.verify(&p.face_detector)?, &p.opts, max_input, 0.5)?)
    }
}

/// A face as `analyze` reports it.
#[derive(Debug, Serialize)]
pub struct FaceFinding {
    #[serde(flatten)]
    pub detection: FaceDetection,
    pub quality: FaceQuality,
    /// Best gallery match, when a gallery was given.
    pub identity: Option<Match>,
}

#[derive(Debug, Serialize)]
pub struct Match {
    pub name: String,
    pub cosine: f32,
    /// Cosine of the best *other* gallery name (the margin is the difference).
    pub runner_up: Option<f32>,
}

/// What `analyze` prints for one picture.
#[derive(Debug, Serialize)]
pub struct Analysis {
    pub image: PathBuf,
    pub width: u32,
    pub height: u32,
    pub faces: Vec<FaceFinding>,
    pub plates: Vec<PlateResult>,
    pub millis: f64,
    /// The annotated copy, when one was written.
    pub annotated: Option<PathBuf>,
}

/// Portraits to name faces by: the largest face of each picture, named by its file stem.
pub fn gallery(kit: &mut Kit, dir: &Path) -> Result<Vec<(String, Embedding)>> {
    let mut out = Vec::new();
    for path in pictures(dir)? {
        let img = open(&path)?;
        let view = RgbView::packed(img.width(), img.height(), img.as_raw())?;
        let faces = kit.faces.detect(view)?;
        let Some(face) = faces.iter().max_by(|a, b| a.bbox.area().total_cmp(&b.bbox.area())) else {
            eprintln!("gallery: no face in {}, skipped", path.display());
            continue;
        };
        let shot = kit.embedder.embed(view, std::slice::from_ref(face))?.remove(0);
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        out.push((name, shot.embedding));
    }
    Ok(out)
}

/// The pictures at `path`: the file itself, or the pictures in the folder (sorted).
pub fn pictures(path: &Path) -> Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_owned()]);
    }
    let mut out: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png"))
        })
        .collect();
    out.sort();
    Ok(out)
}

fn open(path: &Path) -> Result<image::RgbImage> {
    Ok(image::ImageReader::open(path)
        .with_context(|| format!("cannot open {}", path.display()))?
        .with_guessed_format()?
        .decode()
        .with_context(|| format!("cannot decode {}", path.display()))?
        .to_rgb8())
}

/// Runs the face and plate models on one picture; with `out_dir`, also writes an annotated
/// copy there (same name, `.png`).
pub fn analyze(
    kit: &mut Kit,
    path: &Path,
    gallery: &[(String, Embedding)],
    out_dir: Option<&Path>,
) -> Result<Analysis> {
    let mut img = open(path)?;
    let t = Instant::now();
    let view = RgbView::packed(img.width(), img.height(), img.as_raw())?;
    let detections = kit.faces.detect(view)?;
    let shots = kit.embedder.embed(view, &detections)?;
    let plates = kit.lpr.recognise(view)?;
    let millis = t.elapsed().as_secs_f64() * 1e3;
    let faces: Vec<FaceFinding> = detections
        .into_iter()
        .zip(shots)
        .map(|(detection, shot)| {
            let mut scored: Vec<(&str, f32)> =
                gallery.iter().map(|(n, e)| (n.as_str(), e.cosine(&shot.embedding))).collect();
            scored.sort_by(|a, b| b.1.total_cmp(&a.1));
            let identity = scored.first().map(|&(name, cosine)| Match {
                name: name.to_owned(),
                cosine,
                runner_up: scored.iter().find(|(n, _)| *n != name).map(|s| s.1),
            });
            FaceFinding { detection, quality: shot.quality, identity }
        })
        .collect();
    let annotated = match out_dir {
        Some(dir) => {
            annotate(&mut img, &faces, &plates);
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "image".into());
            let out = dir.join(format!("{name}.png"));
            img.save(&out).with_context(|| format!("cannot write {}", out.display()))?;
            Some(out)
        }
        None => None,
    };
    Ok(Analysis { image: path.to_owned(), width: img.width(), height: img.height(), faces, plates, millis, annotated })
}

/// A gallery match at least this close is written on the picture.
const NAME_AT: f32 = 0.35;
const GREEN: Rgb<u8> = Rgb([40, 220, 60]);
const ORANGE: Rgb<u8> = Rgb([255, 150, 0]);
const RED: Rgb<u8> = Rgb([235, 40, 40]);
const CYAN: Rgb<u8> = Rgb([0, 220, 255]);
const BLACK: Rgb<u8> = Rgb([0, 0, 0]);

/// Faces: box coloured by quality (green good, orange fair, red poor), five landmarks, and the
/// gallery name when one matches (else the quality, on faces large enough). Plates: the four corners, the text in pinyin with
/// its confidence, or why it was rejected.
fn annotate(img: &mut image::RgbImage, faces: &[FaceFinding], plates: &[PlateResult]) {
    let scale = ((img.width().max(img.height()) as f32 / 800.0).round() as i64).max(1);
    for f in faces {
        let b = f.detection.bbox;
        let c = if f.quality.overall >= 0.5 {
            GREEN
        } else if f.quality.overall >= 0.2 {
            ORANGE
        } else {
            RED
        };
        draw::rect(img, b.x1, b.y1, b.x2, b.y2, scale, c);
        for p in &f.detection.landmarks {
            draw::dot(img, p.x, p.y, scale, CYAN);
        }
        // Crowds would be buried under labels: name matches, and label only faces large
        // enough to be worth tuning on.
        let label = match &f.identity {
            Some(m) if m.cosine >= NAME_AT => Some(format!("{} {:.2}", m.name.to_ascii_uppercase(), m.cosine)),
            _ if f.quality.eye_distance_px >= 24.0 => Some(format!("Q {:.2}", f.quality.overall)),
            _ => None,
        };
        if let Some(label) = label {
            draw::text(img, b.x1, (b.y1 - 9.0 * scale as f32).max(0.0), &label, scale, BLACK, c);
        }
    }
    for p in plates {
        let c = &p.detection.corners;
        let colour = if p.outcome.reading().is_some() { GREEN } else { RED };
        for i in 0..4 {
            draw::line(img, (c[i].x, c[i].y), (c[(i + 1) % 4].x, c[(i + 1) % 4].y), scale, colour);
        }
        let label = match &p.outcome {
            PlateOutcome::Read(r) => format!("{} {:.2}", draw::ascii_plate(r.plate.as_str()), r.confidence),
            PlateOutcome::Rejected { .. } => "REJECTED".to_owned(),
        };
        let (x, y) = (c[3].x.min(c[0].x), c[3].y.max(c[2].y) + 2.0 * scale as f32);
        draw::text(img, x, y, &label, scale, BLACK, colour);
    }
}

/// What became of one enrolment photo.
#[derive(Debug, Serialize)]
pub struct EnrolOutcome {
    pub photo: PathBuf,
    /// `enrolled`, or `refused` with the reason.
    pub result: &'static str,
    pub reason: Option<String>,
    pub quality: Option<FaceQuality>,
}

/// Enrols `resident` from `photos`: each photo must show exactly one face of enrolment
/// quality. Only the template is stored (sealed); the photo is never kept.
pub fn enroll(
    kit: &mut Kit,
    register: &menwei_register::Register,
    resident: &str,
    photos: &[PathBuf],
) -> Result<Vec<EnrolOutcome>> {
    let mut out = Vec::new();
    for photo in photos {
        let outcome = match open(photo) {
            Ok(img) => enroll_image(&mut kit.faces, &mut kit.embedder, register, resident, &img)?,
            Err(e) => Enrolment::refused(format!("{e:#}"), None),
        };
        out.push(EnrolOutcome {
            photo: photo.clone(),
            result: outcome.result,
            reason: outcome.reason,
            quality: outcome.quality,
        });
    }
    Ok(out)
}

/// What one enrolment photo gave.
#[derive(Debug, Serialize)]
pub struct Enrolment {
    pub result: &'static str,
    pub reason: Option<String>,
    pub quality: Option<FaceQuality>,
}

impl Enrolment {
    fn refused(reason: String, quality: Option<FaceQuality>) -> Self {
        Self { result: "refused", reason: Some(reason), quality }
    }
}

/// Enrols one decoded photo (shared by the command line and `POST /enroll`).
pub fn enroll_image(
    faces: &mut FaceDetector,
    embedder: &mut FaceEmbedder,
    register: &menwei_register::Register,
    resident: &str,
    img: &image::RgbImage,
) -> Result<Enrolment> {
    let view = RgbView::packed(img.width(), img.height(), img.as_raw())?;
    let found = faces.detect(view)?;
    match found.len() {
        0 => return Ok(Enrolment::refused("no face found".into(), None)),
        1 => {}
        n => return Ok(Enrolment::refused(format!("{n} faces: enrol from a photo of this resident alone"), None)),
    }
    let shot = embedder.embed(view, &found)?.remove(0);
    if let Err(issue) = menwei_vision::quality::QualityPolicy::ENROL.check(&shot.quality) {
        return Ok(Enrolment::refused(issue.to_string(), Some(shot.quality)));
    }
    register.add_template(resident, embedder.kind().model(), &shot.embedding.0[..])?;
    Ok(Enrolment { result: "enrolled", reason: None, quality: Some(shot.quality) })
}
