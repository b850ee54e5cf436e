//! The register's resources: households, residents (with erasure), vehicles, visitor passes
//! and CSV import and export.

use super::*;
use crate::register::{self, CsvKind};

pub(super) async fn list_households(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    q: axum::extract::RawQuery,
) -> ApiResult {
    scoped_list(&app, &headers, q.0.as_deref(), "households", "households", |t, s, _| register::households(t, s)).await
}

pub(super) async fn get_household(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    let id = path_id(&id)?;
    let (_, v) =
        app.run(&headers, "read", format!("household:{id}"), move |t, u| register::household(t, u, id)).await?;
    json_ok(v)
}

pub(super) async fn add_household(State(app): State<Arc<App>>, headers: HeaderMap, bytes: Bytes) -> ApiResult {
    let input: register::HouseholdIn = body(&bytes)?;
    let target = format!("household:{}", input.reference);
    app.change(&headers, "create", target, StatusCode::CREATED, move |t, u| {
        register::add_household(t, u, &input).map(|id| json!({ "id": id }))
    })
    .await
}

pub(super) async fn list_residents(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    q: axum::extract::RawQuery,
) -> ApiResult {
    scoped_list(&app, &headers, q.0.as_deref(), "residents", "residents", |t, s, _| register::residents(t, s)).await
}

pub(super) fn check_ref(r: &str) -> Result<(), ApiError> {
    if register::safe_ref(r) { Ok(()) } else { Err(ApiError::fields(&[("ref", "is not a resident reference")])) }
}

pub(super) async fn get_resident(State(app): State<Arc<App>>, headers: HeaderMap, Path(r): Path<String>) -> ApiResult {
    check_ref(&r)?;
    let (_, v) = app.run(&headers, "read", format!("resident:{r}"), move |t, u| register::resident(t, u, &r)).await?;
    json_ok(v)
}

pub(super) async fn add_resident(State(app): State<Arc<App>>, headers: HeaderMap, bytes: Bytes) -> ApiResult {
    let input: register::ResidentIn = body(&bytes)?;
    let target = format!("resident:{}", input.reference);
    app.change(&headers, "create", target, StatusCode::CREATED, move |t, u| {
        register::add_resident(t, u, &input, now_ms()).map(|()| json!({ "ok": true }))
    })
    .await
}

pub(super) async fn patch_resident(
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

pub(super) async fn erase_resident(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(r): Path<String>,
) -> ApiResult {
    check_ref(&r)?;
    app.change(&headers, "erase", format!("resident:{r}"), StatusCode::ACCEPTED, move |t, u| {
        register::erase_resident(t, u, &r, now_ms()).map(|id| json!({ "erasure": id }))
    })
    .await
}

pub(super) async fn list_erasures(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    q: axum::extract::RawQuery,
) -> ApiResult {
    scoped_list(&app, &headers, q.0.as_deref(), "erasures", "erasures", |t, s, _| register::erasures(t, s)).await
}

pub(super) async fn list_vehicles(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    q: axum::extract::RawQuery,
) -> ApiResult {
    scoped_list(&app, &headers, q.0.as_deref(), "vehicles", "vehicles", |t, s, _| register::vehicles(t, s)).await
}

pub(super) async fn put_vehicle(State(app): State<Arc<App>>, headers: HeaderMap, bytes: Bytes) -> ApiResult {
    let input: register::VehicleIn = body(&bytes)?;
    app.change(&headers, "create", format!("vehicle:{}", input.plate), StatusCode::CREATED, move |t, u| {
        register::put_vehicle(t, u, &input, now_ms())
    })
    .await
}

pub(super) async fn delete_vehicle(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(plate): Path<String>,
) -> ApiResult {
    if let Err(e) = register::plate(&plate) {
        return Err(ApiError::fields(&[("plate", &e.to_string())]));
    }
    app.change(&headers, "delete", format!("vehicle:{plate}"), StatusCode::OK, move |t, u| {
        register::delete_vehicle(t, u, &plate, now_ms()).map(|()| json!({ "ok": true }))
    })
    .await
}

pub(super) async fn list_passes(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    q: axum::extract::RawQuery,
) -> ApiResult {
    scoped_list(&app, &headers, q.0.as_deref(), "passes", "passes", |t, s, _| register::passes(t, s, now_ms())).await
}

pub(super) async fn issue_pass(State(app): State<Arc<App>>, headers: HeaderMap, bytes: Bytes) -> ApiResult {
    let input: register::PassIn = body(&bytes)?;
    app.change(&headers, "create", format!("pass:{}", input.household), StatusCode::CREATED, move |t, u| {
        register::issue_pass(t, u, &input, now_ms())
    })
    .await
}

pub(super) async fn revoke_pass(State(app): State<Arc<App>>, headers: HeaderMap, Path(id): Path<String>) -> ApiResult {
    let id = path_id(&id)?;
    app.change(&headers, "revoke", format!("pass:{id}"), StatusCode::OK, move |t, u| {
        register::revoke_pass(t, u, id, now_ms())
    })
    .await
}

pub(super) async fn verify_pass(State(app): State<Arc<App>>, headers: HeaderMap, bytes: Bytes) -> ApiResult {
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

pub(super) fn csv_kind(kind: &str) -> Result<CsvKind, ApiError> {
    CsvKind::parse(kind).ok_or_else(|| ApiError::fields(&[("kind", "must be households, residents or vehicles")]))
}

pub(super) async fn import(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(kind): Path<String>,
    bytes: Bytes,
) -> ApiResult {
    let kind = csv_kind(&kind)?;
    let text = String::from_utf8(bytes.to_vec()).map_err(|_| ApiError::fields(&[("body", "is not UTF-8 text")]))?;
    app.change(&headers, "import", format!("{kind:?}").to_lowercase(), StatusCode::OK, move |t, u| {
        register::import_csv(t, u, kind, &text, now_ms()).map(|n| json!({ "applied": n }))
    })
    .await
}

pub(super) async fn export(
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
