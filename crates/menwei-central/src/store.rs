//! Event storage: each event stored exactly once per `(compound, seq)`, with the highest
//! contiguous sequence per compound kept in the same transaction, so the cumulative ack central
//! publishes always means "stored, durably, everything up to here".
//!
//! SQLite today (WAL). The schema is plain SQL that PostgreSQL also accepts; the PostgreSQL
//! store is not written yet (see the closing note).

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database {path}: {source}")]
    Sqlite { path: PathBuf, source: rusqlite::Error },
    #[error("event from {compound}: {reason}")]
    Event { compound: String, reason: String },
}

/// What storing an event did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stored {
    /// False when `(compound, seq)` was already stored: counted, not applied again.
    pub new: bool,
    /// The compound's highest sequence up to which every event is stored.
    pub contiguous: u64,
    /// Whether `contiguous` moved (an ack is due).
    pub advanced: bool,
    /// The highest sequence seen from this compound.
    pub highest: u64,
}

#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

const MIGRATIONS: &[&str] = &["
CREATE TABLE events (
    compound    TEXT    NOT NULL,
    seq         BIGINT  NOT NULL,
    event_id    TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    class       TEXT    NOT NULL,
    occurred_at TEXT,
    payload     TEXT    NOT NULL,
    received_ms BIGINT  NOT NULL,
    UNIQUE (compound, seq)
);
CREATE INDEX events_kind ON events (compound, kind);
CREATE TABLE edges (
    compound         TEXT PRIMARY KEY,
    contiguous_seq   BIGINT NOT NULL DEFAULT 0,
    highest_seq      BIGINT NOT NULL DEFAULT 0,
    duplicates       BIGINT NOT NULL DEFAULT 0,
    status           TEXT,
    heartbeat        TEXT,
    last_seen_ms     BIGINT
);
"];

impl Store {
    /// Opens (creating and migrating) the SQLite database at `path`.
    pub fn open_sqlite(path: &Path) -> Result<Self, StoreError> {
        let err = |source| StoreError::Sqlite { path: path.to_owned(), source };
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let mut conn = Connection::open(path).map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(err)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(err)?;
        // Instances starting together migrate one after the other: the version is read and
        // the migrations applied inside one write transaction.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(err)?;
        tx.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)").map_err(err)?;
        let current: i64 =
            tx.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_version", [], |r| r.get(0)).map_err(err)?;
        for (i, m) in MIGRATIONS.iter().enumerate().skip(current as usize) {
            tx.execute_batch(m).map_err(err)?;
            tx.execute("INSERT INTO schema_version (version) VALUES (?1)", [i as i64 + 1]).map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(Self { conn, path: path.to_owned() })
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        |source| StoreError::Sqlite { path: self.path.clone(), source }
    }

    /// Stores one event payload from `compound` (taken from the topic, not the payload).
    pub fn ingest(&mut self, compound: &str, payload: &[u8], now_ms: i64) -> Result<Stored, StoreError> {
        let bad = |reason: String| StoreError::Event { compound: compound.to_owned(), reason };
        let v: serde_json::Value = serde_json::from_slice(payload).map_err(|e| bad(format!("not JSON: {e}")))?;
        let seq = v["seq"].as_u64().filter(|s| *s > 0).ok_or_else(|| bad("no positive `seq`".into()))?;
        let text = |k: &str| v[k].as_str().unwrap_or("").to_owned();
        let path = self.path.clone();
        let err = |source| StoreError::Sqlite { path: path.clone(), source };
        let tx = self.conn.transaction().map_err(err)?;
        tx.execute("INSERT OR IGNORE INTO edges (compound) VALUES (?1)", [compound]).map_err(err)?;
        let inserted = tx
            .execute(
                "INSERT INTO events (compound, seq, event_id, kind, class, occurred_at, payload, received_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (compound, seq) DO NOTHING",
                params![
                    compound,
                    seq,
                    text("event_id"),
                    text("kind"),
                    text("class"),
                    v["occurred_at"].as_str(),
                    String::from_utf8_lossy(payload),
                    now_ms
                ],
            )
            .map_err(err)?;
        if inserted == 0 {
            tx.execute("UPDATE edges SET duplicates = duplicates + 1 WHERE compound = ?1", [compound]).map_err(err)?;
        }
        let (before, highest): (u64, u64) = tx
            .query_row("SELECT contiguous_seq, highest_seq FROM edges WHERE compound = ?1", [compound], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(err)?;
        let highest = highest.max(seq);
        let mut contiguous = before;
        loop {
            let next: Option<i64> = tx
                .query_row(
                    "SELECT 1 FROM events WHERE compound = ?1 AND seq = ?2",
                    params![compound, contiguous + 1],
                    |r| r.get(0),
                )
                .optional()
                .map_err(err)?;
            if next.is_none() {
                break;
            }
            contiguous += 1;
        }
        tx.execute(
            "UPDATE edges SET contiguous_seq = ?2, highest_seq = ?3 WHERE compound = ?1",
            params![compound, contiguous, highest],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(Stored { new: inserted > 0, contiguous, advanced: contiguous > before, highest })
    }

    /// Records an edge's retained status (`online` / `offline`) or heartbeat.
    pub fn edge_seen(
        &self,
        compound: &str,
        status: Option<&str>,
        heartbeat: Option<&str>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO edges (compound, status, heartbeat, last_seen_ms) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (compound) DO UPDATE SET status = COALESCE(?2, edges.status),
                     heartbeat = COALESCE(?3, edges.heartbeat), last_seen_ms = ?4",
                params![compound, status, heartbeat, now_ms],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// Events stored and duplicates counted for a compound.
    pub fn counts(&self, compound: &str) -> Result<(u64, u64), StoreError> {
        let events: u64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM events WHERE compound = ?1", [compound], |r| r.get(0))
            .map_err(self.err())?;
        let dups: u64 = self
            .conn
            .query_row("SELECT COALESCE(MAX(duplicates), 0) FROM edges WHERE compound = ?1", [compound], |r| r.get(0))
            .map_err(self.err())?;
        Ok((events, dups))
    }

    /// The compound's highest sequence up to which every event is stored.
    pub fn contiguous(&self, compound: &str) -> Result<u64, StoreError> {
        self.conn
            .query_row("SELECT contiguous_seq FROM edges WHERE compound = ?1", [compound], |r| r.get(0))
            .optional()
            .map_err(self.err())
            .map(|v| v.unwrap_or(0))
    }

    /// An edge's status word, if it reported one.
    pub fn edge_status(&self, compound: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row("SELECT status FROM edges WHERE compound = ?1", [compound], |r| r.get(0))
            .optional()
            .map_err(self.err())
            .map(Option::flatten)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(seq: u64) -> Vec<u8> {
        format!(
            "{{\"schema\":1,\"seq\":{seq},\"event_id\":\"e{seq}\",\"kind\":\"access.granted\",\"class\":\"access\"}}"
        )
        .into_bytes()
    }

    #[test]
    fn events_are_stored_once_and_the_contiguous_sequence_advances_over_gaps() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open_sqlite(&dir.path().join("central.db")).unwrap();
        let a = s.ingest("c-1", &ev(1), 0).unwrap();
        assert_eq!(a, Stored { new: true, contiguous: 1, advanced: true, highest: 1 });
        let gap = s.ingest("c-1", &ev(3), 0).unwrap();
        assert_eq!((gap.contiguous, gap.advanced, gap.highest), (1, false, 3));
        let dup = s.ingest("c-1", &ev(1), 0).unwrap();
        assert!(!dup.new);
        let fill = s.ingest("c-1", &ev(2), 0).unwrap();
        assert_eq!((fill.contiguous, fill.advanced), (3, true));
        assert_eq!(s.counts("c-1").unwrap(), (3, 1));
        // Another compound has its own sequence.
        assert_eq!(s.ingest("c-2", &ev(1), 0).unwrap().contiguous, 1);
        assert!(matches!(s.ingest("c-1", b"nope", 0), Err(StoreError::Event { .. })));
        drop(s);
        // Reopening migrates nothing twice and keeps the counts.
        let s = Store::open_sqlite(&dir.path().join("central.db")).unwrap();
        assert_eq!(s.counts("c-1").unwrap(), (3, 1));
    }
}
