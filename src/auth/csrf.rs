//! Cross-site request refusal for state-changing requests, from the headers
//! browsers set themselves: `Sec-Fetch-Site` when present (every current browser),
//! else `Origin` compared with the request's own host. A request with neither
//! header did not come from a browser page, so a cross-site forgery is not
//! possible. Requests authenticated by a bearer token or an ingestion key carry
//! no ambient credential (the cookie is then not even looked at), so they pass.

use axum::extract::Request;
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::AppError;

pub async fn refuse_cross_site(request: Request, next: Next) -> Response {
    if is_state_changing(request.method())
        && super::Presented::of(&request).is_ambient()
        && is_cross_site(request.headers())
    {
        tracing::warn!(path = %request.uri().path(), "refused a cross-site request");
        return AppError::CrossSite.into_response();
    }
    next.run(request).await
}

fn is_state_changing(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn is_cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return !matches!(site.to_str(), Ok("same-origin") | Ok("none"));
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return true;
    };
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| url::Url::parse(o).ok())
        .map(|url| match url.port() {
            Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_string(),
        });
    origin_host.as_deref() != Some(host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn fetch_metadata_decides_when_present() {
        assert!(!is_cross_site(&headers(&[(
            "sec-fetch-site",
            "same-origin"
        )])));
        assert!(!is_cross_site(&headers(&[("sec-fetch-site", "none")])));
        assert!(is_cross_site(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(is_cross_site(&headers(&[("sec-fetch-site", "same-site")])));
    }

    #[test]
    fn origin_must_match_host() {
        assert!(!is_cross_site(&headers(&[
            ("origin", "http://127.0.0.1:8787"),
            ("host", "127.0.0.1:8787")
        ])));
        assert!(is_cross_site(&headers(&[
            ("origin", "https://evil.example"),
            ("host", "127.0.0.1:8787")
        ])));
        assert!(is_cross_site(&headers(&[
            ("origin", "null"),
            ("host", "x")
        ])));
    }

    #[test]
    fn no_browser_headers_is_not_a_browser() {
        assert!(!is_cross_site(&HeaderMap::new()));
    }
}
