//! Camera health: state changes and the picture's tampering, as health events.
//!
//! The capture threads report each camera's state to [`Health::sink`]. A failure is not an
//! outage at once: a stream that ends and reconnects within [`OFFLINE_GRACE`] (a looping clip,
//! a camera's own restart) opens no work order. [`OfflineWatch`] keeps the deadlines; one
//! timer thread (`camera-health`) asks it which have passed. The watch itself is pure and
//! takes the time as an argument, so its rules are tested below by moving a clock, not by
//! sleeping through the grace.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use menwei_capture::{CameraState, StateSink};
use menwei_core::clock::Clock;
use menwei_core::event::{EventKind, Subject};
use menwei_core::shutdown;
use menwei_core::tamper::{TamperChange, TamperDetector};
use tracing::{info, warn};

use crate::config::EdgeConfig;
use crate::events::{Draft, EventSink};

/// How long a camera must stay failed before it is reported offline.
pub const OFFLINE_GRACE: Duration = Duration::from_secs(10);
/// How often the timer looks for passed deadlines.
const TICK: Duration = Duration::from_millis(250);

/// A health event to commit.
#[derive(Clone, Debug, PartialEq)]
pub struct HealthReport {
    pub camera: String,
    pub kind: EventKind,
    /// The camera's state, as named in the event's subject.
    pub state: &'static str,
    pub detail: Option<String>,
}

/// Which cameras are in trouble and when a failure becomes an outage: offline (failed for the
/// grace), stalled (at once), and back online after either. Connecting and a first streaming
/// are not events.
#[derive(Debug)]
pub struct OfflineWatch {
    grace: Duration,
    /// Reported offline or stalled: the next streaming is reported online.
    reported: HashSet<String>,
    /// Failed, not yet reported: when it will be, and why it failed.
    pending: HashMap<String, (Instant, String)>,
}

impl OfflineWatch {
    pub fn new(grace: Duration) -> Self {
        Self { grace, reported: HashSet::new(), pending: HashMap::new() }
    }

    /// A camera's new state at `now`; what to report at once, if anything.
    pub fn observe(&mut self, camera: &str, state: &CameraState, now: Instant) -> Option<HealthReport> {
        match state {
            CameraState::Failed { reason, .. }
                if !self.reported.contains(camera) && !self.pending.contains_key(camera) =>
            {
                self.pending.insert(camera.to_owned(), (now + self.grace, reason.clone()));
                None
            }
            // No video: no grace, since waiting will not bring it.
            CameraState::Unusable { reason, .. } if self.reported.insert(camera.to_owned()) => {
                self.pending.remove(camera);
                Some(report(camera, EventKind::CameraOffline, "unusable", Some(reason.clone())))
            }
            CameraState::Stalled { after } if self.reported.insert(camera.to_owned()) => {
                self.pending.remove(camera);
                Some(report(camera, EventKind::CameraStalled, "stalled", Some(format!("no frame for {after:?}"))))
            }
            CameraState::Streaming => {
                // A failure shorter than the grace is forgotten; a reported one is over.
                self.pending.remove(camera);
                self.reported.remove(camera).then(|| report(camera, EventKind::CameraOnline, "streaming", None))
            }
            _ => None,
        }
    }

    /// The failures whose grace has run out by `now`: reported offline, once.
    pub fn due(&mut self, now: Instant) -> Vec<HealthReport> {
        let passed: Vec<String> =
            self.pending.iter().filter(|(_, (deadline, _))| *deadline <= now).map(|(c, _)| c.clone()).collect();
        let mut reports = Vec::new();
        for camera in passed {
            if let Some((_, reason)) = self.pending.remove(&camera) {
                self.reported.insert(camera.clone());
                reports.push(report(&camera, EventKind::CameraOffline, "failed", Some(reason)));
            }
        }
        reports.sort_by(|a, b| a.camera.cmp(&b.camera));
        reports
    }
}

fn report(camera: &str, kind: EventKind, state: &'static str, detail: Option<String>) -> HealthReport {
    HealthReport { camera: camera.to_owned(), kind, state, detail }
}

/// The daemon's camera health: states for the heartbeat and `/readyz`, and health events.
#[derive(Debug)]
pub struct Health {
    watch: Mutex<OfflineWatch>,
    events: Option<Arc<EventSink>>,
    /// Camera id -> its gate.
    gates: HashMap<String, Option<String>>,
    /// Camera id -> its current state's name.
    states: Arc<Mutex<BTreeMap<String, String>>>,
    clock: Arc<dyn Clock>,
}

impl Health {
    pub fn new(
        cfg: &EdgeConfig,
        events: Option<Arc<EventSink>>,
        states: Arc<Mutex<BTreeMap<String, String>>>,
        clock: Arc<dyn Clock>,
    ) -> Arc<Self> {
        Arc::new(Self {
            watch: Mutex::new(OfflineWatch::new(OFFLINE_GRACE)),
            events,
            gates: cfg.cameras.iter().map(|c| (c.capture.id.to_string(), c.gate.clone())).collect(),
            states,
            clock,
        })
    }

    /// What the capture threads call on every state change.
    pub fn sink(self: &Arc<Self>) -> StateSink {
        let health = self.clone();
        Arc::new(move |id, state| health.observe(id, state))
    }

    fn observe(&self, id: &str, state: &CameraState) {
        match state {
            CameraState::Failed { reason, retry_in } => warn!(camera = %id, %reason, ?retry_in, "camera failed"),
            CameraState::Unusable { reason, recheck_in } => {
                warn!(camera = %id, %reason, ?recheck_in, "camera unusable")
            }
            other => info!(camera = %id, state = ?other, "camera state"),
        }
        self.states.lock().unwrap_or_else(|e| e.into_inner()).insert(id.to_owned(), state.name().to_owned());
        if self.events.is_none() {
            return;
        }
        let now = self.clock.now();
        let report = self.watch.lock().unwrap_or_else(|e| e.into_inner()).observe(id, state, now);
        if let Some(r) = report {
            self.commit(r);
        }
    }

    /// Commits the offline reports whose grace has passed.
    pub fn tick(&self) {
        let now = self.clock.now();
        let due = self.watch.lock().unwrap_or_else(|e| e.into_inner()).due(now);
        due.into_iter().for_each(|r| self.commit(r));
    }

    /// The timer: ticks until `stop`.
    pub fn spawn_timer(self: &Arc<Self>, stop: shutdown::Receiver) -> std::io::Result<std::thread::JoinHandle<()>> {
        let health = self.clone();
        std::thread::Builder::new().name("camera-health".into()).spawn(move || {
            while !stop.wait_for(TICK) {
                health.tick();
            }
        })
    }

    fn commit(&self, r: HealthReport) {
        let Some(events) = &self.events else { return };
        let draft = Draft {
            gate: self.gates.get(&r.camera).cloned().flatten(),
            camera: Some(r.camera.clone()),
            subject: Some(Subject::Camera { state: r.state.to_owned(), detail: r.detail }),
            ..Default::default()
        };
        if let Err(e) = events.emit(r.kind, draft) {
            warn!(camera = %r.camera, "cannot commit a health event: {e}");
        }
    }
}

/// Commits the health event for a picture that changed size mid-stream.
pub fn format_changed(cam: &crate::config::Camera, from: (u32, u32), to: (u32, u32), events: &EventSink) {
    let camera = cam.capture.id.to_string();
    let detail = format!("{}x{} -> {}x{}", from.0, from.1, to.0, to.1);
    info!(camera, %detail, "the camera's picture changed size");
    let draft = Draft {
        gate: cam.gate.clone(),
        camera: Some(camera),
        subject: Some(Subject::Camera { state: "streaming".to_owned(), detail: Some(detail) }),
        ..Default::default()
    };
    if let Err(e) = events.emit(EventKind::CameraFormatChanged, draft) {
        warn!("cannot commit a health event: {e}");
    }
}

/// Watches a camera's picture for tampering and commits a health event on each change.
pub fn tamper_check(
    detector: &mut TamperDetector,
    view: menwei_core::image::RgbView<'_>,
    now_ms: i64,
    cam: &crate::config::Camera,
    events: &EventSink,
) {
    let Some(change) = detector.observe(view, now_ms) else { return };
    let (kind, state, detail) = match change {
        TamperChange::Started(t) => (EventKind::CameraTampered, "tampered", t.name()),
        TamperChange::Ended(t) => (EventKind::CameraOnline, "streaming", t.name()),
    };
    let camera = cam.capture.id.to_string();
    warn!(camera, kind = kind.name(), detail, "camera picture");
    let draft = Draft {
        gate: cam.gate.clone(),
        camera: Some(camera),
        subject: Some(Subject::Camera { state: state.to_owned(), detail: Some(detail.to_owned()) }),
        ..Default::default()
    };
    if let Err(e) = events.emit(kind, draft) {
        warn!("cannot commit a health event: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use menwei_core::clock::ManualClock;

    fn failed(why: &str) -> CameraState {
        CameraState::Failed { reason: why.into(), retry_in: Duration::from_secs(1) }
    }

    fn kinds(r: &[HealthReport]) -> Vec<EventKind> {
        r.iter().map(|r| r.kind).collect()
    }

    #[test]
    fn a_blip_shorter_than_the_grace_is_not_an_outage() {
        let (clock, mut w) = (ManualClock::new(), OfflineWatch::new(OFFLINE_GRACE));
        assert_eq!(w.observe("gate", &CameraState::Streaming, clock.now()), None, "a first streaming");
        assert_eq!(w.observe("gate", &failed("eos"), clock.now()), None);
        clock.advance(OFFLINE_GRACE - Duration::from_millis(1));
        assert!(w.due(clock.now()).is_empty());
        assert_eq!(w.observe("gate", &CameraState::Streaming, clock.now()), None, "back within the grace");
        clock.advance(Duration::from_secs(60));
        assert!(w.due(clock.now()).is_empty(), "the forgotten failure never comes due");
    }

    #[test]
    fn a_failure_past_the_grace_is_reported_once_with_its_first_reason_then_online() {
        let (clock, mut w) = (ManualClock::new(), OfflineWatch::new(OFFLINE_GRACE));
        w.observe("gate", &failed("connection refused"), clock.now());
        clock.advance(Duration::from_secs(4));
        assert_eq!(w.observe("gate", &failed("timeout"), clock.now()), None, "a retry keeps the first deadline");
        clock.advance(Duration::from_secs(6));
        let due = w.due(clock.now());
        assert_eq!(
            due,
            vec![HealthReport {
                camera: "gate".into(),
                kind: EventKind::CameraOffline,
                state: "failed",
                detail: Some("connection refused".into())
            }]
        );
        w.observe("gate", &failed("still refused"), clock.now());
        clock.advance(Duration::from_secs(60));
        assert!(w.due(clock.now()).is_empty(), "reported once");
        let back = w.observe("gate", &CameraState::Streaming, clock.now()).unwrap();
        assert_eq!(back.kind, EventKind::CameraOnline);
        assert_eq!(w.observe("gate", &CameraState::Streaming, clock.now()), None);
    }

    #[test]
    fn a_stall_is_reported_at_once_and_cameras_are_watched_apart() {
        let (clock, mut w) = (ManualClock::new(), OfflineWatch::new(OFFLINE_GRACE));
        w.observe("north", &failed("refused"), clock.now());
        let stalled = w.observe("south", &CameraState::Stalled { after: Duration::from_secs(20) }, clock.now());
        assert_eq!(stalled.map(|r| r.kind), Some(EventKind::CameraStalled));
        assert_eq!(w.observe("south", &CameraState::Stalled { after: Duration::from_secs(20) }, clock.now()), None);
        // A stalled camera that then fails is already reported: no offline on top.
        w.observe("south", &failed("eos"), clock.now());
        clock.advance(OFFLINE_GRACE);
        let due = w.due(clock.now());
        assert_eq!(kinds(&due), vec![EventKind::CameraOffline]);
        assert_eq!(due[0].camera, "north");
    }

    #[test]
    fn a_camera_without_video_is_reported_at_once_not_after_the_grace() {
        let (clock, mut w) = (ManualClock::new(), OfflineWatch::new(OFFLINE_GRACE));
        w.observe("gate", &failed("refused"), clock.now());
        let unusable = CameraState::Unusable { reason: "no video stream, only audio (PCMA)".into(), recheck_in: None };
        let r = w.observe("gate", &unusable, clock.now()).expect("reported at once");
        assert_eq!((r.kind, r.state), (EventKind::CameraOffline, "unusable"));
        assert_eq!(r.detail.as_deref(), Some("no video stream, only audio (PCMA)"));
        clock.advance(OFFLINE_GRACE);
        assert!(w.due(clock.now()).is_empty(), "the earlier failure is not reported on top");
        assert_eq!(w.observe("gate", &unusable, clock.now()), None, "once");
        assert_eq!(
            w.observe("gate", &CameraState::Streaming, clock.now()).map(|r| r.kind),
            Some(EventKind::CameraOnline)
        );
    }
}
