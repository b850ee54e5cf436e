//! The real daemon: its register (the resident enrolled, the registered plates), a config per
//! run, and each run from the first frame sent until the clip has been sent once.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use menwei_capture::server::RtspServer;
use serde_json::Value;

use crate::central::Central;
use crate::env::{busy_between, cpu_totals, process_cpu_s};
use crate::plate_max_side;
use crate::runs::Run;
use crate::scene::{Clip, FPS};

/// A run's settings: motion gating, keyframes only while idle, intra-op threads.
pub type Mode = (bool, bool, u32);

pub struct Edge {
    dir: PathBuf,
    models: PathBuf,
    key: PathBuf,
    bin: &'static str,
    mqtt_port: u16,
}

impl Edge {
    /// The template key, the resident enrolled and the registered plates, in `dir`.
    pub fn prepare(root: &Path, dir: &Path, clip: &Clip, mqtt_port: u16) -> Edge {
        let key = dir.join("template.key");
        std::fs::write(&key, "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0").unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let e = Edge {
            dir: dir.to_owned(),
            models: root.join("models"),
            key,
            bin: env!("CARGO_BIN_EXE_menwei-edge"),
            mqtt_port,
        };
        // Enrol from a photo that is not in the clip.
        let cfg = e.config("enrol", (false, false, 1), "rtsp://127.0.0.1:1/none", None);
        let out = Command::new(e.bin)
            .args(["enroll", "--config"])
            .arg(&cfg)
            .args(["--resident", clip.resident.as_str(), "--household", "h-12", "--consent", "paper form"])
            .arg(&clip.resident_photo)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let register = menwei_register::Register::open(&dir.join("register.db"), &e.key).unwrap();
        for plate in &clip.registered {
            register
                .upsert_vehicle(&menwei_register::VehicleEntry {
                    plate: plate.clone(),
                    color: Some("blue".into()),
                    household: Some("h-12".into()),
                    kind: menwei_register::VehicleKind::Resident,
                    valid_from_ms: None,
                    valid_until_ms: None,
                })
                .unwrap();
        }
        e
    }

    fn config(&self, name: &str, (gating, keyframes, threads): Mode, url: &str, detect_url: Option<String>) -> PathBuf {
        let cfg = self.dir.join(format!("edge-{name}.toml"));
        let detect = detect_url.map(|d| format!("detect_url = \"{d}\"\n")).unwrap_or_default();
        std::fs::write(
            &cfg,
            format!(
                "compound_id = \"c-bench-{compound}\"\n[models]\ndir = \"{models}\"\nintra_threads = {threads}\nspinning = false\n\
                 plate_max_side = {plate_max_side}\n\
                 [defaults]\ndecode_threads = 1\n\
                 [[cameras]]\nid = \"north-1\"\nurl = \"{url}\"\n{detect}gate = \"north\"\ndirection = \"entry\"\nrole = \"both\"\n\
                 detect_fps = {FPS}\nmotion_gating = {gating}\nidle_keyframes_only = {keyframes}\n\
                 [register]\npath = \"register.db\"\nkey_file = \"{key}\"\n\
                 [broker]\nurl = \"mqtt://127.0.0.1:{mqtt_port}\"\n[outbox]\npath = \"outbox-{name}.db\"\n\
                 [matching]\nretrigger_secs = 3\n",
                models = self.models.display(),
                key = self.key.display(),
                mqtt_port = self.mqtt_port,
                compound = name.replace('_', "-"),
                plate_max_side = plate_max_side(),
            ),
        )
        .unwrap();
        cfg
    }

    /// Prints the run's heading, runs it, and prints its figures. With `detect`, the camera
    /// detects on that mount (its sub-stream) and recognises on the main one.
    pub fn run_and_print(
        &self,
        name: &str,
        mode: Mode,
        detect: Option<&str>,
        server: &RtspServer,
        central: &Central,
        clip: &Clip,
    ) -> Run {
        let (gating, keyframes, threads) = mode;
        println!(
            "\n== run: {name} (motion_gating = {gating}, idle_keyframes_only = {keyframes}, intra_threads = {threads}{})",
            detect.map(|d| format!(", detect_url = {d}")).unwrap_or_default()
        );
        if threads > 1 {
            println!("(model stages below count only the inference thread's share of each model run)");
        }
        let r = self.run(name, mode, detect, server, central, clip);
        r.print(clip);
        r
    }

    /// Runs the daemon until the server has sent the clip once and the last events are in.
    fn run(
        &self,
        name: &str,
        mode: Mode,
        detect: Option<&str>,
        server: &RtspServer,
        central: &Central,
        clip: &Clip,
    ) -> Run {
        let profile = self.dir.join(format!("profile-{name}.json"));
        let cfg = self.config(name, mode, &server.url("/gate"), detect.map(|d| server.url(d)));
        let sent0 = server.frames_sent("/gate");
        let compound = format!("c-bench-{}", name.replace('_', "-"));
        let log = self.dir.join(format!("daemon-{name}.log"));
        let mut child = Command::new(self.bin)
            .args(["run", "--config"])
            .arg(&cfg)
            .arg("--profile")
            .arg(&profile)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let pid = child.id();
        let n = clip.frames.len() as u64;
        let start = Instant::now();
        let mut stat0: Option<(u64, u64)> = None;
        let mut own0 = 0.0;
        let (mut cpu_at_start, mut cpu_last) = (0.0, 0.0);
        let mut started_at = Instant::now();
        // Measure from the first frame sent to the end of the clip.
        loop {
            std::thread::sleep(Duration::from_millis(100));
            let sent = server.frames_sent("/gate") - sent0;
            if stat0.is_none() && sent > 0 {
                stat0 = Some(cpu_totals());
                own0 = process_cpu_s(std::process::id()).unwrap_or(0.0);
                cpu_at_start = process_cpu_s(pid).unwrap_or(0.0);
                started_at = Instant::now();
            }
            if let Some(c) = process_cpu_s(pid) {
                cpu_last = c;
            }
            if sent >= n {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(600), "the clip did not play within 10 minutes");
            if let Some(status) = child.try_wait().unwrap() {
                panic!("the daemon stopped: {status}\n{}", std::fs::read_to_string(&log).unwrap_or_default());
            }
        }
        // Let the last frames and events through (the clip ends with an empty gate), before the
        // camera reconnects for a second pass.
        std::thread::sleep(Duration::from_millis(800));
        let stat1 = cpu_totals();
        let wall = started_at.elapsed().as_secs_f64();
        if let Some(c) = process_cpu_s(pid) {
            cpu_last = c;
        }
        let machine = busy_between(stat0.unwrap_or(stat1), stat1);
        let own = process_cpu_s(std::process::id()).unwrap_or(0.0) - own0;
        Command::new("kill").arg("-TERM").arg(pid.to_string()).status().unwrap();
        let status = child.wait().unwrap();
        assert!(status.success(), "{}", std::fs::read_to_string(&log).unwrap_or_default());
        let p: Value = serde_json::from_slice(&std::fs::read(&profile).unwrap()).unwrap();
        let events: Vec<_> =
            central.events.lock().unwrap().iter().filter(|e| e.compound == compound).cloned().collect();
        let mut r = Run::new(p, events, cpu_last - cpu_at_start, wall, machine);
        r.harness_cpu_s = own;
        r
    }
}
