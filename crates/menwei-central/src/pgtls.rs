//! TLS to PostgreSQL through rustls (ring), the TLS stack the broker connection already uses.
//!
//! The synchronous `postgres` client takes any `MakeTlsConnect`; this is a small one over
//! `tokio-rustls`, so that the service links one TLS library rather than adding OpenSSL or a
//! second rustls adapter. The server is verified against the configured CA only (a district's
//! database has a private CA, not a public one), and a client certificate is presented when
//! one is configured. No channel binding is offered: SCRAM works without it.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Where the TLS files are: `[database] ca_file`, and `cert_file` with `key_file`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgTls {
    /// The CA (PEM) that issued the server's certificate.
    pub ca_file: PathBuf,
    /// A client certificate chain and its key (PEM), for `clientcert` authentication.
    pub client: Option<(PathBuf, PathBuf)>,
}

/// A TLS connector for the `postgres` client, built once from [`PgTls`].
#[derive(Clone)]
pub struct Connector {
    config: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Connector")
    }
}

/// A TLS file for PostgreSQL that cannot be used; each names its file.
#[derive(Debug, thiserror::Error)]
pub enum PgTlsError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}: not PEM: {source}", path.display())]
    Pem { path: PathBuf, source: std::io::Error },
    #[error("{}: no {what} in it", path.display())]
    Empty { path: PathBuf, what: &'static str },
    #[error("{}: {source}", path.display())]
    Rejected { path: PathBuf, source: rustls::Error },
    #[error("TLS versions: {0}")]
    Versions(#[source] rustls::Error),
}

fn read(path: &Path) -> Result<Vec<u8>, PgTlsError> {
    std::fs::read(path).map_err(|source| PgTlsError::Read { path: path.to_owned(), source })
}

fn read_certs(path: &Path) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, PgTlsError> {
    let pem = read(path)?;
    let certs = rustls_pemfile::certs(&mut &pem[..])
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| PgTlsError::Pem { path: path.to_owned(), source })?;
    if certs.is_empty() {
        return Err(PgTlsError::Empty { path: path.to_owned(), what: "certificate" });
    }
    Ok(certs)
}

impl Connector {
    /// Reads the files; every failure names the file.
    pub fn new(tls: &PgTls) -> Result<Connector, PgTlsError> {
        fn rejected(path: &Path) -> impl FnOnce(rustls::Error) -> PgTlsError + '_ {
            move |source| PgTlsError::Rejected { path: path.to_owned(), source }
        }
        let mut roots = rustls::RootCertStore::empty();
        for cert in read_certs(&tls.ca_file)? {
            roots.add(cert).map_err(rejected(&tls.ca_file))?;
        }
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(PgTlsError::Versions)?
            .with_root_certificates(roots);
        let config = match &tls.client {
            Some((cert, key)) => {
                let chain = read_certs(cert)?;
                let pem = read(key)?;
                let key_der = rustls_pemfile::private_key(&mut &pem[..])
                    .map_err(|source| PgTlsError::Pem { path: key.clone(), source })?
                    .ok_or_else(|| PgTlsError::Empty { path: key.clone(), what: "private key" })?;
                builder.with_client_auth_cert(chain, key_der).map_err(rejected(cert))?
            }
            None => builder.with_no_client_auth(),
        };
        Ok(Connector { config: Arc::new(config) })
    }
}

impl<S> MakeTlsConnect<S> for Connector
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = Stream<S>;
    type TlsConnect = Connect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, host: &str) -> io::Result<Connect> {
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{host}: {e}")))?;
        Ok(Connect { config: self.config.clone(), name })
    }
}

/// One connection's handshake.
#[derive(Debug)]
pub struct Connect {
    config: Arc<rustls::ClientConfig>,
    name: ServerName<'static>,
}

impl<S> TlsConnect<S> for Connect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = Stream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Stream<S>>> + Send>>;

    fn connect(self, socket: S) -> Self::Future {
        Box::pin(async move {
            let tls = tokio_rustls::TlsConnector::from(self.config).connect(self.name, socket).await?;
            Ok(Stream(tls))
        })
    }
}

/// The encrypted connection.
#[derive(Debug)]
pub struct Stream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for Stream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Stream<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Stream<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
