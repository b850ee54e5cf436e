//! From detections to decisions: tracks, best shots, matching, rules, events.
//!
//! Per camera, faces and plates are tracked across analysed frames. A face track embeds its
//! best shots (at most three, those with usable quality) and is decided as soon as two shots
//! agree on a resident, or on the fused embedding (weighted by quality and size) after three.
//! A plate track collects reads and votes per character; it is decided when two reads agree,
//! after four, or at once on a sure read (both readers agree, every character at 0.95 or more),
//! so that the barrier need not wait for a second frame. Each decision passes the access rules
//! and, once per passage and gate, becomes an event. A face that matches nobody is not a
//! denial: face recognition is never the only way in.
//!
//! Each camera keeps its last analysed frame's detections. When the motion gate says a frame
//! shows the same picture as the one before and every track in view is already decided,
//! [`Recogniser::replay`] feeds those detections to the trackers again instead of running the
//! models: tracks live on while their objects stay, and end when the objects have left.

use std::collections::HashMap;
use std::sync::Arc;

use menwei_core::event::{EventClass, Subject};
use menwei_core::geom::BoxXyxy;
use menwei_core::image::RgbView;
use menwei_core::matcher::{Decision, TemplateMatrix};
use menwei_core::plate::{PlateMatch, match_plate};
use menwei_core::profile::{self, Stage};
use menwei_core::rules::{VehicleEntry, decide_resident, decide_vehicle};
use menwei_core::track::{Retrigger, TrackId, Tracker, vote_plate};
use menwei_vision::embed::{Embedding, FaceEmbedder};
use menwei_vision::face::FaceDetection;
use menwei_vision::lpr::{Lpr, PlateOutcome};
use menwei_vision::plate::PlateDetection;
use tracing::{debug, warn};

use crate::config::{Camera, Matching};
use crate::events::{Draft, EventSink};

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

#[derive(Debug, Default)]
struct FaceTrack {
    shots: Vec<(Embedding, f32)>,
    votes: Vec<Option<u64>>,
    decided: bool,
}

#[derive(Debug, Default)]
struct PlateTrack {
    reads: Vec<(String, Vec<f32>, String, String)>,
    decided: bool,
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
    /// Decisions made, for the run summary: (camera, kind, reason, subject).
    pub decisions: Vec<(String, String, String, String)>,
}

const MAX_SHOTS: usize = 3;
/// A read on which both readers' own best proposals agree, with no character below this
/// confidence, decides its plate track alone, so the barrier does not wait for a second frame.
/// On the EasyPR photos (`menwei-edge analyze`), 106 of 110 such reads of the photo's plate were
/// right, against 17 of 21 other reads. The four wrong ones (湘 read as 浙, two final D read as
/// 0, a label with the letter O) are what a second frame of the same view reads again; a second
/// read guards against a frame spoilt by blur or a partial view, which does not read as sure.
const SURE_READ: f32 = 0.95;
/// Shots below this overall quality are not worth embedding.
const MIN_SHOT_QUALITY: f32 = 0.05;

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
                ..Default::default()
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
            decisions: Vec::new(),
        }
    }

    /// Keeps the picture behind each access and security event.
    pub fn with_snapshots(mut self, s: crate::snapshots::Snapshots) -> Self {
        self.snapshots = Some(s);
        self
    }

    /// New templates and vehicles after an enrolment, an erasure or a sync from central.
    pub fn set_known(
        &mut self,
        templates: TemplateMatrix,
        residents: Vec<String>,
        vehicles: Vec<VehicleEntry>,
        suspended: std::collections::HashSet<String>,
    ) {
        self.known.templates = templates;
        self.known.residents = residents;
        self.known.vehicles = vehicles;
        self.known.suspended = suspended;
    }

    #[allow(clippy::too_many_arguments)]
    fn emit(
        &mut self,
        frame: RgbView<'_>,
        cam: &Camera,
        kind: &str,
        decision: Option<bool>,
        reason: &str,
        subject: Subject,
        scores: &[(&str, f32)],
    ) {
        self.decisions.push((cam.capture.id.to_string(), kind.to_owned(), reason.to_owned(), subject_key(&subject)));
        let Some(events) = &self.events else { return };
        let class = if kind.starts_with("security.") { EventClass::Security } else { EventClass::Access };
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
        match events.emit(class, kind, draft) {
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

    /// Faces detected in one analysed frame of camera `i`.
    pub fn faces(
        &mut self,
        i: usize,
        cam: &Camera,
        frame: RgbView<'_>,
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
        for id in &update.ended {
            // A track that left undecided, with shots that match nobody, is a stranger's.
            if let Some(t) = self.cameras[i].face_tracks.remove(id)
                && !t.decided
                && let Some(fused) = Embedding::fuse(t.shots.iter().map(|(e, w)| (e, *w)))
                && matches!(
                    self.known.templates.decide(&fused.0[..], self.matching.face_threshold, self.matching.face_margin),
                    Decision::Unknown { .. }
                )
            {
                self.stranger(frame, cam, &fused, now_ms);
            }
        }
        let mut to_embed = Vec::new();
        for (face, &(track, _)) in faces.iter().zip(&update.assigned) {
            let t = self.cameras[i].face_tracks.entry(track).or_default();
            if t.decided || t.shots.len() >= MAX_SHOTS {
                continue;
            }
            let q = self.embedder.quality(frame, face);
            if q.overall >= MIN_SHOT_QUALITY {
                to_embed.push((track, face.clone(), q.overall * face.bbox.area().sqrt()));
            }
        }
        if to_embed.is_empty() {
            return Ok(());
        }
        let batch: Vec<FaceDetection> = to_embed.iter().map(|t| t.1.clone()).collect();
        let shots = self.embedder.embed(frame, &batch)?;
        for ((track, _, weight), shot) in to_embed.into_iter().zip(shots) {
            let matching = profile::enter(Stage::Matching);
            let single = self.known.templates.decide(
                &shot.embedding.0[..],
                self.matching.face_threshold,
                self.matching.face_margin,
            );
            let t = self.cameras[i].face_tracks.get_mut(&track).expect("track exists");
            t.votes.push(match single {
                Decision::Match { owner, .. } => Some(owner),
                Decision::Unknown { .. } => None,
            });
            t.shots.push((shot.embedding, weight));
            // Two shots naming the same resident decide at once; otherwise the fused shots do.
            let agreeing = t.votes.iter().flatten().fold(HashMap::new(), |mut m, o| {
                *m.entry(*o).or_insert(0) += 1;
                m
            });
            let two = agreeing.iter().find(|(_, n)| **n >= 2).map(|(o, _)| *o);
            let fused = Embedding::fuse(t.shots.iter().map(|(e, w)| (e, *w)));
            let decision = fused.map(|f| {
                self.known.templates.decide(&f.0[..], self.matching.face_threshold, self.matching.face_margin)
            });
            drop(matching);
            let verdict = match (two, decision) {
                (Some(owner), Some(Decision::Match { owner: o2, score, margin })) if owner == o2 => {
                    Some((owner, score, margin))
                }
                (None, Some(Decision::Match { owner, score, margin })) if t.shots.len() >= MAX_SHOTS => {
                    Some((owner, score, margin))
                }
                _ => None,
            };
            if let Some((owner, score, margin)) = verdict {
                t.decided = true;
                let resident = self.known.residents[owner as usize].clone();
                if self.new_passage(cam, &format!("r:{resident}"), now_ms) {
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
            } else if t.shots.len() >= MAX_SHOTS {
                // Unknown: no access decision (the person may badge in), but a sighting.
                t.decided = true;
                debug!(camera = %cam.capture.id, track, "face track unknown after {MAX_SHOTS} shots");
                if let Some(fused) = Embedding::fuse(t.shots.iter().map(|(e, w)| (e, *w))) {
                    self.stranger(frame, cam, &fused, now_ms);
                }
            }
        }
        Ok(())
    }

    /// Whether `subject` at this camera's gate (or the camera, without a gate) starts a new
    /// passage, and so deserves an event.
    fn new_passage(&mut self, cam: &Camera, subject: &str, now_ms: i64) -> bool {
        let gate = cam.gate.clone().unwrap_or_else(|| cam.capture.id.to_string());
        self.retrigger.allow(&gate, subject, now_ms)
    }

    fn stranger(&mut self, frame: RgbView<'_>, cam: &Camera, fused: &Embedding, now_ms: i64) {
        let matching = profile::enter(Stage::Matching);
        let sighting = self.strangers.sighting(&fused.0[..], now_ms);
        drop(matching);
        if let Some(r) = sighting {
            self.emit(
                frame,
                cam,
                "security.repeat_stranger",
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
        self.plates_found(i, cam, frame, detections, now_ms)
    }

    /// Whether everything camera `i`'s last analysed frame showed is decided: a frame with the
    /// same picture would teach nothing new, so [`Recogniser::replay`] may stand in for it.
    pub fn settled(&self, i: usize) -> bool {
        let c = &self.cameras[i];
        c.last_face_tracks.iter().all(|t| c.face_tracks.get(t).is_some_and(|t| t.decided))
            && c.last_plate_tracks.iter().all(|t| c.plate_tracks.get(t).is_some_and(|t| t.decided))
    }

    /// A frame of camera `i` that shows the same picture as the last analysed one: its
    /// detections go to the trackers again, without the models.
    pub fn replay(&mut self, i: usize, cam: &Camera, frame: RgbView<'_>, now_ms: i64) -> anyhow::Result<()> {
        if cam.faces {
            let faces = std::mem::take(&mut self.cameras[i].last_faces);
            self.faces(i, cam, frame, &faces, now_ms)?;
        }
        if cam.plates && self.lpr.is_some() {
            let plates = std::mem::take(&mut self.cameras[i].last_plates);
            self.plates_found(i, cam, frame, plates, now_ms)?;
        }
        Ok(())
    }

    /// Plates found in one analysed frame of camera `i`, in frame pixels and within its zones.
    fn plates_found(
        &mut self,
        i: usize,
        cam: &Camera,
        frame: RgbView<'_>,
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
            if self.cameras[i].plate_tracks.get(&track).is_some_and(|t| t.decided) {
                continue;
            }
            // Read in the whole frame: a plate cut by the region's edge is read whole.
            if let PlateOutcome::Read(p) = lpr.read_quad(frame, det.corners)? {
                reads.push((track, p));
            }
        }
        self.cameras[i].last_plates = detections;
        for (track, read) in &reads {
            let track = *track;
            let t = self.cameras[i].plate_tracks.entry(track).or_default();
            if t.decided {
                continue;
            }
            t.reads.push((
                read.plate.to_string(),
                read.char_confidences.clone(),
                name_of(&read.color),
                name_of(&read.layout),
            ));
            let tracking = profile::enter(Stage::Tracking);
            let voted = vote_plate(t.reads.iter().map(|r| (r.0.as_str(), r.1.as_slice())));
            drop(tracking);
            let (text, shares) = match voted {
                Some(v) => v,
                None => continue,
            };
            let agree = t.reads.iter().filter(|r| r.0 == text).count();
            // Both readers' own best reads agreeing, every character sure: as good as two reads.
            let sure = read.readers_agree && read.confidence >= SURE_READ && read.plate.as_str() == text;
            if agree < 2 && t.reads.len() < 4 && !sure {
                continue;
            }
            t.decided = true;
            let reads = t.reads.len() as f32;
            let (color, layout) =
                t.reads.iter().rev().find(|r| r.0 == text).map(|r| (r.2.clone(), r.3.clone())).unwrap_or_default();
            let matching = profile::enter(Stage::Matching);
            let m = match_plate(
                &text,
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
            if self.new_passage(cam, &format!("p:{text}"), now_ms) {
                let confidence = shares.iter().copied().fold(1.0f32, f32::min);
                self.emit(
                    frame,
                    cam,
                    d.kind,
                    Some(d.granted),
                    d.reason,
                    Subject::Vehicle {
                        plate: text,
                        plate_color: Some(color),
                        layout: Some(layout),
                        char_confidences: shares,
                        match_kind: match_kind.map(str::to_owned),
                        vehicle_ref,
                    },
                    &[("plate_agreement", confidence), ("plate_distance", distance), ("plate_reads", reads)],
                );
            }
        }
        Ok(())
    }
}

/// The serialised (snake_case) name of a unit enum value.
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
