//! `central.toml`: raw serde structs, validated into typed config.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub mod raw {
    //! The file as written; every table denies unknown keys.
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct CentralFile {
        #[serde(default)]
        pub log: RawLog,
        #[serde(default)]
        pub http: Http,
        #[serde(default)]
        pub database: Database,
        #[serde(default)]
        pub broker: Broker,
        #[serde(default)]
        pub orders: Orders,
        #[serde(default)]
        pub auth: Auth,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Orders {
        pub due_minutes: Option<i64>,
        pub webhooks: Option<Vec<String>>,
        pub webhook_max_attempts: Option<i64>,
        pub webhook_first_retry_secs: Option<f64>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Auth {
        pub login_burst: Option<u32>,
        pub login_refill_secs: Option<f64>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Http {
        pub listen: Option<String>,
        pub behind_proxy: Option<bool>,
        pub public_origin: Option<String>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Database {
        pub url: Option<String>,
        pub ca_file: Option<PathBuf>,
        pub cert_file: Option<PathBuf>,
        pub key_file: Option<PathBuf>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Broker {
        pub url: Option<String>,
        pub client_id: Option<String>,
        pub share_group: Option<String>,
        pub username: Option<String>,
        pub password: Option<String>,
        pub ca_file: Option<PathBuf>,
        pub cert_file: Option<PathBuf>,
        pub key_file: Option<PathBuf>,
    }
}

/// Where the service keeps its data.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// An SQLite file (WAL); the default.
    Sqlite(PathBuf),
    /// A PostgreSQL URL; may carry a password, so it is never printed whole.
    Postgres(String),
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseUrl::Sqlite(p) => write!(f, "Sqlite({})", p.display()),
            DatabaseUrl::Postgres(_) => write!(f, "Postgres(<redacted>)"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct CentralConfig {
    pub log_format: LogFormat,
    pub log_filter: String,
    pub listen: SocketAddr,
    /// Behind a TLS-terminating reverse proxy: the client address for the login limit is the
    /// last `X-Forwarded-For` entry, and the session cookie is marked `Secure`.
    pub behind_proxy: bool,
    /// The dashboard's address as browsers see it behind a reverse proxy
    /// (`https://grid.example.gov.cn`): cookie-authenticated writes from it are accepted
    /// besides those from the `Host` the request names.
    pub public_origin: Option<String>,
    pub database: DatabaseUrl,
    /// TLS to PostgreSQL (`[database] ca_file`, `cert_file`, `key_file`); required when set.
    pub database_tls: Option<crate::pgtls::PgTls>,
    /// The broker: host, port, credentials, TLS files.
    pub broker: menwei_mqtt::Endpoint,
    pub client_id: String,
    pub share_group: String,
    pub orders: crate::orders::OrderPolicy,
    pub webhook: crate::webhook::WebhookConfig,
    pub login_burst: u32,
    pub login_refill_secs: f64,
}

pub use menwei_core::config::{ConfigErrors, Issue, LogFormat};
use menwei_core::config::{Issues, RawLog, parse_toml};

/// Replaces `${NAME}` with the environment variable's value, so that secrets stay out of the
/// file. An unset variable is an error naming it (never its value).
pub fn expand_env(s: &str) -> Result<String, menwei_core::config::VarError> {
    menwei_core::config::expand_vars(s, |name| std::env::var(name).ok())
}

/// `s` as a browser's `Origin` would write it (`http://` or `https://`, a host, an optional port,
/// lower case, no path or trailing slash), or `None` when it is not one.
pub fn origin(s: &str) -> Option<String> {
    let s = s.trim().trim_end_matches('/').to_ascii_lowercase();
    let rest = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://"))?;
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => (h, Some(p)),
        _ => (rest, None),
    };
    let host_ok =
        !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'));
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
    (host_ok && port_ok).then_some(s)
}

fn safe_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

pub fn load(path: &Path) -> Result<CentralConfig, ConfigErrors> {
    let text =
        std::fs::read_to_string(path).map_err(|e| ConfigErrors::one(path, "(file)", format!("cannot read: {e}")))?;
    let raw: raw::CentralFile = parse_toml(&text, path)?;
    let base = path.parent().map(Path::to_owned).unwrap_or_default();
    let mut issues = Issues::default();
    let log_format = raw.log.format(&mut issues);
    let mut add = |key: &str, message: String| issues.add(key, message);
    let log_filter = raw.log.filter.unwrap_or_else(|| "info".into());
    let listen_s = raw.http.listen.unwrap_or_else(|| "127.0.0.1:8080".into());
    let listen = listen_s.parse().unwrap_or_else(|e| {
        add("http.listen", format!("`{listen_s}` is not an address:port ({e})"));
        SocketAddr::from(([127, 0, 0, 1], 8080))
    });
    let public_origin = raw.http.public_origin.and_then(|o| match origin(&o) {
        Some(o) => Some(o),
        None => {
            add("http.public_origin", format!("`{o}` is not an origin (scheme://host or scheme://host:port, no path)"));
            None
        }
    });
    let db_s = raw.database.url.unwrap_or_else(|| "sqlite://../var/central.db".into());
    let database = match expand_env(&db_s) {
        Err(e) => {
            add("database.url", e.to_string());
            DatabaseUrl::Sqlite(PathBuf::new())
        }
        Ok(url) => {
            if let Some(p) = url.strip_prefix("sqlite://") {
                let p = Path::new(p);
                DatabaseUrl::Sqlite(if p.is_absolute() { p.to_owned() } else { base.join(p) })
            } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
                DatabaseUrl::Postgres(url)
            } else {
                add("database.url", "must start with sqlite:// or postgres://".into());
                DatabaseUrl::Sqlite(PathBuf::new())
            }
        }
    };
    let resolve_db = |p: &Path| if p.is_absolute() { p.to_owned() } else { base.join(p) };
    let database_tls = match (&raw.database.ca_file, &database) {
        (None, _) => {
            if raw.database.cert_file.is_some() || raw.database.key_file.is_some() {
                add("database.ca_file", "a client certificate needs the CA (PEM) that verifies the server".into());
            }
            None
        }
        (Some(_), DatabaseUrl::Sqlite(_)) => {
            add("database.ca_file", "TLS is for a postgres:// url; SQLite is a local file".into());
            None
        }
        (Some(ca), DatabaseUrl::Postgres(_)) => {
            let client = match (&raw.database.cert_file, &raw.database.key_file) {
                (Some(c), Some(k)) => Some((resolve_db(c), resolve_db(k))),
                (None, None) => None,
                _ => {
                    add("database.cert_file", "a client certificate needs both cert_file and key_file".into());
                    None
                }
            };
            let tls = crate::pgtls::PgTls { ca_file: resolve_db(ca), client };
            for (key, f) in [
                ("database.ca_file", Some(&tls.ca_file)),
                ("database.cert_file", tls.client.as_ref().map(|c| &c.0)),
                ("database.key_file", tls.client.as_ref().map(|c| &c.1)),
            ] {
                if let Some(f) = f
                    && !f.is_file()
                {
                    add(key, format!("file {} does not exist", f.display()));
                }
            }
            Some(tls)
        }
    };
    let broker_url = raw.broker.url.clone().unwrap_or_else(|| "mqtt://127.0.0.1:1883".into());
    let resolve = |p: &Path| if p.is_absolute() { p.to_owned() } else { base.join(p) };
    let broker = menwei_mqtt::endpoint(
        menwei_mqtt::BrokerKeys {
            url: &broker_url,
            username: raw.broker.username.as_deref(),
            password: raw.broker.password.as_deref(),
            ca_file: raw.broker.ca_file.as_deref(),
            cert_file: raw.broker.cert_file.as_deref(),
            key_file: raw.broker.key_file.as_deref(),
        },
        &resolve,
        &mut issues,
    )
    .unwrap_or_else(|| menwei_mqtt::Endpoint::plain("127.0.0.1", 1883));
    let mut add = |key: &str, message: String| issues.add(key, message);
    let client_id = raw.broker.client_id.unwrap_or_else(|| "menwei-central-1".into());
    if !safe_id(&client_id) {
        add("broker.client_id", format!("`{client_id}` may use only A-Z, a-z, 0-9, `-` and `_` (1 to 64)"));
    }
    let share_group = raw.broker.share_group.unwrap_or_else(|| "menwei-central".into());
    if !safe_id(&share_group) {
        add("broker.share_group", format!("`{share_group}` may use only A-Z, a-z, 0-9, `-` and `_` (1 to 64)"));
    }
    let due_minutes = raw.orders.due_minutes.unwrap_or(120);
    if !(1..=7 * 24 * 60).contains(&due_minutes) {
        add("orders.due_minutes", format!("{due_minutes} is not 1 to 10080 (a week)"));
    }
    let mut webhooks = Vec::new();
    for (i, w) in raw.orders.webhooks.unwrap_or_default().into_iter().enumerate() {
        match expand_env(&w) {
            Ok(u) if u.starts_with("http://") || u.starts_with("https://") => webhooks.push(u),
            // Never echo the URL: it may carry a token.
            Ok(_) => add(&format!("orders.webhooks[{i}]"), "must start with http:// or https://".into()),
            Err(e) => add(&format!("orders.webhooks[{i}]"), e.to_string()),
        }
    }
    let max_attempts = raw.orders.webhook_max_attempts.unwrap_or(10);
    if !(1..=100).contains(&max_attempts) {
        add("orders.webhook_max_attempts", format!("{max_attempts} is not 1 to 100"));
    }
    let first_retry = raw.orders.webhook_first_retry_secs.unwrap_or(5.0);
    if !(0.1..=600.0).contains(&first_retry) {
        add("orders.webhook_first_retry_secs", format!("{first_retry} is not 0.1 to 600"));
    }
    let login_burst = raw.auth.login_burst.unwrap_or(5);
    if login_burst == 0 {
        add("auth.login_burst", "must be at least 1".into());
    }
    let login_refill_secs = raw.auth.login_refill_secs.unwrap_or(60.0);
    if !(0.01..=86_400.0).contains(&login_refill_secs) {
        add("auth.login_refill_secs", format!("{login_refill_secs} is not 0.01 to 86400"));
    }
    issues.finish(path)?;
    Ok(CentralConfig {
        log_format,
        log_filter,
        listen,
        behind_proxy: raw.http.behind_proxy.unwrap_or(false),
        public_origin,
        database,
        database_tls,
        broker,
        client_id,
        share_group,
        orders: crate::orders::OrderPolicy { due_ms: due_minutes * 60_000, webhooks },
        webhook: crate::webhook::WebhookConfig {
            max_attempts,
            timeout: std::time::Duration::from_secs(10),
            first_retry_ms: (first_retry * 1000.0) as i64,
        },
        login_burst,
        login_refill_secs,
    })
}
