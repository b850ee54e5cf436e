//! The demo's gate: which pictures pass the camera, and the clip made of them.
//!
//! A library so that the demo, the end-to-end gate test and the pipeline benchmark show the
//! same scene. The clip is encoded by `gst-launch-1.0` (installed by set-up) in a child
//! process: GStreamer is linked by menwei-capture alone.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub mod moving;
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

/// A 1280x720 H.264 MP4 at `fps`: `lead_in_secs` of empty gate (the driveway of
/// [`empty_gate`]), then each picture for `secs` seconds, letterboxed on grey, with a keyframe
/// every `key_int` frames. [`ClipPlan::gate`] with [`ClipPlan::build`].
pub fn gate_clip(
    dir: &Path,
    pictures: &[PathBuf],
    lead_in_secs: u32,
    secs: u32,
    fps: u32,
    key_int: u32,
) -> anyhow::Result<PathBuf> {
    Ok(ClipPlan::gate(lead_in_secs, secs, fps, key_int).build(dir, pictures)?.file)
}

/// What the gate shows while nobody passes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmptyGate {
    /// The driveway of [`empty_gate`] (textured, so the tamper check does not see a covered lens).
    Driveway,
    /// Plain grey, the colour the pictures are letterboxed on.
    Grey,
}

/// How a gate clip is laid out in time and encoded: `lead_in_secs` of empty gate, then each
/// picture for `show_secs`, each followed by `gap_secs` of empty gate; H.264 (x264 ultrafast,
/// no B-frames) at `fps` with a keyframe every `key_int` frames, in an MP4.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClipPlan {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub key_int: u32,
    pub lead_in_secs: u32,
    pub show_secs: u32,
    pub gap_secs: u32,
    pub empty: EmptyGate,
}

/// A gate clip and what it is made of.
#[derive(Clone, Debug)]
pub struct GateClip {
    /// The MP4.
    pub file: PathBuf,
    /// The distinct pictures: the empty gate first, then each picture letterboxed.
    pub canvases: Vec<image::RgbImage>,
    /// Per frame of the clip, the index of its canvas.
    pub frames: Vec<usize>,
}

/// The grey the pictures are letterboxed on (and [`EmptyGate::Grey`]).
const GREY: image::Rgb<u8> = image::Rgb([40, 40, 40]);

impl ClipPlan {
    /// [`gate_clip`]'s layout: 1280x720, the driveway as the empty gate, no gap between pictures.
    pub fn gate(lead_in_secs: u32, secs: u32, fps: u32, key_int: u32) -> ClipPlan {
        ClipPlan {
            width: 1280,
            height: 720,
            fps,
            key_int,
            lead_in_secs,
            show_secs: secs,
            gap_secs: 0,
            empty: EmptyGate::Driveway,
        }
    }

    /// The clip's distinct pictures: the empty gate, then each of `pictures` scaled to fit
    /// (triangle filter) and centred on grey.
    pub fn canvases(&self, pictures: &[PathBuf]) -> anyhow::Result<Vec<image::RgbImage>> {
        use anyhow::Context;
        let (width, height) = (self.width, self.height);
        let empty = match self.empty {
            EmptyGate::Driveway => empty_gate(width, height),
            EmptyGate::Grey => image::RgbImage::from_pixel(width, height, GREY),
        };
        let mut canvases = vec![empty];
        for p in pictures {
            let img = image::open(p).with_context(|| format!("cannot read {}", p.display()))?.to_rgb8();
            let scale = (width as f32 / img.width() as f32).min(height as f32 / img.height() as f32);
            let (w, h) = ((img.width() as f32 * scale) as u32, (img.height() as f32 * scale) as u32);
            let small = image::imageops::resize(&img, w, h, image::imageops::FilterType::Triangle);
            let mut canvas = image::RgbImage::from_pixel(width, height, GREY);
            image::imageops::overlay(&mut canvas, &small, i64::from((width - w) / 2), i64::from((height - h) / 2));
            canvases.push(canvas);
        }
        Ok(canvases)
    }

    /// Per frame of a clip of `pictures` pictures, the index of its canvas (0: the empty gate,
    /// k: picture k-1).
    pub fn frames(&self, pictures: usize) -> Vec<usize> {
        let fps = self.fps as usize;
        let mut frames = vec![0; self.lead_in_secs as usize * fps];
        for k in 1..=pictures {
            frames.extend(std::iter::repeat_n(k, self.show_secs as usize * fps));
            frames.extend(std::iter::repeat_n(0, self.gap_secs as usize * fps));
        }
        frames
    }

    /// Encodes `frames` (canvas indices) of `canvases` into `dir/gate.mp4` with `gst-launch-1.0`.
    /// Each canvas is written once as a JPEG under `dir/frames`, each frame is a link to it, and
    /// `dir/frames` is removed once the clip is made.
    pub fn encode(&self, dir: &Path, canvases: &[image::RgbImage], frames: &[usize]) -> anyhow::Result<PathBuf> {
        use anyhow::Context;
        let seq = dir.join("frames");
        let _ = std::fs::remove_dir_all(&seq);
        std::fs::create_dir_all(&seq)?;
        for (k, c) in canvases.iter().enumerate() {
            c.save(seq.join(format!("c{k}.jpg")))?;
        }
        for (n, k) in frames.iter().enumerate() {
            let (from, to) = (seq.join(format!("c{k}.jpg")), seq.join(format!("f{n:05}.jpg")));
            // A copy where the file system has no hard links.
            std::fs::hard_link(&from, &to).or_else(|_| std::fs::copy(&from, &to).map(drop))?;
        }
        let out = dir.join("gate.mp4");
        let (fps, key_int) = (self.fps, self.key_int);
        let pipeline = format!(
            "multifilesrc location={}/f%05d.jpg index=0 caps=image/jpeg,framerate={fps}/1 ! jpegdec ! videoconvert \
             ! x264enc key-int-max={key_int} bframes=0 speed-preset=ultrafast ! h264parse ! mp4mux ! filesink location={}",
            seq.display(),
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
        let _ = std::fs::remove_dir_all(&seq);
        Ok(out)
    }

    /// The clip of `pictures` in `dir`: [`canvases`](Self::canvases), [`frames`](Self::frames)
    /// and [`encode`](Self::encode).
    pub fn build(&self, dir: &Path, pictures: &[PathBuf]) -> anyhow::Result<GateClip> {
        let canvases = self.canvases(pictures)?;
        let frames = self.frames(pictures.len());
        let file = self.encode(dir, &canvases, &frames)?;
        Ok(GateClip { file, canvases, frames })
    }
}

/// Copies `clip`'s video into `out` (an MP4) beside `secs` seconds of AAC audio (a ticking
/// tone), as a phone or traffic recording carries: the audio track first when `audio_first`,
/// which is how some recorders write their files. The video is not re-encoded.
pub fn with_audio(clip: &Path, secs: u32, audio_first: bool, out: &Path) -> anyhow::Result<PathBuf> {
    use anyhow::Context;
    // 100 buffers of 441 samples per second at 44.1 kHz.
    let audio = format!(
        "audiotestsrc wave=ticks samplesperbuffer=441 num-buffers={} ! audio/x-raw,rate=44100,channels=1 \
         ! audioconvert ! avenc_aac ! aacparse ! m.audio_0",
        secs * 100
    );
    let video = format!("filesrc location={} ! qtdemux ! h264parse ! m.video_0", clip.display());
    // mp4mux numbers its tracks in the order its pads are asked for, which is the order here.
    let (one, two) = if audio_first { (&audio, &video) } else { (&video, &audio) };
    let pipeline = format!("mp4mux name=m ! filesink location={} {one} {two}", out.display());
    let ok = Command::new("gst-launch-1.0")
        .arg("-q")
        .args(pipeline.split_whitespace())
        .stdout(Stdio::null())
        .status()
        .context("gst-launch-1.0 (scripts/setup installs it)")?
        .success();
    anyhow::ensure!(ok, "gst-launch-1.0 could not add an audio track to {}", clip.display());
    Ok(out.to_owned())
}

/// Who or what the register should recognise in a passage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Known {
    /// A resident, by reference.
    Resident(String),
    /// A car, by plate (registered or not, its plate is read).
    Plate(String),
}

/// One picture passing the gate.
#[derive(Clone, Debug)]
pub struct Passage {
    pub picture: PathBuf,
    /// The photo's file name, or the car's plate.
    pub label: String,
    /// What should come of it; `None` for a stranger.
    pub known: Option<Known>,
}

/// The pipeline benchmark's scene, longer than [`Scene::gate`]: the resident twice (from photos
/// other than the enrolment photo), a stranger three times and five cars, two of them
/// registered. The cars are real photos from [`shared_plates`]; without them the scene has
/// faces only (`with_plates` false).
#[derive(Clone, Debug)]
pub struct BenchScene {
    pub passages: Vec<Passage>,
    /// The plates in the register.
    pub registered_plates: Vec<String>,
    /// The resident in the register, and the photo to enrol.
    pub resident: String,
    pub resident_photo: PathBuf,
    pub with_plates: bool,
}

impl BenchScene {
    /// The scene of the checkout at `root`.
    pub fn new(root: &Path) -> BenchScene {
        const RESIDENT: &str = "r-obama";
        const SECOND_REGISTERED: &str = "川A105LR";
        let media = |n: &str| root.join("var/media").join(n);
        let plates = shared_plates(root);
        let face = |f: &str, known: Option<Known>| Passage { picture: media(f), label: f.to_owned(), known };
        let resident = || Some(Known::Resident(RESIDENT.to_owned()));
        let car = |p: &str| {
            plates.as_ref().map(|dir| Passage {
                picture: dir.join(format!("{p}.jpg")),
                label: p.to_owned(),
                known: Some(Known::Plate(p.to_owned())),
            })
        };
        let order = [
            Some(face("obama2.jpg", resident())),
            car(REGISTERED),
            Some(face("biden.jpg", None)),
            car(UNKNOWN),
            car("沪AGH092"),
            Some(face("biden.jpg", None)),
            Some(face("obama3.jpg", resident())),
            car(SECOND_REGISTERED),
            car("津E22602"),
            Some(face("biden.jpg", None)),
        ];
        let with_plates = plates.is_some();
        let registered_plates =
            if with_plates { vec![REGISTERED.to_owned(), SECOND_REGISTERED.to_owned()] } else { Vec::new() };
        BenchScene {
            passages: order.into_iter().flatten().collect(),
            registered_plates,
            resident: RESIDENT.to_owned(),
            resident_photo: media("obama.jpg"),
            with_plates,
        }
    }

    /// The passages' pictures, in order.
    pub fn pictures(&self) -> Vec<PathBuf> {
        self.passages.iter().map(|p| p.picture.clone()).collect()
    }
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
    fn the_bench_scene_is_ten_passages_or_its_five_faces() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let s = BenchScene::new(&root);
        let labels: Vec<&str> = s.passages.iter().map(|p| p.label.as_str()).collect();
        if s.with_plates {
            let order =
                "obama2.jpg 川A019W2 biden.jpg 川AKQ291 沪AGH092 biden.jpg obama3.jpg 川A105LR 津E22602 biden.jpg";
            assert_eq!(labels, order.split(' ').collect::<Vec<_>>());
            assert_eq!(s.registered_plates, [REGISTERED, "川A105LR"]);
        } else {
            assert_eq!(labels, "obama2.jpg biden.jpg biden.jpg obama3.jpg biden.jpg".split(' ').collect::<Vec<_>>());
            assert!(s.registered_plates.is_empty());
        }
        assert!(s.pictures().iter().all(|p| p.is_file()), "{:?}", s.pictures());
        let resident = Some(Known::Resident(s.resident.clone()));
        assert_eq!(s.passages.iter().filter(|p| p.known == resident).count(), 2);
        assert!(s.passages.iter().filter(|p| p.label == "biden.jpg").all(|p| p.known.is_none()));
        assert!(s.resident_photo.ends_with("obama.jpg"));
    }

    #[test]
    fn a_clip_plan_lays_out_the_lead_in_then_each_picture_and_its_gap() {
        let plan = ClipPlan {
            lead_in_secs: 10,
            show_secs: 2,
            gap_secs: 2,
            empty: EmptyGate::Grey,
            ..ClipPlan::gate(0, 0, 10, 10)
        };
        let f = plan.frames(10);
        assert_eq!(f.len(), 500);
        assert!(f[..100].iter().all(|k| *k == 0));
        assert_eq!(&f[100..140], [vec![1; 20], vec![0; 20]].concat().as_slice());
        assert_eq!(&f[460..], [vec![10; 20], vec![0; 20]].concat().as_slice());
        // gate_clip's layout: no lead-in here, and no gap between pictures.
        let g = ClipPlan::gate(0, 3, 5, 5).frames(6);
        assert_eq!(g, (1..=6).flat_map(|k| [k; 15]).collect::<Vec<usize>>());
    }

    #[test]
    fn canvases_are_the_empty_gate_then_each_picture_letterboxed_on_grey() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let photo = root.join("var/media/obama2.jpg");
        let driveway = ClipPlan::gate(0, 3, 5, 5);
        let grey = ClipPlan { empty: EmptyGate::Grey, ..driveway }.canvases(std::slice::from_ref(&photo)).unwrap();
        let drive = driveway.canvases(std::slice::from_ref(&photo)).unwrap();
        assert_eq!((grey.len(), drive.len()), (2, 2));
        assert!(grey[0].pixels().all(|p| *p == GREY));
        assert!(drive[0] == empty_gate(1280, 720));
        assert!(drive[1] == grey[1], "the letterbox is grey whatever the empty gate");
        // The photo scaled to fit, centred: the corners are grey and the centre is the photo.
        let img = image::open(&photo).unwrap().to_rgb8();
        let scale = (1280.0 / img.width() as f32).min(720.0 / img.height() as f32);
        let (w, h) = ((img.width() as f32 * scale) as u32, (img.height() as f32 * scale) as u32);
        assert!(w == 1280 || h == 720);
        let small = image::imageops::resize(&img, w, h, image::imageops::FilterType::Triangle);
        let (x0, y0) = ((1280 - w) / 2, (720 - h) / 2);
        assert_eq!(grey[1].get_pixel(x0 + w / 2, y0 + h / 2), small.get_pixel(w / 2, h / 2));
        if x0 > 0 || y0 > 0 {
            assert_eq!(*grey[1].get_pixel(0, 0), GREY);
        }
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
