//! Each producer of notifications, through the real server, runner, scheduler
//! and fake provider: who hears of what (from roles, follows and the object's
//! people), and who does not.

mod common;

use std::time::Duration;

use common::TestApp;
use common::fake_provider::{FakeProvider, GOOD_KEY, REVOKED_KEY, Running};
use common::runtime::{Api, fast_retries};
use hummbl::auth::Role;
use reqwest::Method;
use serde_json::{Value, json};

/// A team with one user per role, each with a session: (team, [(role, id, api)]).
async fn team(app: &TestApp, tag: &str) -> (String, Vec<(Role, String, Api)>) {
    let (team, users) = app.team_with_every_role(tag).await;
    let mut people = Vec::new();
    for (role, user) in users {
        let api = Api {
            client: common::client(),
            base: app.base.clone(),
            cookie: app.session_cookie(&user, &team).await,
        };
        people.push((role, user, api));
    }
    (team, people)
}

fn person(people: &[(Role, String, Api)], role: Role) -> (&str, &Api) {
    people
        .iter()
        .find(|(r, _, _)| *r == role)
        .map(|(_, id, api)| (id.as_str(), api))
        .expect("person")
}

async fn one_step(api: &Api, fake: &Running, key: &str, name: &str, prompt: &str) -> String {
    let key = api.provider_key("openai", &fake.openai_base(), key).await;
    let agent = api.agent(name, "openai", "gpt-4o-mini", &key).await;
    api.workflow(
        name,
        json!([{"id": "only", "agent": agent, "prompt": prompt}]),
    )
    .await
}

async fn run_to_end(api: &Api, workflow: &str) -> Value {
    let id = api.run(workflow, json!({})).await;
    api.wait_finished(&id).await
}

#[tokio::test]
async fn failed_runs_reach_the_starter_and_followers_and_successes_only_who_asked() {
    let app = TestApp::spawn_with(fast_retries).await;
    let fake = FakeProvider::start().await;
    let (_, people) = team(&app, "runs").await;
    let (_, owner) = person(&people, Role::Owner);
    let (_, member) = person(&people, Role::Member);
    let (_, viewer) = person(&people, Role::Viewer);
    let breaks = one_step(owner, &fake, GOOD_KEY, "Breaks", "[fail:400] go").await;
    let works = one_step(owner, &fake, GOOD_KEY, "Works", "go").await;
    for workflow in [&breaks, &works] {
        let (status, body) = member
            .send(
                Method::PUT,
                &format!("/api/workflows/{workflow}/subscription"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["subscribed"], true);
    }

    assert_eq!(run_to_end(owner, &breaks).await["status"], "failed");
    assert_eq!(
        owner.told("execution_failed").await,
        ["Breaks failed"],
        "the starter"
    );
    assert_eq!(
        member.told("execution_failed").await,
        ["Breaks failed"],
        "a follower"
    );
    assert!(viewer.told("execution_failed").await.is_empty(), "neither");
    let (_, list) = member.get("/api/notifications?type=execution_failed").await;
    let failed = &list["notifications"][0];
    assert!(
        failed["link"]
            .as_str()
            .is_some_and(|l| l.starts_with("/monitor/"))
    );
    assert!(
        failed["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{failed}"
    );

    // Successes are opt-in, even for followers.
    assert_eq!(run_to_end(owner, &works).await["status"], "succeeded");
    assert!(member.told("execution_succeeded").await.is_empty());
    let (status, prefs) = member
        .send(
            Method::PUT,
            "/api/notifications/preferences",
            Some(json!({"in_app": {"execution_succeeded": true}})),
        )
        .await;
    assert_eq!(status, 200, "{prefs}");
    assert!(
        prefs["preferences"]
            .as_array()
            .expect("preferences")
            .iter()
            .any(|p| p["type"] == "execution_succeeded" && p["in_app"] == true)
    );
    assert_eq!(run_to_end(owner, &works).await["status"], "succeeded");
    assert_eq!(
        member.told("execution_succeeded").await,
        ["Works succeeded"]
    );
    assert!(
        owner.told("execution_succeeded").await.is_empty(),
        "not a follower"
    );

    // Unfollowed, and failures off: nothing more.
    member
        .send(
            Method::DELETE,
            &format!("/api/workflows/{breaks}/subscription"),
            None,
        )
        .await;
    assert_eq!(run_to_end(owner, &breaks).await["status"], "failed");
    assert_eq!(member.told("execution_failed").await.len(), 1);
    owner
        .send(
            Method::PUT,
            "/api/notifications/preferences",
            Some(json!({"in_app": {"execution_failed": false}})),
        )
        .await;
    assert_eq!(run_to_end(owner, &breaks).await["status"], "failed");
    assert_eq!(owner.told("execution_failed").await.len(), 2, "turned off");
    let (status, bad) = owner
        .send(
            Method::PUT,
            "/api/notifications/preferences",
            Some(json!({"in_app": {"execution_complete": true}})),
        )
        .await;
    assert!((400..500).contains(&status), "{bad}");
    app.stop().await;
}

#[tokio::test]
async fn admins_hear_of_failed_key_tests_and_keys_refused_in_a_run_once() {
    let app = TestApp::spawn_with(fast_retries).await;
    let fake = FakeProvider::start().await;
    let (_, people) = team(&app, "keys").await;
    let (_, owner) = person(&people, Role::Owner);
    let (_, admin) = person(&people, Role::Admin);
    let (_, member) = person(&people, Role::Member);
    let tested = owner
        .provider_key("openai", &fake.openai_base(), REVOKED_KEY)
        .await;
    let (status, result) = owner
        .post(&format!("/api/keys/{tested}/test"), json!({}))
        .await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["ok"], false);
    for api in [owner, admin] {
        assert_eq!(
            api.told("key_failed").await,
            ["Key openai test (openai) failed its test"]
        );
    }
    assert!(
        member.told("key_failed").await.is_empty(),
        "members cannot fix keys"
    );

    // Refused during runs: told when the key turns invalid, not at every run.
    let refused = one_step(owner, &fake, REVOKED_KEY, "Refused", "go").await;
    for _ in 0..2 {
        assert_eq!(run_to_end(owner, &refused).await["status"], "failed");
    }
    let titles = admin.told("key_failed").await;
    assert_eq!(
        titles
            .iter()
            .filter(|t| t.ends_with("was refused by the provider"))
            .count(),
        1,
        "{titles:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_resolved_error_that_recurs_tells_the_admins_and_who_resolved_it() {
    let app = TestApp::spawn_with(fast_retries).await;
    let fake = FakeProvider::start().await;
    let (_, people) = team(&app, "errors").await;
    let (_, owner) = person(&people, Role::Owner);
    let (_, admin) = person(&people, Role::Admin);
    let (_, member) = person(&people, Role::Member);
    let (_, viewer) = person(&people, Role::Viewer);
    let breaks = one_step(owner, &fake, GOOD_KEY, "Breaks", "[fail:400] go").await;
    run_to_end(owner, &breaks).await;
    let (_, log) = owner.get("/api/errors").await;
    let fingerprint = log["groups"][0]["fingerprint"]
        .as_str()
        .expect("fp")
        .to_string();
    member
        .expect_post(
            "/api/errors/resolve",
            json!({"fingerprints": [fingerprint]}),
            200,
        )
        .await;
    assert!(
        admin.told("error_reopened").await.is_empty(),
        "nothing reopened yet"
    );
    run_to_end(owner, &breaks).await;
    for api in [owner, admin, member] {
        assert_eq!(api.told("error_reopened").await.len(), 1);
    }
    assert!(viewer.told("error_reopened").await.is_empty());
    // Failing again while open tells no one again.
    run_to_end(owner, &breaks).await;
    assert_eq!(admin.told("error_reopened").await.len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn an_existing_account_hears_of_its_invitation_and_the_inviter_of_the_join() {
    let app = TestApp::spawn().await;
    let (_, people) = team(&app, "invites").await;
    let (_, admin) = person(&people, Role::Admin);
    let (dee, dee_team) = app
        .user("dee@example.com", "dee-password-1", None, Role::Owner)
        .await;
    let dee_api = Api {
        client: common::client(),
        base: app.base.clone(),
        cookie: app.session_cookie(&dee, &dee_team).await,
    };
    let invitation = admin
        .expect_post(
            "/api/team/invitations",
            json!({"email": "dee@example.com", "role": "member"}),
            201,
        )
        .await;
    let received = dee_api.told("invitation_received").await;
    assert_eq!(received.len(), 1);
    assert!(
        received[0].contains("invited you to Team of owner-invites"),
        "{received:?}"
    );
    // Someone new has no account to tell.
    admin
        .expect_post(
            "/api/team/invitations",
            json!({"email": "nobody-yet@example.com", "role": "viewer"}),
            201,
        )
        .await;
    let stored: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM notifications WHERE type = 'invitation_received'")
            .fetch_one(app.db.read())
            .await
            .expect("count");
    assert_eq!(stored, 1);

    let token = "known-token-for-dee";
    sqlx::query("UPDATE invitations SET token_hash = $1 WHERE id = $2")
        .bind(common::token_hash(token))
        .bind(invitation["id"].as_str().expect("id"))
        .execute(app.db.write())
        .await
        .expect("plant token");
    let (status, body) = common::client()
        .post(app.url("/api/invitations/accept"))
        .json(&json!({"token": token, "password": "dee-password-1"}))
        .send()
        .await
        .map(|r| (r.status().as_u16(), r))
        .expect("accept");
    assert!((200..300).contains(&status), "{:?}", body.text().await);
    let joined = admin.told("invitation_accepted").await;
    assert_eq!(joined, ["User dee@example.com joined the team"]);
    app.stop().await;
}

#[tokio::test]
async fn schedules_tell_their_creator_of_skipped_slots_and_failed_runs() {
    let app = TestApp::spawn_with(fast_retries).await;
    let fake = FakeProvider::start().await;
    let (_, people) = team(&app, "schedules").await;
    let (_, owner) = person(&people, Role::Owner);
    let (_, viewer) = person(&people, Role::Viewer);
    let slow = one_step(owner, &fake, GOOD_KEY, "Slow", "[slow:2500] go").await;
    let breaks = one_step(owner, &fake, GOOD_KEY, "Breaks", "[fail:400] go").await;
    let mut schedules = Vec::new();
    for (workflow, overlap) in [(&slow, "skip"), (&breaks, "allow_all")] {
        let created = owner
            .expect_post(
                "/api/schedules",
                json!({"workflow_id": workflow, "cron": "* * * * * *", "timezone": "UTC", "overlap": overlap}),
                201,
            )
            .await;
        schedules.push(created["id"].as_str().expect("id").to_string());
    }
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    for id in &schedules {
        owner
            .send(
                Method::PATCH,
                &format!("/api/schedules/{id}"),
                Some(json!({"enabled": false})),
            )
            .await;
    }
    let skipped = owner.told("schedule_skipped").await;
    assert!(!skipped.is_empty(), "the slow schedule skipped slots");
    assert!(
        skipped
            .iter()
            .all(|t| t.starts_with("Schedule of Slow skipped 1 slot")),
        "{skipped:?}"
    );
    let (_, list) = owner.get("/api/notifications?type=schedule_skipped").await;
    assert!(
        list["notifications"][0]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("overlap: execution")),
        "{list}"
    );
    // Wait for the last runs of the failing schedule to end.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let failed = owner.told("schedule_failed").await;
    assert!(!failed.is_empty());
    assert!(
        failed.iter().all(|t| t == "Scheduled run of Breaks failed"),
        "{failed:?}"
    );
    assert!(
        owner.told("execution_failed").await.is_empty(),
        "a scheduled run is the schedule's"
    );
    assert!(viewer.told("schedule_failed").await.is_empty());
    app.stop().await;
}
