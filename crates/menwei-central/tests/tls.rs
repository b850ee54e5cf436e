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

/// Every message in an error's chain, for asserting on the cause.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[test]
fn central_reaches_postgresql_over_tls_with_its_client_certificate_and_not_otherwise() {
    use menwei_central::db::Db;
    use menwei_central::pgtls::PgTls;
    let dir = tempfile::tempdir().unwrap();
    let script = common::workspace_file("deploy/mosquitto/make-certs.sh");
    // The district's CA, and another one that has nothing to do with this server.
    for name in ["certs", "other"] {
        let out = Command::new("bash").arg(&script).arg(dir.path().join(name)).output().unwrap();
        assert!(out.status.success(), "make-certs.sh: {}", String::from_utf8_lossy(&out.stderr));
    }
    let c = |f: &str| dir.path().join("certs").join(f);
    // The CA's server certificate (SAN IP:127.0.0.1) serves PostgreSQL here as it serves the broker.
    let pg = menwei_tests::Postgres::start_tls(menwei_tests::PgTlsFiles {
        server_cert: &c("broker.crt"),
        server_key: &c("broker.key"),
        ca: &c("ca.crt"),
    });
    let client = Some((c("menwei-central.crt"), c("menwei-central.key")));

    let tls = PgTls { ca_file: c("ca.crt"), client: client.clone() };
    let db = Db::open_postgres_tls(&pg.url, Some(&tls)).unwrap_or_else(|e| panic!("{}", chain(&e)));
    let encrypted = db
        .with(|tx| {
            tx.int("SELECT CASE WHEN ssl THEN 1 ELSE 0 END::bigint FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[])
        })
        .unwrap();
    assert_eq!(encrypted, 1, "the connection is encrypted");
    // The schema was migrated over it.
    assert!(db.with(|tx| tx.int("SELECT count(*) FROM compounds", &[])).is_ok());

    // Without TLS the server has no rule for the connection.
    let plain = chain(&Db::open_postgres(&pg.url).unwrap_err());
    assert!(plain.contains("no encryption"), "{plain}");
    // TLS without the client certificate.
    let anonymous = PgTls { ca_file: c("ca.crt"), client: None };
    let e = chain(&Db::open_postgres_tls(&pg.url, Some(&anonymous)).unwrap_err());
    assert!(e.contains("certificate"), "{e}");
    // A server whose certificate the configured CA did not issue is not trusted (both CAs carry
    // the same name here, so rustls finds the signature wrong rather than the issuer unknown).
    let wrong_ca = PgTls { ca_file: dir.path().join("other/ca.crt"), client };
    let e = chain(&Db::open_postgres_tls(&pg.url, Some(&wrong_ca)).unwrap_err());
    assert!(e.contains("invalid peer certificate"), "{e}");
    // A CA file that is not there is named.
    let missing = PgTls { ca_file: dir.path().join("nope.crt"), client: None };
    let e = chain(&Db::open_postgres_tls(&pg.url, Some(&missing)).unwrap_err());
    assert!(e.contains("nope.crt"), "{e}");
}
