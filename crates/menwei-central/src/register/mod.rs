//! The register: the governance structure (district → community → grid, compound → gate and
//! building → unit → household → resident, vehicle), visitor passes, CSV import and export,
//! and its distribution to the compounds' edges.
//!
//! Every change that an edge must know (a vehicle, a pass, a resident's status or consent, an
//! erasure) appends a versioned [`SyncBatch`] for the compound in the same transaction. The
//! batches are published to the edge in order until it reports the version applied
//! (`sync/applied` or its heartbeat), so an edge that was offline catches up when it returns.
//! Face templates are never here: only whether face entry is enabled and the consent.
//!
//! One file per resource: [`structure`], `households`, `residents` (with erasure), `vehicles`,
//! `passes`, `sync` (the batches' distribution) and `csv`. Their public items are re-exported
//! here, so callers write `register::put_vehicle`. This file holds what they share: the
//! [`Fail`] of an operation and the field checks.

use menwei_core::event::{SyncBatch, SyncResident};
use menwei_core::rules::{VehicleEntry, VehicleKind};
use serde::{Deserialize, Serialize};

use crate::auth::{Scope, User};
use crate::db::{DbError, Row, Tx};
use crate::params;

/// Why a register operation did not happen. The transaction it ran in is rolled back.
#[derive(Debug, thiserror::Error)]
pub enum Fail {
    #[error(transparent)]
    Db(#[from] DbError),
    /// Field → message.
    #[error("invalid input: {}", join_fields(.0))]
    Invalid(Vec<(String, String)>),
    /// CSV rows: (row, field, message).
    #[error("{} rows refused", .0.len())]
    Rows(Vec<(usize, String, String)>),
    #[error("not allowed for this user")]
    Forbidden,
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
}

fn join_fields(fields: &[(String, String)]) -> String {
    fields.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join("; ")
}

/// Collects field errors.
#[derive(Debug, Default)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.push((field.to_owned(), message.into()));
    }
    pub fn finish(self) -> Result<(), Fail> {
        if self.0.is_empty() { Ok(()) } else { Err(Fail::Invalid(self.0)) }
    }
}

pub fn safe_ref(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn check_name(f: &mut Fields, field: &str, s: &str) {
    if s.trim().is_empty() {
        f.add(field, "is required");
    } else if s.chars().count() > 64 {
        f.add(field, "is longer than 64 characters");
    }
}

fn check_phone(f: &mut Fields, field: &str, s: Option<&str>) {
    if let Some(p) = s
        && !(p.len() <= 20 && p.chars().all(|c| c.is_ascii_digit() || c == '-' || c == '+' || c == ' '))
    {
        f.add(field, "may hold only digits, spaces, `+` and `-` (20 at most)");
    }
}

mod csv;
mod households;
mod passes;
mod residents;
pub mod structure;
mod sync;
mod vehicles;

pub use csv::*;
pub use households::*;
pub use passes::*;
pub use residents::*;
pub use sync::*;
pub use vehicles::*;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moving_a_vehicle_tells_both_edges_and_a_current_pass_outlives_the_vehicle() {
        use crate::auth::Role;
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::Db::open_sqlite(&dir.path().join("c.db")).unwrap();
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/district.example.toml");
        let file: structure::File = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let admin = User { id: 0, username: "t".into(), role: Role::Admin, scope: Scope::all() };
        let now = 1_000_000;
        let home = |r: &str, c: &str, b: &str| HouseholdIn {
            reference: r.into(),
            compound: c.into(),
            building: b.into(),
            unit: "1单元".into(),
            room: "1".into(),
            phone: None,
        };
        db.tx(|t| {
            structure::apply(t, &file)?;
            add_household(t, &admin, &home("h-101", "c-demo", "1号楼"))?;
            add_household(t, &admin, &home("h-e1", "c-east", "A座"))?;
            let car =
                |h: &str| VehicleIn { plate: "冀G12345".into(), household: h.into(), color: None, blocked: false };
            put_vehicle(t, &admin, &car("h-101"), now)?;
            put_vehicle(t, &admin, &car("h-e1"), now)?;
            let batch = |t: &mut Tx<'_>, c: &str| -> serde_json::Value {
                let r = t
                    .one("SELECT body FROM sync_batches WHERE compound = $1 ORDER BY version DESC LIMIT 1", params![c])
                    .unwrap()
                    .expect("a batch");
                serde_json::from_str(&r.text(0)).unwrap()
            };
            assert_eq!(batch(t, "c-demo")["remove_vehicles"][0], "冀G12345", "the old compound's edge forgets it");
            assert_eq!(batch(t, "c-east")["vehicles"][0]["kind"], "resident");
            let pass = PassIn {
                compound: "c-east".into(),
                household: "h-e1".into(),
                kind: "plate".into(),
                plate: Some("冀G12345".into()),
                visitor: "亲戚".into(),
                valid_from_ms: None,
                valid_until_ms: Some(now + 3_600_000),
            };
            issue_pass(t, &admin, &pass, now)?;
            delete_vehicle(t, &admin, "冀G12345", now)?;
            let b = batch(t, "c-east");
            assert_eq!(
                (b["vehicles"][0]["kind"].as_str(), b["remove_vehicles"].as_array().map(Vec::len)),
                (Some("visitor"), Some(0))
            );
            Ok::<_, Fail>(())
        })
        .unwrap();
    }
}
