//! What every answer carries, and what a write signed in by cookie must show.
//!
//! - **Headers.** A Content-Security-Policy that allows the service's own files and nothing
//!   inline (the dashboard has no inline script or style attribute), `nosniff`, no referrer,
//!   no framing; and `Cache-Control: no-store` on API answers, which carry personal data.
//! - **Origin.** The session cookie is `SameSite=Strict`, which keeps other sites out but not a
//!   page on the same site (another port or subdomain of the platform's host). So a POST, PUT,
//!   PATCH or DELETE that authenticates by cookie must come from the dashboard's own origin: its
//!   `Origin` names the host the request is addressed to, or `[http] public_origin`; without
//!   an `Origin`, `Sec-Fetch-Site: same-origin` will do. Otherwise it is refused with 403 and
//!   audited. Bearer-token clients are not affected: a browser never adds that header by itself.

use axum::http::{HeaderValue, Method};

use super::*;

/// The dashboard's policy: its own scripts, styles and pictures (and `data:` pictures), its own
/// API; no plugins, no `<base>`, no framing, forms only to itself.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                       connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
                       frame-ancestors 'none'";

/// The security headers, on every answer (the edge's HTTP endpoints send the same).
pub(super) async fn headers(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if api {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// Why a cookie-authenticated write is refused, or `None` when it comes from the dashboard.
pub fn cross_origin(headers: &HeaderMap, public_origin: Option<&str>) -> Option<String> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match text("origin") {
        Some(o) => {
            let o = o.trim().to_ascii_lowercase();
            let host = text("host").map(str::to_ascii_lowercase);
            let authority = o.strip_prefix("https://").or_else(|| o.strip_prefix("http://"));
            let own = authority.is_some() && authority == host.as_deref();
            if own || public_origin == Some(o.as_str()) {
                None
            } else {
                Some(format!("a write from {} with the session cookie", shown(&o)))
            }
        }
        None if text("sec-fetch-site") == Some("same-origin") => None,
        None => Some("a write with the session cookie and neither Origin nor Sec-Fetch-Site: same-origin".into()),
    }
}

/// At most 100 characters of a value the client chose, for the audit log and the answer.
fn shown(s: &str) -> String {
    if s.chars().count() <= 100 { s.to_owned() } else { s.chars().take(100).chain(['…']).collect() }
}

/// Refuses cookie-authenticated writes from another origin ([`cross_origin`]), audited as
/// `denied` for the session's user.
pub(super) async fn same_origin_writes(
    State(app): State<Arc<App>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let write = matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH | Method::DELETE);
    let by_cookie = req.headers().get(header::AUTHORIZATION).is_none() && token(req.headers()).is_some();
    if !(write && by_cookie && req.uri().path().starts_with("/api/")) {
        return next.run(req).await;
    }
    let Some(why) = cross_origin(req.headers(), app.public_origin.as_deref()) else {
        return next.run(req).await;
    };
    let (method, path, token) = (req.method().to_string(), req.uri().path().to_owned(), token(req.headers()));
    tracing::warn!(%method, %path, "refused {why}");
    let detail = format!("{method}: {why}");
    let done = app
        .db
        .call(move |t| {
            let user = match token {
                Some(tk) => auth::session(t, &tk, now_ms())?,
                None => None,
            };
            if let Some(u) = user {
                auth::audit(t, now_ms(), &u.username, "denied", &path, Some(&detail))?;
            }
            Ok::<_, DbError>(())
        })
        .await;
    if let Err(e) = done {
        tracing::warn!("cannot record a refused write in the audit log: {e}");
    }
    ApiError::new(
        StatusCode::FORBIDDEN,
        &format!("refused {why}: the dashboard's own pages may write with it; other clients use a bearer token"),
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (header::HeaderName::from_static(k), v.parse().unwrap())).collect()
    }

    #[test]
    fn only_the_dashboards_own_origin_may_write_with_the_cookie() {
        let own = h(&[("host", "central.example:8080"), ("origin", "http://central.example:8080")]);
        assert_eq!(cross_origin(&own, None), None);
        // The same host on another port, or another host, is another origin.
        for o in ["http://central.example:9000", "http://evil.example", "null"] {
            let other = h(&[("host", "central.example:8080"), ("origin", o)]);
            assert!(cross_origin(&other, None).is_some_and(|w| w.contains(o)), "{o}");
        }
        // Behind a proxy the browser's origin is the public one.
        let proxied = h(&[("host", "127.0.0.1:8080"), ("origin", "https://grid.example.gov.cn")]);
        assert!(cross_origin(&proxied, None).is_some());
        assert_eq!(cross_origin(&proxied, Some("https://grid.example.gov.cn")), None);
        // No Origin: only the fetch metadata of a same-origin request will do.
        assert_eq!(cross_origin(&h(&[("host", "c:1"), ("sec-fetch-site", "same-origin")]), None), None);
        assert!(cross_origin(&h(&[("host", "c:1"), ("sec-fetch-site", "same-site")]), None).is_some());
        assert!(cross_origin(&h(&[("host", "c:1")]), None).is_some());
    }

    #[test]
    fn what_the_client_chose_is_cut_short_in_messages() {
        let long = format!("http://{}.example", "a".repeat(300));
        let why = cross_origin(&h(&[("host", "c:1"), ("origin", long.as_str())]), None).unwrap();
        assert!(why.chars().count() < 160, "{why}");
    }
}
