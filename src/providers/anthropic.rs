//! The Anthropic Messages API.

use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;

use super::{CallError, ChatRequest, ChatResponse, Credential, Providers, Usage, endpoint};

const DEFAULT_BASE: &str = "https://api.anthropic.com";
const API_VERSION: &str = "2023-06-01";
/// The Messages API requires max_tokens.
const DEFAULT_MAX_TOKENS: u32 = 1024;

#[derive(Deserialize)]
struct MessageResponse {
    model: Option<String>,
    content: Vec<ContentBlock>,
    usage: Option<MessageUsage>,
}

#[derive(Deserialize)]
struct ContentBlock {
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
}

#[derive(Deserialize)]
struct MessageUsage {
    input_tokens: i64,
    output_tokens: i64,
    cache_read_input_tokens: Option<i64>,
    cache_creation_input_tokens: Option<i64>,
}

pub(super) async fn chat(
    providers: &Providers,
    credential: &Credential,
    request: &ChatRequest,
) -> Result<ChatResponse, CallError> {
    let mut body = json!({
        "model": request.model,
        "max_tokens": request.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        "messages": [{"role": "user", "content": request.prompt}],
    });
    if !request.system.is_empty() {
        body["system"] = json!(request.system);
    }
    if let Some(temperature) = request.temperature {
        body["temperature"] = json!(temperature);
    }
    let url = endpoint(credential.base_url.as_deref(), DEFAULT_BASE, "/v1/messages");
    let text = providers
        .send(authorized(providers.http.post(url), credential).json(&body))
        .await?;
    parse(&text, &request.model)
}

fn authorized(
    builder: reqwest::RequestBuilder,
    credential: &Credential,
) -> reqwest::RequestBuilder {
    builder
        .header("x-api-key", credential.secret.expose_secret())
        .header("anthropic-version", API_VERSION)
}

fn parse(text: &str, requested_model: &str) -> Result<ChatResponse, CallError> {
    let message: MessageResponse =
        serde_json::from_str(text).map_err(|err| CallError::BadResponse(err.to_string()))?;
    let text: String = message
        .content
        .into_iter()
        .filter(|block| block.kind == "text")
        .filter_map(|block| block.text)
        .collect::<Vec<_>>()
        .join("\n");
    // Anthropic reports cache reads apart from input_tokens; cache writes are
    // billed as (dearer) input, so they count as input here.
    let usage = message
        .usage
        .map(|usage| Usage {
            input: usage.input_tokens.max(0)
                + usage.cache_creation_input_tokens.unwrap_or(0).max(0),
            output: usage.output_tokens.max(0),
            cached: usage.cache_read_input_tokens.unwrap_or(0).max(0),
        })
        .unwrap_or_default();
    Ok(ChatResponse {
        text,
        usage,
        model: message.model.unwrap_or_else(|| requested_model.to_string()),
    })
}

pub(super) async fn list_models(
    providers: &Providers,
    credential: &Credential,
) -> Result<Vec<String>, CallError> {
    let url = endpoint(credential.base_url.as_deref(), DEFAULT_BASE, "/v1/models");
    let body = providers
        .send(authorized(providers.http.get(url), credential))
        .await?;
    super::model_ids(&body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_reads_are_reported_apart_from_input() {
        let body = r#"{"id":"msg_01","type":"message","role":"assistant","model":"claude-3-5-haiku-20241022",
            "content":[{"type":"text","text":"Hello"},{"type":"text","text":"there"}],
            "stop_reason":"end_turn",
            "usage":{"input_tokens":12,"output_tokens":40,"cache_read_input_tokens":2000,"cache_creation_input_tokens":100}}"#;
        let response = parse(body, "claude").expect("parses");
        assert_eq!(response.text, "Hello\nthere");
        assert_eq!(
            response.usage,
            Usage {
                input: 112,
                output: 40,
                cached: 2000
            }
        );
    }
}
