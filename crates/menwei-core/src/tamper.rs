//! Camera tampering from the picture alone: black (lens covered in the dark, or a dead
//! sensor), covered (a uniform picture: a bag, paint, a hand), or frozen (the same picture
//! for too long while frames still arrive: a replayed or stuck stream).
//!
//! Each analysed frame is summarised as a 16x9 grid of mean luminance (a few hundred samples),
//! so watching costs almost nothing. A condition must last `min_secs` before it is reported,
//! and its end is reported once too.

use crate::image::RgbView;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tamper {
    Black,
    Covered,
    Frozen,
}

impl Tamper {
    pub fn name(self) -> &'static str {
        match self {
            Tamper::Black => "black",
            Tamper::Covered => "covered",
            Tamper::Frozen => "frozen",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TamperConfig {
    /// Mean luminance (0-255) below which a flat picture is black.
    pub dark_mean: f32,
    /// Standard deviation of the grid below which the picture is flat.
    pub flat_std: f32,
    /// Largest grid difference (luminance levels) still counted as the same picture.
    pub frozen_delta: f32,
    /// How long a condition must last before it is reported.
    pub min_secs: f32,
    /// How long an unchanged picture must last to count as frozen.
    pub frozen_secs: f32,
}

impl Default for TamperConfig {
    fn default() -> Self {
        Self { dark_mean: 16.0, flat_std: 6.0, frozen_delta: 0.5, min_secs: 5.0, frozen_secs: 30.0 }
    }
}

/// A change to report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TamperChange {
    Started(Tamper),
    Ended(Tamper),
}

const GW: usize = 16;
const GH: usize = 9;

#[derive(Clone, Debug)]
pub struct TamperDetector {
    cfg: TamperConfig,
    last_grid: Option<[f32; GW * GH]>,
    unchanged_since_ms: Option<i64>,
    candidate: Option<(Tamper, i64)>,
    reported: Option<Tamper>,
}

fn grid(view: RgbView<'_>) -> [f32; GW * GH] {
    let mut g = [0.0f32; GW * GH];
    let (w, h) = (view.width() as usize, view.height() as usize);
    for gy in 0..GH {
        for gx in 0..GW {
            // A 4x4 sample inside each cell.
            let mut sum = 0.0;
            for sy in 0..4 {
                for sx in 0..4 {
                    let x = ((gx * 4 + sx) * w / (GW * 4)).min(w - 1);
                    let y = ((gy * 4 + sy) * h / (GH * 4)).min(h - 1);
                    let [r, gg, b] = view.pixel(x as u32, y as u32);
                    sum += 0.299 * f32::from(r) + 0.587 * f32::from(gg) + 0.114 * f32::from(b);
                }
            }
            g[gy * GW + gx] = sum / 16.0;
        }
    }
    g
}

impl TamperDetector {
    pub fn new(cfg: TamperConfig) -> Self {
        Self { cfg, last_grid: None, unchanged_since_ms: None, candidate: None, reported: None }
    }

    /// Looks at one frame taken at `now_ms`; returns a change when one is due.
    pub fn observe(&mut self, view: RgbView<'_>, now_ms: i64) -> Option<TamperChange> {
        let g = grid(view);
        let n = g.len() as f32;
        let mean = g.iter().sum::<f32>() / n;
        let std = (g.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n).sqrt();
        let same = self.last_grid.is_some_and(|last| {
            last.iter().zip(&g).map(|(a, b)| (a - b).abs()).sum::<f32>() / n <= self.cfg.frozen_delta
        });
        self.last_grid = Some(g);
        if same {
            self.unchanged_since_ms.get_or_insert(now_ms);
        } else {
            self.unchanged_since_ms = None;
        }
        let now_condition = if std < self.cfg.flat_std {
            Some(if mean < self.cfg.dark_mean { Tamper::Black } else { Tamper::Covered })
        } else if self
            .unchanged_since_ms
            .is_some_and(|t| (now_ms - t) as f32 >= 1000.0 * (self.cfg.frozen_secs - self.cfg.min_secs))
        {
            Some(Tamper::Frozen)
        } else {
            None
        };
        match now_condition {
            Some(c) => {
                let since = match self.candidate {
                    Some((k, t)) if k == c => t,
                    _ => {
                        self.candidate = Some((c, now_ms));
                        now_ms
                    }
                };
                if self.reported != Some(c) && (now_ms - since) as f32 >= 1000.0 * self.cfg.min_secs {
                    // A new condition replaces an old one: the new one is what matters.
                    self.reported = Some(c);
                    return Some(TamperChange::Started(c));
                }
                None
            }
            None => {
                self.candidate = None;
                self.reported.take().map(TamperChange::Ended)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(f: impl Fn(u32, u32) -> u8) -> Vec<u8> {
        let mut v = Vec::with_capacity(160 * 90 * 3);
        for y in 0..90u32 {
            for x in 0..160u32 {
                v.extend_from_slice(&[f(x, y); 3]);
            }
        }
        v
    }

    fn view(v: &[u8]) -> RgbView<'_> {
        RgbView::packed(160, 90, v).unwrap()
    }

    #[test]
    fn black_covered_and_frozen_pictures_are_reported_once_after_they_last() {
        let cfg = TamperConfig { min_secs: 2.0, frozen_secs: 6.0, ..TamperConfig::default() };
        let mut d = TamperDetector::new(cfg);
        let scene = |t: u32| frame(move |x, y| ((x * 3 + y * 5 + t * 7) % 256) as u8);
        // A live scene: nothing.
        for t in 0..5 {
            assert_eq!(d.observe(view(&scene(t)), i64::from(t) * 1000), None);
        }
        // Black for 3 s: reported after 2 s, once.
        let black = frame(|_, _| 3);
        let mut changes = Vec::new();
        for t in 5..9 {
            changes.extend(d.observe(view(&black), t * 1000));
        }
        assert_eq!(changes, vec![TamperChange::Started(Tamper::Black)]);
        // The scene returns: ended.
        assert_eq!(d.observe(view(&scene(9)), 9000), Some(TamperChange::Ended(Tamper::Black)));
        // A grey cover.
        let grey = frame(|_, _| 128);
        let mut changes = Vec::new();
        for t in 10..14 {
            changes.extend(d.observe(view(&grey), t * 1000));
        }
        assert_eq!(changes, vec![TamperChange::Started(Tamper::Covered)]);
        assert!(d.observe(view(&scene(14)), 14_000).is_some());
        // The same textured picture for 8 s: frozen.
        let still = scene(20);
        let mut changes = Vec::new();
        for t in 15..24 {
            changes.extend(d.observe(view(&still), t * 1000));
        }
        assert_eq!(changes, vec![TamperChange::Started(Tamper::Frozen)]);
    }
}
