//! Ingestion keys over the API and on the settings page (admins manage them,
//! everyone in the team can see which exist).

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use maud::{Markup, html};
use serde::{Deserialize, Serialize};

use super::keys::{self, KeyInfo};
use crate::api::ApiJson;
use crate::app::AppState;
use crate::auth::{Permission, Principal};
use crate::error::{AppError, AppResult};
use crate::routes::Route;
use crate::web::{Shell, notice, page};

pub fn routes() -> Vec<Route> {
    vec![
        Route::page(Method::GET, "/settings/ingestion-keys", keys_page).allowed(Permission::Read),
        Route::page(Method::POST, "/settings/ingestion-keys", create_form)
            .allowed(Permission::ManageKeys),
        Route::page(
            Method::POST,
            "/settings/ingestion-keys/{id}/revoke",
            revoke_form,
        )
        .allowed(Permission::ManageKeys),
        Route::api(Method::GET, "/api/ingestion-keys", list_keys).allowed(Permission::Read),
        Route::api(Method::POST, "/api/ingestion-keys", create_key).allowed(Permission::ManageKeys),
        Route::api(Method::DELETE, "/api/ingestion-keys/{id}", revoke_key)
            .allowed(Permission::ManageKeys),
    ]
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct NewKey {
    /// What the key is for.
    #[schema(value_type = crate::api::shapes::Name)]
    pub name: String,
    /// Browser origins allowed to use the key, e.g. `https://app.example.com`
    /// (at most 20). Empty: server-side use only.
    #[serde(default)]
    #[schema(value_type = Vec<crate::api::shapes::Origin>, max_items = 20)]
    pub allowed_origins: Vec<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedKeyResponse {
    #[serde(flatten)]
    pub info: KeyInfo,
    /// The key. Shown this once; store it now.
    pub key: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = IngestionKeyList)]
pub struct KeyList {
    pub keys: Vec<KeyInfo>,
}

const MAX_ORIGINS: usize = 20;

async fn issue(
    state: &AppState,
    principal: &Principal,
    request: NewKey,
) -> AppResult<keys::CreatedKey> {
    let name = crate::accounts::parse_name("name", &request.name)?;
    if request.allowed_origins.len() > MAX_ORIGINS {
        return Err(AppError::validation(
            "allowed_origins",
            "at most 20 origins",
        ));
    }
    let origins = request
        .allowed_origins
        .iter()
        .enumerate()
        .map(|(i, origin)| keys::parse_origin(origin, &format!("allowed_origins[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(keys::create(&state.db, principal.into(), &name, origins).await?)
}

async fn revoke(state: &AppState, principal: &Principal, id: &str) -> AppResult<()> {
    if !keys::revoke(&state.db, &state.key_cache, principal.into(), id).await? {
        return Err(AppError::NotFound);
    }
    Ok(())
}

/// The team's live ingestion keys (never the keys themselves).
#[utoipa::path(get, path = "/api/ingestion-keys", tag = "telemetry", responses((status = 200, body = KeyList)))]
pub async fn list_keys(
    State(state): State<AppState>,
    principal: Principal,
) -> AppResult<Json<KeyList>> {
    Ok(Json(KeyList {
        keys: keys::list(&state.db, &principal.team_id).await?,
    }))
}

/// Create an ingestion key for other apps (admin and owner).
#[utoipa::path(post, path = "/api/ingestion-keys", tag = "telemetry", request_body = NewKey,
    responses((status = 201, body = CreatedKeyResponse), (status = 403), (status = 422)))]
pub async fn create_key(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(request): ApiJson<NewKey>,
) -> AppResult<(StatusCode, Json<CreatedKeyResponse>)> {
    let created = issue(&state, &principal, request).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKeyResponse {
            info: created.info,
            key: created.secret,
        }),
    ))
}

/// Revoke an ingestion key; requests with it are refused from then on.
#[utoipa::path(delete, path = "/api/ingestion-keys/{id}", tag = "telemetry",
    params(("id" = String, Path, description = "key id")), responses((status = 204), (status = 403), (status = 404)))]
pub async fn revoke_key(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    revoke(&state, &principal, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Loads the page (the team's keys and the shell at once) and renders it, with
/// `flash` (a new key, or a refusal) above the list.
async fn render(
    state: &AppState,
    principal: &Principal,
    flash: Option<Markup>,
) -> AppResult<Markup> {
    let shell = Shell::new("Ingestion keys", "/settings/ingestion-keys");
    let (keys, shell) = tokio::try_join!(
        async { Ok(keys::list(&state.db, &principal.team_id).await?) },
        page(state, principal, shell),
    )?;
    let may_manage = principal.can(Permission::ManageKeys);
    Ok(shell.render(render_keys(&keys, may_manage, flash)))
}

/// The page's body (no queries).
fn render_keys(keys: &[KeyInfo], may_manage: bool, flash: Option<Markup>) -> Markup {
    html! {
        header.page-header {
            h1 { "Ingestion keys" }
            p.lede {
                "Write-only keys other apps use to send telemetry to this team with the SDK at "
                code { "/sdk/telemetry.js" } " or " code { "POST /api/telemetry/track" } ". "
                "They can only send; provider keys for model calls are on "
                a href="/settings/api-keys" { "API keys" } "."
            }
        }
        @if let Some(flash) = flash { (flash) }
        @if may_manage {
            section.panel aria-labelledby="new-key-title" {
                h2 #new-key-title { "New key" }
                form method="post" action="/settings/ingestion-keys" {
                    div.field {
                        label for="key-name" { "Name" }
                        input #key-name name="name" maxlength="100" required placeholder="Storefront web app";
                    }
                    div.field {
                        label for="key-origins" { "Allowed browser origins, one per line (empty: server-side only)" }
                        textarea #key-origins name="allowed_origins" rows="3" placeholder="https://app.example.com" {}
                    }
                    button.button.button-primary type="submit" { "Create key" }
                }
            }
        } @else {
            p.hint { "Admins and owners create and revoke keys." }
        }
        @if keys.is_empty() {
            p.empty { "No ingestion keys yet." }
        } @else {
            table.data {
                caption.visually-hidden { "Ingestion keys" }
                thead { tr {
                    th scope="col" { "Name" } th scope="col" { "Starts with" } th scope="col" { "Allowed origins" }
                    th scope="col" { "Last used" }
                    @if may_manage { th scope="col" { span.visually-hidden { "Actions" } } }
                } }
                tbody {
                    @for key in keys {
                        tr {
                            td { (key.name) }
                            td { code { (key.prefix) "…" } }
                            td {
                                @if key.allowed_origins.is_empty() { span.muted { "server-side only" } }
                                @for origin in &key.allowed_origins { code { (origin) } " " }
                            }
                            td { (crate::web::layout::when(key.last_used_at)) }
                            @if may_manage {
                                td {
                                    form method="post" action={"/settings/ingestion-keys/" (key.id) "/revoke"} {
                                        button.button.button-small.button-danger type="submit" aria-label={"Revoke key " (key.name)} { "Revoke" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

async fn keys_page(State(state): State<AppState>, principal: Principal) -> AppResult<Markup> {
    render(&state, &principal, None).await
}

#[derive(Deserialize)]
struct NewKeyForm {
    name: String,
    #[serde(default)]
    allowed_origins: String,
}

async fn create_form(
    State(state): State<AppState>,
    principal: Principal,
    Form(form): Form<NewKeyForm>,
) -> Response {
    let request = NewKey {
        name: form.name,
        allowed_origins: form
            .allowed_origins
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(str::to_string)
            .collect(),
    };
    let (status, flash) = match issue(&state, &principal, request).await {
        Ok(created) => (
            StatusCode::CREATED,
            html! {
                div.notice.notice-success role="status" {
                    p { "Your new ingestion key. Copy it now: it will not be shown again." }
                    p { code.secret { (created.secret) } }
                }
            },
        ),
        Err(err @ AppError::Validation { .. }) => (err.status(), notice("error", &err.to_string())),
        Err(err) => return err.into_response(),
    };
    match render(&state, &principal, Some(flash)).await {
        Ok(markup) => (status, markup).into_response(),
        Err(err) => err.into_response(),
    }
}

async fn revoke_form(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Response {
    match revoke(&state, &principal, &id).await {
        Ok(()) => Redirect::to("/settings/ingestion-keys").into_response(),
        Err(err) => err.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admins_can_create_and_revoke_and_viewers_only_read() {
        let keys = [KeyInfo {
            id: "k-1".into(),
            name: "Storefront <web>".into(),
            prefix: "hmb_ik_ab12".into(),
            allowed_origins: vec!["https://shop.example.com".into()],
            created_at: 0,
            last_used_at: None,
        }];
        let admin = render_keys(&keys, true, None).into_string();
        assert!(admin.contains(r#"action="/settings/ingestion-keys/k-1/revoke""#));
        assert!(admin.contains("Create key"));
        assert!(admin.contains("Storefront &lt;web&gt;"));
        assert!(admin.contains("https://shop.example.com"));
        let viewer = render_keys(&keys, false, None).into_string();
        assert!(!viewer.contains("/revoke"));
        assert!(viewer.contains("Admins and owners create and revoke keys."));
        assert!(
            render_keys(&[], true, None)
                .into_string()
                .contains("No ingestion keys yet.")
        );
    }
}
