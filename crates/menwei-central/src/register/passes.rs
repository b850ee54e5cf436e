//! Visitor passes: a plate pass with a time window, synced to the edge, or a one-time QR token
//! checked at the gate.

use super::*;

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
            Some(Err(e)) => f.add("plate", e.to_string()),
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
