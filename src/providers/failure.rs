//! How a provider call fails and is tried again: the error classes (from the
//! answer's status), the provider's message read from either provider's error
//! body, the answer kept (shortened), and the backoff between attempts.

use std::time::Duration;

use rand::Rng;
use serde::Deserialize;

use super::egress;

/// Longest provider answer body kept for the error log.
const MAX_KEPT_BODY: usize = 2048;

/// Why a call failed. `body` is the provider's answer, shortened.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    #[error("the provider refused the key ({status}): {message}")]
    InvalidKey {
        status: u16,
        message: String,
        body: String,
    },
    #[error("rate limited by the provider: {message}")]
    RateLimited {
        retry_after: Option<Duration>,
        message: String,
        body: String,
    },
    #[error("provider error ({status}): {message}")]
    Server {
        status: u16,
        message: String,
        body: String,
    },
    #[error("the provider rejected the request ({status}): {message}")]
    Rejected {
        status: u16,
        message: String,
        body: String,
    },
    #[error("no answer from the provider within {0:?}")]
    Timeout(Duration),
    #[error("could not reach the provider: {0}")]
    Network(String),
    #[error("unexpected answer from the provider: {0}")]
    BadResponse(String),
    /// No call was made: the agent has no key that opens.
    #[error("{0}")]
    NoKey(String),
    /// No call was made (or a redirect was not followed): the destination is
    /// not allowed by the egress policy. Trying again cannot help.
    #[error("{0}")]
    Egress(egress::Refused),
}

impl CallError {
    /// Worth trying again: rate limits, server errors, lost connections.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            CallError::RateLimited { .. }
                | CallError::Server { .. }
                | CallError::Network(_)
                | CallError::Timeout(_)
        )
    }

    /// A short class for grouping errors.
    pub fn class(&self) -> &'static str {
        match self {
            CallError::InvalidKey { .. } => "invalid_key",
            CallError::RateLimited { .. } => "rate_limited",
            CallError::Server { .. } => "provider_error",
            CallError::Rejected { .. } => "request_rejected",
            CallError::Timeout(_) => "timeout",
            CallError::Network(_) => "network",
            CallError::BadResponse(_) => "bad_response",
            CallError::NoKey(_) => "missing_key",
            CallError::Egress(_) => "egress_refused",
        }
    }

    /// The provider's own answer, if there was one.
    pub fn provider_body(&self) -> Option<&str> {
        match self {
            CallError::InvalidKey { body, .. }
            | CallError::RateLimited { body, .. }
            | CallError::Server { body, .. }
            | CallError::Rejected { body, .. } => Some(body),
            _ => None,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            CallError::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// How often and how patiently a failing call is repeated.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub retries: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            retries: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// Exponential backoff with full jitter, or the provider's Retry-After.
    pub(super) fn delay(&self, attempt: u32, error: &CallError) -> Duration {
        if let Some(wait) = error.retry_after() {
            return wait.min(self.max_delay);
        }
        let ceiling = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(attempt))
            .min(self.max_delay);
        let millis = u64::try_from(ceiling.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        Duration::from_millis(rand::rng().random_range(millis / 2..=millis))
    }
}

/// The message of an error answer: both providers send `{"error": {"message": …}}`.
pub(super) fn error_message(body: &str) -> String {
    #[derive(Deserialize)]
    struct ErrorBody {
        error: ErrorDetail,
    }
    #[derive(Deserialize)]
    struct ErrorDetail {
        message: String,
    }
    serde_json::from_str::<ErrorBody>(body)
        .map(|parsed| parsed.error.message)
        .unwrap_or_else(|_| shorten(body.trim().to_string()))
}

/// Maps a non-2xx answer to an error, with the provider's message.
pub(super) fn status_error(
    status: u16,
    body: String,
    retry_after: Option<Duration>,
    message: String,
) -> CallError {
    let body = shorten(body);
    match status {
        401 | 403 => CallError::InvalidKey {
            status,
            message,
            body,
        },
        429 => CallError::RateLimited {
            retry_after,
            message,
            body,
        },
        500..=599 | 408 | 409 => CallError::Server {
            status,
            message,
            body,
        },
        _ => CallError::Rejected {
            status,
            message,
            body,
        },
    }
}

fn shorten(mut body: String) -> String {
    if body.len() > MAX_KEPT_BODY {
        let mut end = MAX_KEPT_BODY;
        while !body.is_char_boundary(end) {
            end -= 1;
        }
        body.truncate(end);
        body.push('…');
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_map_to_error_classes() {
        let class = |status| status_error(status, String::new(), None, String::new()).class();
        assert_eq!(class(401), "invalid_key");
        assert_eq!(class(403), "invalid_key");
        assert_eq!(class(429), "rate_limited");
        assert_eq!(class(500), "provider_error");
        assert_eq!(class(529), "provider_error");
        assert_eq!(class(400), "request_rejected");
        assert!(status_error(503, String::new(), None, String::new()).retryable());
        assert!(!status_error(401, String::new(), None, String::new()).retryable());
    }

    #[test]
    fn backoff_grows_with_jitter_and_honours_retry_after() {
        let policy = RetryPolicy::default();
        let server = CallError::Server {
            status: 500,
            message: String::new(),
            body: String::new(),
        };
        for attempt in 0..6 {
            let delay = policy.delay(attempt, &server);
            let ceiling = (policy.base_delay * 2u32.pow(attempt)).min(policy.max_delay);
            assert!(
                delay <= ceiling && delay >= ceiling / 2,
                "{delay:?} vs {ceiling:?}"
            );
        }
        let limited = CallError::RateLimited {
            retry_after: Some(Duration::from_secs(3)),
            message: String::new(),
            body: String::new(),
        };
        assert_eq!(policy.delay(0, &limited), Duration::from_secs(3));
    }

    #[test]
    fn error_messages_are_read_from_either_providers_body() {
        let openai = r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}"#;
        assert_eq!(error_message(openai), "Incorrect API key provided");
        let anthropic =
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        assert_eq!(error_message(anthropic), "Overloaded");
        assert_eq!(error_message("  Bad gateway \n"), "Bad gateway");
    }

    #[test]
    fn long_bodies_are_shortened_on_a_character_boundary() {
        let body = "é".repeat(MAX_KEPT_BODY);
        let short = shorten(body);
        assert!(short.len() <= MAX_KEPT_BODY + '…'.len_utf8());
        assert!(short.ends_with('…'));
    }
}
