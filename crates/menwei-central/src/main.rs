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
}

fn main() -> ExitCode {
    match Cli::parse().command {
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
