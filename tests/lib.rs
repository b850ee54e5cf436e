//! Support for the project's integration tests: servers the tests start themselves on
//! 127.0.0.1 and stop by their PID, and the command lines the docs show ([`doc_commands`]).
//! The cross-crate tests live in `tests/*.rs` of this package.

pub mod doc_commands;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A Mosquitto process on 127.0.0.1:`port`.
#[derive(Debug)]
pub struct Mosquitto {
    child: Child,
    pub port: u16,
    conf: PathBuf,
}

fn mosquitto_bin() -> PathBuf {
    ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .expect("mosquitto is not installed: run scripts/setup")
}

impl Mosquitto {
    pub fn start(dir: &Path, port: u16) -> Mosquitto {
        let conf = dir.join("mosquitto.conf");
        // No persistence: a killed broker forgets every session and queued message, the
        // worst case for the outbox.
        std::fs::write(&conf, format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")).unwrap();
        Self::spawn(conf, port)
    }

    fn spawn(conf: PathBuf, port: u16) -> Mosquitto {
        let child = Command::new(mosquitto_bin())
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(t.elapsed() < Duration::from_secs(10), "mosquitto did not start on port {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Mosquitto { child, port, conf }
    }

    /// SIGKILL, then a new process on the same port.
    pub fn kill_and_restart(&mut self, down_for: Duration) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        std::thread::sleep(down_for);
        let new = Self::spawn(self.conf.clone(), self.port);
        *self = new;
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill").arg(sig).arg(self.child.id().to_string()).status().unwrap().success();
        assert!(ok, "kill {sig} {}", self.child.id());
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.signal_quiet("-CONT");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Mosquitto {
    fn signal_quiet(&self, sig: &str) -> std::io::Result<std::process::ExitStatus> {
        Command::new("kill").arg(sig).arg(self.child.id().to_string()).stderr(Stdio::null()).status()
    }
}

/// A TCP port free on 127.0.0.1 right now (the OS picks it; a test binds it soon after).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free loopback port")
}

/// A throwaway PostgreSQL server on 127.0.0.1:`port`, its data in its own temporary directory.
/// Run as root (CI), the server runs as the `postgres` user that Debian's package creates,
/// because PostgreSQL refuses to run as root; otherwise as the current user.
#[derive(Debug)]
pub struct Postgres {
    child: Child,
    pub port: u16,
    /// `postgres://postgres@127.0.0.1:PORT/postgres` (trust authentication on loopback).
    pub url: String,
    _dir: tempfile::TempDir,
}

fn pg_bin(name: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path().join("bin")).filter(|p| p.join(name).is_file()).collect())
        .unwrap_or_default();
    dirs.sort();
    dirs.pop()
        .map(|d| d.join(name))
        .unwrap_or_else(|| panic!("PostgreSQL ({name}) is not installed: run scripts/setup"))
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// `bin args...`, as the `postgres` user when we are root.
fn pg_command(bin: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=postgres", "--regid=postgres", "--init-groups", "--"]).arg(bin);
        c
    } else {
        Command::new(bin)
    }
}

/// A PostgreSQL that accepts TLS connections only, each with a client certificate from `ca`.
#[derive(Clone, Copy, Debug)]
pub struct PgTlsFiles<'a> {
    pub server_cert: &'a Path,
    pub server_key: &'a Path,
    /// The CA that client certificates must come from.
    pub ca: &'a Path,
}

impl Postgres {
    pub fn start() -> Postgres {
        Self::launch(None)
    }

    /// A server that refuses connections without TLS and a client certificate issued by
    /// `tls.ca` (`hostssl ... trust clientcert=verify-ca` is its only rule).
    pub fn start_tls(tls: PgTlsFiles<'_>) -> Postgres {
        Self::launch(Some(tls))
    }

    fn launch(tls: Option<PgTlsFiles<'_>>) -> Postgres {
        let dir = tempfile::Builder::new().prefix("menwei-pg-").tempdir().unwrap();
        let data = dir.path().join("data");
        if is_root() {
            let ok = Command::new("chown").arg("postgres:postgres").arg(dir.path()).status().unwrap().success();
            assert!(ok, "chown postgres {}", dir.path().display());
        }
        let out = pg_command(&pg_bin("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"])
            .output()
            .unwrap();
        assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        let mut tls_args = Vec::new();
        if let Some(t) = tls {
            // The server's files in its data directory, owned by the server's user, the key
            // private to it: PostgreSQL refuses a key others can read.
            for (from, name) in [(t.server_cert, "server.crt"), (t.server_key, "server.key"), (t.ca, "client-ca.crt")] {
                let to = data.join(name);
                std::fs::copy(from, &to).unwrap();
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600)).unwrap();
                if is_root() {
                    assert!(Command::new("chown").arg("postgres:postgres").arg(&to).status().unwrap().success());
                }
            }
            std::fs::write(
                data.join("pg_hba.conf"),
                "local all all trust\nhostssl all all 127.0.0.1/32 trust clientcert=verify-ca\n",
            )
            .unwrap();
            for setting in
                ["ssl=on", "ssl_cert_file=server.crt", "ssl_key_file=server.key", "ssl_ca_file=client-ca.crt"]
            {
                tls_args.extend(["-c".to_owned(), setting.to_owned()]);
            }
        }
        let port = free_port();
        let child = pg_command(&pg_bin("postgres"))
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-h", "127.0.0.1", "-k"])
            .arg(&data)
            // Durability is not under test here; speed is welcome on two cores.
            .args(["-F", "-c", "synchronous_commit=off", "-c", "max_connections=50"])
            .args(&tls_args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t = Instant::now();
        loop {
            let ready = Command::new(pg_bin("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                break;
            }
            assert!(t.elapsed() < Duration::from_secs(30), "PostgreSQL did not start on port {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
        Postgres { child, port, url, _dir: dir }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // SIGINT is PostgreSQL's fast shutdown: clients are disconnected.
        let _ = Command::new("kill").arg("-INT").arg(self.child.id().to_string()).stderr(Stdio::null()).status();
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A child process that is killed (by its PID) and reaped when dropped, so a failing test never
/// leaves a daemon running. Derefs to the [`Child`] for `id`, `wait` and the like.
#[derive(Debug)]
pub struct KillOnDrop(pub Child);

impl std::ops::Deref for KillOnDrop {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
