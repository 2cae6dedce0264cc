//! `/workflows/{id}/compare?from=N&to=M`: what changed between two saved
//! versions (by default the latest and the one before it).

use std::collections::HashMap;

use axum::extract::{Path, State};
use maud::{Markup, html};
use serde::Deserialize;

use super::VersionInfo;
use crate::api::ApiQuery;
use crate::app::AppState;
use crate::auth::Principal;
use crate::components::id::WORKFLOWS as COMPONENT;
use crate::error::{AppError, AppResult};
use crate::web::{Shell, page};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompareQuery {
    pub from: Option<i64>,
    pub to: Option<i64>,
}

pub struct CompareView {
    pub workflow_id: String,
    pub name: String,
    pub versions: Vec<VersionInfo>,
    pub from: i64,
    pub to: i64,
    pub diff: super::diff::VersionDiff,
    pub agents: HashMap<String, String>,
}

pub async fn show(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<CompareQuery>,
) -> AppResult<Markup> {
    let team = principal.team_id.as_str();
    let shell = Shell::new("Compare versions", "/workflows").component(COMPONENT);
    let (workflow, versions, agents, shell) = tokio::try_join!(
        async { Ok(super::get(&state.db, team, &id).await?) },
        async { Ok(super::versions(&state.db, team, &id).await?) },
        async { Ok(crate::agents::list(&state.db, team).await?) },
        page(&state, &principal, shell),
    )?;
    let workflow = workflow.ok_or(AppError::NotFound)?;
    let view = compare(workflow.id, workflow.name, versions, &query)?;
    let agents = agents.into_iter().map(|a| (a.id, a.name)).collect();
    Ok(shell.render(render(&CompareView { agents, ..view })))
}

/// Picks the two versions (the latest and the one before by default) and
/// compares them; a version the workflow never had is a 422 naming it.
fn compare(
    workflow_id: String,
    name: String,
    versions: Vec<VersionInfo>,
    query: &CompareQuery,
) -> AppResult<CompareView> {
    let latest = versions.first().map(|v| v.version).unwrap_or(1);
    let to = query.to.unwrap_or(latest);
    let from = query.from.unwrap_or((to - 1).max(1));
    let steps = |field: &str, number: i64| {
        versions
            .iter()
            .find(|v| v.version == number)
            .map(|v| v.steps.clone())
            .ok_or_else(|| {
                AppError::validation(field, format!("this workflow has no version {number}"))
            })
    };
    let diff = super::diff::compare(&steps("from", from)?, &steps("to", to)?);
    Ok(CompareView {
        workflow_id,
        name,
        versions,
        from,
        to,
        diff,
        agents: HashMap::new(),
    })
}

pub fn render(view: &CompareView) -> Markup {
    let agent = |id: &str| {
        view.agents
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    };
    html! {
        header.page-header {
            h1 { (view.name) ": v" (view.from) " → v" (view.to) }
        }
        (compare_form(&view.workflow_id, &view.versions, Some((view.from, view.to))))
        section.panel aria-labelledby="changes-title" {
            h2 #changes-title { "What changed" }
            (super::diff::render(&view.diff, agent))
        }
        p { a href={"/workflows/" (view.workflow_id)} { "Back to " (view.name) } }
    }
}

/// Two version pickers and Compare; `chosen` preselects (from, to).
pub fn compare_form(
    workflow_id: &str,
    versions: &[VersionInfo],
    chosen: Option<(i64, i64)>,
) -> Markup {
    let latest = versions.first().map(|v| v.version).unwrap_or(1);
    let (from, to) = chosen.unwrap_or(((latest - 1).max(1), latest));
    let picker = |name: &str, label: &str, selected: i64| {
        html! {
            div.field {
                label for={"compare-" (name)} { (label) }
                select id={"compare-" (name)} name=(name) {
                    @for version in versions {
                        option value=(version.version) selected[version.version == selected] { "v" (version.version) }
                    }
                }
            }
        }
    };
    html! {
        form.inline-form method="get" action={"/workflows/" (workflow_id) "/compare"} {
            (picker("from", "From", from))
            (picker("to", "To", to))
            button.button type="submit" { "Compare" }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(number: i64, prompt: &str) -> VersionInfo {
        VersionInfo {
            version: number,
            steps: vec![crate::workflows::test_step("only", prompt, &[])],
            created_by: None,
            created_at: 0,
        }
    }

    #[test]
    fn the_latest_two_versions_are_compared_by_default() {
        let versions = vec![version(3, "new"), version(2, "old"), version(1, "first")];
        let none = CompareQuery {
            from: None,
            to: None,
        };
        let view = compare("w".into(), "Brief".into(), versions.clone(), &none).expect("view");
        assert_eq!((view.from, view.to), (2, 3));
        let html = render(&view).into_string();
        assert!(html.contains("+ new") && html.contains("- old"), "{html}");
        assert!(html.contains(r#"<option value="2" selected>"#));
        let missing = CompareQuery {
            from: Some(9),
            to: None,
        };
        assert!(matches!(
            compare("w".into(), "Brief".into(), versions, &missing),
            Err(AppError::Validation { field, .. }) if field == "from"
        ));
    }
}
