//! What real cameras and recordings send beside their video: audio tracks in either order,
//! over RTSP and in files, with H.264 and H.265; a resolution change mid-stream; and sources
//! with no video at all.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use menwei_capture::server::{Audio, Mount, RtspServer};
use menwei_capture::{Camera, CameraState, FrameSource, SourceUrl};

mod common;
use common::{States, rtsp_camera, take, wait_until};

/// A 2 s 320x240 H.264 (or H.265) MP4 or Matroska file with an AAC track, written with
/// gst-launch; the audio track first when `audio_first`.
fn recording(dir: &Path, name: &str, h265: bool, audio_first: bool) -> PathBuf {
    let out = dir.join(name);
    let (enc, parse) = if h265 {
        ("x265enc speed-preset=ultrafast", "h265parse")
    } else {
        ("x264enc speed-preset=ultrafast", "h264parse")
    };
    let mux = if name.ends_with(".mkv") { "matroskamux" } else { "mp4mux" };
    let video = format!(
        "videotestsrc num-buffers=50 pattern=smpte ! video/x-raw,width=320,height=240,framerate=25/1 ! {enc} ! {parse} ! m."
    );
    let audio = "audiotestsrc num-buffers=100 samplesperbuffer=441 ! audio/x-raw,rate=44100,channels=1 ! audioconvert ! avenc_aac ! aacparse ! m.";
    let (one, two) = if audio_first { (audio.to_owned(), video) } else { (video, audio.to_owned()) };
    let pipeline = format!("{mux} name=m ! filesink location={} {one} {two}", out.display());
    let ok = Command::new("gst-launch-1.0").arg("-q").args(pipeline.split_whitespace()).status().unwrap().success();
    assert!(ok, "gst-launch-1.0 could not write {name}");
    out
}

/// The order the file's demuxer exposes its streams in, as `audio` and `video`.
fn track_order(file: &Path) -> Vec<String> {
    use gstreamer as gst;
    use gstreamer::prelude::*;
    gst::init().unwrap();
    let demux = if file.extension().is_some_and(|e| e == "mkv") { "matroskademux" } else { "qtdemux" };
    let p = gst::parse::launch(&format!("filesrc location=\"{}\" ! {demux} name=pb", file.display())).unwrap();
    let p = p.downcast::<gst::Pipeline>().unwrap();
    let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let o = order.clone();
    p.by_name("pb").unwrap().connect_pad_added(move |_, pad| {
        let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
        let name = caps.structure(0).map(|s| s.name().to_string()).unwrap_or_default();
        o.lock().unwrap().push(name.split('/').next().unwrap_or_default().to_owned());
    });
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let d = done.clone();
    p.by_name("pb").unwrap().connect_no_more_pads(move |_| d.store(true, std::sync::atomic::Ordering::SeqCst));
    p.set_state(gst::State::Paused).unwrap();
    wait_until("the file's streams", Duration::from_secs(10), || done.load(std::sync::atomic::Ordering::SeqCst));
    p.set_state(gst::State::Null).unwrap();
    order.lock().unwrap().clone()
}

#[test]
fn rtsp_cameras_with_audio_give_video_frames_whichever_stream_comes_first() {
    let mounts = [
        Mount::test_pattern_with_audio("/h264-pcma", 320, 240, 25, false, Audio::Pcma, false),
        Mount::test_pattern_with_audio("/h264-aac-first", 320, 240, 25, false, Audio::Aac, true),
        Mount::test_pattern_with_audio("/h265-pcmu-first", 320, 240, 25, true, Audio::Pcmu, true),
    ];
    let server = RtspServer::start(0, &mounts).unwrap();
    let states = States::default();
    for (m, decoder) in mounts.iter().zip(["avdec_h264", "avdec_h264", "avdec_h265"]) {
        let id = m.path.trim_start_matches('/');
        let cam = Camera::start(rtsp_camera(id, &server.url(&m.path)), states.sink()).unwrap();
        let frames = take(&cam, 10, Duration::from_secs(30));
        assert!(frames.iter().all(|f| (f.width, f.height) == (320, 240)), "{id}");
        assert_eq!(cam.stats().decoder().as_deref(), Some(decoder), "{id}");
        cam.stop();
        let names = states.names(id);
        assert!(!names.contains(&"failed") && !names.contains(&"unusable"), "{id}: {names:?}");
    }
}

#[test]
fn recordings_with_audio_give_every_video_frame_whichever_track_comes_first() {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        (recording(dir.path(), "h264-video-first.mp4", false, false), false),
        (recording(dir.path(), "h264-audio-first.mp4", false, true), true),
        (recording(dir.path(), "h265-audio-first.mkv", true, true), true),
    ];
    let states = States::default();
    for (file, audio_first) in &files {
        let order = track_order(file);
        eprintln!("{}: tracks {order:?}", file.display());
        let expected: Vec<&str> = if *audio_first { vec!["audio", "video"] } else { vec!["video", "audio"] };
        assert_eq!(order, expected, "the file is laid out as the test means");
        let id = file.file_stem().unwrap().to_string_lossy().into_owned();
        let mut cfg = rtsp_camera(&id, file.to_str().unwrap());
        cfg.realtime = false;
        let cam = Camera::start(cfg, states.sink()).unwrap();
        // Read as fast as decoded: the slot keeps the newest, so count what the decoder made.
        wait_until(&format!("{id} to end"), Duration::from_secs(30), || states.names(&id).contains(&"ended"));
        let decoded = cam.stats().decoded_frames.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(decoded, 50, "{id}: every video frame decoded");
        assert!(cam.frames().take_timeout(Duration::from_millis(100)).is_some_and(|f| f.width == 320), "{id}");
        let names = states.names(&id);
        assert!(!names.contains(&"failed"), "{id}: {names:?}");
        cam.stop();
    }
}

#[test]
fn a_resolution_change_mid_stream_keeps_the_camera_streaming_at_the_new_size() {
    let server = RtspServer::start(0, &[Mount::resolution_change("/profile", (640, 360), (320, 240), 10, 2)]).unwrap();
    let states = States::default();
    let cam = Camera::start(rtsp_camera("profile", &server.url("/profile")), states.sink()).unwrap();
    let mut sizes = Vec::new();
    wait_until("frames at the new size", Duration::from_secs(30), || {
        if let Some(f) = cam.frames().take_timeout(Duration::from_millis(100))
            && sizes.last() != Some(&(f.width, f.height))
        {
            sizes.push((f.width, f.height));
        }
        sizes.last() == Some(&(320, 240))
    });
    take(&cam, 10, Duration::from_secs(10));
    assert_eq!(sizes, vec![(640, 360), (320, 240)]);
    let reconnects = cam.stats().reconnects.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(reconnects, 0, "renegotiated in the same session, not reconnected");
    cam.stop();
    assert!(!states.names("profile").contains(&"failed"), "{:?}", states.names("profile"));
}

#[test]
fn sources_without_video_are_unusable_at_once_and_a_file_is_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    let audio = dir.path().join("voice.m4a");
    let pipeline = format!(
        "audiotestsrc num-buffers=100 samplesperbuffer=441 ! audio/x-raw,rate=44100,channels=1 ! audioconvert \
         ! avenc_aac ! aacparse ! mp4mux ! filesink location={}",
        audio.display()
    );
    assert!(Command::new("gst-launch-1.0").arg("-q").args(pipeline.split_whitespace()).status().unwrap().success());
    let states = States::default();
    let cam = Camera::start(rtsp_camera("voice", audio.to_str().unwrap()), states.sink()).unwrap();
    wait_until("the file to be found unusable", Duration::from_secs(20), || {
        states.names("voice").contains(&"unusable")
    });
    // The camera's thread ends: its slot closes, as at the end of a file.
    wait_until("the camera to close", Duration::from_secs(5), || cam.frames().is_closed());
    let names = states.names("voice");
    assert_eq!(names, vec!["connecting", "unusable"], "once, no retry");
    let reason = states.of("voice").into_iter().find_map(|s| match s {
        CameraState::Unusable { reason, recheck_in } => Some((reason, recheck_in)),
        _ => None,
    });
    let (reason, recheck_in) = reason.unwrap();
    assert!(reason.starts_with("camera voice: ") && reason.contains("no video stream, only audio/mpeg"), "{reason}");
    assert_eq!(recheck_in, None);
    assert!(matches!(SourceUrl::parse(audio.to_str().unwrap()), Ok(SourceUrl::File(_))));
    cam.stop();

    // Over RTSP the camera is asked again only after minutes, as its profile may be fixed.
    let server = RtspServer::start(0, &[Mount::audio_only("/mic")]).unwrap();
    let cam = Camera::start(rtsp_camera("mic", &server.url("/mic")), states.sink()).unwrap();
    wait_until("the camera to be found unusable", Duration::from_secs(20), || {
        states.names("mic").contains(&"unusable")
    });
    let recheck = states.of("mic").into_iter().find_map(|s| match s {
        CameraState::Unusable { recheck_in, .. } => recheck_in,
        _ => None,
    });
    assert_eq!(recheck, Some(menwei_capture::UNUSABLE_RECHECK));
    cam.stop();
    assert_eq!(states.names("mic"), vec!["connecting", "unusable", "stopped"]);
}
