//! The one error type at the HTTP edge. Each variant documents its status; every
//! handler returns `Result<_, AppError>`. 5xx details are logged with the request
//! id and never sent. Page routes turn these answers into styled HTML pages (see
//! `web::error_pages`); API routes send them as JSON:
//! `{"error": {"code": "...", "message": "...", "field": "..."}}`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 400: the request cannot be read (malformed JSON, bad query string).
    #[error("{0}")]
    BadRequest(String),
    /// The status an extractor chose (413 body too large, 415 wrong content type).
    #[error("{1}")]
    Rejected(StatusCode, String),
    /// 401: no valid session or token.
    #[error("authentication required")]
    Unauthorized,
    /// 401 from the login form or API: same answer for unknown user and wrong password.
    #[error("invalid email or password")]
    InvalidCredentials,
    /// 403: authenticated, but the role does not allow this.
    #[error("your role in this team does not allow this")]
    Forbidden,
    /// 403: not allowed for a reason other than the role (says which).
    #[error("{0}")]
    Refused(String),
    /// 403: a state-changing request from another site.
    #[error("cross-site request refused")]
    CrossSite,
    /// 404: no such object in this team (another team's objects are also 404).
    #[error("not found")]
    NotFound,
    /// 409: conflicts with the current state (duplicate, last owner, ...).
    #[error("{0}")]
    Conflict(String),
    /// 410: it existed and is gone for good (a used, withdrawn or expired
    /// invitation); says which and whom to ask.
    #[error("{0}")]
    Gone(String),
    /// 422: a field breaks a rule; names the field.
    #[error("{field}: {message}")]
    Validation { field: String, message: String },
    /// 429: too many attempts; retry after the given seconds.
    #[error("too many attempts, try again in {retry_after_secs} s")]
    TooManyRequests { retry_after_secs: u64 },
    /// 429: a limit on what may be open at once (live streams) is reached.
    #[error("{message}")]
    LimitReached {
        message: String,
        retry_after_secs: u64,
    },
    /// 503: temporarily unable (a full queue); retry after the given seconds.
    #[error("{message}; retry in {retry_after_secs} s")]
    Unavailable {
        message: String,
        retry_after_secs: u64,
    },
    /// 500: anything unexpected; logged, never shown.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    /// The message of a refusal naming `field` (for a form to show beside it).
    pub fn message_for(&self, field: &str) -> Option<&str> {
        match self {
            AppError::Validation {
                field: named,
                message,
            } if named == field => Some(message),
            _ => None,
        }
    }

    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> AppError {
        AppError::Validation {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Rejected(status, _) => *status,
            AppError::Unauthorized | AppError::InvalidCredentials => StatusCode::UNAUTHORIZED,
            AppError::Forbidden | AppError::Refused(_) | AppError::CrossSite => {
                StatusCode::FORBIDDEN
            }
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::Gone(_) => StatusCode::GONE,
            AppError::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::TooManyRequests { .. } | AppError::LimitReached { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            AppError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `Retry-After` value of a 429.
    pub fn retry_after(&self) -> Option<HeaderValue> {
        match self {
            AppError::TooManyRequests { retry_after_secs }
            | AppError::LimitReached {
                retry_after_secs, ..
            }
            | AppError::Unavailable {
                retry_after_secs, ..
            } => HeaderValue::from_str(&retry_after_secs.to_string()).ok(),
            _ => None,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            AppError::BadRequest(_) | AppError::Rejected(..) => "bad_request",
            AppError::Unauthorized => "unauthorized",
            AppError::InvalidCredentials => "invalid_credentials",
            AppError::Forbidden | AppError::Refused(_) => "forbidden",
            AppError::CrossSite => "cross_site",
            AppError::NotFound => "not_found",
            AppError::Conflict(_) => "conflict",
            AppError::Gone(_) => "gone",
            AppError::Validation { .. } => "validation",
            AppError::TooManyRequests { .. } => "rate_limited",
            AppError::LimitReached { .. } => "limit_reached",
            AppError::Unavailable { .. } => "unavailable",
            AppError::Internal(_) => "internal",
        }
    }
}

/// What an error answer carries for the page layer to render it as HTML.
#[derive(Debug, Clone)]
pub struct ErrorInfo {
    pub message: String,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            AppError::Internal(err) => {
                tracing::error!(error = ?err, "internal error");
                "internal error; the server log has the details".to_string()
            }
            other => other.to_string(),
        };
        let field = match &self {
            AppError::Validation { field, .. } => Some(field.as_str()),
            _ => None,
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: message.clone(),
                field,
            },
        };
        let mut response = (status, Json(body)).into_response();
        if let Some(value) = self.retry_after() {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response.extensions_mut().insert(ErrorInfo { message });
        response
    }
}

impl From<sqlx::Error> for AppError {
    fn from(err: sqlx::Error) -> AppError {
        AppError::Internal(anyhow::Error::new(err))
    }
}

impl From<axum::extract::rejection::JsonRejection> for AppError {
    fn from(rejection: axum::extract::rejection::JsonRejection) -> AppError {
        use axum::extract::rejection::JsonRejection;
        match rejection {
            JsonRejection::JsonDataError(err) => AppError::validation("body", err.body_text()),
            other => AppError::Rejected(other.status(), other.body_text()),
        }
    }
}

pub type AppResult<T> = Result<T, AppError>;
