//! The outbox relay: publishes committed events over MQTT v5 in sequence order, and deletes
//! them only when central acknowledges that it has stored them.
//!
//! - A persistent session (`clean_start = false`, a session expiry) and a stable client id, so
//!   the broker keeps queued QoS 1 messages for us across short disconnects.
//! - QoS 1 publishes, at most `window` events beyond central's last acknowledgement in flight.
//! - Central's cumulative ack (`.../ack`, `{"upto_seq": N}`) deletes events up to N from the
//!   outbox. When the broker lost our session (`session_present = false` after a restart), when
//!   central asks (`.../resend`), or when the ack has not moved for `resend_after` while events
//!   are in flight, the relay publishes again from the first unacknowledged event. Duplicates
//!   are possible and harmless: central stores each `(compound, seq)` once.
//! - Reconnection with exponential backoff and jitter (0.25 s to 10 s).
//! - A retained status topic with a last will: `online` while connected, `offline` otherwise.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use menwei_core::event::{Ack, Resend, Topics};
use menwei_core::shutdown;
use menwei_outbox::{Outbox, OutboxError};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Publish;
use rumqttc::v5::mqttbytes::v5::{LastWill, Packet};
use rumqttc::v5::{AsyncClient, ConnectionError, Event, MqttOptions};
use tokio::sync::watch;
use tracing::{debug, info, warn};

/// Where and how to reach the broker.
#[derive(Clone, Debug, PartialEq)]
pub struct BrokerConfig {
    /// Host, port, credentials and TLS files.
    pub endpoint: menwei_mqtt::Endpoint,
    /// Stable across restarts, so the broker can keep the session.
    pub client_id: String,
    /// At least 5 s (the MQTT client refuses less).
    pub keep_alive: Duration,
    /// Events published beyond central's last ack, at most.
    pub window: u64,
    /// Publish again from the last ack when it has not advanced for this long.
    pub resend_after: Duration,
    pub heartbeat_every: Duration,
}

impl BrokerConfig {
    pub fn new(host: &str, port: u16, client_id: &str) -> Self {
        Self {
            endpoint: menwei_mqtt::Endpoint::plain(host, port),
            client_id: client_id.to_owned(),
            keep_alive: Duration::from_secs(5),
            window: 256,
            resend_after: Duration::from_secs(10),
            heartbeat_every: Duration::from_secs(30),
        }
    }
}

/// Applies a register update from central (the payload of `.../sync`) and returns the version
/// the register is at afterwards, or `None` when the payload could not be applied at all.
pub type SyncHandler = Box<dyn Fn(&[u8]) -> Option<u64> + Send>;

/// What the daemon gives the relay: the heartbeat's payload, and what to do with register
/// updates (none: the relay does not subscribe to them).
pub struct Handlers {
    pub heartbeat: Box<dyn Fn() -> Vec<u8> + Send>,
    pub sync: Option<SyncHandler>,
}

impl std::fmt::Debug for Handlers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handlers").field("sync", &self.sync.is_some()).finish_non_exhaustive()
    }
}

/// Counters, read by the metrics endpoint and tests.
#[derive(Debug, Default)]
pub struct RelayStats {
    pub connected: AtomicBool,
    pub connects: AtomicU64,
    pub published: AtomicU64,
    /// Publishes of events that had been published before (after a lost session, a resend
    /// request or an ack that stalled).
    pub republished: AtomicU64,
    pub acked_seq: AtomicU64,
    /// CPU nanoseconds per published event (reading it from the outbox and handing it to the
    /// MQTT client), kept only while per-stage accounting is on (the benchmark harness).
    pub publish_samples_ns: std::sync::Mutex<Vec<u64>>,
}

/// Why the relay cannot run.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("broker TLS: {0}")]
    Tls(#[from] menwei_mqtt::TlsFileError),
    #[error("the outbox: {0}")]
    Outbox(#[from] OutboxError),
}

fn options(cfg: &BrokerConfig, topics: &Topics) -> Result<MqttOptions, RelayError> {
    let mut o = MqttOptions::new(&cfg.client_id, &cfg.endpoint.host, cfg.endpoint.port);
    o.set_keep_alive(cfg.keep_alive);
    o.set_clean_start(false);
    // Keep the session (and its queued messages) for a day of disconnection.
    o.set_session_expiry_interval(Some(86_400));
    o.set_last_will(LastWill::new(topics.status(), "offline", QoS::AtLeastOnce, true, None));
    cfg.endpoint.apply(&mut o)?;
    Ok(o)
}

/// Runs until `stop`. `committed` carries the last committed sequence number (the pipeline
/// bumps it after each append); `handlers` build the heartbeat and apply register updates.
pub async fn run(
    cfg: BrokerConfig,
    topics: Topics,
    outbox: Arc<Mutex<Outbox>>,
    mut committed: watch::Receiver<u64>,
    stop: shutdown::Receiver,
    stats: Arc<RelayStats>,
    handlers: Handlers,
) -> Result<(), RelayError> {
    let (client, eventloop) = AsyncClient::new(options(&cfg, &topics)?, 128);
    // The event loop runs in its own task: its `poll` is not safe to cancel mid-connect, and the
    // loop below wakes for many other reasons. Connection errors are retried there with backoff.
    let (poller, mut events) = menwei_mqtt::spawn_event_loop(eventloop, stop.clone());
    let acked = outbox.lock().unwrap_or_else(|e| e.into_inner()).acked_seq()?;
    stats.acked_seq.store(acked, Ordering::Relaxed);
    let mut relay = Relay {
        last_heartbeat: Instant::now() - cfg.heartbeat_every,
        cfg,
        topics,
        outbox,
        client,
        stats,
        handlers,
        acked,
        published: acked,
        high_water: acked,
        connected: false,
        last_ack_progress: Instant::now(),
    };
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let down = stop.down();
    tokio::pin!(down);
    loop {
        tokio::select! {
            Some(ev) = events.recv() => relay.on_event(ev),
            _ = committed.changed() => {}
            _ = tick.tick() => relay.on_tick(),
            _ = &mut down => break,
        }
        if relay.connected {
            relay.publish_window();
        }
    }
    if relay.connected {
        let _ = relay.client.try_publish(relay.topics.status(), QoS::AtLeastOnce, true, "offline");
        let _ = relay.client.try_disconnect();
        // Let the event loop flush the last packets (it ends on the disconnect).
        let _ = tokio::time::timeout(Duration::from_secs(2), async { while let Some(Ok(_)) = events.recv().await {} })
            .await;
    }
    drop(events);
    poller.abort();
    Ok(())
}

/// The relay's state between wake-ups.
struct Relay {
    cfg: BrokerConfig,
    topics: Topics,
    outbox: Arc<Mutex<Outbox>>,
    client: AsyncClient,
    stats: Arc<RelayStats>,
    handlers: Handlers,
    /// Central's cumulative ack.
    acked: u64,
    /// Highest sequence handed to the client; everything after `acked` up to it is in flight.
    published: u64,
    /// Highest sequence ever published, to count republications.
    high_water: u64,
    connected: bool,
    last_ack_progress: Instant,
    last_heartbeat: Instant,
}

impl Relay {
    fn outbox(&self) -> std::sync::MutexGuard<'_, Outbox> {
        self.outbox.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn on_event(&mut self, ev: Result<Event, ConnectionError>) {
        match ev {
            Ok(Event::Incoming(Packet::ConnAck(c))) => {
                self.connected = true;
                self.stats.connected.store(true, Ordering::Relaxed);
                self.stats.connects.fetch_add(1, Ordering::Relaxed);
                info!(broker = %self.cfg.endpoint.address(), session_present = c.session_present, "connected to the broker");
                if !c.session_present {
                    // The broker forgot us: what it had queued is gone.
                    self.published = self.acked;
                    let _ = self.client.try_subscribe(self.topics.ack(), QoS::AtLeastOnce);
                    let _ = self.client.try_subscribe(self.topics.resend(), QoS::AtLeastOnce);
                    if self.handlers.sync.is_some() {
                        let _ = self.client.try_subscribe(self.topics.sync(), QoS::AtLeastOnce);
                    }
                }
                let _ = self.client.try_publish(self.topics.status(), QoS::AtLeastOnce, true, "online");
            }
            Ok(Event::Incoming(Packet::Publish(p))) => self.on_publish(&p),
            Ok(_) => {}
            Err(e) => {
                if self.connected {
                    warn!("broker connection lost: {e}");
                } else {
                    debug!("cannot reach the broker: {e}");
                }
                self.connected = false;
                self.stats.connected.store(false, Ordering::Relaxed);
            }
        }
    }

    /// A message from central: an ack, a register update or a resend request.
    fn on_publish(&mut self, p: &Publish) {
        let topic = String::from_utf8_lossy(&p.topic);
        if topic == self.topics.ack() {
            match serde_json::from_slice::<Ack>(&p.payload) {
                Ok(a) if a.upto_seq > self.acked => {
                    let upto = a.upto_seq.min(self.high_water);
                    match self.outbox().ack(upto) {
                        Ok(n) => debug!(upto, deleted = n, "central acknowledged"),
                        Err(e) => warn!("{e}"),
                    }
                    self.acked = upto;
                    self.published = self.published.max(upto);
                    self.last_ack_progress = Instant::now();
                    self.stats.acked_seq.store(upto, Ordering::Relaxed);
                }
                Ok(_) => {}
                Err(e) => warn!(%topic, "ignoring a malformed ack: {e}"),
            }
        } else if topic == self.topics.sync() {
            if let Some(version) = self.handlers.sync.as_ref().and_then(|f| f(&p.payload)) {
                let body = serde_json::to_vec(&menwei_core::event::SyncApplied { version }).unwrap_or_default();
                let _ = self.client.try_publish(self.topics.sync_applied(), QoS::AtLeastOnce, true, body);
            }
        } else if topic == self.topics.resend()
            && let Ok(r) = serde_json::from_slice::<Resend>(&p.payload)
        {
            info!(from = r.from_seq, "central asked for a resend");
            self.published = self.published.min(r.from_seq.saturating_sub(1)).max(self.acked);
        }
    }

    /// Every half second: publish again when the ack stalled, and the heartbeat when due.
    fn on_tick(&mut self) {
        if self.published > self.acked && self.last_ack_progress.elapsed() >= self.cfg.resend_after {
            debug!(from = self.acked + 1, "no ack progress: publishing again from the last ack");
            self.published = self.acked;
            self.last_ack_progress = Instant::now();
        }
        if self.connected && self.last_heartbeat.elapsed() >= self.cfg.heartbeat_every {
            self.last_heartbeat = Instant::now();
            let body = (self.handlers.heartbeat)();
            let _ = self.client.try_publish(self.topics.heartbeat(), QoS::AtLeastOnce, true, body);
        }
    }

    /// Publishes in order while the window allows; stops at a full request queue.
    fn publish_window(&mut self) {
        let span = menwei_core::profile::enter(menwei_core::profile::Stage::Publish);
        let before = self.published;
        while self.published - self.acked < self.cfg.window {
            let room = (self.cfg.window - (self.published - self.acked)).min(64) as usize;
            let batch = match self.outbox().pending(self.published, room) {
                Ok(b) => b,
                Err(e) => {
                    warn!("{e}");
                    break;
                }
            };
            if batch.is_empty() {
                break;
            }
            let mut full = false;
            for ev in batch {
                if self.client.try_publish(ev.topic, QoS::AtLeastOnce, false, ev.payload).is_err() {
                    full = true;
                    break;
                }
                if ev.seq <= self.high_water {
                    self.stats.republished.fetch_add(1, Ordering::Relaxed);
                }
                self.high_water = self.high_water.max(ev.seq);
                self.published = ev.seq;
                self.stats.published.fetch_add(1, Ordering::Relaxed);
            }
            if full {
                break;
            }
        }
        drop(span);
        if menwei_core::profile::enabled() {
            let ns = menwei_core::profile::take()[menwei_core::profile::Stage::Publish as usize];
            let n = self.published.saturating_sub(before);
            if let Some(each) = ns.checked_div(n) {
                let mut s = self.stats.publish_samples_ns.lock().unwrap_or_else(|e| e.into_inner());
                s.extend(std::iter::repeat_n(each, n as usize));
            }
        }
    }
}
