//! Face separation and gate decisions on a set of identities (the manifest format of
//! `../shared/data/faces`: `manifest.csv` with `path`, `identity` and `pairs.csv` with `a`, `b`,
//! `same`), in each [`Condition`] a gate camera meets.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use menwei_core::image::RgbView;
use serde::Serialize;

use super::conditions::Condition;
use super::gate::{AtDefaults, ClipShot, Fused, Gallery, GateSettings, Protocol, at_gate, fused_at_gate};
use super::scale::{AtScale, cosine_percentiles, synthetic};
use super::{EvalError, load, parse_csv};
use crate::embed::{Embedding, FaceShot};
use crate::quality::QualityPolicy;

/// What `eval faces` prints, for one condition.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FaceReport {
    /// The face embedder's model name (`w600k_mbf`, `dlib_resnet`).
    pub model: String,
    /// The condition's name (`--conditions` takes it) and what it is.
    pub condition: String,
    pub description: String,
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
    /// What the gate would decide at the settings under test; `None` from [`face_report`]
    /// alone.
    pub at_defaults: Option<AtDefaults>,
    /// The same, with each probe a passage: its clip's frames through the daemon's face track
    /// (`None` with `--clip 0`).
    pub fused: Option<Fused>,
    /// The same again with distractor identities enrolled (`--distractors`, `--synthetic`),
    /// the real ones alone first, then each synthetic size.
    pub at_scale: Vec<AtScale>,
    /// The quality cues of the faces found in this condition, as 10th, 50th and 90th
    /// percentiles: what the quality policy's limits are chosen against.
    pub cues: BTreeMap<String, [f32; 3]>,
}

/// 10th, 50th and 90th percentiles of each quality cue over `shots`.
fn cue_percentiles<'a>(shots: impl Iterator<Item = &'a FaceShot>) -> BTreeMap<String, [f32; 3]> {
    let mut cols: [(&str, Vec<f32>); 4] =
        [("eye_distance_px", vec![]), ("brightness", vec![]), ("sharpness", vec![]), ("overall", vec![])];
    for s in shots {
        let q = &s.quality;
        for (col, v) in cols.iter_mut().zip([q.eye_distance_px, q.brightness, q.sharpness, q.overall]) {
            col.1.push(v);
        }
    }
    let mut out = BTreeMap::new();
    for (name, mut v) in cols {
        if v.is_empty() {
            continue;
        }
        v.sort_by(f32::total_cmp);
        let at = |p: f32| v[((v.len() - 1) as f32 * p).round() as usize];
        out.insert(name.to_owned(), [at(0.1), at(0.5), at(0.9)]);
    }
    out
}

impl fmt::Display for FaceReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} ({}): {} photos ({} without a face)",
            self.condition, self.description, self.photos, self.no_face
        )?;
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
        writeln!(f, "  rank-1 identification {:.1} % over {} probes", 100.0 * self.rank1, self.rank1_probes)?;
        let cues: Vec<String> = self.cues.iter().map(|(k, [a, b, c])| format!("{k} {a:.1}/{b:.1}/{c:.1}")).collect();
        if !cues.is_empty() {
            writeln!(f, "  face cues (p10/p50/p90): {}", cues.join(", "))?;
        }
        if let Some(g) = &self.at_defaults {
            write!(f, "{g}")?;
        }
        if let Some(p) = &self.fused {
            write!(f, "  as passages of {} frames ({} shots embedded):{}", p.frames, p.shots, p.gate)?;
        }
        for s in &self.at_scale {
            write!(f, "{s}")?;
        }
        Ok(())
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
        model: String::new(),
        condition: condition.into(),
        description: String::new(),
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
        at_defaults: None,
        fused: None,
        at_scale: Vec::new(),
        cues: BTreeMap::new(),
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

/// What `eval faces` runs: the conditions, and the gate's protocol and settings.
#[derive(Clone, Debug)]
pub struct FaceEvalOptions {
    pub conditions: Vec<Condition>,
    /// Only photos whose path contains this (and pairs of two such photos).
    pub only: Option<String>,
    /// Writes the first photo with a face in each condition here, as `<condition>.png`, to see
    /// what each condition looks like.
    pub pictures: Option<std::path::PathBuf>,
    pub protocol: Protocol,
    pub gate: GateSettings,
    /// Frames in each probe's clip, decided as a passage ([`Condition::frame`]); 0: none.
    pub clip_frames: usize,
    /// Distractor identities to enrol beside the residents.
    pub distractors: Option<Distractors>,
}

/// Distractor identities: real faces from photos outside the set, and synthetic sizes drawn
/// from them ([`super::scale`]).
#[derive(Clone, Debug, Default)]
pub struct Distractors {
    pub real: Vec<Embedding>,
    /// Synthetic register sizes to measure, each beside all the real ones.
    pub synthetic: Vec<usize>,
}

/// Every face in `photos` that `policy` would decide, embedded: real distractor identities
/// (each face one person; a photo must not show anyone twice or anyone in the set).
pub fn distractor_faces(
    photos: &[std::path::PathBuf],
    detector: &mut crate::face::FaceDetector,
    embedder: &mut crate::embed::FaceEmbedder,
    policy: QualityPolicy,
) -> Result<Vec<Embedding>, EvalError> {
    let mut out = Vec::new();
    for p in photos {
        let img = load(p)?;
        let view = RgbView::packed(img.width(), img.height(), img.as_raw()).expect("decoded image");
        let faces = detector.detect(view)?;
        let shots = embedder.embed(view, &faces)?;
        out.extend(shots.into_iter().filter(|s| policy.check(&s.quality).is_ok()).map(|s| s.embedding));
    }
    Ok(out)
}

/// The manifest's (photo, identity) rows in file order (the gate protocol enrols by it).
fn manifest_rows(manifest: &Path) -> Result<Vec<(String, String)>, EvalError> {
    let text = std::fs::read_to_string(manifest).map_err(|source| EvalError::Read { path: manifest.into(), source })?;
    let mut records = parse_csv(&text).into_iter();
    let header = records.next().unwrap_or_default();
    let col = |c: &str| {
        header
            .iter()
            .position(|h| h == c)
            .ok_or_else(|| EvalError::Manifest { path: manifest.into(), reason: format!("no column `{c}`") })
    };
    let (p, i) = (col("path")?, col("identity")?);
    Ok(records.filter(|r| r.len() == header.len()).map(|r| (r[p].clone(), r[i].clone())).collect())
}

/// The largest face of `img`, embedded (`None`: no face found).
fn largest_shot(
    img: &image::RgbImage,
    detector: &mut crate::face::FaceDetector,
    embedder: &mut crate::embed::FaceEmbedder,
) -> Result<Option<(FaceShot, crate::face::FaceDetection)>, EvalError> {
    let view = RgbView::packed(img.width(), img.height(), img.as_raw()).expect("decoded image");
    let faces = detector.detect(view)?;
    let Some(face) = faces.iter().max_by(|a, b| a.bbox.area().total_cmp(&b.bbox.area())).cloned() else {
        return Ok(None);
    };
    let shot = embedder.embed(view, std::slice::from_ref(&face))?.remove(0);
    Ok(Some((shot, face)))
}

/// The frames of `photo`'s clip in condition `c`, each its largest face's shot and weight.
fn clip_shots(
    c: Condition,
    img: &image::RgbImage,
    found: &(FaceShot, crate::face::FaceDetection),
    photo: &str,
    frames: usize,
    detector: &mut crate::face::FaceDetector,
    embedder: &mut crate::embed::FaceEmbedder,
) -> Result<Vec<Option<ClipShot>>, EvalError> {
    let (shot, face) = found;
    (0..frames)
        .map(|t| {
            let frame = c.frame(img, shot.quality.eye_distance_px, face.bbox, photo, t);
            let seen = largest_shot(&frame, detector, embedder)?;
            Ok(seen.map(|(s, d)| {
                let weight = s.quality.overall * d.bbox.area().sqrt();
                (s, weight)
            }))
        })
        .collect()
}

/// Embeds the largest face of every photo, as photographed and in each condition of `opts`
/// (made from the photo and its face as photographed), and reports each condition: pair
/// separation and, at `opts.gate`, what the gate would decide. `progress(done, total)` after
/// each photo.
pub fn eval_faces(
    manifest: &Path,
    pairs_path: &Path,
    detector: &mut crate::face::FaceDetector,
    embedder: &mut crate::embed::FaceEmbedder,
    opts: &FaceEvalOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<FaceReport>, EvalError> {
    let dir = manifest.parent().unwrap_or(Path::new("."));
    let (mut ids, mut pairs) = read_face_lists(manifest, pairs_path)?;
    let mut rows = manifest_rows(manifest)?;
    if let Some(only) = &opts.only {
        rows.retain(|(p, _)| p.contains(only.as_str()));
        ids.retain(|p, _| p.contains(only.as_str()));
        pairs.retain(|(a, b, _)| a.contains(only.as_str()) && b.contains(only.as_str()));
    }
    let mut photos: Vec<String> = rows.iter().map(|(p, _)| p.clone()).collect();
    for (a, b, _) in &pairs {
        for p in [a, b] {
            if !photos.contains(p) {
                photos.push(p.clone());
            }
        }
    }
    let mut clean: BTreeMap<String, Option<FaceShot>> = BTreeMap::new();
    let mut shots: BTreeMap<Condition, BTreeMap<String, Option<FaceShot>>> = BTreeMap::new();
    let mut clips: BTreeMap<Condition, BTreeMap<String, Vec<Option<ClipShot>>>> = BTreeMap::new();
    let total = photos.len();
    let mut pictures = opts.pictures.clone();
    if let Some(d) = &pictures {
        std::fs::create_dir_all(d).map_err(|source| EvalError::Read { path: d.clone(), source })?;
    }
    for (i, p) in photos.iter().enumerate() {
        let img = load(&dir.join(p))?;
        let found = largest_shot(&img, detector, embedder)?;
        let picture_dir = if found.is_some() { pictures.take() } else { None };
        for &c in &opts.conditions {
            let shot = match &found {
                None => None,
                Some((s, face)) => {
                    let seen = c.apply(&img, s.quality.eye_distance_px, face.bbox, p);
                    if let Some(d) = &picture_dir {
                        let path = d.join(format!("{}.png", c.name()));
                        seen.save(&path).map_err(|e| EvalError::Image { path, reason: e.to_string() })?;
                    }
                    match c {
                        Condition::Photo => Some(s.clone()),
                        _ => largest_shot(&seen, detector, embedder)?.map(|(s, _)| s),
                    }
                }
            };
            shots.entry(c).or_default().insert(p.clone(), shot);
            if let Some(found) = found.as_ref().filter(|_| opts.clip_frames > 0) {
                let clip = clip_shots(c, &img, found, p, opts.clip_frames, detector, embedder)?;
                clips.entry(c).or_default().insert(p.clone(), clip);
            }
        }
        clean.insert(p.clone(), found.map(|(s, _)| s));
        progress(i + 1, total);
    }
    let dims = clean.values().flatten().next().map_or(0, |s| s.embedding.0.len());
    let gallery = Gallery::enrol(&rows, &clean, opts.protocol, dims);
    let real = opts.distractors.as_ref().map_or(&[][..], |d| d.real.as_slice());
    let sizes = opts.distractors.as_ref().map_or(&[][..], |d| d.synthetic.as_slice());
    let drawn = synthetic(real, sizes.iter().copied().max().unwrap_or(0), "menwei eval faces distractors");
    let like_the_set =
        real.iter().filter(|d| clean.values().flatten().any(|s| s.embedding.cosine(d) >= opts.gate.threshold)).count();
    let mut reports = Vec::new();
    for &c in &opts.conditions {
        let probes = shots.remove(&c).unwrap_or_default();
        let clips = clips.remove(&c);
        let embeddings: BTreeMap<String, Option<crate::embed::Embedding>> =
            probes.iter().map(|(p, s)| (p.clone(), s.as_ref().map(|s| s.embedding.clone()))).collect();
        let mut r = face_report(c.name(), &embeddings, &ids, &pairs);
        r.description = c.describe().into();
        r.model = embedder.kind().model().into();
        r.cues = cue_percentiles(probes.values().flatten());
        r.at_defaults = Some(at_gate(&gallery, &probes, opts.gate));
        r.fused = clips.as_ref().map(|clips| fused_at_gate(&gallery, clips, opts.gate));
        if opts.distractors.is_some() {
            let seen: Vec<&Embedding> = embeddings.values().flatten().collect();
            let real_cos = cosine_percentiles(seen.iter().copied(), real);
            for n in std::iter::once(0).chain(sizes.iter().copied()) {
                let extra = &drawn[..n.min(drawn.len())];
                let big = gallery.with_distractors(real.iter().chain(extra).map(|e| &e.0[..]));
                r.at_scale.push(AtScale {
                    distractors_real: real.len(),
                    distractors_like_the_set: like_the_set,
                    distractors_synthetic: extra.len(),
                    impostor_cosines_real: real_cos,
                    impostor_cosines_synthetic: cosine_percentiles(seen.iter().copied(), extra),
                    single: at_gate(&big, &probes, opts.gate),
                    fused: clips.as_ref().map(|clips| fused_at_gate(&big, clips, opts.gate)),
                });
            }
        }
        reports.push(r);
    }
    Ok(reports)
}
