//! Operations endpoints and the shell's edges: health, readiness, Prometheus
//! metrics, the OpenAPI document covering every API route, request ids, and
//! styled error pages.

mod common;

use common::{TestApp, client};

#[tokio::test]
async fn health_and_readiness() {
    let app = TestApp::spawn().await;
    let client = client();
    let health = client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
    assert!(
        health.headers().contains_key("x-request-id"),
        "every answer carries its request id"
    );
    assert_eq!(
        client
            .get(app.url("/readyz"))
            .send()
            .await
            .expect("readyz")
            .status(),
        200
    );
    app.stop().await;
}

#[tokio::test]
async fn readiness_fails_when_storage_is_gone() {
    let app = TestApp::spawn().await;
    app.db.close().await;
    let status = client()
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz")
        .status();
    assert_eq!(status, 503);
    app.shutdown.cancel();
}

#[tokio::test]
async fn metrics_count_requests_by_route_template() {
    let app = TestApp::spawn().await;
    let client = client();
    for _ in 0..3 {
        client
            .get(app.url("/healthz"))
            .send()
            .await
            .expect("healthz");
    }
    client
        .get(app.url("/api/tokens/some-id-123"))
        .send()
        .await
        .expect("404");
    let text = app.metrics_text().await;
    let line = text
        .lines()
        .find(|line| {
            line.starts_with("hummbl_http_requests_total{") && line.contains("route=\"/healthz\"")
        })
        .unwrap_or_else(|| panic!("no healthz counter in:\n{text}"));
    assert!(line.ends_with(" 3"), "{line}");
    assert!(text.contains("hummbl_http_request_duration_seconds_bucket"));
    assert!(
        !text.contains("some-id-123"),
        "raw paths never become labels"
    );
    app.stop().await;
}

#[tokio::test]
async fn openapi_describes_every_api_route() {
    let app = TestApp::spawn().await;
    let doc = app.openapi().await;
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    let mut missing = Vec::new();
    for route in hummbl::app::routes() {
        if !route.path.starts_with("/api/") || route.method == axum::http::Method::OPTIONS {
            // Pages, assets and probes are not part of the JSON API, and CORS
            // preflights are protocol plumbing rather than operations.
            continue;
        }
        let method = route.method.as_str().to_lowercase();
        if doc["paths"][route.path][&method].is_null() {
            missing.push(format!("{} {}", route.method, route.path));
        }
    }
    assert!(
        missing.is_empty(),
        "API routes missing from the OpenAPI document: {missing:?}"
    );
    app.stop().await;
}

/// Client generators and schema-driven fuzzers reject an operation whose path
/// template names a parameter the operation does not declare.
#[tokio::test]
async fn openapi_declares_every_path_parameter() {
    let app = TestApp::spawn().await;
    let doc = app.openapi().await;
    let mut undeclared = Vec::new();
    let paths = doc["paths"].as_object().expect("paths");
    for (path, operations) in paths {
        let names: Vec<&str> = path
            .split('/')
            .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        for (method, operation) in operations.as_object().expect("operations") {
            let declared: Vec<&str> = operation["parameters"]
                .as_array()
                .map(|parameters| {
                    parameters
                        .iter()
                        .filter(|p| p["in"] == "path" && p["required"] == true)
                        .filter_map(|p| p["name"].as_str())
                        .collect()
                })
                .unwrap_or_default();
            for name in &names {
                if !declared.contains(name) {
                    undeclared.push(format!("{method} {path}: {{{name}}}"));
                }
            }
            if declared.len() != names.len() {
                undeclared.push(format!("{method} {path}: declares {declared:?}"));
            }
        }
    }
    assert!(
        undeclared.is_empty(),
        "path parameters not declared as required path parameters: {undeclared:?}"
    );
    app.stop().await;
}

/// Who may call each operation and the error answers its guard gives come from
/// the route table: a client (or scripts/fuzz-api) knows which credentials to
/// send, and every error answer is described with the error body.
#[tokio::test]
async fn openapi_declares_security_and_error_answers() {
    let app = TestApp::spawn().await;
    let doc = app.openapi().await;
    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .expect("security schemes");
    let mut wrong = Vec::new();
    for route in hummbl::app::routes() {
        let method = route.method.as_str().to_lowercase();
        let operation = &doc["paths"][route.path][&method];
        if operation.is_null() {
            continue;
        }
        let name = format!("{} {}", route.method, route.path);
        let security = operation["security"].as_array().expect("security");
        let public = route.access == hummbl::routes::Access::Public;
        if public != security.is_empty() {
            wrong.push(format!("{name}: security {security:?}"));
        }
        for requirement in security {
            for scheme in requirement.as_object().expect("requirement").keys() {
                if !schemes.contains_key(scheme) {
                    wrong.push(format!("{name}: undeclared scheme {scheme}"));
                }
            }
        }
        let responses = operation["responses"].as_object().expect("responses");
        if !public && !responses.contains_key("401") {
            wrong.push(format!("{name}: no 401"));
        }
        if operation["requestBody"].is_object() && !responses.contains_key("413") {
            wrong.push(format!("{name}: takes a body but has no 413"));
        }
        for (status, response) in responses {
            // OTLP's own refusals are a google.rpc.Status, as its specification says.
            let otlp_refusal =
                route.path.starts_with("/v1/") && !matches!(status.as_str(), "401" | "403");
            let error_body = if otlp_refusal {
                "OtlpStatus"
            } else {
                "ErrorBody"
            };
            if status.starts_with('4')
                && response["content"]["application/json"]["schema"]["$ref"]
                    != format!("#/components/schemas/{error_body}").as_str()
            {
                wrong.push(format!("{name}: {status} without the error body"));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    // An error answer matches the schema the document gives it.
    let body: serde_json::Value = client()
        .get(app.url("/api/tokens"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let codes = &doc["components"]["schemas"]["ErrorCode"]["enum"];
    assert!(
        codes
            .as_array()
            .expect("codes")
            .contains(&body["error"]["code"]),
        "{body} against {codes}"
    );
    app.stop().await;
}

#[tokio::test]
async fn unknown_paths_get_a_styled_page_or_json() {
    let app = TestApp::spawn().await;
    let client = client();
    let html = client
        .get(app.url("/no/such/page"))
        .header("accept", "text/html")
        .send()
        .await
        .expect("get");
    assert_eq!(html.status(), 404);
    let body = html.text().await.expect("body");
    assert!(body.contains("Page not found") && body.contains("/assets/app.css"));
    let json = client
        .get(app.url("/api/nothing"))
        .send()
        .await
        .expect("get");
    assert_eq!(json.status(), 404);
    let body: serde_json::Value = json.json().await.expect("json");
    assert_eq!(body["error"]["code"], "not_found");
    app.stop().await;
}

#[tokio::test]
async fn a_forbidden_page_is_a_styled_403_inside_the_shell() {
    let app = TestApp::spawn().await;
    let (team, users) = app.team_with_every_role("f").await;
    let viewer = app.session_cookie(&users[3].1, &team).await;
    let response = client()
        .post(app.url("/settings/components/token-usage"))
        .header("cookie", viewer)
        .form(&[("enabled", "false")])
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 403);
    let body = response.text().await.expect("html");
    assert!(body.contains("Not allowed"));
    assert!(
        body.contains("aria-label=\"Main\""),
        "rendered inside the shell with navigation"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_shell_shows_only_what_exists_and_is_accessible() {
    let app = TestApp::spawn().await;
    let (team, users) = app.team_with_every_role("n").await;
    let cookie = app.session_cookie(&users[2].1, &team).await;
    let html = client()
        .get(app.url("/"))
        .header("cookie", cookie)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    for landmark in [
        "<header",
        "<nav",
        "aria-label=\"Main\"",
        "<main",
        "Skip to content",
        "<label for=\"team-select\"",
    ] {
        assert!(html.contains(landmark), "missing {landmark}");
    }
    assert!(html.contains("aria-current=\"page\""));
    assert!(
        html.contains("href=\"/analytics\""),
        "built pages are linked"
    );
    assert!(
        html.contains("href=\"/notifications\"") && html.contains("data-unread-badge"),
        "the notification center and its badge are in every page's navigation"
    );
    assert!(html.contains(&format!("User {}", "member-n@example.com")));

    // A component switched off for the team leaves the navigation.
    hummbl::components::set_enabled(&app.db, &team, "analytics-dashboard", false, &users[0].1)
        .await
        .expect("switch off");
    let html = client()
        .get(app.url("/"))
        .header("cookie", app.session_cookie(&users[2].1, &team).await)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        !html.contains("href=\"/analytics\""),
        "a disabled component is not linked"
    );
    app.stop().await;
}

#[tokio::test]
async fn graceful_shutdown_lets_the_server_task_finish() {
    let app = TestApp::spawn().await;
    let client = client();
    assert_eq!(
        client
            .get(app.url("/healthz"))
            .send()
            .await
            .expect("healthz")
            .status(),
        200
    );
    let addr = app.addr;
    app.stop().await;
    assert!(
        client
            .get(format!("http://{addr}/healthz"))
            .send()
            .await
            .is_err(),
        "no longer listening"
    );
}

#[tokio::test]
async fn a_metrics_token_keeps_other_readers_out() {
    const TOKEN: &str = "scrape-token-0123456789";
    let app = TestApp::spawn_with(|config| {
        config.metrics_token = Some(secrecy::SecretString::from(TOKEN.to_string()));
    })
    .await;
    let client = client();
    let status_with = |header: Option<String>| {
        let mut request = client.get(app.url("/metrics"));
        if let Some(header) = header {
            request = request.header("authorization", header);
        }
        async move { request.send().await.expect("metrics") }
    };
    let refused = status_with(None).await;
    assert_eq!(refused.status(), 401);
    assert_eq!(
        refused
            .headers()
            .get("www-authenticate")
            .map(|v| v.as_bytes()),
        Some(&b"Bearer"[..])
    );
    assert_eq!(
        status_with(Some("Bearer wrong-token-0123456789".into()))
            .await
            .status(),
        401
    );
    let allowed = status_with(Some(format!("Bearer {TOKEN}"))).await;
    assert_eq!(allowed.status(), 200);
    assert!(
        allowed
            .text()
            .await
            .expect("text")
            .contains("hummbl_http_requests_total")
    );
    app.stop().await;
}
