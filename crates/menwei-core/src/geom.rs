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

    /// Intersection over union; 0 for disjoint or empty boxes.
    pub fn iou(&self, other: &BoxXyxy) -> f32 {
        let ix = (self.x2.min(other.x2) - self.x1.max(other.x1)).max(0.0);
        let iy = (self.y2.min(other.y2) - self.y1.max(other.y1)).max(0.0);
        let inter = ix * iy;
        let union = self.area() + other.area() - inter;
        if union <= 0.0 { 0.0 } else { inter / union }
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
}
