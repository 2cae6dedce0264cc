//! The demo team's pilot: request statistics and page loads for the eight
//! pages over the history's days (as the request instrumentation and the
//! browser SDK would have written them; one hour's requests per row), a few
//! server errors on the execution monitor, and example entered values. So
//! `/pilot` is alive on the first run, labelled as sample data.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::audit::Actor;
use crate::pilot::{Changes, PAGES};
use crate::storage::sql::{Value, insert_rows};
use crate::storage::{Db, new_id};

const HOUR_MS: i64 = 3_600_000;
const METRIC_HEAD: &str = "INSERT INTO component_metrics (id, team_id, component_id, metric_name, value, metadata, user_id, timestamp)";
const METRIC_COLUMNS: usize = 8;
const ROWS_PER_STATEMENT: usize = 1_000;

fn row(team_id: &str, page: &str, name: &str, value: f64, at: i64) -> Vec<Value> {
    vec![
        Value::Text(Some(new_id())),
        Value::Text(Some(team_id.to_string())),
        Value::Text(Some(page.to_string())),
        Value::Text(Some(name.to_string())),
        Value::Float(Some(value)),
        Value::Text(Some(r#"{"source":"demo"}"#.to_string())),
        Value::Text(None),
        Value::Int(Some(at)),
    ]
}

/// Writes the pages' telemetry for the `days` days up to `end_ms`, and the
/// entered values.
pub async fn seed(
    db: &Db,
    team_id: &str,
    owner: &str,
    end_ms: i64,
    days: i64,
) -> anyhow::Result<()> {
    let mut rng = StdRng::seed_from_u64(8);
    let first_hour = crate::analytics::rollups::day_of(end_ms) - (days - 1) * 86_400_000;
    let mut rows: Vec<Value> = Vec::new();
    let mut hour = first_hour;
    while hour < end_ms - HOUR_MS {
        let busy = (9..19).contains(&((hour / HOUR_MS) % 24));
        for page in PAGES {
            let page = page.as_str();
            let requests = if busy {
                rng.random_range(4..30)
            } else {
                rng.random_range(0..3)
            };
            if requests == 0 {
                continue;
            }
            // The execution monitor had a bad afternoon: a few 5xx.
            let errors = if page == "execution-monitor" && rng.random::<f64>() < 0.02 {
                1
            } else {
                0
            };
            rows.extend(row(team_id, page, "requests", f64::from(requests), hour));
            rows.extend(row(team_id, page, "errors_5xx", f64::from(errors), hour));
            if busy && rng.random::<f64>() < 0.5 {
                // Most loads are quick; the token usage page is the slowest.
                let slow = if page == "token-usage" { 1.6 } else { 1.0 };
                let load: f64 = rng.random_range(280.0..900.0) * slow
                    + if rng.random::<f64>() < 0.08 {
                        1500.0
                    } else {
                        0.0
                    };
                rows.extend(row(
                    team_id,
                    page,
                    "page_load_ms",
                    load.round(),
                    hour + rng.random_range(0..HOUR_MS),
                ));
            }
        }
        hour += HOUR_MS;
    }
    let mut tx = db.begin().await?;
    for chunk in rows.chunks(ROWS_PER_STATEMENT * METRIC_COLUMNS) {
        insert_rows(db, &mut tx, METRIC_HEAD, METRIC_COLUMNS, chunk.to_vec()).await?;
    }
    tx.commit().await?;
    let changes = Changes {
        build_hours: Some((
            96.0,
            "Example: the team's time-tracking export for the pilot (sample data)".into(),
        )),
        code_reuse: Some((
            74.0,
            "Example: component analysis of the eight pages (sample data)".into(),
        )),
        ..Changes::default()
    };
    crate::pilot::change(db, Actor::user(team_id, owner), &changes).await?;
    Ok(())
}
