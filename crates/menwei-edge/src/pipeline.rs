//! From camera frames to detections and decisions: the inference thread's scheduler.
//!
//! Each camera decodes on its own thread into a keep-newest slot. One inference thread
//! (`infer-0`) owns the models' `ort::Session`s ([`Models`], opened in one place) and visits the
//! cameras' [`CameraSlot`]s in turn, analysing a camera's newest frame when the camera is due
//! by its `detect_fps`, so that a busy camera cannot starve a quiet one. Results are written as
//! JSON lines.
//!
//! With `motion_gating`, the models run only where and when something moves: the slot says
//! where they look ([`CameraSlot::look`]): the moving region (grown by a margin,
//! `menwei_core::motion`), cut out of the frame without a copy, with the boxes moved back into
//! frame pixels; the whole frame once per idle check; nothing on a still scene; and on a
//! settling picture whose tracks are all decided, the last detections given to the trackers
//! again (`Recogniser::replay`). Zones narrow the region further: faces and plates are looked
//! for only within the zones' bounding box.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use menwei_capture::{Camera, FrameSource};
use menwei_core::clock::unix_ms;
use menwei_core::frame::Frame;
use menwei_core::geom::PixelRect;
use menwei_core::profile::{self, Stage};
use menwei_core::shutdown;
use menwei_vision::face::{FaceDetection, FaceDetector};
use menwei_vision::{ModelStore, Runtime, SessionOptions, VerifiedModel};
use serde::Serialize;
use tracing::{info, warn};

use crate::config::EdgeConfig;
use crate::health::Health;
use crate::hooks::{Hooks, SourceView};
use crate::recognition::{GateDecision, Known, Recogniser};
use crate::slot::{CameraSlot, CameraSummary, Look};

/// One analysed frame, as printed.
#[derive(Debug, Serialize)]
pub struct FrameResult<'a> {
    pub camera: &'a str,
    pub seq: u64,
    pub pts_ms: Option<f64>,
    pub arrived_unix_ms: u128,
    pub width: u32,
    pub height: u32,
    /// Where the models looked (frame pixels): the whole frame, or the moving region.
    pub region: PixelRect,
    pub detect_ms: f64,
    pub faces: &'a [FaceDetection],
}

/// What a run did, per camera.
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub cameras: Vec<CameraSummary>,
    /// Access and security decisions made.
    pub decisions: Vec<GateDecision>,
}

/// The plate models: detector, then the two readers.
type PlateModels = [VerifiedModel; 3];

/// Verified models, a loaded runtime and the register: what the daemon needs before it may
/// start.
#[derive(Debug)]
pub struct Prepared {
    rt: Runtime,
    face_detector: VerifiedModel,
    /// With a register: the embedder, the plate models (when a camera reads plates), and what
    /// the register knows.
    recognition: Option<(VerifiedModel, Option<PlateModels>, Known)>,
}

/// Checks the models and loads ONNX Runtime; the daemon refuses to start when this fails.
pub fn prepare(cfg: &EdgeConfig) -> Result<Prepared> {
    let store = ModelStore::open(&cfg.models_manifest, &cfg.models_dir)?;
    let face_detector = store.verify(&cfg.face_detector)?;
    let recognition = match &cfg.register {
        Some(r) => {
            let plates = if cfg.cameras.iter().any(|c| c.plates) {
                Some([store.verify("clp_det")?, store.verify("clp_rec")?, store.verify("ppocr_v4_rec")?])
            } else {
                None
            };
            let embedder = menwei_vision::embed::EmbedderKind::from_model(&cfg.face_embedder)
                .with_context(|| format!("{} is not a face embedder", cfg.face_embedder))?;
            let mut known = Known::load(r, embedder)?;
            known.models = [face_detector.entry.name.as_str(), cfg.face_embedder.as_str()]
                .into_iter()
                .map(str::to_owned)
                .chain(plates.iter().flat_map(|p| p.iter().map(|m| m.entry.name.clone())))
                .filter_map(|n| store.entry(&n).ok().map(|e| (n, e.sha256.chars().take(12).collect::<String>())))
                .filter(|(_, v)| !v.is_empty())
                .collect();
            Some((store.verify(&cfg.face_embedder)?, plates, known))
        }
        None => None,
    };
    let in_use = std::iter::once(&face_detector.entry).chain(
        recognition
            .iter()
            .flat_map(|(e, p, _)| std::iter::once(&e.entry).chain(p.iter().flat_map(|p| p.iter().map(|m| &m.entry)))),
    );
    for w in menwei_vision::manifest::licence_warnings(in_use) {
        warn!("{w}");
    }
    let rt = Runtime::init(cfg.onnxruntime.as_deref())?;
    info!(library = %rt.library().display(), model = %face_detector.path.display(), "models verified, ONNX Runtime loaded");
    Ok(Prepared { rt, face_detector, recognition })
}

/// How the process supervises the pipeline: a heartbeat the inference loop bumps on every pass
/// so that the systemd watchdog reflects real progress, and readiness.
#[derive(Debug, Default)]
pub struct Control {
    pub heartbeat: AtomicU64,
    /// Set once the detector's session is open and every camera thread has started.
    pub ready: AtomicBool,
}

/// The inference thread's models: the face detector for every camera, and recognition.
#[derive(Debug)]
pub struct Models {
    detector: FaceDetector,
    recogniser: Option<Recogniser>,
}

impl Models {
    /// Opens every session the pipeline runs.
    pub fn open(cfg: &EdgeConfig, prepared: Prepared, hooks: &Hooks) -> Result<Models> {
        let Prepared { rt, face_detector, recognition } = prepared;
        let opts = SessionOptions { intra_threads: cfg.intra_threads, spinning: cfg.spinning, provider: cfg.provider };
        let recogniser = match recognition {
            Some((embedder, plates, known)) => {
                let embedder = menwei_vision::embed::FaceEmbedder::new(&rt, &embedder, &opts)?;
                let lpr = plates.map(|p| open_lpr(cfg, &rt, &opts, p)).transpose()?;
                let r = Recogniser::new(
                    embedder,
                    lpr,
                    known,
                    cfg.matching.clone(),
                    cfg.cameras.len(),
                    hooks.events.clone(),
                )
                .with_refusal_counter(hooks.faces_refused.clone());
                Some(match &cfg.snapshots {
                    Some(s) => r.with_snapshots(
                        crate::snapshots::Snapshots::new(s.clone())
                            .with_context(|| format!("cannot create the snapshot folder {}", s.dir.display()))?,
                    ),
                    None => r,
                })
            }
            None => None,
        };
        // One session for all cameras, at the lowest camera threshold; each camera's own
        // threshold is applied afterwards.
        let min_threshold = cfg.cameras.iter().map(|c| c.face_score_threshold).fold(1.0f32, f32::min);
        let detector = FaceDetector::open(&rt, &face_detector, &opts, 640, min_threshold)?;
        Ok(Models { detector, recogniser })
    }
}

fn open_lpr(
    cfg: &EdgeConfig,
    rt: &Runtime,
    opts: &SessionOptions,
    [det, rec, pp]: PlateModels,
) -> Result<menwei_vision::lpr::Lpr> {
    use menwei_vision::plate::{PlateDetector, PlateDetectorConfig, PlateReader, PlateReaderConfig};
    let det_cfg =
        PlateDetectorConfig { max_side: cfg.plate_max_side, max_upscale: cfg.plate_upscale, ..Default::default() };
    let det = PlateDetector::new(rt, &det, opts, det_cfg)?;
    let readers = vec![
        PlateReader::new(rt, &rec, opts, PlateReaderConfig::for_model("clp_rec"))?,
        PlateReader::new(rt, &pp, opts, PlateReaderConfig::for_model("ppocr_v4_rec"))?,
    ];
    let lpr_cfg = menwei_vision::lpr::LprConfig {
        home: cfg.matching.plate_home.clone(),
        province_bias: menwei_vision::lpr::province_bias_for(&[&rec, &pp]),
        ..Default::default()
    };
    Ok(menwei_vision::lpr::Lpr::new(det, readers, lpr_cfg)?)
}

/// Runs until every camera has ended (files without `loop`) or `stop` is signalled.
pub fn run(
    cfg: &EdgeConfig,
    prepared: Prepared,
    ctl: &Control,
    stop: &shutdown::Receiver,
    out: &mut dyn Write,
    hooks: &Hooks,
) -> Result<Summary> {
    let mut models = Models::open(cfg, prepared, hooks)?;
    let health = Health::new(cfg, hooks.events.clone(), hooks.camera_states.clone(), hooks.clock.clone());
    let (timer_stop, timer_rx) = shutdown::channel();
    let timer = health.spawn_timer(timer_rx)?;
    let on_state = health.sink();
    let now = hooks.clock.now();
    let mut slots = Vec::with_capacity(cfg.cameras.len());
    for c in &cfg.cameras {
        let camera =
            Camera::start(c.capture.clone(), on_state.clone()).with_context(|| format!("camera {}", c.capture.id))?;
        let slot = CameraSlot::new(c, camera, now);
        slots.push(match &c.main {
            Some(main) => slot.with_main(
                Camera::start(main.clone(), on_state.clone()).with_context(|| format!("camera {}", main.id))?,
            ),
            None => slot,
        });
    }
    *hooks.frame_counts.lock().unwrap_or_else(|e| e.into_inner()) =
        slots.iter().map(|s| (s.source().id().clone(), s.counts().clone())).collect();
    *hooks.sources.lock().unwrap_or_else(|e| e.into_inner()) = slots
        .iter()
        .flat_map(|s| std::iter::once(s.source()).chain(s.main_source()))
        .map(|c| SourceView::of(c))
        .collect();
    ctl.ready.store(true, Ordering::SeqCst);

    // Generation 0 is the register as `prepare` loaded it (the hooks are made after it): an
    // update applied since, even before this loop began, must be reloaded. Reading the current
    // generation here instead lost the updates that arrived while the models were loading.
    let mut generation = 0;
    while !stop.is_down() {
        ctl.heartbeat.fetch_add(1, Ordering::Relaxed);
        reload_if_changed(cfg, hooks, &mut generation, models.recogniser.as_mut());
        let mut worked = false;
        for (i, slot) in slots.iter_mut().enumerate() {
            let Some(frame) = slot.take_due(hooks.clock.now()) else { continue };
            worked = true;
            analyse(cfg, i, slot, &frame, &mut models, hooks, out)?;
        }
        // Ended cameras may still hold a last frame that is not yet due: wait for it.
        if slots.iter().all(|s| s.closed() && !s.source().frames().has_item()) {
            break;
        }
        if !worked {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    out.flush()?;
    let cameras = slots.into_iter().map(CameraSlot::finish).collect();
    drop(timer_stop);
    let _ = timer.join();
    let decisions = models.recogniser.map(|r| r.decisions).unwrap_or_default();
    Ok(Summary { cameras, decisions })
}

/// Reloads the register after an enrolment, an erasure or a sync.
fn reload_if_changed(cfg: &EdgeConfig, hooks: &Hooks, generation: &mut u64, recogniser: Option<&mut Recogniser>) {
    let g = hooks.register_generation.load(Ordering::SeqCst);
    let (Some(r), Some(paths)) = (recogniser, &cfg.register) else { return };
    if g == *generation {
        return;
    }
    *generation = g;
    match Known::load(paths, r.embedder_kind()) {
        Ok(known) => r.set_known(known),
        Err(e) => warn!("cannot reload the register: {e}"),
    }
}

/// One due frame of camera `i`: gates, detection, recognition, the printed line.
fn analyse(
    cfg: &EdgeConfig,
    i: usize,
    slot: &mut CameraSlot,
    frame: &Frame,
    models: &mut Models,
    hooks: &Hooks,
    out: &mut dyn Write,
) -> Result<()> {
    let view = frame.view().context("frame buffer")?;
    let now_ms = unix_ms(frame.arrived_wall);
    let cam_cfg = &cfg.cameras[i];
    let (fw, fh) = (frame.width, frame.height);
    let log = hooks.stages.as_deref();
    let seq_before = hooks.events.as_ref().map_or(0, |e| e.last_seq());
    if log.is_some() {
        profile::take();
    }
    let analysis = profile::enter(Stage::Postprocess);
    // Tamper detection sees every frame (a frozen picture is still by definition).
    if let Some(events) = &hooks.events {
        let _gates = profile::enter(Stage::Gates);
        if let Some((from, to)) = slot.resized(fw, fh) {
            crate::health::format_changed(cam_cfg, from, to, events);
        }
        crate::health::tamper_check(&mut slot.tamper, view, now_ms, cam_cfg, events);
    }
    // With a detect stream, recognition reads the main stream's picture nearest in time.
    let paired = slot.take_paired(frame);
    let full = paired.as_ref().and_then(|f| f.full.as_ref()).or(frame.full.as_ref());
    let recogniser = &mut models.recogniser;
    let look = slot.look(cam_cfg, view, hooks.clock.now(), || recogniser.as_ref().is_none_or(|r| r.settled(i)));
    let look = match look {
        Look::At(rect) => rect,
        spared => {
            if spared == Look::Unchanged
                && let Some(r) = recogniser.as_mut()
            {
                r.replay(i, cam_cfg, view, full, now_ms)?;
            }
            slot.spared(spared);
            drop(analysis);
            if let Some(log) = log {
                log.frame(i, frame.seq, false, 0.0);
            }
            return Ok(());
        }
    };
    // Zones narrow where faces and plates are looked for.
    let zone_rect = PixelRect::around_fractions(&cam_cfg.zones, fw, fh);
    let region = zone_rect.map_or(Some(look), |z| z.intersect(&look));
    let t = std::time::Instant::now();
    let mut faces = match region.and_then(|r| view.crop(r).map(|v| (r, v))) {
        Some((r, crop)) => {
            let mut faces = models.detector.detect_in(crop, (fw, fh))?;
            shift_faces(&mut faces, r);
            faces
        }
        None => Vec::new(),
    };
    let detect_ms = t.elapsed().as_secs_f64() * 1e3;
    faces.retain(|f| f.score >= cam_cfg.face_score_threshold && cam_cfg.in_zone(f.bbox.center(), fw, fh));
    if let Some(r) = recogniser.as_mut() {
        if cam_cfg.faces {
            r.faces(i, cam_cfg, view, full, &faces, now_ms)?;
        }
        if cam_cfg.plates {
            r.plates(i, cam_cfg, view, full, region, now_ms)?;
        }
    }
    drop(analysis);
    let share = region.map_or(0.0, |r| r.area() as f64 / PixelRect::full(fw, fh).area() as f64);
    if let Some(log) = log {
        log.frame(i, frame.seq, true, share as f32);
        let seq_after = hooks.events.as_ref().map_or(0, |e| e.last_seq());
        if seq_after > seq_before {
            let us = |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64);
            let (arrived, done) = (us(frame.arrived_wall), us(SystemTime::now()));
            log.events
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend((seq_before + 1..=seq_after).map(|s| (s, arrived, done)));
        }
    }
    slot.analysed(look, (fw, fh), share, !faces.is_empty(), detect_ms);
    let line = FrameResult {
        camera: &frame.camera_id,
        seq: frame.seq,
        pts_ms: frame.pts_ns.map(|p| p as f64 / 1e6),
        arrived_unix_ms: frame.arrived_wall.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis()),
        width: frame.width,
        height: frame.height,
        region: look,
        detect_ms,
        faces: &faces,
    };
    serde_json::to_writer(&mut *out, &line)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// Moves faces found in the crop `r` back into frame pixels.
fn shift_faces(faces: &mut [FaceDetection], r: PixelRect) {
    let (dx, dy) = (r.x as f32, r.y as f32);
    for f in faces {
        f.bbox = f.bbox.translate(dx, dy);
        for p in &mut f.landmarks {
            *p = p.translate(dx, dy);
        }
    }
}
