//! Work orders: lists in scope, one order with its history, acknowledge and resolve.

use super::*;
use crate::orders;

pub(super) async fn list_orders(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    q: axum::extract::RawQuery,
) -> ApiResult {
    scoped_list(&app, &headers, q.0.as_deref(), "orders", "orders", |t, s, q| {
        let clause = format!(
            "o.id IN (SELECT o2.id FROM work_orders o2 LEFT JOIN compounds c ON c.code = o2.compound WHERE {})",
            s.clause("o2.grid_id", "c.id")
        );
        orders::list(t, q.state.as_deref(), &clause, now_ms())
    })
    .await
}

pub(super) fn order_in_scope(t: &mut Tx<'_>, u: &User, id: i64) -> Result<orders::Order, Fail> {
    let o = orders::get(t, id, now_ms())?.ok_or_else(|| Fail::NotFound(format!("work order {id}")))?;
    let compound = t.one("SELECT id FROM compounds WHERE code = $1", params![o.compound.as_str()])?.map(|r| r.int(0));
    if !u.scope.allows(o.grid_id, compound) {
        return Err(Fail::Forbidden);
    }
    Ok(o)
}

pub(super) async fn get_order(State(app): State<Arc<App>>, headers: HeaderMap, Path(id): Path<String>) -> ApiResult {
    let id = path_id(&id)?;
    let (_, v) = app
        .run(&headers, "read", format!("order:{id}"), move |t, u| {
            let o = order_in_scope(t, u, id)?;
            let history = orders::history_of(t, id)?;
            let mut v = serde_json::to_value(o).unwrap_or_default();
            v["history"] = json!(history);
            Ok(v)
        })
        .await?;
    json_ok(v)
}

pub(super) async fn order_action(
    app: Arc<App>,
    headers: HeaderMap,
    id: String,
    bytes: Bytes,
    action: &'static str,
) -> ApiResult {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct In {
        note: Option<String>,
    }
    let id = path_id(&id)?;
    let input: In = body(&bytes)?;
    if action == "resolve" && input.note.as_deref().is_none_or(|n| n.trim().is_empty()) {
        return Err(ApiError::fields(&[("note", "resolving needs a note of what was done")]));
    }
    if input.note.as_deref().is_some_and(|n| n.chars().count() > 500) {
        return Err(ApiError::fields(&[("note", "is longer than 500 characters")]));
    }
    let policy = app.policy.clone();
    let (_, v) = app
        .run(&headers, action, format!("order:{id}"), move |t, u| {
            need_write(u)?;
            order_in_scope(t, u, id)?;
            match orders::transition(t, id, action, &u.username, input.note.as_deref(), now_ms(), &policy)? {
                Ok(o) => Ok(o),
                Err(orders::Refused::NotFound) => Err(Fail::NotFound(format!("work order {id}"))),
                Err(orders::Refused::State(s)) => Err(Fail::Conflict(format!("work order {id} is {s}"))),
            }
        })
        .await?;
    json_ok(v)
}

pub(super) async fn ack_order(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
) -> ApiResult {
    order_action(app, headers, id, bytes, "acknowledge").await
}

pub(super) async fn resolve_order(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
) -> ApiResult {
    order_action(app, headers, id, bytes, "resolve").await
}
