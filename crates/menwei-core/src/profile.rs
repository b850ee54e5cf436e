//! Per-stage CPU accounting for the benchmark harness.
//!
//! Off by default: a span then costs one relaxed atomic load. Once [`enable`]d, each stage
//! boundary reads the thread's CPU clock and charges the time since the previous boundary to
//! the stage that was running, so nested spans are exclusive: a model run inside a frame's
//! analysis is charged to the model, not also to the analysis around it. Each thread keeps its
//! own accumulators; [`take`] returns and resets the calling thread's.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

static ENABLED: AtomicBool = AtomicBool::new(false);

/// What a thread's CPU time is spent on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Time outside any span.
    Other,
    /// Motion and tamper gates on the analysis frame.
    Gates,
    /// Resizing, warping and normalising pictures into model tensors.
    Preprocess,
    FaceDetector,
    Embedder,
    PlateDetector,
    /// The plate readers, in the order `Lpr` holds them (clp_rec, ppocr_v4_rec).
    PlateReader1,
    PlateReader2,
    /// Decoding model outputs (anchors, NMS, beam search, fusion), quality, and the glue of a
    /// frame's analysis: whatever no narrower stage claims.
    Postprocess,
    Tracking,
    Matching,
    OutboxCommit,
    Publish,
}

pub const STAGES: usize = 13;

impl Stage {
    pub const ALL: [Stage; STAGES] = [
        Stage::Other,
        Stage::Gates,
        Stage::Preprocess,
        Stage::FaceDetector,
        Stage::Embedder,
        Stage::PlateDetector,
        Stage::PlateReader1,
        Stage::PlateReader2,
        Stage::Postprocess,
        Stage::Tracking,
        Stage::Matching,
        Stage::OutboxCommit,
        Stage::Publish,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Other => "other",
            Stage::Gates => "motion_and_tamper",
            Stage::Preprocess => "preprocess",
            Stage::FaceDetector => "face_detector",
            Stage::Embedder => "embedder",
            Stage::PlateDetector => "plate_detector",
            Stage::PlateReader1 => "plate_reader_1",
            Stage::PlateReader2 => "plate_reader_2",
            Stage::Postprocess => "postprocess",
            Stage::Tracking => "tracking",
            Stage::Matching => "matching",
            Stage::OutboxCommit => "outbox_commit",
            Stage::Publish => "publish",
        }
    }
}

/// Nanoseconds of CPU per stage, indexed like [`Stage::ALL`].
pub type StageNs = [u64; STAGES];

thread_local! {
    static ACC: Cell<StageNs> = const { Cell::new([0; STAGES]) };
    /// The running stage and the thread CPU time at which it was last charged.
    static CURRENT: Cell<(Stage, u64)> = const { Cell::new((Stage::Other, 0)) };
}

/// Turns accounting on for the whole process. There is no way back: a benchmark run enables
/// it once at start.
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// This thread's CPU time in nanoseconds (0 where the clock cannot be read).
pub fn thread_cpu_ns() -> u64 {
    cpu_time::ThreadTime::try_now().map_or(0, |t| t.as_duration().as_nanos() as u64)
}

fn switch(to: Stage) -> Stage {
    let now = thread_cpu_ns();
    let (cur, since) = CURRENT.get();
    ACC.with(|a| {
        let mut v = a.get();
        v[cur as usize] += now.saturating_sub(since);
        a.set(v);
    });
    CURRENT.set((to, now));
    cur
}

/// Charges this thread's CPU time to `stage` until the span is dropped, then goes back to the
/// stage that ran before.
#[must_use = "the stage lasts as long as the span"]
#[derive(Debug)]
pub struct Span {
    back_to: Option<Stage>,
}

pub fn enter(stage: Stage) -> Span {
    if !enabled() {
        return Span { back_to: None };
    }
    Span { back_to: Some(switch(stage)) }
}

impl Drop for Span {
    fn drop(&mut self) {
        if let Some(prev) = self.back_to {
            switch(prev);
        }
    }
}

/// This thread's accumulated CPU time per stage since the last `take`, charged up to now;
/// zeros when accounting is off.
pub fn take() -> StageNs {
    if !enabled() {
        return [0; STAGES];
    }
    let cur = CURRENT.get().0;
    switch(cur);
    ACC.with(|a| a.replace([0; STAGES]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spin(ms: u64) {
        let start = thread_cpu_ns();
        let mut x = 0u64;
        while thread_cpu_ns() - start < ms * 1_000_000 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
    }

    #[test]
    fn nested_spans_are_charged_exclusively_and_take_resets() {
        // Accounting is per thread, so this test's thread is not disturbed by others.
        enable();
        take();
        {
            let _outer = enter(Stage::Postprocess);
            spin(3);
            {
                let _inner = enter(Stage::FaceDetector);
                spin(6);
            }
            spin(3);
        }
        let t = take();
        let ms = |s: Stage| t[s as usize] as f64 / 1e6;
        assert!(ms(Stage::FaceDetector) >= 6.0, "{t:?}");
        assert!((6.0..12.0).contains(&ms(Stage::Postprocess)), "the model run is not also charged around it: {t:?}");
        assert!(ms(Stage::Other) < 3.0, "{t:?}");
        assert_eq!(take()[Stage::FaceDetector as usize], 0);
        for (i, s) in Stage::ALL.iter().enumerate() {
            assert_eq!(*s as usize, i);
        }
    }
}
