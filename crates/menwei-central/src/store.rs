//! Event ingestion into the database: each event stored exactly once per `(compound, seq)`,
//! with its effects (the work order it opens or joins, the webhook it queues) and the
//! compound's highest contiguous sequence in the same transaction, so the cumulative ack
//! central publishes always means "stored, with its consequences, up to here".
//!
//! Per-compound serialisation: the transaction first touches the compound's `edges` row, which
//! locks it on PostgreSQL (two instances ingesting one compound's events take turns) and is
//! already serialised on SQLite by `BEGIN IMMEDIATE`.

use thiserror::Error;

use crate::db::{Db, DbError, Tx};
use crate::orders::OrderPolicy;
use crate::params;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("event from {compound}: {reason}")]
    Event { compound: String, reason: String },
}

/// What storing an event did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    /// False when `(compound, seq)` was already stored: counted, not applied again.
    pub new: bool,
    /// The compound's highest sequence up to which every event is stored.
    pub contiguous: u64,
    /// Whether `contiguous` moved (an ack is due).
    pub advanced: bool,
    /// The highest sequence seen from this compound.
    pub highest: u64,
    /// The row id of the stored event (0 for a duplicate).
    pub id: i64,
    /// Why the event was stored as `invalid` (its sequence number kept, so the compound's
    /// sequence has no gap and the edge is not asked to resend it for ever).
    pub invalid: Option<String>,
    /// The gate or camera the event names that the compound's structure does not have: the
    /// event is stored all the same, marked, and warned of once per compound and name.
    pub unknown_source: Option<String>,
}

/// The longest gate or camera name kept in a column or a warning; the payload keeps it whole.
pub const MAX_NAME: usize = 64;

/// `s` cut to [`MAX_NAME`] characters, with `…` when it was longer.
pub fn bounded(s: &str) -> String {
    if s.chars().count() <= MAX_NAME { s.to_owned() } else { s.chars().take(MAX_NAME).chain(['…']).collect() }
}

/// Who an access event was about, for the entries-per-hour chart.
pub fn entry_kind(kind: &str, reason: Option<&str>) -> Option<&'static str> {
    if !kind.starts_with("access.") {
        return None;
    }
    Some(match reason.unwrap_or("") {
        "resident_face" | "registered_vehicle" | "blocked_person" => "resident",
        "visitor_pass" | "expired_pass" | "pass_not_yet_valid" => "visitor",
        _ => "unknown",
    })
}

/// Stores one event payload from `compound` (taken from the topic, never from the payload).
pub fn ingest(
    t: &mut Tx<'_>,
    compound: &str,
    payload: &[u8],
    now_ms: i64,
    policy: &OrderPolicy,
) -> Result<Stored, StoreError> {
    let bad = |reason: String| StoreError::Event { compound: compound.to_owned(), reason };
    let v: serde_json::Value = serde_json::from_slice(payload).map_err(|e| bad(format!("not JSON: {e}")))?;
    let seq =
        v["seq"].as_u64().filter(|s| *s > 0 && *s < i64::MAX as u64).ok_or_else(|| bad("no positive `seq`".into()))?;
    let (kind, class, invalid) = match v["kind"].as_str().filter(|k| !k.is_empty() && k.contains('.')) {
        Some(k) => (k, v["class"].as_str().unwrap_or(""), None),
        None => ("invalid", "invalid", Some("no `kind` of the form class.what".to_owned())),
    };
    let gate = v["gate"].as_str().map(bounded);
    let gate = gate.as_deref();
    let camera = v["camera"].as_str();
    let reason = v["reason"].as_str();

    t.exec("INSERT INTO edges (compound) VALUES ($1) ON CONFLICT (compound) DO NOTHING", params![compound])?;
    // Lock the compound's row first: per-compound ingestion is serial across instances.
    let edge = t
        .one(
            "UPDATE edges SET highest_seq = highest_seq WHERE compound = $1 RETURNING contiguous_seq, highest_seq",
            params![compound],
        )?
        .ok_or_else(|| bad("edge row vanished".into()))?;
    let (before, highest) = (edge.int(0) as u64, edge.int(1) as u64);

    let grid: Option<i64> = match gate {
        Some(g) => t
            .one(
                "SELECT g.grid_id FROM gates g JOIN compounds c ON c.id = g.compound_id WHERE c.code = $1 AND g.name = $2",
                params![compound, g],
            )?
            .map(|r| r.int(0)),
        None => None,
    };
    let unknown_source = unknown_source(t, compound, gate, grid, camera)?;
    let inserted = t.one(
        "INSERT INTO events (compound, seq, event_id, kind, class, gate, grid_id, entry_kind, occurred_at, payload, received_ms,
             resident_ref, unknown_source)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (compound, seq) DO NOTHING RETURNING id",
        params![
            compound,
            seq,
            v["event_id"].as_str().unwrap_or(""),
            kind,
            class,
            gate,
            grid,
            entry_kind(kind, reason),
            v["occurred_at"].as_str(),
            String::from_utf8_lossy(payload).into_owned(),
            now_ms,
            v["subject"]["resident_ref"].as_str(),
            unknown_source.as_deref()
        ],
    )?;
    let id = inserted.as_ref().map_or(0, |r| r.int(0));
    if let (Some(what), true) = (&unknown_source, inserted.is_some()) {
        t.exec(
            "INSERT INTO edge_warnings (compound, what, first_ms, last_ms) VALUES ($1, $2, $3, $3)
             ON CONFLICT (compound, what) DO UPDATE SET last_ms = excluded.last_ms, events = edge_warnings.events + 1",
            params![compound, what.as_str(), now_ms],
        )?;
    }
    if inserted.is_none() {
        t.exec("UPDATE edges SET duplicates = duplicates + 1 WHERE compound = $1", params![compound])?;
    } else if crate::orders::is_anomaly(kind) {
        let order = crate::orders::open_or_join(t, compound, gate, grid, kind, now_ms, policy)?;
        t.exec("UPDATE events SET order_id = $1 WHERE id = $2", params![order, id])?;
    }
    let highest = highest.max(seq);
    let mut contiguous = before;
    while t.one("SELECT 1 FROM events WHERE compound = $1 AND seq = $2", params![compound, contiguous + 1])?.is_some() {
        contiguous += 1;
    }
    t.exec(
        "UPDATE edges SET contiguous_seq = $2, highest_seq = $3 WHERE compound = $1",
        params![compound, contiguous, highest],
    )?;
    Ok(Stored {
        new: inserted.is_some(),
        contiguous,
        advanced: contiguous > before,
        highest,
        id,
        invalid,
        unknown_source: unknown_source.filter(|_| inserted.is_some()),
    })
}

/// What an event names that the compound's structure does not have: its gate (`grid` is the
/// gate's grid, `None` when the lookup found no such gate), or its camera (at that gate when the
/// event names one). `None` when both are known or not named. What the structure does not
/// describe is not judged: a compound without structure (it may be a test compound, and its
/// events carry no grid either way), or cameras where the structure lists none (at the gate,
/// or in the whole compound when the event names no gate).
fn unknown_source(
    t: &mut Tx<'_>,
    compound: &str,
    gate: Option<&str>,
    grid: Option<i64>,
    camera: Option<&str>,
) -> Result<Option<String>, DbError> {
    if t.one("SELECT 1 FROM compounds WHERE code = $1", params![compound])?.is_none() {
        return Ok(None);
    }
    if let (Some(g), None) = (gate, grid) {
        return Ok(Some(format!("gate `{g}` is not in the structure")));
    }
    let Some(camera) = camera else { return Ok(None) };
    let listed =
        "SELECT m.name FROM cameras m JOIN gates g ON g.id = m.gate_id JOIN compounds c ON c.id = g.compound_id
                  WHERE c.code = $1";
    let names = match gate {
        Some(g) => t.query(&format!("{listed} AND g.name = $2"), params![compound, g])?,
        None => t.query(listed, params![compound])?,
    };
    if names.is_empty() {
        return Ok(None);
    }
    let known = names.iter().any(|r| r.text(0) == camera);
    Ok((!known).then(|| match gate {
        Some(g) => format!("camera `{}` is not at gate `{g}` in the structure", bounded(camera)),
        None => format!("camera `{}` is not in the structure", bounded(camera)),
    }))
}

/// Records an edge's retained status (`online` / `offline`) or heartbeat.
pub fn edge_seen(
    t: &mut Tx<'_>,
    compound: &str,
    status: Option<&str>,
    heartbeat: Option<&str>,
    now_ms: i64,
) -> Result<(), DbError> {
    t.exec(
        "INSERT INTO edges (compound, status, heartbeat, last_seen_ms) VALUES ($1, $2, $3, $4)
         ON CONFLICT (compound) DO UPDATE SET status = COALESCE(excluded.status, edges.status),
             heartbeat = COALESCE(excluded.heartbeat, edges.heartbeat), last_seen_ms = excluded.last_seen_ms",
        params![compound, status, heartbeat, now_ms],
    )?;
    if let Some(version) = heartbeat
        .and_then(|h| serde_json::from_str::<serde_json::Value>(h).ok())
        .and_then(|h| h["register_version"].as_u64())
    {
        crate::register::applied(t, compound, version, now_ms)?;
    }
    Ok(())
}

/// Events stored and duplicates counted for a compound.
pub fn counts(db: &Db, compound: &str) -> Result<(u64, u64), DbError> {
    db.with(|t| {
        let events = t.int("SELECT COUNT(*) FROM events WHERE compound = $1", params![compound])?;
        let dups = t.int("SELECT COALESCE(MAX(duplicates), 0) FROM edges WHERE compound = $1", params![compound])?;
        Ok((events as u64, dups as u64))
    })
}

/// The compound's highest sequence up to which every event is stored.
pub fn contiguous(t: &mut Tx<'_>, compound: &str) -> Result<u64, DbError> {
    Ok(t.int("SELECT contiguous_seq FROM edges WHERE compound = $1", params![compound])? as u64)
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
        let db = Db::open_sqlite(&dir.path().join("central.db")).unwrap();
        let p = OrderPolicy::default();
        let put = |c: &str, body: &[u8]| db.tx(|t| ingest(t, c, body, 0, &p));
        let a = put("c-1", &ev(1)).unwrap();
        assert_eq!((a.new, a.contiguous, a.advanced, a.highest), (true, 1, true, 1));
        let gap = put("c-1", &ev(3)).unwrap();
        assert_eq!((gap.contiguous, gap.advanced, gap.highest), (1, false, 3));
        let dup = put("c-1", &ev(1)).unwrap();
        assert!(!dup.new);
        let fill = put("c-1", &ev(2)).unwrap();
        assert_eq!((fill.contiguous, fill.advanced), (3, true));
        assert_eq!(counts(&db, "c-1").unwrap(), (3, 1));
        // Another compound has its own sequence.
        assert_eq!(put("c-2", &ev(1)).unwrap().contiguous, 1);
        assert!(matches!(put("c-1", b"nope"), Err(StoreError::Event { .. })));
        // A sequenced event that is malformed otherwise keeps its place: no gap.
        let odd = put("c-1", b"{\"seq\":4,\"kind\":\"\"}").unwrap();
        assert_eq!((odd.contiguous, odd.invalid.is_some()), (4, true));
        drop(db);
        // Reopening migrates nothing twice and keeps the counts.
        let db = Db::open_sqlite(&dir.path().join("central.db")).unwrap();
        assert_eq!(counts(&db, "c-1").unwrap(), (4, 1));
    }

    #[test]
    fn access_events_are_classed_by_who_came_in() {
        assert_eq!(entry_kind("access.granted", Some("resident_face")), Some("resident"));
        assert_eq!(entry_kind("access.granted", Some("visitor_pass")), Some("visitor"));
        assert_eq!(entry_kind("access.denied", Some("unknown_vehicle")), Some("unknown"));
        assert_eq!(entry_kind("security.repeat_stranger", None), None);
    }
}
