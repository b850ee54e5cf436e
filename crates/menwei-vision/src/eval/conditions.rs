//! The conditions a gate camera meets, made from a portrait: small faces, an IR camera's grey
//! picture by day, night (grey, dark, amplified sensor noise, strong JPEG), motion blur and
//! backlight.
//!
//! Each condition is deterministic: the noise is drawn from a generator seeded by the
//! condition and the photo's name, so two runs (and two machines) make the same pictures and
//! report the same numbers. The sizes are set by the distance between the eyes, as the
//! conventions of gate terminals state them (about 40 px is the usual minimum); the other
//! parameters are physical guesses written next to each, not fitted to any photo set.

use image::{Rgb, RgbImage, imageops};
use menwei_core::geom::BoxXyxy;

/// One condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Condition {
    /// The photo as it is.
    Photo,
    /// 40 px between the eyes, blur (sigma 1.2), JPEG 40.
    Px40,
    /// 24 px between the eyes, blur 1.0, JPEG 40.
    Px24,
    /// 16 px between the eyes, blur 0.8, JPEG 40.
    Px16,
    /// An IR camera by day: grey (luma), skin brighter under IR (gamma 0.8), 32 px, JPEG 50.
    IrDay,
    /// Night: grey, exposure x0.35, sensor noise (sigma 8 grey levels, as gain amplifies it),
    /// 32 px, JPEG 35.
    Night,
    /// A face walking past: a horizontal motion blur of 9 px at 40 px between the eyes, JPEG 50.
    MotionBlur,
    /// Against the light: the face under-exposed (x0.4, gamma 1.4) while the background
    /// outside the face's box is pushed towards white, 40 px, JPEG 50.
    Backlight,
}

impl Condition {
    pub const ALL: [Condition; 8] = [
        Condition::Photo,
        Condition::Px40,
        Condition::Px24,
        Condition::Px16,
        Condition::IrDay,
        Condition::Night,
        Condition::MotionBlur,
        Condition::Backlight,
    ];

    /// The name `--conditions` takes and reports use as a key.
    pub fn name(self) -> &'static str {
        match self {
            Condition::Photo => "photo",
            Condition::Px40 => "40px",
            Condition::Px24 => "24px",
            Condition::Px16 => "16px",
            Condition::IrDay => "ir-day",
            Condition::Night => "night",
            Condition::MotionBlur => "motion-blur",
            Condition::Backlight => "backlight",
        }
    }

    /// What it is, for the text report.
    pub fn describe(self) -> &'static str {
        match self {
            Condition::Photo => "as photographed",
            Condition::Px40 => "40 px between the eyes, blur, JPEG 40",
            Condition::Px24 => "24 px between the eyes, blur, JPEG 40",
            Condition::Px16 => "16 px between the eyes, blur, JPEG 40",
            Condition::IrDay => "grey, as an IR camera sees by day, 32 px",
            Condition::Night => "night: grey, dark (x0.35), sensor noise, JPEG 35, 32 px",
            Condition::MotionBlur => "motion blur (9 px), 40 px",
            Condition::Backlight => "backlight: face under-exposed against a bright background, 40 px",
        }
    }

    /// Parses a comma-separated list of names; an unknown name is an error that lists the
    /// known ones.
    pub fn parse_list(list: &str) -> Result<Vec<Condition>, String> {
        let mut out = Vec::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let c = Condition::ALL.iter().copied().find(|c| c.name() == name).ok_or_else(|| {
                let known: Vec<&str> = Condition::ALL.iter().map(|c| c.name()).collect();
                format!("unknown condition `{name}` (known: {})", known.join(", "))
            })?;
            if !out.contains(&c) {
                out.push(c);
            }
        }
        if out.is_empty() {
            return Err("no condition named".into());
        }
        Ok(out)
    }

    /// The picture of `img` in this condition. `eye_distance` is the portrait's distance
    /// between the eyes and `face` its face box, both in `img`'s pixels; `seed_name` (the
    /// photo's name) seeds the noise.
    pub fn apply(self, img: &RgbImage, eye_distance: f32, face: BoxXyxy, seed_name: &str) -> RgbImage {
        let mut rng = SplitMix::new(fnv1a(self.name()) ^ fnv1a(seed_name).rotate_left(17));
        match self {
            Condition::Photo => img.clone(),
            Condition::Px40 => jpeg(&imageops::blur(&scaled(img, eye_distance, 40.0).0, 1.2), 40),
            Condition::Px24 => jpeg(&imageops::blur(&scaled(img, eye_distance, 24.0).0, 1.0), 40),
            Condition::Px16 => jpeg(&imageops::blur(&scaled(img, eye_distance, 16.0).0, 0.8), 40),
            Condition::IrDay => {
                let (small, _) = scaled(img, eye_distance, 32.0);
                jpeg(&map_grey(&small, |g| 255.0 * (g / 255.0).powf(0.8)), 50)
            }
            Condition::Night => {
                let (small, _) = scaled(img, eye_distance, 32.0);
                let mut dark = map_grey(&small, |g| g * 0.35);
                for p in dark.pixels_mut() {
                    let v = (f32::from(p[0]) + 8.0 * rng.gaussian()).round().clamp(0.0, 255.0) as u8;
                    *p = Rgb([v, v, v]);
                }
                jpeg(&dark, 35)
            }
            Condition::MotionBlur => {
                let (small, _) = scaled(img, eye_distance, 40.0);
                jpeg(&horizontal_blur(&small, 9), 50)
            }
            Condition::Backlight => {
                let (mut small, s) = scaled(img, eye_distance, 40.0);
                let b = BoxXyxy { x1: face.x1 * s, y1: face.y1 * s, x2: face.x2 * s, y2: face.y2 * s };
                for (x, y, p) in small.enumerate_pixels_mut() {
                    let inside = (x as f32) >= b.x1 && (x as f32) <= b.x2 && (y as f32) >= b.y1 && (y as f32) <= b.y2;
                    for c in p.0.iter_mut() {
                        let v = f32::from(*c) / 255.0;
                        let out = if inside { 0.4 * v.powf(1.4) } else { 0.75 + 0.25 * v };
                        *c = (255.0 * out).round().clamp(0.0, 255.0) as u8;
                    }
                }
                jpeg(&small, 50)
            }
        }
    }
}

/// Frames a passage's clip holds by default (`eval faces --clip`): enough that the gate's three
/// shots can be had when a frame or two is refused or shows no face.
pub const CLIP_FRAMES: usize = 5;

/// Each frame's face size against the condition's, as a walking face bobs and nears: a few
/// per cent either way, so that the clip tests fusion, not a face that grows out of the
/// condition.
const CLIP_SIZE: [f32; 5] = [0.96, 1.0, 1.04, 0.98, 1.02];

/// How far the face moves between frames, in eye distances (a face crossing the frame).
const CLIP_STEP: f32 = 0.35;

impl Condition {
    /// Frame `t` of a clip in this condition: the face moves across the frame by
    /// [`CLIP_STEP`] eye distances per frame (so each frame samples it at another sub-pixel
    /// phase), its size varies by [`CLIP_SIZE`], and every frame draws its own noise. Frame
    /// pictures are deterministic like [`Condition::apply`]'s.
    pub fn frame(self, img: &RgbImage, eye_distance: f32, face: BoxXyxy, seed_name: &str, t: usize) -> RgbImage {
        let step = CLIP_STEP * eye_distance;
        let pad = (step * (CLIP_FRAMES.max(t + 1) - 1) as f32).round() as u32;
        let dx = (step * t as f32).round() as u32;
        let (w, h) = img.dimensions();
        // The photo placed `dx` from the left of a wider canvas, its edge columns drawn out.
        let canvas = RgbImage::from_fn(w + pad, h, |x, y| *img.get_pixel(x.saturating_sub(dx).min(w - 1), y));
        let moved = BoxXyxy { x1: face.x1 + dx as f32, x2: face.x2 + dx as f32, ..face };
        let size = CLIP_SIZE[t % CLIP_SIZE.len()];
        self.apply(&canvas, eye_distance / size, moved, &format!("{seed_name}#{t}"))
    }
}

/// `img` scaled so the eyes are `eye_px` apart (never enlarged), and the scale used.
fn scaled(img: &RgbImage, eye_distance: f32, eye_px: f32) -> (RgbImage, f32) {
    let s = (eye_px / eye_distance.max(1.0)).min(1.0);
    let (w, h) =
        (((img.width() as f32) * s).round().max(16.0) as u32, ((img.height() as f32) * s).round().max(16.0) as u32);
    (imageops::resize(img, w, h, imageops::FilterType::Triangle), s)
}

/// Luma (BT.601) through `f`, as grey RGB.
fn map_grey(img: &RgbImage, f: impl Fn(f32) -> f32) -> RgbImage {
    let mut out = img.clone();
    for p in out.pixels_mut() {
        let [r, g, b] = p.0.map(f32::from);
        let v = f(0.299 * r + 0.587 * g + 0.114 * b).round().clamp(0.0, 255.0) as u8;
        *p = Rgb([v, v, v]);
    }
    out
}

/// A box blur `len` pixels long along x (clamped at the edges).
fn horizontal_blur(img: &RgbImage, len: u32) -> RgbImage {
    let (w, h) = img.dimensions();
    let half = (len / 2) as i64;
    RgbImage::from_fn(w, h, |x, y| {
        let mut acc = [0u32; 3];
        for dx in -half..=half {
            let xx = (i64::from(x) + dx).clamp(0, i64::from(w) - 1) as u32;
            for (a, c) in acc.iter_mut().zip(img.get_pixel(xx, y).0) {
                *a += u32::from(c);
            }
        }
        let n = (2 * half + 1) as u32;
        Rgb(acc.map(|a| ((a + n / 2) / n) as u8))
    })
}

/// Encoded as JPEG at `quality` and decoded again (the image crate's encoder is
/// deterministic).
fn jpeg(img: &RgbImage, quality: u8) -> RgbImage {
    let mut bytes = Vec::new();
    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality);
    if enc.encode_image(img).is_err() {
        return img.clone();
    }
    image::load_from_memory(&bytes).map(|i| i.to_rgb8()).unwrap_or_else(|_| img.clone())
}

pub(crate) fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// SplitMix64 (Steele, Lea and Flood), enough for reproducible noise.
pub(crate) struct SplitMix(u64);

impl SplitMix {
    pub(crate) fn new(seed: u64) -> Self {
        SplitMix(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// In (0, 1].
    fn unit(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 + 1.0) / (1u64 << 24) as f32
    }

    /// Standard normal (Box-Muller).
    pub(crate) fn gaussian(&mut self) -> f32 {
        let (u, v) = (self.unit(), self.unit());
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn portrait() -> RgbImage {
        RgbImage::from_fn(200, 240, |x, y| Rgb([(x % 256) as u8, (y % 256) as u8, ((x * y) % 251) as u8]))
    }

    const FACE: BoxXyxy = BoxXyxy { x1: 50.0, y1: 60.0, x2: 150.0, y2: 190.0 };

    #[test]
    fn every_condition_is_deterministic_and_the_seed_changes_the_noise() {
        let img = portrait();
        for c in Condition::ALL {
            let a = c.apply(&img, 80.0, FACE, "a.jpg");
            let b = c.apply(&img, 80.0, FACE, "a.jpg");
            assert_eq!(a.as_raw(), b.as_raw(), "{c:?} is not deterministic");
        }
        let a = Condition::Night.apply(&img, 80.0, FACE, "a.jpg");
        let b = Condition::Night.apply(&img, 80.0, FACE, "b.jpg");
        assert_ne!(a.as_raw(), b.as_raw(), "the photo's name must seed the noise");
    }

    #[test]
    fn clip_frames_move_the_face_draw_their_own_noise_and_repeat_exactly() {
        let img = portrait();
        let a: Vec<RgbImage> = (0..CLIP_FRAMES).map(|t| Condition::Night.frame(&img, 80.0, FACE, "a", t)).collect();
        for (t, f) in a.iter().enumerate() {
            assert_eq!(f.as_raw(), Condition::Night.frame(&img, 80.0, FACE, "a", t).as_raw(), "frame {t}");
        }
        assert_ne!(a[0].as_raw(), a[1].as_raw());
        // Every frame is as wide as the widest canvas at its size: the face moved, the frame did not shrink.
        let w = |t: usize| Condition::Px40.frame(&img, 80.0, FACE, "a", t).width();
        assert_eq!(w(1), ((200.0 + 112.0) * 40.0 / 80.0f32).round() as u32);
        // The photo condition keeps the picture's size: only the position moves.
        let p0 = Condition::Photo.frame(&img, 80.0, FACE, "a", 0);
        let p2 = Condition::Photo.frame(&img, 80.0, FACE, "a", 2);
        assert_eq!(p0.dimensions(), p2.dimensions());
        assert_eq!(p2.get_pixel(56 + 10, 7), img.get_pixel(10, 7));
    }

    #[test]
    fn sizes_follow_the_eye_distance_and_night_is_dark_and_grey() {
        let img = portrait();
        assert_eq!(Condition::Px24.apply(&img, 80.0, FACE, "a").width(), 60);
        assert_eq!(Condition::Px16.apply(&img, 80.0, FACE, "a").width(), 40);
        // A portrait already smaller than asked is not enlarged.
        assert_eq!(Condition::Px40.apply(&img, 20.0, FACE, "a").width(), 200);
        let night = Condition::Night.apply(&img, 80.0, FACE, "a");
        let mean = |i: &RgbImage| i.pixels().map(|p| f64::from(p[1])).sum::<f64>() / f64::from(i.width() * i.height());
        assert!(mean(&night) < 0.5 * mean(&img), "night {} vs {}", mean(&night), mean(&img));
        assert!(night.pixels().all(|p| p[0].abs_diff(p[1]) <= 6 && p[1].abs_diff(p[2]) <= 6), "night is grey");
    }

    #[test]
    fn backlight_darkens_the_face_and_brightens_the_rest() {
        let img = RgbImage::from_pixel(200, 240, Rgb([128, 128, 128]));
        let out = Condition::Backlight.apply(&img, 40.0, FACE, "a");
        assert!(out.get_pixel(100, 120)[0] < 60, "{:?}", out.get_pixel(100, 120));
        assert!(out.get_pixel(5, 5)[0] > 200, "{:?}", out.get_pixel(5, 5));
    }

    #[test]
    fn lists_parse_and_an_unknown_name_says_what_is_known() {
        assert_eq!(Condition::parse_list("photo, night").unwrap(), vec![Condition::Photo, Condition::Night]);
        let e = Condition::parse_list("photo,dusk").unwrap_err();
        assert!(e.contains("dusk") && e.contains("backlight"), "{e}");
    }
}
