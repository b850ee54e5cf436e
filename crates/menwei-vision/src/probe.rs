//! Runs a model once on a real image with its documented pre-processing, and reports what came
//! out. `menwei-edge check-models --run` uses it, and so does the test that proves every model
//! in the manifest loads and runs.

use std::time::Instant;

use menwei_core::image::RgbView;
use ort::value::TensorRef;
use serde::Serialize;

use crate::face::{ScrfdConfig, ScrfdDetector};
use crate::preprocess::{Normalize, Resizer};
use crate::{Runtime, SessionOptions, Task, VerifiedModel, VisionError};

/// What one run of a model produced.
#[derive(Clone, Debug, Serialize)]
pub struct ProbeReport {
    pub model: String,
    pub task: Task,
    /// Input shape actually fed, NCHW.
    pub input: [usize; 4],
    /// Output names and shapes.
    pub outputs: Vec<(String, Vec<i64>)>,
    /// Wall time of the run, including session creation.
    pub millis: f64,
    /// A task-specific summary: faces found, embedding norm, plates found, text read.
    pub finding: Finding,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Finding {
    Faces { count: usize, best_score: f32 },
    Heatmap { peak: f32 },
    Embedding { dims: usize, norm: f32 },
    Plates { candidates_over_half: usize },
    Text { classes: usize, text: Option<String>, non_blank_steps: usize },
}

impl serde::Serialize for Task {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match self {
            Task::FaceDetection => "face-detection",
            Task::FaceEmbedding => "face-embedding",
            Task::PlateDetection => "plate-detection",
            Task::PlateReading => "plate-reading",
        })
    }
}

struct Spec {
    size: (u32, u32),
    norm: Normalize,
    letterbox: bool,
}

fn spec(name: &str) -> Option<Spec> {
    let half = Normalize { mean: [127.5; 3], scale: [1.0 / 127.5; 3], bgr: false };
    Some(match name {
        "centerface" => {
            Spec { size: (640, 480), norm: Normalize { mean: [0.0; 3], scale: [1.0; 3], bgr: false }, letterbox: true }
        }
        "w600k_mbf" => Spec { size: (112, 112), norm: half, letterbox: false },
        "dlib_resnet" => {
            Spec { size: (150, 150), norm: crate::embed::EmbedderKind::DlibResnet.norm(), letterbox: false }
        }
        // BGR minus the Caffe means (given here per source channel R, G, B).
        "clp_det" => Spec {
            size: (640, 640),
            norm: Normalize { mean: [123.0, 117.0, 104.0], scale: [1.0; 3], bgr: true },
            letterbox: true,
        },
        "clp_rec" => Spec { size: (320, 32), norm: half, letterbox: true },
        "ppocr_v4_rec" => Spec { size: (320, 48), norm: half, letterbox: true },
        _ => return None,
    })
}

/// Loads `model` and runs it once on `image`.
pub fn probe(
    rt: &Runtime,
    model: &VerifiedModel,
    image: RgbView<'_>,
    opts: &SessionOptions,
) -> Result<ProbeReport, VisionError> {
    let started = Instant::now();
    let name = model.entry.name.clone();
    if name == "scrfd_500m" {
        let mut det = ScrfdDetector::new(rt, model, opts, ScrfdConfig::default())?;
        let (w, h) = det.input_size(image.width(), image.height());
        let input = [1, 3, h as usize, w as usize];
        let faces = det.detect(image)?;
        return Ok(ProbeReport {
            model: name,
            task: model.entry.task,
            input,
            outputs: Vec::new(),
            millis: started.elapsed().as_secs_f64() * 1e3,
            finding: Finding::Faces { count: faces.len(), best_score: faces.first().map_or(0.0, |f| f.score) },
        });
    }
    let spec = spec(&name).ok_or_else(|| VisionError::Config(format!("no probe for model `{name}`")))?;
    let mut session = rt.session(model, opts)?;
    let characters = match name.as_str() {
        "clp_rec" => model
            .companions
            .first()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .map(|t| t.lines().map(str::to_owned).collect::<Vec<_>>()),
        _ => None,
    };
    let (w, h) = spec.size;
    let mut tensor = Vec::new();
    let mut resizer = Resizer::default();
    if spec.letterbox {
        resizer.letterbox(image, w, h, &spec.norm, &mut tensor);
    } else {
        resizer.stretch(image, w, h, &spec.norm, &mut tensor);
    }
    let input = [1usize, 3, h as usize, w as usize];
    let t = TensorRef::from_array_view((input, tensor.as_slice())).map_err(|e| VisionError::run("probe", e))?;
    let out = session.run(ort::inputs![t]).map_err(|e| VisionError::run("probe", e))?;
    let mut outputs = Vec::new();
    let mut first: Option<(Vec<i64>, Vec<f32>)> = None;
    let mut by_name = std::collections::HashMap::new();
    for (oname, value) in out.iter() {
        let (shape, data) = value.try_extract_tensor::<f32>().map_err(|e| VisionError::run("probe", e))?;
        outputs.push((oname.to_string(), shape.to_vec()));
        if first.is_none() {
            first = Some((shape.to_vec(), data.to_vec()));
        }
        by_name.insert(oname.to_string(), data.to_vec());
    }
    let (shape, data) = first.ok_or(VisionError::Output { model: "probe", detail: "no outputs".into() })?;
    let finding = match model.entry.task {
        Task::FaceDetection => Finding::Heatmap { peak: data.iter().copied().fold(f32::MIN, f32::max) },
        Task::FaceEmbedding => {
            Finding::Embedding { dims: data.len(), norm: data.iter().map(|v| v * v).sum::<f32>().sqrt() }
        }
        Task::PlateDetection => {
            let conf =
                by_name.get("conf").ok_or(VisionError::Output { model: "probe", detail: "no output `conf`".into() })?;
            Finding::Plates { candidates_over_half: conf.chunks_exact(2).filter(|c| c[1] > 0.5).count() }
        }
        Task::PlateReading => {
            let classes = *shape.last().unwrap_or(&0) as usize;
            let steps = ctc_greedy(&data, classes);
            let text = characters
                .map(|chars| steps.iter().filter_map(|&i| chars.get(i - 1)).map(String::as_str).collect::<String>());
            Finding::Text { classes, text, non_blank_steps: steps.len() }
        }
    };
    Ok(ProbeReport {
        model: name,
        task: model.entry.task,
        input,
        outputs,
        millis: started.elapsed().as_secs_f64() * 1e3,
        finding,
    })
}

/// Greedy CTC: the best class per step, repeats collapsed, blanks (class 0) dropped.
pub fn ctc_greedy(logits: &[f32], classes: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut prev = 0usize;
    if classes == 0 {
        return out;
    }
    for step in logits.chunks_exact(classes) {
        let best = step.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i);
        if best != 0 && best != prev {
            out.push(best);
        }
        prev = best;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctc_collapses_repeats_and_drops_blanks() {
        // classes: blank, a, b. steps: a a blank a b b
        let l = [0., 1., 0., 0., 1., 0., 1., 0., 0., 0., 1., 0., 0., 0., 1., 0., 0., 1.];
        assert_eq!(ctc_greedy(&l, 3), vec![1, 1, 2]);
    }
}
