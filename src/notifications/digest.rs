//! The e-mail digest: off, daily or weekly at an hour of the user's zone,
//! listing what is still unread of what arrived since the last digest.
//!
//! Exactly once per period: the `digests` worker records the digest as a row
//! keyed by (user, end of period) together with its outbox row and the
//! settings' next period, in one transaction. A restart or a second replica
//! that reaches the same period finds the key taken and writes nothing; the
//! outbox then sends the one message (see `mail` for its guarantee). A
//! period with nothing unread records its row and sends nothing.

use chrono::{Datelike, Duration, NaiveDate, TimeZone};
use chrono_tz::Tz;
use maud::html;
use serde::{Deserialize, Serialize};

use super::{Notification, store};
use crate::app::AppState;
use crate::config::Config;
use crate::mail::{Composed, MailKind, NewMail};
use crate::storage::{Tx, new_id, now_ms};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DigestFrequency {
    #[default]
    Off,
    Daily,
    Weekly,
}

impl DigestFrequency {
    pub fn as_str(self) -> &'static str {
        match self {
            DigestFrequency::Off => "off",
            DigestFrequency::Daily => "daily",
            DigestFrequency::Weekly => "weekly",
        }
    }
}

impl std::str::FromStr for DigestFrequency {
    type Err = ();

    fn from_str(text: &str) -> Result<DigestFrequency, ()> {
        match text {
            "off" => Ok(DigestFrequency::Off),
            "daily" => Ok(DigestFrequency::Daily),
            "weekly" => Ok(DigestFrequency::Weekly),
            _ => Err(()),
        }
    }
}

/// A user's digest settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DigestSettings {
    pub frequency: DigestFrequency,
    /// The local hour it goes out, 0 to 23.
    pub hour: i64,
    /// For a weekly digest, the day: 0 = Monday … 6 = Sunday.
    pub weekday: i64,
    /// An IANA zone.
    pub timezone: String,
    /// When the next one goes out (ms since the epoch; null when off).
    pub next_due_at: Option<i64>,
    /// The end of the last period a digest covered.
    pub sent_through: Option<i64>,
}

impl Default for DigestSettings {
    fn default() -> Self {
        DigestSettings {
            frequency: DigestFrequency::Off,
            hour: 8,
            weekday: 0,
            timezone: "UTC".into(),
            next_due_at: None,
            sent_through: None,
        }
    }
}

impl DigestSettings {
    /// The end of the first period after `after` (none when off).
    pub fn next_after(&self, after: i64) -> Option<i64> {
        let zone: Tz = self.timezone.parse().ok()?;
        let hour = u32::try_from(self.hour).ok().filter(|hour| *hour < 24)?;
        let local = zone.timestamp_millis_opt(after).single()?;
        let mut day = local.date_naive();
        // Two weeks of days always hold the next slot, daylight saving or not.
        for _ in 0..15 {
            if self.day_matches(day)
                && let Some(at) = local_hour(zone, day, hour).filter(|at| *at > after)
            {
                return Some(at);
            }
            day = day.succ_opt()?;
        }
        None
    }

    fn day_matches(&self, day: NaiveDate) -> bool {
        match self.frequency {
            DigestFrequency::Off => false,
            DigestFrequency::Daily => true,
            DigestFrequency::Weekly => {
                i64::from(day.weekday().num_days_from_monday()) == self.weekday
            }
        }
    }

    /// How far back a first digest looks (no digest sent yet).
    fn period_ms(&self) -> i64 {
        match self.frequency {
            DigestFrequency::Weekly => 7 * 86_400_000,
            _ => 86_400_000,
        }
    }
}

/// `hour`:00 of `day` in `zone`; an hour a clock change skips goes out at
/// the first instant after the gap.
fn local_hour(zone: Tz, day: NaiveDate, hour: u32) -> Option<i64> {
    let naive = day.and_hms_opt(hour, 0, 0)?;
    zone.from_local_datetime(&naive)
        .earliest()
        .or_else(|| {
            zone.from_local_datetime(&(naive + Duration::hours(1)))
                .earliest()
        })
        .map(|at| at.timestamp_millis())
}

/// Notifications one digest lists at most (the count says how many more).
const LISTED: i64 = 50;

/// Digests one tick records at most.
const BATCH: i64 = 100;

/// One tick of the `digests` worker: records every digest whose period ended.
pub async fn tick(state: AppState) -> anyhow::Result<u64> {
    let now = now_ms();
    let mut queued = 0;
    for (user_id, due_at) in store::due_digests(&state.db, now, BATCH).await? {
        let mut tx = state.db.begin().await?;
        let mailed = digest_in(&mut tx, &user_id, due_at, now).await?;
        tx.commit().await?;
        if mailed {
            queued += 1;
            state.mailer.wake();
        }
    }
    Ok(queued)
}

/// Records the user's digest for the period ending `due_at` and moves their
/// settings to the next period; whether a mail was queued.
async fn digest_in(tx: &mut Tx, user_id: &str, due_at: i64, now: i64) -> anyhow::Result<bool> {
    let Some(settings) = store::digest_settings_in(tx, user_id).await? else {
        return Ok(false);
    };
    if settings.next_due_at != Some(due_at) {
        // Changed since it was read (a new setting, another replica).
        return Ok(false);
    }
    let from = settings
        .sent_through
        .unwrap_or(due_at - settings.period_ms());
    let id = new_id();
    let items = store::unread_count_between_in(tx, user_id, (from, due_at)).await?;
    let recorded = store::record_digest_in(tx, &id, user_id, (from, due_at), items).await?;
    // Missed periods (no server ran) are not sent one by one: the next one
    // after now covers them.
    let next = settings.next_after(due_at.max(now));
    store::advance_digest_in(tx, user_id, next, due_at).await?;
    if !recorded || items == 0 {
        return Ok(false);
    }
    let Some(email) = store::user_email_in(tx, user_id).await? else {
        return Ok(false);
    };
    let things = if items == 1 {
        "notification"
    } else {
        "notifications"
    };
    let subject = format!("HUMMBL digest: {items} unread {things}");
    let mail_id = crate::mail::enqueue_in(
        tx,
        NewMail {
            team_id: None,
            kind: MailKind::Digest,
            subject_id: &id,
            recipient: &email,
            subject: &subject,
        },
    )
    .await?;
    store::set_digest_mail_in(tx, &id, &mail_id).await?;
    Ok(true)
}

/// The digest mail, composed when sent from what is still unread of its
/// period; none when everything was read meanwhile.
pub async fn compose_mail(
    tx: &mut Tx,
    config: &Config,
    digest_id: Option<&str>,
) -> Result<Option<Composed>, sqlx::Error> {
    let Some(id) = digest_id else {
        return Ok(None);
    };
    let Some((user_id, _, from, to)) = store::digest_in(tx, id).await? else {
        return Ok(None);
    };
    let (listed, count) = store::unread_between_in(tx, &user_id, (from, to), LISTED).await?;
    if count == 0 {
        return Ok(None);
    }
    Ok(Some(render(&listed, count, &config.link_base())))
}

fn render(listed: &[Notification], count: i64, base: &str) -> Composed {
    let inbox = format!("{base}/notifications?unread=true");
    let mut text = format!("You have {count} unread notifications in HUMMBL:\n\n");
    for notification in listed {
        text.push_str(&format!(
            "- [{}] {}\n",
            notification.team_name, notification.title
        ));
        if !notification.message.is_empty() {
            text.push_str(&format!("  {}\n", notification.message));
        }
    }
    let more = count - i64::try_from(listed.len()).unwrap_or(count);
    if more > 0 {
        text.push_str(&format!("\nand {more} more.\n"));
    }
    text.push_str(&format!("\nOpen your notifications: {inbox}\n"));
    let title = format!("{count} unread notifications");
    let body = html! {
        h1 style="font-size: 20px;" { (title) }
        ul {
            @for notification in listed {
                li style="margin-bottom: 8px;" {
                    strong { (notification.title) }
                    " · " (notification.team_name)
                    @if !notification.message.is_empty() { br; span style="color: #44444f;" { (notification.message) } }
                }
            }
        }
        @if more > 0 { p { "and " (more) " more." } }
        p { a href=(inbox) { "Open your notifications" } }
    };
    Composed {
        text,
        html: crate::mail::html_frame(&title, body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(frequency: DigestFrequency, hour: i64, timezone: &str) -> DigestSettings {
        DigestSettings {
            frequency,
            hour,
            weekday: 0,
            timezone: timezone.into(),
            ..DigestSettings::default()
        }
    }

    fn at(text: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(text)
            .expect("rfc 3339")
            .timestamp_millis()
    }

    #[test]
    fn a_daily_digest_goes_at_the_hour_of_the_users_zone() {
        let daily = settings(DigestFrequency::Daily, 8, "Europe/Berlin");
        assert_eq!(
            daily.next_after(at("2027-01-10T06:00:00Z")),
            Some(at("2027-01-10T07:00:00Z")),
            "08:00 in Berlin is 07:00 UTC in winter"
        );
        assert_eq!(
            daily.next_after(at("2027-01-10T07:00:00Z")),
            Some(at("2027-01-11T07:00:00Z")),
            "the slot itself is not after itself"
        );
        assert_eq!(
            daily.next_after(at("2027-07-10T07:30:00Z")),
            Some(at("2027-07-11T06:00:00Z")),
            "summer time"
        );
    }

    #[test]
    fn a_weekly_digest_waits_for_its_day_and_a_skipped_hour_moves_after_the_gap() {
        // 2027-03-28 is a Sunday; Berlin skips 02:00-03:00 that night.
        let mut weekly = settings(DigestFrequency::Weekly, 2, "Europe/Berlin");
        weekly.weekday = 6;
        assert_eq!(
            weekly.next_after(at("2027-03-24T12:00:00Z")),
            Some(at("2027-03-28T01:00:00Z")),
            "02:00 does not exist: 03:00 CEST, the instant after the gap"
        );
        assert_eq!(settings(DigestFrequency::Off, 8, "UTC").next_after(0), None);
        assert_eq!(
            settings(DigestFrequency::Daily, 8, "Mars/Base").next_after(0),
            None
        );
    }
}
