//! The step editor: `/workflows/new` and `/workflows/{id}/edit`. The form is a
//! draft (`draft`); its buttons add, remove and reorder steps on the server,
//! and Save goes through the API's own checks, whose refusal comes back beside
//! the field it names (`steps[1].depends_on`). `assets/editor.js` only inserts
//! the offered references into a prompt.

mod draft;
mod render;

use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::Markup;

pub use draft::{Action, Draft, DraftStep, Reference};
pub use render::{EditorView, render_editor};

use crate::agents::Agent;
use crate::app::AppState;
use crate::auth::Principal;
use crate::components::id::WORKFLOWS as COMPONENT;
use crate::error::{AppError, AppResult};
use crate::web::{Shell, page};

/// The editor for a new workflow.
pub async fn new(State(state): State<AppState>, principal: Principal) -> AppResult<Markup> {
    let agents = crate::agents::list(&state.db, &principal.team_id).await?;
    let draft = Draft::new_workflow(agents.first().map(|agent| agent.id.as_str()));
    show(&state, &principal, None, draft, agents, None).await
}

/// The editor for a workflow's next version.
pub async fn edit(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<Markup> {
    let team = principal.team_id.as_str();
    let (workflow, agents) = tokio::try_join!(
        super::get(&state.db, team, &id),
        crate::agents::list(&state.db, team)
    )?;
    let workflow = workflow.ok_or(AppError::NotFound)?;
    let draft = Draft::of(&workflow);
    show(&state, &principal, Some(&workflow), draft, agents, None).await
}

pub async fn create_form(
    State(state): State<AppState>,
    principal: Principal,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    submit(&state, &principal, None, pairs).await
}

pub async fn update_form(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    submit(&state, &principal, Some(&id), pairs).await
}

/// A press of one of the editor's buttons: a changed draft drawn again, or a
/// save that opens the workflow (a refusal drawn beside its field, 422).
async fn submit(
    state: &AppState,
    principal: &Principal,
    id: Option<&str>,
    pairs: Vec<(String, String)>,
) -> Response {
    match answer(state, principal, id, pairs).await {
        Ok(response) => response,
        Err(err) => err.into_response(),
    }
}

async fn answer(
    state: &AppState,
    principal: &Principal,
    id: Option<&str>,
    pairs: Vec<(String, String)>,
) -> AppResult<Response> {
    let team = principal.team_id.as_str();
    let workflow = match id {
        Some(id) => Some(
            super::get(&state.db, team, id)
                .await?
                .ok_or(AppError::NotFound)?,
        ),
        None => None,
    };
    let agents = crate::agents::list(&state.db, team).await?;
    let (mut draft, action) = Draft::from_form(pairs)?;
    if action != Action::Save {
        draft.apply(action);
        let markup = show(state, principal, workflow.as_ref(), draft, agents, None).await?;
        return Ok(markup.into_response());
    }
    match save(state, principal, id, &draft).await {
        Ok(saved) => Ok(Redirect::to(&format!("/workflows/{saved}")).into_response()),
        Err(err @ AppError::Validation { .. }) => {
            let status = err.status();
            let markup = show(
                state,
                principal,
                workflow.as_ref(),
                draft,
                agents,
                Some(err),
            )
            .await?;
            Ok((status, markup).into_response())
        }
        Err(err) => Err(err),
    }
}

/// Saves the draft through the API's checks; answers the workflow's id.
async fn save(
    state: &AppState,
    principal: &Principal,
    id: Option<&str>,
    draft: &Draft,
) -> AppResult<String> {
    let fields = super::handlers::validate(state, principal, draft.request()?).await?;
    let saved = match id {
        None => super::create(&state.db, principal.into(), &fields).await?,
        Some(id) => super::update(&state.db, principal.into(), id, &fields)
            .await?
            .ok_or(AppError::NotFound)?,
    };
    Ok(saved.id)
}

async fn show(
    state: &AppState,
    principal: &Principal,
    workflow: Option<&super::Workflow>,
    draft: Draft,
    agents: Vec<Agent>,
    refused: Option<AppError>,
) -> AppResult<Markup> {
    let title = match workflow {
        Some(workflow) => format!("Edit {}", workflow.name),
        None => "New workflow".to_string(),
    };
    let shell = Shell::new(&title, "/workflows").component(COMPONENT);
    let shell = page(state, principal, shell).await?;
    let view = EditorView {
        title,
        workflow: workflow.map(|w| (w.id.clone(), w.version)),
        draft,
        agents,
        refused,
    };
    Ok(shell.render(render_editor(&view)))
}
