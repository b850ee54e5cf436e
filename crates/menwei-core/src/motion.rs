//! A cheap motion detector, so that the models run only when something moves.
//!
//! Each analysed frame is reduced to a 32x18 grid of mean luminance (576 samples of a few
//! pixels each); a cell moves when it differs from a slowly adapting background by more than
//! `cell_delta` levels. A frame has motion when at least `min_cells` cells move. Lighting drift
//! is absorbed by the background; a static scene costs only the grid. Something that arrives
//! and then stays still (a parked car, a person waiting, a new poster) is motion for
//! `settle_frames` observations, and is then taken into the background at once rather than
//! fading in over many seconds.
//!
//! Motion also says *where* to look: the moving cells' bounding box, grown by a margin of
//! `margin_cells` cells on every side (a face whose body moves is looked at whole, and a box
//! cut by the crop's edge is rare), is the region the detectors run on. When that region covers
//! most of the frame (`whole_frame_share`), cropping saves little and the whole frame is used.
//! Several separate movers give one region around all of them.
//!
//! Motion also says whether anything is still *changing*: `fresh` counts the moving cells that
//! changed since the previous observation. A frame whose motion is only settling (fewer than
//! `min_cells` fresh cells) shows the same picture as the frame before it, so a caller that has
//! already recognised everything in view may take the previous frame's detections for it.

use crate::geom::{BoxXyxy, PixelRect};
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
    /// Cells added on every side of the moving cells' box to make the region to look at.
    pub margin_cells: usize,
    /// When the region to look at would cover this share of the frame or more, look at all of it.
    pub whole_frame_share: f32,
    /// A cell that differs from the background but has held its value (within half of
    /// `cell_delta`) for this many observations becomes background.
    pub settle_frames: u16,
}

impl Default for MotionConfig {
    fn default() -> Self {
        Self { cell_delta: 12.0, min_cells: 3, learn: 0.05, margin_cells: 2, whole_frame_share: 0.6, settle_frames: 10 }
    }
}

/// What moved in a frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Motion {
    pub cells: usize,
    /// Moving cells that changed since the previous observation; the others are settling.
    pub fresh: usize,
    /// The moving cells' bounding box, in frame pixels.
    pub region: BoxXyxy,
    /// Where the detectors should look: `region` grown by the margin, or the whole frame when
    /// that would cover most of it.
    pub look: PixelRect,
}

impl Motion {
    /// Whether this frame's motion is only something settling that changed nothing since the
    /// previous frame: it shows the same picture.
    pub fn settling(&self, cfg: &MotionConfig) -> bool {
        self.fresh < cfg.min_cells
    }
}

#[derive(Clone, Debug)]
pub struct MotionDetector {
    cfg: MotionConfig,
    background: Option<[f32; GW * GH]>,
    previous: [f32; GW * GH],
    /// Per cell: consecutive observations it held its value.
    held: [u16; GW * GH],
}

impl MotionDetector {
    pub fn config(&self) -> &MotionConfig {
        &self.cfg
    }

    pub fn new(cfg: MotionConfig) -> Self {
        Self { cfg, background: None, previous: [0.0; GW * GH], held: [0; GW * GH] }
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
            self.previous = grid;
            return None;
        };
        let (mut cells, mut fresh, mut x1, mut y1, mut x2, mut y2) = (0, 0, GW, GH, 0, 0);
        for (i, (b, v)) in bg.iter_mut().zip(grid.iter()).enumerate() {
            let held = &mut self.held[i];
            *held = if (v - self.previous[i]).abs() < self.cfg.cell_delta / 2.0 { held.saturating_add(1) } else { 0 };
            if *held >= self.cfg.settle_frames {
                *b = *v;
            }
            if (v - *b).abs() >= self.cfg.cell_delta {
                cells += 1;
                fresh += usize::from(*held == 0);
                let (gx, gy) = (i % GW, i / GW);
                x1 = x1.min(gx);
                y1 = y1.min(gy);
                x2 = x2.max(gx + 1);
                y2 = y2.max(gy + 1);
            }
            *b += (v - *b) * self.cfg.learn;
        }
        self.previous = grid;
        if cells < self.cfg.min_cells {
            return None;
        }
        let px = |gx: usize, gy: usize| ((gx * w / GW) as u32, (gy * h / GH) as u32);
        let (rx1, ry1) = px(x1, y1);
        let (rx2, ry2) = px(x2, y2);
        let m = self.cfg.margin_cells;
        let (lx1, ly1) = px(x1.saturating_sub(m), y1.saturating_sub(m));
        let (lx2, ly2) = px((x2 + m).min(GW), (y2 + m).min(GH));
        let grown = PixelRect { x: lx1, y: ly1, width: lx2 - lx1, height: ly2 - ly1 };
        let whole = PixelRect::full(w as u32, h as u32);
        let look = if grown.area() as f32 >= self.cfg.whole_frame_share * whole.area() as f32 { whole } else { grown };
        Some(Motion {
            cells,
            fresh,
            region: BoxXyxy { x1: rx1 as f32, y1: ry1 as f32, x2: rx2 as f32, y2: ry2 as f32 },
            look,
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
        // The region to look at is the moving cells grown by two cells (20 px across, 20 px
        // down here) on every side, within the frame.
        let l = moved.look;
        assert!(l.as_box().x1 <= r.x1 - 20.0 && l.as_box().y2 >= r.y2 + 20.0 - 1.0, "{l:?} around {r:?}");
        assert!(l.x + l.width <= 320 && l.y + l.height <= 180);
        assert!(l.area() * 4 < 320 * 180, "a small mover gives a small region: {l:?}");
    }

    #[test]
    fn something_that_arrives_and_stays_is_motion_until_it_settles() {
        let cfg = MotionConfig::default();
        let mut m = MotionDetector::new(cfg);
        m.observe(view(&frame(None, 60)));
        let parked = frame(Some((100, 60)), 60);
        let seen: Vec<Motion> = (0..30).map_while(|_| m.observe(view(&parked))).collect();
        assert_eq!(seen.len(), usize::from(cfg.settle_frames), "motion while it settles, then background");
        // Its arrival changed the picture; every frame after showed the same picture.
        assert!(!seen[0].settling(&cfg) && seen[0].fresh == seen[0].cells, "{:?}", seen[0]);
        assert!(seen[1..].iter().all(|s| s.settling(&cfg) && s.fresh == 0), "{seen:?}");
        assert_eq!(m.observe(view(&parked)), None);
        // When it leaves, that is motion again, and fresh.
        assert!(m.observe(view(&frame(None, 60))).is_some_and(|s| !s.settling(&cfg)));
        // A mover that keeps moving is fresh on every frame.
        let mut m = MotionDetector::new(cfg);
        m.observe(view(&frame(None, 60)));
        for x in (0..200).step_by(20) {
            let s = m.observe(view(&frame(Some((x, 60)), 60))).expect("motion");
            assert!(!s.settling(&cfg), "at x {x}: {s:?}");
        }
    }

    #[test]
    fn a_large_mover_is_looked_at_over_the_whole_frame_and_two_movers_in_one_region() {
        let mut m = MotionDetector::new(MotionConfig::default());
        let dark = vec![20u8; 320 * 180 * 3];
        m.observe(view(&dark));
        let bright = vec![200u8; 320 * 180 * 3];
        assert_eq!(m.observe(view(&bright)).unwrap().look, PixelRect::full(320, 180));

        let mut m = MotionDetector::new(MotionConfig::default());
        let still = frame(None, 60);
        m.observe(view(&still));
        // Two squares in opposite corners: one region spanning both.
        let mut two = frame(Some((0, 0)), 60);
        let other = frame(Some((270, 130)), 60);
        for (i, px) in two.chunks_mut(3).enumerate() {
            if other[i * 3] == 250 {
                px.fill(250);
            }
        }
        let moved = m.observe(view(&two)).unwrap();
        assert!(moved.region.x1 <= 10.0 && moved.region.x2 >= 310.0, "{:?}", moved.region);
    }
}
