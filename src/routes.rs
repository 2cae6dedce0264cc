//! How a route is declared: its method and path, who may call it (`Access`),
//! how it answers (`Surface`) and which BaseN component it belongs to. Each
//! feature lists its routes with these; `app::routes` gathers them, the router
//! is built from them only (a route cannot exist without a declaration), and
//! `guard` enforces each declaration before the handler runs. Besides the state
//! type handlers share and the component ids, it depends on no feature.

use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{MethodFilter, MethodRouter, on};

use crate::app::AppState;
use crate::auth::Permission;
use crate::components::id::{CONSOLE, ComponentId};

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
    pub component: Option<ComponentId>,
    /// The component its requests are counted under, when it is not `component`.
    reports_as: Option<ComponentId>,
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

    pub fn component(mut self, id: ComponentId) -> Route {
        self.component = Some(id);
        self
    }

    /// Counts the route's requests under this component (request instrumentation).
    pub fn reports_as(mut self, id: ComponentId) -> Route {
        self.reports_as = Some(id);
        self
    }

    /// The component requests are attributed to: its own, or what it reports as,
    /// or the console shell; probes and static files are not counted.
    pub fn attributed_to(&self) -> Option<ComponentId> {
        match (self.component, self.reports_as, self.surface) {
            (Some(id), _, _) | (None, Some(id), _) => Some(id),
            (None, None, Surface::Raw) => None,
            (None, None, _) => Some(CONSOLE),
        }
    }

    /// The route's path and handler, for `guard::mount` (which wraps the
    /// handler in the guard that enforces this declaration).
    pub fn into_handler(self) -> (&'static str, MethodRouter<AppState>) {
        (self.path, self.handler)
    }
}
