//! The demo team's agents and workflows, all on the simulated provider (the
//! demo calls no real provider and says so wherever the provider shows).

use secrecy::SecretString;

use crate::agents::{AgentFields, Parameters};
use crate::providers::ProviderKind;
use crate::storage::Db;
use crate::vault::Vault;
use crate::workflows::{Definition, Step};

/// A demo agent: name, model, instructions.
const AGENTS: &[(&str, &str, &str)] = &[
    (
        "Researcher",
        "gpt-4o",
        "Find the facts that matter and cite where they come from.",
    ),
    (
        "Summarizer",
        "gpt-4o-mini",
        "Summarize in five bullet points.",
    ),
    ("Classifier", "gpt-4.1-nano", "Answer with one label only."),
    (
        "Writer",
        "claude-sonnet-4-20250514",
        "Write clear, friendly prose.",
    ),
    (
        "Reviewer",
        "claude-3-5-haiku-20241022",
        "Check facts and tone; list problems.",
    ),
    ("Planner", "o4-mini", "Break the goal into ordered tasks."),
];

/// A demo workflow: name, and steps as (id, agent index, prompt, dependencies).
type DemoStep = (&'static str, usize, &'static str, &'static [&'static str]);

const WORKFLOWS: &[(&str, &[DemoStep])] = &[
    (
        "Customer support triage",
        &[
            ("classify", 2, "Classify this ticket: {{input.ticket}}", &[]),
            (
                "summarize",
                1,
                "Summarize the ticket: {{input.ticket}}",
                &[],
            ),
            (
                "draft",
                3,
                "Draft a reply to a {{steps.classify.output}} ticket: {{steps.summarize.output}}",
                &["classify", "summarize"],
            ),
            (
                "review",
                4,
                "Review this reply: {{steps.draft.output}}",
                &["draft"],
            ),
        ],
    ),
    (
        "Weekly market brief",
        &[
            (
                "research",
                0,
                "What changed this week in {{input.market}}?",
                &[],
            ),
            ("plan", 5, "Plan a brief on {{input.market}}", &[]),
            (
                "write",
                3,
                "Write the brief following {{steps.plan.output}} from {{steps.research.output}}",
                &["research", "plan"],
            ),
            ("review", 4, "Review: {{steps.write.output}}", &["write"]),
        ],
    ),
    (
        "Lead enrichment",
        &[
            ("research", 0, "Research the company {{input.company}}", &[]),
            (
                "classify",
                2,
                "Classify the lead: {{steps.research.output}}",
                &["research"],
            ),
        ],
    ),
    (
        "Release notes",
        &[
            (
                "summarize",
                1,
                "Summarize these changes: {{input.changes}}",
                &[],
            ),
            (
                "write",
                3,
                "Write release notes from {{steps.summarize.output}}",
                &["summarize"],
            ),
        ],
    ),
];

#[derive(Debug, Clone)]
pub struct DemoAgent {
    pub id: String,
    pub model: String,
    /// The provider key its calls use (usage per key counts them).
    pub key_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct DemoWorkflow {
    pub id: String,
    pub name: String,
    /// (step id, index into the agents).
    pub steps: Vec<(String, usize)>,
}

#[derive(Debug, Clone)]
pub struct DemoRuntime {
    pub agents: Vec<DemoAgent>,
    pub workflows: Vec<DemoWorkflow>,
}

/// Creates the team's simulated key, agents and workflows.
pub async fn seed(
    db: &Db,
    vault: &Vault,
    team_id: &str,
    owner: &str,
) -> anyhow::Result<DemoRuntime> {
    let key = crate::provider_keys::create(
        db,
        vault,
        crate::audit::Actor::user(team_id, owner),
        crate::provider_keys::NewKey {
            provider: ProviderKind::Simulated,
            label: "Demo key (simulated provider, calls nothing)".into(),
            secret: SecretString::from("simulated-demo-key-0000".to_string()),
            base_url: None,
        },
    )
    .await
    .map_err(|err| anyhow::anyhow!("demo key: {err}"))?;
    let mut agents = Vec::new();
    for (name, model, instructions) in AGENTS {
        let agent = crate::agents::create(
            db,
            crate::audit::Actor::user(team_id, owner),
            &AgentFields {
                name: (*name).into(),
                provider: ProviderKind::Simulated,
                model: (*model).into(),
                key_id: Some(key.id.clone()),
                instructions: (*instructions).into(),
                parameters: Parameters {
                    temperature: Some(0.3),
                    max_tokens: Some(1200),
                },
            },
        )
        .await
        .map_err(|err| anyhow::anyhow!("demo agent: {err}"))?;
        agents.push(DemoAgent {
            id: agent.id,
            model: (*model).into(),
            key_id: agent.key_id,
        });
    }
    let mut workflows = Vec::new();
    for (name, steps) in WORKFLOWS {
        let definition = Definition {
            steps: steps
                .iter()
                .map(|(id, agent, prompt, depends_on)| Step {
                    id: (*id).into(),
                    agent: agents[*agent].id.clone(),
                    prompt: (*prompt).into(),
                    depends_on: depends_on.iter().map(|d| (*d).to_string()).collect(),
                    timeout_secs: Some(60),
                })
                .collect(),
        };
        let fields = crate::workflows::WorkflowFields {
            name: (*name).into(),
            description: None,
            definition,
        };
        let actor = crate::audit::Actor::user(team_id, owner);
        let workflow = crate::workflows::create(db, actor, &fields)
            .await
            .map_err(|err| anyhow::anyhow!("demo workflow: {err}"))?;
        workflows.push(DemoWorkflow {
            id: workflow.id,
            name: (*name).into(),
            steps: steps
                .iter()
                .map(|(id, agent, _, _)| ((*id).to_string(), *agent))
                .collect(),
        });
    }
    Ok(DemoRuntime { agents, workflows })
}

/// A plausible input for a demo workflow.
pub fn sample_input(workflow: &str, n: u64) -> serde_json::Value {
    match workflow {
        "Customer support triage" => {
            serde_json::json!({"ticket": format!("#{} My invoice shows the wrong VAT number", 4000 + n % 5000)})
        }
        "Weekly market brief" => {
            let markets = ["EU fintech", "US solar", "APAC logistics"];
            serde_json::json!({"market": markets[(n % 3) as usize]})
        }
        "Lead enrichment" => {
            let companies = ["Acme GmbH", "Northwind", "Globex", "Initech"];
            serde_json::json!({"company": companies[(n % 4) as usize]})
        }
        _ => serde_json::json!({"changes": format!("{} merged pull requests", 5 + n % 40)}),
    }
}

/// The demo runtime as stored (for generating more history later).
pub async fn load(db: &Db, team_id: &str) -> anyhow::Result<DemoRuntime> {
    let agents: Vec<DemoAgent> = crate::agents::list(db, team_id)
        .await?
        .into_iter()
        .map(|agent| DemoAgent {
            id: agent.id,
            model: agent.model,
            key_id: agent.key_id,
        })
        .collect();
    let workflows = crate::workflows::list(db, team_id)
        .await?
        .into_iter()
        .map(|workflow| DemoWorkflow {
            steps: workflow
                .steps
                .iter()
                .filter_map(|step| {
                    let index = agents.iter().position(|agent| agent.id == step.agent)?;
                    Some((step.id.clone(), index))
                })
                .collect(),
            id: workflow.id,
            name: workflow.name,
        })
        .filter(|workflow| !workflow.steps.is_empty())
        .collect::<Vec<_>>();
    // Keep the seeding order, which the generator's weights follow.
    let order = |name: &str| {
        WORKFLOWS
            .iter()
            .position(|(n, _)| *n == name)
            .unwrap_or(usize::MAX)
    };
    let mut workflows = workflows;
    workflows.sort_by_key(|workflow| order(&workflow.name));
    Ok(DemoRuntime { agents, workflows })
}
