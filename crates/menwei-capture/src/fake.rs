//! A frame source for tests of whatever consumes frames: the test decides every frame.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use menwei_core::frame::Frame;
use menwei_core::handoff::Latest;

use crate::{CameraState, CameraStats, FrameSource};

/// Frames come from [`FakeSource::push_rgb`]; nothing runs in the background.
#[derive(Debug)]
pub struct FakeSource {
    id: Arc<str>,
    frames: Arc<Latest<Frame>>,
    stats: Arc<CameraStats>,
    seq: std::sync::atomic::AtomicU64,
}

impl FakeSource {
    pub fn new(id: &str) -> Self {
        let stats = Arc::new(CameraStats::default());
        stats.set_state(&CameraState::Streaming);
        Self { id: id.into(), frames: Arc::new(Latest::new()), stats, seq: Default::default() }
    }

    /// Delivers a packed RGB frame (stride `width * 3`), as a camera would.
    pub fn push_rgb(&self, width: u32, height: u32, rgb: Vec<u8>) {
        let seq = self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.frames.put(Frame {
            camera_id: self.id.clone(),
            seq,
            pts_ns: Some(seq * 40_000_000),
            arrived: Instant::now(),
            arrived_wall: SystemTime::now(),
            sender_ns: None,
            width,
            height,
            stride_bytes: width as usize * 3,
            data: Box::new(rgb),
            full: None,
        });
    }

    /// Reports a state change, as a camera would.
    pub fn set_state(&self, s: &CameraState) {
        self.stats.set_state(s);
    }

    /// Ends the source: the consumer sees a closed slot.
    pub fn end(&self) {
        self.stats.set_state(&CameraState::Ended);
        self.frames.close();
    }
}

impl FrameSource for FakeSource {
    fn id(&self) -> &Arc<str> {
        &self.id
    }
    fn frames(&self) -> &Arc<Latest<Frame>> {
        &self.frames
    }
    fn stats(&self) -> &Arc<CameraStats> {
        &self.stats
    }
    fn request_stop(&self) {
        self.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use menwei_core::metrics::MetricsText;

    #[test]
    fn fake_frames_and_metrics_flow_like_a_camera() {
        let f = FakeSource::new("gate-1");
        f.push_rgb(2, 1, vec![0; 6]);
        f.push_rgb(2, 1, vec![255; 6]);
        let frame = f.frames().try_take().unwrap();
        assert_eq!((frame.seq, frame.view().unwrap().pixel(1, 0)), (1, [255, 255, 255]));
        let mut m = MetricsText::new();
        crate::write_metrics(&[&f], &mut m);
        let text = m.finish();
        for line in [
            "menwei_capture_frames_received_total{camera=\"gate-1\"} 2",
            "menwei_capture_frames_delivered_total{camera=\"gate-1\"} 1",
            "menwei_capture_frames_dropped_total{camera=\"gate-1\"} 1",
            "menwei_capture_state{camera=\"gate-1\",state=\"streaming\"} 1",
            "menwei_capture_state{camera=\"gate-1\",state=\"stalled\"} 0",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
        f.end();
        assert!(f.frames().is_closed());
    }
}
