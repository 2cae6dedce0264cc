//! T4 Observation against the real server: ingestion by session and by
//! ingestion key (with CORS), validation answers, automatic registration of
//! unknown components, the metrics query, request instrumentation, the live
//! stream with resume, back-pressure, and retention.

mod common;

use std::time::Duration;

use common::read_frames;
use common::{TestApp, client};
use futures_util::StreamExt;
use hummbl::auth::Role;
use serde_json::{Value, json};

async fn owner_session(app: &TestApp, tag: &str) -> (String, String, String) {
    let (user, team) = app
        .user(
            &format!("{tag}@example.com"),
            "owner-password-1",
            None,
            Role::Owner,
        )
        .await;
    let cookie = app.session_cookie(&user, &team).await;
    (user, team, cookie)
}

async fn new_key(app: &TestApp, cookie: &str, origins: &[&str]) -> (String, String) {
    let created: Value = client()
        .post(app.url("/api/ingestion-keys"))
        .header("cookie", cookie)
        .json(&json!({"name": "storefront", "allowed_origins": origins}))
        .send()
        .await
        .expect("create key")
        .json()
        .await
        .expect("json");
    (
        created["id"].as_str().expect("id").to_string(),
        created["key"].as_str().expect("key").to_string(),
    )
}

async fn count(app: &TestApp, sql: &str, bind: &str) -> i64 {
    sqlx::query_scalar(sql)
        .bind(bind)
        .fetch_one(app.db.read())
        .await
        .expect("count")
}

#[tokio::test]
async fn console_events_are_stored_after_commit_with_the_sessions_identity() {
    let app = TestApp::spawn().await;
    let (user, team, cookie) = owner_session(&app, "ada").await;
    let client = client();
    let one = client
        .post(app.url("/api/telemetry/track"))
        .header("cookie", &cookie)
        .json(&json!({"component": "console", "action": "page_view", "properties": {"path": "/"}, "sessionId": "tab-1"}))
        .send()
        .await
        .expect("track");
    assert_eq!(one.status(), 200);
    assert_eq!(
        one.json::<Value>().await.expect("json"),
        json!({"success": true, "accepted": 1})
    );
    let batch: Vec<Value> = (0..25)
        .map(|i| json!({"component": "console", "action": "click", "properties": {"i": i}}))
        .collect();
    let many = client
        .post(app.url("/api/telemetry/track"))
        .header("cookie", &cookie)
        .json(&json!({"events": batch}))
        .send()
        .await
        .expect("track");
    assert_eq!(
        many.json::<Value>().await.expect("json")["accepted"],
        26 - 1
    );
    // The answer came after the commit: the rows are there now.
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM user_actions WHERE team_id = $1",
            &team
        )
        .await,
        26
    );
    let row = sqlx::query_as::<_, (Option<String>, Option<String>, Option<String>, Option<String>)>(
        "SELECT user_id, session_id, payload, source FROM user_actions WHERE action_type = 'page_view' AND team_id = $1",
    )
    .bind(&team)
    .fetch_one(app.db.read())
    .await
    .expect("row");
    assert_eq!(
        row.0.as_deref(),
        Some(user.as_str()),
        "the console user comes from the session"
    );
    assert_eq!(row.1.as_deref(), Some("tab-1"));
    assert_eq!(row.2.as_deref(), Some(r#"{"path":"/"}"#));
    assert_eq!(row.3.as_deref(), Some("console"));
    app.stop().await;
}

#[tokio::test]
async fn ingestion_keys_write_to_their_team_only_from_allowed_origins() {
    let app = TestApp::spawn().await;
    let (_, team, cookie) = owner_session(&app, "keys").await;
    let (_, other_team, _) = owner_session(&app, "other").await;
    let (key_id, key) = new_key(&app, &cookie, &["https://shop.example.com"]).await;
    assert!(key.starts_with("hmb_ik_"));
    let client = client();
    // Server-side sender: no Origin. The payload cannot choose the team.
    let server_side = client
        .post(app.url("/api/telemetry/track"))
        .bearer_auth(&key)
        .json(&json!({"component": "shop", "action": "order", "userId": "customer-42", "team_id": other_team}))
        .send()
        .await
        .expect("track");
    assert_eq!(server_side.status(), 200);
    assert!(
        server_side
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let stored = sqlx::query_as::<_, (String, Option<String>, Option<String>, Option<String>)>(
        "SELECT team_id, user_id, external_user_id, source FROM user_actions WHERE action_type = 'order'",
    )
    .fetch_one(app.db.read())
    .await
    .expect("row");
    assert_eq!(stored.0, team);
    assert_eq!(stored.1, None, "no console user");
    assert_eq!(
        stored.2.as_deref(),
        Some("customer-42"),
        "the app's user is kept as an attribute"
    );
    assert_eq!(stored.3, Some(format!("key:{key_id}")));

    // Browser sender with the key in the query string and a text/plain body (sendBeacon).
    let beacon = client
        .post(app.url(&format!("/api/telemetry/track?key={key}")))
        .header("origin", "https://shop.example.com")
        .header("sec-fetch-site", "cross-site")
        .header("content-type", "text/plain;charset=UTF-8")
        .body(r#"{"events":[{"component":"shop","action":"view"}]}"#)
        .send()
        .await
        .expect("beacon");
    assert_eq!(beacon.status(), 200);
    assert_eq!(
        beacon.headers()["access-control-allow-origin"],
        "https://shop.example.com"
    );
    let foreign = client
        .post(app.url("/api/telemetry/track"))
        .bearer_auth(&key)
        .header("origin", "https://evil.example")
        .json(&json!({"component": "shop", "action": "view"}))
        .send()
        .await
        .expect("track");
    assert_eq!(foreign.status(), 403);
    let preflight = client
        .request(reqwest::Method::OPTIONS, app.url("/api/telemetry/track"))
        .header("origin", "https://shop.example.com")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .expect("preflight");
    assert_eq!(preflight.status(), 204);
    assert!(
        preflight.headers()["access-control-allow-headers"]
            .to_str()
            .expect("ascii")
            .contains("authorization")
    );

    // Write-only: the key opens nothing else.
    let read = client
        .get(app.url("/api/me"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("me");
    assert_eq!(read.status(), 401);
    let metrics_read = client
        .get(app.url("/api/telemetry/metrics/shop"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("get");
    assert_eq!(metrics_read.status(), 401);

    // Revoked: refused at once.
    let revoked = client
        .delete(app.url(&format!("/api/ingestion-keys/{key_id}")))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status(), 204);
    let after = client
        .post(app.url("/api/telemetry/track"))
        .bearer_auth(&key)
        .json(&json!({"component": "shop", "action": "view"}))
        .send()
        .await
        .expect("track");
    assert_eq!(after.status(), 401);
    let listed = client
        .get(app.url("/api/ingestion-keys"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("list");
    assert!(
        !listed.text().await.expect("body").contains(&key),
        "keys are never listed"
    );
    app.stop().await;
}

#[tokio::test]
async fn bad_telemetry_gets_clear_answers_and_stores_nothing() {
    let app = TestApp::spawn_with(|config| config.telemetry.max_batch = 10).await;
    let (_, team, cookie) = owner_session(&app, "bad").await;
    let client = client();
    let post = |body: String| {
        client
            .post(app.url("/api/telemetry/track"))
            .header("cookie", cookie.clone())
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let cases = [
        (r#"{"component": "console""#.to_string(), 400, None),
        (r#"{"action": "x"}"#.to_string(), 422, Some("component")),
        (
            r#"{"component": "Console Shell", "action": "x"}"#.to_string(),
            422,
            Some("component"),
        ),
        (
            r#"{"component": "c", "action": "x", "properties": "text"}"#.to_string(),
            422,
            Some("properties"),
        ),
        (
            r#"{"component": "c", "action": "x", "timestamp": 12}"#.to_string(),
            422,
            Some("timestamp"),
        ),
        (
            r#"{"component": "c", "action": "x", "sessionId": 7}"#.to_string(),
            422,
            Some("sessionId"),
        ),
        (
            format!(
                r#"{{"component": "c", "action": "x", "properties": {{"big": "{}"}}}}"#,
                "x".repeat(9000)
            ),
            422,
            Some("properties"),
        ),
        (
            r#"{"events": [{"component": "c", "action": "x"}, {"component": "c"}]}"#.to_string(),
            422,
            Some("events[1].action"),
        ),
        (
            format!(
                r#"{{"events": [{}]}}"#,
                [r#"{"component":"c","action":"x"}"#; 11].join(",")
            ),
            413,
            None,
        ),
        (
            format!(
                r#"{{"component": "c", "action": "x", "properties": {{"pad": "{}"}}}}"#,
                "x".repeat(1_100_000)
            ),
            413,
            None,
        ),
    ];
    for (body, status, field) in cases {
        let response = post(body.clone()).await.expect("post");
        assert_eq!(
            response.status(),
            status,
            "{}",
            body.chars().take(120).collect::<String>()
        );
        if let Some(field) = field {
            let error: Value = response.json().await.expect("json");
            assert_eq!(error["error"]["field"], field, "{error}");
        }
    }
    let wrong_type = client
        .post(app.url("/api/telemetry/track"))
        .header("cookie", &cookie)
        .header("content-type", "application/xml")
        .body("<event/>")
        .send()
        .await
        .expect("post");
    assert_eq!(wrong_type.status(), 415);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM user_actions WHERE team_id = $1",
            &team
        )
        .await,
        0
    );
    app.stop().await;
}

#[tokio::test]
async fn unknown_components_register_themselves_as_external() {
    let app = TestApp::spawn().await;
    let (_, _, cookie) = owner_session(&app, "ext").await;
    let response = client()
        .post(app.url("/api/telemetry/track"))
        .header("cookie", &cookie)
        .json(&json!({"events": [{"component": "mobile-app", "action": "open"}, {"component": "mobile-app", "action": "close"}]}))
        .send()
        .await
        .expect("track");
    assert_eq!(response.status(), 200);
    let kind: String =
        sqlx::query_scalar("SELECT kind FROM basen_components WHERE id = 'mobile-app'")
            .fetch_one(app.db.read())
            .await
            .expect("registered");
    assert_eq!(kind, "external");
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM user_actions WHERE component_id = $1",
            "mobile-app"
        )
        .await,
        2
    );
    app.stop().await;
}

#[tokio::test]
async fn metrics_are_recorded_and_queried_per_team_newest_first() {
    let app = TestApp::spawn().await;
    let (_, _, cookie) = owner_session(&app, "m").await;
    let (_, _, other) = owner_session(&app, "m2").await;
    let client = client();
    let now = hummbl::storage::now_ms();
    let samples: Vec<Value> = (0..5)
        .map(|i| json!({"component": "console", "metric_name": "page_load_ms", "value": 100 + i, "timestamp": now - 60_000 * (5 - i)}))
        .collect();
    let stored = client
        .post(app.url("/api/telemetry/metrics"))
        .header("cookie", &cookie)
        .json(&json!({"metrics": samples}))
        .send()
        .await
        .expect("post");
    assert_eq!(stored.json::<Value>().await.expect("json")["accepted"], 5);
    let get = |cookie: String, query: String| {
        let client = client.clone();
        let url = app.url(&format!("/api/telemetry/metrics/console{query}"));
        async move {
            client
                .get(url)
                .header("cookie", cookie)
                .send()
                .await
                .expect("get")
        }
    };
    let results: Value = get(cookie.clone(), String::new())
        .await
        .json()
        .await
        .expect("json");
    let values: Vec<f64> = results["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["metric_name"] == "page_load_ms")
        .map(|r| r["value"].as_f64().expect("number"))
        .collect();
    assert_eq!(
        values,
        vec![104.0, 103.0, 102.0, 101.0, 100.0],
        "newest first"
    );
    let since: Value = get(cookie.clone(), format!("?since={}", now - 150_000))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(since["results"].as_array().map(Vec::len), Some(2));
    let theirs: Value = get(other, String::new()).await.json().await.expect("json");
    assert!(
        theirs["results"]
            .as_array()
            .expect("results")
            .iter()
            .all(|r| r["metric_name"] != "page_load_ms"),
        "another team sees none of them"
    );
    for bad in [
        "?since=-5",
        "?since=abc",
        &format!("?since={}", now + 3_600_000),
    ] {
        let response = get(cookie.clone(), bad.to_string()).await;
        assert_eq!(response.status(), 422, "{bad}");
    }
    assert_eq!(
        client
            .get(app.url("/api/telemetry/metrics/Bad%20Id"))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("get")
            .status(),
        422
    );
    app.stop().await;
}

#[tokio::test]
async fn requests_are_counted_per_component_and_minute() {
    let app = TestApp::spawn().await;
    let (_, team, cookie) = owner_session(&app, "rq").await;
    let client = client();
    for _ in 0..4 {
        let page = client
            .get(app.url("/"))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("page");
        assert_eq!(page.status(), 200);
    }
    client
        .post(app.url("/api/telemetry/track"))
        .header("cookie", &cookie)
        .json(&json!({"component": "console", "action": "x"}))
        .send()
        .await
        .expect("track");
    let written = hummbl::workers::flush_request_stats(&app.state, true).await;
    assert!(written >= 10, "two components, five rows each: {written}");
    let requests: f64 = sqlx::query_scalar(
        "SELECT value FROM component_metrics WHERE component_id = 'console' AND metric_name = 'requests' AND team_id = $1",
    )
    .bind(&team)
    .fetch_one(app.db.read())
    .await
    .expect("console requests");
    assert_eq!(requests, 4.0);
    let telemetry: f64 = sqlx::query_scalar(
        "SELECT value FROM component_metrics WHERE component_id = 'telemetry' AND metric_name = 'requests' AND team_id = $1",
    )
    .bind(&team)
    .fetch_one(app.db.read())
    .await
    .expect("telemetry requests");
    assert_eq!(telemetry, 1.0);
    let p99: f64 = sqlx::query_scalar(
        "SELECT value FROM component_metrics WHERE component_id = 'console' AND metric_name = 'latency_p99_ms' AND team_id = $1",
    )
    .bind(&team)
    .fetch_one(app.db.read())
    .await
    .expect("p99");
    assert!(p99 > 0.0);
    let exported = client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        exported.contains(r#"hummbl_component_requests_total{component="console",class="2xx"} 4"#),
        "{exported}"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_stream_pushes_the_teams_events_and_resumes() {
    let app = TestApp::spawn().await;
    let (_, _, cookie) = owner_session(&app, "sse").await;
    let (_, _, other) = owner_session(&app, "sse2").await;
    let client = client();
    let response = client
        .get(app.url("/api/telemetry/stream"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("stream");
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/event-stream")
    );
    let mut stream = response.bytes_stream();
    let post = |cookie: String, action: &'static str| {
        let client = client.clone();
        let url = app.url("/api/telemetry/track");
        async move {
            let response = client
                .post(url)
                .header("cookie", cookie)
                .json(&json!({"component": "console", "action": action}))
                .send()
                .await;
            assert_eq!(response.expect("track").status(), 200);
        }
    };
    post(other.clone(), "someone_elses").await;
    post(cookie.clone(), "first").await;
    let frames = read_frames(&mut stream, |frame| frame.contains("\"first\"")).await;
    assert!(
        frames.iter().all(|frame| !frame.contains("someone_elses")),
        "other teams' events are not sent"
    );
    let first = frames.last().expect("frame");
    assert!(first.contains("event: telemetry.event"), "{first}");
    let first_id: u64 = first
        .lines()
        .find_map(|line| line.strip_prefix("id: "))
        .and_then(|id| id.parse().ok())
        .expect("event id");
    drop(stream);

    // Missed while disconnected, then replayed from Last-Event-ID.
    post(cookie.clone(), "second").await;
    post(cookie.clone(), "third").await;
    let resumed = client
        .get(app.url("/api/telemetry/stream"))
        .header("cookie", &cookie)
        .header("last-event-id", first_id.to_string())
        .send()
        .await
        .expect("stream");
    let mut stream = resumed.bytes_stream();
    let frames = read_frames(&mut stream, |frame| frame.contains("\"third\"")).await;
    let joined = frames.join("\n");
    assert!(
        joined.contains("\"second\"") && !joined.contains("\"first\""),
        "{joined}"
    );
    drop(stream);

    // A batch is numbered event by event, and a resume can start inside it.
    let batch = client
        .post(app.url("/api/telemetry/track"))
        .header("cookie", &cookie)
        .json(&json!({"events": [
            {"component": "console", "action": "batch_one"},
            {"component": "console", "action": "batch_two"},
            {"component": "console", "action": "batch_three"},
        ]}))
        .send()
        .await
        .expect("track batch");
    assert_eq!(batch.status(), 200);
    let resumed = client
        .get(app.url("/api/telemetry/stream"))
        .header("cookie", &cookie)
        .header("last-event-id", first_id.to_string())
        .send()
        .await
        .expect("stream");
    let mut stream = resumed.bytes_stream();
    let frames = read_frames(&mut stream, |frame| frame.contains("batch_three")).await;
    let id_of = |action: &str| -> u64 {
        frames
            .iter()
            .find(|frame| frame.contains(action))
            .and_then(|frame| frame.lines().find_map(|line| line.strip_prefix("id: ")))
            .and_then(|id| id.parse().ok())
            .unwrap_or_else(|| panic!("no id for {action} in {frames:?}"))
    };
    let batch_ids = [id_of("batch_one"), id_of("batch_two"), id_of("batch_three")];
    assert_eq!(batch_ids[1], batch_ids[0] + 1);
    assert_eq!(batch_ids[2], batch_ids[0] + 2);
    drop(stream);
    let resumed = client
        .get(app.url("/api/telemetry/stream"))
        .header("cookie", &cookie)
        .header("last-event-id", batch_ids[0].to_string())
        .send()
        .await
        .expect("stream");
    let mut stream = resumed.bytes_stream();
    let frames = read_frames(&mut stream, |frame| frame.contains("batch_three")).await;
    let joined = frames.join("\n");
    assert!(
        joined.contains("batch_two") && !joined.contains("batch_one"),
        "{joined}"
    );
    drop(stream);

    // An id the buffer cannot serve asks the client to resync.
    let stale = client
        .get(app.url("/api/telemetry/stream"))
        .header("cookie", &cookie)
        .header("last-event-id", "999999999")
        .send()
        .await
        .expect("stream");
    let mut stream = stale.bytes_stream();
    let frames = read_frames(&mut stream, |frame| frame.contains("event: resync")).await;
    assert!(frames.last().is_some_and(|f| f.contains("event: resync")));

    // Shutdown ends open streams (the server task would not finish otherwise).
    let server_stop = tokio::spawn(app.stop());
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(_)) = stream.next().await {}
    })
    .await;
    assert!(ended.is_ok(), "the stream ended on shutdown");
    server_stop.await.expect("stopped");
}

#[tokio::test]
async fn a_full_queue_answers_503_with_retry_after() {
    let app = TestApp::spawn_with(|config| {
        config.telemetry.max_batch = 10;
        config.telemetry.queue_rows = 10;
    })
    .await;
    let (_, _, cookie) = owner_session(&app, "full").await;
    // Hold the writer back: a transaction that has written holds the write lock.
    let mut blocker = app.db.begin().await.expect("begin");
    if app.db.backend() == hummbl::storage::Backend::Postgres {
        sqlx::query("LOCK TABLE user_actions IN EXCLUSIVE MODE")
            .execute(&mut *blocker)
            .await
            .expect("lock");
    } else {
        sqlx::query("UPDATE teams SET name = name WHERE 1 = 0")
            .execute(&mut *blocker)
            .await
            .expect("write");
    }
    let client = client();
    let batch: Vec<Value> = (0..10)
        .map(|_| json!({"component": "console", "action": "queued"}))
        .collect();
    let first = {
        let client = client.clone();
        let url = app.url("/api/telemetry/track");
        let cookie = cookie.clone();
        tokio::spawn(async move {
            client
                .post(url)
                .header("cookie", cookie)
                .json(&json!({"events": batch}))
                .send()
                .await
        })
    };
    while app.state.ingestor.queued_rows(10) < 10 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let refused = client
        .post(app.url("/api/telemetry/track"))
        .header("cookie", &cookie)
        .json(&json!({"component": "console", "action": "refused"}))
        .send()
        .await
        .expect("track");
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    blocker.rollback().await.expect("release");
    let accepted = first.await.expect("task").expect("response");
    assert_eq!(accepted.status(), 200);
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM user_actions WHERE action_type = $1",
            "queued"
        )
        .await,
        10
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM user_actions WHERE action_type = $1",
            "refused"
        )
        .await,
        0
    );
    app.stop().await;
}

#[tokio::test]
async fn retention_prunes_old_rows_in_batches() {
    let app = TestApp::spawn().await;
    let (_, team, _) = owner_session(&app, "old").await;
    let now = hummbl::storage::now_ms();
    for (i, age_days) in [1i64, 89, 91, 200, 400].iter().enumerate() {
        sqlx::query("INSERT INTO user_actions (id, team_id, action_type, component_id, timestamp) VALUES ($1, $2, 'x', 'console', $3)")
            .bind(format!("a{i}"))
            .bind(&team)
            .bind(now - age_days * 86_400_000)
            .execute(app.db.write())
            .await
            .expect("insert");
        sqlx::query("INSERT INTO component_metrics (id, team_id, component_id, metric_name, value, timestamp) VALUES ($1, $2, 'console', 'm', 1, $3)")
            .bind(format!("m{i}"))
            .bind(&team)
            .bind(now - age_days * 86_400_000)
            .execute(app.db.write())
            .await
            .expect("insert");
    }
    let first = hummbl::telemetry::prune(&app.db, 90, 2)
        .await
        .expect("prune");
    assert_eq!(first, 4, "a batch of two per table");
    let second = hummbl::telemetry::prune(&app.db, 90, 2)
        .await
        .expect("prune");
    assert_eq!(second, 2);
    assert_eq!(
        hummbl::telemetry::prune(&app.db, 90, 2)
            .await
            .expect("prune"),
        0
    );
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM user_actions WHERE team_id = $1",
            &team
        )
        .await,
        2
    );
    app.stop().await;
}
