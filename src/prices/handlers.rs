//! `/api/prices`: the built-in model prices and the team's overrides; admins add
//! an override that applies from a date on (earlier executions keep their cost).

use axum::Json;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use serde::Serialize;

use super::{ListedPrice, PriceRequest};
use crate::api::ApiJson;
use crate::app::AppState;
use crate::auth::{Permission, Principal};
use crate::error::AppResult;
use crate::routes::Route;

pub fn routes() -> Vec<Route> {
    vec![
        Route::api(Method::GET, "/api/prices", list_prices).allowed(Permission::Read),
        Route::api(Method::POST, "/api/prices", set_price).allowed(Permission::ManageKeys),
    ]
    .into_iter()
    .map(|route| route.component(crate::components::id::TOKEN_USAGE))
    .collect()
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PriceList {
    pub defaults: Vec<ListedPrice>,
    /// The team's overrides, newest first.
    pub overrides: Vec<ListedPrice>,
}

/// Built-in prices (with their source) and the team's overrides.
#[utoipa::path(get, path = "/api/prices", tag = "prices", responses((status = 200, body = PriceList)))]
pub async fn list_prices(
    State(state): State<AppState>,
    principal: Principal,
) -> AppResult<Json<PriceList>> {
    let overrides = super::overrides(&state.db, &principal.team_id).await?;
    Ok(Json(PriceList {
        defaults: super::defaults(),
        overrides,
    }))
}

/// Override a model's price from a date on (admin and owner).
#[utoipa::path(post, path = "/api/prices", tag = "prices", request_body = PriceRequest,
    responses((status = 201, body = ListedPrice), (status = 422)))]
pub async fn set_price(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(request): ApiJson<PriceRequest>,
) -> AppResult<(StatusCode, Json<ListedPrice>)> {
    Ok((
        StatusCode::CREATED,
        Json(super::save_override(&state.db, (&principal).into(), request).await?),
    ))
}
