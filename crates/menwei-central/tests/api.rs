//! Every API endpoint against a real `menwei-central run` (SQLite and PostgreSQL) with a real
//! Mosquitto: for each one, the allowed call, a 401 without a session, a 403 for grid staff of
//! 第一网格 reaching into 第二网格 (or for a role that may not), a 400 with the field at fault,
//! and the audit rows those calls left. The table is checked against the OpenAPI operations, so
//! an endpoint cannot be added without a case here.

mod common;

use std::time::Duration;

use common::{Central, Edge, call, call_text, wait};
use menwei_tests::{Mosquitto, Postgres, free_port};
use serde_json::Value;

/// One endpoint's cases. `{g1}`/`{g2}` in paths and bodies become the two grids' ids, `{o1}`/`{o2}`
/// the work orders opened in them, `{p1}`/`{p2}` passes, `{h1}`/`{h2}` household ids.
struct Case {
    method: &'static str,
    /// The path as in the OpenAPI table.
    op: &'static str,
    /// The allowed call: (user, path, body, expected status).
    ok: (&'static str, &'static str, Option<&'static str>, u16),
    /// Grid staff of grid 1 (or a user whose role may not) reaching outside: (user, path, body).
    forbidden: Option<(&'static str, &'static str, Option<&'static str>)>,
    /// A malformed call: (path, body, the field named in the answer).
    bad: Option<(&'static str, Option<&'static str>, &'static str)>,
    /// The audit target the allowed call records.
    target: &'static str,
}

const fn case(
    method: &'static str,
    op: &'static str,
    ok: (&'static str, &'static str, Option<&'static str>, u16),
    forbidden: Option<(&'static str, &'static str, Option<&'static str>)>,
    bad: Option<(&'static str, Option<&'static str>, &'static str)>,
    target: &'static str,
) -> Case {
    Case { method, op, ok, forbidden, bad, target }
}

const CASES: &[Case] = &[
    case("GET", "/api/me", ("g1", "/api/me", None, 200), None, None, "me"),
    case(
        "GET",
        "/api/overview",
        ("g1", "/api/overview?grid={g1}", None, 200),
        Some(("g1", "/api/overview?grid={g2}", None)),
        Some(("/api/overview?grid=x", None, "grid")),
        "overview",
    ),
    case(
        "GET",
        "/api/events",
        ("g1", "/api/events?grid={g1}", None, 200),
        Some(("g1", "/api/events?grid={g2}", None)),
        Some(("/api/events?limit=0", None, "limit")),
        "events",
    ),
    case(
        "GET",
        "/api/orders",
        ("g1", "/api/orders?state=open", None, 200),
        Some(("g1", "/api/orders?grid={g2}", None)),
        Some(("/api/orders?state=closed", None, "state")),
        "orders",
    ),
    case(
        "GET",
        "/api/orders/{id}",
        ("g1", "/api/orders/{o1}", None, 200),
        Some(("g1", "/api/orders/{o2}", None)),
        Some(("/api/orders/x", None, "id")),
        "order:{o1}",
    ),
    case(
        "POST",
        "/api/orders/{id}/ack",
        ("g1", "/api/orders/{o1}/ack", Some("{}"), 200),
        Some(("g1", "/api/orders/{o2}/ack", Some("{}"))),
        Some(("/api/orders/{o1}/ack", Some("{\"nope\":1}"), "nope")),
        "order:{o1}",
    ),
    case(
        "POST",
        "/api/orders/{id}/resolve",
        ("g1", "/api/orders/{o1}/resolve", Some("{\"note\":\"陪同离开\"}"), 200),
        Some(("g1", "/api/orders/{o2}/resolve", Some("{\"note\":\"x\"}"))),
        Some(("/api/orders/{o1}/resolve", Some("{}"), "note")),
        "order:{o1}",
    ),
    case(
        "GET",
        "/api/households",
        ("g1", "/api/households?grid={g1}", None, 200),
        Some(("g1", "/api/households?grid={g2}", None)),
        Some(("/api/households?grid=1.5", None, "grid")),
        "households",
    ),
    case(
        "POST",
        "/api/households",
        (
            "g1",
            "/api/households",
            Some(
                "{\"ref\":\"h-102\",\"compound\":\"c-demo\",\"building\":\"1号楼\",\"unit\":\"1单元\",\"room\":\"102\"}",
            ),
            201,
        ),
        Some((
            "g1",
            "/api/households",
            Some(
                "{\"ref\":\"h-302\",\"compound\":\"c-demo\",\"building\":\"3号楼\",\"unit\":\"1单元\",\"room\":\"302\"}",
            ),
        )),
        Some((
            "/api/households",
            Some("{\"ref\":\"h 1\",\"compound\":\"c-demo\",\"building\":\"1号楼\",\"unit\":\"1单元\",\"room\":\"1\"}"),
            "ref",
        )),
        "household:h-102",
    ),
    case(
        "GET",
        "/api/households/{id}",
        ("g1", "/api/households/{h1}", None, 200),
        Some(("g1", "/api/households/{h2}", None)),
        Some(("/api/households/abc", None, "id")),
        "household:{h1}",
    ),
    case(
        "GET",
        "/api/residents",
        ("g1", "/api/residents?grid={g1}", None, 200),
        Some(("g1", "/api/residents?grid={g2}", None)),
        Some(("/api/residents?colour=red", None, "query")),
        "residents",
    ),
    case(
        "POST",
        "/api/residents",
        ("g1", "/api/residents", Some("{\"ref\":\"r-102\",\"household\":\"h-101\",\"name\":\"周洁\"}"), 201),
        Some(("g1", "/api/residents", Some("{\"ref\":\"r-302\",\"household\":\"h-301\",\"name\":\"吴磊\"}"))),
        Some((
            "/api/residents",
            Some("{\"ref\":\"r-103\",\"household\":\"h-101\",\"name\":\"x\",\"face_enabled\":true}"),
            "consent_at",
        )),
        "resident:r-102",
    ),
    case(
        "GET",
        "/api/residents/{ref}",
        ("g1", "/api/residents/r-101", None, 200),
        Some(("g1", "/api/residents/r-301", None)),
        Some(("/api/residents/r%20101", None, "ref")),
        "resident:r-101",
    ),
    case(
        "PATCH",
        "/api/residents/{ref}",
        ("g1", "/api/residents/r-101", Some("{\"status\":\"suspended\"}"), 200),
        Some(("g1", "/api/residents/r-301", Some("{\"status\":\"suspended\"}"))),
        Some(("/api/residents/r-101", Some("{\"status\":\"gone\"}"), "status")),
        "resident:r-101",
    ),
    case(
        "POST",
        "/api/residents/{ref}/erase",
        ("g1", "/api/residents/r-102/erase", None, 202),
        Some(("g1", "/api/residents/r-301/erase", None)),
        Some(("/api/residents/r%20102/erase", None, "ref")),
        "resident:r-102",
    ),
    case(
        "GET",
        "/api/erasures",
        ("g1", "/api/erasures?grid={g1}", None, 200),
        Some(("g1", "/api/erasures?grid={g2}", None)),
        Some(("/api/erasures?grid=", None, "grid")),
        "erasures",
    ),
    case(
        "GET",
        "/api/vehicles",
        ("g1", "/api/vehicles?grid={g1}", None, 200),
        Some(("g1", "/api/vehicles?grid={g2}", None)),
        Some(("/api/vehicles?grid=g", None, "grid")),
        "vehicles",
    ),
    case(
        "POST",
        "/api/vehicles",
        ("g1", "/api/vehicles", Some("{\"plate\":\"冀G55555\",\"household\":\"h-101\",\"color\":\"blue\"}"), 201),
        Some(("g1", "/api/vehicles", Some("{\"plate\":\"冀G66666\",\"household\":\"h-301\"}"))),
        Some(("/api/vehicles", Some("{\"plate\":\"ABC\",\"household\":\"h-101\"}"), "plate")),
        "vehicle:冀G55555",
    ),
    case(
        "DELETE",
        "/api/vehicles/{plate}",
        ("g1", "/api/vehicles/冀G55555", None, 200),
        Some(("g1", "/api/vehicles/冀G30001", None)),
        Some(("/api/vehicles/notaplate", None, "plate")),
        "vehicle:冀G55555",
    ),
    case(
        "GET",
        "/api/passes",
        ("g1", "/api/passes?grid={g1}", None, 200),
        Some(("g1", "/api/passes?grid={g2}", None)),
        Some(("/api/passes?limit=5000", None, "limit")),
        "passes",
    ),
    case(
        "POST",
        "/api/passes",
        (
            "g1",
            "/api/passes",
            Some(
                "{\"compound\":\"c-demo\",\"household\":\"h-101\",\"kind\":\"qr\",\"visitor\":\"快递\",\"valid_until_ms\":{until}}",
            ),
            201,
        ),
        Some((
            "g1",
            "/api/passes",
            Some(
                "{\"compound\":\"c-demo\",\"household\":\"h-301\",\"kind\":\"qr\",\"visitor\":\"x\",\"valid_until_ms\":{until}}",
            ),
        )),
        Some((
            "/api/passes",
            Some(
                "{\"compound\":\"c-demo\",\"household\":\"h-101\",\"kind\":\"plate\",\"visitor\":\"x\",\"valid_until_ms\":{until}}",
            ),
            "plate",
        )),
        "pass:h-101",
    ),
    case(
        "DELETE",
        "/api/passes/{id}",
        ("g1", "/api/passes/{p1}", None, 200),
        Some(("g1", "/api/passes/{p2}", None)),
        Some(("/api/passes/first", None, "id")),
        "pass:{p1}",
    ),
    case(
        "POST",
        "/api/passes/verify",
        ("g1", "/api/passes/verify", Some("{\"token\":\"{t1}\"}"), 200),
        Some(("g1", "/api/passes/verify", Some("{\"token\":\"{t2}\"}"))),
        Some(("/api/passes/verify", Some("{\"token\":\"123\"}"), "token")),
        "pass",
    ),
    case(
        "GET",
        "/api/edges",
        ("g1", "/api/edges?grid={g1}", None, 200),
        Some(("g1", "/api/edges?grid={g2}", None)),
        Some(("/api/edges?grid=one", None, "grid")),
        "edges",
    ),
    case(
        "GET",
        "/api/stats/entries",
        ("g1", "/api/stats/entries?hours=24", None, 200),
        Some(("g1", "/api/stats/entries?grid={g2}", None)),
        Some(("/api/stats/entries?hours=0", None, "hours")),
        "stats/entries",
    ),
    case(
        "GET",
        "/api/stats/anomalies",
        ("g1", "/api/stats/anomalies", None, 200),
        Some(("g1", "/api/stats/anomalies?grid={g2}", None)),
        Some(("/api/stats/anomalies?grid=-", None, "grid")),
        "stats/anomalies",
    ),
    case(
        "POST",
        "/api/import/{kind}",
        ("g1", "/api/import/vehicles", Some("plate,household,color,blocked\n冀G77777,h-101,yellow,0\n"), 200),
        Some(("g1", "/api/import/vehicles", Some("plate,household\n冀G88888,h-301\n"))),
        Some(("/api/import/pets", Some("a\n"), "kind")),
        "vehicles",
    ),
    case(
        "GET",
        "/api/export/{kind}",
        ("g1", "/api/export/residents", None, 200),
        Some(("g1", "/api/export/residents?grid={g2}", None)),
        Some(("/api/export/pets", None, "kind")),
        "residents",
    ),
    case(
        "GET",
        "/api/audit",
        ("admin", "/api/audit?limit=5", None, 200),
        Some(("g1", "/api/audit", None)),
        Some(("/api/audit?limit=x", None, "limit")),
        "audit",
    ),
    case(
        "GET",
        "/api/staff",
        ("g1", "/api/staff?grid={g1}", None, 200),
        Some(("g1", "/api/staff?grid={g2}", None)),
        Some(("/api/staff?grid=?", None, "grid")),
        "staff",
    ),
    case(
        "POST",
        "/api/users",
        (
            "admin",
            "/api/users",
            Some("{\"username\":\"v1\",\"password\":\"long-enough-pw\",\"role\":\"grid\",\"grids\":[\"第一网格\"]}"),
            201,
        ),
        Some(("g1", "/api/users", Some("{\"username\":\"v2\",\"password\":\"long-enough-pw\",\"role\":\"admin\"}"))),
        Some(("/api/users", Some("{\"username\":\"v3\",\"password\":\"short\",\"role\":\"admin\"}"), "password")),
        "user:v1",
    ),
    case(
        "PUT",
        "/api/structure",
        ("admin", "/api/structure", Some("[[districts]]\nname = \"桥东区\"\n"), 200),
        Some(("g1", "/api/structure", Some("[[districts]]\nname = \"桥东区\"\n"))),
        Some(("/api/structure", Some("[[districts]]\nnom = 1\n"), "body")),
        "structure",
    ),
    case("POST", "/api/logout", ("ro", "/api/logout", None, 200), None, None, "session"),
];

/// Operations tested elsewhere in this file (login, its limit) or not audited by design.
const OTHER: &[&str] = &["/api/login", "/api/events/stream"];

struct Ids(Vec<(String, String)>);

impl Ids {
    fn fill(&self, s: &str) -> String {
        let mut s = s.to_owned();
        for (k, v) in &self.0 {
            s = s.replace(&format!("{{{k}}}"), v);
        }
        s
    }
}

fn audit_count(c: &Central, user: &str, action: &str, target: &str) -> i64 {
    c.db()
        .with(|t| {
            t.int(
                "SELECT COUNT(*) FROM audit WHERE username = $1 AND action = $2 AND target = $3",
                menwei_central::params![user, action, target],
            )
        })
        .unwrap()
}

/// Audit rows of `user` with `action`, on any target.
fn audit_actions(c: &Central, user: &str, action: &str) -> i64 {
    c.db()
        .with(|t| {
            t.int(
                "SELECT COUNT(*) FROM audit WHERE username = $1 AND action = $2",
                menwei_central::params![user, action],
            )
        })
        .unwrap()
}

fn audit_by(c: &Central, user: &str, target: &str) -> i64 {
    c.db()
        .with(|t| {
            t.int(
                "SELECT COUNT(*) FROM audit WHERE username = $1 AND target = $2",
                menwei_central::params![user, target],
            )
        })
        .unwrap()
}

fn send(
    c: &Central,
    ids: &Ids,
    user: Option<&str>,
    tokens: &[(&str, String)],
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, Value) {
    let token = user.map(|u| tokens.iter().find(|(n, _)| *n == u).unwrap().1.as_str());
    let ct = if path.starts_with("/api/import") {
        "text/csv"
    } else if path == "/api/structure" {
        "application/toml"
    } else {
        "application/json"
    };
    let (status, text) = call_text(&c.url(&ids.fill(path)), method, token, body.map(|b| ids.fill(b)).as_deref(), ct);
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

#[test]
fn sqlite_every_endpoint_answers_401_403_400_and_audits() {
    every_endpoint("sqlite");
}

#[test]
fn postgres_every_endpoint_answers_401_403_400_and_audits() {
    every_endpoint("postgres");
}

fn every_endpoint(engine: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mqtt = Mosquitto::start(dir.path(), free_port());
    let pg = (engine == "postgres").then(Postgres::start);
    let url = pg.as_ref().map_or_else(|| format!("sqlite://{}", dir.path().join("c.db").display()), |p| p.url.clone());
    let c = Central::start(dir.path(), &url, mqtt.port, "");

    // Every operation in the OpenAPI document has a case here.
    for op in menwei_central::openapi::OPERATIONS {
        let covered = CASES.iter().any(|k| k.op == op.path && k.method.eq_ignore_ascii_case(op.method))
            || OTHER.contains(&op.path);
        assert!(covered, "no API test case for {} {}", op.method, op.path);
    }
    let (status, doc) = call(&c.url("/api/openapi.json"), "GET", None, None);
    assert_eq!((status, doc["openapi"].as_str()), (200, Some("3.1.0")));

    // Login: 400 with the fields, 401 for a wrong password, then the tokens.
    let (s, b) = call(&c.url("/api/login"), "POST", None, Some("{\"username\":\"g1\"}"));
    assert_eq!((s, b["fields"]["password"].as_str()), (400, Some("is required")));
    let (s, b) = call(&c.url("/api/login"), "POST", None, Some("{\"username\":\"g1\",\"password\":\"nope\"}"));
    assert_eq!(s, 401, "{b}");
    assert!(b.get("token").is_none());
    assert_eq!(audit_count(&c, "g1", "login_failed", "session"), 1);
    let tokens: Vec<(&str, String)> = ["admin", "g1", "g2", "ro"].into_iter().map(|u| (u, c.login(u))).collect();

    // Data in both grids, as the admin.
    let admin = tokens[0].1.as_str();
    let post = |path: &str, body: &str| {
        let (s, b) = call(&c.url(path), "POST", Some(admin), Some(body));
        assert!(s == 201 || s == 200, "{path}: {s} {b}");
        b
    };
    post("/api/households", r#"{"ref":"h-101","compound":"c-demo","building":"1号楼","unit":"1单元","room":"101"}"#);
    post("/api/households", r#"{"ref":"h-301","compound":"c-demo","building":"3号楼","unit":"1单元","room":"301"}"#);
    post(
        "/api/residents",
        r#"{"ref":"r-101","household":"h-101","name":"王芳","face_enabled":true,"consent_at":"2026-11-01","consent_method":"written"}"#,
    );
    post("/api/residents", r#"{"ref":"r-301","household":"h-301","name":"李娜"}"#);
    post("/api/vehicles", r#"{"plate":"冀G30001","household":"h-301"}"#);
    let until = (menwei_central::api::now_ms() + 86_400_000).to_string();
    let pass = |h: &str| {
        post(
            "/api/passes",
            &format!(
                r#"{{"compound":"c-demo","household":"{h}","kind":"qr","visitor":"访客","valid_until_ms":{until}}}"#
            ),
        )
    };
    let (p1, p2) = (pass("h-101"), pass("h-301"));

    // An anomaly at each grid's gate opens an order there.
    let edge = Edge::connect(mqtt.port, "c-demo");
    edge.event(1, "security.repeat_stranger", "north", r#"{"type":"unknown_face","cluster_ref":"s-1"}"#);
    edge.event(2, "security.repeat_stranger", "south", r#"{"type":"unknown_face","cluster_ref":"s-2"}"#);
    let db = c.db();
    wait("two work orders", Duration::from_secs(30), || {
        db.with(|t| t.int("SELECT COUNT(*) FROM work_orders", &[])).unwrap() == 2
    });
    let q = |sql: &str| db.with(|t| t.int(sql, &[])).unwrap().to_string();
    let g1 = q("SELECT id FROM grids WHERE name = '第一网格'");
    let g2 = q("SELECT id FROM grids WHERE name = '第二网格'");
    let ids = Ids(vec![
        ("g1".into(), g1.clone()),
        ("g2".into(), g2.clone()),
        ("o1".into(), q(&format!("SELECT id FROM work_orders WHERE grid_id = {g1}"))),
        ("o2".into(), q(&format!("SELECT id FROM work_orders WHERE grid_id = {g2}"))),
        ("h1".into(), q("SELECT id FROM households WHERE ref = 'h-101'")),
        ("h2".into(), q("SELECT id FROM households WHERE ref = 'h-301'")),
        ("p1".into(), p1["id"].to_string()),
        ("p2".into(), p2["id"].to_string()),
        ("t1".into(), p1["token"].as_str().unwrap().to_owned()),
        ("t2".into(), p2["token"].as_str().unwrap().to_owned()),
        ("until".into(), until.clone()),
    ]);

    for k in CASES {
        let name = format!("{} {}", k.method, k.op);
        let target = ids.fill(k.target);
        // 401: no session, no data.
        let (s, b) = send(&c, &ids, None, &tokens, k.method, k.ok.1, k.ok.2);
        assert_eq!(s, 401, "{name} without a session: {b}");
        assert!(
            b.get("error").is_some() && b.as_object().unwrap().len() == 1,
            "{name}: a 401 carries only the error: {b}"
        );
        // 403, audited as denied.
        if let Some((user, path, body)) = k.forbidden {
            let denied = || audit_actions(&c, user, "denied");
            let before = denied();
            let (s, b) = send(&c, &ids, Some(user), &tokens, k.method, path, body);
            assert_eq!(s, 403, "{name} outside grid 1 as {user}: {b}");
            assert!(b.as_object().unwrap().len() == 1, "{name}: a 403 carries only the error: {b}");
            assert_eq!(denied(), before + 1, "{name}: the refusal is audited");
        }
        // 400 with the field at fault.
        if let Some((path, body, field)) = k.bad {
            let user = k.ok.0;
            let failed = || audit_actions(&c, user, "failed");
            let before = failed();
            let (s, b) = send(&c, &ids, Some(user), &tokens, k.method, path, body);
            assert_eq!(s, 400, "{name} malformed: {b}");
            let named = b["fields"].get(field).is_some()
                || b["rows"].as_array().is_some_and(|r| r.iter().any(|x| x["field"] == field));
            assert!(named, "{name}: the 400 names `{field}`: {b}");
            assert_eq!(failed(), before + 1, "{name}: the failed call is audited");
        }
        // The allowed call, and its audit row.
        let before = audit_by(&c, k.ok.0, &target);
        let (s, b) = send(&c, &ids, Some(k.ok.0), &tokens, k.method, k.ok.1, k.ok.2);
        assert_eq!(s, k.ok.3, "{name} as {}: {b}", k.ok.0);
        assert!(audit_by(&c, k.ok.0, &target) > before, "{name}: the access is in the audit log (target {target})");
    }

    // A call that finds nothing is audited as failed, with its path, method and status.
    let (s, b) = send(&c, &ids, Some("admin"), &tokens, "GET", "/api/households/999999", None);
    assert_eq!(s, 404, "{b}");
    let detail = c
        .db()
        .with(|t| {
            t.one(
                "SELECT detail FROM audit WHERE username = 'admin' AND action = 'failed' AND target = $1",
                menwei_central::params!["/api/households/999999"],
            )
        })
        .unwrap()
        .map(|r| r.text(0));
    assert_eq!(detail.as_deref(), Some("GET 404"));

    // The live stream needs a session too.
    assert_eq!(call(&c.url("/api/events/stream"), "GET", None, None).0, 401);

    // Scoping of lists: grid 1's staff see grid 1's residents only, and plates of grid 2 never.
    let g1_token = tokens[1].1.as_str();
    let (_, r) = call(&c.url("/api/residents"), "GET", Some(g1_token), None);
    let refs: Vec<&str> = r["residents"].as_array().unwrap().iter().map(|x| x["ref"].as_str().unwrap()).collect();
    assert!(refs.contains(&"r-101") && !refs.contains(&"r-301"), "{refs:?}");
    let (_, v) = call(&c.url("/api/vehicles"), "GET", Some(g1_token), None);
    assert!(!v.to_string().contains("冀G30001"), "{v}");
    // Read-only users read and may not write.
    // (ro signed out in the table: sign in again.)
    let ro = c.login("ro");
    assert_eq!(call(&c.url("/api/residents"), "GET", Some(&ro), None).0, 200);
    let (s, _) = call(&c.url("/api/vehicles"), "POST", Some(&ro), Some(r#"{"plate":"冀G99999","household":"h-101"}"#));
    assert_eq!(s, 403);
    // The logged-out token no longer works.
    assert_eq!(call(&c.url("/api/me"), "GET", Some(&tokens[3].1), None).0, 401);
    // Prometheus metrics name no plate and no person.
    let (_, m) = call_text(&c.url("/metrics"), "GET", None, None, "");
    assert!(m.contains("menwei_central_events_stored_total 2"), "{m}");
    assert!(!m.contains("冀") && !m.contains("r-101"));
    drop(edge);
}

#[test]
fn logins_are_rate_limited() {
    let dir = tempfile::tempdir().unwrap();
    let mqtt = Mosquitto::start(dir.path(), free_port());
    let url = format!("sqlite://{}", dir.path().join("c.db").display());
    let c = Central::start(dir.path(), &url, mqtt.port, "[auth]\nlogin_burst = 3\nlogin_refill_secs = 600\n");
    let statuses: Vec<u16> = (0..5)
        .map(|_| call(&c.url("/api/login"), "POST", None, Some(r#"{"username":"g1","password":"guess-guess"}"#)).0)
        .collect();
    assert_eq!(statuses, [401, 401, 401, 429, 429]);
    // The right password is refused too while the bucket is empty: no guessing around it.
    let body = format!(r#"{{"username":"g1","password":"{}"}}"#, common::PASSWORD);
    assert_eq!(call(&c.url("/api/login"), "POST", None, Some(&body)).0, 429);
    assert_eq!(audit_count(&c, "g1", "login_limited", "session"), 3);
}
