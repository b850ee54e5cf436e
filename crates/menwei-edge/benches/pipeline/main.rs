//! The whole edge pipeline on a gate clip over RTSP, measured in one run:
//! `cargo bench -p menwei-edge --bench pipeline`.
//!
//! It builds a gate clip from real photos (residents, a stranger, registered and unknown cars,
//! each passage followed by an empty gate), serves it from the in-process RTSP server, starts a
//! real Mosquitto and a central stand-in that acknowledges events, and runs the real daemon
//! (`menwei-edge run --profile`) on it four times: with motion gating, detecting every frame,
//! gated with keyframes only while idle, and gated with two intra-op threads. The daemon's
//! `--profile` file gives CPU per stage and frame from per-thread clocks, and the arrival time
//! of the frame behind each event; the stand-in's receive time gives the frame-to-publish
//! latency. It then times the same stages alone, runs the plain Python reference
//! (`benches/reference/pipeline.py`, in a venv under var/ built from PyPI) on the same stream,
//! and (first of all, while nothing else runs) times the matcher. Everything is printed, and
//! written to var/bench/pipeline.json. docs/design/performance.md records a run and defines
//! each figure.
//!
//! The files:
//!
//! - `main.rs`: the order of the steps, and the settings every step shares;
//! - `env.rs`: the machine and software, and CPU counters from `/proc`;
//! - `scene.rs`: the clip, made by the demo crate (`menwei_demo::BenchScene`, `ClipPlan`);
//! - `central.rs`: the central stand-in that receives and acknowledges events;
//! - `daemon.rs`: the daemon's register, configs and runs;
//! - `runs.rs`: one run's figures from the daemon's profile, printed and as JSON;
//! - `alone.rs`: the stages timed alone in this process;
//! - `reference.rs`: the Python reference and its venv;
//! - `matcher.rs`: the matcher against the memory-bandwidth bound;
//! - `report.rs`: the goals, the idle camera, and the JSON report.
//!
//! Under `cargo test` (no `--bench` argument) it does nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use menwei_capture::server::{Mount, RtspServer};
use menwei_tests::{Mosquitto, free_port};
use serde_json::{Value, json};

mod alone;
mod central;
mod daemon;
mod env;
mod matcher;
mod reference;
mod report;
mod runs;
mod scene;

use scene::Clip;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// The plate detector's input for every pipeline in the run (the daemon's `[models]
/// plate_max_side`): `MENWEI_BENCH_PLATE_MAX_SIDE`, default 1600 as the daemon's.
fn plate_max_side() -> u32 {
    std::env::var("MENWEI_BENCH_PLATE_MAX_SIDE").ok().and_then(|v| v.parse().ok()).unwrap_or(1600)
}

/// The daemon's runs: name, motion gating, keyframes only while idle, intra-op threads.
/// Per-stage CPU is exact with one intra-op thread (the models run on the inference thread,
/// whose clock is read); the last run shows what a second thread does to latency.
const RUNS: [(&str, bool, bool, u32); 4] = [
    ("gated", true, false, 1),
    ("every_frame", false, false, 1),
    ("gated_keyframes", true, true, 1),
    ("gated_2_threads", true, false, 2),
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--bench") {
        // `cargo test --all-targets` and nextest list and run bench targets: nothing to do.
        return;
    }
    let skip_python = std::env::var_os("MENWEI_BENCH_NO_PYTHON").is_some();
    let root = root();
    let dir = tempfile::tempdir().unwrap();
    let mut report = BTreeMap::<String, Value>::new();

    report.insert("environment".into(), env::print_environment(&root));
    // The matcher first, while this process runs nothing else: its scan uses every core. Timed
    // at the end of the harness (after the servers had started and the model sessions had run)
    // the same scan took 1.37-1.44x of the bound at 50,000 templates, and 0.96-0.99x in a
    // process of its own.
    let matcher = matcher::run();
    let clip = Clip::build(&root, dir.path());
    report.insert("clip".into(), clip.describe());

    let mqtt = Mosquitto::start(dir.path(), free_port());
    let server = RtspServer::start(
        0,
        &[
            Mount::h264_file("/gate", &clip.file),
            Mount::h264_file("/gate-py", &clip.file),
            Mount::h264_file("/gate-sub", &clip.sub_file),
        ],
    )
    .unwrap();
    let central = central::Central::start(mqtt.port);
    let edge = daemon::Edge::prepare(&root, dir.path(), &clip, mqtt.port);
    report.insert("busy_before".into(), busy_before());

    // `MENWEI_BENCH_SUB_MAIN_ONLY=1`: only the gated and sub-stream runs and their table, for
    // working on the sub-stream path (about 3 of the bench's 7 minutes); no goals, no JSON.
    let sub_main_only = std::env::var_os("MENWEI_BENCH_SUB_MAIN_ONLY").is_some();
    let mut runs = BTreeMap::new();
    for (name, gating, keyframes, threads) in RUNS {
        if sub_main_only && name != "gated" {
            continue;
        }
        runs.insert(name, edge.run_and_print(name, (gating, keyframes, threads), None, &server, &central, &clip));
    }
    // Detection on a 640x360 sub-stream, recognition on the 1280x720 main stream, gated.
    let sub_main = edge.run_and_print("sub_main", (true, false, 1), Some("/gate-sub"), &server, &central, &clip);

    println!("\n== stages timed alone");
    let alone = alone::Alone::measure(&root, &clip);
    alone.print();
    let sub = report::sub_main_and_print(&runs["gated"], &sub_main, &clip, &alone);
    if sub_main_only {
        return;
    }
    runs.insert("sub_main", sub_main);
    report.insert("sub_main".into(), sub);
    let python = if skip_python { None } else { reference::run_and_print(&root, &server.url("/gate-py"), &clip) };

    let goals = report::goals_and_print(&runs, &alone, python.as_ref(), &matcher, &clip);
    for (name, r) in &runs {
        report.insert(format!("run_{name}"), r.to_json(&clip));
    }
    report.insert("alone".into(), alone.to_json());
    report.insert("python".into(), python.unwrap_or(Value::Null));
    report.insert("matcher".into(), json!(matcher));
    report.insert("goals".into(), goals);
    report::write(&root, &report);
    drop(server);
    drop(mqtt);
}

/// How busy the machine was before the runs: the load average, and the share of the CPUs
/// busy over 3 s.
fn busy_before() -> Value {
    println!("\n== how busy the machine was before the runs");
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let idle = env::machine_busy(Duration::from_secs(3));
    println!("load average {}; {:.1} % of the CPUs busy over 3 s before starting", load.trim(), idle * 100.0);
    json!({"loadavg": load.trim(), "busy_share": idle})
}
