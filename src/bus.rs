//! The live bus: an in-process broadcast of domain events (telemetry ingested,
//! later executions and notifications), with a bounded ring buffer of the most
//! recent events so a reconnecting SSE client can resume from `Last-Event-ID`.
//! Events carry a sequence number, increasing per process. Subscribers filter by
//! team. A subscriber that falls further behind than the broadcast capacity is
//! told to resync rather than silently missing events.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use std::convert::Infallible;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream, StreamExt};
use serde::Serialize;
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_util::sync::CancellationToken;

/// How many events the broadcast channel holds for slow subscribers.
const CHANNEL_CAPACITY: usize = 4096;
/// How often an idle SSE stream sends a comment, so proxies keep it open.
const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(15);
/// How many recent events are kept for resuming streams.
const RING_CAPACITY: usize = 2048;

#[derive(Debug, Clone, Serialize)]
pub struct BusEvent {
    pub seq: u64,
    #[serde(skip)]
    pub team_id: String,
    /// e.g. `telemetry.event`, `telemetry.metric`
    pub kind: &'static str,
    pub data: serde_json::Value,
}

pub struct Bus {
    sender: broadcast::Sender<Arc<BusEvent>>,
    ring: Mutex<Ring>,
}

struct Ring {
    next_seq: u64,
    events: VecDeque<Arc<BusEvent>>,
}

/// What a resuming subscriber gets from the ring buffer.
pub enum Replay {
    /// The events after the given id (possibly none).
    Events(Vec<Arc<BusEvent>>),
    /// The id is older than the ring buffer: the client must reload its state.
    TooOld,
}

impl Default for Bus {
    fn default() -> Self {
        Bus::new()
    }
}

impl Bus {
    pub fn new() -> Bus {
        let (sender, _) = broadcast::channel(CHANNEL_CAPACITY);
        Bus {
            sender,
            ring: Mutex::new(Ring {
                next_seq: 1,
                events: VecDeque::with_capacity(RING_CAPACITY),
            }),
        }
    }

    /// Publishes events in order, recording each in the ring buffer.
    pub fn publish_all(
        &self,
        events: impl IntoIterator<Item = (String, &'static str, serde_json::Value)>,
    ) {
        let Ok(mut ring) = self.ring.lock() else {
            return;
        };
        for (team_id, kind, data) in events {
            let event = Arc::new(BusEvent {
                seq: ring.next_seq,
                team_id,
                kind,
                data,
            });
            ring.next_seq += 1;
            if ring.events.len() == RING_CAPACITY {
                ring.events.pop_front();
            }
            ring.events.push_back(event.clone());
            // No subscribers is fine: the ring keeps the event for resumes.
            let _ = self.sender.send(event);
        }
    }

    pub fn publish(&self, team_id: String, kind: &'static str, data: serde_json::Value) {
        self.publish_all([(team_id, kind, data)]);
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
                let oldest = ring.events.front().map(|e| e.seq).unwrap_or(ring.next_seq);
                if seen + 1 < oldest || seen >= ring.next_seq {
                    Replay::TooOld
                } else {
                    Replay::Events(
                        ring.events
                            .iter()
                            .filter(|e| e.seq > seen)
                            .cloned()
                            .collect(),
                    )
                }
            }
        };
        (receiver, replay)
    }

    /// The SSE answer for a team's stream of `kind_prefix` events, resuming
    /// after the request's `Last-Event-ID`, with a keep-alive every 15 s.
    pub fn sse_response(
        &self,
        team_id: String,
        kind_prefix: &'static str,
        headers: &axum::http::HeaderMap,
        shutdown: CancellationToken,
    ) -> Sse<impl Stream<Item = Result<Event, Infallible>> + use<>> {
        let stream = self.sse_stream(team_id, kind_prefix, last_event_id(headers), shutdown);
        Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
    }

    /// A team's events whose kind starts with `kind_prefix`, as Server-Sent
    /// Events: first those after `last_seen` (or `resync` if the ring no longer
    /// has them), then live ones, until `shutdown`.
    pub fn sse_stream(
        &self,
        team_id: String,
        kind_prefix: &'static str,
        last_seen: Option<u64>,
        shutdown: CancellationToken,
    ) -> impl Stream<Item = Result<Event, Infallible>> + use<> {
        let (receiver, replay) = self.subscribe(last_seen);
        let wanted =
            move |event: &BusEvent| event.team_id == team_id && event.kind.starts_with(kind_prefix);
        let first: Vec<Event> = match replay {
            Replay::TooOld => vec![resync_event()],
            Replay::Events(events) => events
                .iter()
                .filter(|event| wanted(event))
                .map(|event| sse_event(event))
                .collect(),
        };
        let live = BroadcastStream::new(receiver).filter_map(move |item| {
            let event = match item {
                Ok(event) if wanted(&event) => Some(sse_event(&event)),
                Ok(_) => None,
                Err(BroadcastStreamRecvError::Lagged(_)) => Some(resync_event()),
            };
            std::future::ready(event)
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

fn sse_event(event: &BusEvent) -> Event {
    Event::default()
        .id(event.seq.to_string())
        .event(event.kind)
        .data(event.data.to_string())
}

fn resync_event() -> Event {
    Event::default().event("resync").data("{}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publish(bus: &Bus, n: usize) {
        bus.publish_all((0..n).map(|i| ("team".to_string(), "test", serde_json::json!(i))));
    }

    #[tokio::test]
    async fn live_events_arrive_in_order() {
        let bus = Bus::new();
        let (mut rx, _) = bus.subscribe(None);
        publish(&bus, 3);
        for expected in 1..=3 {
            assert_eq!(rx.recv().await.expect("event").seq, expected);
        }
    }

    #[test]
    fn resume_replays_only_what_was_missed() {
        let bus = Bus::new();
        publish(&bus, 10);
        let (_, replay) = bus.subscribe(Some(7));
        let Replay::Events(events) = replay else {
            panic!("expected a replay")
        };
        assert_eq!(
            events.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![8, 9, 10]
        );
        let (_, nothing) = bus.subscribe(Some(10));
        assert!(matches!(nothing, Replay::Events(e) if e.is_empty()));
    }

    #[test]
    fn resuming_from_before_the_ring_asks_for_a_resync() {
        let bus = Bus::new();
        publish(&bus, RING_CAPACITY + 10);
        assert!(matches!(bus.subscribe(Some(3)).1, Replay::TooOld));
        // An id from another process lifetime (ahead of ours) also resyncs.
        assert!(matches!(bus.subscribe(Some(1_000_000)).1, Replay::TooOld));
    }
}
