//! CSV import (all rows or none, errors by row and field) and export, in the same columns, so
//! an export imports back unchanged.

use super::*;

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

/// Whether a spreadsheet would take a cell starting with `c` for a formula (OWASP's list), or
/// `c` is the quote that [`defuse`] adds.
fn risky(c: char) -> bool {
    matches!(c, '=' | '+' | '-' | '@' | '\t' | '\r' | '\'')
}

/// A cell as exported: one that Excel or WPS would run as a formula (`=HYPERLINK(…)`, but also
/// `+86…` or `-1`) gets a leading `'`, which they show as "text" and hide; so does one that
/// already starts with `'`, so that [`undefuse`] can tell the two apart.
fn defuse(s: &str) -> std::borrow::Cow<'_, str> {
    match s.chars().next() {
        Some(c) if risky(c) => format!("'{s}").into(),
        _ => s.into(),
    }
}

/// A cell as imported: the `'` that [`defuse`] adds is taken off again, so an export imports
/// back unchanged and `'+8613800138000` typed in a spreadsheet is the phone number. A `'`
/// before anything else is kept.
pub(super) fn undefuse(s: &str) -> &str {
    match s.strip_prefix('\'') {
        Some(rest) if rest.chars().next().is_some_and(risky) => rest,
        _ => s,
    }
}

fn csv_field(s: &str) -> String {
    let s = defuse(s);
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.into_owned() }
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
        let get = |k: &str| {
            header.iter().position(|h| h == k).map(|p| undefuse(fields[p].trim()).to_owned()).unwrap_or_default()
        };
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
    fn cells_a_spreadsheet_would_run_are_exported_as_text_and_imported_back_unchanged() {
        let formulas = [
            "=HYPERLINK(\"http://evil.example\",\"x\")",
            "+8613800138000",
            "-2+3",
            "@SUM(A1:A2)",
            "\t=1+1",
            "\r=1+1",
            "'=1+1",
            "'quoted",
        ];
        for f in formulas {
            let line = csv_line(&[f.to_owned()]);
            let cell = &parse_csv(&line).unwrap()[0][0];
            assert!(cell.starts_with('\''), "{f:?} exported as {cell:?}");
            assert_eq!(undefuse(cell), f, "{f:?} does not import back");
        }
        // Ordinary cells are written as they are.
        for plain in ["张三", "13800138000", "1号楼", "it's", ""] {
            assert_eq!(csv_line(&[plain.to_owned()]), format!("{plain}\n"));
            assert_eq!(undefuse(plain), plain);
        }
        // What people type in a spreadsheet imports as meant; a quote before anything else stays.
        assert_eq!(undefuse("'+8613800138000"), "+8613800138000");
        assert_eq!(undefuse("'Ali"), "'Ali");
    }
}
