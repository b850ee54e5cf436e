//! `/metrics`, `/healthz`, `/readyz`, and the authenticated `POST /enroll`, on a small HTTP/1.1
//! listener.
//!
//! A handful of fixed routes do not justify a web framework in the edge binary; requests are
//! read up to the end of their headers (8 KiB at most) and, for `/enroll`, a body of a declared
//! length (16 MiB at most), answered, and the connection is closed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the endpoints report.
pub struct Endpoints {
    /// Prometheus text.
    pub metrics: Box<dyn Fn() -> String + Send + Sync>,
    /// `Ok` when ready; otherwise every reason it is not.
    pub ready: Box<dyn Fn() -> Result<(), Vec<String>> + Send + Sync>,
    /// `POST /enroll?resident=ID` with a photo as the body, when enabled: the bearer token, and
    /// the enrolment itself (run on a blocking thread), returning a status and a JSON body.
    pub enroll: Option<(String, Arc<EnrollFn>)>,
}

pub type EnrollFn = dyn Fn(&str, &[u8]) -> (u16, String) + Send + Sync;

/// The largest photo `/enroll` accepts.
const MAX_BODY: usize = 16 << 20;

impl std::fmt::Debug for Endpoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Endpoints")
    }
}

/// Binds `addr` (so a taken port fails the start) and returns the serving future.
pub async fn bind(
    addr: SocketAddr,
    endpoints: Arc<Endpoints>,
    stop: menwei_core::shutdown::Receiver,
) -> std::io::Result<impl std::future::Future<Output = ()>> {
    let listener = TcpListener::bind(addr).await?;
    tracing::info!(%addr, "serving /metrics, /healthz, /readyz");
    Ok(async move {
        let down = stop.down();
        tokio::pin!(down);
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
                _ = &mut down => return,
            }
        }
    })
}

/// Sent with every answer. Nothing here is a page, so the policy allows nothing at all; the
/// answers are never cached (enrolment answers name residents) nor sniffed into something else.
const SECURITY_HEADERS: &str = "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'; base-uri 'none'\r\n\
                                X-Content-Type-Options: nosniff\r\n\
                                Referrer-Policy: no-referrer\r\n\
                                X-Frame-Options: DENY\r\n\
                                Cache-Control: no-store\r\n";

fn status_line(code: u16) -> &'static str {
    match code {
        200 => "200 OK",
        400 => "400 Bad Request",
        401 => "401 Unauthorized",
        404 => "404 Not Found",
        413 => "413 Payload Too Large",
        422 => "422 Unprocessable Entity",
        503 => "503 Service Unavailable",
        _ => "500 Internal Server Error",
    }
}

/// Compares without an early exit, so the time taken does not tell how much of a token matched.
fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn answer(mut stream: tokio::net::TcpStream, e: &Endpoints) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() >= 8192 {
            break buf.len();
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break buf.len();
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut parts = head.lines().next().unwrap_or("").split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let header = |name: &str| {
        head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    };
    if (method, path) == ("POST", "/enroll") {
        let (code, body) = match &e.enroll {
            None => (404, "{\"error\":\"enrolment over HTTP is off (http.enroll_token_file)\"}".to_owned()),
            Some((token, enroll)) => {
                let given = header("authorization").and_then(|a| a.strip_prefix("Bearer ").map(str::to_owned));
                let len: usize = header("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
                let resident = query.split('&').find_map(|kv| kv.strip_prefix("resident=")).unwrap_or("").to_owned();
                if !given.is_some_and(|g| same_token(&g, token)) {
                    (401, "{\"error\":\"a valid bearer token is needed\"}".to_owned())
                } else if len > MAX_BODY {
                    (413, format!("{{\"error\":\"the photo is over {MAX_BODY} bytes\"}}"))
                } else if resident.is_empty() || len == 0 {
                    (400, "{\"error\":\"POST /enroll?resident=ID with the photo as the body\"}".to_owned())
                } else {
                    let mut body = buf[head_end..].to_vec();
                    while body.len() < len {
                        let n = stream.read(&mut chunk).await?;
                        if n == 0 {
                            break;
                        }
                        body.extend_from_slice(&chunk[..n]);
                    }
                    body.truncate(len);
                    let enroll = enroll.clone();
                    tokio::task::spawn_blocking(move || enroll(&resident, &body))
                        .await
                        .unwrap_or((500, "{\"error\":\"enrolment failed\"}".to_owned()))
                }
            }
        };
        let reply = format!(
            "HTTP/1.1 {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{SECURITY_HEADERS}Connection: close\r\n\r\n{body}",
            status_line(code),
            body.len()
        );
        stream.write_all(reply.as_bytes()).await?;
        return stream.shutdown().await;
    }
    let (status, ctype, body) = match (method, path) {
        ("GET", "/metrics") => ("200 OK", "text/plain; version=0.0.4", (e.metrics)()),
        ("GET", "/healthz") => ("200 OK", "text/plain", "ok\n".to_owned()),
        ("GET", "/readyz") => match (e.ready)() {
            Ok(()) => ("200 OK", "text/plain", "ready\n".to_owned()),
            Err(why) => ("503 Service Unavailable", "text/plain", format!("not ready:\n{}\n", why.join("\n"))),
        },
        ("GET", _) => ("404 Not Found", "text/plain", "not found: try /metrics, /healthz or /readyz\n".to_owned()),
        _ => ("405 Method Not Allowed", "text/plain", "only GET (and POST /enroll)\n".to_owned()),
    };
    let reply = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n{SECURITY_HEADERS}Connection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(reply.as_bytes()).await?;
    stream.shutdown().await
}
