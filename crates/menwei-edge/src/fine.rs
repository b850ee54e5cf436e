//! Where recognition reads a face or a plate from: the full-resolution picture when the
//! analysed frame came with one, else the analysed frame itself.
//!
//! Detection and tracking run on a small picture (a `scale_width` frame, or a camera's
//! low-resolution detect stream); reading a plate or embedding a face wants every pixel the
//! camera has. A [`FineCrop`] converts only the region around one detection from the decoder's
//! YUV picture to RGB, and maps the detection's points into it, so that the vision crate's
//! alignment and rectification see the sharp picture with no other change.

use menwei_core::frame::FullFrame;
use menwei_core::geom::{BoxXyxy, Point};
use menwei_core::image::RgbView;

/// Context kept around a detection, as a share of its size on each side, so that alignment and
/// rectification have the pixels they sample near the edges.
const MARGIN: f32 = 0.5;

/// A region of the full-resolution picture, in RGB, with the mapping from analysis pixels.
#[derive(Debug)]
pub struct FineCrop {
    rgb: Vec<u8>,
    width: u32,
    height: u32,
    /// The region's top-left corner in full-resolution pixels.
    origin: (f32, f32),
    /// Full-resolution pixels per analysis pixel, per axis (a sub-stream may have another
    /// aspect ratio than the main stream, 704x576 against 1920x1080, for the same view).
    scale: (f32, f32),
}

impl FineCrop {
    /// The region of `full` around `bbox` (analysis pixels of a `analysis` sized frame), or
    /// `None` when `full` is no larger than the analysis frame (nothing to gain) or the region
    /// is empty.
    pub fn around(full: &FullFrame, analysis: (u32, u32), bbox: BoxXyxy) -> Option<FineCrop> {
        let (aw, ah) = analysis;
        if aw == 0 || ah == 0 || (full.width <= aw && full.height <= ah) {
            return None;
        }
        let scale = (full.width as f32 / aw as f32, full.height as f32 / ah as f32);
        let (mx, my) = (bbox.width() * MARGIN, bbox.height() * MARGIN);
        let x1 = ((bbox.x1 - mx) * scale.0).floor().max(0.0) as u32;
        let y1 = ((bbox.y1 - my) * scale.1).floor().max(0.0) as u32;
        let x2 = (((bbox.x2 + mx) * scale.0).ceil() as u32).min(full.width);
        let y2 = (((bbox.y2 + my) * scale.1).ceil() as u32).min(full.height);
        if x2 <= x1 + 1 || y2 <= y1 + 1 {
            return None;
        }
        let mut rgb = Vec::new();
        let (width, height) = full.crop_rgb(x1, y1, x2 - x1, y2 - y1, &mut rgb);
        Some(FineCrop { rgb, width, height, origin: (x1 as f32, y1 as f32), scale })
    }

    pub fn view(&self) -> RgbView<'_> {
        RgbView::new(self.width, self.height, self.width as usize * 3, &self.rgb).expect("a crop fits its own buffer")
    }

    /// An analysis-frame point in this crop's pixels.
    pub fn point(&self, p: Point) -> Point {
        Point { x: p.x * self.scale.0 - self.origin.0, y: p.y * self.scale.1 - self.origin.1 }
    }

    /// An analysis-frame box in this crop's pixels.
    pub fn bbox(&self, b: BoxXyxy) -> BoxXyxy {
        let (p1, p2) = (self.point(Point { x: b.x1, y: b.y1 }), self.point(Point { x: b.x2, y: b.y2 }));
        BoxXyxy { x1: p1.x, y1: p1.y, x2: p2.x, y2: p2.y }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use menwei_core::frame::{YuvFormat, YuvMatrix};

    /// A 400x200 I420 picture whose luma is x / 2 (so columns are told apart) and chroma neutral.
    fn full() -> FullFrame {
        let (w, h) = (400usize, 200usize);
        let mut data = vec![0u8; w * h * 3 / 2];
        for y in 0..h {
            for x in 0..w {
                data[y * w + x] = (16 + x / 2) as u8;
            }
        }
        data[w * h..].fill(128);
        let planes = [(0, w), (w * h, w / 2), (w * h + w * h / 4, w / 2)];
        FullFrame {
            width: 400,
            height: 200,
            format: YuvFormat::I420,
            matrix: YuvMatrix::Bt601,
            planes,
            data: Box::new(data),
        }
    }

    #[test]
    fn a_crop_maps_analysis_points_onto_the_same_full_resolution_pixels() {
        let full = full();
        // A 100x50 analysis frame: 4x on each axis.
        let b = BoxXyxy { x1: 40.0, y1: 20.0, x2: 50.0, y2: 30.0 };
        let crop = FineCrop::around(&full, (100, 50), b).unwrap();
        // The box with half its size around it: (35..55, 15..35) analysis = (140..220, 60..140) full.
        assert_eq!((crop.view().width(), crop.view().height()), (80, 80));
        let p = crop.point(Point { x: 45.0, y: 25.0 });
        assert_eq!((p.x, p.y), (40.0, 40.0));
        // The pixel there is the full picture's column 180: luma 16 + 90, grey after conversion.
        let [r, g, b] = crop.view().pixel(p.x as u32, p.y as u32);
        assert!(r == g && g == b && (r as i32 - ((90.0 * 255.0 / 219.0) as i32)).abs() <= 1, "{r} {g} {b}");
        let mapped = crop.bbox(b_box());
        assert_eq!((mapped.x1, mapped.y2), (20.0, 60.0));
    }

    fn b_box() -> BoxXyxy {
        BoxXyxy { x1: 40.0, y1: 20.0, x2: 50.0, y2: 30.0 }
    }

    #[test]
    fn no_crop_when_the_full_picture_is_no_larger_or_the_region_is_outside() {
        let full = full();
        assert!(FineCrop::around(&full, (400, 200), b_box()).is_none());
        let outside = BoxXyxy { x1: 500.0, y1: 300.0, x2: 510.0, y2: 310.0 };
        assert!(FineCrop::around(&full, (100, 50), outside).is_none());
    }
}
