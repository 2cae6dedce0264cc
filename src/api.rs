//! Shared pieces of the JSON API: the body and query-string extractors whose
//! rejections become [`AppError`] answers (so malformed JSON is a 400 naming the
//! problem, a body of the wrong shape a 422, too large a 413, an unreadable query
//! string a 400), always in the API's JSON error format.

use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;

use crate::error::AppError;

/// The JSON body of an API route, always a JSON object. serde alone would also
/// read a struct from an array of its fields in order (`["ci", 30]` as a new
/// token), an accident of the format that the API does not offer.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<ApiJson<T>, AppError> {
        if !is_json(request.headers()) {
            return Err(JsonRejection::MissingJsonContentType(Default::default()).into());
        }
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| AppError::Rejected(rejection.status(), rejection.body_text()))?;
        // Parsed once, straight into `T` (syntax 400, shape 422, as axum's Json);
        // then an array that serde read as a struct is refused.
        let axum::Json(value) = axum::Json::<T>::from_bytes(&body)?;
        if body.iter().find(|byte| !byte.is_ascii_whitespace()) != Some(&b'{') {
            return Err(AppError::validation("body", "must be a JSON object"));
        }
        Ok(ApiJson(value))
    }
}

/// `application/json`, or a `+json` type, as axum's `Json` accepts.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
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

/// Shapes of request fields that the handlers check beyond their JSON type, for
/// the OpenAPI document: a field says `#[schema(value_type = crate::api::Name)]`
/// and the document then carries, as a pattern, exactly what the handler's check
/// accepts. A client generated from the document (and `scripts/fuzz-api`, which
/// sends what the document allows and expects it accepted) relies on that.
pub mod shapes {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaFormat, Type};

    /// What Rust's `str::trim` removes (Unicode `White_Space`), as a regex class
    /// body. `\s` would not do: in Python (the fuzzer) it also matches U+001C–1F.
    const TRIMMED: &str = r"\t-\r\x85 \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";
    /// `char::is_control` (Unicode `Cc`).
    const CONTROL: &str = r"\x00-\x1f\x7f-\x9f";
    /// Whitespace that is not also a control character.
    const SPACE: &str = r" \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";

    /// Text that is `min..=max` characters once trimmed (`min` is 0 or 1), with
    /// or without control characters inside.
    fn trimmed(min: usize, max: usize, controls: bool) -> String {
        let (edge, middle) = if controls {
            (format!("[^{TRIMMED}]"), r"[\s\S]".to_string())
        } else {
            (format!("[^{CONTROL}{SPACE}]"), format!("[^{CONTROL}]"))
        };
        let inner = format!("{edge}(?:{middle}{{0,{}}}{edge})?", max - 2);
        let inner = if min == 0 {
            format!("(?:{inner})?")
        } else {
            inner
        };
        format!("^[{TRIMMED}]*{inner}[{TRIMMED}]*$")
    }

    fn text(pattern: String, description: &str) -> ObjectBuilder {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(pattern))
            .description(Some(description))
    }

    /// A host name (a letter first in each label, so that none reads as a number)
    /// or a dotted IPv4 address, then an optional port.
    fn host_and_port() -> String {
        let label = "(?![Xx][Nn]--)[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
        let octet = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])";
        let port = "(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])";
        format!("(?:{label}(?:\\.{label})*|(?:{octet}\\.){{3}}{octet})(?::{port})?")
    }

    macro_rules! shape {
        ($(#[$doc:meta])* $name:ident => $schema:expr) => {
            $(#[$doc])*
            pub struct $name;

            impl utoipa::PartialSchema for $name {
                fn schema() -> RefOr<Schema> {
                    Schema::from($schema.build()).into()
                }
            }

            impl utoipa::ToSchema for $name {}
        };
    }

    shape!(
        /// `accounts::parse_name`: names and labels.
        Name => text(trimmed(1, 100, false),
            "1 to 100 characters once surrounding whitespace is trimmed; no control characters")
    );
    shape!(
        /// An agent's model.
        ModelName => text(trimmed(1, 200, false),
            "The provider's model name: 1 to 200 characters once trimmed; no control characters")
    );
    shape!(
        /// A price override's model.
        PriceModel => text(trimmed(1, 200, true), "1 to 200 characters once trimmed")
    );
    shape!(
        /// An address mail can go to: `accounts::Email` and `lettre::Address`
        /// both accept it (this portable form is a subset of both).
        EmailAddress => text(
            "^[A-Za-z0-9_+-]{1,30}(?:\\.[A-Za-z0-9_+-]{1,30}){0,2}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,20}[A-Za-z0-9])?(?:\\.[A-Za-z](?:[A-Za-z0-9-]{0,20}[A-Za-z0-9])?){1,3}$".to_string(),
            "An e-mail address such as ada@example.com")
    );
    shape!(
        /// A workflow's description.
        Description => text(trimmed(0, 2000, true),
            "At most 2000 characters once trimmed; blank means none")
    );
    shape!(
        /// A price override's note.
        PriceNote => text(trimmed(0, 500, true),
            "Shown as the price's source; at most 500 characters once trimmed; blank means none")
    );
    shape!(
        /// Where an entered pilot value comes from.
        EnteredSource => text(trimmed(1, 300, true),
            "1 to 300 characters once trimmed: a time-tracking export, a component analysis…")
    );
    shape!(
        /// A step's prompt template.
        Prompt => text(format!("[^{TRIMMED}]"), "1 to 100000 characters, not only whitespace; \
            `{{input.NAME}}`, `{{input}}` and `{{steps.ID.output}}` (ID among the step's \
            dependencies) are filled in").max_length(Some(100_000))
    );
    shape!(
        /// A provider's API key.
        ProviderSecret => text(
            format!("^[{TRIMMED}]*[^{CONTROL}{SPACE}]{{8,512}}[{TRIMMED}]*$"),
            "The key itself: 8 to 512 characters once trimmed, without spaces or control \
             characters. Never shown again: responses carry its last four characters")
    );
    shape!(
        /// `provider_keys::handlers::parse_base_url`, in the portable form.
        BaseUrl => text(
            format!("^https?://{}(?:/[A-Za-z0-9._~-]*)*$", host_and_port()),
            "Another server speaking the provider's API, e.g. `http://localhost:11434/v1` for \
             Ollama: an http(s) URL without credentials, query or fragment. Loopback and \
             private hosts need `provider_allowed_hosts`; link-local and cloud-metadata \
             addresses are always refused")
        .format(Some(SchemaFormat::Custom("uri".into())))
    );
    shape!(
        /// `telemetry::keys::parse_origin`.
        Origin => text(
            format!("^https?://{}/?$", host_and_port()),
            "A browser origin such as `https://app.example.com` (no path)")
    );
    shape!(
        /// `telemetry::validate::identifier`: component ids, actions, metric names.
        TelemetryId => text("^[a-z0-9][a-z0-9._-]{0,63}$".into(),
            "1 to 64 characters of a-z, 0-9, `-`, `_` or `.`, starting with a letter or digit")
    );
    shape!(
        /// The providers a provider key (and so an agent) may use.
        KeyProvider => ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(["openai", "anthropic"]))
            .description(Some("`openai` (also for OpenAI-compatible servers) or `anthropic`; \
                the demo team may also use `simulated`"))
    );
    shape!(
        /// A workflow step's id.
        StepId => text("^[A-Za-z0-9_-]{1,64}$".into(),
            "1 to 64 letters, digits, `-` or `_`; unique in the workflow")
    );
    shape!(
        /// `executions::Status::parse_list`: the `status` filter.
        StatusList => {
            let status = "(?:pending|running|succeeded|failed|cancelled)";
            let item = format!("[{TRIMMED}]*{status}[{TRIMMED}]*");
            text(format!("^(?:{item}(?:,{item})*)?$"),
                "Comma-separated statuses (pending, running, succeeded, failed, cancelled), \
                 e.g. `running,pending`; empty means any")
        }
    );
    shape!(
        /// `executions::handlers::parse_source`: the `source` filter.
        SourceFilter => ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(["", "hummbl", "otlp"]))
            .description(Some("`hummbl` (executions HUMMBL ran) or `otlp` (traces your services \
                sent over OpenTelemetry); empty means both"))
    );
    shape!(
        /// The `before` cursor of the executions list.
        ExecutionCursor => text(r"^[+-]?[0-9]{1,18}_[\s\S]".into(),
            "The `next` of the previous page")
    );
}
