//! What every binary's config validation reports: each problem with its key path, all at once.
//!
//! Each binary keeps its own raw structs (unknown keys denied) and typed config; this module
//! is the shared reporting half, so that `check-config` looks the same for every binary.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// One problem in a config file, at a key path such as `cameras[1].detect_fps`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issue {
    pub key: String,
    pub message: String,
}

/// Every problem found in a config file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors {
    pub file: PathBuf,
    pub issues: Vec<Issue>,
}

impl ConfigErrors {
    pub fn one(file: &Path, key: impl Into<String>, message: impl Into<String>) -> Self {
        Self { file: file.to_owned(), issues: vec![Issue { key: key.into(), message: message.into() }] }
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.issues.len();
        write!(f, "{}: {n} problem{}", self.file.display(), if n == 1 { "" } else { "s" })?;
        for i in &self.issues {
            write!(f, "\n  {}: {}", i.key, i.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Collects problems during validation.
#[derive(Debug, Default)]
pub struct Issues(Vec<Issue>);

impl Issues {
    pub fn add(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.0.push(Issue { key: key.into(), message: message.into() });
    }

    /// Whether `v` lies in `range`; if not, says so at `key` ("5000 is not between 1 and 64").
    pub fn range<T: PartialOrd + fmt::Display>(&mut self, key: &str, v: T, range: std::ops::RangeInclusive<T>) -> bool {
        self.range_in(key, v, range, "")
    }

    /// As [`Issues::range`], naming the unit after the value ("0.5 s is not between 1 and 3600").
    pub fn range_in<T: PartialOrd + fmt::Display>(
        &mut self,
        key: &str,
        v: T,
        range: std::ops::RangeInclusive<T>,
        unit: &str,
    ) -> bool {
        let ok = range.contains(&v);
        if !ok {
            let unit = if unit.is_empty() { String::new() } else { format!(" {unit}") };
            self.add(key, format!("{v}{unit} is not between {} and {}", range.start(), range.end()));
        }
        ok
    }

    /// `Ok` when nothing was found, else every problem, attributed to `file`.
    pub fn finish(self, file: &Path) -> Result<(), ConfigErrors> {
        if self.0.is_empty() { Ok(()) } else { Err(ConfigErrors { file: file.to_owned(), issues: self.0 }) }
    }
}

/// The `[log]` table every binary has, as written.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    pub format: Option<String>,
    pub filter: Option<String>,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Human,
    Json,
}

impl RawLog {
    /// The format (default human); an unknown value is reported at `log.format`.
    pub fn format(&self, issues: &mut Issues) -> LogFormat {
        match self.format.as_deref().unwrap_or("human") {
            "human" => LogFormat::Human,
            "json" => LogFormat::Json,
            other => {
                issues.add("log.format", format!("`{other}` is not one of human, json"));
                LogFormat::Human
            }
        }
    }
}

/// Deserialises `text` (read from `file`); a syntax error or an unknown key is reported with
/// its line.
pub fn parse_toml<T: DeserializeOwned>(text: &str, file: &Path) -> Result<T, ConfigErrors> {
    toml::from_str(text).map_err(|e| {
        let key =
            e.span().map_or("(file)".to_owned(), |s| format!("line {}", text[..s.start].matches('\n').count() + 1));
        ConfigErrors::one(file, key, e.message())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct T {
        a: u32,
    }

    #[test]
    fn unknown_keys_name_their_line_and_issues_list_all() {
        let e = parse_toml::<T>("a = 1\n\nb = 2\n", Path::new("x.toml")).unwrap_err();
        assert_eq!(e.issues[0].key, "line 3");
        assert!(e.to_string().starts_with("x.toml: 1 problem\n  line 3: unknown field `b`"), "{e}");
        let mut i = Issues::default();
        i.add("k1", "m1");
        i.add("k2", "m2");
        assert_eq!(i.finish(Path::new("y")).unwrap_err().to_string(), "y: 2 problems\n  k1: m1\n  k2: m2");
        assert!(Issues::default().finish(Path::new("y")).is_ok());
        let mut issues = Issues::default();
        assert!(issues.range("a", 3, 1..=64) && issues.range("b", 1.0, 1.0..=4.0));
        assert!(!issues.range("c", 0, 1..=64) && !issues.range_in("d", 0.5, 1.0..=3600.0, "s"));
        let e = issues.finish(Path::new("z")).unwrap_err();
        assert_eq!(e.issues[0], Issue { key: "c".into(), message: "0 is not between 1 and 64".into() });
        assert_eq!(e.issues[1].message, "0.5 s is not between 1 and 3600");
    }
}

/// Why `${NAME}` could not be expanded. Names the variable, never a value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VarError {
    #[error("unterminated `${{`")]
    Unterminated,
    #[error("environment variable {0} is not set")]
    Unset(String),
}

/// Replaces each `${NAME}` in `s` with `lookup(NAME)`, so that secrets can stay out of config
/// files (the binaries look names up in the environment). A name `lookup` does not know is an
/// error naming it, never a value.
pub fn expand_vars(s: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, VarError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or(VarError::Unterminated)?;
        let name = &after[..end];
        let value = lookup(name).ok_or_else(|| VarError::Unset(name.to_owned()))?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod expand_tests {
    use super::*;

    #[test]
    fn variables_expand_and_unknown_ones_are_named() {
        let env = |n: &str| (n == "PW").then(|| "s3cret".to_owned());
        assert_eq!(expand_vars("user:${PW}@h", env).unwrap(), "user:s3cret@h");
        assert_eq!(expand_vars("${NOPE}", env).unwrap_err().to_string(), "environment variable NOPE is not set");
        assert!(expand_vars("${PW", env).is_err());
    }
}
