//! A fake ONVIF device on 127.0.0.1: HTTP/1.1 SOAP answers from the fixtures (written after the
//! ONVIF specifications' examples), WS-UsernameToken digests checked against its password, and a
//! WS-Discovery responder on UDP. Stopped when dropped.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

/// How the fake device behaves.
#[derive(Clone, Debug)]
pub struct Behaviour {
    pub user: String,
    pub password: String,
    /// Media2 listed in GetServices (Profile T devices) or only Media (older Profile S).
    pub media2: bool,
    /// Wait this long before each answer.
    pub delay: Duration,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self { user: "admin".into(), password: "Gate#2026".into(), media2: true, delay: Duration::ZERO }
    }
}

pub struct FakeDevice {
    pub port: u16,
    pub udp_port: u16,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

fn fixture(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../menwei-onvif/tests/fixtures").join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The text between `<...tag>` (any prefix, any attributes) and its end tag.
fn element<'a>(body: &'a str, tag: &str) -> Option<&'a str> {
    // The tag's name must end there (`Username`, not `UsernameToken`).
    let start = [":", "<"]
        .iter()
        .flat_map(|p| [">", " "].map(|e| format!("{p}{tag}{e}")))
        .filter_map(|pat| body.find(&pat))
        .min()?;
    let open_end = start + body[start..].find('>')? + 1;
    let close = body[open_end..].find("</")? + open_end;
    Some(&body[open_end..close])
}

fn authorised(b: &Behaviour, body: &str) -> bool {
    use base64::Engine as _;
    let (Some(user), Some(digest), Some(nonce), Some(created)) =
        (element(body, "Username"), element(body, "Password"), element(body, "Nonce"), element(body, "Created"))
    else {
        return false;
    };
    let Ok(nonce) = base64::engine::general_purpose::STANDARD.decode(nonce) else { return false };
    let want = menwei_onvif::soap::UsernameToken::new(&b.user, &b.password, &nonce, created);
    user == b.user && digest == want.digest
}

fn civil(secs: i64) -> (i64, i64, i64, i64, i64, i64) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

fn answer(b: &Behaviour, base: &str, path: &str, body: &str) -> (u16, String) {
    let action = ["GetSystemDateAndTime", "GetDeviceInformation", "GetServices", "GetProfiles", "GetStreamUri"]
        .into_iter()
        .find(|a| body.contains(&format!(":{a}")) || body.contains(&format!("<{a}")));
    let Some(action) = action else {
        return (
            400,
            fixture("fault_not_authorized.xml")
                .replace("NotAuthorized", "ActionNotSupported")
                .replace("Sender not Authorized", "Unknown action"),
        );
    };
    if action == "GetSystemDateAndTime" {
        // The device's clock runs 90 s ahead of ours: tokens must be stamped in its time.
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() as i64 + 90;
        let (y, mo, d, h, mi, s) = civil(now);
        let text = fixture("system_date_time.xml")
            .replace("{year}", &y.to_string())
            .replace("{month}", &mo.to_string())
            .replace("{day}", &d.to_string())
            .replace("{hour}", &h.to_string())
            .replace("{minute}", &mi.to_string())
            .replace("{second}", &s.to_string());
        return (200, text);
    }
    if !authorised(b, body) || !token_is_fresh(body) {
        return (400, fixture("fault_not_authorized.xml"));
    }
    let media2 = body.contains("http://www.onvif.org/ver20/media/wsdl");
    let text = match action {
        "GetDeviceInformation" => fixture("device_information.xml"),
        "GetServices" => fixture(if b.media2 { "services_media2.xml" } else { "services_media1.xml" }),
        "GetProfiles" if media2 && path == "/onvif/Media2" => fixture("profiles_media2.xml"),
        "GetProfiles" => fixture("profiles_media1.xml"),
        _ => {
            let token = element(body, "ProfileToken").unwrap_or("?");
            let uri = format!("rtsp://127.0.0.1:554/Streaming/Channels/{token}");
            fixture(if media2 { "stream_uri_media2.xml" } else { "stream_uri_media1.xml" }).replace("{uri}", &uri)
        }
    };
    (200, text.replace("{base}", base))
}

/// Whether the token's Created is within 10 s of the device's (skewed) clock, as devices check.
fn token_is_fresh(body: &str) -> bool {
    let Some(created) = element(body, "Created") else { return false };
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs() as i64 + 90;
    let digits: Vec<i64> =
        created.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty()).filter_map(|s| s.parse().ok()).collect();
    let [y, mo, d, h, mi, s, ..] = digits[..] else { return false };
    // Howard Hinnant's days_from_civil.
    let yy = if mo <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    (days * 86_400 + h * 3600 + mi * 60 + s - now).abs() <= 10
}

fn serve(b: &Behaviour, base: &str, mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    std::thread::sleep(b.delay);
    let (status, text) = answer(b, base, &path, &String::from_utf8_lossy(&body));
    let reason = if status == 200 { "OK" } else { "Bad Request" };
    let _ = write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/soap+xml; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
}

impl FakeDevice {
    pub fn start(b: Behaviour) -> FakeDevice {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        udp.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let udp_port = udp.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let base = format!("http://127.0.0.1:{port}");
        let (s, bb, base2) = (stop.clone(), b.clone(), base.clone());
        let http = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let _ = stream.set_nonblocking(false);
                        let (bb, base2) = (bb.clone(), base2.clone());
                        std::thread::spawn(move || serve(&bb, &base2, stream));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        let s = stop.clone();
        let discovery = std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while !s.load(Ordering::SeqCst) {
                let Ok((n, from)) = udp.recv_from(&mut buf) else { continue };
                let probe = String::from_utf8_lossy(&buf[..n]);
                if !probe.contains("NetworkVideoTransmitter") {
                    continue;
                }
                let relates = element(&probe, "MessageID").unwrap_or("").trim_start_matches("urn:uuid:").to_owned();
                let reply = fixture("probe_matches.xml").replace("{base}", &base).replace("{relates}", &relates);
                // Devices often answer twice (once per interface); the client keeps each once.
                for _ in 0..2 {
                    let _ = udp.send_to(reply.as_bytes(), from);
                }
            }
        });
        FakeDevice { port, udp_port, stop, threads: vec![http, discovery] }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for FakeDevice {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
