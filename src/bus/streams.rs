//! The open live streams (SSE), each held by a [`StreamPermit`] and tied to the
//! credential that opened it. Opening is capped per user and in total; and
//! when access ends — logout, "sign out everywhere", a password change, a
//! revoked token, removal from the team — the streams it opened end too,
//! within a second, on every replica: the change is published on the bus as
//! [`Kind::AccessEnded`] (shared through the bridge on PostgreSQL), and
//! [`watch`] ends the matching streams of this process and forgets the
//! sessions it had cached (`auth::session_cache`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::Kind;
use crate::app::AppState;
use crate::auth::{Credential, Principal};
use crate::error::AppError;

/// How many streams may be open at once.
#[derive(Debug, Clone, Copy)]
pub struct StreamLimits {
    pub per_user: usize,
    pub total: usize,
}

impl Default for StreamLimits {
    fn default() -> Self {
        StreamLimits {
            per_user: 20,
            total: 1000,
        }
    }
}

/// Access that has just ended: the streams it covers must close.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "ended", rename_all = "snake_case")]
pub enum AccessEnded {
    /// One session (logout, or revoked from the account page).
    Session { session_id: String },
    /// A user's sessions but `except` (a password change keeps the one making
    /// it; "sign out everywhere" keeps none).
    Sessions {
        user_id: String,
        except: Option<String>,
    },
    /// One personal API token.
    Token { token_id: String },
    /// Every token of a user.
    Tokens { user_id: String },
    /// A user's membership of a team (removed from it).
    Membership { user_id: String, team_id: String },
    /// A user's access changed without ending (a role change, a team
    /// switch): their streams stay open; cached sessions are read again.
    Changed { user_id: String },
}

impl AccessEnded {
    fn covers(&self, stream: &Holder) -> bool {
        let session = match &stream.credential {
            Credential::Session { session_id } => Some(session_id.as_str()),
            Credential::Token { .. } => None,
        };
        let token = match &stream.credential {
            Credential::Token { token_id } => Some(token_id.as_str()),
            Credential::Session { .. } => None,
        };
        match self {
            AccessEnded::Session { session_id } => session == Some(session_id.as_str()),
            AccessEnded::Sessions { user_id, except } => {
                stream.user_id == *user_id && session.is_some() && session != except.as_deref()
            }
            AccessEnded::Token { token_id } => token == Some(token_id.as_str()),
            AccessEnded::Tokens { user_id } => stream.user_id == *user_id && token.is_some(),
            AccessEnded::Membership { user_id, team_id } => {
                stream.user_id == *user_id && stream.team_id == *team_id
            }
            AccessEnded::Changed { .. } => false,
        }
    }
}

/// The registry of open streams.
pub struct OpenStreams {
    limits: StreamLimits,
    registry: Mutex<Registry>,
}

#[derive(Default)]
struct Registry {
    next_id: u64,
    open: HashMap<u64, Holder>,
}

struct Holder {
    user_id: String,
    team_id: String,
    credential: Credential,
    ended: CancellationToken,
}

/// An open stream's place in the registry; dropping it (the client went away,
/// the stream ended) frees the place.
pub struct StreamPermit {
    id: u64,
    streams: Arc<OpenStreams>,
    ended: CancellationToken,
}

impl StreamPermit {
    /// Cancelled when the stream must end (access ended, or shutdown).
    pub fn ended(&self) -> CancellationToken {
        self.ended.clone()
    }
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        self.streams.lock().open.remove(&self.id);
        // Lets a timer waiting to end the stream (see `end_at`) go.
        self.ended.cancel();
    }
}

/// Cancels `ended` at `ends_at` (ms since the epoch) unless it ends before.
fn end_at(ended: CancellationToken, ends_at: i64) {
    let wait = u64::try_from(ends_at.saturating_sub(crate::storage::now_ms())).unwrap_or(0);
    tokio::spawn(async move {
        tokio::select! {
            _ = ended.cancelled() => {}
            _ = tokio::time::sleep(std::time::Duration::from_millis(wait)) => ended.cancel(),
        }
    });
}

impl OpenStreams {
    pub fn new(limits: StreamLimits) -> OpenStreams {
        OpenStreams {
            limits,
            registry: Mutex::new(Registry::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        match self.registry.lock() {
            Ok(registry) => registry,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Takes a place for a stream of `principal`, ending with `shutdown` at the
    /// latest; a 429 naming the limit when the user or the server is at it.
    pub fn open(
        self: &Arc<Self>,
        principal: &Principal,
        shutdown: &CancellationToken,
        ends_at: Option<i64>,
    ) -> Result<StreamPermit, AppError> {
        let mut registry = self.lock();
        if registry.open.len() >= self.limits.total {
            return Err(too_many(format!(
                "the server has {} live streams open, its limit; try again shortly",
                self.limits.total
            )));
        }
        let mine = registry
            .open
            .values()
            .filter(|open| open.user_id == principal.user_id)
            .count();
        if mine >= self.limits.per_user {
            return Err(too_many(format!(
                "you have {} live streams open, the limit per user; close some tabs of the console",
                self.limits.per_user
            )));
        }
        registry.next_id += 1;
        let id = registry.next_id;
        let ended = shutdown.child_token();
        registry.open.insert(
            id,
            Holder {
                user_id: principal.user_id.clone(),
                team_id: principal.team_id.clone(),
                credential: principal.credential.clone(),
                ended: ended.clone(),
            },
        );
        drop(registry);
        if let Some(ends_at) = ends_at {
            end_at(ended.clone(), ends_at);
        }
        Ok(StreamPermit {
            id,
            streams: self.clone(),
            ended,
        })
    }

    /// Ends the streams `ended` covers; returns how many.
    pub fn end(&self, ended: &AccessEnded) -> usize {
        let registry = self.lock();
        let covered: Vec<&Holder> = registry
            .open
            .values()
            .filter(|open| ended.covers(open))
            .collect();
        for open in &covered {
            open.ended.cancel();
        }
        covered.len()
    }

    /// How many streams are open.
    pub fn count(&self) -> usize {
        self.lock().open.len()
    }

    /// The credentials and teams of the open streams (to check them again).
    fn holders(&self) -> Vec<(Credential, String, CancellationToken)> {
        self.lock()
            .open
            .values()
            .map(|open| {
                (
                    open.credential.clone(),
                    open.team_id.clone(),
                    open.ended.clone(),
                )
            })
            .collect()
    }
}

fn too_many(message: String) -> AppError {
    AppError::LimitReached {
        message,
        retry_after_secs: 5,
    }
}

/// Tells every replica that `ended` happened (after the change committed), so
/// the streams it covers close.
pub fn publish_ended(bus: &super::Bus, ended: AccessEnded) {
    bus.publish(String::new(), Kind::AccessEnded, &ended);
}

/// Ends this process's streams as access ends, here or on another replica.
/// Should this watcher fall behind the bus and miss events, it checks every
/// open stream's credential against the database instead.
pub fn watch(state: &AppState, tasks: &mut JoinSet<()>) {
    let state = state.clone();
    tasks.spawn(async move {
        let (mut events, _) = state.bus.subscribe(None);
        loop {
            let received = tokio::select! {
                _ = state.shutdown.cancelled() => return,
                received = events.recv() => received,
            };
            match received {
                Ok(entry) if entry.kind == Kind::AccessEnded => {
                    for (_, json) in entry.events_after(0) {
                        match serde_json::from_str::<AccessEnded>(&json) {
                            Ok(ended) => {
                                state.session_cache.forget(&ended);
                                state.streams.end(&ended);
                            }
                            Err(err) => tracing::warn!(error = %err, "unreadable access.ended"),
                        }
                    }
                }
                // The bridge reconnected: another replica's events may be lost.
                Ok(entry) if entry.kind == Kind::Resync => state.session_cache.clear(),
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => {
                    state.session_cache.clear();
                    check_every_stream(&state).await
                }
                Err(RecvError::Closed) => return,
            }
        }
    });
}

async fn check_every_stream(state: &AppState) {
    for (credential, team_id, ended) in state.streams.holders() {
        match crate::auth::still_valid(&state.db, &credential, &team_id).await {
            Ok(true) => {}
            Ok(false) => ended.cancel(),
            Err(err) => tracing::warn!(error = %err, "cannot check a live stream's credential"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;

    fn principal(user: &str, team: &str, credential: Credential) -> Principal {
        Principal {
            user_id: user.into(),
            email: format!("{user}@example.com"),
            name: user.into(),
            team_id: team.into(),
            team_name: team.into(),
            role: Role::Member,
            credential,
        }
    }

    fn session(id: &str) -> Credential {
        Credential::Session {
            session_id: id.into(),
        }
    }

    fn token(id: &str) -> Credential {
        Credential::Token {
            token_id: id.into(),
        }
    }

    #[test]
    fn streams_are_capped_per_user_and_in_total() {
        let streams = Arc::new(OpenStreams::new(StreamLimits {
            per_user: 2,
            total: 3,
        }));
        let shutdown = CancellationToken::new();
        let ada = principal("ada", "t", session("s1"));
        let first = streams.open(&ada, &shutdown, None).expect("first");
        let _second = streams.open(&ada, &shutdown, None).expect("second");
        let refused = streams
            .open(&ada, &shutdown, None)
            .err()
            .expect("third refused");
        assert!(refused.to_string().contains("per user"), "{refused}");
        let _bo = streams
            .open(&principal("bo", "t", session("s2")), &shutdown, None)
            .expect("bo");
        let full = streams
            .open(&principal("cy", "t", session("s3")), &shutdown, None)
            .err()
            .expect("server full");
        assert_eq!(full.status(), axum::http::StatusCode::TOO_MANY_REQUESTS);
        drop(first);
        assert_eq!(streams.count(), 2, "a dropped permit frees its place");
        assert!(streams.open(&ada, &shutdown, None).is_ok());
    }

    #[test]
    fn ended_access_ends_exactly_the_streams_it_covers() {
        let streams = Arc::new(OpenStreams::new(StreamLimits::default()));
        let shutdown = CancellationToken::new();
        let open = |user: &str, team: &str, credential: Credential| {
            streams
                .open(&principal(user, team, credential), &shutdown, None)
                .expect("open")
        };
        let here = open("ada", "t1", session("here"));
        let there = open("ada", "t2", session("there"));
        let ada_token = open("ada", "t1", token("k1"));
        let bo = open("bo", "t1", session("bo-session"));
        let ended = AccessEnded::Sessions {
            user_id: "ada".into(),
            except: Some("here".into()),
        };
        assert_eq!(streams.end(&ended), 1);
        assert!(there.ended().is_cancelled());
        assert!(!here.ended().is_cancelled() && !ada_token.ended().is_cancelled());
        let removed = AccessEnded::Membership {
            user_id: "ada".into(),
            team_id: "t1".into(),
        };
        assert_eq!(streams.end(&removed), 2);
        assert!(here.ended().is_cancelled() && ada_token.ended().is_cancelled());
        assert!(!bo.ended().is_cancelled());
        shutdown.cancel();
        assert!(bo.ended().is_cancelled(), "shutdown ends every stream");
    }

    #[test]
    fn ended_access_round_trips_as_json() {
        let ended = AccessEnded::Tokens {
            user_id: "ada".into(),
        };
        let text = serde_json::to_string(&ended).expect("json");
        assert_eq!(text, r#"{"ended":"tokens","user_id":"ada"}"#);
        assert_eq!(
            serde_json::from_str::<AccessEnded>(&text).expect("parse"),
            ended
        );
    }
}
