//! The guard in front of every handler: it enforces the route's declaration
//! (`routes::Route`): 401 or a redirect to the login form for anonymous callers,
//! 403 for a role without the permission, 404 when the route's component is off
//! for the team; on pages, error answers become the styled HTML error page. On
//! the way out it counts the request against its component.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::MethodRouter;

use crate::app::AppState;
use crate::auth::MaybePrincipal;
use crate::components::ComponentId;
use crate::error::{AppError, ErrorInfo};
use crate::routes::{Access, Route, Surface};
use crate::storage::now_ms;
use crate::telemetry::MaybeIngestKey;

/// The route's handler wrapped in its guard, ready to mount at its path.
pub fn mount(route: Route, state: &AppState) -> (&'static str, MethodRouter<AppState>) {
    let guard = Guard {
        state: state.clone(),
        access: route.access,
        surface: route.surface,
        component: route.component,
        attributed_to: route.attributed_to(),
    };
    let (path, handler) = route.into_handler();
    let handler = handler.layer(middleware::from_fn_with_state(guard, enforce));
    (path, handler)
}

#[derive(Clone)]
struct Guard {
    state: AppState,
    access: Access,
    surface: Surface,
    component: Option<ComponentId>,
    attributed_to: Option<ComponentId>,
}

/// Runs the guard and counts the request under its component.
async fn enforce(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let team = team_of(&request);
    let response = decide(&guard, request, next).await;
    if let Some(component) = guard.attributed_to {
        let server_error = response.status().is_server_error();
        let elapsed = started.elapsed();
        guard.state.request_stats.record(
            team.as_deref(),
            component.as_str(),
            server_error,
            elapsed,
            now_ms(),
        );
        guard
            .state
            .metrics
            .observe_component(component.as_str(), response.status(), elapsed);
    }
    response
}

fn team_of(request: &Request) -> Option<String> {
    if let Some(MaybePrincipal(Some(who))) = request.extensions().get::<MaybePrincipal>() {
        return Some(who.team_id.clone());
    }
    match request.extensions().get::<MaybeIngestKey>() {
        Some(MaybeIngestKey(Some(key))) => Some(key.team_id.clone()),
        _ => None,
    }
}

async fn decide(guard: &Guard, request: Request, next: Next) -> Response {
    let principal = request
        .extensions()
        .get::<MaybePrincipal>()
        .and_then(|found| found.0.clone());
    let has_key = matches!(
        request.extensions().get::<MaybeIngestKey>(),
        Some(MaybeIngestKey(Some(_)))
    );
    let decision = match (&principal, guard.access) {
        (_, Access::Public) => Ok(()),
        (_, Access::Ingest) if has_key => Ok(()),
        (None, _) => Err(AppError::Unauthorized),
        (Some(_), Access::SignedIn | Access::Ingest) => Ok(()),
        (Some(who), Access::Allowed(permission)) => who.require(permission),
    };
    if let Err(err) = decision {
        if guard.surface == Surface::Page && principal.is_none() {
            return redirect_to_login(&request);
        }
        return render(
            guard.surface,
            &guard.state,
            principal.as_ref(),
            err.into_response(),
        )
        .await;
    }
    if let Some(component) = guard.component {
        let team = principal.as_ref().map(|who| who.team_id.as_str());
        match crate::components::is_enabled(&guard.state.db, team, component.as_str()).await {
            Ok(true) => {}
            Ok(false) => {
                let response = AppError::NotFound.into_response();
                return render(guard.surface, &guard.state, principal.as_ref(), response).await;
            }
            Err(err) => return AppError::Internal(err.into()).into_response(),
        }
    }
    let response = next.run(request).await;
    render(guard.surface, &guard.state, principal.as_ref(), response).await
}

fn redirect_to_login(request: &Request) -> Response {
    let wanted = request
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("/");
    let next = url::form_urlencoded::byte_serialize(wanted.as_bytes()).collect::<String>();
    Redirect::to(&format!("/login?next={next}")).into_response()
}

/// On pages, error answers become the styled HTML error page.
async fn render(
    surface: Surface,
    state: &AppState,
    principal: Option<&crate::auth::Principal>,
    response: Response,
) -> Response {
    if surface != Surface::Page || response.status().as_u16() < 400 {
        return response;
    }
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/html"));
    if is_html {
        return response;
    }
    let status = response.status();
    let message = response
        .extensions()
        .get::<ErrorInfo>()
        .map(|info| info.message.clone());
    crate::web::error_page(state, principal, status, message).await
}
