//! Bad input on every route, as the most privileged caller: malformed JSON,
//! malformed forms, hostile path segments and query strings. Every answer must be
//! a clear 4xx (or a success where the input is harmless), never a 5xx.

mod common;

use common::{TestApp, client};
use reqwest::Method;

const HOSTILE_SEGMENTS: [&str; 4] = [
    "'%3B%20DROP%20TABLE%20users%3B--",
    "%E2%9C%93%F0%9F%92%A5",
    "..%2F..%2Fetc%2Fpasswd",
    "0",
];

#[tokio::test]
async fn no_route_answers_bad_input_with_a_server_error() {
    let app = TestApp::spawn().await;
    let (team, users) = app.team_with_every_role("bad").await;
    let owner = &users[0].1;
    let client = client();
    let long_segment = "x".repeat(5000);
    let mut failures = Vec::new();
    for route in hummbl::app::routes() {
        let method = Method::from_bytes(route.method.as_str().as_bytes()).expect("method");
        let mut paths = vec![route.path.to_string()];
        if route.path.contains('{') {
            paths = HOSTILE_SEGMENTS
                .iter()
                .copied()
                .chain([long_segment.as_str()])
                .map(|segment| {
                    let mut path = route.path.to_string();
                    while let (Some(start), Some(end)) = (path.find('{'), path.find('}')) {
                        path.replace_range(start..=end, segment);
                    }
                    path
                })
                .collect();
        }
        for path in paths {
            let bodies: Vec<(&str, Vec<u8>)> = vec![
                ("application/json", b"{\"truncated\": ".to_vec()),
                ("application/json", b"[1, 2, 3]".to_vec()),
                (
                    "application/json",
                    b"{\"name\": null, \"enabled\": \"yes\", \"role\": 7, \"team_id\": []}"
                        .to_vec(),
                ),
                (
                    "application/x-www-form-urlencoded",
                    b"%%%&&==&enabled=maybe&team_id=%FF".to_vec(),
                ),
                ("text/plain", vec![0xff, 0xfe, 0x00]),
            ];
            for (content_type, body) in bodies {
                let cookie = app.session_cookie(owner, &team).await;
                let response = client
                    .request(
                        method.clone(),
                        app.url(&format!("{path}?since=-1&next=%FF&days=abc")),
                    )
                    .header("cookie", cookie)
                    .header("content-type", content_type)
                    .body(body)
                    .send()
                    .await
                    .expect("request");
                if response.status().is_server_error() {
                    failures.push(format!(
                        "{} {path} ({content_type}): {}",
                        route.method,
                        response.status()
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "server errors on bad input:\n{}",
        failures.join("\n")
    );
    app.stop().await;
}

/// A query string the API cannot read is a 400 in the API's JSON error format,
/// like a malformed body, on every API route that takes query parameters.
#[tokio::test]
async fn unreadable_query_strings_answer_the_json_error_format() {
    let app = TestApp::spawn().await;
    let (team, users) = app.team_with_every_role("query").await;
    let cookie = app.session_cookie(&users[0].1, &team).await;
    let client = client();
    for path in [
        "/api/analytics/summary?days=abc",
        "/api/analytics/tokens.csv?days=9223372036854775808",
        "/api/executions?limit=many",
        "/api/errors?resolved=maybe",
        "/api/telemetry/metrics/console?since=1&since=2",
    ] {
        let response = client
            .get(app.url(path))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 400, "{path}");
        let body: serde_json::Value = response
            .json()
            .await
            .unwrap_or_else(|err| panic!("{path}: not JSON: {err}"));
        assert_eq!(body["error"]["code"], "bad_request", "{path}: {body}");
    }
    app.stop().await;
}

/// Every API body is a JSON object: serde would also read a struct from an array
/// of its fields in order, which the API does not offer.
#[tokio::test]
async fn api_bodies_are_json_objects() {
    let app = TestApp::spawn().await;
    let (team, users) = app.team_with_every_role("array").await;
    let cookie = app.session_cookie(&users[0].1, &team).await;
    let response = client()
        .post(app.url("/api/tokens"))
        .header("cookie", &cookie)
        .header("content-type", "application/json")
        .body(r#"["ci", 30]"#)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 422);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["error"]["field"], "body", "{body}");
    app.stop().await;
}

/// A whole float is an integer, as JSON Schema (and so the OpenAPI document)
/// counts it: `30.0` days is 30 days.
#[tokio::test]
async fn integers_may_be_written_as_whole_floats() {
    let app = TestApp::spawn().await;
    let (team, users) = app.team_with_every_role("whole").await;
    let cookie = app.session_cookie(&users[0].1, &team).await;
    let client = client();
    let created = client
        .post(app.url("/api/tokens"))
        .header("cookie", &cookie)
        .json(&serde_json::json!({"name": "ci", "expires_in_days": 30.0}))
        .send()
        .await
        .expect("request");
    assert_eq!(created.status(), 201);
    let refused = client
        .post(app.url("/api/tokens"))
        .header("cookie", &cookie)
        .json(&serde_json::json!({"name": "ci", "expires_in_days": 30.5}))
        .send()
        .await
        .expect("request");
    assert_eq!(refused.status(), 422);
    app.stop().await;
}
