//! The outbox and its relay against a real Mosquitto (started here on a free loopback port,
//! stopped by its PID): no committed event is lost while the broker is killed and restarted
//! and then frozen.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use menwei_core::event::{Ack, EventClass, Topics};
use menwei_edge::relay::{self, BrokerConfig, RelayStats};
use menwei_outbox::{Limits, Outbox};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use tokio::sync::watch;

mod support;
use support::{Mosquitto, free_port};

/// What the stand-in for menwei-central saw.
#[derive(Default)]
struct Received {
    unique: Mutex<HashSet<u64>>,
    duplicates: AtomicU64,
    contiguous: AtomicU64,
}

/// Stands in for menwei-central: stores every event once and acknowledges, cumulatively, the
/// highest sequence up to which it has everything.
async fn central(port: u16, compound: &str, got: Arc<Received>, stop: menwei_core::shutdown::Receiver) {
    let mut o = MqttOptions::new("central-test", "127.0.0.1", port);
    o.set_keep_alive(Duration::from_secs(5));
    o.set_clean_start(false);
    o.set_session_expiry_interval(Some(3600));
    let (client, mut el) = AsyncClient::new(o, 256);
    // As in the relay: the event loop in its own task, never cancelled mid-connect.
    let (tx, mut events) = tokio::sync::mpsc::channel(256);
    let poller = tokio::spawn(async move {
        loop {
            let ev = el.poll().await;
            let failed = ev.is_err();
            if tx.send(ev).await.is_err() {
                return;
            }
            if failed {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    });
    let topics = Topics::new(compound);
    let mut acked = 0;
    loop {
        tokio::select! {
            Some(ev) = events.recv() => match ev {
                Ok(Event::Incoming(Packet::ConnAck(c))) if !c.session_present => {
                    let _ = client.try_subscribe(Topics::all_events(), QoS::AtLeastOnce);
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let v: serde_json::Value = serde_json::from_slice(&p.payload).unwrap();
                    let seq = v["seq"].as_u64().unwrap();
                    let mut set = got.unique.lock().unwrap();
                    if !set.insert(seq) {
                        got.duplicates.fetch_add(1, Ordering::Relaxed);
                    }
                    let mut c = got.contiguous.load(Ordering::Relaxed);
                    while set.contains(&(c + 1)) {
                        c += 1;
                    }
                    got.contiguous.store(c, Ordering::Relaxed);
                }
                _ => {}
            },
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = stop.down() => {
                poller.abort();
                return;
            }
        }
        let c = got.contiguous.load(Ordering::Relaxed);
        if c > acked {
            let body = serde_json::to_vec(&Ack { upto_seq: c }).unwrap();
            if client.try_publish(topics.ack(), QoS::AtLeastOnce, false, body).is_ok() {
                acked = c;
            }
        }
    }
}

#[test]
fn no_committed_event_is_lost_while_the_broker_is_killed_restarted_and_frozen() {
    const EVENTS: u64 = 1000;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut broker = Mosquitto::start(dir.path(), port);
    let compound = "c-test";
    let topics = Topics::new(compound);
    let outbox = Arc::new(Mutex::new(Outbox::open(&dir.path().join("outbox.db"), Limits::default()).unwrap()));
    let (committed_tx, committed_rx) = watch::channel(0u64);
    let (stop_tx, stop_rx) = menwei_core::shutdown::channel();
    let stats = Arc::new(RelayStats::default());
    let got = Arc::new(Received::default());

    let mut cfg = BrokerConfig::new("127.0.0.1", port, "menwei-edge-c-test");
    cfg.keep_alive = Duration::from_secs(5);
    cfg.resend_after = Duration::from_secs(3);
    let net = {
        let (outbox, stats, got, topics) = (outbox.clone(), stats.clone(), got.clone(), topics.clone());
        let (stop_a, stop_b) = (stop_rx.clone(), stop_rx.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let relay = relay::run(
                    cfg,
                    topics,
                    outbox,
                    committed_rx,
                    stop_a,
                    stats,
                    relay::Handlers { heartbeat: Box::new(Vec::new), sync: None },
                );
                let central = central(port, compound, got, stop_b);
                let (r, ()) = tokio::join!(relay, central);
                r.unwrap();
            });
        })
    };

    // The pipeline: commits events at about 40 per second, never waiting on the network.
    let producing = Arc::new(AtomicBool::new(true));
    let producer = {
        let (outbox, producing) = (outbox.clone(), producing.clone());
        std::thread::spawn(move || {
            let mut slowest = Duration::ZERO;
            for _ in 0..EVENTS {
                let t = Instant::now();
                let a = outbox
                    .lock()
                    .unwrap()
                    .append(EventClass::Access, &Topics::new(compound).events(EventClass::Access), |seq| {
                        format!("{{\"schema\":1,\"seq\":{seq},\"kind\":\"access.granted\"}}").into_bytes()
                    })
                    .unwrap();
                slowest = slowest.max(t.elapsed());
                committed_tx.send_replace(a.seq);
                std::thread::sleep(Duration::from_millis(25));
            }
            producing.store(false, Ordering::SeqCst);
            slowest
        })
    };

    // Faults: five SIGKILLs with restarts, then the broker frozen for 12 s.
    std::thread::sleep(Duration::from_secs(2));
    for i in 0..5 {
        broker.kill_and_restart(Duration::from_millis(300 + 200 * i));
        eprintln!(
            "broker killed and restarted ({} of 5); central has {} in order",
            i + 1,
            got.contiguous.load(Ordering::Relaxed)
        );
        std::thread::sleep(Duration::from_millis(2500));
    }
    broker.signal("-STOP");
    eprintln!("broker frozen for 12 s");
    std::thread::sleep(Duration::from_secs(12));
    broker.signal("-CONT");

    let slowest_commit = producer.join().unwrap();
    let t = Instant::now();
    while outbox.lock().unwrap().acked_seq().unwrap() < EVENTS && t.elapsed() < Duration::from_secs(90) {
        std::thread::sleep(Duration::from_millis(200));
    }
    stop_tx.shutdown();
    net.join().unwrap();

    let committed = outbox.lock().unwrap().last_seq().unwrap();
    let acked = outbox.lock().unwrap().acked_seq().unwrap();
    let unique = got.unique.lock().unwrap().len() as u64;
    let duplicates = got.duplicates.load(Ordering::Relaxed);
    let lost = (1..=committed).filter(|s| !got.unique.lock().unwrap().contains(s)).count();
    eprintln!(
        "attempted {EVENTS}, committed {committed}, acked {acked}, received unique {unique}, duplicates {duplicates}, \
         lost {lost}; relay: {} connects, {} publishes, {} republished; slowest commit {slowest_commit:?}",
        stats.connects.load(Ordering::Relaxed),
        stats.published.load(Ordering::Relaxed),
        stats.republished.load(Ordering::Relaxed),
    );
    assert!(!producing.load(Ordering::SeqCst));
    assert_eq!(committed, EVENTS);
    assert_eq!(lost, 0);
    assert_eq!(unique, EVENTS);
    assert_eq!(acked, EVENTS);
    let status = outbox.lock().unwrap().status().unwrap();
    assert_eq!(status.depth[&EventClass::Access], 0, "acknowledged events are deleted");
    assert!(stats.connects.load(Ordering::Relaxed) >= 6, "reconnected after every restart");
}
