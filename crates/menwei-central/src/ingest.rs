//! Ingestion: every compound's events, over one MQTT v5 shared subscription, stored exactly
//! once, then acknowledged.
//!
//! - `$share/<group>/menwei/v1/+/events/#`: N central instances with the same group split the
//!   compounds' events between them. Status and heartbeats are read by every instance.
//! - Manual MQTT acknowledgements: a message is acknowledged to the broker only after its event
//!   is committed, so an instance that dies mid-way leaves the message to be delivered again.
//! - The compound comes from the topic, never from the payload (the broker's ACL vouches for
//!   the topic).
//! - After a commit that advances the compound's contiguous sequence, or on a duplicate (the
//!   edge republished because it had not seen our ack), the cumulative ack
//!   `{"upto_seq": N}` goes to `menwei/v1/<compound>/ack`.
//! - A gap that lasts `resend_after` asks the edge to resend from the first missing sequence.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use menwei_core::event::{Ack, Resend, TOPIC_ROOT, Topics};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::store::Store;

#[derive(Clone, Debug)]
pub struct IngestConfig {
    pub host: String,
    pub port: u16,
    pub client_id: String,
    pub share_group: String,
    pub resend_after: Duration,
}

#[derive(Debug, Default)]
pub struct IngestStats {
    pub stored: AtomicU64,
    pub duplicates: AtomicU64,
    pub rejected: AtomicU64,
    pub acks: AtomicU64,
    pub resends: AtomicU64,
}

/// `menwei/v1/<compound>/<rest>` -> (compound, rest).
fn split(topic: &str) -> Option<(&str, &str)> {
    let rest = topic.strip_prefix(TOPIC_ROOT)?.strip_prefix('/')?;
    rest.split_once('/')
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

pub async fn run(
    cfg: IngestConfig,
    store: Arc<Mutex<Store>>,
    mut stop: watch::Receiver<bool>,
    stats: Arc<IngestStats>,
) -> anyhow::Result<()> {
    let mut o = MqttOptions::new(&cfg.client_id, &cfg.host, cfg.port);
    o.set_keep_alive(Duration::from_secs(5));
    o.set_clean_start(false);
    o.set_session_expiry_interval(Some(86_400));
    o.set_manual_acks(true);
    let (client, mut el) = AsyncClient::new(o, 256);
    let (tx, mut events) = tokio::sync::mpsc::channel(256);
    // The event loop in its own task: `poll` is not safe to cancel mid-connect.
    let poller = tokio::spawn(async move {
        let mut backoff = Duration::from_millis(250);
        loop {
            let ev = el.poll().await;
            let failed = ev.is_err();
            if tx.send(ev).await.is_err() {
                return;
            }
            if failed {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            } else {
                backoff = Duration::from_millis(250);
            }
        }
    });
    let lock = || store.lock().unwrap_or_else(|e| e.into_inner());
    let mut gaps: HashMap<String, Instant> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            Some(ev) = events.recv() => match ev {
                Ok(Event::Incoming(Packet::ConnAck(c))) => {
                    info!(broker = %format!("{}:{}", cfg.host, cfg.port), session_present = c.session_present, "connected");
                    if !c.session_present {
                        let shared = format!("$share/{}/{}", cfg.share_group, Topics::all_events());
                        let _ = client.try_subscribe(shared, QoS::AtLeastOnce);
                        let _ = client.try_subscribe(format!("{TOPIC_ROOT}/+/status"), QoS::AtLeastOnce);
                        let _ = client.try_subscribe(format!("{TOPIC_ROOT}/+/heartbeat"), QoS::AtLeastOnce);
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let topic = String::from_utf8_lossy(&p.topic).into_owned();
                    match split(&topic) {
                        Some((compound, rest)) if rest.starts_with("events/") => {
                            let stored = lock().ingest(compound, &p.payload, now_ms());
                            match stored {
                                Ok(s) => {
                                    let counter = if s.new { &stats.stored } else { &stats.duplicates };
                                    counter.fetch_add(1, Ordering::Relaxed);
                                    if s.advanced || !s.new {
                                        let body = serde_json::to_vec(&Ack { upto_seq: s.contiguous })?;
                                        if client.try_publish(Topics::new(compound).ack(), QoS::AtLeastOnce, false, body).is_ok() {
                                            stats.acks.fetch_add(1, Ordering::Relaxed);
                                        }
                                    }
                                    if s.highest > s.contiguous {
                                        gaps.entry(compound.to_owned()).or_insert_with(Instant::now);
                                    } else {
                                        gaps.remove(compound);
                                    }
                                    let _ = client.try_ack(&p);
                                }
                                Err(crate::store::StoreError::Event { compound, reason }) => {
                                    // A malformed message would come back for ever: count it, drop it.
                                    warn!(%compound, "rejected an event: {reason}");
                                    stats.rejected.fetch_add(1, Ordering::Relaxed);
                                    let _ = client.try_ack(&p);
                                }
                                // Not committed: not acknowledged, so the broker delivers it again.
                                Err(e) => warn!("cannot store an event: {e}"),
                            }
                        }
                        Some((compound, "status")) => {
                            let s = String::from_utf8_lossy(&p.payload).into_owned();
                            if let Err(e) = lock().edge_seen(compound, Some(&s), None, now_ms()) {
                                warn!("{e}");
                            }
                            let _ = client.try_ack(&p);
                        }
                        Some((compound, "heartbeat")) => {
                            let h = String::from_utf8_lossy(&p.payload).into_owned();
                            if let Err(e) = lock().edge_seen(compound, None, Some(&h), now_ms()) {
                                warn!("{e}");
                            }
                            let _ = client.try_ack(&p);
                        }
                        _ => {
                            let _ = client.try_ack(&p);
                        }
                    }
                }
                Ok(_) => {}
                Err(e) => warn!("broker: {e}"),
            },
            _ = tick.tick() => {
                let due: Vec<String> = gaps
                    .iter()
                    .filter(|(_, since)| since.elapsed() >= cfg.resend_after)
                    .map(|(c, _)| c.clone())
                    .collect();
                for compound in due {
                    let from = match lock().contiguous(&compound) {
                        Ok(c) => c + 1,
                        Err(e) => {
                            warn!("{e}");
                            continue;
                        }
                    };
                    info!(%compound, from, "gap in the sequence: asking the edge to resend");
                    let body = serde_json::to_vec(&Resend { from_seq: from })?;
                    if client.try_publish(Topics::new(&compound).resend(), QoS::AtLeastOnce, false, body).is_ok() {
                        stats.resends.fetch_add(1, Ordering::Relaxed);
                    }
                    gaps.insert(compound, Instant::now());
                }
            }
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            break;
        }
    }
    let _ = client.try_disconnect();
    drop(events);
    poller.abort();
    Ok(())
}
