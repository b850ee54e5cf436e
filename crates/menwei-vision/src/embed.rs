//! Face embeddings with ArcFace-style models (w600k_mbf): align, batch, run, L2-normalise.
//!
//! The aligned face goes to the model as the camera saw it. Two photometric steps were tried
//! and measured with `menwei-edge eval faces` (docs/design/vision.md): brightening dark faces
//! to mid-grey, and averaging the embeddings of the face and its mirror image. Neither earned
//! its place (the gain lost one night probe; the mirror gained one to three of fifty probes
//! for twice the embedding cost), so neither is here.

use menwei_core::image::RgbView;
use ort::session::Session;
use ort::value::TensorRef;

use crate::align::warp_face;
use crate::face::FaceDetection;
use crate::preprocess::Normalize;
use crate::quality::{FaceQuality, GreyCues, grey_cues};
use crate::{Runtime, SessionOptions, VerifiedModel, VisionError};

/// Dimensions of an embedding.
pub const EMBEDDING_DIMS: usize = 512;
const SIZE: u32 = 112;
const PLANE: usize = (SIZE * SIZE) as usize;
const NORM: Normalize = Normalize { mean: [127.5; 3], scale: [1.0 / 127.5; 3], bgr: false };
/// Faces per `Session::run`; more faces in a frame run in several batches.
pub const MAX_BATCH: usize = 16;

/// An L2-normalised face embedding. Biometric data: it stays on the edge box, encrypted at
/// rest, and is never logged or published.
#[derive(Clone, PartialEq)]
pub struct Embedding(pub Box<[f32; EMBEDDING_DIMS]>);

impl std::fmt::Debug for Embedding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Embedding(..)")
    }
}

impl Embedding {
    /// Cosine similarity (both are unit vectors, so it is the dot product).
    pub fn cosine(&self, other: &Embedding) -> f32 {
        self.0.iter().zip(other.0.iter()).map(|(a, b)| a * b).sum()
    }

    /// Normalises `v` to unit length; `None` for a zero or non-finite vector.
    pub fn from_raw(v: &[f32]) -> Option<Embedding> {
        if v.len() != EMBEDDING_DIMS {
            return None;
        }
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if !norm.is_finite() || norm <= f32::EPSILON {
            return None;
        }
        let mut out = Box::new([0.0f32; EMBEDDING_DIMS]);
        for (o, x) in out.iter_mut().zip(v) {
            *o = x / norm;
        }
        Some(Embedding(out))
    }

    /// A weighted mean of unit embeddings, normalised again: fuses several shots of one face.
    pub fn fuse<'a>(items: impl IntoIterator<Item = (&'a Embedding, f32)>) -> Option<Embedding> {
        let mut acc = [0.0f32; EMBEDDING_DIMS];
        for (e, w) in items {
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

/// A w600k_mbf session and its reusable batch tensor. Owned by one inference thread.
#[derive(Debug)]
pub struct FaceEmbedder {
    session: Session,
    tensor: Vec<f32>,
    grey: Vec<f32>,
}

impl FaceEmbedder {
    /// The model's session, for benchmarks that time a raw `Session::run` against this
    /// wrapper on the same session.
    pub fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }

    pub fn new(rt: &Runtime, model: &VerifiedModel, opts: &SessionOptions) -> Result<Self, VisionError> {
        Ok(Self { session: rt.session(model, opts)?, tensor: Vec::new(), grey: vec![0.0; PLANE] })
    }

    /// Quality of `face` without running the model: aligns it into a scratch buffer.
    pub fn quality(&mut self, frame: RgbView<'_>, face: &FaceDetection) -> FaceQuality {
        self.tensor.resize(3 * PLANE, 0.0);
        warp_face(frame, &face.landmarks, SIZE, &NORM, &mut self.tensor[..3 * PLANE]);
        FaceQuality::new(face, self.grey_cues(0))
    }

    /// Embeds every face of `frame`, in batches of up to [`MAX_BATCH`]. Results are in the
    /// order of `faces`.
    pub fn embed(&mut self, frame: RgbView<'_>, faces: &[FaceDetection]) -> Result<Vec<FaceShot>, VisionError> {
        let mut out = Vec::with_capacity(faces.len());
        for chunk in faces.chunks(MAX_BATCH) {
            let n = chunk.len();
            self.tensor.resize(n * 3 * PLANE, 0.0);
            let mut qualities = Vec::with_capacity(n);
            let pre = menwei_core::profile::enter(menwei_core::profile::Stage::Preprocess);
            for (i, face) in chunk.iter().enumerate() {
                warp_face(frame, &face.landmarks, SIZE, &NORM, &mut self.tensor[i * 3 * PLANE..(i + 1) * 3 * PLANE]);
                qualities.push(FaceQuality::new(face, self.grey_cues(i)));
            }
            drop(pre);
            let input = TensorRef::from_array_view(([n, 3, SIZE as usize, SIZE as usize], self.tensor.as_slice()))
                .map_err(|e| VisionError::run("face embedding", e))?;
            let outputs = {
                let _s = menwei_core::profile::enter(menwei_core::profile::Stage::Embedder);
                self.session.run(ort::inputs![input]).map_err(|e| VisionError::run("face embedding", e))?
            };
            let (shape, data) =
                outputs[0].try_extract_tensor::<f32>().map_err(|e| VisionError::run("face embedding", e))?;
            if shape.len() != 2 || shape[0] as usize != n || shape[1] as usize != EMBEDDING_DIMS {
                return Err(VisionError::Output {
                    model: "face embedding",
                    detail: format!("output shape {shape:?}, expected [{n}, {EMBEDDING_DIMS}]"),
                });
            }
            for (i, quality) in qualities.into_iter().enumerate() {
                let embedding =
                    Embedding::from_raw(&data[i * EMBEDDING_DIMS..(i + 1) * EMBEDDING_DIMS]).ok_or_else(|| {
                        VisionError::Output { model: "face embedding", detail: "a zero or non-finite embedding".into() }
                    })?;
                out.push(FaceShot { embedding, quality });
            }
        }
        Ok(out)
    }

    /// Sharpness and brightness of the `i`-th aligned face in the tensor, on grey
    /// levels 0-255.
    fn grey_cues(&mut self, i: usize) -> GreyCues {
        let base = i * 3 * PLANE;
        let t = &self.tensor[base..base + 3 * PLANE];
        for (j, g) in self.grey.iter_mut().enumerate() {
            let mean = (t[j] + t[PLANE + j] + t[2 * PLANE + j]) / 3.0;
            *g = mean * 127.5 + 127.5;
        }
        grey_cues(&self.grey, SIZE as usize)
    }
}
