//! Users, roles, sessions, the audit log, and the scope every query is filtered by.
//!
//! - Passwords are hashed with argon2id (PHC strings with their own salt).
//! - A login returns a random token; only its SHA-256 is stored, so a copy of the database
//!   does not hold usable sessions. The same token works as a bearer token and as the
//!   dashboard's HttpOnly cookie.
//! - Logins are rate-limited per user name and per client address (token buckets in memory:
//!   a second instance has its own, which still bounds guessing).
//! - Grid staff see only their own grids; property operators only their company's compounds.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use sha2::{Digest, Sha256};

use crate::db::{DbError, Tx};
use crate::params;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Admin,
    /// A property company's operator: the register of its compounds.
    Property,
    /// Grid staff: their own grids' orders, events and register.
    Grid,
    /// Reads everything, changes nothing.
    ReadOnly,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "admin" => Role::Admin,
            "property" => Role::Property,
            "grid" => Role::Grid,
            "readonly" => Role::ReadOnly,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Property => "property",
            Role::Grid => "grid",
            Role::ReadOnly => "readonly",
        }
    }
}

/// What a user may see: things in the listed grids and in the listed compounds (`None`: no
/// limit on that axis). Admins and read-only users see everything, grid staff their grids,
/// property operators their company's compounds; a `?grid=` filter narrows any of them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    pub grids: Option<Vec<i64>>,
    pub compounds: Option<Vec<i64>>,
}

fn id_list(ids: &[i64]) -> String {
    if ids.is_empty() { "NULL".to_owned() } else { ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",") }
}

impl Scope {
    pub fn all() -> Self {
        Scope::default()
    }

    /// A SQL condition on a grid id column and a compound id column (integers only, so it is
    /// safe to format into SQL).
    pub fn clause(&self, grid_col: &str, compound_col: &str) -> String {
        let mut c = vec!["1 = 1".to_owned()];
        if let Some(g) = &self.grids {
            c.push(format!("{grid_col} IN ({})", id_list(g)));
        }
        if let Some(k) = &self.compounds {
            c.push(format!("{compound_col} IN ({})", id_list(k)));
        }
        c.join(" AND ")
    }

    /// A SQL condition for compound-level things (edges, the map): a compound is visible when
    /// it is in scope and, for grid staff, has a building or gate in one of their grids.
    pub fn compound_clause(&self, compound_col: &str) -> String {
        let mut c = vec!["1 = 1".to_owned()];
        if let Some(g) = &self.grids {
            let g = id_list(g);
            c.push(format!(
                "({compound_col} IN (SELECT compound_id FROM buildings WHERE grid_id IN ({g}))
                  OR {compound_col} IN (SELECT compound_id FROM gates WHERE grid_id IN ({g})))"
            ));
        }
        if let Some(k) = &self.compounds {
            c.push(format!("{compound_col} IN ({})", id_list(k)));
        }
        c.join(" AND ")
    }

    /// A SQL condition for grid-level things (staff, per-grid counts): a grid is visible when it
    /// is in scope and, for property operators, has a building or gate in one of their
    /// compounds.
    pub fn grid_clause(&self, grid_col: &str) -> String {
        let mut c = vec!["1 = 1".to_owned()];
        if let Some(g) = &self.grids {
            c.push(format!("{grid_col} IN ({})", id_list(g)));
        }
        if let Some(k) = &self.compounds {
            let k = id_list(k);
            c.push(format!(
                "({grid_col} IN (SELECT grid_id FROM buildings WHERE compound_id IN ({k}))
                  OR {grid_col} IN (SELECT grid_id FROM gates WHERE compound_id IN ({k})))"
            ));
        }
        c.join(" AND ")
    }

    /// Whether a thing in `grid` of `compound` is visible.
    pub fn allows(&self, grid: Option<i64>, compound: Option<i64>) -> bool {
        self.grids.as_ref().is_none_or(|g| grid.is_some_and(|x| g.contains(&x)))
            && self.compounds.as_ref().is_none_or(|k| compound.is_some_and(|x| k.contains(&x)))
    }

    /// This scope narrowed to one grid, or `None` when the grid is outside it.
    pub fn narrow_to_grid(&self, t: &mut Tx<'_>, grid: i64) -> Result<Option<Scope>, DbError> {
        if let Some(g) = &self.grids
            && !g.contains(&grid)
        {
            return Ok(None);
        }
        if let Some(k) = &self.compounds {
            let sql = format!(
                "SELECT 1 FROM buildings WHERE grid_id = $1 AND compound_id IN ({0})
                 UNION SELECT 1 FROM gates WHERE grid_id = $1 AND compound_id IN ({0})",
                id_list(k)
            );
            if t.one(&sql, params![grid])?.is_none() {
                return Ok(None);
            }
        }
        Ok(Some(Scope { grids: Some(vec![grid]), compounds: self.compounds.clone() }))
    }
}

/// A signed-in user.
#[derive(Clone, Debug)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub role: Role,
    pub scope: Scope,
}

impl User {
    pub fn can_write(&self) -> bool {
        self.role != Role::ReadOnly
    }
}

pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).expect("the OS random source");
    let salt = SaltString::encode_b64(&salt).expect("16 bytes encode");
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters")
        .to_string()
}

fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| argon2::Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// SHA-256 of a bearer secret (session or pass token), in hex: what the database keeps.
pub(crate) fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// `bytes` random bytes from the OS, in hex: session and pass tokens.
pub(crate) fn random_hex(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    getrandom::fill(&mut raw).expect("the OS random source");
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

/// Why a user cannot be saved as given.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UserRefused {
    #[error("no property company named `{0}`")]
    NoCompany(String),
    #[error("no grid named `{0}`")]
    NoGrid(String),
    #[error("`{0}` names grids in several communities: give the grid's id")]
    AmbiguousGrid(String),
    #[error("grid staff need at least one grid")]
    NoGrids,
    #[error("a property operator needs a property company")]
    NoOperatorCompany,
}

/// Creates or replaces a user. `grids` are grid names (for grid staff), `company` a property
/// company's name (for property operators).
pub fn add_user(
    t: &mut Tx<'_>,
    username: &str,
    password: &str,
    role: Role,
    grids: &[String],
    company: Option<&str>,
) -> Result<Result<i64, UserRefused>, DbError> {
    let company_id = match company {
        Some(c) => match t.one("SELECT id FROM property_companies WHERE name = $1", params![c])? {
            Some(r) => Some(r.int(0)),
            None => return Ok(Err(UserRefused::NoCompany(c.to_owned()))),
        },
        None => None,
    };
    let mut grid_ids = Vec::new();
    for g in grids {
        // Grid names are unique within a community only: an ambiguous name must be given as id.
        let found = t.query("SELECT id FROM grids WHERE name = $1 OR CAST(id AS TEXT) = $1", params![g.as_str()])?;
        match found.as_slice() {
            [r] => grid_ids.push(r.int(0)),
            [] => return Ok(Err(UserRefused::NoGrid(g.clone()))),
            _ => return Ok(Err(UserRefused::AmbiguousGrid(g.clone()))),
        }
    }
    if role == Role::Grid && grid_ids.is_empty() {
        return Ok(Err(UserRefused::NoGrids));
    }
    if role == Role::Property && company_id.is_none() {
        return Ok(Err(UserRefused::NoOperatorCompany));
    }
    let id = t.int(
        "INSERT INTO users (username, password_hash, role, property_company_id) VALUES ($1, $2, $3, $4)
         ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash, role = excluded.role,
             property_company_id = excluded.property_company_id
         RETURNING id",
        params![username, hash_password(password), role.name(), company_id],
    )?;
    // A replaced user signs in again with the new password and role.
    t.exec("DELETE FROM sessions WHERE user_id = $1", params![id])?;
    t.exec("DELETE FROM user_grids WHERE user_id = $1", params![id])?;
    for g in grid_ids {
        t.exec("INSERT INTO user_grids (user_id, grid_id) VALUES ($1, $2)", params![id, g])?;
    }
    Ok(Ok(id))
}

/// Disables (ending every session) or re-enables a user; false if there is no such user.
pub fn set_disabled(t: &mut Tx<'_>, username: &str, disabled: bool) -> Result<bool, DbError> {
    let n = t.exec("UPDATE users SET disabled = $2 WHERE username = $1", params![username, disabled])?;
    t.exec(
        "DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE username = $1 AND disabled = 1)",
        params![username],
    )?;
    Ok(n == 1)
}

fn load_user(t: &mut Tx<'_>, id: i64) -> Result<Option<User>, DbError> {
    let Some(r) =
        t.one("SELECT username, role, property_company_id, disabled FROM users WHERE id = $1", params![id])?
    else {
        return Ok(None);
    };
    if r.flag(3) {
        return Ok(None);
    }
    let role = Role::parse(&r.text(1)).unwrap_or(Role::ReadOnly);
    let scope = match role {
        Role::Admin | Role::ReadOnly => Scope::all(),
        Role::Grid => Scope {
            grids: Some(
                t.query("SELECT grid_id FROM user_grids WHERE user_id = $1 ORDER BY grid_id", params![id])?
                    .iter()
                    .map(|r| r.int(0))
                    .collect(),
            ),
            compounds: None,
        },
        Role::Property => Scope {
            grids: None,
            compounds: Some(
                t.query("SELECT id FROM compounds WHERE property_company_id = $1 ORDER BY id", params![r.int(2)])?
                    .iter()
                    .map(|r| r.int(0))
                    .collect(),
            ),
        },
    };
    Ok(Some(User { id, username: r.text(0), role, scope }))
}

/// How a login went.
#[derive(Debug)]
pub enum Login {
    Ok { token: String, user: User },
    BadCredentials,
    Disabled,
}

pub const SESSION_MS: i64 = 12 * 3_600_000;

pub fn login(t: &mut Tx<'_>, username: &str, password: &str, now_ms: i64) -> Result<Login, DbError> {
    let Some(r) = t.one("SELECT id, password_hash, disabled FROM users WHERE username = $1", params![username])? else {
        // Spend the same time as a real check, so user names cannot be probed by timing.
        static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let _ = verify_password(password, DUMMY.get_or_init(|| hash_password("not a password")));
        return Ok(Login::BadCredentials);
    };
    if !verify_password(password, &r.text(1)) {
        return Ok(Login::BadCredentials);
    }
    if r.flag(2) {
        return Ok(Login::Disabled);
    }
    let token = random_hex(32);
    t.exec("DELETE FROM sessions WHERE expires_ms < $1", params![now_ms])?;
    t.exec(
        "INSERT INTO sessions (token_hash, user_id, expires_ms) VALUES ($1, $2, $3)",
        params![token_hash(&token), r.int(0), now_ms + SESSION_MS],
    )?;
    let user = load_user(t, r.int(0))?.ok_or(DbError::Decode { column: 0, message: "user vanished".into() })?;
    Ok(Login::Ok { token, user })
}

/// The user a token belongs to, if the session is live.
pub fn session(t: &mut Tx<'_>, token: &str, now_ms: i64) -> Result<Option<User>, DbError> {
    match t.one(
        "SELECT user_id FROM sessions WHERE token_hash = $1 AND expires_ms > $2",
        params![token_hash(token), now_ms],
    )? {
        Some(r) => load_user(t, r.int(0)),
        None => Ok(None),
    }
}

pub fn logout(t: &mut Tx<'_>, token: &str) -> Result<(), DbError> {
    t.exec("DELETE FROM sessions WHERE token_hash = $1", params![token_hash(token)])?;
    Ok(())
}

/// Appends to the audit log: who, what, on what.
pub fn audit(
    t: &mut Tx<'_>,
    now_ms: i64,
    username: &str,
    action: &str,
    target: &str,
    detail: Option<&str>,
) -> Result<(), DbError> {
    t.exec(
        "INSERT INTO audit (at_ms, username, action, target, detail) VALUES ($1, $2, $3, $4, $5)",
        params![now_ms, username, action, target, detail],
    )?;
    Ok(())
}

/// Token buckets of failed logins keyed by user name and by client address: `burst` failures,
/// refilled at one per `refill_secs`. Successful logins cost nothing.
#[derive(Debug)]
pub struct RateLimit {
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
    burst: f64,
    refill_secs: f64,
}

impl RateLimit {
    pub fn new(burst: u32, refill_secs: f64) -> Self {
        Self { buckets: Mutex::new(HashMap::new()), burst: f64::from(burst), refill_secs }
    }

    fn level(&self, b: &mut HashMap<String, (f64, Instant)>, key: &str, now: Instant) -> f64 {
        let burst = if key.starts_with("ip:") { self.burst * 4.0 } else { self.burst };
        let e = b.entry(key.to_owned()).or_insert((burst, now));
        e.0 = (e.0 + now.duration_since(e.1).as_secs_f64() / self.refill_secs).min(burst);
        e.1 = now;
        e.0
    }

    /// Whether every key has an attempt left. Keys starting `ip:` (a client address, which an
    /// office behind one NAT shares) get four times the burst.
    pub fn allowed(&self, keys: &[&str]) -> bool {
        let mut b = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if b.len() > 100_000 {
            b.clear();
        }
        let now = Instant::now();
        keys.iter().all(|k| self.level(&mut b, k, now) >= 1.0)
    }

    /// Spends one attempt of every key (after a failed login).
    pub fn spend(&self, keys: &[&str]) {
        let mut b = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        for k in keys {
            self.level(&mut b, k, now);
            if let Some(e) = b.get_mut(*k) {
                e.0 = (e.0 - 1.0).max(0.0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let h = hash_password("correct horse");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert_ne!(h, hash_password("correct horse"), "salted");
    }

    #[test]
    fn the_rate_limit_allows_a_burst_of_failures_then_refuses() {
        let r = RateLimit::new(3, 3600.0);
        for _ in 0..3 {
            assert!(r.allowed(&["u:a", "ip:1"]));
            r.spend(&["u:a", "ip:1"]);
        }
        assert!(!r.allowed(&["u:a", "ip:2"]));
        assert!(r.allowed(&["u:b", "ip:1"]), "the address has 4x the burst");
    }

    #[test]
    fn scopes_filter_by_grid_or_compound() {
        let grids = |g: Vec<i64>| Scope { grids: Some(g), compounds: None };
        assert_eq!(grids(vec![1, 2]).clause("b.grid_id", "c.id"), "1 = 1 AND b.grid_id IN (1,2)");
        assert_eq!(grids(vec![]).clause("b.grid_id", "c.id"), "1 = 1 AND b.grid_id IN (NULL)");
        assert!(Scope { grids: None, compounds: Some(vec![3]) }.allows(Some(9), Some(3)));
        assert!(!grids(vec![1]).allows(Some(2), Some(3)));
        assert!(Scope::all().allows(None, None));
    }
}
