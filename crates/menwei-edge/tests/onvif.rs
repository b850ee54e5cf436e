//! `menwei-edge onvif probe` and `onvif discover` against the fake ONVIF device on loopback.

use std::process::Command;

#[path = "../../menwei-onvif/tests/fake/mod.rs"]
mod fake;
use fake::{Behaviour, FakeDevice};

fn edge() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_menwei-edge"));
    c.env_remove("MENWEI_ONVIF_PASSWORD");
    c
}

#[test]
fn probe_prints_the_streams_and_a_camera_block_with_the_password_from_the_environment() {
    let device = FakeDevice::start(Behaviour::default());
    let out = edge()
        .args(["onvif", "probe", &device.host(), "--user", "admin", "--camera-block", "north-1"])
        .env("MENWEI_ONVIF_PASSWORD", "Gate#2026")
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    eprintln!("{stdout}{stderr}");
    assert!(out.status.success());
    assert!(
        stdout.contains("mainStream       2560x1440 H265  25 fps   rtsp://127.0.0.1:554/Streaming/Channels/Profile_1")
    );
    assert!(stdout.contains("[[cameras]]\nid = \"north-1\"\nurl = \"rtsp://admin:PASSWORD@127.0.0.1:554/"));
    assert!(!stdout.contains("Gate#2026") && !stderr.contains("Gate#2026"));
}

#[test]
fn a_wrong_password_fails_with_a_message_that_says_what_to_check() {
    let device = FakeDevice::start(Behaviour::default());
    let out =
        edge().args(["onvif", "probe", &device.host(), "--user", "admin", "--password", "nope"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stderr}");
    assert!(!out.status.success());
    assert!(stderr.contains("refused user `admin`") && stderr.contains("ONVIF user list"), "{stderr}");
    assert!(!stderr.contains("nope"), "{stderr}");
    let out = edge().args(["onvif", "probe", &device.host(), "--user", "admin"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("MENWEI_ONVIF_PASSWORD"));
}

#[test]
fn discover_lists_the_device_addresses_that_answered() {
    let device = FakeDevice::start(Behaviour::default());
    let to = format!("127.0.0.1:{}", device.udp_port);
    let out = edge().args(["onvif", "discover", "--to", &to, "--timeout", "1"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.lines().next(), Some(format!("http://127.0.0.1:{}/onvif/device_service", device.port).as_str()));
    // Nobody there: a clear failure, not an empty success.
    let out = edge()
        .args(["onvif", "discover", "--to", &format!("127.0.0.1:{}", menwei_tests::free_port()), "--timeout", "1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no ONVIF device answered"));
}
