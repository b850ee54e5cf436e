//! An RTSP server in the process (gst-rtsp-server), for tests, benchmarks and the demo.
//!
//! It listens on 127.0.0.1 only. [`RtspServer::stop`] drops every client and closes the
//! listening socket, and [`RtspServer::start`] on the same port brings it back, which is how
//! tests take a "camera" away and return it. Every mount counts the frames it sent (buffers
//! entering its payloader `pay0`), so tests can compare frames received with frames sent
//! instead of with wall-clock time.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use gstreamer as gst;
use gstreamer::glib;
use gstreamer::prelude::*;
use gstreamer_rtsp_server as rtsp;
use gstreamer_rtsp_server::prelude::*;

use crate::CaptureError;

/// A running server.
#[derive(Debug)]
pub struct RtspServer {
    port: u16,
    server: rtsp::RTSPServer,
    source: Option<glib::SourceId>,
    ctx: glib::MainContext,
    main_loop: glib::MainLoop,
    thread: Option<std::thread::JoinHandle<()>>,
    sent: HashMap<String, Arc<AtomicU64>>,
}

/// What a mount serves: a `gst-launch` description in parentheses whose payloaders are `pay0`,
/// `pay1`...; frames are counted at `video_pay` (`pay0` unless a constructor says otherwise).
#[derive(Clone, Debug)]
pub struct Mount {
    pub path: String,
    pub launch: String,
    pub video_pay: &'static str,
}

/// The audio a [`Mount`] sends beside its video.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audio {
    /// AAC (MPEG-4 generic), as the file has it.
    Aac,
    /// G.711 A-law at 8 kHz.
    Pcma,
    /// G.711 mu-law at 8 kHz.
    Pcmu,
}

impl Mount {
    pub fn new(path: &str, launch: impl Into<String>) -> Self {
        Self { path: path.to_owned(), launch: launch.into(), video_pay: "pay0" }
    }

    /// A live SMPTE test pattern in H.264 (`h265 = false`) or H.265, with a keyframe every
    /// second.
    pub fn test_pattern(path: &str, width: u32, height: u32, fps: u32, h265: bool) -> Self {
        let enc = if h265 {
            format!("x265enc tune=zerolatency speed-preset=ultrafast key-int-max={fps} ! rtph265pay")
        } else {
            format!(
                "x264enc tune=zerolatency speed-preset=ultrafast key-int-max={fps} bframes=0 ! rtph264pay \
                 config-interval=1"
            )
        };
        Self::new(
            path,
            format!(
                "( videotestsrc is-live=true pattern=smpte ! video/x-raw,width={width},height={height},\
                 framerate={fps}/1 ! {enc} name=pay0 pt=96 )"
            ),
        )
    }

    /// [`Mount::test_pattern`] with a live tone beside it in `audio` (AAC or 8 kHz G.711), the
    /// audio stream listed first when `audio_first`.
    pub fn test_pattern_with_audio(
        path: &str,
        width: u32,
        height: u32,
        fps: u32,
        h265: bool,
        audio: Audio,
        audio_first: bool,
    ) -> Self {
        let a = if audio_first { "pay0" } else { "pay1" };
        let mut m = Self::test_pattern(path, width, height, fps, h265);
        let tone = "audiotestsrc is-live=true wave=ticks";
        let chain = match audio {
            Audio::Aac => format!(
                "{tone} ! audio/x-raw,rate=16000,channels=1 ! audioconvert ! avenc_aac ! rtpmp4gpay name={a} pt=97"
            ),
            Audio::Pcma => format!("{tone} ! audio/x-raw,rate=8000,channels=1 ! alawenc ! rtppcmapay name={a} pt=8"),
            Audio::Pcmu => format!("{tone} ! audio/x-raw,rate=8000,channels=1 ! mulawenc ! rtppcmupay name={a} pt=0"),
        };
        if audio_first {
            m.launch = m.launch.replace("name=pay0", "name=pay1");
            m.video_pay = "pay1";
        }
        m.launch = format!("{} {chain} )", m.launch.trim_end().trim_end_matches(')'));
        m
    }

    /// A live H.264 test pattern that changes resolution mid-stream, as a camera does when an
    /// operator changes its profile: `first` (width, height) for `switch_after_secs`, then
    /// `then` for as long as a client watches. The encoder starts again at the change, so the
    /// new size comes with a new SPS and a keyframe, in the same RTSP session.
    pub fn resolution_change(
        path: &str,
        first: (u32, u32),
        then: (u32, u32),
        fps: u32,
        switch_after_secs: u32,
    ) -> Self {
        let part = |(w, h): (u32, u32), frames: Option<u32>| {
            let n = frames.map(|n| format!(" num-buffers={n}")).unwrap_or_default();
            format!(
                "videotestsrc{n} pattern=ball ! video/x-raw,width={w},height={h},framerate={fps}/1 \
                 ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={fps} bframes=0 ! c."
            )
        };
        Self::new(
            path,
            format!(
                "( concat name=c ! h264parse ! identity sync=true ! rtph264pay name=pay0 pt=96 config-interval=1 {} {} )",
                part(first, Some(switch_after_secs * fps)),
                part(then, None)
            ),
        )
    }

    /// An MP4 file's H.264 stream, sent as it is (no re-encoding), at the file's frame rate.
    pub fn h264_file(path: &str, file: &std::path::Path) -> Self {
        Self::new(
            path,
            format!(
                "( filesrc location=\"{}\" ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )",
                file.display()
            ),
        )
    }

    /// An MP4 file's H.264 video and its AAC audio, as a camera with a microphone sends them:
    /// the video as it is, the audio as AAC (`audio = Audio::Aac`) or re-encoded to 8 kHz
    /// G.711 (`Audio::Pcma`, `Audio::Pcmu`, what most gate cameras send). With `audio_first`
    /// the session description lists the audio stream first.
    pub fn h264_file_with_audio(path: &str, file: &std::path::Path, audio: Audio, audio_first: bool) -> Self {
        let (v, a) = if audio_first { ("pay1", "pay0") } else { ("pay0", "pay1") };
        let audio = match audio {
            Audio::Aac => format!("aacparse ! rtpmp4gpay name={a} pt=97"),
            Audio::Pcma | Audio::Pcmu => {
                let (enc, pay, pt) =
                    if audio == Audio::Pcma { ("alawenc", "rtppcmapay", 8) } else { ("mulawenc", "rtppcmupay", 0) };
                format!(
                    "avdec_aac ! audioconvert ! audioresample ! audio/x-raw,rate=8000,channels=1 ! {enc} ! {pay} name={a} pt={pt}"
                )
            }
        };
        let mut m = Self::new(
            path,
            format!(
                "( filesrc location=\"{}\" ! qtdemux name=d d.video_0 ! queue ! h264parse ! rtph264pay name={v} pt=96 \
                 config-interval=1 d.audio_0 ! queue ! {audio} )",
                file.display()
            ),
        );
        m.video_pay = v;
        m
    }

    /// Audio only: a camera URL that points at the wrong stream.
    pub fn audio_only(path: &str) -> Self {
        Self::new(path, "( audiotestsrc is-live=true ! audio/x-raw,rate=8000,channels=1 ! rtpL16pay name=pay0 pt=96 )")
    }
}

impl RtspServer {
    /// Starts serving `mounts` on 127.0.0.1:`port` (0 picks a free port).
    pub fn start(port: u16, mounts: &[Mount]) -> Result<Self, CaptureError> {
        gst::init().map_err(CaptureError::Init)?;
        let fail = |what: String| CaptureError::Server { port, what };
        let server = rtsp::RTSPServer::new();
        server.set_address("127.0.0.1");
        server.set_service(&port.to_string());
        let points = server.mount_points().ok_or_else(|| fail("no mount points".into()))?;
        let mut sent = HashMap::new();
        for m in mounts {
            let factory = rtsp::RTSPMediaFactory::new();
            factory.set_launch(&m.launch);
            factory.set_shared(false);
            let count = Arc::new(AtomicU64::new(0));
            let (c, pay) = (count.clone(), m.video_pay);
            factory.connect_media_configure(move |_, media| {
                let Ok(bin) = media.element().downcast::<gst::Bin>() else {
                    return;
                };
                if let Some(pad) = bin.by_name(pay).and_then(|p| p.static_pad("sink")) {
                    let c = c.clone();
                    pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                        c.fetch_add(1, Ordering::Relaxed);
                        gst::PadProbeReturn::Ok
                    });
                }
            });
            points.add_factory(&m.path, factory);
            sent.insert(m.path.clone(), count);
        }
        let ctx = glib::MainContext::new();
        let main_loop = glib::MainLoop::new(Some(&ctx), false);
        let source = server.attach(Some(&ctx)).map_err(|e| fail(format!("cannot listen: {e}")))?;
        let bound = server.bound_port();
        let port = u16::try_from(bound).map_err(|_| fail(format!("bound to port {bound}")))?;
        let ml = main_loop.clone();
        let c = ctx.clone();
        let thread = std::thread::Builder::new()
            .name(format!("rtsp-{port}"))
            .spawn(move || {
                let _ = c.with_thread_default(|| ml.run());
            })
            .map_err(|e| fail(e.to_string()))?;
        Ok(Self { port, server, source: Some(source), ctx, main_loop, thread: Some(thread), sent })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `rtsp://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("rtsp://127.0.0.1:{}{path}", self.port)
    }

    /// Frames the mount at `path` sent, over all clients and sessions.
    pub fn frames_sent(&self, path: &str) -> u64 {
        self.sent.get(path).map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Drops every client, closes the listening socket and stops the server's thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.server.client_filter(Some(&mut |_, _| rtsp::RTSPFilterResult::Remove));
        // The listening socket's source lives in the server's own context, not the default one.
        if let Some(src) = self.source.take().and_then(|id| self.ctx.find_source_by_id(&id)) {
            src.destroy();
        }
        self.main_loop.quit();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for RtspServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}
