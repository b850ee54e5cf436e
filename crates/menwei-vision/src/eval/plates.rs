//! Accuracy evaluation on a labelled plate set (the manifest format of `../shared/data/plates`).
//! Used by `menwei-edge eval plates` and by the tests, so both report the same numbers.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use menwei_core::geom::{BoxXyxy, Point};
use menwei_core::image::RgbView;
use menwei_core::plate::PlateLayout;
use serde::Serialize;

use crate::VisionError;
use crate::lpr::{Lpr, PlateOutcome, quad_aspect};

/// One labelled plate.
#[derive(Clone, Debug)]
pub struct LabelledPlate {
    pub path: String,
    pub text: String,
    /// `crop` or `scene`.
    pub kind: String,
    pub color: String,
    pub bbox: Option<BoxXyxy>,
    pub corners: Option<[Point; 4]>,
    pub note: String,
}

impl LabelledPlate {
    /// Double-row by the label: a note says so, or the labelled outline is narrow (at most 2.3
    /// wide per unit of height) on a yellow plate.
    pub fn double_row(&self) -> bool {
        self.note.contains("double-row")
            || self.path.contains("double")
            || (self.color == "yellow" && self.corners.is_some_and(|c| quad_aspect(&c) <= 2.3))
    }
}

/// RFC 4180 records: fields may be quoted, quotes inside doubled, newlines inside quotes.
pub fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    records
}

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {reason}")]
    Manifest { path: PathBuf, reason: String },
    #[error("cannot decode {path}: {reason}")]
    Image { path: PathBuf, reason: String },
    #[error(transparent)]
    Vision(#[from] VisionError),
}

/// Reads a plate manifest: `path`, `plate_text`, `kind`, `color_if_known`, `bbox_xyxy`
/// (`"x1 y1 x2 y2"`), `corners_tl_tr_br_bl` (`"x&y;x&y;x&y;x&y"`), `note`.
pub fn read_plate_manifest(path: &Path) -> Result<Vec<LabelledPlate>, EvalError> {
    let text = std::fs::read_to_string(path).map_err(|source| EvalError::Read { path: path.into(), source })?;
    let bad = |reason: String| EvalError::Manifest { path: path.into(), reason };
    let mut records = parse_csv(&text).into_iter();
    let header = records.next().ok_or_else(|| bad("empty".into()))?;
    let col = |name: &str| header.iter().position(|h| h == name).ok_or_else(|| bad(format!("no column `{name}`")));
    let (p, t, k) = (col("path")?, col("plate_text")?, col("kind")?);
    let opt = |name: &str| header.iter().position(|h| h == name);
    let (c, b, q, n) = (opt("color_if_known"), opt("bbox_xyxy"), opt("corners_tl_tr_br_bl"), opt("note"));
    let mut out = Vec::new();
    for (i, r) in records.enumerate() {
        if r.len() == 1 && r[0].is_empty() {
            continue;
        }
        if r.len() != header.len() {
            return Err(bad(format!("row {}: {} fields, the header has {}", i + 2, r.len(), header.len())));
        }
        let get = |c: Option<usize>| c.map(|c| r[c].clone()).unwrap_or_default();
        let bbox = match get(b) {
            s if s.is_empty() => None,
            s => {
                let v: Vec<f32> = s.split_whitespace().filter_map(|v| v.parse().ok()).collect();
                if v.len() != 4 {
                    return Err(bad(format!("row {}: bbox_xyxy `{s}` is not four numbers", i + 2)));
                }
                Some(BoxXyxy { x1: v[0], y1: v[1], x2: v[2], y2: v[3] })
            }
        };
        let corners = match get(q) {
            s if s.is_empty() => None,
            s => {
                let pts: Vec<Point> = s
                    .split(';')
                    .filter_map(|p| {
                        let (x, y) = p.split_once('&')?;
                        Some(Point { x: x.trim().parse().ok()?, y: y.trim().parse().ok()? })
                    })
                    .collect();
                let arr: [Point; 4] =
                    pts.try_into().map_err(|_| bad(format!("row {}: corners `{s}` are not four x&y", i + 2)))?;
                Some(arr)
            }
        };
        out.push(LabelledPlate {
            path: r[p].clone(),
            text: r[t].clone(),
            kind: r[k].clone(),
            color: get(c),
            bbox,
            corners,
            note: get(n),
        });
    }
    Ok(out)
}

/// Exact match; a truth starting with `?` (illegible province) compares the rest only.
pub fn matches(truth: &str, read: &str) -> bool {
    match truth.strip_prefix('?') {
        Some(rest) => read.chars().skip(1).eq(rest.chars()),
        None => truth == read,
    }
}

/// Counts for one subset.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Tally {
    pub plates: usize,
    /// Scenes with a labelled box: detections at IoU >= 0.5.
    pub found: usize,
    pub exact: usize,
}

impl Tally {
    pub fn recall(&self) -> f64 {
        pct(self.found, self.plates)
    }
    pub fn accuracy(&self) -> f64 {
        pct(self.exact, self.plates)
    }
}

fn pct(n: usize, d: usize) -> f64 {
    if d == 0 { 0.0 } else { 100.0 * n as f64 / d as f64 }
}

/// What `eval plates` prints.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PlateReport {
    /// Subset name -> counts. Names: `<folder> crops`, `<folder> end to end`, `<folder> >= 80 px`,
    /// `<folder> any detection` (scenes without boxes), `colour <c>`, `double-row`.
    pub subsets: BTreeMap<String, Tally>,
    /// (truth, read) -> count, over same-length misreads.
    pub confusions: Vec<(String, usize)>,
    /// Plates whose colour was labelled, and how many the estimate got right.
    pub colour_labelled: usize,
    pub colour_right: usize,
    pub images: usize,
    pub median_ms_per_image: f64,
    /// Every plate not read exactly: "truth -> read (why)".
    pub misses: Vec<String>,
}

impl PlateReport {
    pub fn subset(&self, name: &str) -> Tally {
        self.subsets.get(name).cloned().unwrap_or_default()
    }
}

impl fmt::Display for PlateReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{:<36} {:>7} {:>16} {:>16}", "subset", "plates", "detector recall", "exact")?;
        for (name, t) in &self.subsets {
            let recall = if name.ends_with("end to end") || name.contains(">=") {
                format!("{} ({:.1} %)", t.found, t.recall())
            } else {
                "-".into()
            };
            writeln!(
                f,
                "{name:<36} {:>7} {recall:>16} {:>16}",
                t.plates,
                format!("{} ({:.1} %)", t.exact, t.accuracy())
            )?;
        }
        writeln!(
            f,
            "colour estimate: {} of {} labelled plates ({:.1} %)",
            self.colour_right,
            self.colour_labelled,
            pct(self.colour_right, self.colour_labelled)
        )?;
        writeln!(f, "images: {}, median {:.1} ms per image (detect and read)", self.images, self.median_ms_per_image)?;
        let top: Vec<String> = self.confusions.iter().take(12).map(|(p, n)| format!("{p} x{n}")).collect();
        writeln!(f, "most common confusions (truth->read): {}", top.join(", "))
    }
}

fn load(path: &Path) -> Result<image::RgbImage, EvalError> {
    image::ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|e| EvalError::Image { path: path.into(), reason: e.to_string() })?
        .decode()
        .map(|i| i.to_rgb8())
        .map_err(|e| EvalError::Image { path: path.into(), reason: e.to_string() })
}

/// Runs `lpr` over every labelled plate of `manifest` (paths relative to its folder), or those
/// whose path contains `only`.
/// `progress(done, total)` is called after each image.
pub fn eval_plates(
    manifest: &Path,
    lpr: &mut Lpr,
    min_wide_px: f32,
    only: Option<&str>,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<PlateReport, EvalError> {
    let dir = manifest.parent().unwrap_or(Path::new("."));
    let mut rows = read_plate_manifest(manifest)?;
    if let Some(only) = only {
        rows.retain(|r| r.path.contains(only));
    }
    let mut by_image: BTreeMap<&str, Vec<&LabelledPlate>> = BTreeMap::new();
    for r in &rows {
        by_image.entry(r.path.as_str()).or_default().push(r);
    }
    let mut report = PlateReport::default();
    let mut confusions: BTreeMap<String, usize> = BTreeMap::new();
    let mut ms = Vec::new();
    let total = by_image.len();
    for (done, (path, plates)) in by_image.into_iter().enumerate() {
        let folder = path.split('/').next().unwrap_or("").to_owned();
        let img = load(&dir.join(path))?;
        let frame = RgbView::packed(img.width(), img.height(), img.as_raw()).expect("decoded image");
        let t = Instant::now();
        // Crops are read as they are; scenes go through the detector.
        let results = if plates.iter().all(|p| p.kind == "crop") { None } else { Some(lpr.recognise(frame)?) };
        for plate in plates {
            let (found, read, why) = match (&results, plate.kind.as_str()) {
                (None, _) | (_, "crop") => {
                    let outcome = lpr.read_crop(frame)?;
                    (true, outcome, String::new())
                }
                (Some(results), _) => match plate.bbox {
                    Some(gt) => {
                        let best =
                            results.iter().map(|r| (gt.iou(&r.detection.bbox), r)).max_by(|a, b| a.0.total_cmp(&b.0));
                        match best {
                            Some((iou, r)) if iou >= 0.5 => (true, r.outcome.clone(), String::new()),
                            Some((iou, _)) => (false, rejected(), format!("missed, best IoU {iou:.2}")),
                            None => (false, rejected(), "missed, no detection".into()),
                        }
                    }
                    // No labelled box: any detection that reads the plate counts.
                    None => {
                        let hit = results
                            .iter()
                            .find(|r| r.outcome.reading().is_some_and(|x| matches(&plate.text, x.plate.as_str())));
                        match hit.or(results.first()) {
                            Some(r) => (true, r.outcome.clone(), String::new()),
                            None => (false, rejected(), "no detection".into()),
                        }
                    }
                },
            };
            let text = read.reading().map(|r| r.plate.to_string()).unwrap_or_default();
            let exact = matches(&plate.text, &text);
            let mut subsets = vec![];
            match (plate.kind.as_str(), plate.bbox) {
                ("crop", _) => subsets.push(format!("{folder} crops")),
                (_, Some(gt)) => {
                    subsets.push(format!("{folder} end to end"));
                    if gt.width() + 1.0 >= min_wide_px {
                        subsets.push(format!("{folder} >= {min_wide_px:.0} px"));
                    }
                }
                (_, None) => subsets.push(format!("{folder} any detection")),
            }
            if !plate.color.is_empty() {
                subsets.push(format!("colour {}", plate.color));
            }
            if plate.double_row() {
                subsets.push("double-row".into());
            }
            for s in subsets {
                let t = report.subsets.entry(s).or_default();
                t.plates += 1;
                t.found += usize::from(found);
                t.exact += usize::from(exact);
            }
            if let Some(r) = read.reading()
                && !plate.color.is_empty()
            {
                report.colour_labelled += 1;
                report.colour_right += usize::from(format!("{:?}", r.color).eq_ignore_ascii_case(&plate.color));
            }
            if !exact {
                let what = match &read {
                    PlateOutcome::Read(r) => format!(
                        "{} ({:.2}{})",
                        r.plate,
                        r.confidence,
                        if r.layout == PlateLayout::DoubleRow { ", double-row" } else { "" }
                    ),
                    PlateOutcome::Rejected { raw, reason } if why.is_empty() => format!("rejected `{raw}`: {reason}"),
                    PlateOutcome::Rejected { .. } => why.clone(),
                };
                report.misses.push(format!("{path}: {} -> {what}", plate.text));
                let truth: Vec<char> = plate.text.chars().collect();
                let got: Vec<char> = text.chars().collect();
                if truth.len() == got.len() {
                    for (a, b) in truth.iter().zip(&got).filter(|(a, b)| a != b && **a != '?') {
                        *confusions.entry(format!("{a}->{b}")).or_default() += 1;
                    }
                }
            }
        }
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        progress(done + 1, total);
    }
    ms.sort_by(f64::total_cmp);
    report.images = ms.len();
    report.median_ms_per_image = ms.get(ms.len() / 2).copied().unwrap_or(0.0);
    let mut c: Vec<(String, usize)> = confusions.into_iter().collect();
    c.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    report.confusions = c;
    Ok(report)
}

fn rejected() -> PlateOutcome {
    PlateOutcome::Rejected { raw: String::new(), reason: "not detected".into() }
}

/// What `eval faces` prints, for one condition (the photos as they are, or degraded).
#[derive(Clone, Debug, Default, Serialize)]
pub struct FaceReport {
    pub condition: String,
    pub photos: usize,
    /// Photos in which no face was found (their pairs count as failures at any threshold).
    pub no_face: usize,
    pub genuine_pairs: usize,
    pub impostor_pairs: usize,
    pub roc_auc: f64,
    /// The lowest threshold whose false accept rate is at most 1e-3, and the true accept rate
    /// there. With fewer than 1,000 impostor pairs this is "above every impostor".
    pub threshold_at_far_1e3: f32,
    pub tar_at_far_1e3: f64,
    /// The threshold with the fewest pair errors, and its accuracy.
    pub best_threshold: f32,
    pub best_accuracy: f64,
    /// Nearest other photo has the same identity, over photos whose identity has at least two.
    pub rank1: f64,
    pub rank1_probes: usize,
    pub genuine_median: f32,
    pub impostor_max: f32,
}

impl fmt::Display for FaceReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}: {} photos ({} without a face)", self.condition, self.photos, self.no_face)?;
        writeln!(
            f,
            "  pairs: {} genuine (median cosine {:.3}), {} impostor (max {:.3})",
            self.genuine_pairs, self.genuine_median, self.impostor_pairs, self.impostor_max
        )?;
        writeln!(f, "  ROC AUC {:.4}", self.roc_auc)?;
        writeln!(
            f,
            "  TAR {:.1} % at FAR <= 1e-3 (threshold {:.3})",
            100.0 * self.tar_at_far_1e3,
            self.threshold_at_far_1e3
        )?;
        writeln!(f, "  best threshold {:.3}: {:.1} % of pairs right", self.best_threshold, 100.0 * self.best_accuracy)?;
        writeln!(f, "  rank-1 identification {:.1} % over {} probes", 100.0 * self.rank1, self.rank1_probes)
    }
}

/// Scores pairs and identities from embeddings keyed by photo path (`None`: no face found).
pub fn face_report(
    condition: &str,
    embeddings: &BTreeMap<String, Option<crate::embed::Embedding>>,
    identities: &BTreeMap<String, String>,
    pairs: &[(String, String, bool)],
) -> FaceReport {
    let mut genuine = Vec::new();
    let mut impostor = Vec::new();
    for (a, b, same) in pairs {
        let s = match (embeddings.get(a).and_then(Option::as_ref), embeddings.get(b).and_then(Option::as_ref)) {
            (Some(x), Some(y)) => x.cosine(y),
            // No face: a genuine pair is missed, an impostor pair is rejected.
            _ => -1.0,
        };
        if *same { genuine.push(s) } else { impostor.push(s) }
    }
    genuine.sort_by(f32::total_cmp);
    impostor.sort_by(f32::total_cmp);
    // AUC: the probability that a genuine pair outscores an impostor pair (ties count half).
    let mut wins = 0.0f64;
    for g in &genuine {
        let below = impostor.partition_point(|i| i < g);
        let ties = impostor[below..].iter().take_while(|i| *i == g).count();
        wins += below as f64 + ties as f64 / 2.0;
    }
    let roc_auc =
        if genuine.is_empty() || impostor.is_empty() { 0.0 } else { wins / (genuine.len() * impostor.len()) as f64 };
    // FAR <= 1e-3: at most floor(n * 1e-3) impostors may pass.
    let allowed = (impostor.len() as f64 * 1e-3).floor() as usize;
    let threshold = impostor.len().checked_sub(allowed + 1).map_or(f32::MIN, |i| impostor[i]);
    let tar = genuine.iter().filter(|g| **g > threshold).count() as f64 / genuine.len().max(1) as f64;
    // Best threshold: try every score as a cut (accept if > cut).
    let mut all: Vec<f32> = genuine.iter().chain(&impostor).copied().collect();
    all.sort_by(f32::total_cmp);
    let total = (genuine.len() + impostor.len()).max(1) as f64;
    let (mut best_threshold, mut best_accuracy) = (0.0f32, 0.0f64);
    for &cut in &all {
        let right = genuine.iter().filter(|g| **g > cut).count() + impostor.iter().filter(|i| **i <= cut).count();
        let acc = right as f64 / total;
        if acc > best_accuracy {
            (best_threshold, best_accuracy) = (cut, acc);
        }
    }
    // Rank-1 over photos with a face whose identity has at least two photos with a face.
    let with_face: Vec<(&String, &crate::embed::Embedding)> =
        embeddings.iter().filter_map(|(p, e)| e.as_ref().map(|e| (p, e))).collect();
    let mut per_identity: BTreeMap<&str, usize> = BTreeMap::new();
    for (p, _) in &with_face {
        if let Some(id) = identities.get(*p) {
            *per_identity.entry(id.as_str()).or_default() += 1;
        }
    }
    let (mut probes, mut hits) = (0usize, 0usize);
    for (p, e) in &with_face {
        let Some(id) = identities.get(*p) else { continue };
        if per_identity.get(id.as_str()).copied().unwrap_or(0) < 2 {
            continue;
        }
        probes += 1;
        let nearest = with_face
            .iter()
            .filter(|(q, _)| q != p)
            .max_by(|a, b| a.1.cosine(e).total_cmp(&b.1.cosine(e)))
            .and_then(|(q, _)| identities.get(*q));
        hits += usize::from(nearest == Some(id));
    }
    FaceReport {
        condition: condition.into(),
        photos: embeddings.len(),
        no_face: embeddings.values().filter(|e| e.is_none()).count(),
        genuine_pairs: genuine.len(),
        impostor_pairs: impostor.len(),
        roc_auc,
        threshold_at_far_1e3: threshold,
        tar_at_far_1e3: tar,
        best_threshold,
        best_accuracy,
        rank1: hits as f64 / probes.max(1) as f64,
        rank1_probes: probes,
        genuine_median: genuine.get(genuine.len() / 2).copied().unwrap_or(0.0),
        impostor_max: impostor.last().copied().unwrap_or(0.0),
    }
}

/// Reads `manifest.csv` (`path`, `identity`) and `pairs.csv` (`a`, `b`, `same`).
#[allow(clippy::type_complexity)]
pub fn read_face_lists(
    manifest: &Path,
    pairs: &Path,
) -> Result<(BTreeMap<String, String>, Vec<(String, String, bool)>), EvalError> {
    let table = |path: &Path, cols: &[&str]| -> Result<Vec<Vec<String>>, EvalError> {
        let text = std::fs::read_to_string(path).map_err(|source| EvalError::Read { path: path.into(), source })?;
        let mut records = parse_csv(&text).into_iter();
        let header = records.next().unwrap_or_default();
        let idx: Vec<usize> = cols
            .iter()
            .map(|c| {
                header
                    .iter()
                    .position(|h| h == c)
                    .ok_or_else(|| EvalError::Manifest { path: path.into(), reason: format!("no column `{c}`") })
            })
            .collect::<Result<_, _>>()?;
        Ok(records.filter(|r| r.len() == header.len()).map(|r| idx.iter().map(|&i| r[i].clone()).collect()).collect())
    };
    let ids = table(manifest, &["path", "identity"])?.into_iter().map(|r| (r[0].clone(), r[1].clone())).collect();
    let pairs = table(pairs, &["a", "b", "same"])?
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone(), r[2] == "1" || r[2].eq_ignore_ascii_case("true")))
        .collect();
    Ok((ids, pairs))
}

/// A gate camera's view of a photo: scaled so the eyes are about `eye_px` apart, blurred
/// (Gaussian, sigma 1.2) and stored as JPEG at quality 40.
pub fn degrade(img: &image::RgbImage, eye_distance: f32, eye_px: f32) -> image::RgbImage {
    let scale = (eye_px / eye_distance.max(1.0)).min(1.0);
    let (w, h) = (
        ((img.width() as f32) * scale).round().max(16.0) as u32,
        ((img.height() as f32) * scale).round().max(16.0) as u32,
    );
    let small = image::imageops::resize(img, w, h, image::imageops::FilterType::Triangle);
    let blurred = image::imageops::blur(&small, 1.2);
    let mut jpeg = Vec::new();
    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 40);
    if enc.encode_image(&blurred).is_err() {
        return blurred;
    }
    image::load_from_memory(&jpeg).map(|i| i.to_rgb8()).unwrap_or(blurred)
}

/// Embeds the largest face of every photo of `ids`, as they are and degraded, and reports
/// both conditions. `progress(done, total)` after each photo.
pub fn eval_faces(
    manifest: &Path,
    pairs_path: &Path,
    detector: &mut crate::face::FaceDetector,
    embedder: &mut crate::embed::FaceEmbedder,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<[FaceReport; 2], EvalError> {
    let dir = manifest.parent().unwrap_or(Path::new("."));
    let (ids, pairs) = read_face_lists(manifest, pairs_path)?;
    let mut photos: Vec<String> = ids.keys().cloned().collect();
    for (a, b, _) in &pairs {
        for p in [a, b] {
            if !photos.contains(p) {
                photos.push(p.clone());
            }
        }
    }
    let mut clean = BTreeMap::new();
    let mut degraded = BTreeMap::new();
    let total = photos.len();
    for (i, p) in photos.iter().enumerate() {
        let img = load(&dir.join(p))?;
        let view = RgbView::packed(img.width(), img.height(), img.as_raw()).expect("decoded image");
        let faces = detector.detect(view)?;
        let largest = faces.iter().max_by(|a, b| a.bbox.area().total_cmp(&b.bbox.area())).cloned();
        let (e, d) = match largest {
            Some(face) => {
                let shot = embedder.embed(view, std::slice::from_ref(&face))?.remove(0);
                let bad = degrade(&img, shot.quality.eye_distance_px, 40.0);
                let bview = RgbView::packed(bad.width(), bad.height(), bad.as_raw()).expect("degraded image");
                let bfaces = detector.detect(bview)?;
                let bface = bfaces.iter().max_by(|a, b| a.bbox.area().total_cmp(&b.bbox.area())).cloned();
                let d = match bface {
                    Some(f) => Some(embedder.embed(bview, &[f])?.remove(0).embedding),
                    None => None,
                };
                (Some(shot.embedding), d)
            }
            None => (None, None),
        };
        clean.insert(p.clone(), e);
        degraded.insert(p.clone(), d);
        progress(i + 1, total);
    }
    Ok([
        face_report("as photographed", &clean, &ids, &pairs),
        face_report("degraded (40 px between the eyes, blur, JPEG 40)", &degraded, &ids, &pairs),
    ])
}
