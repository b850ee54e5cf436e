//! The edge's durable event outbox: an event counts as emitted once it is committed here.
//!
//! Why it is shaped this way:
//! - **Commit first, publish later.** The video pipeline appends an event in one SQLite
//!   transaction (WAL, `synchronous = FULL`) and goes on; it never waits on the network. A relay
//!   publishes from here in sequence order, and an event is deleted only when the central
//!   service acknowledges that it has *stored* it (a cumulative ack up to a sequence number),
//!   never on a transport-level acknowledgement. A broker that loses its state, a killed edge
//!   process or a day offline therefore loses nothing that was committed.
//! - **One sequence per compound.** `seq` is allocated in the same transaction as the insert and
//!   never reused, so central can store each event exactly once (`UNIQUE(compound, seq)`) and
//!   see gaps.
//! - **Bounded per class.** Each [`EventClass`] has a cap. Health events are dropped oldest
//!   first at their cap, and every drop is counted. A dropped event keeps its row as a
//!   60-byte marker (`kind: outbox.dropped`), so the sequence central sees has no hole that
//!   its cumulative ack could never pass. Access and security events are never
//!   dropped: past [`Limits::degraded_at`] of their cap the outbox reports itself degraded (the
//!   heartbeat and `/readyz` say so), and at the cap it still accepts them, bounded by the disk
//!   alone, because losing a gate decision is worse than a full disk warning.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use menwei_core::event::EventClass;
use rusqlite::{Connection, OptionalExtension, params};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum OutboxError {
    #[error("outbox {path}: {source}")]
    Sqlite { path: String, source: rusqlite::Error },
}

/// Caps per class, and when to report degraded.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    pub per_class: BTreeMap<EventClass, u64>,
    /// Fraction of a never-drop class's cap at which the outbox reports degraded.
    pub degraded_at: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            per_class: BTreeMap::from([
                (EventClass::Access, 1_000_000),
                (EventClass::Security, 100_000),
                (EventClass::Health, 10_000),
            ]),
            degraded_at: 0.8,
        }
    }
}

/// One event waiting for central's ack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    pub seq: u64,
    pub class: EventClass,
    pub topic: String,
    pub payload: Vec<u8>,
}

/// What [`Outbox::append`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Appended {
    pub seq: u64,
    /// A droppable event removed to stay within its class's cap.
    pub dropped: Option<u64>,
}

/// Depth and health, for the heartbeat, `/readyz` and the metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutboxStatus {
    pub depth: BTreeMap<EventClass, u64>,
    pub dropped: BTreeMap<EventClass, u64>,
    pub last_seq: u64,
    pub acked_seq: u64,
    /// A never-drop class is past `degraded_at` of its cap.
    pub degraded: bool,
}

/// The outbox on one SQLite file. Not `Sync`: share it behind a mutex.
#[derive(Debug)]
pub struct Outbox {
    conn: Connection,
    path: String,
    limits: Limits,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS outbox (
    seq        INTEGER PRIMARY KEY,
    class      TEXT    NOT NULL,
    topic      TEXT    NOT NULL,
    payload    BLOB    NOT NULL,
    created_ms INTEGER NOT NULL,
    -- 1: dropped at its class's cap; the payload is then a small marker that keeps the
    -- sequence contiguous for central.
    dropped    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outbox_class ON outbox (class, seq);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta (key, value) VALUES ('next_seq', 1), ('acked_seq', 0),
    ('dropped_access', 0), ('dropped_security', 0), ('dropped_health', 0);
";

impl Outbox {
    /// Opens (creating if needed) the outbox at `path`.
    pub fn open(path: &Path, limits: Limits) -> Result<Self, OutboxError> {
        let p = path.display().to_string();
        let err = |source| OutboxError::Sqlite { path: p.clone(), source };
        let conn = Connection::open(path).map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(err)?;
        // Every commit reaches the disk before append returns: a power cut loses nothing
        // that was reported as emitted.
        conn.pragma_update(None, "synchronous", "FULL").map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        Ok(Self { conn, path: p, limits })
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> OutboxError + '_ {
        |source| OutboxError::Sqlite { path: self.path.clone(), source }
    }

    /// Commits one event. `payload` is built from the sequence number allocated for it, in the
    /// same transaction, so the sequence inside the payload and the row always agree.
    pub fn append(
        &mut self,
        class: EventClass,
        topic: &str,
        payload: impl FnOnce(u64) -> Vec<u8>,
    ) -> Result<Appended, OutboxError> {
        let path = self.path.clone();
        let err = |source| OutboxError::Sqlite { path: path.clone(), source };
        let cap = self.limits.per_class.get(&class).copied().unwrap_or(u64::MAX);
        let tx = self.conn.transaction().map_err(err)?;
        let seq: u64 = tx.query_row("SELECT value FROM meta WHERE key = 'next_seq'", [], |r| r.get(0)).map_err(err)?;
        let body = payload(seq);
        tx.execute(
            "INSERT INTO outbox (seq, class, topic, payload, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![seq, class.name(), topic, body, now_ms()],
        )
        .map_err(err)?;
        tx.execute("UPDATE meta SET value = ?1 WHERE key = 'next_seq'", params![seq + 1]).map_err(err)?;
        let mut dropped = None;
        if class.droppable() {
            let count: u64 = tx
                .query_row("SELECT COUNT(*) FROM outbox WHERE class = ?1 AND dropped = 0", [class.name()], |r| r.get(0))
                .map_err(err)?;
            if count > cap {
                let oldest: u64 = tx
                    .query_row("SELECT MIN(seq) FROM outbox WHERE class = ?1 AND dropped = 0", [class.name()], |r| {
                        r.get(0)
                    })
                    .map_err(err)?;
                // The event's content goes; its sequence number stays, as a marker central
                // stores like any event, so the cumulative ack can pass it.
                let marker = format!(
                    "{{\"schema\":1,\"seq\":{oldest},\"kind\":\"outbox.dropped\",\"class\":\"{}\"}}",
                    class.name()
                );
                tx.execute(
                    "UPDATE outbox SET payload = ?2, dropped = 1 WHERE seq = ?1",
                    params![oldest, marker.as_bytes()],
                )
                .map_err(err)?;
                tx.execute(&format!("UPDATE meta SET value = value + 1 WHERE key = 'dropped_{}'", class.name()), [])
                    .map_err(err)?;
                dropped = Some(oldest);
            }
        }
        tx.commit().map_err(err)?;
        Ok(Appended { seq, dropped })
    }

    /// Events after `after`, in sequence order, at most `limit`.
    pub fn pending(&self, after: u64, limit: usize) -> Result<Vec<Pending>, OutboxError> {
        let mut st = self
            .conn
            .prepare_cached("SELECT seq, class, topic, payload FROM outbox WHERE seq > ?1 ORDER BY seq LIMIT ?2")
            .map_err(self.err())?;
        let rows = st
            .query_map(params![after, limit as i64], |r| {
                let class: String = r.get(1)?;
                Ok(Pending {
                    seq: r.get(0)?,
                    class: EventClass::parse(&class).unwrap_or(EventClass::Health),
                    topic: r.get(2)?,
                    payload: r.get(3)?,
                })
            })
            .map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }

    /// Central has stored every event up to `upto`: deletes them. Returns how many went.
    pub fn ack(&mut self, upto: u64) -> Result<usize, OutboxError> {
        let path = self.path.clone();
        let err = |source| OutboxError::Sqlite { path: path.clone(), source };
        let tx = self.conn.transaction().map_err(err)?;
        let n = tx.execute("DELETE FROM outbox WHERE seq <= ?1", [upto]).map_err(err)?;
        tx.execute("UPDATE meta SET value = MAX(value, ?1) WHERE key = 'acked_seq'", [upto]).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(n)
    }

    /// The highest sequence central has acknowledged.
    pub fn acked_seq(&self) -> Result<u64, OutboxError> {
        self.meta("acked_seq")
    }

    /// The last sequence number allocated (0 before the first event).
    pub fn last_seq(&self) -> Result<u64, OutboxError> {
        Ok(self.meta("next_seq")? - 1)
    }

    fn meta(&self, key: &str) -> Result<u64, OutboxError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(self.err())
            .map(|v| v.unwrap_or(0))
    }

    pub fn status(&self) -> Result<OutboxStatus, OutboxError> {
        let mut depth = BTreeMap::new();
        let mut dropped = BTreeMap::new();
        let mut degraded = false;
        for class in EventClass::ALL {
            let n: u64 = self
                .conn
                .query_row("SELECT COUNT(*) FROM outbox WHERE class = ?1 AND dropped = 0", [class.name()], |r| r.get(0))
                .map_err(self.err())?;
            let cap = self.limits.per_class.get(&class).copied().unwrap_or(u64::MAX);
            if !class.droppable() && n as f64 >= cap as f64 * self.limits.degraded_at {
                degraded = true;
            }
            depth.insert(class, n);
            dropped.insert(class, self.meta(&format!("dropped_{}", class.name()))?);
        }
        Ok(OutboxStatus { depth, dropped, last_seq: self.last_seq()?, acked_seq: self.acked_seq()?, degraded })
    }

    /// SQLite's own consistency check of the file.
    pub fn integrity_check(&self) -> Result<bool, OutboxError> {
        let r: String = self.conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).map_err(self.err())?;
        Ok(r == "ok")
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &Path, limits: Limits) -> Outbox {
        Outbox::open(&dir.join("outbox.db"), limits).unwrap()
    }

    #[test]
    fn sequence_numbers_are_allocated_in_the_commit_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = open(dir.path(), Limits::default());
        for i in 1..=3u64 {
            let a = o.append(EventClass::Access, "t/a", |seq| format!("{{\"seq\":{seq}}}").into_bytes()).unwrap();
            assert_eq!(a, Appended { seq: i, dropped: None });
        }
        drop(o);
        let mut o = open(dir.path(), Limits::default());
        assert_eq!(o.last_seq().unwrap(), 3);
        let p = o.pending(1, 10).unwrap();
        assert_eq!(p.iter().map(|p| p.seq).collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(p[0].payload, b"{\"seq\":2}");
        assert_eq!(o.ack(2).unwrap(), 2);
        // Acks are cumulative and never go back; sequence numbers are never reused.
        assert_eq!(o.ack(1).unwrap(), 0);
        assert_eq!(o.acked_seq().unwrap(), 2);
        assert_eq!(o.append(EventClass::Access, "t/a", |_| vec![]).unwrap().seq, 4);
        assert!(o.integrity_check().unwrap());
    }

    #[test]
    fn health_events_are_dropped_at_their_cap_and_access_events_never() {
        let dir = tempfile::tempdir().unwrap();
        let limits = Limits {
            per_class: BTreeMap::from([(EventClass::Access, 4), (EventClass::Security, 4), (EventClass::Health, 2)]),
            degraded_at: 0.75,
        };
        let mut o = open(dir.path(), limits);
        let mut dropped = Vec::new();
        for _ in 0..4 {
            dropped.extend(o.append(EventClass::Health, "h", |_| vec![]).unwrap().dropped);
        }
        assert_eq!(dropped, vec![1, 2], "oldest first");
        // Dropped events stay in the sequence as markers.
        let p = o.pending(0, 10).unwrap();
        assert_eq!(p.iter().map(|p| p.seq).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
        assert!(String::from_utf8_lossy(&p[0].payload).contains("outbox.dropped"));
        for _ in 0..6 {
            assert_eq!(o.append(EventClass::Access, "a", |_| vec![]).unwrap().dropped, None);
        }
        let s = o.status().unwrap();
        assert_eq!(s.depth[&EventClass::Health], 2);
        assert_eq!(s.depth[&EventClass::Access], 6, "access events are kept past the cap");
        assert_eq!(s.dropped[&EventClass::Health], 2);
        assert_eq!(s.dropped[&EventClass::Access], 0);
        assert!(s.degraded);
        o.ack(10).unwrap();
        assert!(!o.status().unwrap().degraded);
    }
}
