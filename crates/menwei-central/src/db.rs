//! One database API over SQLite and PostgreSQL.
//!
//! Central's SQL is written once, in the subset both engines accept: `$1`-style placeholders
//! (rewritten to `?1` for SQLite), `BIGINT` for every integer and time (milliseconds since the
//! epoch), `TEXT`, `DOUBLE PRECISION`, `INSERT ... ON CONFLICT ... DO NOTHING/UPDATE`,
//! `RETURNING`. The only dialect difference the schema needs is the auto-increment key, spelled
//! `{pk}` in migrations.
//!
//! Both drivers are synchronous and run on blocking threads ([`Db::call`]): the async side of
//! the service never waits on the database in its executor, and the PostgreSQL client (which
//! drives its own small runtime) never runs inside tokio's.
//!
//! Transactions ([`Db::tx`]) take the write lock at the start on SQLite (`BEGIN IMMEDIATE`, so
//! two writers never deadlock upgrading a read lock) and are READ COMMITTED on PostgreSQL,
//! where code that must serialise per row locks it first (see the ingest).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

use thiserror::Error;

#[derive(Debug, Error)]
pub enum DbError {
    #[error("SQLite {path}: {source}")]
    Sqlite { path: PathBuf, source: rusqlite::Error },
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] postgres::Error),
    #[error("database: column {column}: {message}")]
    Decode { column: usize, message: String },
    #[error("database worker: {0}")]
    Join(String),
    #[error("PostgreSQL TLS: {0}")]
    Tls(#[from] crate::pgtls::PgTlsError),
}

/// Which engine; decides the placeholder spelling and the DDL key type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A parameter or column value. Integers are 64-bit everywhere; booleans are stored as 0/1.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::Int(v as i64)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Int(i64::from(v))
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Real(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// `params![a, b]` -> `&[Value]`.
#[macro_export]
macro_rules! params {
    () => { &[] as &[$crate::db::Value] };
    ($($v:expr),+ $(,)?) => { &[$($crate::db::Value::from($v)),+] as &[$crate::db::Value] };
}

/// One result row.
#[derive(Clone, Debug, PartialEq)]
pub struct Row(pub Vec<Value>);

impl Row {
    fn get(&self, i: usize) -> &Value {
        self.0.get(i).unwrap_or(&Value::Null)
    }
    pub fn int(&self, i: usize) -> i64 {
        self.opt_int(i).unwrap_or(0)
    }
    pub fn opt_int(&self, i: usize) -> Option<i64> {
        match self.get(i) {
            Value::Int(v) => Some(*v),
            Value::Real(v) => Some(*v as i64),
            Value::Text(s) => s.parse().ok(),
            Value::Null => None,
        }
    }
    pub fn real(&self, i: usize) -> f64 {
        match self.get(i) {
            Value::Int(v) => *v as f64,
            Value::Real(v) => *v,
            _ => 0.0,
        }
    }
    pub fn text(&self, i: usize) -> String {
        self.opt_text(i).unwrap_or_default()
    }
    pub fn opt_text(&self, i: usize) -> Option<String> {
        match self.get(i) {
            Value::Text(s) => Some(s.clone()),
            Value::Int(v) => Some(v.to_string()),
            Value::Real(v) => Some(v.to_string()),
            Value::Null => None,
        }
    }
    pub fn flag(&self, i: usize) -> bool {
        self.int(i) != 0
    }
}

enum Conn {
    Sqlite(rusqlite::Connection),
    Postgres(Box<postgres::Client>),
}

/// A connection inside a transaction (or, for [`Db::with`], outside one).
pub struct Tx<'a> {
    conn: &'a mut Conn,
    path: &'a Path,
}

impl std::fmt::Debug for Tx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tx")
    }
}

/// `$1` -> `?1`, outside quoted strings.
fn sqlite_sql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            quoted = !quoted;
        }
        if c == '$' && !quoted && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(v) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Value::Real(v) => ToSqlOutput::Borrowed(ValueRef::Real(*v)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        })
    }
}

impl postgres::types::ToSql for Value {
    fn to_sql(
        &self,
        ty: &postgres::types::Type,
        out: &mut postgres::types::private::BytesMut,
    ) -> Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        use postgres::types::{IsNull, Type};
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(v) => match *ty {
                Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*v)?.to_sql(ty, out),
                Type::BOOL => (*v != 0).to_sql(ty, out),
                Type::FLOAT8 => (*v as f64).to_sql(ty, out),
                _ => v.to_sql(ty, out),
            },
            Value::Real(v) => v.to_sql(ty, out),
            Value::Text(s) => s.to_sql(ty, out),
        }
    }

    fn accepts(_: &postgres::types::Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

fn pg_row(row: &postgres::Row) -> Result<Row, DbError> {
    use postgres::types::Type;
    let mut values = Vec::with_capacity(row.len());
    for (i, col) in row.columns().iter().enumerate() {
        let v = match *col.type_() {
            Type::INT8 => row.try_get::<_, Option<i64>>(i)?.map(Value::Int),
            Type::INT4 => row.try_get::<_, Option<i32>>(i)?.map(|v| Value::Int(v.into())),
            Type::INT2 => row.try_get::<_, Option<i16>>(i)?.map(|v| Value::Int(v.into())),
            Type::BOOL => row.try_get::<_, Option<bool>>(i)?.map(|v| Value::Int(v.into())),
            Type::FLOAT8 => row.try_get::<_, Option<f64>>(i)?.map(Value::Real),
            Type::FLOAT4 => row.try_get::<_, Option<f32>>(i)?.map(|v| Value::Real(v.into())),
            Type::TEXT | Type::VARCHAR | Type::NAME | Type::BPCHAR => {
                row.try_get::<_, Option<String>>(i)?.map(Value::Text)
            }
            ref other => {
                return Err(DbError::Decode {
                    column: i,
                    message: format!("type {other} is not used by menwei (cast it to BIGINT or TEXT)"),
                });
            }
        };
        values.push(v.unwrap_or(Value::Null));
    }
    Ok(Row(values))
}

fn sqlite_row(row: &rusqlite::Row<'_>, n: usize) -> rusqlite::Result<Row> {
    use rusqlite::types::ValueRef;
    let mut values = Vec::with_capacity(n);
    for i in 0..n {
        values.push(match row.get_ref(i)? {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(v) => Value::Int(v),
            ValueRef::Real(v) => Value::Real(v),
            ValueRef::Text(t) | ValueRef::Blob(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        });
    }
    Ok(Row(values))
}

impl Tx<'_> {
    /// Runs a statement; returns the rows it changed.
    pub fn exec(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        match &mut *self.conn {
            Conn::Sqlite(c) => {
                let n = c
                    .prepare_cached(&sqlite_sql(sql))
                    .and_then(|mut s| s.execute(rusqlite::params_from_iter(params.iter())))
                    .map_err(|source| DbError::Sqlite { path: self.path.to_owned(), source })?;
                Ok(n as u64)
            }
            Conn::Postgres(c) => {
                let p: Vec<&(dyn postgres::types::ToSql + Sync)> = params.iter().map(|v| v as _).collect();
                Ok(c.execute(sql, &p)?)
            }
        }
    }

    /// Runs a query; returns every row.
    pub fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        match &mut *self.conn {
            Conn::Sqlite(c) => {
                let path = self.path;
                let err = |source| DbError::Sqlite { path: path.to_owned(), source };
                let mut stmt = c.prepare_cached(&sqlite_sql(sql)).map_err(err)?;
                let n = stmt.column_count();
                let rows = stmt
                    .query_map(rusqlite::params_from_iter(params.iter()), |r| sqlite_row(r, n))
                    .map_err(err)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(err)?;
                Ok(rows)
            }
            Conn::Postgres(c) => {
                let p: Vec<&(dyn postgres::types::ToSql + Sync)> = params.iter().map(|v| v as _).collect();
                c.query(sql, &p)?.iter().map(pg_row).collect()
            }
        }
    }

    /// The first row, if any.
    pub fn one(&mut self, sql: &str, params: &[Value]) -> Result<Option<Row>, DbError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// The first column of the first row as an integer (0 when there is no row).
    pub fn int(&mut self, sql: &str, params: &[Value]) -> Result<i64, DbError> {
        Ok(self.one(sql, params)?.map_or(0, |r| r.int(0)))
    }

    /// Runs statements separated by `;` without parameters (migrations).
    fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        match &mut *self.conn {
            Conn::Sqlite(c) => {
                c.execute_batch(sql).map_err(|source| DbError::Sqlite { path: self.path.to_owned(), source })
            }
            Conn::Postgres(c) => Ok(c.batch_execute(sql)?),
        }
    }

    pub fn dialect(&self) -> Dialect {
        match self.conn {
            Conn::Sqlite(_) => Dialect::Sqlite,
            Conn::Postgres(_) => Dialect::Postgres,
        }
    }
}

/// Where the database is.
#[derive(Clone)]
enum Target {
    Sqlite(PathBuf),
    /// The URL, and TLS when configured (then required).
    Postgres(String, Option<crate::pgtls::Connector>),
}

struct Pool {
    target: Target,
    idle: Mutex<(Vec<Conn>, usize)>,
    freed: Condvar,
    max: usize,
    label: PathBuf,
}

/// A small pool of connections, shared by the service's tasks.
#[derive(Clone)]
pub struct Db {
    pool: Arc<Pool>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the URL: it may carry a password.
        f.debug_struct("Db").field("dialect", &self.dialect()).finish()
    }
}

impl Db {
    /// Opens an SQLite file (created if missing; WAL, synchronous=FULL) and migrates it.
    pub fn open_sqlite(path: &Path) -> Result<Db, DbError> {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        Self::open(Target::Sqlite(path.to_owned()), path.to_owned(), 4)
    }

    /// Connects to PostgreSQL (`postgres://user:password@host:port/db`) and migrates it.
    pub fn open_postgres(url: &str) -> Result<Db, DbError> {
        Self::open_postgres_tls(url, None)
    }

    /// As [`Db::open_postgres`], over TLS when `tls` is given: the server must offer TLS and
    /// present a certificate from `tls.ca_file` for the URL's host, whatever the URL's
    /// `sslmode` says.
    pub fn open_postgres_tls(url: &str, tls: Option<&crate::pgtls::PgTls>) -> Result<Db, DbError> {
        let connector = tls.map(crate::pgtls::Connector::new).transpose()?;
        Self::open(Target::Postgres(url.to_owned(), connector), PathBuf::from("postgres"), 8)
    }

    /// `sqlite://PATH` or `postgres://...` / `postgresql://...`.
    pub fn open_url(url: &str) -> Result<Db, DbError> {
        match url.strip_prefix("sqlite://") {
            Some(path) => Self::open_sqlite(Path::new(path)),
            None => Self::open_postgres(url),
        }
    }

    fn open(target: Target, label: PathBuf, max: usize) -> Result<Db, DbError> {
        let db = Db {
            pool: Arc::new(Pool { target, idle: Mutex::new((Vec::new(), 0)), freed: Condvar::new(), max, label }),
        };
        db.migrate()?;
        Ok(db)
    }

    pub fn dialect(&self) -> Dialect {
        match self.pool.target {
            Target::Sqlite(_) => Dialect::Sqlite,
            Target::Postgres(..) => Dialect::Postgres,
        }
    }

    fn connect(&self) -> Result<Conn, DbError> {
        match &self.pool.target {
            Target::Sqlite(path) => {
                let err = |source| DbError::Sqlite { path: path.clone(), source };
                let c = rusqlite::Connection::open(path).map_err(err)?;
                c.pragma_update(None, "journal_mode", "WAL").map_err(err)?;
                c.pragma_update(None, "synchronous", "FULL").map_err(err)?;
                c.pragma_update(None, "foreign_keys", "ON").map_err(err)?;
                c.busy_timeout(std::time::Duration::from_secs(10)).map_err(err)?;
                Ok(Conn::Sqlite(c))
            }
            Target::Postgres(url, None) => {
                Ok(Conn::Postgres(Box::new(postgres::Client::connect(url, postgres::NoTls)?)))
            }
            Target::Postgres(url, Some(tls)) => {
                let mut cfg: postgres::Config = url.parse()?;
                cfg.ssl_mode(postgres::config::SslMode::Require);
                Ok(Conn::Postgres(Box::new(cfg.connect(tls.clone())?)))
            }
        }
    }

    fn checkout(&self) -> Result<Conn, DbError> {
        let mut g = self.pool.idle.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(c) = g.0.pop() {
                return Ok(c);
            }
            if g.1 < self.pool.max {
                g.1 += 1;
                drop(g);
                return self.connect().inspect_err(|_| {
                    self.pool.idle.lock().unwrap_or_else(|e| e.into_inner()).1 -= 1;
                    self.pool.freed.notify_one();
                });
            }
            g = self.pool.freed.wait(g).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn checkin(&self, conn: Option<Conn>) {
        let mut g = self.pool.idle.lock().unwrap_or_else(|e| e.into_inner());
        match conn {
            Some(Conn::Postgres(c)) if c.is_closed() => g.1 -= 1,
            Some(c) => g.0.push(c),
            None => g.1 -= 1,
        }
        self.pool.freed.notify_one();
    }

    /// Runs `f` on a pooled connection, outside a transaction (each statement commits alone).
    pub fn with<T>(&self, f: impl FnOnce(&mut Tx<'_>) -> Result<T, DbError>) -> Result<T, DbError> {
        let mut conn = self.checkout()?;
        let out = f(&mut Tx { conn: &mut conn, path: &self.pool.label });
        self.checkin(Some(conn));
        out
    }

    /// Runs `f` in one transaction: committed when it returns `Ok`, rolled back otherwise.
    pub fn tx<T, E: From<DbError>>(&self, f: impl FnOnce(&mut Tx<'_>) -> Result<T, E>) -> Result<T, E> {
        let mut conn = self.checkout()?;
        let label = &self.pool.label;
        let begin = match self.dialect() {
            Dialect::Sqlite => "BEGIN IMMEDIATE",
            Dialect::Postgres => "BEGIN",
        };
        if let Err(e) = (Tx { conn: &mut conn, path: label }).batch(begin) {
            self.checkin(None);
            return Err(e.into());
        }
        let out = f(&mut Tx { conn: &mut conn, path: label });
        let end = if out.is_ok() { "COMMIT" } else { "ROLLBACK" };
        match (Tx { conn: &mut conn, path: label }).batch(end) {
            Ok(()) => self.checkin(Some(conn)),
            Err(e) => {
                self.checkin(None);
                if out.is_ok() {
                    return Err(e.into());
                }
            }
        }
        out
    }

    /// [`Db::tx`] on a blocking thread, for async callers.
    pub async fn call<T: Send + 'static, E: From<DbError> + Send + 'static>(
        &self,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E> {
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.tx(f)).await.map_err(|e| E::from(DbError::Join(e.to_string())))?
    }

    fn migrate(&self) -> Result<(), DbError> {
        let dialect = self.dialect();
        self.tx(|t| {
            match dialect {
                // Instances starting together migrate one after the other.
                Dialect::Postgres => t.batch("SELECT pg_advisory_xact_lock(7283545)")?,
                Dialect::Sqlite => {} // BEGIN IMMEDIATE already holds the write lock
            }
            t.batch("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")?;
            let current = t.int("SELECT COALESCE(MAX(version), 0) FROM schema_version", params![])?;
            for (i, m) in crate::schema::MIGRATIONS.iter().enumerate().skip(current as usize) {
                t.batch(&ddl(m, dialect))?;
                t.exec("INSERT INTO schema_version (version) VALUES ($1)", params![i as i64 + 1])?;
            }
            Ok(())
        })
    }
}

/// The migration text for one engine.
fn ddl(sql: &str, dialect: Dialect) -> String {
    let pk = match dialect {
        Dialect::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
        Dialect::Postgres => "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
    };
    sql.replace("{pk}", pk)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_rewritten_for_sqlite_outside_strings() {
        assert_eq!(sqlite_sql("SELECT $1, '$2' WHERE a = $10"), "SELECT ?1, '$2' WHERE a = ?10");
    }

    #[test]
    fn sqlite_round_trips_values_and_rolls_back_failed_transactions() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open_sqlite(&dir.path().join("t.db")).unwrap();
        db.with(|t| t.exec("CREATE TABLE t (a BIGINT, b TEXT, c DOUBLE PRECISION)", params![])).unwrap();
        db.tx(|t| t.exec("INSERT INTO t VALUES ($1, $2, $3)", params![7i64, "x", 0.5])).unwrap();
        let failed: Result<(), DbError> = db.tx(|t| {
            t.exec("INSERT INTO t VALUES ($1, $2, $3)", params![8i64, "y", 1.0])?;
            Err(DbError::Join("boom".into()))
        });
        assert!(failed.is_err());
        let rows = db.with(|t| t.query("SELECT a, b, c FROM t", params![])).unwrap();
        assert_eq!(rows, vec![Row(vec![Value::Int(7), Value::Text("x".into()), Value::Real(0.5)])]);
        assert_eq!(rows[0].int(0), 7);
        assert_eq!(rows[0].text(1), "x");
        assert!(rows[0].opt_text(5).is_none());
    }
}
