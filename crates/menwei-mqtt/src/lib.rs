//! The broker connection both daemons share, so the edge's relay and central's ingest reach a
//! broker the same way:
//!
//! - [`endpoint`]: `[broker]`'s URL, credentials and TLS files, checked with every problem
//!   reported by key path (`mqtt://` or `mqtts://`; TLS trusts `ca_file`, mutual TLS adds
//!   `cert_file` and `key_file`; `${VAR}` in the credentials comes from the environment).
//! - [`Endpoint::apply`]: credentials and the rustls transport (ring provider) on rumqttc's
//!   options.
//! - [`spawn_event_loop`]: rumqttc's event loop in a task of its own. Its `poll` is not safe to
//!   cancel mid-connect, so it must not sit in a `select!` with other work; connection errors
//!   are retried there with jittered exponential backoff.
//!
//! Credentials never appear in `Debug` output or messages.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use menwei_core::config::Issues;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{ConnectionError, Event, EventLoop, MqttOptions};
use tokio::sync::mpsc;

/// Where the broker is and how to prove who we are.
#[derive(Clone, PartialEq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    /// PEM files: the CA to trust, and a client certificate and key for mutual TLS.
    pub tls: Option<TlsFiles>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username.as_ref().map(|_| "<set>"))
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("tls", &self.tls)
            .finish()
    }
}

/// A TLS file (CA, client certificate or key) that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {}: {source}", path.display())]
pub struct TlsFileError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
}

impl Endpoint {
    /// Plain MQTT, no credentials.
    pub fn plain(host: &str, port: u16) -> Self {
        Endpoint { host: host.to_owned(), port, username: None, password: None, tls: None }
    }

    /// Sets the credentials and the TLS transport on `o`. Fails (naming the file) when a PEM
    /// file cannot be read.
    pub fn apply(&self, o: &mut MqttOptions) -> Result<(), TlsFileError> {
        if let (Some(u), Some(p)) = (&self.username, &self.password) {
            o.set_credentials(u.clone(), p.clone());
        }
        if let Some(tls) = &self.tls {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let read = |p: &Path| std::fs::read(p).map_err(|source| TlsFileError { path: p.to_owned(), source });
            let ca = read(&tls.ca)?;
            let client_auth = match (&tls.client_cert, &tls.client_key) {
                (Some(c), Some(k)) => Some((read(c)?, read(k)?)),
                _ => None,
            };
            o.set_transport(rumqttc::Transport::tls_with_config(rumqttc::TlsConfiguration::Simple {
                ca,
                alpn: None,
                client_auth,
            }));
        }
        Ok(())
    }

    /// `host:port`, for logs.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// The `[broker]` keys this crate reads, as written in the file.
#[derive(Clone, Copy, Debug, Default)]
pub struct BrokerKeys<'a> {
    pub url: &'a str,
    pub username: Option<&'a str>,
    pub password: Option<&'a str>,
    pub ca_file: Option<&'a Path>,
    pub cert_file: Option<&'a Path>,
    pub key_file: Option<&'a Path>,
}

/// Checks `[broker]`'s connection keys; relative files are resolved by `resolve`. Every problem
/// is added to `issues` under `broker.<key>`; `None` when the endpoint is unusable.
pub fn endpoint(b: BrokerKeys<'_>, resolve: &dyn Fn(&Path) -> PathBuf, issues: &mut Issues) -> Option<Endpoint> {
    let (tls, rest) = if let Some(r) = b.url.strip_prefix("mqtts://") {
        (true, r)
    } else if let Some(r) = b.url.strip_prefix("mqtt://") {
        (false, r)
    } else {
        issues.add("broker.url", format!("`{}` is not mqtt://host:port or mqtts://host:port", b.url));
        return None;
    };
    let rest = rest.trim_end_matches('/');
    // Before anything else: a URL with credentials is refused without echoing them.
    if rest.contains('@') {
        issues.add("broker.url", "give the host without credentials (use username and password)");
        return None;
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => match p.parse::<u16>() {
            Ok(p) => (h.to_owned(), p),
            Err(_) => {
                issues.add("broker.url", format!("port `{p}` is not a number"));
                return None;
            }
        },
        None => (rest.to_owned(), if tls { 8883 } else { 1883 }),
    };
    if host.is_empty() {
        issues.add("broker.url", "the host is missing");
        return None;
    }
    let mut expand = |key: &str, v: Option<&str>| -> Option<String> {
        v.and_then(|v| match menwei_core::config::expand_vars(v, |n| std::env::var(n).ok()) {
            Ok(v) => Some(v),
            Err(e) => {
                issues.add(key, e.to_string());
                None
            }
        })
    };
    let username = expand("broker.username", b.username);
    let password = expand("broker.password", b.password);
    if username.is_some() != password.is_some() {
        issues.add("broker.password", "username and password go together");
    }
    let mut ep = Endpoint { host, port, username, password, tls: None };
    if tls {
        match b.ca_file {
            Some(ca) => {
                ep.tls = Some(TlsFiles {
                    ca: resolve(ca),
                    client_cert: b.cert_file.map(resolve),
                    client_key: b.key_file.map(resolve),
                })
            }
            None => issues.add("broker.ca_file", "mqtts:// needs the CA certificate (PEM) to trust"),
        }
        if b.cert_file.is_some() != b.key_file.is_some() {
            issues.add("broker.cert_file", "mutual TLS needs both cert_file and key_file");
        }
    } else if b.ca_file.is_some() || b.cert_file.is_some() {
        issues.add("broker.url", "certificate files are given but the URL is mqtt:// (use mqtts://)");
    }
    Some(ep)
}

const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// Runs `eventloop` in its own task and forwards every poll result. After an error the task
/// waits (250 ms doubling to 10 s, jittered; reset by a ConnAck) before polling again, which
/// reconnects. It ends when the receiver is dropped or `stop` is signalled.
pub fn spawn_event_loop(
    mut eventloop: EventLoop,
    stop: menwei_core::shutdown::Receiver,
) -> (tokio::task::JoinHandle<()>, mpsc::Receiver<Result<Event, ConnectionError>>) {
    let (tx, rx) = mpsc::channel(256);
    let task = tokio::spawn(async move {
        let mut backoff = BACKOFF_MIN;
        loop {
            let ev = eventloop.poll().await;
            let failed = ev.is_err();
            if matches!(ev, Ok(Event::Incoming(Packet::ConnAck(_)))) {
                backoff = BACKOFF_MIN;
            }
            if tx.send(ev).await.is_err() {
                return;
            }
            if failed {
                let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |t| t.subsec_nanos());
                let wait = menwei_core::retry::jittered(backoff, nanos);
                backoff = (backoff * 2).min(BACKOFF_MAX);
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.down() => return,
                }
            }
        }
    });
    (task, rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(b: BrokerKeys<'_>) -> (Option<Endpoint>, Vec<String>) {
        let mut issues = Issues::default();
        let ep = endpoint(b, &|p| Path::new("/etc/menwei").join(p), &mut issues);
        let keys = match issues.finish(Path::new("x.toml")) {
            Ok(()) => vec![],
            Err(e) => e.issues.iter().map(|i| format!("{}: {}", i.key, i.message)).collect(),
        };
        (ep, keys)
    }

    #[test]
    fn urls_credentials_and_tls_files_are_checked_with_their_keys() {
        let (ep, problems) = parse(BrokerKeys { url: "mqtt://broker.local", ..Default::default() });
        assert_eq!((ep.unwrap().address(), problems.len()), ("broker.local:1883".into(), 0));
        let (ep, _) = parse(BrokerKeys {
            url: "mqtts://b:8884",
            ca_file: Some(Path::new("ca.pem")),
            cert_file: Some(Path::new("c.pem")),
            key_file: Some(Path::new("k.pem")),
            ..Default::default()
        });
        let tls = ep.unwrap().tls.unwrap();
        assert_eq!(tls.ca, Path::new("/etc/menwei/ca.pem"));
        let (_, p) = parse(BrokerKeys { url: "mqtts://b", cert_file: Some(Path::new("c.pem")), ..Default::default() });
        assert!(
            p.iter().any(|p| p.starts_with("broker.ca_file")) && p.iter().any(|p| p.starts_with("broker.cert_file")),
            "{p:?}"
        );
        let (_, p) = parse(BrokerKeys { url: "mqtt://u:pw@b", ..Default::default() });
        assert!(p[0].starts_with("broker.url") && !p[0].contains("pw"), "{p:?}");
        let (_, p) = parse(BrokerKeys { url: "http://b", ..Default::default() });
        assert_eq!(p.len(), 1);
        let (_, p) = parse(BrokerKeys { url: "mqtt://b", username: Some("u"), ..Default::default() });
        assert!(p[0].starts_with("broker.password"), "{p:?}");
    }

    #[test]
    fn debug_output_hides_the_credentials() {
        let mut ep = Endpoint::plain("b", 1883);
        ep.username = Some("central".into());
        ep.password = Some("hunter2".into());
        let d = format!("{ep:?}");
        assert!(!d.contains("hunter2") && !d.contains("central"), "{d}");
    }
}
