//! The REST API, the live event stream and the dashboard, on one axum router.
//!
//! Every `/api` handler follows one path ([`App::run`]): authenticate (bearer token or the
//! session cookie), run the work and its audit record in one transaction, and map the outcome:
//! 400 with field errors, 401 without a live session, 403 outside the user's grids or role
//! (itself audited, in a transaction of its own), 404, 409, 429 for logins over the limit.
//! A refused request never carries data.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::{self, Login, RateLimit, Role, Scope, User};
use crate::db::{Db, DbError, Tx};
use crate::orders::{self, OrderPolicy};
use crate::params;
use crate::register::{self, CsvKind, Fail};

/// Shared by every handler.
#[derive(Debug)]
pub struct App {
    pub db: Db,
    pub policy: Arc<OrderPolicy>,
    pub logins: RateLimit,
    pub stats: Arc<crate::ingest::IngestStats>,
    /// See [`crate::config::CentralConfig::behind_proxy`].
    pub behind_proxy: bool,
    /// Seconds for one failed sign-in to be forgiven (for the 429's message).
    pub login_refill_secs: f64,
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// An error answer: `{"error": ..., "fields": {...}}` or `{"error": ..., "rows": [...]}`.
#[derive(Debug)]
pub struct ApiError(StatusCode, Value);

impl ApiError {
    fn new(status: StatusCode, message: &str) -> Self {
        ApiError(status, json!({ "error": message }))
    }
    fn fields(fields: &[(&str, &str)]) -> Self {
        let map: serde_json::Map<String, Value> = fields.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect();
        ApiError(StatusCode::BAD_REQUEST, json!({ "error": "invalid input", "fields": map }))
    }
    fn unauthorised() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "sign in first")
    }
    fn forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, "outside your grids or your role")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        tracing::warn!("database: {e}");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "the database failed; the request was not applied")
    }
}

impl From<Fail> for ApiError {
    fn from(f: Fail) -> Self {
        match f {
            Fail::Db(e) => e.into(),
            Fail::Invalid(fs) => {
                let map: serde_json::Map<String, Value> = fs.into_iter().map(|(k, v)| (k, json!(v))).collect();
                ApiError(StatusCode::BAD_REQUEST, json!({ "error": "invalid input", "fields": map }))
            }
            Fail::Rows(rows) => {
                let rows: Vec<Value> = rows
                    .into_iter()
                    .map(|(row, field, message)| json!({"row": row, "field": field, "message": message}))
                    .collect();
                ApiError(
                    StatusCode::BAD_REQUEST,
                    json!({ "error": "nothing was imported: fix these rows", "rows": rows }),
                )
            }
            Fail::Forbidden => ApiError::forbidden(),
            Fail::NotFound(what) => ApiError::new(StatusCode::NOT_FOUND, &format!("no {what}")),
            Fail::Conflict(what) => ApiError::new(StatusCode::CONFLICT, &what),
        }
    }
}

type ApiResult = Result<Response, ApiError>;

/// The session token: `Authorization: Bearer` or the `menwei_session` cookie.
fn token(headers: &HeaderMap) -> Option<String> {
    if let Some(b) =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some(b.trim().to_owned());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix("menwei_session=").map(str::to_owned))
}

/// A JSON body, with a 400 naming the field when it does not parse.
fn body<T: serde::de::DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiError> {
    let text = if bytes.is_empty() { &b"{}"[..] } else { &bytes[..] };
    serde_json::from_slice(text).map_err(|e| {
        let msg = e.to_string();
        let field = msg.split('`').nth(1).unwrap_or("body").to_owned();
        ApiError(StatusCode::BAD_REQUEST, json!({ "error": "invalid input", "fields": { field: msg } }))
    })
}

impl App {
    async fn user(&self, headers: &HeaderMap) -> Result<User, ApiError> {
        let token = token(headers).ok_or_else(ApiError::unauthorised)?;
        self.db.call(move |t| auth::session(t, &token, now_ms())).await?.ok_or_else(ApiError::unauthorised)
    }

    /// Authenticates, then runs `work` and its audit record (`action` on `target`) in one
    /// transaction. A 403 is audited on its own.
    async fn run<T: Send + 'static>(
        &self,
        headers: &HeaderMap,
        action: &'static str,
        target: String,
        work: impl FnOnce(&mut Tx<'_>, &User) -> Result<T, Fail> + Send + 'static,
    ) -> Result<(User, T), ApiError> {
        let user = self.user(headers).await?;
        let (u, tgt) = (user.clone(), target.clone());
        let out = self
            .db
            .call(move |t| {
                let v = work(t, &u)?;
                auth::audit(t, now_ms(), &u.username, action, &tgt, None)?;
                Ok::<_, Fail>(v)
            })
            .await;
        match out {
            Ok(v) => Ok((user, v)),
            Err(Fail::Forbidden) => {
                let name = user.username.clone();
                self.db.call(move |t| auth::audit(t, now_ms(), &name, "denied", &target, Some(action))).await?;
                Err(ApiError::forbidden())
            }
            Err(e) => Err(e.into()),
        }
    }
}

impl App {
    /// [`App::run`] for a change: refused to read-only users; answers `status` with the result
    /// as JSON.
    async fn change<T: serde::Serialize + Send + 'static>(
        &self,
        headers: &HeaderMap,
        action: &'static str,
        target: String,
        status: StatusCode,
        work: impl FnOnce(&mut Tx<'_>, &User) -> Result<T, Fail> + Send + 'static,
    ) -> ApiResult {
        let (_, v) = self
            .run(headers, action, target, move |t, u| {
                need_write(u)?;
                work(t, u)
            })
            .await?;
        Ok((status, Json(v)).into_response())
    }
}

fn need_write(u: &User) -> Result<(), Fail> {
    if u.can_write() { Ok(()) } else { Err(Fail::Forbidden) }
}

fn need_admin(u: &User) -> Result<(), Fail> {
    if u.role == Role::Admin { Ok(()) } else { Err(Fail::Forbidden) }
}

/// The user's scope, narrowed by `?grid=`; a grid outside it is a 403.
fn scope(t: &mut Tx<'_>, u: &User, grid: Option<i64>) -> Result<Scope, Fail> {
    match grid {
        None => Ok(u.scope.clone()),
        Some(g) => u.scope.narrow_to_grid(t, g)?.ok_or(Fail::Forbidden),
    }
}

fn json_ok(v: impl serde::Serialize) -> ApiResult {
    Ok(Json(v).into_response())
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    grid: Option<i64>,
    state: Option<String>,
    after: Option<i64>,
    limit: Option<i64>,
    hours: Option<i64>,
}

/// Checks list parameters; a bad one is a 400 naming it.
fn check_query(q: &ListQuery) -> Result<(), ApiError> {
    let mut bad = Vec::new();
    if q.state.as_deref().is_some_and(|s| !["open", "acknowledged", "resolved"].contains(&s)) {
        bad.push(("state", "must be open, acknowledged or resolved"));
    }
    if q.limit.is_some_and(|l| !(1..=1000).contains(&l)) {
        bad.push(("limit", "must be 1 to 1000"));
    }
    if q.hours.is_some_and(|h| !(1..=24 * 31).contains(&h)) {
        bad.push(("hours", "must be 1 to 744"));
    }
    if bad.is_empty() { Ok(()) } else { Err(ApiError::fields(&bad)) }
}

/// `?grid=abc` and other unparsable parameters are 400s with the field, not axum's text.
fn parse_query(raw: Option<&str>) -> Result<ListQuery, ApiError> {
    let q: ListQuery = serde_urlencoded_like(raw.unwrap_or(""))?;
    check_query(&q)?;
    Ok(q)
}

fn serde_urlencoded_like(raw: &str) -> Result<ListQuery, ApiError> {
    let mut q = ListQuery::default();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let int =
            |field: &'static str| v.parse::<i64>().map_err(|_| ApiError::fields(&[(field, "must be an integer")]));
        match k {
            "grid" => q.grid = Some(int("grid")?),
            "after" => q.after = Some(int("after")?),
            "limit" => q.limit = Some(int("limit")?),
            "hours" => q.hours = Some(int("hours")?),
            "state" => q.state = Some(v.to_owned()),
            _ => return Err(ApiError::fields(&[("query", "unknown parameter")])),
        }
    }
    Ok(q)
}

// --- handlers -----------------------------------------------------------------------------------

/// The client's address: the TCP peer, or behind the proxy the last `X-Forwarded-For` hop
/// (the one the proxy added; earlier ones are the client's to forge).
fn client_ip(app: &App, peer: SocketAddr, headers: &HeaderMap) -> String {
    if app.behind_proxy
        && let Some(last) = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .rfind(|v| !v.is_empty())
    {
        return last.to_owned();
    }
    peer.ip().to_string()
}

async fn login(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    bytes: Bytes,
) -> ApiResult {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct In {
        #[serde(default)]
        username: String,
        #[serde(default)]
        password: String,
    }
    let input: In = body(&bytes)?;
    let mut bad = Vec::new();
    if input.username.is_empty() {
        bad.push(("username", "is required"));
    }
    if input.password.is_empty() {
        bad.push(("password", "is required"));
    }
    if !bad.is_empty() {
        return Err(ApiError::fields(&bad));
    }
    let (user_key, ip_key) = (format!("u:{}", input.username), format!("ip:{}", client_ip(&app, peer, &headers)));
    if !app.logins.allowed(&[&user_key, &ip_key]) {
        let name = input.username.clone();
        app.db.call(move |t| auth::audit(t, now_ms(), &name, "login_limited", "session", None)).await?;
        let wait = app.login_refill_secs.ceil() as u64;
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("too many failed sign-ins: try again in {wait} s"),
        ));
    }
    let name = input.username.clone();
    let result = app
        .db
        .call(move |t| {
            let r = auth::login(t, &input.username, &input.password, now_ms())?;
            let action = match &r {
                Login::Ok { .. } => "login",
                Login::BadCredentials => "login_failed",
                Login::Disabled => "login_disabled",
            };
            auth::audit(t, now_ms(), &name, action, "session", None)?;
            Ok::<_, DbError>(r)
        })
        .await?;
    if !matches!(result, Login::Ok { .. }) {
        app.logins.spend(&[&user_key, &ip_key]);
    }
    match result {
        Login::Ok { token, user } => {
            let cookie = format!(
                "menwei_session={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{}",
                auth::SESSION_MS / 1000,
                if app.behind_proxy { "; Secure" } else { "" }
            );
            let body = json!({ "token": token, "user": me_json(&user) });
            Ok(([(header::SET_COOKIE, cookie)], Json(body)).into_response())
        }
        Login::BadCredentials => Err(ApiError::new(StatusCode::UNAUTHORIZED, "wrong user name or password")),
        Login::Disabled => Err(ApiError::new(StatusCode::FORBIDDEN, "this account is disabled")),
    }
}

fn me_json(u: &User) -> Value {
    json!({ "username": u.username, "role": u.role.name(), "grids": u.scope.grids, "compounds": u.scope.compounds })
}

async fn logout(State(app): State<Arc<App>>, headers: HeaderMap) -> ApiResult {
    let token = token(&headers).unwrap_or_default();
    app.run(&headers, "logout", "session".into(), move |t, _| Ok(auth::logout(t, &token)?)).await?;
    let cookie = "menwei_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0";
    Ok(([(header::SET_COOKIE, cookie)], Json(json!({ "ok": true }))).into_response())
}

async fn me(State(app): State<Arc<App>>, headers: HeaderMap) -> ApiResult {
    let (u, ()) = app.run(&headers, "read", "me".into(), |_, _| Ok(())).await?;
    json_ok(me_json(&u))
}

async fn overview(State(app): State<Arc<App>>, headers: HeaderMap, q: axum::extract::RawQuery) -> ApiResult {
    let q = parse_query(q.0.as_deref())?;
    let (_, v) = app
        .run(&headers, "read", "overview".into(), move |t, u| {
            let s = scope(t, u, q.grid)?;
            Ok(crate::views::overview(t, &s, now_ms())?)
        })
        .await?;
    json_ok(v)
}

async fn events(State(app): State<Arc<App>>, headers: HeaderMap, q: axum::extract::RawQuery) -> ApiResult {
    scoped_list(&app, &headers, q.0.as_deref(), "events", "events", |t, s, q| {
        crate::views::events(t, s, q.after.unwrap_or(0), q.limit.unwrap_or(200), false)
    })
    .await
}

/// Server-sent events: the events stored after the connection opened (or after
/// `Last-Event-ID`), read from the database every half second, so any instance serves every
/// compound's events.
async fn event_stream(State(app): State<Arc<App>>, headers: HeaderMap, q: axum::extract::RawQuery) -> ApiResult {
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

async fn list_orders(State(app): State<Arc<App>>, headers: HeaderMap, q: axum::extract::RawQuery) -> ApiResult {
    scoped_list(&app, &headers, q.0.as_deref(), "orders", "orders", |t, s, q| {
        let clause = format!(
            "o.id IN (SELECT o2.id FROM work_orders o2 LEFT JOIN compounds c ON c.code = o2.compound WHERE {})",
            s.clause("o2.grid_id", "c.id")
        );
        orders::list(t, q.state.as_deref(), &clause, now_ms())
    })
    .await
}

fn order_in_scope(t: &mut Tx<'_>, u: &User, id: i64) -> Result<orders::Order, Fail> {
    let o = orders::get(t, id, now_ms())?.ok_or_else(|| Fail::NotFound(format!("work order {id}")))?;
    let compound = t.one("SELECT id FROM compounds WHERE code = $1", params![o.compound.as_str()])?.map(|r| r.int(0));
    if !u.scope.allows(o.grid_id, compound) {
        return Err(Fail::Forbidden);
    }
    Ok(o)
}

async fn get_order(State(app): State<Arc<App>>, headers: HeaderMap, Path(id): Path<String>) -> ApiResult {
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

fn path_id(s: &str) -> Result<i64, ApiError> {
    s.parse().map_err(|_| ApiError::fields(&[("id", "must be an integer")]))
}

async fn order_action(app: Arc<App>, headers: HeaderMap, id: String, bytes: Bytes, action: &'static str) -> ApiResult {
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

async fn ack_order(State(app): State<Arc<App>>, headers: HeaderMap, Path(id): Path<String>, bytes: Bytes) -> ApiResult {
    order_action(app, headers, id, bytes, "acknowledge").await
}

async fn resolve_order(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
) -> ApiResult {
    order_action(app, headers, id, bytes, "resolve").await
}

/// A list in the caller's scope, narrowed by `?grid=`: `{key: rows}`, audited as a read of
/// `target`.
async fn scoped_list<T: serde::Serialize + Send + 'static>(
    app: &App,
    headers: &HeaderMap,
    raw: Option<&str>,
    target: &'static str,
    key: &'static str,
    rows: impl FnOnce(&mut Tx<'_>, &Scope, &ListQuery) -> Result<T, DbError> + Send + 'static,
) -> ApiResult {
    let q = parse_query(raw)?;
    let (_, v) = app
        .run(headers, "read", target.into(), move |t, u| {
            let s = scope(t, u, q.grid)?;
            Ok(rows(t, &s, &q)?)
        })
        .await?;
    let mut body = serde_json::Map::new();
    body.insert(key.to_owned(), json!(v));
    json_ok(body)
}

async fn list_households(State(app): State<Arc<App>>, headers: HeaderMap, q: axum::extract::RawQuery) -> ApiResult {
    scoped_list(&app, &headers, q.0.as_deref(), "households", "households", |t, s, _| register::households(t, s)).await
}

async fn get_household(State(app): State<Arc<App>>, headers: HeaderMap, Path(id): Path<String>) -> ApiResult {
    let id = path_id(&id)?;
    let (_, v) =
        app.run(&headers, "read", format!("household:{id}"), move |t, u| register::household(t, u, id)).await?;
    json_ok(v)
}

async fn add_household(State(app): State<Arc<App>>, headers: HeaderMap, bytes: Bytes) -> ApiResult {
    let input: register::HouseholdIn = body(&bytes)?;
    let target = format!("household:{}", input.reference);
    app.change(&headers, "create", target, StatusCode::CREATED, move |t, u| {
        register::add_household(t, u, &input).map(|id| json!({ "id": id }))
    })
    .await
}

async fn list_residents(State(app): State<Arc<App>>, headers: HeaderMap, q: axum::extract::RawQuery) -> ApiResult {
    scoped_list(&app, &headers, q.0.as_deref(), "residents", "residents", |t, s, _| register::residents(t, s)).await
}

fn check_ref(r: &str) -> Result<(), ApiError> {
    if register::safe_ref(r) { Ok(()) } else { Err(ApiError::fields(&[("ref", "is not a resident reference")])) }
}

async fn get_resident(State(app): State<Arc<App>>, headers: HeaderMap, Path(r): Path<String>) -> ApiResult {
    check_ref(&r)?;
    let (_, v) = app.run(&headers, "read", format!("resident:{r}"), move |t, u| register::resident(t, u, &r)).await?;
    json_ok(v)
}

async fn add_resident(State(app): State<Arc<App>>, headers: HeaderMap, bytes: Bytes) -> ApiResult {
    let input: register::ResidentIn = body(&bytes)?;
    let target = format!("resident:{}", input.reference);
    app.change(&headers, "create", target, StatusCode::CREATED, move |t, u| {
        register::add_resident(t, u, &input, now_ms()).map(|()| json!({ "ok": true }))
    })
    .await
}

async fn patch_resident(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(r): Path<String>,
    bytes: Bytes,
) -> ApiResult {
    let input: register::ResidentPatch = body(&bytes)?;
    app.change(&headers, "update", format!("resident:{r}"), StatusCode::OK, move |t, u| {
        register::patch_resident(t, u, &r, &input, now_ms())
    })
    .await
}

async fn erase_resident(State(app): State<Arc<App>>, headers: HeaderMap, Path(r): Path<String>) -> ApiResult {
    check_ref(&r)?;
    app.change(&headers, "erase", format!("resident:{r}"), StatusCode::ACCEPTED, move |t, u| {
        register::erase_resident(t, u, &r, now_ms()).map(|id| json!({ "erasure": id }))
    })
    .await
}

async fn list_erasures(State(app): State<Arc<App>>, headers: HeaderMap, q: axum::extract::RawQuery) -> ApiResult {
    scoped_list(&app, &headers, q.0.as_deref(), "erasures", "erasures", |t, s, _| register::erasures(t, s)).await
}

async fn list_vehicles(State(app): State<Arc<App>>, headers: HeaderMap, q: axum::extract::RawQuery) -> ApiResult {
    scoped_list(&app, &headers, q.0.as_deref(), "vehicles", "vehicles", |t, s, _| register::vehicles(t, s)).await
}

async fn put_vehicle(State(app): State<Arc<App>>, headers: HeaderMap, bytes: Bytes) -> ApiResult {
    let input: register::VehicleIn = body(&bytes)?;
    app.change(&headers, "create", format!("vehicle:{}", input.plate), StatusCode::CREATED, move |t, u| {
        register::put_vehicle(t, u, &input, now_ms())
    })
    .await
}

async fn delete_vehicle(State(app): State<Arc<App>>, headers: HeaderMap, Path(plate): Path<String>) -> ApiResult {
    if let Err(e) = register::plate(&plate) {
        return Err(ApiError::fields(&[("plate", &e)]));
    }
    app.change(&headers, "delete", format!("vehicle:{plate}"), StatusCode::OK, move |t, u| {
        register::delete_vehicle(t, u, &plate, now_ms()).map(|()| json!({ "ok": true }))
    })
    .await
}

async fn list_passes(State(app): State<Arc<App>>, headers: HeaderMap, q: axum::extract::RawQuery) -> ApiResult {
    scoped_list(&app, &headers, q.0.as_deref(), "passes", "passes", |t, s, _| register::passes(t, s, now_ms())).await
}

async fn issue_pass(State(app): State<Arc<App>>, headers: HeaderMap, bytes: Bytes) -> ApiResult {
    let input: register::PassIn = body(&bytes)?;
    app.change(&headers, "create", format!("pass:{}", input.household), StatusCode::CREATED, move |t, u| {
        register::issue_pass(t, u, &input, now_ms())
    })
    .await
}

async fn revoke_pass(State(app): State<Arc<App>>, headers: HeaderMap, Path(id): Path<String>) -> ApiResult {
    let id = path_id(&id)?;
    app.change(&headers, "revoke", format!("pass:{id}"), StatusCode::OK, move |t, u| {
        register::revoke_pass(t, u, id, now_ms())
    })
    .await
}

async fn verify_pass(State(app): State<Arc<App>>, headers: HeaderMap, bytes: Bytes) -> ApiResult {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct In {
        #[serde(default)]
        token: String,
    }
    let input: In = body(&bytes)?;
    if input.token.len() != 32 || !input.token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::fields(&[("token", "must be the 32 hex digits the QR code carries")]));
    }
    let (_, v) = app
        .run(&headers, "verify", "pass".into(), move |t, u| register::verify_pass(t, u, &input.token, now_ms()))
        .await?;
    json_ok(match v {
        Some(p) => json!({ "valid": p.state == "active", "pass": p }),
        None => json!({ "valid": false, "pass": null }),
    })
}

async fn edges(State(app): State<Arc<App>>, headers: HeaderMap, q: axum::extract::RawQuery) -> ApiResult {
    scoped_list(&app, &headers, q.0.as_deref(), "edges", "edges", |t, s, _| crate::views::edges(t, s, now_ms())).await
}

async fn stats_entries(State(app): State<Arc<App>>, headers: HeaderMap, q: axum::extract::RawQuery) -> ApiResult {
    scoped_list(&app, &headers, q.0.as_deref(), "stats/entries", "hours", |t, s, q| {
        crate::views::entries_per_hour(t, s, q.hours.unwrap_or(24), now_ms())
    })
    .await
}

async fn stats_anomalies(State(app): State<Arc<App>>, headers: HeaderMap, q: axum::extract::RawQuery) -> ApiResult {
    scoped_list(&app, &headers, q.0.as_deref(), "stats/anomalies", "grids", |t, s, _| {
        crate::views::anomalies_per_grid(t, s)
    })
    .await
}

fn csv_kind(kind: &str) -> Result<CsvKind, ApiError> {
    CsvKind::parse(kind).ok_or_else(|| ApiError::fields(&[("kind", "must be households, residents or vehicles")]))
}

async fn import(State(app): State<Arc<App>>, headers: HeaderMap, Path(kind): Path<String>, bytes: Bytes) -> ApiResult {
    let kind = csv_kind(&kind)?;
    let text = String::from_utf8(bytes.to_vec()).map_err(|_| ApiError::fields(&[("body", "is not UTF-8 text")]))?;
    app.change(&headers, "import", format!("{kind:?}").to_lowercase(), StatusCode::OK, move |t, u| {
        register::import_csv(t, u, kind, &text, now_ms()).map(|n| json!({ "applied": n }))
    })
    .await
}

async fn export(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(kind): Path<String>,
    q: axum::extract::RawQuery,
) -> ApiResult {
    let kind = csv_kind(&kind)?;
    let q = parse_query(q.0.as_deref())?;
    let (_, csv) = app
        .run(&headers, "export", format!("{kind:?}").to_lowercase(), move |t, u| {
            let s = scope(t, u, q.grid)?;
            Ok(register::export_csv(t, &s, kind)?)
        })
        .await?;
    let name = format!("attachment; filename=\"{}.csv\"", format!("{kind:?}").to_lowercase());
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, name)], csv)
        .into_response())
}

async fn audit_log(State(app): State<Arc<App>>, headers: HeaderMap, q: axum::extract::RawQuery) -> ApiResult {
    let q = parse_query(q.0.as_deref())?;
    let (_, v) = app
        .run(&headers, "read", "audit".into(), move |t, u| {
            need_admin(u)?;
            if let Some(g) = q.grid {
                scope(t, u, Some(g))?;
            }
            let rows = t.query(
                "SELECT id, at_ms, username, action, target, detail FROM audit WHERE id > $1 ORDER BY id DESC LIMIT $2",
                params![q.after.unwrap_or(0), q.limit.unwrap_or(200)],
            )?;
            Ok(rows
                .iter()
                .map(|r| {
                    json!({"id": r.int(0), "at_ms": r.int(1), "username": r.text(2), "action": r.text(3),
                           "target": r.text(4), "detail": r.opt_text(5)})
                })
                .collect::<Vec<_>>())
        })
        .await?;
    json_ok(json!({ "audit": v }))
}

async fn staff(State(app): State<Arc<App>>, headers: HeaderMap, q: axum::extract::RawQuery) -> ApiResult {
    scoped_list(&app, &headers, q.0.as_deref(), "staff", "staff", |t, s, _| {
        let sql = format!(
            "SELECT s.id, s.grid_id, g.name, s.name, s.role, s.phone FROM staff s JOIN grids g ON g.id = s.grid_id
             WHERE {} ORDER BY g.name, s.role, s.name",
            s.grid_clause("s.grid_id")
        );
        Ok(t.query(&sql, params![])?
            .iter()
            .map(|r| {
                json!({"id": r.int(0), "grid_id": r.int(1), "grid": r.text(2), "name": r.text(3), "role": r.text(4),
                       "phone": r.opt_text(5)})
            })
            .collect::<Vec<_>>())
    })
    .await
}

async fn add_user(State(app): State<Arc<App>>, headers: HeaderMap, bytes: Bytes) -> ApiResult {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct In {
        #[serde(default)]
        username: String,
        #[serde(default)]
        password: String,
        #[serde(default)]
        role: String,
        #[serde(default)]
        grids: Vec<String>,
        company: Option<String>,
    }
    let input: In = body(&bytes)?;
    let mut bad = Vec::new();
    if !register::safe_ref(&input.username) {
        bad.push(("username", "A-Z, a-z, 0-9, `-` and `_` (1 to 64)"));
    }
    if input.password.chars().count() < 10 {
        bad.push(("password", "needs 10 characters or more"));
    }
    let role = Role::parse(&input.role);
    if role.is_none() {
        bad.push(("role", "must be admin, property, grid or readonly"));
    }
    if !bad.is_empty() {
        return Err(ApiError::fields(&bad));
    }
    let (_, id) = app
        .run(&headers, "create", format!("user:{}", input.username), move |t, u| {
            need_admin(u)?;
            auth::add_user(
                t,
                &input.username,
                &input.password,
                role.expect("checked"),
                &input.grids,
                input.company.as_deref(),
            )?
            .map_err(|e| Fail::Invalid(vec![("grids".into(), e)]))
        })
        .await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id }))).into_response())
}

async fn put_structure(State(app): State<Arc<App>>, headers: HeaderMap, bytes: Bytes) -> ApiResult {
    let text = std::str::from_utf8(&bytes).map_err(|_| ApiError::fields(&[("body", "is not UTF-8 text")]))?;
    let file: register::structure::File =
        toml::from_str(text).map_err(|e| ApiError::fields(&[("body", e.message())]))?;
    let (_, ()) = app
        .run(&headers, "update", "structure".into(), move |t, u| {
            need_admin(u)?;
            register::structure::apply(t, &file)
        })
        .await?;
    json_ok(json!({ "ok": true }))
}

async fn openapi() -> Response {
    Json(crate::openapi::document()).into_response()
}

async fn healthz(State(app): State<Arc<App>>) -> Response {
    match app.db.call(|t| t.int("SELECT 1", params![])).await {
        Ok(_) => "ok\n".into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("database: {e}\n")).into_response(),
    }
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    use menwei_core::metrics::{Kind, MetricsText};
    let s = &app.stats;
    let mut m = MetricsText::new();
    let counters = [
        ("menwei_central_events_stored_total", &s.stored, "Events stored."),
        ("menwei_central_events_duplicate_total", &s.duplicates, "Events received again and not applied."),
        ("menwei_central_events_rejected_total", &s.rejected, "Malformed events dropped."),
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

// --- the dashboard's files ------------------------------------------------------------------------

async fn index() -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], crate::dashboard::INDEX).into_response()
}

async fn asset(Path(name): Path<String>) -> Response {
    match crate::dashboard::asset(&name) {
        Some((mime, body)) => {
            ([(header::CONTENT_TYPE, mime), (header::CACHE_CONTROL, "no-cache")], body).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn api_not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such endpoint (see /api/openapi.json)")
}

/// Records a signed-in user's failed call (any 4xx but 401 and 403) in the audit log, in a
/// transaction of its own: the call's own transaction, if it had one, rolled back with its
/// work, and a malformed body or query fails before any. A 403 is recorded by [`App::run`] as
/// `denied`; a 401 has no user to record. The target is the path (without the query), the detail
/// the method and status.
async fn audit_failures(
    State(app): State<Arc<App>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let token = token(req.headers());
    let res = next.run(req).await;
    let status = res.status();
    let recorded = status.is_client_error()
        && !matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
        && path.starts_with("/api/")
        && path != "/api/login";
    if let (true, Some(token)) = (recorded, token) {
        let detail = format!("{method} {}", status.as_u16());
        let p = path.clone();
        let done = app
            .db
            .call(move |t| {
                if let Some(u) = auth::session(t, &token, now_ms())? {
                    auth::audit(t, now_ms(), &u.username, "failed", &p, Some(&detail))?;
                }
                Ok::<_, DbError>(())
            })
            .await;
        if let Err(e) = done {
            tracing::warn!(path, "cannot record a failed call in the audit log: {e}");
        }
    }
    res
}

pub fn router(app: Arc<App>) -> axum::Router {
    axum::Router::new()
        .route("/", get(index))
        .route("/assets/{name}", get(asset))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/api/openapi.json", get(openapi))
        .route("/api/login", post(login))
        .route("/api/logout", post(logout))
        .route("/api/me", get(me))
        .route("/api/overview", get(overview))
        .route("/api/events", get(events))
        .route("/api/events/stream", get(event_stream))
        .route("/api/orders", get(list_orders))
        .route("/api/orders/{id}", get(get_order))
        .route("/api/orders/{id}/ack", post(ack_order))
        .route("/api/orders/{id}/resolve", post(resolve_order))
        .route("/api/households", get(list_households).post(add_household))
        .route("/api/households/{id}", get(get_household))
        .route("/api/residents", get(list_residents).post(add_resident))
        .route("/api/residents/{ref}", get(get_resident).patch(patch_resident))
        .route("/api/residents/{ref}/erase", post(erase_resident))
        .route("/api/erasures", get(list_erasures))
        .route("/api/vehicles", get(list_vehicles).post(put_vehicle))
        .route("/api/vehicles/{plate}", delete(delete_vehicle))
        .route("/api/passes", get(list_passes).post(issue_pass))
        .route("/api/passes/{id}", delete(revoke_pass))
        .route("/api/passes/verify", post(verify_pass))
        .route("/api/edges", get(edges))
        .route("/api/stats/entries", get(stats_entries))
        .route("/api/stats/anomalies", get(stats_anomalies))
        .route("/api/import/{kind}", post(import))
        .route("/api/export/{kind}", get(export))
        .route("/api/audit", get(audit_log))
        .route("/api/staff", get(staff))
        .route("/api/users", post(add_user))
        .route("/api/structure", axum::routing::put(put_structure))
        .route("/api/{*rest}", axum::routing::any(api_not_found))
        .layer(axum::extract::DefaultBodyLimit::max(8 << 20))
        .layer(axum::middleware::from_fn_with_state(app.clone(), audit_failures))
        .with_state(app)
}

/// Serves the router until `stop` turns true.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    let service = router(app).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(async move {
            while !*stop.borrow() {
                if stop.changed().await.is_err() {
                    return;
                }
            }
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_parameters_are_checked_with_their_names() {
        assert!(parse_query(Some("grid=3&state=open&limit=10")).is_ok());
        let e = parse_query(Some("grid=x")).unwrap_err();
        assert_eq!((e.0, e.1["fields"]["grid"].as_str()), (StatusCode::BAD_REQUEST, Some("must be an integer")));
        assert!(parse_query(Some("state=closed")).unwrap_err().1["fields"]["state"].is_string());
        assert!(parse_query(Some("bogus=1")).is_err());
    }

    #[test]
    fn the_token_comes_from_the_bearer_header_or_the_cookie() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, "a=b; menwei_session=abc".parse().unwrap());
        assert_eq!(token(&h).as_deref(), Some("abc"));
        h.insert(header::AUTHORIZATION, "Bearer xyz".parse().unwrap());
        assert_eq!(token(&h).as_deref(), Some("xyz"));
    }
}
