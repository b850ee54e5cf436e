//! One run of the daemon in figures: per-stage CPU and frame counts from its `--profile` file,
//! latency from the stand-in's receive times, process CPU from `/proc`; printed and as JSON.

use std::collections::{BTreeMap, BTreeSet};

use menwei_core::profile::{STAGES, Stage};
use serde_json::{Value, json};

use crate::central::Received;
use crate::scene::{Clip, FPS};

pub struct Run {
    /// Per analysed frame: (camera frame seq, which is the clip frame index in the first pass,
    /// ns per stage, share of the frame looked at).
    pub analysed: Vec<(usize, [u64; STAGES], f32)>,
    /// Frames the motion gate kept from the models: their gate cost.
    pub still: Vec<[u64; STAGES]>,
    pub frames_in: u64,
    pub overwritten: u64,
    pub decoded: u64,
    pub skipped: u64,
    pub decode_ns: Vec<u64>,
    pub convert_ns: Vec<u64>,
    pub publish_ns: Vec<u64>,
    pub latency_ms: Vec<f64>,
    /// Per event: from the frame's arrival to the end of its analysis (the event was
    /// committed during it).
    pub to_done_ms: Vec<f64>,
    pub found: BTreeSet<String>,
    pub strangers: usize,
    pub cpu_s: f64,
    pub wall_s: f64,
    pub machine_busy: f64,
    /// CPU seconds of this harness (RTSP server, central stand-in) during the run.
    pub harness_cpu_s: f64,
    pub peak_rss_mb: f64,
}

fn ns_list(v: &Value) -> Vec<u64> {
    v.as_array().map(|a| a.iter().filter_map(Value::as_u64).collect()).unwrap_or_default()
}

/// A profiled frame's ns per stage.
fn stages(f: &Value) -> [u64; STAGES] {
    let mut a = [0; STAGES];
    for (i, x) in f["ns"].as_array().unwrap().iter().enumerate().take(STAGES) {
        a[i] = x.as_u64().unwrap_or(0);
    }
    a
}

impl Run {
    pub fn new(p: Value, events: Vec<Received>, cpu_s: f64, wall_s: f64, machine: f64) -> Run {
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

    pub fn decode_convert_ms(&self) -> f64 {
        mean_ms(&self.decode_ns) + mean_ms(&self.convert_ns)
    }

    /// The daemon's CPU (every thread) per analysed frame, less the decoding of frames that
    /// were not analysed, ms.
    pub fn process_ms_per_analysed(&self) -> f64 {
        let skipped = self.frames_in.saturating_sub(self.analysed.len() as u64) as f64;
        (self.cpu_s * 1e3 - skipped * self.decode_convert_ms()) / self.analysed.len().max(1) as f64
    }

    /// Inference-thread CPU per analysed frame (every stage), ms.
    pub fn inference_ms(&self) -> f64 {
        let total: u64 = self.analysed.iter().map(|(_, s, _)| s.iter().sum::<u64>()).sum();
        total as f64 / 1e6 / self.analysed.len().max(1) as f64
    }

    /// CPU-ms needed per second of video to keep up with every frame, analysing the same share
    /// of them as in this run.
    pub fn need_ms_per_s(&self) -> f64 {
        // The daemon's CPU beyond decoding, spread over the frames the inference thread took
        // (analysed or spared by the gate), as if it had taken every frame.
        let taken = (self.analysed.len() + self.still.len()).max(1) as f64;
        let beyond_decode = self.cpu_s * 1e3 - self.frames_in as f64 * self.decode_convert_ms();
        f64::from(FPS) * (self.decode_convert_ms() + beyond_decode / taken)
    }

    pub fn publish_per_s(&self) -> f64 {
        self.publish_ns.iter().sum::<u64>() as f64 / 1e6 / self.wall_s.max(1.0)
    }

    pub fn recall(&self, clip: &Clip) -> (usize, usize) {
        let want = clip.expected();
        (want.iter().filter(|w| self.found.contains(*w)).count(), want.len())
    }

    pub fn print(&self, clip: &Clip) {
        self.print_stages();
        self.print_totals(clip);
    }

    /// The table of CPU per stage and frame.
    fn print_stages(&self) {
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
    }

    /// Frames, latency, recall and CPU over the run.
    fn print_totals(&self, clip: &Clip) {
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

    pub fn to_json(&self, clip: &Clip) -> Value {
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
pub fn pct(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}
