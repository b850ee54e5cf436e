//! What the inference thread shares with the rest of the daemon.
//!
//! The pipeline owns its cameras and models; the relay, the HTTP endpoints and the heartbeat
//! see them only through [`Hooks`]: where events go, each camera's state and counters, the
//! register's generation, the clock, and (for the benchmark) the per-stage CPU log.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use menwei_capture::FrameSource;
use menwei_core::clock::{Clock, SystemClock};
use menwei_core::frame::Frame;
use menwei_core::handoff::Latest;
use menwei_core::profile;
use serde::Serialize;

pub use crate::slot::FrameCounts;

/// What the rest of the daemon shares with the pipeline.
#[derive(Debug)]
pub struct Hooks {
    pub events: Option<Arc<crate::events::EventSink>>,
    /// Camera id -> its current state's name.
    pub camera_states: Arc<Mutex<BTreeMap<String, String>>>,
    /// The cameras' frame slots and counters, once started.
    pub sources: Arc<Mutex<Vec<SourceView>>>,
    /// Bumped when the register changed (an enrolment, a sync from central): the inference
    /// thread reloads templates and vehicles.
    pub register_generation: Arc<AtomicU64>,
    /// The register version last applied from central, for the heartbeat.
    pub register_version: Arc<AtomicU64>,
    /// Per-frame CPU by stage, for the benchmark harness (`run --profile`); `None`: not kept.
    pub stages: Option<Arc<StageLog>>,
    /// Per camera, what became of the frames the inference thread took (for /metrics).
    pub frame_counts: Arc<Mutex<Vec<CameraFrameCounts>>>,
    /// Deadlines and schedules are computed from this clock.
    pub clock: Arc<dyn Clock>,
    /// Face shots the gate's quality policy refused, by camera and reason (for /metrics).
    pub faces_refused: Arc<FacesRefused>,
}

/// Face shots refused by the quality policy: (camera id, reason) -> count.
pub type FacesRefused = Mutex<BTreeMap<(Arc<str>, &'static str), u64>>;

impl Default for Hooks {
    fn default() -> Self {
        Self {
            events: None,
            camera_states: Arc::default(),
            sources: Arc::default(),
            register_generation: Arc::default(),
            register_version: Arc::default(),
            stages: None,
            frame_counts: Arc::default(),
            clock: Arc::new(SystemClock),
            faces_refused: Arc::default(),
        }
    }
}

/// A camera's id and its [`FrameCounts`].
pub type CameraFrameCounts = (Arc<str>, Arc<FrameCounts>);

/// What the benchmark harness reads back from a run: the inference thread's CPU per stage for
/// every frame it took, and which frame each committed event came from.
#[derive(Debug, Default)]
pub struct StageLog {
    pub frames: Mutex<Vec<FrameStages>>,
    /// (event seq, arrival of the frame that led to it, end of that frame's analysis), times in
    /// microseconds since the Unix epoch: the profile file's `events`, read by the harness.
    pub events: Mutex<Vec<(u64, u64, u64)>>,
}

impl StageLog {
    /// Records the frame just handled, with the stage times since the last record.
    pub(crate) fn frame(&self, camera: usize, seq: u64, analysed: bool, region_share: f32) {
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
    frames: Arc<Latest<Frame>>,
    stats: Arc<menwei_capture::CameraStats>,
}

impl SourceView {
    pub fn of(s: &dyn FrameSource) -> Self {
        Self { id: s.id().clone(), frames: s.frames().clone(), stats: s.stats().clone() }
    }
}

impl FrameSource for SourceView {
    fn id(&self) -> &Arc<str> {
        &self.id
    }
    fn frames(&self) -> &Arc<Latest<Frame>> {
        &self.frames
    }
    fn stats(&self) -> &Arc<menwei_capture::CameraStats> {
        &self.stats
    }
    fn request_stop(&self) {}
}
