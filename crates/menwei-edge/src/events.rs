//! Emitting events: build the payload, commit it to the outbox, wake the relay.
//!
//! Emitting never waits on the network: it is one SQLite commit. The relay publishes later.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use menwei_core::event::{Event, EventKind, SCHEMA, Subject, Topics, rfc3339_ms};
use menwei_outbox::Outbox;
use tokio::sync::watch;

/// Where the pipeline's events go.
#[derive(Debug)]
pub struct EventSink {
    compound: String,
    topics: Topics,
    outbox: Arc<Mutex<Outbox>>,
    committed: watch::Sender<u64>,
}

/// The fields of an event that its emitter chooses; the sink adds id, sequence, compound,
/// class and time.
#[derive(Debug, Default)]
pub struct Draft {
    pub gate: Option<String>,
    pub camera: Option<String>,
    pub direction: Option<menwei_core::event::Direction>,
    pub subject: Option<Subject>,
    pub decision: Option<String>,
    pub reason: Option<String>,
    pub scores: BTreeMap<String, f32>,
    pub models: BTreeMap<String, String>,
}

impl EventSink {
    pub fn new(compound: &str, outbox: Arc<Mutex<Outbox>>) -> (Arc<Self>, watch::Receiver<u64>) {
        let last = outbox.lock().unwrap_or_else(|e| e.into_inner()).last_seq().unwrap_or(0);
        let (tx, rx) = watch::channel(last);
        (Arc::new(Self { compound: compound.to_owned(), topics: Topics::new(compound), outbox, committed: tx }), rx)
    }

    pub fn outbox(&self) -> &Arc<Mutex<Outbox>> {
        &self.outbox
    }

    /// The sequence number of the last event committed through this sink (0 before any).
    pub fn last_seq(&self) -> u64 {
        *self.committed.borrow()
    }

    /// Commits one event of `kind`, under the kind's class.
    pub fn emit(&self, kind: EventKind, d: Draft) -> Result<u64, menwei_outbox::OutboxError> {
        let class = kind.class();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |t| t.as_millis() as i64);
        let mut event = Event {
            schema: SCHEMA,
            event_id: uuid::Uuid::now_v7().to_string(),
            seq: 0,
            compound: self.compound.clone(),
            kind: kind.name().to_owned(),
            class,
            gate: d.gate,
            camera: d.camera,
            direction: d.direction,
            occurred_at: rfc3339_ms(now),
            subject: d.subject,
            decision: d.decision,
            reason: d.reason,
            scores: d.scores,
            models: d.models,
        };
        let _commit = menwei_core::profile::enter(menwei_core::profile::Stage::OutboxCommit);
        let topic = self.topics.events(class);
        let appended = self.outbox.lock().unwrap_or_else(|e| e.into_inner()).append(class, &topic, |seq| {
            event.seq = seq;
            serde_json::to_vec(&event).expect("events serialise")
        })?;
        if let Some(dropped) = appended.dropped {
            tracing::warn!(dropped, class = class.name(), "outbox full for this class: dropped its oldest event");
        }
        self.committed.send_replace(appended.seq);
        Ok(appended.seq)
    }
}
