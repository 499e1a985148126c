//! Parsers for flag values: durations (the syntax shared with stalkd and workers), points in
//! time, `key=value` headers, JSON payloads. Each returns a message clap shows as a usage error
//! (exit code 2).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub(crate) use stalk_proto::duration::parse_duration;
use stalk_proto::duration::DURATION_SYNTAX;

/// Parses a duration in the syntax every stalk binary reads ([`stalk_proto::duration`]),
/// refusing zero: for a flag where zero would silently mean "not set" (the wire's 0), such as
/// `--expires-in`.
pub(crate) fn parse_positive_duration(input: &str) -> Result<Duration, String> {
    match parse_duration(input).map_err(|e| e.to_string())? {
        Duration::ZERO => Err(format!(
            "invalid duration '{input}': it must be more than zero; {DURATION_SYNTAX}"
        )),
        positive => Ok(positive),
    }
}

/// Parses an RFC 3339 time ("2030-01-02T03:04:05Z", "…+02:00", fractional seconds allowed)
/// or milliseconds since the Unix epoch ("1893459845000").
pub(crate) fn parse_time(input: &str) -> Result<SystemTime, String> {
    let invalid = |why: &str| {
        format!(
            "invalid time '{input}': {why}; use RFC 3339 (e.g. 2030-01-02T03:04:05Z or \
             2030-01-02T05:04:05+02:00) or milliseconds since the Unix epoch"
        )
    };
    let text = input.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        let ms = text
            .parse::<u64>()
            .map_err(|_| invalid("it is too large"))?;
        return UNIX_EPOCH
            .checked_add(Duration::from_millis(ms))
            .ok_or_else(|| invalid("it is too large"));
    }
    let (local, offset) = split_utc_offset(text).map_err(invalid)?;
    // humantime reads UTC times only ("Z" or no zone), so a numeric offset is applied here.
    let utc_as_local = humantime::parse_rfc3339_weak(local).map_err(|e| invalid(&e.to_string()))?;
    let shifted = if offset >= 0 {
        utc_as_local.checked_sub(Duration::from_secs(offset.unsigned_abs()))
    } else {
        utc_as_local.checked_add(Duration::from_secs(offset.unsigned_abs()))
    };
    shifted.ok_or_else(|| invalid("it is out of range"))
}

/// Splits a trailing `+hh:mm` / `-hh:mm` offset off an RFC 3339 time; returns the rest and the
/// offset in seconds east of UTC (0 when the time ends in `Z` or has no zone).
fn split_utc_offset(text: &str) -> Result<(&str, i64), &'static str> {
    // The date part "YYYY-MM-DD" holds '-' too, so an offset can only start after it.
    const DATE_LEN: usize = 10;
    let Some(sign_at) = text.len().checked_sub(6).filter(|&at| at > DATE_LEN) else {
        return Ok((text, 0));
    };
    let (local, offset) = text.split_at(sign_at);
    let sign = match offset.as_bytes().first() {
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => return Ok((text, 0)),
    };
    let (hours, minutes) = offset
        .get(1..)
        .and_then(|hm| hm.split_once(':'))
        .ok_or("the UTC offset must look like +hh:mm")?;
    let hours: i64 = hours
        .parse()
        .map_err(|_| "the UTC offset hours are not a number")?;
    let minutes: i64 = minutes
        .parse()
        .map_err(|_| "the UTC offset minutes are not a number")?;
    if hours > 23 || minutes > 59 {
        return Err("the UTC offset is out of range");
    }
    Ok((local, sign * (hours * 3_600 + minutes * 60)))
}

/// Parses a `key=value` header; the value may be empty and may hold `=`.
pub(crate) fn parse_header(input: &str) -> Result<(String, String), String> {
    match input.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_owned(), value.to_owned()))
        }
        _ => Err(format!(
            "invalid header '{input}': use key=value, e.g. trace=abc123"
        )),
    }
}

/// Parses a JSON document given on the command line.
pub(crate) fn parse_json(input: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(input).map_err(|e| {
        format!("invalid JSON: {e}; quote it for the shell, e.g. '{{\"to\":\"ada\"}}'")
    })
}

/// Durations in a schedules file, written as on the command line (`30s`, `1h`).
pub(crate) mod duration_opt {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        text.map(|t| crate::parse::parse_duration(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// Times in a schedules file, written as on the command line.
pub(crate) mod time_opt {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer};

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<SystemTime>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        text.map(|t| crate::parse::parse_time(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positive_durations_refuse_zero() {
        assert_eq!(parse_positive_duration("1ms"), Ok(Duration::from_millis(1)));
        for input in ["0", "0s", "0h0m"] {
            let err = parse_positive_duration(input).expect_err(input);
            assert!(err.contains("more than zero"), "{input:?}: {err}");
        }
        assert!(parse_positive_duration("soon").is_err());
    }

    #[test]
    fn times_parse_as_rfc3339_with_offsets_or_as_unix_milliseconds() {
        let expected = UNIX_EPOCH + Duration::from_secs(1_893_459_845);
        assert_eq!(parse_time("2030-01-01T01:04:05Z"), Ok(expected));
        assert_eq!(parse_time("2030-01-01T03:04:05+02:00"), Ok(expected));
        assert_eq!(parse_time("2029-12-31T23:34:05-01:30"), Ok(expected));
        assert_eq!(parse_time("1893459845000"), Ok(expected));
        assert_eq!(
            parse_time("2030-01-01T01:04:05.250Z"),
            Ok(expected + Duration::from_millis(250))
        );
    }

    #[test]
    fn bad_times_name_both_accepted_forms() {
        for input in ["tomorrow", "2030-01-01", "2030-01-01T01:04:05+25:00", ""] {
            let err = parse_time(input).expect_err(input);
            assert!(
                err.contains("RFC 3339") && err.contains("Unix epoch"),
                "{err}"
            );
        }
    }

    #[test]
    fn headers_split_at_the_first_equals_sign() {
        assert_eq!(parse_header("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert_eq!(parse_header("empty="), Ok(("empty".into(), String::new())));
        assert!(parse_header("novalue").is_err());
        assert!(parse_header("=v").is_err());
    }

    #[test]
    fn json_payloads_must_be_valid_json() {
        assert_eq!(parse_json(r#"{"n":1}"#), Ok(serde_json::json!({"n": 1})));
        assert!(parse_json("{n:1}").unwrap_err().contains("invalid JSON"));
    }
}
