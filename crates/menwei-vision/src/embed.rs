//! Face embeddings: align, batch, run, L2-normalise, for the two embedders menwei knows.
//!
//! - `w600k_mbf` (InsightFace's ArcFace MobileFaceNet, 512-d, non-commercial weights): the
//!   ArcFace 112x112 template, pixels to (x - 127.5) / 127.5.
//! - `dlib_resnet` (dlib's face ResNet, 128-d, public-domain weights, converted to ONNX at
//!   set-up): dlib's 150x150 face chip, pixels to (x - channel mean) / 256 as dlib's input
//!   layer does.
//!
//! Both start from the detector's five landmarks, so either detector feeds either embedder.
//! The quality cues (sharpness, brightness) are always measured on the ArcFace 112x112 crop,
//! whichever embedder runs, so that the quality policy's floors mean the same thing for both.
//!
//! The aligned face goes to the model as the camera saw it. Two photometric steps were tried
//! and measured with `menwei-edge eval faces` (docs/design/vision.md): brightening dark faces
//! to mid-grey, and averaging the embeddings of the face and its mirror image. Neither earned
//! its place (the gain lost one night probe; the mirror gained one to three of fifty probes
//! for twice the embedding cost), so neither is here.

use menwei_core::geom::Point;
use menwei_core::image::RgbView;
use ort::session::Session;
use ort::value::TensorRef;

use crate::align::{ARCFACE_112, DLIB_CHIP_150, warp_face};
use crate::face::FaceDetection;
use crate::preprocess::Normalize;
use crate::quality::{FaceQuality, GreyCues, grey_cues};
use crate::{Runtime, SessionOptions, VerifiedModel, VisionError};

/// The side of the crop the quality cues are measured on: [`ARCFACE_112`]'s.
const CUE_SIZE: u32 = 112;
const CUE_PLANE: usize = (CUE_SIZE * CUE_SIZE) as usize;
const HALF: Normalize = Normalize { mean: [127.5; 3], scale: [1.0 / 127.5; 3], bgr: false };
/// Faces per `Session::run`; more faces in a frame run in several batches.
pub const MAX_BATCH: usize = 16;

/// The face embedders menwei can run, and what each wants of a face.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EmbedderKind {
    /// `w600k_mbf`: 512-d ArcFace, InsightFace's non-commercial weights.
    W600kMbf,
    /// `dlib_resnet`: 128-d, dlib's public-domain weights.
    DlibResnet,
}

impl EmbedderKind {
    pub const ALL: [EmbedderKind; 2] = [EmbedderKind::W600kMbf, EmbedderKind::DlibResnet];

    /// The embedder whose model (in models/models.toml) is `name`.
    pub fn from_model(name: &str) -> Option<EmbedderKind> {
        EmbedderKind::ALL.into_iter().find(|k| k.model() == name)
    }

    /// Its model's name in models/models.toml.
    pub fn model(self) -> &'static str {
        match self {
            EmbedderKind::W600kMbf => "w600k_mbf",
            EmbedderKind::DlibResnet => "dlib_resnet",
        }
    }

    /// Length of its embeddings.
    pub fn dims(self) -> usize {
        match self {
            EmbedderKind::W600kMbf => 512,
            EmbedderKind::DlibResnet => 128,
        }
    }

    /// The cosine a face needs against a resident's templates, by default.
    pub fn default_threshold(self) -> f32 {
        match self {
            EmbedderKind::W600kMbf => 0.40,
            EmbedderKind::DlibResnet => 0.93,
        }
    }

    /// The lead over the next resident a face needs, by default.
    pub fn default_margin(self) -> f32 {
        match self {
            EmbedderKind::W600kMbf => 0.08,
            EmbedderKind::DlibResnet => 0.01,
        }
    }

    /// Cosine at which an unknown face joins an earlier stranger's cluster (repeat-stranger
    /// alerts): w600k_mbf's 0.5 is 0.1 above its threshold; dlib_resnet's is the same step
    /// scaled by the room above its threshold, as its margin is (0.93 + 0.1 * 0.07 / 0.6).
    /// With w600k's 0.5, dlib's impostors (up to about 0.93) would all join one cluster.
    pub fn default_stranger_join(self) -> f32 {
        match self {
            EmbedderKind::W600kMbf => 0.50,
            EmbedderKind::DlibResnet => 0.94,
        }
    }

    /// Side of the aligned face the model takes.
    pub fn size(self) -> u32 {
        match self {
            EmbedderKind::W600kMbf => 112,
            EmbedderKind::DlibResnet => 150,
        }
    }

    /// The five landmarks' places in the aligned face.
    pub fn template(self) -> [Point; 5] {
        match self {
            EmbedderKind::W600kMbf => ARCFACE_112,
            EmbedderKind::DlibResnet => DLIB_CHIP_150,
        }
    }

    /// How pixels become the model's input.
    pub fn norm(self) -> Normalize {
        match self {
            EmbedderKind::W600kMbf => HALF,
            // dlib's input_rgb_image: (pixel - mean) / 256, the means as the model file holds them.
            EmbedderKind::DlibResnet => {
                Normalize { mean: [122.782, 117.001, 104.298], scale: [1.0 / 256.0; 3], bgr: false }
            }
        }
    }

    fn plane(self) -> usize {
        (self.size() * self.size()) as usize
    }
}

/// An L2-normalised face embedding (512 or 128 values, by embedder). Biometric data: it stays
/// on the edge box, encrypted at rest, and is never logged or published.
#[derive(Clone, PartialEq)]
pub struct Embedding(pub Box<[f32]>);

impl std::fmt::Debug for Embedding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Embedding(..)")
    }
}

impl Embedding {
    /// Cosine similarity (both are unit vectors, so it is the dot product). Embeddings of
    /// different embedders are never compared: their lengths differ, and this is 0.
    pub fn cosine(&self, other: &Embedding) -> f32 {
        if self.0.len() != other.0.len() {
            return 0.0;
        }
        self.0.iter().zip(other.0.iter()).map(|(a, b)| a * b).sum()
    }

    /// Normalises `v` to unit length; `None` for an empty, zero or non-finite vector.
    pub fn from_raw(v: &[f32]) -> Option<Embedding> {
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if v.is_empty() || !norm.is_finite() || norm <= f32::EPSILON {
            return None;
        }
        Some(Embedding(v.iter().map(|x| x / norm).collect()))
    }

    /// A weighted mean of unit embeddings, normalised again: fuses several shots of one face.
    /// `None` when there are none, or their lengths differ.
    pub fn fuse<'a>(items: impl IntoIterator<Item = (&'a Embedding, f32)>) -> Option<Embedding> {
        let mut acc: Vec<f32> = Vec::new();
        for (e, w) in items {
            if acc.is_empty() {
                acc.resize(e.0.len(), 0.0);
            } else if acc.len() != e.0.len() {
                return None;
            }
            for (a, x) in acc.iter_mut().zip(e.0.iter()) {
                *a += w * x;
            }
        }
        Embedding::from_raw(&acc)
    }
}

/// A face as recognition sees it: its embedding and the quality of the shot.
#[derive(Clone, Debug)]
pub struct FaceShot {
    pub embedding: Embedding,
    pub quality: FaceQuality,
}

/// An embedder's session and its reusable batch tensor. Owned by one inference thread.
#[derive(Debug)]
pub struct FaceEmbedder {
    kind: EmbedderKind,
    session: Session,
    tensor: Vec<f32>,
    /// The ArcFace-aligned crop the quality cues are measured on, when the model's own input
    /// is another crop.
    cue_crop: Vec<f32>,
    grey: Vec<f32>,
}

impl FaceEmbedder {
    /// The model's session, for benchmarks that time a raw `Session::run` against this
    /// wrapper on the same session.
    pub fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }

    /// Opens `model`, which must be one of the [`EmbedderKind`]s.
    pub fn new(rt: &Runtime, model: &VerifiedModel, opts: &SessionOptions) -> Result<Self, VisionError> {
        let kind = EmbedderKind::from_model(&model.entry.name).ok_or_else(|| {
            VisionError::Config(format!(
                "{} is not a face embedder menwei can run (known: {})",
                model.entry.name,
                EmbedderKind::ALL.map(EmbedderKind::model).join(", ")
            ))
        })?;
        Ok(Self {
            kind,
            session: rt.session(model, opts)?,
            tensor: Vec::new(),
            cue_crop: vec![0.0; 3 * CUE_PLANE],
            grey: vec![0.0; CUE_PLANE],
        })
    }

    /// Which embedder this is.
    pub fn kind(&self) -> EmbedderKind {
        self.kind
    }

    /// Quality of `face` without running the model: aligns it into a scratch buffer.
    pub fn quality(&mut self, frame: RgbView<'_>, face: &FaceDetection) -> FaceQuality {
        FaceQuality::new(face, self.cue_crop_cues(frame, face))
    }

    /// Embeds every face of `frame`, in batches of up to [`MAX_BATCH`]. Results are in the
    /// order of `faces`.
    pub fn embed(&mut self, frame: RgbView<'_>, faces: &[FaceDetection]) -> Result<Vec<FaceShot>, VisionError> {
        let kind = self.kind;
        let (size, plane, dims) = (kind.size(), kind.plane(), kind.dims());
        let (template, norm) = (kind.template(), kind.norm());
        let mut out = Vec::with_capacity(faces.len());
        for chunk in faces.chunks(MAX_BATCH) {
            let n = chunk.len();
            self.tensor.resize(n * 3 * plane, 0.0);
            let mut qualities = Vec::with_capacity(n);
            let pre = menwei_core::profile::enter(menwei_core::profile::Stage::Preprocess);
            for (i, face) in chunk.iter().enumerate() {
                let dst = &mut self.tensor[i * 3 * plane..(i + 1) * 3 * plane];
                warp_face(frame, &face.landmarks, &template, size, &norm, dst);
                let cues = if kind == EmbedderKind::W600kMbf {
                    self.grey_cues(Some(i)) // the model's input is the cue crop
                } else {
                    self.cue_crop_cues(frame, face)
                };
                qualities.push(FaceQuality::new(face, cues));
            }
            drop(pre);
            let input = TensorRef::from_array_view(([n, 3, size as usize, size as usize], self.tensor.as_slice()))
                .map_err(|e| VisionError::run("face embedding", e))?;
            let outputs = {
                let _s = menwei_core::profile::enter(menwei_core::profile::Stage::Embedder);
                self.session.run(ort::inputs![input]).map_err(|e| VisionError::run("face embedding", e))?
            };
            let (shape, data) =
                outputs[0].try_extract_tensor::<f32>().map_err(|e| VisionError::run("face embedding", e))?;
            if shape.len() != 2 || shape[0] as usize != n || shape[1] as usize != dims {
                return Err(VisionError::Output {
                    model: "face embedding",
                    detail: format!("output shape {shape:?}, expected [{n}, {dims}]"),
                });
            }
            for (i, quality) in qualities.into_iter().enumerate() {
                let embedding = Embedding::from_raw(&data[i * dims..(i + 1) * dims]).ok_or_else(|| {
                    VisionError::Output { model: "face embedding", detail: "a zero or non-finite embedding".into() }
                })?;
                out.push(FaceShot { embedding, quality });
            }
        }
        Ok(out)
    }

    /// Aligns `face` to the ArcFace crop in the scratch buffer and measures its cues there.
    fn cue_crop_cues(&mut self, frame: RgbView<'_>, face: &FaceDetection) -> GreyCues {
        warp_face(frame, &face.landmarks, &ARCFACE_112, CUE_SIZE, &HALF, &mut self.cue_crop);
        self.grey_cues(None)
    }

    /// Sharpness and brightness of an ArcFace-aligned face on grey levels 0-255: the `i`-th
    /// face of the batch tensor (w600k_mbf's input is that crop), or the scratch crop.
    fn grey_cues(&mut self, batch_index: Option<usize>) -> GreyCues {
        let t = match batch_index {
            Some(i) => &self.tensor[i * 3 * CUE_PLANE..(i + 1) * 3 * CUE_PLANE],
            None => &self.cue_crop[..],
        };
        for (j, g) in self.grey.iter_mut().enumerate() {
            let mean = (t[j] + t[CUE_PLANE + j] + t[2 * CUE_PLANE + j]) / 3.0;
            *g = mean * 127.5 + 127.5;
        }
        grey_cues(&self.grey, CUE_SIZE as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedders_are_named_by_their_models_and_never_compared_across() {
        for k in EmbedderKind::ALL {
            assert_eq!(EmbedderKind::from_model(k.model()), Some(k));
        }
        assert_eq!(EmbedderKind::from_model("scrfd_500m"), None);
        let a = Embedding::from_raw(&[1.0; 128]).unwrap();
        let b = Embedding::from_raw(&[1.0; 512]).unwrap();
        assert!((a.cosine(&a) - 1.0).abs() < 1e-5);
        assert_eq!(a.cosine(&b), 0.0);
        assert!(Embedding::fuse([(&a, 1.0), (&b, 1.0)]).is_none());
        assert!(Embedding::from_raw(&[]).is_none());
    }
}
