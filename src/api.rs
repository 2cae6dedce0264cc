//! Shared pieces of the JSON API: the body extractor whose rejections become
//! [`AppError`] answers (so malformed JSON is a 400 naming the problem, a body of
//! the wrong shape a 422, too large a 413).

use axum::extract::FromRequest;

use crate::error::AppError;

#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(AppError))]
pub struct ApiJson<T>(pub T);

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
