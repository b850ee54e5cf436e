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

#[test]
fn database_tls_keys_are_checked_with_their_paths() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("central.toml");
    let load = |database: &str| {
        std::fs::write(&path, format!("[database]\n{database}")).unwrap();
        config::load(&path)
    };
    // TLS files with SQLite, and a client certificate without the CA.
    let err = load("url = \"sqlite://c.db\"\nca_file = \"ca.crt\"\n").unwrap_err();
    assert_eq!(err.issues.iter().map(|i| i.key.as_str()).collect::<Vec<_>>(), ["database.ca_file"], "{err}");
    let err = load("url = \"postgres://db/x\"\ncert_file = \"c.crt\"\nkey_file = \"c.key\"\n").unwrap_err();
    assert_eq!(err.issues.iter().map(|i| i.key.as_str()).collect::<Vec<_>>(), ["database.ca_file"], "{err}");
    // Half a client pair, and files that are not there (named, resolved beside the config).
    let err = load("url = \"postgres://db/x\"\nca_file = \"ca.crt\"\ncert_file = \"c.crt\"\n").unwrap_err();
    let keys: Vec<&str> = err.issues.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(keys, ["database.cert_file", "database.ca_file"], "{err}");
    assert!(err.to_string().contains(&dir.path().join("ca.crt").display().to_string()), "{err}");
    // All there: TLS with the client certificate, paths resolved beside the config.
    for f in ["ca.crt", "c.crt", "c.key"] {
        std::fs::write(dir.path().join(f), "").unwrap();
    }
    let cfg =
        load("url = \"postgres://db/x\"\nca_file = \"ca.crt\"\ncert_file = \"c.crt\"\nkey_file = \"c.key\"\n").unwrap();
    let tls = cfg.database_tls.expect("TLS");
    assert_eq!(tls.ca_file, dir.path().join("ca.crt"));
    assert_eq!(tls.client, Some((dir.path().join("c.crt"), dir.path().join("c.key"))));
}
