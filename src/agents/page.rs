//! `/agents`: the team's agents with the key they call with, how many workflows
//! use each and their last 30 days of calls and cost; members and up create,
//! edit and archive them through the same rules as the API (errors shown next
//! to the field they name).

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::handlers::{AgentRequest, COMPONENT, validate};
use super::{Agent, Parameters};
use crate::analytics::{Grouping, Period, TokenFilter, TokenRow};
use crate::app::AppState;
use crate::auth::{Permission, Principal};
use crate::error::{AppError, AppResult};
use crate::provider_keys::KeyInfo;
use crate::web::format::{compact, usd_cents};
use crate::web::{Shell, page};

use super::form::agent_form;
#[cfg(test)]
use super::form::model_choices;

/// The window of the usage columns.
const USAGE_DAYS: i64 = 30;

/// What the agents page shows.
pub struct AgentsView {
    pub agents: Vec<Agent>,
    pub keys: Vec<KeyInfo>,
    /// Workflows whose current version has a step on the agent, by agent id.
    pub used_by: HashMap<String, usize>,
    /// The last 30 days' calls and cost, by agent id.
    pub usage: HashMap<String, TokenRow>,
    pub may_edit: bool,
    /// The agent being edited (its form is filled in), if any.
    pub editing: Option<String>,
    /// A refused form: the values sent and the error, to show them again.
    pub refused: Option<(AgentForm, AppError)>,
}

async fn load(state: &AppState, principal: &Principal) -> AppResult<AgentsView> {
    let team = principal.team_id.as_str();
    let every_agent = TokenFilter::default();
    let period = Period::last_days(USAGE_DAYS);
    let (agents, keys, workflows, usage) = tokio::try_join!(
        super::list(&state.db, team),
        crate::provider_keys::list(&state.db, team),
        crate::workflows::list(&state.db, team),
        crate::analytics::token_rows(&state.db, team, period, Grouping::Agent, &every_agent),
    )?;
    let mut used_by: HashMap<String, usize> = HashMap::new();
    for workflow in &workflows {
        let mut agents: Vec<&str> = workflow.steps.iter().map(|s| s.agent.as_str()).collect();
        agents.sort_unstable();
        agents.dedup();
        for agent in agents {
            *used_by.entry(agent.to_string()).or_default() += 1;
        }
    }
    let usage = usage
        .into_iter()
        .filter_map(|row| row.agent_id.clone().map(|id| (id, row)))
        .collect();
    Ok(AgentsView {
        agents,
        keys,
        used_by,
        usage,
        may_edit: principal.can(Permission::EditWorkflows),
        editing: None,
        refused: None,
    })
}

async fn render_page(
    state: &AppState,
    principal: &Principal,
    adjust: impl FnOnce(&mut AgentsView),
) -> AppResult<Markup> {
    let shell = Shell::new("Agents", "/agents").component(COMPONENT);
    let (mut view, shell) =
        tokio::try_join!(load(state, principal), page(state, principal, shell))?;
    adjust(&mut view);
    Ok(shell.render(render(&view)))
}

pub async fn show(State(state): State<AppState>, principal: Principal) -> AppResult<Markup> {
    render_page(&state, &principal, |_| {}).await
}

/// The list with one agent's form filled in for editing.
pub async fn edit(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<Markup> {
    if super::get(&state.db, &principal.team_id, &id)
        .await?
        .is_none()
    {
        return Err(AppError::NotFound);
    }
    render_page(&state, &principal, |view| view.editing = Some(id)).await
}

/// The agent form as a browser posts it: the key decides the provider.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AgentForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub key_id: String,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub instructions: String,
    #[serde(default)]
    pub temperature: String,
    #[serde(default)]
    pub max_tokens: String,
}

impl AgentForm {
    pub(super) fn of(agent: &Agent) -> AgentForm {
        AgentForm {
            name: agent.name.clone(),
            key_id: agent.key_id.clone().unwrap_or_default(),
            model: agent.model.clone(),
            instructions: agent.instructions.clone(),
            temperature: agent
                .parameters
                .temperature
                .map(|t| t.to_string())
                .unwrap_or_default(),
            max_tokens: agent
                .parameters
                .max_tokens
                .map(|n| n.to_string())
                .unwrap_or_default(),
        }
    }

    /// The API's request for this form; the provider is the chosen key's.
    fn request(&self, keys: &[KeyInfo]) -> Result<AgentRequest, AppError> {
        let key = keys
            .iter()
            .find(|key| key.id == self.key_id)
            .ok_or_else(|| {
                AppError::validation("key_id", "choose one of the team's provider keys")
            })?;
        let temperature = optional(
            &self.temperature,
            "parameters.temperature",
            "a number from 0 to 2",
        )?;
        let max_tokens = optional(
            &self.max_tokens,
            "parameters.max_tokens",
            "a whole number from 1 to 200000",
        )?;
        Ok(AgentRequest {
            name: self.name.clone(),
            provider: key.provider.as_str().to_string(),
            model: self.model.clone(),
            key_id: key.id.clone(),
            instructions: self.instructions.clone(),
            parameters: Parameters {
                temperature,
                max_tokens,
            },
        })
    }
}

/// An optional number field: empty is none.
fn optional<T: std::str::FromStr>(
    text: &str,
    field: &str,
    what: &str,
) -> Result<Option<T>, AppError> {
    match text.trim() {
        "" => Ok(None),
        text => text
            .parse()
            .map(Some)
            .map_err(|_| AppError::validation(field, format!("must be {what}"))),
    }
}

/// Saves a new agent (`id` none) or an agent's new settings.
async fn save(
    state: &AppState,
    principal: &Principal,
    id: Option<&str>,
    form: &AgentForm,
) -> AppResult<()> {
    let keys = crate::provider_keys::list(&state.db, &principal.team_id).await?;
    let fields = validate(state, principal, form.request(&keys)?).await?;
    match id {
        None => {
            super::create(&state.db, principal.into(), &fields).await?;
        }
        Some(id) => {
            super::replace(&state.db, principal.into(), id, &fields)
                .await?
                .ok_or(AppError::NotFound)?;
        }
    }
    Ok(())
}

/// After a form: back to the list, or the page again with the error beside its field.
async fn after_form(
    state: &AppState,
    principal: &Principal,
    editing: Option<String>,
    form: AgentForm,
    result: AppResult<()>,
) -> Response {
    match result {
        Ok(()) => Redirect::to("/agents").into_response(),
        Err(err @ AppError::Validation { .. }) => {
            let status = err.status();
            match render_page(state, principal, |view| {
                view.editing = editing;
                view.refused = Some((form, err));
            })
            .await
            {
                Ok(markup) => (status, markup).into_response(),
                Err(err) => err.into_response(),
            }
        }
        Err(err) => err.into_response(),
    }
}

pub async fn create_form(
    State(state): State<AppState>,
    principal: Principal,
    Form(form): Form<AgentForm>,
) -> Response {
    let result = save(&state, &principal, None, &form).await;
    after_form(&state, &principal, None, form, result).await
}

pub async fn update_form(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Form(form): Form<AgentForm>,
) -> Response {
    let result = save(&state, &principal, Some(&id), &form).await;
    after_form(&state, &principal, Some(id), form, result).await
}

pub async fn archive_form(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> AppResult<Redirect> {
    if !super::archive(&state.db, (&principal).into(), &id).await? {
        return Err(AppError::NotFound);
    }
    Ok(Redirect::to("/agents"))
}

/// The page body (no queries: a test renders any view).
pub fn render(view: &AgentsView) -> Markup {
    let keys: HashMap<&str, &KeyInfo> = view.keys.iter().map(|k| (k.id.as_str(), k)).collect();
    html! {
        header.page-header {
            h1 { "Agents" }
            p.lede { "A model at a provider, called with one of the team's keys and standing instructions. Workflow steps name the agent that runs them." }
        }
        @if view.agents.is_empty() {
            p.empty { "No agents yet." }
        } @else {
            table.data {
                caption.visually-hidden { "The team's agents" }
                thead { tr {
                    th scope="col" { "Name" } th scope="col" { "Provider" } th scope="col" { "Model" } th scope="col" { "Key" }
                    th scope="col" { "Workflows" } th scope="col" { "Calls (30 days)" } th scope="col" { "Cost (30 days)" }
                    @if view.may_edit { th scope="col" { span.visually-hidden { "Actions" } } }
                } }
                tbody {
                    @for agent in &view.agents {
                        @let usage = view.usage.get(&agent.id);
                        tr {
                            td { (agent.name) }
                            td { (agent.provider_name) }
                            td { code { (agent.model) } }
                            td { (key_label(agent.key_id.as_deref().and_then(|id| keys.get(id).copied()))) }
                            td { (view.used_by.get(&agent.id).copied().unwrap_or(0)) }
                            td { (compact(usage.map_or(0, |u| u.calls) as f64)) }
                            td { (usd_cents(usage.map_or(0, |u| u.cost_micros))) }
                            @if view.may_edit {
                                td {
                                    div.row-actions {
                                        a.button.button-small href={"/agents/" (agent.id) "/edit"} aria-label={"Edit " (agent.name)} { "Edit" }
                                        form method="post" action={"/agents/" (agent.id) "/archive"} {
                                            button.button.button-small.button-danger type="submit" aria-label={"Archive " (agent.name)} { "Archive" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if view.may_edit {
            (agent_form(view))
        }
    }
}

fn key_label(key: Option<&KeyInfo>) -> Markup {
    match key {
        Some(key) => html! { (key.label) " " code { "…" (key.last4) } },
        None => html! { span.muted { "no key" } },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider_keys::KeyStatus;
    use crate::providers::ProviderKind;

    fn key() -> KeyInfo {
        KeyInfo {
            id: "k-1".into(),
            provider: ProviderKind::Openai,
            provider_name: "OpenAI",
            label: "Prod <main>".into(),
            last4: "9xQz".into(),
            base_url: None,
            status: KeyStatus::Active,
            status_detail: None,
            created_at: 0,
            last_used_at: None,
            created_by: None,
            agents: 0,
            last_tested_at: None,
            last_test_result: None,
            last_test_latency_ms: None,
            last_test_message: None,
            models: Vec::new(),
        }
    }

    #[test]
    fn the_models_a_key_listed_come_first_then_the_priced_ones() {
        let listed = KeyInfo {
            models: vec!["llama3.1:8b".into(), "gpt-4o-mini".into()],
            ..key()
        };
        let choices = model_choices(&[listed]);
        assert_eq!(
            choices[0],
            ("llama3.1:8b".into(), "listed by Prod <main>".into())
        );
        assert_eq!(choices[1].0, "gpt-4o-mini");
        assert_eq!(
            choices
                .iter()
                .filter(|(model, _)| model == "gpt-4o-mini")
                .count(),
            1,
            "a model listed and priced is offered once"
        );
        assert!(choices.len() > 2, "the priced models follow");
    }

    fn agent() -> Agent {
        Agent {
            id: "a-1".into(),
            name: "Writer <w>".into(),
            provider: ProviderKind::Openai,
            provider_name: "OpenAI",
            model: "gpt-4o-mini".into(),
            key_id: Some("k-1".into()),
            instructions: "Be brief.".into(),
            parameters: Parameters {
                temperature: Some(0.2),
                max_tokens: None,
            },
            created_at: 0,
            updated_at: 0,
        }
    }

    fn view(may_edit: bool) -> AgentsView {
        AgentsView {
            agents: vec![agent()],
            keys: vec![key()],
            used_by: HashMap::from([("a-1".to_string(), 2)]),
            usage: HashMap::from([(
                "a-1".to_string(),
                TokenRow {
                    workflow_id: None,
                    workflow_name: None,
                    agent_id: Some("a-1".into()),
                    agent_name: None,
                    model: None,
                    calls: 12_345,
                    input_tokens: 0,
                    output_tokens: 0,
                    cached_tokens: 0,
                    total_tokens: 0,
                    cost_micros: 3_290_000,
                },
            )]),
            may_edit,
            editing: None,
            refused: None,
        }
    }

    #[test]
    fn agents_are_listed_with_their_key_use_and_usage() {
        let html = render(&view(true)).into_string();
        assert!(html.contains("Writer &lt;w&gt;") && !html.contains("<w>"));
        assert!(html.contains("Prod &lt;main&gt;") && html.contains("…9xQz"));
        assert!(html.contains("<td>2</td>"), "used by two workflows");
        assert!(html.contains("12.3 k") && html.contains("$3.29"));
        assert!(html.contains(r#"action="/agents/a-1/archive""#));
        assert!(html.contains(r#"action="/agents""#), "the create form");
        assert!(
            html.contains(r#"list="agent-models""#)
                && html.contains(r#"<option value="gpt-4o-mini">"#),
            "the model field offers the priced models"
        );
    }

    #[test]
    fn viewers_get_no_forms() {
        let html = render(&view(false)).into_string();
        assert!(!html.contains("<form"), "{html}");
        assert!(html.contains("gpt-4o-mini"));
    }

    #[test]
    fn editing_fills_the_form_and_a_refusal_names_its_field() {
        let mut editing = view(true);
        editing.editing = Some("a-1".into());
        let html = render(&editing).into_string();
        assert!(html.contains("Edit Writer"));
        assert!(html.contains(r#"action="/agents/a-1""#));
        assert!(html.contains(r#"value="0.2""#));
        assert!(html.contains(r#"<option value="k-1" selected>"#));
        let mut refused = view(true);
        refused.refused = Some((
            AgentForm {
                name: "x".into(),
                temperature: "9".into(),
                ..AgentForm::default()
            },
            AppError::validation("parameters.temperature", "must be between 0 and 2"),
        ));
        let html = render(&refused).into_string();
        assert!(html.contains(r#"aria-invalid="true""#));
        assert!(html.contains("must be between 0 and 2"));
        assert!(html.contains(r#"value="9""#), "what was sent is kept");
    }

    #[test]
    fn the_form_takes_the_provider_from_the_key() {
        let form = AgentForm {
            name: "Writer".into(),
            key_id: "k-1".into(),
            model: "gpt-4o-mini".into(),
            temperature: "0.5".into(),
            ..AgentForm::default()
        };
        let request = form.request(&[key()]).expect("valid");
        assert_eq!(request.provider, "openai");
        assert_eq!(request.parameters.temperature, Some(0.5));
        let unknown = AgentForm {
            key_id: "nope".into(),
            ..form.clone()
        };
        assert!(
            matches!(unknown.request(&[key()]), Err(AppError::Validation { field, .. }) if field == "key_id")
        );
        let bad = AgentForm {
            max_tokens: "lots".into(),
            ..form
        };
        assert!(
            matches!(bad.request(&[key()]), Err(AppError::Validation { field, .. }) if field == "parameters.max_tokens")
        );
    }
}
