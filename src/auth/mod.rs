//! Who is calling: sessions (browser), personal API tokens (Bearer), the CSRF
//! guard, login throttling and the role table. The `authenticate` middleware runs
//! on every request and leaves an `Option<Principal>` in the request; handlers
//! take a [`Principal`] argument, and the route table's guard (see `routes`)
//! decides 401/403 before a handler runs.

pub mod client;
pub mod csrf;
pub mod handlers;
pub mod password;
pub mod ratelimit;
pub mod roles;
pub mod secret;
pub mod session;
pub mod session_cache;
mod store;

pub use store::delete_user_sessions;
pub mod tokens;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;

pub use roles::{Permission, Role};

use crate::app::AppState;
use crate::error::AppError;

/// The signed-in user, acting in one team with one role.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub team_id: String,
    pub team_name: String,
    pub role: Role,
    pub credential: Credential,
}

#[derive(Debug, Clone)]
pub enum Credential {
    /// A browser session; `session_id` is the stored digest.
    Session { session_id: String },
    /// A personal API token.
    Token { token_id: String },
}

impl Principal {
    pub fn can(&self, permission: Permission) -> bool {
        self.role.allows(permission)
    }

    /// Fails with 403 unless the role allows `permission`.
    pub fn require(&self, permission: Permission) -> Result<(), AppError> {
        if self.can(permission) {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    }

    pub fn session_id(&self) -> Option<&str> {
        match &self.credential {
            Credential::Session { session_id } => Some(session_id),
            Credential::Token { .. } => None,
        }
    }
}

/// Whether `credential` still gives access to `team_id` (a live stream checks
/// this when it may have missed the news of its end).
pub async fn still_valid(
    db: &crate::storage::Db,
    credential: &Credential,
    team_id: &str,
) -> Result<bool, sqlx::Error> {
    match credential {
        Credential::Session { session_id } => store::session_alive(db, session_id, team_id).await,
        Credential::Token { token_id } => store::token_alive(db, token_id).await,
    }
}

/// Resolved credentials for this request (`None`: anonymous).
#[derive(Debug, Clone)]
pub struct MaybePrincipal(pub Option<Principal>);

/// The credential a request presents. An Authorization header wins; an
/// ingestion key may also come as `?key=` on telemetry routes (what
/// `navigator.sendBeacon` can send); only then is the session cookie looked at.
pub enum Presented {
    Bearer(String),
    /// An Authorization header that is not `Bearer <token>`.
    Malformed,
    QueryKey(String),
    Cookie(String),
    Nothing,
}

impl Presented {
    pub fn of(request: &Request) -> Presented {
        let headers = request.headers();
        if let Some(value) = headers.get(header::AUTHORIZATION) {
            return match value
                .to_str()
                .ok()
                .and_then(|text| text.strip_prefix("Bearer "))
            {
                Some(token) if !token.trim().is_empty() => {
                    Presented::Bearer(token.trim().to_string())
                }
                _ => Presented::Malformed,
            };
        }
        if request.uri().path().starts_with("/api/telemetry/")
            && let Some(query) = request.uri().query()
            && let Some((_, key)) =
                url::form_urlencoded::parse(query.as_bytes()).find(|(name, _)| name == "key")
        {
            return Presented::QueryKey(key.into_owned());
        }
        let jar = CookieJar::from_headers(headers);
        match jar.get(session::COOKIE_NAME) {
            Some(cookie) if !cookie.value().is_empty() => {
                Presented::Cookie(cookie.value().to_string())
            }
            _ => Presented::Nothing,
        }
    }

    /// Whether the browser could have attached this credential on its own
    /// (cookies), which is what cross-site request forgery abuses.
    pub fn is_ambient(&self) -> bool {
        matches!(self, Presented::Cookie(_) | Presented::Nothing)
    }
}

/// Resolves the presented credential into a principal (user) or an ingestion key,
/// and leaves both answers in the request for the guard and the handlers.
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let mut key = None;
    let resolved = match Presented::of(&request) {
        Presented::Bearer(token) if token.starts_with(crate::telemetry::keys::KEY_PREFIX) => {
            resolve_key(&state, &token, &mut key).await
        }
        Presented::QueryKey(token) => resolve_key(&state, &token, &mut key).await,
        Presented::Bearer(token) => tokens::resolve(&state.db, &token).await,
        Presented::Cookie(token) => {
            session::resolve(
                &state.db,
                &state.session_cache,
                &token,
                state.session_lifetime(),
            )
            .await
        }
        Presented::Malformed | Presented::Nothing => Ok(None),
    };
    match resolved {
        Ok(principal) => {
            request.extensions_mut().insert(MaybePrincipal(principal));
            request
                .extensions_mut()
                .insert(crate::telemetry::MaybeIngestKey(key));
            next.run(request).await
        }
        Err(err) => AppError::Internal(err.into()).into_response(),
    }
}

async fn resolve_key(
    state: &AppState,
    token: &str,
    slot: &mut Option<crate::telemetry::IngestKey>,
) -> Result<Option<Principal>, sqlx::Error> {
    *slot = crate::telemetry::keys::resolve(&state.db, &state.key_cache, token).await?;
    Ok(None)
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Principal, AppError> {
        match parts.extensions.get::<MaybePrincipal>() {
            Some(MaybePrincipal(Some(principal))) => Ok(principal.clone()),
            _ => Err(AppError::Unauthorized),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for MaybePrincipal {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _: &S,
    ) -> Result<MaybePrincipal, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<MaybePrincipal>()
            .cloned()
            .unwrap_or(MaybePrincipal(None)))
    }
}
