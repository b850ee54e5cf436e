//! `menwei-edge eval …`: the evaluation subcommands (plates, reader priors, faces, video), apart
//! from main.rs, which owns the process.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;
use menwei_edge::{config, video_eval};

use crate::{ModelArgs, progress};

#[derive(Debug, Subcommand)]
pub enum EvalWhat {
    /// Plates: detector recall, exact match by subset, colour, layout, confusions, time.
    Plates {
        /// The manifest (the format of ../shared/data/plates/manifest.csv).
        manifest: PathBuf,
        /// Only pictures whose path contains this.
        #[arg(long)]
        only: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        models: ModelArgs,
    },
    /// Each plate reader's lean on the province character, measured on crops with the province
    /// covered; prints the table of `crates/menwei-vision/src/reader_priors.toml`.
    ReaderPrior {
        /// The manifest (the format of ../shared/data/plates/manifest.csv); its crops are used.
        manifest: PathBuf,
        /// Only crops whose path contains this.
        #[arg(long)]
        only: Option<String>,
        #[command(flatten)]
        models: ModelArgs,
    },
    /// Faces, in each condition a gate camera meets: ROC AUC, TAR at FAR 1e-3, rank-1, and
    /// what the gate would decide at the threshold, margin and quality policy of `--config`
    /// (or the defaults), open-set 1:N.
    Faces {
        /// `path,identity` per photo.
        manifest: PathBuf,
        /// `a,b,same` per pair.
        pairs: PathBuf,
        #[arg(long)]
        json: bool,
        /// Conditions, comma-separated: photo, 40px, 24px, 16px, ir-day, night, motion-blur,
        /// backlight. Default: all.
        #[arg(long)]
        conditions: Option<String>,
        /// Photos enrolled per identity (the first ones in manifest order).
        #[arg(long, default_value_t = 1)]
        enrol: usize,
        /// Identities never enrolled (the last ones by name). Default: 20 %, at least one.
        #[arg(long)]
        strangers: Option<usize>,
        /// Only photos whose path contains this (for example a folder: `deepface/`).
        #[arg(long)]
        only: Option<String>,
        /// Write the first photo with a face, in each condition, to this folder as
        /// `<condition>.png`.
        #[arg(long)]
        pictures: Option<PathBuf>,
        #[command(flatten)]
        models: ModelArgs,
    },
    /// A clip through the real pipeline (capture, motion, tracking, voting, the register,
    /// events), scored per passage against LABELS.csv (`plate[,time_s]` per passage): exact,
    /// wrong, missed, duplicate events, wrong grants, first frame to event.
    Video {
        /// The clip (MP4, MKV...; audio tracks are ignored), played in real time as a camera.
        clip: PathBuf,
        /// One row per passage: `plate`, optionally `time_s` (when it first shows).
        labels: PathBuf,
        /// Leave the register empty (every car a visitor) instead of registering every labelled
        /// plate.
        #[arg(long)]
        unregistered: bool,
        #[arg(long)]
        json: bool,
        /// An edge config to take `[models]`, `[matching]` and `[defaults]` from (its cameras,
        /// broker, register and outbox are not used).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

pub fn eval(what: EvalWhat) -> Result<()> {
    match what {
        EvalWhat::Plates { manifest, only, json, models } => {
            let mut kit = menwei_edge::tools::Kit::open(&models.paths()?)?;
            let report = menwei_vision::eval::eval_plates(
                &manifest,
                &mut kit.lpr,
                80.0,
                only.as_deref(),
                &mut progress("pictures"),
            )?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{report}");
                for m in &report.misses {
                    println!("  {m}");
                }
            }
        }
        EvalWhat::ReaderPrior { manifest, only, models } => {
            let mut kit = menwei_edge::tools::Kit::open(&models.paths()?)?;
            let priors =
                menwei_vision::eval::reader_prior(&manifest, &mut kit.lpr, only.as_deref(), &mut progress("crops"))?;
            let store = menwei_vision::ModelStore::open(&models.paths()?.manifest, &models.paths()?.dir)?;
            println!("# Written by `menwei-edge eval reader-prior` (docs/design/vision.md): ln(31 p) per province.");
            for (name, bias, n) in priors {
                let sha = store.entry(name).map(|e| e.sha256.chars().take(16).collect::<String>()).unwrap_or_default();
                println!("\n[{name}]\nsha256_prefix = \"{sha}\"\ncrops = {n}");
                let cells: Vec<String> = bias.iter().map(|(c, b)| format!("\"{c}\" = {b:.3}")).collect();
                println!("bias = {{ {} }}", cells.join(", "));
            }
        }
        EvalWhat::Faces { manifest, pairs, json, conditions, enrol, strangers, only, pictures, models } => {
            use menwei_vision::eval::{FaceEvalOptions, conditions::Condition, gate};
            let conditions = match conditions {
                Some(list) => Condition::parse_list(&list).map_err(|e| anyhow::anyhow!("--conditions: {e}"))?,
                None => Condition::ALL.to_vec(),
            };
            anyhow::ensure!(enrol >= 1, "--enrol must be at least 1");
            let paths = models.paths()?;
            let embedder = menwei_vision::embed::EmbedderKind::from_model(&paths.face_embedder)
                .with_context(|| format!("{} is not a face embedder", paths.face_embedder))?;
            let matching = match &models.config {
                // The config's matching, unless --face-embedder changed the embedder.
                Some(c) => {
                    let cfg = config::load(c)?;
                    if cfg.face_embedder == paths.face_embedder {
                        cfg.matching
                    } else {
                        config::Matching::for_embedder(embedder)
                    }
                }
                None => config::Matching::for_embedder(embedder),
            };
            let opts = FaceEvalOptions {
                conditions,
                only,
                pictures,
                protocol: gate::Protocol { enrol, strangers },
                gate: gate::GateSettings {
                    threshold: matching.face_threshold,
                    margin: matching.face_margin,
                    policy: matching.face_quality,
                },
            };
            let mut kit = menwei_edge::tools::Kit::open(&paths)?;
            let reports = menwei_vision::eval::eval_faces(
                &manifest,
                &pairs,
                &mut kit.faces,
                &mut kit.embedder,
                &opts,
                &mut progress("photos"),
            )?;
            if json {
                println!("{}", serde_json::to_string_pretty(&reports)?);
            } else {
                for r in &reports {
                    print!("{r}");
                }
            }
        }
        EvalWhat::Video { clip, labels, unregistered, json, config } => {
            let text = std::fs::read_to_string(&labels).with_context(|| format!("cannot read {}", labels.display()))?;
            let labels = video_eval::parse_labels(&text).map_err(|e| anyhow::anyhow!("{}: {e}", labels.display()))?;
            let models_dir = std::env::current_dir()?.join("models");
            let opts = video_eval::VideoOptions { config, models_dir, register_plates: !unregistered };
            eprintln!("eval video: playing {} in real time ({} passages)", clip.display(), labels.len());
            let report = video_eval::run(&clip, &labels, &opts)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{report}");
            }
        }
    }
    Ok(())
}
