//! Central and an edge on the deployed broker set-up: Mosquitto with the listener, certificates
//! (deploy/mosquitto/make-certs.sh) and ACL (deploy/mosquitto/acl) that deploy/ ships, mutual
//! TLS with the certificate's CN as the MQTT username. The event is stored, acknowledged to the
//! edge, and a register update reaches it: every topic central needs is allowed by the ACL.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Central, Edge, call, wait};
use menwei_tests::free_port;

struct Broker(Child);

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn central_and_an_edge_work_through_the_deployed_mutual_tls_broker() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    let script = common::workspace_file("deploy/mosquitto/make-certs.sh");
    let out = Command::new("bash").arg(&script).arg(&certs).arg("c-demo").output().unwrap();
    assert!(out.status.success(), "make-certs.sh: {}", String::from_utf8_lossy(&out.stderr));

    let port = free_port();
    let conf = dir.path().join("mosquitto.conf");
    let acl = common::workspace_file("deploy/mosquitto/acl");
    // The deployed TLS listener, on a free loopback port; `user root` because the files are in
    // the test's private directory (the deployed file drops to the mosquitto user).
    std::fs::write(
        &conf,
        format!(
            "per_listener_settings true\nuser root\npersistence false\nlistener {port} 127.0.0.1\nprotocol mqtt\n\
             cafile {c}/ca.crt\ncertfile {c}/broker.crt\nkeyfile {c}/broker.key\nrequire_certificate true\n\
             use_identity_as_username true\nallow_anonymous false\nacl_file {acl}\n",
            c = certs.display(),
            acl = acl.display()
        ),
    )
    .unwrap();
    let mosquitto =
        ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"].into_iter().find(|p| std::path::Path::new(p).is_file()).unwrap();
    let log = dir.path().join("mosquitto.log");
    let _broker = Broker(
        Command::new(mosquitto)
            .arg("-c")
            .arg(&conf)
            .arg("-v")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "mosquitto did not start: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let tls = format!(
        "[broker]\nurl = \"mqtts://127.0.0.1:{port}\"\nca_file = \"{c}/ca.crt\"\ncert_file = \"{c}/menwei-central.crt\"\n\
         key_file = \"{c}/menwei-central.key\"\n",
        c = certs.display()
    );
    let db = format!("sqlite://{}", dir.path().join("c.db").display());
    // Central's config takes the broker from `extra`: its own [broker] table replaces the plain one.
    let c = Central::start_with_broker(dir.path(), &db, &tls);
    let token = c.login("admin");
    let (s, b) = call(
        &c.url("/api/households"),
        "POST",
        Some(&token),
        Some(r#"{"ref":"h-101","compound":"c-demo","building":"1号楼","unit":"1单元","room":"101"}"#),
    );
    assert_eq!(s, 201, "{b}");
    let (s, b) =
        call(&c.url("/api/vehicles"), "POST", Some(&token), Some(r#"{"plate":"冀G12345","household":"h-101"}"#));
    assert_eq!(s, 201, "{b}");

    let mut ep = menwei_mqtt::Endpoint::plain("127.0.0.1", port);
    ep.tls = Some(menwei_mqtt::TlsFiles {
        ca: certs.join("ca.crt"),
        client_cert: Some(certs.join("c-demo.crt")),
        client_key: Some(certs.join("c-demo.key")),
    });
    let edge = Edge::connect_to(ep, "c-demo");
    edge.event(1, "access.denied", "north", r#"{"type":"vehicle","plate":"冀G99999","plate_color":null,"layout":null,"char_confidences":[],"match_kind":null,"vehicle_ref":null}"#);
    let broker_log = || std::fs::read_to_string(&log).unwrap_or_default();
    wait("the ack over TLS", Duration::from_secs(30), || edge.received("/ack").iter().any(|a| a == "{\"upto_seq\":1}"));
    wait("the register update over TLS", Duration::from_secs(30), || {
        edge.received("/sync").iter().any(|s| s.contains("冀G12345"))
    });
    assert!(!broker_log().contains("Denied"), "the ACL refused something:\n{}", broker_log());
    let (_, ev) = call(&c.url("/api/events"), "GET", Some(&token), None);
    assert_eq!(ev["events"][0]["subject"]["plate"], "冀G99999");
}
