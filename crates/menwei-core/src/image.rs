//! Borrowed views of packed RGB pixels with an explicit row stride.
//!
//! GStreamer pads RGB rows to 4 bytes (a 641 px wide frame has a stride of 1924), so every
//! consumer must read rows through the stride, never assume `width * 3`.

use thiserror::Error;

/// A borrowed, packed 8-bit RGB image whose rows are `stride_bytes` apart.
#[derive(Clone, Copy)]
pub struct RgbView<'a> {
    width: u32,
    height: u32,
    stride_bytes: usize,
    data: &'a [u8],
}

/// Why a buffer cannot be viewed as an RGB image.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ViewError {
    #[error("image has zero size ({width}x{height})")]
    Empty { width: u32, height: u32 },
    #[error("stride {stride_bytes} bytes is shorter than a row of {width} RGB pixels")]
    StrideTooShort { width: u32, stride_bytes: usize },
    #[error("buffer of {len} bytes is too short for {width}x{height} with stride {stride_bytes}")]
    BufferTooShort { width: u32, height: u32, stride_bytes: usize, len: usize },
}

impl<'a> RgbView<'a> {
    /// Views `data` as `width` x `height` RGB pixels with rows `stride_bytes` apart.
    pub fn new(width: u32, height: u32, stride_bytes: usize, data: &'a [u8]) -> Result<Self, ViewError> {
        if width == 0 || height == 0 {
            return Err(ViewError::Empty { width, height });
        }
        let row = width as usize * 3;
        if stride_bytes < row {
            return Err(ViewError::StrideTooShort { width, stride_bytes });
        }
        // The last row need not be padded.
        let needed = stride_bytes * (height as usize - 1) + row;
        if data.len() < needed {
            return Err(ViewError::BufferTooShort { width, height, stride_bytes, len: data.len() });
        }
        Ok(Self { width, height, stride_bytes, data })
    }

    /// Views a tightly packed buffer (`stride = width * 3`).
    pub fn packed(width: u32, height: u32, data: &'a [u8]) -> Result<Self, ViewError> {
        Self::new(width, height, width as usize * 3, data)
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    pub fn stride_bytes(&self) -> usize {
        self.stride_bytes
    }

    /// The pixels of row `y`, without padding. Panics if `y >= height`.
    #[inline]
    pub fn row(&self, y: u32) -> &'a [u8] {
        let start = y as usize * self.stride_bytes;
        &self.data[start..start + self.width as usize * 3]
    }

    /// The part of the image inside `r` (limited to the image), sharing its pixels: no copy.
    /// `None` when `r` lies outside the image.
    pub fn crop(&self, r: crate::geom::PixelRect) -> Option<RgbView<'a>> {
        let r = r.intersect(&crate::geom::PixelRect::full(self.width, self.height))?;
        let start = r.y as usize * self.stride_bytes + r.x as usize * 3;
        RgbView::new(r.width, r.height, self.stride_bytes, &self.data[start..]).ok()
    }

    /// The pixel at (`x`, `y`). Panics when out of bounds.
    #[inline]
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let r = self.row(y);
        let i = x as usize * 3;
        [r[i], r[i + 1], r[i + 2]]
    }
}

impl std::fmt::Debug for RgbView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RgbView")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("stride_bytes", &self.stride_bytes)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_read_through_the_stride() {
        // 2x2 image, rows padded to 8 bytes; the last row is not padded.
        let data = [1, 2, 3, 4, 5, 6, 0, 0, 7, 8, 9, 10, 11, 12];
        let v = RgbView::new(2, 2, 8, &data).unwrap();
        assert_eq!(v.row(1), &[7, 8, 9, 10, 11, 12]);
        assert_eq!(v.pixel(1, 0), [4, 5, 6]);
    }

    #[test]
    fn a_crop_shares_the_pixels_and_keeps_the_stride() {
        use crate::geom::PixelRect;
        // 3x3, rows padded to 12 bytes; pixel (x, y) holds [10y + x; 3].
        let mut data = vec![0u8; 12 * 3];
        for y in 0..3 {
            for x in 0..3 {
                data[y * 12 + x * 3..][..3].fill((10 * y + x) as u8);
            }
        }
        let v = RgbView::new(3, 3, 12, &data).unwrap();
        let c = v.crop(PixelRect { x: 1, y: 1, width: 5, height: 5 }).unwrap();
        assert_eq!((c.width(), c.height(), c.stride_bytes()), (2, 2, 12));
        assert_eq!((c.pixel(0, 0), c.pixel(1, 1)), ([11; 3], [22; 3]));
        assert!(v.crop(PixelRect { x: 3, y: 0, width: 1, height: 1 }).is_none());
    }

    #[test]
    fn short_buffers_and_strides_are_refused() {
        assert_eq!(
            RgbView::new(2, 2, 5, &[0; 20]).unwrap_err(),
            ViewError::StrideTooShort { width: 2, stride_bytes: 5 }
        );
        assert!(matches!(RgbView::new(2, 2, 8, &[0; 13]), Err(ViewError::BufferTooShort { .. })));
        assert!(matches!(RgbView::packed(0, 2, &[]), Err(ViewError::Empty { .. })));
    }
}
