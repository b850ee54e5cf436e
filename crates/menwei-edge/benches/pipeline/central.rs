//! The central stand-in: receives every compound's events from Mosquitto, records when each
//! arrived, and acknowledges them as central does.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

#[derive(Default)]
pub struct Central {
    pub events: Mutex<Vec<Received>>,
}

/// An event as the stand-in received it.
#[derive(Clone)]
pub struct Received {
    pub compound: String,
    pub seq: u64,
    pub class: String,
    /// `r:<resident>`, `p:<plate>`, or the subject's type.
    pub key: String,
    pub at_us: u64,
}

/// The stand-in's key for an event's subject: `r:<resident>`, `p:<plate>`, or its type.
fn key(subject: &Value) -> String {
    match subject["type"].as_str() {
        Some("resident") => format!("r:{}", subject["resident_ref"].as_str().unwrap_or("")),
        Some("vehicle") => format!("p:{}", subject["plate"].as_str().unwrap_or("")),
        Some(t) => t.to_owned(),
        None => String::new(),
    }
}

impl Central {
    /// Subscribes to every compound's events (each run is its own compound, with its own
    /// outbox and sequence) and acknowledges them cumulatively per compound.
    pub fn start(port: u16) -> Arc<Central> {
        use menwei_core::event::{Ack, Topics};
        use rumqttc::v5::mqttbytes::QoS;
        use rumqttc::v5::mqttbytes::v5::Packet;
        use rumqttc::v5::{AsyncClient, Event, MqttOptions};
        let got = Arc::new(Central::default());
        let g = got.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let mut o = MqttOptions::new("central-bench", "127.0.0.1", port);
                o.set_keep_alive(Duration::from_secs(5));
                let (client, mut el) = AsyncClient::new(o, 64);
                let mut seen: BTreeMap<String, (HashSet<u64>, u64)> = BTreeMap::new();
                loop {
                    match el.poll().await {
                        Ok(Event::Incoming(Packet::ConnAck(_))) => {
                            let _ = client.subscribe(Topics::all_events(), QoS::AtLeastOnce).await;
                        }
                        Ok(Event::Incoming(Packet::Publish(p))) => {
                            let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros() as u64;
                            let Ok(v) = serde_json::from_slice::<Value>(&p.payload) else { continue };
                            let Some(seq) = v["seq"].as_u64() else { continue };
                            let key = key(&v["subject"]);
                            let class = v["class"].as_str().unwrap_or("").to_owned();
                            let compound = v["compound"].as_str().unwrap_or("").to_owned();
                            let (have, acked) = seen.entry(compound.clone()).or_default();
                            if have.insert(seq) {
                                g.events.lock().unwrap().push(Received {
                                    compound: compound.clone(),
                                    seq,
                                    class,
                                    key,
                                    at_us: now,
                                });
                            }
                            let mut c = *acked;
                            while have.contains(&(c + 1)) {
                                c += 1;
                            }
                            if c > *acked {
                                *acked = c;
                                let body = serde_json::to_vec(&Ack { upto_seq: c }).unwrap();
                                let topic = Topics::new(&compound).ack();
                                let _ = client.publish(topic, QoS::AtLeastOnce, false, body).await;
                            }
                        }
                        Ok(_) => {}
                        Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                    }
                }
            });
        });
        got
    }
}
