//! Face alignment: the similarity transform that puts five landmarks on an embedder's template
//! (ArcFace's, or dlib's face chip), and the warp that samples the aligned face straight into a
//! model tensor.

use menwei_core::geom::Point;
use menwei_core::image::RgbView;

use crate::preprocess::Normalize;

/// The ArcFace 112x112 template: left eye, right eye, nose, left and right mouth corners.
pub const ARCFACE_112: [Point; 5] = [
    Point { x: 38.2946, y: 51.6963 },
    Point { x: 73.5318, y: 51.5014 },
    Point { x: 56.0252, y: 71.7366 },
    Point { x: 41.5493, y: 92.3655 },
    Point { x: 70.7299, y: 92.2041 },
];

/// dlib's 150x150 face chip with padding 0.25 (`get_face_chip_details(shape, 150, 0.25)`),
/// at the same five points the face detectors give: each eye's centre (the mean of its six
/// points), the nose tip (point 30) and the mouth corners (48 and 54) of dlib's mean 68-point
/// face shape (dlib/image_transforms/interpolation.h), mapped as `(0.25 + m) / 1.5 * 150`.
pub const DLIB_CHIP_150: [Point; 5] = [
    Point { x: 47.549, y: 46.599 },
    Point { x: 100.476, y: 46.599 },
    Point { x: 74.013, y: 76.563 },
    Point { x: 50.415, y: 103.023 },
    Point { x: 97.610, y: 103.023 },
];

/// `q = a * p + t` on points as complex numbers: a rotation and uniform scale (`a`) and a
/// translation. No shear, no reflection.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Similarity {
    pub a_re: f32,
    pub a_im: f32,
    pub t_x: f32,
    pub t_y: f32,
}

impl Similarity {
    /// The least-squares similarity taking `src` onto `dst` (Umeyama's method, in 2-D).
    pub fn estimate(src: &[Point; 5], dst: &[Point; 5]) -> Similarity {
        let mean = |p: &[Point; 5]| {
            let (sx, sy) = p.iter().fold((0.0f64, 0.0f64), |(x, y), q| (x + f64::from(q.x), y + f64::from(q.y)));
            (sx / 5.0, sy / 5.0)
        };
        let (psx, psy) = mean(src);
        let (pdx, pdy) = mean(dst);
        let (mut num_re, mut num_im, mut den) = (0.0f64, 0.0f64, 0.0f64);
        for (p, q) in src.iter().zip(dst) {
            let (px, py) = (f64::from(p.x) - psx, f64::from(p.y) - psy);
            let (qx, qy) = (f64::from(q.x) - pdx, f64::from(q.y) - pdy);
            // (q) * conj(p)
            num_re += qx * px + qy * py;
            num_im += qy * px - qx * py;
            den += px * px + py * py;
        }
        let (a_re, a_im) = if den > 0.0 { (num_re / den, num_im / den) } else { (1.0, 0.0) };
        let t_x = pdx - (a_re * psx - a_im * psy);
        let t_y = pdy - (a_im * psx + a_re * psy);
        Similarity { a_re: a_re as f32, a_im: a_im as f32, t_x: t_x as f32, t_y: t_y as f32 }
    }

    pub fn apply(&self, p: Point) -> Point {
        Point { x: self.a_re * p.x - self.a_im * p.y + self.t_x, y: self.a_im * p.x + self.a_re * p.y + self.t_y }
    }

    pub fn inverse(&self) -> Similarity {
        let n = self.a_re * self.a_re + self.a_im * self.a_im;
        let (ir, ii) = (self.a_re / n, -self.a_im / n);
        Similarity { a_re: ir, a_im: ii, t_x: -(ir * self.t_x - ii * self.t_y), t_y: -(ii * self.t_x + ir * self.t_y) }
    }

    /// The scale factor (template pixels per frame pixel).
    pub fn scale(&self) -> f32 {
        self.a_re.hypot(self.a_im)
    }
}

/// Samples the face that `landmarks` mark in `frame` into a `[3, size, size]` tensor, aligned
/// to `template` (its points in the tensor's pixels), normalised with `norm`, bilinear, black
/// outside the frame. Writes `out[..3 * size * size]`.
pub fn warp_face(
    frame: RgbView<'_>,
    landmarks: &[Point; 5],
    template: &[Point; 5],
    size: u32,
    norm: &Normalize,
    out: &mut [f32],
) {
    let inv = Similarity::estimate(landmarks, template).inverse();
    let plane = (size * size) as usize;
    let (w, h) = (frame.width() as i64, frame.height() as i64);
    let pad = norm.pad();
    let planes: [usize; 3] = if norm.bgr { [2, 1, 0] } else { [0, 1, 2] };
    for v in 0..size {
        for u in 0..size {
            let s = inv.apply(Point { x: u as f32, y: v as f32 });
            let (x0, y0) = (s.x.floor(), s.y.floor());
            let (fx, fy) = (s.x - x0, s.y - y0);
            let (x0, y0) = (x0 as i64, y0 as i64);
            let idx = (v * size + u) as usize;
            if x0 < -1 || y0 < -1 || x0 >= w || y0 >= h {
                for c in 0..3 {
                    out[planes[c] * plane + idx] = pad[c];
                }
                continue;
            }
            let (a, b, c_, d) = if x0 >= 0 && y0 >= 0 && x0 + 1 < w && y0 + 1 < h {
                // Inside the frame (nearly every pixel): the four neighbours from two rows.
                let (r0, r1) = (frame.row(y0 as u32), frame.row(y0 as u32 + 1));
                let i = 3 * x0 as usize;
                let rgb = |r: &[u8], k: usize| [f32::from(r[k]), f32::from(r[k + 1]), f32::from(r[k + 2])];
                (rgb(r0, i), rgb(r0, i + 3), rgb(r1, i), rgb(r1, i + 3))
            } else {
                let px = |x: i64, y: i64| -> [f32; 3] {
                    if x < 0 || y < 0 || x >= w || y >= h {
                        [0.0; 3]
                    } else {
                        frame.pixel(x as u32, y as u32).map(f32::from)
                    }
                };
                (px(x0, y0), px(x0 + 1, y0), px(x0, y0 + 1), px(x0 + 1, y0 + 1))
            };
            for c in 0..3 {
                let top = a[c] + (b[c] - a[c]) * fx;
                let bottom = c_[c] + (d[c] - c_[c]) * fx;
                let val = top + (bottom - top) * fy;
                out[planes[c] * plane + idx] = (val - norm.mean[c]) * norm.scale[c];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_maps_onto_itself_and_a_moved_face_maps_back() {
        let id = Similarity::estimate(&ARCFACE_112, &ARCFACE_112);
        assert!((id.a_re - 1.0).abs() < 1e-5 && id.a_im.abs() < 1e-5 && id.t_x.abs() < 1e-3);
        // The template rotated by 30 degrees, doubled and moved.
        let (c, s) = (30f32.to_radians().cos(), 30f32.to_radians().sin());
        let moved =
            ARCFACE_112.map(|p| Point { x: 2.0 * (c * p.x - s * p.y) + 100.0, y: 2.0 * (s * p.x + c * p.y) + 40.0 });
        let m = Similarity::estimate(&moved, &ARCFACE_112);
        assert!((m.scale() - 0.5).abs() < 1e-4, "{}", m.scale());
        for (p, q) in moved.iter().zip(&ARCFACE_112) {
            let r = m.apply(*p);
            assert!((r.x - q.x).abs() < 1e-3 && (r.y - q.y).abs() < 1e-3);
        }
        let back = m.inverse().apply(ARCFACE_112[2]);
        assert!((back.x - moved[2].x).abs() < 1e-2 && (back.y - moved[2].y).abs() < 1e-2);
    }

    #[test]
    fn warping_the_template_is_a_copy() {
        // A 112x112 gradient whose landmarks are the template: the warp is the identity.
        let data: Vec<u8> = (0..112 * 112).flat_map(|i| [(i % 112) as u8, (i / 112) as u8, 7]).collect();
        let frame = RgbView::packed(112, 112, &data).unwrap();
        let norm = Normalize { mean: [0.0; 3], scale: [1.0; 3], bgr: false };
        let mut out = vec![0.0; 3 * 112 * 112];
        warp_face(frame, &ARCFACE_112, &ARCFACE_112, 112, &norm, &mut out);
        for &(x, y) in &[(0usize, 0usize), (50, 60), (111, 111)] {
            let i = y * 112 + x;
            assert!((out[i] - x as f32).abs() < 0.01 && (out[12544 + i] - y as f32).abs() < 0.01, "{x},{y}");
            assert_eq!(out[2 * 12544 + i], 7.0);
        }
    }

    #[test]
    fn the_dlib_chip_is_dlibs_mean_face_shape() {
        // dlib's mean 68-point shape (points 36-41, 42-47, 30, 48, 54), in [0, 1].
        let left_x = [0.121737, 0.187122, 0.265825, 0.334606, 0.260918, 0.182743f32];
        let eye_y = [0.216423, 0.178758, 0.179852, 0.231733, 0.245099, 0.244077f32];
        let mean = |v: &[f32; 6]| v.iter().sum::<f32>() / 6.0;
        let chip = |m: f32| (0.25 + m) / 1.5 * 150.0;
        let left = Point { x: chip(mean(&left_x)), y: chip(mean(&eye_y)) };
        let right_x = [0.645647, 0.714428, 0.793132, 0.858516, 0.79751, 0.719335f32];
        let expected = [
            left,
            Point { x: chip(mean(&right_x)), y: left.y },
            Point { x: chip(0.490127), y: chip(0.515625) },
            Point { x: chip(0.254149), y: chip(0.780233) },
            Point { x: chip(0.726104), y: chip(0.780233) },
        ];
        for (p, q) in DLIB_CHIP_150.iter().zip(&expected) {
            assert!((p.x - q.x).abs() < 0.01 && (p.y - q.y).abs() < 0.01, "{p:?} vs {q:?}");
        }
    }
}
