//! `/api/notifications`: the signed-in user's own notifications (whoever the
//! session or token says; never a header), their read state, and their live
//! stream; `/api/workflows/{id}/subscription`: following a workflow's runs.

use std::convert::Infallible;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::sse::{Event, Sse};
use futures_util::stream::Stream;
use serde::{Deserialize, Serialize};

use super::{Cursor, ListFilter, Notification, NotificationType, ReadChange, Unread};
use crate::api::ApiQuery;
use crate::app::AppState;
use crate::auth::{Permission, Principal};
use crate::bus::{Feed, Scope};
use crate::components::id::NOTIFICATION_CENTER;
use crate::error::{AppError, AppResult};
use crate::routes::Route;

pub fn routes() -> Vec<Route> {
    vec![
        Route::api(Method::GET, "/api/notifications", list).allowed(Permission::Read),
        Route::api(Method::POST, "/api/notifications/read-all", read_all).allowed(Permission::Read),
        Route::api(Method::GET, "/api/notifications/stream", stream).allowed(Permission::Read),
        Route::api(Method::POST, "/api/notifications/{id}/read", mark_read)
            .allowed(Permission::Read),
        Route::api(Method::POST, "/api/notifications/{id}/unread", mark_unread)
            .allowed(Permission::Read),
        Route::api(
            Method::GET,
            "/api/notifications/preferences",
            super::preferences::show,
        )
        .allowed(Permission::Read),
        Route::api(
            Method::PUT,
            "/api/notifications/preferences",
            super::preferences::save,
        )
        .allowed(Permission::Read),
        Route::api(
            Method::GET,
            "/api/workflows/{id}/subscription",
            subscription,
        )
        .allowed(Permission::Read),
        Route::api(Method::PUT, "/api/workflows/{id}/subscription", follow)
            .allowed(Permission::Read),
        Route::api(Method::DELETE, "/api/workflows/{id}/subscription", unfollow)
            .allowed(Permission::Read),
        Route::page(Method::GET, "/notifications", super::page::show).allowed(Permission::Read),
        Route::page(
            Method::GET,
            "/notifications/settings",
            super::settings::show,
        )
        .allowed(Permission::Read),
        Route::page(
            Method::POST,
            "/notifications/settings",
            super::settings::save_form,
        )
        .allowed(Permission::Read),
        Route::page(
            Method::POST,
            "/workflows/{id}/follow",
            super::page::follow_form,
        )
        .allowed(Permission::Read),
        Route::page(
            Method::POST,
            "/notifications/read-all",
            super::page::read_all_form,
        )
        .allowed(Permission::Read),
        Route::page(
            Method::POST,
            "/notifications/{id}/read",
            super::page::toggle_form,
        )
        .allowed(Permission::Read),
        Route::page(
            Method::POST,
            "/notifications/{id}/open",
            super::page::open_form,
        )
        .allowed(Permission::Read),
    ]
    .into_iter()
    .map(|route| route.component(NOTIFICATION_CENTER))
    .collect()
}

/// How many notifications a page holds unless `limit` says otherwise.
pub const PAGE_SIZE: i64 = 50;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only unread ones (`true`), or all (`false`, the default).
    pub unread: Option<bool>,
    /// One type only.
    #[serde(rename = "type")]
    #[param(rename = "type", value_type = Option<NotificationType>)]
    pub kind: Option<String>,
    /// The `next` of the previous page.
    #[param(pattern = r"^[0-9]{1,19}\.[A-Za-z0-9-]{1,64}$")]
    pub before: Option<String>,
    /// 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
}

impl ListQuery {
    /// The filter it asks for, or a 422 naming the parameter.
    pub fn filter(&self) -> AppResult<ListFilter> {
        let kind = match self.kind.as_deref() {
            None => None,
            Some(text) => Some(text.parse::<NotificationType>().map_err(|_| {
                let known: Vec<&str> = NotificationType::ALL.iter().map(|k| k.as_str()).collect();
                AppError::validation(
                    "type",
                    format!("unknown type {text:?}; one of {}", known.join(", ")),
                )
            })?),
        };
        let before = match self.before.as_deref() {
            None => None,
            Some(text) => Some(text.parse::<Cursor>().map_err(|_| {
                AppError::validation("before", "not a cursor: pass the list's `next` as it came")
            })?),
        };
        let limit = self.limit.unwrap_or(PAGE_SIZE);
        if !(1..=100).contains(&limit) {
            return Err(AppError::validation("limit", "1 to 100"));
        }
        Ok(ListFilter {
            unread_only: self.unread.unwrap_or(false),
            kind,
            before,
            limit,
        })
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NotificationList {
    pub notifications: Vec<Notification>,
    /// All of the user's unread notifications (whatever the filter).
    pub unread: i64,
    /// The user's inbox version the count belongs to (see the stream's events).
    pub version: i64,
    /// Pass as `before` for the next page; null on the last page.
    pub next: Option<String>,
}

/// The user's notifications from every team they belong to, newest first.
#[utoipa::path(get, path = "/api/notifications", tag = "notifications", params(ListQuery),
    responses((status = 200, body = NotificationList), (status = 422, description = "unknown type, malformed cursor or limit")))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> AppResult<Json<NotificationList>> {
    let filter = query.filter()?;
    let ((notifications, next), count) = tokio::try_join!(
        super::list(&state.db, &principal.user_id, &filter),
        super::unread_count(&state.db, &principal.user_id),
    )?;
    Ok(Json(NotificationList {
        notifications,
        unread: count.unread,
        version: count.version,
        next: next.map(|cursor| cursor.to_string()),
    }))
}

/// Marks one of your notifications read or unread and tells your open tabs.
pub async fn set_read(
    state: &AppState,
    principal: &Principal,
    id: &str,
    read: bool,
) -> AppResult<ReadChange> {
    let (change, team_id) = super::mark(&state.db, &principal.user_id, id, read)
        .await?
        .ok_or(AppError::NotFound)?;
    if !change.ids.is_empty() {
        super::announce_read(&state.bus, &principal.user_id, &team_id, &change);
    }
    Ok(change)
}

/// Mark a notification read. Someone else's id is a 404 and changes nothing.
#[utoipa::path(post, path = "/api/notifications/{id}/read", tag = "notifications", params(crate::api::IdPath),
    responses((status = 200, body = ReadChange), (status = 404)))]
pub async fn mark_read(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<Json<ReadChange>> {
    Ok(Json(set_read(&state, &principal, &id, true).await?))
}

/// Mark a notification unread again.
#[utoipa::path(post, path = "/api/notifications/{id}/unread", tag = "notifications", params(crate::api::IdPath),
    responses((status = 200, body = ReadChange), (status = 404)))]
pub async fn mark_unread(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<Json<ReadChange>> {
    Ok(Json(set_read(&state, &principal, &id, false).await?))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReadAll {
    /// How many were unread and are now read.
    pub marked: u64,
    #[serde(flatten)]
    pub unread: Unread,
}

/// Marks all of your notifications read and tells your open tabs.
pub async fn read_all_of(state: &AppState, principal: &Principal) -> AppResult<ReadAll> {
    let (change, marked) = super::mark_all_read(&state.db, &principal.user_id).await?;
    if marked > 0 {
        super::announce_read(&state.bus, &principal.user_id, &principal.team_id, &change);
    }
    Ok(ReadAll {
        marked,
        unread: change.unread,
    })
}

/// Mark every notification read.
#[utoipa::path(post, path = "/api/notifications/read-all", tag = "notifications",
    responses((status = 200, body = ReadAll)))]
pub async fn read_all(
    State(state): State<AppState>,
    principal: Principal,
) -> AppResult<Json<ReadAll>> {
    Ok(Json(read_all_of(&state, &principal).await?))
}

/// Server-sent events of your notifications: `notification.created` (the
/// notification with `unread` and `version`), `notification.read` (`ids`,
/// `read`, `all`, `unread`, `version`). Resume with `Last-Event-ID`; `resync`
/// means fetch the list again.
#[utoipa::path(get, path = "/api/notifications/stream", tag = "notifications",
    responses((status = 200, description = "Server-sent events", content_type = "text/event-stream", body = String),
              (status = 429, description = "too many live streams open (per user or in total)")))]
pub async fn stream(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
) -> AppResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let permit = state.open_stream(&principal).await?;
    Ok(state.bus.sse_response(
        Scope::User(principal.user_id),
        Feed::Notifications,
        &headers,
        permit,
    ))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Subscription {
    /// Whether you hear of this workflow's runs (failures; successes too if
    /// you turned them on), whoever started them.
    pub subscribed: bool,
}

/// Follows or stops following a workflow of the principal's team.
pub async fn set_following(
    state: &AppState,
    principal: &Principal,
    id: &str,
    follow: bool,
) -> AppResult<()> {
    workflow_of_team(state, principal, id).await?;
    if follow {
        super::subscribe(&state.db, id, &principal.user_id).await?;
    } else {
        super::unsubscribe(&state.db, id, &principal.user_id).await?;
    }
    Ok(())
}

async fn workflow_of_team(state: &AppState, principal: &Principal, id: &str) -> AppResult<()> {
    crate::workflows::get(&state.db, &principal.team_id, id)
        .await?
        .map(|_| ())
        .ok_or(AppError::NotFound)
}

/// Whether you follow the workflow.
#[utoipa::path(get, path = "/api/workflows/{id}/subscription", tag = "notifications", params(crate::api::IdPath),
    responses((status = 200, body = Subscription), (status = 404)))]
pub async fn subscription(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<Json<Subscription>> {
    workflow_of_team(&state, &principal, &id).await?;
    let subscribed = super::subscribed(&state.db, &id, &principal.user_id).await?;
    Ok(Json(Subscription { subscribed }))
}

/// Follow the workflow: its failed runs notify you whoever started them.
#[utoipa::path(put, path = "/api/workflows/{id}/subscription", tag = "notifications", params(crate::api::IdPath),
    responses((status = 200, body = Subscription), (status = 404)))]
pub async fn follow(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<Json<Subscription>> {
    set_following(&state, &principal, &id, true).await?;
    Ok(Json(Subscription { subscribed: true }))
}

/// Stop following the workflow.
#[utoipa::path(delete, path = "/api/workflows/{id}/subscription", tag = "notifications", params(crate::api::IdPath),
    responses((status = 204), (status = 404)))]
pub async fn unfollow(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    set_following(&state, &principal, &id, false).await?;
    Ok(StatusCode::NO_CONTENT)
}
