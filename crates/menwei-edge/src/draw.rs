//! Annotated pictures for `analyze`: boxes, landmarks and labels drawn straight into RGB.
//!
//! Labels use a built-in 5x7 bitmap font (ASCII letters, digits and a few signs), so drawing
//! needs no font file on the box. Chinese characters in plate text are written in pinyin
//! (粤 -> YUE), which an installer reads as easily.

use image::{Rgb, RgbImage};

/// 5x7 glyphs, one byte per row, the low five bits left to right.
fn glyph(c: char) -> [u8; 7] {
    match c.to_ascii_uppercase() {
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        'A' => [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'H' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'Q' => [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
        'X' => [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04],
        'Z' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        '.' => [0, 0, 0, 0, 0, 0x0C, 0x0C],
        ':' => [0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0],
        '-' => [0, 0, 0, 0x1F, 0, 0, 0],
        '/' => [0x01, 0x01, 0x02, 0x04, 0x08, 0x10, 0x10],
        '%' => [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03],
        '(' => [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
        ')' => [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
        '?' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0, 0x04],
        '_' => [0, 0, 0, 0, 0, 0, 0x1F],
        _ => [0; 7],
    }
}

/// Plate text with its Chinese characters in pinyin: `粤B12345` -> `YUE B12345`.
pub fn ascii_plate(text: &str) -> String {
    const PINYIN: &[(char, &str)] = &[
        ('京', "JING"),
        ('津', "JIN"),
        ('沪', "HU"),
        ('渝', "YU"),
        ('冀', "JI"),
        ('豫', "YU"),
        ('云', "YUN"),
        ('辽', "LIAO"),
        ('黑', "HEI"),
        ('湘', "XIANG"),
        ('皖', "WAN"),
        ('鲁', "LU"),
        ('新', "XIN"),
        ('苏', "SU"),
        ('浙', "ZHE"),
        ('赣', "GAN"),
        ('鄂', "E"),
        ('桂', "GUI"),
        ('甘', "GAN"),
        ('晋', "JIN"),
        ('蒙', "MENG"),
        ('陕', "SHAN"),
        ('吉', "JI"),
        ('闽', "MIN"),
        ('贵', "GUI"),
        ('粤', "YUE"),
        ('青', "QING"),
        ('藏', "ZANG"),
        ('川', "CHUAN"),
        ('宁', "NING"),
        ('琼', "QIONG"),
        ('学', "XUE"),
        ('警', "JING"),
        ('挂', "GUA"),
        ('港', "GANG"),
        ('澳', "AO"),
        ('使', "SHI"),
        ('领', "LING"),
    ];
    let mut out = String::new();
    for c in text.chars() {
        match PINYIN.iter().find(|(h, _)| *h == c) {
            Some((_, p)) => {
                if !out.is_empty() && !out.ends_with(' ') {
                    out.push(' ');
                }
                out.push_str(p);
                out.push(' ');
            }
            None => out.push(c),
        }
    }
    out.trim_end().to_owned()
}

fn put(img: &mut RgbImage, x: i64, y: i64, c: Rgb<u8>) {
    if x >= 0 && y >= 0 && (x as u32) < img.width() && (y as u32) < img.height() {
        img.put_pixel(x as u32, y as u32, c);
    }
}

/// A rectangle outline `t` pixels thick.
pub fn rect(img: &mut RgbImage, x1: f32, y1: f32, x2: f32, y2: f32, t: i64, c: Rgb<u8>) {
    let (x1, y1, x2, y2) = (x1.round() as i64, y1.round() as i64, x2.round() as i64, y2.round() as i64);
    for k in 0..t {
        for x in x1..=x2 {
            put(img, x, y1 + k, c);
            put(img, x, y2 - k, c);
        }
        for y in y1..=y2 {
            put(img, x1 + k, y, c);
            put(img, x2 - k, y, c);
        }
    }
}

/// A line, `t` pixels thick.
pub fn line(img: &mut RgbImage, a: (f32, f32), b: (f32, f32), t: i64, c: Rgb<u8>) {
    let n = ((b.0 - a.0).abs().max((b.1 - a.1).abs()).ceil() as i64).max(1);
    for i in 0..=n {
        let f = i as f32 / n as f32;
        let (x, y) = ((a.0 + (b.0 - a.0) * f).round() as i64, (a.1 + (b.1 - a.1) * f).round() as i64);
        for dy in 0..t {
            for dx in 0..t {
                put(img, x + dx - t / 2, y + dy - t / 2, c);
            }
        }
    }
}

/// A filled square dot of radius `r`.
pub fn dot(img: &mut RgbImage, x: f32, y: f32, r: i64, c: Rgb<u8>) {
    let (x, y) = (x.round() as i64, y.round() as i64);
    for dy in -r..=r {
        for dx in -r..=r {
            put(img, x + dx, y + dy, c);
        }
    }
}

/// Text at (x, y) (top-left), each font pixel `scale` pixels, on a filled background.
pub fn text(img: &mut RgbImage, x: f32, y: f32, s: &str, scale: i64, fg: Rgb<u8>, bg: Rgb<u8>) {
    let (x0, y0) = (x.round() as i64, y.round() as i64);
    let n = s.chars().count() as i64;
    for dy in -scale..(8 * scale) {
        for dx in -scale..(n * 6 * scale) {
            put(img, x0 + dx, y0 + dy, bg);
        }
    }
    for (i, ch) in s.chars().enumerate() {
        for (row, bits) in glyph(ch).iter().enumerate() {
            for col in 0..5 {
                if bits & (0x10 >> col) != 0 {
                    for sy in 0..scale {
                        for sx in 0..scale {
                            put(img, x0 + (i as i64 * 6 + col) * scale + sx, y0 + row as i64 * scale + sy, fg);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plates_are_written_in_pinyin_and_text_lands_on_the_picture() {
        assert_eq!(ascii_plate("粤B12345"), "YUE B12345");
        assert_eq!(ascii_plate("粤Z1234港"), "YUE Z1234 GANG");
        let mut img = RgbImage::new(40, 12);
        text(&mut img, 1.0, 1.0, "A1", 1, Rgb([255, 255, 255]), Rgb([0, 0, 0]));
        // The A's top bar and the 1's stem are lit; the gap between glyphs is not.
        assert_eq!(img.get_pixel(1 + 1, 1), &Rgb([255, 255, 255]));
        assert_eq!(img.get_pixel(1 + 6 + 2, 1 + 3), &Rgb([255, 255, 255]));
        assert_eq!(img.get_pixel(1 + 5, 1 + 3), &Rgb([0, 0, 0]));
        rect(&mut img, 0.0, 0.0, 39.0, 11.0, 1, Rgb([255, 0, 0]));
        assert_eq!(img.get_pixel(39, 11), &Rgb([255, 0, 0]));
    }
}
