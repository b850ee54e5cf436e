//! A camera as a GStreamer pipeline on its own thread.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use menwei_core::frame::{Frame, FullFrame, YuvFormat, YuvMatrix};
use menwei_core::handoff::Latest;
use menwei_core::shutdown;
use tracing::{debug, info, warn};

use crate::decode::{self, Resolved};
use crate::streams;
use crate::url::redact_text;
use crate::{CameraConfig, CameraState, CameraStats, CaptureError, FrameSource, SourceUrl, StateSink};

/// A running camera: its thread, its frame slot and its counters.
#[derive(Debug)]
pub struct Camera {
    id: Arc<str>,
    frames: Arc<Latest<Frame>>,
    stats: Arc<CameraStats>,
    decoder: Resolved,
    stop: shutdown::Sender,
    idle: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Camera {
    /// Probes the decoder choice and starts the camera's thread. It connects, retries and
    /// restarts by itself until [`Camera::stop`] or, for a non-looping file, the end of the file.
    /// Fails only for what no retry can fix: GStreamer missing, or a hardware decoder family
    /// that the config names and this machine does not have.
    pub fn start(cfg: CameraConfig, on_state: StateSink) -> Result<Camera, CaptureError> {
        gst::init().map_err(CaptureError::Init)?;
        let decoder = decode::prepare(&cfg.id, cfg.decode)?;
        let frames = Arc::new(Latest::new());
        let stats = Arc::new(CameraStats::default());
        let (stop, stopped) = shutdown::channel();
        let idle = Arc::new(AtomicBool::new(false));
        let (f, s, id_) = (frames.clone(), stats.clone(), idle.clone());
        let id = cfg.id.clone();
        let thread = std::thread::Builder::new()
            .name(format!("cam-{}", cfg.id))
            .spawn(move || {
                let span = tracing::info_span!("camera", id = %cfg.id);
                let _e = span.enter();
                let cam =
                    Ctx { cfg: &cfg, decoder, out: &f, stats: &s, stop: &stopped, idle: &id_, on_state: &on_state };
                cam.run();
                f.close();
            })
            .map_err(CaptureError::Thread)?;
        Ok(Camera { id, frames, stats, decoder, stop, idle, thread: Some(thread) })
    }

    /// Marks the camera idle (nothing moves) or not. With `idle_keyframes_only`, an idle camera
    /// decodes keyframes only; otherwise this changes nothing.
    pub fn set_idle(&self, idle: bool) {
        self.idle.store(idle, Ordering::Relaxed);
    }

    /// The decoder family this camera uses after probing.
    pub fn decoder(&self) -> Resolved {
        self.decoder
    }

    /// Stops the camera and waits for its thread.
    pub fn stop(mut self) {
        self.request_stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl FrameSource for Camera {
    fn id(&self) -> &Arc<str> {
        &self.id
    }
    fn frames(&self) -> &Arc<Latest<Frame>> {
        &self.frames
    }
    fn stats(&self) -> &Arc<CameraStats> {
        &self.stats
    }
    fn request_stop(&self) {
        self.stop.shutdown();
    }
}

impl Drop for Camera {
    fn drop(&mut self) {
        self.request_stop();
    }
}

const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Streaming this long resets the backoff: a stream that ran this long and ended (a camera's
/// restart, a looping server) is retried at once, not after the backoff of earlier failures.
const HEALTHY_AFTER: Duration = Duration::from_secs(10);

enum Outcome {
    Ended,
    Stopped,
    Stalled,
    Failed(String),
    /// The source has no video: rechecked after [`UNUSABLE_RECHECK`], not retried with backoff.
    Unusable(String),
}

/// How long an RTSP camera without video waits before it is asked again (an operator may fix
/// its stream profile). A file without video is not asked again.
pub const UNUSABLE_RECHECK: Duration = Duration::from_secs(300);

struct Ctx<'a> {
    cfg: &'a CameraConfig,
    decoder: Resolved,
    out: &'a Latest<Frame>,
    stats: &'a Arc<CameraStats>,
    stop: &'a shutdown::Receiver,
    idle: &'a Arc<AtomicBool>,
    on_state: &'a StateSink,
}

impl Ctx<'_> {
    fn report(&self, s: CameraState) {
        self.stats.set_state(&s);
        (self.on_state)(&self.cfg.id, &s);
    }

    fn stopped(&self) -> bool {
        self.stop.is_down()
    }

    fn failed(&self, problem: streams::Problem) -> Outcome {
        match problem {
            streams::Problem::Stream(reason) => Outcome::Failed(self.error(reason)),
            streams::Problem::NoVideo(reason) => Outcome::Unusable(self.error(reason)),
        }
    }

    fn error(&self, reason: impl Into<String>) -> String {
        let reason = redact_text(&reason.into(), &self.cfg.url);
        CaptureError::Stream { camera: self.cfg.id.clone(), url: self.cfg.url.display(), reason }.to_string()
    }

    fn run(&self) {
        let mut backoff = BACKOFF_MIN;
        let mut seq = 0u64;
        let mut first = true;
        while !self.stopped() {
            if !first {
                self.stats.reconnects.fetch_add(1, Ordering::Relaxed);
            }
            first = false;
            self.report(CameraState::Connecting);
            let started = Instant::now();
            let outcome = match self.build() {
                Ok(p) => self.stream(&p, &mut seq),
                Err(e) => Outcome::Failed(e.to_string()),
            };
            if started.elapsed() >= HEALTHY_AFTER {
                backoff = BACKOFF_MIN;
            }
            match outcome {
                Outcome::Ended => {
                    self.report(CameraState::Ended);
                    return;
                }
                Outcome::Stopped => break,
                Outcome::Stalled => {
                    self.stats.stalls.fetch_add(1, Ordering::Relaxed);
                    warn!(url = %self.cfg.url.display(), "no frame for {:?}: restarting the pipeline", self.cfg.watchdog);
                    self.report(CameraState::Stalled { after: self.cfg.watchdog });
                }
                Outcome::Failed(reason) => {
                    let retry_in = jitter(backoff);
                    warn!("{reason}; retrying in {retry_in:.1?}");
                    self.report(CameraState::Failed { reason, retry_in });
                    self.stop.wait_for(retry_in);
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
                Outcome::Unusable(reason) => {
                    let file = matches!(self.cfg.url, SourceUrl::File(_));
                    warn!("{reason}; {}", if file { "not retried" } else { "asking again in 5 minutes" });
                    let recheck_in = (!file).then_some(UNUSABLE_RECHECK);
                    self.report(CameraState::Unusable { reason, recheck_in });
                    match recheck_in {
                        Some(d) => {
                            self.stop.wait_for(d);
                        }
                        None => return,
                    }
                }
            }
        }
        self.report(CameraState::Stopped);
    }

    fn build(&self) -> Result<Pipeline, CaptureError> {
        let cfg = self.cfg;
        let fail = |reason: String| CaptureError::Pipeline { camera: cfg.id.clone(), url: cfg.url.display(), reason };
        let src = match &cfg.url {
            SourceUrl::Rtsp(_) => "rtspsrc name=src",
            SourceUrl::File(_) => "filesrc name=src",
        };
        // Scale before converting: videoscale works on the decoder's YUV, so conversion to RGB
        // touches only the analysis-sized picture.
        let desc = format!(
            "{src} ! decodebin name=dec  queue name=q max-size-buffers=3 max-size-bytes=0 max-size-time=0 \
             ! videoscale name=scale ! videoconvert ! capsfilter name=caps ! appsink name=sink"
        );
        let pipeline = gst::parse::launch(&desc)
            .map_err(|source| CaptureError::Launch { camera: cfg.id.clone(), url: cfg.url.display(), source })?
            .downcast::<gst::Pipeline>()
            .map_err(|_| fail("not a pipeline".into()))?;
        let by_name = |n: &str| pipeline.by_name(n).ok_or_else(|| fail(format!("no element {n}")));
        let src = by_name("src")?;
        match &cfg.url {
            SourceUrl::Rtsp(url) => {
                src.set_property("location", url);
                src.set_property("latency", cfg.rtsp_latency.as_millis() as u32);
                src.set_property_from_str("protocols", if cfg.rtsp_tcp { "tcp" } else { "udp" });
                // Each picture then carries the camera's capture time (NTP, from its RTCP sender
                // reports), which pairs a detect stream's frames with the main stream's.
                src.set_property("add-reference-timestamp-meta", true);
            }
            SourceUrl::File(path) => {
                if !path.is_file() {
                    return Err(fail(format!("{} does not exist", path.display())));
                }
                src.set_property("location", path.to_string_lossy().as_ref());
            }
        }
        let found = streams::Shared::default();
        if matches!(cfg.url, SourceUrl::Rtsp(_)) {
            streams::pick_rtsp_streams(&src, &found);
        }
        let dec = by_name("dec")?;
        decode::restrict(&dec, &cfg.id, self.decoder);
        let q_sink = by_name("q")?.static_pad("sink").ok_or_else(|| fail("queue without sink pad".into()))?;
        streams::route_decoded(&dec, &pipeline, q_sink.clone(), &found);
        tune_decoders(&pipeline, cfg, self.stats, self.idle);

        let mut caps = gst::Caps::builder("video/x-raw").field("format", "RGB");
        if let Some(w) = cfg.scale_width {
            caps = caps.field("width", w as i32).field("pixel-aspect-ratio", gst::Fraction::new(1, 1));
        }
        by_name("caps")?.set_property("caps", caps.build());
        let sink =
            by_name("sink")?.downcast::<gst_app::AppSink>().map_err(|_| fail("sink is not an appsink".into()))?;
        sink.set_max_buffers(1);
        sink.set_drop(true);
        sink.set_sync(matches!(cfg.url, SourceUrl::File(_)) && cfg.realtime);

        let stats = self.stats.clone();
        cpu_probe(&q_sink, move |ns| {
            stats.decode_cpu_ns.fetch_add(ns, Ordering::Relaxed);
            if menwei_core::profile::enabled() {
                stats.decode_samples_ns.lock().unwrap_or_else(|e| e.into_inner()).push(ns);
            }
            stats.decoded_frames.fetch_add(1, Ordering::Relaxed);
        });
        let sink_pad = sink.static_pad("sink").ok_or_else(|| fail("appsink without sink pad".into()))?;
        let stats = self.stats.clone();
        cpu_probe(&sink_pad, move |ns| {
            stats.convert_cpu_ns.fetch_add(ns, Ordering::Relaxed);
            if menwei_core::profile::enabled() {
                stats.convert_samples_ns.lock().unwrap_or_else(|e| e.into_inner()).push(ns);
            }
            stats.converted_frames.fetch_add(1, Ordering::Relaxed);
        });

        // With in-pipeline scaling, keep the last few full-resolution pictures (references to
        // the decoder's buffers, no copy) so that each analysis frame carries its own.
        let full = cfg.scale_width.map(|_| {
            let ring = Arc::new(Mutex::new(VecDeque::<gst::Buffer>::with_capacity(FULL_RING)));
            let r = ring.clone();
            if let Some(pad) = by_name("scale").ok().and_then(|s| s.static_pad("sink")) {
                pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                    if let Some(b) = info.buffer() {
                        let mut r = r.lock().unwrap_or_else(|e| e.into_inner());
                        if r.len() == FULL_RING {
                            r.pop_front();
                        }
                        r.push_back(b.clone());
                    }
                    gst::PadProbeReturn::Ok
                });
            }
            FullTap { ring, pad: by_name("scale").ok().and_then(|s| s.static_pad("sink")) }
        });
        Ok(Pipeline { pipeline, sink, found, full })
    }

    fn stream(&self, p: &Pipeline, seq: &mut u64) -> Outcome {
        let cfg = self.cfg;
        let url = cfg.url.display();
        if let Err(e) = p.pipeline.set_state(gst::State::Playing) {
            let detail = bus_error(p).map(|m| format!(" ({m})")).unwrap_or_default();
            return Outcome::Failed(self.error(format!("cannot start: {e}{detail}")));
        }
        let bus = p.pipeline.bus().expect("a pipeline has a bus");
        let mut last_frame = Instant::now();
        let mut streaming = false;
        loop {
            if self.stopped() {
                return Outcome::Stopped;
            }
            if let Some(problem) = p.found().problem.take() {
                return self.failed(problem);
            }
            while let Some(msg) = bus.pop() {
                use gst::MessageView;
                match msg.view() {
                    MessageView::Error(e) => {
                        let details = e.debug().map(|d| d.to_string()).unwrap_or_default();
                        debug!(%url, details = %redact_text(&details, &cfg.url), "pipeline error");
                        // A specific cause found by the decodebin watchers beats the generic
                        // "internal data stream error" that follows it.
                        if let Some(problem) = p.found().after_error() {
                            return self.failed(problem);
                        }
                        return Outcome::Failed(self.error({
                            let from = msg.src().map(|s| s.name().to_string()).unwrap_or_default();
                            let error = e.error().to_string();
                            let error = error.trim_end_matches('.');
                            match detail_line(&details) {
                                Some(d) => format!("{error}: {d} (from {from})"),
                                None => format!("{error} (from {from})"),
                            }
                        }));
                    }
                    MessageView::Eos(_) => match &cfg.url {
                        SourceUrl::Rtsp(_) => return Outcome::Failed(self.error("the server ended the stream")),
                        SourceUrl::File(_) if !cfg.looping => return Outcome::Ended,
                        SourceUrl::File(_) => {
                            if let Err(e) = p
                                .pipeline
                                .seek_simple(gst::SeekFlags::FLUSH | gst::SeekFlags::KEY_UNIT, gst::ClockTime::ZERO)
                            {
                                return Outcome::Failed(self.error(format!("cannot loop: {e}")));
                            }
                        }
                    },
                    MessageView::Warning(w) => {
                        debug!(%url, warning = %redact_text(&w.error().to_string(), &cfg.url), "pipeline warning")
                    }
                    _ => {}
                }
            }
            let Some(sample) = p.sink.try_pull_sample(gst::ClockTime::from_mseconds(100)) else {
                if p.sink.is_eos() && matches!(cfg.url, SourceUrl::File(_)) && !cfg.looping {
                    return Outcome::Ended;
                }
                if last_frame.elapsed() >= cfg.watchdog {
                    return Outcome::Stalled;
                }
                continue;
            };
            let arrived = Instant::now();
            let arrived_wall = SystemTime::now();
            match to_frame(cfg, p, sample, *seq, arrived, arrived_wall) {
                Ok(frame) => {
                    *seq += 1;
                    last_frame = arrived;
                    if !streaming {
                        streaming = true;
                        info!(
                            %url,
                            width = frame.width,
                            height = frame.height,
                            decoder = self.stats.decoder().as_deref().unwrap_or("?"),
                            "streaming"
                        );
                        self.report(CameraState::Streaming);
                    }
                    self.out.put(frame);
                }
                Err(e) => return Outcome::Failed(self.error(e.to_string())),
            }
        }
    }
}

/// Tunes the video decoder decodebin picks: recorded for metrics, libav decoders set to the
/// configured thread count and to drop corrupt pictures, and the keyframe gate for idle cameras.
fn tune_decoders(pipeline: &gst::Pipeline, cfg: &CameraConfig, stats: &Arc<CameraStats>, idle: &Arc<AtomicBool>) {
    let stats = stats.clone();
    let threads = cfg.decode_threads;
    let keyframes_when_idle = cfg.idle_keyframes_only.then(|| idle.clone());
    pipeline.connect("deep-element-added", false, move |args| {
        let el = args.get(2).and_then(|v| v.get::<gst::Element>().ok())?;
        let factory = el.factory()?;
        let klass = factory.klass();
        if klass.contains("Decoder") && klass.contains("Video") {
            stats.set_decoder(factory.name().as_str());
            if let (Some(idle), Some(pad)) = (&keyframes_when_idle, el.static_pad("sink")) {
                keyframe_gate(&pad, idle.clone(), stats.clone());
            }
            if el.find_property("max-threads").is_some() {
                el.set_property("max-threads", threads as i32);
            }
            if el.find_property("output-corrupt").is_some() {
                el.set_property("output-corrupt", false);
            }
        }
        None
    });
}

/// Drops the delta units of a group of pictures before the decoder when the camera was idle at
/// that group's keyframe. The decision is taken only at keyframes, so a delta unit is decoded
/// only when everything it depends on in its group was (streams without B-frames; an open
/// group's leading B-frames may be dropped by the decoder as corrupt). Leaving idle takes
/// effect at the next keyframe.
fn keyframe_gate(pad: &gst::Pad, idle: Arc<AtomicBool>, stats: Arc<CameraStats>) {
    let skipping = AtomicBool::new(false);
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        let Some(buffer) = info.buffer() else { return gst::PadProbeReturn::Ok };
        if !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT) {
            skipping.store(idle.load(Ordering::Relaxed), Ordering::Relaxed);
            return gst::PadProbeReturn::Ok;
        }
        if skipping.load(Ordering::Relaxed) {
            stats.skipped_frames.fetch_add(1, Ordering::Relaxed);
            return gst::PadProbeReturn::Drop;
        }
        gst::PadProbeReturn::Ok
    });
}

/// Adds the CPU time the pad's streaming thread spent between two buffers, through `add`.
/// On a pad whose thread does one stage of work per buffer, that is the stage's CPU per frame.
/// Every buffer is counted; the first one adds no CPU time (there is no buffer before it).
fn cpu_probe(pad: &gst::Pad, add: impl Fn(u64) + Send + Sync + 'static) {
    let last = Mutex::new(None::<Duration>);
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
        if let Ok(now) = cpu_time::ThreadTime::try_now() {
            let now = now.as_duration();
            let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
            // The first buffer counts as a frame, with no CPU time measured for it.
            add(last.map_or(0, |prev| now.saturating_sub(prev).as_nanos() as u64));
            *last = Some(now);
        }
        gst::PadProbeReturn::Ok
    });
}

const FULL_RING: usize = 4;

struct FullTap {
    ring: Arc<Mutex<VecDeque<gst::Buffer>>>,
    pad: Option<gst::Pad>,
}

struct Pipeline {
    pipeline: gst::Pipeline,
    sink: gst_app::AppSink,
    found: streams::Shared,
    full: Option<FullTap>,
}

impl Pipeline {
    fn found(&self) -> std::sync::MutexGuard<'_, streams::Found> {
        self.found.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// Up to +-20 % of `d`, so that cameras behind one failed switch do not retry in lockstep.
fn jitter(d: Duration) -> Duration {
    let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |t| t.subsec_nanos());
    menwei_core::retry::jittered(d, nanos)
}

/// The human part of a GStreamer debug string (`file.c(123): func (): /path:\nmessage`).
fn detail_line(details: &str) -> Option<&str> {
    let line = details.lines().last()?.trim();
    (!line.is_empty() && !line.contains("): ") && !line.starts_with('/')).then_some(line)
}

fn bus_error(p: &Pipeline) -> Option<String> {
    let bus = p.pipeline.bus()?;
    let msg = bus.timed_pop_filtered(gst::ClockTime::from_mseconds(500), &[gst::MessageType::Error])?;
    match msg.view() {
        gst::MessageView::Error(e) => Some(e.error().to_string()),
        _ => None,
    }
}

/// Plane offsets and strides: the buffer's video meta when the producer attached one (decoders
/// pad their planes), else the defaults for the caps.
fn planes(buffer: &gst::BufferRef, info: &gst_video::VideoInfo) -> [(usize, usize); 3] {
    let mut planes = [(0usize, 0usize); 3];
    match buffer.meta::<gst_video::VideoMeta>() {
        Some(meta) => {
            for (i, p) in planes.iter_mut().enumerate().take(meta.n_planes() as usize) {
                *p = (meta.offset()[i], meta.stride()[i] as usize);
            }
        }
        None => {
            for (i, p) in planes.iter_mut().enumerate().take(info.n_planes() as usize) {
                *p = (info.offset()[i], info.stride()[i] as usize);
            }
        }
    }
    planes
}

/// Why an appsink sample is not a frame.
#[derive(Debug, thiserror::Error)]
enum FrameError {
    #[error("sample without caps")]
    NoCaps,
    #[error("bad caps: {0}")]
    Caps(#[source] gst::glib::BoolError),
    #[error("sample without buffer")]
    NoBuffer,
    #[error("cannot map buffer")]
    Unmappable,
}

fn to_frame(
    cfg: &CameraConfig,
    p: &Pipeline,
    sample: gst::Sample,
    seq: u64,
    arrived: Instant,
    arrived_wall: SystemTime,
) -> Result<Frame, FrameError> {
    let caps = sample.caps().ok_or(FrameError::NoCaps)?;
    let info = gst_video::VideoInfo::from_caps(caps).map_err(FrameError::Caps)?;
    let buffer = sample.buffer_owned().ok_or(FrameError::NoBuffer)?;
    let pts = buffer.pts();
    let sender_ns = sender_time(&buffer);
    let [(offset, stride), ..] = planes(&buffer, &info);
    let data = buffer.into_mapped_buffer_readable().map_err(|_| FrameError::Unmappable)?;
    let full = p.full.as_ref().and_then(|tap| full_frame(tap, pts));
    Ok(Frame {
        camera_id: cfg.id.clone(),
        seq,
        pts_ns: pts.map(|t| t.nseconds()),
        arrived,
        arrived_wall,
        sender_ns,
        width: info.width(),
        height: info.height(),
        stride_bytes: stride,
        data: Box::new(OffsetData { data, offset }),
        full,
    })
}

/// The camera's capture time of a picture, in ns since the NTP epoch: the reference timestamp
/// that the RTP jitter buffer attaches (caps `timestamp/x-ntp`) once an RTCP sender report has
/// mapped the stream's RTP clock to the camera's NTP clock. It survives depayloading, parsing,
/// decoding and conversion as a meta.
fn sender_time(buffer: &gst::BufferRef) -> Option<u64> {
    buffer
        .iter_meta::<gst::ReferenceTimestampMeta>()
        .find(|m| m.reference().structure(0).is_some_and(|s| s.name() == "timestamp/x-ntp"))
        .map(|m| m.timestamp().nseconds())
}

/// The full-resolution picture with the analysis frame's timestamp, if it is still in the ring
/// and in a format crops can be taken from (I420 or NV12).
fn full_frame(tap: &FullTap, pts: Option<gst::ClockTime>) -> Option<FullFrame> {
    let buffer = {
        let mut ring = tap.ring.lock().unwrap_or_else(|e| e.into_inner());
        let i = ring.iter().position(|b| b.pts() == pts)?;
        let b = ring.remove(i)?;
        ring.drain(..i);
        b
    };
    let caps = tap.pad.as_ref()?.current_caps()?;
    let info = gst_video::VideoInfo::from_caps(&caps).ok()?;
    let format = match info.format() {
        gst_video::VideoFormat::I420 => YuvFormat::I420,
        gst_video::VideoFormat::Nv12 => YuvFormat::Nv12,
        _ => return None,
    };
    let matrix = if info.colorimetry().matrix() == gst_video::VideoColorMatrix::Bt709 {
        YuvMatrix::Bt709
    } else {
        YuvMatrix::Bt601
    };
    let planes = planes(&buffer, &info);
    let data = buffer.into_mapped_buffer_readable().ok()?;
    Some(FullFrame {
        width: info.width(),
        height: info.height(),
        format,
        matrix,
        planes,
        data: Box::new(OffsetData { data, offset: 0 }),
    })
}

/// A mapped buffer whose picture starts `offset` bytes in.
struct OffsetData {
    data: gst::MappedBuffer<gst::buffer::Readable>,
    offset: usize,
}

impl AsRef<[u8]> for OffsetData {
    fn as_ref(&self) -> &[u8] {
        &self.data.as_slice()[self.offset.min(self.data.size())..]
    }
}
