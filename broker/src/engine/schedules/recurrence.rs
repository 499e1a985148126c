//! When a schedule fires: intervals, crontabs in IANA time zones, and one-shots. The times are
//! pure functions of the clock readings the engine is given.

use chrono::DateTime;

use super::crontab::Crontab;

/// When a schedule fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recurrence {
    /// Every `every_ms`, at `anchor_ms + k × every_ms`.
    Every {
        /// The period.
        every_ms: u64,
        /// A slot time; the others are whole periods from it.
        anchor_ms: u64,
    },
    /// A crontab expression (5 fields, or 6 with seconds first) in an IANA time zone.
    Cron {
        /// The expression, as given.
        expr: String,
        /// The zone name, e.g. `Europe/Berlin`.
        zone: String,
    },
    /// Once, at this time.
    Once {
        /// Unix ms.
        at_ms: u64,
    },
}

/// Why a schedule's timing is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// The crontab expression does not parse.
    #[error("invalid crontab expression {expr:?}: {reason}")]
    Cron {
        /// The expression.
        expr: String,
        /// The parser's complaint.
        reason: String,
    },
    /// The time zone is not an IANA zone name.
    #[error("unknown time zone {0:?}: give an IANA name such as Europe/Berlin or UTC")]
    Zone(String),
    /// The interval is zero.
    #[error("the interval must be at least 1 ms")]
    Interval,
}

impl Recurrence {
    /// A crontab recurrence, checked.
    ///
    /// # Errors
    /// A bad expression or zone.
    pub fn cron(expr: &str, zone: &str) -> Result<Self, ScheduleError> {
        Crontab::parse(expr, zone)?;
        Ok(Self::Cron {
            expr: expr.to_string(),
            zone: zone.to_string(),
        })
    }

    /// The first slot strictly after `after_ms`, if any.
    pub fn next_after(&self, after_ms: u64) -> Option<u64> {
        match self {
            Self::Every {
                every_ms,
                anchor_ms,
            } => {
                let every = (*every_ms).max(1);
                if after_ms < *anchor_ms {
                    return Some(*anchor_ms);
                }
                let periods = (after_ms - anchor_ms) / every + 1;
                anchor_ms.checked_add(periods.checked_mul(every)?)
            }
            Self::Once { at_ms } => (*at_ms > after_ms).then_some(*at_ms),
            Self::Cron { expr, zone } => {
                // Stored crontabs were checked when they were put, so this parse succeeds.
                let crontab = Crontab::parse(expr, zone).ok()?;
                let after = DateTime::from_timestamp_millis(i64::try_from(after_ms).ok()?)?;
                u64::try_from(crontab.next_after(after)?.timestamp_millis()).ok()
            }
        }
    }

    /// Up to `n` slots after `after_ms`, in order.
    pub fn preview(&self, after_ms: u64, n: usize) -> Vec<u64> {
        let mut slots = Vec::with_capacity(n.min(100));
        let mut at = after_ms;
        while slots.len() < n {
            match self.next_after(at) {
                Some(next) => {
                    slots.push(next);
                    at = next;
                }
                None => break,
            }
        }
        slots
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use chrono_tz::Tz;

    use super::*;

    fn berlin(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> u64 {
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let at = tz.with_ymd_and_hms(y, mo, d, h, mi, 0).earliest().unwrap();
        u64::try_from(at.timestamp()).unwrap() * 1000
    }

    fn hours(slots: &[u64], from: u64) -> Vec<f64> {
        slots
            .iter()
            .map(|s| (s - from) as f64 / 3_600_000.0)
            .collect()
    }

    #[test]
    fn intervals_keep_to_their_anchor() {
        let every = Recurrence::Every {
            every_ms: 30_000,
            anchor_ms: 1_000,
        };
        assert_eq!(every.next_after(0), Some(1_000));
        assert_eq!(every.next_after(1_000), Some(31_000));
        assert_eq!(every.next_after(30_999), Some(31_000));
        assert_eq!(every.preview(31_000, 2), [61_000, 91_000]);
    }

    #[test]
    fn a_daily_slot_in_the_spring_gap_fires_once_and_not_twice_in_the_autumn() {
        let daily = Recurrence::cron("30 2 * * *", "Europe/Berlin").unwrap();
        // 29 March 2026: 02:00 jumps to 03:00; the 02:30 slot runs at 03:00, once.
        let spring = daily.preview(berlin(2026, 3, 28, 12, 0), 2);
        assert_eq!(
            spring,
            [berlin(2026, 3, 29, 3, 0), berlin(2026, 3, 30, 2, 30)]
        );
        // 25 October 2026: 03:00 falls back to 02:00; 02:30 happens twice but fires once.
        let autumn = daily.preview(berlin(2026, 10, 24, 12, 0), 2);
        assert_eq!(autumn.len(), 2);
        assert_eq!(autumn[0], berlin(2026, 10, 25, 2, 30));
        assert_eq!(
            hours(&autumn, autumn[0]),
            [0.0, 25.0],
            "the next day's slot is 25 hours later: the repeated hour did not fire again"
        );
    }

    #[test]
    fn an_hourly_slot_fires_every_real_hour_across_the_autumn_change() {
        let hourly = Recurrence::cron("0 * * * *", "Europe/Berlin").unwrap();
        let from = berlin(2026, 10, 25, 0, 30);
        let slots = hourly.preview(from, 4);
        assert_eq!(hours(&slots, slots[0]), [0.0, 1.0, 2.0, 3.0]);
    }

    /// Found by fuzzing (issue 12, §3): croner searched to the year 5000 for these on every
    /// call, half a second of the engine's time each.
    #[test]
    fn a_crontab_that_names_no_real_date_is_refused() {
        for never in ["0 0 30 2 *", "0 0 31 4,6,9,11 *", "*/5 * 31 2 *"] {
            let err = Recurrence::cron(never, "UTC").unwrap_err();
            assert!(
                err.to_string().contains(never) && err.to_string().contains("never fires"),
                "{err}"
            );
        }
        // With a weekday too, cron fires on either: the Mondays of February.
        for real in ["0 0 29 2 *", "0 0 L 2 *", "0 0 31 * *", "0 0 31 2 MON"] {
            assert!(Recurrence::cron(real, "UTC").is_ok(), "{real}");
        }
    }

    #[test]
    fn bad_expressions_and_zones_are_named() {
        let err = Recurrence::cron("61 * * * *", "UTC").unwrap_err();
        assert!(err.to_string().contains("61 * * * *"), "{err}");
        let err = Recurrence::cron("* * * * *", "Mars/Olympus").unwrap_err();
        assert!(err.to_string().contains("Mars/Olympus"), "{err}");
        assert!(
            Recurrence::cron("*/10 * * * * *", "UTC").is_ok(),
            "6 fields"
        );
    }
}
