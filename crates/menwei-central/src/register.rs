//! The register: the governance structure (district → community → grid, compound → gate and
//! building → unit → household → resident, vehicle), visitor passes, CSV import and export,
//! and its distribution to the compounds' edges.
//!
//! Every change that an edge must know (a vehicle, a pass, a resident's status or consent, an
//! erasure) appends a versioned [`SyncBatch`] for the compound in the same transaction. The
//! batches are published to the edge in order until it reports the version applied
//! (`sync/applied` or its heartbeat), so an edge that was offline catches up when it returns.
//! Face templates are never here: only whether face entry is enabled and the consent.

use menwei_core::event::{SyncBatch, SyncResident};
use menwei_core::rules::{VehicleEntry, VehicleKind};
use serde::{Deserialize, Serialize};

use crate::auth::{Scope, User};
use crate::db::{DbError, Row, Tx};
use crate::params;

/// Why a register operation did not happen. The transaction it ran in is rolled back.
#[derive(Debug)]
pub enum Fail {
    Db(DbError),
    /// Field → message.
    Invalid(Vec<(String, String)>),
    /// CSV rows: (row, field, message).
    Rows(Vec<(usize, String, String)>),
    Forbidden,
    NotFound(String),
    Conflict(String),
}

impl From<DbError> for Fail {
    fn from(e: DbError) -> Self {
        Fail::Db(e)
    }
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

// --- structure ---------------------------------------------------------------------------------

pub mod structure {
    //! The structure file (`menwei-central structure FILE`, `PUT /api/structure`).
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct File {
        pub districts: Vec<District>,
    }
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct District {
        pub name: String,
        #[serde(default)]
        pub communities: Vec<Community>,
    }
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Community {
        pub name: String,
        #[serde(default)]
        pub grids: Vec<Grid>,
        #[serde(default)]
        pub compounds: Vec<Compound>,
    }
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Grid {
        pub name: String,
        #[serde(default)]
        pub staff: Vec<Staff>,
    }
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Staff {
        pub name: String,
        pub role: String,
        pub phone: Option<String>,
    }
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Compound {
        pub code: String,
        pub name: String,
        pub property_company: Option<Company>,
        #[serde(default)]
        pub map: [f64; 4],
        #[serde(default)]
        pub gates: Vec<Gate>,
        #[serde(default)]
        pub buildings: Vec<Building>,
    }
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Company {
        pub name: String,
        /// `commercial`, `red` (the state-owned service) or `self` (self-governed).
        pub kind: String,
    }
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Gate {
        pub name: String,
        pub grid: String,
        #[serde(default)]
        pub at: [f64; 2],
        #[serde(default)]
        pub cameras: Vec<Camera>,
    }
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Camera {
        pub name: String,
        pub role: String,
    }
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Building {
        pub name: String,
        pub grid: String,
        #[serde(default)]
        pub map: [f64; 4],
        #[serde(default)]
        pub units: Vec<String>,
    }

    /// Every problem with its key path; nothing is applied when there is one.
    pub fn validate(file: &File) -> Vec<(String, String)> {
        let mut f = Fields::default();
        for (di, d) in file.districts.iter().enumerate() {
            let dp = format!("districts[{di}]");
            check_name(&mut f, &format!("{dp}.name"), &d.name);
            for (ci, c) in d.communities.iter().enumerate() {
                let cp = format!("{dp}.communities[{ci}]");
                check_name(&mut f, &format!("{cp}.name"), &c.name);
                let grids: Vec<&str> = c.grids.iter().map(|g| g.name.as_str()).collect();
                for (gi, g) in c.grids.iter().enumerate() {
                    check_name(&mut f, &format!("{cp}.grids[{gi}].name"), &g.name);
                    for (si, s) in g.staff.iter().enumerate() {
                        let sp = format!("{cp}.grids[{gi}].staff[{si}]");
                        check_name(&mut f, &format!("{sp}.name"), &s.name);
                        if !crate::orders::STAFF_ROLES.contains(&s.role.as_str()) {
                            f.add(
                                &format!("{sp}.role"),
                                format!("must be one of {}", crate::orders::STAFF_ROLES.join(", ")),
                            );
                        }
                        check_phone(&mut f, &format!("{sp}.phone"), s.phone.as_deref());
                    }
                }
                for (ki, k) in c.compounds.iter().enumerate() {
                    let kp = format!("{cp}.compounds[{ki}]");
                    if !safe_ref(&k.code) {
                        f.add(&format!("{kp}.code"), "may use only A-Z, a-z, 0-9, `-` and `_` (1 to 64)");
                    }
                    check_name(&mut f, &format!("{kp}.name"), &k.name);
                    if let Some(p) = &k.property_company
                        && !["commercial", "red", "self"].contains(&p.kind.as_str())
                    {
                        f.add(&format!("{kp}.property_company.kind"), "must be commercial, red or self");
                    }
                    for (gi, g) in k.gates.iter().enumerate() {
                        check_name(&mut f, &format!("{kp}.gates[{gi}].name"), &g.name);
                        if !grids.contains(&g.grid.as_str()) {
                            f.add(&format!("{kp}.gates[{gi}].grid"), format!("no grid `{}` in this community", g.grid));
                        }
                        for (ci2, cam) in g.cameras.iter().enumerate() {
                            check_name(&mut f, &format!("{kp}.gates[{gi}].cameras[{ci2}].name"), &cam.name);
                            if !["face", "plate", "both"].contains(&cam.role.as_str()) {
                                f.add(&format!("{kp}.gates[{gi}].cameras[{ci2}].role"), "must be face, plate or both");
                            }
                        }
                    }
                    for (bi, b) in k.buildings.iter().enumerate() {
                        check_name(&mut f, &format!("{kp}.buildings[{bi}].name"), &b.name);
                        if !grids.contains(&b.grid.as_str()) {
                            f.add(
                                &format!("{kp}.buildings[{bi}].grid"),
                                format!("no grid `{}` in this community", b.grid),
                            );
                        }
                    }
                }
            }
        }
        f.0
    }

    fn upsert(t: &mut Tx<'_>, sql: &str, p: &[crate::db::Value]) -> Result<i64, DbError> {
        t.int(sql, p)
    }

    /// Applies a validated file (idempotent: names are the keys).
    pub fn apply(t: &mut Tx<'_>, file: &File) -> Result<(), Fail> {
        let problems = validate(file);
        if !problems.is_empty() {
            return Err(Fail::Invalid(problems));
        }
        for d in &file.districts {
            let did = upsert(
                t,
                "INSERT INTO districts (name) VALUES ($1) ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id",
                params![d.name.as_str()],
            )?;
            for c in &d.communities {
                let cid = upsert(
                    t,
                    "INSERT INTO communities (district_id, name) VALUES ($1, $2)
                     ON CONFLICT (district_id, name) DO UPDATE SET name = excluded.name RETURNING id",
                    params![did, c.name.as_str()],
                )?;
                let mut grid_ids = std::collections::HashMap::new();
                for g in &c.grids {
                    let gid = upsert(
                        t,
                        "INSERT INTO grids (community_id, name) VALUES ($1, $2)
                         ON CONFLICT (community_id, name) DO UPDATE SET name = excluded.name RETURNING id",
                        params![cid, g.name.as_str()],
                    )?;
                    grid_ids.insert(g.name.as_str(), gid);
                    for s in &g.staff {
                        let n = t.exec(
                            "UPDATE staff SET role = $3, phone = $4 WHERE grid_id = $1 AND name = $2",
                            params![gid, s.name.as_str(), s.role.as_str(), s.phone.as_deref()],
                        )?;
                        if n == 0 {
                            t.exec(
                                "INSERT INTO staff (grid_id, name, role, phone) VALUES ($1, $2, $3, $4)",
                                params![gid, s.name.as_str(), s.role.as_str(), s.phone.as_deref()],
                            )?;
                        }
                    }
                }
                for k in &c.compounds {
                    let company = match &k.property_company {
                        Some(p) => Some(upsert(
                            t,
                            "INSERT INTO property_companies (name, kind) VALUES ($1, $2)
                             ON CONFLICT (name) DO UPDATE SET kind = excluded.kind RETURNING id",
                            params![p.name.as_str(), p.kind.as_str()],
                        )?),
                        None => None,
                    };
                    let [x, y, w, h] = k.map;
                    let kid = upsert(
                        t,
                        "INSERT INTO compounds (code, community_id, name, property_company_id, x, y, w, h)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                         ON CONFLICT (code) DO UPDATE SET community_id = excluded.community_id, name = excluded.name,
                             property_company_id = excluded.property_company_id,
                             x = excluded.x, y = excluded.y, w = excluded.w, h = excluded.h
                         RETURNING id",
                        params![k.code.as_str(), cid, k.name.as_str(), company, x, y, w, h],
                    )?;
                    for g in &k.gates {
                        let gid = upsert(
                            t,
                            "INSERT INTO gates (compound_id, name, grid_id, x, y) VALUES ($1, $2, $3, $4, $5)
                             ON CONFLICT (compound_id, name) DO UPDATE SET grid_id = excluded.grid_id, x = excluded.x, y = excluded.y
                             RETURNING id",
                            params![kid, g.name.as_str(), grid_ids[g.grid.as_str()], g.at[0], g.at[1]],
                        )?;
                        for cam in &g.cameras {
                            t.exec(
                                "INSERT INTO cameras (gate_id, name, role) VALUES ($1, $2, $3)
                                 ON CONFLICT (gate_id, name) DO UPDATE SET role = excluded.role",
                                params![gid, cam.name.as_str(), cam.role.as_str()],
                            )?;
                        }
                    }
                    for b in &k.buildings {
                        let [x, y, w, h] = b.map;
                        let bid = upsert(
                            t,
                            "INSERT INTO buildings (compound_id, grid_id, name, x, y, w, h) VALUES ($1, $2, $3, $4, $5, $6, $7)
                             ON CONFLICT (compound_id, name) DO UPDATE SET grid_id = excluded.grid_id,
                                 x = excluded.x, y = excluded.y, w = excluded.w, h = excluded.h
                             RETURNING id",
                            params![kid, grid_ids[b.grid.as_str()], b.name.as_str(), x, y, w, h],
                        )?;
                        for u in &b.units {
                            t.exec(
                                "INSERT INTO units (building_id, name) VALUES ($1, $2) ON CONFLICT (building_id, name) DO NOTHING",
                                params![bid, u.as_str()],
                            )?;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

// --- households ---------------------------------------------------------------------------------

/// Where a household lives: ids for scoping and the compound code for distribution.
#[derive(Clone, Debug)]
pub struct Place {
    pub household_id: i64,
    pub grid_id: i64,
    pub compound_id: i64,
    pub compound: String,
}

const PLACE: &str = "SELECT h.id, b.grid_id, c.id, c.code FROM households h JOIN units u ON u.id = h.unit_id
    JOIN buildings b ON b.id = u.building_id JOIN compounds c ON c.id = b.compound_id";

pub fn place_of(t: &mut Tx<'_>, household_ref: &str) -> Result<Option<Place>, DbError> {
    Ok(t.one(&format!("{PLACE} WHERE h.ref = $1"), params![household_ref])?.map(|r| Place {
        household_id: r.int(0),
        grid_id: r.int(1),
        compound_id: r.int(2),
        compound: r.text(3),
    }))
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HouseholdIn {
    #[serde(rename = "ref", default)]
    pub reference: String,
    #[serde(default)]
    pub compound: String,
    #[serde(default)]
    pub building: String,
    #[serde(default)]
    pub unit: String,
    #[serde(default)]
    pub room: String,
    pub phone: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Household {
    pub id: i64,
    #[serde(rename = "ref")]
    pub reference: String,
    pub compound: String,
    pub building: String,
    pub unit: String,
    pub room: String,
    pub phone: Option<String>,
    pub grid_id: i64,
    pub residents: i64,
}

const HOUSEHOLDS: &str = "SELECT h.id, h.ref, c.code, b.name, u.name, h.room, h.phone, b.grid_id,
        (SELECT COUNT(*) FROM residents r WHERE r.household_id = h.id AND r.status <> 'erased')
    FROM households h JOIN units u ON u.id = h.unit_id JOIN buildings b ON b.id = u.building_id
    JOIN compounds c ON c.id = b.compound_id";

fn household_row(r: &Row) -> Household {
    Household {
        id: r.int(0),
        reference: r.text(1),
        compound: r.text(2),
        building: r.text(3),
        unit: r.text(4),
        room: r.text(5),
        phone: r.opt_text(6),
        grid_id: r.int(7),
        residents: r.int(8),
    }
}

pub fn households(t: &mut Tx<'_>, scope: &Scope) -> Result<Vec<Household>, DbError> {
    let sql =
        format!("{HOUSEHOLDS} WHERE {} ORDER BY c.code, b.name, u.name, h.room", scope.clause("b.grid_id", "c.id"));
    Ok(t.query(&sql, params![])?.iter().map(household_row).collect())
}

pub fn household(t: &mut Tx<'_>, user: &User, id: i64) -> Result<Household, Fail> {
    let h = t
        .one(&format!("{HOUSEHOLDS} WHERE h.id = $1"), params![id])?
        .map(|r| household_row(&r))
        .ok_or_else(|| Fail::NotFound(format!("household {id}")))?;
    let compound = t.int("SELECT id FROM compounds WHERE code = $1", params![h.compound.as_str()])?;
    if !user.scope.allows(Some(h.grid_id), Some(compound)) {
        return Err(Fail::Forbidden);
    }
    Ok(h)
}

fn check_household(t: &mut Tx<'_>, h: &HouseholdIn) -> Result<Result<i64, Fields>, DbError> {
    let mut f = Fields::default();
    if !safe_ref(&h.reference) {
        f.add("ref", "is required: A-Z, a-z, 0-9, `-` and `_` (1 to 64)");
    }
    for (k, v) in [("compound", &h.compound), ("building", &h.building), ("unit", &h.unit), ("room", &h.room)] {
        check_name(&mut f, k, v);
    }
    check_phone(&mut f, "phone", h.phone.as_deref());
    if !f.0.is_empty() {
        return Ok(Err(f));
    }
    let unit = t.one(
        "SELECT u.id FROM units u JOIN buildings b ON b.id = u.building_id JOIN compounds c ON c.id = b.compound_id
         WHERE c.code = $1 AND b.name = $2 AND u.name = $3",
        params![h.compound.as_str(), h.building.as_str(), h.unit.as_str()],
    )?;
    match unit {
        Some(u) => Ok(Ok(u.int(0))),
        None => {
            f.add("unit", format!("no unit `{}` in building `{}` of compound `{}`", h.unit, h.building, h.compound));
            Ok(Err(f))
        }
    }
}

/// The unit a household entry names, checked, and within the caller's scope.
fn unit_in_scope(t: &mut Tx<'_>, user: &User, h: &HouseholdIn) -> Result<i64, Fail> {
    let unit = check_household(t, h)?.map_err(|f| Fail::Invalid(f.0))?;
    let r = t
        .one(
            "SELECT b.grid_id, b.compound_id FROM units u JOIN buildings b ON b.id = u.building_id WHERE u.id = $1",
            params![unit],
        )?
        .ok_or_else(|| Fail::NotFound("unit".into()))?;
    if !user.scope.allows(Some(r.int(0)), Some(r.int(1))) {
        return Err(Fail::Forbidden);
    }
    Ok(unit)
}

/// Adds a household, or updates the one with this ref (the CSV import).
fn put_household(t: &mut Tx<'_>, user: &User, h: &HouseholdIn) -> Result<(), Fail> {
    let Some(id) = t.one("SELECT id FROM households WHERE ref = $1", params![h.reference.as_str()])?.map(|r| r.int(0))
    else {
        return add_household(t, user, h).map(drop);
    };
    household(t, user, id)?; // the household as it is must be in scope
    let unit = unit_in_scope(t, user, h)?;
    t.exec(
        "UPDATE households SET unit_id = $2, room = $3, phone = $4 WHERE id = $1",
        params![id, unit, h.room.as_str(), h.phone.as_deref()],
    )?;
    Ok(())
}

/// The CSV import's update of a registered resident: the household must be the registered one.
fn update_resident_row(
    t: &mut Tx<'_>,
    user: &User,
    reference: &str,
    household: &str,
    patch: ResidentPatch,
    now_ms: i64,
) -> Result<(), Fail> {
    let current = resident(t, user, reference)?;
    if current.household != household {
        return Err(Fail::Invalid(vec![(
            "household".into(),
            format!(
                "resident `{reference}` is registered in `{}`; moving a resident is not done by import",
                current.household
            ),
        )]));
    }
    patch_resident(t, user, reference, &patch, now_ms).map(drop)
}

pub fn add_household(t: &mut Tx<'_>, user: &User, h: &HouseholdIn) -> Result<i64, Fail> {
    let unit = unit_in_scope(t, user, h)?;
    if t.one("SELECT 1 FROM households WHERE ref = $1", params![h.reference.as_str()])?.is_some() {
        return Err(Fail::Invalid(vec![("ref".into(), format!("household `{}` exists", h.reference))]));
    }
    Ok(t.int(
        "INSERT INTO households (ref, unit_id, room, phone) VALUES ($1, $2, $3, $4) RETURNING id",
        params![h.reference.as_str(), unit, h.room.as_str(), h.phone.as_deref()],
    )?)
}

// --- residents -----------------------------------------------------------------------------------

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResidentIn {
    #[serde(rename = "ref", default)]
    pub reference: String,
    #[serde(default)]
    pub household: String,
    #[serde(default)]
    pub name: String,
    pub phone: Option<String>,
    /// `active` or `suspended`.
    pub status: Option<String>,
    #[serde(default)]
    pub face_enabled: bool,
    pub consent_at: Option<String>,
    pub consent_method: Option<String>,
    pub guardian: Option<String>,
}

/// `PATCH /api/residents/{ref}`: only the fields given change.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResidentPatch {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub status: Option<String>,
    pub face_enabled: Option<bool>,
    pub consent_at: Option<String>,
    pub consent_method: Option<String>,
    pub guardian: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Resident {
    #[serde(rename = "ref")]
    pub reference: String,
    pub household: String,
    pub name: String,
    pub phone: Option<String>,
    pub status: String,
    pub face_enabled: bool,
    pub consent_at: Option<String>,
    pub consent_method: Option<String>,
    pub guardian: Option<String>,
}

const RESIDENTS: &str =
    "SELECT r.ref, h.ref, r.name, r.phone, r.status, r.face_enabled, r.consent_at, r.consent_method,
        r.guardian, b.grid_id, b.compound_id
    FROM residents r JOIN households h ON h.id = r.household_id JOIN units u ON u.id = h.unit_id
    JOIN buildings b ON b.id = u.building_id";

fn resident_row(r: &Row) -> Resident {
    Resident {
        reference: r.text(0),
        household: r.text(1),
        name: r.text(2),
        phone: r.opt_text(3),
        status: r.text(4),
        face_enabled: r.flag(5),
        consent_at: r.opt_text(6),
        consent_method: r.opt_text(7),
        guardian: r.opt_text(8),
    }
}

pub fn residents(t: &mut Tx<'_>, scope: &Scope) -> Result<Vec<Resident>, DbError> {
    let sql = format!("{RESIDENTS} WHERE {} ORDER BY h.ref, r.ref", scope.clause("b.grid_id", "b.compound_id"));
    Ok(t.query(&sql, params![])?.iter().map(resident_row).collect())
}

pub fn resident(t: &mut Tx<'_>, user: &User, reference: &str) -> Result<Resident, Fail> {
    let r = t
        .one(&format!("{RESIDENTS} WHERE r.ref = $1"), params![reference])?
        .ok_or_else(|| Fail::NotFound(format!("resident {reference}")))?;
    if !user.scope.allows(r.opt_int(9), r.opt_int(10)) {
        return Err(Fail::Forbidden);
    }
    Ok(resident_row(&r))
}

/// Checks the consent rule: face entry needs a recorded consent (when and how).
fn check_resident_fields(f: &mut Fields, r: &Resident) {
    check_name(f, "name", &r.name);
    check_phone(f, "phone", r.phone.as_deref());
    if !["active", "suspended"].contains(&r.status.as_str()) {
        f.add("status", "must be active or suspended");
    }
    if r.face_enabled {
        if r.consent_at.as_deref().is_none_or(|c| c.len() < 10 || !c.as_bytes()[..4].iter().all(u8::is_ascii_digit)) {
            f.add("consent_at", "face entry needs the date consent was given (YYYY-MM-DD or RFC 3339)");
        }
        if !r.consent_method.as_deref().is_some_and(|m| ["written", "app", "guardian"].contains(&m)) {
            f.add("consent_method", "face entry needs how consent was given: written, app or guardian");
        }
        if r.consent_method.as_deref() == Some("guardian") && r.guardian.as_deref().is_none_or(str::is_empty) {
            f.add("guardian", "consent by a guardian needs the guardian's name");
        }
    }
}

fn sync_resident(r: &Resident) -> SyncResident {
    SyncResident {
        id: r.reference.clone(),
        household: r.household.clone(),
        status: r.status.clone(),
        consent_at: r.consent_at.clone(),
        consent_method: r.consent_method.clone(),
        guardian: r.guardian.clone(),
        face_opt_out: !r.face_enabled,
    }
}

pub fn add_resident(t: &mut Tx<'_>, user: &User, input: &ResidentIn, now_ms: i64) -> Result<(), Fail> {
    let mut f = Fields::default();
    if !safe_ref(&input.reference) {
        f.add("ref", "is required: A-Z, a-z, 0-9, `-` and `_` (1 to 64)");
    }
    let r = Resident {
        reference: input.reference.clone(),
        household: input.household.clone(),
        name: input.name.clone(),
        phone: input.phone.clone(),
        status: input.status.clone().unwrap_or_else(|| "active".into()),
        face_enabled: input.face_enabled,
        consent_at: input.consent_at.clone(),
        consent_method: input.consent_method.clone(),
        guardian: input.guardian.clone(),
    };
    check_resident_fields(&mut f, &r);
    let place = place_of(t, &input.household)?;
    if place.is_none() {
        f.add("household", format!("no household `{}`", input.household));
    }
    if t.one("SELECT 1 FROM residents WHERE ref = $1", params![input.reference.as_str()])?.is_some() {
        f.add("ref", format!("resident `{}` exists", input.reference));
    }
    f.finish()?;
    let place = place.expect("checked");
    if !user.scope.allows(Some(place.grid_id), Some(place.compound_id)) {
        return Err(Fail::Forbidden);
    }
    t.exec(
        "INSERT INTO residents (ref, household_id, name, phone, status, face_enabled, consent_at, consent_method, guardian)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        params![
            r.reference.as_str(),
            place.household_id,
            r.name.as_str(),
            r.phone.as_deref(),
            r.status.as_str(),
            r.face_enabled,
            r.consent_at.as_deref(),
            r.consent_method.as_deref(),
            r.guardian.as_deref()
        ],
    )?;
    queue(t, &place.compound, SyncBatch { residents: vec![sync_resident(&r)], ..Default::default() }, now_ms)?;
    Ok(())
}

pub fn patch_resident(
    t: &mut Tx<'_>,
    user: &User,
    reference: &str,
    p: &ResidentPatch,
    now_ms: i64,
) -> Result<Resident, Fail> {
    let mut r = resident(t, user, reference)?;
    if r.status == "erased" {
        return Err(Fail::Conflict(format!("resident {reference} was erased")));
    }
    if let Some(v) = &p.name {
        r.name = v.clone();
    }
    if let Some(v) = &p.phone {
        r.phone = Some(v.clone()).filter(|s| !s.is_empty());
    }
    if let Some(v) = &p.status {
        r.status = v.clone();
    }
    if let Some(v) = p.face_enabled {
        r.face_enabled = v;
    }
    if let Some(v) = &p.consent_at {
        r.consent_at = Some(v.clone()).filter(|s| !s.is_empty());
    }
    if let Some(v) = &p.consent_method {
        r.consent_method = Some(v.clone()).filter(|s| !s.is_empty());
    }
    if let Some(v) = &p.guardian {
        r.guardian = Some(v.clone()).filter(|s| !s.is_empty());
    }
    let mut f = Fields::default();
    check_resident_fields(&mut f, &r);
    f.finish()?;
    t.exec(
        "UPDATE residents SET name = $2, phone = $3, status = $4, face_enabled = $5, consent_at = $6, consent_method = $7,
             guardian = $8 WHERE ref = $1",
        params![
            reference,
            r.name.as_str(),
            r.phone.as_deref(),
            r.status.as_str(),
            r.face_enabled,
            r.consent_at.as_deref(),
            r.consent_method.as_deref(),
            r.guardian.as_deref()
        ],
    )?;
    let place = place_of(t, &r.household)?.ok_or_else(|| Fail::NotFound("household".into()))?;
    queue(t, &place.compound, SyncBatch { residents: vec![sync_resident(&r)], ..Default::default() }, now_ms)?;
    Ok(r)
}

/// Erases a resident: personal fields are cleared centrally and every edge that may hold their
/// face data (their compound's, and any that reported them) gets an erase instruction, tracked
/// until each confirms. Returns the erasure id.
pub fn erase_resident(t: &mut Tx<'_>, user: &User, reference: &str, now_ms: i64) -> Result<i64, Fail> {
    let r = resident(t, user, reference)?;
    if r.status == "erased" {
        return Err(Fail::Conflict(format!("resident {reference} was already erased")));
    }
    let home = place_of(t, &r.household)?.ok_or_else(|| Fail::NotFound("household".into()))?;
    let mut compounds = vec![home.compound.clone()];
    for row in t.query("SELECT DISTINCT compound FROM events WHERE resident_ref = $1", params![reference])? {
        if !compounds.contains(&row.text(0)) {
            compounds.push(row.text(0));
        }
    }
    t.exec(
        "UPDATE residents SET name = '', phone = NULL, status = 'erased', face_enabled = 0, consent_at = NULL,
             consent_method = NULL, guardian = NULL, erased_ms = $2 WHERE ref = $1",
        params![reference, now_ms],
    )?;
    let id = t.int(
        "INSERT INTO erasures (resident_ref, requested_ms, requested_by) VALUES ($1, $2, $3) RETURNING id",
        params![reference, now_ms, user.username.as_str()],
    )?;
    for c in compounds {
        let version = queue(t, &c, SyncBatch { erase: vec![reference.to_owned()], ..Default::default() }, now_ms)?;
        t.exec(
            "INSERT INTO erasure_targets (erasure_id, compound, version) VALUES ($1, $2, $3)",
            params![id, c.as_str(), version],
        )?;
    }
    Ok(id)
}

#[derive(Clone, Debug, Serialize)]
pub struct ErasureTarget {
    pub compound: String,
    pub version: i64,
    pub confirmed_ms: Option<i64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Erasure {
    pub id: i64,
    pub resident_ref: String,
    pub requested_ms: i64,
    pub pending: usize,
    pub targets: Vec<ErasureTarget>,
}

pub fn erasures(t: &mut Tx<'_>, scope: &Scope) -> Result<Vec<Erasure>, DbError> {
    let sql = format!(
        "SELECT e.id, e.resident_ref, e.requested_ms FROM erasures e JOIN residents r ON r.ref = e.resident_ref
         JOIN households h ON h.id = r.household_id JOIN units u ON u.id = h.unit_id JOIN buildings b ON b.id = u.building_id
         WHERE {} ORDER BY e.id DESC LIMIT 200",
        scope.clause("b.grid_id", "b.compound_id")
    );
    let mut out = Vec::new();
    for r in t.query(&sql, params![])? {
        let targets: Vec<ErasureTarget> = t
            .query(
                "SELECT compound, version, confirmed_ms FROM erasure_targets WHERE erasure_id = $1 ORDER BY compound",
                params![r.int(0)],
            )?
            .iter()
            .map(|x| ErasureTarget { compound: x.text(0), version: x.int(1), confirmed_ms: x.opt_int(2) })
            .collect();
        out.push(Erasure {
            id: r.int(0),
            resident_ref: r.text(1),
            requested_ms: r.int(2),
            pending: targets.iter().filter(|x| x.confirmed_ms.is_none()).count(),
            targets,
        });
    }
    Ok(out)
}

// --- vehicles -----------------------------------------------------------------------------------

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VehicleIn {
    #[serde(default)]
    pub plate: String,
    #[serde(default)]
    pub household: String,
    pub color: Option<String>,
    #[serde(default)]
    pub blocked: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Vehicle {
    pub plate: String,
    pub household: String,
    pub color: Option<String>,
    pub blocked: bool,
}

const VEHICLES: &str = "SELECT v.plate, h.ref, v.color, v.blocked, b.grid_id, b.compound_id
    FROM vehicles v JOIN households h ON h.id = v.household_id JOIN units u ON u.id = h.unit_id
    JOIN buildings b ON b.id = u.building_id";

pub fn vehicles(t: &mut Tx<'_>, scope: &Scope) -> Result<Vec<Vehicle>, DbError> {
    let sql = format!("{VEHICLES} WHERE {} ORDER BY v.plate", scope.clause("b.grid_id", "b.compound_id"));
    Ok(t.query(&sql, params![])?
        .iter()
        .map(|r| Vehicle { plate: r.text(0), household: r.text(1), color: r.opt_text(2), blocked: r.flag(3) })
        .collect())
}

/// A plate in its canonical form, or the reason it is not a plate.
pub fn plate(s: &str) -> Result<String, String> {
    menwei_core::plate::PlateNumber::parse(s).map(|p| p.as_str().to_owned()).map_err(|e| e.to_string())
}

const COLORS: [&str; 5] = ["blue", "yellow", "green", "white", "black"];

fn vehicle_entry(v: &Vehicle) -> VehicleEntry {
    VehicleEntry {
        plate: v.plate.clone(),
        color: v.color.clone(),
        household: Some(v.household.clone()),
        kind: if v.blocked { VehicleKind::Blocked } else { VehicleKind::Resident },
        valid_from_ms: None,
        valid_until_ms: None,
    }
}

/// Adds or updates a vehicle.
pub fn put_vehicle(t: &mut Tx<'_>, user: &User, v: &VehicleIn, now_ms: i64) -> Result<Vehicle, Fail> {
    let mut f = Fields::default();
    let canonical = plate(&v.plate).map_err(|e| f.add("plate", e)).ok();
    if let Some(c) = &v.color
        && !COLORS.contains(&c.as_str())
    {
        f.add("color", format!("must be one of {}", COLORS.join(", ")));
    }
    let place = place_of(t, &v.household)?;
    if place.is_none() {
        f.add("household", format!("no household `{}`", v.household));
    }
    f.finish()?;
    let (plate, place) = (canonical.expect("checked"), place.expect("checked"));
    if !user.scope.allows(Some(place.grid_id), Some(place.compound_id)) {
        return Err(Fail::Forbidden);
    }
    // Moving a plate between households needs the old one in scope too; moving it to another
    // compound removes it from the old compound's edge.
    let old = t.one(&format!("{VEHICLES} WHERE v.plate = $1"), params![plate.as_str()])?;
    if let Some(old) = &old
        && !user.scope.allows(old.opt_int(4), old.opt_int(5))
    {
        return Err(Fail::Forbidden);
    }
    if let Some(old_place) = old.map(|o| o.text(1)).map(|h| place_of(t, &h)).transpose()?.flatten()
        && old_place.compound != place.compound
    {
        queue(
            t,
            &old_place.compound,
            SyncBatch { remove_vehicles: vec![plate.clone()], ..Default::default() },
            now_ms,
        )?;
    }
    t.exec(
        "INSERT INTO vehicles (plate, household_id, color, blocked) VALUES ($1, $2, $3, $4)
         ON CONFLICT (plate) DO UPDATE SET household_id = excluded.household_id, color = excluded.color, blocked = excluded.blocked",
        params![plate.as_str(), place.household_id, v.color.as_deref(), v.blocked],
    )?;
    let out = Vehicle { plate, household: v.household.clone(), color: v.color.clone(), blocked: v.blocked };
    queue(t, &place.compound, SyncBatch { vehicles: vec![vehicle_entry(&out)], ..Default::default() }, now_ms)?;
    Ok(out)
}

pub fn delete_vehicle(t: &mut Tx<'_>, user: &User, plate_text: &str, now_ms: i64) -> Result<(), Fail> {
    let p = plate(plate_text).unwrap_or_else(|_| plate_text.to_owned());
    let r = t
        .one(&format!("{VEHICLES} WHERE v.plate = $1"), params![p.as_str()])?
        .ok_or_else(|| Fail::NotFound(format!("vehicle {p}")))?;
    if !user.scope.allows(r.opt_int(4), r.opt_int(5)) {
        return Err(Fail::Forbidden);
    }
    let place = place_of(t, &r.text(1))?.ok_or_else(|| Fail::NotFound("household".into()))?;
    t.exec("DELETE FROM vehicles WHERE plate = $1", params![p.as_str()])?;
    // A visitor pass for the same plate that is still current stays in force at the gate.
    let pass = t.one(
        "SELECT h.ref, p.valid_from_ms, p.valid_until_ms FROM passes p JOIN households h ON h.id = p.household_id
         WHERE p.plate = $1 AND p.compound_id = $2 AND p.revoked_ms IS NULL AND p.valid_until_ms > $3
         ORDER BY p.valid_until_ms DESC LIMIT 1",
        params![p.as_str(), place.compound_id, now_ms],
    )?;
    let batch = match pass {
        Some(v) => SyncBatch {
            vehicles: vec![VehicleEntry {
                plate: p,
                color: None,
                household: Some(v.text(0)),
                kind: VehicleKind::Visitor,
                valid_from_ms: Some(v.int(1)),
                valid_until_ms: Some(v.int(2)),
            }],
            ..Default::default()
        },
        None => SyncBatch { remove_vehicles: vec![p], ..Default::default() },
    };
    queue(t, &place.compound, batch, now_ms)?;
    Ok(())
}

// --- visitor passes -----------------------------------------------------------------------------

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PassIn {
    #[serde(default)]
    pub compound: String,
    #[serde(default)]
    pub household: String,
    /// `plate` (a car, checked by the edge's plate reader) or `qr` (a person on foot).
    #[serde(default)]
    pub kind: String,
    pub plate: Option<String>,
    #[serde(default)]
    pub visitor: String,
    pub valid_from_ms: Option<i64>,
    pub valid_until_ms: Option<i64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Pass {
    pub id: i64,
    pub compound: String,
    pub household: String,
    pub kind: String,
    pub plate: Option<String>,
    pub visitor: String,
    pub valid_from_ms: i64,
    pub valid_until_ms: i64,
    pub revoked_ms: Option<i64>,
    /// `pending`, `active`, `expired` or `revoked`, now.
    pub state: String,
    /// Only in the answer to the issuing request of a QR pass: the token the QR code carries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// The longest a pass may last.
pub const PASS_MAX_MS: i64 = 7 * 86_400_000;

const PASSES: &str = "SELECT p.id, c.code, h.ref, p.kind, p.plate, p.visitor, p.valid_from_ms, p.valid_until_ms,
        p.revoked_ms, b.grid_id, c.id
    FROM passes p JOIN compounds c ON c.id = p.compound_id JOIN households h ON h.id = p.household_id
    JOIN units u ON u.id = h.unit_id JOIN buildings b ON b.id = u.building_id";

fn pass_row(r: &Row, now_ms: i64) -> Pass {
    let (from, until, revoked) = (r.int(6), r.int(7), r.opt_int(8));
    let state = if revoked.is_some() {
        "revoked"
    } else if now_ms < from {
        "pending"
    } else if now_ms > until {
        "expired"
    } else {
        "active"
    };
    Pass {
        id: r.int(0),
        compound: r.text(1),
        household: r.text(2),
        kind: r.text(3),
        plate: r.opt_text(4),
        visitor: r.text(5),
        valid_from_ms: from,
        valid_until_ms: until,
        revoked_ms: revoked,
        state: state.into(),
        token: None,
    }
}

pub fn passes(t: &mut Tx<'_>, scope: &Scope, now_ms: i64) -> Result<Vec<Pass>, DbError> {
    let sql = format!("{PASSES} WHERE {} ORDER BY p.id DESC LIMIT 1000", scope.clause("b.grid_id", "c.id"));
    Ok(t.query(&sql, params![])?.iter().map(|r| pass_row(r, now_ms)).collect())
}

pub fn issue_pass(t: &mut Tx<'_>, user: &User, p: &PassIn, now_ms: i64) -> Result<Pass, Fail> {
    let mut f = Fields::default();
    let from = p.valid_from_ms.unwrap_or(now_ms);
    let mut plate_c = None;
    match p.kind.as_str() {
        "plate" => match p.plate.as_deref().map(plate) {
            Some(Ok(c)) => plate_c = Some(c),
            Some(Err(e)) => f.add("plate", e),
            None => f.add("plate", "a plate pass needs the plate"),
        },
        "qr" => {
            if p.plate.is_some() {
                f.add("plate", "a QR pass is for a person on foot: no plate");
            }
        }
        _ => f.add("kind", "must be plate or qr"),
    }
    check_name(&mut f, "visitor", &p.visitor);
    match p.valid_until_ms {
        None => f.add("valid_until_ms", "is required"),
        Some(u) if u <= from => f.add("valid_until_ms", "must be after valid_from_ms"),
        Some(u) if u - from > PASS_MAX_MS => f.add("valid_until_ms", "a pass lasts 7 days at most"),
        Some(u) if u < now_ms => f.add("valid_until_ms", "is in the past"),
        _ => {}
    }
    let place = place_of(t, &p.household)?;
    match &place {
        None => f.add("household", format!("no household `{}`", p.household)),
        Some(pl) if pl.compound != p.compound => {
            f.add("compound", format!("household `{}` is not in `{}`", p.household, p.compound))
        }
        _ => {}
    }
    f.finish()?;
    let place = place.expect("checked");
    if !user.scope.allows(Some(place.grid_id), Some(place.compound_id)) {
        return Err(Fail::Forbidden);
    }
    let token = (p.kind == "qr").then(|| crate::auth::random_hex(16));
    let until = p.valid_until_ms.expect("checked");
    let id = t.int(
        "INSERT INTO passes (compound_id, household_id, kind, plate, token_hash, visitor, valid_from_ms, valid_until_ms,
             created_ms, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
        params![
            place.compound_id,
            place.household_id,
            p.kind.as_str(),
            plate_c.as_deref(),
            token.as_deref().map(crate::auth::token_hash),
            p.visitor.as_str(),
            from,
            until,
            now_ms,
            user.username.as_str()
        ],
    )?;
    if let Some(pl) = &plate_c {
        let entry = VehicleEntry {
            plate: pl.clone(),
            color: None,
            household: Some(p.household.clone()),
            kind: VehicleKind::Visitor,
            valid_from_ms: Some(from),
            valid_until_ms: Some(until),
        };
        queue(t, &place.compound, SyncBatch { vehicles: vec![entry], ..Default::default() }, now_ms)?;
    }
    let row = t.one(&format!("{PASSES} WHERE p.id = $1"), params![id])?.ok_or_else(|| Fail::NotFound("pass".into()))?;
    Ok(Pass { token, ..pass_row(&row, now_ms) })
}

pub fn revoke_pass(t: &mut Tx<'_>, user: &User, id: i64, now_ms: i64) -> Result<Pass, Fail> {
    let row = t
        .one(&format!("{PASSES} WHERE p.id = $1"), params![id])?
        .ok_or_else(|| Fail::NotFound(format!("pass {id}")))?;
    if !user.scope.allows(row.opt_int(9), row.opt_int(10)) {
        return Err(Fail::Forbidden);
    }
    let pass = pass_row(&row, now_ms);
    if pass.revoked_ms.is_some() {
        return Err(Fail::Conflict(format!("pass {id} was already revoked")));
    }
    t.exec("UPDATE passes SET revoked_ms = $2 WHERE id = $1", params![id, now_ms])?;
    if let Some(pl) = &pass.plate {
        // A resident's own car with the same plate stays.
        let batch = match t.one(&format!("{VEHICLES} WHERE v.plate = $1"), params![pl.as_str()])? {
            Some(v) => SyncBatch {
                vehicles: vec![vehicle_entry(&Vehicle {
                    plate: v.text(0),
                    household: v.text(1),
                    color: v.opt_text(2),
                    blocked: v.flag(3),
                })],
                ..Default::default()
            },
            None => SyncBatch { remove_vehicles: vec![pl.clone()], ..Default::default() },
        };
        queue(t, &pass.compound, batch, now_ms)?;
    }
    let row = t.one(&format!("{PASSES} WHERE p.id = $1"), params![id])?.ok_or_else(|| Fail::NotFound("pass".into()))?;
    Ok(pass_row(&row, now_ms))
}

/// Checks a QR token at a gate: the pass, when it is valid now.
pub fn verify_pass(t: &mut Tx<'_>, user: &User, token: &str, now_ms: i64) -> Result<Option<Pass>, Fail> {
    let Some(row) = t.one(&format!("{PASSES} WHERE p.token_hash = $1"), params![crate::auth::token_hash(token)])?
    else {
        return Ok(None);
    };
    if !user.scope.allows(row.opt_int(9), row.opt_int(10)) {
        return Err(Fail::Forbidden);
    }
    Ok(Some(pass_row(&row, now_ms)))
}

// --- distribution -------------------------------------------------------------------------------

/// Appends a batch for `compound` and returns its version. The compound's `edges` row is locked
/// first, so two instances never allocate the same version.
pub fn queue(t: &mut Tx<'_>, compound: &str, mut batch: SyncBatch, now_ms: i64) -> Result<u64, DbError> {
    t.exec("INSERT INTO edges (compound) VALUES ($1) ON CONFLICT (compound) DO NOTHING", params![compound])?;
    t.exec("UPDATE edges SET applied_version = applied_version WHERE compound = $1", params![compound])?;
    let version =
        t.int("SELECT COALESCE(MAX(version), 0) + 1 FROM sync_batches WHERE compound = $1", params![compound])?;
    batch.version = version as u64;
    let body = serde_json::to_string(&batch).expect("a batch serialises");
    t.exec(
        "INSERT INTO sync_batches (compound, version, body, created_ms) VALUES ($1, $2, $3, $4)",
        params![compound, version, body, now_ms],
    )?;
    Ok(version as u64)
}

/// Records the version an edge reports applied, and confirms the erasures it covers.
pub fn applied(t: &mut Tx<'_>, compound: &str, version: u64, now_ms: i64) -> Result<(), DbError> {
    t.exec(
        "UPDATE edges SET applied_version = CASE WHEN applied_version > $2 THEN applied_version ELSE $2 END WHERE compound = $1",
        params![compound, version],
    )?;
    t.exec(
        "UPDATE erasure_targets SET confirmed_ms = $3 WHERE compound = $1 AND version <= $2 AND confirmed_ms IS NULL",
        params![compound, version, now_ms],
    )?;
    Ok(())
}

/// For every online edge that is behind: its compound and the batches it lacks, in order.
pub fn pending(t: &mut Tx<'_>) -> Result<Vec<(String, u64, Vec<String>)>, DbError> {
    let behind = t.query(
        "SELECT e.compound, e.applied_version FROM edges e
         WHERE e.status = 'online' AND EXISTS (SELECT 1 FROM sync_batches s WHERE s.compound = e.compound AND s.version > e.applied_version)",
        params![],
    )?;
    let mut out = Vec::new();
    for r in behind {
        let (compound, applied) = (r.text(0), r.int(1));
        let bodies = t
            .query(
                "SELECT body FROM sync_batches WHERE compound = $1 AND version > $2 ORDER BY version LIMIT 100",
                params![compound.as_str(), applied],
            )?
            .iter()
            .map(|b| b.text(0))
            .collect();
        out.push((compound, applied as u64, bodies));
    }
    Ok(out)
}

/// Claims the sending of `compound`'s sync batches up to `latest` through `broker` (its
/// `host:port`): true for the one instance whose conditional update wins, when that version was
/// not sent there yet or was sent at least `resend_ms` ago. The instances on one broker read
/// the same pending batches and only the claimant sends them, so an edge gets each round once;
/// instances on other brokers claim for their own, where other edges may be connected.
pub fn claim_sync(
    t: &mut Tx<'_>,
    compound: &str,
    broker: &str,
    latest: u64,
    now_ms: i64,
    resend_ms: i64,
) -> Result<bool, DbError> {
    t.exec(
        "INSERT INTO sync_pushes (compound, broker, version, at_ms) VALUES ($1, $2, 0, 0)
         ON CONFLICT (compound, broker) DO NOTHING",
        params![compound, broker],
    )?;
    let n = t.exec(
        "UPDATE sync_pushes SET version = $3, at_ms = $4
         WHERE compound = $1 AND broker = $2 AND (version < $3 OR at_ms <= $5)",
        params![compound, broker, latest as i64, now_ms, now_ms - resend_ms],
    )?;
    Ok(n == 1)
}

/// An edge that says `online` after being away is sent what it lacks at the next round, claimed
/// afresh. Done in the same transaction as its status, and only when the stored status was not
/// already `online`, so that of several instances reading the same status only the first resets.
pub fn returning(t: &mut Tx<'_>, compound: &str) -> Result<(), DbError> {
    t.exec(
        "UPDATE sync_pushes SET version = 0, at_ms = 0
         WHERE compound = $1 AND NOT EXISTS (SELECT 1 FROM edges WHERE compound = $1 AND status = 'online')",
        params![compound],
    )?;
    Ok(())
}

/// Gives up a claim whose batches could not all be handed to the broker: due again at once.
pub fn release_sync(t: &mut Tx<'_>, compound: &str, broker: &str) -> Result<(), DbError> {
    t.exec(
        "UPDATE sync_pushes SET version = 0, at_ms = 0 WHERE compound = $1 AND broker = $2",
        params![compound, broker],
    )?;
    Ok(())
}

// --- CSV ----------------------------------------------------------------------------------------

/// Parses RFC 4180 CSV (quoted fields, doubled quotes, CRLF or LF). Returns rows of fields, or
/// the 1-based row and the problem.
pub fn parse_csv(text: &str) -> Result<Vec<Vec<String>>, (usize, String)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (mut rows, mut row, mut field) = (Vec::new(), Vec::new(), String::new());
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => quoted = true,
            '"' => return Err((rows.len() + 1, "a quote inside an unquoted field".into())),
            ',' => row.push(std::mem::take(&mut field)),
            '\r' => {}
            '\n' => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            _ => field.push(c),
        }
    }
    if quoted {
        return Err((rows.len() + 1, "a quoted field is not closed".into()));
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    Ok(rows)
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_owned() }
}

pub fn csv_line(fields: &[String]) -> String {
    let mut s = fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(",");
    s.push('\n');
    s
}

/// What a CSV file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CsvKind {
    Households,
    Residents,
    Vehicles,
}

impl CsvKind {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.trim_end_matches(".csv") {
            "households" => CsvKind::Households,
            "residents" => CsvKind::Residents,
            "vehicles" => CsvKind::Vehicles,
            _ => return None,
        })
    }
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            CsvKind::Households => &["ref", "compound", "building", "unit", "room", "phone"],
            CsvKind::Residents => &[
                "ref",
                "household",
                "name",
                "phone",
                "status",
                "face_enabled",
                "consent_at",
                "consent_method",
                "guardian",
            ],
            CsvKind::Vehicles => &["plate", "household", "color", "blocked"],
        }
    }
    fn required(self) -> &'static [&'static str] {
        match self {
            CsvKind::Households => &["ref", "compound", "building", "unit", "room"],
            CsvKind::Residents => &["ref", "household", "name"],
            CsvKind::Vehicles => &["plate", "household"],
        }
    }
}

fn flag(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "" | "0" | "false" | "no" | "否" => Some(false),
        "1" | "true" | "yes" | "是" => Some(true),
        _ => None,
    }
}

/// Imports a CSV file in one transaction: every row is checked (the header is row 1) and every
/// problem reported with its row and field; if there is one, nothing is applied.
pub fn import_csv(t: &mut Tx<'_>, user: &User, kind: CsvKind, text: &str, now_ms: i64) -> Result<usize, Fail> {
    let rows = parse_csv(text).map_err(|(row, m)| Fail::Rows(vec![(row, String::new(), m)]))?;
    let Some((header, body)) = rows.split_first() else {
        return Err(Fail::Rows(vec![(1, String::new(), "the file is empty".into())]));
    };
    let header: Vec<String> = header.iter().map(|h| h.trim().to_ascii_lowercase()).collect();
    let mut problems = Vec::new();
    for h in &header {
        if !kind.columns().contains(&h.as_str()) {
            problems.push((1, h.clone(), format!("unknown column (expected: {})", kind.columns().join(", "))));
        }
    }
    for r in kind.required() {
        if !header.iter().any(|h| h == r) {
            problems.push((1, (*r).to_owned(), "required column is missing".into()));
        }
    }
    if !problems.is_empty() {
        return Err(Fail::Rows(problems));
    }
    let mut applied = 0;
    let mut forbidden = false;
    for (i, fields) in body.iter().enumerate() {
        let row = i + 2;
        if fields.len() == 1 && fields[0].trim().is_empty() {
            continue; // a blank line
        }
        applied += 1;
        if fields.len() != header.len() {
            problems.push((row, String::new(), format!("{} fields, the header has {}", fields.len(), header.len())));
            continue;
        }
        let get = |k: &str| header.iter().position(|h| h == k).map(|p| fields[p].trim().to_owned()).unwrap_or_default();
        let opt = |k: &str| Some(get(k)).filter(|s| !s.is_empty());
        let result = match kind {
            CsvKind::Households => put_household(
                t,
                user,
                &HouseholdIn {
                    reference: get("ref"),
                    compound: get("compound"),
                    building: get("building"),
                    unit: get("unit"),
                    room: get("room"),
                    phone: opt("phone"),
                },
            ),
            CsvKind::Residents => match flag(&get("face_enabled")) {
                None => Err(Fail::Invalid(vec![("face_enabled".into(), "must be 0/1, true/false or yes/no".into())])),
                // A resident already registered is updated (an export imports back unchanged).
                Some(face) if t.one("SELECT 1 FROM residents WHERE ref = $1", params![get("ref")])?.is_some() => {
                    update_resident_row(
                        t,
                        user,
                        &get("ref"),
                        &get("household"),
                        ResidentPatch {
                            name: Some(get("name")),
                            phone: Some(get("phone")),
                            status: opt("status"),
                            face_enabled: Some(face),
                            consent_at: Some(get("consent_at")),
                            consent_method: Some(get("consent_method")),
                            guardian: Some(get("guardian")),
                        },
                        now_ms,
                    )
                }
                Some(face) => add_resident(
                    t,
                    user,
                    &ResidentIn {
                        reference: get("ref"),
                        household: get("household"),
                        name: get("name"),
                        phone: opt("phone"),
                        status: opt("status"),
                        face_enabled: face,
                        consent_at: opt("consent_at"),
                        consent_method: opt("consent_method"),
                        guardian: opt("guardian"),
                    },
                    now_ms,
                ),
            },
            CsvKind::Vehicles => match flag(&get("blocked")) {
                None => Err(Fail::Invalid(vec![("blocked".into(), "must be 0/1, true/false or yes/no".into())])),
                Some(blocked) => put_vehicle(
                    t,
                    user,
                    &VehicleIn { plate: get("plate"), household: get("household"), color: opt("color"), blocked },
                    now_ms,
                )
                .map(drop),
            },
        };
        match result {
            Ok(()) => {}
            Err(Fail::Invalid(fs)) => problems.extend(fs.into_iter().map(|(f, m)| (row, f, m))),
            Err(Fail::Forbidden) => forbidden = true,
            Err(Fail::NotFound(m) | Fail::Conflict(m)) => problems.push((row, String::new(), m)),
            Err(Fail::Rows(r)) => problems.extend(r),
            Err(e @ Fail::Db(_)) => return Err(e),
        }
    }
    // A row outside the caller's grids refuses the whole file, and says nothing about the rest.
    if forbidden {
        return Err(Fail::Forbidden);
    }
    if problems.is_empty() { Ok(applied) } else { Err(Fail::Rows(problems)) }
}

pub fn export_csv(t: &mut Tx<'_>, scope: &Scope, kind: CsvKind) -> Result<String, DbError> {
    let mut out = csv_line(&kind.columns().iter().map(|c| (*c).to_owned()).collect::<Vec<_>>());
    let b = |v: bool| if v { "1".to_owned() } else { "0".to_owned() };
    match kind {
        CsvKind::Households => {
            for h in households(t, scope)? {
                out += &csv_line(&[h.reference, h.compound, h.building, h.unit, h.room, h.phone.unwrap_or_default()]);
            }
        }
        CsvKind::Residents => {
            for r in residents(t, scope)?.into_iter().filter(|r| r.status != "erased") {
                out += &csv_line(&[
                    r.reference,
                    r.household,
                    r.name,
                    r.phone.unwrap_or_default(),
                    r.status,
                    b(r.face_enabled),
                    r.consent_at.unwrap_or_default(),
                    r.consent_method.unwrap_or_default(),
                    r.guardian.unwrap_or_default(),
                ]);
            }
        }
        CsvKind::Vehicles => {
            for v in vehicles(t, scope)? {
                out += &csv_line(&[v.plate, v.household, v.color.unwrap_or_default(), b(v.blocked)]);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_parses_quotes_commas_newlines_and_reports_broken_rows() {
        let rows = parse_csv("a,b\r\n\"x, y\",\"say \"\"hi\"\"\"\n\"two\nlines\",z\n").unwrap();
        assert_eq!(rows, vec![vec!["a", "b"], vec!["x, y", "say \"hi\""], vec!["two\nlines", "z"]]);
        assert_eq!(parse_csv("a,b\nc,\"open\n").unwrap_err().0, 2);
        assert_eq!(parse_csv("a\nb\"c\n").unwrap_err(), (2, "a quote inside an unquoted field".into()));
        let line = csv_line(&["x, y".into(), "q\"".into(), "plain".into()]);
        assert_eq!(parse_csv(&line).unwrap(), vec![vec!["x, y", "q\"", "plain"]]);
    }

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
