//! From camera frames to face detections.
//!
//! Each camera decodes on its own thread into a keep-newest slot. One inference thread
//! (`infer-0`) owns the detector's `ort::Session` and visits the cameras in turn, analysing a
//! camera's newest frame when the camera is due by its `detect_fps`, so that a busy camera
//! cannot starve a quiet one. Results are written as JSON lines.
//!
//! With `motion_gating`, the models run only where and when something moves: on a frame with
//! motion they see the moving region (grown by a margin, `menwei_core::motion`), cut out of the
//! frame without a copy, and their boxes are moved back into frame pixels; every `idle_check`
//! they see the whole frame once, motion or not. Zones narrow the region further: faces and
//! plates are looked for only within the zones' bounding box. Something that arrived and stays
//! still is motion until it settles into the background; while it settles the picture does not
//! change, so once recognition has decided every track in view, those frames are not analysed:
//! the last detections are given to the trackers again (`Recogniser::replay`).

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use menwei_capture::{Camera, CameraState, FrameSource};
use menwei_core::geom::PixelRect;
use menwei_core::profile::{self, Stage};
use menwei_vision::face::{FaceDetection, FaceDetector};
use menwei_vision::{ModelStore, Runtime, SessionOptions, VerifiedModel};
use serde::Serialize;
use tracing::{info, warn};

use crate::config::EdgeConfig;

/// With `idle_keyframes_only`, a camera on which nothing has moved for this long (or for its
/// idle check, when that is shorter) decodes keyframes only.
pub const IDLE_AFTER: Duration = Duration::from_secs(2);

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
    /// Access decisions made: (camera, event kind, reason, subject).
    pub decisions: Vec<(String, String, String, String)>,
}

#[derive(Debug, Default, Serialize)]
pub struct CameraSummary {
    pub camera: String,
    pub frames_received: u64,
    pub frames_analysed: u64,
    /// Frames replaced in the keep-newest slot before the inference thread took them.
    pub frames_overwritten: u64,
    pub frames_with_faces: u64,
    /// Frames the motion gate spared the models (a still scene between idle checks, or a
    /// settling one whose tracks were all decided).
    pub frames_still: u64,
    /// Of `frames_still`: frames with settling motion only, whose last analysed detections
    /// were given to the trackers again.
    pub frames_unchanged: u64,
    /// Analysed frames on which the models saw only the moving region, not the whole frame.
    pub frames_on_region: u64,
    /// The mean share of the frame's pixels the models looked at, over analysed frames.
    pub mean_region_share: f64,
    pub reconnects: u64,
    pub mean_detect_ms: f64,
}

/// Verified models and a loaded runtime: what the daemon needs before it may start.
#[derive(Debug)]
pub struct Prepared {
    rt: Runtime,
    face_detector: VerifiedModel,
    /// With a register: the embedder, the plate models (when a camera reads plates), and what
    /// the register knows.
    recognition: Option<(VerifiedModel, Option<[VerifiedModel; 3]>, crate::recognition::Known)>,
}

/// Checks the models and loads ONNX Runtime; the daemon refuses to start when this fails.
pub fn prepare(cfg: &EdgeConfig) -> Result<Prepared> {
    let store = ModelStore::open(&cfg.models_manifest, &cfg.models_dir)?;
    let face_detector = store.verify(&cfg.face_detector)?;
    let recognition = match &cfg.register {
        Some(r) => {
            let register = menwei_register::Register::open(&r.path, &r.key_file)?;
            let (templates, residents) = register.load_templates(menwei_vision::embed::EMBEDDING_DIMS)?;
            let vehicles = register.vehicles()?;
            let suspended = register.suspended()?.into_iter().collect();
            info!(
                residents = residents.len(),
                templates = templates.len(),
                vehicles = vehicles.len(),
                "register loaded"
            );
            let plates = if cfg.cameras.iter().any(|c| c.plates) {
                Some([store.verify("clp_det")?, store.verify("clp_rec")?, store.verify("ppocr_v4_rec")?])
            } else {
                None
            };
            let mut models: std::collections::BTreeMap<String, String> = [&face_detector.entry.name, "w600k_mbf"]
                .iter()
                .map(|n| n.to_string())
                .chain(plates.iter().flat_map(|p| p.iter().map(|m| m.entry.name.clone())))
                .filter_map(|n| store.entry(&n).ok().map(|e| (n, e.sha256.chars().take(12).collect())))
                .collect();
            models.retain(|_, v: &mut String| !v.is_empty());
            Some((
                store.verify("w600k_mbf")?,
                plates,
                crate::recognition::Known { templates, residents, vehicles, suspended, models },
            ))
        }
        None => None,
    };
    let rt = Runtime::init(cfg.onnxruntime.as_deref())?;
    info!(library = %rt.library().display(), model = %face_detector.path.display(), "models verified, ONNX Runtime loaded");
    Ok(Prepared { rt, face_detector, recognition })
}

/// How the process supervises the pipeline: a stop request, and a heartbeat the inference loop
/// bumps on every pass so that the systemd watchdog reflects real progress.
#[derive(Debug, Default)]
pub struct Control {
    pub stop: AtomicBool,
    pub heartbeat: AtomicU64,
    /// Set once the detector's session is open and every camera thread has started.
    pub ready: AtomicBool,
}

/// What the rest of the daemon shares with the pipeline: where events go, and views of the
/// cameras for the heartbeat, `/metrics` and `/readyz`.
#[derive(Debug, Default)]
pub struct Hooks {
    pub events: Option<Arc<crate::events::EventSink>>,
    /// Camera id -> its current state's name.
    pub camera_states: Arc<std::sync::Mutex<std::collections::BTreeMap<String, String>>>,
    /// The cameras' frame slots and counters, once started.
    pub sources: Arc<std::sync::Mutex<Vec<SourceView>>>,
    /// Bumped when the register changed (an enrolment, a sync from central): the inference
    /// thread reloads templates and vehicles.
    pub register_generation: Arc<AtomicU64>,
    /// The register version last applied from central, for the heartbeat.
    pub register_version: Arc<AtomicU64>,
    /// Per-frame CPU by stage, for the benchmark harness (`run --profile`); `None`: not kept.
    pub stages: Option<Arc<StageLog>>,
    /// Per camera, what became of the frames the inference thread took (for /metrics).
    pub frame_counts: Arc<std::sync::Mutex<Vec<CameraFrameCounts>>>,
}

/// A camera's id and its [`FrameCounts`].
pub type CameraFrameCounts = (Arc<str>, Arc<FrameCounts>);

/// What became of one camera's frames that the inference thread took.
#[derive(Debug, Default)]
pub struct FrameCounts {
    /// The models looked at it (the moving region, or the whole frame).
    pub analysed: AtomicU64,
    /// Nothing moved, and no idle check was due.
    pub still: AtomicU64,
    /// Only a settling picture whose tracks were all decided: its last detections were replayed.
    pub decided: AtomicU64,
}

/// What the benchmark harness reads back from a run: the inference thread's CPU per stage for
/// every frame it took, and which frame each committed event came from.
#[derive(Debug, Default)]
pub struct StageLog {
    pub frames: std::sync::Mutex<Vec<FrameStages>>,
    /// (event seq, arrival of the frame that led to it, end of that frame's analysis), times in
    /// microseconds since the Unix epoch.
    pub events: std::sync::Mutex<Vec<(u64, u64, u64)>>,
}

impl StageLog {
    /// Records the frame just handled, with the stage times since the last record.
    fn frame(&self, camera: usize, seq: u64, analysed: bool, region_share: f32) {
        let ns = profile::take();
        self.frames.lock().unwrap_or_else(|e| e.into_inner()).push(FrameStages {
            camera,
            seq,
            analysed,
            region_share,
            ns,
        });
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FrameStages {
    pub camera: usize,
    /// The camera's frame sequence number.
    pub seq: u64,
    /// False for frames the motion gate kept from the models.
    pub analysed: bool,
    pub region_share: f32,
    /// Nanoseconds per stage, in the order of `menwei_core::profile::Stage::ALL`.
    pub ns: profile::StageNs,
}

/// A camera's slot and counters, without the camera itself.
#[derive(Debug, Clone)]
pub struct SourceView {
    id: Arc<str>,
    frames: Arc<menwei_core::handoff::Latest<menwei_core::frame::Frame>>,
    stats: Arc<menwei_capture::CameraStats>,
}

impl FrameSource for SourceView {
    fn id(&self) -> &Arc<str> {
        &self.id
    }
    fn frames(&self) -> &Arc<menwei_core::handoff::Latest<menwei_core::frame::Frame>> {
        &self.frames
    }
    fn stats(&self) -> &Arc<menwei_capture::CameraStats> {
        &self.stats
    }
    fn request_stop(&self) {}
}

/// How long a camera must stay failed before it is reported offline: a stream that ends and
/// reconnects within this (a looping clip, a camera's own restart) is not an anomaly and opens
/// no work order.
pub const OFFLINE_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Turns camera state changes into health events: offline (failed for [`OFFLINE_GRACE`]),
/// stalled, and back online after either. Connecting and a first streaming are not events.
fn state_sink(cfg: &EdgeConfig, hooks: &Hooks) -> menwei_capture::StateSink {
    use menwei_core::event::{EventClass, Subject};
    use std::collections::{HashMap, HashSet};
    #[derive(Default)]
    struct Trouble {
        /// Reported offline or stalled: the next streaming is reported online.
        reported: HashSet<String>,
        /// Failed, not yet reported: the failure's number, so a timer knows it is still current.
        pending: HashMap<String, u64>,
        failures: u64,
    }
    let events = hooks.events.clone();
    let states = hooks.camera_states.clone();
    let gates: Arc<HashMap<String, Option<String>>> =
        Arc::new(cfg.cameras.iter().map(|c| (c.capture.id.to_string(), c.gate.clone())).collect());
    let trouble = Arc::new(std::sync::Mutex::new(Trouble::default()));
    let emit = {
        let (events, gates) = (events.clone(), gates.clone());
        move |id: &str, kind: &str, state: &str, detail: Option<String>| {
            let Some(events) = &events else { return };
            let draft = crate::events::Draft {
                gate: gates.get(id).cloned().flatten(),
                camera: Some(id.to_owned()),
                subject: Some(Subject::Camera { state: state.to_owned(), detail }),
                ..Default::default()
            };
            if let Err(e) = events.emit(EventClass::Health, kind, draft) {
                warn!(camera = %id, "cannot commit a health event: {e}");
            }
        }
    };
    Arc::new(move |id, state| {
        match state {
            CameraState::Failed { reason, retry_in } => warn!(camera = %id, %reason, ?retry_in, "camera failed"),
            other => info!(camera = %id, state = ?other, "camera state"),
        }
        states.lock().unwrap_or_else(|e| e.into_inner()).insert(id.to_string(), state.name().to_owned());
        if events.is_none() {
            return;
        }
        let mut t = trouble.lock().unwrap_or_else(|e| e.into_inner());
        match state {
            CameraState::Failed { reason, .. }
                if !t.reported.contains(id.as_ref()) && !t.pending.contains_key(id.as_ref()) =>
            {
                t.failures += 1;
                let n = t.failures;
                t.pending.insert(id.to_string(), n);
                let (trouble, emit, id, reason) = (trouble.clone(), emit.clone(), id.to_string(), reason.clone());
                // Reported only if the camera has not streamed again by the end of the grace.
                let _ = std::thread::Builder::new().name("offline-grace".into()).spawn(move || {
                    std::thread::sleep(OFFLINE_GRACE);
                    let mut t = trouble.lock().unwrap_or_else(|e| e.into_inner());
                    if t.pending.get(&id) == Some(&n) {
                        t.pending.remove(&id);
                        t.reported.insert(id.clone());
                        drop(t);
                        emit(&id, "health.camera_offline", "failed", Some(reason));
                    }
                });
            }
            CameraState::Stalled { after } if t.reported.insert(id.to_string()) => {
                t.pending.remove(id.as_ref());
                drop(t);
                emit(id.as_ref(), "health.camera_stalled", state.name(), Some(format!("no frame for {after:?}")));
            }
            CameraState::Streaming => {
                // A failure shorter than the grace is forgotten; a reported one is over.
                t.pending.remove(id.as_ref());
                if t.reported.remove(id.as_ref()) {
                    drop(t);
                    emit(id.as_ref(), "health.camera_online", state.name(), None);
                }
            }
            _ => {}
        }
    })
}

/// Watches a camera's picture for tampering and commits a health event on each change.
fn tamper_check(
    detector: &mut menwei_core::tamper::TamperDetector,
    view: menwei_core::image::RgbView<'_>,
    now_ms: i64,
    camera: &str,
    cam: &crate::config::Camera,
    events: &crate::events::EventSink,
) {
    use menwei_core::tamper::TamperChange;
    let Some(change) = detector.observe(view, now_ms) else { return };
    let (kind, state, detail) = match change {
        TamperChange::Started(t) => ("health.camera_tampered", "tampered", t.name()),
        TamperChange::Ended(t) => ("health.camera_online", "streaming", t.name()),
    };
    warn!(camera, kind, detail, "camera picture");
    let draft = crate::events::Draft {
        gate: cam.gate.clone(),
        camera: Some(camera.to_owned()),
        subject: Some(menwei_core::event::Subject::Camera { state: state.to_owned(), detail: Some(detail.to_owned()) }),
        ..Default::default()
    };
    if let Err(e) = events.emit(menwei_core::event::EventClass::Health, kind, draft) {
        warn!("cannot commit a health event: {e}");
    }
}

/// Runs until every camera has ended (files without `loop`) or a stop is requested.
pub fn run(cfg: &EdgeConfig, prepared: Prepared, ctl: &Control, out: &mut dyn Write, hooks: &Hooks) -> Result<Summary> {
    let stop = &ctl.stop;
    let Prepared { rt, face_detector: model, recognition } = prepared;
    let opts = SessionOptions { intra_threads: cfg.intra_threads, spinning: cfg.spinning, provider: cfg.provider };
    let mut recogniser = match recognition {
        Some((embedder, plates, known)) => {
            let embedder = menwei_vision::embed::FaceEmbedder::new(&rt, &embedder, &opts)?;
            let lpr = match plates {
                Some([det, rec, pp]) => {
                    use menwei_vision::plate::{PlateDetector, PlateDetectorConfig, PlateReader, PlateReaderConfig};
                    let det_cfg = PlateDetectorConfig {
                        max_side: cfg.plate_max_side,
                        max_upscale: cfg.plate_upscale,
                        ..PlateDetectorConfig::default()
                    };
                    let det = PlateDetector::new(&rt, &det, &opts, det_cfg)?;
                    let readers = vec![
                        PlateReader::new(&rt, &rec, &opts, PlateReaderConfig::for_model("clp_rec"))?,
                        PlateReader::new(&rt, &pp, &opts, PlateReaderConfig::for_model("ppocr_v4_rec"))?,
                    ];
                    Some(menwei_vision::lpr::Lpr::new(det, readers, Default::default())?)
                }
                None => None,
            };
            let r = crate::recognition::Recogniser::new(
                embedder,
                lpr,
                known,
                cfg.matching.clone(),
                cfg.cameras.len(),
                hooks.events.clone(),
            );
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
    let mut detector = FaceDetector::open(&rt, &model, &opts, 640, min_threshold)?;

    let on_state = state_sink(cfg, hooks);
    let cameras = cfg
        .cameras
        .iter()
        .map(|c| Camera::start(c.capture.clone(), on_state.clone()).with_context(|| format!("camera {}", c.capture.id)))
        .collect::<Result<Vec<_>>>()?;

    let counts: Vec<Arc<FrameCounts>> = cameras.iter().map(|_| Arc::default()).collect();
    *hooks.frame_counts.lock().unwrap_or_else(|e| e.into_inner()) =
        cameras.iter().zip(&counts).map(|(c, n)| (c.id().clone(), n.clone())).collect();
    *hooks.sources.lock().unwrap_or_else(|e| e.into_inner()) = cameras
        .iter()
        .map(|c| SourceView { id: c.id().clone(), frames: c.frames().clone(), stats: c.stats().clone() })
        .collect();
    ctl.ready.store(true, Ordering::SeqCst);
    let mut summary: Vec<CameraSummary> =
        cfg.cameras.iter().map(|c| CameraSummary { camera: c.capture.id.to_string(), ..Default::default() }).collect();
    let mut detect_total_ms = vec![0.0f64; cameras.len()];
    let mut motion: Vec<menwei_core::motion::MotionDetector> =
        cameras.iter().map(|_| menwei_core::motion::MotionDetector::new(Default::default())).collect();
    let mut last_whole = vec![Instant::now() - Duration::from_secs(3600); cameras.len()];
    let mut last_motion = vec![Instant::now(); cameras.len()];
    let mut tamper: Vec<menwei_core::tamper::TamperDetector> =
        cameras.iter().map(|_| menwei_core::tamper::TamperDetector::new(Default::default())).collect();
    let mut next_due = vec![Instant::now(); cameras.len()];
    let periods: Vec<Duration> = cfg.cameras.iter().map(|c| Duration::from_secs_f64(1.0 / c.detect_fps)).collect();

    // Generation 0 is the register as `prepare` loaded it (the hooks are made after it): an
    // update applied since, even before this loop began, must be reloaded. Reading the current
    // generation here instead lost the updates that arrived while the models were loading.
    let mut generation = 0;
    while !stop.load(Ordering::SeqCst) {
        ctl.heartbeat.fetch_add(1, Ordering::Relaxed);
        let g = hooks.register_generation.load(Ordering::SeqCst);
        if g != generation
            && let (Some(r), Some(paths)) = (recogniser.as_mut(), &cfg.register)
        {
            generation = g;
            match menwei_register::Register::open(&paths.path, &paths.key_file).and_then(|reg| {
                let (t, ids) = reg.load_templates(menwei_vision::embed::EMBEDDING_DIMS)?;
                Ok((t, ids, reg.vehicles()?, reg.suspended()?.into_iter().collect()))
            }) {
                Ok((templates, residents, vehicles, suspended)) => {
                    info!(
                        residents = residents.len(),
                        templates = templates.len(),
                        vehicles = vehicles.len(),
                        "register reloaded"
                    );
                    r.set_known(templates, residents, vehicles, suspended);
                }
                Err(e) => warn!("cannot reload the register: {e}"),
            }
        }
        let mut worked = false;
        let mut all_done = true;
        for (i, cam) in cameras.iter().enumerate() {
            let done = cam.frames().is_closed();
            all_done &= done;
            let now = Instant::now();
            if now < next_due[i] {
                continue;
            }
            let Some(frame) = cam.frames().try_take() else {
                continue;
            };
            worked = true;
            next_due[i] = next_due[i].max(now - periods[i]) + periods[i];
            let view = frame.view().context("frame buffer")?;
            let now_ms = frame.arrived_wall.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
            let cam_cfg = &cfg.cameras[i];
            let (fw, fh) = (frame.width, frame.height);
            let log = hooks.stages.as_deref();
            let seq_before = hooks.events.as_ref().map_or(0, |e| e.last_seq());
            if log.is_some() {
                profile::take();
            }
            let analysis = profile::enter(Stage::Postprocess);
            let gates = profile::enter(Stage::Gates);
            // Tamper detection sees every frame (a frozen picture is still by definition).
            if let Some(events) = &hooks.events {
                tamper_check(&mut tamper[i], view, now_ms, &frame.camera_id, cam_cfg, events);
            }
            // Motion gate: the models look where something moves, and at the whole frame once
            // per idle check; a still scene between idle checks is not looked at.
            let moving = motion[i].observe(view);
            drop(gates);
            // Idle: nothing moved for an idle check. With `idle_keyframes_only` the camera then
            // decodes keyframes only, until motion shows on one of them.
            if moving.is_some() {
                last_motion[i] = Instant::now();
            }
            if cam_cfg.capture.idle_keyframes_only {
                cam.set_idle(last_motion[i].elapsed() >= cam_cfg.idle_check.min(IDLE_AFTER));
            }
            let whole = PixelRect::full(fw, fh);
            let idle_due = !cam_cfg.motion_gating || last_whole[i].elapsed() >= cam_cfg.idle_check;
            let look = if idle_due {
                last_whole[i] = Instant::now();
                Some(whole)
            } else {
                moving.map(|m| m.look)
            };
            // Something that arrived and now stays still, already recognised: the picture is
            // the last analysed one's, so its detections stand in for the models'.
            let unchanged = !idle_due
                && moving.is_some_and(|m| m.settling(motion[i].config()))
                && recogniser.as_ref().is_none_or(|r| r.settled(i));
            if unchanged && let Some(r) = recogniser.as_mut() {
                r.replay(i, cam_cfg, view, now_ms)?;
            }
            let Some(look) = look.filter(|_| !unchanged) else {
                if unchanged { &counts[i].decided } else { &counts[i].still }.fetch_add(1, Ordering::Relaxed);
                drop(analysis);
                if let Some(log) = log {
                    log.frame(i, frame.seq, false, 0.0);
                }
                continue;
            };
            // Zones narrow where faces and plates are looked for.
            let zone_rect = PixelRect::around_fractions(&cam_cfg.zones, fw, fh);
            let region = zone_rect.map_or(Some(look), |z| z.intersect(&look));
            let t = Instant::now();
            let mut faces = match region.and_then(|r| view.crop(r).map(|v| (r, v))) {
                Some((r, crop)) => {
                    let mut faces = detector.detect_in(crop, (fw, fh))?;
                    shift_faces(&mut faces, r);
                    faces
                }
                None => Vec::new(),
            };
            let detect_ms = t.elapsed().as_secs_f64() * 1e3;
            faces.retain(|f| f.score >= cam_cfg.face_score_threshold && cam_cfg.in_zone(f.bbox.center(), fw, fh));
            if let Some(r) = recogniser.as_mut() {
                if cam_cfg.faces {
                    r.faces(i, cam_cfg, view, &faces, now_ms)?;
                }
                if cam_cfg.plates {
                    r.plates(i, cam_cfg, view, region, now_ms)?;
                }
            }
            drop(analysis);
            let share = region.map_or(0.0, |r| r.area() as f64 / whole.area() as f64);
            if let Some(log) = log {
                log.frame(i, frame.seq, true, share as f32);
                let seq_after = hooks.events.as_ref().map_or(0, |e| e.last_seq());
                if seq_after > seq_before {
                    let us =
                        |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64);
                    let (arrived, done) = (us(frame.arrived_wall), us(SystemTime::now()));
                    log.events
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .extend((seq_before + 1..=seq_after).map(|s| (s, arrived, done)));
                }
            }
            let s = &mut summary[i];
            counts[i].analysed.fetch_add(1, Ordering::Relaxed);
            s.frames_on_region += u64::from(!look.is_full(fw, fh));
            s.mean_region_share += share;
            s.frames_with_faces += u64::from(!faces.is_empty());
            detect_total_ms[i] += detect_ms;
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
        }
        // Ended cameras may still hold a last frame that is not yet due: wait for it.
        if all_done && !cameras.iter().any(|c| c.frames().has_item()) {
            break;
        }
        if !worked {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    out.flush()?;
    for (((cam, s), total), n) in cameras.into_iter().zip(summary.iter_mut()).zip(detect_total_ms).zip(&counts) {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        (s.frames_analysed, s.frames_unchanged) = (load(&n.analysed), load(&n.decided));
        s.frames_still = load(&n.still) + s.frames_unchanged;
        s.frames_received = cam.frames().put_count();
        s.reconnects = cam.stats().reconnects.load(Ordering::Relaxed);
        s.frames_overwritten = cam.frames().overwritten_count();
        s.mean_detect_ms = if s.frames_analysed > 0 { total / s.frames_analysed as f64 } else { 0.0 };
        s.mean_region_share = if s.frames_analysed > 0 { s.mean_region_share / s.frames_analysed as f64 } else { 0.0 };
        cam.stop();
    }
    let decisions = recogniser.map(|r| r.decisions).unwrap_or_default();
    Ok(Summary { cameras: summary, decisions })
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
