//! A 1080p frame into SCRFD's input tensor: the cost outside the model that a native
//! pipeline exists to cut. The frame is a real photo (t1.jpg) scaled to 1920x1080 with a
//! GStreamer-like padded stride.

use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use menwei_core::image::RgbView;
use menwei_vision::preprocess::{Normalize, Resizer};

fn frame_1080p() -> (Vec<u8>, usize) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../var/media/t1.jpg");
    let img = image::open(&path)
        .unwrap_or_else(|e| panic!("{} ({e}): run scripts/setup", path.display()))
        .resize_exact(1920, 1080, image::imageops::FilterType::Triangle)
        .to_rgb8();
    let stride = 1920 * 3 + 64;
    let mut buf = vec![0u8; stride * 1080];
    for (y, row) in img.as_raw().chunks_exact(1920 * 3).enumerate() {
        buf[y * stride..y * stride + row.len()].copy_from_slice(row);
    }
    (buf, stride)
}

fn bench(c: &mut Criterion) {
    let (buf, stride) = frame_1080p();
    let view = RgbView::new(1920, 1080, stride, &buf).unwrap();
    let norm = Normalize { mean: [127.5; 3], scale: [1.0 / 128.0; 3], bgr: false };
    let mut resizer = Resizer::default();
    let mut tensor = Vec::new();
    c.bench_function("1080p -> 640x640 letterbox tensor (SCRFD)", |b| {
        b.iter(|| resizer.letterbox(std::hint::black_box(view), 640, 640, &norm, &mut tensor))
    });
    c.bench_function("1080p -> 640x384 tensor (SCRFD, input fitted to the frame)", |b| {
        b.iter(|| resizer.letterbox(std::hint::black_box(view), 640, 384, &norm, &mut tensor))
    });
    // A scale that is not a whole number: every output row blends two source rows.
    c.bench_function("1080p -> 512x512 letterbox tensor (non-integer scale 3.75)", |b| {
        b.iter(|| resizer.letterbox(std::hint::black_box(view), 512, 512, &norm, &mut tensor))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
