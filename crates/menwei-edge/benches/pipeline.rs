//! The whole edge pipeline on a gate clip over RTSP, measured in one run:
//! `cargo bench -p menwei-edge --bench pipeline`.
//!
//! It builds a gate clip from real photos (residents, a stranger, registered and unknown cars,
//! each passage followed by an empty gate), serves it from the in-process RTSP server, starts a
//! real Mosquitto and a central stand-in that acknowledges events, and runs the real daemon
//! (`menwei-edge run --profile`) on it twice: with motion gating, and detecting every frame.
//! The daemon's `--profile` file gives CPU per stage and frame from per-thread clocks, and the
//! arrival time of the frame behind each event; the stand-in's receive time gives the
//! frame-to-publish latency. It then times the same stages alone, runs the plain Python
//! reference (`benches/reference/pipeline.py`, in a venv under var/ built from PyPI) on the same
//! stream, and times the matcher. Everything is printed, and written to
//! var/bench/pipeline.json. docs/design/performance.md records a run and defines each figure.
//!
//! Under `cargo test` (no `--bench` argument) it does nothing.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use menwei_capture::server::{Mount, RtspServer};
use menwei_core::image::RgbView;
use menwei_core::profile::{STAGES, Stage};
use menwei_tests::{Mosquitto, free_port};
use serde_json::{Value, json};

const W: u32 = 1280;
const H: u32 = 720;
const FPS: u32 = 10;
const KEY_INT: u32 = 10;
/// Seconds a picture is shown, then seconds of empty gate after it; the clip starts with
/// `IDLE_S` seconds of empty gate (long enough for a camera to count as idle).
const SHOW_S: u32 = 2;
const EMPTY_S: u32 = 2;
const IDLE_S: u32 = 10;
const CORES_MS_PER_S: f64 = 2000.0;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// The plate detector's input for every pipeline in the run (the daemon's `[models]
/// plate_max_side`): `MENWEI_BENCH_PLATE_MAX_SIDE`, default 1600 as the daemon's.
fn plate_max_side() -> u32 {
    std::env::var("MENWEI_BENCH_PLATE_MAX_SIDE").ok().and_then(|v| v.parse().ok()).unwrap_or(1600)
}

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

    println!("== environment");
    let env = environment(&root);
    for (k, v) in env.as_object().unwrap() {
        println!("{k:>22}: {}", v.as_str().map_or_else(|| v.to_string(), str::to_owned));
    }
    report.insert("environment".into(), env);

    // The matcher first, while this process runs nothing else: its scan uses every core. Timed
    // at the end of the harness (after the servers had started and the model sessions had run)
    // the same scan took 1.37-1.44x of the bound at 50,000 templates, and 0.96-0.99x in a
    // process of its own.
    println!("\n== matcher: exact top-1, 512-d f32, one contiguous matrix, a slice per core over 16 MiB");
    let matcher = matcher_bench();

    let clip = Clip::build(&root, dir.path());
    println!(
        "{:>22}: H.264 (x264 ultrafast, no B-frames), {W}x{H}, {FPS} fps, keyframe every {KEY_INT} frames, {} frames ({} s): \
         {IDLE_S} s of empty gate, then {} passages of {SHOW_S} s each followed by {EMPTY_S} s of empty gate \
         (someone or something in view {} s)",
        "clip",
        clip.frames.len(),
        clip.frames.len() as u32 / FPS,
        clip.passages.len(),
        clip.passages.len() as u32 * SHOW_S
    );
    report.insert(
        "clip".into(),
        json!({"codec": "H.264", "width": W, "height": H, "fps": FPS, "keyframe_interval": KEY_INT,
               "frames": clip.frames.len(), "passages": clip.passages.iter().map(|p| &p.label).collect::<Vec<_>>()}),
    );

    let mqtt = Mosquitto::start(dir.path(), free_port());
    let server =
        RtspServer::start(0, &[Mount::h264_file("/gate", &clip.file), Mount::h264_file("/gate-py", &clip.file)])
            .unwrap();
    let central = Central::start(mqtt.port);
    let edge = Edge::prepare(&root, dir.path(), &clip, mqtt.port);

    println!("\n== how busy the machine was before the runs");
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let idle = machine_busy(Duration::from_secs(3));
    println!("load average {}; {:.1} % of the CPUs busy over 3 s before starting", load.trim(), idle * 100.0);
    report.insert("busy_before".into(), json!({"loadavg": load.trim(), "busy_share": idle}));

    let mut runs = BTreeMap::new();
    // Per-stage CPU is exact with one intra-op thread (the models run on the inference thread,
    // whose clock is read); the last run shows what a second thread does to latency.
    for (name, gating, keyframes, threads) in [
        ("gated", true, false, 1),
        ("every_frame", false, false, 1),
        ("gated_keyframes", true, true, 1),
        ("gated_2_threads", true, false, 2),
    ] {
        println!(
            "\n== run: {name} (motion_gating = {gating}, idle_keyframes_only = {keyframes}, intra_threads = {threads})"
        );
        if threads > 1 {
            println!("(model stages below count only the inference thread's share of each model run)");
        }
        let r = edge.run(name, (gating, keyframes, threads), &server, &central, &clip);
        r.print(&clip);
        runs.insert(name, r);
    }
    let (gated, every) = (&runs["gated"], &runs["every_frame"]);

    println!("\n== stages timed alone");
    let alone = Alone::measure(&root, &clip);
    alone.print();

    let python = if skip_python {
        None
    } else {
        println!("\n== Python + OpenCV + onnxruntime reference (same stream, models and settings)");
        let p = python_reference(&root, &server.url("/gate-py"), &clip);
        if let Some(p) = &p {
            println!(
                "frames {} | CPU {:.1} s | {:.1} CPU-ms per frame | wall {:.1} s | residents {} | plates read {} | opencv {} onnxruntime {}",
                p["frames"],
                p["cpu_s"].as_f64().unwrap_or(0.0),
                p["cpu_s"].as_f64().unwrap_or(0.0) * 1e3 / p["frames"].as_f64().unwrap_or(1.0).max(1.0),
                p["wall_s"].as_f64().unwrap_or(0.0),
                p["residents"],
                p["plates"],
                p["opencv"],
                p["onnxruntime"]
            );
        }
        p
    };

    println!("\n== goals");
    let mut goals = goals(gated, every, &runs["gated_2_threads"], &alone, python.as_ref(), &matcher, &clip);
    {
        // What an idle camera costs: the clip's idle stretches, with and without keyframes-only.
        let kf = &runs["gated_keyframes"];
        let dec = |r: &Run| (r.decode_ns.iter().sum::<u64>() + r.convert_ns.iter().sum::<u64>()) as f64 / 1e9;
        let line = format!(
            "decode+convert CPU over the clip: {:.2} s gated, {:.2} s gated with idle_keyframes_only ({} frames not decoded); \
             daemon CPU {:.1} s and {:.1} s; recall {}/{} and {}/{}",
            dec(gated),
            dec(kf),
            kf.skipped,
            gated.cpu_s,
            kf.cpu_s,
            gated.recall(&clip).0,
            gated.recall(&clip).1,
            kf.recall(&clip).0,
            kf.recall(&clip).1
        );
        goals.as_object_mut().unwrap().insert(
            "idle".into(),
            json!({"decode_s_gated": dec(gated), "decode_s_keyframes": dec(kf), "skipped": kf.skipped, "line": line}),
        );
        // An idle camera per second of video: decoding and converting the gated run's empty
        // lead-in, the motion gate on each frame, and one whole look per idle check.
        let lead = (FPS * IDLE_S) as usize;
        let n = gated.decode_ns.len().min(gated.convert_ns.len()).min(lead);
        let decode_ms = if n == 0 {
            0.0
        } else {
            (gated.decode_ns[..n].iter().sum::<u64>() + gated.convert_ns[..n].iter().sum::<u64>()) as f64
                / n as f64
                / 1e6
        };
        // A whole look: a whole-frame analysis that read no plate and embedded no face, past the
        // first analysis (the sessions' first run at an input size costs more); the median.
        let mut looks: Vec<f64> = gated
            .analysed
            .iter()
            .skip(1)
            .filter(|(_, ns, share)| {
                *share >= 0.999
                    && [Stage::Embedder, Stage::PlateReader1, Stage::PlateReader2]
                        .iter()
                        .all(|st| ns[*st as usize] == 0)
            })
            .map(|(_, ns, _)| ns.iter().sum::<u64>() as f64 / 1e6)
            .collect();
        looks.sort_by(f64::total_cmp);
        let look_ms = pct(&looks, 0.5);
        let gate_ms = gated.still.iter().map(|ns| ns.iter().sum::<u64>() as f64 / 1e6).sum::<f64>()
            / gated.still.len().max(1) as f64;
        let check_s = menwei_edge::config::DEFAULT_IDLE_CHECK_SECS;
        let decode_per_s = f64::from(FPS) * decode_ms;
        let idle_per_s = decode_per_s + f64::from(FPS) * gate_ms + look_ms / check_s;
        let line = format!(
            "{idle_per_s:.1} CPU-ms per second = decode+convert {decode_per_s:.1} (the lead-in) + motion gate {:.1} + a whole look of {look_ms:.0} ms (median of {} with nothing to read) every {check_s} s: {:.2}x its decode",
            f64::from(FPS) * gate_ms,
            looks.len(),
            idle_per_s / decode_per_s.max(1e-9)
        );
        goals.as_object_mut().unwrap().insert(
            "idle_cam".into(),
            json!({"cpu_ms_per_s": idle_per_s, "decode_ms_per_s": decode_per_s, "look_ms": look_ms,
                   "ratio": idle_per_s / decode_per_s.max(1e-9), "line": line}),
        );
    }
    for (k, v) in goals.as_object().unwrap() {
        println!("{k:>8}: {}", v["line"].as_str().unwrap_or_default());
    }

    for (name, r) in &runs {
        report.insert(format!("run_{name}"), r.to_json(&clip));
    }
    report.insert("alone".into(), alone.to_json());
    report.insert("python".into(), python.unwrap_or(Value::Null));
    report.insert("matcher".into(), json!(matcher));
    report.insert("goals".into(), goals);
    let out = root.join("var/bench");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("pipeline.json"), serde_json::to_vec_pretty(&report).unwrap()).unwrap();
    println!("\nwritten: var/bench/pipeline.json");
    drop(server);
    drop(mqtt);
}

// ---------------------------------------------------------------------------------------------
// Environment

fn environment(root: &Path) -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |k: &str| {
        cpuinfo
            .lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_once(':'))
            .map(|x| x.1.trim().to_owned())
            .unwrap_or_default()
    };
    let flags = field("flags");
    let simd: Vec<&str> = flags
        .split_whitespace()
        .filter(|f| {
            [
                "sse4_1",
                "sse4_2",
                "avx",
                "avx2",
                "fma",
                "f16c",
                "avx512f",
                "avx512bw",
                "avx512vl",
                "avx512_vnni",
                "avx_vnni",
                "avx512_bf16",
                "amx_tile",
                "amx_int8",
                "amx_bf16",
                "asimd",
                "asimddp",
                "sve",
                "i8mm",
                "bf16",
            ]
            .contains(f)
        })
        .collect();
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).unwrap_or_default();
    let ort = lock
        .split("[[package]]")
        .find(|p| p.contains("\nname = \"ort\"\n"))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = ")))
        .unwrap_or("?")
        .trim_matches('"')
        .to_owned();
    let manifest: toml::Value =
        toml::from_str(&std::fs::read_to_string(root.join("models/models.toml")).unwrap()).unwrap();
    let ort_lib = std::fs::canonicalize(root.join("var/onnxruntime/libonnxruntime.so")).unwrap_or_default();
    let models: BTreeMap<String, String> = manifest["model"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["name"].as_str().unwrap().to_owned(), m["sha256"].as_str().unwrap()[..16].to_owned()))
        .collect();
    json!({
        "cpu": field("model name"),
        "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "simd_flags": simd.join(" "),
        "all_flags": flags.split_whitespace().count(),
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
        "onnxruntime": format!("{} ({})", manifest["onnxruntime"]["version"].as_str().unwrap_or("?"), ort_lib.display()),
        "ort_crate": ort,
        "ort_threads": "intra-op 1 (2 in the last run), inter-op 1 per session, spinning off; Python: intra-op 1, inter-op 1, no spinning",
        "decode_threads": 1,
        "detection": format!(
            "SCRFD into 640, score 0.5; clp_det longest side {}, up to 2x up, score 0.3; idle check every {} s (the default)",
            plate_max_side(),
            menwei_edge::config::DEFAULT_IDLE_CHECK_SECS
        ),
        "models_sha256": serde_json::to_string(&models).unwrap(),
        "profile": if cfg!(debug_assertions) { "debug" } else { "release (bench profile)" },
    })
}

/// The share of all CPUs busy over `d`, from /proc/stat.
fn machine_busy(d: Duration) -> f64 {
    let a = cpu_totals();
    std::thread::sleep(d);
    let b = cpu_totals();
    busy_between(a, b)
}

/// (busy, total) jiffies of all CPUs.
fn cpu_totals() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<u64> =
        stat.lines().next().unwrap_or_default().split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

fn busy_between(a: (u64, u64), b: (u64, u64)) -> f64 {
    (b.0 - a.0) as f64 / (b.1 - a.1).max(1) as f64
}

/// CPU seconds (user + system) a process used so far, all threads.
fn process_cpu_s(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / clock_ticks())
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

// ---------------------------------------------------------------------------------------------
// The clip

#[derive(Debug)]
struct Passage {
    label: String,
    /// What should come of it: `r:<resident>`, `p:<plate>`, or nothing (a stranger).
    expect: Option<String>,
}

struct Clip {
    file: PathBuf,
    /// Frame index -> canvas index (0: the empty gate, k: passage k-1).
    frames: Vec<usize>,
    canvases: Vec<image::RgbImage>,
    passages: Vec<Passage>,
    /// Plates in the register, and the resident's enrolment photo.
    registered: Vec<String>,
    with_plates: bool,
}

impl Clip {
    fn build(root: &Path, dir: &Path) -> Clip {
        let media = |n: &str| root.join("var/media").join(n);
        let plates = root.join("../shared/data/plates/easypr_gdts");
        let with_plates = plates.is_dir();
        if !with_plates {
            println!("NOTE: ../shared/data is absent: the clip has faces only");
        }
        let face = |f: &str, expect: Option<&str>| (media(f), f.to_owned(), expect.map(str::to_owned));
        let plate = |p: &str| (plates.join(format!("{p}.jpg")), p.to_owned(), Some(format!("p:{p}")));
        let mut list = vec![face("obama2.jpg", Some("r:r-obama"))];
        if with_plates {
            list.push(plate("川A019W2"));
        }
        list.push(face("biden.jpg", None));
        if with_plates {
            list.push(plate("川AKQ291"));
            list.push(plate("沪AGH092"));
        }
        list.push(face("biden.jpg", None));
        list.push(face("obama3.jpg", Some("r:r-obama")));
        if with_plates {
            list.push(plate("川A105LR"));
            list.push(plate("津E22602"));
        }
        list.push(face("biden.jpg", None));
        let empty = image::RgbImage::from_pixel(W, H, image::Rgb([40, 40, 40]));
        let mut canvases = vec![empty];
        let mut passages = Vec::new();
        for (path, label, expect) in list {
            let img = image::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_rgb8();
            let scale = (W as f32 / img.width() as f32).min(H as f32 / img.height() as f32);
            let (w, h) = ((img.width() as f32 * scale) as u32, (img.height() as f32 * scale) as u32);
            let small = image::imageops::resize(&img, w, h, image::imageops::FilterType::Triangle);
            let mut canvas = canvases[0].clone();
            image::imageops::overlay(&mut canvas, &small, i64::from((W - w) / 2), i64::from((H - h) / 2));
            canvases.push(canvas);
            passages.push(Passage { label, expect });
        }
        let mut frames = vec![0; (FPS * IDLE_S) as usize];
        for k in 1..canvases.len() {
            frames.extend(std::iter::repeat_n(k, (FPS * SHOW_S) as usize));
            frames.extend(std::iter::repeat_n(0, (FPS * EMPTY_S) as usize));
        }
        // Each distinct picture is written once; the frames are links to it.
        let pics = dir.join("canvases");
        let seq = dir.join("frames");
        std::fs::create_dir_all(&pics).unwrap();
        std::fs::create_dir_all(&seq).unwrap();
        for (k, c) in canvases.iter().enumerate() {
            c.save(pics.join(format!("c{k}.jpg"))).unwrap();
        }
        for (n, k) in frames.iter().enumerate() {
            std::fs::hard_link(pics.join(format!("c{k}.jpg")), seq.join(format!("f{n:05}.jpg"))).unwrap();
        }
        let file = dir.join("gate.mp4");
        let ok = Command::new("gst-launch-1.0")
            .arg("-q")
            .args(
                format!(
                    "multifilesrc location={}/f%05d.jpg index=0 caps=image/jpeg,framerate={FPS}/1 ! jpegdec ! videoconvert \
                     ! x264enc key-int-max={KEY_INT} bframes=0 speed-preset=ultrafast ! h264parse ! mp4mux ! filesink location={}",
                    seq.display(),
                    file.display()
                )
                .split_whitespace(),
            )
            .stdout(Stdio::null())
            .status()
            .expect("gst-launch-1.0 (scripts/setup installs it)")
            .success();
        assert!(ok, "cannot encode the gate clip");
        let registered = if with_plates { vec!["川A019W2".to_owned(), "川A105LR".to_owned()] } else { vec![] };
        Clip { file, frames, canvases, passages, registered, with_plates }
    }

    fn expected(&self) -> BTreeSet<String> {
        self.passages.iter().filter_map(|p| p.expect.clone()).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// The central stand-in

#[derive(Default)]
struct Central {
    events: Mutex<Vec<Received>>,
}

/// An event as the stand-in received it.
#[derive(Clone)]
struct Received {
    compound: String,
    seq: u64,
    class: String,
    /// `r:<resident>`, `p:<plate>`, or the subject's type.
    key: String,
    at_us: u64,
}

impl Central {
    /// Subscribes to every compound's events (each run is its own compound, with its own
    /// outbox and sequence) and acknowledges them cumulatively per compound.
    fn start(port: u16) -> Arc<Central> {
        use menwei_core::event::{Ack, Topics};
        use rumqttc::v5::mqttbytes::QoS;
        use rumqttc::v5::mqttbytes::v5::Packet;
        use rumqttc::v5::{AsyncClient, Event, MqttOptions};
        let got = Arc::new(Central::default());
        let g = got.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let mut o = MqttOptions::new("central-bench", "127.0.0.1", port);
                o.set_keep_alive(Duration::from_secs(5));
                let (client, mut el) = AsyncClient::new(o, 64);
                let mut seen: BTreeMap<String, (HashSet<u64>, u64)> = BTreeMap::new();
                loop {
                    match el.poll().await {
                        Ok(Event::Incoming(Packet::ConnAck(_))) => {
                            let _ = client.subscribe(Topics::all_events(), QoS::AtLeastOnce).await;
                        }
                        Ok(Event::Incoming(Packet::Publish(p))) => {
                            let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros() as u64;
                            let Ok(v) = serde_json::from_slice::<Value>(&p.payload) else { continue };
                            let Some(seq) = v["seq"].as_u64() else { continue };
                            let s = &v["subject"];
                            let key = match s["type"].as_str() {
                                Some("resident") => format!("r:{}", s["resident_ref"].as_str().unwrap_or("")),
                                Some("vehicle") => format!("p:{}", s["plate"].as_str().unwrap_or("")),
                                Some(t) => t.to_owned(),
                                None => String::new(),
                            };
                            let class = v["class"].as_str().unwrap_or("").to_owned();
                            let compound = v["compound"].as_str().unwrap_or("").to_owned();
                            let (have, acked) = seen.entry(compound.clone()).or_default();
                            if have.insert(seq) {
                                g.events.lock().unwrap().push(Received {
                                    compound: compound.clone(),
                                    seq,
                                    class,
                                    key,
                                    at_us: now,
                                });
                            }
                            let mut c = *acked;
                            while have.contains(&(c + 1)) {
                                c += 1;
                            }
                            if c > *acked {
                                *acked = c;
                                let body = serde_json::to_vec(&Ack { upto_seq: c }).unwrap();
                                let topic = Topics::new(&compound).ack();
                                let _ = client.publish(topic, QoS::AtLeastOnce, false, body).await;
                            }
                        }
                        Ok(_) => {}
                        Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                    }
                }
            });
        });
        got
    }
}

// ---------------------------------------------------------------------------------------------
// The daemon

struct Edge {
    dir: PathBuf,
    models: PathBuf,
    key: PathBuf,
    bin: &'static str,
    mqtt_port: u16,
}

impl Edge {
    fn prepare(root: &Path, dir: &Path, clip: &Clip, mqtt_port: u16) -> Edge {
        let key = dir.join("template.key");
        std::fs::write(&key, "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0").unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let e = Edge {
            dir: dir.to_owned(),
            models: root.join("models"),
            key,
            bin: env!("CARGO_BIN_EXE_menwei-edge"),
            mqtt_port,
        };
        // Enrol from a photo that is not in the clip.
        let cfg = e.config("enrol", (false, false, 1), "rtsp://127.0.0.1:1/none");
        let out = Command::new(e.bin)
            .args(["enroll", "--config"])
            .arg(&cfg)
            .args(["--resident", "r-obama", "--household", "h-12", "--consent", "paper form"])
            .arg(root.join("var/media/obama.jpg"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let register = menwei_register::Register::open(&dir.join("register.db"), &e.key).unwrap();
        for plate in &clip.registered {
            register
                .upsert_vehicle(&menwei_register::VehicleEntry {
                    plate: plate.clone(),
                    color: Some("blue".into()),
                    household: Some("h-12".into()),
                    kind: menwei_register::VehicleKind::Resident,
                    valid_from_ms: None,
                    valid_until_ms: None,
                })
                .unwrap();
        }
        e
    }

    fn config(&self, name: &str, (gating, keyframes, threads): (bool, bool, u32), url: &str) -> PathBuf {
        let cfg = self.dir.join(format!("edge-{name}.toml"));
        std::fs::write(
            &cfg,
            format!(
                "compound_id = \"c-bench-{compound}\"\n[models]\ndir = \"{models}\"\nintra_threads = {threads}\nspinning = false\n\
                 plate_max_side = {plate_max_side}\n\
                 [defaults]\ndecode_threads = 1\n\
                 [[cameras]]\nid = \"north-1\"\nurl = \"{url}\"\ngate = \"north\"\ndirection = \"entry\"\nrole = \"both\"\n\
                 detect_fps = {FPS}\nmotion_gating = {gating}\nidle_keyframes_only = {keyframes}\n\
                 [register]\npath = \"register.db\"\nkey_file = \"{key}\"\n\
                 [broker]\nurl = \"mqtt://127.0.0.1:{mqtt_port}\"\n[outbox]\npath = \"outbox-{name}.db\"\n\
                 [matching]\nretrigger_secs = 3\n",
                models = self.models.display(),
                key = self.key.display(),
                mqtt_port = self.mqtt_port,
                compound = name.replace('_', "-"),
                plate_max_side = plate_max_side(),
            ),
        )
        .unwrap();
        cfg
    }

    /// Runs the daemon until the server has sent the clip once and the last events are in.
    fn run(&self, name: &str, mode: (bool, bool, u32), server: &RtspServer, central: &Central, clip: &Clip) -> Run {
        let profile = self.dir.join(format!("profile-{name}.json"));
        let cfg = self.config(name, mode, &server.url("/gate"));
        let sent0 = server.frames_sent("/gate");
        let compound = format!("c-bench-{}", name.replace('_', "-"));
        let log = self.dir.join(format!("daemon-{name}.log"));
        let mut child = Command::new(self.bin)
            .args(["run", "--config"])
            .arg(&cfg)
            .arg("--profile")
            .arg(&profile)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let pid = child.id();
        let n = clip.frames.len() as u64;
        let start = Instant::now();
        let mut stat0: Option<(u64, u64)> = None;
        let mut own0 = 0.0;
        let (mut cpu_at_start, mut cpu_last) = (0.0, 0.0);
        let mut started_at = Instant::now();
        // Measure from the first frame sent to the end of the clip.
        loop {
            std::thread::sleep(Duration::from_millis(100));
            let sent = server.frames_sent("/gate") - sent0;
            if stat0.is_none() && sent > 0 {
                stat0 = Some(cpu_totals());
                own0 = process_cpu_s(std::process::id()).unwrap_or(0.0);
                cpu_at_start = process_cpu_s(pid).unwrap_or(0.0);
                started_at = Instant::now();
            }
            if let Some(c) = process_cpu_s(pid) {
                cpu_last = c;
            }
            if sent >= n {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(600), "the clip did not play within 10 minutes");
            if let Some(status) = child.try_wait().unwrap() {
                panic!("the daemon stopped: {status}\n{}", std::fs::read_to_string(&log).unwrap_or_default());
            }
        }
        // Let the last frames and events through (the clip ends with an empty gate), before the
        // camera reconnects for a second pass.
        std::thread::sleep(Duration::from_millis(800));
        let stat1 = cpu_totals();
        let wall = started_at.elapsed().as_secs_f64();
        if let Some(c) = process_cpu_s(pid) {
            cpu_last = c;
        }
        let machine = busy_between(stat0.unwrap_or(stat1), stat1);
        let own = process_cpu_s(std::process::id()).unwrap_or(0.0) - own0;
        Command::new("kill").arg("-TERM").arg(pid.to_string()).status().unwrap();
        let status = child.wait().unwrap();
        assert!(status.success(), "{}", std::fs::read_to_string(&log).unwrap_or_default());
        let p: Value = serde_json::from_slice(&std::fs::read(&profile).unwrap()).unwrap();
        let events: Vec<_> =
            central.events.lock().unwrap().iter().filter(|e| e.compound == compound).cloned().collect();
        let mut r = Run::new(p, events, cpu_last - cpu_at_start, wall, machine);
        r.harness_cpu_s = own;
        r
    }
}

// ---------------------------------------------------------------------------------------------
// One run's figures

struct Run {
    /// Per analysed frame: (camera frame seq, which is the clip frame index in the first pass,
    /// ns per stage, share of the frame looked at).
    analysed: Vec<(usize, [u64; STAGES], f32)>,
    /// Frames the motion gate kept from the models: their gate cost.
    still: Vec<[u64; STAGES]>,
    frames_in: u64,
    overwritten: u64,
    decoded: u64,
    skipped: u64,
    decode_ns: Vec<u64>,
    convert_ns: Vec<u64>,
    publish_ns: Vec<u64>,
    latency_ms: Vec<f64>,
    /// Per event: from the frame's arrival to the end of its analysis (the event was
    /// committed during it).
    to_done_ms: Vec<f64>,
    found: BTreeSet<String>,
    strangers: usize,
    cpu_s: f64,
    wall_s: f64,
    machine_busy: f64,
    /// CPU seconds of this harness (RTSP server, central stand-in) during the run.
    harness_cpu_s: f64,
    peak_rss_mb: f64,
}

fn ns_list(v: &Value) -> Vec<u64> {
    v.as_array().map(|a| a.iter().filter_map(Value::as_u64).collect()).unwrap_or_default()
}

impl Run {
    fn new(p: Value, events: Vec<Received>, cpu_s: f64, wall_s: f64, machine: f64) -> Run {
        let stages = |f: &Value| -> [u64; STAGES] {
            let mut a = [0; STAGES];
            for (i, x) in f["ns"].as_array().unwrap().iter().enumerate().take(STAGES) {
                a[i] = x.as_u64().unwrap_or(0);
            }
            a
        };
        let mut analysed = Vec::new();
        let mut still = Vec::new();
        for f in p["frames"].as_array().unwrap() {
            let seq = f["seq"].as_u64().unwrap_or(u64::MAX);
            if f["analysed"].as_bool() == Some(true) {
                analysed.push((seq as usize, stages(f), f["region_share"].as_f64().unwrap_or(1.0) as f32));
            } else {
                still.push(stages(f));
            }
        }
        let cam = &p["cameras"][0];
        let arrivals: BTreeMap<u64, (u64, u64)> = p["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| Some((e[0].as_u64()?, (e[1].as_u64()?, e[2].as_u64()?))))
            .collect();
        let mut latency_ms = Vec::new();
        let mut to_done_ms = Vec::new();
        let mut found = BTreeSet::new();
        let mut strangers = 0;
        for e in &events {
            if e.class != "access" && e.class != "security" {
                continue;
            }
            if let Some((arrived, done)) = arrivals.get(&e.seq) {
                latency_ms.push(e.at_us.saturating_sub(*arrived) as f64 / 1e3);
                to_done_ms.push(done.saturating_sub(*arrived) as f64 / 1e3);
            }
            if e.class == "access" {
                found.insert(e.key.clone());
            } else {
                strangers += 1;
            }
        }
        Run {
            analysed,
            still,
            frames_in: cam["frames_in"].as_u64().unwrap_or(0),
            overwritten: cam["frames_overwritten"].as_u64().unwrap_or(0),
            decoded: cam["frames_decoded"].as_u64().unwrap_or(0),
            skipped: cam["frames_skipped"].as_u64().unwrap_or(0),
            decode_ns: ns_list(&cam["decode_ns"]),
            convert_ns: ns_list(&cam["convert_ns"]),
            publish_ns: ns_list(&p["publish_ns"]),
            latency_ms,
            to_done_ms,
            found,
            strangers,
            cpu_s,
            wall_s,
            machine_busy: machine,
            harness_cpu_s: 0.0,
            peak_rss_mb: p["peak_rss_kb"].as_f64().unwrap_or(0.0) / 1024.0,
        }
    }

    fn decode_convert_ms(&self) -> f64 {
        mean_ms(&self.decode_ns) + mean_ms(&self.convert_ns)
    }

    /// The daemon's CPU (every thread) per analysed frame, less the decoding of frames that
    /// were not analysed, ms.
    fn process_ms_per_analysed(&self) -> f64 {
        let skipped = self.frames_in.saturating_sub(self.analysed.len() as u64) as f64;
        (self.cpu_s * 1e3 - skipped * self.decode_convert_ms()) / self.analysed.len().max(1) as f64
    }

    /// Inference-thread CPU per analysed frame (every stage), ms.
    fn inference_ms(&self) -> f64 {
        let total: u64 = self.analysed.iter().map(|(_, s, _)| s.iter().sum::<u64>()).sum();
        total as f64 / 1e6 / self.analysed.len().max(1) as f64
    }

    /// CPU-ms needed per second of video to keep up with every frame, analysing the same share
    /// of them as in this run.
    fn need_ms_per_s(&self) -> f64 {
        // The daemon's CPU beyond decoding, spread over the frames the inference thread took
        // (analysed or spared by the gate), as if it had taken every frame.
        let taken = (self.analysed.len() + self.still.len()).max(1) as f64;
        let beyond_decode = self.cpu_s * 1e3 - self.frames_in as f64 * self.decode_convert_ms();
        f64::from(FPS) * (self.decode_convert_ms() + beyond_decode / taken)
    }

    fn publish_per_s(&self) -> f64 {
        self.publish_ns.iter().sum::<u64>() as f64 / 1e6 / self.wall_s.max(1.0)
    }

    fn recall(&self, clip: &Clip) -> (usize, usize) {
        let want = clip.expected();
        (want.iter().filter(|w| self.found.contains(*w)).count(), want.len())
    }

    fn print(&self, clip: &Clip) {
        println!("{:<22} {:>6} {:>8} {:>8} {:>8} {:>9}", "stage (CPU-ms/frame)", "n", "p50", "p95", "p99", "mean");
        let row = |name: &str, v: &[u64]| {
            let mut ms: Vec<f64> = v.iter().map(|x| *x as f64 / 1e6).collect();
            ms.sort_by(f64::total_cmp);
            println!(
                "{name:<22} {:>6} {:>8.2} {:>8.2} {:>8.2} {:>9.3}",
                ms.len(),
                pct(&ms, 0.5),
                pct(&ms, 0.95),
                pct(&ms, 0.99),
                ms.iter().sum::<f64>() / ms.len().max(1) as f64
            );
        };
        row("decode", &self.decode_ns);
        row("convert (to RGB)", &self.convert_ns);
        for st in Stage::ALL {
            let v: Vec<u64> = self.analysed.iter().map(|(_, s, _)| s[st as usize]).filter(|x| *x > 0).collect();
            if !v.is_empty() {
                row(st.name(), &v);
            }
        }
        row("publish (per event)", &self.publish_ns);
        let all: Vec<u64> = self.analysed.iter().map(|(_, s, _)| s.iter().sum()).collect();
        row("inference thread, all", &all);
        let gate: Vec<u64> = self.still.iter().map(|s| s.iter().sum()).collect();
        row("gated-out frame", &gate);
        println!("  (stages other than decode/convert/publish: over the analysed frames where the stage ran)");
        let share = self.analysed.iter().map(|a| f64::from(a.2)).sum::<f64>() / self.analysed.len().max(1) as f64;
        println!(
            "frames: decoded {} | not decoded while idle {} | in {} | analysed {} | spared by the motion gate {} | dropped (overwritten) {} | mean share of the frame looked at {:.2}",
            self.decoded,
            self.skipped,
            self.frames_in,
            self.analysed.len(),
            self.still.len(),
            self.overwritten,
            share
        );
        let mut l = self.latency_ms.clone();
        l.sort_by(f64::total_cmp);
        println!(
            "frame arrival -> received from MQTT, ms ({} events): p50 {:.1} | p95 {:.1} | p99 {:.1} | max {:.1}",
            l.len(),
            pct(&l, 0.5),
            pct(&l, 0.95),
            pct(&l, 0.99),
            l.last().copied().unwrap_or(0.0)
        );
        let mut d = self.to_done_ms.clone();
        d.sort_by(f64::total_cmp);
        println!(
            "  of which frame arrival -> end of the analysis that committed the event: p50 {:.1} | p95 {:.1} | max {:.1}; \
             every latency, ms: {:?}",
            pct(&d, 0.5),
            pct(&d, 0.95),
            d.last().copied().unwrap_or(0.0),
            self.latency_ms.iter().map(|x| x.round() as i64).collect::<Vec<_>>()
        );
        let (hit, of) = self.recall(clip);
        println!(
            "recognised {hit} of {of} expected identities and plates ({:?}); repeat-stranger events {}",
            self.found, self.strangers
        );
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get()) as f64;
        let others = (self.machine_busy * cores * self.wall_s - self.cpu_s - self.harness_cpu_s).max(0.0);
        println!(
            "daemon CPU {:.1} s over {:.1} s ({:.0} % of one core), {:.1} CPU-ms per analysed frame | machine busy {:.0} % of all CPUs; \
             this harness (RTSP server, central) {:.1} s, other processes {:.1} s | peak RSS {:.0} MB",
            self.cpu_s,
            self.wall_s,
            self.cpu_s / self.wall_s * 100.0,
            self.process_ms_per_analysed(),
            self.machine_busy * 100.0,
            self.harness_cpu_s,
            others,
            self.peak_rss_mb
        );
    }

    fn to_json(&self, clip: &Clip) -> Value {
        let mut stages = serde_json::Map::new();
        let mut put = |name: &str, v: Vec<u64>| {
            let mut ms: Vec<f64> = v.iter().map(|x| *x as f64 / 1e6).collect();
            ms.sort_by(f64::total_cmp);
            stages.insert(
                name.to_owned(),
                json!({"n": ms.len(), "p50": pct(&ms, 0.5), "p95": pct(&ms, 0.95), "p99": pct(&ms, 0.99),
                       "mean": ms.iter().sum::<f64>() / ms.len().max(1) as f64}),
            );
        };
        put("decode", self.decode_ns.clone());
        put("convert", self.convert_ns.clone());
        for st in Stage::ALL {
            put(st.name(), self.analysed.iter().map(|(_, s, _)| s[st as usize]).filter(|x| *x > 0).collect());
        }
        put("publish", self.publish_ns.clone());
        put("inference_all", self.analysed.iter().map(|(_, s, _)| s.iter().sum()).collect());
        let mut l = self.latency_ms.clone();
        l.sort_by(f64::total_cmp);
        let (hit, of) = self.recall(clip);
        json!({
            "stages_ms": stages,
            "frames_in": self.frames_in, "analysed": self.analysed.len(), "spared": self.still.len(),
            "decoded": self.decoded, "skipped_while_idle": self.skipped,
            "dropped": self.overwritten,
            "latency_ms": {"n": l.len(), "p50": pct(&l, 0.5), "p95": pct(&l, 0.95), "p99": pct(&l, 0.99),
                           "max": l.last().copied().unwrap_or(0.0)},
            "latency_ms_each": self.latency_ms, "arrival_to_analysis_end_ms_each": self.to_done_ms,
            "recall": [hit, of], "found": self.found, "strangers": self.strangers,
            "cpu_s": self.cpu_s, "wall_s": self.wall_s, "machine_busy": self.machine_busy,
            "harness_cpu_s": self.harness_cpu_s, "process_ms_per_analysed": self.process_ms_per_analysed(),
            "peak_rss_mb": self.peak_rss_mb, "need_ms_per_s": self.need_ms_per_s(),
        })
    }
}

fn mean_ms(v: &[u64]) -> f64 {
    v.iter().sum::<u64>() as f64 / 1e6 / v.len().max(1) as f64
}

/// The `q` quantile of sorted values (nearest rank); 0 for none.
fn pct(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

// ---------------------------------------------------------------------------------------------
// Stages alone

struct Alone {
    decode_convert_ms: f64,
    /// Per canvas, CPU-ms on the whole frame, each stage timed in a loop of its own (median of
    /// 5): the face detector, the plate detector, and reading every plate it found.
    face_ms: Vec<f64>,
    plate_det_ms: Vec<f64>,
    read_ms: Vec<f64>,
    embed_one_ms: f64,
}

impl Alone {
    fn measure(root: &Path, clip: &Clip) -> Alone {
        use menwei_vision::{ModelStore, Runtime, SessionOptions};
        // Decode and convert alone: the clip file, as fast as it decodes, nothing else running.
        let mut cc = menwei_capture::CameraConfig::new(
            "alone",
            menwei_capture::SourceUrl::parse(clip.file.to_str().unwrap()).unwrap(),
        );
        cc.realtime = false;
        let cam = menwei_capture::Camera::start(cc, Arc::new(|_, _| {})).unwrap();
        use menwei_capture::FrameSource;
        while !cam.frames().is_closed() {
            let _ = cam.frames().try_take();
            std::thread::sleep(Duration::from_millis(5));
        }
        let s = cam.stats();
        let decode_convert_ms =
            s.decode_cpu_ms_per_frame().unwrap_or(0.0) + s.convert_cpu_ms_per_frame().unwrap_or(0.0);
        cam.stop();

        let store = ModelStore::open(&root.join("models/models.toml"), &root.join("models")).unwrap();
        let rt = Runtime::init(None).unwrap();
        let opts = SessionOptions::default();
        let mut faces =
            menwei_vision::face::FaceDetector::open(&rt, &store.verify("scrfd_500m").unwrap(), &opts, 640, 0.5)
                .unwrap();
        let mut embedder =
            menwei_vision::embed::FaceEmbedder::new(&rt, &store.verify("w600k_mbf").unwrap(), &opts).unwrap();
        let mut lpr = clip.with_plates.then(|| {
            use menwei_vision::plate::{PlateDetector, PlateReader, PlateReaderConfig};
            let det_cfg =
                menwei_vision::plate::PlateDetectorConfig { max_side: plate_max_side(), ..Default::default() };
            let det = PlateDetector::new(&rt, &store.verify("clp_det").unwrap(), &opts, det_cfg).unwrap();
            let readers = vec![
                PlateReader::new(
                    &rt,
                    &store.verify("clp_rec").unwrap(),
                    &opts,
                    PlateReaderConfig::for_model("clp_rec"),
                )
                .unwrap(),
                PlateReader::new(
                    &rt,
                    &store.verify("ppocr_v4_rec").unwrap(),
                    &opts,
                    PlateReaderConfig::for_model("ppocr_v4_rec"),
                )
                .unwrap(),
            ];
            menwei_vision::lpr::Lpr::new(det, readers, Default::default()).unwrap()
        });
        let cpu = menwei_core::profile::thread_cpu_ns;
        let ms = |t0: u64| (cpu() - t0) as f64 / 1e6;
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            pct(&v, 0.5)
        };
        let mut embeds = vec![];
        // Warm up: the first runs of a session at a new input size cost more.
        for c in clip.canvases.iter().take(3) {
            let view = RgbView::packed(W, H, c.as_raw()).unwrap();
            faces.detect(view).unwrap();
            if let Some(l) = lpr.as_mut() {
                l.recognise(view).unwrap();
            }
        }
        // Each stage alone: a loop of that stage only, over every picture of the clip.
        let views: Vec<RgbView<'_>> =
            clip.canvases.iter().map(|c| RgbView::packed(W, H, c.as_raw()).unwrap()).collect();
        let per_view = |f: &mut dyn FnMut(RgbView<'_>)| -> Vec<f64> {
            views
                .iter()
                .map(|v| {
                    median(
                        (0..5)
                            .map(|_| {
                                let t0 = cpu();
                                f(*v);
                                ms(t0)
                            })
                            .collect(),
                    )
                })
                .collect()
        };
        let face_ms = per_view(&mut |v| {
            faces.detect(v).unwrap();
        });
        let found: Vec<Vec<menwei_vision::face::FaceDetection>> =
            views.iter().map(|v| faces.detect(*v).unwrap()).collect();
        let (plate_det_ms, read_ms) = match lpr.as_mut() {
            Some(l) => {
                let det = per_view(&mut |v| {
                    l.detect_in(v, (W, H)).unwrap();
                });
                let plates: Vec<_> = views.iter().map(|v| l.detect_in(*v, (W, H)).unwrap()).collect();
                let mut k = 0;
                let read = per_view(&mut |v| {
                    // per_view visits each picture 5 times in order.
                    for p in &plates[k / 5] {
                        l.read_quad(v, p.corners).unwrap();
                    }
                    k += 1;
                });
                (det, read)
            }
            None => (vec![0.0; views.len()], vec![0.0; views.len()]),
        };
        for (v, f) in views.iter().zip(&found) {
            if let Some(face) = f.first() {
                for _ in 0..5 {
                    let t0 = cpu();
                    embedder.embed(*v, std::slice::from_ref(face)).unwrap();
                    embeds.push(ms(t0));
                }
            }
        }
        Alone { decode_convert_ms, face_ms, plate_det_ms, read_ms, embed_one_ms: median(embeds) }
    }

    /// The same work as the pipeline did on an analysed frame, timed alone: both detectors on
    /// the frame's picture, its plates read if the pipeline read plates on it, one face embedded
    /// if it embedded one. `None` beyond the clip (a second pass).
    fn frame_ms(&self, clip: &Clip, seq: usize, stages: &[u64; STAGES]) -> Option<f64> {
        let c = *clip.frames.get(seq)?;
        let read = stages[Stage::PlateReader1 as usize] + stages[Stage::PlateReader2 as usize] > 0;
        let embedded = stages[Stage::Embedder as usize] > 0;
        Some(
            self.face_ms[c]
                + self.plate_det_ms[c]
                + if read { self.read_ms[c] } else { 0.0 }
                + if embedded { self.embed_one_ms } else { 0.0 },
        )
    }

    fn print(&self) {
        println!("decode + convert alone (clip file, no inference): {:.2} CPU-ms per frame", self.decode_convert_ms);
        let list = |v: &[f64]| v.iter().map(|m| format!("{m:.1}")).collect::<Vec<_>>().join(" ");
        println!("on the whole 1280x720 frame, CPU-ms per picture (the empty gate first, then each passage):");
        println!("  face detector      {}", list(&self.face_ms));
        println!("  plate detector     {}", list(&self.plate_det_ms));
        println!("  reading its plates {}", list(&self.read_ms));
        println!("one face embedding alone: {:.1} CPU-ms", self.embed_one_ms);
    }

    fn to_json(&self) -> Value {
        json!({"decode_convert_ms": self.decode_convert_ms, "face_ms": self.face_ms, "plate_det_ms": self.plate_det_ms,
               "read_ms": self.read_ms, "embed_one_ms": self.embed_one_ms})
    }
}

// ---------------------------------------------------------------------------------------------
// The Python reference

fn python_reference(root: &Path, url: &str, clip: &Clip) -> Option<Value> {
    let manifest: toml::Value =
        toml::from_str(&std::fs::read_to_string(root.join("models/models.toml")).unwrap()).unwrap();
    let ort = manifest["onnxruntime"]["version"].as_str().unwrap().to_owned();
    let venv = root.join("var/bench-venv");
    let py = venv.join("bin/python");
    let wanted = format!("onnxruntime=={ort}");
    let ok = py.is_file()
        && Command::new(&py)
            .args(["-c", &format!("import cv2, numpy, onnxruntime as o; assert o.__version__ == '{ort}'")])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if !ok {
        println!("making {} (PyPI: {wanted} {OPENCV} numpy)", venv.display());
        // The interpreter the set-up chose (scripts/python), not whichever python3 is first.
        let made = Command::new(root.join("scripts/python"))
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .is_ok_and(|s| s.success())
            && Command::new(venv.join("bin/pip"))
                .args(["install", "-q", "--disable-pip-version-check", &wanted, OPENCV, "numpy"])
                .status()
                .is_ok_and(|s| s.success());
        if !made {
            println!("NOTE: cannot make the Python venv: no G2");
            return None;
        }
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/reference/pipeline.py");
    let mut cmd = Command::new(&py);
    cmd.arg(&script).args(["--url", url, "--models"]).arg(root.join("models"));
    cmd.arg("--enrol").arg(root.join("var/media/obama.jpg")).args(["--resident", "r-obama"]);
    cmd.args(["--plate-max-side", &plate_max_side().to_string()]);
    for p in &clip.registered {
        cmd.args(["--plate", p]);
    }
    let out = cmd.output().unwrap();
    if !out.status.success() {
        println!("NOTE: the Python reference failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

/// The OpenCV wheel the reference runs with (pinned so that runs compare).
const OPENCV: &str = "opencv-python-headless==5.0.0.93";

// ---------------------------------------------------------------------------------------------
// The matcher

fn matcher_bench() -> Vec<Value> {
    use menwei_core::matcher::TemplateMatrix;
    const DIMS: usize = 512;
    const BANDWIDTH: f64 = 35e9;
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    };
    let mut unit = |v: &mut [f32]| {
        v.iter_mut().for_each(|x| *x = next());
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter_mut().for_each(|x| *x /= n);
    };
    let mut out = Vec::new();
    println!("{:>10} {:>8} {:>13} {:>12} {:>7}", "templates", "MB", "ms per query", "bound ms", "ratio");
    for n in [50_000usize, 1_000_000] {
        let mut m = TemplateMatrix::new(DIMS);
        let mut t = vec![0.0f32; DIMS];
        for i in 0..n {
            unit(&mut t);
            m.push(i as u64 / 3, &t);
        }
        let mut times = Vec::new();
        let mut q = vec![0.0f32; DIMS];
        // A few queries first (the matrix's pages and the slice threads' stacks), then the
        // median of 101 queries (25 at 1,000,000), which a noisy neighbour on a VM moves less.
        for _ in 0..3 {
            unit(&mut q);
            std::hint::black_box(m.nearest(&q));
        }
        for _ in 0..if n > 100_000 { 25 } else { 101 } {
            unit(&mut q);
            let s = Instant::now();
            std::hint::black_box(m.nearest(&q));
            times.push(s.elapsed().as_secs_f64() * 1e3);
        }
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        let bound = m.bytes() as f64 / BANDWIDTH * 1e3;
        println!("{n:>10} {:>8.0} {median:>13.3} {bound:>12.3} {:>7.2}", m.bytes() as f64 / 1e6, median / bound);
        out.push(json!({"templates": n, "ms_per_query": median, "bound_ms": bound, "ratio": median / bound}));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The goals

fn goals(
    gated: &Run,
    every: &Run,
    two_threads: &Run,
    alone: &Alone,
    python: Option<&Value>,
    matcher: &[Value],
    clip: &Clip,
) -> Value {
    let mut g = serde_json::Map::new();
    // G1: the every-frame run's CPU per analysed frame against the same work timed alone.
    let frames: Vec<_> = every.analysed.iter().filter(|(seq, _, _)| *seq < clip.frames.len()).collect();
    let n = frames.len().max(1) as f64;
    let small: f64 = frames
        .iter()
        .map(|(_, s, _)| {
            [Stage::Tracking, Stage::Matching, Stage::OutboxCommit].iter().map(|x| s[*x as usize]).sum::<u64>()
        })
        .sum::<u64>() as f64
        / 1e6
        / n;
    let models_alone = frames.iter().filter_map(|(seq, s, _)| alone.frame_ms(clip, *seq, s)).sum::<f64>() / n;
    let sum_alone = alone.decode_convert_ms + models_alone + small + every.publish_per_s() / f64::from(FPS);
    let pipeline = every.process_ms_per_analysed();
    let profiled = every.decode_convert_ms() + every.inference_ms();
    let g1 = pipeline / sum_alone;
    g.insert(
        "G1".into(),
        json!({"value": g1, "goal": "<= 1.15", "pipeline_ms": pipeline, "profiled_ms": profiled, "alone_ms": sum_alone,
               "line": format!(
                   "{g1:.2} (goal <= 1.15): the daemon's CPU per analysed frame (every-frame run, all threads) {pipeline:.1} ms / the same work alone {sum_alone:.1} ms \
                    (decode+convert {:.1}, models and their pre/post {models_alone:.1}, tracking+matching+commit+publish {:.2}); \
                    per-thread clocks inside the daemon give {profiled:.1} ms ({:.2})",
                   alone.decode_convert_ms, small + every.publish_per_s() / f64::from(FPS), profiled / sum_alone)}),
    );
    // G2: the same per-frame figure against the Python reference's.
    if let Some(p) = python {
        let py_ms = p["cpu_s"].as_f64().unwrap_or(0.0) * 1e3 / p["frames"].as_f64().unwrap_or(1.0).max(1.0);
        let g2 = pipeline / py_ms;
        g.insert(
            "G2".into(),
            json!({"value": g2, "goal": "<= 0.80", "pipeline_ms": pipeline, "python_ms": py_ms,
                   "line": format!("{g2:.2} (goal <= 0.80): {pipeline:.1} CPU-ms per analysed frame (every-frame run) / Python {py_ms:.1} per frame")}),
        );
    }
    // G3: cameras sustained on this box, gated against every frame, at the recall each reached.
    let cams = |r: &Run| CORES_MS_PER_S / r.need_ms_per_s();
    let g3 = cams(gated) / cams(every);
    let (rg, of) = gated.recall(clip);
    let (re, _) = every.recall(clip);
    g.insert(
        "G3".into(),
        json!({"value": g3, "goal": ">= 3", "cameras_gated": cams(gated), "cameras_every_frame": cams(every),
               "recall_gated": [rg, of], "recall_every_frame": [re, of],
               "line": format!(
                   "{g3:.2}x (goal >= 3x): {:.2} cameras gated / {:.2} detecting every frame ({:.0} and {:.0} CPU-ms per second of video at {FPS} fps); recall {rg}/{of} gated, {re}/{of} every frame",
                   cams(gated), cams(every), gated.need_ms_per_s(), every.need_ms_per_s())}),
    );
    // G6: p95 frame-to-publish latency, gated run.
    let p95_of = |r: &Run| {
        let mut l = r.latency_ms.clone();
        l.sort_by(f64::total_cmp);
        (pct(&l, 0.95), l.len())
    };
    let ((p95, n), (p95_2, n_2)) = (p95_of(gated), p95_of(two_threads));
    g.insert(
        "G6".into(),
        json!({"value": p95, "goal": "<= 150 ms", "n": n, "two_threads": p95_2, "two_threads_n": n_2,
               "line": format!(
                   "{p95:.1} ms p95 frame arrival -> MQTT (goal <= 150 ms), {n} events, gated run; with 2 intra-op threads {p95_2:.1} ms ({n_2} events)")}),
    );
    let m: Vec<String> = matcher
        .iter()
        .map(|m| format!("{} templates {:.2}x", m["templates"], m["ratio"].as_f64().unwrap_or(0.0)))
        .collect();
    g.insert(
        "matcher".into(),
        json!({"value": matcher, "goal": "<= 1.3x", "line": format!("{} of the 35 GB/s bound (goal <= 1.3x)", m.join(", "))}),
    );
    Value::Object(g)
}
