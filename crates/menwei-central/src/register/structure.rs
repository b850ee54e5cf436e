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
                        f.add(&format!("{kp}.buildings[{bi}].grid"), format!("no grid `{}` in this community", b.grid));
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
