//! Capture against a real RTSP server (gst-rtsp-server, in this process, on 127.0.0.1) and
//! against misbehaving TCP peers: reconnection, watchdog, isolation between cameras, and clear
//! errors for bad sources.

use std::io::Write as _;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use menwei_capture::server::{Mount, RtspServer};
use menwei_capture::{Camera, CameraConfig, CameraState, Decode, FrameSource, HwFamily, SourceUrl};
use menwei_core::frame::{Frame, YuvFormat};
use menwei_tests::free_port;

mod common;
use common::{States, media, rtsp_camera, take, wait_until};

fn mean_abs_diff(a: &Frame, b: &Frame) -> f64 {
    assert_eq!((a.width, a.height), (b.width, b.height));
    let (va, vb) = (a.view().unwrap(), b.view().unwrap());
    let mut sum = 0u64;
    for y in 0..a.height {
        for (x, y2) in va.row(y).iter().zip(vb.row(y)) {
            sum += u64::from(x.abs_diff(*y2));
        }
    }
    sum as f64 / (a.width * a.height * 3) as f64
}

#[test]
fn frames_over_rtsp_match_the_clip_decoded_from_the_file() {
    let clip = media("carphone_pristine.mp4");
    let server = RtspServer::start(0, &[Mount::h264_file("/clip", &clip)]).unwrap();
    let states = States::default();

    // The reference: the same file decoded locally, at its own pace, first two seconds.
    let mut file_cfg = CameraConfig::new("file", SourceUrl::File(clip));
    file_cfg.realtime = true;
    let file = Camera::start(file_cfg, states.sink()).unwrap();
    let reference = take(&file, 45, Duration::from_secs(20));
    file.stop();

    let cam = Camera::start(rtsp_camera("clip", &server.url("/clip")), states.sink()).unwrap();
    let frames = take(&cam, 10, Duration::from_secs(20));
    let decoder = cam.stats().decoder();
    cam.stop();

    assert_eq!(decoder.as_deref(), Some("avdec_h264"));
    let mut last_match = 0;
    for (i, f) in frames.iter().enumerate() {
        assert_eq!((f.width, f.height, f.stride_bytes), (176, 144, 176 * 3), "frame {i}");
        assert!(f.full.is_none());
        if i > 0 {
            assert!(f.seq > frames[i - 1].seq && f.pts_ns > frames[i - 1].pts_ns && f.arrived > frames[i - 1].arrived);
        }
        let (best, diff) = reference
            .iter()
            .enumerate()
            .map(|(j, r)| (j, mean_abs_diff(f, r)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap();
        eprintln!("rtsp frame {i} (seq {}) = file frame {best}, mean |diff| {diff:.3}", f.seq);
        assert!(diff < 0.5, "rtsp frame {i} differs from every file frame (best {best}: {diff:.2})");
        assert!(best >= last_match, "frames out of order");
        last_match = best;
    }
}

#[test]
fn odd_widths_keep_their_stride_and_colours_and_scaled_frames_carry_the_full_picture() {
    let server = RtspServer::start(
        0,
        &[Mount::test_pattern("/odd", 322, 240, 25, false), Mount::test_pattern("/vga", 640, 480, 25, false)],
    )
    .unwrap();
    let states = States::default();

    let odd = Camera::start(rtsp_camera("odd", &server.url("/odd")), states.sink()).unwrap();
    let f = take(&odd, 3, Duration::from_secs(20)).pop().unwrap();
    odd.stop();
    // RGB rows are padded to 4 bytes: 322 * 3 = 966 -> 968.
    assert_eq!((f.width, f.height, f.stride_bytes), (322, 240, 968));
    // videotestsrc's SMPTE bars, top part, at full intensity: white, yellow, cyan, green,
    // magenta, red, blue.
    let v = f.view().unwrap();
    let bar = |i: u32| v.pixel(322 * (2 * i + 1) / 14, 60);
    let want = [[255, 255, 255], [255, 255, 0], [0, 255, 255], [0, 255, 0], [255, 0, 255], [255, 0, 0], [0, 0, 255]];
    for (i, w) in want.iter().enumerate() {
        let got = bar(i as u32);
        assert!(got.iter().zip(w).all(|(g, w)| g.abs_diff(*w) <= 20), "bar {i}: {got:?}, want about {w:?}");
    }

    let mut cfg = rtsp_camera("vga", &server.url("/vga"));
    cfg.scale_width = Some(320);
    let vga = Camera::start(cfg, states.sink()).unwrap();
    let frames = take(&vga, 5, Duration::from_secs(20));
    vga.stop();
    let with_full = frames.iter().filter(|f| f.full.is_some()).count();
    assert!(with_full >= 4, "only {with_full} of 5 scaled frames carry their full picture");
    let f = frames.iter().find(|f| f.full.is_some()).unwrap();
    assert_eq!((f.width, f.height), (320, 240));
    let full = f.full.as_ref().unwrap();
    assert_eq!((full.width, full.height, full.format), (640, 480, YuvFormat::I420));
    // The same bar, from the small RGB frame and from a crop of the full picture.
    let mut crop = Vec::new();
    for i in 0..7u32 {
        let x = 640 * (2 * i + 1) / 14;
        assert_eq!(full.crop_rgb(x, 120, 1, 1, &mut crop), (1, 1));
        let small = f.view().unwrap().pixel(x / 2, 60);
        assert!(crop.iter().zip(small).all(|(a, b)| a.abs_diff(b) <= 20), "bar {i}: full {crop:?}, small {small:?}");
    }
}

#[test]
fn h265_over_udp() {
    let server = RtspServer::start(0, &[Mount::test_pattern("/hevc", 320, 240, 25, true)]).unwrap();
    let states = States::default();
    let mut cfg = rtsp_camera("hevc", &server.url("/hevc"));
    cfg.rtsp_tcp = false;
    let cam = Camera::start(cfg, states.sink()).unwrap();
    let f = take(&cam, 5, Duration::from_secs(20)).pop().unwrap();
    assert_eq!((f.width, f.height), (320, 240));
    assert_eq!(cam.stats().decoder().as_deref(), Some("avdec_h265"));
    cam.stop();
}

#[test]
fn the_source_reconnects_when_the_server_comes_back() {
    let mount = || [Mount::test_pattern("/live", 320, 240, 25, false)];
    let server = RtspServer::start(0, &mount()).unwrap();
    let port = server.port();
    let states = States::default();
    let cam = Camera::start(rtsp_camera("gate", &server.url("/live")), states.sink()).unwrap();
    take(&cam, 10, Duration::from_secs(20));

    server.stop();
    wait_until("the camera to notice the server is gone", Duration::from_secs(30), || {
        matches!(states.of("gate").last(), Some(CameraState::Failed { .. } | CameraState::Stalled { .. }))
    });
    let before = cam.frames().put_count();
    std::thread::sleep(Duration::from_millis(1500));

    let server = RtspServer::start(port, &mount()).unwrap();
    let up = Instant::now();
    wait_until("frames after the restart", Duration::from_secs(45), || cam.frames().put_count() > before);
    let to_first = up.elapsed();
    eprintln!("server up -> first frame: {to_first:.2?}");
    take(&cam, 10, Duration::from_secs(20));
    assert!(cam.stats().reconnects.load(std::sync::atomic::Ordering::Relaxed) >= 1);
    let names = states.names("gate");
    let first_failure = names.iter().position(|n| *n == "failed" || *n == "stalled").unwrap();
    assert!(names[first_failure..].contains(&"streaming"), "{names:?}");
    cam.stop();
    drop(server);
}

#[test]
fn a_camera_absent_at_start_is_picked_up_when_it_appears() {
    let port = free_port();
    let states = States::default();
    let cam = Camera::start(rtsp_camera("late", &format!("rtsp://127.0.0.1:{port}/live")), states.sink()).unwrap();
    wait_until("a first failure", Duration::from_secs(20), || states.names("late").contains(&"failed"));
    std::thread::sleep(Duration::from_secs(2));
    let server = RtspServer::start(port, &[Mount::test_pattern("/live", 320, 240, 25, false)]).unwrap();
    let up = Instant::now();
    take(&cam, 5, Duration::from_secs(45));
    eprintln!("server up -> first frames: {:.2?}", up.elapsed());
    let names = states.names("late");
    assert_eq!(names.first(), Some(&"connecting"));
    assert!(names.contains(&"streaming"), "{names:?}");
    cam.stop();
    drop(server);
}

/// A TCP peer that accepts connections and then says nothing (`garbage = false`) or answers
/// with bytes that are not RTSP.
fn bad_peer(garbage: bool) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for mut s in l.incoming().flatten() {
            if garbage {
                let junk: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
                let _ = s.write_all(&junk);
            }
            held.push(s);
        }
    });
    port
}

#[test]
fn a_server_that_sends_nothing_trips_the_watchdog() {
    let port = bad_peer(false);
    let states = States::default();
    let mut cfg = rtsp_camera("mute", &format!("rtsp://127.0.0.1:{port}/live"));
    cfg.watchdog = Duration::from_secs(2);
    let cam = Camera::start(cfg, states.sink()).unwrap();
    wait_until("two watchdog firings", Duration::from_secs(30), || {
        cam.stats().stalls.load(std::sync::atomic::Ordering::Relaxed) >= 2
    });
    cam.stop();
    let names = states.names("mute");
    assert!(!names.contains(&"streaming"), "{names:?}");
    let stalled = names.iter().position(|n| *n == "stalled").unwrap();
    assert_eq!(names[stalled + 1], "connecting", "the pipeline restarts after a stall: {names:?}");
    assert!(states.of("mute").contains(&CameraState::Stalled { after: Duration::from_secs(2) }));
}

#[test]
fn a_failing_camera_does_not_slow_a_healthy_one() {
    let server = RtspServer::start(0, &[Mount::test_pattern("/ok", 320, 240, 25, false)]).unwrap();
    let states = States::default();
    let healthy = Camera::start(rtsp_camera("healthy", &server.url("/ok")), states.sink()).unwrap();
    let mut bad_cfg = rtsp_camera("broken", &format!("rtsp://127.0.0.1:{}/x", bad_peer(true)));
    bad_cfg.watchdog = Duration::from_secs(1);
    let broken = Camera::start(bad_cfg, states.sink()).unwrap();
    // A consumer that takes every frame of both, as the daemon would.
    take(&healthy, 10, Duration::from_secs(20));

    let (sent0, got0) = (server.frames_sent("/ok"), healthy.frames().put_count());
    let failures0 = states.names("broken").iter().filter(|n| **n == "failed").count();
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(6) {
        let _ = healthy.frames().take_timeout(Duration::from_millis(50));
        let _ = broken.frames().try_take();
    }
    let (sent, got) = (server.frames_sent("/ok") - sent0, healthy.frames().put_count() - got0);
    let failures = states.names("broken").iter().filter(|n| **n == "failed").count() - failures0;
    healthy.stop();
    broken.stop();
    eprintln!("healthy camera: {got} frames received of {sent} sent; broken camera failed {failures} more times");
    assert!(failures >= 1, "the broken camera kept failing meanwhile");
    assert!(sent >= 100, "the server sent only {sent} frames");
    assert!(got as f64 >= 0.95 * sent as f64, "healthy camera received {got} of {sent}");
}

#[test]
fn bad_sources_give_clear_errors_naming_the_camera() {
    let server =
        RtspServer::start(0, &[Mount::test_pattern("/live", 320, 240, 25, false), Mount::audio_only("/audio")])
            .unwrap();
    let states = States::default();
    let wrong_url = format!("rtsp://admin:hunter2@127.0.0.1:{}/nope", server.port());
    let cams = [
        ("wrong-url", wrong_url.clone()),
        ("wrong-codec", server.url("/audio")),
        ("garbage", format!("rtsp://127.0.0.1:{}/live", bad_peer(true))),
    ]
    .map(|(id, url)| Camera::start(rtsp_camera(id, &url), states.sink()).unwrap());
    for id in ["wrong-url", "garbage"] {
        // The camera's thread lives on and tries again after the failure: no panic.
        wait_until(&format!("{id} to fail and retry"), Duration::from_secs(30), || {
            let n = states.names(id);
            n.iter().skip_while(|s| **s != "failed").filter(|s| **s == "connecting").count() >= 1
        });
    }
    // A URL without video is not a connection to retry: it is unusable, said once.
    wait_until("wrong-codec to be unusable", Duration::from_secs(30), || {
        states.names("wrong-codec").contains(&"unusable")
    });
    for c in cams {
        c.stop();
    }
    let wrong_codec = states.names("wrong-codec");
    assert_eq!(wrong_codec.iter().filter(|s| **s == "connecting").count(), 1, "{wrong_codec:?}");
    assert!(!wrong_codec.contains(&"failed"), "{wrong_codec:?}");
    let reason = |id: &str| {
        states
            .of(id)
            .into_iter()
            .find_map(|s| match s {
                CameraState::Failed { reason, .. } | CameraState::Unusable { reason, .. } => Some(reason),
                _ => None,
            })
            .unwrap()
    };
    for id in ["wrong-url", "wrong-codec", "garbage"] {
        let r = reason(id);
        eprintln!("{id}: {r}");
        assert!(r.starts_with(&format!("camera {id}: rtsp://")), "{r}");
        assert!(!r.contains("hunter2"), "credentials leaked: {r}");
    }
    assert!(reason("wrong-url").to_lowercase().contains("not found"), "{}", reason("wrong-url"));
    assert!(reason("wrong-codec").contains("no video stream, only audio (L16)"), "{}", reason("wrong-codec"));
}

#[test]
fn decoder_choice_probes_hardware_and_falls_back() {
    let clip = media("carphone_pristine.mp4");
    let states = States::default();
    let mut cfg = CameraConfig::new("auto", SourceUrl::File(clip.clone()));
    cfg.decode = Decode::Auto;
    cfg.realtime = false;
    let cam = Camera::start(cfg, states.sink()).unwrap();
    take(&cam, 1, Duration::from_secs(20));
    let decoder = cam.stats().decoder().unwrap();
    eprintln!("decode = auto chose {:?} ({decoder})", cam.decoder());
    if cam.decoder() == menwei_capture::decode::Resolved::Software {
        assert!(decoder.starts_with("avdec_"), "{decoder}");
    }
    cam.stop();

    for family in HwFamily::ALL {
        let mut cfg = CameraConfig::new("hw", SourceUrl::File(clip.clone()));
        cfg.decode = Decode::Hardware(family);
        match Camera::start(cfg, states.sink()) {
            Ok(cam) => {
                assert!(menwei_capture::decode::available(family));
                cam.stop();
            }
            Err(e) => {
                let e = e.to_string();
                eprintln!("{e}");
                assert!(!menwei_capture::decode::available(family));
                assert!(e.starts_with("camera hw: decode = ") && e.contains(family.name()), "{e}");
            }
        }
    }
}

#[test]
fn a_stream_that_turns_corrupt_is_reset_and_recovers() {
    // A live H.264 stream whose bytes turn to noise after its first 300 kB (about a second).
    // Each new session starts clean again, as a camera that glitched would after a reconnect.
    let server = RtspServer::start(
        0,
        &[Mount::new(
            "/glitch",
            "( videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=25/1 \
             ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=25 bframes=0 \
             ! breakmydata skip=300000 probability=0.05 ! rtph264pay name=pay0 pt=96 config-interval=1 )",
        )],
    )
    .unwrap();
    let states = States::default();
    let mut cfg = rtsp_camera("glitch", &server.url("/glitch"));
    cfg.watchdog = Duration::from_secs(2);
    let cam = Camera::start(cfg, states.sink()).unwrap();
    take(&cam, 5, Duration::from_secs(20));
    wait_until("the corrupt stream to be reset", Duration::from_secs(30), || {
        let n = states.names("glitch");
        n.iter().skip_while(|s| **s != "streaming").any(|s| *s == "stalled" || *s == "failed")
    });
    let before = cam.frames().put_count();
    wait_until("frames after the reset", Duration::from_secs(30), || cam.frames().put_count() > before + 5);
    let decoded = cam.stats().decoded_frames.load(std::sync::atomic::Ordering::Relaxed);
    cam.stop();
    let names = states.names("glitch");
    eprintln!("states: {names:?}; {decoded} frames decoded");
    let reset = names.iter().position(|s| *s == "stalled" || *s == "failed").unwrap();
    assert!(names[reset..].contains(&"streaming"), "{names:?}");
}

/// Runs `cam` on a live 6 s stream (60 frames at 10 frames/s, a keyframe every 10), calling
/// `during` with the camera after each frame it decodes, until the server has sent it all.
fn decode_counts(server: &RtspServer, path: &str, cam: Camera, mut during: impl FnMut(&Camera)) -> (u64, u64) {
    let sent0 = server.frames_sent(path);
    let t = Instant::now();
    let mut seen = 0;
    while server.frames_sent(path) - sent0 < 60 {
        assert!(t.elapsed() < Duration::from_secs(60), "the stream did not play");
        let decoded = cam.stats().decoded_frames.load(std::sync::atomic::Ordering::Relaxed);
        if decoded > seen {
            seen = decoded;
            during(&cam);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // The last frames in flight.
    std::thread::sleep(Duration::from_millis(500));
    let s = cam.stats();
    let counts = (
        s.decoded_frames.load(std::sync::atomic::Ordering::Relaxed),
        s.skipped_frames.load(std::sync::atomic::Ordering::Relaxed),
    );
    cam.stop();
    counts
}

#[test]
fn an_idle_camera_decodes_keyframes_only_and_resumes_at_a_keyframe() {
    let launch = "( videotestsrc is-live=true num-buffers=60 pattern=ball ! video/x-raw,width=320,height=240,framerate=10/1 \
                  ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=10 bframes=0 \
                  ! rtph264pay name=pay0 pt=96 config-interval=1 )";
    let server = RtspServer::start(0, &[Mount::new("/gop", launch)]).unwrap();
    let states = States::default();
    let config = || {
        let mut c = rtsp_camera("idle", &server.url("/gop"));
        c.idle_keyframes_only = true;
        c
    };

    // Idle throughout: one decoded frame per group of pictures.
    let cam = Camera::start(config(), states.sink()).unwrap();
    cam.set_idle(true);
    let (idle_decoded, idle_skipped) = decode_counts(&server, "/gop", cam, |_| {});
    // Idle until two keyframes were decoded, then awake: full decoding from the next keyframe.
    let cam = Camera::start(config(), states.sink()).unwrap();
    cam.set_idle(true);
    let (woken_decoded, woken_skipped) = decode_counts(&server, "/gop", cam, |c| {
        if c.stats().decoded_frames.load(std::sync::atomic::Ordering::Relaxed) >= 2 {
            c.set_idle(false);
        }
    });
    // The same flag without the option changes nothing.
    let mut plain = config();
    plain.idle_keyframes_only = false;
    let cam = Camera::start(plain, states.sink()).unwrap();
    cam.set_idle(true);
    let (plain_decoded, plain_skipped) = decode_counts(&server, "/gop", cam, |_| {});

    eprintln!(
        "decoded/skipped of 60 frames: idle {idle_decoded}/{idle_skipped}, woken after 2 keyframes \
         {woken_decoded}/{woken_skipped}, option off {plain_decoded}/{plain_skipped}"
    );
    assert!((4..=7).contains(&idle_decoded), "one keyframe per second of a 6 s stream: {idle_decoded}");
    assert!(idle_skipped >= 45, "{idle_skipped}");
    assert!((9..=45).contains(&woken_skipped), "the first groups were skipped: {woken_skipped}");
    assert!(woken_decoded >= idle_decoded + 10, "full decoding resumed at a keyframe: {woken_decoded}");
    assert!(woken_decoded + woken_skipped >= 55);
    assert_eq!(plain_skipped, 0);
    assert!(plain_decoded >= 55, "{plain_decoded}");
}

/// Nanoseconds between the NTP epoch (1900) and the Unix epoch (1970).
const NTP_TO_UNIX_NS: u64 = 2_208_988_800 * 1_000_000_000;

#[test]
fn rtsp_frames_carry_the_cameras_clock_once_a_sender_report_arrives_and_files_do_not() {
    let server = RtspServer::start(0, &[Mount::test_pattern("/gate", 320, 240, 25, false)]).unwrap();
    let cam = Camera::start(rtsp_camera("gate", &server.url("/gate")), States::default().sink()).unwrap();
    // RTCP sender reports come every few seconds; frames before the first have no clock.
    let (mut before, mut stamped) = (0, Vec::new());
    let t = Instant::now();
    while stamped.len() < 20 {
        assert!(t.elapsed() < Duration::from_secs(30), "{before} frames, none with the camera's clock in 30 s");
        let Some(f) = cam.frames().take_timeout(Duration::from_millis(100)) else { continue };
        match f.sender_ns {
            Some(_) => stamped.push(f),
            None if stamped.is_empty() => before += 1,
            None => panic!("frame {} lost the camera's clock after it had one", f.seq),
        }
    }
    cam.stop();
    eprintln!("{before} frames before the first sender report, then {} stamped", stamped.len());
    // The server runs on this machine's real-time clock, so the camera's clock is the wall clock.
    let now_ntp =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 + NTP_TO_UNIX_NS;
    let last = stamped.last().unwrap().sender_ns.unwrap();
    assert!(now_ntp.abs_diff(last) < 2_000_000_000, "camera clock {last} vs wall clock {now_ntp}");
    // It advances with the stream: consecutive pictures 40 ms apart on both clocks.
    for w in stamped.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        let by_camera = b.sender_ns.unwrap() as i64 - a.sender_ns.unwrap() as i64;
        let by_pts = b.pts_ns.unwrap() as i64 - a.pts_ns.unwrap() as i64;
        assert!(by_camera > 0, "the camera's clock went backwards: {a:?} then {b:?}", a = a.seq, b = b.seq);
        assert!((by_camera - by_pts).abs() < 5_000_000, "camera {by_camera} ns vs pts {by_pts} ns");
    }

    let mut file_cfg = CameraConfig::new("file", SourceUrl::File(media("carphone_pristine.mp4")));
    file_cfg.realtime = true;
    let file = Camera::start(file_cfg, States::default().sink()).unwrap();
    let frames = take(&file, 10, Duration::from_secs(20));
    file.stop();
    assert!(frames.iter().all(|f| f.sender_ns.is_none()), "a file has no camera clock");
}
