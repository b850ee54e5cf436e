//! WS-Discovery: who on this network is an ONVIF camera.
//!
//! A `Probe` for `NetworkVideoTransmitter` goes to the multicast group 239.255.255.250, port
//! 3702 (or to one address, for a camera on another subnet and for tests); each device answers
//! with a `ProbeMatches` that lists its device-service addresses. Answers are collected until
//! the timeout.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use crate::answers;
use crate::xml;

/// Where probes go by default.
pub const MULTICAST: &str = "239.255.255.250:3702";

/// The Probe message, with `message_id` as its `urn:uuid:`.
pub fn probe_message(message_id: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" \
         xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" \
         xmlns:d=\"http://schemas.xmlsoap.org/ws/2005/04/discovery\" \
         xmlns:dn=\"http://www.onvif.org/ver10/network/wsdl\">\
         <s:Header><a:MessageID>urn:uuid:{message_id}</a:MessageID>\
         <a:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>\
         <a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action></s:Header>\
         <s:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></s:Body></s:Envelope>"
    )
}

fn message_id() -> String {
    let mut b = [0u8; 16];
    let _ = getrandom::fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// Sends one Probe to `to` and returns every device-service address answered within
/// `timeout`, each once, in the order they came. Answers that are not ProbeMatches are skipped.
pub fn discover(to: SocketAddr, timeout: Duration) -> std::io::Result<Vec<String>> {
    let bind: SocketAddr = if to.ip().is_loopback() { "127.0.0.1:0" } else { "0.0.0.0:0" }.parse().expect("an address");
    let socket = UdpSocket::bind(bind)?;
    if to.ip().is_multicast() {
        socket.set_multicast_ttl_v4(1)?;
    }
    socket.send_to(probe_message(&message_id()).as_bytes(), to)?;
    let deadline = Instant::now() + timeout;
    let mut found = Vec::new();
    let mut buf = vec![0u8; 65_536];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        socket.set_read_timeout(Some(left))?;
        let n = match socket.recv_from(&mut buf) {
            Ok((n, _)) => n,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => break,
            Err(e) => return Err(e),
        };
        let Ok(doc) = xml::parse(&String::from_utf8_lossy(&buf[..n])) else { continue };
        for addr in answers::probe_matches(&doc) {
            if !found.contains(&addr) {
                found.push(addr);
            }
        }
    }
    Ok(found)
}
