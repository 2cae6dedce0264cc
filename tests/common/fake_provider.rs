//! A fake LLM provider on a loopback port that speaks the OpenAI Chat Completions
//! and Anthropic Messages wire formats (their `usage` objects and error bodies).
//! What it does is steered by markers in the prompt:
//!
//! - `[slow:MS]` answers after MS milliseconds;
//! - `[slow-once:MS:TAG]` is slow only the first time TAG is seen;
//! - `[fail:STATUS]` answers STATUS with the provider's error body;
//! - `[flaky:N:TAG]` answers 500 the first N times TAG is seen.
//!
//! It accepts `GOOD_KEY` and `ROTATED_KEY`; any other key (such as
//! `REVOKED_KEY`) is refused with 401. Every call is recorded.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

pub const GOOD_KEY: &str = "sk-test-good-key-1234";
pub const REVOKED_KEY: &str = "sk-test-revoked";
/// A second key the fake accepts, to rotate to.
pub const ROTATED_KEY: &str = "sk-test-rotated-key-5678";

fn accepts(key: &str) -> bool {
    key == GOOD_KEY || key == ROTATED_KEY
}

#[derive(Debug, Clone)]
pub struct Call {
    pub api: &'static str,
    pub model: String,
    pub prompt: String,
}

#[derive(Default)]
struct Inner {
    calls: Vec<Call>,
    seen: HashMap<String, usize>,
}

#[derive(Clone, Default)]
pub struct FakeProvider {
    inner: Arc<Mutex<Inner>>,
}

pub struct Running {
    pub provider: FakeProvider,
    pub addr: std::net::SocketAddr,
    server: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Base URL for an `openai` key.
    pub fn openai_base(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Base URL for an `anthropic` key.
    pub fn anthropic_base(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeProvider {
    pub async fn start() -> Running {
        let provider = FakeProvider::default();
        let app = Router::new()
            .route("/v1/chat/completions", post(openai_chat))
            .route("/v1/messages", post(anthropic_messages))
            .route("/v1/models", get(models))
            .with_state(provider.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake provider");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Running {
            provider,
            addr,
            server,
        }
    }

    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// Calls whose prompt contains `text`.
    pub fn calls_with(&self, text: &str) -> usize {
        self.lock()
            .calls
            .iter()
            .filter(|call| call.prompt.contains(text))
            .count()
    }

    /// Calls whose prompt starts with `text`.
    pub fn calls_starting_with(&self, text: &str) -> usize {
        self.lock()
            .calls
            .iter()
            .filter(|call| call.prompt.starts_with(text))
            .count()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Records the call; returns how often each TAG was seen before.
    fn record(&self, api: &'static str, model: &str, prompt: &str) -> HashMap<String, usize> {
        let mut inner = self.lock();
        inner.calls.push(Call {
            api,
            model: model.to_string(),
            prompt: prompt.to_string(),
        });
        let mut before = HashMap::new();
        for (_, tag) in tagged_markers(prompt) {
            let count = inner.seen.entry(tag.clone()).or_default();
            before.insert(tag, *count);
            *count += 1;
        }
        before
    }
}

/// `[name:...:TAG]` markers as (name, TAG).
fn tagged_markers(prompt: &str) -> Vec<(String, String)> {
    markers(prompt)
        .into_iter()
        .filter_map(|parts| Some((parts.first()?.clone(), parts.last()?.clone())))
        .filter(|(name, _)| name == "slow-once" || name == "flaky")
        .collect()
}

fn markers(prompt: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let mut rest = prompt;
    while let Some(start) = rest.find('[') {
        let Some(end) = rest[start..].find(']') else {
            break;
        };
        let inner = &rest[start + 1..start + end];
        found.push(inner.split(':').map(str::to_string).collect());
        rest = &rest[start + end + 1..];
    }
    found
}

/// What the markers ask for: a delay, then an error status or an answer.
async fn behave(
    provider: &FakeProvider,
    api: &'static str,
    model: &str,
    prompt: &str,
) -> Option<u16> {
    let seen = provider.record(api, model, prompt);
    let mut delay = 0u64;
    let mut fail = None;
    for parts in markers(prompt) {
        let number = |i: usize| parts.get(i).and_then(|text| text.parse::<u64>().ok());
        match parts.first().map(String::as_str) {
            Some("slow") => delay = number(1).unwrap_or(0),
            Some("slow-once") => {
                let tag = parts.last().cloned().unwrap_or_default();
                if seen.get(&tag).copied().unwrap_or(0) == 0 {
                    delay = number(1).unwrap_or(0);
                }
            }
            Some("fail") => fail = number(1).map(|status| status as u16),
            Some("flaky") => {
                let tag = parts.last().cloned().unwrap_or_default();
                if (seen.get(&tag).copied().unwrap_or(0) as u64) < number(1).unwrap_or(0) {
                    fail = Some(500);
                }
            }
            _ => {}
        }
    }
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    fail
}

fn tokens(prompt: &str) -> i64 {
    prompt.len() as i64 / 4 + 10
}

async fn openai_chat(
    State(provider): State<FakeProvider>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if let Some(refused) = refuse_bearer(&headers) {
        return refused;
    }
    let Ok(request) = serde_json::from_str::<Value>(&body) else {
        return openai_error(400, "We could not parse the JSON body of your request.");
    };
    let model = request["model"].as_str().unwrap_or_default().to_string();
    let prompt = request["messages"]
        .as_array()
        .and_then(|messages| messages.last())
        .and_then(|message| message["content"].as_str())
        .unwrap_or_default()
        .to_string();
    if let Some(status) = behave(&provider, "openai", &model, &prompt).await {
        return openai_error(
            status,
            "The server had an error while processing your request.",
        );
    }
    let prompt_tokens = tokens(&prompt) + 100;
    let body = json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": format!("{model}-2024-07-18"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": format!("echo: {prompt}")}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": 7,
            "total_tokens": prompt_tokens + 7,
            "prompt_tokens_details": {"cached_tokens": 100}
        }
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}

async fn anthropic_messages(
    State(provider): State<FakeProvider>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let key = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if headers.get("anthropic-version").is_none() {
        return anthropic_error(
            400,
            "invalid_request_error",
            "anthropic-version: header is required",
        );
    }
    if !accepts(key) {
        return anthropic_error(401, "authentication_error", "invalid x-api-key");
    }
    let Ok(request) = serde_json::from_str::<Value>(&body) else {
        return anthropic_error(
            400,
            "invalid_request_error",
            "could not parse the request body",
        );
    };
    let model = request["model"].as_str().unwrap_or_default().to_string();
    let prompt = request["messages"]
        .as_array()
        .and_then(|messages| messages.last())
        .and_then(|message| message["content"].as_str())
        .unwrap_or_default()
        .to_string();
    if request["max_tokens"].as_u64().is_none() {
        return anthropic_error(400, "invalid_request_error", "max_tokens: Field required");
    }
    if let Some(status) = behave(&provider, "anthropic", &model, &prompt).await {
        return anthropic_error(status, "api_error", "Internal server error");
    }
    let body = json!({
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": format!("echo: {prompt}")}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": tokens(&prompt), "output_tokens": 9, "cache_read_input_tokens": 50, "cache_creation_input_tokens": 0}
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}

async fn models(headers: HeaderMap) -> Response {
    if let Some(key) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        if !accepts(key) {
            return anthropic_error(401, "authentication_error", "invalid x-api-key");
        }
    } else if let Some(refused) = refuse_bearer(&headers) {
        return refused;
    }
    (
        StatusCode::OK,
        axum::Json(json!({"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model"}]})),
    )
        .into_response()
}

fn refuse_bearer(headers: &HeaderMap) -> Option<Response> {
    let presented = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    (!accepts(presented)).then(|| {
        openai_error(
            401,
            &format!("Incorrect API key provided: {}. You can find your API key at https://platform.openai.com/account/api-keys.", mask(presented)),
        )
    })
}

fn mask(key: &str) -> String {
    let tail: String = key
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("sk-****{tail}")
}

fn openai_error(status: u16, message: &str) -> Response {
    let code = match status {
        401 => "invalid_api_key",
        429 => "rate_limit_exceeded",
        _ => "server_error",
    };
    let body = json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": code}});
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        axum::Json(body),
    )
        .into_response()
}

fn anthropic_error(status: u16, kind: &str, message: &str) -> Response {
    let body = json!({"type": "error", "error": {"type": kind, "message": message}});
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        axum::Json(body),
    )
        .into_response()
}
