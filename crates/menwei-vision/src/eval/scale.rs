//! A register of thousands from a few real faces: distractor identities for the gate's 1:N.
//!
//! The internal face set has 22 people; a compound registers hundreds or thousands. A larger
//! register means every probe meets more impostors, so the best impostor score, and with the
//! margin the runner-up, rises with the register's size. That is what a wrong resident or a
//! granted stranger would come from.
//!
//! Two kinds of distractor are added after the enrolled residents ([`super::gate::Gallery`]):
//! - **real**: every face the gate would decide (its quality policy) in photos that are not in
//!   the set, such as the team photo `scripts/setup` places in `var/media/`;
//! - **synthetic**: templates drawn from a Gaussian with the real distractors' mean and sample
//!   covariance, `s = m + (1 / sqrt(n - 1)) * sum_i z_i (r_i - m)` with `z_i` standard normal,
//!   then normalised. That reproduces the real ones' first two moments (the covariance has
//!   rank `n - 1`) and nothing more, so the report puts the impostor cosines of both kinds side
//!   by side ([`AtScale`]): where the synthetic ones score lower than the real ones, the
//!   synthetic register flatters the gate.
//!
//! Nothing here is fitted on the internal set: the Gaussian comes from the other photos alone.

use serde::Serialize;

use super::conditions::{SplitMix, fnv1a};
use super::gate::{AtDefaults, Fused};
use crate::embed::Embedding;

/// `n` synthetic templates from the Gaussian of `real` (needs two or more), seeded so that two
/// runs draw the same ones; a longer draw starts with the shorter one.
pub fn synthetic(real: &[Embedding], n: usize, seed: &str) -> Vec<Embedding> {
    if real.len() < 2 {
        return Vec::new();
    }
    let dims = real[0].0.len();
    let mut mean = vec![0.0f64; dims];
    for r in real {
        for (m, x) in mean.iter_mut().zip(r.0.iter()) {
            *m += f64::from(*x) / real.len() as f64;
        }
    }
    let scale = 1.0 / ((real.len() - 1) as f64).sqrt();
    let mut rng = SplitMix::new(fnv1a(seed));
    let mut out = Vec::with_capacity(n);
    let mut v = vec![0.0f64; dims];
    while out.len() < n {
        v.copy_from_slice(&mean);
        for r in real {
            let z = f64::from(rng.gaussian()) * scale;
            for ((a, x), m) in v.iter_mut().zip(r.0.iter()).zip(&mean) {
                *a += z * (f64::from(*x) - m);
            }
        }
        let raw: Vec<f32> = v.iter().map(|x| *x as f32).collect();
        if let Some(e) = Embedding::from_raw(&raw) {
            out.push(e);
        }
    }
    out
}

/// The 50th, 99th and 99.9th percentiles and the maximum of the cosines of every probe with
/// every template (zeros when either is empty).
pub fn cosine_percentiles<'a>(probes: impl IntoIterator<Item = &'a Embedding>, templates: &[Embedding]) -> [f32; 4] {
    let mut all: Vec<f32> = Vec::new();
    for p in probes {
        all.extend(templates.iter().map(|t| p.cosine(t)));
    }
    if all.is_empty() {
        return [0.0; 4];
    }
    all.sort_unstable_by(f32::total_cmp);
    let at = |q: f64| all[((all.len() - 1) as f64 * q).round() as usize];
    [at(0.5), at(0.99), at(0.999), all[all.len() - 1]]
}

/// What the gate decided, in one condition, with distractor identities enrolled beside the
/// residents (`at_scale` in `eval faces --json`).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct AtScale {
    pub distractors_real: usize,
    /// Real distractors that match a photo of the set (as photographed) at the gate's
    /// threshold or more: most likely the same person in both, which makes the figures below
    /// wrong; the photo should not be used as a distractor source.
    pub distractors_like_the_set: usize,
    pub distractors_synthetic: usize,
    /// Cosines of every probe's shot in this condition with every real distractor, and with
    /// every synthetic one: p50, p99, p99.9, max.
    pub impostor_cosines_real: [f32; 4],
    pub impostor_cosines_synthetic: [f32; 4],
    /// Each probe as one shot.
    pub single: AtDefaults,
    /// Each probe as a passage (absent with `--clip 0`).
    pub fused: Option<Fused>,
}

impl std::fmt::Display for AtScale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let q = |c: &[f32; 4]| format!("p50 {:.3}, p99 {:.3}, p99.9 {:.3}, max {:.3}", c[0], c[1], c[2], c[3]);
        writeln!(
            f,
            "  with {} real and {} synthetic distractors ({} identities): impostor cosines real {}{}",
            self.distractors_real,
            self.distractors_synthetic,
            self.single.enrolled_identities,
            q(&self.impostor_cosines_real),
            if self.distractors_synthetic > 0 {
                format!("; synthetic {}", q(&self.impostor_cosines_synthetic))
            } else {
                String::new()
            }
        )?;
        if self.distractors_like_the_set > 0 {
            writeln!(
                f,
                "  warning: {} real distractor(s) match a photo of the set at the threshold (the same person?)",
                self.distractors_like_the_set
            )?;
        }
        write!(f, "  one shot:{}", self.single)?;
        if let Some(fused) = &self.fused {
            write!(f, "  passages:{}", fused.gate)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: &[f32]) -> Embedding {
        Embedding::from_raw(v).unwrap()
    }

    #[test]
    fn synthetic_templates_follow_the_real_ones_and_repeat_exactly() {
        // Real faces spread around a common direction (axis 0) in axes 1..4.
        let real: Vec<Embedding> = (1..5)
            .flat_map(|k| {
                [1.0f32, -1.0].map(|s| {
                    let mut v = vec![0.0f32; 16];
                    v[0] = 2.0;
                    v[k] = s;
                    unit(&v)
                })
            })
            .collect();
        let a = synthetic(&real, 500, "seed");
        assert_eq!(a.len(), 500);
        let b = synthetic(&real, 100, "seed");
        assert!(a.iter().zip(&b).all(|(x, y)| x.0 == y.0), "a shorter draw is the start of a longer one");
        // They live where the real ones do: the common direction, and only the axes they vary in.
        for s in &a {
            assert!(s.0[0] > 0.5, "{:?}", s.0);
            assert!(s.0[5..].iter().all(|x| x.abs() < 1e-6), "{:?}", s.0);
        }
        // Spread like the real ones: the mean cosine between two synthetic templates is near
        // the mean cosine between two real ones.
        let mean_cos = |v: &[Embedding]| {
            let mut sum = 0.0f32;
            let mut n = 0;
            for (i, x) in v.iter().enumerate() {
                for y in &v[i + 1..] {
                    sum += x.cosine(y);
                    n += 1;
                }
            }
            sum / n as f32
        };
        let (r, s) = (mean_cos(&real), mean_cos(&a[..200]));
        assert!((r - s).abs() < 0.1, "real {r}, synthetic {s}");
        assert!(synthetic(&real[..1], 10, "seed").is_empty(), "one face has no spread to draw from");
    }

    #[test]
    fn percentiles_of_every_probe_against_every_template() {
        let t: Vec<Embedding> = (0..10).map(|k| unit(&[1.0, k as f32 / 10.0])).collect();
        let p = [unit(&[1.0, 0.0])];
        let c = cosine_percentiles(&p, &t);
        assert_eq!(c[3], 1.0);
        assert!(c[0] < c[1] && c[1] <= c[2] && c[2] <= c[3], "{c:?}");
        assert_eq!(cosine_percentiles(&p, &[]), [0.0; 4]);
    }
}
