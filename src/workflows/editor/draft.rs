//! The step editor's draft: the form as sent, before it is a valid definition.
//! Adding, removing and reordering steps happen on the draft (each a submit
//! button, so the editor works without scripts); saving turns it into the API's
//! request, checked by the API's own rules.

use std::collections::HashMap;

use super::super::Workflow;
use super::super::definition::{MAX_STEPS, Step, input_fields};
use super::super::handlers::WorkflowRequest;
use crate::error::AppError;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Draft {
    pub name: String,
    pub description: String,
    pub steps: Vec<DraftStep>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct DraftStep {
    pub id: String,
    /// The id the step had when the form was drawn: a renamed step's
    /// dependents follow it.
    pub was: String,
    pub agent: String,
    pub prompt: String,
    pub depends_on: Vec<String>,
    pub timeout_secs: String,
}

/// What a press of one of the editor's buttons asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Save,
    Add,
    Remove(usize),
    Up(usize),
    Down(usize),
}

impl Action {
    pub fn parse(value: &str) -> Result<Action, AppError> {
        let indexed = |prefix: &str| {
            value
                .strip_prefix(prefix)
                .and_then(|index| index.parse::<usize>().ok())
        };
        match value {
            "save" => Ok(Action::Save),
            "add" => Ok(Action::Add),
            _ => indexed("remove-")
                .map(Action::Remove)
                .or_else(|| indexed("up-").map(Action::Up))
                .or_else(|| indexed("down-").map(Action::Down))
                .ok_or_else(|| AppError::validation("action", "unknown editor action")),
        }
    }
}

impl Draft {
    /// A new workflow's draft: one step, run by the first agent.
    pub fn new_workflow(first_agent: Option<&str>) -> Draft {
        Draft {
            steps: vec![DraftStep {
                id: "step-1".into(),
                agent: first_agent.unwrap_or_default().into(),
                ..DraftStep::default()
            }],
            ..Draft::default()
        }
    }

    pub fn of(workflow: &Workflow) -> Draft {
        Draft {
            name: workflow.name.clone(),
            description: workflow.description.clone().unwrap_or_default(),
            steps: workflow
                .steps
                .iter()
                .map(|step| DraftStep {
                    id: step.id.clone(),
                    was: step.id.clone(),
                    agent: step.agent.clone(),
                    prompt: step.prompt.clone(),
                    depends_on: step.depends_on.clone(),
                    timeout_secs: step.timeout_secs.map(|s| s.to_string()).unwrap_or_default(),
                })
                .collect(),
        }
    }

    /// Reads the editor's form: `name`, `description`, `action`, and per step
    /// `steps[i].id`, `.was`, `.agent`, `.prompt`, `.timeout_secs` and any
    /// number of `.depends_on`. Returns the draft and the button pressed
    /// (saving when the form was sent with Enter).
    pub fn from_form(pairs: Vec<(String, String)>) -> Result<(Draft, Action), AppError> {
        let mut draft = Draft::default();
        let mut action = Action::Save;
        let mut steps: Vec<DraftStep> = Vec::new();
        for (key, value) in pairs {
            match key.as_str() {
                "name" => draft.name = value,
                "description" => draft.description = value,
                "action" => action = Action::parse(&value)?,
                _ => {
                    let (index, field) = step_field(&key)
                        .ok_or_else(|| AppError::validation(&key, "unknown form field"))?;
                    if index >= MAX_STEPS {
                        return Err(AppError::validation("steps", "at most 50 steps"));
                    }
                    if steps.len() <= index {
                        steps.resize(index + 1, DraftStep::default());
                    }
                    let step = &mut steps[index];
                    match field {
                        "id" => step.id = value.trim().to_string(),
                        "was" => step.was = value,
                        "agent" => step.agent = value,
                        "prompt" => step.prompt = value,
                        "depends_on" => step.depends_on.push(value),
                        "timeout_secs" => step.timeout_secs = value.trim().to_string(),
                        _ => return Err(AppError::validation(&key, "unknown form field")),
                    }
                }
            }
        }
        draft.steps = steps;
        draft.follow_renames();
        Ok((draft, action))
    }

    /// A step renamed in the form keeps its dependents: their `depends_on`
    /// and their `{{steps.OLD.output}}` references take the new id.
    fn follow_renames(&mut self) {
        let renamed: HashMap<String, String> = self
            .steps
            .iter()
            .filter(|step| !step.was.is_empty() && step.was != step.id && !step.id.is_empty())
            .map(|step| (step.was.clone(), step.id.clone()))
            .collect();
        if renamed.is_empty() {
            return;
        }
        for step in &mut self.steps {
            for dependency in &mut step.depends_on {
                if let Some(new) = renamed.get(dependency) {
                    *dependency = new.clone();
                }
            }
            for (old, new) in &renamed {
                step.prompt = step.prompt.replace(
                    &format!("{{{{steps.{old}.output}}}}"),
                    &format!("{{{{steps.{new}.output}}}}"),
                );
            }
        }
        for step in &mut self.steps {
            step.was = step.id.clone();
        }
    }

    /// Applies a button other than Save; `false` when it does not apply
    /// (moving the first step up, removing the last one left).
    pub fn apply(&mut self, action: Action) -> bool {
        match action {
            Action::Save => false,
            Action::Add if self.steps.len() < MAX_STEPS => {
                let previous = self.steps.last();
                let step = DraftStep {
                    id: self.unused_id(),
                    agent: previous.map(|s| s.agent.clone()).unwrap_or_default(),
                    depends_on: previous.map(|s| vec![s.id.clone()]).unwrap_or_default(),
                    ..DraftStep::default()
                };
                self.steps.push(step);
                true
            }
            Action::Add => false,
            Action::Remove(i) if i < self.steps.len() && self.steps.len() > 1 => {
                let removed = self.steps.remove(i);
                for step in &mut self.steps {
                    step.depends_on.retain(|id| id != &removed.id);
                }
                true
            }
            Action::Up(i) if i > 0 && i < self.steps.len() => {
                self.steps.swap(i - 1, i);
                true
            }
            Action::Down(i) if i + 1 < self.steps.len() => {
                self.steps.swap(i, i + 1);
                true
            }
            Action::Remove(_) | Action::Up(_) | Action::Down(_) => false,
        }
    }

    /// `step-N`, N the step's position unless another step has that id.
    fn unused_id(&self) -> String {
        (self.steps.len() + 1..)
            .map(|n| format!("step-{n}"))
            .find(|id| self.steps.iter().all(|step| &step.id != id))
            .unwrap_or_else(|| "step".into())
    }

    /// The references step `i`'s prompt may use: the whole input, every
    /// input field the draft's prompts use, and the output of each earlier
    /// step (choosing one ticks that step in `depends_on`).
    pub fn references(&self, i: usize) -> Vec<Reference> {
        let mut references = vec![Reference {
            text: "{{input}}".into(),
            step: None,
        }];
        references.extend(
            input_fields(&self.steps_lenient())
                .into_iter()
                .map(|field| Reference {
                    text: format!("{{{{input.{field}}}}}"),
                    step: None,
                }),
        );
        let earlier = self.steps.iter().take(i).map(|step| step.id.as_str());
        let depended = self
            .steps
            .get(i)
            .map(|step| step.depends_on.iter().map(String::as_str));
        let mut ids: Vec<&str> = earlier.chain(depended.into_iter().flatten()).collect();
        ids.retain(|id| !id.is_empty());
        ids.dedup();
        for id in ids {
            let text = format!("{{{{steps.{id}.output}}}}");
            if references.iter().all(|r| r.text != text) {
                references.push(Reference {
                    text,
                    step: Some(id.to_string()),
                });
            }
        }
        references
    }

    /// The steps step `i` may wait for: the earlier ones, and any it already names.
    pub fn dependency_choices(&self, i: usize) -> Vec<String> {
        let mut choices: Vec<String> = self
            .steps
            .iter()
            .take(i)
            .map(|step| step.id.clone())
            .filter(|id| !id.is_empty())
            .collect();
        if let Some(step) = self.steps.get(i) {
            for id in &step.depends_on {
                if !choices.contains(id) {
                    choices.push(id.clone());
                }
            }
        }
        choices
    }

    fn steps_lenient(&self) -> Vec<Step> {
        self.steps
            .iter()
            .map(|step| Step {
                id: step.id.clone(),
                agent: step.agent.clone(),
                prompt: step.prompt.clone(),
                depends_on: step.depends_on.clone(),
                timeout_secs: None,
            })
            .collect()
    }

    /// The API request this draft stands for; a timeout that is not a number
    /// is refused here, naming its field like the API would.
    pub fn request(&self) -> Result<WorkflowRequest, AppError> {
        let steps = self
            .steps
            .iter()
            .enumerate()
            .map(|(i, step)| {
                let timeout_secs = match step.timeout_secs.as_str() {
                    "" => None,
                    text => Some(text.parse::<u64>().map_err(|_| {
                        AppError::validation(
                            format!("steps[{i}].timeout_secs"),
                            "must be a whole number of seconds",
                        )
                    })?),
                };
                Ok(Step {
                    id: step.id.clone(),
                    agent: step.agent.clone(),
                    prompt: step.prompt.clone(),
                    depends_on: step.depends_on.clone(),
                    timeout_secs,
                })
            })
            .collect::<Result<Vec<_>, AppError>>()?;
        Ok(WorkflowRequest {
            name: self.name.clone(),
            description: Some(self.description.clone()),
            steps,
        })
    }
}

/// A template reference offered beside a prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub text: String,
    /// The step whose output it reads, to tick in `depends_on`.
    pub step: Option<String>,
}

/// `steps[3].prompt` → `(3, "prompt")`.
fn step_field(key: &str) -> Option<(usize, &str)> {
    let rest = key.strip_prefix("steps[")?;
    let (index, field) = rest.split_once("].")?;
    Some((index.parse().ok()?, field))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn two_steps() -> Vec<(String, String)> {
        pairs(&[
            ("name", "Brief"),
            ("steps[0].id", "facts"),
            ("steps[0].was", "facts"),
            ("steps[0].agent", "a-1"),
            ("steps[0].prompt", "Facts about {{input.topic}}"),
            ("steps[1].id", "brief"),
            ("steps[1].was", "brief"),
            ("steps[1].agent", "a-1"),
            ("steps[1].prompt", "Brief from {{steps.facts.output}}"),
            ("steps[1].depends_on", "facts"),
            ("steps[1].timeout_secs", "60"),
        ])
    }

    #[test]
    fn the_form_reads_into_a_request() {
        let (draft, action) = Draft::from_form(two_steps()).expect("form");
        assert_eq!(action, Action::Save);
        let request = draft.request().expect("request");
        assert_eq!(request.steps.len(), 2);
        assert_eq!(request.steps[1].depends_on, vec!["facts".to_string()]);
        assert_eq!(request.steps[1].timeout_secs, Some(60));
        let mut bad = two_steps();
        bad.push(("steps[0].timeout_secs".into(), "soon".into()));
        let (draft, _) = Draft::from_form(bad).expect("form");
        assert!(
            matches!(draft.request(), Err(AppError::Validation { field, .. }) if field == "steps[0].timeout_secs")
        );
        assert!(Draft::from_form(pairs(&[("steps[x].id", "a")])).is_err());
        assert!(Draft::from_form(pairs(&[("steps[99].id", "a")])).is_err());
        assert!(Draft::from_form(pairs(&[("action", "explode")])).is_err());
    }

    #[test]
    fn a_renamed_step_keeps_its_dependents() {
        let mut form = two_steps();
        form[1].1 = "research".into();
        let (draft, _) = Draft::from_form(form).expect("form");
        assert_eq!(draft.steps[1].depends_on, vec!["research".to_string()]);
        assert_eq!(
            draft.steps[1].prompt,
            "Brief from {{steps.research.output}}"
        );
    }

    #[test]
    fn steps_are_added_removed_and_reordered() {
        let (mut draft, _) = Draft::from_form(two_steps()).expect("form");
        assert!(draft.apply(Action::Add));
        assert_eq!(draft.steps[2].id, "step-3");
        assert_eq!(draft.steps[2].depends_on, vec!["brief".to_string()]);
        assert!(!draft.apply(Action::Up(0)));
        assert!(draft.apply(Action::Down(0)));
        assert_eq!(draft.steps[1].id, "facts");
        assert!(draft.apply(Action::Remove(1)));
        assert!(
            draft
                .steps
                .iter()
                .all(|s| !s.depends_on.contains(&"facts".to_string())),
            "a removed step leaves no dangling dependency"
        );
        assert!(draft.apply(Action::Remove(0)));
        assert!(!draft.apply(Action::Remove(0)), "the last step stays");
    }

    #[test]
    fn a_prompt_is_offered_the_input_fields_and_earlier_outputs() {
        let (draft, _) = Draft::from_form(two_steps()).expect("form");
        let texts =
            |i| -> Vec<String> { draft.references(i).into_iter().map(|r| r.text).collect() };
        assert_eq!(texts(0), vec!["{{input}}", "{{input.topic}}"]);
        assert_eq!(
            texts(1),
            vec!["{{input}}", "{{input.topic}}", "{{steps.facts.output}}"]
        );
        assert_eq!(draft.references(1)[2].step.as_deref(), Some("facts"));
        assert_eq!(draft.dependency_choices(1), vec!["facts".to_string()]);
        assert!(draft.dependency_choices(0).is_empty());
    }
}
