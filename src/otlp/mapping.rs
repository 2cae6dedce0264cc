//! From OTLP spans to the rows HUMMBL keeps: which spans are model calls, and
//! what their attributes say about provider, model, tokens and failure.
//!
//! | HUMMBL | OpenTelemetry GenAI conventions | OpenInference |
//! |---|---|---|
//! | a model call | `gen_ai.operation.name`, `gen_ai.provider.name`, `gen_ai.system` or `gen_ai.request.model` present | `openinference.span.kind` = `LLM` |
//! | provider | `gen_ai.provider.name`, else `gen_ai.system` | `llm.provider`, else `llm.system` |
//! | model | `gen_ai.response.model`, else `gen_ai.request.model` | `llm.model_name` |
//! | input tokens | `gen_ai.usage.input_tokens` (older `gen_ai.usage.prompt_tokens`) | `llm.token_count.prompt` |
//! | output tokens | `gen_ai.usage.output_tokens` (older `gen_ai.usage.completion_tokens`) | `llm.token_count.completion` |
//! | cache read | `gen_ai.usage.cache_read.input_tokens` | `llm.token_count.prompt_details.cache_read` |
//! | cache write | `gen_ai.usage.cache_creation.input_tokens` | `llm.token_count.prompt_details.cache_write` |
//! | failed, error | span status `ERROR`; `error.type`; the status message, else the `exception` event's message | the same |
//! | workflow | the resource's `service.name` | the same |
//!
//! Counting: both conventions count cached tokens *inside* the input count
//! (OpenAI's `prompt_tokens` style). HUMMBL keeps input *without* the cache
//! reads, as its own Anthropic client does, so [`usage`] takes the cache reads
//! out of the input; cache writes stay in it. An instrumentation that copies
//! Anthropic's API fields as they are (input without any cache) shows up as an
//! input smaller than its cache tokens: then the input is taken as uncached
//! and the cache writes are added to it. Either way no token counts twice.

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::trace::v1::{Span, status::StatusCode};

use crate::providers::Usage;

/// Longest span name, service name or error message kept (characters).
const MAX_TEXT: usize = 2_000;
const MAX_NAME: usize = 256;

/// What a span is kept as, its ids in lower-case hex.
#[derive(Debug, Clone, PartialEq)]
pub struct KeptSpan {
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: Option<String>,
    pub service: String,
    pub name: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub failed: bool,
    pub error: Option<String>,
    pub error_type: Option<String>,
    /// The model call's figures; `None` for a span that only frames its trace.
    pub call: Option<ModelCall>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelCall {
    pub provider: Option<String>,
    pub model: Option<String>,
    pub tokens: Tokens,
}

/// Token counts as sent (input including the cache, as the conventions say).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tokens {
    pub input: i64,
    pub output: i64,
    pub cache_read: i64,
    pub cache_creation: i64,
}

/// HUMMBL's usage (input without the cache reads) from the counts as sent.
pub fn usage(tokens: Tokens) -> Usage {
    let cached = tokens.cache_read.max(0);
    let input = tokens.input.max(0);
    let uncached = if input >= cached + tokens.cache_creation.max(0) {
        input - cached
    } else {
        input + tokens.cache_creation.max(0)
    };
    Usage {
        input: uncached,
        output: tokens.output.max(0),
        cached,
    }
}

/// Why a span is refused (the partial-success message names the first one).
pub type Refusal = String;

/// Reads one span of the service `service`.
pub fn keep(service: &str, span: &Span) -> Result<KeptSpan, Refusal> {
    let trace_id = id_hex(&span.trace_id, 16).ok_or("traceId must be 16 bytes, not all zero")?;
    let span_id = id_hex(&span.span_id, 8).ok_or("spanId must be 8 bytes, not all zero")?;
    let parent_span_id = if span.parent_span_id.is_empty() {
        None
    } else {
        Some(id_hex(&span.parent_span_id, 8).ok_or("parentSpanId must be 8 bytes or empty")?)
    };
    if span.start_time_unix_nano == 0 {
        return Err("startTimeUnixNano is missing".into());
    }
    if span.end_time_unix_nano < span.start_time_unix_nano {
        return Err("endTimeUnixNano is before startTimeUnixNano".into());
    }
    let attributes = &span.attributes;
    let status = span.status.as_ref();
    let failed = status.is_some_and(|status| status.code == StatusCode::Error as i32);
    let error = failed.then(|| failure_message(span)).flatten();
    let error_type = failed.then(|| {
        text(attributes, "error.type")
            .or_else(|| exception_field(span, "exception.type"))
            .unwrap_or_else(|| "error".into())
    });
    Ok(KeptSpan {
        trace_id,
        span_id,
        parent_span_id,
        service: clip(service, MAX_NAME),
        name: clip(&span.name, MAX_NAME),
        start_ms: nanos_to_ms(span.start_time_unix_nano),
        end_ms: nanos_to_ms(span.end_time_unix_nano),
        failed,
        error: error.map(|text| clip(&text, MAX_TEXT)),
        error_type: error_type.map(|text| clip(&text, MAX_NAME)),
        call: model_call(attributes)?,
    })
}

/// The service a resource's spans belong to (`unknown_service` as the SDKs say
/// when none is set).
pub fn service_name(attributes: &[KeyValue]) -> String {
    text(attributes, "service.name")
        .filter(|name| !name.trim().is_empty())
        .unwrap_or_else(|| "unknown_service".into())
}

fn model_call(attributes: &[KeyValue]) -> Result<Option<ModelCall>, Refusal> {
    let genai = [
        "gen_ai.operation.name",
        "gen_ai.provider.name",
        "gen_ai.system",
        "gen_ai.request.model",
    ]
    .iter()
    .any(|key| find(attributes, key).is_some());
    let openinference = text(attributes, "openinference.span.kind")
        .is_some_and(|kind| kind.eq_ignore_ascii_case("llm"));
    if !genai && !openinference {
        return Ok(None);
    }
    let first_text = |keys: &[&str]| keys.iter().find_map(|key| text(attributes, key));
    let first_count = |keys: &[&str]| -> Result<i64, Refusal> {
        for key in keys {
            if let Some(value) = find(attributes, key) {
                return count(value)
                    .ok_or_else(|| format!("{key} must be a whole number of tokens, 0 or more"));
            }
        }
        Ok(0)
    };
    Ok(Some(ModelCall {
        provider: first_text(&[
            "gen_ai.provider.name",
            "gen_ai.system",
            "llm.provider",
            "llm.system",
        ])
        .map(|name| clip(&name.to_ascii_lowercase(), MAX_NAME)),
        model: first_text(&[
            "gen_ai.response.model",
            "gen_ai.request.model",
            "llm.model_name",
        ])
        .map(|name| clip(&name, MAX_NAME)),
        tokens: Tokens {
            input: first_count(&[
                "gen_ai.usage.input_tokens",
                "gen_ai.usage.prompt_tokens",
                "llm.token_count.prompt",
            ])?,
            output: first_count(&[
                "gen_ai.usage.output_tokens",
                "gen_ai.usage.completion_tokens",
                "llm.token_count.completion",
            ])?,
            cache_read: first_count(&[
                "gen_ai.usage.cache_read.input_tokens",
                "llm.token_count.prompt_details.cache_read",
            ])?,
            cache_creation: first_count(&[
                "gen_ai.usage.cache_creation.input_tokens",
                "llm.token_count.prompt_details.cache_write",
            ])?,
        },
    }))
}

fn failure_message(span: &Span) -> Option<String> {
    let status = span.status.as_ref()?;
    if !status.message.trim().is_empty() {
        return Some(status.message.clone());
    }
    exception_field(span, "exception.message").or_else(|| text(&span.attributes, "error.type"))
}

fn exception_field(span: &Span, key: &str) -> Option<String> {
    span.events
        .iter()
        .filter(|event| event.name == "exception")
        .find_map(|event| text(&event.attributes, key))
}

fn find<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attributes
        .iter()
        .find(|attribute| attribute.key == key)
        .and_then(|attribute| attribute.value.as_ref())
        .and_then(|value: &AnyValue| value.value.as_ref())
}

fn text(attributes: &[KeyValue], key: &str) -> Option<String> {
    match find(attributes, key)? {
        Value::StringValue(text) => Some(text.clone()),
        Value::IntValue(number) => Some(number.to_string()),
        Value::BoolValue(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// A token count: an integer, a whole double, or a string of digits.
fn count(value: &Value) -> Option<i64> {
    let number = match value {
        Value::IntValue(number) => *number,
        Value::DoubleValue(number) if number.fract() == 0.0 && number.abs() < 9e15 => {
            *number as i64
        }
        Value::StringValue(text) => text.trim().parse().ok()?,
        _ => return None,
    };
    (number >= 0).then_some(number)
}

fn id_hex(bytes: &[u8], length: usize) -> Option<String> {
    (bytes.len() == length && bytes.iter().any(|byte| *byte != 0))
        .then(|| bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

fn nanos_to_ms(nanos: u64) -> i64 {
    i64::try_from(nanos / 1_000_000).unwrap_or(i64::MAX)
}

fn clip(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::trace::v1::Status;

    fn attribute(key: &str, value: Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
            ..KeyValue::default()
        }
    }

    fn span(attributes: Vec<KeyValue>) -> Span {
        Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            name: "chat gpt-4o".into(),
            start_time_unix_nano: 1_700_000_000_000_000_000,
            end_time_unix_nano: 1_700_000_000_250_000_000,
            attributes,
            ..Span::default()
        }
    }

    #[test]
    fn openai_style_input_includes_the_cache_reads() {
        let tokens = Tokens {
            input: 1_200,
            output: 50,
            cache_read: 200,
            cache_creation: 0,
        };
        assert_eq!(
            usage(tokens),
            Usage {
                input: 1_000,
                output: 50,
                cached: 200
            }
        );
    }

    #[test]
    fn anthropic_api_style_input_without_the_cache_is_not_counted_twice() {
        // Anthropic's own fields: input 12 excludes 2,000 read and 100 written.
        let tokens = Tokens {
            input: 12,
            output: 40,
            cache_read: 2_000,
            cache_creation: 100,
        };
        assert_eq!(
            usage(tokens),
            Usage {
                input: 112,
                output: 40,
                cached: 2_000
            }
        );
        // The conventions' total for the same call gives the same usage.
        let total = Tokens {
            input: 2_112,
            output: 40,
            cache_read: 2_000,
            cache_creation: 100,
        };
        assert_eq!(
            usage(total),
            Usage {
                input: 112,
                output: 40,
                cached: 2_000
            }
        );
    }

    #[test]
    fn a_genai_span_becomes_a_model_call() {
        let kept = keep(
            "support-bot",
            &span(vec![
                attribute("gen_ai.operation.name", Value::StringValue("chat".into())),
                attribute("gen_ai.system", Value::StringValue("openai".into())),
                attribute("gen_ai.request.model", Value::StringValue("gpt-4o".into())),
                attribute(
                    "gen_ai.response.model",
                    Value::StringValue("gpt-4o-2024-08-06".into()),
                ),
                attribute("gen_ai.usage.input_tokens", Value::IntValue(120)),
                attribute(
                    "gen_ai.usage.output_tokens",
                    Value::StringValue("30".into()),
                ),
            ]),
        )
        .expect("kept");
        assert_eq!(kept.trace_id, "01".repeat(16));
        assert_eq!(kept.end_ms - kept.start_ms, 250);
        let call = kept.call.expect("a model call");
        assert_eq!(call.provider.as_deref(), Some("openai"));
        assert_eq!(call.model.as_deref(), Some("gpt-4o-2024-08-06"));
        assert_eq!(
            call.tokens,
            Tokens {
                input: 120,
                output: 30,
                ..Tokens::default()
            }
        );
    }

    #[test]
    fn openinference_attributes_are_read_too() {
        let kept = keep(
            "rag",
            &span(vec![
                attribute("openinference.span.kind", Value::StringValue("LLM".into())),
                attribute("llm.provider", Value::StringValue("Anthropic".into())),
                attribute(
                    "llm.model_name",
                    Value::StringValue("claude-sonnet-4-5".into()),
                ),
                attribute("llm.token_count.prompt", Value::IntValue(900)),
                attribute("llm.token_count.completion", Value::IntValue(80)),
                attribute(
                    "llm.token_count.prompt_details.cache_read",
                    Value::IntValue(600),
                ),
            ]),
        )
        .expect("kept");
        let call = kept.call.expect("a model call");
        assert_eq!(call.provider.as_deref(), Some("anthropic"));
        assert_eq!(
            usage(call.tokens),
            Usage {
                input: 300,
                output: 80,
                cached: 600
            }
        );
    }

    #[test]
    fn other_spans_only_frame_their_trace() {
        let kept = keep(
            "api",
            &span(vec![attribute(
                "http.method",
                Value::StringValue("GET".into()),
            )]),
        )
        .expect("kept");
        assert!(kept.call.is_none());
    }

    #[test]
    fn a_failed_span_says_why() {
        let mut failed = span(vec![
            attribute("gen_ai.system", Value::StringValue("openai".into())),
            attribute("error.type", Value::StringValue("RateLimitError".into())),
        ]);
        failed.status = Some(Status {
            message: "429 Too Many Requests".into(),
            code: StatusCode::Error as i32,
        });
        let kept = keep("api", &failed).expect("kept");
        assert!(kept.failed);
        assert_eq!(kept.error.as_deref(), Some("429 Too Many Requests"));
        assert_eq!(kept.error_type.as_deref(), Some("RateLimitError"));
    }

    #[test]
    fn malformed_spans_are_refused_with_the_field() {
        let mut bad = span(Vec::new());
        bad.trace_id = vec![0; 16];
        assert!(keep("api", &bad).expect_err("refused").contains("traceId"));
        let mut bad = span(Vec::new());
        bad.end_time_unix_nano = 1;
        assert!(
            keep("api", &bad)
                .expect_err("refused")
                .contains("endTimeUnixNano")
        );
        let bad = span(vec![
            attribute("gen_ai.system", Value::StringValue("openai".into())),
            attribute("gen_ai.usage.input_tokens", Value::IntValue(-3)),
        ]);
        assert!(
            keep("api", &bad)
                .expect_err("refused")
                .contains("gen_ai.usage.input_tokens")
        );
    }
}
