//! Cron expressions and time zones for schedules, on `croner`: 5 fields, or 6
//! with seconds first; `L`, `W`, `#`, ranges, steps, names and the
//! `@hourly`/`@daily`/`@weekly`/`@monthly` nicknames. A refusal names the
//! field and its position in the text.
//!
//! Daylight-saving rules (croner's, shown in the preview): a fixed-time slot
//! (second, minute and hour each a single value) that falls in the hour the
//! clocks skip runs at the first valid time after it, and in the hour that
//! repeats it runs once, at the earlier time; interval and wildcard slots in
//! the skipped hour do not happen, and in the repeated hour run at both times.

use chrono::{DateTime, LocalResult, TimeZone, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds, Year};
use croner::{Cron, JobType};

use crate::error::AppError;

const FIELD_NAMES: [&str; 6] = [
    "second",
    "minute",
    "hour",
    "day of month",
    "month",
    "day of week",
];

fn parser() -> CronParser {
    CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build()
}

/// Parses an expression; a refusal is a 422 on `cron` saying which field, at
/// which position (1-based, in characters), and why.
pub fn parse(text: &str) -> Result<Cron, AppError> {
    let text = text.trim();
    if text.chars().count() > 200 {
        return Err(AppError::validation(
            "cron",
            "must be at most 200 characters",
        ));
    }
    parser()
        .parse(text)
        .map_err(|err| locate(text, &err.to_string()))
}

/// Finds the first field that fails on its own (the others wildcards), to
/// point at it.
fn locate(text: &str, reason: &str) -> AppError {
    let fields: Vec<(usize, &str)> = text
        .split_whitespace()
        .map(|field| (text.find(field).unwrap_or(0), field))
        .collect();
    if !(5..=6).contains(&fields.len()) || text.starts_with('@') {
        return AppError::validation(
            "cron",
            format!(
                "needs 5 fields (minute hour day-of-month month day-of-week), 6 with seconds first, or @hourly, @daily, @weekly, @monthly: {reason}"
            ),
        );
    }
    let offset = 6 - fields.len();
    for (i, (at, field)) in fields.iter().enumerate() {
        let mut probe: Vec<&str> = vec!["*"; fields.len()];
        probe[i] = field;
        if parser().parse(&probe.join(" ")).is_err() {
            let position = text[..*at].chars().count() + 1;
            return AppError::validation(
                "cron",
                format!(
                    "the {} field `{field}` (position {position}) is not valid: {reason}",
                    FIELD_NAMES[i + offset]
                ),
            );
        }
    }
    AppError::validation("cron", reason.to_string())
}

/// An IANA time zone name ("Europe/Berlin"); else a 422 on `field`.
pub fn parse_zone(field: &str, text: &str) -> Result<Tz, AppError> {
    text.trim().parse::<Tz>().map_err(|_| {
        AppError::validation(
            field,
            format!("{text:?} is not an IANA time zone such as Europe/Berlin"),
        )
    })
}

/// The first slot strictly after `after_ms`, in `zone`.
pub fn next_after(cron: &Cron, zone: Tz, after_ms: i64) -> Option<i64> {
    let from = zone.timestamp_millis_opt(after_ms).single()?;
    cron.find_next_occurrence(&from, false)
        .ok()
        .map(|at| at.timestamp_millis())
}

/// The slots in `[from_ms, to_ms]`, oldest first, at most `limit`.
pub fn slots_between(cron: &Cron, zone: Tz, from_ms: i64, to_ms: i64, limit: usize) -> Vec<i64> {
    let mut slots = Vec::new();
    let Some(start) = zone.timestamp_millis_opt(from_ms).single() else {
        return slots;
    };
    let mut next = cron.find_next_occurrence(&start, true).ok();
    while let Some(at) = next {
        let ms = at.timestamp_millis();
        if ms > to_ms || slots.len() >= limit {
            break;
        }
        slots.push(ms);
        next = cron.find_next_occurrence(&at, false).ok();
    }
    slots
}

/// One upcoming slot, with a note when a daylight-saving change moved or
/// merged it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upcoming {
    pub at: DateTime<Tz>,
    pub dst: Option<&'static str>,
}

/// The next `n` slots after `after`, in `zone`.
pub fn upcoming(cron: &Cron, zone: Tz, after: DateTime<Utc>, n: usize) -> Vec<Upcoming> {
    let mut out = Vec::with_capacity(n);
    let mut from = after.with_timezone(&zone);
    while out.len() < n {
        let Ok(at) = cron.find_next_occurrence(&from, false) else {
            break;
        };
        out.push(Upcoming {
            dst: dst_note(cron, zone, &at),
            at,
        });
        from = at;
    }
    out
}

fn dst_note(cron: &Cron, zone: Tz, at: &DateTime<Tz>) -> Option<&'static str> {
    if !cron.is_time_matching(at).unwrap_or(true) {
        return Some(
            "moved: its time does not exist that day (clocks go forward), so it runs at the first valid time after it",
        );
    }
    match zone.from_local_datetime(&at.naive_local()) {
        LocalResult::Ambiguous(..) => Some(match cron.determine_job_type() {
            JobType::FixedTime => {
                "merged: its time happens twice that day (clocks go back); it runs once, at the earlier time"
            }
            JobType::IntervalWildcard => {
                "repeated: its time happens twice that day (clocks go back); it runs at both"
            }
        }),
        _ => None,
    }
}

/// "At 09:00 on Monday through Friday", from croner.
pub fn describe(cron: &Cron) -> String {
    cron.describe()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(zone: Tz, slots: &[Upcoming]) -> Vec<String> {
        slots
            .iter()
            .map(|slot| {
                slot.at
                    .with_timezone(&zone)
                    .format("%Y-%m-%d %H:%M:%S %:z")
                    .to_string()
            })
            .collect()
    }

    fn start(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("time")
            .with_timezone(&Utc)
    }

    #[test]
    fn a_refusal_names_the_field_and_its_position() {
        let error = parse("0 25 * * *").expect_err("hour 25");
        let AppError::Validation { field, message } = error else {
            panic!("a validation error");
        };
        assert_eq!(field, "cron");
        assert!(
            message.contains("hour field `25` (position 3)"),
            "{message}"
        );
        let AppError::Validation { message, .. } = parse("0 0 * * MON-FOO").expect_err("bad day")
        else {
            panic!("validation");
        };
        assert!(message.contains("day of week"), "{message}");
        let AppError::Validation { message, .. } = parse("*/5 * *").expect_err("three fields")
        else {
            panic!("validation");
        };
        assert!(message.contains("needs 5 fields"), "{message}");
        assert!(
            parse("@daily").is_ok()
                && parse("*/10 * * * * *").is_ok()
                && parse("0 9 * * 1-5").is_ok()
        );
        assert!(parse_zone("timezone", "Mars/Olympus").is_err());
    }

    #[test]
    fn spring_forward_in_berlin_moves_a_fixed_time_and_skips_interval_slots() {
        let zone: Tz = "Europe/Berlin".parse().expect("zone");
        // 2027-03-28: clocks go from 02:00 to 03:00.
        let fixed = parse("30 2 * * *").expect("cron");
        let slots = upcoming(&fixed, zone, start("2027-03-27T00:00:00Z"), 3);
        assert_eq!(
            local(zone, &slots),
            [
                "2027-03-27 02:30:00 +01:00",
                "2027-03-28 03:00:00 +02:00",
                "2027-03-29 02:30:00 +02:00"
            ]
        );
        assert!(slots[1].dst.expect("flagged").starts_with("moved"));
        assert_eq!(slots[0].dst, None);
        let every_half_hour = parse("*/30 * * * *").expect("cron");
        let slots = upcoming(&every_half_hour, zone, start("2027-03-28T00:10:00Z"), 3);
        assert_eq!(
            local(zone, &slots),
            [
                "2027-03-28 01:30:00 +01:00",
                "2027-03-28 03:00:00 +02:00",
                "2027-03-28 03:30:00 +02:00"
            ],
            "the skipped hour's slots do not happen"
        );
    }

    #[test]
    fn fall_back_in_new_york_runs_a_fixed_time_once_and_intervals_twice() {
        let zone: Tz = "America/New_York".parse().expect("zone");
        // 2027-11-07: 02:00 EDT goes back to 01:00 EST.
        let fixed = parse("30 1 * * *").expect("cron");
        let slots = upcoming(&fixed, zone, start("2027-11-07T00:00:00Z"), 2);
        assert_eq!(
            local(zone, &slots),
            ["2027-11-07 01:30:00 -04:00", "2027-11-08 01:30:00 -05:00"]
        );
        assert!(slots[0].dst.expect("flagged").starts_with("merged"));
        let hourly = parse("0 * * * *").expect("cron");
        let slots = upcoming(&hourly, zone, start("2027-11-07T04:30:00Z"), 3);
        assert_eq!(
            local(zone, &slots),
            [
                "2027-11-07 01:00:00 -04:00",
                "2027-11-07 01:00:00 -05:00",
                "2027-11-07 02:00:00 -05:00"
            ],
            "the repeated hour runs twice"
        );
        assert!(slots[1].dst.expect("flagged").starts_with("repeated"));
    }

    #[test]
    fn last_day_and_nearest_weekday_follow_the_calendar() {
        let zone: Tz = "UTC".parse().expect("zone");
        let last = parse("0 12 L * *").expect("cron");
        let slots = upcoming(&last, zone, start("2027-01-15T00:00:00Z"), 3);
        assert_eq!(
            local(zone, &slots),
            [
                "2027-01-31 12:00:00 +00:00",
                "2027-02-28 12:00:00 +00:00",
                "2027-03-31 12:00:00 +00:00"
            ]
        );
        // The 15th of May 2027 is a Saturday: the nearest weekday is Friday the 14th.
        let nearest = parse("0 9 15W * *").expect("cron");
        let slots = upcoming(&nearest, zone, start("2027-05-01T00:00:00Z"), 1);
        assert_eq!(local(zone, &slots), ["2027-05-14 09:00:00 +00:00"]);
        assert_eq!(
            describe(&parse("0 9 * * 1-5").expect("cron")),
            describe(&parse("0 9 * * MON-FRI").expect("cron"))
        );
    }

    #[test]
    fn slots_between_two_times_are_listed_in_order() {
        let zone: Tz = "UTC".parse().expect("zone");
        let every_second = parse("* * * * * *").expect("cron");
        let from = start("2027-01-01T00:00:00Z").timestamp_millis();
        let slots = slots_between(&every_second, zone, from, from + 2_500, 100);
        assert_eq!(slots, vec![from, from + 1_000, from + 2_000]);
        assert_eq!(next_after(&every_second, zone, from), Some(from + 1_000));
        assert_eq!(
            slots_between(&every_second, zone, from, from + 10_000, 4).len(),
            4
        );
    }
}
