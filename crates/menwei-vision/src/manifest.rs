//! The model manifest (`models/models.toml`) and the checks made before a model is loaded.
//!
//! A model file is trusted only when its sha256 matches the manifest: a truncated download or a
//! swapped file is refused by name, with the command that fetches it again.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};
use thiserror::Error;

/// What an operator runs to repair a missing or damaged model.
pub const FETCH_HINT: &str = "run `scripts/setup` (or `python3 scripts/fetch.py --only models`) to fetch it again";

/// The task a model performs; it decides the pre- and post-processing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Task {
    FaceDetection,
    FaceEmbedding,
    PlateDetection,
    PlateReading,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub onnxruntime: OnnxRuntime,
    #[serde(rename = "model")]
    pub models: Vec<ModelEntry>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnnxRuntime {
    pub version: String,
    pub build: Vec<OnnxRuntimeBuild>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnnxRuntimeBuild {
    pub arch: String,
    pub package: String,
    pub platform: String,
    pub member: String,
    pub file: String,
    pub sha256: String,
    pub licence: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    pub name: String,
    pub task: Task,
    pub file: String,
    pub sha256: String,
    pub licence: String,
    pub source: Source,
    #[serde(default)]
    pub transform: Option<String>,
    pub tensors: String,
    #[serde(default, rename = "companion")]
    pub companions: Vec<Companion>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub package: String,
    pub version: String,
    /// `wheel` (the default) or `sdist`.
    #[serde(default)]
    pub dist: Option<String>,
    pub member: String,
    #[serde(default)]
    pub sha256: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Companion {
    pub file: String,
    pub sha256: String,
    pub member: String,
}

#[derive(Debug, Error)]
pub enum ManifestError {
    #[error("cannot read model manifest {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("model manifest {path} is malformed: {source}")]
    Parse { path: PathBuf, source: toml::de::Error },
    #[error("model `{name}` is not in the manifest {manifest} (known: {known})")]
    UnknownModel { name: String, manifest: PathBuf, known: String },
    #[error("model file {path} is missing: {FETCH_HINT}")]
    Missing { path: PathBuf },
    #[error("cannot read model file {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(
        "model file {path} is damaged or not the expected file (sha256 {actual}, expected {expected}): {FETCH_HINT}"
    )]
    Mismatch { path: PathBuf, expected: String, actual: String },
}

/// A manifest and the directory its files live in.
#[derive(Clone, Debug)]
pub struct ModelStore {
    manifest_path: PathBuf,
    dir: PathBuf,
    manifest: Manifest,
}

/// A model whose file (and companions) matched the manifest when it was checked.
#[derive(Clone, Debug)]
pub struct VerifiedModel {
    pub entry: ModelEntry,
    pub path: PathBuf,
    /// Companion files, in manifest order.
    pub companions: Vec<PathBuf>,
}

impl ModelStore {
    /// Reads the manifest; model files are looked for in `dir`.
    pub fn open(manifest_path: &Path, dir: &Path) -> Result<Self, ManifestError> {
        let text = std::fs::read_to_string(manifest_path)
            .map_err(|source| ManifestError::Read { path: manifest_path.to_owned(), source })?;
        let manifest =
            toml::from_str(&text).map_err(|source| ManifestError::Parse { path: manifest_path.to_owned(), source })?;
        Ok(Self { manifest_path: manifest_path.to_owned(), dir: dir.to_owned(), manifest })
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn entry(&self, name: &str) -> Result<&ModelEntry, ManifestError> {
        self.manifest.models.iter().find(|m| m.name == name).ok_or_else(|| ManifestError::UnknownModel {
            name: name.to_owned(),
            manifest: self.manifest_path.clone(),
            known: self.manifest.models.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", "),
        })
    }

    /// Checks the model's file and companions against their sha256.
    pub fn verify(&self, name: &str) -> Result<VerifiedModel, ManifestError> {
        let entry = self.entry(name)?.clone();
        let path = self.dir.join(&entry.file);
        check_file(&path, &entry.sha256)?;
        let companions = entry
            .companions
            .iter()
            .map(|c| {
                let p = self.dir.join(&c.file);
                check_file(&p, &c.sha256).map(|()| p)
            })
            .collect::<Result<_, _>>()?;
        Ok(VerifiedModel { entry, path, companions })
    }
}

impl ModelEntry {
    /// Whether the weights' licence forbids commercial use (`models.toml` says
    /// "non-commercial"): a property-management company may not deploy them at its gates.
    pub fn non_commercial(&self) -> bool {
        self.licence.to_ascii_lowercase().contains("non-commercial")
    }
}

/// One warning per model in `models` whose weights are non-commercial, naming the licence and
/// the permissive choice where the project ships one.
pub fn licence_warnings<'a>(models: impl IntoIterator<Item = &'a ModelEntry>) -> Vec<String> {
    models
        .into_iter()
        .filter(|m| m.non_commercial())
        .map(|m| {
            let instead = match m.task {
                Task::FaceDetection => "; `[models] face_detector = \"centerface\"` selects the MIT-licensed detector",
                Task::FaceEmbedding => {
                    "; `[models] face_embedder = \"dlib_resnet\"` selects the public-domain (CC0) embedder \
                     (enrol residents again after switching)"
                }
                _ => "",
            };
            format!(
                "model `{}` carries weights licensed \"{}\": not for a commercial deployment{instead}",
                m.name, m.licence
            )
        })
        .collect()
}

/// The lowercase hex sha256 of a file.
pub fn sha256_file(path: &Path) -> Result<String, ManifestError> {
    let mut f = std::fs::File::open(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            ManifestError::Missing { path: path.to_owned() }
        } else {
            ManifestError::Io { path: path.to_owned(), source }
        }
    })?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(|source| ManifestError::Io { path: path.to_owned(), source })?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

fn check_file(path: &Path, expected: &str) -> Result<(), ManifestError> {
    let actual = sha256_file(path)?;
    if actual.eq_ignore_ascii_case(expected) {
        Ok(())
    } else {
        Err(ManifestError::Mismatch { path: path.to_owned(), expected: expected.to_owned(), actual })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"
[onnxruntime]
version = "1.31.1"
[[onnxruntime.build]]
arch = "x86_64"
package = "onnxruntime"
platform = "p"
member = "m"
file = "f"
sha256 = "00"
licence = "MIT"

[[model]]
name = "tiny"
task = "face-detection"
file = "tiny.onnx"
sha256 = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
licence = "MIT"
source = { package = "p", version = "1", member = "m" }
tensors = "none"
"#;

    #[test]
    fn the_shipped_manifest_flags_exactly_its_non_commercial_weights() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/models.toml");
        let store = ModelStore::open(&path, Path::new(".")).unwrap();
        let flagged: Vec<&str> =
            store.manifest().models.iter().filter(|m| m.non_commercial()).map(|m| m.name.as_str()).collect();
        assert_eq!(flagged, ["scrfd_500m", "w600k_mbf"]);
        let warnings = licence_warnings([store.entry("scrfd_500m").unwrap(), store.entry("centerface").unwrap()]);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("scrfd_500m") && warnings[0].contains("centerface"), "{warnings:?}");
        let embedder = licence_warnings([store.entry("w600k_mbf").unwrap()]);
        assert!(embedder[0].contains("face_embedder = \"dlib_resnet\""), "{embedder:?}");
        assert!(licence_warnings([store.entry("dlib_resnet").unwrap(), store.entry("centerface").unwrap()]).is_empty());
    }

    fn store(dir: &Path) -> ModelStore {
        let m = dir.join("models.toml");
        std::fs::write(&m, MANIFEST).unwrap();
        ModelStore::open(&m, dir).unwrap()
    }

    #[test]
    fn a_missing_file_is_named_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let err = store(dir.path()).verify("tiny").unwrap_err().to_string();
        assert!(err.contains("tiny.onnx") && err.contains("is missing") && err.contains("scripts/setup"), "{err}");
    }

    #[test]
    fn a_damaged_file_is_refused_and_a_good_one_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        std::fs::write(dir.path().join("tiny.onnx"), b"hell").unwrap();
        let err = s.verify("tiny").unwrap_err().to_string();
        assert!(err.contains("damaged") && err.contains("tiny.onnx") && err.contains("scripts/setup"), "{err}");
        std::fs::write(dir.path().join("tiny.onnx"), b"hello").unwrap();
        assert_eq!(s.verify("tiny").unwrap().path, dir.path().join("tiny.onnx"));
    }

    #[test]
    fn an_unknown_model_lists_the_known_ones() {
        let dir = tempfile::tempdir().unwrap();
        let err = store(dir.path()).verify("nope").unwrap_err().to_string();
        assert!(err.contains("`nope`") && err.contains("known: tiny"), "{err}");
    }
}
