//! Where browsers report what the Content-Security-Policy blocked
//! (`report-uri`, see `web::headers`). Each report is counted in
//! `hummbl_csp_violations_total{directive}` and logged with the page and what was
//! blocked, so an operator sees a page the policy breaks (or an injection it
//! stopped) without a browser console. Anyone may send a report (the browser
//! sends them without asking the page), so the directive label comes from a
//! fixed list and the logged values are cut short.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;

use crate::app::AppState;
use crate::error::AppError;

/// Where browsers send the reports: the policy's `report-uri` (`web::headers`).
pub const PATH: &str = "/api/csp-report";

/// What browsers send to a `report-uri`: `{"csp-report": {…}}` as
/// `application/csp-report`. Only the fields read here are declared; the others
/// (line numbers, the policy, a sample) are ignored.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct ReportBody {
    #[serde(rename = "csp-report")]
    report: Violation,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct Violation {
    /// The page the violation happened on.
    document_uri: Option<String>,
    /// What was blocked: a URL, or `inline`, `eval`.
    blocked_uri: Option<String>,
    /// The directive that blocked it, e.g. `style-src-attr`.
    effective_directive: Option<String>,
    /// The same in older browsers (may carry the directive's sources).
    violated_directive: Option<String>,
}

/// Directives a report may name; anything else is counted as `other`, so a
/// sender cannot make up label values.
const DIRECTIVES: &[&str] = &[
    "default-src",
    "script-src",
    "script-src-elem",
    "script-src-attr",
    "style-src",
    "style-src-elem",
    "style-src-attr",
    "img-src",
    "connect-src",
    "font-src",
    "object-src",
    "base-uri",
    "form-action",
    "frame-ancestors",
    "frame-src",
    "child-src",
    "worker-src",
    "manifest-src",
    "media-src",
];

/// Longest logged value; reports are sent by anyone.
const LOGGED_CHARS: usize = 200;

/// Count a Content-Security-Policy violation reported by a browser.
#[utoipa::path(post, path = "/api/csp-report", tag = "ops",
    request_body(content = ReportBody, description = "A `report-uri` report; browsers send it as \
        `application/csp-report`, which is read like `application/json`"),
    responses((status = 204, description = "Counted in `hummbl_csp_violations_total`"),
        (status = 400, description = "Malformed JSON"),
        (status = 415, description = "Not sent as `application/csp-report` or `application/json`"),
        (status = 422, description = "Not a report: `csp-report` is missing or a field is not a string")))]
pub async fn report(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, AppError> {
    let body = parse(&headers, &body)?;
    let violation = body.report;
    let directive = directive_label(&violation);
    state.metrics.count_csp_violation(directive);
    tracing::warn!(
        directive,
        page = %cut(violation.document_uri.as_deref()),
        blocked = %cut(violation.blocked_uri.as_deref()),
        "the content security policy blocked something"
    );
    Ok(StatusCode::NO_CONTENT)
}

fn parse(headers: &HeaderMap, body: &Bytes) -> Result<ReportBody, AppError> {
    let essence = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(|essence| essence.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if !matches!(
        essence.as_str(),
        "application/csp-report" | "application/json"
    ) {
        return Err(AppError::Rejected(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the report as application/csp-report or application/json".into(),
        ));
    }
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|err| AppError::BadRequest(format!("malformed JSON: {err}")))?;
    if !value.is_object() {
        return Err(AppError::validation("body", "must be a JSON object"));
    }
    serde_json::from_value(value).map_err(|err| AppError::validation("csp-report", err.to_string()))
}

/// The directive as a label from [`DIRECTIVES`]: the effective directive, or
/// the first word of the violated one.
fn directive_label(violation: &Violation) -> &'static str {
    let named = violation
        .effective_directive
        .as_deref()
        .or(violation.violated_directive.as_deref())
        .and_then(|text| text.split_whitespace().next())
        .unwrap_or_default();
    DIRECTIVES
        .iter()
        .find(|known| known.eq_ignore_ascii_case(named))
        .copied()
        .unwrap_or("other")
}

fn cut(value: Option<&str>) -> String {
    value.unwrap_or("-").chars().take(LOGGED_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn violation(effective: Option<&str>, violated: Option<&str>) -> Violation {
        Violation {
            document_uri: None,
            blocked_uri: None,
            effective_directive: effective.map(str::to_string),
            violated_directive: violated.map(str::to_string),
        }
    }

    #[test]
    fn labels_come_from_the_known_directives_only() {
        assert_eq!(
            directive_label(&violation(Some("style-src-attr"), None)),
            "style-src-attr"
        );
        assert_eq!(
            directive_label(&violation(None, Some("script-src 'self'"))),
            "script-src"
        );
        assert_eq!(
            directive_label(&violation(Some("made-up-{label}"), None)),
            "other"
        );
        assert_eq!(directive_label(&violation(None, None)), "other");
    }

    #[test]
    fn a_report_is_read_as_csp_report_or_json_only() {
        let body = Bytes::from_static(br#"{"csp-report": {"effective-directive": "img-src"}}"#);
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            "application/csp-report".parse().expect("header"),
        );
        assert!(parse(&headers, &body).is_ok());
        headers.insert(header::CONTENT_TYPE, "text/plain".parse().expect("header"));
        assert!(matches!(
            parse(&headers, &body),
            Err(AppError::Rejected(StatusCode::UNSUPPORTED_MEDIA_TYPE, _))
        ));
        headers.insert(
            header::CONTENT_TYPE,
            "application/json".parse().expect("header"),
        );
        let wrong = Bytes::from_static(br#"{"csp-report": {"blocked-uri": 5}}"#);
        assert!(matches!(
            parse(&headers, &wrong),
            Err(AppError::Validation { .. })
        ));
        assert!(matches!(
            parse(&headers, &Bytes::from_static(b"[1]")),
            Err(AppError::Validation { .. })
        ));
    }
}
