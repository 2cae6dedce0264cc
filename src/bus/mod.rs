//! The live bus: an in-process broadcast of domain events (executions changed,
//! telemetry ingested, notifications), each of a [`Kind`] and sent on its
//! [`Feed`], with a bounded ring buffer of the most
//! recent events so a reconnecting SSE client can resume from `Last-Event-ID`.
//! Events carry a sequence number, increasing per process from a random block
//! of its own (see [`first_seq`]); a publisher may hand
//! over a run of events as one entry, rendered only when a stream sends it.
//! Subscribers filter by team, or for a user's own events (notifications) by
//! user. On PostgreSQL, [`bridge`] shares execution and notification events
//! with the other replicas. A subscriber that falls further behind than the broadcast capacity is
//! told to resync rather than silently missing events.

pub mod bridge;
mod kind;
pub mod streams;

pub use kind::{Feed, Kind};

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};

use std::convert::Infallible;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream, StreamExt};
use serde::Serialize;
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_util::sync::CancellationToken;

/// How many entries (single events or runs) the broadcast channel holds for
/// slow subscribers.
const CHANNEL_CAPACITY: usize = 4096;
/// How often an idle SSE stream sends a comment, so proxies keep it open.
const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(15);
/// How many recent events are kept for resuming streams (a run that does not
/// fit whole pushes older entries out).
const RING_CAPACITY: usize = 2048;

/// Events a publisher hands over together: they are rendered to JSON only when
/// a stream sends them, so a busy feature with nobody watching (telemetry at a
/// few hundred thousand events a second) pays one bus entry per run, not per
/// event.
pub trait EventRun: Send + Sync + 'static {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The `index`th event as JSON text.
    fn json(&self, index: usize) -> String;
}

/// Who an entry is for: a team, or one user (within the team it came from).
pub struct Audience {
    pub team_id: String,
    pub user_id: Option<String>,
}

impl Audience {
    fn new(team_id: String, user_id: Option<String>) -> Audience {
        Audience { team_id, user_id }
    }
}

/// Which entries a stream follows: its team's, or its user's own.
#[derive(Debug, Clone)]
pub enum Scope {
    Team(String),
    User(String),
}

impl Scope {
    fn covers(&self, entry: &BusEvent) -> bool {
        match self {
            Scope::Team(team) => entry.user_id.is_none() && &entry.team_id == team,
            Scope::User(user) => entry.user_id.as_ref() == Some(user),
        }
    }
}

/// One bus entry: a single event, or a run of consecutive events of one team
/// and kind, numbered `first_seq`, `first_seq + 1`, ...
#[derive(Clone)]
pub struct BusEvent {
    pub first_seq: u64,
    pub team_id: String,
    /// The one user it is for (a notification), when not the whole team.
    pub user_id: Option<String>,
    pub kind: Kind,
    data: Data,
}

#[derive(Clone)]
enum Data {
    /// JSON text, serialized once however many streams send it.
    One(String),
    Run(Arc<dyn EventRun>),
}

impl BusEvent {
    pub fn len(&self) -> usize {
        match &self.data {
            Data::One(_) => 1,
            Data::Run(run) => run.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The sequence number of the entry's last event.
    pub fn last_seq(&self) -> u64 {
        self.first_seq + self.len() as u64 - 1
    }

    /// The entry's events after `seen` as (sequence number, JSON text).
    pub fn events_after(&self, seen: u64) -> impl Iterator<Item = (u64, String)> + '_ {
        (0..self.len()).filter_map(move |index| {
            let seq = self.first_seq + index as u64;
            (seq > seen).then(|| {
                let json = match &self.data {
                    Data::One(text) => text.clone(),
                    Data::Run(run) => run.json(index),
                };
                (seq, json)
            })
        })
    }
}

pub struct Bus {
    sender: broadcast::Sender<Arc<BusEvent>>,
    ring: Mutex<Ring>,
    /// Where events shared with other replicas go (see [`bridge`]); unset on
    /// SQLite, where there is one process.
    to_peers: OnceLock<tokio::sync::mpsc::UnboundedSender<bridge::Shared>>,
}

struct Ring {
    next_seq: u64,
    entries: VecDeque<Arc<BusEvent>>,
    /// Events held by `entries`.
    held: usize,
}

/// What a resuming subscriber gets from the ring buffer.
pub enum Replay {
    /// The entries holding events after the given id (possibly none).
    Events(Vec<Arc<BusEvent>>),
    /// The id is older than the ring buffer: the client must reload its state.
    TooOld,
}

/// Where this process's event ids start: a random one of 2^20 blocks of
/// 2^43 ids. Behind a load balancer a stream reconnects to whichever replica
/// the proxy picks, with the `Last-Event-ID` another process (or this one
/// before a restart) gave out; that id must never look like one of this
/// ring's, or the stream would replay the wrong events. An id from another
/// block is outside the ring, so the stream answers `resync` and the client
/// reloads its state. Ids stay below 2^63 (an i64, and exact as a string).
fn first_seq() -> u64 {
    use rand::Rng;
    rand::rng().random_range(1_u64..(1 << 20)) << 43
}

impl Default for Bus {
    fn default() -> Self {
        Bus::new()
    }
}

impl Bus {
    pub fn new() -> Bus {
        Bus::starting_at(first_seq())
    }

    /// A bus whose first event gets id `seq`.
    fn starting_at(seq: u64) -> Bus {
        let (sender, _) = broadcast::channel(CHANNEL_CAPACITY);
        Bus {
            sender,
            ring: Mutex::new(Ring {
                next_seq: seq,
                entries: VecDeque::new(),
                held: 0,
            }),
            to_peers: OnceLock::new(),
        }
    }

    /// Publishes one event (and, for kinds shared between replicas, sends it to
    /// the other processes on the same database).
    pub fn publish(&self, team_id: String, kind: Kind, data: &impl Serialize) {
        self.publish_one(team_id, None, kind, data);
    }

    /// Publishes one event for one user only (their notifications' feed).
    pub fn publish_to_user(
        &self,
        team_id: String,
        user_id: String,
        kind: Kind,
        data: &impl Serialize,
    ) {
        self.publish_one(team_id, Some(user_id), kind, data);
    }

    fn publish_one(
        &self,
        team_id: String,
        user_id: Option<String>,
        kind: Kind,
        data: &impl Serialize,
    ) {
        let text = match serde_json::to_string(data) {
            Ok(text) => text,
            Err(err) => {
                tracing::warn!(error = %err, kind = kind.as_str(), "bus event not serializable");
                return;
            }
        };
        if let Some(to_peers) = self.to_peers.get()
            && kind.is_shared()
        {
            let _ = to_peers.send(bridge::Shared {
                team_id: team_id.clone(),
                user_id: user_id.clone(),
                kind,
                data: text.clone(),
            });
        }
        self.publish_entries([(Audience::new(team_id, user_id), kind, Data::One(text))]);
    }

    /// Tells every stream to reload its state: events may have been missed
    /// (another replica's, while the bridge was reconnecting).
    fn publish_resync(&self) {
        self.publish_entries([(
            Audience::new(String::new(), None),
            Kind::Resync,
            Data::One("{}".into()),
        )]);
    }

    /// Publishes an event another replica published, here only.
    fn publish_from_peer(&self, audience: Audience, kind: Kind, text: String) {
        self.publish_entries([(audience, kind, Data::One(text))]);
    }

    /// Publishes runs of events (team, kind, run), in order.
    pub fn publish_runs(&self, runs: impl IntoIterator<Item = (String, Kind, Arc<dyn EventRun>)>) {
        let entries = runs
            .into_iter()
            .filter(|(_, _, run)| !run.is_empty())
            .map(|(team, kind, run)| (Audience::new(team, None), kind, Data::Run(run)));
        self.publish_entries(entries);
    }

    fn publish_entries(&self, entries: impl IntoIterator<Item = (Audience, Kind, Data)>) {
        let mut ring = match self.ring.lock() {
            Ok(ring) => ring,
            Err(poisoned) => poisoned.into_inner(),
        };
        for (audience, kind, data) in entries {
            let entry = Arc::new(BusEvent {
                first_seq: ring.next_seq,
                team_id: audience.team_id,
                user_id: audience.user_id,
                kind,
                data,
            });
            ring.next_seq += entry.len() as u64;
            ring.held += entry.len();
            ring.entries.push_back(entry.clone());
            while ring.held > RING_CAPACITY && ring.entries.len() > 1 {
                if let Some(oldest) = ring.entries.pop_front() {
                    ring.held -= oldest.len();
                }
            }
            // No subscribers is fine: the ring keeps the events for resumes.
            let _ = self.sender.send(entry);
        }
    }

    /// Subscribes, and replays what came after `last_seen` (when given). The
    /// subscription is taken under the ring's lock, so nothing falls between the
    /// replay and the live events.
    pub fn subscribe(
        &self,
        last_seen: Option<u64>,
    ) -> (broadcast::Receiver<Arc<BusEvent>>, Replay) {
        let ring = match self.ring.lock() {
            Ok(ring) => ring,
            Err(poisoned) => poisoned.into_inner(),
        };
        let receiver = self.sender.subscribe();
        let replay = match last_seen {
            None => Replay::Events(Vec::new()),
            Some(seen) => {
                let oldest = ring
                    .entries
                    .front()
                    .map(|entry| entry.first_seq)
                    .unwrap_or(ring.next_seq);
                if seen + 1 < oldest || seen >= ring.next_seq {
                    Replay::TooOld
                } else {
                    Replay::Events(
                        ring.entries
                            .iter()
                            .filter(|entry| entry.last_seq() > seen)
                            .cloned()
                            .collect(),
                    )
                }
            }
        };
        (receiver, replay)
    }

    /// The SSE answer for a team's `feed`, resuming after the request's
    /// `Last-Event-ID`, with a keep-alive every 15 s. It holds `permit` (its
    /// place among the open streams) and ends when the permit says so.
    pub fn sse_response(
        &self,
        scope: Scope,
        feed: Feed,
        headers: &axum::http::HeaderMap,
        permit: streams::StreamPermit,
    ) -> Sse<impl Stream<Item = Result<Event, Infallible>> + use<>> {
        let stream = self
            .sse_stream(scope, feed, last_event_id(headers), permit.ended())
            .map(move |event| {
                let _held_while_open = &permit;
                event
            });
        Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
    }

    /// The events of `feed` in `scope`, as Server-Sent Events: first those
    /// after `last_seen` (or `resync` if the ring no longer has them), then
    /// live ones, until `shutdown`.
    pub fn sse_stream(
        &self,
        scope: Scope,
        feed: Feed,
        last_seen: Option<u64>,
        shutdown: CancellationToken,
    ) -> impl Stream<Item = Result<Event, Infallible>> + use<> {
        let (receiver, replay) = self.subscribe(last_seen);
        let wanted = move |entry: &BusEvent| scope.covers(entry) && entry.kind.feed() == Some(feed);
        let for_stream = move |entry: &BusEvent, seen: u64| {
            if entry.kind == Kind::Resync {
                vec![resync_event()]
            } else if wanted(entry) {
                sse_events(entry, seen)
            } else {
                Vec::new()
            }
        };
        let first: Vec<Event> = match replay {
            Replay::TooOld => vec![resync_event()],
            Replay::Events(entries) => entries
                .iter()
                .flat_map(|entry| for_stream(entry, last_seen.unwrap_or(0)))
                .collect(),
        };
        let live = BroadcastStream::new(receiver).flat_map(move |item| {
            let events = match item {
                Ok(entry) => for_stream(&entry, 0),
                Err(BroadcastStreamRecvError::Lagged(_)) => vec![resync_event()],
            };
            stream::iter(events)
        });
        stream::iter(first)
            .chain(live)
            .map(Ok)
            .take_until(shutdown.cancelled_owned())
    }
}

/// The `Last-Event-ID` a reconnecting EventSource sends.
pub fn last_event_id(headers: &axum::http::HeaderMap) -> Option<u64> {
    headers
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.trim().parse::<u64>().ok())
}

/// An entry's events after `seen`, as SSE events.
fn sse_events(entry: &BusEvent, seen: u64) -> Vec<Event> {
    entry
        .events_after(seen)
        .map(|(seq, json)| {
            Event::default()
                .id(seq.to_string())
                .event(entry.kind.as_str())
                .data(json)
        })
        .collect()
}

fn resync_event() -> Event {
    Event::default().event(Kind::Resync.as_str()).data("{}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publish(bus: &Bus, n: usize) {
        for i in 0..n {
            bus.publish("team".to_string(), Kind::TelemetryEvent, &i);
        }
    }

    /// A run of `n` events numbered by their index.
    struct Numbers(usize);

    impl EventRun for Numbers {
        fn len(&self) -> usize {
            self.0
        }
        fn json(&self, index: usize) -> String {
            index.to_string()
        }
    }

    fn seqs(entries: &[Arc<BusEvent>], seen: u64) -> Vec<u64> {
        entries
            .iter()
            .flat_map(|entry| entry.events_after(seen).map(|(seq, _)| seq))
            .collect()
    }

    #[tokio::test]
    async fn live_events_arrive_in_order() {
        let bus = Bus::starting_at(1);
        let (mut rx, _) = bus.subscribe(None);
        publish(&bus, 3);
        for expected in 1..=3 {
            assert_eq!(rx.recv().await.expect("event").first_seq, expected);
        }
    }

    #[test]
    fn resume_replays_only_what_was_missed() {
        let bus = Bus::starting_at(1);
        publish(&bus, 10);
        let (_, replay) = bus.subscribe(Some(7));
        let Replay::Events(entries) = replay else {
            panic!("expected a replay")
        };
        assert_eq!(seqs(&entries, 7), vec![8, 9, 10]);
        let (_, nothing) = bus.subscribe(Some(10));
        assert!(matches!(nothing, Replay::Events(e) if e.is_empty()));
    }

    #[test]
    fn runs_are_numbered_per_event_and_resume_inside_a_run() {
        let bus = Bus::starting_at(1);
        publish(&bus, 2);
        bus.publish_runs([
            (
                "team".to_string(),
                Kind::TelemetryEvent,
                Arc::new(Numbers(5)) as Arc<dyn EventRun>,
            ),
            (
                "team".to_string(),
                Kind::TelemetryEvent,
                Arc::new(Numbers(0)) as Arc<dyn EventRun>,
            ),
        ]);
        publish(&bus, 1);
        let (_, replay) = bus.subscribe(Some(4));
        let Replay::Events(entries) = replay else {
            panic!("expected a replay")
        };
        assert_eq!(seqs(&entries, 4), vec![5, 6, 7, 8]);
        let texts: Vec<String> = entries[0].events_after(4).map(|(_, json)| json).collect();
        assert_eq!(
            texts,
            ["2", "3", "4"],
            "the run's own events, rendered on demand"
        );
    }

    #[tokio::test]
    async fn a_resync_reaches_every_team_s_stream() {
        use futures_util::StreamExt;
        let bus = Bus::starting_at(1);
        let shutdown = CancellationToken::new();
        let mut stream = Box::pin(bus.sse_stream(
            Scope::Team("a-team".into()),
            Feed::Executions,
            None,
            shutdown,
        ));
        bus.publish("another-team".into(), Kind::ExecutionChanged, &1);
        bus.publish_resync();
        let next = tokio::time::timeout(std::time::Duration::from_secs(1), stream.next())
            .await
            .expect("an event")
            .expect("stream open");
        let text = format!("{:?}", next.expect("infallible"));
        assert!(text.contains("resync"), "{text}");
        // A resume from before it replays the resync too.
        let (_, replay) = bus.subscribe(Some(0));
        let Replay::Events(entries) = replay else {
            panic!("expected a replay")
        };
        assert!(entries.iter().any(|entry| entry.kind == Kind::Resync));
    }

    #[test]
    fn resuming_from_before_the_ring_asks_for_a_resync() {
        let bus = Bus::starting_at(1);
        publish(&bus, RING_CAPACITY + 10);
        assert!(matches!(bus.subscribe(Some(3)).1, Replay::TooOld));
        // An id from another process lifetime (ahead of ours) also resyncs.
        assert!(matches!(bus.subscribe(Some(1_000_000)).1, Replay::TooOld));
        // A run larger than the ring is kept whole while it is the newest.
        bus.publish_runs([(
            "team".to_string(),
            Kind::TelemetryEvent,
            Arc::new(Numbers(RING_CAPACITY * 2)) as Arc<dyn EventRun>,
        )]);
        let newest = (RING_CAPACITY + 10) as u64;
        assert!(matches!(bus.subscribe(Some(newest)).1, Replay::Events(e) if e.len() == 1));
        assert!(matches!(bus.subscribe(Some(newest - 1)).1, Replay::TooOld));
    }

    #[test]
    fn another_process_s_ids_are_never_taken_for_ours() {
        // Replicas (or one process before and after a restart) each start in
        // a block of their own, so an id one gave out resyncs on the other.
        let (first, second) = (Bus::new(), Bus::new());
        publish(&first, 5);
        publish(&second, 5);
        let (_, replay) = first.subscribe(None);
        assert!(matches!(replay, Replay::Events(e) if e.is_empty()));
        let theirs = first.ring.lock().expect("ring").next_seq - 1;
        let ours = second.ring.lock().expect("ring").next_seq - 1;
        assert_ne!(theirs >> 43, ours >> 43, "blocks apart (1 in 2^20 to fail)");
        assert!(matches!(second.subscribe(Some(theirs)).1, Replay::TooOld));
        assert!(matches!(second.subscribe(Some(ours - 2)).1, Replay::Events(e) if e.len() == 2));
        assert!(ours < 1 << 63);
    }
}
