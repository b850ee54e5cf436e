//! From detections to decisions: tracks, best shots, matching, rules, events.
//!
//! Per camera, faces and plates are tracked across analysed frames. A face track embeds its
//! best shots (those with usable quality) and a plate track reads its plate; when either has
//! seen enough is decided by the pure rules of [`menwei_core::gate`] (two agreeing shots or
//! the fusion of three; two agreeing reads, one sure read, or four). Each decision passes the
//! access rules and, once per passage and gate, becomes an event. A face that matches nobody is
//! not a denial: face recognition is never the only way in.
//!
//! Each camera keeps its last analysed frame's detections. When the motion gate says a frame
//! shows the same picture as the one before and every track in view is already decided,
//! [`Recogniser::replay`] feeds those detections to the trackers again instead of running the
//! models: tracks live on while their objects stay, and end when the objects have left.

use std::collections::HashMap;
use std::sync::Arc;

use menwei_core::event::{EventKind, Subject};
use menwei_core::frame::FullFrame;
use menwei_core::gate::{FaceRule, FaceTrack, FaceVerdict, PlateRead, PlateTrack, PlateVerdict, VotedPlate};
use menwei_core::geom::BoxXyxy;
use menwei_core::image::RgbView;
use menwei_core::matcher::TemplateMatrix;
use menwei_core::plate::{PlateMatch, match_plate};
use menwei_core::profile::{self, Stage};
use menwei_core::rules::{VehicleEntry, decide_resident, decide_vehicle};
use menwei_core::track::{Retrigger, TrackId, Tracker};
use menwei_vision::embed::FaceEmbedder;
use menwei_vision::face::FaceDetection;
use menwei_vision::lpr::{Lpr, PlateOutcome};
use menwei_vision::plate::PlateDetection;
use serde::Serialize;
use tracing::{debug, info, warn};

use crate::config::{Camera, Matching};
use crate::events::{Draft, EventSink};
use crate::fine::FineCrop;

/// What the register gives recognition: residents' templates and vehicles.
#[derive(Debug, Default)]
pub struct Known {
    pub templates: TemplateMatrix,
    /// Owner index in `templates` -> resident id.
    pub residents: Vec<String>,
    pub vehicles: Vec<VehicleEntry>,
    /// Residents who are recognised but may not enter.
    pub suspended: std::collections::HashSet<String>,
    /// Model name -> the first 12 hex digits of its sha256, for events' `models`.
    pub models: std::collections::BTreeMap<String, String>,
}

impl Known {
    /// Reads the register's templates made by `embedder`, vehicles and suspensions (the one
    /// loader: at start-up and after every enrolment, erasure or sync). `models` is left empty.
    /// Residents whose templates another embedder made are named in a warning: they are not
    /// recognised by face until they are enrolled again.
    pub fn load(
        register: &crate::config::RegisterPaths,
        embedder: menwei_vision::embed::EmbedderKind,
    ) -> Result<Known, menwei_register::RegisterError> {
        let reg = menwei_register::Register::open(&register.path, &register.key_file)?;
        for (model, residents) in reg.template_models()? {
            if model != embedder.model() {
                warn!(
                    residents,
                    made_by = %model,
                    embedder = embedder.model(),
                    "templates made by another face embedder are not used: enrol these residents again \
                     (menwei-edge enroll) to recognise them by face"
                );
            }
        }
        let (templates, residents) = reg.load_templates(embedder.model(), embedder.dims())?;
        let known = Known {
            templates,
            residents,
            vehicles: reg.vehicles()?,
            suspended: reg.suspended()?.into_iter().collect(),
            models: Default::default(),
        };
        info!(
            residents = known.residents.len(),
            templates = known.templates.len(),
            vehicles = known.vehicles.len(),
            "register loaded"
        );
        Ok(known)
    }
}

/// An access or security decision the recogniser made, for the run's summary.
#[derive(Clone, Debug, Serialize)]
pub struct GateDecision {
    pub camera: String,
    /// The event kind (`access.granted`...).
    pub kind: &'static str,
    pub reason: String,
    /// The resident, plate or stranger cluster.
    pub subject: String,
}

#[derive(Debug)]
struct CameraTracks {
    faces: Tracker,
    plates: Tracker,
    face_tracks: HashMap<TrackId, FaceTrack>,
    plate_tracks: HashMap<TrackId, PlateTrack>,
    /// The last analysed frame's faces and plates, and the tracks they were assigned to.
    last_faces: Vec<FaceDetection>,
    last_face_tracks: Vec<TrackId>,
    last_plates: Vec<PlateDetection>,
    last_plate_tracks: Vec<TrackId>,
}

/// Recognition state for every camera. Owned by the inference thread.
#[derive(Debug)]
pub struct Recogniser {
    embedder: FaceEmbedder,
    lpr: Option<Lpr>,
    known: Known,
    matching: Matching,
    cameras: Vec<CameraTracks>,
    retrigger: Retrigger,
    strangers: menwei_core::stranger::Strangers,
    events: Option<Arc<EventSink>>,
    snapshots: Option<crate::snapshots::Snapshots>,
    /// Decisions made, for the run summary.
    pub decisions: Vec<GateDecision>,
    /// Shots the quality policy refused, by camera and reason.
    refused: Arc<crate::hooks::FacesRefused>,
}

impl Recogniser {
    pub fn new(
        embedder: FaceEmbedder,
        lpr: Option<Lpr>,
        known: Known,
        matching: Matching,
        cameras: usize,
        events: Option<Arc<EventSink>>,
    ) -> Self {
        Self {
            embedder,
            lpr,
            known,
            retrigger: Retrigger::new(matching.retrigger_ms),
            strangers: menwei_core::stranger::Strangers::new(menwei_core::stranger::StrangerConfig {
                repeat: matching.stranger_repeat,
                window_ms: matching.stranger_window_ms,
                join: matching.stranger_join,
            }),
            matching,
            cameras: (0..cameras)
                .map(|_| CameraTracks {
                    faces: Tracker::new(0.3, 5),
                    plates: Tracker::new(0.2, 5),
                    face_tracks: HashMap::new(),
                    plate_tracks: HashMap::new(),
                    last_faces: Vec::new(),
                    last_face_tracks: Vec::new(),
                    last_plates: Vec::new(),
                    last_plate_tracks: Vec::new(),
                })
                .collect(),
            events,
            snapshots: None,
            refused: Arc::default(),
            decisions: Vec::new(),
        }
    }

    /// Counts refused face shots into `counter` (the daemon's /metrics reads it).
    pub fn with_refusal_counter(mut self, counter: Arc<crate::hooks::FacesRefused>) -> Self {
        self.refused = counter;
        self
    }

    /// Keeps the picture behind each access and security event.
    pub fn with_snapshots(mut self, s: crate::snapshots::Snapshots) -> Self {
        self.snapshots = Some(s);
        self
    }

    /// The embedder the recogniser runs (whose templates it matches).
    pub fn embedder_kind(&self) -> menwei_vision::embed::EmbedderKind {
        self.embedder.kind()
    }

    /// New templates and vehicles after an enrolment, an erasure or a sync from central (the
    /// models' digests stay those of start-up).
    pub fn set_known(&mut self, known: Known) {
        let models = std::mem::take(&mut self.known.models);
        self.known = Known { models, ..known };
    }

    fn face_rule(&self) -> FaceRule {
        FaceRule { threshold: self.matching.face_threshold, margin: self.matching.face_margin }
    }

    #[allow(clippy::too_many_arguments)]
    fn emit(
        &mut self,
        frame: RgbView<'_>,
        cam: &Camera,
        kind: EventKind,
        decision: Option<bool>,
        reason: &str,
        subject: Subject,
        scores: &[(&str, f32)],
    ) {
        self.decisions.push(GateDecision {
            camera: cam.capture.id.to_string(),
            kind: kind.name(),
            reason: reason.to_owned(),
            subject: subject_key(&subject),
        });
        let Some(events) = &self.events else { return };
        let draft = Draft {
            gate: cam.gate.clone(),
            camera: Some(cam.capture.id.to_string()),
            direction: cam.direction,
            subject: Some(subject),
            decision: decision.map(|g| if g { "granted" } else { "denied" }.to_owned()),
            reason: Some(reason.to_owned()),
            scores: scores.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
            models: self.known.models.clone(),
        };
        match events.emit(kind, draft) {
            Ok(seq) => {
                if let Some(s) = &self.snapshots
                    && let Err(e) = s.save(seq, frame)
                {
                    warn!(camera = %cam.capture.id, seq, "cannot keep the snapshot: {e}");
                }
            }
            Err(e) => warn!(camera = %cam.capture.id, "cannot commit an access event: {e}"),
        }
    }

    /// Faces detected in one analysed frame of camera `i`. With `full` (the frame's
    /// full-resolution picture), each face is embedded from it ([`FineCrop`]).
    pub fn faces(
        &mut self,
        i: usize,
        cam: &Camera,
        frame: RgbView<'_>,
        full: Option<&FullFrame>,
        faces: &[FaceDetection],
        now_ms: i64,
    ) -> anyhow::Result<()> {
        let boxes: Vec<BoxXyxy> = faces.iter().map(|f| f.bbox).collect();
        let tracking = profile::enter(Stage::Tracking);
        let update = self.cameras[i].faces.update(&boxes);
        drop(tracking);
        let c = &mut self.cameras[i];
        c.last_faces = faces.to_vec();
        c.last_face_tracks = update.assigned.iter().map(|(t, _)| *t).collect();
        let rule = self.face_rule();
        for id in &update.ended {
            // A track that left undecided, with shots that match nobody, is a stranger's.
            if let Some(t) = self.cameras[i].face_tracks.remove(id)
                && let Some(fused) = t.ended(&self.known.templates, rule)
            {
                self.stranger(frame, cam, &fused, now_ms);
            }
        }
        let mut to_embed = Vec::new();
        for (face, &(track, _)) in faces.iter().zip(&update.assigned) {
            if !self.cameras[i].face_tracks.entry(track).or_default().wants_shot() {
                continue;
            }
            let fine = full.and_then(|f| FineCrop::around(f, (frame.width(), frame.height()), face.bbox));
            let q = match &fine {
                Some(c) => self.embedder.quality(c.view(), &fine_face(c, face)),
                None => self.embedder.quality(frame, face),
            };
            match self.matching.face_quality.check(&q) {
                Ok(()) => to_embed.push((track, face.clone(), q.overall * face.bbox.area().sqrt(), fine)),
                Err(issue) => {
                    // Refused, with its reason: the guard uses the card, QR code or plate.
                    debug!(camera = %cam.capture.id, track, "face shot refused: {issue}");
                    let mut refused = self.refused.lock().unwrap_or_else(|e| e.into_inner());
                    *refused.entry((cam.capture.id.clone(), issue.reason())).or_default() += 1;
                }
            }
        }
        if to_embed.is_empty() {
            return Ok(());
        }
        // Faces in the analysed frame go in one batch; each face read from the full picture
        // has a crop of its own.
        let batch: Vec<FaceDetection> = to_embed.iter().filter(|t| t.3.is_none()).map(|t| t.1.clone()).collect();
        let mut in_frame = if batch.is_empty() { Vec::new() } else { self.embedder.embed(frame, &batch)? }.into_iter();
        let mut shots = Vec::with_capacity(to_embed.len());
        for (_, face, _, fine) in &to_embed {
            let shot = match fine {
                Some(c) => self.embedder.embed(c.view(), &[fine_face(c, face)])?.pop(),
                None => in_frame.next(),
            };
            shots.push(shot.expect("one shot per face"));
        }
        for ((track, _, weight, _), shot) in to_embed.into_iter().zip(shots) {
            let matching = profile::enter(Stage::Matching);
            let t = self.cameras[i].face_tracks.get_mut(&track).expect("track exists");
            let verdict = t.add_shot(&shot.embedding.0[..], weight, &self.known.templates, rule);
            drop(matching);
            match verdict {
                FaceVerdict::Pending => {}
                FaceVerdict::Resident { owner, score, margin } => {
                    let resident = self.known.residents[owner as usize].clone();
                    self.resident(frame, cam, resident, score, margin, now_ms);
                }
                FaceVerdict::Unknown { fused } => {
                    // Unknown: no access decision (the person may badge in), but a sighting.
                    debug!(camera = %cam.capture.id, track, "face track unknown after {} shots", t.shots());
                    if let Some(fused) = fused {
                        self.stranger(frame, cam, &fused, now_ms);
                    }
                }
            }
        }
        Ok(())
    }

    /// A face track named `resident`: once per passage, an access decision.
    fn resident(&mut self, frame: RgbView<'_>, cam: &Camera, resident: String, score: f32, margin: f32, now_ms: i64) {
        if !self.new_passage(cam, &format!("r:{resident}"), now_ms) {
            return;
        }
        let d = decide_resident(!self.known.suspended.contains(&resident));
        self.emit(
            frame,
            cam,
            d.kind,
            Some(d.granted),
            d.reason,
            Subject::Resident { resident_ref: resident, household_ref: None },
            &[("face_cosine", score), ("face_margin", margin)],
        );
    }

    /// Whether `subject` at this camera's gate (or the camera, without a gate) starts a new
    /// passage, and so deserves an event.
    fn new_passage(&mut self, cam: &Camera, subject: &str, now_ms: i64) -> bool {
        let gate = cam.gate.clone().unwrap_or_else(|| cam.capture.id.to_string());
        self.retrigger.allow(&gate, subject, now_ms)
    }

    fn stranger(&mut self, frame: RgbView<'_>, cam: &Camera, fused: &[f32], now_ms: i64) {
        let matching = profile::enter(Stage::Matching);
        let sighting = self.strangers.sighting(fused, now_ms);
        drop(matching);
        if let Some(r) = sighting {
            self.emit(
                frame,
                cam,
                EventKind::RepeatStranger,
                None,
                "repeat_stranger",
                Subject::UnknownFace { cluster_ref: Some(r.cluster_ref) },
                &[("sightings", r.sightings as f32)],
            );
        }
    }

    /// Plates in one analysed frame of camera `i`.
    ///
    /// Plates are looked for within `region` (frame pixels) only; `None`: nowhere this frame.
    pub fn plates(
        &mut self,
        i: usize,
        cam: &Camera,
        frame: RgbView<'_>,
        full: Option<&FullFrame>,
        region: Option<menwei_core::geom::PixelRect>,
        now_ms: i64,
    ) -> anyhow::Result<()> {
        let Some(lpr) = self.lpr.as_mut() else { return Ok(()) };
        let mut detections = match region.and_then(|r| frame.crop(r).map(|v| (r, v))) {
            Some((r, crop)) => {
                let mut d = lpr.detect_in(crop, (frame.width(), frame.height()))?;
                let (dx, dy) = (r.x as f32, r.y as f32);
                for det in &mut d {
                    det.bbox = det.bbox.translate(dx, dy);
                    for c in &mut det.corners {
                        *c = c.translate(dx, dy);
                    }
                }
                d
            }
            None => Vec::new(),
        };
        let (fw, fh) = (frame.width(), frame.height());
        detections.retain(|d| cam.in_zone(d.bbox.center(), fw, fh));
        self.plates_found(i, cam, frame, full, detections, now_ms)
    }

    /// Whether everything camera `i`'s last analysed frame showed is decided: a frame with the
    /// same picture would teach nothing new, so [`Recogniser::replay`] may stand in for it.
    pub fn settled(&self, i: usize) -> bool {
        let c = &self.cameras[i];
        c.last_face_tracks.iter().all(|t| c.face_tracks.get(t).is_some_and(FaceTrack::is_decided))
            && c.last_plate_tracks.iter().all(|t| c.plate_tracks.get(t).is_some_and(PlateTrack::is_decided))
    }

    /// A frame of camera `i` that shows the same picture as the last analysed one: its
    /// detections go to the trackers again, without the models.
    pub fn replay(
        &mut self,
        i: usize,
        cam: &Camera,
        frame: RgbView<'_>,
        full: Option<&FullFrame>,
        now_ms: i64,
    ) -> anyhow::Result<()> {
        if cam.faces {
            let faces = std::mem::take(&mut self.cameras[i].last_faces);
            self.faces(i, cam, frame, full, &faces, now_ms)?;
        }
        if cam.plates && self.lpr.is_some() {
            let plates = std::mem::take(&mut self.cameras[i].last_plates);
            self.plates_found(i, cam, frame, full, plates, now_ms)?;
        }
        Ok(())
    }

    /// Plates found in one analysed frame of camera `i`, in frame pixels and within its zones;
    /// each read from `full` when the frame has its full-resolution picture.
    fn plates_found(
        &mut self,
        i: usize,
        cam: &Camera,
        frame: RgbView<'_>,
        full: Option<&FullFrame>,
        detections: Vec<PlateDetection>,
        now_ms: i64,
    ) -> anyhow::Result<()> {
        let Some(lpr) = self.lpr.as_mut() else { return Ok(()) };
        // Plates are tracked by their detections, and read only while their track is
        // undecided: once per passage, not on every frame.
        let boxes: Vec<BoxXyxy> = detections.iter().map(|d| d.bbox).collect();
        let tracking = profile::enter(Stage::Tracking);
        let update = self.cameras[i].plates.update(&boxes);
        drop(tracking);
        let c = &mut self.cameras[i];
        c.last_plate_tracks = update.assigned.iter().map(|(t, _)| *t).collect();
        for id in &update.ended {
            c.plate_tracks.remove(id);
        }
        let mut reads = Vec::new();
        for (det, &(track, _)) in detections.iter().zip(&update.assigned) {
            if self.cameras[i].plate_tracks.get(&track).is_some_and(PlateTrack::is_decided) {
                continue;
            }
            // Read in the whole frame (or the full picture around it): a plate cut by the
            // region's edge is read whole.
            let outcome = match full.and_then(|f| FineCrop::around(f, (frame.width(), frame.height()), det.bbox)) {
                Some(c) => lpr.read_quad(c.view(), det.corners.map(|p| c.point(p)))?,
                None => lpr.read_quad(frame, det.corners)?,
            };
            if let PlateOutcome::Read(p) = outcome {
                reads.push((track, p));
            }
        }
        self.cameras[i].last_plates = detections;
        for (track, read) in reads {
            let read = PlateRead {
                text: read.plate.to_string(),
                char_confidences: read.char_confidences,
                color: name_of(&read.color),
                layout: name_of(&read.layout),
                readers_agree: read.readers_agree,
                confidence: read.confidence,
            };
            let tracking = profile::enter(Stage::Tracking);
            let verdict = self.cameras[i].plate_tracks.entry(track).or_default().add_read(read);
            drop(tracking);
            if let PlateVerdict::Decided(plate) = verdict {
                self.vehicle(frame, cam, plate, now_ms);
            }
        }
        Ok(())
    }

    /// A plate track decided on `plate`: matched against the register and, once per passage,
    /// an access decision.
    fn vehicle(&mut self, frame: RgbView<'_>, cam: &Camera, plate: VotedPlate, now_ms: i64) {
        let matching = profile::enter(Stage::Matching);
        let m = match_plate(
            &plate.text,
            self.known.vehicles.iter().map(|v| v.plate.as_str()),
            self.matching.plate_max_distance,
        );
        drop(matching);
        let (entry, match_kind, distance) = match &m {
            PlateMatch::Exact(p) => (self.known.vehicles.iter().find(|v| &v.plate == p), Some("exact"), 0.0),
            PlateMatch::Fuzzy { plate, distance } => {
                (self.known.vehicles.iter().find(|v| &v.plate == plate), Some("fuzzy"), *distance)
            }
            _ => (None, None, 0.0),
        };
        let d = decide_vehicle(&m, entry, now_ms);
        let vehicle_ref = entry.map(|e| e.plate.clone());
        if !self.new_passage(cam, &format!("p:{}", plate.text), now_ms) {
            return;
        }
        let scores =
            [("plate_agreement", plate.agreement()), ("plate_distance", distance), ("plate_reads", plate.reads as f32)];
        self.emit(
            frame,
            cam,
            d.kind,
            Some(d.granted),
            d.reason,
            Subject::Vehicle {
                plate: plate.text,
                plate_color: Some(plate.color),
                layout: Some(plate.layout),
                char_confidences: plate.shares,
                match_kind: match_kind.map(str::to_owned),
                vehicle_ref,
            },
            &scores,
        );
    }
}

/// The serialised (snake_case) name of a unit enum value.
/// A face detection in a [`FineCrop`]'s pixels.
fn fine_face(crop: &FineCrop, face: &FaceDetection) -> FaceDetection {
    FaceDetection { bbox: crop.bbox(face.bbox), score: face.score, landmarks: face.landmarks.map(|p| crop.point(p)) }
}

fn name_of<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

fn subject_key(s: &Subject) -> String {
    match s {
        Subject::Resident { resident_ref, .. } => resident_ref.clone(),
        Subject::Vehicle { plate, .. } => plate.clone(),
        Subject::UnknownFace { cluster_ref } => cluster_ref.clone().unwrap_or_default(),
        Subject::Camera { state, .. } => state.clone(),
    }
}
