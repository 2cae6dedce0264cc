//! LLM providers: OpenAI Chat Completions (and any OpenAI-compatible server such
//! as Ollama, vLLM, llama.cpp or LM Studio, by base URL), the Anthropic Messages
//! API, and a simulated provider for the demo team only.
//!
//! Each call reports token usage as the provider counts it, normalized so that
//! `input` never includes cached input: OpenAI counts cached tokens inside
//! `prompt_tokens`, Anthropic reports them apart.

mod anthropic;
pub mod egress;
mod failure;
mod openai;
pub mod simulated;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

pub use failure::{CallError, RetryPolicy};
use failure::{error_message, status_error};

/// Most of an answer read from the network: a chat answer is a few KB, so a
/// bigger one is refused rather than buffered whole in memory.
const MAX_READ_BODY: usize = 1024 * 1024;
/// Most of an error answer read: only its start is kept.
const MAX_READ_ERROR_BODY: usize = 64 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Openai,
    Anthropic,
    /// Made-up answers for the demo team; never calls anything.
    Simulated,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Openai => "openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Simulated => "simulated",
        }
    }

    /// How the provider is shown wherever it appears.
    pub fn display_name(self) -> &'static str {
        match self {
            ProviderKind::Openai => "OpenAI-compatible",
            ProviderKind::Anthropic => "Anthropic",
            ProviderKind::Simulated => "Simulated (demo only, no provider is called)",
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProviderKind {
    type Err = ();

    fn from_str(text: &str) -> Result<ProviderKind, ()> {
        match text {
            "openai" => Ok(ProviderKind::Openai),
            "anthropic" => Ok(ProviderKind::Anthropic),
            "simulated" => Ok(ProviderKind::Simulated),
            _ => Err(()),
        }
    }
}

/// A provider key, opened from the vault for one call.
#[derive(Debug, Clone)]
pub struct Credential {
    pub kind: ProviderKind,
    pub base_url: Option<String>,
    pub secret: SecretString,
}

#[derive(Debug, Clone)]
pub struct ChatRequest {
    pub model: String,
    pub system: String,
    pub prompt: String,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f64>,
}

/// Tokens of one call. `input` excludes cached input; `cached` is input served
/// from the provider's prompt cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Usage {
    pub input: i64,
    pub output: i64,
    pub cached: i64,
}

#[derive(Debug, Clone)]
pub struct ChatResponse {
    pub text: String,
    pub usage: Usage,
    /// The model the provider says answered.
    pub model: String,
}

/// How many model ids a key test answers at most.
pub const MAX_MODELS: usize = 200;

/// The model ids of a model list: OpenAI's and Anthropic's both answer
/// `{"data": [{"id": …}, …]}`.
fn model_ids(body: &str) -> Result<Vec<String>, CallError> {
    #[derive(serde::Deserialize)]
    struct List {
        data: Vec<Model>,
    }
    #[derive(serde::Deserialize)]
    struct Model {
        id: String,
    }
    let list: List = serde_json::from_str(body)
        .map_err(|err| CallError::BadResponse(format!("the model list did not parse: {err}")))?;
    Ok(list
        .data
        .into_iter()
        .take(MAX_MODELS)
        .map(|model| model.id)
        .collect())
}

/// What a call with retries came to.
#[derive(Debug)]
pub struct Outcome {
    pub result: Result<ChatResponse, CallError>,
    pub attempts: u32,
}

/// The HTTP client shared by all calls, with the egress policy built in.
#[derive(Clone)]
pub struct Providers {
    http: reqwest::Client,
    egress: egress::EgressPolicy,
    request_timeout: Duration,
}

impl Providers {
    pub fn new(
        request_timeout: Duration,
        allowed_hosts: egress::AllowedHosts,
    ) -> anyhow::Result<Providers> {
        let egress = egress::EgressPolicy::new(allowed_hosts);
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("hummbl/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(egress.resolver())
            .redirect(egress::refuse_redirects())
            // Through a proxy the resolver would judge the proxy's address, not
            // the provider's, and the policy could be walked around.
            .no_proxy()
            .build()?;
        Ok(Providers {
            http,
            egress,
            request_timeout,
        })
    }

    /// Whether the policy allows a base URL, as far as the URL alone tells
    /// (IP literals and metadata names; other names are judged at each call).
    pub fn check_base_url(&self, url: &url::Url) -> Result<(), egress::Refused> {
        self.egress.check_url(url)
    }

    /// One call, no retries.
    pub async fn chat(
        &self,
        credential: &Credential,
        request: &ChatRequest,
    ) -> Result<ChatResponse, CallError> {
        match credential.kind {
            ProviderKind::Openai => openai::chat(self, credential, request).await,
            ProviderKind::Anthropic => anthropic::chat(self, credential, request).await,
            ProviderKind::Simulated => simulated::chat(request).await,
        }
    }

    /// A call repeated on retryable errors, with backoff and jitter.
    pub async fn chat_with_retries(
        &self,
        credential: &Credential,
        request: &ChatRequest,
        policy: RetryPolicy,
    ) -> Outcome {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self.chat(credential, request).await;
            match result {
                Err(error) if error.retryable() && attempt <= policy.retries => {
                    let wait = policy.delay(attempt - 1, &error);
                    tracing::debug!(%error, attempt, ?wait, "provider call failed; retrying");
                    tokio::time::sleep(wait).await;
                }
                result => {
                    return Outcome {
                        result,
                        attempts: attempt,
                    };
                }
            }
        }
    }

    /// Checks a key with the provider's cheapest authenticated request, the
    /// model list; answers the model ids (at most [`MAX_MODELS`]).
    pub async fn test_key(&self, credential: &Credential) -> Result<Vec<String>, CallError> {
        match credential.kind {
            ProviderKind::Openai => openai::list_models(self, credential).await,
            ProviderKind::Anthropic => anthropic::list_models(self, credential).await,
            ProviderKind::Simulated => Ok(vec!["simulated".to_string()]),
        }
    }

    /// Sends a request and reads the answer's body (at most [`MAX_READ_BODY`]).
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<String, CallError> {
        let response = self.answer(request).await?;
        let (body, complete) = read_at_most(response, MAX_READ_BODY)
            .await
            .map_err(|err| self.transport_error(err))?;
        if !complete {
            return Err(CallError::BadResponse(format!(
                "the answer is larger than {} MiB",
                MAX_READ_BODY / (1024 * 1024)
            )));
        }
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    /// Sends a request once the policy allows its URL; a 2xx answer is
    /// returned unread, any other becomes the matching error.
    async fn answer(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, CallError> {
        let request = request
            .timeout(self.request_timeout)
            .build()
            .map_err(|err| self.transport_error(err))?;
        // An IP-literal host never reaches the resolver, so it is judged here.
        self.egress
            .check_url(request.url())
            .map_err(CallError::Egress)?;
        let response = self
            .http
            .execute(request)
            .await
            .map_err(|err| self.transport_error(err))?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(response);
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        // Only the start of an error answer matters: it is shortened anyway.
        let (body, _) = read_at_most(response, MAX_READ_ERROR_BODY)
            .await
            .map_err(|err| self.transport_error(err))?;
        let body = String::from_utf8_lossy(&body).into_owned();
        let message = error_message(&body);
        Err(status_error(status, body, retry_after, message))
    }

    fn transport_error(&self, err: reqwest::Error) -> CallError {
        if let Some(refused) = egress::refusal_in(&err) {
            CallError::Egress(refused)
        } else if err.is_timeout() {
            CallError::Timeout(self.request_timeout)
        } else {
            CallError::Network(without_url(err))
        }
    }
}

/// The body's first `limit` bytes, and whether that was all of it. Stops
/// reading there, so a huge answer is never held in memory.
async fn read_at_most(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = limit - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((body, false));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, true))
}

/// reqwest's messages include the URL; keep the reason only.
fn without_url(err: reqwest::Error) -> String {
    let err = err.without_url();
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `base` (or the default) joined with `path`, without doubled slashes.
fn endpoint(base: Option<&str>, default: &str, path: &str) -> String {
    let base = base.unwrap_or(default).trim_end_matches('/');
    format!("{base}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_list_gives_its_ids_capped() {
        let anthropic = r#"{"data":[{"type":"model","id":"claude-3-5-haiku-20241022","display_name":"Claude"}],
            "has_more":false,"first_id":"claude-3-5-haiku-20241022"}"#;
        assert_eq!(
            model_ids(anthropic).expect("parses"),
            ["claude-3-5-haiku-20241022"]
        );
        let many: Vec<_> = (0..250)
            .map(|n| serde_json::json!({"id": format!("m{n}"), "object": "model"}))
            .collect();
        let openai = serde_json::json!({"object": "list", "data": many}).to_string();
        let ids = model_ids(&openai).expect("parses");
        assert_eq!((ids.len(), ids[0].as_str()), (MAX_MODELS, "m0"));
        assert!(matches!(
            model_ids("<html>"),
            Err(CallError::BadResponse(_))
        ));
    }

    #[test]
    fn provider_names_round_trip() {
        for kind in [
            ProviderKind::Openai,
            ProviderKind::Anthropic,
            ProviderKind::Simulated,
        ] {
            assert_eq!(kind.as_str().parse::<ProviderKind>(), Ok(kind));
        }
        assert!("gemini".parse::<ProviderKind>().is_err());
    }

    #[test]
    fn endpoints_join_without_doubled_slashes() {
        assert_eq!(
            endpoint(Some("http://x/v1/"), "d", "/chat"),
            "http://x/v1/chat"
        );
        assert_eq!(endpoint(None, "https://d", "/m"), "https://d/m");
    }
}
