//! The compound's register on the edge box: residents, their face templates, and vehicles.
//!
//! Why it is shaped this way (the face-data rules the README states at the top):
//! - **Face templates never leave the box and are encrypted at rest.** Each template is sealed
//!   with XChaCha20-Poly1305 under a key read from a file, with a random nonce and the
//!   resident's id as associated data (a sealed template cannot be moved to another resident).
//!   The register refuses to open when the key file is readable by group or others. Templates
//!   are decrypted only into the in-memory matcher; they are never logged and no API returns
//!   them in any form that leaves the process.
//! - **Face recognition is never the only way in.** A resident who opted out of face entry
//!   has no templates and cannot get any: enrolment refuses, and they enter by card, PIN or QR.
//! - **Erasure leaves a tombstone.** Erasing a resident deletes their templates and marks the
//!   row erased, so a later sighting is reported as "unknown (erased)" rather than silently
//!   unknown, and the central service can see that the edge complied.
//! - **Photos are never stored**: only templates reach this crate.
//! - **A template belongs to the embedder that made it.** Each row names its model
//!   (`w600k_mbf`, `dlib_resnet`); the matcher loads only the configured embedder's, and
//!   [`Register::template_models`] tells the daemon whom a change of embedder left without a
//!   template, so it can say so instead of failing to decrypt.

use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use menwei_core::matcher::TemplateMatrix;
use menwei_core::plate::normalise;
pub use menwei_core::rules::{VehicleEntry, VehicleKind};
use rusqlite::{Connection, OptionalExtension, params};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum RegisterError {
    #[error("register {path}: {source}")]
    Sqlite { path: PathBuf, source: rusqlite::Error },
    #[error("template key {path}: {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("resident `{0}` is not in the register")]
    UnknownResident(String),
    #[error("resident `{0}` opted out of face entry: enrol a card, PIN or QR code instead")]
    OptedOut(String),
    #[error("resident `{0}` was erased")]
    Erased(String),
    #[error("a template of resident `{resident}` cannot be decrypted (wrong key or damaged row)")]
    Decrypt { resident: String },
    #[error("cannot get random bytes from the OS: {0}")]
    Random(String),
}

/// A resident's state in the register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResidentStatus {
    Active,
    Suspended,
    Erased,
}

impl ResidentStatus {
    fn name(self) -> &'static str {
        match self {
            ResidentStatus::Active => "active",
            ResidentStatus::Suspended => "suspended",
            ResidentStatus::Erased => "erased",
        }
    }
    fn parse(s: &str) -> ResidentStatus {
        match s {
            "active" => ResidentStatus::Active,
            "suspended" => ResidentStatus::Suspended,
            _ => ResidentStatus::Erased,
        }
    }
}

/// A resident as the register keeps them: a pseudonymous id, no name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resident {
    pub id: String,
    pub household: String,
    pub status: ResidentStatus,
    /// When and how consent to face entry was given, and by which guardian for a minor.
    pub consent_at: Option<String>,
    pub consent_method: Option<String>,
    pub guardian: Option<String>,
    /// Enters by card, PIN or QR, never by face.
    pub face_opt_out: bool,
}

/// The register: one SQLite file and the template key.
pub struct Register {
    conn: Connection,
    path: PathBuf,
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Register {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Register").field("path", &self.path).finish_non_exhaustive()
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS residents (
    id             TEXT PRIMARY KEY,
    household      TEXT NOT NULL,
    status         TEXT NOT NULL,
    consent_at     TEXT,
    consent_method TEXT,
    guardian       TEXT,
    face_opt_out   INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS templates (
    id         INTEGER PRIMARY KEY,
    resident   TEXT NOT NULL REFERENCES residents(id),
    nonce      BLOB NOT NULL,
    sealed     BLOB NOT NULL,
    model      TEXT NOT NULL DEFAULT 'w600k_mbf'
);
CREATE INDEX IF NOT EXISTS templates_resident ON templates (resident);
CREATE TABLE IF NOT EXISTS vehicles (
    plate          TEXT PRIMARY KEY,
    color          TEXT,
    household      TEXT,
    kind           TEXT NOT NULL,
    valid_from_ms  INTEGER,
    valid_until_ms INTEGER
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('version', 0);
";

/// The file's permission bits when group or others may read it (secrets must be `chmod 600`);
/// `None` when only its owner can.
pub fn readable_by_others(path: &Path) -> std::io::Result<Option<u32>> {
    let meta = std::fs::metadata(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Ok(Some(mode));
        }
    }
    let _ = meta;
    Ok(None)
}

/// Reads a 32-byte key (raw, or 64 hex digits), refusing a file others may read.
pub fn read_key(path: &Path) -> Result<[u8; 32], RegisterError> {
    let bad = |reason: String| RegisterError::Key { path: path.to_owned(), reason };
    if let Some(mode) = readable_by_others(path).map_err(|e| bad(e.to_string()))? {
        return Err(bad(format!("mode {mode:o} lets others read it; run `chmod 600 {}`", path.display())));
    }
    let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let text = String::from_utf8_lossy(&bytes);
    let hex = text.trim();
    let key: Vec<u8> = if hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        (0..32).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap_or(0)).collect()
    } else {
        bytes
    };
    key.try_into().map_err(|k: Vec<u8>| bad(format!("{} bytes; a key is 32 bytes or 64 hex digits", k.len())))
}

fn f32s_to_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

impl Register {
    /// Opens (creating if needed) the register at `path` with the key in `key_file`.
    pub fn open(path: &Path, key_file: &Path) -> Result<Self, RegisterError> {
        let key = read_key(key_file)?;
        let err = |source| RegisterError::Sqlite { path: path.to_owned(), source };
        let conn = Connection::open(path).map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(err)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(err)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        // Registers made before templates named their model hold w600k_mbf's (the only
        // embedder then).
        let has_model: bool = conn
            .query_row("SELECT COUNT(*) FROM pragma_table_info('templates') WHERE name = 'model'", [], |r| r.get(0))
            .map_err(err)?;
        if !has_model {
            conn.execute_batch("ALTER TABLE templates ADD COLUMN model TEXT NOT NULL DEFAULT 'w600k_mbf'")
                .map_err(err)?;
        }
        Ok(Self { conn, path: path.to_owned(), cipher: XChaCha20Poly1305::new(Key::from_slice(&key)) })
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> RegisterError + '_ {
        |source| RegisterError::Sqlite { path: self.path.clone(), source }
    }

    /// Adds or updates a resident (the fields central distributes; never templates).
    pub fn upsert_resident(&self, r: &Resident) -> Result<(), RegisterError> {
        self.conn
            .execute(
                "INSERT INTO residents (id, household, status, consent_at, consent_method, guardian, face_opt_out)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT(id) DO UPDATE SET household = ?2, status = ?3, consent_at = ?4, consent_method = ?5,
                     guardian = ?6, face_opt_out = ?7",
                params![r.id, r.household, r.status.name(), r.consent_at, r.consent_method, r.guardian, r.face_opt_out],
            )
            .map_err(self.err())?;
        if r.face_opt_out {
            self.conn.execute("DELETE FROM templates WHERE resident = ?1", [&r.id]).map_err(self.err())?;
        }
        Ok(())
    }

    pub fn resident(&self, id: &str) -> Result<Option<Resident>, RegisterError> {
        self.conn
            .query_row(
                "SELECT id, household, status, consent_at, consent_method, guardian, face_opt_out FROM residents
                 WHERE id = ?1",
                [id],
                |r| {
                    Ok(Resident {
                        id: r.get(0)?,
                        household: r.get(1)?,
                        status: ResidentStatus::parse(&r.get::<_, String>(2)?),
                        consent_at: r.get(3)?,
                        consent_method: r.get(4)?,
                        guardian: r.get(5)?,
                        face_opt_out: r.get(6)?,
                    })
                },
            )
            .optional()
            .map_err(self.err())
    }

    /// Seals and stores one template for `resident`. Refuses residents who opted out of face
    /// entry, gave no consent, or were erased.
    pub fn add_template(&self, resident: &str, model: &str, template: &[f32]) -> Result<i64, RegisterError> {
        let r = self.resident(resident)?.ok_or_else(|| RegisterError::UnknownResident(resident.to_owned()))?;
        if r.status == ResidentStatus::Erased {
            return Err(RegisterError::Erased(resident.to_owned()));
        }
        if r.face_opt_out || r.consent_at.is_none() {
            return Err(RegisterError::OptedOut(resident.to_owned()));
        }
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut nonce).map_err(|e| RegisterError::Random(e.to_string()))?;
        let plain = f32s_to_bytes(template);
        let sealed = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: &plain, aad: resident.as_bytes() })
            .map_err(|_| RegisterError::Decrypt { resident: resident.to_owned() })?;
        self.conn
            .execute(
                "INSERT INTO templates (resident, nonce, sealed, model) VALUES (?1, ?2, ?3, ?4)",
                params![resident, &nonce[..], sealed, model],
            )
            .map_err(self.err())?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Erases a resident's face data: templates deleted, the row kept as a tombstone.
    pub fn erase(&self, resident: &str) -> Result<usize, RegisterError> {
        if self.resident(resident)?.is_none() {
            return Err(RegisterError::UnknownResident(resident.to_owned()));
        }
        let n = self.conn.execute("DELETE FROM templates WHERE resident = ?1", [resident]).map_err(self.err())?;
        self.conn
            .execute(
                "UPDATE residents SET status = 'erased', consent_at = NULL, consent_method = NULL, guardian = NULL
                 WHERE id = ?1",
                [resident],
            )
            .map_err(self.err())?;
        // Overwrite freed pages so the sealed bytes do not linger in the file.
        self.conn.execute_batch("PRAGMA secure_delete = ON; VACUUM;").map_err(self.err())?;
        Ok(n)
    }

    /// Every active or suspended resident's templates (a suspended resident must be recognised
    /// to be refused), decrypted into one contiguous matrix for the matcher; owner `i` is
    /// `ids[i]`.
    pub fn load_templates(&self, model: &str, dims: usize) -> Result<(TemplateMatrix, Vec<String>), RegisterError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT t.resident, t.nonce, t.sealed FROM templates t JOIN residents r ON r.id = t.resident
                 WHERE r.status IN ('active', 'suspended') AND r.face_opt_out = 0 AND t.model = ?1
                 ORDER BY t.resident, t.id",
            )
            .map_err(self.err())?;
        let rows = st
            .query_map([model], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?, r.get::<_, Vec<u8>>(2)?)))
            .map_err(self.err())?;
        let mut m = TemplateMatrix::new(dims);
        let mut ids: Vec<String> = Vec::new();
        for row in rows {
            let (resident, nonce, sealed) = row.map_err(self.err())?;
            if nonce.len() != 24 {
                return Err(RegisterError::Decrypt { resident });
            }
            let plain = self
                .cipher
                .decrypt(XNonce::from_slice(&nonce), Payload { msg: &sealed, aad: resident.as_bytes() })
                .map_err(|_| RegisterError::Decrypt { resident: resident.clone() })?;
            let v: Vec<f32> = plain.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
            if v.len() != dims {
                return Err(RegisterError::Decrypt { resident });
            }
            if ids.last() != Some(&resident) {
                ids.push(resident);
            }
            m.push((ids.len() - 1) as u64, &v);
        }
        Ok((m, ids))
    }

    /// The residents who may not enter.
    pub fn suspended(&self) -> Result<Vec<String>, RegisterError> {
        let mut st = self.conn.prepare("SELECT id FROM residents WHERE status = 'suspended'").map_err(self.err())?;
        let rows = st.query_map([], |r| r.get(0)).map_err(self.err())?;
        rows.collect::<Result<Vec<String>, _>>().map_err(self.err())
    }

    /// For each embedder model with templates: how many active or suspended residents have
    /// templates of that model, by model name.
    pub fn template_models(&self) -> Result<Vec<(String, u64)>, RegisterError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT t.model, COUNT(DISTINCT t.resident) FROM templates t JOIN residents r ON r.id = t.resident
                 WHERE r.status IN ('active', 'suspended') AND r.face_opt_out = 0 GROUP BY t.model ORDER BY t.model",
            )
            .map_err(self.err())?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }

    /// How many templates a resident has.
    pub fn template_count(&self, resident: &str) -> Result<u64, RegisterError> {
        self.conn
            .query_row("SELECT COUNT(*) FROM templates WHERE resident = ?1", [resident], |r| r.get(0))
            .map_err(self.err())
    }

    /// Adds or replaces a vehicle (resident, visitor pass or blocked), by normalised plate.
    pub fn upsert_vehicle(&self, v: &VehicleEntry) -> Result<(), RegisterError> {
        let kind = match v.kind {
            VehicleKind::Resident => "resident",
            VehicleKind::Visitor => "visitor",
            VehicleKind::Blocked => "blocked",
        };
        self.conn
            .execute(
                "INSERT INTO vehicles (plate, color, household, kind, valid_from_ms, valid_until_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(plate) DO UPDATE SET color = ?2, household = ?3, kind = ?4, valid_from_ms = ?5,
                     valid_until_ms = ?6",
                params![normalise(&v.plate), v.color, v.household, kind, v.valid_from_ms, v.valid_until_ms],
            )
            .map_err(self.err())?;
        Ok(())
    }

    pub fn remove_vehicle(&self, plate: &str) -> Result<bool, RegisterError> {
        Ok(self.conn.execute("DELETE FROM vehicles WHERE plate = ?1", [normalise(plate)]).map_err(self.err())? > 0)
    }

    /// Every vehicle, for the matcher (a compound has thousands, not millions).
    pub fn vehicles(&self) -> Result<Vec<VehicleEntry>, RegisterError> {
        let mut st = self
            .conn
            .prepare("SELECT plate, color, household, kind, valid_from_ms, valid_until_ms FROM vehicles ORDER BY plate")
            .map_err(self.err())?;
        let rows = st
            .query_map([], |r| {
                let kind: String = r.get(3)?;
                Ok(VehicleEntry {
                    plate: r.get(0)?,
                    color: r.get(1)?,
                    household: r.get(2)?,
                    kind: match kind.as_str() {
                        "resident" => VehicleKind::Resident,
                        "visitor" => VehicleKind::Visitor,
                        _ => VehicleKind::Blocked,
                    },
                    valid_from_ms: r.get(4)?,
                    valid_until_ms: r.get(5)?,
                })
            })
            .map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }

    /// Applies a batch from central if it is the next version; returns the version the register
    /// is at afterwards. A repeated batch changes nothing; a batch that skips a version is not
    /// applied (central sends the missing ones first).
    pub fn apply_sync(&mut self, batch: &menwei_core::event::SyncBatch) -> Result<u64, RegisterError> {
        let current = self.version()?;
        if batch.version != current + 1 {
            return Ok(current);
        }
        let path = self.path.clone();
        let err = |source| RegisterError::Sqlite { path: path.clone(), source };
        let tx = self.conn.transaction().map_err(err)?;
        for r in &batch.residents {
            let status = if r.status == "suspended" { "suspended" } else { "active" };
            tx.execute(
                "INSERT INTO residents (id, household, status, consent_at, consent_method, guardian, face_opt_out)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT(id) DO UPDATE SET household = ?2,
                     status = CASE WHEN residents.status = 'erased' THEN 'erased' ELSE ?3 END,
                     consent_at = ?4, consent_method = ?5, guardian = ?6, face_opt_out = ?7",
                params![r.id, r.household, status, r.consent_at, r.consent_method, r.guardian, r.face_opt_out],
            )
            .map_err(err)?;
            if r.face_opt_out || r.consent_at.is_none() {
                tx.execute("DELETE FROM templates WHERE resident = ?1", [&r.id]).map_err(err)?;
            }
        }
        for v in &batch.vehicles {
            let kind = match v.kind {
                VehicleKind::Resident => "resident",
                VehicleKind::Visitor => "visitor",
                VehicleKind::Blocked => "blocked",
            };
            tx.execute(
                "INSERT INTO vehicles (plate, color, household, kind, valid_from_ms, valid_until_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(plate) DO UPDATE SET color = ?2, household = ?3, kind = ?4, valid_from_ms = ?5,
                     valid_until_ms = ?6",
                params![normalise(&v.plate), v.color, v.household, kind, v.valid_from_ms, v.valid_until_ms],
            )
            .map_err(err)?;
        }
        for p in &batch.remove_vehicles {
            tx.execute("DELETE FROM vehicles WHERE plate = ?1", [normalise(p)]).map_err(err)?;
        }
        for id in &batch.erase {
            tx.execute("DELETE FROM templates WHERE resident = ?1", [id]).map_err(err)?;
            tx.execute(
                "UPDATE residents SET status = 'erased', consent_at = NULL, consent_method = NULL, guardian = NULL
                 WHERE id = ?1",
                [id],
            )
            .map_err(err)?;
        }
        tx.execute("UPDATE meta SET value = ?1 WHERE key = 'version'", [batch.version]).map_err(err)?;
        tx.commit().map_err(err)?;
        if !batch.erase.is_empty() {
            self.conn.execute_batch("PRAGMA secure_delete = ON; VACUUM;").map_err(self.err())?;
        }
        Ok(batch.version)
    }

    /// The register version last applied from central.
    pub fn version(&self) -> Result<u64, RegisterError> {
        self.conn.query_row("SELECT value FROM meta WHERE key = 'version'", [], |r| r.get(0)).map_err(self.err())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(dir: &Path, mode: u32) -> PathBuf {
        let p = dir.join("template.key");
        std::fs::write(&p, "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        p
    }

    fn resident(id: &str, opt_out: bool) -> Resident {
        Resident {
            id: id.into(),
            household: "h-1".into(),
            status: ResidentStatus::Active,
            consent_at: Some("2026-11-01T10:00:00.000Z".into()),
            consent_method: Some("paper form".into()),
            guardian: None,
            face_opt_out: opt_out,
        }
    }

    #[test]
    fn templates_are_sealed_bound_to_their_resident_and_erasable() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("register.db");
        let reg = Register::open(&db, &key(dir.path(), 0o600)).unwrap();
        reg.upsert_resident(&resident("r-1", false)).unwrap();
        reg.upsert_resident(&resident("r-2", true)).unwrap();
        let t: Vec<f32> = (0..8).map(|i| 0.123_456_7 + i as f32).collect();
        reg.add_template("r-1", "m", &t).unwrap();
        assert!(matches!(reg.add_template("r-2", "m", &t), Err(RegisterError::OptedOut(_))));
        assert!(matches!(reg.add_template("nobody", "m", &t), Err(RegisterError::UnknownResident(_))));
        let (m, ids) = reg.load_templates("m", 8).unwrap();
        assert_eq!((m.len(), ids), (1, vec!["r-1".to_owned()]));
        // Moving a sealed template to another resident makes it undecryptable.
        reg.conn.execute("UPDATE residents SET face_opt_out = 0 WHERE id = 'r-2'", []).unwrap();
        reg.conn.execute("UPDATE templates SET resident = 'r-2'", []).unwrap();
        assert!(matches!(reg.load_templates("m", 8), Err(RegisterError::Decrypt { .. })));
        reg.conn.execute("UPDATE templates SET resident = 'r-1'", []).unwrap();
        assert_eq!(reg.erase("r-1").unwrap(), 1);
        assert_eq!(reg.resident("r-1").unwrap().unwrap().status, ResidentStatus::Erased);
        assert_eq!(reg.load_templates("m", 8).unwrap().0.len(), 0);
        assert!(matches!(reg.add_template("r-1", "m", &t), Err(RegisterError::Erased(_))));
    }

    #[test]
    fn templates_are_loaded_per_embedder_and_old_registers_hold_w600k_mbf() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("register.db");
        // A register from before templates named their model.
        let old = Connection::open(&db).unwrap();
        old.execute_batch(&SCHEMA.replace(",\n    model      TEXT NOT NULL DEFAULT 'w600k_mbf'", "")).unwrap();
        let cols: i64 = old.query_row("SELECT COUNT(*) FROM pragma_table_info('templates')", [], |r| r.get(0)).unwrap();
        assert_eq!(cols, 4);
        drop(old);
        let reg = Register::open(&db, &key(dir.path(), 0o600)).unwrap();
        reg.upsert_resident(&resident("r-1", false)).unwrap();
        reg.upsert_resident(&resident("r-2", false)).unwrap();
        // A row written without a model, as an older daemon wrote them, counts as w600k_mbf's.
        reg.conn.execute("INSERT INTO templates (resident, nonce, sealed) VALUES ('r-1', x'00', x'00')", []).unwrap();
        assert_eq!(reg.template_models().unwrap(), vec![("w600k_mbf".into(), 1)]);
        reg.conn.execute("DELETE FROM templates", []).unwrap();
        reg.add_template("r-1", "w600k_mbf", &[0.5; 8]).unwrap();
        reg.add_template("r-2", "dlib_resnet", &[0.5; 4]).unwrap();
        reg.add_template("r-2", "dlib_resnet", &[0.25; 4]).unwrap();
        assert_eq!(reg.template_models().unwrap(), vec![("dlib_resnet".into(), 1), ("w600k_mbf".into(), 1)]);
        let (m, ids) = reg.load_templates("dlib_resnet", 4).unwrap();
        assert_eq!((m.len(), ids), (2, vec!["r-2".to_owned()]));
        assert_eq!(reg.load_templates("w600k_mbf", 8).unwrap().1, vec!["r-1".to_owned()]);
    }

    #[test]
    fn vehicles_are_kept_by_normalised_plate() {
        let dir = tempfile::tempdir().unwrap();
        let reg = Register::open(&dir.path().join("r.db"), &key(dir.path(), 0o600)).unwrap();
        let v = VehicleEntry {
            plate: "粤b·12345".into(),
            color: Some("blue".into()),
            household: Some("h-1".into()),
            kind: VehicleKind::Resident,
            valid_from_ms: None,
            valid_until_ms: None,
        };
        reg.upsert_vehicle(&v).unwrap();
        reg.upsert_vehicle(&VehicleEntry { kind: VehicleKind::Blocked, ..v.clone() }).unwrap();
        let all = reg.vehicles().unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!((all[0].plate.as_str(), all[0].kind), ("粤B12345", VehicleKind::Blocked));
        assert!(reg.remove_vehicle("粤B12345").unwrap());
        assert!(reg.vehicles().unwrap().is_empty());
    }

    #[test]
    fn sync_batches_apply_in_order_once() {
        use menwei_core::event::{SyncBatch, SyncResident};
        let dir = tempfile::tempdir().unwrap();
        let mut reg = Register::open(&dir.path().join("r.db"), &key(dir.path(), 0o600)).unwrap();
        reg.upsert_resident(&resident("r-1", false)).unwrap();
        reg.add_template("r-1", "m", &[0.5; 4]).unwrap();
        let v2 = SyncBatch { version: 2, remove_vehicles: vec!["粤B12345".into()], ..Default::default() };
        assert_eq!(reg.apply_sync(&v2).unwrap(), 0, "version 1 first");
        let v1 = SyncBatch {
            version: 1,
            residents: vec![SyncResident {
                id: "r-2".into(),
                household: "h-2".into(),
                status: "active".into(),
                consent_at: None,
                consent_method: None,
                guardian: None,
                face_opt_out: true,
            }],
            vehicles: vec![VehicleEntry {
                plate: "粤B12345".into(),
                color: None,
                household: Some("h-2".into()),
                kind: VehicleKind::Resident,
                valid_from_ms: None,
                valid_until_ms: None,
            }],
            erase: vec!["r-1".into()],
            ..Default::default()
        };
        assert_eq!(reg.apply_sync(&v1).unwrap(), 1);
        assert_eq!(reg.apply_sync(&v1).unwrap(), 1, "a repeat changes nothing");
        assert_eq!(reg.template_count("r-1").unwrap(), 0);
        assert_eq!(reg.resident("r-1").unwrap().unwrap().status, ResidentStatus::Erased);
        assert!(reg.resident("r-2").unwrap().unwrap().face_opt_out);
        assert_eq!(reg.vehicles().unwrap().len(), 1);
        assert_eq!(reg.apply_sync(&v2).unwrap(), 2);
        assert!(reg.vehicles().unwrap().is_empty());
        assert_eq!(reg.version().unwrap(), 2);
    }

    #[test]
    fn a_suspended_resident_is_still_recognised_so_that_they_can_be_refused() {
        let dir = tempfile::tempdir().unwrap();
        let reg = Register::open(&dir.path().join("r.db"), &key(dir.path(), 0o600)).unwrap();
        reg.upsert_resident(&resident("r-1", false)).unwrap();
        reg.add_template("r-1", "m", &[0.5; 4]).unwrap();
        reg.upsert_resident(&Resident { status: ResidentStatus::Suspended, ..resident("r-1", false) }).unwrap();
        assert_eq!(reg.suspended().unwrap(), vec!["r-1".to_owned()]);
        assert_eq!(reg.load_templates("m", 4).unwrap().1, vec!["r-1".to_owned()]);
    }

    #[test]
    fn a_key_others_can_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let e = Register::open(&dir.path().join("r.db"), &key(dir.path(), 0o644)).unwrap_err().to_string();
        assert!(e.contains("chmod 600"), "{e}");
    }
}
