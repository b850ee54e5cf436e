//! Clips in which each photo drives up to the gate: it comes in from the side, small, and grows
//! as it moves to the middle, so one passage shows its plate at several sizes. `eval video` is
//! tested on such a clip; [`ClipPlan`](crate::ClipPlan)'s clips hold each photo still.

use std::path::{Path, PathBuf};

use image::RgbImage;

/// How a moving clip is laid out: `lead_in_secs` of empty gate, then for each photo
/// `approach_secs` of it moving in and `gap_secs` of empty gate after it, at `fps`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Approach {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub lead_in_secs: f32,
    pub approach_secs: f32,
    pub gap_secs: f32,
    /// The photo's size at the start of its approach, as a share of its size at the end (where
    /// it fills the frame's height or width).
    pub start_scale: f32,
}

/// A moving clip, and when each photo first shows in it.
#[derive(Clone, Debug)]
pub struct MovingClip {
    pub file: PathBuf,
    pub first_shown_s: Vec<f64>,
    pub secs: u32,
}

impl Approach {
    /// 1280x720 at 5 frames/s: 1 s of empty gate, each photo 4 s from half size at the left
    /// edge to full size in the middle, then 2 s of empty gate.
    pub fn gate() -> Approach {
        Approach {
            width: 1280,
            height: 720,
            fps: 5,
            lead_in_secs: 1.0,
            approach_secs: 4.0,
            gap_secs: 2.0,
            start_scale: 0.5,
        }
    }

    /// The frame `k` of `n` of a photo's approach: `photo` scaled and placed on the empty gate.
    fn frame(&self, empty: &RgbImage, photo: &RgbImage, k: usize, n: usize) -> RgbImage {
        let t = if n > 1 { k as f32 / (n - 1) as f32 } else { 1.0 };
        let fit = (self.width as f32 / photo.width() as f32).min(self.height as f32 / photo.height() as f32);
        let scale = fit * (self.start_scale + (1.0 - self.start_scale) * t);
        let (w, h) = (((photo.width() as f32 * scale) as u32).max(1), ((photo.height() as f32 * scale) as u32).max(1));
        let small = image::imageops::resize(photo, w, h, image::imageops::FilterType::Triangle);
        // From its left edge at the frame's left edge to centred; bottoms aligned, as a car on
        // the ground comes closer.
        let centred = (self.width as f32 - w as f32) / 2.0;
        let x = (centred * t) as i64;
        let y = i64::from(self.height.saturating_sub(h));
        let mut canvas = empty.clone();
        image::imageops::overlay(&mut canvas, &small, x, y);
        canvas
    }

    /// Builds the clip of `pictures` in `dir` (`dir/gate.mp4`, H.264 with a keyframe a second).
    pub fn build(&self, dir: &Path, pictures: &[PathBuf]) -> anyhow::Result<MovingClip> {
        use anyhow::Context;
        let empty = crate::empty_gate(self.width, self.height);
        let frames_of = |secs: f32| (secs * self.fps as f32).round() as usize;
        let mut canvases = vec![empty.clone()];
        let mut frames = vec![0; frames_of(self.lead_in_secs)];
        let mut first_shown_s = Vec::new();
        for p in pictures {
            let photo = image::open(p).with_context(|| format!("cannot read {}", p.display()))?.to_rgb8();
            first_shown_s.push(frames.len() as f64 / f64::from(self.fps));
            let n = frames_of(self.approach_secs);
            for k in 0..n {
                frames.push(canvases.len());
                canvases.push(self.frame(&empty, &photo, k, n));
            }
            frames.extend(std::iter::repeat_n(0, frames_of(self.gap_secs)));
        }
        let plan = crate::ClipPlan {
            width: self.width,
            height: self.height,
            fps: self.fps,
            key_int: self.fps,
            lead_in_secs: 0,
            show_secs: 0,
            gap_secs: 0,
            empty: crate::EmptyGate::Driveway,
        };
        let file = plan.encode(dir, &canvases, &frames)?;
        let secs = (frames.len() as u32).div_ceil(self.fps);
        Ok(MovingClip { file, first_shown_s, secs })
    }
}
