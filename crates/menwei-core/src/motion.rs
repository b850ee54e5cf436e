//! A cheap motion detector, so that the models run only when something moves.
//!
//! Each analysed frame is reduced to a 32x18 grid of mean luminance (576 samples of a few
//! pixels each); a cell moves when it differs from a slowly adapting background by more than
//! `cell_delta` levels. A frame has motion when at least `min_cells` cells move. Lighting drift
//! is absorbed by the background; a static scene costs only the grid.

use crate::geom::BoxXyxy;
use crate::image::RgbView;

const GW: usize = 32;
const GH: usize = 18;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MotionConfig {
    /// Luminance difference (0-255) at which a cell counts as moving.
    pub cell_delta: f32,
    /// Moving cells needed for the frame to have motion.
    pub min_cells: usize,
    /// How fast the background follows the picture (0-1 per frame).
    pub learn: f32,
}

impl Default for MotionConfig {
    fn default() -> Self {
        Self { cell_delta: 12.0, min_cells: 3, learn: 0.05 }
    }
}

/// What moved in a frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Motion {
    pub cells: usize,
    /// The moving cells' bounding box, in frame pixels.
    pub region: BoxXyxy,
}

#[derive(Clone, Debug)]
pub struct MotionDetector {
    cfg: MotionConfig,
    background: Option<[f32; GW * GH]>,
}

impl MotionDetector {
    pub fn new(cfg: MotionConfig) -> Self {
        Self { cfg, background: None }
    }

    /// Compares `frame` with the background and learns it; `None` when nothing moved (and on
    /// the first frame, which only sets the background).
    pub fn observe(&mut self, frame: RgbView<'_>) -> Option<Motion> {
        let (w, h) = (frame.width() as usize, frame.height() as usize);
        let mut grid = [0.0f32; GW * GH];
        for gy in 0..GH {
            for gx in 0..GW {
                let mut sum = 0.0;
                for (sx, sy) in [(1, 1), (3, 1), (1, 3), (3, 3)] {
                    let x = ((gx * 4 + sx) * w / (GW * 4)).min(w - 1);
                    let y = ((gy * 4 + sy) * h / (GH * 4)).min(h - 1);
                    let [r, g, b] = frame.pixel(x as u32, y as u32);
                    sum += 0.299 * f32::from(r) + 0.587 * f32::from(g) + 0.114 * f32::from(b);
                }
                grid[gy * GW + gx] = sum / 4.0;
            }
        }
        let Some(bg) = self.background.as_mut() else {
            self.background = Some(grid);
            return None;
        };
        let (mut cells, mut x1, mut y1, mut x2, mut y2) = (0, GW, GH, 0, 0);
        for (i, (b, v)) in bg.iter_mut().zip(grid.iter()).enumerate() {
            if (v - *b).abs() >= self.cfg.cell_delta {
                cells += 1;
                let (gx, gy) = (i % GW, i / GW);
                x1 = x1.min(gx);
                y1 = y1.min(gy);
                x2 = x2.max(gx + 1);
                y2 = y2.max(gy + 1);
            }
            *b += (v - *b) * self.cfg.learn;
        }
        (cells >= self.cfg.min_cells).then(|| Motion {
            cells,
            region: BoxXyxy {
                x1: (x1 * w / GW) as f32,
                y1: (y1 * h / GH) as f32,
                x2: (x2 * w / GW) as f32,
                y2: (y2 * h / GH) as f32,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(square_at: Option<(u32, u32)>, level: u8) -> Vec<u8> {
        let mut v = Vec::with_capacity(320 * 180 * 3);
        for y in 0..180u32 {
            for x in 0..320u32 {
                let lit = square_at.is_some_and(|(sx, sy)| (sx..sx + 40).contains(&x) && (sy..sy + 40).contains(&y));
                let base = level.wrapping_add(((x / 20 + y / 20) % 2 * 30) as u8);
                v.extend_from_slice(&[if lit { 250 } else { base }; 3]);
            }
        }
        v
    }

    fn view(v: &[u8]) -> RgbView<'_> {
        RgbView::packed(320, 180, v).unwrap()
    }

    #[test]
    fn a_moving_square_is_motion_and_a_still_or_slowly_brightening_scene_is_not() {
        let mut m = MotionDetector::new(MotionConfig::default());
        let still = frame(None, 60);
        assert_eq!(m.observe(view(&still)), None, "the first frame sets the background");
        for _ in 0..5 {
            assert_eq!(m.observe(view(&still)), None);
        }
        // Lighting drifting by 2 levels a frame is not motion.
        for level in 61..66 {
            assert_eq!(m.observe(view(&frame(None, level))), None);
        }
        let moved = m.observe(view(&frame(Some((200, 100)), 65))).expect("motion");
        assert!(moved.cells >= 3);
        let r = moved.region;
        assert!(r.x1 <= 200.0 && r.x2 >= 240.0 && r.y1 <= 100.0 && r.y2 >= 140.0, "{r:?}");
        assert!(r.x1 >= 180.0 && r.y1 >= 80.0, "the region is where it moved: {r:?}");
    }
}
