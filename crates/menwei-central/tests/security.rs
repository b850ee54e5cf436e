//! The web surface as a security review tests it, on SQLite and on PostgreSQL: the security
//! headers on every answer, writes signed in by cookie only from the dashboard's own origin
//! (audited when refused), spreadsheet formulas defused in CSV exports and imported back
//! unchanged, and events naming a gate or camera the structure does not have: stored, marked,
//! counted and warned of once, with the name bounded.

mod common;

use std::time::Duration;

use common::{Central, Edge, call, call_text, wait};
use menwei_central::api::CSP;
use menwei_tests::{Mosquitto, Postgres, free_port};
use serde_json::Value;

/// A request with the given headers; the status, the answer's headers and its body.
fn raw(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&str>) -> (u16, ureq::http::HeaderMap, String) {
    common::request(url, method, headers, body, "application/json")
}

fn header<'a>(h: &'a ureq::http::HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn denied_audits(c: &Central, user: &str, target: &str) -> Vec<String> {
    c.db()
        .with(|t| {
            t.query(
                "SELECT COALESCE(detail, '') FROM audit WHERE username = $1 AND action = 'denied' AND target = $2",
                menwei_central::params![user, target],
            )
        })
        .unwrap()
        .iter()
        .map(|r| r.text(0))
        .collect()
}

fn households(c: &Central, token: &str) -> usize {
    let (s, b) = call(&c.url("/api/households"), "GET", Some(token), None);
    assert_eq!(s, 200, "{b}");
    b["households"].as_array().map_or(0, Vec::len)
}

#[test]
fn sqlite_web_surface() {
    web_surface("sqlite");
}

#[test]
fn postgres_web_surface() {
    web_surface("postgres");
}

fn web_surface(engine: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mqtt = Mosquitto::start(dir.path(), free_port());
    let pg = (engine == "postgres").then(Postgres::start);
    let url = pg.as_ref().map_or_else(|| format!("sqlite://{}", dir.path().join("c.db").display()), |p| p.url.clone());
    let proxy = "https://grid.example.gov.cn";
    let c = Central::start(dir.path(), &url, mqtt.port, &format!("[http]\npublic_origin = \"{proxy}/\"\n"));
    let token = c.login("admin");
    let bearer = format!("Bearer {token}");
    let cookie = format!("menwei_session={token}");

    // 1. The security headers, on the page, its files, the API, errors, health and metrics.
    for (path, auth) in [
        ("/", None),
        ("/assets/app.js", None),
        ("/assets/app.css", None),
        ("/api/overview", Some(bearer.as_str())),
        ("/api/overview", None),
        ("/api/no-such-thing", Some(bearer.as_str())),
        ("/healthz", None),
        ("/metrics", None),
    ] {
        let headers: Vec<(&str, &str)> = auth.map(|a| ("authorization", a)).into_iter().collect();
        let (status, h, _) = raw("GET", &c.url(path), &headers, None);
        let at = format!("GET {path} ({status})");
        assert_eq!(header(&h, "content-security-policy"), Some(CSP), "{at}");
        for needed in ["script-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"] {
            assert!(CSP.contains(needed), "{needed}");
        }
        assert!(!CSP.contains("unsafe-inline") && !CSP.contains("unsafe-eval"));
        assert_eq!(header(&h, "x-content-type-options"), Some("nosniff"), "{at}");
        assert_eq!(header(&h, "referrer-policy"), Some("no-referrer"), "{at}");
        assert_eq!(header(&h, "x-frame-options"), Some("DENY"), "{at}");
        let no_store = header(&h, "cache-control") == Some("no-store");
        assert_eq!(no_store, path.starts_with("/api/"), "{at}: cache-control {:?}", header(&h, "cache-control"));
    }

    // 2. Writes with the cookie: only from the dashboard's own origin or the configured one.
    let own = c.url("");
    let household =
        |n: u32| format!(r#"{{"ref":"h-o{n}","compound":"c-demo","building":"1号楼","unit":"1单元","room":"{n}"}}"#);
    let before = households(&c, &token);
    let refused: &[&[(&str, &str)]] = &[
        &[("origin", "http://evil.example")],
        &[("origin", "http://127.0.0.1:1")], // the same host on another port is another origin
        &[("origin", "null")],
        &[("sec-fetch-site", "same-site")],
        &[("sec-fetch-site", "cross-site")],
        &[], // neither header
    ];
    for (i, extra) in refused.iter().enumerate() {
        let mut headers = vec![("cookie", cookie.as_str())];
        headers.extend_from_slice(extra);
        let (s, _, body) = raw("POST", &c.url("/api/households"), &headers, Some(&household(i as u32)));
        assert_eq!(s, 403, "{extra:?}: {body}");
        let err: Value = serde_json::from_str(&body).unwrap();
        assert!(err["error"].as_str().unwrap().contains("session cookie"), "{body}");
    }
    assert_eq!(households(&c, &token), before, "a refused write changed something");
    let denied = denied_audits(&c, "admin", "/api/households");
    assert_eq!(denied.len(), refused.len(), "{denied:?}");
    assert!(denied.iter().any(|d| d.contains("POST") && d.contains("http://evil.example")), "{denied:?}");
    // A DELETE, a PATCH and a PUT are writes too.
    for (method, path, body) in [
        ("DELETE", "/api/vehicles/冀G30001", None),
        ("PATCH", "/api/residents/r-1", Some("{}")),
        ("PUT", "/api/structure", Some("")),
    ] {
        let (s, _, b) = raw(method, &c.url(path), &[("cookie", &cookie), ("origin", "http://evil.example")], body);
        assert_eq!(s, 403, "{method} {path}: {b}");
    }
    // Allowed: the origin the request was sent to, the public one behind the proxy, and
    // same-origin fetch metadata; bearer clients whatever their Origin; reads with the cookie.
    let allowed: &[&[(&str, &str)]] = &[
        &[("cookie", &cookie), ("origin", own.as_str())],
        &[("cookie", &cookie), ("origin", proxy)],
        &[("cookie", &cookie), ("sec-fetch-site", "same-origin")],
        &[("authorization", &bearer), ("origin", "http://evil.example")],
    ];
    for (i, headers) in allowed.iter().enumerate() {
        let (s, _, body) = raw("POST", &c.url("/api/households"), headers, Some(&household(100 + i as u32)));
        assert_eq!(s, 201, "{headers:?}: {body}");
    }
    assert_eq!(households(&c, &token), before + allowed.len());
    let (s, _, _) =
        raw("GET", &c.url("/api/households"), &[("cookie", &cookie), ("origin", "http://evil.example")], None);
    assert_eq!(s, 200);

    // 3. CSV: a formula is exported as text and imports back unchanged; a + phone stays usable.
    let formula = r#"=HYPERLINK("http://evil.example","x")"#;
    let resident = serde_json::json!({"ref": "r-f", "household": "h-o100", "name": formula, "phone": "+8613800138000"});
    let (s, b) = call(&c.url("/api/residents"), "POST", Some(&token), Some(&resident.to_string()));
    assert_eq!(s, 201, "{b}");
    let (s, csv) = call_text(&c.url("/api/export/residents"), "GET", Some(&token), None, "text/csv");
    assert_eq!(s, 200);
    let row = csv.lines().find(|l| l.starts_with("r-f,")).unwrap_or_else(|| panic!("no r-f in\n{csv}"));
    assert!(row.contains(r#""'=HYPERLINK(""http://evil.example"",""x"")""#), "{row}");
    assert!(row.contains(",'+8613800138000,"), "{row}");
    for cell in row.split(',') {
        assert!(!cell.trim_start_matches('"').starts_with(['=', '+', '-', '@']), "a live formula in {row}");
    }
    let (s, b) = call_text(&c.url("/api/import/residents"), "POST", Some(&token), Some(&csv), "text/csv");
    assert_eq!(s, 200, "{b}");
    let (_, again) = call_text(&c.url("/api/export/residents"), "GET", Some(&token), None, "text/csv");
    assert_eq!(again, csv, "the export did not import back unchanged");
    let (_, list) = call(&c.url("/api/residents"), "GET", Some(&token), None);
    let r = list["residents"].as_array().unwrap().iter().find(|r| r["ref"] == "r-f").unwrap().clone();
    assert_eq!((r["name"].as_str(), r["phone"].as_str()), (Some(formula), Some("+8613800138000")), "{r}");

    // 4. Events naming what the structure does not have.
    let edge = Edge::connect(mqtt.port, "c-demo");
    let hostile = format!("<img src=x onerror=alert(1)>{}", "x".repeat(300));
    let event = |seq: u64, gate: &str, camera: &str| {
        serde_json::json!({
            "schema": 1, "event_id": format!("e-{seq}"), "seq": seq, "compound": "c-demo",
            "kind": "access.denied", "class": "access", "gate": gate, "camera": camera,
            "direction": "entry", "occurred_at": "2026-11-27T10:00:00.000Z",
            "subject": {"type": "vehicle", "plate": "川AKQ291"}, "decision": "deny", "reason": "unknown_vehicle",
            "scores": {}, "models": {}
        })
        .to_string()
    };
    edge.publish("events/access", false, event(1, "north", &hostile));
    edge.publish("events/access", false, event(2, "north", &hostile));
    edge.publish("events/access", false, event(3, "nowhere", "gate-face"));
    edge.publish("events/access", false, event(4, "north", "gate-face"));
    edge.publish("events/access", false, event(5, "south", "any-camera")); // south lists no cameras
    let events = || call(&c.url("/api/events"), "GET", Some(&token), None).1["events"].clone();
    wait("five events stored", Duration::from_secs(30), || events().as_array().is_some_and(|a| a.len() >= 5));
    let list = events();
    let by_seq = |seq: i64| list.as_array().unwrap().iter().find(|e| e["seq"] == seq).unwrap().clone();
    let marked = |seq: i64| by_seq(seq)["unknown_source"].as_str().map(str::to_owned);
    assert!(marked(1).is_some_and(|w| w.contains("camera `<img src=x") && w.chars().count() < 140), "{:?}", marked(1));
    assert!(marked(3).is_some_and(|w| w.contains("gate `nowhere`")), "{:?}", marked(3));
    assert_eq!((marked(4), marked(5)), (None, None));
    assert!(by_seq(1)["camera"].as_str().is_some_and(|cam| cam.chars().count() <= 65), "{}", by_seq(1));
    // Nothing is lost: the stored payload keeps the whole name.
    let payload = c
        .db()
        .with(|t| t.one("SELECT payload FROM events WHERE compound = 'c-demo' AND seq = 1", menwei_central::params![]))
        .unwrap()
        .unwrap()
        .text(0);
    assert!(payload.contains(&hostile));
    // Counted, and warned of once per name on the edges page.
    let metrics = call_text(&c.url("/metrics"), "GET", None, None, "text/plain").1;
    assert!(metrics.lines().any(|l| l == "menwei_central_events_unknown_source_total 3"), "{metrics}");
    let (_, edges) = call(&c.url("/api/edges"), "GET", Some(&token), None);
    let demo = edges["edges"].as_array().unwrap().iter().find(|e| e["compound"] == "c-demo").unwrap().clone();
    let warnings = demo["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 2, "{demo}");
    let camera = warnings.iter().find(|w| w["what"].as_str().unwrap().contains("camera")).unwrap();
    assert_eq!(camera["events"], 2, "{camera}");
    assert!(camera["what"].as_str().unwrap().chars().count() < 140);
}
