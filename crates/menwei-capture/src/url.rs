//! Camera URLs, and the one form of them that may be printed.

use std::path::PathBuf;

use crate::CaptureError;

/// Where a camera's video comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceUrl {
    /// `rtsp://` or `rtsps://`; may carry credentials, which are never printed.
    Rtsp(String),
    /// A local file, for replay and tests.
    File(PathBuf),
}

impl SourceUrl {
    /// Parses `rtsp://...`, `rtsps://...`, `file:///path` or a plain path.
    pub fn parse(s: &str) -> Result<Self, CaptureError> {
        if s.starts_with("rtsp://") || s.starts_with("rtsps://") {
            Ok(SourceUrl::Rtsp(s.to_owned()))
        } else if let Some(p) = s.strip_prefix("file://") {
            Ok(SourceUrl::File(PathBuf::from(p)))
        } else if s.contains("://") {
            Err(CaptureError::Url { url: redact_url(s), reason: "only rtsp://, rtsps:// and file:// are supported" })
        } else if s.is_empty() {
            Err(CaptureError::Url { url: String::new(), reason: "empty" })
        } else {
            Ok(SourceUrl::File(PathBuf::from(s)))
        }
    }

    /// The URL as it may be printed.
    pub fn display(&self) -> String {
        match self {
            SourceUrl::Rtsp(u) => redact_url(u),
            SourceUrl::File(p) => format!("file://{}", p.display()),
        }
    }
}

/// Replaces the user-info part of a URL (`user:password@`) with `***@`.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}***@{}", &url[..scheme_end + 3], &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// Removes anything that looks like `user:password@` from a message that GStreamer built (its
/// errors may quote the location).
pub(crate) fn redact_text(text: &str, url: &SourceUrl) -> String {
    match url {
        SourceUrl::Rtsp(u) if u != &redact_url(u) => text.replace(u.as_str(), &redact_url(u)),
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_print() {
        assert_eq!(
            redact_url("rtsp://admin:s3cret@10.0.0.5:554/Streaming/101"),
            "rtsp://***@10.0.0.5:554/Streaming/101"
        );
        assert_eq!(redact_url("rtsp://10.0.0.5/a@b"), "rtsp://10.0.0.5/a@b");
        let e = SourceUrl::parse("http://u:p@x/").unwrap_err().to_string();
        assert!(!e.contains("u:p"), "{e}");
        let u = SourceUrl::parse("rtsp://u:pw@h/s").unwrap();
        assert_eq!(redact_text("cannot open rtsp://u:pw@h/s now", &u), "cannot open rtsp://***@h/s now");
    }

    #[test]
    fn urls_parse_by_scheme() {
        assert_eq!(SourceUrl::parse("/a/b.mp4").unwrap(), SourceUrl::File("/a/b.mp4".into()));
        assert_eq!(SourceUrl::parse("file:///a/b.mp4").unwrap(), SourceUrl::File("/a/b.mp4".into()));
        assert!(matches!(SourceUrl::parse("rtsp://h/s").unwrap(), SourceUrl::Rtsp(_)));
        assert!(SourceUrl::parse("").is_err());
    }
}
