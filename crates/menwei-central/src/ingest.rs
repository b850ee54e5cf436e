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
//! - Register distribution: every second, the batches an online edge lacks (see
//!   [`crate::register::pending`]) are published to its `sync` topic, in order; again after
//!   `resend_after` if the edge has not reported them applied. Of several instances, the one
//!   on the same broker that claims the round in the database ([`crate::register::claim_sync`])
//!   sends it. `sync/applied` and heartbeats move the applied version and confirm erasures.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use menwei_core::event::{Ack, Resend, TOPIC_ROOT, Topics};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Packet, Publish};
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use tracing::{debug, info, warn};

use crate::db::Db;
use crate::orders::OrderPolicy;

#[derive(Clone, Debug)]
pub struct IngestConfig {
    pub endpoint: menwei_mqtt::Endpoint,
    pub client_id: String,
    pub share_group: String,
    pub resend_after: Duration,
    pub orders: OrderPolicy,
}

#[derive(Debug, Default)]
pub struct IngestStats {
    pub stored: AtomicU64,
    pub duplicates: AtomicU64,
    pub rejected: AtomicU64,
    /// Events stored that name a gate or camera the structure does not have.
    pub unknown_source: AtomicU64,
    pub acks: AtomicU64,
    pub resends: AtomicU64,
    pub sync_batches: AtomicU64,
    pub connected: std::sync::atomic::AtomicBool,
}

/// `menwei/v1/<compound>/<rest>` -> (compound, rest).
fn split(topic: &str) -> Option<(&str, &str)> {
    let rest = topic.strip_prefix(TOPIC_ROOT)?.strip_prefix('/')?;
    rest.split_once('/')
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Why ingestion cannot start.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("broker TLS: {0}")]
    Tls(#[from] menwei_mqtt::TlsFileError),
}

/// Runs until `stop`.
pub async fn run(
    cfg: IngestConfig,
    db: Db,
    stop: menwei_core::shutdown::Receiver,
    stats: Arc<IngestStats>,
) -> Result<(), IngestError> {
    let mut o = MqttOptions::new(&cfg.client_id, &cfg.endpoint.host, cfg.endpoint.port);
    cfg.endpoint.apply(&mut o)?;
    o.set_keep_alive(Duration::from_secs(5));
    o.set_clean_start(false);
    o.set_session_expiry_interval(Some(86_400));
    o.set_manual_acks(true);
    let (client, el) = AsyncClient::new(o, 256);
    // The event loop in its own task: `poll` is not safe to cancel mid-connect.
    let (poller, mut events) = menwei_mqtt::spawn_event_loop(el, stop.clone());
    let mut ingest = Ingest {
        policy: Arc::new(cfg.orders.clone()),
        // Which broker this instance sends through: the claim of a round of sync batches is per broker.
        broker: cfg.endpoint.address(),
        cfg,
        db,
        client,
        stats,
        gaps: HashMap::new(),
    };
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut sync_tick = tokio::time::interval(Duration::from_secs(1));
    let down = stop.down();
    tokio::pin!(down);
    loop {
        tokio::select! {
            Some(ev) = events.recv() => match ev {
                Ok(Event::Incoming(Packet::ConnAck(c))) => ingest.connected(c.session_present),
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    if ingest.message(&p).await == Handled::Ack {
                        let _ = ingest.client.try_ack(&p);
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    ingest.stats.connected.store(false, Ordering::Relaxed);
                    warn!("broker: {e}");
                }
            },
            _ = sync_tick.tick() => ingest.distribute().await,
            _ = tick.tick() => ingest.ask_resends().await,
            _ = &mut down => break,
        }
    }
    let _ = ingest.client.try_disconnect();
    drop(events);
    poller.abort();
    Ok(())
}

/// One instance's ingestion state.
struct Ingest {
    cfg: IngestConfig,
    db: Db,
    client: AsyncClient,
    stats: Arc<IngestStats>,
    policy: Arc<OrderPolicy>,
    broker: String,
    /// Compounds whose stored sequence has a gap, since when.
    gaps: HashMap<String, Instant>,
}

/// What to do with a message once handled: acknowledge it to the broker, or leave it to be
/// delivered again.
#[derive(PartialEq)]
enum Handled {
    Ack,
    Redeliver,
}

impl Ingest {
    fn connected(&self, session_present: bool) {
        info!(broker = %self.cfg.endpoint.address(), session_present, "connected");
        if !session_present {
            let shared = format!("$share/{}/{}", self.cfg.share_group, Topics::all_events());
            let _ = self.client.try_subscribe(shared, QoS::AtLeastOnce);
            for what in ["status", "heartbeat", "sync/applied"] {
                let _ = self.client.try_subscribe(format!("{TOPIC_ROOT}/+/{what}"), QoS::AtLeastOnce);
            }
        }
        self.stats.connected.store(true, Ordering::Relaxed);
    }

    /// One message; acknowledged to the broker unless an event could not be committed.
    async fn message(&mut self, p: &Publish) -> Handled {
        let topic = String::from_utf8_lossy(&p.topic).into_owned();
        let Some((compound, rest)) = split(&topic) else { return Handled::Ack };
        let c = compound.to_owned();
        match rest {
            r if r.starts_with("events/") => return self.event(compound, p.payload.to_vec()).await,
            "status" => {
                let s = String::from_utf8_lossy(&p.payload).into_owned();
                let seen = self.db.call(move |t| {
                    if s == "online" {
                        // A returning edge gets what it lacks at the next tick.
                        crate::register::returning(t, &c)?;
                    }
                    crate::store::edge_seen(t, &c, Some(&s), None, now_ms())
                });
                if let Err(e) = seen.await {
                    warn!("{e}");
                }
            }
            "heartbeat" => {
                let h = String::from_utf8_lossy(&p.payload).into_owned();
                if let Err(e) = self.db.call(move |t| crate::store::edge_seen(t, &c, None, Some(&h), now_ms())).await {
                    warn!("{e}");
                }
            }
            "sync/applied" => match serde_json::from_slice::<menwei_core::event::SyncApplied>(&p.payload) {
                Ok(a) => {
                    if let Err(e) = self.db.call(move |t| crate::register::applied(t, &c, a.version, now_ms())).await {
                        warn!("{e}");
                    }
                }
                Err(e) => warn!(%compound, "a sync/applied that is not {{\"version\": N}}: {e}"),
            },
            _ => {}
        }
        Handled::Ack
    }

    /// An event: stored once, then the compound's cumulative ack.
    async fn event(&mut self, compound: &str, body: Vec<u8>) -> Handled {
        let (c, pol) = (compound.to_owned(), self.policy.clone());
        let stats = &self.stats;
        match self.db.call(move |t| crate::store::ingest(t, &c, &body, now_ms(), &pol)).await {
            Ok(s) => {
                if let Some(what) = &s.unknown_source {
                    debug!(%compound, "stored an event whose {what}");
                    stats.unknown_source.fetch_add(1, Ordering::Relaxed);
                }
                if let Some(reason) = &s.invalid {
                    warn!(%compound, "stored an invalid event as a placeholder: {reason}");
                    stats.rejected.fetch_add(1, Ordering::Relaxed);
                }
                let counter = if s.new { &stats.stored } else { &stats.duplicates };
                counter.fetch_add(1, Ordering::Relaxed);
                if s.advanced || !s.new {
                    let body = serde_json::to_vec(&Ack { upto_seq: s.contiguous }).expect("acks serialise");
                    if self.client.try_publish(Topics::new(compound).ack(), QoS::AtLeastOnce, false, body).is_ok() {
                        stats.acks.fetch_add(1, Ordering::Relaxed);
                    }
                }
                if s.highest > s.contiguous {
                    self.gaps.entry(compound.to_owned()).or_insert_with(Instant::now);
                } else {
                    self.gaps.remove(compound);
                }
                Handled::Ack
            }
            Err(crate::store::StoreError::Event { compound, reason }) => {
                // A malformed message would come back for ever: count it, drop it.
                warn!(%compound, "rejected an event: {reason}");
                stats.rejected.fetch_add(1, Ordering::Relaxed);
                Handled::Ack
            }
            // Not committed: not acknowledged, so the broker delivers it again.
            Err(e) => {
                warn!("cannot store an event: {e}");
                Handled::Redeliver
            }
        }
    }

    /// Every second: the register batches each online edge lacks, in order.
    async fn distribute(&self) {
        let list = match self.db.call(crate::register::pending).await {
            Ok(list) => list,
            Err(e) => return warn!("register distribution: {e}"),
        };
        for (compound, applied, bodies) in list {
            let latest = applied + bodies.len() as u64;
            // One instance of several sends this round: the one whose claim wins.
            let (c, b, resend_ms) = (compound.clone(), self.broker.clone(), self.cfg.resend_after.as_millis() as i64);
            match self.db.call(move |t| crate::register::claim_sync(t, &c, &b, latest, now_ms(), resend_ms)).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    warn!(%compound, "register distribution: {e}");
                    continue;
                }
            }
            info!(%compound, from = applied + 1, to = latest, "distributing register updates");
            let topic = Topics::new(&compound).sync();
            // In order or not at all: a batch the queue refused ends this round.
            let mut sent = true;
            for body in bodies {
                if self.client.try_publish(topic.clone(), QoS::AtLeastOnce, false, body).is_err() {
                    sent = false;
                    break;
                }
                self.stats.sync_batches.fetch_add(1, Ordering::Relaxed);
            }
            if !sent {
                let (c, b) = (compound.clone(), self.broker.clone());
                if let Err(e) = self.db.call(move |t| crate::register::release_sync(t, &c, &b)).await {
                    warn!(%compound, "register distribution: {e}");
                }
            }
        }
    }

    /// Every half second: a gap that lasted `resend_after` asks its edge to resend.
    async fn ask_resends(&mut self) {
        let due: Vec<String> = self
            .gaps
            .iter()
            .filter(|(_, since)| since.elapsed() >= self.cfg.resend_after)
            .map(|(c, _)| c.clone())
            .collect();
        for compound in due {
            let c = compound.clone();
            let from = match self.db.call(move |t| crate::store::contiguous(t, &c)).await {
                Ok(c) => c + 1,
                Err(e) => {
                    warn!("{e}");
                    continue;
                }
            };
            info!(%compound, from, "gap in the sequence: asking the edge to resend");
            let body = serde_json::to_vec(&Resend { from_seq: from }).expect("resends serialise");
            if self.client.try_publish(Topics::new(&compound).resend(), QoS::AtLeastOnce, false, body).is_ok() {
                self.stats.resends.fetch_add(1, Ordering::Relaxed);
            }
            self.gaps.insert(compound, Instant::now());
        }
    }
}
