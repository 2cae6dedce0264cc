//! Shared pieces of the JSON API: the body and query-string extractors whose
//! rejections become [`AppError`] answers (so malformed JSON is a 400 naming the
//! problem, a body of the wrong shape a 422, too large a 413, an unreadable query
//! string a 400), always in the API's JSON error format.

use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use serde::de::DeserializeOwned;

use crate::error::AppError;

/// The JSON body of an API route, always a JSON object. serde alone would also
/// read a struct from an array of its fields in order (`["ci", 30]` as a new
/// token), an accident of the format that the API does not offer.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<ApiJson<T>, AppError> {
        // Content type, size and syntax are checked as axum's `Json` does.
        let axum::Json(body) =
            axum::Json::<serde_json::Value>::from_request(request, state).await?;
        if !body.is_object() {
            return Err(AppError::validation("body", "must be a JSON object"));
        }
        T::deserialize(body)
            .map(ApiJson)
            .map_err(|err| AppError::validation("body", err.to_string()))
    }
}

/// The query string of an API route. axum's own `Query` answers a bad value
/// (`?days=abc`) with a plain-text 400, which API clients cannot read as an
/// error object.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(AppError))]
pub struct ApiQuery<T>(pub T);

impl From<QueryRejection> for AppError {
    fn from(rejection: QueryRejection) -> AppError {
        AppError::BadRequest(rejection.body_text())
    }
}

/// For `Option<Option<T>>` fields with `#[serde(default)]`: absent stays `None`
/// (leave as is), `null` becomes `Some(None)` (clear), a value `Some(Some(v))`.
pub fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    use serde::Deserialize;
    Option::<T>::deserialize(deserializer).map(Some)
}

/// The `{id}` segment of a path such as `/api/agents/{id}`, for the OpenAPI
/// document: any string is accepted; an id the team does not have answers 404.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct IdPath {
    /// The object's id (a UUID as the API returned it).
    id: String,
}
