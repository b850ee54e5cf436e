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
    pub width: u32,
    pub height: u32,
    pub stride_bytes: usize,
    pub data: FrameData,
}

impl Frame {
    /// The pixels as a strided RGB view.
    pub fn view(&self) -> Result<RgbView<'_>, ViewError> {
        RgbView::new(self.width, self.height, self.stride_bytes, (*self.data).as_ref())
    }
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
            .finish_non_exhaustive()
    }
}
