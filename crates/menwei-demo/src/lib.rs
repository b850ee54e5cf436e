//! The demo's gate: which pictures pass the camera, and the clip made of them.
//!
//! A library so that the demo, the end-to-end gate test and the pipeline benchmark show the
//! same scene. The clip is encoded by `gst-launch-1.0` (installed by set-up) in a child
//! process: GStreamer is linked by menwei-capture alone.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What passes the gate, in order, and what the register should make of it.
#[derive(Clone, Debug)]
pub struct Scene {
    pub pictures: Vec<PathBuf>,
    /// The registered resident's enrolment photo (another photo of the person in the clip).
    pub resident_photo: PathBuf,
    /// The registered car's plate, when the scene has cars.
    pub registered_plate: Option<String>,
    /// The unregistered car's plate.
    pub unknown_plate: Option<String>,
    /// Where the plate pictures came from, in words.
    pub plates_from: String,
}

/// The plates of the two cars: real photos from `shared/data/plates/easypr_gdts` (not shipped
/// to outside users), or the pictures `scripts/render_plates.py` draws at set-up.
pub const REGISTERED: &str = "川A019W2";
pub const UNKNOWN: &str = "川AKQ291";

impl Scene {
    /// A resident (Obama, enrolled from another photo), a stranger (Biden) who comes by three
    /// times, a registered car and an unknown one. `root` is the checkout.
    pub fn gate(root: &Path) -> Scene {
        let media = |n: &str| root.join("var/media").join(n);
        let real = root.join("../shared/data/plates/easypr_gdts");
        let rendered = root.join("var/demo-plates");
        let (plates, plates_from) = if real.join(format!("{REGISTERED}.jpg")).is_file() {
            (
                Some((real.join(format!("{REGISTERED}.jpg")), real.join(format!("{UNKNOWN}.jpg")))),
                "real photos (../shared/data)",
            )
        } else if rendered.join(format!("{REGISTERED}.png")).is_file() {
            (
                Some((rendered.join(format!("{REGISTERED}.png")), rendered.join(format!("{UNKNOWN}.png")))),
                "plates rendered at set-up (var/demo-plates)",
            )
        } else {
            (None, "none (no plate pictures: run scripts/setup)")
        };
        let mut pictures = vec![media("obama2.jpg"), media("biden.jpg")];
        if let Some((known, _)) = &plates {
            pictures.push(known.clone());
        }
        pictures.push(media("biden.jpg"));
        if let Some((_, unknown)) = &plates {
            pictures.push(unknown.clone());
        }
        pictures.push(media("biden.jpg"));
        Scene {
            pictures,
            resident_photo: media("obama.jpg"),
            registered_plate: plates.as_ref().map(|_| REGISTERED.to_owned()),
            unknown_plate: plates.as_ref().map(|_| UNKNOWN.to_owned()),
            plates_from: plates_from.to_owned(),
        }
    }
}

/// A 1280x720 H.264 MP4 at `fps`: `lead_in_secs` of empty gate (grey), then each picture for
/// `secs` seconds, letterboxed on grey, with a keyframe every `key_int` frames.
pub fn gate_clip(
    dir: &Path,
    pictures: &[PathBuf],
    lead_in_secs: u32,
    secs: u32,
    fps: u32,
    key_int: u32,
) -> anyhow::Result<PathBuf> {
    use anyhow::Context;
    let (width, height) = (1280u32, 720u32);
    let frames = dir.join("frames");
    std::fs::create_dir_all(&frames)?;
    let mut n = 0;
    let empty = empty_gate(width, height);
    for _ in 0..lead_in_secs * fps {
        empty.save(frames.join(format!("f{n:04}.jpg")))?;
        n += 1;
    }
    for p in pictures {
        let img = image::open(p).with_context(|| format!("cannot read {}", p.display()))?.to_rgb8();
        let scale = (width as f32 / img.width() as f32).min(height as f32 / img.height() as f32);
        let (w, h) = ((img.width() as f32 * scale) as u32, (img.height() as f32 * scale) as u32);
        let small = image::imageops::resize(&img, w, h, image::imageops::FilterType::Triangle);
        let mut canvas = image::RgbImage::from_pixel(width, height, image::Rgb([40, 40, 40]));
        image::imageops::overlay(&mut canvas, &small, i64::from((width - w) / 2), i64::from((height - h) / 2));
        for _ in 0..secs * fps {
            canvas.save(frames.join(format!("f{n:04}.jpg")))?;
            n += 1;
        }
    }
    let out = dir.join("gate.mp4");
    let pipeline = format!(
        "multifilesrc location={}/f%04d.jpg index=0 caps=image/jpeg,framerate={fps}/1 ! jpegdec ! videoconvert \
         ! x264enc key-int-max={key_int} bframes=0 speed-preset=ultrafast ! h264parse ! mp4mux ! filesink location={}",
        frames.display(),
        out.display()
    );
    let ok = Command::new("gst-launch-1.0")
        .arg("-q")
        .args(pipeline.split_whitespace())
        .stdout(Stdio::null())
        .status()
        .context("gst-launch-1.0 (scripts/setup installs it)")?
        .success();
    anyhow::ensure!(ok, "gst-launch-1.0 could not encode the gate clip");
    let _ = std::fs::remove_dir_all(&frames);
    Ok(out)
}

/// The gate with nobody in it: a driveway with lane marks under a wall and two gate posts. It
/// has texture, so the edge's tamper check does not take the lead-in for a covered lens.
pub fn empty_gate(width: u32, height: u32) -> image::RgbImage {
    image::RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (x as f32 / width as f32, y as f32 / height as f32);
        let post = (0.18..0.24).contains(&fx) || (0.76..0.82).contains(&fx);
        let lane = fy > 0.55 && ((fx - 0.5).abs() < 0.006 + 0.01 * fy) && (y / 24) % 2 == 0;
        let v = if post && fy < 0.75 {
            150 - (fy * 60.0) as u8
        } else if fy < 0.45 {
            // A brick wall.
            let row = y / 18;
            let brick = (x + if row % 2 == 0 { 0 } else { 20 }) % 40 < 38 && y % 18 < 16;
            if brick { 120 + ((x * 7 + y * 13) % 17) as u8 } else { 90 }
        } else if lane {
            220
        } else {
            70 + ((x * 31 + y * 17) % 23) as u8 + (fy * 30.0) as u8
        };
        image::Rgb([v, v, v.saturating_sub(8)])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scene_has_a_resident_a_stranger_three_times_and_two_cars_when_plates_exist() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let s = Scene::gate(&root);
        let biden = s.pictures.iter().filter(|p| p.ends_with("biden.jpg")).count();
        assert_eq!(biden, 3);
        assert_eq!(s.pictures.len(), if s.registered_plate.is_some() { 6 } else { 4 });
        assert!(s.resident_photo.ends_with("obama.jpg"));
    }
}
