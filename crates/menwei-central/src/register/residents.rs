//! Residents: consent, status and face entry (never a template), and erasure tracked until
//! every edge that may hold the resident's data confirms it.

use super::*;

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
