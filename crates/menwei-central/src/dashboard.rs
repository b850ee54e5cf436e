//! The dashboard's files, compiled into the binary: the service works with no internet and no
//! static-file directory to install (no CDN, no external fonts; charts and maps are inline SVG).

pub const INDEX: &str = include_str!("../assets/index.html");

/// `/assets/<name>`: content type and body.
pub fn asset(name: &str) -> Option<(&'static str, &'static str)> {
    Some(match name {
        "app.js" => ("text/javascript; charset=utf-8", include_str!("../assets/app.js")),
        "app.css" => ("text/css; charset=utf-8", include_str!("../assets/app.css")),
        _ => return None,
    })
}
