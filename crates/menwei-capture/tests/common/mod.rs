//! What the capture tests share: recorded camera states, waiting, and taking frames.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use menwei_capture::{Camera, CameraConfig, CameraState, FrameSource, SourceUrl, StateSink};
use menwei_core::frame::Frame;

pub fn media(name: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../var/media").join(name);
    assert!(p.is_file(), "{} is missing: run scripts/setup", p.display());
    p
}

/// Records every state change of every camera.
#[derive(Clone, Default)]
pub struct States(Arc<Mutex<Vec<(String, CameraState)>>>);

impl States {
    pub fn sink(&self) -> StateSink {
        let s = self.0.clone();
        Arc::new(move |id, st| {
            eprintln!("  [{id}] {st:?}");
            s.lock().unwrap().push((id.to_string(), st.clone()));
        })
    }
    pub fn of(&self, camera: &str) -> Vec<CameraState> {
        self.0.lock().unwrap().iter().filter(|(c, _)| c == camera).map(|(_, s)| s.clone()).collect()
    }
    pub fn names(&self, camera: &str) -> Vec<&'static str> {
        self.of(camera).iter().map(|s| s.name()).collect()
    }
}

pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn rtsp_camera(id: &str, url: &str) -> CameraConfig {
    CameraConfig::new(id, SourceUrl::parse(url).unwrap())
}

/// Takes `n` frames, as a consumer would.
pub fn take(cam: &Camera, n: usize, timeout: Duration) -> Vec<Frame> {
    let mut out = Vec::new();
    let t = Instant::now();
    while out.len() < n {
        assert!(t.elapsed() < timeout, "only {} of {n} frames after {timeout:?}", out.len());
        if let Some(f) = cam.frames().take_timeout(Duration::from_millis(100)) {
            out.push(f);
        }
    }
    out
}
