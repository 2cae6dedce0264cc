//! The security headers of every answer, set by one layer that wraps the whole
//! router (`app::router`), outside the request-id, timeout, panic and body-limit
//! layers, so that answers which never reach a handler (a 413, a timeout's 503,
//! a panic's 500, the CSRF guard's 403) carry them too.
//!
//! The same headers go on every answer, whatever its content type: a JSON error
//! or the SVG favicon opened as a document is protected by the same policy as a
//! page, and a rule per content type would be one more thing to get wrong. An
//! answer that already carries one of these headers keeps its own.
//!
//! Caching: every answer is `Cache-Control: no-store` unless it says otherwise.
//! That covers each answer to a signed-in request (pages and API), the login page
//! and the auth API, without asking who is signed in (this layer sits outside
//! `auth::authenticate`, which is what lets it cover the answers above); a new
//! handler cannot leak a private page into a shared cache by forgetting to mark
//! it. What may be cached says so itself: the assets (`/assets/…?v=`) and the
//! SDK files. Server-sent event streams keep axum's `no-cache` (a stream is never
//! stored).

use axum::extract::State;
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::response::Response;

use crate::config::Config;

/// The console runs only its own module scripts and stylesheets from /assets:
/// no inline script or style, no `eval`, nothing from other origins, and no page
/// may frame it. `report-uri` rather than `report-to`: Chromium sends a
/// `report-uri` report as soon as the violation happens, while the Reporting API
/// batches reports for up to a minute, and when both are given it uses only
/// `report-to`; every current browser still honours `report-uri`. Its path is
/// `csp_report::PATH`.
pub const CONTENT_SECURITY_POLICY: &str = concat!(
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; ",
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; ",
    "form-action 'self'; frame-ancestors 'none'; report-uri /api/csp-report"
);

/// `same-origin`, not `no-referrer`: nothing leaves the console (its URLs carry
/// filters and ids), and for a form post the fetch standard sends `Origin: null`
/// under `no-referrer`, which `auth::csrf` would refuse as cross-site in browsers
/// without `Sec-Fetch-Site`.
const REFERRER_POLICY: &str = "same-origin";

/// Only with an https `public_url`: over plain http a browser ignores it, and
/// sending it from a server that is not reached over TLS would be a promise the
/// deployment cannot keep.
const STRICT_TRANSPORT_SECURITY: &str = "max-age=31536000; includeSubDomains";

const NO_STORE: &str = "no-store";

/// The headers added to every answer, decided once from the configuration.
#[derive(Clone)]
pub struct SecurityHeaders {
    always: Vec<(HeaderName, HeaderValue)>,
}

impl SecurityHeaders {
    pub fn new(config: &Config) -> SecurityHeaders {
        let mut always = vec![
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CONTENT_SECURITY_POLICY),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            // For browsers older than CSP's frame-ancestors.
            (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static(REFERRER_POLICY),
            ),
            // A window this console opens, or that opens it, gets no handle on it.
            (
                HeaderName::from_static("cross-origin-opener-policy"),
                HeaderValue::from_static("same-origin"),
            ),
            (
                HeaderName::from_static("permissions-policy"),
                HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static(NO_STORE)),
        ];
        if config.secure_cookies() {
            always.push((
                header::STRICT_TRANSPORT_SECURITY,
                HeaderValue::from_static(STRICT_TRANSPORT_SECURITY),
            ));
        }
        SecurityHeaders { always }
    }

    /// Adds each header the answer does not already carry.
    pub fn fill(&self, headers: &mut HeaderMap) {
        for (name, value) in &self.always {
            if !headers.contains_key(name) {
                headers.insert(name.clone(), value.clone());
            }
        }
    }
}

/// The layer's function (`middleware::map_response_with_state`).
pub async fn add<B>(
    State(headers): State<SecurityHeaders>,
    mut response: Response<B>,
) -> Response<B> {
    headers.fill(response.headers_mut());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::for_data_dir(std::path::Path::new("data"))
    }

    fn filled(config: &Config, start: HeaderMap) -> HeaderMap {
        let mut headers = start;
        SecurityHeaders::new(config).fill(&mut headers);
        headers
    }

    #[test]
    fn the_policy_allows_nothing_inline_and_no_framing() {
        for unsafe_source in ["'unsafe-inline'", "'unsafe-eval'", "*", "data:", "http:"] {
            assert!(
                !CONTENT_SECURITY_POLICY.contains(unsafe_source),
                "{unsafe_source}"
            );
        }
        assert!(CONTENT_SECURITY_POLICY.contains("frame-ancestors 'none'"));
        assert!(CONTENT_SECURITY_POLICY.contains("script-src 'self';"));
        assert!(CONTENT_SECURITY_POLICY.contains(crate::web::csp_report::PATH));
    }

    #[test]
    fn an_answer_keeps_the_headers_it_set_itself() {
        let mut own = HeaderMap::new();
        own.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=3600"),
        );
        let headers = filled(&config(), own);
        assert_eq!(headers[header::CACHE_CONTROL], "public, max-age=3600");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let plain = filled(&config(), HeaderMap::new());
        assert_eq!(plain[header::CACHE_CONTROL], "no-store");
    }

    #[test]
    fn hsts_only_with_an_https_public_url() {
        let mut config = config();
        assert!(!filled(&config, HeaderMap::new()).contains_key(header::STRICT_TRANSPORT_SECURITY));
        config.public_url = url::Url::parse("http://console.example.com").ok();
        assert!(!filled(&config, HeaderMap::new()).contains_key(header::STRICT_TRANSPORT_SECURITY));
        config.public_url = url::Url::parse("https://console.example.com").ok();
        assert_eq!(
            filled(&config, HeaderMap::new())[header::STRICT_TRANSPORT_SECURITY],
            STRICT_TRANSPORT_SECURITY
        );
    }
}
