//! Households: a room of a unit of a building, the residents' home and the vehicles' owner.

use super::*;

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
pub(super) fn put_household(t: &mut Tx<'_>, user: &User, h: &HouseholdIn) -> Result<(), Fail> {
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
pub(super) fn update_resident_row(
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
