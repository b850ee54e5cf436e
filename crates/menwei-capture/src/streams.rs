//! Which of a source's streams is analysed: the first video stream, whatever else comes with it.
//!
//! Cameras send audio on their main stream by default (Hikvision, Dahua and Uniview all do),
//! ONVIF cameras may add a metadata stream, and phone or traffic recordings carry an audio
//! track that may come before the video. The rules here:
//!
//! - over RTSP, only video streams are set up (`rtspsrc`'s `select-stream`), so audio is never
//!   even sent;
//! - in a file, decodebin is told not to decode anything but video (`autoplug-continue`), and
//!   every stream it exposes besides the first video one goes to a `fakesink`, so an audio track
//!   costs its demuxing and nothing more, in whichever order the tracks appear;
//! - a source with no video at all is [`Problem::NoVideo`], which the camera reports as
//!   unusable instead of retrying it like a broken connection.

use std::sync::{Arc, Mutex};

use gstreamer as gst;
use gstreamer::prelude::*;
use tracing::debug;

/// What the stream watchers found wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Problem {
    /// Worth retrying like a broken connection (for example a codec without a decoder).
    Stream(String),
    /// The source has no video stream at all: retrying soon will not help.
    NoVideo(String),
}

/// What one run of a pipeline found among its source's streams.
#[derive(Debug, Default)]
pub(crate) struct Found {
    /// The first problem found; later ones are consequences of it.
    pub problem: Option<Problem>,
    /// Whether a video stream reached the analysis branch.
    pub video: bool,
    /// The streams set aside, as `audio/mpeg` or `audio (PCMA)`, for messages.
    pub ignored: Vec<String>,
    /// RTSP only: the medias the camera's description offered.
    pub offered: Vec<String>,
}

pub(crate) type Shared = Arc<Mutex<Found>>;

fn lock(found: &Shared) -> std::sync::MutexGuard<'_, Found> {
    found.lock().unwrap_or_else(|e| e.into_inner())
}

fn note(found: &Shared, problem: Problem) {
    lock(found).problem.get_or_insert(problem);
}

impl Found {
    /// The problem to report when the pipeline failed without one of ours: an RTSP camera that
    /// offered no video at all makes rtspsrc fail with a generic "no supported stream".
    pub fn after_error(&mut self) -> Option<Problem> {
        if let Some(p) = self.problem.take() {
            return Some(p);
        }
        (!self.video && !self.offered.is_empty() && !self.offered.iter().any(|m| m.starts_with("video")))
            .then(|| Problem::NoVideo(format!("the camera offers no video stream, only {}", self.offered.join(", "))))
    }
}

/// The name of a caps' first structure, as `video/x-h264`.
fn caps_name(caps: &gst::CapsRef) -> String {
    caps.structure(0).map(|s| s.name().to_string()).unwrap_or_default()
}

/// Whether caps are (or carry, over RTP) video.
fn is_video(caps: &gst::CapsRef) -> bool {
    let Some(s) = caps.structure(0) else { return false };
    match s.name().as_str() {
        // rtspsrc describes the SDP's streams as application/x-unknown with the media's type.
        "application/x-rtp" | "application/x-unknown" => s.get::<&str>("media").is_ok_and(|m| m == "video"),
        n => n.starts_with("video/") || n.starts_with("image/"),
    }
}

/// Whether decodebin should stop at these caps and expose them undecoded: audio, subtitles and
/// metadata are not decoded. Containers and video go on.
fn set_aside(caps: &gst::CapsRef) -> bool {
    let Some(s) = caps.structure(0) else { return false };
    let name = s.name();
    match name.as_str() {
        "application/x-rtp" | "application/x-unknown" => s.get::<&str>("media").is_ok_and(|m| m != "video"),
        n => {
            ["audio/", "text/", "subpicture/", "closedcaption/", "meta/"].iter().any(|p| n.starts_with(p))
                || n.starts_with("application/x-onvif")
                || n.starts_with("application/x-subtitle")
        }
    }
}

/// Sets an RTSP source up to ask only for video streams.
pub(crate) fn pick_rtsp_streams(src: &gst::Element, found: &Shared) {
    let found = found.clone();
    src.connect("select-stream", false, move |args| {
        let caps = args.get(2).and_then(|v| v.get::<gst::Caps>().ok());
        let (video, what) = match &caps {
            Some(c) => {
                let s = c.structure(0);
                let media = s.and_then(|s| s.get::<&str>("media").ok()).unwrap_or("?").to_owned();
                let enc = s.and_then(|s| s.get::<&str>("encoding-name").ok()).unwrap_or("?").to_owned();
                (is_video(c), format!("{media} ({enc})"))
            }
            None => (false, "? (no caps)".to_owned()),
        };
        let mut f = lock(&found);
        // One video stream is enough; a second one (rare) is not set up either.
        let take = video && !f.offered.iter().any(|m| m.starts_with("video"));
        if !take {
            debug!(stream = %what, "not setting up this stream");
            f.ignored.push(what.clone());
        }
        f.offered.push(what);
        Some(take.to_value())
    });
}

/// Routes decodebin's streams: the first raw video pad to `video_sink`, every other one to a
/// fakesink of its own. Audio and metadata are exposed undecoded; a source that ends its list
/// of streams without video is [`Problem::NoVideo`].
pub(crate) fn route_decoded(dec: &gst::Element, pipeline: &gst::Pipeline, video_sink: gst::Pad, found: &Shared) {
    dec.connect("autoplug-continue", false, |args| {
        let caps = args.get(2).and_then(|v| v.get::<gst::Caps>().ok());
        Some((!caps.is_some_and(|c| set_aside(&c))).to_value())
    });
    let f = found.clone();
    dec.connect("unknown-type", false, move |args| {
        let caps = args.get(2).and_then(|v| v.get::<gst::Caps>().ok());
        if let Some(c) = caps.filter(|c| is_video(c)) {
            note(&f, Problem::Stream(format!("no decoder for the stream's codec ({})", caps_name(&c))));
        }
        None
    });
    let f = found.clone();
    let weak = pipeline.downgrade();
    dec.connect_pad_added(move |_, pad| {
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let name = caps_name(&caps);
        let mut found = lock(&f);
        if name == "video/x-raw" && !found.video {
            match pad.link(&video_sink) {
                Ok(_) => found.video = true,
                Err(e) => {
                    found
                        .problem
                        .get_or_insert(Problem::Stream(format!("cannot take the video stream ({name}): {e:?}")));
                }
            }
            return;
        }
        found.ignored.push(name.clone());
        drop(found);
        let Some(pipeline) = weak.upgrade() else { return };
        if let Err(e) = discard(&pipeline, pad) {
            note(&f, Problem::Stream(format!("cannot set the {name} stream aside: {e}")));
        }
    });
    let f = found.clone();
    dec.connect_no_more_pads(move |_| {
        let mut found = lock(&f);
        if !found.video && found.problem.is_none() {
            let what = if found.ignored.is_empty() { "nothing".to_owned() } else { found.ignored.join(", ") };
            found.problem = Some(Problem::NoVideo(format!("the source has no video stream, only {what}")));
        }
    });
}

/// Why a stream could not be set aside (each keeps GStreamer's own error).
#[derive(Debug, thiserror::Error)]
enum DiscardError {
    #[error("no fakesink: {0}")]
    Make(#[source] gst::glib::BoolError),
    #[error("cannot add the fakesink: {0}")]
    Add(#[source] gst::glib::BoolError),
    #[error("the fakesink has no sink pad")]
    NoPad,
    #[error("cannot link the stream to the fakesink: {0}")]
    Link(#[source] gst::PadLinkError),
    #[error("cannot start the fakesink: {0}")]
    State(#[source] gst::glib::BoolError),
}

/// Links `pad` to a new fakesink that never waits for the clock or for preroll.
fn discard(pipeline: &gst::Pipeline, pad: &gst::Pad) -> Result<(), DiscardError> {
    let sink = gst::ElementFactory::make("fakesink")
        .property("sync", false)
        .property("async", false)
        .property("enable-last-sample", false)
        .build()
        .map_err(DiscardError::Make)?;
    pipeline.add(&sink).map_err(DiscardError::Add)?;
    let sink_pad = sink.static_pad("sink").ok_or(DiscardError::NoPad)?;
    pad.link(&sink_pad).map_err(DiscardError::Link)?;
    sink.sync_state_with_parent().map_err(DiscardError::State)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(s: &str) -> gst::Caps {
        gst::init().unwrap();
        s.parse().unwrap()
    }

    #[test]
    fn only_video_goes_on_to_a_decoder() {
        for c in ["audio/mpeg, mpegversion=4", "audio/x-alaw", "text/x-raw", "application/x-rtp, media=audio"] {
            assert!(set_aside(&caps(c)), "{c}");
            assert!(!is_video(&caps(c)), "{c}");
        }
        for c in ["video/quicktime", "video/x-h264", "video/x-h265", "application/x-rtp, media=video"] {
            assert!(!set_aside(&caps(c)), "{c}");
        }
        assert!(set_aside(&caps("application/x-onvif-metadata")));
        assert!(is_video(&caps("application/x-rtp, media=video")) && is_video(&caps("video/x-raw")));
        // What rtspsrc's select-stream is given for each stream of the SDP.
        assert!(is_video(&caps("application/x-unknown, media=video, encoding-name=H264")));
        assert!(!is_video(&caps("application/x-unknown, media=audio, encoding-name=PCMA")));
    }

    #[test]
    fn an_rtsp_camera_without_video_is_unusable_not_retried() {
        let mut f = Found { offered: vec!["audio (PCMA)".into()], ..Found::default() };
        assert_eq!(
            f.after_error(),
            Some(Problem::NoVideo("the camera offers no video stream, only audio (PCMA)".into()))
        );
        let mut f = Found { offered: vec!["video (H264)".into(), "audio (PCMA)".into()], ..Found::default() };
        assert_eq!(f.after_error(), None, "a camera with video failed for another reason");
    }
}
