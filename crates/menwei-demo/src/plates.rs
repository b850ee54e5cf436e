//! Stand-in plate pictures for machines without the project's plate photos.
//!
//! The real photos in `../shared/data` are internal and never reach an outside user, so the demo
//! draws its two cars itself: a 1280x720 scene with a dark car front and a blue Chinese plate
//! (white characters, the province character, a separator dot) in its lower middle, laid out
//! at GA 36's proportions. The characters come from a CJK font of the system (Noto Sans CJK,
//! Debian's `fonts-noto-cjk`, installed by `scripts/setup`), rasterised by `ab_glyph`, so
//! drawing them needs no Python and no package beyond the font.

use std::path::{Path, PathBuf};

use ab_glyph::{Font, FontRef, PxScale};
use anyhow::{Context, bail};
use image::{Rgb, RgbImage};

/// Where distributions put Noto Sans CJK Bold, tried before asking fontconfig.
const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
];

/// A character's box in pixels: GA 36's 45 mm x 90 mm on a plate drawn 440 x 140 px.
const CHAR_W: f32 = 45.0;
const CHAR_H: f32 = 90.0;

/// `ch`'s outline scaled to `h` pixels of ink height, and to at most `w` of ink width.
fn fitted(font: &FontRef<'_>, ch: char, w: f32, h: f32) -> Option<ab_glyph::OutlinedGlyph> {
    const PROBE: f32 = 100.0;
    let probe = font.outline_glyph(font.glyph_id(ch).with_scale(PROBE))?.px_bounds();
    let (pw, ph) = (probe.width().max(1.0), probe.height().max(1.0));
    let sy = PROBE * h / ph;
    let sx = PROBE * (pw * h / ph).min(w) / pw;
    font.outline_glyph(font.glyph_id(ch).with_scale(PxScale { x: sx, y: sy }))
}

/// A CJK font on this machine: one of [`FONT_PATHS`], else what fontconfig offers for Chinese.
pub fn find_font() -> anyhow::Result<PathBuf> {
    if let Some(p) = FONT_PATHS.iter().map(PathBuf::from).find(|p| p.is_file()) {
        return Ok(p);
    }
    let asked = std::process::Command::new("fc-match").args(["-f", "%{file}", "Noto Sans CJK SC:bold"]).output();
    if let Ok(out) = asked {
        let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && p.is_file() && covers(&p, "川") {
            return Ok(p);
        }
    }
    bail!(
        "no Chinese font to draw the demo's plates with (looked for {} and asked fc-match): install \
         Debian's fonts-noto-cjk (scripts/setup does)",
        FONT_PATHS[0]
    )
}

fn covers(path: &Path, text: &str) -> bool {
    std::fs::read(path).ok().is_some_and(|data| face_covering(&data, text).is_some())
}

/// The first face of a font file (a collection has several) that has a glyph for every
/// character of `text`.
fn face_covering<'a>(data: &'a [u8], text: &str) -> Option<FontRef<'a>> {
    let count = owned_faces(data).unwrap_or(1);
    (0..count)
        .filter_map(|i| FontRef::try_from_slice_and_index(data, i).ok())
        .find(|f| text.chars().all(|c| f.glyph_id(c).0 != 0))
}

/// How many faces a TrueType collection holds (`ttcf` header), or `None` for a single font.
fn owned_faces(data: &[u8]) -> Option<u32> {
    if data.get(..4)? != b"ttcf" {
        return None;
    }
    Some(u32::from_be_bytes(data.get(8..12)?.try_into().ok()?))
}

/// Draws `plate` (seven characters: province, letter, five) on a car front.
pub fn render(plate: &str, font_data: &[u8]) -> anyhow::Result<RgbImage> {
    let chars: Vec<char> = plate.chars().collect();
    if chars.len() != 7 {
        bail!("the demo draws seven-character plates only, not {plate}");
    }
    let font = face_covering(font_data, plate).with_context(|| format!("the font has no glyphs for {plate}"))?;
    let mut scene = RgbImage::from_pixel(1280, 720, Rgb([58, 60, 64]));
    // A car's front: body, windscreen, grille, lamps.
    rounded_rect(&mut scene, (240, 140, 1040, 660), 60, [150, 152, 158]);
    trapezoid(&mut scene, (150, 300), (330, 950), (280, 1000), [40, 48, 60]);
    rounded_rect(&mut scene, (380, 330, 900, 420), 0, [30, 30, 32]);
    ellipse(&mut scene, (280, 330, 360, 400), [235, 235, 210]);
    ellipse(&mut scene, (920, 330, 1000, 400), [235, 235, 210]);
    // The plate: 440x140 (GA 36's 440 mm x 140 mm), blue with a white rim.
    let (x0, y0, w, h) = (420u32, 450u32, 440u32, 140u32);
    rounded_rect(&mut scene, (x0, y0, x0 + w, y0 + h), 10, [245, 245, 245]);
    rounded_rect(&mut scene, (x0 + 5, y0 + 5, x0 + w - 5, y0 + h - 5), 8, [18, 62, 170]);
    // GA 36's layout in millimetres, one per pixel here: 45 mm characters 12 mm apart, 34 mm
    // between the second and the third with the dot in its middle, 15.5 mm margins. Each
    // character fills its 45 x 90 box as a plate's do: scaled to the box's height and narrowed
    // to its width where the font's glyph is wider.
    let left = x0 as f32 + 15.5;
    let slots = [0.0, 57.0, 136.0, 193.0, 250.0, 307.0, 364.0].map(|s| left + s);
    for (ch, x) in chars.iter().zip(slots) {
        let Some(outline) = fitted(&font, *ch, CHAR_W, CHAR_H) else { continue };
        let b = outline.px_bounds();
        // Ink centred in its box and in the plate's height.
        let dx = x + (CHAR_W - b.width()) / 2.0;
        let dy = y0 as f32 + (h as f32 - b.height()) / 2.0;
        outline.draw(|gx, gy, coverage| {
            let (px, py) = ((dx + gx as f32).round() as i64, (dy + gy as f32).round() as i64);
            blend(&mut scene, px, py, [250, 250, 250], coverage);
        });
    }
    let dot = (left + 57.0 + CHAR_W + 17.0) as u32;
    ellipse(&mut scene, (dot - 5, y0 + 65, dot + 5, y0 + 75), [250, 250, 250]);
    Ok(scene)
}

/// The demo's plate pictures in `dir`, drawn where missing: `dir/<PLATE>.png` for each.
pub fn ensure(dir: &Path, plates: &[&str]) -> anyhow::Result<Vec<PathBuf>> {
    let paths: Vec<PathBuf> = plates.iter().map(|p| dir.join(format!("{p}.png"))).collect();
    if paths.iter().all(|p| p.is_file()) {
        return Ok(paths);
    }
    let font = find_font()?;
    let data = std::fs::read(&font).with_context(|| format!("cannot read {}", font.display()))?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (plate, path) in plates.iter().zip(&paths) {
        if path.is_file() {
            continue;
        }
        // Written whole, then renamed: a half-written picture is never taken for a plate.
        let tmp = path.with_extension("png.part");
        render(plate, &data)?.save_with_format(&tmp, image::ImageFormat::Png)?;
        std::fs::rename(&tmp, path)?;
    }
    Ok(paths)
}

fn blend(img: &mut RgbImage, x: i64, y: i64, c: [u8; 3], a: f32) {
    if x < 0 || y < 0 || x >= i64::from(img.width()) || y >= i64::from(img.height()) {
        return;
    }
    let p = img.get_pixel_mut(x as u32, y as u32);
    let a = a.clamp(0.0, 1.0);
    for (dst, src) in p.0.iter_mut().zip(c) {
        *dst = (f32::from(*dst) * (1.0 - a) + f32::from(src) * a).round() as u8;
    }
}

/// Fills `(x0, y0, x1, y1)` (inclusive, as PIL draws) with corners of radius `r`.
fn rounded_rect(img: &mut RgbImage, (x0, y0, x1, y1): (u32, u32, u32, u32), r: u32, c: [u8; 3]) {
    let r = r as f32;
    for y in y0..=y1.min(img.height() - 1) {
        for x in x0..=x1.min(img.width() - 1) {
            let (fx, fy) = (x as f32, y as f32);
            // Distance into the corner square, if the pixel is in one.
            let cx = if fx < x0 as f32 + r { x0 as f32 + r - fx } else { (fx - (x1 as f32 - r)).max(0.0) };
            let cy = if fy < y0 as f32 + r { y0 as f32 + r - fy } else { (fy - (y1 as f32 - r)).max(0.0) };
            if cx * cx + cy * cy <= r * r {
                img.put_pixel(x, y, Rgb(c));
            }
        }
    }
}

/// Fills the ellipse inscribed in `(x0, y0, x1, y1)`.
fn ellipse(img: &mut RgbImage, (x0, y0, x1, y1): (u32, u32, u32, u32), c: [u8; 3]) {
    let (cx, cy) = ((x0 + x1) as f32 / 2.0, (y0 + y1) as f32 / 2.0);
    let (rx, ry) = ((x1 - x0) as f32 / 2.0, (y1 - y0) as f32 / 2.0);
    for y in y0..=y1 {
        for x in x0..=x1 {
            let (dx, dy) = ((x as f32 - cx) / rx, (y as f32 - cy) / ry);
            if dx * dx + dy * dy <= 1.0 {
                img.put_pixel(x, y, Rgb(c));
            }
        }
    }
}

/// Fills a trapezoid with horizontal top and bottom edges: rows `top..=bottom`, spanning
/// `top_x` at the top and `bottom_x` at the bottom.
fn trapezoid(img: &mut RgbImage, (top, bottom): (u32, u32), top_x: (u32, u32), bottom_x: (u32, u32), c: [u8; 3]) {
    for y in top..=bottom {
        let t = (y - top) as f32 / (bottom - top) as f32;
        let l = top_x.0 as f32 + (bottom_x.0 as f32 - top_x.0 as f32) * t;
        let r = top_x.1 as f32 + (bottom_x.1 as f32 - top_x.1 as f32) * t;
        for x in l.round() as u32..=r.round() as u32 {
            img.put_pixel(x, y, Rgb(c));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drawn_plate_has_white_strokes_on_blue_where_the_characters_are() {
        let font = match find_font() {
            Ok(f) => f,
            Err(e) => panic!("{e}"),
        };
        let img = render("川A019W2", &std::fs::read(font).unwrap()).unwrap();
        if let Some(out) = std::env::var_os("MENWEI_SAVE_PLATE") {
            img.save(out).unwrap();
        }
        let white = |x0: u32, x1: u32| {
            (x0..x1)
                .flat_map(|x| (470..570).map(move |y| (x, y)))
                .filter(|&(x, y)| img.get_pixel(x, y).0[0] > 200)
                .count()
        };
        // Every character's box has ink; the gaps beside the dot have none.
        for slot in [435, 492, 571, 628, 685, 742, 799] {
            assert!(white(slot, slot + 45) > 150, "the box at {slot} is empty");
        }
        assert_eq!(white(539, 547) + white(561, 570), 0);
        // The plate's blue field is there around the characters.
        assert_eq!(img.get_pixel(430, 460).0, [18, 62, 170]);
    }

    #[test]
    fn collections_are_counted_from_their_header() {
        let mut ttc = b"ttcf\0\x02\0\0\0\0\0\x05".to_vec();
        ttc.extend([0u8; 20]);
        assert_eq!(owned_faces(&ttc), Some(5));
        assert_eq!(owned_faces(b"\0\x01\0\0abcdefgh"), None);
    }
}
