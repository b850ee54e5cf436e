//! `menwei-central`: the command line of the governance service.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "menwei-central", version, about = "menwei's district governance service")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validates a config file and lists every problem with its key path.
    CheckConfig { file: PathBuf },
    /// Runs the service: ingests every compound's events (the register, work orders, API and
    /// dashboard are still to come).
    Run {
        #[arg(long, short)]
        config: PathBuf,
    },
}

fn run(path: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    let cfg = menwei_central::config::load(path)?;
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| cfg.log_filter.clone());
    let sub = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr);
    match cfg.log_format {
        menwei_central::config::LogFormat::Json => sub.json().init(),
        menwei_central::config::LogFormat::Human => sub.init(),
    }
    let store = match &cfg.database {
        menwei_central::config::DatabaseUrl::Sqlite(p) => menwei_central::store::Store::open_sqlite(p)?,
        menwei_central::config::DatabaseUrl::Postgres(_) => {
            anyhow::bail!("PostgreSQL is not supported yet by this build: use database.url = \"sqlite://PATH\"")
        }
    };
    let rest = cfg
        .broker_url
        .strip_prefix("mqtt://")
        .context("broker.url: only mqtt://host:port is supported by this build")?;
    let (host, port) = match rest.trim_end_matches('/').rsplit_once(':') {
        Some((h, p)) => (h.to_owned(), p.parse::<u16>().context("broker.url: bad port")?),
        None => (rest.to_owned(), 1883),
    };
    let ingest = menwei_central::ingest::IngestConfig {
        host,
        port,
        client_id: cfg.client_id.clone(),
        share_group: cfg.share_group.clone(),
        resend_after: std::time::Duration::from_secs(10),
    };
    let store = std::sync::Arc::new(std::sync::Mutex::new(store));
    let stats = std::sync::Arc::new(menwei_central::ingest::IngestStats::default());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(menwei_central::ingest::run(ingest, store, stop_rx, stats));
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutting down");
        stop_tx.send_replace(true);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), task).await;
        Ok(())
    })
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Run { config } => match run(&config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("menwei-central: error: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::CheckConfig { file } => match menwei_central::config::load(&file) {
            Ok(cfg) => {
                println!("{}: ok (listen {}, database {:?})", file.display(), cfg.listen, cfg.database);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(2)
            }
        },
    }
}
