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

/// Every default of `central.toml`, in one place (docs/ref/config.md lists them).
pub mod defaults {
    pub const LOG_FILTER: &str = "info";
    pub const LISTEN: &str = "127.0.0.1:8080";
    /// Relative to the config file: `config/central.toml` stores in `var/central.db`.
    pub const DATABASE_URL: &str = "sqlite://../var/central.db";
    pub const BROKER_URL: &str = "mqtt://127.0.0.1:1883";
    pub const CLIENT_ID: &str = "menwei-central-1";
    pub const SHARE_GROUP: &str = "menwei-central";
    pub const ORDER_DUE_MINUTES: i64 = 120;
    pub const WEBHOOK_MAX_ATTEMPTS: i64 = 10;
    pub const WEBHOOK_FIRST_RETRY_SECS: f64 = 5.0;
    pub const WEBHOOK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
    pub const LOGIN_BURST: u32 = 5;
    pub const LOGIN_REFILL_SECS: f64 = 60.0;
}

pub fn load(path: &Path) -> Result<CentralConfig, ConfigErrors> {
    let text =
        std::fs::read_to_string(path).map_err(|e| ConfigErrors::one(path, "(file)", format!("cannot read: {e}")))?;
    let raw: raw::CentralFile = parse_toml(&text, path)?;
    let base = path.parent().map(Path::to_owned).unwrap_or_default();
    let resolve = |p: &Path| if p.is_absolute() { p.to_owned() } else { base.join(p) };
    let mut issues = Issues::default();
    let log_format = raw.log.format(&mut issues);
    let log_filter = raw.log.filter.clone().unwrap_or_else(|| defaults::LOG_FILTER.into());
    let (listen, public_origin) = http(&raw.http, &mut issues);
    let database = database_url(&raw.database, &resolve, &mut issues);
    let database_tls = database_tls(&raw.database, &database, &resolve, &mut issues);
    let (broker, client_id, share_group) = broker(&raw.broker, &resolve, &mut issues);
    let (orders, webhook) = orders(&raw.orders, &mut issues);
    let login_burst = raw.auth.login_burst.unwrap_or(defaults::LOGIN_BURST);
    if login_burst == 0 {
        issues.add("auth.login_burst", "must be at least 1");
    }
    let login_refill_secs = raw.auth.login_refill_secs.unwrap_or(defaults::LOGIN_REFILL_SECS);
    if !(0.01..=86_400.0).contains(&login_refill_secs) {
        issues.add("auth.login_refill_secs", format!("{login_refill_secs} is not 0.01 to 86400"));
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
        orders,
        webhook,
        login_burst,
        login_refill_secs,
    })
}

/// `[http]`: where to listen, and the public origin behind a proxy.
fn http(h: &raw::Http, issues: &mut Issues) -> (SocketAddr, Option<String>) {
    let listen_s = h.listen.clone().unwrap_or_else(|| defaults::LISTEN.into());
    let listen = listen_s.parse().unwrap_or_else(|e| {
        issues.add("http.listen", format!("`{listen_s}` is not an address:port ({e})"));
        SocketAddr::from(([127, 0, 0, 1], 8080))
    });
    let public_origin = h.public_origin.as_ref().and_then(|o| match origin(o) {
        Some(o) => Some(o),
        None => {
            issues.add(
                "http.public_origin",
                format!("`{o}` is not an origin (scheme://host or scheme://host:port, no path)"),
            );
            None
        }
    });
    (listen, public_origin)
}

/// `[database] url`, with `${VAR}` expanded; a relative SQLite path is relative to the file.
fn database_url(d: &raw::Database, resolve: &dyn Fn(&Path) -> PathBuf, issues: &mut Issues) -> DatabaseUrl {
    let db_s = d.url.clone().unwrap_or_else(|| defaults::DATABASE_URL.into());
    match expand_env(&db_s) {
        Err(e) => {
            issues.add("database.url", e.to_string());
            DatabaseUrl::Sqlite(PathBuf::new())
        }
        Ok(url) => {
            if let Some(p) = url.strip_prefix("sqlite://") {
                DatabaseUrl::Sqlite(resolve(Path::new(p)))
            } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
                DatabaseUrl::Postgres(url)
            } else {
                issues.add("database.url", "must start with sqlite:// or postgres://");
                DatabaseUrl::Sqlite(PathBuf::new())
            }
        }
    }
}

/// `[database] ca_file`, `cert_file`, `key_file`: TLS to PostgreSQL.
fn database_tls(
    d: &raw::Database,
    database: &DatabaseUrl,
    resolve: &dyn Fn(&Path) -> PathBuf,
    issues: &mut Issues,
) -> Option<crate::pgtls::PgTls> {
    match (&d.ca_file, database) {
        (None, _) => {
            if d.cert_file.is_some() || d.key_file.is_some() {
                issues.add("database.ca_file", "a client certificate needs the CA (PEM) that verifies the server");
            }
            None
        }
        (Some(_), DatabaseUrl::Sqlite(_)) => {
            issues.add("database.ca_file", "TLS is for a postgres:// url; SQLite is a local file");
            None
        }
        (Some(ca), DatabaseUrl::Postgres(_)) => {
            let client = match (&d.cert_file, &d.key_file) {
                (Some(c), Some(k)) => Some((resolve(c), resolve(k))),
                (None, None) => None,
                _ => {
                    issues.add("database.cert_file", "a client certificate needs both cert_file and key_file");
                    None
                }
            };
            let tls = crate::pgtls::PgTls { ca_file: resolve(ca), client };
            for (key, f) in [
                ("database.ca_file", Some(&tls.ca_file)),
                ("database.cert_file", tls.client.as_ref().map(|c| &c.0)),
                ("database.key_file", tls.client.as_ref().map(|c| &c.1)),
            ] {
                if let Some(f) = f
                    && !f.is_file()
                {
                    issues.add(key, format!("file {} does not exist", f.display()));
                }
            }
            Some(tls)
        }
    }
}

/// `[broker]`: the endpoint, this instance's client id and the shared-subscription group.
fn broker(
    b: &raw::Broker,
    resolve: &dyn Fn(&Path) -> PathBuf,
    issues: &mut Issues,
) -> (menwei_mqtt::Endpoint, String, String) {
    let url = b.url.clone().unwrap_or_else(|| defaults::BROKER_URL.into());
    let endpoint = menwei_mqtt::endpoint(
        menwei_mqtt::BrokerKeys {
            url: &url,
            username: b.username.as_deref(),
            password: b.password.as_deref(),
            ca_file: b.ca_file.as_deref(),
            cert_file: b.cert_file.as_deref(),
            key_file: b.key_file.as_deref(),
        },
        resolve,
        issues,
    )
    .unwrap_or_else(|| menwei_mqtt::Endpoint::plain("127.0.0.1", 1883));
    let client_id = b.client_id.clone().unwrap_or_else(|| defaults::CLIENT_ID.into());
    if !safe_id(&client_id) {
        issues.add("broker.client_id", format!("`{client_id}` may use only A-Z, a-z, 0-9, `-` and `_` (1 to 64)"));
    }
    let share_group = b.share_group.clone().unwrap_or_else(|| defaults::SHARE_GROUP.into());
    if !safe_id(&share_group) {
        issues.add("broker.share_group", format!("`{share_group}` may use only A-Z, a-z, 0-9, `-` and `_` (1 to 64)"));
    }
    (endpoint, client_id, share_group)
}

/// `[orders]`: when work orders are due and which webhooks hear of them.
fn orders(o: &raw::Orders, issues: &mut Issues) -> (crate::orders::OrderPolicy, crate::webhook::WebhookConfig) {
    let due_minutes = o.due_minutes.unwrap_or(defaults::ORDER_DUE_MINUTES);
    if !(1..=7 * 24 * 60).contains(&due_minutes) {
        issues.add("orders.due_minutes", format!("{due_minutes} is not 1 to 10080 (a week)"));
    }
    let mut webhooks = Vec::new();
    for (i, w) in o.webhooks.iter().flatten().enumerate() {
        match expand_env(w) {
            Ok(u) if u.starts_with("http://") || u.starts_with("https://") => webhooks.push(u),
            // Never echo the URL: it may carry a token.
            Ok(_) => issues.add(format!("orders.webhooks[{i}]"), "must start with http:// or https://"),
            Err(e) => issues.add(format!("orders.webhooks[{i}]"), e.to_string()),
        }
    }
    let max_attempts = o.webhook_max_attempts.unwrap_or(defaults::WEBHOOK_MAX_ATTEMPTS);
    if !(1..=100).contains(&max_attempts) {
        issues.add("orders.webhook_max_attempts", format!("{max_attempts} is not 1 to 100"));
    }
    let first_retry = o.webhook_first_retry_secs.unwrap_or(defaults::WEBHOOK_FIRST_RETRY_SECS);
    if !(0.1..=600.0).contains(&first_retry) {
        issues.add("orders.webhook_first_retry_secs", format!("{first_retry} is not 0.1 to 600"));
    }
    (
        crate::orders::OrderPolicy { due_ms: due_minutes * 60_000, webhooks },
        crate::webhook::WebhookConfig {
            max_attempts,
            timeout: defaults::WEBHOOK_TIMEOUT,
            first_retry_ms: (first_retry * 1000.0) as i64,
        },
    )
}
