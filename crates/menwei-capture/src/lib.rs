//! Camera capture through GStreamer: RTSP cameras and local files, decoded to RGB.
//!
//! This is the only crate that links GStreamer. Each camera runs on its own named thread
//! (`cam-<id>`) that owns its pipeline, pulls decoded frames from an `appsink` and puts them
//! into a one-slot keep-newest hand-off ([`menwei_core::handoff::Latest`]): a slow consumer
//! costs dropped (and counted) frames, never a growing queue or a stalled decoder. A camera that
//! fails is retried with exponential backoff and jitter, independently of every other camera,
//! and its state changes are reported as typed [`CameraState`] values. Credentials in RTSP URLs
//! never reach a log line or an error: everything prints [`redact_url`]'s form.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use menwei_core::frame::Frame;
use menwei_core::handoff::Latest;
use thiserror::Error;
use tracing::{debug, info, warn};

/// Where a camera's video comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceUrl {
    /// `rtsp://` or `rtsps://`; may carry credentials, which are never printed.
    Rtsp(String),
    /// A local file, for replay and tests.
    File(PathBuf),
}

impl SourceUrl {
    /// Parses `rtsp://...`, `rtsps://...`, `file:///path` or a plain path.
    pub fn parse(s: &str) -> Result<Self, CaptureError> {
        if s.starts_with("rtsp://") || s.starts_with("rtsps://") {
            Ok(SourceUrl::Rtsp(s.to_owned()))
        } else if let Some(p) = s.strip_prefix("file://") {
            Ok(SourceUrl::File(PathBuf::from(p)))
        } else if s.contains("://") {
            Err(CaptureError::Url { url: redact_url(s), reason: "only rtsp://, rtsps:// and file:// are supported" })
        } else if s.is_empty() {
            Err(CaptureError::Url { url: String::new(), reason: "empty" })
        } else {
            Ok(SourceUrl::File(PathBuf::from(s)))
        }
    }

    /// The URL as it may be printed.
    pub fn display(&self) -> String {
        match self {
            SourceUrl::Rtsp(u) => redact_url(u),
            SourceUrl::File(p) => format!("file://{}", p.display()),
        }
    }
}

/// Replaces the user-info part of a URL (`user:password@`) with `***@`.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}***@{}", &url[..scheme_end + 3], &rest[at + 1..]),
        None => url.to_owned(),
    }
}

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
}

impl CameraConfig {
    pub fn new(id: &str, url: SourceUrl) -> Self {
        Self {
            id: id.into(),
            url,
            looping: false,
            realtime: true,
            scale_width: None,
            watchdog: Duration::from_secs(20),
            rtsp_tcp: true,
            rtsp_latency: Duration::from_millis(200),
        }
    }
}

#[derive(Debug, Error)]
pub enum CaptureError {
    #[error("invalid camera URL `{url}`: {reason}")]
    Url { url: String, reason: &'static str },
    #[error("GStreamer is unavailable: {0}")]
    Init(String),
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
    /// No frame for the watchdog period; the pipeline is being restarted.
    Stalled,
    /// The pipeline failed; it is retried after `retry_in`.
    Failed {
        reason: String,
        retry_in: Duration,
    },
    /// A non-looping file reached its end.
    Ended,
    Stopped,
}

/// Counters for one camera; read by the metrics endpoint.
#[derive(Debug, Default)]
pub struct CameraStats {
    pub frames_received: AtomicU64,
    pub reconnects: AtomicU64,
}

/// Receives state changes; called on the camera's thread, so it must not block.
pub type StateSink = Arc<dyn Fn(&Arc<str>, &CameraState) + Send + Sync>;

/// A running camera: its thread, its frame slot and its counters.
#[derive(Debug)]
pub struct Camera {
    pub frames: Arc<Latest<Frame>>,
    pub stats: Arc<CameraStats>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Camera {
    /// Starts the camera's thread. It connects, retries and restarts by itself until
    /// [`Camera::stop`] or, for a non-looping file, the end of the file.
    pub fn start(cfg: CameraConfig, on_state: StateSink) -> Result<Camera, CaptureError> {
        gst::init().map_err(|e| CaptureError::Init(e.to_string()))?;
        let frames = Arc::new(Latest::new());
        let stats = Arc::new(CameraStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (f, s, st) = (frames.clone(), stats.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name(format!("cam-{}", cfg.id))
            .spawn(move || {
                let span = tracing::info_span!("camera", id = %cfg.id);
                let _e = span.enter();
                run(&cfg, &f, &s, &st, &on_state);
                f.close();
            })
            .map_err(|e| CaptureError::Init(format!("cannot spawn camera thread: {e}")))?;
        Ok(Camera { frames, stats, stop, thread: Some(thread) })
    }

    /// Asks the camera to stop; returns at once.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Stops the camera and waits for its thread.
    pub fn stop(mut self) {
        self.request_stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Camera {
    fn drop(&mut self) {
        self.request_stop();
    }
}

const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Streaming this long resets the backoff.
const HEALTHY_AFTER: Duration = Duration::from_secs(30);

enum Outcome {
    Ended,
    Stopped,
    Stalled,
    Failed(String),
}

fn run(cfg: &CameraConfig, out: &Latest<Frame>, stats: &CameraStats, stop: &AtomicBool, on_state: &StateSink) {
    let mut backoff = BACKOFF_MIN;
    let mut seq = 0u64;
    let mut first = true;
    while !stop.load(Ordering::SeqCst) {
        if !first {
            stats.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        first = false;
        on_state(&cfg.id, &CameraState::Connecting);
        let started = Instant::now();
        let outcome = match build(cfg) {
            Ok(p) => stream(cfg, &p, out, stats, stop, on_state, &mut seq),
            Err(e) => Outcome::Failed(e.to_string()),
        };
        if started.elapsed() >= HEALTHY_AFTER {
            backoff = BACKOFF_MIN;
        }
        match outcome {
            Outcome::Ended => {
                on_state(&cfg.id, &CameraState::Ended);
                return;
            }
            Outcome::Stopped => break,
            Outcome::Stalled => {
                warn!(url = %cfg.url.display(), "no frame for {:?}: restarting the pipeline", cfg.watchdog);
                on_state(&cfg.id, &CameraState::Stalled);
            }
            Outcome::Failed(reason) => {
                let retry_in = jitter(backoff);
                warn!(url = %cfg.url.display(), "{reason}; retrying in {retry_in:?}");
                on_state(&cfg.id, &CameraState::Failed { reason, retry_in });
                sleep_unless_stopped(retry_in, stop);
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
    on_state(&cfg.id, &CameraState::Stopped);
}

/// Up to +-20 % of `d`, so that cameras behind one failed switch do not retry in lockstep.
fn jitter(d: Duration) -> Duration {
    let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |t| t.subsec_nanos());
    let frac = (nanos % 1000) as f64 / 1000.0; // 0..1
    d.mul_f64(0.8 + 0.4 * frac)
}

fn sleep_unless_stopped(d: Duration, stop: &AtomicBool) {
    let until = Instant::now() + d;
    while !stop.load(Ordering::SeqCst) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50).min(until.saturating_duration_since(Instant::now())));
    }
}

struct Pipeline {
    pipeline: gst::Pipeline,
    sink: gst_app::AppSink,
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

fn build(cfg: &CameraConfig) -> Result<Pipeline, CaptureError> {
    let fail = |reason: String| CaptureError::Pipeline { camera: cfg.id.clone(), url: cfg.url.display(), reason };
    let src = match &cfg.url {
        SourceUrl::Rtsp(_) => "rtspsrc name=src",
        SourceUrl::File(_) => "filesrc name=src",
    };
    let desc =
        format!("{src} ! decodebin name=dec ! videoconvert ! videoscale ! capsfilter name=caps ! appsink name=sink");
    let pipeline = gst::parse::launch(&desc)
        .map_err(|e| fail(e.to_string()))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| fail("not a pipeline".into()))?;
    let by_name = |n: &str| pipeline.by_name(n).ok_or_else(|| fail(format!("no element {n}")));
    let src = by_name("src")?;
    match &cfg.url {
        SourceUrl::Rtsp(url) => {
            src.set_property("location", url);
            src.set_property("latency", cfg.rtsp_latency.as_millis() as u32);
            src.set_property_from_str("protocols", if cfg.rtsp_tcp { "tcp" } else { "udp" });
        }
        SourceUrl::File(path) => {
            if !path.is_file() {
                return Err(fail(format!("{} does not exist", path.display())));
            }
            src.set_property("location", path.to_string_lossy().as_ref());
        }
    }
    let mut caps = gst::Caps::builder("video/x-raw").field("format", "RGB");
    if let Some(w) = cfg.scale_width {
        caps = caps.field("width", w as i32).field("pixel-aspect-ratio", gst::Fraction::new(1, 1));
    }
    by_name("caps")?.set_property("caps", caps.build());
    let sink = by_name("sink")?.downcast::<gst_app::AppSink>().map_err(|_| fail("sink is not an appsink".into()))?;
    sink.set_max_buffers(1);
    sink.set_drop(true);
    sink.set_sync(matches!(cfg.url, SourceUrl::File(_)) && cfg.realtime);
    Ok(Pipeline { pipeline, sink })
}

fn stream(
    cfg: &CameraConfig,
    p: &Pipeline,
    out: &Latest<Frame>,
    stats: &CameraStats,
    stop: &AtomicBool,
    on_state: &StateSink,
    seq: &mut u64,
) -> Outcome {
    let url = cfg.url.display();
    if let Err(e) = p.pipeline.set_state(gst::State::Playing) {
        return Outcome::Failed(format!(
            "cannot start: {e}{}",
            bus_error(p).map(|m| format!(" ({m})")).unwrap_or_default()
        ));
    }
    let bus = p.pipeline.bus().expect("a pipeline has a bus");
    let mut last_frame = Instant::now();
    let mut streaming = false;
    loop {
        if stop.load(Ordering::SeqCst) {
            return Outcome::Stopped;
        }
        while let Some(msg) = bus.pop() {
            use gst::MessageView;
            match msg.view() {
                MessageView::Error(e) => {
                    let details = e.debug().map(|d| d.to_string()).unwrap_or_default();
                    debug!(%url, %details, "pipeline error");
                    return Outcome::Failed(format!(
                        "{} (from {})",
                        e.error(),
                        msg.src().map(|s| s.name().to_string()).unwrap_or_default()
                    ));
                }
                MessageView::Eos(_) if !cfg.looping => return Outcome::Ended,
                MessageView::Eos(_) => {
                    if let Err(e) =
                        p.pipeline.seek_simple(gst::SeekFlags::FLUSH | gst::SeekFlags::KEY_UNIT, gst::ClockTime::ZERO)
                    {
                        return Outcome::Failed(format!("cannot loop: {e}"));
                    }
                }
                _ => {}
            }
        }
        let Some(sample) = p.sink.try_pull_sample(gst::ClockTime::from_mseconds(100)) else {
            if p.sink.is_eos() && !cfg.looping {
                return Outcome::Ended;
            }
            if last_frame.elapsed() >= cfg.watchdog {
                return Outcome::Stalled;
            }
            continue;
        };
        let arrived = Instant::now();
        let arrived_wall = SystemTime::now();
        match to_frame(cfg, sample, *seq, arrived, arrived_wall) {
            Ok(frame) => {
                *seq += 1;
                last_frame = arrived;
                stats.frames_received.fetch_add(1, Ordering::Relaxed);
                if !streaming {
                    streaming = true;
                    info!(%url, width = frame.width, height = frame.height, "streaming");
                    on_state(&cfg.id, &CameraState::Streaming);
                }
                out.put(frame);
            }
            Err(reason) => return Outcome::Failed(reason),
        }
    }
}

fn bus_error(p: &Pipeline) -> Option<String> {
    let bus = p.pipeline.bus()?;
    let msg = bus.timed_pop_filtered(gst::ClockTime::from_mseconds(500), &[gst::MessageType::Error])?;
    match msg.view() {
        gst::MessageView::Error(e) => Some(e.error().to_string()),
        _ => None,
    }
}

fn to_frame(
    cfg: &CameraConfig,
    sample: gst::Sample,
    seq: u64,
    arrived: Instant,
    arrived_wall: SystemTime,
) -> Result<Frame, String> {
    let caps = sample.caps().ok_or("sample without caps")?;
    let info = gst_video::VideoInfo::from_caps(caps).map_err(|e| format!("bad caps: {e}"))?;
    let buffer = sample.buffer_owned().ok_or("sample without buffer")?;
    let pts_ns = buffer.pts().map(|t| t.nseconds());
    let data = buffer.into_mapped_buffer_readable().map_err(|_| "cannot map buffer")?;
    Ok(Frame {
        camera_id: cfg.id.clone(),
        seq,
        pts_ns,
        arrived,
        arrived_wall,
        width: info.width(),
        height: info.height(),
        stride_bytes: info.stride()[0] as usize,
        data: Box::new(data),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_print() {
        assert_eq!(
            redact_url("rtsp://admin:s3cret@10.0.0.5:554/Streaming/101"),
            "rtsp://***@10.0.0.5:554/Streaming/101"
        );
        assert_eq!(redact_url("rtsp://10.0.0.5/a@b"), "rtsp://10.0.0.5/a@b");
        let e = SourceUrl::parse("http://u:p@x/").unwrap_err().to_string();
        assert!(!e.contains("u:p"), "{e}");
    }

    #[test]
    fn urls_parse_by_scheme() {
        assert_eq!(SourceUrl::parse("/a/b.mp4").unwrap(), SourceUrl::File("/a/b.mp4".into()));
        assert_eq!(SourceUrl::parse("file:///a/b.mp4").unwrap(), SourceUrl::File("/a/b.mp4".into()));
        assert!(matches!(SourceUrl::parse("rtsp://h/s").unwrap(), SourceUrl::Rtsp(_)));
        assert!(SourceUrl::parse("").is_err());
    }
}
