//! `menwei-edge`: the command line of the edge daemon.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use menwei_edge::config::{self, LogFormat};
use menwei_edge::notify::Notifier;
use menwei_edge::pipeline::Control;

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
}

#[derive(Debug, Subcommand)]
enum EvalWhat {
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
    /// Faces: ROC AUC, TAR at FAR 1e-3, best threshold, rank-1, as photographed and degraded.
    Faces {
        /// `path,identity` per photo.
        manifest: PathBuf,
        /// `a,b,same` per pair.
        pairs: PathBuf,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        models: ModelArgs,
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
    /// Plate readers to fuse, comma-separated: clp_rec, ppocr_v4_rec, or both.
    #[arg(long, value_delimiter = ',', default_value = "clp_rec,ppocr_v4_rec")]
    plate_readers: Vec<String>,
    /// Plate detector input: the longest side (a multiple of 32). Smaller is faster and loses
    /// small plates (see docs/design/vision.md for the cost and the recall).
    #[arg(long, default_value_t = 1600)]
    plate_max_side: u32,
    /// How much a small picture may be scaled up for plate detection (1 = never).
    #[arg(long, default_value_t = 2.0)]
    plate_upscale: f32,
}

impl ModelArgs {
    fn paths(&self) -> Result<menwei_edge::tools::ModelPaths> {
        match &self.config {
            Some(c) => {
                let cfg = config::load(c)?;
                Ok(menwei_edge::tools::ModelPaths {
                    onnxruntime: cfg.onnxruntime.clone(),
                    manifest: cfg.models_manifest.clone(),
                    dir: cfg.models_dir.clone(),
                    face_detector: cfg.face_detector.clone(),
                    face_input: self.face_input,
                    plate_readers: self.plate_readers.clone(),
                    plate_max_side: self.plate_max_side,
                    plate_upscale: self.plate_upscale,
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
                    face_detector: "scrfd_500m".into(),
                    face_input: self.face_input,
                    plate_readers: self.plate_readers.clone(),
                    plate_max_side: self.plate_max_side,
                    plate_upscale: self.plate_upscale,
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
        plate_readers: vec!["clp_rec".into()],
        plate_max_side: 1600,
        plate_upscale: 2.0,
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

fn eval(what: EvalWhat) -> Result<()> {
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
        EvalWhat::Faces { manifest, pairs, json, models } => {
            let mut kit = menwei_edge::tools::Kit::open(&models.paths()?)?;
            let reports = menwei_vision::eval::eval_faces(
                &manifest,
                &pairs,
                &mut kit.faces,
                &mut kit.embedder,
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
    }
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
    let (mut term, mut interrupt) = {
        let _in_rt = rt.enter();
        use tokio::signal::unix::{SignalKind, signal};
        (signal(SignalKind::terminate())?, signal(SignalKind::interrupt())?)
    };
    // Refuse to start on a damaged model or a missing runtime before anything else starts.
    let prepared = menwei_edge::pipeline::prepare(&cfg).context("cannot start")?;
    let ctl = Arc::new(Control::default());
    let notifier = Notifier::from_env();
    let mut hooks = menwei_edge::pipeline::Hooks::default();
    if profile.is_some() {
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
        hooks.register_version.store(open_register(&cfg)?.version()?, Ordering::SeqCst);
    }
    let hooks = Arc::new(hooks);
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let worker = {
        let (ctl, hooks, cfg) = (ctl.clone(), hooks.clone(), cfg.clone());
        std::thread::Builder::new().name("infer-0".into()).spawn(move || {
            let mut stdout = std::io::stdout().lock();
            let r = menwei_edge::pipeline::run(&cfg, prepared, &ctl, &mut stdout, &hooks);
            let _ = done_tx.send(());
            r
        })?
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let relay_stats = Arc::new(menwei_edge::relay::RelayStats::default());
    let mut background = Vec::new();
    if let (Some(broker), Some(outbox), Some(committed)) = (cfg.broker.clone(), outbox.clone(), committed) {
        let (hooks, stats, stop, outbox2) = (hooks.clone(), relay_stats.clone(), stop_rx.clone(), outbox.clone());
        let topics = menwei_core::event::Topics::new(&cfg.compound_id);
        let sync = sync_handler(&cfg, &hooks);
        let handlers = menwei_edge::relay::Handlers { heartbeat: Box::new(move || heartbeat(&hooks, &outbox2)), sync };
        background.push(rt.spawn(async move {
            if let Err(e) = menwei_edge::relay::run(broker, topics, outbox, committed, stop, stats, handlers).await {
                tracing::error!("the event relay stopped: {e}");
            }
        }));
    }
    if let Some(addr) = cfg.http {
        let mut e = endpoints(&ctl, &hooks, outbox.clone(), relay_stats.clone());
        e.enroll = enroll_endpoint(&cfg, &hooks)?;
        let endpoints = Arc::new(e);
        let serve = rt
            .block_on(menwei_edge::http::bind(addr, endpoints, stop_rx.clone()))
            .with_context(|| format!("cannot listen on {addr} (http.listen)"))?;
        background.push(rt.spawn(serve));
    }
    let interrupted = rt.block_on(async {
        // Ping the systemd watchdog only while the inference loop makes progress.
        let period = notifier.watchdog_interval().unwrap_or(Duration::from_secs(3600));
        let mut ping = tokio::time::interval(period);
        let mut last_beat = u64::MAX;
        let mut ready_poll = tokio::time::interval(Duration::from_millis(50));
        let mut ready_sent = false;
        tokio::pin!(done_rx);
        loop {
            tokio::select! {
                _ = ready_poll.tick(), if !ready_sent => {
                    if ctl.ready.load(Ordering::SeqCst) {
                        notifier.notify("READY=1");
                        ready_sent = true;
                    }
                }
                _ = &mut done_rx => return Ok::<_, anyhow::Error>(false),
                _ = interrupt.recv() => return Ok(true),
                _ = term.recv() => return Ok(true),
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
    })?;
    notifier.notify("STOPPING=1");
    if interrupted {
        tracing::info!("shutting down (grace {GRACE:?}); a second Ctrl-C exits at once");
        ctl.stop.store(true, Ordering::SeqCst);
        let deadline = std::time::Instant::now() + GRACE;
        while !worker.is_finished() && std::time::Instant::now() < deadline {
            if rt.block_on(async { tokio::time::timeout(Duration::from_millis(50), interrupt.recv()).await.is_ok() }) {
                anyhow::bail!("second signal: exiting without draining");
            }
        }
        if !worker.is_finished() {
            anyhow::bail!("work did not finish within the {GRACE:?} grace period");
        }
    }
    let summary = worker.join().map_err(|_| anyhow::anyhow!("the inference thread panicked"))??;
    // Committed events stay in the outbox for the next start; give the relay a moment to say
    // `offline` and flush what is in flight.
    stop_tx.send_replace(true);
    rt.block_on(async {
        for task in background {
            let _ = tokio::time::timeout(Duration::from_secs(3), task).await;
        }
    });
    if let Some(file) = profile {
        write_profile(file, &hooks, &relay_stats)?;
    }
    eprintln!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}

/// What `run --profile` leaves for the benchmark harness.
fn write_profile(
    file: &Path,
    hooks: &menwei_edge::pipeline::Hooks,
    relay: &menwei_edge::relay::RelayStats,
) -> Result<()> {
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

/// The heartbeat payload: camera states, outbox depth, register version.
fn heartbeat(hooks: &menwei_edge::pipeline::Hooks, outbox: &std::sync::Mutex<menwei_outbox::Outbox>) -> Vec<u8> {
    let register_version = hooks.register_version.load(Ordering::SeqCst);
    let cameras = hooks.camera_states.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let status = outbox.lock().unwrap_or_else(|e| e.into_inner()).status().ok();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    let body = serde_json::json!({
        "schema": menwei_core::event::SCHEMA,
        "at": menwei_core::event::rfc3339_ms(now),
        "cameras": cameras,
        "outbox": status.as_ref().map(|s| serde_json::json!({
            "depth": s.depth.iter().map(|(c, n)| (c.name(), *n)).collect::<std::collections::BTreeMap<_, _>>(),
            "dropped": s.dropped.iter().map(|(c, n)| (c.name(), *n)).collect::<std::collections::BTreeMap<_, _>>(),
            "last_seq": s.last_seq,
            "acked_seq": s.acked_seq,
            "degraded": s.degraded,
        })),
        "register_version": register_version,
    });
    serde_json::to_vec(&body).unwrap_or_default()
}

/// `/metrics` and `/readyz`: capture, outbox and relay figures; ready when the models are
/// loaded, every camera streams (or a file ended) and the outbox is not degraded. The broker
/// does not decide readiness: events wait in the outbox while it is away.
fn endpoints(
    ctl: &Arc<Control>,
    hooks: &Arc<menwei_edge::pipeline::Hooks>,
    outbox: Option<Arc<std::sync::Mutex<menwei_outbox::Outbox>>>,
    relay: Arc<menwei_edge::relay::RelayStats>,
) -> menwei_edge::http::Endpoints {
    use menwei_core::metrics::{Kind, MetricsText};
    let (h1, o1) = (hooks.clone(), outbox.clone());
    let metrics = move || {
        let mut m = MetricsText::new();
        let sources = h1.sources.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let refs: Vec<&dyn menwei_capture::FrameSource> = sources.iter().map(|s| s as _).collect();
        menwei_capture::write_metrics(&refs, &mut m);
        // One family at a time: the text format wants a family's samples together.
        let counts = h1.frame_counts.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for (camera, n) in &counts {
            m.sample(
                "menwei_pipeline_analysed_frames_total",
                Kind::Counter,
                "Frames the models looked at (the moving region or the whole frame).",
                &[("camera", camera)],
                n.analysed.load(Ordering::Relaxed) as f64,
            );
        }
        for (camera, n) in &counts {
            for (reason, v) in [("still", &n.still), ("decided", &n.decided)] {
                m.sample(
                    "menwei_pipeline_spared_frames_total",
                    Kind::Counter,
                    "Frames the motion gate kept from the models: still (nothing moved), decided (a settling picture whose faces and plates were all decided).",
                    &[("camera", camera), ("reason", reason)],
                    v.load(Ordering::Relaxed) as f64,
                );
            }
        }
        if let Some(status) = o1.as_ref().and_then(|o| o.lock().unwrap_or_else(|e| e.into_inner()).status().ok()) {
            for (c, n) in &status.depth {
                m.sample(
                    "menwei_outbox_depth_events",
                    Kind::Gauge,
                    "Events waiting for central's ack.",
                    &[("class", c.name())],
                    *n as f64,
                );
            }
            for (c, n) in &status.dropped {
                m.sample(
                    "menwei_outbox_dropped_events_total",
                    Kind::Counter,
                    "Events dropped at their class's cap.",
                    &[("class", c.name())],
                    *n as f64,
                );
            }
            m.sample(
                "menwei_outbox_degraded",
                Kind::Gauge,
                "1 when a never-drop class nears its cap.",
                &[],
                f64::from(u8::from(status.degraded)),
            );
            m.sample(
                "menwei_outbox_last_seq",
                Kind::Gauge,
                "The last sequence number committed.",
                &[],
                status.last_seq as f64,
            );
        }
        let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed) as f64;
        m.sample(
            "menwei_relay_connected",
            Kind::Gauge,
            "1 while connected to the broker.",
            &[],
            f64::from(u8::from(relay.connected.load(Ordering::Relaxed))),
        );
        m.sample(
            "menwei_relay_connects_total",
            Kind::Counter,
            "Connections made to the broker.",
            &[],
            load(&relay.connects),
        );
        m.sample(
            "menwei_relay_published_events_total",
            Kind::Counter,
            "Events handed to the broker.",
            &[],
            load(&relay.published),
        );
        m.sample(
            "menwei_relay_republished_events_total",
            Kind::Counter,
            "Events published again (lost session, resend, stalled ack).",
            &[],
            load(&relay.republished),
        );
        m.sample(
            "menwei_relay_acked_seq",
            Kind::Gauge,
            "The highest sequence central acknowledged.",
            &[],
            load(&relay.acked_seq),
        );
        m.finish()
    };
    let (ctl, h2) = (ctl.clone(), hooks.clone());
    let ready = move || {
        let mut why = Vec::new();
        if !ctl.ready.load(Ordering::SeqCst) {
            why.push("models and cameras are still starting".to_owned());
        }
        for (camera, state) in h2.camera_states.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            if state != "streaming" && state != "ended" {
                why.push(format!("camera {camera} is {state}"));
            }
        }
        if let Some(o) = &outbox
            && o.lock().unwrap_or_else(|e| e.into_inner()).status().is_ok_and(|s| s.degraded)
        {
            why.push("the outbox is near its cap (central has not acknowledged for a long time)".to_owned());
        }
        if why.is_empty() { Ok(()) } else { Err(why) }
    };
    menwei_edge::http::Endpoints { metrics: Box::new(metrics), ready: Box::new(ready), enroll: None }
}

/// Register updates from central: applied in order, the templates and vehicles reloaded.
fn sync_handler(
    cfg: &config::EdgeConfig,
    hooks: &Arc<menwei_edge::pipeline::Hooks>,
) -> Option<menwei_edge::relay::SyncHandler> {
    let register = cfg.register.clone()?;
    let hooks = hooks.clone();
    Some(Box::new(move |payload: &[u8]| {
        let batch: menwei_core::event::SyncBatch = match serde_json::from_slice(payload) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!("ignoring a malformed register update: {e}");
                return None;
            }
        };
        let result = menwei_register::Register::open(&register.path, &register.key_file).and_then(|mut r| {
            let before = r.version()?;
            let after = r.apply_sync(&batch)?;
            Ok((before, after))
        });
        match result {
            Ok((before, after)) => {
                if after != before {
                    tracing::info!(version = after, erased = batch.erase.len(), "register update applied");
                    hooks.register_version.store(after, Ordering::SeqCst);
                    hooks.register_generation.fetch_add(1, Ordering::SeqCst);
                } else if batch.version > after + 1 {
                    tracing::warn!(
                        got = batch.version,
                        at = after,
                        "register update out of order: waiting for the missing ones"
                    );
                }
                Some(after)
            }
            Err(e) => {
                tracing::warn!("cannot apply a register update: {e}");
                None
            }
        }
    }))
}

/// Reads the enrolment bearer token, refusing a file others may read.
fn read_token(path: &Path) -> Result<String> {
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

/// `POST /enroll`: the models are opened on the first request (enrolment is rare), the
/// register for each; a success tells the inference thread to reload the templates.
fn enroll_endpoint(
    cfg: &config::EdgeConfig,
    hooks: &Arc<menwei_edge::pipeline::Hooks>,
) -> Result<Option<(String, Arc<menwei_edge::http::EnrollFn>)>> {
    let Some(token_file) = &cfg.enroll_token_file else { return Ok(None) };
    let token = read_token(token_file)?;
    let paths = menwei_edge::tools::ModelPaths {
        onnxruntime: cfg.onnxruntime.clone(),
        manifest: cfg.models_manifest.clone(),
        dir: cfg.models_dir.clone(),
        face_detector: cfg.face_detector.clone(),
        face_input: 640,
        plate_readers: Vec::new(),
        plate_max_side: 1600,
        plate_upscale: 2.0,
        opts: menwei_vision::SessionOptions { intra_threads: 1, spinning: false, provider: cfg.provider },
    };
    let register = cfg.register.clone().context("enrolment needs a [register]")?;
    let models: std::sync::Mutex<Option<(menwei_vision::face::FaceDetector, menwei_vision::embed::FaceEmbedder)>> =
        std::sync::Mutex::new(None);
    let generation = hooks.register_generation.clone();
    let f = move |resident: &str, body: &[u8]| -> (u16, String) {
        let result = (|| -> Result<(u16, String)> {
            let img = match image::load_from_memory(body) {
                Ok(i) => i.to_rgb8(),
                Err(e) => return Ok((400, serde_json::json!({"error": format!("not a picture: {e}")}).to_string())),
            };
            let reg = menwei_register::Register::open(&register.path, &register.key_file)?;
            if reg.resident(resident)?.is_none() {
                return Ok((
                    404,
                    serde_json::json!({"error": format!("resident `{resident}` is not in the register")}).to_string(),
                ));
            }
            let mut guard = models.lock().unwrap_or_else(|e| e.into_inner());
            if guard.is_none() {
                let rt = menwei_vision::Runtime::init(paths.onnxruntime.as_deref())?;
                let store = menwei_vision::ModelStore::open(&paths.manifest, &paths.dir)?;
                let det = menwei_vision::face::FaceDetector::open(
                    &rt,
                    &store.verify(&paths.face_detector)?,
                    &paths.opts,
                    640,
                    0.5,
                )?;
                let emb = menwei_vision::embed::FaceEmbedder::new(&rt, &store.verify("w600k_mbf")?, &paths.opts)?;
                *guard = Some((det, emb));
            }
            let (det, emb) = guard.as_mut().expect("models opened");
            let outcome = match menwei_edge::tools::enroll_image(det, emb, &reg, resident, &img) {
                Ok(o) => o,
                Err(e) => {
                    return Ok((422, serde_json::json!({"result": "refused", "reason": format!("{e:#}")}).to_string()));
                }
            };
            let code = if outcome.result == "enrolled" {
                generation.fetch_add(1, Ordering::SeqCst);
                200
            } else {
                422
            };
            Ok((code, serde_json::to_string(&outcome)?))
        })();
        result.unwrap_or_else(|e| (500, serde_json::json!({"error": format!("{e:#}")}).to_string()))
    };
    Ok(Some((token, Arc::new(f))))
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
