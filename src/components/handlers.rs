//! Component registry API and the settings page with its toggles.

use axum::extract::{Path, State};
use axum::http::Method;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use maud::{Markup, html};
use serde::{Deserialize, Serialize};

use super::Component;
use crate::api::ApiJson;
use crate::app::AppState;
use crate::auth::{Permission, Principal};
use crate::error::{AppError, AppResult};
use crate::routes::Route;
use crate::web::{Shell, page};

pub fn routes() -> Vec<Route> {
    vec![
        Route::page(Method::GET, "/settings/components", settings_page).allowed(Permission::Read),
        Route::page(Method::POST, "/settings/components/{id}", toggle_form)
            .allowed(Permission::ManageComponents),
        Route::api(Method::GET, "/api/components", list_components).allowed(Permission::Read),
        Route::api(Method::PATCH, "/api/components/{id}", patch_component)
            .allowed(Permission::ManageComponents),
    ]
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ComponentList {
    pub components: Vec<Component>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ComponentPatch {
    pub enabled: bool,
}

/// Every registered BaseN component, with its state for your team.
#[utoipa::path(get, path = "/api/components", tag = "components", responses((status = 200, body = ComponentList)))]
pub async fn list_components(
    State(state): State<AppState>,
    principal: Principal,
) -> AppResult<Json<ComponentList>> {
    Ok(Json(ComponentList {
        components: super::list(&state.db, &principal.team_id).await?,
    }))
}

async fn set(
    state: &AppState,
    principal: &Principal,
    id: &str,
    enabled: bool,
) -> AppResult<Component> {
    match super::set_enabled(
        &state.db,
        &principal.team_id,
        id,
        enabled,
        &principal.user_id,
    )
    .await?
    {
        super::Toggle::Done => {}
        super::Toggle::NoSuchComponent => return Err(AppError::NotFound),
        super::Toggle::AlwaysOn => {
            return Err(AppError::validation(
                "enabled",
                "system components cannot be switched off",
            ));
        }
    }
    super::list(&state.db, &principal.team_id)
        .await?
        .into_iter()
        .find(|component| component.id == id)
        .ok_or(AppError::NotFound)
}

/// Switch a component on or off for your team (admin and owner).
#[utoipa::path(patch, path = "/api/components/{id}", tag = "components", request_body = ComponentPatch,
    params(("id" = String, Path, description = "component id, e.g. analytics-dashboard")),
    responses((status = 200, body = Component), (status = 403), (status = 404), (status = 422)))]
pub async fn patch_component(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<ComponentPatch>,
) -> AppResult<Json<Component>> {
    Ok(Json(set(&state, &principal, &id, patch.enabled).await?))
}

#[derive(Deserialize)]
struct ToggleForm {
    enabled: String,
}

async fn toggle_form(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Form(form): Form<ToggleForm>,
) -> Response {
    let enabled = match form.enabled.as_str() {
        "true" => true,
        "false" => false,
        _ => return AppError::validation("enabled", "must be true or false").into_response(),
    };
    match set(&state, &principal, &id, enabled).await {
        Ok(_) => Redirect::to("/settings/components").into_response(),
        Err(err) => err.into_response(),
    }
}

async fn settings_page(State(state): State<AppState>, principal: Principal) -> AppResult<Markup> {
    let shell = Shell::new("Components", "/settings/components");
    let (components, shell) = tokio::try_join!(
        async { Ok(super::list(&state.db, &principal.team_id).await?) },
        page(&state, &principal, shell),
    )?;
    let may_toggle = principal.can(Permission::ManageComponents);
    Ok(shell.render(render(&components, may_toggle)))
}

/// The settings page's body: every component with its state, and the switches
/// for admins (system components are always on).
fn render(components: &[super::Component], may_toggle: bool) -> Markup {
    html! {
        header.page-header {
            h1 { "Components" }
            p.lede {
                "Each page of the console is a BaseN component. Switching one off hides it from "
                "the navigation and answers 404 on its page and API, for this team only."
            }
            @if !may_toggle {
                p.hint { "Admins and owners can switch components on and off." }
            }
        }
        table.data {
            caption.visually-hidden { "Registered components" }
            thead {
                tr {
                    th scope="col" { "Component" }
                    th scope="col" { "Route" }
                    th scope="col" { "Domain" }
                    th scope="col" { "Transformations" }
                    th scope="col" { "Version" }
                    th scope="col" { "State" }
                }
            }
            tbody {
                @for component in components {
                    tr {
                        td { strong { (component.name) } br; code.muted { (component.id) } }
                        td { code { (component.route) } }
                        td { (component.domain) }
                        td { @for t in &component.transformations { span.badge { (t) } " " } }
                        td { (component.version) }
                        td {
                            @if may_toggle && component.kind != super::Kind::System {
                                form method="post" action={"/settings/components/" (component.id)} {
                                    input type="hidden" name="enabled" value=(if component.enabled { "false" } else { "true" });
                                    button.toggle type="submit" role="switch" aria-checked=(component.enabled)
                                        aria-label={"Enable " (component.name)} {
                                        span.toggle-track aria-hidden="true" { span.toggle-thumb {} }
                                        span.toggle-text { (if component.enabled { "On" } else { "Off" }) }
                                    }
                                }
                            } @else {
                                span class=(if component.enabled { "state state-on" } else { "state state-off" }) {
                                    (if component.enabled { "On" } else { "Off" })
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::components::{Component, Kind};

    fn component(id: &str, kind: Kind, enabled: bool) -> Component {
        Component {
            id: id.into(),
            name: format!("{id} <page>"),
            domain: "analytics".into(),
            route: format!("/{id}"),
            transformations: vec!["T4".into()],
            version: "0.1.0".into(),
            enabled,
            kind,
            updated_at: 0,
        }
    }

    #[test]
    fn admins_get_switches_except_for_system_components() {
        let components = [
            component("token-usage", Kind::Page, false),
            component("console", Kind::System, true),
        ];
        let html = render(&components, true).into_string();
        assert!(html.contains(r#"action="/settings/components/token-usage""#));
        assert!(!html.contains(r#"action="/settings/components/console""#));
        assert!(
            html.contains("token-usage &lt;page&gt;"),
            "names are escaped"
        );
        let viewer = render(&components, false).into_string();
        assert!(!viewer.contains("<form"));
        assert!(viewer.contains("Admins and owners can switch components on and off."));
    }
}
