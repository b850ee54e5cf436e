//! `POST /enroll` on the running daemon: bearer token, refusals with reasons, templates stored;
//! the security headers on every answer.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

mod support;
use support::{free_port, get, wait_until};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn private(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

/// The whole answer to a request, head and body.
fn exchange(port: u16, request: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s.write_all(request).unwrap();
    let mut r = String::new();
    s.read_to_string(&mut r).unwrap();
    r
}

/// Every answer carries the security headers, whatever the path or method.
fn assert_security_headers(answer: &str) {
    let head = answer.split_once("\r\n\r\n").map_or(answer, |x| x.0).to_ascii_lowercase();
    for h in [
        "content-security-policy: default-src 'none'; frame-ancestors 'none'",
        "x-content-type-options: nosniff",
        "referrer-policy: no-referrer",
        "cache-control: no-store",
    ] {
        assert!(head.contains(h), "no `{h}` in\n{head}");
    }
}

fn post(port: u16, target: &str, token: Option<&str>, body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    write!(s, "POST {target} HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: {}\r\n\r\n", body.len()).unwrap();
    s.write_all(body).unwrap();
    let mut r = String::new();
    s.read_to_string(&mut r).unwrap();
    let code = r.split_whitespace().nth(1).unwrap().parse().unwrap();
    (code, r.split_once("\r\n\r\n").map(|x| x.1.to_owned()).unwrap_or_default())
}

#[test]
fn enrolment_over_http_needs_the_token_and_refuses_bad_photos() {
    let dir = tempfile::tempdir().unwrap();
    private(&dir.path().join("template.key"), "2b7e151628aed2a6abf7158809cf4f3c2b7e151628aed2a6abf7158809cf4f3c");
    let token = "enrol-token-0123456789abcdef";
    private(&dir.path().join("enroll.token"), token);
    let http = free_port();
    let cfg = dir.path().join("edge.toml");
    std::fs::write(
        &cfg,
        format!(
            "compound_id = \"c-en\"\n[models]\ndir = \"{}\"\n[[cameras]]\nid = \"c\"\nurl = \"{}\"\nloop = true\n\
             [register]\npath = \"register.db\"\nkey_file = \"template.key\"\n\
             [http]\nlisten = \"127.0.0.1:{http}\"\nenroll_token_file = \"enroll.token\"\n",
            root().join("models").display(),
            root().join("var/media/carphone_pristine.mp4").display()
        ),
    )
    .unwrap();
    {
        let reg =
            menwei_register::Register::open(&dir.path().join("register.db"), &dir.path().join("template.key")).unwrap();
        reg.upsert_resident(&menwei_register::Resident {
            id: "r-1".into(),
            household: "h-1".into(),
            status: menwei_register::ResidentStatus::Active,
            consent_at: Some("2026-11-27T08:00:00.000Z".into()),
            consent_method: Some("app".into()),
            guardian: None,
            face_opt_out: false,
        })
        .unwrap();
    }
    let mut daemon = menwei_tests::KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_menwei-edge"))
            .args(["run", "--config", cfg.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until("/healthz", Duration::from_secs(60), || get(http, "/healthz").is_some());
    let photo = |n: &str| std::fs::read(root().join("var/media").join(n)).unwrap();

    for request in [
        "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n",
        "DELETE /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST /enroll?resident=r-1 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    ] {
        assert_security_headers(&exchange(http, request.as_bytes()));
    }
    let (code, _) = post(http, "/enroll?resident=r-1", None, &photo("obama.jpg"));
    assert_eq!(code, 401);
    let (code, _) = post(http, "/enroll?resident=r-1", Some("wrong-token-0123456789"), &photo("obama.jpg"));
    assert_eq!(code, 401);
    let (code, body) = post(http, "/enroll?resident=nobody", Some(token), &photo("obama.jpg"));
    assert_eq!(code, 404, "{body}");
    let (code, body) = post(http, "/enroll?resident=r-1", Some(token), b"not a picture");
    assert_eq!(code, 400, "{body}");
    let (code, body) = post(http, "/enroll?resident=r-1", Some(token), &photo("t1.jpg"));
    assert_eq!(code, 422, "{body}");
    assert!(body.contains("6 faces"), "{body}");
    let (code, body) = post(http, "/enroll?resident=r-1", Some(token), &photo("obama.jpg"));
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"result\":\"enrolled\""), "{body}");

    Command::new("kill").arg("-TERM").arg(daemon.id().to_string()).status().unwrap();
    assert!(daemon.wait().unwrap().success());
    let reg =
        menwei_register::Register::open(&dir.path().join("register.db"), &dir.path().join("template.key")).unwrap();
    assert_eq!(reg.template_count("r-1").unwrap(), 1);
}
