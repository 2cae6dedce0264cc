//! A workflow's steps drawn as an SVG graph: one column per depth (a step sits
//! one column right of the deepest step it waits for), an arrow from each
//! dependency to the step that waits for it. The steps table beside it is the
//! text alternative.

use std::collections::HashMap;

use maud::{Markup, html};

use super::Step;

const BOX_WIDTH: i64 = 168;
const BOX_HEIGHT: i64 = 46;
const COLUMN_GAP: i64 = 56;
const ROW_GAP: i64 = 18;
const MARGIN: i64 = 8;
/// Characters of an agent's name that fit in a box.
const LABEL_CHARS: usize = 22;

/// Where each step's box goes: (column, row).
pub fn layout(steps: &[Step]) -> Vec<(usize, usize)> {
    let index: HashMap<&str, usize> = steps
        .iter()
        .enumerate()
        .map(|(i, step)| (step.id.as_str(), i))
        .collect();
    let mut depth: Vec<Option<usize>> = vec![None; steps.len()];
    for i in 0..steps.len() {
        depth_of(i, steps, &index, &mut depth, 0);
    }
    let mut rows_used: HashMap<usize, usize> = HashMap::new();
    depth
        .into_iter()
        .map(|column| {
            let column = column.unwrap_or(0);
            let row = rows_used.entry(column).or_insert(0);
            *row += 1;
            (column, *row - 1)
        })
        .collect()
}

/// A step's column: one past its deepest dependency. Saved workflows have no
/// cycle; the guard on `visiting` keeps a malformed one from recursing forever.
fn depth_of(
    i: usize,
    steps: &[Step],
    index: &HashMap<&str, usize>,
    depth: &mut Vec<Option<usize>>,
    visiting: usize,
) -> usize {
    if let Some(known) = depth[i] {
        return known;
    }
    if visiting > steps.len() {
        return 0;
    }
    let column = steps[i]
        .depends_on
        .iter()
        .filter_map(|id| index.get(id.as_str()).copied())
        .map(|dependency| depth_of(dependency, steps, index, depth, visiting + 1) + 1)
        .max()
        .unwrap_or(0);
    depth[i] = Some(column);
    column
}

fn origin(column: usize, row: usize) -> (i64, i64) {
    (
        MARGIN + column as i64 * (BOX_WIDTH + COLUMN_GAP),
        MARGIN + row as i64 * (BOX_HEIGHT + ROW_GAP),
    )
}

fn shorten(text: &str) -> String {
    if text.chars().count() <= LABEL_CHARS {
        text.to_string()
    } else {
        let kept: String = text.chars().take(LABEL_CHARS - 1).collect();
        format!("{kept}…")
    }
}

/// The graph; `agent_name` labels each box with who runs the step.
pub fn render(steps: &[Step], agent_name: impl Fn(&str) -> String) -> Markup {
    let places = layout(steps);
    let columns = places.iter().map(|(c, _)| c + 1).max().unwrap_or(1) as i64;
    let rows = places.iter().map(|(_, r)| r + 1).max().unwrap_or(1) as i64;
    let width = 2 * MARGIN + columns * BOX_WIDTH + (columns - 1) * COLUMN_GAP;
    let height = 2 * MARGIN + rows * BOX_HEIGHT + (rows - 1) * ROW_GAP;
    let position: HashMap<&str, (i64, i64)> = steps
        .iter()
        .zip(&places)
        .map(|(step, (column, row))| (step.id.as_str(), origin(*column, *row)))
        .collect();
    html! {
        figure.step-graph {
            svg viewBox={"0 0 " (width) " " (height)} width=(width) role="img" aria-labelledby="step-graph-title" {
                title #step-graph-title { (describe(steps)) }
                defs {
                    marker #step-arrow viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse" {
                        path.graph-arrow d="M 0 0 L 10 5 L 0 10 z" {}
                    }
                }
                @for step in steps {
                    @for dependency in &step.depends_on {
                        @if let (Some((fx, fy)), Some((tx, ty))) = (position.get(dependency.as_str()), position.get(step.id.as_str())) {
                            (edge((fx + BOX_WIDTH, fy + BOX_HEIGHT / 2), (*tx, ty + BOX_HEIGHT / 2)))
                        }
                    }
                }
                @for step in steps {
                    @if let Some((x, y)) = position.get(step.id.as_str()) {
                        g.graph-step {
                            rect.graph-box x=(x) y=(y) width=(BOX_WIDTH) height=(BOX_HEIGHT) rx="6" {}
                            text.graph-id x=(x + 10) y=(y + 19) { (shorten(&step.id)) }
                            text.graph-agent x=(x + 10) y=(y + 36) { (shorten(&agent_name(&step.agent))) }
                        }
                    }
                }
            }
        }
    }
}

/// A curve from a dependency's right edge to the waiting step's left edge.
fn edge(from: (i64, i64), to: (i64, i64)) -> Markup {
    let bend = (to.0 - from.0) / 2;
    let d = format!(
        "M {} {} C {} {}, {} {}, {} {}",
        from.0,
        from.1,
        from.0 + bend,
        from.1,
        to.0 - bend,
        to.1,
        to.0 - 2,
        to.1
    );
    html! { path.graph-edge d=(d) marker-end="url(#step-arrow)" {} }
}

/// The graph in words, for its accessible name.
fn describe(steps: &[Step]) -> String {
    let parts: Vec<String> = steps
        .iter()
        .map(|step| match step.depends_on.as_slice() {
            [] => format!("{} starts at once", step.id),
            waits => format!("{} waits for {}", step.id, waits.join(" and ")),
        })
        .collect();
    format!("Step graph: {}.", parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(id: &str, depends_on: &[&str]) -> Step {
        crate::workflows::test_step(id, "p", depends_on)
    }

    #[test]
    fn steps_sit_one_column_after_their_deepest_dependency() {
        let steps = vec![
            step("a", &[]),
            step("b", &[]),
            step("c", &["a"]),
            step("d", &["a", "c"]),
            step("e", &["b"]),
        ];
        assert_eq!(layout(&steps), vec![(0, 0), (0, 1), (1, 0), (2, 0), (1, 1)]);
        let looped = vec![step("x", &["y"]), step("y", &["x"])];
        assert_eq!(
            layout(&looped).len(),
            2,
            "a cycle is drawn, not followed forever"
        );
    }

    #[test]
    fn the_graph_draws_a_box_per_step_and_an_arrow_per_dependency() {
        let steps = vec![step("facts", &[]), step("brief", &["facts"])];
        let html =
            render(&steps, |_| "Writer <1> with a very long name indeed".into()).into_string();
        assert_eq!(html.matches("<rect").count(), 2);
        assert_eq!(html.matches("graph-edge").count(), 1);
        assert!(html.contains("Writer &lt;1&gt; with a ver…"));
        assert!(html.contains("brief waits for facts"));
        assert!(html.contains(r#"role="img""#));
    }
}
