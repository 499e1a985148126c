//! A crontab in a time zone: the wall clock times it names, and the instant each one fires at
//! when a daylight-saving change skips or repeats it (README, "Schedule tasks"):
//!
//! - a wall time the clock skips fires once, at the first instant after the jump; the slots of
//!   one gap share that instant, so they fire as one task;
//! - a wall time the clock repeats fires once, at its first occurrence, unless the crontab runs
//!   in every hour of the day (`0 * * * *`): its slots are then times of the hour, and the
//!   repeated hour is one more real hour, so they fire in both.
//!
//! croner only walks the wall clock (on naive times) and this module alone maps wall times to
//! instants, so the rule holds for single values, lists, ranges, steps and seconds alike.
//! croner's own zone handling keeps it only for crontabs whose second, minute and hour are
//! single values: it drops the others in a gap and fires them twice in a repeated hour.

use std::str::FromStr;

use chrono::offset::LocalResult;
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

use super::ScheduleError;

/// The longest gap searched for its end: a day, as when Samoa skipped 30 December 2011.
const MAX_GAP_MINUTES: i64 = 48 * 60;

/// Whether the crontab's date fields match some day of a 400-year cycle of the Gregorian
/// calendar, after which its dates and weekdays repeat. One that matches none never fires, and
/// croner would search for its next slot up to its limit, the year 5000, on every call: half a
/// second of the engine's time per schedule put.
fn fires_on_some_day(cron: &croner::Cron) -> bool {
    let pattern = &cron.pattern;
    (2000..2400).any(|year| {
        matches!(pattern.year_match(year), Ok(true))
            && (1..=12).any(|month| {
                matches!(pattern.month_match(month), Ok(true))
                    && (1..=31).any(|day| {
                        NaiveDate::from_ymd_opt(year, month, day).is_some_and(|date| {
                            matches!(
                                pattern.day_match(
                                    year,
                                    month,
                                    day,
                                    croner::Weekday::from_days_from_sunday(
                                        date.weekday().num_days_from_sunday(),
                                    ),
                                ),
                                Ok(true)
                            )
                        })
                    })
            })
    })
}

/// A parsed crontab and its zone.
#[derive(Debug)]
pub(super) struct Crontab {
    cron: croner::Cron,
    tz: Tz,
    /// Whether the crontab runs in every hour of the day, so a repeated hour fires again.
    every_hour: bool,
}

impl Crontab {
    /// Parses the expression (5 fields, or 6 with seconds first) and the IANA zone name.
    pub(super) fn parse(expr: &str, zone: &str) -> Result<Self, ScheduleError> {
        let cron = croner::Cron::from_str(expr).map_err(|e| ScheduleError::Cron {
            expr: expr.to_string(),
            reason: e.to_string(),
        })?;
        if !fires_on_some_day(&cron) {
            return Err(ScheduleError::Cron {
                expr: expr.to_string(),
                reason: "it names no date that exists (such as 30 February), so it never fires"
                    .into(),
            });
        }
        let tz = zone
            .parse::<Tz>()
            .map_err(|_| ScheduleError::Zone(zone.to_string()))?;
        let every_hour = (0..24).all(|h| matches!(cron.pattern.hour_match(h), Ok(true)));
        Ok(Self {
            cron,
            tz,
            every_hour,
        })
    }

    /// The first fire instant strictly after `after`, or `None` when there is none before the
    /// year 5000 (croner's search limit).
    pub(super) fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // Wall times rise with their first instants, so once a wall time's first instant is no
        // earlier than the best answer, no later wall time can beat it.
        let mut wall = self
            .cron
            .find_next_occurrence(&self.scan_start(after), true);
        let mut best: Option<DateTime<Utc>> = None;
        while let Ok(at) = wall {
            let (first, second) = self.instants(at)?;
            if best.is_some_and(|b| first >= b) {
                break;
            }
            for instant in [Some(first), second].into_iter().flatten() {
                if instant > after && best.is_none_or(|b| instant < b) {
                    best = Some(instant);
                }
            }
            wall = self.cron.find_next_occurrence(&at, false);
        }
        best
    }

    /// The wall time to search from: the one at `after`, or, for a crontab that fires in both
    /// halves of a repeated range, the start of that range when `after` is in it, since the
    /// second occurrences of the wall times already passed are still ahead.
    fn scan_start(&self, after: DateTime<Utc>) -> NaiveDateTime {
        let local = after.with_timezone(&self.tz).naive_local();
        // Slots are whole seconds; a fraction would make croner skip the current second.
        let local = local.with_nanosecond(0).unwrap_or(local);
        match self.tz.from_local_datetime(&local) {
            LocalResult::Ambiguous(first, second) if self.every_hour => local - (second - first),
            _ => local,
        }
    }

    /// The instants the wall time `wall` fires at: its first, and a second one when it is
    /// repeated and the crontab runs every hour. `None` only if a gap never ends.
    fn instants(&self, wall: NaiveDateTime) -> Option<(DateTime<Utc>, Option<DateTime<Utc>>)> {
        match self.tz.from_local_datetime(&wall) {
            LocalResult::Single(at) => Some((at.to_utc(), None)),
            LocalResult::Ambiguous(first, second) => {
                Some((first.to_utc(), self.every_hour.then(|| second.to_utc())))
            }
            LocalResult::None => self.end_of_gap(wall).map(|at| (at, None)),
        }
    }

    /// The first instant after the gap that skips `wall`: the instant the clock jumped at.
    fn end_of_gap(&self, wall: NaiveDateTime) -> Option<DateTime<Utc>> {
        let minute = wall.with_second(0)?;
        let mut end = (1..=MAX_GAP_MINUTES).find_map(|m| {
            self.tz
                .from_local_datetime(&(minute + TimeDelta::minutes(m)))
                .earliest()
        })?;
        // Today's zones jump on whole minutes, but some older ones jumped mid-minute: step back
        // over seconds that still read past the gap.
        for _ in 0..60 {
            let before = end - TimeDelta::seconds(1);
            if before.naive_local() <= wall {
                break;
            }
            end = before;
        }
        Some(end.to_utc())
    }
}
