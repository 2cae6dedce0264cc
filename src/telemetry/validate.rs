//! Validation of incoming telemetry. Payloads are read as JSON values and checked
//! field by field, so every refusal names the exact field (`events[3].timestamp`)
//! and the rule it broke.

use serde_json::{Map, Value};

use crate::error::AppError;

/// Limits an operator may tune (see `Config`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most events (or metrics) in one request.
    pub max_batch: usize,
    /// Largest `properties` / `metadata` object, serialized, in bytes.
    pub max_properties_bytes: usize,
}

/// How far from the server's clock a client timestamp may be.
pub const MAX_PAST_MS: i64 = 7 * 24 * 3600 * 1000;
pub const MAX_FUTURE_MS: i64 = 5 * 60 * 1000;
const MAX_ID_LEN: usize = 64;
const MAX_ATTRIBUTE_LEN: usize = 128;

/// One event as sent, checked.
#[derive(Debug, Clone)]
pub struct EventIn {
    pub component: String,
    pub action: String,
    pub properties: Option<String>,
    pub timestamp: i64,
    pub session_id: Option<String>,
    pub user_id: Option<String>,
}

/// One metric sample as sent, checked.
#[derive(Debug, Clone)]
pub struct MetricIn {
    pub component: String,
    pub metric_name: String,
    pub value: f64,
    pub metadata: Option<String>,
    pub timestamp: i64,
}

fn invalid(field: &str, rule: &str) -> AppError {
    AppError::validation(field, rule)
}

/// Where a value sits in the body (`events[3].timestamp`), spelled out only when
/// it is refused: a batch of valid events builds no path strings at all.
#[derive(Debug, Clone, Copy)]
pub struct Field<'a> {
    /// The list and index of the item, for batches.
    item: Option<(&'a str, usize)>,
    name: &'a str,
}

impl<'a> Field<'a> {
    /// A top-level field (or a path parameter).
    pub fn named(name: &'a str) -> Field<'a> {
        Field { item: None, name }
    }

    fn refuse(self, rule: &str) -> AppError {
        invalid(&self.to_string(), rule)
    }
}

impl std::fmt::Display for Field<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.item {
            Some((list, index)) if self.name.is_empty() => write!(f, "{list}[{index}]"),
            Some((list, index)) => write!(f, "{list}[{index}].{}", self.name),
            None if self.name.is_empty() => f.write_str("body"),
            None => f.write_str(self.name),
        }
    }
}

/// An item of the body: the body itself, or `list[index]`.
#[derive(Debug, Clone, Copy)]
struct Item<'a> {
    at: Option<(&'a str, usize)>,
}

impl<'a> Item<'a> {
    fn field(self, name: &'a str) -> Field<'a> {
        Field {
            item: self.at,
            name,
        }
    }

    /// The item as a whole.
    fn whole(self) -> Field<'a> {
        self.field("")
    }
}

/// Component ids and metric names: lower-case letters, digits, `-`, `_`, `.`,
/// starting with a letter or digit, at most 64 characters.
pub fn identifier(value: Option<&Value>, field: Field<'_>) -> Result<String, AppError> {
    let Some(value) = value else {
        return Err(field.refuse("is required"));
    };
    let Some(text) = value.as_str() else {
        return Err(field.refuse("must be a string"));
    };
    let valid_chars = text
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'));
    let starts_well = text
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    if text.is_empty() || text.len() > MAX_ID_LEN || !valid_chars || !starts_well {
        return Err(field.refuse(
            "must be 1 to 64 characters of a-z, 0-9, '-', '_' or '.', starting with a letter or digit",
        ));
    }
    Ok(text.to_string())
}

fn optional_text(value: Option<&Value>, field: Field<'_>) -> Result<Option<String>, AppError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text))
            if text.chars().count() <= MAX_ATTRIBUTE_LEN && !text.is_empty() =>
        {
            Ok(Some(text.clone()))
        }
        Some(Value::String(_)) => Err(field.refuse("must be 1 to 128 characters")),
        Some(_) => Err(field.refuse("must be a string")),
    }
}

fn timestamp(value: Option<&Value>, field: Field<'_>, now: i64) -> Result<i64, AppError> {
    match value {
        None | Some(Value::Null) => Ok(now),
        Some(Value::Number(number)) => {
            let Some(ms) = number.as_i64() else {
                return Err(field.refuse("must be whole milliseconds since the Unix epoch"));
            };
            if ms < now - MAX_PAST_MS || ms > now + MAX_FUTURE_MS {
                return Err(
                    field.refuse("must be within the last 7 days and at most 5 minutes ahead")
                );
            }
            Ok(ms)
        }
        Some(_) => Err(field.refuse("must be a number (milliseconds since the Unix epoch)")),
    }
}

fn object(
    value: Option<&Value>,
    field: Field<'_>,
    limits: Limits,
) -> Result<Option<String>, AppError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) if map.is_empty() => Ok(None),
        Some(value @ Value::Object(_)) => {
            let text = value.to_string();
            if text.len() > limits.max_properties_bytes {
                return Err(field.refuse(&format!(
                    "must serialize to at most {} bytes",
                    limits.max_properties_bytes
                )));
            }
            Ok(Some(text))
        }
        Some(_) => Err(field.refuse("must be a JSON object")),
    }
}

fn as_object<'a>(value: &'a Value, field: Field<'_>) -> Result<&'a Map<String, Value>, AppError> {
    value
        .as_object()
        .ok_or_else(|| field.refuse("must be a JSON object"))
}

/// The items of a request body that is either one object or `{"<list_key>": [...]}`.
/// Returns each item with its place, to name in errors.
fn items<'a>(
    body: &'a Value,
    list_key: &'a str,
    limits: Limits,
) -> Result<Vec<(Item<'a>, &'a Value)>, AppError> {
    let root = as_object(body, Field::named("body"))?;
    match root.get(list_key) {
        Some(Value::Array(list)) => {
            if list.is_empty() {
                return Err(invalid(list_key, "must hold at least one item"));
            }
            if list.len() > limits.max_batch {
                return Err(AppError::Rejected(
                    axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                    format!("{list_key}: at most {} items per request", limits.max_batch),
                ));
            }
            Ok(list
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let at = Some((list_key, i));
                    (Item { at }, item)
                })
                .collect())
        }
        Some(_) => Err(invalid(list_key, "must be an array")),
        None => Ok(vec![(Item { at: None }, body)]),
    }
}

/// Reads `POST /api/telemetry/track` bodies.
pub fn events(body: &Value, limits: Limits, now: i64) -> Result<Vec<EventIn>, AppError> {
    items(body, "events", limits)?
        .into_iter()
        .map(|(at, item)| {
            let item = as_object(item, at.whole())?;
            Ok(EventIn {
                component: identifier(item.get("component"), at.field("component"))?,
                action: identifier(item.get("action"), at.field("action"))?,
                properties: object(item.get("properties"), at.field("properties"), limits)?,
                timestamp: timestamp(item.get("timestamp"), at.field("timestamp"), now)?,
                session_id: optional_text(item.get("sessionId"), at.field("sessionId"))?,
                user_id: optional_text(item.get("userId"), at.field("userId"))?,
            })
        })
        .collect()
}

/// Reads `POST /api/telemetry/metrics` bodies.
pub fn metrics(body: &Value, limits: Limits, now: i64) -> Result<Vec<MetricIn>, AppError> {
    items(body, "metrics", limits)?
        .into_iter()
        .map(|(at, item)| {
            let item = as_object(item, at.whole())?;
            let value_field = at.field("value");
            let value = match item.get("value") {
                Some(Value::Number(number)) => number
                    .as_f64()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| value_field.refuse("must be a finite number"))?,
                Some(_) => return Err(value_field.refuse("must be a number")),
                None => return Err(value_field.refuse("is required")),
            };
            Ok(MetricIn {
                component: identifier(item.get("component"), at.field("component"))?,
                metric_name: identifier(item.get("metric_name"), at.field("metric_name"))?,
                value,
                metadata: object(item.get("metadata"), at.field("metadata"), limits)?,
                timestamp: timestamp(item.get("timestamp"), at.field("timestamp"), now)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const LIMITS: Limits = Limits {
        max_batch: 3,
        max_properties_bytes: 64,
    };
    const NOW: i64 = 1_800_000_000_000;

    fn field_of(err: AppError) -> String {
        match err {
            AppError::Validation { field, .. } => field,
            other => format!("not a validation error: {other:?}"),
        }
    }

    #[test]
    fn a_single_event_with_defaults() {
        let events = events(
            &json!({"component": "checkout", "action": "click"}),
            LIMITS,
            NOW,
        )
        .expect("valid");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].timestamp, NOW);
        assert!(events[0].properties.is_none());
    }

    #[test]
    fn a_batch_names_the_failing_item() {
        let body = json!({"events": [
            {"component": "a", "action": "x"},
            {"component": "a", "action": "x", "timestamp": NOW - MAX_PAST_MS - 1},
        ]});
        assert_eq!(
            field_of(events(&body, LIMITS, NOW).expect_err("old")),
            "events[1].timestamp"
        );
        let body = json!({"events": [{"component": "Bad Id", "action": "x"}]});
        assert_eq!(
            field_of(events(&body, LIMITS, NOW).expect_err("bad id")),
            "events[0].component"
        );
        let body = json!({"events": [{"component": "a", "action": "x", "properties": [1]}]});
        assert_eq!(
            field_of(events(&body, LIMITS, NOW).expect_err("array")),
            "events[0].properties"
        );
        let body = json!({"events": [{"component": "a", "action": "x", "userId": 5}]});
        assert_eq!(
            field_of(events(&body, LIMITS, NOW).expect_err("number")),
            "events[0].userId"
        );
    }

    #[test]
    fn limits_hold() {
        let big = json!({"component": "a", "action": "x", "properties": {"k": "v".repeat(100)}});
        assert_eq!(
            field_of(events(&big, LIMITS, NOW).expect_err("big")),
            "properties"
        );
        let many = json!({"events": (0..4).map(|_| json!({"component": "a", "action": "x"})).collect::<Vec<_>>()});
        assert!(
            matches!(events(&many, LIMITS, NOW), Err(AppError::Rejected(status, _)) if status == 413)
        );
        assert_eq!(
            field_of(events(&json!({"events": []}), LIMITS, NOW).expect_err("empty")),
            "events"
        );
        assert_eq!(
            field_of(events(&json!([1]), LIMITS, NOW).expect_err("array body")),
            "body"
        );
        let future = json!({"component": "a", "action": "x", "timestamp": NOW + MAX_FUTURE_MS + 1});
        assert_eq!(
            field_of(events(&future, LIMITS, NOW).expect_err("future")),
            "timestamp"
        );
    }

    #[test]
    fn metrics_need_finite_numbers() {
        let ok =
            json!({"metrics": [{"component": "a", "metric_name": "page_load_ms", "value": 12.5}]});
        assert_eq!(metrics(&ok, LIMITS, NOW).expect("valid")[0].value, 12.5);
        let text = json!({"component": "a", "metric_name": "m", "value": "12"});
        assert_eq!(
            field_of(metrics(&text, LIMITS, NOW).expect_err("string")),
            "value"
        );
        let missing = json!({"component": "a", "metric_name": "m"});
        assert_eq!(
            field_of(metrics(&missing, LIMITS, NOW).expect_err("missing")),
            "value"
        );
    }
}
