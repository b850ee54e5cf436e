//! The register against a real `menwei-central run` and a real Mosquitto: CSV import that
//! applies all rows or none, distribution of versioned batches to the compounds' edges, erasure
//! with one edge offline (pending until it returns), and work-order webhooks with retries.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Central, Edge, call, call_text, wait};
use menwei_tests::{Mosquitto, free_port};
use serde_json::Value;

fn start(dir: &std::path::Path, extra: &str) -> (Mosquitto, Central) {
    let mqtt = Mosquitto::start(dir, free_port());
    let url = format!("sqlite://{}", dir.join("c.db").display());
    let c = Central::start(dir, &url, mqtt.port, extra);
    (mqtt, c)
}

fn count(c: &Central, sql: &str) -> i64 {
    c.db().with(|t| t.int(sql, &[])).unwrap()
}

#[test]
fn a_csv_with_one_bad_row_is_reported_by_row_and_field_and_nothing_is_applied() {
    let dir = tempfile::tempdir().unwrap();
    let (_mqtt, c) = start(dir.path(), "");
    let token = c.login("admin");
    let households = "ref,compound,building,unit,room,phone\n\
                      h-101,c-demo,1号楼,1单元,101,13900000001\n\
                      h-102,c-demo,1号楼,2单元,102,\n\
                      h-103,c-demo,9号楼,1单元,103,\n\
                      h-104,c-demo,2号楼,1单元,104,not-a-phone\n";
    let (s, text) = call_text(&c.url("/api/import/households"), "POST", Some(&token), Some(households), "text/csv");
    assert_eq!(s, 400, "{text}");
    let b: Value = serde_json::from_str(&text).unwrap();
    let rows: Vec<(i64, &str)> = b["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["row"].as_i64().unwrap(), r["field"].as_str().unwrap()))
        .collect();
    eprintln!("import refused: {}", b["rows"]);
    assert_eq!(rows, [(4, "unit"), (5, "phone")], "each bad row with its field");
    assert_eq!(count(&c, "SELECT COUNT(*) FROM households"), 0, "nothing half-applied");

    // Fixed, the same file applies whole; export gives it back.
    let fixed = households.replace("9号楼", "2号楼").replace("not-a-phone", "");
    let (s, b) = call_text(&c.url("/api/import/households"), "POST", Some(&token), Some(&fixed), "text/csv");
    assert_eq!(s, 200, "{b}");
    assert_eq!(count(&c, "SELECT COUNT(*) FROM households"), 4);
    let residents = "ref,household,name,face_enabled,consent_at,consent_method\n\
                     r-1,h-101,\"王, 芳\",1,2026-11-01,written\n\
                     r-2,h-102,李娜,no,,\n";
    assert_eq!(call_text(&c.url("/api/import/residents"), "POST", Some(&token), Some(residents), "text/csv").0, 200);
    let (s, csv) = call_text(&c.url("/api/export/residents"), "GET", Some(&token), None, "");
    assert_eq!(s, 200);
    assert!(
        csv.starts_with("ref,household,name,phone,status,face_enabled,consent_at,consent_method,guardian\n"),
        "{csv}"
    );
    assert!(csv.contains("r-1,h-101,\"王, 芳\",,active,1,2026-11-01,written,\n"), "{csv}");
    // An export imports back unchanged (rows that exist are updated, not refused).
    let (_, households_csv) = call_text(&c.url("/api/export/households"), "GET", Some(&token), None, "");
    for (kind, csv) in [("households", &households_csv), ("residents", &csv)] {
        let (s, b) = call_text(&c.url(&format!("/api/import/{kind}")), "POST", Some(&token), Some(csv), "text/csv");
        assert_eq!(s, 200, "re-importing the {kind} export: {b}");
    }
    assert_eq!(count(&c, "SELECT COUNT(*) FROM households"), 4);
    // A quote left open is reported at its row, not as a parse failure of the whole service.
    let (s, b) =
        call(&c.url("/api/import/vehicles"), "POST", Some(&token), Some("plate,household\n\"冀G12345,h-101\n"));
    assert_eq!((s, b["rows"][0]["row"].as_i64()), (400, Some(2)), "{b}");
    assert_eq!(count(&c, "SELECT COUNT(*) FROM audit WHERE action = 'import' AND username = 'admin'"), 4);
}

#[test]
fn register_changes_reach_the_edge_in_order_and_an_erasure_waits_for_the_offline_edge() {
    let dir = tempfile::tempdir().unwrap();
    let (mqtt, c) = start(dir.path(), "");
    let token = c.login("admin");
    let post = |path: &str, body: &str| {
        let (s, b) = call(&c.url(path), "POST", Some(&token), Some(body));
        assert!(s == 200 || s == 201 || s == 202, "{path}: {s} {b}");
        b
    };
    post("/api/households", r#"{"ref":"h-101","compound":"c-demo","building":"1号楼","unit":"1单元","room":"101"}"#);
    post("/api/households", r#"{"ref":"h-e1","compound":"c-east","building":"A座","unit":"1单元","room":"1"}"#);
    post(
        "/api/residents",
        r#"{"ref":"r-1","household":"h-101","name":"王芳","face_enabled":true,"consent_at":"2026-11-01","consent_method":"written"}"#,
    );
    post("/api/vehicles", r#"{"plate":"冀G12345","household":"h-101"}"#);

    // The demo compound's edge is online: it gets versions 1 and 2 in order and confirms them.
    let demo = Edge::connect(mqtt.port, "c-demo");
    wait("batches 1 and 2 at c-demo", Duration::from_secs(30), || demo.received("/sync").len() >= 2);
    let batches: Vec<Value> = demo.received("/sync").iter().map(|b| serde_json::from_str(b).unwrap()).collect();
    assert_eq!(batches[0]["version"], 1);
    assert_eq!(batches[0]["residents"][0]["id"], "r-1");
    assert_eq!(batches[0]["residents"][0]["face_opt_out"], false);
    assert!(batches[0].to_string().find("王芳").is_none(), "no name goes to the edge: {}", batches[0]);
    assert_eq!(
        (batches[1]["version"].as_u64(), batches[1]["vehicles"][0]["plate"].as_str()),
        (Some(2), Some("冀G12345"))
    );
    demo.publish("sync/applied", true, r#"{"version":2}"#.into());
    wait("c-demo up to date", Duration::from_secs(20), || {
        count(&c, "SELECT applied_version FROM edges WHERE compound = 'c-demo'") == 2
    });

    // r-1 was also seen at c-east's gate, whose edge then goes offline.
    let east = Edge::connect(mqtt.port, "c-east");
    east.event(1, "access.denied", "main", r#"{"type":"resident","resident_ref":"r-1","household_ref":"h-101"}"#);
    wait("the event from c-east", Duration::from_secs(20), || count(&c, "SELECT COUNT(*) FROM events") == 1);
    east.vanish();
    wait("c-east offline", Duration::from_secs(20), || {
        c.db().with(|t| t.one("SELECT status FROM edges WHERE compound = 'c-east'", &[])).unwrap().unwrap().text(0)
            == "offline"
    });

    // Erasure: both edges are instructed; c-demo confirms, c-east stays pending.
    let b = post("/api/residents/r-1/erase", "");
    let erasure = b["erasure"].as_i64().unwrap();
    wait("the erase batch at c-demo", Duration::from_secs(30), || {
        demo.received("/sync").iter().any(|s| s.contains("\"erase\":[\"r-1\"]"))
    });
    let v = demo
        .received("/sync")
        .iter()
        .map(|s| serde_json::from_str::<Value>(s).unwrap())
        .find(|b| b["erase"][0] == "r-1")
        .unwrap()["version"]
        .as_u64()
        .unwrap();
    demo.publish("sync/applied", true, format!("{{\"version\":{v}}}"));
    let pending = || {
        let (_, b) = call(&c.url("/api/erasures"), "GET", Some(&token), None);
        let e = b["erasures"].as_array().unwrap().iter().find(|e| e["id"] == erasure).cloned().unwrap();
        e["targets"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["confirmed_ms"].is_null())
            .map(|t| t["compound"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    wait("c-demo's confirmation", Duration::from_secs(20), || pending() == ["c-east"]);
    eprintln!("erasure {erasure}: pending at {:?} while c-east is offline", pending());
    let (_, r) = call(&c.url("/api/residents/r-1"), "GET", Some(&token), None);
    assert_eq!((r["status"].as_str(), r["name"].as_str()), (Some("erased"), Some("")), "{r}");

    // c-east returns: it gets the instruction it missed, applies it and confirms.
    let east = Edge::connect(mqtt.port, "c-east");
    wait("the erase batch at c-east", Duration::from_secs(30), || {
        east.received("/sync").iter().any(|s| s.contains("\"r-1\""))
    });
    let batch: Value = serde_json::from_str(east.received("/sync").last().unwrap()).unwrap();
    assert_eq!(batch["version"], 1);
    east.publish("sync/applied", true, r#"{"version":1}"#.into());
    wait("every edge confirmed", Duration::from_secs(20), || pending().is_empty());
    let (_, edges) = call(&c.url("/api/edges"), "GET", Some(&token), None);
    assert!(edges["edges"].as_array().unwrap().iter().all(|e| e["behind"] == false), "{edges}");

    // An edge's heartbeat (cameras, outbox depth) is what the edge list shows of it.
    demo.publish(
        "heartbeat",
        true,
        r#"{"schema":1,"at":"2026-11-27T10:00:00.000Z","cameras":{"north-1":"streaming"},
            "outbox":{"depth":{"access":2,"health":1},"dropped":{},"last_seq":9,"acked_seq":6,"degraded":false},
            "register_version":3}"#
            .into(),
    );
    let demo_edge = || {
        let (_, edges) = call(&c.url("/api/edges"), "GET", Some(&token), None);
        edges["edges"].as_array().unwrap().iter().find(|e| e["compound"] == "c-demo").cloned().unwrap()
    };
    wait("the heartbeat in the edge list", Duration::from_secs(20), || demo_edge()["outbox_depth"] == 3);
    let e = demo_edge();
    assert_eq!((e["status"].as_str(), e["cameras"]["north-1"].as_str()), (Some("online"), Some("streaming")), "{e}");
    assert!(e["last_seen_ms"].as_i64().is_some(), "{e}");
}

/// A webhook receiver that answers 503 to the first `fail` requests, then 204; keeps the bodies.
type Seen = Arc<Mutex<Vec<(u16, String)>>>;

fn receiver(fail: usize) -> (u16, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut len = 0;
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
                line.clear();
            }
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            let mut seen = s.lock().unwrap();
            let status = if seen.len() < fail { 503 } else { 204 };
            seen.push((status, String::from_utf8_lossy(&body).into_owned()));
            let _ = write!(stream, "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (port, seen)
}

#[test]
fn a_new_work_order_is_posted_to_the_webhook_and_retried_until_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let (port, seen) = receiver(2);
    let extra = format!("[orders]\nwebhooks = [\"http://127.0.0.1:{port}/hook\"]\nwebhook_first_retry_secs = 0.5\n");
    let (mqtt, c) = start(dir.path(), &extra);
    let edge = Edge::connect(mqtt.port, "c-demo");
    edge.event(1, "health.camera_tampered", "north", r#"{"type":"camera","state":"covered","detail":null}"#);
    wait("the delivery after two failures", Duration::from_secs(60), || seen.lock().unwrap().len() >= 3);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.iter().map(|(s, _)| *s).collect::<Vec<_>>(), [503, 503, 204]);
    let body: Value = serde_json::from_str(&seen[2].1).unwrap();
    assert_eq!(body["type"], "work_order.opened");
    assert_eq!(body["order"]["kind"], "health.camera_tampered");
    assert_eq!(body["order"]["grid"], "第一网格");
    // A camera fault goes to the grid's department liaison first.
    assert_eq!(body["order"]["assignee"]["role"], "liaison");
    wait("the delivery recorded", Duration::from_secs(10), || {
        count(&c, "SELECT COUNT(*) FROM webhook_deliveries WHERE delivered_ms IS NOT NULL AND attempts = 3") == 1
    });
}
