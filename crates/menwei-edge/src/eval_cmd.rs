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
    /// (or the defaults), open-set 1:N, per shot and per passage.
    Faces(Box<FaceArgs>),
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

#[derive(Debug, clap::Args)]
pub struct FaceArgs {
    /// `path,identity` per photo.
    manifest: PathBuf,
    /// `a,b,same` per pair.
    pairs: PathBuf,
    #[arg(long)]
    json: bool,
    /// Also write the tables of docs/design/vision.md to this file (Markdown).
    #[arg(long, value_name = "FILE")]
    markdown: Option<PathBuf>,
    /// Conditions, comma-separated: photo, 40px, 24px, 16px, ir-day, night, motion-blur,
    /// backlight. Default: all.
    #[arg(long)]
    conditions: Option<String>,
    /// Face embedders to measure one after the other, comma-separated (for example
    /// w600k_mbf,dlib_resnet), each at its own default threshold and margin. Default: the
    /// config's, or --face-embedder.
    #[arg(long, value_name = "MODEL,...", conflicts_with = "face_embedder")]
    embedders: Option<String>,
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
    /// Frames in each probe's clip (the face moving across the frame), decided as one
    /// passage by the daemon's face track; 0: single shots only.
    #[arg(long, default_value_t = menwei_vision::eval::conditions::CLIP_FRAMES)]
    clip: usize,
    /// A photo of people who are not in the set (repeatable): each face the gate's quality
    /// policy accepts is enrolled as one more identity, beside the residents.
    #[arg(long, value_name = "PHOTO")]
    distractors: Vec<PathBuf>,
    /// Synthetic identities drawn from the distractors' embeddings, comma-separated sizes
    /// (for example 1000,10000): each is measured beside the real distractors.
    #[arg(long, value_name = "N,...")]
    synthetic: Option<String>,
    /// Largest face-detector input for the distractor photos.
    #[arg(long, default_value_t = 1280)]
    distractor_input: u32,
    #[command(flatten)]
    models: ModelArgs,
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
        EvalWhat::Faces(args) => faces(*args)?,
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

/// `1000,10000`: register sizes, each at least 1.
fn parse_sizes(list: &str) -> Result<Vec<usize>> {
    let sizes = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>().ok().filter(|n| *n > 0).with_context(|| format!("--synthetic: `{s}` is not a size"))
        })
        .collect::<Result<Vec<_>>>()?;
    anyhow::ensure!(!sizes.is_empty(), "--synthetic: no size given");
    Ok(sizes)
}

/// `eval faces`: each embedder asked for, one after the other, then one report.
fn faces(args: FaceArgs) -> Result<()> {
    use menwei_vision::eval::conditions::Condition;
    let conditions = match &args.conditions {
        Some(list) => Condition::parse_list(list).map_err(|e| anyhow::anyhow!("--conditions: {e}"))?,
        None => Condition::ALL.to_vec(),
    };
    anyhow::ensure!(args.enrol >= 1, "--enrol must be at least 1");
    let synthetic = args.synthetic.as_deref().map(parse_sizes).transpose()?.unwrap_or_default();
    anyhow::ensure!(
        synthetic.is_empty() || !args.distractors.is_empty(),
        "--synthetic draws from --distractors: name a photo"
    );
    let base = args.models.paths()?;
    let embedders: Vec<String> = match &args.embedders {
        Some(list) => list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect(),
        None => vec![base.face_embedder.clone()],
    };
    anyhow::ensure!(!embedders.is_empty(), "--embedders: no model named");
    let mut reports = Vec::new();
    for model in embedders {
        let paths = menwei_edge::tools::ModelPaths { face_embedder: model, ..base.clone() };
        reports.extend(faces_with(&args, &paths, &conditions, &synthetic)?);
    }
    if let Some(s) = reports.iter().flat_map(|r| &r.at_scale).find(|s| s.distractors_like_the_set > 0) {
        eprintln!(
            "eval faces: warning: {} distractor face(s) match a photo of the set at the gate's threshold: \
             probably the same person; use distractor photos of other people",
            s.distractors_like_the_set
        );
    }
    if let Some(path) = &args.markdown {
        std::fs::write(path, menwei_vision::eval::tables::markdown(&reports))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    } else {
        for r in &reports {
            print!("{r}");
        }
    }
    Ok(())
}

/// `eval faces` with one embedder, at its gate settings (the config's matching where the config
/// names this embedder, else the embedder's defaults).
fn faces_with(
    args: &FaceArgs,
    paths: &menwei_edge::tools::ModelPaths,
    conditions: &[menwei_vision::eval::conditions::Condition],
    synthetic: &[usize],
) -> Result<Vec<menwei_vision::eval::FaceReport>> {
    use menwei_vision::eval::{Distractors, FaceEvalOptions, gate};
    let embedder = menwei_vision::embed::EmbedderKind::from_model(&paths.face_embedder)
        .with_context(|| format!("{} is not a face embedder", paths.face_embedder))?;
    let matching = match &args.models.config {
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
    let mut kit = menwei_edge::tools::Kit::open(paths)?;
    let distractors = if args.distractors.is_empty() {
        None
    } else {
        let mut wide = menwei_edge::tools::Kit::face_detector(paths, args.distractor_input)?;
        let real = menwei_vision::eval::distractor_faces(
            &args.distractors,
            &mut wide,
            &mut kit.embedder,
            matching.face_quality,
        )?;
        anyhow::ensure!(
            real.len() >= 2,
            "the distractor photos hold {} face(s) the gate would decide; at least 2 are needed",
            real.len()
        );
        eprintln!("eval faces: {} distractor faces from {} photo(s)", real.len(), args.distractors.len());
        Some(Distractors { real, synthetic: synthetic.to_vec() })
    };
    let opts = FaceEvalOptions {
        conditions: conditions.to_vec(),
        only: args.only.clone(),
        pictures: args.pictures.clone(),
        protocol: gate::Protocol { enrol: args.enrol, strangers: args.strangers },
        gate: gate::GateSettings {
            threshold: matching.face_threshold,
            margin: matching.face_margin,
            policy: matching.face_quality,
        },
        clip_frames: args.clip,
        distractors,
    };
    eprintln!(
        "eval faces: {} at threshold {:.2}, margin {:.2}",
        paths.face_embedder, opts.gate.threshold, opts.gate.margin
    );
    Ok(menwei_vision::eval::eval_faces(
        &args.manifest,
        &args.pairs,
        &mut kit.faces,
        &mut kit.embedder,
        &opts,
        &mut progress("photos"),
    )?)
}
