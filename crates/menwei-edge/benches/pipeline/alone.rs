//! The stages timed alone, in this process with nothing else running: the clip decoded and
//! converted as fast as it goes, and on each distinct picture of the clip (after a warm-up,
//! median of 5) the face detector, the plate detector, reading the plates it found, and one
//! face embedding.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use menwei_core::image::RgbView;
use menwei_core::profile::{STAGES, Stage};
use menwei_vision::embed::FaceEmbedder;
use menwei_vision::face::{FaceDetection, FaceDetector};
use menwei_vision::lpr::Lpr;
use menwei_vision::{ModelStore, Runtime, SessionOptions};
use serde_json::{Value, json};

use crate::plate_max_side;
use crate::runs::pct;
use crate::scene::{Clip, H, W};

pub struct Alone {
    decode_convert_ms: f64,
    /// Per canvas, CPU-ms on the whole frame, each stage timed in a loop of its own (median of
    /// 5): the face detector, the plate detector, and reading every plate it found.
    face_ms: Vec<f64>,
    plate_det_ms: Vec<f64>,
    read_ms: Vec<f64>,
    embed_one_ms: f64,
    /// Per canvas, the width in clip pixels of the widest plate the detector found (0: none).
    pub plate_width_px: Vec<f32>,
}

/// The models the daemon runs, with the daemon's settings.
struct Models {
    faces: FaceDetector,
    embedder: FaceEmbedder,
    /// The plate detector and both readers, where the clip has plates.
    lpr: Option<Lpr>,
    _rt: Runtime,
}

impl Models {
    fn open(root: &Path, with_plates: bool) -> Models {
        use menwei_vision::plate::{PlateDetector, PlateDetectorConfig, PlateReader, PlateReaderConfig};
        let store = ModelStore::open(&root.join("models/models.toml"), &root.join("models")).unwrap();
        let rt = Runtime::init(None).unwrap();
        let opts = SessionOptions::default();
        let faces = FaceDetector::open(&rt, &store.verify("scrfd_500m").unwrap(), &opts, 640, 0.5).unwrap();
        let embedder = FaceEmbedder::new(&rt, &store.verify("w600k_mbf").unwrap(), &opts).unwrap();
        let lpr = with_plates.then(|| {
            let det_cfg = PlateDetectorConfig { max_side: plate_max_side(), ..Default::default() };
            let det = PlateDetector::new(&rt, &store.verify("clp_det").unwrap(), &opts, det_cfg).unwrap();
            let reader = |name: &str| {
                PlateReader::new(&rt, &store.verify(name).unwrap(), &opts, PlateReaderConfig::for_model(name)).unwrap()
            };
            let readers = vec![reader("clp_rec"), reader("ppocr_v4_rec")];
            Lpr::new(det, readers, Default::default()).unwrap()
        });
        Models { faces, embedder, lpr, _rt: rt }
    }
}

fn ms(t0: u64) -> f64 {
    (menwei_core::profile::thread_cpu_ns() - t0) as f64 / 1e6
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    pct(&v, 0.5)
}

/// Per picture, the median CPU-ms of 5 calls of `f` on it; the pictures in order, each 5
/// times in a row.
fn per_view(views: &[RgbView<'_>], f: &mut dyn FnMut(RgbView<'_>)) -> Vec<f64> {
    let cpu = menwei_core::profile::thread_cpu_ns;
    views
        .iter()
        .map(|v| {
            median(
                (0..5)
                    .map(|_| {
                        let t0 = cpu();
                        f(*v);
                        ms(t0)
                    })
                    .collect(),
            )
        })
        .collect()
}

/// Decode and convert alone: the clip file, as fast as it decodes, nothing else running.
fn decode_convert_alone(clip: &Clip) -> f64 {
    use menwei_capture::FrameSource;
    let mut cc = menwei_capture::CameraConfig::new(
        "alone",
        menwei_capture::SourceUrl::parse(clip.file.to_str().unwrap()).unwrap(),
    );
    cc.realtime = false;
    let cam = menwei_capture::Camera::start(cc, Arc::new(|_, _| {})).unwrap();
    while !cam.frames().is_closed() {
        let _ = cam.frames().try_take();
        std::thread::sleep(Duration::from_millis(5));
    }
    let s = cam.stats();
    let decode_convert_ms = s.decode_cpu_ms_per_frame().unwrap_or(0.0) + s.convert_cpu_ms_per_frame().unwrap_or(0.0);
    cam.stop();
    decode_convert_ms
}

/// The plate detector on each picture, and reading every plate it found there.
fn plates_alone(lpr: Option<&mut Lpr>, views: &[RgbView<'_>]) -> (Vec<f64>, Vec<f64>, Vec<f32>) {
    let Some(l) = lpr else { return (vec![0.0; views.len()], vec![0.0; views.len()], vec![0.0; views.len()]) };
    let det = per_view(views, &mut |v| {
        l.detect_in(v, (W, H)).unwrap();
    });
    let plates: Vec<_> = views.iter().map(|v| l.detect_in(*v, (W, H)).unwrap()).collect();
    let mut k = 0;
    let read = per_view(views, &mut |v| {
        // per_view visits each picture 5 times in order.
        for p in &plates[k / 5] {
            l.read_quad(v, p.corners).unwrap();
        }
        k += 1;
    });
    let widths = plates.iter().map(|ps| ps.iter().map(|p| p.bbox.width()).fold(0.0, f32::max)).collect();
    (det, read, widths)
}

/// One face embedded, 5 times on each picture with a face: the median.
fn embed_alone(embedder: &mut FaceEmbedder, views: &[RgbView<'_>], found: &[Vec<FaceDetection>]) -> f64 {
    let mut embeds = vec![];
    for (v, f) in views.iter().zip(found) {
        if let Some(face) = f.first() {
            for _ in 0..5 {
                let t0 = menwei_core::profile::thread_cpu_ns();
                embedder.embed(*v, std::slice::from_ref(face)).unwrap();
                embeds.push(ms(t0));
            }
        }
    }
    median(embeds)
}

impl Alone {
    pub fn measure(root: &Path, clip: &Clip) -> Alone {
        let decode_convert_ms = decode_convert_alone(clip);
        let mut m = Models::open(root, clip.with_plates);
        // Warm up: the first runs of a session at a new input size cost more.
        for c in clip.canvases.iter().take(3) {
            let view = RgbView::packed(W, H, c.as_raw()).unwrap();
            m.faces.detect(view).unwrap();
            if let Some(l) = m.lpr.as_mut() {
                l.recognise(view).unwrap();
            }
        }
        // Each stage alone: a loop of that stage only, over every picture of the clip.
        let views: Vec<RgbView<'_>> =
            clip.canvases.iter().map(|c| RgbView::packed(W, H, c.as_raw()).unwrap()).collect();
        let face_ms = per_view(&views, &mut |v| {
            m.faces.detect(v).unwrap();
        });
        let found: Vec<Vec<FaceDetection>> = views.iter().map(|v| m.faces.detect(*v).unwrap()).collect();
        let (plate_det_ms, read_ms, plate_width_px) = plates_alone(m.lpr.as_mut(), &views);
        let embed_one_ms = embed_alone(&mut m.embedder, &views, &found);
        Alone { decode_convert_ms, face_ms, plate_det_ms, read_ms, embed_one_ms, plate_width_px }
    }

    /// The same work as the pipeline did on an analysed frame, timed alone: both detectors on
    /// the frame's picture, its plates read if the pipeline read plates on it, one face embedded
    /// if it embedded one. `None` beyond the clip (a second pass).
    pub fn frame_ms(&self, clip: &Clip, seq: usize, stages: &[u64; STAGES]) -> Option<f64> {
        let c = *clip.frames.get(seq)?;
        let read = stages[Stage::PlateReader1 as usize] + stages[Stage::PlateReader2 as usize] > 0;
        let embedded = stages[Stage::Embedder as usize] > 0;
        Some(
            self.face_ms[c]
                + self.plate_det_ms[c]
                + if read { self.read_ms[c] } else { 0.0 }
                + if embedded { self.embed_one_ms } else { 0.0 },
        )
    }

    pub fn decode_convert_ms(&self) -> f64 {
        self.decode_convert_ms
    }

    pub fn print(&self) {
        println!("decode + convert alone (clip file, no inference): {:.2} CPU-ms per frame", self.decode_convert_ms);
        let list = |v: &[f64]| v.iter().map(|m| format!("{m:.1}")).collect::<Vec<_>>().join(" ");
        println!("on the whole 1280x720 frame, CPU-ms per picture (the empty gate first, then each passage):");
        println!("  face detector      {}", list(&self.face_ms));
        println!("  plate detector     {}", list(&self.plate_det_ms));
        println!("  reading its plates {}", list(&self.read_ms));
        println!("one face embedding alone: {:.1} CPU-ms", self.embed_one_ms);
    }

    pub fn to_json(&self) -> Value {
        json!({"decode_convert_ms": self.decode_convert_ms, "face_ms": self.face_ms, "plate_det_ms": self.plate_det_ms,
               "read_ms": self.read_ms, "embed_one_ms": self.embed_one_ms})
    }
}
