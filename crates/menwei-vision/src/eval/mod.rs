//! Accuracy evaluation: plates on a labelled set, faces on identities and pairs, under the
//! conditions a gate camera meets. Used by `menwei-edge eval` and by the tests, so both report
//! the same numbers.
//!
//! - [`plates`]: plate reading against `plate_text` labels;
//! - [`faces`]: face separation (ROC, TAR at FAR 1e-3, rank-1) per condition;
//! - [`conditions`]: the seeded, deterministic degradations (small, IR, night, blur, backlight);
//! - [`gate`]: what the gate would decide at its own threshold, margin and quality policy,
//!   open-set 1:N, per shot and per passage, computed from embeddings alone so the protocol
//!   is tested without models;
//! - [`scale`]: distractor identities (real and synthetic) for a register of thousands;
//! - [`tables`]: the face reports as docs/design/vision.md's tables.

use std::path::{Path, PathBuf};

use crate::VisionError;

pub mod conditions;
pub mod faces;
pub mod gate;
pub mod plates;
pub mod scale;
pub mod tables;

pub use faces::{Distractors, FaceEvalOptions, FaceReport, distractor_faces, eval_faces, face_report, read_face_lists};
pub use plates::{LabelledPlate, PlateReport, Tally, eval_plates, matches, read_plate_manifest, reader_prior};

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

fn pct(n: usize, d: usize) -> f64 {
    if d == 0 { 0.0 } else { 100.0 * n as f64 / d as f64 }
}

fn load(path: &Path) -> Result<image::RgbImage, EvalError> {
    image::ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|e| EvalError::Image { path: path.into(), reason: e.to_string() })?
        .decode()
        .map(|i| i.to_rgb8())
        .map_err(|e| EvalError::Image { path: path.into(), reason: e.to_string() })
}
