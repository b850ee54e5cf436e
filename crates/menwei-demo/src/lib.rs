//! The demo's gate: which pictures pass the camera, and the clip made of them.
//!
//! A library so that the demo, the end-to-end gate test and the pipeline benchmark show the
//! same scene. The clip is encoded by `gst-launch-1.0` (installed by set-up) in a child
//! process: GStreamer is linked by menwei-capture alone.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub mod plates;

/// What passes the gate, in order, and what the register should make of it.
#[derive(Clone, Debug)]
pub struct Scene {
    pub pictures: Vec<PathBuf>,
    /// The registered resident's enrolment photo (another photo of the person in the clip).
    pub resident_photo: PathBuf,
    /// The registered car's plate.
    pub registered_plate: String,
    /// The unregistered car's plate.
    pub unknown_plate: String,
    /// Where the plate pictures came from, in words.
    pub plates_from: String,
}

/// The plates of the two cars: real photos from `shared/data/plates/easypr_gdts` (not shipped
/// to outside users), or pictures drawn by [`plates::ensure`] into `var/demo-plates`.
pub const REGISTERED: &str = "川A019W2";
pub const UNKNOWN: &str = "川AKQ291";

/// Where the project's internal plate photos are, when this checkout has them beside it.
pub fn shared_plates(root: &Path) -> Option<PathBuf> {
    let real = root.join("../shared/data/plates/easypr_gdts");
    real.join(format!("{REGISTERED}.jpg")).is_file().then_some(real)
}

impl Scene {
    /// A resident (Obama, enrolled from another photo), a stranger (Biden) who comes by three
    /// times, a registered car and an unknown one. `root` is the checkout. Without the real
    /// plate photos, the two plates are drawn (once) into `var/demo-plates`; that fails only
    /// when the machine has no Chinese font, with the package to install.
    pub fn gate(root: &Path) -> anyhow::Result<Scene> {
        let media = |n: &str| root.join("var/media").join(n);
        let ((known, unknown), plates_from) = match shared_plates(root) {
            Some(real) => (
                (real.join(format!("{REGISTERED}.jpg")), real.join(format!("{UNKNOWN}.jpg"))),
                "real photos (../shared/data)",
            ),
            None => {
                let drawn = plates::ensure(&root.join("var/demo-plates"), &[REGISTERED, UNKNOWN])?;
                ((drawn[0].clone(), drawn[1].clone()), "drawn plates (var/demo-plates; no ../shared/data here)")
            }
        };
        let pictures =
            vec![media("obama2.jpg"), media("biden.jpg"), known, media("biden.jpg"), unknown, media("biden.jpg")];
        Ok(Scene {
            pictures,
            resident_photo: media("obama.jpg"),
            registered_plate: REGISTERED.to_owned(),
            unknown_plate: UNKNOWN.to_owned(),
            plates_from: plates_from.to_owned(),
        })
    }
}

/// An event the demo's clip must produce, as `menwei-demo --once` checks it.
#[derive(Clone, Debug)]
pub struct Expected {
    /// What an operator reads in the summary.
    pub label: String,
    kind: &'static str,
    subject: Subject,
}

#[derive(Clone, Debug)]
enum Subject {
    Resident(String),
    Plate(String),
    Stranger,
}

impl Expected {
    /// Whether the event payload `v` (as published; docs/ref/events.md) is this one.
    pub fn matches(&self, v: &serde_json::Value) -> bool {
        let s = &v["subject"];
        v["kind"] == self.kind
            && match &self.subject {
                Subject::Resident(r) => s["type"] == "resident" && s["resident_ref"] == r.as_str(),
                Subject::Plate(p) => s["type"] == "vehicle" && s["plate"] == p.as_str(),
                Subject::Stranger => s["type"] == "unknown_face",
            }
    }
}

impl Scene {
    /// The events one pass of the gate clip must produce: the resident granted, the registered
    /// car granted, the unknown car denied, and the stranger reported on the third visit.
    pub fn expected(&self) -> Vec<Expected> {
        let e = |label: String, kind, subject| Expected { label, kind, subject };
        vec![
            e("resident r-obama granted (face)".into(), "access.granted", Subject::Resident("r-obama".into())),
            e(
                format!("registered car {} granted", self.registered_plate),
                "access.granted",
                Subject::Plate(self.registered_plate.clone()),
            ),
            e(
                format!("unknown car {} denied", self.unknown_plate),
                "access.denied",
                Subject::Plate(self.unknown_plate.clone()),
            ),
            e("repeat stranger reported".into(), "security.repeat_stranger", Subject::Stranger),
        ]
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
    fn the_scene_has_a_resident_a_stranger_three_times_and_two_cars() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let s = Scene::gate(&root).unwrap();
        let biden = s.pictures.iter().filter(|p| p.ends_with("biden.jpg")).count();
        assert_eq!(biden, 3);
        assert_eq!(s.pictures.len(), 6);
        assert!(s.pictures.iter().all(|p| p.is_file()), "{:?}", s.pictures);
        assert!(s.resident_photo.ends_with("obama.jpg"));
    }

    #[test]
    fn expected_events_match_by_kind_and_subject() {
        let s = Scene {
            pictures: Vec::new(),
            resident_photo: PathBuf::new(),
            registered_plate: REGISTERED.into(),
            unknown_plate: UNKNOWN.into(),
            plates_from: String::new(),
        };
        let ev = |kind: &str, subject: serde_json::Value| serde_json::json!({"kind": kind, "subject": subject});
        let granted_car = ev("access.granted", serde_json::json!({"type": "vehicle", "plate": REGISTERED}));
        let denied_car = ev("access.denied", serde_json::json!({"type": "vehicle", "plate": UNKNOWN}));
        let resident = ev("access.granted", serde_json::json!({"type": "resident", "resident_ref": "r-obama"}));
        let stranger = ev("security.repeat_stranger", serde_json::json!({"type": "unknown_face"}));
        let e = s.expected();
        let hits =
            |v: &serde_json::Value| e.iter().filter(|x| x.matches(v)).map(|x| x.label.clone()).collect::<Vec<_>>();
        assert_eq!(hits(&resident), ["resident r-obama granted (face)"]);
        assert_eq!(hits(&granted_car), [format!("registered car {REGISTERED} granted")]);
        assert_eq!(hits(&denied_car), [format!("unknown car {UNKNOWN} denied")]);
        assert_eq!(hits(&stranger), ["repeat stranger reported"]);
        // The registered car denied, or the unknown one granted, is not what the clip expects.
        assert!(hits(&ev("access.denied", serde_json::json!({"type": "vehicle", "plate": REGISTERED}))).is_empty());
        assert!(hits(&ev("access.granted", serde_json::json!({"type": "vehicle", "plate": UNKNOWN}))).is_empty());
    }
}
