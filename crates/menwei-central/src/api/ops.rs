//! What operators look at: the overview, events and their live stream, edges, charts; and the
//! service's own health, metrics, OpenAPI document and dashboard files.

use super::*;

pub(super) async fn overview(State(app): State<Arc<App>>, headers: HeaderMap, q: axum::extract::RawQuery) -> ApiResult {
    let q = parse_query(q.0.as_deref())?;
    let (_, v) = app
        .run(&headers, "read", "overview".into(), move |t, u| {
            let s = scope(t, u, q.grid)?;
            Ok(crate::views::overview(t, &s, now_ms())?)
        })
        .await?;
    json_ok(v)
}

pub(super) async fn events(State(app): State<Arc<App>>, headers: HeaderMap, q: axum::extract::RawQuery) -> ApiResult {
    scoped_list(&app, &headers, q.0.as_deref(), "events", "events", |t, s, q| {
        crate::views::events(t, s, q.after.unwrap_or(0), q.limit.unwrap_or(200), false)
    })
    .await
}

/// Server-sent events: the events stored after the connection opened (or after
/// `Last-Event-ID`), read from the database every half second, so any instance serves every
/// compound's events.
pub(super) async fn event_stream(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    q: axum::extract::RawQuery,
) -> ApiResult {
    let q = parse_query(q.0.as_deref())?;
    let resume = headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<i64>().ok());
    let (user, (scope, start)) = app
        .run(&headers, "read", "events/stream".into(), move |t, u| {
            let s = scope(t, u, q.grid)?;
            let start = match resume {
                Some(id) => id,
                None => t.int("SELECT COALESCE(MAX(id), 0) FROM events", params![])?,
            };
            Ok((s, start))
        })
        .await?;
    let db = app.db.clone();
    let token = token(&headers).unwrap_or_default();
    let stream = futures_util::stream::unfold((start, 0u32), move |(cursor, idle)| {
        let (db, scope, token, _user) = (db.clone(), scope.clone(), token.clone(), user.clone());
        async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let read = db
                .call(move |t| {
                    // A signed-out or expired session ends the stream.
                    if auth::session(t, &token, now_ms())?.is_none() {
                        return Ok(None);
                    }
                    crate::views::events(t, &scope, cursor, 200, true).map(Some)
                })
                .await;
            let evs = match read {
                Ok(Some(evs)) => evs,
                Ok(None) | Err(_) => return None,
            };
            let mut chunk = String::new();
            let mut next = cursor;
            for e in &evs {
                next = next.max(e["id"].as_i64().unwrap_or(next));
                chunk += &format!("id: {}\nevent: event\ndata: {}\n\n", e["id"], e);
            }
            let idle = if evs.is_empty() { idle + 1 } else { 0 };
            if idle >= 30 {
                chunk += ": keep-alive\n\n";
            }
            Some((Ok::<_, std::convert::Infallible>(chunk), (next, if idle >= 30 { 0 } else { idle })))
        }
    });
    let first = futures_util::stream::once(async { Ok::<_, std::convert::Infallible>("retry: 2000\n\n".to_owned()) });
    use futures_util::StreamExt;
    Ok((
        [(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")],
        Body::from_stream(first.chain(stream)),
    )
        .into_response())
}

pub(super) async fn edges(State(app): State<Arc<App>>, headers: HeaderMap, q: axum::extract::RawQuery) -> ApiResult {
    scoped_list(&app, &headers, q.0.as_deref(), "edges", "edges", |t, s, _| crate::views::edges(t, s, now_ms())).await
}

pub(super) async fn stats_entries(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    q: axum::extract::RawQuery,
) -> ApiResult {
    scoped_list(&app, &headers, q.0.as_deref(), "stats/entries", "hours", |t, s, q| {
        crate::views::entries_per_hour(t, s, q.hours.unwrap_or(24), now_ms())
    })
    .await
}

pub(super) async fn stats_anomalies(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    q: axum::extract::RawQuery,
) -> ApiResult {
    scoped_list(&app, &headers, q.0.as_deref(), "stats/anomalies", "grids", |t, s, _| {
        crate::views::anomalies_per_grid(t, s)
    })
    .await
}

pub(super) async fn openapi() -> Response {
    Json(crate::openapi::document()).into_response()
}

pub(super) async fn healthz(State(app): State<Arc<App>>) -> Response {
    match app.db.call(|t| t.int("SELECT 1", params![])).await {
        Ok(_) => "ok\n".into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("database: {e}\n")).into_response(),
    }
}

pub(super) async fn metrics(State(app): State<Arc<App>>) -> Response {
    use menwei_core::metrics::{Kind, MetricsText};
    let s = &app.stats;
    let mut m = MetricsText::new();
    let counters = [
        ("menwei_central_events_stored_total", &s.stored, "Events stored."),
        ("menwei_central_events_duplicate_total", &s.duplicates, "Events received again and not applied."),
        ("menwei_central_events_rejected_total", &s.rejected, "Malformed events dropped."),
        (
            "menwei_central_events_unknown_source_total",
            &s.unknown_source,
            "Events stored that name a gate or camera the structure does not have.",
        ),
        ("menwei_central_acks_published_total", &s.acks, "Cumulative acks published."),
        ("menwei_central_resend_requests_total", &s.resends, "Resend requests for gaps."),
        ("menwei_central_sync_batches_published_total", &s.sync_batches, "Register batches published to edges."),
    ];
    for (name, c, help) in counters {
        m.sample(name, Kind::Counter, help, &[], c.load(Ordering::Relaxed) as f64);
    }
    m.sample(
        "menwei_central_broker_connected",
        Kind::Gauge,
        "1 while connected to the broker.",
        &[],
        f64::from(u8::from(s.connected.load(Ordering::Relaxed))),
    );
    if let Ok((open, pending_webhooks, failed_webhooks)) = app
        .db
        .call(|t| {
            Ok::<_, DbError>((
                t.int("SELECT COUNT(*) FROM work_orders WHERE state <> 'resolved'", params![])?,
                t.int(
                    "SELECT COUNT(*) FROM webhook_deliveries WHERE delivered_ms IS NULL AND failed_ms IS NULL",
                    params![],
                )?,
                t.int("SELECT COUNT(*) FROM webhook_deliveries WHERE failed_ms IS NOT NULL", params![])?,
            ))
        })
        .await
    {
        m.sample("menwei_central_work_orders_open", Kind::Gauge, "Work orders not resolved.", &[], open as f64);
        m.sample(
            "menwei_central_webhook_pending_deliveries",
            Kind::Gauge,
            "Webhook deliveries waiting or retrying.",
            &[],
            pending_webhooks as f64,
        );
        m.sample(
            "menwei_central_webhook_failed_deliveries",
            Kind::Gauge,
            "Webhook deliveries given up after webhook_max_attempts.",
            &[],
            failed_webhooks as f64,
        );
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], m.finish()).into_response()
}

pub(super) async fn index() -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], crate::dashboard::INDEX).into_response()
}

pub(super) async fn asset(Path(name): Path<String>) -> Response {
    match crate::dashboard::asset(&name) {
        Some((mime, body)) => {
            ([(header::CONTENT_TYPE, mime), (header::CACHE_CONTROL, "no-cache")], body).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

pub(super) async fn api_not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such endpoint (see /api/openapi.json)")
}
