//! The replica recipe as written (`deploy/haproxy.cfg`, docs/PRODUCTION.md):
//! three servers on one PostgreSQL behind HAProxy, one of them killed with
//! SIGKILL under mixed traffic and started again. No acknowledged event is
//! lost, every acknowledged run finishes (the dead replica's runs are taken
//! over once their lease lapses), every live stream that was cut comes back
//! through another replica, and the per-second schedule fires no slot twice.
//! PostgreSQL only (SQLite is one process); needs HAProxy (`scripts/test`
//! installs Debian's and sets `HUMMBL_TEST_HAPROXY`).

mod common;
#[path = "replica_drill/mod.rs"]
mod drill;

use common::fake_provider;

use std::path::PathBuf;
use std::time::Duration;

fn haproxy() -> Option<PathBuf> {
    let named = std::env::var("HUMMBL_TEST_HAPROXY")
        .ok()
        .filter(|path| !path.is_empty())
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from("/usr/sbin/haproxy")).filter(|path| path.exists()));
    if named.is_none() {
        assert!(
            std::env::var("CI").map_or(true, |ci| ci != "true"),
            "CI=true but HAProxy is not installed (scripts/test installs it)"
        );
        eprintln!("skipping the replica drill: HAProxy is not installed");
    }
    named
}

#[tokio::test]
async fn three_replicas_behind_haproxy_lose_nothing_when_one_is_killed() {
    let Some(admin) = common::postgres_admin_url() else {
        return;
    };
    let Some(haproxy) = haproxy() else {
        return;
    };
    let work = tempfile::tempdir().expect("work dir");
    let drill = drill::Drill {
        hummbl: PathBuf::from(env!("CARGO_BIN_EXE_hummbl")),
        haproxy,
        proxy_config: drill::proxy_config(),
        database_url: common::fresh_postgres_database(&admin).await,
        work_dir: work.path().to_path_buf(),
        seconds: 12,
        ingest_clients: 4,
        page_clients: 2,
        stream_clients: 12,
        run_every: Duration::from_millis(100),
        lease_secs: 2,
    };
    let report = drill.run().await.expect("the drill ran");
    eprintln!("{}", report.table(&drill));
    assert!(report.events_acknowledged > 100, "{report:?}");
    assert_eq!(report.events_missing, 0, "acknowledged events lost");
    assert!(report.runs_started > 20, "{report:?}");
    assert_eq!(report.runs_unfinished, 0, "runs never finished");
    assert!(report.pages_served > 20, "{report:?}");
    assert!(
        report.streams_cut > 0,
        "some streams were on the killed replica"
    );
    assert_eq!(
        report.streams_resumed, report.streams_cut,
        "every cut stream came back"
    );
    assert!(report.slots >= 8, "the schedule kept firing: {report:?}");
    assert_eq!(report.slots_doubled, 0, "a slot fired twice");
}
