//! The dashboard's files, compiled into the binary: the service works with no internet and no
//! static-file directory to install (no CDN, no external fonts; charts and maps are inline SVG).
//!
//! The page is `crates/menwei-central/assets/index.html` ([`INDEX`], served at `/`); its script
//! is plain JavaScript as native ES modules, with no build step: the page loads the entry
//! module `app.js` with `<script type="module">`, and the browser fetches what it imports by
//! relative paths, all under `/assets/`: the shared modules (`state.js`, `i18n.js`, `dom.js`,
//! `api.js`, `nav.js`, `forms.js`), the strings (`i18n/zh.js`, `i18n/en.js`) and one module
//! per page (`pages/live.js`, ...). Each file is one entry of `FILES`; a module missing there
//! would be a 404 and stop the whole page, so a test below checks the table against the
//! folder and against every import.

pub const INDEX: &str = include_str!("../assets/index.html");

/// Every file served under `/assets/`, by its name there (with at most one folder).
const FILES: &[(&str, &str)] = &[
    ("app.css", include_str!("../assets/app.css")),
    ("app.js", include_str!("../assets/app.js")),
    ("state.js", include_str!("../assets/state.js")),
    ("i18n.js", include_str!("../assets/i18n.js")),
    ("i18n/zh.js", include_str!("../assets/i18n/zh.js")),
    ("i18n/en.js", include_str!("../assets/i18n/en.js")),
    ("dom.js", include_str!("../assets/dom.js")),
    ("api.js", include_str!("../assets/api.js")),
    ("nav.js", include_str!("../assets/nav.js")),
    ("forms.js", include_str!("../assets/forms.js")),
    ("pages/login.js", include_str!("../assets/pages/login.js")),
    ("pages/overview.js", include_str!("../assets/pages/overview.js")),
    ("pages/live.js", include_str!("../assets/pages/live.js")),
    ("pages/orders.js", include_str!("../assets/pages/orders.js")),
    ("pages/register.js", include_str!("../assets/pages/register.js")),
    ("pages/register_homes.js", include_str!("../assets/pages/register_homes.js")),
    ("pages/register_vehicles.js", include_str!("../assets/pages/register_vehicles.js")),
    ("pages/imports.js", include_str!("../assets/pages/imports.js")),
    ("pages/edges.js", include_str!("../assets/pages/edges.js")),
    ("pages/stats.js", include_str!("../assets/pages/stats.js")),
];

/// `/assets/<name>`: content type and body. `name` is the path under `/assets/`, such as
/// `app.js` or `pages/live.js`.
pub fn asset(name: &str) -> Option<(&'static str, &'static str)> {
    let &(_, body) = FILES.iter().find(|(n, _)| *n == name)?;
    Some((content_type(name), body))
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::*;

    /// The files under `dir`, as paths relative to `base` with `/` between the parts.
    fn walk(base: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display())) {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p.strip_prefix(base).unwrap();
                out.insert(rel.iter().map(|c| c.to_string_lossy()).collect::<Vec<_>>().join("/"));
            }
        }
    }

    /// `spec` (`./x.js`, `../x.js`) as imported by the module `from` (`pages/live.js`), as a
    /// name under `/assets/`; `None` for anything else (a bare name, an absolute URL, or a
    /// path above `/assets/`).
    fn resolve(from: &str, spec: &str) -> Option<String> {
        if !spec.starts_with("./") && !spec.starts_with("../") {
            return None;
        }
        let mut parts: Vec<&str> = from.split('/').collect();
        parts.pop();
        for seg in spec.split('/') {
            match seg {
                "." => {}
                ".." => {
                    parts.pop()?;
                }
                s => parts.push(s),
            }
        }
        Some(parts.join("/"))
    }

    /// The specifiers after `from '` or `from "` in a module's text.
    fn imports(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        for q in ['\'', '"'] {
            let key = format!("from {q}");
            for (i, _) in text.match_indices(&key) {
                let rest = &text[i + key.len()..];
                if let Some(end) = rest.find(q) {
                    out.push(&rest[..end]);
                }
            }
        }
        out
    }

    #[test]
    fn every_file_in_the_assets_folder_is_served_and_only_those() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
        let mut on_disk = BTreeSet::new();
        walk(&dir, &dir, &mut on_disk);
        on_disk.remove("index.html"); // served at `/` as INDEX
        let served: BTreeSet<String> = FILES.iter().map(|(n, _)| (*n).to_owned()).collect();
        assert_eq!(served.len(), FILES.len(), "a name is twice in FILES");
        let unserved: Vec<_> = on_disk.difference(&served).collect();
        let absent: Vec<_> = served.difference(&on_disk).collect();
        assert!(unserved.is_empty(), "files under assets/ that FILES does not serve: {unserved:?}");
        assert!(absent.is_empty(), "FILES names files that are not under assets/: {absent:?}");
        for (name, _) in FILES {
            assert!(name.matches('/').count() <= 1, "{name}: at most one folder under /assets/");
            assert_ne!(content_type(name), "application/octet-stream", "{name}: no content type for it");
        }
        assert_eq!(asset("pages/live.js").map(|(mime, _)| mime), Some("text/javascript; charset=utf-8"));
        assert_eq!(asset("app.css").map(|(mime, _)| mime), Some("text/css; charset=utf-8"));
        assert_eq!(asset("index.html"), None);
        assert_eq!(asset("../src/lib.rs"), None);
    }

    #[test]
    fn every_import_is_a_served_module_and_every_module_is_imported() {
        let served: BTreeSet<&str> = FILES.iter().map(|(n, _)| *n).collect();
        // The page itself loads the stylesheet and the entry module.
        let mut used: BTreeSet<String> = BTreeSet::new();
        for (i, _) in INDEX.match_indices("\"/assets/") {
            let rest = &INDEX[i + "\"/assets/".len()..];
            let name = &rest[..rest.find('"').unwrap()];
            assert!(served.contains(name), "index.html loads /assets/{name}, which is not served");
            used.insert(name.to_owned());
        }
        assert!(
            INDEX.contains(r#"<script type="module" src="/assets/app.js"></script>"#),
            "app.js is loaded as a module"
        );
        for (name, text) in FILES.iter().filter(|(n, _)| n.ends_with(".js")) {
            for spec in imports(text) {
                assert!(spec.ends_with(".js"), "{name} imports {spec:?}: name the file, with .js");
                let target = resolve(name, spec)
                    .unwrap_or_else(|| panic!("{name} imports {spec:?}: only ./ and ../ paths under /assets/"));
                assert!(served.contains(target.as_str()), "{name} imports {spec:?} = {target}, which is not served");
                used.insert(target);
            }
        }
        let unused: Vec<_> = served.iter().filter(|n| !used.contains(**n)).collect();
        assert!(unused.is_empty(), "served but neither loaded by index.html nor imported: {unused:?}");
    }

    #[test]
    fn import_paths_resolve_from_the_importing_module() {
        assert_eq!(resolve("app.js", "./pages/live.js").as_deref(), Some("pages/live.js"));
        assert_eq!(resolve("pages/live.js", "../dom.js").as_deref(), Some("dom.js"));
        assert_eq!(resolve("pages/register.js", "./imports.js").as_deref(), Some("pages/imports.js"));
        assert_eq!(resolve("app.js", "../x.js"), None);
        assert_eq!(resolve("app.js", "/assets/x.js"), None);
        assert_eq!(imports("import { a } from './a.js';\nimport b from \"../b.js\";"), ["./a.js", "../b.js"]);
    }
}
