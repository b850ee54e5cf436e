//! `menwei-central`: the command line of the governance service.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand};
use menwei_central::config::{CentralConfig, DatabaseUrl};
use menwei_central::db::Db;

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
    /// Runs the service: ingest, register distribution, work orders, webhooks, the REST API and
    /// the dashboard.
    Run {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Loads a district structure file (districts, communities, grids and staff, compounds with
    /// gates and buildings); idempotent.
    Structure {
        #[arg(long, short)]
        config: PathBuf,
        file: PathBuf,
    },
    /// Manages users.
    User {
        /// The service's config, before or after the action (`user -c FILE add …` or
        /// `user add -c FILE …`).
        #[arg(long, short, global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        action: UserAction,
    },
}

#[derive(Debug, Subcommand)]
enum UserAction {
    /// Creates or replaces a user; the password is read from standard input.
    Add {
        username: String,
        /// admin, property, grid or readonly.
        #[arg(long)]
        role: String,
        /// A grid (name or id) the user serves; repeat for several. Required for grid staff.
        #[arg(long = "grid")]
        grids: Vec<String>,
        /// The property company, for property operators.
        #[arg(long)]
        company: Option<String>,
        /// Read the password from standard input (the only way: never on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Disables a user and ends their sessions.
    Disable { username: String },
    /// Enables a disabled user again.
    Enable { username: String },
}

impl Cli {
    /// Parses the arguments, then checks what clap cannot: `user` needs `--config`, which may
    /// come before or after its action, so it is a global argument, and clap's global arguments
    /// cannot be required.
    fn try_parse_args<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let cli = Cli::try_parse_from(args)?;
        if let Command::User { config: None, .. } = &cli.command {
            let mut cmd = Cli::command();
            let user = cmd.find_subcommand_mut("user").expect("the user subcommand");
            return Err(user.error(
                clap::error::ErrorKind::MissingRequiredArgument,
                "the config is needed: `--config FILE`, before or after the action",
            ));
        }
        Ok(cli)
    }
}

fn open_db(cfg: &CentralConfig) -> anyhow::Result<Db> {
    Ok(match &cfg.database {
        DatabaseUrl::Sqlite(p) => Db::open_sqlite(p).with_context(|| format!("database {}", p.display()))?,
        DatabaseUrl::Postgres(url) => {
            Db::open_postgres_tls(url, cfg.database_tls.as_ref()).context("database (PostgreSQL)")?
        }
    })
}

fn init_logs(cfg: &CentralConfig) {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| cfg.log_filter.clone());
    let sub = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr);
    match cfg.log_format {
        menwei_central::config::LogFormat::Json => sub.json().init(),
        menwei_central::config::LogFormat::Human => sub.init(),
    }
}

fn run(path: &Path) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let cfg = menwei_central::config::load(path)?;
    init_logs(&cfg);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let db = rt.block_on(async {
        // First of all: a SIGTERM or Ctrl-C during start-up is a clean stop, not a kill.
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        // Bound before the database opens: nothing after the open may fail (see below).
        let listener =
            tokio::net::TcpListener::bind(cfg.listen).await.with_context(|| format!("http.listen {}", cfg.listen))?;
        // The PostgreSQL client runs its own runtime: open (and migrate) on a blocking thread.
        let db = {
            let cfg = cfg.clone();
            tokio::task::spawn_blocking(move || open_db(&cfg)).await??
        };
        let stats = Arc::new(menwei_central::ingest::IngestStats::default());
        let ingest = menwei_central::ingest::IngestConfig {
            endpoint: cfg.broker.clone(),
            client_id: cfg.client_id.clone(),
            share_group: cfg.share_group.clone(),
            resend_after: std::time::Duration::from_secs(10),
            orders: cfg.orders.clone(),
        };
        let app = Arc::new(menwei_central::api::App {
            db: db.clone(),
            policy: Arc::new(cfg.orders.clone()),
            logins: menwei_central::auth::RateLimit::new(cfg.login_burst, cfg.login_refill_secs),
            stats: stats.clone(),
            behind_proxy: cfg.behind_proxy,
            login_refill_secs: cfg.login_refill_secs,
            public_origin: cfg.public_origin.clone(),
        });
        let (stop_tx, stop_rx) = menwei_core::shutdown::channel();
        tracing::info!(listen = %cfg.listen, "dashboard and API at http://{}/", cfg.listen);
        let http = tokio::spawn(menwei_central::api::serve(listener, app, stop_rx.clone()));
        let ingest = tokio::spawn(menwei_central::ingest::run(ingest, db.clone(), stop_rx.clone(), stats));
        let hooks = tokio::spawn(menwei_central::webhook::run(db.clone(), cfg.webhook.clone(), stop_rx));
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutting down (5 s grace)");
        stop_tx.shutdown();
        let grace = std::time::Duration::from_secs(5);
        let _ = tokio::time::timeout(grace, async {
            let _ = ingest.await;
            let _ = http.await;
            let _ = hooks.await;
        })
        .await;
        anyhow::Ok(db)
    })?;
    // The PostgreSQL clients own runtimes of their own, which must not be dropped inside
    // tokio's: the tasks go with the runtime, then the last handle on the pool outside it.
    drop(rt);
    drop(db);
    Ok(())
}

fn structure(config: &Path, file: &Path) -> anyhow::Result<()> {
    let cfg = menwei_central::config::load(config)?;
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let parsed: menwei_central::register::structure::File =
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let db = open_db(&cfg)?;
    match db.tx(|t| menwei_central::register::structure::apply(t, &parsed)) {
        Ok(()) => {
            let n = |what: &str| db.with(|t| t.int(&format!("SELECT COUNT(*) FROM {what}"), &[])).unwrap_or(0);
            println!(
                "{}: loaded ({} districts, {} communities, {} grids, {} compounds, {} buildings, {} staff)",
                file.display(),
                n("districts"),
                n("communities"),
                n("grids"),
                n("compounds"),
                n("buildings"),
                n("staff")
            );
            Ok(())
        }
        Err(menwei_central::register::Fail::Invalid(problems)) => {
            let lines: Vec<String> = problems.iter().map(|(k, m)| format!("  {k}: {m}")).collect();
            anyhow::bail!("{}: nothing loaded:\n{}", file.display(), lines.join("\n"))
        }
        Err(e) => anyhow::bail!("{}: {e:?}", file.display()),
    }
}

fn user_add(config: &Path, username: &str, role: &str, grids: &[String], company: Option<&str>) -> anyhow::Result<()> {
    let cfg = menwei_central::config::load(config)?;
    let role = menwei_central::auth::Role::parse(role).context("--role must be admin, property, grid or readonly")?;
    let mut password = String::new();
    std::io::stdin().read_to_string(&mut password).context("reading the password from standard input")?;
    let password = password.trim_end_matches(['\n', '\r']);
    anyhow::ensure!(password.chars().count() >= 10, "the password needs 10 characters or more");
    anyhow::ensure!(menwei_central::register::safe_ref(username), "the user name may use A-Z, a-z, 0-9, `-` and `_`");
    let db = open_db(&cfg)?;
    let id = db
        .tx(|t| menwei_central::auth::add_user(t, username, password, role, grids, company))?
        .map_err(|e| anyhow::anyhow!(e))?;
    println!("user {username} ({}) saved, id {id}", role.name());
    Ok(())
}

fn user_disabled(config: &Path, username: &str, disabled: bool) -> anyhow::Result<()> {
    let cfg = menwei_central::config::load(config)?;
    let db = open_db(&cfg)?;
    let found = db.tx(|t| menwei_central::auth::set_disabled(t, username, disabled))?;
    anyhow::ensure!(found, "no user named {username}");
    println!("user {username} {}", if disabled { "disabled; their sessions ended" } else { "enabled" });
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::try_parse_args(std::env::args_os()).unwrap_or_else(|e| e.exit());
    let result = match cli.command {
        Command::Run { config } => run(&config),
        Command::CheckConfig { file } => {
            return match menwei_central::config::load(&file) {
                Ok(cfg) => {
                    println!("{}: ok (listen {}, database {:?})", file.display(), cfg.listen, cfg.database);
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::from(2)
                }
            };
        }
        Command::Structure { config, file } => structure(&config, &file),
        Command::User { config, action } => {
            let config = config.expect("checked by try_parse_args");
            match action {
                UserAction::Add { username, role, grids, company, password_stdin: _ } => {
                    user_add(&config, &username, &role, &grids, company.as_deref())
                }
                UserAction::Disable { username } => user_disabled(&config, &username, true),
                UserAction::Enable { username } => user_disabled(&config, &username, false),
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("menwei-central: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_command_line_parses() {
        menwei_tests::doc_commands::assert_all_parse("menwei-central", &[], 8, |args| {
            Cli::try_parse_args(args).map(drop)
        });
    }

    #[test]
    fn the_users_config_goes_before_or_after_the_action_and_is_required() {
        for args in [
            "menwei-central user add -c c.toml admin --role admin --password-stdin",
            "menwei-central user -c c.toml add admin --role admin --password-stdin",
            "menwei-central user disable --config c.toml g1",
        ] {
            let cli = Cli::try_parse_args(args.split(' ')).unwrap();
            assert!(matches!(cli.command, Command::User { config: Some(c), .. } if c == Path::new("c.toml")), "{args}");
        }
        let e = Cli::try_parse_args("menwei-central user enable g1".split(' ')).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        assert!(e.to_string().contains("--config FILE"), "{e}");
    }
}
