//! The notification center's API and live stream: a user's own notifications
//! only (identity from the session, never a header), read state, filters and
//! cursor pages, a badge count that stays exact under concurrent changes, and
//! arrivals on every open stream within 100 ms, in order.

mod common;

use std::time::{Duration, Instant};

use common::runtime::Api;
use common::{TestApp, client, read_frames};
use hummbl::auth::Role;
use hummbl::notifications::{NewNotification, NotificationType};
use reqwest::Method;
use serde_json::{Value, json};

/// A user with a session in `team` (a new team when `None`): (id, team, client).
async fn someone(
    app: &TestApp,
    tag: &str,
    team: Option<&str>,
    role: Role,
) -> (String, String, Api) {
    let (user, team) = app
        .user(
            &format!("{tag}@example.com"),
            "password-for-tests-1",
            team,
            role,
        )
        .await;
    let api = Api {
        client: client(),
        base: app.base.clone(),
        cookie: app.session_cookie(&user, &team).await,
    };
    (user, team, api)
}

/// Tells `users` something the way a feature does: in a transaction, then
/// announced after the commit.
async fn notify(app: &TestApp, team: &str, users: &[&str], kind: NotificationType, title: &str) {
    let mut tx = app.db.begin().await.expect("tx");
    let new = NewNotification {
        team_id: team,
        kind,
        title: title.to_string(),
        message: format!("about {title}"),
        link: Some("/monitor".into()),
        mail_by_default: false,
    };
    let recipients: Vec<String> = users.iter().map(ToString::to_string).collect();
    let created = hummbl::notifications::notify_in(&mut tx, &new, &recipients)
        .await
        .expect("notify");
    tx.commit().await.expect("commit");
    created.announce(&app.state.bus);
}

fn titles(list: &Value) -> Vec<String> {
    list["notifications"]
        .as_array()
        .expect("notifications")
        .iter()
        .map(|n| n["title"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn stored_unread(app: &TestApp, user: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL")
        .bind(user)
        .fetch_one(app.db.read())
        .await
        .expect("count")
}

#[tokio::test]
async fn the_list_filters_pages_and_marks_only_your_own() {
    let app = TestApp::spawn().await;
    let (ada, team, ada_api) = someone(&app, "ada", None, Role::Owner).await;
    let (bo, _, bo_api) = someone(&app, "bo", Some(&team), Role::Viewer).await;
    for i in 0..7 {
        notify(
            &app,
            &team,
            &[&ada],
            NotificationType::ExecutionFailed,
            &format!("run {i}"),
        )
        .await;
    }
    notify(
        &app,
        &team,
        &[&ada, &bo],
        NotificationType::KeyFailed,
        "key",
    )
    .await;

    let (status, first) = ada_api.get("/api/notifications?limit=3").await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(titles(&first), ["key", "run 6", "run 5"], "newest first");
    assert_eq!(first["unread"], 8);
    let notification = &first["notifications"][0];
    for field in [
        "id",
        "type",
        "title",
        "message",
        "link",
        "read",
        "created_at",
    ] {
        assert!(
            notification.get(field).is_some(),
            "{field} in {notification}"
        );
    }
    assert_eq!(notification["type"], "key_failed");
    assert_eq!(notification["read"], false);

    // Older pages by cursor, to the end.
    let mut seen = titles(&first);
    let mut next = first["next"].as_str().map(ToString::to_string);
    while let Some(cursor) = next {
        let (status, page) = ada_api
            .get(&format!("/api/notifications?limit=3&before={cursor}"))
            .await;
        assert_eq!(status, 200, "{page}");
        seen.extend(titles(&page));
        next = page["next"].as_str().map(ToString::to_string);
    }
    let mut expected = vec!["key".to_string()];
    expected.extend((0..7).rev().map(|i| format!("run {i}")));
    assert_eq!(seen, expected, "every notification once, in order");

    let (_, keys) = ada_api.get("/api/notifications?type=key_failed").await;
    assert_eq!(titles(&keys), ["key"]);

    // Read, unread, read-all; counts follow.
    let id = first["notifications"][1]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let (status, marked) = ada_api
        .post(&format!("/api/notifications/{id}/read"), json!({}))
        .await;
    assert_eq!(status, 200, "{marked}");
    assert_eq!(marked["unread"], 7);
    assert_eq!(marked["ids"], json!([id]));
    let (_, unread_only) = ada_api
        .get("/api/notifications?unread=true&limit=100")
        .await;
    assert_eq!(
        unread_only["notifications"].as_array().map(Vec::len),
        Some(7)
    );
    let (_, again) = ada_api
        .post(&format!("/api/notifications/{id}/unread"), json!({}))
        .await;
    assert_eq!(again["unread"], 8);

    // Bo's notification id is not Ada's to touch, and Bo's list is Bo's.
    let (_, bos) = bo_api.get("/api/notifications").await;
    assert_eq!(titles(&bos), ["key"]);
    let bos_id = bos["notifications"][0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let (status, _) = ada_api
        .post(&format!("/api/notifications/{bos_id}/read"), json!({}))
        .await;
    assert_eq!(status, 404);
    assert_eq!(stored_unread(&app, &bo).await, 1, "nothing changed");

    // A header naming another user changes nothing: identity is the session.
    let answer = client()
        .get(app.url("/api/notifications"))
        .header("cookie", &bo_api.cookie)
        .header("X-User-ID", &ada)
        .send()
        .await
        .expect("list");
    let listed: Value = answer.json().await.expect("json");
    assert_eq!(titles(&listed), ["key"], "still Bo's own list");
    let answer = client()
        .post(app.url("/api/notifications/read-all"))
        .header("cookie", &bo_api.cookie)
        .header("X-User-ID", &ada)
        .send()
        .await
        .expect("read-all");
    assert_eq!(answer.status(), 200);
    assert_eq!(stored_unread(&app, &ada).await, 8, "Ada's are untouched");
    assert_eq!(stored_unread(&app, &bo).await, 0);

    let (status, all) = ada_api.post("/api/notifications/read-all", json!({})).await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(all["marked"], 8);
    assert_eq!(all["unread"], 0);

    // Bad input: 422 naming the parameter; nothing else happens.
    for (query, field) in [
        ("type=execution_complete", "type"),
        ("before=yesterday", "before"),
        ("before=", "before"),
        ("type=", "type"),
        ("before=12.x%3Bdrop", "before"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
    ] {
        let (status, body) = ada_api.get(&format!("/api/notifications?{query}")).await;
        assert_eq!(status, 422, "{query}: {body}");
        assert_eq!(body["error"]["field"], field, "{query}: {body}");
    }
    let (status, _) = ada_api
        .post("/api/notifications/not-an-id/read", json!({}))
        .await;
    assert_eq!(status, 404);
    app.stop().await;
}

#[tokio::test]
async fn removal_from_a_team_takes_its_notifications_away() {
    let app = TestApp::spawn().await;
    let (_, team, owner_api) = someone(&app, "owner", None, Role::Owner).await;
    let (bo, _, bo_api) = someone(&app, "bo-removed", Some(&team), Role::Member).await;
    let (_, own_team, _) = someone(&app, "bo-elsewhere", None, Role::Owner).await;
    hummbl::teams::add_member(&app.db, &own_team, &bo, Role::Member, None)
        .await
        .expect("second team");
    notify(
        &app,
        &team,
        &[&bo],
        NotificationType::ExecutionFailed,
        "secret workflow",
    )
    .await;
    notify(
        &app,
        &own_team,
        &[&bo],
        NotificationType::ExecutionFailed,
        "own workflow",
    )
    .await;
    let (_, before) = bo_api.get("/api/notifications").await;
    assert_eq!(titles(&before), ["own workflow", "secret workflow"]);
    let (status, _) = owner_api
        .send(Method::DELETE, &format!("/api/team/members/{bo}"), None)
        .await;
    assert_eq!(status, 204);
    let rows: Vec<(String,)> = sqlx::query_as("SELECT title FROM notifications WHERE user_id = $1")
        .bind(&bo)
        .fetch_all(app.db.read())
        .await
        .expect("rows");
    assert_eq!(rows, [("own workflow".to_string(),)]);
    app.stop().await;
}

/// The stream's frames of one kind, as JSON.
fn events(frames: &[String], kind: &str) -> Vec<Value> {
    frames
        .iter()
        .filter(|frame| frame.contains(&format!("event: {kind}")))
        .filter_map(|frame| {
            let data = frame.lines().find_map(|line| line.strip_prefix("data: "))?;
            serde_json::from_str(data).ok()
        })
        .collect()
}

async fn open_stream(
    app: &TestApp,
    api: &Api,
    last_event_id: Option<&str>,
) -> impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin + use<> {
    let mut request = client()
        .get(app.url("/api/notifications/stream"))
        .header("cookie", &api.cookie);
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    let answer = request.send().await.expect("stream");
    assert_eq!(answer.status(), 200);
    Box::pin(answer.bytes_stream())
}

#[tokio::test]
async fn arrivals_reach_every_open_stream_fast_and_in_order() {
    let app = TestApp::spawn().await;
    let (ada, team, ada_api) = someone(&app, "ada-live", None, Role::Owner).await;
    let (bo, _, bo_api) = someone(&app, "bo-live", Some(&team), Role::Member).await;
    let mut tab_one = open_stream(&app, &ada_api, None).await;
    let mut tab_two = open_stream(&app, &ada_api, None).await;
    let mut bos_tab = open_stream(&app, &bo_api, None).await;

    let mut latencies = Vec::new();
    for i in 0..5 {
        let sent = Instant::now();
        notify(
            &app,
            &team,
            &[&ada],
            NotificationType::ScheduleFailed,
            &format!("n{i}"),
        )
        .await;
        let frames = read_frames(&mut tab_one, |f| f.contains("notification.created")).await;
        latencies.push(sent.elapsed());
        let arrived = events(&frames, "notification.created");
        assert_eq!(arrived[0]["notification"]["title"], format!("n{i}"));
        assert_eq!(arrived[0]["unread"], i + 1);
    }
    latencies.sort();
    let median = latencies[latencies.len() / 2];
    eprintln!(
        "notify → stream: median {median:?}, max {:?}",
        latencies.last()
    );
    assert!(
        median < Duration::from_millis(100),
        "the median arrival took {median:?}"
    );
    // The second tab got the same five, in the same order.
    let frames = read_frames(&mut tab_two, |f| f.contains("\"n4\"")).await;
    let second: Vec<Value> = events(&frames, "notification.created")
        .iter()
        .map(|e| e["notification"]["title"].clone())
        .collect();
    assert_eq!(second, ["n0", "n1", "n2", "n3", "n4"]);
    let last_id = frames
        .iter()
        .rev()
        .find_map(|f| f.lines().find_map(|l| l.strip_prefix("id: ")))
        .expect("an id")
        .to_string();

    // A read on one tab shows on the other, with the new count.
    let (_, list) = ada_api.get("/api/notifications").await;
    let id = list["notifications"][0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    ada_api
        .post(&format!("/api/notifications/{id}/read"), json!({}))
        .await;
    let frames = read_frames(&mut tab_two, |f| f.contains("notification.read")).await;
    let read = &events(&frames, "notification.read")[0];
    assert_eq!(read["ids"], json!([id]));
    assert_eq!(read["unread"], 4);

    // Bo heard nothing of Ada's.
    notify(&app, &team, &[&bo], NotificationType::KeyFailed, "for bo").await;
    let frames = read_frames(&mut bos_tab, |f| f.contains("notification.created")).await;
    let bos: Vec<Value> = events(&frames, "notification.created");
    assert_eq!(bos.len(), 1);
    assert_eq!(bos[0]["notification"]["title"], "for bo");

    // A reconnecting tab resumes after its Last-Event-ID.
    notify(
        &app,
        &team,
        &[&ada],
        NotificationType::AlertFired,
        "while away",
    )
    .await;
    let mut resumed = open_stream(&app, &ada_api, Some(&last_id)).await;
    let frames = read_frames(&mut resumed, |f| f.contains("while away")).await;
    let kinds: Vec<&str> = frames
        .iter()
        .filter_map(|f| f.lines().find_map(|l| l.strip_prefix("event: ")))
        .collect();
    assert_eq!(
        kinds,
        ["notification.read", "notification.created"],
        "{frames:?}"
    );
    app.stop().await;
}

/// Two tabs mark read and unread at once while new notifications arrive: the
/// count each tab ends with (the highest version it saw) is the stored count.
#[tokio::test]
async fn the_badge_count_stays_exact_under_concurrent_changes() {
    let app = TestApp::spawn().await;
    let (ada, team, ada_api) = someone(&app, "ada-badge", None, Role::Owner).await;
    for i in 0..20 {
        notify(
            &app,
            &team,
            &[&ada],
            NotificationType::ExecutionFailed,
            &format!("b{i}"),
        )
        .await;
    }
    let (_, list) = ada_api.get("/api/notifications?limit=100").await;
    let ids: Vec<String> = list["notifications"]
        .as_array()
        .expect("list")
        .iter()
        .map(|n| n["id"].as_str().expect("id").to_string())
        .collect();
    let mut tab_one = open_stream(&app, &ada_api, None).await;
    let mut tab_two = open_stream(&app, &ada_api, None).await;

    let mut changes = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let api = ada_api.clone();
        let path = if i % 3 == 0 {
            format!("/api/notifications/{id}/unread")
        } else {
            format!("/api/notifications/{id}/read")
        };
        changes.push(tokio::spawn(
            async move { api.post(&path, json!({})).await },
        ));
        if i % 4 == 0 {
            let api = ada_api.clone();
            changes.push(tokio::spawn(async move {
                api.post(&format!("/api/notifications/{}/unread", "x"), json!({}))
                    .await
            }));
        }
    }
    let arrivals = {
        let app_db = app.db.clone();
        let bus = app.state.bus.clone();
        let team = team.clone();
        let ada = ada.clone();
        tokio::spawn(async move {
            for i in 0..10 {
                let mut tx = app_db.begin().await.expect("tx");
                let new = NewNotification {
                    team_id: &team,
                    kind: NotificationType::AlertFired,
                    title: format!("arrival {i}"),
                    message: String::new(),
                    link: None,
                    mail_by_default: false,
                };
                let created =
                    hummbl::notifications::notify_in(&mut tx, &new, std::slice::from_ref(&ada))
                        .await
                        .expect("notify");
                tx.commit().await.expect("commit");
                created.announce(&bus);
            }
        })
    };
    for change in changes {
        change.await.expect("change");
    }
    arrivals.await.expect("arrivals");
    // A final change whose event closes the sequence for both tabs.
    let (_, done) = ada_api.post("/api/notifications/read-all", json!({})).await;
    let final_version = done["version"].as_i64().expect("version");
    let expected = stored_unread(&app, &ada).await;
    assert_eq!(expected, 0);

    let mut first_id = u64::MAX;
    for tab in [&mut tab_one, &mut tab_two] {
        let frames = read_frames(tab, |f| f.contains("\"all\":true")).await;
        first_id = frames
            .iter()
            .filter_map(|f| f.lines().find_map(|l| l.strip_prefix("id: ")))
            .filter_map(|id| id.parse::<u64>().ok())
            .fold(first_id, u64::min);
        let mut best: Option<(i64, i64)> = None;
        for kind in ["notification.created", "notification.read"] {
            for event in events(&frames, kind) {
                let version = event["version"].as_i64().expect("version");
                let unread = event["unread"].as_i64().expect("unread");
                if best.is_none_or(|(v, _)| version > v) {
                    best = Some((version, unread));
                }
            }
        }
        assert_eq!(best, Some((final_version, expected)));
    }
    // And before the read-all, every reported (version, count) pair was the
    // count at that version: versions are unique, and counts step by one.
    let mut reported: Vec<(i64, i64)> = Vec::new();
    // Resumed from just before the first event either tab saw: all of them again.
    let before_first = (first_id - 1).to_string();
    let mut check = open_stream(&app, &ada_api, Some(&before_first)).await;
    let frames = read_frames(&mut check, |f| f.contains("\"all\":true")).await;
    for kind in ["notification.created", "notification.read"] {
        for event in events(&frames, kind) {
            reported.push((
                event["version"].as_i64().expect("version"),
                event["unread"].as_i64().expect("unread"),
            ));
        }
    }
    reported.sort();
    let versions: Vec<i64> = reported.iter().map(|(v, _)| *v).collect();
    let mut unique = versions.clone();
    unique.dedup();
    assert_eq!(versions, unique, "one report per version");
    for pair in reported.windows(2) {
        let ((_, before), (_, after)) = (pair[0], pair[1]);
        let step = after - before;
        assert!(
            (-1..=1).contains(&step) || after == 0,
            "between versions the count moves by one change: {pair:?}"
        );
    }
    drop(check);
    app.stop().await;
}

/// On PostgreSQL several replicas serve one user: a notification created on
/// one reaches a stream open on the other, a read on the other shows on the
/// first, and both replicas report the same count. (On SQLite there is one
/// process.)
#[tokio::test]
async fn notifications_cross_replicas_and_counts_agree() {
    if common::postgres_admin_url().is_none() {
        return;
    }
    let first = TestApp::spawn().await;
    let second = first.replica().await;
    let (ada, team, on_first) = someone(&first, "ada-replicas", None, Role::Owner).await;
    let on_second = Api {
        base: second.base.clone(),
        ..on_first.clone()
    };
    let mut stream_on_second = open_stream(&second, &on_second, None).await;
    let mut stream_on_first = open_stream(&first, &on_first, None).await;
    // The bridge's listener connects in the background; give it a moment.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut latencies = Vec::new();
    for i in 0..5 {
        let sent = Instant::now();
        notify(
            &first,
            &team,
            &[&ada],
            NotificationType::ExecutionFailed,
            &format!("r{i}"),
        )
        .await;
        let frames = read_frames(&mut stream_on_second, |f| f.contains(&format!("\"r{i}\""))).await;
        latencies.push(sent.elapsed());
        let arrived = events(&frames, "notification.created");
        assert_eq!(arrived.last().expect("arrived")["unread"], i + 1);
    }
    latencies.sort();
    eprintln!(
        "notify on one replica → stream on the other: median {:?}, max {:?}",
        latencies[latencies.len() / 2],
        latencies.last()
    );

    let (_, list) = on_second.get("/api/notifications").await;
    let id = list["notifications"][0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let (status, _) = on_second
        .post(&format!("/api/notifications/{id}/read"), json!({}))
        .await;
    assert_eq!(status, 200);
    let frames = read_frames(&mut stream_on_first, |f| f.contains("notification.read")).await;
    assert_eq!(events(&frames, "notification.read")[0]["unread"], 4);
    let (_, from_first) = on_first.get("/api/notifications?limit=1").await;
    let (_, from_second) = on_second.get("/api/notifications?limit=1").await;
    assert_eq!(from_first["unread"], 4);
    assert_eq!(from_second["unread"], 4);
    assert_eq!(stored_unread(&first, &ada).await, 4);
    second.stop().await;
    first.stop().await;
}
