//! OpenAI Chat Completions, and the servers that speak it (Ollama, vLLM,
//! llama.cpp, LM Studio) at another base URL.

use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;

use super::{CallError, ChatRequest, ChatResponse, Credential, Providers, Usage, endpoint};

const DEFAULT_BASE: &str = "https://api.openai.com/v1";

#[derive(Deserialize)]
struct Completion {
    model: Option<String>,
    choices: Vec<Choice>,
    usage: Option<CompletionUsage>,
}

#[derive(Deserialize)]
struct Choice {
    message: Message,
}

#[derive(Deserialize)]
struct Message {
    content: Option<String>,
}

#[derive(Deserialize)]
struct CompletionUsage {
    prompt_tokens: i64,
    completion_tokens: i64,
    prompt_tokens_details: Option<PromptDetails>,
}

#[derive(Deserialize)]
struct PromptDetails {
    cached_tokens: Option<i64>,
}

pub(super) async fn chat(
    providers: &Providers,
    credential: &Credential,
    request: &ChatRequest,
) -> Result<ChatResponse, CallError> {
    let mut messages = Vec::with_capacity(2);
    if !request.system.is_empty() {
        messages.push(json!({"role": "system", "content": request.system}));
    }
    messages.push(json!({"role": "user", "content": request.prompt}));
    let mut body = json!({"model": request.model, "messages": messages});
    if let Some(max_tokens) = request.max_tokens {
        body["max_tokens"] = json!(max_tokens);
    }
    if let Some(temperature) = request.temperature {
        body["temperature"] = json!(temperature);
    }
    let url = endpoint(
        credential.base_url.as_deref(),
        DEFAULT_BASE,
        "/chat/completions",
    );
    let text = providers
        .send(
            providers
                .http
                .post(url)
                .bearer_auth(credential.secret.expose_secret())
                .json(&body),
        )
        .await?;
    parse(&text, &request.model)
}

fn parse(text: &str, requested_model: &str) -> Result<ChatResponse, CallError> {
    let completion: Completion =
        serde_json::from_str(text).map_err(|err| CallError::BadResponse(err.to_string()))?;
    let content = completion
        .choices
        .into_iter()
        .next()
        .and_then(|choice| choice.message.content)
        .ok_or_else(|| CallError::BadResponse("no message in choices".into()))?;
    // OpenAI counts cached tokens inside prompt_tokens: take them out of input.
    let usage = completion
        .usage
        .map(|usage| {
            let cached = usage
                .prompt_tokens_details
                .and_then(|details| details.cached_tokens)
                .unwrap_or(0)
                .clamp(0, usage.prompt_tokens.max(0));
            Usage {
                input: usage.prompt_tokens.max(0) - cached,
                output: usage.completion_tokens.max(0),
                cached,
            }
        })
        .unwrap_or_default();
    Ok(ChatResponse {
        text: content,
        usage,
        model: completion
            .model
            .unwrap_or_else(|| requested_model.to_string()),
    })
}

pub(super) async fn list_models(
    providers: &Providers,
    credential: &Credential,
) -> Result<Vec<String>, CallError> {
    let url = endpoint(credential.base_url.as_deref(), DEFAULT_BASE, "/models");
    let body = providers
        .send(
            providers
                .http
                .get(url)
                .bearer_auth(credential.secret.expose_secret()),
        )
        .await?;
    super::model_ids(&body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_tokens_are_taken_out_of_prompt_tokens() {
        let body = r#"{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o-mini-2024-07-18",
            "choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}],
            "usage":{"prompt_tokens":2006,"completion_tokens":300,"total_tokens":2306,
                     "prompt_tokens_details":{"cached_tokens":1920}}}"#;
        let response = parse(body, "gpt-4o-mini").expect("parses");
        assert_eq!(response.text, "Hi");
        assert_eq!(response.model, "gpt-4o-mini-2024-07-18");
        assert_eq!(
            response.usage,
            Usage {
                input: 86,
                output: 300,
                cached: 1920
            }
        );
    }

    #[test]
    fn servers_without_usage_details_still_parse() {
        let body = r#"{"choices":[{"message":{"content":"ok"}}],"usage":{"prompt_tokens":5,"completion_tokens":2}}"#;
        let response = parse(body, "llama3").expect("parses");
        assert_eq!(response.model, "llama3");
        assert_eq!(
            response.usage,
            Usage {
                input: 5,
                output: 2,
                cached: 0
            }
        );
        assert!(parse(r#"{"choices":[]}"#, "m").is_err());
    }
}
