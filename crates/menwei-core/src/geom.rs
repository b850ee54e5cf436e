//! Boxes and points. Coordinates are pixels of the frame they were found in, `f32`, with the
//! origin at the top-left corner and `x` to the right.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub x: f32,
    pub y: f32,
}

/// Whether `p` lies inside the polygon `poly` (even-odd rule; points on an edge may go either
/// way). Fewer than three vertices contain nothing.
pub fn point_in_polygon(p: Point, poly: &[Point]) -> bool {
    if poly.len() < 3 {
        return false;
    }
    let mut inside = false;
    let mut j = poly.len() - 1;
    for i in 0..poly.len() {
        let (a, b) = (poly[i], poly[j]);
        if (a.y > p.y) != (b.y > p.y) && p.x < (b.x - a.x) * (p.y - a.y) / (b.y - a.y) + a.x {
            inside = !inside;
        }
        j = i;
    }
    inside
}

/// An axis-aligned box, `x1 <= x2`, `y1 <= y2`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BoxXyxy {
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
}

impl BoxXyxy {
    pub fn center(&self) -> Point {
        Point { x: (self.x1 + self.x2) / 2.0, y: (self.y1 + self.y2) / 2.0 }
    }

    pub fn width(&self) -> f32 {
        (self.x2 - self.x1).max(0.0)
    }

    pub fn height(&self) -> f32 {
        (self.y2 - self.y1).max(0.0)
    }

    pub fn area(&self) -> f32 {
        self.width() * self.height()
    }

    /// The box limited to a `width` x `height` frame.
    pub fn clamp_to(&self, width: u32, height: u32) -> BoxXyxy {
        let (w, h) = (width as f32, height as f32);
        BoxXyxy {
            x1: self.x1.clamp(0.0, w),
            y1: self.y1.clamp(0.0, h),
            x2: self.x2.clamp(0.0, w),
            y2: self.y2.clamp(0.0, h),
        }
    }

    /// The box moved by (`dx`, `dy`): from a crop's coordinates to its frame's.
    pub fn translate(&self, dx: f32, dy: f32) -> BoxXyxy {
        BoxXyxy { x1: self.x1 + dx, y1: self.y1 + dy, x2: self.x2 + dx, y2: self.y2 + dy }
    }

    /// Intersection over union; 0 for disjoint or empty boxes.
    pub fn iou(&self, other: &BoxXyxy) -> f32 {
        let ix = (self.x2.min(other.x2) - self.x1.max(other.x1)).max(0.0);
        let iy = (self.y2.min(other.y2) - self.y1.max(other.y1)).max(0.0);
        let inter = ix * iy;
        let union = self.area() + other.area() - inter;
        if union <= 0.0 { 0.0 } else { inter / union }
    }
}

impl Point {
    /// The point moved by (`dx`, `dy`).
    pub fn translate(&self, dx: f32, dy: f32) -> Point {
        Point { x: self.x + dx, y: self.y + dy }
    }
}

/// A rectangle of whole pixels in a frame: where the models look.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PixelRect {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

impl PixelRect {
    /// The whole `width` x `height` frame.
    pub fn full(width: u32, height: u32) -> PixelRect {
        PixelRect { x: 0, y: 0, width, height }
    }

    /// The smallest rectangle of whole pixels that covers `b`, limited to a `width` x `height`
    /// frame; `None` when nothing of it is inside.
    pub fn covering(b: &BoxXyxy, width: u32, height: u32) -> Option<PixelRect> {
        let c = b.clamp_to(width, height);
        let (x1, y1) = (c.x1.floor() as u32, c.y1.floor() as u32);
        let (x2, y2) = (c.x2.ceil() as u32, c.y2.ceil() as u32);
        (x2 > x1 && y2 > y1).then(|| PixelRect { x: x1, y: y1, width: x2 - x1, height: y2 - y1 })
    }

    /// The bounding rectangle of polygons given in fractions of a `width` x `height` frame;
    /// `None` for no polygons (or only degenerate ones).
    pub fn around_fractions(polygons: &[Vec<Point>], width: u32, height: u32) -> Option<PixelRect> {
        let mut it = polygons.iter().flatten();
        let first = it.next()?;
        let (mut x1, mut y1, mut x2, mut y2) = (first.x, first.y, first.x, first.y);
        for p in it {
            (x1, y1, x2, y2) = (x1.min(p.x), y1.min(p.y), x2.max(p.x), y2.max(p.y));
        }
        let (w, h) = (width as f32, height as f32);
        PixelRect::covering(&BoxXyxy { x1: x1 * w, y1: y1 * h, x2: x2 * w, y2: y2 * h }, width, height)
    }

    /// The common part of two rectangles; `None` when they do not overlap.
    pub fn intersect(&self, o: &PixelRect) -> Option<PixelRect> {
        let (x1, y1) = (self.x.max(o.x), self.y.max(o.y));
        let x2 = (self.x + self.width).min(o.x + o.width);
        let y2 = (self.y + self.height).min(o.y + o.height);
        (x2 > x1 && y2 > y1).then(|| PixelRect { x: x1, y: y1, width: x2 - x1, height: y2 - y1 })
    }

    pub fn area(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }

    /// Whether this is all of a `width` x `height` frame.
    pub fn is_full(&self, width: u32, height: u32) -> bool {
        *self == PixelRect::full(width, height)
    }

    pub fn as_box(&self) -> BoxXyxy {
        BoxXyxy {
            x1: self.x as f32,
            y1: self.y as f32,
            x2: (self.x + self.width) as f32,
            y2: (self.y + self.height) as f32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_in_polygons() {
        let sq =
            [Point { x: 0.0, y: 0.0 }, Point { x: 1.0, y: 0.0 }, Point { x: 1.0, y: 1.0 }, Point { x: 0.0, y: 1.0 }];
        assert!(point_in_polygon(Point { x: 0.5, y: 0.5 }, &sq));
        assert!(!point_in_polygon(Point { x: 1.5, y: 0.5 }, &sq));
        let l = [
            Point { x: 0.0, y: 0.0 },
            Point { x: 2.0, y: 0.0 },
            Point { x: 2.0, y: 1.0 },
            Point { x: 1.0, y: 1.0 },
            Point { x: 1.0, y: 2.0 },
            Point { x: 0.0, y: 2.0 },
        ];
        assert!(point_in_polygon(Point { x: 0.5, y: 1.5 }, &l) && !point_in_polygon(Point { x: 1.5, y: 1.5 }, &l));
        assert!(!point_in_polygon(Point { x: 0.0, y: 0.0 }, &sq[..2]));
    }

    #[test]
    fn iou_of_overlapping_identical_and_disjoint_boxes() {
        let a = BoxXyxy { x1: 0.0, y1: 0.0, x2: 2.0, y2: 2.0 };
        let b = BoxXyxy { x1: 1.0, y1: 0.0, x2: 3.0, y2: 2.0 };
        let c = BoxXyxy { x1: 5.0, y1: 5.0, x2: 6.0, y2: 6.0 };
        assert!((a.iou(&b) - 2.0 / 6.0).abs() < 1e-6);
        assert_eq!(a.iou(&a), 1.0);
        assert_eq!(a.iou(&c), 0.0);
    }

    #[test]
    fn pixel_rects_cover_intersect_and_come_from_zones() {
        let r = PixelRect::covering(&BoxXyxy { x1: -5.0, y1: 10.2, x2: 30.5, y2: 400.0 }, 100, 50).unwrap();
        assert_eq!(r, PixelRect { x: 0, y: 10, width: 31, height: 40 });
        assert_eq!(PixelRect::covering(&BoxXyxy { x1: 120.0, y1: 0.0, x2: 130.0, y2: 5.0 }, 100, 50), None);
        let a = PixelRect { x: 10, y: 10, width: 20, height: 20 };
        let b = PixelRect { x: 25, y: 0, width: 20, height: 15 };
        assert_eq!(a.intersect(&b), Some(PixelRect { x: 25, y: 10, width: 5, height: 5 }));
        assert_eq!(a.intersect(&PixelRect { x: 30, y: 0, width: 5, height: 5 }), None);
        let p = |x, y| Point { x, y };
        let zones = vec![vec![p(0.1, 0.5), p(0.4, 0.5), p(0.4, 0.9)], vec![p(0.6, 0.6), p(0.7, 0.6), p(0.7, 0.7)]];
        assert_eq!(
            PixelRect::around_fractions(&zones, 1000, 100),
            Some(PixelRect { x: 100, y: 50, width: 600, height: 40 })
        );
        assert_eq!(PixelRect::around_fractions(&[], 1000, 100), None);
        assert!(PixelRect::full(4, 3).is_full(4, 3) && !a.is_full(4, 3));
    }
}
