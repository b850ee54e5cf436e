//! Read models for the dashboard: the community map, the event feed, edge health and the
//! charts. Each takes the caller's [`Scope`] and returns JSON shaped for the page.

use serde_json::{Value, json};

use crate::auth::Scope;
use crate::db::{DbError, Tx};
use crate::params;

/// An edge that has sent nothing for this long is shown offline even if its last will was lost.
pub const STALE_MS: i64 = 90_000;

/// An edge's status as shown: its retained word, except that an `online` edge silent for
/// [`STALE_MS`] is shown offline.
fn shown_status(status: String, last_seen_ms: Option<i64>, now_ms: i64) -> String {
    let stale = last_seen_ms.is_none_or(|seen| now_ms - seen > STALE_MS);
    if status == "online" && stale { "offline".to_owned() } else { status }
}

/// Districts → communities → grids (with open and overdue orders) and compounds (with map
/// rectangles, gates, buildings and their edge's state).
pub fn overview(t: &mut Tx<'_>, scope: &Scope, now_ms: i64) -> Result<Value, DbError> {
    let compound_clause = scope.compound_clause("c.id");
    let compounds = t.query(
        &format!(
            "SELECT c.id, c.code, c.name, p.name, c.x, c.y, c.w, c.h, c.community_id, e.status, e.last_seen_ms,
                 e.applied_version, (SELECT COALESCE(MAX(version), 0) FROM sync_batches s WHERE s.compound = c.code)
             FROM compounds c LEFT JOIN property_companies p ON p.id = c.property_company_id
             LEFT JOIN edges e ON e.compound = c.code WHERE {compound_clause} ORDER BY c.code"
        ),
        params![],
    )?;
    let grid_clause = scope.grid_clause("g.id");
    let order_counts = t.query(
        "SELECT grid_id, COUNT(*), CAST(SUM(CASE WHEN due_ms < $1 THEN 1 ELSE 0 END) AS BIGINT)
         FROM work_orders WHERE state <> 'resolved' AND grid_id IS NOT NULL GROUP BY grid_id",
        params![now_ms],
    )?;
    let counts = |grid: i64| order_counts.iter().find(|r| r.int(0) == grid).map_or((0, 0), |r| (r.int(1), r.int(2)));
    let mut districts = Vec::new();
    for d in t.query("SELECT id, name FROM districts ORDER BY id", params![])? {
        let mut communities = Vec::new();
        for c in t.query("SELECT id, name FROM communities WHERE district_id = $1 ORDER BY id", params![d.int(0)])? {
            let cid = c.int(0);
            let mine: Vec<_> = compounds.iter().filter(|k| k.int(8) == cid).collect();
            let grids: Vec<Value> = t
                .query(
                    &format!(
                        "SELECT g.id, g.name FROM grids g WHERE g.community_id = $1 AND {grid_clause} ORDER BY g.id"
                    ),
                    params![cid],
                )?
                .iter()
                .map(|g| {
                    let (open, overdue) = counts(g.int(0));
                    json!({"id": g.int(0), "name": g.text(1), "open_orders": open, "overdue_orders": overdue})
                })
                .collect();
            if mine.is_empty() && grids.is_empty() {
                continue;
            }
            let mut out = Vec::new();
            for k in mine {
                let kid = k.int(0);
                let gates: Vec<Value> = t
                    .query("SELECT id, name, grid_id, x, y FROM gates WHERE compound_id = $1 ORDER BY id", params![kid])?
                    .iter()
                    .map(|g| json!({"id": g.int(0), "name": g.text(1), "grid_id": g.int(2), "x": g.real(3), "y": g.real(4)}))
                    .collect();
                let buildings: Vec<Value> = t
                    .query(
                        "SELECT id, name, grid_id, x, y, w, h FROM buildings WHERE compound_id = $1 ORDER BY id",
                        params![kid],
                    )?
                    .iter()
                    .map(|b| {
                        json!({"id": b.int(0), "name": b.text(1), "grid_id": b.int(2), "x": b.real(3), "y": b.real(4),
                               "w": b.real(5), "h": b.real(6)})
                    })
                    .collect();
                let status = k.opt_text(9).map(|s| shown_status(s, k.opt_int(10), now_ms));
                out.push(json!({
                    "id": kid, "code": k.text(1), "name": k.text(2), "property_company": k.opt_text(3),
                    "x": k.real(4), "y": k.real(5), "w": k.real(6), "h": k.real(7),
                    "edge": {"status": status, "last_seen_ms": k.opt_int(10), "behind": k.int(11) < k.int(12)},
                    "gates": gates, "buildings": buildings,
                }));
            }
            communities.push(json!({"id": cid, "name": c.text(1), "grids": grids, "compounds": out}));
        }
        if !communities.is_empty() {
            districts.push(json!({"id": d.int(0), "name": d.text(1), "communities": communities}));
        }
    }
    Ok(json!({ "districts": districts }))
}

/// Events in scope: newest first, or (for the stream) oldest first after `after`.
pub fn events(t: &mut Tx<'_>, scope: &Scope, after: i64, limit: i64, ascending: bool) -> Result<Vec<Value>, DbError> {
    let order = if ascending { "ASC" } else { "DESC" };
    let sql = format!(
        "SELECT e.id, e.compound, e.seq, e.kind, e.class, e.gate, e.grid_id, e.entry_kind, e.occurred_at, e.received_ms,
             e.order_id, e.payload, e.unknown_source
         FROM events e LEFT JOIN compounds c ON c.code = e.compound
         WHERE e.id > $1 AND {} ORDER BY e.id {order} LIMIT $2",
        scope.clause("e.grid_id", "c.id")
    );
    Ok(t.query(&sql, params![after, limit])?
        .iter()
        .map(|r| {
            let p: Value = serde_json::from_str(&r.text(11)).unwrap_or(Value::Null);
            json!({
                "id": r.int(0), "compound": r.text(1), "seq": r.int(2), "kind": r.text(3), "class": r.text(4),
                "gate": r.opt_text(5), "grid_id": r.opt_int(6), "entry_kind": r.opt_text(7),
                "occurred_at": r.opt_text(8), "received_ms": r.int(9), "order_id": r.opt_int(10),
                "camera": p["camera"].as_str().map(crate::store::bounded), "direction": p["direction"], "decision": p["decision"], "reason": p["reason"],
                "subject": p["subject"], "unknown_source": r.opt_text(12),
            })
        })
        .collect())
}

/// Every edge in scope: status, freshness, cameras and outbox from its heartbeat, and the
/// register version it applied against the newest.
pub fn edges(t: &mut Tx<'_>, scope: &Scope, now_ms: i64) -> Result<Vec<Value>, DbError> {
    let sql = format!(
        "SELECT e.compound, c.name, e.status, e.last_seen_ms, e.heartbeat, e.applied_version,
             (SELECT COALESCE(MAX(version), 0) FROM sync_batches s WHERE s.compound = e.compound),
             e.duplicates, e.contiguous_seq, e.highest_seq
         FROM edges e LEFT JOIN compounds c ON c.code = e.compound WHERE {} ORDER BY e.compound",
        scope.compound_clause("c.id")
    );
    let warnings = t.query(
        "SELECT compound, what, first_ms, last_ms, events FROM edge_warnings ORDER BY compound, first_ms",
        params![],
    )?;
    Ok(t.query(&sql, params![])?
        .iter()
        .map(|r| {
            // What its events named that the structure does not have, once per name.
            let warned: Vec<Value> = warnings
                .iter()
                .filter(|w| w.text(0) == r.text(0))
                .map(|w| json!({"what": w.text(1), "first_ms": w.int(2), "last_ms": w.int(3), "events": w.int(4)}))
                .collect();
            let hb: Value = r.opt_text(4).and_then(|h| serde_json::from_str(&h).ok()).unwrap_or(Value::Null);
            let depth: i64 =
                hb["outbox"]["depth"].as_object().map_or(0, |m| m.values().filter_map(Value::as_i64).sum());
            let status = r.opt_text(2).map_or_else(|| "unknown".to_owned(), |s| shown_status(s, r.opt_int(3), now_ms));
            json!({
                "compound": r.text(0), "name": r.opt_text(1), "status": status, "last_seen_ms": r.opt_int(3),
                "cameras": hb["cameras"], "outbox_depth": depth, "outbox_degraded": hb["outbox"]["degraded"],
                "register_version": r.int(5), "latest_version": r.int(6), "behind": r.int(5) < r.int(6),
                "duplicates": r.int(7), "contiguous_seq": r.int(8), "highest_seq": r.int(9),
                "warnings": warned,
            })
        })
        .collect())
}

/// Access events per hour over the last `hours`, by who came: resident, visitor, unknown.
pub fn entries_per_hour(t: &mut Tx<'_>, scope: &Scope, hours: i64, now_ms: i64) -> Result<Vec<Value>, DbError> {
    let hour = 3_600_000;
    let first = (now_ms / hour - hours + 1) * hour;
    let sql = format!(
        "SELECT (e.received_ms / {hour}) * {hour}, e.entry_kind, COUNT(*) FROM events e
         LEFT JOIN compounds c ON c.code = e.compound
         WHERE e.received_ms >= $1 AND e.entry_kind IS NOT NULL AND {}
         GROUP BY (e.received_ms / {hour}) * {hour}, e.entry_kind",
        scope.clause("e.grid_id", "c.id")
    );
    let rows = t.query(&sql, params![first])?;
    Ok((0..hours)
        .map(|i| {
            let at = first + i * hour;
            let n = |k: &str| rows.iter().filter(|r| r.int(0) == at && r.text(1) == k).map(|r| r.int(2)).sum::<i64>();
            json!({"hour_ms": at, "resident": n("resident"), "visitor": n("visitor"), "unknown": n("unknown")})
        })
        .collect())
}

/// Anomalies (events that opened or joined work orders) per grid.
pub fn anomalies_per_grid(t: &mut Tx<'_>, scope: &Scope) -> Result<Vec<Value>, DbError> {
    // A property operator counts only their own compounds' anomalies in a shared grid.
    let own = match &scope.compounds {
        Some(k) if !k.is_empty() => format!(
            "AND e.compound IN (SELECT code FROM compounds WHERE id IN ({}))",
            k.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
        ),
        Some(_) => "AND 1 = 0".to_owned(),
        None => String::new(),
    };
    let sql = format!(
        "SELECT g.id, g.name, COUNT(e.id) FROM grids g
         LEFT JOIN events e ON e.grid_id = g.id AND e.order_id IS NOT NULL {own}
         WHERE {} GROUP BY g.id, g.name ORDER BY g.id",
        scope.grid_clause("g.id")
    );
    Ok(t.query(&sql, params![])?
        .iter()
        .map(|r| json!({"grid_id": r.int(0), "grid": r.text(1), "count": r.int(2)}))
        .collect())
}
