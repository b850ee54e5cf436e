//! The environment the figures were measured in (CPU, kernel, ONNX Runtime, models, settings),
//! and the CPU counters from `/proc` the runs read.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::plate_max_side;

/// The SIMD flags of `/proc/cpuinfo` worth reporting.
const SIMD: [&str; 20] = [
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
];

/// Prints the environment, one field a line, and returns it for the report.
pub fn print_environment(root: &Path) -> Value {
    println!("== environment");
    let env = environment(root);
    for (k, v) in env.as_object().unwrap() {
        println!("{k:>22}: {}", v.as_str().map_or_else(|| v.to_string(), str::to_owned));
    }
    env
}

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
    let simd: Vec<&str> = flags.split_whitespace().filter(|f| SIMD.contains(f)).collect();
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
pub fn machine_busy(d: Duration) -> f64 {
    let a = cpu_totals();
    std::thread::sleep(d);
    let b = cpu_totals();
    busy_between(a, b)
}

/// (busy, total) jiffies of all CPUs.
pub fn cpu_totals() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<u64> =
        stat.lines().next().unwrap_or_default().split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

pub fn busy_between(a: (u64, u64), b: (u64, u64)) -> f64 {
    (b.0 - a.0) as f64 / (b.1 - a.1).max(1) as f64
}

/// CPU seconds (user + system) a process used so far, all threads.
pub fn process_cpu_s(pid: u32) -> Option<f64> {
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
