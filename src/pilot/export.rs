//! A snapshot as a file for the review meeting: Markdown, CSV or JSON.

use super::{Evaluation, Metric, Snapshot};
use crate::web::layout::utc_date;

/// The formats a snapshot exports to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Markdown,
    Csv,
    Json,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Markdown => "text/markdown; charset=utf-8",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Json => "application/json",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Markdown => "md",
            Format::Csv => "csv",
            Format::Json => "json",
        }
    }
}

/// A measured value as the page and the files show it.
pub fn actual_text(metric: &Metric) -> String {
    match metric.actual {
        None => "not measured".into(),
        Some(value) if metric.unit == "pages" => format!("{value:.0} of 8"),
        Some(value) if metric.unit == "%" => format!("{value:.1} %"),
        Some(value) => format!("{value:.0} {}", metric.unit),
    }
}

/// Markdown cells may not hold a raw `|` or a line break.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

pub fn markdown(snapshot: &Snapshot) -> String {
    let evaluation = &snapshot.evaluation;
    let mut out = format!(
        "# Pilot evaluation: {}\n\nWindow {} to {} (UTC). Frozen {} by {}.\n\n**{} of 6 passed: {}.** {}\n\n",
        evaluation.decision.as_str(),
        evaluation.window.start,
        evaluation.window.end,
        utc_date(snapshot.frozen_at),
        snapshot.frozen_by.as_deref().unwrap_or("a former member"),
        evaluation.passed,
        evaluation.decision.as_str(),
        evaluation.rule
    );
    out.push_str(
        "| Metric | Target | Actual | Passed | How it is computed |\n|---|---|---|---|---|\n",
    );
    for metric in &evaluation.metrics {
        let mut source = metric.source.clone();
        if let Some(detail) = &metric.detail {
            source.push_str(&format!(" ({detail})"));
        }
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            cell(&metric.name),
            cell(&metric.target_text),
            cell(&actual_text(metric)),
            if metric.passed { "yes" } else { "no" },
            cell(&source)
        ));
    }
    out
}

pub const CSV_HEADER: [&str; 8] = [
    "metric", "name", "target", "actual", "unit", "passed", "source", "detail",
];

/// One CSV record per metric (for `web::format::csv_attachment`).
pub fn csv_records(evaluation: &Evaluation) -> Vec<Vec<String>> {
    evaluation
        .metrics
        .iter()
        .map(|metric| {
            vec![
                metric.id.as_str().to_string(),
                metric.name.clone(),
                metric.target.to_string(),
                metric.actual.map(|v| v.to_string()).unwrap_or_default(),
                metric.unit.clone(),
                metric.passed.to_string(),
                metric.source.clone(),
                metric.detail.clone().unwrap_or_default(),
            ]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pilot::Settings;
    use crate::pilot::measure::{Inputs, evaluation};

    #[test]
    fn markdown_and_csv_carry_every_metric() {
        let snapshot = Snapshot {
            id: "s-1".into(),
            frozen_at: 0,
            frozen_by: Some("Ada | Ops".into()),
            evaluation: evaluation(&Settings::default_at(0), &Inputs::default(), 0),
        };
        let text = markdown(&snapshot);
        assert!(text.starts_with("# Pilot evaluation: PIVOT"));
        assert!(
            text.contains("by Ada | Ops"),
            "the heading line is not a table"
        );
        assert_eq!(text.matches("| no |").count(), 6);
        let records = csv_records(&snapshot.evaluation);
        assert_eq!(records.len(), 6);
        assert!(
            records
                .iter()
                .all(|record| record.len() == CSV_HEADER.len())
        );
        assert_eq!(records[0][0], "pages_built");
    }
}
