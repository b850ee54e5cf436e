//! The REST API, the live event stream and the dashboard, on one axum router.
//!
//! Every `/api` handler follows one path ([`App::run`]): authenticate (bearer token or the
//! session cookie), run the work and its audit record in one transaction, and map the outcome:
//! 400 with field errors, 401 without a live session, 403 outside the user's grids or role
//! (itself audited, in a transaction of its own), 404, 409, 429 for logins over the limit.
//! A refused request never carries data.
//!
//! This module holds that path, the list parameters and the router. The handlers live with
//! their resource, as in Moonfire NVR's `web/`: [`orders`] (work orders), [`register`]
//! (households, residents, vehicles, passes, CSV), [`admin`] (sessions, users, audit, staff,
//! structure) and [`ops`] (overview, events and their stream, edges, charts, health, metrics,
//! the dashboard's files). [`guard`] adds the security headers to every answer and refuses
//! cookie-authenticated writes from another origin.

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
use crate::orders::OrderPolicy;
use crate::params;
use crate::register::Fail;

mod admin;
mod guard;
pub use guard::CSP;
mod ops;
mod orders;
mod register;

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
    /// See [`crate::config::CentralConfig::public_origin`].
    pub public_origin: Option<String>,
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

fn path_id(s: &str) -> Result<i64, ApiError> {
    s.parse().map_err(|_| ApiError::fields(&[("id", "must be an integer")]))
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
        .route("/", get(ops::index))
        .route("/assets/{*name}", get(ops::asset))
        .route("/healthz", get(ops::healthz))
        .route("/metrics", get(ops::metrics))
        .route("/api/openapi.json", get(ops::openapi))
        .route("/api/login", post(admin::login))
        .route("/api/logout", post(admin::logout))
        .route("/api/me", get(admin::me))
        .route("/api/overview", get(ops::overview))
        .route("/api/events", get(ops::events))
        .route("/api/events/stream", get(ops::event_stream))
        .route("/api/orders", get(orders::list_orders))
        .route("/api/orders/{id}", get(orders::get_order))
        .route("/api/orders/{id}/ack", post(orders::ack_order))
        .route("/api/orders/{id}/resolve", post(orders::resolve_order))
        .route("/api/households", get(register::list_households).post(register::add_household))
        .route("/api/households/{id}", get(register::get_household))
        .route("/api/residents", get(register::list_residents).post(register::add_resident))
        .route("/api/residents/{ref}", get(register::get_resident).patch(register::patch_resident))
        .route("/api/residents/{ref}/erase", post(register::erase_resident))
        .route("/api/erasures", get(register::list_erasures))
        .route("/api/vehicles", get(register::list_vehicles).post(register::put_vehicle))
        .route("/api/vehicles/{plate}", delete(register::delete_vehicle))
        .route("/api/passes", get(register::list_passes).post(register::issue_pass))
        .route("/api/passes/{id}", delete(register::revoke_pass))
        .route("/api/passes/verify", post(register::verify_pass))
        .route("/api/edges", get(ops::edges))
        .route("/api/stats/entries", get(ops::stats_entries))
        .route("/api/stats/anomalies", get(ops::stats_anomalies))
        .route("/api/import/{kind}", post(register::import))
        .route("/api/export/{kind}", get(register::export))
        .route("/api/audit", get(admin::audit_log))
        .route("/api/staff", get(admin::staff))
        .route("/api/users", post(admin::add_user))
        .route("/api/structure", axum::routing::put(admin::put_structure))
        .route("/api/{*rest}", axum::routing::any(ops::api_not_found))
        .layer(axum::extract::DefaultBodyLimit::max(8 << 20))
        .layer(axum::middleware::from_fn_with_state(app.clone(), audit_failures))
        .layer(axum::middleware::from_fn_with_state(app.clone(), guard::same_origin_writes))
        .layer(axum::middleware::from_fn(guard::headers))
        .with_state(app)
}

/// Serves the router until `stop`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    stop: menwei_core::shutdown::Receiver,
) -> std::io::Result<()> {
    let service = router(app).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, service).with_graceful_shutdown(stop.down()).await
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
