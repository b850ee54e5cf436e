//! Exact top-1 over a synthetic register of face templates (512-d unit vectors, one contiguous
//! matrix): time per query, and its ratio to the memory-bandwidth bound (bytes scanned at
//! 35 GB/s). `cargo bench -p menwei-benches --bench matcher` runs 50,000 and 1,000,000
//! templates; test runners run 50,000 once as a smoke test.

use std::time::Instant;

use menwei_core::matcher::TemplateMatrix;

/// A fast deterministic generator (xorshift), so the register is the same on every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    }
    fn unit(&mut self, v: &mut [f32]) {
        for x in v.iter_mut() {
            *x = self.next();
        }
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter_mut().for_each(|x| *x /= n);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        if !args.iter().any(|a| a == "--ignored") {
            println!("matcher_bench_smoke: test");
        }
        return;
    }
    let full = args.iter().any(|a| a == "--bench");
    let sizes: &[usize] = if full { &[50_000, 1_000_000] } else { &[50_000] };
    const DIMS: usize = 512;
    const BANDWIDTH: f64 = 35e9;
    println!("exact top-1, {DIMS}-d f32 templates, one contiguous matrix, one thread");
    println!("{:>10} {:>10} {:>14} {:>14} {:>8}", "templates", "MB", "ms per query", "bound ms", "ratio");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut t = vec![0.0f32; DIMS];
    for &n in sizes {
        let mut m = TemplateMatrix::new(DIMS);
        for i in 0..n {
            rng.unit(&mut t);
            m.push(i as u64 / 3, &t);
        }
        let mut q = vec![0.0f32; DIMS];
        let queries = if full { 30 } else { 5 };
        let mut times = Vec::new();
        let mut sink = 0.0f32;
        for _ in 0..queries {
            rng.unit(&mut q);
            let start = Instant::now();
            let r = m.nearest(&q).unwrap();
            times.push(start.elapsed().as_secs_f64() * 1e3);
            sink += r.score;
        }
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        let bound = m.bytes() as f64 / BANDWIDTH * 1e3;
        println!("{:>10} {:>10.0} {:>14.3} {:>14.3} {:>8.2}", n, m.bytes() as f64 / 1e6, median, bound, median / bound);
        std::hint::black_box(sink);
    }
}
