//! Execution events shared between replicas on PostgreSQL. Each process sends
//! the events of shared kinds with `pg_notify` on one channel and listens on
//! it; what another process sent is published on the local bus. So a monitor
//! served by one replica also shows executions that a runner in another
//! replica is moving.
//!
//! Telemetry stays with the process that ingested it: its volume does not
//! belong on NOTIFY, whose payloads are capped at 8,000 bytes and pass through
//! one queue per database cluster.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sqlx::postgres::PgListener;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{Bus, Kind};
use crate::app::AppState;
use crate::storage::{Backend, Db};

const CHANNEL: &str = "hummbl_bus";
/// PostgreSQL refuses NOTIFY payloads of 8,000 bytes or more.
const MAX_PAYLOAD: usize = 7_900;
/// Events waiting to be sent; beyond this they are dropped (and logged)
/// rather than held without bound while the database is unreachable.
const BACKLOG: usize = 10_000;
/// How long to wait before connecting the listener again.
const RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// An event on its way to the other replicas.
#[derive(Debug)]
pub struct Shared {
    pub team_id: String,
    pub user_id: Option<String>,
    pub kind: Kind,
    pub data: String,
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    /// The sending process, so it can skip its own events.
    origin: String,
    team_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
    kind: String,
    data: String,
}

/// Starts the bridge when the database is PostgreSQL: one task sends shared
/// events, one listens for the other replicas'. Both end on shutdown.
pub fn spawn(state: &AppState, tasks: &mut JoinSet<()>) {
    if state.db.backend() != Backend::Postgres {
        return;
    }
    let Some(url) = state.config.database_url() else {
        return;
    };
    let (sender, receiver) = mpsc::unbounded_channel();
    if state.bus.to_peers.set(sender).is_err() {
        return; // already bridged (one bus, one bridge)
    }
    let origin = uuid::Uuid::new_v4().to_string();
    tasks.spawn(send(
        state.db.clone(),
        receiver,
        origin.clone(),
        state.shutdown.clone(),
    ));
    tasks.spawn(listen(
        url.to_string(),
        state.bus.clone(),
        origin,
        state.shutdown.clone(),
    ));
}

async fn send(
    db: Db,
    mut events: mpsc::UnboundedReceiver<Shared>,
    origin: String,
    shutdown: CancellationToken,
) {
    loop {
        let shared = tokio::select! {
            _ = shutdown.cancelled() => break,
            next = events.recv() => match next {
                Some(shared) => shared,
                None => break,
            },
        };
        if events.len() > BACKLOG {
            tracing::warn!(
                dropped = events.len(),
                "other replicas are behind on execution events; dropping the backlog"
            );
            while events.try_recv().is_ok() {}
        }
        let envelope = Envelope {
            origin: origin.clone(),
            team_id: shared.team_id,
            user_id: shared.user_id,
            kind: shared.kind.as_str().to_string(),
            data: shared.data,
        };
        let Ok(payload) = serde_json::to_string(&envelope) else {
            continue;
        };
        if payload.len() > MAX_PAYLOAD {
            tracing::warn!(
                kind = envelope.kind,
                bytes = payload.len(),
                "event too large to share with other replicas"
            );
            continue;
        }
        if let Err(err) = db.notify(CHANNEL, &payload).await {
            tracing::warn!(error = %err, "could not share an event with other replicas");
        }
    }
}

async fn listen(url: String, bus: Arc<Bus>, origin: String, shutdown: CancellationToken) {
    while !shutdown.is_cancelled() {
        let mut listener = match connect(&url).await {
            Ok(listener) => listener,
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for other replicas' events; retrying");
                pause(&shutdown).await;
                continue;
            }
        };
        loop {
            let received = tokio::select! {
                _ = shutdown.cancelled() => return,
                received = listener.try_recv() => received,
            };
            match received {
                Ok(Some(notification)) => deliver(&bus, &origin, notification.payload()),
                // The connection was lost: events sent meanwhile are gone, so
                // streams are told to reload before live events resume.
                Ok(None) => bus.publish_resync(),
                Err(err) => {
                    tracing::warn!(error = %err, "lost the listener for other replicas' events");
                    bus.publish_resync();
                    pause(&shutdown).await;
                    break;
                }
            }
        }
    }
}

async fn connect(url: &str) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

async fn pause(shutdown: &CancellationToken) {
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = tokio::time::sleep(RETRY) => {}
    }
}

/// Publishes another replica's event here; our own come back too and are skipped.
fn deliver(bus: &Bus, origin: &str, payload: &str) {
    let Ok(envelope) = serde_json::from_str::<Envelope>(payload) else {
        tracing::warn!("unreadable event from another replica");
        return;
    };
    if envelope.origin == origin {
        return;
    }
    // Only kinds meant for other replicas are taken; anything else is ignored.
    match envelope.kind.parse::<Kind>() {
        Ok(kind) if kind.is_shared() => {
            let audience = super::Audience {
                team_id: envelope.team_id,
                user_id: envelope.user_id,
            };
            bus.publish_from_peer(audience, kind, envelope.data)
        }
        _ => tracing::debug!(
            kind = envelope.kind,
            "event kind not shared between replicas"
        ),
    }
}
