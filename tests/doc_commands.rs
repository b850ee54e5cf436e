//! The command lines the documentation shows, for each binary's own argument parser to judge.
//!
//! An installer copies what README.md, docs/ and deploy/ show. So each binary has a test that
//! runs every one of its documented command lines through its clap parser, and a doc that
//! shows a command the binary refuses fails CI. This module only finds them:
//!
//! - in fenced shell blocks (no language, `sh`, `bash`, `shell`, `console`) of the Markdown
//!   files, where a line must parse as it stands (`strict`); `\` continuations are joined, a
//!   `$ ` prompt is taken off, `#` comments, redirections and the other commands of a pipe
//!   or list are left out, and `sudo`, `env`, `exec`, `timeout N` and `VAR=value` before the
//!   program are skipped;
//! - in inline code spans of the prose, where a command is often named without its required
//!   arguments (`menwei-edge run`), so only an argument the parser refuses counts;
//! - in the systemd units' `ExecStart=` lines (strict).
//!
//! A line is a command of the program only when the program is in command position: its name,
//! or a path ending in `/name`. Lines with brackets, parentheses, braces or an ellipsis are
//! synopses or diagrams (`[OPTIONS]`, `(-c FILE)`, `{a|b}`, `#1 … #N`), not commands, and are
//! skipped.

use std::path::{Path, PathBuf};

/// One documented command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocCommand {
    /// `path:line`, relative to the repository.
    pub place: String,
    /// The argument vector, the program's name first.
    pub args: Vec<String>,
    /// From a code block or a unit file: it must parse completely. Inline spans may leave out
    /// required arguments.
    pub strict: bool,
}

/// The repository's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_owned()
}

/// Every command line of `program` (`menwei-edge`, …) in README.md, docs/ and deploy/.
/// `aliases` are other names that run it with the same arguments (`scripts/demo`).
pub fn find(program: &str, aliases: &[&str]) -> Vec<DocCommand> {
    let root = repo_root();
    let mut files = vec![root.join("README.md")];
    for dir in ["docs", "deploy"] {
        walk(&root.join(dir), &mut files);
    }
    files.sort();
    let mut names = vec![program];
    names.extend_from_slice(aliases);
    let mut out = Vec::new();
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else { continue };
        let rel = f.strip_prefix(&root).unwrap_or(&f).display().to_string();
        let found = match f.extension().and_then(|e| e.to_str()) {
            Some("md") => in_markdown(&text),
            Some("service") => in_unit(&text),
            _ => continue,
        };
        for (line, text, strict) in found {
            for args in commands(&text, program, &names) {
                out.push(DocCommand { place: format!("{rel}:{line}"), args, strict });
            }
        }
    }
    out
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, files);
        } else {
            files.push(p);
        }
    }
}

const SHELL_FENCES: [&str; 6] = ["", "sh", "bash", "shell", "console", "sh-session"];

/// The shell text of a Markdown file: `(1-based line, text, strict)`.
pub fn in_markdown(text: &str) -> Vec<(usize, String, bool)> {
    let mut out = Vec::new();
    let mut fence: Option<bool> = None; // Some(shell?) inside a fenced block
    let mut pending: Option<(usize, String)> = None; // a line continued with `\`
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            fence = match fence {
                None => {
                    let lang = trimmed.trim_start_matches(['`', '~']).split_whitespace().next().unwrap_or("");
                    Some(SHELL_FENCES.contains(&lang))
                }
                Some(_) => None,
            };
            pending = None;
            continue;
        }
        match fence {
            Some(true) => {
                let (start, mut joined) = pending.take().unwrap_or((i + 1, String::new()));
                let piece = trimmed.strip_prefix("$ ").unwrap_or(trimmed);
                match piece.strip_suffix('\\') {
                    Some(head) => {
                        joined.push_str(head);
                        joined.push(' ');
                        pending = Some((start, joined));
                    }
                    None => {
                        joined.push_str(piece);
                        out.push((start, joined, true));
                    }
                }
            }
            Some(false) => {}
            None => {
                let mut rest = line;
                while let Some(open) = rest.find('`') {
                    let after = &rest[open + 1..];
                    let Some(close) = after.find('`') else { break };
                    if close > 0 {
                        out.push((i + 1, after[..close].to_owned(), false));
                    }
                    rest = &after[close + 1..];
                }
            }
        }
    }
    out
}

/// The `ExecStart=` lines of a systemd unit.
pub fn in_unit(text: &str) -> Vec<(usize, String, bool)> {
    text.lines()
        .enumerate()
        .filter_map(|(i, l)| {
            l.trim()
                .strip_prefix("ExecStart=")
                .map(|c| (i + 1, c.trim_start_matches(['-', '@', '+', '!', ':']).to_owned(), true))
        })
        .collect()
}

/// The argument vectors of `program` in one line of shell: each command of a list or pipe whose
/// program (after wrappers and assignments) is one of `names`, with `program` as `args[0]`.
pub fn commands(line: &str, program: &str, names: &[&str]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    // A synopsis (`[OPTIONS]`, `(-c FILE)`, `{a|b}`, `…`) or a diagram is not a command line.
    if line.contains(['[', ']', '(', ')', '{', '}', '…']) || line.contains("...") {
        return out;
    }
    for words in split(line) {
        let mut w = words.as_slice();
        loop {
            match w.first().map(String::as_str) {
                Some(a) if is_assignment(a) => w = &w[1..],
                Some("env" | "exec" | "time" | "nohup" | "--") => w = &w[1..],
                Some("sudo") => {
                    w = &w[1..];
                    while let Some(opt) = w.first().filter(|o| o.starts_with('-')) {
                        let takes_value = matches!(opt.as_str(), "-u" | "-g" | "-C" | "-D");
                        w = &w[if takes_value { 2 } else { 1 }.min(w.len())..];
                    }
                }
                Some("timeout") => {
                    w = &w[1..];
                    while w.first().is_some_and(|o| o.starts_with('-')) {
                        w = &w[1..];
                    }
                    w = &w[1.min(w.len())..]; // the duration
                }
                _ => break,
            }
        }
        let Some(first) = w.first() else { continue };
        let named = names.iter().any(|n| first == n || first.ends_with(&format!("/{n}")));
        if named {
            let mut args = vec![program.to_owned()];
            args.extend(w[1..].iter().cloned());
            out.push(args);
        }
    }
    out
}

fn is_assignment(w: &str) -> bool {
    let Some((name, _)) = w.split_once('=') else { return false };
    let mut c = name.chars();
    c.next().is_some_and(|f| f.is_ascii_alphabetic() || f == '_') && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

/// Splits a line into commands of words: quotes group (without expansion), `#` at a word's
/// start ends the line, `|`, `&`, `;` end a command, and redirections and their targets are
/// dropped.
fn split(line: &str) -> Vec<Vec<String>> {
    let (mut commands, mut words, mut word) = (Vec::new(), Vec::new(), String::new());
    let (mut in_word, mut drop_next) = (false, false);
    let mut chars = line.chars().peekable();
    let end_word = |words: &mut Vec<String>, word: &mut String, in_word: &mut bool, drop_next: &mut bool| {
        if *in_word {
            if *drop_next {
                *drop_next = false;
            } else {
                words.push(std::mem::take(word));
            }
        }
        word.clear();
        *in_word = false;
    };
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                in_word = true;
                for q in chars.by_ref() {
                    if q == c {
                        break;
                    }
                    word.push(q);
                }
            }
            '#' if !in_word => break,
            c if c.is_whitespace() => end_word(&mut words, &mut word, &mut in_word, &mut drop_next),
            '|' | ';' | '&' => {
                end_word(&mut words, &mut word, &mut in_word, &mut drop_next);
                commands.push(std::mem::take(&mut words));
            }
            '<' | '>' => {
                // `2>`, `>>`, `2>&1`, `<<EOF`: the file descriptor, the operator and its target.
                if in_word && word.chars().all(|d| d.is_ascii_digit()) {
                    word.clear();
                    in_word = false;
                }
                end_word(&mut words, &mut word, &mut in_word, &mut drop_next);
                while chars.peek().is_some_and(|n| matches!(n, '<' | '>' | '&' | '-')) {
                    chars.next();
                }
                drop_next = true;
            }
            _ => {
                in_word = true;
                word.push(c);
            }
        }
    }
    end_word(&mut words, &mut word, &mut in_word, &mut drop_next);
    commands.push(words);
    commands.retain(|c| !c.is_empty());
    commands
}

/// Runs every documented command line of `program` through `parse` (the binary's clap parser)
/// and panics with the list of those it refuses. Help and version requests are accepted; so
/// are missing required arguments in inline spans. `at_least` guards against an extractor that
/// quietly finds nothing.
pub fn assert_all_parse(
    program: &str,
    aliases: &[&str],
    at_least: usize,
    parse: impl Fn(&[String]) -> Result<(), clap::Error>,
) {
    use clap::error::ErrorKind as K;
    let found = find(program, aliases);
    assert!(found.len() >= at_least, "only {} command lines of {program} found in the docs: {found:#?}", found.len());
    let refused: Vec<String> = found
        .iter()
        .filter_map(|c| {
            let e = parse(&c.args).err()?;
            let lenient = matches!(
                e.kind(),
                K::MissingRequiredArgument | K::MissingSubcommand | K::DisplayHelpOnMissingArgumentOrSubcommand
            );
            if matches!(e.kind(), K::DisplayHelp | K::DisplayVersion) || (lenient && !c.strict) {
                return None;
            }
            let why = e.to_string();
            Some(format!("{}: `{}`\n    {}", c.place, c.args.join(" "), why.lines().next().unwrap_or("")))
        })
        .collect();
    assert!(
        refused.is_empty(),
        "{program} refuses {} documented command lines:\n{}",
        refused.len(),
        refused.join("\n")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn commands_are_found_in_command_position_with_wrappers_and_redirections_taken_off() {
        let names = ["menwei-central"];
        let c = |l: &str| commands(l, "menwei-central", &names);
        assert_eq!(
            c(
                "sudo -u menwei MENWEI_X=1 /usr/bin/menwei-central user add -c /etc/c.toml admin --role admin --password-stdin < pw.txt"
            ),
            vec![v(&[
                "menwei-central",
                "user",
                "add",
                "-c",
                "/etc/c.toml",
                "admin",
                "--role",
                "admin",
                "--password-stdin"
            ])]
        );
        assert_eq!(
            c("echo pw | menwei-central user -c 'my dir/c.toml' add g1 --role grid 2>&1 # a comment"),
            vec![v(&["menwei-central", "user", "-c", "my dir/c.toml", "add", "g1", "--role", "grid"])]
        );
        assert_eq!(
            c("timeout 60 target/release/menwei-central run -c c.toml && echo ok"),
            vec![v(&["menwei-central", "run", "-c", "c.toml"])]
        );
        // Not in command position, another program, or a synopsis.
        assert!(c("grep menwei-central log.txt").is_empty());
        assert!(c("menwei-central-1").is_empty());
        assert!(c("menwei-central [OPTIONS] <COMMAND>").is_empty());
        assert!(c("menwei-central user add … --role admin").is_empty());
        assert!(c("menwei-central run --config FILE   (-c FILE)").is_empty());
        assert!(c("menwei-central #1 … #N").is_empty());
    }

    #[test]
    fn markdown_gives_shell_blocks_strictly_and_inline_spans_leniently() {
        let md = "Run `menwei-edge run` first.\n\n```sh\n$ menwei-edge check-config \\\n    edge.toml\n# menwei-edge nothing\n```\n\n```toml\nx = \"menwei-edge run\"\n```\n";
        let found = in_markdown(md);
        assert_eq!(found[0], (1, "menwei-edge run".to_owned(), false));
        assert_eq!(found[1], (4, "menwei-edge check-config  edge.toml".to_owned(), true));
        assert_eq!(commands(&found[2].1, "menwei-edge", &["menwei-edge"]), Vec::<Vec<String>>::new());
        assert_eq!(found.len(), 3, "{found:?}");
        let unit = in_unit("[Service]\nExecStart=/usr/bin/menwei-edge run --config /etc/menwei/edge.toml\n");
        assert_eq!(unit, vec![(2, "/usr/bin/menwei-edge run --config /etc/menwei/edge.toml".to_owned(), true)]);
    }
}
