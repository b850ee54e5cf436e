//! systemd's notify protocol (`Type=notify`, `WatchdogSec=`), spoken directly over the
//! datagram socket in `$NOTIFY_SOCKET`, without linking libsystemd. Outside systemd there is no
//! socket and every call is a no-op.

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::Duration;

use tracing::debug;

#[derive(Debug)]
pub struct Notifier {
    target: Option<(UnixDatagram, Target)>,
    watchdog: Option<Duration>,
}

#[derive(Debug)]
enum Target {
    Path(PathBuf),
    Abstract(Vec<u8>),
}

impl Notifier {
    /// Reads `$NOTIFY_SOCKET`, `$WATCHDOG_USEC` and `$WATCHDOG_PID`.
    pub fn from_env() -> Self {
        let socket = std::env::var_os("NOTIFY_SOCKET");
        let usec = std::env::var("WATCHDOG_USEC").ok().and_then(|v| v.parse::<u64>().ok());
        let for_us = std::env::var("WATCHDOG_PID")
            .ok()
            .and_then(|v| v.parse::<u32>().ok())
            .is_none_or(|pid| pid == std::process::id());
        Self::new(socket.map(PathBuf::from), usec.filter(|_| for_us).map(Duration::from_micros))
    }

    /// `socket` as systemd gives it: a path, or `@name` for an abstract socket.
    pub fn new(socket: Option<PathBuf>, watchdog: Option<Duration>) -> Self {
        let target = socket.and_then(|s| {
            let bytes = s.as_os_str().as_encoded_bytes();
            let target = match bytes.strip_prefix(b"@") {
                Some(name) => Target::Abstract(name.to_vec()),
                None => Target::Path(s.clone()),
            };
            // Non-blocking: a full notify queue must never stall the daemon; a lost
            // notification is only logged.
            let sock = UnixDatagram::unbound().ok()?;
            sock.set_nonblocking(true).ok()?;
            Some((sock, target))
        });
        Self { target, watchdog }
    }

    /// How often to send `WATCHDOG=1`: half the period systemd allows, if it asked for any.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog.filter(|_| self.target.is_some()).map(|w| w / 2)
    }

    /// Sends one notification, such as `READY=1`. Failures are logged, never fatal.
    pub fn notify(&self, state: &str) {
        let Some((sock, target)) = &self.target else { return };
        let sent = match target {
            Target::Path(p) => sock.send_to(state.as_bytes(), p),
            Target::Abstract(name) => {
                use std::os::linux::net::SocketAddrExt;
                std::os::unix::net::SocketAddr::from_abstract_name(name)
                    .and_then(|addr| sock.send_to_addr(state.as_bytes(), &addr))
            }
        };
        if let Err(e) = sent {
            debug!("sd_notify {state:?} failed: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_reach_the_socket_and_nothing_happens_without_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let server = UnixDatagram::bind(&path).unwrap();
        let n = Notifier::new(Some(path), Some(Duration::from_secs(30)));
        assert_eq!(n.watchdog_interval(), Some(Duration::from_secs(15)));
        n.notify("READY=1");
        let mut buf = [0u8; 64];
        let len = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"READY=1");

        let none = Notifier::new(None, Some(Duration::from_secs(30)));
        assert_eq!(none.watchdog_interval(), None);
        none.notify("READY=1");
    }
}
