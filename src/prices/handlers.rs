//! `/api/prices`: the built-in model prices and the team's overrides; admins add
//! an override that applies from a date on (earlier executions keep their cost).

use axum::Json;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::{ListedPrice, Price};
use crate::api::ApiJson;
use crate::app::AppState;
use crate::auth::{Permission, Principal};
use crate::error::{AppError, AppResult};
use crate::routes::Route;
use crate::storage::{new_id, now_ms};

pub fn routes() -> Vec<Route> {
    vec![
        Route::api(Method::GET, "/api/prices", list_prices).allowed(Permission::Read),
        Route::api(Method::POST, "/api/prices", set_price).allowed(Permission::ManageKeys),
    ]
    .into_iter()
    .map(|route| route.component("token-usage"))
    .collect()
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PriceList {
    pub defaults: Vec<ListedPrice>,
    /// The team's overrides, newest first.
    pub overrides: Vec<ListedPrice>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceRequest {
    #[schema(value_type = crate::providers::ProviderKind)]
    pub provider: String,
    #[schema(value_type = crate::api::shapes::PriceModel)]
    pub model: String,
    /// Micro-dollars per million input tokens ($2.50 → 2500000), 0 to 1000000000.
    #[serde(deserialize_with = "crate::api::integer::required")]
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub input_micros_per_mtok: i64,
    #[serde(deserialize_with = "crate::api::integer::required")]
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub output_micros_per_mtok: i64,
    #[serde(deserialize_with = "crate::api::integer::required")]
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub cached_micros_per_mtok: i64,
    /// From when the price applies (ms since the epoch); default now.
    #[serde(default, deserialize_with = "crate::api::integer::optional")]
    #[schema(minimum = 0)]
    pub effective_from: Option<i64>,
    #[schema(value_type = Option<crate::api::shapes::PriceNote>)]
    pub note: Option<String>,
}

const MAX_MICROS_PER_MTOK: i64 = 1_000_000_000; // $1,000 per million tokens

/// Built-in prices (with their source) and the team's overrides.
#[utoipa::path(get, path = "/api/prices", tag = "prices", responses((status = 200, body = PriceList)))]
pub async fn list_prices(
    State(state): State<AppState>,
    principal: Principal,
) -> AppResult<Json<PriceList>> {
    let overrides = overrides(&state.db, &principal.team_id).await?;
    Ok(Json(PriceList {
        defaults: super::defaults(),
        overrides,
    }))
}

/// The team's price overrides, newest first.
pub async fn overrides(
    db: &crate::storage::Db,
    team_id: &str,
) -> Result<Vec<ListedPrice>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT provider, model, input_micros_per_mtok, output_micros_per_mtok, cached_micros_per_mtok, \
         effective_from, note FROM model_prices WHERE team_id = $1 ORDER BY effective_from DESC",
    )
    .bind(team_id)
    .fetch_all(db.read())
    .await?;
    rows.iter()
        .map(|row| {
            Ok(ListedPrice {
                provider: row.try_get("provider")?,
                model: row.try_get("model")?,
                price: Price {
                    input_micros_per_mtok: row.try_get("input_micros_per_mtok")?,
                    output_micros_per_mtok: row.try_get("output_micros_per_mtok")?,
                    cached_micros_per_mtok: row.try_get("cached_micros_per_mtok")?,
                },
                effective_from: row.try_get("effective_from")?,
                source: row
                    .try_get::<Option<String>, _>("note")?
                    .unwrap_or_else(|| "set by an admin".into()),
            })
        })
        .collect()
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
        Json(save_override(&state, &principal, request).await?),
    ))
}

/// Validates and stores a team's price override; audited.
pub async fn save_override(
    state: &AppState,
    principal: &Principal,
    request: PriceRequest,
) -> AppResult<ListedPrice> {
    let provider: crate::providers::ProviderKind = request.provider.parse().map_err(|()| {
        AppError::validation("provider", "must be one of: openai, anthropic, simulated")
    })?;
    let model = request.model.trim();
    if model.is_empty() || model.chars().count() > 200 {
        return Err(AppError::validation("model", "must be 1 to 200 characters"));
    }
    for (field, value) in [
        ("input_micros_per_mtok", request.input_micros_per_mtok),
        ("output_micros_per_mtok", request.output_micros_per_mtok),
        ("cached_micros_per_mtok", request.cached_micros_per_mtok),
    ] {
        if !(0..=MAX_MICROS_PER_MTOK).contains(&value) {
            return Err(AppError::validation(
                field,
                "must be between 0 and 1000000000",
            ));
        }
    }
    let effective_from = request.effective_from.unwrap_or_else(now_ms);
    if effective_from < 0 {
        return Err(AppError::validation(
            "effective_from",
            "must be milliseconds since the epoch",
        ));
    }
    let note = request
        .note
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());
    if note.as_ref().is_some_and(|n| n.chars().count() > 500) {
        return Err(AppError::validation(
            "note",
            "must be at most 500 characters",
        ));
    }
    let price = Price {
        input_micros_per_mtok: request.input_micros_per_mtok,
        output_micros_per_mtok: request.output_micros_per_mtok,
        cached_micros_per_mtok: request.cached_micros_per_mtok,
    };
    let id = new_id();
    sqlx::query(
        "INSERT INTO model_prices (id, team_id, provider, model, input_micros_per_mtok, output_micros_per_mtok, \
         cached_micros_per_mtok, effective_from, note, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&id)
    .bind(&principal.team_id)
    .bind(provider.as_str())
    .bind(model)
    .bind(price.input_micros_per_mtok)
    .bind(price.output_micros_per_mtok)
    .bind(price.cached_micros_per_mtok)
    .bind(effective_from)
    .bind(&note)
    .bind(&principal.user_id)
    .bind(now_ms())
    .execute(state.db.write())
    .await?;
    crate::audit::by_principal(
        &state.db,
        principal,
        "price.set",
        ("model_price", &id),
        Some(serde_json::json!({"provider": provider.as_str(), "model": model, "effective_from": effective_from})),
    )
    .await?;
    Ok(ListedPrice {
        provider: provider.as_str().into(),
        model: model.into(),
        price,
        effective_from: Some(effective_from),
        source: note.unwrap_or_else(|| "set by an admin".into()),
    })
}
