//! The overview is the team's home: a new team gets a getting-started checklist
//! ticked from its data; once it runs, the page shows spend, what runs and what
//! failed, from the real server on either backend.

mod common;

use common::TestApp;
use common::fake_provider::{FakeProvider, GOOD_KEY};
use common::runtime::{fast_retries, owner_api};
use serde_json::json;

#[tokio::test]
async fn a_new_team_is_guided_until_it_runs_then_sees_spend_and_failures() {
    let app = TestApp::spawn_with(fast_retries).await;
    let fake = FakeProvider::start().await;
    let (api, _) = owner_api(&app, "overview").await;

    let (status, home) = api.page("/").await;
    assert_eq!(status, 200);
    assert!(
        home.contains("Getting started") && home.contains("0 of 5 done."),
        "{home}"
    );

    let key = api
        .provider_key("openai", &fake.openai_base(), GOOD_KEY)
        .await;
    let agent = api.agent("Writer", "openai", "gpt-4o-mini", &key).await;
    let (_, home) = api.page("/").await;
    assert!(
        home.contains("2 of 5 done."),
        "a key and an agent tick two steps"
    );

    let works = api
        .workflow(
            "Works",
            json!([{"id": "a", "agent": agent, "prompt": "hello"}]),
        )
        .await;
    let breaks = api
        .workflow(
            "Breaks",
            json!([{"id": "a", "agent": agent, "prompt": "[fail:400] go"}]),
        )
        .await;
    api.wait_finished(&api.run(&works, json!({})).await).await;
    let failed = api.run(&breaks, json!({})).await;
    api.wait_finished(&failed).await;

    let (_, home) = api.page("/").await;
    assert!(
        !home.contains("Getting started"),
        "no checklist once the team ran"
    );
    assert!(
        home.contains(&format!("href=\"/monitor/{failed}\"")),
        "the latest failure links to it"
    );
    assert!(
        home.contains("Open error groups") && home.contains("the provider rejected"),
        "{home}"
    );
    assert!(home.contains("Nothing is running."));
    app.stop().await;
}
