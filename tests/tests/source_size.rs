//! The limits the codebase keeps so that each module still says what it does: no source file
//! under `crates/*/src`, `crates/*/benches` or `crates/*/assets` over 800 lines, and no function
//! outside `#[cfg(test)]` over 120 lines. A file or a function that grows past them is split in
//! the change that grows it.
//!
//! Functions are found by their `fn` line and the closing brace at the same indentation, which
//! is how `cargo fmt` writes them; everything after a `#[cfg(test)]` line is test code.

use std::path::{Path, PathBuf};

use menwei_tests::doc_commands::repo_root;

const MAX_FILE_LINES: usize = 800;
const MAX_FN_LINES: usize = 120;

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs" || x == "js") {
            out.push(p);
        }
    }
}

fn sources() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for krate in std::fs::read_dir(repo_root().join("crates")).unwrap().flatten() {
        for part in ["src", "benches", "assets"] {
            walk(&krate.path().join(part), &mut out);
        }
    }
    out.sort();
    out
}

/// (name, length in lines) of every function outside test code whose body exceeds `max`.
fn long_functions(text: &str, max: usize) -> Vec<(String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let end = lines.iter().position(|l| l.trim() == "#[cfg(test)]").unwrap_or(lines.len());
    let mut out = Vec::new();
    for (i, line) in lines[..end].iter().enumerate() {
        let body = line.trim_start();
        let indent = &line[..line.len() - body.len()];
        let decl = ["fn ", "pub fn ", "pub(crate) fn ", "pub(super) fn ", "async fn ", "pub async fn "]
            .iter()
            .find_map(|p| body.strip_prefix(p));
        let Some(rest) = decl else { continue };
        let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        let close = format!("{indent}}}");
        if let Some(len) = lines[i + 1..end].iter().position(|l| *l == close)
            && len + 1 > max
        {
            out.push((name, len + 1));
        }
    }
    out
}

#[test]
fn source_files_and_functions_stay_within_their_limits() {
    let root = repo_root();
    let mut problems = Vec::new();
    for path in sources() {
        let text = std::fs::read_to_string(&path).unwrap();
        let shown = path.strip_prefix(&root).unwrap_or(&path).display().to_string();
        let n = text.lines().count();
        if n > MAX_FILE_LINES {
            problems.push(format!("{shown}: {n} lines (at most {MAX_FILE_LINES})"));
        }
        if path.extension().is_some_and(|x| x == "rs") {
            for (name, len) in long_functions(&text, MAX_FN_LINES) {
                problems.push(format!("{shown}: fn {name} is {len} lines (at most {MAX_FN_LINES})"));
            }
        }
    }
    assert!(problems.is_empty(), "split these:\n{}", problems.join("\n"));
}

#[test]
fn a_long_function_is_found_and_test_code_is_not_counted() {
    let long: String = (0..130).map(|i| format!("    let x{i} = {i};\n")).collect();
    let text = format!(
        "fn short() {{\n}}\n\npub fn long() {{\n{long}}}\n\n#[cfg(test)]\nmod tests {{\n    fn also_long() {{\n{long}    }}\n}}\n"
    );
    assert_eq!(long_functions(&text, 120), vec![("long".to_owned(), 131)]);
}
