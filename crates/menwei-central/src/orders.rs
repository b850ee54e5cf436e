//! Work orders: "matters handled in the net".
//!
//! An anomaly opens an order in the grid that owns its gate, or joins the open order of the
//! same kind at the same gate (a stranger seen ten times is one matter, not ten). The order is
//! assigned to that grid's staff member whose role fits the kind. States go open →
//! acknowledged → resolved; every step is kept in the history, and an order past its due time
//! is flagged overdue when read. Each change queues a webhook delivery in the same
//! transaction, so a notification is never lost and never sent for a change that rolled back.

use serde::Serialize;

use crate::db::{DbError, Row, Tx};
use crate::params;

/// Deadlines and notification targets, from `[orders]` in the config.
#[derive(Clone, Debug)]
pub struct OrderPolicy {
    /// Time from opening to due.
    pub due_ms: i64,
    /// Webhook URLs notified of every order change.
    pub webhooks: Vec<String>,
}

impl Default for OrderPolicy {
    fn default() -> Self {
        Self { due_ms: 2 * 3_600_000, webhooks: Vec::new() }
    }
}

/// Event kinds that open work orders: the anomalies of `menwei_core::event::EventKind`, and any
/// security kind (an edge newer than this service may send one it does not know yet).
pub fn is_anomaly(kind: &str) -> bool {
    kind.starts_with("security.") || menwei_core::event::EventKind::parse(kind).is_some_and(|k| k.is_anomaly())
}

/// The grid staff role that takes an order of this kind first, then the rest in order.
fn role_preference(kind: &str) -> [&'static str; 5] {
    if kind.starts_with("health.") {
        // Equipment: the department liaison reaches the property company and the vendor.
        ["liaison", "cadre", "building_head", "unit_head", "volunteer"]
    } else {
        ["cadre", "building_head", "unit_head", "liaison", "volunteer"]
    }
}

pub const STAFF_ROLES: [&str; 5] = ["cadre", "liaison", "building_head", "unit_head", "volunteer"];

/// Opens an order for an anomaly, or joins the open one of the same kind at the same gate.
/// Returns the order id.
pub fn open_or_join(
    t: &mut Tx<'_>,
    compound: &str,
    gate: Option<&str>,
    grid: Option<i64>,
    kind: &str,
    now_ms: i64,
    policy: &OrderPolicy,
) -> Result<i64, DbError> {
    let existing = t.one(
        "SELECT id FROM work_orders WHERE compound = $1 AND COALESCE(gate, '') = $2 AND kind = $3 AND state <> 'resolved'
         ORDER BY id DESC LIMIT 1",
        params![compound, gate.unwrap_or(""), kind],
    )?;
    if let Some(row) = existing {
        let id = row.int(0);
        t.exec("UPDATE work_orders SET events = events + 1, last_event_ms = $2 WHERE id = $1", params![id, now_ms])?;
        return Ok(id);
    }
    let mut assignee = None;
    if let Some(g) = grid {
        for role in role_preference(kind) {
            if let Some(r) =
                t.one("SELECT id FROM staff WHERE grid_id = $1 AND role = $2 ORDER BY id LIMIT 1", params![g, role])?
            {
                assignee = Some(r.int(0));
                break;
            }
        }
    }
    let id = t.int(
        "INSERT INTO work_orders (grid_id, compound, gate, kind, state, assignee, opened_ms, due_ms, last_event_ms)
         VALUES ($1, $2, $3, $4, 'open', $5, $6, $7, $6) RETURNING id",
        params![grid, compound, gate, kind, assignee, now_ms, now_ms + policy.due_ms],
    )?;
    history(t, id, now_ms, "system", "opened", None)?;
    notify(t, id, "work_order.opened", now_ms, policy)?;
    Ok(id)
}

fn history(t: &mut Tx<'_>, id: i64, now_ms: i64, actor: &str, action: &str, note: Option<&str>) -> Result<(), DbError> {
    t.exec(
        "INSERT INTO work_order_history (order_id, at_ms, actor, action, note) VALUES ($1, $2, $3, $4, $5)",
        params![id, now_ms, actor, action, note],
    )?;
    Ok(())
}

/// Queues one delivery per webhook URL (sent by [`crate::webhook`]).
fn notify(t: &mut Tx<'_>, id: i64, what: &str, now_ms: i64, policy: &OrderPolicy) -> Result<(), DbError> {
    if policy.webhooks.is_empty() {
        return Ok(());
    }
    let order = get(t, id, now_ms)?;
    let body =
        serde_json::json!({ "type": what, "at": menwei_core::event::rfc3339_ms(now_ms), "order": order }).to_string();
    for url in &policy.webhooks {
        t.exec(
            "INSERT INTO webhook_deliveries (url, body, next_ms) VALUES ($1, $2, $3)",
            params![url.as_str(), body.as_str(), now_ms],
        )?;
    }
    Ok(())
}

#[derive(Clone, Debug, Serialize)]
pub struct Assignee {
    pub id: i64,
    pub name: String,
    pub role: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Order {
    pub id: i64,
    pub grid_id: Option<i64>,
    pub grid: Option<String>,
    pub compound: String,
    pub gate: Option<String>,
    pub kind: String,
    pub state: String,
    pub assignee: Option<Assignee>,
    pub opened_ms: i64,
    pub due_ms: i64,
    pub last_event_ms: i64,
    pub events: i64,
    pub overdue: bool,
}

const SELECT: &str = "SELECT o.id, o.grid_id, g.name, o.compound, o.gate, o.kind, o.state, s.id, s.name, s.role,
        o.opened_ms, o.due_ms, o.last_event_ms, o.events
    FROM work_orders o LEFT JOIN grids g ON g.id = o.grid_id LEFT JOIN staff s ON s.id = o.assignee";

fn from_row(r: &Row, now_ms: i64) -> Order {
    let state = r.text(6);
    Order {
        id: r.int(0),
        grid_id: r.opt_int(1),
        grid: r.opt_text(2),
        compound: r.text(3),
        gate: r.opt_text(4),
        kind: r.text(5),
        assignee: r.opt_int(7).map(|id| Assignee { id, name: r.text(8), role: r.text(9) }),
        opened_ms: r.int(10),
        due_ms: r.int(11),
        last_event_ms: r.int(12),
        events: r.int(13),
        overdue: state != "resolved" && now_ms > r.int(11),
        state,
    }
}

/// One order.
pub fn get(t: &mut Tx<'_>, id: i64, now_ms: i64) -> Result<Option<Order>, DbError> {
    Ok(t.one(&format!("{SELECT} WHERE o.id = $1"), params![id])?.map(|r| from_row(&r, now_ms)))
}

/// Orders, newest first, filtered by state and by a grid clause (see [`crate::auth::Scope`]).
pub fn list(t: &mut Tx<'_>, state: Option<&str>, grid_clause: &str, now_ms: i64) -> Result<Vec<Order>, DbError> {
    let sql = format!("{SELECT} WHERE ($1 = '' OR o.state = $1) AND {grid_clause} ORDER BY o.id DESC LIMIT 500");
    Ok(t.query(&sql, params![state.unwrap_or("")])?.iter().map(|r| from_row(r, now_ms)).collect())
}

#[derive(Clone, Debug, Serialize)]
pub struct Step {
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub note: Option<String>,
}

pub fn history_of(t: &mut Tx<'_>, id: i64) -> Result<Vec<Step>, DbError> {
    Ok(t.query(
        "SELECT at_ms, actor, action, note FROM work_order_history WHERE order_id = $1 ORDER BY id",
        params![id],
    )?
    .iter()
    .map(|r| Step { at_ms: r.int(0), actor: r.text(1), action: r.text(2), note: r.opt_text(3) })
    .collect())
}

/// Why a transition was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    NotFound,
    /// The order is in a state the action does not apply to.
    State(String),
}

/// `acknowledge` (open → acknowledged) or `resolve` (open or acknowledged → resolved).
pub fn transition(
    t: &mut Tx<'_>,
    id: i64,
    action: &str,
    actor: &str,
    note: Option<&str>,
    now_ms: i64,
    policy: &OrderPolicy,
) -> Result<Result<Order, Refused>, DbError> {
    let Some(order) = get(t, id, now_ms)? else { return Ok(Err(Refused::NotFound)) };
    let to = match (action, order.state.as_str()) {
        ("acknowledge", "open") => "acknowledged",
        ("resolve", "open" | "acknowledged") => "resolved",
        _ => return Ok(Err(Refused::State(order.state))),
    };
    t.exec("UPDATE work_orders SET state = $2 WHERE id = $1", params![id, to])?;
    history(t, id, now_ms, actor, if to == "resolved" { "resolved" } else { "acknowledged" }, note)?;
    notify(t, id, &format!("work_order.{to}"), now_ms, policy)?;
    Ok(get(t, id, now_ms)?.ok_or(Refused::NotFound))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anomalies_are_security_events_and_camera_faults() {
        assert!(is_anomaly("security.repeat_stranger"));
        assert!(is_anomaly("health.camera_tampered"));
        assert!(!is_anomaly("health.camera_online"));
        assert!(!is_anomaly("health.camera_format_changed") && is_anomaly("health.camera_stalled"));
        assert!(!is_anomaly("access.denied"));
    }

    #[test]
    fn orders_open_join_and_move_through_their_states_with_history() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::Db::open_sqlite(&dir.path().join("c.db")).unwrap();
        let p = OrderPolicy { due_ms: 1000, webhooks: vec!["http://127.0.0.1:9/hook".into()] };
        db.tx(|t| {
            let a = open_or_join(t, "c-1", Some("north"), None, "security.repeat_stranger", 0, &p)?;
            let b = open_or_join(t, "c-1", Some("north"), None, "security.repeat_stranger", 10, &p)?;
            let c = open_or_join(t, "c-1", Some("south"), None, "security.repeat_stranger", 20, &p)?;
            assert_eq!(a, b);
            assert_ne!(a, c);
            let o = get(t, a, 2000)?.unwrap();
            assert_eq!((o.events, o.overdue, o.state.as_str()), (2, true, "open"));
            assert_eq!(transition(t, a, "resolve", "x", None, 0, &p)?.unwrap().state, "resolved");
            assert_eq!(
                transition(t, a, "acknowledge", "x", None, 0, &p)?.unwrap_err(),
                Refused::State("resolved".into())
            );
            // A resolved order is not joined: the next sighting opens a new one.
            let d = open_or_join(t, "c-1", Some("north"), None, "security.repeat_stranger", 30, &p)?;
            assert_ne!(d, a);
            assert_eq!(history_of(t, a)?.iter().map(|s| s.action.as_str()).collect::<Vec<_>>(), ["opened", "resolved"]);
            assert_eq!(t.int("SELECT COUNT(*) FROM webhook_deliveries", params![])?, 4);
            Ok::<_, DbError>(())
        })
        .unwrap();
    }
}
