//! What the daemon sees of a camera, whatever produces its frames.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use menwei_core::frame::Frame;
use menwei_core::handoff::Latest;
use menwei_core::metrics::{Kind, MetricsText};

use crate::CameraState;

/// A source of frames for one camera: a GStreamer pipeline ([`crate::Camera`]) in production,
/// [`crate::fake::FakeSource`] in tests. The consumer reads the newest frame from
/// [`FrameSource::frames`]; a closed slot means the source will deliver nothing more.
pub trait FrameSource: Send + Sync + std::fmt::Debug {
    fn id(&self) -> &Arc<str>;
    /// The one-slot keep-newest hand-off the source writes into.
    fn frames(&self) -> &Arc<Latest<Frame>>;
    fn stats(&self) -> &Arc<CameraStats>;
    /// Asks the source to stop; returns at once. The slot is closed once it has.
    fn request_stop(&self);
}

/// Counters and the current state of one camera, shared with the metrics endpoint.
#[derive(Debug, Default)]
pub struct CameraStats {
    /// Pipeline restarts after a failure, a stall or the server ending the stream.
    pub reconnects: AtomicU64,
    /// Watchdog firings.
    pub stalls: AtomicU64,
    /// Frames that left the decoder, and the CPU time the decoding thread spent on them
    /// (depayloading, parsing and decoding; see docs/ref/metrics.md for what it leaves out).
    pub decoded_frames: AtomicU64,
    pub decode_cpu_ns: AtomicU64,
    /// Frames that left scaling and conversion to RGB, and that thread's CPU time.
    pub converted_frames: AtomicU64,
    pub convert_cpu_ns: AtomicU64,
    /// Frames dropped before the decoder because the camera was idle (keyframes only).
    pub skipped_frames: AtomicU64,
    /// Per-frame decode and convert CPU nanoseconds, kept only while per-stage accounting is
    /// on (`menwei_core::profile`, the benchmark harness).
    pub decode_samples_ns: Mutex<Vec<u64>>,
    pub convert_samples_ns: Mutex<Vec<u64>>,
    state: Mutex<Option<CameraState>>,
    decoder: Mutex<Option<String>>,
}

impl CameraStats {
    pub fn state(&self) -> Option<CameraState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn set_state(&self, s: &CameraState) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = Some(s.clone());
    }

    /// The decoder element the pipeline chose (for example `avdec_h264`), once it has.
    pub fn decoder(&self) -> Option<String> {
        self.decoder.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn set_decoder(&self, name: &str) {
        *self.decoder.lock().unwrap_or_else(|e| e.into_inner()) = Some(name.to_owned());
    }

    /// Mean decode CPU milliseconds per decoded frame so far.
    pub fn decode_cpu_ms_per_frame(&self) -> Option<f64> {
        per_frame(&self.decode_cpu_ns, &self.decoded_frames)
    }

    /// Mean scale-and-convert CPU milliseconds per frame so far.
    pub fn convert_cpu_ms_per_frame(&self) -> Option<f64> {
        per_frame(&self.convert_cpu_ns, &self.converted_frames)
    }
}

fn per_frame(ns: &AtomicU64, frames: &AtomicU64) -> Option<f64> {
    let n = frames.load(Ordering::Relaxed);
    (n > 0).then(|| ns.load(Ordering::Relaxed) as f64 / 1e6 / n as f64)
}

/// Writes the capture metrics of `sources` (see docs/ref/metrics.md).
pub fn write_metrics(sources: &[&dyn FrameSource], m: &mut MetricsText) {
    type Get = fn(&dyn FrameSource) -> f64;
    let families: [(&str, Kind, &str, Get); 9] = [
        (
            "menwei_capture_frames_received_total",
            Kind::Counter,
            "Frames that reached the camera's hand-off slot.",
            |s| s.frames().put_count() as f64,
        ),
        ("menwei_capture_frames_delivered_total", Kind::Counter, "Frames the analysis took from the slot.", |s| {
            s.frames().taken_count() as f64
        }),
        (
            "menwei_capture_frames_dropped_total",
            Kind::Counter,
            "Frames replaced by a newer one before analysis took them (keep-newest policy).",
            |s| s.frames().overwritten_count() as f64,
        ),
        ("menwei_capture_reconnects_total", Kind::Counter, "Pipeline restarts.", |s| {
            s.stats().reconnects.load(Ordering::Relaxed) as f64
        }),
        ("menwei_capture_stalls_total", Kind::Counter, "Watchdog firings: no frame for the watchdog period.", |s| {
            s.stats().stalls.load(Ordering::Relaxed) as f64
        }),
        ("menwei_capture_decoded_frames_total", Kind::Counter, "Frames that left the decoder.", |s| {
            s.stats().decoded_frames.load(Ordering::Relaxed) as f64
        }),
        (
            "menwei_capture_skipped_frames_total",
            Kind::Counter,
            "Frames not decoded because the camera was idle (idle_keyframes_only).",
            |s| s.stats().skipped_frames.load(Ordering::Relaxed) as f64,
        ),
        ("menwei_capture_decode_cpu_seconds_total", Kind::Counter, "CPU time of the decoding thread.", |s| {
            s.stats().decode_cpu_ns.load(Ordering::Relaxed) as f64 / 1e9
        }),
        (
            "menwei_capture_convert_cpu_seconds_total",
            Kind::Counter,
            "CPU time of scaling and conversion to RGB.",
            |s| s.stats().convert_cpu_ns.load(Ordering::Relaxed) as f64 / 1e9,
        ),
    ];
    for (name, kind, help, get) in families {
        for s in sources {
            m.sample(name, kind, help, &[("camera", s.id())], get(*s));
        }
    }
    for s in sources {
        let state = s.stats().state().map_or("starting", |st| st.name());
        for name in CameraState::NAMES {
            m.sample(
                "menwei_capture_state",
                Kind::Gauge,
                "1 for the camera's current state, 0 for the others.",
                &[("camera", s.id()), ("state", name)],
                f64::from(u8::from(name == state)),
            );
        }
    }
}
