//! Enrolment and erasure through the command line, on real photos: refusals with reasons,
//! sealed templates, and a person who no longer matches after erasure.

use std::path::{Path, PathBuf};
use std::process::Command;

use menwei_core::image::RgbView;
use menwei_core::matcher::Decision;
use menwei_vision::embed::FaceEmbedder;
use menwei_vision::face::FaceDetector;
use menwei_vision::{ModelStore, Runtime, SessionOptions};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn media(n: &str) -> PathBuf {
    root().join("var/media").join(n)
}

/// A config with a register and a template key readable by its owner only.
fn setup(dir: &Path) -> PathBuf {
    let key = dir.join("template.key");
    std::fs::write(&key, "8f1e6a0c3b2d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccdde\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let cfg = dir.join("edge.toml");
    std::fs::write(
        &cfg,
        format!(
            "compound_id = \"c-1\"\n[models]\ndir = \"{}\"\n[register]\npath = \"register.db\"\nkey_file = \"template.key\"\n\
             [[cameras]]\nid = \"gate\"\nurl = \"{}\"\n",
            root().join("models").display(),
            media("carphone_pristine.mp4").display()
        ),
    )
    .unwrap();
    cfg
}

fn edge(args: &[&str], files: &[PathBuf]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_menwei-edge")).args(args).args(files).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// The embedding the enrolment computes for a photo's only face.
fn embedding(photo: &Path) -> Vec<f32> {
    let rt = Runtime::init(None).unwrap();
    let store = ModelStore::open(&root().join("models/models.toml"), &root().join("models")).unwrap();
    let opts = SessionOptions { intra_threads: 1, ..Default::default() };
    let mut det = FaceDetector::open(&rt, &store.verify("scrfd_500m").unwrap(), &opts, 640, 0.5).unwrap();
    let mut emb = FaceEmbedder::new(&rt, &store.verify("w600k_mbf").unwrap(), &opts).unwrap();
    let img = image::open(photo).unwrap().to_rgb8();
    let view = RgbView::packed(img.width(), img.height(), img.as_raw()).unwrap();
    let faces = det.detect(view).unwrap();
    emb.embed(view, &faces[..1]).unwrap().remove(0).embedding.0.to_vec()
}

#[test]
fn enrolment_refuses_bad_photos_seals_templates_and_erasure_unmatches() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path());
    let c = cfg.to_str().unwrap();

    // No face, and six faces: refused with the reason, nothing stored.
    let blank = dir.path().join("wall.png");
    image::RgbImage::from_pixel(640, 480, image::Rgb([180, 180, 170])).save(&blank).unwrap();
    let (ok, out, err) = edge(
        &["enroll", "--config", c, "--resident", "r-7", "--household", "h-3", "--consent", "paper form"],
        &[blank.clone(), media("t1.jpg")],
    );
    assert!(!ok, "{out}{err}");
    assert!(out.contains("no face found"), "{out}");
    assert!(out.contains("6 faces: enrol from a photo of this resident alone"), "{out}");

    // An unknown resident without household and consent is refused before any model runs.
    let (ok, _, err) = edge(&["enroll", "--config", c, "--resident", "r-9"], &[media("obama.jpg")]);
    assert!(!ok && err.contains("not in the register"), "{err}");

    // Obama's portrait enrols him; photos other than the enrolment one then match him.
    let (ok, out, err) = edge(&["enroll", "--config", c, "--resident", "r-7"], &[media("obama.jpg")]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("\"result\":\"enrolled\""), "{out}");

    // The register file holds no plaintext template: search it for the template's bytes.
    let template = embedding(&media("obama.jpg"));
    let needle: Vec<u8> = template[..4].iter().flat_map(|f| f.to_le_bytes()).collect();
    for f in ["register.db", "register.db-wal"] {
        if let Ok(bytes) = std::fs::read(dir.path().join(f)) {
            assert!(!bytes.windows(needle.len()).any(|w| w == needle), "{f} contains the template in the clear");
        }
    }

    let register =
        menwei_register::Register::open(&dir.path().join("register.db"), &dir.path().join("template.key")).unwrap();
    let (matrix, ids) = register.load_templates("w600k_mbf", 512).unwrap();
    for probe in ["obama2.jpg", "obama3.jpg"] {
        let d = matrix.decide(&embedding(&media(probe)), 0.4, 0.05);
        assert!(matches!(d, Decision::Match { owner: 0, .. }), "{probe}: {d:?}");
        assert_eq!(ids[0], "r-7");
    }
    let biden = matrix.decide(&embedding(&media("biden.jpg")), 0.4, 0.05);
    assert!(matches!(biden, Decision::Unknown { .. }), "{biden:?}");
    drop(register);

    let (ok, out, err) = edge(&["erase", "--config", c, "--resident", "r-7"], &[]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("r-7: erased (1 template deleted)"), "{out}");
    let register =
        menwei_register::Register::open(&dir.path().join("register.db"), &dir.path().join("template.key")).unwrap();
    let (matrix, _) = register.load_templates("w600k_mbf", 512).unwrap();
    assert!(matches!(matrix.decide(&embedding(&media("obama2.jpg")), 0.4, 0.05), Decision::Unknown { best: None }));
    assert_eq!(register.resident("r-7").unwrap().unwrap().status, menwei_register::ResidentStatus::Erased);
}

#[test]
fn a_template_key_others_can_read_stops_enrolment() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path().join("template.key"), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let (ok, _, err) = edge(&["enroll", "--config", cfg.to_str().unwrap(), "--resident", "r-1"], &[media("obama.jpg")]);
    assert!(!ok && err.contains("chmod 600"), "{err}");
}
