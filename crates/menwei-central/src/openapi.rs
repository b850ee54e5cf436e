//! The OpenAPI 3.1 document served at `/api/openapi.json`, built from one table of operations
//! ([`OPERATIONS`]) that the API tests also walk, so an endpoint cannot be added to one and not
//! the other without a test failing.

use serde_json::{Value, json};

/// One operation: method, path, summary, who may call it, its request body schema (by
/// component name), and its query parameters.
#[derive(Clone, Copy, Debug)]
pub struct Operation {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    pub roles: &'static str,
    pub body: Option<&'static str>,
    pub query: &'static [&'static str],
}

const fn op(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    roles: &'static str,
    body: Option<&'static str>,
    query: &'static [&'static str],
) -> Operation {
    Operation { method, path, summary, roles, body, query }
}

const G: &[&str] = &["grid"];
const ALL: &str = "any signed-in user, within their scope";
const WRITE: &str = "admin, property (own compounds), grid (own grids)";

pub const OPERATIONS: &[Operation] = &[
    op(
        "post",
        "/api/login",
        "Sign in: a bearer token and the session cookie",
        "anyone (rate-limited)",
        Some("Login"),
        &[],
    ),
    op("post", "/api/logout", "End the session", ALL, None, &[]),
    op("get", "/api/me", "The signed-in user", ALL, None, &[]),
    op(
        "get",
        "/api/overview",
        "Districts, communities, grids, compounds, gates and buildings for the map",
        ALL,
        None,
        G,
    ),
    op("get", "/api/events", "Stored events, newest first", ALL, None, &["grid", "after", "limit"]),
    op("get", "/api/events/stream", "Server-sent events: each newly stored event", ALL, None, G),
    op("get", "/api/orders", "Work orders", ALL, None, &["grid", "state"]),
    op("get", "/api/orders/{id}", "A work order and its history", ALL, None, &[]),
    op("post", "/api/orders/{id}/ack", "Acknowledge a work order", WRITE, Some("Note"), &[]),
    op("post", "/api/orders/{id}/resolve", "Resolve a work order (a note is required)", WRITE, Some("Note"), &[]),
    op("get", "/api/households", "Households", ALL, None, G),
    op("post", "/api/households", "Register a household", WRITE, Some("Household"), &[]),
    op("get", "/api/households/{id}", "A household", ALL, None, &[]),
    op("get", "/api/residents", "Residents (personal data: audited)", ALL, None, G),
    op("post", "/api/residents", "Register a resident", WRITE, Some("Resident"), &[]),
    op("get", "/api/residents/{ref}", "A resident", ALL, None, &[]),
    op(
        "patch",
        "/api/residents/{ref}",
        "Change a resident's details, status or face-entry consent",
        WRITE,
        Some("ResidentPatch"),
        &[],
    ),
    op(
        "post",
        "/api/residents/{ref}/erase",
        "Erase a resident centrally and on every edge that may hold their data",
        WRITE,
        None,
        &[],
    ),
    op("get", "/api/erasures", "Erasures and their pending edge confirmations", ALL, None, G),
    op("get", "/api/vehicles", "Vehicles", ALL, None, G),
    op("post", "/api/vehicles", "Register or change a vehicle", WRITE, Some("Vehicle"), &[]),
    op("delete", "/api/vehicles/{plate}", "Remove a vehicle", WRITE, None, &[]),
    op("get", "/api/passes", "Visitor passes", ALL, None, G),
    op(
        "post",
        "/api/passes",
        "Issue a visitor pass (a plate, or a QR token for people on foot)",
        WRITE,
        Some("Pass"),
        &[],
    ),
    op("delete", "/api/passes/{id}", "Revoke a visitor pass", WRITE, None, &[]),
    op("post", "/api/passes/verify", "Check a QR pass token", ALL, Some("Verify"), &[]),
    op("get", "/api/edges", "Edge health: status, outbox, register version", ALL, None, G),
    op("get", "/api/stats/entries", "Entries per hour by kind", ALL, None, &["grid", "hours"]),
    op("get", "/api/stats/anomalies", "Anomalies per grid", ALL, None, G),
    op(
        "post",
        "/api/import/{kind}",
        "Import households, residents or vehicles from CSV: all rows or none",
        WRITE,
        Some("Csv"),
        &[],
    ),
    op("get", "/api/export/{kind}", "Export households, residents or vehicles as CSV", ALL, None, G),
    op("get", "/api/audit", "The audit log", "admin", None, &["grid", "after", "limit"]),
    op("get", "/api/staff", "Grid staff", ALL, None, G),
    op("post", "/api/users", "Create or replace a user", "admin", Some("User"), &[]),
    op("put", "/api/structure", "Load the district structure (TOML)", "admin", Some("Structure"), &[]),
];

fn schemas() -> Value {
    let s = |props: Value, required: &[&str]| json!({"type": "object", "additionalProperties": false, "properties": props, "required": required});
    json!({
        "Login": s(json!({"username": {"type": "string"}, "password": {"type": "string"}}), &["username", "password"]),
        "Note": s(json!({"note": {"type": "string", "maxLength": 500}}), &[]),
        "Household": s(json!({"ref": {"type": "string"}, "compound": {"type": "string"}, "building": {"type": "string"},
            "unit": {"type": "string"}, "room": {"type": "string"}, "phone": {"type": "string"}}),
            &["ref", "compound", "building", "unit", "room"]),
        "Resident": s(json!({"ref": {"type": "string"}, "household": {"type": "string"}, "name": {"type": "string"},
            "phone": {"type": "string"}, "status": {"enum": ["active", "suspended"]}, "face_enabled": {"type": "boolean"},
            "consent_at": {"type": "string", "description": "required when face_enabled"},
            "consent_method": {"enum": ["written", "app", "guardian"]}, "guardian": {"type": "string"}}),
            &["ref", "household", "name"]),
        "ResidentPatch": s(json!({"name": {"type": "string"}, "phone": {"type": "string"},
            "status": {"enum": ["active", "suspended"]}, "face_enabled": {"type": "boolean"}, "consent_at": {"type": "string"},
            "consent_method": {"enum": ["written", "app", "guardian"]}, "guardian": {"type": "string"}}), &[]),
        "Vehicle": s(json!({"plate": {"type": "string"}, "household": {"type": "string"},
            "color": {"enum": ["blue", "yellow", "green", "white", "black"]}, "blocked": {"type": "boolean"}}),
            &["plate", "household"]),
        "Pass": s(json!({"compound": {"type": "string"}, "household": {"type": "string"}, "kind": {"enum": ["plate", "qr"]},
            "plate": {"type": "string"}, "visitor": {"type": "string"}, "valid_from_ms": {"type": "integer"},
            "valid_until_ms": {"type": "integer", "description": "at most 7 days after valid_from_ms"}}),
            &["compound", "household", "kind", "visitor", "valid_until_ms"]),
        "Verify": s(json!({"token": {"type": "string", "pattern": "^[0-9a-f]{32}$"}}), &["token"]),
        "User": s(json!({"username": {"type": "string"}, "password": {"type": "string", "minLength": 10},
            "role": {"enum": ["admin", "property", "grid", "readonly"]}, "grids": {"type": "array", "items": {"type": "string"}},
            "company": {"type": "string"}}), &["username", "password", "role"]),
        "Csv": {"type": "string", "description": "text/csv with a header row; see docs/ref/api.md for the columns"},
        "Structure": {"type": "string", "description": "TOML, as config/district.example.toml"},
        "Error": {"type": "object", "properties": {"error": {"type": "string"},
            "fields": {"type": "object", "additionalProperties": {"type": "string"}},
            "rows": {"type": "array", "items": {"type": "object", "properties": {"row": {"type": "integer"},
                "field": {"type": "string"}, "message": {"type": "string"}}}}}},
    })
}

pub fn document() -> Value {
    let mut paths = serde_json::Map::new();
    for o in OPERATIONS {
        let mut params: Vec<Value> = o
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        params.extend(o.query.iter().map(|q| {
            let ty = if *q == "state" {
                json!({"enum": ["open", "acknowledged", "resolved"]})
            } else {
                json!({"type": "integer"})
            };
            json!({"name": q, "in": "query", "required": false, "schema": ty})
        }));
        let err = |d: &str| json!({"description": d, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
        let mut op = json!({
            "summary": o.summary,
            "description": format!("Who: {}.", o.roles),
            "parameters": params,
            "responses": {
                "200": {"description": "OK"},
                "400": err("Invalid input, with the fields (or CSV rows) at fault"),
                "401": err("Not signed in"),
                "403": err("Outside the caller's grids, compounds or role"),
                "404": err("No such thing"),
            },
        });
        if o.path != "/api/login" {
            op["security"] = json!([{"bearer": []}, {"cookie": []}]);
        } else {
            op["responses"]["429"] = err("Too many attempts");
        }
        if let Some(b) = o.body {
            let mime = match b {
                "Csv" => "text/csv",
                "Structure" => "application/toml",
                _ => "application/json",
            };
            op["requestBody"] =
                json!({"required": true, "content": {mime: {"schema": {"$ref": format!("#/components/schemas/{b}")}}}});
        }
        let entry = paths.entry(o.path.to_owned()).or_insert_with(|| json!({}));
        entry[o.method] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "menwei-central", "version": env!("CARGO_PKG_VERSION"),
                 "description": "The district governance service: events, register, work orders. See docs/ref/api.md."},
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "menwei_session"},
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_is_in_the_document_once_with_its_schemas() {
        let doc = document();
        let n: usize = doc["paths"].as_object().unwrap().values().map(|p| p.as_object().unwrap().len()).sum();
        assert_eq!(n, OPERATIONS.len());
        for o in OPERATIONS {
            if let Some(b) = o.body {
                assert!(doc["components"]["schemas"][b].is_object(), "{b}");
            }
        }
    }
}
