//! The kinds of events on the bus, the feeds they go out on, and which ones
//! the other replicas need.

/// What an event is about; its SSE `event:` name is [`Kind::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An execution's summary after a change (`execution.changed`).
    ExecutionChanged,
    /// A step started or ended (`execution.step`).
    ExecutionStep,
    /// A telemetry event was stored (`telemetry.event`).
    TelemetryEvent,
    /// A component metric was stored (`telemetry.metric`).
    TelemetryMetric,
    /// Every stream should reload its state: events may have been missed.
    Resync,
    /// A session, token or membership ended: the live streams it opened close
    /// (`access.ended`, never sent to a client; see [`super::streams`]).
    AccessEnded,
    /// A notification for one user (`notification.created`).
    NotificationCreated,
    /// A user's notifications were read or marked unread (`notification.read`).
    NotificationRead,
}

/// The streams a client can follow: each carries its own kinds (and resyncs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    Executions,
    Telemetry,
    /// One user's notifications, whichever team they came from.
    Notifications,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::ExecutionChanged,
        Kind::ExecutionStep,
        Kind::TelemetryEvent,
        Kind::TelemetryMetric,
        Kind::Resync,
        Kind::AccessEnded,
        Kind::NotificationCreated,
        Kind::NotificationRead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::ExecutionChanged => "execution.changed",
            Kind::ExecutionStep => "execution.step",
            Kind::TelemetryEvent => "telemetry.event",
            Kind::TelemetryMetric => "telemetry.metric",
            Kind::Resync => "resync",
            Kind::AccessEnded => "access.ended",
            Kind::NotificationCreated => "notification.created",
            Kind::NotificationRead => "notification.read",
        }
    }

    /// The feed the kind is sent on (a resync goes to every feed; the end of
    /// someone's access to none).
    pub fn feed(self) -> Option<Feed> {
        match self {
            Kind::ExecutionChanged | Kind::ExecutionStep => Some(Feed::Executions),
            Kind::TelemetryEvent | Kind::TelemetryMetric => Some(Feed::Telemetry),
            Kind::NotificationCreated | Kind::NotificationRead => Some(Feed::Notifications),
            Kind::Resync | Kind::AccessEnded => None,
        }
    }

    /// Whether other replicas need it (see [`super::bridge`]): what the execution
    /// monitor shows, notifications (a user's tabs may be on any replica), and
    /// the end of access (their streams close too). Telemetry stays with the
    /// process that stored it.
    pub fn is_shared(self) -> bool {
        matches!(self.feed(), Some(Feed::Executions | Feed::Notifications))
            || self == Kind::AccessEnded
    }
}

impl std::str::FromStr for Kind {
    type Err = ();

    fn from_str(text: &str) -> Result<Kind, ()> {
        Kind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or(())
    }
}
