//! Ingestion against a real Mosquitto: exactly once per (compound, seq), duplicates counted,
//! the cumulative ack on the compound's ack topic, a resend request for a gap, edge status,
//! and two instances sharing one subscription and one database.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use menwei_tests::{Mosquitto, Postgres, free_port};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};

/// The database a test runs against: an SQLite file, or a PostgreSQL server the test started.
enum Database {
    Sqlite(PathBuf),
    Postgres(Postgres),
}

impl Database {
    fn new(engine: &str, dir: &Path) -> Database {
        match engine {
            "sqlite" => Database::Sqlite(dir.join("central.db")),
            _ => Database::Postgres(Postgres::start()),
        }
    }
    fn url(&self) -> String {
        match self {
            Database::Sqlite(p) => format!("sqlite://{}", p.display()),
            Database::Postgres(pg) => pg.url.clone(),
        }
    }
}

fn central(dir: &Path, db: &str, port: u16, id: &str) -> menwei_tests::KillOnDrop {
    let cfg = dir.join(format!("{id}.toml"));
    std::fs::write(
        &cfg,
        format!(
            "[database]\nurl = \"{db}\"\n[broker]\nurl = \"mqtt://127.0.0.1:{port}\"\nclient_id = \"{id}\"\n\
             share_group = \"g\"\n[http]\nlisten = \"127.0.0.1:{}\"\n",
            free_port()
        ),
    )
    .unwrap();
    menwei_tests::KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_menwei-central"))
            .args(["run", "--config"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join(format!("{id}.log"))).unwrap())
            .spawn()
            .unwrap(),
    )
}

/// An edge stand-in: publishes event payloads and records what central sends back.
struct Edge {
    client: AsyncClient,
    got: Arc<Mutex<Vec<(String, String)>>>,
}

impl Edge {
    fn connect(port: u16, compound: &str) -> Edge {
        let got = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let (g, compound) = (got.clone(), compound.to_owned());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let (client, mut el) =
                    AsyncClient::new(MqttOptions::new(format!("edge-{compound}"), "127.0.0.1", port), 1024);
                client.subscribe(format!("menwei/v1/{compound}/ack"), QoS::AtLeastOnce).await.unwrap();
                client.subscribe(format!("menwei/v1/{compound}/resend"), QoS::AtLeastOnce).await.unwrap();
                client.subscribe(format!("menwei/v1/{compound}/sync"), QoS::AtLeastOnce).await.unwrap();
                tx.send(client).unwrap();
                loop {
                    match el.poll().await {
                        Ok(Event::Incoming(Packet::Publish(p))) => g.lock().unwrap().push((
                            String::from_utf8_lossy(&p.topic).into_owned(),
                            String::from_utf8_lossy(&p.payload).into_owned(),
                        )),
                        Ok(_) => {}
                        Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                    }
                }
            });
        });
        Edge { client: rx.recv().unwrap(), got }
    }

    fn publish(&self, topic: String, retain: bool, body: String) {
        // The request queue is bounded: wait for room rather than lose a publish.
        while self.client.try_publish(topic.clone(), QoS::AtLeastOnce, retain, body.clone()).is_err() {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn event(&self, compound: &str, seq: u64) {
        let body = format!(
            "{{\"schema\":1,\"event_id\":\"e-{seq}\",\"seq\":{seq},\"compound\":\"{compound}\",\"kind\":\"access.granted\",\
             \"class\":\"access\",\"occurred_at\":\"2026-11-27T10:00:00.000Z\"}}"
        );
        self.publish(format!("menwei/v1/{compound}/events/access"), false, body);
    }

    fn status(&self, compound: &str, s: &str) {
        self.publish(format!("menwei/v1/{compound}/status"), true, s.to_owned());
    }

    fn last(&self, topic_end: &str) -> Option<String> {
        self.got.lock().unwrap().iter().rev().find(|(t, _)| t.ends_with(topic_end)).map(|(_, p)| p.clone())
    }
}

fn wait(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn db_counts(db: &str, compound: &str) -> (u64, u64, u64) {
    let d = menwei_central::db::Db::open_url(db).unwrap();
    let (events, dups) = menwei_central::store::counts(&d, compound).unwrap();
    (events, dups, d.with(|t| menwei_central::store::contiguous(t, compound)).unwrap())
}

#[test]
fn sqlite_events_are_stored_once_acked_and_gaps_asked_for() {
    events_are_stored_once_acked_and_gaps_asked_for("sqlite");
}

#[test]
fn postgres_events_are_stored_once_acked_and_gaps_asked_for() {
    events_are_stored_once_acked_and_gaps_asked_for("postgres");
}

fn events_are_stored_once_acked_and_gaps_asked_for(engine: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mqtt = Mosquitto::start(dir.path(), free_port());
    let database = Database::new(engine, dir.path());
    let db = database.url();
    let mut c = central(dir.path(), &db, mqtt.port, "central-1");
    let edge = Edge::connect(mqtt.port, "c-1");
    std::thread::sleep(Duration::from_secs(1));
    edge.status("c-1", "online");
    for seq in [1, 2, 2, 4] {
        edge.event("c-1", seq);
    }
    wait("the ack up to 2", Duration::from_secs(20), || edge.last("/ack").as_deref() == Some("{\"upto_seq\":2}"));
    // Seq 3 is missing: central asks for it.
    wait("a resend request", Duration::from_secs(30), || edge.last("/resend").as_deref() == Some("{\"from_seq\":3}"));
    edge.event("c-1", 3);
    wait("the ack up to 4", Duration::from_secs(20), || edge.last("/ack").as_deref() == Some("{\"upto_seq\":4}"));
    Command::new("kill").arg("-TERM").arg(c.id().to_string()).status().unwrap();
    let status = c.wait().unwrap();
    assert!(
        status.success(),
        "{status}:\n{}",
        std::fs::read_to_string(dir.path().join("central-1.log")).unwrap_or_default()
    );
    let (events, dups, contiguous) = db_counts(&db, "c-1");
    eprintln!("stored {events}, duplicates {dups}, contiguous {contiguous}");
    assert_eq!((events, dups, contiguous), (4, 1, 4));
    let d = menwei_central::db::Db::open_url(&db).unwrap();
    let status = d.with(|t| t.one("SELECT status FROM edges WHERE compound = 'c-1'", &[])).unwrap();
    assert_eq!(status.and_then(|r| r.opt_text(0)).as_deref(), Some("online"));
}

#[test]
fn sqlite_two_instances_share_the_subscription_and_store_each_event_once() {
    two_instances_share_the_subscription_and_store_each_event_once("sqlite");
}

#[test]
fn postgres_two_instances_share_the_subscription_and_store_each_event_once() {
    two_instances_share_the_subscription_and_store_each_event_once("postgres");
}

fn two_instances_share_the_subscription_and_store_each_event_once(engine: &str) {
    const N: u64 = 200;
    let dir = tempfile::tempdir().unwrap();
    let mqtt = Mosquitto::start(dir.path(), free_port());
    let database = Database::new(engine, dir.path());
    let db = database.url();
    let mut a = central(dir.path(), &db, mqtt.port, "central-a");
    let mut b = central(dir.path(), &db, mqtt.port, "central-b");
    let edge = Edge::connect(mqtt.port, "c-2");
    std::thread::sleep(Duration::from_secs(1));
    for seq in 1..=N {
        edge.event("c-2", seq);
    }
    wait("every event stored", Duration::from_secs(60), || db_counts(&db, "c-2").2 == N);
    let final_ack = format!("{{\"upto_seq\":{N}}}");
    wait("the final ack at the edge", Duration::from_secs(30), || {
        edge.got.lock().unwrap().iter().any(|(t, p)| t.ends_with("/ack") && *p == final_ack)
    });
    // A register update for the compound reaches its edge once, not once per instance: the
    // instance that claims the round sends it (again only after resend_after, 10 s).
    edge.status("c-2", "online");
    std::thread::sleep(Duration::from_millis(500));
    {
        let d = menwei_central::db::Db::open_url(&db).unwrap();
        d.with(|t| {
            t.exec(
                "INSERT INTO sync_batches (compound, version, body, created_ms) VALUES ($1, 1, $2, 0)",
                menwei_central::params!["c-2", r#"{"version":1}"#],
            )
        })
        .unwrap();
    }
    let syncs = || edge.got.lock().unwrap().iter().filter(|(t, _)| t.ends_with("/sync")).count();
    wait("the register update at the edge", Duration::from_secs(10), || syncs() >= 1);
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(syncs(), 1, "one instance sent the update");
    for c in [&mut a, &mut b] {
        Command::new("kill").arg("-TERM").arg(c.id().to_string()).status().unwrap();
        let status = c.wait().unwrap();
        let logs = ["central-a", "central-b"]
            .map(|id| std::fs::read_to_string(dir.path().join(format!("{id}.log"))).unwrap_or_default());
        assert!(status.success(), "{status}:\n{}\n---\n{}", logs[0], logs[1]);
    }
    let (events, dups, contiguous) = db_counts(&db, "c-2");
    eprintln!("{engine}, two instances: stored {events}, duplicates {dups}, contiguous {contiguous}");
    assert_eq!((events, contiguous), (N, N));
    let acks: HashSet<String> =
        edge.got.lock().unwrap().iter().filter(|(t, _)| t.ends_with("/ack")).map(|(_, p)| p.clone()).collect();
    eprintln!("{} distinct acks reached the edge", acks.len());
}
