//! The one text syntax for durations, shared by every stalk binary (`stalkd`, `stalk` and
//! workers built on `stalk-worker`), so a value that works in one works in all of them:
//! `500ms`, `10s`, `5m`, `1h`, `2d`, sums such as `1h30m` (spaces between the parts allowed),
//! and a bare number of seconds (`30`, `0`).
//!
//! ```
//! use std::time::Duration;
//! use stalk_proto::duration::{format_duration, parse_duration};
//!
//! assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5_400)));
//! assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
//! assert_eq!(format_duration(Duration::from_secs(5_400)), "1h30m");
//! ```

use std::time::Duration;

/// The accepted forms, for error messages and `--help` texts.
pub const DURATION_SYNTAX: &str =
    "use a number with a unit, e.g. 500ms, 10s, 5m, 1h, 2d or 1h30m (a plain number is seconds)";

/// A duration that does not follow [`DURATION_SYNTAX`]; its message names the input, what is
/// wrong and the accepted forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationError {
    input: String,
    reason: String,
}

impl std::fmt::Display for DurationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "invalid duration '{}': {}; {DURATION_SYNTAX}",
            self.input, self.reason
        )
    }
}

impl std::error::Error for DurationError {}

/// The units, longest suffix first where one is a prefix of another (`ms` before `m`).
const UNITS: [(&str, u64); 5] = [
    ("ms", 1),
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
];

/// Parses a duration written as [`DURATION_SYNTAX`] says.
///
/// # Errors
/// [`DurationError`] for an empty, negative, fractional or too large value, a unit missing
/// after a number in a sum, or an unknown unit.
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let invalid = |reason: &str| DurationError {
        input: input.to_owned(),
        reason: reason.to_owned(),
    };
    let text = input.trim();
    if text.is_empty() {
        return Err(invalid("it is empty"));
    }
    if text.starts_with('-') {
        return Err(invalid("a duration cannot be negative"));
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        // Bounded in ms as a sum of units is, so every accepted duration can be written back.
        let millis = text
            .parse::<u64>()
            .ok()
            .and_then(|secs| secs.checked_mul(1_000))
            .ok_or_else(|| invalid("it is too large"))?;
        return Ok(Duration::from_millis(millis));
    }
    let mut total_ms: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let (millis, after) = parse_part(rest).map_err(invalid)?;
        total_ms = total_ms
            .checked_add(millis)
            .ok_or_else(|| invalid("it is too large"))?;
        rest = after.trim_start();
    }
    Ok(Duration::from_millis(total_ms))
}

/// Parses one `<number><unit>` at the start of `text`; returns its milliseconds and the rest.
fn parse_part(text: &str) -> Result<(u64, &str), &'static str> {
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    if digits == 0 {
        return Err("a unit must follow a number");
    }
    let (number, after) = text.split_at(digits);
    let unit_len = after
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(after.len());
    let (unit, after) = after.split_at(unit_len);
    let n = number.parse::<u64>().map_err(|_| "it is too large")?;
    if unit.is_empty() {
        return Err(if after.starts_with(['.', ',']) {
            "fractions are not accepted; use a smaller unit (1500ms, not 1.5s)"
        } else {
            "only a lone number may omit its unit"
        });
    }
    let (_, per_unit) = UNITS
        .iter()
        .find(|(name, _)| *name == unit)
        .ok_or("unknown unit")?;
    let millis = n.checked_mul(*per_unit).ok_or("it is too large")?;
    Ok((millis, after))
}

/// Writes a duration in the syntax [`parse_duration`] reads, largest units first: `1h30m`,
/// `2d`, `250ms`, `0s`. Sub-millisecond parts are dropped.
pub fn format_duration(duration: Duration) -> String {
    let mut left = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    if left == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (name, per_unit) in UNITS.iter().rev() {
        let count = left / per_unit;
        if count > 0 {
            out.push_str(&format!("{count}{name}"));
            left %= per_unit;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_the_documented_units() {
        let cases = [
            ("500ms", Duration::from_millis(500)),
            ("10s", Duration::from_secs(10)),
            ("5m", Duration::from_secs(300)),
            ("1h", Duration::from_secs(3_600)),
            ("2d", Duration::from_secs(172_800)),
            ("1h30m", Duration::from_secs(5_400)),
            ("1h 30m", Duration::from_secs(5_400)),
            ("1s250ms", Duration::from_millis(1_250)),
            ("30", Duration::from_secs(30)),
            (" 0 ", Duration::ZERO),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_duration(input), Ok(expected), "input {input:?}");
        }
    }

    #[test]
    fn bad_durations_name_the_input_and_the_accepted_forms() {
        for (input, reason) in [
            ("", "empty"),
            ("s", "a unit must follow a number"),
            ("10x", "unknown unit"),
            ("1.5s", "fractions"),
            ("-1s", "cannot be negative"),
            ("10s5", "only a lone number"),
            ("99999999999999999999d", "too large"),
            ("ten", "a unit must follow"),
            ("5min", "unknown unit"),
        ] {
            let err = parse_duration(input).expect_err(input).to_string();
            assert!(err.contains(reason), "{input:?}: {err}");
            assert!(err.contains("500ms, 10s"), "{input:?}: {err}");
            assert!(
                err.contains(&format!("'{input}'")),
                "names the input: {err}"
            );
        }
    }

    #[test]
    fn a_bare_number_of_seconds_is_bounded_as_the_units_are() {
        // u64::MAX ms is 18446744073709551.615 s: the largest duration any form may say.
        assert_eq!(
            parse_duration("18446744073709551"),
            Ok(Duration::from_secs(18_446_744_073_709_551))
        );
        for input in [
            "18446744073709552",
            "18446744073709552s",
            "99999599999959999",
        ] {
            let err = parse_duration(input).expect_err(input).to_string();
            assert!(err.contains("too large"), "{input:?}: {err}");
        }
    }

    #[test]
    fn formatted_durations_parse_back() {
        for millis in [0, 1, 999, 1_000, 61_000, 5_400_000, 90_061_001] {
            let duration = Duration::from_millis(millis);
            let text = format_duration(duration);
            assert_eq!(parse_duration(&text), Ok(duration), "{text}");
        }
        assert_eq!(format_duration(Duration::from_secs(90_000)), "1d1h");
    }
}
