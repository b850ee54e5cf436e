//! Distribution to the edges: versioned batches per compound, claimed per round and broker,
//! published in order until the edge reports the version applied.

use super::*;

/// Appends a batch for `compound` and returns its version. The compound's `edges` row is locked
/// first, so two instances never allocate the same version.
pub fn queue(t: &mut Tx<'_>, compound: &str, mut batch: SyncBatch, now_ms: i64) -> Result<u64, DbError> {
    t.exec("INSERT INTO edges (compound) VALUES ($1) ON CONFLICT (compound) DO NOTHING", params![compound])?;
    t.exec("UPDATE edges SET applied_version = applied_version WHERE compound = $1", params![compound])?;
    let version =
        t.int("SELECT COALESCE(MAX(version), 0) + 1 FROM sync_batches WHERE compound = $1", params![compound])?;
    batch.version = version as u64;
    let body = serde_json::to_string(&batch).expect("a batch serialises");
    t.exec(
        "INSERT INTO sync_batches (compound, version, body, created_ms) VALUES ($1, $2, $3, $4)",
        params![compound, version, body, now_ms],
    )?;
    Ok(version as u64)
}

/// Records the version an edge reports applied, and confirms the erasures it covers.
pub fn applied(t: &mut Tx<'_>, compound: &str, version: u64, now_ms: i64) -> Result<(), DbError> {
    t.exec(
        "UPDATE edges SET applied_version = CASE WHEN applied_version > $2 THEN applied_version ELSE $2 END WHERE compound = $1",
        params![compound, version],
    )?;
    t.exec(
        "UPDATE erasure_targets SET confirmed_ms = $3 WHERE compound = $1 AND version <= $2 AND confirmed_ms IS NULL",
        params![compound, version, now_ms],
    )?;
    Ok(())
}

/// For every online edge that is behind: its compound and the batches it lacks, in order.
pub fn pending(t: &mut Tx<'_>) -> Result<Vec<(String, u64, Vec<String>)>, DbError> {
    let behind = t.query(
        "SELECT e.compound, e.applied_version FROM edges e
         WHERE e.status = 'online' AND EXISTS (SELECT 1 FROM sync_batches s WHERE s.compound = e.compound AND s.version > e.applied_version)",
        params![],
    )?;
    let mut out = Vec::new();
    for r in behind {
        let (compound, applied) = (r.text(0), r.int(1));
        let bodies = t
            .query(
                "SELECT body FROM sync_batches WHERE compound = $1 AND version > $2 ORDER BY version LIMIT 100",
                params![compound.as_str(), applied],
            )?
            .iter()
            .map(|b| b.text(0))
            .collect();
        out.push((compound, applied as u64, bodies));
    }
    Ok(out)
}

/// Claims the sending of `compound`'s sync batches up to `latest` through `broker` (its
/// `host:port`): true for the one instance whose conditional update wins, when that version was
/// not sent there yet or was sent at least `resend_ms` ago. The instances on one broker read
/// the same pending batches and only the claimant sends them, so an edge gets each round once;
/// instances on other brokers claim for their own, where other edges may be connected.
pub fn claim_sync(
    t: &mut Tx<'_>,
    compound: &str,
    broker: &str,
    latest: u64,
    now_ms: i64,
    resend_ms: i64,
) -> Result<bool, DbError> {
    t.exec(
        "INSERT INTO sync_pushes (compound, broker, version, at_ms) VALUES ($1, $2, 0, 0)
         ON CONFLICT (compound, broker) DO NOTHING",
        params![compound, broker],
    )?;
    let n = t.exec(
        "UPDATE sync_pushes SET version = $3, at_ms = $4
         WHERE compound = $1 AND broker = $2 AND (version < $3 OR at_ms <= $5)",
        params![compound, broker, latest as i64, now_ms, now_ms - resend_ms],
    )?;
    Ok(n == 1)
}

/// An edge that says `online` after being away is sent what it lacks at the next round, claimed
/// afresh. Done in the same transaction as its status, and only when the stored status was not
/// already `online`, so that of several instances reading the same status only the first resets.
pub fn returning(t: &mut Tx<'_>, compound: &str) -> Result<(), DbError> {
    t.exec(
        "UPDATE sync_pushes SET version = 0, at_ms = 0
         WHERE compound = $1 AND NOT EXISTS (SELECT 1 FROM edges WHERE compound = $1 AND status = 'online')",
        params![compound],
    )?;
    Ok(())
}

/// Gives up a claim whose batches could not all be handed to the broker: due again at once.
pub fn release_sync(t: &mut Tx<'_>, compound: &str, broker: &str) -> Result<(), DbError> {
    t.exec(
        "UPDATE sync_pushes SET version = 0, at_ms = 0 WHERE compound = $1 AND broker = $2",
        params![compound, broker],
    )?;
    Ok(())
}
