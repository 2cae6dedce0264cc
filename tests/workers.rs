//! Pins down that the background workers run in a served process, not only when
//! a test calls their ticks: the server is started with short periods and every
//! worker of the table is seen ticking through `/metrics`; old telemetry is
//! pruned and finished request minutes are written without anybody calling a
//! tick. (Retention and the request-statistics flush were once written, unit
//! tested, and never started.)

mod common;

use std::time::Duration;

use common::TestApp;
use hummbl::config::WorkerPeriods;

/// The workers a `--demo` server must run, written apart from `workers::table`
/// so that a row dropped from the table fails here.
const EXPECTED: [&str; 10] = [
    "maintenance",
    "request-stats",
    "retention",
    "runner",
    "scheduler",
    "mail",
    "otlp",
    "alerts",
    "digests",
    "demo-live",
];

fn short_periods() -> WorkerPeriods {
    let fast = Duration::from_millis(40);
    WorkerPeriods {
        maintenance: fast,
        request_stats: fast,
        retention: fast,
        first_retention: fast,
        runner_poll: fast,
        demo: fast,
        scheduler_poll: fast,
        schedule_on_time: Duration::from_secs(60),
        mail_poll: fast,
        mail_retry: Default::default(),
        alerts: fast,
        digests: fast,
        otlp: fast,
    }
}

/// `hummbl_worker_ticks_total{worker="NAME"}` as exported now.
async fn ticks(app: &TestApp, worker: &str) -> u64 {
    let text = app.metrics_text().await;
    let series = format!("hummbl_worker_ticks_total{{worker=\"{worker}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&series))
        .map(|value| value.trim().parse().expect("a counter value"))
        .unwrap_or(0)
}

/// Polls `check` every 20 ms until it holds, failing after `within`.
async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn every_listed_worker_ticks_in_a_served_process() {
    let app = TestApp::spawn_with(|config| {
        config.demo = true;
        config.workers = short_periods();
    })
    .await;
    let listed: Vec<&str> = hummbl::workers::table(&app.state)
        .iter()
        .map(|worker| worker.name)
        .collect();
    assert_eq!(listed, EXPECTED, "the worker table changed");
    for worker in EXPECTED {
        eventually(
            Duration::from_secs(20),
            &format!("worker {worker} never ticked twice"),
            || async { ticks(&app, worker).await >= 2 },
        )
        .await;
    }
    app.stop().await;
}

#[tokio::test]
async fn without_demo_the_demo_worker_is_not_listed() {
    let app = TestApp::spawn().await;
    let listed: Vec<&str> = hummbl::workers::table(&app.state)
        .iter()
        .map(|worker| worker.name)
        .collect();
    assert_eq!(listed, EXPECTED[..EXPECTED.len() - 1]);
    app.stop().await;
}

#[tokio::test]
async fn retention_and_request_statistics_run_on_their_own() {
    let app = TestApp::spawn_with(|config| {
        config.telemetry.retention_days = 30;
        config.notification_retention_days = 180;
        config.workers = short_periods();
    })
    .await;
    let now = hummbl::storage::now_ms();
    let day = 86_400_000;
    // Notifications: read ones past 180 days go, unread ones stay until read.
    let (user, team) = app
        .user(
            "kept@example.com",
            "kept-password-1",
            None,
            hummbl::auth::Role::Owner,
        )
        .await;
    for (id, age_days, read_at) in [
        ("n-old-read", 200, Some(now)),
        ("n-old-unread", 200, None),
        ("n-recent-read", 10, Some(now)),
    ] {
        sqlx::query(
            "INSERT INTO notifications (id, user_id, type, title, message, link, read, created_at, team_id, read_at) \
             VALUES ($1, $2, 'execution_failed', 'x', '', NULL, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(&user)
        .bind(read_at.is_some())
        .bind(now - age_days * day)
        .bind(&team)
        .bind(read_at)
        .execute(app.db.write())
        .await
        .expect("insert a notification");
    }
    for (id, age_days) in [("old-1", 45), ("old-2", 31), ("recent", 29)] {
        sqlx::query(
            "INSERT INTO user_actions (id, action_type, component_id, timestamp) \
             VALUES ($1, 'view', 'console', $2)",
        )
        .bind(id)
        .bind(now - age_days * day)
        .execute(app.db.write())
        .await
        .expect("insert an action");
    }
    // A request counted two minutes ago: its minute is finished.
    app.state.request_stats.record(
        None,
        "console",
        false,
        Duration::from_millis(7),
        now - 120_000,
    );

    let remaining = || async {
        sqlx::query_scalar::<_, String>("SELECT id FROM user_actions ORDER BY id")
            .fetch_all(app.db.read())
            .await
            .expect("actions")
    };
    eventually(
        Duration::from_secs(20),
        "old actions were never pruned",
        || async { remaining().await == ["recent"] },
    )
    .await;
    let kept = || async {
        sqlx::query_scalar::<_, String>("SELECT id FROM notifications ORDER BY id")
            .fetch_all(app.db.read())
            .await
            .expect("notifications")
    };
    eventually(
        Duration::from_secs(20),
        "old read notifications were never pruned",
        || async { kept().await == ["n-old-unread", "n-recent-read"] },
    )
    .await;
    eventually(
        Duration::from_secs(20),
        "the finished minute was never written",
        || async {
            let requests: Option<f64> = sqlx::query_scalar(
                "SELECT value FROM component_metrics \
                 WHERE component_id = 'console' AND metric_name = 'requests' AND team_id IS NULL",
            )
            .fetch_optional(app.db.read())
            .await
            .expect("request metric");
            requests == Some(1.0)
        },
    )
    .await;
    app.stop().await;
}
