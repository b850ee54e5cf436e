//! Camera capture through GStreamer: RTSP cameras and local files, decoded to RGB.
//!
//! This is the only crate that links GStreamer. It is shaped around three rules:
//!
//! - **One thread and one pipeline per camera** (`cam-<id>`), so one bad camera never slows or
//!   blocks another. The thread owns its pipeline, restarts it with exponential backoff and
//!   jitter when it fails, and restarts it at once when the watchdog sees no frame for a while.
//! - **Frames leave through a one-slot keep-newest hand-off**
//!   ([`menwei_core::handoff::Latest`]): a slow consumer costs dropped, counted frames, never a
//!   growing queue or a stalled decoder. Frames keep GStreamer's buffers (no copy) and their real
//!   row stride. With in-pipeline scaling, each small analysis frame also carries a reference to
//!   the decoder's full-resolution picture ([`menwei_core::frame::FullFrame`]), so recognition
//!   crops lose nothing to the scaling.
//! - **Everything the daemon needs is typed and printable without secrets**: state changes are
//!   [`CameraState`] values, counters are in [`CameraStats`], and every URL that reaches a log line
//!   or an error goes through [`redact_url`].
//!
//! The consumer sees a camera as a [`FrameSource`]; tests of consumers use
//! [`fake::FakeSource`]. With the `rtsp-server` feature, [`server`] serves clips and test
//! patterns over RTSP for tests, benchmarks and the demo.

mod camera;
pub mod decode;
pub mod fake;
#[cfg(feature = "rtsp-server")]
pub mod server;
mod source;
mod streams;
mod url;

use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

pub use camera::{Camera, UNUSABLE_RECHECK};
pub use decode::{Decode, HwFamily};
pub use source::{CameraStats, FrameSource, write_metrics};
pub use url::{SourceUrl, redact_url};

/// One camera's capture settings.
#[derive(Clone, Debug, PartialEq)]
pub struct CameraConfig {
    pub id: Arc<str>,
    pub url: SourceUrl,
    /// Files only: start again at the end.
    pub looping: bool,
    /// Files only: deliver at the clip's frame rate, as a camera would, instead of as fast as
    /// it decodes.
    pub realtime: bool,
    /// Scale in the pipeline to this width (aspect kept) before conversion to RGB.
    pub scale_width: Option<u32>,
    /// Restart the pipeline when no frame came for this long.
    pub watchdog: Duration,
    /// RTSP: use TCP (interleaved) rather than UDP.
    pub rtsp_tcp: bool,
    /// RTSP: jitter-buffer latency.
    pub rtsp_latency: Duration,
    /// Software or hardware decoding.
    pub decode: Decode,
    /// Threads for a software decoder. One keeps latency at one frame and makes the decode CPU
    /// per frame measurable; more decode faster on a big stream (frame threading).
    pub decode_threads: u32,
    /// While the consumer marks the camera idle ([`Camera::set_idle`]), decode keyframes only:
    /// the other frames of each group of pictures are dropped before the decoder. Full decoding
    /// resumes at the first keyframe after the camera stops being idle.
    pub idle_keyframes_only: bool,
}

impl CameraConfig {
    pub fn new(id: &str, url: SourceUrl) -> Self {
        Self {
            id: id.into(),
            url,
            looping: false,
            realtime: true,
            scale_width: None,
            watchdog: DEFAULT_WATCHDOG,
            rtsp_tcp: true,
            rtsp_latency: DEFAULT_RTSP_LATENCY,
            decode: Decode::Software,
            decode_threads: DEFAULT_DECODE_THREADS,
            idle_keyframes_only: false,
        }
    }
}

/// A camera that delivers no frame for this long is restarted (stalled).
pub const DEFAULT_WATCHDOG: Duration = Duration::from_secs(20);
/// rtspsrc's jitter buffer.
pub const DEFAULT_RTSP_LATENCY: Duration = Duration::from_millis(200);
/// Software decoders' threads per camera.
pub const DEFAULT_DECODE_THREADS: u32 = 1;

#[derive(Debug, Error)]
pub enum CaptureError {
    #[error("invalid camera URL `{url}`: {reason}")]
    Url { url: String, reason: &'static str },
    #[error("GStreamer is unavailable: {0}")]
    Init(#[source] gstreamer::glib::Error),
    #[error("cannot start the camera thread: {0}")]
    Thread(#[source] std::io::Error),
    #[error("RTSP test server on port {port}: {what}")]
    Server { port: u16, what: String },
    #[error("camera {camera}: cannot build the pipeline for {url}: {source}")]
    Launch { camera: Arc<str>, url: String, source: gstreamer::glib::Error },
    #[error("camera {camera}: {reason}")]
    Decoder { camera: Arc<str>, reason: String },
    #[error("camera {camera}: cannot build the pipeline for {url}: {reason}")]
    Pipeline { camera: Arc<str>, url: String, reason: String },
    #[error("camera {camera}: {url}: {reason}")]
    Stream { camera: Arc<str>, url: String, reason: String },
}

/// A camera's state, as reported to whoever publishes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CameraState {
    Connecting,
    Streaming,
    /// No frame for the watchdog period `after`; the pipeline is being restarted.
    Stalled {
        after: Duration,
    },
    /// The pipeline failed; it is retried after `retry_in`. `reason` names the camera and its
    /// (redacted) URL.
    Failed {
        reason: String,
        retry_in: Duration,
    },
    /// The source has no video stream (an audio-only URL or file). Reported at once, not
    /// retried like a failure: an RTSP camera is asked again after `recheck_in`, a file never.
    Unusable {
        reason: String,
        recheck_in: Option<Duration>,
    },
    /// A non-looping file reached its end.
    Ended,
    Stopped,
}

impl CameraState {
    pub const NAMES: [&'static str; 7] =
        ["connecting", "streaming", "stalled", "failed", "unusable", "ended", "stopped"];

    /// The state's name in metrics and events.
    pub fn name(&self) -> &'static str {
        match self {
            CameraState::Connecting => "connecting",
            CameraState::Streaming => "streaming",
            CameraState::Stalled { .. } => "stalled",
            CameraState::Failed { .. } => "failed",
            CameraState::Unusable { .. } => "unusable",
            CameraState::Ended => "ended",
            CameraState::Stopped => "stopped",
        }
    }
}

/// Receives state changes; called on the camera's thread, so it must not block.
pub type StateSink = Arc<dyn Fn(&Arc<str>, &CameraState) + Send + Sync>;
