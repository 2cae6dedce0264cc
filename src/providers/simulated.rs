//! The simulated provider, for the demo team only: plausible latency, token counts
//! and the occasional provider error, derived from the prompt so a demo run looks
//! alive. It never calls anything, and every answer says it is simulated.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;

use rand::Rng;

use super::{CallError, ChatRequest, ChatResponse, Usage};

/// Share of simulated calls that fail like a busy provider would.
const FAILURE_RATE: f64 = 0.04;

pub(super) async fn chat(request: &ChatRequest) -> Result<ChatResponse, CallError> {
    let (latency, fails, usage) = {
        let mut rng = rand::rng();
        let prompt_tokens = (request.prompt.len() + request.system.len()) as i64 / 4 + 20;
        let output = rng
            .random_range(80..=900)
            .min(i64::from(request.max_tokens.unwrap_or(4096)));
        let cached = if rng.random_bool(0.3) {
            prompt_tokens / 2
        } else {
            0
        };
        let latency = Duration::from_millis(rng.random_range(300..=2500));
        let fails = rng.random_bool(FAILURE_RATE);
        (
            latency,
            fails,
            Usage {
                input: prompt_tokens - cached,
                output,
                cached,
            },
        )
    };
    tokio::time::sleep(latency).await;
    if fails {
        return Err(CallError::Server {
            status: 529,
            message: "Overloaded (simulated)".into(),
            body: r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded (simulated)"}}"#.into(),
        });
    }
    Ok(ChatResponse {
        text: format!(
            "[simulated answer, no provider was called] {} — summary {:08x}.",
            request.model,
            fingerprint(&request.prompt)
        ),
        usage,
        model: request.model.clone(),
    })
}

fn fingerprint(text: &str) -> u32 {
    let mut hasher = DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish() as u32
}
