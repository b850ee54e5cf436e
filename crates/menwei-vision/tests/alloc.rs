//! Preprocessing reuses its buffers: after the first frame, turning a frame into a model tensor
//! allocates nothing. Counted with a global allocator in this test binary (one test, so no other
//! thread allocates meanwhile).

// The only unsafe code in the project: a test-only allocator that counts, then forwards every
// call unchanged to the system allocator.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use menwei_core::image::RgbView;
use menwei_vision::align::{ARCFACE_112, warp_face};
use menwei_vision::preprocess::{Normalize, Resizer};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_in(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    f();
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

#[test]
fn frames_become_tensors_without_allocating_after_the_first() {
    // A strided 1080p frame, as GStreamer hands them over.
    let stride = 1920 * 3 + 64;
    let data: Vec<u8> = (0..stride * 1080).map(|i| (i % 251) as u8).collect();
    let frame = RgbView::new(1920, 1080, stride, &data).unwrap();
    let norm = Normalize { mean: [127.5; 3], scale: [1.0 / 128.0; 3], bgr: false };
    let mut resizer = Resizer::default();
    let mut tensor = Vec::new();

    // First frame: the tables and the tensor are allocated.
    assert!(
        allocations_in(|| {
            resizer.letterbox(frame, 640, 384, &norm, &mut tensor);
        }) > 0
    );
    // Every later frame of the same size: nothing, integer scale or not.
    for _ in 0..3 {
        assert_eq!(
            allocations_in(|| {
                resizer.letterbox(frame, 640, 384, &norm, &mut tensor);
            }),
            0
        );
    }
    let mut other = Vec::new();
    resizer.stretch(frame, 512, 512, &norm, &mut other);
    assert_eq!(allocations_in(|| resizer.stretch(frame, 512, 512, &norm, &mut other)), 0);

    // Face alignment writes into a slice of the caller's batch tensor.
    let mut face = vec![0.0f32; 3 * 112 * 112];
    let landmarks = ARCFACE_112.map(|p| menwei_core::geom::Point { x: p.x * 3.0 + 500.0, y: p.y * 3.0 + 200.0 });
    assert_eq!(allocations_in(|| warp_face(frame, &landmarks, &ARCFACE_112, 112, &norm, &mut face)), 0);
}
