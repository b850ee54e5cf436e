//! Finding and loading the ONNX Runtime shared library, and building sessions.
//!
//! ONNX Runtime is loaded at run time (`ort`'s `load-dynamic`), never downloaded at build time:
//! the set-up takes the library out of the PyPI `onnxruntime` wheel. The library is looked for,
//! in order, at the path the config names, `$MENWEI_ORT_DYLIB`, `$ORT_DYLIB_PATH`, beside the
//! executable, in the checkout's `var/onnxruntime/<arch>/` (a cross build's, `scripts/build-aarch64`)
//! and `var/onnxruntime/` (where `scripts/setup` puts this machine's) and in
//! `/usr/lib/menwei/`. The first that exists is used; an explicit config path that does not
//! exist is an error rather than a fall-through, so a typo is not silently papered over.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::environment::Environment;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use thiserror::Error;

use crate::manifest::VerifiedModel;

const LIB_NAME: &str = "libonnxruntime.so";

#[derive(Debug, Error)]
pub enum RuntimeError {
    #[error(
        "ONNX Runtime library not found (looked at: {tried}); run `scripts/setup`, or set MENWEI_ORT_DYLIB to the path of libonnxruntime.so (1.31.x)"
    )]
    NotFound { tried: String },
    #[error(
        "ONNX Runtime library {path}, named by {by}, does not exist; run `scripts/setup` (it puts 1.31.x in var/onnxruntime/) or correct the path"
    )]
    ExplicitMissing { path: PathBuf, by: &'static str },
    #[error("cannot load ONNX Runtime from {path} (menwei needs 1.31.x): {message}")]
    Load { path: PathBuf, message: String },
    #[error("ONNX Runtime was already loaded from {loaded}; cannot switch to {requested} in the same process")]
    AlreadyLoaded { loaded: PathBuf, requested: PathBuf },
    #[error("cannot create the ONNX Runtime environment: {0}")]
    Environment(ort::Error),
}

/// Where to look for the library, in order, with what named each place.
pub fn candidates(explicit: Option<&Path>) -> Vec<(PathBuf, &'static str)> {
    let mut out = Vec::new();
    if let Some(p) = explicit {
        out.push((p.to_owned(), "the config"));
    }
    for var in ["MENWEI_ORT_DYLIB", "ORT_DYLIB_PATH"] {
        if let Some(v) = std::env::var_os(var).filter(|v| !v.is_empty()) {
            out.push((
                PathBuf::from(v),
                if var == "MENWEI_ORT_DYLIB" { "$MENWEI_ORT_DYLIB" } else { "$ORT_DYLIB_PATH" },
            ));
        }
    }
    if let Some(dir) = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_owned)) {
        out.push((dir.join(LIB_NAME), "beside the executable"));
    }
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../var/onnxruntime");
    // A cross build's library (scripts/build-aarch64) is kept apart from the host's.
    out.push((checkout.join(std::env::consts::ARCH).join(LIB_NAME), "the checkout's var/onnxruntime/<arch>"));
    out.push((checkout.join(LIB_NAME), "the checkout's var/onnxruntime"));
    out.push((PathBuf::from("/usr/lib/menwei").join(LIB_NAME), "the system install"));
    out
}

/// Picks the library to load. Explicit choices (config, environment) must exist.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf, RuntimeError> {
    let cands = candidates(explicit);
    for (path, by) in &cands {
        if path.exists() {
            return Ok(path.clone());
        }
        if matches!(*by, "the config" | "$MENWEI_ORT_DYLIB" | "$ORT_DYLIB_PATH") {
            return Err(RuntimeError::ExplicitMissing { path: path.clone(), by });
        }
    }
    let tried = cands.iter().map(|(p, _)| p.display().to_string()).collect::<Vec<_>>().join(", ");
    Err(RuntimeError::NotFound { tried })
}

/// The process's ONNX Runtime: the library is loaded once per process, and every session
/// shares one environment.
#[derive(Clone)]
pub struct Runtime {
    env: Environment,
    library: PathBuf,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("library", &self.library).finish_non_exhaustive()
    }
}

struct RuntimeInner {
    env: Environment,
    library: PathBuf,
}

static RUNTIME: OnceLock<RuntimeInner> = OnceLock::new();
static INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl Runtime {
    /// Loads ONNX Runtime (once per process) from the first place [`locate`] finds.
    pub fn init(explicit: Option<&Path>) -> Result<Runtime, RuntimeError> {
        let path = locate(explicit)?;
        let _guard = INIT.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(inner) = RUNTIME.get() {
            if inner.library != path && explicit.is_some() {
                return Err(RuntimeError::AlreadyLoaded { loaded: inner.library.clone(), requested: path });
            }
            return Ok(Runtime { env: inner.env.clone(), library: inner.library.clone() });
        }
        let builder =
            ort::init_from(&path).map_err(|e| RuntimeError::Load { path: path.clone(), message: e.to_string() })?;
        let env = builder.with_name("menwei").with_telemetry(false).build().map_err(RuntimeError::Environment)?;
        let inner = RUNTIME.get_or_init(|| RuntimeInner { env, library: path });
        Ok(Runtime { env: inner.env.clone(), library: inner.library.clone() })
    }

    pub fn library(&self) -> &Path {
        &self.library
    }

    pub fn environment(&self) -> &Environment {
        &self.env
    }

    /// Opens a session on a verified model with menwei's session settings.
    pub fn session(&self, model: &VerifiedModel, opts: &SessionOptions) -> Result<Session, SessionError> {
        self.session_on(model, opts).map(|(s, _)| s)
    }

    /// As [`Runtime::session`], and says which execution provider it got: the one asked for,
    /// or the CPU after a warning when that one is unavailable.
    pub fn session_on(
        &self,
        model: &VerifiedModel,
        opts: &SessionOptions,
    ) -> Result<(Session, Provider), SessionError> {
        let fail =
            |source: ort::Error| SessionError { model: model.entry.name.clone(), path: model.path.clone(), source };
        // Builder errors carry the builder back (`Error<SessionBuilder>`); drop it at each step.
        let b = Session::builder(&self.env).map_err(fail)?;
        let b = b.with_optimization_level(GraphOptimizationLevel::All).map_err(|e| fail(e.into()))?;
        let b = b.with_intra_threads(opts.intra_threads.max(1)).map_err(|e| fail(e.into()))?;
        let b = b.with_inter_threads(1).map_err(|e| fail(e.into()))?;
        let b = b.with_intra_op_spinning(opts.spinning).map_err(|e| fail(e.into()))?;
        let mut b = b.with_inter_op_spinning(false).map_err(|e| fail(e.into()))?;
        let used = register_provider(&mut b, opts.provider, &model.entry.name, &self.library);
        b.commit_from_file(&model.path).map_err(fail).map(|s| (s, used))
    }
}

/// Where a model runs. The CPU is always there; the others need their cargo feature (of the
/// same name) and an ONNX Runtime library built with them. `cuda`, `tensorrt` and `openvino`
/// are for x86 boxes and NVIDIA Jetson; `acl` (Arm Compute Library), `cann` (Huawei Ascend) and
/// `xnnpack` are for ARM boxes (docs/guide/arm.md says which library has which). Arm NN is not
/// offered: ONNX Runtime removed it (its CPU provider now has Arm's KleidiAI kernels).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Provider {
    #[default]
    Cpu,
    Cuda,
    TensorRt,
    OpenVino,
    Acl,
    Cann,
    Xnnpack,
}

impl Provider {
    pub const CHOICES: &'static str = "cpu, cuda, tensorrt, openvino, acl, cann or xnnpack";

    /// Every provider but the CPU.
    pub const ACCELERATED: [Provider; 6] =
        [Provider::Cuda, Provider::TensorRt, Provider::OpenVino, Provider::Acl, Provider::Cann, Provider::Xnnpack];

    pub fn parse(s: &str) -> Option<Provider> {
        Some(match s {
            "cpu" => Provider::Cpu,
            "cuda" => Provider::Cuda,
            "tensorrt" => Provider::TensorRt,
            "openvino" => Provider::OpenVino,
            "acl" => Provider::Acl,
            "cann" => Provider::Cann,
            "xnnpack" => Provider::Xnnpack,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Provider::Cpu => "cpu",
            Provider::Cuda => "cuda",
            Provider::TensorRt => "tensorrt",
            Provider::OpenVino => "openvino",
            Provider::Acl => "acl",
            Provider::Cann => "cann",
            Provider::Xnnpack => "xnnpack",
        }
    }

    /// Whether this binary was built with the provider's cargo feature.
    pub fn compiled_in(self) -> bool {
        match self {
            Provider::Cpu => true,
            Provider::Cuda => cfg!(feature = "cuda"),
            Provider::TensorRt => cfg!(feature = "tensorrt"),
            Provider::OpenVino => cfg!(feature = "openvino"),
            Provider::Acl => cfg!(feature = "acl"),
            Provider::Cann => cfg!(feature = "cann"),
            Provider::Xnnpack => cfg!(feature = "xnnpack"),
        }
    }
}

fn register_provider(b: &mut ort::session::builder::SessionBuilder, p: Provider, model: &str, lib: &Path) -> Provider {
    if p == Provider::Cpu {
        return Provider::Cpu;
    }
    if !p.compiled_in() {
        tracing::warn!(
            model,
            "execution provider `{}` asked for, but this build lacks the `{}` cargo feature: running on the CPU",
            p.name(),
            p.name()
        );
        return Provider::Cpu;
    }
    #[cfg(not(any(
        feature = "cuda",
        feature = "tensorrt",
        feature = "openvino",
        feature = "acl",
        feature = "cann",
        feature = "xnnpack"
    )))]
    let _ = &b;
    let result: Result<bool, EpError> = match p {
        #[cfg(feature = "cuda")]
        Provider::Cuda => try_register(b, ort::ep::CUDA::default()),
        #[cfg(feature = "tensorrt")]
        Provider::TensorRt => try_register(b, ort::ep::TensorRT::default()),
        #[cfg(feature = "openvino")]
        Provider::OpenVino => try_register(b, ort::ep::OpenVINO::default()),
        #[cfg(feature = "acl")]
        Provider::Acl => try_register(b, ort::ep::ACL::default()),
        #[cfg(feature = "cann")]
        Provider::Cann => try_register(b, ort::ep::CANN::default()),
        #[cfg(feature = "xnnpack")]
        Provider::Xnnpack => try_register(b, ort::ep::XNNPACK::default()),
        _ => Ok(false),
    };
    match result {
        Ok(true) => {
            tracing::info!(model, provider = p.name(), "model runs on the execution provider");
            p
        }
        Ok(false) => {
            tracing::warn!(
                model,
                "execution provider `{}` is not in the ONNX Runtime library {} (the PyPI `onnxruntime` wheel has only \
                 the CPU): running on the CPU",
                p.name(),
                lib.display()
            );
            Provider::Cpu
        }
        Err(e) => {
            tracing::warn!(model, "execution provider `{}` failed to start ({e}): running on the CPU", p.name());
            Provider::Cpu
        }
    }
}

/// Why an execution provider that ONNX Runtime has could not be registered (ONNX Runtime's own
/// error, kept as its source).
type EpError = Box<dyn std::error::Error + Send + Sync>;

#[allow(dead_code)]
fn try_register<E: ort::ep::ExecutionProvider>(
    b: &mut ort::session::builder::SessionBuilder,
    ep: E,
) -> Result<bool, EpError> {
    match E::is_available() {
        Ok(true) => ep.register(b).map(|()| true).map_err(EpError::from),
        Ok(false) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// How each session runs. Spinning is off by default: a daemon that runs models at a paced
/// rate burns several times the CPU with spinning threads (measured 51 vs 12 CPU-ms per
/// inference at 10 inferences/s on two threads).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionOptions {
    pub intra_threads: usize,
    pub spinning: bool,
    pub provider: Provider,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self { intra_threads: 1, spinning: false, provider: Provider::Cpu }
    }
}

#[derive(Debug, Error)]
#[error("cannot open model `{model}` ({path}): {source}")]
pub struct SessionError {
    pub model: String,
    pub path: PathBuf,
    pub source: ort::Error,
}
