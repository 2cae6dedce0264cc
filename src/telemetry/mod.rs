//! T4 Observation: telemetry ingestion (`/api/telemetry/track`), component
//! metrics, request instrumentation, the live event stream, ingestion keys for
//! other apps, retention, and the browser SDK served at `/sdk/telemetry.js`.
//!
//! Flow of an event: the request is authenticated by the console session or an
//! ingestion key (the team always comes from the credential), validated field by
//! field (`validate`), handed to the batching writer (`ingest`), and answered only
//! once its transaction committed; the writer then publishes it on the live bus,
//! where `/api/telemetry/stream` subscribers of that team receive it.

pub mod handlers;
pub mod ingest;
pub mod keys;
pub mod keys_page;
pub mod requests;
mod store;
pub mod validate;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::auth::{MaybePrincipal, Principal};
use crate::error::AppError;
use crate::routes::Route;

pub use keys::IngestKey;

/// The component telemetry's own routes report as.
pub const COMPONENT: crate::components::ComponentId = crate::components::id::TELEMETRY;

pub fn routes() -> Vec<Route> {
    let mut routes = handlers::routes();
    routes.extend(keys_page::routes());
    routes
}

/// Who sends telemetry: a console user (session) or another app (ingestion key).
#[derive(Debug, Clone)]
pub enum Sender {
    Console(Principal),
    Key(IngestKey),
}

impl Sender {
    pub fn team_id(&self) -> &str {
        match self {
            Sender::Console(principal) => &principal.team_id,
            Sender::Key(key) => &key.team_id,
        }
    }
}

/// Where telemetry events came from, as stored in `user_actions.source`: the
/// console (a signed-in user's browser) or another app by its ingestion key
/// (`key:<id>`). Only these constructors make one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source(String);

impl Source {
    pub fn console() -> Source {
        Source("console".to_string())
    }

    pub fn ingestion_key(key_id: &str) -> Source {
        Source(format!("key:{key_id}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The ingestion key a request authenticated with, if any (set by
/// `auth::authenticate`).
#[derive(Debug, Clone)]
pub struct MaybeIngestKey(pub Option<IngestKey>);

impl<S: Send + Sync> FromRequestParts<S> for Sender {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Sender, AppError> {
        if let Some(MaybeIngestKey(Some(key))) = parts.extensions.get::<MaybeIngestKey>() {
            return Ok(Sender::Key(key.clone()));
        }
        match parts.extensions.get::<MaybePrincipal>() {
            Some(MaybePrincipal(Some(principal))) => Ok(Sender::Console(principal.clone())),
            _ => Err(AppError::Unauthorized),
        }
    }
}

pub use store::{MetricSample, metric_samples, prune};
