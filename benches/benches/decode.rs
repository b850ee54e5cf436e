//! Decode plus conversion cost per frame, in CPU milliseconds, for 720p and 1080p H.264 from a
//! file, in software, with and without scaling to 640 px wide in the pipeline.
//!
//! `cargo bench -p menwei-benches --bench decode`. The clips are made once from the bikes clip
//! that scripts/setup fetches (real footage, scaled up and re-encoded the way a camera would:
//! H.264 main, no B-frames, a keyframe every 2 s at 25 fps, 2 Mbit/s for 720p and 4 Mbit/s for
//! 1080p) and kept in var/bench/.
//!
//! Figures per run, over every frame of the 10 s clip decoded as fast as possible:
//! - `decode`: CPU of the decoding thread per decoded frame (parse and decode; one decoder
//!   thread, the default), measured in the pipeline (`menwei_capture_decode_cpu_seconds_total`);
//! - `convert`: CPU of scaling and conversion to RGB per frame, measured the same way;
//! - `process`: the whole process's CPU per frame (everything, including the consumer), the
//!   number to budget a box with.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use cpu_time::ProcessTime;
use menwei_capture::{Camera, CameraConfig, FrameSource, SourceUrl};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Makes `var/bench/bikes_<h>p.mp4` unless it is there.
fn clip(width: u32, height: u32, kbps: u32) -> PathBuf {
    let src = root().join("var/media/bikes.mp4");
    assert!(src.is_file(), "{} is missing: run scripts/setup", src.display());
    let dir = root().join("var/bench");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join(format!("bikes_{height}p.mp4"));
    if out.is_file() {
        return out;
    }
    eprintln!("making {} (once)...", out.display());
    let tmp = out.with_extension("part");
    let status = Command::new("gst-launch-1.0")
        .arg("-q")
        .args(format!(
            "filesrc location={} ! decodebin ! videoconvert ! videoscale ! video/x-raw,width={width},height={height} \
             ! x264enc bitrate={kbps} key-int-max=50 bframes=0 speed-preset=veryfast ! video/x-h264,profile=main \
             ! h264parse ! mp4mux ! filesink location={}",
            src.display(),
            tmp.display()
        )
        .split_whitespace())
        .status()
        .expect("gst-launch-1.0 (gstreamer1.0-tools, installed by scripts/setup)");
    assert!(status.success(), "encoding {} failed", out.display());
    std::fs::rename(&tmp, &out).unwrap();
    out
}

struct Run {
    frames: u64,
    decode_ms: f64,
    convert_ms: f64,
    process_ms: f64,
    fps: f64,
}

fn run(path: &Path, scale_width: Option<u32>) -> Run {
    let mut cfg = CameraConfig::new("bench", SourceUrl::File(path.to_owned()));
    cfg.realtime = false;
    cfg.scale_width = scale_width;
    let cpu0 = ProcessTime::now();
    let t0 = Instant::now();
    let cam = Camera::start(cfg, Arc::new(|_, _| {})).unwrap();
    // Take every frame, as the daemon would.
    while !cam.frames().is_closed() || cam.frames().has_item() {
        let _ = cam.frames().take_timeout(Duration::from_millis(50));
    }
    let cpu = cpu0.elapsed();
    let wall = t0.elapsed();
    let s = cam.stats().clone();
    cam.stop();
    let frames = s.decoded_frames.load(Ordering::Relaxed) + 1; // the first frame has no delta
    Run {
        frames,
        decode_ms: s.decode_cpu_ms_per_frame().unwrap_or(f64::NAN),
        convert_ms: s.convert_cpu_ms_per_frame().unwrap_or(f64::NAN),
        process_ms: cpu.as_secs_f64() * 1e3 / frames as f64,
        fps: frames as f64 / wall.as_secs_f64(),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`. Test runners (`cargo test --all-targets`, nextest) list
    // and run it as one smoke test that makes the clips and runs each case once.
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        if !args.iter().any(|a| a == "--ignored") {
            println!("decode_bench_smoke: test");
        }
        return;
    }
    let quick = !args.iter().any(|a| a == "--bench");
    let repeats = if quick { 1 } else { 5 };
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    println!("decode + conversion, software (avdec_h264, 1 decoder thread), file source, as fast as possible");
    println!("cpu: {cpu}; {repeats} runs each, medians\n");
    println!(
        "{:<8} {:<10} {:>7} {:>12} {:>13} {:>13} {:>8}",
        "clip", "analysis", "frames", "decode ms/f", "convert ms/f", "process ms/f", "fps"
    );
    for (w, h, kbps) in [(1280, 720, 2000), (1920, 1080, 4000)] {
        let path = clip(w, h, kbps);
        for scale in [None, Some(640)] {
            let _warm = run(&path, scale);
            let runs: Vec<Run> = (0..repeats).map(|_| run(&path, scale)).collect();
            let med = |f: fn(&Run) -> f64| median(runs.iter().map(f).collect());
            let label = scale.map_or(format!("{w}x{h}"), |s| format!("{s} wide"));
            println!(
                "{:<8} {:<10} {:>7} {:>12.2} {:>13.2} {:>13.2} {:>8.0}",
                format!("{h}p"),
                label,
                runs[0].frames,
                med(|r| r.decode_ms),
                med(|r| r.convert_ms),
                med(|r| r.process_ms),
                med(|r| r.fps)
            );
        }
    }
}
