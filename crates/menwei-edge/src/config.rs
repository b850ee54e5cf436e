//! `edge.toml`: raw serde structs that reject unknown keys, validated into typed config.
//!
//! Validation collects every problem, each with its key path (`cameras[1].detect_fps`), so an
//! installer fixes a file in one pass. Relative paths are resolved against the directory of
//! the config file, never the working directory. Settings under `[defaults]` are inherited by
//! every camera, which may override them.

mod matching;
pub use matching::Matching;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use menwei_capture::{CameraConfig, Decode, SourceUrl};
use serde::Deserialize;

pub mod raw {
    //! The file as written. Every table denies unknown keys.
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct EdgeFile {
        pub compound_id: String,
        #[serde(default)]
        pub log: RawLog,
        #[serde(default)]
        pub runtime: Runtime,
        pub models: Models,
        #[serde(default)]
        pub defaults: CameraSettings,
        #[serde(default)]
        pub cameras: Vec<Camera>,
        pub register: Option<Register>,
        pub broker: Option<Broker>,
        pub outbox: Option<OutboxTable>,
        pub http: Option<Http>,
        pub matching: Option<Matching>,
        pub snapshots: Option<Snapshots>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Snapshots {
        pub dir: PathBuf,
        pub keep_hours: Option<f64>,
        pub max_files: Option<i64>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Matching {
        pub face_threshold: Option<f64>,
        pub face_margin: Option<f64>,
        pub face_min_eye_distance_px: Option<f64>,
        pub face_min_detector_score: Option<f64>,
        pub face_max_pose_deg: Option<f64>,
        pub face_min_sharpness: Option<f64>,
        pub face_min_brightness: Option<f64>,
        pub plate_max_distance: Option<f64>,
        pub plate_home_provinces: Option<Vec<String>>,
        pub plate_home_prefixes: Option<Vec<String>>,
        pub plate_home_weight: Option<f64>,
        pub retrigger_secs: Option<f64>,
        pub stranger_repeat: Option<i64>,
        pub stranger_window_hours: Option<f64>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Broker {
        pub url: String,
        pub client_id: Option<String>,
        pub username: Option<String>,
        pub password: Option<String>,
        pub ca_file: Option<PathBuf>,
        pub cert_file: Option<PathBuf>,
        pub key_file: Option<PathBuf>,
        pub keep_alive_secs: Option<i64>,
        pub window: Option<i64>,
        pub heartbeat_secs: Option<i64>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct OutboxTable {
        pub path: PathBuf,
        pub max_access: Option<i64>,
        pub max_security: Option<i64>,
        pub max_health: Option<i64>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Http {
        pub listen: String,
        pub enroll_token_file: Option<PathBuf>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Register {
        pub path: PathBuf,
        pub key_file: PathBuf,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Runtime {
        pub onnxruntime: Option<PathBuf>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Models {
        pub dir: PathBuf,
        pub manifest: Option<PathBuf>,
        pub face_detector: Option<String>,
        pub face_embedder: Option<String>,
        pub intra_threads: Option<i64>,
        pub spinning: Option<bool>,
        pub plate_max_side: Option<i64>,
        pub plate_upscale: Option<f64>,
        pub execution_provider: Option<String>,
    }

    /// Per-camera settings; also the shape of `[defaults]`.
    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct CameraSettings {
        pub detect_fps: Option<f64>,
        pub face_score_threshold: Option<f64>,
        pub watchdog_secs: Option<f64>,
        pub rtsp_transport: Option<String>,
        pub rtsp_latency_ms: Option<i64>,
        pub scale_width: Option<i64>,
        pub decode: Option<String>,
        pub decode_threads: Option<i64>,
        pub gate: Option<String>,
        pub role: Option<String>,
        pub direction: Option<String>,
        /// Polygons in picture fractions (0 to 1): only detections centred in one count.
        pub zones: Option<Vec<Vec<[f64; 2]>>>,
        pub motion_gating: Option<bool>,
        pub idle_check_secs: Option<f64>,
        pub idle_keyframes_only: Option<bool>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Camera {
        pub id: String,
        pub url: String,
        /// A low-resolution stream of the same camera to detect on; `url` is then read only
        /// for recognition crops.
        pub detect_url: Option<String>,
        #[serde(default, rename = "loop")]
        pub looping: bool,
        #[serde(flatten)]
        pub settings: CameraSettings,
    }
}

pub mod defaults {
    //! Every default of `edge.toml`, in one place (docs/ref/config.md lists them).
    use std::time::Duration;

    /// ONNX Runtime logs every graph transformation at INFO: keep it to warnings by default.
    pub const LOG_FILTER: &str = "info,ort=warn";
    pub const FACE_DETECTOR: &str = "scrfd_500m";
    pub const FACE_EMBEDDER: &str = "w600k_mbf";
    pub const INTRA_THREADS: i64 = 1;
    /// The plate detector's input, longest side (see docs/design/vision.md for the cost).
    pub const PLATE_MAX_SIDE: u32 = 1600;
    pub const PLATE_UPSCALE: f32 = 2.0;
    pub const DETECT_FPS: f64 = 5.0;
    pub const FACE_SCORE_THRESHOLD: f64 = 0.5;
    pub const ROLE: &str = "face";
    /// How often a motion-gated camera's models see the whole frame, motion or not. A whole
    /// look costs a camera about a frame's full analysis (110 CPU-ms at 720p on the development
    /// box), so at 10 s an idle 720p camera at 10 frames/s costs about a third more than its
    /// decode (docs/design/performance.md).
    pub const IDLE_CHECK_SECS: f64 = 10.0;
    /// The capture crate's defaults, which `CameraConfig::new` uses too.
    pub const WATCHDOG: Duration = menwei_capture::DEFAULT_WATCHDOG;
    pub const RTSP_LATENCY: Duration = menwei_capture::DEFAULT_RTSP_LATENCY;
    pub const DECODE_THREADS: u32 = menwei_capture::DEFAULT_DECODE_THREADS;
    pub const SNAPSHOT_KEEP_HOURS: f64 = 72.0;
    pub const SNAPSHOT_MAX_FILES: i64 = 10_000;
}

/// The default log filter.
pub const DEFAULT_LOG_FILTER: &str = defaults::LOG_FILTER;
/// The default idle check.
pub const DEFAULT_IDLE_CHECK_SECS: f64 = defaults::IDLE_CHECK_SECS;

/// The validated config.
#[derive(Clone, Debug)]
pub struct EdgeConfig {
    pub compound_id: String,
    pub log_format: LogFormat,
    pub log_filter: String,
    /// The ONNX Runtime library, when the config names one.
    pub onnxruntime: Option<PathBuf>,
    pub models_dir: PathBuf,
    pub models_manifest: PathBuf,
    pub face_detector: String,
    /// The face embedder's model (`w600k_mbf` or `dlib_resnet`).
    pub face_embedder: String,
    pub intra_threads: usize,
    pub spinning: bool,
    /// The plate detector's input: the longest side it letterboxes a picture into, and how far
    /// it may scale a small picture up.
    pub plate_max_side: u32,
    pub plate_upscale: f32,
    pub provider: menwei_vision::Provider,
    pub cameras: Vec<Camera>,
    /// The register file and its template key (checked when the register is opened).
    pub register: Option<RegisterPaths>,
    /// Where events go: the MQTT broker (with the outbox they are committed to first).
    pub broker: Option<crate::relay::BrokerConfig>,
    pub outbox: Option<OutboxSettings>,
    /// `/metrics`, `/healthz`, `/readyz`.
    pub http: Option<std::net::SocketAddr>,
    /// A file holding the bearer token of `POST /enroll`; without it the endpoint is off.
    pub enroll_token_file: Option<PathBuf>,
    pub matching: Matching,
    /// Pictures behind access and security events, kept on the box.
    pub snapshots: Option<crate::snapshots::SnapshotSettings>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct OutboxSettings {
    pub path: PathBuf,
    pub limits: menwei_outbox::Limits,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisterPaths {
    pub path: PathBuf,
    pub key_file: PathBuf,
}

/// The id suffix of a camera's main stream when it detects on a `detect_url`, in metrics and
/// camera states: `north-1-main`.
pub const MAIN_SUFFIX: &str = "-main";
/// The width a main stream's RGB frame is scaled to: only its full-resolution picture is read.
pub const MAIN_THUMBNAIL_WIDTH: u32 = 64;

/// A camera with its inherited settings resolved.
#[derive(Clone, Debug)]
pub struct Camera {
    /// The stream the models detect on: `detect_url` when the camera names one, else `url`.
    pub capture: CameraConfig,
    /// With `detect_url`: the camera's main stream (`url`), decoded for recognition crops.
    pub main: Option<CameraConfig>,
    pub detect_fps: f64,
    pub face_score_threshold: f32,
    /// The gate the camera watches, as events name it.
    pub gate: Option<String>,
    /// What the camera looks for.
    pub faces: bool,
    pub plates: bool,
    pub direction: Option<menwei_core::event::Direction>,
    /// Polygons in picture fractions; empty: the whole picture.
    pub zones: Vec<Vec<menwei_core::geom::Point>>,
    /// Run the models only on frames with motion, plus one frame every `idle_check`.
    pub motion_gating: bool,
    pub idle_check: Duration,
}

impl Camera {
    /// Whether a detection centred at `center` (frame pixels) in a `w` x `h` frame is in a zone.
    pub fn in_zone(&self, center: menwei_core::geom::Point, w: u32, h: u32) -> bool {
        let p = menwei_core::geom::Point { x: center.x / w.max(1) as f32, y: center.y / h.max(1) as f32 };
        self.zones.is_empty() || self.zones.iter().any(|z| menwei_core::geom::point_in_polygon(p, z))
    }
}

pub use menwei_core::config::{ConfigErrors, Issue, LogFormat};
use menwei_core::config::{Issues, RawLog, parse_toml};

/// Ids become MQTT topic segments and metric labels: keep them to a safe alphabet.
fn check_id(issues: &mut Issues, key: &str, id: &str) {
    if id.is_empty() || id.len() > 64 {
        issues.add(key, "must be 1 to 64 characters");
    } else if !id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_') {
        issues.add(key, format!("`{id}` may use only a-z, 0-9, `-` and `_`"));
    }
}

/// Reads and validates `path`.
pub fn load(path: &Path) -> Result<EdgeConfig, ConfigErrors> {
    let text =
        std::fs::read_to_string(path).map_err(|e| ConfigErrors::one(path, "(file)", format!("cannot read: {e}")))?;
    parse(&text, path)
}

/// Validates `text` as if read from `path` (which anchors relative paths).
pub fn parse(text: &str, path: &Path) -> Result<EdgeConfig, ConfigErrors> {
    let raw: raw::EdgeFile = parse_toml(text, path)?;
    let base = path.parent().map(Path::to_owned).unwrap_or_default();
    let resolve = |p: &Path| {
        if p.is_absolute() { p.to_owned() } else { base.join(p) }
    };
    let mut issues = Issues::default();

    check_id(&mut issues, "compound_id", &raw.compound_id);
    let log_format = raw.log.format(&mut issues);
    let log_filter = raw.log.filter.clone().unwrap_or_else(|| defaults::LOG_FILTER.into());
    if let Err(e) = log_filter.parse::<tracing_subscriber::EnvFilter>() {
        issues.add("log.filter", format!("invalid filter: {e}"));
    }
    let models = models(&raw.models, &resolve, &mut issues);
    let cameras = cameras(&raw, &resolve, &mut issues);
    let broker = raw.broker.as_ref().and_then(|b| broker(b, &raw.compound_id, &resolve, &mut issues));
    let outbox = raw.outbox.as_ref().map(|o| outbox(o, &resolve, &mut issues));
    if broker.is_some() && outbox.is_none() {
        issues.add("outbox", "a [broker] needs an [outbox]: events are committed there before they are published");
    }
    let (http, enroll_token_file) = match &raw.http {
        Some(h) => http(h, raw.register.is_some(), &resolve, &mut issues),
        None => (None, None),
    };
    let embedder = menwei_vision::embed::EmbedderKind::from_model(&models.face_embedder)
        .unwrap_or(menwei_vision::embed::EmbedderKind::W600kMbf);
    let matching = raw
        .matching
        .as_ref()
        .map_or_else(|| Matching::for_embedder(embedder), |m| matching::validate(m, embedder, &mut issues));
    let snapshots = raw.snapshots.as_ref().map(|sn| snapshots(sn, &resolve, &mut issues));

    issues.finish(path)?;
    Ok(EdgeConfig {
        compound_id: raw.compound_id,
        log_format,
        log_filter,
        onnxruntime: raw.runtime.onnxruntime.as_deref().map(resolve),
        models_dir: models.dir,
        models_manifest: models.manifest,
        face_detector: models.face_detector,
        face_embedder: models.face_embedder,
        intra_threads: models.intra_threads,
        spinning: raw.models.spinning.unwrap_or(false),
        plate_max_side: models.plate_max_side,
        plate_upscale: models.plate_upscale,
        provider: models.provider,
        cameras,
        register: raw
            .register
            .as_ref()
            .map(|r| RegisterPaths { path: resolve(&r.path), key_file: resolve(&r.key_file) }),
        broker,
        outbox,
        http,
        enroll_token_file,
        matching,
        snapshots,
    })
}

/// `[models]`, validated.
struct ModelSettings {
    dir: PathBuf,
    manifest: PathBuf,
    face_detector: String,
    face_embedder: String,
    intra_threads: usize,
    plate_max_side: u32,
    plate_upscale: f32,
    provider: menwei_vision::Provider,
}

fn models(m: &raw::Models, resolve: &dyn Fn(&Path) -> PathBuf, issues: &mut Issues) -> ModelSettings {
    let dir = resolve(&m.dir);
    if !dir.is_dir() {
        issues.add("models.dir", format!("{} is not a directory", dir.display()));
    }
    let manifest = m.manifest.as_deref().map_or_else(|| dir.join("models.toml"), resolve);
    let face_detector = m.face_detector.clone().unwrap_or_else(|| defaults::FACE_DETECTOR.into());
    let face_embedder = m.face_embedder.clone().unwrap_or_else(|| defaults::FACE_EMBEDDER.into());
    match menwei_vision::ModelStore::open(&manifest, &dir) {
        Ok(store) => {
            match store.entry(&face_detector) {
                Err(e) => issues.add("models.face_detector", e.to_string()),
                Ok(e) if !matches!(e.task, menwei_vision::Task::FaceDetection) => {
                    issues.add("models.face_detector", format!("`{face_detector}` is not a face-detection model"))
                }
                Ok(_) => {}
            }
            let known = menwei_vision::embed::EmbedderKind::ALL.map(|k| k.model()).join(", ");
            match store.entry(&face_embedder) {
                Err(e) => issues.add("models.face_embedder", e.to_string()),
                Ok(_) if menwei_vision::embed::EmbedderKind::from_model(&face_embedder).is_none() => issues.add(
                    "models.face_embedder",
                    format!("`{face_embedder}` is not a face embedder menwei runs ({known})"),
                ),
                Ok(_) => {}
            }
        }
        Err(e) => issues.add("models.manifest", e.to_string()),
    }
    let intra_threads = m.intra_threads.unwrap_or(defaults::INTRA_THREADS);
    issues.range("models.intra_threads", intra_threads, 1..=64);
    let plate_max_side = m.plate_max_side.unwrap_or(i64::from(defaults::PLATE_MAX_SIDE));
    if !(320..=3200).contains(&plate_max_side) || plate_max_side % 32 != 0 {
        issues.add("models.plate_max_side", format!("{plate_max_side} is not a multiple of 32 from 320 to 3200"));
    }
    let plate_upscale = m.plate_upscale.unwrap_or(f64::from(defaults::PLATE_UPSCALE));
    issues.range("models.plate_upscale", plate_upscale, 1.0..=4.0);
    let provider = match m.execution_provider.as_deref() {
        None => menwei_vision::Provider::Cpu,
        Some(p) => menwei_vision::Provider::parse(p).unwrap_or_else(|| {
            issues
                .add("models.execution_provider", format!("`{p}` is not one of {}", menwei_vision::Provider::CHOICES));
            menwei_vision::Provider::Cpu
        }),
    };
    ModelSettings {
        dir,
        manifest,
        face_detector,
        face_embedder,
        intra_threads: intra_threads.clamp(1, 64) as usize,
        plate_max_side: plate_max_side.clamp(320, 3200) as u32,
        plate_upscale: plate_upscale as f32,
        provider,
    }
}

/// `[[cameras]]` with `[defaults]`; ids unique.
fn cameras(raw: &raw::EdgeFile, resolve: &dyn Fn(&Path) -> PathBuf, issues: &mut Issues) -> Vec<Camera> {
    if raw.cameras.is_empty() {
        issues.add("cameras", "at least one [[cameras]] entry is needed");
    }
    let mut seen = HashSet::new();
    let mut cameras = Vec::new();
    for (i, c) in raw.cameras.iter().enumerate() {
        let key = format!("cameras[{i}].id");
        check_id(issues, &key, &c.id);
        if !seen.insert(c.id.as_str()) {
            issues.add(key, format!("`{}` is used by an earlier camera", c.id));
        }
        let pick = Pick { i, own: &c.settings, defaults: &raw.defaults };
        let url = camera_url(&c.url, &format!("cameras[{i}].url"), resolve, issues);
        let detect_url =
            c.detect_url.as_ref().map(|d| camera_url(d, &format!("cameras[{i}].detect_url"), resolve, issues));
        let capture = capture_settings(&pick, issues);
        let camera = camera(&pick, issues);
        match (url, detect_url) {
            (Some(url), None) => {
                let mut cap = CameraConfig::new(&c.id, url);
                cap.looping = c.looping;
                capture.apply(&mut cap);
                cameras.push(Camera { capture: cap, ..camera });
            }
            (Some(main_url), Some(Some(detect_url))) => {
                let mut cap = CameraConfig::new(&c.id, detect_url);
                cap.looping = c.looping;
                capture.apply(&mut cap);
                let mut main = cap.clone();
                main.id = format!("{}{MAIN_SUFFIX}", c.id).into();
                main.url = main_url;
                // Only the full-resolution YUV picture is used: the RGB frame is a thumbnail,
                // and the stream is decoded in full only while something moves.
                main.scale_width = Some(MAIN_THUMBNAIL_WIDTH);
                main.idle_keyframes_only = true;
                cameras.push(Camera { capture: cap, main: Some(main), ..camera });
            }
            _ => {}
        }
    }
    cameras
}

/// A camera's setting: its own, else the default; the key path names where it came from.
struct Pick<'a> {
    i: usize,
    own: &'a raw::CameraSettings,
    defaults: &'a raw::CameraSettings,
}

impl Pick<'_> {
    fn get<T: Clone>(&self, name: &str, f: impl Fn(&raw::CameraSettings) -> &Option<T>) -> (Option<T>, String) {
        match (f(self.own), f(self.defaults)) {
            (Some(v), _) => (Some(v.clone()), format!("cameras[{}].{name}", self.i)),
            (None, v) => (v.clone(), format!("defaults.{name}")),
        }
    }
}

fn camera_url(url: &str, key: &str, resolve: &dyn Fn(&Path) -> PathBuf, issues: &mut Issues) -> Option<SourceUrl> {
    match SourceUrl::parse(url) {
        Ok(SourceUrl::File(p)) => {
            let p = resolve(&p);
            if !p.is_file() {
                issues.add(key, format!("file {} does not exist", p.display()));
            }
            Some(SourceUrl::File(p))
        }
        Ok(u) => Some(u),
        Err(e) => {
            issues.add(key, e.to_string());
            None
        }
    }
}

/// What the capture crate takes from a camera's settings.
struct CaptureSettings {
    watchdog: f64,
    rtsp_tcp: bool,
    latency_ms: i64,
    scale_width: Option<i64>,
    decode: Decode,
    decode_threads: i64,
    idle_keyframes_only: bool,
}

impl CaptureSettings {
    fn apply(self, cap: &mut CameraConfig) {
        cap.decode = self.decode;
        cap.decode_threads = self.decode_threads.clamp(1, 16) as u32;
        cap.watchdog = Duration::from_secs_f64(self.watchdog.clamp(1.0, 3600.0));
        cap.rtsp_tcp = self.rtsp_tcp;
        cap.rtsp_latency = Duration::from_millis(self.latency_ms.clamp(0, 10_000) as u64);
        cap.scale_width = self.scale_width.map(|w| w as u32);
        cap.idle_keyframes_only = self.idle_keyframes_only;
    }
}

fn capture_settings(pick: &Pick<'_>, issues: &mut Issues) -> CaptureSettings {
    let (wd, wd_key) = pick.get("watchdog_secs", |s| &s.watchdog_secs);
    let watchdog = wd.unwrap_or(defaults::WATCHDOG.as_secs_f64());
    issues.range_in(&wd_key, watchdog, 1.0..=3600.0, "s");
    let (tr, tr_key) = pick.get("rtsp_transport", |s| &s.rtsp_transport);
    let rtsp_tcp = match tr.as_deref().unwrap_or("tcp") {
        "tcp" => true,
        "udp" => false,
        other => {
            issues.add(tr_key, format!("`{other}` is not one of tcp, udp"));
            true
        }
    };
    let (lat, lat_key) = pick.get("rtsp_latency_ms", |s| &s.rtsp_latency_ms);
    let latency_ms = lat.unwrap_or(defaults::RTSP_LATENCY.as_millis() as i64);
    issues.range_in(&lat_key, latency_ms, 0..=10_000, "ms");
    let (sw, sw_key) = pick.get("scale_width", |s| &s.scale_width);
    if let Some(w) = sw.filter(|w| !(32..=7680).contains(w) || w % 2 != 0) {
        issues.add(sw_key, format!("{w} is not an even width between 32 and 7680"));
    }
    let (dec, dec_key) = pick.get("decode", |s| &s.decode);
    let decode = match dec.as_deref() {
        None => Decode::Software,
        Some(d) => Decode::parse(d).unwrap_or_else(|| {
            issues.add(dec_key, format!("`{d}` is not one of {}", Decode::CHOICES));
            Decode::Software
        }),
    };
    let (dt, dt_key) = pick.get("decode_threads", |s| &s.decode_threads);
    let decode_threads = dt.unwrap_or(i64::from(defaults::DECODE_THREADS));
    issues.range(&dt_key, decode_threads, 1..=16);
    let (mg, _) = pick.get("motion_gating", |s| &s.motion_gating);
    let (kf, kf_key) = pick.get("idle_keyframes_only", |s| &s.idle_keyframes_only);
    let idle_keyframes_only = kf.unwrap_or(false);
    // motion_gating is on unless the camera (or [defaults]) turns it off.
    if idle_keyframes_only && !mg.unwrap_or(true) {
        issues.add(kf_key, "needs motion_gating = true: idleness is what the motion gate decides");
    }
    CaptureSettings { watchdog, rtsp_tcp, latency_ms, scale_width: sw, decode, decode_threads, idle_keyframes_only }
}

/// What the pipeline takes from a camera's settings (its capture config is filled in after).
fn camera(pick: &Pick<'_>, issues: &mut Issues) -> Camera {
    let (fps, fps_key) = pick.get("detect_fps", |s| &s.detect_fps);
    let detect_fps = fps.unwrap_or(defaults::DETECT_FPS);
    if !(detect_fps > 0.0 && detect_fps <= 60.0) {
        issues.add(fps_key, format!("{detect_fps} is not in (0, 60]"));
    }
    let (thr, thr_key) = pick.get("face_score_threshold", |s| &s.face_score_threshold);
    let face_score_threshold = thr.unwrap_or(defaults::FACE_SCORE_THRESHOLD);
    if !(face_score_threshold > 0.0 && face_score_threshold < 1.0) {
        issues.add(thr_key, format!("{face_score_threshold} is not in (0, 1)"));
    }
    let (gate, _) = pick.get("gate", |s| &s.gate);
    let (role, role_key) = pick.get("role", |s| &s.role);
    let role = role.unwrap_or_else(|| defaults::ROLE.to_owned());
    if !["face", "plate", "both"].contains(&role.as_str()) {
        issues.add(role_key, format!("`{role}` is not one of face, plate, both"));
    }
    let (zones, zones_key) = pick.get("zones", |s| &s.zones);
    let zones = self::zones(&zones.unwrap_or_default(), &zones_key, issues);
    let (mg, _) = pick.get("motion_gating", |s| &s.motion_gating);
    let (idle, idle_key) = pick.get("idle_check_secs", |s| &s.idle_check_secs);
    let idle = idle.unwrap_or(defaults::IDLE_CHECK_SECS);
    issues.range_in(&idle_key, idle, 0.1..=3600.0, "s");
    let (dir, dir_key) = pick.get("direction", |s| &s.direction);
    let direction = match dir.as_deref() {
        None => None,
        Some("entry") => Some(menwei_core::event::Direction::Entry),
        Some("exit") => Some(menwei_core::event::Direction::Exit),
        Some("both") => Some(menwei_core::event::Direction::Both),
        Some(d) => {
            issues.add(dir_key, format!("`{d}` is not one of entry, exit, both"));
            None
        }
    };
    Camera {
        capture: CameraConfig::new("-", SourceUrl::File(PathBuf::new())),
        main: None,
        detect_fps,
        face_score_threshold: face_score_threshold as f32,
        gate,
        faces: role != "plate",
        plates: role != "face",
        direction,
        zones,
        motion_gating: mg.unwrap_or(true),
        idle_check: Duration::from_secs_f64(idle.clamp(0.1, 3600.0)),
    }
}

fn zones(raw: &[Vec<[f64; 2]>], key: &str, issues: &mut Issues) -> Vec<Vec<menwei_core::geom::Point>> {
    let mut zones = Vec::new();
    for (z, poly) in raw.iter().enumerate() {
        if poly.len() < 3 || poly.iter().flatten().any(|v| !(0.0..=1.0).contains(v)) {
            issues.add(
                format!("{key}[{z}]"),
                "a zone is at least 3 [x, y] points, each a fraction of the picture from 0 to 1",
            );
        } else {
            zones.push(poly.iter().map(|[x, y]| menwei_core::geom::Point { x: *x as f32, y: *y as f32 }).collect());
        }
    }
    zones
}

fn outbox(o: &raw::OutboxTable, resolve: &dyn Fn(&Path) -> PathBuf, issues: &mut Issues) -> OutboxSettings {
    let mut limits = menwei_outbox::Limits::default();
    for (key, class, v) in [
        ("outbox.max_access", menwei_core::event::EventClass::Access, o.max_access),
        ("outbox.max_security", menwei_core::event::EventClass::Security, o.max_security),
        ("outbox.max_health", menwei_core::event::EventClass::Health, o.max_health),
    ] {
        match v {
            Some(n) if n < 1 => issues.add(key, format!("{n} is not a positive number of events")),
            Some(n) => {
                limits.per_class.insert(class, n as u64);
            }
            None => {}
        }
    }
    OutboxSettings { path: resolve(&o.path), limits }
}

/// `[http]`: the listen address and the enrolment token file.
fn http(
    h: &raw::Http,
    has_register: bool,
    resolve: &dyn Fn(&Path) -> PathBuf,
    issues: &mut Issues,
) -> (Option<std::net::SocketAddr>, Option<PathBuf>) {
    let listen = match h.listen.parse::<std::net::SocketAddr>() {
        Ok(a) => Some(a),
        Err(_) => {
            issues.add("http.listen", format!("`{}` is not an address:port such as 127.0.0.1:9464", h.listen));
            None
        }
    };
    let token = h.enroll_token_file.as_deref().map(resolve);
    if token.is_some() && !has_register {
        issues.add("http.enroll_token_file", "enrolment needs a [register]");
    }
    (listen, token)
}

fn snapshots(
    sn: &raw::Snapshots,
    resolve: &dyn Fn(&Path) -> PathBuf,
    issues: &mut Issues,
) -> crate::snapshots::SnapshotSettings {
    let keep_hours = sn.keep_hours.unwrap_or(defaults::SNAPSHOT_KEEP_HOURS);
    if !(keep_hours > 0.0 && keep_hours <= 24.0 * 365.0) {
        issues.add("snapshots.keep_hours", format!("{keep_hours} is not in (0, 8760]"));
    }
    let max_files = sn.max_files.unwrap_or(defaults::SNAPSHOT_MAX_FILES);
    issues.range("snapshots.max_files", max_files, 1..=10_000_000);
    crate::snapshots::SnapshotSettings {
        dir: resolve(&sn.dir),
        keep: Duration::from_secs_f64(keep_hours.clamp(0.001, 8760.0) * 3600.0),
        max_files: max_files.clamp(1, 10_000_000) as usize,
    }
}

/// `[broker]`: `mqtt://host:port` or `mqtts://host:port` (TLS needs `ca_file`; mutual TLS adds
/// `cert_file` and `key_file`); `${VAR}` in the credentials is taken from the environment.
fn broker(
    b: &raw::Broker,
    compound: &str,
    resolve: &dyn Fn(&Path) -> PathBuf,
    issues: &mut Issues,
) -> Option<crate::relay::BrokerConfig> {
    let endpoint = menwei_mqtt::endpoint(
        menwei_mqtt::BrokerKeys {
            url: &b.url,
            username: b.username.as_deref(),
            password: b.password.as_deref(),
            ca_file: b.ca_file.as_deref(),
            cert_file: b.cert_file.as_deref(),
            key_file: b.key_file.as_deref(),
        },
        resolve,
        issues,
    )?;
    let mut cfg = crate::relay::BrokerConfig::new(
        &endpoint.host,
        endpoint.port,
        b.client_id.as_deref().unwrap_or(&format!("menwei-edge-{compound}")),
    );
    cfg.endpoint = endpoint;
    if let Some(k) = b.keep_alive_secs
        && issues.range("broker.keep_alive_secs", k, 5..=3600)
    {
        cfg.keep_alive = Duration::from_secs(k as u64);
    }
    if let Some(w) = b.window
        && issues.range("broker.window", w, 1..=65_535)
    {
        cfg.window = w as u64;
    }
    if let Some(h) = b.heartbeat_secs
        && issues.range("broker.heartbeat_secs", h, 1..=3600)
    {
        cfg.heartbeat_every = Duration::from_secs(h as u64);
    }
    Some(cfg)
}
