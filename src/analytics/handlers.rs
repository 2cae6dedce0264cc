//! The analytics API: the period summary, the seed's token summary, and the
//! token usage CSV export.

use axum::Json;
use axum::extract::State;
use axum::http::Method;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::rollups::Bucket;
use super::tokens_page::TokensQuery;
use super::{Grouping, Period, TokenFilter, TokenRow, Totals, dollars};
use crate::api::ApiQuery;
use crate::app::AppState;
use crate::auth::{Permission, Principal};
use crate::error::{AppError, AppResult};
use crate::routes::Route;
use crate::web::format::csv_attachment;

pub const DASHBOARD: crate::components::ComponentId = crate::components::id::ANALYTICS_DASHBOARD;
pub const TOKENS: crate::components::ComponentId = crate::components::id::TOKEN_USAGE;

pub fn routes() -> Vec<Route> {
    vec![
        Route::page(Method::GET, "/analytics", super::page::show)
            .allowed(Permission::Read)
            .component(DASHBOARD),
        Route::page(Method::GET, "/analytics/tokens", super::tokens_page::show)
            .allowed(Permission::Read)
            .component(TOKENS),
        Route::page(
            Method::POST,
            "/analytics/tokens/prices",
            super::tokens_page::set_price,
        )
        .allowed(Permission::ManageKeys)
        .component(TOKENS),
        Route::api(Method::GET, "/api/analytics/summary", summary)
            .allowed(Permission::Read)
            .component(DASHBOARD),
        Route::api(Method::GET, "/api/telemetry/tokens/summary", tokens_summary)
            .allowed(Permission::Read)
            .component(TOKENS),
        Route::raw(Method::GET, "/api/analytics/tokens.csv", tokens_csv)
            .allowed(Permission::Read)
            .component(TOKENS),
    ]
}

const MAX_DAYS: i64 = 365;

/// `days` from the query: 1 to 365, default `default`.
pub fn parse_days(days: Option<i64>, default: i64) -> Result<i64, AppError> {
    let days = days.unwrap_or(default);
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(AppError::validation("days", "must be between 1 and 365"));
    }
    Ok(days)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DaysQuery {
    /// The period: the last N days (1 to 365, default 30).
    #[param(minimum = 1, maximum = 365)]
    pub days: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Summary {
    pub days: i64,
    pub period: Period,
    /// The period's figures (also at the top level, as the interface contract names them).
    #[serde(flatten)]
    pub current: Totals,
    /// The same figures for the period just before, for comparison.
    pub previous: Totals,
}

/// Executions, success rate, tokens and cost over the last N days, with the
/// period before.
#[utoipa::path(get, path = "/api/analytics/summary", tag = "analytics", params(DaysQuery),
    responses((status = 200, body = Summary), (status = 422)))]
pub async fn summary(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<DaysQuery>,
) -> AppResult<Json<Summary>> {
    let days = parse_days(query.days, 30)?;
    let period = Period::last_days(days);
    Ok(Json(Summary {
        days,
        period,
        current: super::totals(&state.db, &principal.team_id, period, Bucket::Day).await?,
        previous: super::totals(
            &state.db,
            &principal.team_id,
            period.previous(),
            Bucket::Day,
        )
        .await?,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenSummary {
    pub period: Period,
    /// Per agent: calls (`executions`, as the seed names them) and tokens.
    pub agents: Vec<AgentTokens>,
    pub models: Vec<TokenRow>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AgentTokens {
    pub agent_id: Option<String>,
    pub agent_name: Option<String>,
    /// Provider calls made by the agent.
    pub executions: i64,
    pub total_tokens: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cached_tokens: i64,
    pub cost_micros: i64,
}

/// The seed's token summary: per agent and per model over the last 30 days.
#[utoipa::path(get, path = "/api/telemetry/tokens/summary", tag = "analytics",
    responses((status = 200, body = TokenSummary)))]
pub async fn tokens_summary(
    State(state): State<AppState>,
    principal: Principal,
) -> AppResult<Json<TokenSummary>> {
    let period = Period::last_days(30);
    let filter = TokenFilter::default();
    let agents = super::token_rows(
        &state.db,
        &principal.team_id,
        period,
        Grouping::Agent,
        &filter,
    )
    .await?
    .into_iter()
    .map(|row| AgentTokens {
        agent_id: row.agent_id,
        agent_name: row.agent_name,
        executions: row.calls,
        total_tokens: row.total_tokens,
        input_tokens: row.input_tokens,
        output_tokens: row.output_tokens,
        cached_tokens: row.cached_tokens,
        cost_micros: row.cost_micros,
    })
    .collect();
    let models = super::token_rows(
        &state.db,
        &principal.team_id,
        period,
        Grouping::Model,
        &filter,
    )
    .await?;
    Ok(Json(TokenSummary {
        period,
        agents,
        models,
    }))
}

const CSV_HEADER: [&str; 10] = [
    "workflow",
    "agent",
    "model",
    "calls",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "total_tokens",
    "cost_usd",
    "period",
];

/// Token usage by workflow, agent and model as CSV (RFC 4180), with the page's
/// filters.
#[utoipa::path(get, path = "/api/analytics/tokens.csv", tag = "analytics", params(TokensQuery),
    responses((status = 200, description = "CSV with a header row", content_type = "text/csv", body = String), (status = 422)))]
pub async fn tokens_csv(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<TokensQuery>,
) -> AppResult<Response> {
    let days = parse_days(query.days, 30)?;
    let period = Period::last_days(days);
    let filter = query.filter()?;
    let rows = super::token_rows(
        &state.db,
        &principal.team_id,
        period,
        Grouping::WorkflowAgentModel,
        &filter,
    )
    .await?;
    let label = format!("last {days} days");
    let records = rows.into_iter().map(|row| {
        vec![
            row.workflow_name.or(row.workflow_id).unwrap_or_default(),
            row.agent_name.or(row.agent_id).unwrap_or_default(),
            row.model.unwrap_or_default(),
            row.calls.to_string(),
            row.input_tokens.to_string(),
            row.output_tokens.to_string(),
            row.cached_tokens.to_string(),
            row.total_tokens.to_string(),
            dollars(row.cost_micros),
            label.clone(),
        ]
    });
    Ok(csv_attachment(
        &format!("hummbl-tokens-{days}d.csv"),
        &CSV_HEADER,
        records,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_between_1_and_365() {
        assert!(parse_days(Some(0), 30).is_err());
        assert!(parse_days(Some(366), 30).is_err());
        assert_eq!(parse_days(None, 30).ok(), Some(30));
    }
}
