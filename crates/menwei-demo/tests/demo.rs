//! The README's main command, end to end: `menwei-demo` (what `scripts/demo` runs) brings up
//! the broker, central, the RTSP gate clip and the edge, prints the events of the clip's
//! passages and the dashboard's address, serves the dashboard, and stops everything cleanly on
//! SIGTERM (as on Ctrl-C).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The demo, stopped with SIGTERM (so that it stops its own children) if the test fails.
struct StopOnDrop(std::process::Child);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = Command::new("kill").arg("-TERM").arg(self.0.id().to_string()).status();
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(30) {
                if let Ok(Some(_)) = self.0.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

#[test]
fn the_demo_shows_the_gate_events_and_stops_cleanly() {
    // The other binaries are built beside this package's by a workspace build or test run.
    let bin = Path::new(env!("CARGO_BIN_EXE_menwei-demo")).parent().unwrap().to_owned();
    for b in ["menwei-edge", "menwei-central"] {
        assert!(
            bin.join(b).is_file(),
            "{} is missing: build the workspace (cargo build --workspace)",
            bin.join(b).display()
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let http = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut demo = StopOnDrop(
        Command::new(env!("CARGO_BIN_EXE_menwei-demo"))
            .args(["--root"])
            .arg(root())
            .arg("--bin")
            .arg(&bin)
            .args(["--http-port", &http.to_string()])
            .arg("--dir")
            .arg(dir.path().join("demo"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    for pipe in [
        Box::new(demo.0.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(demo.0.stderr.take().unwrap()),
    ] {
        let l = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                l.lock().unwrap().push(line);
            }
        });
    }
    let has = |s: &str| lines.lock().unwrap().iter().any(|l| l.contains(s));
    // Plates come from ../shared/data or are drawn: the cars are always in the clip.
    let wanted = ["resident r-obama", "security.repeat_stranger", "川A019W2 (exact)", "川AKQ291 (not registered)"];
    let t = Instant::now();
    while !wanted.iter().all(|w| has(w)) {
        if let Ok(Some(s)) = demo.0.try_wait() {
            panic!("the demo exited ({s}):\n{}", lines.lock().unwrap().join("\n"));
        }
        assert!(
            t.elapsed() < Duration::from_secs(240),
            "the demo did not show {wanted:?}:\n{}",
            lines.lock().unwrap().join("\n")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(has(&format!("dashboard   http://127.0.0.1:{http}/")), "{}", lines.lock().unwrap().join("\n"));
    // The dashboard is served.
    let page = ureq::get(&format!("http://127.0.0.1:{http}/")).call().unwrap().body_mut().read_to_string().unwrap();
    assert!(page.contains("<html"), "{page}");

    let ok = Command::new("kill").arg("-TERM").arg(demo.0.id().to_string()).status().unwrap().success();
    assert!(ok);
    let status = demo.0.wait().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let out = lines.lock().unwrap().join("\n");
    eprintln!("{out}");
    assert!(status.success(), "{out}");
    for name in ["menwei-edge", "menwei-central", "mosquitto"] {
        assert!(out.contains(&format!("demo: {name} stopped (exit status: 0)")), "{name} did not stop cleanly:\n{out}");
    }
}

#[test]
fn the_demo_once_plays_the_clip_prints_a_summary_and_exits_0_when_every_event_arrived() {
    let bin = Path::new(env!("CARGO_BIN_EXE_menwei-demo")).parent().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let mut demo = StopOnDrop(
        Command::new(env!("CARGO_BIN_EXE_menwei-demo"))
            .args(["--once", "--http-port", "0", "--root"])
            .arg(root())
            .arg("--bin")
            .arg(&bin)
            .arg("--dir")
            .arg(dir.path().join("demo"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let readers: Vec<_> = [
        Box::new(demo.0.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(demo.0.stderr.take().unwrap()),
    ]
    .into_iter()
    .map(|pipe| {
        let l = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                l.lock().unwrap().push(line);
            }
        })
    })
    .collect();
    // The demo ends by itself: no signal is sent.
    let t = Instant::now();
    let status = loop {
        if let Some(s) = demo.0.try_wait().unwrap() {
            break s;
        }
        assert!(t.elapsed() < Duration::from_secs(300), "--once did not end:\n{}", lines.lock().unwrap().join("\n"));
        std::thread::sleep(Duration::from_millis(200));
    };
    for r in readers {
        r.join().unwrap();
    }
    let out = lines.lock().unwrap().join("\n");
    eprintln!("{out}");
    assert!(status.success(), "{out}");
    assert!(out.contains("summary: 4 of 4 expected events arrived"), "{out}");
    for label in [
        "resident r-obama granted",
        "registered car 川A019W2 granted",
        "unknown car 川AKQ291 denied",
        "repeat stranger",
    ] {
        assert!(out.lines().any(|l| l.contains("ok ") && l.contains(label)), "{label} not in the summary:\n{out}");
    }
    assert!(!out.contains("MISSING"), "{out}");
    for name in ["menwei-edge", "menwei-central", "mosquitto"] {
        assert!(out.contains(&format!("demo: {name} stopped (exit status: 0)")), "{name} did not stop cleanly:\n{out}");
    }
}
