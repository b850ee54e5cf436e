//! Residents' vehicles, by plate, and what their edges are told of them.

use super::*;

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

pub(super) const VEHICLES: &str = "SELECT v.plate, h.ref, v.color, v.blocked, b.grid_id, b.compound_id
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
pub fn plate(s: &str) -> Result<String, menwei_core::plate::PlateError> {
    menwei_core::plate::PlateNumber::parse(s).map(|p| p.as_str().to_owned())
}

const COLORS: [&str; 5] = ["blue", "yellow", "green", "white", "black"];

pub(super) fn vehicle_entry(v: &Vehicle) -> VehicleEntry {
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
    let canonical = plate(&v.plate).map_err(|e| f.add("plate", e.to_string())).ok();
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
