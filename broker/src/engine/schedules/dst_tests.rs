//! Crontabs across daylight-saving changes, checked against an oracle over the changeover days
//! of 2027 in several zones.
//!
//! The oracle walks every minute (every second for a 6-field crontab) of the window in UTC,
//! reads the zone's wall clock at each instant with chrono-tz and applies README's rule by
//! brute force:
//! - an instant fires when the crontab names its wall time, unless the clock already read that
//!   wall time (the repeated hour) and the crontab does not run in every hour;
//! - the first instant after the clock jumps forward fires when the crontab names a wall time
//!   the jump skipped.
//!
//! It matches wall times with its own field matcher, not croner, and never asks chrono-tz to
//! resolve a local time, so it shares no DST logic with the code under test.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

use super::Recurrence;

/// The second, minute and hour fields of a crontab whose day, month and weekday are `*`.
struct Fields {
    seconds: Vec<bool>,
    minutes: Vec<bool>,
    hours: Vec<bool>,
    /// One minute for 5 fields, one second for 6: the oracle's walking step.
    step: TimeDelta,
}

impl Fields {
    fn parse(expr: &str) -> Self {
        let fields: Vec<&str> = expr.split_whitespace().collect();
        let (seconds, step, rest) = match fields.len() {
            5 => (set("0", 60), TimeDelta::minutes(1), &fields[..]),
            6 => (set(fields[0], 60), TimeDelta::seconds(1), &fields[1..]),
            n => panic!("{expr}: {n} fields"),
        };
        assert_eq!(
            rest[2..],
            ["*", "*", "*"],
            "{expr}: the oracle knows times only"
        );
        Self {
            seconds,
            minutes: set(rest[0], 60),
            hours: set(rest[1], 24),
            step,
        }
    }

    fn names(&self, wall: NaiveDateTime) -> bool {
        let index = |v: u32| usize::try_from(v).unwrap();
        self.seconds[index(wall.second())]
            && self.minutes[index(wall.minute())]
            && self.hours[index(wall.hour())]
    }

    fn every_hour(&self) -> bool {
        self.hours.iter().all(|&h| h)
    }
}

/// The values `0..size` one field names: `*`, `n`, `a-b`, each with an optional `/step`,
/// joined by commas.
fn set(spec: &str, size: usize) -> Vec<bool> {
    let mut named = vec![false; size];
    for part in spec.split(',') {
        let (range, step) = part.split_once('/').unwrap_or((part, "1"));
        let (low, high) = match range.split_once('-') {
            Some((a, b)) => (a.parse().unwrap(), b.parse().unwrap()),
            None if range == "*" => (0, size - 1),
            None => (range.parse().unwrap(), range.parse().unwrap()),
        };
        for value in (low..=high).step_by(step.parse().unwrap()) {
            named[value] = true;
        }
    }
    named
}

/// The fire instants in `from..=to` by README's rule, by brute force.
fn oracle(expr: &str, tz: Tz, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<u64> {
    let fields = Fields::parse(expr);
    let mut fired = Vec::new();
    let mut previous: Option<NaiveDateTime> = None;
    // The latest wall time read so far: the clock repeats a wall time when it reads it again.
    let mut latest = NaiveDateTime::MIN;
    let mut at = from;
    while at <= to {
        let wall = at.with_timezone(&tz).naive_local();
        let repeated = wall <= latest;
        latest = latest.max(wall);
        let named = fields.names(wall) && (!repeated || fields.every_hour());
        let skipped_named = previous.is_some_and(|before| {
            let mut skipped = before + fields.step;
            while skipped < wall && !fields.names(skipped) {
                skipped += fields.step;
            }
            skipped < wall
        });
        if named || skipped_named {
            fired.push(ms(at));
        }
        previous = Some(wall);
        at += fields.step;
    }
    fired
}

/// The slots the recurrence yields in `from..=to`.
fn recurrence(expr: &str, tz: Tz, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<u64> {
    let cron = Recurrence::cron(expr, tz.name()).unwrap();
    let mut slots = Vec::new();
    let mut at = ms(from) - 1;
    while let Some(next) = cron.next_after(at).filter(|&n| n <= ms(to)) {
        slots.push(next);
        at = next;
    }
    slots
}

fn ms(at: DateTime<Utc>) -> u64 {
    u64::try_from(at.timestamp_millis()).unwrap()
}

const CRONTABS: [&str; 9] = [
    "30 2 * * *",
    "15,45 2 * * *",
    "*/30 2 * * *",
    "0 * * * *",
    "*/15 * * * *",
    "*/10 1-3 * * *",
    "50-59/3 1 * * *",
    "*/20 15,45 2 * * *",
    "30 */20 * * * *",
];

/// Checks every crontab on the local day `date` in `zone` (and the morning after), and that
/// the zone changes its offset in that window exactly when `changes` says so.
fn check_day(zone: &str, date: (i32, u32, u32), changes: bool) {
    let tz: Tz = zone.parse().unwrap();
    let (y, m, d) = date;
    let midnight = NaiveDate::from_ymd_opt(y, m, d)
        .unwrap()
        .and_time(Default::default());
    // Wide enough to hold the local day in any zone, from UTC-12 to UTC+14.
    let from = Utc.from_utc_datetime(&midnight) - TimeDelta::hours(15);
    let to = Utc.from_utc_datetime(&midnight) + TimeDelta::hours(39);
    let offset = |at: DateTime<Utc>| at.with_timezone(&tz).naive_local() - at.naive_utc();
    assert_eq!(offset(from) != offset(to), changes, "{zone} {date:?}");
    for expr in CRONTABS {
        let expected = oracle(expr, tz, from, to);
        assert!(!expected.is_empty(), "{expr} fires in {zone} on {date:?}");
        assert_eq!(
            recurrence(expr, tz, from, to),
            expected,
            "{expr} in {zone} around {date:?}: the recurrence (left) against the oracle (right)"
        );
    }
}

#[test]
fn berlin_crontabs_fire_each_slot_once_across_both_changes_of_2027() {
    check_day("Europe/Berlin", (2027, 3, 28), true);
    check_day("Europe/Berlin", (2027, 10, 31), true);
}

#[test]
fn new_york_crontabs_fire_each_slot_once_across_both_changes_of_2027() {
    check_day("America/New_York", (2027, 3, 14), true);
    check_day("America/New_York", (2027, 11, 7), true);
}

#[test]
fn lord_howe_crontabs_fire_each_slot_once_across_its_half_hour_changes_of_2027() {
    // Autumn: 02:00 falls back to 01:30. Spring: 02:00 jumps to 02:30.
    check_day("Australia/Lord_Howe", (2027, 4, 4), true);
    check_day("Australia/Lord_Howe", (2027, 10, 3), true);
}

#[test]
fn crontabs_in_zones_without_dst_fire_on_their_wall_clock() {
    check_day("Asia/Tokyo", (2027, 3, 28), false);
    check_day("UTC", (2027, 10, 31), false);
}

fn berlin(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> u64 {
    let tz: Tz = "Europe/Berlin".parse().unwrap();
    let at = tz.with_ymd_and_hms(y, mo, d, h, mi, 0).earliest().unwrap();
    u64::try_from(at.timestamp_millis()).unwrap()
}

#[test]
fn every_slot_of_the_skipped_berlin_hour_fires_once_at_three() {
    let twice = Recurrence::cron("15,45 2 * * *", "Europe/Berlin").unwrap();
    assert_eq!(
        twice.preview(berlin(2027, 3, 27, 12, 0), 3),
        [
            berlin(2027, 3, 28, 3, 0),
            berlin(2027, 3, 29, 2, 15),
            berlin(2027, 3, 29, 2, 45)
        ],
        "02:15 and 02:45 do not exist on 28 March: both run as one task at 03:00 CEST"
    );
}

#[test]
fn every_slot_of_the_repeated_berlin_hour_fires_once_at_its_first_occurrence() {
    let half_hourly = Recurrence::cron("*/30 2 * * *", "Europe/Berlin").unwrap();
    let cest = |h: u32, mi: u32| berlin(2027, 10, 31, h, mi);
    assert_eq!(
        half_hourly.preview(berlin(2027, 10, 30, 12, 0), 3),
        [cest(2, 0), cest(2, 30), berlin(2027, 11, 1, 2, 0)],
        "02:00 and 02:30 CET, an hour after their CEST twins, do not fire"
    );
}
