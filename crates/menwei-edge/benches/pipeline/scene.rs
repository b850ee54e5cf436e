//! The gate clip: the demo crate's benchmark scene ([`menwei_demo::BenchScene`], ten passages)
//! laid out and encoded by [`menwei_demo::ClipPlan`], with what the runs should recognise.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use menwei_demo::{BenchScene, ClipPlan, EmptyGate, Known, Passage};
use serde_json::{Value, json};

pub const W: u32 = 1280;
pub const H: u32 = 720;
pub const FPS: u32 = 10;
/// The detect sub-stream's size in the `sub_main` run.
pub const SUB_W: u32 = 640;
pub const SUB_H: u32 = 360;
pub const KEY_INT: u32 = 10;
/// Seconds a picture is shown, then seconds of empty gate after it; the clip starts with
/// `IDLE_S` seconds of empty gate (long enough for a camera to count as idle).
pub const SHOW_S: u32 = 2;
pub const EMPTY_S: u32 = 2;
pub const IDLE_S: u32 = 10;

/// The clip's layout: the empty gate plain grey, as the pictures' letterbox.
const PLAN: ClipPlan = ClipPlan {
    width: W,
    height: H,
    fps: FPS,
    key_int: KEY_INT,
    lead_in_secs: IDLE_S,
    show_secs: SHOW_S,
    gap_secs: EMPTY_S,
    empty: EmptyGate::Grey,
};

pub struct Clip {
    pub file: PathBuf,
    /// The same clip at 640x360: a camera's detect sub-stream.
    pub sub_file: PathBuf,
    /// Frame index -> canvas index (0: the empty gate, k: passage k-1).
    pub frames: Vec<usize>,
    pub canvases: Vec<image::RgbImage>,
    pub passages: Vec<Passage>,
    /// Plates in the register.
    pub registered: Vec<String>,
    /// The resident in the register, and the photo (not in the clip) to enrol.
    pub resident: String,
    pub resident_photo: PathBuf,
    pub with_plates: bool,
}

/// What the stand-in's key for an event should be: `r:<resident>` or `p:<plate>`.
fn key(known: &Known) -> String {
    match known {
        Known::Resident(r) => format!("r:{r}"),
        Known::Plate(p) => format!("p:{p}"),
    }
}

impl Clip {
    /// The scene of the checkout at `root`, encoded into `dir/gate.mp4`.
    pub fn build(root: &Path, dir: &Path) -> Clip {
        let scene = BenchScene::new(root);
        if !scene.with_plates {
            println!("NOTE: ../shared/data is absent: the clip has faces only");
        }
        let made = PLAN.build(dir, &scene.pictures()).unwrap_or_else(|e| panic!("cannot make the gate clip: {e:#}"));
        let sub_dir = dir.join("sub");
        std::fs::create_dir_all(&sub_dir).unwrap();
        let sub = ClipPlan { width: SUB_W, height: SUB_H, ..PLAN }
            .build(&sub_dir, &scene.pictures())
            .unwrap_or_else(|e| panic!("cannot make the sub-stream clip: {e:#}"));
        Clip {
            file: made.file,
            sub_file: sub.file,
            frames: made.frames,
            canvases: made.canvases,
            passages: scene.passages,
            registered: scene.registered_plates,
            resident: scene.resident,
            resident_photo: scene.resident_photo,
            with_plates: scene.with_plates,
        }
    }

    /// What should come of the clip: `r:<resident>` and `p:<plate>` keys (strangers have none).
    pub fn expected(&self) -> BTreeSet<String> {
        self.passages.iter().filter_map(|p| p.known.as_ref().map(key)).collect()
    }

    /// Prints what the clip is, and returns it for the report.
    pub fn describe(&self) -> Value {
        println!(
            "{:>22}: H.264 (x264 ultrafast, no B-frames), {W}x{H}, {FPS} fps, keyframe every {KEY_INT} frames, {} frames ({} s): \
             {IDLE_S} s of empty gate, then {} passages of {SHOW_S} s each followed by {EMPTY_S} s of empty gate \
             (someone or something in view {} s)",
            "clip",
            self.frames.len(),
            self.frames.len() as u32 / FPS,
            self.passages.len(),
            self.passages.len() as u32 * SHOW_S
        );
        json!({"codec": "H.264", "width": W, "height": H, "fps": FPS, "keyframe_interval": KEY_INT,
               "frames": self.frames.len(), "passages": self.passages.iter().map(|p| &p.label).collect::<Vec<_>>()})
    }
}
