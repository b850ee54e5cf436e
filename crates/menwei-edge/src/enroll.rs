//! `POST /enroll?resident=ID`: enrolment of a resident's face over HTTP, from the gate's
//! enrolment station.
//!
//! Enrolment is rare, so the face models are opened on the first request and kept; the
//! register is opened for each. A success bumps the register generation so the inference
//! thread reloads the templates. The photo is never kept: only the sealed template is.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use menwei_vision::embed::FaceEmbedder;
use menwei_vision::face::FaceDetector;
use serde_json::json;

use crate::config::{EdgeConfig, RegisterPaths};
use crate::http::EnrollFn;
use crate::tools::ModelPaths;

/// The bearer token and the handler, when the config enables enrolment.
pub fn endpoint(cfg: &EdgeConfig, generation: Arc<AtomicU64>) -> Result<Option<(String, Arc<EnrollFn>)>> {
    let Some(token_file) = &cfg.enroll_token_file else { return Ok(None) };
    let token = read_token(token_file)?;
    let station = Station {
        paths: ModelPaths {
            onnxruntime: cfg.onnxruntime.clone(),
            manifest: cfg.models_manifest.clone(),
            dir: cfg.models_dir.clone(),
            face_detector: cfg.face_detector.clone(),
            face_embedder: cfg.face_embedder.clone(),
            face_input: 640,
            plate_readers: Vec::new(),
            plate_max_side: crate::config::defaults::PLATE_MAX_SIDE,
            plate_upscale: crate::config::defaults::PLATE_UPSCALE,
            plate_home: Default::default(),
            opts: menwei_vision::SessionOptions { intra_threads: 1, spinning: false, provider: cfg.provider },
        },
        register: cfg.register.clone().context("enrolment needs a [register]")?,
        models: Mutex::new(None),
        generation,
    };
    let f = move |resident: &str, body: &[u8]| -> (u16, String) {
        station.enroll(resident, body).unwrap_or_else(|e| (500, json!({"error": format!("{e:#}")}).to_string()))
    };
    Ok(Some((token, Arc::new(f))))
}

/// Reads the enrolment bearer token, refusing a file others may read.
pub fn read_token(path: &Path) -> Result<String> {
    if let Some(mode) = menwei_register::readable_by_others(path).with_context(|| format!("{}", path.display()))? {
        anyhow::bail!("{}: mode {mode:o} lets others read the enrolment token; run `chmod 600` on it", path.display());
    }
    let token = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let token = token.trim().to_owned();
    if token.len() < 16 {
        anyhow::bail!("{}: the enrolment token must be at least 16 characters", path.display());
    }
    Ok(token)
}

struct Station {
    paths: ModelPaths,
    register: RegisterPaths,
    /// Opened on the first request.
    models: Mutex<Option<(FaceDetector, FaceEmbedder)>>,
    generation: Arc<AtomicU64>,
}

impl Station {
    /// One photo for `resident`: a status and a JSON body.
    fn enroll(&self, resident: &str, body: &[u8]) -> Result<(u16, String)> {
        let img = match image::load_from_memory(body) {
            Ok(i) => i.to_rgb8(),
            Err(e) => return Ok((400, json!({"error": format!("not a picture: {e}")}).to_string())),
        };
        let reg = menwei_register::Register::open(&self.register.path, &self.register.key_file)?;
        if reg.resident(resident)?.is_none() {
            return Ok((404, json!({"error": format!("resident `{resident}` is not in the register")}).to_string()));
        }
        let mut guard = self.models.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            *guard = Some(self.open_models()?);
        }
        let (det, emb) = guard.as_mut().expect("models opened");
        let outcome = match crate::tools::enroll_image(det, emb, &reg, resident, &img) {
            Ok(o) => o,
            Err(e) => return Ok((422, json!({"result": "refused", "reason": format!("{e:#}")}).to_string())),
        };
        let code = if outcome.result == "enrolled" {
            self.generation.fetch_add(1, Ordering::SeqCst);
            200
        } else {
            422
        };
        Ok((code, serde_json::to_string(&outcome)?))
    }

    fn open_models(&self) -> Result<(FaceDetector, FaceEmbedder)> {
        let p = &self.paths;
        let rt = menwei_vision::Runtime::init(p.onnxruntime.as_deref())?;
        let store = menwei_vision::ModelStore::open(&p.manifest, &p.dir)?;
        let det = FaceDetector::open(&rt, &store.verify(&p.face_detector)?, &p.opts, 640, 0.5)?;
        let emb = FaceEmbedder::new(&rt, &store.verify(&p.face_embedder)?, &p.opts)?;
        Ok((det, emb))
    }
}
