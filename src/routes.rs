//! The route table. Every route is declared here with who may call it and which
//! component it belongs to; the router is built from these declarations only, so
//! a route cannot exist without one. The guard below enforces them before any
//! handler runs, and the authorization test walks the same table.

use axum::extract::{Request, State};
use axum::handler::Handler;
use axum::http::{Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{MethodFilter, MethodRouter, on};

use crate::app::AppState;
use std::time::Instant;

use crate::auth::{MaybePrincipal, Permission};
use crate::error::{AppError, ErrorInfo};
use crate::storage::now_ms;
use crate::telemetry::MaybeIngestKey;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not.
    Public,
    /// Any signed-in member of the current team, whatever the role.
    SignedIn,
    /// Signed in with a role that holds this permission.
    Allowed(Permission),
    /// Telemetry ingestion: a signed-in user or another app's ingestion key.
    Ingest,
}

/// Pages answer in HTML (errors as styled pages, anonymous users sent to the
/// login form); API routes answer in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    Page,
    Api,
    /// Plain resources (health, metrics, assets): no HTML error page.
    Raw,
}

pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    pub surface: Surface,
    /// The BaseN component the route belongs to: disabled component → 404.
    pub component: Option<&'static str>,
    /// The component its requests are counted under, when it is not `component`.
    reports_as: Option<&'static str>,
    handler: MethodRouter<AppState>,
}

impl Route {
    fn new<H, T>(surface: Surface, method: Method, path: &'static str, handler: H) -> Route
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone()).unwrap_or(MethodFilter::GET);
        Route {
            method,
            path,
            access: Access::SignedIn,
            surface,
            component: None,
            reports_as: None,
            handler: on(filter, handler),
        }
    }

    pub fn page<H: Handler<T, AppState>, T: 'static>(
        method: Method,
        path: &'static str,
        handler: H,
    ) -> Route {
        Route::new(Surface::Page, method, path, handler)
    }

    pub fn api<H: Handler<T, AppState>, T: 'static>(
        method: Method,
        path: &'static str,
        handler: H,
    ) -> Route {
        Route::new(Surface::Api, method, path, handler)
    }

    pub fn raw<H: Handler<T, AppState>, T: 'static>(
        method: Method,
        path: &'static str,
        handler: H,
    ) -> Route {
        Route::new(Surface::Raw, method, path, handler)
    }

    pub fn public(mut self) -> Route {
        self.access = Access::Public;
        self
    }

    pub fn signed_in(mut self) -> Route {
        self.access = Access::SignedIn;
        self
    }

    pub fn allowed(mut self, permission: Permission) -> Route {
        self.access = Access::Allowed(permission);
        self
    }

    pub fn ingest(mut self) -> Route {
        self.access = Access::Ingest;
        self
    }

    pub fn component(mut self, id: &'static str) -> Route {
        self.component = Some(id);
        self
    }

    /// Counts the route's requests under this component (request instrumentation).
    pub fn reports_as(mut self, id: &'static str) -> Route {
        self.reports_as = Some(id);
        self
    }

    /// The component requests are attributed to: its own, or what it reports as,
    /// or the console shell; probes and static files are not counted.
    pub fn attributed_to(&self) -> Option<&'static str> {
        match (self.component, self.reports_as, self.surface) {
            (Some(id), _, _) | (None, Some(id), _) => Some(id),
            (None, None, Surface::Raw) => None,
            (None, None, _) => Some(crate::components::CONSOLE),
        }
    }

    /// The handler wrapped in its guard, ready to mount.
    pub fn into_guarded(self, state: &AppState) -> (&'static str, MethodRouter<AppState>) {
        let guard = Guard {
            state: state.clone(),
            access: self.access,
            surface: self.surface,
            component: self.component,
            attributed_to: self.attributed_to(),
        };
        let handler = self
            .handler
            .layer(middleware::from_fn_with_state(guard, enforce));
        (self.path, handler)
    }
}

#[derive(Clone)]
struct Guard {
    state: AppState,
    access: Access,
    surface: Surface,
    component: Option<&'static str>,
    attributed_to: Option<&'static str>,
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
            component,
            server_error,
            elapsed,
            now_ms(),
        );
        guard
            .state
            .metrics
            .observe_component(component, response.status(), elapsed);
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
        match crate::components::is_enabled(&guard.state.db, team, component).await {
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

/// Every route of the application. Features contribute their own lists.
pub fn all() -> Vec<Route> {
    let mut routes = Vec::new();
    routes.extend(crate::ops::routes());
    routes.extend(crate::web::routes());
    routes.extend(crate::auth::handlers::routes());
    routes.extend(crate::accounts::handlers::routes());
    routes.extend(crate::teams::handlers::routes());
    routes.extend(crate::components::handlers::routes());
    routes.extend(crate::telemetry::routes());
    routes.extend(crate::provider_keys::routes());
    routes.extend(crate::agents::routes());
    routes.extend(crate::workflows::routes());
    routes.extend(crate::executions::routes());
    routes.extend(crate::prices::handlers::routes());
    routes.extend(crate::analytics::routes());
    routes.extend(crate::errors::routes());
    routes
}
