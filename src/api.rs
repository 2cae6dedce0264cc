//! Shared pieces of the JSON API: the body extractor whose rejections become
//! [`AppError`] answers (so malformed JSON is a 400 naming the problem, a body of
//! the wrong shape a 422, too large a 413).

use axum::extract::FromRequest;

use crate::error::AppError;

#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(AppError))]
pub struct ApiJson<T>(pub T);
