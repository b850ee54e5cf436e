//! A decoded camera frame as it leaves the capture crate.

use std::time::{Instant, SystemTime};

use crate::image::{RgbView, ViewError};

/// The pixels of a frame. Capture hands over its decoder's buffer without copying it, so the
/// storage is whatever the source owns; it only has to expose bytes.
pub type FrameData = Box<dyn AsRef<[u8]> + Send + Sync>;

/// One decoded RGB frame and where and when it came from.
pub struct Frame {
    /// The camera's id from the config.
    pub camera_id: std::sync::Arc<str>,
    /// Per-camera sequence number, counting every frame the source delivered (so gaps show
    /// frames that were overwritten before anyone read them).
    pub seq: u64,
    /// Presentation timestamp from the stream, when it had one. Cameras' clocks are not
    /// trusted for event times: use the arrival times.
    pub pts_ns: Option<u64>,
    /// Monotonic arrival time at the appsink.
    pub arrived: Instant,
    /// Wall-clock arrival time, for event timestamps.
    pub arrived_wall: SystemTime,
    /// When the camera captured this picture by its own clock, in nanoseconds since the NTP
    /// epoch (1900), from the RTCP sender reports that map its RTP timestamps to NTP time.
    /// `None` until the first sender report arrives, and for files. Only ever compared with
    /// the same camera's other stream (pairing a detect stream with its main stream), never used
    /// for event times.
    pub sender_ns: Option<u64>,
    pub width: u32,
    pub height: u32,
    pub stride_bytes: usize,
    pub data: FrameData,
    /// The decoder's full-resolution picture, when the source scaled the analysis frame down
    /// (`scale_width`): detection runs on the small RGB frame, crops for recognition come from
    /// here. `None` when the frame itself is full resolution.
    pub full: Option<FullFrame>,
}

impl Frame {
    /// The pixels as a strided RGB view.
    pub fn view(&self) -> Result<RgbView<'_>, ViewError> {
        RgbView::new(self.width, self.height, self.stride_bytes, (*self.data).as_ref())
    }
}

/// Planar YUV layouts a decoder hands over for the full-resolution picture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum YuvFormat {
    /// Three planes, chroma subsampled 2x2.
    I420,
    /// A luma plane and one interleaved UV plane, chroma subsampled 2x2.
    Nv12,
}

/// The YUV to RGB matrix, from the stream's colorimetry (limited range).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum YuvMatrix {
    Bt601,
    Bt709,
}

/// A decoded full-resolution picture in the decoder's own format, kept without conversion so
/// that only the regions recognition needs are ever converted to RGB.
pub struct FullFrame {
    pub width: u32,
    pub height: u32,
    pub format: YuvFormat,
    pub matrix: YuvMatrix,
    /// Byte offset and row stride of each plane (the third is unused for NV12).
    pub planes: [(usize, usize); 3],
    pub data: FrameData,
}

impl std::fmt::Debug for FullFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FullFrame")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("format", &self.format)
            .field("matrix", &self.matrix)
            .finish_non_exhaustive()
    }
}

impl FullFrame {
    /// Converts the region `x, y, w, h` (clamped to the picture) to packed RGB in `out`, which is
    /// resized to `w * h * 3`; returns the clamped region's size. Reuses `out`'s allocation.
    pub fn crop_rgb(&self, x: u32, y: u32, w: u32, h: u32, out: &mut Vec<u8>) -> (u32, u32) {
        let x0 = x.min(self.width);
        let y0 = y.min(self.height);
        let w = w.min(self.width - x0);
        let h = h.min(self.height - y0);
        out.clear();
        out.resize(w as usize * h as usize * 3, 0);
        let d = (*self.data).as_ref();
        // Fixed-point coefficients (x1024) for limited-range Y'CbCr.
        let (cr_r, cb_g, cr_g, cb_b) = match self.matrix {
            YuvMatrix::Bt601 => (1634, -401, -832, 2066),
            YuvMatrix::Bt709 => (1836, -218, -546, 2163),
        };
        let (y_off, y_stride) = self.planes[0];
        for row in 0..h as usize {
            let sy = y0 as usize + row;
            let cy = sy / 2;
            for col in 0..w as usize {
                let sx = x0 as usize + col;
                let cx = sx / 2;
                let luma = d.get(y_off + sy * y_stride + sx).copied().unwrap_or(16) as i32;
                let (u, v) = match self.format {
                    YuvFormat::I420 => {
                        let (u_off, u_stride) = self.planes[1];
                        let (v_off, v_stride) = self.planes[2];
                        (d.get(u_off + cy * u_stride + cx), d.get(v_off + cy * v_stride + cx))
                    }
                    YuvFormat::Nv12 => {
                        let (uv_off, uv_stride) = self.planes[1];
                        (d.get(uv_off + cy * uv_stride + 2 * cx), d.get(uv_off + cy * uv_stride + 2 * cx + 1))
                    }
                };
                let u = u.copied().unwrap_or(128) as i32 - 128;
                let v = v.copied().unwrap_or(128) as i32 - 128;
                let c = 1192 * (luma - 16);
                let px = &mut out[(row * w as usize + col) * 3..][..3];
                px[0] = clamp8((c + cr_r * v + 512) >> 10);
                px[1] = clamp8((c + cb_g * u + cr_g * v + 512) >> 10);
                px[2] = clamp8((c + cb_b * u + 512) >> 10);
            }
        }
        (w, h)
    }
}

fn clamp8(v: i32) -> u8 {
    v.clamp(0, 255) as u8
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frame")
            .field("camera_id", &self.camera_id)
            .field("seq", &self.seq)
            .field("pts_ns", &self.pts_ns)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("stride_bytes", &self.stride_bytes)
            .field("full", &self.full)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 4x2 picture: left half pure red, right half pure blue (BT.601 limited-range values).
    fn picture(format: YuvFormat) -> FullFrame {
        let (w, h) = (4usize, 2usize);
        let (red, blue) = ((81u8, 90u8, 240u8), (41u8, 240u8, 110u8)); // (Y, U, V)
        let mut data = vec![0u8; w * h * 2];
        for y in 0..h {
            for x in 0..w {
                data[y * w + x] = if x < 2 { red.0 } else { blue.0 };
            }
        }
        let c = w * h;
        let planes = match format {
            YuvFormat::I420 => {
                data[c] = red.1;
                data[c + 1] = blue.1;
                data[c + 2] = red.2;
                data[c + 3] = blue.2;
                [(0, w), (c, w / 2), (c + 2, w / 2)]
            }
            YuvFormat::Nv12 => {
                data[c..c + 4].copy_from_slice(&[red.1, red.2, blue.1, blue.2]);
                [(0, w), (c, w), (0, 0)]
            }
        };
        FullFrame { width: 4, height: 2, format, matrix: YuvMatrix::Bt601, planes, data: Box::new(data) }
    }

    #[test]
    fn yuv_crops_convert_to_the_right_colours() {
        for format in [YuvFormat::I420, YuvFormat::Nv12] {
            let f = picture(format);
            let mut out = Vec::new();
            assert_eq!(f.crop_rgb(1, 0, 2, 2, &mut out), (2, 2));
            let near = |px: &[u8], want: [u8; 3]| px.iter().zip(want).all(|(&a, b)| a.abs_diff(b) <= 3);
            assert!(near(&out[0..3], [255, 0, 0]), "{format:?} red: {:?}", &out[0..3]);
            assert!(near(&out[3..6], [0, 0, 255]), "{format:?} blue: {:?}", &out[3..6]);
            // Clamped to the picture.
            assert_eq!(f.crop_rgb(3, 1, 10, 10, &mut out), (1, 1));
            assert_eq!(out.len(), 3);
        }
    }
}
