//! One camera as the inference thread schedules it: when it is due, and where the models look.
//!
//! A [`CameraSlot`] owns everything the scheduler keeps per camera: the camera itself, its
//! motion and tamper detectors, when it is next due by its `detect_fps`, when the models last
//! saw the whole frame and when something last moved, and what became of its frames. Given a
//! frame, [`CameraSlot::look`] says where the models look: the whole frame once per idle check,
//! the moving region otherwise, nowhere on a still scene, and nowhere on a settling picture
//! whose tracks are all decided (its last detections are replayed instead).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use menwei_capture::{Camera, FrameSource};
use menwei_core::frame::Frame;
use menwei_core::geom::PixelRect;
use menwei_core::image::RgbView;
use menwei_core::motion::MotionDetector;
use menwei_core::tamper::TamperDetector;
use serde::Serialize;

use crate::config;

/// With `idle_keyframes_only`, a camera on which nothing has moved for this long (or for its
/// idle check, when that is shorter) decodes keyframes only.
pub const IDLE_AFTER: Duration = Duration::from_secs(2);

/// How far apart in arrival a detect-stream frame and a main-stream picture may be and still
/// be read together (both streams come from one sensor over one network path; a camera's two
/// encoders deliver within a frame or two of each other).
pub const MAX_SKEW: Duration = Duration::from_millis(150);
/// How far apart by the camera's own clock (RTCP sender reports) the two pictures may be: a
/// camera stamps both encoders' frames from one sensor clock, so the same exposure carries the
/// same time on both streams, and the nearest main picture is at most half a main-stream frame
/// interval away (20 ms at 25 fps) when both streams run; 50 ms allows a 10 fps main stream.
pub const MAX_SENDER_SKEW: Duration = Duration::from_millis(50);
/// Main-stream pictures kept to pair with: each holds a decoder buffer.
const MAIN_RING: usize = 3;

/// A camera's main stream, when it detects on a sub-stream: the pictures recognition reads.
struct MainStream<S> {
    source: S,
    recent: VecDeque<Frame>,
    paired: u64,
    paired_by_clock: u64,
    unpaired: u64,
}

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

/// What a run did with one camera.
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
    /// With a detect stream: frames the inference thread took that had a main-stream picture
    /// close enough (by the camera's clock within [`MAX_SENDER_SKEW`], else by arrival within
    /// [`MAX_SKEW`]), how many of those were paired by the camera's clock, and those read from
    /// the detect frame itself (none was close enough).
    pub main_paired: u64,
    pub main_paired_by_clock: u64,
    pub main_unpaired: u64,
}

/// Where the models look at one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Look {
    /// Nothing moved and no idle check is due: the models rest.
    Still,
    /// A settling picture whose tracks are all decided: replay the last detections.
    Unchanged,
    /// The whole frame or the moving region (frame pixels).
    At(PixelRect),
}

/// The generic part of a camera the scheduler needs: a frame slot that may close.
pub trait Source {
    fn frames(&self) -> &Arc<menwei_core::handoff::Latest<Frame>>;
    /// Decode keyframes only (or everything again).
    fn set_idle(&self, idle: bool);
}

impl Source for Camera {
    fn frames(&self) -> &Arc<menwei_core::handoff::Latest<Frame>> {
        FrameSource::frames(self)
    }
    fn set_idle(&self, idle: bool) {
        Camera::set_idle(self, idle);
    }
}

/// One camera's scheduling state.
pub struct CameraSlot<S = Camera> {
    source: S,
    motion: MotionDetector,
    pub(crate) tamper: TamperDetector,
    period: Duration,
    next_due: Instant,
    /// When the models last saw the whole frame; `None`: not yet.
    last_whole: Option<Instant>,
    last_motion: Instant,
    pub(crate) counts: Arc<FrameCounts>,
    detect_total_ms: f64,
    summary: CameraSummary,
    /// The size of the last frame seen, to notice a change of profile.
    size: Option<(u32, u32)>,
    main: Option<MainStream<S>>,
}

impl<S> std::fmt::Debug for CameraSlot<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CameraSlot")
            .field("camera", &self.summary.camera)
            .field("period", &self.period)
            .field("next_due", &self.next_due)
            .finish_non_exhaustive()
    }
}

impl<S: Source> CameraSlot<S> {
    pub fn new(cfg: &config::Camera, source: S, now: Instant) -> Self {
        Self {
            source,
            motion: MotionDetector::new(Default::default()),
            tamper: TamperDetector::new(Default::default()),
            period: Duration::from_secs_f64(1.0 / cfg.detect_fps),
            next_due: now,
            last_whole: None,
            last_motion: now,
            counts: Arc::default(),
            detect_total_ms: 0.0,
            summary: CameraSummary { camera: cfg.capture.id.to_string(), ..Default::default() },
            size: None,
            main: None,
        }
    }

    /// Adds the camera's main stream: recognition reads from its pictures, and it decodes
    /// keyframes only while nothing moves on the detect stream.
    pub fn with_main(mut self, main: S) -> Self {
        self.main = Some(MainStream {
            source: main,
            recent: VecDeque::with_capacity(MAIN_RING),
            paired: 0,
            paired_by_clock: 0,
            unpaired: 0,
        });
        self
    }

    pub fn main_source(&self) -> Option<&S> {
        self.main.as_ref().map(|m| &m.source)
    }

    /// The main-stream picture nearest in time to `detect`, a detect-stream frame; `None`
    /// without a main stream or when none is close enough (recognition then reads the detect
    /// frame). When both streams carry the camera's clock (`sender_ns`), that decides, within
    /// [`MAX_SENDER_SKEW`]: network and decoder delays do not move it. Otherwise (no RTCP
    /// sender report yet, or a camera that sends none) the arrival times decide, within
    /// [`MAX_SKEW`].
    pub fn take_paired(&mut self, detect: &Frame) -> Option<Frame> {
        let m = self.main.as_mut()?;
        while let Some(f) = m.source.frames().try_take() {
            if m.recent.len() == MAIN_RING {
                m.recent.pop_front();
            }
            m.recent.push_back(f);
        }
        let usable = || m.recent.iter().enumerate().filter(|(_, f)| f.full.is_some());
        let apart = |a: u64, b: u64| Duration::from_nanos(a.abs_diff(b));
        let by_clock = detect.sender_ns.filter(|_| usable().any(|(_, f)| f.sender_ns.is_some()));
        let best = match by_clock {
            Some(at) => usable()
                .filter_map(|(i, f)| f.sender_ns.map(|s| (i, apart(s, at))))
                .min_by_key(|(_, d)| *d)
                .filter(|(_, d)| *d <= MAX_SENDER_SKEW),
            None => {
                let at = detect.arrived;
                let skew = |f: &Frame| if f.arrived > at { f.arrived - at } else { at - f.arrived };
                usable().map(|(i, f)| (i, skew(f))).min_by_key(|(_, d)| *d).filter(|(_, d)| *d <= MAX_SKEW)
            }
        };
        match best {
            Some((i, _)) => {
                m.paired += 1;
                m.paired_by_clock += u64::from(by_clock.is_some());
                m.recent.remove(i)
            }
            None => {
                m.unpaired += 1;
                None
            }
        }
    }

    /// Notes a frame's size; on a change from the last one, returns (old, new) and starts the
    /// motion gate afresh with the next frame seen whole. Zones are fractions of the picture,
    /// so they keep their meaning at any size.
    pub fn resized(&mut self, width: u32, height: u32) -> Option<((u32, u32), (u32, u32))> {
        let old = self.size.replace((width, height))?;
        if old == (width, height) {
            return None;
        }
        self.motion = MotionDetector::new(*self.motion.config());
        self.last_whole = None;
        Some((old, (width, height)))
    }

    pub fn source(&self) -> &S {
        &self.source
    }

    pub fn counts(&self) -> &Arc<FrameCounts> {
        &self.counts
    }

    /// The camera has ended (a file without `loop`) and its slot is closed.
    pub fn closed(&self) -> bool {
        self.source.frames().is_closed()
    }

    /// The newest frame, if the camera is due at `now` and has one; the next due time moves on
    /// by one period (without piling up after a busy spell).
    pub fn take_due(&mut self, now: Instant) -> Option<Frame> {
        if now < self.next_due {
            return None;
        }
        let frame = self.source.frames().try_take()?;
        self.next_due = self.next_due.max(now - self.period) + self.period;
        Some(frame)
    }

    /// Where the models look at `view`, seen at `now`. `settled` says whether recognition has
    /// decided every track the camera's last analysed frame showed.
    pub fn look(
        &mut self,
        cfg: &config::Camera,
        view: RgbView<'_>,
        now: Instant,
        settled: impl FnOnce() -> bool,
    ) -> Look {
        let moving = {
            let _gates = menwei_core::profile::enter(menwei_core::profile::Stage::Gates);
            self.motion.observe(view)
        };
        if moving.is_some() {
            self.last_motion = now;
        }
        // The main stream is decoded in full only while something moves on the detect stream
        // (and for a moment after), keyframes only otherwise: that is where the saving is.
        if let Some(m) = &self.main {
            m.source.set_idle(now.duration_since(self.last_motion) >= IDLE_AFTER);
        }
        // Idle: nothing moved for an idle check. With `idle_keyframes_only` the camera then
        // decodes keyframes only, until motion shows on one of them.
        if cfg.capture.idle_keyframes_only {
            self.source.set_idle(now.duration_since(self.last_motion) >= cfg.idle_check.min(IDLE_AFTER));
        }
        let idle_due = !cfg.motion_gating || self.last_whole.is_none_or(|t| now.duration_since(t) >= cfg.idle_check);
        if idle_due {
            self.last_whole = Some(now);
            return Look::At(PixelRect::full(view.width(), view.height()));
        }
        // Something that arrived and now stays still, already recognised: the picture is the
        // last analysed one's, so its detections stand in for the models'.
        match moving {
            Some(m) if m.settling(self.motion.config()) && settled() => Look::Unchanged,
            Some(m) => Look::At(m.look),
            None => Look::Still,
        }
    }

    /// Counts a frame the models did not look at.
    pub fn spared(&self, look: Look) {
        if look == Look::Unchanged { &self.counts.decided } else { &self.counts.still }.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an analysed frame: where the models looked, the share of the frame's pixels they
    /// saw, whether it showed faces and how long the face detector took.
    pub fn analysed(&mut self, look: PixelRect, frame: (u32, u32), share: f64, faces: bool, detect_ms: f64) {
        self.counts.analysed.fetch_add(1, Ordering::Relaxed);
        let s = &mut self.summary;
        s.frames_on_region += u64::from(!look.is_full(frame.0, frame.1));
        s.mean_region_share += share;
        s.frames_with_faces += u64::from(faces);
        self.detect_total_ms += detect_ms;
    }
}

impl CameraSlot<Camera> {
    /// Stops the camera and says what the run did with it.
    pub fn finish(self) -> CameraSummary {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut s = self.summary;
        let n = &self.counts;
        (s.frames_analysed, s.frames_unchanged) = (load(&n.analysed), load(&n.decided));
        s.frames_still = load(&n.still) + s.frames_unchanged;
        let frames = FrameSource::frames(&self.source);
        s.frames_received = frames.put_count();
        s.frames_overwritten = frames.overwritten_count();
        s.reconnects = self.source.stats().reconnects.load(Ordering::Relaxed);
        let analysed = s.frames_analysed as f64;
        s.mean_detect_ms = if s.frames_analysed > 0 { self.detect_total_ms / analysed } else { 0.0 };
        s.mean_region_share = if s.frames_analysed > 0 { s.mean_region_share / analysed } else { 0.0 };
        if let Some(m) = self.main {
            (s.main_paired, s.main_paired_by_clock, s.main_unpaired) = (m.paired, m.paired_by_clock, m.unpaired);
            drop(m.recent);
            m.source.stop();
        }
        self.source.stop();
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use menwei_core::clock::{Clock, ManualClock};
    use menwei_core::handoff::Latest;
    use std::sync::atomic::AtomicBool;

    #[derive(Default)]
    struct Fake {
        frames: Arc<Latest<Frame>>,
        idle: AtomicBool,
    }

    impl Source for Fake {
        fn frames(&self) -> &Arc<Latest<Frame>> {
            &self.frames
        }
        fn set_idle(&self, idle: bool) {
            self.idle.store(idle, Ordering::Relaxed);
        }
    }

    fn camera(extra: &str) -> config::Camera {
        let models = concat!(env!("CARGO_MANIFEST_DIR"), "/../../models");
        let toml = format!(
            "compound_id = \"c\"\n[models]\ndir = \"{models}\"\n[[cameras]]\nid = \"gate\"\nurl = \"rtsp://127.0.0.1:9/gate\"\n{extra}"
        );
        config::parse(&toml, std::path::Path::new("edge.toml")).expect("config").cameras.remove(0)
    }

    fn frame(seq: u64, grey: u8) -> Frame {
        Frame {
            camera_id: "gate".into(),
            seq,
            pts_ns: None,
            arrived: Instant::now(),
            arrived_wall: std::time::SystemTime::now(),
            sender_ns: None,
            width: 64,
            height: 48,
            stride_bytes: 64 * 3,
            data: Box::new(vec![grey; 64 * 48 * 3]),
            full: None,
        }
    }

    /// A main-stream frame that arrived at `arrived`, with a 4x2 full picture.
    fn main_frame(seq: u64, arrived: Instant) -> Frame {
        use menwei_core::frame::{FullFrame, YuvFormat, YuvMatrix};
        let full = FullFrame {
            width: 4,
            height: 2,
            format: YuvFormat::I420,
            matrix: YuvMatrix::Bt601,
            planes: [(0, 4), (8, 2), (10, 2)],
            data: Box::new(vec![128u8; 12]),
        };
        Frame { arrived, full: Some(full), ..frame(seq, 0) }
    }

    /// A detect-stream frame that arrived at `arrived`, stamped `sender_ms` by the camera.
    fn detect_at(arrived: Instant, sender_ms: Option<u64>) -> Frame {
        Frame { arrived, sender_ns: sender_ms.map(|ms| ms * 1_000_000), ..frame(0, 0) }
    }

    #[test]
    fn the_cameras_clock_pairs_when_both_streams_carry_it_whatever_the_arrival_order() {
        let cfg = camera("detect_url = \"rtsp://127.0.0.1:9/sub\"");
        let t = Instant::now() + Duration::from_secs(10);
        let mut slot = CameraSlot::new(&cfg, Fake::default(), t).with_main(Fake::default());
        let put = |slot: &CameraSlot<Fake>, seq, arrived, sender_ms: u64| {
            let f = Frame { sender_ns: Some(sender_ms * 1_000_000), ..main_frame(seq, arrived) };
            slot.main_source().unwrap().frames.put(f);
        };
        // The main stream lags by 300 ms on the network: by arrival nothing is within 150 ms of
        // the detect frame, by the camera's clock the same exposure (1000 ms) is found.
        let mut gather = |seq, lag_ms: u64, sender_ms| {
            put(&slot, seq, t + Duration::from_millis(lag_ms), sender_ms);
            slot.take_paired(&detect_at(t - Duration::from_secs(60), None)); // only gathers
        };
        gather(1, 260, 960);
        gather(2, 300, 1000);
        gather(3, 340, 1040);
        let s = slot.take_paired(&detect_at(t, Some(1000)));
        assert_eq!(s.map(|f| f.seq), Some(2), "the same exposure, 300 ms late");
        assert_eq!(slot.take_paired(&detect_at(t, Some(1010))).map(|f| f.seq), Some(3), "30 ms beats 50 ms");
        assert!(
            slot.take_paired(&detect_at(t + Duration::from_millis(260), Some(1100))).is_none(),
            "140 ms by the camera's clock is too far, although it arrived at the same moment"
        );
        // A detect frame without the clock (no sender report yet) pairs by arrival.
        assert_eq!(slot.take_paired(&detect_at(t + Duration::from_millis(250), None)).map(|f| f.seq), Some(1));
        let m = slot.main.as_ref().unwrap();
        assert_eq!((m.paired, m.paired_by_clock), (3, 2));
    }

    #[test]
    fn the_main_picture_nearest_in_time_is_paired_and_none_beyond_the_skew() {
        let cfg = camera("detect_url = \"rtsp://127.0.0.1:9/sub\"");
        assert_eq!(cfg.main.as_ref().map(|m| m.id.as_ref()), Some("gate-main"));
        let t = Instant::now() + Duration::from_secs(10);
        let mut slot = CameraSlot::new(&cfg, Fake::default(), t).with_main(Fake::default());
        let main = |slot: &CameraSlot<Fake>, seq, at| slot.main_source().unwrap().frames.put(main_frame(seq, at));
        // The keep-newest slot holds one picture at a time: the slot gathers them as they come.
        for (seq, at) in [(1, t - Duration::from_millis(200)), (2, t - Duration::from_millis(40))] {
            main(&slot, seq, at);
            assert!(slot.take_paired(&detect_at(t - Duration::from_secs(5), None)).is_none(), "far from every picture");
        }
        main(&slot, 3, t + Duration::from_millis(100));
        assert_eq!(slot.take_paired(&detect_at(t, None)).map(|f| f.seq), Some(2), "40 ms beats 100 ms and 200 ms");
        assert_eq!(slot.take_paired(&detect_at(t, None)).map(|f| f.seq), Some(3), "each picture is read once");
        assert!(
            slot.take_paired(&detect_at(t + Duration::from_secs(1), None)).is_none(),
            "beyond MAX_SKEW of what is left"
        );
        // Something moving on the detect stream wakes the main stream's decoder; stillness
        // lets it go back to keyframes.
        let pic = frame(9, 0);
        slot.look(&cfg, pic.view().unwrap(), t, || true);
        assert!(!slot.main_source().unwrap().idle.load(Ordering::Relaxed));
        slot.look(&cfg, pic.view().unwrap(), t + IDLE_AFTER, || true);
        assert!(slot.main_source().unwrap().idle.load(Ordering::Relaxed));
    }

    #[test]
    fn a_camera_is_due_once_per_period_without_piling_up() {
        let cfg = camera("detect_fps = 5");
        let clock = ManualClock::new();
        let mut slot = CameraSlot::new(&cfg, Fake::default(), clock.now());
        assert!(slot.take_due(clock.now()).is_none(), "no frame yet");
        slot.source().frames.put(frame(1, 0));
        assert!(slot.take_due(clock.now()).is_some());
        slot.source().frames.put(frame(2, 0));
        clock.advance(Duration::from_millis(150));
        assert!(slot.take_due(clock.now()).is_none(), "not due within 200 ms");
        clock.advance(Duration::from_millis(50));
        assert!(slot.take_due(clock.now()).is_some());
        // After a busy spell of a second the camera may catch up by one frame, not by five:
        // then the period resumes.
        clock.advance(Duration::from_secs(1));
        for seq in [3, 4] {
            slot.source().frames.put(frame(seq, 0));
            assert!(slot.take_due(clock.now()).is_some(), "frame {seq}");
        }
        slot.source().frames.put(frame(5, 0));
        assert!(slot.take_due(clock.now()).is_none());
        clock.advance(Duration::from_millis(200));
        assert!(slot.take_due(clock.now()).is_some());
    }

    #[test]
    fn the_models_see_the_whole_frame_once_per_idle_check_and_rest_on_a_still_scene() {
        let cfg = camera("idle_check_secs = 10");
        let clock = ManualClock::new();
        let mut slot = CameraSlot::new(&cfg, Fake::default(), clock.now());
        let f = frame(1, 40);
        let view = f.view().unwrap();
        let whole = Look::At(PixelRect::full(64, 48));
        assert_eq!(slot.look(&cfg, view, clock.now(), || true), whole, "the first frame is looked at whole");
        clock.advance(Duration::from_secs(1));
        assert_eq!(slot.look(&cfg, view, clock.now(), || true), Look::Still);
        clock.advance(Duration::from_secs(9));
        assert_eq!(slot.look(&cfg, view, clock.now(), || true), whole, "the idle check is due");
        slot.spared(Look::Still);
        assert_eq!(slot.counts().still.load(Ordering::Relaxed), 1);
        // Without motion gating every frame is looked at whole.
        let every = camera("motion_gating = false");
        let mut slot = CameraSlot::new(&every, Fake::default(), clock.now());
        for _ in 0..3 {
            assert_eq!(slot.look(&every, view, clock.now(), || true), whole);
        }
    }

    #[test]
    fn a_camera_that_stays_still_decodes_keyframes_only_until_something_moves() {
        let cfg = camera("motion_gating = true\nidle_keyframes_only = true\nidle_check_secs = 10");
        let clock = ManualClock::new();
        let mut slot = CameraSlot::new(&cfg, Fake::default(), clock.now());
        let f = frame(1, 40);
        slot.look(&cfg, f.view().unwrap(), clock.now(), || true);
        assert!(!slot.source().idle.load(Ordering::Relaxed));
        clock.advance(IDLE_AFTER);
        slot.look(&cfg, f.view().unwrap(), clock.now(), || true);
        assert!(slot.source().idle.load(Ordering::Relaxed), "idle after {IDLE_AFTER:?} without motion");
    }
}
