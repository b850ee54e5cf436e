//! Sessions (sign-in with its limit, sign-out, who am I), users, the audit log, grid staff and
//! the district structure.

use super::*;
use crate::register;

/// The client's address: the TCP peer, or behind the proxy the last `X-Forwarded-For` hop
/// (the one the proxy added; earlier ones are the client's to forge).
pub(super) fn client_ip(app: &App, peer: SocketAddr, headers: &HeaderMap) -> String {
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

pub(super) async fn login(
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

pub(super) fn me_json(u: &User) -> Value {
    json!({ "username": u.username, "role": u.role.name(), "grids": u.scope.grids, "compounds": u.scope.compounds })
}

pub(super) async fn logout(State(app): State<Arc<App>>, headers: HeaderMap) -> ApiResult {
    let token = token(&headers).unwrap_or_default();
    app.run(&headers, "logout", "session".into(), move |t, _| Ok(auth::logout(t, &token)?)).await?;
    let cookie = "menwei_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0";
    Ok(([(header::SET_COOKIE, cookie)], Json(json!({ "ok": true }))).into_response())
}

pub(super) async fn me(State(app): State<Arc<App>>, headers: HeaderMap) -> ApiResult {
    let (u, ()) = app.run(&headers, "read", "me".into(), |_, _| Ok(())).await?;
    json_ok(me_json(&u))
}

pub(super) async fn audit_log(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    q: axum::extract::RawQuery,
) -> ApiResult {
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

pub(super) async fn staff(State(app): State<Arc<App>>, headers: HeaderMap, q: axum::extract::RawQuery) -> ApiResult {
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

pub(super) async fn add_user(State(app): State<Arc<App>>, headers: HeaderMap, bytes: Bytes) -> ApiResult {
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
            .map_err(|e| Fail::Invalid(vec![("grids".into(), e.to_string())]))
        })
        .await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id }))).into_response())
}

pub(super) async fn put_structure(State(app): State<Arc<App>>, headers: HeaderMap, bytes: Bytes) -> ApiResult {
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
