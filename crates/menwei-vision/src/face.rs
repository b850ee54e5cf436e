//! Face detection with 5 landmarks: SCRFD by default, CenterFace as the permissively licensed
//! alternative. Both give boxes, landmarks and scores in frame pixels.

use menwei_core::geom::{BoxXyxy, Point};
use menwei_core::image::RgbView;
use ort::session::Session;
use ort::value::TensorRef;
use serde::Serialize;

use crate::preprocess::{Normalize, Resizer};
use crate::{Runtime, SessionOptions, VerifiedModel, VisionError, nms};

/// A face in frame pixels.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FaceDetection {
    pub bbox: BoxXyxy,
    pub score: f32,
    /// Left eye, right eye, nose, left and right mouth corners (as seen in the image).
    pub landmarks: [Point; 5],
}

/// SCRFD settings.
#[derive(Clone, Debug, PartialEq)]
pub struct ScrfdConfig {
    /// Largest model input; the frame is scaled down to fit it (never up) and the input is
    /// the scaled frame rounded up to multiples of 32, so a small or wide frame costs less
    /// than a full square. Multiples of 32.
    pub input_w: u32,
    pub input_h: u32,
    pub score_threshold: f32,
    pub nms_iou: f32,
}

impl Default for ScrfdConfig {
    fn default() -> Self {
        Self { input_w: 640, input_h: 640, score_threshold: 0.5, nms_iou: 0.4 }
    }
}

const STRIDES: [u32; 3] = [8, 16, 32];
const ANCHORS_PER_CELL: usize = 2;
/// Output names per stride, spelled out so that decoding a frame formats no strings.
const SCORE_NAMES: [&str; 3] = ["score_8", "score_16", "score_32"];
const BBOX_NAMES: [&str; 3] = ["bbox_8", "bbox_16", "bbox_32"];
const KPS_NAMES: [&str; 3] = ["kps_8", "kps_16", "kps_32"];
const NORM: Normalize = Normalize { mean: [127.5; 3], scale: [1.0 / 128.0; 3], bgr: false };

/// An SCRFD session with its reusable buffers. Owned by one inference thread.
#[derive(Debug)]
pub struct ScrfdDetector {
    session: Session,
    cfg: ScrfdConfig,
    resizer: Resizer,
    tensor: Vec<f32>,
    candidates: Vec<FaceDetection>,
}

impl ScrfdDetector {
    /// The model's session, for benchmarks that time a raw `Session::run` against this
    /// wrapper on the same session.
    pub fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }

    pub fn new(
        rt: &Runtime,
        model: &VerifiedModel,
        opts: &SessionOptions,
        cfg: ScrfdConfig,
    ) -> Result<Self, VisionError> {
        check_input("SCRFD", cfg.input_w, cfg.input_h)?;
        let session = rt.session(model, opts)?;
        Ok(Self { session, cfg, resizer: Resizer::default(), tensor: Vec::new(), candidates: Vec::new() })
    }

    pub fn config(&self) -> &ScrfdConfig {
        &self.cfg
    }

    /// The model input used for a frame of `fw` x `fh`.
    pub fn input_size(&self, fw: u32, fh: u32) -> (u32, u32) {
        fit_input(fw, fh, self.cfg.input_w, self.cfg.input_h)
    }

    /// Detects faces; boxes and landmarks are in `frame` pixels, best score first.
    pub fn detect(&mut self, frame: RgbView<'_>) -> Result<Vec<FaceDetection>, VisionError> {
        self.detect_in(frame, (frame.width(), frame.height()))
    }

    /// Detects faces in `frame`, a part of a `whole.0` x `whole.1` picture, at the scale the
    /// whole picture would be detected at: a small part costs in proportion to its size, and
    /// finds what the whole picture would. Boxes are in `frame` pixels.
    pub fn detect_in(&mut self, frame: RgbView<'_>, whole: (u32, u32)) -> Result<Vec<FaceDetection>, VisionError> {
        let (w, h) = fit_part(frame.width(), frame.height(), whole, self.cfg.input_w, self.cfg.input_h);
        let lb = {
            let _s = menwei_core::profile::enter(menwei_core::profile::Stage::Preprocess);
            self.resizer.letterbox(frame, w, h, &NORM, &mut self.tensor)
        };
        let input = TensorRef::from_array_view(([1usize, 3, h as usize, w as usize], self.tensor.as_slice()))
            .map_err(|e| VisionError::run("scrfd", e))?;
        let outputs = {
            let _s = menwei_core::profile::enter(menwei_core::profile::Stage::FaceDetector);
            self.session.run(ort::inputs![input]).map_err(|e| VisionError::run("scrfd", e))?
        };
        self.candidates.clear();
        for (k, stride) in STRIDES.into_iter().enumerate() {
            let get = |names: [&str; 3]| -> Result<&[f32], VisionError> {
                let name = names[k];
                let v = outputs
                    .get(name)
                    .ok_or_else(|| VisionError::Output { model: "scrfd", detail: format!("no output `{name}`") })?;
                v.try_extract_tensor::<f32>().map(|(_, d)| d).map_err(|e| VisionError::run("scrfd", e))
            };
            let (scores, boxes, kps) = (get(SCORE_NAMES)?, get(BBOX_NAMES)?, get(KPS_NAMES)?);
            let cols = w.div_ceil(stride) as usize;
            let rows = h.div_ceil(stride) as usize;
            let n = rows * cols * ANCHORS_PER_CELL;
            if scores.len() < n || boxes.len() < n * 4 || kps.len() < n * 10 {
                return Err(VisionError::Output {
                    model: "scrfd",
                    detail: format!("stride {stride}: {} scores for {n} anchors", scores.len()),
                });
            }
            let s = stride as f32;
            for (i, &score) in scores[..n].iter().enumerate() {
                if score < self.cfg.score_threshold {
                    continue;
                }
                let cell = i / ANCHORS_PER_CELL;
                let (cx, cy) = ((cell % cols) as f32 * s, (cell / cols) as f32 * s);
                let d = &boxes[i * 4..i * 4 + 4];
                let (x1, y1) = lb.to_frame(cx - d[0] * s, cy - d[1] * s);
                let (x2, y2) = lb.to_frame(cx + d[2] * s, cy + d[3] * s);
                let k = &kps[i * 10..i * 10 + 10];
                let landmarks = std::array::from_fn(|j| {
                    let (x, y) = lb.to_frame(cx + k[2 * j] * s, cy + k[2 * j + 1] * s);
                    Point { x, y }
                });
                self.candidates.push(FaceDetection {
                    bbox: BoxXyxy { x1, y1, x2, y2 }.clamp_to(frame.width(), frame.height()),
                    score,
                    landmarks,
                });
            }
        }
        Ok(nms(&mut self.candidates, self.cfg.nms_iou, |f| (f.bbox, f.score)))
    }
}

/// CenterFace settings.
#[derive(Clone, Debug, PartialEq)]
pub struct CenterFaceConfig {
    /// Largest model input, as for SCRFD: multiples of 32, the frame scaled down to fit.
    pub input_w: u32,
    pub input_h: u32,
    pub score_threshold: f32,
    pub nms_iou: f32,
}

impl Default for CenterFaceConfig {
    fn default() -> Self {
        Self { input_w: 640, input_h: 640, score_threshold: 0.5, nms_iou: 0.3 }
    }
}

/// Raw RGB, no scaling.
const CENTERFACE_NORM: Normalize = Normalize { mean: [0.0; 3], scale: [1.0; 3], bgr: false };

/// A CenterFace session (MIT licensed; the permissive alternative to SCRFD). Its outputs are
/// dense maps at stride 4: a face-centre heatmap, log box sizes, centre offsets and landmark
/// offsets relative to the box.
#[derive(Debug)]
pub struct CenterFaceDetector {
    session: Session,
    cfg: CenterFaceConfig,
    resizer: Resizer,
    tensor: Vec<f32>,
    candidates: Vec<FaceDetection>,
}

impl CenterFaceDetector {
    /// The model's session, for benchmarks that time a raw `Session::run` against this
    /// wrapper on the same session.
    pub fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }

    pub fn new(
        rt: &Runtime,
        model: &VerifiedModel,
        opts: &SessionOptions,
        cfg: CenterFaceConfig,
    ) -> Result<Self, VisionError> {
        check_input("CenterFace", cfg.input_w, cfg.input_h)?;
        let session = rt.session(model, opts)?;
        Ok(Self { session, cfg, resizer: Resizer::default(), tensor: Vec::new(), candidates: Vec::new() })
    }

    /// Detects faces; boxes and landmarks are in `frame` pixels, best score first.
    pub fn detect(&mut self, frame: RgbView<'_>) -> Result<Vec<FaceDetection>, VisionError> {
        self.detect_in(frame, (frame.width(), frame.height()))
    }

    /// As [`ScrfdDetector::detect_in`].
    pub fn detect_in(&mut self, frame: RgbView<'_>, whole: (u32, u32)) -> Result<Vec<FaceDetection>, VisionError> {
        let (w, h) = fit_part(frame.width(), frame.height(), whole, self.cfg.input_w, self.cfg.input_h);
        let lb = {
            let _s = menwei_core::profile::enter(menwei_core::profile::Stage::Preprocess);
            self.resizer.letterbox(frame, w, h, &CENTERFACE_NORM, &mut self.tensor)
        };
        let input = TensorRef::from_array_view(([1usize, 3, h as usize, w as usize], self.tensor.as_slice()))
            .map_err(|e| VisionError::run("centerface", e))?;
        let outputs = {
            let _s = menwei_core::profile::enter(menwei_core::profile::Stage::FaceDetector);
            self.session.run(ort::inputs![input]).map_err(|e| VisionError::run("centerface", e))?
        };
        let get = |i: usize| -> Result<&[f32], VisionError> {
            outputs[i].try_extract_tensor::<f32>().map(|(_, d)| d).map_err(|e| VisionError::run("centerface", e))
        };
        let (heat, scale, offset, lms) = (get(0)?, get(1)?, get(2)?, get(3)?);
        let (cols, rows) = ((w / 4) as usize, (h / 4) as usize);
        let plane = cols * rows;
        if heat.len() < plane || scale.len() < 2 * plane || offset.len() < 2 * plane || lms.len() < 10 * plane {
            return Err(VisionError::Output {
                model: "centerface",
                detail: format!("{} heatmap values for a {cols}x{rows} map", heat.len()),
            });
        }
        self.candidates.clear();
        for (i, &score) in heat[..plane].iter().enumerate() {
            if score < self.cfg.score_threshold {
                continue;
            }
            let (x, y) = ((i % cols) as f32, (i / cols) as f32);
            let bh = scale[i].exp() * 4.0;
            let bw = scale[plane + i].exp() * 4.0;
            let cy = (y + offset[i] + 0.5) * 4.0;
            let cx = (x + offset[plane + i] + 0.5) * 4.0;
            let (x1, y1) = ((cx - bw / 2.0).max(0.0), (cy - bh / 2.0).max(0.0));
            let (fx1, fy1) = lb.to_frame(x1, y1);
            let (fx2, fy2) = lb.to_frame(x1 + bw, y1 + bh);
            let landmarks = std::array::from_fn(|j| {
                let (lx, ly) = lb.to_frame(x1 + lms[(2 * j + 1) * plane + i] * bw, y1 + lms[2 * j * plane + i] * bh);
                Point { x: lx, y: ly }
            });
            self.candidates.push(FaceDetection {
                bbox: BoxXyxy { x1: fx1, y1: fy1, x2: fx2, y2: fy2 }.clamp_to(frame.width(), frame.height()),
                score,
                landmarks,
            });
        }
        Ok(nms(&mut self.candidates, self.cfg.nms_iou, |f| (f.bbox, f.score)))
    }
}

/// Both detectors' inputs are whole multiples of their coarsest stride.
fn check_input(model: &str, w: u32, h: u32) -> Result<(), VisionError> {
    if w == 0 || h == 0 || !w.is_multiple_of(32) || !h.is_multiple_of(32) {
        return Err(VisionError::Config(format!("{model} input size {w}x{h} must be a non-zero multiple of 32")));
    }
    Ok(())
}

/// The model input for a frame of `fw` x `fh`: scaled down to fit `max_w` x `max_h` (never up),
/// each side rounded up to a multiple of 32.
fn fit_input(fw: u32, fh: u32, max_w: u32, max_h: u32) -> (u32, u32) {
    fit_part(fw, fh, (fw, fh), max_w, max_h)
}

/// The model input for a `pw` x `ph` part of a `whole` picture: the part at the scale that fits
/// the whole picture into `max_w` x `max_h` (never up), each side rounded up to 32.
fn fit_part(pw: u32, ph: u32, whole: (u32, u32), max_w: u32, max_h: u32) -> (u32, u32) {
    let scale = (max_w as f32 / whole.0.max(1) as f32).min(max_h as f32 / whole.1.max(1) as f32).min(1.0);
    let round = |v: u32, max: u32| ((((v as f32 * scale).round() as u32).max(1)).div_ceil(32) * 32).min(max);
    (round(pw, max_w), round(ph, max_h))
}

/// The configured face detector.
#[derive(Debug)]
pub enum FaceDetector {
    Scrfd(ScrfdDetector),
    CenterFace(CenterFaceDetector),
}

impl FaceDetector {
    /// Opens the detector the model's name says: `centerface` or an SCRFD model.
    pub fn open(
        rt: &Runtime,
        model: &VerifiedModel,
        opts: &SessionOptions,
        max_input: u32,
        score_threshold: f32,
    ) -> Result<Self, VisionError> {
        Ok(if model.entry.name.starts_with("centerface") {
            FaceDetector::CenterFace(CenterFaceDetector::new(
                rt,
                model,
                opts,
                CenterFaceConfig { input_w: max_input, input_h: max_input, score_threshold, ..Default::default() },
            )?)
        } else {
            FaceDetector::Scrfd(ScrfdDetector::new(
                rt,
                model,
                opts,
                ScrfdConfig { input_w: max_input, input_h: max_input, score_threshold, ..Default::default() },
            )?)
        })
    }

    pub fn detect(&mut self, frame: RgbView<'_>) -> Result<Vec<FaceDetection>, VisionError> {
        match self {
            FaceDetector::Scrfd(d) => d.detect(frame),
            FaceDetector::CenterFace(d) => d.detect(frame),
        }
    }

    /// Detects faces in a part of a `whole` picture, at the whole picture's scale (see
    /// [`ScrfdDetector::detect_in`]).
    pub fn detect_in(&mut self, part: RgbView<'_>, whole: (u32, u32)) -> Result<Vec<FaceDetection>, VisionError> {
        match self {
            FaceDetector::Scrfd(d) => d.detect_in(part, whole),
            FaceDetector::CenterFace(d) => d.detect_in(part, whole),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_is_fitted_at_the_whole_pictures_scale() {
        // 1280x720 fits 640x640 at 0.5: 640x360, rounded up to 640x384.
        assert_eq!(fit_input(1280, 720, 640, 640), (640, 384));
        // Its left half at the same scale, not blown up to fill the input.
        assert_eq!(fit_part(640, 720, (1280, 720), 640, 640), (320, 384));
        assert_eq!(fit_part(100, 50, (1280, 720), 640, 640), (64, 32));
        // Small pictures are never scaled up.
        assert_eq!(fit_input(176, 144, 640, 640), (192, 160));
    }
}
