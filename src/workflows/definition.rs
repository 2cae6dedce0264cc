//! A workflow definition: steps, each run by an agent with a prompt template, and
//! the steps each depends on. Validated on save, so a run never meets an unknown
//! agent, a cycle or a reference to a step it does not wait for.
//!
//! Templates: `{{input.NAME}}` is a field of the run's input (strings as they
//! are, other values as JSON), `{{input}}` the whole input, and
//! `{{steps.ID.output}}` the output of step ID, which must be among the step's
//! dependencies (directly or through other dependencies).

use std::collections::{HashMap, HashSet, VecDeque};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::AppError;

pub const MAX_STEPS: usize = 50;
const MAX_PROMPT_CHARS: usize = 100_000;
const MAX_STEP_TIMEOUT_SECS: u64 = 3600;
pub const DEFAULT_STEP_TIMEOUT_SECS: u64 = 300;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    #[schema(value_type = crate::api::shapes::StepId)]
    pub id: String,
    /// The agent's id.
    pub agent: String,
    #[schema(value_type = crate::api::shapes::Prompt)]
    pub prompt: String,
    /// Ids of the steps this one waits for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// Seconds one attempt of this step may take (default 300, at most 3600).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::api::integer::optional"
    )]
    #[schema(minimum = 1, maximum = 3600)]
    pub timeout_secs: Option<u64>,
}

impl Step {
    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.timeout_secs.unwrap_or(DEFAULT_STEP_TIMEOUT_SECS))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Definition {
    pub steps: Vec<Step>,
}

/// A piece of a prompt template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    WholeInput,
    Input(&'a str),
    StepOutput(&'a str),
}

/// Splits a template into text and references; `Err` names what is wrong.
fn pieces(template: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            out.push(Piece::Text(&rest[..start]));
        }
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| "a `{{` is never closed with `}}`".to_string())?;
        let reference = after[..end].trim();
        out.push(parse_reference(reference)?);
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    Ok(out)
}

fn parse_reference(reference: &str) -> Result<Piece<'_>, String> {
    let parts: Vec<&str> = reference.split('.').collect();
    match parts.as_slice() {
        ["input"] => Ok(Piece::WholeInput),
        ["input", name] if !name.is_empty() => Ok(Piece::Input(name)),
        ["steps", id, "output"] if !id.is_empty() => Ok(Piece::StepOutput(id)),
        _ => Err(format!(
            "`{{{{{reference}}}}}` is not a reference: use {{{{input.NAME}}}}, {{{{input}}}} or {{{{steps.ID.output}}}}"
        )),
    }
}

fn valid_step_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Parses and checks a definition against the team's agents.
pub fn validate(steps: Vec<Step>, agents: &HashSet<String>) -> Result<Definition, AppError> {
    if steps.is_empty() {
        return Err(AppError::validation(
            "steps",
            "a workflow needs at least one step",
        ));
    }
    if steps.len() > MAX_STEPS {
        return Err(AppError::validation("steps", "at most 50 steps"));
    }
    let index = step_index(&steps)?;
    for (i, step) in steps.iter().enumerate() {
        check_step(i, step, agents, &index)?;
    }
    let definition = Definition { steps };
    if let Some(cycle) = definition.cycle() {
        let first = index.get(&cycle[0]).copied().unwrap_or(0);
        return Err(AppError::validation(
            format!("steps[{first}].depends_on"),
            format!(
                "the steps depend on each other in a cycle: {}",
                cycle.join(" → ")
            ),
        ));
    }
    for (i, step) in definition.steps.iter().enumerate() {
        check_references(i, step, &definition)?;
    }
    Ok(definition)
}

/// Each step's position by id; an invalid or repeated id is refused.
fn step_index(steps: &[Step]) -> Result<HashMap<String, usize>, AppError> {
    let mut index = HashMap::new();
    for (i, step) in steps.iter().enumerate() {
        if !valid_step_id(&step.id) {
            return Err(AppError::validation(
                format!("steps[{i}].id"),
                "must be 1 to 64 letters, digits, '-' or '_'",
            ));
        }
        if index.insert(step.id.clone(), i).is_some() {
            return Err(AppError::validation(
                format!("steps[{i}].id"),
                format!("the id {:?} is used twice", step.id),
            ));
        }
    }
    Ok(index)
}

/// One step's agent, prompt, timeout and dependencies.
fn check_step(
    i: usize,
    step: &Step,
    agents: &HashSet<String>,
    index: &HashMap<String, usize>,
) -> Result<(), AppError> {
    if !agents.contains(&step.agent) {
        return Err(AppError::validation(
            format!("steps[{i}].agent"),
            "no such agent in this team",
        ));
    }
    if step.prompt.trim().is_empty() || step.prompt.chars().count() > MAX_PROMPT_CHARS {
        return Err(AppError::validation(
            format!("steps[{i}].prompt"),
            "must be 1 to 100000 characters",
        ));
    }
    if let Some(secs) = step.timeout_secs
        && !(1..=MAX_STEP_TIMEOUT_SECS).contains(&secs)
    {
        return Err(AppError::validation(
            format!("steps[{i}].timeout_secs"),
            "must be between 1 and 3600",
        ));
    }
    for (j, dependency) in step.depends_on.iter().enumerate() {
        if !index.contains_key(dependency) {
            return Err(AppError::validation(
                format!("steps[{i}].depends_on[{j}]"),
                format!("no step has the id {dependency:?}"),
            ));
        }
        if dependency == &step.id {
            return Err(AppError::validation(
                format!("steps[{i}].depends_on[{j}]"),
                "a step cannot depend on itself",
            ));
        }
    }
    Ok(())
}

/// A prompt's templates parse, and its `{{steps.ID.output}}` name steps it
/// depends on (directly or not), whose outputs exist by the time it runs.
fn check_references(i: usize, step: &Step, definition: &Definition) -> Result<(), AppError> {
    let field = format!("steps[{i}].prompt");
    let parts = pieces(&step.prompt).map_err(|message| AppError::validation(&field, message))?;
    let upstream = definition.upstream(&step.id);
    for part in parts {
        if let Piece::StepOutput(id) = part
            && !upstream.contains(id)
        {
            return Err(AppError::validation(
                &field,
                format!(
                    "{{{{steps.{id}.output}}}} refers to a step this one does not depend on; add it to depends_on"
                ),
            ));
        }
    }
    Ok(())
}

impl Definition {
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|step| step.id == id)
    }

    /// Every step `id` waits for, directly or through others.
    pub fn upstream(&self, id: &str) -> HashSet<&str> {
        let mut seen = HashSet::new();
        let mut queue: VecDeque<&str> = VecDeque::from([id]);
        while let Some(current) = queue.pop_front() {
            if let Some(step) = self.step(current) {
                for dependency in &step.depends_on {
                    if seen.insert(dependency.as_str()) {
                        queue.push_back(dependency);
                    }
                }
            }
        }
        seen
    }

    /// A dependency cycle, as step ids from one back to itself, if there is one.
    fn cycle(&self) -> Option<Vec<String>> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            Open,
            Done,
        }
        fn visit<'a>(
            definition: &'a Definition,
            id: &'a str,
            marks: &mut HashMap<&'a str, Mark>,
            path: &mut Vec<&'a str>,
        ) -> Option<Vec<String>> {
            match marks.get(id).copied().unwrap_or(Mark::New) {
                Mark::Done => return None,
                Mark::Open => {
                    let start = path.iter().position(|step| *step == id).unwrap_or(0);
                    let mut cycle: Vec<String> =
                        path[start..].iter().map(|s| s.to_string()).collect();
                    cycle.push(id.to_string());
                    return Some(cycle);
                }
                Mark::New => {}
            }
            marks.insert(id, Mark::Open);
            path.push(id);
            if let Some(step) = definition.step(id) {
                for dependency in &step.depends_on {
                    if let Some(cycle) = visit(definition, dependency, marks, path) {
                        return Some(cycle);
                    }
                }
            }
            path.pop();
            marks.insert(id, Mark::Done);
            None
        }
        let mut marks = HashMap::new();
        for step in &self.steps {
            if let Some(cycle) = visit(self, &step.id, &mut marks, &mut Vec::new()) {
                return Some(cycle);
            }
        }
        None
    }

    /// Names of the input fields the prompts use.
    pub fn input_fields(&self) -> Vec<String> {
        input_fields(&self.steps)
    }

    /// Agent ids the steps use.
    pub fn agents(&self) -> HashSet<&str> {
        self.steps.iter().map(|step| step.agent.as_str()).collect()
    }
}

/// Names of the input fields the steps' prompts use (prompts that do not parse
/// are skipped, so an editor can offer the fields of a draft).
pub fn input_fields(steps: &[Step]) -> Vec<String> {
    let mut fields: Vec<String> = steps
        .iter()
        .filter_map(|step| pieces(&step.prompt).ok())
        .flatten()
        .filter_map(|piece| match piece {
            Piece::Input(name) => Some(name.to_string()),
            _ => None,
        })
        .collect();
    fields.sort();
    fields.dedup();
    fields
}

/// Checks a run's input against a workflow's steps: a JSON object with every
/// field the prompts use.
pub fn check_input(steps: &[Step], input: &Value) -> Result<(), AppError> {
    let Some(object) = input.as_object() else {
        return Err(AppError::validation("input", "must be a JSON object"));
    };
    for field in input_fields(steps) {
        if !object.contains_key(&field) {
            return Err(AppError::validation(
                format!("input.{field}"),
                "the workflow's prompts use this field; it is missing",
            ));
        }
    }
    Ok(())
}

/// Fills a (validated) prompt template.
pub fn render(template: &str, input: &Value, outputs: &HashMap<String, String>) -> String {
    let Ok(parts) = pieces(template) else {
        return template.to_string();
    };
    let mut text = String::with_capacity(template.len());
    for part in parts {
        match part {
            Piece::Text(literal) => text.push_str(literal),
            Piece::WholeInput => text.push_str(&input.to_string()),
            Piece::Input(name) => match input.get(name) {
                Some(Value::String(value)) => text.push_str(value),
                Some(value) => text.push_str(&value.to_string()),
                None => {}
            },
            Piece::StepOutput(id) => {
                if let Some(output) = outputs.get(id) {
                    text.push_str(output);
                }
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn step(id: &str, prompt: &str, depends_on: &[&str]) -> Step {
        Step {
            id: id.into(),
            agent: "a1".into(),
            prompt: prompt.into(),
            depends_on: depends_on.iter().map(|s| s.to_string()).collect(),
            timeout_secs: None,
        }
    }

    fn agents() -> HashSet<String> {
        HashSet::from(["a1".to_string()])
    }

    fn field_of(result: Result<Definition, AppError>) -> String {
        match result {
            Err(AppError::Validation { field, .. }) => field,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_definition_renders_inputs_and_earlier_outputs() {
        let definition = validate(
            vec![
                step("outline", "Outline {{ input.topic }}", &[]),
                step(
                    "draft",
                    "Write from {{steps.outline.output}} for {{input.audience}}",
                    &["outline"],
                ),
                step(
                    "review",
                    "Review {{steps.outline.output}} and {{steps.draft.output}}",
                    &["draft"],
                ),
            ],
            &agents(),
        )
        .expect("valid");
        assert_eq!(definition.input_fields(), vec!["audience", "topic"]);
        let outputs = HashMap::from([("outline".to_string(), "1. intro".to_string())]);
        let input = json!({"topic": "tides", "audience": {"age": 9}});
        assert_eq!(
            render(&definition.steps[1].prompt, &input, &outputs),
            "Write from 1. intro for {\"age\":9}"
        );
        assert!(check_input(&definition.steps, &json!({"topic": "x"})).is_err());
        assert!(check_input(&definition.steps, &json!([1])).is_err());
        assert!(check_input(&definition.steps, &input).is_ok());
    }

    #[test]
    fn mistakes_are_named_by_their_path() {
        assert_eq!(field_of(validate(vec![], &agents())), "steps");
        let mut unknown_agent = step("a", "x", &[]);
        unknown_agent.agent = "nobody".into();
        assert_eq!(
            field_of(validate(vec![unknown_agent], &agents())),
            "steps[0].agent"
        );
        assert_eq!(
            field_of(validate(
                vec![step("a", "x", &[]), step("b", "x", &["zzz"])],
                &agents()
            )),
            "steps[1].depends_on[0]"
        );
        assert_eq!(
            field_of(validate(
                vec![step("a", "x", &[]), step("a", "y", &[])],
                &agents()
            )),
            "steps[1].id"
        );
        assert_eq!(
            field_of(validate(
                vec![step("a", "{{steps.b.output}}", &[]), step("b", "x", &[])],
                &agents()
            )),
            "steps[0].prompt"
        );
        assert_eq!(
            field_of(validate(vec![step("a", "{{ nonsense }}", &[])], &agents())),
            "steps[0].prompt"
        );
        assert_eq!(
            field_of(validate(vec![step("a", "open {{ input.x", &[])], &agents())),
            "steps[0].prompt"
        );
    }

    #[test]
    fn cycles_are_refused_with_the_loop_spelled_out() {
        let result = validate(
            vec![
                step("a", "x", &["c"]),
                step("b", "x", &["a"]),
                step("c", "x", &["b"]),
            ],
            &agents(),
        );
        match result {
            Err(AppError::Validation { field, message }) => {
                assert_eq!(field, "steps[0].depends_on");
                assert!(message.contains("a → c → b → a"), "{message}");
            }
            other => panic!("expected a cycle error, got {other:?}"),
        }
    }
}
