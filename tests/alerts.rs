//! Alert rules through the real server, runner, fake provider and `alerts`
//! worker: each kind fires once per breach and resolves when it clears; the
//! notifications reach the admins and the rule's author only; two replicas
//! checking the same rules fire each breach once; a rule with e-mail on
//! mails its firing to a real SMTP server; bad input is refused.

mod common;

use std::time::Duration;

use common::TestApp;
use common::fake_provider::{FakeProvider, GOOD_KEY};
use common::runtime::{Api, fast_retries, member_api, owner_api, parked_execution};
use common::smtp::{SmtpServer, mail_to};
use hummbl::auth::Role;
use reqwest::Method;
use serde_json::{Value, json};

fn quick_alerts(config: &mut hummbl::config::Config) {
    fast_retries(config);
    config.workers.alerts = Duration::from_millis(50);
}

/// A one-step workflow whose outcome the run's input decides: `{"p": "[fail:400] x"}` fails.
async fn flaky(api: &Api, fake: &common::fake_provider::Running) -> String {
    let key = api
        .provider_key("openai", &fake.openai_base(), GOOD_KEY)
        .await;
    let agent = api.agent("Flaky", "openai", "gpt-4o-mini", &key).await;
    api.workflow(
        "Flaky",
        json!([{"id": "only", "agent": agent, "prompt": "{{input.p}}"}]),
    )
    .await
}

async fn run(api: &Api, workflow: &str, fail: bool) -> Value {
    let prompt = if fail { "[fail:400] go" } else { "go" };
    let id = api.run(workflow, json!({"p": prompt})).await;
    api.wait_finished(&id).await
}

async fn rule(api: &Api, name: &str, condition: Value) -> String {
    let created = api
        .expect_post(
            "/api/alerts",
            json!({"name": name, "condition": condition}),
            201,
        )
        .await;
    assert_eq!(created["state"], "ok", "{created}");
    created["id"].as_str().expect("id").to_string()
}

/// Waits until the rule is in `state`; returns it.
async fn settles(api: &Api, id: &str, state: &str) -> Value {
    until(api, id, state, |rule| rule["state"] == state).await
}

/// Waits until `holds` for the rule (described by `what`); returns it.
async fn until(api: &Api, id: &str, what: &str, holds: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (status, rule) = api.get(&format!("/api/alerts/{id}")).await;
        assert_eq!(status, 200, "{rule}");
        if holds(&rule) {
            return rule;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "rule never became {what}: {rule:#}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Lets the worker check every rule several more times.
async fn a_few_checks() {
    tokio::time::sleep(Duration::from_millis(400)).await;
}

#[tokio::test]
async fn each_kind_fires_once_per_breach_and_resolves_when_it_clears() {
    let app = TestApp::spawn_with(quick_alerts).await;
    let fake = FakeProvider::start().await;
    let (owner, team) = owner_api(&app, "alerts-owner").await;
    let admin = member_api(&app, &team, "alerts-admin", Role::Admin).await;
    let member = member_api(&app, &team, "alerts-member", Role::Member).await;
    let workflow = flaky(&owner, &fake).await;

    let streak = rule(
        &admin,
        "Flaky keeps failing",
        json!({"kind": "consecutive_failures", "workflow_id": workflow, "failures": 2}),
    )
    .await;
    let rate = rule(
        &admin,
        "Flaky error rate",
        json!({"kind": "error_rate", "workflow_id": workflow, "threshold_percent": 50,
               "window_minutes": 60, "min_executions": 2}),
    )
    .await;
    let spend = rule(
        &admin,
        "Budget",
        json!({"kind": "spend", "budget_micros": 1_000_000_000}),
    )
    .await;
    let slow = rule(
        &admin,
        "Stuck runs",
        json!({"kind": "long_running", "minutes": 5}),
    )
    .await;

    // One failure: no streak of 2 yet, and too few executions for the rate.
    run(&owner, &workflow, true).await;
    a_few_checks().await;
    assert_eq!(settles(&admin, &streak, "ok").await["fired_count"], 0);
    let quiet = settles(&admin, &rate, "ok").await;
    assert!(
        quiet["last_summary"]
            .as_str()
            .is_some_and(|s| s.contains("fewer than the 2")),
        "{quiet}"
    );

    // A second failure breaks both limits: each fires once, however often checked.
    run(&owner, &workflow, true).await;
    let fired = settles(&admin, &streak, "firing").await;
    assert!(
        fired["last_summary"]
            .as_str()
            .is_some_and(|s| s.contains("failed 2 times in a row")),
        "{fired}"
    );
    settles(&admin, &rate, "firing").await;
    a_few_checks().await;
    for id in [&streak, &rate] {
        let (_, checked) = admin.get(&format!("/api/alerts/{id}")).await;
        assert_eq!(checked["fired_count"], 1, "{checked}");
    }
    for who in [&owner, &admin] {
        let mut titles = who.told("alert_fired").await;
        titles.sort();
        assert_eq!(
            titles,
            ["Alert: Flaky error rate", "Alert: Flaky keeps failing"],
            "admins and owners hear once per breach"
        );
    }
    assert!(
        member.told("alert_fired").await.is_empty(),
        "a member who wrote no rule"
    );

    // Three successes: the streak is broken and the rate is 2 of 5.
    for _ in 0..3 {
        run(&owner, &workflow, false).await;
    }
    settles(&admin, &streak, "ok").await;
    let cleared = until(&admin, &rate, "2 of 5", |rule| rule["last_value"] == 40.0).await;
    assert_eq!(cleared["state"], "ok", "{cleared}");
    let mut resolved = admin.told("alert_resolved").await;
    resolved.sort();
    assert_eq!(
        resolved,
        [
            "Resolved: Flaky error rate",
            "Resolved: Flaky keeps failing"
        ]
    );
    let (status, events) = admin.get(&format!("/api/alerts/{streak}/events")).await;
    assert_eq!(status, 200, "{events}");
    let events = events["events"].as_array().expect("events");
    assert_eq!(events.len(), 1, "one firing: {events:?}");
    assert!(events[0]["resolved_at"].is_i64());

    // Spend: a budget below what the runs cost fires; raising it resolves.
    let (status, lowered) = admin
        .send(
            Method::PATCH,
            &format!("/api/alerts/{spend}"),
            Some(json!({"condition": {"kind": "spend", "budget_micros": 1}})),
        )
        .await;
    assert_eq!(status, 200, "{lowered}");
    let over = settles(&admin, &spend, "firing").await;
    assert!(
        over["last_value"].as_f64().is_some_and(|v| v > 1.0),
        "{over}"
    );
    admin
        .send(
            Method::PATCH,
            &format!("/api/alerts/{spend}"),
            Some(json!({"condition": {"kind": "spend", "budget_micros": 1_000_000_000, "projected": true}})),
        )
        .await;
    settles(&admin, &spend, "ok").await;

    // Long running: an execution running for 10 minutes fires, its end resolves.
    let stuck = parked_execution(&app.db, &team, &workflow, "running").await;
    sqlx::query("UPDATE executions SET started_at = $1 WHERE id = $2")
        .bind(hummbl::storage::now_ms() - 10 * 60_000)
        .bind(&stuck)
        .execute(app.db.write())
        .await
        .expect("backdate");
    let long = settles(&admin, &slow, "firing").await;
    assert!(
        long["last_summary"]
            .as_str()
            .is_some_and(|s| s.contains("1 execution has been running longer than 5 min")),
        "{long}"
    );
    let (_, list) = admin.get("/api/notifications?type=alert_fired").await;
    let newest = &list["notifications"][0];
    assert_eq!(newest["title"], "Alert: Stuck runs");
    assert_eq!(newest["link"], format!("/monitor/{stuck}"));
    sqlx::query("UPDATE executions SET status = 'failed', completed_at = $1 WHERE id = $2")
        .bind(hummbl::storage::now_ms())
        .bind(&stuck)
        .execute(app.db.write())
        .await
        .expect("end it");
    settles(&admin, &slow, "ok").await;
    for id in [&spend, &slow] {
        let (_, checked) = admin.get(&format!("/api/alerts/{id}")).await;
        assert_eq!(checked["fired_count"], 1, "{checked}");
    }
    app.stop().await;
}

#[tokio::test]
async fn two_replicas_fire_a_breach_once_and_state_survives_a_restart() {
    let app = TestApp::spawn_with(quick_alerts).await;
    let second = app.replica().await;
    let fake = FakeProvider::start().await;
    let (owner, team) = owner_api(&app, "replicas-owner").await;
    let workflow = flaky(&owner, &fake).await;
    let mut rules = Vec::new();
    for n in 0..5 {
        rules.push(
            rule(
                &owner,
                &format!("Streak {n}"),
                json!({"kind": "consecutive_failures", "workflow_id": workflow, "failures": 1}),
            )
            .await,
        );
    }
    run(&owner, &workflow, true).await;
    for id in &rules {
        settles(&owner, id, "firing").await;
    }
    a_few_checks().await;
    assert_eq!(
        owner.told("alert_fired").await.len(),
        5,
        "five rules, two replicas: five notifications"
    );
    let events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM alert_events WHERE team_id = $1")
        .bind(&team)
        .fetch_one(app.db.read())
        .await
        .expect("count");
    assert_eq!(events, 5);
    second.stop().await;

    // A restart keeps the state: nothing fires again.
    let app = app.restart(|_| async {}).await;
    let owner = Api {
        base: app.base.clone(),
        ..owner
    };
    a_few_checks().await;
    for id in &rules {
        let (_, checked) = owner.get(&format!("/api/alerts/{id}")).await;
        assert_eq!(checked["state"], "firing");
        assert_eq!(checked["fired_count"], 1, "{checked}");
    }
    assert_eq!(owner.told("alert_fired").await.len(), 5);
    app.stop().await;
}

#[tokio::test]
async fn a_rule_with_email_mails_its_firing_once() {
    let Some(server) = SmtpServer::start().await else {
        return;
    };
    let app = TestApp::spawn_with(|config| {
        quick_alerts(config);
        mail_to(&server)(config);
    })
    .await;
    let fake = FakeProvider::start().await;
    let (owner, _) = owner_api(&app, "mailed-owner").await;
    let workflow = flaky(&owner, &fake).await;
    let created = owner
        .expect_post(
            "/api/alerts",
            json!({"name": "Mailed streak", "email": true,
                   "condition": {"kind": "consecutive_failures", "workflow_id": workflow, "failures": 1}}),
            201,
        )
        .await;
    let id = created["id"].as_str().expect("id");
    run(&owner, &workflow, true).await;
    settles(&owner, id, "firing").await;
    let received = server.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(received.len(), 1, "one mail");
    let mail = &received[0];
    assert!(
        mail.header("Subject").contains("Alert: Mailed streak"),
        "{}",
        mail.header("Subject")
    );
    assert!(
        mail.text().contains("failed 1 time in a row"),
        "{}",
        mail.text()
    );
    assert!(mail.html().contains("Open it in HUMMBL"));
    a_few_checks().await;
    assert_eq!(server.received().len(), 1, "and only one");
    app.stop().await;
}

#[tokio::test]
async fn bad_rules_are_refused_naming_the_field_and_viewers_cannot_write() {
    let app = TestApp::spawn().await;
    let (owner, team) = owner_api(&app, "bad-alerts").await;
    let viewer = member_api(&app, &team, "bad-alerts-viewer", Role::Viewer).await;
    let member = member_api(&app, &team, "bad-alerts-member", Role::Member).await;
    let cases = [
        (json!({"name": "x", "condition": {"kind": "cpu"}}), None),
        (
            json!({"name": "", "condition": {"kind": "spend", "budget_micros": 5}}),
            Some("name"),
        ),
        (
            json!({"name": "x", "condition": {"kind": "error_rate", "threshold_percent": 0,
                   "window_minutes": 60, "min_executions": 1}}),
            Some("condition.threshold_percent"),
        ),
        (
            json!({"name": "x", "condition": {"kind": "long_running", "minutes": 0}}),
            Some("condition.minutes"),
        ),
        (
            json!({"name": "x", "condition": {"kind": "consecutive_failures",
                   "workflow_id": "no-such-workflow", "failures": 3}}),
            Some("condition.workflow_id"),
        ),
        (
            json!({"name": "x", "condition": {"kind": "spend", "budget_micros": 5}, "extra": 1}),
            None,
        ),
    ];
    for (body, field) in cases {
        let (status, answer) = owner.post("/api/alerts", body.clone()).await;
        assert_eq!(status, 422, "{body} → {answer}");
        if let Some(field) = field {
            assert_eq!(answer["error"]["field"], field, "{answer}");
        }
    }
    let good = json!({"name": "Budget", "condition": {"kind": "spend", "budget_micros": 5}});
    for who in [&viewer, &member] {
        let (status, _) = who.post("/api/alerts", good.clone()).await;
        assert_eq!(status, 403);
    }
    let (_, list) = owner.get("/api/alerts").await;
    assert_eq!(list["alerts"], json!([]), "nothing was saved");
    let (status, _) = owner.get("/api/alerts/not-a-rule").await;
    assert_eq!(status, 404);
    let (status, _) = owner
        .send(Method::DELETE, "/api/alerts/not-a-rule", None)
        .await;
    assert_eq!(status, 404);
    let created = owner.expect_post("/api/alerts", good, 201).await;
    let id = created["id"].as_str().expect("id");
    let (status, _) = viewer.get(&format!("/api/alerts/{id}")).await;
    assert_eq!(status, 200, "everyone reads the rules");
    let (status, _) = owner.get(&format!("/api/alerts/{id}/events?limit=0")).await;
    assert_eq!(status, 422);
    let (status, _) = owner
        .send(Method::DELETE, &format!("/api/alerts/{id}"), None)
        .await;
    assert_eq!(status, 204);
    app.stop().await;
}
