//! The matcher: exact top-1 over 50,000 and 1,000,000 synthetic 512-d templates as the daemon
//! scans them, against the memory-bandwidth bound (bytes scanned at 35 GB/s).

use std::time::Instant;

use menwei_core::matcher::TemplateMatrix;
use serde_json::{Value, json};

const DIMS: usize = 512;
const BANDWIDTH: f64 = 35e9;

/// Prints the heading and a row per register size, and returns the rows for the report.
pub fn run() -> Vec<Value> {
    println!("\n== matcher: exact top-1, 512-d f32, one contiguous matrix, a slice per core over 16 MiB");
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
