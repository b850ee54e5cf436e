//! `/metrics`, `/healthz` and `/readyz` on a small HTTP/1.1 listener.
//!
//! Three fixed GET routes with no request body do not justify a web framework in the edge
//! binary; requests are read up to the end of their headers (8 KiB at most), answered, and the
//! connection is closed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// What the endpoints report.
pub struct Endpoints {
    /// Prometheus text.
    pub metrics: Box<dyn Fn() -> String + Send + Sync>,
    /// `Ok` when ready; otherwise every reason it is not.
    pub ready: Box<dyn Fn() -> Result<(), Vec<String>> + Send + Sync>,
}

impl std::fmt::Debug for Endpoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Endpoints")
    }
}

/// Binds `addr` (so a taken port fails the start) and returns the serving future.
pub async fn bind(
    addr: SocketAddr,
    endpoints: Arc<Endpoints>,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<impl std::future::Future<Output = ()>> {
    let listener = TcpListener::bind(addr).await?;
    tracing::info!(%addr, "serving /metrics, /healthz, /readyz");
    Ok(async move {
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    if let Ok((stream, _)) = accepted {
                        let e = endpoints.clone();
                        tokio::spawn(async move {
                            let _ = tokio::time::timeout(Duration::from_secs(5), answer(stream, &e)).await;
                        });
                    }
                }
                _ = stop.changed() => if *stop.borrow() { return },
            }
        }
    })
}

async fn answer(mut stream: tokio::net::TcpStream, e: &Endpoints) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 8192 {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf);
    let mut parts = head.lines().next().unwrap_or("").split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, ctype, body) = match (method, path) {
        ("GET", "/metrics") => ("200 OK", "text/plain; version=0.0.4", (e.metrics)()),
        ("GET", "/healthz") => ("200 OK", "text/plain", "ok\n".to_owned()),
        ("GET", "/readyz") => match (e.ready)() {
            Ok(()) => ("200 OK", "text/plain", "ready\n".to_owned()),
            Err(why) => ("503 Service Unavailable", "text/plain", format!("not ready:\n{}\n", why.join("\n"))),
        },
        ("GET", _) => ("404 Not Found", "text/plain", "not found: try /metrics, /healthz or /readyz\n".to_owned()),
        _ => ("405 Method Not Allowed", "text/plain", "only GET\n".to_owned()),
    };
    let reply = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(reply.as_bytes()).await?;
    stream.shutdown().await
}
