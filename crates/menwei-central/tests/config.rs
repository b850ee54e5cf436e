//! `central.toml` validation.

use std::path::Path;

use menwei_central::config::{self, DatabaseUrl};

#[test]
fn the_example_config_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/central.example.toml");
    let cfg = config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.listen.port(), 8080);
    assert!(matches!(cfg.database, DatabaseUrl::Sqlite(ref p) if p.ends_with("var/central.db")));
    assert_eq!(cfg.share_group, "menwei-central");
}

#[test]
fn every_problem_is_listed_and_no_secret_is_printed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("central.toml");
    std::fs::write(
        &path,
        "[http]\nlisten = \"nowhere\"\n[database]\nurl = \"postgres://u:${MENWEI_TEST_UNSET_VAR}@db/x\"\n[broker]\nurl = \"http://b\"\nclient_id = \"a b\"\n",
    )
    .unwrap();
    let err = config::load(&path).unwrap_err();
    let keys: Vec<&str> = err.issues.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(keys, ["http.listen", "database.url", "broker.url", "broker.client_id"], "{err}");
    assert!(err.to_string().contains("MENWEI_TEST_UNSET_VAR is not set"));
    let debug = format!("{:?}", DatabaseUrl::Postgres("postgres://u:hunter2@db/x".into()));
    assert!(!debug.contains("hunter2"));
}
