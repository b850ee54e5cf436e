//! `menwei-edge`: the command line of the edge daemon.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use menwei_core::shutdown;
use menwei_edge::config::{self, LogFormat};
use menwei_edge::hooks::Hooks;
use menwei_edge::notify::Notifier;
use menwei_edge::pipeline::Control;
use menwei_edge::status::Status;

mod eval_cmd;
use eval_cmd::{EvalWhat, eval};

#[derive(Debug, Parser)]
#[command(name = "menwei-edge", version, about = "menwei's per-compound edge daemon")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the daemon: cameras, inference, results as JSON lines on stdout.
    Run {
        #[arg(long, short)]
        config: PathBuf,
        /// Benchmarks: account CPU per stage and write it, with the process's peak memory and
        /// CPU, to this JSON file when the daemon stops (costs a clock read per stage).
        #[arg(long, hide = true)]
        profile: Option<PathBuf>,
    },
    /// Validates a config file and lists every problem with its key path.
    CheckConfig { file: PathBuf },
    /// Checks every model of the manifest against its sha256; with --run, runs each once on
    /// an image.
    CheckModels {
        #[arg(long, short)]
        config: PathBuf,
        #[arg(long)]
        run: Option<PathBuf>,
    },
    /// Runs the face and plate models on a picture or a folder of pictures: prints one JSON
    /// line per picture and writes annotated copies (boxes, landmarks, plate text).
    Analyze {
        /// A picture, or a folder of pictures (jpg, png).
        path: PathBuf,
        /// Where the annotated copies go.
        #[arg(long, default_value = "analyze-out")]
        out: PathBuf,
        /// Do not write annotated copies.
        #[arg(long)]
        no_images: bool,
        /// A folder of portraits: faces are named after the best-matching file.
        #[arg(long)]
        gallery: Option<PathBuf>,
        #[command(flatten)]
        models: ModelArgs,
    },
    /// Enrols a resident's face from photos: each must show this resident alone, clearly.
    /// Only templates are stored, sealed; the photos are not kept.
    Enroll {
        #[arg(long, short)]
        config: PathBuf,
        #[arg(long)]
        resident: String,
        /// Adds the resident when the register does not have them yet (with --consent).
        #[arg(long)]
        household: Option<String>,
        /// How consent to face entry was given (for example "paper form 2026-11-27").
        #[arg(long)]
        consent: Option<String>,
        /// For a minor: the guardian who consented.
        #[arg(long)]
        guardian: Option<String>,
        #[arg(required = true)]
        photos: Vec<PathBuf>,
    },
    /// Erases a resident's face data from this box: templates deleted, the resident kept as
    /// erased so later sightings say so.
    Erase {
        #[arg(long, short)]
        config: PathBuf,
        #[arg(long)]
        resident: String,
    },
    /// Measures accuracy on a labelled set.
    Eval {
        #[command(subcommand)]
        what: EvalWhat,
    },
    /// Asks ONVIF cameras for their stream addresses.
    Onvif {
        #[command(subcommand)]
        what: OnvifWhat,
    },
}

#[derive(Debug, Subcommand)]
enum OnvifWhat {
    /// Lists a camera's streams (resolution, codec, fps, RTSP URL); with --camera-block, prints
    /// a `[[cameras]]` block for edge.toml.
    Probe {
        /// The camera: an IP address, host:port, or its device-service URL.
        host: String,
        #[arg(long)]
        user: Option<String>,
        /// The password (better: MENWEI_ONVIF_PASSWORD in the environment).
        #[arg(long)]
        password: Option<String>,
        /// Seconds to wait for each answer.
        #[arg(long, default_value_t = 5)]
        timeout: u64,
        /// Print a camera block with this camera id.
        #[arg(long)]
        camera_block: Option<String>,
    },
    /// Finds ONVIF cameras on the local network (WS-Discovery).
    Discover {
        /// Seconds to collect answers.
        #[arg(long, default_value_t = 3)]
        timeout: u64,
        /// Probe this host:port instead of the multicast group (a camera on another subnet).
        #[arg(long)]
        to: Option<String>,
    },
}

/// Where the tools find the models: an edge config, or the checkout's `models/`.
#[derive(Debug, clap::Args)]
struct ModelArgs {
    /// An edge config to take the models, runtime and threads from. Default: ./models and the
    /// usual places for ONNX Runtime.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Largest face-detector input side (a multiple of 32): 640 for portraits and gate
    /// cameras, 1280 for crowds of small faces.
    #[arg(long, default_value_t = 640)]
    face_input: u32,
    /// The face detector (scrfd_500m, centerface) in place of the config's or the default.
    #[arg(long)]
    face_detector: Option<String>,
    /// The face embedder (w600k_mbf, dlib_resnet) in place of the config's or the default;
    /// without `--config`, the matching defaults are that embedder's.
    #[arg(long)]
    face_embedder: Option<String>,
    /// Plate readers to fuse, comma-separated: clp_rec, ppocr_v4_rec, or both.
    #[arg(long, value_delimiter = ',', default_value = "clp_rec,ppocr_v4_rec")]
    plate_readers: Vec<String>,
    /// Plate detector input: the longest side (a multiple of 32). Smaller is faster and loses
    /// small plates (see docs/design/vision.md for the cost and the recall).
    #[arg(long, default_value_t = config::defaults::PLATE_MAX_SIDE)]
    plate_max_side: u32,
    /// How much a small picture may be scaled up for plate detection (1 = never).
    #[arg(long, default_value_t = config::defaults::PLATE_UPSCALE)]
    plate_upscale: f32,
    /// Home provinces, comma-separated (such as `冀,京`): a prior on plates' first character,
    /// at the weight of `--config` or the default ln 4 (docs/design/vision.md). Replaces the
    /// config's `plate_home_provinces` (and drops its prefixes).
    #[arg(long, value_delimiter = ',')]
    home_provinces: Vec<String>,
}

impl ModelArgs {
    /// The config's home prior, or `--home-provinces` in its place.
    fn plate_home(&self, from_config: menwei_vision::lpr::HomePrior) -> Result<menwei_vision::lpr::HomePrior> {
        if self.home_provinces.is_empty() {
            return Ok(from_config);
        }
        let mut provinces = Vec::new();
        for p in &self.home_provinces {
            let mut chars = p.trim().chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) if menwei_core::plate::PROVINCES.contains(c) => provinces.push(c),
                _ => anyhow::bail!("--home-provinces: `{p}` is not one province character"),
            }
        }
        Ok(menwei_vision::lpr::HomePrior { provinces, prefixes: Vec::new(), weight: from_config.weight })
    }

    fn paths(&self) -> Result<menwei_edge::tools::ModelPaths> {
        match &self.config {
            Some(c) => {
                let cfg = config::load(c)?;
                Ok(menwei_edge::tools::ModelPaths {
                    onnxruntime: cfg.onnxruntime.clone(),
                    manifest: cfg.models_manifest.clone(),
                    dir: cfg.models_dir.clone(),
                    face_detector: self.face_detector.clone().unwrap_or_else(|| cfg.face_detector.clone()),
                    face_embedder: self.face_embedder.clone().unwrap_or_else(|| cfg.face_embedder.clone()),
                    face_input: self.face_input,
                    plate_readers: self.plate_readers.clone(),
                    plate_max_side: self.plate_max_side,
                    plate_upscale: self.plate_upscale,
                    plate_home: self.plate_home(cfg.matching.plate_home.clone())?,
                    opts: menwei_vision::SessionOptions {
                        intra_threads: cfg.intra_threads,
                        spinning: cfg.spinning,
                        provider: cfg.provider,
                    },
                })
            }
            None => {
                let dir = PathBuf::from("models");
                if !dir.join("models.toml").is_file() {
                    anyhow::bail!("no models/models.toml here: run from the checkout, or pass --config edge.toml");
                }
                Ok(menwei_edge::tools::ModelPaths {
                    onnxruntime: None,
                    manifest: dir.join("models.toml"),
                    dir,
                    face_detector: self.face_detector.clone().unwrap_or_else(|| config::defaults::FACE_DETECTOR.into()),
                    face_embedder: self.face_embedder.clone().unwrap_or_else(|| config::defaults::FACE_EMBEDDER.into()),
                    face_input: self.face_input,
                    plate_readers: self.plate_readers.clone(),
                    plate_max_side: self.plate_max_side,
                    plate_upscale: self.plate_upscale,
                    plate_home: self.plate_home(config::Matching::default().plate_home)?,
                    opts: menwei_vision::SessionOptions { intra_threads: 2, ..Default::default() },
                })
            }
        }
    }
}

/// How long running work may take to finish after SIGINT or SIGTERM.
const GRACE: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { file } => match config::load(&file) {
            Ok(cfg) => {
                println!(
                    "{}: ok ({} camera{})",
                    file.display(),
                    cfg.cameras.len(),
                    if cfg.cameras.len() == 1 { "" } else { "s" }
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(2)
            }
        },
        Command::Run { config, profile } => finish(run(&config, profile.as_deref())),
        Command::CheckModels { config, run } => finish(check_models(&config, run.as_deref())),
        Command::Analyze { path, out, no_images, gallery, models } => {
            finish(analyze(&path, (!no_images).then_some(out.as_path()), gallery.as_deref(), &models))
        }
        Command::Eval { what } => finish(eval(what)),
        Command::Enroll { config, resident, household, consent, guardian, photos } => {
            finish(enroll(&config, &resident, household, consent, guardian, &photos))
        }
        Command::Erase { config, resident } => finish(erase(&config, &resident)),
        Command::Onvif { what: OnvifWhat::Probe { host, user, password, timeout, camera_block } } => {
            finish(menwei_edge::onvif::probe(
                &host,
                user.as_deref(),
                password,
                Duration::from_secs(timeout),
                camera_block.as_deref(),
            ))
        }
        Command::Onvif { what: OnvifWhat::Discover { timeout, to } } => {
            finish(menwei_edge::onvif::discover(to.as_deref(), Duration::from_secs(timeout)))
        }
    }
}

fn progress(what: &str) -> impl FnMut(usize, usize) + '_ {
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    move |done, total| {
        if tty {
            eprint!("\r{what}: {done}/{total}");
            if done == total {
                eprintln!();
            }
        } else if done == total || done % 50 == 0 {
            eprintln!("{what}: {done}/{total}");
        }
    }
}

fn analyze(path: &Path, out: Option<&Path>, gallery: Option<&Path>, models: &ModelArgs) -> Result<()> {
    let mut kit = menwei_edge::tools::Kit::open(&models.paths()?)?;
    let gallery = match gallery {
        Some(dir) => menwei_edge::tools::gallery(&mut kit, dir)?,
        None => Vec::new(),
    };
    let pictures = menwei_edge::tools::pictures(path)?;
    if pictures.is_empty() {
        anyhow::bail!("no pictures (jpg, png) at {}", path.display());
    }
    let mut report = progress("analyze");
    for (i, p) in pictures.iter().enumerate() {
        match menwei_edge::tools::analyze(&mut kit, p, &gallery, out) {
            Ok(a) => println!("{}", serde_json::to_string(&a)?),
            // One bad picture does not stop a folder.
            Err(e) => eprintln!("{}: {e:#}", p.display()),
        }
        report(i + 1, pictures.len());
    }
    if let Some(out) = out {
        eprintln!("annotated pictures in {}", out.display());
    }
    Ok(())
}

fn open_register(cfg: &config::EdgeConfig) -> Result<menwei_register::Register> {
    let r = cfg.register.as_ref().context("the config has no [register] table (path and key_file)")?;
    Ok(menwei_register::Register::open(&r.path, &r.key_file)?)
}

fn enroll(
    config_path: &Path,
    resident: &str,
    household: Option<String>,
    consent: Option<String>,
    guardian: Option<String>,
    photos: &[PathBuf],
) -> Result<()> {
    let cfg = config::load(config_path)?;
    let register = open_register(&cfg)?;
    if register.resident(resident)?.is_none() {
        match (household, consent) {
            (Some(household), Some(consent)) => register.upsert_resident(&menwei_register::Resident {
                id: resident.to_owned(),
                household,
                status: menwei_register::ResidentStatus::Active,
                consent_at: Some(menwei_core::event::rfc3339_ms(
                    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as i64,
                )),
                consent_method: Some(consent),
                guardian,
                face_opt_out: false,
            })?,
            _ => anyhow::bail!(
                "resident `{resident}` is not in the register: sync it from central, or pass --household and --consent"
            ),
        }
    }
    let paths = ModelArgs {
        config: Some(config_path.to_owned()),
        face_input: 640,
        face_detector: None,
        face_embedder: None,
        plate_readers: vec!["clp_rec".into()],
        plate_max_side: config::defaults::PLATE_MAX_SIDE,
        plate_upscale: config::defaults::PLATE_UPSCALE,
        home_provinces: Vec::new(),
    };
    let mut kit = menwei_edge::tools::Kit::open(&paths.paths()?)?;
    let outcomes = menwei_edge::tools::enroll(&mut kit, &register, resident, photos)?;
    for o in &outcomes {
        println!("{}", serde_json::to_string(o)?);
    }
    let enrolled = outcomes.iter().filter(|o| o.result == "enrolled").count();
    eprintln!("{resident}: {enrolled} of {} photos enrolled", outcomes.len());
    if enrolled == 0 {
        anyhow::bail!("no photo was enrolled");
    }
    Ok(())
}

fn erase(config_path: &Path, resident: &str) -> Result<()> {
    let cfg = config::load(config_path)?;
    let register = open_register(&cfg)?;
    let n = register.erase(resident)?;
    println!("{resident}: erased ({n} template{} deleted)", if n == 1 { "" } else { "s" });
    Ok(())
}

fn finish(r: Result<()>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("menwei-edge: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load(path: &Path) -> Result<config::EdgeConfig> {
    let cfg = config::load(path)?;
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| cfg.log_filter.clone());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    match cfg.log_format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    Ok(cfg)
}

fn run(path: &Path, profile: Option<&Path>) -> Result<()> {
    let cfg = load(path)?;
    if profile.is_some() {
        menwei_core::profile::enable();
    }
    // The signal handlers come first: a SIGTERM while the models are checked and loaded is a
    // request to stop, answered once start-up is done, not the default action's abrupt exit.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let mut signals = {
        let _in_rt = rt.enter();
        use tokio::signal::unix::{SignalKind, signal};
        Signals { term: signal(SignalKind::terminate())?, interrupt: signal(SignalKind::interrupt())? }
    };
    // Refuse to start on a damaged model or a missing runtime before anything else starts.
    let prepared = menwei_edge::pipeline::prepare(&cfg).context("cannot start")?;
    let notifier = Notifier::from_env();
    let mut daemon = Daemon::start(&cfg, &rt, prepared, profile.is_some())?;
    let interrupted = rt.block_on(daemon.supervise(&notifier, &mut signals));
    notifier.notify("STOPPING=1");
    if interrupted {
        tracing::info!("shutting down (grace {GRACE:?}); a second Ctrl-C exits at once");
        daemon.pipeline_stop.shutdown();
        rt.block_on(async {
            tokio::select! {
                finished = tokio::time::timeout(GRACE, &mut daemon.done) => match finished {
                    Ok(_) => Ok(()),
                    Err(_) => Err(anyhow::anyhow!("work did not finish within the {GRACE:?} grace period")),
                },
                _ = signals.interrupt.recv() => Err(anyhow::anyhow!("second signal: exiting without draining")),
            }
        })?;
    }
    let summary = daemon.worker.join().map_err(|_| anyhow::anyhow!("the inference thread panicked"))??;
    // Committed events stay in the outbox for the next start; give the relay a moment to say
    // `offline` and flush what is in flight.
    daemon.background_stop.shutdown();
    rt.block_on(async {
        for task in daemon.background {
            let _ = tokio::time::timeout(Duration::from_secs(3), task).await;
        }
    });
    if let Some(file) = profile {
        write_profile(file, &daemon.status.hooks, &daemon.status.relay)?;
    }
    eprintln!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}

struct Signals {
    term: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

/// The running daemon: the inference thread, and the relay and HTTP tasks beside it.
struct Daemon {
    status: Status,
    worker: std::thread::JoinHandle<Result<menwei_edge::pipeline::Summary>>,
    /// Completes when the inference thread has ended.
    done: tokio::sync::oneshot::Receiver<()>,
    /// Stops the inference thread; the tasks are stopped after it, so that they still publish
    /// what it commits while it drains.
    pipeline_stop: shutdown::Sender,
    background_stop: shutdown::Sender,
    background: Vec<tokio::task::JoinHandle<()>>,
}

impl Daemon {
    fn start(
        cfg: &config::EdgeConfig,
        rt: &tokio::runtime::Runtime,
        prepared: menwei_edge::pipeline::Prepared,
        profile: bool,
    ) -> Result<Daemon> {
        let mut hooks = Hooks::default();
        if profile {
            hooks.stages = Some(Default::default());
        }
        let outbox = match &cfg.outbox {
            Some(o) => Some(Arc::new(std::sync::Mutex::new(
                menwei_outbox::Outbox::open(&o.path, o.limits.clone()).context("cannot open the outbox")?,
            ))),
            None => None,
        };
        let mut committed = None;
        if let Some(outbox) = &outbox {
            let (sink, rx) = menwei_edge::events::EventSink::new(&cfg.compound_id, outbox.clone());
            hooks.events = Some(sink);
            committed = Some(rx);
        }
        if cfg.register.is_some() {
            hooks.register_version.store(open_register(cfg)?.version()?, Ordering::SeqCst);
        }
        let status =
            Status { ctl: Arc::new(Control::default()), hooks: Arc::new(hooks), outbox, relay: Arc::default() };
        let (pipeline_stop, pipeline_rx) = shutdown::channel();
        let (done_tx, done) = tokio::sync::oneshot::channel();
        let worker = {
            let (ctl, hooks, cfg) = (status.ctl.clone(), status.hooks.clone(), cfg.clone());
            std::thread::Builder::new().name("infer-0".into()).spawn(move || {
                let mut stdout = std::io::stdout().lock();
                let r = menwei_edge::pipeline::run(&cfg, prepared, &ctl, &pipeline_rx, &mut stdout, &hooks);
                let _ = done_tx.send(());
                r
            })?
        };
        let (background_stop, stop) = shutdown::channel();
        let mut background = Vec::new();
        if let (Some(broker), Some(outbox), Some(committed)) = (cfg.broker.clone(), status.outbox.clone(), committed) {
            let topics = menwei_core::event::Topics::new(&cfg.compound_id);
            let beat = status.clone();
            let handlers = menwei_edge::relay::Handlers {
                heartbeat: Box::new(move || beat.heartbeat()),
                sync: menwei_edge::sync::handler(cfg, &status.hooks),
            };
            let (stats, stop) = (status.relay.clone(), stop.clone());
            background.push(rt.spawn(async move {
                if let Err(e) = menwei_edge::relay::run(broker, topics, outbox, committed, stop, stats, handlers).await
                {
                    tracing::error!("the event relay stopped: {e}");
                }
            }));
        }
        if let Some(addr) = cfg.http {
            let mut e = status.endpoints();
            e.enroll = menwei_edge::enroll::endpoint(cfg, status.hooks.register_generation.clone())?;
            let serve = rt
                .block_on(menwei_edge::http::bind(addr, Arc::new(e), stop))
                .with_context(|| format!("cannot listen on {addr} (http.listen)"))?;
            background.push(rt.spawn(serve));
        }
        Ok(Daemon { status, worker, done, pipeline_stop, background_stop, background })
    }

    /// Until the inference thread ends (false) or a signal asks to stop (true): says READY once
    /// the pipeline is, and pings the systemd watchdog only while the inference loop makes
    /// progress.
    async fn supervise(&mut self, notifier: &Notifier, signals: &mut Signals) -> bool {
        let ctl = &self.status.ctl;
        let period = notifier.watchdog_interval().unwrap_or(Duration::from_secs(3600));
        let mut ping = tokio::time::interval(period);
        let mut last_beat = u64::MAX;
        let mut ready_poll = tokio::time::interval(Duration::from_millis(50));
        let mut ready_sent = false;
        loop {
            tokio::select! {
                _ = ready_poll.tick(), if !ready_sent => {
                    if ctl.ready.load(Ordering::SeqCst) {
                        notifier.notify("READY=1");
                        ready_sent = true;
                    }
                }
                _ = &mut self.done => return false,
                _ = signals.interrupt.recv() => return true,
                _ = signals.term.recv() => return true,
                _ = ping.tick(), if ready_sent => {
                    let beat = ctl.heartbeat.load(Ordering::Relaxed);
                    if beat != last_beat {
                        notifier.notify("WATCHDOG=1");
                    } else {
                        tracing::warn!("the inference loop made no progress for {period:?}: not pinging the watchdog");
                    }
                    last_beat = beat;
                }
            }
        }
    }
}

/// What `run --profile` leaves for the benchmark harness.
fn write_profile(file: &Path, hooks: &Hooks, relay: &menwei_edge::relay::RelayStats) -> Result<()> {
    let take = |m: &std::sync::Mutex<Vec<u64>>| std::mem::take(&mut *m.lock().unwrap_or_else(|e| e.into_inner()));
    let stages = hooks.stages.as_deref().expect("stages are kept with --profile");
    let cameras: Vec<serde_json::Value> = hooks
        .sources
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|s| {
            use menwei_capture::FrameSource;
            serde_json::json!({
                "id": s.id().as_ref(),
                "frames_in": s.frames().put_count(),
                "frames_overwritten": s.frames().overwritten_count(),
                "frames_decoded": s.stats().decoded_frames.load(Ordering::Relaxed),
                "frames_skipped": s.stats().skipped_frames.load(Ordering::Relaxed),
                "decode_ns": take(&s.stats().decode_samples_ns),
                "convert_ns": take(&s.stats().convert_samples_ns),
            })
        })
        .collect();
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let peak_rss_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let v = serde_json::json!({
        "stages": menwei_core::profile::Stage::ALL.iter().map(|s| s.name()).collect::<Vec<_>>(),
        "frames": *stages.frames.lock().unwrap_or_else(|e| e.into_inner()),
        "events": *stages.events.lock().unwrap_or_else(|e| e.into_inner()),
        "publish_ns": take(&relay.publish_samples_ns),
        "cameras": cameras,
        "peak_rss_kb": peak_rss_kb,
    });
    std::fs::write(file, serde_json::to_vec(&v)?).with_context(|| format!("cannot write {}", file.display()))
}

fn check_models(path: &Path, image: Option<&Path>) -> Result<()> {
    let cfg = load(path)?;
    let store = menwei_vision::ModelStore::open(&cfg.models_manifest, &cfg.models_dir)?;
    let mut bad = 0;
    for entry in &store.manifest().models {
        match store.verify(&entry.name) {
            Ok(_) => println!("ok   {:<14} {}", entry.name, store.dir().join(&entry.file).display()),
            Err(e) => {
                bad += 1;
                println!("BAD  {:<14} {e}", entry.name);
            }
        }
    }
    if bad > 0 {
        anyhow::bail!("{bad} model file(s) missing or damaged");
    }
    if let Some(image) = image {
        let rt = menwei_vision::Runtime::init(cfg.onnxruntime.as_deref())?;
        let img = image::open(image).with_context(|| format!("cannot read {}", image.display()))?.to_rgb8();
        let view = menwei_core::image::RgbView::packed(img.width(), img.height(), img.as_raw())?;
        let opts = menwei_vision::SessionOptions {
            intra_threads: cfg.intra_threads,
            spinning: cfg.spinning,
            provider: cfg.provider,
        };
        for entry in &store.manifest().models {
            let model = store.verify(&entry.name)?;
            let report = menwei_vision::probe::probe(&rt, &model, view, &opts)?;
            println!("{}", serde_json::to_string(&report)?);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_command_line_parses() {
        menwei_tests::doc_commands::assert_all_parse("menwei-edge", &[], 10, |args| {
            Cli::try_parse_from(args).map(drop)
        });
    }
}
