//! From a strided RGB frame straight into a model's planar (NCHW) `f32` tensor.
//!
//! Resizing, channel reordering and normalisation happen in one pass over the output, reading
//! the source rows through their stride: no intermediate RGB image, no per-frame allocation
//! once the [`Resizer`] and the output buffer have reached their size.

use menwei_core::image::RgbView;

/// How a pixel value `v` becomes a tensor value: `(v - mean[c]) * scale[c]`, where `c` indexes
/// the source's R, G, B. With `bgr`, the tensor's planes are written B, G, R.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Normalize {
    pub mean: [f32; 3],
    pub scale: [f32; 3],
    pub bgr: bool,
}

impl Normalize {
    /// The value a padding pixel (black) takes in the tensor, per source channel.
    pub(crate) fn pad(&self) -> [f32; 3] {
        [-self.mean[0] * self.scale[0], -self.mean[1] * self.scale[1], -self.mean[2] * self.scale[2]]
    }
}

/// Where the source landed in the model input: model px = frame px * `scale`, anchored at the
/// top-left corner; the rest of the input is padding.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Letterbox {
    pub scale: f32,
    pub content_w: u32,
    pub content_h: u32,
}

impl Letterbox {
    /// Maps a point in model input pixels back to frame pixels.
    #[inline]
    pub fn to_frame(&self, x_model: f32, y_model: f32) -> (f32, f32) {
        (x_model / self.scale, y_model / self.scale)
    }
}

/// Reusable lookup tables for bilinear resizing.
#[derive(Debug, Default)]
pub struct Resizer {
    xs: Vec<Tap>,
    ys: Vec<Tap>,
    /// One source row blended vertically, as floats.
    vrow: Vec<f32>,
    /// The padding last written into the output buffer (geometry and values): the same
    /// letterbox on the next frame leaves it in place instead of writing it again.
    padded: Option<(usize, u32, u32, u32, u32, [u32; 3])>,
}

/// The horizontal pass of one output row: two taps per pixel (one when the weight is zero),
/// normalised with `v * scale + offset`, into the three planes.
#[inline(always)]
fn horizontal<T: Copy>(
    xs: &[Tap],
    row: &[T],
    to_f32: impl Fn(T) -> f32,
    outs: [&mut [f32]; 3],
    dst_plane: [usize; 3],
    scale: [f32; 3],
    offset: [f32; 3],
) {
    let [o0, o1, o2] = outs;
    let outs: [&mut [f32]; 3] = [o0, o1, o2];
    for (x, tx) in xs.iter().enumerate() {
        let a = tx.a as usize * 3;
        let pa = &row[a..a + 3];
        if tx.w == 0.0 {
            for c in 0..3 {
                outs[dst_plane[c]][x] = to_f32(pa[c]) * scale[c] + offset[c];
            }
        } else {
            let b = tx.b as usize * 3;
            let pb = &row[b..b + 3];
            for c in 0..3 {
                let (p, q) = (to_f32(pa[c]), to_f32(pb[c]));
                outs[dst_plane[c]][x] = (p + (q - p) * tx.w) * scale[c] + offset[c];
            }
        }
    }
}

/// Two neighbouring source indices and the weight of the second.
#[derive(Clone, Copy, Debug)]
struct Tap {
    a: u32,
    b: u32,
    w: f32,
}

fn taps(out: &mut Vec<Tap>, src_len: u32, dst_len: u32) {
    out.clear();
    let ratio = src_len as f32 / dst_len as f32;
    let last = src_len - 1;
    for d in 0..dst_len {
        // Half-pixel centres, as OpenCV's INTER_LINEAR.
        let s = ((d as f32 + 0.5) * ratio - 0.5).clamp(0.0, last as f32);
        let a = s.floor() as u32;
        out.push(Tap { a, b: (a + 1).min(last), w: s - a as f32 });
    }
}

impl Resizer {
    /// Scales `src` to fit `dst_w` x `dst_h` keeping its aspect ratio, writes it at the
    /// top-left of a `[3, dst_h, dst_w]` tensor in `out` (resized to fit), pads the rest with
    /// black, and says where the frame went.
    pub fn letterbox(
        &mut self,
        src: RgbView<'_>,
        dst_w: u32,
        dst_h: u32,
        norm: &Normalize,
        out: &mut Vec<f32>,
    ) -> Letterbox {
        let scale = (dst_w as f32 / src.width() as f32).min(dst_h as f32 / src.height() as f32);
        let content_w = ((src.width() as f32 * scale).round() as u32).clamp(1, dst_w);
        let content_h = ((src.height() as f32 * scale).round() as u32).clamp(1, dst_h);
        self.resize_into(src, dst_w, dst_h, content_w, content_h, norm, out);
        Letterbox { scale, content_w, content_h }
    }

    /// Stretches `src` to exactly `dst_w` x `dst_h` (no aspect ratio kept).
    pub fn stretch(&mut self, src: RgbView<'_>, dst_w: u32, dst_h: u32, norm: &Normalize, out: &mut Vec<f32>) {
        self.resize_into(src, dst_w, dst_h, dst_w, dst_h, norm, out);
    }

    /// Resizes `src` into the top-left `content_w` x `content_h` of a `[3, dst_h, dst_w]` tensor.
    ///
    /// Two passes per output row: a vertical blend of the two source rows over their whole
    /// width (contiguous, so it vectorises), then two horizontal taps per output pixel. The
    /// padding is written only when `out` does not already hold it: the same letterbox into
    /// the same buffer, frame after frame, writes only the content. A caller that overwrites
    /// the padding itself must write it every time.
    #[allow(clippy::too_many_arguments)]
    pub fn resize_into(
        &mut self,
        src: RgbView<'_>,
        dst_w: u32,
        dst_h: u32,
        content_w: u32,
        content_h: u32,
        norm: &Normalize,
        out: &mut Vec<f32>,
    ) {
        let plane = dst_w as usize * dst_h as usize;
        if out.len() != plane * 3 {
            // Resized (zeroed or reallocated): whatever padding it held is gone.
            self.padded = None;
            out.resize(plane * 3, 0.0);
        }
        taps(&mut self.xs, src.width(), content_w);
        taps(&mut self.ys, src.height(), content_h);
        let pad = norm.pad();
        // Tensor plane for each source channel.
        let dst_plane: [usize; 3] = if norm.bgr { [2, 1, 0] } else { [0, 1, 2] };
        // (v - mean) * scale as one multiply-add.
        let offset = pad;
        let scale = norm.scale;
        let key = (out.as_ptr() as usize, dst_w, dst_h, content_w, content_h, pad.map(f32::to_bits));
        let (p0, rest) = out.split_at_mut(plane);
        let (p1, p2) = rest.split_at_mut(plane);
        let mut planes: [&mut [f32]; 3] = [p0, p1, p2];
        let row_len = src.width() as usize * 3;
        self.vrow.resize(row_len, 0.0);
        let (cw, dw) = (content_w as usize, dst_w as usize);
        for (y, ty) in self.ys.iter().enumerate() {
            let row_start = y * dw;
            let [o0, o1, o2] = &mut planes;
            let outs = [
                &mut o0[row_start..row_start + cw],
                &mut o1[row_start..row_start + cw],
                &mut o2[row_start..row_start + cw],
            ];
            let (r0, wy) = (&src.row(ty.a)[..row_len], ty.w);
            if wy == 0.0 {
                // The output row falls on a source row (an integer scale, as 1080p to 640):
                // no vertical blend at all.
                horizontal(&self.xs, r0, |v| v as f32, outs, dst_plane, scale, offset);
            } else {
                // Vertical pass over the whole source row: contiguous, so it vectorises.
                let r1 = &src.row(ty.b)[..row_len];
                for ((v, &p), &q) in self.vrow.iter_mut().zip(r0).zip(r1) {
                    let p = p as f32;
                    *v = p + (q as f32 - p) * wy;
                }
                horizontal(&self.xs, &self.vrow, |v| v, outs, dst_plane, scale, offset);
            }
        }
        // Padding: written only when this buffer does not already hold the same padding.
        if self.padded != Some(key) {
            for y in 0..content_h as usize {
                for c in 0..3 {
                    planes[dst_plane[c]][y * dw + cw..(y + 1) * dw].fill(pad[c]);
                }
            }
            let from = content_h as usize * dw;
            for c in 0..3 {
                planes[dst_plane[c]][from..].fill(pad[c]);
            }
            self.padded = Some(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDENTITY: Normalize = Normalize { mean: [0.0; 3], scale: [1.0; 3], bgr: false };

    #[test]
    fn same_size_is_a_copy_through_the_stride_into_planes() {
        // 2x2 with 2 bytes of row padding.
        let data = [10, 20, 30, 40, 50, 60, 0, 0, 70, 80, 90, 100, 110, 120];
        let src = RgbView::new(2, 2, 8, &data).unwrap();
        let mut out = Vec::new();
        Resizer::default().stretch(src, 2, 2, &IDENTITY, &mut out);
        assert_eq!(out, vec![10., 40., 70., 100., 20., 50., 80., 110., 30., 60., 90., 120.]);
    }

    #[test]
    fn bgr_and_normalisation_are_applied() {
        let data = [255, 0, 127];
        let src = RgbView::packed(1, 1, &data).unwrap();
        let norm = Normalize { mean: [127.5; 3], scale: [1.0 / 127.5; 3], bgr: true };
        let mut out = Vec::new();
        Resizer::default().stretch(src, 1, 1, &norm, &mut out);
        assert!((out[0] - (-0.003_921_6)).abs() < 1e-4, "B plane first: {out:?}");
        assert_eq!(out[1], -1.0);
        assert_eq!(out[2], 1.0);
    }

    #[test]
    fn letterbox_keeps_aspect_pads_and_maps_back() {
        // A 4x2 white image into 4x4: content 4x2 at the top, black padding below.
        let data = [255u8; 4 * 2 * 3];
        let src = RgbView::packed(4, 2, &data).unwrap();
        let mut out = vec![7.0; 3];
        let lb = Resizer::default().letterbox(src, 4, 4, &IDENTITY, &mut out);
        assert_eq!(lb, Letterbox { scale: 1.0, content_w: 4, content_h: 2 });
        assert_eq!(out.len(), 48);
        assert!(out[..8].iter().all(|&v| v == 255.0));
        assert!(out[8..16].iter().all(|&v| v == 0.0));
        let lb = Letterbox { scale: 0.5, content_w: 2, content_h: 1 };
        assert_eq!(lb.to_frame(10.0, 4.0), (20.0, 8.0));
    }

    #[test]
    fn downscale_averages_neighbours() {
        // 2x1: black then white, halved to 1x1 -> the half-pixel centre falls between them.
        let data = [0, 0, 0, 255, 255, 255];
        let src = RgbView::packed(2, 1, &data).unwrap();
        let mut out = Vec::new();
        Resizer::default().stretch(src, 1, 1, &IDENTITY, &mut out);
        assert_eq!(out, vec![127.5; 3]);
    }
}
