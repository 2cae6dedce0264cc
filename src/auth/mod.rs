//! Who is calling: sessions (browser), personal API tokens (Bearer), the CSRF
//! guard, login throttling and the role table. The `authenticate` middleware runs
//! on every request and leaves an `Option<Principal>` in the request; handlers
//! take a [`Principal`] argument, and the route table's guard (see `routes`)
//! decides 401/403 before a handler runs.

pub mod csrf;
pub mod handlers;
pub mod password;
pub mod ratelimit;
pub mod roles;
pub mod secret;
pub mod session;
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

/// Resolved credentials for this request (`None`: anonymous).
#[derive(Debug, Clone)]
pub struct MaybePrincipal(pub Option<Principal>);

/// Resolves the bearer token or, without an Authorization header, the session
/// cookie. A request with an Authorization header never falls back to the
/// cookie, which is what lets the CSRF guard exempt bearer requests.
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let resolved = match bearer_token(request.headers()) {
        BearerHeader::Present(token) => tokens::resolve(&state.db, &token).await,
        BearerHeader::Malformed => Ok(None),
        BearerHeader::Absent => {
            let jar = CookieJar::from_headers(request.headers());
            match jar.get(session::COOKIE_NAME) {
                Some(cookie) if !cookie.value().is_empty() => {
                    session::resolve(&state.db, cookie.value(), state.session_ttl_ms()).await
                }
                _ => Ok(None),
            }
        }
    };
    match resolved {
        Ok(principal) => {
            request.extensions_mut().insert(MaybePrincipal(principal));
            next.run(request).await
        }
        Err(err) => AppError::Internal(err.into()).into_response(),
    }
}

enum BearerHeader {
    Absent,
    Malformed,
    Present(String),
}

fn bearer_token(headers: &axum::http::HeaderMap) -> BearerHeader {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return BearerHeader::Absent;
    };
    let Ok(text) = value.to_str() else {
        return BearerHeader::Malformed;
    };
    match text.strip_prefix("Bearer ") {
        Some(token) if !token.trim().is_empty() => BearerHeader::Present(token.trim().to_string()),
        _ => BearerHeader::Malformed,
    }
}

/// Whether the request carries an Authorization header (bearer requests are not
/// exposed to CSRF: browsers never attach them on their own).
pub fn has_authorization(headers: &axum::http::HeaderMap) -> bool {
    headers.contains_key(header::AUTHORIZATION)
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
