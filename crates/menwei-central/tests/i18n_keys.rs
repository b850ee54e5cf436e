//! The dashboard's two languages have the same strings, and every string the scripts name
//! exists. The strings are `crates/menwei-central/assets/i18n/zh.js` and
//! `crates/menwei-central/assets/i18n/en.js`, one `'key': 'text',` entry a line (a line of
//! any other shape inside the object fails the test, so that no entry can hide from it).
//!
//! A key the scripts name is a literal `t('key'` (or `t("key"`) in any other `.js` file under
//! `assets/`, a `data-i18n="key"` in `index.html`, or a quoted literal that looks like a key of
//! one of the strings' namespaces (`'col.ref'` in a column list, `'stats.h24'` in an option
//! list). A key built at run time (`t('tab.' + k)`, `word('kind', ...)`, a template string) is
//! not checked: its prefix is followed by `+`, or it is not a literal.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn assets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// A quoted string at the start of `s` (`'…'` or `"…"`, with `\` escapes): its text as
/// written and what follows it. `None` when `s` does not start with a quote or the string does
/// not end on this line.
fn quoted(s: &str) -> Option<(&str, &str)> {
    let q = s.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let mut escaped = false;
    for (i, c) in s.char_indices().skip(1) {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == q {
            return Some((&s[1..i], &s[i + 1..]));
        }
    }
    None
}

/// One entry line, `'key': 'text',` or `key: 'text',`: its key.
fn entry(line: &str) -> Option<&str> {
    let l = line.trim();
    let (key, rest) = match quoted(l) {
        Some(kv) => kv,
        None => {
            let end = l.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '$')).unwrap_or(l.len());
            (&l[..end], &l[end..])
        }
    };
    let value = rest.trim_start().strip_prefix(':')?.trim_start();
    let (_, after) = quoted(value)?;
    (!key.is_empty() && after.trim() == ",").then_some(key)
}

/// The keys of a strings file, in order, with their line numbers; panics on a line inside the
/// object that is neither an entry, a comment nor blank.
fn keys(path: &Path) -> Vec<(usize, String)> {
    let text = read(path);
    let mut out = Vec::new();
    let mut inside = false;
    for (n, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l)) {
        let l = line.trim();
        if !inside {
            inside = l == "export default {";
            continue;
        }
        if l == "};" {
            inside = false;
        } else if !l.is_empty() && !l.starts_with("//") {
            let key = entry(l).unwrap_or_else(|| panic!("{}:{n}: not one `'key': 'text',` entry: {l}", path.display()));
            out.push((n, key.to_owned()));
        }
    }
    out
}

/// The keys of `i18n/<lang>.js` as a set; panics on a key given twice (JavaScript would keep
/// the last one without a word).
fn key_set(lang: &str) -> BTreeSet<String> {
    let path = assets().join("i18n").join(format!("{lang}.js"));
    let mut seen = BTreeMap::new();
    for (n, k) in keys(&path) {
        if let Some(first) = seen.insert(k.clone(), n) {
            panic!("{}: {k:?} is given twice, on lines {first} and {n}", path.display());
        }
    }
    // Not vacuous: the files hold some 270 strings today.
    assert!(seen.len() >= 100, "only {} keys read from {}: the extraction is broken", seen.len(), path.display());
    seen.into_keys().collect()
}

#[test]
fn both_languages_have_the_same_keys() {
    let zh = key_set("zh");
    let en = key_set("en");
    let only_zh: Vec<_> = zh.difference(&en).collect();
    let only_en: Vec<_> = en.difference(&zh).collect();
    assert!(
        only_zh.is_empty() && only_en.is_empty(),
        "the languages differ:\n  missing from en.js: {only_zh:?}\n  missing from zh.js: {only_en:?}"
    );
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '$'
}

/// The `.js` files under `dir`, but not the strings themselves.
fn scripts(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display())) {
        let p = e.unwrap().path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n != "i18n") {
                scripts(&p, out);
            }
        } else if p.extension().is_some_and(|x| x == "js") {
            out.push(p);
        }
    }
}

fn line_of(text: &str, at: usize) -> usize {
    text[..at].matches('\n').count() + 1
}

/// Literal keys in `t('key'` calls: (line, key). A literal followed by `+` is a prefix.
fn t_calls(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices("t(") {
        if text[..i].chars().next_back().is_some_and(|c| is_ident(c) || c == '.') {
            continue; // set(, at(, x.t(
        }
        let Some((key, rest)) = quoted(&text[i + 2..]) else { continue };
        if !rest.trim_start().starts_with('+') {
            out.push((line_of(text, i), key.to_owned()));
        }
    }
    out
}

/// Quoted literals shaped like a key (`'col.ref'`: lower case, digits, `_`, at least one dot)
/// whose namespace (before the first dot) is one of `namespaces`: (line, key).
fn key_like(text: &str, namespaces: &BTreeSet<&str>) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, c) in text.char_indices().filter(|(_, c)| *c == '\'' || *c == '"') {
        let body = &text[i + 1..];
        let end = body.find(|ch: char| !(ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_' || ch == '.'));
        let Some(end) = end.filter(|&e| body[e..].starts_with(c)) else { continue };
        let lit = &body[..end];
        let shaped = lit.split('.').count() >= 2 && lit.split('.').all(|p| !p.is_empty());
        if shaped && namespaces.contains(lit.split('.').next().unwrap()) {
            out.push((line_of(text, i), lit.to_owned()));
        }
    }
    out
}

#[test]
fn every_key_the_scripts_name_exists() {
    let zh = key_set("zh");
    let namespaces: BTreeSet<&str> = zh.iter().map(|k| k.split('.').next().unwrap()).collect();
    let root = assets();
    let mut files = Vec::new();
    scripts(&root, &mut files);
    files.sort();
    assert!(files.len() >= 10, "only {} scripts found under {}", files.len(), root.display());

    let mut missing = BTreeSet::new();
    let mut called = BTreeSet::new();
    let mut check = |file: &Path, line: usize, key: String| {
        if !zh.contains(&key) {
            missing.insert(format!("{}:{line}: {key}", file.strip_prefix(&root).unwrap_or(file).display()));
        }
        key
    };
    for f in &files {
        let text = read(f);
        for (line, key) in t_calls(&text) {
            called.insert(check(f, line, key));
        }
        for (line, key) in key_like(&text, &namespaces) {
            check(f, line, key);
        }
    }
    // Not vacuous: the pages call t() with some 120 different literal keys today.
    assert!(called.len() >= 50, "only {} literal t() keys found: the extraction is broken", called.len());

    let index = root.join("index.html");
    let html = read(&index);
    let mut in_html = 0;
    for (i, _) in html.match_indices("data-i18n=\"") {
        let rest = &html[i + "data-i18n=\"".len()..];
        let key = rest[..rest.find('"').expect("an unterminated data-i18n attribute")].to_owned();
        check(&index, line_of(&html, i), key);
        in_html += 1;
    }
    assert!(in_html >= 5, "only {in_html} data-i18n attributes found in index.html");

    assert!(
        missing.is_empty(),
        "keys named in the scripts but not in i18n/zh.js:\n{}",
        missing.into_iter().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn the_extraction_reads_what_the_files_hold() {
    assert_eq!(entry("  'nav.live': '实时',"), Some("nav.live"));
    assert_eq!(entry(r"  'a.b': 'the resident\'s, or a guardian\'s',"), Some("a.b"));
    assert_eq!(entry(r#"  "a.b": "x","#), Some("a.b"));
    assert_eq!(entry("  bare_key: 'x',"), Some("bare_key"));
    // Two entries on one line, a string over two lines, no comma: not the format.
    assert_eq!(entry("  'a.b': 'x', 'c.d': 'y',"), None);
    assert_eq!(entry("  'a.b': 'x"), None);
    assert_eq!(entry("  'a.b': 'x'"), None);
    let calls = t_calls("t('a.b'), t(\"c.d\", {n}), t('tab.' + k), set('state', 1), x.t('no.pe'), t(`e.${f}`)");
    assert_eq!(calls, [(1, "a.b".to_owned()), (1, "c.d".to_owned())]);
    let ns = BTreeSet::from(["col", "stats"]);
    let lits = key_like("[{ label: 'col.ref' }, [24, 'stats.h24'], 'menwei.lang', 'col.', \"the server's\" 'x']", &ns);
    assert_eq!(lits, [(1, "col.ref".to_owned()), (1, "stats.h24".to_owned())]);
}
