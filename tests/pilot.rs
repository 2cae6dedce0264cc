//! The pilot evaluation through the real server: each metric equals SQL over
//! the raw rows of a crafted data set (a user who views analytics 1,000
//! times counts once); entered values are audited and bad input saves
//! nothing; a snapshot does not change when the data does; exports.

mod common;

use common::TestApp;
use common::runtime::{Api, member_api};
use hummbl::auth::Role;
use reqwest::Method;
use serde_json::{Value, json};

const PAGES: [&str; 8] = [
    "analytics-dashboard",
    "token-usage",
    "execution-monitor",
    "error-logs",
    "team-members",
    "api-keys",
    "workflow-scheduler",
    "notification-center",
];

async fn track(api: &Api, events: Vec<Value>) {
    for chunk in events.chunks(500) {
        let (status, body) = api
            .post("/api/telemetry/track", json!({"events": chunk}))
            .await;
        assert_eq!(status, 200, "{body}");
    }
}

fn views(page: &str, n: usize) -> Vec<Value> {
    (0..n)
        .map(|_| json!({"component": page, "action": "page_view", "properties": {"path": "/"}}))
        .collect()
}

fn metric<'a>(evaluation: &'a Value, id: &str) -> &'a Value {
    evaluation["metrics"]
        .as_array()
        .expect("metrics")
        .iter()
        .find(|m| m["id"] == id)
        .expect("metric")
}

/// Requests and 5xx answers of a page in one minute, as the instrumentation writes them.
async fn served(app: &TestApp, team: &str, page: &str, requests: f64, errors: f64) {
    let now = hummbl::storage::now_ms() - 120_000;
    for (name, value) in [("requests", requests), ("errors_5xx", errors)] {
        sqlx::query(
            "INSERT INTO component_metrics (id, team_id, component_id, metric_name, value, metadata, timestamp) \
             VALUES ($1, $2, $3, $4, $5, '{\"window\":\"1m\",\"source\":\"server\"}', $6)",
        )
        .bind(hummbl::storage::new_id())
        .bind(team)
        .bind(page)
        .bind(name)
        .bind(value)
        .bind(now)
        .execute(app.db.write())
        .await
        .expect("request statistics");
    }
}

async fn scalar(app: &TestApp, sql: &str, team: &str) -> f64 {
    sqlx::query_scalar::<_, f64>(sql)
        .bind(team)
        .fetch_one(app.db.read())
        .await
        .expect(sql)
}

#[tokio::test]
async fn each_metric_equals_sql_over_the_raw_rows() {
    let app = TestApp::spawn().await;
    let (owner, team) = common::runtime::owner_api(&app, "pilot-owner").await;
    let admin = member_api(&app, &team, "pilot-admin", Role::Admin).await;
    let member = member_api(&app, &team, "pilot-member", Role::Member).await;
    member_api(&app, &team, "pilot-viewer", Role::Viewer).await;

    // The owner opens analytics 1,000 times, the admin once (token usage);
    // the member only the error log; the viewer is not active at all.
    track(&owner, views("analytics-dashboard", 1000)).await;
    track(&admin, views("token-usage", 1)).await;
    track(&member, views("error-logs", 3)).await;
    let loads: Vec<Value> = (1..=40)
        .map(
            |i| json!({"component": PAGES[i % 8], "metric_name": "page_load_ms", "value": 100 * i}),
        )
        .collect();
    let (status, body) = owner
        .post("/api/telemetry/metrics", json!({"metrics": loads}))
        .await;
    assert_eq!(status, 200, "{body}");
    for page in PAGES.iter().take(6) {
        served(&app, &team, page, 50.0, 0.0).await;
    }
    served(&app, &team, "team-members", 100.0, 3.0).await;

    let (status, evaluation) = owner.get("/api/pilot").await;
    assert_eq!(status, 200, "{evaluation}");

    let analytics_users = scalar(
        &app,
        "SELECT CAST(COUNT(DISTINCT user_id) AS DOUBLE PRECISION) FROM user_actions WHERE team_id = $1 \
         AND action_type = 'page_view' AND component_id IN ('analytics-dashboard', 'token-usage')",
        &team,
    )
    .await;
    let active_users = scalar(
        &app,
        "SELECT CAST(COUNT(DISTINCT user_id) AS DOUBLE PRECISION) FROM user_actions WHERE team_id = $1",
        &team,
    )
    .await;
    assert_eq!(
        (analytics_users, active_users),
        (2.0, 3.0),
        "users, not rows"
    );
    let adoption = metric(&evaluation, "user_adoption");
    assert_eq!(adoption["actual"], analytics_users * 100.0 / active_users);
    assert_eq!(adoption["passed"], true, "66.7 % ≥ 60 %");

    let mut values: Vec<f64> = sqlx::query_scalar(
        "SELECT value FROM component_metrics WHERE team_id = $1 AND metric_name = 'page_load_ms'",
    )
    .bind(&team)
    .fetch_all(app.db.read())
    .await
    .expect("loads");
    values.sort_by(f64::total_cmp);
    let p75 = values[(values.len() * 3).div_ceil(4) - 1];
    assert_eq!(metric(&evaluation, "performance")["actual"], p75);
    assert_eq!(metric(&evaluation, "performance")["passed"], p75 <= 1000.0);

    let requests = scalar(
        &app,
        "SELECT SUM(value) FROM component_metrics WHERE team_id = $1 AND metric_name = 'requests'",
        &team,
    )
    .await;
    let errors = scalar(
        &app,
        "SELECT SUM(value) FROM component_metrics WHERE team_id = $1 AND metric_name = 'errors_5xx'",
        &team,
    )
    .await;
    assert_eq!(
        metric(&evaluation, "error_rate")["actual"],
        errors * 100.0 / requests
    );
    assert_eq!(
        metric(&evaluation, "error_rate")["passed"],
        true,
        "3 of 400 is 0.75 %, within 1 %"
    );

    // Served without errors: the first six pages by requests, less
    // team-members, which also had 5xx; the scheduler and the notification
    // center were never served.
    let pages = metric(&evaluation, "pages_built");
    assert_eq!(pages["actual"], 5.0, "{pages}");
    let detail = pages["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("team-members: served with server errors"),
        "{detail}"
    );
    assert!(
        detail.contains("workflow-scheduler: not served in the window"),
        "{detail}"
    );
    for id in ["build_hours", "code_reuse"] {
        assert!(
            metric(&evaluation, id)["actual"].is_null(),
            "not measured until entered"
        );
        assert_eq!(metric(&evaluation, id)["passed"], false);
    }
    assert_eq!(evaluation["passed"], 2, "adoption and the error rate");
    assert_eq!(evaluation["decision"], "PIVOT");
    app.stop().await;
}

#[tokio::test]
async fn entered_values_are_audited_and_bad_input_saves_nothing() {
    let app = TestApp::spawn().await;
    let (owner, team) = common::runtime::owner_api(&app, "pilot-put").await;
    let member = member_api(&app, &team, "pilot-put-member", Role::Member).await;
    let (_, before) = owner.get("/api/pilot").await;
    for (body, field) in [
        (
            json!({"window": {"start": "2027-02-01", "end": "2027-01-01"}}),
            Some("window.end"),
        ),
        (
            json!({"window": {"start": "2027-01-01", "end": "2028-06-01"}}),
            Some("window.end"),
        ),
        (
            json!({"build_hours": {"value": -4, "source": "export"}}),
            Some("build_hours.value"),
        ),
        (
            json!({"code_reuse": {"value": 50, "source": "  "}}),
            Some("code_reuse.source"),
        ),
        (
            json!({"code_reuse": {"value": "lots", "source": "guess"}}),
            None,
        ),
        (
            json!({"window": {"start": "2027-01-01", "end": "2027-01-31"}, "build_hours": {"value": -1, "source": "x"}}),
            Some("build_hours.value"),
        ),
    ] {
        let (status, answer) = owner
            .send(Method::PUT, "/api/pilot", Some(body.clone()))
            .await;
        assert_eq!(status, 422, "{body} → {answer}");
        if let Some(field) = field {
            assert_eq!(answer["error"]["field"], field, "{answer}");
        }
    }
    let (_, after) = owner.get("/api/pilot").await;
    assert_eq!(after["window"], before["window"], "nothing was saved");
    let (status, _) = member
        .send(
            Method::PUT,
            "/api/pilot",
            Some(json!({"build_hours": {"value": 1, "source": "x"}})),
        )
        .await;
    assert_eq!(status, 403);

    let (status, saved) = owner
        .send(
            Method::PUT,
            "/api/pilot",
            Some(
                json!({"build_hours": {"value": 96, "source": "Harvest export, pilot project"},
                        "window": {"start": "2027-01-01", "end": "2027-01-31"}}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(
        saved["window"],
        json!({"start": "2027-01-01", "end": "2027-01-31"})
    );
    let hours = metric(&saved, "build_hours");
    assert_eq!(hours["actual"], 96.0);
    assert_eq!(hours["passed"], true);
    assert!(
        hours["source"]
            .as_str()
            .is_some_and(|s| s.contains("Harvest export"))
    );
    assert!(
        hours["detail"]
            .as_str()
            .is_some_and(|d| d.contains("entered by")),
        "{hours}"
    );
    let audited: Vec<String> = sqlx::query_scalar(
        "SELECT detail FROM audit_log WHERE team_id = $1 AND action = 'pilot.updated'",
    )
    .bind(&team)
    .fetch_all(app.db.read())
    .await
    .expect("audit");
    assert_eq!(audited.len(), 1, "one change, one entry; refusals none");
    assert!(audited[0].contains("Harvest export"));
    app.stop().await;
}

#[tokio::test]
async fn a_snapshot_stays_as_frozen_and_exports() {
    let app = TestApp::spawn().await;
    let (owner, team) = common::runtime::owner_api(&app, "pilot-freeze").await;
    let viewer = member_api(&app, &team, "pilot-freeze-viewer", Role::Viewer).await;
    let (status, frozen) = owner.post("/api/pilot/snapshots", json!({})).await;
    assert_eq!(status, 201, "{frozen}");
    let id = frozen["id"].as_str().expect("id").to_string();
    assert_eq!(
        metric(&frozen["evaluation"], "user_adoption")["actual"],
        Value::Null
    );

    // Later data moves the live evaluation, not the snapshot.
    track(&owner, views("analytics-dashboard", 2)).await;
    let (_, live) = owner.get("/api/pilot").await;
    assert_eq!(metric(&live, "user_adoption")["actual"], 100.0);
    let (status, again) = viewer.get(&format!("/api/pilot/snapshots/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(again["evaluation"], frozen["evaluation"]);
    let (status, _) = viewer.post("/api/pilot/snapshots", json!({})).await;
    assert_eq!(status, 403, "viewers read, admins freeze");

    let (_, list) = owner.get("/api/pilot/snapshots").await;
    assert_eq!(list["snapshots"].as_array().map(Vec::len), Some(1));
    for (format, kind, needle) in [
        ("markdown", "text/markdown", "# Pilot evaluation: PIVOT"),
        ("csv", "text/csv", "pages_built"),
        ("json", "application/json", "\"evaluation\""),
    ] {
        let response = owner
            .client
            .get(format!(
                "{}/api/pilot/snapshots/{id}/export?format={format}",
                owner.base
            ))
            .header("cookie", &owner.cookie)
            .send()
            .await
            .expect("export");
        assert_eq!(response.status(), 200);
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(content_type.starts_with(kind), "{content_type}");
        assert!(response.text().await.expect("body").contains(needle));
    }
    let (status, _) = owner
        .get(&format!("/api/pilot/snapshots/{id}/export?format=pdf"))
        .await;
    assert_eq!(status, 422);
    let (status, _) = owner.get("/api/pilot/snapshots/no-such-snapshot").await;
    assert_eq!(status, 404);
    app.stop().await;
}

#[tokio::test]
async fn the_page_form_saves_and_a_refusal_comes_back_beside_its_field() {
    let app = TestApp::spawn().await;
    let (owner, _) = common::runtime::owner_api(&app, "pilot-form").await;
    let targets = [
        ("targets.pages_built", "8"),
        ("targets.build_hours", "120"),
        ("targets.code_reuse", "70"),
        ("targets.user_adoption", "60"),
        ("targets.performance", "800"),
        ("targets.error_rate", "1"),
    ];
    let mut backwards = vec![("window_start", "2027-02-01"), ("window_end", "2027-01-01")];
    backwards.extend(targets);
    let (status, page) = owner.form_page("/pilot", &backwards).await;
    assert_eq!(status, 422);
    assert!(
        page.contains("must not be before the start"),
        "beside its field"
    );
    let (_, unchanged) = owner.get("/api/pilot").await;
    assert_eq!(
        metric(&unchanged, "performance")["target"],
        1000.0,
        "nothing saved"
    );

    let mut good = vec![
        ("window_start", "2027-01-01"),
        ("window_end", "2027-01-31"),
        ("code_reuse.value", "72"),
        ("code_reuse.source", "Component analysis, January"),
    ];
    good.extend(targets);
    let (status, location) = owner.post_form("/pilot", &good).await;
    assert_eq!((status, location.as_str()), (303, "/pilot?saved=1"));
    let (_, saved) = owner.get("/api/pilot").await;
    assert_eq!(metric(&saved, "performance")["target"], 800.0);
    assert_eq!(metric(&saved, "code_reuse")["actual"], 72.0);
    assert_eq!(saved["window"]["end"], "2027-01-31");
    let (status, html) = owner.page("/pilot?saved=1").await;
    assert_eq!(status, 200);
    assert!(html.contains("Saved.") && html.contains("Component analysis, January"));
    let (status, _) = owner.post_form("/pilot/snapshots", &[]).await;
    assert_eq!(status, 303);
    let (_, list) = owner.get("/api/pilot/snapshots").await;
    assert_eq!(list["snapshots"].as_array().map(Vec::len), Some(1));
    app.stop().await;
}
