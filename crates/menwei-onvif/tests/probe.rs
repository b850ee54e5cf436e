//! `probe` and `discover` against a fake ONVIF device on loopback that answers as cameras do
//! (fixtures written after the ONVIF specifications' examples) and checks the digests.

use std::time::Duration;

use menwei_onvif::{Client, Credentials, OnvifError};

mod fake;
use fake::{Behaviour, FakeDevice};

fn creds(password: &str) -> Option<Credentials> {
    Some(Credentials { user: "admin".into(), password: password.into() })
}

#[test]
fn a_media2_device_lists_its_streams_largest_first_with_their_rtsp_urls() {
    let device = FakeDevice::start(Behaviour::default());
    let mut client = Client::new(&device.host(), creds("Gate#2026"), Duration::from_secs(5)).unwrap();
    let report = client.probe().unwrap();
    print!("{}", report.table());
    assert_eq!(report.media, "Media2");
    assert_eq!((report.info.manufacturer.as_str(), report.info.model.as_str()), ("Acme Vision", "GATE-4MP-IR"));
    // The device's clock is 90 s ahead: the tokens were stamped in its time, or it would refuse.
    assert!(report.clock_offset_secs.is_some_and(|o| (85..=95).contains(&o)), "{:?}", report.clock_offset_secs);
    let got: Vec<_> =
        report.profiles.iter().map(|p| (p.name.as_str(), p.width, p.height, p.encoding.as_str(), p.fps)).collect();
    // The metadata-only profile has no video encoder and is left out.
    assert_eq!(got, vec![("mainStream", 2560, 1440, "H265", Some(25.0)), ("subStream", 640, 360, "H264", Some(15.0))]);
    assert_eq!(report.profiles[0].uri.as_deref(), Some("rtsp://127.0.0.1:554/Streaming/Channels/Profile_1"));
    let block = report.camera_block("north-1", Some("admin")).unwrap();
    print!("{block}");
    assert!(block.contains("url = \"rtsp://admin:PASSWORD@127.0.0.1:554/Streaming/Channels/Profile_1\""), "{block}");
    assert!(block.contains("640x360 H264, is rtsp://admin:PASSWORD@127.0.0.1:554/Streaming/Channels/Profile_2"));
    assert!(!block.contains("Gate#2026") && !report.table().contains("Gate#2026"));
}

#[test]
fn a_device_without_media2_is_asked_through_media() {
    let device = FakeDevice::start(Behaviour { media2: false, ..Behaviour::default() });
    let report = Client::new(&device.host(), creds("Gate#2026"), Duration::from_secs(5)).unwrap().probe().unwrap();
    assert_eq!(report.media, "Media");
    let got: Vec<_> = report.profiles.iter().map(|p| (p.token.as_str(), p.width, p.height, p.fps)).collect();
    assert_eq!(got, vec![("000", 1920, 1080, Some(25.0)), ("001", 704, 576, Some(12.0))]);
    assert_eq!(report.profiles[1].uri.as_deref(), Some("rtsp://127.0.0.1:554/Streaming/Channels/001"));
}

#[test]
fn a_wrong_password_or_none_is_a_clear_error_that_never_shows_the_password() {
    let device = FakeDevice::start(Behaviour::default());
    let err = Client::new(&device.host(), creds("gate2026"), Duration::from_secs(5)).unwrap().probe().unwrap_err();
    let text = err.to_string();
    eprintln!("{text}");
    assert!(matches!(err, OnvifError::NotAuthorized { .. }), "{err:?}");
    assert!(text.contains("refused user `admin`") && text.contains("Sender not Authorized"), "{text}");
    assert!(!text.contains("gate2026"), "{text}");
    let err = Client::new(&device.host(), None, Duration::from_secs(5)).unwrap().probe().unwrap_err();
    assert!(matches!(err, OnvifError::NeedsCredentials { .. }), "{err:?}");
}

#[test]
fn a_slow_device_times_out_and_a_closed_port_is_unreachable() {
    let device = FakeDevice::start(Behaviour { delay: Duration::from_secs(3), ..Behaviour::default() });
    let t = std::time::Instant::now();
    let err = Client::new(&device.host(), creds("Gate#2026"), Duration::from_millis(500)).unwrap().probe().unwrap_err();
    eprintln!("{err} (after {:?})", t.elapsed());
    assert!(matches!(err, OnvifError::Timeout { .. }), "{err:?}");
    assert!(err.to_string().contains("no answer within 500ms"), "{err}");

    let port = menwei_tests::free_port();
    let err = Client::new(&format!("127.0.0.1:{port}"), None, Duration::from_secs(2)).unwrap().probe().unwrap_err();
    eprintln!("{err}");
    assert!(matches!(err, OnvifError::Unreachable { .. }), "{err:?}");
}

#[test]
fn discovery_collects_each_device_address_once() {
    let device = FakeDevice::start(Behaviour::default());
    let to = format!("127.0.0.1:{}", device.udp_port).parse().unwrap();
    let found = menwei_onvif::discover::discover(to, Duration::from_millis(700)).unwrap();
    assert_eq!(
        found,
        vec![
            format!("http://127.0.0.1:{}/onvif/device_service", device.port),
            "http://[fe80::1]/onvif/device_service".into()
        ]
    );
}
