//! What changed between two versions of a workflow, step by step: steps added
//! and removed (by id), and for each kept step its agent, dependencies,
//! timeout and prompt (line by line, through `similar`), and the order.

use maud::{Markup, html};
use similar::{ChangeTag, TextDiff};

use super::Step;

#[derive(Debug, Clone, PartialEq)]
pub enum StepChange {
    Added(Step),
    Removed(Step),
    Changed {
        id: String,
        fields: Vec<FieldChange>,
        /// The prompt's lines, each kept, removed or inserted; empty when the
        /// prompt is the same.
        prompt: Vec<(ChangeTag, String)>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    pub field: &'static str,
    pub before: String,
    pub after: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VersionDiff {
    pub changes: Vec<StepChange>,
    /// The kept steps' order before and after, when it changed.
    pub order: Option<(Vec<String>, Vec<String>)>,
}

impl VersionDiff {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.order.is_none()
    }
}

pub fn compare(before: &[Step], after: &[Step]) -> VersionDiff {
    let find = |steps: &'_ [Step], id: &str| steps.iter().find(|s| s.id == id).cloned();
    let mut changes: Vec<StepChange> = before
        .iter()
        .filter(|step| find(after, &step.id).is_none())
        .map(|step| StepChange::Removed(step.clone()))
        .collect();
    for step in after {
        match find(before, &step.id) {
            None => changes.push(StepChange::Added(step.clone())),
            Some(old) => {
                if let Some(change) = changed(&old, step) {
                    changes.push(change);
                }
            }
        }
    }
    let kept = |steps: &[Step], other: &[Step]| -> Vec<String> {
        steps
            .iter()
            .filter(|s| other.iter().any(|o| o.id == s.id))
            .map(|s| s.id.clone())
            .collect()
    };
    let (old_order, new_order) = (kept(before, after), kept(after, before));
    let order = (old_order != new_order).then_some((old_order, new_order));
    VersionDiff { changes, order }
}

fn changed(old: &Step, new: &Step) -> Option<StepChange> {
    let mut fields = Vec::new();
    let mut note = |field: &'static str, before: String, after: String| {
        if before != after {
            fields.push(FieldChange {
                field,
                before,
                after,
            });
        }
    };
    note("agent", old.agent.clone(), new.agent.clone());
    note(
        "waits for",
        old.depends_on.join(", "),
        new.depends_on.join(", "),
    );
    let timeout = |step: &Step| step.timeout().as_secs().to_string() + " s";
    note("timeout", timeout(old), timeout(new));
    let prompt = if old.prompt == new.prompt {
        Vec::new()
    } else {
        TextDiff::from_lines(&old.prompt, &new.prompt)
            .iter_all_changes()
            .map(|change| {
                (
                    change.tag(),
                    change.value().trim_end_matches('\n').to_string(),
                )
            })
            .collect()
    };
    (!fields.is_empty() || !prompt.is_empty()).then(|| StepChange::Changed {
        id: new.id.clone(),
        fields,
        prompt,
    })
}

/// The differences as a list; `agent_name` shows agents by name.
pub fn render(diff: &VersionDiff, agent_name: impl Fn(&str) -> String) -> Markup {
    let show = |field: &str, value: &str| -> String {
        match (field, value) {
            (_, "") => "—".into(),
            ("agent", id) => agent_name(id),
            (_, value) => value.into(),
        }
    };
    html! {
        @if diff.is_empty() {
            p.empty { "The two versions have the same steps." }
        }
        ul.diff {
            @if let Some((before, after)) = &diff.order {
                li { strong { "Order" } ": " (before.join(" → ")) " became " (after.join(" → ")) }
            }
            @for change in &diff.changes {
                @match change {
                    StepChange::Added(step) => li.diff-added {
                        strong { "Added " code { (step.id) } } ", run by " (agent_name(&step.agent))
                        pre.prompt { (step.prompt) }
                    },
                    StepChange::Removed(step) => li.diff-removed {
                        strong { "Removed " code { (step.id) } }
                    },
                    StepChange::Changed { id, fields, prompt } => li {
                        strong { "Changed " code { (id) } }
                        ul {
                            @for field in fields {
                                li { (field.field) ": " del { (show(field.field, &field.before)) } " → " ins { (show(field.field, &field.after)) } }
                            }
                        }
                        @if !prompt.is_empty() {
                            pre.prompt.prompt-diff aria-label={"How the prompt of " (id) " changed"} {
                                @for (tag, line) in prompt {
                                    @match tag {
                                        ChangeTag::Delete => { del { "- " (line) } "\n" }
                                        ChangeTag::Insert => { ins { "+ " (line) } "\n" }
                                        ChangeTag::Equal => { span { "  " (line) } "\n" }
                                    }
                                }
                            }
                        }
                    },
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflows::test_step as step;

    #[test]
    fn added_removed_and_changed_steps_are_told_apart() {
        let before = vec![
            step("facts", "Facts about\n{{input.topic}}\n", &[]),
            step("old", "x", &[]),
        ];
        let mut brief = step("brief", "Brief", &["facts"]);
        brief.timeout_secs = Some(60);
        let after = vec![
            step("facts", "Facts about\n{{input.topic}} and <more>\n", &[]),
            brief,
        ];
        let diff = compare(&before, &after);
        assert_eq!(diff.changes.len(), 3, "{diff:?}");
        assert!(matches!(&diff.changes[0], StepChange::Removed(s) if s.id == "old"));
        assert!(matches!(&diff.changes[2], StepChange::Added(s) if s.id == "brief"));
        let StepChange::Changed { prompt, .. } = &diff.changes[1] else {
            panic!("facts changed: {diff:?}");
        };
        assert!(prompt.contains(&(ChangeTag::Delete, "{{input.topic}}".into())));
        assert!(prompt.contains(&(ChangeTag::Equal, "Facts about".into())));
        let html = render(&diff, |id| format!("agent {id}")).into_string();
        assert!(html.contains("+ {{input.topic}} and &lt;more&gt;"));
        assert!(html.contains("Removed <code>old</code>"));
    }

    #[test]
    fn fields_and_order_changes_are_listed() {
        let before = vec![step("a", "p", &[]), step("b", "q", &[])];
        let mut moved = step("a", "p", &["b"]);
        moved.agent = "a-2".into();
        let after = vec![step("b", "q", &[]), moved];
        let diff = compare(&before, &after);
        assert_eq!(
            diff.order,
            Some((vec!["a".into(), "b".into()], vec!["b".into(), "a".into()]))
        );
        let StepChange::Changed { fields, .. } = &diff.changes[0] else {
            panic!("{diff:?}");
        };
        let names: Vec<_> = fields.iter().map(|f| f.field).collect();
        assert_eq!(names, vec!["agent", "waits for"]);
        let html = render(&diff, |id| format!("Agent {id}")).into_string();
        assert!(html.contains("<del>Agent a-1</del>") && html.contains("<del>—</del>"));
        assert!(compare(&before, &before).is_empty());
    }
}
