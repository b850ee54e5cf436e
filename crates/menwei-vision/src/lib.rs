//! Face and Chinese-plate recognition through ONNX Runtime: the performance-critical core.
//!
//! This is the only crate that links `ort`. It is shaped around three rules:
//! - a model is loaded only after its file matched the manifest's sha256 ([`manifest`]), so a
//!   damaged download is refused by name instead of producing quietly wrong results;
//! - each detector owns its `ort::Session` and its buffers, and is driven by one inference
//!   thread (`Session::run` takes `&mut self`); nothing here spawns threads or does async;
//! - frames go from the decoder's strided RGB straight into the model tensor in one pass
//!   ([`preprocess`]), because outside the model that is where a native pipeline wins.

pub mod align;
pub mod ctc;
pub mod embed;
pub mod eval;
pub mod face;
pub mod lpr;
pub mod manifest;
pub mod plate;
pub mod preprocess;
pub mod probe;
pub mod quality;
pub mod runtime;

pub use manifest::{ManifestError, ModelStore, Task, VerifiedModel};
pub use runtime::{Provider, Runtime, RuntimeError, SessionError, SessionOptions};

use menwei_core::geom::BoxXyxy;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum VisionError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("invalid vision settings: {0}")]
    Config(String),
    #[error("inference with {model} failed: {source}")]
    Run { model: &'static str, source: ort::Error },
    #[error("unexpected output from {model}: {detail}")]
    Output { model: &'static str, detail: String },
}

impl VisionError {
    fn run(model: &'static str, source: ort::Error) -> Self {
        VisionError::Run { model, source }
    }
}

/// Greedy non-maximum suppression: sorts `items` by score (best first) and keeps each item
/// that overlaps no better kept item by more than `iou`.
pub fn nms<T: Clone>(items: &mut [T], iou: f32, key: impl Fn(&T) -> (BoxXyxy, f32)) -> Vec<T> {
    items.sort_by(|a, b| key(b).1.total_cmp(&key(a).1));
    let mut kept: Vec<T> = Vec::new();
    for it in items.iter() {
        let (b, _) = key(it);
        if kept.iter().all(|k| key(k).0.iou(&b) <= iou) {
            kept.push(it.clone());
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nms_keeps_the_best_of_overlapping_boxes() {
        let b = |x: f32| BoxXyxy { x1: x, y1: 0.0, x2: x + 10.0, y2: 10.0 };
        let mut items = vec![(b(0.0), 0.6), (b(1.0), 0.9), (b(50.0), 0.7)];
        let kept = nms(&mut items, 0.4, |&(b, s)| (b, s));
        assert_eq!(kept, vec![(b(1.0), 0.9), (b(50.0), 0.7)]);
    }
}
