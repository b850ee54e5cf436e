//! Every path the documentation cites exists: Markdown links (relative to their file) in
//! README.md, docs/ and deploy/, and repository paths in backticks there, in the crates'
//! `//!` docs and in the comments of the Cargo.toml files (in a crate's own files, `tests/…`
//! and `benches/…` may be the crate's). A path under a generated directory
//! (`var/`, `target/`, `models/*.onnx`) or with a placeholder (`<id>`, `*`, `{kind}`, `…`) is
//! not checked.

use std::path::{Path, PathBuf};

use menwei_tests::doc_commands::repo_root;

/// The top-level directories of the repository whose paths are checked.
const TOP: [&str; 8] = ["crates/", "docs/", "deploy/", "config/", "scripts/", "tests/", "benches/", "fuzz/"];

fn walk(dir: &Path, keep: &dyn Fn(&Path) -> bool, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n != "target" && n != ".git") {
                walk(&p, keep, out);
            }
        } else if keep(&p) {
            out.push(p);
        }
    }
}

fn placeholder(p: &str) -> bool {
    p.contains(['<', '>', '*', '{', '}', '…', '$', ' ']) || p.contains("...")
}

/// Paths in backticks that start at the repository's top.
fn backticked(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, span) in text.split('`').enumerate() {
        if i % 2 == 1 && TOP.iter().any(|t| span.starts_with(t)) && !placeholder(span) {
            // `crates/x/src/lib.rs:12` and `path (a note)` cite the path.
            let p = span.split([':', ' ', '#']).next().unwrap_or(span);
            out.push(p.trim_end_matches(['.', ',', ')']).to_owned());
        }
    }
    out
}

/// Relative Markdown link targets: `[text](target)`.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("](") {
        rest = &rest[i + 2..];
        let Some(end) = rest.find(')') else { break };
        let target = rest[..end].split('#').next().unwrap_or("").trim();
        let external = target.contains("://") || target.starts_with("mailto:");
        if !target.is_empty() && !external && !placeholder(target) {
            out.push(target.to_owned());
        }
        rest = &rest[end..];
    }
    out
}

#[test]
fn every_cited_path_exists() {
    let root = repo_root();
    let mut missing = Vec::new();
    let mut checked = 0;
    let mut check = |from: &Path, base: &Path, cited: &str| {
        if cited.starts_with("var/") || cited.starts_with("target/") || cited.ends_with(".onnx") {
            return;
        }
        checked += 1;
        // In a crate's own files, `tests/…` and `benches/…` may also be the crate's.
        let krate = from.strip_prefix(&root).ok().and_then(|r| {
            let mut c = r.components();
            (c.next()?.as_os_str() == "crates").then(|| root.join("crates").join(c.next().unwrap().as_os_str()))
        });
        if !base.join(cited).exists() && !krate.is_some_and(|k| k.join(cited).exists()) {
            missing.push(format!("{}: {cited}", from.strip_prefix(&root).unwrap_or(from).display()));
        }
    };

    let mut markdown = vec![root.join("README.md")];
    for dir in ["docs", "deploy", "crates", "tests"] {
        walk(&root.join(dir), &|p| p.extension().is_some_and(|e| e == "md"), &mut markdown);
    }
    for f in &markdown {
        let text = std::fs::read_to_string(f).unwrap();
        let dir = f.parent().unwrap();
        for l in links(&text) {
            check(f, dir, &l);
        }
        // Code blocks hold commands and output, not citations.
        let prose: String = text.split("```").step_by(2).collect::<Vec<_>>().join("\n");
        for p in backticked(&prose) {
            check(f, &root, &p);
        }
    }

    let mut sources = Vec::new();
    walk(&root.join("crates"), &|p| p.extension().is_some_and(|e| e == "rs"), &mut sources);
    walk(&root.join("tests"), &|p| p.extension().is_some_and(|e| e == "rs"), &mut sources);
    for f in &sources {
        let text = std::fs::read_to_string(f).unwrap();
        let docs: String =
            text.lines().filter_map(|l| l.trim_start().strip_prefix("//!")).collect::<Vec<_>>().join("\n");
        for p in backticked(&docs) {
            check(f, &root, &p);
        }
    }

    let mut manifests = vec![root.join("Cargo.toml")];
    walk(&root.join("crates"), &|p| p.file_name().is_some_and(|n| n == "Cargo.toml"), &mut manifests);
    for f in &manifests {
        let text = std::fs::read_to_string(f).unwrap();
        let comments: String =
            text.lines().filter_map(|l| l.split_once('#').map(|(_, c)| c)).collect::<Vec<_>>().join("\n");
        for p in backticked(&comments) {
            check(f, &root, &p);
        }
        for word in comments.split_whitespace() {
            let w = word.trim_start_matches(|c: char| !c.is_alphanumeric());
            let w = w.trim_end_matches(|c: char| !c.is_alphanumeric() && c != '/');
            if TOP.iter().any(|t| w.starts_with(t)) && !placeholder(w) {
                check(f, &root, w);
            }
        }
    }

    assert!(checked > 100, "only {checked} cited paths found: the extraction is broken");
    assert!(missing.is_empty(), "{} cited paths do not exist:\n{}", missing.len(), missing.join("\n"));
}

#[test]
fn citations_are_found_in_backticks_and_links() {
    assert_eq!(
        backticked("see `crates/a/src/lib.rs:12` and `cargo test` and `docs/x.md#y`"),
        ["crates/a/src/lib.rs", "docs/x.md"]
    );
    assert!(backticked("`crates/<name>/src` and `docs/…`").is_empty());
    assert_eq!(links("[a](../b.md#c), [web](https://x.example), [d](#e)"), ["../b.md"]);
}
