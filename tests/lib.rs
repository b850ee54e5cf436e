//! Support for the project's integration tests: servers the tests start themselves on
//! 127.0.0.1 and stop by their PID. The cross-crate tests live in `tests/*.rs` of this package.

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
