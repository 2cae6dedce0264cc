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

/// Integers of request bodies, also when written as a whole float (`30.0`): the
/// OpenAPI document says `integer`, which JSON Schema defines by value, and some
/// encoders (Python's `json`) write whole floats that way; serde alone refuses
/// them. For `#[serde(deserialize_with = "crate::api::integer::required")]`, and
/// `optional` with `#[serde(default)]`.
pub mod integer {
    use std::fmt;
    use std::marker::PhantomData;

    use serde::de::{self, Deserialize, Deserializer, Unexpected, Visitor};

    struct Whole<T>(T);

    struct WholeVisitor<T>(PhantomData<T>);

    impl<T: TryFrom<i128>> WholeVisitor<T> {
        fn fit<E: de::Error>(&self, value: i128, unexpected: Unexpected) -> Result<T, E> {
            T::try_from(value).map_err(|_| E::invalid_value(unexpected, self))
        }
    }

    impl<T: TryFrom<i128>> Visitor<'_> for WholeVisitor<T> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            write!(
                f,
                "an integer in the range of {}",
                std::any::type_name::<T>()
            )
        }

        fn visit_i64<E: de::Error>(self, value: i64) -> Result<T, E> {
            self.fit(value.into(), Unexpected::Signed(value))
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<T, E> {
            self.fit(value.into(), Unexpected::Unsigned(value))
        }

        fn visit_f64<E: de::Error>(self, value: f64) -> Result<T, E> {
            // Beyond ±2^63 no target type fits anyway; the cast saturates there.
            if value.fract() == 0.0 && value.is_finite() {
                self.fit(value as i128, Unexpected::Float(value))
            } else {
                Err(E::invalid_type(Unexpected::Float(value), &self))
            }
        }
    }

    impl<'de, T: TryFrom<i128>> Deserialize<'de> for Whole<T> {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Whole<T>, D::Error> {
            deserializer
                .deserialize_i64(WholeVisitor(PhantomData))
                .map(Whole)
        }
    }

    pub fn required<'de, D: Deserializer<'de>, T: TryFrom<i128>>(
        deserializer: D,
    ) -> Result<T, D::Error> {
        Whole::deserialize(deserializer).map(|whole| whole.0)
    }

    pub fn optional<'de, D: Deserializer<'de>, T: TryFrom<i128>>(
        deserializer: D,
    ) -> Result<Option<T>, D::Error> {
        Option::<Whole<T>>::deserialize(deserializer).map(|value| value.map(|whole| whole.0))
    }

    #[cfg(test)]
    mod tests {
        #[derive(serde::Deserialize, Debug, Clone, PartialEq)]
        struct Sample {
            #[serde(deserialize_with = "super::required")]
            count: i64,
            #[serde(default, deserialize_with = "super::optional")]
            limit: Option<u32>,
        }

        fn read(json: &str) -> Result<Sample, serde_json::Error> {
            serde_json::from_str(json)
        }

        #[test]
        fn whole_floats_are_integers_and_nothing_else_is() {
            let expected = Sample {
                count: 30,
                limit: Some(7),
            };
            assert_eq!(read(r#"{"count": 30, "limit": 7}"#).ok(), Some(expected));
            let expected = Sample {
                count: -2,
                limit: Some(7),
            };
            assert_eq!(
                read(r#"{"count": -2.0, "limit": 7.0}"#).ok(),
                Some(expected)
            );
            let expected = Sample {
                count: 1,
                limit: None,
            };
            assert_eq!(
                read(r#"{"count": 1, "limit": null}"#).ok(),
                Some(expected.clone())
            );
            assert_eq!(read(r#"{"count": 1}"#).ok(), Some(expected));
            for refused in [
                r#"{"count": 1.5}"#,
                r#"{"count": "1"}"#,
                r#"{"count": 1e300}"#,
                r#"{"count": 1, "limit": -1}"#,
                r#"{"count": 1, "limit": 4294967296.0}"#,
                r#"{}"#,
            ] {
                assert!(read(refused).is_err(), "{refused}");
            }
        }
    }
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
